//! Break-glass (003 ch.4(1) 4.): an emergency physician or ambulance crew opens a patient's
//! emergency summary outside the care team after giving a reason. Access is time-limited,
//! audited as its own action, and every facility of the team gets a notice.
//!
//! The summary (for the care team as well as under break-glass) shows, from the clinical
//! store, active allergies and drug contraindications, current medications with their
//! latest dispensing, active diagnoses, ACP/DNAR wishes (who recorded them and when, the
//! review date) and the latest vital signs — each naming the facility
//! that recorded it and when. The rows are read through the same access decision as the
//! record view (`renkei_core::clinical::person_access` → `scope_of` → `Store::fhir_search`).

use super::patients::{age_on, consent_summary, require_access, today_jst};
use super::record::{AllergyView, CodeView, ConditionView, DispenseView};
use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_core::clinical;
use renkei_domain::audit::Outcome;
use renkei_domain::patient::{may_break_glass, InfoCategory, TeamStatus};
use renkei_domain::{ids, now_millis, FacilityType, Lang};
use renkei_fhir::search::{Criterion, ValueMatch};
use renkei_storage::{BreakGlassEvent, PatientRecord};
use serde::Deserialize;

/// How long a break-glass grant lasts.
pub const BREAK_GLASS_MINUTES: i64 = 60;
/// Dispensing without a shared prescription counts as current medication this long.
const RECENT_DISPENSE_DAYS: i64 = 120;

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
    // The team's members were notified in the same transaction; their badges update now.
    let team: Vec<String> = state
        .store
        .team_members(&person_id)
        .await?
        .into_iter()
        .filter(|m| m.status == renkei_domain::patient::TeamStatus::Active)
        .map(|m| m.facility_id)
        .collect();
    super::notifications::announce_facilities(&state, &team).await;
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
    clinical: ClinicalSummary,
}

/// A prescription in force and what the pharmacy last handed over against it.
pub struct CurrentMedication {
    pub name: String,
    pub codes: Vec<CodeView>,
    pub dosage: String,
    pub days: String,
    pub prescribed: String,
    pub prescriber: String,
    /// The latest dispensing against it: when, and by which pharmacy (empty: none).
    pub dispensed_at: String,
    pub dispensed_by: String,
}

/// The newest value of one vital sign.
pub struct LatestVital {
    pub label: String,
    pub value: String,
    pub unit: String,
    pub class: &'static str,
    pub at: String,
    pub source: String,
}

/// The clinical sections of the summary.
#[derive(Default)]
pub struct ClinicalSummary {
    pub allergies: Vec<AllergyView>,
    pub medications: Vec<CurrentMedication>,
    /// Recent dispensing whose prescription is not in the network (another clinic's).
    pub other_dispenses: Vec<DispenseView>,
    pub diagnoses: Vec<ConditionView>,
    pub vitals: Vec<LatestVital>,
    /// The newest ACP/DNAR record, and how many earlier ones there are.
    pub acp: Option<super::acp::AcpView>,
    pub acp_earlier: usize,
    /// Whether other facilities' rows of each section's category are shared with the
    /// viewer (when not, the section says so rather than "nothing recorded").
    pub allergies_shared: bool,
    pub medications_shared: bool,
    pub diagnoses_shared: bool,
    pub vitals_shared: bool,
    /// Categories of other facilities' data this view leaves out (excluded by the
    /// consent, or outside what break-glass opens).
    pub withheld: Vec<&'static str>,
    /// Only the viewer's own facility's records are shown.
    pub own_only: bool,
    pub truncated: bool,
}

/// Categories that matter for the summary, whose absence the page names.
const SUMMARY_CATEGORIES: [InfoCategory; 4] = [
    InfoCategory::Emergency,
    InfoCategory::Medication,
    InfoCategory::Medical,
    InfoCategory::Care,
];

