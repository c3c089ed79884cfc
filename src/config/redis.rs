//! The level several replicas share: `REDIS_*`.

use std::{num::NonZeroU32, time::Duration};

use clap::Args;

use super::{
    hasura::OnOff,
    text::{word, Shown},
    ConfigError,
};
use crate::{secret::SecretString, shared::RedisSettings};

/// Redis settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Redis (several replicas)")]
pub struct RedisArgs {
    /// Redis (7 or later, or Valkey) shared by every replica: a second cache level behind each
    /// replica's own, with fills coalesced and invalidations spread across replicas.
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; for a Redis Cluster,
    /// one or more seed nodes separated by commas, with REDIS_CLUSTER=on. Unset (the default),
    /// each replica caches alone. Empty counts as unset.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_name = "URL")]
    pub redis_url: Option<SecretString>,

    /// Whether REDIS_URL is a Redis Cluster.
    #[arg(long, env = "REDIS_CLUSTER", value_enum, ignore_case = true,
          default_value_t = OnOff::Off, value_name = "ON_OFF")]
    pub redis_cluster: OnOff,

    /// The first part of every Redis key, to share one Redis with other applications (the
    /// Stripe mode and a fingerprint of the key follow, so two accounts never mix).
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        default_value = "stripe-graphql",
        value_name = "PREFIX"
    )]
    pub redis_key_prefix: String,

    /// Milliseconds one Redis command may take; past it, the request goes on without Redis.
    #[arg(long, env = "REDIS_TIMEOUT_MILLISECONDS", default_value_t = 250, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub redis_timeout_milliseconds: u64,

    /// How many replicas run, to divide Stripe's limits among them while Redis does not
    /// answer (with Redis, the replicas take from one budget kept there).
    #[arg(long, env = "REDIS_EXPECTED_REPLICAS", default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub redis_expected_replicas: u32,
}

impl RedisArgs {
    /// The shared level's settings; `None` without `REDIS_URL`.
    pub fn settings(&self) -> Result<Option<RedisSettings>, ConfigError> {
        let url = word(
            "REDIS_URL",
            self.redis_url.as_ref().map(SecretString::expose),
            Shown::Secret,
            " (separate a cluster's seed nodes with commas, without spaces)",
        )?;
        let Some(url) = url else {
            return Ok(None);
        };
        let cluster = self.redis_cluster == OnOff::On;
        for node in url.split(',') {
            let scheme_ok = node.starts_with("redis://") || node.starts_with("rediss://");
            if !scheme_ok || ::redis::IntoConnectionInfo::into_connection_info(node).is_err() {
                return Err(ConfigError(
                    "REDIS_URL is not a Redis URL: expected redis://[user:password@]host:port[/db] or rediss://…".into(),
                ));
            }
        }
        if !cluster && url.contains(',') {
            return Err(ConfigError(
                "REDIS_URL names several nodes: set REDIS_CLUSTER=on for a Redis Cluster".into(),
            ));
        }
        let prefix = word(
            "REDIS_KEY_PREFIX",
            Some(self.redis_key_prefix.trim()),
            Shown::Value,
            "",
        )?
        .filter(|p| !p.contains(['{', '}', ':']))
        .ok_or_else(|| {
            ConfigError("REDIS_KEY_PREFIX must be non-empty, without braces or colons".into())
        })?;
        Ok(Some(RedisSettings {
            url: SecretString::new(url),
            cluster,
            prefix: prefix.to_owned(),
            timeout: Duration::from_millis(self.redis_timeout_milliseconds),
            expected_replicas: NonZeroU32::new(self.redis_expected_replicas)
                .unwrap_or(NonZeroU32::MIN),
        }))
    }
}
