//! The care team's patient timeline (患者タイムライン): posts of the team about one patient —
//! observations, instructions, reports, consultations — with an urgency flag, a photo (with
//! a stored preview), a short video or a PDF, replies under their post, edits that keep every earlier version, and read receipts.
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
use axum::http::{header, HeaderMap, StatusCode};
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
/// Largest video a post may carry (photos and PDFs: `record::MAX_ATTACHMENT_BYTES`).
pub const MAX_VIDEO_BYTES: usize = 30 * 1024 * 1024;
/// Longest video, in seconds: a short clip of a wound, a gait, a swallow.
pub const MAX_VIDEO_SECONDS: u64 = 60;
/// The attachment's preview: a JPEG `Binary` stored with the photo (FHIR R4's Attachment
/// has no element for it).
pub const THUMBNAIL_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/attachment-thumbnail";

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
    pub video: bool,
    /// A stored preview to show instead of the photo itself.
    pub thumbnail: bool,
    pub size: String,
}

/// The stored preview of an attachment, when it has one.
fn thumbnail_of(attachment: &Value) -> Option<&Value> {
    attachment
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e["url"] == THUMBNAIL_EXTENSION)?
        .get("valueAttachment")
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
            .map(|(index, a)| {
                let mime = a["contentType"].as_str().unwrap_or("");
                FileView {
                    index,
                    title: a["title"].as_str().unwrap_or("file").to_string(),
                    image: mime.starts_with("image/"),
                    video: mime.starts_with("video/"),
                    thumbnail: thumbnail_of(a).is_some(),
                    size: size_text(a["size"].as_i64().unwrap_or(0)),
                }
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

/// A checked upload: the bytes to store (photo and video metadata removed), their type,
/// the file name's extension and, for a photo, its preview.
struct CheckedFile {
    mime: &'static str,
    extension: &'static str,
    data: Vec<u8>,
    thumbnail: Option<Vec<u8>>,
}

/// Decides what an upload is from its content, applies that kind's size and length limits
/// and removes location data. The photo preview is decoded off the async workers.
async fn check_file(tr: Tr, data: Vec<u8>) -> Result<CheckedFile, String> {
    use renkei_domain::files::{detect, detect_video, strip_jpeg_metadata, strip_video_metadata};
    if let Some(video) = detect_video(&data) {
        if data.len() > MAX_VIDEO_BYTES {
            return Err(tr.t("timeline.video_too_large").to_string());
        }
        let clean =
            strip_video_metadata(&data).ok_or_else(|| tr.t("timeline.video_broken").to_string())?;
        if clean.duration_ms.unwrap_or(0) > MAX_VIDEO_SECONDS * 1000 {
            return Err(tr.t("timeline.video_too_long").to_string());
        }
        return Ok(CheckedFile {
            mime: video.mime(),
            extension: video.extension(),
            data: clean.data,
            thumbnail: None,
        });
    }
    if data.len() > record::MAX_ATTACHMENT_BYTES {
        return Err(tr.t("record.upload_too_large").to_string());
    }
    let (kind, data, format) = match detect(&data) {
        None => return Err(tr.t("timeline.media_wrong_type").to_string()),
        Some(DocumentKind::Pdf) => {
            return Ok(CheckedFile {
                mime: DocumentKind::Pdf.mime(),
                extension: DocumentKind::Pdf.extension(),
                data,
                thumbnail: None,
            })
        }
        Some(DocumentKind::Jpeg) => match strip_jpeg_metadata(&data) {
            Some(clean) => (DocumentKind::Jpeg, clean, image::ImageFormat::Jpeg),
            None => return Err(tr.t("timeline.file_broken").to_string()),
        },
        Some(DocumentKind::Png) => (DocumentKind::Png, data, image::ImageFormat::Png),
    };
    let (data, preview) = tokio::task::spawn_blocking(move || {
        let preview = crate::media::thumbnail(&data, format);
        (data, preview)
    })
    .await
    .map_err(|e| e.to_string())?;
    let thumbnail = preview.map_err(|e| {
        tracing::info!(error = %e, "timeline: photo refused");
        tr.t("timeline.image_broken").to_string()
    })?;
    Ok(CheckedFile {
        mime: kind.mime(),
        extension: kind.extension(),
        data,
        thumbnail: Some(thumbnail),
    })
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
        Some((_, data)) => match check_file(tr, data.clone()).await {
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
        if let (Some(checked), Some((claimed, _))) = (checked, &file) {
            let binary = |mime: &str, data: &[u8]| {
                json!({
                    "resourceType": "Binary",
                    "contentType": mime,
                    "securityContext": { "reference": format!("Patient/{}", ra.person) },
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                })
            };
            let binary_id = crate::fhir_rest::new_id();
            let filename = renkei_domain::files::safe_name(claimed, checked.extension);
            let mut attachment = json!({
                "contentType": checked.mime,
                "url": format!("Binary/{binary_id}"),
                "size": checked.data.len(),
                "title": filename,
                "creation": record::fhir_datetime(now),
            });
            resources.push((binary_id, binary(checked.mime, &checked.data)));
            if let Some(preview) = &checked.thumbnail {
                let preview_id = crate::fhir_rest::new_id();
                attachment["extension"] = json!([{
                    "url": THUMBNAIL_EXTENSION,
                    "valueAttachment": {
                        "contentType": "image/jpeg",
                        "url": format!("Binary/{preview_id}"),
                        "size": preview.len(),
                    },
                }]);
                resources.push((preview_id, binary("image/jpeg", preview)));
            }
            payload.push(json!({ "contentAttachment": attachment }));
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
        // The Binaries (file, preview) belong to the post's patient record.
        let attach: Vec<(usize, usize)> = (0..resources.len())
            .map(|binary| (binary, resources.len()))
            .collect();
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
/// audited. A `Range: bytes=…` request gets that part (206): players on tablets fetch
/// videos piece by piece.
pub async fn download(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, post_id, index)): Path<(String, String, usize)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    serve_file(&state, &viewer, &person_id, &post_id, index, false, range).await
}

/// `GET /patients/{id}/timeline/{post}/files/{n}/thumbnail`: the stored preview of a photo
/// (JPEG, at most 480 px a side), checked and audited like the photo.
pub async fn download_thumbnail(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, post_id, index)): Path<(String, String, usize)>,
) -> AppResult<Response> {
    serve_file(&state, &viewer, &person_id, &post_id, index, true, None).await
}

async fn serve_file(
    state: &SharedState,
    viewer: &Viewer,
    person_id: &str,
    post_id: &str,
    index: usize,
    preview: bool,
    range: Option<&str>,
) -> AppResult<Response> {
    let route = if preview {
        "page:/patients/{id}/timeline/{post}/files/{n}/thumbnail"
    } else {
        "page:/patients/{id}/timeline/{post}/files/{n}"
    };
    let ra = record::open(state, viewer, person_id, route).await?;
    let resource = format!(
        "page:/patients/{{id}}/timeline/{post_id}/files/{index}{}",
        if preview { "/thumbnail" } else { "" }
    );
    let Some(post) = state
        .store
        .fhir_read("Communication", post_id)
        .await?
        .filter(|row| record::row_visible(&ra, row))
    else {
        return Err(record::refused(state, viewer, &ra, &resource).await);
    };
    let v: Value =
        serde_json::from_str(&post.content).map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(attachment) = attachments_of(&v).get(index).map(|a| (*a).clone()) else {
        return Err(AppError::NotFound);
    };
    let served = if preview {
        thumbnail_of(&attachment)
            .cloned()
            .ok_or(AppError::NotFound)?
    } else {
        attachment.clone()
    };
    let (rtype, id) = record::text_at(&served, "/url")
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
        return Err(record::refused(state, viewer, &ra, &resource).await);
    };
    let b: Value =
        serde_json::from_str(&bin.content).map_err(|e| AppError::Internal(e.to_string()))?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(record::text_at(&b, "/data").unwrap_or("").as_bytes())
        .map_err(|_| AppError::NotFound)?;
    let part = byte_range(range, data.len());
    let mut detail = json!({
        "resource": resource,
        "category": bin.category,
        "source": bin.source_facility_id,
    });
    if let ByteRange::Part(first, last) = part {
        detail["range"] = json!(format!("{first}-{last}"));
    }
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(detail),
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
    let headers = [
        (header::CONTENT_TYPE, mime.to_string()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "private, no-store".to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
    ];
    Ok(match part {
        ByteRange::Whole => (headers, data).into_response(),
        ByteRange::Part(first, last) => (
            StatusCode::PARTIAL_CONTENT,
            headers,
            [(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{}", data.len()),
            )],
            data[first..=last].to_vec(),
        )
            .into_response(),
        ByteRange::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{}", data.len()))],
        )
            .into_response(),
    })
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    Whole,
    /// First and last byte, inclusive.
    Part(usize, usize),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`); several ranges or another unit get the whole
/// body, which RFC 9110 allows a server to send instead.
fn byte_range(header: Option<&str>, len: usize) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let parse = |s: &str| s.trim().parse::<usize>().ok();
    let (first, last) = match (first.trim().is_empty(), last.trim().is_empty()) {
        // The last n bytes.
        (true, false) => match parse(last) {
            Some(0) => return ByteRange::Unsatisfiable,
            Some(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            None => return ByteRange::Whole,
        },
        (false, true) => match parse(first) {
            Some(a) => (a, len.saturating_sub(1)),
            None => return ByteRange::Whole,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
            _ => return ByteRange::Whole,
        },
        (true, true) => return ByteRange::Whole,
    };
    if len == 0 || first >= len {
        ByteRange::Unsatisfiable
    } else {
        ByteRange::Part(first, last)
    }
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

#[cfg(test)]
mod range_tests {
    use super::{byte_range, ByteRange};

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range(None, 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), ByteRange::Part(0, 9));
        assert_eq!(byte_range(Some("bytes=90-"), 100), ByteRange::Part(90, 99));
        assert_eq!(byte_range(Some("bytes=-10"), 100), ByteRange::Part(90, 99));
        assert_eq!(byte_range(Some("bytes=-500"), 100), ByteRange::Part(0, 99));
        assert_eq!(
            byte_range(Some("bytes=50-5000"), 100),
            ByteRange::Part(50, 99)
        );
        assert_eq!(
            byte_range(Some("bytes=100-"), 100),
            ByteRange::Unsatisfiable
        );
        assert_eq!(byte_range(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=9-1"), 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("items=0-1"), 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=x-"), 100), ByteRange::Whole);
    }
}
