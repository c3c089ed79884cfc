//! Subscriptions and their items: `subscription(id:)`, `subscriptions(...)`,
//! `StripeSubscription`, `StripeSubscriptionItem`.

use std::sync::Arc;

use async_graphql::{Context, Enum, Json, Object, SimpleObject};

use super::{
    cache,
    customer::StripeCustomer,
    error::GqlResult,
    list::{page, StripeList},
    price::{StripePlan, StripePrice},
    scalars::{ts, StripeCount, UnixTimestamp},
};
use crate::{
    ids::{IdKind, StripeId},
    stripe::models::{Metadata, Subscription, SubscriptionItem},
};

/// Root fields for subscriptions.
#[derive(Default)]
pub struct SubscriptionQuery;

#[Object]
impl SubscriptionQuery {
    /// The subscription with this id (`sub_…`), or null if it does not exist. Costs one
    /// Stripe call when not cached (and none after a list that contained it).
    async fn subscription(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<StripeSubscription>> {
        let id = StripeId::parse(IdKind::Subscription, &id).gql()?;
        Ok(cache(ctx)?
            .subscription(&id)
            .await
            .gql()?
            .map(StripeSubscription))
    }

    /// Subscriptions, newest first (`GET /v1/subscriptions`), filtered by customer, status
    /// and price. Without `status`, Stripe's default applies: every status except
    /// `canceled`. A `customer` Stripe does not know gives an empty list. `first` is the
    /// page size (1–100, default 10); `after` is the previous page's `nextCursor`.
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        customer: Option<String>,
        status: Option<StripeSubscriptionStatusFilter>,
        price: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<StripeSubscription>>> {
        let customer = customer
            .map(|c| StripeId::parse(IdKind::Customer, &c))
            .transpose()
            .gql()?;
        let price = price
            .map(|p| StripeId::parse(IdKind::Price, &p))
            .transpose()
            .gql()?;
        list_subscriptions(ctx, customer.as_ref(), status, price.as_ref(), first, after).await
    }
}

/// Shared by `subscriptions(...)` and `StripeCustomer.subscriptions(...)`.
pub(super) async fn list_subscriptions(
    ctx: &Context<'_>,
    customer: Option<&StripeId>,
    status: Option<StripeSubscriptionStatusFilter>,
    price: Option<&StripeId>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<StripeList<StripeSubscription>>> {
    let page = page(first, after, IdKind::Subscription)?;
    let list = cache(ctx)?
        .subscriptions(customer, status.map(|s| s.as_stripe()), price, &page)
        .await
        .gql()?;
    Ok(Some(StripeList::new(
        list.data.iter().cloned().map(StripeSubscription).collect(),
        list.has_more,
        list.data.last().map(|s| s.id.as_str()),
    )))
}

/// Which subscriptions a list returns. Values are Stripe's own, in Stripe's spelling.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(rename_items = "snake_case")]
pub enum StripeSubscriptionStatusFilter {
    /// Every status, canceled included.
    All,
    /// Active subscriptions.
    Active,
    /// Canceled subscriptions (including those of deleted customers).
    Canceled,
    /// Canceled and incomplete_expired subscriptions.
    Ended,
    /// Awaiting the first payment.
    Incomplete,
    /// The first payment never succeeded.
    IncompleteExpired,
    /// Payment is past due.
    PastDue,
    /// Paused (trial ended without a payment method).
    Paused,
    /// In a trial period.
    Trialing,
    /// Unpaid after all retries.
    Unpaid,
}

impl StripeSubscriptionStatusFilter {
    /// The value Stripe's `status` parameter takes.
    pub fn as_stripe(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Active => "active",
            Self::Canceled => "canceled",
            Self::Ended => "ended",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::PastDue => "past_due",
            Self::Paused => "paused",
            Self::Trialing => "trialing",
            Self::Unpaid => "unpaid",
        }
    }
}

/// Why and how a subscription was canceled.
#[derive(SimpleObject)]
pub struct StripeCancellationDetails {
    /// Free-text comment from the customer.
    pub comment: Option<String>,
    /// The customer's feedback choice, e.g. `too_expensive` (Stripe may add values).
    pub feedback: Option<String>,
    /// Why it was canceled, e.g. `cancellation_requested` (Stripe may add values).
    pub reason: Option<String>,
}

/// Paused invoice collection.
#[derive(SimpleObject)]
pub struct StripePauseCollection {
    /// `keep_as_draft`, `mark_uncollectible` or `void` (Stripe may add values).
    pub behavior: Option<String>,
    /// When collection resumes.
    pub resumes_at: Option<UnixTimestamp>,
}

/// A Stripe subscription (`sub_…`).
pub struct StripeSubscription(pub Arc<Subscription>);

#[Object]
impl StripeSubscription {
    /// Unique identifier (`sub_…`).
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Status as Stripe sends it: `incomplete`, `incomplete_expired`, `trialing`, `active`,
    /// `past_due`, `canceled`, `unpaid` or `paused` today. A plain string, so a value Stripe
    /// adds later passes through instead of failing the query.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// Id of the customer (`cus_…`).
    async fn customer_id(&self) -> &str {
        &self.0.customer
    }

