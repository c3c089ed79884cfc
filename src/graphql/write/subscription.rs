//! Subscription mutations: `createSubscription`, `updateSubscription`,
//! `cancelSubscription`, `undoScheduledCancellation`, `pauseCollection` and
//! `resumeSubscription`.
//!
//! Every mutation here is refused (`FORBIDDEN`) unless the request may write
//! ([`super::WriteAccess`]), checks its arguments before any call, sends exactly one
//! Stripe write (`resumeSubscription` reads the subscription first, to pick the write), and
//! answers the subscription as Stripe returned it, through the same `StripeSubscription` type
//! as the queries. The answer goes through the cache
//! ([`crate::cache::StripeCache::write_through`]): the next read of the subscription costs no
//! call, and its customer's subscription pages (and a customer fetched with its first page)
//! are read again.
//!
//! | mutation | Stripe request |
//! |---|---|
//! | `createSubscription` | `POST /v1/subscriptions` |
//! | `updateSubscription` | `POST /v1/subscriptions/{id}` (`items[i][…]`, `proration_behavior`, `metadata`) |
//! | `cancelSubscription(atPeriodEnd: true)` | `POST /v1/subscriptions/{id}` `cancel_at_period_end=true` |
//! | `cancelSubscription` | `DELETE /v1/subscriptions/{id}` (`invoice_now`, `prorate`) |
//! | `undoScheduledCancellation` | `POST /v1/subscriptions/{id}` `cancel_at_period_end=false` |
//! | `pauseCollection` | `POST /v1/subscriptions/{id}` `pause_collection[behavior]`, `[resumes_at]` |
//! | `resumeSubscription`, status `paused` | `POST /v1/subscriptions/{id}/resume` |
//! | `resumeSubscription`, collection paused | `POST /v1/subscriptions/{id}` `pause_collection=` |

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Json, Object};
use serde_json::Value;

use super::{input, require_writer};
use crate::{
    graphql::{cache, error::GqlResult},
    ids::IdKind,
    stripe::{
        models::Subscription,
        scalars::UnixTimestamp,
        write::{Form, IdempotencyKey, Write},
        StripeError,
    },
};

/// How Stripe handles a subscription whose first payment needs attention (Stripe's
/// `payment_behavior`).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "StripePaymentBehavior", rename_items = "snake_case")]
pub enum PaymentBehavior {
    /// Create it `incomplete` if the payment fails (Stripe's default).
    AllowIncomplete,
    /// Create it `incomplete`, with the first invoice left for the client to confirm.
    DefaultIncomplete,
    /// Refuse (a card error) if the first payment fails.
    ErrorIfIncomplete,
    /// Apply an update only once its payment succeeds.
    PendingIfIncomplete,
}

/// Whether a change makes prorations (Stripe's `proration_behavior`).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "StripeProrationBehavior", rename_items = "snake_case")]
pub enum ProrationBehavior {
    /// Prorate and invoice at once.
    AlwaysInvoice,
    /// Prorate onto the next invoice (Stripe's default).
    CreateProrations,
    /// No prorations.
    None,
}

/// What happens to invoices while collection is paused (Stripe's `pause_collection.behavior`).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "StripePauseBehavior", rename_items = "snake_case")]
pub enum PauseBehavior {
    /// Invoices stay drafts.
    KeepAsDraft,
    /// Invoices are finalised and marked uncollectible.
    MarkUncollectible,
    /// Invoices are finalised and voided.
    Void,
}

/// Stripe's spelling of an enum value (the GraphQL value names are Stripe's own).
trait StripeValue: Copy {
    fn stripe_value(self) -> &'static str;
}

fn stripe_value(value: impl StripeValue) -> &'static str {
    value.stripe_value()
}

impl StripeValue for PaymentBehavior {
    fn stripe_value(self) -> &'static str {
        match self {
            Self::AllowIncomplete => "allow_incomplete",
            Self::DefaultIncomplete => "default_incomplete",
            Self::ErrorIfIncomplete => "error_if_incomplete",
            Self::PendingIfIncomplete => "pending_if_incomplete",
        }
    }
}

impl StripeValue for ProrationBehavior {
    fn stripe_value(self) -> &'static str {
        match self {
            Self::AlwaysInvoice => "always_invoice",
            Self::CreateProrations => "create_prorations",
            Self::None => "none",
        }
    }
}

