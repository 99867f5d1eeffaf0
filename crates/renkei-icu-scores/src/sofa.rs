//! SOFA (Vincent et al., Intensive Care Med 1996;22:707) — the original
//! score, not SOFA-2 (2025) — as tabulated in `tele-icu.md` § "SOFA".
//! Daily. Bilirubin and creatinine in mg/dL (convert µmol/L with
//! [`crate::units`]); vasoactive doses in µg/kg/min (Japanese "γ"), given
//! for at least 1 h.
//!
//! Organs scored from two criteria (respiratory: PaO2/FiO2 and support;
//! cardiovascular: MAP and drugs; renal: creatinine and urine output) are
//! reported missing when an unknown criterion could still raise the points.

use serde::{Deserialize, Serialize};

use crate::common::{
    gcs_valid, max_of, min_of, pf_ratio, single, worst_index, BloodGas, Component, ComponentScore,
    Measured, ScoreKind, ScoreSheet, NOTE_GCS_RANGE, NOTE_NOT_FINITE,
};

/// Band tables of the reference ("<x" thresholds; ranges half-open).
pub mod bands {
    /// PaO2/FiO2, mmHg: <400 1; <300 2; <200 3 and <100 4 only with
    /// respiratory support, otherwise capped at 2.
    pub fn respiratory(pf: f64, respiratory_support: bool) -> u8 {
        let points = match pf {
            v if v >= 400.0 => 0,
            v if v >= 300.0 => 1,
            v if v >= 200.0 => 2,
            v if v >= 100.0 => 3,
            _ => 4,
        };
        if respiratory_support {
            points
        } else {
            points.min(2)
        }
    }

    /// Platelets, ×10³/µL: <150 1; <100 2; <50 3; <20 4.
    pub fn platelets(p: f64) -> u8 {
        match p {
            v if v >= 150.0 => 0,
            v if v >= 100.0 => 1,
            v if v >= 50.0 => 2,
            v if v >= 20.0 => 3,
            _ => 4,
        }
    }

    /// Bilirubin, mg/dL: 1.2–1.9 1; 2.0–5.9 2; 6.0–11.9 3; ≥12 4.
    pub fn bilirubin_mg_dl(b: f64) -> u8 {
        match b {
            v if v >= 12.0 => 4,
            v if v >= 6.0 => 3,
            v if v >= 2.0 => 2,
            v if v >= 1.2 => 1,
            _ => 0,
        }
    }

    /// MAP, mmHg: <70 1.
    pub fn mean_arterial_pressure(map: f64) -> u8 {
        u8::from(map < 70.0)
    }

    /// Vasoactive drugs, µg/kg/min (0 = not given): dopamine ≤5 or any
    /// dobutamine 2; dopamine >5, epinephrine ≤0.1 or norepinephrine ≤0.1
    /// 3; dopamine >15, epinephrine >0.1 or norepinephrine >0.1 4.
    pub fn vasoactive(dopamine: f64, dobutamine: f64, epinephrine: f64, norepinephrine: f64) -> u8 {
        if dopamine > 15.0 || epinephrine > 0.1 || norepinephrine > 0.1 {
            4
        } else if dopamine > 5.0 || epinephrine > 0.0 || norepinephrine > 0.0 {
            3
        } else if dopamine > 0.0 || dobutamine > 0.0 {
            2
        } else {
            0
        }
    }

    /// GCS: 13–14 1; 10–12 2; 6–9 3; <6 4.
    pub fn gcs(g: f64) -> u8 {
        match g {
            v if v >= 15.0 => 0,
            v if v >= 13.0 => 1,
            v if v >= 10.0 => 2,
            v if v >= 6.0 => 3,
            _ => 4,
        }
    }

    /// Creatinine, mg/dL: 1.2–1.9 1; 2.0–3.4 2; 3.5–4.9 3; ≥5.0 4.
    pub fn creatinine_mg_dl(c: f64) -> u8 {
        match c {
            v if v >= 5.0 => 4,
            v if v >= 3.5 => 3,
            v if v >= 2.0 => 2,
            v if v >= 1.2 => 1,
            _ => 0,
        }
    }

    /// Urine output, mL/day: <500 3; <200 4.
    pub fn urine_output_ml_day(u: f64) -> u8 {
        match u {
            v if v < 200.0 => 4,
            v if v < 500.0 => 3,
            _ => 0,
        }
    }
}

/// The highest SOFA organ score.
const MAX_POINTS: u8 = 4;

