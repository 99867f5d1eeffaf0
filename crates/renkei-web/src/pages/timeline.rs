//! The care team's patient timeline (患者タイムライン): posts of the team about one patient —
//! observations, instructions, reports, consultations — with an urgency flag, a photo or PDF,
//! replies under their post, edits that keep every earlier version, and read receipts.
//!
//! Posts are FHIR `Communication` resources (see `docs/fhir.md`): written through
//! `renkei_core::clinical` like every clinical write (validation, contribution rule,
//! Provenance, audit; the write path stamps the sender and lets only the sender change a
//! post), read through the record page's access decision (`record::open` → scope →
//! `Store::fhir_search`), one `patient.read` audit record per view. Read receipts are not
//! FHIR: `Store::mark_timeline_read` records what a view showed.

use super::record::{self, RecordAccess};
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use renkei_core::clinical::{self, WriteIntent};
use renkei_core::notify::{self as notify_rules, Mentioned, TeamDirectory};
use renkei_domain::audit::Outcome;
use renkei_domain::files::DocumentKind;
use renkei_domain::{now_millis, Lang};
use renkei_fhir::search::{Criterion, SortKey, ValueMatch};
use renkei_fhir::SearchQuery;
use renkei_storage::fhir::{FhirRow, FhirWriteKind, HistoryQuery};
use renkei_storage::notifications::ReadSelector;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// The code system of the post kinds (`Communication.category`).
pub const KIND_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/timeline-kind";
/// The kinds, in the order the form offers them.
pub const KINDS: [&str; 5] = [
    "observation",
    "instruction",
    "report",
    "consultation",
    "other",
];
/// Posts (without their replies) per page.
pub const PAGE_SIZE: usize = 50;
/// Longest post text.
pub const MAX_TEXT_CHARS: usize = 4000;

fn kind_label(tr: Tr, kind: &str) -> &'static str {
    if KINDS.contains(&kind) {
        tr.t(&format!("timeline.kind.{kind}"))
    } else {
        tr.t("timeline.kind.other")
    }
}

// --- reading posts ---------------------------------------------------------------------

/// One attachment as shown.
pub struct FileView {
    pub index: usize,
    pub title: String,
    pub image: bool,
    pub size: String,
}

/// A piece of a line of post text; a resolved `@mention` links to its facility.
pub struct Seg {
    pub text: String,
    pub href: Option<String>,
}

/// A line cut at the mentions that name the care team (see `renkei_core::notify`).
fn line_segments(dir: &TeamDirectory, line: &str) -> Vec<Seg> {
    dir.segments(line)
        .into_iter()
        .map(|s| Seg {
            href: s.mention.map(|m| match m {
                Mentioned::User(i) => format!("/facilities/{}", dir.users[i].facility_id),
                Mentioned::Facility(i) => format!("/facilities/{}", dir.facilities[i].facility_id),
            }),
            text: s.text,
        })
        .collect()
}

/// One post (or reply) as shown.
pub struct PostView {
    pub id: String,
    pub kind: String,
    pub kind_label: &'static str,
    pub urgent: bool,
    pub author: String,
    pub facility: String,
    pub sent: String,
    /// The text, one entry per line (the template escapes each piece, links mentions and
    /// joins lines with `<br>`).
    pub lines: Vec<Vec<Seg>>,
    pub text: String,
    pub files: Vec<FileView>,
    pub edited: bool,
    pub version: i64,
    pub mine: bool,
    /// Who has read it (other than its sender), earliest first.
    pub readers: Vec<String>,
    /// Not read by the viewer before this view.
    pub new: bool,
    pub replies: Vec<PostView>,
}

fn kind_of(v: &Value) -> String {
    v.get("category")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|c| c.get("system").and_then(Value::as_str) == Some(KIND_SYSTEM))
        .and_then(|c| c.get("code").and_then(Value::as_str))
        .unwrap_or("other")
        .to_string()
}

fn text_of(v: &Value) -> String {
    v.get("payload")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("contentString").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

fn attachments_of(v: &Value) -> Vec<&Value> {
    v.get("payload")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("contentAttachment"))
        .collect()
}

fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", (bytes + 1023) / 1024)
    }
}

