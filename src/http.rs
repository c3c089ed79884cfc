//! HTTP routes.
//!
//! | route | what |
//! |---|---|
//! | `POST /graphql` | GraphQL over HTTP, JSON body `{query, variables?, operationName?}` (or a batch array) |
//! | `GET /graphql?query=…` | the same for a query in the URL (GraphQL over HTTP GET) |
//! | `GET /graphql` | GraphiQL |
//! | `GET /graphiql` | GraphiQL without a token, for browsers when `GRAPHQL_AUTH_TOKEN` is set (a static page; it sends its requests with the headers set in its editor) |
//! | `GET /graphiql/assets/{file}` | the page's scripts, styles, icon and licences, compiled in (no token; see [`crate::graphiql`]) |
//! | `GET /healthz` | liveness: 200 while the process serves HTTP |
//! | `GET /readyz` | readiness: 200 when Stripe accepts the key (checked at most every 30 s) |
//! | `POST /webhooks/stripe` | Stripe webhook events, with `STRIPE_WEBHOOK_SECRET` set (404 otherwise): verified, then the cache entries they make stale are evicted (see [`crate::webhook`]) |
//! | `GET /metrics` | Prometheus metrics ([`crate::metrics`]), text format 0.0.4 |
//!
//! With `GRAPHQL_AUTH_TOKEN` set, every request to `/graphql`, whatever its method, needs
//! `Authorization: Bearer <token>`; so does `/metrics` unless `METRICS_AUTH=none`.
//! `/webhooks/stripe` does not: Stripe cannot send that header, and the `Stripe-Signature`
//! check is that route's authentication.
//!
//! Every GraphQL request is counted in [`Metrics`] by outcome (ok, errors, refused) with its
//! duration, and each operation runs in an INFO `graphql` span (fields `request_id`,
//! `operation`, `outcome`), so what is logged while it runs (Stripe calls) carries them.
//!
//! Every response to a GraphQL request is a GraphQL-shaped JSON body
//! (`application/json`), whatever went wrong: a missing token (401), an oversized body (413),
//! malformed JSON or a missing query (400), more requests in flight than
//! `MAX_REQUESTS_IN_FLIGHT` (503 `OVERLOADED` with `Retry-After: 1`, answered at once, before
//! the body is read), no answer within `REQUEST_DEADLINE_SECONDS` (200 with an error coded
//! `REQUEST_TIMEOUT`; the Stripe calls already started go on in the cache's own tasks and fill
//! the cache for the next request). Never a 500, never an HTML page, and never an
//! `"errors": []` (which Hasura would treat as a failure).

use std::time::{Duration, Instant};

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        header::{self, HeaderMap, HeaderValue},
        StatusCode,
    },
    middleware::{from_fn, Next},
    web, FromRequest, HttpMessage, HttpRequest, HttpResponse,
};
use async_graphql::parser::types::DocumentOperations;
use futures::{stream::FuturesOrdered, StreamExt};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, Semaphore};
use tracing::{field, Instrument};

use crate::{
    cache::StripeCache,
    graphiql,
    graphql::{
        self,
        error::{self, code_of},
        profile::SsoMetadataKey,
        scope::{Authentication, Caller, ScopingSettings},
        write::{WriteAccess, WriteSettings},
        Executor,
    },
    limits::Limits,
    metrics::{self, GraphqlOutcome, Metrics, WebhookOutcome},
    profile::{ProfileEvent, ProfileSync, SyncError},
    secret::SecretString,
    stripe::StripeClient,
    webhook::{self, WebhookSettings},
};

/// How long a readiness answer is reused.
const READINESS_TTL: Duration = Duration::from_secs(30);

/// The bearer token `/graphql` requires. Only its SHA-256 digest is kept, and presented
/// tokens are compared digest to digest in constant time, so neither the token's content nor
/// its length leaks through timing.
#[derive(Clone)]
pub struct BearerToken([u8; 32]);

impl BearerToken {
    /// Keeps the digest of `token`.
    pub fn new(token: &SecretString) -> Self {
        BearerToken(Sha256::digest(token.expose().as_bytes()).into())
    }

