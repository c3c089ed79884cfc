//! Command line and environment configuration.
//!
//! Every setting is a flag with an environment-variable fallback (`--help` lists both, under
//! one heading per concern). The flags are grouped by what they configure, one `clap::Args`
//! struct each, flattened into [`Cli`]:
//!
//! | module | settings | becomes |
//! |---|---|---|
//! | [`stripe`] | `DEMO`, `STRIPE_*` (key, base, version, timeout, concurrency, rate, retries, deadline) | [`Upstream`], [`ClientSettings`] |
//! | [`server`] | `LISTEN_ADDR`, `GRAPHQL_AUTH_TOKEN`, `MAX_BODY_BYTES`, `METRICS_AUTH`, `LOG_FORMAT` | [`HttpSettings`], the listen address, [`LogFormat`] |
//! | [`cache`] | `CACHE_*` | [`CacheSettings`] |
//! | [`limits`] | `MAX_STRIPE_FIELDS`, `MAX_QUERY_*`, `REQUEST_DEADLINE_SECONDS`, `MAX_REQUESTS_IN_FLIGHT` | [`Limits`] |
//! | [`webhook`] | `STRIPE_WEBHOOK_*` | [`WebhookSettings`] |
//! | [`redis`] | `REDIS_*` | [`RedisSettings`] |
//! | [`mirror`] | `STRIPE_MIRROR*` | [`MirrorSettings`] |
//! | [`hasura`] | `HASURA_*` (scoping, roles, the write-back's URL and secret) | [`ScopingSettings`](crate::graphql::scope::ScopingSettings), [`WriteSettings`], [`HasuraSettings`] |
//!
//! [`Cli::into_action`] checks everything once: a missing or malformed setting becomes one
//! [`ConfigError`] line and a non-zero exit, before anything starts. Every free-text setting
//! passes the same check ([`text`]). The settings types live beside the code they configure;
//! [`Config`] only gathers them.

pub mod cache;
pub mod hasura;
pub mod limits;
pub mod mirror;
pub mod redis;
pub mod server;
pub mod stripe;
pub mod text;
pub mod webhook;

use std::{ffi::OsString, net::SocketAddr};

use clap::{
    error::{ContextKind, ContextValue, ErrorKind},
    CommandFactory, Parser, Subcommand,
};

pub use self::hasura::OnOff;
pub use self::stripe::DemoMode;
use crate::{
    cache::CacheSettings,
    events::WebhookSettings,
    graphql::write::WriteSettings,
    http::HttpSettings,
    limits::Limits,
    mirror::MirrorSettings,
    profile::hasura::HasuraSettings,
    shared::RedisSettings,
    stripe::{ClientSettings, Endpoint},
    telemetry::LogFormat,
};

/// stripe-graphql: Stripe customers, subscriptions, prices, plans and products over GraphQL,
/// cached, for Hasura v2 remote schemas and direct clients.
#[derive(Debug, Parser)]
#[command(name = "stripe-graphql", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub stripe: self::stripe::StripeArgs,
    #[command(flatten)]
    pub server: server::ServerArgs,
    #[command(flatten)]
    pub cache: self::cache::CacheArgs,
    #[command(flatten)]
    pub limits: self::limits::LimitsArgs,
    #[command(flatten)]
    pub webhook: self::webhook::WebhookArgs,
    #[command(flatten)]
    pub hasura: self::hasura::HasuraArgs,
    #[command(flatten)]
    pub redis: self::redis::RedisArgs,
    #[command(flatten)]
    pub mirror: self::mirror::MirrorArgs,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the GraphQL schema (SDL) to standard output.
    Schema,
    /// Exit 0 if the server on LISTEN_ADDR answers GET /healthz with 200, 1 (with the reason
    /// on stderr) otherwise. For container health checks; needs no shell or curl.
    Healthcheck,
}

/// A setting that is missing or malformed. Displayed as one line, never holding a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where Stripe calls go.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Stripe (or a fake at another base URL), with this key.
    Stripe(Endpoint),
    /// The embedded sandbox, started by the server (`--demo`).
    DemoSandbox,
}

