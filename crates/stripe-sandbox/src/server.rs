//! The sandbox's HTTP server ([`Sandbox`]): one actix-web server on `127.0.0.1:<free port>`,
//! its knobs, fault injection and the call log, and the way each request goes through them to
//! its endpoint ([`crate::routes`]).
//!
//! The knobs, all on [`Sandbox`]:
//!
//! - **latency** added to every answer ([`Sandbox::set_latency`]);
//! - **injected faults** for the next N matching requests ([`Sandbox::inject`], [`Fault`]): a
//!   status in Stripe's error shape (429, 500, 503…), a given status with a given JSON body,
//!   a hang that never answers (the client's timeout must end it), a 2xx body that is not
//!   JSON, a latency spike, a body cut short, or a connection dropped after the headers. These
//!   answer *instead of* the endpoint, so a faulted write is not applied and not stored under
//!   its idempotency key. [`Fault::DroppedAfterApplying`] is the other case, "the write landed
//!   but the answer was lost": the endpoint runs (the write is applied, its answer stored
//!   under its key, its events delivered), then the connection is dropped;
//! - a **call log** with each call's method, raw path, query, `Stripe-Version`, whether the
//!   key was accepted, its `Idempotency-Key` and a POST's decoded form parameters
//!   ([`Sandbox::calls`], [`Call::param`]). It holds the newest
//!   [`DEFAULT_CALL_LOG_CAPACITY`] calls (or [`Settings::call_log_capacity`]), so a
//!   long-running `--demo` stays bounded, and counts every call exactly
//!   ([`Sandbox::total_calls`]);
//! - the **peak number of requests in flight** at once ([`Sandbox::peak_in_flight`]);
//! - **webhooks**: with [`Sandbox::send_webhooks_to`], changes made through
//!   [`Sandbox::update`], [`Sandbox::create`], [`Sandbox::delete_customer`] or the write
//!   endpoints deliver Stripe-signed events there, and return once they were answered (see
//!   [`crate::webhooks`]);
//! - **status changes Stripe makes on its own** (a trial that ends without a payment method
//!   makes a subscription `paused`, a failed renewal `past_due`): a test makes them with
//!   `sandbox.with_store(|s| s.set_subscription_status(id, "paused"))`
//!   ([`Store::set_subscription_status`]), or, to deliver the `customer.subscription.updated`
//!   event as well, `sandbox.update("subscription", id, |s| s["status"] = json!("paused"))`.
//!
//! Like Stripe it requires `Authorization: Bearer <key>` (401 otherwise), sends a
//! `Request-Id` header, and answers errors as `{"error": {"type", "code", "message", …}}`.
//! Each request is logged, then waits out the latency, then gets an injected fault if one
//! matches, else 401 without the key, else the endpoint's answer. A write (POST, or DELETE
//! with its parameters in the query string) runs under the store's lock together with its
//! idempotency check and stored answer ([`idempotency`]: same key and parameters replay the
//! stored answer with `Idempotent-Replayed: true`; other parameters are 400
//! `idempotency_error`; refusals are not stored), then delivers its events, then answers.

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

