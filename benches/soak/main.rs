//! The soak: concurrent load on the real server binary for a bounded time while the sandbox
//! injects every fault it knows (429s, 500s, 503s with `Stripe-Should-Retry`, hangs, non-JSON
//! bodies, bodies cut short, dropped connections, latency spikes). It checks, and exits
//! non-zero unless all hold:
//!
//! - the server never exits;
//! - every response is GraphQL-shaped JSON: `data`, or a non-empty `errors` list in which
//!   every entry has a known `extensions.code` (never `INTERNAL_SERVER_ERROR`), and every
//!   joined customer that is not `null` is the one asked for;
//! - no request takes longer than the server's request deadline (`REQUEST_DEADLINE_SECONDS`,
//!   18 s by default) plus a second for the round trip, so none reaches Hasura's 20 s;
//! - resident memory in the last minute is within 20 % (plus 8 MiB) of the first minute's;
//! - stale-if-error served cached data at least once.
//!
//! ```sh
//! cargo bench --bench soak                       # 120 s, 16 clients
//! cargo bench --bench soak -- --seconds 600 --clients 32
//! ```
//!
//! It prints a Markdown report (the figures in docs/reliability.md come from it).

use std::{
    collections::BTreeMap,
    process::{Command, ExitCode},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::Value;
use stripe_sandbox::Fault;

#[allow(dead_code)]
#[path = "../scenarios/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../scenarios/procs.rs"]
mod procs;

const TOKEN: &str = "soak-bearer-token";
const CUSTOMERS: usize = 300;
/// The server's default request deadline plus a second for the round trip: no answer may
/// take longer (Hasura's remote-schema timeout in `hasura/` metadata is 20 s).
const LONGEST_ANSWER: Duration = Duration::from_secs(19);
/// The codes an answer may carry under faults (and for the bad input the load sends).
const EXPECTED_CODES: &[&str] = &[
    "STRIPE_RATE_LIMITED",
    "STRIPE_UNAVAILABLE",
    "STRIPE_TIMEOUT",
    "STRIPE_BAD_RESPONSE",
    "BAD_USER_INPUT",
];

struct Options {
    seconds: u64,
    clients: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 120,
        clients: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{name} takes a number"))
        };
        match arg.as_str() {
            "--seconds" => options.seconds = value("--seconds")?.max(10),
            "--clients" => options.clients = value("--clients")?.clamp(1, 256) as usize,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => return Err(format!("unknown option {other}; see benches/soak/main.rs")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    match runtime.block_on(soak(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failures) => {
            eprintln!("soak FAILED:\n- {}", failures.join("\n- "));
            ExitCode::FAILURE
        }
    }
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    requests: usize,
    ok: usize,
    codes: BTreeMap<String, usize>,
    latencies: Vec<Duration>,
    failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }
}

/// The seed selection Hasura sends (the same file the tests and the benchmark use).
fn seed_selection() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seed-join-request.json"
    );
    let request: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).unwrap();
    let query = request["query"].as_str().unwrap();
    let head = "f0: customer(id: \"cus_REPLACE_ME\") ";
    let start = query.find(head).unwrap() + head.len();
    query[start..query.len() - 2].trim().to_owned()
}

/// One request of the mix, and the customer ids its aliases must answer.
fn next_request(selection: &str) -> (String, Vec<String>) {
    let pick = || procs::bench_customer(fastrand::usize(..CUSTOMERS));
    match fastrand::u8(..100) {
        0..=59 => {
            let ids = vec![pick()];
            (load::Dialect::Root.join(&ids, selection), ids)
        }
        60..=84 => {
            let mut ids: Vec<String> = (0..20).map(|_| pick()).collect();
            ids.sort();
            ids.dedup();
            (load::Dialect::Root.join(&ids, selection), ids)
        }
        85..=94 => (
            "{ customers(first: 5) { data { id } hasMore } }".to_owned(),
            vec![],
        ),
        _ => ("{ customer(id: \"not an id\") { id } }".to_owned(), vec![]),
    }
}

