//! The catalogue of canonical Tele-ICU data items (REQUIREMENTS §3, 004 別紙2).
//!
//! Every value that reaches the centre is stored as one of these items, in the item's
//! canonical unit, whatever the monitor sent: readings are converted by
//! [`crate::codemap`] and checked against the item's plausible range. The range is
//! what is *physically possible* (SpO2 140 % cannot happen), not what is normal — a
//! value outside it is a device or transmission error and is dropped, while an
//! alarming but possible value (SpO2 40 % from a loose probe) is kept for the
//! clinicians and the artefact filters to judge.
//!
//! New items are added without code through [`Catalogue::with_extra`] (e.g. from a
//! configuration file: [`ItemDef`] deserialises from TOML/JSON).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;
use thiserror::Error;

/// The deployment's catalogue, installed once at start-up.
static SITE_CATALOGUE: OnceLock<Catalogue> = OnceLock::new();

/// Where an item's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Measured continuously by the bedside monitor, sent every minute or faster.
    Vital,
    /// A laboratory or blood-gas result, typically daily.
    Lab,
    /// Entered by hand at the bedside (scores, therapies, drug doses).
    Manual,
}

/// A unit as shown to people and as UCUM (the code FHIR and conversions use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// What a screen shows (`mmHg`, `℃`, `/min`).
    pub display: String,
    /// The UCUM code (`mm[Hg]`, `Cel`, `/min`).
    pub ucum: String,
}

/// An inclusive range of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Smallest possible value.
    pub min: f64,
    /// Largest possible value.
    pub max: f64,
}

impl Range {
    /// Whether `value` lies within the range (bounds included).
    pub fn contains(&self, value: f64) -> bool {
        value >= self.min && value <= self.max
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}–{}", self.min, self.max)
    }
}

/// One canonical data item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDef {
    /// Stable code used everywhere (`hr`, `spo2`, `creatinine`): lower-case ASCII
    /// letters, digits and `_`.
    pub code: String,
    /// Japanese label (screens are Japanese first).
    pub label_ja: String,
    /// English label.
    pub label_en: String,
    /// The unit values are stored and shown in.
    pub unit: Unit,
    /// Vital, lab or manual.
    pub kind: ItemKind,
    /// Expected time between values in seconds (60 for minute vitals, 86400 for daily
    /// labs), `None` when charted irregularly. A display marks a value stale after two
    /// intervals.
    #[serde(default)]
    pub sampling_secs: Option<u32>,
    /// Decimals shown.
    pub decimals: u8,
    /// Physically possible values, in the canonical unit.
    pub plausible: Range,
    /// Only whole numbers are meaningful (GCS, ACVPU, yes/no flags).
    #[serde(default)]
    pub integer: bool,
}

impl ItemDef {
    /// Whether a value in the canonical unit is physically possible for this item.
    pub fn is_plausible(&self, value: f64) -> bool {
        value.is_finite()
            && self.plausible.contains(value)
            && (!self.integer || value.fract() == 0.0)
    }

    /// The value rounded to the item's decimals, as text (`36.8`, `0.40`).
    pub fn format(&self, value: f64) -> String {
        format!("{:.*}", self.decimals as usize, value)
    }
}

/// Why a catalogue could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid data items: {}", .problems.join("; "))]
pub struct CatalogueError {
    /// Every problem found, one sentence each.
    pub problems: Vec<String>,
}

/// The set of items known to a deployment: the built-ins plus configured extras.
#[derive(Debug, Clone)]
pub struct Catalogue {
    items: Vec<ItemDef>,
    index: HashMap<String, usize>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue::builtin()
    }
}

impl Catalogue {
    /// The items of the Tele-ICU specification.
    pub fn builtin() -> Catalogue {
        let items = builtin_items();
        let index = items
            .iter()
            .enumerate()
            .map(|(i, d)| (d.code.clone(), i))
            .collect();
        Catalogue { items, index }
    }

