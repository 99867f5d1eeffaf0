//! 在宅ケア記録 — home vital signs and care records at `/patients/{id}/care-log`: what a
//! nurse or care worker records at a visit (vital signs, food and fluid intake, excretion,
//! sleep, BPSD notes), graphs over time, and the patient's own alert limits; a value
//! outside them notifies the whole care team in the transaction that stores it.
//!
//! Access is the record's (`record::open`: the facility's own registration or an active
//! care-team membership, consent categories as a scope); every view is an audited read.
//! Data is FHIR (see `renkei_core::care_log`), written through the one clinical write path.

use super::record::{self, Chart, Header, RecordAccess};
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
use renkei_core::care_log::{
    self as care, care_item_of, is_limits_goal, Limit, Limits, CARE_ITEMS, LIMIT_MEASURES,
};
use renkei_core::notify::TeamDirectory;
use renkei_domain::audit::Outcome;
use renkei_domain::{now_millis, Lang};
use renkei_storage::fhir::FhirRow;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

const LOINC: &str = "http://loinc.org";
const BP_PANEL: &str = "85354-9";
/// Visits shown in the table (the charts use every value).
const MAX_VISITS: usize = 60;

/// The fields of one visit as the form has them.
#[derive(Deserialize, Default, Clone)]
pub struct CareLogForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub at: String,
    #[serde(flatten)]
    pub values: HashMap<String, String>,
}

impl CareLogForm {
    fn value(&self, field: &str) -> &str {
        self.values.get(field).map(String::as_str).unwrap_or("")
    }
}

/// One visit: everything recorded at one time.
pub struct VisitView {
    pub anchor: String,
    pub when: String,
    pub source: String,
    /// (field, shown value, outside the limits)
    pub cells: Vec<(String, bool)>,
    pub note: String,
}

pub struct LimitRow {
    pub field: &'static str,
    pub label: String,
    pub unit: &'static str,
    pub low: String,
    pub high: String,
}

pub struct LimitsHistory {
    pub when: String,
    pub source: String,
    pub summary: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "care_log.html")]
struct CareLogPage {
    c: Chrome,
    person_id: String,
    header: Header,
    own_only: bool,
    may_record: bool,
    columns: Vec<String>,
    visits: Vec<VisitView>,
    charts: Vec<Chart>,
    limit_rows: Vec<LimitRow>,
    limits_set: Option<LimitsHistory>,
    limits_history: Vec<LimitsHistory>,
    limit_note: String,
    form: CareLogForm,
    vital_fields: Vec<(&'static str, String, &'static str)>,
    care_fields: Vec<(&'static str, String, &'static str)>,
    errors: Vec<String>,
    limit_errors: Vec<String>,
    max_note: usize,
}

/// Values of one visit by field, with the note, its first resource id and source.
#[derive(Default)]
struct Visit {
    at: i64,
    anchor: String,
    source: String,
    values: BTreeMap<&'static str, f64>,
    note: String,
}

