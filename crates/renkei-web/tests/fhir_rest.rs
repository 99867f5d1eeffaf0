//! The FHIR REST API over the clinical store, through a real server on both backends:
//! CRUD with ETags, history, search with paging, transactions, `$everything`, the access
//! decision point (outsiders, consent, withdrawal) and OAuth2 system access.

mod testkit;

use renkei_storage::{ApiClient, AuditQuery};
use serde_json::{json, Value};
use testkit::{csrf, each_backend, TestApp};

const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
const HBA1C: &str = "3D046000001906202";

async fn register(app: &TestApp, client: &reqwest::Client, local_id: &str) -> String {
    let token = csrf(app, client).await;
    let form = vec![
        ("csrf", token),
        ("local_id", local_id.into()),
        ("family_kanji", "苫小牧".into()),
        ("given_kanji", "花子".into()),
        ("family_kana", "とまこまい".into()),
        ("given_kana", "はなこ".into()),
        ("birth_date", "1938-04-12".into()),
        ("sex", "female".into()),
        ("postal_code", "053-0022".into()),
        ("address", "北海道苫小牧市表町1丁目2-3".into()),
        ("phone", "0144-32-1111".into()),
        ("care_level", "care2".into()),
    ];
    let res = client
        .post(app.url("/patients/new"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/patients/")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

fn observation(person: &str, value: f64, when: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"]},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": JLAC10, "code": HBA1C, "display": "HbA1c"}], "text": "HbA1c（NGSP）"},
        "subject": {"reference": format!("Patient/{person}")},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
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
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    if status >= 400 {
        assert_eq!(body["resourceType"], "OperationOutcome", "{status}: {body}");
    }
    (status, headers, body)
}

fn fhir_post(client: &reqwest::Client, url: String, body: &Value) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
}

