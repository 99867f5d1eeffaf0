//! Character-set detection, decoding and encoding of raw HL7 v2 bytes.
//!
//! HL7 messages must be decoded to Unicode *before* they are split on the
//! delimiters: in Shift_JIS the second byte of a double-byte character can be
//! `0x5C` (`\`) or `0x7C` (`|`), so splitting raw bytes corrupts fields.
//!
//! Japanese systems send:
//! - ISO-2022-JP (JIS X 0208 behind escape sequences; MSH-18 `~ISO IR87`),
//!   which SS-MIX2 mandates;
//! - UTF-8 (MSH-18 `UNICODE UTF-8`);
//! - Shift_JIS / CP932 and, rarely, EUC-JP from older gateways. These are
//!   decoded but flagged with a [`DecodeWarning`].
//!
//! `encoding_rs` implements the WHATWG variants: its "Shift_JIS" is CP932
//! (Windows-31J, with the NEC/IBM extensions), which is what hospital systems
//! actually emit.

use std::fmt;

use encoding_rs::{DecoderResult, EncoderResult, Encoding, EUC_JP, ISO_2022_JP, SHIFT_JIS};
use thiserror::Error;

/// A character set this crate can detect, decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    /// Only 7-bit bytes, no escape sequences (also valid ISO-2022-JP and UTF-8).
    Ascii,
    /// UTF-8 (a leading byte-order mark is stripped).
    Utf8,
    /// ISO-2022-JP: ASCII plus JIS X 0208 behind `ESC $ B` (the SS-MIX2 encoding).
    Iso2022Jp,
    /// Shift_JIS as CP932 (Windows-31J).
    ShiftJis,
    /// EUC-JP.
    EucJp,
}

impl Charset {
    /// The value to put in MSH-18 for an outgoing message in this charset.
    ///
    /// Japanese HL7 (JAHIS) leaves the first repetition empty (ASCII, ISO IR6)
    /// and names JIS X 0208 in the second one, hence `~ISO IR87`. Shift_JIS and
    /// EUC-JP have no HL7 table 0211 value; `None` is returned for them.
    pub fn msh18(self) -> Option<&'static str> {
        match self {
            Charset::Ascii => Some(""),
            Charset::Utf8 => Some("UNICODE UTF-8"),
            Charset::Iso2022Jp => Some("~ISO IR87"),
            Charset::ShiftJis | Charset::EucJp => None,
        }
    }

    /// Interprets an MSH-18 value (all repetitions, raw) as a charset.
    ///
    /// Recognises the table 0211 values used in Japan (`ISO IR87`, `ISO IR159`,
    /// `UNICODE UTF-8`) with or without the space, plus the non-standard names
    /// vendors write for Shift_JIS and EUC-JP. Returns `None` when nothing is
    /// recognised (an empty MSH-18 means ASCII by the standard, but many
    /// senders leave it empty whatever they send).
    pub fn from_msh18(value: &str) -> Option<Charset> {
        let upper = value.to_ascii_uppercase();
        let compact: String = upper
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .collect();
        if compact.contains("UTF8") {
            Some(Charset::Utf8)
        } else if compact.contains("ISOIR87") || compact.contains("ISOIR159") {
            Some(Charset::Iso2022Jp)
        } else if compact.contains("SHIFTJIS")
            || compact.contains("SJIS")
            || compact.contains("CP932")
            || compact.contains("MS932")
            || compact.contains("WINDOWS31J")
        {
            Some(Charset::ShiftJis)
        } else if compact.contains("EUC") {
            Some(Charset::EucJp)
        } else if compact == "ASCII" || compact == "ISOIR6" {
            Some(Charset::Ascii)
        } else {
            None
        }
    }

    fn encoding_rs(self) -> Option<&'static Encoding> {
        match self {
            Charset::Ascii => None,
            Charset::Utf8 => Some(encoding_rs::UTF_8),
            Charset::Iso2022Jp => Some(ISO_2022_JP),
            Charset::ShiftJis => Some(SHIFT_JIS),
            Charset::EucJp => Some(EUC_JP),
        }
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Charset::Ascii => "ASCII",
            Charset::Utf8 => "UTF-8",
            Charset::Iso2022Jp => "ISO-2022-JP",
            Charset::ShiftJis => "Shift_JIS (CP932)",
            Charset::EucJp => "EUC-JP",
        })
    }
}

