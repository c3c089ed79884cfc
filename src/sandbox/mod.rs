//! The embedded sandbox: an in-memory, stateful stand-in for the Stripe endpoints this
//! server reads, served over real HTTP on a loopback port inside the process.
//!
//! `--demo` serves it with [`demo::store`] data so the demo exercises the real client, and
//! the test suite uses it as its fake Stripe. It is split by concern:
//!
//! | module | holds |
//! |---|---|
//! | this one | the HTTP server ([`Sandbox`]), its knobs, fault injection and the call log |
//! | [`routes`] | the endpoints (method and path to one function each), parameter checks, paging, Stripe's error shapes |
//! | [`store`] | the stored objects and the operations that change them |
//! | [`fixtures`] | builders of objects in dahlia shapes |
//! | [`demo`] | the demo data |
//! | [`webhooks`] | signed events sent to a configured URL when the data changes |
//!
//! The knobs, all on [`Sandbox`]:
//!
//! - **latency** added to every answer ([`Sandbox::set_latency`]);
//! - **injected faults** for the next N matching requests ([`Sandbox::inject`], [`Fault`]): a
//!   status in Stripe's error shape (429, 500, 503…), a given status with a given JSON body,
//!   a hang that never answers (the client's timeout must end it), a 2xx body that is not
//!   JSON, a latency spike, a body cut short, or a connection dropped after the headers;
//! - a **call log** with each call's method, raw path, query, `Stripe-Version` and whether
//!   the key was accepted ([`Sandbox::calls`]). It holds the newest
//!   [`DEFAULT_CALL_LOG_CAPACITY`] calls (or [`Settings::call_log_capacity`]), so a
//!   long-running `--demo` stays bounded, and counts every call exactly
//!   ([`Sandbox::total_calls`]);
//! - the **peak number of requests in flight** at once ([`Sandbox::peak_in_flight`]);
//! - **webhooks**: with [`Sandbox::send_webhooks_to`], changes made through
//!   [`Sandbox::update`], [`Sandbox::create`], [`Sandbox::delete_customer`] or
//!   `POST /v1/customers/{id}` deliver Stripe-signed events there, and return once they were
//!   answered (see [`webhooks`]).
//!
//! Like Stripe it requires `Authorization: Bearer <key>` (401 otherwise), sends a
//! `Request-Id` header, and answers errors as `{"error": {"type", "code", "message", …}}`.
//! Each request is logged, then waits out the latency, then gets an injected fault if one
//! matches, else 401 without the key, else the route's answer.

pub mod demo;
pub mod fixtures;
pub mod routes;
pub mod store;
pub mod webhooks;

use std::{
    collections::VecDeque,
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use routes::ApiError;
pub use store::Store;
pub use webhooks::{Delivery, DeliveryError};

/// The key the demo sandbox accepts (and `--demo` configures the client with).
pub const DEMO_KEY: &str = "sk_test_sandbox_demo_key";

/// How many calls the call log holds unless [`Settings::call_log_capacity`] says otherwise.
pub const DEFAULT_CALL_LOG_CAPACITY: usize = 10_000;

/// How to start a sandbox ([`Sandbox::start_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How many of the newest calls [`Sandbox::calls`] holds; older ones are dropped. With 0
    /// it holds none, and [`Sandbox::total_calls`] still counts them.
    pub call_log_capacity: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            call_log_capacity: DEFAULT_CALL_LOG_CAPACITY,
        }
    }
}

/// A fault to inject into answers. Every fault but [`Fault::Hang`] is answered with a
/// `Request-Id` header, as Stripe answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this HTTP status with a Stripe-shaped error body (`rate_limit` for 429,
    /// `api_error` for 5xx).
    Status(u16),
    /// Answer this HTTP status with exactly this JSON body: e.g. an object of the wrong type
    /// with 200, or a Stripe error with a chosen `code` and `param`. A status outside
    /// 100–999 is answered as 200.
    Json(u16, Value),
    /// Never answer (until the client gives up and disconnects).
    Hang,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer this HTTP status in Stripe's error shape, as [`Fault::Status`], with a
    /// `Stripe-Should-Retry` header saying this.
    ShouldRetry(u16, bool),
    /// Wait this long more (a latency spike), then answer normally.
    Delay(Duration),
    /// Send the headers of a 200 and the first bytes of a JSON body, then drop the
    /// connection (a truncated answer).
    Truncated,
    /// Send the headers of a 200 and drop the connection before any byte of the body.
    Dropped,
}

/// One request the sandbox received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Raw (still percent-encoded) path, e.g. `/v1/customers/cus_1`.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// The `Stripe-Version` header, if sent.
    pub stripe_version: Option<String>,
    /// Whether the `Authorization` header carried the sandbox's key.
    pub authorized: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

