//! The `replicas` section: several stripe-graphql processes over one sandbox, alone and
//! sharing one Redis (`REDIS_URL`), as docs/benchmarks.md describes.
//!
//! 1. **Scaling.** For each replica count (1, 2, 4) without and with Redis: fresh servers (and a
//!    fresh `redis-server`), then every replica receives, at the same moment, the same cold
//!    Hasura join of the same 200 customers, then the same join again (warm). Against a sandbox
//!    applying Stripe's live-mode limiters, with a live key, every server at its defaults.
//! 2. **Cache levels.** Replicas A and B share a Redis, server C has none. A and C fetch
//!    customers; B is asked for each, one after the other (a miss in B's memory, a hit in
//!    Redis: an L2 hit); then all three again, in turn (L1 hits); beside them, misses in both
//!    levels.
//! 3. **L1 hits with and without Redis.** Warm seed-query throughput and `{ __typename }`
//!    throughput on A, B and C, alternating, with Redis's commands counted while each is
//!    loaded.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::ValueEnum;
use futures::future::join_all;
use serde_json::Value;
use stripe_sandbox::{unix_now, RateLimits, Sandbox};

use crate::{
    load::{self, Dialect, Measured, Target},
    procs, redis,
    redis::RedisServer,
    Options,
};

/// Which of Stripe's limiters the replicas' sandbox applies, and the matching key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StripeLimits {
    /// Live mode: 100/s for the account, 25/s per endpoint; a live key (`sk_live_…`), so the
    /// server paces at 100/s and 25/s by default.
    Live,
    /// Test mode: 25/s for the account and per endpoint; a test key (25/s and 25/s).
    Test,
    /// No limiter in the sandbox; a live key.
    Off,
}

impl StripeLimits {
    fn key(self) -> &'static str {
        match self {
            StripeLimits::Test => procs::KEY,
            StripeLimits::Live | StripeLimits::Off => procs::LIVE_KEY,
        }
    }

    fn limits(self) -> Option<RateLimits> {
        match self {
            StripeLimits::Live => Some(RateLimits::LIVE),
            StripeLimits::Test => Some(RateLimits::TEST),
            StripeLimits::Off => None,
        }
    }

    fn describe(self) -> String {
        match self.limits() {
            Some(l) => format!(
                "Stripe's {} limiters ({}/s for the account, {}/s per endpoint, token buckets of one second; a request over either is answered 429 with Stripe's `rate_limit` error)",
                if self == StripeLimits::Live { "live-mode" } else { "test-mode" },
                l.account,
                l.endpoint
            ),
            None => "no rate limiter".into(),
        }
    }
}

/// One phase (cold or warm) of one scaling row: every replica sent the join at once.
pub struct Phase {
    /// From the sends to the last answer.
    wall: Duration,
    /// The first replica's answer.
    fastest: Duration,
    /// Calls the sandbox received, 429s included, until the calls stopped.
    calls: usize,
    /// Of them, answered 429 by the sandbox's limiters.
    refused: usize,
    /// Paths (customers) the sandbox was called for more than once, 429s included.
    repeated: usize,
    /// When the first call for a path already called arrived, from the sends.
    first_repeat: Option<Duration>,
    /// Replicas whose answer was not a 200 holding, under every alias, the customer asked for.
    answers_with_errors: usize,
    /// Aliases not answered with their customer, over all replicas.
    aliases_errored: usize,
    /// The first error seen, for the report.
    first_error: Option<String>,
}

/// One scaling row.
pub struct Row {
    replicas: usize,
    redis: bool,
    cold: Phase,
    warm: Phase,
    /// The replicas' `stripe_graphql_cache_events_total` during the cold join, summed over
    /// them, for [`SHARED_EVENTS`].
    shared: [f64; 3],
}

/// The shared level's cache events shown per row: a lease taken (this replica asks Stripe),
/// a wait for another replica's fill, an answer read from Redis.
const SHARED_EVENTS: [&str; 3] = ["shared_miss", "shared_coalesced", "shared_hit"];

/// One latency row of the cache-levels table.
pub struct Level {
    label: String,
    measured: Measured,
}

/// The warm seed query and `{ __typename }` on one server, and Redis's command count while
/// each was loaded.
pub struct Loads {
    server: &'static str,
    seed: Measured,
    typename: Measured,
    redis_commands_seed: Option<u64>,
    redis_commands_typename: Option<u64>,
}