    /// The catalogue in force in this process: the one installed at start-up with
    /// [`Catalogue::install_site`] (the built-ins plus the items of the setting
    /// `icu_items_file`), or the built-ins when none was installed.
    pub fn site() -> &'static Catalogue {
        SITE_CATALOGUE.get_or_init(Catalogue::builtin)
    }

    /// Makes `catalogue` the one [`Catalogue::site`] returns. Only the first call counts,
    /// and only before anything read the site catalogue; later calls hand it back.
    pub fn install_site(catalogue: Catalogue) -> Result<(), Catalogue> {
        SITE_CATALOGUE.set(catalogue)
    }

    /// The built-ins plus `extra` items (from configuration). Every problem — a code
    /// already taken, a malformed code, an empty range, a missing label or unit — is
    /// reported, not just the first.
    pub fn with_extra(extra: Vec<ItemDef>) -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue::builtin();
        let mut problems = Vec::new();
        for item in extra {
            let mut bad = Vec::new();
            if !is_valid_code(&item.code) {
                bad.push("the code must be 1–32 lower-case ASCII letters, digits or _, starting with a letter".to_string());
            }
            if catalogue.index.contains_key(&item.code) {
                bad.push("the code is already taken".to_string());
            }
            if item.label_ja.trim().is_empty() || item.label_en.trim().is_empty() {
                bad.push("both labels (label_ja, label_en) are required".to_string());
            }
            if item.unit.ucum.trim().is_empty() {
                bad.push("a UCUM unit is required (use \"1\" for a plain number)".to_string());
            }
            if !(item.plausible.min.is_finite()
                && item.plausible.max.is_finite()
                && item.plausible.min <= item.plausible.max)
            {
                bad.push(format!(
                    "the plausible range {} is empty or not finite",
                    item.plausible
                ));
            }
            if item.decimals > 6 {
                bad.push("at most 6 decimals".to_string());
            }
            if bad.is_empty() {
                catalogue
                    .index
                    .insert(item.code.clone(), catalogue.items.len());
                catalogue.items.push(item);
            } else {
                problems.extend(
                    bad.into_iter()
                        .map(|b| format!("item {:?}: {b}", item.code)),
                );
            }
        }
        if problems.is_empty() {
            Ok(catalogue)
        } else {
            Err(CatalogueError { problems })
        }
    }

    /// The item with this code.
    pub fn get(&self, code: &str) -> Option<&ItemDef> {
        self.index.get(code).map(|&i| &self.items[i])
    }

    /// All items, built-ins first, in catalogue order.
    pub fn items(&self) -> &[ItemDef] {
        &self.items
    }

    /// The items of one kind, in catalogue order.
    pub fn of_kind(&self, kind: ItemKind) -> impl Iterator<Item = &ItemDef> + '_ {
        self.items.iter().filter(move |i| i.kind == kind)
    }
}

fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Canonical UCUM codes used by the built-ins (and by the unit conversions).
pub mod ucum {
    /// Degrees Celsius.
    pub const CELSIUS: &str = "Cel";
    /// Millimetres of mercury.
    pub const MMHG: &str = "mm[Hg]";
    /// Per minute (beats, breaths).
    pub const PER_MIN: &str = "/min";
    /// Percent.
    pub const PERCENT: &str = "%";
    /// A plain number or fraction.
    pub const ONE: &str = "1";
    /// Millilitres per 24 hours.
    pub const ML_PER_DAY: &str = "mL/(24.h)";
    /// pH.
    pub const PH: &str = "[pH]";
    /// Milligrams per decilitre.
    pub const MG_DL: &str = "mg/dL";
    /// Millimoles per litre.
    pub const MMOL_L: &str = "mmol/L";
    /// Thousands per microlitre (= 10⁹/L).
    pub const THOUSANDS_PER_UL: &str = "10*3/uL";
    /// Micrograms per kilogram per minute.
    pub const UG_KG_MIN: &str = "ug/kg/min";
}

#[allow(clippy::too_many_arguments)]
fn item(
    code: &str,
    label_ja: &str,
    label_en: &str,
    display: &str,
    ucum: &str,
    kind: ItemKind,
    decimals: u8,
    min: f64,
    max: f64,
) -> ItemDef {
    ItemDef {
        code: code.into(),
        label_ja: label_ja.into(),
        label_en: label_en.into(),
        unit: Unit {
            display: display.into(),
            ucum: ucum.into(),
        },
        kind,
        sampling_secs: match kind {
            ItemKind::Vital => Some(60),
            ItemKind::Lab => Some(86_400),
            ItemKind::Manual => None,
        },
        decimals,
        plausible: Range { min, max },
        integer: false,
    }
}

fn whole(mut def: ItemDef) -> ItemDef {
    def.integer = true;
    def
}

