//! A typed reqwest client for the few Stripe endpoints this server reads and writes.
//!
//! Guarantees:
//! - every request carries `Authorization: Bearer <key>` (marked sensitive, so it never shows
//!   in `Debug` output) and the pinned `Stripe-Version`; a key or version that cannot be sent
//!   as a header is refused when the client is built ([`ClientError`]), never replaced;
//! - every request is bounded by the configured timeout (connect included);
//! - at most `max_concurrency` requests are in flight at once, and calls start no faster than
//!   Stripe's limiters allow: the account's rate (25/s in test mode, 100/s live) and, on top,
//!   each endpoint's (25/s by default; the search endpoints share 20/s), across all GraphQL
//!   requests ([`limiter`]); further calls queue in arrival order until the call's deadline,
//!   interactive calls before background work;
//! - a failed call is retried with exponential backoff and jitter when Stripe or the
//!   network says it may succeed ([`retry`]: 429, 409, 5xx, connection failures, and
//!   `Stripe-Should-Retry`, which is obeyed both ways), and every call, queueing, attempts
//!   and backoffs together, ends within the configured deadline;
//! - each attempt runs in a `stripe_call` tracing span carrying the endpoint, the attempt
//!   number, the HTTP status and Stripe's `Request-Id`, and is counted in [`Metrics`];
//! - ids reach a URL only as a validated [`StripeId`], percent-encoded into its own path
//!   segment, and lists only as a typed [`request::ListRequest`];
//! - an answer is accepted only if it is the kind of object asked for (its `object` field),
//!   so a wrong route can never pass for data;
//! - a transport failure is logged with its whole cause chain (DNS, refused, TLS), never with
//!   the key.
//!
//! The client does not cache; [`crate::cache`] sits in front of it.

pub mod error;
pub mod event;
pub mod limiter;
pub mod metadata;
pub mod models;
pub mod request;
pub mod retry;
pub mod scalars;
pub mod write;

use std::{fmt::Write as _, num::NonZeroU32, sync::Arc, time::Duration};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use tokio::{sync::Semaphore, time::Instant};
use tracing::Instrument;
use url::Url;

pub use error::StripeError;
use limiter::{Lane, Limiter, RateLimits};

/// One page of customers, each with the first page of its subscriptions Stripe embedded
/// (`None` when it embedded none), and whether more customers follow.
#[derive(Debug, Clone)]
pub struct CustomersPage {
    pub customers: Vec<(Customer, Option<List<Subscription>>)>,
    pub has_more: bool,
}
use models::{Customer, List, StripeObject, Subscription};
use request::{list_url, object_endpoint, object_url, ListQuery, ListRequest, Page};
use retry::{Decision, Failure, RetryPolicy};
use write::Write;

use crate::{ids::StripeId, metrics::Metrics, secret::SecretString, shared::Shared};

/// The API version pinned on every request unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2026-07-29.dahlia";

/// Where Stripe is and the key to call it with.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, `https://api.stripe.com` in production (checked by [`parse_api_base`]).
    pub api_base: Url,
    /// Secret (`sk_…`) or restricted (`rk_…`) key.
    pub secret_key: SecretString,
}

/// How to call Stripe, whichever endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Value of the `Stripe-Version` header.
    pub api_version: String,
    /// Upper bound on each attempt, connection included.
    pub timeout: Duration,
    /// Most calls in flight at once.
    pub max_concurrency: usize,
    /// Most calls started per second for the account; `None` takes Stripe's limit for the
    /// key's mode ([`default_rate_limit`]).
    pub rate_limit: Option<NonZeroU32>,
    /// Most calls started per second for each endpoint (Stripe's default: 25; the search
    /// endpoints share the lesser of 20 and this).
    pub endpoint_rate_limit: NonZeroU32,
    /// When and how often a failed call is tried again.
    pub retry: RetryPolicy,
    /// Upper bound on one call as a whole: waiting for the rate limiter and a slot, every
    /// attempt and every backoff. Below Hasura's remote-schema timeout (20 s in our
    /// metadata), so a slow Stripe is an error Hasura can show, not a Hasura timeout.
    pub deadline: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: Duration::from_secs(10),
            max_concurrency: 8,
            rate_limit: None,
            endpoint_rate_limit: NonZeroU32::new(limiter::DEFAULT_ENDPOINT_RATE).expect("non-zero"),
            retry: RetryPolicy::default(),
            deadline: Duration::from_secs(15),
        }
    }
}

