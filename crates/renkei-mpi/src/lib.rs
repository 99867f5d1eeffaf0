//! Matching core of a master patient index (MPI) for Japanese patient records.
//!
//! Each facility knows a patient by its own local ID; the network links those IDs to one
//! person from name (kanji and kana), birth date, sex, address, phone and insurance numbers,
//! tolerating the typing variants Japanese records are full of (旧字体, half-width kana,
//! hiragana for katakana, コオノ/コウノ, full-width digits, 一丁目2番3号 vs 1-2-3).
//!
//! The pipeline is pure and synchronous:
//!
//! 1. [`normalize`]: [`MatchKeys::from`] computes comparison keys once, at write time.
//!    Stored names are never altered; keys are only for comparison.
//! 2. [`blocking`]: several blocking keys per record produce candidate pairs, so one
//!    birth-date typo or a marriage name change still yields the pair.
//! 3. [`score`]: Fellegi–Sunter weights per field with term-frequency adjustment for common
//!    names, a probability, per-field contributions for reviewers and a three-way
//!    [`Decision`](score::Decision).
//! 4. [`cluster`]: union-find over auto-links.
//!
//! With the `synth` feature, [`synth`] generates a synthetic Japanese population with ground
//! truth and computes pairwise precision/recall (used by the `mpi-eval` bin and the tests).
//!
//! ```
//! use renkei_mpi::{BirthDate, MatchKeys, PersonRecord, Sex};
//! use renkei_mpi::score::{Decision, Scorer};
//!
//! let a = PersonRecord {
//!     family_kanji: "渡邊".into(), given_kanji: "花子".into(),
//!     family_kana: "ﾜﾀﾅﾍﾞ".into(), given_kana: "はなこ".into(),
//!     birth_date: BirthDate::parse("昭和25年3月2日"), sex: Sex::Female,
//!     phone: "０１１－２３４－５６７８".into(),
//!     address: "北海道札幌市中央区南三条西五丁目1番2号".into(),
//!     ..Default::default()
//! };
//! let b = PersonRecord {
//!     family_kanji: "渡辺".into(), given_kanji: "花子".into(),
//!     family_kana: "ワタナベ".into(), given_kana: "ハナコ".into(),
//!     birth_date: BirthDate::parse("1950-03-02"), sex: Sex::Female,
//!     phone: "+81 11 234 5678".into(),
//!     address: "札幌市中央区南3条西5-1-2".into(),
//!     ..Default::default()
//! };
//! let scorer = Scorer::default();
//! let r = scorer.score(&MatchKeys::from(&a), &MatchKeys::from(&b));
//! assert_eq!(r.decision, Decision::AutoLink);
//! ```

pub mod blocking;
pub mod cluster;
pub mod normalize;
pub mod score;
#[cfg(feature = "synth")]
pub mod synth;
mod variants;

pub use normalize::MatchKeys;

use std::fmt;

/// Administrative sex as recorded by a facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sex {
    Male,
    Female,
    Other,
    /// Not recorded; contributes no weight.
    #[default]
    Unknown,
}

impl Sex {
    /// Parses common codings: `M`/`F`, `male`/`female`, `1`/`2` (JIS X 0303), 男/女.
    pub fn parse(s: &str) -> Sex {
        match s.trim().to_ascii_lowercase().as_str() {
            "m" | "male" | "1" | "男" | "男性" => Sex::Male,
            "f" | "female" | "2" | "女" | "女性" => Sex::Female,
            "o" | "other" | "9" => Sex::Other,
            _ => Sex::Unknown,
        }
    }

    /// Single-letter code (`M`, `F`, `O`, empty for unknown).
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
            Sex::Other => "O",
            Sex::Unknown => "",
        }
    }
}

/// A calendar date of birth. Compared as a value, never as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BirthDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl BirthDate {
    /// Builds a date if month and day are in range (day ≤ 31; calendar validity beyond
    /// that is not checked because a typo'd 2月30日 is still evidence).
    pub fn new(year: u16, month: u8, day: u8) -> Option<BirthDate> {
        ((1..=12).contains(&month) && (1..=31).contains(&day) && year >= 1800)
            .then_some(BirthDate { year, month, day })
    }

    /// Parses `1950-03-02`, `1950/3/2`, `1950.3.2`, `19500302`, `1950年3月2日` and Japanese
    /// eras (`昭和25年3月2日`, `S25.3.2`, `平成元年1月8日`), after NFKC (full-width digits).
    pub fn parse(s: &str) -> Option<BirthDate> {
        normalize::parse_birth_date(s)
    }

    /// `YYYYMMDD` digits, used for digit-level comparison and blocking.
    pub fn digits(&self) -> [u8; 8] {
        let s = format!("{:04}{:02}{:02}", self.year, self.month, self.day);
        let mut out = [0u8; 8];
        out.copy_from_slice(&s.as_bytes()[..8]);
        out
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A previous family name (e.g. before marriage), FHIR `name.use = old`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreviousName {
    pub kanji: String,
    pub kana: String,
}

/// One facility's record of a patient, as stored. Empty strings mean "not recorded".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonRecord {
    /// The facility's local patient ID (or any record identifier).
    pub record_id: String,
    pub facility_id: String,
    /// 氏 in kanji (may carry 旧字体 such as 渡邊, 髙橋).
    pub family_kanji: String,
    /// 名 in kanji.
    pub given_kanji: String,
    /// 氏 in kana (katakana, hiragana or half-width — all folded for matching).
    pub family_kana: String,
    pub given_kana: String,
    /// Earlier family names (marriage, adoption); matched as well as the current one.
    pub previous_family_names: Vec<PreviousName>,
    pub birth_date: Option<BirthDate>,
    pub sex: Sex,
    pub phone: String,
    /// 郵便番号, any formatting.
    pub postal_code: String,
    pub address: String,
    /// Insurance identification (保険者番号 and/or 記号・番号); only digits are compared.
    pub insurance_number: String,
}
