//! The Tele-ICU centre census (`/icu`): every bed the viewer may watch, across facilities,
//! ordered by acuity, each patient under an identification banner; values pushed live over
//! a WebSocket (`/icu/ws`), a staleness marker once a bed's data is older than two sampling
//! intervals, alert badges. And the admission form (`/icu/admit`) with which the bedside
//! clerk puts a patient of the patient index into a bed.
//!
//! Live updates come from the store's event bus (PostgreSQL NOTIFY across nodes): the
//! ingest announces changed stays; each socket re-reads the newest values of those stays
//! (one query) and sends rows for the ones its viewer may watch. Opening the census and
//! opening the socket each write an audit record listing the stays shown.

use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use renkei_core::icu::{self as icu_service, IcuOrigin, IcuRole, IcuView};
use renkei_domain::ids;
use renkei_storage::icu::{IcuAlert, IcuBed, IcuStay, IcuUnit};
use renkei_storage::{PatientRecord, Store};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Census columns: (item, i18n key, unit, decimals). Clerks get their own set.
const VITAL_COLUMNS: &[(&str, &str, &str, usize)] = &[
    ("hr", "icu.item.hr", "/min", 0),
    ("spo2", "icu.item.spo2", "%", 0),
    ("sbp", "icu.item.sbp", "mmHg", 0),
    ("map", "icu.item.map", "mmHg", 0),
    ("rr", "icu.item.rr", "/min", 0),
    ("temp", "icu.item.temp", "℃", 1),
    ("fio2", "icu.item.fio2", "", 2),
];
const CLERK_COLUMNS: &[(&str, &str, &str, usize)] = &[
    ("temp", "icu.item.temp", "℃", 1),
    ("urine", "icu.item.urine", "mL/d", 0),
    ("gcs", "icu.item.gcs", "", 0),
];

fn columns(role: IcuRole) -> &'static [(&'static str, &'static str, &'static str, usize)] {
    match role {
        IcuRole::Clerk => CLERK_COLUMNS,
        _ => VITAL_COLUMNS,
    }
}

/// One value cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub item: &'static str,
    pub value: String,
    pub unit: &'static str,
}

/// One bed on the census, as rendered and as sent over the socket.
#[derive(Debug, Clone, Serialize)]
pub struct BedRow {
    pub bed_id: String,
    pub stay_id: Option<String>,
    pub facility: String,
    pub colour: String,
    pub unit: String,
    pub bed: String,
    pub name: String,
    pub kana: String,
    pub age: String,
    pub sex: String,
    pub local_id: String,
    pub test: bool,
    pub cells: Vec<Cell>,
    pub news2: Option<u32>,
    pub news2_complete: bool,
    /// low, low_medium, medium, high (the band the scored parameters reach).
    pub risk: String,
    pub alerts: usize,
    pub critical: bool,
    pub alert_texts: Vec<String>,
    /// Newest monitor value, epoch ms (0: none yet).
    pub last_at: i64,
    pub last_at_text: String,
    pub stale_after_ms: i64,
    /// Sort key, higher first.
    pub acuity: i64,
}

/// What a census needs to know of the beds the viewer may watch.
struct Layout {
    beds: Vec<IcuBed>,
    units: HashMap<String, IcuUnit>,
    facilities: HashMap<String, String>,
    stays: HashMap<String, IcuStay>,
    patients: HashMap<String, PatientRecord>,
}

