//! The benchmark program: `cargo bench --bench scenarios -- [options]` (see
//! docs/benchmarks.md for what it measures, how, and the published results).
//!
//! It hosts the sandbox (the embedded fake Stripe) in this process with 40 ms of latency on
//! every Stripe call, starts the release-built `stripe-graphql` binary as a child process
//! pointed at it, and measures, per scenario, the Stripe calls the sandbox received, the wall
//! time, p50/p99 latency and requests per second:
//!
//! | scenario | what is sent |
//! |---|---|
//! | `seed` | the seed query's Stripe part for one customer, as Hasura sends it: cold (distinct customers, one after the other) and warm (one cached customer, again and again) |
//! | `join` | Hasura's join document with 200 aliased `customer(id:)` fields: cold (200 uncached customers) and warm (the same 200 again) |
//! | `herd` | 100 identical seed queries for one uncached customer, sent at once |
//! | `throughput` | 32 clients sending the warm seed query back to back, then `{ __typename }`, on the same server in the same run |
//! | `memory` | resident memory (VmRSS) after caching 100 000 customers |
//! | `replicas` | on a second sandbox applying Stripe's live limiters: 1, 2 and 4 servers, without and with one shared Redis, each sent the same cold join of 200 at once, then warm; an L2-hit (Redis) latency beside L1 hits and misses; warm L1-hit throughput ÷ `{ __typename }` with and without `REDIS_URL` |
//! | `mirror` | on a sandbox applying Stripe's live limiters: a server with `STRIPE_MIRROR=on` backfilling 10 000 and 100 000 customers (spawn to `/readyz` 200, Stripe calls, 429s), a cold join of 200 mirrored customers beside the same without the mirror, resident memory per mirrored customer, webhook-to-visible latency; a paper projection for 1 000 000 |
//!
//! Then the same scenarios run against npm `@nhost/stripe-graphql-js`, installed into
//! `target/bench-peer/` with `npm ci` from `benches/peer/` and started by
//! `benches/peer/launch.js` against the same sandbox, on the largest query both servers
//! answer. `--no-peer` skips it (no Node needed). The `replicas` section starts
//! `redis-server` (`$REDIS_SERVER` or on `PATH`); without it, or with `--no-redis`, its Redis
//! rows are skipped with a note. The result is printed as Markdown on stdout,
//! progress on stderr.
//!
//! Nothing here is a test: numbers depend on the machine, and performance claims come from
//! this program, never from timed assertions in the test suite.

mod load;
mod mirror;
mod procs;
mod redis;
mod replicas;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use futures::StreamExt;
use load::{Dialect, Measured, Target};
use serde_json::Value;
use stripe_sandbox::{demo, unix_now, Sandbox};

/// Runs the stripe-graphql benchmark scenarios against the sandbox, and the same against
/// @nhost/stripe-graphql-js; prints Markdown tables.
#[derive(Debug, Parser)]
#[command(name = "scenarios", bin_name = "cargo bench --bench scenarios --")]
struct Options {
    /// Do not install or run the peer (@nhost/stripe-graphql-js); no Node needed.
    #[arg(long)]
    no_peer: bool,
    /// Run only these scenarios (comma-separated). Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Latency the sandbox adds to every Stripe call, in milliseconds.
    #[arg(long, default_value_t = 40)]
    latency_ms: u64,
    /// Cold seed queries (each for a customer not seen before), sent one after the other.
    #[arg(long, default_value_t = 20)]
    seed_cold: usize,
    /// Warm seed queries (one cached customer), sent one after the other.
    #[arg(long, default_value_t = 100)]
    seed_warm: usize,
    /// Customers per Hasura join.
    #[arg(long, default_value_t = 200)]
    join_size: usize,
    /// Cold joins (each of customers not seen before), one after the other.
    #[arg(long, default_value_t = 3)]
    join_cold_rounds: usize,
    /// Warm joins (the last cold join's customers again), one after the other.
    #[arg(long, default_value_t = 10)]
    join_warm_rounds: usize,
    /// Identical cold seed queries sent at once.
    #[arg(long, default_value_t = 100)]
    herd_size: usize,
    /// Herds, each for another uncached customer.
    #[arg(long, default_value_t = 5)]
    herd_rounds: usize,
    /// Concurrent clients for the throughput scenario.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds each throughput measurement lasts (after --warmup-secs not measured).
    #[arg(long, default_value_t = 8)]
    duration_secs: u64,
    /// Seconds of unmeasured load before each throughput measurement.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Customers cached before resident memory is read.
    #[arg(long, default_value_t = 100_000)]
    memory_customers: usize,
    /// STRIPE_MAX_CONCURRENCY of the server under test (raised for the benchmark; one join
    /// also runs on a server with the defaults).
    #[arg(long, default_value_t = 64)]
    max_concurrency: u32,
    /// STRIPE_RATE_LIMIT_PER_SECOND of the server under test (raised for the benchmark;
    /// servers without the setting ignore it).
    #[arg(long, default_value_t = 1000)]
    rate_limit: u32,
    /// RUST_LOG of the server under test.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Skip the Redis rows of the `replicas` section (they need `redis-server`, from
    /// `$REDIS_SERVER` or `PATH`; without it they are skipped with a note anyway).
    #[arg(long)]
    no_redis: bool,
    /// Replica counts of the `replicas` section (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    replicas: Vec<usize>,
    /// Stripe's limiters the `replicas` section's sandbox applies (and the key's mode).
    #[arg(long, value_enum, default_value_t = replicas::StripeLimits::Live)]
    replica_limits: replicas::StripeLimits,
    /// Sequential single queries per row of the `replicas` section's cache-levels table.
    #[arg(long, default_value_t = 300)]
    l2_samples: usize,
    /// Customers the `mirror` section's server backfills, one fresh server per size
    /// (comma-separated; each has two subscriptions of two items).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000])]
    mirror_sizes: Vec<usize>,
    /// Signed webhooks the `mirror` section delivers to each mirrored server, one after the
    /// other, each changing another customer.
    #[arg(long, default_value_t = 500)]
    mirror_webhooks: usize,
    /// Where the peer is installed (default: <target dir>/bench-peer).
    #[arg(long)]
    peer_dir: Option<std::path::PathBuf>,
    /// Passed by `cargo bench` to every bench target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Seed,
    Join,
    Herd,
    Throughput,
    Memory,
    Replicas,
    Mirror,
}

