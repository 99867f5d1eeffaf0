//! HL7 v2 timestamps (`DTM`/`TS`) to FHIR `date`, `dateTime` and `instant`.
//!
//! HL7 v2.5 writes `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`. FHIR wants
//! `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or a full `YYYY-MM-DDThh:mm:ss[.f]+zz:zz`: a
//! time always carries seconds and an offset. A timestamp without an offset is
//! taken to be Japan Standard Time (`+09:00`), which is what Japanese hospital
//! systems send. A date-only value stays a date (FHIR forbids an offset there).
//!
//! ```
//! use renkei_hl7_fhir::time::{fhir_date, fhir_date_time};
//! assert_eq!(fhir_date_time("201112191500").unwrap(), "2011-12-19T15:00:00+09:00");
//! assert_eq!(fhir_date_time("20111220103059.1234-0500").unwrap(), "2011-12-20T10:30:59.1234-05:00");
//! assert_eq!(fhir_date_time("20110831").unwrap(), "2011-08-31");
//! assert_eq!(fhir_date_time("199601").unwrap(), "1996-01");
//! assert_eq!(fhir_date("19480405").unwrap(), "1948-04-05");
//! assert_eq!(fhir_date_time("2023133").unwrap_err().to_string(),
//!            "'2023133' is not a date (expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])");
//! ```

use thiserror::Error;

/// The offset assumed when a timestamp has none: Japan Standard Time.
pub const DEFAULT_OFFSET: &str = "+09:00";

/// A malformed HL7 timestamp. Its message is meant to follow a field name
/// (`OBX-14: '2023133' is not a date …`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{value}' is not a date (expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])")]
pub struct TimestampError {
    /// The offending text (truncated to 40 characters).
    pub value: String,
}

/// A parsed HL7 timestamp, precise to whatever the sender gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// Four-digit year.
    pub year: u16,
    /// Month 1–12, if given.
    pub month: Option<u8>,
    /// Day of month, if given.
    pub day: Option<u8>,
    /// Hour 0–23, if given.
    pub hour: Option<u8>,
    /// Minute, if given.
    pub minute: Option<u8>,
    /// Second, if given.
    pub second: Option<u8>,
    /// Fraction of a second, as the digits after the point.
    pub fraction: Option<String>,
    /// Offset from UTC in minutes, if the sender gave one.
    pub offset_minutes: Option<i16>,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn two(digits: &[u8], at: usize) -> Option<u8> {
    let d = digits.get(at..at + 2)?;
    Some((d[0] - b'0') * 10 + (d[1] - b'0'))
}

/// Parses an HL7 `DTM`/`TS` value (the first component only; the caller
/// passes `TS.1`). Leading and trailing spaces are ignored.
pub fn parse(value: &str) -> Result<Timestamp, TimestampError> {
    let s = value.trim();
    let err = || TimestampError {
        value: s.chars().take(40).collect(),
    };
    if !s.is_ascii() {
        return Err(err());
    }
    let (body, offset) = match s.find(['+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    let d = digits.as_bytes();
    if !d.iter().all(u8::is_ascii_digit) || ![4, 6, 8, 10, 12, 14].contains(&d.len()) {
        return Err(err());
    }
    let year = d[..4]
        .iter()
        .fold(0u16, |a, b| a * 10 + u16::from(b - b'0'));
    if year == 0 {
        return Err(err());
    }
    let month = two(d, 4);
    let day = two(d, 6);
    let hour = two(d, 8);
    let minute = two(d, 10);
    let second = two(d, 12);
    if let Some(m) = month {
        if !(1..=12).contains(&m) {
            return Err(err());
        }
        if let Some(dd) = day {
            if dd == 0 || dd > days_in_month(year, m) {
                return Err(err());
            }
        }
    }
    if hour.is_some_and(|h| h > 23)
        || minute.is_some_and(|m| m > 59)
        || second.is_some_and(|x| x > 59)
    {
        return Err(err());
    }
    let fraction = match fraction {
        None => None,
        Some(f) => {
            // A fraction only after seconds, 1–6 digits (HL7 allows 4; be lenient).
            if second.is_none()
                || f.is_empty()
                || f.len() > 6
                || !f.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(err());
            }
            Some(f.to_string())
        }
    };
    let offset_minutes = match offset {
        None => None,
        Some(o) => {
            let b = o.as_bytes();
            if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
                return Err(err());
            }
            let (h, m) = (two(b, 1).unwrap_or(99), two(b, 3).unwrap_or(99));
            if h > 14 || m > 59 {
                return Err(err());
            }
            let total = i16::from(h) * 60 + i16::from(m);
            Some(if b[0] == b'-' { -total } else { total })
        }
    };
    Ok(Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        fraction,
        offset_minutes,
    })
}