use crate::{
    clock::unix_now,
    demo,
    error::ApiError,
    events::{self, Change},
    fixtures::plan_view,
    form, idempotency,
    limits::{Limiters, RateLimits},
    render::rendered,
    routes::{self, Handler},
    store::Store,
    webhooks::{Delivery, DeliveryError, Webhooks},
    writes,
};

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
    /// Send the headers of a 200 and drop the connection before any byte of the body. Like
    /// every fault above, it answers instead of the endpoint: a write is **not** applied.
    Dropped,
    /// The write landed but its answer was lost: run the request as usual (a write is
    /// applied, its idempotent answer stored under its `Idempotency-Key`, its events
    /// delivered), then send the headers of a 200 and drop the connection before any byte of
    /// the body, as [`Fault::Dropped`]. A retry with the same key gets the stored answer, and
    /// the write happens once. On a read it is [`Fault::Dropped`] after the work.
    DroppedAfterApplying,
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
    /// The `Idempotency-Key` header, if sent (as text; `None` if it is not valid UTF-8).
    pub idempotency_key: Option<String>,
    /// The decoded `name=value` pairs of a POST's form body, in the order sent (names with
    /// brackets as sent, decoded: `items[0][price]`); empty for other methods, whose
    /// parameters are in [`Call::query`].
    pub form: Vec<(String, String)>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Call {
    /// The value of the form parameter `name` (decoded, e.g. `items[0][price]`) in a POST's
    /// body, if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct FaultRule {
    path_prefix: Option<String>,
    /// Only requests whose raw query string contains this.
    query_contains: Option<String>,
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
    webhooks: Webhooks,
    /// Locked after `store`, never before it.
    idempotency: Mutex<idempotency::Keys>,
    /// Stripe's rate limiters, when emulated ([`Sandbox::set_rate_limits`]).
    limiters: Mutex<Option<Limiters>>,
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
            webhooks: Webhooks::new(),
            idempotency: Mutex::new(idempotency::Keys::new(idempotency::KEY_CAPACITY)),
            limiters: Mutex::new(None),
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
        self.inject_where(path_prefix, None, fault, times);
    }

    /// As [`Sandbox::inject`], only into requests whose raw query string also contains
    /// `query_contains` (as sent, percent-encoded: `starting_after=`).
    pub fn inject_where(
        &self,
        path_prefix: Option<&str>,
        query_contains: Option<&str>,
        fault: Fault,
        times: usize,
    ) {
        lock(&self.state.faults).push_back(FaultRule {
            path_prefix: path_prefix.map(str::to_owned),
            query_contains: query_contains.map(str::to_owned),
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

    /// Emulates Stripe's rate limiters from now on (full buckets), or stops (`None`, the
    /// default): a request over a limit is answered 429 with Stripe's `rate_limit` error
    /// ([`crate::limits`]). It is still logged as a call.
    pub fn set_rate_limits(&self, limits: Option<RateLimits>) {
        *lock(&self.state.limiters) = limits.map(Limiters::new);
    }

    /// How many requests the emulated limiters answered 429 since they were set.
    pub fn rate_limited(&self) -> usize {
        lock(&self.state.limiters)
            .as_ref()
            .map_or(0, |limiters| limiters.refused)
    }
}

/// Webhooks ([`crate::webhooks`]): where the sandbox sends its events, and the data changes
/// that record and send them. Every change records its events in the store (listed by
/// `GET /v1/events`); the `_quietly` variants record them without delivering, as a webhook
/// Stripe never got through.
impl Sandbox {
    /// From now on, data changes made through this sandbox ([`Sandbox::update`],
    /// [`Sandbox::create`], [`Sandbox::delete_customer`], the write endpoints) send their
    /// events to `url`, signed with `secret`. Replaces an earlier target.
    pub fn send_webhooks_to(&self, url: &str, secret: &str) {
        self.state.webhooks.send_to(url, secret);
    }

    /// Changes a stored object (`customer`, `subscription`, `price`, `product`) and delivers
    /// its `*.updated` event (`customer.subscription.updated` for a subscription), with
    /// `previous_attributes`. A price change also shows in the subscriptions that embed it,
    /// as on Stripe, and a recurring price's change is also a `plan.updated` event (with its
    /// plan view), recorded and delivered after the `price.updated` one. Returns after the
    /// receiver answered (the first event's delivery). Like every method here that changes
    /// data, it changes nothing when [`Sandbox::send_webhooks_to`] was not called
    /// ([`DeliveryError::NoTarget`]) or the object does not exist.
    pub async fn update(
        &self,
        object: &str,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Delivery, DeliveryError> {
        self.state.webhooks.require_target()?;
        let events = self.update_quietly(object, id, change)?;
        self.deliver_all(events).await
    }

    /// [`Sandbox::update`] without delivering: the events are recorded (and listed by
    /// `GET /v1/events`), no webhook is sent. Returns the events.
    pub fn update_quietly(
        &self,
        object: &str,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Vec<Value>, DeliveryError> {
        self.with_store(|store| {
            let before = store.get(object, id).map(|v| rendered(object, v))?;
            store.update(object, id, change);
            let after = rendered(object, store.get(object, id)?);
            let now = unix_now();
            let plan = (object == "price" && after["type"] == json!("recurring"))
                .then(|| (plan_view(&before), plan_view(&after)));
            let mut events = vec![store.record(
                Change {
                    event_type: events::event_type(object, "updated"),
                    previous_attributes: Some(events::previous_attributes(&before, &after)),
                    object: after,
                },
                None,
                None,
                now,
            )];
            if let Some((before, after)) = plan {
                events.push(store.record(
                    Change {
                        event_type: "plan.updated".into(),
                        previous_attributes: Some(events::previous_attributes(&before, &after)),
                        object: after,
                    },
                    None,
                    None,
                    now,
                ));
            }
            Some(events)
        })
        .ok_or_else(|| DeliveryError::NoSuchObject {
            object: object.to_owned(),
            id: id.to_owned(),
        })
    }

    /// Stores a new object (routed by its `object` field, as [`Store::put`], which panics on
    /// a type the store does not keep) and delivers its `*.created` event. Returns after the
    /// receiver answered.
    pub async fn create(&self, object: Value) -> Result<Delivery, DeliveryError> {
        self.state.webhooks.require_target()?;
        let event = self.create_quietly(object);
        self.state.webhooks.send(&event).await
    }

    /// [`Sandbox::create`] without delivering; returns the recorded event.
    pub fn create_quietly(&self, object: Value) -> Value {
        let kind = object["object"].as_str().unwrap_or_default().to_owned();
        self.with_store(|store| {
            store.put(object.clone());
            let stored = rendered(&kind, &object);
            store.record(
                Change {
                    event_type: events::event_type(&kind, "created"),
                    object: stored,
                    previous_attributes: None,
                },
                None,
                None,
                unix_now(),
            )
        })
    }

    /// Deletes a customer as Stripe does ([`Store::delete_customer`]) and delivers what Stripe
    /// sends: `customer.subscription.deleted` for each subscription it canceled, then
    /// `customer.deleted` with the customer as it was. Returns after every delivery was
    /// answered, in that order.
    pub async fn delete_customer(&self, id: &str) -> Result<Vec<Delivery>, DeliveryError> {
        self.state.webhooks.require_target()?;
        let events = self.delete_customer_quietly(id)?;
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            deliveries.push(self.state.webhooks.send(&event).await?);
        }
        Ok(deliveries)
    }

    /// [`Sandbox::delete_customer`] without delivering; returns the recorded events.
    pub fn delete_customer_quietly(&self, id: &str) -> Result<Vec<Value>, DeliveryError> {
        self.with_store(|store| {
            let now = unix_now();
            let changes = writes::customer_deletion(store, id, now)?;
            Some(
                changes
                    .into_iter()
                    .map(|change| store.record(change, None, None, now))
                    .collect(),
            )
        })
        .ok_or_else(|| DeliveryError::NoSuchObject {
            object: "customer".into(),
            id: id.to_owned(),
        })
    }

    /// Records and delivers an event of any type about `object` without changing any data
    /// (e.g. a type the server does not cache). Returns after the receiver answered.
    pub async fn emit(&self, event_type: &str, object: Value) -> Result<Delivery, DeliveryError> {
        let event = self.with_store(|store| {
            store.record(
                Change {
                    event_type: event_type.to_owned(),
                    object,
                    previous_attributes: None,
                },
                None,
                None,
                unix_now(),
            )
        });
        self.state.webhooks.send(&event).await
    }

    /// Delivers `event` as it is (e.g. a [`Delivery::event`] again, as Stripe redelivers, or
    /// one of [`Store::events`]), signed now. Returns after the receiver answered.
    pub async fn send_event(&self, event: &Value) -> Result<Delivery, DeliveryError> {
        self.state.webhooks.send(event).await
    }

    /// Forgets every event recorded so far, as 30 days passing would: `GET /v1/events` no
    /// longer lists them, and a cursor naming one is unknown (404).
    pub fn forget_events(&self) {
        self.with_store(|store| store.forget_events_before(i64::MAX));
    }

    /// Posts `body` to the webhook URL with this `Stripe-Signature` value, or none: for
    /// forged, stale or malformed deliveries ([`crate::webhooks::signature_header`] makes one
    /// with any secret and time). Returns after the receiver answered.
    pub async fn post_webhook(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Delivery, DeliveryError> {
        self.state
            .webhooks
            .post(body.to_vec(), signature.map(str::to_owned))
            .await
    }

    /// Delivers `events` in order; the first one's delivery is the answer.
    async fn deliver_all(&self, events: Vec<Value>) -> Result<Delivery, DeliveryError> {
        let mut first = None;
        for event in events {
            let delivery = self.state.webhooks.send(&event).await?;
            first.get_or_insert(delivery);
        }
        first.ok_or(DeliveryError::NoTarget)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
    }
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
    let method = req.method().as_str().to_owned();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == state.api_key);
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let form = if method == "POST" {
        form::pairs(&body)
    } else {
        Vec::new()
    };
    lock(&state.calls).push(Call {
        method: method.clone(),
        path: path.clone(),
        query: req.query_string().to_owned(),
        stripe_version: req
            .headers()
            .get("stripe-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        authorized,
        idempotency_key: idempotency_key.clone(),
        form: form.clone(),
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
    let mut drop_answer = false;
    if let Some(fault) = take_fault(&state, &path, req.query_string()) {
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
            Fault::DroppedAfterApplying => drop_answer = true,
            Fault::Status(status) => return refuse(ApiError::injected(status), request_id),
            Fault::ShouldRetry(status, retry) => {
                let mut response = refuse(ApiError::injected(status), request_id);
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
        let sent = req.headers().contains_key("authorization");
        return refuse(ApiError::unauthorized(sent), request_id);
    }
    let key = idempotency_key.as_deref().filter(|_| method == "POST");
    let answer = route(
        &state,
        &method,
        &path,
        req.query_string(),
        form,
        key,
        &request_id,
    )
    .await;
    if drop_answer {
        return cut_off(request_id, b"");
    }
    answer
}

/// What a write request came to.
enum WriteOutcome {
    /// Applied now: the answer, and the events recorded for its changes, to deliver.
    Applied(Value, Vec<Value>),
    /// Answered before, under the same idempotency key: the stored status and body.
    Replayed(u16, Value),
    /// Refused; nothing changed.
    Refused(ApiError),
}

/// Answers an authorized request through the route table ([`routes::find`]): a read from
/// the store, or a write under its idempotency key ([`write`]).
async fn route(
    state: &State,
    method: &str,
    path: &str,
    query: &str,
    form: Vec<(String, String)>,
    key: Option<&str>,
    request_id: &str,
) -> HttpResponse {
    let request_id = request_id.to_owned();
    let matched = match routes::find(method, path) {
        Ok(matched) => matched,
        Err(e) => return refuse(e, request_id),
    };
    let (endpoint_method, template) = matched.endpoint;
    let admitted = lock(&state.limiters)
        .as_mut()
        .is_none_or(|limiters| limiters.admit(endpoint_method, template));
    if !admitted {
        return refuse(ApiError::rate_limited(), request_id);
    }
    let endpoint = match matched.handler {
        Handler::Read(read) => {
            return match read.answer(&lock(&state.store), &matched.id, query) {
                Ok(body) => respond(200, body, request_id),
                Err(e) => refuse(e, request_id),
            }
        }
        Handler::Write(endpoint) => *endpoint,
    };
    let params = if method == "POST" {
        form
    } else {
        form::pairs(query.as_bytes())
    };
    match write(
        state,
        endpoint,
        (&matched.id, &request_id),
        method,
        path,
        &params,
        key,
    ) {
        WriteOutcome::Applied(answer, events) => {
            state.webhooks.deliver_recorded(events).await;
            respond(200, answer, request_id)
        }
        WriteOutcome::Replayed(status, body) => {
            let mut response = respond(status, body, request_id);
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
                actix_web::http::header::HeaderValue::from_static("true"),
            );
            response
        }
        WriteOutcome::Refused(e) => refuse(e, request_id),
    }
}

/// Runs a write under its idempotency key, atomically: the key's check, the change, its
/// recorded events and the stored answer happen under the store's lock, so two requests with
/// one key write once. `target` is the object's id (empty without one) and the request's id.
fn write(
    state: &State,
    endpoint: writes::Endpoint,
    (id, request_id): (&str, &str),
    method: &str,
    path: &str,
    params: &[(String, String)],
    key: Option<&str>,
) -> WriteOutcome {
    if let Some(Err(e)) = key.map(idempotency::check_key) {
        return WriteOutcome::Refused(e);
    }
    let mut store = lock(&state.store);
    let mut keys = lock(&state.idempotency);
    if let Some(key) = key {
        match keys.check(key, method, path, params) {
            idempotency::Seen::New => {}
            idempotency::Seen::Replay(status, body) => return WriteOutcome::Replayed(status, body),
            idempotency::Seen::Conflict(e) => return WriteOutcome::Refused(e),
        }
    }
    let now = unix_now();
    match writes::apply(endpoint, &mut store, id, params, now) {
        Ok((answer, changes)) => {
            if let Some(key) = key {
                keys.remember(key, method, path, params, 200, answer.clone());
            }
            let events = changes
                .into_iter()
                .map(|change| store.record(change, Some(request_id), key, now))
                .collect();
            WriteOutcome::Applied(answer, events)
        }
        Err(e) => WriteOutcome::Refused(e),
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

fn take_fault(state: &State, path: &str, query: &str) -> Option<Fault> {
    let mut faults = lock(&state.faults);
    let rule = faults.iter_mut().find(|r| {
        r.remaining > 0
            && r.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
            && r.query_contains
                .as_deref()
                .is_none_or(|q| query.contains(q))
    })?;
    rule.remaining -= 1;
    let fault = rule.fault.clone();
    faults.retain(|r| r.remaining > 0);
    Some(fault)
}

/// A refusal in Stripe's error shape, with a `Request-Id` header.
fn refuse(error: ApiError, request_id: String) -> HttpResponse {
    respond(error.status, error.body, request_id)
}

/// A JSON answer with `status` (200 if it is no HTTP status) and a `Request-Id` header.
fn respond(status: u16, body: Value, request_id: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header(("Request-Id", request_id))
        .json(body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures;

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
                idempotency_key: None,
                form: Vec::new(),
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

    /// A sandbox with `cus_1` (a payment method) and a monthly `price_m`.
    async fn writable() -> Sandbox {
        let mut store = one_customer();
        store.update("customer", "cus_1", |c| {
            c["invoice_settings"]["default_payment_method"] = json!("pm_1")
        });
        let monthly = fixtures::Recurrence {
            interval: "month",
            interval_count: 1,
            usage_type: "licensed",
            meter: None,
        };
        store.put(fixtures::price(
            "price_m",
            "prod_1",
            "m",
            "100",
            Some(monthly),
            1,
        ));
        Sandbox::start(store, KEY).await.unwrap()
    }

    async fn post(
        sandbox: &Sandbox,
        path: &str,
        key: Option<&str>,
        body: &str,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", sandbox.base_url()))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await
    }

    async fn answered(response: reqwest::Response) -> (u16, Option<String>, Value) {
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, replayed, response.json().await.unwrap())
    }

    fn subscriptions(sandbox: &Sandbox) -> usize {
        sandbox.with_store(|s| s.objects("subscription").count())
    }

    const SUBSCRIBE: &str =
        "customer=cus_1&items%5B0%5D%5Bprice%5D=price_m&items%5B0%5D%5Bquantity%5D=2";

    #[tokio::test]
    async fn an_idempotent_post_is_replayed_exactly_and_writes_once() {
        let sandbox = writable().await;
        let first = answered(
            post(&sandbox, "/v1/subscriptions", Some("key-1"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(first.0, 200);
        assert_eq!(first.1, None);

        let raw_brackets_other_order =
            "items[0][quantity]=2&customer=cus_1&items[0][price]=price_m";
        let again = answered(
            post(
                &sandbox,
                "/v1/subscriptions",
                Some("key-1"),
                raw_brackets_other_order,
            )
            .await
            .unwrap(),
        )
        .await;

        assert_eq!(again, (200, Some("true".into()), first.2.clone()));
        assert_eq!(subscriptions(&sandbox), 1);
        let other_key = answered(
            post(&sandbox, "/v1/subscriptions", Some("key-2"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        assert_ne!(other_key.2["id"], first.2["id"]);
        assert_eq!(subscriptions(&sandbox), 2);
        let no_key = answered(
            post(&sandbox, "/v1/customers/cus_1", None, "name=A")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(no_key.0, 200);
    }

    #[tokio::test]
    async fn concurrent_requests_with_one_key_write_once() {
        let sandbox = writable().await;
        sandbox.hold_answers();
        let requests = futures::future::join_all(
            (0..4).map(|_| post(&sandbox, "/v1/subscriptions", Some("same"), SUBSCRIBE)),
        );
        let release = async {
            // Every request is logged on arrival, before it waits for the gate.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while sandbox.total_calls() < 4 {
                assert!(std::time::Instant::now() < deadline, "the requests arrive");
                tokio::task::yield_now().await;
            }
            sandbox.release_answers();
        };
        let (answers, ()) = tokio::join!(requests, release);
        let mut bodies = Vec::new();
        for answer in answers {
            bodies.push(answered(answer.unwrap()).await);
        }

        assert_eq!(subscriptions(&sandbox), 1);
        assert!(bodies
            .iter()
            .all(|(status, _, body)| *status == 200 && *body == bodies[0].2));
        let replays = bodies
            .iter()
            .filter(|(_, replayed, _)| replayed.is_some())
            .count();
        assert_eq!(replays, 3);
    }

    #[tokio::test]
    async fn the_same_key_with_other_parameters_or_on_another_endpoint_is_an_idempotency_error() {
        let sandbox = writable().await;
        post(&sandbox, "/v1/customers/cus_1", Some("k"), "name=A")
            .await
            .unwrap();

        for (path, body) in [
            ("/v1/customers/cus_1", "name=B"),
            ("/v1/customers", "name=A"),
        ] {
            let (status, replayed, body) =
                answered(post(&sandbox, path, Some("k"), body).await.unwrap()).await;
            assert_eq!(status, 400, "{path}");
            assert_eq!(replayed, None);
            assert_eq!(body["error"]["type"], json!("idempotency_error"));
            assert!(body["error"]["message"].as_str().unwrap().contains("'k'"));
        }
        assert_eq!(
            sandbox.with_store(|s| s.get("customer", "cus_1").unwrap()["name"].clone()),
            json!("A")
        );
        assert_eq!(sandbox.with_store(|s| s.objects("customer").count()), 1);
    }

    #[tokio::test]
    async fn a_refused_write_is_not_stored_under_its_key() {
        let sandbox = writable().await;
        for _ in 0..2 {
            let (status, _, body) = answered(
                post(
                    &sandbox,
                    "/v1/subscriptions",
                    Some("k"),
                    "customer=cus_nope&items[0][price]=price_m",
                )
                .await
                .unwrap(),
            )
            .await;
            assert_eq!(status, 400);
            assert_eq!(body["error"]["code"], json!("resource_missing"));
        }
        let (status, replayed, body) = answered(
            post(&sandbox, "/v1/subscriptions", Some("k"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, replayed), (200, None), "{body}");
        assert_eq!(subscriptions(&sandbox), 1);

        let (status, _, _) = answered(
            post(&sandbox, "/v1/customers", Some(&"k".repeat(256)), "name=A")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "a key longer than Stripe takes");
        assert_eq!(sandbox.with_store(|s| s.objects("customer").count()), 1);
    }

    #[tokio::test]
    async fn a_write_whose_answer_was_dropped_lands_once_and_its_retry_gets_the_stored_answer() {
        let sandbox = writable().await;
        sandbox.inject(Some("/v1/subscriptions"), Fault::DroppedAfterApplying, 1);

        let lost = match post(&sandbox, "/v1/subscriptions", Some("k"), SUBSCRIBE).await {
            Ok(response) => response.bytes().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(lost.is_err(), "the answer is lost");
        assert_eq!(subscriptions(&sandbox), 1, "the write landed");

        let (status, replayed, body) = answered(
            post(&sandbox, "/v1/subscriptions", Some("k"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, replayed.as_deref()), (200, Some("true")));
        assert_eq!(subscriptions(&sandbox), 1, "the retry wrote nothing");
        let stored = sandbox.with_store(|s| s.objects("subscription").next().cloned().unwrap());
        assert_eq!(body["id"], stored["id"]);
    }

    #[tokio::test]
    async fn a_dropped_fault_answers_instead_of_the_write_so_nothing_changes() {
        let sandbox = writable().await;
        sandbox.inject(None, Fault::Dropped, 1);
        let lost = match post(&sandbox, "/v1/subscriptions", Some("k"), SUBSCRIBE).await {
            Ok(response) => response.bytes().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(lost.is_err());
        assert_eq!(subscriptions(&sandbox), 0);
        sandbox.inject(None, Fault::Status(500), 1);
        let (status, _, _) = answered(
            post(&sandbox, "/v1/subscriptions", Some("k"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 500);
        assert_eq!(subscriptions(&sandbox), 0);
        let (status, replayed, _) = answered(
            post(&sandbox, "/v1/subscriptions", Some("k"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, replayed),
            (200, None),
            "a faulted request was not stored"
        );
        assert_eq!(subscriptions(&sandbox), 1);
    }

    #[tokio::test]
    async fn the_call_log_holds_each_posts_key_and_decoded_form_and_deletes_take_the_query() {
        let sandbox = writable().await;
        let (_, _, sub) = answered(
            post(&sandbox, "/v1/subscriptions", Some("k-1"), SUBSCRIBE)
                .await
                .unwrap(),
        )
        .await;
        let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
        let deleted = reqwest::Client::new()
            .delete(format!(
                "{}{path}?invoice_now=true&prorate=false",
                sandbox.base_url()
            ))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
        assert_eq!(
            deleted.json::<Value>().await.unwrap()["status"],
            json!("canceled")
        );
        let refused = reqwest::Client::new()
            .delete(format!(
                "{}/v1/customers/cus_1?colour=red",
                sandbox.base_url()
            ))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
        assert_eq!(
            refused.json::<Value>().await.unwrap()["error"]["param"],
            json!("colour")
        );

        let calls = sandbox.calls();
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].idempotency_key.as_deref(), Some("k-1"));
        assert_eq!(calls[0].param("items[0][price]"), Some("price_m"));
        assert_eq!(calls[0].param("customer"), Some("cus_1"));
        assert_eq!(calls[0].form.len(), 3);
        assert_eq!(calls[1].method, "DELETE");
        assert_eq!(calls[1].idempotency_key, None);
        assert!(calls[1].form.is_empty());
        assert_eq!(calls[1].query, "invoice_now=true&prorate=false");
    }

    /// A webhook receiver that keeps every event it is sent and answers 200.
    async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>, actix_web::dev::ServerHandle) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let kept = events.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new().default_service(web::to(move |body: web::Bytes| {
                let kept = kept.clone();
                async move {
                    lock(&kept).push(serde_json::from_slice::<Value>(&body).unwrap());
                    HttpResponse::Ok().finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        (url, events, handle)
    }

    #[tokio::test]
    async fn writes_deliver_stripes_events_naming_the_request_and_key_before_they_answer() {
        let sandbox = writable().await;
        let (url, events, server) = receiver().await;
        sandbox.send_webhooks_to(&url, "whsec_unit");

        let (_, _, customer) = answered(
            post(&sandbox, "/v1/customers", Some("k-c"), "name=New")
                .await
                .unwrap(),
        )
        .await;
        let id = customer["id"].as_str().unwrap().to_owned();
        let (_, _, sub) = answered(
            post(
                &sandbox,
                "/v1/subscriptions",
                Some("k-s"),
                &format!("customer={id}&items[0][price]=price_m&trial_period_days=7"),
            )
            .await
            .unwrap(),
        )
        .await;
        let sub_path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
        post(
            &sandbox,
            &sub_path,
            Some("k-u"),
            "cancel_at_period_end=true",
        )
        .await
        .unwrap();
        post(
            &sandbox,
            &sub_path,
            Some("k-u"),
            "cancel_at_period_end=true",
        )
        .await
        .unwrap();
        reqwest::Client::new()
            .delete(format!("{}/v1/customers/{id}", sandbox.base_url()))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();

        let events = lock(&events).clone();
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "customer.created",
                "customer.subscription.created",
                "customer.subscription.updated",
                "customer.subscription.deleted",
                "customer.deleted",
            ],
            "the replayed update sent no event"
        );
        assert_eq!(events[0]["data"]["object"], customer);
        assert_eq!(events[0]["request"]["idempotency_key"], json!("k-c"));
        assert!(events[0]["request"]["id"]
            .as_str()
            .unwrap()
            .starts_with("req_sandbox"));
        assert_eq!(events[1]["data"]["object"], sub);
        assert_eq!(
            events[2]["data"]["previous_attributes"]["cancel_at_period_end"],
            json!(false)
        );
        assert_eq!(events[4]["request"]["idempotency_key"], Value::Null);
        server.stop(false).await;
    }

    async fn listed(sandbox: &Sandbox, path: &str) -> (u16, Value) {
        let response = get(sandbox, path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    fn event_ids(page: &Value) -> Vec<&str> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn every_change_is_an_event_listed_newest_first_delivered_or_not() {
        let sandbox = writable().await;
        // A write with no webhook target, and quiet changes: recorded, never delivered.
        post(&sandbox, "/v1/customers/cus_1", None, "name=Written")
            .await
            .unwrap();
        let quiet = sandbox
            .update_quietly("customer", "cus_1", |c| c["email"] = json!("q@example.com"))
            .unwrap();
        assert_eq!(quiet.len(), 1);
        sandbox
            .update_quietly("price", "price_m", |p| p["nickname"] = json!("renamed"))
            .unwrap();

        let (status, page) = listed(&sandbox, "/v1/events").await;
        assert_eq!(status, 200);
        let types: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "plan.updated",
                "price.updated",
                "customer.updated",
                "customer.updated"
            ]
        );
        assert_eq!(page["data"][2], quiet[0]);
        assert_eq!(page["data"][2]["data"]["object"]["email"], "q@example.com");
        assert_eq!(page["data"][0]["data"]["object"]["nickname"], "renamed");
        assert_eq!(page["data"][0]["data"]["object"]["object"], "plan");
        assert!(page["data"][3]["request"]["id"]
            .as_str()
            .unwrap()
            .starts_with("req_sandbox"));
    }

    #[tokio::test]
    async fn events_are_filtered_by_type_wildcard_types_and_created_and_paged_by_cursor() {
        let sandbox = writable().await;
        for name in ["A", "B", "C"] {
            sandbox
                .update_quietly("customer", "cus_1", |c| c["name"] = json!(name))
                .unwrap();
        }
        sandbox
            .update_quietly("price", "price_m", |p| p["nickname"] = json!("n"))
            .unwrap();
        let (_, all) = listed(&sandbox, "/v1/events").await;
        let all_ids = event_ids(&all);
        assert_eq!(all_ids.len(), 5);

        let (_, customers) = listed(&sandbox, "/v1/events?type=customer.*").await;
        assert_eq!(event_ids(&customers), all_ids[2..]);
        let (_, two) = listed(
            &sandbox,
            "/v1/events?types[]=price.updated&types[]=plan.updated",
        )
        .await;
        assert_eq!(event_ids(&two), all_ids[..2]);
        let (_, indexed) = listed(&sandbox, "/v1/events?types[0]=price.updated").await;
        assert_eq!(event_ids(&indexed), [all_ids[1]]);

        // Newer than a cursor: `ending_before` pages toward the newest, `has_more` says more.
        let oldest = all_ids[4];
        let (_, newer) = listed(
            &sandbox,
            &format!("/v1/events?type=customer.updated&ending_before={oldest}&limit=1"),
        )
        .await;
        assert_eq!(event_ids(&newer), [all_ids[3]]);
        assert_eq!(newer["has_more"], json!(true));

        let created = all["data"][0]["created"].as_i64().unwrap();
        let (_, later) = listed(&sandbox, &format!("/v1/events?created[gt]={created}")).await;
        assert_eq!(event_ids(&later).len(), 0);
        let (_, since) = listed(&sandbox, &format!("/v1/events?created[gte]={created}")).await;
        assert!(!event_ids(&since).is_empty());
        let (status, bad) = listed(&sandbox, "/v1/events?created[gt]=soon").await;
        assert_eq!(status, 400);
        assert_eq!(bad["error"]["param"], "created[gt]");
        let (status, both) = listed(&sandbox, "/v1/events?type=a&types[]=b").await;
        assert_eq!(status, 400);
        assert_eq!(both["error"]["param"], "type");

        // Forgotten after 30 days: not listed, and a cursor naming one is unknown.
        sandbox.forget_events();
        let (_, none) = listed(&sandbox, "/v1/events").await;
        assert_eq!(event_ids(&none).len(), 0);
        let (status, gone) = listed(&sandbox, &format!("/v1/events?ending_before={oldest}")).await;
        assert_eq!(status, 404);
        assert_eq!(gone["error"]["param"], "ending_before");
    }

    #[tokio::test]
    async fn the_customer_list_embeds_each_customers_subscriptions_when_asked() {
        let sandbox = writable().await;
        post(
            &sandbox,
            "/v1/subscriptions",
            None,
            "customer=cus_1&items[0][price]=price_m",
        )
        .await
        .unwrap();
        let (status, page) = listed(
            &sandbox,
            "/v1/customers?limit=100&expand[]=data.subscriptions",
        )
        .await;
        assert_eq!(status, 200);
        let (_, retrieved) = listed(&sandbox, "/v1/customers/cus_1?expand[]=subscriptions").await;
        assert_eq!(page["data"][0], retrieved);
        assert_eq!(
            page["data"][0]["subscriptions"]["data"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (_, plain) = listed(&sandbox, "/v1/customers").await;
        assert_eq!(plain["data"][0].get("subscriptions"), None);
        let (status, refused) = listed(&sandbox, "/v1/customers?expand[]=data.invoices").await;
        assert_eq!(status, 400);
        assert_eq!(refused["error"]["param"], "expand[0]");

        let (_, plans) = listed(&sandbox, "/v1/plans?limit=100").await;
        assert_eq!(plans["data"][0]["object"], "plan");
        assert_eq!(plans["data"][0]["id"], "price_m");
        let (_, products) = listed(&sandbox, "/v1/products?active=true").await;
        assert_eq!(products["object"], "list");
    }

    #[tokio::test]
    async fn a_quiet_deletion_records_stripes_events_and_sends_none() {
        let sandbox = writable().await;
        let (url, delivered, server) = receiver().await;
        sandbox.send_webhooks_to(&url, "whsec_unit");
        post(
            &sandbox,
            "/v1/subscriptions",
            None,
            "customer=cus_1&items[0][price]=price_m",
        )
        .await
        .unwrap();
        let before = lock(&delivered).len();
        let events = sandbox.delete_customer_quietly("cus_1").unwrap();
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["customer.subscription.deleted", "customer.deleted"]);
        assert_eq!(lock(&delivered).len(), before, "nothing delivered");
        let (_, page) = listed(&sandbox, "/v1/events?limit=2").await;
        assert_eq!(page["data"][0], events[1]);
        assert!(sandbox.delete_customer_quietly("cus_nope").is_err());
        server.stop(false).await;
    }
}
