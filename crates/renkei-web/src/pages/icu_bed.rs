//! The Tele-ICU bed detail (`/icu/stays/{id}`): the identification banner, vitals trends
//! over 1 h / 24 h / 7 d (server-rendered SVG), the daily labs table, severity scores with
//! their components (a missing component shown as missing, never as 0), manual entries,
//! the round checklist, the call log, discharge and the bed's earlier stays. And the forms
//! that write them, each with its audit record.
//!
//! What a viewer sees follows [`IcuRole::sees_item`]: clerks temperature, urine and GCS,
//! nurses the bedside picture, physicians everything. A stay outside the viewer's units is
//! 404, like one that does not exist; every opening is audited (`icu.stay.view`, refusals
//! too) by [`icu_service::open_stay`].

use super::icu_census::origin_of;
use super::record::{Chart, PointView, Series};
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
use renkei_icu::{Catalogue, ItemDef, ItemKind};
use renkei_storage::icu::{IcuAlertChanges, IcuBed, IcuCall, IcuRound, IcuStay, IcuUnit, IcuValue};
use renkei_storage::{Store, StoreError};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;

/// Items charted as trends, in order.
const TREND_ITEMS: &[&str] = &[
    "hr", "spo2", "sbp", "dbp", "map", "rr", "temp", "fio2", "cvp", "urine", "gcs",
];

/// Manual-entry fields: (item, kind of input).
const MANUAL_ITEMS: &[&str] = &[
    "gcs",
    "acvpu",
    "o2_therapy",
    "ventilated",
    "dopamine",
    "dobutamine",
    "epinephrine",
    "norepinephrine",
];

/// The round checklist (VAP bundle and prophylaxis), the same for both rounds.
pub const CHECKLIST: &[&str] = &[
    "head_of_bed_30",
    "sedation_interruption",
    "sbt_readiness",
    "oral_care",
    "cuff_pressure",
    "subglottic_suction",
    "dvt_prophylaxis",
    "stress_ulcer_prophylaxis",
];

/// Every UI text key these pages build at run time (for the i18n completeness test).
pub fn i18n_keys() -> Vec<String> {
    let mut keys: Vec<String> = CHECKLIST.iter().map(|k| format!("icu.check.{k}")).collect();
    keys.extend(
        super::icu_ops::UNIT_KINDS
            .iter()
            .map(|k| format!("icu.kind.{k}")),
    );
    for k in [
        "icu.round.intensivist",
        "icu.round.nurse",
        "icu.call.call",
        "icu.call.consult",
        "icu.stay.range_1h",
        "icu.stay.range_24h",
        "icu.stay.range_7d",
        "icu.stay.title",
        "icu.alerts.title",
        "icu.quarantine.title",
        "icu.setup.title",
        "icu.handover.title",
        "notice.icu_saved",
    ] {
        keys.push(k.to_string());
    }
    keys
}

pub const MAX_REASON: usize = 500;
pub const MAX_NOTE: usize = 2_000;
pub const MAX_SUMMARY: usize = 4_000;

/// Today's ICU day (JST date).
pub fn icu_day(at: Millis) -> String {
    jst(at).chars().take(10).collect()
}

/// A free-text field: at most `max` characters and no control characters but line breaks.
pub fn text_ok(value: &str, max: usize) -> bool {
    value.chars().count() <= max
        && !value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
}

/// A form's free text, trimmed. Its problem — missing (when `required_key` names the
/// message), too long or with control characters — goes to `errors`.
pub(crate) fn form_text(
    tr: Tr,
    errors: &mut Vec<String>,
    value: &str,
    label_key: &str,
    required_key: Option<&str>,
    max: usize,
) -> String {
    let value = value.trim().to_string();
    match required_key {
        Some(key) if value.is_empty() => errors.push(tr.t(key).to_string()),
        _ if !text_ok(&value, max) => errors.push(format!(
            "{}: {}",
            tr.t(label_key),
            tr.t("icu.admit.too_long")
        )),
        _ => {}
    }
    value
}

/// The deployment's items (built-ins plus `icu_items_file`).
pub fn catalogue() -> &'static Catalogue {
    Catalogue::site()
}

pub fn item_label(tr: Tr, item: &ItemDef) -> String {
    match tr.0 {
        renkei_domain::Lang::Ja => item.label_ja.clone(),
        renkei_domain::Lang::En => item.label_en.clone(),
    }
}

/// The value as people read it: ACVPU as its letter, yes/no items as words.
pub fn display_value(tr: Tr, item: &str, value: f64) -> String {
    match item {
        "acvpu" => renkei_icu::items::acvpu_letter(value)
            .map(String::from)
            .unwrap_or_else(|| value.to_string()),
        "o2_therapy" | "ventilated" => tr
            .t(if value >= 0.5 {
                "answer.yes"
            } else {
                "answer.no"
            })
            .to_string(),
        _ => match catalogue().get(item) {
            Some(def) => def.format(value),
            None => format!("{value}"),
        },
    }
}

// --- opening a stay -----------------------------------------------------------------------

pub(crate) struct Opened {
    pub view: IcuView,
    pub stay: IcuStay,
    pub bed: IcuBed,
    pub unit: IcuUnit,
}

/// The stay if the viewer may watch its unit (audited as `what`); 404 otherwise — also for
/// people with no Tele-ICU view at all, so nobody learns which stays exist.
pub(crate) async fn open(
    state: &SharedState,
    viewer: &Viewer,
    stay_id: &str,
    what: &str,
) -> AppResult<Opened> {
    let store = state.store.as_ref();
    let requester = viewer.requester();
    let Some(view) = icu_service::view_for(store, &requester).await? else {
        let entry = viewer
            .audit(what, Outcome::Denied)
            .target("icu_stay", stay_id);
        store.append_audit(entry).await?;
        return Err(AppError::NotFound);
    };
    match icu_service::open_stay(store, &requester, &origin_of(viewer), &view, stay_id, what)
        .await?
    {
        Some((stay, bed, unit)) => Ok(Opened {
            view,
            stay,
            bed,
            unit,
        }),
        None => Err(AppError::NotFound),
    }
}

// --- the page ------------------------------------------------------------------------------

