//! Monitor observations: HL7 v2.4–2.6 ORU^R01 in the IHE PCD-01 form or the Nihon
//! Kohden gateway form, to readings in canonical units.
//!
//! The parser never guesses. A message that cannot be attributed (no bed and no
//! patient) or is not an observation message is a [`ParseError`]; inside a good
//! message every OBX that cannot be used — unknown code or unit, impossible value,
//! marked invalid, no time — becomes a [`ReadingProblem`] and is left out, while the
//! other readings are kept. That matches the ACK rule: the message is accepted (AA)
//! and the dropped observations are reported back as warnings.
//!
//! Form specifics:
//! - **PCD-01** (MSH-21 naming a PCD profile — `PCD_DEC_001`, `IHE_PCD_001`… — or any
//!   `^MDC` code): device, MDS, VMD and channel rows (MDC partition 1, or no value) are
//!   skipped; OBX-4 containment paths (`1.1.1.147842`) are
//!   not stable between messages and are ignored; the time is OBX-14, else OBR-7, else
//!   MSH-7; OBX-18 (device EUI-64) is kept with the reading.
//! - **Nihon Kohden** (everything else): one OBR per parameter group with its time in
//!   OBR-7, proprietary six-digit codes, plain-text units, the bed in PV1-3
//!   (`^^BED-001^…`).

use crate::codemap::{CodeMap, SourceKind};
use crate::items::{Catalogue, Range};
use crate::time::{parse_ts, Precision};
use renkei_hl7::message::Segment;
use renkei_hl7::Message;
use serde::Serialize;
use thiserror::Error;

/// Why a message as a whole cannot be used. The text is meant for an ACK's ERR segment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Not parseable as HL7 v2 at all.
    #[error("not an HL7 v2 message: {0}")]
    Hl7(#[from] renkei_hl7::ParseError),
    /// Not a message type this module handles.
    #[error("unsupported message type {found:?}: expected {expected}")]
    WrongType {
        /// MSH-9 as received (`ADT^A04`).
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// An ORU^R01 with no OBX segment.
    #[error("ORU^R01 without any OBX segment: no observations to store")]
    NoObservations,
    /// Neither PV1-3 nor PID-3: nobody to attach the values to.
    #[error(
        "neither a bed (PV1-3) nor a patient ID (PID-3): the values cannot be attributed to anyone"
    )]
    NoBedOrPatient,
    /// A bed event without a patient identifier.
    #[error("{event} without a patient ID in PID-3")]
    NoPatient {
        /// `ADT^A01`…
        event: String,
    },
    /// An admission or transfer without the bed it goes to.
    #[error("{event} without a bed in PV1-3")]
    NoLocation {
        /// `ADT^A01`…
        event: String,
    },
}

/// Which layout an ORU follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageForm {
    /// IHE PCD-01 (Device Enterprise Communication), MDC codes.
    Pcd01,
    /// Nihon Kohden gateway (CNS-6201 class), proprietary codes.
    NihonKohden,
}

/// A bed as the sender names it (PV1-3, HL7 `PL`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct BedLocation {
    /// PL.1 point of care (unit/ward, e.g. `ICU`).
    pub point_of_care: String,
    /// PL.2 room.
    pub room: String,
    /// PL.3 bed (`BED-001`).
    pub bed: String,
}

impl BedLocation {
    /// The location in a PL field; `None` when the first three components are empty.
    pub fn from_field(seg: Option<Segment<'_>>, field: usize) -> Option<BedLocation> {
        let f = seg?.field(field);
        let c = |n: usize| f.component(n).value().trim().to_string();
        let loc = BedLocation {
            point_of_care: c(1),
            room: c(2),
            bed: c(3),
        };
        (!loc.point_of_care.is_empty() || !loc.room.is_empty() || !loc.bed.is_empty())
            .then_some(loc)
    }
}

impl std::fmt::Display for BedLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = [&self.point_of_care, &self.room, &self.bed]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        f.write_str(&parts.join("/"))
    }
}

/// One PID-3 repetition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PatientIdentifier {
    /// CX.1, the ID.
    pub id: String,
    /// CX.4.1, the assigning authority (often the facility).
    pub assigning_authority: String,
    /// CX.5, the identifier type (`PI`, `MR`…).
    pub id_type: String,
}

/// Every non-empty PID-3 repetition.
pub fn patient_identifiers(msg: &Message) -> Vec<PatientIdentifier> {
    let Some(pid) = msg.segment("PID") else {
        return Vec::new();
    };
    pid.field(3)
        .repetitions()
        .filter_map(|r| {
            let id = r.component(1).value().trim().to_string();
            (!id.is_empty()).then(|| PatientIdentifier {
                id,
                assigning_authority: r.component(4).subcomponent(1).value().trim().to_string(),
                id_type: r.component(5).value().trim().to_string(),
            })
        })
        .collect()
}

