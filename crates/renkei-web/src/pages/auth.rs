//! Signing in (password, then TOTP or a recovery code), first-time setup from a one-time
//! link, signing out and switching language.

use super::{render, Chrome};
use crate::error::{safe_next, AppError, AppResult};
use crate::session::{self, anon_csrf, check_anon_csrf, load_session, set_cookie, Client, Viewer};
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::{ids, now_millis, password, totp, Lang};
use renkei_storage::{Credentials, User};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct NextQuery {
    pub next: Option<String>,
    pub msg: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    login_id: String,
    next: String,
    error: Option<String>,
    demo_password: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

fn with_anon_cookie(
    state: &SharedState,
    token: &str,
    fresh: bool,
    body: impl IntoResponse,
) -> Response {
    let mut res = body.into_response();
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                session::ANON_CSRF_COOKIE,
                token,
                None,
                state.config.secure_cookies,
                true,
            ),
        );
    }
    res
}

/// What the login page shows besides the empty form.
struct LoginView<'a> {
    login_id: &'a str,
    next: &'a str,
    error: Option<String>,
    status: StatusCode,
    notice: Option<&'a str>,
}

fn login_page_response(
    state: &SharedState,
    client: &Client,
    headers: &HeaderMap,
    view: LoginView<'_>,
) -> AppResult<Response> {
    let (token, fresh) = anon_csrf(headers);
    let page = LoginPage {
        c: Chrome::anonymous(state, client, "login.title", &token).with_notice(view.notice),
        login_id: view.login_id.to_string(),
        next: view.next.to_string(),
        error: view.error,
        demo_password: state.config.demo.as_ref().map(|d| d.password.clone()),
    };
    Ok(with_anon_cookie(
        state,
        &token,
        fresh,
        (view.status, render(&page)?),
    ))
}

pub async fn login_page(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    let next = safe_next(q.next.as_deref());
    login_page_response(
        &state,
        &client,
        &headers,
        LoginView {
            login_id: "",
            next: &next,
            error: None,
            status: StatusCode::OK,
            notice: q.msg.as_deref(),
        },
    )
}

/// One message for every password-stage failure, so the page does not reveal which
/// login IDs exist or are locked.
const LOGIN_FAILED: &str = "login.failed";