impl StripeValue for PauseBehavior {
    fn stripe_value(self) -> &'static str {
        match self {
            Self::KeepAsDraft => "keep_as_draft",
            Self::MarkUncollectible => "mark_uncollectible",
            Self::Void => "void",
        }
    }
}

/// One item of a new subscription: exactly one of `price` and `plan`.
#[derive(InputObject, Debug, Clone)]
#[graphql(name = "StripeSubscriptionItemInput")]
pub struct ItemInput {
    /// The price (`price_…`, or a plan id: Stripe accepts plans as prices).
    pub price: Option<String>,
    /// The plan (`plan_…`), for accounts that still use plans.
    pub plan: Option<String>,
    /// How many (default 1).
    pub quantity: Option<i32>,
    /// The item's metadata (string values).
    pub metadata: Option<Json<Value>>,
}

/// A change to a subscription's items: with `id`, changes that item (`price` or `plan` swaps
/// it, `quantity` sets it, `deleted: true` removes it); without `id`, adds an item (`price`
/// or `plan` required).
#[derive(InputObject, Debug, Clone)]
#[graphql(name = "StripeSubscriptionItemChange")]
pub struct ItemChange {
    /// The item to change (`si_…`); none adds an item.
    pub id: Option<String>,
    /// The new price.
    pub price: Option<String>,
    /// The new plan.
    pub plan: Option<String>,
    /// The new quantity.
    pub quantity: Option<i32>,
    /// Removes the item.
    pub deleted: Option<bool>,
    /// Metadata to merge into the item's (null deletes a key).
    pub metadata: Option<Json<Value>>,
}

/// Sets `items[i][price]` or `items[i][plan]`: at most one of them (exactly one when
/// `required`).
fn price_or_plan(
    form: &mut Form,
    at: &str,
    price: Option<&str>,
    plan: Option<&str>,
    required: bool,
) -> async_graphql::Result<()> {
    match (price, plan) {
        (Some(_), Some(_)) => Err(input::invalid(
            at,
            format!("`{at}`: give `price` or `plan`, not both"),
        )),
        (Some(price), None) => {
            let argument = format!("{at}.price");
            let id = input::id_arg(&argument, IdKind::Price, price)?;
            form.set(format!("{}[price]", bracket(at)), id.as_str());
            Ok(())
        }
        (None, Some(plan)) => {
            let argument = format!("{at}.plan");
            let id = input::id_arg(&argument, IdKind::Plan, plan)?;
            form.set(format!("{}[plan]", bracket(at)), id.as_str());
            Ok(())
        }
        (None, None) if required => Err(input::invalid(
            at,
            format!("`{at}` needs a `price` (or a `plan`)"),
        )),
        (None, None) => Ok(()),
    }
}

/// `items.3` → `items[3]`.
fn bracket(at: &str) -> String {
    match at.split_once('.') {
        Some((list, index)) => format!("{list}[{index}]"),
        None => at.to_owned(),
    }
}

fn quantity(form: &mut Form, at: &str, quantity: Option<i32>) -> async_graphql::Result<()> {
    match quantity {
        Some(q) if q < 0 => Err(input::invalid(
            &format!("{at}.quantity"),
            format!("`{at}.quantity` must be 0 or more"),
        )),
        Some(q) => {
            form.set(format!("{}[quantity]", bracket(at)), q.to_string());
            Ok(())
        }
        None => Ok(()),
    }
}

fn item_count(count: usize) -> async_graphql::Result<()> {
    if count > input::MAX_ITEMS {
        return Err(input::invalid(
            "items",
            format!("a subscription has at most {} items", input::MAX_ITEMS),
        ));
    }
    Ok(())
}

/// Mutations on subscriptions (see the module docs).
#[derive(Default)]
pub struct SubscriptionMutation;