fn post_view(
    tr: Tr,
    row: &FhirRow,
    viewer_id: &str,
    facilities: &HashMap<String, String>,
    dir: &TeamDirectory,
) -> PostView {
    let v: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
    let kind = kind_of(&v);
    let text = text_of(&v);
    let sender = clinical::message_sender(&v).unwrap_or_default().to_string();
    PostView {
        id: row.id.clone(),
        kind_label: kind_label(tr, &kind),
        kind,
        urgent: v["priority"].as_str().is_some_and(|p| p != "routine"),
        author: v
            .pointer("/sender/display")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        facility: row
            .source_facility_id
            .as_ref()
            .and_then(|f| facilities.get(f).cloned())
            .unwrap_or_else(|| tr.t("record.unknown_source").to_string()),
        sent: v["sent"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| jst(t.timestamp_millis()))
            .unwrap_or_else(|| jst(row.last_updated)),
        lines: text.lines().map(|l| line_segments(dir, l)).collect(),
        text,
        files: attachments_of(&v)
            .into_iter()
            .enumerate()
            .map(|(index, a)| FileView {
                index,
                title: a["title"].as_str().unwrap_or("file").to_string(),
                image: a["contentType"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("image/")),
                size: size_text(a["size"].as_i64().unwrap_or(0)),
            })
            .collect(),
        edited: row.version_id > 1,
        version: row.version_id,
        mine: sender == viewer_id,
        readers: Vec::new(),
        new: false,
        replies: Vec::new(),
    }
}

fn patient_criterion(refs: &[ValueMatch]) -> Criterion {
    Criterion {
        param: "patient".into(),
        negate: false,
        missing: None,
        any_of: refs.to_vec(),
    }
}

fn by_sent(descending: bool) -> Vec<SortKey> {
    vec![SortKey {
        param: "sent".into(),
        descending,
    }]
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    c: Chrome,
    person_id: String,
    header: record::Header,
    posts: Vec<PostView>,
    page: usize,
    has_next: bool,
    may_post: bool,
    kinds: Vec<(&'static str, &'static str)>,
    f: PostForm,
    errors: Vec<String>,
    max_chars: usize,
}

/// What the post form holds (kept when it is shown again with errors).
#[derive(Default, Clone)]
pub struct PostForm {
    pub kind: String,
    pub urgent: bool,
    pub text: String,
    pub reply_to: String,
}

#[derive(Deserialize, Default)]
pub struct TimelineQuery {
    msg: Option<String>,
    page: Option<usize>,
}

