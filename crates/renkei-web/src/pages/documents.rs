//! Documents between facilities in their Japanese forms (入院時情報提供書, 退院・退所情報記録書,
//! 診療情報提供書, 訪問看護報告書): drafts, sending to facilities of the care team, receipt
//! confirmation by the receiving facility, the PDF and (for any kind) a FHIR document
//! Bundle, and the due list of the 入院時情報提供書.
//!
//! A document is a FHIR `Composition` (see `renkei_core::documents`) written through
//! `renkei_core::clinical` like every clinical write (validation, contribution rule,
//! Provenance, audit) and read through the record's access decision (`record::open` →
//! scope), one `patient.read` audit record per view. Deliveries and receipts are rows of
//! `Store::documents`, written in the same transaction as the final Composition.

use super::record::{self, RecordAccess};
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use renkei_core::clinical::{self, WriteIntent};
use renkei_core::clins;
use renkei_core::documents::{self as docs, DocumentFacts, DueStatus, FieldKind, Kind};
use renkei_domain::audit::Outcome;
use renkei_domain::patient::{InfoCategory, Sex};
use renkei_domain::{now_millis, Lang};
use renkei_fhir::search::{Criterion, ValueMatch};
use renkei_storage::documents::DocumentDelivery;
use renkei_storage::fhir::{FhirRow, FhirWriteKind};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

fn kind_label(lang: Lang, kind: &Kind) -> &'static str {
    match lang {
        Lang::Ja => kind.ja,
        Lang::En => kind.en,
    }
}

