//! Command line and environment configuration.
//!
//! Every setting is a flag with an environment-variable fallback (`--help` lists both). The
//! raw [`Cli`] is checked once by [`Cli::into_action`]; a missing or malformed setting
//! becomes one [`ConfigError`] line and a non-zero exit, before anything starts. The settings
//! types themselves live beside the code they configure ([`crate::stripe::ClientSettings`],
//! [`crate::cache::CacheSettings`], [`crate::http::HttpSettings`],
//! [`crate::telemetry::LogFormat`]); [`Config`] only gathers them.

use std::{ffi::OsString, net::SocketAddr, num::NonZeroU32, time::Duration};

use clap::{
    error::{ContextKind, ContextValue, ErrorKind},
    CommandFactory, Parser, Subcommand, ValueEnum,
};

use crate::{
    cache::CacheSettings,
    graphql::{
        scope::{
            ScopingSettings, DEFAULT_METADATA_KEY, DEFAULT_TRUSTED_ROLE, MAX_METADATA_KEY_LEN,
        },
        write::{WriteSettings, DEFAULT_WRITER_ROLE},
    },
    hasura::HasuraSettings,
    http::{HttpSettings, MetricsAuth},
    limits::{self, Limits},
    secret::SecretString,
    stripe::{self, retry::RetryPolicy, ClientSettings, Endpoint, DEFAULT_API_VERSION},
    telemetry::LogFormat,
    webhook::WebhookSettings,
};

/// When to serve the embedded sandbox instead of Stripe. Case-insensitive; `1`/`yes`/`on`
/// mean `true`, `0`/`no`/`off` mean `false`.
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

