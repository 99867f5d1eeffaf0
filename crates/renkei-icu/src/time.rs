//! HL7 v2 timestamps (`TS`/`DTM`) to UTC milliseconds, and back.
//!
//! `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`. A timestamp without an offset is
//! Japan Standard Time (+09:00): that is what Japanese monitors and gateways send, and
//! guessing UTC would shift every value by nine hours.

use chrono::{FixedOffset, NaiveDate, TimeZone};

/// Offset assumed when a timestamp carries none: JST, in seconds east of UTC.
pub const DEFAULT_OFFSET_SECS: i32 = 9 * 3600;

/// How much of a timestamp the sender gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYYMM`
    Month,
    /// `YYYYMMDD`
    Day,
    /// `YYYYMMDDHH`
    Hour,
    /// `YYYYMMDDHHMM`
    Minute,
    /// `YYYYMMDDHHMMSS[.S…]`
    Second,
}

/// A parsed timestamp: the instant it starts at, and its precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch, UTC.
    pub millis: i64,
    /// What the sender gave.
    pub precision: Precision,
    /// Whether the sender gave an offset (otherwise JST was assumed).
    pub explicit_offset: bool,
}

/// Parses an HL7 timestamp; `None` when it is not one (wrong digits, impossible date,
/// offset out of range). Surrounding spaces are ignored.
pub fn parse_ts(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if !text.is_ascii() {
        return None;
    }
    let (body, offset) = match text.find(['+', '-']) {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (text, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let precision = match digits.len() {
        4 => Precision::Year,
        6 => Precision::Month,
        8 => Precision::Day,
        10 => Precision::Hour,
        12 => Precision::Minute,
        14 => Precision::Second,
        _ => return None,
    };
    let num = |from: usize, len: usize, default: u32| -> u32 {
        digits
            .get(from..from + len)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let year = num(0, 4, 0) as i32;
    let date = NaiveDate::from_ymd_opt(year, num(4, 2, 1), num(6, 2, 1))?;
    let mut millis_part = 0u32;
    if let Some(f) = fraction {
        if precision != Precision::Second
            || f.is_empty()
            || f.len() > 4
            || !f.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let padded = format!("{f:0<3}");
        millis_part = padded[..3].parse().ok()?;
    }
    let naive = date.and_hms_milli_opt(num(8, 2, 0), num(10, 2, 0), num(12, 2, 0), millis_part)?;
    let offset_secs = match offset {
        None => DEFAULT_OFFSET_SECS,
        Some(o) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let d = &o[1..];
            if d.len() != 4 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i32 = d[..2].parse().ok()?;
            let minutes: i32 = d[2..].parse().ok()?;
            if hours > 14 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let zone = FixedOffset::east_opt(offset_secs)?;
    let at = zone.from_local_datetime(&naive).single()?;
    Some(Timestamp {
        millis: at.timestamp_millis(),
        precision,
        explicit_offset: offset.is_some(),
    })
}

/// Formats UTC milliseconds as an HL7 timestamp in JST with seconds and the offset
/// (`20240101120000+0900`), as the simulator sends.
pub fn format_ts_jst(millis: i64) -> String {
    let zone = FixedOffset::east_opt(DEFAULT_OFFSET_SECS).expect("JST is a valid offset");
    match zone.timestamp_millis_opt(millis).single() {
        Some(at) => at.format("%Y%m%d%H%M%S%z").to_string(),
        None => String::new(),
    }
}

/// A birth date (`YYYYMMDD`, extra time digits ignored) as `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let digits = text.get(..8)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits[..4].parse().ok()?,
        digits[4..6].parse().ok()?,
        digits[6..8].parse().ok()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON_JST_UTC_MILLIS: i64 = 1_704_078_000_000; // 2024-01-01T03:00:00Z

    #[test]
    fn no_offset_means_jst() {
        let t = parse_ts("20240101120000").unwrap();
        assert_eq!(t.millis, NOON_JST_UTC_MILLIS);
        assert!(!t.explicit_offset);
        assert_eq!(t.precision, Precision::Second);
        assert_eq!(
            parse_ts("20240101120000+0900").unwrap().millis,
            NOON_JST_UTC_MILLIS
        );
        assert_eq!(
            parse_ts("20240101030000+0000").unwrap().millis,
            NOON_JST_UTC_MILLIS
        );
        assert_eq!(
            parse_ts("20231231220000-0500").unwrap().millis,
            NOON_JST_UTC_MILLIS
        );
        assert_eq!(
            parse_ts("202401011200").unwrap().precision,
            Precision::Minute
        );
        assert_eq!(
            parse_ts("20240101120000.25").unwrap().millis,
            NOON_JST_UTC_MILLIS + 250
        );
        assert_eq!(parse_ts("2024").unwrap().precision, Precision::Year);
        assert_eq!(parse_ts(" 20240101 ").unwrap().precision, Precision::Day);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2024010",
            "20240231120000",
            "20240101250000",
            "2024010112000x",
            "20240101120000+09",
            "20240101120000+2500",
            "202401011200.5",
            "20240101120000.12345",
            "２０２４",
            "20240101120000+0900+0900",
        ] {
            assert!(parse_ts(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_ts_jst(NOON_JST_UTC_MILLIS), "20240101120000+0900");
        assert_eq!(
            parse_ts(&format_ts_jst(NOON_JST_UTC_MILLIS))
                .unwrap()
                .millis,
            NOON_JST_UTC_MILLIS
        );
        assert_eq!(parse_date("19650415").unwrap().to_string(), "1965-04-15");
        assert!(parse_date("1965041").is_none());
    }
}
