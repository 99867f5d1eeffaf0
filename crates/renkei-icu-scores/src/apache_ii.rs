//! APACHE II (Knaus et al., Crit Care Med 1985;13:818), as tabulated in
//! `tele-icu.md` § "APACHE II". Worst values of the first 24 h.
//!
//! Predicted mortality is not computed: it needs the diagnostic-category
//! weight, which the reference does not give.

use serde::{Deserialize, Serialize};

use crate::common::{
    fio2_valid, gcs_valid, min_of, pick_unit, single, worst_index, worst_of, BloodGas, Component,
    ComponentScore, Measured, ScoreKind, ScoreSheet, NOTE_FIO2_RANGE, NOTE_GCS_RANGE, NOTE_MISSING,
    NOTE_NOT_FINITE,
};

/// Sea-level barometric pressure, mmHg (reference: "PB 760 at sea level").
pub const SEA_LEVEL_PB_MMHG: f64 = 760.0;
/// Water vapour pressure subtracted in the alveolar gas equation, mmHg.
const WATER_VAPOUR_MMHG: f64 = 47.0;
/// Respiratory quotient used in the A-aDO2 formula.
const RESPIRATORY_QUOTIENT: f64 = 0.8;
/// FiO2 at or above which the A-aDO2 row is used instead of PaO2.
const A_A_DO2_FIO2: f64 = 0.5;

/// Band tables of the reference, one function per row. Bands are half-open:
/// a published lower bound is inclusive up to the next band's lower bound.
pub mod bands {
    /// Core temperature, °C.
    pub fn temperature(t: f64) -> u8 {
        match t {
            t if t >= 41.0 => 4,
            t if t >= 39.0 => 3,
            t if t >= 38.5 => 1,
            t if t >= 36.0 => 0,
            t if t >= 34.0 => 1,
            t if t >= 32.0 => 2,
            t if t >= 30.0 => 3,
            _ => 4,
        }
    }

    /// Mean arterial pressure, mmHg.
    pub fn mean_arterial_pressure(map: f64) -> u8 {
        match map {
            v if v >= 160.0 => 4,
            v if v >= 130.0 => 3,
            v if v >= 110.0 => 2,
            v if v >= 70.0 => 0,
            v if v >= 50.0 => 2,
            _ => 4,
        }
    }

    /// Heart rate, /min.
    pub fn heart_rate(hr: f64) -> u8 {
        match hr {
            v if v >= 180.0 => 4,
            v if v >= 140.0 => 3,
            v if v >= 110.0 => 2,
            v if v >= 70.0 => 0,
            v if v >= 55.0 => 2,
            v if v >= 40.0 => 3,
            _ => 4,
        }
    }

    /// Respiratory rate, /min (ventilated or not).
    pub fn respiratory_rate(rr: f64) -> u8 {
        match rr {
            v if v >= 50.0 => 4,
            v if v >= 35.0 => 3,
            v if v >= 25.0 => 1,
            v if v >= 12.0 => 0,
            v if v >= 10.0 => 1,
            v if v >= 6.0 => 2,
            _ => 4,
        }
    }

    /// A-aDO2, mmHg (used when FiO2 ≥ 0.5).
    pub fn a_a_do2(d: f64) -> u8 {
        match d {
            v if v >= 500.0 => 4,
            v if v >= 350.0 => 3,
            v if v >= 200.0 => 2,
            _ => 0,
        }
    }

    /// PaO2, mmHg (used when FiO2 < 0.5). The reference's top band is
    /// ">70", so 70 itself scores 1 and 70.5 scores 0; below that the
    /// lower bounds are inclusive (60.5 is in 55–60).
    pub fn pao2(p: f64) -> u8 {
        match p {
            v if v > 70.0 => 0,
            v if v >= 61.0 => 1,
            v if v >= 55.0 => 3,
            _ => 4,
        }
    }

    /// Arterial pH.
    pub fn arterial_ph(ph: f64) -> u8 {
        match ph {
            v if v >= 7.7 => 4,
            v if v >= 7.6 => 3,
            v if v >= 7.5 => 1,
            v if v >= 7.33 => 0,
            v if v >= 7.25 => 2,
            v if v >= 7.15 => 3,
            _ => 4,
        }
    }

