//! Tele-ICU monitor data, the protocol side: what the bedside monitors send and what it
//! means, without I/O.
//!
//! * [`items`] — the catalogue of canonical data items (minute vitals, daily labs,
//!   manual entries) with units and physically possible ranges; extensible by
//!   configuration.
//! * [`codemap`] — per-source code tables (MDC / Philips MDIL / Nihon Kohden / site
//!   tables as CSV) and unit conversions, validated.
//! * [`oru`] — ORU^R01 in the IHE PCD-01 or Nihon Kohden form to readings in canonical
//!   units, with per-observation problems.
//! * [`adt`] — ADT bed events (admit, transfer, discharge…) for bed assignment.
//! * [`simulate`] — a deterministic simulator of monitored beds producing valid
//!   messages, for tests, demos and connection dry runs.
//!
//! ```
//! use renkei_icu::{parse_text, Catalogue, CodeMap, Inbound};
//!
//! let text = "MSH|^~\\&|CNS|F00002|RENKEI|C|20240101120000||ORU^R01|1|P|2.4\r\
//!             PID|||P123^^^F00002^PI\rPV1||I|^^BED-001\r\
//!             OBR|1|||VITAL|||20240101120000\r\
//!             OBX|1|NM|007000^VITAL SpO2||97|%|||||F\r\
//!             OBX|2|NM|007000^VITAL SpO2||140|%|||||F";
//! let catalogue = Catalogue::builtin();
//! let Inbound::Observations(m) = parse_text(text, &catalogue, &CodeMap::defaults()).unwrap() else {
//!     unreachable!()
//! };
//! assert_eq!(m.location.unwrap().bed, "BED-001");
//! assert_eq!((m.readings[0].item.as_str(), m.readings[0].value), ("spo2", 97.0));
//! assert_eq!(m.problems[0].text, "OBX 2: SpO2 140 % is impossible (possible: 0–100 %)");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adt;
pub mod codemap;
pub mod items;
pub mod oru;
pub mod simulate;
pub mod time;

pub use adt::{parse_adt, BedEvent, BedEventKind};
pub use codemap::{CodeMap, Conversion, SourceKind, TableProblem};
pub use items::{Catalogue, CatalogueError, ItemDef, ItemKind, Range, Unit};
pub use oru::{
    parse_oru, BedLocation, MessageForm, MonitorMessage, ParseError, PatientIdentifier,
    PatientName, ProblemKind, Reading, ReadingProblem, ResultStatus,
};

use renkei_hl7::Message;

/// A message from a monitoring source, by what it carries.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Inbound {
    /// ORU^R01: observations.
    Observations(MonitorMessage),
    /// ADT: a bed assignment change.
    Bed(BedEvent),
}

/// Parses a message by its type: ORU^R01 → observations, ADT^A01/A02/A03/A08/A11/A13 →
/// bed event; anything else is [`ParseError::WrongType`].
pub fn parse_message(
    msg: &Message,
    catalogue: &Catalogue,
    codes: &CodeMap,
) -> Result<Inbound, ParseError> {
    let kind = msg
        .msh()
        .field(9)
        .component(1)
        .value()
        .trim()
        .to_ascii_uppercase();
    match kind.as_str() {
        "ADT" => adt::parse_adt(msg).map(Inbound::Bed),
        "ORU" => oru::parse_oru(msg, catalogue, codes).map(Inbound::Observations),
        _ => Err(ParseError::WrongType {
            found: format!("{kind}^{}", msg.msh().field(9).component(2).value().trim()),
            expected: "ORU^R01 or ADT^A01, A02, A03, A08, A11, A13",
        }),
    }
}

/// [`parse_message`] on decoded text (decode bytes with `renkei_hl7::encoding` first).
pub fn parse_text(
    text: &str,
    catalogue: &Catalogue,
    codes: &CodeMap,
) -> Result<Inbound, ParseError> {
    let msg = Message::parse(text)?;
    parse_message(&msg, catalogue, codes)
}
