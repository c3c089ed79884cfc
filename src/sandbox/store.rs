//! The sandbox's in-memory Stripe state and the logic of its endpoints.
//!
//! Objects are kept as JSON in the shapes of API version 2026-07-29.dahlia and answered as
//! Stripe answers them: lists newest first with `starting_after`/`ending_before` cursors,
//! `{id, object, deleted: true}` with HTTP 200 for a deleted customer, Stripe's JSON error
//! shape for everything refused. Plans are not stored: a recurring price is also a plan, and
//! its plan view is derived on read, as in Stripe.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// How many items a subscription embeds before its `items` list says `has_more` and the
/// rest must be read from `/v1/subscription_items`.
pub const EMBEDDED_ITEMS: usize = 10;

/// A refusal in Stripe's error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The `{"error": {...}}` body.
    pub body: Value,
}

impl ApiError {
    /// `invalid_request_error` with a code, a param and a message.
    pub fn invalid(status: u16, code: &str, param: Option<&str>, message: String) -> ApiError {
        ApiError {
            status,
            body: json!({"error": {
                "type": "invalid_request_error", "code": code, "param": param, "message": message,
                "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
            }}),
        }
    }

    /// 404 `resource_missing` for an object id.
    pub fn missing(noun: &str, id: &str, param: &str) -> ApiError {
        ApiError::invalid(
            404,
            "resource_missing",
            Some(param),
            format!("No such {noun}: '{id}'"),
        )
    }

    fn bad_param(param: &str, message: String) -> ApiError {
        ApiError::invalid(400, "parameter_invalid", Some(param), message)
    }
}

/// Query parameters of one request.
pub type Params = BTreeMap<String, String>;

