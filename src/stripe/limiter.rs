//! Pacing shaped like Stripe's own limiters.
//!
//! Stripe limits an account (100 requests/s in live mode, 25/s in test mode) **and**, on top,
//! each endpoint: every named operation (`GET /v1/customers/{id}` for every id is one) has its
//! own limit, 25/s by default, and the search endpoints share 20/s. A cold Hasura join of 200
//! customers is 200 calls to one endpoint: paced only at the account's 100/s, three quarters
//! of them meet a 429.
//!
//! Guarantees of [`Limiter::wait`]:
//!
//! - **Both buckets.** A call starts only when its account bucket and its endpoint's bucket
//!   (the search endpoints' shared one for a search) both allow it: a token bucket per limit
//!   (the generic cell rate algorithm: one reservation time per bucket), refilled at the
//!   limit's rate. The buckets are smaller than Stripe's (half their size, at least one), so
//!   Stripe's own buckets always keep room for the jitter of the network between the two.
//! - **Arrival order.** Interactive calls reserve their start time when they arrive, under one
//!   lock: they start in the order they asked, each as early as both buckets allow.
//! - **Within the deadline.** A call whose start would fall after its deadline is refused at
//!   once ([`PastDeadline`]), having taken nothing, rather than queued for nothing.
//! - **Lanes.** [`Lane::Background`] work (a mirror's backfill) never reserves ahead: it
//!   starts only at a moment both buckets are free now, and otherwise waits for the next one,
//!   so every interactive call that arrives meanwhile goes first.
//! - A 429 that still comes (another client of the account) is backed off by the retry policy
//!   ([`super::retry`]), as before.
//! - **One budget for the account across replicas** ([`Limiter::sharing`], with `REDIS_URL`):
//!   the same buckets, kept in Redis, taken by one script per call on Redis's own clock, so N
//!   replicas together start no more calls than one would. When Redis does not answer, each
//!   replica paces locally at its share of the limits (divided by `REDIS_EXPECTED_REPLICAS`),
//!   so the replicas together still stay near the account's limits.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

use crate::shared::Shared;

/// Stripe's default limit for one endpoint, per second.
pub const DEFAULT_ENDPOINT_RATE: u32 = 25;
/// Stripe's limit for the search endpoints together, per second.
pub const SEARCH_RATE: u32 = 20;

/// Which queue a call waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Calls a GraphQL request or a webhook waits for: first.
    Interactive,
    /// Work nobody waits for (a mirror's backfill): only what interactive calls leave.
    Background,
}

impl Lane {
    /// The lane's name, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Background => "background",
        }
    }
}

/// The limits paced to, per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// The account's (`STRIPE_RATE_LIMIT_PER_SECOND`; Stripe's: 100 live, 25 test).
    pub account: NonZeroU32,
    /// Each endpoint's (`STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND`; Stripe's default: 25).
    pub endpoint: NonZeroU32,
}

/// A call would start after its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastDeadline;

/// One token bucket, as its theoretical arrival time (GCRA): a call conforms at `t` when
/// `t >= tat - tolerance`, and a call at `t` moves `tat` to `max(tat, t) + interval`.
#[derive(Debug)]
struct Bucket {
    interval: Duration,
    /// How far ahead of `tat` a call may start: `(burst - 1) * interval`.
    tolerance: Duration,
    tat: Instant,
}

impl Bucket {
    /// A full bucket of `burst` tokens refilled at `rate` per second.
    fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        let interval = Duration::from_secs(1) / rate.max(1);
        Bucket {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            tat: now,
        }
    }

    /// The earliest moment from `now` a call conforms.
    fn earliest(&self, now: Instant) -> Instant {
        match self.tat.checked_sub(self.tolerance) {
            Some(at) => at.max(now),
            None => now,
        }
    }

    /// A call starts at `at` (which conforms).
    fn take(&mut self, at: Instant) {
        self.tat = self.tat.max(at) + self.interval;
    }
}

/// Our bucket's size for a limit of `rate`: half of Stripe's bucket (the same size as its
/// rate), at least one.
fn burst_of(rate: u32) -> u32 {
    (rate / 2).max(1)
}

/// A bucket of `rate` per second as GCRA's interval and tolerance (see [`Bucket`]).
fn gcra(rate: u32) -> (Duration, Duration) {
    let interval = Duration::from_secs(1) / rate.max(1);
    (interval, interval * burst_of(rate).saturating_sub(1))
}