fn check(tally: &mut Tally, answer: &load::Answer, ids: &[String]) {
    tally.requests += 1;
    tally.latencies.push(answer.latency);
    let text = String::from_utf8_lossy(&answer.body);
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
        return tally.fail(format!("not JSON: {text}"));
    };
    let errors = body.get("errors");
    if let Some(errors) = errors {
        let Some(list) = errors.as_array().filter(|l| !l.is_empty()) else {
            return tally.fail(format!("`errors` that is not a non-empty list: {text}"));
        };
        for error in list {
            let code = error["extensions"]["code"].as_str().unwrap_or("(none)");
            *tally.codes.entry(code.to_owned()).or_default() += 1;
            if !EXPECTED_CODES.contains(&code) {
                tally.fail(format!("unexpected code {code}: {text}"));
            }
        }
    } else if body.get("data").is_none_or(Value::is_null) {
        return tally.fail(format!("neither data nor errors: {text}"));
    } else {
        tally.ok += 1;
    }
    for (i, id) in ids.iter().enumerate() {
        let customer = &body["data"][format!("f{i}")];
        if !customer.is_null() && customer["id"].as_str() != Some(id) {
            tally.fail(format!("f{i} is not {id}: {customer}"));
        }
    }
    if answer.latency > LONGEST_ANSWER {
        tally.fail(format!("an answer took {:?}", answer.latency));
    }
}

