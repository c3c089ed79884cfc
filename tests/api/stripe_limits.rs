//! Stripe's limiters: every call takes from the account's budget and from its endpoint's, so
//! a cold Hasura join (one endpoint, `GET /v1/customers/{id}`, for every row) is paced to
//! that endpoint's 25/s, not only to the account's 100/s.

use std::num::NonZeroU32;

use serde_json::json;
use stripe_sandbox::{demo, RateLimits};

use crate::helpers::{hasura_join, spawn_app_over_with, TestApp, NOW};

/// The app over `customers` generated customers, paced as a live key is by default (100/s
/// for the account, 25/s for each endpoint), against a sandbox that applies `limits`.
async fn paced_like_live(customers: usize, limits: RateLimits) -> (TestApp, Vec<String>) {
    let app = spawn_app_over_with(
        |store| demo::add_generated_customers(store, customers, NOW),
        |o| {
            o.config.client.rate_limit = NonZeroU32::new(100);
            o.config.client.endpoint_rate_limit = NonZeroU32::new(25).unwrap();
        },
    )
    .await;
    app.sandbox.set_rate_limits(Some(limits));
    let ids = (0..customers).map(demo::generated_customer_id).collect();
    (app, ids)
}

#[tokio::test]
async fn a_cold_join_under_stripes_live_limiters_is_paced_to_the_endpoints_rate_without_errors() {
    let (app, ids) = paced_like_live(60, RateLimits::LIVE).await;

    let body = app.query(&hasura_join(&ids, "{ id }")).await;

    assert!(body.get("errors").is_none(), "{body}");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(body["data"][format!("f{i}")]["id"], json!(id));
    }
    let calls = app.sandbox.calls();
    let refused = app.sandbox.rate_limited();
    assert_eq!(calls.len(), 60 + refused, "every 429 was retried");
    assert!(
        refused * 20 < calls.len(),
        "{refused} of {} answered 429",
        calls.len()
    );
    // Paced to 25/s after a burst of 12: the last call starts at least 48 × 40 ms after the
    // first (a lower bound: a slow machine only widens the spread). Paced only at 100/s, as
    // before, 60 calls took 0.5 s and 35 of them met a 429.
    let spread = calls.last().unwrap().at - calls[0].at;
    assert!(
        spread >= std::time::Duration::from_millis(48 * 40 - 100),
        "{spread:?}"
    );
}

#[tokio::test]
async fn the_sandbox_answers_stripes_rate_limit_error_past_a_bucket() {
    let (app, _) = paced_like_live(0, RateLimits::TEST).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..30 {
        let response = client
            .get(format!(
                "{}/v1/customers/{}",
                app.sandbox.base_url(),
                demo::AVA
            ))
            .bearer_auth(crate::helpers::KEY)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 && refusal.is_none() {
            refusal = Some(response.json::<serde_json::Value>().await.unwrap());
        }
    }
    // A bucket of 25: the first 25 are answered, then 429s (these 30 take far less than the
    // 40 ms one token takes to come back).
    assert!(statuses[..25].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[25..].contains(&429), "{statuses:?}");
    assert_eq!(refusal.unwrap()["error"]["code"], json!("rate_limit"));
    assert_eq!(
        app.sandbox.rate_limited(),
        statuses.iter().filter(|s| **s == 429).count()
    );
}