/// Stripe's request rate limit for the mode of `key`: 100 per second for live keys
/// (`sk_live_`, `rk_live_`), 25 for test keys and anything else.
pub fn default_rate_limit(key: &str) -> NonZeroU32 {
    let live = key.starts_with("sk_live_") || key.starts_with("rk_live_");
    NonZeroU32::new(if live { 100 } else { 25 }).expect("non-zero")
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The key holds characters an HTTP header cannot carry.
    #[error("STRIPE_SECRET_KEY cannot be sent in an HTTP header (it holds control or non-ASCII characters)")]
    InvalidKey,
    /// The API version holds characters an HTTP header cannot carry.
    #[error("STRIPE_API_VERSION cannot be sent in an HTTP header")]
    InvalidApiVersion,
    /// The HTTP client (TLS backend) could not initialise.
    #[error("cannot build the Stripe HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    /// The runtime that runs Stripe calls could not start (no threads left).
    #[error("cannot start the Stripe I/O runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The Stripe REST client. Cheap to clone; clones share the connection pool, the
/// concurrency bound and the rate limiter.
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: Url,
    timeout: Duration,
    slots: Arc<Semaphore>,
    limiter: Arc<Limiter>,
    /// The lane this handle's calls wait in ([`StripeClient::in_lane`]).
    lane: Lane,
    retry: RetryPolicy,
    deadline: Duration,
    metrics: Metrics,
    io: tokio::runtime::Handle,
}

/// A failed attempt: the error to report, and how it failed when it may be retried.
type AttemptError = (StripeError, Option<Failure>);

/// One HTTP request to Stripe, as every attempt of a call sends it.
struct Outgoing {
    method: reqwest::Method,
    /// Route template, for metrics and logs.
    endpoint: &'static str,
    url: Url,
    /// Form-encoded body (`POST` only).
    body: Option<String>,
    /// Sent on every attempt (`POST` only).
    idempotency_key: Option<String>,
}

impl StripeClient {
    /// Builds a client for `endpoint`, recording its calls in `metrics`.
    pub fn new(
        endpoint: Endpoint,
        settings: &ClientSettings,
        metrics: Metrics,
    ) -> Result<StripeClient, ClientError> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", endpoint.secret_key.expose()))
            .map_err(|_| ClientError::InvalidKey)?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let version = HeaderValue::from_str(&settings.api_version)
            .map_err(|_| ClientError::InvalidApiVersion)?;
        headers.insert("Stripe-Version", version);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("stripe-graphql/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(ClientError::Http)?;
        let rate_limit = settings
            .rate_limit
            .unwrap_or_else(|| default_rate_limit(endpoint.secret_key.expose()));
        Ok(StripeClient {
            http,
            api_base: endpoint.api_base,
            timeout: settings.timeout,
            slots: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
            limiter: Arc::new(Limiter::new(RateLimits {
                account: rate_limit,
                endpoint: settings.endpoint_rate_limit,
            })),
            lane: Lane::Interactive,
            retry: settings.retry,
            deadline: settings.deadline,
            metrics,
            io: crate::runtime::io().map_err(ClientError::Runtime)?,
        })
    }

    /// The runtime Stripe calls run on ([`crate::runtime::io`]), for work that must outlive the
    /// caller's runtime (the cache's calls).
    pub fn io(&self) -> &tokio::runtime::Handle {
        &self.io
    }

    /// The limits in force (calls started per second, for the account and each endpoint).
    pub fn rate_limits(&self) -> RateLimits {
        self.limiter.limits()
    }

    /// The same client, its calls taking from one budget for every replica kept in `shared`
    /// ([`Limiter::sharing`]) instead of this process's own. Call it before cloning the client:
    /// clones made earlier keep the local limiter.
    pub fn sharing_limits(self, shared: Shared, replicas: NonZeroU32) -> StripeClient {
        StripeClient {
            limiter: Arc::new(Limiter::sharing(self.limiter.limits(), shared, replicas)),
            ..self
        }
    }

    /// The same client (pool, bounds and limiter shared), its calls waiting in `lane`:
    /// [`Lane::Background`] for work nobody waits for, which takes only what interactive
    /// calls leave.
    pub fn in_lane(&self, lane: Lane) -> StripeClient {
        StripeClient {
            lane,
            ..self.clone()
        }
    }

