//! Notices (周知事項): the secretariat publishes to the whole network, a facility
//! administrator to the facility's own staff. `GET /notices` (unread first, filters, and
//! for publishers their own list with read counts), `GET /notices/{id}` (opening it marks
//! it read; the publisher sees how many of the audience read it and, for a facility
//! notice, who), `GET|POST /notices/new`, `GET|POST /notices/{id}/edit`,
//! `POST /notices/{id}/withdraw`.
//!
//! Notices are the network's own business, not patient data: they go through no access
//! decision, but every change carries its audit record and a notice outside the viewer's
//! audience looks like one that does not exist (404).

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
use renkei_domain::{ids, now_millis, MemberRole};
use renkei_storage::notices::{importance, scope, Notice, NoticeEdit, NoticeQuery};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

pub const TITLE_MAX: usize = 100;
pub const BODY_MAX: usize = 4000;
const PAGE_SIZE: i64 = 30;
const DAY_MILLIS: i64 = 24 * 3600 * 1000;

/// A notice as a list or the home page shows it.
pub struct NoticeRow {
    pub id: String,
    pub title: String,
    pub important: bool,
    pub unread: bool,
    pub when: String,
    pub source: String,
    pub expired: bool,
}

/// A notice in the publisher's own list.
pub struct PublishedRow {
    pub id: String,
    pub title: String,
    pub important: bool,
    pub when: String,
    pub state: &'static str,
    pub read: i64,
    pub audience: i64,
}

/// A simple page with a title and one message (refusals that deserve an explanation).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub message: String,
    pub back: String,
}

/// 403 with the reason in the viewer's language.
pub fn refused(
    state: &SharedState,
    viewer: &Viewer,
    message_key: &str,
    back: &str,
) -> AppResult<Response> {
    let page = MessagePage {
        c: Chrome::for_viewer(state, viewer, "notices.forbidden_title"),
        message: viewer.tr().t(message_key).to_string(),
        back: back.to_string(),
    };
    Ok((StatusCode::FORBIDDEN, render(&page)?).into_response())
}

/// Where a notice comes from: 事務局 or the facility's name.
async fn source_label(
    state: &SharedState,
    tr: Tr,
    n: &Notice,
    cache: &mut HashMap<String, String>,
) -> AppResult<String> {
    match &n.facility_id {
        None => Ok(tr.t("notices.from_secretariat").to_string()),
        Some(f) => {
            if let Some(name) = cache.get(f) {
                return Ok(name.clone());
            }
            let name = state
                .store
                .get_facility(f)
                .await?
                .map(|f| f.name)
                .unwrap_or_default();
            cache.insert(f.clone(), name.clone());
            Ok(name)
        }
    }
}

/// Unread important notices for the home page (at most five).
pub async fn important_unread(state: &SharedState, viewer: &Viewer) -> AppResult<Vec<NoticeRow>> {
    if viewer.unread_notices.1 == 0 {
        return Ok(vec![]);
    }
    let now = now_millis();
    let list = state
        .store
        .notices()
        .notices_for(
            &viewer.notice_audience(now),
            &NoticeQuery {
                unread_only: true,
                important_only: true,
                limit: 5,
                ..Default::default()
            },
        )
        .await?;
    let mut cache = HashMap::new();
    let mut rows = Vec::new();
    for v in list {
        rows.push(NoticeRow {
            id: v.notice.id.clone(),
            title: v.notice.title.clone(),
            important: true,
            unread: true,
            when: jst(v.notice.published_at),
            source: source_label(state, viewer.tr(), &v.notice, &mut cache).await?,
            expired: false,
        });
    }
    Ok(rows)
}

/// Whether the viewer is an administrator of this facility (in any of their memberships).
fn admin_of(viewer: &Viewer, facility_id: &str) -> bool {
    viewer
        .active_memberships()
        .any(|m| m.facility.id == facility_id && m.membership.role == MemberRole::FacilityAdmin)
}

/// The author, or an administrator of the notice's scope, may edit and withdraw it and
/// see who read it.
fn may_manage(viewer: &Viewer, n: &Notice) -> bool {
    match &n.facility_id {
        None => viewer.is_secretariat(),
        Some(f) => admin_of(viewer, f) || n.author_user_id == viewer.user.id,
    }
}

