//! When a failed Stripe call is tried again, and after how long: a pure decision, so every
//! rule is unit-tested here.
//!
//! The rules, in order (the first that applies decides):
//!
//! 1. `Stripe-Should-Retry: false` → never retry, whatever the status (Stripe knows the
//!    request cannot succeed as sent).
//! 2. No attempts left (`max_retries` reached) → give up.
//! 3. `Stripe-Should-Retry: true` → retry.
//! 4. A connection failure (refused, reset, DNS) or a timeout → retry: every call this
//!    server makes is a `GET`, safe to repeat.
//! 5. 429 (rate limit or `lock_timeout`), 409 (conflict) and every 5xx → retry.
//! 6. Anything else (400, 401, 402, 403, 404, a 2xx body that is not the expected object) →
//!    give up: trying again gets the same answer.
//!
//! **Writes** ([`decide_write`]) follow the same rules when a repeat is safe: every `POST`
//! this server sends carries an `Idempotency-Key`, so Stripe answers a repeat with the stored
//! first answer (including a stored 500) and never applies it twice, and a `DELETE` is
//! idempotent by definition. A `POST` without a key (none is sent today; the rule is a guard)
//! is retried only where Stripe cannot have acted on it: 429 and 409 (refused before
//! executing) and `Stripe-Should-Retry: true`; never after a connection failure, a timeout or
//! a 5xx, whose outcome is unknown.
//!
//! The delay before retry `n` (1-based) is `min(base × 2^(n-1), max)` scaled by a jitter
//! factor in `[0.5, 1.0]`, and never below `base / 2` (Stripe's SDKs use base 0.5 s, max
//! 5 s). The caller also stops retrying when the wait would pass its overall deadline.

use std::time::Duration;

/// The retry settings (`STRIPE_MAX_RETRIES`; the delays are fixed in production and
/// shortened by tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Delay before the first retry, before jitter.
    pub base_delay: Duration,
    /// Longest delay between two attempts, before jitter.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// How one attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Stripe answered with this HTTP status (not 2xx), and maybe a `Stripe-Should-Retry`.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Stripe-Should-Retry` header, when sent.
        should_retry: Option<bool>,
    },
    /// The connection failed before an answer (refused, reset, DNS, TLS).
    Connection,
    /// No answer within the per-call timeout.
    Timeout,
    /// A 2xx answer that was not the expected JSON object.
    BadBody,
}

