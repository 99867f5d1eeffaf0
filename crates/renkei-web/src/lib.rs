//! Renkei's web face: server-rendered pages (Japanese first, English available), the JSON
//! API, sessions with a second factor, CSRF protection, security headers, health and
//! metrics. Handlers talk to storage only through [`renkei_storage::Store`]; nothing here
//! keeps state between requests that another node would need, so any number of nodes can
//! serve the same database.

pub mod api;
pub mod assets;
pub mod error;
pub mod fhir;
pub mod fhir_audit;
pub mod fhir_bundle;
pub mod fhir_pixm;
pub mod fhir_rest;
pub mod i18n;
pub mod icu;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod oauth;
pub mod pages;
pub mod pdf;
pub mod security;
pub mod session;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use renkei_storage::Store;
use std::sync::Arc;
use std::time::Duration;

/// Settings that shape the web layer. Every field has a documented default
/// (docs/configuration.md).
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Name of the network shown in page titles and TOTP apps.
    pub network_name: String,
    /// Demo mode: shows the demo second-factor helper. Never set outside `--demo`.
    pub demo: Option<DemoHelper>,
    /// Mark cookies `Secure` and send HSTS; on whenever TLS is served or a TLS proxy is in front.
    pub secure_cookies: bool,
    /// Sign out after this long without a request.
    pub session_idle: Duration,
    /// Sign out after this long regardless of activity.
    pub session_max: Duration,
    /// Failed logins before the account locks.
    pub max_login_failures: i64,
    pub lockout: Duration,
    /// Login attempts allowed per client address per minute, on each node.
    pub login_attempts_per_minute: u32,
    /// How long a node trusts a bearer token it found valid before looking it up again
    /// (`oauth::TokenCache`); zero looks every request's token up.
    pub api_token_cache: Duration,
    /// How long a setup link stays valid.
    pub setup_link_ttl: Duration,
    /// Public base URL used in setup links (e.g. `https://renkei.example.jp`).
    pub public_url: String,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Sends notification e-mails (a link to the inbox only); `None`: no e-mail.
    pub mailer: Option<Arc<dyn mail::Mailer>>,
    /// Tele-ICU threshold alert rules (the defaults, or the site's `icu_alert_rules_file`),
    /// for values entered on the bed page.
    pub icu_alert_rules: Arc<Vec<renkei_core::icu::ThresholdRule>>,
    /// The Japanese font (TTF/OTF/TTC) of document PDFs; `None`: the first of
    /// `pdf::DEFAULT_FONT_FILES` that exists.
    pub document_font_file: Option<std::path::PathBuf>,
}

/// In demo mode the second factor is computed from a published secret so a visitor can
/// sign in without an authenticator app. The login page says so in a red banner.
#[derive(Debug, Clone)]
pub struct DemoHelper {
    pub totp_secret: String,
    pub password: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            network_name: "Renkei".into(),
            demo: None,
            secure_cookies: false,
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            max_login_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            login_attempts_per_minute: 30,
            api_token_cache: Duration::from_secs(5),
            setup_link_ttl: Duration::from_secs(7 * 24 * 3600),
            public_url: "http://127.0.0.1:8080".into(),
            trust_forwarded_for: false,
            max_body_bytes: 1024 * 1024,
            mailer: None,
            icu_alert_rules: Arc::new(renkei_core::icu::default_rules()),
            document_font_file: None,
        }
    }
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: WebConfig,
    pub login_limiter: security::RateLimiter,
    /// Bounds concurrent Argon2 work to the CPU count (see `security::password_work`).
    pub password_slots: tokio::sync::Semaphore,
    /// The Japanese font of document PDFs, read on the first PDF (or why it could not be).
    pub document_font: tokio::sync::OnceCell<Result<krilla::text::Font, String>>,
    /// Bearer tokens recently found valid (see `oauth::TokenCache`).
    pub tokens: oauth::TokenCache,
}

pub type SharedState = Arc<AppState>;

