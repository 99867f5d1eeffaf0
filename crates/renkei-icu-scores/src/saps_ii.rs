//! SAPS II (Le Gall et al., JAMA 1993;270:2957), as tabulated in
//! `tele-icu.md` § "SAPS II", with the predicted-mortality equation
//! logit = −7.7631 + 0.0737·S + 0.9971·ln(S+1), P = 1/(1+e^−logit).
//! Worst values of the first 24 h.

use serde::{Deserialize, Serialize};

use crate::common::{
    gcs_valid, min_of, pf_ratio, pick_unit, single, worst_index, worst_of, BloodGas, Component,
    ComponentScore, Measured, ScoreKind, ScoreSheet, NOTE_GCS_RANGE, NOTE_MISSING,
};

/// Band tables of the reference. Bands are half-open: a published lower
/// bound is inclusive up to the next band's lower bound.
pub mod bands {
    /// Age, years: <40 0; 40–59 7; 60–69 12; 70–74 15; 75–79 16; ≥80 18.
    pub fn age(years: f64) -> u8 {
        match years {
            v if v >= 80.0 => 18,
            v if v >= 75.0 => 16,
            v if v >= 70.0 => 15,
            v if v >= 60.0 => 12,
            v if v >= 40.0 => 7,
            _ => 0,
        }
    }

    /// Heart rate, /min: <40 11; 40–69 2; 70–119 0; 120–159 4; ≥160 7.
    pub fn heart_rate(hr: f64) -> u8 {
        match hr {
            v if v >= 160.0 => 7,
            v if v >= 120.0 => 4,
            v if v >= 70.0 => 0,
            v if v >= 40.0 => 2,
            _ => 11,
        }
    }

    /// Systolic BP, mmHg: <70 13; 70–99 5; 100–199 0; ≥200 2.
    pub fn systolic_bp(sbp: f64) -> u8 {
        match sbp {
            v if v >= 200.0 => 2,
            v if v >= 100.0 => 0,
            v if v >= 70.0 => 5,
            _ => 13,
        }
    }

    /// Temperature, °C: ≥39 3, otherwise 0.
    pub fn temperature(t: f64) -> u8 {
        if t >= 39.0 {
            3
        } else {
            0
        }
    }

    /// PaO2/FiO2, mmHg (only if ventilated or on CPAP): <100 11; 100–199 9;
    /// ≥200 6.
    pub fn pao2_fio2(pf: f64) -> u8 {
        match pf {
            v if v >= 200.0 => 6,
            v if v >= 100.0 => 9,
            _ => 11,
        }
    }

    /// Urine output, L/24 h: <0.5 11; 0.5–0.999 4; ≥1 0.
    pub fn urine_output(l_per_24h: f64) -> u8 {
        match l_per_24h {
            v if v >= 1.0 => 0,
            v if v >= 0.5 => 4,
            _ => 11,
        }
    }

    /// BUN, mg/dL: <28 0; 28–83 6; ≥84 10.
    pub fn bun_mg_dl(bun: f64) -> u8 {
        match bun {
            v if v >= 84.0 => 10,
            v if v >= 28.0 => 6,
            _ => 0,
        }
    }

    /// Urea, mmol/L: <10 0; 10–29.9 6; ≥30 10.
    pub fn urea_mmol_l(urea: f64) -> u8 {
        match urea {
            v if v >= 30.0 => 10,
            v if v >= 10.0 => 6,
            _ => 0,
        }
    }

    /// WBC, ×10³/mm³: <1 12; 1–19.9 0; ≥20 3.
    pub fn wbc(w: f64) -> u8 {
        match w {
            v if v >= 20.0 => 3,
            v if v >= 1.0 => 0,
            _ => 12,
        }
    }

    /// Potassium, mmol/L: <3 3; 3–4.9 0; ≥5 3.
    pub fn potassium(k: f64) -> u8 {
        match k {
            v if v >= 5.0 => 3,
            v if v >= 3.0 => 0,
            _ => 3,
        }
    }

