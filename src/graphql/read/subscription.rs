//! Subscriptions and their items: `subscription(id:)`, `subscriptions(...)`, and the computed
//! fields of `StripeSubscription` (its plain fields, and all of `StripeSubscriptionItem`, are
//! the models' own: [`Subscription`], [`crate::stripe::models::SubscriptionItem`]).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, Object};

use crate::graphql::{
    cache,
    error::GqlResult,
    list::{page, StripeList},
    scope,
};
use crate::{
    ids::{IdKind, StripeId},
    stripe::{
        models::{Customer, Subscription, SubscriptionItem},
        request::{ListRequest, SubscriptionFilter},
    },
};

/// Root fields for subscriptions.
#[derive(Default)]
pub struct SubscriptionQuery;

#[Object]
impl SubscriptionQuery {
    /// The subscription with this id (`sub_…`), or null if it does not exist. Costs one
    /// Stripe call when not cached (and none after a list that contained it). For a Hasura
    /// role outside `HASURA_TRUSTED_ROLES`: null unless its customer is the session's own
    /// (one more Stripe call, for that customer, when not cached).
    async fn subscription(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        let id = StripeId::parse(IdKind::Subscription, &id).gql()?;
        let cache = cache(ctx)?;
        let Some(subscription) = cache.object::<Subscription>(&id).await.gql()? else {
            return Ok(None);
        };
        let caller = scope::caller(ctx);
        if caller.is_scoped() {
            let customer_id = StripeId::parse(IdKind::Customer, &subscription.customer).gql()?;
            let customer = cache.object::<Customer>(&customer_id).await.gql()?;
            if !customer.is_some_and(|c| caller.may_see(&c)) {
                return Ok(None);
            }
        }
        Ok(Some(subscription))
    }

    /// Subscriptions, newest first (`GET /v1/subscriptions`), filtered by customer, status
    /// and price. Without `status`, Stripe's default applies: every status except
    /// `canceled`. A `customer` Stripe does not know gives an empty list. `first` is the
    /// page size (1–100, default 10); `after` is the previous page's `nextCursor`. Refused
    /// (`FORBIDDEN`) to a Hasura role outside `HASURA_TRUSTED_ROLES`.
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        customer: Option<String>,
        status: Option<StripeSubscriptionStatusFilter>,
        price: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<Subscription>>> {
        scope::refuse_list_to_scoped(ctx, "subscriptions")?;
        let filter = SubscriptionFilter {
            customer: customer
                .map(|c| StripeId::parse(IdKind::Customer, &c))
                .transpose()
                .gql()?,
            status: status.map(StripeSubscriptionStatusFilter::as_stripe),
            price: price
                .map(|p| StripeId::parse(IdKind::Price, &p))
                .transpose()
                .gql()?,
        };
        list_subscriptions(ctx, &filter, first, after).await
    }
}

/// Shared by `subscriptions(...)` and `StripeCustomer.subscriptions(...)`.
pub(super) async fn list_subscriptions(
    ctx: &Context<'_>,
    filter: &SubscriptionFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<StripeList<Subscription>>> {
    let page = page(first, after, IdKind::Subscription)?;
    let request = ListRequest::subscriptions(filter, &page);
    let list = cache(ctx)?.subscriptions(&request).await.gql()?;
    Ok(Some(StripeList::of(&list)))
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

#[ComplexObject]
impl Subscription {
    /// The customer, or null if it was deleted. One Stripe call when not cached.
    #[graphql(name = "customer")]
    async fn customer_object(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Arc<Customer>>> {
        let id = StripeId::parse(IdKind::Customer, &self.customer).gql()?;
        cache(ctx)?.object(&id).await.gql()
    }

    /// The subscription's items. Embedded in the subscription, so no extra Stripe call,
    /// unless Stripe truncated the embedded list (then the rest is read from
    /// `/v1/subscription_items`, so this list is always complete and `hasMore` is false).
    #[graphql(name = "items")]
    async fn all_items(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<StripeList<SubscriptionItem>>> {
        let items = if self.items.has_more {
            let id = StripeId::parse(IdKind::Subscription, &self.id).gql()?;
            cache(ctx)?.all_subscription_items(&id).await.gql()?
        } else {
            self.items.data.clone()
        };
        Ok(Some(StripeList::new(items, false)))
    }
}
