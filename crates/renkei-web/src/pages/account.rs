//! The signed-in person's own account: password, sessions, acting facility.

use super::{jst_opt, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::{self, Viewer};
use crate::SharedState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::Outcome;
use renkei_domain::{now_millis, password};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    login_id: String,
    profession: &'static str,
    email: String,
    last_login: String,
    recovery_codes_left: i64,
    errors: Vec<String>,
    /// E-mail is configured on this network.
    mail_available: bool,
    notification_email: bool,
}

#[derive(Deserialize)]
pub struct MsgQuery {
    msg: Option<String>,
}

async fn account(
    state: &SharedState,
    viewer: &Viewer,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<AccountPage> {
    Ok(AccountPage {
        c: Chrome::for_viewer(state, viewer, "account.title").with_notice(notice),
        login_id: viewer.user.login_id.clone(),
        profession: viewer.user.profession.label(viewer.lang()),
        email: viewer.user.email.clone(),
        last_login: jst_opt(&viewer.user.last_login_at),
        recovery_codes_left: state.store.unused_recovery_codes(&viewer.user.id).await?,
        errors,
        mail_available: state.config.mailer.is_some(),
        notification_email: state
            .store
            .notifications()
            .notification_email(&viewer.user.id)
            .await?,
    })
}

pub async fn account_page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    render(&account(&state, &viewer, vec![], q.msg.as_deref()).await?)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let tr = viewer.tr();
    let stored = viewer.user.password_hash.clone().unwrap_or_default();
    let current = form.current.clone();
    let ok = crate::security::password_work(&state, move || {
        password::verify_password(&current, &stored)
    })
    .await?;
    let mut errors = Vec::new();
    if !ok {
        errors.push(tr.t("account.wrong_current").to_string());
    } else if form.new_password != form.confirm {
        errors.push(tr.t("setup.mismatch").to_string());
    } else if let Err(e) = password::check_policy(&form.new_password, &viewer.user.login_id) {
        errors.push(tr.password_policy(&e));
    }
    if !errors.is_empty() {
        state
            .store
            .append_audit(viewer.audit("user.password_change", Outcome::Failure))
            .await?;
        let page = account(&state, &viewer, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let plain = form.new_password.clone();
    let hash =
        crate::security::password_work(&state, move || password::hash_password(&plain)).await?;
    state
        .store
        .set_password(
            &viewer.user.id,
            &hash,
            now_millis(),
            viewer
                .audit("user.password_change", Outcome::Success)
                .target("user", &viewer.user.id),
        )
        .await?;
    Ok(Redirect::to("/account?msg=notice.password_changed").into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Ends every session of this person on every device and node (lost tablet).
pub async fn sign_out_everywhere(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ended = state.store.delete_user_sessions(&viewer.user.id).await?;
    state
        .store
        .append_audit(
            viewer
                .audit("auth.logout_all", Outcome::Success)
                .detail(serde_json::json!({ "sessions": ended })),
        )
        .await?;
    let mut res = Redirect::to("/login?msg=notice.signed_out_everywhere").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::clear_session_cookie(&state.config),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct FacilityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    facility_id: String,
}

/// Switches the facility the person acts for; a new session carries it.
pub async fn switch_facility(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<FacilityForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    if !viewer
        .active_memberships()
        .any(|m| m.facility.id == form.facility_id)
    {
        return Err(AppError::Forbidden);
    }
    let token = session::start_session(
        &state,
        &viewer.user.id,
        true,
        Some(form.facility_id.clone()),
        &viewer.client,
    )
    .await?;
    state.store.delete_session(&viewer.session.id_hash).await?;
    state
        .store
        .append_audit(
            viewer
                .audit("auth.switch_facility", Outcome::Success)
                .target("facility", &form.facility_id),
        )
        .await?;
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::session_cookie(&state.config, &token),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct NotificationEmailForm {
    #[serde(default)]
    csrf: String,
    /// Checked: "on".
    #[serde(default)]
    email: String,
}

/// `POST /account/notifications` (form: `csrf`, `email`): opts in to or out of
/// notification e-mail (a link only). Turning it on needs a configured mailer and an
/// address on the account.
pub async fn notification_email(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<NotificationEmailForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let enabled = !form.email.is_empty();
    if enabled && (state.config.mailer.is_none() || !viewer.user.email.contains('@')) {
        return Err(AppError::BadRequest(
            viewer
                .tr()
                .t("account.notification_email_no_address")
                .to_string(),
        ));
    }
    state
        .store
        .notifications()
        .set_notification_email(
            &viewer.user.id,
            enabled,
            now_millis(),
            viewer
                .audit("account.notification_email", Outcome::Success)
                .detail(serde_json::json!({ "email": enabled })),
        )
        .await?;
    Ok(Redirect::to("/account?msg=notice.notification_email_saved").into_response())
}
