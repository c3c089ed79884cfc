//! Command line and environment configuration.
//!
//! Every setting is a flag with an environment-variable fallback (`--help` lists both). The
//! raw [`Cli`] is checked once by [`Cli::into_command`]; a missing or malformed setting
//! becomes one [`ConfigError`] line and a non-zero exit, before anything starts.

use std::{fmt, net::SocketAddr, time::Duration};

use clap::{error::ContextKind, error::ErrorKind, CommandFactory, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::stripe::DEFAULT_API_VERSION;

/// A secret that never shows in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretString(secret.into())
    }

    /// The secret itself. Call it only where the value is sent, never where it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(redacted)")
    }
}

impl std::str::FromStr for SecretString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretString(s.to_owned()))
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When to serve the embedded sandbox instead of Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoMode {
    /// Always.
    #[value(alias = "1", alias = "yes", alias = "on")]
    True,
    /// Only when no Stripe key is configured.
    Auto,
    /// Never: a Stripe key is required.
    #[value(alias = "0", alias = "no", alias = "off")]
    False,
}

/// stripe-graphql: Stripe customers, subscriptions, prices, plans and products over GraphQL,
/// cached, for Hasura v2 remote schemas and direct clients.
#[derive(Debug, Parser)]
#[command(name = "stripe-graphql", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Serve the embedded sandbox (an in-process fake Stripe with demo data) instead of
    /// Stripe: `--demo` or `true` always, `auto` when STRIPE_SECRET_KEY is unset or empty
    /// (what docker-compose uses), `false` never.
    #[arg(long, env = "DEMO", value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = DemoMode::False, value_name = "MODE")]
    pub demo: DemoMode,

    /// Stripe secret (sk_…) or restricted (rk_…) key. Required unless --demo. An empty value
    /// counts as unset.
    #[arg(
        long,
        env = "STRIPE_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub stripe_secret_key: Option<SecretString>,

    /// Base URL of the Stripe API (point it at a fake for tests).
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        value_name = "URL"
    )]
    pub stripe_api_base: String,

    /// Stripe-Version header sent on every call.
    #[arg(long, env = "STRIPE_API_VERSION", default_value = DEFAULT_API_VERSION, value_name = "VERSION")]
    pub stripe_api_version: String,

    /// Seconds before a Stripe call is abandoned (connect included).
    #[arg(long, env = "STRIPE_TIMEOUT_SECONDS", default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub stripe_timeout_seconds: u64,

    /// Most Stripe calls in flight at once, across all requests (Stripe allows 25 req/s in test
    /// mode and 100 in live mode).
    #[arg(long, env = "STRIPE_MAX_CONCURRENCY", default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=256))]
    pub stripe_max_concurrency: u64,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "0.0.0.0:8000",
        value_name = "ADDR"
    )]
    pub listen_addr: SocketAddr,

    /// When set, every GraphQL request must carry `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "GRAPHQL_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub graphql_auth_token: Option<SecretString>,

    /// Seconds a Stripe object or list stays cached (0 disables caching; concurrent identical
    /// calls are still coalesced).
    #[arg(
        long,
        env = "CACHE_TTL_SECONDS",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub cache_ttl_seconds: u64,

    /// Seconds a "does not exist" answer stays cached.
    #[arg(
        long,
        env = "CACHE_NOT_FOUND_TTL_SECONDS",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub cache_not_found_ttl_seconds: u64,

    /// Most cached entries (objects and list pages) kept at once.
    #[arg(long, env = "CACHE_MAX_ENTRIES", default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_entries: u64,

    /// Largest accepted request body, in bytes (a Hasura join with thousands of aliases is
    /// a few megabytes).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_body_bytes: u64,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the GraphQL schema (SDL) to standard output.
    Schema,
    /// Exit 0 if the server on LISTEN_ADDR answers GET /healthz with 200 (for container
    /// health checks; needs no shell or curl).
    Healthcheck,
}

/// A setting that is missing or malformed. Displayed as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the Stripe API is and how to call it; `None` in demo mode until the sandbox runs.
    pub stripe: Option<StripeSettings>,
    /// Serve the embedded sandbox.
    pub demo: bool,
    /// Listen address.
    pub listen_addr: SocketAddr,
    /// Bearer token required on `/graphql`, if any.
    pub auth_token: Option<SecretString>,
    /// Stripe-Version header.
    pub api_version: String,
    /// Per-call timeout.
    pub stripe_timeout: Duration,
    /// Concurrency bound on Stripe calls.
    pub stripe_max_concurrency: usize,
    /// Cache settings.
    pub cache: CacheSettings,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Log format.
    pub log_format: LogFormat,
}

/// Stripe endpoint and key.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// Base URL.
    pub api_base: Url,
    /// Secret key.
    pub secret_key: SecretString,
}

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// TTL of found objects and list pages.
    pub ttl: Duration,
    /// TTL of "does not exist" answers.
    pub not_found_ttl: Duration,
    /// Entry bound.
    pub max_entries: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::from_secs(60),
            not_found_ttl: Duration::from_secs(10),
            max_entries: 10_000,
        }
    }
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

impl Cli {
    /// Parses arguments and environment; on a clap error returns it as one line (help and
    /// version requests are returned as `Ok(Err(text))` to be printed as they are).
    pub fn parse_from_env() -> Result<Result<Cli, String>, ConfigError> {
        Self::parse_args(std::env::args_os())
    }

