//! Per-source code mapping: which monitor code is which catalogue item, and how its
//! unit converts to the item's canonical unit.
//!
//! Vendors do not share codes. IHE PCD-01 senders use ISO/IEEE 11073-10101 (MDC)
//! numbers; Philips MDIL writes the same nomenclature as `partition-term` in hex
//! (`0002-4182` = 2 × 65536 + 0x4182 = 147842, converted on lookup, so one MDC row
//! serves both); Nihon Kohden gateways use proprietary six-digit codes. A
//! [`CodeMap`] therefore keys on (source, code), and each site can load its own table
//! as CSV on top of (or instead of) the defaults.
//!
//! **The Nihon Kohden defaults are configurable placeholders.** Only `007000` (SpO2)
//! and `009000/009001/009002` (NIBP systolic/diastolic/mean) are taken from the
//! reference; the heart-rate, respiration, temperature, arterial-pressure and CVP codes
//! follow the same numbering pattern but must be confirmed against each site's
//! gateway configuration (CNS-6201 class) before go-live, and overridden with a site
//! table where they differ.
//!
//! Tables are validated, because public code lists contain wrong codes (one labels
//! 150017 — generic blood pressure, systolic — as NIBP systolic, which is 150021): a
//! row whose label names another MDC term than its code, an MDC code mapped to an
//! item it cannot carry, an unknown item, or a duplicate is refused, and all problems
//! are returned with their line numbers.
//!
//! CSV format, one mapping per line (`#` starts a comment, no quoting):
//!
//! ```text
//! source,code,item,unit,factor,offset[,label]
//! mdc,150456,spo2,,,,MDC_PULS_OXIM_SAT_O2
//! mdil,0002-4182,hr,,,
//! nk,007000,spo2,%,,,VITAL SpO2
//! nk,008000,temp,F,0.5555556,-17.7777778,TEMP (°F gateway)
//! 99ACME,T1,temp,,,
//! ```
//!
//! `source` is `mdc`, `mdil` (Philips partition-term, stored as MDC), `nk` (Nihon
//! Kohden), or any other coding-system name exactly as the sender puts it in OBX-3.3.
//! `unit`, `factor`, `offset` are optional: with a unit and a factor the row says
//! "this code in this unit converts as value × factor + offset"; with a unit but no
//! factor the built-in conversion of that unit must exist; with no unit the built-in
//! conversions apply to whatever unit arrives.

use crate::items::{ucum, Catalogue, ItemDef};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// Which family of codes an OBX-3 code belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// ISO/IEEE 11073-10101 numeric codes (IHE PCD-01; Philips MDIL after conversion).
    Mdc,
    /// Nihon Kohden gateway codes (six digits).
    NihonKohden,
    /// Any other coding system, by its OBX-3.3 name (upper-cased).
    Other(String),
}

impl SourceKind {
    /// The source named in a CSV table or configuration (`mdc`, `mdil`, `nk`,
    /// `nihon_kohden`, or a coding-system name).
    pub fn from_name(name: &str) -> SourceKind {
        match name.trim().to_ascii_lowercase().as_str() {
            "mdc" | "mdil" | "philips" => SourceKind::Mdc,
            "nk" | "nihon_kohden" | "nihonkohden" => SourceKind::NihonKohden,
            _ => SourceKind::Other(name.trim().to_ascii_uppercase()),
        }
    }

