//! FHIR `date`, `dateTime` and `instant` values (and search date values) as instant ranges.
//!
//! A value covers `[low, high)` in milliseconds since the Unix epoch, UTC: `2024` covers the
//! whole year, `2024-05` the month, `2024-05-01` the day, a dateTime with seconds covers that
//! second, one with a fraction that millisecond. A value without a zone (every date, and a
//! lenient search value without one) is in Japan time, UTC+09:00: `2024` covers
//! `[2024-01-01T00:00+09:00, 2025-01-01T00:00+09:00)`. A time-zone offset is converted to UTC.

use chrono::{Datelike, Duration, NaiveDate};

/// The zone assumed where a value has none: Japan Standard Time, UTC+09:00 (no DST).
pub(crate) const JST_OFFSET_MINUTES: i64 = 9 * 60;

/// Which lexical form is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// FHIR `date`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`.
    Date,
    /// FHIR `dateTime`: a date, or a full date with `Thh:mm:ss[.fff]` and a zone.
    DateTime,
    /// FHIR `instant`: full date, seconds and a zone.
    Instant,
    /// A search value or an index value read leniently: a date, optionally
    /// `Thh:mm[:ss[.fff]]`, optionally a zone (Japan time, UTC+09:00, when absent).
    Lenient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precision {
    Year,
    Month,
    Day,
    Minute,
    Second,
    Milli,
}