/// The objects the sandbox serves.
#[derive(Debug, Clone, Default)]
pub struct Store {
    customers: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    prices: BTreeMap<String, Value>,
    products: BTreeMap<String, Value>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Adds or replaces an object, routed by its `object` field (`customer`, `subscription`,
    /// `price`, `product`). Panics on any other object type: callers are tests and demo
    /// data, where that is a programming error.
    pub fn put(&mut self, object: Value) {
        let id = object["id"].as_str().expect("object has an id").to_owned();
        let map = match object["object"].as_str() {
            Some("customer") => &mut self.customers,
            Some("subscription") => &mut self.subscriptions,
            Some("price") => &mut self.prices,
            Some("product") => &mut self.products,
            other => panic!(
                "the sandbox stores customers, subscriptions, prices and products, not {other:?}"
            ),
        };
        map.insert(id, object);
    }

    /// The stored JSON of an object, as kept (deleted customers are stubs).
    pub fn get(&self, object: &str, id: &str) -> Option<&Value> {
        self.map(object)?.get(id)
    }

    /// Changes a stored object in place; returns false if it does not exist.
    pub fn update(&mut self, object: &str, id: &str, change: impl FnOnce(&mut Value)) -> bool {
        match self.map_mut(object).and_then(|m| m.get_mut(id)) {
            Some(value) => {
                change(value);
                true
            }
            None => false,
        }
    }

    /// Deletes a customer as Stripe does: the customer becomes a deleted stub and its live
    /// subscriptions are canceled immediately.
    pub fn delete_customer(&mut self, id: &str, now: i64) -> bool {
        if !self.customers.contains_key(id) {
            return false;
        }
        self.customers.insert(
            id.to_owned(),
            json!({"id": id, "object": "customer", "deleted": true}),
        );
        for sub in self.subscriptions.values_mut() {
            let live = !matches!(
                sub["status"].as_str(),
                Some("canceled" | "incomplete_expired")
            );
            if sub["customer"] == json!(id) && live {
                sub["status"] = json!("canceled");
                sub["canceled_at"] = json!(now);
                sub["ended_at"] = json!(now);
            }
        }
        true
    }

    fn map(&self, object: &str) -> Option<&BTreeMap<String, Value>> {
        Some(match object {
            "customer" => &self.customers,
            "subscription" => &self.subscriptions,
            "price" => &self.prices,
            "product" => &self.products,
            _ => return None,
        })
    }

    fn map_mut(&mut self, object: &str) -> Option<&mut BTreeMap<String, Value>> {
        Some(match object {
            "customer" => &mut self.customers,
            "subscription" => &mut self.subscriptions,
            "price" => &mut self.prices,
            "product" => &mut self.products,
            _ => return None,
        })
    }

    /// Answers a GET on `/v1/<segments>` with `params`.
    pub fn get_route(&self, segments: &[String], params: &Params) -> Result<Value, ApiError> {
        match segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["customers"] => {
                allow(
                    params,
                    &["email", "limit", "starting_after", "ending_before"],
                )?;
                let email = params.get("email");
                let rows = newest_first(self.customers.values().filter(|c| {
                    c["deleted"] != json!(true)
                        && email.is_none_or(|e| c["email"].as_str() == Some(e))
                }));
                page(rows, params, "customer", "/v1/customers")
            }
            ["customers", id] => {
                allow(params, &[])?;
                self.customers
                    .get(*id)
                    .cloned()
                    .ok_or_else(|| ApiError::missing("customer", id, "id"))
            }
            ["subscriptions"] => {
                allow(
                    params,
                    &[
                        "customer",
                        "status",
                        "price",
                        "plan",
                        "limit",
                        "starting_after",
                        "ending_before",
                    ],
                )?;
                let status = params.get("status").map(String::as_str);
                if let Some(s) = status {
                    const KNOWN: [&str; 10] = [
                        "active",
                        "all",
                        "canceled",
                        "ended",
                        "incomplete",
                        "incomplete_expired",
                        "past_due",
                        "paused",
                        "trialing",
                        "unpaid",
                    ];
                    if !KNOWN.contains(&s) {
                        return Err(ApiError::bad_param(
                            "status",
                            format!("Invalid status: must be one of {}", KNOWN.join(", ")),
                        ));
                    }
                }
                let price = params.get("price").or(params.get("plan"));
                let rows = newest_first(self.subscriptions.values().filter(|s| {
                    params
                        .get("customer")
                        .is_none_or(|c| s["customer"].as_str() == Some(c))
                        && status_matches(s["status"].as_str().unwrap_or(""), status)
                        && price.is_none_or(|p| {
                            s["items"]["data"].as_array().is_some_and(|items| {
                                items.iter().any(|i| i["price"]["id"].as_str() == Some(p))
                            })
                        })
                }))
                .into_iter()
                .map(|s| render_subscription(&s))
                .collect();
                page(rows, params, "subscription", "/v1/subscriptions")
            }
            ["subscriptions", id] => {
                allow(params, &[])?;
                self.subscriptions
                    .get(*id)
                    .map(render_subscription)
                    .ok_or_else(|| ApiError::missing("subscription", id, "id"))
            }
            ["subscription_items"] => {
                allow(
                    params,
                    &["subscription", "limit", "starting_after", "ending_before"],
                )?;
                let Some(sub_id) = params.get("subscription") else {
                    return Err(ApiError::invalid(
                        400,
                        "parameter_missing",
                        Some("subscription"),
                        "Missing required param: subscription.".into(),
                    ));
                };
                let sub = self
                    .subscriptions
                    .get(sub_id)
                    .ok_or_else(|| ApiError::missing("subscription", sub_id, "subscription"))?;
                let items = sub["items"]["data"].as_array().cloned().unwrap_or_default();
                page(
                    items,
                    params,
                    "subscription item",
                    &format!("/v1/subscription_items?subscription={sub_id}"),
                )
            }
            ["prices"] => {
                allow(
                    params,
                    &[
                        "product",
                        "active",
                        "limit",
                        "starting_after",
                        "ending_before",
                    ],
                )?;
                let active = match params.get("active").map(String::as_str) {
                    None => None,
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    Some(other) => {
                        return Err(ApiError::bad_param(
                            "active",
                            format!("Invalid boolean: {other}"),
                        ))
                    }
                };
                let rows = newest_first(self.prices.values().filter(|p| {
                    params
                        .get("product")
                        .is_none_or(|prod| p["product"].as_str() == Some(prod))
                        && active.is_none_or(|a| p["active"] == json!(a))
                }));
                page(rows, params, "price", "/v1/prices")
            }
            ["prices", id] => {
                allow(params, &[])?;
                self.prices
                    .get(*id)
                    .cloned()
                    .ok_or_else(|| ApiError::missing("price", id, "id"))
            }
            ["plans", id] => {
                allow(params, &[])?;
                self.prices
                    .get(*id)
                    .filter(|p| p["type"] == json!("recurring"))
                    .map(plan_view)
                    .ok_or_else(|| ApiError::missing("plan", id, "id"))
            }
            ["products", id] => {
                allow(params, &[])?;
                self.products
                    .get(*id)
                    .cloned()
                    .ok_or_else(|| ApiError::missing("product", id, "id"))
            }
            _ => Err(unrecognized(segments)),
        }
    }
}