impl Options {
    fn runs(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }

    /// Whether any scenario of the single server (and the peer) runs.
    fn runs_single(&self) -> bool {
        [
            Scenario::Seed,
            Scenario::Join,
            Scenario::Herd,
            Scenario::Throughput,
            Scenario::Memory,
        ]
        .into_iter()
        .any(|s| self.runs(s))
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// Subscribed customers one suite uses up (each cold request needs a customer no server
    /// has seen, so every suite takes its own).
    fn customers_per_suite(&self) -> usize {
        self.seed_cold + 1 + self.join_cold_rounds.max(1) * self.join_size + self.herd_rounds + 1
    }
}

/// The seed query's Stripe part, exactly as Hasura sends it for one customer (the selection
/// of `tests/fixtures/seed-join-request.json`).
fn seed_selection() -> String {
    let request: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/seed-join-request.json"))
            .expect("the seed join fixture is JSON");
    let query = request["query"].as_str().expect("a query");
    query
        .strip_prefix("query { f0: customer(id: \"cus_REPLACE_ME\") ")
        .and_then(|q| q.strip_suffix(" }"))
        .expect("the seed join fixture's shape")
        .to_owned()
}

/// The largest part of the seed selection @nhost/stripe-graphql-js answers: the seed query
/// without `StripeSubscription.plan`, `currentPeriodStart`, `currentPeriodEnd` and
/// `StripePrice.recurring` (see [`PEER_CANNOT_SERVE`]).
const COMMON_SELECTION: &str = "{ id metadata subscriptions { data { id metadata status created cancelAt items { data { id metadata price { id nickname unitAmount } } } } } }";

/// The seed fields the peer cannot serve, and why (read in its dist/ code and confirmed by
/// the probe this program runs).
const PEER_CANNOT_SERVE: &[(&str, &str)] = &[
    (
        "`subscriptions.data.plan { id metadata nickname created }`",
        "no `plan` field on its `StripeSubscription` (only each item has one): the query fails validation",
    ),
    (
        "`items.data.price.recurring { aggregateUsage usageType }`",
        "no `recurring` field on its `StripePrice` (a to-do in its source): the query fails validation",
    ),
    (
        "`subscriptions.data.currentPeriodStart`, `currentPeriodEnd`",
        "in its schema as non-null `Int`s read from the subscription object, where Stripe stopped sending them in 2025-03-31.basil (they moved to the items); on the sandbox's current shapes the field errors and the whole answer becomes `data: null`. It pins `Stripe-Version: 2022-08-01`, so against a real account, which honours that version, it would still get them",
    ),
];

/// Hands out subscribed customers no server has been asked about yet.
struct Fresh {
    next: AtomicUsize,
    total: usize,
}

impl Fresh {
    fn take(&self, n: usize) -> Vec<String> {
        let start = self.next.fetch_add(n, Ordering::SeqCst);
        assert!(
            start + n <= self.total,
            "the benchmark store has {} subscribed customers; more were needed",
            self.total
        );
        (start..start + n).map(procs::bench_customer).collect()
    }
}

/// The rows a suite produces, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    SeedCold,
    SeedWarm,
    JoinCold,
    JoinWarm,
    JoinColdDefaults,
    Herd,
    ThroughputSeed,
    ThroughputTypename,
}