/// The validated server configuration: each concern's settings, as its module takes them.
#[derive(Debug, Clone)]
pub struct Config {
    pub upstream: Upstream,
    pub client: ClientSettings,
    pub cache: CacheSettings,
    pub http: HttpSettings,
    pub listen_addr: SocketAddr,
    pub log_format: LogFormat,
    /// `None` disables `POST /webhooks/stripe`.
    pub webhook: Option<WebhookSettings>,
    /// `None` disables the profile write-back.
    pub hasura: Option<HasuraSettings>,
    pub limits: Limits,
    /// `None`: each replica caches alone.
    pub redis: Option<RedisSettings>,
    /// `None`: no mirror (`STRIPE_MIRROR=off`).
    pub mirror: Option<MirrorSettings>,
}

/// What the process was asked to do.
#[derive(Debug)]
pub enum Action {
    /// Run the server.
    Serve(Box<Config>),
    /// Print the SDL.
    PrintSchema,
    /// Probe `/healthz` on this address.
    Healthcheck(SocketAddr),
}

/// The outcome of reading the command line.
#[derive(Debug)]
pub enum Parsed {
    /// Settings to validate and act on.
    Cli(Box<Cli>),
    /// `--help` or `--version`: text to print as it is, then exit 0.
    Print(String),
}

impl Cli {
    /// Parses arguments and environment. A clap error becomes one line that names the flag,
    /// its allowed values, and the environment variable when the value came from there.
    pub fn parse_from_env() -> Result<Parsed, ConfigError> {
        Self::parse_args(std::env::args_os())
    }

    /// As [`Cli::parse_from_env`], from explicit arguments (environment still applies).
    pub fn parse_args<I, T>(args: I) -> Result<Parsed, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        match Cli::try_parse_from(&args) {
            Ok(cli) => Ok(Parsed::Cli(Box::new(cli))),
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                Ok(Parsed::Print(e.render().to_string()))
            }
            Err(e) => Err(ConfigError(one_line_clap_error(&e, &args))),
        }
    }

    /// Validates the settings and decides what to run.
    pub fn into_action(self) -> Result<Action, ConfigError> {
        match self.command {
            Some(Command::Schema) => return Ok(Action::PrintSchema),
            Some(Command::Healthcheck) => return Ok(Action::Healthcheck(self.server.listen_addr)),
            Some(Command::Serve) | None => {}
        }
        let (upstream, client) = self.stripe.settings()?;
        let (scoping, writer_roles) = self.hasura.roles()?;
        let writes = WriteSettings {
            writer_roles,
            // Without a token, only the sandbox is written to (see WriteSettings).
            without_token: matches!(upstream, Upstream::DemoSandbox),
        };
        Ok(Action::Serve(Box::new(Config {
            upstream,
            client,
            cache: self.cache.settings(),
            http: HttpSettings {
                auth_token: self.server.auth_token()?,
                max_body_bytes: self.server.max_body_bytes(),
                metrics_auth: self.server.metrics_auth,
                scoping,
                writes,
            },
            listen_addr: self.server.listen_addr,
            log_format: self.server.log_format,
            webhook: self.webhook.settings()?,
            hasura: self.hasura.client()?,
            limits: self.limits.settings(),
            redis: self.redis.settings()?,
            mirror: self.mirror.settings(),
        })))
    }
}

