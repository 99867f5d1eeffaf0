//! A small HL7 v2 (ER7, "pipe and hat") parser.
//!
//! The parser owns the decoded text and records where each segment and field
//! starts; repetitions, components and sub-components are split on access.
//! That keeps parsing to one pass with two allocations per message, and no
//! accessor can fail: an absent element is simply empty.
//!
//! Numbering follows HL7: fields, repetitions, components and sub-components
//! are 1-based, and in MSH the field separator itself is MSH-1 and the
//! encoding characters are MSH-2, so MSH-9 is the message type.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a message could not be parsed. Each variant says where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing but whitespace or MLLP framing bytes.
    #[error("empty message")]
    Empty,
    /// The first segment is not MSH.
    #[error("message must start with an MSH segment, found {found:?} in segment 1")]
    MissingMsh {
        /// The first few characters of the first segment.
        found: String,
    },
    /// MSH-1 / MSH-2 do not define a usable set of delimiters.
    #[error("bad delimiters in MSH-{field}: {reason}")]
    BadDelimiters {
        /// 1 (field separator) or 2 (encoding characters).
        field: usize,
        /// What is wrong.
        reason: String,
    },
    /// A segment does not start with a three-character segment ID.
    #[error("segment {segment}: invalid segment ID {id:?} (expected 3 characters A-Z/0-9)")]
    InvalidSegmentId {
        /// 1-based position of the segment in the message.
        segment: usize,
        /// The offending text (truncated).
        id: String,
    },
}

/// The five (v2.7: six) delimiter characters of a message, from MSH-1 and MSH-2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiters {
    /// Field separator, MSH-1 (normally `|`).
    pub field: char,
    /// Component separator (normally `^`).
    pub component: char,
    /// Repetition separator (normally `~`).
    pub repetition: char,
    /// Escape character (normally `\`).
    pub escape: char,
    /// Sub-component separator (normally `&`).
    pub subcomponent: char,
    /// Truncation character, v2.7+ (normally `#`), if MSH-2 has a fifth character.
    pub truncation: Option<char>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
            truncation: None,
        }
    }
}

impl Delimiters {
    /// The MSH-2 value (`^~\&`, or `^~\&#` with a truncation character).
    pub fn encoding_characters(&self) -> String {
        let mut s = String::with_capacity(5);
        s.push(self.component);
        s.push(self.repetition);
        s.push(self.escape);
        s.push(self.subcomponent);
        if let Some(t) = self.truncation {
            s.push(t);
        }
        s
    }

