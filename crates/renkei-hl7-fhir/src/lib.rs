//! HL7 v2.5 messages — SS-MIX2 storage files and MLLP pushes — to FHIR R4
//! resources on the JP Core profiles.
//!
//! Two entry points:
//!
//! * [`demographics`] reads who the message is about (PID, IN1) for the
//!   patient index, which registers or updates the patient and gives back the
//!   network's `Patient/<id>`;
//! * [`map_message`] turns the clinical content into resources about that
//!   patient: encounters (ADT-12/21/22/42/51/52), allergies (ADT-61 IAM, ADT-00
//!   AL1), body measurements (ADT-00 OBX), diagnoses (PPR-01), prescriptions
//!   and injections (OMP-01/02), their administration (OMP-11/12) and results
//!   (OML-11, ORU^R01 such as OMG-13).
//!
//! ```
//! use renkei_hl7::Message;
//! use renkei_hl7_fhir::{demographics, map_message, MapContext};
//!
//! let msg = Message::parse(
//!     "MSH|^~\\&|HIS|H|GW|R|20111220103059||OUL^R22^OUL_R22|1|P|2.5\r\
//!      PID|1||0001000052^^^^PI||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P||19700405|M\r\
//!      SPM|1|||023^血清^JC10|||||||||||||201112191500\r\
//!      OBR|1|000000011000354||E001^血液学的検査^99O03\r\
//!      OBX|1|NM|3A010000002327101^総蛋白^JC10||7.2|g/dl^g/dl^99XYZ|6.70-8.3|N|||F",
//! ).unwrap();
//! let who = demographics(&msg).unwrap();
//! assert_eq!(who.local_id, "0001000052");
//! let ctx = MapContext { patient_reference: "Patient/p1", facility_id: "F1", source: "msg-1" };
//! let out = map_message(&msg, None, &ctx).unwrap();
//! let obs = &out.resources[0];
//! assert_eq!(obs["resourceType"], "Observation");
//! assert_eq!(obs["code"]["coding"][0]["code"], "3A010000002327101");
//! assert_eq!(obs["valueQuantity"]["value"], 7.2);
//! assert_eq!(obs["effectiveDateTime"], "2011-12-19T15:00:00+09:00");
//! assert_eq!(out.resources[1]["resourceType"], "DiagnosticReport");
//! assert_eq!(out.resources[1]["result"][0]["reference"], format!("Observation/{}", obs["id"].as_str().unwrap()));
//! ```
//!
//! Every resource carries `subject` (or `patient`) = the context's patient
//! reference, a deterministic `id` (see [`ids`]), business identifiers such as
//! the order number, its JP Core profile in `meta.profile`, and the source in
//! `meta.tag` (system [`codes::SOURCE_TAG`]) and, when it is a URI-safe string,
//! `meta.source`. References between resources of one message use their
//! ids (`Observation/<id>`); references to things the message does not create
//! (the prescription an administration fulfils, the doctor) are logical
//! (identifier or display only), so a store that checks literal references
//! accepts every batch.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codes;
pub mod ids;
pub mod time;

mod adt;
mod cx;
mod demographics;
mod pharmacy;
mod ppr;
mod results;

use std::fmt;

use renkei_hl7::Message;
use serde_json::Value;

pub use demographics::{demographics, Demographics};

/// Where the message's resources belong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapContext<'a> {
    /// The patient every resource is about, `Patient/<id>` (from the patient index).
    pub patient_reference: &'a str,
    /// The facility that sent the data; part of every id and of facility-scoped
    /// identifier and code systems.
    pub facility_id: &'a str,
    /// Where the message came from — an SS-MIX2 file key (the file name), an MLLP
    /// control ID… Recorded in `meta.tag`/`meta.source`; never part of an id.
    pub source: &'a str,
}

/// The resources mapped from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// FHIR R4 resources (JSON), in message order; a DiagnosticReport follows
    /// the Observations it references.
    pub resources: Vec<Value>,
    /// Things skipped or guessed (an OBX without a code, an unknown flag, an
    /// encounter that cannot be linked to its admission…), in English.
    pub warnings: Vec<String>,
}

