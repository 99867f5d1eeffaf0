use super::*;
use renkei_domain::facility::OfficialIdKind;
use renkei_domain::text;
use std::collections::{HashMap, HashSet};

fn options(seed: u64) -> DemoOptions {
    DemoOptions {
        seed,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$placeholder".into(),
        totp_secret: "JBSWY3DPEHPK3PXP".into(),
    }
}

fn network() -> DemoNetwork {
    generate(&options(42))
}

#[test]
fn counts_per_type_are_exact() {
    let net = network();
    let mut counts: HashMap<FacilityType, usize> = HashMap::new();
    for (f, _, _) in &net.import.facilities {
        *counts.entry(f.facility_type).or_default() += 1;
    }
    let expected = expected_counts();
    for (t, n) in &expected {
        assert_eq!(counts.get(t).copied().unwrap_or(0), *n, "{t:?}");
    }
    // Every type of the domain is represented, and nothing else.
    assert_eq!(expected.len(), FacilityType::ALL.len());
    let care: usize = CARE_COUNTS.iter().map(|(_, n)| n).sum();
    assert_eq!(care, 328);
    let outside: usize = OUTSIDE_COUNTS.iter().map(|(_, n)| n).sum();
    assert_eq!(outside, 12);
    assert_eq!(
        net.import.facilities.len(),
        expected.iter().map(|(_, n)| n).sum::<usize>()
    );
}