pub struct Banner {
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
    pub admitted: String,
    pub discharged: Option<String>,
    pub summary: String,
    pub diagnosis: String,
    pub attending: String,
    pub allergies: String,
}

pub struct LatestRow {
    pub label: String,
    pub value: String,
    pub unit: String,
    pub at: String,
}

pub struct ComponentView {
    pub name: &'static str,
    pub points: Option<u8>,
    pub sources: String,
    pub note: String,
}

pub struct ScoreView {
    pub name: &'static str,
    pub basis: &'static str,
    pub total: u32,
    pub complete: bool,
    pub extra: String,
    pub components: Vec<ComponentView>,
}

pub struct ManualField {
    pub item: &'static str,
    pub label: String,
    pub unit: String,
    /// number, acvpu, yesno
    pub kind: &'static str,
}

pub struct RoundView {
    pub day: String,
    pub role: &'static str,
    pub by: String,
    pub at: String,
    /// ✓ or – per checklist item.
    pub done: Vec<&'static str>,
    pub note: String,
}

pub struct CallView {
    pub id: String,
    pub direction: &'static str,
    pub reason: String,
    pub advice: String,
    pub outcome: String,
    pub opened: String,
    pub opened_by: String,
    pub closed: Option<String>,
    pub closed_by: String,
}

pub struct HistoryRow {
    pub id: String,
    pub local_id: String,
    pub admitted: String,
    pub discharged: String,
    pub current: bool,
}

pub struct AlertView {
    pub id: String,
    pub severity: String,
    pub text: String,
    pub raised: String,
    pub acked: bool,
}

#[derive(Template)]
#[template(path = "icu_stay.html")]
struct StayPage {
    c: Chrome,
    stay_id: String,
    banner: Banner,
    is_open: bool,
    role: &'static str,
    range: &'static str,
    ranges: Vec<(&'static str, &'static str, bool)>,
    latest: Vec<LatestRow>,
    charts: Vec<Chart>,
    lab_days: Vec<String>,
    lab_rows: Vec<(String, String, Vec<String>)>,
    scores: Vec<ScoreView>,
    manual: Vec<ManualField>,
    round_role: Option<&'static str>,
    checklist: Vec<(&'static str, &'static str)>,
    rounds: Vec<RoundView>,
    calls: Vec<CallView>,
    directions: Vec<(&'static str, &'static str)>,
    may_close_calls: bool,
    may_discharge: bool,
    history: Vec<HistoryRow>,
    alerts: Vec<AlertView>,
    errors: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StayQuery {
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

fn range_of(q: Option<&str>) -> (&'static str, Millis) {
    match q {
        Some("1h") => ("1h", HOUR),
        Some("7d") => ("7d", 7 * DAY),
        _ => ("24h", DAY),
    }
}

/// Directions a viewer may open: the centre calls the bedside, the bedside consults the
/// centre (a unit of the centre's own hospital may do both).
fn directions(view: &IcuView, unit: &IcuUnit) -> Vec<&'static str> {
    if view.role == IcuRole::Clerk {
        return Vec::new();
    }
    let mut out = Vec::new();
    if view.is_centre_for(unit) {
        out.push("call");
    }
    if unit.facility_id == view.facility_id {
        out.push("consult");
    }
    out
}

fn round_role(role: IcuRole) -> Option<&'static str> {
    match role {
        IcuRole::Physician => Some("intensivist"),
        IcuRole::Nurse => Some("nurse"),
        IcuRole::Clerk => None,
    }
}

fn may_discharge(view: &IcuView, unit: &IcuUnit) -> bool {
    view.role == IcuRole::Physician
        || (unit.facility_id == view.facility_id && view.role != IcuRole::Clerk)
}

fn user_names(pairs: &HashMap<String, String>, id: &str) -> String {
    pairs.get(id).cloned().unwrap_or_else(|| id.to_string())
}

async fn load_names(
    store: &dyn Store,
    ids: impl Iterator<Item = String>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in ids.collect::<HashSet<_>>() {
        if let Ok(Some(u)) = store.get_user(&id).await {
            out.insert(id, u.display_name);
        }
    }
    out
}

