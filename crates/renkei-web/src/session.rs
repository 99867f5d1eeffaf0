//! Sessions, the signed-in viewer, language preference and CSRF tokens.
//!
//! The session cookie holds a random token; the database holds only its SHA-256, so any
//! node can check it and a database dump hands out no sessions. Authenticated forms carry
//! the session's synchronizer token; anonymous forms (login, application) use a
//! double-submit cookie.

use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::SharedState;
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use renkei_domain::{ids, now_millis, FacilityStatus, Lang, MemberRole};
use renkei_storage::{Facility, MembershipView, Session, User};
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;

pub const LANG_COOKIE: &str = "renkei_lang";
pub const ANON_CSRF_COOKIE: &str = "renkei_csrf";
/// How often a session's last-seen time is written (fewer writes; idle timeout precision).
const TOUCH_EVERY_MILLIS: i64 = 60_000;

pub fn session_cookie_name(secure: bool) -> &'static str {
    // The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and no
    // Domain: it cannot be planted by a sibling subdomain.
    if secure {
        "__Host-renkei_session"
    } else {
        "renkei_session"
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: Option<i64>,
    secure: bool,
    http_only: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Lax");
    if let Some(age) = max_age_secs {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are URL-safe")
}

/// The `Set-Cookie` value that hands out a session token.
pub fn session_cookie(config: &crate::WebConfig, token: &str) -> HeaderValue {
    set_cookie(
        session_cookie_name(config.secure_cookies),
        token,
        None,
        config.secure_cookies,
        true,
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(config: &crate::WebConfig) -> HeaderValue {
    set_cookie(
        session_cookie_name(config.secure_cookies),
        "",
        Some(0),
        config.secure_cookies,
        true,
    )
}

pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Who is asking and from where, for audit records and rate limits.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub lang: Lang,
    pub path: String,
}

impl Client {
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
    pub fn tr(&self) -> Tr {
        Tr(self.lang)
    }
}

fn lang_from(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(|c| Lang::from_code(&c))
        .unwrap_or_default()
}

/// The caller's address: the first `X-Forwarded-For` hop when the configuration trusts a
/// proxy, else the TCP peer.
pub fn client_ip(parts: &Parts, state: &SharedState) -> Option<IpAddr> {
    let forwarded = state
        .config
        .trust_forwarded_for
        .then(|| parts.headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    forwarded.or(peer)
}

impl FromRequestParts<SharedState> for Client {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.to_string())
            .unwrap_or_else(|| parts.uri.to_string());
        Ok(Client {
            ip: client_ip(parts, state),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            lang: lang_from(&parts.headers),
            path,
        })
    }
}

/// A fully signed-in person (password and second factor), with their facilities.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub session: Session,
    pub memberships: Vec<MembershipView>,
    pub client: Client,
    /// Unread notifications (the badge every page shows).
    pub unread_notifications: i64,
    /// Unread current notices (周知事項) addressed to the person: (all, important).
    pub unread_notices: (i64, i64),
}

impl Viewer {
    pub fn lang(&self) -> Lang {
        self.client.lang
    }

    pub fn tr(&self) -> Tr {
        Tr(self.client.lang)
    }

    /// The facility the person is acting for in this session.
    pub fn facility(&self) -> Option<&Facility> {
        let id = self.session.facility_id.as_deref()?;
        self.active_memberships()
            .find(|m| m.facility.id == id)
            .map(|m| &m.facility)
    }

    /// Who is asking for notices: the person, with the facilities they are an active
    /// member of (a facility notice reaches all of its staff, whichever facility the
    /// session acts for).
    pub fn notice_audience(&self, now: i64) -> renkei_storage::notices::NoticeAudience {
        notice_audience_of(&self.user.id, &self.memberships, now)
    }

    pub fn active_memberships(&self) -> impl Iterator<Item = &MembershipView> {
        self.memberships
            .iter()
            .filter(|m| m.membership.active && m.facility.status == FacilityStatus::Active)
    }

    pub fn is_secretariat(&self) -> bool {
        self.user.is_secretariat
    }

    /// Administrator of the facility the session acts for.
    pub fn admin_facility(&self) -> Option<&Facility> {
        let id = self.session.facility_id.as_deref()?;
        self.active_memberships()
            .find(|m| m.facility.id == id && m.membership.role == MemberRole::FacilityAdmin)
            .map(|m| &m.facility)
    }

