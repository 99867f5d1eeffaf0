//! The demo's home-care on-call group (在宅医療当番グループ): the featured clinic (owner),
//! the featured home-visit nursing station and one of the city's home-visit clinics share
//! 24-hour on-call days (08:30 to 08:30 JST) for the current and the next week, so a shift is
//! under way whenever the demo starts. The day under way at the start is the clinic's and the
//! next one the home-visit clinic's: the station is first on call a day later, so whatever a
//! visitor (or the e2e flow) gives the station in a group of their own is not mixed up with
//! the demo's cover in the first hours.
//!
//! The clinic puts a dozen of its care-team patients under the group's cover, those under a
//! comprehensive consent that the station does not already care for, and one under an
//! individual consent (which keeps it closed to the covering facility: the on-call card
//! counts it as hidden); the station puts all of its team patients under cover.
//!
//! Times are relative to `now` (the demo's start); who is in the group follows the featured
//! accounts of the network.

use renkei_domain::patient::{ConsentScope, TeamStatus};
use renkei_domain::{FacilityStatus, FacilityType, MemberRole, Millis};
use renkei_storage::cover::{CoverGroup, CoverShift, CoveredChoice};
use renkei_storage::notifications::{kind, Notification};

use crate::DemoNetwork;

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
const JST: Millis = 9 * HOUR;
/// An on-call day starts at 08:30 JST, when the clinics' own day begins.
const SHIFT_START: Millis = 8 * HOUR + 30 * 60_000;
/// Care-team patients the clinic puts under cover one by one.
const CLINIC_COVERED: usize = 12;

/// The group, and the steps that built it, in the order the store takes them.
#[derive(Debug, Clone)]
pub struct DemoCover {
    pub group: CoverGroup,
    /// (facility id, inviting user, invited at, accepted at).
    pub members: Vec<(String, String, Millis, Millis)>,
    /// (facility id, what it covers, chosen at, by user).
    pub choices: Vec<(String, CoveredChoice, Millis, String)>,
    /// The rota with the notifications each shift caused (a shift put on another
    /// facility's rota by the owner notifies that facility's staff).
    pub shifts: Vec<(CoverShift, Vec<Notification>)>,
}

/// The Monday 00:00 JST of the week containing `t`.
pub fn week_start(t: Millis) -> Millis {
    let local_days = (t + JST).div_euclid(DAY);
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday.
    let monday = local_days - (local_days + 3).rem_euclid(7);
    monday * DAY - JST
}

fn user_of(network: &DemoNetwork, login: &str) -> Option<(String, String, String)> {
    let u = network.import.users.iter().find(|u| u.login_id == login)?;
    let facility = u.memberships.first()?.0.clone();
    Some((u.id.clone(), u.display_name.clone(), facility))
}

/// Active users of a facility: (user id, display name, role).
fn staff_of(network: &DemoNetwork, facility: &str) -> Vec<(String, String, MemberRole)> {
    network
        .import
        .users
        .iter()
        .filter_map(|u| {
            u.memberships
                .iter()
                .find(|(f, _)| f == facility)
                .map(|(_, role)| (u.id.clone(), u.display_name.clone(), *role))
        })
        .collect()
}

