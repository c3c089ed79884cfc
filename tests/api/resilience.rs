//! Stripe failing or slow: retries, the rate limit, the deadline and stale-if-error.

use std::{num::NonZeroU32, time::Duration};

use serde_json::{json, Value};
use stripe_sandbox::{
    demo::{self, AVA},
    Fault,
};

use crate::helpers::{error_code, hasura_join, spawn_app, spawn_app_with, TestApp, NOW};

fn customer_query() -> String {
    format!("{{ customer(id: \"{AVA}\") {{ id email }} }}")
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_the_query_answers_without_errors() {
    let app = spawn_app().await;
    app.fail_next(None, Fault::Status(503), 2);

    let body = app.query(&customer_query()).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["customer"]["id"], json!(AVA));
    assert_eq!(app.stripe_calls(), 3);
}

#[tokio::test]
async fn a_lock_timeout_is_retried() {
    let app = spawn_app().await;
    let lock_timeout = json!({"error": {
        "type": "invalid_request_error", "code": "lock_timeout",
        "message": "This object cannot be accessed right now because another API request or Stripe process is currently accessing it."
    }});
    app.fail_next(None, Fault::Json(429, lock_timeout), 1);

    let body = app.query(&customer_query()).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(app.stripe_calls(), 2);
}

#[tokio::test]
async fn stripe_should_retry_false_is_obeyed_even_for_a_503() {
    let app = spawn_app().await;
    app.fail_next(None, Fault::ShouldRetry(503, false), 1);

    let body = app.query(&customer_query()).await;

    assert_eq!(error_code(&body), "STRIPE_UNAVAILABLE", "{body}");
    assert_eq!(app.stripe_calls(), 1);
}

#[tokio::test]
async fn stripe_should_retry_true_is_obeyed_even_for_a_400() {
    let app = spawn_app().await;
    app.fail_next(None, Fault::ShouldRetry(400, true), 1);

    let body = app.query(&customer_query()).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(app.stripe_calls(), 2);
}

#[tokio::test]
async fn retries_stop_at_the_configured_count() {
    let app = spawn_app_with(|o| o.config.client.retry.max_retries = 1).await;
    app.fail_next(None, Fault::Status(500), 5);

    let body = app.query(&customer_query()).await;

    assert_eq!(error_code(&body), "STRIPE_UNAVAILABLE");
    assert_eq!(app.stripe_calls(), 2);
}

async fn paced_app(per_second: u32, customers: usize) -> (TestApp, Vec<String>) {
    let app = crate::helpers::spawn_app_over_with(
        |store| demo::add_generated_customers(store, customers, NOW),
        |o| o.config.client.rate_limit = NonZeroU32::new(per_second),
    )
    .await;
    let ids = (0..customers).map(demo::generated_customer_id).collect();
    (app, ids)
}

fn join(ids: &[String]) -> String {
    hasura_join(ids, "{ id }")
}

#[tokio::test]
async fn calls_beyond_the_rate_limit_queue_and_are_paced_not_refused() {
    // 5 per second: two calls at once (the bucket's burst, half of Stripe's), then one every
    // 200 ms.
    let (app, ids) = paced_app(5, 10).await;

    let body = app.query(&join(&ids)).await;

    assert!(body.get("errors").is_none(), "{body}");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(body["data"][format!("f{i}")]["id"], json!(id));
    }
    let calls = app.sandbox.calls();
    assert_eq!(calls.len(), 10);
    // The tenth call cannot start before five more tokens were earned: 5 × 200 ms after the
    // first. A lower bound (a slow machine only widens the spread), with room for the first
    // call's own connection setup; unpaced, all ten arrive within a few milliseconds.
    let spread = calls[9].at - calls[0].at;
    assert!(spread >= Duration::from_millis(800), "{spread:?}");
}

