//! The backend-parity suite: the same behavioural checks, run against every [`Store`]
//! implementation (SQLite always; PostgreSQL whenever a test database is given). A backend
//! is correct when every check here passes on it.

use crate::*;
use renkei_domain::audit::{AuditEntry, ChainVerifier, Outcome};
use renkei_domain::{ids, FacilityCategory, FacilityStatus, FacilityType, MemberRole, Profession};

pub fn sample_facility(
    name: &str,
    kana: &str,
    facility_type: FacilityType,
    official_id: &str,
) -> NewFacility {
    NewFacility {
        id: ids::new_id(),
        facility_type,
        legal_entity: "医療法人社団 テスト会".into(),
        name: name.into(),
        name_kana: kana.into(),
        official_id: official_id.into(),
        postal_code: "053-0011".into(),
        address: "北海道苫小牧市末広町1丁目2-3".into(),
        area: "末広町".into(),
        tel: "0144-32-0000".into(),
        fax: "0144-32-0001".into(),
        email: "office@example.jp".into(),
        applicant_name: "申請 太郎".into(),
        applicant_email: "applicant@example.jp".into(),
        admin_name: "管理 花子".into(),
        admin_login_id: format!("admin-{}", &ids::new_id()[..8]),
        admin_email: "admin@example.jp".into(),
        professions: vec![Profession::Physician, Profession::Nurse],
        applied_at: 1_700_000_000_000,
    }
}

pub fn sample_user(login_id: &str, memberships: Vec<(String, MemberRole)>) -> NewUser {
    NewUser {
        id: ids::new_id(),
        login_id: login_id.into(),
        display_name: "山田 太郎".into(),
        display_name_kana: "ヤマダ タロウ".into(),
        email: format!("{login_id}@example.jp"),
        profession: Profession::Physician,
        is_secretariat: false,
        password_hash: Some("$argon2id$placeholder".into()),
        totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
        recovery_code_hashes: vec!["r1".into(), "r2".into()],
        setup_token_hash: None,
        setup_expires_at: None,
        memberships,
        created_at: 1_700_000_000_000,
    }
}

fn audit(action: &str) -> AuditEntry {
    AuditEntry::new(action, Outcome::Success).actor(Some("tester"), Some("tester"), None)
}

/// Runs every check. Each check uses fresh identifiers, so the suite can share a database.
pub async fn run_all(store: &dyn Store) {
    facility_life_cycle(store).await;
    facility_search(store).await;
    users_and_memberships(store).await;
    login_counters_and_second_factor(store).await;
    sessions(store).await;
    readiness(store).await;
    audit_chain(store).await;
    settings(store).await;
}

pub async fn facility_life_cycle(store: &dyn Store) {
    let official = format!("01{:08}", rand_digits());
    let app = sample_facility(
        "苫小牧テスト病院",
        "トマコマイテストビョウイン",
        FacilityType::Hospital,
        &official,
    );
    let created = store
        .create_facility(app.clone(), audit("facility.apply"))
        .await
        .unwrap();
    assert_eq!(created.status, FacilityStatus::Pending);
    assert_eq!(created.code, None);
    assert_eq!(
        created.professions,
        vec![Profession::Physician, Profession::Nurse]
    );

    // A second open application with the same official number is refused.
    let mut dup = sample_facility("別名病院", "ベツメイ", FacilityType::Hospital, &official);
    dup.admin_login_id = "someone-else".into();
    let e = store
        .create_facility(dup, audit("facility.apply"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    let admin = NewUser {
        password_hash: None,
        totp_secret: None,
        recovery_code_hashes: vec![],
        setup_token_hash: Some(ids::token_hash(&ids::new_token())),
        setup_expires_at: Some(1_800_000_000_000),
        ..sample_user(
            &app.admin_login_id,
            vec![(app.id.clone(), MemberRole::FacilityAdmin)],
        )
    };
    let (approved, admin_user) = store
        .approve_facility(
            &app.id,
            admin.clone(),
            1_700_000_100_000,
            audit("facility.approve"),
        )
        .await
        .unwrap();
    assert_eq!(approved.status, FacilityStatus::Active);
    let code = approved.code.clone().unwrap();
    assert!(code.starts_with('F') && code.len() == 6, "{code}");
    assert!(!admin_user.is_enrolled());
    let found = store
        .get_user_by_setup_token(admin.setup_token_hash.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(admin_user.id.clone()));

    // Approving twice is refused; nothing changes.
    let again = store
        .approve_facility(
            &app.id,
            sample_user("late-admin", vec![]),
            1,
            audit("facility.approve"),
        )
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::InvalidState(_)), "{again:?}");
    assert!(store
        .get_user_by_login("late-admin")
        .await
        .unwrap()
        .is_none());

    // Suspend with a reason, then a stale transition is refused.
    let suspended = store
        .set_facility_status(
            &app.id,
            FacilityStatus::Active,
            FacilityStatus::Suspended,
            Some("規約違反の調査中"),
            2,
            audit("facility.suspend"),
        )
        .await
        .unwrap();
    assert_eq!(suspended.status, FacilityStatus::Suspended);
    assert_eq!(suspended.status_reason.as_deref(), Some("規約違反の調査中"));
    let stale = store
        .set_facility_status(
            &app.id,
            FacilityStatus::Active,
            FacilityStatus::Withdrawn,
            None,
            3,
            audit("facility.withdraw"),
        )
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::InvalidState(_)));
    let withdrawn = store
        .set_facility_status(
            &app.id,
            FacilityStatus::Suspended,
            FacilityStatus::Withdrawn,
            Some("閉院"),
            4,
            audit("facility.withdraw"),
        )
        .await
        .unwrap();
    assert_eq!(withdrawn.status, FacilityStatus::Withdrawn);
    // Records survive withdrawal.
    assert_eq!(
        store.get_facility(&app.id).await.unwrap().unwrap().code,
        Some(code)
    );
    assert_eq!(store.memberships_of(&admin_user.id).await.unwrap().len(), 1);

    // Rejection keeps the reason.
    let rejected_app = sample_facility(
        "却下テスト薬局",
        "キャッカテストヤッキョク",
        FacilityType::Pharmacy,
        "",
    );
    store
        .create_facility(rejected_app.clone(), audit("facility.apply"))
        .await
        .unwrap();
    let rejected = store
        .set_facility_status(
            &rejected_app.id,
            FacilityStatus::Pending,
            FacilityStatus::Rejected,
            Some("書類不備"),
            5,
            audit("facility.reject"),
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, FacilityStatus::Rejected);
    assert_eq!(rejected.code, None);
    let missing = store.get_facility("no-such-id").await.unwrap();
    assert!(missing.is_none());
}

