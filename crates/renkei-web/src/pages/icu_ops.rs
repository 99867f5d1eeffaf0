//! Tele-ICU operations around the census: the alert list with acknowledge and snooze
//! (`/icu/alerts`), the review of quarantined monitor messages (`/icu/quarantine`),
//! configuration without code — units, beds, code-mapping tables (`/icu/setup`) — and
//! the printable handover (`/icu/handover`).
//!
//! Every page that shows patients writes an audit record naming the stays shown; every
//! change carries its own. Configuration changes are announced on
//! [`icu_service::CONFIG_TOPIC`] so ingest writers and census screens on every node reload.

use super::icu_bed::{form_text, icu_day, text_ok, MAX_REASON};
use super::icu_census::require_view;
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
use renkei_core::icu::{self as icu_service, IcuRole, IcuView};
use renkei_domain::audit::Outcome;
use renkei_domain::{ids, Millis};
use renkei_storage::icu::{IcuAlert, IcuBed, IcuCodeMapRow, IcuStay, IcuUnit};
use renkei_storage::{FacilityQuery, PatientRecord, Store, StoreError};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

type Pairs = Vec<(String, String)>;

fn field<'a>(form: &'a Pairs, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// Where each watched bed is, and the stays (open or not) the viewer may see by id.
struct Places {
    beds: HashMap<String, IcuBed>,
    units: HashMap<String, IcuUnit>,
    facilities: HashMap<String, String>,
}

impl Places {
    async fn load(store: &dyn Store, view: &IcuView) -> AppResult<Places> {
        let units: HashMap<String, IcuUnit> = view
            .units
            .iter()
            .map(|u| (u.id.clone(), u.clone()))
            .collect();
        let beds = store
            .icu()
            .icu_beds()
            .await?
            .into_iter()
            .filter(|b| units.contains_key(&b.unit_id))
            .map(|b| (b.id.clone(), b))
            .collect();
        let mut facilities = HashMap::new();
        for u in units.values() {
            if !facilities.contains_key(&u.facility_id) {
                let name = store
                    .get_facility(&u.facility_id)
                    .await?
                    .map(|f| f.name)
                    .unwrap_or_default();
                facilities.insert(u.facility_id.clone(), name);
            }
        }
        Ok(Places {
            beds,
            units,
            facilities,
        })
    }

    /// (facility, colour, unit, bed) of a stay's bed, if watched.
    fn of(&self, stay: &IcuStay) -> Option<(String, String, String, String)> {
        let bed = self.beds.get(&stay.bed_id)?;
        let unit = self.units.get(&bed.unit_id)?;
        Some((
            self.facilities
                .get(&unit.facility_id)
                .cloned()
                .unwrap_or_default(),
            unit.colour.clone(),
            unit.name.clone(),
            bed.label.clone(),
        ))
    }
}

async fn stay_cached(
    store: &dyn Store,
    cache: &mut HashMap<String, Option<(IcuStay, Option<PatientRecord>)>>,
    id: &str,
) -> AppResult<Option<(IcuStay, Option<PatientRecord>)>> {
    if let Some(hit) = cache.get(id) {
        return Ok(hit.clone());
    }
    let found = match store.icu().icu_stay(id).await? {
        Some(stay) => {
            let record = store.get_patient_record(&stay.record_id).await?;
            Some((stay, record))
        }
        None => None,
    };
    cache.insert(id.to_string(), found.clone());
    Ok(found)
}

fn audit_shown(
    viewer: &Viewer,
    action: &str,
    view: &IcuView,
    stays: &[&IcuStay],
) -> renkei_domain::audit::AuditEntry {
    viewer
        .audit(action, Outcome::Success)
        .detail(serde_json::json!({
            "role": view.role.code(),
            "stays": stays.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            "persons": stays.iter().map(|s| s.person_id.as_str()).collect::<Vec<_>>(),
        }))
}

// --- alerts ------------------------------------------------------------------------------

pub struct AlertRow {
    pub id: String,
    pub stay_id: String,
    pub colour: String,
    pub place: String,
    pub patient: String,
    pub severity: String,
    pub severity_label: &'static str,
    pub text: String,
    pub raised: String,
    pub acked: String,
    pub snoozed: String,
    pub cleared: String,
    pub open: bool,
}

#[derive(Template)]
#[template(path = "icu_alerts.html")]
struct AlertsPage {
    c: Chrome,
    open: Vec<AlertRow>,
    log: Vec<AlertRow>,
    errors: Vec<String>,
}