    /// Escapes text so it can be placed inside a field (`|` → `\F\`, etc.).
    /// CR and LF become `\X0D\` / `\X0A\` since they would end the segment.
    pub fn escape(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let code = if c == self.field {
                Some("F")
            } else if c == self.component {
                Some("S")
            } else if c == self.subcomponent {
                Some("T")
            } else if c == self.repetition {
                Some("R")
            } else if c == self.escape {
                Some("E")
            } else if Some(c) == self.truncation {
                Some("P")
            } else if c == '\r' {
                Some("X0D")
            } else if c == '\n' {
                Some("X0A")
            } else {
                None
            };
            match code {
                Some(code) => {
                    out.push(self.escape);
                    out.push_str(code);
                    out.push(self.escape);
                }
                None => out.push(c),
            }
        }
        out
    }

    /// Replaces HL7 escape sequences in a leaf value.
    ///
    /// Handled: `\F\ \S\ \T\ \R\ \E\` (and `\P\` in v2.7), `\Xhh..\` (hex
    /// bytes, inserted when they form UTF-8), `\.br\` → line feed, `\.sp\`
    /// → line feed, and `\H\ \N\` (highlighting) dropped. Anything else —
    /// unknown or unterminated sequences, `\Cxxyy\` charset switches — is kept
    /// verbatim so no information is lost. Borrows when there is nothing to do.
    pub fn unescape<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        let esc = self.escape;
        if !raw.contains(esc) {
            return Cow::Borrowed(raw);
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(start) = rest.find(esc) {
            out.push_str(&rest[..start]);
            let after = &rest[start + esc.len_utf8()..];
            let Some(len) = after.find(esc) else {
                // Unterminated: keep the remainder as it is.
                out.push_str(&rest[start..]);
                return Cow::Owned(out);
            };
            let seq = &after[..len];
            let consumed = start + esc.len_utf8() + len + esc.len_utf8();
            match seq {
                "F" => out.push(self.field),
                "S" => out.push(self.component),
                "T" => out.push(self.subcomponent),
                "R" => out.push(self.repetition),
                "E" => out.push(self.escape),
                "P" if self.truncation.is_some() => out.push(self.truncation.unwrap_or('#')),
                "H" | "N" => {}
                ".br" | ".sp" => out.push('\n'),
                _ if seq.len() > 1 && seq.starts_with('X') => match hex_to_string(&seq[1..]) {
                    Some(s) => out.push_str(&s),
                    None => out.push_str(&rest[start..consumed]),
                },
                _ => out.push_str(&rest[start..consumed]),
            }
            rest = &rest[consumed..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

fn hex_to_string(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    String::from_utf8(bytes).ok()
}

#[derive(Debug, Clone)]
struct SegmentSpan {
    start: usize,
    end: usize,
    /// Index into `Message::fields` of this segment's field 0 (the ID).
    first_field: usize,
    /// Number of entries in `Message::fields`, including the ID.
    field_count: usize,
    /// MSH-1 and MSH-2 (or FHS/BHS) are literal, never split or unescaped.
    header: bool,
}

/// A parsed HL7 v2 message. Owns its (decoded) text.
#[derive(Debug, Clone)]
pub struct Message {
    text: String,
    delimiters: Delimiters,
    segments: Vec<SegmentSpan>,
    /// Byte ranges of all fields of all segments, in order.
    fields: Vec<(usize, usize)>,
}

/// Characters stripped from both ends of a message before parsing: line
/// breaks, NUL, and MLLP framing residue (VT, FS) that file exports and
/// careless gateways leave behind (the NHO SS-MIX2 sample ends with CR FS).
fn is_edge_junk(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{0B}' | '\u{1C}' | '\0' | '\u{FEFF}')
}

fn is_segment_break(c: char) -> bool {
    c == '\r' || c == '\n'
}

impl Message {
    /// Parses decoded message text (use [`crate::encoding::decode`] first).
    ///
    /// Segments may be separated by CR (the standard), LF or CRLF; empty
    /// lines are skipped. Leading/trailing line breaks and MLLP framing bytes
    /// are ignored.
    pub fn parse(text: impl Into<String>) -> Result<Message, ParseError> {
        let text: String = text.into();
        let start = text.len() - text.trim_start_matches(is_edge_junk).len();
        let end = text.trim_end_matches(is_edge_junk).len().max(start);
        if start >= end {
            return Err(ParseError::Empty);
        }
        let body = &text[start..end];
        if !body.starts_with("MSH") {
            let found: String = body
                .split(is_segment_break)
                .next()
                .unwrap_or("")
                .chars()
                .take(8)
                .collect();
            return Err(ParseError::MissingMsh { found });
        }
        let delimiters = parse_delimiters(body)?;

        let mut segments = Vec::with_capacity(16);
        let mut fields = Vec::with_capacity(body.len() / 8);
        let mut pos = start;
        for line in body.split(is_segment_break) {
            let line_start = pos;
            pos += line.len() + 1; // every piece but the last is followed by one break char
            if line.is_empty() {
                continue;
            }
            let seg_no = segments.len() + 1;
            let id_end = line.find(delimiters.field).unwrap_or(line.len());
            let id = &line[..id_end];
            if !is_valid_segment_id(id) {
                return Err(ParseError::InvalidSegmentId {
                    segment: seg_no,
                    id: id.chars().take(16).collect(),
                });
            }
            let first_field = fields.len();
            fields.push((line_start, line_start + id_end));
            let header = matches!(id, "MSH" | "FHS" | "BHS") && id_end < line.len();
            if id_end < line.len() {
                let sep_len = delimiters.field.len_utf8();
                let mut field_start = line_start + id_end + sep_len;
                if header {
                    // MSH-1 is the separator character itself.
                    fields.push((line_start + id_end, field_start));
                }
                let rest = &line[id_end + sep_len..];
                for piece in rest.split(delimiters.field) {
                    fields.push((field_start, field_start + piece.len()));
                    field_start += piece.len() + sep_len;
                }
            }
            segments.push(SegmentSpan {
                start: line_start,
                end: line_start + line.len(),
                first_field,
                field_count: fields.len() - first_field,
                header,
            });
        }
        Ok(Message {
            text,
            delimiters,
            segments,
            fields,
        })
    }

    /// The whole (decoded) message text as received, including any edge junk.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The delimiters declared in MSH-1/MSH-2.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The segment at a 0-based position.
    pub fn segment_at(&self, index: usize) -> Option<Segment<'_>> {
        (index < self.segments.len()).then_some(Segment { msg: self, index })
    }

    /// All segments in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        (0..self.segments.len()).map(move |index| Segment { msg: self, index })
    }

    /// All segments with the given ID (e.g. every `OBX`), in order.
    pub fn segments_by_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = Segment<'a>> + 'a {
        self.segments().filter(move |s| s.id() == id)
    }

    /// The `occurrence`-th (1-based) segment with the given ID.
    pub fn nth_segment(&self, id: &str, occurrence: usize) -> Option<Segment<'_>> {
        self.segments()
            .filter(|s| s.id() == id)
            .nth(occurrence.checked_sub(1)?)
    }

    /// The first segment with the given ID.
    pub fn segment(&self, id: &str) -> Option<Segment<'_>> {
        self.segments().find(|s| s.id() == id)
    }

    /// The MSH segment (always present in a parsed message).
    pub fn msh(&self) -> Segment<'_> {
        Segment {
            msg: self,
            index: 0,
        }
    }

    /// Value at a path such as `PID-5[2].1`, `OBX[3]-5` or `MSH-9.2`,
    /// unescaped.
    ///
    /// Like HAPI's Terser, a path that stops above a leaf means the first
    /// repetition, component and sub-component: `PID-5` is the family name of
    /// the first name. Returns `None` when the element is absent or empty, or
    /// when the path is malformed (use [`Path::from_str`] to validate paths).
    pub fn get(&self, path: &str) -> Option<Cow<'_, str>> {
        let path = Path::from_str(path).ok()?;
        self.get_path(&path)
    }

    /// [`Message::get`] with a pre-parsed path.
    pub fn get_path(&self, path: &Path) -> Option<Cow<'_, str>> {
        let seg = self.nth_segment(&path.segment, path.occurrence)?;
        let v = seg
            .field(path.field)
            .repetition(path.repetition)
            .component(path.component.unwrap_or(1))
            .subcomponent(path.subcomponent.unwrap_or(1))
            .value();
        (!v.is_empty()).then_some(v)
    }

    /// Raw (still escaped) text of the element a path names, at the level it
    /// names: `PID-5` gives the whole field with all repetitions, `PID-5[2]`
    /// one repetition, `PID-5[2].1` one component.
    pub fn get_raw(&self, path: &str) -> Option<&str> {
        let path = Path::from_str(path).ok()?;
        let seg = self.nth_segment(&path.segment, path.occurrence)?;
        let field = seg.field(path.field);
        let raw = match (path.explicit_repetition, path.component, path.subcomponent) {
            (false, None, _) => field.raw(),
            (true, None, _) => field.repetition(path.repetition).raw(),
            (_, Some(c), None) => field.repetition(path.repetition).component(c).raw(),
            (_, Some(c), Some(s)) => field
                .repetition(path.repetition)
                .component(c)
                .subcomponent(s)
                .raw(),
        };
        (!raw.is_empty()).then_some(raw)
    }

    /// Typed view of the MSH fields.
    pub fn header(&self) -> Header {
        let msh = self.msh();
        let val = |n: usize, c: usize| msh.field(n).component(c).value().into_owned();
        Header {
            delimiters: self.delimiters.clone(),
            sending_application: msh.field(3).raw().to_owned(),
            sending_facility: msh.field(4).raw().to_owned(),
            receiving_application: msh.field(5).raw().to_owned(),
            receiving_facility: msh.field(6).raw().to_owned(),
            timestamp: val(7, 1),
            message_type: val(9, 1),
            trigger_event: val(9, 2),
            message_structure: val(9, 3),
            control_id: val(10, 1),
            processing_id: val(11, 1),
            version: val(12, 1),
            charset: msh
                .field(18)
                .repetitions()
                .map(|r| r.value().into_owned())
                .collect(),
        }
    }
}

