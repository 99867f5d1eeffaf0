//! Home-care group cover (在宅医療の当番・連携グループ): clinics and home-visit nursing
//! stations form an on-call group, keep a rota, and choose which of their care-team patients
//! the group covers. `GET|POST /cover-groups` (my groups, invitations, create),
//! `GET /cover-groups/{id}` (members, the rota as a week table, add a shift, my facility's
//! covered patients), `POST /cover-groups/{id}/{invite,answer,leave,remove,shifts,patients}`,
//! `POST /cover-groups/{id}/shifts/{shift}/delete`; and the home page card of a facility on
//! call ([`on_call_cards`]).
//!
//! Groups and the rota are the network's own business (no patient data), shown to member
//! facilities only (others get 404). The covered-patient list shows a member's own care-team
//! patients to its administrator and is audited. What a shift opens is decided by the one
//! access rule (`renkei_domain::patient::decide`, basis `group_cover`): the patient pages
//! themselves go through it and audit every read with the shift id.
//!
//! Membership and rota changes notify who has to act or know, in the change's transaction
//! (live badge after the commit): an invitation the invited facility's administrators, a
//! shift put on another facility's rota that facility's staff, a member leaving or removed
//! the administrators of the other members (and of the removed facility).

use super::notices::refused;
use super::{jst, parse_jst_date, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::Outcome;
use renkei_domain::patient::InfoCategory;
use renkei_domain::{ids, now_millis, FacilityStatus, FacilityType, MemberRole};
use renkei_storage::cover::{member_status, CoverGroup, CoverMember, CoverShift, CoveredChoice};
use renkei_storage::notifications::{kind, Notification, ReadSelector};
use renkei_storage::{Facility, FacilityQuery, StoreError};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

pub const NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 1000;
pub const ON_CALL_MAX: usize = 100;
/// The longest shift: a long weekend (Friday evening to Tuesday morning) fits.
pub const SHIFT_MAX_MILLIS: i64 = 4 * 24 * HOUR;
/// How far ahead the rota may be planned.
pub const PLAN_AHEAD_MILLIS: i64 = 400 * 24 * HOUR;
/// Most patients one member may list one by one (beyond that, "all my team patients").
pub const COVERED_MAX: usize = 500;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const JST_OFFSET: i64 = 9 * HOUR;

/// Facilities that take part in home-care cover: clinics and home-visit nursing stations.
pub fn may_take_part(t: FacilityType) -> bool {
    matches!(
        t,
        FacilityType::Clinic | FacilityType::HomeVisitClinic | FacilityType::HomeNursingStation
    )
}

/// The facility the session acts for, when its administrator may manage cover groups.
fn admin_facility(viewer: &Viewer) -> Option<&Facility> {
    viewer
        .admin_facility()
        .filter(|f| may_take_part(f.facility_type))
}

/// `YYYY-MM-DDTHH:MM` as JST.
fn parse_jst_datetime(s: &str) -> Option<i64> {
    use chrono::{FixedOffset, NaiveDateTime, TimeZone};
    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M").ok()?;
    FixedOffset::east_opt(9 * 3600)?
        .from_local_datetime(&t)
        .single()
        .map(|t| t.timestamp_millis())
}

/// `HH:MM` in JST.
fn jst_time(millis: i64) -> String {
    jst(millis).chars().skip(11).collect()
}

/// The Monday 00:00 JST of the week containing `millis`.
fn week_start(millis: i64) -> i64 {
    let local_days = (millis + JST_OFFSET).div_euclid(DAY);
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday.
    let monday = local_days - (local_days + 3).rem_euclid(7);
    monday * DAY - JST_OFFSET
}

// --- notifications --------------------------------------------------------------------------

/// Active users with an active membership in `facility_id` (its administrators only, if
/// asked), the viewer left out: nobody is notified of their own act.
async fn staff_of(
    state: &SharedState,
    viewer: &Viewer,
    facility_id: &str,
    admins_only: bool,
) -> AppResult<Vec<String>> {
    Ok(state
        .store
        .facility_members(facility_id)
        .await?
        .into_iter()
        .filter(|(u, m)| {
            u.active
                && m.active
                && u.id != viewer.user.id
                && (!admins_only || m.role == MemberRole::FacilityAdmin)
        })
        .map(|(u, _)| u.id)
        .collect())
}

/// One notification per recipient, caused by the viewer, about a group (its `source_id`, so
/// opening the group page marks them read).
fn group_notifications(
    viewer: &Viewer,
    kind: &str,
    group_id: &str,
    link: &str,
    recipients: &[String],
    at: i64,
) -> Vec<Notification> {
    recipients
        .iter()
        .map(|user| Notification {
            id: ids::new_id(),
            user_id: user.clone(),
            kind: kind.to_string(),
            person_id: None,
            actor_user_id: Some(viewer.user.id.clone()),
            actor_facility_id: viewer.session.facility_id.clone(),
            source_id: Some(group_id.to_string()),
            link: link.to_string(),
            created_at: at,
            read_at: None,
        })
        .collect()
}

/// The administrators of the group's active members other than `ending` (which is leaving or
/// removed), and for a removal those of the removed facility too (its link is the list of its
/// groups: the group itself is closed to it from now on).
async fn membership_end_notifications(
    state: &SharedState,
    viewer: &Viewer,
    group_id: &str,
    members: &[CoverMember],
    ending: &str,
    removed: bool,
    at: i64,
) -> AppResult<(Vec<Notification>, Vec<String>)> {
    let mut others = Vec::new();
    for m in members
        .iter()
        .filter(|m| m.status == member_status::ACTIVE && m.facility_id != ending)
    {
        others.extend(staff_of(state, viewer, &m.facility_id, true).await?);
    }
    others.sort();
    others.dedup();
    let mut notes = group_notifications(
        viewer,
        kind::COVER_MEMBER_LEFT,
        group_id,
        &format!("/cover-groups/{group_id}"),
        &others,
        at,
    );
    let mut recipients = others;
    if removed {
        let theirs: Vec<String> = staff_of(state, viewer, ending, true)
            .await?
            .into_iter()
            .filter(|u| !recipients.contains(u))
            .collect();
        notes.extend(group_notifications(
            viewer,
            kind::COVER_MEMBER_LEFT,
            group_id,
            "/cover-groups",
            &theirs,
            at,
        ));
        recipients.extend(theirs);
    }
    Ok((notes, recipients))
}

// --- list and create ----------------------------------------------------------------------

pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: &'static str,
    pub invited: bool,
    pub owner_name: String,
}

