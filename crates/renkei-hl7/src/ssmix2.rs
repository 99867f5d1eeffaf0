//! SS-MIX2 standardized storage: file names, tree walking, file reading.
//!
//! Layout (JAMI SS-MIX2 guideline 1.2):
//! `<root>/<PID[0..3]>/<PID[3..6]>/<PID>/<YYYYMMDD or ->/<data type>/<file>`,
//! file name `<PID>_<date or ->_<type>_<order no.>_<timestamp 17>_<dept or ->_<flag>`.
//!
//! Real trees break the rules (the NHO sample has a file under a folder of
//! another data type, a 13-digit order number, PID-3 values that differ from
//! the file name, and a stray MLLP byte at the end of every file). This
//! module therefore separates *fatal* problems (a name that cannot be
//! parsed, bytes that cannot be decoded or parsed) from *issues* a collector
//! should report and carry on with.

use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

use crate::encoding::{self, Charset, DecodeError, DecodeWarning};
use crate::message::{Message, ParseError};

/// SS-MIX2 condition flag (last part of the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionFlag {
    /// `0`: deleted (the old files and the delete notice).
    Deleted,
    /// `1`: valid, current.
    Valid,
    /// `2`: superseded by a newer file.
    Superseded,
}

impl ConditionFlag {
    /// The digit in the file name.
    pub fn as_char(self) -> char {
        match self {
            ConditionFlag::Deleted => '0',
            ConditionFlag::Valid => '1',
            ConditionFlag::Superseded => '2',
        }
    }
}

/// A non-fatal deviation from the file-name convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameDeviation {
    /// The order number is not exactly 15 digits (the guideline pads to 15).
    OrderNumberNot15Digits {
        /// The order number as found.
        found: String,
    },
}

impl fmt::Display for NameDeviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameDeviation::OrderNumberNot15Digits { found } => write!(
                f,
                "order number {found:?} is {} characters, expected 15 digits",
                found.chars().count()
            ),
        }
    }
}

/// A parsed SS-MIX2 data file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// Patient ID (facility-local).
    pub patient_id: String,
    /// Care date `YYYYMMDD`; `None` for `-` (no visit date, e.g. ADT-00).
    pub care_date: Option<String>,
    /// Data type code, e.g. `ADT-00`, `OMP-01`, `OMD`.
    pub data_type: String,
    /// Order number (`999999999999999` when there is none).
    pub order_number: String,
    /// Send timestamp `YYYYMMDDHHMMSSfff`.
    pub timestamp: String,
    /// Department code; `None` for `-`.
    pub department: Option<String>,
    /// Condition flag.
    pub flag: ConditionFlag,
    /// Tolerated deviations from the convention.
    pub deviations: Vec<NameDeviation>,
}