    /// The name used in CSV tables.
    pub fn name(&self) -> &str {
        match self {
            SourceKind::Mdc => "mdc",
            SourceKind::NihonKohden => "nk",
            SourceKind::Other(n) => n,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `value × factor + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Conversion {
    /// Multiplier.
    pub factor: f64,
    /// Added after multiplying.
    pub offset: f64,
}

impl Conversion {
    /// No change.
    pub const IDENTITY: Conversion = Conversion {
        factor: 1.0,
        offset: 0.0,
    };

    /// Applies the conversion.
    pub fn apply(&self, value: f64) -> f64 {
        value * self.factor + self.offset
    }
}

/// One mapped code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeEntry {
    /// The catalogue item it carries.
    pub item: String,
    /// The code's name where the table gave one (MDC reference ID or vendor label).
    pub label: Option<String>,
    /// Conversions specific to this code, by normalised unit.
    pub units: Vec<(String, Conversion)>,
    /// Line of the CSV table the entry came from (0 for built-ins added in code).
    pub line: usize,
}

/// A problem in a mapping table, with its line (1-based; 0 = not tied to a line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableProblem {
    /// 1-based line number in the CSV text.
    pub line: usize,
    /// What is wrong, one sentence.
    pub text: String,
}

impl fmt::Display for TableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.text)
    }
}

/// The mapping from (source, code) to catalogue items, with unit conversions.
#[derive(Debug, Clone)]
pub struct CodeMap {
    codes: HashMap<(SourceKind, String), CodeEntry>,
}

/// The built-in table, in the CSV format (so the defaults pass the same validation as a
/// site's table, and double as an example).
pub const DEFAULT_TABLE: &str = "\
source,code,item,unit,factor,offset,label
# IHE PCD-01: ISO/IEEE 11073-10101 (MDC). Philips MDIL partition-term codes resolve here too.
mdc,147842,hr,,,,MDC_ECG_HEART_RATE
mdc,149530,pr,,,,MDC_PULS_OXIM_PULS_RATE
mdc,150456,spo2,,,,MDC_PULS_OXIM_SAT_O2
mdc,150033,sbp,,,,MDC_PRESS_BLD_ART_SYS
mdc,150034,dbp,,,,MDC_PRESS_BLD_ART_DIA
mdc,150035,map,,,,MDC_PRESS_BLD_ART_MEAN
mdc,150037,sbp,,,,MDC_PRESS_BLD_ART_ABP_SYS
mdc,150038,dbp,,,,MDC_PRESS_BLD_ART_ABP_DIA
mdc,150039,map,,,,MDC_PRESS_BLD_ART_ABP_MEAN
mdc,150021,sbp,,,,MDC_PRESS_BLD_NONINV_SYS
mdc,150022,dbp,,,,MDC_PRESS_BLD_NONINV_DIA
mdc,150023,map,,,,MDC_PRESS_BLD_NONINV_MEAN
mdc,150087,cvp,,,,MDC_PRESS_BLD_VEN_CENT_MEAN
mdc,151562,rr,,,,MDC_RESP_RATE
mdc,150344,temp,,,,MDC_TEMP
mdc,150364,temp,,,,MDC_TEMP_BODY
mdc,150368,temp,,,,MDC_TEMP_CORE
mdc,188420,temp_rectal,,,,MDC_TEMP_RECT
mdc,152196,fio2,,,,MDC_CONC_AWAY_O2_INSP
mdc,151920,fio2,,,,MDC_VENT_CONC_AWAY_O2_INSP
mdc,153144,fio2,,,,MDC_CONC_GASDLV_O2_INSP
# LOINC (OBX-3.3 `LN`; FHIR `http://loinc.org`): vital signs of the FHIR vital-signs profile
# and the daily labs.
LN,8867-4,hr,,,,Heart rate
LN,8889-8,pr,,,,Heart rate by Pulse oximetry
LN,59408-5,spo2,,,,Oxygen saturation in Arterial blood by Pulse oximetry
LN,8480-6,sbp,,,,Systolic blood pressure
LN,8462-4,dbp,,,,Diastolic blood pressure
LN,8478-0,map,,,,Mean blood pressure
LN,9279-1,rr,,,,Respiratory rate
LN,8310-5,temp,,,,Body temperature
LN,3150-0,fio2,,,,Inhaled oxygen concentration
LN,9269-2,gcs,,,,Glasgow coma score total
LN,2703-7,pao2,,,,Oxygen [Partial pressure] in Arterial blood
LN,2019-8,paco2,,,,Carbon dioxide [Partial pressure] in Arterial blood
LN,2744-1,ph,,,,pH of Arterial blood
LN,2160-0,creatinine,,,,Creatinine [Mass/volume] in Serum or Plasma
LN,4544-3,hct,,,,Hematocrit of Blood by Automated count
LN,6690-2,wbc,,,,Leukocytes [#/volume] in Blood by Automated count
LN,777-3,plt,,,,Platelets [#/volume] in Blood by Automated count
LN,1975-2,bilirubin,,,,Bilirubin.total [Mass/volume] in Serum or Plasma
LN,3094-0,bun,,,,Urea nitrogen [Mass/volume] in Serum or Plasma
LN,2951-2,na,,,,Sodium [Moles/volume] in Serum or Plasma
LN,2823-3,k,,,,Potassium [Moles/volume] in Serum or Plasma
LN,1960-4,hco3,,,,Bicarbonate [Moles/volume] in Arterial blood
# Nihon Kohden gateway (CNS-6201 class). 007000 and 009000-009002 are from the reference;
# the others are placeholders in the same numbering: confirm them per site.
nk,001000,hr,,,,ECG HR
nk,002000,rr,,,,RESP RR
nk,003000,sbp,,,,ABP SYS
nk,003001,dbp,,,,ABP DIAS
nk,003002,map,,,,ABP MEAN
nk,005002,cvp,,,,CVP MEAN
nk,007000,spo2,,,,VITAL SpO2
nk,007001,pr,,,,SpO2 PR
nk,008000,temp,,,,TEMP T1
nk,009000,sbp,,,,NIBP SYS
nk,009001,dbp,,,,NIBP DIAS
nk,009002,map,,,,NIBP MEAN
";

impl Default for CodeMap {
    fn default() -> Self {
        CodeMap::defaults()
    }
}

impl CodeMap {
    /// A map with no codes (unit conversions are always built in).
    pub fn empty() -> CodeMap {
        CodeMap {
            codes: HashMap::new(),
        }
    }

    /// The built-in table ([`DEFAULT_TABLE`]).
    pub fn defaults() -> CodeMap {
        CodeMap::empty()
            .with_csv(DEFAULT_TABLE, &Catalogue::builtin())
            .expect("the built-in code table is valid")
    }

    /// Only the codes of `text` (the defaults are not included).
    pub fn from_csv(text: &str, catalogue: &Catalogue) -> Result<CodeMap, Vec<TableProblem>> {
        CodeMap::empty().with_csv(text, catalogue)
    }

    /// This map with the rows of `text` added; a row for a (source, code) already in the
    /// map replaces it (a site table overrides a default). All-or-nothing: any problem
    /// refuses the whole table, since one wrong row can put a value on the wrong chart.
    pub fn with_csv(
        mut self,
        text: &str,
        catalogue: &Catalogue,
    ) -> Result<CodeMap, Vec<TableProblem>> {
        let rows = parse_table(text, catalogue)?;
        // Rows of this table replace earlier entries per (source, code), then merge units.
        let mut fresh: HashMap<(SourceKind, String), CodeEntry> = HashMap::new();
        for row in rows {
            let entry = fresh
                .entry((row.source, row.code))
                .or_insert_with(|| CodeEntry {
                    item: row.item.clone(),
                    label: None,
                    units: Vec::new(),
                    line: row.line,
                });
            if entry.label.is_none() {
                entry.label = row.label;
            }
            if let (Some(unit), Some(conv)) = (row.unit, row.conversion) {
                entry.units.push((unit, conv));
            }
        }
        self.codes.extend(fresh);
        Ok(self)
    }

    /// The entry for a code. MDC codes may be given in Philips `partition-term` form.
    pub fn lookup(&self, source: &SourceKind, code: &str) -> Option<&CodeEntry> {
        let code = code.trim();
        if *source == SourceKind::Mdc {
            let key = canonical_mdc(code)?;
            return self.codes.get(&(SourceKind::Mdc, key));
        }
        self.codes.get(&(source.clone(), code.to_string()))
    }

    /// Whether any code of this source is mapped.
    pub fn has_source(&self, source: &SourceKind) -> bool {
        self.codes.keys().any(|(s, _)| s == source)
    }

    /// How a value in `unit` (as sent: an MDC unit code, `mmHg`, `℃`, `kPa`…) converts
    /// to `item`'s canonical unit, for this code. An empty unit means the canonical
    /// unit. `None` when the unit is unknown or does not fit the item.
    pub fn conversion(&self, entry: &CodeEntry, item: &ItemDef, unit: &str) -> Option<Conversion> {
        let unit = normalize_unit(unit);
        if let Some((_, c)) = entry.units.iter().find(|(u, _)| *u == unit) {
            return Some(*c);
        }
        builtin_conversion(item, &unit)
    }

    /// Every entry, sorted by source and code (for listings and exports).
    pub fn entries(&self) -> Vec<(&SourceKind, &str, &CodeEntry)> {
        let mut all: Vec<_> = self
            .codes
            .iter()
            .map(|((s, c), e)| (s, c.as_str(), e))
            .collect();
        all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        all
    }

    /// The table as CSV, loadable with [`CodeMap::from_csv`] (a starting point for a
    /// site's own table).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("source,code,item,unit,factor,offset,label\n");
        for (source, code, e) in self.entries() {
            let label = e.label.as_deref().unwrap_or("");
            if e.units.is_empty() {
                out.push_str(&format!("{source},{code},{},,,,{label}\n", e.item));
            }
            for (unit, c) in &e.units {
                out.push_str(&format!(
                    "{source},{code},{},{unit},{},{},{label}\n",
                    e.item, c.factor, c.offset
                ));
            }
        }
        out
    }
}

/// A Philips MDIL `partition-term` code (hex, e.g. `0002-4182`) as an MDC number.
pub fn mdil_to_mdc(code: &str) -> Option<u32> {
    let (partition, term) = code.trim().split_once('-')?;
    let hex4 = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex4(partition) || !hex4(term) {
        return None;
    }
    let p = u32::from_str_radix(partition, 16).ok()?;
    let t = u32::from_str_radix(term, 16).ok()?;
    Some(p * 65_536 + t)
}

/// An MDC code as its decimal key: plain digits, or converted from `partition-term`.
fn canonical_mdc(code: &str) -> Option<String> {
    if !code.is_empty() && code.len() <= 10 && code.bytes().all(|b| b.is_ascii_digit()) {
        return code.parse::<u32>().ok().map(|n| n.to_string());
    }
    mdil_to_mdc(code).map(|n| n.to_string())
}

/// Known MDC terms: code, reference ID, items the term can carry. Used to refuse a
/// table row whose label or item contradicts the nomenclature.
const KNOWN_MDC: &[(u32, &[&str], &[&str])] = &[
    // Philips IntelliVue names 147842 by its newer reference ID.
    (
        147842,
        &["MDC_ECG_HEART_RATE", "MDC_ECG_CARD_BEAT_RATE"],
        &["hr"],
    ),
    (149530, &["MDC_PULS_OXIM_PULS_RATE"], &["pr", "hr"]),
    (150456, &["MDC_PULS_OXIM_SAT_O2"], &["spo2"]),
    (150017, &["MDC_PRESS_BLD_SYS"], &["sbp"]),
    (150018, &["MDC_PRESS_BLD_DIA"], &["dbp"]),
    (150019, &["MDC_PRESS_BLD_MEAN"], &["map"]),
    (150021, &["MDC_PRESS_BLD_NONINV_SYS"], &["sbp"]),
    (150022, &["MDC_PRESS_BLD_NONINV_DIA"], &["dbp"]),
    (150023, &["MDC_PRESS_BLD_NONINV_MEAN"], &["map"]),
    (150033, &["MDC_PRESS_BLD_ART_SYS"], &["sbp"]),
    (150034, &["MDC_PRESS_BLD_ART_DIA"], &["dbp"]),
    (150035, &["MDC_PRESS_BLD_ART_MEAN"], &["map"]),
    (150037, &["MDC_PRESS_BLD_ART_ABP_SYS"], &["sbp"]),
    (150038, &["MDC_PRESS_BLD_ART_ABP_DIA"], &["dbp"]),
    (150039, &["MDC_PRESS_BLD_ART_ABP_MEAN"], &["map"]),
    (150087, &["MDC_PRESS_BLD_VEN_CENT_MEAN"], &["cvp"]),
    (151562, &["MDC_RESP_RATE"], &["rr"]),
    (150344, &["MDC_TEMP"], &["temp", "temp_rectal"]),
    (150364, &["MDC_TEMP_BODY"], &["temp"]),
    (150368, &["MDC_TEMP_CORE"], &["temp", "temp_rectal"]),
    (188420, &["MDC_TEMP_RECT"], &["temp_rectal"]),
    (152196, &["MDC_CONC_AWAY_O2_INSP"], &["fio2"]),
    (151920, &["MDC_VENT_CONC_AWAY_O2_INSP"], &["fio2"]),
    (153144, &["MDC_CONC_GASDLV_O2_INSP"], &["fio2"]),
];

/// The reference ID of a known MDC code (`150456` → `MDC_PULS_OXIM_SAT_O2`).
pub fn mdc_reference_id(code: u32) -> Option<&'static str> {
    KNOWN_MDC.iter().find(|k| k.0 == code).map(|k| k.1[0])
}

struct Row {
    line: usize,
    source: SourceKind,
    code: String,
    item: String,
    unit: Option<String>,
    conversion: Option<Conversion>,
    label: Option<String>,
}

fn parse_table(text: &str, catalogue: &Catalogue) -> Result<Vec<Row>, Vec<TableProblem>> {
    let mut problems = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    // (source, code) → (item, line); (source, code, unit) → line.
    let mut items_seen: HashMap<(SourceKind, String), (String, usize)> = HashMap::new();
    let mut units_seen: HashMap<(SourceKind, String, String), usize> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let trimmed = raw.trim().trim_start_matches('\u{FEFF}');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        if cols[0].eq_ignore_ascii_case("source") {
            continue;
        }
        let mut problem = |text: String| problems.push(TableProblem { line, text });
        if cols.len() < 6 || cols.len() > 7 {
            problem(format!(
                "expected 6 or 7 columns (source,code,item,unit,factor,offset[,label]), found {}",
                cols.len()
            ));
            continue;
        }
        let (source_name, code_raw, item_code, unit_raw, factor_raw, offset_raw) =
            (cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]);
        let label = cols.get(6).filter(|l| !l.is_empty()).map(|l| l.to_string());
        if source_name.is_empty() || code_raw.is_empty() {
            problem("source and code are required".into());
            continue;
        }
        let source = SourceKind::from_name(source_name);
        let code = match source {
            SourceKind::Mdc => {
                let is_mdil = source_name.eq_ignore_ascii_case("mdil")
                    || source_name.eq_ignore_ascii_case("philips");
                let parsed = if is_mdil {
                    mdil_to_mdc(code_raw).map(|n| n.to_string())
                } else {
                    canonical_mdc(code_raw)
                };
                match parsed {
                    Some(c) => c,
                    None => {
                        problem(format!(
                            "{code_raw:?} is not an MDC code (a number, or partition-term in hex such as 0002-4182)"
                        ));
                        continue;
                    }
                }
            }
            _ => code_raw.to_string(),
        };
        let mut row_ok = true;
        let Some(item) = catalogue.get(item_code) else {
            problem(format!("unknown item {item_code:?} (not in the catalogue)"));
            continue;
        };
        if source == SourceKind::Mdc {
            if let Some(reason) = mdc_contradiction(&code, item_code, label.as_deref()) {
                problem(reason);
                row_ok = false;
            }
        }
        let key = (source.clone(), code.clone());
        let mut other_item = false;
        match items_seen.get(&key) {
            Some((other, at)) if other != item_code => {
                problem(format!(
                    "{source} code {code} is already mapped to {other} on line {at}"
                ));
                row_ok = false;
                other_item = true;
            }
            Some(_) => {}
            None => {
                items_seen.insert(key, (item_code.to_string(), line));
            }
        }
        let unit = (!unit_raw.is_empty()).then(|| normalize_unit(unit_raw));
        let unit_key = (
            source.clone(),
            code.clone(),
            unit.clone().unwrap_or_default(),
        );
        if other_item {
            // Already reported.
        } else if let Some(at) = units_seen.get(&unit_key) {
            problem(format!(
                "duplicate: {source} code {code}{} is already on line {at}",
                if unit_raw.is_empty() {
                    String::new()
                } else {
                    format!(" in {unit_raw}")
                }
            ));
            row_ok = false;
        } else {
            units_seen.insert(unit_key, line);
        }
        let number = |text: &str, what: &str| -> Result<Option<f64>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(format!("{what} {text:?} is not a number")),
            }
        };
        let factor = number(factor_raw, "factor");
        let offset = number(offset_raw, "offset");
        let conversion = match (&unit, factor, offset) {
            (_, Err(e), _) | (_, _, Err(e)) => {
                problem(e);
                row_ok = false;
                None
            }
            (None, Ok(f), Ok(o)) => {
                if f.is_some() || o.is_some() {
                    problem("a factor or offset needs the unit it converts from".into());
                    row_ok = false;
                }
                None
            }
            (Some(u), Ok(None), Ok(o)) => {
                if o.is_some() {
                    problem("an offset needs a factor".into());
                    row_ok = false;
                }
                if builtin_conversion(item, u).is_none() {
                    problem(format!(
                        "no built-in conversion from {unit_raw:?} to {} ({}): give factor and offset",
                        item.unit.ucum, item.code
                    ));
                    row_ok = false;
                }
                None
            }
            (Some(_), Ok(Some(f)), Ok(o)) => {
                if f == 0.0 {
                    problem("factor 0 would erase every value".into());
                    row_ok = false;
                }
                Some(Conversion {
                    factor: f,
                    offset: o.unwrap_or(0.0),
                })
            }
        };
        if row_ok {
            rows.push(Row {
                line,
                source,
                code,
                item: item_code.to_string(),
                unit,
                conversion,
                label,
            });
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Why an MDC row contradicts the nomenclature, if it does.
fn mdc_contradiction(code: &str, item: &str, label: Option<&str>) -> Option<String> {
    let number: u32 = code.parse().ok()?;
    let known = KNOWN_MDC.iter().find(|k| k.0 == number);
    if let Some(label) = label {
        let upper = label.to_ascii_uppercase();
        if upper.starts_with("MDC_") {
            let named = KNOWN_MDC.iter().find(|k| k.1.contains(&upper.as_str()));
            match (known, named) {
                (Some(k), _) if !k.1.contains(&upper.as_str()) => {
                    let hint = named
                        .map(|n| format!(" ({upper} is {})", n.0))
                        .unwrap_or_default();
                    return Some(format!(
                        "code {number} is {}, not {upper}{hint}: check the source of this table",
                        k.1[0]
                    ));
                }
                (None, Some(n)) => {
                    return Some(format!(
                        "label {upper} is code {}, not {number}: check the source of this table",
                        n.0
                    ))
                }
                _ => {}
            }
        } else if let Some(k) = known {
            let says_noninvasive = ["NIBP", "NONINV", "非観血"]
                .iter()
                .any(|w| upper.contains(w) || label.contains(w));
            if says_noninvasive && !k.1[0].contains("NONINV") {
                return Some(format!(
                    "label {label:?} says non-invasive but code {number} is {}: check the source of this table",
                    k.1[0]
                ));
            }
        }
    }
    if let Some(k) = known {
        if !k.2.contains(&item) {
            return Some(format!(
                "code {number} is {}, which cannot carry item {item} (expected {})",
                k.1[0],
                k.2.join(" or ")
            ));
        }
    }
    None
}

/// Lower-case ASCII, no spaces, full-width and micro signs folded; MDC unit reference
/// IDs kept as written in lower case.
pub fn normalize_unit(unit: &str) -> String {
    unit.trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '％' => '%',
            '／' => '/',
            'µ' | 'μ' => 'u',
            '⁰' => '0',
            '³' => '3',
            '⁹' => '9',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => c,
        })
        .collect()
}