/// Vasoactive drug doses, µg/kg/min, each given for at least 1 h. A `None`
/// drug means not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Vasopressors {
    pub dopamine: Option<Measured>,
    pub dobutamine: Option<Measured>,
    pub epinephrine: Option<Measured>,
    pub norepinephrine: Option<Measured>,
}

impl Vasopressors {
    /// Points from the drugs alone, or `None` if a dose is not finite.
    fn points(&self) -> Option<u8> {
        let dose = |m: Option<Measured>| match m {
            None => Some(0.0),
            Some(m) if m.value.is_finite() => Some(m.value),
            Some(_) => None,
        };
        Some(bands::vasoactive(
            dose(self.dopamine)?,
            dose(self.dobutamine)?,
            dose(self.epinephrine)?,
            dose(self.norepinephrine)?,
        ))
    }

    fn sources(&self, mut s: ComponentScore) -> ComponentScore {
        let drugs = [
            ("dopamine", self.dopamine),
            ("dobutamine", self.dobutamine),
            ("epinephrine", self.epinephrine),
            ("norepinephrine", self.norepinephrine),
        ];
        for (name, m) in drugs {
            if let Some(m) = m {
                s = s.with_source(name, m);
            }
        }
        s
    }
}

/// Values for one SOFA calculation (one day).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SofaInput {
    /// PaO2, mmHg.
    pub pao2_mmhg: Option<Measured>,
    /// FiO2 as a fraction (0.21–1.0), of the same blood gas.
    pub fio2: Option<Measured>,
    /// Mechanical ventilation or other respiratory support. Needed only when
    /// PaO2/FiO2 < 200.
    pub respiratory_support: Option<bool>,
    /// Platelets, ×10³/µL.
    pub platelets: Option<Measured>,
    /// Bilirubin, mg/dL.
    pub bilirubin_mg_dl: Option<Measured>,
    /// Mean arterial pressure, mmHg.
    pub mean_arterial_pressure: Option<Measured>,
    /// Vasoactive drugs; `Some(Vasopressors::default())` = none given,
    /// `None` = unknown.
    pub vasopressors: Option<Vasopressors>,
    /// GCS, 3–15.
    pub gcs: Option<Measured>,
    /// Creatinine, mg/dL.
    pub creatinine_mg_dl: Option<Measured>,
    /// Urine output, mL/day.
    pub urine_output_ml_day: Option<Measured>,
}

fn respiratory(input: &SofaInput) -> ComponentScore {
    let c = Component::Respiratory;
    let (Some(pao2), Some(fio2)) = (input.pao2_mmhg, input.fio2) else {
        return ComponentScore::missing(c, "PaO2 and FiO2 needed");
    };
    let pf = match pf_ratio(pao2, fio2) {
        Err(note) => return ComponentScore::missing(c, note),
        Ok(pf) => pf,
    };
    let base = ComponentScore::scored(c, 0)
        .with_value(pf)
        .with_source("pao2_mmhg", pao2)
        .with_source("fio2", fio2);
    let points = match input.respiratory_support {
        Some(support) => Some(bands::respiratory(pf, support)),
        // Support changes the points only below 200.
        None if pf >= 200.0 => Some(bands::respiratory(pf, false)),
        None => None,
    };
    ComponentScore {
        points,
        note: points
            .is_none()
            .then_some("PaO2/FiO2 < 200: respiratory support status needed"),
        ..base
    }
}

fn cardiovascular(input: &SofaInput) -> ComponentScore {
    let c = Component::Cardiovascular;
    let Some(drugs) = input.vasopressors else {
        return ComponentScore::missing(c, "vasoactive drug status unknown");
    };
    let Some(drug_points) = drugs.points() else {
        return ComponentScore::missing(c, NOTE_NOT_FINITE);
    };
    let mut s = drugs.sources(ComponentScore::scored(c, drug_points));
    match input.mean_arterial_pressure {
        Some(map) if map.value.is_finite() => {
            s.points = Some(drug_points.max(bands::mean_arterial_pressure(map.value)));
            s.with_source("mean_arterial_pressure", map)
        }
        // MAP can add at most 1 point, which drugs (≥ 2) already exceed.
        _ if drug_points >= 2 => s,
        _ => ComponentScore {
            points: None,
            note: Some("MAP needed"),
            ..s
        },
    }
}

