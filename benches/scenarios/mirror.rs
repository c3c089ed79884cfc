//! The `mirror` section: the server with `STRIPE_MIRROR=on` over a sandbox applying Stripe's
//! live-mode limiters, with a live key, as docs/benchmarks.md describes.
//!
//! 1. **Baseline.** A sandbox holding only the demo data: a mirrored server's resident memory
//!    once its backfill of it is complete, and a server without the mirror's after start-up.
//! 2. **Per size** (`--mirror-sizes`, ascending; the sandbox's store is extended from one
//!    size to the next, untimed as backfill): a fresh mirrored server, timed from its spawn to
//!    its first `/readyz` 200, with the Stripe calls it made meanwhile by path, the 429s, and
//!    when each page of customers arrived; its resident memory then; a cold Hasura join of
//!    200 mirrored customers and the same join again (warm); `--mirror-webhooks` signed
//!    webhooks, each changing another customer, each timed to its 200 and followed by a query
//!    that must show the change; and the sandbox's own time for a page, asked directly.
//! 3. **Without the mirror.** On the largest store, a server without the mirror sent the
//!    same cold join (its Stripe calls, 429s, wall time, and whether it answers the same data).

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use stripe_sandbox::{demo, unix_now, RateLimits, Sandbox, Store};

use crate::{
    load::{self, Dialect, Target},
    procs, Options,
};

/// The webhook signing secret the mirrored servers are started with.
const SECRET: &str = "whsec_bench_mirror_section_secret_0001";

/// Customers per backfill page (`GET /v1/customers?limit=100&expand[]=data.subscriptions`).
const PAGE: usize = 100;

/// Stripe's live-mode limit per endpoint, which a backfill's customer pages are paced to.
const ENDPOINT_PER_SECOND: f64 = 25.0;

/// Pages fetched directly from the sandbox to time its own share of a page.
const SANDBOX_SAMPLES: usize = 20;

/// Stripe calls the sandbox received, by path (a readiness check, `GET /v1/customers?limit=1`,
/// named apart from the backfill's pages), with the 429s among them.
#[derive(Default)]
pub struct Calls {
    by_path: BTreeMap<String, usize>,
    total: usize,
    refused: usize,
}

impl Calls {
    /// The sandbox's calls since its log was reset; 429s since its limiters had refused
    /// `refused_before`.
    fn read(sandbox: &Sandbox, refused_before: usize) -> Calls {
        let mut by_path = BTreeMap::new();
        for call in sandbox.calls() {
            let name = if call.path == "/v1/customers" && call.query == "limit=1" {
                "/v1/customers?limit=1 (readiness check)".to_owned()
            } else if call.path == "/v1/customers" && call.query.contains("expand") {
                "/v1/customers?limit=100&expand[]=data.subscriptions".to_owned()
            } else {
                call.path.clone()
            };
            *by_path.entry(name).or_default() += 1;
        }
        Calls {
            by_path,
            total: sandbox.total_calls(),
            refused: sandbox.rate_limited().saturating_sub(refused_before),
        }
    }

    fn describe(&self) -> String {
        if self.total == 0 {
            return "0".into();
        }
        let paths: Vec<String> = self
            .by_path
            .iter()
            .map(|(path, n)| format!("{n} `{path}`"))
            .collect();
        format!("{}: {}", self.total, paths.join(", "))
    }
}

/// From a mirrored server's spawn to its first `/readyz` 200.
pub struct Backfill {
    wall: Duration,
    /// Whether `/readyz` answered 503 `MIRROR_WARMING` before.
    warming_seen: bool,
    /// From the spawn to the sandbox's first call.
    first_call: Option<Duration>,
    /// When each page of customers arrived at the sandbox, from the spawn.
    pages: Vec<Duration>,
    calls: Calls,
    /// The server's own `mirror backfill pass complete` line: `seconds=…`.
    logged_seconds: Option<String>,
}

impl Backfill {
    fn intervals(&self) -> Vec<Duration> {
        let mut gaps: Vec<Duration> = self.pages.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort();
        gaps
    }
}

/// One join, measured.
pub struct Join {
    latency: Duration,
    calls: Calls,
    /// `None` when every alias is its customer and there is no error.
    error: Option<String>,
    /// `stripe_graphql_mirror_answers_total` hit and fallback growth over it.
    answers: Option<(f64, f64)>,
    body: Vec<u8>,
}

