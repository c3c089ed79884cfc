//! The profile's lifecycle dates, kept in step with Stripe's subscription events.
//!
//! **Order-independent or older-loses** ([`lifecycle_changes`]): `activationDate` is the
//! earliest time a subscription became active, `plan_change_date` the latest time one changed
//! prices (both kept by the `where` of their update, so any delivery order gives the same
//! result and a replay changes nothing); `delinquency_date` is set when a subscription turns
//! `past_due`/`unpaid` and cleared when it recovers, and `stripe_status_event_at` records the
//! newest status event applied, so an older event that arrives late changes nothing. Two
//! status events in the same second (Stripe's `created` has one-second resolution) apply in
//! delivery order.

use super::{hasura::LifecycleChange, ProfileSync, SyncError};
use crate::{
    ids::{IdKind, StripeId},
    stripe::event::{Event, EventObject},
    stripe::{models::Subscription, request::ListRequest},
};

impl ProfileSync {
    /// Applies a Stripe event's lifecycle changes to the linked profile ([`lifecycle_changes`]).
    /// Returns how many profile rows changed.
    pub async fn on_stripe_event(&self, event: &Event) -> Result<u64, SyncError> {
        let Some(plan) = lifecycle_changes(event) else {
            return Ok(0);
        };
        let mut changed = 0;
        for &change in &plan.changes {
            if change == LifecycleChange::Recovered
                && self.other_subscription_is_delinquent(&plan).await?
            {
                continue;
            }
            changed += self
                .hasura
                .lifecycle(&plan.customer, change, plan.at)
                .await?;
        }
        Ok(changed)
    }

    /// Whether another subscription of the customer is still `past_due` or `unpaid`: then
    /// one recovering does not end the customer's delinquency.
    async fn other_subscription_is_delinquent(
        &self,
        plan: &LifecyclePlan,
    ) -> Result<bool, SyncError> {
        let Ok(customer) = StripeId::parse(IdKind::Customer, &plan.customer) else {
            return Ok(false);
        };
        let page = self
            .cache
            .subscriptions(&ListRequest::of_customer(&customer))
            .await?;
        Ok(page.data.iter().any(|s| {
            s.id != plan.subscription && matches!(s.status.as_str(), "past_due" | "unpaid")
        }))
    }
}

/// What one Stripe event changes on a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePlan {
    /// The Stripe customer whose profile changes.
    pub customer: String,
    /// The subscription the event is about.
    pub subscription: String,
    /// When the event was created (Unix seconds).
    pub at: i64,
    /// The changes, in order.
    pub changes: Vec<LifecycleChange>,
}

/// The lifecycle changes a Stripe event makes, a pure decision:
///
/// | event | condition | change |
/// |---|---|---|
/// | `customer.subscription.created`, `.updated`, `.resumed` | now `active`, and created so or `previous_attributes.status` differs | `Activated` |
/// | same | now `active`, previously `past_due` or `unpaid` | `Recovered` |
/// | `.created`, `.updated` | now `past_due` or `unpaid`, previously neither (or created so) | `Delinquent` |
/// | `.updated` | `previous_attributes.items` (or `.plan`) names other prices than the items now | `PlanChanged` |
///
/// `None` for other events, or one without `created`, a customer or a subscription id.
pub fn lifecycle_changes(event: &Event) -> Option<LifecyclePlan> {
    let action = event.event_type.strip_prefix("customer.subscription.")?;
    if !matches!(action, "created" | "updated" | "resumed") {
        return None;
    }
    let EventObject::Subscription(subscription) = &event.object else {
        return None;
    };
    let at = event.created?;
    let status = subscription.status.as_str();
    let previous = &event.previous;
    let previous_status = previous.status.as_deref();
    let entered = action == "created" || previous_status.is_some_and(|p| p != status);
    let delinquent = |s: &str| matches!(s, "past_due" | "unpaid");
    let mut changes = Vec::new();
    if status == "active" && (entered || action == "resumed") {
        changes.push(LifecycleChange::Activated);
        if previous_status.is_some_and(delinquent) {
            changes.push(LifecycleChange::Recovered);
        }
    }
    if delinquent(status) && entered && !previous_status.is_some_and(delinquent) {
        changes.push(LifecycleChange::Delinquent);
    }
    if action == "updated" {
        let before = match (&previous.items, &previous.plan) {
            (Some(items), _) => {
                Some(id_set(items.data.iter().filter_map(|item| {
                    item.price.as_deref().or(item.plan.as_deref())
                })))
            }
            (None, Some(plan)) => Some(id_set(plan.as_deref().into_iter())),
            (None, None) => None,
        };
        if before.is_some_and(|before| before != prices(subscription)) {
            changes.push(LifecycleChange::PlanChanged);
        }
    }
    (!changes.is_empty()).then(|| LifecyclePlan {
        customer: subscription.customer.clone(),
        subscription: subscription.id.clone(),
        at,
        changes,
    })
}

