//! The sandbox's write endpoints: Stripe's customer and subscription writes, with Stripe's
//! parameters, rules and refusals, each answering the object as the API answers it and
//! reporting the changes Stripe sends events for ([`Change`]).
//!
//! Parameters are read from the form-encoded body of a POST, or the query string of a DELETE
//! ([`crate::form`]). Every write checks all its parameters before it changes anything: a
//! refusal leaves the store as it was. Which method and path reach which endpoint is the route
//! table's ([`crate::routes`]); idempotency keys, faults and event delivery are the server's
//! ([`crate::server`]), not the endpoints'.
//!
//! | endpoint | parameters | answer, events |
//! |---|---|---|
//! | `POST /v1/customers` | `email`, `name`, `phone`, `description`, `address[line1\|line2\|city\|state\|postal_code\|country]`, `invoice_settings[default_payment_method]`, `metadata[k]` | the new customer (`cus_Sbx…`); `customer.created` |
//! | `POST /v1/customers/{id}` | the same, only those given; `""` clears a field (`address=` the whole address, `address[line2]=` one line); `metadata[k]=` deletes a key, `metadata=` them all | the customer; `customer.updated` (none when nothing changed) |
//! | `DELETE /v1/customers/{id}` | none | `{id, object: "customer", deleted: true}`; `customer.subscription.deleted` per subscription it canceled, then `customer.deleted` |
//! | `POST /v1/subscriptions` | `customer` (required), `items[i][price]` or `items[i][plan]` (1–20 items), `items[i][quantity]`, `items[i][metadata][k]`, `trial_period_days`, `payment_behavior`, `default_payment_method`, `metadata[k]` | the subscription (`sub_Sbx…`, items `si_Sbx…`); `customer.subscription.created` |
//! | `POST /v1/subscriptions/{id}` | `items[i][id]` with `[price]`/`[plan]`, `[quantity]`, `[metadata][k]` or `[deleted]=true`; items without `id` are added; `proration_behavior`; `payment_behavior`; `default_payment_method`; `metadata[k]`; `cancel_at_period_end=true\|false`; `pause_collection[behavior]`, `pause_collection[resumes_at]`, `pause_collection=` | the subscription; `customer.subscription.updated` (none when nothing changed) |
//! | `DELETE /v1/subscriptions/{id}` | query: `invoice_now`, `prorate` | the subscription, `status: canceled`; `customer.subscription.deleted` |
//! | `POST /v1/subscriptions/{id}/resume` | `billing_cycle_anchor=now\|unchanged`, `proration_behavior` | the subscription, `status: active`; `customer.subscription.updated`, then `customer.subscription.resumed` |
//!
//! The rules, as Stripe's (where Stripe's behaviour is not known here, the choice is stated):
//!
//! - **Refusals**: an unknown parameter is 400 `parameter_unknown`, a malformed value 400
//!   `parameter_invalid` (`parameter_invalid_integer` for a number), a missing required one
//!   400 `parameter_missing`, each naming the parameter in full (`items[0][quantity]`). An
//!   object named in a parameter that does not exist is 400 `resource_missing` naming that
//!   parameter (`customer`, `items[0][price]`, `items[0][id]`); the object of the URL that does
//!   not exist is 404 `resource_missing` with `param: "id"`. A deleted customer does not exist.
//! - **Metadata**: at most 50 keys after the change, keys 1–40 characters without brackets,
//!   values at most 500 characters (`parameter_invalid` naming `metadata[k]`, or `metadata`
//!   for too many keys).
//! - **Payment methods** are not stored: `default_payment_method` and
//!   `invoice_settings[default_payment_method]` take any `pm_…` id (another value is 400
//!   `resource_missing` `No such PaymentMethod`); `""` clears them.
//! - **Items**: the price (or plan: a recurring price) must exist, be recurring and active; one
//!   price at most once per subscription; every item's price must bill at the same interval;
//!   `quantity` is a whole number ≥ 0, 1 by default, and refused for a metered price (whose
//!   items have no quantity). A subscription keeps 1–20 items: removing the last one is
//!   refused (cancel it instead).
//! - **Status of a new subscription**: `trialing` with `trial_period_days` (1–730;
//!   `trial_start` now, `trial_end` and the items' period end that many days later);
//!   otherwise `active` when `default_payment_method` is given or the customer has
//!   `invoice_settings.default_payment_method` (or a `default_source`); otherwise, with
//!   `payment_behavior=default_incomplete`, `incomplete`. **Without a payment method and any
//!   other `payment_behavior`** (`allow_incomplete`, the default, `error_if_incomplete`,
//!   `pending_if_incomplete`) nothing is created and the answer is what Stripe answers: 400
//!   `invalid_request_error`, code `resource_missing`, no `param`, message `This customer has
//!   no attached payment source or default payment method. …` ([`no_payment_method`]).
//! - **Periods** are on the items (dahlia): from now to one billing interval later, in
//!   calendar days, weeks, months (the day clamped to the month's end) or years. Items added
//!   later share the subscription's current period.
//! - **No invoices, payments or prorations are made**: `proration_behavior`, `payment_behavior`
//!   on update, `invoice_now` and `prorate` are checked and accepted, and change nothing else;
//!   `latest_invoice` stays as it was.
//! - **Scheduled cancellation**: `cancel_at_period_end=true` sets `cancel_at` to the end of
//!   the current period (the latest item `current_period_end`), `canceled_at` to now (kept if
//!   already scheduled) and `cancellation_details.reason` to `cancellation_requested`;
//!   `=false` clears all three.
//! - **Paused collection**: `pause_collection[behavior]` (`keep_as_draft`,
//!   `mark_uncollectible`, `void`; required) with an optional future `resumes_at` sets
//!   `pause_collection`; `pause_collection=` clears it. The status does not change, so no
//!   `.paused`/`.resumed` event is sent (Stripe sends those only for status `paused`).
//! - **A canceled subscription** takes only `metadata`: anything else is 400
//!   `invalid_request_error` naming the parameter, with Stripe's message `A canceled
//!   subscription can only update its cancellation_details and metadata.` (no code).
//! - **Canceling** sets `status: canceled`, `canceled_at` and `ended_at` to now and
//!   `cancellation_details.reason` to `cancellation_requested`. **Canceling a subscription that
//!   already ended** (`canceled` or `incomplete_expired`) is 404 `resource_missing`
//!   `No such subscription`, as Stripe answers it (a canceled subscription is "akin to being
//!   deleted" for this endpoint).
//! - **Resuming** takes only a subscription with status `paused` (else 400
//!   `invalid_request_error`, no code); it becomes `active`, and with
//!   `billing_cycle_anchor=now` (the default) its items' periods start now. A subscription
//!   reaches `paused` on its own on Stripe (a trial ended without a payment method); in the
//!   sandbox a test moves it there with [`Store::set_subscription_status`].

use serde_json::{json, Value};
use time::{Date, Month, OffsetDateTime};

use crate::{
    error::ApiError,
    events::{event_type, previous_attributes, Change},
    fixtures::{self, plan_view},
    form::{self, first_leaf_name, invalid, missing, Field, Form, Hash},
    render::render_subscription,
    store::Store,
};

const DAY: i64 = 86_400;

/// What a write answers: the body of its 200 and the changes to send events for.
pub type Written = (Value, Vec<Change>);

const PAYMENT_BEHAVIORS: [&str; 4] = [
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
];
const PRORATION_BEHAVIORS: [&str; 3] = ["always_invoice", "create_prorations", "none"];
const PAUSE_BEHAVIORS: [&str; 3] = ["keep_as_draft", "mark_uncollectible", "void"];
const ADDRESS_FIELDS: [&str; 6] = ["city", "country", "line1", "line2", "postal_code", "state"];
const CUSTOMER_PARAMS: [&str; 7] = [
    "address",
    "description",
    "email",
    "invoice_settings",
    "metadata",
    "name",
    "phone",
];
/// The most items a subscription has.
pub const MAX_ITEMS: usize = 20;
/// The longest trial `trial_period_days` takes.
pub const MAX_TRIAL_DAYS: i64 = 730;

/// The function of one write endpoint.
pub(crate) type Endpoint = fn(&mut Store, &Write<'_>) -> Result<Written, ApiError>;

/// What a write endpoint is given.
pub(crate) struct Write<'a> {
    /// The decoded `{id}` segment; empty without one.
    id: &'a str,
    form: &'a Form,
    /// Unix seconds.
    now: i64,
}

