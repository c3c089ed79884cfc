//! Logging: `tracing` events to standard error, as text or one JSON object per line.
//!
//! The filter comes from `RUST_LOG` (default `info`). Nothing this crate logs contains the
//! Stripe key: the key lives in a [`crate::secret::SecretString`] and in a sensitive header.

use tracing_subscriber::{fmt, EnvFilter};

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // `log_internal_errors(false)`: when stderr is gone (a closed pipe), tracing-subscriber
    // would otherwise report the failed write with `eprintln!`, which panics and takes the
    // worker thread down with it. A server must keep serving when its log reader dies.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
