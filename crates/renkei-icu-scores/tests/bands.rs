//! Every band edge of every table in `tele-icu.md`, checked on both sides.
//!
//! `edges(f, δ, &[(edge, points_just_below, points_at_edge)])` asserts
//! f(edge) and f(edge − δ) and f(edge − δ/10) — the last two show that a
//! value just under a published lower bound stays in the band below
//! (half-open bands). `cases` lists explicit values such as the published
//! upper bound of a band (HR 109, 109.9).

use renkei_icu_scores::{apache_ii, mods, news2, saps_ii, sofa};

fn edges(name: &str, f: impl Fn(f64) -> u8, delta: f64, table: &[(f64, u8, u8)]) {
    for &(edge, below, at) in table {
        assert_eq!(f(edge), at, "{name}({edge}) at the edge");
        assert_eq!(f(edge - delta), below, "{name}({}) below", edge - delta);
        assert_eq!(
            f(edge - delta / 10.0),
            below,
            "{name}({}) just below",
            edge - delta / 10.0
        );
    }
}

/// Edges where the published bound is exclusive (">x"): x belongs to the
/// band below, anything above x to the band above.
fn edges_exclusive(name: &str, f: impl Fn(f64) -> u8, delta: f64, table: &[(f64, u8, u8)]) {
    for &(edge, at_or_below, above) in table {
        assert_eq!(f(edge), at_or_below, "{name}({edge}) at the edge");
        assert_eq!(f(edge + delta), above, "{name}({}) above", edge + delta);
        assert_eq!(
            f(edge + delta / 10.0),
            above,
            "{name}({}) just above",
            edge + delta / 10.0
        );
    }
}

fn cases(name: &str, f: impl Fn(f64) -> u8, table: &[(f64, u8)]) {
    for &(v, p) in table {
        assert_eq!(f(v), p, "{name}({v})");
    }
}

// ---------------------------------------------------------------- APACHE II

#[test]
fn apache_temperature() {
    use apache_ii::bands::temperature as f;
    edges(
        "temp",
        f,
        0.01,
        &[
            (41.0, 3, 4),
            (39.0, 1, 3),
            (38.5, 0, 1),
            (36.0, 1, 0),
            (34.0, 2, 1),
            (32.0, 3, 2),
            (30.0, 4, 3),
        ],
    );
    cases(
        "temp",
        f,
        &[
            (40.9, 3),
            (38.9, 1),
            (38.4, 0),
            (35.9, 1),
            (33.9, 2),
            (31.9, 3),
            (29.9, 4),
            (25.0, 4),
            (45.0, 4),
        ],
    );
}

#[test]
fn apache_map() {
    use apache_ii::bands::mean_arterial_pressure as f;
    edges(
        "map",
        f,
        0.01,
        &[
            (160.0, 3, 4),
            (130.0, 2, 3),
            (110.0, 0, 2),
            (70.0, 2, 0),
            (50.0, 4, 2),
        ],
    );
    cases(
        "map",
        f,
        &[
            (159.0, 3),
            (129.0, 2),
            (109.0, 0),
            (109.5, 0),
            (69.0, 2),
            (49.0, 4),
            (49.5, 4),
        ],
    );
}

#[test]
fn apache_heart_rate() {
    use apache_ii::bands::heart_rate as f;
    edges(
        "hr",
        f,
        0.01,
        &[
            (180.0, 3, 4),
            (140.0, 2, 3),
            (110.0, 0, 2),
            (70.0, 2, 0),
            (55.0, 3, 2),
            (40.0, 4, 3),
        ],
    );
    cases(
        "hr",
        f,
        &[
            (109.0, 0),
            (109.5, 0),
            (109.9, 0),
            (110.0, 2),
            (179.0, 3),
            (139.0, 2),
            (69.0, 2),
            (54.0, 3),
            (39.0, 4),
        ],
    );
}

#[test]
fn apache_respiratory_rate() {
    use apache_ii::bands::respiratory_rate as f;
    edges(
        "rr",
        f,
        0.01,
        &[
            (50.0, 3, 4),
            (35.0, 1, 3),
            (25.0, 0, 1),
            (12.0, 1, 0),
            (10.0, 2, 1),
            (6.0, 4, 2),
        ],
    );
    cases(
        "rr",
        f,
        &[
            (49.0, 3),
            (34.0, 1),
            (24.0, 0),
            (11.0, 1),
            (9.0, 2),
            (5.0, 4),
            (5.5, 4),
        ],
    );
}

