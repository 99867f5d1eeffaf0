//! The severity-score calculator: one set of input rules shared by the JSON API
//! (`POST /api/v1/scores/{score}`, docs/openapi.yaml) and the calculator page
//! (`/icu/calculator`). The scores themselves are computed by `renkei-icu-scores`
//! exactly as the reference tabulates them; this module only names the inputs, checks that
//! each value is physically possible, converts units and shapes the answer.
//!
//! Every input field carries its unit in its name (`creatinine_mg_dl`, `creatinine_umol_l`,
//! `fio2` as a fraction or `fio2_pct`). A quantity may be given in one unit only. Where the
//! reference tabulates a row in both units (APACHE II creatinine, SAPS II BUN/urea and
//! bilirubin) the library scores either natively; otherwise the value is converted with
//! `renkei_icu_scores::units` and the conversion is reported in `conversions`.
//!
//! No patient is involved: nothing is stored and nothing is audited.

use crate::session::Viewer;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use renkei_icu_scores::{
    apache_ii, mods, news2, saps_ii, sofa, units, Component, Measured, ScoreSheet, ValueBasis,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// Largest accepted request body for the score API (a full APACHE II request with times and
/// bases is under 3 KiB).
pub const MAX_SCORE_BODY_BYTES: usize = 16 * 1024;

/// The scores the calculator knows, by their URL slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    ApacheIi,
    SapsIi,
    News2,
    Mods,
    Sofa,
}

impl Score {
    pub const ALL: [Score; 5] = [
        Score::ApacheIi,
        Score::SapsIi,
        Score::News2,
        Score::Mods,
        Score::Sofa,
    ];

    pub fn from_slug(s: &str) -> Option<Score> {
        Score::ALL.into_iter().find(|k| k.slug() == s)
    }

    pub fn slug(self) -> &'static str {
        match self {
            Score::ApacheIi => "apache-ii",
            Score::SapsIi => "saps-ii",
            Score::News2 => "news2",
            Score::Mods => "mods",
            Score::Sofa => "sofa",
        }
    }

    /// The inputs of this score, in the order the page shows them.
    pub fn params(self) -> &'static [Param] {
        match self {
            Score::ApacheIi => APACHE_II,
            Score::SapsIi => SAPS_II,
            Score::News2 => NEWS2,
            Score::Mods => MODS,
            Score::Sofa => SOFA,
        }
    }

    fn unit(self, field: &str) -> Option<(&'static Param, &'static Unit)> {
        self.params().iter().find_map(|p| match &p.kind {
            Kind::Number(units) => units.iter().find(|u| u.field == field).map(|u| (p, u)),
            _ => None,
        })
    }
}

/// One way of giving a numeric quantity: the field name (unit included) and the range of
/// physically possible values, inclusive.
#[derive(Debug)]
pub struct Unit {
    pub field: &'static str,
    /// Unit as shown, language-neutral (`mg/dL`, `µmol/L`, `%`).
    pub label: &'static str,
    pub min: f64,
    pub max: f64,
    /// Whole numbers only (GCS).
    pub integer: bool,
}

