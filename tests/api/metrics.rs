//! `GET /metrics`: the Prometheus text format, GraphQL request counters, `METRICS_AUTH`, and
//! the `graphql` tracing span around each operation.

use std::{process::Command, time::Duration};

use serde_json::{json, Value};
use stripe_graphql::{events::WebhookSettings, http::MetricsAuth, secret::SecretString};
use stripe_sandbox::{demo::AVA, Fault};

use crate::{
    helpers::{sample_in, spawn_app, spawn_app_with, TestApp},
    process::Server,
};

const TOKEN: &str = "metrics-scraper-token-9";
const WEBHOOK_SECRET: &str = "whsec_metrics_test_secret";

/// GETs /metrics with `token` (if any) and returns the status and body.
async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.http.get(format!("{}/metrics", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("server answers");
    (
        response.status().as_u16(),
        response.text().await.expect("a body"),
    )
}

/// The GraphQL request counter for `outcome` in a scrape.
fn requests(text: &str, outcome: &str) -> f64 {
    sample_in(
        text,
        &format!("stripe_graphql_graphql_requests_total{{outcome=\"{outcome}\"}}"),
    )
    .unwrap_or_else(|| panic!("the {outcome} series in:\n{text}"))
}

#[tokio::test]
async fn metrics_answer_the_prometheus_text_format_with_the_families_present() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "# TYPE stripe_graphql_graphql_requests_total counter",
        "# TYPE stripe_graphql_graphql_request_duration_seconds histogram",
        "# TYPE stripe_graphql_cache_events_total counter",
        "# TYPE stripe_graphql_stripe_rate_limit_wait_seconds histogram",
        "# TYPE stripe_graphql_build_info gauge",
        "stripe_graphql_cache_events_total{event=\"hit\"} 0",
        "stripe_graphql_graphql_requests_total{outcome=\"ok\"} 0",
        "stripe_graphql_graphql_request_duration_seconds_count 0",
    ] {
        assert!(text.lines().any(|l| l == line), "`{line}` in:\n{text}");
    }
    assert_eq!(
        sample_in(
            &text,
            &format!(
                "stripe_graphql_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    assert_eq!(app.stripe_calls(), 0, "a scrape never calls Stripe");
}

#[tokio::test]
async fn a_successful_query_counts_as_ok_and_a_query_with_an_error_as_errors() {
    let app = spawn_app().await;
    app.data("{ __typename }").await;
    let (_, text) = scrape(&app, None).await;
    assert_eq!(requests(&text, "ok"), 1.0);
    assert_eq!(requests(&text, "errors"), 0.0);

    let body = app.query("{ customer(id: \"not an id\") { id } }").await;
    assert!(body["errors"].is_array(), "{body}");
    let response = app
        .http
        .get(format!(
            "{}/graphql?query=%7B%20customer(id%3A%20%22cus_AvaMartinez%22)%20%7B%20nope%20%7D%20%7D",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, text) = scrape(&app, None).await;
    assert_eq!(requests(&text, "ok"), 1.0);
    assert_eq!(
        requests(&text, "errors"),
        2.0,
        "a POST and a GET with errors"
    );
    assert_eq!(requests(&text, "refused"), 0.0);
    assert_eq!(
        sample_in(
            &text,
            "stripe_graphql_graphql_request_duration_seconds_count"
        ),
        Some(3.0)
    );
}

#[tokio::test]
async fn a_batch_is_answered_in_order_and_counted_once() {
    let app = spawn_app().await;
    let response = app
        .post(json!([
            { "query": "query First { __typename }" },
            { "query": "query Second { customer(id: \"cus_AvaMartinez\") { nope } }" },
            { "query": "{ customer(id: \"cus_AvaMartinez\") { id } }" },
        ]))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["data"]["__typename"], json!("QueryRoot"));
    assert_eq!(
        body[1]["errors"][0]["extensions"]["code"],
        json!("GRAPHQL_VALIDATION_FAILED")
    );
    assert_eq!(body[2]["data"]["customer"]["id"], json!("cus_AvaMartinez"));
    assert_eq!(body.as_array().map(Vec::len), Some(3));
    let (_, text) = scrape(&app, None).await;
    assert_eq!(requests(&text, "errors"), 1.0, "one HTTP request");
    assert_eq!(requests(&text, "ok"), 0.0);
}

#[tokio::test]
async fn refused_requests_count_as_refused_and_the_graphiql_page_is_not_counted() {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let url = format!("{}/graphql", app.base);
    let without_token = app
        .http
        .post(&url)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(without_token.status(), 401);
    let not_graphql = app
        .http
        .post(&url)
        .bearer_auth(TOKEN)
        .body("{\"nope\": 1}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_graphql.status(), 400);
    let page = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(page.status(), 200, "GraphiQL");
    let page_without_token = app.http.get(&url).send().await.unwrap();
    assert_eq!(page_without_token.status(), 401);

    let (_, text) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(requests(&text, "refused"), 2.0, "{text}");
    assert_eq!(requests(&text, "ok"), 0.0);
    assert_eq!(requests(&text, "errors"), 0.0);
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn with_a_token_and_metrics_auth_token_metrics_needs_the_token() {
    let app = spawn_app_with(|o| {
        o.config.http.auth_token = Some(SecretString::new(TOKEN));
        o.config.http.metrics_auth = MetricsAuth::Token;
    })
    .await;
    let (status, body) = scrape(&app, None).await;
    assert_eq!(status, 401);
    assert!(!body.contains("stripe_graphql_"), "{body}");
    assert!(!body.contains(TOKEN));
    let (status, _) = scrape(&app, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, body) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("stripe_graphql_graphql_requests_total"));
}

#[tokio::test]
async fn with_metrics_auth_none_metrics_is_open_even_with_a_token() {
    let app = spawn_app_with(|o| {
        o.config.http.auth_token = Some(SecretString::new(TOKEN));
        o.config.http.metrics_auth = MetricsAuth::None;
    })
    .await;
    let (status, body) = scrape(&app, None).await;
    assert_eq!(status, 200);
    assert!(body.contains("stripe_graphql_graphql_requests_total"));
    // /graphql still needs the token.
    let response = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn without_a_token_metrics_is_open_under_the_default_setting() {
    let app = spawn_app().await;
    let (status, _) = scrape(&app, None).await;
    assert_eq!(status, 200);
}

#[test]
fn metrics_auth_is_a_documented_setting_that_lists_its_values_when_wrong() {
    let binary = env!("CARGO_BIN_EXE_stripe-graphql");
    let help = Command::new(binary)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("env: METRICS_AUTH"), "{help}");
    let wrong = Command::new(binary)
        .env_clear()
        .envs([("DEMO", "true"), ("METRICS_AUTH", "open")])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = String::from_utf8(wrong.stderr).unwrap();
    assert_eq!(
        stderr.trim_end(),
        "error: invalid value 'open' for '--metrics-auth <METRICS_AUTH>'; possible values: token, none (from the environment variable METRICS_AUTH)"
    );
}

#[tokio::test]
async fn stripe_calls_are_logged_inside_a_graphql_span_with_the_request_id_and_operation() {
    let mut server = Server::spawn(
        &["--demo"],
        &[("RUST_LOG", "info,stripe_graphql::stripe=debug")],
    );
    let listening = server.wait_until("with the GraphQL endpoint", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("GraphQL endpoint: "))
    });
    let url = listening["message"]
        .as_str()
        .unwrap()
        .trim_start_matches("GraphQL endpoint: ")
        .to_owned();
    let response = reqwest::Client::new()
        .post(&url)
        .header("X-Request-Id", "span-test-42")
        .json(&json!({ "query": "query Lookup { customer(id: \"cus_AvaMartinez\") { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "span-test-42");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["customer"]["id"], json!("cus_AvaMartinez"));

    let in_graphql_span = |event: &Value| {
        event["spans"].as_array().and_then(|spans| {
            spans
                .iter()
                .find(|span| span["name"] == json!("graphql"))
                .cloned()
        })
    };
    let call = server.wait_until("about a Stripe call inside a graphql span", |e| {
        e["message"] == json!("stripe call") && in_graphql_span(e).is_some()
    });
    let span = in_graphql_span(&call).unwrap();
    assert_eq!(span["request_id"], json!("span-test-42"), "{call}");
    assert_eq!(span["operation"], json!("Lookup"), "{call}");
    // Inside it, the attempt's own span carries the endpoint and Stripe's Request-Id.
    let attempt = call["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["name"] == json!("stripe_call"))
        .unwrap_or_else(|| panic!("a stripe_call span: {call}"));
    assert_eq!(
        attempt["endpoint"],
        json!("GET /v1/customers/{id}"),
        "{call}"
    );
    assert_eq!(attempt["status"], json!(200), "{call}");
    assert!(
        attempt["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_sandbox")),
        "{call}"
    );
    let request = server.wait_until("for the request", |e| e["message"] == json!("request"));
    assert_eq!(request["request_id"], json!("span-test-42"), "{request}");
    assert_eq!(request["path"], json!("/graphql"), "{request}");
}

/// The cache event counter for `event` in a scrape.
fn cache_events(text: &str, event: &str) -> f64 {
    sample_in(
        text,
        &format!("stripe_graphql_cache_events_total{{event=\"{event}\"}}"),
    )
    .unwrap_or_else(|| panic!("the {event} series in:\n{text}"))
}

#[tokio::test]
async fn stripe_calls_and_cache_events_are_counted_as_they_happen() {
    let app = spawn_app().await;
    let query =
        format!("{{ a: customer(id: \"{AVA}\") {{ id }} b: customer(id: \"{AVA}\") {{ email }} }}");

    app.data(&query).await;
    app.data(&query).await;

    let (_, text) = scrape(&app, None).await;
    assert_eq!(
        sample_in(
            &text,
            "stripe_graphql_stripe_requests_total{endpoint=\"GET /v1/customers/{id}\",status=\"200\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample_in(
            &text,
            "stripe_graphql_stripe_request_duration_seconds_count{endpoint=\"GET /v1/customers/{id}\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // First query: one miss, and the repeated alias either joined the call or found it done;
    // second query: two hits.
    assert_eq!(cache_events(&text, "miss"), 1.0);
    assert_eq!(
        cache_events(&text, "hit") + cache_events(&text, "coalesced"),
        3.0
    );
}

#[tokio::test]
async fn retries_and_stale_serves_show_in_the_metrics() {
    let app = spawn_app_with(|o| o.config.cache.ttl = Duration::ZERO).await;
    let query = format!("{{ customer(id: \"{AVA}\") {{ id }} }}");
    app.data(&query).await;
    app.fail_next(None, Fault::Status(503), 3);

    let body = app.query(&query).await;
    assert!(body.get("errors").is_none(), "{body}");

    let (_, text) = scrape(&app, None).await;
    let endpoint = "endpoint=\"GET /v1/customers/{id}\"";
    assert_eq!(
        sample_in(
            &text,
            &format!("stripe_graphql_stripe_retries_total{{{endpoint},reason=\"5xx\"}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample_in(
            &text,
            &format!("stripe_graphql_stripe_requests_total{{{endpoint},status=\"503\"}}")
        ),
        Some(3.0)
    );
    assert_eq!(cache_events(&text, "stale_served"), 1.0);
}

#[tokio::test]
async fn webhook_deliveries_and_the_invalidations_they_cause_are_counted() {
    let app = spawn_app_with(|o| {
        o.config.webhook = Some(WebhookSettings {
            secret: SecretString::new(WEBHOOK_SECRET),
            tolerance: Duration::from_secs(300),
        })
    })
    .await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), WEBHOOK_SECRET);
    let query = format!("{{ customer(id: \"{AVA}\") {{ name }} }}");
    app.data(&query).await;

    app.sandbox
        .update("customer", AVA, |c| c["name"] = json!("Ava Counted"))
        .await
        .unwrap();
    app.sandbox
        .post_webhook(b"{}", Some("t=1,v1=00"))
        .await
        .unwrap();
    assert_eq!(
        app.data(&query).await["customer"]["name"],
        json!("Ava Counted")
    );

    let (_, text) = scrape(&app, None).await;
    assert_eq!(
        sample_in(
            &text,
            "stripe_graphql_webhook_events_total{type=\"customer\",outcome=\"applied\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample_in(
            &text,
            "stripe_graphql_webhook_events_total{type=\"unreadable\",outcome=\"rejected\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(cache_events(&text, "invalidated"), 1.0);
}