    /// Whether an `Authorization` header value is `Bearer <this token>` (scheme
    /// case-insensitive, as RFC 7235 says).
    pub fn accepts(&self, header_value: Option<&[u8]>) -> bool {
        let Some(value) = header_value else {
            return false;
        };
        let Some((scheme, presented)) = split_scheme(value) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some((scheme, token))
}

/// Who may read `GET /metrics` (`METRICS_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuth {
    /// The same bearer token as `/graphql` when `GRAPHQL_AUTH_TOKEN` is set; open when it is
    /// not (the default).
    Token,
    /// Open to anyone who can reach the port, token or not: for a scraper on a private
    /// network that should not hold the GraphQL token.
    None,
}

/// Settings of the HTTP layer (`GRAPHQL_AUTH_TOKEN`, `MAX_BODY_BYTES`, `METRICS_AUTH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Bearer token every `/graphql` request must carry, if any.
    pub auth_token: Option<SecretString>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Whether `/metrics` needs the bearer token.
    pub metrics_auth: MetricsAuth,
    /// Data scoping for Hasura roles (`HASURA_SCOPING`, `HASURA_TRUSTED_ROLES`,
    /// `HASURA_SCOPING_METADATA_KEY`).
    pub scoping: ScopingSettings,
    /// Who may run mutations (`HASURA_WRITER_ROLES`; without a token only under `--demo`).
    pub writes: WriteSettings,
}

/// Shared state of the HTTP layer.
pub struct AppState {
    /// The schema, with the parsed-document cache and error codes around it.
    pub graphql: Executor,
    /// The cache the schema reads through (webhooks invalidate it).
    pub cache: StripeCache,
    /// The server's metrics.
    pub metrics: Metrics,
    /// Required bearer token, if any.
    pub auth: Option<BearerToken>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// The webhook endpoint's secret and tolerance; `None` disables `POST /webhooks/stripe`.
    pub webhook: Option<WebhookSettings>,
    /// Whether `/metrics` needs the token.
    pub metrics_auth: MetricsAuth,
    /// How a request's `x-hasura-*` headers become its [`Caller`].
    pub scoping: ScopingSettings,
    /// Who may run mutations ([`WriteAccess`]).
    pub writes: WriteSettings,
    /// The profile write-back through Hasura; `None` without `HASURA_GRAPHQL_URL`.
    pub profile: Option<ProfileSync>,
    readiness: Readiness,
    /// One permit per GraphQL request being answered (`MAX_REQUESTS_IN_FLIGHT`).
    in_flight: Semaphore,
    /// Time to answer one GraphQL request (`REQUEST_DEADLINE_SECONDS`).
    deadline: Duration,
}

impl AppState {
    /// Builds the state: the GraphQL schema reading Stripe through `cache`. `stripe` is used
    /// only by the readiness probe (uncached). Warns when scoping is on without a token (the
    /// `x-hasura-*` headers then prove nothing; see [`crate::graphql::scope`]).
    pub fn new(
        cache: StripeCache,
        stripe: StripeClient,
        metrics: Metrics,
        settings: &HttpSettings,
    ) -> Self {
        if settings.scoping.enabled && settings.auth_token.is_none() {
            tracing::warn!(
                "HASURA_SCOPING is on but GRAPHQL_AUTH_TOKEN is not set: x-hasura-* headers cannot be trusted, so every request that names a Hasura role (admin included) is scoped to its x-hasura-user-id, and requests without one are served unscoped; set GRAPHQL_AUTH_TOKEN (and give Hasura the same token) before exposing the server"
            );
        }
        AppState {
            graphql: Executor::new(cache.clone()),
            cache,
            metrics,
            auth: settings.auth_token.as_ref().map(BearerToken::new),
            max_body_bytes: settings.max_body_bytes,
            webhook: None,
            metrics_auth: settings.metrics_auth,
            scoping: settings.scoping.clone(),
            writes: settings.writes.clone(),
            profile: None,
            readiness: Readiness {
                stripe,
                last: Mutex::new(None),
            },
            in_flight: Semaphore::new(Limits::default().max_requests_in_flight),
            deadline: Limits::default().request_deadline,
        }
    }
}

impl AppState {
    /// Applies `limits` (the defaults apply until then): the Stripe-field budget, depth and
    /// complexity to the GraphQL executor, the deadline and the in-flight bound to the
    /// handlers.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.graphql = Executor::with_limits(self.cache.clone(), limits);
        self.in_flight = Semaphore::new(limits.max_requests_in_flight);
        self.deadline = limits.request_deadline;
        self
    }
}