async fn page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    page_no: usize,
    form: Option<PostForm>,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let refs = record::patient_references(state, &ra.person).await?;
    let top = SearchQuery {
        resource_type: "Communication".into(),
        ids: Vec::new(),
        criteria: vec![
            patient_criterion(&refs),
            Criterion {
                param: "in-response-to".into(),
                negate: false,
                missing: Some(true),
                any_of: Vec::new(),
            },
        ],
        last_updated: Vec::new(),
        sort: by_sent(true),
        count: PAGE_SIZE + 1,
        offset: (page_no - 1) * PAGE_SIZE,
        want_total: false,
    };
    let mut rows = state.store.fhir_search(&top, &ra.scope).await?.rows;
    let has_next = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let replies = if rows.is_empty() {
        Vec::new()
    } else {
        let q = SearchQuery {
            resource_type: "Communication".into(),
            ids: Vec::new(),
            // The page's posts first: storage lets the first of equally selective
            // criteria drive the search, and 50 posts are far fewer rows than the patient's.
            criteria: vec![
                Criterion {
                    param: "in-response-to".into(),
                    negate: false,
                    missing: None,
                    any_of: rows
                        .iter()
                        .map(|r| ValueMatch::Reference(format!("Communication/{}", r.id)))
                        .collect(),
                },
                patient_criterion(&refs),
            ],
            last_updated: Vec::new(),
            sort: by_sent(false),
            count: renkei_fhir::search::MAX_COUNT,
            offset: 0,
            want_total: false,
        };
        state.store.fhir_search(&q, &ra.scope).await?.rows
    };
    let shown: Vec<&FhirRow> = rows.iter().chain(&replies).collect();
    let ids: Vec<String> = shown.iter().map(|r| r.id.clone()).collect();
    let facilities = record::facility_names(
        state,
        &shown.iter().map(|r| (*r).clone()).collect::<Vec<_>>(),
        tr,
    )
    .await?;
    let reads = state.store.timeline_readers(&ids).await?;
    // Names of readers, looked up once each.
    let mut names: HashMap<String, String> = HashMap::new();
    for r in &reads {
        if !names.contains_key(&r.user_id) {
            let name = state
                .store
                .get_user(&r.user_id)
                .await?
                .map(|u| u.display_name)
                .unwrap_or_default();
            names.insert(r.user_id.clone(), name);
        }
    }
    let me = viewer.user.id.as_str();
    let dir = TeamDirectory::load(state.store.as_ref(), &ra.person).await?;
    let view = |row: &FhirRow| {
        let v: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
        let sender = clinical::message_sender(&v).unwrap_or_default().to_string();
        let mut p = post_view(tr, row, me, &facilities, &dir);
        let mine_read = reads.iter().any(|r| r.post_id == row.id && r.user_id == me);
        p.new = !mine_read && sender != me;
        p.readers = reads
            .iter()
            .filter(|r| r.post_id == row.id && r.user_id != sender)
            .map(|r| names.get(&r.user_id).cloned().unwrap_or_default())
            .collect();
        if !mine_read && sender != me {
            p.readers.push(viewer.user.display_name.clone());
        }
        p
    };
    let mut posts: Vec<PostView> = rows.iter().map(view).collect();
    for reply in &replies {
        let v: Value = serde_json::from_str(&reply.content).unwrap_or(Value::Null);
        let parent = v
            .pointer("/inResponseTo/0/reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("Communication/"))
            .unwrap_or("");
        if let Some(p) = posts.iter_mut().find(|p| p.id == parent) {
            p.replies.push(view(reply));
        }
    }
    // The view is one audited read; what it showed counts as read by the viewer.
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": "page:/patients/{id}/timeline",
            "basis": if ra.access.own_registration { "own_registration" } else { "care_team" },
            "page": page_no,
            "rows": ids.len(),
            "sources": facilities.keys().collect::<BTreeSet<_>>(),
        })),
    )
    .await?;
    // Only what the viewer had not read yet (a repeated view writes nothing).
    let newly_read: Vec<String> = ids
        .iter()
        .filter(|id| !reads.iter().any(|r| &r.post_id == *id && r.user_id == me))
        .cloned()
        .collect();
    if !newly_read.is_empty() {
        state
            .store
            .mark_timeline_read(me, &newly_read, now_millis())
            .await?;
    }
    // Notifications about what the view showed are read too.
    // (No write at all when the viewer has nothing unread.)
    let cleared = if viewer.unread_notifications > 0 {
        super::notifications::mark(state, viewer, ReadSelector::Sources(ids.clone())).await?
    } else {
        0
    };
    let header = record::header(state, viewer, &ra.person).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = TimelinePage {
        c: Chrome {
            unread: (viewer.unread_notifications - cleared as i64).max(0),
            ..Chrome::for_viewer(state, viewer, "timeline.title").with_notice(notice)
        },
        person_id: ra.person.clone(),
        header,
        posts,
        page: page_no,
        has_next,
        may_post: ra.may_contribute(),
        kinds: KINDS.iter().map(|k| (*k, kind_label(tr, k))).collect(),
        f: form.unwrap_or_else(|| PostForm {
            kind: "observation".into(),
            ..Default::default()
        }),
        errors,
        max_chars: MAX_TEXT_CHARS,
    };
    Ok((status, render(&page)?).into_response())
}

/// `GET /patients/{id}/timeline[?page=n]`.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> AppResult<Response> {
    let ra = record::open(&state, &viewer, &person_id, "page:/patients/{id}/timeline").await?;
    if ra.person != person_id {
        return Ok(Redirect::to(&format!("/patients/{}/timeline", ra.person)).into_response());
    }
    let page_no = q.page.unwrap_or(1).clamp(1, 100_000);
    page(
        &state,
        &viewer,
        &ra,
        page_no,
        None,
        Vec::new(),
        q.msg.as_deref(),
    )
    .await
}

// --- writing -------------------------------------------------------------------------------