async fn layout(store: &dyn Store, view: &IcuView) -> AppResult<Layout> {
    let units: HashMap<String, IcuUnit> = view
        .units
        .iter()
        .map(|u| (u.id.clone(), u.clone()))
        .collect();
    let beds: Vec<IcuBed> = store
        .icu()
        .icu_beds()
        .await?
        .into_iter()
        .filter(|b| b.active && units.contains_key(&b.unit_id))
        .collect();
    let bed_ids: HashSet<&str> = beds.iter().map(|b| b.id.as_str()).collect();
    let stays: HashMap<String, IcuStay> = store
        .icu()
        .icu_open_stays()
        .await?
        .into_iter()
        .filter(|s| bed_ids.contains(s.bed_id.as_str()))
        .map(|s| (s.bed_id.clone(), s))
        .collect();
    let record_ids: Vec<String> = stays.values().map(|s| s.record_id.clone()).collect();
    let records: HashMap<String, PatientRecord> = store
        .get_patient_records(&record_ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let patients = stays
        .values()
        .filter_map(|s| Some((s.id.clone(), records.get(&s.record_id)?.clone())))
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
    Ok(Layout {
        beds,
        units,
        facilities,
        stays,
        patients,
    })
}

fn format_number(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

pub(crate) fn risk_code(r: renkei_icu_scores::news2::News2Risk) -> &'static str {
    use renkei_icu_scores::news2::News2Risk::*;
    match r {
        Low => "low",
        LowMedium => "low_medium",
        Medium => "medium",
        High => "high",
    }
}

/// Rows for the beds of `layout` (all, or only those whose stay is in `only`).
async fn rows(
    store: &dyn Store,
    view: &IcuView,
    layout: &Layout,
    tr: Tr,
    only: Option<&HashSet<String>>,
) -> AppResult<Vec<BedRow>> {
    let stay_ids: Vec<String> = layout
        .stays
        .values()
        .filter(|s| only.is_none_or(|o| o.contains(&s.id)))
        .map(|s| s.id.clone())
        .collect();
    let mut latest: HashMap<String, HashMap<String, (i64, f64)>> = HashMap::new();
    for v in store.icu().icu_latest(&stay_ids).await? {
        latest
            .entry(v.stay_id)
            .or_default()
            .insert(v.item, (v.at, v.value));
    }
    let now = renkei_domain::now_millis();
    let mut alerts: HashMap<String, Vec<IcuAlert>> = HashMap::new();
    for a in store.icu().icu_open_alerts().await? {
        let snoozed = a.snoozed_until.is_some_and(|t| t > now);
        if let (Some(s), false) = (a.stay_id.clone(), snoozed) {
            if view.role.hears(&a.audience) {
                alerts.entry(s).or_default().push(a);
            }
        }
    }
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST"))
        .date_naive();
    let mut out = Vec::new();
    for bed in &layout.beds {
        let stay = layout.stays.get(&bed.id);
        if let (Some(o), Some(s)) = (only, stay) {
            if !o.contains(&s.id) {
                continue;
            }
        } else if only.is_some() {
            continue;
        }
        let Some(unit) = layout.units.get(&bed.unit_id) else {
            continue;
        };
        let mut row = BedRow {
            bed_id: bed.id.clone(),
            stay_id: stay.map(|s| s.id.clone()),
            facility: layout
                .facilities
                .get(&unit.facility_id)
                .cloned()
                .unwrap_or_default(),
            colour: unit.colour.clone(),
            unit: unit.name.clone(),
            bed: bed.label.clone(),
            name: String::new(),
            kana: String::new(),
            age: String::new(),
            sex: String::new(),
            local_id: String::new(),
            test: false,
            cells: Vec::new(),
            news2: None,
            news2_complete: false,
            risk: String::new(),
            alerts: 0,
            critical: false,
            alert_texts: Vec::new(),
            last_at: 0,
            last_at_text: String::new(),
            stale_after_ms: 2 * unit.sampling_seconds.max(1) * 1000,
            acuity: -1_000,
        };
        if let Some(stay) = stay {
            row.local_id = stay.local_id.clone();
            row.test = stay.is_test;
            if let Some(p) = layout.patients.get(&stay.id) {
                row.name = p.full_name();
                row.kana = p.full_kana();
                row.age = super::patients::age_on(&p.birth_date, today).to_string();
                row.sex = p.sex.label(tr.0).to_string();
            }
            let values = latest.remove(&stay.id).unwrap_or_default();
            for &(item, _, unit, decimals) in columns(view.role) {
                row.cells.push(Cell {
                    item,
                    value: values
                        .get(item)
                        .map(|&(_, v)| format_number(v, decimals))
                        .unwrap_or_default(),
                    unit,
                });
            }
            row.last_at = values
                .iter()
                .filter(|(item, _)| VITAL_COLUMNS.iter().any(|c| c.0 == item.as_str()))
                .map(|(_, &(at, _))| at)
                .max()
                .unwrap_or(0);
            if row.last_at > 0 {
                row.last_at_text = jst(row.last_at);
            }
            let scale2 = serde_json::from_str::<serde_json::Value>(&stay.details)
                .ok()
                .and_then(|d| d.get("news2_scale2").and_then(|v| v.as_bool()))
                .unwrap_or(false);
            if view.role != IcuRole::Clerk && !values.is_empty() {
                let news2 = icu_service::news2_of(&values, scale2);
                row.news2 = Some(news2.sheet.total);
                row.news2_complete = news2.sheet.complete;
                row.risk = risk_code(news2.minimum_risk).to_string();
            }
            let stay_alerts = alerts.remove(&stay.id).unwrap_or_default();
            row.alerts = stay_alerts.len();
            row.critical = stay_alerts.iter().any(|a| a.severity == "critical");
            row.alert_texts = stay_alerts.iter().map(|a| a.text.clone()).collect();
            row.acuity = i64::from(row.news2.unwrap_or(0)) * 10
                + if row.critical { 5 } else { 0 }
                + row.alerts as i64;
        }
        out.push(row);
    }
    out.sort_by(|a, b| b.acuity.cmp(&a.acuity).then_with(|| a.bed.cmp(&b.bed)));
    Ok(out)
}

pub(crate) fn origin_of(viewer: &Viewer) -> IcuOrigin {
    IcuOrigin {
        login_id: viewer.user.login_id.clone(),
        ip: viewer.client.ip_string(),
        user_agent: viewer.client.user_agent.clone(),
    }
}

pub(crate) async fn require_view(state: &SharedState, viewer: &Viewer) -> AppResult<IcuView> {
    icu_service::view_for(state.store.as_ref(), &viewer.requester())
        .await?
        .ok_or(AppError::Forbidden)
}

#[derive(Template)]
#[template(path = "icu_census.html")]
struct CensusPage {
    c: Chrome,
    role: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    rows: Vec<BedRow>,
    occupied: usize,
    server_now: i64,
    may_admit: bool,
    may_review: bool,
    may_setup: bool,
}

/// `GET /icu` — the census.
pub async fn census(State(state): State<SharedState>, viewer: Viewer) -> AppResult<Response> {
    let view = require_view(&state, &viewer).await?;
    let store = state.store.as_ref();
    let layout = layout(store, &view).await?;
    let tr = viewer.tr();
    let rows = rows(store, &view, &layout, tr, None).await?;
    let shown: Vec<&IcuStay> = layout.stays.values().collect();
    icu_service::audit_census(
        store,
        &viewer.requester(),
        &origin_of(&viewer),
        &view,
        &shown,
    )
    .await?;
    let mut c = Chrome::for_viewer(&state, &viewer, "icu.census.title");
    c.narrow = false;
    let page = CensusPage {
        c,
        role: view.role.code(),
        headers: columns(view.role)
            .iter()
            .map(|&(_, key, unit, _)| (tr.t(key), unit))
            .collect(),
        occupied: rows.iter().filter(|r| r.stay_id.is_some()).count(),
        rows,
        server_now: renkei_domain::now_millis(),
        may_admit: view.units.iter().any(|u| u.facility_id == view.facility_id),
        may_review: view.role == IcuRole::Physician || viewer.admin_facility().is_some(),
        may_setup: viewer.admin_facility().is_some(),
    };
    Ok(render(&page)?.into_response())
}

/// Frames sent over the census socket.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame<'a> {
    /// Every bed, on connect and after admissions, discharges and configuration changes.
    Snapshot { now: i64, rows: &'a [BedRow] },
    /// Changed beds only.
    Update { now: i64, rows: &'a [BedRow] },
}

/// `GET /icu/ws` — the live census feed (WebSocket).
pub async fn socket(
    State(state): State<SharedState>,
    viewer: Viewer,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> AppResult<Response> {
    // Browsers send cookies with cross-site WebSocket handshakes: accept our own pages only.
    if !crate::security::same_origin(&headers) {
        return Err(AppError::Forbidden);
    }
    let view = require_view(&state, &viewer).await?;
    let tr = viewer.tr();
    let requester = viewer.requester();
    let origin = origin_of(&viewer);
    Ok(upgrade
        .max_message_size(4096)
        .on_upgrade(move |socket| async move {
            if let Err(e) = feed(socket, state, view, tr, requester, origin).await {
                tracing::debug!(error = %e, "census socket closed");
            }
        }))
}

async fn feed(
    mut socket: WebSocket,
    state: SharedState,
    view: IcuView,
    tr: Tr,
    requester: renkei_domain::patient::Requester,
    origin: IcuOrigin,
) -> Result<(), AppError> {
    let store = state.store.clone();
    // Subscribe before the snapshot so nothing committed in between is missed.
    let mut events = store.subscribe_events();
    let mut layout = layout(store.as_ref(), &view).await?;
    let shown: Vec<&IcuStay> = layout.stays.values().collect();
    icu_service::audit_census(store.as_ref(), &requester, &origin, &view, &shown).await?;
    let send = |frame: &Frame<'_>| {
        serde_json::to_string(frame).map_err(|e| AppError::Internal(e.to_string()))
    };
    let all = rows(store.as_ref(), &view, &layout, tr, None).await?;
    let now = renkei_domain::now_millis();
    if socket
        .send(WsMessage::Text(
            send(&Frame::Snapshot { now, rows: &all })?.into(),
        ))
        .await
        .is_err()
    {
        return Ok(());
    }
    // Refresh the whole picture now and then, so staleness and alert changes made without
    // an event (another node's sweep missed during a reconnect) still show.
    let mut refresh = tokio::time::interval(std::time::Duration::from_secs(30));
    refresh.tick().await;
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            _ = refresh.tick() => {
                layout = self::layout(store.as_ref(), &view).await?;
                let all = rows(store.as_ref(), &view, &layout, tr, None).await?;
                let now = renkei_domain::now_millis();
                if socket.send(WsMessage::Text(send(&Frame::Snapshot { now, rows: &all })?.into())).await.is_err() {
                    return Ok(());
                }
            }
            event = events.recv() => {
                let mut changed: HashSet<String> = HashSet::new();
                let mut reload = false;
                let mut take = |e: Result<renkei_storage::Event, tokio::sync::broadcast::error::RecvError>| match e {
                    Ok(e) if e.topic == icu_service::EVENT_TOPIC => {
                        changed.extend(e.payload.split(',').filter(|s| !s.is_empty()).map(str::to_string));
                    }
                    Ok(e) if e.topic == icu_service::CONFIG_TOPIC => reload = true,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => reload = true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => reload = true,
                };
                take(event);
                // Whatever else is already queued goes out in the same frame.
                while let Ok(more) = events.try_recv() {
                    take(Ok(more));
                }
                let now = renkei_domain::now_millis();
                if reload {
                    layout = self::layout(store.as_ref(), &view).await?;
                    let all = rows(store.as_ref(), &view, &layout, tr, None).await?;
                    if socket.send(WsMessage::Text(send(&Frame::Snapshot { now, rows: &all })?.into())).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                let watched: HashSet<String> = layout.stays.values().map(|s| s.id.clone()).collect();
                let mine: HashSet<String> = changed.intersection(&watched).cloned().collect();
                if mine.is_empty() {
                    continue;
                }
                let update = rows(store.as_ref(), &view, &layout, tr, Some(&mine)).await?;
                if socket.send(WsMessage::Text(send(&Frame::Update { now, rows: &update })?.into())).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

// --- admission ------------------------------------------------------------------------------

pub struct BedChoice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "icu_admit.html")]
struct AdmitPage {
    c: Chrome,
    beds: Vec<BedChoice>,
    form: AdmitForm,
    errors: Vec<String>,
    chronic: Vec<(&'static str, &'static str, bool)>,
    types: Vec<(&'static str, &'static str, bool)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AdmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    bed_id: String,
    #[serde(default)]
    local_id: String,
    #[serde(default)]
    admission_type: String,
    #[serde(default)]
    diagnosis: String,
    #[serde(default)]
    diagnosis_group: String,
    #[serde(default)]
    attending: String,
    #[serde(default)]
    allergies: String,
    #[serde(default)]
    chronic: Vec<String>,
    #[serde(default)]
    news2_scale2: Option<String>,
    #[serde(default)]
    is_test: Option<String>,
}

const ADMISSION_TYPES: &[&str] = &["medical", "scheduled_surgical", "unscheduled_surgical"];
const CHRONIC: &[&str] = &[
    "cirrhosis",
    "heart_failure_nyha4",
    "respiratory",
    "dialysis",
    "immunosuppression",
    "metastatic_cancer",
    "haematologic_malignancy",
    "aids",
];

/// Empty beds of units in the viewer's own facility (admission is the bedside's act).
async fn free_beds(state: &SharedState, view: &IcuView) -> AppResult<Vec<(IcuBed, IcuUnit)>> {
    let icu = state.store.icu();
    let occupied: HashSet<String> = icu
        .icu_open_stays()
        .await?
        .into_iter()
        .map(|s| s.bed_id)
        .collect();
    let mut out = Vec::new();
    for bed in icu.icu_beds().await? {
        if let Some(unit) = view.unit(&bed.unit_id) {
            if unit.facility_id == view.facility_id && bed.active && !occupied.contains(&bed.id) {
                out.push((bed, unit.clone()));
            }
        }
    }
    Ok(out)
}

async fn admit_page(
    state: &SharedState,
    viewer: &Viewer,
    view: &IcuView,
    form: AdmitForm,
    errors: Vec<String>,
) -> AppResult<AdmitPage> {
    let tr = viewer.tr();
    let beds = free_beds(state, view)
        .await?
        .into_iter()
        .map(|(b, u)| BedChoice {
            selected: b.id == form.bed_id,
            label: format!("{} {}", u.name, b.label),
            id: b.id,
        })
        .collect();
    Ok(AdmitPage {
        c: Chrome::for_viewer(state, viewer, "icu.admit.title"),
        beds,
        chronic: CHRONIC
            .iter()
            .map(|&c| {
                (
                    c,
                    tr.t(&format!("icu.chronic.{c}")),
                    form.chronic.iter().any(|x| x == c),
                )
            })
            .collect(),
        types: ADMISSION_TYPES
            .iter()
            .map(|&t| {
                (
                    t,
                    tr.t(&format!("icu.admission.{t}")),
                    form.admission_type == t,
                )
            })
            .collect(),
        form,
        errors,
    })
}

/// `GET /icu/admit`
pub async fn admit_form(State(state): State<SharedState>, viewer: Viewer) -> AppResult<Response> {
    let view = require_view(&state, &viewer).await?;
    let page = admit_page(&state, &viewer, &view, AdmitForm::default(), Vec::new()).await?;
    Ok(render(&page)?.into_response())
}

/// `POST /icu/admit` — admits a registered patient of this facility to a free bed; the
/// centre sees the bed fill at once (census event).
pub async fn admit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<AdmitForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let view = require_view(&state, &viewer).await?;
    let tr = viewer.tr();
    let store = state.store.as_ref();
    let mut errors = Vec::new();
    let free = free_beds(&state, &view).await?;
    let bed = free.iter().find(|(b, _)| b.id == form.bed_id);
    if bed.is_none() {
        errors.push(tr.t("icu.admit.bed_required").to_string());
    }
    if !ADMISSION_TYPES.contains(&form.admission_type.as_str()) {
        errors.push(tr.t("icu.admit.type_required").to_string());
    }
    if form.chronic.iter().any(|c| !CHRONIC.contains(&c.as_str())) {
        errors.push(tr.t("icu.admit.bad_chronic").to_string());
    }
    for (name, value, max) in [
        ("diagnosis", &form.diagnosis, 200),
        ("diagnosis_group", &form.diagnosis_group, 100),
        ("attending", &form.attending, 100),
        ("allergies", &form.allergies, 500),
    ] {
        if value.chars().count() > max
            || value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r')
        {
            errors.push(format!(
                "{}: {}",
                tr.t(&format!("icu.admit.{name}")),
                tr.t("icu.admit.too_long")
            ));
        }
    }
    if form.diagnosis.trim().is_empty() {
        errors.push(tr.t("icu.admit.diagnosis_required").to_string());
    }
    let facility = viewer.facility().cloned().ok_or(AppError::Forbidden)?;
    let local_id = form.local_id.trim().to_string();
    let record = if local_id.is_empty() {
        errors.push(tr.t("icu.admit.local_id_required").to_string());
        None
    } else {
        let system = renkei_core::patients::local_id_system(&facility);
        let found = store
            .find_patient_record(&facility.id, &system, &local_id)
            .await?;
        if found.is_none() {
            errors.push(tr.t("icu.admit.patient_unknown").to_string());
        }
        found
    };
    if !errors.is_empty() {
        let page = admit_page(&state, &viewer, &view, form, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let (bed, record) = (bed.expect("checked").0.clone(), record.expect("checked"));
    let details = serde_json::json!({
        "admission_type": form.admission_type,
        "diagnosis": form.diagnosis.trim(),
        "diagnosis_group": form.diagnosis_group.trim(),
        "attending": form.attending.trim(),
        "allergies": form.allergies.trim(),
        "chronic": form.chronic,
        "news2_scale2": form.news2_scale2.is_some(),
    });
    let now = renkei_domain::now_millis();
    let stay = IcuStay {
        id: ids::new_id(),
        bed_id: bed.id.clone(),
        facility_id: facility.id.clone(),
        person_id: record.person_id.clone(),
        record_id: record.id.clone(),
        local_id: record.local_id.clone(),
        admitted_at: now,
        admitted_by: viewer.user.id.clone(),
        details: details.to_string(),
        is_test: form.is_test.is_some() || record.is_test,
        discharged_at: None,
        discharged_by: None,
        discharge_summary: None,
    };
    let mut audit = viewer
        .audit("icu.admit", renkei_domain::audit::Outcome::Success)
        .target("icu_stay", &stay.id)
        .detail(serde_json::json!({ "bed": bed.label, "test": stay.is_test }));
    audit.patient_id = Some(record.person_id.clone());
    match store.icu().icu_admit(stay.clone(), audit).await {
        Ok(()) => {}
        Err(renkei_storage::StoreError::Conflict(_)) => {
            let errors = vec![tr.t("icu.admit.bed_taken").to_string()];
            let page = admit_page(&state, &viewer, &view, form, errors).await?;
            return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    // Ingest writers and census screens on every node pick up the new stay.
    let _ = store
        .publish_event(icu_service::CONFIG_TOPIC, &stay.id)
        .await;
    Ok(Redirect::to("/icu").into_response())
}