fn label(tr: Tr, ja: &'static str, en: &'static str) -> String {
    match tr.0 {
        Lang::Ja => ja.to_string(),
        Lang::En => en.to_string(),
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn coding_codes(concept: &Value) -> Vec<(String, String)> {
    concept["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["system"].as_str().unwrap_or_default().to_string(),
                c["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The limit field of a vital-sign LOINC code.
fn vital_field(codes: &[(String, String)]) -> Option<&'static str> {
    codes.iter().find_map(|(system, code)| {
        (system == LOINC)
            .then(|| LIMIT_MEASURES.iter().find(|m| m.loinc == code))
            .flatten()
            .map(|m| m.field)
    })
}

/// The visits in the rows (newest first) and the newest limits Goal with older ones.
fn read_rows(
    rows: &[FhirRow],
    names: &HashMap<String, String>,
) -> (Vec<Visit>, Vec<(Limits, i64, String)>) {
    let mut visits: BTreeMap<(i64, String), Visit> = BTreeMap::new();
    let mut goals = Vec::new();
    for row in rows {
        let Ok(v) = serde_json::from_str::<Value>(&row.content) else {
            continue;
        };
        let source = row
            .source_facility_id
            .as_ref()
            .and_then(|f| names.get(f))
            .cloned()
            .unwrap_or_default();
        if row.resource_type == "Goal" {
            if is_limits_goal(&v) && v["lifecycleStatus"] == "active" {
                goals.push((Limits::from_goal(&v), row.last_updated, source));
            }
            continue;
        }
        let Some(at) = v["effectiveDateTime"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
        else {
            continue;
        };
        if matches!(v["status"].as_str(), Some("entered-in-error" | "cancelled")) {
            continue;
        }
        let codes = coding_codes(&v["code"]);
        let mut found: Vec<(&'static str, f64)> = Vec::new();
        let mut note = None;
        if codes.iter().any(|(s, c)| s == LOINC && c == BP_PANEL) {
            for comp in v["component"].as_array().into_iter().flatten() {
                if let (Some(f), Some(x)) = (
                    vital_field(&coding_codes(&comp["code"])),
                    comp["valueQuantity"]["value"].as_f64(),
                ) {
                    found.push((f, x));
                }
            }
        } else if let Some(f) = vital_field(&codes) {
            if let Some(x) = v["valueQuantity"]["value"].as_f64() {
                found.push((f, x));
            }
        } else if let Some(item) = codes.iter().find_map(|(s, c)| care_item_of(s, c)) {
            if let Some(x) = v["valueQuantity"]["value"].as_f64() {
                found.push((item.field, x));
            }
        } else if codes
            .iter()
            .any(|(s, c)| s == care::CARE_RECORD_SYSTEM && c == care::BPSD_CODE)
        {
            note = v["valueString"].as_str().map(str::to_string);
        } else {
            continue;
        }
        let visit = visits.entry((at, source.clone())).or_insert_with(|| Visit {
            at,
            anchor: row.id.clone(),
            source: source.clone(),
            ..Default::default()
        });
        // The anchor is the visit's first resource (by id order of creation is unknown;
        // the smallest id is stable).
        if row.id < visit.anchor {
            visit.anchor = row.id.clone();
        }
        visit.values.extend(found);
        if let Some(n) = note {
            visit.note = n;
        }
    }
    goals.sort_by_key(|g| std::cmp::Reverse(g.1));
    let mut list: Vec<Visit> = visits.into_values().collect();
    list.sort_by_key(|v| std::cmp::Reverse(v.at));
    (list, goals)
}

fn limits_summary(tr: Tr, limits: &Limits) -> String {
    limits
        .limits
        .iter()
        .filter_map(|l| {
            let m = care::measure(l.field)?;
            let range = match (l.low, l.high) {
                (Some(lo), Some(hi)) => format!("{}–{}", number(lo), number(hi)),
                (Some(lo), None) => format!("≥{}", number(lo)),
                (None, Some(hi)) => format!("≤{}", number(hi)),
                (None, None) => return None,
            };
            Some(format!(
                "{} {range} {}",
                label(tr, m.label_ja, m.label_en),
                m.unit
            ))
        })
        .collect::<Vec<_>>()
        .join("、")
}

fn outside(limits: Option<&Limits>, field: &str, v: f64) -> bool {
    limits.is_some_and(|l| !l.breaches(&[(field, v)]).is_empty())
}

/// Renders the page (200, or 400 with `errors`).
#[allow(clippy::too_many_arguments)]
async fn page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    form: CareLogForm,
    errors: Vec<String>,
    limit_errors: Vec<String>,
    limit_form: Option<Limits>,
    notice: Option<&str>,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let (rows, _) = record::person_rows(
        state,
        &ra.person,
        &ra.scope,
        &[("Observation", Vec::new()), ("Goal", Vec::new())],
    )
    .await?;
    let mut names: HashMap<String, String> = HashMap::new();
    for f in rows.iter().filter_map(|r| r.source_facility_id.as_ref()) {
        if !names.contains_key(f) {
            let name = state
                .store
                .get_facility(f)
                .await?
                .map(|f| f.name)
                .unwrap_or_default();
            names.insert(f.clone(), name);
        }
    }
    let (visits, goals) = read_rows(&rows, &names);
    record::audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": "page:/patients/{id}/care-log",
            "basis": if ra.access.own_registration { "own_registration" } else { "care_team" },
            "visits": visits.len(),
            "limits": !goals.is_empty(),
        })),
    )
    .await?;
    let current = goals.first().map(|g| &g.0);

    // Table columns: the fields any shown visit has, in form order.
    let order: Vec<(&'static str, String, &'static str)> = LIMIT_MEASURES
        .iter()
        .map(|m| (m.field, label(tr, m.label_ja, m.label_en), m.unit))
        .chain(
            CARE_ITEMS
                .iter()
                .map(|i| (i.field, label(tr, i.label_ja, i.label_en), i.unit)),
        )
        .collect();
    let shown: Vec<&Visit> = visits.iter().take(MAX_VISITS).collect();
    let used: Vec<&(&'static str, String, &'static str)> = order
        .iter()
        .filter(|(f, _, _)| shown.iter().any(|v| v.values.contains_key(f)))
        .collect();
    let columns = used.iter().map(|(_, l, u)| format!("{l} {u}")).collect();
    let visit_views = shown
        .iter()
        .map(|v| VisitView {
            anchor: v.anchor.clone(),
            when: jst(v.at),
            source: v.source.clone(),
            cells: used
                .iter()
                .map(|(f, _, _)| match v.values.get(f) {
                    Some(&x) => (number(x), outside(current, f, x)),
                    None => (String::new(), false),
                })
                .collect(),
            note: v.note.clone(),
        })
        .collect();

    // Charts, oldest to newest, with the patient's band where one is set.
    let series = |fields: &[&'static str]| -> Vec<(i64, usize, f64, bool)> {
        visits
            .iter()
            .flat_map(|v| {
                fields.iter().enumerate().filter_map(move |(i, f)| {
                    v.values
                        .get(f)
                        .map(|&x| (v.at, i, x, outside(current, f, x)))
                })
            })
            .collect()
    };
    let band = |field: &str| {
        current
            .and_then(|l| l.limits.iter().find(|x| x.field == field))
            .map(|l| (l.low, l.high))
            .unwrap_or((None, None))
    };
    let mut charts = Vec::new();
    let bp_names = [tr.t("care_log.systolic"), tr.t("care_log.diastolic")];
    charts.extend(record::series_chart(
        tr.t("care_log.bp"),
        "mmHg",
        &bp_names,
        &series(&["systolic", "diastolic"]),
        (None, None),
    ));
    for m in LIMIT_MEASURES
        .iter()
        .filter(|m| !matches!(m.field, "systolic" | "diastolic"))
    {
        charts.extend(record::series_chart(
            &label(tr, m.label_ja, m.label_en),
            m.unit,
            &[],
            &series(&[m.field]),
            band(m.field),
        ));
    }
    let meal_names = [tr.t("care_log.staple"), tr.t("care_log.side")];
    charts.extend(record::series_chart(
        tr.t("care_log.meals"),
        "%",
        &meal_names,
        &series(&["meal_staple", "meal_side"]),
        (None, None),
    ));
    for item in CARE_ITEMS.iter().filter(|i| !i.field.starts_with("meal_")) {
        charts.extend(record::series_chart(
            &label(tr, item.label_ja, item.label_en),
            item.unit,
            &[],
            &series(&[item.field]),
            (None, None),
        ));
    }

    let shown_limits = limit_form.as_ref().or(current);
    let limit_rows = LIMIT_MEASURES
        .iter()
        .map(|m| {
            let l = shown_limits.and_then(|l| l.limits.iter().find(|x| x.field == m.field));
            LimitRow {
                field: m.field,
                label: label(tr, m.label_ja, m.label_en),
                unit: m.unit,
                low: l.and_then(|l| l.low).map(number).unwrap_or_default(),
                high: l.and_then(|l| l.high).map(number).unwrap_or_default(),
            }
        })
        .collect();
    let history = |(limits, at, source): &(Limits, i64, String)| LimitsHistory {
        when: jst(*at),
        source: source.clone(),
        summary: limits_summary(tr, limits),
        note: limits.note.clone(),
    };
    let status = if errors.is_empty() && limit_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = render(&CareLogPage {
        c: Chrome::for_viewer(state, viewer, "care_log.title").with_notice(notice),
        person_id: ra.person.clone(),
        header: record::header(state, viewer, &ra.person).await?,
        own_only: ra.access.shared.is_empty(),
        may_record: ra.may_contribute() && record::records_care(viewer.user.profession),
        columns,
        visits: visit_views,
        charts,
        limit_rows,
        limits_set: goals.first().map(history),
        limits_history: goals.iter().skip(1).take(10).map(history).collect(),
        limit_note: shown_limits.map(|l| l.note.clone()).unwrap_or_default(),
        form,
        vital_fields: LIMIT_MEASURES
            .iter()
            .map(|m| (m.field, label(tr, m.label_ja, m.label_en), m.unit))
            .collect(),
        care_fields: CARE_ITEMS
            .iter()
            .map(|i| (i.field, label(tr, i.label_ja, i.label_en), i.unit))
            .collect(),
        errors,
        limit_errors,
        max_note: care::MAX_NOTE_CHARS,
    })?;
    Ok((status, body).into_response())
}

#[derive(Deserialize, Default)]
pub struct CareLogQuery {
    msg: Option<String>,
}

/// `GET /patients/{id}/care-log`.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<CareLogQuery>,
) -> AppResult<Response> {
    let ra = record::open(&state, &viewer, &person_id, "page:/patients/{id}/care-log").await?;
    if ra.person != person_id {
        return Ok(Redirect::to(&format!("/patients/{}/care-log", ra.person)).into_response());
    }
    let form = CareLogForm {
        at: record::datetime_local(now_millis()),
        ..Default::default()
    };
    page(
        &state,
        &viewer,
        &ra,
        form,
        Vec::new(),
        Vec::new(),
        None,
        q.msg.as_deref(),
    )
    .await
}