impl AppState {
    /// Enables the profile write-back (`ensureStripeCustomer`, `POST /hasura/events`,
    /// lifecycle dates from Stripe webhooks).
    pub fn with_profile(mut self, profile: Option<ProfileSync>) -> Self {
        self.profile = profile;
        self
    }

    /// What every GraphQL request of `req` carries in its data: who it is for, whether it
    /// may write, the SSO metadata key and, when configured, the profile write-back.
    fn request_data(
        &self,
        req: &HttpRequest,
        request: async_graphql::Request,
    ) -> async_graphql::Request {
        let mut request = request
            .data(caller(self, req))
            .data(write_access(self, req))
            .data(SsoMetadataKey(self.scoping.metadata_key.clone()));
        if let Some(profile) = &self.profile {
            request = request.data(profile.clone());
        }
        request
    }
}

impl AppState {
    /// Enables `POST /webhooks/stripe` with these settings (`None` keeps it disabled).
    pub fn with_webhook(mut self, webhook: Option<WebhookSettings>) -> Self {
        self.webhook = webhook;
        self
    }
}

/// The readiness answer: whether Stripe accepts the key, asked at most every
/// [`READINESS_TTL`] and never through the cache.
struct Readiness {
    stripe: StripeClient,
    last: Mutex<Option<(Instant, Result<(), &'static str>)>>,
}

impl Readiness {
    async fn check(&self) -> Result<(), &'static str> {
        let mut last = self.last.lock().await;
        match *last {
            Some((at, outcome)) if at.elapsed() < READINESS_TTL => outcome,
            _ => {
                let outcome = self.stripe.check_key().await.map_err(|e| code_of(&e));
                *last = Some((Instant::now(), outcome));
                outcome
            }
        }
    }
}

/// Registers the routes and the request log.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state).service(
            web::scope("")
                .wrap(from_fn(log_request))
                .route("/graphql", web::post().to(graphql_post))
                .route("/graphql", web::get().to(graphql_get))
                .route("/graphiql", web::get().to(graphiql_page))
                .service(graphiql::assets_service())
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/webhooks/stripe", web::post().to(stripe_webhook))
                .route("/hasura/events", web::post().to(hasura_event))
                .route("/metrics", web::get().to(metrics_text)),
        );
    }
}

/// The 503 for a request over `MAX_REQUESTS_IN_FLIGHT`: coded `OVERLOADED`, with
/// `Retry-After: 1`.
fn overloaded() -> HttpResponse {
    let mut response = graphql_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "OVERLOADED",
        "too many GraphQL requests in flight (MAX_REQUESTS_IN_FLIGHT): retry shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A GraphQL-shaped error response.
pub fn graphql_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))
}

fn unauthorized() -> HttpResponse {
    let mut response = graphql_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "missing or invalid bearer token: send `Authorization: Bearer <GRAPHQL_AUTH_TOKEN>`",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"stripe-graphql\""),
    );
    response
}

fn authorized(state: &AppState, req: &HttpRequest) -> bool {
    match &state.auth {
        None => true,
        Some(token) => token.accepts(
            req.headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        ),
    }
}

/// Who a GraphQL request is for ([`crate::graphql::scope`]), from its `x-hasura-role` and
/// `x-hasura-user-id` headers. Call it only on a request that passed [`authorized`]: with
/// `GRAPHQL_AUTH_TOKEN` configured the request then presented it, and the headers come from
/// whoever holds the token (Hasura: its resolved session, which clients cannot choose).
/// Without a token configured nothing can vouch for the headers, so a role there never
/// makes a request trusted. A header value that is not UTF-8 counts as present but empty
/// (scoped to nobody), never as absent.
fn caller(state: &AppState, req: &HttpRequest) -> Caller {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default())
    };
    let auth = if state.auth.is_some() {
        Authentication::BearerToken
    } else {
        Authentication::None
    };
    Caller::of(
        &state.scoping,
        auth,
        header("x-hasura-role"),
        header("x-hasura-user-id"),
    )
}

/// Whether a GraphQL request may run mutations ([`crate::graphql::write`]), from how it
/// came (`POST` or not), whether a token is configured (a request that reached here then
/// presented it) and its `x-hasura-role`.
fn write_access(state: &AppState, req: &HttpRequest) -> WriteAccess {
    let role = req
        .headers()
        .get("x-hasura-role")
        .map(|v| v.to_str().unwrap_or_default());
    WriteAccess::of(
        &state.writes,
        state.auth.is_some(),
        role,
        req.method() == actix_web::http::Method::POST,
    )
}

