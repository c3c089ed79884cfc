//! The cache in front of Stripe, proved by counting the sandbox's calls.

use std::time::Duration;

use serde_json::{json, Value};
use stripe_sandbox::{demo::AVA, Fault};

use crate::helpers::{error_code, spawn_app, spawn_app_with};

#[tokio::test]
async fn concurrent_identical_requests_are_coalesced_into_one_stripe_call() {
    // TTL 0: nothing is reused once answered, so one call for ten requests can only come
    // from coalescing the requests that arrive while the first call is in flight.
    let app = spawn_app_with(|o| {
        o.config.cache.ttl = Duration::ZERO;
        o.config.cache.not_found_ttl = Duration::ZERO;
        o.latency = Duration::from_millis(300);
    })
    .await;
    let query = format!("{{ customer(id: \"{AVA}\") {{ id email }} }}");

    let answers = futures::future::join_all((0..10).map(|_| app.data(&query))).await;

    for data in &answers {
        assert_eq!(data["customer"]["id"], json!(AVA));
    }
    assert_eq!(app.sandbox.calls_to("/v1/customers/cus_AvaMartinez"), 1);
    assert_eq!(app.sandbox.peak_in_flight(), 1);
}

#[tokio::test]
async fn a_second_identical_query_is_served_from_the_cache() {
    let app = spawn_app().await;
    let query = format!("{{ customer(id: \"{AVA}\") {{ id name }} }}");

    let first = app.data(&query).await;
    let second = app.data(&query).await;

    assert_eq!(first, second);
    assert_eq!(app.stripe_calls(), 1);
}

#[tokio::test]
async fn a_ttl_of_zero_disables_caching() {
    let app = spawn_app_with(|o| o.config.cache.ttl = Duration::ZERO).await;
    let query = format!("{{ customer(id: \"{AVA}\") {{ id }} }}");

    app.data(&query).await;
    app.data(&query).await;

    assert_eq!(app.stripe_calls(), 2);
}

#[tokio::test]
async fn not_found_answers_are_cached_too() {
    let app = spawn_app().await;
    let query = "{ customer(id: \"cus_Nobody\") { id } }";

    assert_eq!(app.data(query).await["customer"], Value::Null);
    assert_eq!(app.data(query).await["customer"], Value::Null);

    assert_eq!(app.sandbox.calls_to("/v1/customers/cus_Nobody"), 1);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let app = spawn_app().await;
    let query = format!("{{ customer(id: \"{AVA}\") {{ id }} }}");
    // The first attempt and both retries fail.
    app.fail_next(None, Fault::Status(503), 3);

    let failed = app.query(&query).await;
    assert_eq!(error_code(&failed), "STRIPE_UNAVAILABLE");
    assert_eq!(app.stripe_calls(), 3);
    let recovered = app.data(&query).await;

    assert_eq!(recovered["customer"]["id"], json!(AVA));
    assert_eq!(app.stripe_calls(), 4);
}

#[tokio::test]
async fn a_listed_subscription_is_then_served_by_id_without_a_call() {
    let app = spawn_app().await;
    app.data(&format!(
        "{{ customer(id: \"{AVA}\") {{ subscriptions {{ data {{ id }} }} }} }}"
    ))
    .await;
    app.sandbox.reset_calls();

    let data = app
        .data("{ subscription(id: \"sub_AvaPro\") { id customerId status } }")
        .await;

    assert_eq!(data["subscription"]["customerId"], json!(AVA));
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn queries_that_differ_only_in_aliases_and_layout_share_entries() {
    let app = spawn_app().await;
    app.data(&format!("{{ a: customer(id: \"{AVA}\") {{ id }} }}"))
        .await;
    app.data(&format!(
        "query Named {{\n  b: customer(id:\"{AVA}\") {{ email id }}\n}}"
    ))
    .await;
    assert_eq!(app.stripe_calls(), 1);
}
