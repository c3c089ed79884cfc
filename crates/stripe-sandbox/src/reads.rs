//! The read endpoints: one function per endpoint, answering from the store with the query
//! parameters the route table ([`crate::routes`]) has already decoded and checked.
//!
//! - **A missing object** is 404 `resource_missing` with `param: "id"` and the message
//!   `No such <type>: '<id>'`. A deleted customer is not missing: it is answered as its stub
//!   `{"id", "object": "customer", "deleted": true}` with 200, and left out of lists.
//! - **Lists** are paged as Stripe pages them ([`crate::params`]); subscriptions are answered
//!   with at most 10 embedded items ([`crate::render`]).
//! - Customer search (`GET /v1/customers/search`) is answered by [`crate::search`].
//! - **Events** (`GET /v1/events`) are the store's record of every change
//!   ([`Store::record`]), kept 30 days.

use serde_json::{json, Value};

use crate::{
    clock::unix_now,
    error::ApiError,
    fixtures::plan_view,
    params::{newest_first, page, values, Params},
    render::render_subscription,
    search,
    store::{Store, EVENT_RETENTION_SECONDS},
};

/// The `status` filters `/v1/subscriptions` takes.
const SUBSCRIPTION_STATUSES: [&str; 10] = [
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

/// The function answering one read endpoint.
pub(crate) type Endpoint = fn(&Store, &Request<'_>) -> Result<Value, ApiError>;

/// What a read endpoint is given.
pub(crate) struct Request<'a> {
    /// The segment matched by `{id}`, decoded; empty for a path without one.
    pub(crate) id: &'a str,
    /// The query parameters, already checked against the route's.
    pub(crate) params: &'a Params,
}

/// `GET /v1/customers`: live customers, optionally those with one `email`. With
/// `expand[]=data.subscriptions`, each customer on the page embeds the first page of its
/// subscriptions, as [`retrieve_customer`] with `expand[]=subscriptions` does.
pub(crate) fn list_customers(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let email = req.params.get("email");
    let embed = match req.params.get("expand[]").map(String::as_str) {
        None => false,
        Some("data.subscriptions") => true,
        Some(other) => return Err(not_expandable(other)),
    };
    let rows = newest_first(store.objects("customer").filter(|c| {
        c["deleted"] != json!(true) && email.is_none_or(|e| c["email"].as_str() == Some(e))
    }));
    let mut list = page(rows, req.params, "customer", "/v1/customers")?;
    if embed {
        if let Some(customers) = list["data"].as_array_mut() {
            for customer in customers {
                embed_subscriptions(store, customer)?;
            }
        }
    }
    Ok(list)
}

/// Embeds in `customer` the first page of its subscriptions (what
/// `GET /v1/subscriptions?customer=<id>` answers: not canceled ones, 10 per page).
fn embed_subscriptions(store: &Store, customer: &mut Value) -> Result<(), ApiError> {
    let id = customer["id"].as_str().unwrap_or_default().to_owned();
    let rows = newest_first(store.objects("subscription").filter(|s| {
        s["customer"].as_str() == Some(id.as_str())
            && status_matches(s["status"].as_str().unwrap_or(""), None)
    }))
    .iter()
    .map(render_subscription)
    .collect();
    let url = format!("/v1/customers/{id}/subscriptions");
    customer["subscriptions"] = page(rows, &Params::new(), "subscription", &url)?;
    Ok(())
}

/// Stripe's refusal of an expansion it does not offer.
fn not_expandable(what: &str) -> ApiError {
    ApiError::invalid(
        400,
        "parameter_invalid",
        Some("expand[0]"),
        format!("This property cannot be expanded ({what})."),
    )
}

/// `GET /v1/customers/search`: see [`crate::search`].
pub(crate) fn search_customers(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    search::search_customers(store, req.params)
}

/// `GET /v1/customers/{id}`: a deleted customer is its stub, with 200. With
/// `expand[]=subscriptions`, the customer embeds the first page of its subscriptions (what
/// `GET /v1/subscriptions?customer=<id>` answers: not canceled ones, 10 per page), as Stripe
/// does; any other expansion is refused as Stripe refuses it.
pub(crate) fn retrieve_customer(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let mut customer = stored(store, "customer", req.id)?;
    match req.params.get("expand[]").map(String::as_str) {
        None => {}
        Some("subscriptions") if customer["deleted"] == json!(true) => {}
        Some("subscriptions") => embed_subscriptions(store, &mut customer)?,
        Some(other) => return Err(not_expandable(other)),
    }
    Ok(customer)
}

/// `GET /v1/subscriptions`: by `customer`, `status` (not canceled ones unless asked) and
/// `price` (or its older name `plan`).
pub(crate) fn list_subscriptions(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let params = req.params;
    let status = params.get("status").map(String::as_str);
    if status.is_some_and(|s| !SUBSCRIPTION_STATUSES.contains(&s)) {
        return Err(ApiError::bad_param(
            "status",
            format!(
                "Invalid status: must be one of {}",
                SUBSCRIPTION_STATUSES.join(", ")
            ),
        ));
    }
    let customer = params.get("customer");
    let price = params.get("price").or(params.get("plan"));
    let rows = newest_first(store.objects("subscription").filter(|s| {
        customer.is_none_or(|c| s["customer"].as_str() == Some(c))
            && status_matches(s["status"].as_str().unwrap_or(""), status)
            && price.is_none_or(|p| {
                s["items"]["data"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| i["price"]["id"].as_str() == Some(p)))
            })
    }))
    .iter()
    .map(render_subscription)
    .collect();
    page(rows, params, "subscription", "/v1/subscriptions")
}

