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
    patients(store).await;
    patient_updates(store).await;
    fhir_versions(store).await;
    fhir_batches(store).await;
    fhir_search(store).await;
    fhir_scopes(store).await;
    timeline_reads(store).await;
    live_events(store).await;
    icu_storage(store).await;
    notifications(store).await;
    notices(store).await;
    board(store).await;
    cover_groups(store).await;
    document_deliveries(store).await;
    writes_with_invitation(store).await;
    group_commit(store).await;
}

/// Published events reach a subscriber; topics and sizes the channel cannot carry are
/// refused rather than mangled.
pub async fn live_events(store: &dyn Store) {
    let mut events = store.subscribe_events();
    store.publish_event("test", "bed=1;seq=42").await.unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let event = events.recv().await.expect("event channel open");
            if event.topic == "test" {
                return event;
            }
        }
    })
    .await
    .expect("the event arrives within 5 s");
    assert_eq!(event.payload, "bed=1;seq=42");
    assert!(store.publish_event("a\nb", "x").await.is_err());
    assert!(store.publish_event("", "x").await.is_err());
    let oversized = "x".repeat(MAX_EVENT_PAYLOAD);
    assert!(store.publish_event("test", &oversized).await.is_err());
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

// --- patients ---------------------------------------------------------------------------

/// A unique katakana tag (アイウエオカキクケコ for the digits of a random number), so that
/// global searches see only this run's patients.
pub fn kana_tag() -> String {
    const DIGITS: [char; 10] = ['ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ'];
    format!("{:08}", rand_digits())
        .chars()
        .map(|d| DIGITS[d.to_digit(10).unwrap() as usize])
        .collect()
}

fn hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap(),
            _ => c,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn patient_record(
    facility: &Facility,
    local_id: &str,
    family_kanji: &str,
    given_kanji: &str,
    family_kana: &str,
    given_kana: &str,
    birth_date: &str,
    block_keys: Vec<i64>,
    at: renkei_domain::Millis,
) -> NewPatientRecord {
    NewPatientRecord {
        id: ids::new_id(),
        facility_id: facility.id.clone(),
        id_system: format!("urn:renkei:facility:{}:patient-id", facility.id),
        local_id: local_id.into(),
        family_kanji: family_kanji.into(),
        given_kanji: given_kanji.into(),
        family_kana: family_kana.into(),
        given_kana: given_kana.into(),
        previous_names: vec![PreviousName {
            family_kanji: "旧姓".into(),
            family_kana: "キュウセイ".into(),
        }],
        birth_date: birth_date.into(),
        sex: renkei_domain::patient::Sex::Female,
        postal_code: "053-0011".into(),
        address: "北海道苫小牧市末広町1丁目2-3".into(),
        phones: vec!["0144-32-1234".into()],
        insurance_numbers: vec!["12345678".into()],
        care_level: renkei_domain::patient::CareLevel::Care2,
        block_keys,
        is_test: false,
        created_by: "tester".into(),
        created_at: at,
    }
}

pub fn sample_consent(
    person_id: &str,
    scope: renkei_domain::patient::ConsentScope,
    facilities: Vec<String>,
    obtained_facility_id: &str,
    at: renkei_domain::Millis,
) -> NewConsent {
    NewConsent {
        id: ids::new_id(),
        person_id: person_id.into(),
        scope,
        facilities,
        excluded: vec![renkei_domain::patient::InfoCategory::Psychiatric],
        form: "written".into(),
        signer: "proxy".into(),
        proxy_name: "苫小牧 一郎".into(),
        proxy_relationship: "長男".into(),
        family_participation: true,
        family_note: "長男のみ".into(),
        obtained_by: "tester".into(),
        obtained_facility_id: obtained_facility_id.into(),
        obtained_at: at,
        place: "外来".into(),
        card_number: "C-0001".into(),
        created_at: at,
    }
}

/// The actions audited with `patient_id` naming the person.
async fn patient_audit_actions(store: &dyn Store, person_id: &str) -> Vec<String> {
    store
        .search_audit(&AuditQuery {
            patient_id: Some(person_id.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.entry.patient_id.as_deref(), Some(person_id));
            r.entry.action
        })
        .collect()
}

