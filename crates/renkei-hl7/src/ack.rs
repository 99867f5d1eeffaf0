//! Building HL7 v2 acknowledgments (original-mode ACK).
//!
//! The ACK mirrors the incoming message: sending and receiving application /
//! facility are swapped, the version (MSH-12), processing ID (MSH-11),
//! charset (MSH-18) and delimiters are copied, and MSA-2 echoes the original
//! control ID. For AE/AR an ERR segment carries an HL7 table 0357 code and a
//! human-readable text, in the ERR layout of the message's version (v2.5
//! moved the code from ERR-1 to ERR-3).
//!
//! The result is a `String`; encode it with
//! [`crate::encoding::encode`] in the charset the sender declared (for
//! SS-MIX2/JAHIS peers, ISO-2022-JP) and frame it with [`crate::mllp`].

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::message::{Delimiters, Header, Message};

/// HL7 table 0357, message error condition codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0 — Message accepted.
    MessageAccepted,
    /// 100 — Segment sequence error.
    SegmentSequenceError,
    /// 101 — Required field missing.
    RequiredFieldMissing,
    /// 102 — Data type error.
    DataTypeError,
    /// 103 — Table value not found.
    TableValueNotFound,
    /// 104 — Value too long (v2.6+).
    ValueTooLong,
    /// 200 — Unsupported message type.
    UnsupportedMessageType,
    /// 201 — Unsupported event code.
    UnsupportedEventCode,
    /// 202 — Unsupported processing ID.
    UnsupportedProcessingId,
    /// 203 — Unsupported version ID.
    UnsupportedVersionId,
    /// 204 — Unknown key identifier.
    UnknownKeyIdentifier,
    /// 205 — Duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206 — Application record locked.
    ApplicationRecordLocked,
    /// 207 — Application internal error.
    ApplicationInternalError,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::MessageAccepted => 0,
            ErrorCode::SegmentSequenceError => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataTypeError => 102,
            ErrorCode::TableValueNotFound => 103,
            ErrorCode::ValueTooLong => 104,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnsupportedEventCode => 201,
            ErrorCode::UnsupportedProcessingId => 202,
            ErrorCode::UnsupportedVersionId => 203,
            ErrorCode::UnknownKeyIdentifier => 204,
            ErrorCode::DuplicateKeyIdentifier => 205,
            ErrorCode::ApplicationRecordLocked => 206,
            ErrorCode::ApplicationInternalError => 207,
        }
    }

    /// The table 0357 description.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::MessageAccepted => "Message accepted",
            ErrorCode::SegmentSequenceError => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataTypeError => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::ValueTooLong => "Value too long",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEventCode => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersionId => "Unsupported version id",
            ErrorCode::UnknownKeyIdentifier => "Unknown key identifier",
            ErrorCode::DuplicateKeyIdentifier => "Duplicate key identifier",
            ErrorCode::ApplicationRecordLocked => "Application record locked",
            ErrorCode::ApplicationInternalError => "Application internal error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.description())
    }
}

/// Where in the incoming message the error is (ERR-2 / ERR-1 location).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLocation {
    /// Segment ID, e.g. `PID`.
    pub segment: String,
    /// Which occurrence of that segment (1-based).
    pub sequence: usize,
    /// Field number, if the error is in a field.
    pub field: Option<usize>,
    /// Repetition, component, sub-component, if known (v2.5+ only).
    pub repetition: Option<usize>,
    /// Component number.
    pub component: Option<usize>,
    /// Sub-component number.
    pub subcomponent: Option<usize>,
}

impl ErrorLocation {
    /// A location naming a segment and a field.
    pub fn field(segment: &str, sequence: usize, field: usize) -> Self {
        ErrorLocation {
            segment: segment.to_owned(),
            sequence,
            field: Some(field),
            repetition: None,
            component: None,
            subcomponent: None,
        }
    }
}

/// An error to report in the ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// Table 0357 code.
    pub code: ErrorCode,
    /// Human-readable explanation (goes to ERR-8, and MSA-3 before v2.5).
    pub text: String,
    /// Where the problem is, if it is tied to a field.
    pub location: Option<ErrorLocation>,
}

impl AckError {
    /// An error with a code and a text, no location.
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        AckError {
            code,
            text: text.into(),
            location: None,
        }
    }

    /// Adds a location.
    pub fn at(mut self, location: ErrorLocation) -> Self {
        self.location = Some(location);
        self
    }
}

