//! OAuth2 client credentials for system access to the FHIR API (SMART Backend Services
//! scopes), issued per facility by its administrator.
//!
//! * `POST /oauth/token` (RFC 6749 §4.4): `grant_type=client_credentials`, client
//!   authentication by HTTP Basic or `client_id`/`client_secret` in the form, optional
//!   `scope` (a subset of the client's). Answers `{access_token, token_type, expires_in,
//!   scope}` or an RFC 6749 error object.
//! * A token acts for its client's facility through the same access decision point as a
//!   person; its scopes limit which resource types and interactions it may use.
//! * Tokens and secrets are stored as SHA-256 only; revoking a client kills its tokens at
//!   once (checked on every request, so every node sees it).

use crate::fhir::FhirError;
use crate::fhir_rest::Actor;
use crate::SharedState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::ids::{new_token, token_hash};
use renkei_domain::now_millis;
use renkei_domain::patient::Requester;
use renkei_domain::Profession;
use renkei_storage::ApiToken;
use serde_json::json;

/// Lifetime of an access token.
pub const TOKEN_SECONDS: i64 = 300;

/// One SMART scope: `system/<Type|*>.<cruds>` (v2) or `.read`/`.write`/`.*` (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource_type: String,
    /// Subset of `cruds`.
    pub ops: String,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        let rest = text.strip_prefix("system/")?;
        let (rtype, ops) = rest.split_once('.')?;
        let valid_type =
            rtype == "*" || (!rtype.is_empty() && rtype.bytes().all(|b| b.is_ascii_alphabetic()));
        if !valid_type {
            return None;
        }
        let ops = match ops {
            "read" => "rs".to_string(),
            "write" => "cud".to_string(),
            "*" => "cruds".to_string(),
            v2 if !v2.is_empty() && v2.chars().all(|c| "cruds".contains(c)) => {
                // SMART v2 requires the letters in c-r-u-d-s order.
                let ordered: String = "cruds".chars().filter(|c| v2.contains(*c)).collect();
                if ordered != v2 {
                    return None;
                }
                ordered
            }
            _ => return None,
        };
        Some(Scope {
            resource_type: rtype.to_string(),
            ops,
        })
    }

    fn allows(&self, rtype: &str, op: char) -> bool {
        (self.resource_type == "*" || self.resource_type == rtype) && self.ops.contains(op)
    }

    /// Whether everything `other` grants, this grants too.
    fn covers(&self, other: &Scope) -> bool {
        (self.resource_type == "*" || self.resource_type == other.resource_type)
            && other.ops.chars().all(|c| self.ops.contains(c))
    }
}

/// Parses a space-separated scope list; None if any scope is malformed.
pub fn parse_scopes(text: &str) -> Option<Vec<Scope>> {
    text.split_whitespace().map(Scope::parse).collect()
}

/// Whether `scopes` let a system do `op` (`c`,`r`,`u`,`d`,`s`) on `rtype`.
pub fn scopes_allow(scopes: &[Scope], rtype: &str, op: char) -> bool {
    scopes.iter().any(|s| s.allows(rtype, op))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if error == "invalid_client" {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"renkei\""),
        );
    }
    res
}

/// The client credentials from HTTP Basic or the form.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded inside Basic.
        let id = form_decode(id)?;
        let secret = form_decode(secret)?;
        return Some((id, secret));
    }
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some((get("client_id")?, get("client_secret")?))
}

fn form_decode(s: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()?
        .pop()
        .map(|(_, v)| v)
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<SharedState>,
    caller: crate::session::Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let audit = |outcome: Outcome, client_id: &str| {
        AuditEntry::new("oauth.token", outcome)
            .actor(Some(&format!("client:{client_id}")), Some(client_id), None)
            .target("api_client", client_id)
            .from_client(caller.ip_string(), caller.user_agent.clone())
    };
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        );
    };
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only grant_type=client_credentials is supported.",
        );
    }
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication is required (HTTP Basic or client_id and client_secret).",
        );
    };
    let client = match state.store.get_api_client(&client_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reading api client");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Try again later.",
            );
        }
    };
    let valid = client.as_ref().is_some_and(|c| {
        c.revoked_at.is_none() && crate::session::tokens_match(&c.secret_hash, &token_hash(&secret))
    });
    let Some(client) = client.filter(|_| valid) else {
        tracing::warn!(client_id = %client_id, "client authentication failed");
        // Bounded: the ID is caller-supplied.
        let shown: String = client_id.chars().take(64).collect();
        if let Err(e) = state
            .store
            .append_audit(audit(Outcome::Failure, &shown))
            .await
        {
            tracing::error!(error = %e, "auditing a failed client authentication");
        }
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Unknown client, wrong secret, or the client was revoked.",
        );
    };
    let allowed = parse_scopes(&client.scopes).unwrap_or_default();
    let granted = match get("scope") {
        None | Some("") => client.scopes.clone(),
        Some(requested) => {
            let Some(wanted) = parse_scopes(requested) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "Scopes look like system/Observation.rs or system/*.read.",
                );
            };
            if !wanted.iter().all(|w| allowed.iter().any(|a| a.covers(w))) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "A requested scope exceeds what this client was issued.",
                );
            }
            requested.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    let token = new_token();
    let now = now_millis();
    let stored = ApiToken {
        token_hash: token_hash(&token),
        client_id: client.id.clone(),
        facility_id: client.facility_id.clone(),
        scopes: granted.clone(),
        issued_at: now,
        expires_at: now + TOKEN_SECONDS * 1000,
    };
    let issued = audit(Outcome::Success, &client.id)
        .actor(
            Some(&format!("client:{}", client.id)),
            Some(&client.id),
            Some(&client.facility_id),
        )
        .detail(json!({ "scope": granted, "expires_in": TOKEN_SECONDS }));
    let stored = match state.store.create_api_token(stored).await {
        Ok(()) => state.store.append_audit(issued).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "storing api token");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Try again later.",
        );
    }
    let mut res = (
        StatusCode::OK,
        json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": granted,
        })
        .to_string(),
    )
        .into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn unauthorized(ja: &str, en: &str) -> FhirError {
    FhirError::new(StatusCode::UNAUTHORIZED, "login", ja, en)
}