/// Why a file name is not an SS-MIX2 data file name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// Not 7 `_`-separated parts.
    #[error("file name {name:?} has {found} '_'-separated parts, expected 7 non-empty ones (PID_date_type_order_timestamp_dept_flag)")]
    PartCount {
        /// The name.
        name: String,
        /// Parts found.
        found: usize,
    },
    /// The name is not valid Unicode.
    #[error("file name is not valid UTF-8")]
    NotUtf8,
    /// A part is malformed.
    #[error("file name {name:?}: invalid {part} {value:?} ({expected})")]
    InvalidPart {
        /// The name.
        name: String,
        /// Which part.
        part: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_yyyymmdd(s: &str) -> bool {
    if s.len() < 8 || !all_digits(s) {
        return false;
    }
    let month: u32 = s[4..6].parse().unwrap_or(0);
    let day: u32 = s[6..8].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn valid_timestamp17(s: &str) -> bool {
    if s.len() != 17 || !valid_yyyymmdd(s) {
        return false;
    }
    let h: u32 = s[8..10].parse().unwrap_or(99);
    let m: u32 = s[10..12].parse().unwrap_or(99);
    let sec: u32 = s[12..14].parse().unwrap_or(99);
    h < 24 && m < 60 && sec < 61
}

/// `ABC` or `ABC-01`.
fn valid_data_type(s: &str) -> bool {
    let b = s.as_bytes();
    let head = b.len() >= 3 && b[..3].iter().all(|c| c.is_ascii_uppercase());
    head && (b.len() == 3 || (b.len() == 6 && b[3] == b'-' && all_digits(&s[4..])))
}

impl FileName {
    /// Parses a file name (not a path) such as
    /// `9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1`.
    pub fn parse(name: &str) -> Result<FileName, NameError> {
        // Split from the right so an underscore inside a patient ID survives.
        let mut parts: Vec<&str> = name.rsplitn(7, '_').collect();
        if parts.len() != 7 || parts.iter().any(|p| p.is_empty()) {
            return Err(NameError::PartCount {
                name: name.to_owned(),
                found: name.split('_').count(),
            });
        }
        parts.reverse();
        let invalid = |part, value: &str, expected| NameError::InvalidPart {
            name: name.to_owned(),
            part,
            value: value.to_owned(),
            expected,
        };
        let [pid, date, data_type, order, ts, dept, flag] = [
            parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6],
        ];
        if !pid
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '\\')
        {
            return Err(invalid("patient ID", pid, "printable ASCII"));
        }
        let care_date = match date {
            "-" => None,
            d if d.len() == 8 && valid_yyyymmdd(d) => Some(d.to_owned()),
            d => return Err(invalid("care date", d, "YYYYMMDD or -")),
        };
        if !valid_data_type(data_type) {
            return Err(invalid("data type", data_type, "e.g. ADT-00 or OMD"));
        }
        if !order.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid("order number", order, "15 digits"));
        }
        let mut deviations = Vec::new();
        if order.len() != 15 || !all_digits(order) {
            deviations.push(NameDeviation::OrderNumberNot15Digits {
                found: order.to_owned(),
            });
        }
        if !valid_timestamp17(ts) {
            return Err(invalid("timestamp", ts, "17 digits YYYYMMDDHHMMSSfff"));
        }
        let department = match dept {
            "-" => None,
            d if d.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(d.to_owned()),
            d => return Err(invalid("department", d, "code or -")),
        };
        let flag = match flag {
            "0" => ConditionFlag::Deleted,
            "1" => ConditionFlag::Valid,
            "2" => ConditionFlag::Superseded,
            f => return Err(invalid("condition flag", f, "0, 1 or 2")),
        };
        Ok(FileName {
            patient_id: pid.to_owned(),
            care_date,
            data_type: data_type.to_owned(),
            order_number: order.to_owned(),
            timestamp: ts.to_owned(),
            department,
            flag,
            deviations,
        })
    }

    /// The directory components the guideline puts this file under, relative
    /// to the storage root: `[PID[0..3], PID[3..6], PID, date or -, type]`.
    /// `None` when the patient ID is shorter than 6 characters.
    pub fn expected_dirs(&self) -> Option<[String; 5]> {
        let pid = &self.patient_id;
        Some([
            pid.get(0..3)?.to_owned(),
            pid.get(3..6)?.to_owned(),
            pid.clone(),
            self.care_date.clone().unwrap_or_else(|| "-".to_owned()),
            self.data_type.clone(),
        ])
    }

    /// The MSH-9.1 message type this data type should carry, for the data
    /// types the guideline maps to one message type.
    pub fn expected_message_type(&self) -> Option<&'static str> {
        expected_message_type(&self.data_type)
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}_{}_{}_{}",
            self.patient_id,
            self.care_date.as_deref().unwrap_or("-"),
            self.data_type,
            self.order_number,
            self.timestamp,
            self.department.as_deref().unwrap_or("-"),
            self.flag.as_char()
        )
    }
}

fn expected_message_type(data_type: &str) -> Option<&'static str> {
    Some(match data_type {
        t if t.starts_with("ADT-") => "ADT",
        "PPR-01" => "PPR",
        "OMD" => "OMD",
        "OMP-01" | "OMP-02" => "RDE",
        "OMP-11" | "OMP-12" => "RAS",
        "OML-01" => "OML",
        "OML-11" => "OUL",
        "OMG-01" | "OMG-02" | "OMG-03" => "OMG",
        "OMG-11" | "OMG-12" => "OMI",
        "OMG-13" => "ORU",
        _ => return None,
    })
}

