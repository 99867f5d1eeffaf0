//! Fellegi–Sunter scoring.
//!
//! Each field is compared at discrete levels (exact, variant-folded, kana, fuzzy, …). A level
//! has m = P(level | same person) and u = P(level | different persons); its weight is
//! log2(m/u). The total weight is the sum over fields; missing values contribute 0 (absence is
//! not disagreement). For name agreement, u is the frequency of that name (term-frequency
//! adjustment): 佐藤 agreeing is weaker evidence than 勅使河原 agreeing.
//!
//! One deliberate departure from pure Fellegi–Sunter: family name, address and phone are
//! shared by a household, so they are not independent for twins and siblings. A pair whose
//! given name, sex or birth date *disagrees* (both recorded) is therefore never auto-linked,
//! whatever its total; it goes to review at most ([`ScoreConfig::person_field_veto`]). For the
//! same reason a birth-date typo (one digit, day–month swap) is auto-linked only when the given
//! name agrees in kanji or the insurance number agrees ([`ScoreConfig::date_typo_auto_link`]).

use crate::normalize::{MatchKeys, NameKeys};
use crate::BirthDate;
use std::collections::HashMap;

/// Compared fields, in the order of [`MatchResult::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FamilyName,
    GivenName,
    BirthDate,
    Sex,
    Phone,
    Address,
    Insurance,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::FamilyName,
        Field::GivenName,
        Field::BirthDate,
        Field::Sex,
        Field::Phone,
        Field::Address,
        Field::Insurance,
    ];

    /// Stable snake_case name for logs and reviewer screens.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::FamilyName => "family_name",
            Field::GivenName => "given_name",
            Field::BirthDate => "birth_date",
            Field::Sex => "sex",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Insurance => "insurance",
        }
    }
}

/// Comparison level of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// A value is missing on either side: weight 0.
    Missing,
    /// Names: kanji equal. Others: value equal.
    Exact,
    /// Kanji equal after strict 異体字 folding (渡邊 = 渡辺).
    Variant,
    /// Kanji equal after loose folding (斉藤 = 斎藤).
    Loose,
    /// Kana equal (katakana, after NFKC); kanji differ or are missing.
    KanaExact,
    /// Folded kana equal (コオノ = コウノ); kanji differ.
    KanaFolded,
    /// Kanji missing on a side; kana equal (after folding).
    KanaOnly,
    /// Jaro–Winkler of folded kana ≥ threshold (one-character typo).
    Fuzzy,
    /// Birth date: one digit differs or two adjacent digits swapped.
    OneDigit,
    /// Birth date: day and month swapped.
    DayMonthSwapped,
    /// Address: same block number, building or room differs.
    Block,
    /// Address: same town / 丁目 area or same postal code.
    Town,
    Disagree,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Missing => "missing",
            Level::Exact => "exact",
            Level::Variant => "kanji_variant",
            Level::Loose => "kanji_loose",
            Level::KanaExact => "kana_exact",
            Level::KanaFolded => "kana_folded",
            Level::KanaOnly => "kana_only",
            Level::Fuzzy => "kana_fuzzy",
            Level::OneDigit => "one_digit",
            Level::DayMonthSwapped => "day_month_swapped",
            Level::Block => "block",
            Level::Town => "town",
            Level::Disagree => "disagree",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn is_name_agreement(self) -> bool {
        matches!(
            self,
            Level::Exact
                | Level::Variant
                | Level::Loose
                | Level::KanaExact
                | Level::KanaFolded
                | Level::KanaOnly
        )
    }
}

const N_LEVELS: usize = 13;

/// m and u of one level of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelParams {
    pub field: Field,
    pub level: Level,
    /// P(level | match).
    pub m: f64,
    /// P(level | non-match); replaced by the term frequency for name agreement levels.
    pub u: f64,
}

