//! Cross-cutting protections: same-origin checks for state-changing requests, security
//! headers on every response, and a per-address limiter for login attempts.

use crate::SharedState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Refuses cross-site state changes (a second line behind CSRF tokens and SameSite
/// cookies) and adds security headers to whatever the handlers answer.
pub async fn guard(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !same_origin(req.headers())
    {
        tracing::warn!(path = %req.uri().path(), "cross-origin state change refused");
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Setup links carry a secret in the path; never send it to another site. (`no-referrer`
    // would also make browsers send `Origin: null` on this site's own forms.)
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        // Pages can carry personal data: no shared or back-button caches.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// True when the request names no other origin. Browsers send `Origin` on cross-site
/// POSTs; when present it must match the `Host` the request was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match (origin, host) {
        (None, _) => true,
        // Browsers send `Origin: null` for some same-site navigations (privacy settings,
        // redirects); Fetch Metadata then says whether the request came from this site.
        (Some("null"), _) => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "same-origin"),
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or("") == host)
            .unwrap_or(false),
        (Some(_), None) => false,
    }
}

/// Runs password hashing or verification (Argon2id: ~19 MiB and tens of milliseconds each)
/// on the blocking pool, at most one per CPU at a time, so a login burst queues instead of
/// multiplying memory.
pub async fn password_work<R: Send + 'static>(
    state: &crate::AppState,
    work: impl FnOnce() -> R + Send + 'static,
) -> crate::error::AppResult<R> {
    let _permit = state
        .password_slots
        .acquire()
        .await
        .map_err(|e| crate::error::AppError::Internal(format!("password slots closed: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::AppError::Internal(format!("password work: {e}")))
}

/// Fixed-window counter per client address. Per node by design: the per-account lockout
/// in the database is what holds across nodes; this only blunts floods.
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    buckets: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt; false when the address is over its limit.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            let window = self.window;
            buckets.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = buckets.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_rules() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("renkei.example.jp"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://renkei.example.jp"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(
            same_origin(&h),
            "a same-origin form under a no-referrer policy"
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn limiter_counts_per_address() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.allow(a) && l.allow(a));
        assert!(!l.allow(a));
        assert!(l.allow(b));
    }
}
