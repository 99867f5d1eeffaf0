//! Patients: registration through the patient index, the patient page, consent, care
//! teams by invitation. Every read of patient data goes through
//! `renkei_core::access::authorize`; a refusal looks exactly like a patient that does not
//! exist (404), so nothing reveals who is registered elsewhere.

use super::directory::Choice;
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_core::patients::{self, LinkOutcome, RegistrationInput};
use renkei_domain::audit::Outcome;
use renkei_domain::patient::{CareLevel, ConsentScope, Decision, InfoCategory, Sex, TeamStatus};
use renkei_domain::{ids, now_millis, FacilityStatus, Lang};
use renkei_storage::{Consent, Facility, NewConsent, PatientRecord, StoreError, TeamMember};
use serde::Deserialize;

/// The facility the person acts for, required for patient work.
fn acting_facility(viewer: &Viewer) -> AppResult<Facility> {
    viewer.facility().cloned().ok_or(AppError::Forbidden)
}

/// Reads what the viewer may see of a person for `category`, or answers 404. A facility's
/// own registration of the person is its own data; everything else is shared data.
pub async fn require_access(
    state: &SharedState,
    viewer: &Viewer,
    person_id: &str,
    category: InfoCategory,
    resource: &str,
) -> AppResult<Decision> {
    let started = std::time::Instant::now();
    let (decision, timings) = renkei_core::access::authorize_timed(
        state.store.as_ref(),
        &viewer.requester(),
        &viewer.origin(resource),
        person_id,
        category,
        None,
    )
    .await?;
    // The cost of the decision point (facts, rule, audit record), to compare with whole
    // requests in /metrics (bench/access.sh).
    metrics::histogram!("renkei_access_decision_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("renkei_access_rule_seconds").record(timings.decide.as_secs_f64());
    metrics::histogram!("renkei_access_audit_seconds").record(timings.audit.as_secs_f64());
    if decision.is_permit() {
        Ok(decision)
    } else {
        Err(AppError::NotFound)
    }
}

/// The registrations of a person the viewer may see: their own facility's, and others'
/// when the consent and team rules share them.
async fn visible_records(
    state: &SharedState,
    viewer: &Viewer,
    person_id: &str,
) -> AppResult<Vec<PatientRecord>> {
    Ok(renkei_core::access::visible_records(
        state.store.as_ref(),
        &viewer.requester(),
        person_id,
        InfoCategory::Demographics,
        now_millis(),
    )
    .await?)
}

// --- list -------------------------------------------------------------------------------

pub struct PatientRow {
    pub person_id: String,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub sex: &'static str,
    pub local_id: String,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    c: Chrome,
    q: String,
    rows: Vec<PatientRow>,
    invitations: usize,
    notices: Vec<(String, String, String)>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    msg: Option<String>,
}

pub async fn list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> AppResult<Html<String>> {
    let facility = acting_facility(&viewer)?;
    let lang = viewer.lang();
    let text: String = q.q.chars().take(100).collect();
    let records = state
        .store
        .team_patients(
            &facility.id,
            Some(text.as_str()).filter(|t| !t.trim().is_empty()),
            200,
        )
        .await?;
    // A list shows names: one audit record for the search, naming every patient shown.
    let mut rows = Vec::new();
    for r in records {
        // The row shows the registration `r`; its facility's consent rules apply to it.
        let decision = renkei_core::access::evaluate(
            state.store.as_ref(),
            &viewer.requester(),
            &r.person_id,
            InfoCategory::Demographics,
            Some(&r.facility_id),
            now_millis(),
        )
        .await?;
        if decision.is_permit() {
            rows.push(PatientRow {
                person_id: r.person_id.clone(),
                name: r.full_name(),
                kana: r.full_kana(),
                birth_date: r.birth_date.clone(),
                sex: r.sex.label(lang),
                local_id: r.local_id.clone(),
            });
        }
    }
    let shown: Vec<&str> = rows.iter().map(|r| r.person_id.as_str()).collect();
    state
        .store
        .append_audit(
            viewer
                .audit("patient.search", Outcome::Success)
                .detail(serde_json::json!({ "query": text, "persons": shown })),
        )
        .await?;
    let invitations = state.store.invitations_for(&facility.id).await?.len();
    let notices = state
        .store
        .team_notices(&facility.id, 20)
        .await?
        .into_iter()
        .map(|n| {
            let reason = serde_json::from_str::<serde_json::Value>(&n.body)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_string))
                .unwrap_or_default();
            (jst(n.created_at), n.person_id, reason)
        })
        .collect();
    let page = PatientsPage {
        c: Chrome::for_viewer(&state, &viewer, "patients.title").with_notice(q.msg.as_deref()),
        q: text,
        rows,
        invitations,
        notices,
    };
    render(&page)
}