#[test]
fn apache_a_a_do2_and_pao2() {
    edges(
        "a_a_do2",
        apache_ii::bands::a_a_do2,
        0.01,
        &[(500.0, 3, 4), (350.0, 2, 3), (200.0, 0, 2)],
    );
    cases(
        "a_a_do2",
        apache_ii::bands::a_a_do2,
        &[(499.0, 3), (349.0, 2), (199.0, 0), (-20.0, 0)],
    );
    // PaO2: ">70" is exclusive; 61–70 and 55–60 have inclusive lower bounds.
    edges_exclusive("pao2", apache_ii::bands::pao2, 0.01, &[(70.0, 1, 0)]);
    edges(
        "pao2",
        apache_ii::bands::pao2,
        0.01,
        &[(61.0, 3, 1), (55.0, 4, 3)],
    );
    cases(
        "pao2",
        apache_ii::bands::pao2,
        &[(71.0, 0), (60.0, 3), (60.5, 3), (54.0, 4)],
    );
}

#[test]
fn apache_ph_and_hco3() {
    edges(
        "ph",
        apache_ii::bands::arterial_ph,
        0.001,
        &[
            (7.7, 3, 4),
            (7.6, 1, 3),
            (7.5, 0, 1),
            (7.33, 2, 0),
            (7.25, 3, 2),
            (7.15, 4, 3),
        ],
    );
    cases(
        "ph",
        apache_ii::bands::arterial_ph,
        &[
            (7.69, 3),
            (7.59, 1),
            (7.49, 0),
            (7.32, 2),
            (7.24, 3),
            (7.14, 4),
        ],
    );
    edges(
        "hco3",
        apache_ii::bands::venous_hco3,
        0.01,
        &[
            (52.0, 3, 4),
            (41.0, 1, 3),
            (32.0, 0, 1),
            (22.0, 2, 0),
            (18.0, 3, 2),
            (15.0, 4, 3),
        ],
    );
    cases(
        "hco3",
        apache_ii::bands::venous_hco3,
        &[
            (51.9, 3),
            (40.9, 1),
            (31.9, 0),
            (21.9, 2),
            (17.9, 3),
            (14.9, 4),
        ],
    );
}

#[test]
fn apache_sodium_potassium() {
    edges(
        "na",
        apache_ii::bands::sodium,
        0.01,
        &[
            (180.0, 3, 4),
            (160.0, 2, 3),
            (155.0, 1, 2),
            (150.0, 0, 1),
            (130.0, 2, 0),
            (120.0, 3, 2),
            (111.0, 4, 3),
        ],
    );
    cases(
        "na",
        apache_ii::bands::sodium,
        &[
            (179.0, 3),
            (159.0, 2),
            (154.0, 1),
            (149.0, 0),
            (129.0, 2),
            (119.0, 3),
            (110.0, 4),
            (110.5, 4),
        ],
    );
    edges(
        "k",
        apache_ii::bands::potassium,
        0.01,
        &[
            (7.0, 3, 4),
            (6.0, 1, 3),
            (5.5, 0, 1),
            (3.5, 1, 0),
            (3.0, 2, 1),
            (2.5, 4, 2),
        ],
    );
    cases(
        "k",
        apache_ii::bands::potassium,
        &[(6.9, 3), (5.9, 1), (5.4, 0), (3.4, 1), (2.9, 2), (2.4, 4)],
    );
}

#[test]
fn apache_creatinine_both_units() {
    edges(
        "cr_mg",
        apache_ii::bands::creatinine_mg_dl,
        0.01,
        &[(3.5, 3, 4), (2.0, 2, 3), (1.5, 0, 2), (0.6, 2, 0)],
    );
    cases(
        "cr_mg",
        apache_ii::bands::creatinine_mg_dl,
        &[(3.4, 3), (1.9, 2), (1.4, 0), (0.5, 2)],
    );
    edges(
        "cr_umol",
        apache_ii::bands::creatinine_umol_l,
        0.01,
        &[(309.0, 3, 4), (178.0, 2, 3), (133.0, 0, 2), (53.0, 2, 0)],
    );
    cases(
        "cr_umol",
        apache_ii::bands::creatinine_umol_l,
        &[(308.0, 3), (177.0, 2), (132.0, 0), (52.0, 2)],
    );
}

