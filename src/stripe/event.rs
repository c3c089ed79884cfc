//! A Stripe event, typed: `data.object` decoded as the model its event type is about
//! ([`EventObject`]), `data.previous_attributes` as the fields this server reads
//! ([`PreviousAttributes`]). An event is read only after its signature was verified.
//!
//! An event's object is rendered at the webhook endpoint's API version, not the client's
//! pinned one; the models read every version this server supports ([`crate::stripe::models`])
//! and are normalized as a client answer is.

use serde::Deserialize;
use serde_json::Value;

use super::models::{
    self, expandable_id_nullable, expandable_id_opt, Customer, Plan, Price, Product, StripeObject,
    Subscription,
};

/// A verified delivery's event.
#[derive(Debug, Clone)]
pub struct Event {
    /// `id` (`evt_…`), when present; only logged.
    pub id: Option<String>,
    /// `type`, e.g. `customer.updated`.
    pub event_type: String,
    /// `created`: when the change happened (Unix seconds, one-second resolution), when present.
    pub created: Option<i64>,
    /// `data.object`: the object after the change.
    pub object: EventObject,
    /// `data.previous_attributes`: the changed fields' earlier values (empty when absent).
    pub previous: PreviousAttributes,
}

/// `data.object`, decoded as what its event type is about.
#[derive(Debug, Clone)]
pub enum EventObject {
    /// `customer.created`, `.updated`, `.deleted`.
    Customer(Customer),
    /// `customer.subscription.*`.
    Subscription(Subscription),
    /// `price.*`.
    Price(Price),
    /// `plan.*`.
    Plan(Plan),
    /// `product.*`.
    Product(Product),
    /// Any other object (a discount, a tax id, an invoice, …): the ids this server reads.
    Other(OtherObject),
}

/// An object this server does not model, as far as it is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OtherObject {
    /// Its `object` name, e.g. `discount`.
    #[serde(default)]
    pub object: Option<String>,
    /// The customer it belongs to: absent `None`, `null` `Some(None)` (e.g. an account's own
    /// tax id), else the id (given as a string or an expanded object).
    #[serde(default, deserialize_with = "expandable_id_nullable")]
    pub customer: Option<Option<String>>,
}

/// `data.previous_attributes`, the fields read (every other changed field is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PreviousAttributes {
    /// The subscription's earlier `status`.
    #[serde(default)]
    pub status: Option<String>,
    /// The subscription's earlier items (only their prices and plans are read).
    #[serde(default)]
    pub items: Option<PreviousItems>,
    /// The subscription-level `plan` of API versions before 2020-08-27: absent `None`,
    /// `null` `Some(None)` (it had several items), else the plan id.
    #[serde(default, deserialize_with = "expandable_id_nullable")]
    pub plan: Option<Option<String>>,
}

/// A subscription's earlier item list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PreviousItems {
    #[serde(default)]
    pub data: Vec<PreviousItem>,
}

/// One earlier item: its price and plan ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PreviousItem {
    #[serde(default, deserialize_with = "expandable_id_opt")]
    pub price: Option<String>,
    #[serde(default, deserialize_with = "expandable_id_opt")]
    pub plan: Option<String>,
}

/// Why a signed body is not an event this server can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not a Stripe event.
    #[error("the body is not a Stripe event: {0}")]
    NotAnEvent(&'static str),
    /// The event's object is not what its type is about, or does not decode as it.
    #[error("the `{event_type}` event's data.object is not a {expected}: {reason}")]
    WrongObject {
        /// the event type
        event_type: String,
        /// the model its type is about
        expected: &'static str,
        /// what is wrong
        reason: String,
    },
    /// The event's object lacks the id that says what changed.
    #[error("the `{event_type}` event's data.object has no {what}")]
    MissingId {
        /// the event type
        event_type: String,
        /// what is missing, e.g. "`customer` id"
        what: &'static str,
    },
}

impl EventError {
    /// The event type, when the body had one.
    pub fn event_type(&self) -> Option<&str> {
        match self {
            EventError::NotJson(_) | EventError::NotAnEvent(_) => None,
            EventError::WrongObject { event_type, .. }
            | EventError::MissingId { event_type, .. } => Some(event_type),
        }
    }
}

/// What an event type is about.
enum About {
    Customer,
    Subscription,
    Price,
    Plan,
    Product,
    Other,
}