// --- registration ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "patient_new.html")]
struct NewPatientPage {
    c: Chrome,
    v: RegistrationInput,
    sexes: Vec<Choice>,
    care_levels: Vec<Choice>,
    errors: Vec<String>,
    id_system: String,
}

fn sex_choices(lang: Lang, selected: &str) -> Vec<Choice> {
    Sex::ALL
        .iter()
        .map(|s| Choice {
            code: s.code().into(),
            label: s.label(lang).into(),
            selected: s.code() == selected,
        })
        .collect()
}

fn care_choices(lang: Lang, selected: &str) -> Vec<Choice> {
    CareLevel::ALL
        .iter()
        .map(|c| Choice {
            code: c.code().into(),
            label: c.label(lang).into(),
            selected: c.code() == selected,
        })
        .collect()
}

pub async fn new_page(State(state): State<SharedState>, viewer: Viewer) -> AppResult<Html<String>> {
    let facility = acting_facility(&viewer)?;
    let lang = viewer.lang();
    let page = NewPatientPage {
        c: Chrome::for_viewer(&state, &viewer, "patients.new_title"),
        v: RegistrationInput::default(),
        sexes: sex_choices(lang, ""),
        care_levels: care_choices(lang, "none"),
        errors: vec![],
        id_system: patients::local_id_system(&facility),
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    input: RegistrationInput,
}

pub async fn register(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<RegisterForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let facility = acting_facility(&viewer)?;
    let lang = viewer.lang();
    let tr = viewer.tr();
    let errors =
        match patients::validate(&facility, &form.input, &viewer.user.id, false, now_millis()) {
            Ok(record) => {
                let audit = viewer
                    .audit("patient.register", Outcome::Success)
                    .target("patient_record", &record.id);
                match patients::register(state.store.as_ref(), record, audit).await {
                    Ok(done) => {
                        let msg = match done.outcome {
                            LinkOutcome::NewPerson => "notice.patient_registered",
                            LinkOutcome::AutoLinked { .. } => "notice.patient_linked",
                            LinkOutcome::PendingReview { .. } => "notice.patient_review",
                        };
                        return Ok(Redirect::to(&format!(
                            "/patients/{}?msg={msg}",
                            done.record.person_id
                        ))
                        .into_response());
                    }
                    Err(renkei_core::ServiceError::Invalid { field, .. }) => vec![format!(
                        "{}: {}",
                        tr.field(field),
                        tr.t("patients.duplicate_local_id")
                    )],
                    Err(e) => return Err(e.into()),
                }
            }
            Err(errors) => patients::messages(&errors, lang, |f| tr.field(f)),
        };
    let page = NewPatientPage {
        c: Chrome::for_viewer(&state, &viewer, "patients.new_title"),
        sexes: sex_choices(lang, &form.input.sex),
        care_levels: care_choices(lang, &form.input.care_level),
        v: form.input,
        errors,
        id_system: patients::local_id_system(&facility),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

// --- patient page ------------------------------------------------------------------------

pub struct RecordView {
    pub record: PatientRecord,
    pub facility_name: String,
    pub sex: &'static str,
    pub care_level: &'static str,
    pub own: bool,
}

pub struct TeamView {
    pub member: TeamMember,
    pub facility_name: String,
    pub facility_type: &'static str,
    pub status: &'static str,
    pub mine: bool,
}

pub struct ConsentSummary {
    pub consent: Consent,
    pub effective: bool,
    pub scope: String,
    pub excluded: Vec<&'static str>,
    pub obtained: String,
    pub withdrawn: String,
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    person_id: String,
    header: RecordView,
    age: i64,
    records: Vec<RecordView>,
    team: Vec<TeamView>,
    consent: Option<ConsentSummary>,
    in_team: bool,
    /// The viewer's unread timeline posts about the person.
    timeline_unread: i64,
    break_glass: bool,
    /// Opened through a home-care group cover shift (在宅医療の当番).
    covering: bool,
    /// The secretariat manages identity: link history and unlinking registrations.
    identity_admin: bool,
    history: Vec<(String, String, String)>,
}

pub fn age_on(birth_date: &str, today: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    let Ok(b) = chrono::NaiveDate::parse_from_str(birth_date, "%Y-%m-%d") else {
        return 0;
    };
    let mut age = today.year() - b.year();
    if (today.month(), today.day()) < (b.month(), b.day()) {
        age -= 1;
    }
    age as i64
}

pub fn today_jst() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

async fn facility_name(state: &SharedState, id: &str) -> AppResult<String> {
    Ok(state
        .store
        .get_facility(id)
        .await?
        .map(|f| f.name)
        .unwrap_or_else(|| id.to_string()))
}

pub fn consent_summary(
    c: Consent,
    lang: Lang,
    tr: crate::i18n::Tr,
    names: &std::collections::HashMap<String, String>,
) -> ConsentSummary {
    let now = now_millis();
    let effective = c.withdrawn_at.is_none_or(|t| t > now);
    let scope = match c.scope {
        ConsentScope::Comprehensive => tr.t("consent.comprehensive").to_string(),
        ConsentScope::Individual => format!(
            "{}：{}",
            tr.t("consent.individual"),
            c.facilities
                .iter()
                .map(|f| names.get(f).cloned().unwrap_or_else(|| f.clone()))
                .collect::<Vec<_>>()
                .join("、")
        ),
    };
    ConsentSummary {
        effective,
        scope,
        excluded: c.excluded.iter().map(|e| e.label(lang)).collect(),
        obtained: jst(c.obtained_at),
        withdrawn: c.withdrawn_at.map(jst).unwrap_or_default(),
        consent: c,
    }
}

pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let Some(person) = state.store.resolve_person(&person_id).await? else {
        // Audit the attempt all the same, then answer as for any refusal.
        require_access(
            &state,
            &viewer,
            &person_id,
            InfoCategory::Demographics,
            "page:/patients",
        )
        .await?;
        return Err(AppError::NotFound);
    };
    if person != person_id {
        return Ok(Redirect::to(&format!("/patients/{person}")).into_response());
    }
    let decision = require_access(
        &state,
        &viewer,
        &person,
        InfoCategory::Demographics,
        "page:/patients/{id}",
    )
    .await?;
    let lang = viewer.lang();
    let tr = viewer.tr();
    let my_facility = viewer.facility().map(|f| f.id.clone());
    let mut records = Vec::new();
    for r in visible_records(&state, &viewer, &person).await? {
        let name = facility_name(&state, &r.facility_id).await?;
        records.push(RecordView {
            own: Some(&r.facility_id) == my_facility.as_ref(),
            facility_name: name,
            sex: r.sex.label(lang),
            care_level: r.care_level.label(lang),
            record: r,
        });
    }
    let header_index = records.iter().position(|r| r.own).unwrap_or(0);
    let Some(header) = records.get(header_index).map(|r| RecordView {
        record: r.record.clone(),
        facility_name: r.facility_name.clone(),
        sex: r.sex,
        care_level: r.care_level,
        own: r.own,
    }) else {
        return Err(AppError::NotFound);
    };
    let mut team = Vec::new();
    let mut names = std::collections::HashMap::new();
    for m in state.store.team_members(&person).await? {
        let f = state.store.get_facility(&m.facility_id).await?;
        let (fname, ftype) = f
            .map(|f| (f.name.clone(), f.facility_type.label(lang)))
            .unwrap_or_default();
        names.insert(m.facility_id.clone(), fname.clone());
        team.push(TeamView {
            mine: Some(&m.facility_id) == my_facility.as_ref(),
            status: tr.t(&format!("team.{}", m.status.code())),
            facility_name: fname,
            facility_type: ftype,
            member: m,
        });
    }
    let consent = state
        .store
        .current_consent(&person)
        .await?
        .map(|c| consent_summary(c, lang, tr, &names));
    let in_team = team
        .iter()
        .any(|t| t.mine && t.member.status == TeamStatus::Active);
    let timeline_unread = if in_team || header.own {
        super::timeline::unread_counts(&state, &viewer, std::slice::from_ref(&person))
            .await?
            .get(&person)
            .copied()
            .unwrap_or(0)
    } else {
        0
    };
    let person_id_for_history = person.clone();
    let page = PatientPage {
        c: Chrome::for_viewer(&state, &viewer, "patients.title").with_notice(q.msg.as_deref()),
        age: age_on(&header.record.birth_date, today_jst()),
        person_id: person,
        header,
        records,
        team,
        consent,
        in_team,
        timeline_unread,
        identity_admin: viewer.is_secretariat(),
        history: if viewer.is_secretariat() {
            state
                .store
                .link_history(&person_id_for_history)
                .await?
                .into_iter()
                .map(|e| (jst(e.at), e.action, e.record_id.unwrap_or_default()))
                .collect()
        } else {
            vec![]
        },
        break_glass: matches!(
            decision,
            Decision::Permit {
                basis: renkei_domain::patient::Basis::BreakGlass
            }
        ),
        covering: matches!(
            decision,
            Decision::Permit {
                basis: renkei_domain::patient::Basis::GroupCover
            }
        ),
    };
    Ok(render(&page)?.into_response())
}

// --- consent -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    c: Chrome,
    person_id: String,
    patient_name: String,
    history: Vec<ConsentSummary>,
    team: Vec<Choice>,
    categories: Vec<Choice>,
    errors: Vec<String>,
}

async fn team_member_choices(
    state: &SharedState,
    person: &str,
    selected: &[String],
) -> AppResult<Vec<Choice>> {
    let mut out = Vec::new();
    for m in state.store.team_members(person).await? {
        if m.status == TeamStatus::Active || m.status == TeamStatus::Invited {
            let name = state
                .store
                .get_facility(&m.facility_id)
                .await?
                .map(|f| f.name)
                .unwrap_or_default();
            out.push(Choice {
                selected: selected.contains(&m.facility_id),
                code: m.facility_id,
                label: name,
            });
        }
    }
    Ok(out)
}

async fn consent_page(
    state: &SharedState,
    viewer: &Viewer,
    person: &str,
    errors: Vec<String>,
) -> AppResult<ConsentPage> {
    let lang = viewer.lang();
    let records = state.store.person_records(person).await?;
    let name = records.first().map(|r| r.full_name()).unwrap_or_default();
    let team = team_member_choices(state, person, &[]).await?;
    let names = team
        .iter()
        .map(|c| (c.code.clone(), c.label.clone()))
        .collect();
    Ok(ConsentPage {
        c: Chrome::for_viewer(state, viewer, "consent.title"),
        person_id: person.to_string(),
        patient_name: name,
        history: state
            .store
            .consent_history(person)
            .await?
            .into_iter()
            .map(|c| consent_summary(c, lang, viewer.tr(), &names))
            .collect(),
        team,
        categories: renkei_core::patients::excludable_categories(state.store.as_ref())
            .await?
            .iter()
            .map(|c| Choice {
                code: c.code().into(),
                label: c.label(lang).into(),
                selected: false,
            })
            .collect(),
        errors,
    })
}

/// Consent is managed by facilities in the active care team.
async fn require_team(
    state: &SharedState,
    viewer: &Viewer,
    person: &str,
    resource: &str,
) -> AppResult<Facility> {
    let facility = acting_facility(viewer)?;
    require_access(state, viewer, person, InfoCategory::Demographics, resource).await?;
    if state.store.team_status(person, &facility.id).await? != Some(TeamStatus::Active) {
        return Err(AppError::Forbidden);
    }
    Ok(facility)
}

pub async fn consent_show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
) -> AppResult<Html<String>> {
    require_team(&state, &viewer, &person_id, "page:/patients/{id}/consent").await?;
    render(&consent_page(&state, &viewer, &person_id, vec![]).await?)
}