    /// `GET /v1/<collection>/<id>`. A missing object is [`StripeError::NotFound`]; an object
    /// Stripe returns as deleted (`"deleted": true`, sent with HTTP 200) is
    /// [`StripeError::Deleted`]; an answer that is not a `T` is
    /// [`StripeError::UnexpectedObject`].
    pub async fn retrieve<T: StripeObject>(&self, id: &StripeId) -> Result<T, StripeError> {
        let url =
            object_url(&self.api_base, id).ok_or(StripeError::BadResponse { request_id: None })?;
        let (value, request_id) = self.get_json(object_endpoint(id.kind()), url).await?;
        decode_object(value, request_id)
    }

    /// `GET /v1/customers/<id>?expand[]=subscriptions`: the customer and, separately, the
    /// first page of its subscriptions that Stripe embeds (the page
    /// `GET /v1/subscriptions?customer=<id>` answers: Stripe's default statuses, 10 per
    /// page). `None` for the page when Stripe embedded none. Errors as
    /// [`StripeClient::retrieve`].
    pub async fn retrieve_customer_with_subscriptions(
        &self,
        id: &StripeId,
    ) -> Result<(Customer, Option<List<Subscription>>), StripeError> {
        let mut url =
            object_url(&self.api_base, id).ok_or(StripeError::BadResponse { request_id: None })?;
        url.query_pairs_mut()
            .append_pair("expand[]", "subscriptions");
        let (mut value, request_id) = self.get_json(object_endpoint(id.kind()), url).await?;
        let embedded = value
            .as_object_mut()
            .and_then(|object| object.remove("subscriptions"));
        let customer: Customer = decode_object(value, request_id.clone())?;
        let page = match embedded {
            None | Some(serde_json::Value::Null) => None,
            Some(list) => Some(decode_list::<Subscription>(list, request_id)?),
        };
        Ok((customer, page))
    }

    /// One page of `GET /v1/customers?expand[]=data.subscriptions`
    /// ([`ListRequest::customers_with_subscriptions_created`]): each customer with,
    /// separately, the first page of its subscriptions Stripe embedded (as
    /// [`StripeClient::retrieve_customer_with_subscriptions`]), and `has_more`.
    pub async fn list_customers_with_subscriptions(
        &self,
        request: &ListRequest<Customer>,
    ) -> Result<CustomersPage, StripeError> {
        let url = list_url(&self.api_base, request.query())
            .ok_or(StripeError::BadResponse { request_id: None })?;
        let (mut value, request_id) = self.get_json(request.query().endpoint(), url).await?;
        expect_object(&value, "list", &request_id)?;
        let has_more = value.get("has_more").and_then(serde_json::Value::as_bool);
        let Some(serde_json::Value::Array(rows)) =
            value.get_mut("data").map(serde_json::Value::take)
        else {
            return Err(StripeError::BadResponse { request_id });
        };
        let mut customers = Vec::with_capacity(rows.len());
        for mut row in rows {
            let embedded = row
                .as_object_mut()
                .and_then(|object| object.remove("subscriptions"));
            let customer: Customer = decode_object(row, request_id.clone())?;
            let page = match embedded {
                None | Some(serde_json::Value::Null) => None,
                Some(list) => Some(decode_list::<Subscription>(list, request_id.clone())?),
            };
            customers.push((customer, page));
        }
        Ok(CustomersPage {
            customers,
            has_more: has_more.unwrap_or(false),
        })
    }

