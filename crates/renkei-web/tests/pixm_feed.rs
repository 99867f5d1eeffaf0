//! The PIXm Patient Identity Feed (ITI-104) over HTTP on both backends: conditional
//! `PUT /fhir/Patient?identifier=…` registers through the patient index (201), changes the
//! facility's registration (200), changes nothing when nothing changed, validates like the
//! registration form, refuses other facilities' identifiers and tokens without Patient
//! scopes, and leaves audit records.

mod testkit;

use renkei_storage::{ApiClient, AuditQuery, PatientRecord};
use serde_json::{json, Value};
use testkit::{each_backend, TestApp};

const HOSPITAL_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.10110000001";
const OTHER_HOSPITAL_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.10110000002";
const NAME_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/// 苫小牧 花子 as a hospital system would send her (JP_Patient).
fn patient(system: &str, local_id: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "meta": { "profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"] },
        "identifier": [{ "system": system, "value": local_id }],
        "name": [
            {
                "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }],
                "use": "official", "text": "苫小牧 花子", "family": "苫小牧", "given": ["花子"]
            },
            {
                "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "SYL" }],
                "use": "official", "text": "トマコマイ ハナコ", "family": "トマコマイ", "given": ["ハナコ"]
            }
        ],
        "telecom": [{ "system": "phone", "value": "0144-32-1111", "use": "home" }],
        "gender": "female",
        "birthDate": "1938-04-12",
        "address": [{ "use": "home", "text": "北海道苫小牧市表町1丁目2-3", "postalCode": "053-0022", "country": "JP" }]
    })
}

async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        assert_eq!(
            headers["content-type"], "application/fhir+json; charset=utf-8",
            "{text}"
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    if status >= 400 {
        assert_eq!(body["resourceType"], "OperationOutcome", "{status}: {body}");
    }
    (status, headers, body)
}

fn feed(
    app: &TestApp,
    client: &reqwest::Client,
    system: &str,
    local_id: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    let query = serde_urlencoded_pair("identifier", &format!("{system}|{local_id}"));
    client
        .put(app.url(&format!("/fhir/Patient?{query}")))
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
}

fn serde_urlencoded_pair(key: &str, value: &str) -> String {
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{key}={encoded}")
}