impl Failure {
    /// A short label for logs and the retry metric (`429`, `409`, `5xx`, `connection`,
    /// `timeout`, `should_retry`, …).
    pub fn reason(&self) -> &'static str {
        match *self {
            Failure::Status {
                should_retry: Some(true),
                ..
            } => "should_retry",
            Failure::Status { status: 429, .. } => "429",
            Failure::Status { status: 409, .. } => "409",
            Failure::Status { status, .. } if status >= 500 => "5xx",
            Failure::Status { .. } => "4xx",
            Failure::Connection => "connection",
            Failure::Timeout => "timeout",
            Failure::BadBody => "bad_body",
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Report the failure.
    GiveUp,
}

/// Whether to retry after attempt number `attempt` (1 for the first call) failed with
/// `failure`. `jitter` is a random factor in `[0.5, 1.0]` (clamped), drawn by the caller so
/// this stays a pure function.
pub fn decide(policy: &RetryPolicy, failure: Failure, attempt: u32, jitter: f64) -> Decision {
    let retryable = match failure {
        Failure::Status {
            should_retry: Some(false),
            ..
        } => return Decision::GiveUp,
        _ if attempt > policy.max_retries => return Decision::GiveUp,
        Failure::Status {
            should_retry: Some(true),
            ..
        } => true,
        Failure::Connection | Failure::Timeout => true,
        Failure::Status { status, .. } => status == 429 || status == 409 || status >= 500,
        Failure::BadBody => false,
    };
    if !retryable {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(backoff(policy, attempt, jitter))
}

/// [`decide`] for a request that changes something. `replay_safe`: whether repeating it
/// cannot apply it twice (a `POST` with an `Idempotency-Key`, or a `DELETE`). Without that,
/// a failure whose outcome is unknown (connection, timeout, 5xx) is never retried.
pub fn decide_write(
    policy: &RetryPolicy,
    failure: Failure,
    attempt: u32,
    jitter: f64,
    replay_safe: bool,
) -> Decision {
    let outcome_unknown = match failure {
        Failure::Connection | Failure::Timeout => true,
        Failure::Status {
            status,
            should_retry,
        } => status >= 500 && should_retry != Some(true),
        Failure::BadBody => false,
    };
    if !replay_safe && outcome_unknown {
        return Decision::GiveUp;
    }
    decide(policy, failure, attempt, jitter)
}

/// The delay before retry number `retry` (1-based).
pub fn backoff(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let exponent = retry.saturating_sub(1).min(16);
    let uncapped = policy.base_delay.saturating_mul(1u32 << exponent);
    let capped = uncapped.min(policy.max_delay);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.5, 1.0)
    } else {
        1.0
    };
    capped.mul_f64(jitter).max(policy.base_delay / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(5),
    };

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            should_retry: None,
        }
    }

    fn retries(failure: Failure) -> bool {
        matches!(decide(&POLICY, failure, 1, 1.0), Decision::RetryAfter(_))
    }

    #[test]
    fn transient_failures_are_retried() {
        for failure in [
            status(429),
            status(409),
            status(500),
            status(502),
            status(503),
            status(504),
            Failure::Connection,
            Failure::Timeout,
        ] {
            assert!(retries(failure), "{failure:?}");
        }
    }

    #[test]
    fn answers_that_would_repeat_are_not_retried() {
        for failure in [
            status(400),
            status(401),
            status(402),
            status(403),
            status(404),
            Failure::BadBody,
        ] {
            assert!(!retries(failure), "{failure:?}");
        }
    }

    #[test]
    fn stripe_should_retry_false_wins_over_every_other_rule() {
        for code in [429, 409, 500, 503] {
            let failure = Failure::Status {
                status: code,
                should_retry: Some(false),
            };
            assert_eq!(decide(&POLICY, failure, 1, 1.0), Decision::GiveUp);
        }
    }

    #[test]
    fn stripe_should_retry_true_retries_even_a_4xx() {
        let failure = Failure::Status {
            status: 400,
            should_retry: Some(true),
        };
        assert!(retries(failure));
        assert_eq!(failure.reason(), "should_retry");
    }

    #[test]
    fn attempts_stop_after_max_retries() {
        let failure = status(503);
        for attempt in 1..=3 {
            assert!(matches!(
                decide(&POLICY, failure, attempt, 1.0),
                Decision::RetryAfter(_)
            ));
        }
        assert_eq!(decide(&POLICY, failure, 4, 1.0), Decision::GiveUp);
        let never = RetryPolicy {
            max_retries: 0,
            ..POLICY
        };
        assert_eq!(decide(&never, failure, 1, 1.0), Decision::GiveUp);
        let told_to = Failure::Status {
            status: 400,
            should_retry: Some(true),
        };
        assert_eq!(decide(&never, told_to, 1, 1.0), Decision::GiveUp);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=6)
            .map(|n| backoff(&POLICY, n, 1.0).as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn jitter_scales_down_to_half_and_never_below_half_the_base() {
        assert_eq!(backoff(&POLICY, 3, 0.5), Duration::from_millis(1000));
        assert_eq!(backoff(&POLICY, 1, 0.5), Duration::from_millis(250));
        // Out-of-range factors are clamped, a NaN counts as 1.
        assert_eq!(backoff(&POLICY, 2, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&POLICY, 2, 7.0), Duration::from_millis(1000));
        assert_eq!(backoff(&POLICY, 2, f64::NAN), Duration::from_millis(1000));
        // Huge retry numbers do not overflow.
        assert_eq!(backoff(&POLICY, u32::MAX, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn reasons_name_the_failure() {
        assert_eq!(status(429).reason(), "429");
        assert_eq!(status(409).reason(), "409");
        assert_eq!(status(502).reason(), "5xx");
        assert_eq!(Failure::Connection.reason(), "connection");
        assert_eq!(Failure::Timeout.reason(), "timeout");
    }
    #[test]
    fn a_write_with_a_key_is_retried_like_a_read() {
        for failure in [
            Failure::Connection,
            Failure::Timeout,
            status(500),
            status(503),
            status(409),
            status(429),
        ] {
            assert_eq!(
                decide_write(&POLICY, failure, 1, 1.0, true),
                decide(&POLICY, failure, 1, 1.0),
                "{failure:?}"
            );
            assert!(matches!(
                decide_write(&POLICY, failure, 1, 1.0, true),
                Decision::RetryAfter(_)
            ));
        }
        assert_eq!(
            decide_write(&POLICY, status(400), 1, 1.0, true),
            Decision::GiveUp
        );
    }

    #[test]
    fn a_write_without_a_key_is_retried_only_when_stripe_cannot_have_acted() {
        for unknown in [
            Failure::Connection,
            Failure::Timeout,
            status(500),
            status(502),
        ] {
            assert_eq!(
                decide_write(&POLICY, unknown, 1, 1.0, false),
                Decision::GiveUp,
                "{unknown:?}"
            );
        }
        let told_to_retry = Failure::Status {
            status: 503,
            should_retry: Some(true),
        };
        for refused in [status(429), status(409), told_to_retry] {
            assert!(
                matches!(
                    decide_write(&POLICY, refused, 1, 1.0, false),
                    Decision::RetryAfter(_)
                ),
                "{refused:?}"
            );
        }
    }
}

/// Properties of [`decide`] and [`backoff`] over every status, header, attempt, policy and
/// jitter (256 cases each): the decision is the module's rule list, and delays stay in their
/// bounds and never shrink as attempts go on.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn failure() -> impl Strategy<Value = Failure> {
        prop_oneof![
            6 => (100u16..600, proptest::option::of(any::<bool>()))
                .prop_map(|(status, should_retry)| Failure::Status { status, should_retry }),
            1 => Just(Failure::Connection),
            1 => Just(Failure::Timeout),
            1 => Just(Failure::BadBody),
        ]
    }

    /// Policies as configured (0–10 retries) or shortened by tests; `base <= max`, as both
    /// production and the tests set them.
    fn policy() -> impl Strategy<Value = RetryPolicy> {
        (0u32..=10, 1u64..=2_000, 0u64..=10_000).prop_map(|(max_retries, base, extra)| {
            RetryPolicy {
                max_retries,
                base_delay: Duration::from_millis(base),
                max_delay: Duration::from_millis(base + extra),
            }
        })
    }

    /// In range, out of range and not a number: the caller's random factor clamped or not.
    fn jitter() -> impl Strategy<Value = f64> {
        prop_oneof![4 => 0.5f64..=1.0, 1 => any::<f64>()]
    }

    /// The module's rule list, restated independently of the implementation.
    fn should_retry_by_the_rules(policy: &RetryPolicy, failure: Failure, attempt: u32) -> bool {
        if let Failure::Status {
            should_retry: Some(told),
            ..
        } = failure
        {
            return told && attempt <= policy.max_retries;
        }
        attempt <= policy.max_retries
            && match failure {
                Failure::Connection | Failure::Timeout => true,
                Failure::Status { status, .. } => status == 429 || status == 409 || status >= 500,
                Failure::BadBody => false,
            }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_decision_is_the_documented_rule_list(
            policy in policy(),
            failure in failure(),
            attempt in 1u32..=12,
            jitter in jitter(),
        ) {
            let retries = matches!(decide(&policy, failure, attempt, jitter), Decision::RetryAfter(_));
            prop_assert_eq!(retries, should_retry_by_the_rules(&policy, failure, attempt));
        }

        #[test]
        fn stripe_should_retry_false_never_retries(
            policy in policy(),
            status in 100u16..600,
            attempt in any::<u32>(),
            jitter in jitter(),
        ) {
            let failure = Failure::Status { status, should_retry: Some(false) };
            prop_assert_eq!(decide(&policy, failure, attempt, jitter), Decision::GiveUp);
        }

        #[test]
        fn no_attempt_past_max_retries_is_retried(
            policy in policy(),
            failure in failure(),
            beyond in 1u32..1_000,
            jitter in jitter(),
        ) {
            let attempt = policy.max_retries + beyond;
            prop_assert_eq!(decide(&policy, failure, attempt, jitter), Decision::GiveUp);
        }

        #[test]
        fn a_client_error_is_not_retried_unless_stripe_says_so(
            policy in policy(),
            status in (400u16..500).prop_filter("409 and 429 are transient", |s| *s != 409 && *s != 429),
            attempt in 1u32..=12,
            jitter in jitter(),
        ) {
            let failure = Failure::Status { status, should_retry: None };
            prop_assert_eq!(decide(&policy, failure, attempt, jitter), Decision::GiveUp);
        }

        #[test]
        fn every_delay_is_within_half_the_base_and_the_max(
            policy in policy(),
            failure in failure(),
            attempt in 1u32..=12,
            jitter in jitter(),
        ) {
            if let Decision::RetryAfter(delay) = decide(&policy, failure, attempt, jitter) {
                prop_assert!(delay >= policy.base_delay / 2, "{:?} < base/2 of {:?}", delay, policy);
                prop_assert!(delay <= policy.max_delay, "{:?} > max of {:?}", delay, policy);
            }
        }

        #[test]
        fn delays_never_shrink_as_attempts_go_on(
            policy in policy(),
            retry in 1u32..=40,
            jitter in jitter(),
        ) {
            let now = backoff(&policy, retry, jitter);
            let next = backoff(&policy, retry + 1, jitter);
            prop_assert!(now <= next, "retry {}: {:?} then {:?}", retry, now, next);
        }

        #[test]
        fn a_delay_is_the_capped_doubling_scaled_by_the_jitter(
            policy in policy(),
            retry in 1u32..=40,
            jitter in 0.5f64..=1.0,
        ) {
            let doubled = policy.base_delay.saturating_mul(2u32.saturating_pow(retry - 1));
            let capped = doubled.min(policy.max_delay);
            prop_assert_eq!(backoff(&policy, retry, 1.0), capped);
            let delay = backoff(&policy, retry, jitter);
            prop_assert!(delay <= capped && delay >= capped / 2, "{:?} for {:?}", delay, capped);
        }
    }
}