const PERCENT: &[&str] = &["%", "262688", "mdc_dim_percent", "percent", "pct"];
const DIMENSIONLESS: &[&str] = &["1", "262656", "mdc_dim_dimless", "fraction", "ratio"];

/// Unit aliases to a canonical UCUM unit: (aliases, canonical, factor, offset).
const GENERIC: &[(&[&str], &str, f64, f64)] = &[
    (
        &["mmhg", "mm[hg]", "torr", "266016", "mdc_dim_mmhg"],
        ucum::MMHG,
        1.0,
        0.0,
    ),
    (
        &["kpa", "265987", "mdc_dim_kilo_pascal"],
        ucum::MMHG,
        7.50062,
        0.0,
    ),
    (
        &["cmh2o", "cm[h2o]", "266048", "mdc_dim_cm_h2o"],
        ucum::MMHG,
        0.73556,
        0.0,
    ),
    (
        &["cel", "℃", "°c", "degc", "c", "268192", "mdc_dim_degc"],
        ucum::CELSIUS,
        1.0,
        0.0,
    ),
    (
        &["°f", "℉", "degf", "[degf]", "f", "266560", "mdc_dim_fahr"],
        ucum::CELSIUS,
        5.0 / 9.0,
        -160.0 / 9.0,
    ),
    (
        &["k", "kelvin", "266528", "mdc_dim_kelvin"],
        ucum::CELSIUS,
        1.0,
        -273.15,
    ),
    (
        &[
            "/min",
            "1/min",
            "min-1",
            "{beats}/min",
            "{breaths}/min",
            "bpm",
            "beats/min",
            "breaths/min",
            "rpm",
            "brpm",
            "264864",
            "mdc_dim_beat_per_min",
            "264928",
            "mdc_dim_resp_per_min",
            "回/分",
            "拍/分",
        ],
        ucum::PER_MIN,
        1.0,
        0.0,
    ),
    (PERCENT, ucum::PERCENT, 1.0, 0.0),
    (
        &["l/l", "1", "262656", "mdc_dim_dimless", "fraction"],
        ucum::PERCENT,
        100.0,
        0.0,
    ),
    (DIMENSIONLESS, ucum::ONE, 1.0, 0.0),
    (
        &["ml/24h", "ml/(24.h)", "ml/d", "ml/day", "ml"],
        ucum::ML_PER_DAY,
        1.0,
        0.0,
    ),
    (
        &["l/24h", "l/(24.h)", "l/d", "l/day"],
        ucum::ML_PER_DAY,
        1000.0,
        0.0,
    ),
    (&["[ph]", "ph"], ucum::PH, 1.0, 0.0),
    (&["mg/dl", "mg/100ml"], ucum::MG_DL, 1.0, 0.0),
    (&["mmol/l", "meq/l", "mm"], ucum::MMOL_L, 1.0, 0.0),
    (
        &[
            "10*3/ul",
            "10^3/ul",
            "x10^3/ul",
            "×10^3/ul",
            "×103/ul",
            "10*9/l",
            "10^9/l",
            "x10^9/l",
            "×10^9/l",
            "/nl",
            "k/ul",
            "10³/ul",
        ],
        ucum::THOUSANDS_PER_UL,
        1.0,
        0.0,
    ),
    (
        &["/ul", "/mm3", "/mm^3", "/cumm"],
        ucum::THOUSANDS_PER_UL,
        0.001,
        0.0,
    ),
    (
        &["10*4/ul", "10^4/ul", "x10^4/ul", "×10^4/ul", "万/ul"],
        ucum::THOUSANDS_PER_UL,
        10.0,
        0.0,
    ),
    (
        &["ug/kg/min", "mcg/kg/min", "γ", "gamma"],
        ucum::UG_KG_MIN,
        1.0,
        0.0,
    ),
];

