//! A facility administrator's screens: invite, edit and deactivate the facility's own
//! staff, and answer the readiness survey.

use super::admin::{issue_reset, setup_link, LinkIssuedPage};
use super::directory::Choice;
use super::{jst, jst_opt, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::Outcome;
use renkei_domain::text::{self, FieldError};
use renkei_domain::{ids, now_millis, Lang, MemberRole, Profession};
use renkei_storage::{Membership, NewUser, ReadinessSurvey, StoreError, User, UserProfile};
use serde::Deserialize;

pub struct StaffRow {
    pub user: User,
    pub profession: &'static str,
    pub role: &'static str,
    pub member_active: bool,
    pub last_login: String,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    c: Chrome,
    facility_name: String,
    rows: Vec<StaffRow>,
    professions: Vec<Choice>,
    roles: Vec<Choice>,
    form: InviteForm,
    errors: Vec<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    display_name_kana: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    role: String,
}

pub fn profession_select(lang: Lang, selected: &str) -> Vec<Choice> {
    Profession::ALL
        .iter()
        .map(|p| Choice {
            code: p.code().into(),
            label: p.label(lang).into(),
            selected: p.code() == selected,
        })
        .collect()
}

fn role_select(lang: Lang, selected: &str) -> Vec<Choice> {
    MemberRole::ALL
        .iter()
        .map(|r| Choice {
            code: r.code().into(),
            label: r.label(lang).into(),
            selected: r.code() == selected,
        })
        .collect()
}

async fn staff_page(
    state: &SharedState,
    viewer: &Viewer,
    form: InviteForm,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<StaffPage> {
    let facility = viewer.require_facility_admin()?;
    let lang = viewer.lang();
    let members = state.store.facility_members(&facility.id).await?;
    Ok(StaffPage {
        c: Chrome::for_viewer(state, viewer, "staff.title").with_notice(notice),
        facility_name: facility.name.clone(),
        rows: members
            .into_iter()
            .map(|(u, m)| StaffRow {
                profession: u.profession.label(lang),
                role: m.role.label(lang),
                member_active: m.active,
                last_login: jst_opt(&u.last_login_at),
                user: u,
            })
            .collect(),
        professions: profession_select(lang, &form.profession),
        roles: role_select(
            lang,
            if form.role.is_empty() {
                "member"
            } else {
                &form.role
            },
        ),
        form,
        errors,
    })
}

#[derive(Deserialize)]
pub struct MsgQuery {
    msg: Option<String>,
}

pub async fn staff_list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    render(
        &staff_page(
            &state,
            &viewer,
            InviteForm::default(),
            vec![],
            q.msg.as_deref(),
        )
        .await?,
    )
}

fn field_errors(viewer: &Viewer, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                viewer.tr().field(e.field),
                e.message(viewer.lang())
            )
        })
        .collect()
}