/// Whether an alert concerns the viewer's units, and its row.
async fn alert_row(
    tr: Tr,
    store: &dyn Store,
    view: &IcuView,
    places: &Places,
    cache: &mut HashMap<String, Option<(IcuStay, Option<PatientRecord>)>>,
    a: &IcuAlert,
    now: Millis,
) -> AppResult<Option<(AlertRow, Option<IcuStay>)>> {
    if !view.role.hears(&a.audience) {
        return Ok(None);
    }
    let mut row = AlertRow {
        id: a.id.clone(),
        stay_id: String::new(),
        colour: String::new(),
        place: String::new(),
        patient: String::new(),
        severity: a.severity.clone(),
        severity_label: tr.t(match a.severity.as_str() {
            "critical" => "icu.severity.critical",
            "warning" => "icu.severity.warning",
            _ => "icu.severity.info",
        }),
        text: a.text.clone(),
        raised: jst(a.raised_at),
        acked: match (&a.acked_at, &a.ack_reason) {
            (Some(t), r) => format!("{} {}", jst(*t), r.as_deref().unwrap_or("")),
            _ => String::new(),
        },
        snoozed: a
            .snoozed_until
            .filter(|&t| t > now)
            .map(jst)
            .unwrap_or_default(),
        cleared: a.cleared_at.map(jst).unwrap_or_default(),
        open: a.cleared_at.is_none(),
    };
    let mut shown = None;
    match &a.stay_id {
        Some(stay_id) => {
            let Some((stay, record)) = stay_cached(store, cache, stay_id).await? else {
                return Ok(None);
            };
            let Some((facility, colour, unit, bed)) = places.of(&stay) else {
                return Ok(None);
            };
            row.stay_id = stay.id.clone();
            row.colour = colour;
            row.place = format!("{facility} {unit} {bed}");
            row.patient = record
                .map(|r| format!("{} ({})", r.full_name(), r.full_kana()))
                .unwrap_or_default();
            shown = Some(stay);
        }
        None => {
            let Some(unit) = view.units.iter().find(|u| u.facility_id == a.facility_id) else {
                return Ok(None);
            };
            row.colour = unit.colour.clone();
            row.place = places
                .facilities
                .get(&a.facility_id)
                .cloned()
                .unwrap_or_default();
        }
    }
    Ok(Some((row, shown)))
}

async fn alerts_page(
    state: &SharedState,
    viewer: &Viewer,
    view: &IcuView,
    notice: Option<&str>,
    errors: Vec<String>,
) -> AppResult<AlertsPage> {
    let store = state.store.as_ref();
    let places = Places::load(store, view).await?;
    let now = renkei_domain::now_millis();
    let mut cache = HashMap::new();
    let mut shown: Vec<IcuStay> = Vec::new();
    let mut open = Vec::new();
    for a in store.icu().icu_open_alerts().await? {
        if let Some((row, stay)) =
            alert_row(viewer.tr(), store, view, &places, &mut cache, &a, now).await?
        {
            open.push(row);
            shown.extend(stay);
        }
    }
    let mut log = Vec::new();
    for a in store.icu().icu_alert_log(now - 24 * 3_600_000, 500).await? {
        if let Some((row, stay)) =
            alert_row(viewer.tr(), store, view, &places, &mut cache, &a, now).await?
        {
            log.push(row);
            shown.extend(stay);
        }
    }
    let mut seen = HashSet::new();
    shown.retain(|s| seen.insert(s.id.clone()));
    let refs: Vec<&IcuStay> = shown.iter().collect();
    store
        .append_audit(audit_shown(viewer, "icu.alerts.view", view, &refs))
        .await?;
    let mut c = Chrome::for_viewer(state, viewer, "icu.alerts.title").with_notice(notice);
    c.narrow = false;
    Ok(AlertsPage {
        c,
        open,
        log,
        errors,
    })
}

/// `GET /icu/alerts`
pub async fn alerts(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let view = require_view(&state, &viewer).await?;
    let page = alerts_page(&state, &viewer, &view, q.notice.as_deref(), Vec::new()).await?;
    Ok(render(&page)?.into_response())
}

pub const MAX_SNOOZE_MINUTES: i64 = 240;

