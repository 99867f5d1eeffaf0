//! Registration through the patient index, end to end on a real store: validation, automatic
//! linking across facilities despite typing variants, the review queue for borderline
//! pairs, twins kept apart, duplicate local IDs refused, and stable stored block keys.
//!
//! Runs on SQLite always and on PostgreSQL when `RENKEI_TEST_POSTGRES_URL` is set.

use renkei_core::patients::{self, LinkOutcome, RegistrationInput};
use renkei_core::ServiceError;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::{CareLevel, Sex};
use renkei_domain::text::Problem;
use renkei_domain::{ids, FacilityStatus, FacilityType, Profession};
use renkei_storage::{AuditQuery, Facility, NewFacility, Store};
use renkei_storage_sql::{PostgresStore, SqliteStore};

/// 2025-06-01 12:00 JST.
const NOW: i64 = 1_748_746_800_000;

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("renkei-core-test-{}", ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn sqlite() -> SqliteStore {
    SqliteStore::open(&tempdir().join("renkei.db"), 4)
        .await
        .unwrap()
}

async fn postgres() -> Option<PostgresStore> {
    let Ok(url) = std::env::var("RENKEI_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI must test PostgreSQL: set RENKEI_TEST_POSTGRES_URL");
        }
        eprintln!("RENKEI_TEST_POSTGRES_URL not set: PostgreSQL not checked here");
        return None;
    };
    let name = format!("renkei_test_{}", ids::new_id());
    let db_url = renkei_storage_sql::create_postgres_database(&url, &name)
        .await
        .expect("create a test database on RENKEI_TEST_POSTGRES_URL");
    Some(PostgresStore::connect(&db_url, 8).await.unwrap())
}

fn facility_value(official_id: &str) -> Facility {
    Facility {
        id: ids::new_id(),
        code: Some("F00001".into()),
        facility_type: FacilityType::Clinic,
        status: FacilityStatus::Active,
        status_reason: None,
        legal_entity: "医療法人 テスト会".into(),
        name: "テスト医院".into(),
        name_kana: "テストイイン".into(),
        official_id: official_id.into(),
        postal_code: "053-0011".into(),
        address: "北海道苫小牧市末広町1丁目2-3".into(),
        area: "末広町".into(),
        tel: "0144-32-0000".into(),
        fax: String::new(),
        email: "office@example.jp".into(),
        applicant_name: "申請 太郎".into(),
        applicant_email: "a@example.jp".into(),
        admin_name: "管理 花子".into(),
        admin_login_id: "admin".into(),
        admin_email: "admin@example.jp".into(),
        professions: vec![Profession::Physician],
        applied_at: NOW,
        decided_at: Some(NOW),
        updated_at: NOW,
    }
}

async fn facility(store: &dyn Store, name: &str, official_id: &str) -> Facility {
    store
        .create_facility(
            NewFacility {
                id: ids::new_id(),
                facility_type: FacilityType::Clinic,
                legal_entity: "医療法人 テスト会".into(),
                name: name.into(),
                name_kana: "テスト".into(),
                official_id: official_id.into(),
                postal_code: "053-0011".into(),
                address: "北海道苫小牧市末広町1丁目2-3".into(),
                area: "末広町".into(),
                tel: "0144-32-0000".into(),
                fax: String::new(),
                email: "office@example.jp".into(),
                applicant_name: "申請 太郎".into(),
                applicant_email: "a@example.jp".into(),
                admin_name: "管理 花子".into(),
                admin_login_id: format!("admin-{}", &ids::new_id()[..8]),
                admin_email: "admin@example.jp".into(),
                professions: vec![Profession::Physician],
                applied_at: NOW,
            },
            AuditEntry::new("facility.apply", Outcome::Success),
        )
        .await
        .unwrap()
}

/// 渡邊 花子 as the first facility typed her.
fn hanako(local_id: &str) -> RegistrationInput {
    RegistrationInput {
        local_id: local_id.into(),
        family_kanji: "渡邊".into(),
        given_kanji: "花子".into(),
        family_kana: "ワタナベ".into(),
        given_kana: "ハナコ".into(),
        birth_date: "1940-04-01".into(),
        sex: "female".into(),
        postal_code: "053-0011".into(),
        address: "北海道苫小牧市末広町1丁目2-3".into(),
        phone: "0144-32-1234".into(),
        insurance_number: "12345678".into(),
        care_level: "care2".into(),
        ..Default::default()
    }
}

