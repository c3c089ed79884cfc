//! The sandbox's endpoints, reads and writes, in one table (`ROUTES`): each is a method and
//! a path template with the function that answers it, a read ([`crate::reads`]: the store and
//! the query parameters) or a write ([`crate::writes`]: the store to change, the decoded form,
//! the time). A reader finds every endpoint in that one list.
//!
//! Requests are matched as Stripe matches them, which the tests below pin:
//!
//! - **A path's segments are percent-decoded** before they are matched, and `{id}` matches
//!   any one segment; the first route in the table that matches the method and path answers.
//! - **A method and path with no endpoint** is 404 `invalid_request_error` with Stripe's
//!   `Unrecognized request URL (<METHOD>: <path>). …` message (the path as sent) and no `code`
//!   or `param`.
//! - **A read's parameters**: one the endpoint does not take is 400 `parameter_unknown`, a
//!   repeated one 400 `parameter_invalid`, each with the offending `param`. A list takes the
//!   paging parameters too ([`crate::params`]: `limit` 1 to 100, default 10, and cursors; a
//!   cursor that names no row of the list is 404 `resource_missing` with the cursor as `param`;
//!   the `created` filters, `created[gt]`, `[gte]`, `[lt]`, `[lte]`). An array parameter is
//!   sent as `name[]` repeated or as `name[0]`, `name[1]`, ….
//!   Lists are `{"object": "list", "data", "has_more", "url"}`, newest first (by `created`, then
//!   id).
//! - **A write's parameters** are its form (a POST's body, a DELETE's query string), checked
//!   by the endpoint itself ([`crate::writes`]); the server runs it under its idempotency key.
//!
//! Refusals are [`ApiError`]s: an HTTP status and the `{"error": {…}}` body, in Stripe's shape.

use serde_json::Value;

use crate::{
    error::ApiError,
    params::{self, Params, PAGING},
    reads::{self, Request},
    store::Store,
    writes,
};

/// Every endpoint the sandbox has. A request matching none is answered as Stripe answers an
/// unknown URL.
const ROUTES: &[Route] = &[
    Route::list(
        "/v1/customers",
        &["email", "expand[]"],
        reads::list_customers,
    ),
    Route::write("POST", "/v1/customers", writes::create_customer),
    // Before `/v1/customers/{id}`, which would take `search` for an id.
    Route::retrieve_with(
        "/v1/customers/search",
        &["query", "limit", "page"],
        reads::search_customers,
    ),
    Route::retrieve_with(
        "/v1/customers/{id}",
        &["expand[]"],
        reads::retrieve_customer,
    ),
    Route::write("POST", "/v1/customers/{id}", writes::update_customer),
    Route::write("DELETE", "/v1/customers/{id}", writes::delete_customer),
    Route::list(
        "/v1/subscriptions",
        &["customer", "status", "price", "plan"],
        reads::list_subscriptions,
    ),
    Route::write("POST", "/v1/subscriptions", writes::create_subscription),
    Route::retrieve("/v1/subscriptions/{id}", reads::retrieve_subscription),
    Route::write(
        "POST",
        "/v1/subscriptions/{id}",
        writes::update_subscription,
    ),
    Route::write(
        "DELETE",
        "/v1/subscriptions/{id}",
        writes::cancel_subscription,
    ),
    Route::write(
        "POST",
        "/v1/subscriptions/{id}/resume",
        writes::resume_subscription,
    ),
    Route::list(
        "/v1/subscription_items",
        &["subscription"],
        reads::list_subscription_items,
    ),
    Route::list("/v1/prices", &["product", "active"], reads::list_prices),
    Route::retrieve("/v1/prices/{id}", reads::retrieve_price),
    Route::list("/v1/plans", &["active", "product"], reads::list_plans),
    Route::retrieve("/v1/plans/{id}", reads::retrieve_plan),
    Route::list("/v1/products", &["active"], reads::list_products),
    Route::retrieve("/v1/products/{id}", reads::retrieve_product),
    Route::list("/v1/events", &["type", "types[]"], reads::list_events),
];

/// One endpoint: a method, a path template and what answers it.
pub(crate) struct Route {
    method: &'static str,
    /// `/`-separated; the segment `{id}` matches any one segment.
    path: &'static str,
    handler: Handler,
}

/// What answers an endpoint.
pub(crate) enum Handler {
    /// A read: answers from the store and the query parameters it takes.
    Read(Read),
    /// A write (POST or DELETE): changes the store with its decoded form at a time, and
    /// reports the changes to send events for ([`writes::apply`]).
    Write(writes::Endpoint),
}

/// A read endpoint: the query parameters it takes, and its function.
pub(crate) struct Read {
    /// The query parameters it takes, besides [`PAGING`] for a list.
    params: &'static [&'static str],
    list: bool,
    endpoint: reads::Endpoint,
}

/// A request matched to its route.
pub(crate) struct Matched {
    /// The endpoint: its method and path template (what Stripe's limiters count by).
    pub(crate) endpoint: (&'static str, &'static str),
    /// What answers it.
    pub(crate) handler: &'static Handler,
    /// The segment matched by `{id}`, decoded; empty for a path without one.
    pub(crate) id: String,
}