#[derive(Debug)]
struct Buckets {
    account: Bucket,
    /// The search endpoints' shared bucket.
    search: Bucket,
    endpoints: HashMap<&'static str, Bucket>,
}

/// The limiter every Stripe call of one client waits in (see the module docs).
#[derive(Debug)]
pub struct Limiter {
    limits: RateLimits,
    buckets: Mutex<Buckets>,
    shared: Option<SharedBudget>,
}

/// The buckets kept in Redis for every replica, and the local pacing used while Redis does
/// not answer.
#[derive(Debug)]
struct SharedBudget {
    shared: Shared,
    /// The limits divided among the expected replicas.
    alone: Box<Limiter>,
}

/// Takes from the account's and an endpoint's buckets in Redis, on Redis's clock, as
/// [`Limiter::reserve`] does locally (GCRA: one theoretical arrival time per bucket, in µs).
///
/// `KEYS[1]` the account's, `KEYS[2]` the endpoint's; `ARGV[1]`/`ARGV[2]` the account's
/// interval and tolerance (µs), `ARGV[3]`/`ARGV[4]` the endpoint's, `ARGV[5]` the latest delay
/// accepted (µs), `ARGV[6]` `1` for the background lane, `ARGV[7]` how long a bucket outlives
/// its last use (ms). Returns `{0, delay}` (taken: start after `delay` µs), `{1, delay}`
/// (background: nothing taken, free in `delay` µs) or `{2, delay}` (past the latest: nothing
/// taken).
static TAKE: std::sync::LazyLock<::redis::Script> = std::sync::LazyLock::new(|| {
    ::redis::Script::new(
        r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local function earliest(key, tolerance)
  local tat = tonumber(redis.call('GET', key) or '0')
  local at = tat - tolerance
  if at < now then at = now end
  return at, tat
end
local at_account, tat_account = earliest(KEYS[1], tonumber(ARGV[2]))
local at_endpoint, tat_endpoint = earliest(KEYS[2], tonumber(ARGV[4]))
local at = math.max(at_account, at_endpoint)
local delay = at - now
if ARGV[6] == '1' and delay > 0 then return {1, delay} end
if delay > tonumber(ARGV[5]) then return {2, delay} end
redis.call('SET', KEYS[1], tostring(math.max(tat_account, at) + tonumber(ARGV[1])), 'PX', ARGV[7])
redis.call('SET', KEYS[2], tostring(math.max(tat_endpoint, at) + tonumber(ARGV[3])), 'PX', ARGV[7])
return {0, delay}
"#,
    )
});

/// Whether `endpoint` (a route template) is one of Stripe's search endpoints.
fn is_search(endpoint: &str) -> bool {
    endpoint.ends_with("/search")
}

impl Limiter {
    /// Full buckets for `limits`; the search endpoints share the lesser of 20/s and the
    /// endpoint limit.
    pub fn new(limits: RateLimits) -> Limiter {
        let now = Instant::now();
        let account = limits.account.get();
        let search = SEARCH_RATE.min(limits.endpoint.get());
        Limiter {
            limits,
            buckets: Mutex::new(Buckets {
                account: Bucket::new(account, burst_of(account), now),
                search: Bucket::new(search, burst_of(search), now),
                endpoints: HashMap::new(),
            }),
            shared: None,
        }
    }

    /// The same limits as one budget for every replica, kept in `shared`; while Redis does
    /// not answer, each replica paces at the limits divided by `replicas`.
    pub fn sharing(limits: RateLimits, shared: Shared, replicas: NonZeroU32) -> Limiter {
        let share = |rate: NonZeroU32| {
            NonZeroU32::new(rate.get() / replicas.get()).unwrap_or(NonZeroU32::MIN)
        };
        let alone = Limiter::new(RateLimits {
            account: share(limits.account),
            endpoint: share(limits.endpoint),
        });
        Limiter {
            shared: Some(SharedBudget {
                shared,
                alone: Box::new(alone),
            }),
            ..Limiter::new(limits)
        }
    }

    /// The limits paced to.
    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Reserves the earliest start for a call to `endpoint` that both its buckets allow, if
    /// it is no later than `latest` (else takes nothing): the start, or `Err` with the
    /// earliest start there would have been.
    fn reserve(&self, endpoint: &'static str, latest: Instant) -> Result<Instant, Instant> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let rate = self.limits.endpoint.get();
        let Buckets {
            account,
            search,
            endpoints,
        } = &mut *buckets;
        let own = if is_search(endpoint) {
            search
        } else {
            endpoints
                .entry(endpoint)
                .or_insert_with(|| Bucket::new(rate, burst_of(rate), now))
        };
        let at = account.earliest(now).max(own.earliest(now));
        // `latest` may have been read before `now` (a background call asks for "now"): a
        // start that is free at `now` is never too late.
        if at > latest.max(now) {
            return Err(at);
        }
        account.take(at);
        own.take(at);
        Ok(at)
    }