async fn banner(store: &dyn Store, tr: Tr, o: &Opened) -> AppResult<Banner> {
    let facility = store
        .get_facility(&o.unit.facility_id)
        .await?
        .map(|f| f.name)
        .unwrap_or_default();
    let details: serde_json::Value =
        serde_json::from_str(&o.stay.details).unwrap_or(serde_json::Value::Null);
    let detail = |k: &str| {
        details
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let mut b = Banner {
        facility,
        colour: o.unit.colour.clone(),
        unit: o.unit.name.clone(),
        bed: o.bed.label.clone(),
        name: String::new(),
        kana: String::new(),
        age: String::new(),
        sex: String::new(),
        local_id: o.stay.local_id.clone(),
        test: o.stay.is_test,
        admitted: jst(o.stay.admitted_at),
        discharged: o.stay.discharged_at.map(jst),
        summary: o.stay.discharge_summary.clone().unwrap_or_default(),
        diagnosis: detail("diagnosis"),
        attending: detail("attending"),
        allergies: detail("allergies"),
    };
    if let Some(p) = store.get_patient_record(&o.stay.record_id).await? {
        let today = chrono::Utc::now()
            .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST"))
            .date_naive();
        b.name = p.full_name();
        b.kana = p.full_kana();
        b.age = super::patients::age_on(&p.birth_date, today).to_string();
        b.sex = p.sex.label(tr.0).to_string();
    }
    Ok(b)
}

const CHART_W: f64 = 360.0;
const PAD_LEFT: f64 = 46.0;
const PAD_RIGHT: f64 = 12.0;
const PAD_TOP: f64 = 12.0;
const PLOT_BOTTOM: f64 = 130.0;
const MAX_POINTS: usize = 240;

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// A trend of one item over `[from, to]`, time to scale (the whole window), downsampled to
/// at most [`MAX_POINTS`] bucket means. None when there are fewer than two points.
pub fn trend_chart(
    title: &str,
    unit: &str,
    data: &[(Millis, f64)],
    from: Millis,
    to: Millis,
    decimals: usize,
) -> Option<Chart> {
    let span_t = (to - from).max(1);
    let mut buckets: BTreeMap<i64, (f64, usize, Millis)> = BTreeMap::new();
    for &(t, v) in data {
        if t < from || t > to || !v.is_finite() {
            continue;
        }
        let b = ((t - from) as i128 * MAX_POINTS as i128 / span_t as i128) as i64;
        let e = buckets.entry(b).or_insert((0.0, 0, t));
        e.0 += v;
        e.1 += 1;
        e.2 = t;
    }
    let points: Vec<(Millis, f64)> = buckets
        .values()
        .map(|&(sum, n, t)| (t, sum / n as f64))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let mut vmin = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut vmax = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let flat = vmax <= vmin;
    let span = if flat {
        vmax.abs().max(1.0) * 0.2
    } else {
        vmax - vmin
    };
    vmin -= span * 0.1;
    vmax += span * 0.1;
    let plot_w = CHART_W - PAD_LEFT - PAD_RIGHT;
    let plot_h = PLOT_BOTTOM - PAD_TOP;
    let x = |t: Millis| PAD_LEFT + (t - from) as f64 / span_t as f64 * plot_w;
    let y = |v: f64| PAD_TOP + (vmax - v) / (vmax - vmin) * plot_h;
    let mid = (vmin + vmax) / 2.0;
    let grid_values = if flat {
        [vmax, mid, vmin]
    } else {
        [vmax - span * 0.1, mid, vmin + span * 0.1]
    };
    let grid = grid_values
        .into_iter()
        .map(|v| (fmt1(y(v)), format!("{v:.decimals$}")))
        .collect();
    // 1 h: times; 24 h: date and time; 7 d: dates.
    let label = |t: Millis| {
        let s = jst(t);
        if to - from > 2 * DAY {
            s.chars().skip(5).take(5).collect::<String>()
        } else if to - from > 2 * HOUR {
            s.chars().skip(5).collect::<String>()
        } else {
            s.chars().skip(11).collect::<String>()
        }
    };
    let xticks = vec![
        (fmt1(x(from)), label(from), "start"),
        (fmt1(x(to)), label(to), "end"),
    ];
    let path = points
        .iter()
        .map(|&(t, v)| format!("{},{}", fmt1(x(t)), fmt1(y(v))))
        .collect::<Vec<_>>()
        .join(" ");
    let last = points[points.len() - 1];
    let last_point = PointView {
        x: fmt1(x(last.0)),
        y: fmt1(y(last.1)),
        class: "",
        label: format!("{} {:.decimals$} {unit}", jst(last.0), last.1),
    };
    Some(Chart {
        title: title.to_string(),
        unit: unit.to_string(),
        aria: format!(
            "{title}: {} – {} ({}: {:.decimals$} {unit})",
            jst(from),
            jst(to),
            jst(last.0),
            last.1
        ),
        band: None,
        grid,
        xticks,
        series: vec![Series {
            class: "s0",
            name: title.to_string(),
            path,
            points: vec![last_point],
        }],
    })
}

fn measured(at: Millis, value: f64) -> renkei_icu_scores::Measured {
    renkei_icu_scores::Measured {
        value,
        at: Some(at),
        basis: None,
    }
}

fn component_name(tr: Tr, c: renkei_icu_scores::Component) -> &'static str {
    tr.t(&format!("icu.component.{}", crate::icu::component_id(c)))
}

