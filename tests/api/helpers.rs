//! Spawns the server on port 0 against a fresh sandbox, and talks to it.

use std::{num::NonZeroU32, time::Duration};

use serde_json::{json, Value};
use stripe_graphql::{
    cache::CacheSettings,
    config::{Config, Upstream},
    graphql::{scope::ScopingSettings, write::WriteSettings},
    http::{HttpSettings, MetricsAuth},
    limits::Limits,
    secret::SecretString,
    startup::Application,
    stripe::{retry::RetryPolicy, ClientSettings, Endpoint},
    telemetry::LogFormat,
};
use stripe_sandbox::{demo, Fault, Sandbox, Store};

/// The key the test sandbox accepts.
pub const KEY: &str = "sk_test_api_suite_key_0123";
/// The time the demo data is built around, fixed so values are reproducible.
pub const NOW: i64 = 1_795_000_000;

pub struct TestApp {
    pub base: String,
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

/// Settings a test can change before the app starts.
pub struct Options {
    pub config: Config,
    pub latency: Duration,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The app over the demo data as changed by `change`.
pub async fn spawn_app_with_store(change: impl FnOnce(&mut Store)) -> TestApp {
    let mut store = demo::store(NOW);
    change(&mut store);
    spawn_app_over(store, |_| {}).await
}

pub async fn spawn_app_with(change: impl FnOnce(&mut Options)) -> TestApp {
    spawn_app_over(demo::store(NOW), change).await
}

/// The app over the demo data as changed by `store`, with settings changed by `options`.
pub async fn spawn_app_over_with(
    store: impl FnOnce(&mut Store),
    options: impl FnOnce(&mut Options),
) -> TestApp {
    let mut data = demo::store(NOW);
    store(&mut data);
    spawn_app_over(data, options).await
}

async fn spawn_app_over(store: Store, change: impl FnOnce(&mut Options)) -> TestApp {
    let sandbox = Sandbox::start(store, KEY).await.expect("sandbox starts");
    start_app_on(sandbox, change).await
}

/// The app over `sandbox` as the test prepared it (answers held, faults injected before the
/// server's first call), with settings changed by `change`.
pub async fn start_app_on(sandbox: Sandbox, change: impl FnOnce(&mut Options)) -> TestApp {
    let mut options = Options {
        config: test_config(&sandbox.base_url(), KEY),
        latency: Duration::ZERO,
    };
    change(&mut options);
    sandbox.set_latency(options.latency);
    let token = options
        .config
        .http
        .auth_token
        .as_ref()
        .map(|t| t.expose().to_owned());
    let base = start_server(options.config).await;
    TestApp {
        base,
        sandbox,
        http: reqwest::Client::new(),
        token,
    }
}

/// The value of the sample `series` (name and labels exactly as exported) in a /metrics text.
pub fn sample_in(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().expect("a number"))
    })
}

/// The value of `series` on the server at `base` (its /metrics, open), 0 when absent.
pub async fn metric_at(base: &str, series: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sample_in(&text, series).unwrap_or(0.0)
}

/// The test configuration: Stripe at `api_base` with `key`, port 0, no auth, default cache.
pub fn test_config(api_base: &str, key: &str) -> Config {
    Config {
        upstream: Upstream::Stripe(Endpoint {
            api_base: api_base.parse().expect("a URL"),
            secret_key: SecretString::new(key),
        }),
        client: ClientSettings {
            api_version: "2026-07-29.dahlia".into(),
            timeout: Duration::from_secs(5),
            max_concurrency: 8,
            // Far above what a test sends, so only the pacing test meets the limiter.
            rate_limit: NonZeroU32::new(10_000),
            endpoint_rate_limit: NonZeroU32::new(10_000).unwrap(),
            // Stripe's rules, with short delays so a retried test does not wait seconds.
            retry: RetryPolicy {
                max_retries: 2,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            },
            deadline: Duration::from_secs(15),
        },
        cache: CacheSettings::default(),
        http: HttpSettings {
            auth_token: None,
            max_body_bytes: 1024 * 1024,
            metrics_auth: MetricsAuth::Token,
            scoping: ScopingSettings::default(),
            writes: WriteSettings::default(),
        },
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        log_format: LogFormat::Text,
        webhook: None,
        hasura: None,
        limits: Limits::default(),
        redis: None,
        mirror: None,
    }
}

/// The Stripe endpoint of a test configuration, to point it elsewhere or change its key.
pub fn endpoint(config: &mut Config) -> &mut Endpoint {
    match &mut config.upstream {
        Upstream::Stripe(endpoint) => endpoint,
        Upstream::DemoSandbox => panic!("the test configuration calls a Stripe endpoint"),
    }
}

/// Builds the app, serves it in the background and returns its base URL.
pub async fn start_server(config: Config) -> String {
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    base
}

impl TestApp {
    /// POSTs `body` to /graphql with the configured token (if any).
    pub async fn post(&self, body: Value) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/graphql", self.base)).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("server answers")
    }

    /// Runs a query and returns the whole JSON response.
    pub async fn query(&self, query: &str) -> Value {
        let response = self.post(json!({ "query": query })).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON body")
    }

    /// Runs a query that must succeed and returns `data`.
    pub async fn data(&self, query: &str) -> Value {
        let body = self.query(query).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    pub fn stripe_calls(&self) -> usize {
        self.sandbox.calls().len()
    }

    pub fn fail_next(&self, path_prefix: Option<&str>, fault: Fault, times: usize) {
        self.sandbox.inject(path_prefix, fault, times);
    }

    /// A stored sandbox object.
    pub fn stored(&self, object: &str, id: &str) -> Value {
        self.sandbox
            .with_store(|s| s.get(object, id).cloned())
            .unwrap_or_else(|| panic!("{object} {id} is in the sandbox"))
    }
}

/// POSTs `query` to the GraphQL endpoint at `url` and returns `data`; the answer must have no
/// `errors` key.
pub async fn query_data(http: &reqwest::Client, url: &str, query: &str) -> Value {
    let body: Value = http
        .post(url)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("JSON body");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `code` extension of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error code in {body}"))
}

/// A file under tests/fixtures (see its README for where each came from).
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The document Hasura sends to join `ids` onto `selection`: one `fN: customer(id: "…")`
/// field per key, keys inlined, in one anonymous query (tests/fixtures/seed-join-request.json
/// is one such document).
pub fn hasura_join<S: AsRef<str>>(ids: &[S], selection: &str) -> String {
    let fields: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("f{i}: customer(id: \"{}\") {selection}", id.as_ref()))
        .collect();
    format!("query {{ {} }}", fields.join(" "))
}

/// The selection Hasura sends for the seed query's `stripe_data` (from the recorded join).
pub fn seed_selection() -> String {
    let request: Value = serde_json::from_str(&fixture("seed-join-request.json")).unwrap();
    let query = request["query"].as_str().unwrap();
    query
        .strip_prefix("query { f0: customer(id: \"cus_REPLACE_ME\") ")
        .and_then(|q| q.strip_suffix(" }"))
        .expect("the recorded join's shape")
        .to_owned()
}

/// The seed query's join for `ids`, as Hasura sends it.
pub fn seed_join<S: AsRef<str>>(ids: &[S]) -> String {
    hasura_join(ids, &seed_selection())
}