async fn graphql_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let started = Instant::now();
    let (response, outcome) = post(&state, &req, payload).await;
    state.metrics.graphql_request(outcome, started.elapsed());
    response
}

/// `POST /graphql` and how it ended, for the metrics.
async fn post(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
) -> (HttpResponse, GraphqlOutcome) {
    let refused = |response| (response, GraphqlOutcome::Refused);
    if !authorized(state, req) {
        return refused(unauthorized());
    }
    // Held until the answer is built; refused at once when none is left.
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return refused(overloaded());
    };
    let deadline = tokio::time::Instant::now() + state.deadline;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return refused(graphql_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            ));
        };
        if body.len() + chunk.len() > state.max_body_bytes {
            return refused(graphql_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "the request body exceeds {} bytes (MAX_BODY_BYTES)",
                    state.max_body_bytes
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let request: async_graphql::BatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return refused(graphql_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request (JSON with a `query` string): {e}"),
            ))
        }
    };
    let queries: &[async_graphql::Request] = match &request {
        async_graphql::BatchRequest::Single(r) => std::slice::from_ref(r),
        async_graphql::BatchRequest::Batch(rs) => rs,
    };
    if queries.is_empty() || queries.iter().any(|r| r.query.trim().is_empty()) {
        return refused(graphql_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request has no `query`",
        ));
    }
    let request_id = req.extensions().get::<RequestId>().cloned();
    let run = Run {
        graphql: &state.graphql,
        request_id: request_id.as_ref(),
        deadline,
        deadline_seconds: state.deadline.as_secs(),
    };
    let response = match request {
        async_graphql::BatchRequest::Single(r) => {
            async_graphql::BatchResponse::Single(run.execute(state.request_data(req, r)).await)
        }
        async_graphql::BatchRequest::Batch(rs) => {
            // The budget is the request's: a batch's operations count together.
            let mut prepared: Vec<_> = rs
                .into_iter()
                .map(|r| state.graphql.prepare(state.request_data(req, r)))
                .collect();
            let total = prepared
                .iter_mut()
                .filter_map(|p| p.as_mut().ok())
                .map(|p| state.graphql.stripe_fields(p))
                .fold(0usize, usize::saturating_add);
            let limit = state.graphql.limits().max_stripe_fields;
            if total > limit {
                async_graphql::BatchResponse::Batch(
                    prepared
                        .iter()
                        .map(|_| {
                            async_graphql::Response::from_errors(vec![error::budget_exceeded(
                                total, limit,
                            )])
                        })
                        .collect(),
                )
            } else {
                // Concurrently and in order, as `Schema::execute_batch` does, with a span each.
                async_graphql::BatchResponse::Batch(
                    prepared
                        .into_iter()
                        .map(|p| run.execute_prepared(p))
                        .collect::<FuturesOrdered<_>>()
                        .collect()
                        .await,
                )
            }
        }
    };
    let outcome = if response.is_ok() {
        GraphqlOutcome::Ok
    } else {
        GraphqlOutcome::Errors
    };
    (json_response(response), outcome)
}

async fn graphql_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let started = Instant::now();
    // Without a query string this is the GraphiQL page, not a GraphQL request: not counted.
    let page = req.query_string().is_empty();
    let (response, outcome) = get(&state, &req, page).await;
    if !page {
        state.metrics.graphql_request(outcome, started.elapsed());
    }
    response
}

/// `GET /graphql` and how it ended, for the metrics.
async fn get(state: &AppState, req: &HttpRequest, page: bool) -> (HttpResponse, GraphqlOutcome) {
    if !authorized(state, req) {
        return (unauthorized(), GraphqlOutcome::Refused);
    }
    if page {
        return (graphiql::page(state.auth.is_some()), GraphqlOutcome::Ok);
    }
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return (overloaded(), GraphqlOutcome::Refused);
    };
    let deadline = tokio::time::Instant::now() + state.deadline;
    let request = match async_graphql_actix_web::GraphQLRequest::extract(req).await {
        Ok(request) => request.into_inner(),
        Err(e) => {
            let response = graphql_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the URL does not hold a GraphQL request: {e}"),
            );
            return (response, GraphqlOutcome::Refused);
        }
    };
    let request_id = req.extensions().get::<RequestId>().cloned();
    let run = Run {
        graphql: &state.graphql,
        request_id: request_id.as_ref(),
        deadline,
        deadline_seconds: state.deadline.as_secs(),
    };
    let response = run
        .execute(
            request
                .data(caller(state, req))
                .data(write_access(state, req)),
        )
        .await;
    let outcome = if response.is_ok() {
        GraphqlOutcome::Ok
    } else {
        GraphqlOutcome::Errors
    };
    (json_response(response.into()), outcome)
}