pub async fn login_submit(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    check_anon_csrf(&headers, &form.csrf)?;
    let tr = client.tr();
    let next = safe_next(Some(&form.next));
    let login_id = form.login_id.trim().to_lowercase();
    let fail = |status| {
        login_page_response(
            &state,
            &client,
            &headers,
            LoginView {
                login_id: &login_id,
                next: &next,
                error: Some(tr.t(LOGIN_FAILED).to_string()),
                status,
                notice: None,
            },
        )
    };
    let audit = |outcome: Outcome, user: Option<&User>, reason: &str| {
        AuditEntry::new("auth.login.password", outcome)
            .actor(user.map(|u| u.id.as_str()), Some(&login_id), None)
            .from_client(client.ip_string(), client.user_agent.clone())
            .detail(serde_json::json!({ "reason": reason }))
    };
    if let Some(ip) = client.ip {
        if !state.login_limiter.allow(ip) {
            state
                .store
                .append_audit(audit(Outcome::Denied, None, "rate_limited"))
                .await?;
            return login_page_response(
                &state,
                &client,
                &headers,
                LoginView {
                    login_id: &login_id,
                    next: &next,
                    error: Some(tr.t("login.rate_limited").to_string()),
                    status: StatusCode::TOO_MANY_REQUESTS,
                    notice: None,
                },
            );
        }
    }
    if login_id.is_empty()
        || form.password.is_empty()
        || login_id.len() > 64
        || form.password.len() > 1024
    {
        return fail(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let user = state.store.get_user_by_login(&login_id).await?;
    let password_plain = form.password.clone();
    let Some(user) = user else {
        crate::security::password_work(&state, move || password::verify_dummy(&password_plain))
            .await?;
        state
            .store
            .append_audit(audit(Outcome::Failure, None, "unknown_login"))
            .await?;
        return fail(StatusCode::UNAUTHORIZED);
    };
    let now = now_millis();
    if user.is_locked(now) {
        crate::security::password_work(&state, move || password::verify_dummy(&password_plain))
            .await?;
        state
            .store
            .append_audit(audit(Outcome::Denied, Some(&user), "locked"))
            .await?;
        return fail(StatusCode::UNAUTHORIZED);
    }
    let stored = user.password_hash.clone().unwrap_or_default();
    let ok = crate::security::password_work(&state, move || {
        password::verify_password(&password_plain, &stored)
    })
    .await?;
    if !ok {
        state
            .store
            .record_login_failure(
                &user.id,
                state.config.max_login_failures,
                state.config.lockout.as_millis() as i64,
                now,
                audit(Outcome::Failure, Some(&user), "bad_password"),
            )
            .await?;
        return fail(StatusCode::UNAUTHORIZED);
    }
    if !user.active || !user.is_enrolled() {
        state
            .store
            .append_audit(audit(
                Outcome::Denied,
                Some(&user),
                if user.active {
                    "not_enrolled"
                } else {
                    "deactivated"
                },
            ))
            .await?;
        return fail(StatusCode::UNAUTHORIZED);
    }
    let memberships = state.store.memberships_of(&user.id).await?;
    let facility = memberships
        .iter()
        .find(|m| m.membership.active && m.facility.status.allows_sign_in())
        .map(|m| m.facility.id.clone());
    if facility.is_none() && !user.is_secretariat {
        state
            .store
            .append_audit(audit(Outcome::Denied, Some(&user), "facility_not_active"))
            .await?;
        return login_page_response(
            &state,
            &client,
            &headers,
            LoginView {
                login_id: &login_id,
                next: &next,
                error: Some(tr.t("login.facility_inactive").to_string()),
                status: StatusCode::FORBIDDEN,
                notice: None,
            },
        );
    }
    let token = session::start_session(&state, &user.id, false, facility, &client).await?;
    let mut res = Redirect::to(&format!(
        "/login/second-factor?next={}",
        crate::error::urlencode(&next)
    ))
    .into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::session_cookie(&state.config, &token),
    );
    Ok(res)
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    c: Chrome,
    next: String,
    error: Option<String>,
    demo_code: Option<String>,
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

fn demo_code(state: &SharedState) -> Option<String> {
    let demo = state.config.demo.as_ref()?;
    totp::code_at(&demo.totp_secret, (now_millis() / 1000) as u64).ok()
}

pub async fn second_factor_page(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    let Some(session) = load_session(&state, &headers).await? else {
        return Ok(Redirect::to("/login?msg=notice.session_expired").into_response());
    };
    if session.second_factor_done {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    let page = SecondFactorPage {
        c: Chrome::anonymous(&state, &client, "second_factor.title", &session.csrf_token),
        next: safe_next(q.next.as_deref()),
        error: None,
        demo_code: demo_code(&state),
    };
    Ok(render(&page)?.into_response())
}

pub async fn second_factor_submit(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> AppResult<Response> {
    let Some(session) = load_session(&state, &headers).await? else {
        return Ok(Redirect::to("/login?msg=notice.session_expired").into_response());
    };
    if !session::tokens_match(&session.csrf_token, &form.csrf) {
        return Err(AppError::Csrf);
    }
    let tr = client.tr();
    let next = safe_next(Some(&form.next));
    let Some(user) = state.store.get_user(&session.user_id).await? else {
        state.store.delete_session(&session.id_hash).await?;
        return Ok(Redirect::to("/login").into_response());
    };
    let audit = |outcome: Outcome, method: &str, reason: &str| {
        AuditEntry::new("auth.login.second_factor", outcome)
            .actor(
                Some(&user.id),
                Some(&user.login_id),
                session.facility_id.as_deref(),
            )
            .from_client(client.ip_string(), client.user_agent.clone())
            .detail(serde_json::json!({ "method": method, "reason": reason }))
    };
    let now = now_millis();
    let code = form.code.trim();
    let is_recovery = code.chars().any(|c| c.is_ascii_alphabetic());
    let verdict: Result<&str, &str> = if is_recovery {
        if state
            .store
            .use_recovery_code(&user.id, &totp::hash_recovery_code(code), now)
            .await?
        {
            Ok("recovery_code")
        } else {
            Err("bad_recovery_code")
        }
    } else {
        match totp::verify(
            user.totp_secret.as_deref().unwrap_or(""),
            code,
            (now / 1000) as u64,
            user.totp_last_step,
        ) {
            Ok(step) => {
                // Claimed atomically: the same code cannot be used twice, even on two nodes.
                if state.store.claim_totp_step(&user.id, step).await? {
                    Ok("totp")
                } else {
                    Err("replayed")
                }
            }
            Err(totp::TotpError::Replayed) => Err("replayed"),
            Err(totp::TotpError::Malformed) => Err("malformed"),
            Err(_) => Err("mismatch"),
        }
    };
    match verdict {
        Ok(method) => {
            state.store.delete_session(&session.id_hash).await?;
            // A new session ID at the privilege change: a cookie seen before sign-in is worthless.
            let token = session::start_session(
                &state,
                &user.id,
                true,
                session.facility_id.clone(),
                &client,
            )
            .await?;
            state.store.record_login_success(&user.id, now).await?;
            state
                .store
                .append_audit(audit(Outcome::Success, method, ""))
                .await?;
            let mut res = Redirect::to(&next).into_response();
            res.headers_mut().append(
                header::SET_COOKIE,
                session::session_cookie(&state.config, &token),
            );
            Ok(res)
        }
        Err(reason) => {
            let after = state
                .store
                .record_login_failure(
                    &user.id,
                    state.config.max_login_failures,
                    state.config.lockout.as_millis() as i64,
                    now,
                    audit(
                        Outcome::Failure,
                        if is_recovery { "recovery_code" } else { "totp" },
                        reason,
                    ),
                )
                .await?;
            if after.is_locked(now) {
                state.store.delete_session(&session.id_hash).await?;
                return Ok(Redirect::to("/login?msg=notice.locked").into_response());
            }
            let key = if reason == "replayed" {
                "second_factor.replayed"
            } else {
                "second_factor.failed"
            };
            let page = SecondFactorPage {
                c: Chrome::anonymous(&state, &client, "second_factor.title", &session.csrf_token),
                next,
                error: Some(tr.t(key).to_string()),
                demo_code: demo_code(&state),
            };
            Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    state.store.delete_session(&viewer.session.id_hash).await?;
    state
        .store
        .append_audit(viewer.audit("auth.logout", Outcome::Success))
        .await?;
    let mut res = Redirect::to("/login?msg=notice.signed_out").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::clear_session_cookie(&state.config),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct LangQuery {
    back: Option<String>,
}

pub async fn switch_language(
    State(state): State<SharedState>,
    Path(lang): Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = Lang::from_code(&lang).unwrap_or_default();
    let mut res = Redirect::to(&safe_next(q.back.as_deref())).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session::LANG_COOKIE,
            lang.code(),
            Some(365 * 24 * 3600),
            state.config.secure_cookies,
            false,
        ),
    );
    res
}

// --- first-time setup ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    c: Chrome,
    user: User,
    token: String,
    secret: String,
    qr_data_uri: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "setup_done.html")]
struct SetupDonePage {
    c: Chrome,
    codes: Vec<String>,
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

async fn user_for_setup(state: &SharedState, token: &str) -> AppResult<User> {
    let user = state
        .store
        .get_user_by_setup_token(&ids::token_hash(token))
        .await?;
    match user {
        Some(u) if u.active && u.setup_expires_at.is_some_and(|t| t > now_millis()) => Ok(u),
        _ => Err(AppError::NotFound),
    }
}

pub fn qr_data_uri(text: &str) -> AppResult<String> {
    use base64::Engine;
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

fn build_setup_page(
    state: &SharedState,
    client: &Client,
    csrf: &str,
    user: User,
    token: &str,
    secret: String,
    errors: Vec<String>,
) -> AppResult<SetupPage> {
    let uri = totp::provisioning_uri(&secret, &state.config.network_name, &user.login_id)
        .map_err(|e| AppError::Internal(format!("TOTP URI: {e}")))?;
    Ok(SetupPage {
        c: Chrome::anonymous(state, client, "setup.title", csrf),
        user,
        token: token.to_string(),
        qr_data_uri: qr_data_uri(&uri)?,
        secret,
        errors,
    })
}

async fn setup_page_handler(
    state: &SharedState,
    client: &Client,
    headers: &HeaderMap,
    token: &str,
) -> AppResult<Response> {
    let user = user_for_setup(state, token).await?;
    let (csrf, fresh) = anon_csrf(headers);
    let page = build_setup_page(
        state,
        client,
        &csrf,
        user,
        token,
        totp::generate_secret(),
        vec![],
    )?;
    Ok(with_anon_cookie(state, &csrf, fresh, render(&page)?))
}

pub async fn setup_page(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    setup_page_handler(&state, &client, &headers, &token).await
}

pub async fn setup_submit(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> AppResult<Response> {
    check_anon_csrf(&headers, &form.csrf)?;
    let user = user_for_setup(&state, &token).await?;
    let tr = client.tr();
    let mut errors = Vec::new();
    if form.password != form.password_confirm {
        errors.push(tr.t("setup.mismatch").to_string());
    } else if let Err(e) = password::check_policy(&form.password, &user.login_id) {
        errors.push(tr.password_policy(&e));
    }
    // The secret travels in the form so the QR code stays the same on a retry; it is
    // checked by the code the person's app produced from it.
    let secret_ok = form.secret.len() == 32
        && form
            .secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    let now = now_millis();
    let step = if secret_ok {
        totp::verify(&form.secret, &form.code, (now / 1000) as u64, None).ok()
    } else {
        None
    };
    if step.is_none() {
        errors.push(tr.t("setup.bad_code").to_string());
    }
    if !errors.is_empty() {
        let secret = if secret_ok {
            form.secret.clone()
        } else {
            totp::generate_secret()
        };
        let page = build_setup_page(&state, &client, &form.csrf, user, &token, secret, errors)?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let plain = form.password.clone();
    let hash =
        crate::security::password_work(&state, move || password::hash_password(&plain)).await?;
    let codes = totp::generate_recovery_codes();
    let audit = AuditEntry::new("user.setup", Outcome::Success)
        .actor(Some(&user.id), Some(&user.login_id), None)
        .target("user", &user.id)
        .from_client(client.ip_string(), client.user_agent.clone());
    state
        .store
        .set_credentials(
            &user.id,
            Credentials {
                password_hash: hash,
                totp_secret: form.secret.clone(),
                recovery_code_hashes: codes.iter().map(|c| totp::hash_recovery_code(c)).collect(),
            },
            now,
            audit,
        )
        .await?;
    if let Some(step) = step {
        // The enrolment code counts as used.
        state.store.claim_totp_step(&user.id, step).await?;
    }
    let page = SetupDonePage {
        c: Chrome::anonymous(&state, &client, "setup.done_title", &form.csrf),
        codes,
    };
    Ok(render(&page)?.into_response())
}