impl Timestamp {
    /// True when the value has no time of day.
    pub fn is_date_only(&self) -> bool {
        self.hour.is_none()
    }

    /// FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (any time is dropped).
    pub fn to_fhir_date(&self) -> String {
        let mut out = format!("{:04}", self.year);
        if let Some(m) = self.month {
            out.push_str(&format!("-{m:02}"));
            if let Some(d) = self.day {
                out.push_str(&format!("-{d:02}"));
            }
        }
        out
    }

    /// FHIR `dateTime`: the date forms for date-only values, otherwise a full
    /// time with seconds and an offset (`+09:00` when the sender gave none).
    pub fn to_fhir_date_time(&self) -> String {
        let Some(hour) = self.hour else {
            return self.to_fhir_date();
        };
        let mut out = format!(
            "{}T{:02}:{:02}:{:02}",
            self.to_fhir_date(),
            hour,
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0)
        );
        if let Some(f) = &self.fraction {
            out.push('.');
            out.push_str(f);
        }
        out.push_str(&self.offset_text());
        out
    }

    /// FHIR `instant` (precise to the second at least), or `None` when the
    /// value is less precise.
    pub fn to_fhir_instant(&self) -> Option<String> {
        self.second.map(|_| self.to_fhir_date_time())
    }

    /// `YYYYMMDD` (or shorter, as precise as given): a stable key for "the day of".
    pub fn date_key(&self) -> String {
        self.to_fhir_date().replace('-', "")
    }

    fn offset_text(&self) -> String {
        match self.offset_minutes {
            None => DEFAULT_OFFSET.to_string(),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                let m = m.unsigned_abs();
                format!("{sign}{:02}:{:02}", m / 60, m % 60)
            }
        }
    }
}

/// HL7 timestamp → FHIR `dateTime` (see [`Timestamp::to_fhir_date_time`]).
pub fn fhir_date_time(value: &str) -> Result<String, TimestampError> {
    parse(value).map(|t| t.to_fhir_date_time())
}

/// HL7 timestamp → FHIR `date` (the time of day, if any, is dropped).
pub fn fhir_date(value: &str) -> Result<String, TimestampError> {
    parse(value).map(|t| t.to_fhir_date())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precisions() {
        let cases = [
            ("2011", "2011"),
            ("201107", "2011-07"),
            ("20110701", "2011-07-01"),
            ("2011070100", "2011-07-01T00:00:00+09:00"),
            ("201107010830", "2011-07-01T08:30:00+09:00"),
            ("20110701113813", "2011-07-01T11:38:13+09:00"),
            ("20110701113813.225", "2011-07-01T11:38:13.225+09:00"),
            ("20111220224447.3399", "2011-12-20T22:44:47.3399+09:00"),
            ("20110701113813+0900", "2011-07-01T11:38:13+09:00"),
            ("20110701113813-0330", "2011-07-01T11:38:13-03:30"),
            ("201107011138+0000", "2011-07-01T11:38:00+00:00"),
            ("20110701+0900", "2011-07-01"),
            ("20000229", "2000-02-29"),
            (" 20110701 ", "2011-07-01"),
        ];
        for (hl7, fhir) in cases {
            assert_eq!(fhir_date_time(hl7).unwrap(), fhir, "{hl7}");
        }
        assert_eq!(fhir_date("20110701113813").unwrap(), "2011-07-01");
        let t = parse("20110701113813").unwrap();
        assert_eq!(t.to_fhir_instant().unwrap(), "2011-07-01T11:38:13+09:00");
        assert_eq!(parse("201107011138").unwrap().to_fhir_instant(), None);
        assert_eq!(t.date_key(), "20110701");
        assert!(parse("20110701").unwrap().is_date_only());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2023133",
            "20231301",
            "20230230",
            "19000229",
            "20230101240000",
            "20230101236000",
            "20230101235960",
            "2023010112.5",
            "20230101120000.",
            "20230101120000.1234567",
            "20230101120000+09",
            "20230101120000+1500",
            "20230101120000+0960",
            "0000",
            "2023-01-01",
            "２０２３",
            "20230101T1200",
            "abc",
            "+0900",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.to_string().contains("is not a date"), "{bad}: {e}");
        }
    }
}