/// The demo's on-call group, or `None` when the featured accounts are missing.
pub fn generate(network: &DemoNetwork, now: Millis) -> Option<DemoCover> {
    let (clinic_admin, clinic_admin_name, clinic) = user_of(network, "clinic.admin")?;
    let (_, clinic_doctor_name, _) = user_of(network, "clinic.doctor")?;
    let (station_admin, _, station) = user_of(network, "homenurse.admin")?;
    let (_, nurse_name, _) = user_of(network, "homenurse")?;
    // The city's first active home-visit clinic (在宅療養支援診療所).
    let (home_clinic, _, _) = network.import.facilities.iter().find(|(f, s, _)| {
        f.facility_type == FacilityType::HomeVisitClinic && *s == FacilityStatus::Active
    })?;
    let home_clinic = home_clinic.id.clone();
    let (home_admin, home_admin_name, _) = staff_of(network, &home_clinic)
        .into_iter()
        .find(|(_, _, r)| *r == MemberRole::FacilityAdmin)?;

    let created = week_start(now) - 21 * DAY + 10 * HOUR;
    let group = CoverGroup {
        id: "demo-cover-group-01".into(),
        name: "苫小牧市 在宅医療当番グループ".into(),
        description: "夜間・休日を含む24時間の往診・緊急訪問の当番です。\
                      当番日は8:30から翌朝8:30まで。当番施設は主治医・担当ステーションに翌朝までに経過を連絡してください。\
                      当番の交代は前日までにグループ内で調整し、当番表を更新してください。"
            .into(),
        owner_facility_id: clinic.clone(),
        created_by: clinic_admin.clone(),
        created_at: created,
    };
    let members = vec![
        (
            station.clone(),
            clinic_admin.clone(),
            created + HOUR,
            created + DAY,
        ),
        (
            home_clinic.clone(),
            clinic_admin.clone(),
            created + HOUR,
            created + 2 * DAY,
        ),
    ];

    // What each member covers: the clinic a dozen of its patients (comprehensive consent,
    // not already the station's) and one under an individual consent; the station all.
    let p = &network.import.patients;
    let active_team = |facility: &str| -> Vec<String> {
        let mut v: Vec<String> = p
            .team
            .iter()
            .filter(|m| m.facility_id == facility && m.status == TeamStatus::Active)
            .map(|m| m.person_id.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let station_patients = active_team(&station);
    let consent_of = |person: &str| {
        p.consents
            .iter()
            .find(|(c, withdrawn)| c.person_id == person && withdrawn.is_none())
            .map(|(c, _)| c.scope)
    };
    let clinic_patients: Vec<String> = active_team(&clinic)
        .into_iter()
        .filter(|person| !station_patients.contains(person))
        .collect();
    let mut chosen: Vec<String> = clinic_patients
        .iter()
        .filter(|person| consent_of(person) == Some(ConsentScope::Comprehensive))
        .take(CLINIC_COVERED)
        .cloned()
        .collect();
    chosen.extend(
        clinic_patients
            .iter()
            .find(|person| consent_of(person) == Some(ConsentScope::Individual))
            .cloned(),
    );
    let choices = vec![
        (
            clinic.clone(),
            CoveredChoice {
                covers_all: false,
                person_ids: chosen,
            },
            created + 3 * DAY,
            clinic_admin.clone(),
        ),
        (
            station.clone(),
            CoveredChoice {
                covers_all: true,
                person_ids: vec![],
            },
            created + 3 * DAY,
            station_admin.clone(),
        ),
    ];

    // The rota: from the Sunday before this week to the end of next week, one 24-hour day
    // each, turning clinic → home-visit clinic → station from the day under way now.
    let monday = week_start(now);
    let first = -1i64;
    let today = (now - monday - SHIFT_START).div_euclid(DAY);
    let turn = [
        (
            clinic.clone(),
            format!("院長 {clinic_admin_name}（当番携帯 080-4419-2101）"),
            format!("医師 {clinic_doctor_name}（当番携帯 080-4419-2101）"),
        ),
        (
            home_clinic.clone(),
            format!("院長 {home_admin_name}（当番携帯 080-4419-2102）"),
            format!("院長 {home_admin_name}（当番携帯 080-4419-2102）"),
        ),
        (
            station.clone(),
            format!("看護師 {nurse_name}（当番携帯 080-4419-2103）"),
            format!("看護師 {nurse_name}（当番携帯 080-4419-2103）"),
        ),
    ];
    let station_staff: Vec<String> = staff_of(network, &station)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let mut shifts = Vec::new();
    for d in first..14 {
        let (facility, weekday_person, weekend_person) = &turn[(d - today).rem_euclid(3) as usize];
        let starts_at = monday + d * DAY + SHIFT_START;
        let weekend = (d.rem_euclid(7)) >= 5;
        // This week's rota was entered by each member for itself the week before; next
        // week's by the owner a few hours ago, which the station's staff were told of.
        let next_week = d >= 7;
        let (created_by, entered_at) = if next_week {
            (clinic_admin.clone(), now - 3 * HOUR)
        } else if facility == &clinic {
            (clinic_admin.clone(), monday - 3 * DAY)
        } else if facility == &station {
            (station_admin.clone(), monday - 3 * DAY)
        } else {
            (home_admin.clone(), monday - 3 * DAY)
        };
        let id = format!("demo-cover-shift-{:02}", d - first + 1);
        let notifications = if next_week && facility == &station {
            station_staff
                .iter()
                .map(|user| Notification {
                    id: format!("{id}-{user}"),
                    user_id: user.clone(),
                    kind: kind::COVER_SHIFT.into(),
                    person_id: None,
                    actor_user_id: Some(clinic_admin.clone()),
                    actor_facility_id: Some(clinic.clone()),
                    source_id: Some(group.id.clone()),
                    link: format!("/cover-groups/{}?week={}", group.id, jst_date(starts_at)),
                    created_at: entered_at,
                    read_at: None,
                })
                .collect()
        } else {
            vec![]
        };
        shifts.push((
            CoverShift {
                id,
                group_id: group.id.clone(),
                facility_id: facility.clone(),
                on_call: if weekend {
                    weekend_person.clone()
                } else {
                    weekday_person.clone()
                },
                starts_at,
                ends_at: starts_at + DAY,
                created_by,
                created_at: entered_at,
            },
            notifications,
        ));
    }
    Some(DemoCover {
        group,
        members,
        choices,
        shifts,
    })
}

/// `YYYY-MM-DD` of `t` in JST.
fn jst_date(t: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(t + JST)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