    /// Sodium, mmol/L: <125 5; 125–144 0; ≥145 1.
    pub fn sodium(na: f64) -> u8 {
        match na {
            v if v >= 145.0 => 1,
            v if v >= 125.0 => 0,
            _ => 5,
        }
    }

    /// HCO3, mmol/L: <15 6; 15–19 3; ≥20 0.
    pub fn bicarbonate(h: f64) -> u8 {
        match h {
            v if v >= 20.0 => 0,
            v if v >= 15.0 => 3,
            _ => 6,
        }
    }

    /// Bilirubin, mg/dL: <4 0; 4–5.9 4; ≥6 9.
    pub fn bilirubin_mg_dl(b: f64) -> u8 {
        match b {
            v if v >= 6.0 => 9,
            v if v >= 4.0 => 4,
            _ => 0,
        }
    }

    /// Bilirubin, µmol/L: <68.4 0; 68.4–102.5 4; ≥102.6 9.
    pub fn bilirubin_umol_l(b: f64) -> u8 {
        match b {
            v if v >= 102.6 => 9,
            v if v >= 68.4 => 4,
            _ => 0,
        }
    }

    /// GCS: 14–15 0; 11–13 5; 9–10 7; 6–8 13; <6 26.
    pub fn gcs(g: f64) -> u8 {
        match g {
            v if v >= 14.0 => 0,
            v if v >= 11.0 => 5,
            v if v >= 9.0 => 7,
            v if v >= 6.0 => 13,
            _ => 26,
        }
    }
}

/// SAPS II chronic disease. The table row is one variable; if several
/// apply, pass the one with the most points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChronicDisease {
    /// None of the three. 0 points.
    Absent,
    /// 9 points.
    MetastaticCancer,
    /// 10 points.
    HaematologicMalignancy,
    /// 17 points.
    Aids,
}

impl ChronicDisease {
    pub fn points(self) -> u8 {
        match self {
            Self::Absent => 0,
            Self::MetastaticCancer => 9,
            Self::HaematologicMalignancy => 10,
            Self::Aids => 17,
        }
    }
}

/// SAPS II admission type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionType {
    /// 0 points.
    ScheduledSurgical,
    /// 6 points.
    Medical,
    /// 8 points.
    UnscheduledSurgical,
}

impl AdmissionType {
    pub fn points(self) -> u8 {
        match self {
            Self::ScheduledSurgical => 0,
            Self::Medical => 6,
            Self::UnscheduledSurgical => 8,
        }
    }
}

/// Values for one SAPS II calculation (the worst of the first 24 h; build
/// it from a series with [`SapsIiSeries::worst`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SapsIiInput {
    /// Age, years.
    pub age_years: Option<f64>,
    /// Heart rate, /min.
    pub heart_rate: Option<Measured>,
    /// Systolic BP, mmHg.
    pub systolic_bp: Option<Measured>,
    /// Temperature, °C.
    pub temperature_c: Option<Measured>,
    /// Mechanically ventilated or on CPAP. `Some(false)` scores the
    /// PaO2/FiO2 row 0 without needing a blood gas.
    pub ventilated_or_cpap: Option<bool>,
    /// PaO2, mmHg.
    pub pao2_mmhg: Option<Measured>,
    /// FiO2 as a fraction (0.21–1.0), of the same blood gas.
    pub fio2: Option<Measured>,
    /// Urine output, litres per 24 h.
    pub urine_output_l_24h: Option<Measured>,
    /// BUN, mg/dL. If both are given, BUN is used.
    pub bun_mg_dl: Option<Measured>,
    /// Urea, mmol/L (scored with the reference's urea column).
    pub urea_mmol_l: Option<Measured>,
    /// WBC, ×10³/mm³.
    pub wbc: Option<Measured>,
    /// Potassium, mmol/L.
    pub potassium: Option<Measured>,
    /// Sodium, mmol/L.
    pub sodium: Option<Measured>,
    /// Serum HCO3, mmol/L.
    pub bicarbonate: Option<Measured>,
    /// Bilirubin, mg/dL. If both are given, mg/dL is used.
    pub bilirubin_mg_dl: Option<Measured>,
    /// Bilirubin, µmol/L (scored with the reference's µmol/L column).
    pub bilirubin_umol_l: Option<Measured>,
    /// GCS, 3–15; the pre-sedation value if sedated.
    pub gcs: Option<Measured>,
    pub chronic_disease: Option<ChronicDisease>,
    pub admission_type: Option<AdmissionType>,
}

