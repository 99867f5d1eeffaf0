//! ワンチームの目標 at `/patients/{id}/goals`: goals every profession on a patient works
//! towards (FHIR `Goal`, see `renkei_core::team_goals`), their progress notes from anyone in
//! the team (timeline `Communication`s about the goal), and status changes by the facility
//! that set the goal.
//!
//! Access is the record's (`record::open`); every view is an audited read.

use super::record::{self, Header, RecordAccess};
use super::timeline::KIND_SYSTEM;
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
use renkei_core::clinical::{self, WriteError, WriteIntent};
use renkei_core::team_goals::{
    self as goals, achievement_label, domain_label, NewGoal, ACHIEVEMENTS, DOMAINS, LIFECYCLES,
};
use renkei_domain::audit::Outcome;
use renkei_domain::{now_millis, Lang};
use renkei_storage::fhir::{FhirRow, FhirWriteKind};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub struct ProgressView {
    pub when: String,
    pub author: String,
    pub facility: String,
    pub assessment: String,
    pub assessment_code: String,
    pub text: String,
}

pub struct GoalView {
    pub id: String,
    pub version: i64,
    pub description: String,
    pub domain: String,
    pub due: String,
    pub overdue: bool,
    pub lifecycle: String,
    pub lifecycle_label: &'static str,
    pub achievement: String,
    pub achievement_code: String,
    pub set_by: String,
    pub facility: String,
    pub started: String,
    pub mine: bool,
    pub progress: Vec<ProgressView>,
}

#[derive(Deserialize, Default, Clone)]
pub struct GoalForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub due: String,
}

#[derive(Template)]
#[template(path = "goals.html")]
struct GoalsPage {
    c: Chrome,
    person_id: String,
    header: Header,
    may_write: bool,
    active: Vec<GoalView>,
    closed: Vec<GoalView>,
    form: GoalForm,
    errors: Vec<String>,
    /// (goal id, messages) of a refused progress or status form.
    goal_errors: (String, Vec<String>),
    domains: Vec<(&'static str, &'static str)>,
    achievements: Vec<(&'static str, &'static str)>,
    lifecycles: Vec<(&'static str, &'static str)>,
    max_goal: usize,
    max_progress: usize,
}

fn ja(tr: Tr) -> bool {
    tr.0 == Lang::Ja
}

fn lifecycle_label(tr: Tr, code: &str) -> &'static str {
    tr.t(&format!("goals.lifecycle.{code}"))
}

async fn facility_name(
    state: &SharedState,
    cache: &mut HashMap<String, String>,
    id: Option<&String>,
) -> AppResult<String> {
    let Some(id) = id else {
        return Ok(String::new());
    };
    if let Some(n) = cache.get(id) {
        return Ok(n.clone());
    }
    let name = state
        .store
        .get_facility(id)
        .await?
        .map(|f| f.name)
        .unwrap_or_default();
    cache.insert(id.clone(), name.clone());
    Ok(name)
}