impl fmt::Display for Message {
    /// Writes the segments separated by CR (normalising LF/CRLF input).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments().enumerate() {
            if i > 0 {
                f.write_str("\r")?;
            }
            f.write_str(s.raw())?;
        }
        Ok(())
    }
}

fn is_valid_segment_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 3
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn parse_delimiters(body: &str) -> Result<Delimiters, ParseError> {
    let mut chars = body["MSH".len()..].chars();
    let field = chars.next().ok_or_else(|| ParseError::BadDelimiters {
        field: 1,
        reason: "MSH segment ends before the field separator".into(),
    })?;
    if field.is_alphanumeric() || field.is_whitespace() || field.is_control() {
        return Err(ParseError::BadDelimiters {
            field: 1,
            reason: format!("{field:?} cannot be a field separator"),
        });
    }
    let enc: Vec<char> = chars
        .take_while(|&c| c != field && !is_segment_break(c))
        .take(6)
        .collect();
    if enc.len() < 4 || enc.len() > 5 {
        return Err(ParseError::BadDelimiters {
            field: 2,
            reason: format!(
                "expected 4 encoding characters (5 with v2.7 truncation), found {}",
                enc.len()
            ),
        });
    }
    for (i, &c) in enc.iter().enumerate() {
        if c.is_alphanumeric() || c.is_whitespace() || c.is_control() {
            return Err(ParseError::BadDelimiters {
                field: 2,
                reason: format!("{c:?} cannot be a delimiter"),
            });
        }
        if c == field || enc[..i].contains(&c) {
            return Err(ParseError::BadDelimiters {
                field: 2,
                reason: format!("delimiter {c:?} is used twice"),
            });
        }
    }
    Ok(Delimiters {
        field,
        component: enc[0],
        repetition: enc[1],
        escape: enc[2],
        subcomponent: enc[3],
        truncation: enc.get(4).copied(),
    })
}