/// Scoring configuration. The defaults are hand-set from the synthetic noise model and
/// published Japanese name statistics; fitting m/u by EM is future work.
#[derive(Debug, Clone)]
pub struct ScoreConfig {
    pub levels: Vec<LevelParams>,
    /// Jaro–Winkler threshold on folded kana for [`Level::Fuzzy`].
    pub fuzzy_threshold: f64,
    /// Prior P(match) of a candidate pair, only used to turn weights into a probability.
    pub prior: f64,
    /// Total weight at or above which a pair is auto-linked.
    pub auto_link_weight: f64,
    /// Total weight at or above which a pair goes to human review.
    pub review_weight: f64,
    /// Never auto-link when given name, sex or birth date disagree (see module docs).
    pub person_field_veto: bool,
    /// Lower bound of a term-frequency u (keeps a unique name from getting infinite weight).
    pub min_tf_u: f64,
    /// Whether a birth date one digit off (or day and month swapped) may be auto-linked when
    /// the given name agrees in kanji. False: such pairs go to review unless the insurance
    /// number agrees. With [`person_field_veto`](Self::person_field_veto) only.
    pub date_typo_auto_link: bool,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        use Field::*;
        use Level::*;
        let p = |field, level, m, u| LevelParams { field, level, m, u };
        // u of the agreement levels is "share of the name" × a factor: e.g. a non-match agrees
        // only through a variant when one side wrote the variant (≈ 7.5 %), so Variant weighs
        // as much as Exact; same kana with different kanji happens between different people
        // (優子/裕子, 長田/永田), so KanaExact weighs less.
        let name = |f: Field, u_exact: f64, m_disagree: f64| {
            vec![
                p(f, Exact, 0.80, u_exact),
                p(f, Variant, 0.06, u_exact * 0.075),
                p(f, Loose, 0.01, u_exact * 0.0375),
                p(f, KanaExact, 0.03, u_exact * 0.3),
                p(f, KanaFolded, 0.02, u_exact * 0.45),
                p(f, KanaOnly, 0.04, u_exact * 0.06),
                p(f, Fuzzy, 0.03, 0.01),
                p(f, Disagree, m_disagree, 0.98),
            ]
        };
        let mut levels = Vec::new();
        // Family disagreement is fairly likely for a match: marriage.
        levels.extend(name(FamilyName, 0.002, 0.04));
        levels.extend(name(GivenName, 0.003, 0.01));
        levels.extend([
            // u(exact) ≈ 1/(365 × 80 years).
            p(BirthDate, Exact, 0.95, 3.5e-5),
            p(BirthDate, OneDigit, 0.03, 8e-4),
            p(BirthDate, DayMonthSwapped, 0.005, 4e-5),
            p(BirthDate, Disagree, 0.015, 0.999),
            p(Sex, Exact, 0.99, 0.5),
            p(Sex, Disagree, 0.01, 0.5),
            // Phones and addresses are shared by households: u well above 1/population.
            p(Phone, Exact, 0.6, 2e-4),
            p(Phone, Disagree, 0.4, 0.9998),
            p(Address, Exact, 0.6, 1e-4),
            p(Address, Block, 0.1, 2e-4),
            p(Address, Town, 0.1, 0.01),
            p(Address, Disagree, 0.2, 0.99),
            // Insurance changes with jobs and at 75, so disagreement is weak evidence.
            p(Insurance, Exact, 0.6, 1e-5),
            p(Insurance, Disagree, 0.4, 0.99999),
        ]);
        ScoreConfig {
            levels,
            fuzzy_threshold: 0.88,
            prior: 1e-5,
            auto_link_weight: 24.0,
            review_weight: 12.0,
            person_field_veto: true,
            min_tf_u: 1e-5,
            date_typo_auto_link: true,
        }
    }
}

/// Three-way outcome, as in SanteMPI / OpenEMPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    AutoLink,
    Review,
    NoLink,
}

/// FHIR `match-grade` extension values (Patient `$match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchGrade {
    Certain,
    Probable,
    Possible,
    CertainlyNot,
}

impl MatchGrade {
    /// The code in `http://terminology.hl7.org/CodeSystem/match-grade`.
    pub fn code(self) -> &'static str {
        match self {
            MatchGrade::Certain => "certain",
            MatchGrade::Probable => "probable",
            MatchGrade::Possible => "possible",
            MatchGrade::CertainlyNot => "certainly-not",
        }
    }

    /// Auto-link → certain; review with probability ≥ 0.5 → probable; other review →
    /// possible; no-link → certainly-not.
    pub fn from_decision(decision: Decision, probability: f64) -> MatchGrade {
        match decision {
            Decision::AutoLink => MatchGrade::Certain,
            Decision::Review if probability >= 0.5 => MatchGrade::Probable,
            Decision::Review => MatchGrade::Possible,
            Decision::NoLink => MatchGrade::CertainlyNot,
        }
    }
}

/// Contribution of one field, for explaining a decision to a reviewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldScore {
    pub field: Field,
    pub level: Level,
    /// log2(m/u); 0 for missing.
    pub weight: f64,
}

/// Result of scoring one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    /// Sum of field weights (without the prior).
    pub weight: f64,
    /// Posterior P(match) using [`ScoreConfig::prior`].
    pub probability: f64,
    /// Per-field contributions in [`Field::ALL`] order.
    pub fields: [FieldScore; 7],
    /// The family name agreed through a previous (e.g. maiden) name.
    pub via_previous_name: bool,
    pub decision: Decision,
}