impl Loads {
    fn ratio(&self) -> f64 {
        self.seed.per_second() / self.typename.per_second().max(1e-9)
    }
}

/// What the section measured.
pub struct ReplicasRun {
    limits: StripeLimits,
    /// `redis-server --version`, or why the Redis scenarios were skipped.
    redis: Result<String, String>,
    rows: Vec<Row>,
    levels: Vec<Level>,
    /// B's `shared_hit` counter grew by this during the L2 pass.
    l2_shared_hits: Option<f64>,
    loads: Vec<Loads>,
    elapsed: Duration,
}

/// Leaked names for progress lines and the process list (a handful per run).
fn name(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

struct Section<'a> {
    options: &'a Options,
    sandbox: Sandbox,
    limits: StripeLimits,
    logs: &'a Path,
    token: &'a str,
}

impl Section<'_> {
    /// Spawns a server over the sandbox; with `redis`, sharing it among `expected` replicas;
    /// with `raised`, the benchmark's raised limits, else the server's defaults.
    fn spawn(
        &self,
        label: &str,
        log: &str,
        redis: Option<(&RedisServer, usize)>,
        raised: bool,
    ) -> (procs::Server, Target) {
        let o = self.options;
        let port = procs::free_port();
        let env = redis
            .map(|(r, expected)| {
                vec![
                    ("REDIS_URL", r.url()),
                    ("REDIS_EXPECTED_REPLICAS", expected.to_string()),
                ]
            })
            .unwrap_or_default();
        let command = procs::ours_command(
            &self.sandbox,
            port,
            self.token,
            &procs::OursSettings {
                key: self.limits.key(),
                max_concurrency: raised.then_some(o.max_concurrency),
                rate_limit: raised.then_some(o.rate_limit),
                log_level: &o.server_log,
                cache_max_entries: 100_000,
                env,
            },
        );
        let label = name(label.to_owned());
        let server = procs::Server::spawn(label, command, self.logs.join(log));
        (server, crate::ours_target(port, self.token, label))
    }

    /// Waits for the sandbox's call count to stop growing (no new call for 500 ms; at most
    /// 30 s): calls a server still makes after its answer (a retry past an error) count too.
    async fn settle(&self) {
        let mut last = self.sandbox.total_calls();
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.sandbox.total_calls();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Every target receives `body` at the same moment; the sandbox's limiters start with
    /// full buckets and its counts at zero.
    async fn everywhere(&self, targets: &[Target], body: &Arc<str>, ids: &[String]) -> Phase {
        self.sandbox.set_rate_limits(self.limits.limits());
        self.sandbox.reset_calls();
        let start = Instant::now();
        let answers = join_all(targets.iter().map(|t| {
            let body = body.clone();
            async move {
                let answer = t.post(body).await;
                (start.elapsed(), answer)
            }
        }))
        .await;
        let wall = start.elapsed();
        self.settle().await;
        let log = self.sandbox.calls();
        let mut called = std::collections::HashMap::<&str, usize>::new();
        let mut first_repeat = None;
        for call in &log {
            let n = called.entry(&call.path).or_default();
            *n += 1;
            if *n == 2 && first_repeat.is_none() {
                first_repeat = Some(call.at.saturating_duration_since(start));
            }
        }
        let mut phase = Phase {
            wall,
            fastest: answers.iter().map(|(at, _)| *at).min().unwrap_or_default(),
            calls: self.sandbox.total_calls(),
            refused: self.sandbox.rate_limited(),
            repeated: called.values().filter(|n| **n > 1).count(),
            first_repeat,
            answers_with_errors: 0,
            aliases_errored: 0,
            first_error: None,
        };
        for (_, answer) in &answers {
            let (wrong, first) = wrong_aliases(&answer.body, ids);
            if wrong > 0 || !answer.ok {
                phase.answers_with_errors += 1;
                phase.aliases_errored += wrong;
                if phase.first_error.is_none() {
                    phase.first_error = first;
                }
            }
        }
        phase
    }

    async fn row(&self, replicas: usize, with_redis: bool, ids: &[String]) -> Result<Row, String> {
        let o = self.options;
        let redis = if with_redis {
            Some(RedisServer::start()?)
        } else {
            None
        };
        let kind = if with_redis { "redis" } else { "alone" };
        let mut servers = Vec::new();
        let mut targets = Vec::new();
        for i in 1..=replicas {
            let (server, target) = self.spawn(
                &format!(
                    "replica {i} of {replicas}, {}",
                    if with_redis {
                        "with Redis"
                    } else {
                        "without Redis"
                    }
                ),
                &format!("replicas-{replicas}-{kind}-{i}.log"),
                redis.as_ref().map(|r| (r, replicas)),
                false,
            );
            servers.push(server);
            targets.push(target);
        }
        for (server, target) in servers.iter_mut().zip(&targets) {
            procs::wait_ready(server, target, Duration::from_secs(30)).await?;
        }
        for target in &targets {
            target.open_connections(1).await;
        }
        let body = load::request_body(&Dialect::Root.join(ids, &crate::seed_selection()));
        let what = format!(
            "{replicas} replica(s) {}",
            if with_redis {
                "sharing one Redis"
            } else {
                "without Redis"
            }
        );
        eprintln!(
            "[replicas] {what}: a cold join of {} customers on each at once",
            o.join_size
        );
        let cold = self.everywhere(&targets, &body, ids).await;
        let mut shared = [0.0; 3];
        for target in &targets {
            for (sum, event) in shared.iter_mut().zip(SHARED_EVENTS) {
                *sum += metric(
                    target,
                    &format!("stripe_graphql_cache_events_total{{event=\"{event}\"}}"),
                )
                .await;
            }
        }
        eprintln!("[replicas] {what}: the same join again (warm)");
        let warm = self.everywhere(&targets, &body, ids).await;
        for server in &mut servers {
            server.check_alive()?;
        }
        Ok(Row {
            replicas,
            redis: with_redis,
            cold,
            warm,
            shared,
        })
    }

    /// `ids` one after the other as single seed queries to `target`, checked, with the
    /// sandbox's calls counted.
    async fn singles(
        &self,
        label: String,
        target: &Target,
        ids: &[String],
    ) -> Result<Level, String> {
        let selection = crate::seed_selection();
        let bodies = ids
            .iter()
            .map(|id| load::request_body(&Dialect::Root.join(std::slice::from_ref(id), &selection)))
            .collect();
        self.sandbox.reset_calls();
        let mut measured = load::sequential(target, bodies, |i, a| {
            load::check_join(Dialect::Root, &a.body, std::slice::from_ref(&ids[i]))
                .map_err(|e| format!("{}: {e}", target.name))
        })
        .await?;
        measured.stripe_calls = self.sandbox.total_calls();
        Ok(Level { label, measured })
    }

    /// `ids` as single seed queries to every target in turn (the first target of each turn
    /// rotating), one request at a time, so a change in the machine's load affects all alike;
    /// checked. Stripe calls are counted for all together and shown on each.
    async fn interleaved(
        &self,
        targets: &[&Target],
        ids: &[String],
    ) -> Result<Vec<Measured>, String> {
        let selection = crate::seed_selection();
        self.sandbox.reset_calls();
        let mut answers: Vec<Vec<load::Answer>> = targets.iter().map(|_| Vec::new()).collect();
        for (i, id) in ids.iter().enumerate() {
            let body =
                load::request_body(&Dialect::Root.join(std::slice::from_ref(id), &selection));
            for k in 0..targets.len() {
                let t = (i + k) % targets.len();
                let answer = targets[t].post(body.clone()).await;
                load::check_join(Dialect::Root, &answer.body, std::slice::from_ref(id))
                    .map_err(|e| format!("{}: {e}", targets[t].name))?;
                answers[t].push(answer);
            }
        }
        let calls = self.sandbox.total_calls();
        Ok(answers
            .into_iter()
            .map(|answers| {
                let wall = answers.iter().map(|a| a.latency).sum();
                let mut m = load::bursts(vec![(wall, answers)]);
                m.stripe_calls = calls;
                m
            })
            .collect())
    }

    /// Caches `ids` in `target` by joins of `join_size`, unmeasured.
    async fn fill(&self, target: &Target, ids: &[String]) -> Result<(), String> {
        let selection = crate::seed_selection();
        for chunk in ids.chunks(self.options.join_size.max(1)) {
            let answer = target
                .post(load::request_body(&Dialect::Root.join(chunk, &selection)))
                .await;
            load::check_join(Dialect::Root, &answer.body, chunk)
                .map_err(|e| format!("{}: {e}", target.name))?;
        }
        Ok(())
    }

    /// The cache-levels table and the L1-hit throughput, on replicas A and B sharing one
    /// Redis and a server C without it, all with the benchmark's raised limits and no limiter
    /// in the sandbox (the fills are not measured; what is measured makes no Stripe call, or
    /// one at a time).
    async fn levels(
        &self,
        ids: &[String],
        cold_b: &[String],
        cold_c: &[String],
    ) -> Result<(Vec<Level>, Option<f64>, Vec<Loads>), String> {
        let o = self.options;
        self.sandbox.set_rate_limits(None);
        let redis = RedisServer::start()?;
        let (mut a_server, a) = self.spawn(
            "replica A (with Redis)",
            "levels-a.log",
            Some((&redis, 2)),
            true,
        );
        let (mut b_server, b) = self.spawn(
            "replica B (with Redis)",
            "levels-b.log",
            Some((&redis, 2)),
            true,
        );
        let (mut c_server, c) = self.spawn("server C (without Redis)", "levels-c.log", None, true);
        for (server, target) in [
            (&mut a_server, &a),
            (&mut b_server, &b),
            (&mut c_server, &c),
        ] {
            procs::wait_ready(server, target, Duration::from_secs(30)).await?;
        }
        let n = ids.len();
        eprintln!("[replicas] cache levels: A and C fetch {n} customers; B reads each from Redis, then from memory");
        self.fill(&a, ids).await?;
        self.fill(&c, ids).await?;
        let mut levels = vec![
            self.singles(
                format!("miss in both levels: replica B, with Redis, {} customers no server has seen (Redis read, lease, Stripe call, Redis write)", cold_b.len()),
                &b,
                cold_b,
            )
            .await?,
            self.singles(
                format!("miss in memory: server C, without Redis, {} customers no server has seen (Stripe call)", cold_c.len()),
                &c,
                cold_c,
            )
            .await?,
        ];
        let shared_hit = "stripe_graphql_cache_events_total{event=\"shared_hit\"}";
        let before = metric(&b, shared_hit).await;
        levels.push(
            self.singles(
                format!("**L2 hit**: replica B, {n} customers replica A fetched (not in B's memory, in Redis)"),
                &b,
                ids,
            )
            .await?,
        );
        let l2_shared_hits = metric(&b, shared_hit).await - before;
        // L1 hits on the three, in turn: A's entries came from its own Stripe calls (as C's),
        // B's from Redis.
        let servers: [(&'static str, &Target); 3] = [
            (
                "replica A, with `REDIS_URL` (its entries from its own Stripe calls)",
                &a,
            ),
            (
                "replica B, with `REDIS_URL` (its entries read from Redis)",
                &b,
            ),
            ("server C, without Redis", &c),
        ];
        let l1 = self.interleaved(&servers.map(|(_, t)| t), ids).await?;
        for ((server, _), measured) in servers.iter().zip(l1) {
            levels.push(Level {
                label: format!("L1 hit: {server}, the same {n} customers"),
                measured,
            });
        }

        // L1 hits under load: the warm seed query and `{ __typename }` on each server, in
        // slices of at most 2 s alternating between the six loads, so a change in the
        // machine's background load affects them alike. Redis's command count is read around
        // each slice.
        eprintln!("[replicas] L1-hit throughput with and without Redis: warm seed query and `{{ __typename }}`, alternating");
        let warm = load::request_body(&Dialect::Root.join(&ids[..1], &crate::seed_selection()));
        let typename = load::request_body("{ __typename }");
        let loads: Vec<(&Target, &Arc<str>)> = servers
            .iter()
            .flat_map(|(_, t)| [(*t, &warm), (*t, &typename)])
            .collect();
        for (target, body) in &loads {
            load::closed_loop(target, body, o.clients, Duration::from_secs(o.warmup_secs)).await;
        }
        let slices = o.duration_secs.div_ceil(2).max(1);
        let slice = Duration::from_secs(o.duration_secs) / slices as u32;
        let mut rounds: Vec<Vec<load::Round>> = loads.iter().map(|_| Vec::new()).collect();
        let mut commands: Vec<Option<u64>> = vec![Some(0); loads.len()];
        let mut calls = 0;
        for _ in 0..slices {
            for (i, (target, body)) in loads.iter().enumerate() {
                self.sandbox.reset_calls();
                let before = redis.commands_processed();
                rounds[i].push(load::closed_loop(target, body, o.clients, slice).await);
                let after = redis.commands_processed();
                // Less the `INFO` read before the slice, which Redis counts once it ran.
                commands[i] = match (commands[i], before, after) {
                    (Some(sum), Some(b), Some(a)) => Some(sum + a.saturating_sub(b + 1)),
                    _ => None,
                };
                calls += self.sandbox.total_calls();
            }
        }
        let measured: Vec<Measured> = rounds.into_iter().map(load::bursts).collect();
        for m in &measured {
            if m.errors > 0 {
                return Err(format!(
                    "{} of {} throughput answers were errors",
                    m.errors, m.requests
                ));
            }
        }
        if calls > 0 {
            return Err(format!(
                "the warm loads made {calls} Stripe calls; they must make none"
            ));
        }
        let mut measured = measured.into_iter();
        let loads = servers
            .iter()
            .enumerate()
            .map(|(i, (server, _))| Loads {
                server,
                seed: measured.next().expect("a seed load per server"),
                typename: measured.next().expect("a `{ __typename }` load per server"),
                redis_commands_seed: commands[2 * i],
                redis_commands_typename: commands[2 * i + 1],
            })
            .collect();
        for server in [&mut a_server, &mut b_server, &mut c_server] {
            server.check_alive()?;
        }
        Ok((levels, Some(l2_shared_hits), loads))
    }
}

/// How many of `ids`' aliases the answer does not hold as their customer, and the first
/// error message with its code.
fn wrong_aliases(body: &[u8], ids: &[String]) -> (usize, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (
            ids.len(),
            Some(format!("not JSON: {}", String::from_utf8_lossy(body))),
        );
    };
    let wrong = ids
        .iter()
        .enumerate()
        .filter(|(i, id)| value["data"][format!("f{i}")]["id"].as_str() != Some(id))
        .count();
    let first = value["errors"].get(0).map(|e| {
        format!(
            "{} ({})",
            e["message"].as_str().unwrap_or("?"),
            e["extensions"]["code"].as_str().unwrap_or("no code")
        )
    });
    (wrong, first)
}