/// Whether the notice is addressed to the viewer and shown now (expired ones included).
fn addressed_to(viewer: &Viewer, n: &Notice, now: i64) -> bool {
    let in_scope = match &n.facility_id {
        None => true,
        Some(f) => viewer.active_memberships().any(|m| &m.facility.id == f),
    };
    in_scope && n.withdrawn_at.is_none() && n.published_at <= now
}

/// The scopes the viewer may publish to: the network (secretariat) and the facility the
/// session acts for (its administrator).
fn publish_scopes(viewer: &Viewer) -> (bool, Option<(String, String)>) {
    (
        viewer.is_secretariat(),
        viewer
            .admin_facility()
            .map(|f| (f.id.clone(), f.name.clone())),
    )
}

fn state_label(n: &Notice, now: i64) -> &'static str {
    if n.withdrawn_at.is_some() {
        "notices.state.withdrawn"
    } else if n.published_at > now {
        "notices.state.scheduled"
    } else if n.expires_at.is_some_and(|e| e <= now) {
        "notices.state.expired"
    } else {
        "notices.state.current"
    }
}

// --- list --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "notices.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<NoticeRow>,
    filter: String,
    page: i64,
    has_next: bool,
    may_publish: bool,
    published: Vec<PublishedRow>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    msg: Option<String>,
    page: Option<i64>,
    #[serde(default)]
    filter: String,
}

/// `GET /notices[?filter=unread|important|expired][&page=n]`.
pub async fn list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> AppResult<Html<String>> {
    let tr = viewer.tr();
    let now = now_millis();
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let filter = match q.filter.as_str() {
        "unread" | "important" | "expired" => q.filter.clone(),
        _ => String::new(),
    };
    let store = state.store.notices();
    let mut list = store
        .notices_for(
            &viewer.notice_audience(now),
            &NoticeQuery {
                unread_only: filter == "unread",
                important_only: filter == "important",
                include_expired: filter == "expired",
                limit: PAGE_SIZE + 1,
                offset: (page - 1) * PAGE_SIZE,
            },
        )
        .await?;
    let has_next = list.len() as i64 > PAGE_SIZE;
    list.truncate(PAGE_SIZE as usize);
    let mut cache = HashMap::new();
    let mut rows = Vec::new();
    for v in &list {
        rows.push(NoticeRow {
            id: v.notice.id.clone(),
            title: v.notice.title.clone(),
            important: v.notice.is_important(),
            unread: v.read_at.is_none(),
            when: jst(v.notice.published_at),
            source: source_label(&state, tr, &v.notice, &mut cache).await?,
            expired: v.notice.expires_at.is_some_and(|e| e <= now),
        });
    }
    // The publisher's own notices, scheduled and withdrawn ones included, with their reach.
    let (network, facility) = publish_scopes(&viewer);
    let mut published = Vec::new();
    let mut own = Vec::new();
    if network {
        own.extend(store.notices_published(None, 20, 0).await?);
    }
    if let Some((f, _)) = &facility {
        own.extend(store.notices_published(Some(f), 20, 0).await?);
    }
    own.sort_by_key(|n| std::cmp::Reverse(n.published_at));
    for n in own {
        let reach = store.notice_reach(&n.id).await?;
        published.push(PublishedRow {
            id: n.id.clone(),
            title: n.title.clone(),
            important: n.is_important(),
            when: jst(n.published_at),
            state: state_label(&n, now),
            read: reach.read,
            audience: reach.audience,
        });
    }
    let page_view = ListPage {
        c: Chrome::for_viewer(&state, &viewer, "notices.title").with_notice(q.msg.as_deref()),
        rows,
        filter,
        page,
        has_next,
        may_publish: network || facility.is_some(),
        published,
    };
    render(&page_view)
}

// --- one notice ----------------------------------------------------------------------------