    /// One page of `GET /v1/events` ([`request::events_query`]): the events as Stripe sent
    /// them (newest first; each read with [`event::from_value`]), and `has_more`.
    pub async fn list_events(
        &self,
        query: &ListQuery,
    ) -> Result<(Vec<serde_json::Value>, bool), StripeError> {
        let url =
            list_url(&self.api_base, query).ok_or(StripeError::BadResponse { request_id: None })?;
        let (mut value, request_id) = self.get_json(query.endpoint(), url).await?;
        expect_object(&value, "list", &request_id)?;
        let has_more = value
            .get("has_more")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        match value.get_mut("data").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(events)) => Ok((events, has_more)),
            _ => Err(StripeError::BadResponse { request_id }),
        }
    }

    /// One page of a list, normalized.
    pub async fn list<T: StripeObject + Clone>(
        &self,
        request: &ListRequest<T>,
    ) -> Result<List<T>, StripeError> {
        self.list_query(request.query()).await
    }

    /// One page of the list `query` asks for, decoded as a page of `T` (the caller knows
    /// its collection holds `T`s: a page of anything else fails to decode).
    pub async fn list_query<T: StripeObject + Clone>(
        &self,
        query: &ListQuery,
    ) -> Result<List<T>, StripeError> {
        let url =
            list_url(&self.api_base, query).ok_or(StripeError::BadResponse { request_id: None })?;
        let (value, request_id) = self.get_json(query.endpoint(), url).await?;
        decode_list(value, request_id)
    }

    /// `GET /v1/customers/search`: the first 100 customers matching a Stripe search `query`
    /// (e.g. `metadata['sso']:'…'`), never cached. Stripe's search index follows writes
    /// within about a minute (up to an hour during incidents), so a customer created moments
    /// ago may be missing: callers that must not create twice also use an idempotency key.
    pub async fn search_customers(&self, query: &str) -> Result<Vec<Customer>, StripeError> {
        let url = request::customer_search_url(&self.api_base, query, 100)
            .ok_or(StripeError::BadResponse { request_id: None })?;
        let (mut value, request_id) = self.get_json("GET /v1/customers/search", url).await?;
        expect_object(&value, "search_result", &request_id)?;
        let data = value
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let serde_json::Value::Array(items) = data else {
            return Err(StripeError::BadResponse { request_id });
        };
        items
            .into_iter()
            .filter(|item| item.get("deleted").and_then(|d| d.as_bool()) != Some(true))
            .map(|item| decode_object::<Customer>(item, request_id.clone()))
            .collect()
    }

    /// One `GET /v1/customers?limit=1`: succeeds when Stripe is reachable and accepts the key.
    /// Used by `/readyz`.
    pub async fn check_key(&self) -> Result<(), StripeError> {
        self.list(&ListRequest::customers(None, &Page::first(1)))
            .await
            .map(|_| ())
    }

    /// One read as a whole ([`StripeClient::run`]).
    async fn get_json(
        &self,
        endpoint: &'static str,
        url: Url,
    ) -> Result<(serde_json::Value, Option<String>), StripeError> {
        self.run(Outgoing {
            method: reqwest::Method::GET,
            endpoint,
            url,
            body: None,
            idempotency_key: None,
        })
        .await
    }

    /// Sends one write ([`write::Write`]) and decodes the object Stripe answers with: the
    /// created, changed or canceled object. Retried by the same rules as a read
    /// ([`retry::decide_write`]): every `POST` carries its `Idempotency-Key` on every attempt,
    /// so a retry after a lost answer gets Stripe's stored first answer, never a second
    /// object. An answer that is a deleted stub is [`StripeError::Deleted`] (see
    /// [`StripeClient::delete`] for deletes).
    pub async fn write<T: StripeObject>(&self, write: &Write) -> Result<T, StripeError> {
        let (value, request_id) = self.send_write(write).await?;
        decode_object(value, request_id)
    }

    /// Sends a `DELETE` that answers a deleted stub (`{"id", "deleted": true}`), as deleting
    /// a customer does, and checks that it is one for the expected kind of object.
    pub async fn delete(&self, write: &Write, object: &'static str) -> Result<(), StripeError> {
        let (value, request_id) = self.send_write(write).await?;
        expect_object(&value, object, &request_id)?;
        if value.get("deleted").and_then(|d| d.as_bool()) == Some(true) {
            Ok(())
        } else {
            tracing::warn!(object, "stripe answered a delete without `deleted: true`");
            Err(StripeError::BadResponse { request_id })
        }
    }

    async fn send_write(
        &self,
        write: &Write,
    ) -> Result<(serde_json::Value, Option<String>), StripeError> {
        let url = write
            .url(&self.api_base)
            .ok_or(StripeError::BadResponse { request_id: None })?;
        let method = match write.method() {
            write::Method::Post => reqwest::Method::POST,
            write::Method::Delete => reqwest::Method::DELETE,
        };
        let idempotency_key = write.idempotency_key().map(|k| k.as_str().to_owned());
        tracing::info!(
            endpoint = write.endpoint(),
            idempotency_key = idempotency_key.as_deref().unwrap_or("-"),
            "stripe write"
        );
        self.run(Outgoing {
            method,
            endpoint: write.endpoint(),
            url,
            body: write.body(),
            idempotency_key,
        })
        .await
    }

    /// One call as a whole, run on the I/O runtime ([`crate::runtime::io`]) in the caller's
    /// span: attempts, each after the rate limiter and a concurrency slot, and backoffs
    /// between them, all within the deadline. The call completes even if the caller stops
    /// waiting (a write is never cut off half-way by a client that went away).
    async fn run(
        &self,
        outgoing: Outgoing,
    ) -> Result<(serde_json::Value, Option<String>), StripeError> {
        let client = self.clone();
        let call = async move { client.call(&outgoing).await }.in_current_span();
        self.io
            .spawn(call)
            .await
            .unwrap_or(Err(StripeError::Unavailable {
                status: None,
                request_id: None,
            }))
    }

    async fn call(
        &self,
        outgoing: &Outgoing,
    ) -> Result<(serde_json::Value, Option<String>), StripeError> {
        let deadline = Instant::now() + self.deadline;
        let endpoint = outgoing.endpoint;
        let replay_safe =
            outgoing.method != reqwest::Method::POST || outgoing.idempotency_key.is_some();
        let mut attempt = 1;
        loop {
            let (error, failure) = match self.attempt(outgoing, attempt, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            let Some(failure) = failure else {
                return Err(error);
            };
            let jitter = 0.5 + fastrand::f64() * 0.5;
            match retry::decide_write(&self.retry, failure, attempt, jitter, replay_safe) {
                Decision::RetryAfter(delay) if Instant::now() + delay < deadline => {
                    tracing::info!(
                        endpoint,
                        attempt,
                        reason = failure.reason(),
                        delay_ms = delay.as_millis() as u64,
                        "retrying stripe call"
                    );
                    self.metrics.stripe_retry(endpoint, failure.reason());
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return Err(error),
            }
        }
    }

    /// One attempt: waits for the rate limiter and a slot (within `deadline`), sends, and
    /// classifies the answer.
    async fn attempt(
        &self,
        outgoing: &Outgoing,
        attempt: u32,
        deadline: Instant,
    ) -> Result<(serde_json::Value, Option<String>), AttemptError> {
        let past_deadline = || (StripeError::Timeout(self.deadline), None);
        let waited = self
            .limiter
            .wait(outgoing.endpoint, self.lane, deadline)
            .await
            .map_err(|_| past_deadline())?;
        if waited >= Duration::from_millis(1) {
            self.metrics.rate_limit_wait(waited);
        }
        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| past_deadline())?
            .map_err(|_| {
                let closed = StripeError::Unavailable {
                    status: None,
                    request_id: None,
                };
                (closed, None)
            })?;
        let endpoint = outgoing.endpoint;
        let span = tracing::info_span!(
            "stripe_call",
            endpoint,
            attempt,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        self.send(outgoing, deadline).instrument(span).await
    }

    async fn send(
        &self,
        outgoing: &Outgoing,
        deadline: Instant,
    ) -> Result<(serde_json::Value, Option<String>), AttemptError> {
        let started = Instant::now();
        let endpoint = outgoing.endpoint;
        let url_path = outgoing.url.path();
        let mut request = self
            .http
            .request(outgoing.method.clone(), outgoing.url.clone());
        if let Some(body) = &outgoing.body {
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone());
        }
        if let Some(key) = &outgoing.idempotency_key {
            request = request.header("Idempotency-Key", key.as_str());
        }
        let sent = tokio::time::timeout_at(deadline, async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        })
        .await;
        let elapsed = started.elapsed();
        let (status, headers, body) = match sent {
            Err(_) => {
                self.metrics.stripe_call(endpoint, None, elapsed);
                return Err((StripeError::Timeout(self.deadline), None));
            }
            Ok(Err(e)) => {
                self.metrics.stripe_call(endpoint, None, elapsed);
                return Err(self.transport(url_path, e));
            }
            Ok(Ok(answer)) => answer,
        };
        self.metrics.stripe_call(endpoint, Some(status), elapsed);
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header("request-id").map(str::to_owned);
        let span = tracing::Span::current();
        span.record("status", status);
        if let Some(id) = &request_id {
            span.record("request_id", id.as_str());
        }
        tracing::debug!(elapsed_ms = elapsed.as_millis() as u64, "stripe call");
        if !(200..300).contains(&status) {
            let should_retry = match header("stripe-should-retry") {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            };
            let mut err = StripeError::from_response(status, request_id, &body);
            if outgoing.method != reqwest::Method::GET && status == 400 {
                err = err.refused_write();
            }
            if !matches!(err, StripeError::NotFound { .. }) {
                tracing::warn!(status, error = %err, "stripe call failed");
            }
            let failure = Failure::Status {
                status,
                should_retry,
            };
            return Err((err, Some(failure)));
        }
        serde_json::from_slice(&body)
            .map(|v| (v, request_id.clone()))
            .map_err(|_| {
                tracing::warn!(status, "stripe sent a body that is not JSON");
                (
                    StripeError::BadResponse { request_id },
                    Some(Failure::BadBody),
                )
            })
    }

    fn transport(&self, path: &str, e: reqwest::Error) -> AttemptError {
        if e.is_timeout() {
            (StripeError::Timeout(self.timeout), Some(Failure::Timeout))
        } else {
            // The URL is left out (the path is logged on its own) and reqwest never puts
            // headers into its errors, so the chain cannot hold the key.
            tracing::warn!(%path, error = %error_chain(&e.without_url()), "stripe transport failure");
            let err = StripeError::Unavailable {
                status: None,
                request_id: None,
            };
            (err, Some(Failure::Connection))
        }
    }
}