#[Object]
impl SubscriptionMutation {
    /// Subscribes `customer` (`cus_…`) to 1 to 20 `items` (`POST /v1/subscriptions`). With
    /// `trialPeriodDays` (1–730) it starts `trialing`; otherwise Stripe charges the
    /// `defaultPaymentMethod` (or the customer's default) and `paymentBehavior` says what
    /// happens when that fails. A declined card is `STRIPE_CARD_ERROR` with `declineCode`.
    /// Two calls with the same `idempotencyKey` and arguments create one subscription and
    /// answer it both times.
    #[allow(clippy::too_many_arguments)]
    async fn create_subscription(
        &self,
        ctx: &Context<'_>,
        customer: String,
        items: Vec<ItemInput>,
        trial_period_days: Option<i32>,
        payment_behavior: Option<PaymentBehavior>,
        default_payment_method: Option<String>,
        metadata: Option<Json<Value>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        require_writer(ctx)?;
        let customer = input::id_arg("customer", IdKind::Customer, &customer)?;
        let mut form = Form::new();
        form.set("customer", customer.as_str());
        if items.is_empty() {
            return Err(input::invalid("items", "`items` needs at least one item"));
        }
        item_count(items.len())?;
        for (i, item) in items.iter().enumerate() {
            let at = format!("items.{i}");
            price_or_plan(
                &mut form,
                &at,
                item.price.as_deref(),
                item.plan.as_deref(),
                true,
            )?;
            quantity(&mut form, &at, item.quantity)?;
            let prefix = format!("items[{i}][metadata]");
            input::metadata(
                &mut form,
                &prefix,
                &format!("{at}.metadata"),
                item.metadata.as_ref(),
            )?;
        }
        if let Some(days) = trial_period_days {
            if !(1..=input::MAX_TRIAL_DAYS).contains(&days) {
                return Err(input::invalid(
                    "trialPeriodDays",
                    format!("`trialPeriodDays` must be 1 to {}", input::MAX_TRIAL_DAYS),
                ));
            }
            form.set("trial_period_days", days.to_string());
        }
        if let Some(behavior) = payment_behavior {
            form.set("payment_behavior", stripe_value(behavior));
        }
        if let Some(method) = default_payment_method {
            let method = input::plain_id("defaultPaymentMethod", &method)?;
            form.set("default_payment_method", method);
        }
        input::metadata(&mut form, "metadata", "metadata", metadata.as_ref())?;
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        send(ctx, Write::create(IdKind::Subscription, form, key)).await
    }

