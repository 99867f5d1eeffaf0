//! The FHIR patient-identity interfaces over HTTP: CapabilityStatement, PDQm search,
//! `$match`, PIXm, Patient and Consent read — and that outsiders learn nothing from them.

mod testkit;

use renkei_storage::AuditQuery;
use serde_json::{json, Value};
use testkit::{csrf, each_backend, Backend, TestApp};

const HOSPITAL_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.10110000001";
const CARE_OFFICE_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.10170000004";
const OTHER_HOSPITAL_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.10110000002";

fn registration(csrf: &str, local_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.into()),
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
    ]
}

async fn register(
    app: &TestApp,
    client: &reqwest::Client,
    form: &[(&'static str, String)],
) -> String {
    let res = client
        .post(app.url("/patients/new"))
        .form(form)
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

/// Status and parsed FHIR JSON of a GET; checks the media type and R4 shape.
async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, Value) {
    let res = client.get(app.url(path)).send().await.unwrap();
    read(res).await
}

async fn get_with(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    prefer: &str,
) -> (u16, Value) {
    let res = client
        .get(app.url(path))
        .header("prefer", prefer)
        .send()
        .await
        .unwrap();
    read(res).await
}

async fn post_match(app: &TestApp, client: &reqwest::Client, body: String) -> (u16, Value) {
    let res = client
        .post(app.url("/fhir/Patient/$match"))
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .unwrap();
    read(res).await
}

async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()["content-type"],
        "application/fhir+json; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    // For an external validator (docs/fhir.md): every body received, one file each.
    if let Ok(dir) = std::env::var("RENKEI_FHIR_DUMP") {
        let name = format!("{}.json", renkei_domain::ids::new_id());
        std::fs::write(std::path::Path::new(&dir).join(name), &text).unwrap();
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_r4(&body, "$");
    if status >= 400 {
        assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    }
    (status, body)
}

/// Structural R4 checks in spirit: no empty or null values anywhere, and each resource's
/// required elements.
fn assert_r4(v: &Value, path: &str) {
    match v {
        Value::Null => panic!("null at {path}"),
        Value::String(s) => assert!(!s.is_empty(), "empty string at {path}"),
        Value::Array(a) => {
            assert!(!a.is_empty(), "empty array at {path}");
            for (i, x) in a.iter().enumerate() {
                assert_r4(x, &format!("{path}[{i}]"));
            }
        }
        Value::Object(o) => {
            assert!(!o.is_empty(), "empty object at {path}");
            for (k, x) in o {
                assert_r4(x, &format!("{path}.{k}"));
            }
            let required: &[&str] = match o.get("resourceType").and_then(Value::as_str) {
                Some("Patient") => &["id", "meta", "identifier", "name"],
                Some("Bundle") => &["type"],
                Some("Parameters") => &["parameter"],
                Some("OperationOutcome") => &["issue"],
                Some("CapabilityStatement") => &["status", "date", "kind", "fhirVersion", "format"],
                Some("Consent") => &["status", "scope", "category", "policyRule", "patient"],
                Some(other) => panic!("unexpected resource {other} at {path}"),
                None => &[],
            };
            for r in required {
                assert!(o.contains_key(*r), "{r} missing at {path}");
            }
            if o.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome") {
                for issue in o["issue"].as_array().unwrap() {
                    assert!(issue["severity"].is_string() && issue["code"].is_string());
                    let d = issue["diagnostics"].as_str().unwrap();
                    assert!(d.contains(" / "), "Japanese and English: {d}");
                }
            }
        }
        _ => {}
    }
}

fn total(bundle: &Value) -> u64 {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle["total"].as_u64().unwrap()
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| x["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn match_body(patient: Value, extra: Vec<Value>) -> String {
    let mut parameter = vec![json!({ "name": "resource", "resource": patient })];
    parameter.extend(extra);
    json!({ "resourceType": "Parameters", "parameter": parameter }).to_string()
}

fn exact_copy() -> Value {
    json!({
        "resourceType": "Patient",
        "name": [
            { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE" }], "family": "苫小牧", "given": ["花子"] },
            { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL" }], "family": "トマコマイ", "given": ["ハナコ"] },
        ],
        "gender": "female",
        "birthDate": "1938-04-12",
        "telecom": [{ "system": "phone", "value": "0144-32-1111" }],
        "address": [{ "text": "北海道苫小牧市表町1丁目2-3", "postalCode": "053-0022" }],
    })
}

#[tokio::test]
async fn metadata_is_public_and_lists_what_exists() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, cs) = get(&app, &app.anon(), "/fhir/metadata").await;
    assert_eq!(status, 200);
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["kind"], "instance");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    let resources = cs["rest"][0]["resource"].as_array().unwrap();
    let types: Vec<&str> = resources
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[..2], ["Patient", "Consent"]);
    for t in [
        "Observation",
        "MedicationRequest",
        "DocumentReference",
        "Binary",
        "Provenance",
    ] {
        assert!(types.contains(&t), "{t} is listed");
    }
    let observation = resources
        .iter()
        .find(|r| r["type"] == "Observation")
        .unwrap();
    assert!(observation["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["code"] == "update"));
    let ops: Vec<&str> = resources[0]["operation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["ihe-pix", "match", "everything"]);
    let params: Vec<&str> = resources[0]["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "family",
            "given",
            "birthdate",
            "gender",
            "identifier",
            "telecom",
            "address"
        ]
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_operation_outcomes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let anon = app.anon();
    for path in [
        "/fhir/Patient?family=x",
        "/fhir/Patient/abc",
        "/fhir/Patient/$ihe-pix?sourceIdentifier=a|b",
        "/fhir/Consent/abc",
    ] {
        let (status, body) = get(&app, &anon, path).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["issue"][0]["code"], "login");
    }
    let (status, _) = post_match(&app, &anon, match_body(exact_copy(), vec![])).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn pdqm_match_and_patient_read_respect_the_care_team() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;
        let person = register(&app, &doctor, &registration(&token, "P-0001")).await;
        // Someone else entirely, to be filtered out.
        let mut someone = registration(&token, "P-0002");
        someone[2] = ("family_kanji", "室蘭".into());
        someone[4] = ("family_kana", "むろらん".into());
        someone[6] = ("birth_date", "1951-09-30".into());
        someone[7] = ("sex", "male".into());
        someone[10] = ("phone", "0143-22-0000".into());
        let other_person = register(&app, &doctor, &someone).await;
        assert_ne!(person, other_person);

        // PDQm: kana (either script, any width), birth date, identifier, telecom, gender.
        for (query, expected) in [
            ("family=%E3%83%88%E3%83%9E%E3%82%B3%E3%83%9E%E3%82%A4", 1), // トマコマイ
            ("family=%E3%81%A8%E3%81%BE%E3%81%93", 1), // とまこ (contains)
            ("family=%EF%BE%84%EF%BE%8F%EF%BD%BA", 1), // ﾄﾏｺ (half-width)
            ("family:exact=%E8%8B%AB%E5%B0%8F%E7%89%A7", 1), // 苫小牧
            ("family:exact=%E8%8B%AB%E5%B0%8F", 0), // 苫小
            ("given=%E8%8A%B1", 2), // 花 (both are 花子)
            ("birthdate=1938-04-12", 1),
            ("birthdate=eq1951-09-30", 1),
            ("gender=female", 1),
            ("telecom=0144321111", 1),
            ("address=053-0022", 2),
            ("given=%E8%8A%B1&_count=1", 2),
        ] {
            let (status, bundle) = get(&app, &doctor, &format!("/fhir/Patient?{query}")).await;
            assert_eq!(status, 200, "{query}: {bundle}");
            assert_eq!(total(&bundle), expected, "{query}");
            assert!(bundle["link"][0]["url"]
                .as_str()
                .unwrap()
                .starts_with("http://test.invalid/fhir/Patient"));
        }
        let (_, bundle) = get(&app, &doctor, "/fhir/Patient?given=%E8%8A%B1&_count=1").await;
        assert_eq!(ids(&bundle).len(), 1, "_count limits the page, not the total");
        let (_, bundle) = get(
            &app,
            &doctor,
            &format!("/fhir/Patient?identifier={HOSPITAL_SYSTEM}%7CP-0001"),
        )
        .await;
        assert_eq!(ids(&bundle), std::slice::from_ref(&person));
        let patient = &bundle["entry"][0]["resource"];
        assert_eq!(bundle["entry"][0]["search"]["mode"], "match");
        assert_eq!(
            patient["meta"]["profile"][0],
            "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
        );
        assert_eq!(patient["identifier"][0]["system"], HOSPITAL_SYSTEM);
        assert_eq!(patient["identifier"][0]["value"], "P-0001");
        assert_eq!(patient["identifier"][0]["assigner"]["display"], "テスト総合病院");
        assert_eq!(patient["name"][0]["extension"][0]["valueCode"], "IDE");
        assert_eq!(patient["name"][0]["family"], "苫小牧");
        assert_eq!(patient["name"][1]["extension"][0]["valueCode"], "SYL");
        assert_eq!(patient["name"][1]["family"], "トマコマイ");
        assert_eq!(patient["gender"], "female");
        assert_eq!(patient["birthDate"], "1938-04-12");
        assert_eq!(patient["telecom"][0]["value"], "0144-32-1111");
        assert_eq!(patient["address"][0]["postalCode"], "053-0022");
        // Strict by default; lenient on request.
        let (status, oo) = get(&app, &doctor, "/fhir/Patient?family=x&shoe-size=9").await;
        assert_eq!(status, 400);
        assert_eq!(oo["issue"][0]["code"], "not-supported");
        let (status, bundle) = get_with(
            &app,
            &doctor,
            "/fhir/Patient?birthdate=1938-04-12&shoe-size=9",
            "handling=lenient",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(total(&bundle), 1);
        assert!(!bundle["link"][0]["url"]
            .as_str()
            .unwrap()
            .contains("shoe-size"));
        for bad in ["birthdate=ge1938-01-01", "gender=robot", "_count=many"] {
            let (status, _) = get(&app, &doctor, &format!("/fhir/Patient?{bad}")).await;
            assert_eq!(status, 400, "{bad}");
        }
        // One audit record for the search, naming the persons returned.
        let searches = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("patient.search".into()),
                actor_login: Some("doctor1".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(searches
            .iter()
            .any(|r| r.entry.detail.contains("fhir:Patient") && r.entry.detail.contains(&person)));

        // Read.
        let (status, read) = get(&app, &doctor, &format!("/fhir/Patient/{person}")).await;
        assert_eq!(status, 200);
        assert_eq!(read["id"], person.as_str());
        assert_eq!(read["active"], true);

        // $match: the exact copy is certain and first.
        let (status, bundle) = post_match(&app, &doctor, match_body(exact_copy(), vec![])).await;
        assert_eq!(status, 200, "{bundle}");
        assert_eq!(ids(&bundle)[0], person);
        let first = &bundle["entry"][0];
        assert_eq!(first["search"]["mode"], "match");
        assert_eq!(
            first["search"]["extension"][0]["url"],
            "http://hl7.org/fhir/StructureDefinition/match-grade"
        );
        assert_eq!(first["search"]["extension"][0]["valueCode"], "certain");
        let score = first["search"]["score"].as_f64().unwrap();
        assert!(score > 0.9 && score <= 1.0, "{score}");
        assert!(!ids(&bundle).contains(&other_person));
        // A variant: kana only (hiragana in name.text), day and month digits swapped, no
        // phone or address.
        let variant = json!({
            "resourceType": "Patient",
            "name": [{ "text": "とまこまい はなこ" }],
            "gender": "female",
            "birthDate": "1938-04-21",
        });
        let (status, bundle) =
            post_match(&app, &doctor, match_body(variant.clone(), vec![])).await;
        assert_eq!(status, 200, "{bundle}");
        assert_eq!(ids(&bundle)[0], person, "{bundle}");
        let grade = bundle["entry"][0]["search"]["extension"][0]["valueCode"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            grade == "probable" || grade == "possible",
            "variant grade {grade}: {bundle}"
        );
        let variant_score = bundle["entry"][0]["search"]["score"].as_f64().unwrap();
        assert!(variant_score < score);
        let (_, bundle) = post_match(
            &app,
            &doctor,
            match_body(
                variant,
                vec![json!({ "name": "onlyCertainMatches", "valueBoolean": true })],
            ),
        )
        .await;
        assert_eq!(total(&bundle), 0);
        assert!(bundle.get("entry").is_none());
        let (_, bundle) = post_match(
            &app,
            &doctor,
            match_body(
                exact_copy(),
                vec![json!({ "name": "count", "valueInteger": 1 })],
            ),
        )
        .await;
        assert_eq!(ids(&bundle).len(), 1);

        // Malformed bodies.
        for body in [
            "{not json".to_string(),
            json!({ "resourceType": "Patient" }).to_string(),
            json!({ "resourceType": "Parameters", "parameter": "x" }).to_string(),
            json!({ "resourceType": "Parameters", "parameter": [] }).to_string(),
            match_body(json!({ "resourceType": "Observation" }), vec![]),
            match_body(
                json!({ "resourceType": "Patient", "name": [{ "family": "苫小牧" }] }),
                vec![],
            ),
            match_body(
                json!({ "resourceType": "Patient", "name": [{ "family": 7 }], "birthDate": "1938-04-12" }),
                vec![],
            ),
            match_body(
                json!({ "resourceType": "Patient", "name": [{ "family": "苫小牧" }], "birthDate": "1938/04/12" }),
                vec![],
            ),
            match_body(
                exact_copy(),
                vec![json!({ "name": "onlyCertainMatches", "valueBoolean": "yes" })],
            ),
            match_body(
                exact_copy(),
                vec![json!({ "name": "count", "valueInteger": "ten" })],
            ),
        ] {
            let (status, oo) = post_match(&app, &doctor, body.clone()).await;
            assert_eq!(status, 400, "{body}: {oo}");
        }

        // An outsider finds nothing and reads nothing.
        let (other, _) = app.sign_in("otherdoc").await;
        let (_, bundle) = get(
            &app,
            &other,
            "/fhir/Patient?family=%E3%83%88%E3%83%9E%E3%82%B3%E3%83%9E%E3%82%A4",
        )
        .await;
        assert_eq!(total(&bundle), 0);
        let (status, bundle) = post_match(&app, &other, match_body(exact_copy(), vec![])).await;
        assert_eq!(status, 200);
        assert_eq!(total(&bundle), 0, "{bundle}");
        assert!(bundle.get("entry").is_none());
        let (hidden_status, hidden) = get(&app, &other, &format!("/fhir/Patient/{person}")).await;
        let (unknown_status, unknown) = get(
            &app,
            &other,
            "/fhir/Patient/00000000000000000000000000000000",
        )
        .await;
        assert_eq!((hidden_status, unknown_status), (404, 404));
        assert_eq!(hidden, unknown, "a refusal looks like an unknown patient");
        assert_eq!(hidden["issue"][0]["code"], "not-found");
    })
    .await;
}

#[tokio::test]
async fn pixm_cross_references_and_consent_read() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;
        let person = register(&app, &doctor, &registration(&token, "A-1")).await;
        let (cm, _) = app.sign_in("cm1").await;
        let cm_token = csrf(&app, &cm).await;
        let mut variant = registration(&cm_token, "K-77");
        variant[4] = ("family_kana", "ﾄﾏｺﾏｲ".into());
        let linked = register(&app, &cm, &variant).await;
        assert_eq!(linked, person, "linked through the patient index");

        let pix = |source: &str, target: Option<&str>| {
            let mut path = format!("/fhir/Patient/$ihe-pix?sourceIdentifier={source}");
            if let Some(t) = target {
                path.push_str(&format!("&targetSystem={t}"));
            }
            path
        };
        // Unknown domain 400, unknown ID in a known domain 404, missing parameter 400.
        let (status, oo) = get(&app, &doctor, &pix("urn:unknown%7CA-1", None)).await;
        assert_eq!(status, 400);
        assert_eq!(oo["issue"][0]["code"], "code-invalid");
        let (status, _) = get(
            &app,
            &doctor,
            &pix(&format!("{HOSPITAL_SYSTEM}%7CZ-9"), None),
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) = get(&app, &doctor, "/fhir/Patient/$ihe-pix").await;
        assert_eq!(status, 400);
        let (status, _) = get(
            &app,
            &doctor,
            &pix(&format!("{HOSPITAL_SYSTEM}%7CA-1"), Some("urn:unknown")),
        )
        .await;
        assert_eq!(status, 403);

        // Without consent the hospital sees only its own registration: no cross-reference.
        let (status, params) = get(
            &app,
            &doctor,
            &pix(&format!("{HOSPITAL_SYSTEM}%7CA-1"), None),
        )
        .await;
        assert_eq!(status, 200, "{params}");
        assert_eq!(params["resourceType"], "Parameters");
        let parameter = params["parameter"].as_array().unwrap();
        assert_eq!(parameter.len(), 1, "{params}");
        assert_eq!(parameter[0]["name"], "targetId");
        assert_eq!(
            parameter[0]["valueReference"]["reference"],
            format!("Patient/{person}")
        );

        // Consent (with an exclusion, signed by a proxy) opens the cross-reference.
        let res = doctor
            .post(app.url(&format!("/patients/{person}/consent")))
            .form(&[
                ("csrf", token.as_str()),
                ("scope", "comprehensive"),
                ("excluded", "psychiatric"),
                ("form", "written"),
                ("signer", "proxy"),
                ("proxy_name", "苫小牧 一郎"),
                ("proxy_relationship", "長男"),
                ("card_number", "C-123"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let (status, params) = get(
            &app,
            &doctor,
            &pix(&format!("{HOSPITAL_SYSTEM}%7CA-1"), None),
        )
        .await;
        assert_eq!(status, 200);
        let targets: Vec<(&str, &str)> = params["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "targetIdentifier")
            .map(|p| {
                (
                    p["valueIdentifier"]["system"].as_str().unwrap(),
                    p["valueIdentifier"]["value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(targets, [(CARE_OFFICE_SYSTEM, "K-77")]);
        // The other direction, filtered by target system.
        let (status, params) = get(
            &app,
            &cm,
            &pix(
                &format!("{CARE_OFFICE_SYSTEM}%7CK-77"),
                Some(HOSPITAL_SYSTEM),
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(params["parameter"][0]["valueIdentifier"]["value"], "A-1");
        let (_, params) = get(
            &app,
            &cm,
            &pix(
                &format!("{CARE_OFFICE_SYSTEM}%7CK-77"),
                Some(OTHER_HOSPITAL_SYSTEM),
            ),
        )
        .await;
        assert_eq!(params["parameter"].as_array().unwrap().len(), 1);
        // An outsider gets the same 404 as for an unknown ID.
        let (other, _) = app.sign_in("otherdoc").await;
        let (status, hidden) = get(
            &app,
            &other,
            &pix(&format!("{HOSPITAL_SYSTEM}%7CA-1"), None),
        )
        .await;
        assert_eq!(status, 404);
        let (_, unknown) = get(
            &app,
            &other,
            &pix(&format!("{HOSPITAL_SYSTEM}%7CZ-9"), None),
        )
        .await;
        assert_eq!(hidden, unknown);

        // The Patient now carries both registrations.
        let (_, patient) = get(&app, &doctor, &format!("/fhir/Patient/{person}")).await;
        let values: Vec<&str> = patient["identifier"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["A-1", "K-77"]);

        // Consent read.
        let consent = app.store.current_consent(&person).await.unwrap().unwrap();
        let (status, c) = get(&app, &doctor, &format!("/fhir/Consent/{}", consent.id)).await;
        assert_eq!(status, 200, "{c}");
        assert_eq!(c["resourceType"], "Consent");
        assert_eq!(c["status"], "active");
        assert_eq!(c["scope"]["coding"][0]["code"], "patient-privacy");
        assert_eq!(c["category"][0]["coding"][0]["code"], "59284-0");
        assert_eq!(c["patient"]["reference"], format!("Patient/{person}"));
        assert_eq!(c["provision"]["type"], "permit");
        assert_eq!(c["provision"]["provision"][0]["type"], "deny");
        assert_eq!(
            c["provision"]["provision"][0]["code"][0]["coding"][0]["code"],
            "psychiatric"
        );
        assert_eq!(c["organization"][0]["display"], "テスト総合病院");
        assert_eq!(c["identifier"][0]["value"], "C-123");
        assert!(c["performer"][0]["display"]
            .as_str()
            .unwrap()
            .contains("苫小牧 一郎"));
        let details = c["extension"][0]["extension"].to_string();
        assert!(details.contains("proxyRelationship") && details.contains("長男"));
        let (status, _) = get(&app, &other, &format!("/fhir/Consent/{}", consent.id)).await;
        assert_eq!(status, 404);
        let (status, _) = get(&app, &doctor, "/fhir/Consent/nope").await;
        assert_eq!(status, 404);
    })
    .await;
}

#[tokio::test]
async fn a_merged_person_points_to_the_survivor() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;
        let first = register(&app, &doctor, &registration(&token, "M-1")).await;
        // The care office registers her with a swapped birth date and other contacts: a
        // pair for review, not an automatic link.
        let (cm, _) = app.sign_in("cm1").await;
        let cm_token = csrf(&app, &cm).await;
        let mut variant = registration(&cm_token, "M-2");
        variant[6] = ("birth_date", "1938-04-21".into());
        variant[9] = ("address", "北海道札幌市中央区北1条西2丁目".into());
        variant[8] = ("postal_code", "060-0001".into());
        variant[10] = ("phone", "011-222-3333".into());
        let second = register(&app, &cm, &variant).await;
        assert_ne!(first, second);
        let reviews = app.store.open_match_reviews(10).await.unwrap();
        assert_eq!(reviews.len(), 1, "{reviews:?}");
        let (sec, _) = app.sign_in("secretariat").await;
        let sec_token = csrf(&app, &sec).await;
        let res = sec
            .post(app.url(&format!("/admin/mpi/{}", reviews[0].id)))
            .form(&[("csrf", sec_token.as_str()), ("decision", "same")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let survivor = app.store.resolve_person(&first).await.unwrap().unwrap();
        let merged = if survivor == first { &second } else { &first };
        assert_eq!(
            app.store.resolve_person(merged).await.unwrap().as_deref(),
            Some(survivor.as_str())
        );
        let (status, patient) = get(&app, &doctor, &format!("/fhir/Patient/{merged}")).await;
        assert_eq!(status, 200, "{patient}");
        assert_eq!(patient["id"], merged.as_str());
        assert_eq!(patient["active"], false);
        assert_eq!(patient["link"][0]["type"], "replaced-by");
        assert_eq!(
            patient["link"][0]["other"]["reference"],
            format!("Patient/{survivor}")
        );
        let (_, patient) = get(&app, &doctor, &format!("/fhir/Patient/{survivor}")).await;
        assert_eq!(patient["active"], true);
        assert!(patient.get("link").is_none());
    })
    .await;
}