/// 404 for a route the sandbox (and Stripe) does not have.
pub fn unrecognized(segments: &[String]) -> ApiError {
    ApiError {
        status: 404,
        body: json!({"error": {
            "type": "invalid_request_error",
            "message": format!("Unrecognized request URL (GET: /v1/{}).", segments.join("/")),
        }}),
    }
}

fn allow(params: &Params, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(ApiError::invalid(
            400,
            "parameter_unknown",
            Some(unknown),
            format!("Received unknown parameter: {unknown}"),
        )),
    }
}

fn status_matches(status: &str, filter: Option<&str>) -> bool {
    match filter {
        None => status != "canceled",
        Some("all") => true,
        Some("ended") => matches!(status, "canceled" | "incomplete_expired"),
        Some(wanted) => status == wanted,
    }
}

fn newest_first<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut rows: Vec<Value> = rows.cloned().collect();
    rows.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["created"].as_i64().unwrap_or(0),
                v["id"].as_str().unwrap_or("").to_owned(),
            )
        };
        key(b).cmp(&key(a))
    });
    rows
}

/// Cuts one page out of `rows` with Stripe's `limit`, `starting_after` and `ending_before`.
fn page(rows: Vec<Value>, params: &Params, noun: &str, url: &str) -> Result<Value, ApiError> {
    let limit = match params.get("limit") {
        None => 10,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    400,
                    "parameter_invalid_integer",
                    Some("limit"),
                    format!("Invalid integer: {raw}: limit must be between 1 and 100"),
                ))
            }
        },
    };
    let position = |param: &str| -> Result<Option<usize>, ApiError> {
        match params.get(param) {
            None => Ok(None),
            Some(id) => rows
                .iter()
                .position(|r| r["id"].as_str() == Some(id))
                .map(Some)
                .ok_or_else(|| ApiError::missing(noun, id, param)),
        }
    };
    let (data, has_more): (Vec<Value>, bool) = if let Some(after) = position("starting_after")? {
        let rest = &rows[after + 1..];
        (
            rest.iter().take(limit).cloned().collect(),
            rest.len() > limit,
        )
    } else if let Some(before) = position("ending_before")? {
        let head = &rows[..before];
        let start = head.len().saturating_sub(limit);
        (head[start..].to_vec(), start > 0)
    } else {
        (
            rows.iter().take(limit).cloned().collect(),
            rows.len() > limit,
        )
    };
    Ok(json!({"object": "list", "data": data, "has_more": has_more, "url": url}))
}

/// A subscription as answered: the embedded item list holds at most [`EMBEDDED_ITEMS`].
fn render_subscription(stored: &Value) -> Value {
    let mut sub = stored.clone();
    if let Some(items) = sub["items"]["data"].as_array_mut() {
        if items.len() > EMBEDDED_ITEMS {
            items.truncate(EMBEDDED_ITEMS);
            sub["items"]["has_more"] = json!(true);
        }
    }
    sub
}

/// The legacy plan view of a recurring price, as Stripe derives it.
pub fn plan_view(price: &Value) -> Value {
    let recurring = &price["recurring"];
    json!({
        "id": price["id"], "object": "plan", "active": price["active"],
        "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"], "created": price["created"],
        "currency": price["currency"], "interval": recurring["interval"],
        "interval_count": recurring["interval_count"], "livemode": price["livemode"],
        "metadata": price["metadata"], "meter": recurring["meter"], "nickname": price["nickname"],
        "product": price["product"], "tiers_mode": price["tiers_mode"],
        "transform_usage": null, "trial_period_days": recurring["trial_period_days"],
        "usage_type": recurring["usage_type"],
    })
}

/// A product in dahlia shape.
pub fn product(id: &str, name: &str, description: &str, created: i64) -> Value {
    json!({
        "id": id, "object": "product", "active": true, "created": created,
        "default_price": null, "description": description, "images": [], "livemode": false,
        "marketing_features": [], "metadata": {}, "name": name, "package_dimensions": null,
        "shippable": null, "statement_descriptor": null, "tax_code": null, "unit_label": null,
        "updated": created, "url": null, "type": "service",
    })
}

