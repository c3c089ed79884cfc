//! What a Stripe event makes stale in the cache: a pure decision on the typed [`Event`].
//!
//! **Events are hints, never data.** An event only names what changed; the cache then
//! re-reads it from Stripe on the next query. Stripe does not guarantee order or single
//! delivery, and a hint is correct whatever the order and however often it arrives.
//! **Unknown types are acknowledged**: they map to `None` and are answered 200 (Stripe would
//! otherwise retry them for days).

use crate::cache::Tag;
use crate::stripe::event::{Event, EventError, EventObject};

/// The cache tags an event makes stale, or `None` for a type this server does not cache
/// (acknowledged and ignored). The mapping (also in docs/design.md):
///
/// | event type | tags |
/// |---|---|
/// | `customer.created`, `.updated` | `Object(customer)`, `Collection("customers")` |
/// | `customer.deleted` | those, plus `SubscriptionsOf(customer)` and `Collection("subscriptions")` (deleting a customer cancels its subscriptions) |
/// | `customer.subscription.*` | `Object(subscription)`, `SubscriptionsOf(its customer)`, `Collection("subscriptions")` |
/// | other `customer.<object>.*` (`customer.discount.*`, `customer.tax_id.*`, `customer.source.*`, …) | `Object(customer)`, `Collection("customers")`, the customer taken from the object's `customer` field; `None` when that field is `null` (e.g. an account's own tax id) |
/// | `price.*` | `Object(price)`, `Collection("prices")` |
/// | `plan.*` | `Object(plan)`, `Collection("prices")` (a plan's id is also a price id) |
/// | `product.*` | `Object(product)` |
///
/// The objects were decoded and their own ids checked when the event was read
/// ([`crate::stripe::event::parse`]); a `customer.<object>.*` event whose object has no `customer`
/// field is an [`EventError::MissingId`]: Stripe never sends one, so it is refused rather
/// than guessed at.
pub fn stale_tags(event: &Event) -> Result<Option<Vec<Tag>>, EventError> {
    let missing = |what| EventError::MissingId {
        event_type: event.event_type.clone(),
        what,
    };
    Ok(Some(match &event.object {
        EventObject::Customer(customer) => {
            Tag::of_customer_change(&customer.id, event.event_type == "customer.deleted")
        }
        EventObject::Subscription(subscription) => {
            Tag::of_subscription_change(&subscription.id, &subscription.customer)
        }
        EventObject::Price(price) => vec![Tag::Object(price.id.clone()), Tag::Collection("prices")],
        EventObject::Plan(plan) => vec![Tag::Object(plan.id.clone()), Tag::Collection("prices")],
        EventObject::Product(product) => vec![Tag::Object(product.id.clone())],
        EventObject::Other(other) if event.event_type.starts_with("customer.") => {
            // customer.discount.*, customer.tax_id.*, customer.source.*, …: the object is not
            // the customer; its `customer` field names it.
            match &other.customer {
                Some(None) => return Ok(None),
                Some(Some(customer)) if !customer.is_empty() => {
                    vec![Tag::Object(customer.clone()), Tag::Collection("customers")]
                }
                _ => return Err(missing("`customer` id")),
            }
        }
        EventObject::Other(_) => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::stripe::event::parse;

    fn tags(event_type: &str, object: Value) -> Result<Option<Vec<Tag>>, EventError> {
        let body = json!({"id": "evt_1", "type": event_type, "data": {"object": object}});
        stale_tags(&parse(&serde_json::to_vec(&body).unwrap())?)
    }

    fn obj(id: &str) -> Tag {
        Tag::Object(id.to_owned())
    }

    fn subscription(id: &str, customer: Value) -> Value {
        json!({"id": id, "object": "subscription", "customer": customer, "status": "active"})
    }

    #[test]
    fn customer_events_name_the_customer_and_the_customer_lists() {
        for action in ["created", "updated"] {
            assert_eq!(
                tags(&format!("customer.{action}"), json!({"id": "cus_1"})),
                Ok(Some(vec![obj("cus_1"), Tag::Collection("customers")]))
            );
        }
        assert_eq!(
            tags(
                "customer.deleted",
                json!({"id": "cus_1", "object": "customer"})
            ),
            Ok(Some(vec![
                obj("cus_1"),
                Tag::Collection("customers"),
                Tag::SubscriptionsOf("cus_1".into()),
                Tag::Collection("subscriptions"),
            ]))
        );
    }

    #[test]
    fn customer_sub_object_events_name_the_customer_in_their_customer_field() {
        for event_type in [
            "customer.discount.created",
            "customer.tax_id.updated",
            "customer.source.deleted",
        ] {
            assert_eq!(
                tags(event_type, json!({"id": "x_1", "customer": "cus_1"})),
                Ok(Some(vec![obj("cus_1"), Tag::Collection("customers")])),
                "{event_type}"
            );
        }
        assert_eq!(
            tags(
                "customer.discount.deleted",
                json!({"id": "di_1", "customer": {"id": "cus_1", "object": "customer"}})
            ),
            Ok(Some(vec![obj("cus_1"), Tag::Collection("customers")]))
        );
        // An account's own tax id belongs to no customer: nothing cached changes.
        assert_eq!(
            tags(
                "customer.tax_id.created",
                json!({"id": "txi_1", "customer": null})
            ),
            Ok(None)
        );
    }

    #[test]
    fn subscription_events_name_the_subscription_and_its_customers_lists() {
        for action in [
            "created",
            "updated",
            "deleted",
            "paused",
            "resumed",
            "pending_update_applied",
            "pending_update_expired",
            "trial_will_end",
        ] {
            assert_eq!(
                tags(
                    &format!("customer.subscription.{action}"),
                    subscription("sub_1", json!("cus_1"))
                ),
                Ok(Some(vec![
                    obj("sub_1"),
                    Tag::SubscriptionsOf("cus_1".into()),
                    Tag::Collection("subscriptions"),
                ])),
                "{action}"
            );
        }
        assert_eq!(
            tags(
                "customer.subscription.updated",
                subscription("sub_1", json!({"id": "cus_1"}))
            ),
            Ok(Some(vec![
                obj("sub_1"),
                Tag::SubscriptionsOf("cus_1".into()),
                Tag::Collection("subscriptions"),
            ]))
        );
    }

    #[test]
    fn price_plan_and_product_events_name_the_object_and_price_lists() {
        assert_eq!(
            tags("price.updated", json!({"id": "price_1", "object": "price"})),
            Ok(Some(vec![obj("price_1"), Tag::Collection("prices")]))
        );
        assert_eq!(
            tags(
                "plan.deleted",
                json!({"id": "gold", "object": "plan", "interval": "month"})
            ),
            Ok(Some(vec![obj("gold"), Tag::Collection("prices")]))
        );
        assert_eq!(
            tags("product.created", json!({"id": "prod_1"})),
            Ok(Some(vec![obj("prod_1")]))
        );
    }

    #[test]
    fn other_event_types_are_ignored() {
        for event_type in [
            "invoice.paid",
            "charge.succeeded",
            "customers.updated",
            "prices.updated",
            "price",
            "subscription_schedule.updated",
            "",
        ] {
            assert_eq!(
                tags(event_type, json!({"id": "x"})),
                Ok(None),
                "{event_type}"
            );
        }
    }

    #[test]
    fn a_customer_sub_object_without_a_customer_is_an_error_that_says_which() {
        for object in [json!({"id": "di_1"}), json!({"id": "di_1", "customer": ""})] {
            assert_eq!(
                tags("customer.discount.created", object),
                Err(EventError::MissingId {
                    event_type: "customer.discount.created".into(),
                    what: "`customer` id"
                })
            );
        }
        // An expanded customer without an id does not decode.
        assert!(matches!(
            tags(
                "customer.discount.created",
                json!({"id": "di_1", "customer": {"object": "customer"}})
            ),
            Err(EventError::WrongObject { .. })
        ));
    }
}