/// The newest limits of the person, as the page shows them.
async fn current_limits(state: &SharedState, ra: &RecordAccess) -> AppResult<Option<Limits>> {
    let (rows, _) =
        record::person_rows(state, &ra.person, &ra.scope, &[("Goal", Vec::new())]).await?;
    let (_, goals) = read_rows(&rows, &HashMap::new());
    Ok(goals.into_iter().next().map(|g| g.0))
}

/// The checked values of a visit form: time, vital signs, care items, note.
type Visited = (
    i64,
    Vec<(&'static str, f64)>,
    Vec<(&'static str, f64)>,
    String,
);

fn check_visit(
    tr: Tr,
    form: &CareLogForm,
    now: i64,
    not_before: i64,
) -> Result<Visited, Vec<String>> {
    let lang = tr.0;
    let mut errors = Vec::new();
    let mut read = |field: &'static str, name: String, unit: &str, min: f64, max: f64| {
        let text = form.value(field).trim();
        if text.is_empty() {
            return None;
        }
        match record::parse_number(text) {
            None => {
                errors.push(format!("{name}: {}", tr.t("record.not_a_number")));
                None
            }
            Some(v) if v < min || v > max => {
                errors.push(record::range_message(lang, &name, min, max, unit));
                None
            }
            Some(v) => Some((field, v)),
        }
    };
    let vitals: Vec<(&'static str, f64)> = LIMIT_MEASURES
        .iter()
        .filter_map(|m| {
            read(
                m.field,
                label(tr, m.label_ja, m.label_en),
                m.unit,
                m.min,
                m.max,
            )
        })
        .collect();
    let items: Vec<(&'static str, f64)> = CARE_ITEMS
        .iter()
        .filter_map(|i| {
            read(
                i.field,
                label(tr, i.label_ja, i.label_en),
                i.unit,
                i.min,
                i.max,
            )
        })
        .collect();
    let bp: Vec<f64> = ["systolic", "diastolic"]
        .iter()
        .filter_map(|f| vitals.iter().find(|(k, _)| k == f).map(|v| v.1))
        .collect();
    let typed_bp = ["systolic", "diastolic"]
        .iter()
        .filter(|f| !form.value(f).trim().is_empty())
        .count();
    if typed_bp == 1 {
        errors.push(tr.t("record.bp_both").to_string());
    }
    if bp.len() == 2 && bp[1] >= bp[0] {
        errors.push(tr.t("record.bp_order").to_string());
    }
    let note = match renkei_domain::text::clean(
        "care_note",
        form.value("note"),
        care::MAX_NOTE_CHARS,
        false,
    ) {
        Ok(n) => n,
        Err(e) => {
            errors.push(format!("{}: {}", tr.t("care_log.note"), e.message(lang)));
            String::new()
        }
    };
    if errors.is_empty() && vitals.is_empty() && items.is_empty() && note.is_empty() {
        errors.push(tr.t("care_log.empty").to_string());
    }
    let at = record::check_time(
        tr,
        tr.t("record.measured_at"),
        &form.at,
        now,
        not_before,
        &mut errors,
    );
    if errors.is_empty() {
        Ok((at, vitals, items, note))
    } else {
        Err(errors)
    }
}

/// `POST /patients/{id}/care-log`: one visit's record.
pub async fn record_visit(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<CareLogForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = record::open(&state, &viewer, &person_id, "action:care_log.record").await?;
    if !(ra.may_contribute() && record::records_care(viewer.user.profession)) {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let now = now_millis();
    let earliest = record::not_before(&state, &ra.person).await?;
    let errors = match check_visit(tr, &form, now, earliest) {
        Err(errors) => errors,
        Ok((at, vitals, items, note)) => {
            let mut resources = record::vitals_resources(&ra.person, at, &vitals);
            resources.extend(care::care_resources(
                &ra.person,
                &record::fhir_datetime(at),
                &items,
                Some(&note),
            ));
            let resources: Vec<(String, Value)> = resources
                .into_iter()
                .map(|r| (crate::fhir_rest::new_id(), r))
                .collect();
            let anchor = resources
                .iter()
                .map(|(id, _)| id.clone())
                .min()
                .unwrap_or_default();
            // A value outside the patient's limits tells the whole team, with the record.
            let breaches = match current_limits(&state, &ra).await? {
                Some(limits) => limits.breaches(&vitals),
                None => Vec::new(),
            };
            let notifications = if breaches.is_empty() {
                Vec::new()
            } else {
                let dir = TeamDirectory::load(state.store.as_ref(), &ra.person).await?;
                care::notifications_for_breach(
                    &dir,
                    &ra.person,
                    &viewer.user.id,
                    &ra.facility.id,
                    &anchor,
                    now,
                )
            };
            let recipients: Vec<String> = notifications.iter().map(|n| n.user_id.clone()).collect();
            let author = record::author(&viewer, &ra.facility);
            match record::store_new_notifying(&state, &author, resources, &[], notifications).await
            {
                Ok(_) => {
                    if !recipients.is_empty() {
                        super::notifications::announce(&state, &recipients, true).await;
                    }
                    let msg = if breaches.is_empty() {
                        "notice.care_log_saved"
                    } else {
                        "notice.care_log_alerted"
                    };
                    return Ok(Redirect::to(&format!(
                        "/patients/{}/care-log?msg={msg}#obs-{anchor}",
                        ra.person
                    ))
                    .into_response());
                }
                Err(e) => record::write_errors(tr, viewer.lang(), e)?,
            }
        }
    };
    page(&state, &viewer, &ra, form, errors, Vec::new(), None, None).await
}

/// `POST /patients/{id}/care-log/limits`: the patient's alert limits (a new active Goal;
/// the newest one counts, older ones stay as history).
pub async fn set_limits(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    viewer.check_csrf(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    let ra = record::open(&state, &viewer, &person_id, "action:care_log.limits").await?;
    if !(ra.may_contribute() && record::records_care(viewer.user.profession)) {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let lang = viewer.lang();
    let mut errors = Vec::new();
    let mut limits = Vec::new();
    for m in &LIMIT_MEASURES {
        let name = label(tr, m.label_ja, m.label_en);
        let mut bound = |side: &str| {
            let text = form
                .get(&format!("{}_{side}", m.field))
                .map(|s| s.trim())
                .unwrap_or("");
            if text.is_empty() {
                return None;
            }
            let v = record::parse_number(text);
            if v.is_none() {
                errors.push(format!("{name}: {}", tr.t("record.not_a_number")));
            }
            v
        };
        let (low, high) = (bound("low"), bound("high"));
        limits.push(Limit {
            field: m.field,
            low,
            high,
        });
    }
    let note = renkei_domain::text::clean(
        "limits_note",
        form.get("note").map(String::as_str).unwrap_or(""),
        200,
        false,
    )
    .unwrap_or_else(|e| {
        errors.push(format!(
            "{}: {}",
            tr.t("care_log.limits_note"),
            e.message(lang)
        ));
        String::new()
    });
    let limits = Limits { limits, note };
    if errors.is_empty() {
        for (field, problem) in limits.check() {
            let name = care::measure(field)
                .map(|m| label(tr, m.label_ja, m.label_en))
                .unwrap_or_default();
            let text = tr.t(&format!("care_log.limits.{problem}"));
            errors.push(if name.is_empty() {
                text.to_string()
            } else {
                format!("{name}: {text}")
            });
        }
    }
    if errors.is_empty() {
        let today = record::fhir_datetime(now_millis())
            .chars()
            .take(10)
            .collect::<String>();
        let goal = limits.to_goal(&ra.person, &today);
        let author = record::author(&viewer, &ra.facility);
        match record::store_new(
            &state,
            &author,
            vec![(crate::fhir_rest::new_id(), goal)],
            &[],
        )
        .await
        {
            Ok(_) => {
                return Ok(Redirect::to(&format!(
                    "/patients/{}/care-log?msg=notice.care_log_limits_saved#limits",
                    ra.person
                ))
                .into_response())
            }
            Err(e) => errors.extend(record::write_errors(tr, lang, e)?),
        }
    }
    let form = CareLogForm {
        at: record::datetime_local(now_millis()),
        ..Default::default()
    };
    page(
        &state,
        &viewer,
        &ra,
        form,
        Vec::new(),
        errors,
        Some(limits),
        None,
    )
    .await
}