/// Reads the clinical sections the viewer may see and audits what was shown.
///
/// Break-glass (decision): the categories come from the one rule
/// (`renkei_domain::patient::decide`, through `clinical::person_access`), never from this
/// page. Under break-glass the rule opens only `BREAK_GLASS_CATEGORIES` — demographics,
/// emergency (allergies), medication, medical (diagnoses) — and still removes any of them the
/// consent excludes; the sensitive categories (psychiatric, infectious disease, genetic,
/// reproductive) are never among them, so a psychiatric diagnosis (ICD-10 chapter F, or a
/// `PSY` security label) excluded by the consent stays hidden from an ambulance crew just as
/// from a team member, and a withdrawn consent stops everything (the page is refused before
/// this is read). Vital signs are care records, outside break-glass: their section says so
/// instead of this page widening the rule — opening them in emergencies is a policy change
/// for `BREAK_GLASS_CATEGORIES`, not for one page.
async fn clinical_summary(
    state: &SharedState,
    viewer: &Viewer,
    person: &str,
    via_break_glass: bool,
) -> AppResult<ClinicalSummary> {
    let tr = viewer.tr();
    let lang = viewer.lang();
    let now = now_millis();
    let requester = viewer.requester();
    let Some(access) =
        clinical::person_access(state.store.as_ref(), &requester, person, now).await?
    else {
        return Err(AppError::NotFound);
    };
    let scope = clinical::scope_of(&requester, std::slice::from_ref(&access), false);
    let vital_signs = Criterion {
        param: "category".into(),
        negate: false,
        missing: None,
        any_of: vec![ValueMatch::Token {
            system: Some(super::record::OBSERVATION_CATEGORY.into()),
            code: "vital-signs".into(),
        }],
    };
    let types = vec![
        ("AllergyIntolerance", Vec::new()),
        ("Condition", Vec::new()),
        ("MedicationRequest", Vec::new()),
        ("MedicationDispense", Vec::new()),
        ("Observation", vec![vital_signs]),
        ("Consent", vec![super::acp::adr_criterion()]),
    ];
    let (rows, truncated) = super::record::person_rows(state, person, &scope, &types).await?;
    let categories: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.category.as_str()).collect();
    let sources: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.source_facility_id.as_deref())
        .collect();
    // What was shown, beside the access decision `require_access` recorded for the page.
    let mut entry = viewer
        .audit("patient.read", Outcome::Success)
        .detail(serde_json::json!({
            "resource": "page:/patients/{id}/emergency#clinical",
            "basis": if via_break_glass { "break_glass" } else if access.own_registration { "own_registration" } else { "care_team" },
            "shared": access.shared.iter().map(|c| c.code()).collect::<Vec<_>>(),
            "categories": categories,
            "sources": sources,
            "rows": rows.len(),
        }));
    entry.patient_id = Some(person.to_string());
    state.store.append_audit(entry).await?;

    let names = super::record::facility_names(state, &rows, tr).await?;
    let acp_records = super::acp::records_of(&rows);
    let acp = acp_records
        .first()
        .map(|(a, row)| super::acp::view(tr, lang, a, row, &names, today_jst()));
    let s = super::record::build_sections(tr, person, &rows, &names);
    let recent = now - RECENT_DISPENSE_DAYS * 86_400_000;
    let mut other_dispenses: Vec<DispenseView> = Vec::new();
    for d in s.dispenses {
        if d.sort >= recent && !other_dispenses.iter().any(|o| o.name == d.name) {
            other_dispenses.push(d);
        }
    }
    let medications = s
        .medications
        .into_iter()
        .filter(|m| m.active)
        .map(|m| CurrentMedication {
            dispensed_at: m
                .dispenses
                .first()
                .map(|d| d.handed_over.clone())
                .unwrap_or_default(),
            dispensed_by: m
                .dispenses
                .first()
                .map(|d| d.source.clone())
                .unwrap_or_default(),
            name: m.name,
            codes: m.codes,
            dosage: m.dosage,
            days: m.days,
            prescribed: m.authored.chars().take(10).collect(),
            prescriber: m.source,
        })
        .collect();
    // The newest value of each vital sign: columns run newest first.
    let vitals = s
        .vitals
        .rows
        .iter()
        .filter_map(|row| {
            let (i, cell) = row.cells.iter().enumerate().find(|(_, c)| !c.is_empty())?;
            let v = &cell[0];
            Some(LatestVital {
                label: row.label.clone(),
                value: format!("{}{}", v.text, v.flag),
                unit: row.unit.clone(),
                class: v.class,
                at: s.vitals.columns.get(i).cloned().unwrap_or_default(),
                source: if v.source.is_empty() {
                    row.sources.clone()
                } else {
                    v.source.clone()
                },
            })
        })
        .collect();
    let shared = |c: InfoCategory| access.shared.contains(&c);
    let configured = renkei_core::patients::excludable_categories(state.store.as_ref()).await?;
    let mut withheld_categories: Vec<InfoCategory> = Vec::new();
    // The sensitive defaults too: a consent may exclude one the secretariat later removed
    // from the list, and the reader should still learn it is withheld.
    for c in SUMMARY_CATEGORIES
        .into_iter()
        .chain(configured)
        .chain(InfoCategory::EXCLUDABLE)
    {
        if !shared(c) && !withheld_categories.contains(&c) {
            withheld_categories.push(c);
        }
    }
    let withheld = withheld_categories
        .into_iter()
        .map(|c| c.label(lang))
        .collect();
    Ok(ClinicalSummary {
        allergies: s.allergies.into_iter().filter(|a| a.active).collect(),
        medications,
        other_dispenses,
        diagnoses: s.conditions.into_iter().filter(|c| c.active).collect(),
        vitals,
        acp,
        acp_earlier: acp_records.len().saturating_sub(1),
        allergies_shared: shared(InfoCategory::Emergency),
        medications_shared: shared(InfoCategory::Medication),
        diagnoses_shared: shared(InfoCategory::Medical),
        vitals_shared: shared(InfoCategory::Care),
        withheld,
        own_only: access.shared.is_empty(),
        truncated,
    })
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
    let clinical = clinical_summary(&state, &viewer, &person, via_break_glass).await?;
    let page = SummaryPage {
        c: Chrome::for_viewer(&state, &viewer, "emergency.summary_title"),
        clinical,
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