#[test]
fn apache_haematocrit_wbc() {
    edges(
        "hct",
        apache_ii::bands::haematocrit,
        0.01,
        &[
            (60.0, 2, 4),
            (50.0, 1, 2),
            (46.0, 0, 1),
            (30.0, 2, 0),
            (20.0, 4, 2),
        ],
    );
    cases(
        "hct",
        apache_ii::bands::haematocrit,
        &[(59.9, 2), (49.9, 1), (45.9, 0), (29.9, 2), (19.9, 4)],
    );
    edges(
        "wbc",
        apache_ii::bands::wbc,
        0.01,
        &[
            (40.0, 2, 4),
            (20.0, 1, 2),
            (15.0, 0, 1),
            (3.0, 2, 0),
            (1.0, 4, 2),
        ],
    );
    cases(
        "wbc",
        apache_ii::bands::wbc,
        &[(39.9, 2), (19.9, 1), (14.9, 0), (2.9, 2), (0.9, 4)],
    );
}

#[test]
fn apache_age_and_gcs() {
    edges(
        "age",
        apache_ii::bands::age,
        0.01,
        &[(45.0, 0, 2), (55.0, 2, 3), (65.0, 3, 5), (75.0, 5, 6)],
    );
    cases(
        "age",
        apache_ii::bands::age,
        &[(44.0, 0), (54.0, 2), (64.0, 3), (74.0, 5), (100.0, 6)],
    );
    for g in 3..=15 {
        assert_eq!(apache_ii::bands::gcs(f64::from(g)), 15 - g as u8);
    }
}

#[test]
fn apache_chronic_health_points() {
    use apache_ii::ChronicHealth::*;
    assert_eq!(Absent.points(), 0);
    assert_eq!(NonOperative.points(), 5);
    assert_eq!(EmergencyPostoperative.points(), 5);
    assert_eq!(ElectivePostoperative.points(), 2);
}

// ---------------------------------------------------------------- SAPS II

#[test]
fn saps_age_hr_sbp_temp() {
    use saps_ii::bands::*;
    edges(
        "age",
        age,
        0.01,
        &[
            (40.0, 0, 7),
            (60.0, 7, 12),
            (70.0, 12, 15),
            (75.0, 15, 16),
            (80.0, 16, 18),
        ],
    );
    cases(
        "age",
        age,
        &[(39.0, 0), (59.0, 7), (69.0, 12), (74.0, 15), (79.0, 16)],
    );
    edges(
        "hr",
        heart_rate,
        0.01,
        &[(40.0, 11, 2), (70.0, 2, 0), (120.0, 0, 4), (160.0, 4, 7)],
    );
    cases(
        "hr",
        heart_rate,
        &[(39.0, 11), (69.0, 2), (119.0, 0), (119.5, 0), (159.0, 4)],
    );
    edges(
        "sbp",
        systolic_bp,
        0.01,
        &[(70.0, 13, 5), (100.0, 5, 0), (200.0, 0, 2)],
    );
    cases("sbp", systolic_bp, &[(69.0, 13), (99.0, 5), (199.0, 0)]);
    edges("temp", temperature, 0.01, &[(39.0, 0, 3)]);
    cases("temp", temperature, &[(35.0, 0), (38.9, 0), (41.0, 3)]);
}

#[test]
fn saps_pf_urine_urea() {
    use saps_ii::bands::*;
    edges("pf", pao2_fio2, 0.01, &[(100.0, 11, 9), (200.0, 9, 6)]);
    cases("pf", pao2_fio2, &[(99.0, 11), (199.0, 9), (450.0, 6)]);
    edges("urine", urine_output, 0.001, &[(0.5, 11, 4), (1.0, 4, 0)]);
    cases("urine", urine_output, &[(0.499, 11), (0.999, 4), (3.0, 0)]);
    edges("bun", bun_mg_dl, 0.01, &[(28.0, 0, 6), (84.0, 6, 10)]);
    cases("bun", bun_mg_dl, &[(27.0, 0), (83.0, 6), (83.5, 6)]);
    edges("urea", urea_mmol_l, 0.01, &[(10.0, 0, 6), (30.0, 6, 10)]);
    cases("urea", urea_mmol_l, &[(9.9, 0), (29.9, 6)]);
}