    /// Venous HCO3, mmol/L (only without ABG).
    pub fn venous_hco3(h: f64) -> u8 {
        match h {
            v if v >= 52.0 => 4,
            v if v >= 41.0 => 3,
            v if v >= 32.0 => 1,
            v if v >= 22.0 => 0,
            v if v >= 18.0 => 2,
            v if v >= 15.0 => 3,
            _ => 4,
        }
    }

    /// Serum sodium, mmol/L.
    pub fn sodium(na: f64) -> u8 {
        match na {
            v if v >= 180.0 => 4,
            v if v >= 160.0 => 3,
            v if v >= 155.0 => 2,
            v if v >= 150.0 => 1,
            v if v >= 130.0 => 0,
            v if v >= 120.0 => 2,
            v if v >= 111.0 => 3,
            _ => 4,
        }
    }

    /// Serum potassium, mmol/L.
    pub fn potassium(k: f64) -> u8 {
        match k {
            v if v >= 7.0 => 4,
            v if v >= 6.0 => 3,
            v if v >= 5.5 => 1,
            v if v >= 3.5 => 0,
            v if v >= 3.0 => 1,
            v if v >= 2.5 => 2,
            _ => 4,
        }
    }

    /// Serum creatinine, mg/dL (before doubling for acute renal failure).
    pub fn creatinine_mg_dl(c: f64) -> u8 {
        match c {
            v if v >= 3.5 => 4,
            v if v >= 2.0 => 3,
            v if v >= 1.5 => 2,
            v if v >= 0.6 => 0,
            _ => 2,
        }
    }

    /// Serum creatinine, µmol/L, from the reference's own SI row
    /// (≥309, 178–308, 133–177, 53–132, ≤52), not converted from mg/dL.
    pub fn creatinine_umol_l(c: f64) -> u8 {
        match c {
            v if v >= 309.0 => 4,
            v if v >= 178.0 => 3,
            v if v >= 133.0 => 2,
            v if v >= 53.0 => 0,
            _ => 2,
        }
    }

    /// Haematocrit, %.
    pub fn haematocrit(h: f64) -> u8 {
        match h {
            v if v >= 60.0 => 4,
            v if v >= 50.0 => 2,
            v if v >= 46.0 => 1,
            v if v >= 30.0 => 0,
            v if v >= 20.0 => 2,
            _ => 4,
        }
    }

    /// White blood cells, ×10³/mm³.
    pub fn wbc(w: f64) -> u8 {
        match w {
            v if v >= 40.0 => 4,
            v if v >= 20.0 => 2,
            v if v >= 15.0 => 1,
            v if v >= 3.0 => 0,
            v if v >= 1.0 => 2,
            _ => 4,
        }
    }

    /// Age, years: ≤44 0, 45–54 2, 55–64 3, 65–74 5, ≥75 6.
    pub fn age(years: f64) -> u8 {
        match years {
            v if v >= 75.0 => 6,
            v if v >= 65.0 => 5,
            v if v >= 55.0 => 3,
            v if v >= 45.0 => 2,
            _ => 0,
        }
    }

    /// GCS points = 15 − GCS (GCS 3–15).
    pub fn gcs(gcs: f64) -> u8 {
        (15.0 - gcs.clamp(3.0, 15.0)) as u8
    }
}

/// APACHE II chronic health evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChronicHealth {
    /// None of: cirrhosis with portal hypertension, NYHA IV, severe chronic
    /// respiratory disease, chronic dialysis, immunosuppression. 0 points.
    Absent,
    /// One of the above, non-operative admission. 5 points.
    NonOperative,
    /// One of the above, emergency post-operative admission. 5 points.
    EmergencyPostoperative,
    /// One of the above, elective post-operative admission. 2 points.
    ElectivePostoperative,
}

impl ChronicHealth {
    pub fn points(self) -> u8 {
        match self {
            Self::Absent => 0,
            Self::NonOperative | Self::EmergencyPostoperative => 5,
            Self::ElectivePostoperative => 2,
        }
    }
}