/// Why a value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateError {
    /// Not of the lexical form.
    Format,
    /// Well formed but not a real calendar date or time (`2023-02-30`, `25:00`).
    Calendar,
    /// A time without a time zone where one is required.
    Zone,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        if self.i + n > self.b.len() {
            return None;
        }
        let mut v = 0u32;
        for k in 0..n {
            let c = self.b[self.i + k];
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// The range `[low, high)` a value covers, or why it is not valid in `flavor`.
pub(crate) fn range(s: &str, flavor: Flavor) -> Result<(i64, i64), DateError> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let year = c.digits(4).ok_or(DateError::Format)?;
    let mut month = 1;
    let mut day = 1;
    let (mut hour, mut minute, mut second, mut milli) = (0u32, 0u32, 0u32, 0u32);
    let mut precision = Precision::Year;
    // Values without a zone (dates, zone-less search values) are Japan time: R4 search asks
    // for the server's local zone, and a Japanese network's day runs 00:00–24:00 JST.
    let mut offset_minutes: i64 = JST_OFFSET_MINUTES;
    if c.eat(b'-') {
        month = c.digits(2).ok_or(DateError::Format)?;
        precision = Precision::Month;
        if c.eat(b'-') {
            day = c.digits(2).ok_or(DateError::Format)?;
            precision = Precision::Day;
        }
    }
    if precision == Precision::Day && c.eat(b'T') {
        if flavor == Flavor::Date {
            return Err(DateError::Format);
        }
        hour = c.digits(2).ok_or(DateError::Format)?;
        if !c.eat(b':') {
            return Err(DateError::Format);
        }
        minute = c.digits(2).ok_or(DateError::Format)?;
        precision = Precision::Minute;
        if c.eat(b':') {
            second = c.digits(2).ok_or(DateError::Format)?;
            precision = Precision::Second;
            if c.eat(b'.') {
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let frac = &s[start..c.i];
                if frac.is_empty() {
                    return Err(DateError::Format);
                }
                let mut ms = 0u32;
                for (k, d) in frac.bytes().take(3).enumerate() {
                    ms += u32::from(d - b'0') * 10u32.pow(2 - k as u32);
                }
                milli = ms;
                precision = Precision::Milli;
            }
        } else if flavor != Flavor::Lenient {
            return Err(DateError::Format);
        }
        match c.peek() {
            Some(b'Z') => {
                c.i += 1;
                offset_minutes = 0;
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.digits(2).ok_or(DateError::Format)?;
                if !c.eat(b':') {
                    return Err(DateError::Format);
                }
                let om = c.digits(2).ok_or(DateError::Format)?;
                if oh > 14 || om > 59 || (oh == 14 && om != 0) {
                    return Err(DateError::Calendar);
                }
                let total = i64::from(oh * 60 + om);
                offset_minutes = if sign == b'+' { total } else { -total };
            }
            None if flavor == Flavor::Lenient => {}
            None => return Err(DateError::Zone),
            Some(_) => return Err(DateError::Format),
        }
    }
    if !c.done() {
        return Err(DateError::Format);
    }
    if flavor == Flavor::Instant && precision < Precision::Second {
        return Err(DateError::Format);
    }
    if year == 0 || !(1..=12).contains(&month) {
        return Err(DateError::Calendar);
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(DateError::Calendar)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(DateError::Calendar);
    }
    // A leap second is counted as the last millisecond of its minute.
    let (second, milli) = if second == 60 {
        (59, 999)
    } else {
        (second, milli)
    };
    let local = date
        .and_hms_milli_opt(hour, minute, second, milli)
        .ok_or(DateError::Calendar)?;
    let high_local = match precision {
        Precision::Year => NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
            .ok_or(DateError::Calendar)?
            .and_hms_opt(0, 0, 0)
            .ok_or(DateError::Calendar)?,
        Precision::Month => {
            let (y, m) = if month == 12 {
                (date.year() + 1, 1)
            } else {
                (date.year(), month + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1)
                .ok_or(DateError::Calendar)?
                .and_hms_opt(0, 0, 0)
                .ok_or(DateError::Calendar)?
        }
        Precision::Day => local + Duration::days(1),
        Precision::Minute => local + Duration::minutes(1),
        Precision::Second => local + Duration::seconds(1),
        Precision::Milli => local + Duration::milliseconds(1),
    };
    let shift = offset_minutes * 60_000;
    let low = local.and_utc().timestamp_millis() - shift;
    let high = high_local.and_utc().timestamp_millis() - shift;
    Ok((low, high))
}

/// Whether `s` is a valid FHIR `time` (`hh:mm:ss[.fff]`).
pub(crate) fn is_time(s: &str) -> bool {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let ok = (|| {
        let h = c.digits(2)?;
        c.eat(b':').then_some(())?;
        let m = c.digits(2)?;
        c.eat(b':').then_some(())?;
        let sec = c.digits(2)?;
        if c.eat(b'.') {
            let start = c.i;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.i += 1;
            }
            if c.i == start {
                return None;
            }
        }
        (c.done() && h <= 23 && m <= 59 && sec <= 60).then_some(())
    })();
    ok.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn year_month_day_cover_their_whole_span() {
        // Zone-less, so Japan time (UTC+09:00).
        assert_eq!(
            range("2024", Flavor::Date),
            Ok((
                ms("2024-01-01T00:00:00+09:00"),
                ms("2025-01-01T00:00:00+09:00")
            ))
        );
        assert_eq!(
            range("2024-02", Flavor::Date),
            Ok((
                ms("2024-02-01T00:00:00+09:00"),
                ms("2024-03-01T00:00:00+09:00")
            ))
        );
        assert_eq!(
            range("2024-12", Flavor::DateTime),
            Ok((
                ms("2024-12-01T00:00:00+09:00"),
                ms("2025-01-01T00:00:00+09:00")
            ))
        );
        assert_eq!(
            range("2024-02-29", Flavor::Date),
            Ok((
                ms("2024-02-29T00:00:00+09:00"),
                ms("2024-03-01T00:00:00+09:00")
            ))
        );
    }

    #[test]
    fn zone_less_values_are_japan_time() {
        // A Japanese day starts at 15:00 UTC the day before and lasts 24 hours.
        assert_eq!(JST_OFFSET_MINUTES, 9 * 60);
        assert_eq!(
            range("2024-05-01", Flavor::Date),
            Ok((ms("2024-04-30T15:00:00Z"), ms("2024-05-01T15:00:00Z")))
        );
        assert_eq!(
            range("2024-05-01", Flavor::Lenient),
            range("2024-05-01", Flavor::Date)
        );
        // Lenient: minutes or seconds, no zone (Japan time).
        assert_eq!(
            range("2024-05-01T10:00", Flavor::Lenient),
            Ok((ms("2024-05-01T01:00:00Z"), ms("2024-05-01T01:01:00Z")))
        );
        assert_eq!(
            range("2024-05-01T10:00", Flavor::Lenient),
            range("2024-05-01T10:00+09:00", Flavor::Lenient)
        );
        assert_eq!(
            range("2024-05-01T00:30:15.5", Flavor::Lenient),
            Ok((
                ms("2024-04-30T15:30:15.500Z"),
                ms("2024-04-30T15:30:15.501Z")
            ))
        );
        // An explicit zone, UTC included, is kept.
        assert_eq!(
            range("2024-05-01T10:00Z", Flavor::Lenient),
            Ok((ms("2024-05-01T10:00:00Z"), ms("2024-05-01T10:01:00Z")))
        );
    }

    #[test]
    fn times_with_a_zone_are_converted_to_utc() {
        assert_eq!(
            range("2024-05-01T09:30:00+09:00", Flavor::DateTime),
            Ok((ms("2024-05-01T00:30:00Z"), ms("2024-05-01T00:30:01Z")))
        );
        assert_eq!(
            range("2024-05-01T00:30:00Z", Flavor::Instant),
            Ok((ms("2024-05-01T00:30:00Z"), ms("2024-05-01T00:30:01Z")))
        );
        assert_eq!(
            range("2024-05-01T00:30:00.25-05:00", Flavor::Instant),
            Ok((
                ms("2024-05-01T05:30:00.250Z"),
                ms("2024-05-01T05:30:00.251Z")
            ))
        );
        assert_eq!(
            range("2024-05-01T10:00+09:00", Flavor::Lenient),
            Ok((ms("2024-05-01T01:00:00Z"), ms("2024-05-01T01:01:00Z")))
        );
    }

    #[test]
    fn refuses_bad_forms_and_calendar_dates() {
        assert_eq!(range("2023-02-30", Flavor::Date), Err(DateError::Calendar));
        assert_eq!(range("2023-13", Flavor::Date), Err(DateError::Calendar));
        assert_eq!(range("0000", Flavor::Date), Err(DateError::Calendar));
        assert_eq!(
            range("2023-01-01T25:00:00Z", Flavor::DateTime),
            Err(DateError::Calendar)
        );
        assert_eq!(
            range("2023-01-01T10:00:00+15:00", Flavor::DateTime),
            Err(DateError::Calendar)
        );
        assert_eq!(range("2023-1-01", Flavor::Date), Err(DateError::Format));
        assert_eq!(range("20230101", Flavor::Date), Err(DateError::Format));
        assert_eq!(
            range("2023-01-01T10:00:00Z", Flavor::Date),
            Err(DateError::Format)
        );
        assert_eq!(
            range("2023-01-01T10:00:00", Flavor::DateTime),
            Err(DateError::Zone)
        );
        assert_eq!(
            range("2023-01-01T10:00Z", Flavor::DateTime),
            Err(DateError::Format)
        );
        assert_eq!(range("2023-01-01", Flavor::Instant), Err(DateError::Format));
        assert_eq!(
            range("2023-01-01T", Flavor::Lenient),
            Err(DateError::Format)
        );
        assert_eq!(
            range("2023-01-01 ", Flavor::Lenient),
            Err(DateError::Format)
        );
        assert!(range("2016-12-31T23:59:60Z", Flavor::Instant).is_ok());
    }

    #[test]
    fn time_values() {
        assert!(is_time("09:30:00"));
        assert!(is_time("23:59:59.5"));
        assert!(!is_time("24:00:00"));
        assert!(!is_time("9:30:00"));
        assert!(!is_time("09:30"));
    }
}
