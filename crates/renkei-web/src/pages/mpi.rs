//! The secretariat's identity work: the match review queue and the break-glass log.
//! Identity management sees demographics only (the access rule's `IdentityManagement`).

use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::Outcome;
use renkei_domain::now_millis;
use renkei_storage::{BreakGlassEvent, PatientRecord, StoreError};
use serde::Deserialize;

pub struct ReviewRow {
    pub id: String,
    pub weight: String,
    pub probability: String,
    pub new_record: PatientRecord,
    pub new_facility: String,
    pub candidate: PatientRecord,
    pub candidate_facility: String,
    pub fields: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin_mpi.html")]
struct ReviewPage {
    c: Chrome,
    rows: Vec<ReviewRow>,
}

#[derive(Deserialize)]
pub struct MsgQuery {
    msg: Option<String>,
}

async fn facility_name(state: &SharedState, id: &str) -> AppResult<String> {
    Ok(state
        .store
        .get_facility(id)
        .await?
        .map(|f| f.name)
        .unwrap_or_default())
}

pub async fn queue(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    let mut rows = Vec::new();
    let mut persons = Vec::new();
    for review in state.store.open_match_reviews(100).await? {
        let (Some(new_record), Some(candidate)) = (
            state.store.get_patient_record(&review.record_id).await?,
            state
                .store
                .get_patient_record(&review.candidate_record_id)
                .await?,
        ) else {
            continue;
        };
        // Identity review reads demographics through the same decision point as any other
        // read (the secretariat's identity-management basis); the page is audited as a whole.
        let mut allowed = true;
        for r in [&new_record, &candidate] {
            allowed &= renkei_core::access::evaluate(
                state.store.as_ref(),
                &viewer.requester(),
                &r.person_id,
                renkei_domain::patient::InfoCategory::Demographics,
                Some(&r.facility_id),
                now_millis(),
            )
            .await?
            .is_permit();
        }
        if !allowed {
            continue;
        }
        let fields = serde_json::from_str::<Vec<serde_json::Value>>(&review.detail)
            .unwrap_or_default()
            .iter()
            .map(|f| {
                (
                    f["field"].as_str().unwrap_or("").to_string(),
                    f["level"].as_str().unwrap_or("").to_string(),
                    format!("{:+.1}", f["weight"].as_f64().unwrap_or(0.0)),
                )
            })
            .collect();
        persons.push(new_record.person_id.clone());
        persons.push(candidate.person_id.clone());
        rows.push(ReviewRow {
            id: review.id.clone(),
            weight: format!("{:.1}", review.weight),
            probability: format!("{:.3}", review.probability),
            new_facility: facility_name(&state, &new_record.facility_id).await?,
            candidate_facility: facility_name(&state, &candidate.facility_id).await?,
            new_record,
            candidate,
            fields,
        });
    }
    state
        .store
        .append_audit(
            viewer
                .audit("mpi.review_view", Outcome::Success)
                .detail(serde_json::json!({ "persons": persons })),
        )
        .await?;
    render(&ReviewPage {
        c: Chrome::for_viewer(&state, &viewer, "mpi.title").with_notice(q.msg.as_deref()),
        rows,
    })
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

pub async fn decide(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(review_id): Path<String>,
    Form(form): Form<DecideForm>,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    viewer.check_csrf(&form.csrf)?;
    let confirm = match form.decision.as_str() {
        "same" => true,
        "different" => false,
        _ => {
            return Err(AppError::BadRequest(
                "decision must be same or different".into(),
            ))
        }
    };
    let audit = viewer
        .audit(
            if confirm { "mpi.merge" } else { "mpi.distinct" },
            Outcome::Success,
        )
        .target("match_review", &review_id);
    match state
        .store
        .decide_match_review(&review_id, confirm, &viewer.user.id, now_millis(), audit)
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin/mpi?msg=notice.saved").into_response()),
        Err(StoreError::InvalidState(m)) => Err(AppError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

pub struct BreakGlassRow {
    pub event: BreakGlassEvent,
    pub user: String,
    pub facility: String,
    pub started: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "admin_break_glass.html")]
struct BreakGlassPage {
    c: Chrome,
    rows: Vec<BreakGlassRow>,
}

pub async fn break_glass_log(
    State(state): State<SharedState>,
    viewer: Viewer,
) -> AppResult<Html<String>> {
    viewer.require_secretariat()?;
    let mut rows = Vec::new();
    for e in state.store.list_break_glass(500).await? {
        let user = state
            .store
            .get_user(&e.user_id)
            .await?
            .map(|u| format!("{}（{}）", u.display_name, u.login_id))
            .unwrap_or_default();
        rows.push(BreakGlassRow {
            facility: facility_name(&state, &e.facility_id).await?,
            started: jst(e.started_at),
            expires: jst(e.expires_at),
            user,
            event: e,
        });
    }
    render(&BreakGlassPage {
        c: Chrome::for_viewer(&state, &viewer, "mpi.break_glass_title"),
        rows,
    })
}

/// Moves one registration out of a person into a new person of its own (a wrong automatic
/// link or merge), keeping the history.
pub async fn unlink(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(record_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    viewer.require_secretariat()?;
    viewer.check_csrf(&form.csrf)?;
    let new_person = renkei_domain::ids::new_id();
    let audit = viewer
        .audit("mpi.unlink", Outcome::Success)
        .target("patient_record", &record_id);
    match state
        .store
        .unlink_record(
            &record_id,
            &new_person,
            &viewer.user.id,
            now_millis(),
            audit,
        )
        .await
    {
        Ok(()) => {
            Ok(Redirect::to(&format!("/patients/{new_person}?msg=notice.saved")).into_response())
        }
        Err(StoreError::InvalidState(m)) => Err(AppError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}