/// The acknowledgment to send (MSA-1), with the error for AE/AR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgment {
    /// AA — application accept (send only once the data is durably stored).
    Accept,
    /// AE — application error: the message was processed but had errors; the
    /// sender should not resend it unchanged.
    Error(AckError),
    /// AR — application reject: unsupported type/version/processing ID or a
    /// system problem; the sender may resend later.
    Reject(AckError),
}

impl Acknowledgment {
    /// `AA`, `AE` or `AR`.
    pub fn code(&self) -> &'static str {
        match self {
            Acknowledgment::Accept => "AA",
            Acknowledgment::Error(_) => "AE",
            Acknowledgment::Reject(_) => "AR",
        }
    }

    fn error(&self) -> Option<&AckError> {
        match self {
            Acknowledgment::Accept => None,
            Acknowledgment::Error(e) | Acknowledgment::Reject(e) => Some(e),
        }
    }
}

/// Optional overrides for the generated ACK's own MSH.
#[derive(Debug, Clone, Default)]
pub struct AckOptions {
    /// MSH-10 of the ACK; generated (unique within the process) if `None`.
    pub control_id: Option<String>,
    /// MSH-7 of the ACK (HL7 DTM); current UTC time if `None`.
    pub timestamp: Option<String>,
    /// MSH-12 to use when the incoming message has none; `2.5` if `None`.
    pub default_version: Option<String>,
}

/// Builds an ACK for a parsed message. See [`build_ack_for_header`].
pub fn build_ack(original: &Message, ack: &Acknowledgment, options: &AckOptions) -> String {
    build_ack_for_header(&original.header(), ack, options)
}

/// [`build_ack_for_header`] followed by one ERR segment of severity W per warning: what
/// was accepted with remarks (an observation left out of an otherwise stored message).
pub fn build_ack_with_warnings(
    original: &Header,
    ack: &Acknowledgment,
    warnings: &[AckError],
    options: &AckOptions,
) -> String {
    let mut out = build_ack_for_header(original, ack, options);
    let version = if original.version.is_empty() {
        options
            .default_version
            .clone()
            .unwrap_or_else(|| "2.5".to_owned())
    } else {
        original.version.clone()
    };
    let v = parse_version(&version);
    for w in warnings {
        out.push('\r');
        out.push_str(&err_segment(w, &original.delimiters, v, true));
    }
    out
}

/// Builds an ACK from the header of the message being acknowledged.
///
/// Segments are separated by CR, without a trailing CR after the last one
/// (MLLP framing adds the final CR after FS).
pub fn build_ack_for_header(
    original: &Header,
    ack: &Acknowledgment,
    options: &AckOptions,
) -> String {
    let d: &Delimiters = &original.delimiters;
    let fs = d.field;
    let esc = |s: &str| d.escape(s);

    let version = if original.version.is_empty() {
        options
            .default_version
            .clone()
            .unwrap_or_else(|| "2.5".to_owned())
    } else {
        original.version.clone()
    };
    let v = parse_version(&version);
    let timestamp = options.timestamp.clone().unwrap_or_else(utc_timestamp);
    let control_id = options.control_id.clone().unwrap_or_else(next_control_id);
    let processing_id = if original.processing_id.is_empty() {
        "P".to_owned()
    } else {
        original.processing_id.clone()
    };

    // MSH-9: ACK^<trigger>^ACK from v2.3.1 on (message structure was added then).
    let mut msg_type = "ACK".to_owned();
    if !original.trigger_event.is_empty() {
        msg_type.push(d.component);
        msg_type.push_str(&esc(&original.trigger_event));
        if v >= (2, 3, 1) {
            msg_type.push(d.component);
            msg_type.push_str("ACK");
        }
    }
    let charset = original
        .charset
        .iter()
        .map(|c| esc(c))
        .collect::<Vec<_>>()
        .join(&d.repetition.to_string());

    let mut msh: Vec<String> = vec![
        "MSH".into(),
        d.encoding_characters(),
        original.receiving_application.clone(),
        original.receiving_facility.clone(),
        original.sending_application.clone(),
        original.sending_facility.clone(),
        esc(&timestamp),
        String::new(),
        msg_type,
        esc(&control_id),
        esc(&processing_id),
        esc(&version),
    ];
    if !charset.is_empty() {
        // MSH-13..17 empty, MSH-18 charset.
        msh.extend(std::iter::repeat_n(String::new(), 5));
        msh.push(charset);
    }
    let mut out = msh.join(&fs.to_string());

    let error = ack.error();
    out.push('\r');
    out.push_str("MSA");
    out.push(fs);
    out.push_str(ack.code());
    out.push(fs);
    out.push_str(&esc(&original.control_id));
    if let Some(e) = error {
        if v < (2, 5, 0) {
            // MSA-3 text message: the only free-text slot before v2.5.
            out.push(fs);
            out.push_str(&esc(&e.text));
        }
    }

    if let Some(e) = error {
        out.push('\r');
        out.push_str(&err_segment(e, d, v, matches!(ack, Acknowledgment::Accept)));
    }
    out
}

