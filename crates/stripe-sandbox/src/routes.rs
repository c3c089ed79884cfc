//! The sandbox's endpoints: a table from method and path to one small function per endpoint,
//! and the checks of their query parameters (paging is in [`crate::params`], Stripe's error
//! shapes in [`crate::error`]).
//!
//! Answers follow Stripe (API version 2026-07-29.dahlia) in these respects, which the tests
//! below pin:
//!
//! - **Lists** are `{"object": "list", "data", "has_more", "url"}`, newest first (by `created`,
//!   then id), `limit` rows (1 to 100, default 10) after `starting_after` or before
//!   `ending_before`. A cursor that names no row of the list is 404 `resource_missing` with
//!   the cursor as `param`.
//! - **A missing object** is 404 `resource_missing` with `param: "id"` and the message
//!   `No such <type>: '<id>'`. A deleted customer is not missing: it is answered as its stub
//!   `{"id", "object": "customer", "deleted": true}` with 200, and left out of lists.
//! - **Parameters**: one the endpoint does not take is 400 `parameter_unknown`, a repeated one
//!   400 `parameter_invalid`, each with the offending `param`.
//! - **A method and path with no endpoint** is 404 `invalid_request_error` with Stripe's
//!   `Unrecognized request URL (<METHOD>: <path>). …` message and no `code` or `param`.
//!
//! These are the read endpoints; the writes are in [`crate::writes`]. Customer search
//! (`GET /v1/customers/search`) is routed here and answered by [`crate::search`].
//!
//! Refusals are [`ApiError`]s: an HTTP status and the `{"error": {…}}` body, in Stripe's shape.

use serde_json::{json, Value};

use crate::{
    error::ApiError,
    fixtures::plan_view,
    params::{self, newest_first, page, Params, PAGING},
    render::render_subscription,
    search,
    store::Store,
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

/// Every endpoint the sandbox has. A request matching none is answered as Stripe answers an
/// unknown URL.
const ROUTES: &[Route] = &[
    Route::list("/v1/customers", &["email"], list_customers),
    // Before `/v1/customers/{id}`, which would take `search` for an id.
    Route::retrieve_with(
        "/v1/customers/search",
        &["query", "limit", "page"],
        search_customers,
    ),
    Route::retrieve_with("/v1/customers/{id}", &["expand[]"], retrieve_customer),
    Route::list(
        "/v1/subscriptions",
        &["customer", "status", "price", "plan"],
        list_subscriptions,
    ),
    Route::retrieve("/v1/subscriptions/{id}", retrieve_subscription),
    Route::list(
        "/v1/subscription_items",
        &["subscription"],
        list_subscription_items,
    ),
    Route::list("/v1/prices", &["product", "active"], list_prices),
    Route::retrieve("/v1/prices/{id}", retrieve_price),
    Route::retrieve("/v1/plans/{id}", retrieve_plan),
    Route::retrieve("/v1/products/{id}", retrieve_product),
];

/// The `/`-separated segments of a raw path, each percent-decoded.
pub(super) fn decoded_segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Answers one request from `store`: the body of a 200, or a refusal. `path` is the path as
/// received (still percent-encoded, no query); its segments are decoded before they are
/// matched. `query` is the raw query string.
pub fn answer(store: &Store, method: &str, path: &str, query: &str) -> Result<Value, ApiError> {
    let segments = decoded_segments(path);
    let (route, id) = ROUTES
        .iter()
        .find_map(|route| Some((route, route.matches(method, &segments)?)))
        .ok_or_else(|| ApiError::unrecognized(method, path))?;
    let params = params::parse(query)?;
    route.check_params(&params)?;
    (route.endpoint)(
        store,
        &Request {
            id,
            params: &params,
        },
    )
}

/// One endpoint.
struct Route {
    method: &'static str,
    /// `/`-separated; the segment `{id}` matches any one segment.
    path: &'static str,
    /// The query parameters it takes, besides [`PAGING`] for a list.
    params: &'static [&'static str],
    list: bool,
    endpoint: Endpoint,
}

