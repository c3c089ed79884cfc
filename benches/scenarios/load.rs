//! Load generation: the GraphQL targets, the request shapes, and the measurements.
//!
//! Every request is a POST of a JSON body to a target's `/graphql`, timed from just before the
//! send to the end of the response body. A response counts as an error when its status is not
//! 200 or its body carries an `errors` key; errors are counted and shown in the tables, never
//! silently timed as successes.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::{json, Value};

/// How a server spells Hasura's join for one relationship: ours has `customer(id:)` at the
/// root, the peer has it under its `stripe` namespace (Hasura then aliases the top field and
/// reads `fN.customer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// stripe-graphql: `f0: customer(id: "…") { … }`.
    Root,
    /// @nhost/stripe-graphql-js: `f0: stripe { customer(id: "…") { … } }`.
    StripeNamespace,
}

impl Dialect {
    /// The document Hasura sends to join `ids` with `selection`: one aliased field per
    /// distinct key, keys inlined as string literals, in one anonymous query.
    pub fn join(self, ids: &[String], selection: &str) -> String {
        let fields: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| match self {
                Dialect::Root => format!("f{i}: customer(id: \"{id}\") {selection}"),
                Dialect::StripeNamespace => {
                    format!("f{i}: stripe {{ customer(id: \"{id}\") {selection} }}")
                }
            })
            .collect();
        format!("query {{ {} }}", fields.join(" "))
    }

    /// The customer object answered for alias `f{i}`.
    pub fn customer(self, data: &Value, i: usize) -> &Value {
        let field = &data[format!("f{i}")];
        match self {
            Dialect::Root => field,
            Dialect::StripeNamespace => &field["customer"],
        }
    }
}

