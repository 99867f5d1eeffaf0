//! Types shared by every score: measured inputs, component results, the
//! score sheet, and the "worst in the window" selection.

use serde::{Deserialize, Serialize};

/// How a value was obtained. The reference asks that scores be computed from
/// artefact-filtered or nurse-validated values "and say which", so the basis
/// travels with the value into the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueBasis {
    /// Artefact-filtered monitor value (e.g. a 5-minute median).
    FilteredMonitor,
    /// Value checked by a nurse.
    NurseValidated,
    /// Laboratory result.
    Laboratory,
    /// Entered by hand (e.g. GCS, ACVPU).
    Manual,
    /// Unfiltered monitor value.
    RawMonitor,
}

/// One measured value with its time.
///
/// The unit is fixed by the field the value is put in (see each input struct).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub value: f64,
    /// Observation time, Unix epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<ValueBasis>,
}

impl Measured {
    /// A value without time or basis.
    pub const fn new(value: f64) -> Self {
        Self {
            value,
            at: None,
            basis: None,
        }
    }

    /// A value observed at `at` (Unix epoch milliseconds).
    pub const fn at(value: f64, at: i64) -> Self {
        Self {
            value,
            at: Some(at),
            basis: None,
        }
    }

    /// Sets the basis (builder style).
    pub const fn with_basis(mut self, basis: ValueBasis) -> Self {
        self.basis = Some(basis);
        self
    }
}

/// One arterial blood gas, for scores that pair PaO2 with FiO2 (and PaCO2
/// for the APACHE II A-aDO2). Used in series so the "worst" oxygenation is
/// taken from values measured together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BloodGas {
    /// Inspired oxygen fraction, 0.21–1.0 (not percent).
    pub fio2: f64,
    /// PaO2, mmHg.
    pub pao2_mmhg: f64,
    /// PaCO2, mmHg (needed only for the APACHE II A-aDO2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paco2_mmhg: Option<f64>,
    /// Sample time, Unix epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<ValueBasis>,
}

impl BloodGas {
    pub(crate) fn measured(&self, value: f64) -> Measured {
        Measured {
            value,
            at: self.at,
            basis: self.basis,
        }
    }
}

/// Which score a [`ScoreSheet`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    ApacheIi,
    SapsIi,
    News2,
    Mods,
    Sofa,
}

/// Stable identifier of a score component (serialised in snake_case).
///
/// SOFA and MODS use the organ-system ids (`respiratory`, `haematologic`
/// = SOFA "coagulation", `hepatic` = SOFA "liver", `neurologic` = SOFA
/// "central nervous system", `cardiovascular`, `renal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Temperature,
    MeanArterialPressure,
    HeartRate,
    RespiratoryRate,
    /// APACHE II: A-aDO2 when FiO2 ≥ 0.5, otherwise PaO2.
    Oxygenation,
    /// APACHE II: arterial pH, or venous HCO3 only when there is no ABG.
    AcidBase,
    Sodium,
    Potassium,
    Creatinine,
    Haematocrit,
    WhiteBloodCells,
    GlasgowComaScale,
    Age,
    /// APACHE II chronic health points.
    ChronicHealth,
    SystolicBloodPressure,
    /// SAPS II PaO2/FiO2 (only if ventilated or on CPAP).
    #[serde(rename = "pao2_fio2")]
    PaO2FiO2,
    UrineOutput,
    /// SAPS II BUN or urea.
    Urea,
    Bicarbonate,
    Bilirubin,
    /// SAPS II chronic disease.
    ChronicDisease,
    AdmissionType,
    #[serde(rename = "spo2")]
    SpO2,
    AirOrOxygen,
    Consciousness,
    Respiratory,
    Renal,
    Hepatic,
    Cardiovascular,
    Haematologic,
    Neurologic,
}

/// One input value that a component was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SourceValue {
    /// Input field name, e.g. `"heart_rate"`, `"fio2"`.
    pub variable: &'static str,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<ValueBasis>,
}

impl SourceValue {
    pub(crate) fn of(variable: &'static str, m: Measured) -> Self {
        Self {
            variable,
            value: m.value,
            at: m.at,
            basis: m.basis,
        }
    }
}

