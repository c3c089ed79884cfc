//! What one GraphQL request may cost: `MAX_*`, `REQUEST_DEADLINE_SECONDS`. The reasons for
//! each default are in [`crate::limits`].

use std::time::Duration;

use clap::Args;

use crate::limits::{self, Limits};

/// Request limits.
#[derive(Debug, Args)]
#[command(next_help_heading = "Request limits")]
pub struct LimitsArgs {
    /// Most fields that can call Stripe in one GraphQL operation (root lookups and lists, and
    /// nested lookups, each alias and each appearance once). Over it, one error coded
    /// QUERY_BUDGET_EXCEEDED before any Stripe call.
    #[arg(long, env = "MAX_STRIPE_FIELDS", default_value_t = limits::DEFAULT_MAX_STRIPE_FIELDS as u64,
          value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_stripe_fields: u64,

    /// Deepest selection accepted (QUERY_TOO_DEEP beyond it).
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = limits::DEFAULT_MAX_QUERY_DEPTH as u64,
          value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub max_query_depth: u64,

    /// Most fields one operation may select, 1 per field (QUERY_TOO_COMPLEX beyond it).
    #[arg(long, env = "MAX_QUERY_COMPLEXITY",
          default_value_t = limits::DEFAULT_MAX_QUERY_COMPLEXITY as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_query_complexity: u64,

    /// Seconds to answer one GraphQL request; past it, an error coded REQUEST_TIMEOUT. Keep it
    /// below Hasura's remote-schema timeout (20 s in hasura/).
    #[arg(long, env = "REQUEST_DEADLINE_SECONDS",
          default_value_t = limits::DEFAULT_REQUEST_DEADLINE.as_secs(), value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_deadline_seconds: u64,

    /// Most GraphQL requests answered at once; past it, 503 coded OVERLOADED with
    /// Retry-After: 1, at once.
    #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT",
          default_value_t = limits::DEFAULT_MAX_REQUESTS_IN_FLIGHT as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_requests_in_flight: u64,
}

impl LimitsArgs {
    /// The limits (each bound already checked by its parser).
    pub fn settings(&self) -> Limits {
        // Bounded by the parsers above; saturating on a 32-bit target.
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            max_stripe_fields: size(self.max_stripe_fields),
            max_query_depth: size(self.max_query_depth),
            max_query_complexity: size(self.max_query_complexity),
            request_deadline: Duration::from_secs(self.request_deadline_seconds),
            max_requests_in_flight: size(self.max_requests_in_flight),
        }
    }
}
