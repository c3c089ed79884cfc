//! Prometheus metrics, served at `GET /metrics`.
//!
//! One [`Metrics`] is built per server and handed to the Stripe client, the cache and the
//! HTTP layer; clones share the same registry. Recording never blocks on I/O, never
//! allocates once a series exists, and never fails.
//!
//! Guarantees:
//! - **One registry per [`Metrics`]**, no global state: several servers in one process (the
//!   integration tests) count separately.
//! - **Bounded label values.** Every label value comes from this crate's code (a
//!   `&'static str` route template or reason, an enum, an HTTP status from Stripe), except
//!   the webhook event type, which is reduced to a fixed set ([`webhook_type_label`]) so an
//!   unauthenticated sender cannot create series.
//! - **Known series start at zero**: every cache event, every GraphQL outcome and every mirror
//!   series is exported from the start (so `rate()` sees the first increment). Stripe and webhook series appear
//!   with their first sample, because their label values are only known then.
//!
//! The families (all prefixed `stripe_graphql_`, listed with their labels in the README's
//! "Metrics and tracing" section):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `stripe_requests_total` | counter | `endpoint`, `status` (HTTP code or `error`) |
//! | `stripe_request_duration_seconds` | histogram | `endpoint` |
//! | `stripe_retries_total` | counter | `endpoint`, `reason` |
//! | `stripe_rate_limit_wait_seconds` | histogram | |
//! | `cache_events_total` | counter | `event` |
//! | `redis_up` | gauge (1 while Redis answers, 0 during an outage) | |
//! | `redis_errors_total` | counter | |
//! | `webhook_events_total` | counter | `type`, `outcome` |
//! | `graphql_requests_total` | counter | `outcome` |
//! | `graphql_request_duration_seconds` | histogram | |
//! | `build_info` | gauge (always 1) | `version` |
//! | `mirror_ready` | gauge (1 once the first backfill is complete; 0 warming or without the mirror) | |
//! | `mirror_objects` | gauge | `type` (`customer`, `subscription`, `price`, `plan`, `product`) |
//! | `mirror_backfill_objects_total` | counter (objects read by backfill passes) | |
//! | `mirror_backfill_passes_total` | counter (passes completed) | |
//! | `mirror_events_total` | counter | `source` (`webhook`, `events_api`), `outcome` (`applied`, `ignored`, `refetched`) |
//! | `mirror_answers_total` | counter | `outcome` (`hit`: from the mirror, `fallback`: asked of Stripe) |
//! | `mirror_reconcile_total` | counter | `outcome` (`ok`, `failed`, `backfill`: the cursor was unknown) |
//!
//! [`Metrics::encode`] writes the Prometheus text exposition format, version 0.0.4
//! ([`CONTENT_TYPE`]).

use std::{fmt::Write as _, sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// The `Content-Type` of what [`Metrics::encode`] returns: the Prometheus text exposition
/// format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Histogram buckets for one Stripe call, in seconds: 5 ms to 20 s (the longest timeout a
/// call can be given is 120 s; slower calls land in `+Inf`).
const STRIPE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
];

/// Histogram buckets for one GraphQL request, in seconds: a warm request takes well under a
/// millisecond, a cold Hasura join of many customers several seconds.
const GRAPHQL_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
];

/// Histogram buckets for a rate-limiter wait, in seconds.
const WAIT_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What happened to one cache lookup or entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheEvent {
    /// Served from memory.
    Hit,
    /// Not in memory (or expired): this lookup started a Stripe call.
    Miss,
    /// Not in memory, and another lookup was already fetching it: this one waited for that
    /// call instead of making its own.
    Coalesced,
    /// Stripe failed after retries and the last good value was served instead.
    StaleServed,
    /// An entry left the cache early because a webhook said it changed.
    Invalidated,
    /// An entry was evicted to keep the cache within `CACHE_MAX_ENTRIES`.
    EvictedForSize,
    /// A miss answered by the level the replicas share (Redis), without a Stripe call.
    SharedHit,
    /// A miss the shared level did not hold: this replica asked Stripe and filled it.
    SharedMiss,
    /// A miss another replica was filling: this one waited for its answer.
    SharedCoalesced,
    /// An invalidation made by another replica (its webhook, its write) applied here.
    RemoteInvalidation,
}