/// Decodes one retrieved object: deleted stubs are [`StripeError::Deleted`], another kind of
/// object is [`StripeError::UnexpectedObject`].
fn decode_object<T: StripeObject>(
    value: serde_json::Value,
    request_id: Option<String>,
) -> Result<T, StripeError> {
    if value.get("deleted").and_then(|d| d.as_bool()) == Some(true) {
        return Err(StripeError::Deleted);
    }
    expect_object(&value, T::OBJECT, &request_id)?;
    models::decode(value).map_err(|e| decode_failure::<T>(e, request_id))
}

/// Decodes one list page and normalizes it.
fn decode_list<T: StripeObject + Clone>(
    value: serde_json::Value,
    request_id: Option<String>,
) -> Result<List<T>, StripeError> {
    expect_object(&value, "list", &request_id)?;
    let mut list: List<T> =
        serde_json::from_value(value).map_err(|e| decode_failure::<T>(e, request_id))?;
    list.normalize();
    Ok(list)
}

/// An error and every cause under it, `outer: inner: innermost`, as one line. reqwest's own
/// `Display` says only "error sending request"; the cause (DNS, connection refused, TLS) is
/// in the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            let _ = write!(line, ": {text}");
        }
        source = cause.source();
    }
    line
}

/// Refuses an answer whose `object` is not `expected`.
fn expect_object(
    value: &serde_json::Value,
    expected: &'static str,
    request_id: &Option<String>,
) -> Result<(), StripeError> {
    let found = value.get("object").and_then(|o| o.as_str());
    if found == Some(expected) {
        return Ok(());
    }
    tracing::warn!(
        expected,
        found = found.unwrap_or("-"),
        "stripe answered another kind of object"
    );
    Err(StripeError::UnexpectedObject {
        expected,
        found: found.map(str::to_owned),
        request_id: request_id.clone(),
    })
}