fn fields(errors: &[renkei_domain::text::FieldError]) -> Vec<(&'static str, Problem)> {
    errors.iter().map(|e| (e.field, e.problem)).collect()
}

#[test]
fn validate_reports_every_problem_at_once() {
    let f = facility_value("0112345678");
    let bad = RegistrationInput {
        local_id: "P 1".into(),
        family_kanji: "".into(),
        given_kanji: "  ".into(),
        family_kana: "Watanabe".into(),
        given_kana: "ハナコ1".into(),
        birth_date: "2023-02-30".into(),
        sex: "woman".into(),
        care_level: "care9".into(),
        ..Default::default()
    };
    let errors = patients::validate(&f, &bad, "u", false, NOW).unwrap_err();
    let got = fields(&errors);
    for expected in [
        ("family_kanji", Problem::Required),
        ("given_kanji", Problem::Required),
        ("family_kana", Problem::NotKana),
        ("given_kana", Problem::NotKana),
        ("birth_date", Problem::NotDate),
        ("sex", Problem::UnknownChoice),
        ("care_level", Problem::UnknownChoice),
        ("local_id", Problem::NotIdentifier),
    ] {
        assert!(got.contains(&expected), "{expected:?} missing from {got:?}");
    }
    assert_eq!(got.len(), 8, "{got:?}");

    // Impossible birth dates, one at a time.
    for (date, problem) in [
        ("2030-01-01", Problem::ImpossibleDate),
        ("2025-06-02", Problem::ImpossibleDate),
        ("1850-01-01", Problem::ImpossibleDate),
        ("1879-12-31", Problem::ImpossibleDate),
        ("2023-02-30", Problem::NotDate),
        ("2023-13-01", Problem::NotDate),
        ("1940/04/01", Problem::NotDate),
        ("", Problem::Required),
    ] {
        let input = RegistrationInput {
            birth_date: date.into(),
            ..hanako("P1")
        };
        let errors = patients::validate(&f, &input, "u", false, NOW).unwrap_err();
        assert_eq!(fields(&errors), vec![("birth_date", problem)], "{date}");
    }
    // Today (JST) and 1880-01-01 are possible.
    for date in ["2025-06-01", "1880-01-01", "2024-02-29"] {
        let input = RegistrationInput {
            birth_date: date.into(),
            ..hanako("P1")
        };
        assert!(
            patients::validate(&f, &input, "u", false, NOW).is_ok(),
            "{date}"
        );
    }
    // Empty local ID, empty names.
    let input = RegistrationInput {
        local_id: String::new(),
        family_kana: String::new(),
        given_kana: String::new(),
        ..hanako("P1")
    };
    let errors = patients::validate(&f, &input, "u", false, NOW).unwrap_err();
    assert_eq!(
        fields(&errors),
        vec![
            ("local_id", Problem::Required),
            ("family_kana", Problem::Required),
            ("given_kana", Problem::Required)
        ]
    );
}

#[test]
fn validate_normalises_what_it_accepts() {
    let f = facility_value("0112345678");
    let input = RegistrationInput {
        family_kana: "ﾜﾀﾅﾍﾞ".into(),
        given_kana: "はなこ".into(),
        local_id: "ＰＡ－１".into(),
        care_level: String::new(),
        ..hanako("")
    };
    let r = patients::validate(&f, &input, "user-1", false, NOW).unwrap();
    assert_eq!(r.family_kana, "ワタナベ");
    assert_eq!(r.given_kana, "ハナコ");
    assert_eq!(r.local_id, "PA-1");
    assert_eq!(r.care_level, CareLevel::None);
    assert_eq!(r.sex, Sex::Female);
    assert_eq!(r.id_system, "urn:oid:1.2.392.100495.20.3.51.10112345678");
    assert_eq!(r.facility_id, f.id);
    assert_eq!((r.created_by.as_str(), r.created_at), ("user-1", NOW));
    assert!(!r.block_keys.is_empty());
    // Facilities without a 10-digit institution code get a Renkei system.
    let care = facility_value("");
    let r = patients::validate(&care, &hanako("P1"), "u", false, NOW).unwrap();
    assert_eq!(r.id_system, "urn:renkei:facility:F00001:patient-id");
}