/// A GraphQL server under test.
#[derive(Clone)]
pub struct Target {
    /// Short name for progress lines.
    pub name: &'static str,
    /// `http://127.0.0.1:<port>/graphql`.
    pub url: String,
    /// The header that admits the bench (`Authorization: Bearer …` or the peer's
    /// `x-hasura-admin-secret`), as Hasura would send it from the remote schema's config.
    pub auth: (&'static str, String),
    /// How joins are spelled.
    pub dialect: Dialect,
    /// The client (a keep-alive connection pool shared by all requests).
    pub http: reqwest::Client,
}

/// One answered request.
pub struct Answer {
    /// Time to the last byte of the body.
    pub latency: Duration,
    /// Whether the status was 200 and the body had no `errors` key.
    pub ok: bool,
    /// The body.
    pub body: Vec<u8>,
}

impl Target {
    /// POSTs a document (as `{"query": …}`) and times it. Transport failures are answers with
    /// `ok: false` and the error text as body.
    pub async fn post(&self, body: Arc<str>) -> Answer {
        let start = Instant::now();
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header(self.auth.0, &self.auth.1)
            .body(body.to_string())
            .send()
            .await;
        let (ok, body) = match sent {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(bytes) => (status == 200 && !has_errors_key(&bytes), bytes.to_vec()),
                    Err(e) => (false, e.to_string().into_bytes()),
                }
            }
            Err(e) => (false, e.to_string().into_bytes()),
        };
        Answer {
            latency: start.elapsed(),
            ok,
            body,
        }
    }

    /// Sends `{ __typename }` until it is answered with 200, for at most `deadline`.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<(), String> {
        let until = Instant::now() + deadline;
        let body = request_body("{ __typename }");
        loop {
            let answer = self.post(body.clone()).await;
            if answer.ok {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(format!(
                    "{} did not answer {{ __typename }} within {deadline:?}: {}",
                    self.name,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `n` keep-alive connections (n concurrent `{ __typename }` requests), so a burst
    /// that follows does not time connection set-up.
    pub async fn open_connections(&self, n: usize) {
        let body = request_body("{ __typename }");
        join_all((0..n).map(|_| self.post(body.clone()))).await;
    }
}

/// The JSON body `{"query": document}`.
pub fn request_body(document: &str) -> Arc<str> {
    json!({ "query": document }).to_string().into()
}

/// Whether a response body has a top-level `errors` key. A byte search, cheap enough for the
/// timed loops: the benchmark's data never contains the text `"errors"` elsewhere.
fn has_errors_key(body: &[u8]) -> bool {
    body.windows(8).any(|w| w == b"\"errors\"")
}

/// Checks a join answer: no errors, and alias `fI` is customer `ids[I]` with `subscriptions`.
pub fn check_join(dialect: Dialect, body: &[u8], ids: &[String]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(body)))?;
    if value.get("errors").is_some() {
        return Err(format!("errors in the answer: {}", value["errors"]));
    }
    for (i, id) in ids.iter().enumerate() {
        let customer = dialect.customer(&value["data"], i);
        if customer["id"].as_str() != Some(id) {
            return Err(format!("alias f{i} is not customer {id}: {customer}"));
        }
    }
    Ok(())
}

/// The wall time of a group of requests and their answers.
pub type Round = (Duration, Vec<Answer>);

/// What one scenario measured.
pub struct Measured {
    /// Requests sent (timed).
    pub requests: usize,
    /// Requests answered with an error (see the module docs).
    pub errors: usize,
    /// From the first send to the last answer.
    pub wall: Duration,
    /// Latency of each request, sorted.
    pub latencies: Vec<Duration>,
    /// Stripe calls the sandbox received during the scenario.
    pub stripe_calls: usize,
}

impl Measured {
    fn new(wall: Duration, answers: Vec<Answer>) -> Measured {
        let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
        latencies.sort();
        Measured {
            requests: answers.len(),
            errors: answers.iter().filter(|a| !a.ok).count(),
            wall,
            latencies,
            stripe_calls: 0,
        }
    }

    /// The nearest-rank percentile `p` (0–100) of the latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Requests answered per second of wall time.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Sends `bodies` one after the other; each answer goes to `check`, untimed.
pub async fn sequential(
    target: &Target,
    bodies: Vec<Arc<str>>,
    mut check: impl FnMut(usize, &Answer) -> Result<(), String>,
) -> Result<Measured, String> {
    let start = Instant::now();
    let mut answers = Vec::with_capacity(bodies.len());
    for body in bodies {
        answers.push(target.post(body).await);
    }
    let wall = start.elapsed();
    for (i, answer) in answers.iter().enumerate() {
        check(i, answer)?;
    }
    Ok(Measured::new(wall, answers))
}

/// Sends `n` copies of `body` at once (all futures polled together on one task, so they are
/// on the wire within microseconds of each other) and waits for every answer.
pub async fn burst(target: &Target, body: Arc<str>, n: usize) -> Round {
    let start = Instant::now();
    let answers = join_all((0..n).map(|_| target.post(body.clone()))).await;
    (start.elapsed(), answers)
}

/// Several bursts (or slices of a closed loop) measured as one scenario: latencies of every
/// request, wall time of all.
pub fn bursts(rounds: Vec<Round>) -> Measured {
    let wall = rounds.iter().map(|(wall, _)| *wall).sum();
    Measured::new(wall, rounds.into_iter().flat_map(|(_, a)| a).collect())
}

/// `clients` concurrent clients, each sending `body` again as soon as it is answered, for
/// `duration`. Requests still in flight at the end are waited for and counted. Returns the
/// wall time and every answer.
pub async fn closed_loop(
    target: &Target,
    body: &Arc<str>,
    clients: usize,
    duration: Duration,
) -> Round {
    let start = Instant::now();
    let answers = run_clients(target, body, clients, duration).await;
    (start.elapsed(), answers)
}

async fn run_clients(
    target: &Target,
    body: &Arc<str>,
    clients: usize,
    duration: Duration,
) -> Vec<Answer> {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let target = target.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < deadline {
                    let mut answer = target.post(body.clone()).await;
                    if answer.ok {
                        answer.body = Vec::new();
                    }
                    answers.push(answer);
                }
                answers
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a load client panicked"));
    }
    all
}