impl MatchResult {
    /// FHIR match-grade of this result.
    pub fn match_grade(&self) -> MatchGrade {
        MatchGrade::from_decision(self.decision, self.probability)
    }

    /// The contribution of one field.
    pub fn field(&self, f: Field) -> &FieldScore {
        &self.fields[f as usize]
    }
}

/// Name frequencies for term-frequency adjustment, keyed by loose-folded kanji and by folded
/// kana. Values are shares of records (0–1).
#[derive(Debug, Clone, Default)]
pub struct TermFrequencies {
    pub kanji: HashMap<String, f64>,
    pub kana: HashMap<String, f64>,
    /// Share used for a name absent from the tables (None: the level's configured u).
    pub unseen: Option<f64>,
}

impl TermFrequencies {
    /// Counts names over records. Unseen names get 1/total.
    pub fn from_names<'a>(names: impl Iterator<Item = &'a NameKeys>) -> TermFrequencies {
        let mut kanji: HashMap<String, f64> = HashMap::new();
        let mut kana: HashMap<String, f64> = HashMap::new();
        let (mut nk, mut nn) = (0usize, 0usize);
        for n in names {
            if !n.loose.is_empty() {
                *kanji.entry(n.loose.clone()).or_default() += 1.0;
                nk += 1;
            }
            if !n.kana_folded.is_empty() {
                *kana.entry(n.kana_folded.clone()).or_default() += 1.0;
                nn += 1;
            }
        }
        kanji.values_mut().for_each(|v| *v /= nk.max(1) as f64);
        kana.values_mut().for_each(|v| *v /= nn.max(1) as f64);
        TermFrequencies {
            kanji,
            kana,
            unseen: Some(1.0 / nk.max(nn).max(1) as f64),
        }
    }

    /// Built-in shares of the most common Japanese surnames (rounded, from public surname
    /// rankings), used when no data has been fitted.
    pub fn default_surnames() -> TermFrequencies {
        const TOP: [(&str, &str, f64); 24] = [
            ("佐藤", "サトウ", 0.0150),
            ("鈴木", "スズキ", 0.0144),
            ("高橋", "タカハシ", 0.0114),
            ("田中", "タナカ", 0.0107),
            ("伊藤", "イトウ", 0.0087),
            ("渡辺", "ワタナベ", 0.0087),
            ("山本", "ヤマモト", 0.0086),
            ("中村", "ナカムラ", 0.0084),
            ("小林", "コバヤシ", 0.0082),
            ("加藤", "カトウ", 0.0072),
            ("吉田", "ヨシダ", 0.0067),
            ("山田", "ヤマダ", 0.0066),
            ("佐々木", "ササキ", 0.0054),
            ("山口", "ヤマグチ", 0.0051),
            ("松本", "マツモト", 0.0050),
            ("井上", "イノウエ", 0.0049),
            ("木村", "キムラ", 0.0046),
            ("林", "ハヤシ", 0.0043),
            ("斎藤", "サイトウ", 0.0079),
            ("清水", "シミズ", 0.0042),
            ("山崎", "ヤマザキ", 0.0040),
            ("森", "モリ", 0.0039),
            ("池田", "イケダ", 0.0035),
            ("橋本", "ハシモト", 0.0035),
        ];
        TermFrequencies {
            kanji: TOP.iter().map(|(k, _, f)| (k.to_string(), *f)).collect(),
            kana: TOP.iter().map(|(_, k, f)| (k.to_string(), *f)).collect(),
            unseen: None,
        }
    }

    fn lookup(&self, by_kanji: bool, key: &str) -> Option<f64> {
        let t = if by_kanji { &self.kanji } else { &self.kana };
        t.get(key).copied().or(self.unseen)
    }
}

/// Scores pairs of [`MatchKeys`]. Cheap to share across threads (immutable).
#[derive(Debug, Clone)]
pub struct Scorer {
    config: ScoreConfig,
    /// Precomputed log2(m/u) per field × level; NaN where the level does not apply.
    weights: [[f64; N_LEVELS]; 7],
    m: [[f64; N_LEVELS]; 7],
    u: [[f64; N_LEVELS]; 7],
    family_tf: TermFrequencies,
    given_tf: Option<TermFrequencies>,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer::new(ScoreConfig::default())
    }
}

fn jaro_winkler(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b)
}

