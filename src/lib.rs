//! stripe-graphql: Stripe customers, subscriptions, prices, plans and products behind one
//! GraphQL schema, with a shared cache in front of Stripe, built to be a Hasura v2 remote schema.
//!
//! One folder per flow or concern; a reader should find any behaviour in one hop. From the top
//! layer down (a module only imports those below it):
//!
//! | module | concern |
//! |---|---|
//! | [`startup`] | wiring: builds the app, binds the listener, runs `--demo` |
//! | [`config`] | command line and environment, one `clap::Args` per concern, validated once |
//! | [`http`] | transport: one file per route, the bearer token, the bounded body reader, JSON error codes |
//! | [`graphql`] | the schema by flow: the read path, the write path, the profile's fields; scoping, budget, error codes |
//! | [`events`] | Stripe event intake: the signature check, what an event makes stale, the use case |
//! | [`profile`] | the profile sync: one Stripe customer per profile, Hasura's event trigger, lifecycle dates, phones, the Hasura client |
//! | [`mirror`] | the mirror of Stripe (`STRIPE_MIRROR=on`): the cache's source over what it holds; backfill, events applied, the Events API reading |
//! | [`cache`] | the cache every Stripe call goes through: the in-process level and the seam below it |
//! | [`shared`] | Redis as what replicas share (`REDIS_URL`): the connection, its namespace, pub/sub, its health |
//! | [`stripe`] | the typed reqwest client: requests, writes, retries, errors, models, the typed event |
//! | [`ids`] | Stripe id validation: the only way to build a [`ids::StripeId`] |
//! | [`secret`] | [`secret::SecretString`]: the key and token, never printed |
//! | [`clock`] | the server's clock reading |
//! | [`runtime`] | the I/O runtime every outgoing connection lives on |
//! | [`limits`] | what one request may cost and how many run at once |
//! | [`metrics`] | Prometheus metrics: Stripe calls, cache, webhooks, GraphQL requests |
//! | [`telemetry`] | tracing subscriber (text or JSON logs) |
//!
//! The fake Stripe that `--demo` serves and the tests use is the workspace's other crate,
//! `stripe-sandbox` (`crates/stripe-sandbox`); the server has it inside only with the default
//! `demo` feature (`cargo build --no-default-features` builds one without it, which refuses
//! `--demo`).
#![forbid(unsafe_code)]

pub mod cache;
pub mod clock;
pub mod config;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod mirror;
pub mod profile;
pub mod runtime;
pub mod secret;
pub mod shared;
pub mod startup;
pub mod stripe;
pub mod telemetry;