/// A client of `facility_id` with `scopes`, and an access token for it.
async fn token(app: &TestApp, facility_id: &str, client_id: &str, scopes: &str) -> String {
    let secret = format!("{client_id}-s3cret-for-tests-0123456789");
    app.store
        .create_api_client(
            ApiClient {
                id: client_id.into(),
                facility_id: facility_id.into(),
                name: "電子カルテ".into(),
                secret_hash: renkei_domain::ids::token_hash(&secret),
                scopes: scopes.into(),
                created_by: app.user_id("admin1").await,
                created_at: renkei_domain::now_millis(),
                revoked_at: None,
            },
            renkei_domain::audit::AuditEntry::new(
                "api_client.create",
                renkei_domain::audit::Outcome::Success,
            ),
        )
        .await
        .unwrap();
    let body: Value = app
        .anon()
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn other_hospital_id(app: &TestApp) -> String {
    app.store
        .search_facilities(&renkei_storage::FacilityQuery {
            text: Some("F00002".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|f| f.code.as_deref() == Some("F00002"))
        .unwrap()
        .id
}

async fn stored(
    app: &TestApp,
    facility_id: &str,
    system: &str,
    local_id: &str,
) -> Option<PatientRecord> {
    app.store
        .find_patient_record(facility_id, system, local_id)
        .await
        .unwrap()
}

async fn audit_actions(
    app: &TestApp,
    person: &str,
    prefix: &str,
) -> Vec<renkei_domain::audit::AuditRecord> {
    app.store
        .search_audit(&AuditQuery {
            limit: 100,
            patient_id: Some(person.to_string()),
            action_prefix: Some(prefix.to_string()),
            ..Default::default()
        })
        .await
        .unwrap()
}

fn issue_at(outcome: &Value, expression: &str) -> bool {
    outcome["issue"].as_array().unwrap().iter().any(|i| {
        i["expression"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == expression))
    })
}

#[tokio::test]
async fn feed_registers_updates_validates_and_audits() {
    each_backend(|app| async move {
        let system = token(&app, &app.facility_id, "ehr-feed", "system/Patient.cru").await;
        let anon = app.anon();

        // Create: 201, the Patient as a read gives it, and a Location.
        let body = patient(HOSPITAL_SYSTEM, "FEED-1");
        let (status, headers, created) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-1", &body).bearer_auth(&system)).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["resourceType"], "Patient");
        let person = created["id"].as_str().unwrap().to_string();
        assert_eq!(
            headers["location"].to_str().unwrap(),
            format!("http://test.invalid/fhir/Patient/{person}")
        );
        assert_eq!(created["identifier"][0]["system"], HOSPITAL_SYSTEM);
        assert_eq!(created["identifier"][0]["value"], "FEED-1");
        assert_eq!(created["birthDate"], "1938-04-12");
        assert_eq!(created["gender"], "female");
        let record = stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-1")
            .await
            .expect("registered");
        assert_eq!(record.person_id, person);
        assert_eq!(
            (record.family_kanji.as_str(), record.given_kana.as_str()),
            ("苫小牧", "ハナコ")
        );
        assert_eq!(record.postal_code, "053-0022");
        assert_eq!(record.created_by, "client:ehr-feed");

        // The facility's staff find the patient with PDQm.
        let (doctor, _) = app.sign_in("doctor1").await;
        let (status, _, bundle) = send(doctor.get(app.url(&format!(
            "/fhir/Patient?{}",
            serde_urlencoded_pair("identifier", &format!("{HOSPITAL_SYSTEM}|FEED-1"))
        ))))
        .await;
        assert_eq!(status, 200);
        assert_eq!(bundle["total"], 1, "{bundle}");
        assert_eq!(bundle["entry"][0]["resource"]["id"], person.as_str());
        let (_, _, read) = send(doctor.get(app.url(&format!("/fhir/Patient/{person}")))).await;
        assert_eq!(read, created, "the feed answers with the Patient as read");

        // The same feed again: 200, nothing written.
        let (status, headers, again) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-1", &created).bearer_auth(&system)).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, created);
        assert!(headers.contains_key("location"));
        assert_eq!(
            stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-1").await.as_ref(),
            Some(&record),
            "nothing changes"
        );

        // A changed phone number updates the registration (and its match keys).
        let mut moved = body.clone();
        moved["telecom"] = json!([{ "system": "phone", "value": "0144-55-6789" }]);
        let (status, _, outcome) = send(
            feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-1", &moved)
                .bearer_auth(&system)
                .header("prefer", "return=OperationOutcome"),
        )
        .await;
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["severity"], "information");
        assert!(
            outcome["issue"][0]["diagnostics"].as_str().unwrap().contains("phones"),
            "{outcome}"
        );
        let updated = stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-1")
            .await
            .unwrap();
        assert_eq!(updated.phones, vec!["0144-55-6789".to_string()]);
        assert_eq!(updated.person_id, person, "the link stays");
        assert!(updated.updated_at > record.updated_at);
        assert_eq!(
            (updated.family_kanji.as_str(), updated.birth_date.as_str()),
            ("苫小牧", "1938-04-12")
        );
        let (_, _, bundle) = send(doctor.get(app.url("/fhir/Patient?telecom=0144556789"))).await;
        assert_eq!(bundle["total"], 1, "{bundle}");
        let (status, _, none) = send(
            feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-1", &moved)
                .bearer_auth(&system)
                .header("prefer", "return=minimal"),
        )
        .await;
        assert_eq!((status, none), (200, Value::Null));

        // A system without a Patient scope may not feed.
        let observations = token(&app, &app.facility_id, "lab-only", "system/Observation.crs").await;
        let (status, _, oo) = send(
            feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-2", &patient(HOSPITAL_SYSTEM, "FEED-2"))
                .bearer_auth(&observations),
        )
        .await;
        assert_eq!(status, 403, "{oo}");
        assert_eq!(oo["issue"][0]["code"], "forbidden");
        // `c` registers but does not change; `u` is needed for an existing registration.
        let create_only = token(&app, &app.facility_id, "reg-only", "system/Patient.c").await;
        let (status, _, _) = send(
            feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-1", &moved).bearer_auth(&create_only),
        )
        .await;
        assert_eq!(status, 403);
        // Without a session or token: 401.
        let (status, _, _) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-2", &patient(HOSPITAL_SYSTEM, "FEED-2"))).await;
        assert_eq!(status, 401);

        // Only the facility's own patient-ID domain.
        let (status, _, oo) = send(
            feed(&app, &anon, OTHER_HOSPITAL_SYSTEM, "FEED-2", &patient(OTHER_HOSPITAL_SYSTEM, "FEED-2"))
                .bearer_auth(&system),
        )
        .await;
        assert_eq!(status, 403, "{oo}");
        let (status, _, oo) = send(
            feed(&app, &anon, "urn:example:mrn", "FEED-2", &patient("urn:example:mrn", "FEED-2"))
                .bearer_auth(&system),
        )
        .await;
        assert_eq!(status, 422, "{oo}");
        assert_eq!(oo["issue"][0]["code"], "code-invalid");
        // Another facility's registration cannot be asserted in the body either, nor a
        // second local ID; and the body must carry the query's identifier.
        let mut crossed = patient(HOSPITAL_SYSTEM, "FEED-2");
        crossed["identifier"] = json!([
            { "system": HOSPITAL_SYSTEM, "value": "FEED-2" },
            { "system": OTHER_HOSPITAL_SYSTEM, "value": "9999" },
            { "system": HOSPITAL_SYSTEM, "value": "FEED-3" }
        ]);
        let (status, _, oo) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-2", &crossed).bearer_auth(&system)).await;
        assert_eq!(status, 422, "{oo}");
        assert!(issue_at(&oo, "Patient.identifier[1].system"), "{oo}");
        assert!(issue_at(&oo, "Patient.identifier[2].value"), "{oo}");
        let (status, _, oo) = send(
            feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-9", &patient(HOSPITAL_SYSTEM, "FEED-2"))
                .bearer_auth(&system),
        )
        .await;
        assert_eq!(status, 422, "{oo}");
        assert!(issue_at(&oo, "Patient.identifier"), "{oo}");

        // Validated as the registration form validates: malformed kana, impossible dates.
        let mut bad = patient(HOSPITAL_SYSTEM, "FEED-2");
        bad["name"][1]["family"] = json!("Tomakomai");
        bad["birthDate"] = json!("2999-01-01");
        let (status, _, oo) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-2", &bad).bearer_auth(&system)).await;
        assert_eq!(status, 422, "{oo}");
        assert!(issue_at(&oo, "Patient.name[1].family"), "{oo}");
        assert!(issue_at(&oo, "Patient.birthDate"), "{oo}");
        // R4 itself (renkei-fhir): an unknown gender code.
        let mut bad = patient(HOSPITAL_SYSTEM, "FEED-2");
        bad["gender"] = json!("woman");
        let (status, _, oo) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-2", &bad).bearer_auth(&system)).await;
        assert_eq!(status, 422, "{oo}");
        assert!(stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-2")
            .await
            .is_none(), "nothing of a refused feed is stored");
        // A bad update leaves the registration as it was.
        let mut bad = moved.clone();
        bad["name"][1]["given"] = json!(["Hanako"]);
        let (status, _, _) =
            send(feed(&app, &anon, HOSPITAL_SYSTEM, "FEED-1", &bad).bearer_auth(&system)).await;
        assert_eq!(status, 422);
        assert_eq!(
            stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-1").await.as_ref(),
            Some(&updated)
        );

        // A person acting for the facility may feed too.
        let (status, _, by_person) = send(feed(
            &app,
            &doctor,
            HOSPITAL_SYSTEM,
            "FEED-4",
            &json!({
                "resourceType": "Patient",
                "identifier": [{ "system": HOSPITAL_SYSTEM, "value": "FEED-4" }],
                "name": [
                    { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }], "family": "白老", "given": ["一郎"] },
                    { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "SYL" }], "family": "しらおい", "given": ["いちろう"] }
                ],
                "gender": "male",
                "birthDate": "1950-01-02"
            }),
        ))
        .await;
        assert_eq!(status, 201, "{by_person}");
        let record4 = stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-4")
            .await
            .unwrap();
        assert_eq!(record4.family_kana, "シラオイ", "hiragana stored as katakana, as in the form");

        // Registrations are never deleted; a Patient is not updated by id.
        let (status, _, oo) = send(
            anon.delete(app.url(&format!(
                "/fhir/Patient?{}",
                serde_urlencoded_pair("identifier", &format!("{HOSPITAL_SYSTEM}|FEED-1"))
            )))
            .bearer_auth(&system),
        )
        .await;
        assert_eq!(status, 405, "{oo}");
        let (status, _, _) = send(
            anon.put(app.url(&format!("/fhir/Patient/{person}")))
                .header("content-type", "application/fhir+json")
                .body(created.to_string())
                .bearer_auth(&system),
        )
        .await;
        assert_eq!(status, 405);
        assert!(stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "FEED-1").await.is_some());

        // Every feed is audited, naming the person and the system.
        let registered = audit_actions(&app, &person, "patient.register").await;
        assert_eq!(registered.len(), 1);
        assert_eq!(registered[0].entry.actor_login.as_deref(), Some("client:ehr-feed"));
        assert!(registered[0].entry.detail.contains("new_person"), "{}", registered[0].entry.detail);
        let updates = audit_actions(&app, &person, "patient.update").await;
        assert_eq!(updates.len(), 3, "unchanged, phone, minimal");
        assert!(updates.iter().any(|r| r.entry.detail.contains("\"changed\":[]")));
        assert!(updates.iter().any(|r| r.entry.detail.contains("phones")));
        assert_eq!(
            audit_actions(&app, &record4.person_id, "patient.register").await[0]
                .entry
                .actor_login
                .as_deref(),
            Some("doctor1")
        );
        // Showing the Patient is an audited read like any other.
        assert!(!audit_actions(&app, &person, "patient.read").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn feed_goes_through_the_patient_index() {
    each_backend(|app| async move {
        // The other hospital registered her first.
        let other = other_hospital_id(&app).await;
        let other_system = token(&app, &other, "other-ehr", "system/Patient.cu").await;
        let anon = app.anon();
        let (status, _, first) = send(
            feed(
                &app,
                &anon,
                OTHER_HOSPITAL_SYSTEM,
                "O-77",
                &patient(OTHER_HOSPITAL_SYSTEM, "O-77"),
            )
            .bearer_auth(&other_system),
        )
        .await;
        assert_eq!(status, 201, "{first}");
        let first_person = first["id"].as_str().unwrap().to_string();

        // The hospital feeds the same woman under its own ID: the patient index decides.
        let system = token(&app, &app.facility_id, "ehr-feed", "system/Patient.cu").await;
        let (status, _, outcome) = send(
            feed(
                &app,
                &anon,
                HOSPITAL_SYSTEM,
                "H-12",
                &patient(HOSPITAL_SYSTEM, "H-12"),
            )
            .bearer_auth(&system)
            .header("prefer", "return=OperationOutcome"),
        )
        .await;
        assert_eq!(status, 201, "{outcome}");
        let record = stored(&app, &app.facility_id, HOSPITAL_SYSTEM, "H-12")
            .await
            .unwrap();
        let reviews = app.store.open_match_reviews(100).await.unwrap();
        let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap();
        if record.person_id == first_person {
            // An exact copy is a certain match: linked automatically.
            assert!(
                diagnostics.contains("linked automatically"),
                "{diagnostics}"
            );
            assert!(reviews.iter().all(|r| r.record_id != record.id));
        } else {
            assert!(diagnostics.contains("review"), "{diagnostics}");
            assert!(reviews.iter().any(|r| r.record_id == record.id));
        }
        assert_eq!(
            record.person_id, first_person,
            "identical demographics are an automatic link"
        );
        let audit = audit_actions(&app, &first_person, "patient.register").await;
        assert!(audit.iter().any(|r| r.entry.detail.contains("auto_link")));

        // What the hospital gets back is only what it may see: its own registration (no
        // consent shares the other hospital's).
        let (status, _, again) = send(
            feed(
                &app,
                &anon,
                HOSPITAL_SYSTEM,
                "H-12",
                &patient(HOSPITAL_SYSTEM, "H-12"),
            )
            .bearer_auth(&system),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(again["id"], first_person.as_str());
        let identifiers = again["identifier"].as_array().unwrap();
        assert_eq!(identifiers.len(), 1, "{again}");
        assert_eq!(identifiers[0]["system"], HOSPITAL_SYSTEM);
    })
    .await;
}

#[tokio::test]
async fn capability_statement_declares_the_feed() {
    let app = TestApp::spawn(testkit::Backend::Sqlite).await;
    let (status, _, cs) = send(app.anon().get(app.url("/fhir/metadata"))).await;
    assert_eq!(status, 200);
    let patient = cs["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    let codes: Vec<&str> = patient["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["read", "search-type", "update"]);
    assert_eq!(patient["conditionalUpdate"], true);
    assert_eq!(patient["updateCreate"], false);
    assert_eq!(patient["conditionalDelete"], "not-supported");
}