fn rand_digits() -> u32 {
    u32::from_str_radix(&ids::new_id()[..7], 16).unwrap() % 100_000_000
}

pub async fn facility_search(store: &dyn Store) {
    let tag = &ids::new_id()[..6];
    let mut ids_seen = Vec::new();
    for (name, kana, t) in [
        (
            format!("さくら在宅クリニック{tag}"),
            "サクラザイタククリニック",
            FacilityType::HomeVisitClinic,
        ),
        (
            format!("ひまわり訪問看護ステーション{tag}"),
            "ヒマワリホウモンカンゴステーション",
            FacilityType::HomeNursingStation,
        ),
        (
            format!("さくら薬局{tag}"),
            "サクラヤッキョク",
            FacilityType::Pharmacy,
        ),
    ] {
        let mut f = sample_facility(&name, kana, t, "");
        f.area = format!("若草町{tag}");
        store
            .create_facility(f.clone(), audit("facility.apply"))
            .await
            .unwrap();
        ids_seen.push(f.id);
    }
    let q = |text: &str| FacilityQuery {
        text: Some(format!("{text} {tag}")),
        limit: 50,
        ..Default::default()
    };
    // Kana-insensitive: hiragana query finds katakana furigana.
    let page = store.search_facilities(&q("さくら")).await.unwrap();
    assert_eq!(
        page.total,
        2,
        "{:?}",
        page.items.iter().map(|f| &f.name).collect::<Vec<_>>()
    );
    let page = store.search_facilities(&q("ｻｸﾗ ﾔｯｷｮｸ")).await.unwrap();
    assert_eq!(page.total, 1);
    let by_type = FacilityQuery {
        facility_type: Some(FacilityType::Pharmacy),
        ..q("")
    };
    assert_eq!(store.search_facilities(&by_type).await.unwrap().total, 1);
    let by_category = FacilityQuery {
        category: Some(FacilityCategory::Care),
        ..q("")
    };
    assert_eq!(
        store.search_facilities(&by_category).await.unwrap().total,
        1
    );
    let by_area = FacilityQuery {
        area: Some(format!("若草町{tag}")),
        text: None,
        limit: 50,
        ..Default::default()
    };
    assert_eq!(store.search_facilities(&by_area).await.unwrap().total, 3);
    // LIKE wildcards in input are literal.
    assert_eq!(store.search_facilities(&q("%")).await.unwrap().total, 0);
    assert_eq!(store.search_facilities(&q("_")).await.unwrap().total, 0);
    // Paging.
    let paged = FacilityQuery {
        limit: 2,
        offset: 2,
        area: Some(format!("若草町{tag}")),
        ..Default::default()
    };
    let p = store.search_facilities(&paged).await.unwrap();
    assert_eq!((p.total, p.items.len()), (3, 1));
    let counts = store.count_facilities_by_status().await.unwrap();
    assert!(counts
        .iter()
        .any(|(s, n)| *s == FacilityStatus::Pending && *n >= 3));
}