/// The system behind an `Authorization: Bearer` token; None when the request carries none.
/// Bearer tokens found valid in the last few seconds, so that a system's every request does
/// not look its token up again. A token revoked or a facility suspended through this node
/// clears the cache at once; on other nodes (and after `renkei admin` changes) the change
/// takes effect within `api_token_cache_seconds` (default 5). A token is never used past its
/// own expiry.
pub struct TokenCache {
    ttl: std::time::Duration,
    entries: std::sync::Mutex<std::collections::HashMap<String, CachedToken>>,
}

struct CachedToken {
    checked: std::time::Instant,
    token: ApiToken,
    facility: renkei_storage::Facility,
}

impl TokenCache {
    pub fn new(ttl: std::time::Duration) -> TokenCache {
        TokenCache {
            ttl,
            entries: Default::default(),
        }
    }

    /// Beyond this many live tokens the cache starts afresh rather than grow.
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, hash: &str, now: i64) -> Option<(ApiToken, renkei_storage::Facility)> {
        let entries = self.entries.lock().expect("token cache");
        let hit = entries.get(hash)?;
        (hit.checked.elapsed() < self.ttl && hit.token.expires_at > now)
            .then(|| (hit.token.clone(), hit.facility.clone()))
    }

    fn put(&self, hash: String, token: ApiToken, facility: renkei_storage::Facility) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("token cache");
        if entries.len() >= Self::MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| e.checked.elapsed() < ttl);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            CachedToken {
                checked: std::time::Instant::now(),
                token,
                facility,
            },
        );
    }

    /// Forgets every token: a client was revoked or a facility's status changed.
    pub fn clear(&self) {
        self.entries.lock().expect("token cache").clear();
    }
}

pub async fn actor_from_bearer(
    parts: &Parts,
    state: &SharedState,
) -> Result<Option<Actor>, FhirError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Ok(None);
    };
    let now = now_millis();
    let hash = token_hash(token.trim());
    let found = match state.tokens.get(&hash, now) {
        Some(hit) => Some(hit),
        None => {
            let found = state.store.api_token(&hash, now).await?;
            // Only a usable answer is kept: a suspended facility is asked about again.
            if let Some((stored, facility)) = &found {
                if facility.status == renkei_domain::FacilityStatus::Active {
                    state.tokens.put(hash, stored.clone(), facility.clone());
                }
            }
            found
        }
    };
    let Some((stored, facility)) = found else {
        return Err(unauthorized(
            "アクセストークンが無効か期限切れです。",
            "The access token is invalid, expired or revoked.",
        ));
    };
    let Some(facility) =
        Some(facility).filter(|f| f.status == renkei_domain::FacilityStatus::Active)
    else {
        return Err(unauthorized(
            "この施設は現在ネットワークに参加していません。",
            "The client's facility is not an active member of the network.",
        ));
    };
    let client_user = format!("client:{}", stored.client_id);
    Ok(Some(Actor {
        requester: Requester {
            user_id: client_user.clone(),
            facility_id: Some(facility.id.clone()),
            facility_type: Some(facility.facility_type),
            // A system is nobody's profession; `Other` never qualifies for break-glass.
            profession: Profession::Other,
            is_secretariat: false,
        },
        login_id: client_user.clone(),
        facility: Some(facility),
        ip: crate::session::client_ip(parts, state).map(|ip| ip.to_string()),
        admin_facility_id: None,
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        source_system: client_user,
        scopes: Some(parse_scopes(&stored.scopes).unwrap_or_default()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_v1_and_v2() {
        let s = parse_scopes("system/Observation.rs system/*.read system/Condition.cud").unwrap();
        assert!(scopes_allow(&s, "Observation", 'r'));
        assert!(scopes_allow(&s, "Encounter", 's'));
        assert!(!scopes_allow(&s, "Encounter", 'c'));
        assert!(scopes_allow(&s, "Condition", 'u'));
        assert!(parse_scopes("patient/Observation.rs").is_none());
        assert!(
            parse_scopes("system/Observation.sr").is_none(),
            "v2 letters out of order"
        );
        assert!(parse_scopes("system/Obs-ervation.r").is_none());
        assert!(Scope::parse("system/*.*")
            .unwrap()
            .covers(&Scope::parse("system/Observation.cruds").unwrap()));
        assert!(!Scope::parse("system/Observation.rs")
            .unwrap()
            .covers(&Scope::parse("system/Observation.c").unwrap()));
    }

    #[test]
    fn form_decoding_inside_basic() {
        assert_eq!(form_decode("a%2Bb").as_deref(), Some("a+b"));
    }
}
