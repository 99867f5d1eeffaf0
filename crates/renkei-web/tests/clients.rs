//! A facility administrator's OAuth2 clients, end to end through a real server on both
//! backends: create through the form, the secret shown once, a token from `/oauth/token`,
//! FHIR with the token, who may see and revoke, revocation ending tokens, hostile input.

mod testkit;

use renkei_domain::FacilityStatus;

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::MemberRole;
use renkei_storage::{AuditQuery, NewUser};
use serde_json::Value;
use testkit::{between, csrf_of, each_backend, TestApp};

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// An administrator of the second hospital (the test network has none who can sign in).
async fn add_other_admin(app: &TestApp) {
    let otherdoc = app.user_id("otherdoc").await;
    let other_facility = app.store.memberships_of(&otherdoc).await.unwrap()[0]
        .facility
        .id
        .clone();
    let template = app
        .store
        .get_user_by_login("otherdoc")
        .await
        .unwrap()
        .unwrap();
    app.store
        .create_user(
            NewUser {
                password_hash: template.password_hash.clone(),
                totp_secret: Some(testkit::TOTP_SECRET.into()),
                ..renkei_storage::testsuite::sample_user(
                    "otheradmin",
                    vec![(other_facility, MemberRole::FacilityAdmin)],
                )
            },
            AuditEntry::new("test.seed", Outcome::Success),
        )
        .await
        .unwrap();
}