pub async fn users_and_memberships(store: &dyn Store) {
    let f = sample_facility(
        "メンバーテスト医院",
        "メンバーテストイイン",
        FacilityType::Clinic,
        "",
    );
    store
        .create_facility(f.clone(), audit("facility.apply"))
        .await
        .unwrap();
    let login = format!("nurse-{}", &ids::new_id()[..8]);
    let u = store
        .create_user(
            sample_user(&login, vec![(f.id.clone(), MemberRole::Member)]),
            audit("user.create"),
        )
        .await
        .unwrap();
    assert!(u.active && u.is_enrolled());
    let dup = store
        .create_user(sample_user(&login, vec![]), audit("user.create"))
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");

    let members = store.facility_members(&f.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].1.role, MemberRole::Member);

    store
        .set_membership(
            Membership {
                user_id: u.id.clone(),
                facility_id: f.id.clone(),
                role: MemberRole::FacilityAdmin,
                active: true,
            },
            audit("member.role"),
        )
        .await
        .unwrap();
    let views = store.memberships_of(&u.id).await.unwrap();
    assert_eq!(views[0].membership.role, MemberRole::FacilityAdmin);
    assert_eq!(views[0].facility.name, "メンバーテスト医院");

    let updated = store
        .update_user_profile(
            &u.id,
            UserProfile {
                display_name: "佐藤 花子".into(),
                display_name_kana: "サトウ ハナコ".into(),
                email: "hanako@example.jp".into(),
                profession: Profession::HomeVisitNurse,
            },
            audit("user.update"),
        )
        .await
        .unwrap();
    assert_eq!(updated.profession, Profession::HomeVisitNurse);
    let found = store
        .list_users(&UserQuery {
            text: Some("さとう はなこ".into()),
            facility_id: Some(f.id.clone()),
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(found.total, 1);

    let off = store
        .set_user_active(&u.id, false, audit("user.deactivate"))
        .await
        .unwrap();
    assert!(!off.active);
    assert!(store.count_users().await.unwrap() >= 1);
}

pub async fn login_counters_and_second_factor(store: &dyn Store) {
    let u = store
        .create_user(
            sample_user(&format!("lock-{}", &ids::new_id()[..8]), vec![]),
            audit("user.create"),
        )
        .await
        .unwrap();
    for i in 1..=4 {
        let after = store
            .record_login_failure(&u.id, 5, 60_000, 1_000, audit("auth.login"))
            .await
            .unwrap();
        assert_eq!(after.failed_logins, i);
        assert!(!after.is_locked(1_000));
    }
    let locked = store
        .record_login_failure(&u.id, 5, 60_000, 1_000, audit("auth.login"))
        .await
        .unwrap();
    assert!(locked.is_locked(1_000) && !locked.is_locked(61_001));
    store.record_login_success(&u.id, 70_000).await.unwrap();
    let reset = store.get_user(&u.id).await.unwrap().unwrap();
    assert_eq!(
        (reset.failed_logins, reset.locked_until, reset.last_login_at),
        (0, None, Some(70_000))
    );

    // A TOTP step is accepted once and never again, nor any older step.
    assert!(store.claim_totp_step(&u.id, 100).await.unwrap());
    assert!(!store.claim_totp_step(&u.id, 100).await.unwrap());
    assert!(!store.claim_totp_step(&u.id, 99).await.unwrap());
    assert!(store.claim_totp_step(&u.id, 101).await.unwrap());

    assert_eq!(store.unused_recovery_codes(&u.id).await.unwrap(), 2);
    assert!(store.use_recovery_code(&u.id, "r1", 5).await.unwrap());
    assert!(!store.use_recovery_code(&u.id, "r1", 6).await.unwrap());
    assert!(!store.use_recovery_code(&u.id, "nope", 6).await.unwrap());
    assert_eq!(store.unused_recovery_codes(&u.id).await.unwrap(), 1);

    let token = ids::token_hash("setup");
    store
        .reset_credentials(&u.id, &token, 9_999, audit("user.reset"))
        .await
        .unwrap();
    let wiped = store.get_user(&u.id).await.unwrap().unwrap();
    assert!(!wiped.is_enrolled());
    assert_eq!(store.unused_recovery_codes(&u.id).await.unwrap(), 0);
    let again = store
        .set_credentials(
            &u.id,
            Credentials {
                password_hash: "$argon2id$x".into(),
                totp_secret: "ABC".into(),
                recovery_code_hashes: vec!["n1".into()],
            },
            10,
            audit("user.setup"),
        )
        .await
        .unwrap();
    assert!(again.is_enrolled());
    assert_eq!(again.setup_token_hash, None);
    assert_eq!(again.totp_last_step, None);
    assert!(store
        .get_user_by_setup_token(&token)
        .await
        .unwrap()
        .is_none());
}

pub async fn sessions(store: &dyn Store) {
    let u = store
        .create_user(
            sample_user(&format!("sess-{}", &ids::new_id()[..8]), vec![]),
            audit("user.create"),
        )
        .await
        .unwrap();
    let mk = |n: i64| Session {
        id_hash: ids::token_hash(&ids::new_token()),
        user_id: u.id.clone(),
        second_factor_done: true,
        csrf_token: ids::new_token(),
        facility_id: None,
        created_at: n,
        last_seen_at: n,
        expires_at: n + 1_000_000,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
    };
    let (a, b) = (mk(1_000), mk(2_000));
    store.create_session(a.clone()).await.unwrap();
    store.create_session(b.clone()).await.unwrap();
    assert_eq!(
        store.get_session(&a.id_hash).await.unwrap(),
        Some(a.clone())
    );
    store.touch_session(&a.id_hash, 5_000).await.unwrap();
    assert_eq!(
        store
            .get_session(&a.id_hash)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        5_000
    );
    // Idle purge removes b (last seen 2000) but not a (5000).
    assert!(store.purge_sessions(3_000, 0).await.unwrap() >= 1);
    assert!(store.get_session(&b.id_hash).await.unwrap().is_none());
    assert!(store.get_session(&a.id_hash).await.unwrap().is_some());
    store.create_session(mk(9_000)).await.unwrap();
    assert_eq!(store.delete_user_sessions(&u.id).await.unwrap(), 2);
    assert!(store.get_session(&a.id_hash).await.unwrap().is_none());
}

pub async fn readiness(store: &dyn Store) {
    let f = sample_facility(
        "調査テスト病院",
        "チョウサテストビョウイン",
        FacilityType::Hospital,
        "",
    );
    store
        .create_facility(f.clone(), audit("facility.apply"))
        .await
        .unwrap();
    let mut s = ReadinessSurvey {
        facility_id: f.id.clone(),
        system_kind: "電子カルテ".into(),
        vendor: "架空メディカル".into(),
        product: "KarteOne".into(),
        ssmix2_export: "yes".into(),
        hl7_fhir_capable: "unknown".into(),
        network_line: "光回線".into(),
        devices: "PC 20台".into(),
        it_staff: "in_house".into(),
        notes: "".into(),
        updated_at: 1,
        updated_by: "tester".into(),
    };
    store
        .put_readiness(s.clone(), audit("readiness.update"))
        .await
        .unwrap();
    s.vendor = "別ベンダー".into();
    s.updated_at = 2;
    store
        .put_readiness(s.clone(), audit("readiness.update"))
        .await
        .unwrap();
    assert_eq!(store.get_readiness(&f.id).await.unwrap(), Some(s));
    // Only active/suspended facilities are listed; this one is still pending.
    let listed = store.list_readiness().await.unwrap();
    assert!(!listed.iter().any(|(fac, _)| fac.id == f.id));
}

pub async fn audit_chain(store: &dyn Store) {
    let before = store.audit_head().await.unwrap();
    let rec = store
        .append_audit(
            AuditEntry::new("auth.login", Outcome::Failure)
                .actor(None, Some("mallory"), None)
                .from_client(Some("192.0.2.1".into()), Some("curl".into()))
                .detail(serde_json::json!({"reason": "bad password"})),
        )
        .await
        .unwrap();
    assert_eq!(rec.seq, before.as_ref().map(|h| h.0).unwrap_or(0) + 1);
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((rec.seq, rec.hash.clone()))
    );

    let found = store
        .search_audit(&AuditQuery {
            actor_login: Some("mallory".into()),
            outcome: Some("failure".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found[0].seq, rec.seq);
    let prefix = store
        .search_audit(&AuditQuery {
            action_prefix: Some("facility.".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        !prefix.is_empty()
            && prefix
                .iter()
                .all(|r| r.entry.action.starts_with("facility."))
    );
    assert!(
        prefix.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );

    // The whole chain verifies, page by page.
    let mut v = ChainVerifier::new();
    let mut after = 0;
    loop {
        let page = store.audit_after(after, 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        for r in &page {
            v.push(r).unwrap();
            after = r.seq;
        }
    }
    let head = store.audit_head().await.unwrap();
    v.finish(head.as_ref().map(|(s, h)| (*s, h.as_str())))
        .unwrap();
    assert!(v.checked() >= 1);
}

pub async fn settings(store: &dyn Store) {
    let key = format!("test.{}", ids::new_id());
    assert_eq!(store.get_setting(&key).await.unwrap(), None);
    store.set_setting(&key, "1").await.unwrap();
    store.set_setting(&key, "2").await.unwrap();
    assert_eq!(store.get_setting(&key).await.unwrap().as_deref(), Some("2"));
}