fn jst_date(millis: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(millis + 9 * 3600 * 1000)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

fn content(row: &FhirRow) -> Value {
    serde_json::from_str(&row.content).unwrap_or(Value::Null)
}

/// A document's row, if it is one of the person's within the viewer's scope.
async fn document_row(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    doc_id: &str,
    resource: &str,
) -> AppResult<(FhirRow, Value, &'static Kind)> {
    let row = state
        .store
        .fhir_read("Composition", doc_id)
        .await?
        .filter(|row| record::row_visible(ra, row));
    let Some(row) = row else {
        return Err(record::refused(state, viewer, ra, resource).await);
    };
    let v = content(&row);
    let Some(kind) = docs::kind_of(&v) else {
        return Err(record::refused(state, viewer, ra, resource).await);
    };
    Ok((row, v, kind))
}

fn is_final(v: &Value) -> bool {
    v["status"].as_str() == Some("final")
}

/// Active facilities of the patient's care team (the only possible recipients).
async fn team_facilities(state: &SharedState, person: &str) -> AppResult<Vec<(String, String)>> {
    let dir = renkei_core::notify::TeamDirectory::load(state.store.as_ref(), person).await?;
    Ok(dir
        .facilities
        .into_iter()
        .map(|f| (f.facility_id, f.name))
        .collect())
}

async fn facility_name(
    state: &SharedState,
    cache: &mut HashMap<String, String>,
    id: &str,
) -> AppResult<String> {
    if let Some(n) = cache.get(id) {
        return Ok(n.clone());
    }
    let name = state
        .store
        .get_facility(id)
        .await?
        .map(|f| f.name)
        .unwrap_or_default();
    cache.insert(id.to_string(), name.clone());
    Ok(name)
}

async fn user_name(state: &SharedState, id: &str) -> AppResult<String> {
    Ok(state
        .store
        .get_user(id)
        .await?
        .map(|u| u.display_name)
        .unwrap_or_default())
}

// --- admission dates and due status ---------------------------------------------------------

/// Inpatient admissions of the person (from Encounters of class IMP in the clinical store),
/// latest first.
fn admissions(rows: &[FhirRow]) -> Vec<NaiveDate> {
    let mut out: Vec<NaiveDate> = rows
        .iter()
        .filter(|r| r.resource_type == "Encounter")
        .map(content)
        .filter(|e| {
            matches!(
                e.pointer("/class/code").and_then(Value::as_str),
                Some("IMP" | "ACUTE" | "NONAC")
            ) && e["status"].as_str() != Some("cancelled")
                && e["status"].as_str() != Some("entered-in-error")
        })
        .filter_map(|e| {
            e.pointer("/period/start")
                .and_then(Value::as_str)
                .and_then(|s| s.get(..10))
                .and_then(docs::parse_date)
        })
        .collect();
    out.sort();
    out.dedup();
    out.reverse();
    out
}

/// One admission and where its 入院時情報提供書 stands.
pub struct DueView {
    pub person_id: String,
    pub patient: String,
    pub admitted: String,
    pub due: String,
    pub status: DueStatus,
    pub status_text: String,
    pub css: &'static str,
    /// The document to open (a draft or the sent one), if any.
    pub document_id: Option<String>,
}

fn due_text(lang: Lang, s: DueStatus) -> (String, &'static str) {
    match (s, lang) {
        (DueStatus::ProvidedInTime, Lang::Ja) => ("提供済み（期限内）".into(), "ok"),
        (DueStatus::ProvidedInTime, Lang::En) => ("Provided in time".into(), "ok"),
        (DueStatus::ProvidedLate, Lang::Ja) => ("提供済み（期限後）".into(), "late"),
        (DueStatus::ProvidedLate, Lang::En) => ("Provided after the deadline".into(), "late"),
        (DueStatus::Due { days_left: 0 }, Lang::Ja) => ("本日期限".into(), "due"),
        (DueStatus::Due { days_left: 0 }, Lang::En) => ("Due today".into(), "due"),
        (DueStatus::Due { days_left }, Lang::Ja) => (format!("期限まであと{days_left}日"), "due"),
        (DueStatus::Due { days_left }, Lang::En) => (format!("Due in {days_left} day(s)"), "due"),
        (DueStatus::Overdue { days_late }, Lang::Ja) => {
            (format!("期限超過（{days_late}日）"), "overdue")
        }
        (DueStatus::Overdue { days_late }, Lang::En) => {
            (format!("Overdue by {days_late} day(s)"), "overdue")
        }
    }
}

/// The admissions of one person (Encounters, and admission dates entered on the person's
/// 入院時情報提供書) with the status of their 入院時情報提供書, latest first.
async fn due_of_person(
    state: &SharedState,
    lang: Lang,
    person: &str,
    patient: &str,
    rows: &[FhirRow],
    today: NaiveDate,
) -> AppResult<Vec<DueView>> {
    let forms: Vec<(&FhirRow, Value)> = rows
        .iter()
        .filter(|r| r.resource_type == "Composition")
        .map(|r| (r, content(r)))
        .filter(|(_, v)| docs::kind_of(v).map(|k| k.code) == Some(docs::ADMISSION_INFO))
        .collect();
    let form_date = |v: &Value| -> Option<NaiveDate> {
        docs::values_of(v)
            .into_iter()
            .find(|(k, _)| k == "admission_date")
            .and_then(|(_, d)| docs::parse_date(&d))
    };
    let mut dates = admissions(rows);
    dates.extend(forms.iter().filter_map(|(_, v)| form_date(v)));
    dates.sort();
    dates.dedup();
    dates.reverse();
    let ids: Vec<String> = forms.iter().map(|(r, _)| r.id.clone()).collect();
    let deliveries = state.store.documents().deliveries_of(&ids).await?;
    let mut out = Vec::new();
    for admitted in dates {
        let mine: Vec<&(&FhirRow, Value)> = forms
            .iter()
            .filter(|(_, v)| form_date(v) == Some(admitted))
            .collect();
        let sent = mine
            .iter()
            .flat_map(|(r, _)| deliveries.iter().filter(|d| d.document_id == r.id))
            .map(|d| jst_date(d.sent_at))
            .min();
        let document_id = mine
            .iter()
            .find(|(_, v)| is_final(v))
            .or_else(|| mine.first())
            .map(|(r, _)| r.id.clone());
        let status = docs::due_status(admitted, sent, today);
        let (status_text, css) = due_text(lang, status);
        out.push(DueView {
            person_id: person.to_string(),
            patient: patient.to_string(),
            admitted: admitted.to_string(),
            due: docs::admission_info_due(admitted).to_string(),
            status,
            status_text,
            css,
            document_id,
        });
    }
    Ok(out)
}

// --- the patient's documents ----------------------------------------------------------------

pub struct DocRow {
    pub id: String,
    pub kind: &'static str,
    pub title: String,
    pub draft: bool,
    pub facility: String,
    pub author: String,
    pub updated: String,
    /// "施設名（受領済み）…"
    pub recipients: Vec<String>,
}

#[derive(Template)]
#[template(path = "documents.html")]
struct ListPage {
    c: Chrome,
    person_id: String,
    header: record::Header,
    documents: Vec<DocRow>,
    kinds: Vec<(&'static str, &'static str)>,
    may_write: bool,
    due: Vec<DueView>,
}

#[derive(Deserialize, Default)]
pub struct Msg {
    msg: Option<String>,
}

fn recipient_text(lang: Lang, name: &str, d: &DocumentDelivery) -> String {
    match (d.received_at, lang) {
        (Some(at), Lang::Ja) => format!("{name}（{} 受領確認）", jst(at)),
        (Some(at), Lang::En) => format!("{name} (receipt confirmed {})", jst(at)),
        (None, Lang::Ja) => format!("{name}（未確認）"),
        (None, Lang::En) => format!("{name} (not yet confirmed)"),
    }
}

/// `GET /patients/{id}/documents`.
pub async fn list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<Msg>,
) -> AppResult<Response> {
    let ra = record::open(&state, &viewer, &person_id, "page:/patients/{id}/documents").await?;
    if ra.person != person_id {
        return Ok(Redirect::to(&format!("/patients/{}/documents", ra.person)).into_response());
    }
    let lang = viewer.lang();
    let (rows, _) = record::person_rows(
        &state,
        &ra.person,
        &ra.scope,
        &[("Composition", Vec::new()), ("Encounter", Vec::new())],
    )
    .await?;
    let mut compositions: Vec<&FhirRow> = rows
        .iter()
        .filter(|r| r.resource_type == "Composition" && docs::kind_of(&content(r)).is_some())
        .collect();
    compositions.sort_by_key(|r| std::cmp::Reverse(r.last_updated));
    let ids: Vec<String> = compositions.iter().map(|r| r.id.clone()).collect();
    let deliveries = state.store.documents().deliveries_of(&ids).await?;
    let mut names = HashMap::new();
    let mut documents = Vec::new();
    for r in &compositions {
        let v = content(r);
        let kind = docs::kind_of(&v).expect("filtered above");
        let facility = match &r.source_facility_id {
            Some(f) => facility_name(&state, &mut names, f).await?,
            None => String::new(),
        };
        let mut recipients = Vec::new();
        for d in deliveries.iter().filter(|d| d.document_id == r.id) {
            let name = facility_name(&state, &mut names, &d.to_facility_id).await?;
            recipients.push(recipient_text(lang, &name, d));
        }
        documents.push(DocRow {
            id: r.id.clone(),
            kind: kind_label(lang, kind),
            title: v["title"].as_str().unwrap_or(kind.ja).to_string(),
            draft: !is_final(&v),
            facility,
            author: v
                .pointer("/author/0/display")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            updated: jst(r.last_updated),
            recipients,
        });
    }
    let header = record::header(&state, &viewer, &ra.person).await?;
    let due = due_of_person(
        &state,
        lang,
        &ra.person,
        &header.name,
        &rows,
        super::patients::today_jst(),
    )
    .await?;
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": "page:/patients/{id}/documents", "rows": rows.len() }),
    )
    .await?;
    let page = ListPage {
        c: Chrome::for_viewer(&state, &viewer, "documents.title").with_notice(q.msg.as_deref()),
        person_id: ra.person.clone(),
        header,
        documents,
        kinds: docs::KINDS
            .iter()
            .map(|k| (k.code, kind_label(lang, k)))
            .collect(),
        may_write: ra.may_contribute(),
        due,
    };
    Ok(render(&page)?.into_response())
}

