//! Whole-score tests: worked examples, missing data, worst-of-window
//! selection, NEWS2 scale 2 and risk rules, JSON shape.

use renkei_icu_scores::{
    apache_ii::{self, ApacheIiInput, ApacheIiSeries, ChronicHealth},
    mods::{self, HemodynamicSample, ModsInput, ModsSeries},
    news2::{self, Acvpu, News2Input, News2Risk, SpO2Scale},
    saps_ii::{self, AdmissionType, ChronicDisease, SapsIiInput, SapsIiSeries},
    sofa::{self, SofaInput, SofaSeries, VasopressorSeries, Vasopressors},
    units, worst_of, BloodGas, Component, Measured, ValueBasis,
};

fn m(v: f64) -> Option<Measured> {
    Some(Measured::new(v))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

// ---------------------------------------------------------------- APACHE II

fn apache_example() -> ApacheIiInput {
    ApacheIiInput {
        temperature_c: m(38.7),
        mean_arterial_pressure: m(62.0),
        heart_rate: m(118.0),
        respiratory_rate: m(28.0),
        fio2: m(0.6),
        pao2_mmhg: m(85.0),
        paco2_mmhg: m(38.0),
        arterial_ph: m(7.29),
        sodium: m(133.0),
        potassium: m(5.6),
        creatinine_mg_dl: m(2.1),
        haematocrit_pct: m(29.0),
        wbc: m(17.5),
        gcs: m(11.0),
        age_years: Some(72.0),
        chronic_health: Some(ChronicHealth::NonOperative),
        acute_renal_failure: Some(true),
        ..Default::default()
    }
}

#[test]
fn apache_worked_example() {
    let s = apache_ii::score(&apache_example());
    use Component::*;
    let expected = [
        (Temperature, 1),
        (MeanArterialPressure, 2),
        (HeartRate, 2),
        (RespiratoryRate, 1),
        (Oxygenation, 2), // A-aDO2 = 0.6·713 − 38/0.8 − 85 = 295.3
        (AcidBase, 2),
        (Sodium, 0),
        (Potassium, 1),
        (Creatinine, 6), // 3, doubled for acute renal failure
        (Haematocrit, 2),
        (WhiteBloodCells, 1),
        (GlasgowComaScale, 4),
        (Age, 5),
        (ChronicHealth, 5),
    ];
    for (c, p) in expected {
        assert_eq!(s.points(c), Some(p), "{c:?}");
    }
    assert_eq!(s.components.len(), expected.len());
    assert_eq!(s.total, 34);
    assert!(s.complete);
    assert!(s.missing.is_empty());
    let ox = s.component(Oxygenation).unwrap();
    assert!(close(ox.scored_value.unwrap(), 295.3));
    assert_eq!(ox.sources.len(), 3);
}

#[test]
fn apache_maximum_is_71() {
    let input = ApacheIiInput {
        temperature_c: m(42.0),
        mean_arterial_pressure: m(40.0),
        heart_rate: m(200.0),
        respiratory_rate: m(60.0),
        fio2: m(1.0),
        pao2_mmhg: m(50.0),
        paco2_mmhg: m(30.0),
        arterial_ph: m(7.0),
        sodium: m(100.0),
        potassium: m(8.0),
        creatinine_mg_dl: m(4.0),
        haematocrit_pct: m(15.0),
        wbc: m(50.0),
        gcs: m(3.0),
        age_years: Some(80.0),
        chronic_health: Some(ChronicHealth::EmergencyPostoperative),
        acute_renal_failure: Some(true),
        ..Default::default()
    };
    assert_eq!(apache_ii::score(&input).total, 71);
}

#[test]
fn apache_oxygenation_rule_by_fio2() {
    // FiO2 0.49 → PaO2 row (PaCO2 not needed).
    let mut i = ApacheIiInput {
        fio2: m(0.49),
        pao2_mmhg: m(58.0),
        ..Default::default()
    };
    let s = apache_ii::score(&i);
    assert_eq!(s.points(Component::Oxygenation), Some(3));
    assert!(close(
        s.component(Component::Oxygenation)
            .unwrap()
            .scored_value
            .unwrap(),
        58.0
    ));
    // FiO2 0.5 → A-aDO2 row, which needs PaCO2.
    i.fio2 = m(0.5);
    let s = apache_ii::score(&i);
    assert_eq!(s.points(Component::Oxygenation), None);
    assert!(s.missing.contains(&Component::Oxygenation));
    i.paco2_mmhg = m(40.0);
    // 0.5·713 − 50 − 58 = 248.5 → 2
    assert_eq!(apache_ii::score(&i).points(Component::Oxygenation), Some(2));
    // Altitude: PB 600 → 0.5·553 − 50 − 58 = 168.5 → 0
    i.barometric_pressure_mmhg = Some(600.0);
    assert_eq!(apache_ii::score(&i).points(Component::Oxygenation), Some(0));
    // FiO2 given as percent is refused, not guessed.
    i.fio2 = m(50.0);
    let s = apache_ii::score(&i);
    assert_eq!(s.points(Component::Oxygenation), None);
    assert!(s
        .component(Component::Oxygenation)
        .unwrap()
        .note
        .unwrap()
        .contains("fraction"));
    assert!(close(apache_ii::a_a_do2(0.6, 85.0, 38.0, 760.0), 295.3));
}

#[test]
fn apache_hco3_only_without_abg() {
    let mut i = ApacheIiInput {
        venous_hco3: m(16.0),
        ..Default::default()
    };
    let s = apache_ii::score(&i);
    let c = s.component(Component::AcidBase).unwrap();
    assert_eq!(c.points, Some(3));
    assert_eq!(c.sources[0].variable, "venous_hco3");
    // With an arterial pH the HCO3 is ignored.
    i.arterial_ph = m(7.40);
    let s = apache_ii::score(&i);
    let c = s.component(Component::AcidBase).unwrap();
    assert_eq!(c.points, Some(0));
    assert_eq!(c.sources[0].variable, "arterial_ph");
}

#[test]
fn apache_creatinine_arf_and_units() {
    let mut i = ApacheIiInput {
        creatinine_mg_dl: m(1.7),
        ..Default::default()
    };
    // Points > 0 and ARF unknown: missing, not guessed.
    assert_eq!(apache_ii::score(&i).points(Component::Creatinine), None);
    i.acute_renal_failure = Some(false);
    assert_eq!(apache_ii::score(&i).points(Component::Creatinine), Some(2));
    i.acute_renal_failure = Some(true);
    assert_eq!(apache_ii::score(&i).points(Component::Creatinine), Some(4));
    // Normal creatinine: ARF status does not matter.
    i.creatinine_mg_dl = m(1.0);
    i.acute_renal_failure = None;
    assert_eq!(apache_ii::score(&i).points(Component::Creatinine), Some(0));
    // µmol/L scored with its own row: 309 → 4 (3.495 mg/dL would be 3).
    let i = ApacheIiInput {
        creatinine_umol_l: m(309.0),
        acute_renal_failure: Some(false),
        ..Default::default()
    };
    assert_eq!(apache_ii::score(&i).points(Component::Creatinine), Some(4));
}

#[test]
fn apache_missing_components_are_reported() {
    let s = apache_ii::score(&ApacheIiInput::default());
    assert_eq!(s.total, 0);
    assert!(!s.complete);
    assert_eq!(s.missing.len(), 14);
    assert!(s
        .components
        .iter()
        .all(|c| c.points.is_none() && c.note.is_some()));

    let mut i = apache_example();
    i.heart_rate = None;
    i.gcs = m(16.0); // invalid
    i.sodium = m(f64::NAN);
    let s = apache_ii::score(&i);
    assert_eq!(
        s.missing,
        vec![
            Component::HeartRate,
            Component::Sodium,
            Component::GlasgowComaScale
        ]
    );
    assert!(!s.complete);
    // The total is the sum of what was scored: 34 − HR 2 − GCS 4 − Na 0.
    assert_eq!(s.total, 28);
}

#[test]
fn apache_worst_of_24h_two_sided() {
    let t = |v: f64, at: i64| Measured::at(v, at);
    let series = ApacheIiSeries {
        // min 65 → 2, max 145 → 3: the maximum wins.
        heart_rate: vec![t(90.0, 1), t(65.0, 2), t(145.0, 3), t(100.0, 4)],
        // min 45 → 4 (<50), max 120 → 2: the minimum wins.
        mean_arterial_pressure: vec![t(80.0, 1), t(45.0, 2), t(120.0, 3)],
        // min 35.5 → 1, max 39.5 → 3: maximum.
        temperature_c: vec![t(35.5, 1), t(39.5, 2)],
        // min 7.20 → 3, max 7.52 → 1: minimum.
        arterial_ph: vec![t(7.52, 1), t(7.20, 2)],
        // Na 128 → 2, 152 → 1: minimum.
        sodium: vec![t(152.0, 1), t(128.0, 2)],
        // K 3.2 → 1 vs 5.7 → 1: tie keeps the minimum.
        potassium: vec![t(5.7, 1), t(3.2, 2)],
        // Lowest valid GCS; 0 is invalid and ignored.
        gcs: vec![t(14.0, 1), t(9.0, 2), t(0.0, 3), t(12.0, 4)],
        // Second gas is worse (A-aDO2 at FiO2 0.8).
        blood_gases: vec![
            BloodGas {
                fio2: 0.4,
                pao2_mmhg: 80.0,
                paco2_mmhg: Some(40.0),
                at: Some(10),
                basis: None,
            },
            BloodGas {
                fio2: 0.8,
                pao2_mmhg: 90.0,
                paco2_mmhg: Some(40.0),
                at: Some(20),
                basis: Some(ValueBasis::Laboratory),
            },
        ],
        creatinine_mg_dl: vec![t(1.0, 1)],
        creatinine_umol_l: vec![t(180.0, 2)], // 3 points beats 1.0 mg/dL (0)
        acute_renal_failure: Some(false),
        ..Default::default()
    };
    let w = series.worst();
    assert_eq!(w.heart_rate, Some(t(145.0, 3)));
    assert_eq!(w.mean_arterial_pressure, Some(t(45.0, 2)));
    assert_eq!(w.temperature_c, Some(t(39.5, 2)));
    assert_eq!(w.arterial_ph, Some(t(7.20, 2)));
    assert_eq!(w.sodium, Some(t(128.0, 2)));
    assert_eq!(w.potassium, Some(t(3.2, 2)));
    assert_eq!(w.gcs, Some(t(9.0, 2)));
    assert_eq!(w.fio2.unwrap().at, Some(20));
    assert_eq!(w.creatinine_mg_dl, None);
    assert_eq!(w.creatinine_umol_l, Some(t(180.0, 2)));
    let s = apache_ii::score_worst(&series);
    assert_eq!(s.points(Component::HeartRate), Some(3));
    assert_eq!(s.points(Component::MeanArterialPressure), Some(4));
    assert_eq!(s.points(Component::Temperature), Some(3));
    assert_eq!(s.points(Component::AcidBase), Some(3));
    assert_eq!(s.points(Component::GlasgowComaScale), Some(6));
    // 0.8·713 − 50 − 90 = 430.4 → 3
    assert_eq!(s.points(Component::Oxygenation), Some(3));
    assert_eq!(s.points(Component::Creatinine), Some(3));
    let hr = &s.component(Component::HeartRate).unwrap().sources[0];
    assert_eq!((hr.value, hr.at), (145.0, Some(3)));
    let ox = s.component(Component::Oxygenation).unwrap();
    assert_eq!(ox.sources[0].basis, Some(ValueBasis::Laboratory));
}

#[test]
fn worst_of_generic_helper() {
    let s = [Measured::at(100.0, 1), Measured::at(200.0, 2)];
    assert_eq!(
        worst_of(&s, saps_ii::bands::heart_rate),
        Some(Measured::at(200.0, 2))
    );
    assert_eq!(worst_of(&[], saps_ii::bands::heart_rate), None);
}

// ---------------------------------------------------------------- SAPS II

fn saps_example() -> SapsIiInput {
    SapsIiInput {
        age_years: Some(72.0),
        heart_rate: m(118.0),
        systolic_bp: m(88.0),
        temperature_c: m(38.7),
        ventilated_or_cpap: Some(true),
        pao2_mmhg: m(85.0),
        fio2: m(0.6),
        urine_output_l_24h: m(0.8),
        bun_mg_dl: m(40.0),
        wbc: m(17.5),
        potassium: m(5.6),
        sodium: m(133.0),
        bicarbonate: m(17.0),
        bilirubin_mg_dl: m(2.3),
        gcs: m(11.0),
        chronic_disease: Some(ChronicDisease::Absent),
        admission_type: Some(AdmissionType::Medical),
        ..Default::default()
    }
}

#[test]
fn saps_worked_example_with_mortality() {
    let r = saps_ii::score(&saps_example());
    use Component::*;
    let expected = [
        (Age, 15),
        (HeartRate, 0),
        (SystolicBloodPressure, 5),
        (Temperature, 0),
        (PaO2FiO2, 9), // 85/0.6 = 141.7
        (UrineOutput, 4),
        (Urea, 6),
        (WhiteBloodCells, 0),
        (Potassium, 3),
        (Sodium, 0),
        (Bicarbonate, 3),
        (Bilirubin, 0),
        (GlasgowComaScale, 5),
        (ChronicDisease, 0),
        (AdmissionType, 6),
    ];
    for (c, p) in expected {
        assert_eq!(r.sheet.points(c), Some(p), "{c:?}");
    }
    assert_eq!(r.sheet.total, 56);
    assert!(r.sheet.complete);
    // logit = −7.7631 + 0.0737·56 + 0.9971·ln 57 = 0.39471…; P = 0.597588
    let p = r.predicted_mortality.unwrap();
    assert!((p - 0.597_588).abs() < 1e-6, "{p}");
}

#[test]
fn saps_mortality_formula() {
    assert!((saps_ii::predicted_mortality(40) - 0.247_443).abs() < 1e-6);
    assert!((saps_ii::predicted_mortality(0) - 0.000_425).abs() < 1e-6);
    assert!(saps_ii::predicted_mortality(163) > 0.9999);
}

#[test]
fn saps_ventilation_rule_and_missing() {
    let mut i = saps_example();
    i.ventilated_or_cpap = Some(false);
    i.pao2_mmhg = None;
    i.fio2 = None;
    let r = saps_ii::score(&i);
    assert_eq!(r.sheet.points(Component::PaO2FiO2), Some(0));
    assert!(r.sheet.complete);
    assert_eq!(r.sheet.total, 47);

    i.ventilated_or_cpap = None;
    let r = saps_ii::score(&i);
    assert_eq!(r.sheet.missing, vec![Component::PaO2FiO2]);
    assert_eq!(
        r.predicted_mortality, None,
        "no mortality from a partial score"
    );
    assert_eq!(r.sheet.total, 47);

    i.ventilated_or_cpap = Some(true);
    assert_eq!(saps_ii::score(&i).sheet.missing, vec![Component::PaO2FiO2]);
}

#[test]
fn saps_units_and_series() {
    let i = SapsIiInput {
        urea_mmol_l: m(30.0),
        bilirubin_umol_l: m(102.6),
        ..Default::default()
    };
    let r = saps_ii::score(&i);
    assert_eq!(r.sheet.points(Component::Urea), Some(10));
    assert_eq!(r.sheet.points(Component::Bilirubin), Some(9));

    let t = Measured::at;
    let series = SapsIiSeries {
        heart_rate: vec![t(35.0, 1), t(165.0, 2)], // 11 vs 7 → minimum
        systolic_bp: vec![t(210.0, 1), t(95.0, 2)], // 2 vs 5 → minimum
        ventilated_or_cpap: Some(true),
        blood_gases: vec![
            BloodGas {
                fio2: 0.5,
                pao2_mmhg: 120.0,
                paco2_mmhg: None,
                at: Some(1),
                basis: None,
            },
            BloodGas {
                fio2: 0.6,
                pao2_mmhg: 54.0,
                paco2_mmhg: None,
                at: Some(2),
                basis: None,
            },
        ],
        ..Default::default()
    };
    let r = saps_ii::score_worst(&series);
    assert_eq!(r.sheet.points(Component::HeartRate), Some(11));
    assert_eq!(r.sheet.points(Component::SystolicBloodPressure), Some(5));
    assert_eq!(r.sheet.points(Component::PaO2FiO2), Some(11)); // 90
}

// ---------------------------------------------------------------- NEWS2

fn news_normal() -> News2Input {
    News2Input {
        respiratory_rate: m(16.0),
        spo2_pct: m(97.0),
        on_oxygen: Some(false),
        systolic_bp: m(125.0),
        pulse: m(75.0),
        consciousness: Some(Acvpu::Alert),
        temperature_c: m(36.8),
        ..Default::default()
    }
}

#[test]
fn news2_normal_is_low() {
    let r = news2::score(&news_normal());
    assert_eq!(r.sheet.total, 0);
    assert_eq!(r.risk, Some(News2Risk::Low));
    assert_eq!(r.sheet.components.len(), 7);
}

#[test]
fn news2_single_parameter_three_is_low_medium() {
    let mut i = news_normal();
    i.respiratory_rate = m(26.0);
    let r = news2::score(&i);
    assert_eq!(r.sheet.total, 3);
    assert_eq!(r.risk, Some(News2Risk::LowMedium));
    // New confusion alone is a 3 too.
    let mut i = news_normal();
    i.consciousness = Some(Acvpu::NewConfusion);
    assert_eq!(news2::score(&i).risk, Some(News2Risk::LowMedium));
    // Three 1s make 3 but no single 3: low.
    let mut i = news_normal();
    i.pulse = m(95.0);
    i.temperature_c = m(38.5);
    i.systolic_bp = m(105.0);
    let r = news2::score(&i);
    assert_eq!(r.sheet.total, 3);
    assert_eq!(r.risk, Some(News2Risk::Low));
    // A 3 plus 2 more → 5: medium, the aggregate prevails.
    i.respiratory_rate = m(7.0);
    i.pulse = m(75.0);
    let r = news2::score(&i);
    assert_eq!(r.sheet.total, 5);
    assert_eq!(r.risk, Some(News2Risk::Medium));
    // Oxygen 2 + SBP 3 + pulse 2 → 7: high.
    let mut i = news_normal();
    i.on_oxygen = Some(true);
    i.systolic_bp = m(88.0);
    i.pulse = m(120.0);
    let r = news2::score(&i);
    assert_eq!(r.sheet.total, 7);
    assert_eq!(r.risk, Some(News2Risk::High));
}

#[test]
fn news2_scale_2() {
    let mut i = news_normal();
    i.spo2_scale = SpO2Scale::Scale2;
    i.spo2_pct = m(90.0);
    let r = news2::score(&i);
    assert_eq!(r.sheet.points(Component::SpO2), Some(0)); // would be 3 on scale 1
    assert_eq!(r.spo2_scale, SpO2Scale::Scale2);
    // 97 % on oxygen scores 3 on scale 2 (plus 2 for oxygen).
    i.spo2_pct = m(97.0);
    i.on_oxygen = Some(true);
    let r = news2::score(&i);
    assert_eq!(r.sheet.points(Component::SpO2), Some(3));
    assert_eq!(r.sheet.total, 5);
    assert_eq!(r.risk, Some(News2Risk::Medium));
    // 97 % on air scores 0.
    i.on_oxygen = Some(false);
    assert_eq!(news2::score(&i).sheet.points(Component::SpO2), Some(0));
    // ≥ 93 with unknown oxygen status: SpO2 cannot be scored either.
    i.on_oxygen = None;
    let r = news2::score(&i);
    assert_eq!(
        r.sheet.missing,
        vec![Component::SpO2, Component::AirOrOxygen]
    );
    // Below 93 oxygen status doesn't change the SpO2 points.
    i.spo2_pct = m(85.0);
    let r = news2::score(&i);
    assert_eq!(r.sheet.points(Component::SpO2), Some(2));
    assert_eq!(r.sheet.missing, vec![Component::AirOrOxygen]);
}

#[test]
fn news2_missing_gives_minimum_risk_only() {
    let mut i = news_normal();
    i.consciousness = None;
    i.respiratory_rate = m(30.0);
    let r = news2::score(&i);
    assert!(!r.sheet.complete);
    assert_eq!(r.risk, None);
    assert_eq!(r.minimum_risk, News2Risk::LowMedium);
    let r = news2::score(&News2Input::default());
    assert_eq!(r.sheet.missing.len(), 7);
    assert_eq!(r.minimum_risk, News2Risk::Low);
}

// ---------------------------------------------------------------- MODS

fn mods_example() -> ModsInput {
    ModsInput {
        pao2_mmhg: m(85.0),
        fio2: m(0.6),
        creatinine_umol_l: m(185.0),
        bilirubin_umol_l: m(39.0),
        heart_rate: m(118.0),
        cvp_mmhg: m(12.0),
        mean_arterial_pressure: m(62.0),
        platelets: m(95.0),
        gcs: m(11.0),
    }
}

#[test]
fn mods_worked_example() {
    let s = mods::score(&mods_example());
    use Component::*;
    for (c, p) in [
        (Respiratory, 3),    // 141.7
        (Renal, 1),          // 185 µmol/L
        (Hepatic, 1),        // 39 µmol/L
        (Cardiovascular, 3), // 118·12/62 = 22.84
        (Haematologic, 1),   // 95
        (Neurologic, 2),     // 11
    ] {
        assert_eq!(s.points(c), Some(p), "{c:?}");
    }
    assert_eq!(s.total, 11);
    assert!(s.complete);
    let cv = s.component(Cardiovascular).unwrap();
    assert!((cv.scored_value.unwrap() - 22.838_709_677).abs() < 1e-6);
    assert_eq!(cv.sources.len(), 3);
}

#[test]
fn mods_missing_and_series() {
    let mut i = mods_example();
    i.cvp_mmhg = None;
    i.mean_arterial_pressure = m(0.0);
    let s = mods::score(&i);
    assert_eq!(s.missing, vec![Component::Cardiovascular]);
    assert_eq!(s.total, 8);
    i.cvp_mmhg = m(10.0);
    assert_eq!(mods::score(&i).missing, vec![Component::Cardiovascular]);

    let t = Measured::at;
    let series = ModsSeries {
        creatinine_umol_l: vec![t(90.0, 1), t(360.0, 2), t(200.0, 3)],
        platelets: vec![t(150.0, 1), t(40.0, 2)],
        hemodynamics: vec![
            HemodynamicSample {
                heart_rate: 80.0,
                cvp_mmhg: 8.0,
                mean_arterial_pressure: 80.0,
                at: Some(1),
            },
            HemodynamicSample {
                heart_rate: 130.0,
                cvp_mmhg: 15.0,
                mean_arterial_pressure: 60.0,
                at: Some(2),
            },
        ],
        ..Default::default()
    };
    let s = mods::score_worst(&series);
    assert_eq!(s.points(Component::Renal), Some(3));
    assert_eq!(s.points(Component::Haematologic), Some(3));
    assert_eq!(s.points(Component::Cardiovascular), Some(4)); // 32.5
    assert_eq!(
        s.component(Component::Cardiovascular).unwrap().sources[0].at,
        Some(2)
    );
    // mg/dL must be converted first.
    let cr = units::creatinine_mg_dl_to_umol_l(4.0); // 353.6
    assert_eq!(mods::bands::creatinine_umol_l(cr), 3);
}

// ---------------------------------------------------------------- SOFA

fn sofa_example() -> SofaInput {
    SofaInput {
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
    }
}

#[test]
fn sofa_worked_example() {
    let s = sofa::score(&sofa_example());
    use Component::*;
    for (c, p) in [
        (Respiratory, 3),
        (Haematologic, 2),
        (Hepatic, 2),
        (Cardiovascular, 3),
        (Neurologic, 2),
        (Renal, 2),
    ] {
        assert_eq!(s.points(c), Some(p), "{c:?}");
    }
    assert_eq!(s.total, 14);
    assert!(s.complete);
}

#[test]
fn sofa_respiratory_support_rule() {
    let mut i = sofa_example();
    i.respiratory_support = Some(false);
    assert_eq!(sofa::score(&i).points(Component::Respiratory), Some(2));
    i.respiratory_support = None;
    assert_eq!(sofa::score(&i).points(Component::Respiratory), None);
    // P/F ≥ 200: support status not needed.
    i.pao2_mmhg = m(150.0); // 250
    assert_eq!(sofa::score(&i).points(Component::Respiratory), Some(2));
}

#[test]
fn sofa_cardiovascular_rule() {
    let mut i = sofa_example();
    i.vasopressors = Some(Vasopressors::default());
    assert_eq!(sofa::score(&i).points(Component::Cardiovascular), Some(1));
    i.mean_arterial_pressure = m(70.0);
    assert_eq!(sofa::score(&i).points(Component::Cardiovascular), Some(0));
    i.mean_arterial_pressure = None;
    assert_eq!(sofa::score(&i).points(Component::Cardiovascular), None);
    // Drugs ≥ 2 points make MAP irrelevant.
    i.vasopressors = Some(Vasopressors {
        dobutamine: m(3.0),
        ..Default::default()
    });
    assert_eq!(sofa::score(&i).points(Component::Cardiovascular), Some(2));
    i.vasopressors = None;
    i.mean_arterial_pressure = m(60.0);
    let s = sofa::score(&i);
    assert_eq!(s.missing, vec![Component::Cardiovascular]);
}

#[test]
fn sofa_renal_rule() {
    let mut i = sofa_example();
    i.urine_output_ml_day = m(450.0);
    assert_eq!(sofa::score(&i).points(Component::Renal), Some(3));
    i.urine_output_ml_day = m(150.0);
    assert_eq!(sofa::score(&i).points(Component::Renal), Some(4));
    i.creatinine_mg_dl = None;
    assert_eq!(sofa::score(&i).points(Component::Renal), Some(4));
    i.urine_output_ml_day = m(450.0);
    assert_eq!(sofa::score(&i).points(Component::Renal), None);
    i.creatinine_mg_dl = m(1.0);
    i.urine_output_ml_day = None;
    assert_eq!(sofa::score(&i).points(Component::Renal), None);
    i.creatinine_mg_dl = m(5.0);
    assert_eq!(sofa::score(&i).points(Component::Renal), Some(4));
}

#[test]
fn sofa_series() {
    let t = Measured::at;
    let series = SofaSeries {
        blood_gases: vec![
            BloodGas {
                fio2: 0.4,
                pao2_mmhg: 100.0,
                paco2_mmhg: None,
                at: Some(1),
                basis: None,
            },
            BloodGas {
                fio2: 0.5,
                pao2_mmhg: 70.0,
                paco2_mmhg: None,
                at: Some(2),
                basis: None,
            },
        ],
        respiratory_support: Some(true),
        mean_arterial_pressure: vec![t(75.0, 1), t(65.0, 2)],
        vasopressors: Some(VasopressorSeries {
            dopamine: vec![t(3.0, 1), t(8.0, 2), t(4.0, 3)],
            ..Default::default()
        }),
        creatinine_mg_dl: vec![t(1.0, 1), t(1.3, 2)],
        urine_output_ml_day: vec![t(1200.0, 1)],
        gcs: vec![t(15.0, 1), t(13.0, 2)],
        ..Default::default()
    };
    let s = sofa::score_worst(&series);
    assert_eq!(s.points(Component::Respiratory), Some(3)); // 140
    assert_eq!(s.points(Component::Cardiovascular), Some(3)); // dopamine 8
    assert_eq!(s.points(Component::Renal), Some(1));
    assert_eq!(s.points(Component::Neurologic), Some(1));
    assert_eq!(s.missing, vec![Component::Haematologic, Component::Hepatic]);
    // Bilirubin in µmol/L is converted: 34.2 µmol/L = 2.0 mg/dL → 2.
    let b = units::bilirubin_umol_l_to_mg_dl(34.2);
    assert_eq!(sofa::bands::bilirubin_mg_dl(b + 1e-9), 2);
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_shape() {
    let r = saps_ii::score(&saps_example());
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["score"], "saps_ii");
    assert_eq!(v["total"], 56);
    assert_eq!(v["complete"], true);
    assert!(v["predicted_mortality"].as_f64().unwrap() > 0.59);
    assert_eq!(v["components"][4]["component"], "pao2_fio2");
    assert_eq!(v["components"][4]["sources"][0]["variable"], "pao2_mmhg");

    let input: News2Input = serde_json::from_str(
        r#"{"respiratory_rate":{"value":26,"at":1700000000000,"basis":"nurse_validated"},
            "spo2_pct":{"value":97},"spo2_scale":"scale2","on_oxygen":true}"#,
    )
    .unwrap();
    let r = news2::score(&input);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["risk"], serde_json::Value::Null);
    // RR 26 → 3, SpO2 97 % on O2 (scale 2) → 3, oxygen → 2.
    assert_eq!(r.sheet.total, 8);
    assert_eq!(v["minimum_risk"], "high");
    assert_eq!(
        v["missing"],
        serde_json::json!([
            "systolic_blood_pressure",
            "heart_rate",
            "consciousness",
            "temperature"
        ])
    );
    assert_eq!(v["components"][0]["sources"][0]["basis"], "nurse_validated");
}