fn about(event_type: &str) -> About {
    match event_type.split_once('.') {
        Some(("customer", "created" | "updated" | "deleted")) => About::Customer,
        Some(("customer", rest)) if rest.starts_with("subscription.") => About::Subscription,
        Some(("price", _)) => About::Price,
        Some(("plan", _)) => About::Plan,
        Some(("product", _)) => About::Product,
        _ => About::Other,
    }
}

/// Reads an event: a JSON object with a string `type` and an object `data.object`; `id`, if
/// present, must be a string. The object decodes as the model its type is about (its
/// `object` field, when present, must name that model), with a non-empty `id` (and, for a
/// subscription, `customer`); any other object decodes as an [`OtherObject`].
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    from_value(value)
}

/// Reads an event already decoded as JSON (one of `GET /v1/events`' `data`), as [`parse`].
pub fn from_value(value: Value) -> Result<Event, EventError> {
    let Value::Object(mut event) = value else {
        return Err(EventError::NotAnEvent("it is not a JSON object"));
    };
    let id = match event.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(EventError::NotAnEvent("`id` is not a string")),
    };
    let Some(Value::String(event_type)) = event.remove("type") else {
        return Err(EventError::NotAnEvent("it has no string `type`"));
    };
    let created = event.get("created").and_then(Value::as_i64);
    let mut data = match event.remove("data") {
        Some(Value::Object(data)) => data,
        _ => return Err(EventError::NotAnEvent("it has no `data.object` object")),
    };
    let object = match data.remove("object") {
        Some(object @ Value::Object(_)) => object,
        _ => return Err(EventError::NotAnEvent("it has no `data.object` object")),
    };
    let previous = match data.remove("previous_attributes") {
        Some(previous @ Value::Object(_)) => {
            // What this server does not read, or reads in another shape, counts as unchanged.
            serde_json::from_value(previous).unwrap_or_default()
        }
        _ => PreviousAttributes::default(),
    };
    let object = decode_object(&event_type, object)?;
    Ok(Event {
        id,
        event_type,
        created,
        object,
        previous,
    })
}

fn decode_object(event_type: &str, object: Value) -> Result<EventObject, EventError> {
    let missing = |what| EventError::MissingId {
        event_type: event_type.to_owned(),
        what,
    };
    let object = match about(event_type) {
        About::Customer => EventObject::Customer(typed::<Customer>(event_type, object)?),
        About::Subscription => {
            let subscription = typed::<Subscription>(event_type, object)?;
            if subscription.customer.is_empty() {
                return Err(missing("`customer` id"));
            }
            EventObject::Subscription(subscription)
        }
        About::Price => EventObject::Price(typed::<Price>(event_type, object)?),
        About::Plan => EventObject::Plan(typed::<Plan>(event_type, object)?),
        About::Product => EventObject::Product(typed::<Product>(event_type, object)?),
        About::Other => EventObject::Other(serde_json::from_value(object).map_err(|e| {
            EventError::WrongObject {
                event_type: event_type.to_owned(),
                expected: "Stripe object",
                reason: e.to_string(),
            }
        })?),
    };
    let own_id = match &object {
        EventObject::Customer(o) => Some(o.id.as_str()),
        EventObject::Subscription(o) => Some(o.id.as_str()),
        EventObject::Price(o) => Some(o.id.as_str()),
        EventObject::Plan(o) => Some(o.id.as_str()),
        EventObject::Product(o) => Some(o.id.as_str()),
        EventObject::Other(_) => None,
    };
    if own_id.is_some_and(str::is_empty) {
        return Err(missing("`id`"));
    }
    Ok(object)
}