fn author_display(viewer: &Viewer) -> String {
    format!(
        "{}（{}）",
        viewer.user.display_name,
        viewer.user.profession.label(Lang::Ja)
    )
}

#[derive(Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
}

/// `POST /patients/{id}/documents` (form: `csrf`, `kind`): a new draft of that kind (the
/// 入院時情報提供書 starts with the latest admission date known), then its edit page.
pub async fn create(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    axum::Form(f): axum::Form<NewForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:documents.create").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let Some(kind) = docs::kind(&f.kind) else {
        return Err(AppError::BadRequest(
            viewer.tr().t("documents.kind_required").into(),
        ));
    };
    let mut values: Vec<(&str, String)> = Vec::new();
    if kind.fields.iter().any(|fl| fl.key == "admission_date") {
        let (rows, _) =
            record::person_rows(&state, &ra.person, &ra.scope, &[("Encounter", Vec::new())])
                .await?;
        if let Some(d) = admissions(&rows).first() {
            values.push(("admission_date", d.to_string()));
        }
    }
    let now = now_millis();
    let facts = DocumentFacts {
        kind,
        person_id: &ra.person,
        title: kind.ja.to_string(),
        final_: false,
        date: clinical::instant(now),
        author_display: author_display(&viewer),
        author_user_id: &viewer.user.id,
        facility_display: ra.facility.name.clone(),
    };
    let id = crate::fhir_rest::new_id();
    let resource = docs::composition(&facts, &values);
    match record::store_new(
        &state,
        &record::author(&viewer, &ra.facility),
        vec![(id.clone(), resource)],
        &[],
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/patients/{}/documents/{id}?msg=notice.document_created",
            ra.person
        ))
        .into_response()),
        Err(e) => {
            let errors = record::write_errors(viewer.tr(), viewer.lang(), e)?;
            Err(AppError::BadRequest(errors.join(" ")))
        }
    }
}

// --- one document ------------------------------------------------------------------------

pub struct FieldView {
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
    pub lines: Vec<String>,
    pub multiline: bool,
    pub date: bool,
    pub required: bool,
}

pub struct DeliveryView {
    pub facility: String,
    pub sent: String,
    pub sender: String,
    pub received: Option<String>,
    pub receiver: String,
}

#[derive(Template)]
#[template(path = "document.html")]
struct DocPage {
    c: Chrome,
    person_id: String,
    doc_id: String,
    header: record::Header,
    kind_label: &'static str,
    draft: bool,
    editable: bool,
    version: i64,
    author: String,
    facility: String,
    updated: String,
    fields: Vec<FieldView>,
    /// Possible recipients (team facilities other than the viewer's), with checked state.
    team: Vec<(String, String, bool)>,
    deliveries: Vec<DeliveryView>,
    /// The viewer's facility received it and has not confirmed yet.
    may_confirm: bool,
    errors: Vec<String>,
}