/// Why a message could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// The data type or message type is not mapped (OMG-01, OMD, ADT-31…).
    Unsupported(String),
    /// A field the mapping cannot do without is empty.
    Missing {
        /// `SEG-n`, e.g. `PID-3`.
        field: String,
        /// 1-based position of the segment in the message, when it exists.
        segment: Option<usize>,
        /// What the field should hold.
        what: String,
    },
    /// A field's content is malformed.
    Invalid {
        /// `SEG-n`, e.g. `OBX-14`.
        field: String,
        /// 1-based position of the segment in the message.
        segment: Option<usize>,
        /// What is wrong, e.g. `'2023133' is not a date …`.
        message: String,
    },
    /// The SS-MIX2 data type (from the file name) and MSH-9 disagree.
    Inconsistent {
        /// The data type given.
        data_type: String,
        /// MSH-9 of the message.
        message_type: String,
    },
    /// The [`MapContext`] is unusable (empty facility, patient reference not
    /// `Patient/<id>`).
    Context(String),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |segment: &Option<usize>| match segment {
            Some(n) => format!(" (segment {n})"),
            None => String::new(),
        };
        match self {
            MapError::Unsupported(t) => write!(f, "{t}: not mapped to FHIR"),
            MapError::Missing {
                field,
                segment,
                what,
            } => write!(f, "{field}: {what} is missing{}", at(segment)),
            MapError::Invalid {
                field,
                segment,
                message,
            } => write!(f, "{field}: {message}{}", at(segment)),
            MapError::Inconsistent {
                data_type,
                message_type,
            } => write!(
                f,
                "data type {data_type} does not match MSH-9 '{message_type}'"
            ),
            MapError::Context(m) => write!(f, "mapping context: {m}"),
        }
    }
}

impl std::error::Error for MapError {}

/// The data types [`map_message`] maps. `ORU-R01` stands for a generic
/// `ORU^R01` result message received outside SS-MIX2.
pub const SUPPORTED_DATA_TYPES: &[&str] = &[
    "ADT-00", "ADT-12", "ADT-21", "ADT-22", "ADT-42", "ADT-51", "ADT-52", "ADT-61", "PPR-01",
    "OMP-01", "OMP-02", "OMP-11", "OMP-12", "OML-11", "OMG-13", "ORU-R01",
];

/// The SS-MIX2 data type a message holds, from MSH-9 (and, where MSH-9 alone
/// is ambiguous, its content): `ADT^A01` → `ADT-22`, `RDE^O11` → `OMP-01`,
/// or `OMP-02` when it has RXC segments, an injection dosage form (RXE-6
/// `INJ`) or a parenteral route; `ORU^R01` → `ORU-R01`. `None` when MSH-9 is
/// not an SS-MIX2 message (or, for `OMG^O19`, when the kind of order cannot be told).
pub fn infer_data_type(msg: &Message) -> Option<&'static str> {
    let header = msg.header();
    let trigger = header.trigger_event.trim().to_ascii_uppercase();
    Some(
        match (
            header.message_type.trim().to_ascii_uppercase().as_str(),
            trigger.as_str(),
        ) {
            ("ADT", "A08" | "A23" | "A28" | "A31") => "ADT-00",
            ("ADT", "A04") => "ADT-12",
            ("ADT", "A14" | "A27") => "ADT-21",
            ("ADT", "A01") => "ADT-22",
            ("ADT", "A11") => {
                let class = msg
                    .segment("PV1")
                    .map(|s| s.field(2).component(1).value().trim().to_string())
                    .unwrap_or_default();
                if class == "I" {
                    "ADT-22"
                } else {
                    "ADT-12"
                }
            }
            ("ADT", "A21" | "A52") => "ADT-31",
            ("ADT", "A22" | "A53") => "ADT-32",
            ("ADT", "A15" | "A26") => "ADT-41",
            ("ADT", "A02" | "A12") => "ADT-42",
            ("ADT", "A16" | "A25") => "ADT-51",
            ("ADT", "A03" | "A13") => "ADT-52",
            ("ADT", "A54" | "A55") => "ADT-71",
            ("ADT", "A60") => "ADT-61",
            ("PPR", _) => "PPR-01",
            ("RDE", _) if pharmacy::is_injection(msg) => "OMP-02",
            ("RDE", _) => "OMP-01",
            ("RAS", _) if pharmacy::is_injection(msg) => "OMP-12",
            ("RAS", _) => "OMP-11",
            ("OML", _) => "OML-01",
            ("OUL", _) => "OML-11",
            ("ORU", _) => "ORU-R01",
            ("OMD", _) => "OMD",
            _ => return None,
        },
    )
}

