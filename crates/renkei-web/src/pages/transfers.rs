//! 救急搬送 (emergency transfer, 001 Kitami): a sending facility opens a transfer of a
//! patient to a receiving hospital with the reason, ETA, means, vital signs, a note and a
//! photo; the receiving hospital acknowledges and prepares, marks the arrival and, after
//! treatment, sends feedback the sender reads.
//!
//! Everything is FHIR through the clinical write path (`record::store_new_notifying`:
//! validation, Provenance, audit, consent categories). The transfer itself is a
//! `Communication` about the patient with category `transfer-event|request`, the receiving
//! hospital as `recipient` and the ETA and means as extensions; its vital signs are ordinary
//! vital-sign Observations and its photo a Binary, all in one transaction. Each later step
//! (`acknowledged`, `arrived`, `feedback`) is a `Communication` `inResponseTo` the request,
//! written by the receiving hospital. The transfer's status is its latest step.
//!
//! Access: a transfer invites the receiving hospital into the patient's care team (the
//! ordinary invitation, its note naming the transfer). Until the hospital accepts, it sees
//! only what an invitation shows; once it is a member, every read of the transfer goes
//! through the record's access rule (`record::open` → team + consent, audited) like any
//! other team data.

use super::record::{self, RecordAccess, VitalsForm};
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use renkei_core::clinical;
use renkei_domain::audit::Outcome;
use renkei_domain::files::DocumentKind;
use renkei_domain::{now_millis, FacilityStatus, FacilityType, Lang, Profession};
use renkei_fhir::search::{Criterion, SearchQuery, ValueMatch};
use renkei_storage::fhir::FhirRow;
use renkei_storage::notifications::{kind, Notification};
use renkei_storage::{Facility, FacilityQuery, UserQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The steps of a transfer (`Communication.category`).
pub const EVENT_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/transfer-event";
/// Extensions of the request: ETA (`valueDateTime`) and means (`valueCode`).
pub const ETA_EXTENSION: &str = "https://renkei.example.jp/fhir/StructureDefinition/transfer-eta";
pub const MEANS_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/transfer-means";
/// Extension of the feedback: the outcome (`valueCode`).
pub const OUTCOME_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/transfer-outcome";
/// How the receiving facility is named in `recipient` (the facility's internal id).
pub const FACILITY_SYSTEM: &str = "https://renkei.example.jp/facility";
/// The invitation note of a transfer starts with this, so `/transfers` lists it as pending.
pub const INVITATION_MARK: &str = "【救急搬送】";

pub const MEANS: [&str; 4] = ["ambulance", "helicopter", "private_car", "other"];
pub const OUTCOMES: [&str; 5] = ["admitted", "discharged", "transferred", "died", "other"];
pub const MAX_TEXT: usize = 2000;
pub const MAX_SHORT: usize = 200;

fn means_label(tr: Tr, code: &str) -> &'static str {
    tr.t(&format!("transfers.means.{code}"))
}

fn outcome_label(tr: Tr, code: &str) -> &'static str {
    tr.t(&format!("transfers.outcome.{code}"))
}

fn status_label(tr: Tr, code: &str) -> &'static str {
    tr.t(&format!("transfers.status.{code}"))
}

fn event_of(v: &Value) -> Option<&str> {
    v["category"].as_array()?.iter().find_map(|c| {
        c["coding"].as_array()?.iter().find_map(|cd| {
            (cd["system"].as_str() == Some(EVENT_SYSTEM))
                .then(|| cd["code"].as_str())
                .flatten()
        })
    })
}

fn extension<'a>(v: &'a Value, url: &str) -> Option<&'a Value> {
    v["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"].as_str() == Some(url))
}

fn receiver_of(v: &Value) -> Option<&str> {
    v["recipient"].as_array()?.iter().find_map(|r| {
        (r.pointer("/identifier/system").and_then(Value::as_str) == Some(FACILITY_SYSTEM))
            .then(|| r.pointer("/identifier/value").and_then(Value::as_str))
            .flatten()
    })
}