/// Builds the whole application.
pub fn app(store: Arc<dyn Store>, config: WebConfig) -> Router {
    let state = Arc::new(AppState {
        login_limiter: security::RateLimiter::new(
            config.login_attempts_per_minute,
            Duration::from_secs(60),
        ),
        password_slots: tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ),
        document_font: tokio::sync::OnceCell::new(),
        tokens: oauth::TokenCache::new(config.api_token_cache),
        store,
        config,
    });
    let max_body = state.config.max_body_bytes;
    use pages::*;
    Router::new()
        .route("/", get(home::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route(
            "/login/second-factor",
            get(auth::second_factor_page).post(auth::second_factor_submit),
        )
        .route("/logout", post(auth::logout))
        .route(
            "/setup/{token}",
            get(auth::setup_page).post(auth::setup_submit),
        )
        .route("/lang/{lang}", get(auth::switch_language))
        .route("/account", get(account::account_page))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/sign-out-everywhere",
            post(account::sign_out_everywhere),
        )
        .route("/account/facility", post(account::switch_facility))
        .route("/account/notifications", post(account::notification_email))
        .route("/notifications", get(notifications::inbox))
        .route("/notifications/stream", get(notifications::stream))
        .route(
            "/notifications/read-all",
            post(notifications::mark_all_read),
        )
        .route("/notifications/{id}/read", post(notifications::mark_read))
        .route("/notifications/{id}/open", post(notifications::open))
        .route("/notices", get(notices::list))
        .route(
            "/notices/new",
            get(notices::new_form).post(notices::publish),
        )
        .route("/notices/{id}", get(notices::show))
        .route(
            "/notices/{id}/edit",
            get(notices::edit_form).post(notices::edit),
        )
        .route("/notices/{id}/withdraw", post(notices::withdraw))
        .route("/board", get(board::topics))
        .route("/board/topics", post(board::create_topic))
        .route("/board/topics/{id}", get(board::topic))
        .route("/board/topics/{id}/threads", post(board::open_thread))
        .route("/board/topics/{id}/edit", post(board::edit_topic))
        .route("/board/topics/{id}/archive", post(board::archive_topic))
        .route("/board/topics/{id}/reopen", post(board::reopen_topic))
        .route("/board/threads/{id}", get(board::thread))
        .route("/board/threads/{id}/replies", post(board::reply))
        .route("/board/posts/{id}/edit", post(board::edit))
        .route("/board/posts/{id}/withdraw", post(board::withdraw))
        .route("/board/posts/{id}/hide", post(board::hide))
        // Home-care group cover (在宅医療の当番・連携グループ).
        .route("/cover-groups", get(cover::list).post(cover::create))
        .route("/cover-groups/{id}", get(cover::show))
        .route("/cover-groups/{id}/invite", post(cover::invite))
        .route("/cover-groups/{id}/answer", post(cover::answer))
        .route("/cover-groups/{id}/leave", post(cover::leave))
        .route("/cover-groups/{id}/remove", post(cover::remove))
        .route("/cover-groups/{id}/shifts", post(cover::add_shift))
        .route(
            "/cover-groups/{id}/shifts/{shift}/delete",
            post(cover::delete_shift),
        )
        .route("/cover-groups/{id}/patients", post(cover::set_patients))
        .route("/facilities", get(directory::directory))
        .route("/facilities/{id}", get(directory::facility_detail))
        .route("/apply", get(apply::apply_page).post(apply::apply_submit))
        .route("/admin/applications", get(admin::applications))
        .route("/admin/facilities/{id}/approve", post(admin::approve))
        .route("/admin/facilities/{id}/status", post(admin::change_status))
        .route("/admin/readiness", get(admin::readiness_summary))
        .route("/admin/readiness.csv", get(admin::readiness_csv))
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}/reset", post(admin::reset_user))
        .route(
            "/admin/consent-categories",
            get(admin::consent_categories).post(admin::save_consent_categories),
        )
        .route("/admin/audit", get(admin::audit_search))
        .route("/admin/audit.csv", get(admin::audit_csv))
        .route(
            "/facility/staff",
            get(staff::staff_list).post(staff::invite),
        )
        .route(
            "/facility/staff/{id}",
            get(staff::staff_edit_page).post(staff::staff_update),
        )
        .route("/facility/staff/{id}/reset", post(staff::staff_reset))
        .route(
            "/facility/clients",
            get(clients::list).post(clients::create),
        )
        .route("/facility/clients/{id}/revoke", post(clients::revoke))
        .route(
            "/facility/readiness",
            get(staff::readiness_page).post(staff::readiness_submit),
        )
        .route("/patients", get(patients::list))
        .route(
            "/patients/new",
            get(patients::new_page).post(patients::register),
        )
        .route("/patients/{id}", get(patients::show))
        .route(
            "/patients/{id}/consent",
            get(patients::consent_show).post(patients::consent_record),
        )
        .route(
            "/patients/{id}/consent/{consent_id}/withdraw",
            post(patients::consent_withdraw),
        )
        .route(
            "/patients/{id}/consent/{consent_id}/form",
            get(patients::consent_form_download)
                .post(patients::consent_form_upload)
                // A scanned form is larger than any other request body.
                .layer(DefaultBodyLimit::max(
                    patients::MAX_CONSENT_FORM_BYTES + 64 * 1024,
                )),
        )
        .route("/patients/{id}/team/invite", post(patients::invite))
        .route("/patients/{id}/team/leave", post(patients::leave))
        .route("/patients/{id}/emergency", get(emergency::summary))
        .route("/patients/{id}/acp", get(acp::show).post(acp::record))
        .route("/patients/{id}/record", get(record::show))
        .route(
            "/patients/{id}/care-log",
            get(care_log::show).post(care_log::record_visit),
        )
        .route("/patients/{id}/care-log/limits", post(care_log::set_limits))
        .route("/patients/{id}/goals", get(goals::show).post(goals::create))
        .route(
            "/patients/{id}/goals/{goal}/progress",
            post(goals::add_progress),
        )
        .route(
            "/patients/{id}/goals/{goal}/status",
            post(goals::set_status),
        )
        .route("/patients/{id}/record/vitals", post(record::add_vitals))
        .route("/patients/{id}/record/dispense", post(record::add_dispense))
        .route("/patients/{id}/record/note", post(record::add_note))
        .route(
            "/patients/{id}/record/attachments",
            post(record::upload)
                // A photo or scanned letter is larger than any other request body.
                .layer(DefaultBodyLimit::max(
                    record::MAX_ATTACHMENT_BYTES + 64 * 1024,
                )),
        )
        .route(
            "/patients/{id}/record/documents/{doc_id}",
            get(record::download),
        )
        .route(
            "/patients/{id}/timeline",
            get(timeline::show)
                .post(timeline::create)
                // A short video is the largest attachment (photos and PDFs are limited to
                // the record's 10 MB by the handler).
                .layer(DefaultBodyLimit::max(timeline::MAX_VIDEO_BYTES + 64 * 1024)),
        )
        .route("/patients/{id}/timeline/{post}/edit", post(timeline::edit))
        .route("/documents", get(documents::inbox))
        .route(
            "/patients/{id}/documents",
            get(documents::list).post(documents::create),
        )
        .route(
            "/patients/{id}/documents/{doc}",
            get(documents::show).post(documents::save),
        )
        .route(
            "/patients/{id}/documents/{doc}/receipt",
            post(documents::confirm),
        )
        .route("/patients/{id}/documents/{doc}/pdf", get(documents::pdf))
        .route(
            "/patients/{id}/documents/{doc}/bundle",
            get(documents::bundle),
        )
        .route(
            "/patients/{id}/timeline/{post}/history",
            get(timeline::history),
        )
        .route(
            "/patients/{id}/timeline/{post}/files/{n}",
            get(timeline::download),
        )
        .route(
            "/patients/{id}/timeline/{post}/files/{n}/thumbnail",
            get(timeline::download_thumbnail),
        )
        // 救急搬送 (pages/transfers.rs)
        .route("/transfers", get(transfers::list))
        .route("/transfers/{id}", get(transfers::show))
        .route("/transfers/{id}/photo", get(transfers::photo))
        .route("/transfers/{id}/{step}", post(transfers::step))
        .route("/patients/{id}/transfers", post(transfers::create))
        .route("/patients/{id}/transfers/new", get(transfers::new_form))
        .route("/invitations", get(patients::invitations))
        .route("/invitations/{id}", post(patients::answer_invitation))
        .route(
            "/emergency",
            get(emergency::search_page).post(emergency::break_glass),
        )
        .route("/admin/mpi", get(mpi::queue))
        .route("/admin/mpi/{id}", post(mpi::decide))
        .route("/admin/mpi/unlink/{record_id}", post(mpi::unlink))
        .route("/admin/break-glass", get(mpi::break_glass_log))
        .route("/fhir/metadata", get(fhir::metadata))
        .route(
            "/fhir/Patient",
            get(fhir::patient_search)
                .put(fhir_pixm::feed)
                .delete(fhir_pixm::remove),
        )
        .route("/fhir/Patient/$ihe-pix", get(fhir::pix))
        .route("/fhir/Patient/$match", post(fhir::patient_match))
        .route(
            "/fhir/Patient/{id}",
            get(fhir::patient_read)
                .put(fhir_pixm::by_id)
                .delete(fhir_pixm::by_id),
        )
        .route("/fhir/Consent/{id}", get(fhir::consent_read))
        .route("/oauth/token", post(oauth::token))
        .route("/fhir", post(fhir_rest::bundle))
        .route("/fhir/_history", get(fhir_rest::system_history))
        .route(
            "/fhir/{type}",
            get(fhir_rest::search)
                .post(fhir_rest::create)
                .put(fhir_rest::conditional_update),
        )
        .route("/fhir/{type}/_search", post(fhir_rest::search_post))
        .route("/fhir/{type}/_history", get(fhir_rest::type_history))
        .route(
            "/fhir/{type}/{id}",
            get(fhir_rest::read)
                .put(fhir_rest::update)
                .delete(fhir_rest::delete),
        )
        .route("/fhir/{type}/{id}/{op}", get(fhir_rest::instance_operation))
        .route("/fhir/{type}/{id}/_history/{vid}", get(fhir_rest::vread))
        .route("/api/v1/facilities", get(api::facilities))
        .route(
            "/api/v1/scores/{score}",
            post(crate::icu::api_score)
                .layer(DefaultBodyLimit::max(crate::icu::MAX_SCORE_BODY_BYTES)),
        )
        .route(
            "/icu/calculator",
            get(pages::icu::page).post(pages::icu::submit),
        )
        .route("/icu", get(icu_census::census))
        .route("/icu/ws", get(icu_census::socket))
        .route(
            "/icu/admit",
            get(icu_census::admit_form).post(icu_census::admit),
        )
        .route("/icu/stays/{id}", get(icu_bed::show))
        .route("/icu/stays/{id}/values", post(icu_bed::record_values))
        .route("/icu/stays/{id}/rounds", post(icu_bed::add_round))
        .route("/icu/stays/{id}/calls", post(icu_bed::open_call))
        .route(
            "/icu/stays/{id}/calls/{call}/close",
            post(icu_bed::close_call),
        )
        .route("/icu/stays/{id}/discharge", post(icu_bed::discharge))
        .route("/icu/alerts", get(icu_ops::alerts))
        .route("/icu/alerts/{id}/ack", post(icu_ops::ack))
        .route("/icu/quarantine", get(icu_ops::quarantine))
        .route("/icu/quarantine/{id}/resolve", post(icu_ops::resolve))
        .route("/icu/setup", get(icu_ops::setup))
        .route("/icu/setup/units", post(icu_ops::save_unit))
        .route("/icu/setup/beds", post(icu_ops::add_bed))
        .route("/icu/setup/beds/{id}", post(icu_ops::update_bed))
        .route(
            "/icu/setup/codes",
            post(icu_ops::upload_codes).layer(DefaultBodyLimit::max(
                icu_ops::MAX_CODE_MAP_BYTES + 64 * 1024,
            )),
        )
        .route("/icu/handover", get(icu_ops::handover))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/assets/{file}", get(assets::asset))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}
