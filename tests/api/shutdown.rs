//! Graceful shutdown: on SIGTERM the server stops accepting, lets requests in flight finish
//! (their Stripe calls included), and exits 0.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use stripe_graphql::sandbox::{
    demo::{self, AVA, BEN},
    Sandbox,
};

use crate::helpers::{KEY, NOW};

const BIN: &str = env!("CARGO_BIN_EXE_stripe-graphql");

/// The server binary against `sandbox`, its JSON log lines on a channel. Killed if dropped
/// while still running.
struct Server {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(sandbox: &Sandbox) -> (Server, String) {
        let mut child = Command::new(BIN)
            .env_clear()
            .envs([
                ("LISTEN_ADDR", "127.0.0.1:0"),
                ("LOG_FORMAT", "json"),
                ("STRIPE_SECRET_KEY", KEY),
                ("STRIPE_API_BASE", sandbox.base_url().as_str()),
                // A broken connection must not be papered over by a retry on a new one.
                ("STRIPE_MAX_RETRIES", "0"),
            ])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server { child, log };
        let line = server.wait_for("GraphQL endpoint: ");
        let url = line["message"]
            .as_str()
            .unwrap()
            .trim_start_matches("GraphQL endpoint: ")
            .to_owned();
        (server, url)
    }

    /// Reads log lines until one whose message starts with `prefix` (30 s at most).
    fn wait_for(&self, prefix: &str) -> Value {
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(30)) {
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(prefix))
            {
                return event;
            }
        }
        panic!("no log line starting with {prefix:?}");
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// The exit code, waiting at most `limit`.
    async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not exit within {limit:?}");
    }
}

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
    let (mut server, url) = Server::start(&sandbox);

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