fn decode_failure<T: StripeObject>(
    e: serde_json::Error,
    request_id: Option<String>,
) -> StripeError {
    tracing::warn!(object = T::OBJECT, error = %e, "stripe object did not decode");
    StripeError::BadResponse { request_id }
}

/// Checks `STRIPE_API_BASE`: an http(s) URL with a host, no query or fragment, and no `/v1` at
/// the end of its path (the client adds `/v1/…` itself; a base ending in `/v1` would send every
/// call to `/v1/v1/…`, which Stripe answers with 404 "Unrecognized request URL"). A path
/// before that (a proxy prefix such as `/stripe`) is kept.
pub fn parse_api_base(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("STRIPE_API_BASE `{raw}` is not an http(s) URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "STRIPE_API_BASE `{raw}` must not have a query or fragment"
        ));
    }
    let last_segment = url
        .path_segments()
        .and_then(|segments| segments.rev().find(|s| !s.is_empty()));
    if last_segment.is_some_and(|s| s.eq_ignore_ascii_case("v1")) {
        return Err(format!(
            "STRIPE_API_BASE `{raw}` ends in /v1, but the server adds /v1 itself: use the host alone, e.g. https://api.stripe.com"
        ));
    }
    Ok(url)
}

/// `YYYY-MM-DD` optionally followed by `.name` (e.g. `2026-07-29.dahlia`, `2020-08-27`).
pub fn is_api_version(v: &str) -> bool {
    let (date, name) = match v.split_once('.') {
        Some((d, n)) => (d, Some(n)),
        None => (v, None),
    };
    let b = date.as_bytes();
    let date_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    date_ok && name.is_none_or(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_lowercase()))
}