/// The price ids of a subscription's items (an item of a legacy plan carries its plan's
/// price view: [`crate::stripe::models::SubscriptionItem`]).
fn prices(subscription: &Subscription) -> Vec<String> {
    id_set(
        subscription
            .items
            .data
            .iter()
            .filter_map(|item| item.price.as_ref().map(|p| p.id.as_str())),
    )
}

/// Sorted, without repeats.
fn id_set<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut ids: Vec<String> = ids.map(str::to_owned).collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::stripe::event::parse;
    use LifecycleChange::*;

    /// The event as read from a delivery's body.
    fn event(kind: &str, object: Value, previous: Option<Value>) -> Event {
        let body = json!({
            "id": "evt_1", "type": kind, "created": 1_800_000_000,
            "data": {"object": object, "previous_attributes": previous},
        });
        parse(&serde_json::to_vec(&body).unwrap()).unwrap()
    }

    fn sub(status: &str, prices: &[&str]) -> Value {
        let items: Vec<Value> = prices
            .iter()
            .map(|p| json!({"id": format!("si_{p}"), "price": {"id": p}}))
            .collect();
        json!({"id": "sub_1", "customer": "cus_1", "status": status, "items": {"data": items}})
    }

    fn changes(event: &Event) -> Vec<LifecycleChange> {
        lifecycle_changes(event)
            .map(|p| p.changes)
            .unwrap_or_default()
    }

    #[test]
    fn becoming_active_activates_and_recovering_clears_delinquency() {
        let created = event(
            "customer.subscription.created",
            sub("active", &["p1"]),
            None,
        );
        let plan = lifecycle_changes(&created).unwrap();
        assert_eq!(plan.customer, "cus_1");
        assert_eq!(plan.subscription, "sub_1");
        assert_eq!(plan.at, 1_800_000_000);
        assert_eq!(plan.changes, [Activated]);
        let from_trial = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(json!({"status": "trialing"})),
        );
        assert_eq!(changes(&from_trial), [Activated]);
        let recovered = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(json!({"status": "past_due"})),
        );
        assert_eq!(changes(&recovered), [Activated, Recovered]);
        let resumed = event(
            "customer.subscription.resumed",
            sub("active", &["p1"]),
            None,
        );
        assert_eq!(changes(&resumed), [Activated]);
    }

    #[test]
    fn turning_past_due_or_unpaid_is_delinquency_once() {
        for status in ["past_due", "unpaid"] {
            let turned = event(
                "customer.subscription.updated",
                sub(status, &["p1"]),
                Some(json!({"status": "active"})),
            );
            assert_eq!(changes(&turned), [Delinquent], "{status}");
        }
        let still = event(
            "customer.subscription.updated",
            sub("unpaid", &["p1"]),
            Some(json!({"status": "past_due"})),
        );
        assert_eq!(changes(&still), []);
    }

    #[test]
    fn a_price_change_is_a_plan_change_and_a_quantity_change_is_not() {
        let swapped = event(
            "customer.subscription.updated",
            sub("active", &["p2"]),
            Some(json!({"items": {"data": [{"id": "si_p1", "price": {"id": "p1"}}]}})),
        );
        assert_eq!(changes(&swapped), [PlanChanged]);
        let quantity = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(
                json!({"items": {"data": [{"id": "si_p1", "price": {"id": "p1"}, "quantity": 1}]}}),
            ),
        );
        assert_eq!(changes(&quantity), []);
        let legacy = event(
            "customer.subscription.updated",
            sub("active", &["p2"]),
            Some(json!({"plan": {"id": "p1"}})),
        );
        assert_eq!(changes(&legacy), [PlanChanged]);
    }

    #[test]
    fn other_events_and_events_without_a_time_change_nothing() {
        assert_eq!(
            lifecycle_changes(&event("customer.updated", json!({"id": "cus_1"}), None)),
            None
        );
        assert_eq!(
            lifecycle_changes(&event(
                "customer.subscription.deleted",
                sub("canceled", &["p1"]),
                None
            )),
            None
        );
        let mut untimed = event(
            "customer.subscription.created",
            sub("active", &["p1"]),
            None,
        );
        untimed.created = None;
        assert_eq!(lifecycle_changes(&untimed), None);
        let metadata_only = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(json!({"metadata": {}})),
        );
        assert_eq!(lifecycle_changes(&metadata_only), None);
    }
}
