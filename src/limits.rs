//! What one GraphQL request may cost, and how many may run at once.
//!
//! | setting | default | what | refusal |
//! |---|---|---|---|
//! | `MAX_STRIPE_FIELDS` | [`DEFAULT_MAX_STRIPE_FIELDS`] | fields that can call Stripe in one operation ([`crate::graphql::budget`]) | `QUERY_BUDGET_EXCEEDED`, before any Stripe call |
//! | `MAX_QUERY_DEPTH` | [`DEFAULT_MAX_QUERY_DEPTH`] | deepest selection | `QUERY_TOO_DEEP` |
//! | `MAX_QUERY_COMPLEXITY` | [`DEFAULT_MAX_QUERY_COMPLEXITY`] | fields selected, async-graphql's complexity (1 per field) | `QUERY_TOO_COMPLEX` |
//! | `REQUEST_DEADLINE_SECONDS` | [`DEFAULT_REQUEST_DEADLINE`] | time to answer one GraphQL request | `REQUEST_TIMEOUT` (HTTP 200, GraphQL error) |
//! | `MAX_REQUESTS_IN_FLIGHT` | [`DEFAULT_MAX_REQUESTS_IN_FLIGHT`] | GraphQL requests being answered at once | `OVERLOADED` (HTTP 503, `Retry-After: 1`) |
//!
//! The reasons for each default are in `docs/design.md` ("Bounded cost per request").

use std::time::Duration;

/// Budget of fields that can call Stripe per operation. A Hasura join page is one
/// `customer(id:)` alias per distinct customer, and the seed query's selection counts 3 per
/// alias (`customer`, `subscriptions`, `items`): a generous 1 000-row page is 3 000. 5 000 lets
/// it through with room for two more lookups per row, and refuses 100 000 aliases at once.
pub const DEFAULT_MAX_STRIPE_FIELDS: usize = 5_000;

/// Deepest selection. The seed query is 8 levels deep and Hasura adds none.
pub const DEFAULT_MAX_QUERY_DEPTH: usize = 16;

/// Most fields per operation, counting 1 per selected field (async-graphql's complexity). The
/// seed selection is 28 fields per joined row, so a 1 000-row join is 28 000; 50 000 leaves
/// room for 50 fields per row on such a page.
pub const DEFAULT_MAX_QUERY_COMPLEXITY: usize = 50_000;

/// Time to answer one GraphQL request: below Hasura's 20 s remote-schema timeout, so Hasura
/// gets a coded answer rather than its own timeout, and above `STRIPE_DEADLINE_SECONDS` (15 s),
/// so one slow Stripe call ends with its own error first.
pub const DEFAULT_REQUEST_DEADLINE: Duration = Duration::from_secs(18);

/// GraphQL requests answered at once. Far above what Stripe's pace lets through (100 calls/s in
/// live mode, 8 at a time), so it only cuts in when requests pile up, and small enough that the
/// pile (each request's document, its futures and its response) stays in a few hundred MB.
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: usize = 512;

/// The limits of one server (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most fields that can call Stripe in one operation (`MAX_STRIPE_FIELDS`).
    pub max_stripe_fields: usize,
    /// Deepest selection (`MAX_QUERY_DEPTH`).
    pub max_query_depth: usize,
    /// Most complexity, 1 per selected field (`MAX_QUERY_COMPLEXITY`).
    pub max_query_complexity: usize,
    /// Time to answer one GraphQL HTTP request (`REQUEST_DEADLINE_SECONDS`).
    pub request_deadline: Duration,
    /// Most GraphQL HTTP requests being answered at once (`MAX_REQUESTS_IN_FLIGHT`).
    pub max_requests_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stripe_fields: DEFAULT_MAX_STRIPE_FIELDS,
            max_query_depth: DEFAULT_MAX_QUERY_DEPTH,
            max_query_complexity: DEFAULT_MAX_QUERY_COMPLEXITY,
            request_deadline: DEFAULT_REQUEST_DEADLINE,
            max_requests_in_flight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        }
    }
}