/// The form's text: CRLF folded, NFKC, control characters refused, at most
/// [`MAX_TEXT_CHARS`].
fn clean_text(tr: Tr, lang: Lang, raw: &str) -> Result<String, String> {
    let folded = raw.replace("\r\n", "\n").replace('\r', "\n");
    renkei_domain::text::clean("text", &folded, MAX_TEXT_CHARS, false)
        .map_err(|e| format!("{}: {}", tr.field(e.field), e.message(lang)))
}

/// A checked upload: what it is and the bytes to store (JPEG metadata removed).
fn check_file(tr: Tr, data: &[u8]) -> Result<(DocumentKind, Vec<u8>), String> {
    if data.len() > record::MAX_ATTACHMENT_BYTES {
        return Err(tr.t("record.upload_too_large").to_string());
    }
    match renkei_domain::files::detect(data) {
        None => Err(tr.t("timeline.file_wrong_type").to_string()),
        Some(DocumentKind::Jpeg) => renkei_domain::files::strip_jpeg_metadata(data)
            .map(|clean| (DocumentKind::Jpeg, clean))
            .ok_or_else(|| tr.t("timeline.file_broken").to_string()),
        Some(kind) => Ok((kind, data.to_vec())),
    }
}

fn sender_display(viewer: &Viewer) -> String {
    format!(
        "{}（{}）",
        viewer.user.display_name,
        viewer.user.profession.label(Lang::Ja)
    )
}