#[tokio::test]
async fn a_call_that_cannot_get_a_rate_limit_slot_before_the_deadline_times_out() {
    let app = crate::helpers::spawn_app_over_with(
        |store| demo::add_generated_customers(store, 3, NOW),
        |o| {
            o.config.client.rate_limit = NonZeroU32::new(1);
            o.config.client.deadline = Duration::from_secs(1);
        },
    )
    .await;
    let ids: Vec<String> = (0..3).map(demo::generated_customer_id).collect();

    let body = app.query(&join(&ids)).await;

    // One token now, the next after 1 s: the third cannot start within its 1 s deadline.
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default();
    let answered = (0..3)
        .filter(|i| body["data"][format!("f{i}")] != Value::Null)
        .count();
    assert!(answered >= 1, "{body}");
    assert!(!codes.is_empty(), "{body}");
    assert!(codes.iter().all(|c| *c == "STRIPE_TIMEOUT"), "{body}");
    assert_eq!(answered + codes.len(), 3, "{body}");
    // The one that waited longest never reached Stripe (a call whose token came right at
    // its deadline may have been sent, then cut off).
    let calls = app.stripe_calls();
    assert!(answered <= calls && calls < 3, "{calls} calls for {body}");
}

#[tokio::test]
async fn when_stripe_fails_after_retries_the_last_good_value_is_served_without_errors() {
    // TTL 0: every query asks Stripe again, so the second one meets the outage.
    let app = spawn_app_with(|o| o.config.cache.ttl = Duration::ZERO).await;
    let good = app.data(&customer_query()).await;
    app.fail_next(None, Fault::Status(503), 3);

    let body = app.query(&customer_query()).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"], good);
    assert_eq!(
        app.stripe_calls(),
        4,
        "one good call, then three failed attempts"
    );
}

#[tokio::test]
async fn stale_if_error_never_hides_a_rejected_key() {
    let app = spawn_app_with(|o| o.config.cache.ttl = Duration::ZERO).await;
    app.data(&customer_query()).await;
    app.fail_next(None, Fault::Status(401), 1);

    let body = app.query(&customer_query()).await;

    assert_eq!(error_code(&body), "STRIPE_AUTHENTICATION_FAILED", "{body}");
}

#[tokio::test]
async fn without_a_stale_window_an_outage_is_an_error() {
    let app = spawn_app_with(|o| {
        o.config.cache.ttl = Duration::ZERO;
        o.config.cache.stale_if_error = Duration::ZERO;
    })
    .await;
    app.data(&customer_query()).await;
    app.fail_next(None, Fault::Status(503), 3);

    let body = app.query(&customer_query()).await;

    assert_eq!(error_code(&body), "STRIPE_UNAVAILABLE", "{body}");
}

#[tokio::test]
async fn a_body_cut_short_or_a_dropped_connection_is_retried_then_reported_as_unavailable() {
    let app = spawn_app().await;
    for (fault, id) in [(Fault::Truncated, AVA), (Fault::Dropped, "cus_ChloeNguyen")] {
        app.sandbox.reset_calls();
        app.fail_next(None, fault.clone(), 1);
        let body = app
            .query(&format!("{{ customer(id: \"{id}\") {{ id }} }}"))
            .await;
        assert!(body.get("errors").is_none(), "{fault:?}: {body}");
        assert_eq!(app.stripe_calls(), 2, "{fault:?}: one retry");
    }
    app.fail_next(None, Fault::Truncated, 3);
    let body = app
        .query("{ customer(id: \"cus_BenCarter\") { id } }")
        .await;
    assert_eq!(error_code(&body), "STRIPE_UNAVAILABLE", "{body}");
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_covered_by_stale_if_error() {
    let app = spawn_app_with(|o| o.config.cache.ttl = Duration::ZERO).await;
    let good = app.data(&customer_query()).await;
    app.fail_next(None, Fault::Garbage, 1);

    let body = app.query(&customer_query()).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"], good);
}