fn field_views(lang: Lang, kind: &Kind, values: &[(String, String)]) -> Vec<FieldView> {
    kind.fields
        .iter()
        .map(|f| {
            let value = values
                .iter()
                .find(|(k, _)| k == f.key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            FieldView {
                key: f.key,
                label: match lang {
                    Lang::Ja => f.ja,
                    Lang::En => f.en,
                },
                lines: value.lines().map(str::to_string).collect(),
                value,
                multiline: f.kind == FieldKind::Text,
                date: f.kind == FieldKind::Date,
                required: f.required,
            }
        })
        .collect()
}

/// What a refused form held: the field values and the chosen recipients.
type Submitted = (Vec<(String, String)>, Vec<String>);

#[allow(clippy::too_many_arguments)]
async fn doc_page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    row: &FhirRow,
    v: &Value,
    kind: &'static Kind,
    submitted: Option<Submitted>,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<Response> {
    let lang = viewer.lang();
    let draft = !is_final(v);
    let own = row.source_facility_id.as_deref() == Some(ra.facility.id.as_str());
    let editable = draft && own && ra.may_contribute();
    let (values, chosen) = match submitted {
        Some((vals, to)) => (vals, to),
        None => (docs::values_of(v), Vec::new()),
    };
    let mut names = HashMap::new();
    let deliveries_rows = state
        .store
        .documents()
        .deliveries_of(std::slice::from_ref(&row.id))
        .await?;
    let mut deliveries = Vec::new();
    for d in &deliveries_rows {
        deliveries.push(DeliveryView {
            facility: facility_name(state, &mut names, &d.to_facility_id).await?,
            sent: jst(d.sent_at),
            sender: user_name(state, &d.from_user_id).await?,
            received: d.received_at.map(jst),
            receiver: match &d.received_by {
                Some(u) => user_name(state, u).await?,
                None => String::new(),
            },
        });
    }
    let may_confirm = deliveries_rows
        .iter()
        .any(|d| d.to_facility_id == ra.facility.id && d.received_at.is_none());
    let team = if editable {
        team_facilities(state, &ra.person)
            .await?
            .into_iter()
            .filter(|(id, _)| *id != ra.facility.id)
            .map(|(id, name)| {
                let on = chosen.contains(&id);
                (id, name, on)
            })
            .collect()
    } else {
        Vec::new()
    };
    let facility = match &row.source_facility_id {
        Some(f) => facility_name(state, &mut names, f).await?,
        None => String::new(),
    };
    let header = record::header(state, viewer, &ra.person).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = DocPage {
        c: Chrome::for_viewer(state, viewer, "documents.document").with_notice(notice),
        person_id: ra.person.clone(),
        doc_id: row.id.clone(),
        header,
        kind_label: kind_label(lang, kind),
        draft,
        editable,
        version: row.version_id,
        author: v
            .pointer("/author/0/display")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        facility,
        updated: jst(row.last_updated),
        fields: field_views(lang, kind, &values),
        team,
        deliveries,
        may_confirm,
        errors,
    };
    Ok((status, render(&page)?).into_response())
}

/// `GET /patients/{id}/documents/{doc}`: the document; its draft form for the writing
/// facility; where it was sent and who confirmed receipt.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, doc_id)): Path<(String, String)>,
    Query(q): Query<Msg>,
) -> AppResult<Response> {
    let resource = format!("page:/patients/{{id}}/documents/{doc_id}");
    let ra = record::open(&state, &viewer, &person_id, &resource).await?;
    let (row, v, kind) = document_row(&state, &viewer, &ra, &doc_id, &resource).await?;
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": resource, "category": row.category, "source": row.source_facility_id }),
    )
    .await?;
    doc_page(
        &state,
        &viewer,
        &ra,
        &row,
        &v,
        kind,
        None,
        Vec::new(),
        q.msg.as_deref(),
    )
    .await
}

