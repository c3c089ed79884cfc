//! HTTP: the routes, one file each, and what they share. Handlers are thin: they check the
//! token, read a bounded body, call the use case and map its outcome to a response.
//!
//! | route | file | what |
//! |---|---|---|
//! | `POST /graphql` | [`graphql`] | GraphQL over HTTP, JSON body `{query, variables?, operationName?}` (or a batch array) |
//! | `GET /graphql?query=…` | [`graphql`] | the same for a query in the URL (GraphQL over HTTP GET; never a mutation) |
//! | `GET /graphql` | [`graphql`] | GraphiQL |
//! | `GET /graphiql` | [`graphql`] | GraphiQL without a token, for browsers when `GRAPHQL_AUTH_TOKEN` is set (a static page; it sends its requests with the headers set in its editor) |
//! | `GET /graphiql/assets/{file}` | [`graphiql`] | the page's scripts, styles, icon and licences, compiled in (no token) |
//! | `GET /healthz`, `GET /readyz` | [`health`] | liveness; readiness: 200 when Stripe accepts the key (checked at most every 30 s) |
//! | `POST /webhooks/stripe` | [`stripe_webhook`] | Stripe webhook events, with `STRIPE_WEBHOOK_SECRET` set (404 otherwise), handed to [`crate::events::intake`] |
//! | `POST /hasura/events` | [`hasura_events`] | Hasura's `customers_stripe_sync` event trigger, handed to [`crate::profile`] |
//! | `GET /metrics` | [`metrics`] | Prometheus metrics ([`crate::metrics`]), text format 0.0.4 |
//!
//! What they share: the bearer token ([`auth`]: with `GRAPHQL_AUTH_TOKEN` set every request to
//! `/graphql` and `/hasura/events` needs `Authorization: Bearer <token>`, and so does
//! `/metrics` unless `METRICS_AUTH=none`; `/webhooks/stripe` does not, its `Stripe-Signature`
//! is its authentication), the one bounded body reader ([`body`]), the JSON error bodies and
//! their UPPER_SNAKE codes ([`reply`]), and every request's id and log line ([`request_id`]).

pub mod auth;
pub mod body;
pub mod graphiql;
pub mod graphql;
pub mod hasura_events;
pub mod health;
pub mod metrics;
pub mod reply;
pub mod request_id;
pub mod stripe_webhook;

use actix_web::{middleware::from_fn, web};

pub use auth::MetricsAuth;
pub use graphql::RequestData;
pub use hasura_events::RETRY_AFTER_SECONDS;
pub use request_id::RequestId;

use crate::{
    cache::StripeCache,
    events::intake::Intake,
    events::WebhookSettings,
    graphql::{scope::ScopingSettings, write::WriteSettings, Executor},
    limits::Limits,
    metrics::Metrics,
    mirror::Mirror,
    profile::ProfileSync,
    secret::SecretString,
    stripe::StripeClient,
};

/// Settings of the HTTP layer (`GRAPHQL_AUTH_TOKEN`, `MAX_BODY_BYTES`, `METRICS_AUTH`, and how
/// a request's `x-hasura-*` headers are served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Bearer token every `/graphql` and `/hasura/events` request must carry, if any.
    pub auth_token: Option<SecretString>,
    /// Largest accepted request body on every POST route, in bytes.
    pub max_body_bytes: usize,
    pub metrics_auth: MetricsAuth,
    /// Data scoping for Hasura roles ([`crate::graphql::scope`]).
    pub scoping: ScopingSettings,
    /// Who may run mutations ([`crate::graphql::write`]).
    pub writes: WriteSettings,
}

/// What the routes serve: the application's parts, built once at startup.
pub struct Services {
    /// The cache every Stripe read and write goes through.
    pub cache: StripeCache,
    /// The Stripe client, for the readiness probe only (uncached).
    pub stripe: StripeClient,
    pub metrics: Metrics,
    /// `None` disables `POST /webhooks/stripe`.
    pub webhook: Option<WebhookSettings>,
    /// The profile write-back through Hasura; `None` without `HASURA_GRAPHQL_URL`.
    pub profile: Option<ProfileSync>,
    /// The mirror of Stripe; `None` without `STRIPE_MIRROR=on`.
    pub mirror: Option<Mirror>,
    pub limits: Limits,
}

