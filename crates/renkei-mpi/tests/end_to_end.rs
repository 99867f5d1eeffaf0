use renkei_mpi::blocking::BlockingConfig;
use renkei_mpi::score::Scorer;
use renkei_mpi::synth::{evaluate, generate, pairwise_metrics, read_csv, write_csv, SynthConfig};

#[test]
fn generated_population_links_with_f1_above_095() {
    let records = generate(&SynthConfig {
        records: 3000,
        seed: 2024,
        ..Default::default()
    });
    assert_eq!(records.len(), 3000);
    let report = evaluate(&records, &BlockingConfig::default(), &Scorer::default());
    eprintln!("{}", report.to_json());
    assert!(
        report.metrics.true_pairs > 1000,
        "population has duplicates"
    );
    assert!(report.metrics.f1 >= 0.95, "{}", report.to_json());
    assert!(report.metrics.precision >= 0.98, "{}", report.to_json());
    assert!(report.blocking_recall >= 0.97, "{}", report.to_json());
}

#[test]
fn generator_is_deterministic_and_csv_round_trips() {
    let cfg = SynthConfig {
        records: 500,
        seed: 9,
        ..Default::default()
    };
    let a = generate(&cfg);
    assert_eq!(a, generate(&cfg));
    assert_ne!(
        a,
        generate(&SynthConfig {
            seed: 10,
            ..cfg.clone()
        })
    );
    let mut buf = Vec::new();
    write_csv(&mut buf, &a).unwrap();
    let text = String::from_utf8(buf.clone()).unwrap();
    assert!(text.starts_with("record_id,person_id,facility_id,family_kanji"));
    let b = read_csv(buf.as_slice()).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.person_id, y.person_id);
        assert_eq!(x.record.family_kanji, y.record.family_kanji);
        assert_eq!(x.record.birth_date, y.record.birth_date);
        assert_eq!(
            x.record.previous_family_names,
            y.record.previous_family_names
        );
    }
}

#[test]
fn noise_is_present_in_generated_records() {
    let recs = generate(&SynthConfig {
        records: 3000,
        seed: 1,
        ..Default::default()
    });
    let any = |f: &dyn Fn(&renkei_mpi::PersonRecord) -> bool| recs.iter().any(|r| f(&r.record));
    assert!(any(
        &|r| r.family_kanji.contains('邊') || r.family_kanji.contains('髙')
    ));
    assert!(any(&|r| r
        .family_kana
        .chars()
        .any(|c| ('ｦ'..='ﾟ').contains(&c))));
    assert!(any(&|r| r
        .given_kana
        .chars()
        .any(|c| ('ぁ'..='ゖ').contains(&c))));
    assert!(any(&|r| !r.previous_family_names.is_empty()));
    assert!(any(&|r| r.phone.contains('０')));
    assert!(any(&|r| r.address.contains("丁目")));
    assert!(recs.iter().any(|r| r.birth_date_text.starts_with("昭和")));
}

#[test]
fn pairwise_metrics_count_pairs() {
    // Truth: {0,1,2} {3}; predicted: {0,1} {2,3}.
    let m = pairwise_metrics(&[7, 7, 7, 8], &[0, 0, 2, 2]);
    assert_eq!(
        (m.true_pairs, m.predicted_pairs, m.true_positives),
        (3, 2, 1)
    );
    assert!((m.precision - 0.5).abs() < 1e-12);
    assert!((m.recall - 1.0 / 3.0).abs() < 1e-12);
}
