//! The changes Stripe sends events for ([`Change`]): the event's type, the object after the
//! change as the API answers it, and the previous values of what changed. The write endpoints
//! and the [`Sandbox`](crate::Sandbox)'s own data changes report them; [`crate::webhooks`]
//! turns them into signed events.

use serde_json::{Map, Value};

/// A change Stripe sends an event for: the event's type, the object after the change, and
/// the previous values of the top-level fields that changed (for `*.updated`).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// e.g. `customer.updated`
    pub event_type: String,
    /// the object after the change, as the API answers it
    pub object: Value,
    /// `data.previous_attributes`, for updates
    pub previous_attributes: Option<Value>,
}

/// The event type Stripe sends when an object of this type (`customer`, `subscription`,
/// `price`, `product`) is `action` (`created`, `updated`, `deleted`).
pub fn event_type(object: &str, action: &str) -> String {
    match object {
        "subscription" => format!("customer.subscription.{action}"),
        other => format!("{other}.{action}"),
    }
}

/// The top-level fields of `after` whose value differs in `before`, with `before`'s value
/// (`null` for a field `before` lacked): Stripe's `previous_attributes`.
pub fn previous_attributes(before: &Value, after: &Value) -> Value {
    let mut changed = Map::new();
    if let Some(after) = after.as_object() {
        for (key, value) in after {
            let old = before.get(key).unwrap_or(&Value::Null);
            if old != value {
                changed.insert(key.clone(), old.clone());
            }
        }
    }
    Value::Object(changed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn previous_attributes_hold_the_old_values_of_changed_fields_only() {
        let before = json!({"id": "cus_1", "name": "Old", "metadata": {"a": "1"}});
        let after = json!({"id": "cus_1", "name": "New", "metadata": {"a": "1"}, "email": "e"});
        assert_eq!(
            previous_attributes(&before, &after),
            json!({"name": "Old", "email": null})
        );
    }

    #[test]
    fn subscription_events_are_customer_subscription_events() {
        assert_eq!(
            event_type("subscription", "updated"),
            "customer.subscription.updated"
        );
        assert_eq!(event_type("price", "created"), "price.created");
    }
}