#[rustfmt::skip]
fn builtin_items() -> Vec<ItemDef> {
    use ItemKind::*;
    // Ranges: what a living (or just deceased) patient and a working sensor can produce.
    vec![
        // Every minute.
        item("temp", "体温", "Temperature", "℃", ucum::CELSIUS, Vital, 1, 15.0, 46.0),
        item("temp_rectal", "直腸温", "Rectal temperature", "℃", ucum::CELSIUS, Vital, 1, 15.0, 46.0),
        item("sbp", "収縮期血圧", "Systolic blood pressure", "mmHg", ucum::MMHG, Vital, 0, 0.0, 350.0),
        item("dbp", "拡張期血圧", "Diastolic blood pressure", "mmHg", ucum::MMHG, Vital, 0, 0.0, 300.0),
        item("cvp", "中心静脈圧", "Central venous pressure", "mmHg", ucum::MMHG, Vital, 0, -20.0, 80.0),
        item("map", "平均血圧", "Mean arterial pressure", "mmHg", ucum::MMHG, Vital, 0, 0.0, 300.0),
        item("hr", "心拍数", "Heart rate", "/min", ucum::PER_MIN, Vital, 0, 0.0, 350.0),
        item("pr", "脈拍数", "Pulse rate", "/min", ucum::PER_MIN, Vital, 0, 0.0, 350.0),
        item("rr", "呼吸数", "Respiratory rate", "/min", ucum::PER_MIN, Vital, 0, 0.0, 150.0),
        item("spo2", "SpO2", "SpO2", "%", ucum::PERCENT, Vital, 0, 0.0, 100.0),
        item("fio2", "FiO2", "FiO2", "", ucum::ONE, Vital, 2, 0.21, 1.0),
        // Daily.
        item("urine", "尿量", "Urine output", "mL/24h", ucum::ML_PER_DAY, Lab, 0, 0.0, 20_000.0),
        item("pao2", "PaO2", "PaO2", "mmHg", ucum::MMHG, Lab, 0, 0.0, 800.0),
        item("paco2", "PaCO2", "PaCO2", "mmHg", ucum::MMHG, Lab, 0, 0.0, 250.0),
        item("ph", "動脈血pH", "Arterial pH", "", ucum::PH, Lab, 2, 6.3, 8.0),
        item("creatinine", "クレアチニン", "Creatinine", "mg/dL", ucum::MG_DL, Lab, 2, 0.0, 40.0),
        item("hct", "ヘマトクリット", "Haematocrit", "%", ucum::PERCENT, Lab, 1, 0.0, 100.0),
        item("wbc", "白血球数", "White blood cells", "×10³/µL", ucum::THOUSANDS_PER_UL, Lab, 1, 0.0, 1_000.0),
        item("plt", "血小板数", "Platelets", "×10³/µL", ucum::THOUSANDS_PER_UL, Lab, 0, 0.0, 5_000.0),
        item("bilirubin", "ビリルビン", "Bilirubin", "mg/dL", ucum::MG_DL, Lab, 1, 0.0, 100.0),
        item("bun", "BUN", "Blood urea nitrogen", "mg/dL", ucum::MG_DL, Lab, 0, 0.0, 400.0),
        item("na", "Na", "Sodium", "mmol/L", ucum::MMOL_L, Lab, 0, 80.0, 220.0),
        item("k", "K", "Potassium", "mmol/L", ucum::MMOL_L, Lab, 1, 0.5, 15.0),
        item("urea", "尿素", "Urea", "mmol/L", ucum::MMOL_L, Lab, 1, 0.0, 150.0),
        item("hco3", "HCO3", "Bicarbonate", "mmol/L", ucum::MMOL_L, Lab, 1, 0.0, 80.0),
        // By hand.
        whole(item("gcs", "GCS", "Glasgow Coma Scale", "", ucum::ONE, Manual, 0, 3.0, 15.0)),
        // 0 = A, 1 = C (new confusion), 2 = V, 3 = P, 4 = U.
        whole(item("acvpu", "ACVPU", "ACVPU", "", ucum::ONE, Manual, 0, 0.0, 4.0)),
        whole(item("o2_therapy", "酸素投与", "Oxygen therapy", "", ucum::ONE, Manual, 0, 0.0, 1.0)),
        whole(item("ventilated", "人工呼吸", "Mechanical ventilation", "", ucum::ONE, Manual, 0, 0.0, 1.0)),
        item("dopamine", "ドパミン", "Dopamine", "µg/kg/min", ucum::UG_KG_MIN, Manual, 1, 0.0, 50.0),
        item("dobutamine", "ドブタミン", "Dobutamine", "µg/kg/min", ucum::UG_KG_MIN, Manual, 1, 0.0, 50.0),
        item("epinephrine", "アドレナリン", "Epinephrine", "µg/kg/min", ucum::UG_KG_MIN, Manual, 2, 0.0, 5.0),
        item("norepinephrine", "ノルアドレナリン", "Norepinephrine", "µg/kg/min", ucum::UG_KG_MIN, Manual, 2, 0.0, 5.0),
    ]
}