/// The team goals with their progress, active ones first (by due date).
async fn load(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
) -> AppResult<(Vec<GoalView>, Vec<GoalView>, Vec<FhirRow>)> {
    let tr = viewer.tr();
    let (rows, _) = record::person_rows(
        state,
        &ra.person,
        &ra.scope,
        &[("Goal", Vec::new()), ("Communication", Vec::new())],
    )
    .await?;
    let mut names = HashMap::new();
    let mut progress: HashMap<String, Vec<(i64, ProgressView)>> = HashMap::new();
    for row in rows.iter().filter(|r| r.resource_type == "Communication") {
        let Ok(v) = serde_json::from_str::<Value>(&row.content) else {
            continue;
        };
        let Some((goal, assessment)) = goals::progress_of(&v) else {
            continue;
        };
        let sent = v["sent"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .unwrap_or(row.last_updated);
        let text = v["payload"][0]["contentString"]
            .as_str()
            .unwrap_or_default()
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
        progress.entry(goal).or_default().push((
            sent,
            ProgressView {
                when: jst(sent),
                author: v["sender"]["display"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                facility: facility_name(state, &mut names, row.source_facility_id.as_ref()).await?,
                assessment: achievement_label(&assessment, ja(tr))
                    .unwrap_or_default()
                    .to_string(),
                assessment_code: assessment,
                text,
            },
        ));
    }
    let today = super::patients::today_jst().format("%Y-%m-%d").to_string();
    let mine = viewer.facility().map(|f| f.id.clone());
    let mut active = Vec::new();
    let mut closed = Vec::new();
    for row in rows.iter().filter(|r| r.resource_type == "Goal") {
        let Ok(v) = serde_json::from_str::<Value>(&row.content) else {
            continue;
        };
        if !goals::is_team_goal(&v) {
            continue;
        }
        let lifecycle = v["lifecycleStatus"]
            .as_str()
            .unwrap_or("active")
            .to_string();
        let achievement_code = goals::achievement_of(&v)
            .unwrap_or("in-progress")
            .to_string();
        let due = v["target"][0]["dueDate"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut notes = progress.remove(&row.id).unwrap_or_default();
        notes.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let view = GoalView {
            id: row.id.clone(),
            version: row.version_id,
            description: v["description"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            domain: goals::domain_of(&v)
                .and_then(|d| domain_label(d, ja(tr)))
                .unwrap_or_default()
                .to_string(),
            overdue: lifecycle == "active" && !due.is_empty() && due.as_str() < today.as_str(),
            due,
            lifecycle_label: lifecycle_label(tr, &lifecycle),
            achievement: achievement_label(&achievement_code, ja(tr))
                .unwrap_or_default()
                .to_string(),
            achievement_code,
            set_by: v["expressedBy"]["display"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            facility: facility_name(state, &mut names, row.source_facility_id.as_ref()).await?,
            started: v["startDate"].as_str().unwrap_or_default().to_string(),
            mine: row.source_facility_id.is_some() && row.source_facility_id == mine,
            progress: notes.into_iter().map(|(_, p)| p).collect(),
            lifecycle,
        };
        if view.lifecycle == "active" {
            active.push(view);
        } else {
            closed.push(view);
        }
    }
    // Active goals by due date (those without one last), closed ones newest first.
    active.sort_by(|a, b| {
        (a.due.is_empty(), a.due.as_str()).cmp(&(b.due.is_empty(), b.due.as_str()))
    });
    closed.sort_by(|a, b| b.started.cmp(&a.started));
    Ok((active, closed, rows))
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    form: GoalForm,
    errors: Vec<String>,
    goal_errors: (String, Vec<String>),
    notice: Option<&str>,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let (active, closed, rows) = load(state, viewer, ra).await?;
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": "page:/patients/{id}/goals",
            "basis": if ra.access.own_registration { "own_registration" } else { "care_team" },
            "goals": active.len() + closed.len(),
            "rows": rows.len(),
        })),
    )
    .await?;
    let status = if errors.is_empty() && goal_errors.1.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let pick = |(code, j, e): &(&'static str, &'static str, &'static str)| {
        (*code, if ja(tr) { *j } else { *e })
    };
    let body = render(&GoalsPage {
        c: Chrome::for_viewer(state, viewer, "goals.title").with_notice(notice),
        person_id: ra.person.clone(),
        header: record::header(state, viewer, &ra.person).await?,
        may_write: ra.may_contribute(),
        active,
        closed,
        form,
        errors,
        goal_errors,
        domains: DOMAINS.iter().map(pick).collect(),
        achievements: ACHIEVEMENTS.iter().map(pick).collect(),
        lifecycles: LIFECYCLES
            .iter()
            .map(|l| (*l, lifecycle_label(tr, l)))
            .collect(),
        max_goal: goals::MAX_GOAL_CHARS,
        max_progress: goals::MAX_PROGRESS_CHARS,
    })?;
    Ok((status, body).into_response())
}

#[derive(Deserialize, Default)]
pub struct GoalsQuery {
    msg: Option<String>,
}

/// `GET /patients/{id}/goals`.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<GoalsQuery>,
) -> AppResult<Response> {
    let ra = record::open(&state, &viewer, &person_id, "page:/patients/{id}/goals").await?;
    if ra.person != person_id {
        return Ok(Redirect::to(&format!("/patients/{}/goals", ra.person)).into_response());
    }
    let no_errors = (String::new(), Vec::new());
    page(
        &state,
        &viewer,
        &ra,
        GoalForm::default(),
        Vec::new(),
        no_errors,
        q.msg.as_deref(),
    )
    .await
}

