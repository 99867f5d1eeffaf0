//! The demo's clinical data through the bulk write path (`renkei_core::clinical::import`) on
//! a real SQLite store: every resource stored with its Provenance and one audit record per
//! author and patient; the whole load refused when one resource is invalid or one author
//! may not write for the patient.

use renkei_core::clinical::{self, Author, ImportBatch, WriteError};
use renkei_demo::clinical::ClinicalBatch;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::Requester;
use renkei_storage::{AuditQuery, Store};
use serde_json::{json, Value};

fn to_import(b: ClinicalBatch) -> ImportBatch {
    ImportBatch {
        author: Author {
            requester: Requester {
                user_id: b.user_id,
                facility_id: Some(b.facility_id.clone()),
                facility_type: Some(b.facility_type),
                profession: b.profession,
                is_secretariat: false,
            },
            login_id: b.login_id,
            facility_id: b.facility_id,
            source_system: "demo".into(),
            ip: None,
            user_agent: None,
        },
        patient: format!("Patient/{}", b.person_id),
        resources: b.resources,
    }
}

async fn writes(store: &dyn Store) -> usize {
    store
        .search_audit(&AuditQuery {
            action_prefix: Some("fhir.create".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn demo_batches_land_whole_with_provenance_and_audit() {
    let dir = std::env::temp_dir().join(format!(
        "renkei-demo-clinical-{}",
        renkei_domain::ids::new_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = renkei_storage_sql::SqliteStore::open(&dir.join("renkei.db"), 4)
        .await
        .unwrap();
    let network = renkei_demo::generate(&renkei_demo::DemoOptions {
        seed: 11,
        password_hash: String::new(),
        totp_secret: String::new(),
    });
    let batches = renkei_demo::clinical::generate(&network, 11);
    store
        .import_network(
            network.import.clone(),
            AuditEntry::new("test.seed", Outcome::Success),
        )
        .await
        .unwrap();
    // A slice of the city: the first patients' batches (every kind of author among them).
    let some: Vec<ClinicalBatch> = batches.into_iter().take(60).collect();
    let now = renkei_domain::now_millis();

    // One invalid resource in the last batch: nothing is written.
    let mut bad = some.clone();
    let last = bad.last_mut().unwrap();
    last.resources[0].1["status"] = json!("bogus");
    let refused = clinical::import(
        &store,
        bad.into_iter().map(to_import).collect(),
        "fhir.create",
        now,
    )
    .await;
    assert!(
        matches!(refused, Err(WriteError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(writes(&store).await, 0);

    // A facility outside the patient's team may not write for the patient.
    let mut outsider = some[0].clone();
    let stranger = network
        .import
        .facilities
        .iter()
        .find(|(f, _, _)| {
            f.facility_type == renkei_domain::FacilityType::Pharmacy
                && !network
                    .import
                    .patients
                    .team
                    .iter()
                    .any(|m| m.person_id == outsider.person_id && m.facility_id == f.id)
        })
        .map(|(f, _, _)| f.id.clone())
        .unwrap();
    outsider.facility_id = stranger;
    outsider.facility_type = renkei_domain::FacilityType::Pharmacy;
    let refused = clinical::import(&store, vec![to_import(outsider)], "fhir.create", now).await;
    assert!(
        matches!(refused, Err(WriteError::PatientOutOfReach(_))),
        "{refused:?}"
    );
    assert_eq!(writes(&store).await, 0);

    // The whole slice.
    let expected: usize = some.iter().map(|b| b.resources.len()).sum();
    let n = clinical::import(
        &store,
        some.clone().into_iter().map(to_import).collect(),
        "fhir.create",
        now,
    )
    .await
    .unwrap();
    assert_eq!(n, expected);
    assert_eq!(
        writes(&store).await,
        some.len(),
        "one audit record per batch"
    );
    for b in &some {
        let (id, resource) = &b.resources[0];
        let rtype = resource["resourceType"].as_str().unwrap();
        let row = store.fhir_read(rtype, id).await.unwrap().unwrap();
        assert_eq!(
            row.source_facility_id.as_deref(),
            Some(b.facility_id.as_str())
        );
        assert_eq!(row.person_id.as_deref(), Some(b.person_id.as_str()));
        let content: Value = serde_json::from_str(&row.content).unwrap();
        assert_eq!(content["meta"]["source"], "demo");
        assert_eq!(content["id"], json!(id));
    }
    // A Provenance per batch names the author.
    let provenances = store
        .fhir_history(
            &renkei_storage::fhir::HistoryQuery {
                resource_type: Some("Provenance".into()),
                id: None,
                since: None,
                count: 10_000,
                offset: 0,
            },
            &renkei_storage::fhir::FhirScope::All,
        )
        .await
        .unwrap();
    assert_eq!(provenances.len(), some.len());
    for p in &provenances {
        let v: Value = serde_json::from_str(&p.content).unwrap();
        let login = v["agent"][0]["who"]["identifier"]["value"]
            .as_str()
            .unwrap();
        assert!(some.iter().any(|b| b.login_id == login), "{login}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
