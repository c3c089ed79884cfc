//! What each query costs in Stripe calls: one per distinct customer cold, none warm,
//! whatever the concurrency.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use stripe_sandbox::demo::{self, AVA};

use crate::helpers::{seed_join, spawn_app, spawn_app_with, spawn_app_with_store, NOW};

#[tokio::test]
async fn a_hundred_identical_concurrent_cold_seed_queries_cost_one_stripe_call() {
    // The held call must not time out and be retried (a second call) on a loaded machine.
    let app = spawn_app_with(|o| o.config.client.timeout = Duration::from_secs(60)).await;
    // Every request is in flight before the first answer comes back.
    app.sandbox.hold_answers();
    let query = seed_join(&[AVA.to_owned()]);
    let requests = join_all((0..100).map(|_| app.query(&query)));
    let release = async {
        // Let the answers go once the one call has arrived and every request was sent.
        while app.stripe_calls() == 0 {
            tokio::task::yield_now().await;
        }
        app.sandbox.release_answers();
    };
    let (bodies, ()) = tokio::join!(requests, release);

    for body in &bodies {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["f0"]["id"], json!(AVA));
        assert_eq!(body["data"]["f0"], bodies[0]["data"]["f0"]);
    }
    assert_eq!(app.stripe_calls(), 1, "{:?}", app.sandbox.calls());
}

#[tokio::test]
async fn a_hasura_join_of_200_cold_customers_costs_one_call_each_and_none_warm() {
    let app = spawn_app_with_store(|store| demo::add_generated_customers(store, 200, NOW)).await;
    let ids: Vec<String> = (0..200).map(demo::generated_customer_id).collect();
    let join = seed_join(&ids);

    let cold = app.query(&join).await;

    assert!(cold.get("errors").is_none(), "{cold}");
    for (i, id) in ids.iter().enumerate() {
        let customer = &cold["data"][format!("f{i}")];
        assert_eq!(customer["id"], json!(id));
        assert_eq!(
            customer["subscriptions"]["data"][0]["items"]["data"][0]["price"]["id"],
            json!("price_EssentialsMonthly")
        );
    }
    assert_eq!(app.stripe_calls(), 200);
    assert!(app
        .sandbox
        .calls()
        .iter()
        .all(|c| c.path.starts_with("/v1/customers/cus_Gen")));

    app.sandbox.reset_calls();
    let warm = app.query(&join).await;
    assert_eq!(warm, cold);
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn what_the_expanded_call_brought_serves_other_queries_without_a_call() {
    let app = spawn_app().await;
    app.query(&seed_join(&[AVA.to_owned()])).await;
    app.sandbox.reset_calls();

    let data = app
        .data(&format!(
            "{{ customer(id: \"{AVA}\") {{ email }} \
               subscriptions(customer: \"{AVA}\") {{ data {{ id }} }} \
               subscription(id: \"sub_AvaPro\") {{ status }} }}"
        ))
        .await;

    assert_eq!(data["subscriptions"]["data"][0]["id"], json!("sub_AvaPro"));
    assert_eq!(data["subscription"]["status"], json!("active"));
    assert_eq!(app.stripe_calls(), 0, "{:?}", app.sandbox.calls());
}

#[tokio::test]
async fn subscriptions_asked_with_other_arguments_are_listed_separately() {
    let app = spawn_app().await;

    let data = app
        .data(&format!(
            "{{ customer(id: \"{AVA}\") {{ subscriptions(status: all, first: 5) {{ data {{ id }} }} }} }}"
        ))
        .await;

    assert_eq!(
        data["customer"]["subscriptions"]["data"][0]["id"],
        json!("sub_AvaPro")
    );
    let calls = app.sandbox.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[0].query, "",
        "no expansion: the page would not be used"
    );
    assert_eq!(calls[1].path, "/v1/subscriptions");
}

#[tokio::test]
async fn a_customer_whose_first_page_is_cached_is_retrieved_without_expansion() {
    let app = spawn_app().await;
    let page = format!("{{ subscriptions(customer: \"{AVA}\") {{ data {{ id }} }} }}");
    app.data(&page).await;
    app.sandbox.reset_calls();

    let data = app
        .data(&format!(
            "{{ customer(id: \"{AVA}\") {{ id subscriptions {{ data {{ id }} }} }} }}"
        ))
        .await;

    assert_eq!(
        data["customer"]["subscriptions"]["data"][0]["id"],
        json!("sub_AvaPro")
    );
    let calls = app.sandbox.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].query, "");
}

#[tokio::test]
async fn an_embedded_page_with_more_pages_is_paged_on_through_the_list_endpoint() {
    let app = spawn_app_with_store(|store| {
        // Twelve subscriptions for one customer: the embedded page holds ten.
        let sub = store.get("subscription", "sub_AvaPro").unwrap().clone();
        for i in 0..11 {
            let mut extra = sub.clone();
            extra["id"] = json!(format!("sub_AvaExtra{i:02}"));
            extra["created"] = json!(sub["created"].as_i64().unwrap() - 1 - i);
            store.put(extra);
        }
    })
    .await;
    let first = app
        .data(&format!(
            "{{ customer(id: \"{AVA}\") {{ subscriptions {{ data {{ id }} hasMore nextCursor }} }} }}"
        ))
        .await;
    let page = &first["customer"]["subscriptions"];
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    assert_eq!(page["hasMore"], json!(true));
    assert_eq!(app.stripe_calls(), 1);

    let cursor = page["nextCursor"].as_str().unwrap();
    let second = app
        .data(&format!(
            "{{ customer(id: \"{AVA}\") {{ subscriptions(after: \"{cursor}\") {{ data {{ id }} hasMore }} }} }}"
        ))
        .await;

    let rest = &second["customer"]["subscriptions"];
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert_eq!(rest["hasMore"], json!(false));
    assert_eq!(
        app.stripe_calls(),
        2,
        "the customer is cached; one list call"
    );
    assert_eq!(app.sandbox.calls()[1].path, "/v1/subscriptions");
}
