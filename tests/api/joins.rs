//! Hasura join documents: one POST with many aliased `customer(id:)` fields.

use std::time::Duration;

use serde_json::{json, Value};
use stripe_sandbox::{
    demo::{AVA, BEN, CHLOE, DIEGO, EMMA, FAISAL, GRACE},
    fixtures,
};

use crate::helpers::{hasura_join, spawn_app, spawn_app_with};

const SELECTION: &str = "{ id email subscriptions { data { id status currentPeriodEnd items { data { price { id unitAmount } } } } } }";

fn join_document(ids: &[&str]) -> String {
    hasura_join(ids, SELECTION)
}

#[tokio::test]
async fn a_join_with_duplicate_unknown_and_deleted_ids_answers_nulls_and_no_errors() {
    let app = spawn_app().await;

    let body = app
        .query(&join_document(&[AVA, "cus_DoesNotExist", FAISAL, AVA]))
        .await;

    assert!(body.get("errors").is_none(), "{body}");
    let data = &body["data"];
    assert_eq!(data["f0"]["id"], json!(AVA));
    assert_eq!(data["f1"], Value::Null);
    assert_eq!(data["f2"], Value::Null, "a deleted customer is null");
    assert_eq!(data["f3"], data["f0"]);
    assert_eq!(
        app.sandbox.calls_to("/v1/customers/cus_AvaMartinez"),
        1,
        "duplicates share one call"
    );
}

#[tokio::test]
async fn a_join_of_customers_with_their_subscriptions_costs_one_call_per_customer() {
    let app = spawn_app().await;
    let ids = [AVA, BEN, CHLOE, DIEGO, EMMA, FAISAL, GRACE];

    let data = app.data(&join_document(&ids)).await;

    for (i, id) in ids.iter().enumerate() {
        let expected = if *id == FAISAL {
            Value::Null
        } else {
            json!(id)
        };
        assert_eq!(data[format!("f{i}")]["id"], expected);
    }
    // 7 customer retrievals, each bringing its first page of subscriptions along.
    let calls = app.sandbox.calls();
    assert!(
        calls.iter().all(
            |c| c.path.starts_with("/v1/customers/") && c.query == "expand%5B%5D=subscriptions"
        ),
        "{calls:?}"
    );
    assert_eq!(app.stripe_calls(), 7);
    let emma_subs = data["f4"]["subscriptions"]["data"].as_array().unwrap();
    assert_eq!(
        emma_subs.len(),
        1,
        "canceled subscriptions are hidden by default"
    );
    assert_eq!(
        emma_subs[0]["items"]["data"][0]["price"]["unitAmount"],
        Value::Null,
        "fractional metered price"
    );
}

#[tokio::test]
async fn join_aliases_resolve_concurrently_within_the_concurrency_bound() {
    let app = spawn_app_with(|o| {
        o.config.client.max_concurrency = 4;
        o.latency = Duration::from_millis(150);
    })
    .await;
    let ids: Vec<String> = (0..12).map(|i| format!("cus_Load{i:02}")).collect();
    app.sandbox.with_store(|s| {
        for (i, id) in ids.iter().enumerate() {
            s.put(fixtures::customer(
                id,
                "Load Test",
                &format!("load{i}@example.com"),
                1_700_000_000 + i as i64,
            ));
        }
    });

    let query = format!(
        "query {{ {} }}",
        ids.iter()
            .enumerate()
            .map(|(i, id)| format!("f{i}: customer(id: \"{id}\") {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let data = app.data(&query).await;

    for (i, id) in ids.iter().enumerate() {
        assert_eq!(data[format!("f{i}")]["id"], json!(id));
    }
    let peak = app.sandbox.peak_in_flight();
    assert!(
        peak >= 2,
        "aliases must not resolve one after another (peak {peak})"
    );
    assert!(
        peak <= 4,
        "at most STRIPE_MAX_CONCURRENCY calls in flight (peak {peak})"
    );
    assert_eq!(app.stripe_calls(), 12);
}

#[tokio::test]
async fn a_joins_answer_keeps_the_aliases_and_fields_in_query_order_whichever_call_returns_first() {
    let app = spawn_app_with(|o| o.latency = Duration::from_millis(30)).await;
    // f1…f3 are cached; f0 waits for Stripe, so it completes last.
    app.query(&join_document(&[BEN, CHLOE, DIEGO])).await;
    let text = app
        .post(json!({ "query": join_document(&[AVA, BEN, CHLOE, DIEGO]) }))
        .await
        .text()
        .await
        .unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap_or(usize::MAX);
    assert!(
        at("f0") < at("f1") && at("f1") < at("f2") && at("f2") < at("f3"),
        "{text}"
    );
    // Inside an object too: `email` (no call) after `subscriptions` (a call) as selected.
    let text = app
        .post(json!({ "query": format!(
            "{{ customer(id: \"{EMMA}\") {{ subscriptions {{ data {{ id }} }} email }} }}"
        ) }))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.find("\"subscriptions\"").unwrap() < text.find("\"email\"").unwrap(),
        "{text}"
    );
}