/// `POST /icu/alerts/{id}/ack` — acknowledge, optionally snoozing for some minutes; a
/// reason is required either way.
pub async fn ack(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let view = require_view(&state, &viewer).await?;
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let places = Places::load(store, &view).await?;
    let now = renkei_domain::now_millis();
    let Some(alert) = store.icu().icu_get_alert(&id).await? else {
        return Err(AppError::NotFound);
    };
    let mut cache = HashMap::new();
    let Some((_, stay)) = alert_row(tr, store, &view, &places, &mut cache, &alert, now).await?
    else {
        return Err(AppError::NotFound);
    };
    let mut errors = Vec::new();
    let reason = form_text(
        tr,
        &mut errors,
        field(&form, "reason"),
        "icu.alerts.reason",
        Some("icu.alerts.reason_required"),
        MAX_REASON,
    );
    let snooze = field(&form, "snooze_minutes").trim();
    let snoozed_until = if snooze.is_empty() {
        None
    } else {
        match snooze.parse::<i64>() {
            Ok(m) if (1..=MAX_SNOOZE_MINUTES).contains(&m) => Some(now + m * 60_000),
            _ => {
                errors.push(tr.t("icu.alerts.bad_snooze").to_string());
                None
            }
        }
    };
    if alert.cleared_at.is_some() {
        errors.push(tr.t("icu.alerts.closed").to_string());
    }
    if !errors.is_empty() {
        let page = alerts_page(&state, &viewer, &view, None, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut audit = viewer
        .audit(
            if snoozed_until.is_some() {
                "icu.alert.snooze"
            } else {
                "icu.alert.ack"
            },
            Outcome::Success,
        )
        .target("icu_alert", &alert.id)
        .detail(serde_json::json!({ "rule": alert.rule, "stay": alert.stay_id }));
    audit.patient_id = stay.as_ref().map(|s| s.person_id.clone());
    match store
        .icu()
        .icu_ack_alert(
            &alert.id,
            &viewer.user.id,
            &reason,
            snoozed_until,
            now,
            audit,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::InvalidState(_)) => {
            let errors = vec![tr.t("icu.alerts.closed").to_string()];
            let page = alerts_page(&state, &viewer, &view, None, errors).await?;
            return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(s) = &stay {
        icu_service::announce(store, std::iter::once(s.id.as_str())).await;
    }
    Ok(Redirect::to("/icu/alerts?notice=notice.icu_saved").into_response())
}

// --- quarantine ------------------------------------------------------------------------------

pub struct QuarantineRow {
    pub id: String,
    pub received: String,
    pub facility: String,
    pub control_id: String,
    pub bed_key: String,
    pub patient_key: String,
    pub reason: String,
    pub message: String,
    pub resolved: String,
    pub resolution: String,
}

#[derive(Template)]
#[template(path = "icu_quarantine.html")]
struct QuarantinePage {
    c: Chrome,
    open: Vec<QuarantineRow>,
    resolved: Vec<QuarantineRow>,
    errors: Vec<String>,
}

/// Facility admins and physicians of a facility that sends or watches: the facility whose
/// messages (or whose centre's) they may review.
fn quarantine_reviewer(viewer: &Viewer) -> AppResult<String> {
    let facility = viewer.facility().ok_or(AppError::Forbidden)?;
    let physician = IcuRole::of(viewer.user.profession) == Some(IcuRole::Physician);
    if physician || viewer.admin_facility().is_some() {
        Ok(facility.id.clone())
    } else {
        Err(AppError::Forbidden)
    }
}

async fn quarantine_page(
    state: &SharedState,
    viewer: &Viewer,
    facility_id: &str,
    notice: Option<&str>,
    errors: Vec<String>,
) -> AppResult<QuarantinePage> {
    let store = state.store.as_ref();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    // Every open message (up to 500), then the most recent resolved ones.
    let mut held = store.icu().icu_quarantine(true, 500).await?;
    held.extend(
        store
            .icu()
            .icu_quarantine(false, 200)
            .await?
            .into_iter()
            .filter(|q| q.resolved_at.is_some())
            .take(50),
    );
    for q in held {
        if q.facility_id != facility_id && q.centre_facility_id.as_deref() != Some(facility_id) {
            continue;
        }
        if !names.contains_key(&q.facility_id) {
            let name = store
                .get_facility(&q.facility_id)
                .await?
                .map(|f| f.name)
                .unwrap_or_default();
            names.insert(q.facility_id.clone(), name);
        }
        rows.push(QuarantineRow {
            id: q.id.clone(),
            received: jst(q.received_at),
            facility: names.get(&q.facility_id).cloned().unwrap_or_default(),
            control_id: q.control_id.clone(),
            bed_key: q.bed_key.clone(),
            patient_key: q.patient_key.clone(),
            reason: q.reason.clone(),
            message: q.message.replace('\r', "\n"),
            resolved: q.resolved_at.map(jst).unwrap_or_default(),
            resolution: q.resolution.clone().unwrap_or_default(),
        });
    }
    // Raw messages carry patient identifiers: the review is a read of them.
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    store
        .append_audit(
            viewer
                .audit("icu.quarantine.view", Outcome::Success)
                .detail(serde_json::json!({ "messages": ids })),
        )
        .await?;
    let (resolved, open): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| !r.resolved.is_empty());
    let mut c = Chrome::for_viewer(state, viewer, "icu.quarantine.title").with_notice(notice);
    c.narrow = false;
    Ok(QuarantinePage {
        c,
        open,
        resolved,
        errors,
    })
}

/// `GET /icu/quarantine`
pub async fn quarantine(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let facility_id = quarantine_reviewer(&viewer)?;
    let page = quarantine_page(
        &state,
        &viewer,
        &facility_id,
        q.notice.as_deref(),
        Vec::new(),
    )
    .await?;
    Ok(render(&page)?.into_response())
}

/// `POST /icu/quarantine/{id}/resolve` — discard, or note that the data were attached
/// after admitting the patient; a note is required.
pub async fn resolve(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let facility_id = quarantine_reviewer(&viewer)?;
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let found = store
        .icu()
        .icu_quarantine(false, 1_000)
        .await?
        .into_iter()
        .find(|q| {
            q.id == id
                && (q.facility_id == facility_id
                    || q.centre_facility_id.as_deref() == Some(facility_id.as_str()))
        });
    let Some(q) = found else {
        return Err(AppError::NotFound);
    };
    let mut errors = Vec::new();
    let action = field(&form, "action");
    if !["discard", "attach"].contains(&action) {
        errors.push(tr.t("icu.quarantine.action_required").to_string());
    }
    let note = form_text(
        tr,
        &mut errors,
        field(&form, "note"),
        "icu.quarantine.note",
        Some("icu.quarantine.note_required"),
        MAX_REASON,
    );
    if q.resolved_at.is_some() {
        errors.push(tr.t("icu.quarantine.resolved_already").to_string());
    }
    let attach = if action == "attach" && errors.is_empty() {
        match attach_target(store, &facility_id, &q).await? {
            Ok(found) => Some(found),
            Err(key) => {
                errors.push(tr.t(key).to_string());
                None
            }
        }
    } else {
        None
    };
    if !errors.is_empty() {
        let page = quarantine_page(&state, &viewer, &facility_id, None, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut resolution = format!("{action}: {note}");
    if let Some((stay, values)) = attach {
        resolution = format!(
            "{action} ({}, {} values): {note}",
            stay.local_id,
            values.len()
        );
        let mut audit = viewer
            .audit("icu.quarantine.attach", Outcome::Success)
            .target("icu_stay", &stay.id)
            .detail(serde_json::json!({ "message": q.id, "control_id": q.control_id, "values": values.len() }));
        audit.patient_id = Some(stay.person_id.clone());
        store
            .icu()
            .icu_record_values(values, Default::default(), audit)
            .await?;
        icu_service::announce(store, std::iter::once(stay.id.as_str())).await;
    }
    let audit = viewer
        .audit("icu.quarantine.resolve", Outcome::Success)
        .target("icu_quarantine", &q.id)
        .detail(serde_json::json!({ "action": action, "control_id": q.control_id }));
    match store
        .icu()
        .icu_resolve_quarantine(
            &q.id,
            &viewer.user.id,
            &resolution,
            renkei_domain::now_millis(),
            audit,
        )
        .await
    {
        Ok(()) => {
            // The alert the quarantine raised is answered by the resolution.
            let now = renkei_domain::now_millis();
            let rule = format!("quarantine:{}", q.control_id);
            for a in store.icu().icu_open_alerts().await? {
                if a.rule == rule && a.facility_id == q.facility_id && a.acked_at.is_none() {
                    let audit = viewer
                        .audit("icu.alert.ack", Outcome::Success)
                        .target("icu_alert", &a.id)
                        .detail(serde_json::json!({ "rule": a.rule }));
                    let _ = store
                        .icu()
                        .icu_ack_alert(&a.id, &viewer.user.id, &resolution, None, now, audit)
                        .await;
                }
            }
            Ok(Redirect::to("/icu/quarantine?notice=notice.icu_saved").into_response())
        }
        Err(StoreError::InvalidState(_)) => {
            let errors = vec![tr.t("icu.quarantine.resolved_already").to_string()];
            let page = quarantine_page(&state, &viewer, &facility_id, None, errors).await?;
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The open stay a quarantined message can be attached to now, with its readings: the
/// patient admitted since to the bed the message named, if the viewer's facility runs or
/// watches the unit and the message's patient IDs (if any) name that patient. Otherwise the
/// key of the reason why not.
async fn attach_target(
    store: &dyn Store,
    facility_id: &str,
    q: &renkei_storage::icu::IcuQuarantined,
) -> AppResult<Result<(IcuStay, Vec<renkei_storage::icu::IcuValue>), &'static str>> {
    let icu = store.icu();
    let Some(bed) = icu
        .icu_beds()
        .await?
        .into_iter()
        .find(|b| b.facility_id == q.facility_id && b.monitor_key == q.bed_key)
    else {
        return Ok(Err("icu.quarantine.no_bed"));
    };
    let watched = icu
        .icu_units()
        .await?
        .into_iter()
        .any(|u| u.id == bed.unit_id && icu_service::may_watch(facility_id, &u));
    if !watched {
        return Ok(Err("icu.quarantine.no_bed"));
    }
    let Some(stay) = icu
        .icu_open_stays()
        .await?
        .into_iter()
        .find(|s| s.bed_id == bed.id)
    else {
        return Ok(Err("icu.quarantine.no_stay"));
    };
    if !q.patient_key.is_empty() && !q.patient_key.split('/').any(|p| p == stay.local_id) {
        return Ok(Err("icu.quarantine.patient_mismatch"));
    }
    let catalogue = super::icu_bed::catalogue();
    let table = renkei_core::icu::stored_code_table(store).await?;
    let codes = renkei_icu::CodeMap::defaults()
        .with_csv(&table, catalogue)
        .unwrap_or_else(|_| renkei_icu::CodeMap::defaults());
    let readings = match renkei_icu::parse_text(&q.message, catalogue, &codes) {
        Ok(renkei_icu::Inbound::Observations(m)) => m.readings,
        _ => return Ok(Err("icu.quarantine.unparsable")),
    };
    if readings.is_empty() {
        return Ok(Err("icu.quarantine.no_readings"));
    }
    let values = readings
        .into_iter()
        .map(|r| renkei_storage::icu::IcuValue {
            stay_id: stay.id.clone(),
            item: r.item,
            at: r.at,
            value: r.value,
            source: "monitor".into(),
        })
        .collect();
    Ok(Ok((stay, values)))
}

// --- setup ------------------------------------------------------------------------------------

pub const UNIT_KINDS: &[&str] = &["icu", "hcu", "gicu", "ghcu", "picu", "nicu", "scu", "other"];

pub struct UnitRow {
    pub unit: IcuUnit,
    pub kind: &'static str,
    pub facility: String,
    pub centre: String,
    pub beds: Vec<IcuBed>,
}

#[derive(Template)]
#[template(path = "icu_setup.html")]
struct SetupPage {
    c: Chrome,
    facility_id: String,
    units: Vec<UnitRow>,
    facilities: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    code_rows: Vec<IcuCodeMapRow>,
    code_total: usize,
    errors: Vec<String>,
}

/// The facility the viewer administers (the only way into the setup).
fn setup_admin(viewer: &Viewer) -> AppResult<String> {
    Ok(viewer.require_facility_admin()?.id.clone())
}

fn manages(facility_id: &str, unit: &IcuUnit) -> bool {
    unit.facility_id == facility_id || unit.centre_facility_id == facility_id
}

async fn setup_page(
    state: &SharedState,
    viewer: &Viewer,
    facility_id: &str,
    notice: Option<&str>,
    errors: Vec<String>,
) -> AppResult<SetupPage> {
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let facilities: Vec<(String, String)> = store
        .search_facilities(&FacilityQuery {
            status: Some(renkei_domain::FacilityStatus::Active),
            category: Some(renkei_domain::FacilityCategory::Medical),
            limit: 1_000,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .map(|f| (f.id, f.name))
        .collect();
    let name_of = |id: &str| {
        facilities
            .iter()
            .find(|(f, _)| f == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let beds = store.icu().icu_beds().await?;
    let units = store
        .icu()
        .icu_units()
        .await?
        .into_iter()
        .filter(|u| manages(facility_id, u))
        .map(|u| UnitRow {
            kind: if UNIT_KINDS.contains(&u.kind.as_str()) {
                tr.t(&format!("icu.kind.{}", u.kind))
            } else {
                tr.t("icu.kind.other")
            },
            facility: name_of(&u.facility_id),
            centre: name_of(&u.centre_facility_id),
            beds: beds.iter().filter(|b| b.unit_id == u.id).cloned().collect(),
            unit: u,
        })
        .collect();
    let all_codes = store.icu().icu_code_maps().await?;
    let code_total = all_codes.len();
    let mut c = Chrome::for_viewer(state, viewer, "icu.setup.title").with_notice(notice);
    c.narrow = false;
    Ok(SetupPage {
        c,
        facility_id: facility_id.to_string(),
        units,
        facilities,
        kinds: UNIT_KINDS
            .iter()
            .map(|&k| (k, tr.t(&format!("icu.kind.{k}"))))
            .collect(),
        code_rows: all_codes.into_iter().take(500).collect(),
        code_total,
        errors,
    })
}

/// `GET /icu/setup`
pub async fn setup(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let facility_id = setup_admin(&viewer)?;
    let page = setup_page(
        &state,
        &viewer,
        &facility_id,
        q.notice.as_deref(),
        Vec::new(),
    )
    .await?;
    Ok(render(&page)?.into_response())
}

async fn setup_refused(
    state: &SharedState,
    viewer: &Viewer,
    facility_id: &str,
    errors: Vec<String>,
) -> AppResult<Response> {
    let page = setup_page(state, viewer, facility_id, None, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

async fn config_changed(store: &dyn Store, what: &str) {
    let _ = store.publish_event(icu_service::CONFIG_TOPIC, what).await;
}

fn setup_saved() -> Response {
    Redirect::to("/icu/setup?notice=notice.icu_saved").into_response()
}

fn is_code(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn is_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn plain_text(tr: Tr, errors: &mut Vec<String>, key: &str, value: &str, max: usize) {
    if value.is_empty() {
        errors.push(format!("{}: {}", tr.t(key), tr.t("icu.setup.required")));
    } else if !text_ok(value, max) || value.contains('\n') {
        errors.push(format!("{}: {}", tr.t(key), tr.t("icu.admit.too_long")));
    }
}

/// `POST /icu/setup/units` — creates a unit, or changes one (`id` given).
pub async fn save_unit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let facility_id = setup_admin(&viewer)?;
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let id = field(&form, "id").trim();
    let existing = if id.is_empty() {
        None
    } else {
        let found = store
            .icu()
            .icu_units()
            .await?
            .into_iter()
            .find(|u| u.id == id && manages(&facility_id, u));
        if found.is_none() {
            return Err(AppError::NotFound);
        }
        found
    };
    let code = field(&form, "code").trim().to_string();
    if !is_code(&code, 16) {
        errors.push(tr.t("icu.setup.bad_code").to_string());
    }
    let name = field(&form, "name").trim().to_string();
    plain_text(tr, &mut errors, "icu.setup.unit_name", &name, 100);
    let kind = field(&form, "kind").trim().to_string();
    if !UNIT_KINDS.contains(&kind.as_str()) {
        errors.push(tr.t("icu.setup.bad_kind").to_string());
    }
    let unit_facility = field(&form, "facility_id").trim().to_string();
    let centre = field(&form, "centre_facility_id").trim().to_string();
    for f in [&unit_facility, &centre] {
        let ok = match store.get_facility(f).await? {
            Some(fac) => {
                fac.status == renkei_domain::FacilityStatus::Active
                    && fac.facility_type.category() == renkei_domain::FacilityCategory::Medical
            }
            None => false,
        };
        if !ok {
            errors.push(tr.t("icu.setup.bad_facility").to_string());
            break;
        }
    }
    if unit_facility != facility_id && centre != facility_id {
        errors.push(tr.t("icu.setup.not_yours").to_string());
    }
    let colour = match field(&form, "colour").trim() {
        "" => "#1f6fb4".to_string(),
        c => c.to_string(),
    };
    if !is_colour(&colour) {
        errors.push(tr.t("icu.setup.bad_colour").to_string());
    }
    let sampling = match field(&form, "sampling_seconds").trim() {
        "" => Some(60),
        s => s.parse::<i64>().ok().filter(|v| (1..=3_600).contains(v)),
    };
    if sampling.is_none() {
        errors.push(tr.t("icu.setup.bad_sampling").to_string());
    }
    let deactivating = existing.is_some() && field(&form, "active") != "1";
    if let (Some(u), true) = (&existing, deactivating) {
        let beds: HashSet<String> = store
            .icu()
            .icu_beds()
            .await?
            .into_iter()
            .filter(|b| b.unit_id == u.id)
            .map(|b| b.id)
            .collect();
        let occupied = store
            .icu()
            .icu_open_stays()
            .await?
            .iter()
            .any(|s| beds.contains(&s.bed_id));
        if occupied {
            errors.push(tr.t("icu.setup.unit_occupied").to_string());
        }
    }
    if !errors.is_empty() {
        return setup_refused(&state, &viewer, &facility_id, errors).await;
    }
    let unit = IcuUnit {
        id: existing
            .as_ref()
            .map(|u| u.id.clone())
            .unwrap_or_else(ids::new_id),
        facility_id: unit_facility,
        centre_facility_id: centre,
        code,
        name,
        kind,
        colour,
        sampling_seconds: sampling.expect("checked"),
        active: existing.is_none() || field(&form, "active") == "1",
        updated_at: renkei_domain::now_millis(),
    };
    let audit = viewer
        .audit(
            if existing.is_some() {
                "icu.unit.update"
            } else {
                "icu.unit.create"
            },
            Outcome::Success,
        )
        .target("icu_unit", &unit.id)
        .detail(serde_json::json!({ "code": unit.code, "facility": unit.facility_id, "centre": unit.centre_facility_id, "active": unit.active }));
    match store.icu().icu_put_unit(unit, audit).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let errors = vec![tr.t("icu.setup.code_taken").to_string()];
            return setup_refused(&state, &viewer, &facility_id, errors).await;
        }
        Err(e) => return Err(e.into()),
    }
    config_changed(store, "unit").await;
    Ok(setup_saved())
}

/// `POST /icu/setup/beds` — adds a bed to a unit; `POST /icu/setup/beds/{id}` renames it,
/// changes its monitor key or (de)activates it.
pub async fn add_bed(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    save_bed(state, viewer, None, form).await
}

pub async fn update_bed(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    save_bed(state, viewer, Some(id), form).await
}

async fn save_bed(
    state: SharedState,
    viewer: Viewer,
    id: Option<String>,
    form: Pairs,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let facility_id = setup_admin(&viewer)?;
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let units = store.icu().icu_units().await?;
    let beds = store.icu().icu_beds().await?;
    let existing = match &id {
        Some(id) => {
            let bed = beds.iter().find(|b| &b.id == id).cloned();
            let ok = bed.as_ref().is_some_and(|b| {
                units
                    .iter()
                    .any(|u| u.id == b.unit_id && manages(&facility_id, u))
            });
            if !ok {
                return Err(AppError::NotFound);
            }
            bed
        }
        None => None,
    };
    let mut errors = Vec::new();
    let unit_id = match &existing {
        Some(b) => b.unit_id.clone(),
        None => field(&form, "unit_id").trim().to_string(),
    };
    let unit = units
        .iter()
        .find(|u| u.id == unit_id && manages(&facility_id, u));
    if unit.is_none() {
        errors.push(tr.t("icu.setup.unit_required").to_string());
    }
    let label = field(&form, "label").trim().to_string();
    plain_text(tr, &mut errors, "icu.setup.bed_label", &label, 32);
    let monitor_key = field(&form, "monitor_key").trim().to_string();
    if !is_code(&monitor_key, 64) {
        errors.push(tr.t("icu.setup.bad_monitor_key").to_string());
    }
    let active = existing.is_none() || field(&form, "active") == "1";
    if let (Some(b), false) = (&existing, active) {
        if store
            .icu()
            .icu_open_stays()
            .await?
            .iter()
            .any(|s| s.bed_id == b.id)
        {
            errors.push(tr.t("icu.setup.bed_occupied").to_string());
        }
    }
    if !errors.is_empty() {
        return setup_refused(&state, &viewer, &facility_id, errors).await;
    }
    let unit = unit.expect("checked");
    let bed = IcuBed {
        id: existing
            .as_ref()
            .map(|b| b.id.clone())
            .unwrap_or_else(ids::new_id),
        unit_id: unit.id.clone(),
        facility_id: unit.facility_id.clone(),
        label,
        monitor_key,
        position: existing.as_ref().map(|b| b.position).unwrap_or_else(|| {
            beds.iter()
                .filter(|b| b.unit_id == unit.id)
                .map(|b| b.position + 1)
                .max()
                .unwrap_or(0)
        }),
        active,
        updated_at: renkei_domain::now_millis(),
    };
    let audit = viewer
        .audit(
            if existing.is_some() {
                "icu.bed.update"
            } else {
                "icu.bed.create"
            },
            Outcome::Success,
        )
        .target("icu_bed", &bed.id)
        .detail(serde_json::json!({ "unit": unit.id, "label": bed.label, "monitor_key": bed.monitor_key, "active": bed.active }));
    match store.icu().icu_put_bed(bed, audit).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let errors = vec![tr.t("icu.setup.bed_taken").to_string()];
            return setup_refused(&state, &viewer, &facility_id, errors).await;
        }
        Err(e) => return Err(e.into()),
    }
    config_changed(store, "bed").await;
    Ok(setup_saved())
}

/// Largest code-map table accepted (text).
pub const MAX_CODE_MAP_BYTES: usize = 512 * 1024;

/// `POST /icu/setup/codes` — a code-mapping table as CSV (textarea or file): validated
/// whole (every problem with its line) and stored per source, replacing that source's
/// earlier table.
pub async fn upload_codes(
    State(state): State<SharedState>,
    viewer: Viewer,
    multipart: axum::extract::Multipart,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let form = super::read_multipart(tr, multipart, &["csrf", "csv"]).await?;
    viewer.check_csrf(&form.text("csrf"))?;
    let facility_id = setup_admin(&viewer)?;
    let store = state.store.as_ref();
    let text = match &form.file {
        Some((_, bytes)) => match String::from_utf8(bytes.clone()) {
            Ok(t) => t,
            Err(_) => {
                let errors = vec![tr.t("icu.setup.csv_not_utf8").to_string()];
                return setup_refused(&state, &viewer, &facility_id, errors).await;
            }
        },
        None => form.text("csv"),
    };
    let mut errors = Vec::new();
    if text.trim().is_empty() {
        errors.push(tr.t("icu.setup.csv_required").to_string());
    } else if text.len() > MAX_CODE_MAP_BYTES {
        errors.push(tr.t("icu.setup.csv_too_large").to_string());
    }
    let map = if errors.is_empty() {
        match renkei_icu::CodeMap::from_csv(&text, super::icu_bed::catalogue()) {
            Ok(map) => Some(map),
            Err(problems) => {
                errors.extend(problems.iter().take(50).map(|p| p.to_string()));
                None
            }
        }
    } else {
        None
    };
    let Some(map) = map.filter(|_| errors.is_empty()) else {
        return setup_refused(&state, &viewer, &facility_id, errors).await;
    };
    let mut by_source: BTreeMap<String, Vec<IcuCodeMapRow>> = BTreeMap::new();
    for (source, code, entry) in map.entries() {
        let rows = by_source.entry(source.name().to_string()).or_default();
        if entry.units.is_empty() {
            rows.push(IcuCodeMapRow {
                source: source.name().to_string(),
                code: code.to_string(),
                item: entry.item.clone(),
                unit: String::new(),
                factor: 1.0,
                offset: 0.0,
            });
        }
        for (unit, conv) in &entry.units {
            rows.push(IcuCodeMapRow {
                source: source.name().to_string(),
                code: code.to_string(),
                item: entry.item.clone(),
                unit: unit.clone(),
                factor: conv.factor,
                offset: conv.offset,
            });
        }
    }
    for (source, rows) in by_source {
        let audit = viewer
            .audit("icu.codemap.replace", Outcome::Success)
            .target("icu_code_map", &source)
            .detail(serde_json::json!({ "rows": rows.len() }));
        store
            .icu()
            .icu_replace_code_map(&source, rows, audit)
            .await?;
    }
    config_changed(store, "codes").await;
    Ok(setup_saved())
}

// --- handover ---------------------------------------------------------------------------------

pub struct HandoverPatient {
    pub stay_id: String,
    pub bed: String,
    pub name: String,
    pub kana: String,
    pub age: String,
    pub sex: String,
    pub local_id: String,
    pub diagnosis: String,
    pub news2: String,
    pub risk: String,
    pub alerts: Vec<String>,
    pub intensivist: bool,
    pub nurse: bool,
    pub calls: Vec<String>,
}

/// A patient with the bed's position and label, for ordering.
type PlacedPatient = (i64, String, HandoverPatient);

pub struct HandoverUnit {
    pub facility: String,
    pub colour: String,
    pub unit: String,
    pub patients: Vec<HandoverPatient>,
}

#[derive(Template)]
#[template(path = "icu_handover.html")]
struct HandoverPage {
    c: Chrome,
    day: String,
    printed: String,
    role: &'static str,
    units: Vec<HandoverUnit>,
}

/// `GET /icu/handover` — one page per watched unit: each patient with banner, latest
/// NEWS2, open alerts, today's rounds and open calls.
pub async fn handover(State(state): State<SharedState>, viewer: Viewer) -> AppResult<Response> {
    let view = require_view(&state, &viewer).await?;
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let places = Places::load(store, &view).await?;
    let now = renkei_domain::now_millis();
    let today = icu_day(now);
    let stays: Vec<IcuStay> = store
        .icu()
        .icu_open_stays()
        .await?
        .into_iter()
        .filter(|s| places.beds.get(&s.bed_id).is_some_and(|b| b.active))
        .collect();
    let stay_ids: Vec<String> = stays.iter().map(|s| s.id.clone()).collect();
    let mut latest: HashMap<String, HashMap<String, (Millis, f64)>> = HashMap::new();
    for v in store.icu().icu_latest(&stay_ids).await? {
        latest
            .entry(v.stay_id)
            .or_default()
            .insert(v.item, (v.at, v.value));
    }
    let mut alerts: HashMap<String, Vec<String>> = HashMap::new();
    for a in store.icu().icu_open_alerts().await? {
        if let Some(s) = &a.stay_id {
            if view.role.hears(&a.audience) {
                alerts.entry(s.clone()).or_default().push(a.text.clone());
            }
        }
    }
    let mut calls: HashMap<String, Vec<String>> = HashMap::new();
    for c in store.icu().icu_calls(&stay_ids, 1_000).await? {
        if c.closed_at.is_none() {
            let dir = tr.t(if c.direction == "call" {
                "icu.call.call"
            } else {
                "icu.call.consult"
            });
            calls.entry(c.stay_id.clone()).or_default().push(format!(
                "{dir}: {} ({})",
                c.reason,
                jst(c.opened_at)
            ));
        }
    }
    let record_ids: Vec<String> = stays.iter().map(|s| s.record_id.clone()).collect();
    let records: HashMap<String, PatientRecord> = store
        .get_patient_records(&record_ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let jst_today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST"))
        .date_naive();
    let mut by_unit: BTreeMap<(String, String), Vec<PlacedPatient>> = BTreeMap::new();
    for stay in &stays {
        let bed = &places.beds[&stay.bed_id];
        let Some(unit) = places.units.get(&bed.unit_id) else {
            continue;
        };
        let record = records.get(&stay.record_id);
        let rounds = store.icu().icu_rounds(&stay.id).await?;
        let details: serde_json::Value =
            serde_json::from_str(&stay.details).unwrap_or(serde_json::Value::Null);
        let values = latest.remove(&stay.id).unwrap_or_default();
        let (news2, risk) = if view.role != IcuRole::Clerk && !values.is_empty() {
            let scale2 = details
                .get("news2_scale2")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let n = icu_service::news2_of(&values, scale2);
            (
                format!(
                    "{}{}",
                    n.sheet.total,
                    if n.sheet.complete { "" } else { "+" }
                ),
                super::icu_census::risk_code(n.minimum_risk).to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        let patient = HandoverPatient {
            stay_id: stay.id.clone(),
            bed: bed.label.clone(),
            name: record.map(|r| r.full_name()).unwrap_or_default(),
            kana: record.map(|r| r.full_kana()).unwrap_or_default(),
            age: record
                .map(|r| super::patients::age_on(&r.birth_date, jst_today).to_string())
                .unwrap_or_default(),
            sex: record
                .map(|r| r.sex.label(tr.0).to_string())
                .unwrap_or_default(),
            local_id: stay.local_id.clone(),
            diagnosis: details
                .get("diagnosis")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            news2,
            risk,
            alerts: alerts.remove(&stay.id).unwrap_or_default(),
            intensivist: rounds
                .iter()
                .any(|r| r.day == today && r.role == "intensivist"),
            nurse: rounds.iter().any(|r| r.day == today && r.role == "nurse"),
            calls: calls.remove(&stay.id).unwrap_or_default(),
        };
        by_unit
            .entry((unit.facility_id.clone(), unit.id.clone()))
            .or_default()
            .push((bed.position, bed.label.clone(), patient));
    }
    let mut units = Vec::new();
    for u in &view.units {
        let Some(mut patients) = by_unit.remove(&(u.facility_id.clone(), u.id.clone())) else {
            continue;
        };
        patients.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        units.push(HandoverUnit {
            facility: places
                .facilities
                .get(&u.facility_id)
                .cloned()
                .unwrap_or_default(),
            colour: u.colour.clone(),
            unit: u.name.clone(),
            patients: patients.into_iter().map(|p| p.2).collect(),
        });
    }
    let refs: Vec<&IcuStay> = stays.iter().collect();
    store
        .append_audit(audit_shown(&viewer, "icu.handover.view", &view, &refs))
        .await?;
    let mut c = Chrome::for_viewer(&state, &viewer, "icu.handover.title");
    c.narrow = false;
    let page = HandoverPage {
        c,
        day: today,
        printed: jst(now),
        role: view.role.code(),
        units,
    };
    Ok(render(&page)?.into_response())
}