/// Runs `endpoint` on the object `id` (the decoded `{id}` segment of its path; empty without
/// one) with the decoded parameters (a POST's body, a DELETE's query) at `now` (Unix seconds).
/// On `Err` the store is unchanged.
pub(crate) fn apply(
    endpoint: Endpoint,
    store: &mut Store,
    id: &str,
    params: &[(String, String)],
    now: i64,
) -> Result<Written, ApiError> {
    let form = Form::from_pairs(params)?;
    endpoint(
        store,
        &Write {
            id,
            form: &form,
            now,
        },
    )
}

/// The answer Stripe gives when a subscription needs a payment method the customer lacks.
pub fn no_payment_method() -> ApiError {
    ApiError::invalid(
        400,
        "resource_missing",
        None,
        "This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.".into(),
    )
}

/// 400 `invalid_request_error` without a code: a request Stripe refuses for the object's
/// state.
fn refused(param: Option<&str>, message: String) -> ApiError {
    let mut body = json!({"error": {"type": "invalid_request_error", "message": message}});
    if let Some(param) = param {
        body["error"]["param"] = json!(param);
    }
    ApiError { status: 400, body }
}

/// 400 `resource_missing` for an object named by a parameter.
fn missing_object(noun: &str, id: &str, param: &str) -> ApiError {
    ApiError::invalid(
        400,
        "resource_missing",
        Some(param),
        format!("No such {noun}: '{id}'"),
    )
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

/// Applies `parent[key]` (metadata) to `target["metadata"]`: `key=` empties it, `key[k]=v`
/// sets k, `key[k]=` removes k. See the module docs for the limits.
fn apply_metadata(target: &mut Value, parent: &Hash<'_>, key: &str) -> Result<(), ApiError> {
    let name = parent.name(key);
    match parent.get(key) {
        None => return Ok(()),
        Some(Field::Text(text)) if text.is_empty() => {
            target["metadata"] = json!({});
            return Ok(());
        }
        Some(Field::Text(_)) => {
            return Err(invalid(
                &name,
                "Invalid metadata: set keys with metadata[key]=value, or send an empty value to unset them all".into(),
            ))
        }
        Some(Field::Nested(_)) => {}
    }
    let hash = parent.hash(key)?.expect("a nested field is a hash");
    if !target["metadata"].is_object() {
        target["metadata"] = json!({});
    }
    let map = target["metadata"]
        .as_object_mut()
        .expect("metadata is an object");
    for k in hash.keys() {
        let field = hash.get(k).expect("a listed key");
        let Field::Text(value) = field else {
            return Err(form::unknown(&first_leaf_name(&hash.name(k), field)));
        };
        if k.is_empty() {
            return Err(form::unknown(&hash.name(k)));
        }
        if k.chars().count() > 40 {
            return Err(invalid(
                &hash.name(k),
                "Invalid metadata: keys can be at most 40 characters long".into(),
            ));
        }
        if value.chars().count() > 500 {
            return Err(invalid(
                &hash.name(k),
                "Invalid metadata: values can be at most 500 characters long".into(),
            ));
        }
        if value.is_empty() {
            map.remove(k);
        } else {
            map.insert(k.to_owned(), json!(value));
        }
    }
    if map.len() > 50 {
        return Err(invalid(
            &name,
            "Invalid metadata: an object can have at most 50 metadata keys".into(),
        ));
    }
    Ok(())
}

/// A payment method id as stored: `null` for `""`, the id for `pm_…`.
fn payment_method(id: &str, param: &str) -> Result<Value, ApiError> {
    match id {
        "" => Ok(Value::Null),
        id if id.len() > 3 && id.starts_with("pm_") => Ok(json!(id)),
        id => Err(missing_object("PaymentMethod", id, param)),
    }
}

fn live_customer<'s>(store: &'s Store, id: &str) -> Option<&'s Value> {
    store
        .get("customer", id)
        .filter(|c| c["deleted"] != json!(true))
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let valid = email.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace)
    });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            400,
            "email_invalid",
            Some("email"),
            format!("Invalid email address: {email}"),
        ))
    }
}

/// Sets the customer fields given in `form` on `customer`.
fn apply_customer(customer: &mut Value, form: &Hash<'_>) -> Result<(), ApiError> {
    form.only(&CUSTOMER_PARAMS)?;
    for field in ["description", "email", "name", "phone"] {
        if let Some(text) = form.text(field)? {
            if field == "email" && !text.is_empty() {
                check_email(text)?;
            }
            customer[field] = text_or_null(text);
        }
    }
    match form.get("address") {
        None => {}
        Some(Field::Text(text)) if text.is_empty() => customer["address"] = Value::Null,
        Some(_) => {
            let address = form.hash("address")?.expect("a nested address");
            address.only(&ADDRESS_FIELDS)?;
            let mut merged = if customer["address"].is_object() {
                customer["address"].clone()
            } else {
                ADDRESS_FIELDS.iter().map(|f| (*f, Value::Null)).collect()
            };
            for field in ADDRESS_FIELDS {
                if let Some(text) = address.text(field)? {
                    merged[field] = text_or_null(text);
                }
            }
            customer["address"] = merged;
        }
    }
    if let Some(settings) = form.hash("invoice_settings")? {
        settings.only(&["default_payment_method"])?;
        if let Some(pm) = settings.text("default_payment_method")? {
            customer["invoice_settings"]["default_payment_method"] =
                payment_method(pm, &settings.name("default_payment_method"))?;
        }
    }
    apply_metadata(customer, form, "metadata")
}

/// `POST /v1/customers`.
pub(crate) fn create_customer(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    let mut customer = fixtures::customer("cus_new", "", "", w.now);
    customer["name"] = Value::Null;
    customer["email"] = Value::Null;
    apply_customer(&mut customer, &w.form.root())?;
    let id = store.new_id("cus");
    customer["invoice_prefix"] = fixtures::customer(&id, "", "", w.now)["invoice_prefix"].clone();
    customer["id"] = json!(id);
    store.put(customer.clone());
    let change = Change {
        event_type: event_type("customer", "created"),
        object: customer.clone(),
        previous_attributes: None,
    };
    Ok((customer, vec![change]))
}

/// `POST /v1/customers/{id}`.
pub(crate) fn update_customer(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    let form = w.form.root();
    form.only(&CUSTOMER_PARAMS)?;
    let before = live_customer(store, w.id)
        .cloned()
        .ok_or_else(|| ApiError::missing("customer", w.id, "id"))?;
    let mut after = before.clone();
    apply_customer(&mut after, &form)?;
    store.put(after.clone());
    Ok((after.clone(), updated("customer", &before, &after)))
}

/// The `*.updated` change from `before` to `after` (as answered), or none when nothing
/// changed: Stripe sends no event for an update that changes nothing.
fn updated(object: &str, before: &Value, after: &Value) -> Vec<Change> {
    if before == after {
        return Vec::new();
    }
    vec![Change {
        event_type: event_type(object, "updated"),
        previous_attributes: Some(previous_attributes(before, after)),
        object: after.clone(),
    }]
}

/// `DELETE /v1/customers/{id}`.
pub(crate) fn delete_customer(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    w.form.root().only(&[])?;
    if live_customer(store, w.id).is_none() {
        return Err(ApiError::missing("customer", w.id, "id"));
    }
    let changes = customer_deletion(store, w.id, w.now).expect("the customer exists");
    Ok((
        json!({"id": w.id, "object": "customer", "deleted": true}),
        changes,
    ))
}

/// Deletes a customer ([`Store::delete_customer`]) and returns what Stripe sends for it:
/// `customer.subscription.deleted` for each subscription it canceled, then `customer.deleted`
/// with the customer as it was. `None` if there is no such customer.
pub(crate) fn customer_deletion(store: &mut Store, id: &str, now: i64) -> Option<Vec<Change>> {
    let customer = store.get("customer", id)?.clone();
    let live: Vec<String> = store
        .objects("subscription")
        .filter(|s| s["customer"] == json!(id) && s["status"] != json!("canceled"))
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    store.delete_customer(id, now);
    let mut changes: Vec<Change> = live
        .iter()
        .filter_map(|sub| store.get("subscription", sub))
        .filter(|sub| sub["status"] == json!("canceled"))
        .map(|sub| Change {
            event_type: event_type("subscription", "deleted"),
            object: render_subscription(sub),
            previous_attributes: None,
        })
        .collect();
    changes.push(Change {
        event_type: event_type("customer", "deleted"),
        object: customer,
        previous_attributes: None,
    });
    Some(changes)
}