/// Header information from MSH, owned.
///
/// Application/facility fields are kept raw (escaped HD composites such as
/// `HIS123` or `APP^1.2.3^ISO`) so an ACK can copy them back verbatim; the
/// other fields are unescaped first components.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// MSH-1/MSH-2.
    pub delimiters: Delimiters,
    /// MSH-3, raw.
    pub sending_application: String,
    /// MSH-4, raw.
    pub sending_facility: String,
    /// MSH-5, raw.
    pub receiving_application: String,
    /// MSH-6, raw.
    pub receiving_facility: String,
    /// MSH-7.1, date/time of message (HL7 DTM text).
    pub timestamp: String,
    /// MSH-9.1, e.g. `ORU`.
    pub message_type: String,
    /// MSH-9.2, e.g. `R01`.
    pub trigger_event: String,
    /// MSH-9.3, e.g. `ORU_R01` (absent before v2.3.1).
    pub message_structure: String,
    /// MSH-10, message control ID.
    pub control_id: String,
    /// MSH-11.1, `P` production, `D` debugging, `T` training.
    pub processing_id: String,
    /// MSH-12.1, e.g. `2.5`.
    pub version: String,
    /// MSH-18 repetitions, e.g. `["", "ISO IR87"]` for SS-MIX2.
    pub charset: Vec<String>,
}

impl Header {
    /// The charset MSH-18 declares, if recognised.
    pub fn declared_charset(&self) -> Option<crate::encoding::Charset> {
        crate::encoding::Charset::from_msh18(&self.charset.join("~"))
    }
}

/// A segment of a [`Message`].
#[derive(Clone, Copy)]
pub struct Segment<'m> {
    msg: &'m Message,
    index: usize,
}

impl fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Segment").field(&self.raw()).finish()
    }
}

