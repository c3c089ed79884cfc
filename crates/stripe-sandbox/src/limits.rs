//! Stripe's rate limiters, emulated (off unless a test or benchmark asks for them:
//! [`crate::Sandbox::set_rate_limits`]).
//!
//! As Stripe documents them: a token bucket for the account (100 requests/s in live mode,
//! 25/s in a sandbox) and, on top, one per endpoint (a method and path template:
//! `GET /v1/customers/{id}` for every id is one), 25/s by default, the search endpoints sharing
//! 20/s. Each bucket holds as many tokens as its rate (a burst of one second) and refills
//! continuously. A request takes a token from both of its buckets, or, when either is empty,
//! is answered 429 with Stripe's `rate_limit` error and takes none. Stripe's concurrency
//! limiter, whose size is not published, is not emulated.

use std::collections::HashMap;

use tokio::time::Instant;

/// The limits, per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// The account's.
    pub account: u32,
    /// Each endpoint's.
    pub endpoint: u32,
    /// The search endpoints', together.
    pub search: u32,
}

impl RateLimits {
    /// Stripe's in live mode.
    pub const LIVE: RateLimits = RateLimits {
        account: 100,
        endpoint: 25,
        search: 20,
    };
    /// Stripe's in a sandbox (test mode).
    pub const TEST: RateLimits = RateLimits {
        account: 25,
        endpoint: 25,
        search: 20,
    };
}

/// A token bucket holding up to `rate` tokens, refilled at `rate` per second.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: u32, now: Instant) -> Bucket {
        Bucket {
            rate: f64::from(rate.max(1)),
            tokens: f64::from(rate.max(1)),
            at: now,
        }
    }

    /// Whether a token is there at `now` (refilling first).
    fn has_token(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.rate);
        self.at = now;
        self.tokens >= 1.0
    }
}

/// The buckets of one sandbox, and how many requests they refused.
#[derive(Debug)]
pub(crate) struct Limiters {
    limits: RateLimits,
    account: Bucket,
    search: Bucket,
    endpoints: HashMap<(&'static str, &'static str), Bucket>,
    pub(crate) refused: usize,
}

impl Limiters {
    pub(crate) fn new(limits: RateLimits) -> Limiters {
        let now = Instant::now();
        Limiters {
            limits,
            account: Bucket::full(limits.account, now),
            search: Bucket::full(limits.search, now),
            endpoints: HashMap::new(),
            refused: 0,
        }
    }

    /// Whether a request to the endpoint `method` + `template` may be answered now (it takes
    /// a token from both of its buckets), or must be refused with a 429 (it takes none).
    pub(crate) fn admit(&mut self, method: &'static str, template: &'static str) -> bool {
        let now = Instant::now();
        let rate = self.limits.endpoint;
        let own = if template.ends_with("/search") {
            &mut self.search
        } else {
            self.endpoints
                .entry((method, template))
                .or_insert_with(|| Bucket::full(rate, now))
        };
        let admitted = own.has_token(now) & self.account.has_token(now);
        if admitted {
            own.tokens -= 1.0;
            self.account.tokens -= 1.0;
        } else {
            self.refused += 1;
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_allows_its_rate_with_a_burst_of_one_second_then_refuses() {
        let mut limiters = Limiters::new(RateLimits::LIVE);
        let admitted = (0..40)
            .filter(|_| limiters.admit("GET", "/v1/customers/{id}"))
            .count();
        assert_eq!(admitted, 25, "a full bucket: 25 at once");
        assert_eq!(limiters.refused, 15);
        // Another endpoint still has its own 25; the account's 100 are shared.
        let other = (0..40)
            .filter(|_| limiters.admit("GET", "/v1/subscriptions/{id}"))
            .count();
        assert_eq!(other, 25);
        tokio::time::advance(Duration::from_millis(200)).await;
        // 200 ms later: 5 more tokens.
        let later = (0..10)
            .filter(|_| limiters.admit("GET", "/v1/customers/{id}"))
            .count();
        assert_eq!(later, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_account_bucket_bounds_every_endpoint_together_and_search_shares_one() {
        let mut limiters = Limiters::new(RateLimits::TEST);
        let a = (0..20)
            .filter(|_| limiters.admit("GET", "/v1/customers/{id}"))
            .count();
        let b = (0..20)
            .filter(|_| limiters.admit("GET", "/v1/prices/{id}"))
            .count();
        assert_eq!(a + b, 25, "test mode: 25 for the account");
        let mut limiters = Limiters::new(RateLimits::LIVE);
        let search = (0..30)
            .filter(|_| limiters.admit("GET", "/v1/customers/search"))
            .count();
        assert_eq!(search, 20);
    }
}