/// The object as a `T`: its `object` field, when present, must be `T`'s; it must carry an
/// `id` (a string); then it decodes and is normalized as a client answer is.
fn typed<T: StripeObject>(event_type: &str, object: Value) -> Result<T, EventError> {
    let wrong = |reason: String| EventError::WrongObject {
        event_type: event_type.to_owned(),
        expected: T::OBJECT,
        reason,
    };
    match object.get("object") {
        None => {}
        Some(Value::String(name)) if name == T::OBJECT => {}
        Some(other) => return Err(wrong(format!("its `object` is {other}"))),
    }
    if !object.get("id").is_some_and(Value::is_string) {
        return Err(EventError::MissingId {
            event_type: event_type.to_owned(),
            what: "`id`",
        });
    }
    models::decode(object).map_err(|e| wrong(e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(event_type: &str, object: Value, previous: Value) -> Result<Event, EventError> {
        let body = json!({
            "id": "evt_1", "object": "event", "type": event_type, "created": 1_700_000_000,
            "data": {"object": object, "previous_attributes": previous},
        });
        parse(&serde_json::to_vec(&body).unwrap())
    }

    #[test]
    fn only_json_objects_with_a_type_and_a_data_object_are_events() {
        let event = parse(
            br#"{"id":"evt_1","object":"event","type":"customer.updated","created":7,"data":{"object":{"id":"cus_1","object":"customer","email":"a@example.com"}}}"#,
        )
        .unwrap();
        assert_eq!(event.id.as_deref(), Some("evt_1"));
        assert_eq!(event.event_type, "customer.updated");
        assert_eq!(event.created, Some(7));
        let EventObject::Customer(customer) = &event.object else {
            panic!("{:?}", event.object)
        };
        assert_eq!(customer.email.as_deref(), Some("a@example.com"));
        assert_eq!(event.previous, PreviousAttributes::default());

        assert!(matches!(parse(b"{"), Err(EventError::NotJson(_))));
        for body in [
            r#"[]"#,
            r#"{"data":{"object":{}}}"#,
            r#"{"type":7,"data":{"object":{}}}"#,
            r#"{"type":"customer.updated"}"#,
            r#"{"type":"customer.updated","data":{"object":"cus_1"}}"#,
            r#"{"id":5,"type":"customer.updated","data":{"object":{}}}"#,
        ] {
            assert!(
                matches!(parse(body.as_bytes()), Err(EventError::NotAnEvent(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn a_subscription_event_reads_its_object_and_previous_attributes_as_models() {
        let event = event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "object": "subscription", "customer": {"id": "cus_1", "object": "customer"},
                   "status": "active", "items": {"data": [{"id": "si_1", "plan": {"id": "gold", "interval": "month"}}]}}),
            json!({"status": "past_due", "items": {"data": [{"id": "si_1", "price": {"id": "silver"}}]},
                   "plan": null, "metadata": {"x": "y"}}),
        )
        .unwrap();
        let EventObject::Subscription(sub) = &event.object else {
            panic!("{:?}", event.object)
        };
        assert_eq!(
            sub.customer, "cus_1",
            "an expanded customer is read as its id"
        );
        // Normalized as a client answer: the item's price is its plan's view.
        assert_eq!(sub.items.data[0].price.as_ref().unwrap().id, "gold");
        assert_eq!(event.previous.status.as_deref(), Some("past_due"));
        assert_eq!(
            event.previous.items.as_ref().unwrap().data[0]
                .price
                .as_deref(),
            Some("silver")
        );
        assert_eq!(
            event.previous.plan,
            Some(None),
            "null is kept apart from absent"
        );
    }

    #[test]
    fn other_objects_keep_whether_their_customer_is_absent_null_or_named() {
        let customer = |object: Value| match event("customer.discount.created", object, json!(null))
            .unwrap()
            .object
        {
            EventObject::Other(other) => other.customer,
            other => panic!("{other:?}"),
        };
        assert_eq!(customer(json!({"id": "di_1"})), None);
        assert_eq!(
            customer(json!({"id": "di_1", "customer": null})),
            Some(None)
        );
        assert_eq!(
            customer(json!({"id": "di_1", "customer": "cus_1"})),
            Some(Some("cus_1".into()))
        );
        assert_eq!(
            customer(json!({"id": "di_1", "customer": {"id": "cus_1"}})),
            Some(Some("cus_1".into()))
        );
    }

    #[test]
    fn an_object_that_is_not_what_its_type_is_about_or_lacks_its_ids_is_refused() {
        let cases = [
            ("customer.updated", json!({"name": "x"})),
            ("customer.updated", json!({"id": ""})),
            (
                "customer.updated",
                json!({"id": "sub_1", "object": "subscription"}),
            ),
            ("price.updated", json!({"id": 5})),
            (
                "customer.subscription.updated",
                json!({"id": "sub_1", "status": "active"}),
            ),
            (
                "customer.subscription.updated",
                json!({"id": "sub_1", "customer": "", "status": "active"}),
            ),
            (
                "customer.subscription.updated",
                json!({"customer": "cus_1", "status": "active"}),
            ),
            ("plan.updated", json!({"id": "gold"})),
        ];
        for (event_type, object) in cases {
            let error = event(event_type, object.clone(), json!(null)).unwrap_err();
            assert!(
                matches!(
                    error,
                    EventError::MissingId { .. } | EventError::WrongObject { .. }
                ),
                "{event_type} {object}: {error:?}"
            );
            assert_eq!(error.event_type(), Some(event_type));
            assert!(error.to_string().contains(event_type), "{error}");
        }
    }
}