/// `POST /patients/{id}/documents/{doc}` (form: `csrf`, `version`, `action` = `save` or
/// `send`, one value per field, `to` = recipient facility ids or `all`): saves the draft;
/// with `send`, checks every required field and that every recipient is an active member
/// of the patient's care team, then stores the document as final together with its
/// deliveries — all or nothing.
pub async fn save(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, doc_id)): Path<(String, String)>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    viewer.check_csrf(&get("csrf"))?;
    let tr = viewer.tr();
    let lang = viewer.lang();
    let resource = format!("action:documents.save/{doc_id}");
    let ra = record::open(&state, &viewer, &person_id, &resource).await?;
    let (row, v, kind) = document_row(&state, &viewer, &ra, &doc_id, &resource).await?;
    let own = row.source_facility_id.as_deref() == Some(ra.facility.id.as_str());
    if !own || !ra.may_contribute() {
        let mut entry = viewer.audit("fhir.update", Outcome::Denied).detail(
            json!({ "resource": format!("Composition/{doc_id}"), "reason": "not_author_facility" }),
        );
        entry.patient_id = Some(ra.person.clone());
        state.store.append_audit(entry).await?;
        return Err(AppError::Forbidden);
    }
    let sending = get("action") == "send";
    let to: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "to")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let submitted_values: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| kind.fields.iter().any(|f| f.key == k))
        .cloned()
        .collect();
    let mut errors = Vec::new();
    if is_final(&v) {
        errors.push(tr.t("documents.already_sent").to_string());
    }
    if get("version").trim() != row.version_id.to_string() {
        errors.push(tr.t("documents.edit_conflict").to_string());
    }
    let values = match docs::clean_values(kind, &submitted_values, sending) {
        Ok(values) => values,
        Err(field_errors) => {
            for e in field_errors {
                let label = match lang {
                    Lang::Ja => e.field.ja,
                    Lang::En => e.field.en,
                };
                let problem = match lang {
                    Lang::Ja => e.problem.ja(),
                    Lang::En => e.problem.en(),
                };
                errors.push(format!("{label}: {problem}"));
            }
            Vec::new()
        }
    };
    // Recipients: facilities of the care team other than the writer's, nothing else.
    let mut recipients: Vec<String> = Vec::new();
    if sending {
        let team: Vec<String> = team_facilities(&state, &ra.person)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id != ra.facility.id)
            .collect();
        if to.iter().any(|t| t == "all") {
            recipients = team.clone();
        } else {
            for t in &to {
                if !team.contains(t) {
                    errors.push(tr.t("documents.not_in_team").to_string());
                    let mut entry = viewer
                        .audit("document.send", Outcome::Denied)
                        .detail(json!({
                            "resource": format!("Composition/{doc_id}"),
                            "reason": "recipient_not_in_care_team",
                            "recipient": t,
                        }));
                    entry.patient_id = Some(ra.person.clone());
                    state.store.append_audit(entry).await?;
                    break;
                }
                if !recipients.contains(t) {
                    recipients.push(t.clone());
                }
            }
        }
        if recipients.is_empty() && errors.is_empty() {
            errors.push(tr.t("documents.recipient_required").to_string());
        }
    }
    if errors.is_empty() {
        let now = now_millis();
        let facts = DocumentFacts {
            kind,
            person_id: &ra.person,
            title: kind.ja.to_string(),
            final_: sending,
            date: clinical::instant(now),
            author_display: author_display(&viewer),
            author_user_id: &viewer.user.id,
            facility_display: ra.facility.name.clone(),
        };
        let updated = docs::composition(&facts, &values);
        let author = record::author(&viewer, &ra.facility);
        let result = async {
            let write = clinical::prepare_write(
                state.store.as_ref(),
                &author,
                updated,
                WriteIntent {
                    kind: FhirWriteKind::Update {
                        expected_version: Some(row.version_id),
                    },
                    id: doc_id.clone(),
                    version_id: row.version_id + 1,
                },
                now,
                &[],
            )
            .await?;
            if !sending {
                return clinical::commit(
                    state.store.as_ref(),
                    &author,
                    vec![write],
                    "fhir.update",
                    now,
                )
                .await
                .map_err(clinical::WriteError::from);
            }
            let deliveries: Vec<DocumentDelivery> = recipients
                .iter()
                .map(|to| DocumentDelivery {
                    id: crate::fhir_rest::new_id(),
                    document_id: doc_id.clone(),
                    person_id: ra.person.clone(),
                    from_facility_id: ra.facility.id.clone(),
                    from_user_id: viewer.user.id.clone(),
                    to_facility_id: to.clone(),
                    sent_at: now,
                    received_at: None,
                    received_by: None,
                })
                .collect();
            clinical::commit_sending(state.store.as_ref(), &author, vec![write], now, deliveries)
                .await
                .map_err(clinical::WriteError::from)
        }
        .await;
        match result {
            Ok(_) => {
                let msg = if sending {
                    "notice.document_sent"
                } else {
                    "notice.document_saved"
                };
                return Ok(Redirect::to(&format!(
                    "/patients/{}/documents/{doc_id}?msg={msg}",
                    ra.person
                ))
                .into_response());
            }
            Err(clinical::WriteError::Store(renkei_storage::StoreError::Conflict(_))) => {
                errors.push(tr.t("documents.edit_conflict").to_string())
            }
            Err(e) => errors = record::write_errors(tr, lang, e)?,
        }
    }
    doc_page(
        &state,
        &viewer,
        &ra,
        &row,
        &v,
        kind,
        Some((submitted_values, to)),
        errors,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /patients/{id}/documents/{doc}/receipt` (form: `csrf`): the viewer's facility
/// confirms it received the document (受領確認), naming the viewer and the time.
pub async fn confirm(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, doc_id)): Path<(String, String)>,
    axum::Form(f): axum::Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&f.csrf)?;
    let resource = format!("action:documents.receipt/{doc_id}");
    let ra = record::open(&state, &viewer, &person_id, &resource).await?;
    let (row, v, kind) = document_row(&state, &viewer, &ra, &doc_id, &resource).await?;
    let pending = state
        .store
        .documents()
        .deliveries_of(std::slice::from_ref(&doc_id))
        .await?
        .into_iter()
        .find(|d| d.to_facility_id == ra.facility.id && d.received_at.is_none());
    let Some(delivery) = pending else {
        let errors = vec![viewer.tr().t("documents.no_receipt_pending").to_string()];
        return doc_page(&state, &viewer, &ra, &row, &v, kind, None, errors, None).await;
    };
    let mut entry = viewer
        .audit("document.receipt", Outcome::Success)
        .detail(json!({
            "resource": format!("Composition/{doc_id}"),
            "delivery": delivery.id,
        }));
    entry.patient_id = Some(ra.person.clone());
    state
        .store
        .documents()
        .confirm_receipt(
            &delivery.id,
            &ra.facility.id,
            &viewer.user.id,
            now_millis(),
            entry,
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/patients/{}/documents/{doc_id}?msg=notice.document_received",
        ra.person
    ))
    .into_response())
}

// --- PDF and FHIR document ---------------------------------------------------------------

/// Everything the PDF needs, gathered by the handler (timed apart from the page by the
/// bench).
pub fn sheet(
    network: &str,
    kind: &Kind,
    v: &Value,
    header: &record::Header,
    facility: &str,
    recipients: &[String],
    doc_id: &str,
) -> crate::pdf::Sheet {
    use crate::pdf::Item;
    let date = v["date"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| jst(t.timestamp_millis()))
        .unwrap_or_default();
    let values = docs::values_of(v);
    let mut head = vec![
        Item {
            label: "宛先".into(),
            value: if recipients.is_empty() {
                "（未送付）".into()
            } else {
                recipients.join("、")
            },
        },
        Item {
            label: "発信元".into(),
            value: format!(
                "{facility}　{}",
                v.pointer("/author/0/display")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
        },
    ];
    if header.shown {
        head.push(Item {
            label: "患者氏名".into(),
            value: format!("{}（{}）", header.name, header.kana),
        });
        head.push(Item {
            label: "生年月日・性別".into(),
            value: format!("{}（{}歳）　{}", header.birth_date, header.age, header.sex),
        });
    }
    crate::pdf::Sheet {
        title: kind.ja.to_string(),
        date_line: format!("作成日 {date}"),
        draft_mark: (!is_final(v)).then(|| "【下書き】".to_string()),
        header: head,
        items: kind
            .fields
            .iter()
            .map(|f| Item {
                label: f.ja.to_string(),
                value: values
                    .iter()
                    .find(|(k, _)| k == f.key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        footer: format!("{network}　文書ID {doc_id}"),
    }
}

async fn pdf_font(state: &SharedState) -> Result<krilla::text::Font, String> {
    state
        .document_font
        .get_or_init(|| async {
            let path = state.config.document_font_file.clone();
            tokio::task::spawn_blocking(move || crate::pdf::load_font(path.as_deref()))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        })
        .await
        .clone()
}

/// `GET /patients/{id}/documents/{doc}/pdf`: the document as a PDF (attachment).
pub async fn pdf(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, doc_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let resource = format!("page:/patients/{{id}}/documents/{doc_id}/pdf");
    let ra = record::open(&state, &viewer, &person_id, &resource).await?;
    let (row, v, kind) = document_row(&state, &viewer, &ra, &doc_id, &resource).await?;
    let font = pdf_font(&state).await.map_err(AppError::NoDocumentFont)?;
    let header = record::header(&state, &viewer, &ra.person).await?;
    let mut names = HashMap::new();
    let facility = match &row.source_facility_id {
        Some(f) => facility_name(&state, &mut names, f).await?,
        None => String::new(),
    };
    let mut recipients = Vec::new();
    for d in state
        .store
        .documents()
        .deliveries_of(std::slice::from_ref(&doc_id))
        .await?
    {
        recipients.push(facility_name(&state, &mut names, &d.to_facility_id).await?);
    }
    let sheet = sheet(
        &state.config.network_name,
        kind,
        &v,
        &header,
        &facility,
        &recipients,
        &doc_id,
    );
    let bytes = tokio::task::spawn_blocking(move || crate::pdf::render(&font, &sheet))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(AppError::Internal)?;
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": resource, "category": row.category, "source": row.source_facility_id }),
    )
    .await?;
    let filename = format!(
        "{}_{}.pdf",
        kind.ja,
        jst(row.last_updated).get(..10).unwrap_or("")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"document.pdf\"; filename*=UTF-8''{}",
                    crate::error::urlencode(&filename)
                ),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /patients/{id}/documents/{doc}/bundle`: the document as a FHIR document Bundle
/// (type `document`, the Composition first). A 診療情報提供書 is the JP-CLINS eReferral
/// document ([`referral_bundle`]); the other kinds are a general FHIR document of
/// Renkei's form (the Composition, then the Patient it is about).
pub async fn bundle(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, doc_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let resource = format!("page:/patients/{{id}}/documents/{doc_id}/bundle");
    let ra = record::open(&state, &viewer, &person_id, &resource).await?;
    let (row, mut v, kind) = document_row(&state, &viewer, &ra, &doc_id, &resource).await?;
    if kind.code == docs::REFERRAL {
        let doc = referral_bundle(&state, &viewer, &ra, &row, &v, &resource).await?;
        return fhir_json(&doc);
    }
    let header = record::header(&state, &viewer, &ra.person).await?;
    let base = state.config.public_url.trim_end_matches('/');
    let patient_url = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    v["subject"] = json!({ "reference": patient_url });
    v["id"] = json!(row.id);
    let mut patient = json!({
        "resourceType": "Patient",
        "meta": { "profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"] },
    });
    if header.shown {
        patient["name"] = json!([
            { "text": header.name, "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE" }] },
            { "text": header.kana, "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL" }] },
        ]);
        patient["birthDate"] = json!(header.birth_date);
    }
    let doc = json!({
        "resourceType": "Bundle",
        "identifier": { "system": format!("{base}/documents"), "value": format!("{}-{}", row.id, row.version_id) },
        "type": "document",
        "timestamp": clinical::instant(now_millis()),
        "entry": [
            { "fullUrl": format!("{base}/fhir/Composition/{}", row.id), "resource": v },
            { "fullUrl": patient_url, "resource": patient },
        ],
    });
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": resource, "category": row.category, "source": row.source_facility_id }),
    )
    .await?;
    fhir_json(&doc)
}

