//! Synthetic patients for the demo: persons registered at the core hospital, clinics, the
//! care-management office and the nursing station the featured accounts work at, with care
//! teams (the pharmacy filling their prescriptions included), consents (comprehensive,
//! individual, with exclusions, withdrawn, none), open invitations and a few
//! near-duplicates waiting in the identity review queue.

use crate::names::{FEMALE_GIVEN, MALE_GIVEN, SURNAMES};
use crate::places::{CITY, TOWNS};
use crate::{pick, DemoLogin};
use rand::rngs::StdRng;
use rand::Rng;
use renkei_domain::patient::{
    jp_local_id_system, CareLevel, ConsentScope, InfoCategory, Sex, TeamStatus,
};
use renkei_domain::Millis;
use renkei_storage::{
    NetworkImport, NewConsent, NewMatchReview, NewPatientRecord, PatientImport, TeamMember,
};

const PERSONS: usize = 240;
const DAY: Millis = 86_400_000;
/// 2026-06-01T00:00Z: registrations spread over the months before the demo.
const FIRST_REGISTRATION: Millis = 1_780_272_000_000;

fn hex_id(rng: &mut StdRng) -> String {
    format!("{:016x}{:016x}", rng.gen::<u64>(), rng.gen::<u64>())
}

struct Site {
    facility_id: String,
    official_id: String,
    code: String,
    user_id: String,
    next_local: u32,
    prefix: &'static str,
}

impl Site {
    fn id_system(&self) -> String {
        if self.official_id.len() == 10 {
            jp_local_id_system(&self.official_id)
        } else {
            format!("urn:renkei:facility:{}:patient-id", self.code)
        }
    }
    fn next_id(&mut self) -> String {
        self.next_local += 1;
        format!("{}{:06}", self.prefix, self.next_local)
    }
}

/// The facility and user of a featured login, found through the generated import.
fn site(
    import: &NetworkImport,
    logins: &[DemoLogin],
    login: &str,
    prefix: &'static str,
) -> Option<Site> {
    let index = logins.iter().position(|l| l.login_id == login)?;
    let user = &import.users[index];
    let facility_id = user.memberships.first()?.0.clone();
    let (facility, _, code) = import
        .facilities
        .iter()
        .find(|(f, _, _)| f.id == facility_id)?;
    Some(Site {
        facility_id,
        official_id: facility.official_id.clone(),
        code: code.clone().unwrap_or_default(),
        user_id: user.id.clone(),
        next_local: 1000,
        prefix,
    })
}