struct FaultRule {
    path_prefix: Option<String>,
    fault: Fault,
    remaining: usize,
}

/// The newest calls, at most `capacity` of them, oldest first, and how many there were.
struct CallLog {
    newest: VecDeque<Call>,
    capacity: usize,
    total: usize,
}

impl CallLog {
    fn new(capacity: usize) -> CallLog {
        CallLog {
            newest: VecDeque::new(),
            capacity,
            total: 0,
        }
    }

    fn push(&mut self, call: Call) {
        self.total += 1;
        if self.capacity == 0 {
            return;
        }
        if self.newest.len() == self.capacity {
            self.newest.pop_front();
        }
        self.newest.push_back(call);
    }

    fn clear(&mut self) {
        self.newest.clear();
        self.total = 0;
    }
}

struct State {
    api_key: String,
    store: Mutex<Store>,
    calls: Mutex<CallLog>,
    faults: Mutex<VecDeque<FaultRule>>,
    latency_ms: AtomicU64,
    /// `false` while answers are held ([`Sandbox::hold_answers`]).
    gate: tokio::sync::watch::Sender<bool>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    request_ids: AtomicU64,
    webhooks: Mutex<Option<webhooks::Target>>,
    event_ids: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running sandbox. Stops when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<State>,
    handle: ServerHandle,
}

impl Sandbox {
    /// Starts a sandbox on `127.0.0.1:<free port>` serving `store`, accepting `api_key`, with
    /// the default [`Settings`]. Must be called within a Tokio runtime.
    pub async fn start(store: Store, api_key: &str) -> std::io::Result<Sandbox> {
        Sandbox::start_with(store, api_key, Settings::default()).await
    }

    /// Like [`Sandbox::start`], with `settings`.
    pub async fn start_with(
        store: Store,
        api_key: &str,
        settings: Settings,
    ) -> std::io::Result<Sandbox> {
        let state = Arc::new(State {
            api_key: api_key.to_owned(),
            store: Mutex::new(store),
            calls: Mutex::new(CallLog::new(settings.call_log_capacity)),
            faults: Mutex::new(VecDeque::new()),
            latency_ms: AtomicU64::new(0),
            gate: tokio::sync::watch::Sender::new(true),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            request_ids: AtomicU64::new(0),
            webhooks: Mutex::new(None),
            event_ids: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(dispatch))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Sandbox {
            addr,
            state,
            handle,
        })
    }

    /// The sandbox with the demo data, accepting [`DEMO_KEY`].
    pub async fn start_demo() -> std::io::Result<Sandbox> {
        Sandbox::start(demo::store(unix_now()), DEMO_KEY).await
    }

    /// Base URL to configure as `STRIPE_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reads or changes the stored objects.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.state.store))
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.state.latency_ms.store(
            latency.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Holds every answer (requests are logged as they arrive, then wait) until
    /// [`Sandbox::release_answers`]: a test can act while a call is certainly in flight.
    pub fn hold_answers(&self) {
        self.state.gate.send_replace(false);
    }

    /// Lets held answers go, and answers flow again.
    pub fn release_answers(&self) {
        self.state.gate.send_replace(true);
    }

    /// Injects `fault` into the next `times` requests whose raw path starts with
    /// `path_prefix` (every path when `None`). Rules apply in the order they were added.
    pub fn inject(&self, path_prefix: Option<&str>, fault: Fault, times: usize) {
        lock(&self.state.faults).push_back(FaultRule {
            path_prefix: path_prefix.map(str::to_owned),
            fault,
            remaining: times,
        });
    }

    /// The calls received since the start or the last [`Sandbox::reset_calls`], oldest
    /// first: all of them while they are no more than the log's capacity, else the newest
    /// capacity-many. A call is logged as soon as it arrives, before latency and faults.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state.calls).newest.iter().cloned().collect()
    }

    /// How many of the calls in [`Sandbox::calls`] were made to exactly this raw path.
    pub fn calls_to(&self, path: &str) -> usize {
        lock(&self.state.calls)
            .newest
            .iter()
            .filter(|c| c.path == path)
            .count()
    }

    /// How many calls were received since the start or the last [`Sandbox::reset_calls`],
    /// including those the call log no longer holds.
    pub fn total_calls(&self) -> usize {
        lock(&self.state.calls).total
    }