impl CacheEvent {
    /// Every event, in the order of its counter in [`Metrics`].
    pub const ALL: [CacheEvent; 10] = [
        CacheEvent::Hit,
        CacheEvent::Miss,
        CacheEvent::Coalesced,
        CacheEvent::StaleServed,
        CacheEvent::Invalidated,
        CacheEvent::EvictedForSize,
        CacheEvent::SharedHit,
        CacheEvent::SharedMiss,
        CacheEvent::SharedCoalesced,
        CacheEvent::RemoteInvalidation,
    ];

    /// This event's position in [`CacheEvent::ALL`].
    const fn index(self) -> usize {
        match self {
            CacheEvent::Hit => 0,
            CacheEvent::Miss => 1,
            CacheEvent::Coalesced => 2,
            CacheEvent::StaleServed => 3,
            CacheEvent::Invalidated => 4,
            CacheEvent::EvictedForSize => 5,
            CacheEvent::SharedHit => 6,
            CacheEvent::SharedMiss => 7,
            CacheEvent::SharedCoalesced => 8,
            CacheEvent::RemoteInvalidation => 9,
        }
    }

    /// The `event` label value: `hit`, `miss`, `coalesced`, `stale_served`, `invalidated`,
    /// `evicted_size`, `shared_hit`, `shared_miss`, `shared_coalesced`,
    /// `remote_invalidation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheEvent::Hit => "hit",
            CacheEvent::Miss => "miss",
            CacheEvent::Coalesced => "coalesced",
            CacheEvent::StaleServed => "stale_served",
            CacheEvent::Invalidated => "invalidated",
            CacheEvent::EvictedForSize => "evicted_size",
            CacheEvent::SharedHit => "shared_hit",
            CacheEvent::SharedMiss => "shared_miss",
            CacheEvent::SharedCoalesced => "shared_coalesced",
            CacheEvent::RemoteInvalidation => "remote_invalidation",
        }
    }
}

/// What the webhook endpoint did with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    /// Verified, and cache entries it makes stale were evicted.
    Applied,
    /// Verified, but of a type this server does not cache (answered 200, nothing changed).
    Ignored,
    /// Missing, malformed, wrong or too old signature, or a body that is not an event
    /// (answered 400, nothing changed).
    Rejected,
}

impl WebhookOutcome {
    /// The `outcome` label value: `applied`, `ignored`, `rejected`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::Rejected => "rejected",
        }
    }
}

/// How one GraphQL request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphqlOutcome {
    /// Answered with `data` and no `errors`.
    Ok,
    /// Answered with at least one entry in `errors`.
    Errors,
    /// Refused before execution (401, 413, a body that is not a GraphQL request, 503 when
    /// `MAX_REQUESTS_IN_FLIGHT` requests are already being answered).
    Refused,
}

impl GraphqlOutcome {
    /// Every outcome, in the order of its counter in [`Metrics`].
    pub const ALL: [GraphqlOutcome; 3] = [
        GraphqlOutcome::Ok,
        GraphqlOutcome::Errors,
        GraphqlOutcome::Refused,
    ];

    /// This outcome's position in [`GraphqlOutcome::ALL`].
    const fn index(self) -> usize {
        match self {
            GraphqlOutcome::Ok => 0,
            GraphqlOutcome::Errors => 1,
            GraphqlOutcome::Refused => 2,
        }
    }

    /// The `outcome` label value: `ok`, `errors`, `refused`.
    pub const fn as_str(self) -> &'static str {
        match self {
            GraphqlOutcome::Ok => "ok",
            GraphqlOutcome::Errors => "errors",
            GraphqlOutcome::Refused => "refused",
        }
    }
}

/// The `type` label values of `webhook_events_total`: the Stripe event-type families this
/// server caches, `other` for every other type, `unreadable` when no type could be read.
/// Most specific first.
const WEBHOOK_TYPES: [&str; 5] = [
    "customer.subscription",
    "customer",
    "price",
    "plan",
    "product",
];