/// Conversions that only make sense for one item: (item, aliases, factor).
const ITEM_SPECIFIC: &[(&str, &[&str], f64)] = &[
    ("fio2", PERCENT, 0.01),
    ("creatinine", &["umol/l"], 1.0 / 88.4),
    ("bilirubin", &["umol/l"], 1.0 / 17.1),
    // BUN reported as urea in mmol/L: urea mmol/L = BUN mg/dL × 0.357.
    ("bun", &["mmol/l"], 1.0 / 0.357),
];

/// The built-in conversion of a (normalised) unit to an item's canonical unit.
fn builtin_conversion(item: &ItemDef, unit: &str) -> Option<Conversion> {
    if unit.is_empty() {
        return Some(Conversion::IDENTITY);
    }
    if let Some((_, _, f)) = ITEM_SPECIFIC
        .iter()
        .find(|(code, aliases, _)| *code == item.code && aliases.contains(&unit))
    {
        return Some(Conversion {
            factor: *f,
            offset: 0.0,
        });
    }
    if let Some((_, _, factor, offset)) = GENERIC
        .iter()
        .find(|(aliases, to, _, _)| *to == item.unit.ucum && aliases.contains(&unit))
    {
        return Some(Conversion {
            factor: *factor,
            offset: *offset,
        });
    }
    // The item's own unit, however written.
    if unit == normalize_unit(&item.unit.ucum) || unit == normalize_unit(&item.unit.display) {
        return Some(Conversion::IDENTITY);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(map: &CodeMap, source: SourceKind, code: &str, unit: &str, v: f64) -> Option<f64> {
        let cat = Catalogue::builtin();
        let e = map.lookup(&source, code)?;
        let item = cat.get(&e.item)?;
        map.conversion(e, item, unit).map(|c| c.apply(v))
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    #[test]
    fn every_default_entry_resolves_to_a_catalogue_item() {
        let cat = Catalogue::builtin();
        let map = CodeMap::defaults();
        let entries = map.entries();
        assert_eq!(entries.len(), 55);
        for (source, code, e) in entries {
            let item = cat
                .get(&e.item)
                .unwrap_or_else(|| panic!("{source} {code} → {}", e.item));
            // The canonical unit always converts to itself.
            assert_eq!(
                map.conversion(e, item, &item.unit.ucum),
                Some(Conversion::IDENTITY)
            );
            if *source == SourceKind::Mdc {
                let n: u32 = code.parse().unwrap();
                assert_eq!(mdc_reference_id(n), e.label.as_deref(), "{code}");
            }
        }
        // The reference's codes are all there.
        for (code, item) in [
            ("147842", "hr"),
            ("150456", "spo2"),
            ("149530", "pr"),
            ("150033", "sbp"),
            ("150039", "map"),
            ("150021", "sbp"),
            ("150023", "map"),
            ("150087", "cvp"),
            ("151562", "rr"),
            ("150344", "temp"),
            ("150368", "temp"),
        ] {
            assert_eq!(map.lookup(&SourceKind::Mdc, code).unwrap().item, item);
        }
        assert_eq!(
            map.lookup(&SourceKind::NihonKohden, "007000").unwrap().item,
            "spo2"
        );
        assert_eq!(
            map.lookup(&SourceKind::NihonKohden, "009001").unwrap().item,
            "dbp"
        );
        assert!(map.lookup(&SourceKind::Mdc, "150017").is_none());
    }

    #[test]
    fn philips_partition_term() {
        assert_eq!(mdil_to_mdc("0002-4182"), Some(147_842));
        assert_eq!(mdil_to_mdc("0002-4BB8"), Some(150_456));
        assert_eq!(mdil_to_mdc("2-4182"), None);
        assert_eq!(mdil_to_mdc("0002-41G2"), None);
        let map = CodeMap::defaults();
        assert_eq!(
            map.lookup(&SourceKind::Mdc, "0002-4182").unwrap().item,
            "hr"
        );
        assert_eq!(
            map.lookup(&SourceKind::Mdc, "0002-4bb8").unwrap().item,
            "spo2"
        );
        let site = CodeMap::from_csv("mdil,0002-5012,rr,,,", &Catalogue::builtin()).unwrap();
        assert_eq!(site.lookup(&SourceKind::Mdc, "151570").unwrap().item, "rr");
    }

    #[test]
    fn unit_conversions() {
        let map = CodeMap::defaults();
        let mdc = || SourceKind::Mdc;
        assert!(close(convert(&map, mdc(), "150344", "°F", 98.6), 37.0));
        assert!(close(
            convert(&map, mdc(), "150344", "266560", 212.0),
            100.0
        ));
        assert!(close(convert(&map, mdc(), "150344", "degC", 36.6), 36.6));
        assert!(close(convert(&map, mdc(), "150344", "℃", 36.6), 36.6));
        assert!(close(convert(&map, mdc(), "150344", "268192", 36.6), 36.6));
        assert!(close(
            convert(&map, mdc(), "150033", "kPa", 16.0),
            120.00992
        ));
        assert!(close(
            convert(&map, mdc(), "150033", "266016", 120.0),
            120.0
        ));
        assert!(close(convert(&map, mdc(), "150087", "cmH2O", 10.0), 7.3556));
        assert!(close(convert(&map, mdc(), "152196", "%", 40.0), 0.4));
        assert!(close(convert(&map, mdc(), "152196", "262688", 100.0), 1.0));
        assert!(close(convert(&map, mdc(), "152196", "", 0.4), 0.4));
        assert!(close(convert(&map, mdc(), "150456", "％", 97.0), 97.0));
        assert!(close(convert(&map, mdc(), "147842", "bpm", 72.0), 72.0));
        assert!(close(convert(&map, mdc(), "147842", "264864", 72.0), 72.0));
        assert!(close(convert(&map, mdc(), "151562", "264928", 18.0), 18.0));
        assert!(close(convert(&map, mdc(), "151562", "回/分", 18.0), 18.0));
        // A unit that does not fit the item is not guessed.
        assert_eq!(convert(&map, mdc(), "147842", "mmHg", 72.0), None);
        assert_eq!(convert(&map, mdc(), "150456", "kPa", 97.0), None);
        // Labs (catalogue items that a site table maps).
        let cat = Catalogue::builtin();
        let labs = CodeMap::from_csv(
            "LAB,CRE,creatinine,,,\nLAB,PLT,plt,,,\nLAB,PO2,pao2,,,\nLAB,BIL,bilirubin,,,",
            &cat,
        )
        .unwrap();
        let lab = || SourceKind::from_name("lab");
        assert!(close(convert(&labs, lab(), "CRE", "µmol/L", 176.8), 2.0));
        assert!(close(convert(&labs, lab(), "CRE", "mg/dL", 2.0), 2.0));
        assert!(close(convert(&labs, lab(), "PLT", "10^4/µL", 15.0), 150.0));
        assert!(close(convert(&labs, lab(), "PO2", "kPa", 10.0), 75.0062));
        assert!(close(convert(&labs, lab(), "BIL", "umol/L", 34.2), 2.0));
    }

    #[test]
    fn site_table_overrides_and_adds() {
        let cat = Catalogue::builtin();
        let csv = "source,code,item,unit,factor,offset,label\n\
                   # this gateway sends Fahrenheit as 'F1'\n\
                   nk,008000,temp,F1,0.5555555556,-17.7777777778,TEMP T1\n\
                   nk,001000,pr,,,\n\
                   99ACME,T1,temp_rectal,,,\n";
        let map = CodeMap::defaults().with_csv(csv, &cat).unwrap();
        assert!(close(
            convert(&map, SourceKind::NihonKohden, "008000", "F1", 98.6),
            37.0
        ));
        assert!(close(
            convert(&map, SourceKind::NihonKohden, "008000", "℃", 37.0),
            37.0
        ));
        assert_eq!(
            map.lookup(&SourceKind::NihonKohden, "001000").unwrap().item,
            "pr"
        );
        assert_eq!(
            map.lookup(&SourceKind::from_name("99acme"), "T1")
                .unwrap()
                .item,
            "temp_rectal"
        );
        // Defaults stay where not overridden.
        assert_eq!(
            map.lookup(&SourceKind::NihonKohden, "007000").unwrap().item,
            "spo2"
        );
        // Export and reload gives the same table.
        let again = CodeMap::from_csv(&map.to_csv(), &cat).unwrap();
        assert_eq!(again.entries().len(), map.entries().len());
        assert!(close(
            convert(&again, SourceKind::NihonKohden, "008000", "F1", 98.6),
            37.0
        ));
    }

    #[test]
    fn validation_reports_every_problem_with_its_line() {
        let cat = Catalogue::builtin();
        let csv = "\
source,code,item,unit,factor,offset,label
mdc,150017,sbp,,,,MDC_PRESS_BLD_NONINV_SYS
mdc,150033,sbp,,,,NIBP systolic
mdc,150456,hr,,,
nk,007000,spo2,,,
nk,007000,spo2,,,
nk,007001,heart,,,
nk,007002,hr,bananas,,
nk,007003,hr,bpm,x,
mdc,abc,hr,,,
nk,007004,hr
mdc,151562,rr,,,,MDC_TEMP
mdc,999999,rr,,,,MDC_RESP_RATE
nk,007000,pr,,,
";
        let problems = CodeMap::from_csv(csv, &cat).unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(
            lines,
            [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14],
            "{problems:#?}"
        );
        let text = |line: usize| {
            problems
                .iter()
                .find(|p| p.line == line)
                .map(|p| p.to_string())
                .unwrap()
        };
        assert!(text(2).contains("150017 is MDC_PRESS_BLD_SYS, not MDC_PRESS_BLD_NONINV_SYS (MDC_PRESS_BLD_NONINV_SYS is 150021)"), "{}", text(2));
        assert!(text(3).contains("says non-invasive"), "{}", text(3));
        assert!(text(4).contains("cannot carry item hr"), "{}", text(4));
        assert!(text(6).contains("duplicate"), "{}", text(6));
        assert!(text(7).contains("unknown item \"heart\""), "{}", text(7));
        assert!(text(8).contains("no built-in conversion"), "{}", text(8));
        assert!(text(9).contains("factor \"x\""), "{}", text(9));
        assert!(text(10).contains("not an MDC code"), "{}", text(10));
        assert!(text(11).contains("expected 6 or 7 columns"), "{}", text(11));
        assert!(
            text(12).contains("151562 is MDC_RESP_RATE, not MDC_TEMP"),
            "{}",
            text(12)
        );
        assert!(
            text(13).contains("label MDC_RESP_RATE is code 151562"),
            "{}",
            text(13)
        );
        assert!(
            text(14).contains("already mapped to spo2 on line 5"),
            "{}",
            text(14)
        );
        // The correct NIBP mapping passes.
        assert!(CodeMap::from_csv("mdc,150021,sbp,,,,MDC_PRESS_BLD_NONINV_SYS", &cat).is_ok());
        // Philips' newer name for 147842 is a synonym, not a contradiction.
        assert!(CodeMap::from_csv("mdc,147842,hr,,,,MDC_ECG_CARD_BEAT_RATE", &cat).is_ok());
        // Generic systolic is allowed when not mislabelled.
        assert!(CodeMap::from_csv("mdc,150017,sbp,,,,MDC_PRESS_BLD_SYS", &cat).is_ok());
    }

    #[test]
    fn the_default_table_is_itself_valid_csv() {
        let cat = Catalogue::builtin();
        assert!(CodeMap::from_csv(DEFAULT_TABLE, &cat).is_ok());
        assert!(CodeMap::empty().entries().is_empty());
        assert!(CodeMap::defaults().has_source(&SourceKind::NihonKohden));
        assert!(!CodeMap::defaults().has_source(&SourceKind::from_name("99ACME")));
    }
}