/// The webhook phase.
pub struct Webhooks {
    sent: usize,
    /// Delivery (signed POST) to its answer, sorted.
    deliveries: Vec<Duration>,
    /// The query right after each answer, sorted.
    queries: Vec<Duration>,
    not_200: usize,
    /// Queries that did not show the change.
    stale: usize,
    first_stale: Option<String>,
    calls: Calls,
    /// `stripe_graphql_mirror_events_total{source="webhook"}` growth by outcome.
    outcomes: Vec<(&'static str, f64)>,
}

/// One size.
pub struct Size {
    customers: usize,
    /// Building (or extending) the sandbox's store to this size.
    store_build: Duration,
    backfill: Backfill,
    rss_ready: Option<u64>,
    rss_peak: Option<u64>,
    rss_end: Option<u64>,
    /// What the mirror held at ready, by type (its `mirror_objects` gauges).
    held: Vec<(&'static str, f64)>,
    cold: Join,
    warm: Join,
    webhooks: Webhooks,
    /// The sandbox's own time for a page of customers, asked directly, sorted.
    sandbox_page: Vec<Duration>,
    page_bytes: usize,
}

/// The server without the mirror, sent the same cold join on the largest store.
pub struct Unmirrored {
    customers: usize,
    rss_start: Option<u64>,
    join: Join,
    /// Whether its answer's `data` equals the mirrored server's cold answer's.
    same_data: Result<(), String>,
}

/// What the section measured.
pub struct MirrorRun {
    demo_customers: usize,
    baseline_mirrored: Option<u64>,
    baseline_mirrored_ready: Duration,
    baseline_plain: Option<u64>,
    sizes: Vec<Size>,
    unmirrored: Option<Unmirrored>,
    elapsed: Duration,
}

struct Section<'a> {
    options: &'a Options,
    logs: &'a Path,
    token: &'a str,
    http: reqwest::Client,
}

/// A server's base URL (`http://127.0.0.1:<port>`).
fn base(target: &Target) -> String {
    target.url.trim_end_matches("/graphql").to_owned()
}

impl Section<'_> {
    /// Spawns a server over `sandbox` at its defaults for the live key; with `mirror`,
    /// `STRIPE_MIRROR=on` and the webhook secret.
    fn spawn(
        &self,
        sandbox: &Sandbox,
        label: &'static str,
        log: &str,
        mirror: bool,
    ) -> (procs::Server, Target) {
        let port = procs::free_port();
        let env = if mirror {
            vec![
                ("STRIPE_MIRROR", "on".to_owned()),
                ("STRIPE_WEBHOOK_SECRET", SECRET.to_owned()),
            ]
        } else {
            Vec::new()
        };
        let command = procs::ours_command(
            sandbox,
            port,
            self.token,
            &procs::OursSettings {
                key: procs::LIVE_KEY,
                max_concurrency: None,
                rate_limit: None,
                log_level: &self.options.server_log,
                cache_max_entries: 100_000,
                env,
            },
        );
        let server = procs::Server::spawn(label, command, self.logs.join(log));
        (server, crate::ours_target(port, self.token, label))
    }