/// `POST /patients/{id}/timeline` (multipart or form: `csrf`, `kind`, `urgent`, `text`,
/// `reply_to`, `file`): a new post or a reply.
pub async fn create(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let lang = viewer.lang();
    let parts = super::read_multipart(
        tr,
        multipart,
        &["csrf", "kind", "urgent", "text", "reply_to"],
    )
    .await?;
    let csrf = parts.text("csrf");
    let form = PostForm {
        kind: parts.text("kind"),
        urgent: !parts.text("urgent").is_empty(),
        text: parts.text("text"),
        reply_to: parts.text("reply_to"),
    };
    let file = parts.file;
    viewer.check_csrf(&csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:timeline.post").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let mut errors = Vec::new();
    if !KINDS.contains(&form.kind.as_str()) {
        errors.push(tr.t("timeline.kind_required").to_string());
    }
    let text = clean_text(tr, lang, &form.text).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let checked = match &file {
        Some((_, data)) => match check_file(tr, data) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    if text.is_empty() && file.is_none() {
        errors.push(tr.t("timeline.text_required").to_string());
    }
    let reply_to = form.reply_to.trim().to_string();
    let mut parent_sender: Option<String> = None;
    if !reply_to.is_empty() {
        // Only a post of this patient the viewer can see; a reply to a reply goes under
        // the same post.
        let parent = state
            .store
            .fhir_read("Communication", &reply_to)
            .await?
            .filter(|row| record::row_visible(&ra, row));
        match parent {
            None => errors.push(tr.t("timeline.no_such_post").to_string()),
            Some(row) => {
                let v: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
                parent_sender = clinical::message_sender(&v).map(str::to_string);
            }
        }
    }
    if errors.is_empty() {
        let now = now_millis();
        let mut payload = Vec::new();
        if !text.is_empty() {
            payload.push(json!({ "contentString": text }));
        }
        let mut resources = Vec::new();
        if let (Some((kind, data)), Some((claimed, _))) = (checked, &file) {
            let binary_id = crate::fhir_rest::new_id();
            let filename = renkei_domain::files::safe_filename(claimed, kind);
            payload.push(json!({ "contentAttachment": {
                "contentType": kind.mime(),
                "url": format!("Binary/{binary_id}"),
                "size": data.len(),
                "title": filename,
                "creation": record::fhir_datetime(now),
            } }));
            resources.push((
                binary_id,
                json!({
                    "resourceType": "Binary",
                    "contentType": kind.mime(),
                    "securityContext": { "reference": format!("Patient/{}", ra.person) },
                    "data": base64::engine::general_purpose::STANDARD.encode(&data),
                }),
            ));
        }
        let mut post = json!({
            "resourceType": "Communication",
            "status": "completed",
            "category": [{ "coding": [{
                "system": KIND_SYSTEM,
                "code": form.kind,
                "display": kind_label(Tr(Lang::Ja), &form.kind),
            }] }],
            "priority": if form.urgent { "urgent" } else { "routine" },
            "subject": { "reference": format!("Patient/{}", ra.person) },
            "sent": clinical::instant(now),
            "sender": { "display": sender_display(&viewer) },
            "payload": payload,
        });
        if !reply_to.is_empty() {
            post["inResponseTo"] = json!([{ "reference": format!("Communication/{reply_to}") }]);
        }
        let post_id = crate::fhir_rest::new_id();
        let attach: Vec<(usize, usize)> = if resources.is_empty() {
            Vec::new()
        } else {
            vec![(0, 1)]
        };
        resources.push((post_id.clone(), post));
        // Who hears of it: the care team only (mentions, the replied-to author, everyone
        // when urgent), stored with the post.
        let dir = TeamDirectory::load(state.store.as_ref(), &ra.person).await?;
        let notes = notify_rules::for_post(
            &dir,
            &notify_rules::PostFacts {
                person_id: &ra.person,
                post_id: &post_id,
                author_user_id: &viewer.user.id,
                author_facility_id: &ra.facility.id,
                text: &text,
                urgent: form.urgent,
                reply_to_sender: parent_sender.as_deref(),
                at: now,
            },
        );
        let recipients: Vec<String> = notes.iter().map(|n| n.user_id.clone()).collect();
        match record::store_new_notifying(
            &state,
            &record::author(&viewer, &ra.facility),
            resources,
            &attach,
            notes,
        )
        .await
        {
            Ok(_) => {
                super::notifications::announce(&state, &recipients, true).await;
                // One's own post is read.
                state
                    .store
                    .mark_timeline_read(&viewer.user.id, std::slice::from_ref(&post_id), now)
                    .await?;
                return Ok(Redirect::to(&format!(
                    "/patients/{}/timeline?msg=notice.timeline_posted#post-{post_id}",
                    ra.person
                ))
                .into_response());
            }
            Err(e) => errors = record::write_errors(tr, lang, e)?,
        }
    }
    page(&state, &viewer, &ra, 1, Some(form), errors, None).await
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    urgent: String,
    #[serde(default)]
    text: String,
    /// The version the author edited (a newer one in between is a conflict).
    #[serde(default)]
    version: String,
}

/// `POST /patients/{id}/timeline/{post}/edit` (form: `csrf`, `kind`, `urgent`, `text`,
/// `version`): the sender changes a post; the change is a new version, the earlier ones stay.
pub async fn edit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, post_id)): Path<(String, String)>,
    axum::Form(f): axum::Form<EditForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let tr = viewer.tr();
    let lang = viewer.lang();
    let ra = record::open(&state, &viewer, &person_id, "action:timeline.edit").await?;
    let resource = format!("action:timeline.edit/{post_id}");
    let Some(row) = state
        .store
        .fhir_read("Communication", &post_id)
        .await?
        .filter(|row| record::row_visible(&ra, row))
    else {
        return Err(record::refused(&state, &viewer, &ra, &resource).await);
    };
    if !clinical::may_change_message(&row, &viewer.user.id) {
        let mut entry = viewer.audit("fhir.update", Outcome::Denied).detail(
            json!({ "resource": format!("Communication/{post_id}"), "reason": "not_sender" }),
        );
        entry.patient_id = Some(ra.person.clone());
        state.store.append_audit(entry).await?;
        return Err(AppError::Forbidden);
    }
    let current: Value =
        serde_json::from_str(&row.content).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut errors = Vec::new();
    if f.version.trim() != row.version_id.to_string() {
        errors.push(tr.t("timeline.edit_conflict").to_string());
    }
    if !KINDS.contains(&f.kind.as_str()) {
        errors.push(tr.t("timeline.kind_required").to_string());
    }
    let text = clean_text(tr, lang, &f.text).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let files = attachments_of(&current);
    if text.is_empty() && files.is_empty() {
        errors.push(tr.t("timeline.text_required").to_string());
    }
    if errors.is_empty() {
        let mut updated = current.clone();
        let mut payload: Vec<Value> = Vec::new();
        if !text.is_empty() {
            payload.push(json!({ "contentString": text }));
        }
        payload.extend(files.into_iter().map(|a| json!({ "contentAttachment": a })));
        updated["payload"] = json!(payload);
        updated["priority"] = json!(if f.urgent.is_empty() {
            "routine"
        } else {
            "urgent"
        });
        updated["category"] = json!([{ "coding": [{
            "system": KIND_SYSTEM,
            "code": f.kind,
            "display": kind_label(Tr(Lang::Ja), &f.kind),
        }] }]);
        if let Some(meta) = updated.get_mut("meta").and_then(Value::as_object_mut) {
            meta.remove("versionId");
            meta.remove("lastUpdated");
        }
        let author = record::author(&viewer, &ra.facility);
        let now = now_millis();
        let result = async {
            let write = clinical::prepare_write(
                state.store.as_ref(),
                &author,
                updated,
                WriteIntent {
                    kind: FhirWriteKind::Update {
                        expected_version: Some(row.version_id),
                    },
                    id: post_id.clone(),
                    version_id: row.version_id + 1,
                },
                now,
                &[],
            )
            .await?;
            clinical::commit(
                state.store.as_ref(),
                &author,
                vec![write],
                "fhir.update",
                now,
            )
            .await
            .map_err(clinical::WriteError::from)
        }
        .await;
        match result {
            Ok(_) => {
                return Ok(Redirect::to(&format!(
                    "/patients/{}/timeline?msg=notice.timeline_edited#post-{post_id}",
                    ra.person
                ))
                .into_response())
            }
            Err(clinical::WriteError::Store(renkei_storage::StoreError::Conflict(_))) => {
                errors.push(tr.t("timeline.edit_conflict").to_string())
            }
            Err(e) => errors = record::write_errors(tr, lang, e)?,
        }
    }
    let form = PostForm {
        kind: f.kind,
        urgent: !f.urgent.is_empty(),
        text: f.text,
        reply_to: String::new(),
    };
    page(&state, &viewer, &ra, 1, Some(form), errors, None).await
}