#[test]
fn saps_labs() {
    use saps_ii::bands::*;
    edges("wbc", wbc, 0.01, &[(1.0, 12, 0), (20.0, 0, 3)]);
    cases("wbc", wbc, &[(0.9, 12), (19.9, 0)]);
    edges("k", potassium, 0.01, &[(3.0, 3, 0), (5.0, 0, 3)]);
    cases("k", potassium, &[(2.9, 3), (4.9, 0)]);
    edges("na", sodium, 0.01, &[(125.0, 5, 0), (145.0, 0, 1)]);
    cases("na", sodium, &[(124.0, 5), (144.0, 0), (144.5, 0)]);
    edges("hco3", bicarbonate, 0.01, &[(15.0, 6, 3), (20.0, 3, 0)]);
    cases("hco3", bicarbonate, &[(14.0, 6), (19.0, 3), (19.5, 3)]);
    edges(
        "bili_mg",
        bilirubin_mg_dl,
        0.01,
        &[(4.0, 0, 4), (6.0, 4, 9)],
    );
    cases("bili_mg", bilirubin_mg_dl, &[(3.9, 0), (5.9, 4)]);
    edges(
        "bili_umol",
        bilirubin_umol_l,
        0.01,
        &[(68.4, 0, 4), (102.6, 4, 9)],
    );
}

#[test]
fn saps_gcs_and_categories() {
    use saps_ii::bands::gcs;
    let expected = [
        (3, 26),
        (5, 26),
        (6, 13),
        (8, 13),
        (9, 7),
        (10, 7),
        (11, 5),
        (13, 5),
        (14, 0),
        (15, 0),
    ];
    for (g, p) in expected {
        assert_eq!(gcs(f64::from(g)), p, "gcs {g}");
    }
    use saps_ii::{AdmissionType as A, ChronicDisease as C};
    assert_eq!(
        [
            C::Absent,
            C::MetastaticCancer,
            C::HaematologicMalignancy,
            C::Aids
        ]
        .map(C::points),
        [0, 9, 10, 17]
    );
    assert_eq!(
        [A::ScheduledSurgical, A::Medical, A::UnscheduledSurgical].map(A::points),
        [0, 6, 8]
    );
}

// ---------------------------------------------------------------- NEWS2

