//! The server's one clock reading: Unix seconds, for webhook tolerances and event ages.

/// Seconds since the Unix epoch, by the server's clock (0 before 1970, saturating far ahead).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