/// A file whose place in the tree disagrees with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationIssue {
    /// A directory component differs from what the name implies.
    DirectoryMismatch {
        /// Which level: `PID prefix 1`, `PID prefix 2`, `patient`, `care date`, `data type`.
        level: &'static str,
        /// The directory name found.
        found: String,
        /// The one the file name implies.
        expected: String,
    },
    /// The file is not at depth 6 under the root, or the PID is too short to check.
    UnexpectedDepth {
        /// Number of path components below the root.
        depth: usize,
    },
}

impl fmt::Display for LocationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationIssue::DirectoryMismatch {
                level,
                found,
                expected,
            } => write!(
                f,
                "{level} directory is {found:?} but the file name implies {expected:?}"
            ),
            LocationIssue::UnexpectedDepth { depth } => {
                write!(f, "file is {depth} levels below the root, expected 6")
            }
        }
    }
}

/// Compares a root-relative path with the directories its file name implies.
pub fn check_location(relative: &Path, name: &FileName) -> Vec<LocationIssue> {
    let comps: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let Some(expected) = name.expected_dirs().filter(|_| comps.len() == 6) else {
        return vec![LocationIssue::UnexpectedDepth { depth: comps.len() }];
    };
    const LEVELS: [&str; 5] = [
        "PID prefix 1",
        "PID prefix 2",
        "patient",
        "care date",
        "data type",
    ];
    LEVELS
        .iter()
        .zip(expected)
        .zip(&comps[..5])
        .filter(|((_, exp), found)| exp != *found)
        .map(
            |((level, expected), found)| LocationIssue::DirectoryMismatch {
                level,
                found: found.clone(),
                expected,
            },
        )
        .collect()
}

/// A content-level disagreement between a message and its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentIssue {
    /// PID-3.1 differs from the patient ID in the file name.
    PatientIdMismatch {
        /// From the file name.
        file_name: String,
        /// PID-3.1 (first repetition), empty if absent.
        pid3: String,
    },
    /// MSH-9.1 is not the message type of the data type.
    MessageTypeMismatch {
        /// Data type from the file name.
        data_type: String,
        /// Expected MSH-9.1.
        expected: &'static str,
        /// Actual MSH-9.1.
        found: String,
    },
}

impl fmt::Display for ContentIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentIssue::PatientIdMismatch { file_name, pid3 } => write!(
                f,
                "PID-3 is {pid3:?} but the file name says patient {file_name:?}"
            ),
            ContentIssue::MessageTypeMismatch {
                data_type,
                expected,
                found,
            } => write!(
                f,
                "data type {data_type} should carry {expected} messages, MSH-9 is {found:?}"
            ),
        }
    }
}

/// Compares a message with its file name (patient ID, message type).
pub fn check_content(name: &FileName, message: &Message) -> Vec<ContentIssue> {
    let mut issues = Vec::new();
    let pid3 = message
        .segment("PID")
        .map(|s| s.field(3).component(1).value().into_owned())
        .unwrap_or_default();
    if pid3 != name.patient_id {
        issues.push(ContentIssue::PatientIdMismatch {
            file_name: name.patient_id.clone(),
            pid3,
        });
    }
    if let Some(expected) = name.expected_message_type() {
        let found = message.header().message_type;
        if found != expected {
            issues.push(ContentIssue::MessageTypeMismatch {
                data_type: name.data_type.clone(),
                expected,
                found,
            });
        }
    }
    issues
}

/// Fatal problems reading an SS-MIX2 tree or file.
#[derive(Debug, Error)]
pub enum Ssmix2Error {
    /// File-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file's bytes cannot be decoded.
    #[error("{}: {source}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The error.
        source: DecodeError,
    },
    /// The decoded text is not an HL7 message.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error.
        source: ParseError,
    },
}

/// A tolerated problem in a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileWarning {
    /// From decoding.
    Decode(DecodeWarning),
    /// SS-MIX2 files must be ISO-2022-JP; this one is not.
    NotIso2022Jp(Charset),
    /// The file starts or ends with MLLP framing bytes (0x0B / 0x1C).
    FramingBytes,
}

impl fmt::Display for FileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileWarning::Decode(w) => w.fmt(f),
            FileWarning::NotIso2022Jp(c) => write!(f, "file is {c}, SS-MIX2 requires ISO-2022-JP"),
            FileWarning::FramingBytes => {
                f.write_str("file contains MLLP framing bytes at its edges")
            }
        }
    }
}