/// Result for one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentScore {
    pub component: Component,
    /// `None` when the component could not be scored (see `note`).
    pub points: Option<u8>,
    /// The value compared with the bands when it is derived or chosen
    /// (e.g. A-aDO2, PaO2/FiO2, pressure-adjusted heart rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scored_value: Option<f64>,
    /// Input values used, with their times.
    pub sources: Vec<SourceValue>,
    /// Why a component is missing, or which rule was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

impl ComponentScore {
    pub(crate) fn missing(component: Component, note: &'static str) -> Self {
        Self {
            component,
            points: None,
            scored_value: None,
            sources: Vec::new(),
            note: Some(note),
        }
    }

    pub(crate) fn scored(component: Component, points: u8) -> Self {
        Self {
            component,
            points: Some(points),
            scored_value: None,
            sources: Vec::new(),
            note: None,
        }
    }

    pub(crate) fn with_source(mut self, variable: &'static str, m: Measured) -> Self {
        self.sources.push(SourceValue::of(variable, m));
        self
    }

    pub(crate) fn with_value(mut self, v: f64) -> Self {
        self.scored_value = Some(v);
        self
    }

    pub(crate) fn with_note(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }
}

/// The score: every component, the sum of the scored ones, and what is
/// missing. A missing component is never counted as 0: `complete` is false
/// and the component is listed in `missing`, so `total` is a lower bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreSheet {
    pub score: ScoreKind,
    /// Sum of the points of the scored components.
    pub total: u32,
    /// True when every component was scored.
    pub complete: bool,
    pub missing: Vec<Component>,
    pub components: Vec<ComponentScore>,
}

impl ScoreSheet {
    pub(crate) fn from_components(score: ScoreKind, components: Vec<ComponentScore>) -> Self {
        let mut total = 0u32;
        let mut missing = Vec::new();
        for c in &components {
            match c.points {
                Some(p) => total += u32::from(p),
                None => missing.push(c.component),
            }
        }
        Self {
            score,
            total,
            complete: missing.is_empty(),
            missing,
            components,
        }
    }

    /// Points of one component, if present and scored.
    pub fn points(&self, component: Component) -> Option<u8> {
        self.components
            .iter()
            .find(|c| c.component == component)
            .and_then(|c| c.points)
    }

    /// The component result, if the score has such a component.
    pub fn component(&self, component: Component) -> Option<&ComponentScore> {
        self.components.iter().find(|c| c.component == component)
    }
}

pub(crate) const NOTE_MISSING: &str = "no value";
pub(crate) const NOTE_NOT_FINITE: &str = "value is not a finite number";
pub(crate) const NOTE_FIO2_RANGE: &str =
    "FiO2 must be a fraction in (0, 1]; convert percent with units::fio2_percent_to_fraction";

/// FiO2 is a fraction; a value above 1 is almost certainly a percent and
/// silently dividing would hide a unit error upstream.
pub(crate) fn fio2_valid(f: f64) -> bool {
    f.is_finite() && f > 0.0 && f <= 1.0
}

/// PaO2/FiO2 in mmHg from one sample, if both are usable.
pub(crate) fn pf_ratio(pao2: Measured, fio2: Measured) -> Result<f64, &'static str> {
    if !pao2.value.is_finite() {
        return Err(NOTE_NOT_FINITE);
    }
    if !fio2_valid(fio2.value) {
        return Err(NOTE_FIO2_RANGE);
    }
    Ok(pao2.value / fio2.value)
}

/// GCS must be a whole number 3–15.
pub(crate) fn gcs_valid(g: f64) -> bool {
    (3.0..=15.0).contains(&g) && g.fract() == 0.0
}
pub(crate) const NOTE_GCS_RANGE: &str = "GCS must be a whole number from 3 to 15";

/// Scores a single-variable component with a band function.
pub(crate) fn single(
    component: Component,
    variable: &'static str,
    m: Option<Measured>,
    bands: fn(f64) -> u8,
) -> ComponentScore {
    match m {
        None => ComponentScore::missing(component, NOTE_MISSING),
        Some(m) if !m.value.is_finite() => ComponentScore::missing(component, NOTE_NOT_FINITE),
        Some(m) => ComponentScore::scored(component, bands(m.value)).with_source(variable, m),
    }
}