pub(crate) fn generate(
    rng: &mut StdRng,
    import: &NetworkImport,
    logins: &[DemoLogin],
) -> PatientImport {
    let mut out = PatientImport::default();
    let (Some(mut hospital), Some(mut clinic), Some(mut care), Some(mut nursing)) = (
        site(import, logins, "hospital.doctor", "H"),
        site(import, logins, "clinic.doctor", "C"),
        site(import, logins, "caremanager", "K"),
        site(import, logins, "homenurse", "N"),
    ) else {
        return out;
    };
    let pharmacy = site(import, logins, "pharmacist", "P");
    let other_pharmacies = pharmacies(import, pharmacy.as_ref().map(|p| p.facility_id.as_str()));
    for i in 0..PERSONS {
        let person = hex_id(rng);
        let created = FIRST_REGISTRATION + rng.gen_range(0..150) * DAY;
        out.persons.push((person.clone(), created));
        let sex = if rng.gen_bool(0.56) {
            Sex::Female
        } else {
            Sex::Male
        };
        let family = pick(rng, SURNAMES, |n| n.weight);
        let given = if sex == Sex::Female {
            pick(rng, FEMALE_GIVEN, |n| n.weight)
        } else {
            pick(rng, MALE_GIVEN, |n| n.weight)
        };
        let birth = format!(
            "{}-{:02}-{:02}",
            rng.gen_range(1928..1962),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28)
        );
        let town = pick(rng, TOWNS, |t| t.weight);
        let address = format!(
            "{CITY}{}{}丁目{}-{}",
            town.name,
            rng.gen_range(1..=town.chome.max(1)),
            rng.gen_range(1..30),
            rng.gen_range(1..20)
        );
        let phone = format!(
            "0144-{}-{:04}",
            rng.gen_range(31..78),
            rng.gen_range(0..10_000)
        );
        let care_level = *crate::one(
            rng,
            &[
                CareLevel::Support2,
                CareLevel::Care1,
                CareLevel::Care1,
                CareLevel::Care2,
                CareLevel::Care2,
                CareLevel::Care3,
                CareLevel::Care4,
                CareLevel::Care5,
                CareLevel::Applying,
                CareLevel::None,
            ],
        );
        let insurance = format!("{:010}", rng.gen_range(0..10_000_000_000u64));
        // Where the person is known: always the core hospital; many also at the clinic,
        // the care-management office and the nursing station.
        let mut sites: Vec<&mut Site> = vec![&mut hospital];
        if rng.gen_bool(0.5) {
            sites.push(&mut clinic);
        }
        let known_by_care = rng.gen_bool(0.55);
        if known_by_care {
            sites.push(&mut care);
        }
        if known_by_care && rng.gen_bool(0.5) {
            sites.push(&mut nursing);
        }
        let mut team = Vec::new();
        for (n, s) in sites.into_iter().enumerate() {
            // Stored as registration stores it: kana in katakana, whatever was typed.
            let family_kana = family.kana.to_string();
            let record = NewPatientRecord {
                id: hex_id(rng),
                facility_id: s.facility_id.clone(),
                id_system: s.id_system(),
                local_id: s.next_id(),
                family_kanji: family.kanji.into(),
                given_kanji: given.kanji.into(),
                family_kana,
                given_kana: given.kana.into(),
                previous_names: vec![],
                birth_date: birth.clone(),
                sex,
                postal_code: town.postal.into(),
                address: address.clone(),
                phones: if n == 0 || rng.gen_bool(0.7) {
                    vec![phone.clone()]
                } else {
                    vec![]
                },
                insurance_numbers: vec![insurance.clone()],
                care_level,
                block_keys: vec![],
                is_test: false,
                created_by: s.user_id.clone(),
                created_at: created + n as Millis * 3 * DAY,
            };
            team.push((s.facility_id.clone(), record.created_at));
            out.records.push((record, person.clone()));
        }
        for (facility_id, at) in &team {
            out.team.push(TeamMember {
                person_id: person.clone(),
                facility_id: facility_id.clone(),
                status: TeamStatus::Active,
                invited_by_facility: None,
                invited_by_user: None,
                note: String::new(),
                created_at: *at,
                updated_at: *at,
            });
        }
        // Invitations the care manager and pharmacist find waiting.
        let mut pharmacy_invited = false;
        if !known_by_care && i % 12 == 0 {
            out.team.push(TeamMember {
                person_id: person.clone(),
                facility_id: care.facility_id.clone(),
                status: TeamStatus::Invited,
                invited_by_facility: Some(hospital.facility_id.clone()),
                invited_by_user: Some(hospital.user_id.clone()),
                note: "退院前カンファレンスのご相談".into(),
                created_at: created,
                updated_at: created,
            });
        } else if let Some(p) = pharmacy.as_ref().filter(|_| i % 9 == 0) {
            pharmacy_invited = true;
            out.team.push(TeamMember {
                person_id: person.clone(),
                facility_id: p.facility_id.clone(),
                status: TeamStatus::Invited,
                invited_by_facility: Some(hospital.facility_id.clone()),
                invited_by_user: Some(hospital.user_id.clone()),
                note: "服薬管理のご依頼".into(),
                created_at: created,
                updated_at: created,
            });
        }
        // Consent: mostly comprehensive, obtained by the hospital's MSW desk.
        let roll = rng.gen_range(0..100);
        if roll < 92 {
            let individual = roll >= 84;
            let consent = NewConsent {
                id: hex_id(rng),
                person_id: person.clone(),
                scope: if individual {
                    ConsentScope::Individual
                } else {
                    ConsentScope::Comprehensive
                },
                facilities: if individual {
                    team.iter().take(2).map(|(f, _)| f.clone()).collect()
                } else {
                    vec![]
                },
                excluded: if roll % 5 == 0 {
                    vec![InfoCategory::Psychiatric]
                } else {
                    vec![]
                },
                form: if roll % 7 == 0 {
                    "verbal".into()
                } else {
                    "written".into()
                },
                signer: if roll % 4 == 0 {
                    "proxy".into()
                } else {
                    "patient".into()
                },
                proxy_name: if roll % 4 == 0 {
                    format!("{} {}", family.kanji, crate::one(rng, FEMALE_GIVEN).kanji)
                } else {
                    String::new()
                },
                proxy_relationship: if roll % 4 == 0 {
                    crate::one(rng, &["長女", "長男", "配偶者", "次女"]).to_string()
                } else {
                    String::new()
                },
                family_participation: roll % 3 == 0,
                family_note: String::new(),
                obtained_by: hospital.user_id.clone(),
                obtained_facility_id: hospital.facility_id.clone(),
                obtained_at: created,
                place: "地域医療連携室".into(),
                card_number: format!("TMK-{:06}", i + 1),
                created_at: created,
            };
            let withdrawn = (roll >= 89).then_some(created + 40 * DAY);
            out.consents.push((consent, withdrawn));
        }
        // The pharmacy that fills the person's prescriptions joins the team (invited by the
        // hospital, accepted) under a comprehensive consent that was never withdrawn: the
        // featured pharmacy for most, another of the city's pharmacies for some. Chosen by
        // position, not by a random draw, so the rest of the network stays as it was.
        if roll < 84 && !pharmacy_invited {
            let chosen = match i % 10 {
                0..=5 => pharmacy.as_ref().map(|p| p.facility_id.clone()),
                6 | 7 if !other_pharmacies.is_empty() => {
                    Some(other_pharmacies[(i * 7) % other_pharmacies.len()].clone())
                }
                _ => None,
            };
            if let Some(facility_id) = chosen {
                let at = created + 7 * DAY;
                out.team.push(TeamMember {
                    person_id: person.clone(),
                    facility_id,
                    status: TeamStatus::Active,
                    invited_by_facility: Some(hospital.facility_id.clone()),
                    invited_by_user: Some(hospital.user_id.clone()),
                    note: "服薬管理のご依頼".into(),
                    created_at: at,
                    updated_at: at,
                });
            }
        }
    }
    add_review_pairs(rng, &mut out, &mut clinic);
    out
}