/// Each route's state, built once and shared by every worker (clones share it).
#[derive(Clone)]
pub struct AppState {
    graphql: web::Data<graphql::GraphqlRoute>,
    webhook: web::Data<stripe_webhook::WebhookRoute>,
    hasura_events: web::Data<hasura_events::HasuraEventsRoute>,
    readiness: web::Data<health::Readiness>,
    metrics: web::Data<metrics::MetricsRoute>,
    max_body_bytes: usize,
}

impl AppState {
    /// The routes' state. Warns when scoping is on without a token (the `x-hasura-*` headers
    /// then prove nothing; see [`crate::graphql::scope`]).
    pub fn new(services: Services, settings: &HttpSettings) -> AppState {
        if settings.scoping.enabled && settings.auth_token.is_none() {
            tracing::warn!(
                "HASURA_SCOPING is on but GRAPHQL_AUTH_TOKEN is not set: x-hasura-* headers cannot be trusted, so every request that names a Hasura role (admin included) is scoped to its x-hasura-user-id, and requests without one are served unscoped; set GRAPHQL_AUTH_TOKEN (and give Hasura the same token) before exposing the server"
            );
        }
        let Services {
            cache,
            stripe,
            metrics,
            webhook,
            profile,
            mirror,
            limits,
        } = services;
        let auth = auth::Auth::new(settings.auth_token.as_ref());
        let max_body_bytes = settings.max_body_bytes;
        AppState {
            graphql: web::Data::new(graphql::GraphqlRoute::new(
                Executor::with_limits(cache.clone(), limits),
                settings,
                profile.clone(),
                metrics.clone(),
            )),
            webhook: web::Data::new(stripe_webhook::WebhookRoute {
                intake: webhook.map(|settings| {
                    Intake::new(
                        settings,
                        cache.clone(),
                        mirror.clone(),
                        profile.clone(),
                        metrics.clone(),
                    )
                }),
                metrics: metrics.clone(),
                max_body_bytes,
            }),
            hasura_events: web::Data::new(hasura_events::HasuraEventsRoute {
                auth: auth.clone(),
                without_token: settings.writes.without_token,
                profile,
                max_body_bytes,
            }),
            readiness: web::Data::new(health::Readiness::new(stripe, mirror)),
            metrics: web::Data::new(metrics::MetricsRoute {
                metrics,
                auth,
                metrics_auth: settings.metrics_auth,
            }),
            max_body_bytes,
        }
    }

    /// Registers the routes and the request log, for one worker (the state is shared).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        // Above MAX_BODY_BYTES, so that actix's own limit (which answers in plain text)
        // never answers before the routes' JSON 413 ([`body`]).
        let payload = web::PayloadConfig::new(self.max_body_bytes.saturating_add(1));
        cfg.app_data(payload)
            .app_data(self.graphql.clone())
            .app_data(self.webhook.clone())
            .app_data(self.hasura_events.clone())
            .app_data(self.readiness.clone())
            .app_data(self.metrics.clone())
            .service(
                web::scope("")
                    .wrap(from_fn(request_id::log_request))
                    .route("/graphql", web::post().to(graphql::post))
                    .route("/graphql", web::get().to(graphql::get))
                    .route("/graphiql", web::get().to(graphql::graphiql_page))
                    .service(graphiql::assets_service())
                    .route("/healthz", web::get().to(health::healthz))
                    .route("/readyz", web::get().to(health::readyz))
                    .route("/webhooks/stripe", web::post().to(stripe_webhook::post))
                    .route("/hasura/events", web::post().to(hasura_events::post))
                    .route("/metrics", web::get().to(metrics::get)),
            );
    }
}
