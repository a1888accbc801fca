//! The platform's `*_display` times: `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8, no daylight
//! saving), computed by hand (no time-zone database needed).
//!
//! ```
//! use kaifang_proto_ilab::time::display;
//! assert_eq!(display(1_711_103_229_122), "2024-03-22 18:27:09");
//! assert_eq!(display(1_711_189_628_122), "2024-03-23 18:27:08");
//! ```

use kaifang_proto_core::time::civil_from_days;

/// Beijing time's offset from UTC in ms.
pub const UTC_OFFSET_MS: i64 = 8 * 3_600_000;

/// `yyyy-MM-dd HH:mm:ss` of `unix_ms` in Beijing time (milliseconds are cut, as Java's
/// `SimpleDateFormat` does).
pub fn display(unix_ms: i64) -> String {
    let local = unix_ms.saturating_add(UTC_OFFSET_MS);
    let secs = local.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(display(0), "1970-01-01 08:00:00");
        assert_eq!(display(-1), "1970-01-01 07:59:59");
        // 2020-02-29 23:59:59 Beijing = 15:59:59 UTC.
        assert_eq!(display(1_582_991_999_000), "2020-02-29 23:59:59");
        assert_eq!(display(1_582_992_000_000), "2020-03-01 00:00:00");
        assert_eq!(display(1_626_158_597_225), "2021-07-13 14:43:17");
        assert!(display(i64::MAX).len() >= 19);
        assert!(!display(i64::MIN).is_empty());
    }
}
