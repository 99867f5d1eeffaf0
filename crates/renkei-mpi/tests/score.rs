use renkei_mpi::score::{Decision, Field, Level, MatchGrade, Scorer};
use renkei_mpi::{BirthDate, MatchKeys, PersonRecord, PreviousName, Sex};

fn base() -> PersonRecord {
    PersonRecord {
        record_id: "A".into(),
        facility_id: "F1".into(),
        family_kanji: "勅使河原".into(),
        given_kanji: "花子".into(),
        family_kana: "テシガワラ".into(),
        given_kana: "ハナコ".into(),
        birth_date: BirthDate::new(1950, 3, 2),
        sex: Sex::Female,
        phone: "0166-22-1234".into(),
        postal_code: "070-0031".into(),
        address: "北海道旭川市豊岡3条4丁目2番10号".into(),
        insurance_number: "01234567-12-345".into(),
        ..Default::default()
    }
}

fn score(a: &PersonRecord, b: &PersonRecord) -> renkei_mpi::score::MatchResult {
    Scorer::default().score(&MatchKeys::from(a), &MatchKeys::from(b))
}

#[test]
fn identical_records_auto_link_and_map_to_certain() {
    let r = score(&base(), &base());
    assert_eq!(r.decision, Decision::AutoLink);
    assert!(r.probability > 0.999);
    assert_eq!(r.match_grade(), MatchGrade::Certain);
    assert_eq!(r.match_grade().code(), "certain");
    assert!(r.fields.iter().all(|f| f.level == Level::Exact));
}

#[test]
fn more_agreement_gives_more_weight() {
    // Strip fields one by one from b: each step must not increase the weight.
    let a = base();
    let mut b = base();
    let mut last = score(&a, &b).weight;
    type Step = fn(&mut PersonRecord);
    let steps: [Step; 7] = [
        |r| r.insurance_number.clear(),
        |r| r.phone.clear(),
        |r| r.address = "北海道旭川市豊岡3条4丁目2番10号 ハイツ101".into(),
        |r| r.address.clear(),
        |r| r.family_kanji = "勅使河原".replace('原', "源"),
        |r| r.birth_date = BirthDate::new(1950, 3, 3),
        |r| r.birth_date = BirthDate::new(1961, 7, 9),
    ];
    for (i, step) in steps.iter().enumerate() {
        step(&mut b);
        let w = score(&a, &b).weight;
        assert!(w < last, "step {i}: {w} !< {last}");
        last = w;
    }
    // Each name level is weaker than the previous one.
    let levels = [
        ("勅使河原", "テシガワラ"),
        ("", "テシガワラ"),
        ("勅使川原", "テシガワラ"),
        ("勅使川原", "テシカワラ"),
        ("佐藤", "サトウ"),
    ];
    let mut last = f64::INFINITY;
    for (k, n) in levels {
        let mut b = base();
        b.family_kanji = k.into();
        b.family_kana = n.into();
        let w = score(&a, &b).field(Field::FamilyName).weight;
        assert!(w < last, "{k}/{n}: {w} !< {last}");
        last = w;
    }
}

#[test]
fn missing_values_weigh_zero_not_disagreement() {
    let a = base();
    let mut b = base();
    b.phone.clear();
    b.birth_date = None;
    b.sex = Sex::Unknown;
    let r = score(&a, &b);
    for f in [Field::Phone, Field::BirthDate, Field::Sex] {
        assert_eq!(r.field(f).level, Level::Missing);
        assert_eq!(r.field(f).weight, 0.0);
    }
}