fn clean(tr: Tr, label: &str, raw: &str, max: usize, required: bool) -> Result<String, String> {
    let folded = raw.replace("\r\n", "\n").replace('\r', "\n");
    renkei_domain::text::clean("text", &folded, max, required)
        .map_err(|e| format!("{label}: {}", e.message(tr.0)))
}

fn who(viewer: &Viewer) -> String {
    format!(
        "{}（{}）",
        viewer.user.display_name,
        viewer.user.profession.label(Lang::Ja)
    )
}

fn saved(person: &str, msg: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/patients/{person}/goals?msg={msg}#{anchor}")).into_response()
}

/// `POST /patients/{id}/goals` (`description`, `domain`, `due` = `YYYY-MM-DD` or empty).
pub async fn create(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<GoalForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:goals.create").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let description = clean(
        tr,
        tr.t("goals.description"),
        &form.description,
        goals::MAX_GOAL_CHARS,
        true,
    )
    .unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    if domain_label(&form.domain, true).is_none() {
        errors.push(tr.t("goals.domain_required").to_string());
    }
    let today = super::patients::today_jst().format("%Y-%m-%d").to_string();
    let due = form.due.trim();
    let due = if due.is_empty() {
        None
    } else {
        match chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d") {
            Ok(d) if d.format("%Y-%m-%d").to_string() < today => {
                errors.push(tr.t("goals.due_past").to_string());
                None
            }
            Ok(d) => Some(d.format("%Y-%m-%d").to_string()),
            Err(_) => {
                errors.push(tr.t("goals.due_bad").to_string());
                None
            }
        }
    };
    if errors.is_empty() {
        let goal = NewGoal {
            description,
            domain: form.domain.clone(),
            due,
            expressed_by: who(&viewer),
            start: today.clone(),
        }
        .to_fhir(&ra.person);
        let id = crate::fhir_rest::new_id();
        let author = record::author(&viewer, &ra.facility);
        match record::store_new(&state, &author, vec![(id.clone(), goal)], &[]).await {
            Ok(_) => {
                return Ok(saved(
                    &ra.person,
                    "notice.goal_saved",
                    &format!("goal-{id}"),
                ))
            }
            Err(e) => errors.extend(record::write_errors(tr, viewer.lang(), e)?),
        }
    }
    page(
        &state,
        &viewer,
        &ra,
        form,
        errors,
        (String::new(), Vec::new()),
        None,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct ProgressForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    assessment: String,
    #[serde(default)]
    text: String,
}

/// The team goal `goal_id` of the person within the viewer's scope.
async fn team_goal(
    state: &SharedState,
    ra: &RecordAccess,
    goal_id: &str,
) -> AppResult<(FhirRow, Value)> {
    let row = state
        .store
        .fhir_read("Goal", goal_id)
        .await?
        .filter(|r| record::row_visible(ra, r))
        .ok_or(AppError::NotFound)?;
    let v: Value = serde_json::from_str(&row.content).map_err(|_| AppError::NotFound)?;
    if !goals::is_team_goal(&v) {
        return Err(AppError::NotFound);
    }
    Ok((row, v))
}

