//! Integration tests: the server on port 0 against the embedded sandbox, over real HTTP.

mod auth_and_health;
mod bad_input;
mod caching;
mod cli;
pub mod fake_hasura;
mod graphiql;
mod hasura_replay;
mod helpers;
mod joins;
mod limits;
mod lists;
mod metrics;
mod mutations;
mod process;
mod profile;
mod replicas;
mod resilience;
mod schema;
mod scoping;
mod secrets;
mod seed_query;
mod shutdown;
mod stripe_budget;
mod stripe_errors;
mod stripe_limits;
mod transport;
mod webhooks;