/// The value of one series on the server behind `target` (its `/metrics`, with the bearer
/// token), 0 when absent.
pub(crate) async fn metric(target: &Target, series: &str) -> f64 {
    let url = target.url.replace("/graphql", "/metrics");
    let Ok(response) = target
        .http
        .get(url)
        .header(target.auth.0, &target.auth.1)
        .send()
        .await
    else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs the section.
pub async fn run(options: &Options, logs: &Path, token: &str) -> Result<ReplicasRun, String> {
    let started = Instant::now();
    let redis = if options.no_redis {
        Err("`--no-redis` was given".to_owned())
    } else {
        redis::version()
    };
    if let Err(why) = &redis {
        eprintln!("[replicas] NOTE: the Redis scenarios are skipped: {why}");
    }
    let limits = options.replica_limits;
    let join: Vec<String> = (0..options.join_size).map(procs::bench_customer).collect();
    let mut next = options.join_size;
    let mut take = |n: usize| {
        let ids: Vec<String> = (next..next + n).map(procs::bench_customer).collect();
        next += n;
        ids
    };
    let level_ids = take(options.l2_samples.max(1));
    let cold_b = take(options.seed_cold.max(1));
    let cold_c = take(options.seed_cold.max(1));
    eprintln!("[replicas] building the sandbox store ({next} subscribed customers)");
    let sandbox = procs::start_sandbox_accepting(
        procs::bench_store(unix_now(), next, 0),
        limits.key(),
        50_000,
    );
    sandbox.set_latency(options.latency());
    let section = Section {
        options,
        sandbox,
        limits,
        logs,
        token,
    };
    let mut rows = Vec::new();
    for &n in &options.replicas {
        for with_redis in [false, true] {
            if with_redis && redis.is_err() {
                continue;
            }
            rows.push(section.row(n.max(1), with_redis, &join).await?);
        }
    }
    let (levels, l2_shared_hits, loads) = if redis.is_ok() {
        section.levels(&level_ids, &cold_b, &cold_c).await?
    } else {
        (Vec::new(), None, Vec::new())
    };
    Ok(ReplicasRun {
        limits,
        redis,
        rows,
        levels,
        l2_shared_hits,
        loads,
        elapsed: started.elapsed(),
    })
}

fn errors(phase: &Phase) -> String {
    if phase.answers_with_errors == 0 {
        return "0".into();
    }
    let mut text = format!(
        "⚠ {} of the answers, {} aliases",
        phase.answers_with_errors, phase.aliases_errored
    );
    if let Some(first) = &phase.first_error {
        text.push_str(&format!(" (first: {first})"));
    }
    text
}

fn calls(phase: &Phase, customers: usize) -> String {
    let mut text = phase.calls.to_string();
    if customers > 0 && phase.calls > 0 {
        text.push_str(&format!(
            " ({:.2} per customer)",
            phase.calls as f64 / customers as f64
        ));
    }
    text
}

fn refused(phase: &Phase) -> String {
    if phase.calls == 0 {
        return "0".into();
    }
    format!(
        "{} ({:.1} %)",
        phase.refused,
        100.0 * phase.refused as f64 / phase.calls as f64
    )
}

/// The section's Markdown.
pub fn report(options: &Options, run: &ReplicasRun) -> String {
    let d = crate::duration;
    let mut out = String::new();
    let redis_line = match &run.redis {
        Ok(version) => format!("with Redis: `REDIS_URL` to one fresh `redis-server` per row ({version}, on 127.0.0.1, `--save \"\" --appendonly no`), `REDIS_EXPECTED_REPLICAS` = the row's replica count"),
        Err(why) => format!("**the Redis rows were skipped**: {why}"),
    };
    out.push_str(&format!(
        "\n### Several replicas: Stripe calls and wall time, without and with Redis\n\n\
         - sandbox: a second one, in this process, with {} ms added to every call and {}; it accepts a {} key (`{}…`)\n\
         - each replica: a stripe-graphql process at its defaults for that key (`STRIPE_RATE_LIMIT_PER_SECOND` {}, `STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND` 25, `STRIPE_MAX_CONCURRENCY` 8, `STRIPE_DEADLINE_SECONDS` 15), `RUST_LOG={}`, `CACHE_TTL_SECONDS=3600`; fresh processes for every row\n\
         - {redis_line}\n\
         - the workload: every replica receives, at the same moment, the same Hasura join of the same {} customers (`f0`…`f{}`, the seed selection), cold; then the same again, warm. Stripe calls are the sandbox's count (429s included) until calls stop; wall time runs until the last replica answered\n\
         - the section took {:.0} s\n\n",
        options.latency_ms,
        run.limits.describe(),
        if run.limits == StripeLimits::Test { "test" } else { "live" },
        &run.limits.key()[..8],
        if run.limits == StripeLimits::Test { 25 } else { 100 },
        options.server_log,
        options.join_size,
        options.join_size.saturating_sub(1),
        run.elapsed.as_secs_f64(),
    ));
    out.push_str("| replicas | Redis | Stripe calls, cold | of them 429 | customers called more than once | wall time, cold (first replica's answer) | errors, cold | Stripe calls, warm | wall time, warm | errors, warm |\n|---:|---|---|---|---:|---:|---|---:|---:|---|\n");
    for row in &run.rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
            row.replicas,
            if row.redis { "yes" } else { "no" },
            calls(&row.cold, options.join_size),
            refused(&row.cold),
            row.cold.repeated,
            d(row.cold.wall),
            d(row.cold.fastest),
            errors(&row.cold),
            calls(&row.warm, 0),
            d(row.warm.wall),
            errors(&row.warm),
        ));
    }
    if run.rows.iter().any(|r| r.redis) {
        out.push_str(&format!(
            "\nHow the replicas' cold misses were answered in the rows with Redis (each replica's `stripe_graphql_cache_events_total`, summed over the replicas; {} misses per replica):\n\n\
             | replicas | took the lease and asked Stripe (`shared_miss`) | waited for another replica's fill (`shared_coalesced`) | then read it from Redis (`shared_hit`) | waited, then asked Stripe itself (`shared_coalesced` − `shared_hit`) | first call for a customer already called |\n|---:|---:|---:|---:|---:|---:|\n",
            options.join_size
        ));
        for row in run.rows.iter().filter(|r| r.redis) {
            let [miss, coalesced, hit] = row.shared;
            out.push_str(&format!(
                "| {} | {miss:.0} | {coalesced:.0} | {hit:.0} | {:.0} | {} |\n",
                row.replicas,
                (coalesced - hit).max(0.0),
                row.cold
                    .first_repeat
                    .map_or("none".into(), |t| format!("{} after the sends", d(t))),
            ));
        }
    }
    if run.levels.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "\n### Cache levels: an L2 hit (Redis) beside an L1 hit (memory) and a miss\n\n\
         Replicas A and B share one fresh Redis (`REDIS_EXPECTED_REPLICAS=2`); server C has no Redis; all three with the raised limits (`STRIPE_MAX_CONCURRENCY={}`, `STRIPE_RATE_LIMIT_PER_SECOND={}` and the same per endpoint), the sandbox's limiter off, {} ms of latency. A and C first fetch the customers (joins of {}, unmeasured). Each row: single seed queries (`f0: customer(id: …) {{ … }}`), one after the other; p50/p99 over its requests.\n\n\
         | lookup | requests | Stripe calls | p50 | p99 | mean |\n|---|---:|---:|---:|---:|---:|\n",
        options.max_concurrency,
        options.rate_limit,
        options.latency_ms,
        options.join_size,
    ));
    for level in &run.levels {
        let m = &level.measured;
        let mean = m.latencies.iter().sum::<Duration>() / m.latencies.len().max(1) as u32;
        out.push_str(&format!(
            "| {} | {} | {}{} | {} | {} | {} |\n",
            level.label,
            m.requests,
            m.stripe_calls,
            if m.errors > 0 {
                format!(" ⚠ {} errors", m.errors)
            } else {
                String::new()
            },
            d(m.percentile(50.0)),
            d(m.percentile(99.0)),
            d(mean),
        ));
    }
    if let Some(hits) = run.l2_shared_hits {
        out.push_str(&format!(
            "\nReplica B's `stripe_graphql_cache_events_total{{event=\"shared_hit\"}}` grew by {hits:.0} during the L2-hit row.\n"
        ));
    }
    out.push_str(&format!(
        "\n### L1 hits with and without Redis\n\n\
         {} clients sending the warm seed query (one customer in the server's memory) back to back, and {} sending `{{ __typename }}`, on each of the three servers above, the six loads alternating in slices of at most 2 s, {} s each after {} s of unmeasured warm-up each (the other servers idle meanwhile). Redis commands: the growth of Redis's `total_commands_processed` over each slice, less the benchmark's own `INFO` reads, summed over the slices.\n\n\
         | server | warm seed query req/s (p50, p99) | `{{ __typename }}` req/s (p50, p99) | ratio | Redis commands during its seed slices | during its `{{ __typename }}` slices |\n|---|---:|---:|---:|---:|---:|\n",
        options.clients, options.clients, options.duration_secs, options.warmup_secs
    ));
    for loads in &run.loads {
        let count = |c: Option<u64>| c.map_or("?".into(), |c| c.to_string());
        out.push_str(&format!(
            "| {} | {} ({}, {}) | {} ({}, {}) | **{:.2}** | {} | {} |\n",
            loads.server,
            crate::rate(loads.seed.per_second()),
            d(loads.seed.percentile(50.0)),
            d(loads.seed.percentile(99.0)),
            crate::rate(loads.typename.per_second()),
            d(loads.typename.percentile(50.0)),
            d(loads.typename.percentile(99.0)),
            loads.ratio(),
            count(loads.redis_commands_seed),
            count(loads.redis_commands_typename),
        ));
    }
    if let Some((without, with)) = run.loads.split_last() {
        out.push('\n');
        for with in with {
            out.push_str(&format!(
                "- {}: ratio ÷ the ratio without Redis **{:.2}**; warm seed req/s ÷ without Redis {:.2}\n",
                with.server,
                with.ratio() / without.ratio().max(1e-9),
                with.seed.per_second() / without.seed.per_second().max(1e-9),
            ));
        }
    }
    out
}