/// `POST /patients/{id}/goals/{goal}/progress` (`assessment`, `text`): a progress note by
/// anyone who may contribute, also on the timeline.
pub async fn add_progress(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, goal_id)): Path<(String, String)>,
    Form(form): Form<ProgressForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:goals.progress").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let (_, goal) = team_goal(&state, &ra, &goal_id).await?;
    let tr = viewer.tr();
    let mut errors = Vec::new();
    if achievement_label(&form.assessment, true).is_none() {
        errors.push(tr.t("goals.assessment_required").to_string());
    }
    let text = clean(
        tr,
        tr.t("goals.progress_text"),
        &form.text,
        goals::MAX_PROGRESS_CHARS,
        true,
    )
    .unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    if errors.is_empty() {
        let note = goals::progress_note(
            &ra.person,
            &goal_id,
            goal["description"]["text"].as_str().unwrap_or_default(),
            &form.assessment,
            &text,
            &who(&viewer),
            &clinical::instant(now_millis()),
            KIND_SYSTEM,
        );
        let author = record::author(&viewer, &ra.facility);
        let id = crate::fhir_rest::new_id();
        let known = [format!("Goal/{goal_id}")];
        let result = async {
            let now = now_millis();
            let write = clinical::prepare_write(
                state.store.as_ref(),
                &author,
                note,
                WriteIntent {
                    kind: FhirWriteKind::Create,
                    id: id.clone(),
                    version_id: 1,
                },
                now,
                &known,
            )
            .await?;
            clinical::commit(
                state.store.as_ref(),
                &author,
                vec![write],
                "fhir.create",
                now,
            )
            .await
            .map_err(WriteError::from)
        }
        .await;
        match result {
            Ok(_) => {
                // One's own note is read on the timeline.
                state
                    .store
                    .mark_timeline_read(&viewer.user.id, std::slice::from_ref(&id), now_millis())
                    .await?;
                return Ok(saved(
                    &ra.person,
                    "notice.goal_progress_saved",
                    &format!("goal-{goal_id}"),
                ));
            }
            Err(e) => errors.extend(record::write_errors(tr, viewer.lang(), e)?),
        }
    }
    page(
        &state,
        &viewer,
        &ra,
        GoalForm::default(),
        Vec::new(),
        (goal_id, errors),
        None,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lifecycle: String,
    #[serde(default)]
    achievement: String,
    #[serde(default)]
    version: String,
}

/// `POST /patients/{id}/goals/{goal}/status` (`lifecycle`, `achievement`, `version`): the
/// facility that set the goal closes, cancels or reopens it.
pub async fn set_status(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, goal_id)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:goals.status").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let (row, goal) = team_goal(&state, &ra, &goal_id).await?;
    // As on the FHIR API: only the facility that wrote a resource changes it.
    if row.source_facility_id.as_deref() != Some(ra.facility.id.as_str()) {
        let mut entry = viewer.audit("fhir.update", Outcome::Denied).detail(
            json!({ "resource": format!("Goal/{goal_id}"), "reason": "not_the_writing_facility" }),
        );
        entry.patient_id = Some(ra.person.clone());
        state.store.append_audit(entry).await?;
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let mut errors = Vec::new();
    if !LIFECYCLES.contains(&form.lifecycle.as_str())
        || achievement_label(&form.achievement, true).is_none()
    {
        errors.push(tr.t("goals.status_required").to_string());
    }
    if form.version.trim() != row.version_id.to_string() {
        errors.push(tr.t("goals.changed").to_string());
    }
    if errors.is_empty() {
        let updated = goals::with_status(&goal, &form.lifecycle, &form.achievement);
        let author = record::author(&viewer, &ra.facility);
        let result = async {
            let now = now_millis();
            let write = clinical::prepare_write(
                state.store.as_ref(),
                &author,
                updated,
                WriteIntent {
                    kind: FhirWriteKind::Update {
                        expected_version: Some(row.version_id),
                    },
                    id: goal_id.clone(),
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
            .map_err(WriteError::from)
        }
        .await;
        match result {
            Ok(_) => {
                return Ok(saved(
                    &ra.person,
                    "notice.goal_status_saved",
                    &format!("goal-{goal_id}"),
                ))
            }
            Err(WriteError::Store(renkei_storage::StoreError::Conflict(_))) => {
                errors.push(tr.t("goals.changed").to_string())
            }
            Err(e) => errors.extend(record::write_errors(tr, viewer.lang(), e)?),
        }
    }
    page(
        &state,
        &viewer,
        &ra,
        GoalForm::default(),
        Vec::new(),
        (goal_id, errors),
        None,
    )
    .await
}