fn sheet_view(
    tr: Tr,
    name: &'static str,
    basis: &'static str,
    sheet: &renkei_icu_scores::ScoreSheet,
    extra: String,
) -> ScoreView {
    ScoreView {
        name,
        basis,
        total: sheet.total,
        complete: sheet.complete,
        extra,
        components: sheet
            .components
            .iter()
            .map(|c| ComponentView {
                name: component_name(tr, c.component),
                points: c.points,
                sources: c
                    .sources
                    .iter()
                    .map(|s| {
                        let at = s.at.map(|t| format!(" ({})", jst(t))).unwrap_or_default();
                        format!("{} {}{at}", s.variable, (s.value * 100.0).round() / 100.0)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                note: c.note.unwrap_or("").to_string(),
            })
            .collect(),
    }
}

type ItemSeries = HashMap<String, Vec<renkei_icu_scores::Measured>>;

/// Every value of a stay in `[from, to]` per item, raw values and, for hours summarised
/// already, their minimum and maximum (what "worst" needs).
async fn series_between(
    store: &dyn Store,
    stay_id: &str,
    from: Millis,
    to: Millis,
) -> AppResult<ItemSeries> {
    let mut series: ItemSeries = HashMap::new();
    for v in store.icu().icu_values(stay_id, &[], from, to).await? {
        series
            .entry(v.item)
            .or_default()
            .push(measured(v.at, v.value));
    }
    for h in store.icu().icu_hourly(stay_id, from, to).await? {
        let e = series.entry(h.item).or_default();
        e.push(measured(h.hour, h.min));
        e.push(measured(h.hour, h.max));
    }
    Ok(series)
}

/// Blood gases: each PaO2 with the FiO2 (and PaCO2) nearest to it in time.
fn blood_gases(series: &ItemSeries) -> Vec<renkei_icu_scores::BloodGas> {
    let nearest = |item: &str, at: Option<Millis>| {
        series.get(item).and_then(|xs| {
            xs.iter()
                .min_by_key(|x| (x.at.unwrap_or(0) - at.unwrap_or(0)).abs())
                .map(|x| x.value)
        })
    };
    let mut gases = Vec::new();
    for pao2 in series.get("pao2").map(Vec::as_slice).unwrap_or_default() {
        if let Some(fio2) = nearest("fio2", pao2.at) {
            gases.push(renkei_icu_scores::BloodGas {
                fio2,
                pao2_mmhg: pao2.value,
                paco2_mmhg: nearest("paco2", pao2.at),
                at: pao2.at,
                basis: None,
            });
        }
    }
    gases
}

/// NEWS2 from the newest values; SOFA from the worst of the last 24 h; APACHE II from the
/// worst values of the first 24 h of the stay.
/// NEWS2 at each time a value of `series` arrives, from the newest value of every item so
/// far.
fn news2_history(series: &HashMap<String, Vec<(Millis, f64)>>, scale2: bool) -> Vec<(Millis, f64)> {
    let mut events: Vec<(Millis, &str, f64)> = series
        .iter()
        .flat_map(|(item, points)| points.iter().map(move |&(t, v)| (t, item.as_str(), v)))
        .collect();
    events.sort_by_key(|e| e.0);
    let mut current: HashMap<String, (Millis, f64)> = HashMap::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while i < events.len() && events[i].0 == at {
            current.insert(events[i].1.to_string(), (at, events[i].2));
            i += 1;
        }
        let result = icu_service::news2_of(&current, scale2);
        out.push((at, f64::from(result.sheet.total)));
    }
    out
}

async fn scores(
    store: &dyn Store,
    tr: Tr,
    o: &Opened,
    latest: &HashMap<String, (Millis, f64)>,
    birth_date: Option<&str>,
) -> AppResult<Vec<ScoreView>> {
    let role = o.view.role;
    let mut out = Vec::new();
    if role == IcuRole::Clerk {
        return Ok(out);
    }
    let details: serde_json::Value =
        serde_json::from_str(&o.stay.details).unwrap_or(serde_json::Value::Null);
    let scale2 = details
        .get("news2_scale2")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let news2 = icu_service::news2_of(latest, scale2);
    let risk = news2
        .risk
        .map(|r| tr.t(&format!("icu.risk.{}", super::icu_census::risk_code(r))))
        .unwrap_or_else(|| tr.t("icu.stay.risk_incomplete"));
    out.push(sheet_view(
        tr,
        "NEWS2",
        tr.t("icu.stay.basis_latest"),
        &news2.sheet,
        risk.to_string(),
    ));
    if role != IcuRole::Physician {
        return Ok(out);
    }
    // SOFA: the worst of the last 24 hours; an item not measured in that window (a lab
    // drawn yesterday morning) counts with its newest value, shown with its time.
    let end = o
        .stay
        .discharged_at
        .unwrap_or_else(renkei_domain::now_millis);
    let mut day = series_between(store, &o.stay.id, end - DAY, end).await?;
    for (item, &(at, v)) in latest {
        day.entry(item.clone())
            .or_insert_with(|| vec![measured(at, v)]);
    }
    let d = |item: &str| day.get(item).cloned().unwrap_or_default();
    let vaso_items = ["dopamine", "dobutamine", "epinephrine", "norepinephrine"];
    let vasopressors = if vaso_items.iter().any(|i| day.contains_key(*i)) {
        Some(renkei_icu_scores::sofa::VasopressorSeries {
            dopamine: d("dopamine"),
            dobutamine: d("dobutamine"),
            epinephrine: d("epinephrine"),
            norepinephrine: d("norepinephrine"),
        })
    } else {
        None
    };
    let sofa = renkei_icu_scores::sofa::score_worst(&renkei_icu_scores::sofa::SofaSeries {
        blood_gases: blood_gases(&day),
        respiratory_support: day
            .get("ventilated")
            .map(|vs| vs.iter().any(|v| v.value >= 0.5)),
        platelets: d("plt"),
        bilirubin_mg_dl: d("bilirubin"),
        mean_arterial_pressure: d("map"),
        vasopressors,
        gcs: d("gcs"),
        creatinine_mg_dl: d("creatinine"),
        urine_output_ml_day: d("urine"),
    });
    out.push(sheet_view(
        tr,
        "SOFA",
        tr.t("icu.stay.basis_day"),
        &sofa,
        String::new(),
    ));
    // APACHE II: the worst of the first 24 hours.
    let from = o.stay.admitted_at;
    let series = series_between(store, &o.stay.id, from, from + DAY).await?;
    let s = |item: &str| series.get(item).cloned().unwrap_or_default();
    let gases = blood_gases(&series);
    let age_years = birth_date.and_then(|b| {
        let admitted = chrono::DateTime::from_timestamp_millis(o.stay.admitted_at)?
            .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600)?)
            .date_naive();
        Some(super::patients::age_on(b, admitted) as f64)
    });
    let chronic: Vec<String> = details
        .get("chronic")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let qualifying = [
        "cirrhosis",
        "heart_failure_nyha4",
        "respiratory",
        "dialysis",
        "immunosuppression",
    ];
    use renkei_icu_scores::apache_ii::ChronicHealth;
    let admission = details
        .get("admission_type")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let chronic_health = if !chronic.iter().any(|c| qualifying.contains(&c.as_str())) {
        Some(ChronicHealth::Absent)
    } else {
        match admission {
            "medical" => Some(ChronicHealth::NonOperative),
            "unscheduled_surgical" => Some(ChronicHealth::EmergencyPostoperative),
            "scheduled_surgical" => Some(ChronicHealth::ElectivePostoperative),
            _ => None,
        }
    };
    let apache =
        renkei_icu_scores::apache_ii::score_worst(&renkei_icu_scores::apache_ii::ApacheIiSeries {
            temperature_c: {
                let mut t = s("temp");
                t.extend(s("temp_rectal"));
                t
            },
            mean_arterial_pressure: s("map"),
            heart_rate: s("hr"),
            respiratory_rate: s("rr"),
            blood_gases: gases,
            arterial_ph: s("ph"),
            venous_hco3: s("hco3"),
            sodium: s("na"),
            potassium: s("k"),
            creatinine_mg_dl: s("creatinine"),
            creatinine_umol_l: Vec::new(),
            haematocrit_pct: s("hct"),
            wbc: s("wbc"),
            gcs: s("gcs"),
            age_years,
            chronic_health,
            acute_renal_failure: None,
            barometric_pressure_mmhg: None,
        });
    out.push(sheet_view(
        tr,
        "APACHE II",
        tr.t("icu.stay.basis_first24"),
        &apache,
        String::new(),
    ));
    Ok(out)
}