/// How a price recurs.
#[derive(Debug, Clone, Copy)]
pub struct Recurrence<'a> {
    /// `day`, `week`, `month` or `year`.
    pub interval: &'a str,
    /// Intervals between billings.
    pub interval_count: i64,
    /// `licensed` or `metered`.
    pub usage_type: &'a str,
    /// Meter id for metered prices.
    pub meter: Option<&'a str>,
}

/// A price in dahlia shape. `unit_amount_decimal` is the exact amount in minor units as a
/// decimal string; `unit_amount` is set when it is a whole number.
pub fn price(
    id: &str,
    product: &str,
    nickname: &str,
    unit_amount_decimal: &str,
    recurring: Option<Recurrence<'_>>,
    created: i64,
) -> Value {
    let unit_amount = unit_amount_decimal.parse::<i64>().ok();
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": created, "currency": "usd",
        "custom_unit_amount": null, "livemode": false, "lookup_key": null, "metadata": {},
        "nickname": nickname, "product": product,
        "recurring": recurring.map(|r| json!({
            "interval": r.interval, "interval_count": r.interval_count, "meter": r.meter,
            "trial_period_days": null, "usage_type": r.usage_type,
        })),
        "tax_behavior": "exclusive", "tiers_mode": null, "transform_quantity": null,
        "type": if recurring.is_some() { "recurring" } else { "one_time" },
        "unit_amount": unit_amount, "unit_amount_decimal": unit_amount_decimal,
    })
}

/// A customer in dahlia shape.
pub fn customer(id: &str, name: &str, email: &str, created: i64) -> Value {
    json!({
        "id": id, "object": "customer", "address": null, "balance": 0,
        "business_name": null, "created": created, "currency": "usd",
        "customer_account": null, "default_source": null, "delinquent": false,
        "description": null, "discount": null, "email": email, "individual_name": null,
        "invoice_prefix": id.trim_start_matches("cus_").to_uppercase().chars().take(8).collect::<String>(),
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null,
                             "rendering_options": null},
        "livemode": false, "metadata": {}, "name": name, "next_invoice_sequence": 1,
        "phone": null, "preferred_locales": ["en"], "shipping": null, "tax_exempt": "none",
        "test_clock": null,
    })
}

/// One item of a new subscription.
#[derive(Debug, Clone)]
pub struct ItemSpec<'a> {
    /// Item id (`si_…`).
    pub id: &'a str,
    /// The full price object (as stored).
    pub price: &'a Value,
    /// Quantity; `None` for metered prices.
    pub quantity: Option<i64>,
}