pub async fn invite(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let facility = viewer.require_facility_admin()?.clone();
    let mut errors = Vec::new();
    let mut take = |r: Result<String, FieldError>| {
        r.unwrap_or_else(|e| {
            errors.push(e);
            String::new()
        })
    };
    let login_id = take(text::login_id("login_id", &form.login_id));
    let display_name = take(text::clean("display_name", &form.display_name, 60, true));
    let display_name_kana = take(text::kana(
        "display_name_kana",
        &form.display_name_kana,
        120,
        true,
    ));
    let email = take(text::email("email", &form.email, true));
    let profession = Profession::from_code(&form.profession);
    let role = MemberRole::from_code(&form.role);
    if profession.is_none() {
        errors.push(FieldError::new("profession", text::Problem::UnknownChoice));
    }
    if role.is_none() {
        errors.push(FieldError::new("role", text::Problem::UnknownChoice));
    }
    let mut messages = field_errors(&viewer, &errors);
    if messages.is_empty() {
        let token = ids::new_token();
        let now = now_millis();
        let expires = now + state.config.setup_link_ttl.as_millis() as i64;
        let user = NewUser {
            id: ids::new_id(),
            login_id: login_id.clone(),
            display_name,
            display_name_kana,
            email,
            profession: profession.unwrap_or(Profession::Other),
            is_secretariat: false,
            password_hash: None,
            totp_secret: None,
            recovery_code_hashes: vec![],
            setup_token_hash: Some(ids::token_hash(&token)),
            setup_expires_at: Some(expires),
            memberships: vec![(facility.id.clone(), role.unwrap_or(MemberRole::Member))],
            created_at: now,
        };
        let audit = viewer.audit("user.invite", Outcome::Success).target("user", &user.id).detail(serde_json::json!({ "login_id": login_id, "facility_id": facility.id, "role": user.memberships[0].1.code() }));
        match state.store.create_user(user, audit).await {
            Ok(created) => {
                let page = LinkIssuedPage {
                    c: Chrome::for_viewer(&state, &viewer, "staff.invited_title"),
                    heading: viewer.tr().t("staff.invited_title").into(),
                    user_name: created.display_name,
                    login_id: created.login_id,
                    link: setup_link(&state, &token),
                    expires: jst(expires),
                    back: "/facility/staff".into(),
                };
                return Ok(render(&page)?.into_response());
            }
            Err(StoreError::Conflict(_)) => {
                messages.push(viewer.tr().t("staff.login_taken").into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = staff_page(
        &state,
        &viewer,
        InviteForm {
            csrf: String::new(),
            ..form
        },
        messages,
        None,
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// The staff member, only if they belong to the administrator's facility.
async fn own_member(
    state: &SharedState,
    viewer: &Viewer,
    user_id: &str,
) -> AppResult<(User, Membership)> {
    let facility = viewer.require_facility_admin()?;
    state
        .store
        .facility_members(&facility.id)
        .await?
        .into_iter()
        .find(|(u, _)| u.id == user_id)
        .ok_or(AppError::NotFound)
}

#[derive(Template)]
#[template(path = "staff_edit.html")]
struct StaffEditPage {
    c: Chrome,
    user: User,
    membership: Membership,
    professions: Vec<Choice>,
    roles: Vec<Choice>,
    errors: Vec<String>,
    is_self: bool,
}

pub async fn staff_edit_page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Html<String>> {
    let (user, membership) = own_member(&state, &viewer, &id).await?;
    let lang = viewer.lang();
    let page = StaffEditPage {
        c: Chrome::for_viewer(&state, &viewer, "staff.edit_title"),
        professions: profession_select(lang, user.profession.code()),
        roles: role_select(lang, membership.role.code()),
        is_self: user.id == viewer.user.id,
        user,
        membership,
        errors: vec![],
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct StaffUpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    display_name_kana: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    role: String,
}

pub async fn staff_update(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<StaffUpdateForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (user, membership) = own_member(&state, &viewer, &id).await?;
    let is_self = user.id == viewer.user.id;
    match form.action.as_str() {
        "deactivate" | "reactivate" => {
            if is_self {
                // An administrator cannot lock themselves out; another admin or the secretariat must.
                return Err(AppError::BadRequest(viewer.tr().t("staff.not_self").into()));
            }
            let active = form.action == "reactivate";
            let audit = viewer
                .audit(
                    if active {
                        "member.reactivate"
                    } else {
                        "member.deactivate"
                    },
                    Outcome::Success,
                )
                .target("user", &user.id);
            state
                .store
                .set_membership(
                    Membership {
                        active,
                        ..membership
                    },
                    audit,
                )
                .await?;
            Ok(Redirect::to("/facility/staff?msg=notice.saved").into_response())
        }
        "update" => {
            let mut errors = Vec::new();
            let mut take = |r: Result<String, FieldError>| {
                r.unwrap_or_else(|e| {
                    errors.push(e);
                    String::new()
                })
            };
            let profile = UserProfile {
                display_name: take(text::clean("display_name", &form.display_name, 60, true)),
                display_name_kana: take(text::kana(
                    "display_name_kana",
                    &form.display_name_kana,
                    120,
                    true,
                )),
                email: take(text::email("email", &form.email, true)),
                profession: Profession::from_code(&form.profession).unwrap_or(user.profession),
            };
            let role = MemberRole::from_code(&form.role);
            if Profession::from_code(&form.profession).is_none() {
                errors.push(FieldError::new("profession", text::Problem::UnknownChoice));
            }
            if role.is_none() {
                errors.push(FieldError::new("role", text::Problem::UnknownChoice));
            }
            if is_self && role != Some(MemberRole::FacilityAdmin) {
                errors.push(FieldError::new("role", text::Problem::UnknownChoice));
            }
            if !errors.is_empty() {
                let lang = viewer.lang();
                let page = StaffEditPage {
                    c: Chrome::for_viewer(&state, &viewer, "staff.edit_title"),
                    professions: profession_select(lang, &form.profession),
                    roles: role_select(lang, &form.role),
                    errors: field_errors(&viewer, &errors),
                    is_self,
                    user,
                    membership,
                };
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
            }
            state
                .store
                .update_user_profile(
                    &user.id,
                    profile,
                    viewer
                        .audit("user.update", Outcome::Success)
                        .target("user", &user.id),
                )
                .await?;
            let role = role.unwrap_or(membership.role);
            if role != membership.role {
                let audit = viewer
                    .audit("member.role", Outcome::Success)
                    .target("user", &user.id)
                    .detail(serde_json::json!({ "role": role.code() }));
                state
                    .store
                    .set_membership(Membership { role, ..membership }, audit)
                    .await?;
            }
            Ok(Redirect::to("/facility/staff?msg=notice.saved").into_response())
        }
        _ => Err(AppError::BadRequest("unknown action".into())),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn staff_reset(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let (user, _) = own_member(&state, &viewer, &id).await?;
    // A person who also works elsewhere is reset by the secretariat, not by one employer.
    let elsewhere = state
        .store
        .memberships_of(&user.id)
        .await?
        .iter()
        .any(|m| Some(m.facility.id.as_str()) != viewer.session.facility_id.as_deref());
    if elsewhere || user.is_secretariat || user.id == viewer.user.id {
        return Err(AppError::Forbidden);
    }
    issue_reset(&state, &viewer, user, "/facility/staff").await
}

// --- readiness survey ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "readiness_form.html")]
struct ReadinessFormPage {
    c: Chrome,
    facility_name: String,
    s: ReadinessSurvey,
    answered_at: String,
    errors: Vec<String>,
}

pub async fn readiness_page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    let facility = viewer.require_facility_admin()?;
    let existing = state.store.get_readiness(&facility.id).await?;
    let page = ReadinessFormPage {
        c: Chrome::for_viewer(&state, &viewer, "readiness.title").with_notice(q.msg.as_deref()),
        facility_name: facility.name.clone(),
        answered_at: existing
            .as_ref()
            .map(|s| jst(s.updated_at))
            .unwrap_or_default(),
        s: existing.unwrap_or_default(),
        errors: vec![],
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct ReadinessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    system_kind: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    ssmix2_export: String,
    #[serde(default)]
    hl7_fhir_capable: String,
    #[serde(default)]
    network_line: String,
    #[serde(default)]
    devices: String,
    #[serde(default)]
    it_staff: String,
    #[serde(default)]
    notes: String,
}

pub async fn readiness_submit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<ReadinessForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let facility = viewer.require_facility_admin()?.clone();
    let mut errors = Vec::new();
    let mut take = |r: Result<String, FieldError>| {
        r.unwrap_or_else(|e| {
            errors.push(e);
            String::new()
        })
    };
    let choice = |field: &'static str, v: &str, allowed: &[&str]| -> Result<String, FieldError> {
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(FieldError::new(field, text::Problem::UnknownChoice))
        }
    };
    let survey = ReadinessSurvey {
        facility_id: facility.id.clone(),
        system_kind: take(text::clean("system_kind", &form.system_kind, 100, true)),
        vendor: take(text::clean("vendor", &form.vendor, 100, false)),
        product: take(text::clean("product", &form.product, 100, false)),
        ssmix2_export: take(choice(
            "ssmix2_export",
            &form.ssmix2_export,
            &["yes", "no", "unknown"],
        )),
        hl7_fhir_capable: take(choice(
            "hl7_fhir_capable",
            &form.hl7_fhir_capable,
            &["yes", "no", "unknown"],
        )),
        network_line: take(text::clean("network_line", &form.network_line, 100, false)),
        devices: take(text::clean("devices", &form.devices, 200, false)),
        it_staff: take(choice(
            "it_staff",
            &form.it_staff,
            &["in_house", "vendor", "none"],
        )),
        notes: take(text::clean("notes", &form.notes, 2000, false)),
        updated_at: now_millis(),
        updated_by: viewer.user.login_id.clone(),
    };
    if !errors.is_empty() {
        let page = ReadinessFormPage {
            c: Chrome::for_viewer(&state, &viewer, "readiness.title"),
            facility_name: facility.name.clone(),
            answered_at: String::new(),
            errors: field_errors(&viewer, &errors),
            s: ReadinessSurvey {
                system_kind: form.system_kind,
                vendor: form.vendor,
                product: form.product,
                ssmix2_export: form.ssmix2_export,
                hl7_fhir_capable: form.hl7_fhir_capable,
                network_line: form.network_line,
                devices: form.devices,
                it_staff: form.it_staff,
                notes: form.notes,
                ..survey
            },
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let audit = viewer
        .audit("readiness.update", Outcome::Success)
        .target("facility", &facility.id);
    state.store.put_readiness(survey, audit).await?;
    Ok(Redirect::to("/facility/readiness?msg=notice.saved").into_response())
}
