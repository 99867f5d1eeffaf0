//! Advance care planning (人生会議・ACP) and DNAR wishes of one patient: the current wishes,
//! their history, and the form with which the care team records a discussion or a review.
//! The records are FHIR `Consent` resources (scope `adr`, see `renkei_core::acp`) written
//! through the clinical write path; the emergency summary shows the newest one, and the home
//! page reminds the recording facility when a review comes due.

use super::record::{self, RecordAccess};
use super::{render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::NaiveDate;
use renkei_core::acp::{self, AcpForm, AcpRecord, Choice, ReviewState};
use renkei_domain::audit::Outcome;
use renkei_domain::{Lang, Profession};
use renkei_fhir::search::{Criterion, ValueMatch};
use renkei_storage::fhir::{FhirRow, FhirScope};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Professions that lead or record an ACP discussion (the MHLW guideline's
/// multi-professional team); clerks, ambulance crews and municipal officers do not.
pub fn records_acp(p: Profession) -> bool {
    matches!(
        p,
        Profession::Physician
            | Profession::Nurse
            | Profession::HomeVisitNurse
            | Profession::PublicHealthNurse
            | Profession::CareManager
            | Profession::MedicalSocialWorker
    )
}

/// `scope=adr` on Consent.
pub fn adr_criterion() -> Criterion {
    Criterion {
        param: "scope".into(),
        negate: false,
        missing: None,
        any_of: vec![ValueMatch::Token {
            system: Some(acp::CONSENT_SCOPE_SYSTEM.into()),
            code: "adr".into(),
        }],
    }
}

/// One record as shown.
pub struct AcpView {
    pub id: String,
    pub dnar: bool,
    /// (intervention, choice label, css class)
    pub choices: Vec<(&'static str, &'static str, &'static str)>,
    pub wishes: String,
    pub place: &'static str,
    pub stated_by: &'static str,
    pub surrogate: String,
    pub participants: String,
    pub discussed_on: String,
    pub recorded_by: String,
    /// The facility that stored it (from the store, not from the resource's text).
    pub source: String,
    pub recorded_at: String,
    pub next_review: String,
    /// "", "due" or "overdue".
    pub review_class: &'static str,
    pub review_note: String,
}

fn review_note(tr: Tr, state: ReviewState) -> (&'static str, String) {
    match state {
        ReviewState::Current => ("", String::new()),
        ReviewState::DueSoon(days) => (
            "due",
            tr.t("acp.review_due").replace("{n}", &days.to_string()),
        ),
        ReviewState::Overdue(days) => (
            "overdue",
            tr.t("acp.review_overdue").replace("{n}", &days.to_string()),
        ),
    }
}

pub fn view(
    tr: Tr,
    lang: Lang,
    record: &AcpRecord,
    row: &FhirRow,
    names: &HashMap<String, String>,
    today: NaiveDate,
) -> AcpView {
    let (review_class, review_note) = review_note(tr, acp::review_state(record, today));
    AcpView {
        id: record.id.clone(),
        dnar: record.dnar(),
        choices: record
            .choices
            .iter()
            .map(|(i, c)| {
                let class = match c {
                    Choice::Wanted => "wanted",
                    Choice::Declined => "declined",
                    Choice::Undecided => "undecided",
                };
                (i.label(lang), c.label(lang, i.key), class)
            })
            .collect(),
        wishes: record.wishes.clone(),
        place: acp::place_label(&record.place, lang),
        stated_by: acp::stated_by_label(&record.stated_by, lang),
        surrogate: record.surrogate.clone(),
        participants: record.participants.clone(),
        discussed_on: record.discussed_on.chars().take(10).collect(),
        recorded_by: record.recorded_by.clone(),
        source: row
            .source_facility_id
            .as_ref()
            .and_then(|f| names.get(f).cloned())
            .unwrap_or_else(|| record.organization.clone()),
        recorded_at: super::jst(row.last_updated),
        next_review: record
            .next_review
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        review_class,
        review_note,
    }
}

/// The person's ACP records among `rows`, newest discussion first (then newest stored).
pub fn records_of(rows: &[FhirRow]) -> Vec<(AcpRecord, &FhirRow)> {
    let mut out: Vec<(AcpRecord, &FhirRow)> = rows
        .iter()
        .filter(|r| r.resource_type == "Consent" && !r.deleted)
        .filter_map(|r| {
            let v: Value = serde_json::from_str(&r.content).ok()?;
            acp::from_fhir(&r.id, &v).map(|a| (a, r))
        })
        .filter(|(a, _)| a.active)
        .collect();
    out.sort_by(|a, b| {
        b.0.discussed_on
            .cmp(&a.0.discussed_on)
            .then(b.1.last_updated.cmp(&a.1.last_updated))
    });
    out
}

#[derive(Template)]
#[template(path = "acp.html")]
struct AcpPage {
    c: Chrome,
    person_id: String,
    header: record::Header,
    current: Option<AcpView>,
    history: Vec<AcpView>,
    not_shared: bool,
    may_record: bool,
    f: AcpForm,
    errors: Vec<String>,
    interventions: Vec<(&'static str, &'static str, String)>,
    places: Vec<(String, &'static str)>,
    stated_by: Vec<(String, &'static str)>,
    choices: Vec<(String, &'static str)>,
}

#[derive(Deserialize, Default)]
pub struct AcpQuery {
    msg: Option<String>,
}

/// The person's ACP rows the viewer may see.
async fn load(state: &SharedState, ra: &RecordAccess) -> AppResult<Vec<FhirRow>> {
    let (rows, _) = record::person_rows(
        state,
        &ra.person,
        &ra.scope,
        &[("Consent", vec![adr_criterion()])],
    )
    .await?;
    Ok(rows)
}

async fn page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    form: Option<AcpForm>,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let lang = viewer.lang();
    let today = super::patients::today_jst();
    let rows = load(state, ra).await?;
    let names = record::facility_names(state, &rows, tr).await?;
    let records = records_of(&rows);
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": "page:/patients/{id}/acp",
            "basis": if ra.access.own_registration { "own_registration" } else { "care_team" },
            "rows": records.len(),
        })),
    )
    .await?;
    let header = record::header(state, viewer, &ra.person).await?;
    let mut views = records
        .iter()
        .map(|(a, row)| view(tr, lang, a, row, &names, today));
    let current = views.next();
    let history: Vec<AcpView> = views.collect();
    let f = form.unwrap_or_else(|| AcpForm::prefilled(records.first().map(|(a, _)| a), today));
    let interventions = acp::INTERVENTIONS
        .iter()
        .map(|i| {
            let chosen = match i.key {
                "cpr" => &f.cpr,
                "ventilation" => &f.ventilation,
                "icu" => &f.icu,
                "hospital" => &f.hospital,
                "tube_feeding" => &f.tube_feeding,
                _ => &f.dialysis,
            };
            let chosen = if chosen.is_empty() {
                "undecided".to_string()
            } else {
                chosen.clone()
            };
            (i.key, i.label(lang), chosen)
        })
        .collect();
    let page = AcpPage {
        c: Chrome::for_viewer(state, viewer, "acp.title").with_notice(notice),
        person_id: ra.person.clone(),
        header,
        current,
        history,
        not_shared: !ra
            .access
            .shared
            .contains(&renkei_domain::patient::InfoCategory::Emergency),
        may_record: ra.may_contribute() && records_acp(viewer.user.profession),
        choices: [Choice::Wanted, Choice::Declined, Choice::Undecided]
            .into_iter()
            .map(|c| (c.code().to_string(), c.label(lang, "")))
            .collect(),
        places: acp::PLACES
            .iter()
            .map(|p| (p.0.to_string(), if lang == Lang::Ja { p.1 } else { p.2 }))
            .collect(),
        stated_by: acp::STATED_BY
            .iter()
            .map(|p| (p.0.to_string(), if lang == Lang::Ja { p.1 } else { p.2 }))
            .collect(),
        interventions,
        f,
        errors: errors.clone(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, render(&page)?).into_response())
}

/// `GET /patients/{id}/acp`.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<AcpQuery>,
) -> AppResult<Response> {
    let ra = record::open(&state, &viewer, &person_id, "page:/patients/{id}/acp").await?;
    if ra.person != person_id {
        return Ok(Redirect::to(&format!("/patients/{}/acp", ra.person)).into_response());
    }
    page(&state, &viewer, &ra, None, Vec::new(), q.msg.as_deref()).await
}