/// One row's measurement and how to read its Stripe calls.
struct Line {
    label: String,
    measured: Measured,
    /// Divide the calls by this many units, named so (`per query`, `per customer`, …).
    per: Option<(usize, &'static str)>,
}

type Results = BTreeMap<Row, Line>;

struct Bench<'a> {
    options: &'a Options,
    sandbox: &'a Sandbox,
    fresh: &'a Fresh,
}

impl Bench<'_> {
    /// Runs `work` with the sandbox's call count reset before and read after.
    async fn counted<F: std::future::Future<Output = Result<Measured, String>>>(
        &self,
        work: F,
    ) -> Result<Measured, String> {
        self.sandbox.reset_calls();
        let mut measured = work.await?;
        measured.stripe_calls = self.sandbox.total_calls();
        Ok(measured)
    }

    /// The seed, join, herd and throughput scenarios against `target` with `selection`; also
    /// the `Stripe-Version`s its first Stripe calls carried.
    async fn suite(
        &self,
        target: &Target,
        selection: &str,
    ) -> Result<(Results, Vec<String>), String> {
        let o = self.options;
        let d = target.dialect;
        let mut results = Results::new();
        let single = |id: &String| load::request_body(&d.join(std::slice::from_ref(id), selection));
        let join_check = |ids: Vec<Vec<String>>| {
            move |i: usize, a: &load::Answer| {
                load::check_join(d, &a.body, &ids[i]).map_err(|e| format!("{}: {e}", target.name))
            }
        };
        // One customer, fetched once untimed, for every warm scenario.
        let warm = self.fresh.take(1);
        let warm_body = single(&warm[0]);
        self.sandbox.reset_calls();
        let first = target.post(warm_body.clone()).await;
        load::check_join(d, &first.body, &warm).map_err(|e| format!("{}: {e}", target.name))?;
        let versions = stripe_versions(self.sandbox);

        if o.runs(Scenario::Seed) {
            progress(target, "seed query, cold");
            let ids = self.fresh.take(o.seed_cold);
            let bodies = ids.iter().map(single).collect();
            let lists = ids.iter().map(|id| vec![id.clone()]).collect();
            let m = self
                .counted(load::sequential(target, bodies, join_check(lists)))
                .await?;
            results.insert(
                Row::SeedCold,
                Line {
                    label: format!(
                        "seed query, cold: {} in sequence, each for a customer not seen before",
                        o.seed_cold
                    ),
                    measured: m,
                    per: Some((o.seed_cold, "per query")),
                },
            );
            progress(target, "seed query, warm");
            let bodies = vec![warm_body.clone(); o.seed_warm];
            let lists = vec![warm.clone(); o.seed_warm];
            let m = self
                .counted(load::sequential(target, bodies, join_check(lists)))
                .await?;
            results.insert(
                Row::SeedWarm,
                Line {
                    label: format!(
                        "seed query, warm: {} in sequence, one customer fetched before",
                        o.seed_warm
                    ),
                    measured: m,
                    per: Some((o.seed_warm, "per query")),
                },
            );
        }

        if o.runs(Scenario::Join) {
            progress(target, "Hasura join, cold");
            let rounds: Vec<Vec<String>> = (0..o.join_cold_rounds.max(1))
                .map(|_| self.fresh.take(o.join_size))
                .collect();
            let bodies = rounds
                .iter()
                .map(|ids| load::request_body(&d.join(ids, selection)))
                .collect();
            let m = self
                .counted(load::sequential(target, bodies, join_check(rounds.clone())))
                .await?;
            results.insert(
                Row::JoinCold,
                Line {
                    label: format!(
                        "Hasura join of {} customers, cold: {} in sequence, customers not seen before",
                        o.join_size, o.join_cold_rounds.max(1)
                    ),
                    measured: m,
                    per: Some((o.join_size * o.join_cold_rounds.max(1), "per customer")),
                },
            );
            progress(target, "Hasura join, warm");
            let last = rounds.last().cloned().unwrap_or_default();
            let body = load::request_body(&d.join(&last, selection));
            let m = self
                .counted(load::sequential(
                    target,
                    vec![body; o.join_warm_rounds],
                    join_check(vec![last; o.join_warm_rounds]),
                ))
                .await?;
            results.insert(
                Row::JoinWarm,
                Line {
                    label: format!(
                        "Hasura join of {} customers, warm: {} in sequence, the last cold join's customers",
                        o.join_size, o.join_warm_rounds
                    ),
                    measured: m,
                    per: Some((o.join_size * o.join_warm_rounds, "per customer")),
                },
            );
        }

        if o.runs(Scenario::Herd) {
            progress(target, "identical concurrent cold queries");
            target.open_connections(o.herd_size).await;
            let m = self
                .counted(async {
                    let mut rounds = Vec::new();
                    for _ in 0..o.herd_rounds {
                        let id = self.fresh.take(1);
                        let (wall, answers) =
                            load::burst(target, single(&id[0]), o.herd_size).await;
                        for a in &answers {
                            load::check_join(d, &a.body, &id)
                                .map_err(|e| format!("{}: {e}", target.name))?;
                        }
                        rounds.push((wall, answers));
                    }
                    Ok(load::bursts(rounds))
                })
                .await?;
            results.insert(
                Row::Herd,
                Line {
                    label: format!(
                        "{} identical cold seed queries at once: {} rounds, each for another customer",
                        o.herd_size, o.herd_rounds
                    ),
                    measured: m,
                    per: Some((o.herd_rounds, "per round")),
                },
            );
        }

        if o.runs(Scenario::Throughput) {
            // The two loads alternate in slices of at most 2 s, so a change in the machine's
            // background load during the run affects both alike.
            let slices = o.duration_secs.div_ceil(2).max(1);
            let slice = Duration::from_secs(o.duration_secs) / slices as u32;
            let loads = [
                (Row::ThroughputSeed, warm_body.clone(), "warm seed query"),
                (
                    Row::ThroughputTypename,
                    load::request_body("{ __typename }"),
                    "`{ __typename }`",
                ),
            ];
            progress(
                target,
                "throughput: warm seed query and `{ __typename }`, alternating",
            );
            for (_, body, _) in &loads {
                let warmup = Duration::from_secs(o.warmup_secs);
                load::closed_loop(target, body, o.clients, warmup).await;
            }
            let mut measured: Vec<(Vec<load::Round>, usize)> =
                loads.iter().map(|_| (Vec::new(), 0)).collect();
            for _ in 0..slices {
                for ((_, body, _), (rounds, calls)) in loads.iter().zip(measured.iter_mut()) {
                    self.sandbox.reset_calls();
                    rounds.push(load::closed_loop(target, body, o.clients, slice).await);
                    *calls += self.sandbox.total_calls();
                }
            }
            for ((row, _, what), (rounds, calls)) in loads.into_iter().zip(measured) {
                let mut m = load::bursts(rounds);
                m.stripe_calls = calls;
                results.insert(
                    row,
                    Line {
                        label: format!(
                            "{what}, {} clients for {} s ({slices} slices alternating with the other load)",
                            o.clients, o.duration_secs
                        ),
                        per: Some((m.requests, "per request")),
                        measured: m,
                    },
                );
            }
        }
        Ok((results, versions))
    }

    /// Fills our server's cache with `memory_customers` customers (Hasura joins of the seed
    /// selection, `join_size` customers per join, 4 joins at once, no sandbox latency) and
    /// reads its resident memory before and after.
    async fn memory(&self, target: &Target, server: &procs::Server) -> Result<Memory, String> {
        let n = self.options.memory_customers;
        let before = server.rss_kib();
        progress(
            target,
            &format!("memory: caching {n} customers (sandbox latency 0 during the fill)"),
        );
        self.sandbox.set_latency(Duration::ZERO);
        self.sandbox.reset_calls();
        let selection = seed_selection();
        let ids: Vec<String> = (0..n).map(procs::fill_customer).collect();
        let start = Instant::now();
        let mut joins =
            futures::stream::iter(ids.chunks(self.options.join_size.max(1)).map(|chunk| {
                let body = load::request_body(&target.dialect.join(chunk, &selection));
                async move { (chunk, target.post(body).await) }
            }))
            .buffer_unordered(4);
        while let Some((chunk, answer)) = joins.next().await {
            load::check_join(target.dialect, &answer.body, chunk)?;
        }
        let fill_time = start.elapsed();
        let fill_calls = self.sandbox.total_calls();
        let after = server.rss_kib();
        // Still cached? Re-read every 100th customer: a cached customer costs no call.
        self.sandbox.reset_calls();
        let sample: Vec<String> = ids.iter().step_by(100).cloned().collect();
        let answer = target
            .post(load::request_body(
                &target.dialect.join(&sample, &selection),
            ))
            .await;
        load::check_join(target.dialect, &answer.body, &sample)?;
        let sample_calls = self.sandbox.total_calls();
        self.sandbox.set_latency(self.options.latency());
        Ok(Memory {
            customers: n,
            batch: self.options.join_size.max(1),
            before,
            after,
            fill_time,
            fill_calls,
            sample: sample.len(),
            sample_calls,
        })
    }
}

