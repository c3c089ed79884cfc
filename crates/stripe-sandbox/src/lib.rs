//! The sandbox: an in-memory, stateful stand-in for the Stripe endpoints stripe-graphql reads
//! and writes, served over real HTTP on a loopback port inside the process that starts it.
//!
//! stripe-graphql's `--demo` serves it with [`demo::store`] data so the demo exercises the real
//! client, and its test suite uses it as its fake Stripe. Start one with [`Sandbox::start`] (or
//! [`Sandbox::start_demo`]) and point a client at [`Sandbox::base_url`]. It is split by concern:
//!
//! | module | holds |
//! |---|---|
//! | [`server`] | the HTTP server ([`Sandbox`]), its knobs, fault injection and the call log |
//! | [`routes`] | every endpoint, reads and writes, in one table: method and path template to one function each |
//! | [`reads`] | the read endpoints: one function each, from the store and the checked query parameters |
//! | [`params`] | query parameters, decoded, and Stripe's paging of lists (`limit`, cursors, newest first) |
//! | [`search`] | `GET /v1/customers/search`: Stripe's search query language (the part this project uses), without Stripe's indexing lag |
//! | [`writes`] | the write endpoints (customers and subscriptions: create, update, delete, cancel, resume) and their rules |
//! | [`form`] | Stripe's form encoding with nested keys (`items[0][metadata][k]`), decoded |
//! | [`idempotency`] | the answers stored under `Idempotency-Key`s |
//! | [`limits`] | Stripe's rate limiters (account, endpoint, search), emulated when asked |
//! | [`events`] | the changes Stripe sends events for: event types and `previous_attributes` |
//! | [`webhooks`] | those events, shaped and signed as Stripe's, sent to a configured URL |
//! | [`render`] | how stored objects are answered: a subscription embeds at most 10 items |
//! | [`store`] | the stored objects and the operations that change them |
//! | [`error`] | [`ApiError`](error::ApiError): a refusal in Stripe's error shape |
//! | [`fixtures`] | builders of objects in dahlia shapes, and the API version they follow |
//! | [`demo`] | the demo data |
//! | [`clock`] | [`unix_now`], the time writes, events and signatures are made at |
#![forbid(unsafe_code)]

pub mod clock;
pub mod demo;
pub mod error;
pub mod events;
pub mod fixtures;
pub mod form;
pub mod idempotency;
pub mod limits;
pub mod params;
pub mod reads;
pub mod render;
pub mod routes;
pub mod search;
pub mod server;
pub mod store;
pub mod webhooks;
pub mod writes;

pub use clock::unix_now;
pub use fixtures::API_VERSION;
pub use limits::RateLimits;
pub use server::{Call, Fault, Sandbox, Settings, DEFAULT_CALL_LOG_CAPACITY, DEMO_KEY};
pub use store::Store;
pub use webhooks::{Delivery, DeliveryError};