    /// Forgets the call log, the call total and the in-flight peak.
    pub fn reset_calls(&self) {
        lock(&self.state.calls).clear();
        self.state.peak_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most requests that were being answered at the same moment.
    pub fn peak_in_flight(&self) -> usize {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn dispatch(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let _in_flight = InFlight::enter(&state);
    let path = req.uri().path().to_owned();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == state.api_key);
    lock(&state.calls).push(Call {
        method: req.method().to_string(),
        path: path.clone(),
        query: req.query_string().to_owned(),
        stripe_version: req
            .headers()
            .get("stripe-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        authorized,
        at: std::time::Instant::now(),
    });
    let request_id = format!(
        "req_sandbox{:06}",
        state.request_ids.fetch_add(1, Ordering::SeqCst) + 1
    );

    let latency = state.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut gate = state.gate.subscribe();
    // The sender lives in `state`, which outlives this request: this cannot fail.
    let _ = gate.wait_for(|open| *open).await;
    if let Some(fault) = take_fault(&state, &path) {
        match fault {
            Fault::Hang => {
                // Ends when the client disconnects (actix drops this future) or after an hour.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Fault::Garbage => {
                return HttpResponse::Ok()
                    .insert_header(("Request-Id", request_id))
                    .content_type("text/html")
                    .body("<html>upstream proxy error</html>")
            }
            Fault::Json(status, body) => return respond(status, body, request_id),
            Fault::Delay(extra) => tokio::time::sleep(extra).await,
            Fault::Truncated => return cut_off(request_id, b"{\"id\": \"cus_"),
            Fault::Dropped => return cut_off(request_id, b""),
            Fault::Status(status) => return stripe_error(status, request_id),
            Fault::ShouldRetry(status, retry) => {
                let mut response = stripe_error(status, request_id);
                response.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static("stripe-should-retry"),
                    actix_web::http::header::HeaderValue::from_static(if retry {
                        "true"
                    } else {
                        "false"
                    }),
                );
                return response;
            }
        }
    }
    if !authorized {
        let message = if req.headers().contains_key("authorization") {
            "Invalid API Key provided."
        } else {
            "You did not provide an API key. Provide it in the Authorization header as `Bearer <key>`."
        };
        let body = json!({"error": {"type": "invalid_request_error", "message": message}});
        return respond(401, body, request_id);
    }
    let changed = routes::change(&mut lock(&state.store), req.method().as_str(), &path, &body);
    if let Some(changed) = changed {
        return match changed {
            Ok((answer, changes)) => {
                state.deliver_changes(changes, &request_id).await;
                respond(200, answer, request_id)
            }
            Err(ApiError { status, body }) => respond(status, body, request_id),
        };
    }
    let answer = routes::answer(
        &lock(&state.store),
        req.method().as_str(),
        &path,
        req.query_string(),
    );
    match answer {
        Ok(body) => respond(200, body, request_id),
        Err(ApiError { status, body }) => respond(status, body, request_id),
    }
}

/// A 200 that promises a body of 4 KiB, sends `sent` of it, then fails: actix drops the
/// connection, and the client sees a body cut short.
fn cut_off(request_id: String, sent: &'static [u8]) -> HttpResponse {
    let chunks: Vec<Result<web::Bytes, std::io::Error>> = vec![
        Ok(web::Bytes::from_static(sent)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected: connection dropped",
        )),
    ];
    HttpResponse::Ok()
        .insert_header(("Request-Id", request_id))
        .content_type("application/json")
        .no_chunking(4096)
        .streaming(futures::stream::iter(chunks))
}

/// `status` in Stripe's error shape: `rate_limit` for 429, `api_error` for 5xx.
fn stripe_error(status: u16, request_id: String) -> HttpResponse {
    let (kind, code, message) = match status {
        429 => (
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly.",
        ),
        s if s >= 500 => ("api_error", None, "An unknown error occurred."),
        _ => ("invalid_request_error", None, "Injected failure."),
    };
    let body = json!({"error": {"type": kind, "code": code, "message": message}});
    respond(status, body, request_id)
}

fn take_fault(state: &State, path: &str) -> Option<Fault> {
    let mut faults = lock(&state.faults);
    let rule = faults.iter_mut().find(|r| {
        r.remaining > 0 && r.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
    })?;
    rule.remaining -= 1;
    let fault = rule.fault.clone();
    faults.retain(|r| r.remaining > 0);
    Some(fault)
}

/// A JSON answer with `status` (200 if it is no HTTP status) and a `Request-Id` header.
fn respond(status: u16, body: Value, request_id: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header(("Request-Id", request_id))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_test_sandbox_unit_key";

    fn one_customer() -> Store {
        let mut store = Store::new();
        store.put(fixtures::customer("cus_1", "N", "n@example.com", 1));
        store
    }

    async fn get(sandbox: &Sandbox, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", sandbox.base_url()))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("the sandbox answers")
    }

    #[tokio::test]
    async fn the_call_log_holds_the_newest_calls_in_order_and_counts_them_all() {
        let sandbox = Sandbox::start_with(
            one_customer(),
            KEY,
            Settings {
                call_log_capacity: 3,
            },
        )
        .await
        .unwrap();
        let paths: Vec<String> = (0..7).map(|i| format!("/v1/customers/cus_{i}")).collect();
        for path in &paths {
            get(&sandbox, path).await;
        }

        let logged: Vec<String> = sandbox.calls().into_iter().map(|c| c.path).collect();
        assert_eq!(logged, paths[4..]);
        assert_eq!(sandbox.total_calls(), 7);
        assert_eq!(sandbox.calls_to("/v1/customers/cus_0"), 0, "dropped");
        assert_eq!(sandbox.calls_to("/v1/customers/cus_6"), 1);

        sandbox.reset_calls();
        assert!(sandbox.calls().is_empty());
        assert_eq!(sandbox.total_calls(), 0);
        get(&sandbox, "/v1/customers/cus_1").await;
        assert_eq!(sandbox.total_calls(), 1);
        assert_eq!(sandbox.calls().len(), 1);
    }

    #[test]
    fn a_call_log_without_capacity_holds_nothing_but_still_counts() {
        let mut log = CallLog::new(0);
        for _ in 0..3 {
            log.push(Call {
                method: "GET".into(),
                path: "/v1/customers".into(),
                query: String::new(),
                stripe_version: None,
                authorized: true,
                at: std::time::Instant::now(),
            });
        }
        assert!(log.newest.is_empty());
        assert_eq!(log.total, 3);
    }

    #[test]
    fn sandboxes_log_the_documented_default_number_of_calls() {
        assert_eq!(
            Settings::default().call_log_capacity,
            DEFAULT_CALL_LOG_CAPACITY
        );
    }

    #[tokio::test]
    async fn a_json_fault_answers_its_status_and_body_once_then_the_route_answers() {
        let sandbox = Sandbox::start(one_customer(), KEY).await.unwrap();
        let wrong_type = json!({"object": "search_result", "data": []});
        sandbox.inject(
            Some("/v1/customers"),
            Fault::Json(200, wrong_type.clone()),
            1,
        );

        let faulted = get(&sandbox, "/v1/customers/cus_1").await;
        assert_eq!(faulted.status(), 200);
        assert!(faulted.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_sandbox"));
        assert_eq!(
            faulted.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        assert_eq!(faulted.json::<Value>().await.unwrap(), wrong_type);

        let next = get(&sandbox, "/v1/customers/cus_1").await;
        assert_eq!(next.json::<Value>().await.unwrap()["object"], "customer");
    }

    #[tokio::test]
    async fn a_json_fault_can_be_a_stripe_error_with_a_chosen_code_and_param() {
        let sandbox = Sandbox::start(one_customer(), KEY).await.unwrap();
        let error = json!({"error": {
            "type": "invalid_request_error", "code": "resource_missing", "param": "customer",
            "message": "No such customer: 'cus_1'",
        }});
        sandbox.inject(None, Fault::Json(404, error.clone()), 1);

        let answer = get(&sandbox, "/v1/subscriptions?customer=cus_1").await;
        assert_eq!(answer.status(), 404);
        assert_eq!(answer.json::<Value>().await.unwrap(), error);
    }

    #[tokio::test]
    async fn a_json_fault_with_no_http_status_answers_200() {
        let sandbox = Sandbox::start(one_customer(), KEY).await.unwrap();
        sandbox.inject(None, Fault::Json(42, json!({"ok": true})), 1);

        let answer = get(&sandbox, "/v1/customers/cus_1").await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.json::<Value>().await.unwrap(), json!({"ok": true}));
    }

    #[tokio::test]
    async fn an_unknown_url_names_the_method_and_raw_path_it_was_sent() {
        let sandbox = Sandbox::start(one_customer(), KEY).await.unwrap();
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/v1/v1/customers/cus%201?limit=1",
                sandbox.base_url()
            ))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404);
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            json!({"error": {
                "type": "invalid_request_error",
                "message": "Unrecognized request URL (POST: /v1/v1/customers/cus%201). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            }})
        );
    }

    #[tokio::test]
    async fn a_request_without_the_key_is_refused_before_any_route() {
        let sandbox = Sandbox::start(one_customer(), KEY).await.unwrap();
        let answer = reqwest::get(format!("{}/v1/customers/cus_1", sandbox.base_url()))
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        assert!(!sandbox.calls()[0].authorized);
    }
}