/// Values for one APACHE II calculation (normally the worst of the first
/// 24 h; build it from a series with [`ApacheIiSeries::worst`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApacheIiInput {
    /// Core temperature, °C.
    pub temperature_c: Option<Measured>,
    /// Mean arterial pressure, mmHg.
    pub mean_arterial_pressure: Option<Measured>,
    /// Heart rate, /min.
    pub heart_rate: Option<Measured>,
    /// Respiratory rate, /min.
    pub respiratory_rate: Option<Measured>,
    /// FiO2 as a fraction (0.21–1.0) of the blood gas below.
    pub fio2: Option<Measured>,
    /// PaO2, mmHg.
    pub pao2_mmhg: Option<Measured>,
    /// PaCO2, mmHg (needed for A-aDO2 when FiO2 ≥ 0.5).
    pub paco2_mmhg: Option<Measured>,
    /// Arterial pH.
    pub arterial_ph: Option<Measured>,
    /// Venous HCO3, mmol/L; used only when there is no arterial pH.
    pub venous_hco3: Option<Measured>,
    /// Serum sodium, mmol/L.
    pub sodium: Option<Measured>,
    /// Serum potassium, mmol/L.
    pub potassium: Option<Measured>,
    /// Serum creatinine, mg/dL. If both units are given, mg/dL is used.
    pub creatinine_mg_dl: Option<Measured>,
    /// Serum creatinine, µmol/L (scored with the reference's SI row).
    pub creatinine_umol_l: Option<Measured>,
    /// Haematocrit, %.
    pub haematocrit_pct: Option<Measured>,
    /// White blood cells, ×10³/mm³.
    pub wbc: Option<Measured>,
    /// Glasgow Coma Scale, 3–15.
    pub gcs: Option<Measured>,
    /// Age, years.
    pub age_years: Option<f64>,
    pub chronic_health: Option<ChronicHealth>,
    /// Acute renal failure: creatinine points are doubled. Needed only when
    /// creatinine scores above 0.
    pub acute_renal_failure: Option<bool>,
    /// Barometric pressure, mmHg, for A-aDO2; sea level (760) when `None`.
    pub barometric_pressure_mmhg: Option<f64>,
}

/// A-aDO2 = FiO2 × (PB − 47) − PaCO2/0.8 − PaO2, all mmHg, FiO2 fraction.
pub fn a_a_do2(fio2: f64, pao2_mmhg: f64, paco2_mmhg: f64, pb_mmhg: f64) -> f64 {
    fio2 * (pb_mmhg - WATER_VAPOUR_MMHG) - paco2_mmhg / RESPIRATORY_QUOTIENT - pao2_mmhg
}

/// Oxygenation points and the value scored (A-aDO2 or PaO2).
fn oxygenation(
    fio2: f64,
    pao2: f64,
    paco2: Option<f64>,
    pb: f64,
) -> Result<(u8, f64, bool), &'static str> {
    if !fio2_valid(fio2) {
        return Err(NOTE_FIO2_RANGE);
    }
    if !pao2.is_finite() {
        return Err(NOTE_NOT_FINITE);
    }
    if fio2 >= A_A_DO2_FIO2 {
        match paco2 {
            Some(c) if c.is_finite() => {
                let d = a_a_do2(fio2, pao2, c, pb);
                Ok((bands::a_a_do2(d), d, true))
            }
            _ => Err("FiO2 ≥ 0.5: PaCO2 needed for A-aDO2"),
        }
    } else {
        Ok((bands::pao2(pao2), pao2, false))
    }
}

