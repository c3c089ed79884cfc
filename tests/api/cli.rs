//! The binary: configuration errors, --help, `schema`, `healthcheck` and `--demo`.

use std::process::{Command, Output};

use serde_json::{json, Value};
use stripe_graphql::graphql;

use crate::{helpers::query_data, process::Server};

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
        (
            ("STRIPE_API_BASE", "https://api.stripe.com/v1"),
            "ends in /v1",
        ),
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
fn a_bad_value_from_the_environment_names_the_variable_and_the_allowed_values() {
    let from_env = run(
        &[],
        &[
            ("STRIPE_SECRET_KEY", "sk_test_123456789"),
            ("LOG_FORMAT", "yaml"),
        ],
    );
    assert_eq!(from_env.status.code(), Some(2));
    assert_eq!(
        stderr_lines(&from_env),
        ["error: invalid value 'yaml' for '--log-format <LOG_FORMAT>'; possible values: text, json (from the environment variable LOG_FORMAT)"]
    );
    let from_flag = run(
        &["--log-format", "yaml"],
        &[("STRIPE_SECRET_KEY", "sk_test_123456789")],
    );
    assert_eq!(
        stderr_lines(&from_flag),
        ["error: invalid value 'yaml' for '--log-format <LOG_FORMAT>'; possible values: text, json"]
    );
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
        "MAX_STRIPE_FIELDS",
        "MAX_QUERY_DEPTH",
        "MAX_QUERY_COMPLEXITY",
        "REQUEST_DEADLINE_SECONDS",
        "MAX_REQUESTS_IN_FLIGHT",
        "HASURA_UNAUTHORIZED_ROLE",
        "PHONE_DEFAULT_REGION",
        "HASURA_GRAPHQL_URL",
        "STRIPE_WEBHOOK_SECRET",
    ] {
        assert!(
            help.contains(&format!("env: {var}")),
            "{var} missing from --help"
        );
    }
    // One heading per concern.
    for heading in [
        "Stripe:",
        "Server:",
        "Cache:",
        "Request limits:",
        "Stripe webhooks:",
        "Hasura:",
    ] {
        assert!(help.contains(heading), "{heading}");
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

/// The key every spawned server is given: it must never appear in a log line.
const NEVER_LOGGED: &str = "sk_test_never_logged_123";

/// The binary with `args` and `env`, a recognisable key that no log line may hold, and JSON
/// logs on a channel.
fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut all = vec![("STRIPE_SECRET_KEY", NEVER_LOGGED)];
    all.extend_from_slice(env);
    Server::spawn(args, &all).never_logs(NEVER_LOGGED)
}

/// A `--demo` server and the URLs its banner advertises.
struct Demo {
    running: Server,
    /// `http://127.0.0.1:<port>`
    base: String,
    /// The whole banner message.
    banner: String,
}

const BANNER: &str = "DEMO MODE: serving embedded sandbox data, not Stripe. GraphiQL: ";