fn date_level(a: BirthDate, b: BirthDate) -> Level {
    if a == b {
        return Level::Exact;
    }
    let (x, y) = (a.digits(), b.digits());
    let diff: Vec<usize> = (0..8).filter(|&i| x[i] != y[i]).collect();
    let one_digit = diff.len() == 1
        || (diff.len() == 2
            && diff[1] == diff[0] + 1
            && x[diff[0]] == y[diff[1]]
            && x[diff[1]] == y[diff[0]]);
    if one_digit {
        Level::OneDigit
    } else if a.year == b.year && a.month == b.day && a.day == b.month {
        Level::DayMonthSwapped
    } else {
        Level::Disagree
    }
}

impl Scorer {
    /// A scorer with the given configuration and the built-in surname frequencies.
    pub fn new(config: ScoreConfig) -> Scorer {
        let mut weights = [[f64::NAN; N_LEVELS]; 7];
        let mut m = [[f64::NAN; N_LEVELS]; 7];
        let mut u = [[f64::NAN; N_LEVELS]; 7];
        for p in &config.levels {
            weights[p.field as usize][p.level.index()] = (p.m / p.u).log2();
            m[p.field as usize][p.level.index()] = p.m;
            u[p.field as usize][p.level.index()] = p.u;
        }
        Scorer {
            config,
            weights,
            m,
            u,
            family_tf: TermFrequencies::default_surnames(),
            given_tf: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ScoreConfig {
        &self.config
    }

    /// Replaces the built-in surname table by frequencies counted in `records` (current and
    /// previous family names) and adds given-name frequencies.
    pub fn fit_term_frequencies(&mut self, records: &[MatchKeys]) {
        self.family_tf = TermFrequencies::from_names(
            records
                .iter()
                .flat_map(|k| std::iter::once(&k.family).chain(&k.previous_family)),
        );
        self.given_tf = Some(TermFrequencies::from_names(
            records.iter().map(|k| &k.given),
        ));
    }

    /// Sets the term-frequency tables explicitly.
    pub fn set_term_frequencies(
        &mut self,
        family: TermFrequencies,
        given: Option<TermFrequencies>,
    ) {
        self.family_tf = family;
        self.given_tf = given;
    }

    fn w(&self, f: Field, l: Level) -> f64 {
        let w = self.weights[f as usize][l.index()];
        if w.is_nan() {
            0.0
        } else {
            w
        }
    }

    fn name_level(&self, a: &NameKeys, b: &NameKeys) -> Level {
        if a.is_empty() || b.is_empty() {
            return Level::Missing;
        }
        let kanji = !a.raw.is_empty() && !b.raw.is_empty();
        if kanji {
            if a.raw == b.raw {
                return Level::Exact;
            }
            if a.variant == b.variant {
                return Level::Variant;
            }
            if a.loose == b.loose {
                return Level::Loose;
            }
        }
        if !a.kana_folded.is_empty() && !b.kana_folded.is_empty() {
            let folded_eq = a.kana_folded == b.kana_folded;
            if !kanji && folded_eq {
                return Level::KanaOnly;
            }
            if a.kana == b.kana {
                return Level::KanaExact;
            }
            if folded_eq {
                return Level::KanaFolded;
            }
            if jaro_winkler(&a.kana_folded, &b.kana_folded) >= self.config.fuzzy_threshold {
                return Level::Fuzzy;
            }
            return Level::Disagree;
        }
        if kanji {
            Level::Disagree
        } else {
            // Kanji on one side, kana on the other: nothing comparable.
            Level::Missing
        }
    }

    /// Weight of a name level, with the term-frequency u for agreement levels.
    fn name_weight(&self, field: Field, level: Level, a: &NameKeys) -> f64 {
        let base = self.w(field, level);
        if !level.is_name_agreement() {
            return base;
        }
        let tf = match field {
            Field::FamilyName => Some(&self.family_tf),
            _ => self.given_tf.as_ref(),
        };
        let by_kanji = matches!(level, Level::Exact | Level::Variant | Level::Loose);
        let key = if by_kanji { &a.loose } else { &a.kana_folded };
        match tf.and_then(|t| t.lookup(by_kanji, key)) {
            Some(freq) => {
                let (f, l) = (field as usize, level.index());
                // Weaker agreement levels also admit near-homonyms: keep their configured u
                // ratio to the exact level.
                let ratio = self.u[f][l] / self.u[f][Level::Exact.index()];
                let u = (freq * ratio).max(self.config.min_tf_u);
                (self.m[f][l] / u).log2()
            }
            None => base,
        }
    }

    fn compare_names(&self, field: Field, a: &NameKeys, b: &NameKeys) -> (Level, f64) {
        let level = self.name_level(a, b);
        (level, self.name_weight(field, level, a))
    }

    /// Scores one pair.
    pub fn score(&self, a: &MatchKeys, b: &MatchKeys) -> MatchResult {
        use Field::*;
        // Family name: best over current and previous names on both sides.
        let (mut fam_level, mut fam_w) = self.compare_names(FamilyName, &a.family, &b.family);
        let mut via_previous = false;
        if !a.previous_family.is_empty() || !b.previous_family.is_empty() {
            let side_a = std::iter::once(&a.family).chain(&a.previous_family);
            for (i, x) in side_a.enumerate() {
                let side_b = std::iter::once(&b.family).chain(&b.previous_family);
                for (j, y) in side_b.enumerate() {
                    if i == 0 && j == 0 {
                        continue;
                    }
                    let (l, w) = self.compare_names(FamilyName, x, y);
                    if l != Level::Missing && (fam_level == Level::Missing || w > fam_w) {
                        fam_level = l;
                        fam_w = w;
                        via_previous = true;
                    }
                }
            }
        }
        let (given_level, given_w) = self.compare_names(GivenName, &a.given, &b.given);

        let date_l = match (a.birth_date, b.birth_date) {
            (Some(x), Some(y)) => date_level(x, y),
            _ => Level::Missing,
        };
        let sex_l = match (a.sex, b.sex) {
            (crate::Sex::Unknown, _) | (_, crate::Sex::Unknown) => Level::Missing,
            (x, y) if x == y => Level::Exact,
            _ => Level::Disagree,
        };
        let phone_l = if a.phone.is_empty() || b.phone.is_empty() {
            Level::Missing
        } else if a.phone == b.phone
            // A number without area code recorded at one facility.
            || (a.phone.len().min(b.phone.len()) >= 6
                && (a.phone.ends_with(&b.phone) || b.phone.ends_with(&a.phone)))
        {
            Level::Exact
        } else {
            Level::Disagree
        };
        let (aa, ba) = (&a.address, &b.address);
        let postal_eq = !a.postal_code.is_empty() && a.postal_code == b.postal_code;
        let addr_l = if aa.full.is_empty() || ba.full.is_empty() {
            if postal_eq {
                Level::Town
            } else {
                Level::Missing
            }
        } else if aa.full == ba.full {
            Level::Exact
        } else if !aa.block.is_empty() && aa.block == ba.block {
            Level::Block
        } else if (!aa.town.is_empty() && aa.town == ba.town) || postal_eq {
            Level::Town
        } else {
            Level::Disagree
        };
        let ins_l = if a.insurance_number.is_empty() || b.insurance_number.is_empty() {
            Level::Missing
        } else if a.insurance_number == b.insurance_number {
            Level::Exact
        } else {
            Level::Disagree
        };

        let fs = |field, level, weight| FieldScore {
            field,
            level,
            weight,
        };
        let fields = [
            fs(FamilyName, fam_level, fam_w),
            fs(GivenName, given_level, given_w),
            fs(BirthDate, date_l, self.w(BirthDate, date_l)),
            fs(Sex, sex_l, self.w(Sex, sex_l)),
            fs(Phone, phone_l, self.w(Phone, phone_l)),
            fs(Address, addr_l, self.w(Address, addr_l)),
            fs(Insurance, ins_l, self.w(Insurance, ins_l)),
        ];
        let weight: f64 = fields.iter().map(|f| f.weight).sum();
        let prior = self.config.prior;
        let log_odds = weight + (prior / (1.0 - prior)).log2();
        let probability = 1.0 / (1.0 + (-log_odds).exp2());
        let given_kanji_agrees =
            matches!(given_level, Level::Exact | Level::Variant | Level::Loose);
        let vetoed = self.config.person_field_veto
            && [given_level, sex_l, date_l].contains(&Level::Disagree);
        // A birth-date typo is auto-linked only next to a given name that agrees in kanji (or
        // an agreeing insurance number): with the date off, a given name agreeing only in kana
        // or within one kana (優子/裕子, ユウコ/ユウキ) leaves no exact person-level field, and
        // family name, address and phone are shared by a household.
        let date_typo = matches!(date_l, Level::OneDigit | Level::DayMonthSwapped);
        let date_typo_unconfirmed = date_typo
            && ins_l != Level::Exact
            && (!self.config.date_typo_auto_link || !given_kanji_agrees);
        let vetoed = vetoed || (self.config.person_field_veto && date_typo_unconfirmed);
        let decision = if weight >= self.config.auto_link_weight && !vetoed {
            Decision::AutoLink
        } else if weight >= self.config.review_weight {
            Decision::Review
        } else {
            Decision::NoLink
        };
        MatchResult {
            weight,
            probability,
            fields,
            via_previous_name: via_previous,
            decision,
        }
    }
}
