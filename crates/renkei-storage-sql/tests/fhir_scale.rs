//! FHIR store at scale (ignored by default: `cargo test -p renkei-storage-sql --release
//! --test fhir_scale -- --ignored --nocapture`). Writes `RENKEI_FHIR_SCALE` Observations
//! (default 200,000) in batches of 300 like the SS-MIX2 collector, then times the searches
//! a clinician's screen makes. PostgreSQL too when `RENKEI_TEST_POSTGRES_URL` is set.

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_fhir::{Comparator, Criterion, IndexEntry, IndexValue, SearchQuery, ValueMatch};
use renkei_storage::fhir::{FhirScope, FhirWrite, FhirWriteKind, PersonGrant};
use renkei_storage::testsuite::sample_facility;
use renkei_storage::{NewPatientRecord, PersonLink, Store};
use std::time::Instant;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_700_000_000_000;

fn record(facility: &str, i: usize) -> NewPatientRecord {
    NewPatientRecord {
        id: format!("rec-{i}"),
        facility_id: facility.into(),
        id_system: "urn:test".into(),
        local_id: format!("P{i}"),
        family_kanji: "山田".into(),
        given_kanji: "花子".into(),
        family_kana: "ヤマダ".into(),
        given_kana: "ハナコ".into(),
        previous_names: vec![],
        birth_date: "1940-01-01".into(),
        sex: renkei_domain::patient::Sex::Female,
        postal_code: String::new(),
        address: String::new(),
        phones: vec![],
        insurance_numbers: vec![],
        care_level: renkei_domain::patient::CareLevel::None,
        block_keys: vec![],
        is_test: true,
        created_by: "bench".into(),
        created_at: T0,
    }
}

fn token(param: &str, system: &str, code: &str) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: IndexValue::Token {
            system: system.into(),
            code: code.into(),
        },
    }
}