struct Memory {
    customers: usize,
    batch: usize,
    before: Option<u64>,
    after: Option<u64>,
    fill_time: Duration,
    fill_calls: usize,
    sample: usize,
    sample_calls: usize,
}

fn progress(target: &Target, what: &str) {
    eprintln!("[{}] {what}", target.name);
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

fn ours_target(port: u16, token: &str, name: &'static str) -> Target {
    Target {
        name,
        url: format!("http://127.0.0.1:{port}/graphql"),
        auth: ("authorization", format!("Bearer {token}")),
        dialect: Dialect::Root,
        http: http_client(),
    }
}

/// What the peer answers where ours differs, found by asking both.
struct Probe {
    full_seed_errors: Vec<String>,
    same_answer: Result<(), String>,
    /// (what, stripe-graphql's answer, the peer's answer) for absent customers.
    absent: Vec<(String, String, String)>,
}

async fn probe(ours: &Target, peer: &Target, fresh: &Fresh) -> Probe {
    let id = fresh.take(1);
    let messages = |body: &[u8]| -> Vec<String> {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        value["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let path = e["path"]
                            .as_array()
                            .map(|p| {
                                p.iter()
                                    .map(|s| s.to_string().trim_matches('"').to_owned())
                                    .collect::<Vec<_>>()
                                    .join(".")
                            })
                            .map(|p| format!(" (at `{p}`)"))
                            .unwrap_or_default();
                        format!("{}{path}", e["message"].as_str().unwrap_or("?"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let full = peer
        .post(load::request_body(
            &peer.dialect.join(&id, &seed_selection()),
        ))
        .await;
    let mut full_seed_errors = messages(&full.body);
    // Without the fields that fail validation, execution reaches the period fields.
    let without_invalid = seed_selection()
        .replace(" plan { id metadata nickname created }", "")
        .replace(" recurring { aggregateUsage usageType }", "");
    let executed = peer
        .post(load::request_body(
            &peer.dialect.join(&id, &without_invalid),
        ))
        .await;
    full_seed_errors.extend(messages(&executed.body));

    let same_answer = async {
        let ours_answer = ours
            .post(load::request_body(
                &ours.dialect.join(&id, COMMON_SELECTION),
            ))
            .await;
        let peer_answer = peer
            .post(load::request_body(
                &peer.dialect.join(&id, COMMON_SELECTION),
            ))
            .await;
        let a: Value = serde_json::from_slice(&ours_answer.body).map_err(|e| e.to_string())?;
        let b: Value = serde_json::from_slice(&peer_answer.body).map_err(|e| e.to_string())?;
        let (a, b) = (
            ours.dialect.customer(&a["data"], 0),
            peer.dialect.customer(&b["data"], 0),
        );
        if a == b && !a.is_null() {
            Ok(())
        } else {
            Err(format!("stripe-graphql: {a}\npeer: {b}"))
        }
    }
    .await;

    let mut absent = Vec::new();
    for (what, missing) in [
        (
            format!("a deleted customer (`{}`)", demo::FAISAL),
            demo::FAISAL,
        ),
        ("an unknown customer".to_owned(), "cus_DoesNotExist"),
    ] {
        let ids = [id[0].clone(), missing.to_owned()];
        let answer = |target: &Target| {
            let body = load::request_body(&target.dialect.join(&ids, "{ id }"));
            let target = target.clone();
            async move { String::from_utf8_lossy(&target.post(body).await.body).into_owned() }
        };
        absent.push((what, answer(ours).await, answer(peer).await));
    }
    Probe {
        full_seed_errors,
        same_answer,
        absent,
    }
}

struct PeerRun {
    versions: Vec<(String, String)>,
    stripe_versions: Vec<String>,
    results: Results,
    rss_start: Option<u64>,
    rss_end: Option<u64>,
    probe: Probe,
}

struct Run {
    full: Results,
    common: Option<Results>,
    memory: Option<Memory>,
    rss_start: Option<u64>,
    ours_stripe_versions: Vec<String>,
    peer: Option<PeerRun>,
}

fn stripe_versions(sandbox: &Sandbox) -> Vec<String> {
    let mut versions: Vec<String> = sandbox
        .calls()
        .into_iter()
        .map(|c| c.stripe_version.unwrap_or_else(|| "(none)".into()))
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// What a whole run measured: the single server's scenarios (and the peer's) and the
/// replicas section, each when selected.
struct Outcome {
    single: Option<Run>,
    replicas: Option<replicas::ReplicasRun>,
    mirror: Option<mirror::MirrorRun>,
}

async fn run(options: &Options) -> Result<Outcome, String> {
    let logs = procs::target_dir().join("bench-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("create {}: {e}", logs.display()))?;
    let token = format!("bench-token-{}", uuid::Uuid::new_v4().simple());
    let single = if options.runs_single() {
        Some(run_single(options, &logs, &token).await?)
    } else {
        None
    };
    let replicas = if options.runs(Scenario::Replicas) {
        Some(replicas::run(options, &logs, &token).await?)
    } else {
        None
    };
    let mirror = if options.runs(Scenario::Mirror) {
        Some(mirror::run(options, &logs, &token).await?)
    } else {
        None
    };
    Ok(Outcome {
        single,
        replicas,
        mirror,
    })
}

async fn run_single(options: &Options, logs: &std::path::Path, token: &str) -> Result<Run, String> {
    let per_suite = options.customers_per_suite();
    // Suites: ours on the full seed query, ours and the peer on the common query, the probe,
    // and the join on a server with default limits.
    let subscribed = per_suite * 3 + options.join_size + 1;
    let bare = if options.runs(Scenario::Memory) {
        options.memory_customers
    } else {
        0
    };
    eprintln!("building the sandbox store ({subscribed} subscribed customers, {bare} without subscriptions)");
    let sandbox = procs::start_sandbox(procs::bench_store(unix_now(), subscribed, bare));
    sandbox.set_latency(options.latency());
    let fresh = Fresh {
        next: AtomicUsize::new(0),
        total: subscribed,
    };
    let bench = Bench {
        options,
        sandbox: &sandbox,
        fresh: &fresh,
    };
    // Our server, with the benchmark's raised limits.
    let port = procs::free_port();
    let cache_max_entries = (2 * options.memory_customers as u64 + 100_000).max(10_000);
    let mut server = procs::Server::spawn(
        "stripe-graphql",
        procs::ours_command(
            &sandbox,
            port,
            token,
            &procs::OursSettings {
                key: procs::KEY,
                max_concurrency: Some(options.max_concurrency),
                rate_limit: Some(options.rate_limit),
                log_level: &options.server_log,
                cache_max_entries,
                env: Vec::new(),
            },
        ),
        logs.join("stripe-graphql.log"),
    );
    let ours = ours_target(port, token, "stripe-graphql");
    procs::wait_ready(&mut server, &ours, Duration::from_secs(30)).await?;
    let rss_start = server.rss_kib();
    let (full, ours_stripe_versions) = bench.suite(&ours, &seed_selection()).await?;
    let common = if options.no_peer {
        None
    } else {
        Some(bench.suite(&ours, COMMON_SELECTION).await?.0)
    };
    let memory = if options.runs(Scenario::Memory) {
        Some(bench.memory(&ours, &server).await?)
    } else {
        None
    };
    server.check_alive()?;

    // The same join on a server with the default limits.
    let mut full = full;
    if options.runs(Scenario::Join) {
        let port = procs::free_port();
        let mut defaults = procs::Server::spawn(
            "stripe-graphql (default limits)",
            procs::ours_command(
                &sandbox,
                port,
                token,
                &procs::OursSettings {
                    key: procs::KEY,
                    max_concurrency: None,
                    rate_limit: None,
                    log_level: &options.server_log,
                    cache_max_entries,
                    env: Vec::new(),
                },
            ),
            logs.join("stripe-graphql-defaults.log"),
        );
        let target = ours_target(port, token, "stripe-graphql, default limits");
        procs::wait_ready(&mut defaults, &target, Duration::from_secs(30)).await?;
        progress(&target, "Hasura join, cold");
        let ids = fresh.take(options.join_size);
        let body = load::request_body(&target.dialect.join(&ids, &seed_selection()));
        let m = bench
            .counted(load::sequential(&target, vec![body], |_, a| {
                load::check_join(target.dialect, &a.body, &ids)
            }))
            .await?;
        full.insert(
            Row::JoinColdDefaults,
            Line {
                label: format!(
                    "Hasura join of {} customers, cold, server with default limits: 1 join",
                    options.join_size
                ),
                measured: m,
                per: Some((options.join_size, "per customer")),
            },
        );
    }

    let peer = if options.no_peer {
        None
    } else {
        let dir = options
            .peer_dir
            .clone()
            .unwrap_or_else(procs::default_peer_dir);
        let versions = procs::install_peer(&dir)?;
        let port = procs::free_port();
        let secret = format!("bench-admin-{}", uuid::Uuid::new_v4().simple());
        let mut node = procs::Server::spawn(
            "@nhost/stripe-graphql-js",
            procs::peer_command(&sandbox, &dir, port, &secret),
            logs.join("peer.log"),
        );
        let peer = Target {
            name: "@nhost/stripe-graphql-js",
            url: format!("http://127.0.0.1:{port}/graphql"),
            auth: ("x-hasura-admin-secret", secret.clone()),
            dialect: Dialect::StripeNamespace,
            http: http_client(),
        };
        procs::wait_ready(&mut node, &peer, Duration::from_secs(30)).await?;
        let rss_start = node.rss_kib();
        progress(&peer, "probing what it answers");
        let probe = probe(&ours, &peer, &fresh).await;
        let (results, stripe_versions) = bench.suite(&peer, COMMON_SELECTION).await?;
        node.check_alive()?;
        Some(PeerRun {
            versions,
            stripe_versions,
            results,
            rss_start,
            rss_end: node.rss_kib(),
            probe,
        })
    };
    drop(server);
    Ok(Run {
        full,
        common,
        memory,
        rss_start,
        ours_stripe_versions,
        peer,
    })
}

fn main() {
    let options = Options::parse();
    let started = Instant::now();
    let load_start = procs::load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let result = runtime.block_on(run(&options));
    match result {
        Ok(run) => print!("{}", report(&options, &run, &load_start, started.elapsed())),
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The report.

fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        format!("{per_second:.0}")
    } else {
        format!("{per_second:.1}")
    }
}

/// `100000` as `100 000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn calls(line: &Line) -> String {
    let m = &line.measured;
    let mut text = m.stripe_calls.to_string();
    if let Some((units, name)) = line.per {
        if units > 1 && m.stripe_calls > 0 {
            let each = m.stripe_calls as f64 / units as f64;
            if each.fract() == 0.0 {
                let _ = write!(text, " ({each:.0} {name})");
            } else {
                let _ = write!(text, " ({each:.2} {name})");
            }
        }
    }
    if m.errors > 0 {
        let _ = write!(
            text,
            " ⚠ {} of {} answers were errors",
            m.errors, m.requests
        );
    }
    text
}

fn ratio(results: &Results) -> Option<f64> {
    let seed = results.get(&Row::ThroughputSeed)?.measured.per_second();
    let typename = results.get(&Row::ThroughputTypename)?.measured.per_second();
    Some(seed / typename)
}

fn table(results: &Results) -> String {
    let mut out = String::from(
        "| scenario | requests | Stripe calls | wall time | p50 | p99 | req/s |\n|---|---:|---|---:|---:|---:|---:|\n",
    );
    for line in results.values() {
        let m = &line.measured;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            line.label,
            m.requests,
            calls(line),
            duration(m.wall),
            duration(m.percentile(50.0)),
            duration(m.percentile(99.0)),
            rate(m.per_second())
        );
    }
    if let Some(r) = ratio(results) {
        let _ = writeln!(
            out,
            "\nWarm seed-query throughput ÷ `{{ __typename }}` throughput (same server, same run): **{r:.2}**"
        );
    }
    out
}

fn side_by_side(ours: &Results, peer: &Results) -> String {
    let mut out = String::from(
        "Each cell: **stripe-graphql** / @nhost/stripe-graphql-js.\n\n| scenario | Stripe calls | wall time | p50 | p99 | req/s |\n|---|---|---|---|---|---|\n",
    );
    for (row, a) in ours {
        let Some(b) = peer.get(row) else { continue };
        let (ma, mb) = (&a.measured, &b.measured);
        let _ = writeln!(
            out,
            "| {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} |",
            a.label,
            calls(a),
            calls(b),
            duration(ma.wall),
            duration(mb.wall),
            duration(ma.percentile(50.0)),
            duration(mb.percentile(50.0)),
            duration(ma.percentile(99.0)),
            duration(mb.percentile(99.0)),
            rate(ma.per_second()),
            rate(mb.per_second())
        );
    }
    if let (Some(a), Some(b)) = (ratio(ours), ratio(peer)) {
        let _ = writeln!(
            out,
            "\nWarm seed-query throughput ÷ `{{ __typename }}` throughput: **{a:.2}** / {b:.2}"
        );
    }
    out
}

fn report(options: &Options, outcome: &Outcome, load_start: &str, elapsed: Duration) -> String {
    let mut out = String::new();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let command = if args.is_empty() {
        "cargo bench --bench scenarios".to_owned()
    } else {
        format!("cargo bench --bench scenarios -- {}", args.join(" "))
    };
    let version = |program: &str| procs::command_line(program, &["--version"]);
    let _ = writeln!(out, "### Conditions\n");
    let _ = writeln!(out, "- command: `{command}`");
    if let Some(date) = procs::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]) {
        let _ = writeln!(out, "- date: {date}");
    }
    let _ = writeln!(
        out,
        "- stripe-graphql {} at commit {}, built with cargo's `bench` profile (the `release` settings: opt-level 3, codegen-units 4); {}",
        env!("CARGO_PKG_VERSION"),
        procs::commit(),
        version("rustc").unwrap_or_else(|| "rustc ?".into())
    );
    let _ = writeln!(out, "- machine: {}", procs::machine());
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min) at the start: {load_start}; at the end: {} (anything else running shows here)",
        procs::load_average()
    );
    if let Some(run) = &outcome.single {
        single_conditions(options, run, &mut out);
    }
    let _ = writeln!(
        out,
        "- the load generator (reqwest on Tokio, keep-alive connections), the sandbox and the servers share the machine's CPUs; the whole run took {:.0} s",
        elapsed.as_secs_f64()
    );
    if let Some(run) = &outcome.single {
        single_sections(run, &mut out);
    }
    if let Some(run) = &outcome.replicas {
        out.push_str(&replicas::report(options, run));
    }
    if let Some(run) = &outcome.mirror {
        out.push_str(&mirror::report(options, run));
    }
    out
}

/// The conditions of the single server's scenarios and the peer's.
fn single_conditions(options: &Options, run: &Run, out: &mut String) {
    let version = |program: &str| procs::command_line(program, &["--version"]);
    let _ = writeln!(
        out,
        "- sandbox (the embedded fake Stripe, in the bench process on its own thread): {} ms added to every call; Stripe-Version received from stripe-graphql: {}",
        options.latency_ms,
        run.ours_stripe_versions.join(", ")
    );
    let _ = writeln!(
        out,
        "- stripe-graphql: a child process, `RUST_LOG={}`, text logs to target/bench-logs/, bearer token on, `STRIPE_MAX_CONCURRENCY={}`, `STRIPE_RATE_LIMIT_PER_SECOND={}` (raised for the benchmark), `CACHE_TTL_SECONDS=3600`, `CACHE_MAX_ENTRIES` raised to hold the memory fill",
        options.server_log, options.max_concurrency, options.rate_limit
    );
    if let Some(peer) = &run.peer {
        let versions: Vec<String> = peer
            .versions
            .iter()
            .map(|(p, v)| format!("{p} {v}"))
            .collect();
        let _ = writeln!(
            out,
            "- peer: {}; {}, npm {}; `NODE_ENV=production`; admitted by `x-hasura-admin-secret`; Stripe-Version it sent: {}",
            versions.join(", "),
            version("node").map_or("node ?".into(), |v| format!("node {v}")),
            version("npm").unwrap_or_else(|| "?".into()),
            peer.stripe_versions.join(", ")
        );
    }
}

/// The tables of the single server's scenarios and the peer's.
fn single_sections(run: &Run, out: &mut String) {
    if !run.full.is_empty() {
        let _ = writeln!(
            out,
            "\n### stripe-graphql, the seed query\n\nThe seed query's Stripe part as Hasura sends it (`f0: customer(id: …) {{ … }}`, selection from tests/fixtures/seed-join-request.json). p50/p99 are over each scenario's requests (a join is one request).\n"
        );
        out.push_str(&table(&run.full));
    }
    if let Some(memory) = &run.memory {
        let _ = writeln!(
            out,
            "\n### stripe-graphql, memory\n\n| | resident memory (VmRSS) |\n|---|---:|\n| after start-up | {} |\n| after the scenarios above | {} |\n| after caching {} more customers | {} |\n",
            mib(run.rss_start),
            mib(memory.before),
            thousands(memory.customers),
            mib(memory.after)
        );
        let per_customer = match (memory.before, memory.after) {
            (Some(b), Some(a)) if a > b && memory.customers > 0 => format!(
                "{:.1} KiB per customer",
                (a - b) as f64 / memory.customers as f64
            ),
            _ => "?".into(),
        };
        let _ = writeln!(
            out,
            "The fill: Hasura joins of the seed selection, {} customers each, 4 at once, sandbox latency 0 during the fill; the fill customers have no subscriptions, so each is cached as the customer object plus its (empty) subscription list. {} Stripe calls in {}; {per_customer} (the growth of resident memory, including what the allocator keeps from serving the fill). Still cached afterwards: a join of every 100th ({} customers) cost {} Stripe calls.",
            memory.batch,
            thousands(memory.fill_calls),
            duration(memory.fill_time),
            thousands(memory.sample),
            memory.sample_calls
        );
    }
    if let (Some(common), Some(peer)) = (&run.common, &run.peer) {
        if !common.is_empty() {
            let _ = writeln!(
                out,
                "\n### Side by side: stripe-graphql and @nhost/stripe-graphql-js\n\nThe largest query both answer (the seed selection without the fields listed below), against the same sandbox: for stripe-graphql `f0: customer(id: …) {COMMON_SELECTION}`, for the peer the same under its namespace, `f0: stripe {{ customer(id: …) {{ … }} }}`.\n"
            );
            out.push_str(&side_by_side(common, &peer.results));
        }
        let _ = writeln!(
            out,
            "\nResident memory of the peer: {} after start-up, {} at the end (it caches nothing).",
            mib(peer.rss_start),
            mib(peer.rss_end)
        );
        let probe = &peer.probe;
        let _ = writeln!(
            out,
            "\n### What the peer cannot serve\n\n| seed field | why |\n|---|---|"
        );
        for (field, why) in PEER_CANNOT_SERVE {
            let _ = writeln!(out, "| {field} | {why} |");
        }
        let _ = writeln!(
            out,
            "\nIts errors for the seed query, as this run saw them (first with every seed field, then without the two that fail validation):\n"
        );
        for message in &probe.full_seed_errors {
            let _ = writeln!(out, "- {message}");
        }
        for (what, a, b) in &probe.absent {
            let _ = writeln!(
                out,
                "\nA join (`{{ id }}`) of an existing customer and {what}:\n\n- stripe-graphql: `{}`\n- peer: `{}`",
                a.trim(),
                b.trim()
            );
        }
        let _ = writeln!(
            out,
            "\nOn the common query both answer the same data: {}",
            match &probe.same_answer {
                Ok(()) => "yes (compared field by field for one customer).".to_owned(),
                Err(diff) => format!("**no**:\n\n```\n{diff}\n```"),
            }
        );
    }
}
