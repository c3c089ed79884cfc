//! The processes of a run: the sandbox (in this process, on its own thread), the servers under
//! test (child processes), the peer's installation, and facts about the machine.

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{json, Value};
use stripe_sandbox::{
    demo,
    fixtures::{self, ItemSpec},
    Sandbox, Settings, Store,
};

/// The key the sandbox accepts; both servers are configured with it.
pub const KEY: &str = "sk_test_bench_sandbox_key_0001";

/// A live-mode key (the server reads the mode from the prefix: 100 calls/s for the account
/// by default instead of 25), for the replicas' sandbox, which accepts only it.
pub const LIVE_KEY: &str = "sk_live_bench_sandbox_key_0001";

const DAY: i64 = 86_400;

/// Customer `n` of the benchmark's subscribed customers.
pub fn bench_customer(n: usize) -> String {
    format!("cus_bench{n:06}")
}

/// Customer `n` of the customers used only to fill the cache.
pub fn fill_customer(n: usize) -> String {
    format!("cus_fill{n:06}")
}

/// The sandbox's data: the demo store (products, prices, the demo customers), plus
/// `subscribed` customers `cus_bench…`, each with one active subscription of two items (Pro
/// monthly ×1, Priority Support ×2: the seed query's shape, like the demo's `cus_AvaMartinez`),
/// plus `bare` customers `cus_fill…` without subscriptions.
///
/// Fill customers have no subscriptions because the sandbox finds a customer's subscriptions
/// by scanning all of them; 100 000 subscriptions would make every list call scan 100 000
/// objects and measure the sandbox instead of the server.
pub fn bench_store(now: i64, subscribed: usize, bare: usize) -> Store {
    let mut store = demo::store(now);
    let prices = seed_prices(&store);
    for n in 0..subscribed {
        let created = now - 400 * DAY + n as i64;
        let subscription = Subscribed {
            suffix: "",
            items: ["a", "b"],
            created: created + DAY,
        };
        put_subscribed(
            &mut store,
            &prices,
            now,
            ("bench", "Bench Customer", "bench"),
            n,
            created,
            &[subscription],
        );
    }
    for n in 0..bare {
        let id = fill_customer(n);
        store.put(fixtures::customer(
            &id,
            &format!("Fill Customer {n}"),
            &format!("fill{n}@example.com"),
            now - 300 * DAY + n as i64,
        ));
    }
    store
}

/// Customer `n` of the `mirror` section's customers.
pub fn mirror_customer(n: usize) -> String {
    format!("cus_mirror{n:06}")
}

/// Adds customers `range` (`cus_mirror…`) to a demo `store`, each with two active
/// subscriptions of two items each (Pro monthly ×1, Priority Support ×2: the seed query's
/// shape, twice), the second subscription a day newer than the first.
pub fn add_mirror_customers(store: &mut Store, range: std::ops::Range<usize>, now: i64) {
    let prices = seed_prices(store);
    for n in range {
        let created = now - 400 * DAY + n as i64;
        let subscriptions = ["a", "b"].map(|suffix| Subscribed {
            suffix,
            items: ["1", "2"],
            created: created + if suffix == "a" { DAY } else { 2 * DAY },
        });
        put_subscribed(
            store,
            &prices,
            now,
            ("mirror", "Mirror Customer", "mirror-section"),
            n,
            created,
            &subscriptions,
        );
    }
}

/// The demo store's Pro monthly and Priority Support prices.
fn seed_prices(store: &Store) -> (Value, Value) {
    let price = |id: &str| {
        store
            .get("price", id)
            .cloned()
            .unwrap_or_else(|| panic!("the demo store has price {id}"))
    };
    (price("price_ProMonthly"), price("price_SupportMonthly"))
}

