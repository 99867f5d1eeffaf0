//! Documents between facilities through a real server, on both backends: a care manager
//! drafts a 入院時情報提供書 (admission date from the hospital's Encounter), the due list
//! shows it due, a document cannot be sent outside the care team (nothing stored), another
//! facility cannot edit it, the hospital confirms receipt, the PDF carries the text, the
//! FHIR document Bundle starts with its Composition, outsiders get 404.

mod testkit;

use renkei_storage::AuditQuery;
use serde_json::{json, Value};
use testkit::{between, csrf, each_backend, TestApp};

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

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

async fn register(app: &TestApp, client: &reqwest::Client, local_id: &str) -> String {
    let token = csrf(app, client).await;
    let form = [
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
    let (status, location, body) = post_form(app, client, "/patients/new", &form).await;
    assert_eq!(status, 303, "{body}");
    location
        .trim_start_matches("/patients/")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// Consent in force and the hospital (F00001) an active member of the care team.
async fn consent_and_join_hospital(
    app: &TestApp,
    cm: &reqwest::Client,
    hospital: &reqwest::Client,
    person: &str,
) {
    let token = csrf(app, cm).await;
    let (status, _, body) = post_form(
        app,
        cm,
        &format!("/patients/{person}/consent"),
        &[
            ("csrf", token.clone()),
            ("scope", "comprehensive".into()),
            ("form", "written".into()),
            ("signer", "patient".into()),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let (status, _, body) = post_form(
        app,
        cm,
        &format!("/patients/{person}/team/invite"),
        &[("csrf", token), ("facility", "F00001".into())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let token = csrf(app, hospital).await;
    let (status, _, body) = post_form(
        app,
        hospital,
        &format!("/invitations/{person}"),
        &[("csrf", token), ("answer", "accept".into())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
}

fn today_jst() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

async fn facility_of(app: &TestApp, login: &str) -> String {
    let id = app.user_id(login).await;
    app.store.memberships_of(&id).await.unwrap()[0]
        .facility
        .id
        .clone()
}

async fn stored(app: &TestApp, id: &str) -> (i64, Value) {
    let row = app
        .store
        .fhir_read("Composition", id)
        .await
        .unwrap()
        .unwrap();
    (row.version_id, serde_json::from_str(&row.content).unwrap())
}

async fn audits(app: &TestApp, person: &str, action: &str, outcome: &str) -> usize {
    app.store
        .search_audit(&AuditQuery {
            action_prefix: Some(action.into()),
            patient_id: Some(person.into()),
            outcome: Some(outcome.into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

/// The text of a PDF, by poppler's pdftotext (installed by .ci/run).
fn pdf_text(pdf: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) must be installed");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn admission_info_draft_send_receipt_pdf_and_bundle() {
    each_backend(|app| async move {
        let (cm, _) = app.sign_in("cm1").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let (outsider, _) = app.sign_in("otherdoc").await;
        let person = register(&app, &cm, "CM-1").await;
        consent_and_join_hospital(&app, &cm, &doctor, &person).await;
        let hospital_id = facility_of(&app, "doctor1").await;
        let outside_id = facility_of(&app, "otherdoc").await;

        // The hospital records the admission (yesterday) as an Encounter.
        let admitted = today_jst() - chrono::Duration::days(1);
        let encounter = json!({
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": format!("Patient/{person}")},
            "period": {"start": format!("{admitted}T10:00:00+09:00")},
        });
        let res = doctor
            .post(app.url("/fhir/Encounter"))
            .header("content-type", "application/fhir+json")
            .body(encounter.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());

        // The care manager's due list: due in two days.
        let (status, html) = get(&app, &cm, "/documents").await;
        assert_eq!(status, 200);
        let due = between(&html, "id=\"due\"", "</section>").unwrap();
        assert!(due.contains("期限まであと2日"), "{due}");
        assert!(due.contains(&admitted.to_string()), "{due}");

        // A draft, with the admission date filled in from the Encounter.
        let token = csrf(&app, &cm).await;
        let (status, location, body) = post_form(
            &app,
            &cm,
            &format!("/patients/{person}/documents"),
            &[("csrf", token.clone()), ("kind", "admission-info".into())],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let doc = location
            .split("/documents/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let doc_path = format!("/patients/{person}/documents/{doc}");
        let (status, html) = get(&app, &cm, &doc_path).await;
        assert_eq!(status, 200);
        assert!(
            html.contains(&format!("value=\"{admitted}\"")),
            "admission date prefilled"
        );
        let (version, v) = stored(&app, &doc).await;
        assert_eq!((version, v["status"].as_str()), (1, Some("preliminary")));

        // Save the draft.
        let fields = |version: i64, action: &str, to: &[&str]| {
            let mut f: Vec<(&str, String)> = vec![
                ("csrf", token.clone()),
                ("version", version.to_string()),
                ("action", action.into()),
                ("admission_date", admitted.to_string()),
                ("care_level", "要介護2".into()),
                ("adl", "杖歩行。食事は自立、入浴は一部介助。".into()),
                ("wishes", "自宅へ戻りたい".into()),
            ];
            for t in to {
                f.push(("to", t.to_string()));
            }
            f
        };
        let (status, _, body) = post_form(&app, &cm, &doc_path, &fields(1, "save", &[])).await;
        assert_eq!(status, 303, "{body}");
        assert_eq!(stored(&app, &doc).await.0, 2);

        // Another facility cannot edit it (the hospital sees it as a team member).
        let doctor_token = csrf(&app, &doctor).await;
        let mut theirs = fields(2, "save", &[]);
        theirs[0].1 = doctor_token.clone();
        let (status, _, _) = post_form(&app, &doctor, &doc_path, &theirs).await;
        assert_eq!(status, 403);
        assert_eq!(stored(&app, &doc).await.0, 2, "nothing stored");

        // Sending outside the care team: refused, nothing stored half-way.
        let (status, _, body) = post_form(
            &app,
            &cm,
            &doc_path,
            &fields(2, "send", &[&hospital_id, &outside_id]),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body.contains("ケアチームに参加していない施設には送付できません"),
            "{body}"
        );
        let (version, v) = stored(&app, &doc).await;
        assert_eq!((version, v["status"].as_str()), (2, Some("preliminary")));
        assert!(app
            .store
            .documents()
            .deliveries_of(std::slice::from_ref(&doc))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(audits(&app, &person, "document.send", "denied").await, 1);

        // Sending with a required field empty is refused too.
        let mut incomplete = fields(2, "send", &[&hospital_id]);
        incomplete[3].1 = String::new();
        let (status, _, body) = post_form(&app, &cm, &doc_path, &incomplete).await;
        assert_eq!(status, 400);
        assert!(body.contains("入院日: 入力してください"), "{body}");
        assert_eq!(stored(&app, &doc).await.0, 2);

        // Sent to the hospital: final, one delivery, no more edits.
        let (status, _, body) =
            post_form(&app, &cm, &doc_path, &fields(2, "send", &[&hospital_id])).await;
        assert_eq!(status, 303, "{body}");
        let (version, v) = stored(&app, &doc).await;
        assert_eq!((version, v["status"].as_str()), (3, Some("final")));
        let deliveries = app
            .store
            .documents()
            .deliveries_of(std::slice::from_ref(&doc))
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].to_facility_id, hospital_id);
        assert_eq!(audits(&app, &person, "document.send", "success").await, 1);
        let (status, _, body) = post_form(&app, &cm, &doc_path, &fields(3, "save", &[])).await;
        assert_eq!(status, 400);
        assert!(body.contains("送付済みのため編集できません"));

        // The due list: provided, nothing left due.
        let (_, html) = get(&app, &cm, "/documents").await;
        assert!(html.contains("id=\"due-empty\""), "{html}");

        // The hospital's inbox; it confirms receipt.
        let (_, html) = get(&app, &doctor, "/documents").await;
        let received = between(&html, "id=\"received\"", "</section>").unwrap();
        assert!(
            received.contains("入院時情報提供書") && received.contains("未確認"),
            "{received}"
        );
        let (_, html) = get(&app, &doctor, &doc_path).await;
        assert!(html.contains("id=\"confirm-receipt\""));
        assert!(html.contains("杖歩行。食事は自立、入浴は一部介助。"));
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{doc_path}/receipt"),
            &[("csrf", doctor_token.clone())],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let d = &app
            .store
            .documents()
            .deliveries_of(std::slice::from_ref(&doc))
            .await
            .unwrap()[0];
        assert!(d.received_at.is_some());
        assert_eq!(
            d.received_by.as_deref(),
            Some(app.user_id("doctor1").await.as_str())
        );
        // A second confirmation finds nothing pending.
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("{doc_path}/receipt"),
            &[("csrf", doctor_token)],
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            audits(&app, &person, "document.receipt", "success").await,
            1
        );
        let (_, html) = get(&app, &cm, &doc_path).await;
        let table = between(&html, "id=\"deliveries\"", "</section>").unwrap();
        assert!(
            table.contains("受領確認済み") && table.contains("テスト 医師1"),
            "{table}"
        );

        // The PDF: an attachment whose text is the form's.
        let res = doctor
            .get(app.url(&format!("{doc_path}/pdf")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "application/pdf");
        assert!(res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;"));
        let pdf = res.bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = pdf_text(&pdf);
        for expected in [
            "入院時情報提供書",
            "苫小牧 花子",
            "テスト総合病院",
            "杖歩行。食事は自立、入浴は一部介助。",
            "本人・家族の意向",
            "自宅へ戻りたい",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }

        // The FHIR document Bundle: type document, the Composition first.
        let res = cm
            .get(app.url(&format!("{doc_path}/bundle")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let bundle: Value = res.json().await.unwrap();
        assert_eq!(bundle["type"], "document");
        assert_eq!(
            bundle["entry"][0]["resource"]["resourceType"],
            "Composition"
        );
        assert_eq!(
            bundle["entry"][0]["resource"]["subject"]["reference"],
            bundle["entry"][1]["fullUrl"]
        );
        assert_eq!(bundle["entry"][1]["resource"]["resourceType"], "Patient");
        let mut composition = bundle["entry"][0]["resource"].clone();
        composition["subject"] = json!({"reference": format!("Patient/{person}")});
        renkei_fhir::resource::prepare(&composition).expect("a valid Composition");

        // Outside the care team: 404 for the page, the PDF and the bundle.
        for suffix in ["", "/pdf", "/bundle"] {
            let (status, _) = get(&app, &outsider, &format!("{doc_path}{suffix}")).await;
            assert_eq!(status, 404, "{suffix}");
        }
        let (_, html) = get(&app, &outsider, "/documents").await;
        assert!(html.contains("id=\"received-empty\""));
    })
    .await;
}

#[tokio::test]
async fn overdue_admission_and_other_kinds() {
    each_backend(|app| async move {
        let (cm, _) = app.sign_in("cm1").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &cm, "CM-2").await;
        consent_and_join_hospital(&app, &cm, &doctor, &person).await;
        let token = csrf(&app, &cm).await;
        // An admission entered on a draft five days ago: overdue by two days.
        let (status, location, _) = post_form(
            &app,
            &cm,
            &format!("/patients/{person}/documents"),
            &[("csrf", token.clone()), ("kind", "admission-info".into())],
        )
        .await;
        assert_eq!(status, 303);
        let doc_path = location.split('?').next().unwrap().to_string();
        let admitted = today_jst() - chrono::Duration::days(5);
        let (status, _, body) = post_form(
            &app,
            &cm,
            &doc_path,
            &[
                ("csrf", token.clone()),
                ("version", "1".into()),
                ("action", "save".into()),
                ("admission_date", admitted.to_string()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (_, html) = get(&app, &cm, "/documents").await;
        let due = between(&html, "id=\"due\"", "</section>").unwrap();
        assert!(due.contains("期限超過（2日）"), "{due}");

        // A bad date is a form message, nothing stored.
        let (status, _, body) = post_form(
            &app,
            &cm,
            &doc_path,
            &[
                ("csrf", token.clone()),
                ("version", "2".into()),
                ("action", "save".into()),
                ("admission_date", "12月1日".into()),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body.contains("日付（年-月-日）で入力してください"),
            "{body}"
        );

        // The hospital writes a referral letter and sends it to the whole team.
        let doctor_token = csrf(&app, &doctor).await;
        let (status, location, _) = post_form(
            &app,
            &doctor,
            &format!("/patients/{person}/documents"),
            &[("csrf", doctor_token.clone()), ("kind", "referral".into())],
        )
        .await;
        assert_eq!(status, 303);
        let referral = location.split('?').next().unwrap().to_string();
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &referral,
            &[
                ("csrf", doctor_token.clone()),
                ("version", "1".into()),
                ("action", "send".into()),
                ("purpose", "在宅療養の継続のため".into()),
                ("diagnosis", "心不全".into()),
                ("to", "all".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (_, html) = get(&app, &cm, "/documents").await;
        let received = between(&html, "id=\"received\"", "</section>").unwrap();
        assert!(received.contains("診療情報提供書"), "{received}");
        let res = cm
            .get(app.url(&format!("{referral}/bundle")))
            .send()
            .await
            .unwrap();
        let bundle: Value = res.json().await.unwrap();
        let codings = bundle["entry"][0]["resource"]["type"]["coding"].to_string();
        assert!(codings.contains("57133-1"), "{codings}");
        let res = cm
            .get(app.url(&format!("{referral}/pdf")))
            .send()
            .await
            .unwrap();
        let text = pdf_text(&res.bytes().await.unwrap());
        assert!(
            text.contains("診療情報提供書") && text.contains("心不全"),
            "{text}"
        );
        // English labels on the page.
        let (status, _) = get(&app, &cm, "/lang/en?back=/").await;
        assert!(status == 200 || status == 303);
        let (_, html) = get(&app, &cm, &format!("/patients/{person}/documents")).await;
        assert!(html.contains("Admission information: deadlines"), "{html}");
        assert!(html.contains("Referral letter"));
    })
    .await;
}

/// Every `reference` string anywhere below `v`.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("reference") {
                out.push(r.clone());
            }
            for child in map.values() {
                references(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn section_codes(sections: &Value) -> Vec<String> {
    sections
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(
                s["code"]["coding"][0]["system"],
                "http://jpfhir.jp/fhir/clins/CodeSystem/document-section"
            );
            s["code"]["coding"][0]["code"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn referral_letter_is_a_jp_clins_ereferral_bundle() {
    each_backend(|app| async move {
        let (cm, _) = app.sign_in("cm1").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let (outsider, _) = app.sign_in("otherdoc").await;
        let person = register(&app, &cm, "CM-CLINS").await;
        consent_and_join_hospital(&app, &cm, &doctor, &person).await;
        let care_office = facility_of(&app, "cm1").await;

        // The hospital's record of the patient: problems, an allergy, a prescription, a
        // laboratory result, a vital sign and the admission.
        let subject = json!({ "reference": format!("Patient/{person}") });
        let clinical_status = |code: &str| {
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": code }] })
        };
        let resources = [
            json!({ "resourceType": "Encounter", "status": "in-progress",
                "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
                "subject": subject, "period": { "start": "2026-11-28T10:00:00+09:00" } }),
            json!({ "resourceType": "Condition", "clinicalStatus": clinical_status("active"),
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10", "code": "I50.0", "display": "うっ血性心不全" }] },
                "subject": subject, "onsetDateTime": "2026-11-20" }),
            json!({ "resourceType": "Condition", "clinicalStatus": clinical_status("resolved"),
                "code": { "text": "狭心症" }, "subject": subject, "onsetDateTime": "2018-04-01" }),
            json!({ "resourceType": "AllergyIntolerance",
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
                "code": { "text": "ペニシリン" }, "patient": subject,
                "reaction": [{ "manifestation": [{ "text": "発疹" }] }] }),
            json!({ "resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "medicationCodeableConcept": { "text": "フロセミド錠20mg" }, "subject": subject,
                "authoredOn": "2026-11-29", "dosageInstruction": [{ "text": "1日1回 朝食後" }] }),
            json!({ "resourceType": "MedicationRequest", "status": "stopped", "intent": "order",
                "medicationCodeableConcept": { "text": "中止した薬" }, "subject": subject,
                "authoredOn": "2026-10-01" }),
            json!({ "resourceType": "Observation", "status": "final",
                "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }],
                "code": { "text": "BNP" }, "subject": subject, "effectiveDateTime": "2026-11-29T09:00:00+09:00",
                "valueQuantity": { "value": 420, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL" } }),
            json!({ "resourceType": "Observation", "status": "final",
                "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }],
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8310-5", "display": "体温" }] },
                "subject": subject, "effectiveDateTime": "2026-11-29T09:00:00+09:00",
                "valueQuantity": { "value": 36.8, "unit": "℃", "system": "http://unitsofmeasure.org", "code": "Cel" } }),
        ];
        for r in &resources {
            let res = doctor
                .post(app.url(&format!("/fhir/{}", r["resourceType"].as_str().unwrap())))
                .header("content-type", "application/fhir+json")
                .body(r.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());
        }

        // The referral letter, sent to the care office.
        let token = csrf(&app, &doctor).await;
        let (status, location, _) = post_form(
            &app,
            &doctor,
            &format!("/patients/{person}/documents"),
            &[("csrf", token.clone()), ("kind", "referral".into())],
        )
        .await;
        assert_eq!(status, 303);
        let doc_path = location.split('?').next().unwrap().to_string();
        let doc = doc_path.rsplit('/').next().unwrap().to_string();
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &doc_path,
            &[
                ("csrf", token.clone()),
                ("version", "1".into()),
                ("action", "send".into()),
                ("purpose", "退院後の在宅療養支援のお願い".into()),
                ("diagnosis", "うっ血性心不全".into()),
                ("history", "2018年 狭心症".into()),
                ("course", "利尿薬で改善。".into()),
                ("medication", "フロセミド錠20mg 1日1回".into()),
                ("allergies", "ペニシリン（発疹）".into()),
                ("remarks", "体重の増加に <ご注意> ください".into()),
                ("to", care_office.clone()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");

        let reads_before = audits(&app, &person, "patient.read", "success").await;
        let res = cm
            .get(app.url(&format!("{doc_path}/bundle")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "application/fhir+json");
        let text = res.text().await.unwrap();
        // For Medplum's validator (docs/fhir.md): RENKEI_FHIR_DUMP=<dir>.
        if let Ok(dir) = std::env::var("RENKEI_FHIR_DUMP") {
            let name = format!("referral-bundle-{}.json", renkei_domain::ids::new_id());
            std::fs::write(std::path::Path::new(&dir).join(name), &text).unwrap();
        }
        let bundle: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            audits(&app, &person, "patient.read", "success").await,
            reads_before + 1,
            "one audited read"
        );

        // The Bundle.
        assert_eq!(
            bundle["meta"]["profile"][0],
            "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eReferral|1"
        );
        assert_eq!(bundle["type"], "document");
        assert_eq!(
            bundle["identifier"]["system"],
            "http://jpfhir.jp/fhir/clins/bundle-identifier"
        );
        let (_, stored_letter) = stored(&app, &doc).await;
        let written = chrono::DateTime::parse_from_rfc3339(stored_letter["date"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
            + chrono::Duration::hours(9);
        let year = written.format("%Y").to_string();
        assert_eq!(
            bundle["identifier"]["value"],
            format!("0110000001^{year}^{doc}")
        );
        assert!(bundle["timestamp"].as_str().is_some());
        let entries = bundle["entry"].as_array().unwrap();
        let full_urls: Vec<&str> = entries
            .iter()
            .map(|e| e["fullUrl"].as_str().unwrap())
            .collect();
        let mut unique = full_urls.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), full_urls.len(), "fullUrls are unique");
        let entry = |url: &str| -> &Value {
            &entries
                .iter()
                .find(|e| e["fullUrl"] == url)
                .unwrap_or_else(|| panic!("{url} is not an entry"))["resource"]
        };

        // The Composition, its fullUrl its id.
        let comp = &entries[0]["resource"];
        assert_eq!(entries[0]["fullUrl"], format!("urn:uuid:{doc}"));
        assert_eq!(comp["resourceType"], "Composition");
        assert_eq!(
            comp["meta"]["profile"][0],
            "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Composition_eReferral|1"
        );
        assert!(comp["meta"]["lastUpdated"].as_str().is_some());
        assert_eq!(comp["status"], "final");
        assert_eq!(
            comp["type"]["coding"],
            json!([{ "system": "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes", "code": "57133-1", "display": "診療情報提供書" }])
        );
        assert_eq!(comp["category"][0]["coding"][0]["code"], "INPATIENT");
        assert_eq!(comp["title"], "診療情報提供書");
        assert_eq!(comp["event"][0]["code"][0]["text"], "診療情報提供書発行");
        assert_eq!(
            comp["extension"][0]["url"],
            "http://hl7.org/fhir/StructureDefinition/composition-clinicaldocument-versionNumber"
        );
        assert_eq!(
            comp["identifier"]["system"],
            "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier"
        );
        assert!(comp["text"]["div"].as_str().unwrap().contains("苫小牧 花子"));
        assert_eq!(section_codes(&comp["section"]), ["910", "920", "300", "220"]);
        assert_eq!(
            section_codes(&comp["section"][2]["section"]),
            ["950", "340", "370", "330", "620", "430", "510"]
        );
        let remarks = comp["section"][3]["text"]["div"].as_str().unwrap();
        assert!(remarks.contains("&lt;ご注意&gt;"), "{remarks}");

        // Every reference of the Composition resolves to an entry, of the right type.
        let mut refs = Vec::new();
        references(comp, &mut refs);
        assert!(refs.len() >= 12, "{refs:?}");
        for r in &refs {
            assert!(full_urls.contains(&r.as_str()), "{r} does not resolve");
        }
        assert_eq!(entry(comp["subject"]["reference"].as_str().unwrap())["resourceType"], "Patient");
        assert_eq!(entry(comp["encounter"]["reference"].as_str().unwrap())["resourceType"], "Encounter");
        let author_types: Vec<&Value> = comp["author"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &entry(a["reference"].as_str().unwrap())["resourceType"])
            .collect();
        assert_eq!(author_types, [&json!("Practitioner"), &json!("Organization")]);
        let from = entry(comp["custodian"]["reference"].as_str().unwrap());
        assert_eq!(from["name"], "テスト総合病院");
        assert_eq!(
            from["identifier"][0],
            json!({ "system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no", "value": "0110000001" })
        );
        let to = &comp["section"][0]["entry"];
        assert_eq!(to.as_array().unwrap().len(), 1);
        assert_eq!(entry(to[0]["reference"].as_str().unwrap())["name"], "テスト居宅介護支援事業所");
        let section_entry_types = |i: usize| -> Vec<String> {
            comp["section"][2]["section"][i]["entry"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .map(|r| entry(r["reference"].as_str().unwrap())["resourceType"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(section_entry_types(1), ["Condition"], "active problem");
        assert_eq!(section_entry_types(2), ["Condition"], "past illness");
        assert_eq!(section_entry_types(4), ["Observation"], "the laboratory result only");
        assert_eq!(section_entry_types(5), ["MedicationRequest"], "not the stopped one");
        assert!(!text.contains("中止した薬"));
        assert_eq!(section_entry_types(6), ["AllergyIntolerance"]);

        // The patient as the care office registered them, references inside the clinical
        // entries pointing at the document's Patient.
        let patient_url = comp["subject"]["reference"].as_str().unwrap();
        let patient = entry(patient_url);
        assert_eq!(patient["identifier"][0]["value"], "CM-CLINS");
        assert_eq!(patient["birthDate"], "1938-04-12");
        assert_eq!(patient["name"][0]["text"], "苫小牧 花子");
        for (i, e) in entries.iter().enumerate() {
            let mut r = e["resource"].clone();
            for element in ["subject", "patient"] {
                if let Some(subject) = r.get_mut(element) {
                    assert_eq!(subject["reference"], patient_url, "{i}");
                    // Renkei's validator takes `urn:uuid:` only inside a transaction.
                    subject["reference"] = json!(format!("Patient/{person}"));
                }
            }
            // Each resource of the document is valid FHIR R4 for Renkei's own validator.
            if let Err(issues) = renkei_fhir::resource::prepare(&r) {
                panic!("{}: {issues:?}", r["resourceType"]);
            }
        }

        // The writer sees the letter addressed to the care office too; a draft of another
        // letter claims no profile.
        let res = doctor.get(app.url(&format!("{doc_path}/bundle"))).send().await.unwrap();
        let theirs: Value = res.json().await.unwrap();
        assert_eq!(theirs["entry"][0]["resource"]["section"][0]["entry"].as_array().unwrap().len(), 1);
        let (_, location, _) = post_form(
            &app,
            &doctor,
            &format!("/patients/{person}/documents"),
            &[("csrf", token.clone()), ("kind", "referral".into())],
        )
        .await;
        let draft = location.split('?').next().unwrap().to_string();
        let res = doctor.get(app.url(&format!("{draft}/bundle"))).send().await.unwrap();
        let draft_bundle: Value = res.json().await.unwrap();
        assert!(draft_bundle["meta"].get("profile").is_none());
        assert_eq!(draft_bundle["entry"][0]["resource"]["status"], "preliminary");

        // Outside the care team: 404, audited as a refusal.
        let denied = audits(&app, &person, "patient.read", "denied").await;
        let (status, _) = get(&app, &outsider, &format!("{doc_path}/bundle")).await;
        assert_eq!(status, 404);
        assert_eq!(audits(&app, &person, "patient.read", "denied").await, denied + 1);
    })
    .await;
}