    /// Changes a subscription (`POST /v1/subscriptions/{id}`): swaps an item's price,
    /// changes a quantity, adds or removes items (`items`), and merges `metadata`.
    /// `prorationBehavior` is Stripe's (default `create_prorations`). Idempotency as
    /// `createSubscription`.
    async fn update_subscription(
        &self,
        ctx: &Context<'_>,
        id: String,
        items: Option<Vec<ItemChange>>,
        proration_behavior: Option<ProrationBehavior>,
        metadata: Option<Json<Value>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Subscription, &id)?;
        let mut form = Form::new();
        let items = items.unwrap_or_default();
        item_count(items.len())?;
        for (i, item) in items.iter().enumerate() {
            let at = format!("items.{i}");
            let deleted = item.deleted == Some(true);
            match &item.id {
                Some(item_id) => {
                    let item_id =
                        input::id_arg(&format!("{at}.id"), IdKind::SubscriptionItem, item_id)?;
                    form.set(format!("items[{i}][id]"), item_id.as_str());
                    if deleted {
                        if item.price.is_some() || item.plan.is_some() || item.quantity.is_some() {
                            return Err(input::invalid(
                                &at,
                                format!("`{at}`: a deleted item takes no price, plan or quantity"),
                            ));
                        }
                        form.set(format!("items[{i}][deleted]"), "true");
                    } else {
                        price_or_plan(
                            &mut form,
                            &at,
                            item.price.as_deref(),
                            item.plan.as_deref(),
                            false,
                        )?;
                    }
                }
                None if deleted => {
                    return Err(input::invalid(
                        &at,
                        format!("`{at}`: `deleted` needs the item's `id`"),
                    ))
                }
                None => price_or_plan(
                    &mut form,
                    &at,
                    item.price.as_deref(),
                    item.plan.as_deref(),
                    true,
                )?,
            }
            quantity(&mut form, &at, item.quantity)?;
            let prefix = format!("items[{i}][metadata]");
            input::metadata(
                &mut form,
                &prefix,
                &format!("{at}.metadata"),
                item.metadata.as_ref(),
            )?;
        }
        input::metadata(&mut form, "metadata", "metadata", metadata.as_ref())?;
        if form.is_empty() {
            return Err(input::invalid(
                "id",
                "nothing to change: give `items` or `metadata`",
            ));
        }
        if let Some(behavior) = proration_behavior {
            form.set("proration_behavior", stripe_value(behavior));
        }
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        send(ctx, Write::update(id, form, key)).await
    }

    /// Cancels a subscription. `atPeriodEnd: true` schedules the cancellation for the end of
    /// the current period (`cancel_at_period_end`; undo it with `undoScheduledCancellation`);
    /// otherwise it is canceled now (`DELETE /v1/subscriptions/{id}`), with `invoiceNow`
    /// (invoice pending usage and prorations) and `prorate` (credit the unused time) as
    /// Stripe's. Canceling a subscription that is already canceled answers it as it is.
    /// `idempotencyKey` is used only with `atPeriodEnd: true`: an immediate cancel is a
    /// `DELETE`, idempotent by definition.
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
        id: String,
        at_period_end: Option<bool>,
        prorate: Option<bool>,
        invoice_now: Option<bool>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Subscription, &id)?;
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        if at_period_end == Some(true) {
            if prorate.is_some() || invoice_now.is_some() {
                return Err(input::invalid(
                    "atPeriodEnd",
                    "`prorate` and `invoiceNow` apply to an immediate cancellation, not to `atPeriodEnd: true`",
                ));
            }
            let mut form = Form::new();
            form.set("cancel_at_period_end", "true");
            return send(ctx, Write::update(id, form, key)).await;
        }
        let mut params = Form::new();
        params.set_opt("invoice_now", invoice_now.map(|b| b.to_string()));
        params.set_opt("prorate", prorate.map(|b| b.to_string()));
        let cancel = Write::delete(id.clone(), params);
        Ok(Some(
            cache(ctx)?.cancel_subscription(&id, &cancel).await.gql()?,
        ))
    }

    /// Takes back a cancellation scheduled for the period end (`cancel_at_period_end=false`).
    async fn undo_scheduled_cancellation(
        &self,
        ctx: &Context<'_>,
        id: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Subscription, &id)?;
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        let mut form = Form::new();
        form.set("cancel_at_period_end", "false");
        send(ctx, Write::update(id, form, key)).await
    }

    /// Pauses payment collection (`pause_collection`): the subscription stays `active`, its
    /// invoices are handled as `behavior` says, until `resumesAt` (if given) or
    /// `resumeSubscription`.
    async fn pause_collection(
        &self,
        ctx: &Context<'_>,
        id: String,
        behavior: PauseBehavior,
        resumes_at: Option<UnixTimestamp>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Subscription, &id)?;
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        let mut form = Form::new();
        form.set("pause_collection[behavior]", stripe_value(behavior));
        if let Some(at) = resumes_at {
            if at.0 <= 0 {
                return Err(input::invalid(
                    "resumesAt",
                    "`resumesAt` must be a Unix time in seconds",
                ));
            }
            form.set("pause_collection[resumes_at]", at.0.to_string());
        }
        send(ctx, Write::update(id, form, key)).await
    }

    /// Resumes a paused subscription: one whose status is `paused` (a trial that ended
    /// without a payment method) through `POST /v1/subscriptions/{id}/resume`, one whose
    /// collection is paused by clearing `pause_collection`. Reads the subscription from
    /// Stripe first (uncached) to know which; one that is neither is `BAD_USER_INPUT`.
    async fn resume_subscription(
        &self,
        ctx: &Context<'_>,
        id: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Subscription>>> {
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Subscription, &id)?;
        let key: Option<IdempotencyKey> = input::idempotency_key(idempotency_key.as_deref())?;
        let current = match cache(ctx)?.current::<Subscription>(&id).await {
            Err(StripeError::Deleted) => Err(StripeError::NotFound {
                param: Some("id".to_owned()),
                request_id: None,
            }),
            other => other,
        }
        .gql()?;
        if current.status == "paused" {
            return send(ctx, Write::resume(id, Form::new(), key)).await;
        }
        if current.pause_collection.is_some() {
            let mut form = Form::new();
            form.set("pause_collection", "");
            return send(ctx, Write::update(id, form, key)).await;
        }
        Err(input::invalid(
            "id",
            format!(
                "the subscription is `{}` and its collection is not paused: nothing to resume",
                current.status.chars().take(32).collect::<String>()
            ),
        ))
    }
}

/// Sends one write, writes Stripe's answer through the cache, and returns it.
async fn send(ctx: &Context<'_>, write: Write) -> async_graphql::Result<Option<Arc<Subscription>>> {
    Ok(Some(cache(ctx)?.write::<Subscription>(&write).await.gql()?))
}