    pub fn require_secretariat(&self) -> AppResult<()> {
        if self.is_secretariat() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub fn require_facility_admin(&self) -> AppResult<&Facility> {
        self.admin_facility().ok_or(AppError::Forbidden)
    }

    pub fn check_csrf(&self, submitted: &str) -> AppResult<()> {
        if tokens_match(&self.session.csrf_token, submitted) {
            Ok(())
        } else {
            Err(AppError::Csrf)
        }
    }

    pub fn audit(
        &self,
        action: &str,
        outcome: renkei_domain::audit::Outcome,
    ) -> renkei_domain::audit::AuditEntry {
        renkei_domain::audit::AuditEntry::new(action, outcome)
            .actor(
                Some(&self.user.id),
                Some(&self.user.login_id),
                self.session.facility_id.as_deref(),
            )
            .from_client(self.client.ip_string(), self.client.user_agent.clone())
    }
}

fn notice_audience_of(
    user_id: &str,
    memberships: &[MembershipView],
    now: i64,
) -> renkei_storage::notices::NoticeAudience {
    let mut facility_ids: Vec<String> = memberships
        .iter()
        .filter(|m| m.membership.active && m.facility.status == FacilityStatus::Active)
        .map(|m| m.facility.id.clone())
        .collect();
    facility_ids.sort();
    facility_ids.dedup();
    renkei_storage::notices::NoticeAudience {
        user_id: user_id.to_string(),
        facility_ids,
        now,
    }
}

/// Loads a session from the cookie, enforcing idle and absolute expiry.
pub async fn load_session(state: &SharedState, headers: &HeaderMap) -> AppResult<Option<Session>> {
    let Some(token) = cookie(headers, session_cookie_name(state.config.secure_cookies)) else {
        return Ok(None);
    };
    let hash = ids::token_hash(&token);
    let Some(session) = state.store.get_session(&hash).await? else {
        return Ok(None);
    };
    let now = now_millis();
    let idle = state.config.session_idle.as_millis() as i64;
    if session.expires_at <= now || session.last_seen_at + idle <= now {
        state.store.delete_session(&hash).await?;
        return Ok(None);
    }
    if now - session.last_seen_at > TOUCH_EVERY_MILLIS {
        state.store.touch_session(&hash, now).await?;
    }
    Ok(Some(session))
}

impl FromRequestParts<SharedState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let client = Client::from_request_parts(parts, state).await?;
        let back = AppError::SignInRequired {
            back: client.path.clone(),
        };
        let Some(session) = load_session(state, &parts.headers).await? else {
            return Err(back);
        };
        if !session.second_factor_done {
            return Err(back);
        }
        let Some(user) = state.store.get_user(&session.user_id).await? else {
            return Err(back);
        };
        if !user.active || user.is_locked(now_millis()) {
            state.store.delete_session(&session.id_hash).await?;
            return Err(back);
        }
        let memberships = state.store.memberships_of(&user.id).await?;
        let unread_notifications = state
            .store
            .notifications()
            .unread_notification_counts(std::slice::from_ref(&user.id))
            .await?
            .first()
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let unread_notices = state
            .store
            .notices()
            .unread_notice_counts(&notice_audience_of(&user.id, &memberships, now_millis()))
            .await?;
        let viewer = Viewer {
            user,
            session,
            memberships,
            client,
            unread_notifications,
            unread_notices,
        };
        // A member whose every facility was suspended or withdrawn is signed out.
        if !viewer.is_secretariat() && viewer.active_memberships().next().is_none() {
            state.store.delete_session(&viewer.session.id_hash).await?;
            return Err(back);
        }
        Ok(viewer)
    }
}

/// Creates a session row and returns the cookie value to hand out.
pub async fn start_session(
    state: &SharedState,
    user_id: &str,
    second_factor_done: bool,
    facility_id: Option<String>,
    client: &Client,
) -> AppResult<String> {
    let token = ids::new_token();
    let now = now_millis();
    let lifetime = if second_factor_done {
        state.config.session_max.as_millis() as i64
    } else {
        // The gap between password and second factor is short.
        5 * 60 * 1000
    };
    state
        .store
        .create_session(Session {
            id_hash: ids::token_hash(&token),
            user_id: user_id.to_string(),
            second_factor_done,
            csrf_token: ids::new_token(),
            facility_id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime,
            ip: client.ip_string(),
            user_agent: client
                .user_agent
                .clone()
                .map(|ua| ua.chars().take(256).collect()),
        })
        .await?;
    Ok(token)
}

/// The anonymous double-submit token: reuse the visitor's cookie or mint one.
pub fn anon_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, ANON_CSRF_COOKIE) {
        Some(t)
            if t.len() >= 32
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            (t, false)
        }
        _ => (ids::new_token(), true),
    }
}

pub fn check_anon_csrf(headers: &HeaderMap, submitted: &str) -> AppResult<()> {
    match cookie(headers, ANON_CSRF_COOKIE) {
        Some(c) if tokens_match(&c, submitted) => Ok(()),
        _ => Err(AppError::Csrf),
    }
}

impl Viewer {
    /// The requester as the access decision point sees it.
    pub fn requester(&self) -> renkei_domain::patient::Requester {
        renkei_domain::patient::Requester {
            user_id: self.user.id.clone(),
            facility_id: self.facility().map(|f| f.id.clone()),
            facility_type: self.facility().map(|f| f.facility_type),
            profession: self.user.profession,
            is_secretariat: self.is_secretariat(),
        }
    }

    /// Audit origin for a read of patient data through `resource`.
    pub fn origin(&self, resource: &str) -> renkei_core::access::Origin {
        renkei_core::access::Origin {
            login_id: self.user.login_id.clone(),
            ip: self.client.ip_string(),
            user_agent: self.client.user_agent.clone(),
            resource: resource.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; renkei_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "renkei_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn token_comparison() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("", ""));
        assert!(!tokens_match("abc", "abcd"));
    }
}