/// One subscription of a generated customer: its id's suffix, its items' suffixes, its
/// creation time.
struct Subscribed {
    suffix: &'static str,
    items: [&'static str; 2],
    created: i64,
}

/// Puts customer `n` of a generated set (`cus_<stem>…`, named `<name> n`, metadata `sso` a
/// uuid made of `n`) with `subscriptions`: each active, Pro monthly ×1 and Priority Support ×2
/// (the seed query's shape), its current period around `now`, metadata `source`.
fn put_subscribed(
    store: &mut Store,
    (pro, support): &(Value, Value),
    now: i64,
    (stem, name, source): (&str, &str, &str),
    n: usize,
    created: i64,
    subscriptions: &[Subscribed],
) {
    let id = format!("cus_{stem}{n:06}");
    let mut customer = fixtures::customer(
        &id,
        &format!("{name} {n}"),
        &format!("{stem}{n}@example.com"),
        created,
    );
    customer["metadata"] = json!({ "sso": format!("00000000-0000-4000-8000-{n:012}") });
    store.put(customer);
    for subscribed in subscriptions {
        let sub_id = format!("sub_{stem}{n:06}{}", subscribed.suffix);
        let [a, b] = subscribed
            .items
            .map(|item| format!("si_{stem}{n:06}{}{item}", subscribed.suffix));
        let items = [
            ItemSpec {
                id: &a,
                price: pro,
                quantity: Some(1),
            },
            ItemSpec {
                id: &b,
                price: support,
                quantity: Some(2),
            },
        ];
        let mut subscription = fixtures::subscription(
            &sub_id,
            &id,
            "active",
            &items,
            (now - 10 * DAY, now + 20 * DAY),
            subscribed.created,
        );
        subscription["metadata"] = json!({ "source": source });
        store.put(subscription);
    }
}

/// Starts the sandbox on a thread of its own with its own Tokio runtime, so the load
/// generator's tasks never delay its answers. It serves until the process ends.
pub fn start_sandbox(store: Store) -> Sandbox {
    start_sandbox_accepting(store, KEY, 2_000)
}

/// [`start_sandbox`], accepting `key` instead of [`KEY`], keeping the newest `call_log`
/// calls in its log.
pub fn start_sandbox_accepting(store: Store, key: &'static str, call_log: usize) -> Sandbox {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sandbox".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a Tokio runtime for the sandbox");
            runtime.block_on(async move {
                let started = Sandbox::start_with(
                    store,
                    key,
                    Settings {
                        call_log_capacity: call_log,
                    },
                )
                .await;
                let _ = tx.send(started);
                std::future::pending::<()>().await;
            });
        })
        .expect("a thread for the sandbox");
    rx.recv()
        .expect("the sandbox thread answers")
        .expect("the sandbox starts")
}

