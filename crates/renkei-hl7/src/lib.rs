//! HL7 v2 for Renkei: character sets, parsing, acknowledgments, MLLP framing
//! and SS-MIX2 storage files.
//!
//! This crate knows nothing of the web or of SQL. The usual pipeline is:
//!
//! ```
//! use renkei_hl7::{encoding, message::Message, ack};
//!
//! // Bytes as received (here ISO-2022-JP, as SS-MIX2 and JAHIS peers send).
//! let text = "MSH|^~\\&|HIS|S|GW|R|20240101||ADT^A08^ADT_A01|42|P|2.5||||||~ISO IR87\r\
//!             PID|1||123^^^^PI||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P";
//! let bytes = encoding::encode_iso2022jp(text).unwrap();
//!
//! // 1. Decode to Unicode before splitting on delimiters.
//! let decoded = encoding::decode(&bytes).unwrap();
//! assert_eq!(decoded.charset, encoding::Charset::Iso2022Jp);
//!
//! // 2. Parse; accessors are 1-based and MSH-1 is the field separator.
//! let msg = Message::parse(decoded.text).unwrap();
//! assert_eq!(msg.get("PID-5[2].1").as_deref(), Some("カンジャ"));
//! assert_eq!(msg.segment("PID").unwrap().field(5).repetition(1).component(2).value(), "太郎");
//! assert_eq!(msg.header().control_id, "42");
//!
//! // 3. Acknowledge in the sender's version and charset.
//! let reply = ack::build_ack(&msg, &ack::Acknowledgment::Accept, &Default::default());
//! let charset = msg.header().declared_charset().unwrap_or(encoding::Charset::Ascii);
//! let reply_bytes = encoding::encode(&reply, charset).unwrap();
//! let framed = renkei_hl7::mllp::frame(&reply_bytes).unwrap();
//! assert_eq!(framed[0], 0x0B);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ack;
pub mod encoding;
pub mod message;
pub mod mllp;
pub mod ssmix2;

pub use message::{Message, ParseError};
