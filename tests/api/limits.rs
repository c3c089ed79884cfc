//! Bounded cost per request: the Stripe-field budget, depth and complexity limits, the request
//! deadline and the bound on requests in flight, each refused with its code and no Stripe call.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use stripe_graphql::limits::Limits;
use stripe_sandbox::demo::{AVA, BEN, CHLOE, DIEGO, EMMA, GRACE};

use crate::helpers::{error_code, seed_join, spawn_app_with, TestApp};

/// The demo customers that exist (repeated, they make joins of any length cheaply).
const CUSTOMERS: [&str; 6] = [AVA, BEN, CHLOE, DIEGO, EMMA, GRACE];

/// A seed-query join of `rows` aliases over the demo customers, as Hasura sends it.
fn join_of(rows: usize) -> String {
    let ids: Vec<String> = (0..rows)
        .map(|i| CUSTOMERS[i % CUSTOMERS.len()].to_owned())
        .collect();
    seed_join(&ids)
}

async fn app_with(limits: Limits) -> TestApp {
    spawn_app_with(|options| options.config.limits = limits).await
}

/// Waits until `condition` holds, for at most 10 seconds.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting until {what}");
}

/// The only error of a refused answer, which has no `data`.
fn only_error(body: &Value) -> &Value {
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert!(body["data"].is_null(), "{body}");
    &errors[0]
}

#[tokio::test]
async fn a_hundred_thousand_aliases_of_customer_get_one_coded_error_and_no_stripe_call() {
    let app = spawn_app_with(|options| {
        // Large enough for the document, so the budget is what answers, not the 413.
        options.config.http.max_body_bytes = 16 * 1024 * 1024;
    })
    .await;
    let fields: Vec<String> = (0..100_000)
        .map(|i| format!("f{i}: customer(id: \"cus_Gen{i:06}\") {{ id }}"))
        .collect();
    let query = format!("query {{ {} }}", fields.join(" "));

    let body = app.query(&query).await;

    let error = only_error(&body);
    assert_eq!(error_code(&body), "QUERY_BUDGET_EXCEEDED");
    assert_eq!(error["extensions"]["stripeFields"], json!(100_000));
    assert_eq!(error["extensions"]["limit"], json!(5_000));
    assert_eq!(app.sandbox.total_calls(), 0);
}

#[tokio::test]
async fn a_thousand_row_seed_join_fits_the_default_limits() {
    let app = app_with(Limits::default()).await;

    let body = app.query(&join_of(1_000)).await;

    assert!(body.get("errors").is_none(), "{}", body["errors"]);
    assert_eq!(body["data"].as_object().unwrap().len(), 1_000);
    assert_eq!(body["data"]["f999"]["id"], json!(CUSTOMERS[999 % 6]));
}

#[tokio::test]
async fn a_join_at_the_budget_is_served_and_one_row_more_is_refused_before_any_stripe_call() {
    // The seed selection counts 3 per row: 10 rows are exactly 30.
    let app = app_with(Limits {
        max_stripe_fields: 30,
        ..Limits::default()
    })
    .await;

    let over = app.query(&join_of(11)).await;
    assert_eq!(error_code(&over), "QUERY_BUDGET_EXCEEDED");
    assert_eq!(only_error(&over)["extensions"]["stripeFields"], json!(33));
    assert_eq!(app.sandbox.total_calls(), 0);

    let at = app.query(&join_of(10)).await;
    assert!(at.get("errors").is_none(), "{at}");
    assert_eq!(at["data"]["f9"]["id"], json!(CUSTOMERS[9 % 6]));
}

#[tokio::test]
async fn a_batch_shares_one_budget() {
    let app = app_with(Limits {
        max_stripe_fields: 30,
        ..Limits::default()
    })
    .await;
    let batch = json!([{ "query": join_of(6) }, { "query": join_of(6) }]);

    let body: Value = app.post(batch).await.json().await.unwrap();

    for answer in body.as_array().expect("a batch answer") {
        assert_eq!(error_code(answer), "QUERY_BUDGET_EXCEEDED");
        assert_eq!(only_error(answer)["extensions"]["stripeFields"], json!(36));
    }
    assert_eq!(app.sandbox.total_calls(), 0);
}

