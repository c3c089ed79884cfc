//! stripe-graphql: Stripe customers, subscriptions, prices, plans and products behind one
//! GraphQL schema, with a shared cache in front of Stripe, built to be a Hasura v2 remote schema.
//!
//! One module per concern; a reader should find any behaviour in one hop:
//!
//! | module | concern |
//! |---|---|
//! | [`civil`] | calendar arithmetic on Unix time (dates without a date library) |
//! | [`config`] | command line and environment, validated once at startup |
//! | [`telemetry`] | tracing subscriber (text or JSON logs) |
//! | [`secret`] | [`secret::SecretString`]: the key and token, never printed |
//! | [`ids`] | Stripe id validation: the only way to build a [`ids::StripeId`] |
//! | [`stripe`] | typed reqwest client and requests, serde models (also the GraphQL object types), typed errors |
//! | [`cache`] | the moka cache in front of every Stripe read (TTL, coalescing) |
//! | [`graphql`] | the schema, split by Stripe domain, and error codes |
//! | [`metrics`] | Prometheus metrics: Stripe calls, cache, webhooks, GraphQL requests |
//! | [`limits`] | what one request may cost (Stripe-field budget, depth, complexity, deadline) and how many run at once |
//! | [`http`] | actix-web routes: `/graphql`, `/webhooks/stripe`, `/healthz`, `/readyz`, bearer auth |
//! | [`hasura`] | the server's own calls to Hasura's GraphQL API, each as a narrow role |
//! | [`profile`] | the Unified Customer Profile's Stripe side: one Stripe customer per profile, lifecycle dates from Stripe events |
//! | [`webhook`] | Stripe webhooks: `Stripe-Signature` check, event parsing, what each event makes stale |
//! | [`graphiql`] | the GraphiQL page and its assets, compiled in: offline, same-origin only, strict CSP |
//! | [`startup`] | wiring: builds the app, binds the listener, runs `--demo` |
//!
//! The fake Stripe that `--demo` serves and the tests use is the workspace's other crate,
//! `stripe-sandbox` (`crates/stripe-sandbox`); the server has it inside only with the default
//! `demo` feature (`cargo build --no-default-features` builds one without it, which refuses
//! `--demo`).
#![forbid(unsafe_code)]

pub mod cache;
pub mod civil;
pub mod config;
pub mod graphiql;
pub mod graphql;
pub mod hasura;
pub mod http;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod profile;
pub mod secret;
pub mod startup;
pub mod stripe;
pub mod telemetry;
pub mod webhook;
