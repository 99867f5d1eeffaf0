//! Break-glass (003 ch.4(1) 4.): an emergency physician or ambulance crew opens a patient's
//! emergency summary outside the care team after giving a reason. Access is time-limited,
//! audited as its own action, and every facility of the team gets a notice.

use super::patients::{age_on, consent_summary, require_access, today_jst};
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::Outcome;
use renkei_domain::patient::{may_break_glass, InfoCategory, TeamStatus};
use renkei_domain::{ids, now_millis, FacilityType, Lang};
use renkei_storage::{BreakGlassEvent, PatientRecord};
use serde::Deserialize;

/// How long a break-glass grant lasts.
pub const BREAK_GLASS_MINUTES: i64 = 60;

#[derive(Template)]
#[template(path = "emergency_search.html")]
struct SearchPage {
    c: Chrome,
    kana: String,
    birth_date: String,
    reason: String,
    error: Option<String>,
}

pub async fn search_page(
    State(state): State<SharedState>,
    viewer: Viewer,
) -> AppResult<Html<String>> {
    if !may_break_glass(&viewer.requester()) {
        return Err(AppError::Forbidden);
    }
    render(&SearchPage {
        c: Chrome::for_viewer(&state, &viewer, "emergency.title"),
        kana: String::new(),
        birth_date: String::new(),
        reason: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct BreakGlassForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kana: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    reason: String,
}

pub async fn break_glass(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<BreakGlassForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let requester = viewer.requester();
    if !may_break_glass(&requester) {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let again = |error: &str| -> AppResult<Response> {
        let page = SearchPage {
            c: Chrome::for_viewer(&state, &viewer, "emergency.title"),
            kana: form.kana.clone(),
            birth_date: form.birth_date.clone(),
            reason: form.reason.clone(),
            error: Some(error.to_string()),
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let reason = match renkei_domain::text::clean("reason", &form.reason, 500, true) {
        Ok(r) if r.chars().count() >= 4 => r,
        _ => return again(tr.t("emergency.reason_required")),
    };
    let Ok(kana) = renkei_domain::text::kana("kana", &form.kana, 80, true) else {
        return again(tr.t("emergency.kana_required"));
    };
    let Ok(birth) = renkei_core::patients::parse_birth_date(&form.birth_date, today_jst()) else {
        return again(tr.t("emergency.birth_required"));
    };
    let birth = birth.format("%Y-%m-%d").to_string();
    let matches = state
        .store
        .find_persons_exact(&renkei_domain::text::search_fold(&kana), &birth, 5)
        .await?;
    let facility_id = requester.facility_id.clone().unwrap_or_default();
    // The search is audited whatever it finds.
    state
        .store
        .append_audit(viewer.audit("break_glass.search", Outcome::Success).detail(serde_json::json!({ "kana": kana, "birth_date": birth, "reason": reason, "matches": matches.len() })))
        .await?;
    let person_id = match matches.as_slice() {
        [one] => one.person_id.clone(),
        [] => return again(tr.t("emergency.not_found")),
        _ => return again(tr.t("emergency.ambiguous")),
    };
    let now = now_millis();
    let event = BreakGlassEvent {
        id: ids::new_id(),
        person_id: person_id.clone(),
        user_id: viewer.user.id.clone(),
        facility_id,
        reason: reason.clone(),
        started_at: now,
        expires_at: now + BREAK_GLASS_MINUTES * 60_000,
    };
    let audit = viewer
        .audit("break_glass.open", Outcome::Success)
        .target("break_glass", &event.id)
        .detail(serde_json::json!({ "reason": reason, "minutes": BREAK_GLASS_MINUTES }));
    state.store.start_break_glass(event, audit).await?;
    Ok(Redirect::to(&format!("/patients/{person_id}/emergency")).into_response())
}

pub struct Contact {
    pub role: String,
    pub facility: String,
    pub tel: String,
}

#[derive(Template)]
#[template(path = "emergency_summary.html")]
struct SummaryPage {
    c: Chrome,
    record: PatientRecord,
    age: i64,
    sex: &'static str,
    care_level: &'static str,
    contacts: Vec<Contact>,
    consent_note: String,
    excluded: Vec<&'static str>,
    via_break_glass: bool,
    expires: String,
    generated: String,
}

fn contact_role(t: FacilityType, lang: Lang) -> &'static str {
    match (t, lang) {
        (FacilityType::CareManagementOffice | FacilityType::CommunityCareCenter, Lang::Ja) => {
            "担当ケアマネジャー（事業所）"
        }
        (FacilityType::CareManagementOffice | FacilityType::CommunityCareCenter, Lang::En) => {
            "Care manager (office)"
        }
        (FacilityType::HomeVisitClinic | FacilityType::Clinic, Lang::Ja) => "かかりつけ医・在宅医",
        (FacilityType::HomeVisitClinic | FacilityType::Clinic, Lang::En) => "Home doctor",
        (FacilityType::HomeNursingStation, Lang::Ja) => "訪問看護",
        (FacilityType::HomeNursingStation, Lang::En) => "Home-visit nursing",
        (FacilityType::Pharmacy, Lang::Ja) => "かかりつけ薬局",
        (FacilityType::Pharmacy, Lang::En) => "Pharmacy",
        (FacilityType::Hospital, Lang::Ja) => "病院",
        (FacilityType::Hospital, Lang::En) => "Hospital",
        (_, Lang::Ja) => "ケアチーム",
        (_, Lang::En) => "Care team",
    }
}

pub async fn summary(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
) -> AppResult<Response> {
    let person = state
        .store
        .resolve_person(&person_id)
        .await?
        .unwrap_or(person_id.clone());
    let decision = require_access(
        &state,
        &viewer,
        &person,
        InfoCategory::Emergency,
        "page:/patients/{id}/emergency",
    )
    .await?;
    let lang = viewer.lang();
    let records = state.store.person_records(&person).await?;
    let mine = viewer.facility().map(|f| f.id.clone());
    // Break-glass and shared access show the earliest registration; a facility sees its own.
    let Some(record) = records
        .iter()
        .find(|r| Some(&r.facility_id) == mine.as_ref())
        .or(records.first())
        .cloned()
    else {
        return Err(AppError::NotFound);
    };
    let mut contacts = Vec::new();
    for m in state.store.team_members(&person).await? {
        if m.status != TeamStatus::Active {
            continue;
        }
        if let Some(f) = state.store.get_facility(&m.facility_id).await? {
            contacts.push(Contact {
                role: contact_role(f.facility_type, lang).to_string(),
                tel: f.tel.clone(),
                facility: f.name,
            });
        }
    }
    let consent = state.store.current_consent(&person).await?;
    let names = std::collections::HashMap::new();
    let (consent_note, excluded) =
        match consent.map(|c| consent_summary(c, lang, viewer.tr(), &names)) {
            Some(s) if s.effective => (s.scope.clone(), s.excluded.clone()),
            Some(_) => (viewer.tr().t("consent.withdrawn").to_string(), vec![]),
            None => (viewer.tr().t("consent.none").to_string(), vec![]),
        };
    let via_break_glass = matches!(
        decision,
        renkei_domain::patient::Decision::Permit {
            basis: renkei_domain::patient::Basis::BreakGlass
        }
    );
    let expires = if via_break_glass {
        state
            .store
            .active_break_glass(&viewer.user.id, &person, now_millis())
            .await?
            .map(|e| jst(e.expires_at))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let page = SummaryPage {
        c: Chrome::for_viewer(&state, &viewer, "emergency.summary_title"),
        age: age_on(&record.birth_date, today_jst()),
        sex: record.sex.label(lang),
        care_level: record.care_level.label(lang),
        record,
        contacts,
        consent_note,
        excluded,
        via_break_glass,
        expires,
        generated: jst(now_millis()),
    };
    Ok(render(&page)?.into_response())
}