/// A subscription in dahlia shape: current periods on the items only, no `plan` or
/// `quantity` at the top level.
pub fn subscription(
    id: &str,
    customer: &str,
    status: &str,
    items: &[ItemSpec<'_>],
    (period_start, period_end): (i64, i64),
    created: i64,
) -> Value {
    let data: Vec<Value> = items
        .iter()
        .map(|item| {
            json!({
                "id": item.id, "object": "subscription_item", "billing_thresholds": null,
                "created": created, "current_period_start": period_start,
                "current_period_end": period_end, "discounts": [], "metadata": {},
                "plan": plan_view(item.price), "price": item.price, "quantity": item.quantity,
                "subscription": id, "tax_rates": [],
            })
        })
        .collect();
    let mut sub = Map::new();
    for (k, v) in [
        ("id", json!(id)),
        ("object", json!("subscription")),
        ("application", Value::Null),
        ("application_fee_percent", Value::Null),
        (
            "automatic_tax",
            json!({"disabled_reason": null, "enabled": false, "liability": null}),
        ),
        ("billing_cycle_anchor", json!(period_start)),
        ("billing_cycle_anchor_config", Value::Null),
        ("billing_mode", json!({"type": "classic"})),
        ("billing_thresholds", Value::Null),
        ("cancel_at", Value::Null),
        ("cancel_at_period_end", json!(false)),
        ("canceled_at", Value::Null),
        (
            "cancellation_details",
            json!({"comment": null, "feedback": null, "reason": null}),
        ),
        ("collection_method", json!("charge_automatically")),
        ("created", json!(created)),
        ("currency", json!("usd")),
        ("customer", json!(customer)),
        ("customer_account", Value::Null),
        ("days_until_due", Value::Null),
        ("default_payment_method", Value::Null),
        ("default_source", Value::Null),
        ("default_tax_rates", json!([])),
        ("description", Value::Null),
        ("discounts", json!([])),
        ("ended_at", Value::Null),
        (
            "invoice_settings",
            json!({"account_tax_ids": null, "issuer": {"type": "self"}}),
        ),
        (
            "items",
            json!({"object": "list", "data": data, "has_more": false,
                         "url": format!("/v1/subscription_items?subscription={id}")}),
        ),
        ("latest_invoice", Value::Null),
        ("livemode", json!(false)),
        ("metadata", json!({})),
        ("next_pending_invoice_item_invoice", Value::Null),
        ("on_behalf_of", Value::Null),
        ("pause_collection", Value::Null),
        ("payment_settings", Value::Null),
        ("pending_invoice_item_interval", Value::Null),
        ("pending_setup_intent", Value::Null),
        ("pending_update", Value::Null),
        ("schedule", Value::Null),
        ("start_date", json!(created)),
        ("status", json!(status)),
        ("test_clock", Value::Null),
        ("transfer_data", Value::Null),
        ("trial_end", Value::Null),
        (
            "trial_settings",
            json!({"end_behavior": {"missing_payment_method": "create_invoice"}}),
        ),
        ("trial_start", Value::Null),
    ] {
        sub.insert(k.to_owned(), v);
    }
    Value::Object(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_customers(n: usize) -> Store {
        let mut store = Store::new();
        for i in 0..n {
            store.put(customer(
                &format!("cus_{i:03}"),
                "N",
                &format!("c{i}@example.com"),
                1_000 + i as i64,
            ));
        }
        store
    }

    fn list(store: &Store, params: &[(&str, &str)]) -> Result<Value, ApiError> {
        let params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        store.get_route(&["customers".into()], &params)
    }

    fn ids(page: &Value) -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn lists_newest_first_and_pages_with_cursors() {
        let store = store_with_customers(5);
        let first = list(&store, &[("limit", "2")]).unwrap();
        assert_eq!(ids(&first), ["cus_004", "cus_003"]);
        assert_eq!(first["has_more"], json!(true));
        let second = list(&store, &[("limit", "2"), ("starting_after", "cus_003")]).unwrap();
        assert_eq!(ids(&second), ["cus_002", "cus_001"]);
        let last = list(&store, &[("limit", "2"), ("starting_after", "cus_001")]).unwrap();
        assert_eq!(ids(&last), ["cus_000"]);
        assert_eq!(last["has_more"], json!(false));
        let back = list(&store, &[("limit", "2"), ("ending_before", "cus_001")]).unwrap();
        assert_eq!(ids(&back), ["cus_003", "cus_002"]);
    }

    #[test]
    fn refuses_unknown_parameters_and_bad_limits_like_stripe() {
        let store = store_with_customers(1);
        let err = list(&store, &[("colour", "red")]).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body["error"]["code"], json!("parameter_unknown"));
        assert_eq!(list(&store, &[("limit", "0")]).unwrap_err().status, 400);
        assert_eq!(list(&store, &[("limit", "101")]).unwrap_err().status, 400);
        assert_eq!(
            list(&store, &[("starting_after", "cus_nope")])
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn deleting_a_customer_leaves_a_stub_and_cancels_its_subscriptions() {
        let mut store = store_with_customers(1);
        let price = price("price_1", "prod_1", "x", "100", None, 1);
        store.put(subscription(
            "sub_1",
            "cus_000",
            "active",
            &[ItemSpec {
                id: "si_1",
                price: &price,
                quantity: Some(1),
            }],
            (1, 2),
            1,
        ));
        assert!(store.delete_customer("cus_000", 99));
        let stub = store
            .get_route(&["customers".into(), "cus_000".into()], &Params::new())
            .unwrap();
        assert_eq!(
            stub,
            json!({"id": "cus_000", "object": "customer", "deleted": true})
        );
        assert_eq!(
            store.get("subscription", "sub_1").unwrap()["status"],
            json!("canceled")
        );
        assert_eq!(ids(&list(&store, &[]).unwrap()).len(), 0);
    }

    #[test]
    fn default_subscription_list_hides_canceled_ones() {
        assert!(status_matches("active", None));
        assert!(!status_matches("canceled", None));
        assert!(status_matches("canceled", Some("all")));
        assert!(status_matches("incomplete_expired", Some("ended")));
        assert!(!status_matches("active", Some("past_due")));
    }
}