/// What runs the operations of one GraphQL HTTP request.
#[derive(Clone, Copy)]
struct Run<'a> {
    graphql: &'a Executor,
    request_id: Option<&'a RequestId>,
    /// When the request must be answered (`REQUEST_DEADLINE_SECONDS` after it came in).
    deadline: tokio::time::Instant,
    deadline_seconds: u64,
}

impl Run<'_> {
    /// Parses and executes one GraphQL operation (see [`Run::execute_prepared`]).
    async fn execute(self, request: async_graphql::Request) -> async_graphql::Response {
        self.execute_prepared(self.graphql.prepare(request)).await
    }

    /// Executes one GraphQL operation in a `graphql` span carrying the HTTP request's id, the
    /// operation's name (the `operationName` sent, else the name of the document's only
    /// operation) and, once it is known, its outcome (`ok` or `errors`). Past the deadline it
    /// answers one error coded `REQUEST_TIMEOUT` and no `data`; dropping the execution leaves
    /// the Stripe calls it started running in the cache's tasks.
    async fn execute_prepared(
        self,
        prepared: Result<graphql::Prepared, async_graphql::ServerError>,
    ) -> async_graphql::Response {
        let mut prepared = match prepared {
            Ok(prepared) => prepared,
            Err(e) => return Executor::parse_failure(e),
        };
        let span = tracing::info_span!(
            "graphql",
            request_id = self.request_id.map(field::display),
            operation = operation_name(prepared.request_mut()),
            outcome = field::Empty,
        );
        let run = self.graphql.run(prepared).instrument(span.clone());
        let response = match tokio::time::timeout_at(self.deadline, run).await {
            Ok(response) => response,
            Err(_) => {
                span.in_scope(|| {
                    tracing::warn!(
                        deadline_seconds = self.deadline_seconds,
                        "GraphQL request timed out"
                    )
                });
                async_graphql::Response::from_errors(vec![error::request_timeout(
                    self.deadline_seconds,
                )])
            }
        };
        span.record("outcome", if response.is_ok() { "ok" } else { "errors" });
        response
    }
}

/// The operation a request runs, by name: its `operationName`, or the name of the document's
/// only operation (the request is already parsed, by [`Executor::prepare`]).
fn operation_name(request: &mut async_graphql::Request) -> Option<&str> {
    if request.operation_name.is_some() {
        return request.operation_name.as_deref();
    }
    match &request.parsed_query().ok()?.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.keys().next().map(|name| name.as_str())
        }
        _ => None,
    }
}

/// The GraphiQL page ([`crate::graphiql`]): sends its requests to `/graphql` with the headers
/// set in its header editor. It holds no data (it is told only whether a token is required),
/// so `/graphiql` serves it without a token.
async fn graphiql_page(state: web::Data<AppState>) -> HttpResponse {
    graphiql::page(state.auth.is_some())
}