#[test]
fn variant_spellings_still_auto_link() {
    let a = PersonRecord {
        family_kanji: "渡邊".into(),
        family_kana: "ﾜﾀﾅﾍﾞ".into(),
        given_kanji: "恵子".into(),
        given_kana: "けいこ".into(),
        ..base()
    };
    let b = PersonRecord {
        family_kanji: "渡辺".into(),
        family_kana: "ワタナベ".into(),
        given_kanji: "惠子".into(),
        given_kana: "ケーコ".into(),
        phone: "+81-166-22-1234".into(),
        address: "旭川市豊岡三条四丁目二番十号".into(),
        ..base()
    };
    let r = score(&a, &b);
    assert_eq!(r.field(Field::FamilyName).level, Level::Variant);
    assert_eq!(r.field(Field::GivenName).level, Level::Variant);
    assert_eq!(r.field(Field::Phone).level, Level::Exact);
    assert_eq!(r.field(Field::Address).level, Level::Exact);
    assert_eq!(r.decision, Decision::AutoLink);
}

#[test]
fn married_name_links_through_previous_name() {
    let maiden = PersonRecord {
        family_kanji: "勅使河原".into(),
        family_kana: "テシガワラ".into(),
        phone: String::new(),
        address: String::new(),
        insurance_number: String::new(),
        ..base()
    };
    let mut married = PersonRecord {
        family_kanji: "佐藤".into(),
        family_kana: "サトウ".into(),
        phone: String::new(),
        address: String::new(),
        insurance_number: String::new(),
        ..base()
    };
    let without = score(&maiden, &married);
    assert_eq!(without.field(Field::FamilyName).level, Level::Disagree);
    assert_ne!(without.decision, Decision::AutoLink);

    married.previous_family_names.push(PreviousName {
        kanji: "勅使河原".into(),
        kana: "てしがわら".into(),
    });
    let with = score(&maiden, &married);
    assert!(with.via_previous_name);
    assert_eq!(with.field(Field::FamilyName).level, Level::Exact);
    assert_eq!(with.decision, Decision::AutoLink);
    // Symmetric.
    assert_eq!(score(&married, &maiden).weight, with.weight);
}

#[test]
fn twins_are_not_auto_linked() {
    let a = PersonRecord {
        family_kanji: "佐藤".into(),
        family_kana: "サトウ".into(),
        given_kanji: "翔太".into(),
        given_kana: "ショウタ".into(),
        sex: Sex::Male,
        birth_date: BirthDate::new(2010, 6, 1),
        ..base()
    };
    let b = PersonRecord {
        given_kanji: "美咲".into(),
        given_kana: "ミサキ".into(),
        sex: Sex::Female,
        record_id: "B".into(),
        insurance_number: "01234567-12-346".into(),
        ..a.clone()
    };
    let r = score(&a, &b);
    assert_ne!(r.decision, Decision::AutoLink, "{r:?}");
    // Same-sex twins: given name alone differs.
    let c = PersonRecord {
        given_kanji: "健太".into(),
        given_kana: "ケンタ".into(),
        ..a.clone()
    };
    assert_ne!(score(&a, &c).decision, Decision::AutoLink);
    // The same child at two facilities does link.
    assert_eq!(score(&a, &a).decision, Decision::AutoLink);
}

#[test]
fn common_surname_weighs_less_than_rare_surname() {
    let with = |k: &str, n: &str| PersonRecord {
        family_kanji: k.into(),
        family_kana: n.into(),
        ..base()
    };
    let common = score(&with("佐藤", "サトウ"), &with("佐藤", "サトウ"));
    let rare = score(
        &with("勅使河原", "テシガワラ"),
        &with("勅使河原", "テシガワラ"),
    );
    let fw = |r: &renkei_mpi::score::MatchResult| r.field(Field::FamilyName).weight;
    assert!(
        fw(&common) + 2.0 < fw(&rare),
        "{} vs {}",
        fw(&common),
        fw(&rare)
    );
    // Fitted from data: a surname shared by half the records weighs about 1 bit.
    let mut scorer = Scorer::default();
    let recs: Vec<MatchKeys> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                MatchKeys::from(&with("佐藤", "サトウ"))
            } else {
                MatchKeys::from(&with(&format!("山{i}"), ""))
            }
        })
        .collect();
    scorer.fit_term_frequencies(&recs);
    let w = scorer
        .score(&recs[0], &recs[2])
        .field(Field::FamilyName)
        .weight;
    assert!((w - (0.8f64 / 0.5).log2()).abs() < 1e-9, "{w}");
}