impl<'m> Segment<'m> {
    fn span(&self) -> &'m SegmentSpan {
        &self.msg.segments[self.index]
    }

    /// 0-based position in the message.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Segment ID, e.g. `PID`.
    pub fn id(&self) -> &'m str {
        let (s, e) = self.msg.fields[self.span().first_field];
        &self.msg.text[s..e]
    }

    /// The segment's raw text without the terminator.
    pub fn raw(&self) -> &'m str {
        let span = self.span();
        &self.msg.text[span.start..span.end]
    }

    /// Number of the last field present (MSH counts MSH-1).
    pub fn field_count(&self) -> usize {
        self.span().field_count - 1
    }

    /// Field `n` (1-based). Out of range or `n == 0` gives an empty field.
    pub fn field(&self, n: usize) -> Field<'m> {
        let span = self.span();
        let delimiters = &self.msg.delimiters;
        if n == 0 || n >= span.field_count {
            return Field {
                raw: "",
                delimiters,
                literal: false,
            };
        }
        let (s, e) = self.msg.fields[span.first_field + n];
        Field {
            raw: &self.msg.text[s..e],
            delimiters,
            literal: span.header && n <= 2,
        }
    }

    /// Fields 1..=field_count with their numbers.
    pub fn fields(&self) -> impl Iterator<Item = (usize, Field<'m>)> + 'm {
        let this = *self;
        (1..=self.field_count()).map(move |n| (n, this.field(n)))
    }
}

fn nth(raw: &str, sep: char, n: usize) -> &str {
    match n {
        0 => "",
        _ => raw.split(sep).nth(n - 1).unwrap_or(""),
    }
}

macro_rules! leaf_methods {
    () => {
        /// Raw text, still escaped.
        pub fn raw(&self) -> &'m str {
            self.raw
        }

        /// Unescaped text (see [`Delimiters::unescape`]). On a composite
        /// element separators from escapes become indistinguishable from real
        /// ones: use the component accessors for structured values.
        pub fn value(&self) -> Cow<'m, str> {
            if self.literal {
                Cow::Borrowed(self.raw)
            } else {
                self.delimiters.unescape(self.raw)
            }
        }

        /// True when the element is absent or empty.
        pub fn is_empty(&self) -> bool {
            self.raw.is_empty()
        }
    };
}

/// A field: one or more repetitions.
#[derive(Debug, Clone, Copy)]
pub struct Field<'m> {
    raw: &'m str,
    delimiters: &'m Delimiters,
    literal: bool,
}

impl<'m> Field<'m> {
    leaf_methods!();

    /// Repetition `n` (1-based); empty when absent.
    pub fn repetition(&self, n: usize) -> Repetition<'m> {
        let raw = if self.literal {
            if n == 1 {
                self.raw
            } else {
                ""
            }
        } else {
            nth(self.raw, self.delimiters.repetition, n)
        };
        Repetition {
            raw,
            delimiters: self.delimiters,
            literal: self.literal,
        }
    }

    /// Number of repetitions (0 for an empty field).
    pub fn repetition_count(&self) -> usize {
        if self.raw.is_empty() {
            0
        } else if self.literal {
            1
        } else {
            self.raw.split(self.delimiters.repetition).count()
        }
    }

    /// All repetitions (none for an empty field).
    pub fn repetitions(&self) -> impl Iterator<Item = Repetition<'m>> + 'm {
        let this = *self;
        (1..=self.repetition_count()).map(move |n| this.repetition(n))
    }

    /// Component `n` of the first repetition.
    pub fn component(&self, n: usize) -> Component<'m> {
        self.repetition(1).component(n)
    }
}

/// One repetition of a field: one or more components.
#[derive(Debug, Clone, Copy)]
pub struct Repetition<'m> {
    raw: &'m str,
    delimiters: &'m Delimiters,
    literal: bool,
}

impl<'m> Repetition<'m> {
    leaf_methods!();

    /// Component `n` (1-based); empty when absent.
    pub fn component(&self, n: usize) -> Component<'m> {
        let raw = if self.literal {
            if n == 1 {
                self.raw
            } else {
                ""
            }
        } else {
            nth(self.raw, self.delimiters.component, n)
        };
        Component {
            raw,
            delimiters: self.delimiters,
            literal: self.literal,
        }
    }

    /// Number of components present (0 when empty).
    pub fn component_count(&self) -> usize {
        if self.raw.is_empty() {
            0
        } else if self.literal {
            1
        } else {
            self.raw.split(self.delimiters.component).count()
        }
    }

    /// All components.
    pub fn components(&self) -> impl Iterator<Item = Component<'m>> + 'm {
        let this = *self;
        (1..=self.component_count()).map(move |n| this.component(n))
    }
}

/// One component: one or more sub-components.
#[derive(Debug, Clone, Copy)]
pub struct Component<'m> {
    raw: &'m str,
    delimiters: &'m Delimiters,
    literal: bool,
}

impl<'m> Component<'m> {
    leaf_methods!();

