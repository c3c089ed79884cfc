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
    params::{newest_first, page, page_in_order, sort_newest_first, values, Params},
    render::{render_subscription, render_subscription_in_place},
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
    // The same page as `page(newest_first(<the kept customers>))`, from the store's order.
    let mut list = page_in_order(
        &store.customers_newest_first(),
        |key| store.get("customer", key),
        |c| c["deleted"] != json!(true) && email.is_none_or(|e| c["email"].as_str() == Some(e)),
        req.params,
        "customer",
        "/v1/customers",
    )?;
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
    // Sorted and paged as references, then only the page copied and rendered (rendering
    // changes neither `created` nor `id`, so paging first gives the same page).
    let mut rows: Vec<&Value> = store
        .subscriptions_of(&id)
        .filter(|s| status_matches(s["status"].as_str().unwrap_or(""), None))
        .collect();
    sort_newest_first(&mut rows);
    let url = format!("/v1/customers/{id}/subscriptions");
    let mut list = page(rows, &Params::new(), "subscription", &url)?;
    if let Some(data) = list["data"].as_array_mut() {
        data.iter_mut().for_each(render_subscription_in_place);
    }
    customer["subscriptions"] = list;
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
    use crate::fixtures::{customer, price, subscription, ItemSpec};

    /// `GET /v1/customers` as it was answered before the store kept its order: every kept
    /// customer cloned and sorted, then paged.
    fn list_customers_by_sorting(store: &Store, params: &Params) -> Result<Value, ApiError> {
        let email = params.get("email");
        let rows = newest_first(store.objects("customer").filter(|c| {
            c["deleted"] != json!(true) && email.is_none_or(|e| c["email"].as_str() == Some(e))
        }));
        page(rows, params, "customer", "/v1/customers")
    }

    fn one_item_subscription(id: &str, customer: &str, status: &str, created: i64) -> Value {
        let p = price("price_1", "prod_1", "x", "100", None, 1);
        let items = [ItemSpec {
            id: "si_1",
            price: &p,
            quantity: Some(1),
        }];
        subscription(id, customer, status, &items, (1, 2), created)
    }

    /// A store with ties in `created`, shared emails, and customers with up to three
    /// subscriptions (one of them canceled).
    fn varied_store() -> Store {
        let mut store = Store::new();
        for n in 0..23 {
            let id = format!("cus_{n:02}");
            let email = format!("e{}@example.com", n % 3);
            store.put(customer(&id, "N", &email, 100 + (n % 5)));
            for (k, status) in ["active", "canceled", "trialing"]
                .iter()
                .enumerate()
                .take(n as usize % 4)
            {
                let sub = format!("sub_{n:02}_{k}");
                store.put(one_item_subscription(
                    &sub,
                    &id,
                    status,
                    50 + (k as i64 % 2),
                ));
            }
        }
        store
    }

    /// Changes to `varied_store`, made one after the other.
    const CHANGES: [fn(&mut Store); 6] = [
        |s| assert!(s.delete_customer("cus_04", 7)),
        |s| assert!(s.update("customer", "cus_07", |c| c["created"] = json!(999))),
        |s| s.put(customer("cus_99", "N", "e1@example.com", 102)),
        |s| {
            assert!(s.update("subscription", "sub_02_0", |c| c["customer"] =
                json!("cus_05")))
        },
        |s| s.put(one_item_subscription("sub_zz", "cus_05", "active", 60)),
        |s| assert!(s.delete_customer("cus_11", 7)),
    ];

    /// `check` on `varied_store`, then after each of [`CHANGES`], each made right after both
    /// indexes were read (so a change that left one standing would be answered from it).
    fn after_each_change(check: fn(&Store)) {
        let mut store = varied_store();
        check(&store);
        for change in CHANGES {
            let _ = store.customers_newest_first();
            let _ = store.subscriptions_of("cus_05").count();
            change(&mut store);
            check(&store);
        }
    }

    #[test]
    fn customer_pages_from_the_kept_order_are_the_pages_sorting_gave() {
        after_each_change(|store| {
            let mut ids: Vec<String> = store
                .objects("customer")
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            ids.push("cus_unknown".into());
            let mut cases: Vec<Vec<(&str, String)>> = vec![vec![]];
            for limit in ["1", "3", "10", "100", "0", "x"] {
                cases.push(vec![("limit", limit.into())]);
                for id in &ids {
                    let id = id.clone();
                    cases.push(vec![
                        ("limit", limit.into()),
                        ("starting_after", id.clone()),
                    ]);
                    cases.push(vec![("limit", limit.into()), ("ending_before", id.clone())]);
                    cases.push(vec![
                        ("limit", limit.into()),
                        ("starting_after", id.clone()),
                        ("ending_before", "cus_unknown".into()),
                    ]);
                    cases.push(vec![
                        ("starting_after", id.clone()),
                        ("email", "e1@example.com".into()),
                    ]);
                    cases.push(vec![
                        ("ending_before", id.clone()),
                        ("created[gte]", "102".into()),
                    ]);
                    cases.push(vec![("starting_after", id), ("created[lt]", "nope".into())]);
                }
            }
            for case in cases {
                let params: Params = case
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                let request = Request {
                    id: "",
                    params: &params,
                };
                assert_eq!(
                    list_customers(store, &request).map_err(|e| format!("{e:?}")),
                    list_customers_by_sorting(store, &params).map_err(|e| format!("{e:?}")),
                    "{params:?}"
                );
            }
        });
    }

    #[test]
    fn embedded_subscriptions_from_the_index_are_those_a_scan_finds() {
        after_each_change(|store| {
            let mut params = Params::new();
            params.insert("expand[]".into(), "data.subscriptions".into());
            params.insert("limit".into(), "100".into());
            let request = Request {
                id: "",
                params: &params,
            };
            let list = list_customers(store, &request).unwrap();
            let customers = list["data"].as_array().unwrap();
            assert!(customers.len() >= 22);
            for c in customers {
                let id = c["id"].as_str().unwrap();
                let scanned = newest_first(store.objects("subscription").filter(|s| {
                    s["customer"].as_str() == Some(id) && s["status"] != json!("canceled")
                }))
                .iter()
                .map(render_subscription)
                .collect();
                let url = format!("/v1/customers/{id}/subscriptions");
                let expected = page(scanned, &Params::new(), "subscription", &url).unwrap();
                assert_eq!(c["subscriptions"], expected, "{id}");
                let retrieved = retrieve_customer(
                    store,
                    &Request {
                        id,
                        params: &[("expand[]".to_owned(), "subscriptions".to_owned())]
                            .into_iter()
                            .collect(),
                    },
                )
                .unwrap();
                assert_eq!(retrieved["subscriptions"], expected, "{id}");
            }
        });
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
