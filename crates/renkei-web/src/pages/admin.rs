//! The secretariat's screens: applications, facility status, readiness summary, users,
//! the information categories a consent may exclude, and the audit trail.

use super::directory::Choice;
use super::{jst, jst_opt, parse_jst_date, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use renkei_domain::audit::{AuditRecord, Outcome};
use renkei_domain::patient::InfoCategory;
use renkei_domain::{ids, now_millis, FacilityStatus, MemberRole, Profession};
use renkei_storage::{
    AuditQuery, Facility, FacilityQuery, NewUser, ReadinessSurvey, User, UserQuery,
};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "admin_applications.html")]
struct ApplicationsPage {
    c: Chrome,
    pending: Vec<(Facility, &'static str, String)>,
    recent: Vec<(Facility, &'static str, &'static str)>,
}

pub async fn applications(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    let lang = viewer.lang();
    let pending = state
        .store
        .search_facilities(&FacilityQuery {
            status: Some(FacilityStatus::Pending),
            limit: 500,
            ..Default::default()
        })
        .await?;
    let rejected = state
        .store
        .search_facilities(&FacilityQuery {
            status: Some(FacilityStatus::Rejected),
            limit: 50,
            ..Default::default()
        })
        .await?;
    let page = ApplicationsPage {
        c: Chrome::for_viewer(&state, &viewer, "admin.applications_title")
            .with_notice(q.msg.as_deref()),
        pending: pending
            .items
            .into_iter()
            .map(|f| {
                let t = f.facility_type.label(lang);
                let at = jst(f.applied_at);
                (f, t, at)
            })
            .collect(),
        recent: rejected
            .items
            .into_iter()
            .map(|f| {
                let t = f.facility_type.label(lang);
                let s = f.status.label(lang);
                (f, t, s)
            })
            .collect(),
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct MsgQuery {
    pub msg: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Shown once after a setup link is issued; the link itself is never stored.
#[derive(Template)]
#[template(path = "link_issued.html")]
pub struct LinkIssuedPage {
    pub c: Chrome,
    pub heading: String,
    pub user_name: String,
    pub login_id: String,
    pub link: String,
    pub expires: String,
    pub back: String,
}

pub fn setup_link(state: &SharedState, token: &str) -> String {
    format!(
        "{}/setup/{token}",
        state.config.public_url.trim_end_matches('/')
    )
}

pub async fn approve(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    viewer.check_csrf(&form.csrf)?;
    let facility = state
        .store
        .get_facility(&id)
        .await?
        .ok_or(AppError::NotFound)?;
    let token = ids::new_token();
    let now = now_millis();
    let expires = now + state.config.setup_link_ttl.as_millis() as i64;
    let admin = NewUser {
        id: ids::new_id(),
        login_id: facility.admin_login_id.clone(),
        display_name: facility.admin_name.clone(),
        display_name_kana: String::new(),
        email: facility.admin_email.clone(),
        profession: facility
            .professions
            .first()
            .copied()
            .unwrap_or(Profession::Clerk),
        is_secretariat: false,
        password_hash: None,
        totp_secret: None,
        recovery_code_hashes: vec![],
        setup_token_hash: Some(ids::token_hash(&token)),
        setup_expires_at: Some(expires),
        memberships: vec![(facility.id.clone(), MemberRole::FacilityAdmin)],
        created_at: now,
    };
    let audit = viewer
        .audit("facility.approve", Outcome::Success)
        .target("facility", &facility.id)
        .detail(serde_json::json!({ "admin_login_id": facility.admin_login_id }));
    let (approved, user) = match state
        .store
        .approve_facility(&facility.id, admin, now, audit)
        .await
    {
        Ok(done) => done,
        Err(renkei_storage::StoreError::Conflict(m)) => {
            return Err(AppError::BadRequest(format!(
                "{} ({m})",
                viewer.tr().t("admin.login_taken")
            )))
        }
        Err(renkei_storage::StoreError::InvalidState(m)) => return Err(AppError::BadRequest(m)),
        Err(e) => return Err(e.into()),
    };
    let tr = viewer.tr();
    let page = LinkIssuedPage {
        c: Chrome::for_viewer(&state, &viewer, "admin.approved_title"),
        heading: format!(
            "{} — {} {}",
            approved.name,
            tr.t("facility.code"),
            approved.code.clone().unwrap_or_default()
        ),
        user_name: user.display_name,
        login_id: user.login_id,
        link: setup_link(&state, &token),
        expires: jst(expires),
        back: "/admin/applications".into(),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

pub async fn change_status(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    viewer.check_csrf(&form.csrf)?;
    let from = FacilityStatus::from_code(&form.from)
        .ok_or_else(|| AppError::BadRequest("unknown status".into()))?;
    let to = FacilityStatus::from_code(&form.to)
        .ok_or_else(|| AppError::BadRequest("unknown status".into()))?;
    let reason =
        renkei_domain::text::clean("reason", &form.reason, 500, to != FacilityStatus::Active)
            .map_err(|e| {
                AppError::BadRequest(format!(
                    "{}: {}",
                    viewer.tr().field(e.field),
                    e.message(viewer.lang())
                ))
            })?;
    let action = match to {
        FacilityStatus::Rejected => "facility.reject",
        FacilityStatus::Suspended => "facility.suspend",
        FacilityStatus::Withdrawn => "facility.withdraw",
        FacilityStatus::Active => "facility.reinstate",
        FacilityStatus::Pending => {
            return Err(AppError::BadRequest("cannot return to pending".into()))
        }
    };
    let audit = viewer
        .audit(action, Outcome::Success)
        .target("facility", &id)
        .detail(serde_json::json!({ "from": from.code(), "to": to.code(), "reason": reason }));
    match state
        .store
        .set_facility_status(
            &id,
            from,
            to,
            Some(&reason).filter(|r| !r.is_empty()).map(String::as_str),
            now_millis(),
            audit,
        )
        .await
    {
        Ok(_) => {
            // A suspended facility's system tokens stop working now, on this node.
            state.tokens.clear();
            Ok(axum::response::Redirect::to(&format!("/facilities/{id}")).into_response())
        }
        Err(renkei_storage::StoreError::InvalidState(m)) => Err(AppError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

// --- consent exclusion categories --------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_consent_categories.html")]
struct ConsentCategoriesPage {
    c: Chrome,
    categories: Vec<Choice>,
    errors: Vec<String>,
}

fn consent_categories_page(
    state: &SharedState,
    viewer: &Viewer,
    selected: &[InfoCategory],
    errors: Vec<String>,
    notice: Option<&str>,
) -> ConsentCategoriesPage {
    let lang = viewer.lang();
    ConsentCategoriesPage {
        c: Chrome::for_viewer(state, viewer, "admin.consent_categories_title").with_notice(notice),
        categories: InfoCategory::CONFIGURABLE_EXCLUSIONS
            .into_iter()
            .map(|c| Choice {
                code: c.code().into(),
                label: c.label(lang).into(),
                selected: selected.contains(&c),
            })
            .collect(),
        errors,
    }
}

/// Which information categories a consent may exclude from sharing.
pub async fn consent_categories(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    let selected = renkei_core::patients::excludable_categories(state.store.as_ref()).await?;
    render(&consent_categories_page(
        &state,
        &viewer,
        &selected,
        vec![],
        q.msg.as_deref(),
    ))
}

pub async fn save_consent_categories(
    State(state): State<SharedState>,
    viewer: Viewer,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    viewer.check_csrf(csrf)?;
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let mut chosen = Vec::new();
    for (_, v) in form.iter().filter(|(k, _)| k == "categories") {
        match InfoCategory::from_code(v)
            .filter(|c| InfoCategory::CONFIGURABLE_EXCLUSIONS.contains(c))
        {
            Some(c) => chosen.push(c),
            None => errors.push(format!(
                "{}: {}",
                tr.field("excluded"),
                tr.t("form.unknown_choice")
            )),
        }
    }
    if chosen.is_empty() && errors.is_empty() {
        errors.push(tr.t("admin.consent_categories_need_one").to_string());
    }
    if errors.is_empty() {
        let audit = viewer.audit("settings.consent_categories", Outcome::Success);
        match renkei_core::patients::set_excludable_categories(state.store.as_ref(), &chosen, audit)
            .await
        {
            Ok(_) => {
                return Ok(axum::response::Redirect::to(
                    "/admin/consent-categories?msg=notice.consent_categories_saved",
                )
                .into_response())
            }
            Err(renkei_core::ServiceError::Invalid { .. }) => {
                errors.push(tr.t("admin.consent_categories_need_one").to_string())
            }
            Err(renkei_core::ServiceError::Store(e)) => return Err(e.into()),
        }
    }
    let page = consent_categories_page(&state, &viewer, &chosen, errors, None);
    Ok((axum::http::StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

// --- readiness summary ------------------------------------------------------------------

pub struct ReadinessRow {
    pub facility: Facility,
    pub type_label: &'static str,
    pub survey: Option<ReadinessSurvey>,
}

pub struct Tally {
    pub label: String,
    pub answered: usize,
    pub total: usize,
    pub ssmix2_yes: usize,
    pub hl7_fhir_yes: usize,
}

#[derive(Template)]
#[template(path = "admin_readiness.html")]
struct ReadinessPage {
    c: Chrome,
    tallies: Vec<Tally>,
    rows: Vec<ReadinessRow>,
}

pub async fn readiness_summary(
    State(state): State<SharedState>,
    viewer: Viewer,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    let lang = viewer.lang();
    let all = state.store.list_readiness().await?;
    let mut tallies: Vec<Tally> = Vec::new();
    for category in renkei_domain::FacilityCategory::ALL {
        let of_cat: Vec<_> = all
            .iter()
            .filter(|(f, _)| f.facility_type.category() == category)
            .collect();
        if of_cat.is_empty() {
            continue;
        }
        tallies.push(Tally {
            label: category.label(lang).into(),
            total: of_cat.len(),
            answered: of_cat.iter().filter(|(_, s)| s.is_some()).count(),
            ssmix2_yes: of_cat
                .iter()
                .filter(|(_, s)| s.as_ref().is_some_and(|s| s.ssmix2_export == "yes"))
                .count(),
            hl7_fhir_yes: of_cat
                .iter()
                .filter(|(_, s)| s.as_ref().is_some_and(|s| s.hl7_fhir_capable == "yes"))
                .count(),
        });
    }
    let page = ReadinessPage {
        c: Chrome::for_viewer(&state, &viewer, "admin.readiness_title"),
        tallies,
        rows: all
            .into_iter()
            .map(|(f, s)| ReadinessRow {
                type_label: f.facility_type.label(lang),
                facility: f,
                survey: s,
            })
            .collect(),
    };
    render(&page)
}

/// CSV for spreadsheets. Starts with a UTF-8 BOM so Excel in Japan opens it correctly, and
/// neutralises cells that a spreadsheet would run as formulas.
pub async fn readiness_csv(
    State(state): State<SharedState>,
    viewer: Viewer,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    let lang = viewer.lang();
    let all = state.store.list_readiness().await?;
    let mut rows = Vec::with_capacity(all.len());
    for (f, s) in &all {
        let s = s.clone().unwrap_or_default();
        let answered = if s.facility_id.is_empty() {
            "no"
        } else {
            "yes"
        };
        let updated = if s.facility_id.is_empty() {
            String::new()
        } else {
            jst(s.updated_at)
        };
        let fields = [
            f.code.clone().unwrap_or_default(),
            f.name.clone(),
            f.facility_type.label(lang).to_string(),
            f.area.clone(),
            answered.into(),
            s.system_kind,
            s.vendor,
            s.product,
            s.ssmix2_export,
            s.hl7_fhir_capable,
            s.network_line,
            s.devices,
            s.it_staff,
            s.notes,
            updated,
        ];
        rows.push(fields.to_vec());
    }
    let body = spreadsheet_csv(
        &[
            "facility_code",
            "facility_name",
            "facility_type",
            "area",
            "answered",
            "system_kind",
            "vendor",
            "product",
            "ssmix2_export",
            "hl7_fhir_capable",
            "network_line",
            "devices",
            "it_staff",
            "notes",
            "updated_at",
        ],
        rows,
    )?;
    state
        .store
        .append_audit(
            viewer
                .audit("readiness.export", Outcome::Success)
                .detail(serde_json::json!({ "rows": all.len() })),
        )
        .await?;
    Ok(csv_download("readiness.csv", body))
}

/// CSV for spreadsheets: a UTF-8 BOM so Excel in Japan reads it correctly, and every cell
/// passed through [`csv_safe`].
fn spreadsheet_csv(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> AppResult<Vec<u8>> {
    let write_err = |e: csv::Error| AppError::Internal(format!("writing CSV: {e}"));
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.write_record(header).map_err(write_err)?;
    for row in rows {
        w.write_record(row.iter().map(|v| csv_safe(v)))
            .map_err(write_err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("CSV: {e}")))
}

fn csv_download(filename: &'static str, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// Prefixes cells that spreadsheets would evaluate (`=`, `+`, `-`, `@`, tab, CR).
pub fn csv_safe(v: &str) -> String {
    match v.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{v}"),
        _ => v.to_string(),
    }
}

// --- users --------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
    page: Option<i64>,
}

pub struct UserRow {
    pub user: User,
    pub profession: &'static str,
    pub last_login: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    c: Chrome,
    q: String,
    rows: Vec<UserRow>,
    total: i64,
}

pub async fn users(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<UsersQuery>,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    let lang = viewer.lang();
    let page_no = q.page.unwrap_or(1).clamp(1, 10_000);
    let result = state
        .store
        .list_users(&UserQuery {
            text: Some(q.q.chars().take(100).collect()).filter(|s: &String| !s.trim().is_empty()),
            facility_id: None,
            limit: 100,
            offset: (page_no - 1) * 100,
        })
        .await?;
    let page = UsersPage {
        c: Chrome::for_viewer(&state, &viewer, "admin.users_title"),
        rows: result
            .items
            .into_iter()
            .map(|u| UserRow {
                profession: u.profession.label(lang),
                last_login: jst_opt(&u.last_login_at),
                user: u,
            })
            .collect(),
        total: result.total,
        q: q.q,
    };
    render(&page)
}

/// Wipes a user's password and second factor and issues a fresh setup link (lost phone).
pub async fn reset_user(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    viewer.check_csrf(&form.csrf)?;
    let user = state.store.get_user(&id).await?.ok_or(AppError::NotFound)?;
    issue_reset(&state, &viewer, user, "/admin/users").await
}

pub async fn issue_reset(
    state: &SharedState,
    viewer: &Viewer,
    user: User,
    back: &str,
) -> AppResult<Response> {
    let token = ids::new_token();
    let expires = now_millis() + state.config.setup_link_ttl.as_millis() as i64;
    let audit = viewer
        .audit("user.reset_credentials", Outcome::Success)
        .target("user", &user.id)
        .detail(serde_json::json!({ "login_id": user.login_id }));
    state
        .store
        .reset_credentials(&user.id, &ids::token_hash(&token), expires, audit)
        .await?;
    let page = LinkIssuedPage {
        c: Chrome::for_viewer(state, viewer, "admin.reset_title"),
        heading: viewer.tr().t("admin.reset_title").into(),
        user_name: user.display_name,
        login_id: user.login_id,
        link: setup_link(state, &token),
        expires: jst(expires),
        back: back.into(),
    };
    Ok(render(&page)?.into_response())
}

// --- audit trail --------------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
pub struct AuditParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    patient: String,
    before: Option<i64>,
}

impl AuditParams {
    fn query(&self, limit: i64) -> AppResult<AuditQuery> {
        let date = |s: &str, field: &str| -> AppResult<Option<i64>> {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                parse_jst_date(s)
                    .map(Some)
                    .ok_or_else(|| AppError::BadRequest(format!("{field}: YYYY-MM-DD")))
            }
        };
        let outcome = match self.outcome.as_str() {
            "" => None,
            o => Some(
                Outcome::from_code(o)
                    .ok_or_else(|| AppError::BadRequest("unknown outcome".into()))?
                    .code()
                    .to_string(),
            ),
        };
        Ok(AuditQuery {
            from: date(&self.from, "from")?,
            // The "to" date is inclusive: up to the end of that day.
            to: date(&self.to, "to")?.map(|t| t + 24 * 3600 * 1000),
            action_prefix: Some(self.action.trim().to_string()).filter(|s| !s.is_empty()),
            actor_login: Some(self.actor.trim().to_lowercase()).filter(|s| !s.is_empty()),
            facility_id: None,
            patient_id: Some(self.patient.trim().to_string()).filter(|s| !s.is_empty()),
            outcome,
            before_seq: self.before,
            limit,
        })
    }
}

pub struct AuditRow {
    pub r: AuditRecord,
    pub at: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    c: Chrome,
    p: AuditParams,
    outcomes: Vec<Choice>,
    rows: Vec<AuditRow>,
    older_link: Option<String>,
    csv_link: String,
}

fn audit_link(base: &str, p: &AuditParams, before: Option<i64>) -> String {
    use crate::error::urlencode as u;
    let mut s = format!(
        "{base}?from={}&to={}&action={}&actor={}&outcome={}&patient={}",
        u(&p.from),
        u(&p.to),
        u(&p.action),
        u(&p.actor),
        u(&p.outcome),
        u(&p.patient)
    );
    if let Some(b) = before {
        s.push_str(&format!("&before={b}"));
    }
    s
}

pub async fn audit_search(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(p): Query<AuditParams>,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    const PAGE: i64 = 100;
    let records = state.store.search_audit(&p.query(PAGE)?).await?;
    // Reading the trail is itself an auditable act.
    state.store.append_audit(viewer.audit("audit.search", Outcome::Success).detail(serde_json::json!({ "action": p.action, "actor": p.actor, "outcome": p.outcome, "patient": p.patient, "from": p.from, "to": p.to }))).await?;
    let older = (records.len() as i64 == PAGE)
        .then(|| {
            records
                .last()
                .map(|r| audit_link("/admin/audit", &p, Some(r.seq)))
        })
        .flatten();
    let page = AuditPage {
        c: Chrome::for_viewer(&state, &viewer, "admin.audit_title"),
        outcomes: ["success", "failure", "denied"]
            .iter()
            .map(|o| Choice {
                code: (*o).into(),
                label: viewer.tr().t(&format!("outcome.{o}")).into(),
                selected: p.outcome == *o,
            })
            .collect(),
        rows: records
            .into_iter()
            .map(|r| AuditRow { at: jst(r.at), r })
            .collect(),
        older_link: older,
        csv_link: audit_link("/admin/audit.csv", &p, None),
        p,
    };
    render(&page)
}

pub async fn audit_csv(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(p): Query<AuditParams>,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    let records = state.store.search_audit(&p.query(10_000)?).await?;
    let rows = records.iter().map(|r| {
        let e = &r.entry;
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            r.seq.to_string(),
            jst(r.at),
            e.action.clone(),
            e.outcome.clone(),
            o(&e.actor_login),
            o(&e.actor_user_id),
            o(&e.actor_facility_id),
            o(&e.target_type),
            o(&e.target_id),
            o(&e.patient_id),
            o(&e.ip),
            o(&e.user_agent),
            e.detail.clone(),
            r.hash.clone(),
        ]
    });
    let body = spreadsheet_csv(
        &[
            "seq",
            "at_jst",
            "action",
            "outcome",
            "actor_login",
            "actor_user_id",
            "actor_facility_id",
            "target_type",
            "target_id",
            "patient_id",
            "ip",
            "user_agent",
            "detail",
            "hash",
        ],
        rows,
    )?;
    state
        .store
        .append_audit(
            viewer
                .audit("audit.export", Outcome::Success)
                .detail(serde_json::json!({ "rows": records.len() })),
        )
        .await?;
    Ok(csv_download("audit.csv", body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_formula_injection_is_neutralised() {
        assert_eq!(super::csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(super::csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::csv_safe("苫小牧"), "苫小牧");
    }
}