// --- history and files ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "timeline_history.html")]
struct HistoryPage {
    c: Chrome,
    person_id: String,
    post_id: String,
    versions: Vec<PostView>,
}

/// `GET /patients/{id}/timeline/{post}/history`: every version of a post, newest first.
pub async fn history(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, post_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ra = record::open(
        &state,
        &viewer,
        &person_id,
        "page:/patients/{id}/timeline/{post}/history",
    )
    .await?;
    let resource = format!("page:/patients/{{id}}/timeline/{post_id}/history");
    if state
        .store
        .fhir_read("Communication", &post_id)
        .await?
        .filter(|row| record::row_visible(&ra, row))
        .is_none()
    {
        return Err(record::refused(&state, &viewer, &ra, &resource).await);
    }
    let rows = state
        .store
        .fhir_history(
            &HistoryQuery {
                resource_type: Some("Communication".into()),
                id: Some(post_id.clone()),
                since: None,
                count: 1000,
                offset: 0,
            },
            &ra.scope,
        )
        .await?;
    let tr = viewer.tr();
    let facilities = record::facility_names(&state, &rows, tr).await?;
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({ "resource": resource, "rows": rows.len() })),
    )
    .await?;
    let dir = TeamDirectory::load(state.store.as_ref(), &ra.person).await?;
    let versions = rows
        .iter()
        .filter(|r| !r.deleted)
        .map(|r| {
            let mut p = post_view(tr, r, &viewer.user.id, &facilities, &dir);
            p.sent = jst(r.last_updated);
            p
        })
        .collect();
    let page = HistoryPage {
        c: Chrome::for_viewer(&state, &viewer, "timeline.history"),
        person_id: ra.person.clone(),
        post_id,
        versions,
    };
    Ok(render(&page)?.into_response())
}