/// A decoded and parsed SS-MIX2 file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The HL7 message.
    pub message: Message,
    /// Charset the file was in.
    pub charset: Charset,
    /// Tolerated problems.
    pub warnings: Vec<FileWarning>,
}

/// Decodes and parses the bytes of an SS-MIX2 file.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Document, Ssmix2Error> {
    let decoded = encoding::decode(bytes).map_err(|source| Ssmix2Error::Decode {
        path: path.to_owned(),
        source,
    })?;
    let mut warnings: Vec<FileWarning> = decoded
        .warnings
        .into_iter()
        .map(FileWarning::Decode)
        .collect();
    // Pure ASCII is valid ISO-2022-JP.
    if !matches!(decoded.charset, Charset::Iso2022Jp | Charset::Ascii) {
        warnings.push(FileWarning::NotIso2022Jp(decoded.charset));
    }
    let edge = |b: Option<&u8>| matches!(b, Some(0x0B | 0x1C));
    let trimmed = bytes
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map(|i| &bytes[..=i])
        .unwrap_or(bytes);
    if edge(bytes.first()) || edge(trimmed.last()) {
        warnings.push(FileWarning::FramingBytes);
    }
    let message = Message::parse(decoded.text).map_err(|source| Ssmix2Error::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok(Document {
        message,
        charset: decoded.charset,
        warnings,
    })
}

/// Reads, decodes and parses one SS-MIX2 file.
pub fn read_file(path: impl AsRef<Path>) -> Result<Document, Ssmix2Error> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| Ssmix2Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_bytes(path, &bytes)
}

/// A data file found in a storage tree.
#[derive(Debug)]
pub struct StorageEntry {
    /// Full path.
    pub path: PathBuf,
    /// Path relative to the root.
    pub relative: PathBuf,
    /// The parsed file name, or why it is not an SS-MIX2 name.
    pub name: Result<FileName, NameError>,
    /// Where the file's directories disagree with its name (empty when the name is invalid).
    pub location_issues: Vec<LocationIssue>,
}

/// Walks a storage root, yielding every file six levels down
/// (`PID/PID/PID/date/type/file`) in lexical order.
///
/// Other files — NOTICE files, the `<YYYY>/TR_*.DAT` transaction storage,
/// hidden files — are skipped, symbolic links are not followed, and
/// directories deeper than five levels are not entered, so a stray tree
/// cannot make the walk unbounded. Unreadable directories are reported as
/// `Err` items and the walk continues.
pub fn walk(root: impl AsRef<Path>) -> Walk {
    let root = root.as_ref().to_owned();
    Walk {
        stack: vec![(root.clone(), 0, true)],
        root,
    }
}

/// Iterator returned by [`walk`].
#[derive(Debug)]
pub struct Walk {
    root: PathBuf,
    /// (path, depth below root, is directory), popped from the end.
    stack: Vec<(PathBuf, usize, bool)>,
}

const DATA_DEPTH: usize = 6;