/// The function answering one endpoint.
type Endpoint = fn(&Store, &Request<'_>) -> Result<Value, ApiError>;

/// What an endpoint function is given.
struct Request<'a> {
    /// The segment matched by `{id}`, decoded; empty for a path without one.
    id: &'a str,
    /// The query parameters, already checked against the route's.
    params: &'a Params,
}

impl Route {
    /// `GET` on a collection: `filters` and the paging parameters.
    const fn list(
        path: &'static str,
        filters: &'static [&'static str],
        endpoint: Endpoint,
    ) -> Route {
        Route {
            method: "GET",
            path,
            params: filters,
            list: true,
            endpoint,
        }
    }

    /// `GET` on one object: no parameters.
    const fn retrieve(path: &'static str, endpoint: Endpoint) -> Route {
        Route::retrieve_with(path, &[], endpoint)
    }

    /// `GET` on one object, taking `params`.
    const fn retrieve_with(
        path: &'static str,
        params: &'static [&'static str],
        endpoint: Endpoint,
    ) -> Route {
        Route {
            method: "GET",
            path,
            params,
            list: false,
            endpoint,
        }
    }

    /// `Some(id)` (empty without `{id}`) if this route answers `method` on `segments`.
    fn matches<'s>(&self, method: &str, segments: &'s [String]) -> Option<&'s str> {
        if method != self.method {
            return None;
        }
        match_path(self.path, segments)
    }

    /// Refuses the first parameter (in name order) the route does not take.
    fn check_params(&self, params: &Params) -> Result<(), ApiError> {
        let takes =
            |name: &str| self.params.contains(&name) || (self.list && PAGING.contains(&name));
        match params.keys().find(|k| !takes(k)) {
            None => Ok(()),
            Some(unknown) => Err(ApiError::invalid(
                400,
                "parameter_unknown",
                Some(unknown),
                format!("Received unknown parameter: {unknown}"),
            )),
        }
    }
}

/// `Some(id)` (empty without `{id}`) if the decoded `segments` match `pattern`, a path whose
/// segment `{id}` matches any one segment.
pub(super) fn match_path<'s>(pattern: &str, segments: &'s [String]) -> Option<&'s str> {
    let pattern: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if pattern.len() != segments.len() {
        return None;
    }
    let mut id = "";
    for (want, got) in pattern.iter().zip(segments) {
        match *want {
            "{id}" => id = got,
            literal if literal == got => {}
            _ => return None,
        }
    }
    Some(id)
}

/// `GET /v1/customers`: live customers, optionally those with one `email`.
fn list_customers(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let email = req.params.get("email");
    let rows = newest_first(store.objects("customer").filter(|c| {
        c["deleted"] != json!(true) && email.is_none_or(|e| c["email"].as_str() == Some(e))
    }));
    page(rows, req.params, "customer", "/v1/customers")
}

/// `GET /v1/customers/search`: see [`super::search`].
fn search_customers(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    search::search_customers(store, req.params)
}

/// `GET /v1/customers/{id}`: a deleted customer is its stub, with 200. With
/// `expand[]=subscriptions`, the customer embeds the first page of its subscriptions (what
/// `GET /v1/subscriptions?customer=<id>` answers: not canceled ones, 10 per page), as Stripe
/// does; any other expansion is refused as Stripe refuses it.
fn retrieve_customer(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let mut customer = stored(store, "customer", req.id)?;
    match req.params.get("expand[]").map(String::as_str) {
        None => {}
        Some("subscriptions") if customer["deleted"] == json!(true) => {}
        Some("subscriptions") => {
            let rows = newest_first(store.objects("subscription").filter(|s| {
                s["customer"].as_str() == Some(req.id)
                    && status_matches(s["status"].as_str().unwrap_or(""), None)
            }))
            .iter()
            .map(render_subscription)
            .collect();
            let url = format!("/v1/customers/{}/subscriptions", req.id);
            customer["subscriptions"] = page(rows, &Params::new(), "subscription", &url)?;
        }
        Some(other) => {
            return Err(ApiError::invalid(
                400,
                "parameter_invalid",
                Some("expand[0]"),
                format!("This property cannot be expanded ({other})."),
            ))
        }
    }
    Ok(customer)
}