/// `GET /v1/subscriptions/{id}`.
pub(crate) fn retrieve_subscription(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    store
        .get("subscription", req.id)
        .map(render_subscription)
        .ok_or_else(|| ApiError::missing("subscription", req.id, "id"))
}

/// `GET /v1/subscription_items`: the items of the required `subscription`, all of them.
pub(crate) fn list_subscription_items(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let Some(sub_id) = req.params.get("subscription") else {
        return Err(ApiError::invalid(
            400,
            "parameter_missing",
            Some("subscription"),
            "Missing required param: subscription.".into(),
        ));
    };
    let sub = store
        .get("subscription", sub_id)
        .ok_or_else(|| ApiError::missing("subscription", sub_id, "subscription"))?;
    let items = sub["items"]["data"].as_array().cloned().unwrap_or_default();
    page(
        items,
        req.params,
        "subscription item",
        &format!("/v1/subscription_items?subscription={sub_id}"),
    )
}

/// `GET /v1/prices`: by `product` and `active`.
pub(crate) fn list_prices(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let active = active_filter(req.params)?;
    let product = req.params.get("product");
    let rows = newest_first(store.objects("price").filter(|p| {
        product.is_none_or(|prod| p["product"].as_str() == Some(prod))
            && active.is_none_or(|a| p["active"] == json!(a))
    }));
    page(rows, req.params, "price", "/v1/prices")
}

/// `GET /v1/products`: by `active`.
pub(crate) fn list_products(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let active = active_filter(req.params)?;
    let rows = newest_first(
        store
            .objects("product")
            .filter(|p| active.is_none_or(|a| p["active"] == json!(a))),
    );
    page(rows, req.params, "product", "/v1/products")
}

/// `GET /v1/plans`: the plan views of recurring prices, by `active` and `product`.
pub(crate) fn list_plans(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let active = active_filter(req.params)?;
    let product = req.params.get("product");
    let rows: Vec<Value> = newest_first(store.objects("price").filter(|p| {
        p["type"] == json!("recurring")
            && product.is_none_or(|prod| p["product"].as_str() == Some(prod))
            && active.is_none_or(|a| p["active"] == json!(a))
    }))
    .iter()
    .map(plan_view)
    .collect();
    page(rows, req.params, "plan", "/v1/plans")
}

/// `GET /v1/events`: the events of the last 30 days, newest first, by `type` (one type, or a
/// wildcard such as `customer.*`) or `types[]` (several, wildcards too), and `created`.
pub(crate) fn list_events(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let mut types = values(req.params, "types[]");
    if let Some(one) = req.params.get("type") {
        if !types.is_empty() {
            return Err(ApiError::bad_param(
                "type",
                "You may pass either `type` or `types`, but not both.".into(),
            ));
        }
        types.push(one);
    }
    let matches = |event_type: &str| {
        types.is_empty()
            || types.iter().any(|t| match t.strip_suffix('*') {
                Some(prefix) => event_type.starts_with(prefix),
                None => event_type == *t,
            })
    };
    let since = unix_now() - EVENT_RETENTION_SECONDS;
    let rows = newest_first(store.events().iter().filter(|e| {
        e["created"].as_i64().is_some_and(|c| c >= since)
            && matches(e["type"].as_str().unwrap_or_default())
    }));
    page(rows, req.params, "event", "/v1/events")
}

/// The `active` filter of a list.
fn active_filter(params: &Params) -> Result<Option<bool>, ApiError> {
    match params.get("active").map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_param(
            "active",
            format!("Invalid boolean: {other}"),
        )),
    }
}

/// `GET /v1/prices/{id}`.
pub(crate) fn retrieve_price(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    stored(store, "price", req.id)
}

/// `GET /v1/plans/{id}`: the plan view of a recurring price; a one-time price is no plan.
pub(crate) fn retrieve_plan(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    store
        .get("price", req.id)
        .filter(|p| p["type"] == json!("recurring"))
        .map(plan_view)
        .ok_or_else(|| ApiError::missing("plan", req.id, "id"))
}

/// `GET /v1/products/{id}`.
pub(crate) fn retrieve_product(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    stored(store, "product", req.id)
}

/// A stored object as kept, or 404 naming it.
fn stored(store: &Store, object: &str, id: &str) -> Result<Value, ApiError> {
    store
        .get(object, id)
        .cloned()
        .ok_or_else(|| ApiError::missing(object, id, "id"))
}

/// Whether a subscription with `status` is listed for the `status` filter: without one,
/// every subscription but canceled ones; `ended` is canceled and incomplete_expired.
fn status_matches(status: &str, filter: Option<&str>) -> bool {
    match filter {
        None => status != "canceled",
        Some("all") => true,
        Some("ended") => matches!(status, "canceled" | "incomplete_expired"),
        Some(wanted) => status == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_subscription_list_hides_canceled_ones() {
        assert!(status_matches("active", None));
        assert!(!status_matches("canceled", None));
        assert!(status_matches("canceled", Some("all")));
        assert!(status_matches("incomplete_expired", Some("ended")));
        assert!(!status_matches("active", Some("past_due")));
    }
}
