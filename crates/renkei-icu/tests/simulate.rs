//! Every simulated message parses back to exactly what the simulator meant to send.

use renkei_icu::simulate::{
    Scenario, ScenarioChoice, SimConfig, SimMessage, SimMessageKind, Simulator,
};
use renkei_icu::{parse_text, BedEventKind, Catalogue, CodeMap, Inbound, MessageForm, ProblemKind};
use std::collections::HashMap;

const START: i64 = 1_710_464_400_000; // 2024-03-15 10:00 JST
const MINUTE: i64 = 60_000;

fn config() -> SimConfig {
    SimConfig {
        beds: 8,
        seed: 42,
        scenario: ScenarioChoice::Mix,
        facilities: vec![
            "F00001".into(),
            "F00002".into(),
            "F00003".into(),
            "F00004".into(),
        ],
        bed_prefix: "BED-".into(),
        start: START,
        ..SimConfig::default()
    }
}

fn run(sim: &mut Simulator, minutes: i64) -> Vec<SimMessage> {
    (0..minutes)
        .flat_map(|m| sim.tick_detailed(START + m * MINUTE))
        .collect()
}

#[test]
fn every_message_round_trips() {
    let cat = Catalogue::builtin();
    let codes = CodeMap::defaults();
    let mut sim = Simulator::new(config());
    let beds: Vec<_> = sim.beds().into_iter().cloned().collect();
    // Two hospitals each form, blocks of two beds, numbered per hospital.
    assert_eq!(
        beds.iter()
            .map(|b| (b.facility.as_str(), b.bed.as_str()))
            .collect::<Vec<_>>(),
        [
            ("F00001", "BED-001"),
            ("F00001", "BED-002"),
            ("F00002", "BED-001"),
            ("F00002", "BED-002"),
            ("F00003", "BED-001"),
            ("F00003", "BED-002"),
            ("F00004", "BED-001"),
            ("F00004", "BED-002"),
        ]
    );
    assert_eq!(beds[0].form, MessageForm::Pcd01);
    assert_eq!(beds[2].form, MessageForm::NihonKohden);
    assert!(beds[4].mdil_codes && !beds[0].mdil_codes);
    assert_eq!(beds[1].scenario, Scenario::Sepsis);
    assert_eq!(beds[2].scenario, Scenario::Respiratory);
    assert_eq!(beds[5].scenario, Scenario::Respiratory);
    assert_eq!(beds[6].scenario, Scenario::Sepsis);
    assert!(beds.iter().all(|b| b.patient_id.starts_with("SIM")));

    let messages = run(&mut sim, 12 * 60);
    let mut admitted = HashMap::new();
    let mut silent_minutes = 0;
    let mut per_minute: HashMap<i64, usize> = HashMap::new();
    let mut impossible = 0;
    let mut loose_probe = 0;
    for m in &messages {
        let bed = &beds[m.bed];
        let parsed = parse_text(&m.text, &cat, &codes)
            .unwrap_or_else(|e| panic!("{e}\n{}", m.text.replace('\r', "\n")));
        match (m.kind, parsed) {
            (SimMessageKind::Admit, Inbound::Bed(e)) => {
                assert_eq!(e.kind, BedEventKind::Admit);
                assert_eq!(e.control_id, m.control_id);
                assert_eq!(e.sending_facility, bed.facility);
                assert_eq!(e.patient_ids[0].id, bed.patient_id);
                assert_eq!(e.location.unwrap().bed, bed.bed);
                let name = e.name.unwrap();
                assert_eq!(
                    (name.family.as_str(), name.given.as_str()),
                    (bed.family.as_str(), bed.given.as_str())
                );
                assert_eq!(name.family_kana.as_deref(), Some(bed.family_kana.as_str()));
                assert_eq!(e.at, Some(m.at));
                assert!(admitted.insert(m.bed, m.at).is_none(), "admitted twice");
            }
            (SimMessageKind::Observations, Inbound::Observations(o)) => {
                assert!(
                    admitted.contains_key(&m.bed),
                    "observations before admission"
                );
                *per_minute.entry(m.at).or_default() += 1;
                assert_eq!(o.form, bed.form);
                assert_eq!(o.control_id, m.control_id);
                assert_eq!(o.sending_facility, bed.facility);
                assert_eq!(o.location.unwrap().bed, bed.bed);
                assert_eq!(o.patient_ids[0].id, bed.patient_id);
                let got: Vec<(&str, f64)> = o
                    .readings
                    .iter()
                    .map(|r| (r.item.as_str(), r.value))
                    .collect();
                assert_eq!(got.len(), m.values.len(), "{}", m.text.replace('\r', "\n"));
                for ((gi, gv), (wi, wv)) in got.iter().zip(&m.values) {
                    assert_eq!(gi, wi);
                    assert!((gv - wv).abs() < 1e-9, "{gi}: {gv} vs {wv}");
                }
                assert!(o.readings.iter().all(|r| r.at == m.at));
                assert_eq!(o.problems.len(), m.impossible.len(), "{:?}", o.problems);
                for p in &o.problems {
                    assert!(
                        matches!(p.kind, ProblemKind::ImpossibleValue { .. }),
                        "{p:?}"
                    );
                }
                impossible += m.impossible.len();
                loose_probe += m.values.iter().filter(|v| *v == &("spo2", 40.0)).count();
            }
            (kind, other) => panic!("{kind:?} parsed as {other:?}"),
        }
    }
    assert_eq!(admitted.len(), 8);
    for minute in 0..12 * 60 {
        silent_minutes += 8 - per_minute
            .get(&(START + minute * MINUTE))
            .copied()
            .unwrap_or(0);
    }
    // Artefacts, faults and dropouts all happen in twelve hours of eight beds.
    assert!(impossible > 0, "no impossible values");
    assert!(loose_probe > 0, "no loose probe");
    assert!(silent_minutes > 0, "no dropouts");
    assert!(
        silent_minutes < 8 * 12 * 60 / 10,
        "too many dropouts: {silent_minutes}"
    );
}