fn err_segment(e: &AckError, d: &Delimiters, v: (u32, u32, u32), warning: bool) -> String {
    let fs = d.field;
    let cs = d.component;
    let num = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    let mut s = String::from("ERR");
    s.push(fs);
    if v >= (2, 5, 0) {
        // ERR-1 (ELD) is kept for backward compatibility only: leave it empty.
        s.push(fs);
        if let Some(loc) = &e.location {
            let parts = [
                d.escape(&loc.segment),
                loc.sequence.to_string(),
                num(loc.field),
                num(loc.repetition),
                num(loc.component),
                num(loc.subcomponent),
            ];
            s.push_str(parts.join(&cs.to_string()).trim_end_matches(cs));
        }
        s.push(fs);
        // ERR-3 CWE: code^text^HL70357
        s.push_str(&format!(
            "{}{cs}{}{cs}HL70357",
            e.code.code(),
            d.escape(e.code.description())
        ));
        s.push(fs);
        // ERR-4 severity: E error, W warning.
        s.push(if warning { 'W' } else { 'E' });
        // ERR-5..7 empty, ERR-8 user message.
        for _ in 0..4 {
            s.push(fs);
        }
        s.push_str(&d.escape(&e.text));
    } else {
        // ERR-1 ELD: segment^sequence^field^code&text&HL70357
        let ss = d.subcomponent;
        if let Some(loc) = &e.location {
            s.push_str(&d.escape(&loc.segment));
            s.push(cs);
            s.push_str(&loc.sequence.to_string());
            s.push(cs);
            s.push_str(&num(loc.field));
        } else {
            s.push(cs);
            s.push(cs);
        }
        s.push(cs);
        s.push_str(&format!(
            "{}{ss}{}{ss}HL70357",
            e.code.code(),
            d.escape(e.code.description())
        ));
    }
    s
}

/// Parses `2.5.1` as (2, 5, 1); missing or non-numeric parts count as 0.
fn parse_version(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| {
        let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<u32>().unwrap_or(0)
    });
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Current UTC time as HL7 DTM `YYYYMMDDHHMMSS+0000`.
pub fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