    /// The customer, or null if it was deleted. One Stripe call when not cached.
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StripeCustomer>> {
        let id = StripeId::parse(IdKind::Customer, &self.0.customer).gql()?;
        Ok(cache(ctx)?.customer(&id).await.gql()?.map(StripeCustomer))
    }

    /// The subscription's items. Embedded in the subscription, so no extra Stripe call,
    /// unless Stripe truncated the embedded list (then the rest is read from
    /// `/v1/subscription_items`, so this list is always complete and `hasMore` is false).
    async fn items(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<StripeList<StripeSubscriptionItem>>> {
        let embedded = &self.0.items;
        let items = if embedded.has_more {
            let id = StripeId::parse(IdKind::Subscription, &self.0.id).gql()?;
            cache(ctx)?.all_subscription_items(&id).await.gql()?
        } else {
            embedded.data.clone()
        };
        Ok(Some(StripeList::new(
            items.into_iter().map(StripeSubscriptionItem).collect(),
            false,
            None,
        )))
    }

    /// Start of the current billing period. Stripe moved this field onto the items in API
    /// version 2025-03-31.basil; when the subscription itself has none, it is derived from
    /// the items: the **latest** item `currentPeriodStart`, so that with the end below it
    /// spans the period every item is in. With a single item (or classic billing, where all
    /// items share one period) this is exactly the value Stripe used to send.
    async fn current_period_start(&self) -> Option<UnixTimestamp> {
        ts(self.0.current_period_start)
    }

    /// End of the current billing period: the next renewal. When the subscription itself has
    /// none (API 2025-03-31.basil and later), derived as the **earliest** item
    /// `currentPeriodEnd`; see `currentPeriodStart`.
    async fn current_period_end(&self) -> Option<UnixTimestamp> {
        ts(self.0.current_period_end)
    }

    /// The plan when the subscription has exactly one item (that item's plan), as Stripe's
    /// former subscription-level `plan` field; null when it has several items. Prefer
    /// `items { data { price } }`.
    async fn plan(&self) -> Option<StripePlan> {
        self.0.plan.clone().map(StripePlan)
    }

    /// The quantity when the subscription has exactly one item, as Stripe's former
    /// subscription-level `quantity`; null otherwise or for metered prices.
    async fn quantity(&self) -> Option<StripeCount> {
        self.0.quantity.map(StripeCount)
    }

    /// Creation time.
    async fn created(&self) -> UnixTimestamp {
        UnixTimestamp(self.0.created)
    }

    /// When the subscription started (may precede `created` if backdated).
    async fn start_date(&self) -> Option<UnixTimestamp> {
        ts(self.0.start_date)
    }

    /// Reference point for billing-cycle dates.
    async fn billing_cycle_anchor(&self) -> Option<UnixTimestamp> {
        ts(self.0.billing_cycle_anchor)
    }

    /// When the subscription will be canceled (a scheduled cancellation), or was.
    async fn cancel_at(&self) -> Option<UnixTimestamp> {
        ts(self.0.cancel_at)
    }

    /// Whether the subscription cancels at the end of the current period.
    async fn cancel_at_period_end(&self) -> bool {
        self.0.cancel_at_period_end
    }

    /// When cancellation was requested (even if it takes effect later).
    async fn canceled_at(&self) -> Option<UnixTimestamp> {
        ts(self.0.canceled_at)
    }

    /// Why and how it was canceled.
    async fn cancellation_details(&self) -> Option<StripeCancellationDetails> {
        self.0
            .cancellation_details
            .as_ref()
            .map(|d| StripeCancellationDetails {
                comment: d.comment.clone(),
                feedback: d.feedback.clone(),
                reason: d.reason.clone(),
            })
    }

    /// When the subscription ended, if it has.
    async fn ended_at(&self) -> Option<UnixTimestamp> {
        ts(self.0.ended_at)
    }

    /// Start of the trial, if any.
    async fn trial_start(&self) -> Option<UnixTimestamp> {
        ts(self.0.trial_start)
    }

    /// End of the trial, if any.
    async fn trial_end(&self) -> Option<UnixTimestamp> {
        ts(self.0.trial_end)
    }

    /// Three-letter ISO currency code, lowercase.
    async fn currency(&self) -> Option<&str> {
        self.0.currency.as_deref()
    }

    /// `charge_automatically` or `send_invoice` (Stripe may add values).
    async fn collection_method(&self) -> Option<&str> {
        self.0.collection_method.as_deref()
    }

    /// Days until an invoice is due (`send_invoice` only).
    async fn days_until_due(&self) -> Option<StripeCount> {
        self.0.days_until_due.map(StripeCount)
    }

    /// Id of the default payment method.
    async fn default_payment_method_id(&self) -> Option<&str> {
        self.0.default_payment_method.as_deref()
    }

    /// Id of the most recent invoice.
    async fn latest_invoice_id(&self) -> Option<&str> {
        self.0.latest_invoice.as_deref()
    }

    /// Paused collection, if any.
    async fn pause_collection(&self) -> Option<StripePauseCollection> {
        self.0
            .pause_collection
            .as_ref()
            .map(|p| StripePauseCollection {
                behavior: p.behavior.clone(),
                resumes_at: ts(p.resumes_at),
            })
    }

    /// Description shown to the customer.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// True in live mode, false in test mode.
    async fn livemode(&self) -> bool {
        self.0.livemode
    }

    /// Key/value metadata, as a JSON object (`{}` when empty).
    async fn metadata(&self) -> Json<&Metadata> {
        Json(&self.0.metadata)
    }
}

/// An item of a subscription (`si_…`): one price and its quantity.
pub struct StripeSubscriptionItem(pub Arc<SubscriptionItem>);

#[Object]
impl StripeSubscriptionItem {
    /// Unique identifier (`si_…`).
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Id of the subscription the item belongs to.
    async fn subscription_id(&self) -> Option<&str> {
        self.0.subscription.as_deref()
    }