/// A patient's name from PID-5: the ideographic (kanji) repetition and, when sent, the
/// phonetic (kana) one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PatientName {
    /// Family name as written (usually kanji).
    pub family: String,
    /// Given name as written.
    pub given: String,
    /// Family name in kana (XPN.8 = `P`).
    pub family_kana: Option<String>,
    /// Given name in kana.
    pub given_kana: Option<String>,
}

/// The name in PID-5, choosing repetitions by XPN.8 (name representation code: `I`
/// ideographic, `P` phonetic), else the first repetition as written.
pub fn patient_name(msg: &Message) -> Option<PatientName> {
    let pid = msg.segment("PID")?;
    let field = pid.field(5);
    let reps: Vec<_> = field
        .repetitions()
        .filter(|r| !r.component(1).is_empty() || !r.component(2).is_empty())
        .collect();
    let text = |r: &renkei_hl7::message::Repetition<'_>, n: usize| {
        r.component(n).value().trim().to_string()
    };
    let representation = |r: &renkei_hl7::message::Repetition<'_>| {
        r.component(8).value().trim().to_ascii_uppercase()
    };
    let written = reps
        .iter()
        .find(|r| representation(r) == "I")
        .or_else(|| reps.iter().find(|r| representation(r) != "P"))
        .or_else(|| reps.first())?;
    let kana = reps
        .iter()
        .find(|r| representation(r) == "P" && !std::ptr::eq(*r, written));
    Some(PatientName {
        family: text(written, 1),
        given: text(written, 2),
        family_kana: kana.map(|k| text(k, 1)).filter(|s| !s.is_empty()),
        given_kana: kana.map(|k| text(k, 2)).filter(|s| !s.is_empty()),
    })
}

/// OBX-11 as it bears on a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// `F`, final.
    Final,
    /// `R` (not verified) or `P` (preliminary): what monitors send.
    Preliminary,
    /// `C`, a correction of an earlier value.
    Corrected,
    /// Empty or another code.
    Unspecified,
}

/// A usable observation, converted to its item's canonical unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// Catalogue item code (`hr`).
    pub item: String,
    /// Value in the item's canonical unit.
    pub value: f64,
    /// When it was observed, UTC milliseconds.
    pub at: i64,
    /// OBX-3.1 as sent (`150456`, `0002-4182`, `007000`).
    pub raw_code: String,
    /// OBX-6 unit as sent (first component, or the second when the first is empty).
    pub raw_unit: String,
    /// OBX-11.
    pub status: ResultStatus,
    /// OBX-18.1, the device instance (EUI-64 in PCD-01), if sent.
    pub device: Option<String>,
    /// 1-based position of the OBX among the message's OBX segments.
    pub obx_index: usize,
}

/// Why an OBX was left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProblemKind {
    /// The code is not in the code table for its source.
    UnknownCode,
    /// The unit is unknown or does not fit the item.
    UnknownUnit,
    /// Converted, the value is physically impossible for the item.
    ImpossibleValue {
        /// The converted value.
        value: f64,
        /// The item's plausible range.
        range: Range,
    },
    /// The device marked the value invalid (OBX-11 `X`, `W` or `D`).
    Invalid,
    /// OBX-5 is not a number.
    Unparsable,
    /// No usable time in OBX-14, OBR-7 or MSH-7 (or a malformed one).
    NoTime,
}

/// An OBX left out, and why (reported back in the ACK as a warning).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadingProblem {
    /// 1-based position of the OBX among the message's OBX segments.
    pub obx_index: usize,
    /// OBX-3.1 as sent.
    pub code: String,
    /// The reason.
    #[serde(flatten)]
    pub kind: ProblemKind,
    /// One sentence for people (and ERR-8).
    pub text: String,
}

/// A parsed ORU^R01 from a bedside monitor or its gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorMessage {
    /// MSH-10 (duplicates are recognised by it).
    pub control_id: String,
    /// MSH-3.1.
    pub sending_application: String,
    /// MSH-4.1.
    pub sending_facility: String,
    /// MSH-12.1.
    pub version: String,
    /// MSH-11.1 (`P`, `T`, `D`).
    pub processing_id: String,
    /// MSH-7 as UTC milliseconds, if parseable.
    pub sent_at: Option<i64>,
    /// The layout recognised.
    pub form: MessageForm,
    /// PV1-3.
    pub location: Option<BedLocation>,
    /// PID-3 repetitions.
    pub patient_ids: Vec<PatientIdentifier>,
    /// PID-5.
    pub patient_name: Option<PatientName>,
    /// Usable observations, in message order.
    pub readings: Vec<Reading>,
    /// Observations left out, in message order.
    pub problems: Vec<ReadingProblem>,
}