/// The route for `method` on `path`, the path as received (still percent-encoded, no query),
/// or 404 [`ApiError::unrecognized`] when there is none.
pub(crate) fn find(method: &str, path: &str) -> Result<Matched, ApiError> {
    let segments = decoded_segments(path);
    ROUTES
        .iter()
        .find_map(|route| {
            let id = route.matches(method, &segments)?;
            Some(Matched {
                endpoint: (route.method, route.path),
                handler: &route.handler,
                id: id.to_owned(),
            })
        })
        .ok_or_else(|| ApiError::unrecognized(method, path))
}

impl Route {
    /// `GET` on a collection: `filters` and the paging parameters.
    const fn list(
        path: &'static str,
        filters: &'static [&'static str],
        endpoint: reads::Endpoint,
    ) -> Route {
        Route::read(path, filters, true, endpoint)
    }

    /// `GET` on one object: no parameters.
    const fn retrieve(path: &'static str, endpoint: reads::Endpoint) -> Route {
        Route::retrieve_with(path, &[], endpoint)
    }

    /// `GET` on one object, taking `params`.
    const fn retrieve_with(
        path: &'static str,
        params: &'static [&'static str],
        endpoint: reads::Endpoint,
    ) -> Route {
        Route::read(path, params, false, endpoint)
    }

    const fn read(
        path: &'static str,
        params: &'static [&'static str],
        list: bool,
        endpoint: reads::Endpoint,
    ) -> Route {
        Route {
            method: "GET",
            path,
            handler: Handler::Read(Read {
                params,
                list,
                endpoint,
            }),
        }
    }

    /// `method` (`POST`, or `DELETE` with its parameters in the query string) changing data.
    const fn write(method: &'static str, path: &'static str, endpoint: writes::Endpoint) -> Route {
        Route {
            method,
            path,
            handler: Handler::Write(endpoint),
        }
    }

    /// `Some(id)` (empty without `{id}`) if this route answers `method` on `segments`.
    fn matches<'s>(&self, method: &str, segments: &'s [String]) -> Option<&'s str> {
        if method != self.method {
            return None;
        }
        match_path(self.path, segments)
    }
}

impl Read {
    /// Answers the read from `store` for the object `id` (empty without `{id}`) with the raw
    /// `query`: the body of a 200, or a refusal.
    pub(crate) fn answer(&self, store: &Store, id: &str, query: &str) -> Result<Value, ApiError> {
        let params = params::parse(query)?;
        self.check_params(&params)?;
        (self.endpoint)(
            store,
            &Request {
                id,
                params: &params,
            },
        )
    }

    /// Refuses the first parameter (in name order) the endpoint does not take.
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

/// The `/`-separated segments of a raw path, each percent-decoded.
fn decoded_segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// `Some(id)` (empty without `{id}`) if the decoded `segments` match `pattern`, a path whose
/// segment `{id}` matches any one segment.
fn match_path<'s>(pattern: &str, segments: &'s [String]) -> Option<&'s str> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        demo,
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

    /// What the route table answers to `GET path_and_query`.
    fn get(store: &Store, path_and_query: &str) -> Result<Value, ApiError> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let matched = find("GET", path)?;
        match matched.handler {
            Handler::Read(read) => read.answer(store, &matched.id, query),
            Handler::Write(_) => panic!("GET {path} is routed to a write"),
        }
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
        let Err(post) = find("POST", "/v1/prices") else {
            panic!("POST /v1/prices has no endpoint");
        };
        assert_eq!(post.status, 404);
        assert_eq!(
            post.body["error"]["message"],
            json!("Unrecognized request URL (POST: /v1/prices). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.")
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
        let store = demo::store(1_800_000_000);
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
    fn only_the_listed_methods_and_paths_are_write_endpoints() {
        let write = |method: &str, path: &str| {
            find(method, path)
                .ok()
                .filter(|m| matches!(m.handler, Handler::Write(_)))
        };
        for (method, path) in [
            ("POST", "/v1/customers"),
            ("POST", "/v1/customers/cus_1"),
            ("DELETE", "/v1/customers/cus%5F1"),
            ("POST", "/v1/subscriptions"),
            ("POST", "/v1/subscriptions/sub_1"),
            ("DELETE", "/v1/subscriptions/sub_1"),
            ("POST", "/v1/subscriptions/sub_1/resume"),
        ] {
            assert!(write(method, path).is_some(), "{method} {path}");
        }
        for (method, path) in [
            ("GET", "/v1/customers/cus_1"),
            ("DELETE", "/v1/customers"),
            ("POST", "/v1/prices/price_1"),
            ("POST", "/v1/subscriptions/sub_1/pause"),
            ("PUT", "/v1/customers/cus_1"),
        ] {
            assert!(write(method, path).is_none(), "{method} {path}");
        }
        assert_eq!(
            write("DELETE", "/v1/customers/cus%5F1").unwrap().id,
            "cus_1"
        );
    }
}