pub async fn patients(store: &dyn Store) {
    use renkei_domain::patient::{ConsentScope, InfoCategory, TeamStatus};
    let t0: renkei_domain::Millis = 1_750_000_000_000;
    let mut facilities = Vec::new();
    for (name, kana, t) in [
        (
            "患者テスト病院",
            "カンジャテストビョウイン",
            FacilityType::Hospital,
        ),
        (
            "患者テスト医院",
            "カンジャテストイイン",
            FacilityType::Clinic,
        ),
        (
            "患者テスト訪問看護",
            "カンジャテストホウモンカンゴ",
            FacilityType::HomeNursingStation,
        ),
        (
            "患者テスト薬局",
            "カンジャテストヤッキョク",
            FacilityType::Pharmacy,
        ),
    ] {
        let f = store
            .create_facility(sample_facility(name, kana, t, ""), audit("facility.apply"))
            .await
            .unwrap();
        facilities.push(f);
    }
    let [fa, fb, fc, fd] = <[Facility; 4]>::try_from(facilities).unwrap();
    let er = store
        .create_user(
            sample_user(
                &format!("er-{}", &ids::new_id()[..8]),
                vec![(fa.id.clone(), MemberRole::Member)],
            ),
            audit("user.create"),
        )
        .await
        .unwrap();

    let tag = kana_tag();
    let family_kana = format!("ヤマ{tag}");
    let given_kana = "ハナコ".to_string();
    let birth = "1941-03-05";
    let key_a = i64::from(rand_digits()) * 1_000 + 1;
    let key_b = key_a + 1;
    let key_other = key_a + 2;

    // --- register --------------------------------------------------------------------
    let p1 = ids::new_id();
    let new1 = patient_record(
        &fa,
        "A-1",
        "山田",
        "花子",
        &family_kana,
        &given_kana,
        birth,
        vec![key_a, key_b, key_a],
        t0,
    );
    let r1 = store
        .register_patient(
            new1.clone(),
            PersonLink::NewPerson(p1.clone()),
            vec![],
            audit("test.patient.register"),
        )
        .await
        .unwrap();
    assert_eq!(r1.id, new1.id);
    assert_eq!(r1.person_id, p1);
    assert_eq!(r1.facility_id, fa.id);
    assert_eq!(r1.local_id, "A-1");
    assert_eq!(r1.family_kanji, "山田");
    assert_eq!(r1.family_kana, family_kana);
    assert_eq!(r1.previous_names, new1.previous_names);
    assert_eq!(r1.birth_date, birth);
    assert_eq!(r1.sex, renkei_domain::patient::Sex::Female);
    assert_eq!(r1.phones, vec!["0144-32-1234".to_string()]);
    assert_eq!(r1.insurance_numbers, vec!["12345678".to_string()]);
    assert_eq!(r1.care_level, renkei_domain::patient::CareLevel::Care2);
    assert!(!r1.is_test);
    assert_eq!((r1.created_at, r1.updated_at), (t0, t0));
    assert_eq!(
        store.team_status(&p1, &fa.id).await.unwrap(),
        Some(TeamStatus::Active),
        "the registering facility joins the care team"
    );

    // The same local ID at another facility is another registration, here of the same
    // person (linked automatically).
    let new2 = patient_record(
        &fb,
        "A-1",
        "山田",
        "花子",
        &family_kana,
        &given_kana,
        birth,
        vec![key_a],
        t0 + 1,
    );
    let r2 = store
        .register_patient(
            new2,
            PersonLink::Existing(p1.clone()),
            vec![],
            audit("test.patient.register"),
        )
        .await
        .unwrap();
    assert_eq!(r2.person_id, p1);
    assert_eq!(
        store.team_status(&p1, &fb.id).await.unwrap(),
        Some(TeamStatus::Active)
    );

    // The same local ID at the same facility is refused, and nothing of it is stored.
    let orphan = ids::new_id();
    let mut dup = patient_record(
        &fa,
        "A-1",
        "別人",
        "次郎",
        "ベツジン",
        "ジロウ",
        "1950-01-01",
        vec![key_other],
        t0 + 2,
    );
    dup.id_system = r1.id_system.clone();
    let e = store
        .register_patient(
            dup.clone(),
            PersonLink::NewPerson(orphan.clone()),
            vec![],
            audit("test.patient.register"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(store.resolve_person(&orphan).await.unwrap(), None);
    assert_eq!(store.get_patient_record(&dup.id).await.unwrap(), None);
    assert!(store
        .patient_candidates(&[key_other], 10)
        .await
        .unwrap()
        .is_empty());
    // Linking to a person that does not exist is refused.
    let e = store
        .register_patient(
            patient_record(
                &fc,
                "X-1",
                "山田",
                "花子",
                &family_kana,
                &given_kana,
                birth,
                vec![],
                t0 + 3,
            ),
            PersonLink::Existing(ids::new_id()),
            vec![],
            audit("test.patient.register"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");

    // --- lookups ---------------------------------------------------------------------
    let ids_of = |v: &[PatientRecord]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let cands = store.patient_candidates(&[key_a], 100).await.unwrap();
    assert_eq!(ids_of(&cands), vec![r1.id.clone(), r2.id.clone()]);
    let cands = store
        .patient_candidates(&[key_b, key_other], 100)
        .await
        .unwrap();
    assert_eq!(ids_of(&cands), vec![r1.id.clone()]);
    let cands = store
        .patient_candidates(&[key_a, key_b], 100)
        .await
        .unwrap();
    assert_eq!(cands.len(), 2, "a record sharing two keys is listed once");
    assert!(store.patient_candidates(&[], 100).await.unwrap().is_empty());

    // Walking every registration in id order, and replacing their keys (new rules).
    let mut walked = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.patient_records_after(&after, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        walked.extend(ids_of(&page));
    }
    let mut expected = vec![r1.id.clone(), r2.id.clone()];
    expected.sort();
    assert_eq!(walked, expected);
    let key_new = key_a + 3;
    store
        .replace_block_keys(&[(r1.id.clone(), vec![key_new, key_new])])
        .await
        .unwrap();
    assert_eq!(
        ids_of(&store.patient_candidates(&[key_new], 100).await.unwrap()),
        vec![r1.id.clone()]
    );
    assert_eq!(
        ids_of(&store.patient_candidates(&[key_b], 100).await.unwrap()),
        Vec::<String>::new(),
        "the old keys are gone"
    );
    assert_eq!(
        ids_of(&store.patient_candidates(&[key_a], 100).await.unwrap()),
        vec![r2.id.clone()],
        "other records keep theirs"
    );
    store
        .replace_block_keys(&[(r1.id.clone(), vec![key_a, key_b])])
        .await
        .unwrap();

    assert_eq!(
        store.get_patient_record(&r1.id).await.unwrap(),
        Some(r1.clone())
    );
    assert_eq!(
        store.get_patient_record("no-such-record").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_patient_records(&[r1.id.clone(), "no-such-record".into()])
            .await
            .unwrap(),
        vec![r1.clone()]
    );
    assert_eq!(
        store
            .find_patient_record(&fa.id, &r1.id_system, "A-1")
            .await
            .unwrap(),
        Some(r1.clone())
    );
    assert_eq!(
        store
            .find_patient_record(&fa.id, &r1.id_system, "A-2")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_patient_record(&fc.id, &r1.id_system, "A-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ids_of(&store.person_records(&p1).await.unwrap()),
        vec![r1.id.clone(), r2.id.clone()]
    );
    assert!(store
        .person_records("no-such-person")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.resolve_person(&p1).await.unwrap(), Some(p1.clone()));
    assert_eq!(store.resolve_person("no-such-person").await.unwrap(), None);

    // team_patients: one row per person, only where the facility is an active member.
    let listed = store.team_patients(&fa.id, None, 50).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| &r.person_id).collect::<Vec<_>>(),
        vec![&p1]
    );
    assert!(store
        .team_patients(&fc.id, None, 50)
        .await
        .unwrap()
        .is_empty());
    for query in [
        hiragana(&family_kana),
        family_kana.clone(),
        format!("{} {}", hiragana(&family_kana), "はなこ"),
        "山田 花子".to_string(),
        "花子".to_string(),
        birth.to_string(),
        "a-1".to_string(),
        "キュウセイ".to_string(),
    ] {
        let found = store.team_patients(&fb.id, Some(&query), 50).await.unwrap();
        assert_eq!(
            found.iter().map(|r| &r.person_id).collect::<Vec<_>>(),
            vec![&p1],
            "query {query:?}"
        );
    }
    for query in ["山田 次郎", "ヤマダ", "1941-03-06"] {
        assert!(
            store
                .team_patients(&fb.id, Some(query), 50)
                .await
                .unwrap()
                .is_empty(),
            "query {query:?}"
        );
    }

    // find_persons_exact: folded kana and birth date, one row per person.
    let folded = renkei_domain::text::search_fold(&format!("{family_kana} {given_kana}"));
    let exact = store.find_persons_exact(&folded, birth, 10).await.unwrap();
    assert_eq!(
        exact.iter().map(|r| &r.person_id).collect::<Vec<_>>(),
        vec![&p1]
    );
    assert!(store
        .find_persons_exact(&folded, "1941-03-06", 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .find_persons_exact(
            &renkei_domain::text::search_fold(&format!("{family_kana}タロウ")),
            birth,
            10
        )
        .await
        .unwrap()
        .is_empty());

    // --- match review: confirm merges -------------------------------------------------
    let p3 = ids::new_id();
    let review3 = NewMatchReview {
        id: ids::new_id(),
        candidate_record_id: r1.id.clone(),
        weight: 7.5,
        probability: 0.5,
        detail: "[]".into(),
    };
    let r3 = store
        .register_patient(
            patient_record(
                &fc,
                "C-1",
                "山田",
                "花子",
                &family_kana,
                &given_kana,
                "1941-03-15",
                vec![key_a],
                t0 + 10,
            ),
            PersonLink::NewPerson(p3.clone()),
            vec![review3.clone()],
            audit("test.patient.register"),
        )
        .await
        .unwrap();
    assert_eq!(r3.person_id, p3);
    let open = store.open_match_reviews(1000).await.unwrap();
    let q = open
        .iter()
        .find(|r| r.id == review3.id)
        .expect("review queued");
    assert_eq!(q.record_id, r3.id);
    assert_eq!(q.candidate_record_id, r1.id);
    assert_eq!(q.status, "open");
    assert_eq!((q.weight, q.probability), (7.5, 0.5));
    assert_eq!(q.created_at, t0 + 10);
    assert_eq!((q.decided_by.as_deref(), q.decided_at), (None, None));
    // p3 has consent before the merge: it follows the person.
    let c3 = store
        .record_consent(
            sample_consent(&p3, ConsentScope::Comprehensive, vec![], &fc.id, t0 + 11),
            audit("test.consent.record"),
        )
        .await
        .unwrap();
    assert_eq!(c3.status, "active");
    assert_eq!(c3.excluded, vec![InfoCategory::Psychiatric]);
    assert_eq!(store.current_consent(&p1).await.unwrap(), None);

    store
        .decide_match_review(
            &review3.id,
            true,
            "sec",
            t0 + 20,
            audit("test.review.confirm"),
        )
        .await
        .unwrap();
    assert_eq!(store.resolve_person(&p3).await.unwrap(), Some(p1.clone()));
    assert_eq!(
        ids_of(&store.person_records(&p1).await.unwrap()),
        vec![r1.id.clone(), r2.id.clone(), r3.id.clone()]
    );
    assert_eq!(
        ids_of(&store.person_records(&p3).await.unwrap()),
        vec![r1.id.clone(), r2.id.clone(), r3.id.clone()],
        "a merged person's ID still finds the records"
    );
    assert_eq!(
        store.team_status(&p1, &fc.id).await.unwrap(),
        Some(TeamStatus::Active)
    );
    assert_eq!(
        store.team_status(&p3, &fc.id).await.unwrap(),
        Some(TeamStatus::Active)
    );
    let members = store.team_members(&p1).await.unwrap();
    let mut member_ids: Vec<_> = members.iter().map(|m| m.facility_id.clone()).collect();
    member_ids.sort();
    let mut expected = vec![fa.id.clone(), fb.id.clone(), fc.id.clone()];
    expected.sort();
    assert_eq!(member_ids, expected);
    assert!(members
        .iter()
        .all(|m| m.person_id == p1 && m.status == TeamStatus::Active));
    let moved = store
        .current_consent(&p1)
        .await
        .unwrap()
        .expect("consent followed");
    assert_eq!(moved.id, c3.id);
    assert_eq!(moved.person_id, p1);
    assert_eq!(
        store.current_consent(&p3).await.unwrap().map(|c| c.id),
        Some(c3.id.clone())
    );
    let listed = store.team_patients(&fc.id, None, 50).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| &r.person_id).collect::<Vec<_>>(),
        vec![&p1]
    );
    let decided = store
        .open_match_reviews(1000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == review3.id);
    assert_eq!(decided, None, "a decided review leaves the queue");
    let e = store
        .decide_match_review(
            &review3.id,
            false,
            "sec",
            t0 + 21,
            audit("test.review.reject"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let e = store
        .decide_match_review(
            "no-such-review",
            true,
            "sec",
            t0 + 21,
            audit("test.review.confirm"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    let history = store.link_history(&p1).await.unwrap();
    let actions: Vec<_> = history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["new_person", "auto_link", "merge"],
        "{history:?}"
    );
    let merge = &history[2];
    assert_eq!(merge.record_id.as_deref(), Some(r3.id.as_str()));
    assert_eq!(merge.from_person.as_deref(), Some(p3.as_str()));
    assert_eq!(merge.to_person.as_deref(), Some(p1.as_str()));
    assert_eq!((merge.by_user.as_str(), merge.at), ("sec", t0 + 20));
    assert!(merge.detail.contains(&review3.id));

    // --- match review: reject keeps the persons distinct ------------------------------
    let p4 = ids::new_id();
    let review4 = NewMatchReview {
        id: ids::new_id(),
        candidate_record_id: r1.id.clone(),
        weight: 3.0,
        probability: 0.2,
        detail: "[]".into(),
    };
    let r4 = store
        .register_patient(
            patient_record(
                &fd,
                "D-1",
                "山田",
                "花江",
                &family_kana,
                "ハナエ",
                birth,
                vec![key_a],
                t0 + 30,
            ),
            PersonLink::NewPerson(p4.clone()),
            vec![review4.clone()],
            audit("test.patient.register"),
        )
        .await
        .unwrap();
    store
        .decide_match_review(
            &review4.id,
            false,
            "sec",
            t0 + 31,
            audit("test.review.reject"),
        )
        .await
        .unwrap();
    assert_eq!(store.resolve_person(&p4).await.unwrap(), Some(p4.clone()));
    assert_eq!(
        ids_of(&store.person_records(&p4).await.unwrap()),
        vec![r4.id.clone()]
    );
    assert_eq!(store.person_records(&p1).await.unwrap().len(), 3);
    assert!(!store
        .open_match_reviews(1000)
        .await
        .unwrap()
        .iter()
        .any(|r| r.id == review4.id));
    let e = store
        .decide_match_review(
            &review4.id,
            true,
            "sec",
            t0 + 32,
            audit("test.review.confirm"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert_eq!(store.resolve_person(&p4).await.unwrap(), Some(p4.clone()));
    let history4 = store.link_history(&p4).await.unwrap();
    assert_eq!(history4[0].action, "new_person");
    assert!(
        !history4.iter().any(|h| h.action == "merge"),
        "{history4:?}"
    );

    // --- unlink ------------------------------------------------------------------------
    let p5 = ids::new_id();
    store
        .unlink_record(&r3.id, &p5, "sec", t0 + 40, audit("test.patient.unlink"))
        .await
        .unwrap();
    assert_eq!(store.resolve_person(&p5).await.unwrap(), Some(p5.clone()));
    assert_eq!(
        ids_of(&store.person_records(&p5).await.unwrap()),
        vec![r3.id.clone()]
    );
    assert_eq!(
        ids_of(&store.person_records(&p1).await.unwrap()),
        vec![r1.id.clone(), r2.id.clone()]
    );
    assert_eq!(
        store
            .get_patient_record(&r3.id)
            .await
            .unwrap()
            .map(|r| (r.person_id, r.updated_at)),
        Some((p5.clone(), t0 + 40))
    );
    assert_eq!(
        store.team_status(&p5, &fc.id).await.unwrap(),
        Some(TeamStatus::Active)
    );
    let e = store
        .unlink_record(
            &r4.id,
            &ids::new_id(),
            "sec",
            t0 + 41,
            audit("test.patient.unlink"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let e = store
        .unlink_record(
            "no-such-record",
            &ids::new_id(),
            "sec",
            t0 + 41,
            audit("test.patient.unlink"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    let history5 = store.link_history(&p5).await.unwrap();
    let unlink = history5
        .iter()
        .find(|h| h.action == "unlink")
        .expect("unlink event");
    assert_eq!(unlink.record_id.as_deref(), Some(r3.id.as_str()));
    assert_eq!(unlink.from_person.as_deref(), Some(p1.as_str()));
    assert_eq!(unlink.to_person.as_deref(), Some(p5.as_str()));
    assert!(store
        .link_history(&p1)
        .await
        .unwrap()
        .iter()
        .any(|h| h.action == "unlink"));

    // --- consents ----------------------------------------------------------------------
    let e = store
        .record_consent(
            sample_consent(
                &p1,
                ConsentScope::Individual,
                vec![fa.id.clone()],
                &fa.id,
                t0 + 50,
            ),
            audit("test.consent.record"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let withdrawn = store
        .withdraw_consent(
            &c3.id,
            t0 + 5_000,
            "tester",
            "本人の申し出",
            audit("test.consent.withdraw"),
        )
        .await
        .unwrap();
    assert_eq!(withdrawn.status, "withdrawn");
    assert_eq!(withdrawn.withdrawn_at, Some(t0 + 5_000));
    assert_eq!(withdrawn.withdrawn_by.as_deref(), Some("tester"));
    assert_eq!(withdrawn.withdrawal_reason.as_deref(), Some("本人の申し出"));
    assert_eq!(
        store.get_consent(&c3.id).await.unwrap(),
        Some(withdrawn.clone())
    );
    assert_eq!(
        store.current_consent(&p1).await.unwrap(),
        Some(withdrawn.clone()),
        "a withdrawn consent is still the current one until a new one is recorded"
    );
    let e = store
        .withdraw_consent(
            &c3.id,
            t0 + 6_000,
            "tester",
            "again",
            audit("test.consent.withdraw"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let c4 = store
        .record_consent(
            sample_consent(
                &p1,
                ConsentScope::Individual,
                vec![fa.id.clone(), fb.id.clone()],
                &fb.id,
                t0 + 60,
            ),
            audit("test.consent.record"),
        )
        .await
        .unwrap();
    assert_eq!(c4.scope, ConsentScope::Individual);
    assert_eq!(c4.facilities, vec![fa.id.clone(), fb.id.clone()]);
    assert_eq!(c4.proxy_relationship, "長男");
    assert!(c4.family_participation);
    assert_eq!((c4.withdrawn_at, c4.withdrawn_by.clone()), (None, None));
    assert_eq!(store.current_consent(&p1).await.unwrap(), Some(c4.clone()));
    let history = store.consent_history(&p1).await.unwrap();
    assert_eq!(
        history.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![c4.id.clone(), c3.id.clone()],
        "newest first"
    );
    assert_eq!(
        store.consent_history(&p3).await.unwrap().len(),
        2,
        "merged ID follows"
    );
    assert!(store.consent_history(&p4).await.unwrap().is_empty());
    assert_eq!(store.current_consent(&p4).await.unwrap(), None);
    assert_eq!(store.get_consent("no-such-consent").await.unwrap(), None);

    // --- care team ---------------------------------------------------------------------
    assert_eq!(store.team_status(&p1, &fd.id).await.unwrap(), None);
    store
        .invite_to_team(
            &p1,
            &fd.id,
            &fa.id,
            "tester",
            "服薬管理をお願いします",
            t0 + 70,
            audit("test.team.invite"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.team_status(&p1, &fd.id).await.unwrap(),
        Some(TeamStatus::Invited)
    );
    let e = store
        .invite_to_team(
            &p1,
            &fd.id,
            &fa.id,
            "tester",
            "",
            t0 + 71,
            audit("test.team.invite"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let invitations = store.invitations_for(&fd.id).await.unwrap();
    assert_eq!(invitations.len(), 1);
    let (member, record) = &invitations[0];
    assert_eq!(member.person_id, p1);
    assert_eq!(member.status, TeamStatus::Invited);
    assert_eq!(member.invited_by_facility.as_deref(), Some(fa.id.as_str()));
    assert_eq!(member.invited_by_user.as_deref(), Some("tester"));
    assert_eq!(member.note, "服薬管理をお願いします");
    assert_eq!(record.person_id, p1);
    assert!(store.invitations_for(&fa.id).await.unwrap().is_empty());
    // Invited is not a member: the person is not in the pharmacy's list yet.
    assert!(!store
        .team_patients(&fd.id, None, 50)
        .await
        .unwrap()
        .iter()
        .any(|r| r.person_id == p1));
    store
        .respond_to_invitation(&p1, &fd.id, true, t0 + 72, audit("test.team.accept"))
        .await
        .unwrap();
    assert_eq!(
        store.team_status(&p1, &fd.id).await.unwrap(),
        Some(TeamStatus::Active)
    );
    assert!(store.invitations_for(&fd.id).await.unwrap().is_empty());
    assert!(store
        .team_patients(&fd.id, None, 50)
        .await
        .unwrap()
        .iter()
        .any(|r| r.person_id == p1));
    let e = store
        .respond_to_invitation(&p1, &fd.id, false, t0 + 73, audit("test.team.decline"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let e = store
        .invite_to_team(
            &p1,
            &fd.id,
            &fa.id,
            "tester",
            "",
            t0 + 73,
            audit("test.team.invite"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    store
        .leave_team(&p1, &fd.id, t0 + 74, audit("test.team.leave"))
        .await
        .unwrap();
    assert_eq!(
        store.team_status(&p1, &fd.id).await.unwrap(),
        Some(TeamStatus::Left)
    );
    assert!(!store
        .team_patients(&fd.id, None, 50)
        .await
        .unwrap()
        .iter()
        .any(|r| r.person_id == p1));
    let e = store
        .leave_team(&p1, &fd.id, t0 + 75, audit("test.team.leave"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    // A former member can be invited again, and may decline.
    store
        .invite_to_team(
            &p1,
            &fd.id,
            &fb.id,
            "tester2",
            "再依頼",
            t0 + 76,
            audit("test.team.invite"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.team_status(&p1, &fd.id).await.unwrap(),
        Some(TeamStatus::Invited)
    );
    store
        .respond_to_invitation(&p1, &fd.id, false, t0 + 77, audit("test.team.decline"))
        .await
        .unwrap();
    assert_eq!(
        store.team_status(&p1, &fd.id).await.unwrap(),
        Some(TeamStatus::Declined)
    );
    let e = store
        .respond_to_invitation(&p1, &fd.id, true, t0 + 78, audit("test.team.accept"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let e = store
        .respond_to_invitation(&p4, &fa.id, true, t0 + 78, audit("test.team.accept"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let team = store.team_members(&p1).await.unwrap();
    let status_of = |f: &str| team.iter().find(|m| m.facility_id == f).map(|m| m.status);
    assert_eq!(status_of(&fa.id), Some(TeamStatus::Active));
    assert_eq!(status_of(&fb.id), Some(TeamStatus::Active));
    assert_eq!(status_of(&fd.id), Some(TeamStatus::Declined));

    // --- break-glass ---------------------------------------------------------------------
    // Active team of p1 now: fa, fb and (kept after the unlink) whatever the store decided
    // for fc. Every active member gets a notice; the declined pharmacy does not.
    let active_team: Vec<String> = team
        .iter()
        .filter(|m| m.status == TeamStatus::Active)
        .map(|m| m.facility_id.clone())
        .collect();
    let event = BreakGlassEvent {
        id: ids::new_id(),
        person_id: p1.clone(),
        user_id: er.id.clone(),
        facility_id: fa.id.clone(),
        reason: "救急搬送、意識障害".into(),
        started_at: t0 + 100,
        expires_at: t0 + 100 + 3_600_000,
    };
    store
        .start_break_glass(event.clone(), audit("test.break_glass"))
        .await
        .unwrap();
    for f in &active_team {
        let notices = store.team_notices(f, 100).await.unwrap();
        let n: Vec<_> = notices.iter().filter(|n| n.person_id == p1).collect();
        assert_eq!(n.len(), 1, "facility {f}: {notices:?}");
        assert_eq!(n[0].kind, "break_glass");
        assert_eq!(n[0].created_at, t0 + 100);
        assert_eq!(n[0].read_at, None);
        assert!(
            n[0].body.contains(&event.id) && n[0].body.contains("救急搬送"),
            "{}",
            n[0].body
        );
    }
    assert!(store.team_notices(&fd.id, 100).await.unwrap().is_empty());
    assert_eq!(
        store
            .active_break_glass(&er.id, &p1, t0 + 200)
            .await
            .unwrap(),
        Some(event.clone())
    );
    assert_eq!(
        store
            .active_break_glass(&er.id, &p1, event.expires_at - 1)
            .await
            .unwrap(),
        Some(event.clone())
    );
    assert_eq!(
        store
            .active_break_glass(&er.id, &p1, event.expires_at)
            .await
            .unwrap(),
        None,
        "access ends at expiry"
    );
    assert_eq!(
        store
            .active_break_glass(&er.id, &p4, t0 + 200)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .active_break_glass("someone-else", &p1, t0 + 200)
            .await
            .unwrap(),
        None
    );
    assert!(store.list_break_glass(1000).await.unwrap().contains(&event));

    // --- audit: every mutation named the patient -----------------------------------------
    let a1 = patient_audit_actions(store, &p1).await;
    for action in [
        "test.patient.register",
        "test.review.confirm",
        "test.patient.unlink",
        "test.consent.withdraw",
        "test.consent.record",
        "test.team.invite",
        "test.team.accept",
        "test.team.leave",
        "test.team.decline",
        "test.break_glass",
    ] {
        assert!(
            a1.iter().any(|a| a == action),
            "{action} not audited for p1: {a1:?}"
        );
    }
    // register ×2, confirm, unlink, withdraw, record, invite ×2, accept, leave, decline,
    // break-glass — and nothing for the refused calls.
    assert_eq!(a1.len(), 12, "{a1:?}");
    let a3 = patient_audit_actions(store, &p3).await;
    assert_eq!(
        a3,
        vec!["test.consent.record", "test.patient.register"],
        "newest first"
    );
    let a4 = patient_audit_actions(store, &p4).await;
    assert_eq!(a4, vec!["test.review.reject", "test.patient.register"]);
    assert!(patient_audit_actions(store, &orphan).await.is_empty());
}

// --- FHIR resource store ----------------------------------------------------------------

mod fhir_checks {
    use super::*;
    use crate::fhir::*;
    use renkei_fhir::{
        Comparator, Criterion, IndexEntry, IndexValue, SearchQuery, StringMode, ValueMatch,
    };

    pub(super) const TAG_SYSTEM: &str = "urn:renkei:test";

    /// Milliseconds of a UTC time.
    pub(super) fn ms(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    pub(super) fn token(param: &str, system: &str, code: &str) -> IndexEntry {
        IndexEntry {
            param: param.into(),
            value: IndexValue::Token {
                system: system.into(),
                code: code.into(),
            },
        }
    }

    pub(super) fn entry(param: &str, value: IndexValue) -> IndexEntry {
        IndexEntry {
            param: param.into(),
            value,
        }
    }

    pub(super) fn content(resource_type: &str, id: &str, version: i64, note: &str) -> String {
        serde_json::json!({
            "resourceType": resource_type,
            "id": id,
            "meta": {"versionId": version.to_string()},
            "note": note,
        })
        .to_string()
    }

    /// A write of `Type/id` at version `version`, tagged with the run's `tag` so that
    /// searches see only this run's resources.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write(
        kind: FhirWriteKind,
        resource_type: &str,
        id: &str,
        version: i64,
        at: i64,
        record: Option<&str>,
        facility: Option<&str>,
        category: &str,
        tag: &str,
        mut index: Vec<IndexEntry>,
    ) -> FhirWrite {
        index.push(token("_tag", TAG_SYSTEM, tag));
        FhirWrite {
            kind,
            resource_type: resource_type.into(),
            id: id.into(),
            version_id: version,
            last_updated: at,
            patient_record_id: record.map(str::to_string),
            source_facility_id: facility.map(str::to_string),
            category: category.into(),
            content: content(resource_type, id, version, ""),
            index,
        }
    }

    pub(super) fn criterion(param: &str, any_of: Vec<ValueMatch>) -> Criterion {
        Criterion {
            param: param.into(),
            negate: false,
            missing: None,
            any_of,
        }
    }

    pub(super) fn tok(system: Option<&str>, code: &str) -> ValueMatch {
        ValueMatch::Token {
            system: system.map(str::to_string),
            code: code.into(),
        }
    }

    pub(super) fn date(comparator: Comparator, low: i64, high: i64) -> ValueMatch {
        ValueMatch::Date {
            comparator,
            low,
            high,
        }
    }

    pub(super) fn num(comparator: Comparator, value: f64) -> ValueMatch {
        ValueMatch::Number {
            comparator,
            value,
            system: None,
            code: None,
        }
    }

    pub(super) fn string(value: &str, mode: StringMode) -> ValueMatch {
        ValueMatch::String {
            value: value.into(),
            mode,
        }
    }

    /// A search of `resource_type` limited to the run's `tag`.
    pub(super) fn query(resource_type: &str, tag: &str, criteria: Vec<Criterion>) -> SearchQuery {
        let mut all = vec![criterion("_tag", vec![tok(Some(TAG_SYSTEM), tag)])];
        all.extend(criteria);
        SearchQuery {
            resource_type: resource_type.into(),
            ids: vec![],
            criteria: all,
            last_updated: vec![],
            sort: vec![],
            count: 100,
            offset: 0,
            want_total: true,
        }
    }

    /// The ids found, in the order returned; checks that the total agrees.
    pub(super) async fn found(
        store: &dyn Store,
        q: &SearchQuery,
        scope: &FhirScope,
    ) -> Vec<String> {
        let page = store.fhir_search(q, scope).await.unwrap();
        let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
        if q.want_total && q.offset == 0 && ids.len() < q.count {
            assert_eq!(page.total, Some(ids.len() as i64), "{q:?}");
        }
        ids
    }

    /// The ids found, sorted (for criteria whose order does not matter).
    pub(super) async fn found_set(store: &dyn Store, q: &SearchQuery) -> Vec<String> {
        let mut ids = found(store, q, &FhirScope::All).await;
        ids.sort();
        ids
    }

    pub(super) async fn audit_actions(store: &dyn Store, prefix: &str) -> Vec<String> {
        store
            .search_audit(&AuditQuery {
                action_prefix: Some(prefix.to_string()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action)
            .collect()
    }

    pub(super) fn names(prefix: &str, ids: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = ids.iter().map(|i| format!("{prefix}{i}")).collect();
        v.sort();
        v
    }

    /// Two facilities; person P registered at both, person Q at the first.
    pub(super) async fn fhir_fixture(
        store: &dyn Store,
        at: i64,
    ) -> (
        Facility,
        Facility,
        PatientRecord,
        PatientRecord,
        PatientRecord,
    ) {
        let mut facilities = Vec::new();
        for (name, kana) in [
            ("FHIRテスト病院", "エフエイチアイアールテストビョウイン"),
            ("FHIRテスト医院", "エフエイチアイアールテストイイン"),
        ] {
            facilities.push(
                store
                    .create_facility(
                        sample_facility(name, kana, FacilityType::Hospital, ""),
                        audit("facility.apply"),
                    )
                    .await
                    .unwrap(),
            );
        }
        let [fa, fb] = <[Facility; 2]>::try_from(facilities).unwrap();
        let tag = kana_tag();
        let p = ids::new_id();
        let q = ids::new_id();
        let ra = store
            .register_patient(
                patient_record(
                    &fa,
                    "F-1",
                    "福田",
                    "一",
                    &format!("フク{tag}"),
                    "ハジメ",
                    "1950-01-01",
                    vec![],
                    at,
                ),
                PersonLink::NewPerson(p.clone()),
                vec![],
                audit("test.patient.register"),
            )
            .await
            .unwrap();
        let rb = store
            .register_patient(
                patient_record(
                    &fb,
                    "F-9",
                    "福田",
                    "一",
                    &format!("フク{tag}"),
                    "ハジメ",
                    "1950-01-01",
                    vec![],
                    at,
                ),
                PersonLink::Existing(p.clone()),
                vec![],
                audit("test.patient.register"),
            )
            .await
            .unwrap();
        let rq = store
            .register_patient(
                patient_record(
                    &fa,
                    "F-2",
                    "別人",
                    "二",
                    &format!("ベツ{tag}"),
                    "ジロウ",
                    "1960-01-01",
                    vec![],
                    at,
                ),
                PersonLink::NewPerson(q.clone()),
                vec![],
                audit("test.patient.register"),
            )
            .await
            .unwrap();
        (fa, fb, ra, rb, rq)
    }
}

/// Create, read, vread, update (right and wrong version), update-as-create, delete and
/// history — each write audited, refused writes changing nothing.
/// Changing a registration's demographics (a PIXm feed): new values and match keys stored
/// together with the audit record, identity and link kept, stale writers refused.
pub async fn patient_updates(store: &dyn Store) {
    use renkei_domain::patient::{CareLevel, Sex};
    let t0: renkei_domain::Millis = 1_760_000_000_000;
    let fa = store
        .create_facility(
            sample_facility(
                "更新テスト病院",
                "コウシンテストビョウイン",
                FacilityType::Hospital,
                "",
            ),
            audit("facility.apply"),
        )
        .await
        .unwrap();
    let tag = kana_tag();
    let key_old = i64::from(rand_digits()) * 1_000 + 11;
    let key_kept = key_old + 1;
    let key_new = key_old + 2;
    let person = ids::new_id();
    let registered = store
        .register_patient(
            patient_record(
                &fa,
                "U-1",
                "旧名",
                "花子",
                &format!("キュウメイ{tag}"),
                "ハナコ",
                "1941-03-05",
                vec![key_old, key_kept],
                t0,
            ),
            PersonLink::NewPerson(person.clone()),
            vec![],
            audit("test.patient.register"),
        )
        .await
        .unwrap();

    let update = PatientUpdate {
        record_id: registered.id.clone(),
        expected_updated_at: registered.updated_at,
        family_kanji: "新名".into(),
        given_kanji: "花子".into(),
        family_kana: format!("シンメイ{tag}"),
        given_kana: "ハナコ".into(),
        previous_names: vec![PreviousName {
            family_kanji: "旧名".into(),
            family_kana: format!("キュウメイ{tag}"),
        }],
        birth_date: "1941-03-06".into(),
        sex: Sex::Female,
        postal_code: "053-0022".into(),
        address: "北海道苫小牧市表町1丁目1-1".into(),
        phones: vec!["0144-99-0000".into()],
        insurance_numbers: vec![],
        care_level: CareLevel::Support1,
        block_keys: vec![key_kept, key_new, key_new],
        updated_at: t0 + 10,
    };
    let updated = store
        .update_patient_record(update.clone(), audit("test.patient.update"))
        .await
        .unwrap();
    // Identity, person and creation stay; demographics are replaced.
    assert_eq!(updated.id, registered.id);
    assert_eq!(updated.person_id, person);
    assert_eq!(updated.facility_id, fa.id);
    assert_eq!(
        (updated.id_system.as_str(), updated.local_id.as_str()),
        (registered.id_system.as_str(), "U-1")
    );
    assert_eq!((updated.created_at, updated.updated_at), (t0, t0 + 10));
    assert_eq!(updated.created_by, registered.created_by);
    assert_eq!(updated.family_kanji, "新名");
    assert_eq!(updated.family_kana, update.family_kana);
    assert_eq!(updated.previous_names, update.previous_names);
    assert_eq!(updated.birth_date, "1941-03-06");
    assert_eq!(updated.postal_code, "053-0022");
    assert_eq!(updated.address, update.address);
    assert_eq!(updated.phones, update.phones);
    assert!(updated.insurance_numbers.is_empty());
    assert_eq!(updated.care_level, CareLevel::Support1);
    assert_eq!(
        store.get_patient_record(&registered.id).await.unwrap(),
        Some(updated.clone())
    );
    // Match keys were replaced, not added to.
    assert!(store
        .patient_candidates(&[key_old], 10)
        .await
        .unwrap()
        .is_empty());
    for key in [key_kept, key_new] {
        let found = store.patient_candidates(&[key], 10).await.unwrap();
        assert_eq!(
            found.iter().map(|r| &r.id).collect::<Vec<_>>(),
            vec![&registered.id]
        );
    }
    // The search text follows the new names (the old family name is now a previous one).
    let listed = store
        .team_patients(&fa.id, Some(&format!("しんめい{tag}")), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(store
        .team_patients(&fa.id, Some("1941-03-05"), 10)
        .await
        .unwrap()
        .is_empty());
    // The link is unchanged and the audit record names the person.
    assert_eq!(
        store.resolve_person(&person).await.unwrap(),
        Some(person.clone())
    );
    let actions = patient_audit_actions(store, &person).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "test.patient.update")
            .count(),
        1
    );

    // A writer holding the old version is refused; nothing changes, nothing is audited.
    let stale = PatientUpdate {
        family_kanji: "別名".into(),
        block_keys: vec![key_old],
        updated_at: t0 + 20,
        ..update.clone()
    };
    let e = store
        .update_patient_record(stale, audit("test.patient.update"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert_eq!(
        store.get_patient_record(&registered.id).await.unwrap(),
        Some(updated.clone())
    );
    assert!(store
        .patient_candidates(&[key_old], 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(patient_audit_actions(store, &person).await, actions);
    // A version that does not move forward is refused too.
    let e = store
        .update_patient_record(
            PatientUpdate {
                expected_updated_at: t0 + 10,
                updated_at: t0 + 10,
                ..update.clone()
            },
            audit("test.patient.update"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    // An unknown registration.
    let e = store
        .update_patient_record(
            PatientUpdate {
                record_id: ids::new_id(),
                ..update
            },
            audit("test.patient.update"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    assert_eq!(patient_audit_actions(store, &person).await, actions);
}

pub async fn fhir_versions(store: &dyn Store) {
    use fhir::*;
    use fhir_checks::*;
    let t0 = ms(2030, 1, 1, 0, 0);
    let (fa, _fb, ra, _rb, _rq) = fhir_fixture(store, t0).await;
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let act = format!("test.fhir.{}", &tag[..8]);
    let id = format!("{tag}-1");
    let code_v1 = vec![token("code", "http://loinc.org", "v1")];
    let code_v2 = vec![token("code", "http://loinc.org", "v2")];
    let by_code = |c: &str| {
        query(
            "Observation",
            tag,
            vec![fhir_checks::criterion(
                "code",
                vec![tok(Some("http://loinc.org"), c)],
            )],
        )
    };
    let audit_fhir = |a: &str| vec![audit(&format!("{act}.{a}"))];

    let created = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Create,
                "Observation",
                &id,
                1,
                t0 + 1,
                Some(&ra.id),
                Some(&fa.id),
                "laboratory",
                tag,
                code_v1.clone(),
            )],
            audit_fhir("create"),
        )
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    let v1 = created[0].clone();
    assert_eq!(
        v1,
        FhirRow {
            resource_type: "Observation".into(),
            id: id.clone(),
            version_id: 1,
            last_updated: t0 + 1,
            deleted: false,
            patient_record_id: Some(ra.id.clone()),
            person_id: Some(ra.person_id.clone()),
            source_facility_id: Some(fa.id.clone()),
            category: "laboratory".into(),
            content: content("Observation", &id, 1, ""),
            method: "create".into(),
        }
    );
    assert_eq!(
        store.fhir_read("Observation", &id).await.unwrap(),
        Some(v1.clone())
    );
    assert_eq!(store.fhir_read("Condition", &id).await.unwrap(), None);
    assert_eq!(
        store.fhir_vread("Observation", &id, 1).await.unwrap(),
        Some(v1.clone())
    );
    assert_eq!(store.fhir_vread("Observation", &id, 2).await.unwrap(), None);
    assert_eq!(found_set(store, &by_code("v1")).await, vec![id.clone()]);

    // Creating it again is a conflict naming the resource; nothing changes.
    let e = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Create,
                "Observation",
                &id,
                1,
                t0 + 2,
                Some(&ra.id),
                None,
                "laboratory",
                tag,
                code_v2.clone(),
            )],
            audit_fhir("create"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains(&format!("Observation/{id}"))),
        "{e:?}"
    );
    assert_eq!(
        store.fhir_read("Observation", &id).await.unwrap(),
        Some(v1.clone())
    );

    // Update with the right version.
    let mut w2 = write(
        FhirWriteKind::Update {
            expected_version: Some(1),
        },
        "Observation",
        &id,
        2,
        t0 + 3,
        Some(&ra.id),
        Some(&fa.id),
        "laboratory",
        tag,
        code_v2.clone(),
    );
    w2.content = content("Observation", &id, 2, "second");
    let v2 = store
        .fhir_write(vec![w2], audit_fhir("update"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (v2.version_id, v2.method.as_str(), v2.deleted),
        (2, "update", false)
    );
    assert_eq!(v2.person_id.as_deref(), Some(ra.person_id.as_str()));
    assert_eq!(
        store.fhir_read("Observation", &id).await.unwrap(),
        Some(v2.clone())
    );
    assert_eq!(
        store.fhir_vread("Observation", &id, 1).await.unwrap(),
        Some(v1.clone())
    );
    assert_eq!(
        store.fhir_vread("Observation", &id, 2).await.unwrap(),
        Some(v2.clone())
    );
    // The index is the current version's only.
    assert!(found_set(store, &by_code("v1")).await.is_empty());
    assert_eq!(found_set(store, &by_code("v2")).await, vec![id.clone()]);

    // Update with a stale version: conflict, nothing changed.
    let e = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Update {
                    expected_version: Some(1),
                },
                "Observation",
                &id,
                2,
                t0 + 4,
                Some(&ra.id),
                None,
                "laboratory",
                tag,
                code_v1.clone(),
            )],
            audit_fhir("update"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains(&format!("Observation/{id}")) && m.contains("version 2 is current, not 1")),
        "{e:?}"
    );
    assert_eq!(
        store.fhir_read("Observation", &id).await.unwrap(),
        Some(v2.clone())
    );
    assert_eq!(found_set(store, &by_code("v2")).await, vec![id.clone()]);
    // Update of a missing id with a version: not found.
    let e = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Update {
                    expected_version: Some(1),
                },
                "Observation",
                &format!("{tag}-none"),
                2,
                t0 + 4,
                None,
                None,
                "laboratory",
                tag,
                vec![],
            )],
            audit_fhir("update"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");

    // Update-as-create: only while the id does not exist.
    let id2 = format!("{tag}-2");
    let created2 = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Update {
                    expected_version: None,
                },
                "Observation",
                &id2,
                1,
                t0 + 5,
                None,
                Some(&fa.id),
                "medical",
                tag,
                vec![],
            )],
            audit_fhir("upsert"),
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (created2.version_id, created2.method.as_str()),
        (1, "update")
    );
    assert_eq!(
        (
            created2.patient_record_id.as_deref(),
            created2.person_id.as_deref()
        ),
        (None, None)
    );
    let e = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Update {
                    expected_version: None,
                },
                "Observation",
                &id2,
                1,
                t0 + 6,
                None,
                None,
                "medical",
                tag,
                vec![],
            )],
            audit_fhir("upsert"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    // Delete: wrong version, missing id, then the right version.
    let e = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Delete {
                    expected_version: 1,
                },
                "Observation",
                &id,
                3,
                t0 + 7,
                Some(&ra.id),
                Some(&fa.id),
                "laboratory",
                tag,
                vec![],
            )],
            audit_fhir("delete"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("version 2 is current")),
        "{e:?}"
    );
    let e = store
        .fhir_write(
            vec![write(
                FhirWriteKind::Delete {
                    expected_version: 1,
                },
                "Observation",
                &format!("{tag}-none"),
                2,
                t0 + 7,
                None,
                None,
                "laboratory",
                tag,
                vec![],
            )],
            audit_fhir("delete"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    let mut del = write(
        FhirWriteKind::Delete {
            expected_version: 2,
        },
        "Observation",
        &id,
        3,
        t0 + 8,
        Some(&ra.id),
        Some(&fa.id),
        "laboratory",
        tag,
        code_v2.clone(),
    );
    del.content = String::new();
    let v3 = store
        .fhir_write(vec![del], audit_fhir("delete"))
        .await
        .unwrap()
        .remove(0);
    assert!(v3.deleted);
    assert_eq!((v3.version_id, v3.method.as_str()), (3, "delete"));
    assert_eq!(
        v3.content, v2.content,
        "a delete keeps the previous content"
    );
    assert_eq!(
        store.fhir_read("Observation", &id).await.unwrap(),
        Some(v3.clone())
    );
    assert!(
        found_set(store, &by_code("v2")).await.is_empty(),
        "a deleted resource has no index"
    );
    let ids_tagged = query("Observation", tag, vec![]);
    assert_eq!(found_set(store, &ids_tagged).await, vec![id2.clone()]);
    assert_eq!(
        store
            .fhir_read_many(&[
                format!("Observation/{id}"),
                format!("Observation/{id2}"),
                "junk".into(),
                format!("Observation/{id2}")
            ])
            .await
            .unwrap(),
        vec![created2.clone()],
        "read_many leaves deleted ones out"
    );
    assert_eq!(
        store
            .fhir_read_current(&[format!("Observation/{id}"), format!("Observation/{id2}")])
            .await
            .unwrap(),
        vec![v3.clone(), created2.clone()],
        "read_current keeps deleted ones, in the order asked"
    );

    // History: newest first, every version.
    let history = store
        .fhir_history(
            &HistoryQuery {
                resource_type: Some("Observation".into()),
                id: Some(id.clone()),
                since: None,
                count: 10,
                offset: 0,
            },
            &FhirScope::All,
        )
        .await
        .unwrap();
    assert_eq!(history, vec![v3.clone(), v2.clone(), v1.clone()]);
    let page = store
        .fhir_history(
            &HistoryQuery {
                resource_type: Some("Observation".into()),
                id: Some(id.clone()),
                since: Some(t0 + 3),
                count: 1,
                offset: 1,
            },
            &FhirScope::All,
        )
        .await
        .unwrap();
    assert_eq!(page, vec![v2.clone()], "since and paging");
    // Type-level history (other runs' rows may be there too): ours in order.
    let type_history: Vec<(String, i64)> = store
        .fhir_history(
            &HistoryQuery {
                resource_type: Some("Observation".into()),
                id: None,
                since: Some(t0),
                count: 1000,
                offset: 0,
            },
            &FhirScope::All,
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.id.starts_with(tag))
        .map(|r| (r.id, r.version_id))
        .collect();
    assert_eq!(
        type_history,
        vec![
            (id.clone(), 3),
            (id2.clone(), 1),
            (id.clone(), 2),
            (id.clone(), 1)
        ]
    );

    // Exactly the successful writes were audited.
    let mut actions = audit_actions(store, &act).await;
    actions.sort();
    assert_eq!(
        actions,
        ["create", "delete", "update", "upsert"]
            .map(|a| format!("{act}.{a}"))
            .to_vec()
    );
}

/// A batch lands whole or not at all, audit records included.
pub async fn fhir_batches(store: &dyn Store) {
    use fhir::*;
    use fhir_checks::*;
    use renkei_fhir::IndexValue;
    let t0 = ms(2030, 2, 1, 0, 0);
    let (fa, _fb, ra, rb, _rq) = fhir_fixture(store, t0).await;
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let act = format!("test.fhir.{}", &tag[..8]);
    let obs = |n: &str, kind: FhirWriteKind, v: i64, code: &str| {
        write(
            kind,
            "Observation",
            &format!("{tag}-{n}"),
            v,
            t0 + v,
            Some(&ra.id),
            Some(&fa.id),
            "laboratory",
            tag,
            vec![token("code", "urn:c", code)],
        )
    };
    store
        .fhir_write(
            vec![obs("c", FhirWriteKind::Create, 1, "c")],
            vec![audit(&format!("{act}.first"))],
        )
        .await
        .unwrap();

    // The last write conflicts: the earlier ones and every audit record are rolled back.
    for last in [
        obs("c", FhirWriteKind::Create, 1, "x"),
        obs(
            "c",
            FhirWriteKind::Update {
                expected_version: Some(7),
            },
            8,
            "x",
        ),
        obs(
            "c",
            FhirWriteKind::Delete {
                expected_version: 7,
            },
            8,
            "x",
        ),
        obs(
            "missing",
            FhirWriteKind::Update {
                expected_version: Some(1),
            },
            2,
            "x",
        ),
    ] {
        let e = store
            .fhir_write(
                vec![
                    obs("a", FhirWriteKind::Create, 1, "a"),
                    obs(
                        "b",
                        FhirWriteKind::Update {
                            expected_version: None,
                        },
                        1,
                        "b",
                    ),
                    obs(
                        "c",
                        FhirWriteKind::Update {
                            expected_version: Some(1),
                        },
                        2,
                        "c2",
                    ),
                    last,
                ],
                vec![
                    audit(&format!("{act}.batch")),
                    audit(&format!("{act}.batch")),
                    audit(&format!("{act}.batch")),
                ],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Conflict(_) | StoreError::NotFound(_)),
            "{e:?}"
        );
        for n in ["a", "b"] {
            assert_eq!(
                store
                    .fhir_read("Observation", &format!("{tag}-{n}"))
                    .await
                    .unwrap(),
                None
            );
        }
        assert_eq!(
            store
                .fhir_read("Observation", &format!("{tag}-c"))
                .await
                .unwrap()
                .unwrap()
                .version_id,
            1
        );
        for code in ["a", "b", "c2"] {
            let q = query(
                "Observation",
                tag,
                vec![criterion("code", vec![tok(None, code)])],
            );
            assert!(found_set(store, &q).await.is_empty());
        }
        assert_eq!(
            store
                .fhir_vread("Observation", &format!("{tag}-c"), 2)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            audit_actions(store, &format!("{act}.batch")).await,
            Vec::<String>::new()
        );
    }
    // A registration that does not exist fails the batch as well.
    let mut bad = obs("d", FhirWriteKind::Create, 1, "d");
    bad.patient_record_id = Some(ids::new_id());
    let e = store
        .fhir_write(
            vec![obs("a", FhirWriteKind::Create, 1, "a"), bad],
            vec![audit(&format!("{act}.batch"))],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert_eq!(
        store
            .fhir_read("Observation", &format!("{tag}-a"))
            .await
            .unwrap(),
        None
    );

    // The same batch without the bad write lands whole; a resource written twice in one
    // batch keeps both versions and the index of the last.
    let mut batch = vec![
        obs("a", FhirWriteKind::Create, 1, "a"),
        obs(
            "b",
            FhirWriteKind::Update {
                expected_version: None,
            },
            1,
            "b",
        ),
        obs(
            "c",
            FhirWriteKind::Update {
                expected_version: Some(1),
            },
            2,
            "c2",
        ),
        obs(
            "a",
            FhirWriteKind::Update {
                expected_version: Some(1),
            },
            2,
            "a2",
        ),
    ];
    batch[1].patient_record_id = Some(rb.id.clone());
    let rows = store
        .fhir_write(
            batch,
            (0..3).map(|_| audit(&format!("{act}.batch"))).collect(),
        )
        .await
        .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.id.clone(), r.version_id))
            .collect::<Vec<_>>(),
        vec![
            (format!("{tag}-a"), 1),
            (format!("{tag}-b"), 1),
            (format!("{tag}-c"), 2),
            (format!("{tag}-a"), 2)
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.person_id.as_deref() == Some(ra.person_id.as_str())),
        "both registrations are one person"
    );
    assert_eq!(
        store
            .fhir_read("Observation", &format!("{tag}-a"))
            .await
            .unwrap()
            .unwrap()
            .version_id,
        2
    );
    assert!(store
        .fhir_vread("Observation", &format!("{tag}-a"), 1)
        .await
        .unwrap()
        .is_some());
    let by = |code: &str| {
        query(
            "Observation",
            tag,
            vec![criterion("code", vec![tok(None, code)])],
        )
    };
    assert!(found_set(store, &by("a")).await.is_empty());
    assert!(found_set(store, &by("c")).await.is_empty());
    assert_eq!(found_set(store, &by("a2")).await, vec![format!("{tag}-a")]);
    assert_eq!(found_set(store, &by("b")).await, vec![format!("{tag}-b")]);
    assert_eq!(found_set(store, &by("c2")).await, vec![format!("{tag}-c")]);
    assert_eq!(audit_actions(store, &format!("{act}.batch")).await.len(), 3);

    // A big batch (the SS-MIX2 collector writes hundreds at once) in one call.
    let many: Vec<FhirWrite> = (0..600)
        .map(|i| {
            let mut w = obs(&format!("m{i}"), FhirWriteKind::Create, 1, "many");
            w.index.push(entry(
                "value-quantity",
                IndexValue::Number {
                    value: f64::from(i),
                    system: "http://unitsofmeasure.org".into(),
                    code: "mg".into(),
                },
            ));
            w.index.push(entry(
                "date",
                IndexValue::Date {
                    low: t0 + i64::from(i),
                    high: t0 + i64::from(i) + 1,
                },
            ));
            w.index.push(token("code", "urn:c", "many")); // duplicates are stored once
            w
        })
        .collect();
    let audits = (0..600).map(|_| audit(&format!("{act}.many"))).collect();
    assert_eq!(store.fhir_write(many, audits).await.unwrap().len(), 600);
    let mut q = by("many");
    q.count = 10;
    let page = store.fhir_search(&q, &FhirScope::All).await.unwrap();
    assert_eq!((page.rows.len(), page.total), (10, Some(600)));
    assert_eq!(
        audit_actions(store, &format!("{act}.many")).await.len(),
        600
    );
    // The chain is still whole after batched appends.
    let mut verifier = ChainVerifier::new();
    let mut after = 0;
    loop {
        let records = store.audit_after(after, 1000).await.unwrap();
        if records.is_empty() {
            break;
        }
        for r in &records {
            verifier.push(r).unwrap();
            after = r.seq;
        }
    }
    let head = store.audit_head().await.unwrap();
    verifier
        .finish(head.as_ref().map(|(s, h)| (*s, h.as_str())))
        .unwrap();
}

/// Every criterion kind, `_id`, `_lastUpdated`, sorting and paging.
pub async fn fhir_search(store: &dyn Store) {
    use fhir::*;
    use fhir_checks::*;
    use renkei_fhir::{
        Comparator, Comparator::*, Criterion, IndexEntry, IndexValue, SortKey, StringMode,
        ValueMatch,
    };
    let t0 = ms(2030, 3, 1, 0, 0);
    let (fa, _fb, ra, rb, rq) = fhir_fixture(store, t0).await;
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let loinc = "http://loinc.org";
    let ucum = "http://unitsofmeasure.org";
    let instant = ms(2024, 1, 15, 10, 0);
    let quantity = |value: f64, system: &str, code: &str| IndexValue::Number {
        value,
        system: system.into(),
        code: code.into(),
    };
    let dated = |low: i64, high: i64| entry("date", IndexValue::Date { low, high });
    let name = |s: &str| entry("name", IndexValue::String(s.into()));
    let patient = |r: &PatientRecord| {
        entry(
            "patient",
            IndexValue::Reference(format!("Patient/{}", r.id)),
        )
    };
    let resources: Vec<(&str, Vec<IndexEntry>)> = vec![
        (
            "o1",
            vec![
                token("code", loinc, "1234"),
                token("status", "", "final"),
                patient(&ra),
                dated(instant, instant + 1),
                entry("value-quantity", quantity(5.4, ucum, "mg")),
                name("yamadahanako"),
                entry(
                    "instantiates",
                    IndexValue::Uri("http://example.org/a".into()),
                ),
            ],
        ),
        (
            "o2",
            vec![
                token("code", loinc, "5678"),
                token("code", "urn:local", "1234"),
                patient(&ra),
                dated(ms(2024, 1, 20, 0, 0), ms(2024, 1, 21, 0, 0)),
                entry("value-quantity", quantity(10.0, "", "")),
                name("yamazaki"),
            ],
        ),
        (
            "o3",
            vec![
                token("code", loinc, "1234"),
                patient(&rb),
                dated(ms(2024, 2, 1, 0, 0), ms(2024, 3, 1, 0, 0)),
                entry("value-quantity", quantity(100.0, ucum, "kg")),
            ],
        ),
        (
            "o4",
            vec![
                token("code", "", "1234"),
                patient(&rq),
                dated(ms(2023, 1, 1, 0, 0), ms(2024, 1, 1, 0, 0)),
                name("tanaka"),
                name("100%_x"),
            ],
        ),
        ("o5", vec![dated(ms(2024, 3, 1, 0, 0), i64::MAX)]),
    ];
    let mut writes = Vec::new();
    for (i, (n, index)) in resources.into_iter().enumerate() {
        writes.push(write(
            FhirWriteKind::Create,
            "Observation",
            &format!("{tag}-{n}"),
            1,
            t0 + 1 + i as i64,
            Some(&ra.id),
            Some(&fa.id),
            "laboratory",
            tag,
            index,
        ));
    }
    store
        .fhir_write(writes, vec![audit("test.fhir.search")])
        .await
        .unwrap();
    let o = |ids: &[&str]| names(&format!("{tag}-"), ids);
    let q1 = |c: Criterion| query("Observation", tag, vec![c]);
    let set = |c: Criterion| {
        let q = q1(c);
        async move { found_set(store, &q).await }
    };

    // --- a patient's codes (the token index read by patient and code) ----------------
    let of_patients =
        |patients: &[&PatientRecord], codes: Vec<ValueMatch>, extra: Vec<Criterion>| {
            let mut criteria = vec![
                criterion(
                    "patient",
                    patients
                        .iter()
                        .map(|r| ValueMatch::Reference(format!("Patient/{}", r.id)))
                        .collect(),
                ),
                criterion("code", codes),
            ];
            criteria.extend(extra);
            let q = query("Observation", tag, criteria);
            async move { found_set(store, &q).await }
        };
    assert_eq!(
        of_patients(&[&ra], vec![tok(None, "1234")], vec![]).await,
        o(&["o1", "o2"])
    );
    assert_eq!(
        of_patients(&[&ra], vec![tok(Some(loinc), "1234")], vec![]).await,
        o(&["o1"])
    );
    assert_eq!(
        of_patients(&[&rb, &rq], vec![tok(None, "1234")], vec![]).await,
        o(&["o3", "o4"])
    );
    assert_eq!(
        of_patients(&[&ra], vec![tok(None, "1234"), tok(None, "5678")], vec![]).await,
        o(&["o1", "o2"])
    );
    assert_eq!(
        of_patients(&[&ra], vec![tok(None, "9999")], vec![]).await,
        o(&[])
    );
    assert_eq!(
        of_patients(
            &[&ra],
            vec![tok(None, "1234")],
            vec![criterion(
                "date",
                vec![date(Ge, ms(2024, 1, 18, 0, 0), ms(2024, 1, 18, 0, 0))]
            )]
        )
        .await,
        o(&["o2"])
    );

    // --- tokens --------------------------------------------------------------------
    assert_eq!(
        set(criterion("code", vec![tok(None, "1234")])).await,
        o(&["o1", "o2", "o3", "o4"])
    );
    assert_eq!(
        set(criterion("code", vec![tok(Some(loinc), "1234")])).await,
        o(&["o1", "o3"])
    );
    assert_eq!(
        set(criterion("code", vec![tok(Some(""), "1234")])).await,
        o(&["o4"])
    );
    assert_eq!(
        set(criterion("code", vec![tok(Some(loinc), "")])).await,
        o(&["o1", "o2", "o3"])
    );
    assert_eq!(
        set(criterion(
            "code",
            vec![tok(Some(loinc), "5678"), tok(Some(""), "1234")]
        ))
        .await,
        o(&["o2", "o4"]),
        "values are ORed"
    );
    assert_eq!(
        set(criterion("status", vec![tok(None, "final")])).await,
        o(&["o1"])
    );
    let mut not = criterion("code", vec![tok(Some(loinc), "1234")]);
    not.negate = true;
    assert_eq!(
        set(not).await,
        o(&["o2", "o4", "o5"]),
        ":not includes resources without the parameter"
    );
    let mut missing = criterion("code", vec![]);
    missing.missing = Some(true);
    assert_eq!(set(missing.clone()).await, o(&["o5"]));
    missing.missing = Some(false);
    assert_eq!(set(missing).await, o(&["o1", "o2", "o3", "o4"]));
    let mut missing_name = criterion("name", vec![]);
    missing_name.missing = Some(true);
    assert_eq!(set(missing_name).await, o(&["o3", "o5"]));

    // --- strings, references, uris ------------------------------------------------------
    assert_eq!(
        set(criterion("name", vec![string("yama", StringMode::Prefix)])).await,
        o(&["o1", "o2"])
    );
    assert_eq!(
        set(criterion("name", vec![string("yamada", StringMode::Exact)])).await,
        o(&[])
    );
    assert_eq!(
        set(criterion(
            "name",
            vec![string("yamadahanako", StringMode::Exact)]
        ))
        .await,
        o(&["o1"])
    );
    assert_eq!(
        set(criterion(
            "name",
            vec![string("mada", StringMode::Contains)]
        ))
        .await,
        o(&["o1"])
    );
    assert_eq!(
        set(criterion("name", vec![string("a", StringMode::Contains)])).await,
        o(&["o1", "o2", "o4"])
    );
    assert_eq!(
        set(criterion("name", vec![string("%", StringMode::Prefix)])).await,
        o(&[]),
        "wildcards are literal"
    );
    assert_eq!(
        set(criterion("name", vec![string("_", StringMode::Contains)])).await,
        o(&["o4"])
    );
    assert_eq!(
        set(criterion("name", vec![string("100%", StringMode::Prefix)])).await,
        o(&["o4"])
    );
    assert_eq!(
        set(criterion("name", vec![string("", StringMode::Prefix)])).await,
        o(&["o1", "o2", "o4"])
    );
    assert_eq!(
        set(criterion(
            "patient",
            vec![ValueMatch::Reference(format!("Patient/{}", ra.id))]
        ))
        .await,
        o(&["o1", "o2"])
    );
    assert_eq!(
        set(criterion(
            "patient",
            vec![
                ValueMatch::Reference(format!("Patient/{}", rb.id)),
                ValueMatch::Reference(format!("Patient/{}", rq.id)),
            ]
        ))
        .await,
        o(&["o3", "o4"])
    );
    assert_eq!(
        set(criterion(
            "instantiates",
            vec![ValueMatch::Uri("http://example.org/a".into())]
        ))
        .await,
        o(&["o1"])
    );
    assert_eq!(
        set(criterion(
            "instantiates",
            vec![ValueMatch::Uri("http://example.org".into())]
        ))
        .await,
        o(&[])
    );

    // --- dates: o1 an instant on 2024-01-15, o2 the day 2024-01-20, o3 the month
    // 2024-02, o4 the year 2023, o5 from 2024-03-01 on ------------------------------------
    let jan = (ms(2024, 1, 1, 0, 0), ms(2024, 2, 1, 0, 0));
    let jan15 = (ms(2024, 1, 15, 0, 0), ms(2024, 1, 16, 0, 0));
    let jan20 = (ms(2024, 1, 20, 0, 0), ms(2024, 1, 21, 0, 0));
    let feb15 = (ms(2024, 2, 15, 0, 0), ms(2024, 2, 16, 0, 0));
    let y2024 = (ms(2024, 1, 1, 0, 0), ms(2025, 1, 1, 0, 0));
    let d =
        |cmp: Comparator, (low, high): (i64, i64)| criterion("date", vec![date(cmp, low, high)]);
    assert_eq!(set(d(Eq, jan)).await, o(&["o1", "o2"]));
    assert_eq!(set(d(Eq, jan15)).await, o(&["o1"]));
    assert_eq!(set(d(Eq, y2024)).await, o(&["o1", "o2", "o3"]));
    assert_eq!(
        set(d(Eq, feb15)).await,
        o(&[]),
        "a month is not within a day"
    );
    assert_eq!(set(d(Ne, jan)).await, o(&["o3", "o4", "o5"]));
    assert_eq!(set(d(Gt, jan)).await, o(&["o3", "o5"]));
    assert_eq!(set(d(Lt, jan)).await, o(&["o4"]));
    assert_eq!(set(d(Ge, jan20)).await, o(&["o2", "o3", "o5"]));
    assert_eq!(
        set(d(Ge, feb15)).await,
        o(&["o3", "o5"]),
        "ge takes a range reaching past the start"
    );
    assert_eq!(set(d(Le, jan20)).await, o(&["o1", "o2", "o4"]));
    assert_eq!(set(d(Sa, jan)).await, o(&["o3", "o5"]));
    assert_eq!(set(d(Eb, jan)).await, o(&["o4"]));
    assert_eq!(set(d(Ap, feb15)).await, o(&["o3"]));
    // Boundaries: ranges touching the searched one (high is exclusive).
    let feb = (ms(2024, 2, 1, 0, 0), ms(2024, 3, 1, 0, 0));
    let jan1 = (ms(2024, 1, 1, 0, 0), ms(2024, 1, 2, 0, 0));
    let jan31 = (ms(2024, 1, 31, 0, 0), ms(2024, 2, 1, 0, 0));
    assert_eq!(set(d(Eq, feb)).await, o(&["o3"]));
    assert_eq!(set(d(Gt, feb)).await, o(&["o5"]));
    assert_eq!(set(d(Lt, feb)).await, o(&["o1", "o2", "o4"]));
    assert_eq!(set(d(Sa, feb)).await, o(&["o5"]));
    assert_eq!(set(d(Eb, feb)).await, o(&["o1", "o2", "o4"]));
    assert_eq!(set(d(Ge, jan1)).await, o(&["o1", "o2", "o3", "o5"]));
    assert_eq!(set(d(Le, jan31)).await, o(&["o1", "o2", "o4"]));
    assert_eq!(set(d(Ap, jan1)).await, o(&[]));
    assert_eq!(
        found_set(
            store,
            &query(
                "Observation",
                tag,
                vec![
                    d(Ge, jan20),
                    d(Le, (ms(2024, 2, 10, 0, 0), ms(2024, 2, 11, 0, 0)))
                ]
            )
        )
        .await,
        o(&["o2", "o3"]),
        "criteria are ANDed"
    );
    assert_eq!(
        found_set(
            store,
            &query(
                "Observation",
                tag,
                vec![
                    criterion(
                        "patient",
                        vec![ValueMatch::Reference(format!("Patient/{}", ra.id))]
                    ),
                    criterion("code", vec![tok(Some(loinc), "1234")]),
                    d(Ge, jan),
                    d(Le, jan),
                ]
            )
        )
        .await,
        o(&["o1"])
    );

    // --- numbers: o1 5.4 mg, o2 10, o3 100 kg ----------------------------------------
    let n = |cmp: Comparator, v: f64| criterion("value-quantity", vec![num(cmp, v)]);
    assert_eq!(set(n(Eq, 5.4)).await, o(&["o1"]));
    assert_eq!(set(n(Ne, 10.0)).await, o(&["o1", "o3"]));
    assert_eq!(set(n(Gt, 5.4)).await, o(&["o2", "o3"]));
    assert_eq!(set(n(Ge, 10.0)).await, o(&["o2", "o3"]));
    assert_eq!(set(n(Lt, 10.0)).await, o(&["o1"]));
    assert_eq!(set(n(Le, 10.0)).await, o(&["o1", "o2"]));
    assert_eq!(set(n(Sa, 10.0)).await, o(&["o3"]));
    assert_eq!(set(n(Eb, 10.0)).await, o(&["o1"]));
    assert_eq!(set(n(Ap, 95.0)).await, o(&["o3"]));
    let unit = |system: Option<&str>, code: &str| {
        criterion(
            "value-quantity",
            vec![ValueMatch::Number {
                comparator: Ge,
                value: 0.0,
                system: system.map(str::to_string),
                code: Some(code.into()),
            }],
        )
    };
    assert_eq!(set(unit(None, "mg")).await, o(&["o1"]));
    assert_eq!(set(unit(Some(ucum), "kg")).await, o(&["o3"]));
    assert_eq!(set(unit(Some("urn:other"), "kg")).await, o(&[]));

    let seq = |ids: &[&str]| ids.iter().map(|i| format!("{tag}-{i}")).collect::<Vec<_>>();
    // --- each kind of criterion leading the search (without the run's tag, which
    // otherwise leads; other runs' rows are left out afterwards) -------------------------
    let led = |criteria: Vec<Criterion>| {
        let mut q = query("Observation", tag, criteria);
        q.criteria.remove(0);
        q.count = 10_000;
        async move {
            let mut ids: Vec<String> = found(store, &q, &FhirScope::All)
                .await
                .into_iter()
                .filter(|id| id.starts_with(tag))
                .collect();
            ids.sort();
            ids
        }
    };
    let leading: Vec<(Criterion, Vec<String>)> = vec![
        (
            criterion("name", vec![string("yama", StringMode::Prefix)]),
            o(&["o1", "o2"]),
        ),
        (
            criterion("name", vec![string("tanaka", StringMode::Exact)]),
            o(&["o4"]),
        ),
        (
            criterion(
                "instantiates",
                vec![ValueMatch::Uri("http://example.org/a".into())],
            ),
            o(&["o1"]),
        ),
        (n(Ge, 10.0), o(&["o2", "o3"])),
        (d(Ge, jan20), o(&["o2", "o3", "o5"])),
        (d(Le, jan20), o(&["o1", "o2", "o4"])),
        (d(Eq, jan), o(&["o1", "o2"])),
        (
            criterion(
                "code",
                vec![tok(Some(loinc), "5678"), tok(Some(""), "1234")],
            ),
            o(&["o2", "o4"]),
        ),
        (
            criterion("code", vec![tok(Some("urn:local"), "")]),
            o(&["o2"]),
        ),
    ];
    for (c, expected) in leading {
        assert_eq!(led(vec![c.clone()]).await, expected, "{c:?}");
    }
    let mut by_id = query("Observation", tag, vec![]);
    by_id.criteria.clear();
    by_id.ids = vec![format!("{tag}-o2"), format!("{tag}-o5")];
    assert_eq!(
        found(store, &by_id, &FhirScope::All).await,
        seq(&["o5", "o2"])
    );

    // --- _id and _lastUpdated (o1 … o5 written at t0+1 … t0+5) ------------------------
    let mut q = query("Observation", tag, vec![]);
    q.ids = vec![
        format!("{tag}-o1"),
        format!("{tag}-o3"),
        format!("{tag}-none"),
    ];
    assert_eq!(found_set(store, &q).await, o(&["o1", "o3"]));
    q.criteria
        .push(criterion("value-quantity", vec![num(Gt, 50.0)]));
    assert_eq!(found_set(store, &q).await, o(&["o3"]));
    let mut q = query("Observation", tag, vec![]);
    q.last_updated = vec![(Ge, t0 + 3, t0 + 4)];
    assert_eq!(found_set(store, &q).await, o(&["o3", "o4", "o5"]));
    q.last_updated = vec![(Ge, t0 + 2, t0 + 3), (Lt, t0 + 4, t0 + 5)];
    assert_eq!(found_set(store, &q).await, o(&["o2", "o3"]));
    q.last_updated = vec![(Eq, t0 + 2, t0 + 3)];
    assert_eq!(found_set(store, &q).await, o(&["o2"]));
    assert_eq!(
        found_set(store, &query("Condition", tag, vec![])).await,
        o(&[]),
        "other types"
    );

    // --- sorting ----------------------------------------------------------------------
    let sorted = |keys: Vec<(&str, bool)>| {
        let mut q = query("Observation", tag, vec![]);
        q.sort = keys
            .into_iter()
            .map(|(p, descending)| SortKey {
                param: p.into(),
                descending,
            })
            .collect();
        async move { found(store, &q, &FhirScope::All).await }
    };
    assert_eq!(
        sorted(vec![]).await,
        seq(&["o5", "o4", "o3", "o2", "o1"]),
        "default: newest first"
    );
    assert_eq!(
        sorted(vec![("_lastUpdated", false)]).await,
        seq(&["o1", "o2", "o3", "o4", "o5"])
    );
    assert_eq!(
        sorted(vec![("_id", true)]).await,
        seq(&["o5", "o4", "o3", "o2", "o1"])
    );
    assert_eq!(
        sorted(vec![("date", false)]).await,
        seq(&["o4", "o1", "o2", "o3", "o5"])
    );
    assert_eq!(
        sorted(vec![("date", true)]).await,
        seq(&["o5", "o3", "o2", "o1", "o4"])
    );
    assert_eq!(
        sorted(vec![("value-quantity", false)]).await,
        seq(&["o1", "o2", "o3", "o4", "o5"])
    );
    assert_eq!(
        sorted(vec![("value-quantity", true)]).await,
        seq(&["o3", "o2", "o1", "o4", "o5"]),
        "no value: last"
    );
    assert_eq!(
        sorted(vec![("name", false)]).await,
        seq(&["o4", "o1", "o2", "o3", "o5"])
    );
    assert_eq!(
        sorted(vec![("code", true), ("date", false)]).await,
        seq(&["o2", "o4", "o1", "o3", "o5"])
    );
    assert_eq!(
        sorted(vec![("no-such-param", false)]).await,
        seq(&["o5", "o4", "o3", "o2", "o1"]),
        "a parameter no resource has leaves the default order"
    );

    // --- paging -----------------------------------------------------------------------
    let mut q = query("Observation", tag, vec![]);
    q.count = 2;
    let mut pages = Vec::new();
    for offset in [0, 2, 4, 6] {
        q.offset = offset;
        let page = store.fhir_search(&q, &FhirScope::All).await.unwrap();
        assert_eq!(page.total, Some(5));
        pages.push(page.rows.into_iter().map(|r| r.id).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        vec![seq(&["o5", "o4"]), seq(&["o3", "o2"]), seq(&["o1"]), vec![]]
    );
    q.offset = 0;
    q.count = 0;
    let page = store.fhir_search(&q, &FhirScope::All).await.unwrap();
    assert_eq!((page.rows.len(), page.total), (0, Some(5)));
    q.count = 3;
    q.want_total = false;
    let page = store.fhir_search(&q, &FhirScope::All).await.unwrap();
    assert_eq!((page.rows.len(), page.total), (3, None));
    let mut q = q1(criterion("code", vec![tok(None, "1234")]));
    q.count = 3;
    q.offset = 1;
    let page = store.fhir_search(&q, &FhirScope::All).await.unwrap();
    assert_eq!(page.total, Some(4));
    assert_eq!(
        page.rows.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        seq(&["o3", "o2", "o1"])
    );
}

/// Access scopes on search, history and `$everything`; persons resolved across
/// registrations and merges.
pub async fn fhir_scopes(store: &dyn Store) {
    use fhir::*;
    use fhir_checks::*;
    let t0 = ms(2030, 4, 1, 0, 0);
    let (fa, fb, ra, rb, rq) = fhir_fixture(store, t0).await;
    let p = ra.person_id.clone();
    let q_person = rq.person_id.clone();
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let w = |rt: &str,
             n: &str,
             at: i64,
             record: Option<&PatientRecord>,
             facility: &Facility,
             category: &str| {
        write(
            FhirWriteKind::Create,
            rt,
            &format!("{tag}-{n}"),
            1,
            t0 + at,
            record.map(|r| r.id.as_str()),
            Some(&facility.id),
            category,
            tag,
            vec![],
        )
    };
    let rows = store
        .fhir_write(
            vec![
                w("Observation", "s1", 1, Some(&ra), &fa, "laboratory"),
                w("Observation", "s2", 2, Some(&rb), &fb, "laboratory"),
                w("Observation", "s3", 3, Some(&rb), &fb, "psychiatric"),
                w("Observation", "s4", 4, Some(&rq), &fb, "laboratory"),
                w("Organization", "s5", 5, None, &fb, "demographics"),
                w("Condition", "s6", 6, Some(&ra), &fa, "medical"),
                w("Condition", "s7", 7, Some(&rb), &fb, "medical"),
            ],
            vec![audit("test.fhir.scope")],
        )
        .await
        .unwrap();
    let persons: Vec<Option<&str>> = rows.iter().map(|r| r.person_id.as_deref()).collect();
    assert_eq!(
        persons,
        vec![
            Some(p.as_str()),
            Some(p.as_str()),
            Some(p.as_str()),
            Some(q_person.as_str()),
            None,
            Some(p.as_str()),
            Some(p.as_str())
        ],
        "both registrations resolve to one person"
    );
    let s = |ids: &[&str]| names(&format!("{tag}-"), ids);
    let search = |rt: &str, scope: FhirScope| {
        let q = query(rt, tag, vec![]);
        async move {
            let mut ids = found(store, &q, &scope).await;
            ids.sort();
            ids
        }
    };
    let restricted = |own: Option<&Facility>,
                      grants: Vec<(Vec<&str>, Vec<&str>)>,
                      non_patient: bool| FhirScope::Restricted {
        own_facility: own.map(|f| f.id.clone()),
        grants: grants
            .into_iter()
            .map(|(persons, categories)| PersonGrant {
                person_ids: persons.into_iter().map(str::to_string).collect(),
                categories: categories.into_iter().map(str::to_string).collect(),
            })
            .collect(),
        non_patient,
    };
    assert_eq!(
        search("Observation", FhirScope::All).await,
        s(&["s1", "s2", "s3", "s4"])
    );
    assert_eq!(
        search("Observation", restricted(Some(&fb), vec![], false)).await,
        s(&["s2", "s3", "s4"])
    );
    assert_eq!(
        search(
            "Observation",
            restricted(None, vec![(vec![&p], vec!["laboratory"])], false)
        )
        .await,
        s(&["s1", "s2"]),
        "a grant reaches the person's data from every facility"
    );
    assert_eq!(
        search(
            "Observation",
            restricted(Some(&fa), vec![(vec![&p], vec!["laboratory"])], false)
        )
        .await,
        s(&["s1", "s2"])
    );
    assert_eq!(
        search(
            "Observation",
            restricted(
                None,
                vec![
                    (vec![&p], vec!["laboratory", "psychiatric"]),
                    (vec![&q_person], vec!["medical"])
                ],
                false
            )
        )
        .await,
        s(&["s1", "s2", "s3"])
    );
    assert_eq!(
        search(
            "Observation",
            restricted(None, vec![(vec![&p, &q_person], vec!["laboratory"])], false)
        )
        .await,
        s(&["s1", "s2", "s4"])
    );
    assert_eq!(
        search(
            "Observation",
            restricted(None, vec![(vec![&p], vec![])], true)
        )
        .await,
        s(&[])
    );
    assert_eq!(
        search("Organization", restricted(None, vec![], true)).await,
        s(&["s5"])
    );
    assert_eq!(
        search(
            "Organization",
            restricted(Some(&fa), vec![(vec![&p], vec!["demographics"])], false)
        )
        .await,
        s(&[])
    );
    let nothing = restricted(None, vec![], false);
    let page = store
        .fhir_search(&query("Observation", tag, vec![]), &nothing)
        .await
        .unwrap();
    assert_eq!(
        (page.rows.len(), page.total),
        (0, Some(0)),
        "totals count only visible rows"
    );

    // History applies the scope to each version.
    let history = |scope: FhirScope| async move {
        let mut ids: Vec<String> = store
            .fhir_history(
                &HistoryQuery {
                    resource_type: Some("Observation".into()),
                    id: None,
                    since: Some(t0),
                    count: 1000,
                    offset: 0,
                },
                &scope,
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.id.starts_with(tag))
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(history(FhirScope::All).await, s(&["s1", "s2", "s3", "s4"]));
    assert_eq!(
        history(restricted(Some(&fa), vec![], false)).await,
        s(&["s1"])
    );
    assert_eq!(
        history(restricted(
            None,
            vec![(vec![&q_person], vec!["laboratory"])],
            false
        ))
        .await,
        s(&["s4"])
    );

    // $everything: current undeleted rows about the persons, by type then id.
    let everything = |persons: Vec<String>, scope: FhirScope, count: usize, offset: usize| async move {
        let page = store
            .fhir_everything(&persons, &scope, count, offset)
            .await
            .unwrap();
        (
            page.rows
                .into_iter()
                .map(|r| format!("{}/{}", r.resource_type, r.id))
                .collect::<Vec<_>>(),
            page.total,
        )
    };
    let typed = |items: &[(&str, &str)]| {
        items
            .iter()
            .map(|(t, n)| format!("{t}/{tag}-{n}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        everything(vec![p.clone()], FhirScope::All, 100, 0).await,
        (
            typed(&[
                ("Condition", "s6"),
                ("Condition", "s7"),
                ("Observation", "s1"),
                ("Observation", "s2"),
                ("Observation", "s3")
            ]),
            Some(5)
        )
    );
    assert_eq!(
        everything(vec![p.clone()], FhirScope::All, 2, 2).await,
        (
            typed(&[("Observation", "s1"), ("Observation", "s2")]),
            Some(5)
        )
    );
    assert_eq!(
        everything(
            vec![p.clone(), q_person.clone()],
            restricted(Some(&fb), vec![], false),
            100,
            0
        )
        .await,
        (
            typed(&[
                ("Condition", "s7"),
                ("Observation", "s2"),
                ("Observation", "s3"),
                ("Observation", "s4")
            ]),
            Some(4)
        )
    );
    assert_eq!(
        everything(
            vec![p.clone()],
            restricted(None, vec![(vec![&p], vec!["medical"])], false),
            100,
            0
        )
        .await,
        (typed(&[("Condition", "s6"), ("Condition", "s7")]), Some(2))
    );
    assert_eq!(
        everything(vec![], FhirScope::All, 100, 0).await,
        (vec![], Some(0))
    );
    // A deleted resource leaves $everything.
    store
        .fhir_write(
            vec![write(
                FhirWriteKind::Delete {
                    expected_version: 1,
                },
                "Condition",
                &format!("{tag}-s7"),
                2,
                t0 + 8,
                Some(&rb.id),
                Some(&fb.id),
                "medical",
                tag,
                vec![],
            )],
            vec![audit("test.fhir.scope")],
        )
        .await
        .unwrap();
    assert_eq!(
        everything(vec![p.clone()], FhirScope::All, 0, 0).await,
        (vec![], Some(4))
    );

    // A merge: person Z's registration joins P's person; its rows resolve to the survivor
    // and a grant naming the merged person still reaches them.
    let z = ids::new_id();
    let review = NewMatchReview {
        id: ids::new_id(),
        candidate_record_id: ra.id.clone(),
        weight: 9.0,
        probability: 0.6,
        detail: "[]".into(),
    };
    let rz = store
        .register_patient(
            patient_record(
                &fb,
                "Z-1",
                "福田",
                "一",
                "フクダ",
                "ハジメ",
                "1950-01-01",
                vec![],
                t0 + 9,
            ),
            PersonLink::NewPerson(z.clone()),
            vec![review.clone()],
            audit("test.patient.register"),
        )
        .await
        .unwrap();
    store
        .fhir_write(
            vec![w("Observation", "s8", 10, Some(&rz), &fb, "laboratory")],
            vec![audit("test.fhir.scope")],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .fhir_read("Observation", &format!("{tag}-s8"))
            .await
            .unwrap()
            .unwrap()
            .person_id,
        Some(z.clone())
    );
    store
        .decide_match_review(
            &review.id,
            true,
            "sec",
            t0 + 11,
            audit("test.review.confirm"),
        )
        .await
        .unwrap();
    let survivor = store.resolve_person(&z).await.unwrap().unwrap();
    assert_eq!(survivor, p, "Z merged into P");
    assert_eq!(
        store
            .fhir_read("Observation", &format!("{tag}-s8"))
            .await
            .unwrap()
            .unwrap()
            .person_id,
        Some(p.clone())
    );
    assert_eq!(
        search(
            "Observation",
            restricted(None, vec![(vec![&z], vec!["laboratory"])], false)
        )
        .await,
        s(&["s1", "s2", "s8"]),
        "a grant naming a merged person reaches the survivor's data"
    );
    assert_eq!(
        everything(vec![z.clone()], FhirScope::All, 0, 0).await.1,
        Some(5)
    );
}

/// Read receipts of timeline posts: marking is idempotent and keeps the first read time;
/// readers are listed per post; unread counts are per person, follow the scope (another
/// facility's posts only with a grant of their category) and leave out deleted posts.
pub async fn timeline_reads(store: &dyn Store) {
    use fhir::*;
    use fhir_checks::*;
    let t0 = ms(2030, 5, 1, 0, 0);
    let (fa, fb, ra, rb, rq) = fhir_fixture(store, t0).await;
    let p = ra.person_id.clone();
    let q = rq.person_id.clone();
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let post = |n: &str, at: i64, record: &PatientRecord, facility: &Facility| {
        write(
            FhirWriteKind::Create,
            "Communication",
            &format!("{tag}-{n}"),
            1,
            t0 + at,
            Some(record.id.as_str()),
            Some(&facility.id),
            "care",
            tag,
            vec![],
        )
    };
    store
        .fhir_write(
            vec![
                post("a1", 1, &ra, &fa),
                post("a2", 2, &ra, &fa),
                post("b1", 3, &rb, &fb),
                post("q1", 4, &rq, &fa),
            ],
            vec![audit("test.timeline")],
        )
        .await
        .unwrap();
    let id = |n: &str| format!("{tag}-{n}");
    let u1 = format!("user-{tag}-1");
    let u2 = format!("user-{tag}-2");
    let own_a = FhirScope::Restricted {
        own_facility: Some(fa.id.clone()),
        grants: vec![],
        non_patient: false,
    };
    let shared_a = FhirScope::Restricted {
        own_facility: Some(fa.id.clone()),
        grants: vec![PersonGrant {
            person_ids: vec![p.clone()],
            categories: vec!["care".into()],
        }],
        non_patient: false,
    };
    let both = vec![p.clone(), q.clone()];
    let mut expected = vec![(p.clone(), 2), (q.clone(), 1)];
    expected.sort();
    assert_eq!(
        store.timeline_unread(&u1, &both, &own_a).await.unwrap(),
        expected,
        "without a grant the other facility's post is not counted"
    );
    let mut expected = vec![(p.clone(), 3), (q.clone(), 1)];
    expected.sort();
    assert_eq!(
        store.timeline_unread(&u1, &both, &shared_a).await.unwrap(),
        expected
    );
    assert_eq!(
        store.timeline_unread(&u1, &[], &shared_a).await.unwrap(),
        vec![]
    );

    // Reading: idempotent, first time kept.
    store
        .mark_timeline_read(&u1, &[id("a1"), id("b1")], t0 + 10)
        .await
        .unwrap();
    store
        .mark_timeline_read(&u1, &[id("a1"), id("a2")], t0 + 20)
        .await
        .unwrap();
    store
        .mark_timeline_read(&u2, &[id("a1")], t0 + 15)
        .await
        .unwrap();
    store.mark_timeline_read(&u2, &[], t0 + 16).await.unwrap();
    let readers = store.timeline_readers(&[id("a1")]).await.unwrap();
    assert_eq!(
        readers
            .iter()
            .map(|r| (r.user_id.as_str(), r.read_at - t0))
            .collect::<Vec<_>>(),
        vec![(u1.as_str(), 10), (u2.as_str(), 15)],
        "earliest first, first read time kept"
    );
    let readers = store
        .timeline_readers(&[id("a2"), id("b1"), id("q1")])
        .await
        .unwrap();
    assert_eq!(readers.len(), 2);
    assert!(readers.iter().all(|r| r.user_id == u1));
    assert_eq!(
        store.timeline_unread(&u1, &both, &shared_a).await.unwrap(),
        vec![(q.clone(), 1)]
    );
    assert_eq!(
        store
            .timeline_unread(&u2, std::slice::from_ref(&p), &shared_a)
            .await
            .unwrap(),
        vec![(p.clone(), 2)]
    );

    // A deleted post is no longer unread.
    let mut del = post("a2", 30, &ra, &fa);
    del.kind = FhirWriteKind::Delete {
        expected_version: 1,
    };
    del.version_id = 2;
    store
        .fhir_write(vec![del], vec![audit("test.timeline")])
        .await
        .unwrap();
    assert_eq!(
        store
            .timeline_unread(&u2, std::slice::from_ref(&p), &shared_a)
            .await
            .unwrap(),
        vec![(p.clone(), 1)]
    );
    assert_eq!(
        store
            .timeline_unread(&u2, std::slice::from_ref(&p), &FhirScope::All)
            .await
            .unwrap(),
        vec![(p.clone(), 1)]
    );

    // A reply (indexed `in-response-to`): `:missing` on a reference parameter tells posts
    // from replies (the timeline pages its posts so).
    let mut reply = post("r1", 40, &ra, &fa);
    reply.index.push(entry(
        "in-response-to",
        renkei_fhir::IndexValue::Reference(format!("Communication/{}", id("a1"))),
    ));
    store
        .fhir_write(vec![reply], vec![audit("test.timeline")])
        .await
        .unwrap();
    let mut top = criterion("in-response-to", vec![]);
    top.missing = Some(true);
    assert_eq!(
        found_set(store, &query("Communication", tag, vec![top.clone()])).await,
        names(&format!("{tag}-"), &["a1", "b1", "q1"])
    );
    top.missing = Some(false);
    assert_eq!(
        found_set(store, &query("Communication", tag, vec![top])).await,
        names(&format!("{tag}-"), &["r1"])
    );
    assert_eq!(
        store
            .timeline_unread(&u2, std::slice::from_ref(&p), &FhirScope::All)
            .await
            .unwrap(),
        vec![(p.clone(), 2)],
        "replies are posts too"
    );
}

/// Tele-ICU: configuration, one open stay per bed, batches that store resent messages and
/// values once, the newest value that never moves back, quarantine, alerts de-duplicated by
/// stay and rule, rounds and calls, retention into hourly summaries, test-data erasure.
pub async fn icu_storage(store: &dyn Store) {
    use crate::icu::*;
    use fhir_checks::*;
    let t0 = ms(2030, 6, 1, 0, 0);
    let (fa, fb, ra, rb, _) = fhir_fixture(store, t0).await;
    let icu = store.icu();
    let tag = ids::new_id();
    let unit = IcuUnit {
        id: format!("unit-{tag}"),
        facility_id: fa.id.clone(),
        centre_facility_id: fb.id.clone(),
        code: "ICU".into(),
        name: "集中治療室".into(),
        kind: "icu".into(),
        colour: "#1f77b4".into(),
        sampling_seconds: 60,
        active: true,
        updated_at: t0,
    };
    icu.icu_put_unit(unit.clone(), audit("icu.unit"))
        .await
        .unwrap();
    let clash = IcuUnit {
        id: format!("unit2-{tag}"),
        ..unit.clone()
    };
    assert!(matches!(
        icu.icu_put_unit(clash, audit("icu.unit")).await,
        Err(StoreError::Conflict(_))
    ));
    let bed = |n: i64| IcuBed {
        id: format!("bed{n}-{tag}"),
        unit_id: unit.id.clone(),
        facility_id: fa.id.clone(),
        label: format!("ICU-{n}"),
        monitor_key: format!("BED-{n:03}-{tag}"),
        position: n,
        active: true,
        updated_at: t0,
    };
    icu.icu_put_bed(bed(1), audit("icu.bed")).await.unwrap();
    icu.icu_put_bed(bed(2), audit("icu.bed")).await.unwrap();
    let mut same_key = bed(3);
    same_key.monitor_key = bed(1).monitor_key;
    assert!(matches!(
        icu.icu_put_bed(same_key, audit("icu.bed")).await,
        Err(StoreError::Conflict(_))
    ));
    let beds: Vec<IcuBed> = icu
        .icu_beds()
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.unit_id == unit.id)
        .collect();
    assert_eq!(
        beds.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
        ["ICU-1", "ICU-2"]
    );

    let stay = |id: &str, bed_id: &str, record: &PatientRecord, is_test: bool| IcuStay {
        id: format!("{id}-{tag}"),
        bed_id: bed_id.to_string(),
        facility_id: fa.id.clone(),
        person_id: record.person_id.clone(),
        record_id: record.id.clone(),
        local_id: record.local_id.clone(),
        admitted_at: t0,
        admitted_by: "clerk".into(),
        details: "{}".into(),
        is_test,
        discharged_at: None,
        discharged_by: None,
        discharge_summary: None,
    };
    let s1 = stay("s1", &bed(1).id, &ra, false);
    icu.icu_admit(s1.clone(), audit("icu.admit")).await.unwrap();
    assert!(matches!(
        icu.icu_admit(stay("s1b", &bed(1).id, &rb, false), audit("icu.admit"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let s2 = stay("s2", &bed(2).id, &rb, true);
    icu.icu_admit(s2.clone(), audit("icu.admit")).await.unwrap();

    let value = |stay: &IcuStay, item: &str, at: i64, v: f64| IcuValue {
        stay_id: stay.id.clone(),
        item: item.into(),
        at: t0 + at,
        value: v,
        source: "monitor".into(),
    };
    let message = |control: &str, values: Vec<IcuValue>, stay: &IcuStay| IcuIncoming {
        facility_id: fa.id.clone(),
        control_id: format!("{control}-{tag}"),
        received_at: t0,
        disposition: IcuDisposition::Store {
            stay_id: stay.id.clone(),
            values,
        },
    };
    let quarantined = IcuQuarantined {
        id: format!("q-{tag}"),
        received_at: t0,
        facility_id: fa.id.clone(),
        centre_facility_id: Some(fb.id.clone()),
        control_id: format!("m4-{tag}"),
        bed_key: "BED-999".into(),
        patient_key: "P-1".into(),
        reason: "no admitted patient in bed BED-999".into(),
        message: "MSH|^~\\&|...".into(),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
    };
    let alert = |stay: &IcuStay, rule: &str, at: i64| IcuAlert {
        id: ids::new_id(),
        stay_id: Some(stay.id.clone()),
        facility_id: fa.id.clone(),
        rule: rule.into(),
        severity: "critical".into(),
        audience: "nurse,physician".into(),
        text: "SpO2 < 90".into(),
        value: Some(85.0),
        raised_at: t0 + at,
        acked_at: None,
        acked_by: None,
        ack_reason: None,
        snoozed_until: None,
        cleared_at: None,
    };
    let results = icu
        .icu_ingest(
            vec![
                message(
                    "m1",
                    vec![
                        value(&s1, "hr", 60_000, 80.0),
                        value(&s1, "spo2", 60_000, 97.0),
                    ],
                    &s1,
                ),
                message(
                    "m2",
                    vec![
                        value(&s1, "hr", 120_000, 90.0),
                        value(&s1, "hr", 120_000, 90.0),
                    ],
                    &s1,
                ),
                message("m1", vec![value(&s1, "hr", 60_000, 81.0)], &s1),
                IcuIncoming {
                    facility_id: fa.id.clone(),
                    control_id: quarantined.control_id.clone(),
                    received_at: t0,
                    disposition: IcuDisposition::Quarantine(Box::new(quarantined.clone())),
                },
            ],
            IcuAlertChanges {
                raise: vec![alert(&s1, "spo2.low", 1)],
                clear: vec![],
            },
            audit("icu.ingest"),
        )
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            IcuIngested::Stored,
            IcuIngested::Stored,
            IcuIngested::Duplicate,
            IcuIngested::Quarantined
        ]
    );
    // A resend in a later batch, and an older value arriving late.
    let results = icu
        .icu_ingest(
            vec![
                message("m2", vec![value(&s1, "hr", 120_000, 99.0)], &s1),
                message("m5", vec![value(&s1, "hr", 30_000, 70.0)], &s1),
                message("m6", vec![value(&s2, "hr", 60_000, 120.0)], &s2),
            ],
            IcuAlertChanges {
                raise: vec![alert(&s1, "spo2.low", 2), alert(&s2, "spo2.low", 2)],
                clear: vec![],
            },
            audit("icu.ingest"),
        )
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            IcuIngested::Duplicate,
            IcuIngested::Stored,
            IcuIngested::Stored
        ]
    );
    let mut latest = icu
        .icu_latest(&[s1.id.clone(), s2.id.clone()])
        .await
        .unwrap();
    latest.sort_by(|a, b| {
        (a.stay_id.as_str(), a.item.as_str()).cmp(&(b.stay_id.as_str(), b.item.as_str()))
    });
    let brief: Vec<(&str, &str, i64, f64)> = latest
        .iter()
        .map(|v| (v.stay_id.as_str(), v.item.as_str(), v.at - t0, v.value))
        .collect();
    assert_eq!(
        brief,
        [
            (s1.id.as_str(), "hr", 120_000, 90.0),
            (s1.id.as_str(), "spo2", 60_000, 97.0),
            (s2.id.as_str(), "hr", 60_000, 120.0)
        ]
    );
    let series = icu
        .icu_values(&s1.id, &["hr".into()], t0, t0 + 3_600_000)
        .await
        .unwrap();
    assert_eq!(
        series.iter().map(|v| v.value).collect::<Vec<_>>(),
        [70.0, 80.0, 90.0]
    );
    assert_eq!(
        icu.icu_values(&s1.id, &[], t0, t0 + 3_600_000)
            .await
            .unwrap()
            .len(),
        4
    );

    // Alerts: one open per stay and rule; acknowledged with a reason; cleared.
    let open: Vec<IcuAlert> = icu
        .icu_open_alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.facility_id == fa.id)
        .collect();
    assert_eq!(
        open.len(),
        2,
        "the second spo2.low of s1 is not a new alert"
    );
    let a1 = open
        .iter()
        .find(|a| a.stay_id.as_deref() == Some(s1.id.as_str()))
        .unwrap();
    assert_eq!(a1.raised_at, t0 + 1);
    icu.icu_ack_alert(
        &a1.id,
        "nurse",
        "probe re-attached",
        Some(t0 + 600_000),
        t0 + 5,
        audit("icu.ack"),
    )
    .await
    .unwrap();
    let acked = icu.icu_get_alert(&a1.id).await.unwrap().unwrap();
    assert_eq!(acked.ack_reason.as_deref(), Some("probe re-attached"));
    assert_eq!(acked.snoozed_until, Some(t0 + 600_000));
    let changed = icu
        .icu_apply_alerts(
            IcuAlertChanges {
                raise: vec![],
                clear: vec![(s1.id.clone(), "spo2.low".into(), t0 + 10)],
            },
            audit("icu.alerts"),
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    assert!(matches!(
        icu.icu_ack_alert(&a1.id, "nurse", "late", None, t0 + 11, audit("icu.ack"))
            .await,
        Err(StoreError::InvalidState(_))
    ));
    // After clearing, the rule may raise a new alert.
    icu.icu_apply_alerts(
        IcuAlertChanges {
            raise: vec![alert(&s1, "spo2.low", 20)],
            clear: vec![],
        },
        audit("icu.alerts"),
    )
    .await
    .unwrap();
    let log = icu.icu_alert_log(t0, 100).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|a| a.stay_id.as_deref() == Some(s1.id.as_str()))
            .count(),
        2
    );

    // Quarantine: listed until resolved, resolved once.
    let waiting = icu.icu_quarantine(true, 1000).await.unwrap();
    assert!(waiting
        .iter()
        .any(|q| q.id == quarantined.id && q.reason.contains("BED-999")));
    icu.icu_resolve_quarantine(
        &quarantined.id,
        "centre",
        "monitor test, discarded",
        t0 + 5,
        audit("icu.q"),
    )
    .await
    .unwrap();
    assert!(!icu
        .icu_quarantine(true, 1000)
        .await
        .unwrap()
        .iter()
        .any(|q| q.id == quarantined.id));
    assert!(matches!(
        icu.icu_resolve_quarantine(&quarantined.id, "centre", "again", t0 + 6, audit("icu.q"))
            .await,
        Err(StoreError::InvalidState(_))
    ));

    // Manual entries replace the value at their time.
    icu.icu_record_values(
        vec![IcuValue {
            source: "manual".into(),
            ..value(&s1, "gcs", 60_000, 14.0)
        }],
        IcuAlertChanges::default(),
        audit("icu.values"),
    )
    .await
    .unwrap();
    icu.icu_record_values(
        vec![IcuValue {
            source: "manual".into(),
            ..value(&s1, "gcs", 60_000, 13.0)
        }],
        IcuAlertChanges::default(),
        audit("icu.values"),
    )
    .await
    .unwrap();
    let gcs = icu
        .icu_values(&s1.id, &["gcs".into()], t0, t0 + 3_600_000)
        .await
        .unwrap();
    assert_eq!(
        gcs.iter()
            .map(|v| (v.value, v.source.as_str()))
            .collect::<Vec<_>>(),
        [(13.0, "manual")]
    );

    // Rounds and calls.
    icu.icu_add_round(
        IcuRound {
            id: ids::new_id(),
            stay_id: s1.id.clone(),
            day: "2030-06-01".into(),
            role: "intensivist".into(),
            by_user: "dr".into(),
            at: t0 + 100,
            checklist: r#"{"head_up":true}"#.into(),
            note: "安定".into(),
        },
        audit("icu.round"),
    )
    .await
    .unwrap();
    assert_eq!(icu.icu_rounds(&s1.id).await.unwrap()[0].note, "安定");
    let call_id = ids::new_id();
    icu.icu_open_call(
        IcuCall {
            id: call_id.clone(),
            stay_id: s1.id.clone(),
            direction: "call".into(),
            reason: "SpO2 低下".into(),
            advice: String::new(),
            outcome: String::new(),
            opened_by: "dr".into(),
            opened_at: t0 + 200,
            closed_by: None,
            closed_at: None,
        },
        audit("icu.call"),
    )
    .await
    .unwrap();
    icu.icu_close_call(
        &call_id,
        "FiO2 0.4",
        "改善",
        "dr",
        t0 + 300,
        audit("icu.call"),
    )
    .await
    .unwrap();
    assert!(matches!(
        icu.icu_close_call(&call_id, "x", "y", "dr", t0 + 400, audit("icu.call"))
            .await,
        Err(StoreError::InvalidState(_))
    ));
    let calls = icu
        .icu_calls(std::slice::from_ref(&s1.id), 10)
        .await
        .unwrap();
    assert_eq!(
        (calls[0].outcome.as_str(), calls[0].closed_at),
        ("改善", Some(t0 + 300))
    );

    // Discharge: once; the bed is free again and its open alerts clear.
    icu.icu_discharge(
        &s1.id,
        t0 + 7_200_000,
        "clerk",
        "一般病棟へ",
        audit("icu.discharge"),
    )
    .await
    .unwrap();
    assert!(matches!(
        icu.icu_discharge(
            &s1.id,
            t0 + 7_200_001,
            "clerk",
            "again",
            audit("icu.discharge")
        )
        .await,
        Err(StoreError::InvalidState(_))
    ));
    assert!(!icu
        .icu_open_alerts()
        .await
        .unwrap()
        .iter()
        .any(|a| a.stay_id.as_deref() == Some(s1.id.as_str())));
    icu.icu_admit(stay("s3", &bed(1).id, &rb, false), audit("icu.admit"))
        .await
        .unwrap();
    let history = icu.icu_stays_of_bed(&bed(1).id, 10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].discharge_summary.as_deref(), Some("一般病棟へ"));

    // Retention: raw values before the cut become hourly summaries.
    let done = icu.icu_compact(t0 + 3_600_000, t0 - 1).await.unwrap();
    assert!(done.values_deleted >= 5, "{done:?}");
    let hourly = icu.icu_hourly(&s1.id, t0, t0 + 3_600_000).await.unwrap();
    let hr = hourly.iter().find(|h| h.item == "hr").unwrap();
    assert_eq!((hr.n, hr.min, hr.max, hr.mean), (3, 70.0, 90.0, 80.0));
    assert!(icu
        .icu_values(&s1.id, &[], t0, t0 + 3_600_000)
        .await
        .unwrap()
        .is_empty());

    // Test data goes with the reset; real stays stay.
    assert!(icu.icu_erase_test_stays(audit("icu.reset")).await.unwrap() >= 1);
    assert!(icu.icu_stay(&s2.id).await.unwrap().is_none());
    assert!(icu.icu_stay(&s1.id).await.unwrap().is_some());
    assert!(icu
        .icu_latest(std::slice::from_ref(&s2.id))
        .await
        .unwrap()
        .is_empty());
}

/// The inbox: notifications stored with the FHIR writes that cause them (and not at all
/// when the writes fail), newest first, unread counts per user, marking read by id, by
/// source and all at once (never another user's), and the e-mail preference (audited).
pub async fn notifications(store: &dyn Store) {
    use crate::notifications::{kind, Notification, ReadSelector};
    use fhir::*;
    use fhir_checks::*;
    let n = store.notifications();
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let t0 = ms(2031, 1, 1, 0, 0);
    let u1 = format!("user-{tag}-1");
    let u2 = format!("user-{tag}-2");
    let note = |id: &str, user: &str, k: &str, source: &str, at: i64| Notification {
        id: format!("{tag}-{id}"),
        user_id: user.to_string(),
        kind: k.to_string(),
        person_id: Some(format!("person-{tag}")),
        actor_user_id: Some("actor".into()),
        actor_facility_id: None,
        source_id: Some(format!("{tag}-{source}")),
        link: format!("/patients/person-{tag}/timeline#post-{tag}-{source}"),
        created_at: at,
        read_at: None,
    };
    let post = |id: &str, at: i64| {
        write(
            FhirWriteKind::Create,
            "Communication",
            &format!("{tag}-{id}"),
            1,
            at,
            None,
            None,
            "care",
            tag,
            vec![],
        )
    };
    let before = store.audit_head().await.unwrap().map(|h| h.0).unwrap_or(0);
    n.fhir_write_notifying(
        vec![post("p1", t0)],
        vec![audit("test.notify")],
        vec![
            note("n1", &u1, kind::MENTION, "p1", t0),
            note("n2", &u2, kind::MENTION, "p1", t0),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        store.audit_head().await.unwrap().unwrap().0,
        before + 1,
        "the post's audit record, none for its notifications"
    );
    // A failing batch (the same id again) leaves no notification behind.
    let failed = n
        .fhir_write_notifying(
            vec![post("p1", t0 + 1)],
            vec![audit("test.notify")],
            vec![note("n3", &u1, kind::REPLY, "p1", t0 + 1)],
        )
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    n.fhir_write_notifying(
        vec![post("p2", t0 + 2)],
        vec![audit("test.notify")],
        vec![
            note("n4", &u1, kind::URGENT, "p2", t0 + 2),
            note("n5", &u1, kind::REPLY, "p2", t0 + 3),
        ],
    )
    .await
    .unwrap();
    n.add_notifications(vec![note("n6", &u2, kind::BREAK_GLASS, "x", t0 + 4)])
        .await
        .unwrap();
    let inbox = n.notifications_of(&u1, false, 10, 0).await.unwrap();
    let ids: Vec<&str> = inbox.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            format!("{tag}-n5"),
            format!("{tag}-n4"),
            format!("{tag}-n1")
        ]
    );
    assert_eq!(inbox[2], note("n1", &u1, kind::MENTION, "p1", t0));
    assert_eq!(
        n.notification(&u1, &format!("{tag}-n1")).await.unwrap(),
        Some(note("n1", &u1, kind::MENTION, "p1", t0))
    );
    assert_eq!(
        n.notification(&u2, &format!("{tag}-n1")).await.unwrap(),
        None
    );
    assert_eq!(
        n.notifications_of(&u1, false, 1, 1).await.unwrap()[0].id,
        format!("{tag}-n4")
    );
    let counts = n
        .unread_notification_counts(&[u1.clone(), u2.clone(), "nobody".into()])
        .await
        .unwrap();
    assert_eq!(counts, vec![(u1.clone(), 3), (u2.clone(), 2)]);
    // By id: another user's id is not touched.
    assert_eq!(
        n.mark_notifications_read(
            &u1,
            ReadSelector::Ids(vec![format!("{tag}-n1"), format!("{tag}-n2")]),
            t0 + 10
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(
        n.unread_notification_counts(&[u1.clone(), u2.clone()])
            .await
            .unwrap(),
        vec![(u1.clone(), 2), (u2.clone(), 2)]
    );
    // By source, then all; a read one keeps its first read time.
    assert_eq!(
        n.mark_notifications_read(
            &u1,
            ReadSelector::Sources(vec![format!("{tag}-p2")]),
            t0 + 11
        )
        .await
        .unwrap(),
        2
    );
    assert_eq!(
        n.mark_notifications_read(&u1, ReadSelector::All, t0 + 12)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        n.mark_notifications_read(&u2, ReadSelector::All, t0 + 13)
            .await
            .unwrap(),
        2
    );
    assert!(n
        .unread_notification_counts(&[u1.clone(), u2.clone()])
        .await
        .unwrap()
        .is_empty());
    let read = n.notifications_of(&u1, false, 10, 0).await.unwrap();
    assert_eq!(
        read.iter()
            .find(|x| x.id == format!("{tag}-n1"))
            .unwrap()
            .read_at,
        Some(t0 + 10)
    );
    assert!(n
        .notifications_of(&u1, true, 10, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        n.mark_notifications_read(&u1, ReadSelector::Ids(vec![]), t0)
            .await
            .unwrap(),
        0
    );
    // E-mail preference: off by default, audited when changed.
    assert!(!n.notification_email(&u1).await.unwrap());
    let head = store.audit_head().await.unwrap().unwrap().0;
    n.set_notification_email(&u1, true, t0, audit("account.notifications"))
        .await
        .unwrap();
    n.set_notification_email(&u2, true, t0, audit("account.notifications"))
        .await
        .unwrap();
    n.set_notification_email(&u2, false, t0 + 1, audit("account.notifications"))
        .await
        .unwrap();
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 3);
    assert!(n.notification_email(&u1).await.unwrap());
    assert!(!n.notification_email(&u2).await.unwrap());
    assert_eq!(
        n.notification_email_users(&[u1.clone(), u2.clone()])
            .await
            .unwrap(),
        vec![u1.clone()]
    );
}

/// Notices: audience by scope, scheduled / expired / withdrawn ones, unread first, read
/// marks kept at their first time without an audit record, reach counted over the current
/// audience, edits and withdrawal audited and refused once withdrawn.
pub async fn notices(store: &dyn Store) {
    use crate::notices::*;
    use fhir_checks::ms;
    let n = store.notices();
    let t0 = ms(2032, 4, 1, 0, 0);
    // An active facility with its administrator and one more member.
    let f = sample_facility(
        "周知テスト医院",
        "シュウチテストイイン",
        FacilityType::Clinic,
        "",
    );
    store
        .create_facility(f.clone(), audit("facility.apply"))
        .await
        .unwrap();
    let admin_login = format!("notice-admin-{}", &ids::new_id()[..8]);
    let (_, admin) = store
        .approve_facility(
            &f.id,
            sample_user(
                &admin_login,
                vec![(f.id.clone(), MemberRole::FacilityAdmin)],
            ),
            t0,
            audit("facility.approve"),
        )
        .await
        .unwrap();
    let member = store
        .create_user(
            sample_user(
                &format!("notice-nurse-{}", &ids::new_id()[..8]),
                vec![(f.id.clone(), MemberRole::Member)],
            ),
            audit("user.create"),
        )
        .await
        .unwrap();
    let outsider = format!("outsider-{}", ids::new_id());
    let notice = |id: &str,
                  scope_: &str,
                  facility: Option<&str>,
                  imp: &str,
                  at: i64,
                  expires: Option<i64>| Notice {
        id: id.to_string(),
        scope: scope_.to_string(),
        facility_id: facility.map(str::to_string),
        author_user_id: admin.id.clone(),
        author_facility_id: Some(f.id.clone()),
        title: format!("タイトル {id}"),
        body: "一行目\n二行目".into(),
        importance: imp.to_string(),
        published_at: at,
        expires_at: expires,
        created_at: at,
        edited_at: None,
        withdrawn_at: None,
        withdrawn_by: None,
    };
    let tag = ids::new_id();
    let id = |s: &str| format!("{tag}-{s}");
    let before = store.audit_head().await.unwrap().map(|h| h.0).unwrap_or(0);
    let fac_notice = notice(
        &id("fac"),
        scope::FACILITY,
        Some(&f.id),
        importance::IMPORTANT,
        t0 + 1_000,
        None,
    );
    n.publish_notice(fac_notice.clone(), audit("notice.publish"))
        .await
        .unwrap();
    n.publish_notice(
        notice(
            &id("scheduled"),
            scope::FACILITY,
            Some(&f.id),
            importance::NORMAL,
            t0 + 50_000,
            None,
        ),
        audit("notice.publish"),
    )
    .await
    .unwrap();
    n.publish_notice(
        notice(
            &id("expired"),
            scope::FACILITY,
            Some(&f.id),
            importance::NORMAL,
            t0 + 500,
            Some(t0 + 5_000),
        ),
        audit("notice.publish"),
    )
    .await
    .unwrap();
    n.publish_notice(
        notice(
            &id("other"),
            scope::FACILITY,
            Some("another-facility"),
            importance::NORMAL,
            t0 + 2_000,
            None,
        ),
        audit("notice.publish"),
    )
    .await
    .unwrap();
    assert_eq!(
        store.audit_head().await.unwrap().unwrap().0,
        before + 4,
        "one audit record per notice"
    );
    assert_eq!(n.notice(&id("fac")).await.unwrap().unwrap(), fac_notice);

    let now = t0 + 10_000;
    let member_view = NoticeAudience {
        user_id: member.id.clone(),
        facility_ids: vec![f.id.clone()],
        now,
    };
    let outsider_view = NoticeAudience {
        user_id: outsider.clone(),
        facility_ids: vec!["elsewhere".into()],
        now,
    };
    let all = NoticeQuery {
        limit: 1000,
        ..Default::default()
    };
    let mine = |list: &[NoticeView]| -> Vec<String> {
        list.iter()
            .map(|v| v.notice.id.clone())
            .filter(|i| i.starts_with(&tag))
            .collect()
    };
    let list = n.notices_for(&member_view, &all).await.unwrap();
    assert_eq!(
        mine(&list),
        vec![id("fac")],
        "scheduled, expired and other facilities' notices are left out"
    );
    let with_expired = n
        .notices_for(
            &member_view,
            &NoticeQuery {
                include_expired: true,
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(mine(&with_expired), vec![id("fac"), id("expired")]);
    assert!(mine(&n.notices_for(&outsider_view, &all).await.unwrap()).is_empty());
    let (unread, important) = n.unread_notice_counts(&member_view).await.unwrap();
    assert!(unread >= 1 && important >= 1);

    // Reading: bookkeeping, no audit record, first time kept.
    let head = store.audit_head().await.unwrap().unwrap().0;
    assert!(n
        .mark_notice_read(&id("fac"), &member.id, now)
        .await
        .unwrap());
    assert!(!n
        .mark_notice_read(&id("fac"), &member.id, now + 99)
        .await
        .unwrap());
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head);
    let (unread_after, important_after) = n.unread_notice_counts(&member_view).await.unwrap();
    assert_eq!((unread_after, important_after), (unread - 1, important - 1));
    let list = n.notices_for(&member_view, &all).await.unwrap();
    let read = list.iter().find(|v| v.notice.id == id("fac")).unwrap();
    assert_eq!(read.read_at, Some(now));
    assert!(mine(
        &n.notices_for(
            &member_view,
            &NoticeQuery {
                unread_only: true,
                ..all.clone()
            }
        )
        .await
        .unwrap()
    )
    .is_empty());
    assert_eq!(
        n.notice_readers(&id("fac")).await.unwrap(),
        vec![NoticeRead {
            user_id: member.id.clone(),
            read_at: now
        }]
    );
    // An outsider's read mark does not count: the reach is over the audience only.
    n.mark_notice_read(&id("fac"), &outsider, now)
        .await
        .unwrap();
    assert_eq!(
        n.notice_reach(&id("fac")).await.unwrap(),
        NoticeReach {
            audience: 2,
            read: 1
        }
    );

    // Unread first, then newest first.
    n.publish_notice(
        notice(
            &id("later"),
            scope::FACILITY,
            Some(&f.id),
            importance::NORMAL,
            t0 + 3_000,
            None,
        ),
        audit("notice.publish"),
    )
    .await
    .unwrap();
    n.publish_notice(
        notice(
            &id("net"),
            scope::NETWORK,
            None,
            importance::NORMAL,
            t0 + 4_000,
            None,
        ),
        audit("notice.publish"),
    )
    .await
    .unwrap();
    let list = n.notices_for(&member_view, &all).await.unwrap();
    assert_eq!(mine(&list), vec![id("net"), id("later"), id("fac")]);
    assert_eq!(
        mine(&n.notices_for(&outsider_view, &all).await.unwrap()),
        vec![id("net")]
    );
    let reach = n.notice_reach(&id("net")).await.unwrap();
    assert!(reach.audience >= 2 && reach.read == 0, "{reach:?}");

    // The publisher's list holds scheduled ones too.
    let published: Vec<String> = n
        .notices_published(Some(&f.id), 100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(
        published,
        vec![id("scheduled"), id("later"), id("fac"), id("expired")]
    );
    assert!(n
        .notices_published(None, 1000, 0)
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == id("net")));
    assert!(!n
        .notices_published(None, 1000, 0)
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == id("fac")));

    // Edit and withdraw.
    let head = store.audit_head().await.unwrap().unwrap().0;
    let edited = n
        .edit_notice(
            &id("fac"),
            NoticeEdit {
                title: "改題".into(),
                body: "本文".into(),
                importance: importance::NORMAL.into(),
                expires_at: Some(t0 + 90_000),
            },
            now + 1,
            audit("notice.edit"),
        )
        .await
        .unwrap();
    assert_eq!(
        (edited.title.as_str(), edited.edited_at, edited.expires_at),
        ("改題", Some(now + 1), Some(t0 + 90_000))
    );
    let withdrawn = n
        .withdraw_notice(&id("fac"), &admin.id, now + 2, audit("notice.withdraw"))
        .await
        .unwrap();
    assert_eq!(withdrawn.withdrawn_by.as_deref(), Some(admin.id.as_str()));
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 2);
    let again = n
        .withdraw_notice(&id("fac"), &admin.id, now + 3, audit("notice.withdraw"))
        .await;
    assert!(
        matches!(again, Err(StoreError::InvalidState(_))),
        "{again:?}"
    );
    let edit_withdrawn = n
        .edit_notice(
            &id("fac"),
            NoticeEdit {
                title: "x".into(),
                body: "x".into(),
                importance: importance::NORMAL.into(),
                expires_at: None,
            },
            now + 4,
            audit("notice.edit"),
        )
        .await;
    assert!(
        matches!(edit_withdrawn, Err(StoreError::InvalidState(_))),
        "{edit_withdrawn:?}"
    );
    let missing = n
        .withdraw_notice(&id("nothing"), &admin.id, now, audit("notice.withdraw"))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(
        store.audit_head().await.unwrap().unwrap().0,
        head + 2,
        "refusals leave no record"
    );
    assert!(!mine(&n.notices_for(&member_view, &all).await.unwrap()).contains(&id("fac")));
}

/// The board: threads with their opening post, replies moving the last activity, edits by
/// the author only with the earlier text kept, withdrawal, moderation, closed threads.
pub async fn board(store: &dyn Store) {
    use crate::notices::*;
    use fhir_checks::ms;
    let n = store.notices();
    let t0 = ms(2032, 5, 1, 0, 0);
    let tag = ids::new_id();
    let id = |s: &str| format!("{tag}-{s}");
    let topic = BoardTopic {
        id: id("topic"),
        title: "入退院支援".into(),
        description: "入退院時の連携について".into(),
        sort_order: 10,
        created_by: "secretariat".into(),
        created_at: t0,
        edited_at: None,
        archived_at: None,
        archived_by: None,
    };
    let before = store.audit_head().await.unwrap().map(|h| h.0).unwrap_or(0);
    n.create_board_topic(topic.clone(), audit("board.topic"))
        .await
        .unwrap();
    assert_eq!(n.board_topic(&topic.id).await.unwrap().unwrap(), topic);
    let post = |pid: &str, thread: &str, opening: bool, author: &str, at: i64| BoardPost {
        id: id(pid),
        thread_id: id(thread),
        opening,
        author_user_id: author.to_string(),
        author_facility_id: None,
        body: format!("本文 {pid}"),
        created_at: at,
        edited_at: None,
        withdrawn_at: None,
        hidden_at: None,
        hidden_by: None,
        hidden_reason: None,
    };
    let thread = |tid: &str, author: &str, at: i64| BoardThread {
        id: id(tid),
        topic_id: topic.id.clone(),
        title: format!("スレッド {tid}"),
        author_user_id: author.to_string(),
        author_facility_id: None,
        created_at: at,
        last_activity_at: at,
    };
    n.open_board_thread(
        thread("t1", "alice", t0 + 1),
        post("p1", "t1", true, "alice", t0 + 1),
        audit("board.thread"),
    )
    .await
    .unwrap();
    n.open_board_thread(
        thread("t2", "bob", t0 + 2),
        post("p2", "t2", true, "bob", t0 + 2),
        audit("board.thread"),
    )
    .await
    .unwrap();
    let wrong = n
        .open_board_thread(
            thread("t3", "bob", t0 + 3),
            post("p3", "t2", true, "bob", t0 + 3),
            audit("board.thread"),
        )
        .await;
    assert!(
        matches!(wrong, Err(StoreError::InvalidState(_))),
        "{wrong:?}"
    );
    n.add_board_reply(
        post("r1", "t1", false, "bob", t0 + 10),
        audit("board.reply"),
    )
    .await
    .unwrap();
    n.add_board_reply(
        post("r2", "t1", false, "carol", t0 + 11),
        audit("board.reply"),
    )
    .await
    .unwrap();
    let missing = n
        .add_board_reply(
            post("r9", "nothing", false, "bob", t0 + 12),
            audit("board.reply"),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(
        store.audit_head().await.unwrap().unwrap().0,
        before + 5,
        "one record per change, none for refusals"
    );

    let threads = n.board_threads(&topic.id, false, 10, 0).await.unwrap();
    let listed: Vec<(String, i64, i64)> = threads
        .iter()
        .map(|t| (t.thread.id.clone(), t.replies, t.thread.last_activity_at))
        .collect();
    assert_eq!(listed, vec![(id("t1"), 2, t0 + 11), (id("t2"), 0, t0 + 2)]);
    assert_eq!(n.count_board_threads(&topic.id, false).await.unwrap(), 2);
    assert_eq!(
        n.board_threads(&topic.id, false, 1, 1).await.unwrap()[0]
            .thread
            .id,
        id("t2"),
        "paging"
    );
    let summary = n
        .board_topics()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.topic.id == topic.id)
        .unwrap();
    assert_eq!(
        (summary.threads, summary.last_activity_at),
        (2, Some(t0 + 11))
    );

    // Edits: the author only, the earlier text kept.
    let refused = n
        .edit_board_post(&id("r1"), "carol", "乗っ取り", t0 + 20, audit("board.edit"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidState(_))),
        "{refused:?}"
    );
    let edited = n
        .edit_board_post(&id("r1"), "bob", "訂正後", t0 + 21, audit("board.edit"))
        .await
        .unwrap();
    assert_eq!(
        (edited.body.as_str(), edited.edited_at),
        ("訂正後", Some(t0 + 21))
    );
    n.edit_board_post(&id("r1"), "bob", "再訂正", t0 + 22, audit("board.edit"))
        .await
        .unwrap();
    let versions = n.board_post_versions(&[id("r1"), id("r2")]).await.unwrap();
    let texts: Vec<(i64, &str, i64)> = versions
        .iter()
        .map(|v| (v.version, v.body.as_str(), v.written_at))
        .collect();
    assert_eq!(texts, vec![(1, "本文 r1", t0 + 10), (2, "訂正後", t0 + 21)]);

    // Withdrawal and moderation.
    n.withdraw_board_post(&id("r2"), "carol", t0 + 30, audit("board.withdraw"))
        .await
        .unwrap();
    let again = n
        .edit_board_post(&id("r2"), "carol", "x", t0 + 31, audit("board.edit"))
        .await;
    assert!(
        matches!(again, Err(StoreError::InvalidState(_))),
        "{again:?}"
    );
    let hidden = n
        .hide_board_post(
            &id("r1"),
            "moderator",
            "患者情報を含むため",
            t0 + 32,
            audit("board.hide"),
        )
        .await
        .unwrap();
    assert_eq!(
        (hidden.hidden_by.as_deref(), hidden.hidden_reason.as_deref()),
        (Some("moderator"), Some("患者情報を含むため"))
    );
    let twice = n
        .hide_board_post(&id("r1"), "moderator", "x", t0 + 33, audit("board.hide"))
        .await;
    assert!(
        matches!(twice, Err(StoreError::InvalidState(_))),
        "{twice:?}"
    );
    let posts = n.board_posts(&id("t1"), 10, 0).await.unwrap();
    let shown: Vec<(String, bool)> = posts.iter().map(|p| (p.id.clone(), p.is_shown())).collect();
    assert_eq!(
        shown,
        vec![(id("p1"), true), (id("r1"), false), (id("r2"), false)]
    );
    assert_eq!(n.count_board_posts(&id("t1")).await.unwrap(), 3);
    assert_eq!(
        n.board_threads(&topic.id, false, 10, 0).await.unwrap()[0].replies,
        0
    );

    // A hidden opening post closes the thread: listed to moderators only, no replies.
    n.hide_board_post(&id("p2"), "moderator", "重複", t0 + 40, audit("board.hide"))
        .await
        .unwrap();
    assert_eq!(n.count_board_threads(&topic.id, false).await.unwrap(), 1);
    let with_closed = n.board_threads(&topic.id, true, 10, 0).await.unwrap();
    assert_eq!(
        with_closed.iter().map(|t| t.closed).collect::<Vec<_>>(),
        vec![false, true]
    );
    let closed = n
        .add_board_reply(
            post("r3", "t2", false, "alice", t0 + 41),
            audit("board.reply"),
        )
        .await;
    assert!(
        matches!(closed, Err(StoreError::InvalidState(_))),
        "{closed:?}"
    );
    assert!(
        n.board_post(&id("r3")).await.unwrap().is_none(),
        "nothing stored half-way"
    );

    // The secretariat edits the topic and archives it: still listed and readable, but no
    // new thread or reply until it is reopened; each change audited.
    let edited = n
        .edit_board_topic(
            &topic.id,
            "入退院支援（2032年度）",
            "入退院時の連携と様式",
            t0 + 50,
            audit("board.topic_edit"),
        )
        .await
        .unwrap();
    assert_eq!(
        (edited.title.as_str(), edited.edited_at),
        ("入退院支援（2032年度）", Some(t0 + 50))
    );
    let missing = n
        .edit_board_topic(&id("nope"), "x", "", t0 + 50, audit("board.topic_edit"))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let archived = n
        .set_board_topic_archived(
            &topic.id,
            true,
            "moderator",
            t0 + 51,
            audit("board.topic_archive"),
        )
        .await
        .unwrap();
    assert_eq!(archived.archived_at, Some(t0 + 51));
    assert_eq!(archived.archived_by.as_deref(), Some("moderator"));
    assert!(n
        .board_topics()
        .await
        .unwrap()
        .iter()
        .any(|t| t.topic.id == topic.id && t.topic.is_archived()));
    let again = n
        .set_board_topic_archived(
            &topic.id,
            true,
            "moderator",
            t0 + 52,
            audit("board.topic_archive"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::InvalidState(_))),
        "{again:?}"
    );
    let reply = n
        .add_board_reply(
            post("r4", "t1", false, "bob", t0 + 53),
            audit("board.reply"),
        )
        .await;
    assert!(
        matches!(reply, Err(StoreError::InvalidState(_))),
        "{reply:?}"
    );
    assert!(n.board_post(&id("r4")).await.unwrap().is_none());
    let thread = |tid: &str, at: i64| BoardThread {
        id: id(tid),
        topic_id: topic.id.clone(),
        title: "アーカイブ後のスレッド".into(),
        author_user_id: "alice".into(),
        author_facility_id: None,
        created_at: at,
        last_activity_at: at,
    };
    let opened = n
        .open_board_thread(
            thread("t3", t0 + 54),
            post("p3", "t3", true, "alice", t0 + 54),
            audit("board.open"),
        )
        .await;
    assert!(
        matches!(opened, Err(StoreError::InvalidState(_))),
        "{opened:?}"
    );
    assert!(
        n.board_thread(&id("t3")).await.unwrap().is_none(),
        "nothing stored half-way"
    );
    // Reopened: threads and replies again.
    let reopened = n
        .set_board_topic_archived(
            &topic.id,
            false,
            "moderator",
            t0 + 55,
            audit("board.topic_reopen"),
        )
        .await
        .unwrap();
    assert_eq!((reopened.archived_at, reopened.archived_by), (None, None));
    n.add_board_reply(
        post("r4", "t1", false, "bob", t0 + 56),
        audit("board.reply"),
    )
    .await
    .unwrap();
    n.open_board_thread(
        thread("t3", t0 + 57),
        post("p3", "t3", true, "alice", t0 + 57),
        audit("board.open"),
    )
    .await
    .unwrap();
    let unknown = n
        .set_board_topic_archived(
            &id("nope"),
            true,
            "moderator",
            t0 + 58,
            audit("board.topic_archive"),
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

/// Home-care group cover: membership life cycle, the rota (overlap refused, started shifts
/// kept), covered patients limited to the member's care team, and the cover shift in
/// `access_facts` only while it runs, only for covered patients.
pub async fn cover_groups(store: &dyn Store) {
    use crate::cover::{member_status, CoverGroup, CoverShift, CoveredChoice};
    use crate::notifications::{kind, Notification};
    use renkei_domain::patient::ConsentScope;
    let t0: renkei_domain::Millis = 1_760_000_000_000;
    let hour = 3_600_000;
    let mut fs = Vec::new();
    for (name, t) in [
        ("当番テスト診療所", FacilityType::HomeVisitClinic),
        ("当番テスト訪問看護", FacilityType::HomeNursingStation),
        ("当番テスト医院", FacilityType::Clinic),
    ] {
        fs.push(
            store
                .create_facility(
                    sample_facility(name, "トウバンテスト", t, ""),
                    audit("facility.apply"),
                )
                .await
                .unwrap(),
        );
    }
    let [fa, fb, fc] = <[Facility; 3]>::try_from(fs).unwrap();
    let cover = store.cover();
    let inbox = store.notifications();
    // One notification for a user (ids made unique per run: the store is shared).
    let note = |user: &str, k: &str, at: i64| Notification {
        id: ids::new_id(),
        user_id: format!("{}-{user}", fa.id),
        kind: k.to_string(),
        person_id: None,
        actor_user_id: Some("tester".into()),
        actor_facility_id: Some(fa.id.clone()),
        source_id: None,
        link: "/cover-groups".into(),
        created_at: at,
        read_at: None,
    };
    let kinds_of = |user: &str| {
        let user = format!("{}-{user}", fa.id);
        async move {
            inbox
                .notifications_of(&user, false, 100, 0)
                .await
                .unwrap()
                .into_iter()
                .map(|n| n.kind)
                .collect::<Vec<_>>()
        }
    };
    let group = CoverGroup {
        id: ids::new_id(),
        name: "末広町 在宅当番".into(),
        description: "夜間・休日の当番".into(),
        owner_facility_id: fa.id.clone(),
        created_by: "tester".into(),
        created_at: t0,
    };
    cover
        .create_cover_group(group.clone(), audit("test.cover.create"))
        .await
        .unwrap();
    assert_eq!(
        cover.cover_group(&group.id).await.unwrap(),
        Some(group.clone())
    );
    let mine = cover.cover_groups_of(&fa.id).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1.status, member_status::ACTIVE);

    // Invitation (its notification stored with it), a second invitation refused (and its
    // notification not stored), acceptance; a decline.
    cover
        .invite_to_cover_group(
            &group.id,
            &fb.id,
            "tester",
            t0 + 1,
            audit("test.cover.invite"),
            vec![note("b-admin", kind::COVER_INVITATION, t0 + 1)],
        )
        .await
        .unwrap();
    let e = cover
        .invite_to_cover_group(
            &group.id,
            &fb.id,
            "tester",
            t0 + 2,
            audit("test.cover.invite"),
            vec![note("b-admin", kind::COVER_INVITATION, t0 + 2)],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(kinds_of("b-admin").await, vec![kind::COVER_INVITATION]);
    cover
        .invite_to_cover_group(
            &group.id,
            &fc.id,
            "tester",
            t0 + 2,
            audit("test.cover.invite"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        cover.cover_groups_of(&fb.id).await.unwrap()[0].1.status,
        member_status::INVITED
    );
    cover
        .answer_cover_invitation(&group.id, &fb.id, true, t0 + 3, audit("test.cover.accept"))
        .await
        .unwrap();
    cover
        .answer_cover_invitation(
            &group.id,
            &fc.id,
            false,
            t0 + 3,
            audit("test.cover.decline"),
        )
        .await
        .unwrap();
    let e = cover
        .answer_cover_invitation(&group.id, &fc.id, true, t0 + 4, audit("test.cover.accept"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    let members = cover.cover_members(&group.id).await.unwrap();
    let statuses: Vec<(&str, &str)> = members
        .iter()
        .map(|m| (m.facility_id.as_str(), m.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (fa.id.as_str(), "active"),
            (fb.id.as_str(), "active"),
            (fc.id.as_str(), "declined")
        ]
    );

    // A patient of the clinic's care team, with a comprehensive consent; another one not
    // put under cover.
    let tag = kana_tag();
    let mut persons = Vec::new();
    for local in ["C-1", "C-2"] {
        let p = ids::new_id();
        store
            .register_patient(
                patient_record(
                    &fa,
                    local,
                    "当番",
                    "花子",
                    &format!("トウ{tag}"),
                    "ハナコ",
                    "1940-01-01",
                    vec![],
                    t0,
                ),
                PersonLink::NewPerson(p.clone()),
                vec![],
                audit("test.patient.register"),
            )
            .await
            .unwrap();
        store
            .record_consent(
                sample_consent(&p, ConsentScope::Comprehensive, vec![], &fa.id, t0),
                audit("test.consent.record"),
            )
            .await
            .unwrap();
        persons.push(p);
    }
    let [covered, uncovered] = <[String; 2]>::try_from(persons).unwrap();
    // The station cannot put someone else's patient under cover; nothing is stored.
    let e = cover
        .set_covered_choice(
            &group.id,
            &fb.id,
            CoveredChoice {
                covers_all: false,
                person_ids: vec![covered.clone()],
            },
            t0 + 5,
            audit("test.cover.patients"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert_eq!(
        cover.covered_choice(&group.id, &fb.id).await.unwrap(),
        CoveredChoice::default()
    );
    cover
        .set_covered_choice(
            &group.id,
            &fa.id,
            CoveredChoice {
                covers_all: false,
                person_ids: vec![covered.clone(), covered.clone()],
            },
            t0 + 5,
            audit("test.cover.patients"),
        )
        .await
        .unwrap();
    assert_eq!(
        cover.covered_choice(&group.id, &fa.id).await.unwrap(),
        CoveredChoice {
            covers_all: false,
            person_ids: vec![covered.clone()]
        }
    );
    assert_eq!(
        cover.covered_persons(&group.id).await.unwrap(),
        vec![covered.clone()]
    );

    // The rota: the station covers 10:00–18:00; an overlapping shift is refused, an
    // adjacent one is fine; a non-member cannot be on the rota.
    let shift = |id: &str, f: &Facility, from: i64, to: i64| CoverShift {
        id: id.to_string(),
        group_id: group.id.clone(),
        facility_id: f.id.clone(),
        on_call: "看護師 当番（090-0000-0000）".into(),
        starts_at: t0 + from * hour,
        ends_at: t0 + to * hour,
        created_by: "tester".into(),
        created_at: t0,
    };
    let s1 = shift(&ids::new_id(), &fb, 10, 18);
    cover
        .add_cover_shift(
            s1.clone(),
            audit("test.cover.shift"),
            vec![note("b-nurse", kind::COVER_SHIFT, t0)],
        )
        .await
        .unwrap();
    let e = cover
        .add_cover_shift(
            shift(&ids::new_id(), &fa, 17, 20),
            audit("test.cover.shift"),
            vec![note("a-doctor", kind::COVER_SHIFT, t0)],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(kinds_of("b-nurse").await, vec![kind::COVER_SHIFT]);
    assert!(
        kinds_of("a-doctor").await.is_empty(),
        "a refused shift notifies nobody"
    );
    let s2 = shift(&ids::new_id(), &fa, 18, 30);
    cover
        .add_cover_shift(s2.clone(), audit("test.cover.shift"), vec![])
        .await
        .unwrap();
    let e = cover
        .add_cover_shift(
            shift(&ids::new_id(), &fc, 40, 50),
            audit("test.cover.shift"),
            vec![note("c-nurse", kind::COVER_SHIFT, t0)],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert!(kinds_of("c-nurse").await.is_empty());
    let e = cover
        .add_cover_shift(
            shift(&ids::new_id(), &fa, 60, 60),
            audit("test.cover.shift"),
            vec![],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert_eq!(
        cover
            .cover_shifts(&group.id, t0, t0 + 48 * hour)
            .await
            .unwrap(),
        vec![s1.clone(), s2.clone()]
    );
    assert_eq!(
        cover
            .cover_shifts(&group.id, t0 + 18 * hour, t0 + 19 * hour)
            .await
            .unwrap(),
        vec![s2.clone()]
    );

    // Access facts: during the shift, for the covered patient only.
    let during = t0 + 12 * hour;
    let facts = store
        .access_facts(&covered, Some(&fb.id), "u", during)
        .await
        .unwrap();
    let grant = facts.cover.expect("covering during the shift");
    assert_eq!(
        (
            grant.shift_id.as_str(),
            grant.group_id.as_str(),
            grant.ends_at
        ),
        (s1.id.as_str(), group.id.as_str(), s1.ends_at)
    );
    assert_eq!(facts.team_status, None);
    for (person, at) in [
        (&uncovered, during),
        (&covered, t0 + 9 * hour),
        (&covered, t0 + 18 * hour),
    ] {
        let facts = store
            .access_facts(person, Some(&fb.id), "u", at)
            .await
            .unwrap();
        assert_eq!(facts.cover, None, "{person} at {at}");
    }
    let current = cover.current_cover_shifts(&fb.id, during).await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0], (group.clone(), s1.clone()));
    assert!(cover
        .current_cover_shifts(&fa.id, during)
        .await
        .unwrap()
        .is_empty());
    // "All my team patients" covers the other one too.
    cover
        .set_covered_choice(
            &group.id,
            &fa.id,
            CoveredChoice {
                covers_all: true,
                person_ids: vec![covered.clone()],
            },
            t0 + 6,
            audit("test.cover.patients"),
        )
        .await
        .unwrap();
    let facts = store
        .access_facts(&uncovered, Some(&fb.id), "u", during)
        .await
        .unwrap();
    assert!(facts.cover.is_some());
    assert_eq!(cover.covered_persons(&group.id).await.unwrap().len(), 2);

    // A started shift cannot be deleted; a future one can.
    let e = cover
        .delete_cover_shift(&group.id, &s1.id, during, audit("test.cover.shift_delete"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    cover
        .delete_cover_shift(&group.id, &s2.id, during, audit("test.cover.shift_delete"))
        .await
        .unwrap();
    // Leaving ends the shift under way at once and the access with it; the others hear of
    // it in the same transaction.
    cover
        .end_cover_membership(
            &group.id,
            &fb.id,
            member_status::LEFT,
            during,
            audit("test.cover.leave"),
            vec![note("a-admin", kind::COVER_MEMBER_LEFT, during)],
        )
        .await
        .unwrap();
    assert_eq!(kinds_of("a-admin").await, vec![kind::COVER_MEMBER_LEFT]);
    let facts = store
        .access_facts(&covered, Some(&fb.id), "u", during)
        .await
        .unwrap();
    assert_eq!(facts.cover, None);
    assert_eq!(
        cover
            .cover_shifts(&group.id, t0, t0 + 48 * hour)
            .await
            .unwrap()[0]
            .ends_at,
        during
    );
    let e = cover
        .end_cover_membership(
            &group.id,
            &fb.id,
            member_status::LEFT,
            during,
            audit("test.cover.leave"),
            vec![note("a-admin", kind::COVER_MEMBER_LEFT, during + 1)],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidState(_)), "{e:?}");
    assert_eq!(
        kinds_of("a-admin").await.len(),
        1,
        "nothing ended, nobody notified"
    );
    // Every change left its audit record.
    let audited = store
        .search_audit(&AuditQuery {
            action_prefix: Some("test.cover.".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audited.len() >= 11, "{}", audited.len());
}

/// Deliveries of documents: stored with the write that makes the document final (and not
/// at all when it fails), read by document and by recipient, a receipt confirmed once, only
/// by the addressed facility, with its audit record.
pub async fn document_deliveries(store: &dyn Store) {
    use crate::documents::DocumentDelivery;
    use fhir::*;
    use fhir_checks::*;
    let d = store.documents();
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let t0 = ms(2031, 2, 1, 0, 0);
    let hospital = format!("fac-{tag}-h");
    let other = format!("fac-{tag}-o");
    let delivery = |id: &str, doc: &str, to: &str, at: i64| DocumentDelivery {
        id: format!("{tag}-{id}"),
        document_id: format!("{tag}-{doc}"),
        person_id: format!("person-{tag}"),
        from_facility_id: format!("fac-{tag}-cm"),
        from_user_id: "cm".into(),
        to_facility_id: to.to_string(),
        sent_at: at,
        received_at: None,
        received_by: None,
    };
    let doc = |id: &str, at: i64| {
        write(
            FhirWriteKind::Create,
            "Composition",
            &format!("{tag}-{id}"),
            1,
            at,
            None,
            None,
            "documents",
            tag,
            vec![],
        )
    };
    let before = store.audit_head().await.unwrap().map(|h| h.0).unwrap_or(0);
    d.fhir_write_sending(
        vec![doc("c1", t0)],
        vec![audit("test.send")],
        vec![
            delivery("d1", "c1", &hospital, t0),
            delivery("d2", "c1", &other, t0),
        ],
    )
    .await
    .unwrap();
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, before + 1);
    // A failing write (the same id again) leaves no delivery behind.
    let failed = d
        .fhir_write_sending(
            vec![doc("c1", t0 + 1)],
            vec![audit("test.send")],
            vec![delivery("d3", "c1", &hospital, t0 + 1)],
        )
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert!(d.delivery(&format!("{tag}-d3")).await.unwrap().is_none());
    d.fhir_write_sending(
        vec![doc("c2", t0 + 2)],
        vec![audit("test.send")],
        vec![delivery("d4", "c2", &hospital, t0 + 2)],
    )
    .await
    .unwrap();
    let of_c1 = d.deliveries_of(&[format!("{tag}-c1")]).await.unwrap();
    assert_eq!(of_c1.len(), 2);
    let inbox = d.deliveries_to(&hospital, false, 10).await.unwrap();
    let ids: Vec<&str> = inbox.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, vec![format!("{tag}-d4"), format!("{tag}-d1")]);
    // Only the addressed facility confirms, once.
    let head = store.audit_head().await.unwrap().unwrap().0;
    assert!(!d
        .confirm_receipt(
            &format!("{tag}-d1"),
            &other,
            "u-other",
            t0 + 5,
            audit("test.receipt")
        )
        .await
        .unwrap());
    assert_eq!(
        store.audit_head().await.unwrap().unwrap().0,
        head,
        "no record of a refusal here"
    );
    assert!(d
        .confirm_receipt(
            &format!("{tag}-d1"),
            &hospital,
            "u-h",
            t0 + 6,
            audit("test.receipt")
        )
        .await
        .unwrap());
    assert!(!d
        .confirm_receipt(
            &format!("{tag}-d1"),
            &hospital,
            "u-h2",
            t0 + 7,
            audit("test.receipt")
        )
        .await
        .unwrap());
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 1);
    let confirmed = d.delivery(&format!("{tag}-d1")).await.unwrap().unwrap();
    assert_eq!(
        (confirmed.received_at, confirmed.received_by.as_deref()),
        (Some(t0 + 6), Some("u-h"))
    );
    let pending = d.deliveries_to(&hospital, true, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, format!("{tag}-d4"));
}

/// A FHIR write and an invitation to the care team in one transaction: both or neither
/// (the invitation's own audit record and the invited facility's notification included); an
/// existing member or open invitation is left as it is.
pub async fn writes_with_invitation(store: &dyn Store) {
    use crate::notifications::Notification;
    use fhir::*;
    use fhir_checks::*;
    use renkei_domain::patient::TeamStatus;
    let t0 = ms(2031, 3, 1, 0, 0);
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let mut facilities = Vec::new();
    for (name, kana) in [
        ("招待テスト診療所", "ショウタイテストシンリョウジョ"),
        ("招待テスト病院", "ショウタイテストビョウイン"),
        ("招待テスト第二病院", "ショウタイテストダイニビョウイン"),
    ] {
        facilities.push(
            store
                .create_facility(
                    sample_facility(name, kana, FacilityType::Hospital, ""),
                    audit("facility.apply"),
                )
                .await
                .unwrap(),
        );
    }
    let [clinic, hospital, second] = <[Facility; 3]>::try_from(facilities).unwrap();
    let doctor = store
        .create_user(
            sample_user(
                &format!("inv-{}", &tag[..8]),
                vec![(hospital.id.clone(), MemberRole::Member)],
            ),
            audit("user.create"),
        )
        .await
        .unwrap();
    let person = ids::new_id();
    let record = store
        .register_patient(
            patient_record(
                &clinic,
                &format!("INV-{tag}"),
                "招待",
                "花子",
                "ショウタイ",
                "ハナコ",
                "1940-01-02",
                vec![],
                t0,
            ),
            PersonLink::NewPerson(person.clone()),
            vec![],
            audit("test.patient.register"),
        )
        .await
        .unwrap();
    let request = |id: &str, at: i64| {
        write(
            FhirWriteKind::Create,
            "Communication",
            &format!("{tag}-{id}"),
            1,
            at,
            Some(&record.id),
            Some(&clinic.id),
            "communications",
            tag,
            vec![],
        )
    };
    let invitation = |facility: &str, at: i64| TeamInvitation {
        person_id: person.clone(),
        facility_id: facility.to_string(),
        by_facility: clinic.id.clone(),
        by_user: "tester".into(),
        note: "搬送依頼".into(),
        at,
        audit: audit("test.team.invite"),
    };
    let notice = |id: &str, at: i64| Notification {
        id: format!("{tag}-{id}"),
        user_id: doctor.id.clone(),
        kind: "transfer".into(),
        person_id: Some(person.clone()),
        actor_user_id: Some("tester".into()),
        actor_facility_id: Some(clinic.id.clone()),
        source_id: Some(format!("{tag}-{id}")),
        link: format!("/transfers/{tag}-{id}"),
        created_at: at,
        read_at: None,
    };
    let head = store.audit_head().await.unwrap().unwrap().0;
    let unread = |n: Vec<Notification>| {
        n.into_iter()
            .filter(|x| x.person_id.as_deref() == Some(person.as_str()))
            .count()
    };

    // Both stored: the write's audit record and the invitation's.
    let (rows, invited) = store
        .fhir_write_inviting(
            vec![request("r1", t0)],
            vec![audit("test.create")],
            vec![notice("r1", t0)],
            invitation(&hospital.id, t0),
        )
        .await
        .unwrap();
    assert!(invited);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].person_id.as_deref(), Some(person.as_str()));
    assert_eq!(
        store.team_status(&person, &hospital.id).await.unwrap(),
        Some(TeamStatus::Invited)
    );
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 2);
    let invite_audit = store
        .search_audit(&AuditQuery {
            action_prefix: Some("test.team.invite".into()),
            patient_id: Some(person.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(invite_audit.len(), 1, "the invitation names the person");
    let inbox = store
        .notifications()
        .notifications_of(&doctor.id, false, 50, 0)
        .await
        .unwrap();
    assert_eq!(unread(inbox), 2, "the request's and the invitation's");

    // Already invited: the write goes through, the invitation is left as it was.
    let (_, invited) = store
        .fhir_write_inviting(
            vec![request("r2", t0 + 1)],
            vec![audit("test.create")],
            vec![],
            invitation(&hospital.id, t0 + 1),
        )
        .await
        .unwrap();
    assert!(!invited);
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 3);

    // An invitation that cannot be stored (no such facility): nothing at all is stored —
    // not the resource, not the notification, not either audit record.
    let failed = store
        .fhir_write_inviting(
            vec![request("r3", t0 + 2)],
            vec![audit("test.create")],
            vec![notice("r3", t0 + 2)],
            invitation(&format!("no-such-facility-{tag}"), t0 + 2),
        )
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(store
        .fhir_read("Communication", &format!("{tag}-r3"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 3);
    let inbox = store
        .notifications()
        .notifications_of(&doctor.id, false, 50, 0)
        .await
        .unwrap();
    assert_eq!(unread(inbox), 2);

    // A write that fails (the same id again) leaves no invitation behind.
    let failed = store
        .fhir_write_inviting(
            vec![request("r1", t0 + 3)],
            vec![audit("test.create")],
            vec![],
            invitation(&second.id, t0 + 3),
        )
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert_eq!(store.team_status(&person, &second.id).await.unwrap(), None);
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, head + 3);
}

/// Writes and audit records that arrive together share a commit, yet each clinical write
/// succeeds or fails on its own: a stale version among concurrent writes is refused alone,
/// the others and every stand-alone audit record are stored, and the chain still verifies.
pub async fn group_commit(store: &dyn Store) {
    use fhir::*;
    use fhir_checks::*;
    let t0 = ms(2031, 5, 1, 0, 0);
    let (fa, _fb, ra, _rb, _rq) = fhir_fixture(store, t0).await;
    let tag_owned = ids::new_id();
    let tag = tag_owned.as_str();
    let act = format!("test.group.{}", &tag[..8]);
    let obs = |n: usize, kind: FhirWriteKind, v: i64| {
        write(
            kind,
            "Observation",
            &format!("{tag}-{n}"),
            v,
            t0 + v,
            Some(&ra.id),
            Some(&fa.id),
            "laboratory",
            tag,
            vec![token("code", "urn:c", &format!("c{n}"))],
        )
    };
    store
        .fhir_write(
            vec![obs(0, FhirWriteKind::Create, 1)],
            vec![audit(&format!("{act}.first"))],
        )
        .await
        .unwrap();
    let before = store.audit_head().await.unwrap().map(|h| h.0).unwrap_or(0);

    // 30 creates, one update against a stale version, 30 stand-alone audit records: all
    // queued before the first is awaited, so the writer takes them in a few groups.
    let mut writes = Vec::new();
    for n in 1..=30 {
        writes.push(store.fhir_write(
            vec![obs(n, FhirWriteKind::Create, 1)],
            vec![audit(&format!("{act}.write"))],
        ));
    }
    writes.insert(
        15,
        store.fhir_write(
            vec![obs(
                0,
                FhirWriteKind::Update {
                    expected_version: Some(5),
                },
                6,
            )],
            vec![audit(&format!("{act}.stale"))],
        ),
    );
    let reads: Vec<_> = (0..30)
        .map(|_| store.append_audit(audit(&format!("{act}.read"))))
        .collect();
    let (written, read) = tokio::join!(futures_join(writes), futures_join(reads));
    let refused: Vec<_> = written.iter().filter(|r| r.is_err()).collect();
    assert_eq!(refused.len(), 1, "only the stale update fails");
    assert!(
        matches!(refused[0], Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(written.iter().filter(|r| r.is_ok()).count(), 30);
    assert!(read.iter().all(|r| r.is_ok()));
    for n in 1..=30 {
        let row = store
            .fhir_read("Observation", &format!("{tag}-{n}"))
            .await
            .unwrap()
            .expect("each create stored");
        assert_eq!(row.version_id, 1);
    }
    let first = store
        .fhir_read("Observation", &format!("{tag}-0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.version_id, 1, "the stale update changed nothing");

    // 30 write audits and 30 read audits, the stale write's none; one chain.
    let records = store.audit_after(before, 1_000).await.unwrap();
    let count = |a: &str| records.iter().filter(|r| r.entry.action == a).count();
    assert_eq!(count(&format!("{act}.write")), 30);
    assert_eq!(count(&format!("{act}.read")), 30);
    assert_eq!(count(&format!("{act}.stale")), 0);
    let mut v = ChainVerifier::new();
    let mut after = 0;
    loop {
        let page = store.audit_after(after, 500).await.unwrap();
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
}

/// Awaits every future concurrently (they are all polled, so all are queued at once).
async fn futures_join<T>(
    futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + '_>>>,
) -> Vec<T> {
    let mut handles: Vec<_> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = (0..handles.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in handles.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("polled to the end"))
        .collect()
}