fn json_response(response: async_graphql::BatchResponse) -> HttpResponse {
    HttpResponse::Ok().json(response)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /metrics`: the registry in Prometheus text format 0.0.4. Needs the bearer token when
/// one is set, unless `METRICS_AUTH=none`.
async fn metrics_text(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if state.metrics_auth == MetricsAuth::Token && !authorized(&state, &req) {
        return unauthorized();
    }
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.encode())
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness.check().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(code) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "reason": code })),
    }
}

/// `POST /webhooks/stripe`: one Stripe event delivery (see [`crate::webhook`]). No bearer
/// token: the `Stripe-Signature` header authenticates it. Answers
///
/// - 200 `{"received": true, "outcome": "applied", …}` once the entries the event makes stale
///   were evicted, or `"outcome": "ignored"` for a type this server does not cache;
/// - 400 `{"received": false, "error": {"code", "message"}}` for a missing, malformed, wrong or
///   out-of-tolerance signature, or a signed body that is not a usable event; nothing changes;
/// - 413 for a body over `MAX_BODY_BYTES`; 404 when `STRIPE_WEBHOOK_SECRET` is not set.
///
/// No answer holds the secret or the expected signature. Each delivery is logged with its
/// event id, type and outcome, and counted in the metrics.
async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    let Some(settings) = &state.webhook else {
        return HttpResponse::NotFound().json(json!({
            "received": false,
            "error": {
                "code": "webhooks_disabled",
                "message": "webhooks are disabled: set STRIPE_WEBHOOK_SECRET (or --stripe-webhook-secret) to the endpoint's signing secret (whsec_…) to enable POST /webhooks/stripe",
            },
        }));
    };
    let refuse = |status: StatusCode, code: &str, message: &str| {
        HttpResponse::build(status).json(json!({
            "received": false,
            "error": { "code": code, "message": message },
        }))
    };
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            state.metrics.webhook(None, WebhookOutcome::Rejected);
            return refuse(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            );
        };
        if body.len() + chunk.len() > state.max_body_bytes {
            state.metrics.webhook(None, WebhookOutcome::Rejected);
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!(
                    "the request body exceeds {} bytes (MAX_BODY_BYTES)",
                    state.max_body_bytes
                ),
            );
        }
        body.extend_from_slice(&chunk);
    }
    let header = req
        .headers()
        .get(webhook::SIGNATURE_HEADER)
        .map(|v| v.as_bytes());
    match webhook::receive(settings, header, &body, webhook::unix_now()) {
        Ok(received) => {
            let event_id = received.id.as_deref().unwrap_or("-");
            let event_type = received.event_type.as_str();
            let (mut outcome, mut label) = match &received.tags {
                Some(tags) => {
                    state.cache.invalidate(tags);
                    (WebhookOutcome::Applied, "applied")
                }
                None => (WebhookOutcome::Ignored, "ignored"),
            };
            // The profile's lifecycle dates (after the invalidation, so what it reads is
            // fresh). A failure answers 500: Stripe delivers the event again, and both the
            // invalidation and the date updates are idempotent.
            if let Some(profile) = &state.profile {
                match profile.on_stripe_event(&received.event).await {
                    Ok(0) => {}
                    Ok(rows) => {
                        tracing::info!(event_id = %received.id.as_deref().unwrap_or("-"), rows, "profile lifecycle dates updated");
                        (outcome, label) = (WebhookOutcome::Applied, "applied");
                    }
                    Err(e) => {
                        tracing::warn!(event_id = %received.id.as_deref().unwrap_or("-"), error = %e, "profile lifecycle update failed; stripe will deliver the event again");
                        state
                            .metrics
                            .webhook(Some(&received.event_type), WebhookOutcome::Rejected);
                        return refuse(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "profile_update_failed",
                            &format!("the profile's lifecycle dates could not be updated: {e}"),
                        );
                    }
                }
            }
            state.metrics.webhook(Some(event_type), outcome);
            tracing::info!(%event_id, %event_type, outcome = %label, "stripe webhook");
            let mut answer = json!({
                "received": true,
                "outcome": label,
                "id": received.id,
                "type": event_type,
            });
            if received.tags.is_none() {
                answer["reason"] = json!(format!(
                    "`{event_type}` events do not change anything this server caches"
                ));
            }
            HttpResponse::Ok().json(answer)
        }
        Err(rejected) => {
            state
                .metrics
                .webhook(rejected.event_type(), WebhookOutcome::Rejected);
            tracing::warn!(
                event_type = %rejected.event_type().unwrap_or("-"),
                code = %rejected.code(),
                reason = %rejected,
                outcome = %"rejected",
                "stripe webhook"
            );
            refuse(
                StatusCode::BAD_REQUEST,
                rejected.code(),
                &rejected.to_string(),
            )
        }
    }
}

/// `POST /hasura/events`: a Hasura event trigger delivery for `public.customers`
/// ([`crate::profile::ProfileSync::on_profile_event`]). Needs the bearer token (Hasura sends
/// it from `STRIPE_GRAPHQL_AUTHORIZATION`), and like mutations refuses to run without one
/// configured except under `--demo`. Answers 200 with the outcome when done or when there is
/// nothing to do (`no_profile`: the row is gone), 400 for a payload that is not a
/// `public.customers` event, 409 when the profile is linked to a missing or another customer
/// (a person must look), 503 when Hasura or Stripe failed (Hasura delivers the event again
/// per the trigger's `retry_conf`; nothing is created twice).
async fn hasura_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let refuse = |status: StatusCode, code: &str, message: &str| {
        HttpResponse::build(status).json(json!({ "error": { "code": code, "message": message } }))
    };
    if !authorized(&state, &req) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "missing or invalid bearer token: send `Authorization: Bearer <GRAPHQL_AUTH_TOKEN>`",
        );
    }
    if state.auth.is_none() && !state.writes.without_token {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "POST /hasura/events writes to Stripe and needs GRAPHQL_AUTH_TOKEN",
        );
    }
    let Some(profile) = &state.profile else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "HASURA_NOT_CONFIGURED",
            "set HASURA_GRAPHQL_URL and HASURA_ADMIN_SECRET to enable the profile write-back",
        );
    };
    if body.len() > state.max_body_bytes {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body exceeds MAX_BODY_BYTES",
        );
    }
    let event: ProfileEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_event",
                &format!("the body is not a Hasura event trigger payload: {e}"),
            )
        }
    };
    if (event.table.schema.as_str(), event.table.name.as_str()) != ("public", "customers") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "only events on public.customers are handled here",
        );
    }
    match profile.on_profile_event(&event).await {
        Ok((outcome, customer)) => {
            tracing::info!(event_id = %event.id, op = %event.event.op, outcome, "hasura profile event");
            HttpResponse::Ok().json(json!({ "outcome": outcome, "stripeCustomerId": customer }))
        }
        Err(SyncError::NoProfile(_)) => {
            HttpResponse::Ok().json(json!({ "outcome": "no_profile", "stripeCustomerId": null }))
        }
        Err(e @ (SyncError::LinkedToMissing(_) | SyncError::LinkedElsewhere { .. })) => {
            tracing::warn!(event_id = %event.id, error = %e, "hasura profile event needs a person");
            refuse(
                StatusCode::CONFLICT,
                "PROFILE_LINK_CONFLICT",
                &e.to_string(),
            )
        }
        Err(e) => {
            tracing::warn!(event_id = %event.id, error = %e, "hasura profile event failed; hasura will deliver it again");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "UPSTREAM_FAILED",
                &e.to_string(),
            )
        }
    }
}

/// The id of one HTTP request: the caller's `X-Request-Id` when it is a short token (at most
/// 64 ASCII letters, digits, `-` or `_`: Hasura and proxies send one), a fresh UUID otherwise.
/// [`log_request`] puts it in the request's extensions, where the handlers read it.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The caller's id from `headers` if it is acceptable, else a new UUID.
    fn of(headers: &HeaderMap) -> RequestId {
        let caller = headers.get("x-request-id").filter(|v| {
            let v = v.as_bytes();
            !v.is_empty()
                && v.len() <= 64
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        });
        match caller {
            // A clone shares the header's bytes: no copy.
            Some(value) => RequestId(value.clone()),
            None => {
                let mut buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let id = uuid::Uuid::new_v4().hyphenated();
                RequestId(
                    HeaderValue::from_bytes(id.encode_lower(&mut buffer).as_bytes())
                        .expect("a UUID is a valid header value"),
                )
            }
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters, digits, `-` and `_` get here (checked above).
        self.0.to_str().unwrap_or_default()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Logs every request with its [`RequestId`], which it also puts in the request's extensions
/// (for the `graphql` span) and echoes in the `X-Request-Id` response header, so a client
/// report can be matched to a log line. One INFO line per request, formatted only when INFO is
/// enabled; the id costs no allocation when the caller sent one.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = RequestId::of(req.headers());
    req.extensions_mut().insert(request_id.clone());
    let mut response = next.call(req).await?;
    let request = response.request();
    tracing::info!(
        method = %request.method(), path = %request.path(),
        status = response.status().as_u16(), %request_id,
        elapsed_ms = started.elapsed().as_millis() as u64, "request"
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("x-request-id"),
        request_id.0,
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_accepts_only_the_exact_token() {
        let token = BearerToken::new(&SecretString::new("s3cret-token"));
        assert!(token.accepts(Some(b"Bearer s3cret-token")));
        assert!(token.accepts(Some(b"bearer s3cret-token")));
        assert!(!token.accepts(Some(b"Bearer s3cret-tokeN")));
        assert!(!token.accepts(Some(b"Bearer s3cret-token-and-more")));
        assert!(!token.accepts(Some(b"Basic s3cret-token")));
        assert!(!token.accepts(Some(b"s3cret-token")));
        assert!(!token.accepts(Some(b"Bearer ")));
        assert!(!token.accepts(None));
    }
}