/// The price an item names with `price` or `plan` (a recurring, active price), if it names
/// one.
fn item_price(store: &Store, item: &Hash<'_>) -> Result<Option<Value>, ApiError> {
    let (key, noun, id) = match (item.text("price")?, item.text("plan")?) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                &item.name("plan"),
                "You may only specify one of these parameters: price, plan.".into(),
            ))
        }
        (None, None) => return Ok(None),
        (Some(id), None) => ("price", "price", id),
        (None, Some(id)) => ("plan", "plan", id),
    };
    let param = item.name(key);
    let price = store
        .get("price", id)
        .filter(|p| noun == "price" || p["type"] == json!("recurring"))
        .ok_or_else(|| missing_object(noun, id, &param))?;
    if price["type"] != json!("recurring") {
        return Err(invalid(
            &param,
            format!("The price specified ({id}) is set to `type=one_time` but this field only accepts prices with `type=recurring`."),
        ));
    }
    if price["active"] != json!(true) {
        return Err(invalid(
            &param,
            format!(
                "The price specified ({id}) is inactive. This field only accepts active prices."
            ),
        ));
    }
    Ok(Some(price.clone()))
}

fn is_metered(price: &Value) -> bool {
    price["recurring"]["usage_type"] == json!("metered")
}

/// The `quantity` an item gives: a whole number ≥ 0, never for a metered price.
fn given_quantity(item: &Hash<'_>, metered: bool) -> Result<Option<i64>, ApiError> {
    let Some(quantity) = item.int("quantity")? else {
        return Ok(None);
    };
    if metered {
        return Err(invalid(
            &item.name("quantity"),
            "Quantity should not be specified where usage_type is `metered`.".into(),
        ));
    }
    if quantity < 0 {
        return Err(invalid(
            &item.name("quantity"),
            "This value must be greater than or equal to 0.".into(),
        ));
    }
    Ok(Some(quantity))
}

/// Refuses an item list Stripe refuses: not 1–20 items, a price twice, or prices billed at
/// different intervals.
fn check_items(items: &[Value]) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(invalid(
            "items",
            "A subscription must have at least one item. To cancel it, use DELETE /v1/subscriptions/{id}.".into(),
        ));
    }
    if items.len() > MAX_ITEMS {
        return Err(invalid(
            "items",
            format!("A subscription can have at most {MAX_ITEMS} items."),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let price = &item["price"];
        if items[..i].iter().any(|o| o["price"]["id"] == price["id"]) {
            return Err(invalid(
                "items",
                format!(
                    "Cannot add multiple subscription items with the same price: {}",
                    price["id"].as_str().unwrap_or_default()
                ),
            ));
        }
        let interval = |p: &Value| {
            (
                p["recurring"]["interval"].clone(),
                p["recurring"]["interval_count"].clone(),
            )
        };
        if interval(price) != interval(&items[0]["price"]) {
            return Err(invalid(
                "items",
                "Currency and interval fields must match across all prices on this subscription."
                    .into(),
            ));
        }
    }
    Ok(())
}

/// `at` plus `count` calendar months, the day clamped to the last day of the target month,
/// the time of day kept. A time outside the years ±9999 is returned as it is.
fn add_months(at: i64, count: i64) -> i64 {
    let Ok(start) = OffsetDateTime::from_unix_timestamp(at) else {
        return at;
    };
    let months = i64::from(start.year()) * 12 + i64::from(u8::from(start.month()) - 1) + count;
    let Ok(year) = i32::try_from(months.div_euclid(12)) else {
        return at;
    };
    let month = Month::January.nth_next(months.rem_euclid(12) as u8);
    let day = start.day().min(month.length(year));
    match Date::from_calendar_date(year, month, day) {
        Ok(date) => start.replace_date(date).unix_timestamp(),
        Err(_) => at,
    }
}

/// `at` plus one billing interval of a price's `recurring`.
fn add_interval(at: i64, recurring: &Value) -> i64 {
    let count = recurring["interval_count"].as_i64().unwrap_or(1);
    match recurring["interval"].as_str() {
        Some("day") => at + count * DAY,
        Some("week") => at + count * 7 * DAY,
        Some("year") => add_months(at, 12 * count),
        _ => add_months(at, count),
    }
}

/// `POST /v1/subscriptions`.
pub(crate) fn create_subscription(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    let form = w.form.root();
    form.only(&[
        "customer",
        "default_payment_method",
        "items",
        "metadata",
        "payment_behavior",
        "trial_period_days",
    ])?;
    let customer_id = form
        .text("customer")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| missing("customer"))?;
    let items = form.array("items")?.ok_or_else(|| missing("items"))?;
    let trial_days = form.int("trial_period_days")?;
    if trial_days.is_some_and(|d| !(1..=MAX_TRIAL_DAYS).contains(&d)) {
        return Err(invalid(
            "trial_period_days",
            format!("trial_period_days must be between 1 and {MAX_TRIAL_DAYS}."),
        ));
    }
    let behavior = form
        .choice("payment_behavior", &PAYMENT_BEHAVIORS)?
        .unwrap_or("allow_incomplete");
    let default_pm = match form.text("default_payment_method")? {
        Some(pm) => payment_method(pm, "default_payment_method")?,
        None => Value::Null,
    };
    let mut metadata = json!({"metadata": {}});
    apply_metadata(&mut metadata, &form, "metadata")?;

    let mut built = Vec::with_capacity(items.len());
    for item in &items {
        item.only(&["metadata", "plan", "price", "quantity"])?;
        let price = item_price(store, item)?.ok_or_else(|| missing(&item.name("price")))?;
        let metered = is_metered(&price);
        let quantity = given_quantity(item, metered)?.or((!metered).then_some(1));
        let mut value = fixtures::subscription_item("", "", &price, quantity, (0, 0), w.now);
        apply_metadata(&mut value, item, "metadata")?;
        built.push(value);
    }
    check_items(&built)?;
    let customer = live_customer(store, customer_id)
        .ok_or_else(|| missing_object("customer", customer_id, "customer"))?;
    let has_payment_method = !default_pm.is_null()
        || !customer["invoice_settings"]["default_payment_method"].is_null()
        || !customer["default_source"].is_null();
    let status = match (trial_days, has_payment_method, behavior) {
        (Some(_), _, _) => "trialing",
        (None, true, _) => "active",
        (None, false, "default_incomplete") => "incomplete",
        (None, false, _) => return Err(no_payment_method()),
    };
    let period = match trial_days {
        Some(days) => (w.now, w.now + days * DAY),
        None => (w.now, add_interval(w.now, &built[0]["price"]["recurring"])),
    };

    let id = store.new_id("sub");
    let mut sub = fixtures::subscription(&id, customer_id, status, &[], period, w.now);
    for mut item in built {
        item["id"] = json!(store.new_id("si"));
        item["subscription"] = json!(id);
        item["current_period_start"] = json!(period.0);
        item["current_period_end"] = json!(period.1);
        sub["items"]["data"]
            .as_array_mut()
            .expect("items")
            .push(item);
    }
    sub["metadata"] = metadata["metadata"].take();
    sub["default_payment_method"] = default_pm;
    if trial_days.is_some() {
        sub["trial_start"] = json!(period.0);
        sub["trial_end"] = json!(period.1);
        sub["billing_cycle_anchor"] = json!(period.1);
    }
    store.put(sub.clone());
    let shown = render_subscription(&sub);
    let change = Change {
        event_type: event_type("subscription", "created"),
        object: shown.clone(),
        previous_attributes: None,
    };
    Ok((shown, vec![change]))
}

/// The end of a subscription's current period: its latest item `current_period_end`.
fn period_end(sub: &Value) -> Option<i64> {
    sub["items"]["data"]
        .as_array()?
        .iter()
        .filter_map(|i| i["current_period_end"].as_i64())
        .max()
}