fn oxygenation_component(input: &ApacheIiInput) -> ComponentScore {
    let c = Component::Oxygenation;
    let (Some(fio2), Some(pao2)) = (input.fio2, input.pao2_mmhg) else {
        return ComponentScore::missing(c, "FiO2 and PaO2 needed");
    };
    let pb = input.barometric_pressure_mmhg.unwrap_or(SEA_LEVEL_PB_MMHG);
    match oxygenation(
        fio2.value,
        pao2.value,
        input.paco2_mmhg.map(|m| m.value),
        pb,
    ) {
        Err(note) => ComponentScore::missing(c, note),
        Ok((points, value, used_a_a_do2)) => {
            let mut s = ComponentScore::scored(c, points)
                .with_value(value)
                .with_source("fio2", fio2)
                .with_source("pao2_mmhg", pao2);
            if used_a_a_do2 {
                // PaCO2 is known to be present when A-aDO2 was computed.
                if let Some(paco2) = input.paco2_mmhg {
                    s = s.with_source("paco2_mmhg", paco2);
                }
                s.with_note("A-aDO2 (FiO2 ≥ 0.5)")
            } else {
                s.with_note("PaO2 (FiO2 < 0.5)")
            }
        }
    }
}

fn acid_base_component(input: &ApacheIiInput) -> ComponentScore {
    let c = Component::AcidBase;
    match (input.arterial_ph, input.venous_hco3) {
        (Some(ph), _) => single(c, "arterial_ph", Some(ph), bands::arterial_ph),
        (None, Some(hco3)) => single(c, "venous_hco3", Some(hco3), bands::venous_hco3)
            .with_note("venous HCO3: no arterial pH"),
        (None, None) => ComponentScore::missing(c, "arterial pH or venous HCO3 needed"),
    }
}

fn creatinine_component(input: &ApacheIiInput) -> ComponentScore {
    let c = Component::Creatinine;
    let base = match (input.creatinine_mg_dl, input.creatinine_umol_l) {
        (Some(m), _) => single(c, "creatinine_mg_dl", Some(m), bands::creatinine_mg_dl),
        (None, Some(m)) => single(c, "creatinine_umol_l", Some(m), bands::creatinine_umol_l),
        (None, None) => return ComponentScore::missing(c, NOTE_MISSING),
    };
    match (base.points, input.acute_renal_failure) {
        (None, _) | (Some(0), _) | (Some(_), Some(false)) => base,
        (Some(p), Some(true)) => ComponentScore {
            points: Some(p * 2),
            note: Some("doubled: acute renal failure"),
            ..base
        },
        // The points depend on a fact we were not given: report, don't guess.
        (Some(_), None) => ComponentScore {
            points: None,
            note: Some("acute renal failure unknown (points are doubled if present)"),
            ..base
        },
    }
}

fn gcs_component(gcs: Option<Measured>) -> ComponentScore {
    let c = Component::GlasgowComaScale;
    match gcs {
        None => ComponentScore::missing(c, NOTE_MISSING),
        Some(g) if !gcs_valid(g.value) => ComponentScore::missing(c, NOTE_GCS_RANGE),
        Some(g) => ComponentScore::scored(c, bands::gcs(g.value)).with_source("gcs", g),
    }
}

/// Computes APACHE II from one set of (worst) values.
pub fn score(input: &ApacheIiInput) -> ScoreSheet {
    let age = Component::Age;
    let components = vec![
        single(
            Component::Temperature,
            "temperature_c",
            input.temperature_c,
            bands::temperature,
        ),
        single(
            Component::MeanArterialPressure,
            "mean_arterial_pressure",
            input.mean_arterial_pressure,
            bands::mean_arterial_pressure,
        ),
        single(
            Component::HeartRate,
            "heart_rate",
            input.heart_rate,
            bands::heart_rate,
        ),
        single(
            Component::RespiratoryRate,
            "respiratory_rate",
            input.respiratory_rate,
            bands::respiratory_rate,
        ),
        oxygenation_component(input),
        acid_base_component(input),
        single(Component::Sodium, "sodium", input.sodium, bands::sodium),
        single(
            Component::Potassium,
            "potassium",
            input.potassium,
            bands::potassium,
        ),
        creatinine_component(input),
        single(
            Component::Haematocrit,
            "haematocrit_pct",
            input.haematocrit_pct,
            bands::haematocrit,
        ),
        single(Component::WhiteBloodCells, "wbc", input.wbc, bands::wbc),
        gcs_component(input.gcs),
        single(
            age,
            "age_years",
            input.age_years.map(Measured::new),
            bands::age,
        ),
        match input.chronic_health {
            Some(ch) => ComponentScore::scored(Component::ChronicHealth, ch.points()),
            None => ComponentScore::missing(Component::ChronicHealth, NOTE_MISSING),
        },
    ];
    ScoreSheet::from_components(ScoreKind::ApacheIi, components)
}

