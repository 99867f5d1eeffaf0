//! NEWS2 (Royal College of Physicians 2017), as tabulated in `tele-icu.md`
//! § "NEWS2". Computed from the current observation set (not worst-of).
//!
//! Not validated for under-16s or in pregnancy; the caller decides whether
//! to show it for such patients.

use serde::{Deserialize, Serialize};

use crate::common::{single, Component, ComponentScore, Measured, ScoreKind, ScoreSheet};

/// Band tables of the reference. Bands are half-open: a published lower
/// bound is inclusive up to the next band's lower bound (so RR 8.5 is in
/// "≤8", temperature 36.05 in "35.1–36.0").
pub mod bands {
    /// Respiration rate, /min: ≤8 3; 9–11 1; 12–20 0; 21–24 2; ≥25 3.
    pub fn respiratory_rate(rr: f64) -> u8 {
        match rr {
            v if v >= 25.0 => 3,
            v if v >= 21.0 => 2,
            v if v >= 12.0 => 0,
            v if v >= 9.0 => 1,
            _ => 3,
        }
    }

    /// SpO2 scale 1, %: ≤91 3; 92–93 2; 94–95 1; ≥96 0.
    pub fn spo2_scale1(s: f64) -> u8 {
        match s {
            v if v >= 96.0 => 0,
            v if v >= 94.0 => 1,
            v if v >= 92.0 => 2,
            _ => 3,
        }
    }

    /// SpO2 scale 2, %: ≤83 3; 84–85 2; 86–87 1; 88–92 0; ≥93 on air 0;
    /// 93–94 on O2 1; 95–96 on O2 2; ≥97 on O2 3.
    pub fn spo2_scale2(s: f64, on_oxygen: bool) -> u8 {
        match s {
            v if v >= 93.0 && !on_oxygen => 0,
            v if v >= 97.0 => 3,
            v if v >= 95.0 => 2,
            v if v >= 93.0 => 1,
            v if v >= 88.0 => 0,
            v if v >= 86.0 => 1,
            v if v >= 84.0 => 2,
            _ => 3,
        }
    }

    /// Air 0, supplemental oxygen 2.
    pub fn air_or_oxygen(on_oxygen: bool) -> u8 {
        if on_oxygen {
            2
        } else {
            0
        }
    }

    /// Systolic BP, mmHg: ≤90 3; 91–100 2; 101–110 1; 111–219 0; ≥220 3.
    pub fn systolic_bp(sbp: f64) -> u8 {
        match sbp {
            v if v >= 220.0 => 3,
            v if v >= 111.0 => 0,
            v if v >= 101.0 => 1,
            v if v >= 91.0 => 2,
            _ => 3,
        }
    }

    /// Pulse, /min: ≤40 3; 41–50 1; 51–90 0; 91–110 1; 111–130 2; ≥131 3.
    pub fn pulse(p: f64) -> u8 {
        match p {
            v if v >= 131.0 => 3,
            v if v >= 111.0 => 2,
            v if v >= 91.0 => 1,
            v if v >= 51.0 => 0,
            v if v >= 41.0 => 1,
            _ => 3,
        }
    }

    /// Temperature, °C: ≤35.0 3; 35.1–36.0 1; 36.1–38.0 0; 38.1–39.0 1;
    /// ≥39.1 2.
    pub fn temperature(t: f64) -> u8 {
        match t {
            v if v >= 39.1 => 2,
            v if v >= 38.1 => 1,
            v if v >= 36.1 => 0,
            v if v >= 35.1 => 1,
            _ => 3,
        }
    }
}

/// Which SpO2 scale applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpO2Scale {
    /// The default.
    #[default]
    Scale1,
    /// Only for a prescribed 88–92 % target (hypercapnic respiratory
    /// failure).
    Scale2,
}

/// ACVPU level of consciousness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acvpu {
    Alert,
    NewConfusion,
    Voice,
    Pain,
    Unresponsive,
}

impl Acvpu {
    /// Alert 0; new confusion, V, P or U 3.
    pub fn points(self) -> u8 {
        match self {
            Self::Alert => 0,
            _ => 3,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::NewConfusion => "new confusion",
            Self::Voice => "responds to voice",
            Self::Pain => "responds to pain",
            Self::Unresponsive => "unresponsive",
        }
    }
}