    /// Waits until a call to `endpoint` (its route template) may start, in `lane`, no later
    /// than `deadline`: how long it waited, or [`PastDeadline`] at once when it could not
    /// start by then.
    pub async fn wait(
        &self,
        endpoint: &'static str,
        lane: Lane,
        deadline: Instant,
    ) -> Result<Duration, PastDeadline> {
        if let Some(budget) = &self.shared {
            return match self.wait_shared(budget, endpoint, lane, deadline).await {
                Some(result) => result,
                // Redis did not answer: this replica's share, locally.
                None => budget.alone.wait_local(endpoint, lane, deadline).await,
            };
        }
        self.wait_local(endpoint, lane, deadline).await
    }

    /// [`Limiter::wait`] on the buckets in Redis: the time the buckets made the call wait
    /// (Redis's round trips not counted); `None` when Redis did not answer.
    async fn wait_shared(
        &self,
        budget: &SharedBudget,
        endpoint: &'static str,
        lane: Lane,
        deadline: Instant,
    ) -> Option<Result<Duration, PastDeadline>> {
        let shared = &budget.shared;
        let account = self.limits.account.get();
        let (own_key, own_rate) = if is_search(endpoint) {
            (
                "R:search".to_owned(),
                SEARCH_RATE.min(self.limits.endpoint.get()),
            )
        } else {
            (format!("R:e:{endpoint}"), self.limits.endpoint.get())
        };
        let keys = [shared.key("R:account"), shared.key(&own_key)];
        let micros = |d: Duration| d.as_micros().to_string().into_bytes();
        let (interval_a, tolerance_a) = gcra(account);
        let (interval_e, tolerance_e) = gcra(own_rate);
        let mut waited = Duration::ZERO;
        loop {
            let latest = deadline.saturating_duration_since(Instant::now());
            let args = vec![
                micros(interval_a),
                micros(tolerance_a),
                micros(interval_e),
                micros(tolerance_e),
                micros(latest),
                if lane == Lane::Background {
                    b"1".to_vec()
                } else {
                    b"0".to_vec()
                },
                b"60000".to_vec(),
            ];
            let (outcome, delay): (i64, i64) = shared.script(&TAKE, &keys, &args).await?;
            let delay = Duration::from_micros(delay.max(0) as u64);
            match outcome {
                0 => {
                    tokio::time::sleep(delay).await;
                    return Some(Ok(waited + delay));
                }
                1 if Instant::now() + delay <= deadline => {
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                _ => return Some(Err(PastDeadline)),
            }
        }
    }

    /// [`Limiter::wait`] on this process's buckets.
    async fn wait_local(
        &self,
        endpoint: &'static str,
        lane: Lane,
        deadline: Instant,
    ) -> Result<Duration, PastDeadline> {
        let asked = Instant::now();
        match lane {
            Lane::Interactive => {
                let at = self.reserve(endpoint, deadline).map_err(|_| PastDeadline)?;
                tokio::time::sleep_until(at).await;
            }
            Lane::Background => loop {
                // Only a start that is free now: a reservation ahead would make every
                // interactive call arriving meanwhile queue behind it.
                match self.reserve(endpoint, Instant::now()) {
                    Ok(_) => break,
                    Err(next) if next > deadline => return Err(PastDeadline),
                    Err(next) => tokio::time::sleep_until(next).await,
                }
            },
        }
        Ok(asked.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(account: u32, endpoint: u32) -> RateLimits {
        RateLimits {
            account: NonZeroU32::new(account).unwrap(),
            endpoint: NonZeroU32::new(endpoint).unwrap(),
        }
    }

    const ONE: &str = "GET /v1/customers/{id}";
    const OTHER: &str = "GET /v1/subscriptions/{id}";

    /// The start times `n` interactive calls to `endpoint` reserve at once, from `t0`.
    fn starts(limiter: &Limiter, endpoint: &'static str, n: usize, t0: Instant) -> Vec<Duration> {
        let far = t0 + Duration::from_secs(3600);
        (0..n)
            .map(|_| limiter.reserve(endpoint, far).unwrap() - t0)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn one_endpoint_is_paced_at_its_own_rate_under_a_higher_account_rate() {
        let limiter = Limiter::new(limits(100, 25));
        let t0 = Instant::now();
        let starts = starts(&limiter, ONE, 200, t0);
        // A burst of 12 (half of Stripe's 25), then one every 40 ms.
        assert!(starts[..12].iter().all(|s| s.is_zero()), "{starts:?}");
        for (i, pair) in starts[11..].windows(2).enumerate() {
            assert_eq!(
                pair[1] - pair[0],
                Duration::from_millis(40),
                "call {}",
                i + 12
            );
        }
        // 200 calls: 188 after the burst, 7.52 s.
        assert_eq!(starts[199], Duration::from_millis(188 * 40));
        // In any second, at most 25 + 12 start: Stripe's bucket of 25 always has room.
        for (i, start) in starts.iter().enumerate() {
            let window = starts[i..]
                .iter()
                .take_while(|s| **s < *start + Duration::from_secs(1))
                .count();
            assert!(window <= 25 + 12, "from call {i}: {window}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn endpoints_share_the_account_and_the_search_endpoints_share_their_own_bucket() {
        let limiter = Limiter::new(limits(25, 25));
        let t0 = Instant::now();
        // Two endpoints, 25/s each, but 25/s for the account: together one every 40 ms.
        let far = t0 + Duration::from_secs(60);
        let mut all: Vec<Duration> = (0..100)
            .map(|i| {
                let endpoint = if i % 2 == 0 { ONE } else { OTHER };
                limiter.reserve(endpoint, far).unwrap() - t0
            })
            .collect();
        all.sort();
        assert_eq!(all[99], Duration::from_millis(88 * 40));

        let limiter = Limiter::new(limits(100, 25));
        let search = starts(&limiter, "GET /v1/customers/search", 50, t0);
        // 20/s: a burst of 10, then one every 50 ms.
        assert_eq!(search[49], Duration::from_millis(40 * 50));
        let other_search = limiter
            .reserve("GET /v1/subscriptions/search", far)
            .unwrap()
            - t0;
        assert_eq!(
            other_search,
            Duration::from_millis(41 * 50),
            "one shared bucket"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_could_not_start_by_its_deadline_is_refused_at_once_and_takes_nothing() {
        let limiter = Limiter::new(limits(100, 25));
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(1);
        let mut admitted = 0;
        let mut refused = 0;
        for _ in 0..100 {
            match limiter.wait(ONE, Lane::Interactive, deadline).await {
                Ok(_) => admitted += 1,
                Err(PastDeadline) => refused += 1,
            }
        }
        // 12 at once and one every 40 ms up to the deadline: 12 + 25.
        assert_eq!(admitted, 37);
        assert_eq!(refused, 63);
        assert!(Instant::now() <= deadline);
        // The refused calls took nothing: the next one starts 40 ms after the last admitted.
        let next = limiter.reserve(ONE, t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(next - t0, Duration::from_millis(26 * 40));
    }

    /// On the real clock (time moves between reading "now" and taking the lock), a
    /// background call on free buckets starts at once: it once spun forever, never yielding.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_background_call_on_free_buckets_starts_at_once_on_the_real_clock() {
        let limiter = std::sync::Arc::new(Limiter::new(limits(100, 25)));
        let far = Instant::now() + Duration::from_secs(600);
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                for _ in 0..5 {
                    limiter.wait(ONE, Lane::Background, far).await.unwrap();
                }
            }
        });
        let started = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(started.is_ok(), "the background calls never started");
    }

    #[tokio::test(start_paused = true)]
    async fn background_work_takes_only_what_interactive_calls_leave() {
        let limiter = std::sync::Arc::new(Limiter::new(limits(100, 25)));
        let far = Instant::now() + Duration::from_secs(600);
        // The bucket is drained by interactive calls reserved ahead.
        for _ in 0..20 {
            limiter.reserve(ONE, far).unwrap();
        }
        let background = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                limiter.wait(ONE, Lane::Background, far).await.unwrap();
                Instant::now()
            }
        });
        tokio::task::yield_now().await;
        // Interactive calls arrive while it waits: each goes ahead of it.
        let interactive: Vec<_> = (0..10)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.wait(ONE, Lane::Interactive, far).await.unwrap();
                    Instant::now()
                })
            })
            .collect();
        let mut interactive_done = Vec::new();
        for call in interactive {
            interactive_done.push(call.await.unwrap());
        }
        let background_started = background.await.unwrap();
        assert!(
            interactive_done.iter().all(|t| *t <= background_started),
            "the background call started before an interactive one"
        );
    }
}