#[test]
fn news2_rr_sbp_pulse_temp() {
    use news2::bands::*;
    edges(
        "rr",
        respiratory_rate,
        0.01,
        &[(9.0, 3, 1), (12.0, 1, 0), (21.0, 0, 2), (25.0, 2, 3)],
    );
    cases(
        "rr",
        respiratory_rate,
        &[(8.0, 3), (8.5, 3), (11.0, 1), (20.0, 0), (24.0, 2)],
    );
    edges(
        "sbp",
        systolic_bp,
        0.01,
        &[(91.0, 3, 2), (101.0, 2, 1), (111.0, 1, 0), (220.0, 0, 3)],
    );
    cases(
        "sbp",
        systolic_bp,
        &[(90.0, 3), (100.0, 2), (110.0, 1), (219.0, 0)],
    );
    edges(
        "pulse",
        pulse,
        0.01,
        &[
            (41.0, 3, 1),
            (51.0, 1, 0),
            (91.0, 0, 1),
            (111.0, 1, 2),
            (131.0, 2, 3),
        ],
    );
    cases(
        "pulse",
        pulse,
        &[(40.0, 3), (50.0, 1), (90.0, 0), (110.0, 1), (130.0, 2)],
    );
    edges(
        "temp",
        temperature,
        0.01,
        &[(35.1, 3, 1), (36.1, 1, 0), (38.1, 0, 1), (39.1, 1, 2)],
    );
    cases(
        "temp",
        temperature,
        &[(35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (36.05, 1)],
    );
}

#[test]
fn news2_spo2_scales() {
    use news2::bands::*;
    edges(
        "spo2_1",
        spo2_scale1,
        0.01,
        &[(92.0, 3, 2), (94.0, 2, 1), (96.0, 1, 0)],
    );
    cases(
        "spo2_1",
        spo2_scale1,
        &[(91.0, 3), (93.0, 2), (95.0, 1), (100.0, 0)],
    );
    let on_o2 = |s| spo2_scale2(s, true);
    let on_air = |s| spo2_scale2(s, false);
    edges(
        "spo2_2_o2",
        on_o2,
        0.01,
        &[
            (84.0, 3, 2),
            (86.0, 2, 1),
            (88.0, 1, 0),
            (93.0, 0, 1),
            (95.0, 1, 2),
            (97.0, 2, 3),
        ],
    );
    cases(
        "spo2_2_o2",
        on_o2,
        &[
            (83.0, 3),
            (85.0, 2),
            (87.0, 1),
            (92.0, 0),
            (94.0, 1),
            (96.0, 2),
            (100.0, 3),
        ],
    );
    edges(
        "spo2_2_air",
        on_air,
        0.01,
        &[
            (84.0, 3, 2),
            (86.0, 2, 1),
            (88.0, 1, 0),
            (93.0, 0, 0),
            (97.0, 0, 0),
        ],
    );
    cases("spo2_2_air", on_air, &[(83.0, 3), (92.0, 0), (100.0, 0)]);
    assert_eq!(air_or_oxygen(true), 2);
    assert_eq!(air_or_oxygen(false), 0);
    use news2::Acvpu::*;
    assert_eq!(
        [Alert, NewConfusion, Voice, Pain, Unresponsive].map(news2::Acvpu::points),
        [0, 3, 3, 3, 3]
    );
}

#[test]
fn news2_risk_bands() {
    use news2::{risk, News2Risk::*};
    assert_eq!(risk(0, false), Low);
    assert_eq!(risk(4, false), Low);
    assert_eq!(risk(3, true), LowMedium);
    assert_eq!(risk(4, true), LowMedium);
    assert_eq!(risk(5, false), Medium);
    assert_eq!(risk(6, true), Medium);
    assert_eq!(risk(7, false), High);
    assert_eq!(risk(20, true), High);
}

// ---------------------------------------------------------------- MODS

#[test]
fn mods_tables() {
    use mods::bands::*;
    edges_exclusive("pf", pao2_fio2, 0.01, &[(300.0, 1, 0)]);
    edges(
        "pf",
        pao2_fio2,
        0.01,
        &[(226.0, 2, 1), (151.0, 3, 2), (76.0, 4, 3)],
    );
    cases(
        "pf",
        pao2_fio2,
        &[(301.0, 0), (225.0, 2), (150.0, 3), (75.0, 4), (75.5, 4)],
    );

    edges(
        "cr",
        creatinine_umol_l,
        0.01,
        &[(101.0, 0, 1), (201.0, 1, 2), (351.0, 2, 3)],
    );
    edges_exclusive("cr", creatinine_umol_l, 0.01, &[(500.0, 3, 4)]);
    cases(
        "cr",
        creatinine_umol_l,
        &[(100.0, 0), (100.5, 0), (200.0, 1), (350.0, 2), (501.0, 4)],
    );

    edges(
        "bili",
        bilirubin_umol_l,
        0.01,
        &[(21.0, 0, 1), (61.0, 1, 2), (121.0, 2, 3)],
    );
    edges_exclusive("bili", bilirubin_umol_l, 0.01, &[(240.0, 3, 4)]);
    cases(
        "bili",
        bilirubin_umol_l,
        &[(20.0, 0), (60.0, 1), (120.0, 2), (241.0, 4)],
    );

    edges(
        "par",
        pressure_adjusted_heart_rate,
        0.01,
        &[(10.1, 0, 1), (15.1, 1, 2), (20.1, 2, 3)],
    );
    edges_exclusive("par", pressure_adjusted_heart_rate, 0.01, &[(30.0, 3, 4)]);
    cases(
        "par",
        pressure_adjusted_heart_rate,
        &[(10.0, 0), (15.0, 1), (20.0, 2), (30.1, 4)],
    );

    edges_exclusive("plt", platelets, 0.01, &[(120.0, 1, 0)]);
    edges(
        "plt",
        platelets,
        0.01,
        &[(81.0, 2, 1), (51.0, 3, 2), (21.0, 4, 3)],
    );
    cases(
        "plt",
        platelets,
        &[(121.0, 0), (80.0, 2), (50.0, 3), (20.0, 4)],
    );

    let expected = [
        (3, 4),
        (6, 4),
        (7, 3),
        (9, 3),
        (10, 2),
        (12, 2),
        (13, 1),
        (14, 1),
        (15, 0),
    ];
    for (g, p) in expected {
        assert_eq!(gcs(f64::from(g)), p, "gcs {g}");
    }
}

// ---------------------------------------------------------------- SOFA

#[test]
fn sofa_respiratory() {
    let with = |pf| sofa::bands::respiratory(pf, true);
    let without = |pf| sofa::bands::respiratory(pf, false);
    edges(
        "pf_support",
        with,
        0.01,
        &[(400.0, 1, 0), (300.0, 2, 1), (200.0, 3, 2), (100.0, 4, 3)],
    );
    // Without respiratory support the points stop at 2.
    edges(
        "pf_no_support",
        without,
        0.01,
        &[(400.0, 1, 0), (300.0, 2, 1), (200.0, 2, 2), (100.0, 2, 2)],
    );
    cases("pf_no_support", without, &[(50.0, 2)]);
}

#[test]
fn sofa_tables() {
    use sofa::bands::*;
    edges(
        "plt",
        platelets,
        0.01,
        &[(150.0, 1, 0), (100.0, 2, 1), (50.0, 3, 2), (20.0, 4, 3)],
    );
    edges(
        "bili",
        bilirubin_mg_dl,
        0.01,
        &[(1.2, 0, 1), (2.0, 1, 2), (6.0, 2, 3), (12.0, 3, 4)],
    );
    cases("bili", bilirubin_mg_dl, &[(1.9, 1), (5.9, 2), (11.9, 3)]);
    edges("map", mean_arterial_pressure, 0.01, &[(70.0, 1, 0)]);
    edges(
        "cr",
        creatinine_mg_dl,
        0.01,
        &[(1.2, 0, 1), (2.0, 1, 2), (3.5, 2, 3), (5.0, 3, 4)],
    );
    cases("cr", creatinine_mg_dl, &[(1.9, 1), (3.4, 2), (4.9, 3)]);
    edges(
        "urine",
        urine_output_ml_day,
        0.01,
        &[(200.0, 4, 3), (500.0, 3, 0)],
    );
    let expected = [
        (3, 4),
        (5, 4),
        (6, 3),
        (9, 3),
        (10, 2),
        (12, 2),
        (13, 1),
        (14, 1),
        (15, 0),
    ];
    for (g, p) in expected {
        assert_eq!(gcs(f64::from(g)), p, "gcs {g}");
    }
}

#[test]
fn sofa_vasoactive() {
    use sofa::bands::vasoactive as v;
    // (dopamine, dobutamine, epinephrine, norepinephrine) → points
    let table = [
        ((0.0, 0.0, 0.0, 0.0), 0),
        ((0.5, 0.0, 0.0, 0.0), 2),
        ((5.0, 0.0, 0.0, 0.0), 2),
        ((5.01, 0.0, 0.0, 0.0), 3),
        ((15.0, 0.0, 0.0, 0.0), 3),
        ((15.01, 0.0, 0.0, 0.0), 4),
        ((0.0, 2.0, 0.0, 0.0), 2),
        ((0.0, 20.0, 0.0, 0.0), 2),
        ((0.0, 0.0, 0.01, 0.0), 3),
        ((0.0, 0.0, 0.1, 0.0), 3),
        ((0.0, 0.0, 0.11, 0.0), 4),
        ((0.0, 0.0, 0.0, 0.05), 3),
        ((0.0, 0.0, 0.0, 0.1), 3),
        ((0.0, 0.0, 0.0, 0.101), 4),
        ((3.0, 5.0, 0.0, 0.08), 3),
    ];
    for ((dopa, dobu, epi, ne), p) in table {
        assert_eq!(
            v(dopa, dobu, epi, ne),
            p,
            "dopa {dopa} dobu {dobu} epi {epi} ne {ne}"
        );
    }
}