fn fhir_json(doc: &Value) -> AppResult<Response> {
    Ok((
        [
            (header::CONTENT_TYPE, "application/fhir+json".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        serde_json::to_string_pretty(doc).map_err(|e| AppError::Internal(e.to_string()))?,
    )
        .into_response())
}

fn org_facts(f: &renkei_storage::Facility) -> clins::OrgFacts {
    let digits = f.official_id.len() == 10 && f.official_id.bytes().all(|b| b.is_ascii_digit());
    let medical = f.facility_type.official_id_kind()
        == renkei_domain::facility::OfficialIdKind::MedicalInstitutionCode;
    clins::OrgFacts {
        id: f.id.clone(),
        name: f.name.clone(),
        institution_number: (digits && medical).then(|| f.official_id.clone()),
        postal_code: f.postal_code.clone(),
        address: f.address.clone(),
        tel: f.tel.clone(),
    }
}

/// The 診療情報提供書 as the JP-CLINS eReferral Bundle: the writing facility and physician,
/// the facilities it was sent to (only the viewer's own when the viewer received it), the
/// patient as the viewer may see them, and the patient's Conditions, allergies, current
/// prescriptions, laboratory results and latest encounter read within the viewer's scope —
/// the same access decision as the record page — with one `patient.read` audit record.
async fn referral_bundle(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    row: &FhirRow,
    v: &Value,
    resource: &str,
) -> AppResult<Value> {
    let now = now_millis();
    let from = match &row.source_facility_id {
        Some(id) => state.store.get_facility(id).await?,
        None => None,
    };
    let Some(from) = from else {
        return Err(AppError::Internal(format!(
            "document {} has no writing facility",
            row.id
        )));
    };
    let author_user = match docs::author_user(v) {
        Some(id) => state.store.get_user(id).await?,
        None => None,
    };
    let author = clins::AuthorFacts {
        user_id: docs::author_user(v).unwrap_or_default().to_string(),
        name: author_user
            .as_ref()
            .map(|u| u.display_name.clone())
            .or_else(|| {
                v.pointer("/author/0/display")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default(),
        kana: author_user
            .as_ref()
            .map(|u| u.display_name_kana.clone())
            .unwrap_or_default(),
    };
    let deliveries = state
        .store
        .documents()
        .deliveries_of(std::slice::from_ref(&row.id))
        .await?;
    let addressed_to_viewer = deliveries
        .iter()
        .any(|d| d.to_facility_id == ra.facility.id);
    let mut to = Vec::new();
    for d in deliveries
        .iter()
        .filter(|d| !addressed_to_viewer || d.to_facility_id == ra.facility.id)
    {
        if let Some(f) = state.store.get_facility(&d.to_facility_id).await? {
            to.push(org_facts(&f));
        }
    }
    // The patient: the writing facility's registration if the viewer may see it, else the
    // viewer's own, else any the consent shares (demographics, like the page header).
    let records = renkei_core::access::visible_records(
        state.store.as_ref(),
        &viewer.requester(),
        &ra.person,
        InfoCategory::Demographics,
        now,
    )
    .await?;
    let record = records
        .iter()
        .find(|r| r.facility_id == from.id)
        .or_else(|| records.iter().find(|r| r.facility_id == ra.facility.id))
        .or_else(|| records.first());
    let patient = record.map(|r| clins::PatientFacts {
        name: r.full_name(),
        kana: r.full_kana(),
        birth_date: r.birth_date.clone(),
        gender: match r.sex {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        },
        id_system: r.id_system.clone(),
        local_id: r.local_id.clone(),
        postal_code: r.postal_code.clone(),
        address: r.address.clone(),
        phones: r.phones.clone(),
    });
    // Only what the letter can carry: current prescriptions and laboratory results (not
    // every vital sign of an ICU stay).
    let token = |param: &str, codes: &[&str]| Criterion {
        param: param.into(),
        negate: false,
        missing: None,
        any_of: codes
            .iter()
            .map(|c| ValueMatch::Token {
                system: None,
                code: c.to_string(),
            })
            .collect(),
    };
    let (rows, _) = record::person_rows(
        state,
        &ra.person,
        &ra.scope,
        &[
            ("Condition", Vec::new()),
            ("AllergyIntolerance", Vec::new()),
            (
                "MedicationRequest",
                vec![token("status", &["active", "on-hold"])],
            ),
            ("Observation", vec![token("category", &["laboratory"])]),
            ("Encounter", Vec::new()),
        ],
    )
    .await?;
    let stored = |r: &FhirRow| clins::Stored {
        resource_type: r.resource_type.clone(),
        id: r.id.clone(),
        content: content(r),
    };
    // The encounter the letter belongs to: the writing facility's latest, else the latest.
    let start = |r: &FhirRow| {
        content(r)
            .pointer("/period/start")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let encounters: Vec<&FhirRow> = rows
        .iter()
        .filter(|r| r.resource_type == "Encounter")
        .filter(|r| {
            !matches!(
                content(r)["status"].as_str(),
                Some("cancelled" | "entered-in-error")
            )
        })
        .collect();
    let encounter = encounters
        .iter()
        .filter(|r| r.source_facility_id.as_deref() == Some(from.id.as_str()))
        .max_by_key(|r| start(r))
        .or_else(|| encounters.iter().max_by_key(|r| start(r)))
        .map(|r| stored(r));
    let clinical: Vec<clins::Stored> = rows
        .iter()
        .filter(|r| r.resource_type != "Encounter")
        .map(stored)
        .collect();
    let mut person_ids = vec![ra.person.clone()];
    for e in state.store.link_history(&ra.person).await? {
        if e.action == "merge" {
            person_ids.extend(e.from_person);
        }
    }
    let base = state.config.public_url.trim_end_matches('/');
    let fhir_base = format!("{base}/fhir");
    let facts = clins::ReferralFacts {
        composition: v,
        composition_id: &row.id,
        version_id: row.version_id,
        last_updated: clinical::instant(row.last_updated),
        now: clinical::instant(now),
        person_ids,
        patient,
        from: org_facts(&from),
        author,
        to,
        encounter,
        clinical,
        fhir_base: &fhir_base,
    };
    let doc = clins::referral_bundle(&facts);
    let entries = doc["entry"].as_array().map(Vec::len).unwrap_or(0);
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": resource,
            "category": row.category,
            "source": row.source_facility_id,
            "format": "jp-clins-ereferral",
            "entries": entries,
        })),
    )
    .await?;
    Ok(doc)
}

// --- the facility's inbox and due list -----------------------------------------------------

pub struct InboxRow {
    pub person_id: String,
    pub doc_id: String,
    pub patient: String,
    pub kind: &'static str,
    pub from: String,
    pub sent: String,
    pub received: Option<String>,
}

#[derive(Template)]
#[template(path = "documents_inbox.html")]
struct InboxPage {
    c: Chrome,
    received: Vec<InboxRow>,
    due: Vec<DueView>,
}

/// `GET /documents`: documents sent to the viewer's facility (newest first, unconfirmed
/// marked) and the 提出期限 of the 入院時情報提供書 for the facility's patients — due within
/// three days of admission, or overdue. Every patient listed is an audited read.
pub async fn inbox(State(state): State<SharedState>, viewer: Viewer) -> AppResult<Response> {
    let Some(facility) = viewer.facility().cloned() else {
        return Err(AppError::NotFound);
    };
    let lang = viewer.lang();
    let requester = viewer.requester();
    let now = now_millis();
    let mut names = HashMap::new();
    let mut received = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    for d in state
        .store
        .documents()
        .deliveries_to(&facility.id, false, 200)
        .await?
    {
        // Shown only while the access rule still lets the facility see the document.
        let Some(access) =
            clinical::person_access(state.store.as_ref(), &requester, &d.person_id, now).await?
        else {
            continue;
        };
        let scope = clinical::scope_of(&requester, std::slice::from_ref(&access), false);
        let Some(row) = state
            .store
            .fhir_read("Composition", &d.document_id)
            .await?
            .filter(|r| !r.deleted && clinical::row_in_scope(&scope, r))
        else {
            continue;
        };
        let v = content(&row);
        let Some(kind) = docs::kind_of(&v) else {
            continue;
        };
        let header = record::header(&state, &viewer, &access.person_id).await?;
        received.push(InboxRow {
            person_id: access.person_id.clone(),
            doc_id: d.document_id.clone(),
            patient: header.name,
            kind: kind_label(lang, kind),
            from: facility_name(&state, &mut names, &d.from_facility_id).await?,
            sent: jst(d.sent_at),
            received: d.received_at.map(jst),
        });
        if !listed.contains(&access.person_id) {
            listed.push(access.person_id.clone());
        }
    }
    // The due list: the facility's patients with an admission in the last weeks.
    let today = super::patients::today_jst();
    let mut due = Vec::new();
    let records = state.store.team_patients(&facility.id, None, 500).await?;
    let mut persons: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.person_id.clone(), r.full_name()))
        .collect();
    persons.sort();
    persons.dedup_by(|a, b| a.0 == b.0);
    for (person, name) in persons {
        let Some(access) =
            clinical::person_access(state.store.as_ref(), &requester, &person, now).await?
        else {
            continue;
        };
        if !access.any() {
            continue;
        }
        let scope = clinical::scope_of(&requester, std::slice::from_ref(&access), false);
        let since = today - chrono::Duration::days(14);
        let (rows, _) = record::person_rows(
            &state,
            &access.person_id,
            &scope,
            &[("Encounter", Vec::new()), ("Composition", Vec::new())],
        )
        .await?;
        let views = due_of_person(&state, lang, &access.person_id, &name, &rows, today).await?;
        let open: Vec<DueView> = views
            .into_iter()
            .filter(|d| {
                matches!(d.status, DueStatus::Due { .. } | DueStatus::Overdue { .. })
                    && docs::parse_date(&d.admitted).is_some_and(|a| a >= since)
            })
            .collect();
        if !open.is_empty() && !listed.contains(&access.person_id) {
            listed.push(access.person_id.clone());
        }
        due.extend(open);
    }
    due.sort_by(|a, b| a.due.cmp(&b.due));
    for p in &listed {
        let mut entry = viewer
            .audit("patient.read", Outcome::Success)
            .detail(json!({ "resource": "page:/documents", "basis": "care_team" }));
        entry.patient_id = Some(p.clone());
        state.store.append_audit(entry).await?;
    }
    let page = InboxPage {
        c: Chrome::for_viewer(&state, &viewer, "documents.inbox"),
        received,
        due,
    };
    Ok(render(&page)?.into_response())
}
