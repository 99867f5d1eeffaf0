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