    /// Asks `/readyz` every 10 ms from `spawned` until it answers 200.
    async fn until_ready(
        &self,
        server: &mut procs::Server,
        target: &Target,
        spawned: Instant,
        deadline: Duration,
    ) -> Result<(Duration, bool), String> {
        let url = format!("{}/readyz", base(target));
        let mut warming = false;
        loop {
            if let Ok(response) = self.http.get(&url).send().await {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                if status == 200 {
                    return Ok((spawned.elapsed(), warming));
                }
                warming |= body.contains("MIRROR_WARMING");
            }
            server.check_alive()?;
            if spawned.elapsed() > deadline {
                return Err(format!(
                    "{} was not ready within {deadline:?}; see {}",
                    server.name,
                    server.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A mirrored server over `sandbox`, spawned with the limiters' buckets full and the
    /// call log empty, and its backfill until `/readyz` 200.
    async fn backfill(
        &self,
        sandbox: &Sandbox,
        label: &'static str,
        log: &str,
        customers: usize,
    ) -> Result<(procs::Server, Target, Backfill), String> {
        sandbox.set_rate_limits(Some(RateLimits::LIVE));
        sandbox.reset_calls();
        let spawned = Instant::now();
        let (mut server, target) = self.spawn(sandbox, label, log, true);
        // A generous deadline: 1.25 × the live limit's time, and 60 s more.
        let deadline = Duration::from_secs_f64(
            60.0 + 1.25 * (customers / PAGE + 1) as f64 / ENDPOINT_PER_SECOND,
        ) * 2;
        let (wall, warming_seen) = self
            .until_ready(&mut server, &target, spawned, deadline)
            .await?;
        let log_calls = sandbox.calls();
        let calls = Calls::read(sandbox, 0);
        let first_call = log_calls
            .first()
            .map(|c| c.at.saturating_duration_since(spawned));
        let pages = log_calls
            .iter()
            .filter(|c| c.path == "/v1/customers" && c.query.contains("expand"))
            .map(|c| c.at.saturating_duration_since(spawned))
            .collect();
        let logged_seconds = std::fs::read_to_string(&server.log).ok().and_then(|text| {
            text.lines()
                .find(|l| l.contains("mirror backfill pass complete"))
                .and_then(|l| l.split("seconds=").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .map(|s| s.trim_matches('"').to_owned())
        });
        Ok((
            server,
            target,
            Backfill {
                wall,
                warming_seen,
                first_call,
                pages,
                calls,
                logged_seconds,
            },
        ))
    }

    /// The seed query's join of `ids` on `target`, once, with the sandbox's calls counted
    /// until they stop (no call for 500 ms) and the mirror's answers counted.
    async fn join(&self, sandbox: &Sandbox, target: &Target, ids: &[String]) -> Join {
        let body = load::request_body(&Dialect::Root.join(ids, &crate::seed_selection()));
        let answers_before = mirror_answers(target).await;
        sandbox.reset_calls();
        let refused = sandbox.rate_limited();
        let answer = target.post(body).await;
        settle(sandbox).await;
        let calls = Calls::read(sandbox, refused);
        let answers_after = mirror_answers(target).await;
        let error = load::check_join(Dialect::Root, &answer.body, ids).err();
        Join {
            latency: answer.latency,
            calls,
            error,
            answers: answers_before
                .zip(answers_after)
                .map(|((h0, f0), (h1, f1))| (h1 - h0, f1 - f0)),
            body: answer.body,
        }
    }

    /// `n` signed webhooks, each changing another customer's metadata, each followed by a
    /// query of that customer.
    async fn webhooks(
        &self,
        sandbox: &Sandbox,
        target: &Target,
        ids: &[String],
    ) -> Result<Webhooks, String> {
        sandbox.send_webhooks_to(&format!("{}/webhooks/stripe", base(target)), SECRET);
        let outcomes = ["applied", "ignored", "refetched"];
        let mut before = Vec::new();
        for outcome in outcomes {
            before.push(webhook_outcome(target, outcome).await);
        }
        sandbox.reset_calls();
        let refused = sandbox.rate_limited();
        let mut phase = Webhooks {
            sent: ids.len(),
            deliveries: Vec::with_capacity(ids.len()),
            queries: Vec::with_capacity(ids.len()),
            not_200: 0,
            stale: 0,
            first_stale: None,
            calls: Calls::default(),
            outcomes: Vec::new(),
        };
        let run = unix_now();
        for (i, id) in ids.iter().enumerate() {
            let mark = format!("w{run}-{i}");
            let events = sandbox
                .update_quietly("customer", id, |c| {
                    c["metadata"]["mirror_bench"] = json!(&mark)
                })
                .map_err(|e| e.to_string())?;
            let sent = Instant::now();
            let delivery = sandbox
                .send_event(&events[0])
                .await
                .map_err(|e| e.to_string())?;
            phase.deliveries.push(sent.elapsed());
            if delivery.status != 200 {
                phase.not_200 += 1;
            }
            let query = load::request_body(&format!(
                "query {{ f0: customer(id: \"{id}\") {{ id metadata }} }}"
            ));
            let answer = target.post(query).await;
            phase.queries.push(answer.latency);
            let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            if value["data"]["f0"]["metadata"]["mirror_bench"].as_str() != Some(mark.as_str()) {
                phase.stale += 1;
                phase.first_stale.get_or_insert_with(|| {
                    format!("{id}: {}", String::from_utf8_lossy(&answer.body))
                });
            }
        }
        settle(sandbox).await;
        phase.calls = Calls::read(sandbox, refused);
        for (outcome, b) in outcomes.into_iter().zip(before) {
            phase
                .outcomes
                .push((outcome, webhook_outcome(target, outcome).await - b));
        }
        phase.deliveries.sort();
        phase.queries.sort();
        Ok(phase)
    }

    /// The sandbox's own time for [`SANDBOX_SAMPLES`] pages of customers with their
    /// subscriptions, asked directly (no latency, no limiter), spread over the list; and one
    /// page's size.
    async fn sandbox_pages(
        &self,
        sandbox: &Sandbox,
        customers: usize,
        samples: usize,
    ) -> (Vec<Duration>, usize) {
        sandbox.set_latency(Duration::ZERO);
        sandbox.set_rate_limits(None);
        let mut times = Vec::new();
        let mut bytes = 0;
        for k in 0..samples {
            let n = customers.saturating_sub(1 + k * customers / samples.max(1));
            let url = format!(
                "{}/v1/customers?limit=100&expand[]=data.subscriptions&starting_after={}",
                sandbox.base_url(),
                procs::mirror_customer(n)
            );
            let start = Instant::now();
            let Ok(response) = self
                .http
                .get(&url)
                .bearer_auth(procs::LIVE_KEY)
                .send()
                .await
            else {
                continue;
            };
            let Ok(body) = response.bytes().await else {
                continue;
            };
            times.push(start.elapsed());
            bytes = bytes.max(body.len());
        }
        sandbox.set_latency(self.options.latency());
        sandbox.set_rate_limits(Some(RateLimits::LIVE));
        times.sort();
        (times, bytes)
    }
}

/// Waits for the sandbox's call count to stop growing (no new call for 500 ms; at most 30 s).
async fn settle(sandbox: &Sandbox) {
    let mut last = sandbox.total_calls();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = sandbox.total_calls();
        if now == last {
            return;
        }
        last = now;
    }
}

async fn mirror_answers(target: &Target) -> Option<(f64, f64)> {
    let hit = crate::replicas::metric(
        target,
        "stripe_graphql_mirror_answers_total{outcome=\"hit\"}",
    )
    .await;
    let fallback = crate::replicas::metric(
        target,
        "stripe_graphql_mirror_answers_total{outcome=\"fallback\"}",
    )
    .await;
    Some((hit, fallback))
}

async fn webhook_outcome(target: &Target, outcome: &str) -> f64 {
    crate::replicas::metric(
        target,
        &format!("stripe_graphql_mirror_events_total{{source=\"webhook\",outcome=\"{outcome}\"}}"),
    )
    .await
}

/// Waits until the wall clock's second is past `second`: an event made then is in a later
/// second than every read of the backfill (an event inside a read's seconds is read again
/// rather than ordered, which would cost a call the phase does not measure).
async fn past_second(second: i64) {
    while unix_now() <= second {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `n` customers spread evenly over the first `customers`, starting at `offset`.
fn spread(customers: usize, n: usize, offset: usize) -> Vec<String> {
    let step = (customers / n.max(1)).max(1);
    (0..n.min(customers))
        .map(|i| procs::mirror_customer((i * step + offset) % customers))
        .collect()
}

fn start_sandbox(store: Store) -> Sandbox {
    procs::start_sandbox_accepting(store, procs::LIVE_KEY, 100_000)
}

/// Runs the section.
pub async fn run(options: &Options, logs: &Path, token: &str) -> Result<MirrorRun, String> {
    let started = Instant::now();
    let section = Section {
        options,
        logs,
        token,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?,
    };
    let mut sizes: Vec<usize> = options
        .mirror_sizes
        .iter()
        .copied()
        .filter(|&n| n > 0)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let now = unix_now();

    // The baseline: the demo data only.
    eprintln!("[mirror] baseline: servers over the demo data only");
    let small = start_sandbox(demo::store(now));
    small.set_latency(options.latency());
    small.set_rate_limits(Some(RateLimits::LIVE));
    let demo_customers = small.with_store(|s| {
        s.objects("customer")
            .filter(|c| c["deleted"] != json!(true))
            .count()
    });
    let (baseline_mirrored, baseline_mirrored_ready) = {
        let (server, _, backfill) = section
            .backfill(
                &small,
                "stripe-graphql, mirror, demo data",
                "mirror-baseline.log",
                demo_customers,
            )
            .await?;
        (server.rss_kib(), backfill.wall)
    };
    let baseline_plain = {
        let (mut server, target) = section.spawn(
            &small,
            "stripe-graphql, no mirror, demo data",
            "mirror-baseline-plain.log",
            false,
        );
        procs::wait_ready(&mut server, &target, Duration::from_secs(30)).await?;
        server.rss_kib()
    };
    drop(small);

    let mut store = demo::store(now);
    let mut held = 0;
    let mut sandbox: Option<Sandbox> = None;
    let mut runs = Vec::new();
    for &customers in &sizes {
        eprintln!(
            "[mirror] building the sandbox's store: {customers} customers, two subscriptions each"
        );
        let build = Instant::now();
        match &sandbox {
            None => {
                procs::add_mirror_customers(&mut store, held..customers, now);
            }
            Some(s) => s.with_store(|s| procs::add_mirror_customers(s, held..customers, now)),
        }
        held = customers;
        let sandbox = sandbox.get_or_insert_with(|| start_sandbox(std::mem::take(&mut store)));
        // The sandbox's indexes of the store (its customers' order, their subscriptions) are
        // built by the first list that needs them: asked here, before the clock starts.
        section.sandbox_pages(sandbox, customers, 1).await;
        let store_build = build.elapsed();
        sandbox.set_latency(options.latency());

        eprintln!("[mirror] {customers} customers: a mirrored server, spawn to /readyz 200");
        let label: &'static str =
            Box::leak(format!("stripe-graphql, mirror, {customers} customers").into_boxed_str());
        let (mut server, target, backfill) = section
            .backfill(
                sandbox,
                label,
                &format!("mirror-{customers}.log"),
                customers,
            )
            .await?;
        let ready_second = unix_now();
        let rss_ready = server.rss_kib();
        let rss_peak = server.peak_rss_kib();
        let mut held_objects = Vec::new();
        for kind in ["customer", "subscription", "price", "plan", "product"] {
            held_objects.push((
                kind,
                crate::replicas::metric(
                    &target,
                    &format!("stripe_graphql_mirror_objects{{type=\"{kind}\"}}"),
                )
                .await,
            ));
        }
        target.open_connections(1).await;
        eprintln!(
            "[mirror] {customers} customers: a cold join of 200 mirrored customers, then warm"
        );
        let ids = spread(customers, options.join_size, 0);
        let cold = section.join(sandbox, &target, &ids).await;
        let warm = section.join(sandbox, &target, &ids).await;
        eprintln!(
            "[mirror] {customers} customers: {} webhooks, each followed by a query",
            options.mirror_webhooks
        );
        past_second(ready_second).await;
        let webhook_ids = spread(customers, options.mirror_webhooks, 1);
        let webhooks = section.webhooks(sandbox, &target, &webhook_ids).await?;
        let rss_end = server.rss_kib();
        server.check_alive()?;
        drop(server);
        let (sandbox_page, page_bytes) = section
            .sandbox_pages(sandbox, customers, SANDBOX_SAMPLES)
            .await;
        runs.push(Size {
            customers,
            store_build,
            backfill,
            rss_ready,
            rss_peak,
            rss_end,
            held: held_objects,
            cold,
            warm,
            webhooks,
            sandbox_page,
            page_bytes,
        });
    }

    let unmirrored = match (&sandbox, runs.last()) {
        (Some(sandbox), Some(last)) => {
            eprintln!(
                "[mirror] {} customers: the same cold join on a server without the mirror",
                last.customers
            );
            let (mut server, target) = section.spawn(
                sandbox,
                "stripe-graphql, no mirror",
                "mirror-none.log",
                false,
            );
            procs::wait_ready(&mut server, &target, Duration::from_secs(30)).await?;
            target.open_connections(1).await;
            let rss_start = server.rss_kib();
            sandbox.set_rate_limits(Some(RateLimits::LIVE));
            let ids = spread(last.customers, options.join_size, 0);
            let join = section.join(sandbox, &target, &ids).await;
            server.check_alive()?;
            let same_data = same_data(&last.cold.body, &join.body);
            Some(Unmirrored {
                customers: last.customers,
                rss_start,
                join,
                same_data,
            })
        }
        _ => None,
    };
    Ok(MirrorRun {
        demo_customers,
        baseline_mirrored,
        baseline_mirrored_ready,
        baseline_plain,
        sizes: runs,
        unmirrored,
        elapsed: started.elapsed(),
    })
}

fn same_data(a: &[u8], b: &[u8]) -> Result<(), String> {
    let a: Value = serde_json::from_slice(a).map_err(|e| e.to_string())?;
    let b: Value = serde_json::from_slice(b).map_err(|e| e.to_string())?;
    if a["data"] == b["data"] && !a["data"].is_null() {
        return Ok(());
    }
    let data = |v: &Value| v["data"].as_object().cloned().unwrap_or_default();
    let (a, b) = (data(&a), data(&b));
    let first = a.iter().find(|(k, v)| b.get(*k) != Some(*v)).map(|(k, v)| {
        format!(
            "{k}: mirrored {v} / without {}",
            b.get(k).unwrap_or(&Value::Null)
        )
    });
    Err(first.unwrap_or_else(|| "the answers differ".into()))
}

// ---------------------------------------------------------------------------------------
// The report.

fn kib_per_customer(rss: Option<u64>, baseline: Option<u64>, customers: usize) -> Option<f64> {
    let (rss, baseline) = (rss?, baseline?);
    (customers > 0).then(|| (rss as f64 - baseline as f64) / customers as f64)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

/// The backfill's budget for `customers`: 1.25 × (pages ÷ 25/s), and at most 60 s for
/// 100 000 (the two numbers), else the first alone.
fn budget(customers: usize) -> Duration {
    let pages = customers.div_ceil(PAGE).max(1) as f64;
    let live = Duration::from_secs_f64(1.25 * pages / ENDPOINT_PER_SECOND);
    if customers >= 100_000 {
        live.max(Duration::from_secs(60))
    } else {
        live
    }
}

fn join_calls(join: &Join) -> String {
    let mut text = join.calls.describe();
    if join.calls.refused > 0 {
        text.push_str(&format!(" ({} answered 429)", join.calls.refused));
    }
    if let Some(e) = &join.error {
        text.push_str(&format!(" ⚠ {}", e.chars().take(200).collect::<String>()));
    }
    text
}

/// The section's Markdown.
pub fn report(options: &Options, run: &MirrorRun) -> String {
    let d = crate::duration;
    let t = crate::thousands;
    let mib = |k: Option<u64>| crate::mib(k);
    let latency = options.latency_ms;
    let mut out = String::new();
    out.push_str(&format!(
        "\n### The mirror (`STRIPE_MIRROR=on`): backfill, cold joins, memory, webhooks\n\n\
         - sandbox: in this process, {latency} ms added to every call, Stripe's live-mode limiters (100/s for the account, 25/s per endpoint, one-second token buckets, 429 `rate_limit` over either; the buckets full when each server is spawned), a live key (`sk_live_…`)\n\
         - data: the demo store ({} live customers, its prices, plans and products) plus `cus_mirror…` customers, each with two active subscriptions of two items (Pro monthly ×1, Priority Support ×2); the store is built in this process before a server starts and extended from one size to the next (the times below, not backfill time)\n\
         - each server: a fresh stripe-graphql process at its defaults for a live key (`STRIPE_RATE_LIMIT_PER_SECOND` 100, `STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND` 25, `STRIPE_MAX_CONCURRENCY` 8), `STRIPE_MIRROR=on` (`STRIPE_MIRROR_RECONCILE_SECONDS` 60, the default), `STRIPE_WEBHOOK_SECRET` set, `RUST_LOG={}`, `CACHE_TTL_SECONDS=3600`, `CACHE_MAX_ENTRIES=100000`; logs in `target/bench-logs/mirror-*.log`\n\
         - backfill time: from the server's spawn to its first `/readyz` 200 (asked every 10 ms; it answers 503 `MIRROR_WARMING` until the first pass is complete, then checks the key once with `GET /v1/customers?limit=1`); Stripe calls are the sandbox's log over that time\n\
         - the section took {:.0} s\n\n",
        run.demo_customers,
        options.server_log,
        run.elapsed.as_secs_f64()
    ));

    out.push_str("#### Backfill: spawn to `/readyz` 200\n\n| customers | pages of 100 | store built in (not counted) | wall time to `/readyz` 200 | budget | | the server's own log of the pass | Stripe calls until ready | of them 429 | `MIRROR_WARMING` seen before |\n|---:|---:|---:|---:|---:|---|---:|---|---:|---|\n");
    for s in &run.sizes {
        let b = &s.backfill;
        let limit = budget(s.customers);
        out.push_str(&format!(
            "| {} | {} | {} | **{}** | {} | {}{} | {} | {} | {} | {} |\n",
            t(s.customers),
            b.pages.len(),
            d(s.store_build),
            d(b.wall),
            d(limit),
            met(b.wall <= limit),
            if b.wall > limit {
                format!(
                    " by {} ({:+.0} %)",
                    d(b.wall - limit),
                    100.0 * (b.wall.as_secs_f64() / limit.as_secs_f64() - 1.0)
                )
            } else {
                String::new()
            },
            b.logged_seconds
                .as_deref()
                .map_or("?".into(), |s| format!("{s} s")),
            b.calls.describe(),
            b.calls.refused,
            if b.warming_seen { "yes" } else { "no" },
        ));
    }
    out.push_str(&format!(
        "\nBaseline: a mirrored server over the demo data alone was ready {} after its spawn.\n",
        d(run.baseline_mirrored_ready)
    ));

    out.push_str(&format!(
        "\n#### Where a page's time goes\n\n\
         The backfill's four readers read customer pages over windows of creation time at once (src/mirror/windows.rs), each window page after page (each page's cursor is the last customer of the one before), so one reader alone gets a page per {latency} ms of latency plus the sandbox's and the server's work on it; the endpoint's limit is 25 pages/s. Intervals are between the arrivals of consecutive customer pages at the sandbox, from any reader. The sandbox's own time: {SANDBOX_SAMPLES} pages asked of it directly (no latency, no limiter, the server stopped), to the last byte; times the pages/s it is the share of the machine's CPUs the sandbox took to serve them.\n\n\
         | customers | spawn to the first Stripe call | first to last customer page | pages/s (of 25) | interval p50 / p90 / max | the sandbox's own time per page p50 (page size) | the sandbox's CPU (pages/s × its p50) |\n|---:|---:|---:|---:|---:|---:|---:|\n"
    ));
    for s in &run.sizes {
        let b = &s.backfill;
        let gaps = b.intervals();
        let span = match (b.pages.first(), b.pages.last()) {
            (Some(a), Some(z)) => *z - *a,
            _ => Duration::ZERO,
        };
        let rate = if span.is_zero() {
            0.0
        } else {
            (b.pages.len().saturating_sub(1)) as f64 / span.as_secs_f64()
        };
        let sandbox = percentile(&s.sandbox_page, 50.0);
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} / {} / {} | {} ({:.0} KiB) | {:.2} CPU |\n",
            t(s.customers),
            b.first_call.map_or("?".into(), d),
            d(span),
            rate,
            d(percentile(&gaps, 50.0)),
            d(percentile(&gaps, 90.0)),
            d(percentile(&gaps, 100.0)),
            d(sandbox),
            s.page_bytes as f64 / 1024.0,
            rate * sandbox.as_secs_f64(),
        ));
    }

    out.push_str(&format!(
        "\n#### A cold join of {join} mirrored customers\n\n\
         The seed query's join (`f0`…`f{last}: customer(id: …)`, the seed selection), of customers spread over the store, sent once right after ready (cold: never asked before), then again (warm). Stripe calls are counted until none came for 500 ms; mirror hits / fallbacks are the growth of `stripe_graphql_mirror_answers_total{{outcome=\"hit\"}}` and `{{outcome=\"fallback\"}}` over the join.\n\n\
         | customers held | cold: Stripe calls | cold: latency | mirror hits / fallbacks | warm: Stripe calls | warm: latency |\n|---:|---|---:|---:|---|---:|\n",
        join = options.join_size,
        last = options.join_size.saturating_sub(1),
    ));
    for s in &run.sizes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            t(s.customers),
            join_calls(&s.cold),
            d(s.cold.latency),
            s.cold
                .answers
                .map_or("?".into(), |(h, f)| format!("{h:.0} / {f:.0}")),
            join_calls(&s.warm),
            d(s.warm.latency),
        ));
    }
    if let Some(u) = &run.unmirrored {
        out.push_str(&format!(
            "\nThe same cold join of the same {} customers on a server **without** the mirror (same sandbox of {} customers, same defaults, the buckets full): **{}** Stripe calls ({} answered 429), **{}**{}; resident memory after its start-up {}. Its answer's `data` equals the mirrored server's cold answer: {}.\n",
            options.join_size,
            t(u.customers),
            u.join.calls.total,
            u.join.calls.refused,
            d(u.join.latency),
            u.join
                .error
                .as_ref()
                .map_or(String::new(), |e| format!(" ⚠ {}", e.chars().take(200).collect::<String>())),
            mib(u.rss_start),
            match &u.same_data {
                Ok(()) => "yes".to_owned(),
                Err(e) => format!("**no** ({e})"),
            }
        ));
    }

    out.push_str(&format!(
        "\n#### Resident memory per mirrored customer\n\n\
         VmRSS of each mirrored server right after its first `/readyz` 200, minus that of a mirrored server over the demo data alone at the same point ({}; a server without the mirror after start-up: {}), divided by the customers held. Includes what the allocator keeps from parsing the backfill's pages. Target ≤ 3 KiB per customer.\n\n\
         | customers | objects held (customers, subscriptions, prices, plans, products) | VmRSS at ready | peak (VmHWM) | after the joins and webhooks | per customer | |\n|---:|---|---:|---:|---:|---:|---|\n",
        mib(run.baseline_mirrored),
        mib(run.baseline_plain)
    ));
    for s in &run.sizes {
        let per = kib_per_customer(s.rss_ready, run.baseline_mirrored, s.customers);
        let held: Vec<String> = s.held.iter().map(|(_, n)| format!("{n:.0}")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | **{}** | {} |\n",
            t(s.customers),
            held.join(", "),
            mib(s.rss_ready),
            mib(s.rss_peak),
            mib(s.rss_end),
            per.map_or("?".into(), |k| format!("{k:.2} KiB")),
            per.map_or("?", |k| met(k <= 3.0)),
        ));
    }

    out.push_str(&format!(
        "\n#### Webhook visibility\n\n\
         {} signed `customer.updated` webhooks, each changing another customer's metadata (`Sandbox::update_quietly`, then `Sandbox::send_event`, which signs it and POSTs it on a new connection, as the sandbox always does), one after the other; each timed from the send to its answer (the mirror applies an event before answering 200), then a query of that customer (`{{ f0: customer(id: …) {{ id metadata }} }}`) that must show the change. Target p99 ≤ 5 ms.\n\n\
         | customers held | webhooks | answered 200 | delivery p50 / p99 / max | | query right after p50 / p99 | queries showing the change | mirror outcomes (applied / ignored / refetched) | Stripe calls during the phase |\n|---:|---:|---:|---:|---|---:|---:|---|---|\n",
        options.mirror_webhooks
    ));
    for s in &run.sizes {
        let w = &s.webhooks;
        let p99 = percentile(&w.deliveries, 99.0);
        let outcomes: Vec<String> = w.outcomes.iter().map(|(_, n)| format!("{n:.0}")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} / {} / {} | {} | {} / {} | {}{} | {} | {} |\n",
            t(s.customers),
            w.sent,
            w.sent - w.not_200,
            d(percentile(&w.deliveries, 50.0)),
            d(p99),
            d(percentile(&w.deliveries, 100.0)),
            met(p99 <= Duration::from_millis(5)),
            d(percentile(&w.queries, 50.0)),
            d(percentile(&w.queries, 99.0)),
            w.sent - w.stale,
            w.first_stale.as_ref().map_or(String::new(), |s| format!(
                " ⚠ first stale: {}",
                s.chars().take(200).collect::<String>()
            )),
            outcomes.join(" / "),
            w.calls.describe(),
        ));
    }

    if let Some(largest) = run.sizes.last() {
        out.push_str(&projection(options, run, largest));
    }
    out
}