fn message_type(msg: &Message) -> (String, String) {
    let msh = msg.msh();
    (
        msh.field(9)
            .component(1)
            .value()
            .trim()
            .to_ascii_uppercase(),
        msh.field(9)
            .component(2)
            .value()
            .trim()
            .to_ascii_uppercase(),
    )
}

fn first_component(msg: &Message, field: usize) -> String {
    msg.msh()
        .field(field)
        .component(1)
        .value()
        .trim()
        .to_string()
}

/// Whether the message follows IHE PCD-01: MSH-21 names a PCD profile, or an OBX-3 is
/// MDC-coded.
pub fn detect_form(msg: &Message) -> MessageForm {
    let profile = msg.msh().field(21).repetitions().any(|r| {
        r.component(1)
            .value()
            .trim()
            .to_ascii_uppercase()
            .contains("PCD")
    });
    let mdc = msg.segments_by_id("OBX").any(|obx| {
        obx.field(3)
            .component(3)
            .value()
            .trim()
            .eq_ignore_ascii_case("MDC")
    });
    if profile || mdc {
        MessageForm::Pcd01
    } else {
        MessageForm::NihonKohden
    }
}

/// Parses an ORU^R01. See the module documentation for what is an error and what is a
/// per-observation problem.
pub fn parse_oru(
    msg: &Message,
    catalogue: &Catalogue,
    codes: &CodeMap,
) -> Result<MonitorMessage, ParseError> {
    let (kind, event) = message_type(msg);
    if kind != "ORU" || event != "R01" {
        return Err(ParseError::WrongType {
            found: format!("{kind}^{event}"),
            expected: "ORU^R01",
        });
    }
    if msg.segment("OBX").is_none() {
        return Err(ParseError::NoObservations);
    }
    let location = BedLocation::from_field(msg.segment("PV1"), 3);
    let patient_ids = patient_identifiers(msg);
    if location.is_none() && patient_ids.is_empty() {
        return Err(ParseError::NoBedOrPatient);
    }
    let form = detect_form(msg);
    let msh_time = msg.msh().field(7).component(1).value().into_owned();
    let mut out = MonitorMessage {
        control_id: first_component(msg, 10),
        sending_application: first_component(msg, 3),
        sending_facility: first_component(msg, 4),
        version: first_component(msg, 12),
        processing_id: first_component(msg, 11),
        sent_at: parse_ts(&msh_time).map(|t| t.millis),
        form,
        location,
        patient_ids,
        patient_name: patient_name(msg),
        readings: Vec::new(),
        problems: Vec::new(),
    };
    let mut obr_time: Option<String> = None;
    let mut obx_index = 0;
    for seg in msg.segments() {
        match seg.id() {
            "OBR" => {
                let t = seg.field(7).component(1).value().trim().to_string();
                obr_time = (!t.is_empty()).then_some(t);
            }
            "OBX" => {
                obx_index += 1;
                let times = Times {
                    obr: obr_time.as_deref(),
                    msh: &msh_time,
                };
                match observation(seg, obx_index, form, &times, catalogue, codes) {
                    Outcome::Reading(r) => out.readings.push(r),
                    Outcome::Problem(p) => out.problems.push(p),
                    Outcome::Skip => {}
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

struct Times<'a> {
    obr: Option<&'a str>,
    msh: &'a str,
}

enum Outcome {
    Reading(Reading),
    Problem(ReadingProblem),
    Skip,
}

/// The code family of an OBX-3, given the message form and the loaded tables.
fn source_of(system: &str, code: &str, form: MessageForm, codes: &CodeMap) -> SourceKind {
    let upper = system.trim().to_ascii_uppercase();
    if upper == "MDC"
        || upper == "MDIL"
        || upper == "99PHI"
        || crate::codemap::mdil_to_mdc(code).is_some()
    {
        return SourceKind::Mdc;
    }
    if !upper.is_empty() {
        let named = SourceKind::Other(upper);
        if codes.has_source(&named) {
            return named;
        }
    }
    match form {
        MessageForm::NihonKohden => SourceKind::NihonKohden,
        MessageForm::Pcd01 => SourceKind::Mdc,
    }
}

/// MDC partition 1 (object infrastructure: MDS, VMD, channel) names devices, not
/// measurements; some senders put a placeholder value on those rows.
fn is_device_descriptor(code: &str) -> bool {
    let number = code
        .parse::<u32>()
        .ok()
        .or_else(|| crate::codemap::mdil_to_mdc(code));
    number.is_some_and(|n| (65_536..131_072).contains(&n))
}

/// An HL7 NM: optional sign, digits with at most one point. No exponents, no NaN.
fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let points = body.bytes().filter(|&b| b == b'.').count();
    if digits == 0 || points > 1 || digits + points != body.len() {
        return None;
    }
    t.parse().ok().filter(|v: &f64| v.is_finite())
}

fn observation(
    obx: Segment<'_>,
    obx_index: usize,
    form: MessageForm,
    times: &Times<'_>,
    catalogue: &Catalogue,
    codes: &CodeMap,
) -> Outcome {
    let value_text = obx.field(5).repetition(1).component(1).value();
    if value_text.trim().is_empty() {
        // Device, MDS, VMD and channel rows in PCD-01 have no value.
        return Outcome::Skip;
    }
    let id = obx.field(3);
    let code = id.component(1).value().trim().to_string();
    let code_text = id.component(2).value().trim().to_string();
    let system = id.component(3).value();
    let problem = |kind: ProblemKind, text: String| {
        Outcome::Problem(ReadingProblem {
            obx_index,
            code: code.clone(),
            kind,
            text,
        })
    };
    let named = if code_text.is_empty() {
        code.clone()
    } else {
        format!("{code} ({code_text})")
    };
    if code.is_empty() {
        return problem(
            ProblemKind::UnknownCode,
            format!("OBX {obx_index}: OBX-3 has no code"),
        );
    }
    let source = source_of(&system, &code, form, codes);
    if source == SourceKind::Mdc && is_device_descriptor(&code) {
        return Outcome::Skip;
    }
    let Some(entry) = codes.lookup(&source, &code) else {
        return problem(
            ProblemKind::UnknownCode,
            format!("OBX {obx_index}: code {named} is not in the {source} code table"),
        );
    };
    let Some(item) = catalogue.get(&entry.item) else {
        return problem(
            ProblemKind::UnknownCode,
            format!(
                "OBX {obx_index}: code {named} maps to item {}, which is not in the catalogue",
                entry.item
            ),
        );
    };
    let status_code = obx
        .field(11)
        .component(1)
        .value()
        .trim()
        .to_ascii_uppercase();
    if matches!(status_code.as_str(), "X" | "W" | "D") {
        return problem(
            ProblemKind::Invalid,
            format!(
                "OBX {obx_index}: {} marked invalid by the sender (OBX-11 {status_code})",
                item.label_en
            ),
        );
    }
    let Some(raw_value) = parse_number(&value_text) else {
        return problem(
            ProblemKind::Unparsable,
            format!(
                "OBX {obx_index}: {} value {:?} is not a number",
                item.label_en,
                value_text.chars().take(32).collect::<String>()
            ),
        );
    };
    let unit_field = obx.field(6);
    let mut raw_unit = unit_field.component(1).value().trim().to_string();
    if raw_unit.is_empty() {
        raw_unit = unit_field.component(2).value().trim().to_string();
    }
    let Some(conversion) = codes.conversion(entry, item, &raw_unit) else {
        return problem(
            ProblemKind::UnknownUnit,
            format!(
                "OBX {obx_index}: {} in unit {raw_unit:?} cannot be converted to {}",
                item.label_en, item.unit.ucum
            ),
        );
    };
    let value = conversion.apply(raw_value);
    if !item.is_plausible(value) {
        return problem(
            ProblemKind::ImpossibleValue {
                value,
                range: item.plausible,
            },
            format!(
                "OBX {obx_index}: {} {} {} is impossible (possible: {} {})",
                item.label_en,
                item.format(value),
                item.unit.display,
                item.plausible,
                item.unit.display
            ),
        );
    }
    let obx_time = obx.field(14).component(1).value().trim().to_string();
    let (time_text, field) = if !obx_time.is_empty() {
        (obx_time.as_str(), "OBX-14")
    } else if let Some(t) = times.obr {
        (t, "OBR-7")
    } else {
        (times.msh.trim(), "MSH-7")
    };
    let at = match parse_ts(time_text) {
        Some(t) if t.precision >= Precision::Minute => t.millis,
        Some(_) => {
            return problem(
                ProblemKind::NoTime,
                format!("OBX {obx_index}: {field} {time_text:?} is not precise to the minute"),
            )
        }
        None if time_text.is_empty() => {
            return problem(
                ProblemKind::NoTime,
                format!("OBX {obx_index}: no time in OBX-14, OBR-7 or MSH-7"),
            )
        }
        None => {
            return problem(
                ProblemKind::NoTime,
                format!(
                    "OBX {obx_index}: {field} {:?} is not a timestamp",
                    time_text.chars().take(32).collect::<String>()
                ),
            )
        }
    };
    let device = obx.field(18).component(1).value().trim().to_string();
    Outcome::Reading(Reading {
        item: item.code.clone(),
        value,
        at,
        raw_code: code.clone(),
        raw_unit,
        status: match status_code.as_str() {
            "F" => ResultStatus::Final,
            "R" | "P" => ResultStatus::Preliminary,
            "C" => ResultStatus::Corrected,
            _ => ResultStatus::Unspecified,
        },
        device: (!device.is_empty()).then_some(device),
        obx_index,
    })
}