fn renal(input: &SofaInput) -> ComponentScore {
    let c = Component::Renal;
    let cr = input
        .creatinine_mg_dl
        .filter(|m| m.value.is_finite())
        .map(|m| (m, bands::creatinine_mg_dl(m.value)));
    let uo = input
        .urine_output_ml_day
        .filter(|m| m.value.is_finite())
        .map(|m| (m, bands::urine_output_ml_day(m.value)));
    let mut s = ComponentScore::missing(c, "creatinine and urine output needed");
    if let Some((m, _)) = cr {
        s = s.with_source("creatinine_mg_dl", m);
    }
    if let Some((m, _)) = uo {
        s = s.with_source("urine_output_ml_day", m);
    }
    // The organ takes the higher of the two criteria; with one unknown the
    // points are known only if the other is already at the maximum.
    let (points, note) = match (cr, uo) {
        (Some((_, a)), Some((_, b))) => (Some(a.max(b)), None),
        (Some((_, p)), None) if p == MAX_POINTS => (Some(p), None),
        (None, Some((_, p))) if p == MAX_POINTS => (Some(p), None),
        (Some(_), None) => (None, Some("urine output needed")),
        (None, Some(_)) => (None, Some("creatinine needed")),
        (None, None) => return s,
    };
    ComponentScore { points, note, ..s }
}

/// Computes SOFA for one day.
pub fn score(input: &SofaInput) -> ScoreSheet {
    let gcs = match input.gcs {
        Some(g) if !gcs_valid(g.value) => {
            ComponentScore::missing(Component::Neurologic, NOTE_GCS_RANGE)
        }
        g => single(Component::Neurologic, "gcs", g, bands::gcs),
    };
    let components = vec![
        respiratory(input),
        single(
            Component::Haematologic,
            "platelets",
            input.platelets,
            bands::platelets,
        ),
        single(
            Component::Hepatic,
            "bilirubin_mg_dl",
            input.bilirubin_mg_dl,
            bands::bilirubin_mg_dl,
        ),
        cardiovascular(input),
        gcs,
        renal(input),
    ];
    ScoreSheet::from_components(ScoreKind::Sofa, components)
}

/// Vasoactive doses over the day, µg/kg/min.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VasopressorSeries {
    pub dopamine: Vec<Measured>,
    pub dobutamine: Vec<Measured>,
    pub epinephrine: Vec<Measured>,
    pub norepinephrine: Vec<Measured>,
}

/// One day's observations. Units as in [`SofaInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SofaSeries {
    pub blood_gases: Vec<BloodGas>,
    /// Respiratory support at any time during the day.
    pub respiratory_support: Option<bool>,
    pub platelets: Vec<Measured>,
    pub bilirubin_mg_dl: Vec<Measured>,
    pub mean_arterial_pressure: Vec<Measured>,
    /// `Some` (possibly empty) when drug administration is known.
    pub vasopressors: Option<VasopressorSeries>,
    pub gcs: Vec<Measured>,
    pub creatinine_mg_dl: Vec<Measured>,
    /// Usually one daily total.
    pub urine_output_ml_day: Vec<Measured>,
}

impl SofaSeries {
    /// Worst value of each variable over the day: every SOFA row is
    /// one-sided, so the minimum (P/F, platelets, MAP, GCS, urine) or the
    /// maximum (bilirubin, creatinine, doses).
    pub fn worst(&self) -> SofaInput {
        let support = self.respiratory_support;
        let gas = worst_index(&self.blood_gases, |g| {
            pf_ratio(g.measured(g.pao2_mmhg), g.measured(g.fio2))
                .ok()
                .map(|pf| bands::respiratory(pf, support.unwrap_or(true)))
        })
        .map(|i| self.blood_gases[i]);
        SofaInput {
            pao2_mmhg: gas.map(|g| g.measured(g.pao2_mmhg)),
            fio2: gas.map(|g| g.measured(g.fio2)),
            respiratory_support: support,
            platelets: min_of(&self.platelets),
            bilirubin_mg_dl: max_of(&self.bilirubin_mg_dl),
            mean_arterial_pressure: min_of(&self.mean_arterial_pressure),
            vasopressors: self.vasopressors.as_ref().map(|v| Vasopressors {
                dopamine: max_of(&v.dopamine),
                dobutamine: max_of(&v.dobutamine),
                epinephrine: max_of(&v.epinephrine),
                norepinephrine: max_of(&v.norepinephrine),
            }),
            gcs: min_of(self.gcs.iter().filter(|g| gcs_valid(g.value))),
            creatinine_mg_dl: max_of(&self.creatinine_mg_dl),
            urine_output_ml_day: min_of(&self.urine_output_ml_day),
        }
    }
}

/// Worst-of-day SOFA from a series.
pub fn score_worst(series: &SofaSeries) -> ScoreSheet {
    score(&series.worst())
}