/// `HASURA_SCOPING`: on or off. Case-insensitive; `true`/`1`/`yes` and `false`/`0`/`no` work
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    #[value(alias = "true", alias = "1", alias = "yes")]
    On,
    /// Off.
    #[value(alias = "false", alias = "0", alias = "no")]
    Off,
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
    /// (what docker-compose uses), `false` never. Case-insensitive; 1/yes/on and 0/no/off
    /// work too.
    #[arg(long, env = "DEMO", value_enum, num_args = 0..=1, require_equals = true,
          ignore_case = true, default_missing_value = "true", default_value_t = DemoMode::False,
          value_name = "MODE")]
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

    /// Base URL of the Stripe API, without /v1 (point it at a fake for tests).
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

    /// Most Stripe calls started per second, across all requests (calls beyond it queue).
    /// Default: Stripe's own limit for the key's mode, 25 for test keys and 100 for live keys.
    #[arg(long, env = "STRIPE_RATE_LIMIT_PER_SECOND", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub stripe_rate_limit_per_second: Option<u32>,

    /// Retries of a failed Stripe call (429, 409, 5xx, connection failures, or when Stripe
    /// sends `Stripe-Should-Retry: true`), with exponential backoff from 0.5 s and jitter.
    #[arg(long, env = "STRIPE_MAX_RETRIES", default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub stripe_max_retries: u32,

    /// Seconds one Stripe call may take in all: queueing for the rate limit, every attempt
    /// and the backoffs between them. Keep it below Hasura's remote-schema timeout.
    #[arg(long, env = "STRIPE_DEADLINE_SECONDS", default_value_t = 15, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub stripe_deadline_seconds: u64,

    /// Address and port to listen on (for `healthcheck`: the address to probe).
    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "0.0.0.0:8000",
        value_name = "ADDR",
        global = true
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

    /// Seconds past its TTL that a cached value is kept to be served when Stripe fails
    /// (after retries) with an outage, a timeout, a rate limit or a non-JSON answer:
    /// stale-if-error. 0 disables.
    #[arg(
        long,
        env = "CACHE_STALE_IF_ERROR_SECONDS",
        default_value_t = 300,
        value_name = "SECONDS"
    )]
    pub cache_stale_if_error_seconds: u64,

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

    /// Signing secret (whsec_…) of the Stripe webhook endpoint. When set, POST
    /// /webhooks/stripe accepts signed events and evicts what they make stale; unset, that
    /// route answers 404.
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub stripe_webhook_secret: Option<SecretString>,

    /// Hasura's GraphQL endpoint (e.g. http://hasura:8080/v1/graphql), for the profile
    /// write-back (ensureStripeCustomer, POST /hasura/events, lifecycle dates from webhooks).
    /// Empty counts as unset; needs HASURA_ADMIN_SECRET.
    #[arg(long, env = "HASURA_GRAPHQL_URL", value_name = "URL")]
    pub hasura_graphql_url: Option<String>,

    /// Hasura's admin secret, sent with a narrow x-hasura-role on every call. Empty counts as
    /// unset.
    #[arg(
        long,
        env = "HASURA_ADMIN_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub hasura_admin_secret: Option<SecretString>,

    /// Seconds a webhook signature's timestamp may be from this server's clock, either way.
    #[arg(long, env = "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default_value_t = 300,
          value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stripe_webhook_tolerance_seconds: u64,

    /// Who may read GET /metrics: `token` needs the GRAPHQL_AUTH_TOKEN bearer token when one
    /// is set (open when none is), `none` leaves it open for a scraper on a private network.
    #[arg(long, env = "METRICS_AUTH", value_enum, default_value_t = MetricsAuth::Token)]
    pub metrics_auth: MetricsAuth,

    /// Data scoping for Hasura roles: a request whose x-hasura-role is not trusted gets
    /// `customer(id)` only for the customer whose metadata names its x-hasura-user-id, and no
    /// list root fields. `off` for deployments that scope elsewhere.
    #[arg(long, env = "HASURA_SCOPING", value_enum, ignore_case = true,
          default_value_t = OnOff::On, value_name = "ON_OFF")]
    pub hasura_scoping: OnOff,

    /// Comma-separated Hasura roles served without scoping when the request carries the
    /// bearer token. Empty counts as unset.
    #[arg(long, env = "HASURA_TRUSTED_ROLES", default_value = DEFAULT_TRUSTED_ROLE, value_name = "ROLES")]
    pub hasura_trusted_roles: String,

    /// Comma-separated Hasura roles that may run mutations (a request with the bearer token
    /// and no x-hasura-role may too). Empty counts as unset.
    #[arg(long, env = "HASURA_WRITER_ROLES", default_value = DEFAULT_WRITER_ROLE, value_name = "ROLES")]
    pub hasura_writer_roles: String,

    /// The Stripe customer metadata key whose value must equal x-hasura-user-id.
    #[arg(long, env = "HASURA_SCOPING_METADATA_KEY", default_value = DEFAULT_METADATA_KEY, value_name = "KEY")]
    pub hasura_scoping_metadata_key: String,
    /// Most fields that can call Stripe in one GraphQL operation (root lookups and lists, and
    /// nested lookups, each alias and each appearance once). Over it, one error coded
    /// QUERY_BUDGET_EXCEEDED before any Stripe call.
    #[arg(long, env = "MAX_STRIPE_FIELDS", default_value_t = limits::DEFAULT_MAX_STRIPE_FIELDS as u64,
          value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_stripe_fields: u64,

    /// Deepest selection accepted (QUERY_TOO_DEEP beyond it).
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = limits::DEFAULT_MAX_QUERY_DEPTH as u64,
          value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub max_query_depth: u64,

    /// Most fields one operation may select, 1 per field (QUERY_TOO_COMPLEX beyond it).
    #[arg(long, env = "MAX_QUERY_COMPLEXITY",
          default_value_t = limits::DEFAULT_MAX_QUERY_COMPLEXITY as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_query_complexity: u64,

    /// Seconds to answer one GraphQL request; past it, an error coded REQUEST_TIMEOUT. Keep it
    /// below Hasura's remote-schema timeout (20 s in hasura/).
    #[arg(long, env = "REQUEST_DEADLINE_SECONDS",
          default_value_t = limits::DEFAULT_REQUEST_DEADLINE.as_secs(), value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_deadline_seconds: u64,

    /// Most GraphQL requests answered at once; past it, 503 coded OVERLOADED with
    /// Retry-After: 1, at once.
    #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT",
          default_value_t = limits::DEFAULT_MAX_REQUESTS_IN_FLIGHT as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_requests_in_flight: u64,
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

/// A setting that is missing or malformed. Displayed as one line.
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