/// The message types (MSH-9.1) a data type may arrive in.
fn expected_message_types(data_type: &str) -> &'static [&'static str] {
    match data_type {
        d if d.starts_with("ADT-") => &["ADT"],
        "PPR-01" => &["PPR"],
        "OMP-01" | "OMP-02" => &["RDE"],
        "OMP-11" | "OMP-12" => &["RAS"],
        "OML-11" => &["OUL", "ORU"],
        "OMG-13" | "ORU-R01" => &["ORU"],
        _ => &[],
    }
}

/// The SS-MIX2 data type `msg` will be mapped as: `data_type` (from a file name) or the
/// one inferred from MSH-9, checked to be supported and consistent with MSH-9. Callers
/// use it to refuse a message before doing anything else with it (registering its
/// patient, say).
pub fn resolve_data_type(msg: &Message, data_type: Option<&str>) -> Result<String, MapError> {
    let header = msg.header();
    let message_type = header.message_type.trim().to_ascii_uppercase();
    let msh9 = format!("{}^{}", header.message_type, header.trigger_event);
    let data_type = match data_type {
        Some(d) => d.trim().to_ascii_uppercase(),
        None => match infer_data_type(msg) {
            Some(d) => d.to_string(),
            None => return Err(MapError::Unsupported(msh9)),
        },
    };
    if !SUPPORTED_DATA_TYPES.contains(&data_type.as_str()) {
        return Err(MapError::Unsupported(data_type));
    }
    if !expected_message_types(&data_type).contains(&message_type.as_str()) {
        return Err(MapError::Inconsistent {
            data_type,
            message_type: msh9,
        });
    }
    Ok(data_type)
}

/// Maps a message's clinical content to FHIR resources about `ctx.patient_reference`.
///
/// `data_type` is the SS-MIX2 data type when known from the file name
/// (`OMP-01`…); otherwise it is inferred from MSH-9 ([`infer_data_type`]).
/// A data type that disagrees with MSH-9 is an error ([`MapError::Inconsistent`]);
/// one outside [`SUPPORTED_DATA_TYPES`] is [`MapError::Unsupported`].
///
/// Malformed content in a field that would be mapped (a timestamp, a dose that
/// is not a number) fails the message with the field named; an item that
/// lacks what identifies it (an OBX without OBX-3, an RXE without RXE-2) is
/// skipped with a warning. Never panics.
pub fn map_message(
    msg: &Message,
    data_type: Option<&str>,
    ctx: &MapContext<'_>,
) -> Result<Mapped, MapError> {
    if ctx.facility_id.trim().is_empty() {
        return Err(MapError::Context("facility_id is empty".into()));
    }
    match ctx.patient_reference.strip_prefix("Patient/") {
        Some(id) if ids::is_valid_id(id) => {}
        _ => {
            return Err(MapError::Context(format!(
                "patient_reference '{}' is not Patient/<id>",
                ctx.patient_reference
            )))
        }
    }
    let data_type = resolve_data_type(msg, data_type)?;
    let local_id = demographics::local_id(msg)?;
    let mut cx = cx::Cx::new(msg, ctx, &data_type, local_id);
    match data_type.as_str() {
        "ADT-00" => adt::adt00(&mut cx)?,
        "ADT-61" => adt::adt61(&mut cx)?,
        "PPR-01" => ppr::map(&mut cx)?,
        "OMP-01" | "OMP-02" => pharmacy::requests(&mut cx)?,
        "OMP-11" | "OMP-12" => pharmacy::administrations(&mut cx)?,
        "OML-11" | "OMG-13" | "ORU-R01" => results::map(&mut cx)?,
        _ => adt::encounter(&mut cx)?,
    }
    Ok(cx.finish())
}