    /// The price (embedded; no Stripe call). On old API shapes that carry only a plan, the
    /// price is built from the plan, which is the legacy view of the same price.
    async fn price(&self) -> Option<StripePrice> {
        self.0.price.clone().map(StripePrice)
    }

    /// The legacy plan view of the price (embedded; no Stripe call).
    async fn plan(&self) -> Option<StripePlan> {
        self.0.plan.clone().map(StripePlan)
    }

    /// Quantity (null for metered prices).
    async fn quantity(&self) -> Option<StripeCount> {
        self.0.quantity.map(StripeCount)
    }

    /// Start of the item's current billing period (API 2025-03-31.basil and later; taken
    /// from the subscription on older versions).
    async fn current_period_start(&self) -> Option<UnixTimestamp> {
        ts(self.0.current_period_start)
    }

    /// End of the item's current billing period (API 2025-03-31.basil and later; taken
    /// from the subscription on older versions).
    async fn current_period_end(&self) -> Option<UnixTimestamp> {
        ts(self.0.current_period_end)
    }

    /// Creation time.
    async fn created(&self) -> Option<UnixTimestamp> {
        ts(self.0.created)
    }

    /// Key/value metadata, as a JSON object (`{}` when empty).
    async fn metadata(&self) -> Json<&Metadata> {
        Json(&self.0.metadata)
    }
}