/// Whether `key` looks like a secret (`sk_test_…`, `sk_live_…`) or restricted (`rk_…`) key.
/// Publishable keys (`pk_…`) cannot read customers and are refused.
pub fn is_secret_key(key: &str) -> bool {
    let known_prefix = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .any(|p| key.starts_with(p));
    known_prefix && key.len() >= 12 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_stripe_api_versions() {
        for ok in ["2026-07-29.dahlia", "2025-03-31.basil", "2020-08-27"] {
            assert!(is_api_version(ok), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "2026-7-29.dahlia",
            "2026-07-29.",
            "2026-07-29.Dahlia",
            "2026/07/29",
        ] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_rate_limit_follows_the_keys_mode() {
        assert_eq!(default_rate_limit("sk_test_51Abc").get(), 25);
        assert_eq!(default_rate_limit("rk_test_51Abc").get(), 25);
        assert_eq!(default_rate_limit("sk_live_51Abc").get(), 100);
        assert_eq!(default_rate_limit("rk_live_51Abc").get(), 100);
        let endpoint = Endpoint {
            api_base: "https://api.stripe.com".parse().unwrap(),
            secret_key: SecretString::new("sk_live_51Abcdef"),
        };
        let client =
            StripeClient::new(endpoint.clone(), &ClientSettings::default(), Metrics::new())
                .unwrap();
        assert_eq!(client.rate_limits().account.get(), 100);
        assert_eq!(client.rate_limits().endpoint.get(), 25);
        let settings = ClientSettings {
            rate_limit: NonZeroU32::new(7),
            ..ClientSettings::default()
        };
        let client = StripeClient::new(endpoint, &settings, Metrics::new()).unwrap();
        assert_eq!(client.rate_limits().account.get(), 7);
    }

    #[test]
    fn recognises_key_shapes() {
        assert!(is_secret_key("sk_test_51Abc"));
        assert!(is_secret_key("rk_live_51Abcdef"));
        assert!(!is_secret_key("pk_test_51Abcdef"));
        assert!(!is_secret_key("sk_test_ab cd"));
        assert!(!is_secret_key("sk_test_"));
    }

    #[test]
    fn api_bases_ending_in_v1_are_refused() {
        for bad in [
            "https://api.stripe.com/v1",
            "https://api.stripe.com/v1/",
            "https://api.stripe.com/V1",
            "http://proxy.internal/stripe/v1",
            "ftp://api.stripe.com",
            "api.stripe.com",
            "https://api.stripe.com/?x=1",
        ] {
            assert!(parse_api_base(bad).is_err(), "{bad}");
        }
        for ok in [
            "https://api.stripe.com",
            "https://api.stripe.com/",
            "http://127.0.0.1:12111",
            "http://proxy.internal/stripe/",
            "http://proxy.internal/v1beta",
        ] {
            assert!(parse_api_base(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_key_that_is_not_a_header_value_is_refused_not_replaced() {
        let endpoint = Endpoint {
            api_base: "https://api.stripe.com".parse().unwrap(),
            secret_key: SecretString::new("sk_test_bad\nkey"),
        };
        assert!(matches!(
            StripeClient::new(endpoint.clone(), &ClientSettings::default(), Metrics::new()),
            Err(ClientError::InvalidKey)
        ));
        let settings = ClientSettings {
            api_version: "2026-07-29.dahlia\r\nX-Evil: 1".into(),
            ..ClientSettings::default()
        };
        let endpoint = Endpoint {
            secret_key: SecretString::new("sk_test_fine_key_123"),
            ..endpoint
        };
        assert!(matches!(
            StripeClient::new(endpoint, &settings, Metrics::new()),
            Err(ClientError::InvalidApiVersion)
        ));
    }

    #[test]
    fn error_chains_name_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(
            error_chain(&e),
            "error sending request: Connection refused (os error 111)"
        );
    }
}
