//! The web layer as users and attackers meet it: a real server on a free port, a real
//! HTTP client with a cookie jar, SQLite always and PostgreSQL when a test server is given.

mod testkit;

use renkei_domain::{FacilityStatus, MemberRole};
use renkei_storage::AuditQuery;
use testkit::{each_backend, Backend, TestApp};

#[tokio::test]
async fn health_metrics_and_security_headers() {
    each_backend(|app| async move {
        let res = app.anon().get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["backend"], app.backend_name());
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        let metrics = app
            .anon()
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("renkei_http_requests_total"), "{metrics}");
        // No CDN: the stylesheet is served by the binary.
        let css = app
            .anon()
            .get(app.url("/assets/renkei.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(css.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn sign_in_with_password_and_totp_then_sign_out() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("doctor1").await;
        let home = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(home.status(), 200);
        let text = home.text().await.unwrap();
        assert!(text.contains("テスト 医師1"), "{text}");
        let csrf = testkit::csrf_of(&text);
        let out = client
            .post(app.url("/logout"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 303);
        let after = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(after.status(), 303);
        assert!(after.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"));
        let audit = app
            .store
            .search_audit(&AuditQuery {
                actor_login: Some("doctor1".into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<_> = audit
            .iter()
            .map(|r| (r.entry.action.as_str(), r.entry.outcome.as_str()))
            .collect();
        assert!(
            actions.contains(&("auth.login.second_factor", "success")),
            "{actions:?}"
        );
        assert!(actions.contains(&("auth.logout", "success")), "{actions:?}");
    })
    .await;
}

#[tokio::test]
async fn wrong_password_unknown_user_and_lockout() {
    each_backend(|app| async move {
        let client = app.browser();
        for _ in 0..5 {
            let res = app.post_login(&client, "doctor1", "wrong password 1").await;
            assert_eq!(res.status(), 401);
            let text = res.text().await.unwrap();
            assert!(
                text.contains("ログインIDまたはパスワードが正しくない"),
                "{text}"
            );
        }
        // Locked now: even the right password is refused, with the same message.
        let res = app.post_login(&client, "doctor1", testkit::PASSWORD).await;
        assert_eq!(res.status(), 401);
        let user = app
            .store
            .get_user_by_login("doctor1")
            .await
            .unwrap()
            .unwrap();
        assert!(user.locked_until.is_some());
        let unknown = app.post_login(&client, "nobody", "whatever 123").await;
        assert_eq!(unknown.status(), 401);
        let failures = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("auth.login".into()),
                outcome: Some("failure".into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(failures
            .iter()
            .any(|r| r.entry.actor_login.as_deref() == Some("nobody")));
        assert_eq!(
            failures
                .iter()
                .filter(|r| r.entry.actor_login.as_deref() == Some("doctor1"))
                .count(),
            5
        );
        let denied = app
            .store
            .search_audit(&AuditQuery {
                outcome: Some("denied".into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(denied.iter().any(|r| r.entry.detail.contains("locked")));
    })
    .await;
}

#[tokio::test]
async fn totp_code_cannot_be_replayed_and_stale_codes_fail() {
    each_backend(|app| async move {
        let client = app.browser();
        let res = app.post_login(&client, "nurse1", testkit::PASSWORD).await;
        assert_eq!(res.status(), 303);
        let page = client
            .get(app.url("/login/second-factor"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = testkit::csrf_of(&page);
        let now = renkei_domain::now_millis() / 1000;
        let stale = renkei_domain::totp::code_at(testkit::TOTP_SECRET, (now - 120) as u64).unwrap();
        let res = client
            .post(app.url("/login/second-factor"))
            .form(&[("code", stale.as_str()), ("csrf", &csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let code = renkei_domain::totp::code_at(testkit::TOTP_SECRET, now as u64).unwrap();
        let ok = client
            .post(app.url("/login/second-factor"))
            .form(&[("code", code.as_str()), ("csrf", &csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 303);
        // A second browser that saw the same code cannot use it.
        let other = app.browser();
        assert_eq!(
            app.post_login(&other, "nurse1", testkit::PASSWORD)
                .await
                .status(),
            303
        );
        let page = other
            .get(app.url("/login/second-factor"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf2 = testkit::csrf_of(&page);
        let replay = other
            .post(app.url("/login/second-factor"))
            .form(&[("code", code.as_str()), ("csrf", &csrf2), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 401);
        assert!(replay.text().await.unwrap().contains("使用済み"));
    })
    .await;
}

#[tokio::test]
async fn recovery_code_signs_in_once() {
    each_backend(|app| async move {
        let client = app.browser();
        assert_eq!(
            app.post_login(&client, "doctor1", testkit::PASSWORD)
                .await
                .status(),
            303
        );
        let page = client
            .get(app.url("/login/second-factor"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = testkit::csrf_of(&page);
        let res = client
            .post(app.url("/login/second-factor"))
            .form(&[
                ("code", testkit::RECOVERY_CODE),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(
            app.store
                .unused_recovery_codes(&app.user_id("doctor1").await)
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn csrf_and_cross_origin_posts_are_refused() {
    each_backend(|app| async move {
        let (client, home) = app.sign_in("doctor1").await;
        let _ = home;
        // Forged token.
        let res = client
            .post(app.url("/account/sign-out-everywhere"))
            .form(&[("csrf", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        // Right token, wrong origin.
        let page = client
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = testkit::csrf_of(&page);
        let res = client
            .post(app.url("/account/sign-out-everywhere"))
            .header("origin", "https://evil.example")
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        // Still signed in: nothing happened.
        assert_eq!(
            client
                .get(app.url("/account"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        // What Chromium sends for this site's own forms in some privacy modes: accepted.
        let res = client
            .post(app.url("/account/sign-out-everywhere"))
            .header("origin", "null")
            .header("sec-fetch-site", "same-origin")
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "same-origin form with Origin: null");
        // Anonymous login form without the double-submit cookie.
        let bare = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = bare
            .post(app.url("/login"))
            .form(&[
                ("login_id", "doctor1"),
                ("password", testkit::PASSWORD),
                ("csrf", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    })
    .await;
}

#[tokio::test]
async fn application_validation_and_approval_flow() {
    each_backend(|app| async move {
        let anon = app.browser();
        let page = anon
            .get(app.url("/apply"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = testkit::csrf_of(&page);
        // Bad input: every problem reported, nothing stored.
        let before = app
            .store
            .search_facilities(&Default::default())
            .await
            .unwrap()
            .total;
        let bad = anon
            .post(app.url("/apply"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("facility_type", "spaceship"),
                ("name", "<script>alert(1)</script>"),
                ("name_kana", "漢字"),
                ("tel", "123"),
                ("email", "x"),
                ("professions", "wizard"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let text = bad.text().await.unwrap();
        assert!(
            text.contains("カタカナまたはひらがな")
                && text.contains("電話番号")
                && text.contains("選択肢から選んでください"),
            "{text}"
        );
        assert!(
            !text.contains("<script>alert(1)</script>"),
            "typed values must be escaped"
        );
        assert!(
            text.contains("&lt;script&gt;") || text.contains("&#60;script&#62;"),
            "typed values are kept, escaped"
        );
        assert_eq!(
            app.store
                .search_facilities(&Default::default())
                .await
                .unwrap()
                .total,
            before
        );
        // A good application.
        let good = testkit::application_form(&csrf, "0111234567", "newclinic.admin");
        let res = anon
            .post(app.url("/apply"))
            .form(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        // The same official number again is refused while the first is open.
        let again = anon
            .post(app.url("/apply"))
            .form(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 422);
        let pending = app
            .store
            .search_facilities(&renkei_storage::FacilityQuery {
                status: Some(FacilityStatus::Pending),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let mine: Vec<_> = pending
            .items
            .iter()
            .filter(|f| f.official_id == "0111234567")
            .collect();
        assert_eq!(mine.len(), 1, "stored exactly once");
        let facility = mine[0];
        assert_eq!(facility.name_kana, "ミナトナイカクリニック");

        // A member cannot approve; the secretariat can.
        let (member, _) = app.sign_in("doctor1").await;
        let csrf_m = testkit::csrf_of(
            &member
                .get(app.url("/account"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let res = member
            .post(app.url(&format!("/admin/facilities/{}/approve", facility.id)))
            .form(&[("csrf", csrf_m.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert_eq!(
            member
                .get(app.url("/admin/audit"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );

        let (sec, _) = app.sign_in("secretariat").await;
        let list = sec
            .get(app.url("/admin/applications"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(list.contains("みなと内科クリニック"));
        let csrf_s = testkit::csrf_of(&list);
        let res = sec
            .post(app.url(&format!("/admin/facilities/{}/approve", facility.id)))
            .form(&[("csrf", csrf_s.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        let link = testkit::between(&page, "id=\"setup-link\">", "<").expect("setup link shown");
        let stored = app.store.get_facility(&facility.id).await.unwrap().unwrap();
        assert_eq!(stored.status, FacilityStatus::Active);
        assert!(stored.code.is_some());

        // The new administrator sets up the account from the link.
        let new_admin = app.browser();
        let path = link
            .split_once("/setup/")
            .map(|(_, t)| format!("/setup/{t}"))
            .unwrap();
        let setup = new_admin
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let secret = testkit::between(&setup, "id=\"totp-secret\">", "<").unwrap();
        let csrf_a = testkit::csrf_of(&setup);
        let code =
            renkei_domain::totp::code_at(&secret, (renkei_domain::now_millis() / 1000) as u64)
                .unwrap();
        let weak = new_admin
            .post(app.url(&path))
            .form(&[
                ("csrf", csrf_a.as_str()),
                ("password", "short"),
                ("password_confirm", "short"),
                ("secret", &secret),
                ("code", &code),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(weak.status(), 422);
        let done = new_admin
            .post(app.url(&path))
            .form(&[
                ("csrf", csrf_a.as_str()),
                ("password", "minato clinic 2026"),
                ("password_confirm", "minato clinic 2026"),
                ("secret", &secret),
                ("code", &code),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
        let done = done.text().await.unwrap();
        assert_eq!(done.matches("<li>").count(), 10, "ten recovery codes");
        // The link works once.
        assert_eq!(
            new_admin.get(app.url(&path)).send().await.unwrap().status(),
            404
        );
        let user = app
            .store
            .get_user_by_login("newclinic.admin")
            .await
            .unwrap()
            .unwrap();
        assert!(user.is_enrolled());
        let memberships = app.store.memberships_of(&user.id).await.unwrap();
        assert_eq!(memberships[0].membership.role, MemberRole::FacilityAdmin);
    })
    .await;
}

#[tokio::test]
async fn facility_admin_manages_only_own_staff() {
    each_backend(|app| async move {
        let (admin, _) = app.sign_in("admin1").await;
        let page = admin
            .get(app.url("/facility/staff"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("doctor1"));
        assert!(
            !page.contains("otherdoc"),
            "staff of another facility must not be listed"
        );
        let csrf = testkit::csrf_of(&page);
        let invite = admin
            .post(app.url("/facility/staff"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("login_id", "new.nurse"),
                ("display_name", "新人 看護"),
                ("display_name_kana", "しんじん かんご"),
                ("email", "nurse@example.jp"),
                ("profession", "nurse"),
                ("role", "member"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(invite.status(), 200);
        assert!(invite.text().await.unwrap().contains("/setup/"));
        let created = app
            .store
            .get_user_by_login("new.nurse")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(created.display_name_kana, "シンジン カンゴ");
        // Another facility's member is out of reach.
        let other = app.user_id("otherdoc").await;
        assert_eq!(
            admin
                .get(app.url(&format!("/facility/staff/{other}")))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        let res = admin
            .post(app.url(&format!("/facility/staff/{other}")))
            .form(&[("csrf", csrf.as_str()), ("action", "deactivate")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        // Deactivating own staff ends their access.
        let doctor = app.user_id("doctor1").await;
        let res = admin
            .post(app.url(&format!("/facility/staff/{doctor}")))
            .form(&[("csrf", csrf.as_str()), ("action", "deactivate")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let client = app.browser();
        assert_eq!(
            app.post_login(&client, "doctor1", testkit::PASSWORD)
                .await
                .status(),
            403
        );
        // A plain member cannot reach staff management.
        let (nurse, _) = app.sign_in("nurse1").await;
        assert_eq!(
            nurse
                .get(app.url("/facility/staff"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
    })
    .await;
}

#[tokio::test]
async fn suspending_a_facility_signs_its_members_out() {
    each_backend(|app| async move {
        let (nurse, _) = app.sign_in("nurse1").await;
        assert_eq!(nurse.get(app.url("/")).send().await.unwrap().status(), 200);
        let (sec, page) = app.sign_in("secretariat").await;
        let csrf = testkit::csrf_of(&page);
        let res = sec
            .post(app.url(&format!("/admin/facilities/{}/status", app.facility_id)))
            .form(&[
                ("csrf", csrf.as_str()),
                ("from", "active"),
                ("to", "suspended"),
                ("reason", "調査のため"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(nurse.get(app.url("/")).send().await.unwrap().status(), 303);
        // A transition that is not allowed is refused.
        let res = sec
            .post(app.url(&format!("/admin/facilities/{}/status", app.facility_id)))
            .form(&[
                ("csrf", csrf.as_str()),
                ("from", "active"),
                ("to", "withdrawn"),
                ("reason", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    })
    .await;
}

#[tokio::test]
async fn directory_search_html_and_json() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("doctor1").await;
        let page = client
            .get(app.url("/facilities?q=%E3%81%A6%E3%81%99%E3%81%A8"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("テスト総合病院"),
            "hiragana query finds katakana reading"
        );
        let json: serde_json::Value = client
            .get(app.url("/api/v1/facilities?type=hospital"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(json["total"], 2);
        assert!(json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["facility_type"] == "hospital"));
        let bad = client
            .get(app.url("/api/v1/facilities?type=spaceship"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let anon = app
            .anon()
            .get(app.url("/api/v1/facilities"))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status(), 401);
        // Members do not see applications under review.
        let pending = client
            .get(app.url(&format!("/facilities/{}", app.pending_facility_id)))
            .send()
            .await
            .unwrap();
        assert_eq!(pending.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    each_backend(|app| async move {
        let anon = app.browser();
        let page = anon
            .get(app.url("/apply"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = testkit::csrf_of(&page);
        let huge = "あ".repeat(2 * 1024 * 1024);
        let res = anon
            .post(app.url("/apply"))
            .form(&[("csrf", csrf.as_str()), ("name", huge.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        let res = anon
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe, 0x00])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
        let nothing = anon.get(app.url("/no/such/page")).send().await.unwrap();
        assert_eq!(nothing.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn audit_export_csv_is_safe_for_spreadsheets() {
    each_backend(|app| async move {
        let client = app.browser();
        // A login ID that a spreadsheet would run as a formula.
        let _ = app.post_login(&client, "=cmd|calc", "x1234567890").await;
        let (sec, _) = app.sign_in("secretariat").await;
        let csv = sec
            .get(app.url("/admin/audit.csv?outcome=failure"))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let body = csv.text().await.unwrap();
        assert!(body.starts_with('\u{feff}'));
        assert!(body.contains("'=cmd|calc"), "{body}");
        let readiness = sec
            .get(app.url("/admin/readiness.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            readiness.headers()["content-disposition"],
            "attachment; filename=\"readiness.csv\""
        );
        let text = readiness.text().await.unwrap();
        assert!(
            text.starts_with("\u{feff}facility_code,facility_name"),
            "{text}"
        );
        // Active facilities are listed, answered or not (the test network has no answers).
        assert!(
            text.contains("テスト総合病院") && text.contains(",no,"),
            "{text}"
        );
    })
    .await;
}

/// The documentation names every route and every facility type code the server knows.
#[test]
fn docs_cover_every_route_and_facility_type() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let http = std::fs::read_to_string(root.join("docs/http.md")).unwrap();
    let openapi = std::fs::read_to_string(root.join("docs/openapi.yaml")).unwrap();
    let lib = std::fs::read_to_string(root.join("crates/renkei-web/src/lib.rs")).unwrap();
    let routes: Vec<&str> = lib
        .match_indices(".route(\"")
        .map(|(i, _)| lib[i + 8..].split('"').next().unwrap())
        .collect();
    assert!(routes.len() > 20);
    for route in routes {
        assert!(
            http.contains(route) || openapi.contains(route),
            "route {route} is not documented in docs/http.md or docs/openapi.yaml"
        );
    }
    let enum_line = openapi
        .split("FacilityType:")
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| l.trim_start().starts_with("enum:")))
        .expect("FacilityType enum in openapi.yaml");
    let documented: Vec<&str> = enum_line
        .split(['[', ']', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with("enum"))
        .collect();
    let known: Vec<&str> = renkei_domain::FacilityType::ALL
        .iter()
        .map(|t| t.code())
        .collect();
    assert_eq!(
        documented, known,
        "openapi.yaml FacilityType enum differs from the server's list"
    );
}

#[tokio::test]
async fn idle_sessions_expire() {
    let config = renkei_web::WebConfig {
        session_idle: std::time::Duration::from_millis(1500),
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let (client, _) = app.sign_in("doctor1").await;
    assert_eq!(
        client
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let res = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303, "idle session must end");
}