#[test]
fn statuses_and_codes() {
    let net = network();
    let by_status = |s: FacilityStatus| {
        net.import
            .facilities
            .iter()
            .filter(|(_, st, _)| *st == s)
            .count()
    };
    assert_eq!(by_status(FacilityStatus::Pending), 3);
    assert_eq!(by_status(FacilityStatus::Suspended), 1);
    assert_eq!(by_status(FacilityStatus::Withdrawn), 1);
    assert_eq!(by_status(FacilityStatus::Rejected), 0);
    // Codes are F00001.. in order (the import numbers them by position); open
    // applications have none and come last.
    let mut seen_pending = false;
    for (i, (f, status, code)) in net.import.facilities.iter().enumerate() {
        if *status == FacilityStatus::Pending {
            seen_pending = true;
            assert_eq!(code, &None, "{}", f.name);
        } else {
            assert!(!seen_pending, "pending applications come last");
            assert_eq!(code.as_deref(), Some(facility_code(i as i64 + 1).as_str()));
        }
    }
    let first = &net.import.facilities[0];
    assert_eq!(first.0.facility_type, FacilityType::Secretariat);
    // Approval order follows application time.
    let active: Vec<_> = net
        .import
        .facilities
        .iter()
        .filter(|(_, s, _)| *s != FacilityStatus::Pending)
        .map(|(f, _, _)| f.applied_at)
        .collect();
    assert!(active.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn every_profession_is_present_and_user_count_is_realistic() {
    let net = network();
    let present: HashSet<Profession> = net.import.users.iter().map(|u| u.profession).collect();
    for p in Profession::ALL {
        assert!(present.contains(p), "{p:?} missing");
    }
    let n = net.import.users.len();
    assert!((2_000..=3_000).contains(&n), "{n} users");
    assert_eq!(net.logins.len(), n);
}

#[test]
fn login_ids_are_unique_and_valid() {
    let net = network();
    let mut seen = HashSet::new();
    for u in &net.import.users {
        assert_eq!(
            text::login_id("login_id", &u.login_id).as_deref(),
            Ok(u.login_id.as_str())
        );
        assert!(u.login_id.len() <= 64);
        assert!(seen.insert(u.login_id.clone()), "duplicate {}", u.login_id);
    }
    // A pending application's proposed administrator does not clash with any account.
    for (f, status, _) in &net.import.facilities {
        assert!(text::login_id("admin", &f.admin_login_id).is_ok());
        if *status == FacilityStatus::Pending {
            assert!(!seen.contains(&f.admin_login_id), "{}", f.admin_login_id);
        } else {
            assert!(seen.contains(&f.admin_login_id), "{}", f.admin_login_id);
        }
    }
}

#[test]
fn kana_fields_are_katakana() {
    let net = network();
    for (f, _, _) in &net.import.facilities {
        assert_eq!(
            text::kana("name_kana", &f.name_kana, 200, true).as_deref(),
            Ok(f.name_kana.as_str()),
            "{} / {}",
            f.name,
            f.name_kana
        );
    }
    for u in &net.import.users {
        assert_eq!(
            text::kana("kana", &u.display_name_kana, 100, true).as_deref(),
            Ok(u.display_name_kana.as_str()),
            "{}",
            u.display_name
        );
        assert_eq!(
            u.display_name.split(' ').count(),
            u.display_name_kana.split(' ').count()
        );
    }
}

#[test]
fn facility_fields_are_valid() {
    let net = network();
    let mut official = HashSet::new();
    let mut names = HashSet::new();
    for (f, _, _) in &net.import.facilities {
        assert!(names.insert(f.name.clone()), "duplicate name {}", f.name);
        match f.facility_type.official_id_kind() {
            OfficialIdKind::None => assert_eq!(f.official_id, ""),
            kind => {
                assert_eq!(f.official_id.len(), 10, "{}", f.official_id);
                assert!(f.official_id.bytes().all(|b| b.is_ascii_digit()));
                assert!(f.official_id.starts_with("01"));
                if kind == OfficialIdKind::MedicalInstitutionCode {
                    let table = match f.facility_type {
                        FacilityType::DentalClinic => b'3',
                        FacilityType::Pharmacy => b'4',
                        _ => b'1',
                    };
                    assert_eq!(f.official_id.as_bytes()[2], table);
                }
                assert!(
                    official.insert(f.official_id.clone()),
                    "dup {}",
                    f.official_id
                );
            }
        }
        assert_eq!(
            text::phone("tel", &f.tel, true).as_deref(),
            Ok(f.tel.as_str())
        );
        assert_eq!(
            text::phone("fax", &f.fax, true).as_deref(),
            Ok(f.fax.as_str())
        );
        assert!(f.tel.starts_with("0144-"));
        assert_eq!(
            text::postal_code("postal", &f.postal_code, true).as_deref(),
            Ok(f.postal_code.as_str())
        );
        assert!(f.address.starts_with("北海道苫小牧市"));
        assert!(f.address.contains(&f.area), "{} / {}", f.address, f.area);
        for e in [&f.email, &f.applicant_email, &f.admin_email] {
            assert!(text::email("email", e, true).is_ok(), "{e}");
            assert!(e.ends_with("@example.jp"), "{e}");
        }
        assert!(!f.legal_entity.is_empty() && !f.admin_name.is_empty());
        assert!(!f.professions.is_empty());
        assert!((1_740_000_000_000..1_800_000_000_000).contains(&f.applied_at));
    }
}

#[test]
fn users_are_enrolled_members_of_real_facilities() {
    let opts = options(7);
    let net = generate(&opts);
    let facilities: HashMap<&str, FacilityStatus> = net
        .import
        .facilities
        .iter()
        .map(|(f, s, _)| (f.id.as_str(), *s))
        .collect();
    let mut ids = HashSet::new();
    let mut admins: HashMap<&str, usize> = HashMap::new();
    for u in &net.import.users {
        assert_eq!(u.id.len(), 32);
        assert!(u
            .id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(ids.insert(u.id.clone()));
        assert_eq!(
            u.password_hash.as_deref(),
            Some(opts.password_hash.as_str())
        );
        assert_eq!(u.totp_secret.as_deref(), Some(opts.totp_secret.as_str()));
        assert!(u.recovery_code_hashes.is_empty());
        assert!(u.setup_token_hash.is_none() && u.setup_expires_at.is_none());
        assert_eq!(u.email, format!("{}@example.jp", u.login_id));
        // 2025-01-01 .. 2027-01-01
        assert!((1_735_689_600_000..1_798_761_600_000).contains(&u.created_at));
        assert!(!u.memberships.is_empty());
        for (fid, role) in &u.memberships {
            let status = facilities.get(fid.as_str()).expect("known facility");
            assert_ne!(*status, FacilityStatus::Pending);
            if *role == MemberRole::FacilityAdmin {
                *admins.entry(fid.as_str()).or_default() += 1;
            }
        }
    }
    for (f, status, _) in &net.import.facilities {
        let expected = usize::from(*status != FacilityStatus::Pending);
        assert_eq!(
            admins.get(f.id.as_str()).copied().unwrap_or(0),
            expected,
            "{}",
            f.name
        );
    }
    let secretariat = net.import.users.iter().filter(|u| u.is_secretariat).count();
    assert!((2..=3).contains(&secretariat));
}

#[test]
fn readiness_covers_most_active_facilities() {
    let net = network();
    let active: HashSet<&str> = net
        .import
        .facilities
        .iter()
        .filter(|(_, s, _)| *s == FacilityStatus::Active)
        .map(|(f, _, _)| f.id.as_str())
        .collect();
    let mut seen = HashSet::new();
    for s in &net.import.readiness {
        assert!(active.contains(s.facility_id.as_str()));
        assert!(seen.insert(s.facility_id.clone()));
        for v in [&s.ssmix2_export, &s.hl7_fhir_capable] {
            assert!(["yes", "no", "unknown"].contains(&v.as_str()), "{v}");
        }
        assert!(["in_house", "vendor", "none"].contains(&s.it_staff.as_str()));
        assert!(!s.system_kind.is_empty() && !s.network_line.is_empty());
        assert!(s.devices.starts_with("PC "));
    }
    let share = net.import.readiness.len() as f64 / active.len() as f64;
    assert!((0.6..=0.8).contains(&share), "{share}");
    // Hospitals mostly can export SS-MIX2; care mostly cannot.
    let kind: HashMap<&str, FacilityType> = net
        .import
        .facilities
        .iter()
        .map(|(f, _, _)| (f.id.as_str(), f.facility_type))
        .collect();
    let yes_share = |pred: &dyn Fn(FacilityType) -> bool| {
        let all: Vec<_> = net
            .import
            .readiness
            .iter()
            .filter(|s| pred(kind[s.facility_id.as_str()]))
            .collect();
        all.iter().filter(|s| s.ssmix2_export == "yes").count() as f64 / all.len() as f64
    };
    assert!(yes_share(&|t| t == FacilityType::Hospital) > 0.6);
    assert!(yes_share(&|t| t.category() == FacilityCategory::Care) < 0.2);
}

#[test]
fn same_seed_same_network_other_seed_differs() {
    let a = generate(&options(1));
    let b = generate(&options(1));
    assert_eq!(a.import.facilities, b.import.facilities);
    assert_eq!(a.import.users, b.import.users);
    assert_eq!(a.import.readiness, b.import.readiness);
    assert_eq!(a.logins, b.logins);
    let c = generate(&options(2));
    assert_ne!(a.import.users, c.import.users);
}

#[test]
fn featured_logins_exist_in_sensible_places() {
    for seed in [0, 1, 42, 2026] {
        let net = generate(&options(seed));
        let featured = featured_logins(&net);
        assert_eq!(featured.len(), FEATURED_LOGIN_IDS.len(), "seed {seed}");
        let find = |id: &str| *featured.iter().find(|l| l.login_id == id).unwrap();
        let facility_type = |name: &str| {
            net.import
                .facilities
                .iter()
                .find(|(f, s, _)| f.name == name && *s == FacilityStatus::Active)
                .map(|(f, _, _)| f.facility_type)
                .expect("featured accounts are in active facilities")
        };
        let expect = [
            (
                "secretariat",
                Profession::Clerk,
                FacilityType::Secretariat,
                "secretariat",
            ),
            (
                "facility.admin",
                Profession::Clerk,
                FacilityType::Hospital,
                "facility_admin",
            ),
            (
                "hospital.doctor",
                Profession::Physician,
                FacilityType::Hospital,
                "member",
            ),
            (
                "hospital.nurse",
                Profession::Nurse,
                FacilityType::Hospital,
                "member",
            ),
            (
                "clinic.admin",
                Profession::Physician,
                FacilityType::Clinic,
                "facility_admin",
            ),
            (
                "clinic.doctor",
                Profession::Physician,
                FacilityType::Clinic,
                "member",
            ),
            (
                "caremanager",
                Profession::CareManager,
                FacilityType::CareManagementOffice,
                "member",
            ),
            (
                "homenurse.admin",
                Profession::HomeVisitNurse,
                FacilityType::HomeNursingStation,
                "facility_admin",
            ),
            (
                "homenurse",
                Profession::HomeVisitNurse,
                FacilityType::HomeNursingStation,
                "member",
            ),
            (
                "pharmacist",
                Profession::Pharmacist,
                FacilityType::Pharmacy,
                "member",
            ),
            (
                "paramedic",
                Profession::Paramedic,
                FacilityType::EmergencyService,
                "member",
            ),
        ];
        for (id, profession, ftype, role) in expect {
            let l = find(id);
            assert_eq!(l.profession, profession, "{id}");
            assert_eq!(facility_type(&l.facility_name), ftype, "{id}");
            assert_eq!(l.role, role, "{id}");
            let user = net.import.users.iter().find(|u| u.login_id == id).unwrap();
            assert_eq!(user.memberships.len(), 1, "{id} has one facility");
        }
        // The administrators are of the featured clinic's and station's own facilities.
        assert_eq!(
            find("clinic.admin").facility_name,
            find("clinic.doctor").facility_name
        );
        assert_eq!(
            find("homenurse.admin").facility_name,
            find("homenurse").facility_name
        );
        // The hospital accounts are at the same (core) hospital.
        assert_eq!(
            find("hospital.doctor").facility_name,
            find("facility.admin").facility_name
        );
        assert_eq!(
            find("hospital.nurse").facility_name,
            find("facility.admin").facility_name
        );
    }
}

#[test]
fn some_doctors_serve_two_facilities() {
    let net = network();
    let multi = net
        .import
        .users
        .iter()
        .filter(|u| u.memberships.len() > 1)
        .count();
    assert!(multi >= 5, "{multi}");
}

#[test]
fn short_town_names() {
    let short = |name: &str| short_town(TOWNS.iter().find(|t| t.name == name).unwrap());
    assert_eq!(short("澄川町"), ("澄川", "スミカワ"));
    assert_eq!(short("字樽前"), ("樽前", "タルマエ"));
    assert_eq!(short("明野新町"), ("明野", "アケノ"));
    assert_eq!(short("元町"), ("元", "モト"));
    assert_eq!(short("高丘"), ("高丘", "タカオカ"));
    assert_eq!(short("表町"), ("表", "オモテ"));
}

#[test]
fn patients_are_consistent_and_show_every_feature() {
    let net = network();
    let p = &net.import.patients;
    assert!(p.persons.len() >= 240);
    let persons: HashSet<&str> = p.persons.iter().map(|(id, _)| id.as_str()).collect();
    let facilities: HashSet<&str> = net
        .import
        .facilities
        .iter()
        .map(|(f, _, _)| f.id.as_str())
        .collect();
    for (record, person) in &p.records {
        assert!(persons.contains(person.as_str()));
        assert!(facilities.contains(record.facility_id.as_str()));
        assert!(renkei_domain::text::kana("k", &record.family_kana, 80, true).is_ok());
        assert_eq!(record.birth_date.len(), 10);
    }
    // Local IDs are unique per facility and identifier system.
    let ids: HashSet<(&str, &str, &str)> = p
        .records
        .iter()
        .map(|(r, _)| {
            (
                r.facility_id.as_str(),
                r.id_system.as_str(),
                r.local_id.as_str(),
            )
        })
        .collect();
    assert_eq!(ids.len(), p.records.len());
    // Every registering facility is an active team member; invitations exist.
    for (record, person) in &p.records {
        assert!(p.team.iter().any(|m| m.person_id == *person
            && m.facility_id == record.facility_id
            && m.status == renkei_domain::patient::TeamStatus::Active));
    }
    assert!(p
        .team
        .iter()
        .any(|m| m.status == renkei_domain::patient::TeamStatus::Invited));
    // At most one active consent per person; withdrawn and individual ones exist.
    let mut active = HashSet::new();
    for (c, withdrawn) in &p.consents {
        if withdrawn.is_none() {
            assert!(
                active.insert(c.person_id.clone()),
                "two active consents for {}",
                c.person_id
            );
        }
    }
    assert!(p.consents.iter().any(|(_, w)| w.is_some()));
    assert!(p
        .consents
        .iter()
        .any(|(c, _)| c.scope == renkei_domain::patient::ConsentScope::Individual));
    assert!(p.consents.iter().any(|(c, _)| !c.excluded.is_empty()));
    assert_eq!(p.reviews.len(), 3);
    for (record_id, review) in &p.reviews {
        assert!(p.records.iter().any(|(r, _)| r.id == *record_id));
        assert!(p
            .records
            .iter()
            .any(|(r, _)| r.id == review.candidate_record_id));
    }
}

/// The on-call group: three member facilities (a clinic, a home-visit clinic, a nursing
/// station) with administrators, a continuous rota of 24-hour days from before the start to
/// the end of next week whatever the start time, the clinic on call at the start and the
/// station not for a day, covered patients only from each member's own care team, and the
/// station's staff told of the shifts the owner put them on.
#[test]
fn on_call_group_is_current_whenever_the_demo_starts() {
    use renkei_domain::patient::TeamStatus;
    let net = network();
    let login_facility = |login: &str| {
        net.import
            .users
            .iter()
            .find(|u| u.login_id == login)
            .unwrap()
            .memberships[0]
            .0
            .clone()
    };
    let clinic = login_facility("clinic.admin");
    let station = login_facility("homenurse.admin");
    let hour = 3_600_000;
    // 2026-12-03 (Thursday) 15:58 UTC and a spread of other start times: every hour of a
    // week, and a Monday just after midnight JST.
    let base = 1_796_313_480_000;
    let mut starts: Vec<Millis> = (0..7 * 24).map(|h| base + h * hour + 17 * 60_000).collect();
    starts.push(cover::week_start(base) + 60_000);
    for now in starts {
        let demo = cover::generate(&net, now).expect("the featured accounts exist");
        assert_eq!(demo.group.owner_facility_id, clinic);
        assert!(demo.group.name.contains("在宅医療当番グループ"));
        let members: Vec<&str> = demo.members.iter().map(|(f, ..)| f.as_str()).collect();
        assert_eq!(members.len(), 2);
        assert!(members.contains(&station.as_str()));
        for (f, _, invited, accepted) in &demo.members {
            let (facility, status, _) = net
                .import
                .facilities
                .iter()
                .find(|(x, _, _)| x.id == *f)
                .unwrap();
            assert_eq!(*status, FacilityStatus::Active);
            assert!(matches!(
                facility.facility_type,
                FacilityType::Clinic
                    | FacilityType::HomeVisitClinic
                    | FacilityType::HomeNursingStation
            ));
            assert!(demo.group.created_at < *invited && invited < accepted && *accepted < now);
        }
        // The rota: back to back, 24 h each, covering from before `now` to the end of next
        // week; the clinic's day now, the station's not within a day.
        let shifts: Vec<_> = demo.shifts.iter().map(|(s, _)| s).collect();
        assert!(
            shifts.windows(2).all(|w| w[0].ends_at == w[1].starts_at),
            "{now}"
        );
        assert!(shifts.iter().all(|s| s.ends_at - s.starts_at == 24 * hour));
        assert!(shifts[0].starts_at <= now);
        assert!(shifts.last().unwrap().ends_at >= cover::week_start(now) + 14 * 24 * hour);
        let current = shifts
            .iter()
            .find(|s| s.starts_at <= now && now < s.ends_at)
            .expect("a shift under way at the start");
        assert_eq!(current.facility_id, clinic, "{now}");
        assert!(shifts
            .iter()
            .filter(|s| s.facility_id == station && s.ends_at > now)
            .all(|s| s.starts_at > now + 24 * hour));
        assert!(shifts
            .iter()
            .all(|s| s.created_at < now && !s.on_call.is_empty()));
        let members_now: HashSet<&str> = shifts.iter().map(|s| s.facility_id.as_str()).collect();
        assert_eq!(members_now.len(), 3, "every member takes days");
        // Notifications: the station's staff for the station's days the owner entered.
        for (s, notes) in &demo.shifts {
            for n in notes {
                assert_eq!(s.facility_id, station);
                assert_eq!(n.kind, "cover_shift");
                assert!(
                    net.import
                        .users
                        .iter()
                        .any(|u| u.id == n.user_id
                            && u.memberships.iter().any(|(f, _)| *f == station))
                );
            }
        }
        assert!(demo.shifts.iter().any(|(_, n)| !n.is_empty()));
    }
    // Covered patients: the clinic's own active team patients, not the station's; the
    // station covers all of its own.
    let demo = cover::generate(&net, base).unwrap();
    let team = &net.import.patients.team;
    let in_team = |person: &str, facility: &str| {
        team.iter().any(|m| {
            m.person_id == person && m.facility_id == facility && m.status == TeamStatus::Active
        })
    };
    let (_, clinic_choice, _, _) = demo.choices.iter().find(|(f, ..)| *f == clinic).unwrap();
    assert!(!clinic_choice.covers_all);
    assert!(
        clinic_choice.person_ids.len() >= 10,
        "{:?}",
        clinic_choice.person_ids
    );
    for p in &clinic_choice.person_ids {
        assert!(in_team(p, &clinic) && !in_team(p, &station), "{p}");
    }
    let (_, station_choice, _, _) = demo.choices.iter().find(|(f, ..)| *f == station).unwrap();
    assert!(station_choice.covers_all);
}