fn payload_text(v: &Value) -> String {
    v["payload"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x["contentString"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn sent_millis(v: &Value, row: &FhirRow) -> i64 {
    v["sent"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or(row.last_updated)
}

fn who(viewer: &Viewer) -> String {
    format!(
        "{}（{}）",
        viewer.user.display_name,
        viewer.user.profession.label(Lang::Ja)
    )
}

fn clean(tr: Tr, label: &str, raw: &str, max: usize, required: bool) -> Result<String, String> {
    let folded = raw.replace("\r\n", "\n").replace('\r', "\n");
    renkei_domain::text::clean("text", &folded, max, required)
        .map_err(|e| format!("{label}: {}", e.message(tr.0)))
}

/// The request and its steps as one transfer.
pub struct TransferView {
    pub id: String,
    pub person_id: String,
    pub patient: String,
    pub sender_facility_id: String,
    pub sender_facility: String,
    pub sender: String,
    pub receiver_id: String,
    pub receiver: String,
    pub complaint: String,
    pub eta: String,
    pub means: &'static str,
    pub note: String,
    pub opened: String,
    pub status: String,
    pub status_label: &'static str,
    pub photo: Option<(String, String)>,
    pub vitals: Vec<String>,
    pub steps: Vec<StepView>,
    pub feedback: Option<FeedbackView>,
    sender_user: Option<String>,
}

pub struct StepView {
    pub event: String,
    pub label: &'static str,
    pub when: String,
    pub who: String,
    pub text: String,
}

pub struct FeedbackView {
    pub diagnosis: String,
    pub treatment: String,
    pub outcome: &'static str,
    pub message: String,
    pub when: String,
    pub who: String,
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

/// Builds the view of a request row with its step rows (already within the reader's scope).
async fn view_of(
    state: &SharedState,
    tr: Tr,
    names: &mut HashMap<String, String>,
    request: &FhirRow,
    steps: &[FhirRow],
    patient: String,
    observations: &[FhirRow],
) -> AppResult<TransferView> {
    let v: Value = serde_json::from_str(&request.content).unwrap_or(Value::Null);
    let sender_facility_id = request.source_facility_id.clone().unwrap_or_default();
    let receiver_id = receiver_of(&v).unwrap_or_default().to_string();
    let mut step_views: Vec<(i64, StepView)> = Vec::new();
    let mut feedback = None;
    let mut status = "requested".to_string();
    let mut status_at = 0;
    for row in steps {
        let s: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
        let Some(event) = event_of(&s) else { continue };
        // Only the receiving hospital's steps count.
        if row.source_facility_id.as_deref() != Some(receiver_id.as_str()) {
            continue;
        }
        let at = sent_millis(&s, row);
        let by = s["sender"]["display"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let text = payload_text(&s);
        if at >= status_at {
            status_at = at;
            status = if event == "feedback" {
                "completed".into()
            } else {
                event.to_string()
            };
        }
        if event == "feedback" {
            let ext_text = |url: &str| {
                extension(&s, url)
                    .and_then(|e| e["valueString"].as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            feedback = Some(FeedbackView {
                diagnosis: ext_text(DIAGNOSIS_EXTENSION),
                treatment: ext_text(TREATMENT_EXTENSION),
                outcome: extension(&s, OUTCOME_EXTENSION)
                    .and_then(|e| e["valueCode"].as_str())
                    .map(|c| outcome_label(tr, c))
                    .unwrap_or(""),
                message: text.clone(),
                when: jst(at),
                who: by.clone(),
            });
        }
        step_views.push((
            at,
            StepView {
                event: event.to_string(),
                label: tr.t(&format!("transfers.step.{event}")),
                when: jst(at),
                who: by,
                text,
            },
        ));
    }
    step_views.sort_by_key(|(at, _)| *at);
    let photo = v["payload"].as_array().and_then(|p| {
        p.iter().find_map(|x| {
            let a = &x["contentAttachment"];
            let url = a["url"].as_str()?.strip_prefix("Binary/")?;
            Some((
                url.to_string(),
                a["title"].as_str().unwrap_or("").to_string(),
            ))
        })
    });
    let wanted: Vec<String> = v["payload"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x.pointer("/contentReference/reference")?.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let vitals = observations
        .iter()
        .filter(|o| wanted.contains(&format!("Observation/{}", o.id)))
        .filter_map(|o| serde_json::from_str::<Value>(&o.content).ok())
        .map(|o| vital_text(&o))
        .collect();
    Ok(TransferView {
        id: request.id.clone(),
        person_id: request.person_id.clone().unwrap_or_default(),
        patient,
        sender_facility: facility_name(state, names, &sender_facility_id).await?,
        sender_facility_id,
        sender: v["sender"]["display"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        receiver: facility_name(state, names, &receiver_id).await?,
        receiver_id,
        complaint: v["reasonCode"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        eta: extension(&v, ETA_EXTENSION)
            .and_then(|e| e["valueDateTime"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| jst(t.timestamp_millis()))
            .unwrap_or_default(),
        means: extension(&v, MEANS_EXTENSION)
            .and_then(|e| e["valueCode"].as_str())
            .map(|c| means_label(tr, c))
            .unwrap_or(""),
        note: payload_text(&v),
        opened: jst(sent_millis(&v, request)),
        status_label: status_label(tr, &status),
        status,
        photo,
        vitals,
        steps: step_views.into_iter().map(|(_, s)| s).collect(),
        feedback,
        sender_user: clinical::message_sender(&v).map(str::to_string),
    })
}

/// Extensions of the feedback: diagnosis and treatment (`valueString`).
pub const DIAGNOSIS_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/transfer-diagnosis";
pub const TREATMENT_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/transfer-treatment";

/// `血圧 130/80 mmHg`-style line of a vital-sign Observation.
fn vital_text(o: &Value) -> String {
    let name = o["code"]["text"]
        .as_str()
        .or_else(|| o.pointer("/code/coding/0/display").and_then(Value::as_str))
        .unwrap_or_default();
    let q = |q: &Value| {
        let value = q["value"].as_f64().map(|v| {
            if v.fract() == 0.0 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        });
        format!(
            "{}{}",
            value.unwrap_or_default(),
            q["unit"]
                .as_str()
                .map(|u| format!(" {u}"))
                .unwrap_or_default()
        )
    };
    if let Some(v) = o.get("valueQuantity") {
        return format!("{name} {}", q(v));
    }
    let parts: Vec<String> = o["component"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|x| x["valueQuantity"]["value"].as_f64())
                .map(|v| format!("{}", v as i64))
                .collect()
        })
        .unwrap_or_default();
    let unit = o
        .pointer("/component/0/valueQuantity/unit")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!("{name} {} {unit}", parts.join("/"))
}

fn request_criterion() -> Criterion {
    Criterion {
        param: "category".into(),
        negate: false,
        missing: None,
        any_of: vec![ValueMatch::Token {
            system: Some(EVENT_SYSTEM.into()),
            code: "request".into(),
        }],
    }
}

fn responses_to(ids: &[String]) -> Criterion {
    Criterion {
        param: "in-response-to".into(),
        negate: false,
        missing: None,
        any_of: ids
            .iter()
            .map(|id| ValueMatch::Reference(format!("Communication/{id}")))
            .collect(),
    }
}

fn search(resource_type: &str, criteria: Vec<Criterion>) -> SearchQuery {
    SearchQuery {
        resource_type: resource_type.into(),
        ids: Vec::new(),
        criteria,
        last_updated: Vec::new(),
        sort: Vec::new(),
        count: renkei_fhir::search::MAX_COUNT,
        offset: 0,
        want_total: false,
    }
}

/// A transfer the viewer may see: the request (404 when it is none, or outside the record's
/// access), its steps and its vital signs.
async fn load_one(
    state: &SharedState,
    viewer: &Viewer,
    id: &str,
    resource: &str,
) -> AppResult<(RecordAccess, FhirRow, TransferView)> {
    let row = state
        .store
        .fhir_read("Communication", id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or(AppError::NotFound)?;
    let v: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
    let person = row.person_id.clone().ok_or(AppError::NotFound)?;
    if event_of(&v) != Some("request") {
        return Err(AppError::NotFound);
    }
    let ra = record::open(state, viewer, &person, resource).await?;
    if !record::row_visible(&ra, &row) {
        record::audit_read(
            state,
            viewer,
            &ra.person,
            Outcome::Denied,
            json!({ "resource": resource, "reason": "category_not_shared" }),
        )
        .await?;
        return Err(AppError::NotFound);
    }
    let ids = [row.id.clone()];
    let steps = state
        .store
        .fhir_search(
            &search("Communication", vec![responses_to(&ids)]),
            &ra.scope,
        )
        .await?
        .rows;
    let (observations, _) =
        record::person_rows(state, &ra.person, &ra.scope, &[("Observation", Vec::new())]).await?;
    let header = record::header(state, viewer, &ra.person).await?;
    let mut names = HashMap::new();
    let view = view_of(
        state,
        viewer.tr(),
        &mut names,
        &row,
        &steps,
        header.name.clone(),
        &observations,
    )
    .await?;
    Ok((ra, row, view))
}

// --- list ------------------------------------------------------------------------------

pub struct PendingView {
    pub person_id: String,
    pub patient: String,
    pub from: String,
    pub note: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "transfers.html")]
struct ListPage {
    c: Chrome,
    incoming: Vec<TransferView>,
    outgoing: Vec<TransferView>,
    pending: Vec<PendingView>,
    is_hospital: bool,
}

#[derive(Deserialize, Default)]
pub struct MsgQuery {
    msg: Option<String>,
}

/// `GET /transfers`: the viewer's facility's incoming (receiving hospital) and outgoing
/// transfers, open ones first, and transfers whose invitation it has not answered yet.
pub async fn list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Response> {
    let facility = viewer.facility().cloned().ok_or(AppError::Forbidden)?;
    let tr = viewer.tr();
    let requester = viewer.requester();
    let now = now_millis();
    let persons = state.store.team_patients(&facility.id, None, 2_000).await?;
    let mut accesses = Vec::new();
    let mut patient_names = HashMap::new();
    for p in &persons {
        if let Some(a) =
            clinical::person_access(state.store.as_ref(), &requester, &p.person_id, now).await?
        {
            patient_names.insert(a.person_id.clone(), p.full_name());
            accesses.push(a);
        }
    }
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    if !accesses.is_empty() {
        let scope = clinical::scope_of(&requester, &accesses, false);
        let patient = Criterion {
            param: "patient".into(),
            negate: false,
            missing: None,
            any_of: accesses
                .iter()
                .map(|a| ValueMatch::Reference(format!("Patient/{}", a.person_id)))
                .collect(),
        };
        let requests = state
            .store
            .fhir_search(
                &search("Communication", vec![request_criterion(), patient]),
                &scope,
            )
            .await?
            .rows;
        let mine: Vec<FhirRow> = requests
            .into_iter()
            .filter(|r| !r.deleted)
            .filter(|r| {
                let v: Value = serde_json::from_str(&r.content).unwrap_or(Value::Null);
                r.source_facility_id.as_deref() == Some(facility.id.as_str())
                    || receiver_of(&v) == Some(facility.id.as_str())
            })
            .collect();
        let ids: Vec<String> = mine.iter().map(|r| r.id.clone()).collect();
        let steps = if ids.is_empty() {
            Vec::new()
        } else {
            state
                .store
                .fhir_search(&search("Communication", vec![responses_to(&ids)]), &scope)
                .await?
                .rows
        };
        let mut names = HashMap::new();
        let mut shown_persons = std::collections::BTreeSet::new();
        for r in &mine {
            let own_steps: Vec<FhirRow> = steps
                .iter()
                .filter(|s| {
                    serde_json::from_str::<Value>(&s.content)
                        .ok()
                        .and_then(|v| {
                            v.pointer("/inResponseTo/0/reference")
                                .and_then(Value::as_str)
                                .map(|x| x == format!("Communication/{}", r.id))
                        })
                        .unwrap_or(false)
                })
                .cloned()
                .collect();
            let person = r.person_id.clone().unwrap_or_default();
            let name = patient_names.get(&person).cloned().unwrap_or_default();
            shown_persons.insert(person);
            let view = view_of(&state, tr, &mut names, r, &own_steps, name, &[]).await?;
            if view.receiver_id == facility.id {
                incoming.push(view);
            } else {
                outgoing.push(view);
            }
        }
        // One audited read per person whose transfer the list shows.
        for person in shown_persons {
            record::audit_read(
                &state,
                &viewer,
                &person,
                Outcome::Success,
                json!({ "resource": "page:/transfers", "basis": "care_team" }),
            )
            .await?;
        }
    }
    let open_first = |a: &TransferView, b: &TransferView| {
        (a.status == "completed", b.opened.as_str())
            .cmp(&(b.status == "completed", a.opened.as_str()))
    };
    incoming.sort_by(open_first);
    outgoing.sort_by(open_first);
    let mut pending = Vec::new();
    for (member, rec) in state.store.invitations_for(&facility.id).await? {
        if !member.note.starts_with(INVITATION_MARK) {
            continue;
        }
        let from = match &member.invited_by_facility {
            Some(f) => state
                .store
                .get_facility(f)
                .await?
                .map(|f| f.name)
                .unwrap_or_default(),
            None => String::new(),
        };
        pending.push(PendingView {
            person_id: member.person_id.clone(),
            patient: format!("{}（{}）", rec.full_name(), rec.birth_date),
            from,
            note: member.note.clone(),
            at: jst(member.updated_at),
        });
    }
    if !pending.is_empty() {
        // As on /invitations: the sender chose to show these identities; still audited.
        let shown: Vec<&str> = pending.iter().map(|p| p.person_id.as_str()).collect();
        state
            .store
            .append_audit(
                viewer
                    .audit("team.invitations_view", Outcome::Success)
                    .detail(json!({ "persons": shown, "resource": "page:/transfers" })),
            )
            .await?;
    }
    let body = render(&ListPage {
        c: Chrome::for_viewer(&state, &viewer, "transfers.title").with_notice(q.msg.as_deref()),
        incoming,
        outgoing,
        pending,
        is_hospital: facility.facility_type == FacilityType::Hospital,
    })?;
    Ok(body.into_response())
}

// --- opening a transfer ------------------------------------------------------------------

#[derive(Default)]
pub struct OpenForm {
    pub receiver: String,
    pub complaint: String,
    pub eta: String,
    pub means: String,
    pub note: String,
    pub vitals: VitalsForm,
}

#[derive(Template)]
#[template(path = "transfer_new.html")]
struct NewPage {
    c: Chrome,
    person_id: String,
    header: record::Header,
    hospitals: Vec<(String, String)>,
    means: Vec<(&'static str, &'static str)>,
    f: OpenForm,
    errors: Vec<String>,
    max_text: usize,
}

async fn hospitals(state: &SharedState, own: &str) -> AppResult<Vec<(String, String)>> {
    Ok(state
        .store
        .search_facilities(&FacilityQuery {
            facility_type: Some(FacilityType::Hospital),
            status: Some(FacilityStatus::Active),
            limit: 500,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .filter(|f| f.id != own)
        .map(|f| (f.id, f.name))
        .collect())
}

async fn new_page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    f: OpenForm,
    errors: Vec<String>,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = render(&NewPage {
        c: Chrome::for_viewer(state, viewer, "transfers.new_title"),
        person_id: ra.person.clone(),
        header: record::header(state, viewer, &ra.person).await?,
        hospitals: hospitals(state, &ra.facility.id).await?,
        means: MEANS.iter().map(|m| (*m, means_label(tr, m))).collect(),
        f,
        errors,
        max_text: MAX_TEXT,
    })?;
    Ok((status, body).into_response())
}

/// `GET /patients/{id}/transfers/new`.
pub async fn new_form(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
) -> AppResult<Response> {
    let ra = record::open(
        &state,
        &viewer,
        &person_id,
        "page:/patients/{id}/transfers/new",
    )
    .await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": "page:/patients/{id}/transfers/new" }),
    )
    .await?;
    let f = OpenForm {
        means: "ambulance".into(),
        ..Default::default()
    };
    new_page(&state, &viewer, &ra, f, Vec::new()).await
}

/// Physicians and nurses of a facility (who prepare for an arriving patient).
async fn clinical_staff(state: &SharedState, facility_id: &str) -> AppResult<Vec<String>> {
    let users = state
        .store
        .list_users(&UserQuery {
            text: None,
            facility_id: Some(facility_id.to_string()),
            limit: 1_000,
            offset: 0,
        })
        .await?
        .items;
    Ok(users
        .into_iter()
        .filter(|u| u.active && matches!(u.profession, Profession::Physician | Profession::Nurse))
        .map(|u| u.id)
        .collect())
}

fn notification(
    user_id: &str,
    viewer: &Viewer,
    facility: &Facility,
    person: &str,
    transfer_id: &str,
    source_id: &str,
    at: i64,
) -> Notification {
    Notification {
        id: crate::fhir_rest::new_id(),
        user_id: user_id.to_string(),
        kind: kind::TRANSFER.to_string(),
        person_id: Some(person.to_string()),
        actor_user_id: Some(viewer.user.id.clone()),
        actor_facility_id: Some(facility.id.clone()),
        source_id: Some(source_id.to_string()),
        link: format!("/transfers/{transfer_id}"),
        created_at: at,
        read_at: None,
    }
}

/// `POST /patients/{id}/transfers` (multipart: `csrf`, `receiver`, `complaint`, `eta`,
/// `means`, `note`, the vital-sign fields of the record form, `file`).
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
        &[
            "csrf",
            "receiver",
            "complaint",
            "eta",
            "means",
            "note",
            "systolic",
            "diastolic",
            "pulse",
            "spo2",
            "temperature",
            "respiratory_rate",
        ],
    )
    .await?;
    viewer.check_csrf(&parts.text("csrf"))?;
    let ra = record::open(&state, &viewer, &person_id, "action:transfers.open").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let now = now_millis();
    let f = OpenForm {
        receiver: parts.text("receiver"),
        complaint: parts.text("complaint"),
        eta: parts.text("eta"),
        means: parts.text("means"),
        note: parts.text("note"),
        vitals: VitalsForm {
            at: record::datetime_local(now),
            systolic: parts.text("systolic"),
            diastolic: parts.text("diastolic"),
            pulse: parts.text("pulse"),
            spo2: parts.text("spo2"),
            temperature: parts.text("temperature"),
            respiratory_rate: parts.text("respiratory_rate"),
            ..Default::default()
        },
    };
    let mut errors = Vec::new();
    // The receiver: an active hospital other than the sender.
    let receiver = state.store.get_facility(f.receiver.trim()).await?;
    let receiver = match receiver {
        None => {
            errors.push(tr.t("transfers.receiver_required").to_string());
            None
        }
        Some(r) if r.facility_type != FacilityType::Hospital => {
            errors.push(tr.t("transfers.receiver_not_hospital").to_string());
            None
        }
        Some(r) if r.status != FacilityStatus::Active => {
            errors.push(tr.t("transfers.receiver_not_active").to_string());
            None
        }
        Some(r) if r.id == ra.facility.id => {
            errors.push(tr.t("transfers.receiver_self").to_string());
            None
        }
        Some(r) => Some(r),
    };
    let complaint = clean(
        tr,
        tr.t("transfers.complaint"),
        &f.complaint,
        MAX_SHORT,
        true,
    )
    .unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let note = clean(tr, tr.t("transfers.note"), &f.note, MAX_TEXT, false).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    if !MEANS.contains(&f.means.as_str()) {
        errors.push(tr.t("transfers.means_required").to_string());
    }
    let eta = match record::parse_local(&f.eta) {
        // An ETA more than a day away or an hour in the past is a typing mistake.
        Some(t) if t < now - 3_600_000 || t > now + 86_400_000 => {
            errors.push(tr.t("transfers.eta_range").to_string());
            None
        }
        Some(t) => Some(t),
        None => {
            errors.push(tr.t("transfers.eta_required").to_string());
            None
        }
    };
    let vitals_typed = [
        &f.vitals.systolic,
        &f.vitals.diastolic,
        &f.vitals.pulse,
        &f.vitals.spo2,
        &f.vitals.temperature,
        &f.vitals.respiratory_rate,
    ]
    .iter()
    .any(|s| !s.trim().is_empty());
    let vitals = if vitals_typed {
        match record::validate_vitals(tr, &f.vitals, now, 0) {
            Ok((_, values)) => values,
            Err(e) => {
                errors.extend(e);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let checked = match &parts.file {
        Some((_, data)) => match check_file(tr, data) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    let (Some(receiver), Some(eta), true) = (receiver, eta, errors.is_empty()) else {
        return new_page(&state, &viewer, &ra, f, errors).await;
    };
    // The request, its vital signs and its photo: one transaction.
    let mut resources: Vec<(String, Value)> = Vec::new();
    let mut payload = Vec::new();
    if !note.is_empty() {
        payload.push(json!({ "contentString": note }));
    }
    for obs in record::vitals_resources(&ra.person, now, &vitals) {
        let id = crate::fhir_rest::new_id();
        payload.push(json!({ "contentReference": { "reference": format!("Observation/{id}") } }));
        resources.push((id, obs));
    }
    let mut attach = Vec::new();
    if let (Some((kind, data)), Some((claimed, _))) = (checked, &parts.file) {
        let binary_id = crate::fhir_rest::new_id();
        payload.push(json!({ "contentAttachment": {
            "contentType": kind.mime(),
            "url": format!("Binary/{binary_id}"),
            "size": data.len(),
            "title": renkei_domain::files::safe_filename(claimed, kind),
            "creation": record::fhir_datetime(now),
        } }));
        attach.push(resources.len());
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
    if payload.is_empty() {
        payload.push(json!({ "contentString": complaint }));
    }
    let request_id = crate::fhir_rest::new_id();
    let request = json!({
        "resourceType": "Communication",
        "status": "in-progress",
        // The timeline kind too: the request shows on the patient's timeline as an urgent
        // report, its steps as replies.
        "category": [
            { "coding": [{ "system": EVENT_SYSTEM, "code": "request", "display": "搬送依頼" }] },
            { "coding": [{ "system": super::timeline::KIND_SYSTEM, "code": "report", "display": "報告" }] },
        ],
        "priority": "stat",
        "subject": { "reference": format!("Patient/{}", ra.person) },
        "sent": clinical::instant(now),
        "sender": { "display": who(&viewer) },
        "recipient": [{ "identifier": { "system": FACILITY_SYSTEM, "value": receiver.id }, "display": receiver.name }],
        "reasonCode": [{ "text": complaint }],
        "extension": [
            { "url": ETA_EXTENSION, "valueDateTime": clinical::instant(eta) },
            { "url": MEANS_EXTENSION, "valueCode": f.means },
        ],
        "payload": payload,
    });
    let request_index = resources.len();
    resources.push((request_id.clone(), request));
    let attach_to: Vec<(usize, usize)> = attach.into_iter().map(|b| (b, request_index)).collect();
    let staff = clinical_staff(&state, &receiver.id).await?;
    let notes: Vec<Notification> = staff
        .iter()
        .map(|u| {
            notification(
                u,
                &viewer,
                &ra.facility,
                &ra.person,
                &request_id,
                &request_id,
                now,
            )
        })
        .collect();
    // The receiving hospital joins the team by accepting the ordinary invitation, written in
    // the same transaction as the request: never a request without its invitation.
    let eta_text = jst(eta);
    let invite_note: String = format!(
        "{INVITATION_MARK}{complaint} / 到着予定 {eta_text} / {}",
        means_label(Tr(Lang::Ja), &f.means)
    )
    .chars()
    .take(300)
    .collect();
    let invitation = renkei_storage::TeamInvitation {
        person_id: ra.person.clone(),
        facility_id: receiver.id.clone(),
        by_facility: ra.facility.id.clone(),
        by_user: viewer.user.id.clone(),
        note: invite_note,
        at: now,
        audit: viewer
            .audit("team.invite", Outcome::Success)
            .target("facility", &receiver.id)
            .detail(json!({ "transfer": request_id })),
    };
    let author = record::author(&viewer, &ra.facility);
    let stored = async {
        let writes = record::prepare_new(&state, &author, resources, &attach_to, now).await?;
        clinical::commit_inviting(
            state.store.as_ref(),
            &author,
            writes,
            "fhir.create",
            now,
            notes,
            invitation,
        )
        .await
        .map_err(clinical::WriteError::from)
    }
    .await;
    if let Err(e) = stored {
        let errors = record::write_errors(tr, lang, e)?;
        return new_page(&state, &viewer, &ra, f, errors).await;
    }
    super::notifications::announce(&state, &staff, true).await;
    Ok(Redirect::to(&format!(
        "/transfers/{request_id}?msg=notice.transfer_opened"
    ))
    .into_response())
}

/// The timeline's checks: size, type from the bytes, JPEG metadata stripped.
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

// --- detail and steps ------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub diagnosis: String,
    #[serde(default)]
    pub treatment: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Template)]
#[template(path = "transfer.html")]
struct DetailPage {
    c: Chrome,
    t: TransferView,
    is_receiver: bool,
    /// The consent does not share the receiving hospital's care data with the viewer, so
    /// its steps cannot be shown here.
    steps_hidden: bool,
    may_write: bool,
    f: StepForm,
    errors: Vec<String>,
    outcomes: Vec<(&'static str, &'static str)>,
    max_text: usize,
}

async fn detail_page(
    state: &SharedState,
    viewer: &Viewer,
    id: &str,
    f: StepForm,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<Response> {
    let (ra, _, t) = load_one(state, viewer, id, "page:/transfers/{id}").await?;
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": "page:/transfers/{id}", "transfer": id, "steps": t.steps.len() }),
    )
    .await?;
    // The notifications about this transfer are read once it is shown.
    let cleared = if viewer.unread_notifications > 0 {
        super::notifications::mark(
            state,
            viewer,
            renkei_storage::notifications::ReadSelector::Sources(vec![t.id.clone()]),
        )
        .await?
    } else {
        0
    };
    let tr = viewer.tr();
    let is_receiver = t.receiver_id == ra.facility.id;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = render(&DetailPage {
        c: Chrome {
            unread: (viewer.unread_notifications - cleared as i64).max(0),
            ..Chrome::for_viewer(state, viewer, "transfers.detail_title").with_notice(notice)
        },
        may_write: ra.may_contribute(),
        steps_hidden: !is_receiver
            && !ra
                .access
                .shared
                .contains(&renkei_domain::patient::InfoCategory::Care),
        is_receiver,
        t,
        f,
        errors,
        outcomes: OUTCOMES
            .iter()
            .map(|o| (*o, outcome_label(tr, o)))
            .collect(),
        max_text: MAX_TEXT,
    })?;
    Ok((status, body).into_response())
}

/// `GET /transfers/{id}`.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> AppResult<Response> {
    detail_page(
        &state,
        &viewer,
        &id,
        StepForm::default(),
        Vec::new(),
        q.msg.as_deref(),
    )
    .await
}

/// `POST /transfers/{id}/{step}` with `step` one of `acknowledge` (`note`: preparation),
/// `arrived`, `feedback` (`diagnosis`, `treatment`, `outcome`, `message`): by the receiving
/// hospital only, in order.
pub async fn step(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(form): Form<StepForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let event = match step.as_str() {
        "acknowledge" => "acknowledged",
        "arrived" => "arrived",
        "feedback" => "feedback",
        _ => return Err(AppError::NotFound),
    };
    let (ra, _, t) = load_one(&state, &viewer, &id, "action:transfers.step").await?;
    if t.receiver_id != ra.facility.id || !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let allowed = match event {
        "acknowledged" => t.status == "requested",
        "arrived" => t.status == "acknowledged",
        _ => t.status == "acknowledged" || t.status == "arrived",
    };
    if !allowed {
        errors.push(tr.t("transfers.wrong_order").to_string());
    }
    let now = now_millis();
    let mut post = json!({
        "resourceType": "Communication",
        "status": "completed",
        "category": [{ "coding": [{ "system": EVENT_SYSTEM, "code": event }] }],
        "subject": { "reference": format!("Patient/{}", ra.person) },
        "sent": clinical::instant(now),
        "sender": { "display": who(&viewer) },
        "inResponseTo": [{ "reference": format!("Communication/{id}") }],
        "recipient": [{ "identifier": { "system": FACILITY_SYSTEM, "value": t.sender_facility_id }, "display": t.sender_facility }],
    });
    match event {
        "acknowledged" => {
            let note = clean(
                tr,
                tr.t("transfers.preparation"),
                &form.note,
                MAX_TEXT,
                false,
            )
            .unwrap_or_else(|e| {
                errors.push(e);
                String::new()
            });
            let text = if note.is_empty() {
                tr.t("transfers.step.acknowledged").to_string()
            } else {
                note
            };
            post["payload"] = json!([{ "contentString": text }]);
        }
        "arrived" => {
            post["payload"] =
                json!([{ "contentString": Tr(Lang::Ja).t("transfers.step.arrived") }]);
        }
        _ => {
            let diagnosis = clean(
                tr,
                tr.t("transfers.diagnosis"),
                &form.diagnosis,
                MAX_SHORT,
                true,
            )
            .unwrap_or_else(|e| {
                errors.push(e);
                String::new()
            });
            let treatment = clean(
                tr,
                tr.t("transfers.treatment"),
                &form.treatment,
                MAX_TEXT,
                true,
            )
            .unwrap_or_else(|e| {
                errors.push(e);
                String::new()
            });
            let message = clean(
                tr,
                tr.t("transfers.message"),
                &form.message,
                MAX_TEXT,
                false,
            )
            .unwrap_or_else(|e| {
                errors.push(e);
                String::new()
            });
            if !OUTCOMES.contains(&form.outcome.as_str()) {
                errors.push(tr.t("transfers.outcome_required").to_string());
            }
            post["extension"] = json!([
                { "url": DIAGNOSIS_EXTENSION, "valueString": diagnosis },
                { "url": TREATMENT_EXTENSION, "valueString": treatment },
                { "url": OUTCOME_EXTENSION, "valueCode": form.outcome },
            ]);
            let text = if message.is_empty() {
                format!("{diagnosis} / {treatment}")
            } else {
                message
            };
            post["payload"] = json!([{ "contentString": text }]);
        }
    }
    if !errors.is_empty() {
        return detail_page(&state, &viewer, &id, form, errors, None).await;
    }
    let step_id = crate::fhir_rest::new_id();
    // The sender hears of the acknowledgement and the feedback.
    let recipients: Vec<String> = match (&t.sender_user, event) {
        (Some(u), "acknowledged" | "feedback") if *u != viewer.user.id => vec![u.clone()],
        _ => Vec::new(),
    };
    let notes = recipients
        .iter()
        .map(|u| notification(u, &viewer, &ra.facility, &ra.person, &id, &id, now))
        .collect();
    if let Err(e) = record::store_new_notifying(
        &state,
        &record::author(&viewer, &ra.facility),
        vec![(step_id, post)],
        &[],
        notes,
    )
    .await
    {
        let errors = record::write_errors(tr, viewer.lang(), e)?;
        return detail_page(&state, &viewer, &id, form, errors, None).await;
    }
    super::notifications::announce(&state, &recipients, true).await;
    Ok(Redirect::to(&format!("/transfers/{id}?msg=notice.transfer_{event}")).into_response())
}

/// `GET /transfers/{id}/photo`: the photo sent with the transfer, through the record's access.
pub async fn photo(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (ra, _, t) = load_one(&state, &viewer, &id, "download:/transfers/{id}/photo").await?;
    let (binary_id, title) = t.photo.ok_or(AppError::NotFound)?;
    let row = state
        .store
        .fhir_read("Binary", &binary_id)
        .await?
        .filter(|r| !r.deleted && clinical::row_in_scope(&ra.scope, r))
        .ok_or(AppError::NotFound)?;
    let v: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
    let data = base64::engine::general_purpose::STANDARD
        .decode(v["data"].as_str().unwrap_or_default())
        .map_err(|_| AppError::NotFound)?;
    let mime = v["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_string();
    record::audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        json!({ "resource": "download:/transfers/{id}/photo", "binary": binary_id }),
    )
    .await?;
    let disposition = format!("inline; filename*=UTF-8''{}", urlencoding_minimal(&title));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, mime),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
        ],
        data,
    )
        .into_response())
}

/// Percent-encodes everything but unreserved characters (RFC 5987 `filename*`).
fn urlencoding_minimal(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