/// Observations of the first 24 h, per variable, for the "worst value"
/// selection. Units as in [`ApacheIiInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApacheIiSeries {
    pub temperature_c: Vec<Measured>,
    pub mean_arterial_pressure: Vec<Measured>,
    pub heart_rate: Vec<Measured>,
    pub respiratory_rate: Vec<Measured>,
    /// Arterial blood gases (FiO2, PaO2, PaCO2 measured together).
    pub blood_gases: Vec<BloodGas>,
    pub arterial_ph: Vec<Measured>,
    pub venous_hco3: Vec<Measured>,
    pub sodium: Vec<Measured>,
    pub potassium: Vec<Measured>,
    pub creatinine_mg_dl: Vec<Measured>,
    pub creatinine_umol_l: Vec<Measured>,
    pub haematocrit_pct: Vec<Measured>,
    pub wbc: Vec<Measured>,
    pub gcs: Vec<Measured>,
    pub age_years: Option<f64>,
    pub chronic_health: Option<ChronicHealth>,
    pub acute_renal_failure: Option<bool>,
    pub barometric_pressure_mmhg: Option<f64>,
}

impl ApacheIiSeries {
    /// Picks the worst value of each variable: for two-sided rows both the
    /// minimum and the maximum are scored and the higher points kept; for
    /// oxygenation each blood gas is scored and the worst kept; GCS takes
    /// the lowest.
    pub fn worst(&self) -> ApacheIiInput {
        let pb = self.barometric_pressure_mmhg.unwrap_or(SEA_LEVEL_PB_MMHG);
        let gas = worst_index(&self.blood_gases, |g| {
            oxygenation(g.fio2, g.pao2_mmhg, g.paco2_mmhg, pb)
                .ok()
                .map(|(p, _, _)| p)
        })
        .map(|i| self.blood_gases[i]);
        // Keep only the creatinine (in either unit) with more points.
        let (creatinine_mg_dl, creatinine_umol_l) = pick_unit(
            worst_of(&self.creatinine_mg_dl, bands::creatinine_mg_dl),
            bands::creatinine_mg_dl,
            worst_of(&self.creatinine_umol_l, bands::creatinine_umol_l),
            bands::creatinine_umol_l,
        );
        ApacheIiInput {
            temperature_c: worst_of(&self.temperature_c, bands::temperature),
            mean_arterial_pressure: worst_of(
                &self.mean_arterial_pressure,
                bands::mean_arterial_pressure,
            ),
            heart_rate: worst_of(&self.heart_rate, bands::heart_rate),
            respiratory_rate: worst_of(&self.respiratory_rate, bands::respiratory_rate),
            fio2: gas.map(|g| g.measured(g.fio2)),
            pao2_mmhg: gas.map(|g| g.measured(g.pao2_mmhg)),
            paco2_mmhg: gas.and_then(|g| g.paco2_mmhg.map(|c| g.measured(c))),
            arterial_ph: worst_of(&self.arterial_ph, bands::arterial_ph),
            venous_hco3: worst_of(&self.venous_hco3, bands::venous_hco3),
            sodium: worst_of(&self.sodium, bands::sodium),
            potassium: worst_of(&self.potassium, bands::potassium),
            creatinine_mg_dl,
            creatinine_umol_l,
            haematocrit_pct: worst_of(&self.haematocrit_pct, bands::haematocrit),
            wbc: worst_of(&self.wbc, bands::wbc),
            gcs: min_of(self.gcs.iter().filter(|g| gcs_valid(g.value))),
            age_years: self.age_years,
            chronic_health: self.chronic_health,
            acute_renal_failure: self.acute_renal_failure,
            barometric_pressure_mmhg: self.barometric_pressure_mmhg,
        }
    }
}

/// Worst-of-24-h APACHE II from a series.
pub fn score_worst(series: &ApacheIiSeries) -> ScoreSheet {
    score(&series.worst())
}
