//! The in-app inbox (お知らせ): `GET /notifications`, marking one or all read, and the live
//! unread badge (`GET /notifications/stream`, Server-Sent Events fed by the store's event
//! bus, so a post on one node updates badges on every node).
//!
//! What travels live is a count per user id and nothing else; the inbox shows a patient's
//! name only when the access decision lets the viewer see the patient now (each person
//! named is an audited read), so a notification about a patient the viewer has since lost
//! access to says only what kind of event it was.

use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_core::clinical;
use renkei_core::notify::{count_for, count_payloads, EVENT_TOPIC};
use renkei_domain::audit::Outcome;
use renkei_domain::now_millis;
use renkei_storage::notifications::{Notification, ReadSelector};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Notifications per inbox page.
pub const PAGE_SIZE: i64 = 50;

/// Publishes the new unread counts of these users to every node (after the commit that
/// changed them) and e-mails those who asked for it, when a new notification arrived.
pub async fn announce(state: &SharedState, user_ids: &[String], new_notifications: bool) {
    if user_ids.is_empty() {
        return;
    }
    let store = state.store.notifications();
    let counts = match store.unread_notification_counts(user_ids).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "counting notifications to announce");
            return;
        }
    };
    // Users left with none get an explicit 0.
    let all: Vec<(String, i64)> = user_ids
        .iter()
        .map(|u| {
            let n = counts
                .iter()
                .find(|(id, _)| id == u)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            (u.clone(), n)
        })
        .collect();
    for payload in count_payloads(&all) {
        if let Err(e) = state.store.publish_event(EVENT_TOPIC, &payload).await {
            tracing::warn!(error = %e, "publishing notification counts");
        }
    }
    if new_notifications {
        if let Some(mailer) = state.config.mailer.clone() {
            send_mails(state, mailer, user_ids).await;
        }
    }
}

/// [`announce`] for every active member of these facilities (team invitations and
/// break-glass notices, whose notifications storage writes per facility).
pub async fn announce_facilities(state: &SharedState, facility_ids: &[String]) {
    let mut users = Vec::new();
    for f in facility_ids {
        match state.store.facility_members(f).await {
            Ok(members) => users.extend(
                members
                    .into_iter()
                    .filter(|(u, m)| u.active && m.active)
                    .map(|(u, _)| u.id),
            ),
            Err(e) => tracing::warn!(error = %e, "reading members to announce"),
        }
    }
    users.sort();
    users.dedup();
    announce(state, &users, true).await;
}

/// One message per recipient who opted in and has an address; sent in the background so
/// a slow mail server never delays a post.
async fn send_mails(
    state: &SharedState,
    mailer: std::sync::Arc<dyn crate::mail::Mailer>,
    user_ids: &[String],
) {
    let wanted = match state
        .store
        .notifications()
        .notification_email_users(user_ids)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "reading e-mail preferences");
            return;
        }
    };
    let mut addresses = Vec::new();
    for id in wanted {
        if let Ok(Some(user)) = state.store.get_user(&id).await {
            if user.active && user.email.contains('@') {
                addresses.push(user.email);
            }
        }
    }
    if addresses.is_empty() {
        return;
    }
    let (subject, body) =
        crate::mail::notification_message(&state.config.network_name, &state.config.public_url);
    tokio::spawn(async move {
        for to in addresses {
            if let Err(e) = mailer.send(&to, &subject, &body).await {
                tracing::warn!(error = %e, "notification e-mail not sent");
            }
        }
    });
}

// --- inbox ---------------------------------------------------------------------------------