/// `GET /v1/subscriptions`: by `customer`, `status` (not canceled ones unless asked) and
/// `price` (or its older name `plan`).
fn list_subscriptions(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
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
fn retrieve_subscription(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    store
        .get("subscription", req.id)
        .map(render_subscription)
        .ok_or_else(|| ApiError::missing("subscription", req.id, "id"))
}

/// `GET /v1/subscription_items`: the items of the required `subscription`, all of them.
fn list_subscription_items(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
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
fn list_prices(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    let active = match req.params.get("active").map(String::as_str) {
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
    let product = req.params.get("product");
    let rows = newest_first(store.objects("price").filter(|p| {
        product.is_none_or(|prod| p["product"].as_str() == Some(prod))
            && active.is_none_or(|a| p["active"] == json!(a))
    }));
    page(rows, req.params, "price", "/v1/prices")
}

/// `GET /v1/prices/{id}`.
fn retrieve_price(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    stored(store, "price", req.id)
}

/// `GET /v1/plans/{id}`: the plan view of a recurring price; a one-time price is no plan.
fn retrieve_plan(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
    store
        .get("price", req.id)
        .filter(|p| p["type"] == json!("recurring"))
        .map(plan_view)
        .ok_or_else(|| ApiError::missing("plan", req.id, "id"))
}

/// `GET /v1/products/{id}`.
fn retrieve_product(store: &Store, req: &Request<'_>) -> Result<Value, ApiError> {
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
    use crate::{
        fixtures::{customer, price, subscription, ItemSpec, Recurrence},
        render::EMBEDDED_ITEMS,
    };

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

    fn get(store: &Store, path_and_query: &str) -> Result<Value, ApiError> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        answer(store, "GET", path, query)
    }

    fn ids(page: &Value) -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn with_subscription(items: usize) -> Store {
        let mut store = store_with_customers(1);
        let recurring = Recurrence {
            interval: "month",
            interval_count: 1,
            usage_type: "licensed",
            meter: None,
        };
        let monthly = price("price_m", "prod_1", "m", "100", Some(recurring), 1);
        let once = price("price_o", "prod_1", "o", "100", None, 2);
        let item_ids: Vec<String> = (0..items).map(|i| format!("si_{i:02}")).collect();
        let specs: Vec<ItemSpec> = item_ids
            .iter()
            .map(|id| ItemSpec {
                id,
                price: &monthly,
                quantity: Some(1),
            })
            .collect();
        store.put(subscription(
            "sub_1",
            "cus_000",
            "active",
            &specs,
            (1, 2),
            1,
        ));
        store.put(monthly);
        store.put(once);
        store
    }

    #[test]
    fn lists_newest_first_and_pages_with_cursors() {
        let store = store_with_customers(5);
        let first = get(&store, "/v1/customers?limit=2").unwrap();
        assert_eq!(ids(&first), ["cus_004", "cus_003"]);
        assert_eq!(first["has_more"], json!(true));
        assert_eq!(first["url"], json!("/v1/customers"));
        let second = get(&store, "/v1/customers?limit=2&starting_after=cus_003").unwrap();
        assert_eq!(ids(&second), ["cus_002", "cus_001"]);
        let last = get(&store, "/v1/customers?limit=2&starting_after=cus_001").unwrap();
        assert_eq!(ids(&last), ["cus_000"]);
        assert_eq!(last["has_more"], json!(false));
        let back = get(&store, "/v1/customers?limit=2&ending_before=cus_001").unwrap();
        assert_eq!(ids(&back), ["cus_003", "cus_002"]);
        assert_eq!(back["has_more"], json!(true));
    }

    #[test]
    fn refuses_unknown_parameters_and_bad_limits_like_stripe() {
        let store = store_with_customers(1);
        let err = get(&store, "/v1/customers?colour=red").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body["error"]["code"], json!("parameter_unknown"));
        assert_eq!(err.body["error"]["param"], json!("colour"));
        assert_eq!(
            get(&store, "/v1/customers?limit=0").unwrap_err().status,
            400
        );
        assert_eq!(
            get(&store, "/v1/customers?limit=101").unwrap_err().status,
            400
        );
        let cursor = get(&store, "/v1/customers?starting_after=cus_nope").unwrap_err();
        assert_eq!(cursor.status, 404);
        assert_eq!(cursor.body["error"]["code"], json!("resource_missing"));
        assert_eq!(cursor.body["error"]["param"], json!("starting_after"));
    }

    #[test]
    fn a_retrieve_endpoint_takes_no_parameters_not_even_paging_ones() {
        let store = store_with_customers(1);
        let err = get(&store, "/v1/customers/cus_000?limit=1").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body["error"]["code"], json!("parameter_unknown"));
        assert_eq!(err.body["error"]["param"], json!("limit"));
    }

    #[test]
    fn a_repeated_parameter_is_invalid() {
        let store = store_with_customers(1);
        let err = get(&store, "/v1/customers?limit=1&limit=2").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body["error"]["code"], json!("parameter_invalid"));
        assert_eq!(err.body["error"]["param"], json!("limit"));
    }

    #[test]
    fn a_missing_object_is_resource_missing_with_param_id() {
        let store = Store::new();
        let err = get(&store, "/v1/products/prod_nope").unwrap_err();
        assert_eq!(err.status, 404);
        assert_eq!(err.body["error"]["type"], json!("invalid_request_error"));
        assert_eq!(err.body["error"]["code"], json!("resource_missing"));
        assert_eq!(err.body["error"]["param"], json!("id"));
        assert_eq!(
            err.body["error"]["message"],
            json!("No such product: 'prod_nope'")
        );
    }

    #[test]
    fn a_deleted_customer_is_answered_as_its_stub_and_left_out_of_lists() {
        let mut store = store_with_customers(2);
        assert!(store.delete_customer("cus_000", 99));
        assert_eq!(
            get(&store, "/v1/customers/cus_000").unwrap(),
            json!({"id": "cus_000", "object": "customer", "deleted": true})
        );
        assert_eq!(ids(&get(&store, "/v1/customers").unwrap()), ["cus_001"]);
    }

    #[test]
    fn percent_encoded_ids_are_decoded_before_lookup() {
        let store = store_with_customers(1);
        let found = get(&store, "/v1/customers/cus%5F000").unwrap();
        assert_eq!(found["id"], json!("cus_000"));
    }

    #[test]
    fn an_unknown_url_is_answered_with_stripes_exact_message() {
        let store = store_with_customers(1);
        let err = get(&store, "/v1/v1/customers/cus_x").unwrap_err();
        assert_eq!(err.status, 404);
        assert_eq!(
            err.body,
            json!({"error": {
                "type": "invalid_request_error",
                "message": "Unrecognized request URL (GET: /v1/v1/customers/cus_x). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            }})
        );
    }

    #[test]
    fn an_unknown_url_names_the_real_method_and_the_full_path() {
        let store = store_with_customers(1);
        let post = answer(&store, "POST", "/v1/customers", "").unwrap_err();
        assert_eq!(post.status, 404);
        assert_eq!(
            post.body["error"]["message"],
            json!("Unrecognized request URL (POST: /v1/customers). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.")
        );
        let unversioned = get(&store, "/customers").unwrap_err();
        assert_eq!(
            unversioned.body["error"]["message"],
            json!("Unrecognized request URL (GET: /customers). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.")
        );
        assert!(unversioned.body["error"].get("code").is_none());
        assert!(unversioned.body["error"].get("param").is_none());
    }

    #[test]
    fn a_subscription_embeds_at_most_the_limit_and_items_page_the_rest() {
        let store = with_subscription(EMBEDDED_ITEMS + 2);
        let sub = get(&store, "/v1/subscriptions/sub_1").unwrap();
        assert_eq!(
            sub["items"]["data"].as_array().unwrap().len(),
            EMBEDDED_ITEMS
        );
        assert_eq!(sub["items"]["has_more"], json!(true));
        let listed = get(&store, "/v1/subscriptions?customer=cus_000").unwrap();
        assert_eq!(listed["data"][0], sub);
        let items = get(
            &store,
            "/v1/subscription_items?subscription=sub_1&limit=100",
        )
        .unwrap();
        assert_eq!(ids(&items).len(), EMBEDDED_ITEMS + 2);
        assert_eq!(
            items["url"],
            json!("/v1/subscription_items?subscription=sub_1")
        );
    }

    #[test]
    fn subscription_items_need_an_existing_subscription() {
        let store = with_subscription(1);
        let missing = get(&store, "/v1/subscription_items").unwrap_err();
        assert_eq!(missing.status, 400);
        assert_eq!(missing.body["error"]["code"], json!("parameter_missing"));
        let unknown = get(&store, "/v1/subscription_items?subscription=sub_nope").unwrap_err();
        assert_eq!(unknown.status, 404);
        assert_eq!(unknown.body["error"]["param"], json!("subscription"));
    }

    #[test]
    fn subscriptions_filter_by_price_or_plan_and_refuse_unknown_statuses() {
        let store = with_subscription(1);
        for filter in ["price", "plan"] {
            let hit = get(&store, &format!("/v1/subscriptions?{filter}=price_m")).unwrap();
            assert_eq!(ids(&hit), ["sub_1"]);
            let miss = get(&store, &format!("/v1/subscriptions?{filter}=price_o")).unwrap();
            assert!(ids(&miss).is_empty());
        }
        let err = get(&store, "/v1/subscriptions?status=sleeping").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body["error"]["param"], json!("status"));
    }

    #[test]
    fn a_recurring_price_is_also_a_plan_and_a_one_time_price_is_not() {
        let store = with_subscription(1);
        let plan = get(&store, "/v1/plans/price_m").unwrap();
        assert_eq!(plan["object"], json!("plan"));
        assert_eq!(plan["interval"], json!("month"));
        let err = get(&store, "/v1/plans/price_o").unwrap_err();
        assert_eq!(err.status, 404);
        assert_eq!(
            err.body["error"]["message"],
            json!("No such plan: 'price_o'")
        );
    }

    #[test]
    fn prices_filter_by_active_and_refuse_a_non_boolean() {
        let mut store = with_subscription(1);
        store.update("price", "price_o", |p| p["active"] = json!(false));
        assert_eq!(
            ids(&get(&store, "/v1/prices?active=true").unwrap()),
            ["price_m"]
        );
        assert_eq!(
            ids(&get(&store, "/v1/prices?active=false").unwrap()),
            ["price_o"]
        );
        assert_eq!(
            ids(&get(&store, "/v1/prices?product=prod_1").unwrap()),
            ["price_o", "price_m"]
        );
        let err = get(&store, "/v1/prices?active=yes").unwrap_err();
        assert_eq!(err.body["error"]["param"], json!("active"));
    }

    fn search(store: &Store, query: &str, extra: &str) -> Result<Value, ApiError> {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .finish();
        get(store, &format!("/v1/customers/search?{q}{extra}"))
    }

    #[test]
    fn search_is_routed_before_a_customer_id_and_answers_a_search_result() {
        let mut store = store_with_customers(3);
        store.update("customer", "cus_001", |c| {
            c["metadata"] = json!({"sso": "u-1"});
            c["phone"] = json!("+4930123");
        });
        let found = search(&store, "email:'C1@example.com'", "").unwrap();
        assert_eq!(
            found,
            json!({"object": "search_result", "data": [store.get("customer", "cus_001").unwrap()],
                   "has_more": false, "next_page": null, "url": "/v1/customers/search"})
        );
        let both = search(&store, "metadata['sso']:'u-1' AND phone:\"+4930123\"", "").unwrap();
        assert_eq!(ids(&both), ["cus_001"]);
        let spaced = search(&store, "metadata['sso']:'u-1' name:'N'", "").unwrap();
        assert_eq!(ids(&spaced), ["cus_001"]);
        let none = search(&store, "metadata['sso']:'u-1' AND name:'M'", "").unwrap();
        assert!(ids(&none).is_empty());
    }

    #[test]
    fn search_pages_newest_first_with_next_page_tokens() {
        let store = store_with_customers(5);
        let first = search(&store, "name:'N'", "&limit=2").unwrap();
        assert_eq!(ids(&first), ["cus_004", "cus_003"]);
        assert_eq!(first["has_more"], json!(true));
        let token = first["next_page"].as_str().unwrap().to_owned();
        let second = search(&store, "name:'N'", &format!("&limit=2&page={token}")).unwrap();
        assert_eq!(ids(&second), ["cus_002", "cus_001"]);
        let token = second["next_page"].as_str().unwrap().to_owned();
        let last = search(&store, "name:'N'", &format!("&limit=2&page={token}")).unwrap();
        assert_eq!(ids(&last), ["cus_000"]);
        assert_eq!(last["has_more"], json!(false));
        assert_eq!(last["next_page"], json!(null));
        assert_eq!(
            ids(&search(&store, "name:'N'", "").unwrap()).len(),
            5,
            "default limit 10"
        );
    }

    #[test]
    fn search_does_not_find_deleted_customers() {
        let mut store = store_with_customers(2);
        assert!(store.delete_customer("cus_000", 99));
        let found = search(&store, "email:'c0@example.com'", "").unwrap();
        assert!(ids(&found).is_empty());
    }

    #[test]
    fn a_search_it_cannot_parse_or_page_is_a_400_naming_the_param() {
        let store = store_with_customers(1);
        let err = search(&store, "email:'a' OR name:'b'", "").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body["error"]["type"], json!("invalid_request_error"));
        assert_eq!(err.body["error"]["param"], json!("query"));
        assert!(err.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OR"));
        let missing = get(&store, "/v1/customers/search").unwrap_err();
        assert_eq!(missing.status, 400);
        assert_eq!(missing.body["error"]["code"], json!("parameter_missing"));
        assert_eq!(missing.body["error"]["param"], json!("query"));
        let page = search(&store, "name:'N'", "&page=nonsense").unwrap_err();
        assert_eq!(page.status, 400);
        assert_eq!(page.body["error"]["param"], json!("page"));
        let limit = search(&store, "name:'N'", "&limit=101").unwrap_err();
        assert_eq!(limit.body["error"]["param"], json!("limit"));
        let unknown = search(&store, "name:'N'", "&starting_after=cus_000").unwrap_err();
        assert_eq!(unknown.body["error"]["code"], json!("parameter_unknown"));
    }

    #[test]
    fn every_demo_customer_is_found_by_its_sso_metadata() {
        let store = crate::demo::store(1_800_000_000);
        let customers: Vec<Value> = store
            .objects("customer")
            .filter(|c| c["deleted"] != json!(true))
            .cloned()
            .collect();
        assert!(!customers.is_empty());
        for customer in customers {
            let sso = customer["metadata"]["sso"].as_str().unwrap();
            let found = search(&store, &format!("metadata['sso']:'{sso}'"), "").unwrap();
            assert_eq!(ids(&found), [customer["id"].as_str().unwrap()], "{sso}");
        }
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