impl Iterator for Walk {
    type Item = Result<StorageEntry, Ssmix2Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some((path, depth, is_dir)) = self.stack.pop() {
            if !is_dir {
                if depth != DATA_DEPTH {
                    continue;
                }
                let relative = path.strip_prefix(&self.root).unwrap_or(&path).to_owned();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or(NameError::NotUtf8)
                    .and_then(FileName::parse);
                let location_issues = match &name {
                    Ok(n) => check_location(&relative, n),
                    Err(_) => Vec::new(),
                };
                return Some(Ok(StorageEntry {
                    path,
                    relative,
                    name,
                    location_issues,
                }));
            }
            if depth >= DATA_DEPTH {
                continue;
            }
            let read = match fs::read_dir(&path) {
                Ok(r) => r,
                Err(source) => return Some(Err(Ssmix2Error::Io { path, source })),
            };
            let mut children = Vec::new();
            for entry in read {
                let entry = match entry {
                    Ok(e) => e,
                    Err(source) => {
                        return Some(Err(Ssmix2Error::Io {
                            path: path.clone(),
                            source,
                        }))
                    }
                };
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() || ft.is_file() {
                    children.push((entry.path(), depth + 1, ft.is_dir()));
                }
            }
            // Reverse order so popping yields lexical order.
            children.sort_by(|a, b| b.0.cmp(&a.0));
            self.stack.extend(children);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_guideline_example() {
        let n = FileName::parse("9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1")
            .unwrap();
        assert_eq!(n.patient_id, "9999013");
        assert_eq!(n.care_date.as_deref(), Some("20110701"));
        assert_eq!(n.data_type, "OMP-01");
        assert_eq!(n.order_number, "000000011000185");
        assert_eq!(n.timestamp, "20110701224603984");
        assert_eq!(n.department.as_deref(), Some("01"));
        assert_eq!(n.flag, ConditionFlag::Valid);
        assert!(n.deviations.is_empty());
        assert_eq!(
            n.to_string(),
            "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1"
        );
        assert_eq!(
            n.expected_dirs().unwrap(),
            ["999", "901", "9999013", "20110701", "OMP-01"].map(String::from)
        );
        assert_eq!(n.expected_message_type(), Some("RDE"));
    }

    #[test]
    fn dashes_and_deviations() {
        let n = FileName::parse("9999013_-_ADT-00_999999999999999_20111220224447339_-_0").unwrap();
        assert_eq!(n.care_date, None);
        assert_eq!(n.department, None);
        assert_eq!(n.flag, ConditionFlag::Deleted);
        let n = FileName::parse("9999013_20111220_OMG-11_2011122000300_20111220224447339_24_2")
            .unwrap();
        assert_eq!(n.flag, ConditionFlag::Superseded);
        assert_eq!(
            n.deviations,
            vec![NameDeviation::OrderNumberNot15Digits {
                found: "2011122000300".into()
            }]
        );
        let n =
            FileName::parse("AB_12_20111220_OMD_123456789012345_20111220224447339_-_1").unwrap();
        assert_eq!(n.patient_id, "AB_12");
    }

    #[test]
    fn malformed_names() {
        let cases = [
            ("NOTICE.md", "parts"),
            ("1_2_3", "parts"),
            (
                "9999013__OMD_123456789012345_20111220224447339_-_1",
                "parts",
            ),
            (
                "9999013_2011070_OMD_123456789012345_20111220224447339_-_1",
                "care date",
            ),
            (
                "9999013_20111320_OMD_123456789012345_20111220224447339_-_1",
                "care date",
            ),
            (
                "9999013_20111220_omd_123456789012345_20111220224447339_-_1",
                "data type",
            ),
            (
                "9999013_20111220_OMP-1_123456789012345_20111220224447339_-_1",
                "data type",
            ),
            (
                "9999013_20111220_OMD_1234-5_20111220224447339_-_1",
                "order number",
            ),
            (
                "9999013_20111220_OMD_123456789012345_2011122022444733_-_1",
                "timestamp",
            ),
            (
                "9999013_20111220_OMD_123456789012345_20111220254447339_-_1",
                "timestamp",
            ),
            (
                "9999013_20111220_OMD_123456789012345_20111220224447339_0.1_1",
                "department",
            ),
            (
                "9999013_20111220_OMD_123456789012345_20111220224447339_-_3",
                "condition flag",
            ),
        ];
        for (name, what) in cases {
            let err = FileName::parse(name).unwrap_err();
            let msg = err.to_string();
            match what {
                "parts" => assert!(matches!(err, NameError::PartCount { .. }), "{name}: {msg}"),
                part => assert!(
                    matches!(&err, NameError::InvalidPart { part: p, .. } if *p == part),
                    "{name}: {msg}"
                ),
            }
            assert!(msg.contains(name), "{msg}");
        }
    }

    #[test]
    fn location_check() {
        let n = FileName::parse("9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1")
            .unwrap();
        let ok = Path::new("999/901/9999013/20110630/OMP-11").join(n.to_string());
        assert!(check_location(&ok, &n).is_empty());
        let bad = Path::new("000/000/0000001/20000401/ADT-31").join(n.to_string());
        let issues = check_location(&bad, &n);
        assert_eq!(issues.len(), 5);
        assert_eq!(
            issues[4],
            LocationIssue::DirectoryMismatch {
                level: "data type",
                found: "ADT-31".into(),
                expected: "OMP-11".into()
            }
        );
        assert_eq!(
            check_location(Path::new("x/y"), &n),
            vec![LocationIssue::UnexpectedDepth { depth: 2 }]
        );
    }
}
