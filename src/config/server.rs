//! The server itself: where it listens, who may call it, what it logs.

use std::net::SocketAddr;

use clap::Args;

use super::{
    text::{word, Shown},
    ConfigError,
};
use crate::{http::MetricsAuth, secret::SecretString, telemetry::LogFormat};

/// Server settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// Address and port to listen on (for `healthcheck`: the address to probe).
    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "0.0.0.0:8000",
        value_name = "ADDR",
        global = true
    )]
    pub listen_addr: SocketAddr,

    /// When set, every request to /graphql (and /hasura/events, and /metrics unless
    /// METRICS_AUTH=none) must carry `Authorization: Bearer <token>`. Empty counts as unset.
    #[arg(
        long,
        env = "GRAPHQL_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub graphql_auth_token: Option<SecretString>,

    /// Largest accepted request body on every POST route, in bytes (a Hasura join with
    /// thousands of aliases is a few megabytes); larger ones are answered 413 with a JSON body.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_body_bytes: u64,

    /// Who may read GET /metrics: `token` needs the GRAPHQL_AUTH_TOKEN bearer token when one
    /// is set (open when none is), `none` leaves it open for a scraper on a private network.
    #[arg(long, env = "METRICS_AUTH", value_enum, default_value_t = MetricsAuth::Token)]
    pub metrics_auth: MetricsAuth,

    /// Log format: human-readable lines or one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServerArgs {
    /// The bearer token, checked ([`super::text::word`]: empty is unset, whitespace is refused).
    pub fn auth_token(&self) -> Result<Option<SecretString>, ConfigError> {
        let token = word(
            "GRAPHQL_AUTH_TOKEN",
            self.graphql_auth_token.as_ref().map(SecretString::expose),
            Shown::Secret,
            "",
        )?;
        Ok(token.map(SecretString::new))
    }

    /// The body bound as a `usize` (saturating on a 32-bit target).
    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }
}