/// A free loopback port (bound, read, released; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A server under test, killed when dropped.
pub struct Server {
    /// For messages.
    pub name: &'static str,
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Server {
    /// Spawns `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Server {
        let file = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = file.try_clone().expect("clone a file handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        Server { name, child, log }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with the end of its log if it has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); the end of {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// Resident memory (VmRSS) in KiB, from /proc/<pid>/status.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    /// The peak of resident memory so far (VmHWM) in KiB, from /proc/<pid>/status.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Our server's environment beyond what every run sets.
pub struct OursSettings<'a> {
    /// `STRIPE_SECRET_KEY` (the sandbox's: [`KEY`] or [`LIVE_KEY`]).
    pub key: &'a str,
    /// `STRIPE_MAX_CONCURRENCY`, or the server's default.
    pub max_concurrency: Option<u32>,
    /// `STRIPE_RATE_LIMIT_PER_SECOND`, or the server's default.
    pub rate_limit: Option<u32>,
    /// `RUST_LOG`.
    pub log_level: &'a str,
    /// `CACHE_MAX_ENTRIES`.
    pub cache_max_entries: u64,
    /// Anything else (`REDIS_URL`, `REDIS_EXPECTED_REPLICAS`).
    pub env: Vec<(&'static str, String)>,
}

/// The stripe-graphql binary of this build (the bench profile's), started like a user starts
/// it: environment only, pointed at the sandbox, listening on `port`, with a bearer token.
pub fn ours_command(
    sandbox: &Sandbox,
    port: u16,
    token: &str,
    settings: &OursSettings<'_>,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stripe-graphql"));
    command
        .env_clear()
        .env("STRIPE_API_BASE", sandbox.base_url())
        .env("STRIPE_SECRET_KEY", settings.key)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("GRAPHQL_AUTH_TOKEN", token)
        .env("RUST_LOG", settings.log_level)
        .env("NO_COLOR", "1")
        // Entries must outlive the run (the memory fill takes tens of seconds) and 100 000
        // customers must fit.
        .env("CACHE_TTL_SECONDS", "3600")
        .env("CACHE_MAX_ENTRIES", settings.cache_max_entries.to_string());
    if let Some(n) = settings.max_concurrency {
        command.env("STRIPE_MAX_CONCURRENCY", n.to_string());
    }
    if let Some(n) = settings.rate_limit {
        // Read by servers that pace their calls; an older server ignores them. The limit is
        // raised for the account and for each endpoint alike.
        command.env("STRIPE_RATE_LIMIT_PER_SECOND", n.to_string());
        command.env("STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND", n.to_string());
    }
    for (name, value) in &settings.env {
        command.env(name, value);
    }
    command
}

/// The peer's pinned package set, committed beside its launcher.
pub fn peer_sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer")
}

/// The scratch folder the peer is installed into: `<target dir>/bench-peer`.
pub fn default_peer_dir() -> PathBuf {
    target_dir().join("bench-peer")
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `./target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Installs the peer with `npm ci` from the committed package.json and package-lock.json
/// into `dir`, unless `dir` already holds exactly that lock file's installation. Returns the
/// installed versions of the peer and the packages that matter for its speed.
pub fn install_peer(dir: &Path) -> Result<Vec<(String, String)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let sources = peer_sources();
    let lock = std::fs::read(sources.join("package-lock.json"))
        .map_err(|e| format!("read the peer's package-lock.json: {e}"))?;
    let installed_lock = dir.join("node_modules/.package-lock.json");
    let current = std::fs::read(dir.join("package-lock.json")).ok() == Some(lock.clone())
        && installed_lock.exists();
    if !current {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(sources.join(file), dir.join(file))
                .map_err(|e| format!("copy {file} to {}: {e}", dir.display()))?;
        }
        eprintln!("installing the peer with npm ci into {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .map_err(|e| format!("run npm (is Node installed? or pass --no-peer): {e}"))?;
        if !status.success() {
            return Err(format!("npm ci failed ({status}) in {}", dir.display()));
        }
    }
    let version = |package: &str| -> Result<(String, String), String> {
        let path = dir.join("node_modules").join(package).join("package.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok((
            package.to_owned(),
            json["version"].as_str().unwrap_or("?").to_owned(),
        ))
    };
    [
        "@nhost/stripe-graphql-js",
        "stripe",
        "@graphql-yoga/node",
        "graphql",
    ]
    .into_iter()
    .map(version)
    .collect()
}

/// `node benches/peer/launch.js`, serving the peer installed in `dir` on `port`, pointed at
/// the sandbox, admitting requests that carry `admin_secret`.
pub fn peer_command(sandbox: &Sandbox, dir: &Path, port: u16, admin_secret: &str) -> Command {
    let mut command = Command::new("node");
    command
        .arg(peer_sources().join("launch.js"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NODE_ENV", "production")
        .env("PEER_DIR", dir)
        .env("PEER_STRIPE_BASE", sandbox.base_url())
        .env("PEER_PORT", port.to_string())
        .env("STRIPE_SECRET_KEY", KEY)
        .env("NHOST_ADMIN_SECRET", admin_secret);
    command
}

/// The first line of a command's output, or `None` if it cannot run.
pub fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().next()?.trim().to_owned())
}

/// CPU model, logical CPUs and memory, from /proc.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    format!(
        "{cpus} logical CPUs (nproc), {model}, {:.1} GiB RAM",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The checkout's commit, marked `+ uncommitted changes` when the tree is dirty.
pub fn commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let Some(hash) = command_line("git", &["-C", dir, "rev-parse", "--short=12", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    let dirty = Command::new("git")
        .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{hash} + uncommitted changes")
    } else {
        hash
    }
}

/// Waits until `server` answers, failing early if it exits.
pub async fn wait_ready(
    server: &mut Server,
    target: &crate::load::Target,
    deadline: Duration,
) -> Result<(), String> {
    let until = std::time::Instant::now() + deadline;
    loop {
        server.check_alive()?;
        if target.wait_ready(Duration::from_millis(200)).await.is_ok() {
            return Ok(());
        }
        if std::time::Instant::now() > until {
            server.check_alive()?;
            return Err(format!(
                "{} did not become ready within {deadline:?}; see {}",
                server.name,
                server.log.display()
            ));
        }
    }
}