/// Renders a clap error as one line: clap's first line, the allowed values when clap knows
/// them, and the environment variable when the bad value came from there (not from a flag on
/// the command line).
fn one_line_clap_error(e: &clap::Error, args: &[OsString]) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    let long = e.get(ContextKind::InvalidArg).map(|arg| {
        arg.to_string()
            .trim_start_matches("--")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    });
    if let Some(ContextValue::Strings(values)) = e.get(ContextKind::ValidValue) {
        if !values.is_empty() {
            line.push_str(&format!("; possible values: {}", values.join(", ")));
        }
    }
    let on_command_line = |long: &str| {
        let flag = format!("--{long}");
        args.iter().skip(1).any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        })
    };
    let env = long.filter(|l| !on_command_line(l)).and_then(|long| {
        Cli::command()
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .and_then(|a| a.get_env())
            .map(|env| env.to_string_lossy().into_owned())
    });
    if let Some(env) = env {
        line.push_str(&format!(" (from the environment variable {env})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use std::{num::NonZeroU32, time::Duration};

    use super::*;
    use crate::{graphql::scope::ScopingSettings, http::MetricsAuth};

    fn parse(args: &[&str]) -> Result<Parsed, ConfigError> {
        let mut argv = vec!["stripe-graphql"];
        argv.extend_from_slice(args);
        Cli::parse_args(argv)
    }

    fn action(args: &[&str]) -> Result<Action, ConfigError> {
        match parse(args)? {
            Parsed::Cli(cli) => cli.into_action(),
            Parsed::Print(text) => panic!("{args:?} printed {text}"),
        }
    }

    #[test]
    fn call_pacing_retries_deadline_and_stale_window_are_settings() {
        let Action::Serve(config) = action(&["--demo"]).unwrap() else {
            panic!("serves")
        };
        assert_eq!(config.client.rate_limit, None, "from the key's mode");
        assert_eq!(config.client.retry.max_retries, 2);
        assert_eq!(config.client.deadline, Duration::from_secs(15));
        assert_eq!(config.cache.stale_if_error, Duration::from_secs(300));

        let Action::Serve(config) = action(&[
            "--demo",
            "--stripe-rate-limit-per-second=5",
            "--stripe-max-retries=0",
            "--stripe-deadline-seconds=3",
            "--cache-stale-if-error-seconds=0",
        ])
        .unwrap() else {
            panic!("serves")
        };
        assert_eq!(config.client.rate_limit, NonZeroU32::new(5));
        assert_eq!(config.client.retry.max_retries, 0);
        assert_eq!(config.client.deadline, Duration::from_secs(3));
        assert_eq!(config.cache.stale_if_error, Duration::ZERO);

        for bad in [
            "--stripe-rate-limit-per-second=0",
            "--stripe-max-retries=11",
            "--stripe-deadline-seconds=0",
        ] {
            assert!(parse(&["--demo", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_request_limits_are_settings_with_their_defaults() {
        let Action::Serve(config) = action(&["--demo"]).unwrap() else {
            panic!("serves")
        };
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.limits.max_stripe_fields, 5_000);
        assert_eq!(config.limits.request_deadline, Duration::from_secs(18));

        let Action::Serve(config) = action(&[
            "--demo",
            "--max-stripe-fields=10",
            "--max-query-depth=4",
            "--max-query-complexity=100",
            "--request-deadline-seconds=2",
            "--max-requests-in-flight=3",
        ])
        .unwrap() else {
            panic!("serves")
        };
        assert_eq!(
            config.limits,
            Limits {
                max_stripe_fields: 10,
                max_query_depth: 4,
                max_query_complexity: 100,
                request_deadline: Duration::from_secs(2),
                max_requests_in_flight: 3,
            }
        );

        for bad in [
            "--max-stripe-fields=0",
            "--max-query-depth=0",
            "--max-query-complexity=0",
            "--request-deadline-seconds=0",
            "--max-requests-in-flight=0",
            "--max-requests-in-flight=many",
        ] {
            assert!(parse(&["--demo", bad]).is_err(), "{bad}");
        }
    }

    fn serves_demo(args: &[&str]) -> bool {
        match action(args) {
            Ok(Action::Serve(config)) => matches!(config.upstream, Upstream::DemoSandbox),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn demo_mode_auto_serves_the_sandbox_only_without_a_key() {
        assert!(serves_demo(&["--demo"]));
        assert!(serves_demo(&["--demo=true"]));
        assert!(serves_demo(&["--demo=auto"]));
        assert!(serves_demo(&["--demo=auto", "--stripe-secret-key="]));
        assert!(!serves_demo(&[
            "--demo=auto",
            "--stripe-secret-key=sk_test_123456789"
        ]));
        assert!(serves_demo(&[
            "--demo",
            "--stripe-secret-key=sk_test_123456789"
        ]));
        assert!(action(&["--demo=false"]).is_err());
        assert!(parse(&["--demo=maybe"]).is_err());
    }

    #[test]
    fn demo_values_are_case_insensitive() {
        for value in ["TRUE", "True", "YES", "On", "1"] {
            assert!(serves_demo(&[&format!("--demo={value}")]), "{value}");
        }
        for value in ["FALSE", "No", "OFF", "0"] {
            let args = [
                format!("--demo={value}"),
                "--stripe-secret-key=sk_test_123456789".to_owned(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(!serves_demo(&args), "{value}");
        }
        assert!(serves_demo(&["--demo=AUTO"]));
    }

    #[test]
    fn a_bad_flag_value_lists_the_allowed_values_and_is_not_blamed_on_the_environment() {
        let err = parse(&["--log-format", "yaml"]).unwrap_err().0;
        assert!(err.contains("invalid value 'yaml'"), "{err}");
        assert!(err.contains("possible values: text, json"), "{err}");
        assert!(!err.contains("environment variable"), "{err}");
        let err = parse(&["--log-format=yaml"]).unwrap_err().0;
        assert!(!err.contains("environment variable"), "{err}");
    }

    #[test]
    fn metrics_auth_defaults_to_the_token_and_lists_its_values_when_wrong() {
        let metrics_auth = |args: &[&str]| match action(args) {
            Ok(Action::Serve(config)) => config.http.metrics_auth,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(metrics_auth(&["--demo"]), MetricsAuth::Token);
        assert_eq!(
            metrics_auth(&["--demo", "--metrics-auth=none"]),
            MetricsAuth::None
        );
        let err = parse(&["--metrics-auth=open"]).unwrap_err().0;
        assert!(err.contains("invalid value 'open'"), "{err}");
        assert!(err.contains("possible values: token, none"), "{err}");
    }

    fn scoping(args: &[&str]) -> Result<ScopingSettings, ConfigError> {
        let mut all = vec!["--demo"];
        all.extend_from_slice(args);
        match action(&all)? {
            Action::Serve(config) => Ok(config.http.scoping),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scoping_is_on_by_default_trusting_admin_on_the_sso_key() {
        assert_eq!(scoping(&[]).unwrap(), ScopingSettings::default());
        let default = ScopingSettings::default();
        assert!(default.enabled);
        assert_eq!(default.trusted_roles, ["admin"]);
        assert_eq!(default.metadata_key, "sso");
        for off in ["off", "OFF", "false", "0", "no"] {
            assert!(
                !scoping(&[&format!("--hasura-scoping={off}")])
                    .unwrap()
                    .enabled
            );
        }
        let err = parse(&["--hasura-scoping=maybe"]).unwrap_err().0;
        assert!(err.contains("possible values: on, off"), "{err}");
        let custom = scoping(&[
            "--hasura-trusted-roles= admin, backoffice ,,",
            "--hasura-scoping-metadata-key=sso_uuid",
        ])
        .unwrap();
        assert_eq!(custom.trusted_roles, ["admin", "backoffice"]);
        assert_eq!(custom.metadata_key, "sso_uuid");
        // Empty counts as unset.
        let empty = scoping(&["--hasura-trusted-roles=", "--hasura-scoping=on"]).unwrap();
        assert_eq!(empty.trusted_roles, ["admin"]);
    }

    #[test]
    fn a_malformed_trusted_role_or_metadata_key_is_refused() {
        let err = scoping(&["--hasura-trusted-roles=admin,back office"])
            .unwrap_err()
            .0;
        assert!(err.starts_with("HASURA_TRUSTED_ROLES"), "{err}");
        for key in ["", "a b", "meta[sso]", &"k".repeat(41)] {
            let err = scoping(&[&format!("--hasura-scoping-metadata-key={key}")])
                .unwrap_err()
                .0;
            assert!(
                err.starts_with("HASURA_SCOPING_METADATA_KEY"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn an_api_base_ending_in_v1_is_refused_at_startup() {
        let err = action(&[
            "--stripe-secret-key=sk_test_123456789",
            "--stripe-api-base=https://api.stripe.com/v1",
        ])
        .unwrap_err()
        .0;
        assert!(err.starts_with("STRIPE_API_BASE"), "{err}");
        assert!(err.contains("/v1"), "{err}");
    }

    #[test]
    fn healthcheck_takes_the_listen_address_after_the_subcommand() {
        match action(&["healthcheck", "--listen-addr", "127.0.0.1:9"]) {
            Ok(Action::Healthcheck(addr)) => assert_eq!(addr.to_string(), "127.0.0.1:9"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_key_never_shows_in_the_config_debug_output() {
        let Ok(Action::Serve(config)) = action(&[
            "--stripe-secret-key=sk_test_supersecret_123",
            "--graphql-auth-token=tok_secret_456",
            "--stripe-webhook-secret=whsec_hushhush_789",
        ]) else {
            panic!("serves")
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(!shown.contains("tok_secret"), "{shown}");
        assert!(!shown.contains("hushhush"), "{shown}");
    }

    fn webhook(args: &[&str]) -> Result<Option<WebhookSettings>, ConfigError> {
        let mut all = vec!["--stripe-secret-key=sk_test_123456789"];
        all.extend_from_slice(args);
        match action(&all)? {
            Action::Serve(config) => Ok(config.webhook),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn webhooks_are_off_without_a_secret_and_on_with_one() {
        assert_eq!(webhook(&[]).unwrap(), None);
        let on = webhook(&["--stripe-webhook-secret=whsec_abc"])
            .unwrap()
            .expect("enabled");
        assert_eq!(on.secret.expose(), "whsec_abc");
        assert_eq!(on.tolerance, crate::events::DEFAULT_TOLERANCE);
        let wide = webhook(&[
            "--stripe-webhook-secret=whsec_abc",
            "--stripe-webhook-tolerance-seconds=600",
        ])
        .unwrap()
        .expect("enabled");
        assert_eq!(wide.tolerance, Duration::from_secs(600));
        // localstripe and other fakes sign with any string.
        assert!(webhook(&["--stripe-webhook-secret=anything"])
            .unwrap()
            .is_some());
    }

    #[test]
    fn an_empty_webhook_secret_disables_webhooks_and_a_spaced_one_is_refused() {
        assert!(webhook(&["--stripe-webhook-secret="]).unwrap().is_none());
        for value in ["  ", "whsec_abc def", "whsec_abc\n"] {
            let err = webhook(&[&format!("--stripe-webhook-secret={value}")])
                .unwrap_err()
                .0;
            assert!(err.contains("whitespace"), "{value:?}: {err}");
            assert!(!err.contains("abc"), "{err}");
        }
        assert!(parse(&["--stripe-webhook-tolerance-seconds=0"]).is_err());
    }

    #[test]
    fn every_secret_with_whitespace_is_refused_without_being_shown() {
        for (flag, name) in [
            ("--stripe-secret-key", "STRIPE_SECRET_KEY"),
            ("--graphql-auth-token", "GRAPHQL_AUTH_TOKEN"),
            ("--hasura-admin-secret", "HASURA_ADMIN_SECRET"),
        ] {
            let err = action(&[
                "--demo",
                &format!("{flag}=hush hush"),
                "--hasura-graphql-url=http://hasura:8080/v1/graphql",
            ])
            .unwrap_err()
            .0;
            assert!(err.starts_with(name), "{flag}: {err}");
            assert!(!err.contains("hush"), "{flag}: {err}");
        }
    }

    #[test]
    fn the_phone_default_region_is_a_region_libphonenumber_knows_or_unset() {
        let hasura = |region: &str| {
            action(&[
                "--demo",
                "--hasura-graphql-url=http://hasura:8080/v1/graphql",
                "--hasura-admin-secret=s",
                &format!("--phone-default-region={region}"),
            ])
        };
        let region = |value: &str| match hasura(value) {
            Ok(Action::Serve(config)) => config.hasura.unwrap().phone_default_region,
            other => panic!("{value}: {other:?}"),
        };
        assert_eq!(region(""), None);
        assert_eq!(region("us").unwrap().as_str(), "US");
        assert_eq!(region(" GB ").unwrap().as_str(), "GB");
        for bad in ["USA", "XX", "1"] {
            let err = hasura(bad).unwrap_err().0;
            assert!(err.starts_with("PHONE_DEFAULT_REGION"), "{bad}: {err}");
        }
        // Checked even without Hasura, so a typo shows at once.
        let err = action(&["--demo", "--phone-default-region=XX"])
            .unwrap_err()
            .0;
        assert!(err.starts_with("PHONE_DEFAULT_REGION"), "{err}");
    }

    #[test]
    fn the_unauthorized_role_is_optional_and_never_trusted_or_a_writer() {
        assert_eq!(scoping(&[]).unwrap().unauthorized_role, None);
        assert_eq!(
            scoping(&["--hasura-unauthorized-role="])
                .unwrap()
                .unauthorized_role,
            None
        );
        assert_eq!(
            scoping(&["--hasura-unauthorized-role=anonymous"])
                .unwrap()
                .unauthorized_role
                .as_deref(),
            Some("anonymous")
        );
        for clash in [
            "--hasura-trusted-roles=admin,anonymous",
            "--hasura-writer-roles=anonymous",
        ] {
            let err = scoping(&["--hasura-unauthorized-role=anonymous", clash])
                .unwrap_err()
                .0;
            assert!(
                err.starts_with("HASURA_UNAUTHORIZED_ROLE `anonymous`"),
                "{err}"
            );
        }
        let err = scoping(&["--hasura-unauthorized-role=anon ymous"])
            .unwrap_err()
            .0;
        assert!(err.starts_with("HASURA_UNAUTHORIZED_ROLE"), "{err}");
    }
}