/// The paper projection for 1 000 000 customers from the largest size's figures.
fn projection(options: &Options, run: &MirrorRun, s: &Size) -> String {
    let million = 1_000_000usize;
    let pages = million.div_ceil(PAGE);
    let at_limit = pages as f64 / ENDPOINT_PER_SECOND;
    let b = &s.backfill;
    let span = match (b.pages.first(), b.pages.last()) {
        (Some(a), Some(z)) => (*z - *a).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if span > 0.0 {
        b.pages.len().saturating_sub(1) as f64 / span
    } else {
        0.0
    };
    let measured = if rate > 0.0 {
        pages as f64 / rate
    } else {
        f64::NAN
    };
    let per = kib_per_customer(s.rss_ready, run.baseline_mirrored, s.customers);
    let quiet = 3600.0 / 60.0;
    let mut out = format!(
        "\n#### A paper projection for 1 000 000 customers\n\n\
         - **Backfill:** {} pages of 100 customers; at the live limit of 25 pages/s that is {:.0} s ({:.1} min), the floor; at this run's measured pace ({:.1} pages/s for {} customers, {} ms of latency, this machine's CPUs shared with the sandbox) it would be {:.0} s ({:.1} min). Prices, plans and products are other endpoints, read at the same time. `/readyz` answers 503 throughout.\n",
        crate::thousands(pages),
        at_limit,
        at_limit / 60.0,
        rate,
        crate::thousands(s.customers),
        options.latency_ms,
        measured,
        measured / 60.0,
    );
    if let Some(per) = per {
        out.push_str(&format!(
            "- **Memory in process:** {per:.2} KiB per customer (this run's {} customers) × 1 000 000 ≈ {:.2} GiB, plus the server's own {}.\n",
            crate::thousands(s.customers),
            per * million as f64 / 1024.0 / 1024.0,
            crate::mib(run.baseline_mirrored)
        ));
    }
    out.push_str(&format!(
        "- **The Events API reading** (`STRIPE_MIRROR_RECONCILE_SECONDS`=60): one `GET /v1/events` page per reading when quiet, i.e. {quiet:.0} calls an hour (0.017/s of the account's 100/s), plus one more page per 100 events in a reading: at 1 change/s (60 a reading) still {quiet:.0} an hour; at 10/s (600 a reading) {:.0} an hour; at 100/s {:.0} an hour (1.7/s). Independent of the number of customers.\n",
        60.0 * (600f64 / 100.0).ceil(),
        60.0 * (6000f64 / 100.0).ceil(),
    ));
    out
}