async fn page(
    state: &SharedState,
    viewer: &Viewer,
    o: &Opened,
    range_q: Option<&str>,
    notice: Option<&str>,
    errors: Vec<String>,
) -> AppResult<StayPage> {
    let store = state.store.as_ref();
    let tr = viewer.tr();
    let role = o.view.role;
    let icu = store.icu();
    let banner = banner(store, tr, o).await?;
    let end = o
        .stay
        .discharged_at
        .unwrap_or_else(renkei_domain::now_millis);
    let (range, span) = range_of(range_q);
    let from = end - span;

    // Newest values.
    let mut latest: HashMap<String, (Millis, f64)> = HashMap::new();
    let mut latest_rows = Vec::new();
    let mut newest = icu.icu_latest(std::slice::from_ref(&o.stay.id)).await?;
    let order = |item: &str| {
        catalogue()
            .items()
            .iter()
            .position(|d| d.code == item)
            .unwrap_or(usize::MAX)
    };
    newest.sort_by_key(|v| order(&v.item));
    for v in newest {
        latest.insert(v.item.clone(), (v.at, v.value));
        if !role.sees_item(&v.item) {
            continue;
        }
        let (label, unit) = match catalogue().get(&v.item) {
            Some(d) => (item_label(tr, d), d.unit.display.clone()),
            None => (v.item.clone(), String::new()),
        };
        latest_rows.push(LatestRow {
            label,
            value: display_value(tr, &v.item, v.value),
            unit,
            at: jst(v.at),
        });
    }
    // Values seen only in the role's view count for scores only where the role sees them.
    latest.retain(|item, _| role.sees_item(item));

    // Trends.
    let trend_items: Vec<&str> = TREND_ITEMS
        .iter()
        .copied()
        .filter(|i| role.sees_item(i))
        .collect();
    let mut data: HashMap<String, Vec<(Millis, f64)>> = HashMap::new();
    if range == "7d" {
        // Hourly summaries exist for hours older than the raw retention; the hours after
        // the newest summary are still raw and are averaged per hour here, so the chart
        // has one point per hour either way.
        let mut summarised_until = from;
        for h in icu.icu_hourly(&o.stay.id, from, end).await? {
            summarised_until = summarised_until.max(h.hour + HOUR);
            data.entry(h.item).or_default().push((h.hour, h.mean));
        }
        let items: Vec<String> = trend_items.iter().map(|s| s.to_string()).collect();
        let mut hours: BTreeMap<(String, Millis), (f64, u32)> = BTreeMap::new();
        for v in icu
            .icu_values(&o.stay.id, &items, summarised_until, end)
            .await?
        {
            let e = hours
                .entry((v.item, v.at - v.at.rem_euclid(HOUR)))
                .or_insert((0.0, 0));
            e.0 += v.value;
            e.1 += 1;
        }
        for ((item, hour), (sum, n)) in hours {
            data.entry(item)
                .or_default()
                .push((hour, sum / f64::from(n)));
        }
        for d in data.values_mut() {
            d.sort_by_key(|p| p.0);
        }
    } else {
        let items: Vec<String> = trend_items.iter().map(|s| s.to_string()).collect();
        for v in icu.icu_values(&o.stay.id, &items, from, end).await? {
            data.entry(v.item).or_default().push((v.at, v.value));
        }
    }
    let mut charts = Vec::new();
    // NEWS2 over the same range, recomputed at every point from the values carried forward
    // (the sum of the parameters measured by then; the score table flags what is missing).
    if role != IcuRole::Clerk {
        let scale2 = serde_json::from_str::<serde_json::Value>(&o.stay.details)
            .ok()
            .and_then(|d| d.get("news2_scale2").and_then(|v| v.as_bool()))
            .unwrap_or(false);
        let history = news2_history(&data, scale2);
        if let Some(ch) = trend_chart("NEWS2", "", &history, from, end, 0) {
            charts.push(ch);
        }
    }
    for item in &trend_items {
        let Some(def) = catalogue().get(item) else {
            continue;
        };
        if let Some(points) = data.get(*item) {
            if let Some(ch) = trend_chart(
                &item_label(tr, def),
                &def.unit.display,
                points,
                from,
                end,
                def.decimals as usize,
            ) {
                charts.push(ch);
            }
        }
    }

    // Labs: the newest value per item and JST day, over the last 7 days.
    let lab_items: Vec<&ItemDef> = catalogue()
        .of_kind(ItemKind::Lab)
        .filter(|d| role.sees_item(&d.code))
        .collect();
    let lab_codes: Vec<String> = lab_items.iter().map(|d| d.code.clone()).collect();
    let mut lab: BTreeMap<String, HashMap<String, (Millis, f64)>> = BTreeMap::new();
    if !lab_codes.is_empty() {
        let lab_from = end - 7 * DAY;
        for v in icu
            .icu_values(&o.stay.id, &lab_codes, lab_from, end)
            .await?
        {
            let cell = lab.entry(icu_day(v.at)).or_default();
            if cell.get(&v.item).is_none_or(|&(t, _)| t <= v.at) {
                cell.insert(v.item, (v.at, v.value));
            }
        }
        for h in icu.icu_hourly(&o.stay.id, lab_from, end).await? {
            if lab_codes.contains(&h.item) {
                let cell = lab.entry(icu_day(h.hour)).or_default();
                cell.entry(h.item).or_insert((h.hour, h.mean));
            }
        }
    }
    let lab_days: Vec<String> = lab.keys().rev().cloned().collect();
    let lab_rows = lab_items
        .iter()
        .filter(|d| lab.values().any(|day| day.contains_key(&d.code)))
        .map(|d| {
            (
                item_label(tr, d),
                d.unit.display.clone(),
                lab_days
                    .iter()
                    .map(|day| {
                        lab.get(day)
                            .and_then(|m| m.get(&d.code))
                            .map(|&(_, v)| d.format(v))
                            .unwrap_or_default()
                    })
                    .collect(),
            )
        })
        .collect();

    let birth = store
        .get_patient_record(&o.stay.record_id)
        .await?
        .map(|p| p.birth_date);
    let scores = scores(store, tr, o, &latest, birth.as_deref()).await?;

    let manual = MANUAL_ITEMS
        .iter()
        .filter(|i| role.sees_item(i))
        .filter_map(|&item| {
            let def = catalogue().get(item)?;
            Some(ManualField {
                item,
                label: item_label(tr, def),
                unit: def.unit.display.clone(),
                kind: match item {
                    "acvpu" => "acvpu",
                    "o2_therapy" | "ventilated" => "yesno",
                    _ => "number",
                },
            })
        })
        .collect();

    let rounds_raw = icu.icu_rounds(&o.stay.id).await?;
    let calls_raw = icu.icu_calls(std::slice::from_ref(&o.stay.id), 100).await?;
    let names = load_names(
        store,
        rounds_raw
            .iter()
            .map(|r| r.by_user.clone())
            .chain(calls_raw.iter().map(|c| c.opened_by.clone()))
            .chain(calls_raw.iter().filter_map(|c| c.closed_by.clone())),
    )
    .await;
    let rounds = rounds_raw
        .iter()
        .rev()
        .map(|r| {
            let done: HashMap<String, bool> =
                serde_json::from_str(&r.checklist).unwrap_or_default();
            RoundView {
                day: r.day.clone(),
                role: tr.t(if r.role == "intensivist" {
                    "icu.round.intensivist"
                } else {
                    "icu.round.nurse"
                }),
                by: user_names(&names, &r.by_user),
                at: jst(r.at),
                done: CHECKLIST
                    .iter()
                    .map(|&k| {
                        if done.get(k).copied().unwrap_or(false) {
                            "✓"
                        } else {
                            "–"
                        }
                    })
                    .collect(),
                note: r.note.clone(),
            }
        })
        .collect();
    let calls = calls_raw
        .iter()
        .map(|c| CallView {
            id: c.id.clone(),
            direction: tr.t(if c.direction == "call" {
                "icu.call.call"
            } else {
                "icu.call.consult"
            }),
            reason: c.reason.clone(),
            advice: c.advice.clone(),
            outcome: c.outcome.clone(),
            opened: jst(c.opened_at),
            opened_by: user_names(&names, &c.opened_by),
            closed: c.closed_at.map(jst),
            closed_by: c
                .closed_by
                .as_deref()
                .map(|u| user_names(&names, u))
                .unwrap_or_default(),
        })
        .collect();

    let now = renkei_domain::now_millis();
    let alerts = icu
        .icu_open_alerts()
        .await?
        .into_iter()
        .filter(|a| a.stay_id.as_deref() == Some(o.stay.id.as_str()) && role.hears(&a.audience))
        .map(|a| AlertView {
            id: a.id,
            severity: a.severity,
            text: a.text,
            raised: jst(a.raised_at),
            acked: a.acked_at.is_some() && a.snoozed_until.is_none_or(|t| t > now),
        })
        .collect();

    let history = icu
        .icu_stays_of_bed(&o.bed.id, 20)
        .await?
        .into_iter()
        .map(|s| HistoryRow {
            current: s.id == o.stay.id,
            id: s.id,
            local_id: s.local_id,
            admitted: jst(s.admitted_at),
            discharged: jst_opt(s.discharged_at),
        })
        .collect();

    let mut c = Chrome::for_viewer(state, viewer, "icu.stay.title").with_notice(notice);
    c.narrow = false;
    let is_open = o.stay.discharged_at.is_none();
    Ok(StayPage {
        c,
        stay_id: o.stay.id.clone(),
        banner,
        is_open,
        role: role.code(),
        range,
        ranges: [
            ("1h", "icu.stay.range_1h"),
            ("24h", "icu.stay.range_24h"),
            ("7d", "icu.stay.range_7d"),
        ]
        .into_iter()
        .map(|(code, key)| (code, tr.t(key), code == range))
        .collect(),
        latest: latest_rows,
        charts,
        lab_days,
        lab_rows,
        scores,
        manual,
        round_role: if is_open {
            round_role(role).map(|r| tr.t(&format!("icu.round.{r}")))
        } else {
            None
        },
        checklist: CHECKLIST
            .iter()
            .map(|&k| (k, tr.t(&format!("icu.check.{k}"))))
            .collect(),
        rounds,
        calls,
        directions: if is_open {
            directions(&o.view, &o.unit)
                .into_iter()
                .map(|d| (d, tr.t(&format!("icu.call.{d}"))))
                .collect()
        } else {
            Vec::new()
        },
        may_close_calls: role != IcuRole::Clerk,
        may_discharge: is_open && may_discharge(&o.view, &o.unit),
        history,
        alerts,
        errors,
    })
}