fn mean_of(messages: &[SimMessage], bed: usize, item: &str, from: i64, to: i64) -> f64 {
    let values: Vec<f64> = messages
        .iter()
        .filter(|m| m.bed == bed && m.at >= START + from * MINUTE && m.at < START + to * MINUTE)
        .flat_map(|m| m.values.iter().filter(|(i, _)| *i == item).map(|(_, v)| *v))
        .collect();
    assert!(!values.is_empty(), "no {item} for bed {bed}");
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn scenarios_deteriorate_over_about_an_hour() {
    let mut sim = Simulator::new(SimConfig {
        artefacts: false,
        ..config()
    });
    let messages = run(&mut sim, 120);
    // Bed 1: sepsis. Bed 2: respiratory failure (NK form, no FiO2); bed 5: the same on PCD-01.
    assert!(mean_of(&messages, 1, "hr", 90, 120) > mean_of(&messages, 1, "hr", 0, 10) + 30.0);
    assert!(mean_of(&messages, 1, "temp", 90, 120) > mean_of(&messages, 1, "temp", 0, 10) + 1.5);
    assert!(mean_of(&messages, 1, "map", 90, 120) < mean_of(&messages, 1, "map", 0, 10) - 15.0);
    assert!(mean_of(&messages, 1, "rr", 90, 120) > mean_of(&messages, 1, "rr", 0, 10) + 8.0);
    assert!(mean_of(&messages, 2, "spo2", 90, 120) < mean_of(&messages, 2, "spo2", 0, 10) - 7.0);
    assert!(mean_of(&messages, 5, "fio2", 90, 120) > mean_of(&messages, 5, "fio2", 0, 10) + 0.3);
    // A stable bed stays put.
    let (early, late) = (
        mean_of(&messages, 0, "hr", 0, 30),
        mean_of(&messages, 0, "hr", 90, 120),
    );
    assert!((early - late).abs() < 8.0, "{early} → {late}");
}

#[test]
fn deterministic_for_a_seed() {
    let texts = |seed: u64| -> Vec<String> {
        let mut sim = Simulator::new(SimConfig { seed, ..config() });
        (0..30)
            .flat_map(|s| sim.tick(START + s * 1000))
            .map(|(_, t)| t)
            .collect()
    };
    assert_eq!(texts(7), texts(7));
    assert_ne!(texts(7), texts(8));
    // Different starts give different control IDs (no false duplicates across runs).
    let mut a = Simulator::new(config());
    let mut b = Simulator::new(SimConfig {
        start: START + 1000,
        ..config()
    });
    assert_ne!(
        a.tick_detailed(START)[0].control_id,
        b.tick_detailed(START)[0].control_id
    );
}

#[test]
fn single_scenario_and_options() {
    let mut sim = Simulator::new(SimConfig {
        beds: 3,
        scenario: ScenarioChoice::All(Scenario::Respiratory),
        facilities: vec!["H1".into()],
        bed_prefix: "ICU-".into(),
        admit: false,
        processing_id: "T".into(),
        ..config()
    });
    assert!(sim
        .beds()
        .iter()
        .all(|b| b.scenario == Scenario::Respiratory && b.facility == "H1"));
    assert_eq!(sim.beds()[2].bed, "ICU-003");
    let first = sim.tick_detailed(START);
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|m| m.kind == SimMessageKind::Observations));
    assert!(first[0].text.contains("|ORU^R01^ORU_R01|") && first[0].text.contains("|T|2.6|"));
}