fn format_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}+0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A control ID unique within this process: `A` + Unix milliseconds + a
/// 4-digit counter (18 characters, within MSH-10's 20-character limit).
pub fn next_control_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 10_000;
    format!("A{millis}{n:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> AckOptions {
        AckOptions {
            control_id: Some("ACK1".into()),
            timestamp: Some("20240101120000+0900".into()),
            default_version: None,
        }
    }

    const ORU_26: &str = "MSH|^~\\&|MONITOR|ICU^1.2.3^ISO|RENKEI|HOSP|20240101115959||ORU^R01^ORU_R01|MSG00042|P|2.6|||AL|NE||UNICODE UTF-8\rPID|1||123^^^^PI";

    #[test]
    fn accept_swaps_and_echoes() {
        let m = Message::parse(ORU_26).unwrap();
        let ack = build_ack(&m, &Acknowledgment::Accept, &fixed());
        assert_eq!(
            ack,
            "MSH|^~\\&|RENKEI|HOSP|MONITOR|ICU^1.2.3^ISO|20240101120000+0900||ACK^R01^ACK|ACK1|P|2.6||||||UNICODE UTF-8\rMSA|AA|MSG00042"
        );
        let parsed = Message::parse(ack).unwrap();
        assert_eq!(parsed.get("MSA-2").unwrap(), "MSG00042");
        assert_eq!(parsed.header().sending_facility, "HOSP");
        assert_eq!(parsed.header().receiving_facility, "ICU^1.2.3^ISO");
        assert_eq!(parsed.header().message_structure, "ACK");
    }

    #[test]
    fn error_v25_uses_err3_and_err8() {
        let m = Message::parse(ORU_26).unwrap();
        let err = AckError::new(ErrorCode::RequiredFieldMissing, "PID-3 患者ID|missing")
            .at(ErrorLocation::field("PID", 1, 3));
        let ack = build_ack(&m, &Acknowledgment::Error(err), &fixed());
        let parsed = Message::parse(ack.clone()).unwrap();
        assert_eq!(parsed.get("MSA-1").unwrap(), "AE");
        assert_eq!(parsed.get("MSA-3"), None);
        let err = parsed.segment("ERR").unwrap();
        assert_eq!(
            err.raw(),
            "ERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 患者ID\\F\\missing"
        );
        assert_eq!(err.field(8).value(), "PID-3 患者ID|missing");
        assert_eq!(parsed.get("ERR-3.1").unwrap(), "101");
    }

    #[test]
    fn reject_v24_uses_err1_and_msa3() {
        let m = Message::parse("MSH|^~\\&|NK|GW|R|H|20240101||ORU^R01|77|P|2.4\rPID|1").unwrap();
        let rej = AckError::new(ErrorCode::UnsupportedVersionId, "v2.4 not configured");
        let ack = build_ack(&m, &Acknowledgment::Reject(rej), &fixed());
        assert_eq!(
            ack,
            "MSH|^~\\&|R|H|NK|GW|20240101120000+0900||ACK^R01^ACK|ACK1|P|2.4\rMSA|AR|77|v2.4 not configured\rERR|^^^203&Unsupported version id&HL70357"
        );
    }

    #[test]
    fn old_version_without_structure_and_missing_fields() {
        let m = Message::parse("MSH|^~\\&|A||||||ADT^A01|9||2.3").unwrap();
        let ack = build_ack(&m, &Acknowledgment::Accept, &fixed());
        assert!(ack.contains("|ACK^A01|ACK1|P|2.3\r"), "{ack}");
        let m = Message::parse("MSH|^~\\&").unwrap();
        let ack = build_ack(&m, &Acknowledgment::Accept, &fixed());
        assert_eq!(
            ack,
            "MSH|^~\\&|||||20240101120000+0900||ACK|ACK1|P|2.5\rMSA|AA|"
        );
    }

    #[test]
    fn ss_mix2_charset_is_copied() {
        let m = Message::parse(
            "MSH|^~\\&|HIS|S|GW|R|20111220||ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87||ISO 2022-1994",
        )
        .unwrap();
        let ack = build_ack(&m, &Acknowledgment::Accept, &fixed());
        let parsed = Message::parse(ack).unwrap();
        assert_eq!(
            parsed.header().charset,
            vec!["".to_string(), "ISO IR87".into()]
        );
        assert_eq!(
            parsed.header().declared_charset(),
            Some(crate::encoding::Charset::Iso2022Jp)
        );
    }

    #[test]
    fn timestamps_and_ids() {
        assert_eq!(format_utc(0), "19700101000000+0000");
        assert_eq!(format_utc(951_782_400), "20000229000000+0000");
        assert_eq!(format_utc(1_704_110_399), "20240101115959+0000");
        let a = next_control_id();
        let b = next_control_id();
        assert_ne!(a, b);
        assert!(a.len() <= 20);
        assert_eq!(parse_version("2.5.1"), (2, 5, 1));
        assert_eq!(parse_version("2.3"), (2, 3, 0));
        assert_eq!(parse_version("x"), (0, 0, 0));
    }
}

#[cfg(test)]
mod warning_tests {
    use super::*;

    #[test]
    fn accepted_messages_can_carry_warnings() {
        let msg = crate::Message::parse(
            "MSH|^~\\&|MON|F00001|RENKEI|CENTRE|20260101120000||ORU^R01^ORU_R01|M1|P|2.6\rPID|||P1",
        )
        .unwrap();
        let warning = AckError::new(ErrorCode::TableValueNotFound, "OBX 3: unknown code 999");
        let text = build_ack_with_warnings(
            &msg.header(),
            &Acknowledgment::Accept,
            &[warning],
            &AckOptions::default(),
        );
        let segments: Vec<&str> = text.split('\r').collect();
        assert!(segments[1].starts_with("MSA|AA|M1"), "{text}");
        assert!(
            segments[2].starts_with("ERR||") && segments[2].contains("|W|"),
            "{text}"
        );
        assert!(segments[2].ends_with("OBX 3: unknown code 999"));
    }
}