/// Applies `items[i]…` changes to a subscription's items: change or delete by `id`, add
/// without one.
fn change_items(
    store: &mut Store,
    sub: &Value,
    changes: &[Hash<'_>],
    now: i64,
) -> Result<Vec<Value>, ApiError> {
    let mut items: Vec<Value> = sub["items"]["data"].as_array().cloned().unwrap_or_default();
    let period = items.first().map(|i| {
        (
            i["current_period_start"].as_i64().unwrap_or(now),
            i["current_period_end"].as_i64().unwrap_or(now),
        )
    });
    let sub_id = sub["id"].as_str().unwrap_or_default();
    let mut added = Vec::new();
    for change in changes {
        change.only(&["deleted", "id", "metadata", "plan", "price", "quantity"])?;
        let deleted = change.bool("deleted")?.unwrap_or(false);
        let price = item_price(store, change)?;
        let Some(id) = change.text("id")? else {
            if deleted {
                return Err(missing(&change.name("id")));
            }
            let price = price.ok_or_else(|| missing(&change.name("price")))?;
            let metered = is_metered(&price);
            let quantity = given_quantity(change, metered)?.or((!metered).then_some(1));
            let period = period.unwrap_or_else(|| (now, add_interval(now, &price["recurring"])));
            let mut item = fixtures::subscription_item("", sub_id, &price, quantity, period, now);
            apply_metadata(&mut item, change, "metadata")?;
            added.push(item);
            continue;
        };
        let position = items
            .iter()
            .position(|i| i["id"] == json!(id))
            .ok_or_else(|| missing_object("subscription item", id, &change.name("id")))?;
        if deleted {
            if let Some(other) = change.keys().find(|k| !matches!(*k, "id" | "deleted")) {
                return Err(invalid(
                    &change.name(other),
                    "An item being deleted takes no other changes.".into(),
                ));
            }
            items.remove(position);
            continue;
        }
        let item = &mut items[position];
        if let Some(price) = price {
            item["plan"] = plan_view(&price);
            item["price"] = price;
            if is_metered(&item["price"]) {
                item["quantity"] = Value::Null;
            } else if item["quantity"].is_null() {
                item["quantity"] = json!(1);
            }
        }
        if let Some(quantity) = given_quantity(change, is_metered(&item["price"]))? {
            item["quantity"] = json!(quantity);
        }
        apply_metadata(item, change, "metadata")?;
    }
    items.extend(added.iter().cloned());
    check_items(&items)?;
    let first_added = items.len() - added.len();
    for item in &mut items[first_added..] {
        item["id"] = json!(store.new_id("si"));
    }
    Ok(items)
}

/// `POST /v1/subscriptions/{id}`.
pub(crate) fn update_subscription(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    let form = w.form.root();
    form.only(&[
        "cancel_at_period_end",
        "default_payment_method",
        "items",
        "metadata",
        "pause_collection",
        "payment_behavior",
        "proration_behavior",
    ])?;
    let before = store
        .get("subscription", w.id)
        .cloned()
        .ok_or_else(|| ApiError::missing("subscription", w.id, "id"))?;
    if before["status"] == json!("canceled") {
        if let Some(other) = form.keys().find(|k| *k != "metadata") {
            return Err(refused(
                Some(other),
                "A canceled subscription can only update its cancellation_details and metadata."
                    .into(),
            ));
        }
    }
    form.choice("proration_behavior", &PRORATION_BEHAVIORS)?;
    form.choice("payment_behavior", &PAYMENT_BEHAVIORS)?;
    let cancel_at_period_end = form.bool("cancel_at_period_end")?;
    let pause = match form.get("pause_collection") {
        None => None,
        Some(Field::Text(text)) if text.is_empty() => Some(Value::Null),
        Some(_) => {
            let pause = form.hash("pause_collection")?.expect("a nested field");
            pause.only(&["behavior", "resumes_at"])?;
            let behavior = pause
                .choice("behavior", &PAUSE_BEHAVIORS)?
                .ok_or_else(|| missing(&pause.name("behavior")))?;
            let resumes_at = pause.int("resumes_at")?;
            if resumes_at.is_some_and(|t| t <= w.now) {
                return Err(invalid(
                    &pause.name("resumes_at"),
                    "pause_collection[resumes_at] must be in the future.".into(),
                ));
            }
            Some(json!({"behavior": behavior, "resumes_at": resumes_at}))
        }
    };

    let mut after = before.clone();
    apply_metadata(&mut after, &form, "metadata")?;
    if let Some(pm) = form.text("default_payment_method")? {
        after["default_payment_method"] = payment_method(pm, "default_payment_method")?;
    }
    if let Some(changes) = form.array("items")? {
        after["items"]["data"] = json!(change_items(store, &after, &changes, w.now)?);
    }
    match cancel_at_period_end {
        Some(true) => {
            after["cancel_at_period_end"] = json!(true);
            after["cancel_at"] = json!(period_end(&after));
            if after["canceled_at"].is_null() {
                after["canceled_at"] = json!(w.now);
            }
            after["cancellation_details"]["reason"] = json!("cancellation_requested");
        }
        Some(false) => {
            after["cancel_at_period_end"] = json!(false);
            after["cancel_at"] = Value::Null;
            after["canceled_at"] = Value::Null;
            after["cancellation_details"] =
                json!({"comment": null, "feedback": null, "reason": null});
        }
        None => {}
    }
    if let Some(pause) = pause {
        after["pause_collection"] = pause;
    }
    store.put(after.clone());
    let (before, after) = (render_subscription(&before), render_subscription(&after));
    Ok((after.clone(), updated("subscription", &before, &after)))
}

/// `DELETE /v1/subscriptions/{id}`.
pub(crate) fn cancel_subscription(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    let form = w.form.root();
    form.only(&["invoice_now", "prorate"])?;
    form.bool("invoice_now")?;
    form.bool("prorate")?;
    let mut sub = store
        .get("subscription", w.id)
        .filter(|s| {
            !matches!(
                s["status"].as_str(),
                Some("canceled" | "incomplete_expired")
            )
        })
        .cloned()
        .ok_or_else(|| ApiError::missing("subscription", w.id, "id"))?;
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(w.now);
    sub["ended_at"] = json!(w.now);
    sub["cancellation_details"]["reason"] = json!("cancellation_requested");
    store.put(sub.clone());
    let shown = render_subscription(&sub);
    let change = Change {
        event_type: event_type("subscription", "deleted"),
        object: shown.clone(),
        previous_attributes: None,
    };
    Ok((shown, vec![change]))
}

/// `POST /v1/subscriptions/{id}/resume`.
pub(crate) fn resume_subscription(store: &mut Store, w: &Write<'_>) -> Result<Written, ApiError> {
    let form = w.form.root();
    form.only(&["billing_cycle_anchor", "proration_behavior"])?;
    let anchor = form
        .choice("billing_cycle_anchor", &["now", "unchanged"])?
        .unwrap_or("now");
    form.choice("proration_behavior", &PRORATION_BEHAVIORS)?;
    let before = store
        .get("subscription", w.id)
        .cloned()
        .ok_or_else(|| ApiError::missing("subscription", w.id, "id"))?;
    let status = before["status"].as_str().unwrap_or_default();
    if status != "paused" {
        return Err(refused(
            None,
            format!("Subscription {} cannot be resumed because its status is `{status}`; only a subscription with status `paused` can be resumed.", w.id),
        ));
    }
    let mut after = before.clone();
    after["status"] = json!("active");
    if anchor == "now" {
        after["billing_cycle_anchor"] = json!(w.now);
        if let Some(items) = after["items"]["data"].as_array_mut() {
            for item in items {
                let end = add_interval(w.now, &item["price"]["recurring"]);
                item["current_period_start"] = json!(w.now);
                item["current_period_end"] = json!(end);
            }
        }
    }
    store.put(after.clone());
    let (before, after) = (render_subscription(&before), render_subscription(&after));
    let changes = vec![
        Change {
            event_type: event_type("subscription", "updated"),
            previous_attributes: Some(previous_attributes(&before, &after)),
            object: after.clone(),
        },
        Change {
            event_type: event_type("subscription", "resumed"),
            previous_attributes: None,
            object: after.clone(),
        },
    ];
    Ok((after, changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{customer, price, Recurrence};

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn monthly(usage_type: &'static str) -> Recurrence<'static> {
        Recurrence {
            interval: "month",
            interval_count: 1,
            usage_type,
            meter: None,
        }
    }

    /// `cus_pm` has a default payment method, `cus_none` has none; monthly prices `price_m`
    /// and `price_m2`, a yearly `price_y`, a metered `price_metered`, a one-time
    /// `price_once`, an inactive `price_old`.
    fn store() -> Store {
        let mut store = Store::new();
        let mut with_pm = customer("cus_pm", "P", "p@example.com", 1);
        with_pm["invoice_settings"]["default_payment_method"] = json!("pm_card");
        store.put(with_pm);
        store.put(customer("cus_none", "N", "n@example.com", 2));
        let yearly = Recurrence {
            interval: "year",
            ..monthly("licensed")
        };
        for p in [
            price(
                "price_m",
                "prod_1",
                "m",
                "100",
                Some(monthly("licensed")),
                1,
            ),
            price(
                "price_m2",
                "prod_1",
                "m2",
                "200",
                Some(monthly("licensed")),
                2,
            ),
            price("price_y", "prod_1", "y", "1000", Some(yearly), 3),
            price(
                "price_metered",
                "prod_1",
                "x",
                "0.5",
                Some(monthly("metered")),
                4,
            ),
            price("price_once", "prod_1", "o", "100", None, 5),
            price(
                "price_old",
                "prod_1",
                "old",
                "100",
                Some(monthly("licensed")),
                6,
            ),
        ] {
            store.put(p);
        }
        store.update("price", "price_old", |p| p["active"] = json!(false));
        store
    }

    /// Runs the write endpoint for `method` on `path` at `now`, with `params` as a POST's
    /// body or a DELETE's query. The methods and paths are the route table's (`routes.rs`,
    /// whose tests pin which request reaches which endpoint); the ids here are sent plain.
    fn send_at(
        store: &mut Store,
        method: &str,
        path: &str,
        params: &str,
        now: i64,
    ) -> Result<Written, ApiError> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (endpoint, id): (Endpoint, &str) = match (method, segments.as_slice()) {
            ("POST", ["v1", "customers"]) => (create_customer, ""),
            ("POST", ["v1", "customers", id]) => (update_customer, id),
            ("DELETE", ["v1", "customers", id]) => (delete_customer, id),
            ("POST", ["v1", "subscriptions"]) => (create_subscription, ""),
            ("POST", ["v1", "subscriptions", id]) => (update_subscription, id),
            ("DELETE", ["v1", "subscriptions", id]) => (cancel_subscription, id),
            ("POST", ["v1", "subscriptions", id, "resume"]) => (resume_subscription, id),
            _ => panic!("no write endpoint answers {method} {path}"),
        };
        apply(endpoint, store, id, &form::pairs(params.as_bytes()), now)
    }

    fn send(
        store: &mut Store,
        method: &str,
        path: &str,
        params: &str,
    ) -> Result<Written, ApiError> {
        send_at(store, method, path, params, NOW)
    }

    fn post(store: &mut Store, path: &str, body: &str) -> Result<Written, ApiError> {
        send(store, "POST", path, body)
    }

    fn refusal(result: Result<Written, ApiError>) -> (u16, Value) {
        let err = result.expect_err("a refusal");
        (err.status, err.body["error"].clone())
    }

    fn assert_refused(result: Result<Written, ApiError>, status: u16, code: &str, param: &str) {
        let (got, error) = refusal(result);
        assert_eq!(got, status, "{error}");
        assert_eq!(error["code"], json!(code), "{error}");
        assert_eq!(error["param"], json!(param), "{error}");
    }

    /// A new subscription of `customer` to `price` (active: `cus_pm` has a payment method).
    fn subscribe(store: &mut Store, body: &str) -> Value {
        post(store, "/v1/subscriptions", body).expect("created").0
    }

    fn types(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.event_type.as_str()).collect()
    }

    #[test]
    fn posting_to_a_customer_updates_it_and_reports_a_customer_updated_change() {
        let mut store = store();
        store.update("customer", "cus_pm", |c| {
            c["metadata"] = json!({"keep": "1", "drop": "2"})
        });

        let (answer, changes) = post(
            &mut store,
            "/v1/customers/cus_pm",
            "name=New+Name&metadata%5Btier%5D=gold&metadata[drop]=&description=",
        )
        .unwrap();

        assert_eq!(answer["name"], json!("New Name"));
        assert_eq!(answer["metadata"], json!({"keep": "1", "tier": "gold"}));
        assert_eq!(answer["description"], Value::Null);
        assert_eq!(store.get("customer", "cus_pm").unwrap(), &answer);
        assert_eq!(types(&changes), ["customer.updated"]);
        assert_eq!(changes[0].object, answer);
        assert_eq!(
            changes[0].previous_attributes,
            Some(json!({"name": "P", "metadata": {"keep": "1", "drop": "2"}}))
        );
        let (cleared, _) = post(&mut store, "/v1/customers/cus_pm", "metadata=").unwrap();
        assert_eq!(cleared["metadata"], json!({}));
        let (same, changes) = post(&mut store, "/v1/customers/cus_pm", "name=New+Name").unwrap();
        assert_eq!(same, cleared);
        assert!(
            changes.is_empty(),
            "an update that changes nothing sends no event"
        );
    }

    #[test]
    fn posting_to_a_customer_refuses_unknown_parameters_and_missing_customers() {
        let mut store = store();
        for (body, param) in [
            ("balance=5", "balance"),
            ("metadata[]=x", "metadata[]"),
            ("metadata[a][b]=x", "metadata[a][b]"),
            ("address[zip]=1", "address[zip]"),
        ] {
            assert_refused(
                post(&mut store, "/v1/customers/cus_pm", body),
                400,
                "parameter_unknown",
                param,
            );
        }
        assert_refused(
            post(&mut store, "/v1/customers/cus_pm", "metadata=x"),
            400,
            "parameter_invalid",
            "metadata",
        );
        assert_refused(
            post(&mut store, "/v1/customers/cus_pm", "email=not-an-address"),
            400,
            "email_invalid",
            "email",
        );
        assert_refused(
            post(&mut store, "/v1/customers/cus_nope", "name=x"),
            404,
            "resource_missing",
            "id",
        );
        store.delete_customer("cus_pm", 5);
        assert_refused(
            post(&mut store, "/v1/customers/cus_pm", "name=x"),
            404,
            "resource_missing",
            "id",
        );
        assert_eq!(
            store.get("customer", "cus_pm").unwrap()["deleted"],
            json!(true)
        );
    }

    #[test]
    fn creating_a_customer_stores_it_under_a_new_id_and_reports_customer_created() {
        let mut store = store();
        let (customer, changes) = post(
            &mut store,
            "/v1/customers",
            "email=new%40example.com&name=New&phone=%2B14155550100&description=d&address%5Bline1%5D=1+Main+St&address%5Bpostal_code%5D=10115&address[country]=DE&metadata[sso]=abc",
        )
        .unwrap();

        let id = customer["id"].as_str().unwrap();
        assert!(id.starts_with("cus_"), "{id}");
        assert_eq!(store.get("customer", id), Some(&customer));
        assert_eq!(customer["object"], json!("customer"));
        assert_eq!(customer["created"], json!(NOW));
        assert_eq!(customer["email"], json!("new@example.com"));
        assert_eq!(customer["phone"], json!("+14155550100"));
        assert_eq!(
            customer["address"],
            json!({"line1": "1 Main St", "line2": null, "city": null, "state": null,
                   "postal_code": "10115", "country": "DE"})
        );
        assert_eq!(customer["metadata"], json!({"sso": "abc"}));
        assert_eq!(
            customer["invoice_settings"]["default_payment_method"],
            Value::Null
        );
        assert_eq!(types(&changes), ["customer.created"]);
        assert_eq!(changes[0].object, customer);

        let (bare, _) = post(&mut store, "/v1/customers", "").unwrap();
        assert_ne!(bare["id"], customer["id"]);
        assert_eq!(bare["name"], Value::Null);
        assert_eq!(bare["email"], Value::Null);
        assert_eq!(bare["address"], Value::Null);
    }

    #[test]
    fn updating_a_customer_merges_its_address_and_empty_values_clear() {
        let mut store = store();
        post(
            &mut store,
            "/v1/customers/cus_pm",
            "phone=%2B1555&address[line1]=A&address[city]=Berlin&invoice_settings[default_payment_method]=pm_new",
        )
        .unwrap();
        let (customer, changes) = post(
            &mut store,
            "/v1/customers/cus_pm",
            "address[city]=&address[line2]=B",
        )
        .unwrap();
        assert_eq!(customer["phone"], json!("+1555"));
        assert_eq!(customer["address"]["line1"], json!("A"));
        assert_eq!(customer["address"]["line2"], json!("B"));
        assert_eq!(customer["address"]["city"], Value::Null);
        assert_eq!(
            customer["invoice_settings"]["default_payment_method"],
            json!("pm_new")
        );
        assert_eq!(
            changes[0].previous_attributes.as_ref().unwrap()["address"]["city"],
            json!("Berlin")
        );
        let (cleared, _) = post(&mut store, "/v1/customers/cus_pm", "phone=&address=").unwrap();
        assert_eq!(cleared["phone"], Value::Null);
        assert_eq!(cleared["address"], Value::Null);
        assert_refused(
            post(
                &mut store,
                "/v1/customers/cus_pm",
                "invoice_settings[default_payment_method]=card_1",
            ),
            400,
            "resource_missing",
            "invoice_settings[default_payment_method]",
        );
    }

    #[test]
    fn metadata_limits_are_stripes_and_a_refusal_changes_nothing() {
        let mut store = store();
        let long_key = "k".repeat(41);
        assert_refused(
            post(
                &mut store,
                "/v1/customers/cus_pm",
                &format!("metadata[{long_key}]=v"),
            ),
            400,
            "parameter_invalid",
            &format!("metadata[{long_key}]"),
        );
        let long_value = "v".repeat(501);
        assert_refused(
            post(
                &mut store,
                "/v1/customers/cus_pm",
                &format!("name=Changed&metadata[k]={long_value}"),
            ),
            400,
            "parameter_invalid",
            "metadata[k]",
        );
        assert_eq!(store.get("customer", "cus_pm").unwrap()["name"], json!("P"));
        let fifty: Vec<String> = (0..50).map(|i| format!("metadata[k{i}]=v")).collect();
        post(&mut store, "/v1/customers/cus_pm", &fifty.join("&")).unwrap();
        post(
            &mut store,
            "/v1/customers/cus_pm",
            "metadata[k0]=&metadata[new]=v",
        )
        .unwrap();
        assert_refused(
            post(&mut store, "/v1/customers/cus_pm", "metadata[one_more]=v"),
            400,
            "parameter_invalid",
            "metadata",
        );
        let ok = post(
            &mut store,
            "/v1/customers/cus_pm",
            &format!("metadata[{}]={}", "k".repeat(40), "v".repeat(500)),
        );
        assert_refused(ok, 400, "parameter_invalid", "metadata");
    }

    #[test]
    fn deleting_a_customer_answers_its_stub_and_cancels_its_subscriptions() {
        let mut store = store();
        let sub = subscribe(&mut store, "customer=cus_pm&items[0][price]=price_m");
        let sub_id = sub["id"].as_str().unwrap();

        let (answer, changes) = send(&mut store, "DELETE", "/v1/customers/cus_pm", "").unwrap();

        assert_eq!(
            answer,
            json!({"id": "cus_pm", "object": "customer", "deleted": true})
        );
        let canceled = store.get("subscription", sub_id).unwrap();
        assert_eq!(canceled["status"], json!("canceled"));
        assert_eq!(canceled["ended_at"], json!(NOW));
        assert_eq!(
            types(&changes),
            ["customer.subscription.deleted", "customer.deleted"]
        );
        assert_eq!(changes[0].object["id"], json!(sub_id));
        assert_eq!(changes[1].object["name"], json!("P"));

        assert_refused(
            send(&mut store, "DELETE", "/v1/customers/cus_pm", ""),
            404,
            "resource_missing",
            "id",
        );
        assert_refused(
            send(&mut store, "DELETE", "/v1/customers/cus_nope", ""),
            404,
            "resource_missing",
            "id",
        );
        assert_refused(
            send(&mut store, "DELETE", "/v1/customers/cus_none", "expand[]=x"),
            400,
            "parameter_unknown",
            "expand[]",
        );
    }

    #[test]
    fn a_subscription_for_a_customer_with_a_payment_method_is_active_with_periods_on_its_items() {
        let mut store = store();
        let (sub, changes) = post(
            &mut store,
            "/v1/subscriptions",
            "customer=cus_pm&items%5B0%5D%5Bprice%5D=price_m&items%5B0%5D%5Bquantity%5D=3&items[0][metadata][seat]=a&items[1][plan]=price_m2&items[2][price]=price_metered&metadata[source]=api",
        )
        .unwrap();

        let id = sub["id"].as_str().unwrap();
        assert!(id.starts_with("sub_"), "{id}");
        assert_eq!(
            store.get("subscription", id).map(render_subscription),
            Some(sub.clone())
        );
        assert_eq!(sub["status"], json!("active"));
        assert_eq!(sub["customer"], json!("cus_pm"));
        assert_eq!(sub["created"], json!(NOW));
        assert_eq!(sub["start_date"], json!(NOW));
        assert_eq!(sub["billing_cycle_anchor"], json!(NOW));
        assert_eq!(sub["metadata"], json!({"source": "api"}));
        assert_eq!(sub["trial_end"], Value::Null);
        assert!(
            sub.get("current_period_end").is_none(),
            "periods are on items"
        );
        let items = sub["items"]["data"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        let feb_1 = 1_769_904_000; // 2026-02-01T00:00:00Z
        for item in items {
            assert!(item["id"].as_str().unwrap().starts_with("si_"));
            assert_eq!(item["subscription"], json!(id));
            assert_eq!(item["current_period_start"], json!(NOW));
            assert_eq!(item["current_period_end"], json!(feb_1));
            assert_eq!(item["plan"], plan_view(&item["price"]));
        }
        assert_eq!(items[0]["price"], *store.get("price", "price_m").unwrap());
        assert_eq!(items[0]["quantity"], json!(3));
        assert_eq!(items[0]["metadata"], json!({"seat": "a"}));
        assert_eq!(items[1]["price"]["id"], json!("price_m2"));
        assert_eq!(items[1]["quantity"], json!(1), "quantity defaults to 1");
        assert_eq!(items[2]["quantity"], Value::Null, "metered");
        assert_eq!(types(&changes), ["customer.subscription.created"]);
        assert_eq!(changes[0].object, sub);

        let given = subscribe(
            &mut store,
            "customer=cus_none&items[0][price]=price_m&default_payment_method=pm_x",
        );
        assert_eq!(given["status"], json!("active"));
        assert_eq!(given["default_payment_method"], json!("pm_x"));
    }

    #[test]
    fn a_subscription_with_a_trial_is_trialing_until_the_trial_ends_even_without_a_payment_method()
    {
        let mut store = store();
        let sub = subscribe(
            &mut store,
            "customer=cus_none&items[0][price]=price_y&trial_period_days=14",
        );
        let end = NOW + 14 * DAY;
        assert_eq!(sub["status"], json!("trialing"));
        assert_eq!(sub["trial_start"], json!(NOW));
        assert_eq!(sub["trial_end"], json!(end));
        assert_eq!(sub["billing_cycle_anchor"], json!(end));
        assert_eq!(sub["items"]["data"][0]["current_period_end"], json!(end));
        for days in ["0", "731", "two"] {
            let err = post(
                &mut store,
                "/v1/subscriptions",
                &format!("customer=cus_pm&items[0][price]=price_m&trial_period_days={days}"),
            )
            .unwrap_err();
            assert_eq!(
                err.body["error"]["param"],
                json!("trial_period_days"),
                "{days}"
            );
        }
    }

    #[test]
    fn without_a_payment_method_default_incomplete_is_incomplete_and_other_behaviors_are_refused() {
        let mut store = store();
        let sub = subscribe(
            &mut store,
            "customer=cus_none&items[0][price]=price_m&payment_behavior=default_incomplete",
        );
        assert_eq!(sub["status"], json!("incomplete"));
        for behavior in [
            "",
            "&payment_behavior=allow_incomplete",
            "&payment_behavior=error_if_incomplete",
            "&payment_behavior=pending_if_incomplete",
        ] {
            let before = store.objects("subscription").count();
            let (status, error) = refusal(post(
                &mut store,
                "/v1/subscriptions",
                &format!("customer=cus_none&items[0][price]=price_m{behavior}"),
            ));
            assert_eq!(status, 400, "{behavior}");
            assert_eq!(error, no_payment_method().body["error"]);
            assert_eq!(error["type"], json!("invalid_request_error"));
            assert_eq!(error["param"], Value::Null);
            assert_eq!(store.objects("subscription").count(), before);
        }
        assert_refused(
            post(
                &mut store,
                "/v1/subscriptions",
                "customer=cus_pm&items[0][price]=price_m&payment_behavior=later",
            ),
            400,
            "parameter_invalid",
            "payment_behavior",
        );
    }

    #[test]
    fn creating_a_subscription_refuses_missing_customers_prices_and_bad_items() {
        let mut store = store();
        store.delete_customer("cus_none", 1);
        let twenty_one: Vec<String> = (0..21)
            .map(|i| format!("items[{i}][price]=price_m"))
            .collect();
        let cases = [
            ("items[0][price]=price_m", "parameter_missing", "customer"),
            ("customer=cus_pm", "parameter_missing", "items"),
            (
                "customer=cus_nope&items[0][price]=price_m",
                "resource_missing",
                "customer",
            ),
            (
                "customer=cus_none&items[0][price]=price_m",
                "resource_missing",
                "customer",
            ),
            (
                "customer=cus_pm&items[0][price]=price_nope",
                "resource_missing",
                "items[0][price]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[1][plan]=price_once",
                "resource_missing",
                "items[1][plan]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_once",
                "parameter_invalid",
                "items[0][price]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_old",
                "parameter_invalid",
                "items[0][price]",
            ),
            (
                "customer=cus_pm&items[0][quantity]=1",
                "parameter_missing",
                "items[0][price]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[0][plan]=price_m",
                "parameter_invalid",
                "items[0][plan]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[0][quantity]=-1",
                "parameter_invalid",
                "items[0][quantity]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[0][quantity]=1.5",
                "parameter_invalid_integer",
                "items[0][quantity]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_metered&items[0][quantity]=1",
                "parameter_invalid",
                "items[0][quantity]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[1][price]=price_m",
                "parameter_invalid",
                "items",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[1][price]=price_y",
                "parameter_invalid",
                "items",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&items[0][colour]=red",
                "parameter_unknown",
                "items[0][colour]",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&collection_method=send_invoice",
                "parameter_unknown",
                "collection_method",
            ),
            (
                "customer=cus_pm&items[0][price]=price_m&default_payment_method=card_1",
                "resource_missing",
                "default_payment_method",
            ),
        ];
        for (body, code, param) in cases {
            let (status, error) = refusal(post(&mut store, "/v1/subscriptions", body));
            assert_eq!(status, 400, "{body}: {error}");
            assert_eq!(error["code"], json!(code), "{body}: {error}");
            assert_eq!(error["param"], json!(param), "{body}: {error}");
        }
        assert_refused(
            post(
                &mut store,
                "/v1/subscriptions",
                &format!("customer=cus_pm&{}", twenty_one.join("&")),
            ),
            400,
            "parameter_invalid",
            "items",
        );
        assert_eq!(
            store.objects("subscription").count(),
            0,
            "nothing was created"
        );
    }

    #[test]
    fn updating_items_changes_removes_and_adds_them() {
        let mut store = store();
        let sub = subscribe(
            &mut store,
            "customer=cus_pm&items[0][price]=price_m&items[1][price]=price_m2&items[1][quantity]=2",
        );
        let id = sub["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/subscriptions/{id}");
        let (first, second) = (
            sub["items"]["data"][0]["id"].as_str().unwrap().to_owned(),
            sub["items"]["data"][1]["id"].as_str().unwrap().to_owned(),
        );

        let (updated, changes) = post(
            &mut store,
            &path,
            &format!("items[0][id]={first}&items[0][quantity]=5&items[0][metadata][k]=v&items[1][id]={second}&items[1][deleted]=true&items[2][price]=price_metered&proration_behavior=none&metadata[plan]=x"),
        )
        .unwrap();

        let items = updated["items"]["data"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], json!(first));
        assert_eq!(items[0]["quantity"], json!(5));
        assert_eq!(items[0]["metadata"], json!({"k": "v"}));
        assert_eq!(items[1]["price"]["id"], json!("price_metered"));
        assert_eq!(items[1]["quantity"], Value::Null);
        assert_eq!(
            items[1]["current_period_end"],
            items[0]["current_period_end"]
        );
        assert!(items[1]["id"].as_str().unwrap().starts_with("si_"));
        assert_eq!(updated["metadata"], json!({"plan": "x"}));
        assert_eq!(updated["latest_invoice"], Value::Null, "no invoice is made");
        assert_eq!(types(&changes), ["customer.subscription.updated"]);
        let previous = changes[0].previous_attributes.as_ref().unwrap();
        assert_eq!(previous["items"], sub["items"]);

        let (swapped, _) = post(
            &mut store,
            &path,
            &format!("items[0][id]={first}&items[0][price]=price_m2"),
        )
        .unwrap();
        assert_eq!(
            swapped["items"]["data"][0]["price"]["id"],
            json!("price_m2")
        );
        assert_eq!(swapped["items"]["data"][0]["plan"]["id"], json!("price_m2"));
        assert_eq!(swapped["items"]["data"][0]["quantity"], json!(5));

        let new_item = items[1]["id"].as_str().unwrap();
        for (body, code, param) in [
            ("items[0][id]=si_nope&items[0][quantity]=1".to_owned(), "resource_missing", "items[0][id]"),
            ("items[0][deleted]=true".to_owned(), "parameter_missing", "items[0][id]"),
            (format!("items[0][id]={first}&items[0][deleted]=true&items[1][id]={new_item}&items[1][deleted]=true"), "parameter_invalid", "items"),
            (format!("items[0][id]={first}&items[0][deleted]=true&items[0][quantity]=1"), "parameter_invalid", "items[0][quantity]"),
            ("items[0][quantity]=1".to_owned(), "parameter_missing", "items[0][price]"),
            ("proration_behavior=sometimes".to_owned(), "parameter_invalid", "proration_behavior"),
            ("cancel_at=5".to_owned(), "parameter_unknown", "cancel_at"),
        ] {
            assert_refused(post(&mut store, &path, &body), 400, code, param);
        }
        assert_refused(
            post(&mut store, "/v1/subscriptions/sub_nope", "metadata[a]=b"),
            404,
            "resource_missing",
            "id",
        );
    }

    #[test]
    fn cancel_at_period_end_schedules_the_cancellation_and_false_undoes_it() {
        let mut store = store();
        let sub = subscribe(&mut store, "customer=cus_pm&items[0][price]=price_y");
        let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
        let period_end = sub["items"]["data"][0]["current_period_end"].clone();
        assert_eq!(
            period_end,
            json!(1_798_761_600),
            "2027-01-01: a calendar year"
        );

        let (scheduled, _) = post(&mut store, &path, "cancel_at_period_end=true").unwrap();
        assert_eq!(scheduled["status"], json!("active"));
        assert_eq!(scheduled["cancel_at_period_end"], json!(true));
        assert_eq!(scheduled["cancel_at"], period_end);
        assert_eq!(scheduled["canceled_at"], json!(NOW));
        assert_eq!(
            scheduled["cancellation_details"]["reason"],
            json!("cancellation_requested")
        );

        let (undone, changes) = post(&mut store, &path, "cancel_at_period_end=false").unwrap();
        assert_eq!(undone["cancel_at_period_end"], json!(false));
        assert_eq!(undone["cancel_at"], Value::Null);
        assert_eq!(undone["canceled_at"], Value::Null);
        assert_eq!(undone["cancellation_details"], sub["cancellation_details"]);
        assert_eq!(
            changes[0].previous_attributes.as_ref().unwrap()["cancel_at"],
            period_end
        );
        assert_refused(
            post(&mut store, &path, "cancel_at_period_end=maybe"),
            400,
            "parameter_invalid",
            "cancel_at_period_end",
        );
    }

    #[test]
    fn pause_collection_is_set_and_an_empty_value_clears_it() {
        let mut store = store();
        let sub = subscribe(&mut store, "customer=cus_pm&items[0][price]=price_m");
        let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());

        let resumes = NOW + 7 * DAY;
        let (paused, changes) = post(
            &mut store,
            &path,
            &format!("pause_collection%5Bbehavior%5D=void&pause_collection[resumes_at]={resumes}"),
        )
        .unwrap();
        assert_eq!(
            paused["pause_collection"],
            json!({"behavior": "void", "resumes_at": resumes})
        );
        assert_eq!(
            paused["status"],
            json!("active"),
            "collection is paused, not the status"
        );
        assert_eq!(types(&changes), ["customer.subscription.updated"]);
        let (open, _) = post(
            &mut store,
            &path,
            "pause_collection[behavior]=keep_as_draft",
        )
        .unwrap();
        assert_eq!(
            open["pause_collection"],
            json!({"behavior": "keep_as_draft", "resumes_at": null})
        );

        let (cleared, _) = post(&mut store, &path, "pause_collection=").unwrap();
        assert_eq!(cleared["pause_collection"], Value::Null);

        for (body, code, param) in [
            (
                "pause_collection[behavior]=stop",
                "parameter_invalid",
                "pause_collection[behavior]",
            ),
            (
                "pause_collection[resumes_at]=1",
                "parameter_missing",
                "pause_collection[behavior]",
            ),
            (
                "pause_collection[behavior]=void&pause_collection[resumes_at]=1",
                "parameter_invalid",
                "pause_collection[resumes_at]",
            ),
            (
                "pause_collection=void",
                "parameter_invalid",
                "pause_collection",
            ),
            (
                "pause_collection[behavior]=void&pause_collection[until]=1",
                "parameter_unknown",
                "pause_collection[until]",
            ),
        ] {
            assert_refused(post(&mut store, &path, body), 400, code, param);
        }
    }

    #[test]
    fn canceling_a_subscription_ends_it_and_canceling_it_again_is_resource_missing() {
        let mut store = store();
        let sub = subscribe(&mut store, "customer=cus_pm&items[0][price]=price_m");
        let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());

        let (canceled, changes) = send(
            &mut store,
            "DELETE",
            &path,
            "invoice_now=true&prorate=false",
        )
        .unwrap();

        assert_eq!(canceled["status"], json!("canceled"));
        assert_eq!(canceled["canceled_at"], json!(NOW));
        assert_eq!(canceled["ended_at"], json!(NOW));
        assert_eq!(
            canceled["object"],
            json!("subscription"),
            "not a deleted stub"
        );
        assert_eq!(types(&changes), ["customer.subscription.deleted"]);
        assert_refused(
            send(&mut store, "DELETE", &path, ""),
            404,
            "resource_missing",
            "id",
        );

        let other = subscribe(&mut store, "customer=cus_pm&items[0][price]=price_m2");
        let other = format!("/v1/subscriptions/{}", other["id"].as_str().unwrap());
        assert_refused(
            send(&mut store, "DELETE", &other, "invoice_now=soon"),
            400,
            "parameter_invalid",
            "invoice_now",
        );
        assert_refused(
            send(&mut store, "DELETE", &other, "at_period_end=true"),
            400,
            "parameter_unknown",
            "at_period_end",
        );
    }

    #[test]
    fn a_canceled_subscription_takes_only_metadata() {
        let mut store = store();
        let sub = subscribe(&mut store, "customer=cus_pm&items[0][price]=price_m");
        let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
        send(&mut store, "DELETE", &path, "").unwrap();

        let (tagged, _) = post(&mut store, &path, "metadata[reason]=moved").unwrap();
        assert_eq!(tagged["metadata"], json!({"reason": "moved"}));
        for (body, param) in [
            ("cancel_at_period_end=false", "cancel_at_period_end"),
            ("metadata[a]=b&pause_collection=", "pause_collection"),
        ] {
            let (status, error) = refusal(post(&mut store, &path, body));
            assert_eq!(status, 400);
            assert_eq!(error["type"], json!("invalid_request_error"));
            assert_eq!(error["param"], json!(param));
            assert_eq!(
                error["message"],
                json!("A canceled subscription can only update its cancellation_details and metadata.")
            );
        }
        assert_eq!(
            store
                .get("subscription", sub["id"].as_str().unwrap())
                .unwrap()["metadata"],
            json!({"reason": "moved"})
        );
    }

    #[test]
    fn only_a_paused_subscription_resumes_and_it_becomes_active_from_now() {
        let mut store = store();
        let sub = subscribe(
            &mut store,
            "customer=cus_none&items[0][price]=price_m&trial_period_days=3",
        );
        let id = sub["id"].as_str().unwrap();
        let path = format!("/v1/subscriptions/{id}/resume");
        let (status, error) = refusal(post(&mut store, &path, ""));
        assert_eq!(status, 400);
        assert_eq!(error["type"], json!("invalid_request_error"));
        assert!(error["message"].as_str().unwrap().contains("`trialing`"));

        assert!(store.set_subscription_status(id, "paused"));
        let later = NOW + 3 * DAY;
        let (resumed, changes) =
            send_at(&mut store, "POST", &path, "billing_cycle_anchor=now", later).unwrap();
        assert_eq!(resumed["status"], json!("active"));
        assert_eq!(resumed["billing_cycle_anchor"], json!(later));
        assert_eq!(
            resumed["items"]["data"][0]["current_period_start"],
            json!(later)
        );
        assert_eq!(
            types(&changes),
            [
                "customer.subscription.updated",
                "customer.subscription.resumed"
            ]
        );
        assert_eq!(
            changes[0].previous_attributes.as_ref().unwrap()["status"],
            json!("paused")
        );
        assert_eq!(
            store.get("subscription", id).map(render_subscription),
            Some(resumed)
        );

        store.set_subscription_status(id, "paused");
        let (unchanged, _) = post(
            &mut store,
            &path,
            "billing_cycle_anchor=unchanged&proration_behavior=none",
        )
        .unwrap();
        assert_eq!(unchanged["billing_cycle_anchor"], json!(later));
        assert_refused(
            post(&mut store, &path, "billing_cycle_anchor=later"),
            400,
            "parameter_invalid",
            "billing_cycle_anchor",
        );
        assert_refused(
            post(&mut store, "/v1/subscriptions/sub_nope/resume", ""),
            404,
            "resource_missing",
            "id",
        );
    }

    #[test]
    fn in_the_demo_ava_subscribes_without_a_trial_and_ben_needs_one() {
        use crate::demo::{self, AVA, BEN};
        let mut store = demo::store(NOW);
        for price in ["price_EssentialsMonthly", "price_ProYearly"] {
            let body = format!("customer={BEN}&items[0][price]={price}");
            assert_eq!(
                refusal(post(&mut store, "/v1/subscriptions", &body)).1["code"],
                json!("resource_missing")
            );
            let trial = subscribe(&mut store, &format!("{body}&trial_period_days=14"));
            assert_eq!(trial["status"], json!("trialing"));
        }
        let sub = subscribe(
            &mut store,
            &format!("customer={AVA}&items[0][price]=price_EssentialsYearly"),
        );
        assert_eq!(sub["status"], json!("active"));
    }

    #[test]
    fn billing_periods_are_calendar_intervals() {
        /// Midnight UTC of a date, in Unix seconds.
        fn midnight(year: i32, month: Month, day: u8) -> i64 {
            Date::from_calendar_date(year, month, day)
                .unwrap()
                .midnight()
                .assume_utc()
                .unix_timestamp()
        }
        use Month::{December, February, January};
        assert_eq!(midnight(2026, January, 1), NOW);
        let jan_31 = midnight(2026, January, 31) + 3_600;
        assert_eq!(add_months(jan_31, 1), midnight(2026, February, 28) + 3_600);
        assert_eq!(add_months(jan_31, 13), midnight(2027, February, 28) + 3_600);
        let leap = midnight(2028, January, 30);
        assert_eq!(add_months(leap, 1), midnight(2028, February, 29));
        assert_eq!(
            add_months(midnight(2026, December, 15), 1),
            midnight(2027, January, 15)
        );
        assert_eq!(
            add_months(midnight(2026, February, 28), -2),
            midnight(2025, December, 28)
        );
        let weekly = json!({"interval": "week", "interval_count": 2});
        assert_eq!(add_interval(NOW, &weekly), NOW + 14 * DAY);
        assert_eq!(
            add_interval(NOW, &json!({"interval": "day", "interval_count": 3})),
            NOW + 3 * DAY
        );
        assert_eq!(
            add_interval(NOW, &json!({"interval": "year", "interval_count": 1})),
            midnight(2027, January, 1)
        );
    }
}