/// Something tolerated while decoding that a caller may want to log or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeWarning {
    /// The bytes are Shift_JIS/CP932, which HL7 table 0211 does not name.
    ShiftJisTolerated,
    /// The bytes are EUC-JP, which HL7 table 0211 does not name.
    EucJpTolerated,
    /// The bytes decode both as Shift_JIS and as EUC-JP; the named one was chosen.
    AmbiguousLegacyEncoding {
        /// The charset that was used.
        chosen: Charset,
    },
    /// A UTF-8 byte-order mark was stripped.
    ByteOrderMarkStripped,
    /// MSH-18 names a different charset than the bytes are in.
    DeclaredCharsetMismatch {
        /// Charset named by MSH-18.
        declared: Charset,
        /// Charset the bytes were decoded as.
        detected: Charset,
    },
}

impl fmt::Display for DecodeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeWarning::ShiftJisTolerated => {
                f.write_str("message is Shift_JIS (CP932), not an HL7 charset; decoded anyway")
            }
            DecodeWarning::EucJpTolerated => {
                f.write_str("message is EUC-JP, not an HL7 charset; decoded anyway")
            }
            DecodeWarning::AmbiguousLegacyEncoding { chosen } => {
                write!(f, "bytes are valid Shift_JIS and EUC-JP; chose {chosen}")
            }
            DecodeWarning::ByteOrderMarkStripped => f.write_str("UTF-8 byte-order mark stripped"),
            DecodeWarning::DeclaredCharsetMismatch { declared, detected } => {
                write!(f, "MSH-18 declares {declared} but the bytes are {detected}")
            }
        }
    }
}

/// Decoded message text with the detected charset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The message as Unicode text, delimiters intact.
    pub text: String,
    /// The charset the bytes were decoded from.
    pub charset: Charset,
    /// What was tolerated on the way.
    pub warnings: Vec<DecodeWarning>,
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes are malformed in the charset they were taken to be in.
    #[error("bytes are not valid {charset}: malformed sequence at byte offset {offset}")]
    Malformed {
        /// Charset tried.
        charset: Charset,
        /// Byte offset of the first malformed sequence.
        offset: usize,
    },
    /// Non-ASCII bytes that are neither UTF-8, Shift_JIS nor EUC-JP.
    #[error(
        "bytes are not in a supported charset (UTF-8, ISO-2022-JP, Shift_JIS, EUC-JP): \
         first non-ASCII byte 0x{byte:02X} at offset {offset}"
    )]
    UnknownCharset {
        /// Offset of the first byte ≥ 0x80.
        offset: usize,
        /// That byte.
        byte: u8,
    },
}

/// Why text could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A character has no representation in the target charset.
    #[error("character {ch:?} (U+{code:04X}) at byte offset {offset} cannot be represented in {charset}", code = *.ch as u32)]
    Unrepresentable {
        /// The character.
        ch: char,
        /// Its byte offset in the UTF-8 input (after half-width kana
        /// conversion for ISO-2022-JP).
        offset: usize,
        /// The target charset.
        charset: Charset,
    },
}

const ESC: u8 = 0x1B;

