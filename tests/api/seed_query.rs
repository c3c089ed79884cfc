//! The seed's query, as Hasura sends it, on current Stripe API versions.

use serde_json::{json, Value};
use stripe_sandbox::demo::{AVA, DIEGO};

use crate::helpers::{fixture, spawn_app};

/// The request Hasura sends for the seed query's `stripe_data`, for one customer.
fn seed_join_request(customer: &str) -> Value {
    let request: Value = serde_json::from_str(&fixture("seed-join-request.json")).unwrap();
    let query = request["query"]
        .as_str()
        .unwrap()
        .replace("cus_REPLACE_ME", customer);
    json!({ "query": query })
}

/// The `stripe_data { … }` selection of the seed query file, cut out by brace matching.
fn seed_stripe_data_selection() -> String {
    let text = fixture("seed-query.graphql");
    let start = text
        .find("stripe_data {")
        .expect("seed query selects stripe_data")
        + "stripe_data ".len();
    let mut depth = 0;
    for (offset, ch) in text[start..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return text[start..=start + offset].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces in the seed query");
}

#[tokio::test]
async fn the_seed_query_as_hasura_sends_it_returns_stripe_values_without_errors() {
    let app = spawn_app().await;

    let response = app.post(seed_join_request(AVA)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();

    assert!(body.get("errors").is_none(), "no errors key at all: {body}");
    let customer = &body["data"]["f0"];
    let stored = app.stored("customer", AVA);
    assert_eq!(customer["id"], json!(AVA));
    assert_eq!(customer["metadata"], stored["metadata"]);
    let subs = customer["subscriptions"]["data"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "Ava has one live subscription: {body}");
    let sub = &subs[0];
    let stored_sub = app.stored("subscription", "sub_AvaPro");
    assert_eq!(sub["id"], json!("sub_AvaPro"));
    assert_eq!(sub["status"], json!("active"));
    assert_eq!(sub["created"], stored_sub["created"]);
    assert_eq!(sub["metadata"], stored_sub["metadata"]);
    assert_eq!(sub["cancelAt"], Value::Null);
    // dahlia has no subscription-level period: it is derived from the items.
    assert!(stored_sub.get("current_period_start").is_none());
    let item0 = &stored_sub["items"]["data"][0];
    assert_eq!(sub["currentPeriodStart"], item0["current_period_start"]);
    assert_eq!(sub["currentPeriodEnd"], item0["current_period_end"]);
    // Two items: no single legacy plan.
    assert_eq!(sub["plan"], Value::Null);
    let items = sub["items"]["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for (item, stored_item) in items
        .iter()
        .zip(stored_sub["items"]["data"].as_array().unwrap())
    {
        assert_eq!(item["id"], stored_item["id"]);
        assert_eq!(item["metadata"], stored_item["metadata"]);
        assert_eq!(item["price"]["id"], stored_item["price"]["id"]);
        assert_eq!(item["price"]["nickname"], stored_item["price"]["nickname"]);
        assert_eq!(
            item["price"]["unitAmount"],
            stored_item["price"]["unit_amount"]
        );
        assert_eq!(item["price"]["recurring"]["usageType"], json!("licensed"));
        assert_eq!(item["price"]["recurring"]["aggregateUsage"], Value::Null);
    }
}

#[tokio::test]
async fn a_single_item_subscription_exposes_its_item_plan_as_the_legacy_plan() {
    let app = spawn_app().await;
    let body: Value = app
        .post(seed_join_request(DIEGO))
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let sub = &body["data"]["f0"]["subscriptions"]["data"][0];
    let stored_item = &app.stored("subscription", "sub_DiegoPro")["items"]["data"][0];
    assert_eq!(sub["plan"]["id"], json!("price_ProYearly"));
    assert_eq!(sub["plan"]["nickname"], stored_item["plan"]["nickname"]);
    assert_eq!(sub["plan"]["created"], stored_item["plan"]["created"]);
    assert_eq!(sub["plan"]["metadata"], json!({}));
    assert_eq!(sub["cancelAt"], stored_item["current_period_end"]);
}

#[tokio::test]
async fn the_seed_query_costs_one_stripe_call_cold_and_none_warm() {
    let app = spawn_app().await;

    app.post(seed_join_request(AVA)).await;
    let calls = app.sandbox.calls();
    assert_eq!(calls.len(), 1, "cold: {calls:?}");
    assert_eq!(calls[0].path, "/v1/customers/cus_AvaMartinez");
    assert_eq!(calls[0].query, "expand%5B%5D=subscriptions");

    app.sandbox.reset_calls();
    let body: Value = app.post(seed_join_request(AVA)).await.json().await.unwrap();
    assert_eq!(body["data"]["f0"]["id"], json!(AVA));
    assert_eq!(app.stripe_calls(), 0, "warm: {:?}", app.sandbox.calls());
}

#[tokio::test]
async fn the_stripe_data_subtree_of_the_seed_query_file_runs_verbatim() {
    let app = spawn_app().await;
    let selection = seed_stripe_data_selection();
    let data = app
        .data(&format!(
            "query {{ stripe_data: customer(id: \"{AVA}\") {selection} }}"
        ))
        .await;
    assert_eq!(data["stripe_data"]["id"], json!(AVA));
    assert_eq!(
        data["stripe_data"]["subscriptions"]["data"][0]["id"],
        json!("sub_AvaPro")
    );
}
