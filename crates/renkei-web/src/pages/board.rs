//! The discussion board (掲示板): topics the secretariat sets up (`GET /board`,
//! `POST /board/topics`), threads in a topic by last activity (`GET /board/topics/{id}`,
//! `POST /board/topics/{id}/threads`), a thread's posts with replies
//! (`GET /board/threads/{id}`, `POST /board/threads/{id}/replies`), the author's edit
//! (earlier text kept and shown) and withdrawal, and the secretariat's moderation
//! (`POST /board/posts/{id}/edit|withdraw|hide`) and care of topics: title and description
//! (`POST /board/topics/{id}/edit`), archive and reopen (`POST /board/topics/{id}/archive|
//! reopen`). An archived topic is listed apart and stays readable, but takes no new thread
//! or reply (refused by the store too, under a lock of the topic).
//!
//! The board is for the network's business, never patient data: every form says so, and
//! the secretariat hides posts that break the rule. Every change carries its audit record.

use super::notices::refused;
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::Outcome;
use renkei_domain::{ids, now_millis};
use renkei_storage::notices::{BoardPost, BoardThread, BoardTopic};
use renkei_storage::StoreError;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

pub const TOPIC_TITLE_MAX: usize = 60;
pub const TOPIC_DESCRIPTION_MAX: usize = 300;
pub const THREAD_TITLE_MAX: usize = 100;
pub const POST_MAX: usize = 4000;
pub const HIDE_REASON_MAX: usize = 200;
const THREADS_PER_PAGE: i64 = 20;
const POSTS_PER_PAGE: i64 = 50;

/// Checks one free-text field; `multiline` allows line breaks. Problems go to `errors`.
fn text(
    tr: Tr,
    errors: &mut Vec<String>,
    value: &str,
    label: &str,
    max: usize,
    multiline: bool,
) -> String {
    let value = value.trim().replace("\r\n", "\n");
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
    if value.is_empty() {
        errors.push(format!("{}: {}", tr.t(label), tr.t("notices.required")));
    } else if value.chars().count() > max {
        errors.push(format!(
            "{}: {}",
            tr.t(label),
            tr.t("notices.too_long").replace("{n}", &max.to_string())
        ));
    } else if value.chars().any(bad) {
        errors.push(format!(
            "{}: {}",
            tr.t(label),
            tr.t("notices.bad_characters")
        ));
    }
    value
}

/// Display names of users and facilities, each looked up once per page.
#[derive(Default)]
struct Names {
    users: HashMap<String, String>,
    facilities: HashMap<String, String>,
}

impl Names {
    async fn author(
        &mut self,
        state: &SharedState,
        user: &str,
        facility: Option<&str>,
    ) -> AppResult<String> {
        if !self.users.contains_key(user) {
            let name = state
                .store
                .get_user(user)
                .await?
                .map(|u| u.display_name)
                .unwrap_or_default();
            self.users.insert(user.to_string(), name);
        }
        let mut out = self.users[user].clone();
        if let Some(f) = facility {
            if !self.facilities.contains_key(f) {
                let name = state
                    .store
                    .get_facility(f)
                    .await?
                    .map(|f| f.name)
                    .unwrap_or_default();
                self.facilities.insert(f.to_string(), name);
            }
            let name = &self.facilities[f];
            if !name.is_empty() {
                out = format!("{out}（{name}）");
            }
        }
        Ok(out)
    }
}

// --- topics ----------------------------------------------------------------------------------

pub struct TopicRow {
    pub id: String,
    pub title: String,
    pub description: String,
    pub threads: i64,
    pub last_activity: String,
    /// When it was archived (JST), empty for an open topic.
    pub archived: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct TopicForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sort_order: String,
}