async fn run(store: &dyn Store, n: usize) {
    let name = store.backend_name();
    let facility = store
        .create_facility(
            sample_facility("規模", "キボ", renkei_domain::FacilityType::Hospital, ""),
            AuditEntry::new("bench", Outcome::Success),
        )
        .await
        .unwrap();
    let patients = 1000;
    for i in 0..patients {
        store
            .register_patient(
                record(&facility.id, i),
                PersonLink::NewPerson(format!("person-{i}")),
                vec![],
                AuditEntry::new("bench", Outcome::Success),
            )
            .await
            .unwrap();
    }
    let started = Instant::now();
    let mut batch = Vec::new();
    for i in 0..n {
        let patient = i % patients;
        let at = T0 + (i as i64) * 60_000;
        let code = format!("{}", 1000 + i % 200);
        let id = format!("obs-{i}");
        batch.push(FhirWrite {
            kind: FhirWriteKind::Create,
            resource_type: "Observation".into(),
            id: id.clone(),
            version_id: 1,
            last_updated: at,
            patient_record_id: Some(format!("rec-{patient}")),
            source_facility_id: Some(facility.id.clone()),
            category: "laboratory".into(),
            content: format!(
                r#"{{"resourceType":"Observation","id":"{id}","meta":{{"versionId":"1"}},"status":"final","code":{{"coding":[{{"system":"urn:jlac10","code":"{code}"}}]}},"valueQuantity":{{"value":{i},"unit":"mg/dL"}}}}"#
            ),
            index: vec![
                token("code", "urn:jlac10", &code),
                token("status", "http://hl7.org/fhir/observation-status", "final"),
                token("category", "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory"),
                IndexEntry { param: "patient".into(), value: IndexValue::Reference(format!("Patient/rec-{patient}")) },
                IndexEntry { param: "subject".into(), value: IndexValue::Reference(format!("Patient/rec-{patient}")) },
                IndexEntry { param: "date".into(), value: IndexValue::Date { low: at, high: at + 1 } },
                IndexEntry {
                    param: "value-quantity".into(),
                    value: IndexValue::Number { value: (i % 500) as f64, system: "http://unitsofmeasure.org".into(), code: "mg/dL".into() },
                },
            ],
        });
        if batch.len() == 300 || i + 1 == n {
            let audits = batch
                .iter()
                .map(|w| {
                    AuditEntry::new("fhir.create", Outcome::Success).target("Observation", &w.id)
                })
                .collect();
            store
                .fhir_write(std::mem::take(&mut batch), audits)
                .await
                .unwrap();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{name}: wrote {n} in {secs:.1}s = {:.0}/s", n as f64 / secs);

    let patient = 123;
    let mid = T0 + (n as i64 / 2) * 60_000;
    let crit = |param: &str, any_of: Vec<ValueMatch>| Criterion {
        param: param.into(),
        negate: false,
        missing: None,
        any_of,
    };
    let base = |criteria: Vec<Criterion>| SearchQuery {
        resource_type: "Observation".into(),
        ids: vec![],
        criteria,
        last_updated: vec![],
        sort: vec![],
        count: 50,
        offset: 0,
        want_total: true,
    };
    let grant = FhirScope::Restricted {
        own_facility: Some("elsewhere".into()),
        grants: vec![PersonGrant {
            person_ids: vec![format!("person-{patient}")],
            categories: vec!["laboratory".into()],
        }],
        non_patient: false,
    };
    let cases: Vec<(&str, SearchQuery, FhirScope)> = vec![
        (
            "patient+code+date range",
            base(vec![
                crit(
                    "patient",
                    vec![ValueMatch::Reference(format!("Patient/rec-{patient}"))],
                ),
                crit(
                    "code",
                    vec![ValueMatch::Token {
                        system: Some("urn:jlac10".into()),
                        code: format!("{}", 1000 + patient % 200),
                    }],
                ),
                crit(
                    "date",
                    vec![ValueMatch::Date {
                        comparator: Comparator::Ge,
                        low: T0,
                        high: T0 + DAY,
                    }],
                ),
                crit(
                    "date",
                    vec![ValueMatch::Date {
                        comparator: Comparator::Le,
                        low: mid,
                        high: mid + DAY,
                    }],
                ),
            ]),
            FhirScope::All,
        ),
        (
            "patient, restricted scope",
            base(vec![crit(
                "patient",
                vec![ValueMatch::Reference(format!("Patient/rec-{patient}"))],
            )]),
            grant.clone(),
        ),
        (
            "code only (count)",
            base(vec![crit(
                "code",
                vec![ValueMatch::Token {
                    system: None,
                    code: "1005".into(),
                }],
            )]),
            FhirScope::All,
        ),
        ("no criteria, newest 50", base(vec![]), FhirScope::All),
        (
            "patient sorted by date desc",
            {
                let mut q = base(vec![crit(
                    "patient",
                    vec![ValueMatch::Reference(format!("Patient/rec-{patient}"))],
                )]);
                q.sort = vec![renkei_fhir::SortKey {
                    param: "date".into(),
                    descending: true,
                }];
                q
            },
            FhirScope::All,
        ),
    ];
    for (label, q, scope) in cases {
        let started = Instant::now();
        let mut page = None;
        for _ in 0..5 {
            page = Some(store.fhir_search(&q, &scope).await.unwrap());
        }
        let page = page.unwrap();
        println!(
            "{name}: {label}: {} rows, total {:?}, {:.1} ms",
            page.rows.len(),
            page.total,
            started.elapsed().as_secs_f64() * 1000.0 / 5.0
        );
    }
    let started = Instant::now();
    let page = store
        .fhir_everything(&[format!("person-{patient}")], &grant, 100, 0)
        .await
        .unwrap();
    println!(
        "{name}: everything: {} rows, total {:?}, {:.1} ms",
        page.rows.len(),
        page.total,
        started.elapsed().as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn fhir_store_at_scale() {
    let n: usize = std::env::var("RENKEI_FHIR_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("renkei-scale-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = renkei_storage_sql::SqliteStore::open(&dir.join("renkei.db"), 4)
        .await
        .unwrap();
    run(&sqlite, n).await;
    if std::env::var("RENKEI_SCALE_KEEP").is_ok() {
        println!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    if let Ok(url) = std::env::var("RENKEI_TEST_POSTGRES_URL") {
        let db = format!("renkei_scale_{}", uuid::Uuid::new_v4().simple());
        let db_url = renkei_storage_sql::create_postgres_database(&url, &db)
            .await
            .unwrap();
        let pg = renkei_storage_sql::PostgresStore::connect(&db_url, 8)
            .await
            .unwrap();
        run(&pg, n).await;
        println!("database {db_url}");
    }
}