/// SAPS II with its predicted hospital mortality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SapsIiResult {
    #[serde(flatten)]
    pub sheet: ScoreSheet,
    /// Predicted mortality 0–1; only when the score is complete (a partial
    /// total would understate it).
    pub predicted_mortality: Option<f64>,
}

/// Predicted mortality from a SAPS II total:
/// logit = −7.7631 + 0.0737·S + 0.9971·ln(S+1), P = 1/(1+e^−logit).
pub fn predicted_mortality(total: u32) -> f64 {
    let s = f64::from(total);
    let logit = -7.7631 + 0.0737 * s + 0.9971 * (s + 1.0).ln();
    1.0 / (1.0 + (-logit).exp())
}

fn pao2_fio2_component(input: &SapsIiInput) -> ComponentScore {
    let c = Component::PaO2FiO2;
    match input.ventilated_or_cpap {
        None => ComponentScore::missing(c, "ventilation/CPAP status unknown"),
        Some(false) => {
            ComponentScore::scored(c, 0).with_note("not ventilated or on CPAP: row not scored")
        }
        Some(true) => {
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
    }
}

fn either_unit(
    c: Component,
    first: (&'static str, Option<Measured>, fn(f64) -> u8),
    second: (&'static str, Option<Measured>, fn(f64) -> u8),
) -> ComponentScore {
    match (first.1, second.1) {
        (Some(m), _) => single(c, first.0, Some(m), first.2),
        (None, Some(m)) => single(c, second.0, Some(m), second.2),
        (None, None) => ComponentScore::missing(c, NOTE_MISSING),
    }
}

/// Computes SAPS II from one set of (worst) values.
pub fn score(input: &SapsIiInput) -> SapsIiResult {
    let gcs = match input.gcs {
        Some(g) if !gcs_valid(g.value) => {
            ComponentScore::missing(Component::GlasgowComaScale, NOTE_GCS_RANGE)
        }
        g => single(Component::GlasgowComaScale, "gcs", g, bands::gcs),
    };
    let components = vec![
        single(
            Component::Age,
            "age_years",
            input.age_years.map(Measured::new),
            bands::age,
        ),
        single(
            Component::HeartRate,
            "heart_rate",
            input.heart_rate,
            bands::heart_rate,
        ),
        single(
            Component::SystolicBloodPressure,
            "systolic_bp",
            input.systolic_bp,
            bands::systolic_bp,
        ),
        single(
            Component::Temperature,
            "temperature_c",
            input.temperature_c,
            bands::temperature,
        ),
        pao2_fio2_component(input),
        single(
            Component::UrineOutput,
            "urine_output_l_24h",
            input.urine_output_l_24h,
            bands::urine_output,
        ),
        either_unit(
            Component::Urea,
            ("bun_mg_dl", input.bun_mg_dl, bands::bun_mg_dl),
            ("urea_mmol_l", input.urea_mmol_l, bands::urea_mmol_l),
        ),
        single(Component::WhiteBloodCells, "wbc", input.wbc, bands::wbc),
        single(
            Component::Potassium,
            "potassium",
            input.potassium,
            bands::potassium,
        ),
        single(Component::Sodium, "sodium", input.sodium, bands::sodium),
        single(
            Component::Bicarbonate,
            "bicarbonate",
            input.bicarbonate,
            bands::bicarbonate,
        ),
        either_unit(
            Component::Bilirubin,
            (
                "bilirubin_mg_dl",
                input.bilirubin_mg_dl,
                bands::bilirubin_mg_dl,
            ),
            (
                "bilirubin_umol_l",
                input.bilirubin_umol_l,
                bands::bilirubin_umol_l,
            ),
        ),
        gcs,
        match input.chronic_disease {
            Some(d) => ComponentScore::scored(Component::ChronicDisease, d.points()),
            None => ComponentScore::missing(Component::ChronicDisease, NOTE_MISSING),
        },
        match input.admission_type {
            Some(a) => ComponentScore::scored(Component::AdmissionType, a.points()),
            None => ComponentScore::missing(Component::AdmissionType, NOTE_MISSING),
        },
    ];
    let sheet = ScoreSheet::from_components(ScoreKind::SapsIi, components);
    let predicted_mortality = sheet.complete.then(|| predicted_mortality(sheet.total));
    SapsIiResult {
        sheet,
        predicted_mortality,
    }
}

/// Observations of the first 24 h, per variable. Units as in
/// [`SapsIiInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SapsIiSeries {
    pub age_years: Option<f64>,
    pub heart_rate: Vec<Measured>,
    pub systolic_bp: Vec<Measured>,
    pub temperature_c: Vec<Measured>,
    pub ventilated_or_cpap: Option<bool>,
    pub blood_gases: Vec<BloodGas>,
    /// Usually one 24-h total.
    pub urine_output_l_24h: Vec<Measured>,
    pub bun_mg_dl: Vec<Measured>,
    pub urea_mmol_l: Vec<Measured>,
    pub wbc: Vec<Measured>,
    pub potassium: Vec<Measured>,
    pub sodium: Vec<Measured>,
    pub bicarbonate: Vec<Measured>,
    pub bilirubin_mg_dl: Vec<Measured>,
    pub bilirubin_umol_l: Vec<Measured>,
    pub gcs: Vec<Measured>,
    pub chronic_disease: Option<ChronicDisease>,
    pub admission_type: Option<AdmissionType>,
}

impl SapsIiSeries {
    /// Worst value of each variable (min and max scored, higher kept; the
    /// blood gas with the lowest PaO2/FiO2 points-wise; lowest GCS).
    pub fn worst(&self) -> SapsIiInput {
        let gas = worst_index(&self.blood_gases, |g| {
            pf_ratio(g.measured(g.pao2_mmhg), g.measured(g.fio2))
                .ok()
                .map(bands::pao2_fio2)
        })
        .map(|i| self.blood_gases[i]);
        let (bun_mg_dl, urea_mmol_l) = pick_unit(
            worst_of(&self.bun_mg_dl, bands::bun_mg_dl),
            bands::bun_mg_dl,
            worst_of(&self.urea_mmol_l, bands::urea_mmol_l),
            bands::urea_mmol_l,
        );
        let (bilirubin_mg_dl, bilirubin_umol_l) = pick_unit(
            worst_of(&self.bilirubin_mg_dl, bands::bilirubin_mg_dl),
            bands::bilirubin_mg_dl,
            worst_of(&self.bilirubin_umol_l, bands::bilirubin_umol_l),
            bands::bilirubin_umol_l,
        );
        SapsIiInput {
            age_years: self.age_years,
            heart_rate: worst_of(&self.heart_rate, bands::heart_rate),
            systolic_bp: worst_of(&self.systolic_bp, bands::systolic_bp),
            temperature_c: worst_of(&self.temperature_c, bands::temperature),
            ventilated_or_cpap: self.ventilated_or_cpap,
            pao2_mmhg: gas.map(|g| g.measured(g.pao2_mmhg)),
            fio2: gas.map(|g| g.measured(g.fio2)),
            urine_output_l_24h: worst_of(&self.urine_output_l_24h, bands::urine_output),
            bun_mg_dl,
            urea_mmol_l,
            wbc: worst_of(&self.wbc, bands::wbc),
            potassium: worst_of(&self.potassium, bands::potassium),
            sodium: worst_of(&self.sodium, bands::sodium),
            bicarbonate: worst_of(&self.bicarbonate, bands::bicarbonate),
            bilirubin_mg_dl,
            bilirubin_umol_l,
            gcs: min_of(self.gcs.iter().filter(|g| gcs_valid(g.value))),
            chronic_disease: self.chronic_disease,
            admission_type: self.admission_type,
        }
    }
}

/// Worst-of-24-h SAPS II from a series.
pub fn score_worst(series: &SapsIiSeries) -> SapsIiResult {
    score(&series.worst())
}