    /// As [`Cli::parse_from_env`], from explicit arguments (environment still applies).
    pub fn parse_args<I, T>(args: I) -> Result<Result<Cli, String>, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        match Cli::try_parse_from(args) {
            Ok(cli) => Ok(Ok(cli)),
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                Ok(Err(e.render().to_string()))
            }
            Err(e) => Err(ConfigError(one_line_clap_error(&e))),
        }
    }

    /// Validates the settings and decides what to run.
    pub fn into_action(self) -> Result<Action, ConfigError> {
        match self.command {
            Some(Command::Schema) => return Ok(Action::PrintSchema),
            Some(Command::Healthcheck) => return Ok(Action::Healthcheck(self.listen_addr)),
            Some(Command::Serve) | None => {}
        }
        let api_version = self.stripe_api_version.trim().to_owned();
        if !is_api_version(&api_version) {
            return Err(ConfigError(format!(
                "STRIPE_API_VERSION `{api_version}` is not a Stripe API version (expected e.g. {DEFAULT_API_VERSION})"
            )));
        }
        let key = self
            .stripe_secret_key
            .filter(|k| !k.expose().trim().is_empty());
        let demo = match self.demo {
            DemoMode::True => true,
            DemoMode::False => false,
            DemoMode::Auto => key.is_none(),
        };
        let stripe = if demo {
            None
        } else {
            let key = key.ok_or_else(|| {
                ConfigError(
                    "STRIPE_SECRET_KEY is required (or pass --demo to serve the embedded sandbox)"
                        .into(),
                )
            })?;
            check_key(key.expose())?;
            let api_base = Url::parse(self.stripe_api_base.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "STRIPE_API_BASE `{}` is not an http(s) URL",
                        self.stripe_api_base
                    ))
                })?;
            Some(StripeSettings {
                api_base,
                secret_key: key,
            })
        };
        let auth_token = self.graphql_auth_token.filter(|t| !t.expose().is_empty());
        if let Some(token) = &auth_token {
            if token
                .expose()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ConfigError(
                    "GRAPHQL_AUTH_TOKEN must not contain whitespace".into(),
                ));
            }
        }
        Ok(Action::Serve(Box::new(Config {
            stripe,
            demo,
            listen_addr: self.listen_addr,
            auth_token,
            api_version,
            stripe_timeout: Duration::from_secs(self.stripe_timeout_seconds),
            stripe_max_concurrency: self.stripe_max_concurrency as usize,
            cache: CacheSettings {
                ttl: Duration::from_secs(self.cache_ttl_seconds),
                not_found_ttl: Duration::from_secs(self.cache_not_found_ttl_seconds),
                max_entries: self.cache_max_entries,
            },
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
            log_format: self.log_format,
        })))
    }
}

/// `YYYY-MM-DD` optionally followed by `.name` (e.g. `2026-07-29.dahlia`, `2020-08-27`).
pub fn is_api_version(v: &str) -> bool {
    let (date, name) = match v.split_once('.') {
        Some((d, n)) => (d, Some(n)),
        None => (v, None),
    };
    let b = date.as_bytes();
    let date_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    date_ok && name.is_none_or(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_lowercase()))
}

fn check_key(key: &str) -> Result<(), ConfigError> {
    let known_prefix = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .any(|p| key.starts_with(p));
    if !known_prefix
        || key.len() < 12
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ConfigError(
            "STRIPE_SECRET_KEY is malformed: expected a secret (sk_test_…/sk_live_…) or restricted (rk_…) key".into(),
        ));
    }
    Ok(())
}

/// Renders a clap error as one line that names both the flag and its environment variable.
fn one_line_clap_error(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim();
    let first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    let env = e.get(ContextKind::InvalidArg).and_then(|arg| {
        let flag = arg.to_string();
        let long: String = flag
            .trim_start_matches("--")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Cli::command()
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .and_then(|a| a.get_env())
            .map(|env| env.to_string_lossy().into_owned())
    });
    match env {
        Some(env) => format!("{first} (environment variable {env})"),
        None => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_output_is_redacted() {
        let s = SecretString::new("sk_test_supersecret");
        assert!(!format!("{s:?}").contains("supersecret"));
    }

    #[test]
    fn recognises_stripe_api_versions() {
        for ok in ["2026-07-29.dahlia", "2025-03-31.basil", "2020-08-27"] {
            assert!(is_api_version(ok), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "2026-7-29.dahlia",
            "2026-07-29.",
            "2026-07-29.Dahlia",
            "2026/07/29",
        ] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }

    fn action(args: &[&str]) -> Result<Action, ConfigError> {
        let mut argv = vec!["stripe-graphql"];
        argv.extend_from_slice(args);
        Cli::parse_args(argv).unwrap().unwrap().into_action()
    }

    fn serves_demo(args: &[&str]) -> bool {
        match action(args) {
            Ok(Action::Serve(config)) => config.demo,
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
        assert!(Cli::parse_args(["stripe-graphql", "--demo=maybe"]).is_err());
    }

    #[test]
    fn recognises_key_shapes() {
        assert!(check_key("sk_test_51Abc").is_ok());
        assert!(check_key("rk_live_51Abcdef").is_ok());
        assert!(check_key("pk_test_51Abcdef").is_err());
        assert!(check_key("sk_test_ab cd").is_err());
        assert!(check_key("sk_test_").is_err());
    }
}