#[test]
fn birth_date_levels() {
    let a = base();
    let level = |d| {
        let b = PersonRecord {
            birth_date: d,
            ..base()
        };
        score(&a, &b).field(Field::BirthDate).level
    };
    assert_eq!(level(BirthDate::new(1950, 3, 2)), Level::Exact);
    assert_eq!(level(BirthDate::new(1950, 8, 2)), Level::OneDigit);
    assert_eq!(
        level(BirthDate::new(1905, 3, 2)),
        Level::OneDigit,
        "adjacent swap"
    );
    assert_eq!(level(BirthDate::new(1950, 2, 3)), Level::DayMonthSwapped);
    assert_eq!(level(BirthDate::new(1972, 11, 30)), Level::Disagree);
}

#[test]
fn thresholds_are_configurable_and_grades_follow() {
    let scorer = Scorer::new(renkei_mpi::score::ScoreConfig {
        auto_link_weight: 1000.0,
        ..Default::default()
    });
    let k = MatchKeys::from(&base());
    let r = scorer.score(&k, &k);
    assert_eq!(r.decision, Decision::Review);
    assert_eq!(r.match_grade(), MatchGrade::Probable);
    assert_eq!(
        MatchGrade::from_decision(Decision::Review, 0.1),
        MatchGrade::Possible
    );
    assert_eq!(MatchGrade::CertainlyNot.code(), "certainly-not");
}

#[test]
fn sex_disagreement_goes_to_review_even_with_same_name_and_birth_date() {
    // Most likely a recording error, but one of the two records is wrong: a reviewer decides
    // (and corrects it) rather than an automatic merge.
    let mut b = base();
    b.sex = Sex::Male;
    b.insurance_number.clear();
    let r = score(&base(), &b);
    assert!(r.weight >= Scorer::default().config().auto_link_weight);
    assert_eq!(r.decision, Decision::Review);
}

#[test]
fn birth_date_typo_auto_links_only_next_to_the_same_given_name() {
    // Same name in kanji, same address and phone, birth date one digit off: a typing error.
    let mut b = base();
    b.insurance_number.clear();
    b.birth_date = BirthDate::new(1950, 3, 8);
    let r = score(&base(), &b);
    assert_eq!(r.field(Field::BirthDate).level, Level::OneDigit);
    assert_eq!(r.decision, Decision::AutoLink);
    // Given name agreeing only in kana (different kanji): no exact person-level field left.
    b.given_kanji = "華子".into();
    let r = score(&base(), &b);
    assert_eq!(r.field(Field::GivenName).level, Level::KanaExact);
    assert!(r.weight >= Scorer::default().config().auto_link_weight);
    assert_eq!(r.decision, Decision::Review);
    // … unless the insurance number agrees.
    b.insurance_number = base().insurance_number;
    assert_eq!(score(&base(), &b).decision, Decision::AutoLink);
}

#[test]
fn birth_date_typo_can_be_sent_to_review() {
    let scorer = Scorer::new(renkei_mpi::score::ScoreConfig {
        date_typo_auto_link: false,
        ..Default::default()
    });
    let mut b = base();
    b.insurance_number.clear();
    b.birth_date = BirthDate::new(1950, 2, 3);
    let r = scorer.score(&MatchKeys::from(&base()), &MatchKeys::from(&b));
    assert_eq!(r.field(Field::BirthDate).level, Level::DayMonthSwapped);
    assert_eq!(r.decision, Decision::Review);
    b.insurance_number = base().insurance_number;
    let r = scorer.score(&MatchKeys::from(&base()), &MatchKeys::from(&b));
    assert_eq!(r.decision, Decision::AutoLink);
}