pub async fn consent_record(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    viewer.check_csrf(get("csrf"))?;
    let facility = require_team(&state, &viewer, &person_id, "action:consent.record").await?;
    let tr = viewer.tr();
    let mut errors: Vec<String> = Vec::new();
    let scope = ConsentScope::from_code(get("scope"));
    let team_ids: Vec<String> = state
        .store
        .team_members(&person_id)
        .await?
        .into_iter()
        .map(|m| m.facility_id)
        .collect();
    let facilities: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "facilities")
        .map(|(_, v)| v.clone())
        .collect();
    let offered = renkei_core::patients::excludable_categories(state.store.as_ref()).await?;
    let mut excluded = Vec::new();
    for (k, v) in &form {
        if k == "excluded" {
            match InfoCategory::from_code(v).filter(|c| offered.contains(c)) {
                Some(c) => excluded.push(c),
                None => errors.push(format!(
                    "{}: {}",
                    tr.field("excluded"),
                    tr.t("form.unknown_choice")
                )),
            }
        }
    }
    if scope.is_none() {
        errors.push(format!(
            "{}: {}",
            tr.field("scope"),
            tr.t("form.unknown_choice")
        ));
    }
    if scope == Some(ConsentScope::Individual)
        && (facilities.is_empty() || facilities.iter().any(|f| !team_ids.contains(f)))
    {
        errors.push(tr.t("consent.individual_needs_facilities").to_string());
    }
    let form_kind = get("form");
    if !["written", "verbal"].contains(&form_kind) {
        errors.push(format!(
            "{}: {}",
            tr.field("form"),
            tr.t("form.unknown_choice")
        ));
    }
    let signer = get("signer");
    if !["patient", "proxy"].contains(&signer) {
        errors.push(format!(
            "{}: {}",
            tr.field("signer"),
            tr.t("form.unknown_choice")
        ));
    }
    let lang = viewer.lang();
    let clean =
        |field: &'static str, max: usize, required: bool, errors: &mut Vec<String>| -> String {
            renkei_domain::text::clean(field, get(field), max, required).unwrap_or_else(|e| {
                errors.push(format!("{}: {}", tr.field(e.field), e.message(lang)));
                String::new()
            })
        };
    let proxy_name = clean("proxy_name", 60, signer == "proxy", &mut errors);
    let proxy_relationship = clean("proxy_relationship", 30, signer == "proxy", &mut errors);
    let family_note = clean("family_note", 500, false, &mut errors);
    let place = clean("place", 100, false, &mut errors);
    let card_number = clean("card_number", 40, false, &mut errors);
    let obtained_at = match get("obtained_on") {
        "" => now_millis(),
        d => match super::parse_jst_date(d) {
            Some(t) if t <= now_millis() => t,
            _ => {
                errors.push(format!(
                    "{}: {}",
                    tr.field("obtained_on"),
                    tr.t("consent.bad_date")
                ));
                0
            }
        },
    };
    if errors.is_empty() {
        let consent = NewConsent {
            id: ids::new_id(),
            person_id: person_id.clone(),
            scope: scope.unwrap_or(ConsentScope::Comprehensive),
            facilities: if scope == Some(ConsentScope::Individual) {
                facilities
            } else {
                vec![]
            },
            excluded,
            form: form_kind.to_string(),
            signer: signer.to_string(),
            proxy_name,
            proxy_relationship,
            family_participation: get("family_participation") == "yes",
            family_note,
            obtained_by: viewer.user.id.clone(),
            obtained_facility_id: facility.id.clone(),
            obtained_at,
            place,
            card_number,
            created_at: now_millis(),
        };
        let audit = viewer
            .audit("consent.record", Outcome::Success)
            .target("consent", &consent.id);
        match state.store.record_consent(consent, audit).await {
            Ok(_) => {
                return Ok(Redirect::to(&format!(
                    "/patients/{person_id}?msg=notice.consent_recorded"
                ))
                .into_response())
            }
            Err(StoreError::Conflict(_)) => errors.push(tr.t("consent.already_active").to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    let page = consent_page(&state, &viewer, &person_id, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    effective_on: String,
    #[serde(default)]
    reason: String,
}

pub async fn consent_withdraw(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, consent_id)): Path<(String, String)>,
    Form(form): Form<WithdrawForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    require_team(&state, &viewer, &person_id, "action:consent.withdraw").await?;
    let consent = state
        .store
        .get_consent(&consent_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if consent.person_id != person_id {
        return Err(AppError::NotFound);
    }
    let effective = match form.effective_on.trim() {
        "" => now_millis(),
        d => super::parse_jst_date(d)
            .ok_or_else(|| AppError::BadRequest(viewer.tr().t("consent.bad_date").into()))?
            .max(now_millis()),
    };
    let reason = renkei_domain::text::clean("reason", &form.reason, 500, false)
        .map_err(|e| AppError::BadRequest(e.message(viewer.lang())))?;
    let audit = viewer
        .audit("consent.withdraw", Outcome::Success)
        .target("consent", &consent_id)
        .detail(serde_json::json!({ "effective_at": effective }));
    match state
        .store
        .withdraw_consent(&consent_id, effective, &viewer.user.id, &reason, audit)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/patients/{person_id}?msg=notice.consent_withdrawn"
        ))
        .into_response()),
        Err(StoreError::InvalidState(m)) => Err(AppError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

// --- care team ---------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    /// Facility ID as printed in the directory (`F00042`) or the internal ID.
    #[serde(default)]
    facility: String,
    #[serde(default)]
    note: String,
}