/// The validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Stripe calls go.
    pub upstream: Upstream,
    /// How Stripe is called (version, timeout, concurrency).
    pub client: ClientSettings,
    /// Cache bounds.
    pub cache: CacheSettings,
    /// HTTP-layer settings (bearer token, body limit).
    pub http: HttpSettings,
    /// Listen address.
    pub listen_addr: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// The webhook endpoint's secret and tolerance; `None` disables `POST /webhooks/stripe`.
    pub webhook: Option<WebhookSettings>,
    /// Where Hasura is, for the profile write-back; `None` disables it.
    pub hasura: Option<HasuraSettings>,
    /// What one request may cost, and how many run at once.
    pub limits: Limits,
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
            Some(Command::Healthcheck) => return Ok(Action::Healthcheck(self.listen_addr)),
            Some(Command::Serve) | None => {}
        }
        let api_version = self.stripe_api_version.trim().to_owned();
        if !stripe::is_api_version(&api_version) {
            return Err(ConfigError(format!(
                "STRIPE_API_VERSION `{api_version}` is not a Stripe API version (expected e.g. {DEFAULT_API_VERSION})"
            )));
        }
        let key = self.stripe_secret_key.filter(|k| !k.is_blank());
        let demo = match self.demo {
            DemoMode::True => true,
            DemoMode::False => false,
            DemoMode::Auto => key.is_none(),
        };
        let upstream = if demo {
            Upstream::DemoSandbox
        } else {
            let key = key.ok_or_else(|| {
                ConfigError(
                    "STRIPE_SECRET_KEY is required (or pass --demo to serve the embedded sandbox)"
                        .into(),
                )
            })?;
            if !stripe::is_secret_key(key.expose()) {
                return Err(ConfigError(
                    "STRIPE_SECRET_KEY is malformed: expected a secret (sk_test_…/sk_live_…) or restricted (rk_…) key".into(),
                ));
            }
            Upstream::Stripe(Endpoint {
                api_base: stripe::parse_api_base(&self.stripe_api_base).map_err(ConfigError)?,
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
        let webhook = match self.stripe_webhook_secret {
            // Empty counts as unset, as for the key and the token (docker-compose passes
            // `${STRIPE_WEBHOOK_SECRET:-}`).
            None => None,
            Some(secret) if secret.is_blank() => None,
            Some(secret) => {
                if secret
                    .expose()
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(ConfigError(
                        "STRIPE_WEBHOOK_SECRET must not contain whitespace (copy the signing secret whsec_… exactly)".into(),
                    ));
                }
                Some(WebhookSettings {
                    secret,
                    tolerance: Duration::from_secs(self.stripe_webhook_tolerance_seconds),
                })
            }
        };
        let hasura = hasura_settings(self.hasura_graphql_url.as_deref(), self.hasura_admin_secret)?;
        let scoping = scoping_settings(
            self.hasura_scoping,
            &self.hasura_trusted_roles,
            &self.hasura_scoping_metadata_key,
        )?;
        let writes = WriteSettings {
            writer_roles: role_list(
                "HASURA_WRITER_ROLES",
                &self.hasura_writer_roles,
                DEFAULT_WRITER_ROLE,
            )?,
            without_token: matches!(upstream, Upstream::DemoSandbox),
        };
        Ok(Action::Serve(Box::new(Config {
            upstream,
            client: ClientSettings {
                api_version,
                timeout: Duration::from_secs(self.stripe_timeout_seconds),
                max_concurrency: self.stripe_max_concurrency as usize,
                rate_limit: self.stripe_rate_limit_per_second.and_then(NonZeroU32::new),
                retry: RetryPolicy {
                    max_retries: self.stripe_max_retries,
                    ..RetryPolicy::default()
                },
                deadline: Duration::from_secs(self.stripe_deadline_seconds),
            },
            cache: CacheSettings {
                ttl: Duration::from_secs(self.cache_ttl_seconds),
                not_found_ttl: Duration::from_secs(self.cache_not_found_ttl_seconds),
                stale_if_error: Duration::from_secs(self.cache_stale_if_error_seconds),
                max_entries: self.cache_max_entries,
            },
            http: HttpSettings {
                auth_token,
                max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
                metrics_auth: self.metrics_auth,
                scoping,
                writes,
            },
            listen_addr: self.listen_addr,
            log_format: self.log_format,
            webhook,
            hasura,
            limits: Limits {
                max_stripe_fields: to_usize(self.max_stripe_fields),
                max_query_depth: to_usize(self.max_query_depth),
                max_query_complexity: to_usize(self.max_query_complexity),
                request_deadline: Duration::from_secs(self.request_deadline_seconds),
                max_requests_in_flight: to_usize(self.max_requests_in_flight),
            },
        })))
    }
}

