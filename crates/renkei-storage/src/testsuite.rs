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
fn kana_tag() -> String {
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
fn patient_record(
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

fn sample_consent(
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
