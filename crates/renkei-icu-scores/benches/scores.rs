//! Time to recompute all five scores for one bed.
//!
//! Run: `cargo bench -p renkei-icu-scores --bench scores`
//! (no criterion: std::time::Instant over many iterations, ns/op printed).

use std::hint::black_box;
use std::time::Instant;

use renkei_icu_scores::{
    apache_ii::{self, ApacheIiInput, ApacheIiSeries, ChronicHealth},
    mods::{self, ModsInput},
    news2::{self, Acvpu, News2Input},
    saps_ii::{self, AdmissionType, ChronicDisease, SapsIiInput},
    sofa::{self, SofaInput, Vasopressors},
    BloodGas, Measured,
};

const ITERATIONS: u32 = 100_000;

fn m(v: f64) -> Option<Measured> {
    Some(Measured::at(v, 1_700_000_000_000))
}

struct Bed {
    apache: ApacheIiInput,
    saps: SapsIiInput,
    news: News2Input,
    mods: ModsInput,
    sofa: SofaInput,
}

fn bed() -> Bed {
    Bed {
        apache: ApacheIiInput {
            temperature_c: m(38.7),
            mean_arterial_pressure: m(62.0),
            heart_rate: m(118.0),
            respiratory_rate: m(28.0),
            fio2: m(0.6),
            pao2_mmhg: m(85.0),
            paco2_mmhg: m(38.0),
            arterial_ph: m(7.29),
            venous_hco3: None,
            sodium: m(133.0),
            potassium: m(5.6),
            creatinine_mg_dl: m(2.1),
            creatinine_umol_l: None,
            haematocrit_pct: m(29.0),
            wbc: m(17.5),
            gcs: m(11.0),
            age_years: Some(72.0),
            chronic_health: Some(ChronicHealth::NonOperative),
            acute_renal_failure: Some(true),
            barometric_pressure_mmhg: None,
        },
        saps: SapsIiInput {
            age_years: Some(72.0),
            heart_rate: m(118.0),
            systolic_bp: m(88.0),
            temperature_c: m(38.7),
            ventilated_or_cpap: Some(true),
            pao2_mmhg: m(85.0),
            fio2: m(0.6),
            urine_output_l_24h: m(0.8),
            bun_mg_dl: m(40.0),
            urea_mmol_l: None,
            wbc: m(17.5),
            potassium: m(5.6),
            sodium: m(133.0),
            bicarbonate: m(17.0),
            bilirubin_mg_dl: m(2.3),
            bilirubin_umol_l: None,
            gcs: m(11.0),
            chronic_disease: Some(ChronicDisease::Absent),
            admission_type: Some(AdmissionType::Medical),
        },
        news: News2Input {
            respiratory_rate: m(28.0),
            spo2_pct: m(93.0),
            on_oxygen: Some(true),
            systolic_bp: m(88.0),
            pulse: m(118.0),
            consciousness: Some(Acvpu::Voice),
            temperature_c: m(38.7),
            ..Default::default()
        },
        mods: ModsInput {
            pao2_mmhg: m(85.0),
            fio2: m(0.6),
            creatinine_umol_l: m(185.0),
            bilirubin_umol_l: m(39.0),
            heart_rate: m(118.0),
            cvp_mmhg: m(12.0),
            mean_arterial_pressure: m(62.0),
            platelets: m(95.0),
            gcs: m(11.0),
        },
        sofa: SofaInput {
            pao2_mmhg: m(85.0),
            fio2: m(0.6),
            respiratory_support: Some(true),
            platelets: m(95.0),
            bilirubin_mg_dl: m(2.3),
            mean_arterial_pressure: m(62.0),
            vasopressors: Some(Vasopressors {
                norepinephrine: m(0.08),
                ..Default::default()
            }),
            gcs: m(11.0),
            creatinine_mg_dl: m(2.1),
            urine_output_ml_day: m(800.0),
        },
    }
}

fn recompute(b: &Bed) -> u32 {
    apache_ii::score(&b.apache).total
        + saps_ii::score(&b.saps).sheet.total
        + news2::score(&b.news).sheet.total
        + mods::score(&b.mods).total
        + sofa::score(&b.sofa).total
}

/// 24 h of 5-minute medians (288 samples per vital) plus 6 blood gases.
fn day_series() -> ApacheIiSeries {
    let n = 288;
    let wave = |base: f64, amp: f64| -> Vec<Measured> {
        (0..n)
            .map(|i| Measured::at(base + amp * ((i as f64) / 20.0).sin(), i as i64 * 300_000))
            .collect()
    };
    ApacheIiSeries {
        temperature_c: wave(37.5, 1.5),
        mean_arterial_pressure: wave(75.0, 20.0),
        heart_rate: wave(100.0, 35.0),
        respiratory_rate: wave(20.0, 10.0),
        blood_gases: (0..6)
            .map(|i| BloodGas {
                fio2: 0.4 + 0.05 * i as f64,
                pao2_mmhg: 90.0 - 5.0 * i as f64,
                paco2_mmhg: Some(40.0),
                at: Some(i * 14_400_000),
                basis: None,
            })
            .collect(),
        arterial_ph: wave(7.35, 0.1),
        sodium: wave(138.0, 6.0),
        potassium: wave(4.2, 1.0),
        creatinine_mg_dl: wave(1.5, 0.5),
        haematocrit_pct: wave(32.0, 4.0),
        wbc: wave(12.0, 6.0),
        gcs: vec![Measured::at(13.0, 0), Measured::at(10.0, 1)],
        age_years: Some(72.0),
        chronic_health: Some(ChronicHealth::Absent),
        acute_renal_failure: Some(false),
        ..Default::default()
    }
}

fn time(label: &str, iterations: u32, mut f: impl FnMut() -> u32) {
    // Warm-up.
    for _ in 0..iterations / 10 {
        black_box(f());
    }
    let start = Instant::now();
    let mut acc = 0u64;
    for _ in 0..iterations {
        acc = acc.wrapping_add(u64::from(f()));
    }
    let elapsed = start.elapsed();
    black_box(acc);
    println!(
        "{label}: {:.0} ns/op ({iterations} iterations, {:.3} s)",
        elapsed.as_nanos() as f64 / f64::from(iterations),
        elapsed.as_secs_f64()
    );
}

fn main() {
    let b = bed();
    time("all five scores, one bed", ITERATIONS, || {
        recompute(black_box(&b))
    });
    let series = day_series();
    time(
        "APACHE II worst-of-24h from 288 samples/vital",
        ITERATIONS / 10,
        || apache_ii::score_worst(black_box(&series)).total,
    );
}