pub async fn invite(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let me = require_team(&state, &viewer, &person_id, "action:team.invite").await?;
    let tr = viewer.tr();
    let wanted = form.facility.trim().to_uppercase();
    let target = state
        .store
        .search_facilities(&renkei_storage::FacilityQuery {
            text: Some(wanted.clone()),
            status: None,
            limit: 5,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .find(|f| f.code.as_deref() == Some(wanted.as_str()) || f.id == form.facility.trim());
    let Some(target) = target else {
        return Err(AppError::BadRequest(tr.t("team.unknown_facility").into()));
    };
    if target.status != FacilityStatus::Active {
        return Err(AppError::BadRequest(
            tr.t("team.facility_not_active").into(),
        ));
    }
    let note = renkei_domain::text::clean("note", &form.note, 300, false)
        .map_err(|e| AppError::BadRequest(e.message(viewer.lang())))?;
    let audit = viewer
        .audit("team.invite", Outcome::Success)
        .target("facility", &target.id);
    match state
        .store
        .invite_to_team(
            &person_id,
            &target.id,
            &me.id,
            &viewer.user.id,
            &note,
            now_millis(),
            audit,
        )
        .await
    {
        Ok(()) => {
            super::notifications::announce_facilities(&state, std::slice::from_ref(&target.id))
                .await;
            Ok(Redirect::to(&format!("/patients/{person_id}?msg=notice.invited")).into_response())
        }
        Err(StoreError::InvalidState(_)) => Err(AppError::BadRequest(tr.t("team.already").into())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn leave(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let me = require_team(&state, &viewer, &person_id, "action:team.leave").await?;
    state
        .store
        .leave_team(
            &person_id,
            &me.id,
            now_millis(),
            viewer
                .audit("team.leave", Outcome::Success)
                .target("facility", &me.id),
        )
        .await?;
    Ok(Redirect::to("/patients?msg=notice.left_team").into_response())
}

pub struct InvitationRow {
    pub person_id: String,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub from: String,
    pub note: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "invitations.html")]
struct InvitationsPage {
    c: Chrome,
    rows: Vec<InvitationRow>,
}

pub async fn invitations(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> AppResult<Html<String>> {
    let facility = acting_facility(&viewer)?;
    let mut rows = Vec::new();
    for (member, record) in state.store.invitations_for(&facility.id).await? {
        let from = match &member.invited_by_facility {
            Some(f) => state
                .store
                .get_facility(f)
                .await?
                .map(|f| f.name)
                .unwrap_or_default(),
            None => String::new(),
        };
        rows.push(InvitationRow {
            person_id: member.person_id.clone(),
            name: record.full_name(),
            kana: record.full_kana(),
            birth_date: record.birth_date.clone(),
            from,
            note: member.note.clone(),
            at: jst(member.updated_at),
        });
    }
    // The inviting facility chose to show these identities to this facility; still audited.
    let shown: Vec<&str> = rows.iter().map(|r| r.person_id.as_str()).collect();
    state
        .store
        .append_audit(
            viewer
                .audit("team.invitations_view", Outcome::Success)
                .detail(serde_json::json!({ "persons": shown })),
        )
        .await?;
    render(&InvitationsPage {
        c: Chrome::for_viewer(&state, &viewer, "team.invitations_title")
            .with_notice(q.msg.as_deref()),
        rows,
    })
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    answer: String,
}

pub async fn answer_invitation(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let facility = acting_facility(&viewer)?;
    let accept = match form.answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => {
            return Err(AppError::BadRequest(
                "answer must be accept or decline".into(),
            ))
        }
    };
    let audit = viewer
        .audit(
            if accept {
                "team.accept"
            } else {
                "team.decline"
            },
            Outcome::Success,
        )
        .target("facility", &facility.id);
    match state
        .store
        .respond_to_invitation(&person_id, &facility.id, accept, now_millis(), audit)
        .await
    {
        Ok(()) if accept => {
            // Without a consent that covers the facility there is nothing to show yet.
            let visible = renkei_core::access::evaluate(
                state.store.as_ref(),
                &viewer.requester(),
                &person_id,
                InfoCategory::Demographics,
                None,
                now_millis(),
            )
            .await?;
            if visible.is_permit() {
                Ok(
                    Redirect::to(&format!("/patients/{person_id}?msg=notice.joined_team"))
                        .into_response(),
                )
            } else {
                Ok(Redirect::to("/patients?msg=notice.joined_team_no_consent").into_response())
            }
        }
        Ok(()) => Ok(Redirect::to("/invitations?msg=notice.declined").into_response()),
        Err(StoreError::InvalidState(_)) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}

// --- signed consent form -------------------------------------------------------------------

/// Largest accepted consent form (a scanned page or a phone photo).
pub const MAX_CONSENT_FORM_BYTES: usize = 5 * 1024 * 1024;

/// Stores the signed form (同意書) of a consent: PDF, JPEG or PNG, decided from the bytes.
pub async fn consent_form_upload(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, consent_id)): Path<(String, String)>,
    mut multipart: axum::extract::Multipart,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("{}: {e}", tr.t("consent.form_unreadable"))))?
    {
        match field.name() {
            Some("csrf") => {
                csrf = field
                    .text()
                    .await
                    .map_err(|e| AppError::BadRequest(e.to_string()))?
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let bytes = field.bytes().await.map_err(|e| {
                    AppError::BadRequest(format!("{}: {e}", tr.t("consent.form_unreadable")))
                })?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    viewer.check_csrf(&csrf)?;
    require_team(&state, &viewer, &person_id, "action:consent.form").await?;
    let consent = state
        .store
        .get_consent(&consent_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if consent.person_id != person_id {
        return Err(AppError::NotFound);
    }
    let Some((claimed_name, data)) = file.filter(|(_, d)| !d.is_empty()) else {
        return Err(AppError::BadRequest(tr.t("consent.form_missing").into()));
    };
    if data.len() > MAX_CONSENT_FORM_BYTES {
        return Err(AppError::BadRequest(tr.t("consent.form_too_large").into()));
    }
    let Some(kind) = renkei_domain::files::detect(&data) else {
        return Err(AppError::BadRequest(tr.t("consent.form_wrong_type").into()));
    };
    use sha2::Digest;
    let attachment = renkei_storage::ConsentAttachment {
        consent_id: consent_id.clone(),
        filename: renkei_domain::files::safe_filename(&claimed_name, kind),
        content_type: kind.mime().to_string(),
        sha256: hex::encode(sha2::Sha256::digest(&data)),
        data,
        uploaded_by: viewer.user.id.clone(),
        uploaded_at: now_millis(),
    };
    let audit = viewer.audit("consent.form_upload", Outcome::Success).target("consent", &consent_id).detail(serde_json::json!({ "sha256": attachment.sha256, "bytes": attachment.data.len(), "type": kind.mime() }));
    state
        .store
        .put_consent_attachment(attachment, audit)
        .await?;
    Ok(Redirect::to(&format!("/patients/{person_id}/consent?msg=notice.saved")).into_response())
}

/// Downloads the signed form. Demographics-level access plus care-team membership, audited.
pub async fn consent_form_download(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, consent_id)): Path<(String, String)>,
) -> AppResult<Response> {
    require_team(
        &state,
        &viewer,
        &person_id,
        "page:/patients/{id}/consent/{consent_id}/form",
    )
    .await?;
    let consent = state
        .store
        .get_consent(&consent_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if consent.person_id != person_id {
        return Err(AppError::NotFound);
    }
    let a = state
        .store
        .get_consent_attachment(&consent_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        crate::error::urlencode(&a.filename)
    );
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, a.content_type.clone()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        a.data,
    )
        .into_response())
}