    /// Sub-component `n` (1-based); empty when absent.
    pub fn subcomponent(&self, n: usize) -> SubComponent<'m> {
        let raw = if self.literal {
            if n == 1 {
                self.raw
            } else {
                ""
            }
        } else {
            nth(self.raw, self.delimiters.subcomponent, n)
        };
        SubComponent {
            raw,
            delimiters: self.delimiters,
            literal: self.literal,
        }
    }

    /// Number of sub-components present (0 when empty).
    pub fn subcomponent_count(&self) -> usize {
        if self.raw.is_empty() {
            0
        } else if self.literal {
            1
        } else {
            self.raw.split(self.delimiters.subcomponent).count()
        }
    }
}

/// A sub-component: the leaf of the HL7 tree.
#[derive(Debug, Clone, Copy)]
pub struct SubComponent<'m> {
    raw: &'m str,
    delimiters: &'m Delimiters,
    literal: bool,
}

impl<'m> SubComponent<'m> {
    leaf_methods!();
}

/// A location in a message: `SEG[occurrence]-field[repetition].component.subcomponent`.
///
/// All numbers are 1-based; occurrence and repetition default to 1. The
/// component and sub-component may also be separated by `-` (HAPI Terser
/// style): `PID-5[2].1`, `PID-5[2]-1`, `OBX[3]-5.1.2`, `MSH-9.2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Segment ID.
    pub segment: String,
    /// Which segment with that ID (1 = first).
    pub occurrence: usize,
    /// Field number.
    pub field: usize,
    /// Repetition number.
    pub repetition: usize,
    explicit_repetition: bool,
    /// Component number, if given.
    pub component: Option<usize>,
    /// Sub-component number, if given.
    pub subcomponent: Option<usize>,
}

/// A malformed [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid HL7 path {path:?}: {reason}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Path, PathError> {
        let err = |reason| PathError {
            path: s.to_owned(),
            reason,
        };
        let (seg_part, rest) = s.split_once('-').ok_or_else(|| err("expected SEG-field"))?;
        let (segment, occurrence) = split_index(seg_part).ok_or_else(|| err("bad [occurrence]"))?;
        if !is_valid_segment_id(segment) {
            return Err(err("segment ID must be 3 characters A-Z/0-9"));
        }
        let mut parts = rest.split(['.', '-']);
        let field_part = parts.next().unwrap_or("");
        let (field, repetition) = split_index(field_part).ok_or_else(|| err("bad [repetition]"))?;
        let field = parse_num(field).ok_or_else(|| err("field must be a number ≥ 1"))?;
        let component = match parts.next() {
            Some(c) => Some(parse_num(c).ok_or_else(|| err("component must be a number ≥ 1"))?),
            None => None,
        };
        let subcomponent = match parts.next() {
            Some(c) => Some(parse_num(c).ok_or_else(|| err("sub-component must be a number ≥ 1"))?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(err("too many levels"));
        }
        Ok(Path {
            segment: segment.to_owned(),
            occurrence: occurrence.unwrap_or(1),
            field,
            repetition: repetition.unwrap_or(1),
            explicit_repetition: repetition.is_some(),
            component,
            subcomponent,
        })
    }
}

/// Splits `NAME[n]` into `("NAME", Some(n))`; `NAME` into `("NAME", None)`.
fn split_index(s: &str) -> Option<(&str, Option<usize>)> {
    match s.split_once('[') {
        None => Some((s, None)),
        Some((name, idx)) => {
            let idx = idx.strip_suffix(']')?;
            Some((name, Some(parse_num(idx)?)))
        }
    }
}