/// Block keys are stored in the database and looked up by later registrations: a change
/// in normalisation or hashing silently splits the index, so it must fail here (and come
/// with a bump of `renkei_mpi::blocking::BLOCKING_VERSION`, which makes every node recompute
/// the stored keys at start-up: `patients::refresh_block_keys`).
#[test]
fn block_keys_are_stable() {
    let f = facility_value("0112345678");
    let r = patients::validate(&f, &hanako("P1"), "u", false, NOW).unwrap();
    let keys = patients::block_keys_of(&r);
    println!("block keys: {keys:?}");
    assert_eq!(keys, r.block_keys);
    let expected: Vec<i64> = vec![
        477_511_671_689_142_565,
        -963_089_327_435_658_251,
        7_914_703_641_908_100_416,
        -348_043_860_559_796_794,
        8_264_142_195_089_751_258,
        -3_466_847_364_260_459_198,
        8_236_880_029_351_423_287,
        // BLOCKING_VERSION 2: full name + birth year / month-day, given name + address.
        7_341_583_978_299_333_089,
        5_014_114_707_798_853_189,
        -9_003_092_926_798_580_182,
        4_172_559_379_810_915_844,
        9_005_470_190_886_467_200,
        -5_039_169_587_866_561_735,
    ];
    assert_eq!(keys, expected);
}

async fn register(
    store: &dyn Store,
    f: &Facility,
    input: &RegistrationInput,
) -> Result<patients::Registered, ServiceError> {
    let record = patients::validate(f, input, "tester", false, NOW).expect("valid input");
    patients::register(
        store,
        record,
        AuditEntry::new("patient.register", Outcome::Success).actor(
            Some("tester"),
            Some("tester"),
            Some(&f.id),
        ),
    )
    .await
}

