//! Calendar arithmetic on Unix time, for the few places that need dates without a date
//! library: Hasura's `timestamptz` strings ([`crate::hasura`]), the sandbox's billing periods
//! and the tests' recorded Hasura. Proleptic Gregorian calendar, UTC, no leap seconds
//! (Howard Hinnant's `days_from_civil` / `civil_from_days`).

/// Days since 1970-01-01 of the date `year-month-day` (month 1–12).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds as an ISO 8601 UTC timestamp (`2026-11-27T05:00:00Z`), `None` outside years
/// 0–9999.
pub fn iso8601(unix: i64) -> Option<String> {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    (0..=9999).contains(&year).then(|| {
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip_across_leap_years_and_the_epoch() {
        for days in [-719_468, -1, 0, 59, 60, 11_016, 20_775, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn unix_seconds_become_utc_timestamps() {
        assert_eq!(iso8601(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_000_000).unwrap(), "2026-11-18T11:06:40Z");
        assert_eq!(iso8601(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601(i64::MAX / 2), None);
    }
}