#[derive(Debug)]
pub enum Kind {
    /// A number in one of several units (the first is the page's default).
    Number(&'static [Unit]),
    /// Yes/no; the field name.
    Flag(&'static str),
    /// One of a list of codes; the field name and the codes.
    Choice(&'static str, &'static [&'static str]),
}

/// One input of a score. `key` names the UI text (`icu.param.{key}`) and, for numbers, the
/// form fields (`{key}` for the value, `{key}_unit` for the chosen unit's field).
#[derive(Debug)]
pub struct Param {
    pub key: &'static str,
    pub kind: Kind,
}

const fn unit(field: &'static str, label: &'static str, min: f64, max: f64) -> Unit {
    Unit {
        field,
        label,
        min,
        max,
        integer: false,
    }
}

const fn num(key: &'static str, units: &'static [Unit]) -> Param {
    Param {
        key,
        kind: Kind::Number(units),
    }
}

const fn flag(key: &'static str) -> Param {
    Param {
        key,
        kind: Kind::Flag(key),
    }
}

const fn choice(key: &'static str, options: &'static [&'static str]) -> Param {
    Param {
        key,
        kind: Kind::Choice(key, options),
    }
}

const TEMPERATURE: Param = num("temperature", &[unit("temperature_c", "°C", 10.0, 47.0)]);
const MAP: Param = num(
    "mean_arterial_pressure",
    &[unit("mean_arterial_pressure", "mmHg", 0.0, 300.0)],
);
const HEART_RATE: Param = num("heart_rate", &[unit("heart_rate", "/min", 0.0, 350.0)]);
const RESPIRATORY_RATE: Param = num(
    "respiratory_rate",
    &[unit("respiratory_rate", "/min", 0.0, 150.0)],
);
const FIO2: Param = num(
    "fio2",
    &[
        unit("fio2_pct", "%", 21.0, 100.0),
        unit("fio2", "", 0.21, 1.0),
    ],
);
const PAO2: Param = num(
    "pao2",
    &[
        unit("pao2_mmhg", "mmHg", 0.0, 800.0),
        unit("pao2_kpa", "kPa", 0.0, 107.0),
    ],
);
const PACO2: Param = num(
    "paco2",
    &[
        unit("paco2_mmhg", "mmHg", 0.0, 250.0),
        unit("paco2_kpa", "kPa", 0.0, 33.0),
    ],
);
const SODIUM: Param = num("sodium", &[unit("sodium", "mmol/L", 80.0, 220.0)]);
const POTASSIUM: Param = num("potassium", &[unit("potassium", "mmol/L", 0.5, 15.0)]);
const CREATININE: Param = num(
    "creatinine",
    &[
        unit("creatinine_mg_dl", "mg/dL", 0.0, 40.0),
        unit("creatinine_umol_l", "µmol/L", 0.0, 3600.0),
    ],
);
const BILIRUBIN: Param = num(
    "bilirubin",
    &[
        unit("bilirubin_mg_dl", "mg/dL", 0.0, 80.0),
        unit("bilirubin_umol_l", "µmol/L", 0.0, 1400.0),
    ],
);
const WBC: Param = num("wbc", &[unit("wbc", "×10³/mm³", 0.0, 1000.0)]);
const PLATELETS: Param = num("platelets", &[unit("platelets", "×10³/µL", 0.0, 5000.0)]);
const GCS: Param = num(
    "gcs",
    &[Unit {
        field: "gcs",
        label: "",
        min: 3.0,
        max: 15.0,
        integer: true,
    }],
);
const AGE: Param = num("age", &[unit("age_years", "years", 0.0, 130.0)]);
const SYSTOLIC_BP: Param = num("systolic_bp", &[unit("systolic_bp", "mmHg", 0.0, 350.0)]);
const URINE_SAPS: Param = num(
    "urine_output",
    &[
        unit("urine_output_l_24h", "L/24 h", 0.0, 30.0),
        unit("urine_output_ml_day", "mL/24 h", 0.0, 30000.0),
    ],
);
const URINE_SOFA: Param = num(
    "urine_output",
    &[
        unit("urine_output_ml_day", "mL/24 h", 0.0, 30000.0),
        unit("urine_output_l_24h", "L/24 h", 0.0, 30.0),
    ],
);

static APACHE_II: &[Param] = &[
    TEMPERATURE,
    MAP,
    HEART_RATE,
    RESPIRATORY_RATE,
    FIO2,
    PAO2,
    PACO2,
    num("arterial_ph", &[unit("arterial_ph", "", 6.5, 8.0)]),
    num("venous_hco3", &[unit("venous_hco3", "mmol/L", 0.0, 100.0)]),
    SODIUM,
    POTASSIUM,
    CREATININE,
    flag("acute_renal_failure"),
    num("haematocrit", &[unit("haematocrit_pct", "%", 0.0, 100.0)]),
    WBC,
    GCS,
    AGE,
    choice(
        "chronic_health",
        &[
            "absent",
            "non_operative",
            "emergency_postoperative",
            "elective_postoperative",
        ],
    ),
    num(
        "barometric_pressure",
        &[unit("barometric_pressure_mmhg", "mmHg", 300.0, 800.0)],
    ),
];

static SAPS_II: &[Param] = &[
    AGE,
    HEART_RATE,
    SYSTOLIC_BP,
    TEMPERATURE,
    flag("ventilated_or_cpap"),
    PAO2,
    FIO2,
    URINE_SAPS,
    num(
        "urea",
        &[
            unit("bun_mg_dl", "mg/dL (BUN)", 0.0, 400.0),
            unit("urea_mmol_l", "mmol/L (urea)", 0.0, 150.0),
        ],
    ),
    WBC,
    POTASSIUM,
    SODIUM,
    num("bicarbonate", &[unit("bicarbonate", "mmol/L", 0.0, 100.0)]),
    BILIRUBIN,
    GCS,
    choice(
        "chronic_disease",
        &[
            "absent",
            "metastatic_cancer",
            "haematologic_malignancy",
            "aids",
        ],
    ),
    choice(
        "admission_type",
        &["scheduled_surgical", "medical", "unscheduled_surgical"],
    ),
];

static NEWS2: &[Param] = &[
    RESPIRATORY_RATE,
    num("spo2", &[unit("spo2_pct", "%", 0.0, 100.0)]),
    choice("spo2_scale", &["scale1", "scale2"]),
    flag("on_oxygen"),
    SYSTOLIC_BP,
    num("pulse", &[unit("pulse", "/min", 0.0, 350.0)]),
    choice(
        "consciousness",
        &["alert", "new_confusion", "voice", "pain", "unresponsive"],
    ),
    TEMPERATURE,
];

static MODS: &[Param] = &[
    PAO2,
    FIO2,
    CREATININE,
    BILIRUBIN,
    HEART_RATE,
    num("cvp", &[unit("cvp_mmhg", "mmHg", -20.0, 60.0)]),
    MAP,
    PLATELETS,
    GCS,
];

static SOFA: &[Param] = &[
    PAO2,
    FIO2,
    flag("respiratory_support"),
    PLATELETS,
    BILIRUBIN,
    MAP,
    choice("vasoactive_drugs", &["none", "given"]),
    num(
        "dopamine",
        &[unit("dopamine_ug_kg_min", "µg/kg/min", 0.0, 100.0)],
    ),
    num(
        "dobutamine",
        &[unit("dobutamine_ug_kg_min", "µg/kg/min", 0.0, 100.0)],
    ),
    num(
        "epinephrine",
        &[unit("epinephrine_ug_kg_min", "µg/kg/min", 0.0, 10.0)],
    ),
    num(
        "norepinephrine",
        &[unit("norepinephrine_ug_kg_min", "µg/kg/min", 0.0, 10.0)],
    ),
    GCS,
    CREATININE,
    URINE_SOFA,
];

const DRUGS: [&str; 4] = [
    "dopamine_ug_kg_min",
    "dobutamine_ug_kg_min",
    "epinephrine_ug_kg_min",
    "norepinephrine_ug_kg_min",
];

/// One checked input value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    Num(Measured),
    Flag(bool),
    Choice(&'static str),
}

/// Checked inputs of one score, by field name.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub score: Score,
    vals: Vec<(&'static str, Val)>,
}

impl Inputs {
    fn get(&self, field: &str) -> Option<Val> {
        self.vals.iter().find(|(f, _)| *f == field).map(|(_, v)| *v)
    }

    fn num(&self, field: &str) -> Option<Measured> {
        match self.get(field) {
            Some(Val::Num(m)) => Some(m),
            _ => None,
        }
    }

    fn flag(&self, field: &str) -> Option<bool> {
        match self.get(field) {
            Some(Val::Flag(b)) => Some(b),
            _ => None,
        }
    }

    fn choice(&self, field: &str) -> Option<&'static str> {
        match self.get(field) {
            Some(Val::Choice(c)) => Some(c),
            _ => None,
        }
    }
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// Not an input of this score.
    Unknown,
    /// Not a number (or, in JSON, the wrong type).
    NotANumber,
    NotABoolean,
    NotInteger,
    OutOfRange {
        min: f64,
        max: f64,
        unit: &'static str,
    },
    NotOneOf(&'static [&'static str]),
    /// The same quantity in two units; names the other field.
    TwoUnits(&'static str),
    /// `at` must be Unix epoch milliseconds.
    BadTime,
    BadBasis,
    /// Vasoactive drugs "none" together with a dose above 0.
    DrugsNoneButDose,
    /// Vasoactive drugs "given" without any dose.
    DrugsGivenNoDose,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

impl FieldError {
    fn new(field: impl Into<String>, problem: Problem) -> Self {
        FieldError {
            field: field.into(),
            problem,
        }
    }

    /// The English message of the API.
    pub fn message(&self) -> String {
        let f = &self.field;
        match &self.problem {
            Problem::Unknown => format!("{f}: not an input of this score"),
            Problem::NotANumber => format!("{f}: must be a number"),
            Problem::NotABoolean => format!("{f}: must be true or false"),
            Problem::NotInteger => format!("{f}: must be a whole number"),
            Problem::OutOfRange { min, max, unit } => {
                format!("{f}: must be from {min} to {max}{}", unit_suffix(unit))
            }
            Problem::NotOneOf(options) => format!("{f}: must be one of {}", options.join(", ")),
            Problem::TwoUnits(other) => {
                format!("{f}: the same quantity is also given as {other}; give one unit only")
            }
            Problem::BadTime => format!("{f}.at: must be Unix epoch milliseconds (an integer)"),
            Problem::BadBasis => format!(
                "{f}.basis: must be one of filtered_monitor, nurse_validated, laboratory, manual, raw_monitor"
            ),
            Problem::DrugsNoneButDose => {
                format!("{f}: \"none\" but a vasoactive drug dose above 0 is given")
            }
            Problem::DrugsGivenNoDose => {
                format!("{f}: \"given\" needs the dose of at least one drug")
            }
        }
    }
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

fn check_number(u: &Unit, v: f64) -> Result<f64, Problem> {
    if !v.is_finite() {
        return Err(Problem::NotANumber);
    }
    if u.integer && v.fract() != 0.0 {
        return Err(Problem::NotInteger);
    }
    if v < u.min || v > u.max {
        return Err(Problem::OutOfRange {
            min: u.min,
            max: u.max,
            unit: u.label,
        });
    }
    Ok(v)
}

/// Which of the score's inputs a field name is.
enum Slot {
    Number(&'static Unit),
    Flag(&'static str),
    Choice(&'static str, &'static [&'static str]),
}

fn slot(score: Score, field: &str) -> Option<Slot> {
    score.params().iter().find_map(|p| match &p.kind {
        Kind::Number(units) => units.iter().find(|u| u.field == field).map(Slot::Number),
        Kind::Flag(f) if *f == field => Some(Slot::Flag(f)),
        Kind::Choice(f, options) if *f == field => Some(Slot::Choice(f, options)),
        _ => None,
    })
}

fn parse_basis(v: &Value) -> Option<ValueBasis> {
    serde_json::from_value(v.clone()).ok()
}

/// Checks a JSON request body (an object of field → value). A number may be given bare or
/// as `{"value": n, "at": epoch_ms, "basis": "..."}`. The first problem found is reported.
pub fn from_json(score: Score, body: &Map<String, Value>) -> Result<Inputs, FieldError> {
    let mut vals = Vec::new();
    for (name, value) in body {
        let Some(slot) = slot(score, name) else {
            return Err(FieldError::new(name, Problem::Unknown));
        };
        if value.is_null() {
            continue;
        }
        let err = |p| FieldError::new(name, p);
        let val = match slot {
            Slot::Number(u) => {
                let (raw, at, basis) = match value {
                    Value::Number(n) => (n.as_f64(), None, None),
                    Value::Object(o) => {
                        if let Some(k) = o
                            .keys()
                            .find(|k| !matches!(k.as_str(), "value" | "at" | "basis"))
                        {
                            return Err(FieldError::new(format!("{name}.{k}"), Problem::Unknown));
                        }
                        let at = match o.get("at") {
                            None | Some(Value::Null) => None,
                            Some(a) => Some(a.as_i64().ok_or_else(|| err(Problem::BadTime))?),
                        };
                        let basis = match o.get("basis") {
                            None | Some(Value::Null) => None,
                            Some(b) => Some(parse_basis(b).ok_or_else(|| err(Problem::BadBasis))?),
                        };
                        (o.get("value").and_then(Value::as_f64), at, basis)
                    }
                    _ => (None, None, None),
                };
                let v = raw.ok_or_else(|| err(Problem::NotANumber))?;
                let v = check_number(u, v).map_err(err)?;
                Val::Num(Measured {
                    value: v,
                    at,
                    basis,
                })
            }
            Slot::Flag(_) => Val::Flag(value.as_bool().ok_or_else(|| err(Problem::NotABoolean))?),
            Slot::Choice(_, options) => {
                let s = value.as_str().unwrap_or("");
                let code = options
                    .iter()
                    .find(|o| **o == s)
                    .ok_or_else(|| err(Problem::NotOneOf(options)))?;
                Val::Choice(code)
            }
        };
        let field = match slot_field(score, name) {
            Some(f) => f,
            None => return Err(FieldError::new(name, Problem::Unknown)),
        };
        vals.push((field, val));
    }
    let inputs = Inputs { score, vals };
    cross_check(&inputs).map_err(|mut e| e.remove(0))?;
    Ok(inputs)
}

/// The `'static` spelling of a field name of the score.
fn slot_field(score: Score, name: &str) -> Option<&'static str> {
    match slot(score, name)? {
        Slot::Number(u) => Some(u.field),
        Slot::Flag(f) | Slot::Choice(f, _) => Some(f),
    }
}

/// A number typed into the page: full-width digits, point and minus (as a Japanese IME
/// may produce) are read as ASCII.
pub fn parse_typed_number(s: &str) -> Option<f64> {
    let ascii: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '．' => '.',
            '－' | '−' | 'ー' => '-',
            '＋' => '+',
            c => c,
        })
        .collect();
    if ascii.is_empty() || ascii.contains(|c: char| c.is_alphabetic()) {
        return None;
    }
    ascii.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// What the page's form said, per parameter: the typed text and the chosen unit.
#[derive(Debug, Clone, Default)]
pub struct FormValues(pub Vec<(String, String)>);

impl FormValues {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// The field a number parameter's form value goes to: the chosen unit, or the first.
pub fn chosen_unit(p: &'static Param, form: &FormValues) -> Option<&'static Unit> {
    let Kind::Number(units) = &p.kind else {
        return None;
    };
    let chosen = form.get(&format!("{}_unit", p.key));
    units
        .iter()
        .find(|u| u.field == chosen)
        .or_else(|| units.first())
}

/// Checks the page's form; every problem is reported, keyed by the parameter's form name.
pub fn from_form(score: Score, form: &FormValues) -> Result<Inputs, Vec<FieldError>> {
    let mut vals = Vec::new();
    let mut errors = Vec::new();
    for p in score.params() {
        let text = form.get(p.key).trim();
        if text.is_empty() {
            continue;
        }
        let val = match &p.kind {
            Kind::Number(_) => {
                let Some(u) = chosen_unit(p, form) else {
                    continue;
                };
                match parse_typed_number(text)
                    .ok_or(Problem::NotANumber)
                    .and_then(|v| check_number(u, v))
                {
                    Ok(v) => Some((u.field, Val::Num(Measured::new(v)))),
                    Err(problem) => {
                        errors.push(FieldError::new(p.key, problem));
                        None
                    }
                }
            }
            Kind::Flag(f) => match text {
                "yes" => Some((*f, Val::Flag(true))),
                "no" => Some((*f, Val::Flag(false))),
                _ => {
                    errors.push(FieldError::new(p.key, Problem::NotABoolean));
                    None
                }
            },
            Kind::Choice(f, options) => match options.iter().find(|o| **o == text) {
                Some(code) => Some((*f, Val::Choice(code))),
                None => {
                    errors.push(FieldError::new(p.key, Problem::NotOneOf(options)));
                    None
                }
            },
        };
        vals.extend(val);
    }
    let inputs = Inputs { score, vals };
    if let Err(e) = cross_check(&inputs) {
        errors.extend(e.into_iter().map(|mut e| {
            // Report against the parameter, which is what the form shows.
            if let Some((p, _)) = score.unit(&e.field) {
                e.field = p.key.to_string();
            }
            e
        }));
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(errors)
    }
}

/// Rules across fields: one unit per quantity; the vasoactive-drug answer agrees with the
/// doses.
fn cross_check(inputs: &Inputs) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for p in inputs.score.params() {
        if let Kind::Number(units) = &p.kind {
            let given: Vec<_> = units
                .iter()
                .filter(|u| inputs.get(u.field).is_some())
                .collect();
            if let [first, second, ..] = given.as_slice() {
                errors.push(FieldError::new(
                    second.field,
                    Problem::TwoUnits(first.field),
                ));
            }
        }
    }
    if inputs.score == Score::Sofa {
        let doses: Vec<f64> = DRUGS
            .iter()
            .filter_map(|d| inputs.num(d))
            .map(|m| m.value)
            .collect();
        match inputs.choice("vasoactive_drugs") {
            Some("none") if doses.iter().any(|d| *d > 0.0) => errors.push(FieldError::new(
                "vasoactive_drugs",
                Problem::DrugsNoneButDose,
            )),
            Some("given") if doses.is_empty() => errors.push(FieldError::new(
                "vasoactive_drugs",
                Problem::DrugsGivenNoDose,
            )),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A unit conversion applied before scoring.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    pub from_field: &'static str,
    pub from_value: f64,
    pub to_field: &'static str,
    pub to_value: f64,
}

struct Builder<'a> {
    inputs: &'a Inputs,
    conversions: Vec<Conversion>,
}

impl Builder<'_> {
    fn num(&self, field: &str) -> Option<Measured> {
        self.inputs.num(field)
    }

    /// `target` as given, or converted from the field `from`.
    fn conv(
        &mut self,
        target: &'static str,
        from: &'static str,
        f: fn(f64) -> f64,
    ) -> Option<Measured> {
        if let Some(m) = self.inputs.num(target) {
            return Some(m);
        }
        let m = self.inputs.num(from)?;
        let converted = Measured {
            value: tidy(f(m.value)),
            ..m
        };
        self.conversions.push(Conversion {
            from_field: from,
            from_value: m.value,
            to_field: target,
            to_value: converted.value,
        });
        Some(converted)
    }

    fn fio2(&mut self) -> Option<Measured> {
        self.conv("fio2", "fio2_pct", units::fio2_percent_to_fraction)
    }

    fn pao2(&mut self) -> Option<Measured> {
        self.conv("pao2_mmhg", "pao2_kpa", units::kpa_to_mmhg)
    }
}

/// Drops floating-point noise from a converted value, so that a value exactly on a band
/// edge in one unit stays on it in the other (309.4 µmol/L / 88.4 = 3.4999999999999996,
/// which is 3.5 mg/dL).
fn tidy(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

fn ml_to_l(ml: f64) -> f64 {
    ml / 1000.0
}

fn l_to_ml(l: f64) -> f64 {
    l * 1000.0
}

fn parse_code<T: serde::de::DeserializeOwned>(code: Option<&str>) -> Option<T> {
    code.and_then(|c| serde_json::from_value(Value::String(c.to_string())).ok())
}

/// A computed score: the library's answer and what the page needs from it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub sheet: ScoreSheet,
    /// SAPS II, when complete.
    pub predicted_mortality: Option<f64>,
    /// NEWS2: the band when complete, and the band already reached.
    pub risk: Option<news2::News2Risk>,
    pub minimum_risk: Option<news2::News2Risk>,
    /// NEWS2: some single parameter scored 3.
    pub single_parameter_3: bool,
    pub conversions: Vec<Conversion>,
    /// The API's answer.
    pub json: Value,
}

/// Computes the score from checked inputs.
pub fn compute(inputs: &Inputs) -> Outcome {
    let mut b = Builder {
        inputs,
        conversions: Vec::new(),
    };
    let (sheet, mut json, predicted_mortality, risk, minimum_risk) = match inputs.score {
        Score::ApacheIi => {
            let input = apache_ii::ApacheIiInput {
                temperature_c: b.num("temperature_c"),
                mean_arterial_pressure: b.num("mean_arterial_pressure"),
                heart_rate: b.num("heart_rate"),
                respiratory_rate: b.num("respiratory_rate"),
                fio2: b.fio2(),
                pao2_mmhg: b.pao2(),
                paco2_mmhg: b.conv("paco2_mmhg", "paco2_kpa", units::kpa_to_mmhg),
                arterial_ph: b.num("arterial_ph"),
                venous_hco3: b.num("venous_hco3"),
                sodium: b.num("sodium"),
                potassium: b.num("potassium"),
                // The reference tabulates both units: scored natively, not converted.
                creatinine_mg_dl: b.num("creatinine_mg_dl"),
                creatinine_umol_l: b.num("creatinine_umol_l"),
                haematocrit_pct: b.num("haematocrit_pct"),
                wbc: b.num("wbc"),
                gcs: b.num("gcs"),
                age_years: b.num("age_years").map(|m| m.value),
                chronic_health: parse_code(inputs.choice("chronic_health")),
                acute_renal_failure: inputs.flag("acute_renal_failure"),
                barometric_pressure_mmhg: b.num("barometric_pressure_mmhg").map(|m| m.value),
            };
            let sheet = apache_ii::score(&input);
            (sheet.clone(), to_json(&sheet), None, None, None)
        }
        Score::SapsIi => {
            let input = saps_ii::SapsIiInput {
                age_years: b.num("age_years").map(|m| m.value),
                heart_rate: b.num("heart_rate"),
                systolic_bp: b.num("systolic_bp"),
                temperature_c: b.num("temperature_c"),
                ventilated_or_cpap: inputs.flag("ventilated_or_cpap"),
                pao2_mmhg: b.pao2(),
                fio2: b.fio2(),
                urine_output_l_24h: b.conv("urine_output_l_24h", "urine_output_ml_day", ml_to_l),
                bun_mg_dl: b.num("bun_mg_dl"),
                urea_mmol_l: b.num("urea_mmol_l"),
                wbc: b.num("wbc"),
                potassium: b.num("potassium"),
                sodium: b.num("sodium"),
                bicarbonate: b.num("bicarbonate"),
                bilirubin_mg_dl: b.num("bilirubin_mg_dl"),
                bilirubin_umol_l: b.num("bilirubin_umol_l"),
                gcs: b.num("gcs"),
                chronic_disease: parse_code(inputs.choice("chronic_disease")),
                admission_type: parse_code(inputs.choice("admission_type")),
            };
            let r = saps_ii::score(&input);
            (
                r.sheet.clone(),
                to_json(&r),
                r.predicted_mortality,
                None,
                None,
            )
        }
        Score::News2 => {
            let input = news2::News2Input {
                respiratory_rate: b.num("respiratory_rate"),
                spo2_pct: b.num("spo2_pct"),
                spo2_scale: parse_code(inputs.choice("spo2_scale")).unwrap_or_default(),
                on_oxygen: inputs.flag("on_oxygen"),
                systolic_bp: b.num("systolic_bp"),
                pulse: b.num("pulse"),
                consciousness: parse_code(inputs.choice("consciousness")),
                temperature_c: b.num("temperature_c"),
            };
            let r = news2::score(&input);
            (
                r.sheet.clone(),
                to_json(&r),
                None,
                r.risk,
                Some(r.minimum_risk),
            )
        }
        Score::Mods => {
            let input = mods::ModsInput {
                pao2_mmhg: b.pao2(),
                fio2: b.fio2(),
                creatinine_umol_l: b.conv(
                    "creatinine_umol_l",
                    "creatinine_mg_dl",
                    units::creatinine_mg_dl_to_umol_l,
                ),
                bilirubin_umol_l: b.conv(
                    "bilirubin_umol_l",
                    "bilirubin_mg_dl",
                    units::bilirubin_mg_dl_to_umol_l,
                ),
                heart_rate: b.num("heart_rate"),
                cvp_mmhg: b.num("cvp_mmhg"),
                mean_arterial_pressure: b.num("mean_arterial_pressure"),
                platelets: b.num("platelets"),
                gcs: b.num("gcs"),
            };
            let sheet = mods::score(&input);
            (sheet.clone(), to_json(&sheet), None, None, None)
        }
        Score::Sofa => {
            let doses: Vec<Option<Measured>> = DRUGS.iter().map(|d| b.num(d)).collect();
            let vasopressors = match inputs.choice("vasoactive_drugs") {
                Some("none") => Some(sofa::Vasopressors::default()),
                _ if doses.iter().any(Option::is_some) => Some(sofa::Vasopressors {
                    dopamine: doses[0],
                    dobutamine: doses[1],
                    epinephrine: doses[2],
                    norepinephrine: doses[3],
                }),
                _ => None,
            };
            let input = sofa::SofaInput {
                pao2_mmhg: b.pao2(),
                fio2: b.fio2(),
                respiratory_support: inputs.flag("respiratory_support"),
                platelets: b.num("platelets"),
                bilirubin_mg_dl: b.conv(
                    "bilirubin_mg_dl",
                    "bilirubin_umol_l",
                    units::bilirubin_umol_l_to_mg_dl,
                ),
                mean_arterial_pressure: b.num("mean_arterial_pressure"),
                vasopressors,
                gcs: b.num("gcs"),
                creatinine_mg_dl: b.conv(
                    "creatinine_mg_dl",
                    "creatinine_umol_l",
                    units::creatinine_umol_l_to_mg_dl,
                ),
                urine_output_ml_day: b.conv("urine_output_ml_day", "urine_output_l_24h", l_to_ml),
            };
            let sheet = sofa::score(&input);
            (sheet.clone(), to_json(&sheet), None, None, None)
        }
    };
    let single_parameter_3 =
        inputs.score == Score::News2 && sheet.components.iter().any(|c| c.points == Some(3));
    if let Value::Object(o) = &mut json {
        if inputs.score == Score::News2 {
            o.insert("single_parameter_3".into(), Value::Bool(single_parameter_3));
        }
        o.insert("conversions".into(), to_json(&b.conversions));
    }
    Outcome {
        sheet,
        predicted_mortality,
        risk,
        minimum_risk,
        single_parameter_3,
        conversions: b.conversions,
        json,
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    // The results hold only finite numbers (inputs are checked), strings and booleans.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The snake_case id of a component, as the API spells it.
pub fn component_id(c: Component) -> String {
    match to_json(&c) {
        Value::String(s) => s,
        _ => String::new(),
    }
}

/// The `{key}` of the parameter and unit a library source variable came from.
pub fn source_unit(score: Score, variable: &str) -> Option<(&'static Param, &'static Unit)> {
    score
        .unit(variable)
        .or_else(|| score.unit(&format!("{variable}_ug_kg_min")))
}

/// Every UI text key built at run time (for the i18n completeness test).
pub fn i18n_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for s in Score::ALL {
        keys.push(format!("icu.score.{}", s.slug()));
        for p in s.params() {
            keys.push(format!("icu.param.{}", p.key));
            if let Kind::Choice(f, options) = &p.kind {
                keys.extend(options.iter().map(|o| format!("icu.choice.{f}.{o}")));
            }
        }
    }
    for c in [
        "temperature",
        "mean_arterial_pressure",
        "heart_rate",
        "respiratory_rate",
        "oxygenation",
        "acid_base",
        "sodium",
        "potassium",
        "creatinine",
        "haematocrit",
        "white_blood_cells",
        "glasgow_coma_scale",
        "age",
        "chronic_health",
        "systolic_blood_pressure",
        "pao2_fio2",
        "urine_output",
        "urea",
        "bicarbonate",
        "bilirubin",
        "chronic_disease",
        "admission_type",
        "spo2",
        "air_or_oxygen",
        "consciousness",
        "respiratory",
        "renal",
        "hepatic",
        "cardiovascular",
        "haematologic",
        "neurologic",
    ] {
        keys.push(format!("icu.component.{c}"));
    }
    for r in ["low", "low_medium", "medium", "high"] {
        keys.push(format!("icu.risk.{r}"));
    }
    keys
}

#[derive(Serialize)]
struct ApiError {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

fn api_error(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> Response {
    (
        status,
        Json(ApiError {
            error: error.into(),
            field: field.map(str::to_string),
        }),
    )
        .into_response()
}

/// `POST /api/v1/scores/{score}` — computes a score from the values in the JSON body.
/// Signed-in sessions, like the rest of `/api/v1`. Errors: `{"error": "...", "field": "..."}`.
pub async fn api_score(
    viewer: Result<Viewer, crate::error::AppError>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if viewer.is_err() {
        return api_error(StatusCode::UNAUTHORIZED, "sign-in required", None);
    }
    let Some(score) = Score::from_slug(&slug) else {
        return api_error(
            StatusCode::NOT_FOUND,
            format!("unknown score {slug:?}: one of apache-ii, saps-ii, news2, mods, sofa"),
            Some("score"),
        );
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {MAX_SCORE_BODY_BYTES} bytes"),
                None,
            )
        }
        Err(e) => return api_error(e.status(), e.body_text(), None),
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
            None,
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("malformed JSON: {e}"),
                None,
            )
        }
    };
    let Value::Object(map) = value else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object of input values",
            None,
        );
    };
    match from_json(score, &map) {
        Ok(inputs) => (StatusCode::OK, Json(compute(&inputs).json)).into_response(),
        Err(e) => api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.message(),
            Some(&e.field),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip_and_fields_are_unique_per_score() {
        for s in Score::ALL {
            assert_eq!(Score::from_slug(s.slug()), Some(s));
            let mut seen = std::collections::HashSet::new();
            for p in s.params() {
                let fields: Vec<&str> = match &p.kind {
                    Kind::Number(units) => units.iter().map(|u| u.field).collect(),
                    Kind::Flag(f) | Kind::Choice(f, _) => vec![*f],
                };
                for f in fields {
                    assert!(seen.insert(f), "{f} twice in {}", s.slug());
                }
            }
        }
        assert_eq!(Score::from_slug("apache"), None);
    }

    #[test]
    fn typed_numbers() {
        assert_eq!(parse_typed_number("３８．５"), Some(38.5));
        assert_eq!(parse_typed_number(" 7.4 "), Some(7.4));
        assert_eq!(parse_typed_number("－5"), Some(-5.0));
        assert_eq!(parse_typed_number("abc"), None);
        assert_eq!(parse_typed_number("inf"), None);
        assert_eq!(parse_typed_number("NaN"), None);
        assert_eq!(parse_typed_number(""), None);
    }

    #[test]
    fn choice_codes_match_the_library() {
        // Every code the calculator offers deserialises into the library's enum.
        for code in [
            "absent",
            "non_operative",
            "emergency_postoperative",
            "elective_postoperative",
        ] {
            assert!(
                parse_code::<apache_ii::ChronicHealth>(Some(code)).is_some(),
                "{code}"
            );
        }
        for code in [
            "absent",
            "metastatic_cancer",
            "haematologic_malignancy",
            "aids",
        ] {
            assert!(
                parse_code::<saps_ii::ChronicDisease>(Some(code)).is_some(),
                "{code}"
            );
        }
        for code in ["scheduled_surgical", "medical", "unscheduled_surgical"] {
            assert!(
                parse_code::<saps_ii::AdmissionType>(Some(code)).is_some(),
                "{code}"
            );
        }
        for code in ["alert", "new_confusion", "voice", "pain", "unresponsive"] {
            assert!(parse_code::<news2::Acvpu>(Some(code)).is_some(), "{code}");
        }
        for code in ["scale1", "scale2"] {
            assert!(
                parse_code::<news2::SpO2Scale>(Some(code)).is_some(),
                "{code}"
            );
        }
    }
}