async fn registration_scenario(store: &dyn Store) {
    let f1 = facility(store, "第一医院", "0110000001").await;
    let f2 = facility(store, "第二医院", "0110000002").await;
    let f3 = facility(store, "第三医院", "0110000003").await;
    let f4 = facility(store, "第四医院", "0110000004").await;

    let a = register(store, &f1, &hanako("A-100")).await.unwrap();
    assert_eq!(a.outcome, LinkOutcome::NewPerson);
    let person = a.record.person_id.clone();

    // Typing variants at other facilities link to the same person.
    let variants = [
        (
            &f2,
            RegistrationInput {
                family_kanji: "渡辺".into(),
                family_kana: "ﾜﾀﾅﾍﾞ".into(),
                given_kana: "ﾊﾅｺ".into(),
                phone: "01443-2-1234".into(),
                ..hanako("B-7")
            },
        ),
        (
            &f3,
            RegistrationInput {
                family_kana: "わたなべ".into(),
                given_kana: "はなこ".into(),
                phone: "0144321234".into(),
                insurance_number: String::new(),
                ..hanako("A-100")
            },
        ),
    ];
    for (f, input) in &variants {
        let r = register(store, f, input).await.unwrap();
        assert!(
            matches!(r.outcome, LinkOutcome::AutoLinked { .. }),
            "{input:?}: {:?}",
            r.outcome
        );
        assert_eq!(r.record.person_id, person);
    }
    assert_eq!(store.person_records(&person).await.unwrap().len(), 3);
    for f in [&f1, &f2, &f3] {
        assert_eq!(
            store.team_status(&person, &f.id).await.unwrap(),
            Some(renkei_domain::patient::TeamStatus::Active)
        );
    }

    // A clearly different person.
    let other = register(
        store,
        &f2,
        &RegistrationInput {
            local_id: "B-8".into(),
            family_kanji: "佐藤".into(),
            given_kanji: "一郎".into(),
            family_kana: "サトウ".into(),
            given_kana: "イチロウ".into(),
            birth_date: "1952-11-23".into(),
            sex: "male".into(),
            postal_code: "053-0052".into(),
            address: "北海道苫小牧市新開町4丁目5-6".into(),
            phone: "0144-55-9876".into(),
            insurance_number: "87654321".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(other.outcome, LinkOutcome::NewPerson);
    assert_ne!(other.record.person_id, person);

    // Borderline pairs go to the review queue and stay separate persons until decided.
    let borderline = [
        RegistrationInput {
            sex: "male".into(),
            phone: String::new(),
            insurance_number: String::new(),
            ..hanako("D-1")
        },
        RegistrationInput {
            birth_date: "1940-04-11".into(),
            phone: String::new(),
            insurance_number: String::new(),
            postal_code: String::new(),
            address: String::new(),
            ..hanako("D-2")
        },
    ];
    for input in &borderline {
        let r = register(store, &f4, input).await.unwrap();
        assert!(
            matches!(r.outcome, LinkOutcome::PendingReview { .. }),
            "{input:?}: {:?}",
            r.outcome
        );
        assert_ne!(r.record.person_id, person);
        let queue = store.open_match_reviews(100).await.unwrap();
        let mine: Vec<_> = queue
            .iter()
            .filter(|q| q.record_id == r.record.id)
            .collect();
        assert!(!mine.is_empty(), "{queue:?}");
        let mut candidates_persons = Vec::new();
        for q in &mine {
            let c = store
                .get_patient_record(&q.candidate_record_id)
                .await
                .unwrap()
                .unwrap();
            candidates_persons.push(c.person_id);
            assert!(q.detail.starts_with('['), "{}", q.detail);
        }
        assert!(
            candidates_persons.contains(&person),
            "{candidates_persons:?}"
        );
    }

    // Twins: same family name, birth date, address and home phone; different given name.
    let taro = RegistrationInput {
        local_id: "T-1".into(),
        family_kanji: "高橋".into(),
        given_kanji: "一郎".into(),
        family_kana: "タカハシ".into(),
        given_kana: "イチロウ".into(),
        birth_date: "1958-07-07".into(),
        sex: "male".into(),
        postal_code: "053-0021".into(),
        address: "北海道苫小牧市若草町3丁目1-1".into(),
        phone: "0144-77-0000".into(),
        ..Default::default()
    };
    let jiro = RegistrationInput {
        local_id: "T-2".into(),
        given_kanji: "二郎".into(),
        given_kana: "ジロウ".into(),
        ..taro.clone()
    };
    let t1 = register(store, &f1, &taro).await.unwrap();
    let t2 = register(store, &f1, &jiro).await.unwrap();
    assert!(
        !matches!(t2.outcome, LinkOutcome::AutoLinked { .. }),
        "twins must not be linked: {:?}",
        t2.outcome
    );
    assert_ne!(t1.record.person_id, t2.record.person_id);

    // The same local ID at the same facility is refused, however the rest is typed.
    for input in [
        hanako("A-100"),
        RegistrationInput {
            local_id: "Ａ－１００".into(),
            ..taro.clone()
        },
    ] {
        let e = register(store, &f1, &input).await.unwrap_err();
        assert!(
            matches!(
                e,
                ServiceError::Invalid {
                    field: "local_id",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert_eq!(store.person_records(&person).await.unwrap().len(), 3);

    // Every registration is audited naming its person.
    let audited = store
        .search_audit(&AuditQuery {
            patient_id: Some(person.clone()),
            action_prefix: Some("patient.register".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 3);
}

#[tokio::test]
async fn registration_on_sqlite() {
    let store = sqlite().await;
    registration_scenario(&store).await;
}

#[tokio::test]
async fn registration_on_postgres() {
    let Some(store) = postgres().await else {
        return;
    };
    registration_scenario(&store).await;
}

/// Keys stored by an older version of the rules are recomputed once, then left alone.
#[tokio::test]
async fn stale_block_keys_are_recomputed_once() {
    let store = sqlite().await;
    let store: &dyn Store = &store;
    let f = facility(store, "第一医院", "0112345678").await;
    let registered = register(store, &f, &hanako("P1")).await.unwrap();
    let record_id = registered.record.id.clone();
    let fresh =
        patients::block_keys_of(&patients::validate(&f, &hanako("P1"), "u", false, NOW).unwrap());
    // As an older version would have stored them: only the first rules' keys.
    store
        .replace_block_keys(&[(record_id.clone(), fresh[..7].to_vec())])
        .await
        .unwrap();
    store
        .set_setting(patients::BLOCK_KEYS_SETTING, "1")
        .await
        .unwrap();
    let newest_only = [fresh[12]];
    assert!(store
        .patient_candidates(&newest_only, 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(patients::refresh_block_keys(store).await.unwrap(), 1);
    let found = store.patient_candidates(&newest_only, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, record_id);
    assert_eq!(
        patients::refresh_block_keys(store).await.unwrap(),
        0,
        "current now"
    );
}
