//! The cache in front of Stripe: `CACHE_*`.

use std::time::Duration;

use clap::Args;

use crate::cache::CacheSettings;

/// Cache settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Cache")]
pub struct CacheArgs {
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

    /// Most cached entries (objects and list pages) kept at once; beyond it the least useful
    /// are evicted.
    #[arg(long, env = "CACHE_MAX_ENTRIES", default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_entries: u64,
}

impl CacheArgs {
    /// The cache's bounds.
    pub fn settings(&self) -> CacheSettings {
        CacheSettings {
            ttl: Duration::from_secs(self.cache_ttl_seconds),
            not_found_ttl: Duration::from_secs(self.cache_not_found_ttl_seconds),
            stale_if_error: Duration::from_secs(self.cache_stale_if_error_seconds),
            max_entries: self.cache_max_entries,
        }
    }
}
