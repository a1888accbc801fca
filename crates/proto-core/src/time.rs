//! Calendar dates from Unix time without a time-zone database: what the platforms' display
//! times (iLab's Beijing-time strings), the CLI's RFC 3339 expiries and the release tooling's
//! changelog dates are built on.
//!
//! ```
//! use kaifang_proto_core::time::civil_from_days;
//! assert_eq!(civil_from_days(0), (1970, 1, 1));
//! assert_eq!(civil_from_days(11_016), (2000, 2, 29));
//! assert_eq!(civil_from_days(-1), (1969, 12, 31));
//! ```

/// Year, month (1–12) and day (1–31) of a count of days since 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`). Exact for every `days` within
/// ±2^60; never panics.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.clamp(-(1 << 60), 1 << 60) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_and_year_edges() {
        assert_eq!(civil_from_days(58), (1970, 2, 28));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(20_780), (2026, 11, 23));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        let _ = civil_from_days(i64::MAX);
        let _ = civil_from_days(i64::MIN);
    }
}