async fn token(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.anon()
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn stored_clients(app: &TestApp) -> Vec<renkei_storage::ApiClient> {
    app.store.api_clients_of(&app.facility_id).await.unwrap()
}

#[tokio::test]
async fn administrator_issues_uses_and_revokes_a_client() {
    each_backend(|app| async move {
        let (admin, _) = app.sign_in("admin1").await;
        let (status, list) = page(&app, &admin, "/facility/clients").await;
        assert_eq!(status, 200);
        assert!(
            list.contains("href=\"/facility/clients\""),
            "navigation link"
        );
        assert!(list.contains("value=\"all.read\""), "presets offered");
        let csrf = csrf_of(&list);

        // Create: a preset plus a typed scope, merged into one scope per type.
        let res = admin
            .post(app.url("/facility/clients"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "電子カルテ本番系"),
                ("grant", "all.read"),
                ("scopes", "system/Observation.c"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let issued = res.text().await.unwrap();
        let client_id = between(&issued, "id=\"client-id\">", "<").expect("client id shown");
        let secret = between(&issued, "id=\"client-secret\">", "<").expect("secret shown");
        assert!(
            client_id.starts_with("c-") && client_id.len() == 18,
            "{client_id}"
        );
        assert!(secret.len() >= 43, "{secret}");
        assert!(
            issued.contains("system/*.rs system/Observation.c"),
            "{issued}"
        );

        // Stored as a hash only; the list never shows the secret again.
        let stored = stored_clients(&app).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, client_id);
        assert_eq!(stored[0].name, "電子カルテ本番系");
        assert_eq!(stored[0].created_by, "admin1");
        assert_eq!(
            stored[0].secret_hash,
            renkei_domain::ids::token_hash(&secret)
        );
        let (_, list) = page(&app, &admin, "/facility/clients").await;
        assert!(list.contains(&client_id) && list.contains("電子カルテ本番系"));
        assert!(!list.contains(&secret), "the secret is shown once only");

        // The secret works at the token endpoint, and the token on the FHIR API.
        let res = token(&app, &client_id, &secret, None).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["scope"], "system/*.rs system/Observation.c");
        let access = body["access_token"].as_str().unwrap().to_string();
        let res = app
            .anon()
            .get(app.url("/fhir/Observation"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let bundle: Value = res.json().await.unwrap();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");

        // Audited with the client ID.
        let records = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("api_client.create".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].entry.detail.contains(&client_id));
        assert_eq!(records[0].entry.actor_login.as_deref(), Some("admin1"));

        // Members who are not the administrator see neither the page nor the revoke.
        let (doctor, _) = app.sign_in("doctor1").await;
        let (status, _) = page(&app, &doctor, "/facility/clients").await;
        assert!(status == 403 || status == 404, "{status}");
        let (_, account) = page(&app, &doctor, "/account").await;
        assert!(!account.contains("href=\"/facility/clients\""));
        let res = doctor
            .post(app.url(&format!("/facility/clients/{client_id}/revoke")))
            .form(&[("csrf", csrf_of(&account).as_str())])
            .send()
            .await
            .unwrap();
        assert!(res.status() == 403 || res.status() == 404);

        // Another facility's administrator: the client does not exist for them.
        add_other_admin(&app).await;
        let (other, _) = app.sign_in("otheradmin").await;
        let (status, other_list) = page(&app, &other, "/facility/clients").await;
        assert_eq!(status, 200);
        assert!(!other_list.contains(&client_id));
        let res = other
            .post(app.url(&format!("/facility/clients/{client_id}/revoke")))
            .form(&[("csrf", csrf_of(&other_list).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert!(stored_clients(&app).await[0].revoked_at.is_none());

        // Revocation needs the form token.
        let res = admin
            .post(app.url(&format!("/facility/clients/{client_id}/revoke")))
            .form(&[("csrf", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(stored_clients(&app).await[0].revoked_at.is_none());

        // The administrator revokes: the token dies at once, no new one is issued.
        let res = admin
            .post(app.url(&format!("/facility/clients/{client_id}/revoke")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let to = res.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(to, "/facility/clients?msg=notice.client_revoked");
        assert!(stored_clients(&app).await[0].revoked_at.is_some());
        let (_, list) = page(&app, &admin, &to).await;
        assert!(list.contains("badge withdrawn"), "shown as revoked");
        assert!(!list.contains(&format!("/facility/clients/{client_id}/revoke")));
        let res = app
            .anon()
            .get(app.url("/fhir/Observation"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = token(&app, &client_id, &secret, None).await;
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        let records = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("api_client.revoke".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].entry.detail.contains(&client_id));

        // Revoking again is harmless.
        let res = admin
            .post(app.url(&format!("/facility/clients/{client_id}/revoke")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "/facility/clients?msg=notice.client_already_revoked"
        );
        let res = admin
            .post(app.url("/facility/clients/c-doesnotexist0000/revoke"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        // A suspended facility's tokens stop working at once, and work again when it is
        // reinstated.
        let (_, list) = page(&app, &admin, "/facility/clients").await;
        let res = admin
            .post(app.url("/facility/clients"))
            .form(&[
                ("csrf", csrf_of(&list).as_str()),
                ("name", "検査システム"),
                ("grant", "all.read"),
            ])
            .send()
            .await
            .unwrap();
        let issued = res.text().await.unwrap();
        let client_id = between(&issued, "id=\"client-id\">", "<").expect("client id shown");
        let secret = between(&issued, "id=\"client-secret\">", "<").expect("secret shown");
        let body: Value = token(&app, &client_id, &secret, None)
            .await
            .json()
            .await
            .unwrap();
        let access = body["access_token"].as_str().unwrap().to_string();
        let fhir_status = |access: String| {
            let app = &app;
            async move {
                app.anon()
                    .get(app.url("/fhir/Observation"))
                    .bearer_auth(&access)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let now = renkei_domain::now_millis();
        let audit = || {
            renkei_domain::audit::AuditEntry::new(
                "test.facility",
                renkei_domain::audit::Outcome::Success,
            )
        };
        app.store
            .set_facility_status(
                &app.facility_id,
                FacilityStatus::Active,
                FacilityStatus::Suspended,
                Some("test"),
                now,
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(fhir_status(access.clone()).await, 401);
        app.store
            .set_facility_status(
                &app.facility_id,
                FacilityStatus::Suspended,
                FacilityStatus::Active,
                None,
                now,
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(fhir_status(access.clone()).await, 200);
    })
    .await;
}

#[tokio::test]
async fn hostile_client_forms_store_nothing() {
    each_backend(|app| async move {
        let (admin, _) = app.sign_in("admin1").await;
        let (_, list) = page(&app, &admin, "/facility/clients").await;
        let csrf = csrf_of(&list);
        let long_name = "あ".repeat(101);
        let long_scopes = "system/Observation.rs ".repeat(60);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("name", ""), ("grant", "all.read")],
                "入力してください",
            ),
            (
                vec![("name", &long_name), ("grant", "all.read")],
                "100文字以内",
            ),
            (
                vec![("name", "EHR\u{7}bell"), ("grant", "all.read")],
                "制御文字が含まれています",
            ),
            (
                vec![("name", "EHR"), ("grant", "all.admin")],
                "選択肢から選んでください",
            ),
            (
                vec![("name", "EHR"), ("grant", "../etc.read")],
                "選択肢から選んでください",
            ),
            (vec![("name", "EHR")], "1つ以上"),
            (
                vec![("name", "EHR"), ("scopes", "patient/Observation.rs")],
                "形式が正しくありません",
            ),
            (
                vec![("name", "EHR"), ("scopes", "system/Observation.sr")],
                "形式が正しくありません",
            ),
            (
                vec![("name", "EHR"), ("scopes", "system/Obs<script>.r")],
                "形式が正しくありません",
            ),
            (
                vec![("name", "EHR"), ("scopes", "system/*.rs\u{0}")],
                "制御文字",
            ),
            (
                vec![("name", "EHR"), ("scopes", &long_scopes)],
                "1000文字以内",
            ),
        ];
        for (fields, expected) in cases {
            let mut form = vec![("csrf", csrf.as_str())];
            form.extend(fields.iter().cloned());
            let res = admin
                .post(app.url("/facility/clients"))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 422, "{fields:?}");
            let html = res.text().await.unwrap();
            assert!(html.contains("role=\"alert\""), "{fields:?}");
            assert!(html.contains(expected), "{fields:?} should say {expected}");
            assert!(!html.contains("<script>"), "escaped");
            assert!(!html.contains("id=\"client-secret\""));
        }
        // Forged checkboxes give one message, not one each.
        let mut form = vec![("csrf", csrf.as_str()), ("name", "EHR")];
        form.extend(std::iter::repeat_n(("grant", "x.read"), 20));
        let res = admin
            .post(app.url("/facility/clients"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert_eq!(html.matches("選択肢から選んでください").count(), 1);
        assert!(stored_clients(&app).await.is_empty(), "nothing stored");
        let records = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("api_client.create".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(records.is_empty());

        // Without the form token nothing happens either.
        let res = admin
            .post(app.url("/facility/clients"))
            .form(&[("csrf", "forged"), ("name", "EHR"), ("grant", "all.read")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(stored_clients(&app).await.is_empty());
    })
    .await;
}