/// Detects the charset of raw HL7 bytes and decodes them to a `String`.
///
/// Order of detection: a UTF-8 BOM; pure 7-bit bytes (ISO-2022-JP when they
/// contain `ESC`, otherwise ASCII); valid UTF-8; then Shift_JIS or EUC-JP,
/// whichever decodes without error (when both do, MSH-18 decides, and without
/// a hint EUC-JP wins because typical Shift_JIS kana and kanji use lead bytes
/// 0x81–0x9F that EUC-JP rejects, whereas EUC-JP text usually also passes as
/// Shift_JIS half-width kana).
///
/// Decoding never substitutes U+FFFD: malformed bytes give a [`DecodeError`]
/// with the byte offset, so a corrupt message is rejected rather than stored
/// with silent damage.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut warnings = Vec::new();
    let declared = declared_charset(bytes);

    let (text, charset) = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        warnings.push(DecodeWarning::ByteOrderMarkStripped);
        (decode_strict(rest, Charset::Utf8)?, Charset::Utf8)
    } else if bytes.is_ascii() {
        if bytes.contains(&ESC) {
            (
                decode_strict(bytes, Charset::Iso2022Jp)?,
                Charset::Iso2022Jp,
            )
        } else {
            // Safe: all bytes are ASCII.
            (String::from_utf8_lossy(bytes).into_owned(), Charset::Ascii)
        }
    } else if let Ok(s) = std::str::from_utf8(bytes) {
        (s.to_owned(), Charset::Utf8)
    } else {
        let sjis = decode_strict(bytes, Charset::ShiftJis);
        let euc = decode_strict(bytes, Charset::EucJp);
        match (sjis, euc) {
            (Ok(s), Err(_)) => {
                warnings.push(DecodeWarning::ShiftJisTolerated);
                (s, Charset::ShiftJis)
            }
            (Err(_), Ok(e)) => {
                warnings.push(DecodeWarning::EucJpTolerated);
                (e, Charset::EucJp)
            }
            (Ok(s), Ok(e)) => {
                let chosen = if declared == Some(Charset::ShiftJis) {
                    Charset::ShiftJis
                } else {
                    Charset::EucJp
                };
                warnings.push(DecodeWarning::AmbiguousLegacyEncoding { chosen });
                if chosen == Charset::ShiftJis {
                    warnings.push(DecodeWarning::ShiftJisTolerated);
                    (s, Charset::ShiftJis)
                } else {
                    warnings.push(DecodeWarning::EucJpTolerated);
                    (e, Charset::EucJp)
                }
            }
            (Err(_), Err(_)) => {
                let offset = bytes.iter().position(|b| !b.is_ascii()).unwrap_or(0);
                return Err(DecodeError::UnknownCharset {
                    offset,
                    byte: bytes.get(offset).copied().unwrap_or(0),
                });
            }
        }
    };

    if let Some(declared) = declared {
        // Pure ASCII is a valid subset of every declared charset.
        if declared != charset && charset != Charset::Ascii {
            warnings.push(DecodeWarning::DeclaredCharsetMismatch {
                declared,
                detected: charset,
            });
        }
    }
    Ok(Decoded {
        text,
        charset,
        warnings,
    })
}

/// Decodes bytes known to be in `charset`, failing on the first malformed
/// sequence (no replacement characters).
pub fn decode_as(bytes: &[u8], charset: Charset) -> Result<String, DecodeError> {
    decode_strict(bytes, charset)
}

fn decode_strict(bytes: &[u8], charset: Charset) -> Result<String, DecodeError> {
    let Some(enc) = charset.encoding_rs() else {
        return match bytes.iter().position(|b| !b.is_ascii()) {
            None => Ok(String::from_utf8_lossy(bytes).into_owned()),
            Some(offset) => Err(DecodeError::Malformed { charset, offset }),
        };
    };
    let mut decoder = enc.new_decoder_without_bom_handling();
    // `None` only on arithmetic overflow, i.e. never for an in-memory slice;
    // fall back to a growing buffer rather than panic.
    let cap = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(3));
    let mut out = String::with_capacity(cap);
    let mut read_total = 0;
    loop {
        let (result, read) =
            decoder.decode_to_string_without_replacement(&bytes[read_total..], &mut out, true);
        read_total += read;
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::Malformed(bad, after) => {
                let offset = read_total.saturating_sub(bad as usize + after as usize);
                return Err(DecodeError::Malformed { charset, offset });
            }
            DecoderResult::OutputFull => out.reserve(bytes.len() - read_total + 16),
        }
    }
}

/// Looks for an MSH-18 charset name in the first segment of raw bytes.
///
/// The fields cannot be counted on raw bytes (a Shift_JIS trail byte may be
/// `|`), so this only searches the first line for known names. Good enough to
/// break a Shift_JIS/EUC-JP tie and to flag a mismatch.
fn declared_charset(bytes: &[u8]) -> Option<Charset> {
    if !bytes.starts_with(b"MSH") && !bytes.starts_with(b"\x0BMSH") {
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[..end];
    // Only the 7-bit part matters for the names in question.
    let ascii: String = line
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { ' ' })
        .collect();
    // MSH-18 is the 17th separator-delimited piece after "MSH"; count on the
    // ASCII-only projection, tolerating miscounts by falling back to a search.
    let sep = ascii.chars().nth(3)?;
    let field18 = ascii.split(sep).nth(17).unwrap_or("");
    Charset::from_msh18(field18)
}

/// Full-width forms of U+FF61..=U+FF9F, in order.
const HALFWIDTH_KANA_TO_FULL: &str =
    "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";