/// The `type` label value of a webhook delivery: `customer.subscription` for
/// `customer.subscription.*`, `customer` for other `customer.*` events, `price`, `plan`,
/// `product` for theirs, `other` for any other type, `unreadable` for `None`. Only these
/// seven values exist, whatever the sender puts in the body.
pub fn webhook_type_label(event_type: Option<&str>) -> &'static str {
    let Some(event_type) = event_type else {
        return "unreadable";
    };
    WEBHOOK_TYPES
        .into_iter()
        .find(|family| {
            event_type
                .strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
        })
        .unwrap_or("other")
}

/// The `status` label value of a Stripe call: the HTTP status, or `error` when no answer
/// came (transport failure, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StatusLabel(Option<u16>);

impl EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        match self.0 {
            Some(status) => write!(encoder, "{status}"),
            None => encoder.write_str("error"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StripeCallLabels {
    endpoint: &'static str,
    status: StatusLabel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RetryLabels {
    endpoint: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    stripe_requests: Family<StripeCallLabels, Counter>,
    stripe_duration: HistogramFamily<EndpointLabels>,
    stripe_retries: Family<RetryLabels, Counter>,
    rate_limit_wait: Histogram,
    /// One counter per [`CacheEvent::ALL`], taken from the family once: recording is one
    /// atomic add, no lookup.
    cache_events: [Counter; CacheEvent::ALL.len()],
    webhook_events: Family<WebhookLabels, Counter>,
    /// One counter per [`GraphqlOutcome::ALL`].
    graphql_requests: [Counter; GraphqlOutcome::ALL.len()],
    graphql_duration: Histogram,
    redis_up: Gauge,
    redis_errors: Counter,
    mirror_ready: Gauge,
    mirror_objects: Family<TypeLabels, Gauge>,
    mirror_backfill_objects: Counter,
    mirror_backfill_passes: Counter,
    mirror_events: Family<MirrorEventLabels, Counter>,
    mirror_answers: Family<OutcomeLabels, Counter>,
    mirror_reconcile: Family<OutcomeLabels, Counter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TypeLabels {
    r#type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MirrorEventLabels {
    source: &'static str,
    outcome: &'static str,
}

/// The server's metrics. Cheap to clone; clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every family registered (all at zero): the cache-event and
    /// GraphQL-outcome series are exported at 0 from now on; the Stripe and webhook series,
    /// whose label values are known only then, from their first sample.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("stripe_graphql");

        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "The running version of stripe-graphql (always 1)",
            build_info,
        );

        let stripe_requests = Family::<StripeCallLabels, Counter>::default();
        registry.register(
            "stripe_requests",
            "HTTP calls to Stripe (each attempt), by route template and HTTP status (`error`: no answer, i.e. a transport failure or timeout)",
            stripe_requests.clone(),
        );
        let stripe_duration: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(|| Histogram::new(STRIPE_BUCKETS));
        registry.register(
            "stripe_request_duration_seconds",
            "Latency of one HTTP call to Stripe (each attempt), by route template",
            stripe_duration.clone(),
        );
        let stripe_retries = Family::<RetryLabels, Counter>::default();
        registry.register(
            "stripe_retries",
            "Stripe calls retried, by route template and the retry policy's reason",
            stripe_retries.clone(),
        );
        let rate_limit_wait = Histogram::new(WAIT_BUCKETS);
        registry.register(
            "stripe_rate_limit_wait_seconds",
            "Time a Stripe call waited for the local rate limiter before it was sent (calls that did not wait are not observed)",
            rate_limit_wait.clone(),
        );

        let cache_family = Family::<EventLabels, Counter>::default();
        let cache_events = CacheEvent::ALL.map(|event| {
            cache_family.get_or_create_owned(&EventLabels {
                event: event.as_str(),
            })
        });
        registry.register(
            "cache_events",
            "Cache events: hit, miss (a Stripe call), coalesced (waited for another lookup's call), stale_served (Stripe failed, last good value served), invalidated (by a webhook), evicted_size (over CACHE_MAX_ENTRIES)",
            cache_family,
        );

        let webhook_events = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhook_events",
            "Webhook deliveries, by event-type family (customer, customer.subscription, price, plan, product, other, unreadable) and outcome (applied, ignored, rejected)",
            webhook_events.clone(),
        );

        let graphql_family = Family::<OutcomeLabels, Counter>::default();
        let graphql_requests = GraphqlOutcome::ALL.map(|outcome| {
            graphql_family.get_or_create_owned(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
        });
        registry.register(
            "graphql_requests",
            "GraphQL HTTP requests, by outcome: ok (no errors), errors (at least one entry in errors), refused (401, 413 or 400 before execution)",
            graphql_family,
        );
        let graphql_duration = Histogram::new(GRAPHQL_BUCKETS);
        registry.register(
            "graphql_request_duration_seconds",
            "Time to answer one GraphQL HTTP request, body read included",
            graphql_duration.clone(),
        );
        let redis_up = Gauge::default();
        registry.register(
            "redis_up",
            "1 while the shared Redis (REDIS_URL) answers; 0 during an outage (the server then goes on with its in-process cache and limits) or without REDIS_URL",
            redis_up.clone(),
        );
        let redis_errors = Counter::default();
        registry.register(
            "redis_errors",
            "Redis commands that failed (no answer within REDIS_TIMEOUT_MILLISECONDS, or the link down)",
            redis_errors.clone(),
        );

        let mirror_ready = Gauge::default();
        registry.register(
            "mirror_ready",
            "1 once the mirror's first backfill is complete (STRIPE_MIRROR=on); 0 while it warms up, or without the mirror",
            mirror_ready.clone(),
        );
        let mirror_objects = Family::<TypeLabels, Gauge>::default();
        registry.register(
            "mirror_objects",
            "Objects the mirror holds, by type (customer, subscription, price, plan, product)",
            mirror_objects.clone(),
        );
        let mirror_backfill_objects = Counter::default();
        registry.register(
            "mirror_backfill_objects",
            "Objects read by the mirror's backfill passes (customers, prices, plans, products)",
            mirror_backfill_objects.clone(),
        );
        let mirror_backfill_passes = Counter::default();
        registry.register(
            "mirror_backfill_passes",
            "Backfill passes the mirror completed",
            mirror_backfill_passes.clone(),
        );
        let mirror_events = Family::<MirrorEventLabels, Counter>::default();
        registry.register(
            "mirror_events",
            "Events the mirror was given, by source (webhook, events_api) and outcome (applied: newer than what it held; ignored: older or already held; refetched: not orderable, the object is read again)",
            mirror_events.clone(),
        );
        let mirror_answers = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "mirror_answers",
            "Cache misses the mirror answered (hit) or passed to Stripe (fallback: an object it does not hold)",
            mirror_answers.clone(),
        );
        // The mirror's series are known in advance: exported at 0 from the start.
        for kind in ["customer", "subscription", "price", "plan", "product"] {
            drop(mirror_objects.get_or_create(&TypeLabels { r#type: kind }));
        }
        for source in ["webhook", "events_api"] {
            for outcome in ["applied", "ignored", "refetched"] {
                drop(mirror_events.get_or_create(&MirrorEventLabels { source, outcome }));
            }
        }
        for outcome in ["hit", "fallback"] {
            drop(mirror_answers.get_or_create(&OutcomeLabels { outcome }));
        }
        let mirror_reconcile = Family::<OutcomeLabels, Counter>::default();
        for outcome in ["ok", "failed", "backfill"] {
            drop(mirror_reconcile.get_or_create(&OutcomeLabels { outcome }));
        }
        registry.register(
            "mirror_reconcile",
            "Readings of the Events API by the mirror, by outcome (ok, failed, backfill: its cursor was unknown or past the 30 days, a new backfill ran)",
            mirror_reconcile.clone(),
        );

        Metrics {
            inner: Arc::new(Inner {
                registry,
                stripe_requests,
                stripe_duration,
                stripe_retries,
                rate_limit_wait,
                cache_events,
                webhook_events,
                graphql_requests,
                graphql_duration,
                redis_up,
                redis_errors,
                mirror_ready,
                mirror_objects,
                mirror_backfill_objects,
                mirror_backfill_passes,
                mirror_events,
                mirror_answers,
                mirror_reconcile,
            }),
        }
    }

    /// One HTTP call to Stripe ended: `endpoint` is the route template
    /// (`GET /v1/customers/{id}`), `status` the HTTP status, or `None` for a transport
    /// failure or timeout; `elapsed` is that one attempt's latency.
    pub fn stripe_call(&self, endpoint: &'static str, status: Option<u16>, elapsed: Duration) {
        self.inner
            .stripe_requests
            .get_or_create(&StripeCallLabels {
                endpoint,
                status: StatusLabel(status),
            })
            .inc();
        self.inner
            .stripe_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    /// A failed Stripe call to `endpoint` is about to be retried, for `reason` (`429`,
    /// `409`, `5xx`, `connection`, `timeout`, `should_retry`).
    pub fn stripe_retry(&self, endpoint: &'static str, reason: &'static str) {
        self.inner
            .stripe_retries
            .get_or_create(&RetryLabels { endpoint, reason })
            .inc();
    }

    /// A Stripe call waited `waited` for the rate limiter before it was sent.
    pub fn rate_limit_wait(&self, waited: Duration) {
        self.inner.rate_limit_wait.observe(waited.as_secs_f64());
    }

    /// Whether Redis answers (the shared level): set when an outage starts or ends.
    pub fn redis_up(&self, up: bool) {
        self.inner.redis_up.set(i64::from(up));
    }

    /// A Redis command failed (no answer, or the link is down).
    pub fn redis_error(&self) {
        self.inner.redis_errors.inc();
    }

    /// Whether the mirror's first backfill is complete.
    pub fn mirror_ready(&self, ready: bool) {
        self.inner.mirror_ready.set(i64::from(ready));
    }

    /// How many objects of `kind` the mirror holds.
    pub fn mirror_objects(&self, kind: &'static str, n: usize) {
        self.inner
            .mirror_objects
            .get_or_create(&TypeLabels { r#type: kind })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The backfill read `n` more objects.
    pub fn mirror_backfilled(&self, n: usize) {
        self.inner
            .mirror_backfill_objects
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// A backfill pass completed.
    pub fn mirror_backfill_pass(&self) {
        self.inner.mirror_backfill_passes.inc();
    }

    /// The mirror was given an event from `source` (`webhook`, `events_api`) with `outcome`
    /// (`applied`, `ignored`, `refetched`).
    pub fn mirror_event(&self, source: &'static str, outcome: &'static str) {
        self.inner
            .mirror_events
            .get_or_create(&MirrorEventLabels { source, outcome })
            .inc();
    }

    /// The mirror answered a miss (`hit`) or passed it on (`fallback`).
    pub fn mirror_answer(&self, outcome: &'static str) {
        self.inner
            .mirror_answers
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A reading of the Events API ended with `outcome` (`ok`, `failed`, `backfill`).
    pub fn mirror_reconcile(&self, outcome: &'static str) {
        self.inner
            .mirror_reconcile
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A cache event.
    pub fn cache(&self, event: CacheEvent) {
        self.inner.cache_events[event.index()].inc();
    }

    /// One webhook delivery of `event_type` (`None` when it could not be read) ended with
    /// `outcome`. The type is recorded as its family ([`webhook_type_label`]), never as sent.
    pub fn webhook(&self, event_type: Option<&str>, outcome: WebhookOutcome) {
        self.inner
            .webhook_events
            .get_or_create(&WebhookLabels {
                r#type: webhook_type_label(event_type),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// One GraphQL HTTP request ended with `outcome` after `elapsed`.
    pub fn graphql_request(&self, outcome: GraphqlOutcome, elapsed: Duration) {
        self.inner.graphql_requests[outcome.index()].inc();
        self.inner.graphql_duration.observe(elapsed.as_secs_f64());
    }

    /// The registry in Prometheus text exposition format (version 0.0.4, [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail, and every label value encodes.
        let _ =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(metrics: &Metrics) -> Vec<String> {
        metrics.encode().lines().map(str::to_owned).collect()
    }

    fn has(lines: &[String], line: &str) {
        assert!(
            lines.iter().any(|l| l == line),
            "missing `{line}` in:\n{}",
            lines.join("\n")
        );
    }

    #[test]
    fn a_fresh_registry_exports_cache_and_graphql_counters_at_zero() {
        let lines = lines(&Metrics::new());
        has(&lines, "# TYPE stripe_graphql_cache_events_total counter");
        for event in [
            "hit",
            "miss",
            "coalesced",
            "stale_served",
            "invalidated",
            "evicted_size",
        ] {
            has(
                &lines,
                &format!("stripe_graphql_cache_events_total{{event=\"{event}\"}} 0"),
            );
        }
        for outcome in ["ok", "errors", "refused"] {
            has(
                &lines,
                &format!("stripe_graphql_graphql_requests_total{{outcome=\"{outcome}\"}} 0"),
            );
        }
        has(
            &lines,
            "# TYPE stripe_graphql_graphql_request_duration_seconds histogram",
        );
        has(
            &lines,
            "stripe_graphql_graphql_request_duration_seconds_count 0",
        );
        has(
            &lines,
            "# TYPE stripe_graphql_stripe_rate_limit_wait_seconds histogram",
        );
        has(
            &lines,
            &format!(
                "stripe_graphql_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        );
        // Families whose label values are only known with the first sample are absent.
        let text = lines.join("\n");
        assert!(
            !text.contains("stripe_graphql_stripe_requests_total"),
            "{text}"
        );
        assert!(
            !text.contains("stripe_graphql_webhook_events_total"),
            "{text}"
        );
    }

    #[test]
    fn stripe_calls_count_by_endpoint_and_status_with_their_latency() {
        let metrics = Metrics::new();
        let get = "GET /v1/customers/{id}";
        metrics.stripe_call(get, Some(200), Duration::from_millis(30));
        metrics.stripe_call(get, Some(200), Duration::from_millis(70));
        metrics.stripe_call(get, Some(429), Duration::from_millis(3));
        metrics.stripe_call(get, None, Duration::from_secs(30));
        metrics.stripe_retry(get, "429");
        metrics.rate_limit_wait(Duration::from_millis(40));
        let lines = lines(&metrics);
        has(
            &lines,
            "# TYPE stripe_graphql_stripe_requests_total counter",
        );
        has(
            &lines,
            "stripe_graphql_stripe_requests_total{endpoint=\"GET /v1/customers/{id}\",status=\"200\"} 2",
        );
        has(
            &lines,
            "stripe_graphql_stripe_requests_total{endpoint=\"GET /v1/customers/{id}\",status=\"429\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_stripe_requests_total{endpoint=\"GET /v1/customers/{id}\",status=\"error\"} 1",
        );
        for (le, count) in [
            ("0.005", 1),
            ("0.05", 2),
            ("0.1", 3),
            ("20", 3),
            ("+Inf", 4),
        ] {
            has(
                &lines,
                &format!("stripe_graphql_stripe_request_duration_seconds_bucket{{endpoint=\"GET /v1/customers/{{id}}\",le=\"{le}\"}} {count}"),
            );
        }
        has(
            &lines,
            "stripe_graphql_stripe_request_duration_seconds_count{endpoint=\"GET /v1/customers/{id}\"} 4",
        );
        has(
            &lines,
            "stripe_graphql_stripe_request_duration_seconds_sum{endpoint=\"GET /v1/customers/{id}\"} 30.103",
        );
        has(
            &lines,
            "stripe_graphql_stripe_retries_total{endpoint=\"GET /v1/customers/{id}\",reason=\"429\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_stripe_rate_limit_wait_seconds_bucket{le=\"0.025\"} 0",
        );
        has(
            &lines,
            "stripe_graphql_stripe_rate_limit_wait_seconds_bucket{le=\"0.05\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_stripe_rate_limit_wait_seconds_count 1",
        );
    }

    #[test]
    fn cache_events_and_graphql_outcomes_count_separately() {
        let metrics = Metrics::new();
        metrics.cache(CacheEvent::Hit);
        metrics.cache(CacheEvent::Hit);
        metrics.cache(CacheEvent::EvictedForSize);
        metrics.cache(CacheEvent::StaleServed);
        metrics.graphql_request(GraphqlOutcome::Ok, Duration::from_micros(400));
        metrics.graphql_request(GraphqlOutcome::Refused, Duration::from_micros(20));
        metrics.graphql_request(GraphqlOutcome::Errors, Duration::from_millis(300));
        let lines = lines(&metrics);
        has(&lines, "stripe_graphql_cache_events_total{event=\"hit\"} 2");
        has(
            &lines,
            "stripe_graphql_cache_events_total{event=\"miss\"} 0",
        );
        has(
            &lines,
            "stripe_graphql_cache_events_total{event=\"evicted_size\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_cache_events_total{event=\"stale_served\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_graphql_requests_total{outcome=\"ok\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_graphql_requests_total{outcome=\"errors\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_graphql_requests_total{outcome=\"refused\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_graphql_request_duration_seconds_bucket{le=\"0.001\"} 2",
        );
        has(
            &lines,
            "stripe_graphql_graphql_request_duration_seconds_bucket{le=\"0.25\"} 2",
        );
        has(
            &lines,
            "stripe_graphql_graphql_request_duration_seconds_bucket{le=\"0.5\"} 3",
        );
        has(
            &lines,
            "stripe_graphql_graphql_request_duration_seconds_count 3",
        );
    }

    #[test]
    fn webhook_types_are_reduced_to_a_fixed_set_of_label_values() {
        let cases = [
            (Some("customer.updated"), "customer"),
            (Some("customer.deleted"), "customer"),
            (Some("customer.discount.created"), "customer"),
            (
                Some("customer.subscription.updated"),
                "customer.subscription",
            ),
            (Some("price.created"), "price"),
            (Some("plan.deleted"), "plan"),
            (Some("product.updated"), "product"),
            (Some("invoice.paid"), "other"),
            (Some("customer"), "other"),
            (Some("customer."), "other"),
            (Some("customers.updated"), "other"),
            (Some("pricey.updated"), "other"),
            (Some("\"}\n# EOF"), "other"),
            (Some(""), "other"),
            (None, "unreadable"),
        ];
        for (event_type, label) in cases {
            assert_eq!(webhook_type_label(event_type), label, "{event_type:?}");
        }

        let metrics = Metrics::new();
        metrics.webhook(
            Some("customer.subscription.deleted"),
            WebhookOutcome::Applied,
        );
        metrics.webhook(Some("invoice.paid"), WebhookOutcome::Ignored);
        metrics.webhook(Some("attacker.chosen.type"), WebhookOutcome::Rejected);
        metrics.webhook(Some("another.chosen.type"), WebhookOutcome::Rejected);
        metrics.webhook(None, WebhookOutcome::Rejected);
        let lines = lines(&metrics);
        has(&lines, "# TYPE stripe_graphql_webhook_events_total counter");
        has(
            &lines,
            "stripe_graphql_webhook_events_total{type=\"customer.subscription\",outcome=\"applied\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_webhook_events_total{type=\"other\",outcome=\"ignored\"} 1",
        );
        has(
            &lines,
            "stripe_graphql_webhook_events_total{type=\"other\",outcome=\"rejected\"} 2",
        );
        has(
            &lines,
            "stripe_graphql_webhook_events_total{type=\"unreadable\",outcome=\"rejected\"} 1",
        );
        let series = lines
            .iter()
            .filter(|l| l.starts_with("stripe_graphql_webhook_events_total{"))
            .count();
        assert_eq!(series, 4);
    }

    #[test]
    fn every_event_and_outcome_has_its_own_counter() {
        for (i, event) in CacheEvent::ALL.into_iter().enumerate() {
            assert_eq!(event.index(), i, "{event:?}");
        }
        for (i, outcome) in GraphqlOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), i, "{outcome:?}");
        }
    }

    #[test]
    fn clones_share_a_registry_and_new_registries_are_independent() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.clone().cache(CacheEvent::Miss);
        has(
            &lines(&a),
            "stripe_graphql_cache_events_total{event=\"miss\"} 1",
        );
        has(
            &lines(&b),
            "stripe_graphql_cache_events_total{event=\"miss\"} 0",
        );
    }
}