pub struct ReaderRow {
    pub name: String,
    pub read_at: Option<String>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct ShowPage {
    c: Chrome,
    n: Notice,
    source: String,
    author: String,
    published: String,
    expires: String,
    edited: String,
    state: &'static str,
    manage: bool,
    read: i64,
    audience: i64,
    /// Who read a facility notice (its staff, read or not).
    readers: Vec<ReaderRow>,
}

#[derive(Deserialize, Default)]
pub struct MsgQuery {
    msg: Option<String>,
}

/// `GET /notices/{id}`: shows the notice and marks it read for its audience.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> AppResult<Response> {
    let now = now_millis();
    let store = state.store.notices();
    let n = store.notice(&id).await?.ok_or(AppError::NotFound)?;
    let manage = may_manage(&viewer, &n);
    let addressed = addressed_to(&viewer, &n, now);
    if !manage && !addressed {
        return Err(AppError::NotFound);
    }
    let mut c = Chrome::for_viewer(&state, &viewer, "notices.title").with_notice(q.msg.as_deref());
    if addressed && store.mark_notice_read(&n.id, &viewer.user.id, now).await? && n.is_current(now)
    {
        // The badge on this very page already counts it as read.
        c.unread_notices = (c.unread_notices - 1).max(0);
    }
    let (read, audience, readers) = if manage {
        let reach = store.notice_reach(&n.id).await?;
        let readers = match &n.facility_id {
            Some(f) => {
                let reads: HashMap<String, i64> = store
                    .notice_readers(&n.id)
                    .await?
                    .into_iter()
                    .map(|r| (r.user_id, r.read_at))
                    .collect();
                let mut rows: Vec<(Option<i64>, ReaderRow)> = state
                    .store
                    .facility_members(f)
                    .await?
                    .into_iter()
                    .filter(|(u, m)| u.active && m.active)
                    .map(|(u, _)| {
                        let at = reads.get(&u.id).copied();
                        (
                            at,
                            ReaderRow {
                                name: u.display_name,
                                read_at: at.map(jst),
                            },
                        )
                    })
                    .collect();
                // Unread first (who still needs telling), then by read time.
                rows.sort_by_key(|(at, _)| (at.is_some(), *at));
                rows.into_iter().map(|(_, r)| r).collect()
            }
            None => vec![],
        };
        (reach.read, reach.audience, readers)
    } else {
        (0, 0, vec![])
    };
    let mut cache = HashMap::new();
    let source = source_label(&state, viewer.tr(), &n, &mut cache).await?;
    let author = state
        .store
        .get_user(&n.author_user_id)
        .await?
        .map(|u| u.display_name)
        .unwrap_or_default();
    let page = ShowPage {
        c,
        source,
        author,
        published: jst(n.published_at),
        expires: n.expires_at.map(jst).unwrap_or_default(),
        edited: n.edited_at.map(jst).unwrap_or_default(),
        state: state_label(&n, now),
        manage,
        read,
        audience,
        readers,
        n,
    };
    Ok(render(&page)?.into_response())
}

// --- publishing and editing ------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
pub struct NoticeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    importance: String,
    /// `YYYY-MM-DDTHH:MM` (JST); empty for now.
    #[serde(default)]
    publish_at: String,
    /// `YYYY-MM-DD` (JST), the last day shown; empty for no expiry.
    #[serde(default)]
    expires_on: String,
}

