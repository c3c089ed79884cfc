//! The binary: configuration errors, --help, `schema`, `healthcheck` and `--demo`.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::{json, Value};
use stripe_graphql::graphql;

use crate::helpers::query_data;

const BIN: &str = env!("CARGO_BIN_EXE_stripe-graphql");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("binary runs")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_missing_key_exits_non_zero_with_one_clear_line() {
    let output = run(&[], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr_lines(&output),
        ["error: STRIPE_SECRET_KEY is required (or pass --demo to serve the embedded sandbox)"]
    );
    // An empty value counts as missing.
    let output = run(&[], &[("STRIPE_SECRET_KEY", "")]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn malformed_settings_exit_with_one_line_naming_the_variable() {
    for (env, needle) in [
        (("CACHE_TTL_SECONDS", "soon"), "CACHE_TTL_SECONDS"),
        (("LISTEN_ADDR", "localhost"), "LISTEN_ADDR"),
        (("LOG_FORMAT", "xml"), "LOG_FORMAT"),
        (("STRIPE_TIMEOUT_SECONDS", "0"), "STRIPE_TIMEOUT_SECONDS"),
        (("STRIPE_API_VERSION", "latest"), "STRIPE_API_VERSION"),
        (
            ("STRIPE_SECRET_KEY", "pk_test_123456789"),
            "STRIPE_SECRET_KEY",
        ),
        (("STRIPE_API_BASE", "ftp://example.com"), "STRIPE_API_BASE"),
        (("DEMO", "maybe"), "environment variable DEMO"),
    ] {
        let mut vars = vec![("STRIPE_SECRET_KEY", "sk_test_123456789")];
        vars.retain(|(k, _)| *k != env.0);
        vars.push(env);
        let output = run(&[], &vars);
        let lines = stderr_lines(&output);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{env:?}: {lines:?}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(needle),
            "{env:?}: {lines:?}"
        );
        assert!(
            !lines[0].contains("sk_test_123456789"),
            "the key is never printed"
        );
    }
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let output = run(&["--help"], &[]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for var in [
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "STRIPE_API_VERSION",
        "STRIPE_TIMEOUT_SECONDS",
        "STRIPE_MAX_CONCURRENCY",
        "LISTEN_ADDR",
        "GRAPHQL_AUTH_TOKEN",
        "CACHE_TTL_SECONDS",
        "CACHE_NOT_FOUND_TTL_SECONDS",
        "CACHE_MAX_ENTRIES",
        "MAX_BODY_BYTES",
        "LOG_FORMAT",
        "DEMO",
    ] {
        assert!(
            help.contains(&format!("env: {var}")),
            "{var} missing from --help"
        );
    }
    for command in ["serve", "schema", "healthcheck"] {
        assert!(help.contains(command), "{command}");
    }
}

#[test]
fn the_schema_subcommand_prints_the_sdl() {
    let output = run(&["schema"], &[]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), graphql::sdl());
}

/// Kills the child process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `--demo` on a free port and returns it with the GraphiQL URL it logged. With
/// `keep_log_open: false` the log pipe is closed right after the banner.
fn start_demo_with(keep_log_open: bool) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg("--demo")
        .env_clear()
        .envs([
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("LOG_FORMAT", "json"),
            ("STRIPE_SECRET_KEY", "sk_test_never_logged_123"),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() && !keep_log_open {
                break; // drops the reader: the server's stderr becomes a closed pipe
            }
        }
    });
    let mut log = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        assert!(
            !line.contains("sk_test_never_logged_123"),
            "the key is never logged"
        );
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("JSON log line: {line}"));
        let message = event["message"].as_str().unwrap_or_default().to_owned();
        log.push(message.clone());
        if let Some(rest) =
            message.strip_prefix("DEMO MODE: serving embedded sandbox data, not Stripe. GraphiQL: ")
        {
            let url = rest.split_whitespace().next().unwrap().to_owned();
            assert!(
                message.ends_with("sample customer id: cus_AvaMartinez"),
                "{message}"
            );
            return (running, url);
        }
    }
    panic!("no demo banner in the log: {log:?}");
}

fn start_demo() -> (Running, String) {
    start_demo_with(true)
}

#[tokio::test]
async fn demo_mode_serves_the_sandbox_through_the_real_client() {
    let (_demo, url) = start_demo();
    let http = reqwest::Client::new();

    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200, "GraphiQL at the logged URL");

    let data = query_data(
        &http,
        &url,
        "{ customer(id: \"cus_AvaMartinez\") { name subscriptions { data { status items { data { price { nickname } } } } } } }",
    )
    .await;
    let customer = &data["customer"];
    assert_eq!(customer["name"], json!("Ava Martinez"));
    assert_eq!(
        customer["subscriptions"]["data"][0]["status"],
        json!("active")
    );
    assert_eq!(
        customer["subscriptions"]["data"][0]["items"]["data"][0]["price"]["nickname"],
        json!("Pro monthly")
    );
}

#[test]
fn the_healthcheck_subcommand_reports_a_running_server() {
    let (_demo, url) = start_demo();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/graphql");
    assert!(run(&["healthcheck"], &[("LISTEN_ADDR", addr)])
        .status
        .success());

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = run(&["healthcheck"], &[("LISTEN_ADDR", &closed.to_string())]);
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn the_server_keeps_serving_when_its_log_pipe_closes() {
    let (_demo, url) = start_demo_with(false);
    let http = reqwest::Client::new();
    // The first request's log line is written into the closed pipe; later ones too.
    for _ in 0..3 {
        let response = http
            .post(&url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}