fn total(bundle: &Value) -> i64 {
    bundle["total"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn crud_history_search_and_access() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &doctor, "A-1").await;

        // Create.
        let (status, headers, created) = send(fhir_post(
            &doctor,
            app.url("/fhir/Observation"),
            &observation(&person, 6.8, "2026-10-01T09:00:00+09:00"),
        ))
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["meta"]["versionId"], "1");
        assert_eq!(headers["etag"], "W/\"1\"");
        assert!(headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/fhir/Observation/{id}/_history/1")));

        // Read.
        let (status, headers, read) = send(doctor.get(app.url(&format!("/fhir/Observation/{id}")))).await;
        assert_eq!(status, 200);
        assert_eq!(read, created);
        assert!(headers.contains_key("last-modified"));

        // Update with the right and a stale ETag.
        let mut changed = read.clone();
        changed["valueQuantity"]["value"] = json!(7.1);
        let put = |etag: &str| {
            doctor
                .put(app.url(&format!("/fhir/Observation/{id}")))
                .header("content-type", "application/fhir+json")
                .header("if-match", etag)
                .body(changed.to_string())
        };
        let (status, _, updated) = send(put("W/\"1\"")).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["meta"]["versionId"], "2");
        let (status, _, oo) = send(put("W/\"1\"")).await;
        assert_eq!(status, 412, "{oo}");

        // History and vread.
        let (status, _, history) = send(doctor.get(app.url(&format!("/fhir/Observation/{id}/_history")))).await;
        assert_eq!(status, 200);
        assert_eq!(history["type"], "history");
        let versions: Vec<&str> = history["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["2", "1"], "newest first");
        let (status, _, v1) = send(doctor.get(app.url(&format!("/fhir/Observation/{id}/_history/1")))).await;
        assert_eq!(status, 200);
        assert_eq!(v1["valueQuantity"]["value"], 6.8);

        // Search: patient + code + date range, paging.
        for (v, when) in [(6.5, "2026-08-01"), (6.2, "2026-06-01")] {
            let (status, _, _) = send(fhir_post(
                &doctor,
                app.url("/fhir/Observation"),
                &observation(&person, v, when),
            ))
            .await;
            assert_eq!(status, 201);
        }
        let q = format!(
            "/fhir/Observation?patient=Patient/{person}&code={JLAC10}%7C{HBA1C}&date=ge2026-07-01&date=le2026-12-31&_sort=-date"
        );
        let (status, _, bundle) = send(doctor.get(app.url(&q))).await;
        assert_eq!(status, 200, "{bundle}");
        assert_eq!(total(&bundle), 2, "{bundle}");
        let values: Vec<f64> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["valueQuantity"]["value"].as_f64().unwrap())
            .collect();
        assert_eq!(values, [7.1, 6.5], "sorted by date, newest first");
        let (_, _, page1) = send(doctor.get(app.url(&format!("/fhir/Observation?patient={person}&_count=2&_sort=date")))).await;
        assert_eq!(total(&page1), 3);
        let next = page1["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .expect("next link")["url"]
            .as_str()
            .unwrap()
            .to_string();
        // Links carry the configured public base; the test server listens elsewhere.
        let path = &next[next.find("/fhir/").expect("absolute link")..];
        let (_, _, page2) = send(doctor.get(app.url(path))).await;
        assert_eq!(page2["entry"].as_array().unwrap().len(), 1);
        assert_eq!(page2["entry"][0]["resource"]["valueQuantity"]["value"], 7.1);
        // Provenance recorded for the write, reachable by _revinclude.
        let (_, _, with_prov) = send(doctor.get(app.url(&format!(
            "/fhir/Observation?_id={id}&_revinclude=Provenance:target"
        ))))
        .await;
        let kinds: Vec<&str> = with_prov["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["resourceType"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"Provenance"), "{with_prov}");

        // Bad input answers in the protocol's form and stores nothing.
        let (status, _, _) = send(
            doctor
                .post(app.url("/fhir/Observation"))
                .header("content-type", "application/fhir+json")
                .body("{not json"),
        )
        .await;
        assert_eq!(status, 400);
        let mut no_status = observation(&person, 1.0, "2026-10-02");
        no_status.as_object_mut().unwrap().remove("status");
        let (status, _, oo) = send(fhir_post(&doctor, app.url("/fhir/Observation"), &no_status)).await;
        assert_eq!(status, 422, "{oo}");
        let (status, _, _) = send(doctor.get(app.url("/fhir/Spaceship/1"))).await;
        assert_eq!(status, 404);
        let (status, _, _) = send(doctor.get(app.url("/fhir/Observation?colour=blue"))).await;
        assert_eq!(status, 400);
        let (_, _, after) = send(doctor.get(app.url(&format!("/fhir/Observation?patient={person}")))).await;
        assert_eq!(total(&after), 3, "nothing half-stored");

        // A patient outside the facility's reach cannot be written about.
        let (other, _) = app.sign_in("otherdoc").await;
        let (status, _, oo) = send(fhir_post(
            &other,
            app.url("/fhir/Observation"),
            &observation(&person, 5.0, "2026-10-03"),
        ))
        .await;
        assert_eq!(status, 422, "{oo}");
        // …nor read, searched or fetched whole: indistinguishable from nothing.
        let (status, _, _) = send(other.get(app.url(&format!("/fhir/Observation/{id}")))).await;
        assert_eq!(status, 404);
        let (_, _, none) = send(other.get(app.url(&format!("/fhir/Observation?patient={person}")))).await;
        assert_eq!(total(&none), 0);
        let (_, _, none) = send(other.get(app.url(&format!("/fhir/Observation?code={HBA1C}")))).await;
        assert_eq!(total(&none), 0);
        let (status, _, _) = send(other.get(app.url(&format!("/fhir/Patient/{person}/$everything")))).await;
        assert_eq!(status, 404);

        // $everything for the team: the patient first, then the record.
        let (status, _, everything) = send(doctor.get(app.url(&format!("/fhir/Patient/{person}/$everything")))).await;
        assert_eq!(status, 200, "{everything}");
        let first = &everything["entry"][0]["resource"];
        assert_eq!(first["resourceType"], "Patient");
        let observations = everything["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Observation")
            .count();
        assert_eq!(observations, 3);

        // Delete: 204, then 410, and the history keeps all three versions.
        let (status, _, _) = send(doctor.delete(app.url(&format!("/fhir/Observation/{id}")))).await;
        assert_eq!(status, 204);
        let (status, _, _) = send(doctor.get(app.url(&format!("/fhir/Observation/{id}")))).await;
        assert_eq!(status, 410);
        let (_, _, history) = send(doctor.get(app.url(&format!("/fhir/Observation/{id}/_history")))).await;
        assert_eq!(history["entry"].as_array().unwrap().len(), 3);

        // Reads of patient data are audited with the patient named.
        let audit = app
            .store
            .search_audit(&AuditQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(audit
            .iter()
            .any(|r| r.entry.action == "patient.read" && r.entry.patient_id.as_deref() == Some(person.as_str())));
        assert!(audit.iter().any(|r| r.entry.action == "fhir.create"));
    })
    .await;
}