fn injector(sandbox: Arc<stripe_sandbox::Sandbox>, running: Arc<AtomicBool>) {
    let faults = [
        Fault::Status(429),
        Fault::Status(500),
        Fault::ShouldRetry(503, true),
        Fault::Hang,
        Fault::Garbage,
        Fault::Truncated,
        Fault::Dropped,
        Fault::Delay(Duration::from_millis(800)),
    ];
    std::thread::spawn(move || {
        while running.load(Ordering::SeqCst) {
            let fault = faults[fastrand::usize(..faults.len())].clone();
            sandbox.inject(None, fault, fastrand::usize(1..=2));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

async fn soak(options: Options) -> Result<(), Vec<String>> {
    let now = stripe_sandbox::unix_now();
    let sandbox = Arc::new(procs::start_sandbox(procs::bench_store(now, CUSTOMERS, 0)));
    sandbox.set_latency(Duration::from_millis(20));
    let port = procs::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_stripe-graphql"));
    command
        .env_clear()
        .env("STRIPE_API_BASE", sandbox.base_url())
        .env("STRIPE_SECRET_KEY", procs::KEY)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("GRAPHQL_AUTH_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        // Short enough that entries keep expiring, so calls (and faults) keep happening,
        // and stale-if-error has something to serve.
        .env("CACHE_TTL_SECONDS", "2")
        .env("STRIPE_TIMEOUT_SECONDS", "2")
        .env("STRIPE_DEADLINE_SECONDS", "6")
        .env("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
        .env("STRIPE_MAX_CONCURRENCY", "32");
    let logs = procs::target_dir().join("bench-logs");
    std::fs::create_dir_all(&logs).map_err(|e| vec![e.to_string()])?;
    let mut server = procs::Server::spawn("stripe-graphql", command, logs.join("soak.log"));
    let target = load::Target {
        name: "stripe-graphql",
        url: format!("http://127.0.0.1:{port}/graphql"),
        auth: ("authorization", format!("Bearer {TOKEN}")),
        dialect: load::Dialect::Root,
        http: reqwest::Client::builder()
            .timeout(LONGEST_ANSWER + Duration::from_secs(5))
            .build()
            .expect("a client"),
    };
    procs::wait_ready(&mut server, &target, Duration::from_secs(30))
        .await
        .map_err(|e| vec![e])?;
    sandbox.reset_calls();

    let running = Arc::new(AtomicBool::new(true));
    injector(sandbox.clone(), running.clone());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let selection = Arc::new(seed_selection());
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let clients: Vec<_> = (0..options.clients)
        .map(|_| {
            let (target, tally, selection) = (target.clone(), tally.clone(), selection.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let (query, ids) = next_request(&selection);
                    let answer = target.post(load::request_body(&query)).await;
                    check(&mut tally.lock().unwrap(), &answer, &ids);
                }
            })
        })
        .collect();
    let mut rss = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e) = server.check_alive() {
            running.store(false, Ordering::SeqCst);
            return Err(vec![e]);
        }
        rss.push((started.elapsed(), server.rss_kib().unwrap_or(0)));
    }
    for client in clients {
        let _ = client.await;
    }
    running.store(false, Ordering::SeqCst);

    let metrics = target
        .http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map_err(|e| vec![e.to_string()])?
        .text()
        .await
        .unwrap_or_default();
    let sample = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let stale = sample("stripe_graphql_cache_events_total{event=\"stale_served\"}");
    let retries: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("stripe_graphql_stripe_retries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let alive = server.check_alive();

    let mut tally = Arc::try_unwrap(tally)
        .ok()
        .expect("clients are done")
        .into_inner()
        .unwrap();
    tally.latencies.sort();
    let percentile = |p: f64| {
        let n = tally.latencies.len();
        tally.latencies[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1]
    };
    let window = Duration::from_secs(60.min(options.seconds / 2));
    let first: Vec<u64> = rss
        .iter()
        .filter(|(t, _)| *t <= window)
        .map(|(_, r)| *r)
        .collect();
    let last_start = Duration::from_secs(options.seconds).saturating_sub(window);
    let last: Vec<u64> = rss
        .iter()
        .filter(|(t, _)| *t >= last_start)
        .map(|(_, r)| *r)
        .collect();
    let (first_mib, last_mib) = (median(first) / 1024, median(last) / 1024);

    println!("### Soak\n");
    println!(
        "- command: `cargo bench --bench soak -- --seconds {} --clients {}`",
        options.seconds, options.clients
    );
    println!(
        "- commit {}, {}; load average at the end: {}",
        procs::commit(),
        procs::machine(),
        procs::load_average()
    );
    println!("- server: the bench-profile binary, `RUST_LOG=info` (JSON logs to target/bench-logs/soak.log), `CACHE_TTL_SECONDS=2`, `STRIPE_TIMEOUT_SECONDS=2`, `STRIPE_DEADLINE_SECONDS=6`, `STRIPE_MAX_RETRIES` default (2)");
    println!("- sandbox: {CUSTOMERS} customers, 20 ms latency; every 100 ms one of 429, 500, 503 with `Stripe-Should-Retry: true`, hang, non-JSON body, body cut short, dropped connection or an 800 ms spike is injected into the next 1 or 2 calls");
    println!("- load: {} clients in a loop: 60 % one-customer seed joins, 25 % 20-customer seed joins, 10 % `customers(first: 5)`, 5 % a malformed id\n", options.clients);
    println!("| | |\n|---|---|");
    println!("| duration | {:.0} s |", started.elapsed().as_secs_f64());
    println!(
        "| requests | {} ({:.0}/s) |",
        tally.requests,
        tally.requests as f64 / started.elapsed().as_secs_f64()
    );
    println!("| answered with data and no errors | {} |", tally.ok);
    for (code, n) in &tally.codes {
        println!("| errors coded `{code}` | {n} |");
    }
    println!(
        "| latency p50 / p99 / max | {:.1} ms / {:.0} ms / {:.0} ms |",
        percentile(50.0).as_secs_f64() * 1e3,
        percentile(99.0).as_secs_f64() * 1e3,
        tally
            .latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    println!(
        "| Stripe calls received by the sandbox | {} |",
        sandbox.total_calls()
    );
    println!("| retries (server metrics) | {retries:.0} |");
    println!("| stale-if-error serves (server metrics) | {stale:.0} |");
    println!(
        "| resident memory, median of the first / last {} s | {first_mib} MiB / {last_mib} MiB |",
        window.as_secs()
    );
    println!(
        "| server still running at the end | {} |",
        if alive.is_ok() { "yes" } else { "no" }
    );

    let mut failures = tally.failures;
    if let Err(e) = alive {
        failures.push(e);
    }
    if stale < 1.0 {
        failures.push("stale-if-error never served".into());
    }
    if last_mib * 10 > first_mib * 12 + 80 {
        failures.push(format!("memory grew: {first_mib} MiB → {last_mib} MiB"));
    }
    if tally.ok == 0 {
        failures.push("no request was answered without errors".into());
    }
    if failures.is_empty() {
        println!("\nAll checks held.");
        Ok(())
    } else {
        Err(failures)
    }
}