/// Converts half-width katakana to full-width, composing voiced and
/// semi-voiced marks (`ｼﾞ` → `ジ`, `ﾎﾟ` → `ポ`).
///
/// ISO-2022-JP (JIS X 0208) has no half-width kana and the WHATWG encoder
/// maps them one by one, which would leave `シ゛` in a patient's kana name;
/// SS-MIX2 forbids half-width kana. Borrows when there is nothing to do.
pub fn halfwidth_kana_to_fullwidth(text: &str) -> std::borrow::Cow<'_, str> {
    let is_half = |c: char| ('\u{FF61}'..='\u{FF9F}').contains(&c);
    if !text.chars().any(is_half) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !is_half(c) {
            out.push(c);
            continue;
        }
        let full = HALFWIDTH_KANA_TO_FULL
            .chars()
            .nth(c as usize - 0xFF61)
            .unwrap_or(c);
        let composed = match chars.peek() {
            Some('\u{FF9E}') => match full {
                'ウ' => Some('ヴ'),
                'カ'..='ト' | 'ハ'..='ホ' => voiced(full, 1),
                _ => None,
            },
            Some('\u{FF9F}') => match full {
                'ハ'..='ホ' => voiced(full, 2),
                _ => None,
            },
            _ => None,
        };
        match composed {
            Some(v) => {
                chars.next();
                out.push(v);
            }
            None => out.push(full),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The voiced (+1) or semi-voiced (+2) form of a katakana, when the code
/// point after it is one (カ→ガ, ハ→バ/パ; not ッ or small kana).
fn voiced(base: char, offset: u32) -> Option<char> {
    // In the カ..ト and ハ..ホ ranges, voiceable kana are those followed by
    // their voiced forms: each row is (plain, voiced) or (plain, voiced, semi).
    const VOICEABLE: &str = "カキクケコサシスセソタチツテトハヒフヘホ";
    if !VOICEABLE.contains(base) {
        return None;
    }
    char::from_u32(base as u32 + offset)
}

/// Encodes text for an outgoing message, failing on the first character the
/// charset cannot represent (no `&#NNNN;` replacement, which would corrupt HL7).
///
/// For ISO-2022-JP, half-width katakana are first converted to full-width
/// with [`halfwidth_kana_to_fullwidth`] (SS-MIX2 forbids half-width kana).
pub fn encode(text: &str, charset: Charset) -> Result<Vec<u8>, EncodeError> {
    if charset == Charset::Iso2022Jp {
        let full = halfwidth_kana_to_fullwidth(text);
        if let std::borrow::Cow::Owned(full) = full {
            return encode_inner(&full, charset);
        }
    }
    encode_inner(text, charset)
}

fn encode_inner(text: &str, charset: Charset) -> Result<Vec<u8>, EncodeError> {
    let Some(enc) = charset.encoding_rs() else {
        return match text.char_indices().find(|(_, c)| !c.is_ascii()) {
            None => Ok(text.as_bytes().to_vec()),
            Some((offset, ch)) => Err(EncodeError::Unrepresentable {
                ch,
                offset,
                charset,
            }),
        };
    };
    if charset == Charset::Utf8 {
        return Ok(text.as_bytes().to_vec());
    }
    let mut encoder = enc.new_encoder();
    let cap = encoder
        .max_buffer_length_from_utf8_without_replacement(text.len())
        .unwrap_or(text.len().saturating_mul(8));
    let mut out = Vec::with_capacity(cap);
    let mut read_total = 0;
    loop {
        let (result, read) = encoder.encode_from_utf8_to_vec_without_replacement(
            &text[read_total..],
            &mut out,
            true,
        );
        read_total += read;
        match result {
            EncoderResult::InputEmpty => return Ok(out),
            EncoderResult::Unmappable(ch) => {
                return Err(EncodeError::Unrepresentable {
                    ch,
                    offset: read_total - ch.len_utf8(),
                    charset,
                })
            }
            EncoderResult::OutputFull => out.reserve(text.len() - read_total + 16),
        }
    }
}

/// Encodes text to ISO-2022-JP (the SS-MIX2 and JAHIS charset).
pub fn encode_iso2022jp(text: &str) -> Result<Vec<u8>, EncodeError> {
    encode(text, Charset::Iso2022Jp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KANJI_NAME: &str = "患者^太郎";

    #[test]
    fn iso2022jp_round_trip() {
        let bytes = encode_iso2022jp(KANJI_NAME).unwrap();
        assert!(bytes.is_ascii());
        assert!(bytes.starts_with(b"\x1b$B"));
        assert!(bytes.ends_with(b"\x1b(B"));
        let d = decode(&bytes).unwrap();
        assert_eq!(d.text, KANJI_NAME);
        assert_eq!(d.charset, Charset::Iso2022Jp);
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn ascii_and_utf8() {
        let d = decode(b"MSH|^~\\&|A").unwrap();
        assert_eq!(d.charset, Charset::Ascii);
        let d = decode("MSH|^~\\&|患者".as_bytes()).unwrap();
        assert_eq!(d.charset, Charset::Utf8);
        assert_eq!(d.text, "MSH|^~\\&|患者");
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice("患者".as_bytes());
        let d = decode(&bom).unwrap();
        assert_eq!(d.text, "患者");
        assert_eq!(d.warnings, vec![DecodeWarning::ByteOrderMarkStripped]);
    }

    #[test]
    fn shift_jis_trail_byte_is_pipe_or_backslash() {
        // "ソ" is 0x83 0x5C and "ポ" 0x83 0x7C in Shift_JIS: trail bytes `\` and `|`.
        let text = "MSH|^~\\&|ソポ|X";
        let (bytes, _, had_errors) = SHIFT_JIS.encode(text);
        assert!(!had_errors);
        assert!(bytes.windows(2).any(|w| w == [0x83, b'\\']));
        assert!(bytes.windows(2).any(|w| w == [0x83, b'|']));
        let d = decode(&bytes).unwrap();
        assert_eq!(d.charset, Charset::ShiftJis);
        assert_eq!(d.text, text);
        assert_eq!(d.warnings, vec![DecodeWarning::ShiftJisTolerated]);
    }

    #[test]
    fn euc_jp_detected() {
        let text = "MSH|^~\\&|患者 太郎";
        let (bytes, _, had_errors) = EUC_JP.encode(text);
        assert!(!had_errors);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.charset, Charset::EucJp);
        assert_eq!(d.text, text);
    }

    #[test]
    fn declared_mismatch_is_a_warning() {
        let text = "MSH|^~\\&|||||||ADT^A08|1|P|2.5||||||~ISO IR87\r患者";
        let d = decode(text.as_bytes()).unwrap();
        assert_eq!(d.charset, Charset::Utf8);
        assert_eq!(
            d.warnings,
            vec![DecodeWarning::DeclaredCharsetMismatch {
                declared: Charset::Iso2022Jp,
                detected: Charset::Utf8
            }]
        );
    }

    #[test]
    fn malformed_iso2022jp_reports_offset() {
        // ESC $ B then an odd byte count of JIS X 0208 (invalid 0x7F trail).
        let bytes = b"MSH|\x1b$B\x34\x35\x7f\x1b(B";
        let err = decode(bytes).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Malformed {
                charset: Charset::Iso2022Jp,
                ..
            }
        ));
    }

    #[test]
    fn undecodable_bytes_are_an_error() {
        // 0xFF is invalid in UTF-8, Shift_JIS (CP932) and EUC-JP alike.
        let err = decode(b"MSH|\xFF\xFF|").unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnknownCharset {
                offset: 4,
                byte: 0xFF
            }
        );
        assert!(err.to_string().contains("0xFF"));
    }

    #[test]
    fn unrepresentable_character_is_an_error() {
        let err = encode_iso2022jp("abc😀").unwrap_err();
        assert_eq!(
            err,
            EncodeError::Unrepresentable {
                ch: '😀',
                offset: 3,
                charset: Charset::Iso2022Jp
            }
        );
        assert!(encode("é", Charset::Ascii).is_err());
        assert_eq!(encode("abc", Charset::Ascii).unwrap(), b"abc");
    }

    #[test]
    fn halfwidth_kana_become_fullwidth() {
        let bytes = encode_iso2022jp("ｶﾝｼﾞｬ ﾎﾟﾝﾌﾟ ｳﾞ ｱﾞ｡").unwrap();
        assert_eq!(decode(&bytes).unwrap().text, "カンジャ ポンプ ヴ ア゛。");
        assert!(matches!(
            halfwidth_kana_to_fullwidth("全角カナ"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn msh18_names() {
        assert_eq!(Charset::from_msh18("~ISO IR87"), Some(Charset::Iso2022Jp));
        assert_eq!(Charset::from_msh18("~ISOIR87"), Some(Charset::Iso2022Jp));
        assert_eq!(Charset::from_msh18("UNICODE UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::from_msh18("Shift_JIS"), Some(Charset::ShiftJis));
        assert_eq!(Charset::from_msh18(""), None);
        assert_eq!(Charset::Iso2022Jp.msh18(), Some("~ISO IR87"));
    }
}