#[tokio::test]
async fn transactions_are_atomic_and_sharing_follows_consent() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &doctor, "T-1").await;
        let subject = json!({"reference": format!("Patient/{person}")});
        let bundle = |condition_code: Value| {
            json!({
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:9d1c6b1e-1111-4c44-9b0a-2d1f2f9e0001",
                        "resource": {"resourceType": "Encounter", "status": "in-progress",
                                     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                                     "subject": subject, "period": {"start": "2026-11-01T10:00:00+09:00"}},
                        "request": {"method": "POST", "url": "Encounter"}
                    },
                    {
                        "fullUrl": "urn:uuid:9d1c6b1e-1111-4c44-9b0a-2d1f2f9e0002",
                        "resource": {"resourceType": "Condition",
                                     "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                                     "code": condition_code,
                                     "subject": subject,
                                     "encounter": {"reference": "urn:uuid:9d1c6b1e-1111-4c44-9b0a-2d1f2f9e0001"}},
                        "request": {"method": "POST", "url": "Condition"}
                    }
                ]
            })
        };
        let pneumonia = json!({"coding": [{"system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full", "code": "J189", "display": "肺炎"}]});
        let (status, _, response) = send(fhir_post(&doctor, app.url("/fhir"), &bundle(pneumonia.clone()))).await;
        assert_eq!(status, 200, "{response}");
        assert_eq!(response["type"], "transaction-response");
        let encounter_ref = response["entry"][0]["response"]["location"]
            .as_str()
            .unwrap()
            .split("/_history")
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            response["entry"][1]["resource"]["encounter"]["reference"],
            encounter_ref,
            "urn:uuid rewritten to the new id"
        );
        // A transaction with one bad entry stores nothing.
        let (status, _, oo) = send(fhir_post(&doctor, app.url("/fhir"), &bundle(json!({"coding": [{"display": "no code"}]})))).await;
        assert!(status == 400 || status == 422, "{status} {oo}");
        let (_, _, encounters) = send(doctor.get(app.url(&format!("/fhir/Encounter?patient={person}")))).await;
        assert_eq!(total(&encounters), 1, "rolled back: {encounters}");

        // A care manager who registered the same person sees only her own data until the
        // patient consents and the hospital invites her office.
        let (cm, _) = app.sign_in("cm1").await;
        let linked = register(&app, &cm, "K-1").await;
        assert_eq!(linked, person);
        let (_, _, seen) = send(cm.get(app.url(&format!("/fhir/Condition?patient={person}")))).await;
        assert_eq!(total(&seen), 0, "{seen}");
        let token = csrf(&app, &doctor).await;
        let res = doctor
            .post(app.url(&format!("/patients/{person}/consent")))
            .form(&[
                ("csrf", token.as_str()),
                ("scope", "comprehensive"),
                ("excluded", "psychiatric"),
                ("form", "written"),
                ("signer", "patient"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        // The care manager's office joined the team by registering the same person, so the
        // consent alone opens the shared categories to it.
        // A psychiatric diagnosis (excluded by the consent) stays with the hospital.
        let depression = json!({"resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full", "code": "F329", "display": "うつ病エピソード"}]},
            "subject": subject});
        let (status, _, _) = send(fhir_post(&doctor, app.url("/fhir/Condition"), &depression)).await;
        assert_eq!(status, 201);
        let (_, _, seen) = send(cm.get(app.url(&format!("/fhir/Condition?patient={person}")))).await;
        assert_eq!(total(&seen), 1, "pneumonia shared, depression excluded: {seen}");
        assert_eq!(seen["entry"][0]["resource"]["code"]["coding"][0]["code"], "J189");
        let (_, _, doctors_view) = send(doctor.get(app.url(&format!("/fhir/Condition?patient={person}")))).await;
        assert_eq!(total(&doctors_view), 2);

        // Withdrawal stops sharing at once, on every path.
        let consent = app.store.current_consent(&person).await.unwrap().unwrap();
        let res = doctor
            .post(app.url(&format!("/patients/{person}/consent/{}/withdraw", consent.id)))
            .form(&[("csrf", token.as_str()), ("reason", "本人の申し出")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let (_, _, seen) = send(cm.get(app.url(&format!("/fhir/Condition?patient={person}")))).await;
        assert_eq!(total(&seen), 0);
        let (status, _, _) = send(cm.get(app.url(&format!(
            "/fhir/{}",
            seen_id(&doctors_view)
        ))))
        .await;
        assert_eq!(status, 404);
    })
    .await;
}