#[derive(Deserialize)]
pub struct AcpPost {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: AcpForm,
}

/// `POST /patients/{id}/acp`: records a discussion or a review as a new `Consent` (adr).
pub async fn record(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(post): Form<AcpPost>,
) -> AppResult<Response> {
    viewer.check_csrf(&post.csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:acp.record").await?;
    if !(ra.may_contribute() && records_acp(viewer.user.profession)) {
        return Err(AppError::Forbidden);
    }
    let lang = viewer.lang();
    let tr = viewer.tr();
    let today = super::patients::today_jst();
    let errors = match acp::check(&post.form, today) {
        Err(errors) => errors.iter().map(|e| e.message(lang).to_string()).collect(),
        Ok(input) => {
            let recorder = acp::Recorder {
                name: viewer.user.display_name.clone(),
                profession: viewer.user.profession.label(Lang::Ja).to_string(),
                facility: ra.facility.name.clone(),
            };
            let resource = acp::to_fhir(&input, &ra.person, &recorder);
            match record::store_new(
                &state,
                &record::author(&viewer, &ra.facility),
                vec![(crate::fhir_rest::new_id(), resource)],
                &[],
            )
            .await
            {
                Ok(_) => {
                    return Ok(Redirect::to(&format!(
                        "/patients/{}/acp?msg=notice.acp_saved",
                        ra.person
                    ))
                    .into_response())
                }
                Err(e) => record::write_errors(tr, lang, e)?,
            }
        }
    };
    page(&state, &viewer, &ra, Some(post.form), errors, None).await
}

/// A review reminder on the home page.
pub struct ReviewReminder {
    pub person_id: String,
    pub name: String,
    pub next_review: String,
    pub class: &'static str,
    pub note: String,
    pub dnar: bool,
}

/// The ACP records the viewer's facility wrote whose review is due within
/// `acp::REVIEW_NOTICE_DAYS` or overdue, for patients the facility still cares for (own
/// registration or active team membership, checked per person by the access rule). Each
/// person listed is an audited read.
pub async fn reminders(state: &SharedState, viewer: &Viewer) -> AppResult<Vec<ReviewReminder>> {
    let Some(facility) = viewer.facility() else {
        return Ok(Vec::new());
    };
    if !records_acp(viewer.user.profession) {
        return Ok(Vec::new());
    }
    let scope = FhirScope::Restricted {
        own_facility: Some(facility.id.clone()),
        grants: Vec::new(),
        non_patient: false,
    };
    let query = renkei_fhir::SearchQuery {
        resource_type: "Consent".into(),
        ids: Vec::new(),
        criteria: vec![adr_criterion()],
        last_updated: Vec::new(),
        sort: Vec::new(),
        count: 5000,
        offset: 0,
        want_total: false,
    };
    let page = state.store.fhir_search(&query, &scope).await?;
    let today = super::patients::today_jst();
    let tr = viewer.tr();
    // The newest record of each person decides.
    let mut newest: HashMap<String, (AcpRecord, FhirRow)> = HashMap::new();
    for row in page.rows {
        let Some(person) = row.person_id.clone() else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&row.content) else {
            continue;
        };
        let Some(record) = acp::from_fhir(&row.id, &v) else {
            continue;
        };
        if !record.active {
            continue;
        }
        let newer = newest.get(&person).is_none_or(|(old, old_row)| {
            (record.discussed_on.as_str(), row.last_updated)
                > (old.discussed_on.as_str(), old_row.last_updated)
        });
        if newer {
            newest.insert(person, (record, row));
        }
    }
    let mut out = Vec::new();
    let requester = viewer.requester();
    let now = renkei_domain::now_millis();
    for (person, (record, _)) in newest {
        let state_now = acp::review_state(&record, today);
        if state_now == ReviewState::Current {
            continue;
        }
        // Still this facility's patient? (A facility that left the team is not reminded.)
        let facts = state
            .store
            .access_facts(&person, Some(&facility.id), &requester.user_id, now)
            .await?;
        if !(facts.own_registration
            || facts.team_status == Some(renkei_domain::patient::TeamStatus::Active))
        {
            continue;
        }
        let records = state.store.person_records(&person).await?;
        let Some(r) = records
            .iter()
            .find(|r| r.facility_id == facility.id)
            .or(records.first())
        else {
            continue;
        };
        let (class, note) = review_note(tr, state_now);
        out.push(ReviewReminder {
            person_id: person.clone(),
            name: format!("{} {}", r.family_kanji, r.given_kanji),
            next_review: record
                .next_review
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            class,
            note,
            dnar: record.dnar(),
        });
    }
    out.sort_by(|a, b| a.next_review.cmp(&b.next_review));
    if !out.is_empty() {
        for r in &out {
            let mut entry = viewer
                .audit("patient.read", Outcome::Success)
                .detail(json!({ "resource": "page:/#acp-reviews", "basis": "own_records" }));
            entry.patient_id = Some(r.person_id.clone());
            state.store.append_audit(entry).await?;
        }
    }
    Ok(out)
}