#[derive(Template)]
#[template(path = "board.html")]
struct TopicsPage {
    c: Chrome,
    topics: Vec<TopicRow>,
    archived: Vec<TopicRow>,
    f: TopicForm,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct MsgQuery {
    msg: Option<String>,
    page: Option<i64>,
    edit: Option<String>,
}

async fn topics_page(
    state: &SharedState,
    viewer: &Viewer,
    msg: Option<&str>,
    f: TopicForm,
    errors: Vec<String>,
) -> AppResult<Response> {
    let (archived, topics): (Vec<TopicRow>, Vec<TopicRow>) = state
        .store
        .notices()
        .board_topics()
        .await?
        .into_iter()
        .map(|s| TopicRow {
            archived: s.topic.archived_at.map(jst).unwrap_or_default(),
            id: s.topic.id,
            title: s.topic.title,
            description: s.topic.description,
            threads: s.threads,
            last_activity: s.last_activity_at.map(jst).unwrap_or_default(),
        })
        .partition(|t| !t.archived.is_empty());
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = TopicsPage {
        c: Chrome::for_viewer(state, viewer, "board.title").with_notice(msg),
        topics,
        archived,
        f,
        errors,
    };
    Ok((status, render(&page)?).into_response())
}

/// `GET /board`.
pub async fn topics(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Response> {
    topics_page(
        &state,
        &viewer,
        q.msg.as_deref(),
        TopicForm::default(),
        vec![],
    )
    .await
}

/// `POST /board/topics`: the secretariat opens a topic.
pub async fn create_topic(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(f): Form<TopicForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    if !viewer.is_secretariat() {
        return refused(&state, &viewer, "board.topic_forbidden", "/board");
    }
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let title = text(
        tr,
        &mut errors,
        &f.title,
        "board.field.topic_title",
        TOPIC_TITLE_MAX,
        false,
    );
    let description = if f.description.trim().is_empty() {
        String::new()
    } else {
        text(
            tr,
            &mut errors,
            &f.description,
            "board.field.description",
            TOPIC_DESCRIPTION_MAX,
            true,
        )
    };
    let sort_order = match f.sort_order.trim() {
        "" => 100,
        s => s
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=10_000).contains(n))
            .unwrap_or_else(|| {
                errors.push(tr.t("board.bad_sort_order").to_string());
                100
            }),
    };
    if !errors.is_empty() {
        return topics_page(&state, &viewer, None, f, errors).await;
    }
    let topic = BoardTopic {
        id: ids::new_id(),
        title,
        description,
        sort_order,
        created_by: viewer.user.id.clone(),
        created_at: now_millis(),
        edited_at: None,
        archived_at: None,
        archived_by: None,
    };
    let audit = viewer
        .audit("board.topic.create", Outcome::Success)
        .target("board_topic", &topic.id);
    state
        .store
        .notices()
        .create_board_topic(topic.clone(), audit)
        .await?;
    Ok(Redirect::to(&format!("/board/topics/{}", topic.id)).into_response())
}

// --- threads of a topic -------------------------------------------------------------------------

pub struct ThreadRow {
    pub id: String,
    pub title: String,
    pub author: String,
    pub replies: i64,
    pub last_activity: String,
    pub closed: bool,
}

#[derive(Deserialize, Default, Clone)]
pub struct ThreadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

#[derive(Template)]
#[template(path = "board_topic.html")]
struct TopicPage {
    c: Chrome,
    topic: BoardTopic,
    threads: Vec<ThreadRow>,
    total: i64,
    page: i64,
    has_next: bool,
    f: ThreadForm,
    errors: Vec<String>,
    post_max: usize,
    moderator: bool,
    archived_at: String,
    /// The secretariat's topic form: its values and problems (open when there are some).
    topic_form: TopicForm,
    topic_errors: Vec<String>,
}

/// What the topic page shows besides the stored state.
#[derive(Default)]
struct TopicView {
    page: i64,
    f: ThreadForm,
    errors: Vec<String>,
    topic_form: Option<TopicForm>,
    topic_errors: Vec<String>,
    msg: Option<String>,
}

