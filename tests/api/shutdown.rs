//! Graceful shutdown: on SIGTERM the server stops accepting, lets requests in flight finish
//! (their Stripe calls included), and exits 0.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stripe_sandbox::{
    demo::{self, AVA, BEN},
    Sandbox,
};

use crate::{
    helpers::{KEY, NOW},
    process::Server,
};

/// A request on a connection of its own (a new client, no pooling), so that consecutive
/// requests land on different HTTP workers.
async fn customer_on_a_new_connection(url: &str, id: &str) -> reqwest::Result<Value> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .post(url)
        .json(&json!({ "query": format!("{{ customer(id: \"{id}\") {{ id }} }}") }))
        .send()
        .await?
        .json()
        .await
}

async fn calls_arrived(sandbox: &Sandbox, n: usize) {
    let until = Instant::now() + Duration::from_secs(10);
    while sandbox.total_calls() < n {
        assert!(Instant::now() < until, "the sandbox never got {n} calls");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_refuses_new_ones_and_exits_0() {
    let sandbox = Sandbox::start(demo::store(NOW), KEY).await.unwrap();
    // A broken connection must not be papered over by a retry on a new one.
    let (mut server, url) = Server::start(&sandbox, KEY, &[("STRIPE_MAX_RETRIES", "0")]);

    // The first request opens the server's connection to Stripe on the worker that serves it
    // and leaves it in the shared pool; the second, on another worker, reuses it and is held
    // in flight by the sandbox.
    let first = customer_on_a_new_connection(&url, AVA).await.unwrap();
    assert_eq!(first["data"]["customer"]["id"], json!(AVA));
    sandbox.hold_answers();
    let in_flight = tokio::spawn({
        let url = url.clone();
        async move { customer_on_a_new_connection(&url, BEN).await }
    });
    calls_arrived(&sandbox, 2).await;

    // SIGTERM: the idle worker stops at once, the busy one waits for its request.
    server.terminate();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match customer_on_a_new_connection(&url, AVA).await {
            Err(e) if e.is_connect() => break,
            _ => assert!(Instant::now() < until, "new requests are still accepted"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sandbox.release_answers();

    let answer = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["customer"]["id"], json!(BEN));
    assert_eq!(server.exit_code(Duration::from_secs(15)).await, Some(0));
}
