//! MODS, Multiple Organ Dysfunction Score (Marshall et al., Crit Care Med
//! 1995;23:1638), as tabulated in `tele-icu.md` § "MODS". Daily; scored
//! natively in SI units (creatinine and bilirubin µmol/L — convert mg/dL
//! with [`crate::units`]).

use serde::{Deserialize, Serialize};

use crate::common::{
    gcs_valid, max_of, min_of, pf_ratio, single, worst_index, BloodGas, Component, ComponentScore,
    Measured, ScoreKind, ScoreSheet, NOTE_GCS_RANGE, NOTE_NOT_FINITE,
};

/// Band tables of the reference. A published lower bound is inclusive up to
/// the next band; where the reference writes ">x" for the top band, x itself
/// belongs to the band below (PaO2/FiO2 300 scores 1, 300.5 scores 0), and
/// values between "≤x" and the next integer bound stay in the "≤x" band
/// (creatinine 100.5 scores 0).
pub mod bands {
    /// PaO2/FiO2, mmHg: >300 0; 226–300 1; 151–225 2; 76–150 3; ≤75 4.
    pub fn pao2_fio2(pf: f64) -> u8 {
        match pf {
            v if v > 300.0 => 0,
            v if v >= 226.0 => 1,
            v if v >= 151.0 => 2,
            v if v >= 76.0 => 3,
            _ => 4,
        }
    }

    /// Creatinine, µmol/L: ≤100 0; 101–200 1; 201–350 2; 351–500 3; >500 4.
    pub fn creatinine_umol_l(c: f64) -> u8 {
        match c {
            v if v > 500.0 => 4,
            v if v >= 351.0 => 3,
            v if v >= 201.0 => 2,
            v if v >= 101.0 => 1,
            _ => 0,
        }
    }

    /// Bilirubin, µmol/L: ≤20 0; 21–60 1; 61–120 2; 121–240 3; >240 4.
    pub fn bilirubin_umol_l(b: f64) -> u8 {
        match b {
            v if v > 240.0 => 4,
            v if v >= 121.0 => 3,
            v if v >= 61.0 => 2,
            v if v >= 21.0 => 1,
            _ => 0,
        }
    }

    /// Pressure-adjusted heart rate (HR × CVP / MAP): ≤10.0 0; 10.1–15.0 1;
    /// 15.1–20.0 2; 20.1–30.0 3; >30.0 4.
    pub fn pressure_adjusted_heart_rate(par: f64) -> u8 {
        match par {
            v if v > 30.0 => 4,
            v if v >= 20.1 => 3,
            v if v >= 15.1 => 2,
            v if v >= 10.1 => 1,
            _ => 0,
        }
    }

    /// Platelets, ×10³/µL: >120 0; 81–120 1; 51–80 2; 21–50 3; ≤20 4.
    pub fn platelets(p: f64) -> u8 {
        match p {
            v if v > 120.0 => 0,
            v if v >= 81.0 => 1,
            v if v >= 51.0 => 2,
            v if v >= 21.0 => 3,
            _ => 4,
        }
    }

    /// GCS: 15 0; 13–14 1; 10–12 2; 7–9 3; ≤6 4.
    pub fn gcs(g: f64) -> u8 {
        match g {
            v if v >= 15.0 => 0,
            v if v >= 13.0 => 1,
            v if v >= 10.0 => 2,
            v if v >= 7.0 => 3,
            _ => 4,
        }
    }
}

/// Pressure-adjusted heart rate = HR × CVP / MAP (None unless MAP > 0 and
/// all values are finite).
pub fn pressure_adjusted_heart_rate(hr: f64, cvp_mmhg: f64, map_mmhg: f64) -> Option<f64> {
    let par = hr * cvp_mmhg / map_mmhg;
    (map_mmhg > 0.0 && par.is_finite()).then_some(par)
}

/// Values for one MODS calculation (one day).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModsInput {
    /// PaO2, mmHg.
    pub pao2_mmhg: Option<Measured>,
    /// FiO2 as a fraction (0.21–1.0), of the same blood gas.
    pub fio2: Option<Measured>,
    /// Creatinine, µmol/L.
    pub creatinine_umol_l: Option<Measured>,
    /// Bilirubin, µmol/L.
    pub bilirubin_umol_l: Option<Measured>,
    /// Heart rate, /min (measured with the CVP and MAP below).
    pub heart_rate: Option<Measured>,
    /// Central venous pressure, mmHg.
    pub cvp_mmhg: Option<Measured>,
    /// Mean arterial pressure, mmHg.
    pub mean_arterial_pressure: Option<Measured>,
    /// Platelets, ×10³/µL.
    pub platelets: Option<Measured>,
    /// GCS, 3–15.
    pub gcs: Option<Measured>,
}