async fn topic_page(
    state: &SharedState,
    viewer: &Viewer,
    topic_id: &str,
    v: TopicView,
) -> AppResult<Response> {
    let TopicView {
        page,
        f,
        errors,
        topic_form,
        topic_errors,
        msg,
    } = v;
    let page = page.max(1);
    let store = state.store.notices();
    let topic = store
        .board_topic(topic_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Moderators see closed threads too, marked.
    let moderator = viewer.is_secretariat();
    let total = store.count_board_threads(topic_id, moderator).await?;
    let list = store
        .board_threads(
            topic_id,
            moderator,
            THREADS_PER_PAGE,
            (page - 1) * THREADS_PER_PAGE,
        )
        .await?;
    let mut names = Names::default();
    let mut threads = Vec::new();
    for t in list {
        threads.push(ThreadRow {
            author: names
                .author(
                    state,
                    &t.thread.author_user_id,
                    t.thread.author_facility_id.as_deref(),
                )
                .await?,
            id: t.thread.id,
            title: t.thread.title,
            replies: t.replies,
            last_activity: jst(t.thread.last_activity_at),
            closed: t.closed,
        });
    }
    let status = if errors.is_empty() && topic_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let topic_form = topic_form.unwrap_or_else(|| TopicForm {
        title: topic.title.clone(),
        description: topic.description.clone(),
        ..TopicForm::default()
    });
    let view = TopicPage {
        c: Chrome {
            title: topic.title.clone(),
            ..Chrome::for_viewer(state, viewer, "board.title").with_notice(msg.as_deref())
        },
        archived_at: topic.archived_at.map(jst).unwrap_or_default(),
        topic,
        threads,
        has_next: page * THREADS_PER_PAGE < total,
        total,
        page,
        f,
        errors,
        post_max: POST_MAX,
        moderator,
        topic_form,
        topic_errors,
    };
    Ok((status, render(&view)?).into_response())
}

/// `GET /board/topics/{id}[?page=n]`.
pub async fn topic(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> AppResult<Response> {
    let view = TopicView {
        page: q.page.unwrap_or(1).clamp(1, 10_000),
        msg: q.msg,
        ..TopicView::default()
    };
    topic_page(&state, &viewer, &id, view).await
}

/// The topic page with the thread form's values and one refusal: the topic is archived.
async fn archived_refusal(
    state: &SharedState,
    viewer: &Viewer,
    topic_id: &str,
    f: ThreadForm,
) -> AppResult<Response> {
    let view = TopicView {
        page: 1,
        f,
        errors: vec![viewer.tr().t("board.topic_archived_refused").to_string()],
        ..TopicView::default()
    };
    let mut res = topic_page(state, viewer, topic_id, view).await?;
    *res.status_mut() = StatusCode::CONFLICT;
    Ok(res)
}

/// Checks the secretariat's topic form: title and description, as at creation.
fn topic_fields(tr: Tr, f: &TopicForm, errors: &mut Vec<String>) -> (String, String) {
    let title = text(
        tr,
        errors,
        &f.title,
        "board.field.topic_title",
        TOPIC_TITLE_MAX,
        false,
    );
    let description = if f.description.trim().is_empty() {
        String::new()
    } else {
        text(
            tr,
            errors,
            &f.description,
            "board.field.description",
            TOPIC_DESCRIPTION_MAX,
            true,
        )
    };
    (title, description)
}

/// `POST /board/topics/{id}/edit`: the secretariat changes a topic's title and description.
pub async fn edit_topic(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<TopicForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let store = state.store.notices();
    let before = store.board_topic(&id).await?.ok_or(AppError::NotFound)?;
    let back = format!("/board/topics/{id}");
    if !viewer.is_secretariat() {
        return refused(&state, &viewer, "board.topic_manage_forbidden", &back);
    }
    let mut errors = Vec::new();
    let (title, description) = topic_fields(viewer.tr(), &f, &mut errors);
    if !errors.is_empty() {
        let view = TopicView {
            page: 1,
            topic_form: Some(f),
            topic_errors: errors,
            ..TopicView::default()
        };
        return topic_page(&state, &viewer, &id, view).await;
    }
    let audit = viewer
        .audit("board.topic.edit", Outcome::Success)
        .target("board_topic", &id)
        .detail(json!({
            "before": { "title": before.title, "description": before.description },
            "after": { "title": title, "description": description },
        }));
    store
        .edit_board_topic(&id, &title, &description, now_millis(), audit)
        .await?;
    Ok(Redirect::to(&format!("{back}?msg=notice.board_topic_saved")).into_response())
}

#[derive(Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /board/topics/{id}/archive` and `/reopen`: the secretariat closes a topic (kept
/// readable, listed apart, no new threads or replies) or opens it again.
async fn set_archived(
    state: SharedState,
    viewer: Viewer,
    id: String,
    f: CsrfForm,
    archived: bool,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let store = state.store.notices();
    store.board_topic(&id).await?.ok_or(AppError::NotFound)?;
    let back = format!("/board/topics/{id}");
    if !viewer.is_secretariat() {
        return refused(&state, &viewer, "board.topic_manage_forbidden", &back);
    }
    let (action, msg) = if archived {
        ("board.topic.archive", "notice.board_topic_archived")
    } else {
        ("board.topic.reopen", "notice.board_topic_reopened")
    };
    let audit = viewer
        .audit(action, Outcome::Success)
        .target("board_topic", &id);
    match store
        .set_board_topic_archived(&id, archived, &viewer.user.id, now_millis(), audit)
        .await
    {
        // Already so (another tab, another moderator): nothing changed, say what it is.
        Ok(_) | Err(StoreError::InvalidState(_)) => {
            Ok(Redirect::to(&format!("{back}?msg={msg}")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /board/topics/{id}/archive`.
pub async fn archive_topic(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> AppResult<Response> {
    set_archived(state, viewer, id, f, true).await
}

/// `POST /board/topics/{id}/reopen`.
pub async fn reopen_topic(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> AppResult<Response> {
    set_archived(state, viewer, id, f, false).await
}

/// `POST /board/topics/{id}/threads`: any signed-in member opens a thread.
pub async fn open_thread(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(topic_id): Path<String>,
    Form(f): Form<ThreadForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let store = state.store.notices();
    let topic = store
        .board_topic(&topic_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if topic.is_archived() {
        return archived_refusal(&state, &viewer, &topic_id, f).await;
    }
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let title = text(
        tr,
        &mut errors,
        &f.title,
        "board.field.thread_title",
        THREAD_TITLE_MAX,
        false,
    );
    let body = text(tr, &mut errors, &f.body, "board.field.body", POST_MAX, true);
    if !errors.is_empty() {
        let view = TopicView {
            page: 1,
            f,
            errors,
            ..TopicView::default()
        };
        return topic_page(&state, &viewer, &topic_id, view).await;
    }
    let now = now_millis();
    let thread = BoardThread {
        id: ids::new_id(),
        topic_id: topic_id.clone(),
        title,
        author_user_id: viewer.user.id.clone(),
        author_facility_id: viewer.session.facility_id.clone(),
        created_at: now,
        last_activity_at: now,
    };
    let opening = new_post(&viewer, &thread.id, true, body, now);
    let audit = viewer
        .audit("board.thread.open", Outcome::Success)
        .target("board_thread", &thread.id)
        .detail(json!({ "topic": topic_id, "post": opening.id }));
    match store
        .open_board_thread(thread.clone(), opening, audit)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/board/threads/{}", thread.id)).into_response()),
        // Archived between the check above and the write.
        Err(StoreError::InvalidState(_)) => {
            let f = ThreadForm {
                title: thread.title,
                ..ThreadForm::default()
            };
            archived_refusal(&state, &viewer, &topic_id, f).await
        }
        Err(e) => Err(e.into()),
    }
}

fn new_post(viewer: &Viewer, thread_id: &str, opening: bool, body: String, now: i64) -> BoardPost {
    BoardPost {
        id: ids::new_id(),
        thread_id: thread_id.to_string(),
        opening,
        author_user_id: viewer.user.id.clone(),
        author_facility_id: viewer.session.facility_id.clone(),
        body,
        created_at: now,
        edited_at: None,
        withdrawn_at: None,
        hidden_at: None,
        hidden_by: None,
        hidden_reason: None,
    }
}

// --- one thread -------------------------------------------------------------------------------

pub struct VersionRow {
    pub written: String,
    pub body: String,
}

pub struct PostRow {
    pub id: String,
    pub opening: bool,
    pub author: String,
    pub when: String,
    pub edited: String,
    /// The text, when shown (not withdrawn, or hidden — the moderator still sees it).
    pub body: Option<String>,
    pub withdrawn: bool,
    pub hidden: bool,
    pub hidden_reason: String,
    pub own: bool,
    pub versions: Vec<VersionRow>,
    /// This post is being edited (its form is open).
    pub editing: bool,
}

#[derive(Template)]
#[template(path = "board_thread.html")]
struct ThreadPage {
    c: Chrome,
    topic: BoardTopic,
    thread: BoardThread,
    posts: Vec<PostRow>,
    closed: bool,
    /// The topic is archived: the thread is read-only.
    archived: bool,
    moderator: bool,
    page: i64,
    has_next: bool,
    reply: String,
    edit_text: String,
    errors: Vec<String>,
    post_max: usize,
}

struct ThreadView<'a> {
    page: i64,
    edit: Option<&'a str>,
    edit_text: Option<String>,
    reply: String,
    errors: Vec<String>,
    status: StatusCode,
    msg: Option<&'a str>,
}

async fn thread_page(
    state: &SharedState,
    viewer: &Viewer,
    thread_id: &str,
    v: ThreadView<'_>,
) -> AppResult<Response> {
    let store = state.store.notices();
    let thread = store
        .board_thread(thread_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let topic = store
        .board_topic(&thread.topic_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let moderator = viewer.is_secretariat();
    let total = store.count_board_posts(thread_id).await?;
    let list = store
        .board_posts(thread_id, POSTS_PER_PAGE, (v.page - 1) * POSTS_PER_PAGE)
        .await?;
    // The opening post decides whether the thread is open (it is always the first row of
    // page 1; on later pages it is read on its own).
    let opening = match list.iter().find(|p| p.opening) {
        Some(p) => Some(p.clone()),
        None => store.board_posts(thread_id, 1, 0).await?.into_iter().next(),
    };
    let closed = opening.as_ref().is_none_or(|p| !p.is_shown());
    // A thread its author withdrew is gone for everyone but moderators; a hidden one stays
    // visible as hidden so replies keep their context for the moderator only.
    if closed
        && !moderator
        && opening
            .as_ref()
            .is_some_and(|p| p.author_user_id != viewer.user.id)
    {
        return Err(AppError::NotFound);
    }
    let edited_ids: Vec<String> = list
        .iter()
        .filter(|p| p.edited_at.is_some())
        .map(|p| p.id.clone())
        .collect();
    let mut versions: HashMap<String, Vec<VersionRow>> = HashMap::new();
    for ver in store.board_post_versions(&edited_ids).await? {
        versions
            .entry(ver.post_id.clone())
            .or_default()
            .push(VersionRow {
                written: jst(ver.written_at),
                body: ver.body,
            });
    }
    let mut names = Names::default();
    let mut posts = Vec::new();
    for p in list {
        let own = p.author_user_id == viewer.user.id;
        let hidden = p.hidden_at.is_some();
        let withdrawn = p.withdrawn_at.is_some();
        // A hidden post's text stays visible to moderators only; a withdrawn one to nobody.
        let body = if withdrawn || (hidden && !moderator) {
            None
        } else {
            Some(p.body.clone())
        };
        posts.push(PostRow {
            author: names
                .author(state, &p.author_user_id, p.author_facility_id.as_deref())
                .await?,
            when: jst(p.created_at),
            edited: p.edited_at.map(jst).unwrap_or_default(),
            body,
            withdrawn,
            hidden,
            hidden_reason: p.hidden_reason.clone().unwrap_or_default(),
            own,
            versions: if withdrawn || (hidden && !moderator) {
                vec![]
            } else {
                versions.remove(&p.id).unwrap_or_default()
            },
            editing: own && p.is_shown() && v.edit == Some(p.id.as_str()),
            opening: p.opening,
            id: p.id,
        });
    }
    let edit_text = v.edit_text.unwrap_or_else(|| {
        posts
            .iter()
            .find(|p| p.editing)
            .and_then(|p| p.body.clone())
            .unwrap_or_default()
    });
    let view = ThreadPage {
        c: Chrome {
            title: thread.title.clone(),
            ..Chrome::for_viewer(state, viewer, "board.title").with_notice(v.msg)
        },
        archived: topic.is_archived(),
        topic,
        thread,
        posts,
        closed,
        moderator,
        has_next: v.page * POSTS_PER_PAGE < total,
        page: v.page,
        reply: v.reply,
        edit_text,
        errors: v.errors,
        post_max: POST_MAX,
    };
    Ok((v.status, render(&view)?).into_response())
}

/// `GET /board/threads/{id}[?page=n][&edit=post]`.
pub async fn thread(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> AppResult<Response> {
    let view = ThreadView {
        page: q.page.unwrap_or(1).clamp(1, 10_000),
        edit: q.edit.as_deref(),
        edit_text: None,
        reply: String::new(),
        errors: vec![],
        status: StatusCode::OK,
        msg: q.msg.as_deref(),
    };
    thread_page(&state, &viewer, &id, view).await
}

#[derive(Deserialize, Default)]
pub struct PostForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    reason: String,
}

/// `POST /board/threads/{id}/replies`.
pub async fn reply(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(thread_id): Path<String>,
    Form(f): Form<PostForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let store = state.store.notices();
    let thread = store
        .board_thread(&thread_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let archived = |body: String| ThreadView {
        page: 1,
        edit: None,
        edit_text: None,
        reply: body,
        errors: vec![viewer.tr().t("board.topic_archived_refused").to_string()],
        status: StatusCode::CONFLICT,
        msg: None,
    };
    let topic_archived = |t: Option<BoardTopic>| t.is_some_and(|t| t.is_archived());
    if topic_archived(store.board_topic(&thread.topic_id).await?) {
        return thread_page(&state, &viewer, &thread_id, archived(f.body)).await;
    }
    let mut errors = Vec::new();
    let body = text(
        viewer.tr(),
        &mut errors,
        &f.body,
        "board.field.body",
        POST_MAX,
        true,
    );
    if !errors.is_empty() {
        let view = ThreadView {
            page: 1,
            edit: None,
            edit_text: None,
            reply: f.body,
            errors,
            status: StatusCode::BAD_REQUEST,
            msg: None,
        };
        return thread_page(&state, &viewer, &thread_id, view).await;
    }
    let post = new_post(&viewer, &thread_id, false, body, now_millis());
    let audit = viewer
        .audit("board.post.reply", Outcome::Success)
        .target("board_post", &post.id)
        .detail(json!({ "thread": thread_id }));
    match store.add_board_reply(post.clone(), audit).await {
        Ok(()) => {
            // The page of the new reply (the last one).
            let total = store.count_board_posts(&thread_id).await?;
            let page = ((total - 1) / POSTS_PER_PAGE) + 1;
            Ok(Redirect::to(&format!(
                "/board/threads/{thread_id}?page={page}#post-{}",
                post.id
            ))
            .into_response())
        }
        // Archived meanwhile, or the thread closed.
        Err(StoreError::InvalidState(_))
            if topic_archived(store.board_topic(&thread.topic_id).await?) =>
        {
            thread_page(&state, &viewer, &thread_id, archived(post.body)).await
        }
        Err(StoreError::InvalidState(_)) => {
            refused(&state, &viewer, "board.thread_closed", "/board")
        }
        Err(e) => Err(e.into()),
    }
}

/// The post and its thread, or 404 when the viewer cannot see the thread.
async fn post_of(state: &SharedState, id: &str) -> AppResult<BoardPost> {
    state
        .store
        .notices()
        .board_post(id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `POST /board/posts/{id}/edit`: the author changes the text; the earlier one is kept.
pub async fn edit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<PostForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let post = post_of(&state, &id).await?;
    let back = format!("/board/threads/{}", post.thread_id);
    if post.author_user_id != viewer.user.id {
        return refused(&state, &viewer, "board.not_author", &back);
    }
    if !post.is_shown() {
        return refused(&state, &viewer, "board.post_removed", &back);
    }
    let mut errors = Vec::new();
    let body = text(
        viewer.tr(),
        &mut errors,
        &f.body,
        "board.field.body",
        POST_MAX,
        true,
    );
    if !errors.is_empty() {
        let view = ThreadView {
            page: 1,
            edit: Some(&id),
            edit_text: Some(f.body.clone()),
            reply: String::new(),
            errors,
            status: StatusCode::BAD_REQUEST,
            msg: None,
        };
        return thread_page(&state, &viewer, &post.thread_id, view).await;
    }
    if body == post.body {
        return Ok(Redirect::to(&format!("{back}#post-{id}")).into_response());
    }
    let audit = viewer
        .audit("board.post.edit", Outcome::Success)
        .target("board_post", &id)
        .detail(json!({ "thread": post.thread_id }));
    match state
        .store
        .notices()
        .edit_board_post(&id, &viewer.user.id, &body, now_millis(), audit)
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("{back}?msg=notice.board_post_edited#post-{id}")).into_response(),
        ),
        Err(StoreError::InvalidState(_) | StoreError::Conflict(_)) => {
            refused(&state, &viewer, "board.post_changed", &back)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /board/posts/{id}/withdraw`: the author takes the post back.
pub async fn withdraw(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<PostForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let post = post_of(&state, &id).await?;
    let back = format!("/board/threads/{}", post.thread_id);
    if post.author_user_id != viewer.user.id {
        return refused(&state, &viewer, "board.not_author", &back);
    }
    let audit = viewer
        .audit("board.post.withdraw", Outcome::Success)
        .target("board_post", &id)
        .detail(json!({ "thread": post.thread_id }));
    match state
        .store
        .notices()
        .withdraw_board_post(&id, &viewer.user.id, now_millis(), audit)
        .await
    {
        Ok(_) | Err(StoreError::InvalidState(_)) => {
            let target = if post.opening {
                format!("/board/topics/{}", topic_of(&state, &post).await?)
            } else {
                back
            };
            Ok(Redirect::to(&format!("{target}?msg=notice.board_post_withdrawn")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn topic_of(state: &SharedState, post: &BoardPost) -> AppResult<String> {
    Ok(state
        .store
        .notices()
        .board_thread(&post.thread_id)
        .await?
        .map(|t| t.topic_id)
        .unwrap_or_default())
}

/// `POST /board/posts/{id}/hide`: the secretariat hides a post, with a reason.
pub async fn hide(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<PostForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let post = post_of(&state, &id).await?;
    let back = format!("/board/threads/{}", post.thread_id);
    if !viewer.is_secretariat() {
        return refused(&state, &viewer, "board.hide_forbidden", &back);
    }
    let mut errors = Vec::new();
    let reason = text(
        viewer.tr(),
        &mut errors,
        &f.reason,
        "board.field.reason",
        HIDE_REASON_MAX,
        false,
    );
    if !errors.is_empty() {
        let view = ThreadView {
            page: 1,
            edit: None,
            edit_text: None,
            reply: String::new(),
            errors,
            status: StatusCode::BAD_REQUEST,
            msg: None,
        };
        return thread_page(&state, &viewer, &post.thread_id, view).await;
    }
    let audit = viewer
        .audit("board.post.hide", Outcome::Success)
        .target("board_post", &id)
        .detail(
            json!({ "thread": post.thread_id, "author": post.author_user_id, "reason": reason }),
        );
    match state
        .store
        .notices()
        .hide_board_post(&id, &viewer.user.id, &reason, now_millis(), audit)
        .await
    {
        Ok(_) | Err(StoreError::InvalidState(_)) => Ok(Redirect::to(&format!(
            "{back}?msg=notice.board_post_hidden#post-{id}"
        ))
        .into_response()),
        Err(e) => Err(e.into()),
    }
}
