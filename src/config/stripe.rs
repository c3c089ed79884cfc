//! Where Stripe is and how it is called: `DEMO`, `STRIPE_*`.

use std::{num::NonZeroU32, time::Duration};

use clap::{Args, ValueEnum};

use super::{
    text::{word, Shown},
    ConfigError, Upstream,
};
use crate::{
    secret::SecretString,
    stripe::{self, retry::RetryPolicy, ClientSettings, Endpoint, DEFAULT_API_VERSION},
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

/// Stripe settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Stripe")]
pub struct StripeArgs {
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

    /// Seconds before one attempt of a Stripe call is abandoned (connect included).
    #[arg(long, env = "STRIPE_TIMEOUT_SECONDS", default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub stripe_timeout_seconds: u64,

    /// Most Stripe calls in flight at once, across all requests (Stripe allows 25 req/s in test
    /// mode and 100 in live mode).
    #[arg(long, env = "STRIPE_MAX_CONCURRENCY", default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=256))]
    pub stripe_max_concurrency: u64,

    /// Most Stripe calls started per second for the account, across all requests (calls
    /// beyond it queue). Default: Stripe's own limit for the key's mode, 25 for test keys and
    /// 100 for live keys.
    #[arg(long, env = "STRIPE_RATE_LIMIT_PER_SECOND", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub stripe_rate_limit_per_second: Option<u32>,

    /// Most Stripe calls started per second to each endpoint (`GET /v1/customers/{id}` for
    /// every id is one), on top of the account's limit: Stripe's default, 25. The search
    /// endpoints share the lesser of 20 and this.
    #[arg(long, env = "STRIPE_ENDPOINT_RATE_LIMIT_PER_SECOND", value_name = "N",
          default_value_t = crate::stripe::limiter::DEFAULT_ENDPOINT_RATE,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub stripe_endpoint_rate_limit_per_second: u32,

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
}

impl StripeArgs {
    /// Where Stripe calls go (the sandbox under `--demo`, else Stripe with a well-formed key)
    /// and how they are made.
    pub fn settings(self) -> Result<(Upstream, ClientSettings), ConfigError> {
        let api_version = self.stripe_api_version.trim().to_owned();
        if !stripe::is_api_version(&api_version) {
            return Err(ConfigError(format!(
                "STRIPE_API_VERSION `{api_version}` is not a Stripe API version (expected e.g. {DEFAULT_API_VERSION})"
            )));
        }
        let key = word(
            "STRIPE_SECRET_KEY",
            self.stripe_secret_key.as_ref().map(SecretString::expose),
            Shown::Secret,
            "",
        )?
        .map(SecretString::new);
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
        let client = ClientSettings {
            api_version,
            timeout: Duration::from_secs(self.stripe_timeout_seconds),
            max_concurrency: self.stripe_max_concurrency as usize,
            rate_limit: self.stripe_rate_limit_per_second.and_then(NonZeroU32::new),
            endpoint_rate_limit: NonZeroU32::new(self.stripe_endpoint_rate_limit_per_second)
                .unwrap_or(NonZeroU32::MIN),
            retry: RetryPolicy {
                max_retries: self.stripe_max_retries,
                ..RetryPolicy::default()
            },
            deadline: Duration::from_secs(self.stripe_deadline_seconds),
        };
        Ok((upstream, client))
    }
}