/// Clinical risk band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum News2Risk {
    /// Aggregate 0–4 with no single parameter scoring 3.
    Low,
    /// Aggregate 0–4 with a single parameter scoring 3: urgent ward review.
    LowMedium,
    /// Aggregate 5–6: urgent response.
    Medium,
    /// Aggregate ≥ 7: emergency response.
    High,
}

/// Risk band from the aggregate and whether any single parameter scored 3.
pub fn risk(total: u32, any_parameter_three: bool) -> News2Risk {
    match total {
        t if t >= 7 => News2Risk::High,
        t if t >= 5 => News2Risk::Medium,
        _ if any_parameter_three => News2Risk::LowMedium,
        _ => News2Risk::Low,
    }
}

/// One NEWS2 observation set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct News2Input {
    /// Respiration rate, /min.
    pub respiratory_rate: Option<Measured>,
    /// SpO2, %.
    pub spo2_pct: Option<Measured>,
    /// Scale 1 unless a 88–92 % target is prescribed.
    pub spo2_scale: SpO2Scale,
    /// Supplemental oxygen (true) or air (false).
    pub on_oxygen: Option<bool>,
    /// Systolic BP, mmHg.
    pub systolic_bp: Option<Measured>,
    /// Pulse, /min.
    pub pulse: Option<Measured>,
    pub consciousness: Option<Acvpu>,
    /// Temperature, °C.
    pub temperature_c: Option<Measured>,
}

/// NEWS2 with its risk band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct News2Result {
    #[serde(flatten)]
    pub sheet: ScoreSheet,
    pub spo2_scale: SpO2Scale,
    /// The risk band, only when every parameter was scored.
    pub risk: Option<News2Risk>,
    /// The band the scored parameters alone already reach; the true band is
    /// this or higher. Equal to `risk` when complete.
    pub minimum_risk: News2Risk,
}

fn spo2_component(input: &News2Input) -> ComponentScore {
    let c = Component::SpO2;
    let s = single(c, "spo2_pct", input.spo2_pct, bands::spo2_scale1);
    let Some(spo2) = input.spo2_pct.filter(|m| m.value.is_finite()) else {
        return s;
    };
    match input.spo2_scale {
        SpO2Scale::Scale1 => s.with_note("scale 1"),
        SpO2Scale::Scale2 => {
            let v = spo2.value;
            // Oxygen status matters on scale 2 only at SpO2 ≥ 93.
            let on_o2 = match input.on_oxygen {
                Some(o) => o,
                None if v < 93.0 => false,
                None => {
                    return ComponentScore {
                        points: None,
                        note: Some("scale 2, SpO2 ≥ 93: air or oxygen needed"),
                        ..s
                    }
                }
            };
            ComponentScore {
                points: Some(bands::spo2_scale2(v, on_o2)),
                note: Some("scale 2"),
                ..s
            }
        }
    }
}

/// Computes NEWS2.
pub fn score(input: &News2Input) -> News2Result {
    let components = vec![
        single(
            Component::RespiratoryRate,
            "respiratory_rate",
            input.respiratory_rate,
            bands::respiratory_rate,
        ),
        spo2_component(input),
        match input.on_oxygen {
            Some(o) => ComponentScore::scored(Component::AirOrOxygen, bands::air_or_oxygen(o))
                .with_note(if o { "oxygen" } else { "air" }),
            None => ComponentScore::missing(Component::AirOrOxygen, "air or oxygen not recorded"),
        },
        single(
            Component::SystolicBloodPressure,
            "systolic_bp",
            input.systolic_bp,
            bands::systolic_bp,
        ),
        single(Component::HeartRate, "pulse", input.pulse, bands::pulse),
        match input.consciousness {
            Some(a) => {
                ComponentScore::scored(Component::Consciousness, a.points()).with_note(a.label())
            }
            None => ComponentScore::missing(Component::Consciousness, "ACVPU not recorded"),
        },
        single(
            Component::Temperature,
            "temperature_c",
            input.temperature_c,
            bands::temperature,
        ),
    ];
    let sheet = ScoreSheet::from_components(ScoreKind::News2, components);
    let any_three = sheet.components.iter().any(|c| c.points == Some(3));
    let minimum_risk = risk(sheet.total, any_three);
    News2Result {
        risk: sheet.complete.then_some(minimum_risk),
        minimum_risk,
        spo2_scale: input.spo2_scale,
        sheet,
    }
}