#[derive(Template)]
#[template(path = "cover_groups.html")]
struct ListPage {
    c: Chrome,
    groups: Vec<GroupRow>,
    may_create: bool,
    eligible: bool,
    name: String,
    description: String,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct MsgQuery {
    msg: Option<String>,
    week: Option<String>,
}

fn status_key(status: &str) -> &'static str {
    match status {
        member_status::ACTIVE => "cover.status.active",
        member_status::INVITED => "cover.status.invited",
        member_status::DECLINED => "cover.status.declined",
        member_status::LEFT => "cover.status.left",
        _ => "cover.status.removed",
    }
}

async fn facility_name(
    state: &SharedState,
    id: &str,
    cache: &mut HashMap<String, String>,
) -> AppResult<String> {
    if let Some(n) = cache.get(id) {
        return Ok(n.clone());
    }
    let name = state
        .store
        .get_facility(id)
        .await?
        .map(|f| f.name)
        .unwrap_or_default();
    cache.insert(id.to_string(), name.clone());
    Ok(name)
}

async fn list_page(
    state: &SharedState,
    viewer: &Viewer,
    msg: Option<&str>,
    name: String,
    description: String,
    errors: Vec<String>,
) -> AppResult<Html<String>> {
    let tr = viewer.tr();
    let mut groups = Vec::new();
    let eligible = viewer
        .facility()
        .is_some_and(|f| may_take_part(f.facility_type));
    if let Some(f) = viewer.facility() {
        let mut cache = HashMap::new();
        for (g, m) in state.store.cover().cover_groups_of(&f.id).await? {
            if !(m.status == member_status::ACTIVE || m.status == member_status::INVITED) {
                continue;
            }
            groups.push(GroupRow {
                owner_name: facility_name(state, &g.owner_facility_id, &mut cache).await?,
                id: g.id,
                name: g.name,
                description: g.description,
                status: tr.t(status_key(&m.status)),
                invited: m.status == member_status::INVITED,
            });
        }
    }
    render(&ListPage {
        c: Chrome::for_viewer(state, viewer, "cover.title").with_notice(msg),
        groups,
        may_create: admin_facility(viewer).is_some(),
        eligible,
        name,
        description,
        errors,
    })
}

/// `GET /cover-groups`.
pub async fn list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    list_page(
        &state,
        &viewer,
        q.msg.as_deref(),
        String::new(),
        String::new(),
        vec![],
    )
    .await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