fn jst_opt(t: Option<Millis>) -> String {
    t.map(jst).unwrap_or_default()
}

/// `GET /icu/stays/{id}`
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<StayQuery>,
) -> AppResult<Response> {
    let o = open(&state, &viewer, &id, "icu.stay.view").await?;
    let page = page(
        &state,
        &viewer,
        &o,
        q.range.as_deref(),
        q.notice.as_deref(),
        Vec::new(),
    )
    .await?;
    Ok(render(&page)?.into_response())
}

/// The page again with the form's problems; nothing was stored.
async fn refused(
    state: &SharedState,
    viewer: &Viewer,
    o: &Opened,
    errors: Vec<String>,
) -> AppResult<Response> {
    let page = page(state, viewer, o, None, None, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

fn saved(stay_id: &str, anchor: &str) -> Response {
    Redirect::to(&format!(
        "/icu/stays/{stay_id}?notice=notice.icu_saved#{anchor}"
    ))
    .into_response()
}

/// A form as its (name, value) pairs (checkbox groups repeat a name).
type Pairs = Vec<(String, String)>;

fn field<'a>(form: &'a Pairs, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn stay_audit(
    viewer: &Viewer,
    action: &str,
    stay: &IcuStay,
    detail: serde_json::Value,
) -> renkei_domain::audit::AuditEntry {
    let mut audit = viewer
        .audit(action, Outcome::Success)
        .target("icu_stay", &stay.id)
        .detail(detail);
    audit.patient_id = Some(stay.person_id.clone());
    audit
}

/// `POST /icu/stays/{id}/values` — manual entries (GCS, ACVPU, oxygen, ventilation,
/// vasoactive doses). Each value is checked against the item's plausible range; any
/// problem refuses the whole form.
pub async fn record_values(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let o = open(&state, &viewer, &id, "icu.stay.write").await?;
    let tr = viewer.tr();
    let role = o.view.role;
    let mut errors = Vec::new();
    if o.stay.discharged_at.is_some() {
        errors.push(tr.t("icu.stay.discharged_already").to_string());
    }
    let now = renkei_domain::now_millis();
    let mut values = Vec::new();
    for (name, raw) in &form {
        if name == "csrf" {
            continue;
        }
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let Some(def) = MANUAL_ITEMS
            .iter()
            .find(|i| *i == name && role.sees_item(i))
            .and_then(|i| catalogue().get(i))
        else {
            errors.push(tr.t("icu.stay.unknown_item").to_string());
            continue;
        };
        let label = item_label(tr, def);
        match crate::icu::parse_typed_number(raw) {
            None => errors.push(format!("{label}: {}", tr.t("icu.stay.not_a_number"))),
            Some(v) if !def.is_plausible(v) => errors.push(format!(
                "{label}: {} ({})",
                tr.t("icu.stay.out_of_range"),
                def.plausible
            )),
            Some(v) => values.push(IcuValue {
                stay_id: o.stay.id.clone(),
                item: def.code.clone(),
                at: now,
                value: v,
                source: "manual".into(),
            }),
        }
    }
    if values.is_empty() && errors.is_empty() {
        errors.push(tr.t("icu.stay.no_values").to_string());
    }
    if !errors.is_empty() {
        return refused(&state, &viewer, &o, errors).await;
    }
    // Threshold rules (GCS) see manual values as the monitor's: two in a row raise.
    let store = state.store.as_ref();
    let previous: HashMap<String, f64> = store
        .icu()
        .icu_latest(std::slice::from_ref(&o.stay.id))
        .await?
        .into_iter()
        .map(|v| (v.item, v.value))
        .collect();
    let newest: HashMap<String, (Millis, f64)> = values
        .iter()
        .map(|v| (v.item.clone(), (v.at, v.value)))
        .collect();
    let open_rules: HashSet<String> = store
        .icu()
        .icu_open_alerts()
        .await?
        .into_iter()
        .filter(|a| a.stay_id.as_deref() == Some(o.stay.id.as_str()))
        .map(|a| a.rule)
        .collect();
    let rules = &state.config.icu_alert_rules;
    let window = icu_service::longest_trend_window(rules);
    let trend_items = icu_service::trend_items(rules);
    let mut history = if window > 0 && !trend_items.is_empty() {
        let now = renkei_domain::now_millis();
        icu_service::StayHistory::from_values(
            &store
                .icu()
                .icu_values(&o.stay.id, &trend_items, now - window, now)
                .await?,
        )
    } else {
        icu_service::StayHistory::default()
    };
    let mut changes = IcuAlertChanges::default();
    icu_service::evaluate_thresholds(
        rules,
        &o.stay,
        &previous,
        &newest,
        &mut history,
        &open_rules,
        &mut changes,
    );
    let items: Vec<&str> = values.iter().map(|v| v.item.as_str()).collect();
    let audit = stay_audit(
        &viewer,
        "icu.values.record",
        &o.stay,
        serde_json::json!({ "items": items }),
    );
    store
        .icu()
        .icu_record_values(values, changes, audit)
        .await?;
    icu_service::announce(store, std::iter::once(o.stay.id.as_str())).await;
    Ok(saved(&o.stay.id, "manual"))
}

/// `POST /icu/stays/{id}/rounds` — today's round by the intensivist (physicians) or the
/// critical-care nurse (nurses), with the checklist.
pub async fn add_round(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let o = open(&state, &viewer, &id, "icu.stay.write").await?;
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let role = round_role(o.view.role);
    if role.is_none() {
        errors.push(tr.t("icu.stay.round_not_allowed").to_string());
    }
    if o.stay.discharged_at.is_some() {
        errors.push(tr.t("icu.stay.discharged_already").to_string());
    }
    let mut done: BTreeMap<&str, bool> = CHECKLIST.iter().map(|&k| (k, false)).collect();
    for (name, value) in &form {
        if name == "check" {
            match CHECKLIST.iter().find(|k| **k == value) {
                Some(k) => {
                    done.insert(k, true);
                }
                None => errors.push(tr.t("icu.stay.unknown_check").to_string()),
            }
        } else if name != "csrf" && name != "note" {
            errors.push(tr.t("icu.stay.unknown_item").to_string());
        }
    }
    let note = form_text(
        tr,
        &mut errors,
        field(&form, "note"),
        "icu.stay.note",
        None,
        MAX_NOTE,
    );
    if !errors.is_empty() {
        return refused(&state, &viewer, &o, errors).await;
    }
    let now = renkei_domain::now_millis();
    let round = IcuRound {
        id: ids::new_id(),
        stay_id: o.stay.id.clone(),
        day: icu_day(now),
        role: role.expect("checked").to_string(),
        by_user: viewer.user.id.clone(),
        at: now,
        checklist: serde_json::to_string(&done).unwrap_or_default(),
        note,
    };
    let audit = stay_audit(
        &viewer,
        "icu.round.add",
        &o.stay,
        serde_json::json!({ "round": round.id, "role": round.role, "day": round.day }),
    );
    state.store.icu().icu_add_round(round, audit).await?;
    Ok(saved(&o.stay.id, "rounds"))
}

/// `POST /icu/stays/{id}/calls` — opens a call (centre → bedside) or a consult (bedside →
/// centre) with its reason.
pub async fn open_call(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let o = open(&state, &viewer, &id, "icu.stay.write").await?;
    let tr = viewer.tr();
    let mut errors = Vec::new();
    let direction = field(&form, "direction");
    if !directions(&o.view, &o.unit).contains(&direction) {
        errors.push(tr.t("icu.call.direction_not_allowed").to_string());
    }
    if o.stay.discharged_at.is_some() {
        errors.push(tr.t("icu.stay.discharged_already").to_string());
    }
    let reason = form_text(
        tr,
        &mut errors,
        field(&form, "reason"),
        "icu.call.reason",
        Some("icu.call.reason_required"),
        MAX_REASON,
    );
    if !errors.is_empty() {
        return refused(&state, &viewer, &o, errors).await;
    }
    let call = IcuCall {
        id: ids::new_id(),
        stay_id: o.stay.id.clone(),
        direction: direction.to_string(),
        reason,
        advice: String::new(),
        outcome: String::new(),
        opened_by: viewer.user.id.clone(),
        opened_at: renkei_domain::now_millis(),
        closed_by: None,
        closed_at: None,
    };
    let audit = stay_audit(
        &viewer,
        "icu.call.open",
        &o.stay,
        serde_json::json!({ "call": call.id, "direction": call.direction }),
    );
    state.store.icu().icu_open_call(call, audit).await?;
    Ok(saved(&o.stay.id, "calls"))
}

/// `POST /icu/stays/{id}/calls/{call}/close` — advice and outcome; closes the call.
pub async fn close_call(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((id, call_id)): Path<(String, String)>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let o = open(&state, &viewer, &id, "icu.stay.write").await?;
    let tr = viewer.tr();
    let store = state.store.as_ref();
    let calls = store
        .icu()
        .icu_calls(std::slice::from_ref(&o.stay.id), 500)
        .await?;
    let Some(call) = calls.into_iter().find(|c| c.id == call_id) else {
        return Err(AppError::NotFound);
    };
    let mut errors = Vec::new();
    if o.view.role == IcuRole::Clerk {
        errors.push(tr.t("icu.call.close_not_allowed").to_string());
    }
    if call.closed_at.is_some() {
        errors.push(tr.t("icu.call.closed_already").to_string());
    }
    let advice = form_text(
        tr,
        &mut errors,
        field(&form, "advice"),
        "icu.call.advice",
        None,
        MAX_NOTE,
    );
    let outcome = form_text(
        tr,
        &mut errors,
        field(&form, "outcome"),
        "icu.call.outcome",
        Some("icu.call.outcome_required"),
        MAX_REASON,
    );
    if !errors.is_empty() {
        return refused(&state, &viewer, &o, errors).await;
    }
    let audit = stay_audit(
        &viewer,
        "icu.call.close",
        &o.stay,
        serde_json::json!({ "call": call.id }),
    );
    match store
        .icu()
        .icu_close_call(
            &call.id,
            &advice,
            &outcome,
            &viewer.user.id,
            renkei_domain::now_millis(),
            audit,
        )
        .await
    {
        Ok(()) => Ok(saved(&o.stay.id, "calls")),
        Err(StoreError::InvalidState(_)) => {
            refused(
                &state,
                &viewer,
                &o,
                vec![tr.t("icu.call.closed_already").to_string()],
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /icu/stays/{id}/discharge` — discharge with a summary (after consultation).
pub async fn discharge(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> AppResult<Response> {
    viewer.check_csrf(field(&form, "csrf"))?;
    let o = open(&state, &viewer, &id, "icu.stay.write").await?;
    let tr = viewer.tr();
    let mut errors = Vec::new();
    if !may_discharge(&o.view, &o.unit) {
        errors.push(tr.t("icu.discharge.not_allowed").to_string());
    }
    if o.stay.discharged_at.is_some() {
        errors.push(tr.t("icu.stay.discharged_already").to_string());
    }
    let summary = form_text(
        tr,
        &mut errors,
        field(&form, "summary"),
        "icu.discharge.summary",
        Some("icu.discharge.summary_required"),
        MAX_SUMMARY,
    );
    if !errors.is_empty() {
        return refused(&state, &viewer, &o, errors).await;
    }
    let store = state.store.as_ref();
    let audit = stay_audit(
        &viewer,
        "icu.discharge",
        &o.stay,
        serde_json::json!({ "bed": o.bed.label }),
    );
    match store
        .icu()
        .icu_discharge(
            &o.stay.id,
            renkei_domain::now_millis(),
            &viewer.user.id,
            &summary,
            audit,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::InvalidState(_)) => {
            return refused(
                &state,
                &viewer,
                &o,
                vec![tr.t("icu.stay.discharged_already").to_string()],
            )
            .await
        }
        Err(e) => return Err(e.into()),
    }
    // Ingest writers and census screens on every node drop the stay.
    let _ = store
        .publish_event(icu_service::CONFIG_TOPIC, &o.stay.id)
        .await;
    Ok(saved(&o.stay.id, "discharge"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trends_scale_to_the_window_and_downsample() {
        let from = 1_800_000_000_000;
        let data: Vec<(Millis, f64)> = (0..3_000)
            .map(|i| (from + i * 20_000, 60.0 + (i % 10) as f64))
            .collect();
        let ch = trend_chart("HR", "/min", &data, from, from + DAY, 0).unwrap();
        let points = ch.series[0].path.split(' ').count();
        assert!(points <= MAX_POINTS + 1 && points > 100, "{points}");
        for p in ch.series[0].path.split(' ') {
            let (x, y) = p.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!((PAD_LEFT..=CHART_W - PAD_RIGHT).contains(&x), "{x}");
            assert!((PAD_TOP..=PLOT_BOTTOM).contains(&y), "{y}");
        }
        assert!(trend_chart("HR", "/min", &data[..1], from, from + DAY, 0).is_none());
        // A flat line still gets three distinct grid labels.
        let flat = [(from + 60_000, 93.0), (from + 120_000, 93.0)];
        let ch = trend_chart("SpO2", "%", &flat, from, from + HOUR, 0).unwrap();
        let labels: std::collections::HashSet<&str> =
            ch.grid.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels.len(), 3, "{:?}", ch.grid);
        assert_eq!(ch.xticks[0].1.len(), 5, "an hour shows times");
    }

    #[test]
    fn free_text_limits() {
        assert!(text_ok("改善\n継続観察", 10));
        assert!(!text_ok(&"あ".repeat(11), 10));
        assert!(!text_ok("a\u{0}b", 10));
    }
}

#[cfg(test)]
mod news2_history_tests {
    use super::*;

    #[test]
    fn news2_follows_each_new_value() {
        let mut series = HashMap::new();
        series.insert("hr".to_string(), vec![(0, 80.0), (120_000, 135.0)]);
        series.insert("rr".to_string(), vec![(0, 16.0), (60_000, 26.0)]);
        // hr 80 and rr 16 score 0; rr 26 scores 3; then hr 135 adds 3.
        assert_eq!(
            news2_history(&series, false),
            vec![(0, 0.0), (60_000, 3.0), (120_000, 6.0)]
        );
        assert!(news2_history(&HashMap::new(), false).is_empty());
    }
}