fn seen_id(bundle: &Value) -> String {
    let r = &bundle["entry"][0]["resource"];
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn system_clients_use_client_credentials_and_scopes() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &doctor, "S-1").await;
        let secret = "s3cret-for-tests-only-0123456789";
        let admin_id = app.user_id("admin1").await;
        app.store
            .create_api_client(
                ApiClient {
                    id: "ehr-1".into(),
                    facility_id: app.facility_id.clone(),
                    name: "電子カルテ".into(),
                    secret_hash: renkei_domain::ids::token_hash(secret),
                    scopes: "system/Observation.crs system/Patient.r".into(),
                    created_by: admin_id.clone(),
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
        let anon = app.anon();
        let token_req = |scope: Option<&str>, secret: &str| {
            let mut form = vec![("grant_type", "client_credentials".to_string())];
            if let Some(s) = scope {
                form.push(("scope", s.to_string()));
            }
            anon.post(app.url("/oauth/token"))
                .basic_auth("ehr-1", Some(secret))
                .form(&form)
        };
        let res = token_req(None, "wrong").send().await.unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        let res = token_req(Some("system/Condition.c"), secret)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let res = token_req(Some("system/Observation.rs"), secret)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        let read_only = body["access_token"].as_str().unwrap().to_string();
        let res = token_req(None, secret).send().await.unwrap();
        let full: Value = res.json().await.unwrap();
        let full = full["access_token"].as_str().unwrap().to_string();

        // Writes with a token carrying `c`; searches with `s`; not beyond the scopes.
        let (status, _, created) = send(
            fhir_post(
                &anon,
                app.url("/fhir/Observation"),
                &observation(&person, 6.0, "2026-11-01"),
            )
            .bearer_auth(&full),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["meta"]["source"], "client:ehr-1");
        let (status, _, _) = send(
            fhir_post(
                &anon,
                app.url("/fhir/Observation"),
                &observation(&person, 6.0, "2026-11-01"),
            )
            .bearer_auth(&read_only),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, bundle) = send(
            anon.get(app.url(&format!("/fhir/Observation?patient={person}")))
                .bearer_auth(&read_only),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(total(&bundle), 1);
        // Included resources follow the token's scopes too: no Provenance.r, no Provenance.
        let (status, _, bundle) = send(
            anon.get(app.url(&format!(
                "/fhir/Observation?patient={person}&_revinclude=Provenance:target"
            )))
            .bearer_auth(&read_only),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            bundle["entry"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["resource"]["resourceType"] == "Observation"),
            "{bundle}"
        );
        let (status, _, _) = send(
            anon.get(app.url("/fhir/Condition?_count=1"))
                .bearer_auth(&read_only),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, _) =
            send(anon.get(app.url("/fhir/Observation")).bearer_auth("forged")).await;
        assert_eq!(status, 401);

        // Revocation by the facility administrator ends every token at once, although the
        // server had just found this one valid (and cached it).
        let (status, _, _) = send(anon.get(app.url("/fhir/Observation")).bearer_auth(&full)).await;
        assert_eq!(status, 200);
        let (admin, _) = app.sign_in("admin1").await;
        let csrf = csrf(&app, &admin).await;
        let res = admin
            .post(app.url("/facility/clients/ehr-1/revoke"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let (status, _, _) = send(anon.get(app.url("/fhir/Observation")).bearer_auth(&full)).await;
        assert_eq!(status, 401);
        let res = token_req(None, secret).send().await.unwrap();
        assert_eq!(res.status(), 401);

        // Token issuance and refused client authentication are both audited.
        let audit = app
            .store
            .search_audit(&AuditQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        let tokens: Vec<&str> = audit
            .iter()
            .filter(|r| r.entry.action == "oauth.token")
            .map(|r| r.entry.outcome.as_str())
            .collect();
        assert!(tokens.contains(&"success"), "{tokens:?}");
        assert!(tokens.contains(&"failure"), "{tokens:?}");
    })
    .await;
}

#[tokio::test]
async fn audit_events_are_read_only_and_limited_to_administrators() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &doctor, "AE-1").await;
        let (status, _, _) = send(fhir_post(
            &doctor,
            app.url("/fhir/Observation"),
            &observation(&person, 6.1, "2026-11-01"),
        ))
        .await;
        assert_eq!(status, 201);
        let (_, _, _) =
            send(doctor.get(app.url(&format!("/fhir/Observation?patient={person}")))).await;

        // A doctor may not read the trail; a facility administrator reads her facility's.
        let (status, _, oo) = send(doctor.get(app.url("/fhir/AuditEvent"))).await;
        assert_eq!(status, 403, "{oo}");
        let (admin, _) = app.sign_in("admin1").await;
        let (status, _, bundle) = send(admin.get(app.url(&format!(
            "/fhir/AuditEvent?patient=Patient/{person}&subtype=patient.read&_count=5"
        ))))
        .await;
        assert_eq!(status, 200, "{bundle}");
        let entries = bundle["entry"]
            .as_array()
            .expect("reads of the patient are listed");
        for e in entries {
            let r = &e["resource"];
            assert_eq!(r["resourceType"], "AuditEvent");
            assert_eq!(r["subtype"][0]["code"], "patient.read");
            assert_eq!(r["action"], "R");
            assert_eq!(
                r["entity"][0]["what"]["reference"],
                format!("Patient/{person}")
            );
            assert_eq!(r["agent"][0]["who"]["identifier"]["value"], "doctor1");
        }
        let id = entries[0]["resource"]["id"].as_str().unwrap().to_string();
        let (status, _, one) = send(admin.get(app.url(&format!("/fhir/AuditEvent/{id}")))).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(one["id"], id);
        // Writes through the trail are impossible.
        let (status, _, _) = send(fhir_post(&admin, app.url("/fhir/AuditEvent"), &one)).await;
        assert_eq!(status, 405);
        let (status, _, _) = send(admin.delete(app.url(&format!("/fhir/AuditEvent/{id}")))).await;
        assert_eq!(status, 405);

        // Another facility's system, even with the AuditEvent scope, sees only records of
        // its own facility's actors.
        let other = app
            .store
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
            .unwrap();
        let secret = "another-s3cret-for-tests-0123456789";
        app.store
            .create_api_client(
                ApiClient {
                    id: "audit-reader".into(),
                    facility_id: other.id.clone(),
                    name: "監査連携".into(),
                    secret_hash: renkei_domain::ids::token_hash(secret),
                    scopes: "system/AuditEvent.rs".into(),
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
        let anon = app.anon();
        let token: Value = anon
            .post(app.url("/oauth/token"))
            .basic_auth("audit-reader", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_string();
        let (status, _, _) = send(
            anon.get(app.url(&format!("/fhir/AuditEvent/{id}")))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 404);
        let (status, _, bundle) = send(
            anon.get(app.url(&format!("/fhir/AuditEvent?patient=Patient/{person}")))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 200);
        assert!(bundle.get("entry").is_none(), "{bundle}");

        // The secretariat sees everything, pages with next links, and filters by date.
        let (sec, _) = app.sign_in("secretariat").await;
        let (status, _, page) = send(sec.get(app.url("/fhir/AuditEvent?_count=2"))).await;
        assert_eq!(status, 200);
        assert_eq!(page["entry"].as_array().unwrap().len(), 2);
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .expect("next link")["url"]
            .as_str()
            .unwrap()
            .to_string();
        let path = &next[next.find("/fhir/").unwrap()..];
        let (_, _, page2) = send(sec.get(app.url(path))).await;
        let first: Vec<&Value> = page["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"]["id"])
            .collect();
        assert!(page2["entry"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !first.contains(&&e["resource"]["id"])));
        let (_, _, none) = send(sec.get(app.url("/fhir/AuditEvent?date=lt2000-01-01"))).await;
        assert!(none.get("entry").is_none());
        let (status, _, _) = send(sec.get(app.url("/fhir/AuditEvent?date=someday"))).await;
        assert_eq!(status, 400);

        // Reading the trail is audited too.
        let audit = app
            .store
            .search_audit(&AuditQuery {
                limit: 50,
                action_prefix: Some("audit.search".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(audit.len() >= 3);
    })
    .await;
}