fn respiratory(input: &ModsInput) -> ComponentScore {
    let c = Component::Respiratory;
    let (Some(pao2), Some(fio2)) = (input.pao2_mmhg, input.fio2) else {
        return ComponentScore::missing(c, "PaO2 and FiO2 needed");
    };
    match pf_ratio(pao2, fio2) {
        Err(note) => ComponentScore::missing(c, note),
        Ok(pf) => ComponentScore::scored(c, bands::pao2_fio2(pf))
            .with_value(pf)
            .with_source("pao2_mmhg", pao2)
            .with_source("fio2", fio2),
    }
}

fn cardiovascular(input: &ModsInput) -> ComponentScore {
    let c = Component::Cardiovascular;
    let (Some(hr), Some(cvp), Some(map)) = (
        input.heart_rate,
        input.cvp_mmhg,
        input.mean_arterial_pressure,
    ) else {
        return ComponentScore::missing(c, "heart rate, CVP and MAP needed");
    };
    match pressure_adjusted_heart_rate(hr.value, cvp.value, map.value) {
        None => ComponentScore::missing(c, NOTE_NOT_FINITE),
        Some(par) => ComponentScore::scored(c, bands::pressure_adjusted_heart_rate(par))
            .with_value(par)
            .with_source("heart_rate", hr)
            .with_source("cvp_mmhg", cvp)
            .with_source("mean_arterial_pressure", map),
    }
}

/// Computes MODS for one day.
pub fn score(input: &ModsInput) -> ScoreSheet {
    let gcs = match input.gcs {
        Some(g) if !gcs_valid(g.value) => {
            ComponentScore::missing(Component::Neurologic, NOTE_GCS_RANGE)
        }
        g => single(Component::Neurologic, "gcs", g, bands::gcs),
    };
    let components = vec![
        respiratory(input),
        single(
            Component::Renal,
            "creatinine_umol_l",
            input.creatinine_umol_l,
            bands::creatinine_umol_l,
        ),
        single(
            Component::Hepatic,
            "bilirubin_umol_l",
            input.bilirubin_umol_l,
            bands::bilirubin_umol_l,
        ),
        cardiovascular(input),
        single(
            Component::Haematologic,
            "platelets",
            input.platelets,
            bands::platelets,
        ),
        gcs,
    ];
    ScoreSheet::from_components(ScoreKind::Mods, components)
}

/// Heart rate, CVP and MAP measured together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HemodynamicSample {
    pub heart_rate: f64,
    pub cvp_mmhg: f64,
    pub mean_arterial_pressure: f64,
    /// Unix epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// One day's observations. Units as in [`ModsInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModsSeries {
    pub blood_gases: Vec<BloodGas>,
    pub creatinine_umol_l: Vec<Measured>,
    pub bilirubin_umol_l: Vec<Measured>,
    pub hemodynamics: Vec<HemodynamicSample>,
    pub platelets: Vec<Measured>,
    pub gcs: Vec<Measured>,
}

impl ModsSeries {
    /// Worst value of each system over the day (all MODS rows are
    /// one-sided, so the worst is the minimum or the maximum).
    pub fn worst(&self) -> ModsInput {
        let gas = worst_index(&self.blood_gases, |g| {
            pf_ratio(g.measured(g.pao2_mmhg), g.measured(g.fio2))
                .ok()
                .map(bands::pao2_fio2)
        })
        .map(|i| self.blood_gases[i]);
        let hd = worst_index(&self.hemodynamics, |h| {
            pressure_adjusted_heart_rate(h.heart_rate, h.cvp_mmhg, h.mean_arterial_pressure)
                .map(bands::pressure_adjusted_heart_rate)
        })
        .map(|i| self.hemodynamics[i]);
        let hd_m = |f: fn(&HemodynamicSample) -> f64| {
            hd.map(|h| Measured {
                value: f(&h),
                at: h.at,
                basis: None,
            })
        };
        ModsInput {
            pao2_mmhg: gas.map(|g| g.measured(g.pao2_mmhg)),
            fio2: gas.map(|g| g.measured(g.fio2)),
            creatinine_umol_l: max_of(&self.creatinine_umol_l),
            bilirubin_umol_l: max_of(&self.bilirubin_umol_l),
            heart_rate: hd_m(|h| h.heart_rate),
            cvp_mmhg: hd_m(|h| h.cvp_mmhg),
            mean_arterial_pressure: hd_m(|h| h.mean_arterial_pressure),
            platelets: min_of(&self.platelets),
            gcs: min_of(self.gcs.iter().filter(|g| gcs_valid(g.value))),
        }
    }
}

/// Worst-of-day MODS from a series.
pub fn score_worst(series: &ModsSeries) -> ScoreSheet {
    score(&series.worst())
}
