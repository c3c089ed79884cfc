//! Stripe failures map to one `extensions.code` each, and never leak the key.

use std::time::Duration;

use serde_json::Value;
use stripe_graphql::secret::SecretString;
use stripe_sandbox::{demo::AVA, Fault};

use crate::helpers::{error_code, spawn_app, spawn_app_with, KEY};

async fn customer_error(app: &crate::helpers::TestApp) -> Value {
    let body = app
        .query(&format!("{{ customer(id: \"{AVA}\") {{ id }} }}"))
        .await;
    assert_eq!(body["data"]["customer"], Value::Null, "{body}");
    assert!(
        !body.to_string().contains(KEY),
        "the key never appears in a response"
    );
    body
}

#[tokio::test]
async fn stripe_statuses_map_to_graphql_error_codes() {
    let app = spawn_app().await;
    // Transient failures are tried three times (two retries) before they are reported;
    // answers that would repeat are reported after one.
    for (fault, code, attempts) in [
        (Fault::Status(429), "STRIPE_RATE_LIMITED", 3),
        (Fault::Status(500), "STRIPE_UNAVAILABLE", 3),
        (Fault::Status(503), "STRIPE_UNAVAILABLE", 3),
        (Fault::Status(400), "STRIPE_INVALID_REQUEST", 1),
        (Fault::Status(403), "STRIPE_PERMISSION_DENIED", 1),
        (Fault::Garbage, "STRIPE_BAD_RESPONSE", 1),
    ] {
        app.sandbox.reset_calls();
        app.fail_next(None, fault.clone(), attempts);
        let body = customer_error(&app).await;
        assert_eq!(error_code(&body), code, "{fault:?}: {body}");
        assert_eq!(app.stripe_calls(), attempts, "{fault:?}");
        if let Fault::Status(_) | Fault::Garbage = fault {
            let request_id = body["errors"][0]["extensions"]["stripeRequestId"]
                .as_str()
                .unwrap();
            assert!(request_id.starts_with("req_sandbox"), "{body}");
        }
    }
}

#[tokio::test]
async fn a_rejected_key_maps_to_authentication_failed_without_showing_it() {
    let app = spawn_app_with(|o| {
        crate::helpers::endpoint(&mut o.config).secret_key =
            SecretString::new("sk_test_wrong_key_4242");
    })
    .await;
    let body = customer_error(&app).await;
    assert_eq!(error_code(&body), "STRIPE_AUTHENTICATION_FAILED");
    assert!(!body.to_string().contains("sk_test_wrong_key_4242"));
}

#[tokio::test]
async fn a_stripe_call_that_never_answers_times_out_with_a_code() {
    let app = spawn_app_with(|o| {
        o.config.client.timeout = Duration::from_secs(1);
        o.config.client.retry.max_retries = 0;
    })
    .await;
    app.fail_next(None, Fault::Hang, 1);
    let body = customer_error(&app).await;
    assert_eq!(error_code(&body), "STRIPE_TIMEOUT");
    assert_eq!(
        body["errors"][0]["message"],
        "Stripe did not answer within 1s"
    );
}

#[tokio::test]
async fn an_unreachable_stripe_maps_to_unavailable() {
    let app = spawn_app_with(|o| {
        // A port nothing listens on: bind one, read its number, free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        crate::helpers::endpoint(&mut o.config).api_base =
            format!("http://127.0.0.1:{port}").parse().unwrap();
    })
    .await;
    let body = customer_error(&app).await;
    assert_eq!(error_code(&body), "STRIPE_UNAVAILABLE");
}

#[tokio::test]
async fn every_stripe_call_carries_the_key_and_the_pinned_version() {
    let app = spawn_app_with(|o| o.config.client.api_version = "2025-03-31.basil".into()).await;
    app.data(&format!(
        "{{ customer(id: \"{AVA}\") {{ subscriptions {{ data {{ items {{ data {{ price {{ product {{ name }} }} }} }} }} }} }} }}"
    ))
    .await;
    let calls = app.sandbox.calls();
    assert!(calls.len() >= 3, "{calls:?}");
    for call in calls {
        assert!(call.authorized, "{call:?}");
        assert_eq!(call.stripe_version.as_deref(), Some("2025-03-31.basil"));
        assert_eq!(call.method, "GET");
    }
}

#[tokio::test]
async fn an_api_base_that_already_ends_in_v1_is_an_error_never_a_silent_null() {
    // Startup refuses such a base (tests/api/cli.rs); a proxy that adds its own /v1 gets the
    // same answer from Stripe, which must not pass for "this customer does not exist".
    let app = spawn_app_with(|o| {
        let endpoint = crate::helpers::endpoint(&mut o.config);
        endpoint.api_base = endpoint.api_base.join("v1").unwrap();
    })
    .await;
    for _ in 0..2 {
        let body = customer_error(&app).await;
        assert_eq!(error_code(&body), "STRIPE_UNKNOWN_ENDPOINT", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("STRIPE_API_BASE"),
            "{body}"
        );
    }
    assert_eq!(
        app.sandbox.calls_to("/v1/v1/customers/cus_AvaMartinez"),
        2,
        "the error is not cached as a missing customer"
    );
}

#[tokio::test]
async fn an_answer_of_another_object_type_is_an_error_not_data() {
    let app = spawn_app().await;
    app.fail_next(
        Some("/v1/prices/price_ProMonthly"),
        Fault::Json(
            200,
            serde_json::json!({"object": "search_result", "data": [], "has_more": false}),
        ),
        1,
    );
    let body = app
        .query("{ price(id: \"price_ProMonthly\") { id unitAmount } }")
        .await;
    assert_eq!(body["data"]["price"], Value::Null);
    assert_eq!(error_code(&body), "STRIPE_BAD_RESPONSE", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Stripe answered a `search_result` where price was expected"
    );

    app.fail_next(
        Some("/v1/customers"),
        Fault::Json(
            200,
            serde_json::json!({"object": "customer", "id": "cus_1"}),
        ),
        1,
    );
    let body = app.query("{ customers { hasMore } }").await;
    assert_eq!(
        error_code(&body),
        "STRIPE_BAD_RESPONSE",
        "a list must be a list: {body}"
    );

    let recovered = app.data("{ price(id: \"price_ProMonthly\") { id } }").await;
    assert_eq!(
        recovered["price"]["id"], "price_ProMonthly",
        "the refusal is not cached"
    );
}
