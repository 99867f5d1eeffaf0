//! A generated authorization matrix through `renkei_core::access::authorize` on a real
//! SQLite store. Every combination of requester, team status of the requester's facility,
//! consent, excluded categories, break-glass, source facility and information category is
//! set up through the Store API, decided, and checked against expectations written here
//! from the requirements (REQUIREMENTS §2.2 and the patient-layer issue), not from
//! `renkei_domain::patient::decide`:
//!
//! a read is permitted exactly when at least one of these holds —
//! 1. the item is the requester's own facility's data;
//! 2. the requester is the secretariat and reads demographics (identity management);
//! 3. the requester's facility is an *active* care-team member, a consent is in effect
//!    (recorded and not withdrawn as of now), it covers the facility (comprehensive, or
//!    individual naming it) and the category is not excluded;
//! 4. the requester may break the glass (ER physician at a hospital, ambulance crew), has an
//!    unexpired break-glass for the patient, the category is part of the emergency summary
//!    and not excluded, and the consent has not been withdrawn.
//!
//! Every call must leave exactly one `patient.read` audit record naming the patient.

use renkei_core::access::{authorize, Origin};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::{
    CareLevel, ConsentScope, Decision, InfoCategory, Requester, Sex, TeamStatus,
};
use renkei_domain::{ids, now_millis, FacilityType, MemberRole, Profession};
use renkei_storage::{
    BreakGlassEvent, Facility, NewConsent, NewFacility, NewPatientRecord, NewUser, PersonLink,
    Store,
};
use renkei_storage_sql::SqliteStore;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Team {
    None,
    Invited,
    Active,
    Declined,
    Left,
}
const TEAMS: [Team; 5] = [
    Team::None,
    Team::Invited,
    Team::Active,
    Team::Declined,
    Team::Left,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ConsentState {
    None,
    Comprehensive,
    IndividualNamingFacility,
    IndividualNotNaming,
    WithdrawnNow,
    WithdrawalInFuture,
}
const CONSENTS: [ConsentState; 6] = [
    ConsentState::None,
    ConsentState::Comprehensive,
    ConsentState::IndividualNamingFacility,
    ConsentState::IndividualNotNaming,
    ConsentState::WithdrawnNow,
    ConsentState::WithdrawalInFuture,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Glass {
    None,
    Active,
    Expired,
}
const GLASSES: [Glass; 3] = [Glass::None, Glass::Active, Glass::Expired];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Own,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PersonState {
    consent: ConsentState,
    psychiatric_excluded: bool,
    team: Team,
    glass: Glass,
}

struct Who {
    label: &'static str,
    profession: Profession,
    /// None: no facility (the secretariat acting for the network).
    facility_type: Option<FacilityType>,
    secretariat: bool,
}

const WHO: [Who; 8] = [
    Who {
        label: "secretariat without facility",
        profession: Profession::Clerk,
        facility_type: None,
        secretariat: true,
    },
    Who {
        label: "secretariat at its office",
        profession: Profession::Clerk,
        facility_type: Some(FacilityType::Secretariat),
        secretariat: true,
    },
    Who {
        label: "ER physician at a hospital",
        profession: Profession::Physician,
        facility_type: Some(FacilityType::Hospital),
        secretariat: false,
    },
    Who {
        label: "paramedic",
        profession: Profession::Paramedic,
        facility_type: Some(FacilityType::EmergencyService),
        secretariat: false,
    },
    Who {
        label: "care manager",
        profession: Profession::CareManager,
        facility_type: Some(FacilityType::CareManagementOffice),
        secretariat: false,
    },
    Who {
        label: "pharmacist",
        profession: Profession::Pharmacist,
        facility_type: Some(FacilityType::Pharmacy),
        secretariat: false,
    },
    Who {
        label: "clinic physician",
        profession: Profession::Physician,
        facility_type: Some(FacilityType::Clinic),
        secretariat: false,
    },
    Who {
        label: "municipal officer",
        profession: Profession::MunicipalOfficer,
        facility_type: Some(FacilityType::Municipality),
        secretariat: false,
    },
];

/// The emergency summary as the issue describes it: who the patient is, allergies and
/// ACP/DNAR, current medication and diagnoses.
const EMERGENCY_SUMMARY: [InfoCategory; 4] = [
    InfoCategory::Demographics,
    InfoCategory::Emergency,
    InfoCategory::Medication,
    InfoCategory::Medical,
];

/// The requirements, written independently of the implementation.
fn expected(who: &Who, s: &PersonState, source: Source, category: InfoCategory) -> bool {
    let has_facility = who.facility_type.is_some();
    let own_data = has_facility && source == Source::Own;
    let identity_management = who.secretariat && category == InfoCategory::Demographics;
    let withdrawn = s.consent == ConsentState::WithdrawnNow;
    let consent_in_effect = !matches!(s.consent, ConsentState::None | ConsentState::WithdrawnNow);
    let covers_facility = s.consent != ConsentState::IndividualNotNaming;
    let excluded = s.psychiatric_excluded && category == InfoCategory::Psychiatric;
    let care_team =
        has_facility && s.team == Team::Active && consent_in_effect && covers_facility && !excluded;
    let may_break_glass = matches!(
        (who.profession, who.facility_type),
        (Profession::Physician, Some(FacilityType::Hospital))
            | (Profession::Paramedic, Some(FacilityType::EmergencyService))
    );
    let break_glass = may_break_glass
        && s.glass == Glass::Active
        && EMERGENCY_SUMMARY.contains(&category)
        && !excluded
        && !withdrawn;
    own_data || identity_management || care_team || break_glass
}

fn audit(action: &str) -> AuditEntry {
    AuditEntry::new(action, Outcome::Success).actor(Some("setup"), Some("setup"), None)
}

async fn facility(store: &dyn Store, t: FacilityType, name: &str) -> Facility {
    store
        .create_facility(
            NewFacility {
                id: ids::new_id(),
                facility_type: t,
                legal_entity: "テスト法人".into(),
                name: name.into(),
                name_kana: "テスト".into(),
                official_id: String::new(),
                postal_code: "053-0011".into(),
                address: "北海道苫小牧市末広町1丁目2-3".into(),
                area: "末広町".into(),
                tel: "0144-32-0000".into(),
                fax: String::new(),
                email: "office@example.jp".into(),
                applicant_name: "申請 太郎".into(),
                applicant_email: "a@example.jp".into(),
                admin_name: "管理 花子".into(),
                admin_login_id: format!("admin-{}", &ids::new_id()[..8]),
                admin_email: "admin@example.jp".into(),
                professions: vec![],
                applied_at: 1,
            },
            audit("facility.apply"),
        )
        .await
        .unwrap()
}

async fn user(store: &dyn Store, who: &Who, facility: Option<&Facility>) -> String {
    let login = format!("u-{}", &ids::new_id()[..10]);
    store
        .create_user(
            NewUser {
                id: ids::new_id(),
                login_id: login.clone(),
                display_name: who.label.into(),
                display_name_kana: "テスト".into(),
                email: format!("{login}@example.jp"),
                profession: who.profession,
                is_secretariat: who.secretariat,
                password_hash: None,
                totp_secret: None,
                recovery_code_hashes: vec![],
                setup_token_hash: None,
                setup_expires_at: None,
                memberships: facility
                    .map(|f| (f.id.clone(), MemberRole::Member))
                    .into_iter()
                    .collect(),
                created_at: 1,
            },
            audit("user.create"),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let started = std::time::Instant::now();
    let dir = std::env::temp_dir().join(format!("renkei-core-matrix-{}", ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shared = Arc::new(SqliteStore::open(&dir.join("renkei.db"), 4).await.unwrap());
    let store: &dyn Store = &*shared;

    // One facility and one user per requester; the registering facility; a bystander.
    let source = facility(store, FacilityType::Hospital, "登録病院").await;
    let bystander = facility(store, FacilityType::Clinic, "第三医院").await;
    let mut requesters = Vec::new();
    for who in &WHO {
        let f = match who.facility_type {
            Some(t) => Some(facility(store, t, who.label).await),
            None => None,
        };
        let user_id = user(store, who, f.as_ref()).await;
        requesters.push(Requester {
            user_id,
            facility_id: f.as_ref().map(|f| f.id.clone()),
            facility_type: who.facility_type,
            profession: who.profession,
            is_secretariat: who.secretariat,
        });
    }
    let requester_facilities: Vec<String> = requesters
        .iter()
        .filter_map(|r| r.facility_id.clone())
        .collect();

    // One person per state, shared by all requesters: every requester facility has the
    // same team status and every requester user the same break-glass state.
    let now = now_millis();
    let mut persons: Vec<(PersonState, String)> = Vec::new();
    for consent in CONSENTS {
        for psychiatric_excluded in [false, true] {
            if consent == ConsentState::None && psychiatric_excluded {
                continue; // nothing to exclude without a consent
            }
            for team in TEAMS {
                for glass in GLASSES {
                    let state = PersonState {
                        consent,
                        psychiatric_excluded,
                        team,
                        glass,
                    };
                    let person = setup_person(
                        store,
                        &state,
                        &source,
                        &bystander,
                        &requesters,
                        &requester_facilities,
                        now,
                    )
                    .await;
                    persons.push((state, person));
                }
            }
        }
    }
    let setup_time = started.elapsed();

    // The matrix: one task per requester (reads run in parallel; audit writes queue).
    let head = store.audit_head().await.unwrap().map(|h| h.0).unwrap_or(0);
    let persons = Arc::new(persons);
    let mut tasks = Vec::new();
    for (i, requester) in requesters.iter().cloned().enumerate() {
        let shared = shared.clone();
        let persons = persons.clone();
        let source_id = source.id.clone();
        tasks.push(tokio::spawn(async move {
            let store: &dyn Store = &*shared;
            let who = &WHO[i];
            let origin = Origin {
                login_id: "matrix".into(),
                resource: "test:matrix".into(),
                ..Default::default()
            };
            let mut out = Vec::new();
            for (state, person) in persons.iter() {
                if who.facility_type.is_none() && state.team != Team::None {
                    continue; // no facility, no team status of its own
                }
                for src in [Source::Own, Source::Other] {
                    let source_facility = match src {
                        // Without a facility there is no own data: data assembled from
                        // several facilities stands in.
                        Source::Own => requester.facility_id.as_deref(),
                        Source::Other => Some(source_id.as_str()),
                    };
                    for category in InfoCategory::ALL {
                        let decision = authorize(
                            store,
                            &requester,
                            &origin,
                            person,
                            category,
                            source_facility,
                        )
                        .await
                        .unwrap();
                        let want = expected(who, state, src, category);
                        let case = format!(
                            "{} / {state:?} / {src:?} / {category:?}: {decision:?}",
                            who.label
                        );
                        out.push((
                            (
                                requester.user_id.clone(),
                                person.clone(),
                                decision.is_permit(),
                                category.code(),
                            ),
                            want,
                            decision,
                            case,
                        ));
                    }
                }
            }
            out
        }));
    }
    let mut calls: Vec<(String, String, bool, &'static str)> = Vec::new();
    let mut wrongful_permits = Vec::new();
    let mut wrongful_denials = Vec::new();
    let mut permits_by_basis: HashMap<&'static str, usize> = HashMap::new();
    for task in tasks {
        for (call, want, decision, case) in task.await.unwrap() {
            if let Decision::Permit { basis } = decision {
                *permits_by_basis.entry(basis.code()).or_default() += 1;
            }
            match (want, decision.is_permit()) {
                (false, true) => wrongful_permits.push(case),
                (true, false) => wrongful_denials.push(case),
                _ => {}
            }
            calls.push(call);
        }
    }
    let combinations = calls.len();
    let permits = calls.iter().filter(|c| c.2).count();
    eprintln!(
        "{combinations} combinations ({permits} permits, {:?}); setup {setup_time:?}, total {:?}",
        permits_by_basis,
        started.elapsed()
    );
    // 7 requesters with a facility × 165 person states (11 consent/exclusion × 5 team ×
    // 3 break-glass) + the secretariat without facility × 33 (no team status) — each × 2
    // sources × 12 categories = 28,512.
    let states = 11 * TEAMS.len() * GLASSES.len();
    assert_eq!(
        combinations,
        ((WHO.len() - 1) * states + states / TEAMS.len()) * 2 * InfoCategory::ALL.len()
    );
    assert!(
        wrongful_permits.is_empty(),
        "{} unauthorized permits, e.g.\n{}",
        wrongful_permits.len(),
        wrongful_permits
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        wrongful_denials.is_empty(),
        "{} wrongful denials, e.g.\n{}",
        wrongful_denials.len(),
        wrongful_denials
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every basis was exercised.
    for basis in [
        "own_facility",
        "care_team_consent",
        "break_glass",
        "identity_management",
    ] {
        assert!(
            permits_by_basis.get(basis).copied().unwrap_or(0) > 0,
            "{basis} never permitted"
        );
    }

    // Exactly one audit record per call naming the patient, with the call's outcome.
    let records = store.audit_after(head, 100_000).await.unwrap();
    assert_eq!(records.len(), combinations, "one audit record per decision");
    let mut want_audit: HashMap<(String, String, bool, String), usize> = HashMap::new();
    for (user, person, permitted, category) in &calls {
        *want_audit
            .entry((
                user.clone(),
                person.clone(),
                *permitted,
                category.to_string(),
            ))
            .or_default() += 1;
    }
    let mut got_audit: HashMap<(String, String, bool, String), usize> = HashMap::new();
    for record in &records {
        let e = &record.entry;
        assert_eq!(e.action, "patient.read");
        assert!(
            e.outcome == "success" || e.outcome == "denied",
            "{}",
            e.outcome
        );
        let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
        *got_audit
            .entry((
                e.actor_user_id.clone().unwrap_or_default(),
                e.patient_id.clone().expect("the patient is named"),
                e.outcome == "success",
                detail["category"].as_str().unwrap_or_default().to_string(),
            ))
            .or_default() += 1;
    }
    assert_eq!(got_audit, want_audit);
}

async fn setup_person(
    store: &dyn Store,
    state: &PersonState,
    source: &Facility,
    bystander: &Facility,
    requesters: &[Requester],
    requester_facilities: &[String],
    now: i64,
) -> String {
    let person = ids::new_id();
    let record = NewPatientRecord {
        id: ids::new_id(),
        facility_id: source.id.clone(),
        id_system: "urn:renkei:test".into(),
        local_id: ids::new_id(),
        family_kanji: "試験".into(),
        given_kanji: "花子".into(),
        family_kana: "シケン".into(),
        given_kana: "ハナコ".into(),
        previous_names: vec![],
        birth_date: "1940-01-01".into(),
        sex: Sex::Female,
        postal_code: String::new(),
        address: String::new(),
        phones: vec![],
        insurance_numbers: vec![],
        care_level: CareLevel::None,
        block_keys: vec![],
        is_test: false,
        created_by: "setup".into(),
        created_at: now - 100_000,
    };
    store
        .register_patient(
            record,
            PersonLink::NewPerson(person.clone()),
            vec![],
            audit("patient.register"),
        )
        .await
        .unwrap();

    let (scope, facilities) = match state.consent {
        ConsentState::None => (None, vec![]),
        ConsentState::Comprehensive
        | ConsentState::WithdrawnNow
        | ConsentState::WithdrawalInFuture => (Some(ConsentScope::Comprehensive), vec![]),
        ConsentState::IndividualNamingFacility => {
            let mut named = requester_facilities.to_vec();
            named.push(source.id.clone());
            (Some(ConsentScope::Individual), named)
        }
        ConsentState::IndividualNotNaming => (
            Some(ConsentScope::Individual),
            vec![bystander.id.clone(), source.id.clone()],
        ),
    };
    if let Some(scope) = scope {
        let consent = store
            .record_consent(
                NewConsent {
                    id: ids::new_id(),
                    person_id: person.clone(),
                    scope,
                    facilities,
                    excluded: if state.psychiatric_excluded {
                        vec![InfoCategory::Psychiatric]
                    } else {
                        vec![]
                    },
                    form: "written".into(),
                    signer: "patient".into(),
                    proxy_name: String::new(),
                    proxy_relationship: String::new(),
                    family_participation: false,
                    family_note: String::new(),
                    obtained_by: "setup".into(),
                    obtained_facility_id: source.id.clone(),
                    obtained_at: now - 90_000,
                    place: String::new(),
                    card_number: String::new(),
                    created_at: now - 90_000,
                },
                audit("consent.record"),
            )
            .await
            .unwrap();
        let effective = match state.consent {
            ConsentState::WithdrawnNow => Some(now - 1_000),
            ConsentState::WithdrawalInFuture => Some(now + 86_400_000),
            _ => None,
        };
        if let Some(at) = effective {
            store
                .withdraw_consent(&consent.id, at, "setup", "test", audit("consent.withdraw"))
                .await
                .unwrap();
        }
    }

    for f in requester_facilities {
        let at = now - 80_000;
        let invite = || {
            store.invite_to_team(
                &person,
                f,
                &source.id,
                "setup",
                "",
                at,
                audit("team.invite"),
            )
        };
        match state.team {
            Team::None => {}
            Team::Invited => invite().await.unwrap(),
            Team::Active | Team::Declined | Team::Left => {
                invite().await.unwrap();
                let accept = state.team != Team::Declined;
                store
                    .respond_to_invitation(&person, f, accept, at + 1, audit("team.respond"))
                    .await
                    .unwrap();
                if state.team == Team::Left {
                    store
                        .leave_team(&person, f, at + 2, audit("team.leave"))
                        .await
                        .unwrap();
                }
            }
        }
        let want = match state.team {
            Team::None => None,
            Team::Invited => Some(TeamStatus::Invited),
            Team::Active => Some(TeamStatus::Active),
            Team::Declined => Some(TeamStatus::Declined),
            Team::Left => Some(TeamStatus::Left),
        };
        assert_eq!(store.team_status(&person, f).await.unwrap(), want);
    }

    let window = match state.glass {
        Glass::None => None,
        Glass::Active => Some((now - 60_000, now + 3_600_000)),
        Glass::Expired => Some((now - 7_200_000, now - 3_600_000)),
    };
    if let Some((started_at, expires_at)) = window {
        // Every requester opened it (whether the rule lets them use it is the point).
        for r in requesters {
            store
                .start_break_glass(
                    BreakGlassEvent {
                        id: ids::new_id(),
                        person_id: person.clone(),
                        user_id: r.user_id.clone(),
                        facility_id: r.facility_id.clone().unwrap_or_else(|| source.id.clone()),
                        reason: "救急搬送".into(),
                        started_at,
                        expires_at,
                    },
                    audit("break_glass.start"),
                )
                .await
                .unwrap();
        }
    }
    person
}