fn start_demo_with(env: &[(&str, &str)]) -> Demo {
    let mut running = start(&["--demo"], env);
    let banner = running.wait_for(BANNER)["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let graphiql = banner[BANNER.len()..].split_whitespace().next().unwrap();
    assert!(
        banner.ends_with("sample customer id: cus_AvaMartinez"),
        "{banner}"
    );
    let base = graphiql
        .strip_suffix("/graphiql")
        .unwrap_or_else(|| panic!("the banner advertises /graphiql: {banner}"))
        .to_owned();
    Demo {
        running,
        base,
        banner,
    }
}

fn start_demo() -> Demo {
    start_demo_with(&[])
}

#[tokio::test]
async fn demo_mode_serves_the_sandbox_through_the_real_client() {
    let demo = start_demo();
    let http = reqwest::Client::new();

    let page = http
        .get(format!("{}/graphiql", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "GraphiQL at the advertised URL");

    let data = query_data(
        &http,
        &format!("{}/graphql", demo.base),
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

#[tokio::test]
async fn with_a_token_the_advertised_graphiql_url_opens_and_the_log_says_how_to_send_it() {
    let demo = start_demo_with(&[("GRAPHQL_AUTH_TOKEN", "demo-token-77")]);
    assert!(
        demo.banner.contains(
            "in GraphiQL's Headers tab, send {\"Authorization\": \"Bearer <GRAPHQL_AUTH_TOKEN>\"}"
        ),
        "{}",
        demo.banner
    );
    assert!(
        !demo.banner.contains("demo-token-77"),
        "the token is never logged"
    );
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/graphiql", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "a browser opens the advertised URL");
    let refused = http
        .get(format!("{}/graphql", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn the_demo_lets_a_person_run_mutations_without_a_token_and_reads_them_back() {
    let demo = start_demo();
    let http = reqwest::Client::new();
    let url = format!("{}/graphql", demo.base);
    let data = query_data(
        &http,
        &url,
        "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: [{price: \"price_EssentialsMonthly\"}], idempotencyKey: \"demo-1\") { id status } }",
    )
    .await;
    let created = &data["createSubscription"];
    assert_eq!(created["status"], json!("active"), "Ava has a card on file");
    let id = created["id"].as_str().unwrap();
    let read = query_data(
        &http,
        &url,
        &format!("{{ subscription(id: \"{id}\") {{ status customerId }} }}"),
    )
    .await;
    assert_eq!(
        read["subscription"],
        json!({"status": "active", "customerId": "cus_AvaMartinez"})
    );
    // A Hasura role header can still only narrow: `user` may not write.
    let body: Value = http
        .post(&url)
        .header("x-hasura-role", "user")
        .json(&json!({"query": "mutation { deleteCustomer(id: \"cus_AvaMartinez\") { id } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("FORBIDDEN"),
        "{body}"
    );
}

#[test]
fn the_healthcheck_subcommand_reports_a_running_server() {
    let demo = start_demo();
    let addr = demo.base.trim_start_matches("http://");
    assert!(run(&["healthcheck"], &[("LISTEN_ADDR", addr)])
        .status
        .success());
    assert!(
        run(&["healthcheck", "--listen-addr", addr], &[])
            .status
            .success(),
        "the address may follow the subcommand"
    );
}

#[test]
fn a_failing_healthcheck_says_what_it_tried_and_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = run(&["healthcheck", "--listen-addr", &closed.to_string()], &[]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "healthcheck: GET http://{closed}/healthz failed: "
        )),
        "{lines:?}"
    );
    assert!(lines[0].to_lowercase().contains("refused"), "{lines:?}");
}

#[tokio::test]
async fn the_server_keeps_serving_when_its_log_pipe_closes() {
    let mut demo = start_demo();
    demo.running.close_log();
    let http = reqwest::Client::new();
    // The first request's log line is written into the closed pipe; later ones too.
    for _ in 0..3 {
        let response = http
            .post(format!("{}/graphql", demo.base))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn a_stripe_transport_failure_is_logged_with_its_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut running = start(&[], &[("STRIPE_API_BASE", &format!("http://{closed}"))]);
    let listening = running.wait_for("GraphQL endpoint: ");
    let url = listening["message"]
        .as_str()
        .unwrap()
        .trim_start_matches("GraphQL endpoint: ")
        .to_owned();
    let body: Value = reqwest::Client::new()
        .post(&url)
        .json(&json!({ "query": "{ customer(id: \"cus_1\") { id } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("STRIPE_UNAVAILABLE")
    );
    let event = running.wait_for("stripe transport failure");
    let error = event["error"].as_str().unwrap();
    assert!(
        error.starts_with("error sending request") && error.contains("Connection refused"),
        "the whole cause chain: {error}"
    );
    assert_eq!(event["path"], json!("/v1/customers/cus_1"));
}