/// Worst value of a series for a two-sided (or one-sided) band table:
/// scores the minimum and the maximum and keeps the one with more points
/// (on a tie, the minimum). Non-finite values are skipped. One pass, no
/// allocation.
///
/// Every table in the reference is monotone on each side of its normal band,
/// so the extreme values are the only candidates for the worst points.
pub fn worst_of(series: &[Measured], points: impl Fn(f64) -> u8) -> Option<Measured> {
    let mut lo: Option<Measured> = None;
    let mut hi: Option<Measured> = None;
    for m in series.iter().filter(|m| m.value.is_finite()) {
        if lo.is_none_or(|l| m.value < l.value) {
            lo = Some(*m);
        }
        if hi.is_none_or(|h| m.value > h.value) {
            hi = Some(*m);
        }
    }
    let (lo, hi) = (lo?, hi?);
    if points(hi.value) > points(lo.value) {
        Some(hi)
    } else {
        Some(lo)
    }
}

/// Worst of a series for a value that is better when high (e.g. GCS,
/// platelets): the minimum. The first occurrence wins on ties.
pub(crate) fn min_of<'a>(series: impl IntoIterator<Item = &'a Measured>) -> Option<Measured> {
    series
        .into_iter()
        .filter(|m| m.value.is_finite())
        .fold(None, |acc: Option<Measured>, m| match acc {
            Some(a) if a.value <= m.value => Some(a),
            _ => Some(*m),
        })
}

/// Worst of a series for a value that is worse when high (e.g. vasopressor
/// dose, bilirubin): the maximum. The first occurrence wins on ties.
pub(crate) fn max_of<'a>(series: impl IntoIterator<Item = &'a Measured>) -> Option<Measured> {
    series
        .into_iter()
        .filter(|m| m.value.is_finite())
        .fold(None, |acc: Option<Measured>, m| match acc {
            Some(a) if a.value >= m.value => Some(a),
            _ => Some(*m),
        })
}

/// Index of the sample with the highest points (first on ties); samples
/// that cannot be scored return `None` from `points` and are skipped.
pub(crate) fn worst_index<T>(samples: &[T], points: impl Fn(&T) -> Option<u8>) -> Option<usize> {
    let mut best: Option<(usize, u8)> = None;
    for (i, s) in samples.iter().enumerate() {
        if let Some(p) = points(s) {
            if best.is_none_or(|(_, b)| p > b) {
                best = Some((i, p));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Of two worst candidates in different units keep the one with more
/// points (the first on a tie), and drop the other.
pub(crate) fn pick_unit(
    a: Option<Measured>,
    fa: fn(f64) -> u8,
    b: Option<Measured>,
    fb: fn(f64) -> u8,
) -> (Option<Measured>, Option<Measured>) {
    match (a, b) {
        (Some(x), Some(y)) if fb(y.value) > fa(x.value) => (None, Some(y)),
        (Some(x), _) => (Some(x), None),
        (None, y) => (None, y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hr_points(hr: f64) -> u8 {
        crate::apache_ii::bands::heart_rate(hr)
    }

    #[test]
    fn worst_of_keeps_the_side_with_more_points() {
        // min 65 → 2 points, max 145 → 3 points: the maximum wins.
        let s = [
            Measured::at(90.0, 1),
            Measured::at(65.0, 2),
            Measured::at(145.0, 3),
        ];
        assert_eq!(worst_of(&s, hr_points), Some(Measured::at(145.0, 3)));
        // min 38 → 4 points, max 145 → 3 points: the minimum wins.
        let s = [Measured::at(38.0, 1), Measured::at(145.0, 3)];
        assert_eq!(worst_of(&s, hr_points), Some(Measured::at(38.0, 1)));
    }

    #[test]
    fn worst_of_tie_keeps_minimum_and_skips_nan() {
        // 60 → 2, 115 → 2: tie, the minimum is kept.
        let s = [
            Measured::at(115.0, 1),
            Measured::at(f64::NAN, 2),
            Measured::at(60.0, 3),
        ];
        assert_eq!(worst_of(&s, hr_points), Some(Measured::at(60.0, 3)));
        assert_eq!(worst_of(&[], hr_points), None);
        assert_eq!(worst_of(&[Measured::new(f64::NAN)], hr_points), None);
    }

    #[test]
    fn min_max_first_occurrence() {
        let s = [
            Measured::at(5.0, 1),
            Measured::at(3.0, 2),
            Measured::at(3.0, 3),
            Measured::at(5.0, 4),
        ];
        assert_eq!(min_of(&s), Some(Measured::at(3.0, 2)));
        assert_eq!(max_of(&s), Some(Measured::at(5.0, 1)));
        assert_eq!(min_of(&[]), None);
    }
}