/// Checks a text field: required (if asked) and at most `max` characters, no control
/// characters but line breaks.
fn check_text(
    tr: Tr,
    errors: &mut Vec<String>,
    label: &str,
    value: &str,
    max: usize,
    required: bool,
) {
    if required && value.trim().is_empty() {
        errors.push(format!("{}: {}", tr.t(label), tr.t("cover.error.required")));
    } else if value.chars().count() > max {
        errors.push(format!(
            "{}: {} ({max})",
            tr.t(label),
            tr.t("cover.error.too_long")
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        errors.push(format!("{}: {}", tr.t(label), tr.t("cover.error.control")));
    }
}

/// `POST /cover-groups`: an administrator of a clinic or nursing station creates a group.
pub async fn create(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<CreateForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let Some(facility) = admin_facility(&viewer).cloned() else {
        return refused(&state, &viewer, "cover.admin_only", "/cover-groups");
    };
    let tr = viewer.tr();
    let name = form.name.trim().to_string();
    let description = form.description.trim().to_string();
    let mut errors = Vec::new();
    check_text(tr, &mut errors, "cover.field.name", &name, NAME_MAX, true);
    check_text(
        tr,
        &mut errors,
        "cover.field.description",
        &description,
        DESCRIPTION_MAX,
        false,
    );
    if !errors.is_empty() {
        let page = list_page(&state, &viewer, None, name, description, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let group = CoverGroup {
        id: ids::new_id(),
        name,
        description,
        owner_facility_id: facility.id.clone(),
        created_by: viewer.user.id.clone(),
        created_at: now_millis(),
    };
    let audit = viewer
        .audit("cover.group_create", Outcome::Success)
        .target("cover_group", &group.id)
        .detail(json!({ "name": group.name }));
    let id = group.id.clone();
    state.store.cover().create_cover_group(group, audit).await?;
    Ok(Redirect::to(&format!("/cover-groups/{id}?msg=notice.cover_created")).into_response())
}

// --- one group ------------------------------------------------------------------------------

pub struct MemberRow {
    pub facility_id: String,
    pub name: String,
    pub facility_type: &'static str,
    pub status: &'static str,
    pub active: bool,
    pub invited: bool,
    pub owner: bool,
    pub mine: bool,
    pub covers_all: bool,
}

pub struct ShiftCell {
    pub id: String,
    pub from: String,
    pub to: String,
    pub facility: String,
    pub on_call: String,
    pub mine: bool,
    pub current: bool,
    pub deletable: bool,
}

pub struct DayColumn {
    pub label: String,
    pub today: bool,
    pub shifts: Vec<ShiftCell>,
}

pub struct PatientChoice {
    pub person_id: String,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub checked: bool,
}

pub struct Invitable {
    pub id: String,
    pub name: String,
    pub facility_type: &'static str,
}

#[derive(Template)]
#[template(path = "cover_group.html")]
struct GroupPage {
    c: Chrome,
    group: CoverGroup,
    owner_name: String,
    members: Vec<MemberRow>,
    /// The viewer's facility is an active member (not just invited).
    member: bool,
    invited: bool,
    /// Administrator of an active member facility: rota and covered patients.
    admin: bool,
    /// Administrator of the owning facility: invitations and removals.
    owner_admin: bool,
    days: Vec<DayColumn>,
    week: String,
    prev_week: String,
    next_week: String,
    active_members: Vec<(String, String)>,
    invitable: Vec<Invitable>,
    patients: Vec<PatientChoice>,
    covers_all: bool,
    errors: Vec<String>,
    shift_facility: String,
    shift_on_call: String,
    shift_starts: String,
    shift_ends: String,
}

/// What the viewer's facility is in the group: None (a stranger, 404), invited or active.
async fn membership(
    state: &SharedState,
    viewer: &Viewer,
    group_id: &str,
) -> AppResult<(CoverGroup, Vec<CoverMember>, Facility, CoverMember)> {
    let facility = viewer.facility().cloned().ok_or(AppError::NotFound)?;
    let store = state.store.cover();
    let group = store
        .cover_group(group_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let members = store.cover_members(group_id).await?;
    let mine = members
        .iter()
        .find(|m| {
            m.facility_id == facility.id
                && (m.status == member_status::ACTIVE || m.status == member_status::INVITED)
        })
        .cloned()
        .ok_or(AppError::NotFound)?;
    Ok((group, members, facility, mine))
}

fn is_admin_of(viewer: &Viewer, facility_id: &str) -> bool {
    viewer
        .active_memberships()
        .any(|m| m.facility.id == facility_id && m.membership.role == MemberRole::FacilityAdmin)
        && viewer.session.facility_id.as_deref() == Some(facility_id)
}

/// What the group page shows besides the stored state: the values of a refused shift form,
/// and whether showing the page marks the viewer's notifications about the group read.
#[derive(Default)]
struct ShiftDraft {
    facility: String,
    on_call: String,
    starts: String,
    ends: String,
    mark_read: bool,
}

async fn group_page(
    state: &SharedState,
    viewer: &Viewer,
    group_id: &str,
    week: Option<&str>,
    msg: Option<&str>,
    errors: Vec<String>,
    draft: ShiftDraft,
) -> AppResult<Html<String>> {
    let (group, members, facility, mine) = membership(state, viewer, group_id).await?;
    let cleared = if draft.mark_read && viewer.unread_notifications > 0 {
        super::notifications::mark(
            state,
            viewer,
            ReadSelector::Sources(vec![group_id.to_string()]),
        )
        .await?
    } else {
        0
    };
    let tr = viewer.tr();
    let lang = viewer.lang();
    let now = now_millis();
    let member = mine.status == member_status::ACTIVE;
    let admin = member && is_admin_of(viewer, &facility.id);
    let owner_admin = admin && group.owner_facility_id == facility.id;
    let mut cache = HashMap::new();
    let mut rows = Vec::new();
    let mut active_members = Vec::new();
    for m in &members {
        let f = state.store.get_facility(&m.facility_id).await?;
        let (name, facility_type) = f
            .map(|f| (f.name, f.facility_type.label(lang)))
            .unwrap_or_default();
        cache.insert(m.facility_id.clone(), name.clone());
        if m.status == member_status::ACTIVE {
            active_members.push((m.facility_id.clone(), name.clone()));
        }
        // Former members and declined invitations stay in the record but not in the list
        // members work with, except for the owner who manages the group.
        if !(m.status == member_status::ACTIVE || m.status == member_status::INVITED || owner_admin)
        {
            continue;
        }
        rows.push(MemberRow {
            facility_id: m.facility_id.clone(),
            name,
            facility_type,
            status: tr.t(status_key(&m.status)),
            active: m.status == member_status::ACTIVE,
            invited: m.status == member_status::INVITED,
            owner: m.facility_id == group.owner_facility_id,
            mine: m.facility_id == facility.id,
            covers_all: m.covers_all,
        });
    }
    let owner_name = cache
        .get(&group.owner_facility_id)
        .cloned()
        .unwrap_or_default();
    // The rota, one column a day (Monday first), shifts listed on each day they touch.
    let start = week
        .and_then(parse_jst_date)
        .map(week_start)
        .unwrap_or_else(|| week_start(now));
    let shifts = if member {
        state
            .store
            .cover()
            .cover_shifts(group_id, start, start + 7 * DAY)
            .await?
    } else {
        vec![]
    };
    let weekday_keys = [
        "cover.mon",
        "cover.tue",
        "cover.wed",
        "cover.thu",
        "cover.fri",
        "cover.sat",
        "cover.sun",
    ];
    let mut days = Vec::new();
    for (i, key) in weekday_keys.iter().enumerate() {
        let day_start = start + i as i64 * DAY;
        let day_end = day_start + DAY;
        let date = jst(day_start);
        let mut cells = Vec::new();
        for s in shifts
            .iter()
            .filter(|s| s.starts_at < day_end && s.ends_at > day_start)
        {
            cells.push(shift_cell(state, s, &facility.id, admin, now, &mut cache).await?);
        }
        days.push(DayColumn {
            label: format!("{} ({})", &date[5..10], tr.t(key)),
            today: now >= day_start && now < day_end,
            shifts: cells,
        });
    }
    // Facilities the owner may invite: active clinics and nursing stations not already in.
    let mut invitable = Vec::new();
    if owner_admin {
        for t in [
            FacilityType::HomeVisitClinic,
            FacilityType::Clinic,
            FacilityType::HomeNursingStation,
        ] {
            let page = state
                .store
                .search_facilities(&FacilityQuery {
                    facility_type: Some(t),
                    status: Some(FacilityStatus::Active),
                    limit: 500,
                    ..Default::default()
                })
                .await?;
            for f in page.items {
                let taken = members.iter().any(|m| {
                    m.facility_id == f.id
                        && (m.status == member_status::ACTIVE || m.status == member_status::INVITED)
                });
                if !taken {
                    invitable.push(Invitable {
                        id: f.id.clone(),
                        name: f.name.clone(),
                        facility_type: f.facility_type.label(lang),
                    });
                }
            }
        }
    }
    // The administrator's own care-team patients, to choose which the group covers.
    let mut patients = Vec::new();
    let mut covers_all = false;
    if admin {
        let choice = state
            .store
            .cover()
            .covered_choice(group_id, &facility.id)
            .await?;
        covers_all = choice.covers_all;
        for r in state
            .store
            .team_patients(&facility.id, None, COVERED_MAX as i64)
            .await?
        {
            if patients
                .iter()
                .any(|p: &PatientChoice| p.person_id == r.person_id)
            {
                continue;
            }
            patients.push(PatientChoice {
                checked: choice.person_ids.contains(&r.person_id),
                name: r.full_name(),
                kana: r.full_kana(),
                birth_date: r.birth_date.clone(),
                person_id: r.person_id.clone(),
            });
        }
        let shown: Vec<&str> = patients.iter().map(|p| p.person_id.as_str()).collect();
        state
            .store
            .append_audit(
                viewer
                    .audit("cover.patients_view", Outcome::Success)
                    .target("cover_group", group_id)
                    .detail(json!({ "persons": shown })),
            )
            .await?;
    }
    let week = jst(start)[..10].to_string();
    render(&GroupPage {
        c: Chrome {
            unread: (viewer.unread_notifications - cleared as i64).max(0),
            ..Chrome::for_viewer(state, viewer, "cover.group_title").with_notice(msg)
        },
        owner_name,
        members: rows,
        member,
        invited: mine.status == member_status::INVITED,
        admin,
        owner_admin,
        days,
        prev_week: jst(start - 7 * DAY)[..10].to_string(),
        next_week: jst(start + 7 * DAY)[..10].to_string(),
        week,
        active_members,
        invitable,
        patients,
        covers_all,
        errors,
        shift_facility: if draft.facility.is_empty() {
            facility.id.clone()
        } else {
            draft.facility
        },
        shift_on_call: draft.on_call,
        shift_starts: draft.starts,
        shift_ends: draft.ends,
        group,
    })
}

async fn shift_cell(
    state: &SharedState,
    s: &CoverShift,
    my_facility: &str,
    admin: bool,
    now: i64,
    cache: &mut HashMap<String, String>,
) -> AppResult<ShiftCell> {
    Ok(ShiftCell {
        id: s.id.clone(),
        from: jst(s.starts_at)[5..].to_string(),
        to: jst(s.ends_at)[5..].to_string(),
        facility: facility_name(state, &s.facility_id, cache).await?,
        on_call: s.on_call.clone(),
        mine: s.facility_id == my_facility,
        current: s.starts_at <= now && now < s.ends_at,
        deletable: admin && s.starts_at > now,
    })
}

/// `GET /cover-groups/{id}[?week=YYYY-MM-DD]`. Seeing the group marks the viewer's
/// notifications about it read.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    group_page(
        &state,
        &viewer,
        &id,
        q.week.as_deref(),
        q.msg.as_deref(),
        vec![],
        ShiftDraft {
            mark_read: true,
            ..ShiftDraft::default()
        },
    )
    .await
}

/// The group and the viewer's facility, when the viewer administers an active member
/// facility (refusal otherwise; strangers get 404).
async fn require_member_admin(
    state: &SharedState,
    viewer: &Viewer,
    group_id: &str,
) -> AppResult<Result<(CoverGroup, Vec<CoverMember>, Facility), Response>> {
    let (group, members, facility, mine) = membership(state, viewer, group_id).await?;
    if mine.status != member_status::ACTIVE || !is_admin_of(viewer, &facility.id) {
        let back = format!("/cover-groups/{group_id}");
        return Ok(Err(refused(state, viewer, "cover.admin_only", &back)?));
    }
    Ok(Ok((group, members, facility)))
}

fn back_to(group_id: &str, msg: &str) -> Response {
    Redirect::to(&format!("/cover-groups/{group_id}?msg={msg}")).into_response()
}

#[derive(Deserialize)]
pub struct FacilityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    facility_id: String,
}

/// `POST /cover-groups/{id}/invite`: the owner invites a clinic or nursing station.
pub async fn invite(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<FacilityForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (group, _, facility) = match require_member_admin(&state, &viewer, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let back = format!("/cover-groups/{id}");
    if group.owner_facility_id != facility.id {
        return refused(&state, &viewer, "cover.owner_only", &back);
    }
    let invitee = state.store.get_facility(form.facility_id.trim()).await?;
    let Some(invitee) =
        invitee.filter(|f| f.status == FacilityStatus::Active && may_take_part(f.facility_type))
    else {
        return form_error(&state, &viewer, &id, "cover.error.not_invitable").await;
    };
    let audit = viewer
        .audit("cover.invite", Outcome::Success)
        .target("cover_group", &id)
        .detail(json!({ "facility": invitee.id }));
    // Its administrators answer, so they are the ones told.
    let now = now_millis();
    let recipients = staff_of(&state, &viewer, &invitee.id, true).await?;
    let notes = group_notifications(
        &viewer,
        kind::COVER_INVITATION,
        &id,
        &format!("/cover-groups/{id}"),
        &recipients,
        now,
    );
    match state
        .store
        .cover()
        .invite_to_cover_group(&id, &invitee.id, &viewer.user.id, now, audit, notes)
        .await
    {
        Ok(()) => {
            super::notifications::announce(&state, &recipients, true).await;
            Ok(back_to(&id, "notice.cover_invited"))
        }
        Err(StoreError::Conflict(_)) => {
            form_error(&state, &viewer, &id, "cover.error.already_member").await
        }
        Err(e) => Err(e.into()),
    }
}

/// The group page again with one message, as 422.
async fn form_error(
    state: &SharedState,
    viewer: &Viewer,
    id: &str,
    key: &str,
) -> AppResult<Response> {
    let page = group_page(
        state,
        viewer,
        id,
        None,
        None,
        vec![viewer.tr().t(key).to_string()],
        ShiftDraft::default(),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    answer: String,
}

/// `POST /cover-groups/{id}/answer`: the invited facility's administrator accepts or
/// declines.
pub async fn answer(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (_, _, facility, mine) = membership(&state, &viewer, &id).await?;
    if !is_admin_of(&viewer, &facility.id) || !may_take_part(facility.facility_type) {
        return refused(&state, &viewer, "cover.admin_only", "/cover-groups");
    }
    let accept = match form.answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => {
            return Err(AppError::BadRequest(
                "answer must be accept or decline".into(),
            ))
        }
    };
    if mine.status != member_status::INVITED {
        return Ok(Redirect::to("/cover-groups?msg=notice.cover_no_invitation").into_response());
    }
    let audit = viewer
        .audit(
            if accept {
                "cover.accept"
            } else {
                "cover.decline"
            },
            Outcome::Success,
        )
        .target("cover_group", &id);
    match state
        .store
        .cover()
        .answer_cover_invitation(&id, &facility.id, accept, now_millis(), audit)
        .await
    {
        Ok(()) if accept => Ok(back_to(&id, "notice.cover_joined")),
        Ok(()) => Ok(Redirect::to("/cover-groups?msg=notice.cover_declined").into_response()),
        Err(StoreError::InvalidState(_)) => {
            Ok(Redirect::to("/cover-groups?msg=notice.cover_no_invitation").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /cover-groups/{id}/leave`: a member leaves (not the owner, who keeps the group).
pub async fn leave(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (group, members, facility) = match require_member_admin(&state, &viewer, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    if group.owner_facility_id == facility.id {
        return form_error(&state, &viewer, &id, "cover.error.owner_cannot_leave").await;
    }
    let audit = viewer
        .audit("cover.leave", Outcome::Success)
        .target("cover_group", &id);
    let now = now_millis();
    let (notes, recipients) =
        membership_end_notifications(&state, &viewer, &id, &members, &facility.id, false, now)
            .await?;
    state
        .store
        .cover()
        .end_cover_membership(&id, &facility.id, member_status::LEFT, now, audit, notes)
        .await?;
    super::notifications::announce(&state, &recipients, true).await;
    Ok(Redirect::to("/cover-groups?msg=notice.cover_left").into_response())
}

/// `POST /cover-groups/{id}/remove`: the owner removes a member or withdraws an invitation.
pub async fn remove(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<FacilityForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (group, members, facility) = match require_member_admin(&state, &viewer, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let back = format!("/cover-groups/{id}");
    if group.owner_facility_id != facility.id {
        return refused(&state, &viewer, "cover.owner_only", &back);
    }
    if form.facility_id == facility.id {
        return form_error(&state, &viewer, &id, "cover.error.owner_cannot_leave").await;
    }
    let audit = viewer
        .audit("cover.remove", Outcome::Success)
        .target("cover_group", &id)
        .detail(json!({ "facility": form.facility_id }));
    // Withdrawing an invitation concerns only the owner; removing a member the others too.
    let now = now_millis();
    let was_member = members
        .iter()
        .any(|m| m.facility_id == form.facility_id && m.status == member_status::ACTIVE);
    let (notes, recipients) = if was_member {
        membership_end_notifications(&state, &viewer, &id, &members, &form.facility_id, true, now)
            .await?
    } else {
        (vec![], vec![])
    };
    match state
        .store
        .cover()
        .end_cover_membership(
            &id,
            &form.facility_id,
            member_status::REMOVED,
            now,
            audit,
            notes,
        )
        .await
    {
        Ok(()) => {
            super::notifications::announce(&state, &recipients, true).await;
            Ok(back_to(&id, "notice.cover_removed"))
        }
        Err(StoreError::InvalidState(_)) => {
            form_error(&state, &viewer, &id, "cover.error.not_a_member").await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ShiftForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    facility_id: String,
    #[serde(default)]
    on_call: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
}

/// `POST /cover-groups/{id}/shifts`: an administrator of a member adds a shift for any
/// active member. Times are JST; a shift may not start before the current minute, must end
/// after it starts, lasts at most [`SHIFT_MAX_MILLIS`], and may not overlap another shift of
/// the group.
pub async fn add_shift(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ShiftForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (_, members, facility) = match require_member_admin(&state, &viewer, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let tr = viewer.tr();
    let now = now_millis();
    let mut errors = Vec::new();
    let on_call = form.on_call.trim().to_string();
    check_text(
        tr,
        &mut errors,
        "cover.field.on_call",
        &on_call,
        ON_CALL_MAX,
        false,
    );
    if on_call.contains('\n') || on_call.contains('\r') {
        errors.push(format!(
            "{}: {}",
            tr.t("cover.field.on_call"),
            tr.t("cover.error.control")
        ));
    }
    let covering_member = members
        .iter()
        .any(|m| m.facility_id == form.facility_id && m.status == member_status::ACTIVE);
    if !covering_member {
        errors.push(tr.t("cover.error.not_a_member").to_string());
    }
    let starts = parse_jst_datetime(&form.starts_at);
    let ends = parse_jst_datetime(&form.ends_at);
    match (starts, ends) {
        (Some(s), Some(e)) => {
            if s < now - now.rem_euclid(60_000) {
                errors.push(tr.t("cover.error.past").to_string());
            } else if s > now + PLAN_AHEAD_MILLIS {
                errors.push(tr.t("cover.error.too_far").to_string());
            }
            if e <= s {
                errors.push(tr.t("cover.error.ends_before_start").to_string());
            } else if e - s > SHIFT_MAX_MILLIS {
                errors.push(tr.t("cover.error.too_long_shift").to_string());
            }
        }
        _ => errors.push(tr.t("cover.error.datetime").to_string()),
    }
    let draft = ShiftDraft {
        facility: form.facility_id.clone(),
        on_call: on_call.clone(),
        starts: form.starts_at.chars().take(16).collect(),
        ends: form.ends_at.chars().take(16).collect(),
        mark_read: false,
    };
    let week = starts.map(|s| jst(s)[..10].to_string());
    if errors.is_empty() {
        let (Some(starts_at), Some(ends_at)) = (starts, ends) else {
            return Err(AppError::Internal("checked above".into()));
        };
        let shift = CoverShift {
            id: ids::new_id(),
            group_id: id.clone(),
            facility_id: form.facility_id.clone(),
            on_call,
            starts_at,
            ends_at,
            created_by: viewer.user.id.clone(),
            created_at: now,
        };
        let audit = viewer
            .audit("cover.shift_add", Outcome::Success)
            .target("cover_group", &id)
            .detail(json!({
                "shift": shift.id,
                "facility": shift.facility_id,
                "starts_at": shift.starts_at,
                "ends_at": shift.ends_at,
            }));
        // A shift put on another facility's rota is news to that facility's staff.
        let week_link = format!(
            "/cover-groups/{id}?week={}",
            week.clone().unwrap_or_default()
        );
        let recipients = if shift.facility_id != facility.id {
            staff_of(&state, &viewer, &shift.facility_id, false).await?
        } else {
            vec![]
        };
        let notes = group_notifications(
            &viewer,
            kind::COVER_SHIFT,
            &id,
            &week_link,
            &recipients,
            now,
        );
        match state
            .store
            .cover()
            .add_cover_shift(shift, audit, notes)
            .await
        {
            Ok(()) => {
                super::notifications::announce(&state, &recipients, true).await;
                return Ok(Redirect::to(&format!(
                    "/cover-groups/{id}?msg=notice.cover_shift_added&week={}",
                    week.unwrap_or_default()
                ))
                .into_response());
            }
            Err(StoreError::Conflict(_)) => errors.push(tr.t("cover.error.overlap").to_string()),
            Err(StoreError::InvalidState(_)) => {
                errors.push(tr.t("cover.error.not_a_member").to_string())
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = group_page(&state, &viewer, &id, week.as_deref(), None, errors, draft).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// `POST /cover-groups/{id}/shifts/{shift}/delete`: only shifts that have not started.
pub async fn delete_shift(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((id, shift)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    if let Err(r) = require_member_admin(&state, &viewer, &id).await? {
        return Ok(r);
    }
    let audit = viewer
        .audit("cover.shift_delete", Outcome::Success)
        .target("cover_group", &id)
        .detail(json!({ "shift": shift }));
    match state
        .store
        .cover()
        .delete_cover_shift(&id, &shift, now_millis(), audit)
        .await
    {
        Ok(()) => Ok(back_to(&id, "notice.cover_shift_deleted")),
        Err(StoreError::InvalidState(_)) => {
            form_error(&state, &viewer, &id, "cover.error.started").await
        }
        Err(StoreError::NotFound(_)) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// `POST /cover-groups/{id}/patients`: `all=1` and/or `person=<id>` repeated.
pub async fn set_patients(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    viewer.check_csrf(csrf)?;
    let (_, _, facility) = match require_member_admin(&state, &viewer, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let covers_all = pairs.iter().any(|(k, v)| k == "all" && v == "1");
    let person_ids: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "person")
        .map(|(_, v)| v.clone())
        .collect();
    if person_ids.len() > COVERED_MAX {
        return form_error(&state, &viewer, &id, "cover.error.too_many").await;
    }
    let audit = viewer
        .audit("cover.patients_set", Outcome::Success)
        .target("cover_group", &id)
        .detail(json!({ "all": covers_all, "persons": person_ids }));
    match state
        .store
        .cover()
        .set_covered_choice(
            &id,
            &facility.id,
            CoveredChoice {
                covers_all,
                person_ids,
            },
            now_millis(),
            audit,
        )
        .await
    {
        Ok(()) => Ok(back_to(&id, "notice.cover_patients_saved")),
        Err(StoreError::InvalidState(_)) => {
            form_error(&state, &viewer, &id, "cover.error.not_team_patient").await
        }
        Err(e) => Err(e.into()),
    }
}

// --- the home page card ---------------------------------------------------------------------

pub struct CoveredPatient {
    pub person_id: String,
    pub name: String,
    pub kana: String,
}

pub struct OnCallCard {
    pub group_id: String,
    pub group_name: String,
    pub until: String,
    pub patients: Vec<CoveredPatient>,
    /// Covered patients the consent does not let this facility see (not named).
    pub hidden: usize,
}

/// Most patients a home card lists per group.
const CARD_MAX: usize = 100;

/// "当番中" cards for the staff of a facility on call now: the group, the end of the shift and
/// the covered patients the rule lets the facility open. Each listed patient is one audited
/// read (basis `group_cover`, with the shift).
pub async fn on_call_cards(state: &SharedState, viewer: &Viewer) -> AppResult<Vec<OnCallCard>> {
    let Some(facility) = viewer.facility() else {
        return Ok(vec![]);
    };
    if !may_take_part(facility.facility_type) {
        return Ok(vec![]);
    }
    let now = now_millis();
    let shifts = state
        .store
        .cover()
        .current_cover_shifts(&facility.id, now)
        .await?;
    let requester = viewer.requester();
    let origin = viewer.origin("page:/ (on-call card)");
    let mut cards = Vec::new();
    for (group, shift) in shifts {
        let mut patients = Vec::new();
        let mut hidden = 0;
        for person in state
            .store
            .cover()
            .covered_persons(&group.id)
            .await?
            .into_iter()
            .take(CARD_MAX)
        {
            let decision = renkei_core::access::authorize(
                state.store.as_ref(),
                &requester,
                &origin,
                &person,
                InfoCategory::Demographics,
                None,
            )
            .await?;
            if !decision.is_permit() {
                hidden += 1;
                continue;
            }
            let records = renkei_core::access::visible_records(
                state.store.as_ref(),
                &requester,
                &person,
                InfoCategory::Demographics,
                now,
            )
            .await?;
            let Some(r) = records
                .iter()
                .find(|r| r.facility_id == facility.id)
                .or(records.first())
            else {
                hidden += 1;
                continue;
            };
            patients.push(CoveredPatient {
                person_id: person.clone(),
                name: r.full_name(),
                kana: r.full_kana(),
            });
        }
        cards.push(OnCallCard {
            group_id: group.id.clone(),
            group_name: group.name.clone(),
            // The time alone when the shift ends today (JST), else with the date.
            until: if jst(shift.ends_at)[..10] == jst(now)[..10] {
                jst_time(shift.ends_at)
            } else {
                jst(shift.ends_at)[5..].to_string()
            },
            patients,
            hidden,
        });
    }
    Ok(cards)
}