#[derive(Template)]
#[template(path = "notice_form.html")]
struct FormPage {
    c: Chrome,
    /// `None` for a new notice.
    editing: Option<String>,
    may_network: bool,
    facility_name: Option<String>,
    f: NoticeForm,
    errors: Vec<String>,
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

fn jst_date(millis: i64) -> String {
    jst(millis).chars().take(10).collect()
}

fn text_field(tr: Tr, errors: &mut Vec<String>, value: &str, label: &str, max: usize) -> String {
    let value = value.trim().replace("\r\n", "\n");
    if value.is_empty() {
        errors.push(format!("{}: {}", tr.t(label), tr.t("notices.required")));
    } else if value.chars().count() > max {
        errors.push(format!(
            "{}: {}",
            tr.t(label),
            tr.t("notices.too_long").replace("{n}", &max.to_string())
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(format!(
            "{}: {}",
            tr.t(label),
            tr.t("notices.bad_characters")
        ));
    }
    value
}

/// The checked values of the form: (title, body, importance, published_at, expires_at).
fn check_form(
    tr: Tr,
    f: &NoticeForm,
    now: i64,
    errors: &mut Vec<String>,
) -> (String, String, String, i64, Option<i64>) {
    let title = text_field(tr, errors, &f.title, "notices.field.title", TITLE_MAX);
    if title.contains('\n') {
        errors.push(format!(
            "{}: {}",
            tr.t("notices.field.title"),
            tr.t("notices.bad_characters")
        ));
    }
    let body = text_field(tr, errors, &f.body, "notices.field.body", BODY_MAX);
    let imp = match f.importance.as_str() {
        importance::IMPORTANT => importance::IMPORTANT,
        importance::NORMAL | "" => importance::NORMAL,
        _ => {
            errors.push(tr.t("notices.bad_importance").to_string());
            importance::NORMAL
        }
    };
    let published_at = if f.publish_at.trim().is_empty() {
        now
    } else {
        match parse_jst_datetime(&f.publish_at) {
            Some(t) => t,
            None => {
                errors.push(tr.t("notices.bad_publish_at").to_string());
                now
            }
        }
    };
    let expires_at = if f.expires_on.trim().is_empty() {
        None
    } else {
        match parse_jst_date(&f.expires_on) {
            // Shown through the whole of the last day.
            Some(d) => Some(d + DAY_MILLIS),
            None => {
                errors.push(tr.t("notices.bad_expires").to_string());
                None
            }
        }
    };
    if expires_at.is_some_and(|e| e <= published_at.max(now)) {
        errors.push(tr.t("notices.expires_before").to_string());
    }
    (title, body, imp.to_string(), published_at, expires_at)
}

/// `GET /notices/new`.
pub async fn new_form(State(state): State<SharedState>, viewer: Viewer) -> AppResult<Response> {
    let (network, facility) = publish_scopes(&viewer);
    if !network && facility.is_none() {
        return refused(&state, &viewer, "notices.publish_forbidden", "/notices");
    }
    let page = FormPage {
        c: Chrome::for_viewer(&state, &viewer, "notices.new"),
        editing: None,
        may_network: network,
        facility_name: facility.map(|(_, n)| n),
        f: NoticeForm {
            scope: if network {
                scope::NETWORK
            } else {
                scope::FACILITY
            }
            .to_string(),
            importance: importance::NORMAL.to_string(),
            ..Default::default()
        },
        errors: vec![],
    };
    Ok(render(&page)?.into_response())
}

/// `POST /notices/new`.
pub async fn publish(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(f): Form<NoticeForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let tr = viewer.tr();
    let (network, facility) = publish_scopes(&viewer);
    let target = match f.scope.as_str() {
        scope::NETWORK if network => None,
        scope::FACILITY if facility.is_some() => facility.as_ref().map(|(id, _)| id.clone()),
        _ => return refused(&state, &viewer, "notices.publish_forbidden", "/notices"),
    };
    let now = now_millis();
    let mut errors = Vec::new();
    let (title, body, imp, published_at, expires_at) = check_form(tr, &f, now, &mut errors);
    if !errors.is_empty() {
        let page = FormPage {
            c: Chrome::for_viewer(&state, &viewer, "notices.new"),
            editing: None,
            may_network: network,
            facility_name: facility.map(|(_, n)| n),
            f,
            errors,
        };
        return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
    }
    let notice = Notice {
        id: ids::new_id(),
        scope: if target.is_some() {
            scope::FACILITY
        } else {
            scope::NETWORK
        }
        .to_string(),
        facility_id: target,
        author_user_id: viewer.user.id.clone(),
        author_facility_id: viewer.session.facility_id.clone(),
        title,
        body,
        importance: imp,
        published_at,
        expires_at,
        created_at: now,
        edited_at: None,
        withdrawn_at: None,
        withdrawn_by: None,
    };
    let audit = viewer
        .audit("notice.publish", Outcome::Success)
        .target("notice", &notice.id)
        .detail(json!({ "scope": notice.scope, "facility": notice.facility_id, "importance": notice.importance }));
    state
        .store
        .notices()
        .publish_notice(notice.clone(), audit)
        .await?;
    Ok(Redirect::to(&format!(
        "/notices/{}?msg=notice.notice_published",
        notice.id
    ))
    .into_response())
}

/// The notice if the viewer may change it; otherwise a 404 (not addressed to them) or a
/// 403 with the reason (addressed to them, but not theirs to change).
async fn managed(
    state: &SharedState,
    viewer: &Viewer,
    id: &str,
) -> AppResult<Result<Notice, Response>> {
    let n = state
        .store
        .notices()
        .notice(id)
        .await?
        .ok_or(AppError::NotFound)?;
    if may_manage(viewer, &n) {
        return Ok(Ok(n));
    }
    if addressed_to(viewer, &n, now_millis()) {
        return Ok(Err(refused(
            state,
            viewer,
            "notices.manage_forbidden",
            &format!("/notices/{id}"),
        )?));
    }
    Err(AppError::NotFound)
}

/// `GET /notices/{id}/edit`.
pub async fn edit_form(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let n = match managed(&state, &viewer, &id).await? {
        Ok(n) => n,
        Err(r) => return Ok(r),
    };
    if n.withdrawn_at.is_some() {
        return Ok(Redirect::to(&format!("/notices/{id}")).into_response());
    }
    let page = FormPage {
        c: Chrome::for_viewer(&state, &viewer, "notices.edit"),
        editing: Some(n.id.clone()),
        may_network: false,
        facility_name: None,
        f: NoticeForm {
            csrf: String::new(),
            scope: n.scope.clone(),
            title: n.title.clone(),
            body: n.body.clone(),
            importance: n.importance.clone(),
            publish_at: String::new(),
            // The last day shown: the stored expiry is the start of the next day.
            expires_on: n
                .expires_at
                .map(|e| jst_date(e - DAY_MILLIS))
                .unwrap_or_default(),
        },
        errors: vec![],
    };
    Ok(render(&page)?.into_response())
}

/// `POST /notices/{id}/edit`: title, body, importance and expiry (audience and publish time
/// stay as published).
pub async fn edit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<NoticeForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let n = match managed(&state, &viewer, &id).await? {
        Ok(n) => n,
        Err(r) => return Ok(r),
    };
    let now = now_millis();
    let mut errors = Vec::new();
    let checked = NoticeForm {
        publish_at: String::new(),
        ..f.clone()
    };
    let (title, body, imp, _, expires_at) =
        check_form(viewer.tr(), &checked, n.published_at.max(now), &mut errors);
    if !errors.is_empty() {
        let page = FormPage {
            c: Chrome::for_viewer(&state, &viewer, "notices.edit"),
            editing: Some(n.id.clone()),
            may_network: false,
            facility_name: None,
            f,
            errors,
        };
        return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
    }
    let audit = viewer
        .audit("notice.edit", Outcome::Success)
        .target("notice", &n.id)
        .detail(json!({ "title_changed": title != n.title, "body_changed": body != n.body, "importance": imp }));
    let result = state
        .store
        .notices()
        .edit_notice(
            &n.id,
            NoticeEdit {
                title,
                body,
                importance: imp,
                expires_at,
            },
            now,
            audit,
        )
        .await;
    match result {
        Ok(_) => {
            Ok(Redirect::to(&format!("/notices/{id}?msg=notice.notice_edited")).into_response())
        }
        Err(renkei_storage::StoreError::InvalidState(_)) => Ok(Redirect::to(&format!(
            "/notices/{id}?msg=notice.notice_was_withdrawn"
        ))
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /notices/{id}/withdraw`.
pub async fn withdraw(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let n = match managed(&state, &viewer, &id).await? {
        Ok(n) => n,
        Err(r) => return Ok(r),
    };
    let audit = viewer
        .audit("notice.withdraw", Outcome::Success)
        .target("notice", &n.id);
    match state
        .store
        .notices()
        .withdraw_notice(&n.id, &viewer.user.id, now_millis(), audit)
        .await
    {
        Ok(_) | Err(renkei_storage::StoreError::InvalidState(_)) => {
            Ok(Redirect::to(&format!("/notices/{id}?msg=notice.notice_withdrawn")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