pub struct Row {
    pub id: String,
    pub kind_label: &'static str,
    pub unread: bool,
    pub when: String,
    pub actor: String,
    pub patient: Option<String>,
    /// What it is about when that is not a patient: the on-call group's name.
    pub subject: Option<String>,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct InboxPage {
    c: Chrome,
    rows: Vec<Row>,
    unread_only: bool,
    page: i64,
    has_next: bool,
    unread_total: i64,
}

#[derive(Deserialize, Default)]
pub struct InboxQuery {
    msg: Option<String>,
    page: Option<i64>,
    #[serde(default)]
    unread: String,
}

/// `GET /notifications[?unread=1][&page=n]`.
pub async fn inbox(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<InboxQuery>,
) -> AppResult<Html<String>> {
    let tr = viewer.tr();
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let unread_only = !q.unread.is_empty();
    let store = state.store.notifications();
    let mut list = store
        .notifications_of(
            &viewer.user.id,
            unread_only,
            PAGE_SIZE + 1,
            (page - 1) * PAGE_SIZE,
        )
        .await?;
    let has_next = list.len() as i64 > PAGE_SIZE;
    list.truncate(PAGE_SIZE as usize);
    // Names of patients the viewer may see now (one audited read each), of actors and of
    // their facilities.
    let requester = viewer.requester();
    let now = now_millis();
    let mut patients: HashMap<String, Option<String>> = HashMap::new();
    let mut actors: HashMap<String, String> = HashMap::new();
    let mut facilities: HashMap<String, String> = HashMap::new();
    let mut groups: HashMap<String, Option<String>> = HashMap::new();
    for n in &list {
        // On-call group notifications name the group (network business, no patient data).
        if n.kind.starts_with("cover_") {
            if let Some(g) = n.source_id.as_ref().filter(|g| !groups.contains_key(*g)) {
                let name = state.store.cover().cover_group(g).await?.map(|g| g.name);
                groups.insert(g.clone(), name);
            }
        }
        if let Some(p) = n.person_id.as_ref().filter(|p| !patients.contains_key(*p)) {
            let name = if viewer.facility().is_some() {
                match clinical::person_access(state.store.as_ref(), &requester, p, now).await? {
                    Some(a) if a.any() => state
                        .store
                        .person_records(p)
                        .await?
                        .first()
                        .map(|r| r.full_name()),
                    _ => None,
                }
            } else {
                None
            };
            if name.is_some() {
                let mut entry = viewer
                    .audit("patient.read", Outcome::Success)
                    .detail(json!({ "resource": "page:/notifications", "fields": ["name"] }));
                entry.patient_id = Some(p.clone());
                state.store.append_audit(entry).await?;
            }
            patients.insert(p.clone(), name);
        }
        if let Some(a) = n
            .actor_user_id
            .as_ref()
            .filter(|a| !actors.contains_key(*a))
        {
            let name = state
                .store
                .get_user(a)
                .await?
                .map(|u| u.display_name)
                .unwrap_or_default();
            actors.insert(a.clone(), name);
        }
        if let Some(f) = n
            .actor_facility_id
            .as_ref()
            .filter(|f| !facilities.contains_key(*f))
        {
            let name = state
                .store
                .get_facility(f)
                .await?
                .map(|f| f.name)
                .unwrap_or_default();
            facilities.insert(f.clone(), name);
        }
    }
    let rows = list
        .iter()
        .map(|n: &Notification| {
            let actor = n
                .actor_user_id
                .as_ref()
                .and_then(|a| actors.get(a))
                .cloned()
                .unwrap_or_default();
            let facility = n
                .actor_facility_id
                .as_ref()
                .and_then(|f| facilities.get(f))
                .cloned()
                .unwrap_or_default();
            Row {
                id: n.id.clone(),
                kind_label: kind_label(tr, &n.kind),
                unread: n.read_at.is_none(),
                when: jst(n.created_at),
                actor: if facility.is_empty() {
                    actor
                } else {
                    format!("{actor}（{facility}）")
                },
                patient: n
                    .person_id
                    .as_ref()
                    .and_then(|p| patients.get(p).cloned().flatten()),
                subject: n
                    .source_id
                    .as_ref()
                    .filter(|_| n.kind.starts_with("cover_"))
                    .and_then(|g| groups.get(g).cloned().flatten()),
            }
        })
        .collect();
    let page_view = InboxPage {
        c: Chrome::for_viewer(&state, &viewer, "notifications.title").with_notice(q.msg.as_deref()),
        rows,
        unread_only,
        page,
        has_next,
        unread_total: viewer.unread_notifications,
    };
    render(&page_view)
}

fn kind_label(tr: crate::i18n::Tr, kind: &str) -> &'static str {
    let key = format!("notifications.kind.{kind}");
    if tr.has(&key) {
        tr.t(&key)
    } else {
        tr.t("notifications.kind.other")
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /notifications/{id}/read`: marks one read (the viewer's own only).
pub async fn mark_read(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    mark(&state, &viewer, ReadSelector::Ids(vec![id])).await?;
    Ok(Redirect::to("/notifications").into_response())
}

/// `POST /notifications/{id}/open`: marks one read and goes where it points.
pub async fn open(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    // Only the viewer's own notifications are looked at.
    let found = state
        .store
        .notifications()
        .notification(&viewer.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    mark(&state, &viewer, ReadSelector::Ids(vec![id])).await?;
    // Stored links are paths on this site; anything else is not followed.
    let target = if found.link.starts_with('/') && !found.link.starts_with("//") {
        found.link
    } else {
        "/notifications".to_string()
    };
    Ok(Redirect::to(&target).into_response())
}

/// `POST /notifications/read-all`.
pub async fn mark_all_read(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(f): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    mark(&state, &viewer, ReadSelector::All).await?;
    Ok(Redirect::to("/notifications?msg=notice.notifications_read").into_response())
}

/// Marks the viewer's notifications read and, when that changed anything, tells the
/// viewer's other tabs and devices.
pub async fn mark(state: &SharedState, viewer: &Viewer, which: ReadSelector) -> AppResult<u64> {
    let changed = state
        .store
        .notifications()
        .mark_notifications_read(&viewer.user.id, which, now_millis())
        .await?;
    if changed > 0 {
        announce(state, std::slice::from_ref(&viewer.user.id), false).await;
    }
    Ok(changed)
}

// --- live badge ------------------------------------------------------------------------------

/// How often an open stream checks that its session still exists (sign-out elsewhere,
/// expiry, a locked account end the stream).
const SESSION_CHECK: Duration = Duration::from_secs(60);

enum Next {
    Count(i64),
    End,
}

/// `GET /notifications/stream`: `event: unread` with `{"unread": n}` on connect and
/// whenever the viewer's count changes.
pub async fn stream(
    State(state): State<SharedState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> AppResult<Response> {
    // Browsers send cookies with cross-site EventSource requests: our own pages only.
    if !crate::security::same_origin(&headers) {
        return Err(AppError::Forbidden);
    }
    // Subscribe before reading the count so nothing committed in between is missed.
    let events = state.store.subscribe_events();
    let first = viewer.unread_notifications;
    struct Feed {
        state: SharedState,
        events: tokio::sync::broadcast::Receiver<renkei_storage::Event>,
        user_id: String,
        session_hash: String,
        last: Option<i64>,
        check: tokio::time::Interval,
        first: Option<i64>,
    }
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.reset();
    let feed = Feed {
        state,
        events,
        user_id: viewer.user.id.clone(),
        session_hash: viewer.session.id_hash.clone(),
        last: None,
        check,
        first: Some(first),
    };
    let body = futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            let next = if let Some(n) = f.first.take() {
                Next::Count(n)
            } else {
                tokio::select! {
                    _ = f.check.tick() => {
                        match session_alive(&f.state, &f.session_hash).await {
                            true => continue,
                            false => Next::End,
                        }
                    }
                    e = f.events.recv() => match e {
                        Ok(e) if e.topic == EVENT_TOPIC => match count_for(&e.payload, &f.user_id) {
                            Some(n) => Next::Count(n),
                            None => continue,
                        },
                        Ok(_) => continue,
                        // Fell behind: read the count itself.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            match f.state.store.notifications().unread_notification_counts(std::slice::from_ref(&f.user_id)).await {
                                Ok(c) => Next::Count(c.first().map(|(_, n)| *n).unwrap_or(0)),
                                Err(_) => Next::End,
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => Next::End,
                    }
                }
            };
            match next {
                Next::End => return None,
                Next::Count(n) if f.last == Some(n) => continue,
                Next::Count(n) => {
                    f.last = Some(n);
                    let event = SseEvent::default()
                        .event("unread")
                        .data(format!("{{\"unread\":{n}}}"));
                    return Some((Ok::<_, std::convert::Infallible>(event), f));
                }
            }
        }
    });
    Ok(Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response())
}

async fn session_alive(state: &SharedState, hash: &str) -> bool {
    let now = now_millis();
    let idle = state.config.session_idle.as_millis() as i64;
    match state.store.get_session(hash).await {
        // The stream itself is not activity: an idle tab still signs out on time.
        Ok(Some(s)) => s.expires_at > now && s.last_seen_at + idle > now,
        Ok(None) => false,
        // A database hiccup does not end the stream; the next check decides.
        Err(_) => true,
    }
}