/// ACVPU as stored in the `acvpu` item: 0 = Alert, 1 = new Confusion, 2 = Voice,
/// 3 = Pain, 4 = Unresponsive.
pub fn acvpu_letter(value: f64) -> Option<char> {
    if value.fract() != 0.0 || !(0.0..=4.0).contains(&value) {
        return None;
    }
    "ACVPU".chars().nth(value as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_cover_the_specification() {
        let c = Catalogue::builtin();
        for code in [
            "temp",
            "temp_rectal",
            "sbp",
            "dbp",
            "cvp",
            "map",
            "hr",
            "pr",
            "rr",
            "spo2",
            "fio2",
            "urine",
            "pao2",
            "paco2",
            "ph",
            "creatinine",
            "hct",
            "wbc",
            "plt",
            "bilirubin",
            "bun",
            "na",
            "k",
            "urea",
            "hco3",
            "gcs",
            "acvpu",
            "o2_therapy",
            "ventilated",
            "dopamine",
            "dobutamine",
            "epinephrine",
            "norepinephrine",
        ] {
            let item = c.get(code).unwrap_or_else(|| panic!("{code} missing"));
            assert!(item.plausible.min <= item.plausible.max, "{code}");
            assert!(!item.label_ja.is_empty() && !item.label_en.is_empty());
        }
        assert_eq!(c.items().len(), 33);
        assert_eq!(c.of_kind(ItemKind::Vital).count(), 11);
        assert_eq!(c.get("hr").unwrap().sampling_secs, Some(60));
        assert_eq!(c.get("gcs").unwrap().sampling_secs, None);
    }

    #[test]
    fn plausibility_is_physical_possibility() {
        let c = Catalogue::builtin();
        let spo2 = c.get("spo2").unwrap();
        assert!(
            spo2.is_plausible(40.0),
            "a loose probe is possible, not impossible"
        );
        assert!(!spo2.is_plausible(140.0));
        assert!(!spo2.is_plausible(f64::NAN));
        let fio2 = c.get("fio2").unwrap();
        assert!(fio2.is_plausible(0.21) && fio2.is_plausible(1.0));
        assert!(!fio2.is_plausible(40.0), "FiO2 is a fraction");
        let temp = c.get("temp").unwrap();
        assert!(!temp.is_plausible(98.6), "°F must be converted first");
        let gcs = c.get("gcs").unwrap();
        assert!(gcs.is_plausible(3.0) && !gcs.is_plausible(7.5) && !gcs.is_plausible(2.0));
        assert_eq!(acvpu_letter(3.0), Some('P'));
        assert_eq!(acvpu_letter(5.0), None);
        assert_eq!(fio2.format(0.4), "0.40");
    }

    #[test]
    fn extra_items_without_code() {
        let toml_like = serde_json::json!([{
            "code": "etco2", "label_ja": "呼気終末CO2", "label_en": "End-tidal CO2",
            "unit": {"display": "mmHg", "ucum": "mm[Hg]"}, "kind": "vital",
            "sampling_secs": 60, "decimals": 0, "plausible": {"min": 0, "max": 150}
        }]);
        let extra: Vec<ItemDef> = serde_json::from_value(toml_like).unwrap();
        let c = Catalogue::with_extra(extra).unwrap();
        assert_eq!(c.get("etco2").unwrap().unit.ucum, "mm[Hg]");
        assert_eq!(c.items().last().unwrap().code, "etco2");

        let mut dup = c.get("etco2").unwrap().clone();
        dup.code = "hr".into();
        let mut bad = dup.clone();
        bad.code = "Bad Code".into();
        bad.plausible = Range { min: 5.0, max: 1.0 };
        let err = Catalogue::with_extra(vec![dup, bad]).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        assert!(err
            .to_string()
            .contains("\"hr\": the code is already taken"));
    }
}