#[tokio::test]
async fn a_query_deeper_than_the_limit_is_refused_with_its_code_and_no_stripe_call() {
    let app = app_with(Limits {
        max_query_depth: 5,
        ..Limits::default()
    })
    .await;

    // customer > subscriptions > data > items > data > id: 6 levels.
    let body = app
        .query(&format!(
            "{{ customer(id: \"{AVA}\") {{ subscriptions {{ data {{ items {{ data {{ id }} }} }} }} }} }}"
        ))
        .await;

    assert_eq!(error_code(&body), "QUERY_TOO_DEEP");
    assert_eq!(only_error(&body)["extensions"]["limit"], json!(5));
    assert_eq!(app.sandbox.total_calls(), 0);
    // Within the limit, the same server answers.
    let ok = app
        .data(&format!("{{ customer(id: \"{AVA}\") {{ id }} }}"))
        .await;
    assert_eq!(ok["customer"]["id"], json!(AVA));
}

#[tokio::test]
async fn a_query_more_complex_than_the_limit_is_refused_with_its_code_and_no_stripe_call() {
    let app = app_with(Limits {
        max_query_complexity: 10,
        ..Limits::default()
    })
    .await;
    let fields = "id email name description created";

    // 1 + 5 fields each: 12.
    let body = app
        .query(&format!(
            "{{ a: customer(id: \"{AVA}\") {{ {fields} }} b: customer(id: \"{BEN}\") {{ {fields} }} }}"
        ))
        .await;

    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX");
    let error = only_error(&body);
    assert_eq!(error["extensions"]["complexity"], json!(12));
    assert_eq!(error["extensions"]["limit"], json!(10));
    assert_eq!(app.sandbox.total_calls(), 0);
    let ok = app
        .data(&format!("{{ a: customer(id: \"{AVA}\") {{ {fields} }} }}"))
        .await;
    assert_eq!(ok["a"]["id"], json!(AVA));
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_a_coded_timeout_and_its_stripe_call_still_fills_the_cache(
) {
    // A long attempt timeout: the held call must not time out and be retried (a second
    // call) while a loaded machine runs the rest of the suite.
    let app = spawn_app_with(|options| {
        options.config.limits = Limits {
            request_deadline: Duration::from_secs(1),
            ..Limits::default()
        };
        options.config.client.timeout = Duration::from_secs(60);
        options.config.client.deadline = Duration::from_secs(60);
    })
    .await;
    let query = format!("{{ customer(id: \"{AVA}\") {{ id email }} }}");
    app.sandbox.hold_answers();

    let body = app.query(&query).await;

    assert_eq!(error_code(&body), "REQUEST_TIMEOUT");
    assert_eq!(only_error(&body)["extensions"]["limitSeconds"], json!(1));
    wait_until("the customer call reached Stripe", || {
        app.sandbox.total_calls() == 1
    })
    .await;

    app.sandbox.release_answers();
    // The held call was not abandoned: the next query is answered from it, with no new call.
    let data = app.data(&query).await;
    assert_eq!(data["customer"]["id"], json!(AVA));
    assert_eq!(app.sandbox.total_calls(), 1);
}

#[tokio::test]
async fn past_the_bound_on_requests_in_flight_a_request_gets_a_fast_503_and_the_others_succeed() {
    let app = app_with(Limits {
        max_requests_in_flight: 2,
        ..Limits::default()
    })
    .await;
    app.sandbox.hold_answers();
    let first_two = join_all([AVA, BEN].map(|id| {
        let app = &app;
        async move {
            app.query(&format!("{{ customer(id: \"{id}\") {{ id }} }}"))
                .await
        }
    }));
    let third = async {
        // Both are in flight once both of their Stripe calls are held at the sandbox.
        wait_until("both requests reached Stripe", || {
            app.sandbox.total_calls() == 2
        })
        .await;
        let refused = app
            .post(json!({ "query": format!("{{ customer(id: \"{CHLOE}\") {{ id }} }}") }))
            .await;
        app.sandbox.release_answers();
        refused
    };

    let (answers, refused) = tokio::join!(first_two, third);

    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body), "OVERLOADED");
    for (answer, id) in answers.iter().zip([AVA, BEN]) {
        assert!(answer.get("errors").is_none(), "{answer}");
        assert_eq!(answer["data"]["customer"]["id"], json!(id));
    }
    // The refused request made no Stripe call, and is counted as refused.
    assert_eq!(app.sandbox.total_calls(), 2);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("stripe_graphql_graphql_requests_total{outcome=\"refused\"} 1\n"),
        "{metrics}"
    );
    // With the permits back, a request is served again.
    let data = app
        .data(&format!("{{ customer(id: \"{CHLOE}\") {{ id }} }}"))
        .await;
    assert_eq!(data["customer"]["id"], json!(CHLOE));
}
