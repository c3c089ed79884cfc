//! Builders of Stripe objects in the shapes of API version 2026-07-29.dahlia, used by the
//! demo data and by tests to fill a [`Store`](super::store::Store).
//!
//! Each builder returns a whole object as the sandbox stores and answers it: test mode
//! (`livemode: false`), `usd`, and every field the builder does not take as an argument set to
//! a fixed default or `null`. Callers change fields on the result for anything else. Building
//! has no side effects; nothing here stores or serves.

use serde_json::{json, Map, Value};

/// The Stripe API version whose shapes the sandbox's objects and events follow (the
/// `api_version` of its events). The server's `DEFAULT_API_VERSION` must be the same; a test of
/// the server pins that.
pub const API_VERSION: &str = "2026-07-29.dahlia";

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

/// A subscription item in dahlia shape: its current period, the price embedded with its
/// plan view, no metadata. `quantity` is `None` for a metered price.
pub fn subscription_item(
    id: &str,
    subscription: &str,
    price: &Value,
    quantity: Option<i64>,
    (period_start, period_end): (i64, i64),
    created: i64,
) -> Value {
    json!({
        "id": id, "object": "subscription_item", "billing_thresholds": null,
        "created": created, "current_period_start": period_start,
        "current_period_end": period_end, "discounts": [], "metadata": {},
        "plan": plan_view(price), "price": price, "quantity": quantity,
        "subscription": subscription, "tax_rates": [],
    })
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
            subscription_item(
                item.id,
                id,
                item.price,
                item.quantity,
                (period_start, period_end),
                created,
            )
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

    fn monthly() -> Recurrence<'static> {
        Recurrence {
            interval: "month",
            interval_count: 1,
            usage_type: "licensed",
            meter: None,
        }
    }

    #[test]
    fn a_whole_decimal_amount_also_sets_unit_amount() {
        let p = price("price_1", "prod_1", "Pro", "1900", Some(monthly()), 5);
        assert_eq!(p["unit_amount"], json!(1900));
        assert_eq!(p["unit_amount_decimal"], json!("1900"));
        assert_eq!(p["type"], json!("recurring"));
    }

    #[test]
    fn a_fractional_decimal_amount_leaves_unit_amount_null() {
        let p = price("price_1", "prod_1", "Calls", "0.25", None, 5);
        assert_eq!(p["unit_amount"], Value::Null);
        assert_eq!(p["unit_amount_decimal"], json!("0.25"));
        assert_eq!(p["type"], json!("one_time"));
        assert_eq!(p["recurring"], Value::Null);
    }

    #[test]
    fn the_plan_view_of_a_recurring_price_carries_its_amount_and_interval() {
        let p = price("price_1", "prod_1", "Pro", "4900", Some(monthly()), 5);
        let plan = plan_view(&p);
        assert_eq!(plan["object"], json!("plan"));
        assert_eq!(plan["id"], json!("price_1"));
        assert_eq!(plan["amount"], json!(4900));
        assert_eq!(plan["amount_decimal"], json!("4900"));
        assert_eq!(plan["interval"], json!("month"));
        assert_eq!(plan["usage_type"], json!("licensed"));
        assert_eq!(plan["product"], json!("prod_1"));
    }

    #[test]
    fn a_subscription_embeds_every_item_with_its_price_plan_and_period() {
        let p = price("price_1", "prod_1", "Pro", "4900", Some(monthly()), 5);
        let items: Vec<ItemSpec> = ["si_1", "si_2"]
            .iter()
            .map(|id| ItemSpec {
                id,
                price: &p,
                quantity: Some(2),
            })
            .collect();
        let sub = subscription("sub_1", "cus_1", "active", &items, (100, 200), 50);
        assert_eq!(sub["object"], json!("subscription"));
        assert_eq!(sub["customer"], json!("cus_1"));
        assert!(sub.get("plan").is_none(), "dahlia has no top-level plan");
        assert!(
            sub.get("current_period_end").is_none(),
            "periods are on items"
        );
        assert_eq!(sub["items"]["has_more"], json!(false));
        assert_eq!(
            sub["items"]["url"],
            json!("/v1/subscription_items?subscription=sub_1")
        );
        let data = sub["items"]["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        for (item, id) in data.iter().zip(["si_1", "si_2"]) {
            assert_eq!(item["id"], json!(id));
            assert_eq!(item["subscription"], json!("sub_1"));
            assert_eq!(item["price"], p);
            assert_eq!(item["plan"], plan_view(&p));
            assert_eq!(item["quantity"], json!(2));
            assert_eq!(item["current_period_start"], json!(100));
            assert_eq!(item["current_period_end"], json!(200));
        }
    }

    #[test]
    fn a_customer_invoice_prefix_comes_from_its_id() {
        let c = customer("cus_AvaMartinez", "Ava", "ava@example.com", 5);
        assert_eq!(c["invoice_prefix"], json!("AVAMARTI"));
        assert_eq!(c["email"], json!("ava@example.com"));
    }
}