/// Active pharmacies with a pharmacist account, other than `featured`, in import order.
fn pharmacies(import: &NetworkImport, featured: Option<&str>) -> Vec<String> {
    use renkei_domain::{FacilityStatus, FacilityType, Profession};
    import
        .facilities
        .iter()
        .filter(|(f, status, _)| {
            f.facility_type == FacilityType::Pharmacy
                && *status == FacilityStatus::Active
                && Some(f.id.as_str()) != featured
                && import.users.iter().any(|u| {
                    u.profession == Profession::Pharmacist
                        && u.memberships.iter().any(|(m, _)| *m == f.id)
                })
        })
        .map(|(f, _, _)| f.id.clone())
        .collect()
}

/// Three people registered twice with a birth-date typo: the matcher left them for the
/// secretariat.
fn add_review_pairs(rng: &mut StdRng, out: &mut PatientImport, clinic: &mut Site) {
    let originals: Vec<(NewPatientRecord, String)> = out
        .records
        .iter()
        .filter(|(r, _)| r.local_id.starts_with('H'))
        .take(3)
        .cloned()
        .collect();
    for (original, _) in originals {
        let person = hex_id(rng);
        out.persons
            .push((person.clone(), original.created_at + 5 * DAY));
        let mut typo = original.birth_date.clone();
        let last = typo
            .pop()
            .map(|c| if c == '1' { '7' } else { '1' })
            .unwrap_or('1');
        typo.push(last);
        let record = NewPatientRecord {
            id: hex_id(rng),
            facility_id: clinic.facility_id.clone(),
            id_system: clinic.id_system(),
            local_id: clinic.next_id(),
            birth_date: typo,
            phones: vec![],
            address: String::new(),
            created_by: clinic.user_id.clone(),
            created_at: original.created_at + 5 * DAY,
            ..original.clone()
        };
        out.team.push(TeamMember {
            person_id: person.clone(),
            facility_id: clinic.facility_id.clone(),
            status: TeamStatus::Active,
            invited_by_facility: None,
            invited_by_user: None,
            note: String::new(),
            created_at: record.created_at,
            updated_at: record.created_at,
        });
        let detail = review_detail();
        out.reviews.push((
            record.id.clone(),
            NewMatchReview {
                id: hex_id(rng),
                candidate_record_id: original.id.clone(),
                weight: 17.5,
                probability: 0.62,
                detail,
            },
        ));
        out.records.push((record, person));
    }
}

/// The per-field explanation the review page shows, as the matcher would store it.
fn review_detail() -> String {
    r#"[{"field":"family","level":"exact","weight":9.1},{"field":"given","level":"exact","weight":8.4},{"field":"birth_date","level":"one_digit","weight":2.3},{"field":"sex","level":"agree","weight":1.0},{"field":"phone","level":"missing","weight":0.0},{"field":"address","level":"missing","weight":0.0}]"#.to_string()
}