fn parse_num(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 6 {
        return None;
    }
    s.parse().ok().filter(|&n| n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORU: &str = "MSH|^~\\&|MON|ICU|RENKEI|HOSP|20240101120000||ORU^R01^ORU_R01|CTRL1|P|2.6|||AL|NE||UNICODE UTF-8\r\
PID|1||12345^^^^PI||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P||19650415|M\r\
OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|98|262688^MDC_DIM_PERCENT^MDC|||||R\r\
OBX|2|ST|X^Note^L||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X414243\\||||||F\r\
OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC||72&x|264864^MDC_DIM_BEAT_PER_MIN^MDC\r";

    #[test]
    fn msh_numbering() {
        let m = Message::parse(ORU).unwrap();
        let msh = m.msh();
        assert_eq!(msh.id(), "MSH");
        assert_eq!(msh.field(1).value(), "|");
        assert_eq!(msh.field(2).value(), "^~\\&");
        assert_eq!(msh.field(2).component(1).raw(), "^~\\&");
        assert_eq!(msh.field(3).value(), "MON");
        assert_eq!(msh.field(9).component(2).value(), "R01");
        assert_eq!(m.get("MSH-9.3").unwrap(), "ORU_R01");
        assert_eq!(m.get("MSH-10").unwrap(), "CTRL1");
        assert_eq!(m.get("MSH-1").unwrap(), "|");
        assert_eq!(msh.field_count(), 18);
        let h = m.header();
        assert_eq!(h.message_type, "ORU");
        assert_eq!(h.trigger_event, "R01");
        assert_eq!(h.message_structure, "ORU_R01");
        assert_eq!(h.control_id, "CTRL1");
        assert_eq!(h.processing_id, "P");
        assert_eq!(h.version, "2.6");
        assert_eq!(h.sending_application, "MON");
        assert_eq!(h.receiving_facility, "HOSP");
        assert_eq!(h.charset, vec!["UNICODE UTF-8".to_string()]);
        assert_eq!(h.declared_charset(), Some(crate::encoding::Charset::Utf8));
    }

    #[test]
    fn repetitions_components_subcomponents() {
        let m = Message::parse(ORU).unwrap();
        let pid = m.segment("PID").unwrap();
        assert_eq!(pid.field(5).repetition_count(), 2);
        assert_eq!(pid.field(5).repetition(2).component(1).value(), "カンジャ");
        assert_eq!(pid.field(5).repetition(2).component(7).value(), "L");
        assert_eq!(pid.field(5).repetition(2).component(8).value(), "P");
        assert_eq!(pid.field(5).repetition(3).component(1).value(), "");
        assert_eq!(m.get("PID-5[2].1").unwrap(), "カンジャ");
        assert_eq!(m.get("PID-5[2]-2").unwrap(), "タロウ");
        assert_eq!(m.get("PID-5").unwrap(), "患者");
        assert_eq!(m.get("PID-3.5").unwrap(), "PI");
        assert_eq!(m.get("PID-99"), None);
        assert_eq!(m.get("PID-4"), None);
        assert_eq!(m.get("PV1-2"), None);
        assert_eq!(m.get("garbage"), None);
        assert_eq!(m.get_raw("PID-5[1]").unwrap(), "患者^太郎^^^^^L^I");
        assert_eq!(
            m.get_raw("PID-5").unwrap(),
            "患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P"
        );
        assert_eq!(m.get("OBX[3]-5.1.2").unwrap(), "x");
        assert_eq!(m.get("OBX[3]-5").unwrap(), "72");
        assert_eq!(m.get("OBX[4]-5"), None);
        let obx: Vec<_> = m.segments_by_id("OBX").collect();
        assert_eq!(obx.len(), 3);
        assert_eq!(obx[0].field(3).component(1).value(), "150456");
        assert_eq!(obx[0].field(11).value(), "R");
        assert_eq!(obx[2].field(5).component(1).subcomponent_count(), 2);
        assert_eq!(m.segment_count(), 5);
        assert_eq!(
            m.segments().map(|s| s.id()).collect::<Vec<_>>(),
            ["MSH", "PID", "OBX", "OBX", "OBX"]
        );
    }

    #[test]
    fn escapes() {
        let m = Message::parse(ORU).unwrap();
        assert_eq!(m.get("OBX[2]-5").unwrap(), "a|b^c&d~e\\f\ngABC");
        let d = Delimiters::default();
        let text = "a|b^c&d~e\\f\r\n";
        let escaped = d.escape(text);
        assert_eq!(escaped, "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\\\X0A\\");
        assert_eq!(d.unescape(&escaped), text);
        // Unknown, unterminated and non-UTF-8 hex sequences stay verbatim.
        assert_eq!(d.unescape("x\\Zfoo\\y"), "x\\Zfoo\\y");
        assert_eq!(d.unescape("x\\F"), "x\\F");
        assert_eq!(d.unescape("\\XFF\\"), "\\XFF\\");
        assert_eq!(d.unescape("\\H\\bold\\N\\"), "bold");
        assert!(matches!(d.unescape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn line_endings_and_framing_residue() {
        let lf = ORU.replace('\r', "\n");
        let crlf = ORU.replace('\r', "\r\n");
        let framed = format!("\u{0B}{ORU}\u{1C}\r");
        for text in [lf, crlf, framed] {
            let m = Message::parse(text).unwrap();
            assert_eq!(m.segment_count(), 5);
            assert_eq!(m.get("PID-5[2].1").unwrap(), "カンジャ");
            assert_eq!(m.to_string(), ORU.trim_end_matches('\r'));
        }
    }

    #[test]
    fn v27_truncation_character() {
        let m = Message::parse("MSH|^~\\&#|A|B|||||ADT^A01|1|P|2.7\rPID|1||x\\P\\y").unwrap();
        assert_eq!(m.delimiters().truncation, Some('#'));
        assert_eq!(m.msh().field(2).value(), "^~\\&#");
        assert_eq!(m.get("PID-3").unwrap(), "x#y");
        assert_eq!(m.delimiters().encoding_characters(), "^~\\&#");
    }

    #[test]
    fn custom_delimiters() {
        let m = Message::parse("MSH#:*!@#A#B\rPID#1##a:b*c:d@e").unwrap();
        assert_eq!(m.get("MSH-3").unwrap(), "A");
        assert_eq!(m.get("PID-3[2].2.2").unwrap(), "e");
        assert_eq!(m.get("PID-3.2").unwrap(), "b");
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(Message::parse("").unwrap_err(), ParseError::Empty);
        assert_eq!(
            Message::parse("\r\n\u{1C}\r").unwrap_err(),
            ParseError::Empty
        );
        assert_eq!(
            Message::parse("PID|1\rMSH|^~\\&").unwrap_err(),
            ParseError::MissingMsh {
                found: "PID|1".into()
            }
        );
        assert!(matches!(
            Message::parse("MSH").unwrap_err(),
            ParseError::BadDelimiters { field: 1, .. }
        ));
        assert!(matches!(
            Message::parse("MSH|^~|A").unwrap_err(),
            ParseError::BadDelimiters { field: 2, .. }
        ));
        assert!(matches!(
            Message::parse("MSH|^^\\&|A").unwrap_err(),
            ParseError::BadDelimiters { field: 2, .. }
        ));
        assert!(matches!(
            Message::parse("MSHA^~\\&|A").unwrap_err(),
            ParseError::BadDelimiters { field: 1, .. }
        ));
        let err = Message::parse("MSH|^~\\&|A\rPID|1\rpv1|x").unwrap_err();
        assert_eq!(
            err,
            ParseError::InvalidSegmentId {
                segment: 3,
                id: "pv1".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "segment 3: invalid segment ID \"pv1\" (expected 3 characters A-Z/0-9)"
        );
    }

    #[test]
    fn bare_segments_and_out_of_range() {
        let m = Message::parse("MSH|^~\\&\rAL1\rMSH\rZE1|").unwrap();
        assert_eq!(m.segment_count(), 4);
        let al1 = m.segment("AL1").unwrap();
        assert_eq!(al1.field_count(), 0);
        assert!(al1.field(1).is_empty());
        let bare = m.segment_at(2).unwrap();
        assert_eq!(bare.id(), "MSH");
        assert!(bare.field(1).is_empty());
        assert_eq!(m.segment("ZE1").unwrap().field_count(), 1);
        assert_eq!(m.msh().field(0).raw(), "");
        assert_eq!(m.msh().field(3).repetition(0).raw(), "");
        assert!(m.segment_at(4).is_none());
    }

    #[test]
    fn path_parsing() {
        let p: Path = "OBX[3]-5[2].1.2".parse().unwrap();
        assert_eq!(
            (
                p.segment.as_str(),
                p.occurrence,
                p.field,
                p.repetition,
                p.component,
                p.subcomponent
            ),
            ("OBX", 3, 5, 2, Some(1), Some(2))
        );
        for bad in [
            "PID",
            "PID-0",
            "PID-x",
            "PID-5[0]",
            "PID-5.1.1.1",
            "pid-5",
            "PID[-5",
        ] {
            assert!(bad.parse::<Path>().is_err(), "{bad}");
        }
    }
}