/// `GET /patients/{id}/timeline/{post}/files/{n}`: the n-th attachment of a post, access
/// checked again (the post and its Binary must both be within the viewer's scope) and
/// audited.
pub async fn download(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, post_id, index)): Path<(String, String, usize)>,
) -> AppResult<Response> {
    let ra = record::open(
        &state,
        &viewer,
        &person_id,
        "page:/patients/{id}/timeline/{post}/files/{n}",
    )
    .await?;
    let resource = format!("page:/patients/{{id}}/timeline/{post_id}/files/{index}");
    let Some(post) = state
        .store
        .fhir_read("Communication", &post_id)
        .await?
        .filter(|row| record::row_visible(&ra, row))
    else {
        return Err(record::refused(&state, &viewer, &ra, &resource).await);
    };
    let v: Value =
        serde_json::from_str(&post.content).map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(attachment) = attachments_of(&v).get(index).map(|a| (*a).clone()) else {
        return Err(AppError::NotFound);
    };
    let (rtype, id) = record::text_at(&attachment, "/url")
        .and_then(record::relative_reference)
        .ok_or(AppError::NotFound)?;
    if rtype != "Binary" {
        return Err(AppError::NotFound);
    }
    let Some(bin) = state
        .store
        .fhir_read("Binary", &id)
        .await?
        .filter(|row| record::row_visible(&ra, row))
    else {
        return Err(record::refused(&state, &viewer, &ra, &resource).await);
    };
    let b: Value =
        serde_json::from_str(&bin.content).map_err(|e| AppError::Internal(e.to_string()))?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(record::text_at(&b, "/data").unwrap_or("").as_bytes())
        .map_err(|_| AppError::NotFound)?;
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": resource,
            "category": bin.category,
            "source": bin.source_facility_id,
        })),
    )
    .await?;
    let (mime, inline) =
        record::served_type(record::text_at(&b, "/contentType").unwrap_or(""), &data);
    let filename = record::text_at(&attachment, "/title").unwrap_or("file");
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        crate::error::urlencode(filename)
    );
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        data,
    )
        .into_response())
}

// --- unread counters -------------------------------------------------------------------------

/// The viewer's unread timeline posts per person (of `persons`), counted within what the
/// viewer may see of each (the access decision as a scope). Persons without unread posts
/// are left out.
pub async fn unread_counts(
    state: &SharedState,
    viewer: &Viewer,
    persons: &[String],
) -> AppResult<HashMap<String, i64>> {
    if viewer.facility().is_none() || persons.is_empty() {
        return Ok(HashMap::new());
    }
    let requester = viewer.requester();
    let now = now_millis();
    let mut accesses = Vec::new();
    for p in persons {
        if let Some(a) = clinical::person_access(state.store.as_ref(), &requester, p, now).await? {
            accesses.push(a);
        }
    }
    let scope = clinical::scope_of(&requester, &accesses, false);
    // Own-facility rows count only for persons the facility still cares for.
    let reachable: Vec<String> = accesses
        .iter()
        .filter(|a| a.any())
        .map(|a| a.person_id.clone())
        .collect();
    Ok(state
        .store
        .timeline_unread(&viewer.user.id, &reachable, &scope)
        .await?
        .into_iter()
        .collect())
}

/// A patient with unread posts, for the home page.
pub struct UnreadPatient {
    pub person_id: String,
    pub name: String,
    pub unread: i64,
}

/// Patients of the viewer's facility (care teams and own registrations) with timeline posts
/// the viewer has not read. Each person listed is an audited read.
pub async fn unread_patients(
    state: &SharedState,
    viewer: &Viewer,
) -> AppResult<Vec<UnreadPatient>> {
    let Some(facility) = viewer.facility() else {
        return Ok(Vec::new());
    };
    let records = state.store.team_patients(&facility.id, None, 500).await?;
    let mut persons: Vec<String> = records.iter().map(|r| r.person_id.clone()).collect();
    persons.sort();
    persons.dedup();
    let counts = unread_counts(state, viewer, &persons).await?;
    let mut out = Vec::new();
    for (person, n) in counts {
        let name = records
            .iter()
            .find(|r| r.person_id == person)
            .map(|r| r.full_name())
            .unwrap_or_default();
        out.push(UnreadPatient {
            person_id: person,
            name,
            unread: n,
        });
    }
    out.sort_by(|a, b| b.unread.cmp(&a.unread).then(a.name.cmp(&b.name)));
    for p in &out {
        let mut entry = viewer
            .audit("patient.read", Outcome::Success)
            .detail(json!({ "resource": "page:/#timeline-unread", "basis": "care_team" }));
        entry.patient_id = Some(p.person_id.clone());
        state.store.append_audit(entry).await?;
    }
    Ok(out)
}