/// Checks the scoping settings: role names and the metadata key are non-empty and hold no
/// whitespace or control characters; the key fits Stripe's 40 characters and has no `[` or
/// `]`. An empty role list means the default (`admin`), as an empty variable means unset.
fn scoping_settings(
    enabled: OnOff,
    trusted_roles: &str,
    metadata_key: &str,
) -> Result<ScopingSettings, ConfigError> {
    let bad = |c: char| c.is_whitespace() || c.is_control();
    let roles = role_list("HASURA_TRUSTED_ROLES", trusted_roles, DEFAULT_TRUSTED_ROLE)?;
    let key = metadata_key.trim();
    if key.is_empty()
        || key.chars().count() > MAX_METADATA_KEY_LEN
        || key.chars().any(|c| bad(c) || c == '[' || c == ']')
    {
        return Err(ConfigError(format!(
            "HASURA_SCOPING_METADATA_KEY must be a Stripe metadata key: 1 to {MAX_METADATA_KEY_LEN} characters, without spaces, control characters or brackets"
        )));
    }
    Ok(ScopingSettings {
        enabled: enabled == OnOff::On,
        trusted_roles: roles,
        metadata_key: key.to_owned(),
    })
}

/// Checks `HASURA_GRAPHQL_URL` and `HASURA_ADMIN_SECRET`: both or neither (empty counts as
/// unset), the URL http(s) with a host.
fn hasura_settings(
    url: Option<&str>,
    secret: Option<SecretString>,
) -> Result<Option<HasuraSettings>, ConfigError> {
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    let secret = secret.filter(|s| !s.is_blank());
    match (url, secret) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError(
            "HASURA_GRAPHQL_URL is set but HASURA_ADMIN_SECRET is not: the profile write-back needs both".into(),
        )),
        (None, Some(_)) => Err(ConfigError(
            "HASURA_ADMIN_SECRET is set but HASURA_GRAPHQL_URL is not: the profile write-back needs both".into(),
        )),
        (Some(raw), Some(secret)) => {
            let url = url::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "HASURA_GRAPHQL_URL `{raw}` is not an http(s) URL (e.g. http://hasura:8080/v1/graphql)"
                    ))
                })?;
            Ok(Some(HasuraSettings {
                url,
                admin_secret: secret,
                timeout: Duration::from_secs(10),
            }))
        }
    }
}

/// A comma-separated list of Hasura role names from the variable `name`: each non-empty and
/// without whitespace or control characters; an empty list means `default`, as an empty
/// variable means unset.
fn role_list(name: &str, raw: &str, default: &str) -> Result<Vec<String>, ConfigError> {
    let mut roles: Vec<String> = Vec::new();
    for role in raw.split(',').map(str::trim) {
        if role.is_empty() {
            continue;
        }
        if role.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError(format!(
                "{name}: `{role}` is not a role name (no spaces or control characters; separate roles with commas)"
            )));
        }
        roles.push(role.to_owned());
    }
    if roles.is_empty() {
        roles.push(default.to_owned());
    }
    Ok(roles)
}

/// A bounded setting as a `usize` (saturating on a 32-bit target).
fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
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
    use super::*;

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
        assert_eq!(on.tolerance, crate::webhook::DEFAULT_TOLERANCE);
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
        for value in ["", "  "] {
            let settings = webhook(&[&format!("--stripe-webhook-secret={value}")]).unwrap();
            assert!(settings.is_none(), "{value:?}");
        }
        let err = webhook(&["--stripe-webhook-secret=whsec_abc def"])
            .unwrap_err()
            .0;
        assert!(err.contains("whitespace"), "{err}");
        assert!(!err.contains("abc"), "{err}");
        assert!(parse(&["--stripe-webhook-tolerance-seconds=0"]).is_err());
    }
}
