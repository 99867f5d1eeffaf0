//! The patient record (診療・ケア記録): everything the network holds about one person that
//! the viewer may see — diagnoses, allergies, prescriptions with the pharmacies' dispensing
//! beneath, laboratory results and vital signs as tables with server-drawn SVG trends,
//! documents and images, encounters — each item naming the facility it came from; and the
//! forms with which the care team adds to it (dispensing records, vital signs, care notes,
//! attachments).
//!
//! Reads go through the same scope as the FHIR API (`renkei_core::clinical::person_access`
//! → `scope_of` → `Store::fhir_search`), so the page never holds a row the access rule
//! would refuse; each view is one `patient.read` audit record naming the person. The page
//! is for the care team (and facilities that registered the person); anyone else gets 404,
//! exactly like the other patient pages. A team member whose consent was withdrawn still
//! sees what its own facility recorded, and nothing else.
//!
//! Writes build FHIR resources and store them through `renkei_core::clinical::prepare_write`
//! and `commit`: the same validation, patient resolution, contribution rule, Provenance and
//! audit as the FHIR API.

use super::{jst, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use renkei_core::clinical::{self, Author, PersonAccess, WriteError, WriteIntent};
use renkei_domain::audit::Outcome;
use renkei_domain::patient::{InfoCategory, TeamStatus};
use renkei_domain::{now_millis, FacilityType, Lang, Profession};
use renkei_fhir::search::{Criterion, ValueMatch};
use renkei_fhir::SearchQuery;
use renkei_storage::fhir::{FhirRow, FhirScope, FhirWrite, FhirWriteKind};
use renkei_storage::{AccessFacts, Facility};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Largest accepted attachment (a phone photo, a scanned letter).
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// Longest care note.
const MAX_NOTE_CHARS: usize = 4000;
/// Rows read per resource type for one page (newest first would need a sort parameter
/// every type has; the cap is far above one person's record).
const MAX_ROWS_PER_TYPE: usize = 5000;

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
pub(super) const OBSERVATION_CATEGORY: &str =
    "http://terminology.hl7.org/CodeSystem/observation-category";
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
const HOT9: &str = "http://medis.or.jp/CodeSystem/master-HOT9";
const HOT13: &str = "http://medis.or.jp/CodeSystem/master-HOT13";
const HOT7: &str = "http://medis.or.jp/CodeSystem/master-HOT7";
const VITALS_PROFILE: &str =
    "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns";
const DISPENSE_PROFILE: &str =
    "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationDispense";

/// The types the page shows (Binary is fetched only for a download).
const TYPES: [&str; 7] = [
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationDispense",
    "Observation",
    "DocumentReference",
    "Encounter",
];

// --- access ------------------------------------------------------------------------------

/// What the viewer may see of one person, decided once per request.
pub(super) struct RecordAccess {
    pub(super) person: String,
    pub(super) facility: Facility,
    facts: AccessFacts,
    pub(super) access: PersonAccess,
    pub(super) scope: FhirScope,
    /// The group-cover shift that opened the record (the facility is neither the
    /// registering facility nor a care-team member, and covers the patient right now).
    pub(super) cover: Option<renkei_domain::patient::CoverGrant>,
}

impl RecordAccess {
    /// The detail of a permitted read, naming the cover shift when the record was opened
    /// through group cover (basis `group_cover`).
    pub(super) fn audit_basis(&self, mut detail: Value) -> Value {
        if let (Some(cover), Some(obj)) = (&self.cover, detail.as_object_mut()) {
            obj.insert("basis".into(), json!("group_cover"));
            obj.insert("cover_shift".into(), json!(cover.shift_id));
            obj.insert("cover_group".into(), json!(cover.group_id));
        }
        detail
    }

    pub(super) fn may_contribute(&self) -> bool {
        clinical::may_contribute(&self.facts, &self.facility.id, now_millis())
    }
}

/// One `patient.read` record naming the person.
pub(super) async fn audit_read(
    state: &SharedState,
    viewer: &Viewer,
    person: &str,
    outcome: Outcome,
    detail: Value,
) -> AppResult<()> {
    let mut entry = viewer.audit("patient.read", outcome).detail(detail);
    entry.patient_id = Some(person.to_string());
    state.store.append_audit(entry).await?;
    Ok(())
}

/// Opens the record for the viewer: the facility's own registration or an active care-team
/// membership, else 404 (audited as denied, indistinguishable from a person that does not
/// exist). The scope then limits rows to the facility's own and the categories the rule
/// shares.
pub(super) async fn open(
    state: &SharedState,
    viewer: &Viewer,
    person_id: &str,
    resource: &str,
) -> AppResult<RecordAccess> {
    let now = now_millis();
    let requester = viewer.requester();
    let facility = viewer.facility().cloned();
    let facts = state
        .store
        .access_facts(
            person_id,
            requester.facility_id.as_deref(),
            &requester.user_id,
            now,
        )
        .await?;
    let refusal = match (&facility, &facts.person_id) {
        (None, _) => Some("no_facility"),
        (_, None) => Some("no_such_person"),
        _ if !(facts.own_registration || facts.team_status == Some(TeamStatus::Active)) => {
            // A covering facility opens the record during its shift only when the consent
            // lets it see the patient at all (who the patient is).
            let covered = facts.cover.is_some()
                && renkei_core::access::evaluate_facts(
                    &facts,
                    &requester,
                    renkei_domain::patient::InfoCategory::Demographics,
                    None,
                    now,
                )
                .is_permit();
            (!covered).then_some("not_in_care_team")
        }
        _ => None,
    };
    if let Some(reason) = refusal {
        audit_read(
            state,
            viewer,
            person_id,
            Outcome::Denied,
            json!({ "resource": resource, "reason": reason }),
        )
        .await?;
        return Err(AppError::NotFound);
    }
    let (Some(facility), Some(person)) = (facility, facts.person_id.clone()) else {
        return Err(AppError::NotFound);
    };
    let access = PersonAccess {
        person_id: person.clone(),
        shared: clinical::shared_categories(&facts, &requester, now),
        own_registration: facts.own_registration,
    };
    let scope = clinical::scope_of(&requester, std::slice::from_ref(&access), false);
    let cover = if facts.own_registration || facts.team_status == Some(TeamStatus::Active) {
        None
    } else {
        facts.cover.clone()
    };
    Ok(RecordAccess {
        person,
        facility,
        facts,
        access,
        scope,
        cover,
    })
}

/// `Patient/<id>` of the person and of every person merged into it (data written before a
/// merge names the old person).
pub(super) async fn patient_references(
    state: &SharedState,
    person: &str,
) -> AppResult<Vec<ValueMatch>> {
    let mut ids = BTreeSet::from([person.to_string()]);
    for e in state.store.link_history(person).await? {
        if e.action == "merge" {
            if let Some(from) = e.from_person {
                ids.insert(from);
            }
        }
    }
    Ok(ids
        .into_iter()
        .map(|id| ValueMatch::Reference(format!("Patient/{id}")))
        .collect())
}

/// Every current row of the shown types about the person, within the viewer's scope.
async fn load_rows(state: &SharedState, ra: &RecordAccess) -> AppResult<(Vec<FhirRow>, bool)> {
    let types: Vec<(&str, Vec<Criterion>)> = TYPES.iter().map(|t| (*t, Vec::new())).collect();
    person_rows(state, &ra.person, &ra.scope, &types).await
}

/// Every current row of `types` (each with extra criteria) about the person and the persons
/// merged into it, within `scope` (the access decision, applied by storage). Also says
/// whether a type had more rows than one page holds.
pub(super) async fn person_rows(
    state: &SharedState,
    person: &str,
    scope: &FhirScope,
    types: &[(&str, Vec<Criterion>)],
) -> AppResult<(Vec<FhirRow>, bool)> {
    let refs = patient_references(state, person).await?;
    let mut rows = Vec::new();
    let mut truncated = false;
    for (rtype, extra) in types {
        let mut offset = 0;
        loop {
            let mut criteria = vec![Criterion {
                param: "patient".into(),
                negate: false,
                missing: None,
                any_of: refs.clone(),
            }];
            criteria.extend(extra.iter().cloned());
            let query = SearchQuery {
                resource_type: rtype.to_string(),
                ids: Vec::new(),
                criteria,
                last_updated: Vec::new(),
                sort: Vec::new(),
                count: renkei_fhir::search::MAX_COUNT,
                offset,
                want_total: false,
            };
            let page = state.store.fhir_search(&query, scope).await?;
            let n = page.rows.len();
            rows.extend(page.rows.into_iter().filter(|r| !r.deleted));
            offset += n;
            if n < renkei_fhir::search::MAX_COUNT {
                break;
            }
            if offset >= MAX_ROWS_PER_TYPE {
                truncated = true;
                break;
            }
        }
    }
    Ok((rows, truncated))
}

/// Whether a row read by id belongs to the person and lies within the viewer's scope.
pub(super) fn row_visible(ra: &RecordAccess, row: &FhirRow) -> bool {
    !row.deleted
        && row.person_id.as_deref() == Some(ra.person.as_str())
        && clinical::row_in_scope(&ra.scope, row)
}

// --- reading FHIR JSON -------------------------------------------------------------------

pub(super) fn text_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A code as the page shows it: the system's short name, the code, its display.
pub struct CodeView {
    pub system: String,
    pub code: String,
    pub display: String,
}

/// Short names of the code systems met in Japanese clinical data.
pub fn system_label(system: &str) -> String {
    let s = system.to_ascii_lowercase();
    if renkei_fhir::category::ICD10_SYSTEMS.contains(&system)
        || s.contains("icd-10")
        || s.contains("icd10")
    {
        "ICD-10".into()
    } else if s.contains("master-disease") || s == "urn:oid:1.2.392.200119.4.101.6" {
        "MEDIS".into()
    } else if s.contains("jlac10") {
        "JLAC10".into()
    } else if s.contains("jlac11") {
        "JLAC11".into()
    } else if s.contains("master-hot") {
        "HOT".into()
    } else if s.contains("yj-code") {
        "YJ".into()
    } else if s.contains("loinc.org") {
        "LOINC".into()
    } else if s.contains("snomed") {
        "SNOMED CT".into()
    } else if s.contains("unitsofmeasure") {
        "UCUM".into()
    } else {
        system
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("")
            .chars()
            .take(24)
            .collect()
    }
}

fn codes_of(concept: Option<&Value>) -> Vec<CodeView> {
    let Some(c) = concept else { return Vec::new() };
    array(c, "coding")
        .iter()
        .filter_map(|cd| {
            let code = text_at(cd, "/code")?;
            Some(CodeView {
                system: text_at(cd, "/system").map(system_label).unwrap_or_default(),
                code: code.to_string(),
                display: text_at(cd, "/display").unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The words of a CodeableConcept: its text, else the first display, else the first code.
fn concept_text(concept: Option<&Value>) -> String {
    let Some(c) = concept else {
        return String::new();
    };
    if let Some(t) = text_at(c, "/text") {
        return t.to_string();
    }
    let codings = array(c, "coding");
    codings
        .iter()
        .find_map(|cd| text_at(cd, "/display"))
        .or_else(|| codings.iter().find_map(|cd| text_at(cd, "/code")))
        .unwrap_or("")
        .to_string()
}

fn first_code<'a>(concept: Option<&'a Value>, system: Option<&str>) -> Option<&'a str> {
    array(concept?, "coding")
        .iter()
        .filter(|cd| system.is_none_or(|s| text_at(cd, "/system") == Some(s)))
        .find_map(|cd| text_at(cd, "/code"))
}

fn has_coding(concepts: &[Value], system: &str, code: &str) -> bool {
    concepts.iter().any(|c| {
        array(c, "coding")
            .iter()
            .any(|cd| text_at(cd, "/system") == Some(system) && text_at(cd, "/code") == Some(code))
    })
}

/// Milliseconds of a FHIR date, dateTime or instant (a date alone: midnight JST).
fn fhir_millis(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let date = match s.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.get(..10)?.to_string(),
    };
    super::parse_jst_date(&date)
}

/// A FHIR date/time as people read it: JST `YYYY-MM-DD HH:MM`, or the date as given.
fn show_when(s: &str) -> String {
    if s.len() > 10 {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return jst(t.timestamp_millis());
        }
    }
    s.to_string()
}

fn quantity_text(q: Option<&Value>) -> String {
    let Some(q) = q else { return String::new() };
    let Some(value) = q.get("value").and_then(Value::as_f64) else {
        return String::new();
    };
    let comparator = text_at(q, "/comparator").unwrap_or("");
    let unit = text_at(q, "/unit")
        .or_else(|| text_at(q, "/code"))
        .unwrap_or("");
    format!(
        "{comparator}{}{}{unit}",
        number(value),
        if unit.is_empty() { "" } else { " " }
    )
}

/// A number without a needless `.0`.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The time a resource is about: the first of these elements present.
fn when_of(v: &Value, pointers: &[&str]) -> String {
    pointers
        .iter()
        .find_map(|p| text_at(v, p))
        .unwrap_or("")
        .to_string()
}

fn annotations(v: &Value) -> String {
    array(v, "note")
        .iter()
        .filter_map(|n| text_at(n, "/text"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `MedicationRequest/<id>` from a reference in any of its forms.
pub(super) fn relative_reference(reference: &str) -> Option<(String, String)> {
    let trimmed = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = trimmed.rsplit('/');
    let id = parts.next()?;
    let rtype = parts.next()?;
    Some((rtype.to_string(), id.to_string()))
}

// --- view models ---------------------------------------------------------------------------

pub struct Header {
    pub shown: bool,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub age: i64,
    pub sex: &'static str,
    /// (facility, local ID)
    pub ids: Vec<(String, String)>,
}

pub struct Count {
    pub anchor: &'static str,
    pub label: &'static str,
    pub n: usize,
}

pub struct ConditionView {
    pub name: String,
    pub codes: Vec<CodeView>,
    pub onset: String,
    pub status: String,
    pub active: bool,
    pub suspected: bool,
    pub note: String,
    pub source: String,
    sort: (bool, i64),
}

pub struct AllergyView {
    /// Clinical status active (or not stated).
    pub active: bool,
    pub substance: String,
    pub codes: Vec<CodeView>,
    pub category: String,
    pub criticality: String,
    pub high: bool,
    pub reactions: String,
    pub status: String,
    pub recorded: String,
    pub source: String,
}

pub struct DispenseView {
    pub name: String,
    pub codes: Vec<CodeView>,
    pub quantity: String,
    pub days: String,
    pub handed_over: String,
    pub dosage: String,
    pub note: String,
    pub source: String,
    /// When handed over (milliseconds; 0 when unknown).
    pub(super) sort: i64,
}

pub struct MedicationView {
    pub id: String,
    pub name: String,
    pub codes: Vec<CodeView>,
    pub dosage: String,
    pub quantity: String,
    pub days: String,
    pub authored: String,
    pub status: String,
    pub active: bool,
    pub source: String,
    pub dispenses: Vec<DispenseView>,
    sort: i64,
}

pub struct DocumentView {
    pub title: String,
    pub kind: String,
    pub date: String,
    pub content_type: String,
    pub size: String,
    pub href: String,
    pub text: String,
    pub source: String,
    sort: i64,
}

pub struct EncounterView {
    pub class: String,
    pub period: String,
    pub kind: String,
    pub reason: String,
    pub status: String,
    pub source: String,
    sort: i64,
}

/// A table of results: rows are tests, columns are times (newest first).
#[derive(Default)]
pub struct GridView {
    pub columns: Vec<String>,
    pub rows: Vec<GridRow>,
    pub charts: Vec<Chart>,
    pub count: usize,
}

pub struct GridRow {
    pub label: String,
    pub codes: Vec<CodeView>,
    pub unit: String,
    pub range: String,
    pub sources: String,
    pub cells: Vec<Vec<CellView>>,
}

pub struct CellView {
    pub text: String,
    /// `H`, `L`, `A` or empty.
    pub flag: &'static str,
    pub class: &'static str,
    /// The facility, when the row mixes several.
    pub source: String,
}

/// An SVG line chart, geometry computed here so the template only places elements.
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub aria: String,
    pub band: Option<(String, String)>,
    pub grid: Vec<(String, String)>,
    pub xticks: Vec<(String, String, &'static str)>,
    pub series: Vec<Series>,
}

pub struct Series {
    pub class: &'static str,
    pub name: String,
    pub path: String,
    pub points: Vec<PointView>,
}

pub struct PointView {
    pub x: String,
    pub y: String,
    pub class: &'static str,
    pub label: String,
}

// --- observations: tables and charts ------------------------------------------------------

/// One Observation reduced to what the tables and charts need.
struct ObsPoint {
    key: String,
    label: String,
    codes: Vec<CodeView>,
    unit: String,
    range: String,
    low: Option<f64>,
    high: Option<f64>,
    millis: Option<i64>,
    column: String,
    text: String,
    /// (series, value)
    values: Vec<(usize, f64)>,
    series_names: Vec<String>,
    flag: &'static str,
    source: String,
    order: usize,
}

/// The vital signs the form records, with their LOINC codes, UCUM units and plausible
/// ranges (values outside are typing errors, not patients).
pub struct VitalKind {
    pub field: &'static str,
    pub loinc: &'static str,
    pub display: &'static str,
    pub unit: &'static str,
    pub ucum: &'static str,
    pub min: f64,
    pub max: f64,
}

pub const VITALS: [VitalKind; 7] = [
    VitalKind {
        field: "systolic",
        loinc: "8480-6",
        display: "Systolic blood pressure",
        unit: "mmHg",
        ucum: "mm[Hg]",
        min: 40.0,
        max: 300.0,
    },
    VitalKind {
        field: "diastolic",
        loinc: "8462-4",
        display: "Diastolic blood pressure",
        unit: "mmHg",
        ucum: "mm[Hg]",
        min: 20.0,
        max: 200.0,
    },
    VitalKind {
        field: "pulse",
        loinc: "8867-4",
        display: "Heart rate",
        unit: "/min",
        ucum: "/min",
        min: 20.0,
        max: 300.0,
    },
    VitalKind {
        field: "spo2",
        loinc: "59408-5",
        display: "Oxygen saturation in Arterial blood by Pulse oximetry",
        unit: "%",
        ucum: "%",
        min: 50.0,
        max: 100.0,
    },
    VitalKind {
        field: "temperature",
        loinc: "8310-5",
        display: "Body temperature",
        unit: "°C",
        ucum: "Cel",
        min: 30.0,
        max: 45.0,
    },
    VitalKind {
        field: "weight",
        loinc: "29463-7",
        display: "Body weight",
        unit: "kg",
        ucum: "kg",
        min: 0.3,
        max: 350.0,
    },
    VitalKind {
        field: "respiratory_rate",
        loinc: "9279-1",
        display: "Respiratory rate",
        unit: "/min",
        ucum: "/min",
        min: 3.0,
        max: 80.0,
    },
];
const BP_PANEL: &str = "85354-9";
const SPO2_ARTERIAL: &str = "2708-6";

fn vital_label(tr: Tr, field: &str) -> &'static str {
    match field {
        "bp" => tr.t("vital.bp"),
        "systolic" => tr.t("vital.systolic"),
        "diastolic" => tr.t("vital.diastolic"),
        "pulse" => tr.t("vital.pulse"),
        "spo2" => tr.t("vital.spo2"),
        "temperature" => tr.t("vital.temperature"),
        "weight" => tr.t("vital.weight"),
        "respiratory_rate" => tr.t("vital.respiratory_rate"),
        _ => "",
    }
}

/// The vital kind (form field) a LOINC code stands for, and its display order.
fn vital_field(code: &str) -> Option<(&'static str, usize)> {
    match code {
        BP_PANEL | "55284-4" => Some(("bp", 0)),
        SPO2_ARTERIAL => Some(("spo2", 3)),
        _ => VITALS
            .iter()
            .position(|k| k.loinc == code)
            .map(|i| (VITALS[i].field, i)),
    }
}

fn interpretation_flag(obs: &Value) -> Option<&'static str> {
    for c in array(obs, "interpretation") {
        for cd in array(c, "coding") {
            match text_at(cd, "/code") {
                Some("H" | "HH" | "HU" | ">" | "HX") => return Some("H"),
                Some("L" | "LL" | "LU" | "<" | "LX") => return Some("L"),
                Some("A" | "AA") => return Some("A"),
                Some("N") => return Some(""),
                _ => {}
            }
        }
    }
    None
}

fn flag_class(flag: &str) -> &'static str {
    match flag {
        "H" => "flag-h",
        "L" => "flag-l",
        "A" => "flag-a",
        _ => "",
    }
}

fn obs_point(tr: Tr, obs: &Value, source: String, vital: bool, order: usize) -> ObsPoint {
    let code = obs.get("code");
    let codes = codes_of(code);
    let loinc = first_code(code, Some(LOINC));
    let known = if vital {
        loinc.and_then(vital_field)
    } else {
        None
    };
    let key = match (known, codes.first()) {
        (Some((field, _)), _) => format!("vital:{field}"),
        (None, Some(c)) => format!("{}|{}", c.system, c.code),
        (None, None) => format!("text:{}", concept_text(code)),
    };
    let label = match known {
        Some((field, _)) => vital_label(tr, field).to_string(),
        None => concept_text(code),
    };
    let when = when_of(
        obs,
        &[
            "/effectiveDateTime",
            "/effectiveInstant",
            "/effectivePeriod/start",
            "/issued",
        ],
    );
    let millis = fhir_millis(&when);
    let column = match (millis, vital) {
        (Some(m), true) => jst(m),
        (Some(m), false) => jst(m).chars().take(10).collect(),
        (None, _) => "—".to_string(),
    };
    let range = array(obs, "referenceRange").first();
    let low = range
        .and_then(|r| r.pointer("/low/value"))
        .and_then(Value::as_f64);
    let high = range
        .and_then(|r| r.pointer("/high/value"))
        .and_then(Value::as_f64);
    let range_text = match (range.and_then(|r| text_at(r, "/text")), low, high) {
        (Some(t), _, _) => t.to_string(),
        (None, Some(l), Some(h)) => format!("{}–{}", number(l), number(h)),
        (None, Some(l), None) => format!("≥{}", number(l)),
        (None, None, Some(h)) => format!("≤{}", number(h)),
        _ => String::new(),
    };
    let mut values = Vec::new();
    let mut series_names = Vec::new();
    let mut unit = String::new();
    let text;
    if let Some(q) = obs.get("valueQuantity") {
        unit = text_at(q, "/unit")
            .or_else(|| text_at(q, "/code"))
            .unwrap_or("")
            .to_string();
        if let Some(v) = q.get("value").and_then(Value::as_f64) {
            if q.get("comparator").is_none() {
                values.push((0, v));
            }
        }
        let comparator = text_at(q, "/comparator").unwrap_or("");
        text = q
            .get("value")
            .and_then(Value::as_f64)
            .map(|v| format!("{comparator}{}", number(v)))
            .unwrap_or_default();
        series_names.push(label.clone());
    } else if !array(obs, "component").is_empty() {
        // Blood pressure and other panels: the components side by side.
        let mut parts = Vec::new();
        for (i, c) in array(obs, "component").iter().enumerate() {
            let ccode = first_code(c.get("code"), Some(LOINC));
            let name = match ccode.and_then(vital_field) {
                Some((f, _)) => vital_label(tr, f).to_string(),
                None => concept_text(c.get("code")),
            };
            if let Some(q) = c.get("valueQuantity") {
                if unit.is_empty() {
                    unit = text_at(q, "/unit")
                        .or_else(|| text_at(q, "/code"))
                        .unwrap_or("")
                        .to_string();
                }
                if let Some(v) = q.get("value").and_then(Value::as_f64) {
                    values.push((i, v));
                    parts.push(number(v));
                }
            } else if let Some(s) = text_at(c, "/valueString") {
                parts.push(s.to_string());
            }
            series_names.push(name);
        }
        text = parts.join("/");
    } else if let Some(v) = obs.get("valueInteger").and_then(Value::as_i64) {
        values.push((0, v as f64));
        text = v.to_string();
        series_names.push(label.clone());
    } else if let Some(s) = text_at(obs, "/valueString") {
        text = s.to_string();
    } else if obs.get("valueCodeableConcept").is_some() {
        text = concept_text(obs.get("valueCodeableConcept"));
    } else if let Some(b) = obs.get("valueBoolean").and_then(Value::as_bool) {
        text = if b {
            tr.t("record.positive")
        } else {
            tr.t("record.negative")
        }
        .to_string();
    } else if obs.get("dataAbsentReason").is_some() {
        text = format!("— {}", concept_text(obs.get("dataAbsentReason")));
    } else {
        text = "—".into();
    }
    let flag = interpretation_flag(obs).unwrap_or_else(|| match (values.first(), low, high) {
        (Some((_, v)), _, Some(h)) if *v > h => "H",
        (Some((_, v)), Some(l), _) if *v < l => "L",
        _ => "",
    });
    ObsPoint {
        key,
        label,
        codes,
        unit,
        range: range_text,
        low,
        high,
        millis,
        column,
        text,
        values,
        series_names,
        flag,
        source,
        order: known.map(|(_, i)| i).unwrap_or(order),
    }
}

const CHART_W: f64 = 360.0;
const CHART_H: f64 = 160.0;
const PAD_LEFT: f64 = 46.0;
const PAD_RIGHT: f64 = 12.0;
const PAD_TOP: f64 = 12.0;
const PAD_BOTTOM: f64 = 30.0;

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// A line chart of the numeric points of one test (several series for panels such as blood
/// pressure), oldest on the left, time to scale, the reference range as a band.
fn chart(title: &str, unit: &str, points: &[&ObsPoint]) -> Option<Chart> {
    let mut data: Vec<(i64, usize, f64, &'static str)> = Vec::new();
    for p in points {
        let Some(t) = p.millis else { continue };
        for (s, v) in &p.values {
            if v.is_finite() {
                data.push((t, *s, *v, p.flag));
            }
        }
    }
    let series_count = data.iter().map(|d| d.1).max().map(|m| m + 1).unwrap_or(0);
    let enough = (0..series_count).any(|s| data.iter().filter(|d| d.1 == s).count() >= 2);
    if !enough {
        return None;
    }
    data.sort_by_key(|d| d.0);
    let low = points.iter().find_map(|p| p.low);
    let high = points.iter().find_map(|p| p.high);
    let (t0, t1) = (data[0].0, data[data.len() - 1].0);
    let mut vmin = data.iter().map(|d| d.2).fold(f64::INFINITY, f64::min);
    let mut vmax = data.iter().map(|d| d.2).fold(f64::NEG_INFINITY, f64::max);
    if series_count == 1 {
        for b in [low, high].into_iter().flatten() {
            vmin = vmin.min(b);
            vmax = vmax.max(b);
        }
    }
    let span = if vmax > vmin {
        vmax - vmin
    } else {
        vmax.abs().max(1.0) * 0.2
    };
    vmin -= span * 0.1;
    vmax += span * 0.1;
    let plot_w = CHART_W - PAD_LEFT - PAD_RIGHT;
    let plot_h = CHART_H - PAD_TOP - PAD_BOTTOM;
    let x = |t: i64| {
        if t1 > t0 {
            PAD_LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_w
        } else {
            PAD_LEFT + plot_w / 2.0
        }
    };
    let y = |v: f64| PAD_TOP + (vmax - v) / (vmax - vmin) * plot_h;
    let band = match (series_count, low, high) {
        (1, Some(l), Some(h)) if h > l => Some((fmt1(y(h)), fmt1(y(l) - y(h)))),
        _ => None,
    };
    let grid = [vmax - span * 0.1, (vmin + vmax) / 2.0, vmin + span * 0.1]
        .into_iter()
        .map(|v| (fmt1(y(v)), number((v * 10.0).round() / 10.0)))
        .collect();
    let day = |t: i64| jst(t).chars().take(10).collect::<String>();
    let mut xticks = vec![(
        fmt1(x(t0)),
        day(t0),
        if t1 > t0 { "start" } else { "middle" },
    )];
    if day(t1) != day(t0) {
        xticks.push((fmt1(x(t1)), day(t1), "end"));
    }
    let classes = ["s0", "s1", "s2", "s3"];
    let series = (0..series_count)
        .map(|s| {
            let pts: Vec<&(i64, usize, f64, &'static str)> =
                data.iter().filter(|d| d.1 == s).collect();
            Series {
                class: classes[s.min(3)],
                name: points
                    .iter()
                    .find_map(|p| p.series_names.get(s).cloned())
                    .unwrap_or_default(),
                path: pts
                    .iter()
                    .map(|d| format!("{},{}", fmt1(x(d.0)), fmt1(y(d.2))))
                    .collect::<Vec<_>>()
                    .join(" "),
                points: pts
                    .iter()
                    .map(|d| PointView {
                        x: fmt1(x(d.0)),
                        y: fmt1(y(d.2)),
                        class: if series_count == 1 {
                            flag_class(d.3)
                        } else {
                            ""
                        },
                        label: format!("{} {}{}", jst(d.0), number(d.2), unit),
                    })
                    .collect(),
            }
        })
        .collect();
    Some(Chart {
        title: title.to_string(),
        unit: unit.to_string(),
        aria: format!("{title}（{unit}）: {} – {}", day(t0), day(t1)),
        band,
        grid,
        xticks,
        series,
    })
}

/// A chart of plain time series (one per name) with an optional alert band
/// (`low`, `high`), drawn like the record's: for pages that are not the record itself.
pub(super) fn series_chart(
    title: &str,
    unit: &str,
    names: &[&str],
    data: &[(i64, usize, f64, bool)],
    band: (Option<f64>, Option<f64>),
) -> Option<Chart> {
    let points: Vec<ObsPoint> = data
        .iter()
        .map(|&(at, series, value, outside)| ObsPoint {
            key: String::new(),
            label: title.to_string(),
            codes: Vec::new(),
            unit: unit.to_string(),
            range: String::new(),
            low: band.0,
            high: band.1,
            millis: Some(at),
            column: String::new(),
            text: String::new(),
            values: vec![(series, value)],
            series_names: names.iter().map(|n| n.to_string()).collect(),
            flag: if outside { "H" } else { "" },
            source: String::new(),
            order: 0,
        })
        .collect();
    let refs: Vec<&ObsPoint> = points.iter().collect();
    chart(title, unit, &refs)
}

fn grid(points: Vec<ObsPoint>, by_label: bool) -> GridView {
    let count = points.len();
    let mut columns: Vec<String> = points
        .iter()
        .map(|p| p.column.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    columns.sort_by(|a, b| match (a.as_str(), b.as_str()) {
        ("—", "—") => std::cmp::Ordering::Equal,
        ("—", _) => std::cmp::Ordering::Greater,
        (_, "—") => std::cmp::Ordering::Less,
        _ => b.cmp(a),
    });
    let mut groups: BTreeMap<String, Vec<ObsPoint>> = BTreeMap::new();
    for p in points {
        groups.entry(p.key.clone()).or_default().push(p);
    }
    let mut groups: Vec<Vec<ObsPoint>> = groups.into_values().collect();
    if by_label {
        groups.sort_by(|a, b| a[0].label.cmp(&b[0].label));
    } else {
        groups.sort_by_key(|g| g.iter().map(|p| p.order).min().unwrap_or(usize::MAX));
    }
    let mut rows = Vec::new();
    let mut charts = Vec::new();
    for g in &groups {
        let sources: BTreeSet<&str> = g.iter().map(|p| p.source.as_str()).collect();
        let mixed = sources.len() > 1;
        let head = g
            .iter()
            .max_by_key(|p| p.millis.unwrap_or(i64::MIN))
            .unwrap_or(&g[0]);
        let unit = g
            .iter()
            .find(|p| !p.unit.is_empty())
            .map(|p| p.unit.clone())
            .unwrap_or_default();
        let cells = columns
            .iter()
            .map(|col| {
                let mut here: Vec<&ObsPoint> = g.iter().filter(|p| &p.column == col).collect();
                here.sort_by_key(|p| std::cmp::Reverse(p.millis));
                here.iter()
                    .map(|p| CellView {
                        text: p.text.clone(),
                        flag: p.flag,
                        class: flag_class(p.flag),
                        source: if mixed {
                            p.source.clone()
                        } else {
                            String::new()
                        },
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&ObsPoint> = g.iter().collect();
        if let Some(c) = chart(&head.label, &unit, &refs) {
            charts.push(c);
        }
        rows.push(GridRow {
            label: head.label.clone(),
            codes: head
                .codes
                .iter()
                .map(|c| CodeView {
                    system: c.system.clone(),
                    code: c.code.clone(),
                    display: c.display.clone(),
                })
                .collect(),
            unit,
            range: g
                .iter()
                .find(|p| !p.range.is_empty())
                .map(|p| p.range.clone())
                .unwrap_or_default(),
            sources: sources.into_iter().collect::<Vec<_>>().join("、"),
            cells,
        });
    }
    GridView {
        columns,
        rows,
        charts,
        count,
    }
}

// --- the other sections ---------------------------------------------------------------------

fn condition_status(tr: Tr, code: &str) -> String {
    match code {
        "active" => tr.t("cond.active"),
        "recurrence" => tr.t("cond.recurrence"),
        "relapse" => tr.t("cond.relapse"),
        "inactive" => tr.t("cond.inactive"),
        "remission" => tr.t("cond.remission"),
        "resolved" => tr.t("cond.resolved"),
        "" => "",
        other => return other.to_string(),
    }
    .to_string()
}

fn condition_view(tr: Tr, c: &Value, source: String) -> ConditionView {
    let clinical = first_code(c.get("clinicalStatus"), None).unwrap_or("");
    let verification = first_code(c.get("verificationStatus"), None).unwrap_or("");
    let onset = when_of(
        c,
        &[
            "/onsetDateTime",
            "/onsetPeriod/start",
            "/onsetString",
            "/recordedDate",
        ],
    );
    let abatement = when_of(
        c,
        &[
            "/abatementDateTime",
            "/abatementPeriod/start",
            "/abatementString",
        ],
    );
    let active = matches!(clinical, "active" | "recurrence" | "relapse");
    let mut status = condition_status(tr, clinical);
    if !abatement.is_empty() {
        status = format!("{status}（{}）", show_when(&abatement));
    }
    ConditionView {
        name: concept_text(c.get("code")),
        codes: codes_of(c.get("code")),
        onset: show_when(&onset),
        status,
        active,
        suspected: matches!(verification, "provisional" | "differential" | "unconfirmed"),
        note: annotations(c),
        source,
        sort: (!active, -fhir_millis(&onset).unwrap_or(0)),
    }
}

fn allergy_view(tr: Tr, a: &Value, source: String) -> AllergyView {
    let category = array(a, "category")
        .iter()
        .filter_map(Value::as_str)
        .map(|c| match c {
            "food" => tr.t("allergy.food"),
            "medication" => tr.t("allergy.medication"),
            "environment" => tr.t("allergy.environment"),
            "biologic" => tr.t("allergy.biologic"),
            _ => c,
        })
        .collect::<Vec<_>>()
        .join("・");
    let criticality = text_at(a, "/criticality").unwrap_or("");
    let reactions = array(a, "reaction")
        .iter()
        .map(|r| {
            let m = array(r, "manifestation")
                .iter()
                .map(|m| concept_text(Some(m)))
                .collect::<Vec<_>>()
                .join("、");
            match text_at(r, "/severity") {
                Some("severe") => format!("{m}（{}）", tr.t("allergy.severe")),
                Some("moderate") => format!("{m}（{}）", tr.t("allergy.moderate")),
                Some("mild") => format!("{m}（{}）", tr.t("allergy.mild")),
                _ => m,
            }
        })
        .collect::<Vec<_>>()
        .join(" / ");
    let clinical = first_code(a.get("clinicalStatus"), None).unwrap_or("");
    AllergyView {
        active: matches!(clinical, "active" | ""),
        substance: concept_text(a.get("code")),
        codes: codes_of(a.get("code")),
        category,
        criticality: match criticality {
            "high" => tr.t("allergy.high"),
            "low" => tr.t("allergy.low"),
            "unable-to-assess" => tr.t("allergy.unknown"),
            _ => "",
        }
        .to_string(),
        high: criticality == "high",
        reactions,
        status: condition_status(tr, clinical),
        recorded: show_when(&when_of(a, &["/recordedDate", "/onsetDateTime"])),
        source,
    }
}

fn medication_name(m: &Value) -> (String, Vec<CodeView>) {
    if let Some(cc) = m.get("medicationCodeableConcept") {
        (concept_text(Some(cc)), codes_of(Some(cc)))
    } else {
        (
            text_at(m, "/medicationReference/display")
                .unwrap_or("")
                .to_string(),
            Vec::new(),
        )
    }
}

fn dosage_text(dosages: &[Value]) -> String {
    dosages
        .iter()
        .filter_map(|d| {
            text_at(d, "/text").map(str::to_string).or_else(|| {
                let dose = quantity_text(d.pointer("/doseAndRate/0/doseQuantity"));
                let timing = concept_text(d.pointer("/timing/code"));
                let s = [dose, timing]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                (!s.is_empty()).then_some(s)
            })
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

fn days_text(tr: Tr, q: Option<&Value>) -> String {
    q.and_then(|q| q.get("value"))
        .and_then(Value::as_f64)
        .map(|d| format!("{}{}", number(d), tr.t("record.days_suffix")))
        .unwrap_or_default()
}

fn request_status(tr: Tr, code: &str) -> String {
    match code {
        "active" => tr.t("med.active"),
        "completed" => tr.t("med.completed"),
        "stopped" => tr.t("med.stopped"),
        "cancelled" => tr.t("med.cancelled"),
        "on-hold" => tr.t("med.on_hold"),
        "draft" => tr.t("med.draft"),
        "entered-in-error" => tr.t("med.error"),
        other => return other.to_string(),
    }
    .to_string()
}

fn medication_view(tr: Tr, id: &str, m: &Value, source: String) -> MedicationView {
    let (name, codes) = medication_name(m);
    let authored = when_of(m, &["/authoredOn"]);
    let status = text_at(m, "/status").unwrap_or("");
    MedicationView {
        id: id.to_string(),
        name,
        codes,
        dosage: dosage_text(array(m, "dosageInstruction")),
        quantity: quantity_text(m.pointer("/dispenseRequest/quantity")),
        days: days_text(tr, m.pointer("/dispenseRequest/expectedSupplyDuration")),
        authored: show_when(&authored),
        status: request_status(tr, status),
        active: status == "active",
        source,
        dispenses: Vec::new(),
        sort: fhir_millis(&authored).unwrap_or(0),
    }
}

fn dispense_view(tr: Tr, d: &Value, source: String) -> DispenseView {
    let (name, codes) = medication_name(d);
    let when = when_of(d, &["/whenHandedOver", "/whenPrepared"]);
    DispenseView {
        name,
        codes,
        quantity: quantity_text(d.get("quantity")),
        days: days_text(tr, d.get("daysSupply")),
        handed_over: show_when(&when),
        dosage: dosage_text(array(d, "dosageInstruction")),
        note: annotations(d),
        source,
        sort: fhir_millis(&when).unwrap_or(0),
    }
}

fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.0} KB", bytes as f64 / 1024.0)
    } else if bytes > 0 {
        format!("{bytes} B")
    } else {
        String::new()
    }
}

fn document_view(person: &str, id: &str, d: &Value, source: String) -> DocumentView {
    let attachment = d.pointer("/content/0/attachment");
    let content_type = attachment
        .and_then(|a| text_at(a, "/contentType"))
        .unwrap_or("")
        .to_string();
    let data = attachment.and_then(|a| text_at(a, "/data"));
    let url = attachment.and_then(|a| text_at(a, "/url"));
    let text = match data {
        Some(b64) if content_type.starts_with("text/plain") => {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .map(|s| s.chars().take(MAX_NOTE_CHARS).collect())
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    let size = attachment
        .and_then(|a| a.get("size"))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| data.map(|d| (d.len() * 3 / 4) as i64).unwrap_or(0));
    let date = when_of(
        d,
        &[
            "/date",
            "/content/0/attachment/creation",
            "/context/period/start",
        ],
    );
    let kind = concept_text(d.get("type"));
    let title = text_at(d, "/description")
        .or_else(|| attachment.and_then(|a| text_at(a, "/title")))
        .map(str::to_string)
        .unwrap_or_else(|| kind.clone());
    DocumentView {
        title,
        kind,
        date: show_when(&date),
        href: if data.is_some() || url.is_some_and(|u| u.contains("Binary/")) {
            format!("/patients/{person}/record/documents/{id}")
        } else {
            String::new()
        },
        content_type,
        size: size_text(size),
        text,
        source,
        sort: fhir_millis(&date).unwrap_or(0),
    }
}

fn encounter_view(tr: Tr, e: &Value, source: String) -> EncounterView {
    let class_code = text_at(e, "/class/code").unwrap_or("");
    let class = match class_code {
        "AMB" => tr.t("enc.amb").to_string(),
        "IMP" | "ACUTE" | "NONAC" => tr.t("enc.imp").to_string(),
        "EMER" => tr.t("enc.emer").to_string(),
        "HH" => tr.t("enc.hh").to_string(),
        "VR" => tr.t("enc.vr").to_string(),
        other => text_at(e, "/class/display").unwrap_or(other).to_string(),
    };
    let start = when_of(e, &["/period/start"]);
    let end = when_of(e, &["/period/end"]);
    let period = match (start.is_empty(), end.is_empty()) {
        (false, false) => format!("{} – {}", show_when(&start), show_when(&end)),
        (false, true) => format!("{} –", show_when(&start)),
        (true, false) => format!("– {}", show_when(&end)),
        (true, true) => String::new(),
    };
    let kind = [
        array(e, "type")
            .first()
            .map(|t| concept_text(Some(t)))
            .unwrap_or_default(),
        concept_text(e.get("serviceType")),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    let status = match text_at(e, "/status").unwrap_or("") {
        "planned" => tr.t("enc.planned"),
        "arrived" | "triaged" | "in-progress" => tr.t("enc.in_progress"),
        "finished" => tr.t("enc.finished"),
        "cancelled" => tr.t("enc.cancelled"),
        _ => "",
    }
    .to_string();
    EncounterView {
        class,
        period,
        kind,
        reason: array(e, "reasonCode")
            .iter()
            .map(|r| concept_text(Some(r)))
            .collect::<Vec<_>>()
            .join("、"),
        status,
        source,
        sort: fhir_millis(&start).unwrap_or(0),
    }
}

/// Everything the sections show, built from the rows.
#[derive(Default)]
pub(super) struct Sections {
    pub(super) conditions: Vec<ConditionView>,
    pub(super) allergies: Vec<AllergyView>,
    pub(super) medications: Vec<MedicationView>,
    /// Dispensing records not tied to a prescription shown here.
    pub(super) dispenses: Vec<DispenseView>,
    pub(super) lab: GridView,
    pub(super) vitals: GridView,
    pub(super) documents: Vec<DocumentView>,
    pub(super) encounters: Vec<EncounterView>,
    pub(super) dispense_count: usize,
}

pub(super) async fn facility_names(
    state: &SharedState,
    rows: &[FhirRow],
    tr: Tr,
) -> AppResult<HashMap<String, String>> {
    let mut names = HashMap::new();
    let ids: BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.source_facility_id.as_deref())
        .collect();
    for id in ids {
        let name = state
            .store
            .get_facility(id)
            .await?
            .map(|f| f.name)
            .unwrap_or_else(|| tr.t("record.unknown_source").to_string());
        names.insert(id.to_string(), name);
    }
    Ok(names)
}

pub(super) fn build_sections(
    tr: Tr,
    person: &str,
    rows: &[FhirRow],
    names: &HashMap<String, String>,
) -> Sections {
    let mut s = Sections::default();
    let mut lab = Vec::new();
    let mut vitals = Vec::new();
    let mut dispenses: Vec<(Vec<String>, DispenseView)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Ok(v) = serde_json::from_str::<Value>(&row.content) else {
            continue;
        };
        let source = row
            .source_facility_id
            .as_ref()
            .and_then(|f| names.get(f).cloned())
            .unwrap_or_else(|| tr.t("record.unknown_source").to_string());
        match row.resource_type.as_str() {
            "Condition" => s.conditions.push(condition_view(tr, &v, source)),
            "AllergyIntolerance" => s.allergies.push(allergy_view(tr, &v, source)),
            "MedicationRequest" => s.medications.push(medication_view(tr, &row.id, &v, source)),
            "MedicationDispense" => {
                let prescriptions = array(&v, "authorizingPrescription")
                    .iter()
                    .filter_map(|r| text_at(r, "/reference"))
                    .filter_map(relative_reference)
                    .filter(|(t, _)| t == "MedicationRequest")
                    .map(|(_, id)| id)
                    .collect();
                dispenses.push((prescriptions, dispense_view(tr, &v, source)));
            }
            "Observation" => {
                let vital = has_coding(array(&v, "category"), OBSERVATION_CATEGORY, "vital-signs");
                let p = obs_point(tr, &v, source, vital, 100 + i);
                if vital {
                    vitals.push(p);
                } else {
                    lab.push(p);
                }
            }
            "DocumentReference" => s.documents.push(document_view(person, &row.id, &v, source)),
            "Encounter" => s.encounters.push(encounter_view(tr, &v, source)),
            _ => {}
        }
    }
    s.dispense_count = dispenses.len();
    for (prescriptions, d) in dispenses {
        match s
            .medications
            .iter_mut()
            .find(|m| prescriptions.iter().any(|p| p == &m.id))
        {
            Some(m) => m.dispenses.push(d),
            None => s.dispenses.push(d),
        }
    }
    s.conditions.sort_by_key(|c| c.sort);
    s.allergies.sort_by_key(|a| !a.high);
    s.medications.sort_by_key(|m| (!m.active, -m.sort));
    for m in &mut s.medications {
        m.dispenses.sort_by_key(|d| -d.sort);
    }
    s.dispenses.sort_by_key(|d| -d.sort);
    s.documents.sort_by_key(|d| -d.sort);
    s.encounters.sort_by_key(|e| -e.sort);
    s.lab = grid(lab, true);
    s.vitals = grid(vitals, false);
    s
}

// --- the page ------------------------------------------------------------------------------

/// Values and errors of the contribution forms, kept when a form is shown again.
#[derive(Deserialize, Default)]
pub struct VitalsForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub systolic: String,
    #[serde(default)]
    pub diastolic: String,
    #[serde(default)]
    pub pulse: String,
    #[serde(default)]
    pub spo2: String,
    #[serde(default)]
    pub temperature: String,
    #[serde(default)]
    pub weight: String,
    #[serde(default)]
    pub respiratory_rate: String,
}

#[derive(Deserialize, Default)]
pub struct DispenseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub prescription: String,
    #[serde(default)]
    pub drug: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub quantity: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub days: String,
    #[serde(default)]
    pub dosage: String,
    #[serde(default)]
    pub handed_over: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Deserialize, Default)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Default)]
pub struct UploadForm {
    pub title: String,
}

#[derive(Default)]
struct Forms {
    vitals: VitalsForm,
    dispense: DispenseForm,
    note: NoteForm,
    upload: UploadForm,
    vitals_errors: Vec<String>,
    dispense_errors: Vec<String>,
    note_errors: Vec<String>,
    upload_errors: Vec<String>,
}

impl Forms {
    fn fresh() -> Forms {
        let now = datetime_local(now_millis());
        Forms {
            vitals: VitalsForm {
                at: now.clone(),
                ..Default::default()
            },
            dispense: DispenseForm {
                handed_over: now,
                ..Default::default()
            },
            note: NoteForm {
                kind: "nurse".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    c: Chrome,
    person_id: String,
    header: Header,
    counts: Vec<Count>,
    not_shared: String,
    own_only: bool,
    truncated: bool,
    conditions: Vec<ConditionView>,
    allergies: Vec<AllergyView>,
    medications: Vec<MedicationView>,
    dispenses: Vec<DispenseView>,
    lab: GridView,
    vitals: GridView,
    documents: Vec<DocumentView>,
    encounters: Vec<EncounterView>,
    may_vitals: bool,
    may_dispense: bool,
    may_note: bool,
    may_upload: bool,
    prescriptions: Vec<(String, String, bool)>,
    vf: VitalsForm,
    df: DispenseForm,
    nf: NoteForm,
    uf: UploadForm,
    vitals_errors: Vec<String>,
    dispense_errors: Vec<String>,
    note_errors: Vec<String>,
    upload_errors: Vec<String>,
    max_upload_mb: usize,
}

/// Professions that record observations and notes (not clerks or municipal officers,
/// whose work is administrative).
pub(super) fn records_care(p: Profession) -> bool {
    !matches!(p, Profession::Clerk | Profession::MunicipalOfficer)
}

/// Dispensing records come from pharmacists and pharmacies.
fn dispenses(viewer: &Viewer, facility: &Facility) -> bool {
    viewer.user.profession == Profession::Pharmacist
        || facility.facility_type == FacilityType::Pharmacy
}

pub(super) async fn header(
    state: &SharedState,
    viewer: &Viewer,
    person: &str,
) -> AppResult<Header> {
    let lang = viewer.lang();
    let records = renkei_core::access::visible_records(
        state.store.as_ref(),
        &viewer.requester(),
        person,
        InfoCategory::Demographics,
        now_millis(),
    )
    .await?;
    let mine = viewer.facility().map(|f| f.id.clone());
    let first = records
        .iter()
        .find(|r| Some(&r.facility_id) == mine.as_ref())
        .or_else(|| records.first());
    let Some(first) = first else {
        return Ok(Header {
            shown: false,
            name: String::new(),
            kana: String::new(),
            birth_date: String::new(),
            age: 0,
            sex: "",
            ids: Vec::new(),
        });
    };
    let mut ids = Vec::new();
    for r in &records {
        let name = state
            .store
            .get_facility(&r.facility_id)
            .await?
            .map(|f| f.name)
            .unwrap_or_default();
        ids.push((name, r.local_id.clone()));
    }
    Ok(Header {
        shown: true,
        name: first.full_name(),
        kana: first.full_kana(),
        birth_date: first.birth_date.clone(),
        age: super::patients::age_on(&first.birth_date, super::patients::today_jst()),
        sex: first.sex.label(lang),
        ids,
    })
}

async fn page(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    forms: Forms,
    notice: Option<&str>,
) -> AppResult<Html<String>> {
    let tr = viewer.tr();
    let lang = viewer.lang();
    let (rows, truncated) = load_rows(state, ra).await?;
    let header = header(state, viewer, &ra.person).await?;
    let categories: BTreeSet<&str> = rows.iter().map(|r| r.category.as_str()).collect();
    let sources: BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.source_facility_id.as_deref())
        .collect();
    // The view is one audited read of the person, naming what was shown.
    audit_read(
        state,
        viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": "page:/patients/{id}/record",
            "basis": if ra.access.own_registration { "own_registration" } else { "care_team" },
            "shared": ra.access.shared.iter().map(|c| c.code()).collect::<Vec<_>>(),
            "categories": categories,
            "sources": sources,
            "rows": rows.len(),
        })),
    )
    .await?;
    let names = facility_names(state, &rows, tr).await?;
    let s = build_sections(tr, &ra.person, &rows, &names);
    let contribute = ra.may_contribute();
    let profession = viewer.user.profession;
    let prescriptions = s
        .medications
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                format!(
                    "{} {}（{}）",
                    m.authored.chars().take(10).collect::<String>(),
                    m.name,
                    m.source
                ),
                m.id == forms.dispense.prescription,
            )
        })
        .collect();
    let own_only = ra.access.shared.is_empty();
    let not_shared = if own_only {
        String::new()
    } else {
        InfoCategory::ALL
            .into_iter()
            .filter(|c| !ra.access.shared.contains(c))
            .map(|c| c.label(lang))
            .collect::<Vec<_>>()
            .join("、")
    };
    let counts = vec![
        Count {
            anchor: "conditions",
            label: tr.t("record.conditions"),
            n: s.conditions.len(),
        },
        Count {
            anchor: "allergies",
            label: tr.t("record.allergies"),
            n: s.allergies.len(),
        },
        Count {
            anchor: "medications",
            label: tr.t("record.medications"),
            n: s.medications.len() + s.dispense_count,
        },
        Count {
            anchor: "lab",
            label: tr.t("record.lab"),
            n: s.lab.count,
        },
        Count {
            anchor: "vitals",
            label: tr.t("record.vitals"),
            n: s.vitals.count,
        },
        Count {
            anchor: "documents",
            label: tr.t("record.documents"),
            n: s.documents.len(),
        },
        Count {
            anchor: "encounters",
            label: tr.t("record.encounters"),
            n: s.encounters.len(),
        },
    ];
    let record = RecordPage {
        c: Chrome::for_viewer(state, viewer, "record.title").with_notice(notice),
        person_id: ra.person.clone(),
        header,
        counts,
        not_shared,
        own_only,
        truncated,
        conditions: s.conditions,
        allergies: s.allergies,
        medications: s.medications,
        dispenses: s.dispenses,
        lab: s.lab,
        vitals: s.vitals,
        documents: s.documents,
        encounters: s.encounters,
        may_vitals: contribute && records_care(profession),
        may_dispense: contribute && dispenses(viewer, &ra.facility),
        may_note: contribute && records_care(profession),
        may_upload: contribute,
        prescriptions,
        vf: forms.vitals,
        df: forms.dispense,
        nf: forms.note,
        uf: forms.upload,
        vitals_errors: forms.vitals_errors,
        dispense_errors: forms.dispense_errors,
        note_errors: forms.note_errors,
        upload_errors: forms.upload_errors,
        max_upload_mb: MAX_ATTACHMENT_BYTES / (1024 * 1024),
    };
    render(&record)
}

#[derive(Deserialize, Default)]
pub struct RecordQuery {
    msg: Option<String>,
}

/// `GET /patients/{id}/record`.
pub async fn show(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Query(q): Query<RecordQuery>,
) -> AppResult<Response> {
    let ra = open(&state, &viewer, &person_id, "page:/patients/{id}/record").await?;
    if ra.person != person_id {
        return Ok(Redirect::to(&format!("/patients/{}/record", ra.person)).into_response());
    }
    Ok(page(&state, &viewer, &ra, Forms::fresh(), q.msg.as_deref())
        .await?
        .into_response())
}

/// The page again with a form's errors, 400.
async fn again(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    forms: Forms,
) -> AppResult<Response> {
    Ok((
        StatusCode::BAD_REQUEST,
        page(state, viewer, ra, forms, None).await?,
    )
        .into_response())
}

// --- writing -------------------------------------------------------------------------------

pub(super) fn author(viewer: &Viewer, facility: &Facility) -> Author {
    Author {
        requester: viewer.requester(),
        login_id: viewer.user.login_id.clone(),
        facility_id: facility.id.clone(),
        source_system: "web".into(),
        ip: viewer.client.ip_string(),
        user_agent: viewer.client.user_agent.clone(),
    }
}

/// `YYYY-MM-DDTHH:MM` in JST, as a `datetime-local` input shows it.
pub(super) fn datetime_local(millis: i64) -> String {
    jst(millis).replacen(' ', "T", 1)
}

/// Parses a `datetime-local` value (JST) to milliseconds.
pub(super) fn parse_local(s: &str) -> Option<i64> {
    use chrono::{FixedOffset, NaiveDateTime, TimeZone};
    let s = s.trim().replace(' ', "T");
    let t = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())?;
    FixedOffset::east_opt(9 * 3600)?
        .from_local_datetime(&t)
        .single()
        .map(|t| t.timestamp_millis())
}

/// A FHIR dateTime in JST with seconds.
pub(super) fn fhir_datetime(millis: i64) -> String {
    use chrono::{FixedOffset, TimeZone};
    FixedOffset::east_opt(9 * 3600)
        .and_then(|tz| tz.timestamp_millis_opt(millis).single())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+09:00").to_string())
        .unwrap_or_default()
}

/// A number as typed on a tablet: full-width digits and separators accepted.
pub(super) fn parse_number(s: &str) -> Option<f64> {
    let ascii: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '．' => '.',
            '－' | 'ー' => '-',
            _ => c,
        })
        .collect();
    ascii.parse::<f64>().ok().filter(|v| v.is_finite())
}

pub(super) fn range_message(lang: Lang, label: &str, min: f64, max: f64, unit: &str) -> String {
    match lang {
        Lang::Ja => format!(
            "{label}：{}〜{}{unit}の範囲で入力してください。",
            number(min),
            number(max)
        ),
        Lang::En => format!(
            "{label}: enter a value from {} to {} {unit}.",
            number(min),
            number(max)
        ),
    }
}

/// When something happened, from a form field: required, not in the future (five minutes'
/// grace for clocks), not before the person was born.
pub(super) fn check_time(
    tr: Tr,
    label: &str,
    value: &str,
    now: i64,
    not_before: i64,
    errors: &mut Vec<String>,
) -> i64 {
    match parse_local(value) {
        None => {
            errors.push(format!("{label}: {}", tr.t("record.bad_time")));
            0
        }
        Some(t) if t > now + 5 * 60_000 => {
            errors.push(format!("{label}: {}", tr.t("record.future_time")));
            0
        }
        Some(t) if t < not_before => {
            errors.push(format!("{label}: {}", tr.t("record.too_early")));
            0
        }
        Some(t) => t,
    }
}

/// The earliest credible time for the person's data: the birth date on record, else 1900.
pub(super) async fn not_before(state: &SharedState, person: &str) -> AppResult<i64> {
    let birth = state
        .store
        .person_records(person)
        .await?
        .into_iter()
        .filter_map(|r| super::parse_jst_date(&r.birth_date))
        .min();
    Ok(birth.unwrap_or(-2_208_988_800_000))
}

/// The time of measurement and the (field, value) pairs entered.
pub type Vitals = (i64, Vec<(&'static str, f64)>);

/// The validated vital signs: (field, value) pairs and the time.
pub fn validate_vitals(
    tr: Tr,
    form: &VitalsForm,
    now: i64,
    not_before: i64,
) -> Result<Vitals, Vec<String>> {
    let lang = tr.0;
    let mut errors = Vec::new();
    let mut values = Vec::new();
    let raw = [
        ("systolic", &form.systolic),
        ("diastolic", &form.diastolic),
        ("pulse", &form.pulse),
        ("spo2", &form.spo2),
        ("temperature", &form.temperature),
        ("weight", &form.weight),
        ("respiratory_rate", &form.respiratory_rate),
    ];
    for (field, text) in raw {
        if text.trim().is_empty() {
            continue;
        }
        let kind = VITALS
            .iter()
            .find(|k| k.field == field)
            .expect("known vital");
        let label = vital_label(tr, field);
        match parse_number(text) {
            None => errors.push(format!("{label}: {}", tr.t("record.not_a_number"))),
            Some(v) if v < kind.min || v > kind.max => {
                errors.push(range_message(lang, label, kind.min, kind.max, kind.unit))
            }
            Some(v) => values.push((field, v)),
        }
    }
    let sys = values.iter().find(|(f, _)| *f == "systolic").map(|v| v.1);
    let dia = values.iter().find(|(f, _)| *f == "diastolic").map(|v| v.1);
    let bp_typed = [&form.systolic, &form.diastolic]
        .iter()
        .filter(|s| !s.trim().is_empty())
        .count();
    if bp_typed == 1 {
        errors.push(tr.t("record.bp_both").to_string());
    }
    if let (Some(s), Some(d)) = (sys, dia) {
        if d >= s {
            errors.push(tr.t("record.bp_order").to_string());
        }
    }
    if errors.is_empty() && values.is_empty() {
        errors.push(tr.t("record.vitals_empty").to_string());
    }
    let at = check_time(
        tr,
        tr.t("record.measured_at"),
        &form.at,
        now,
        not_before,
        &mut errors,
    );
    if errors.is_empty() {
        Ok((at, values))
    } else {
        Err(errors)
    }
}

fn quantity(v: f64, unit: &str, ucum: &str) -> Value {
    json!({ "value": v, "unit": unit, "system": UCUM, "code": ucum })
}

/// The Observations of one set of vital signs: blood pressure as one panel with systolic
/// and diastolic components, every other value on its own.
pub fn vitals_resources(person: &str, at: i64, values: &[(&str, f64)]) -> Vec<Value> {
    let when = fhir_datetime(at);
    let base = |coding: Value, text: &str| {
        json!({
            "resourceType": "Observation",
            "meta": { "profile": [VITALS_PROFILE] },
            "status": "final",
            "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs" }] }],
            "code": { "coding": coding, "text": text },
            "subject": { "reference": format!("Patient/{person}") },
            "effectiveDateTime": when,
        })
    };
    let get = |f: &str| values.iter().find(|(k, _)| *k == f).map(|v| v.1);
    let mut out = Vec::new();
    if let (Some(s), Some(d)) = (get("systolic"), get("diastolic")) {
        let mut o = base(
            json!([{ "system": LOINC, "code": BP_PANEL, "display": "Blood pressure panel with all children optional" }]),
            "血圧",
        );
        o["component"] = json!([
            { "code": { "coding": [{ "system": LOINC, "code": "8480-6", "display": "Systolic blood pressure" }], "text": "収縮期血圧" },
              "valueQuantity": quantity(s, "mmHg", "mm[Hg]") },
            { "code": { "coding": [{ "system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure" }], "text": "拡張期血圧" },
              "valueQuantity": quantity(d, "mmHg", "mm[Hg]") },
        ]);
        out.push(o);
    }
    for kind in VITALS
        .iter()
        .filter(|k| !matches!(k.field, "systolic" | "diastolic"))
    {
        let Some(v) = get(kind.field) else { continue };
        let mut coding =
            vec![json!({ "system": LOINC, "code": kind.loinc, "display": kind.display })];
        if kind.field == "spo2" {
            coding.push(json!({ "system": LOINC, "code": SPO2_ARTERIAL, "display": "Oxygen saturation in Arterial blood" }));
        }
        let text = match kind.field {
            "pulse" => "脈拍",
            "spo2" => "SpO2",
            "temperature" => "体温",
            "weight" => "体重",
            _ => "呼吸数",
        };
        let mut o = base(Value::Array(coding), text);
        o["valueQuantity"] = quantity(v, kind.unit, kind.ucum);
        out.push(o);
    }
    out
}

/// Stores new resources (each a create) in one transaction with their Provenance and
/// audit record, through the same path as the FHIR API. `patient_bound` lists, for
/// resources without a patient compartment (Binary), the index of the resource whose
/// registration they share.
pub(super) async fn store_new(
    state: &SharedState,
    author: &Author,
    resources: Vec<(String, Value)>,
    attach_to: &[(usize, usize)],
) -> Result<Vec<FhirRow>, WriteError> {
    store_new_notifying(state, author, resources, attach_to, Vec::new()).await
}

/// [`store_new`] with the notifications the resources cause, in the same transaction.
pub(super) async fn store_new_notifying(
    state: &SharedState,
    author: &Author,
    resources: Vec<(String, Value)>,
    attach_to: &[(usize, usize)],
    notifications: Vec<renkei_storage::notifications::Notification>,
) -> Result<Vec<FhirRow>, WriteError> {
    let now = now_millis();
    let writes = prepare_new(state, author, resources, attach_to, now).await?;
    Ok(clinical::commit_notifying(
        state.store.as_ref(),
        author,
        writes,
        "fhir.create",
        now,
        notifications,
    )
    .await?)
}

/// The checked writes of new resources (validation, patient resolution, contribution rule),
/// each `attach_to` pair (resource, owner) giving the resource its owner's patient record.
pub(super) async fn prepare_new(
    state: &SharedState,
    author: &Author,
    resources: Vec<(String, Value)>,
    attach_to: &[(usize, usize)],
    now: i64,
) -> Result<Vec<FhirWrite>, WriteError> {
    let known: Vec<String> = resources
        .iter()
        .map(|(id, r)| format!("{}/{id}", r["resourceType"].as_str().unwrap_or_default()))
        .collect();
    let mut writes: Vec<FhirWrite> = Vec::new();
    for (id, resource) in resources {
        let write = clinical::prepare_write(
            state.store.as_ref(),
            author,
            resource,
            WriteIntent {
                kind: FhirWriteKind::Create,
                id,
                version_id: 1,
            },
            now,
            &known,
        )
        .await?;
        writes.push(write);
    }
    for (resource, owner) in attach_to {
        let record = writes[*owner].patient_record_id.clone();
        writes[*resource].patient_record_id = record;
    }
    Ok(writes)
}

/// Turns a refused write into form errors (or the error page for storage failures).
pub(super) fn write_errors(tr: Tr, lang: Lang, e: WriteError) -> AppResult<Vec<String>> {
    match e {
        WriteError::Invalid(issues) => Ok(issues
            .into_iter()
            .map(|i| match lang {
                Lang::Ja => i.ja,
                Lang::En => i.en,
            })
            .collect()),
        WriteError::PatientOutOfReach(_) | WriteError::NotAuthor(_) => Err(AppError::Forbidden),
        WriteError::UnknownReference(_) => Ok(vec![tr.t("record.unknown_reference").to_string()]),
        WriteError::Store(e) => Err(e.into()),
    }
}

pub(super) fn saved(person: &str, anchor: &str) -> Response {
    Redirect::to(&format!(
        "/patients/{person}/record?msg=notice.record_saved#{anchor}"
    ))
    .into_response()
}

/// `POST /patients/{id}/record/vitals`.
pub async fn add_vitals(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<VitalsForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = open(&state, &viewer, &person_id, "action:record.vitals").await?;
    if !(ra.may_contribute() && records_care(viewer.user.profession)) {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let now = now_millis();
    let earliest = not_before(&state, &ra.person).await?;
    let errors = match validate_vitals(tr, &form, now, earliest) {
        Ok((at, values)) => {
            let resources = vitals_resources(&ra.person, at, &values)
                .into_iter()
                .map(|r| (crate::fhir_rest::new_id(), r))
                .collect();
            match store_new(&state, &author(&viewer, &ra.facility), resources, &[]).await {
                Ok(_) => return Ok(saved(&ra.person, "vitals")),
                Err(e) => write_errors(tr, viewer.lang(), e)?,
            }
        }
        Err(errors) => errors,
    };
    let forms = Forms {
        vitals: form,
        vitals_errors: errors,
        ..Forms::fresh()
    };
    again(&state, &viewer, &ra, forms).await
}

/// The code system of a drug code: YJ (12 characters), HOT9 or HOT13 (digits), HOT7.
fn drug_code_system(code: &str) -> Option<&'static str> {
    let digits = code.chars().all(|c| c.is_ascii_digit());
    match code.len() {
        12 if code.chars().all(|c| c.is_ascii_alphanumeric()) => Some(YJ),
        13 if digits => Some(HOT13),
        9 if digits => Some(HOT9),
        7 if digits => Some(HOT7),
        _ => None,
    }
}

/// `POST /patients/{id}/record/dispense`: a pharmacy's dispensing record.
pub async fn add_dispense(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<DispenseForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = open(&state, &viewer, &person_id, "action:record.dispense").await?;
    if !(ra.may_contribute() && dispenses(&viewer, &ra.facility)) {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let lang = viewer.lang();
    let now = now_millis();
    let mut errors = Vec::new();
    let clean =
        |field: &'static str, value: &str, max: usize, required: bool, errors: &mut Vec<String>| {
            renkei_domain::text::clean(field, value, max, required).unwrap_or_else(|e| {
                errors.push(format!("{}: {}", tr.field(e.field), e.message(lang)));
                String::new()
            })
        };
    let drug = clean("drug", &form.drug, 200, true, &mut errors);
    let code: String = form
        .code
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    let system = if code.is_empty() {
        None
    } else {
        match drug_code_system(&code) {
            Some(s) => Some(s),
            None => {
                errors.push(format!(
                    "{}: {}",
                    tr.field("drug_code"),
                    tr.t("record.bad_drug_code")
                ));
                None
            }
        }
    };
    let quantity = match parse_number(&form.quantity) {
        Some(q) if q > 0.0 && q <= 100_000.0 => Some(q),
        Some(_) => {
            errors.push(range_message(
                lang,
                &tr.field("quantity"),
                0.001,
                100_000.0,
                "",
            ));
            None
        }
        None if form.quantity.trim().is_empty() => {
            errors.push(format!(
                "{}: {}",
                tr.field("quantity"),
                tr.t("record.required")
            ));
            None
        }
        None => {
            errors.push(format!(
                "{}: {}",
                tr.field("quantity"),
                tr.t("record.not_a_number")
            ));
            None
        }
    };
    let unit = clean("unit", &form.unit, 20, false, &mut errors);
    let days = match form.days.trim() {
        "" => None,
        d => match parse_number(d) {
            Some(n) if n.fract() == 0.0 && (1.0..=365.0).contains(&n) => Some(n),
            _ => {
                errors.push(range_message(
                    lang,
                    &tr.field("days"),
                    1.0,
                    365.0,
                    tr.t("record.days_suffix"),
                ));
                None
            }
        },
    };
    let dosage = clean("dosage", &form.dosage, 200, false, &mut errors);
    let note = clean("note", &form.note, 1000, false, &mut errors);
    let earliest = not_before(&state, &ra.person).await?;
    let handed_over = check_time(
        tr,
        &tr.field("handed_over"),
        &form.handed_over,
        now,
        earliest,
        &mut errors,
    );
    // The prescription, if chosen, must be one this page shows the viewer.
    let prescription = match form.prescription.trim() {
        "" => None,
        id => match state.store.fhir_read("MedicationRequest", id).await? {
            Some(row) if row_visible(&ra, &row) => Some(row.id),
            _ => {
                errors.push(tr.t("record.unknown_reference").to_string());
                None
            }
        },
    };
    if errors.is_empty() {
        let mut coding = Vec::new();
        if let Some(system) = system {
            coding.push(json!({ "system": system, "code": code, "display": drug }));
        }
        let mut medication = json!({ "text": drug });
        if !coding.is_empty() {
            medication["coding"] = Value::Array(coding);
        }
        let unit_text = if unit.is_empty() {
            "錠".to_string()
        } else {
            unit
        };
        let mut d = json!({
            "resourceType": "MedicationDispense",
            "meta": { "profile": [DISPENSE_PROFILE] },
            "status": "completed",
            "medicationCodeableConcept": medication,
            "subject": { "reference": format!("Patient/{}", ra.person) },
            "quantity": { "value": quantity.unwrap_or_default(), "unit": unit_text },
            "whenHandedOver": fhir_datetime(handed_over),
        });
        if let Some(days) = days {
            d["daysSupply"] = json!({ "value": days, "unit": "日", "system": UCUM, "code": "d" });
        }
        if !dosage.is_empty() {
            d["dosageInstruction"] = json!([{ "text": dosage }]);
        }
        if !note.is_empty() {
            d["note"] = json!([{ "text": note }]);
        }
        if let Some(p) = prescription {
            d["authorizingPrescription"] =
                json!([{ "reference": format!("MedicationRequest/{p}") }]);
        }
        match store_new(
            &state,
            &author(&viewer, &ra.facility),
            vec![(crate::fhir_rest::new_id(), d)],
            &[],
        )
        .await
        {
            Ok(_) => return Ok(saved(&ra.person, "medications")),
            Err(e) => errors = write_errors(tr, lang, e)?,
        }
    }
    let forms = Forms {
        dispense: form,
        dispense_errors: errors,
        ..Forms::fresh()
    };
    again(&state, &viewer, &ra, forms).await
}

/// Kinds of care notes: (form value, LOINC, display).
const NOTE_KINDS: [(&str, &str, &str); 2] = [
    ("nurse", "34746-8", "Nurse Note"),
    ("progress", "11506-3", "Progress note"),
];

fn note_label(tr: Tr, kind: &str) -> &'static str {
    match kind {
        "progress" => tr.t("record.note_progress"),
        _ => tr.t("record.note_nurse"),
    }
}

/// `POST /patients/{id}/record/note`: a care or nursing note (DocumentReference with the
/// text as a `text/plain` attachment).
pub async fn add_note(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let ra = open(&state, &viewer, &person_id, "action:record.note").await?;
    if !(ra.may_contribute() && records_care(viewer.user.profession)) {
        return Err(AppError::Forbidden);
    }
    let tr = viewer.tr();
    let lang = viewer.lang();
    let mut errors = Vec::new();
    let kind = NOTE_KINDS.iter().find(|k| k.0 == form.kind);
    if kind.is_none() {
        errors.push(format!(
            "{}: {}",
            tr.field("note_kind"),
            tr.t("form.unknown_choice")
        ));
    }
    let title = renkei_domain::text::clean("title", &form.title, 100, false).unwrap_or_else(|e| {
        errors.push(format!("{}: {}", tr.field(e.field), e.message(lang)));
        String::new()
    });
    // Notes keep their line breaks: only the ends are trimmed.
    let text = form.text.replace("\r\n", "\n").trim().to_string();
    if text.is_empty() {
        errors.push(format!(
            "{}: {}",
            tr.field("note_text"),
            tr.t("record.required")
        ));
    } else if text.chars().count() > MAX_NOTE_CHARS {
        errors.push(format!(
            "{}: {}",
            tr.field("note_text"),
            tr.t("record.note_too_long")
        ));
    } else if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(format!(
            "{}: {}",
            tr.field("note_text"),
            tr.t("record.bad_characters")
        ));
    }
    if let (true, Some((code, loinc, display))) = (errors.is_empty(), kind) {
        let now = now_millis();
        let label = note_label(Tr(Lang::Ja), code);
        let title = if title.is_empty() {
            label.to_string()
        } else {
            title
        };
        let doc = json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "type": { "coding": [{ "system": LOINC, "code": loinc, "display": display }], "text": label },
            "subject": { "reference": format!("Patient/{}", ra.person) },
            "date": clinical::instant(now),
            "description": title,
            "content": [{ "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                "title": title,
                "creation": fhir_datetime(now),
            } }],
        });
        match store_new(
            &state,
            &author(&viewer, &ra.facility),
            vec![(crate::fhir_rest::new_id(), doc)],
            &[],
        )
        .await
        {
            Ok(_) => return Ok(saved(&ra.person, "documents")),
            Err(e) => errors = write_errors(tr, lang, e)?,
        }
    }
    let forms = Forms {
        note: form,
        note_errors: errors,
        ..Forms::fresh()
    };
    again(&state, &viewer, &ra, forms).await
}

/// `POST /patients/{id}/record/attachments` (multipart: `csrf`, `title`, `file`): a PDF,
/// JPEG or PNG judged by its bytes, stored as a Binary bound to the patient and a
/// DocumentReference pointing at it.
pub async fn upload(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(person_id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let tr = viewer.tr();
    let lang = viewer.lang();
    let form = super::read_multipart(tr, multipart, &["csrf", "title"]).await?;
    let (csrf, title, file) = (form.text("csrf"), form.text("title"), form.file);
    viewer.check_csrf(&csrf)?;
    let ra = open(&state, &viewer, &person_id, "action:record.upload").await?;
    if !ra.may_contribute() {
        return Err(AppError::Forbidden);
    }
    let mut errors = Vec::new();
    let title = renkei_domain::text::clean("title", &title, 100, false).unwrap_or_else(|e| {
        errors.push(format!("{}: {}", tr.field(e.field), e.message(lang)));
        String::new()
    });
    let kind = match file.as_ref().filter(|(_, d)| !d.is_empty()) {
        None => {
            errors.push(tr.t("record.upload_missing").to_string());
            None
        }
        Some((_, data)) if data.len() > MAX_ATTACHMENT_BYTES => {
            errors.push(tr.t("record.upload_too_large").to_string());
            None
        }
        Some((_, data)) => match renkei_domain::files::detect(data) {
            Some(k) => Some(k),
            None => {
                errors.push(tr.t("record.upload_wrong_type").to_string());
                None
            }
        },
    };
    if let (true, Some(kind), Some((claimed, data))) = (errors.is_empty(), kind, file) {
        let now = now_millis();
        let filename = renkei_domain::files::safe_filename(&claimed, kind);
        let binary_id = crate::fhir_rest::new_id();
        let size = data.len();
        let binary = json!({
            "resourceType": "Binary",
            "contentType": kind.mime(),
            // Access to the content follows the patient's (the Binary is stored bound to
            // the DocumentReference's registration).
            "securityContext": { "reference": format!("Patient/{}", ra.person) },
            "data": base64::engine::general_purpose::STANDARD.encode(&data),
        });
        let label = match kind {
            renkei_domain::files::DocumentKind::Pdf => tr_ja("record.kind_pdf"),
            _ => tr_ja("record.kind_image"),
        };
        let doc = json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "type": { "text": label },
            "subject": { "reference": format!("Patient/{}", ra.person) },
            "date": clinical::instant(now),
            "description": if title.is_empty() { filename.clone() } else { title },
            "content": [{ "attachment": {
                "contentType": kind.mime(),
                "url": format!("Binary/{binary_id}"),
                "size": size,
                "title": filename,
                "creation": fhir_datetime(now),
            } }],
        });
        let resources = vec![(binary_id, binary), (crate::fhir_rest::new_id(), doc)];
        match store_new(&state, &author(&viewer, &ra.facility), resources, &[(0, 1)]).await {
            Ok(_) => return Ok(saved(&ra.person, "documents")),
            Err(e) => errors = write_errors(tr, lang, e)?,
        }
    }
    let forms = Forms {
        upload: UploadForm {
            title: String::new(),
        },
        upload_errors: errors,
        ..Forms::fresh()
    };
    again(&state, &viewer, &ra, forms).await
}

/// Stored text in Japanese whatever the viewer's language (stored data is Japanese first).
pub(super) fn tr_ja(key: &str) -> &'static str {
    Tr(Lang::Ja).t(key)
}

/// Content types served as they are (anything else is a download of octet-stream).
pub(super) fn served_type(claimed: &str, data: &[u8]) -> (&'static str, bool) {
    use renkei_domain::files::{detect, detect_video, DocumentKind};
    if let Some(video) = detect_video(data) {
        return if claimed == video.mime() {
            (video.mime(), true)
        } else {
            ("application/octet-stream", false)
        };
    }
    match (claimed, detect(data)) {
        ("image/jpeg", Some(DocumentKind::Jpeg)) => ("image/jpeg", true),
        ("image/png", Some(DocumentKind::Png)) => ("image/png", true),
        ("application/pdf", Some(DocumentKind::Pdf)) => ("application/pdf", false),
        (t, None) if t.starts_with("text/plain") => ("text/plain; charset=utf-8", true),
        _ => ("application/octet-stream", false),
    }
}

/// A document (or its content) that is missing or outside the viewer's scope: 404, with a
/// denied `patient.read` record like every other refused read of patient data.
pub(super) async fn refused(
    state: &SharedState,
    viewer: &Viewer,
    ra: &RecordAccess,
    resource: &str,
) -> AppError {
    let detail = json!({ "resource": resource, "reason": "not_in_scope" });
    match audit_read(state, viewer, &ra.person, Outcome::Denied, detail).await {
        Ok(()) => AppError::NotFound,
        Err(e) => e,
    }
}

/// `GET /patients/{id}/record/documents/{doc_id}`: a document's content, access checked
/// again (the DocumentReference and its Binary must both be within the viewer's scope) and
/// audited.
pub async fn download(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((person_id, doc_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ra = open(
        &state,
        &viewer,
        &person_id,
        "page:/patients/{id}/record/documents/{doc_id}",
    )
    .await?;
    let resource = format!("page:/patients/{{id}}/record/documents/{doc_id}");
    let Some(doc) = state
        .store
        .fhir_read("DocumentReference", &doc_id)
        .await?
        .filter(|row| row_visible(&ra, row))
    else {
        return Err(refused(&state, &viewer, &ra, &resource).await);
    };
    let v: Value =
        serde_json::from_str(&doc.content).map_err(|e| AppError::Internal(e.to_string()))?;
    let attachment = v
        .pointer("/content/0/attachment")
        .cloned()
        .unwrap_or(Value::Null);
    let (content_type, b64) = match (text_at(&attachment, "/data"), text_at(&attachment, "/url")) {
        (Some(data), _) => (
            text_at(&attachment, "/contentType")
                .unwrap_or("")
                .to_string(),
            data.to_string(),
        ),
        (None, Some(url)) => {
            let (rtype, id) = relative_reference(url).ok_or(AppError::NotFound)?;
            if rtype != "Binary" {
                return Err(AppError::NotFound);
            }
            let Some(bin) = state
                .store
                .fhir_read("Binary", &id)
                .await?
                .filter(|row| row_visible(&ra, row))
            else {
                return Err(refused(&state, &viewer, &ra, &resource).await);
            };
            let b: Value = serde_json::from_str(&bin.content)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            (
                text_at(&b, "/contentType").unwrap_or("").to_string(),
                text_at(&b, "/data").unwrap_or("").to_string(),
            )
        }
        _ => return Err(AppError::NotFound),
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| AppError::NotFound)?;
    audit_read(
        &state,
        &viewer,
        &ra.person,
        Outcome::Success,
        ra.audit_basis(json!({
            "resource": resource,
            "category": doc.category,
            "source": doc.source_facility_id,
            "basis": if doc.source_facility_id.as_deref() == Some(ra.facility.id.as_str()) { "own_facility" } else { "care_team_consent" },
        })),
    )
    .await?;
    let (mime, inline) = served_type(&content_type, &data);
    let filename = text_at(&attachment, "/title")
        .unwrap_or("document")
        .to_string();
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        crate::error::urlencode(&filename)
    );
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        data,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Tr {
        Tr(Lang::Ja)
    }

    #[test]
    fn vitals_are_checked_and_become_valid_observations() {
        let now = parse_local("2026-11-22T13:05").unwrap();
        let form = VitalsForm {
            at: "2026-11-22T12:30".into(),
            systolic: "１２８".into(),
            diastolic: "76".into(),
            pulse: "72".into(),
            spo2: "97".into(),
            temperature: "36.8".into(),
            weight: "48.2".into(),
            respiratory_rate: "16".into(),
            ..Default::default()
        };
        let (at, values) = validate_vitals(tr(), &form, now, 0).unwrap();
        assert_eq!(values.len(), 7);
        let resources = vitals_resources("p1", at, &values);
        assert_eq!(resources.len(), 6, "blood pressure is one panel");
        for r in &resources {
            let prepared =
                renkei_fhir::resource::prepare(r).unwrap_or_else(|e| panic!("{e:?}\n{r}"));
            assert_eq!(prepared.category, InfoCategory::Care);
            assert_eq!(prepared.patient_reference.as_deref(), Some("Patient/p1"));
        }
        assert_eq!(
            resources[0]["component"][0]["code"]["coding"][0]["code"],
            "8480-6"
        );
        assert_eq!(
            resources[0]["effectiveDateTime"],
            "2026-11-22T12:30:00+09:00"
        );

        for (field, value) in [("spo2", "140"), ("temperature", "60"), ("pulse", "abc")] {
            let mut bad = VitalsForm {
                at: "2026-11-22T12:30".into(),
                ..Default::default()
            };
            match field {
                "spo2" => bad.spo2 = value.into(),
                "temperature" => bad.temperature = value.into(),
                _ => bad.pulse = value.into(),
            }
            assert!(
                validate_vitals(tr(), &bad, now, 0).is_err(),
                "{field}={value}"
            );
        }
        let future = VitalsForm {
            at: "2026-11-23T12:30".into(),
            pulse: "70".into(),
            ..Default::default()
        };
        assert!(validate_vitals(tr(), &future, now, 0).is_err());
        let half_bp = VitalsForm {
            at: "2026-11-22T12:30".into(),
            systolic: "120".into(),
            ..Default::default()
        };
        assert!(validate_vitals(tr(), &half_bp, now, 0).is_err());
        let empty = VitalsForm {
            at: "2026-11-22T12:30".into(),
            ..Default::default()
        };
        assert!(validate_vitals(tr(), &empty, now, 0).is_err());
    }

    #[test]
    fn charts_need_two_points_and_scale_to_the_box() {
        let obs = |v: f64, when: &str| {
            json!({"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://medis.or.jp/CodeSystem/master-JLAC10-17digits", "code": "3D046000001906202", "display": "HbA1c"}]},
                "effectiveDateTime": when,
                "valueQuantity": {"value": v, "unit": "%"},
                "referenceRange": [{"low": {"value": 4.6}, "high": {"value": 6.2}}]})
        };
        let one = vec![obs_point(
            tr(),
            &obs(6.8, "2026-10-01T09:00:00+09:00"),
            "A".into(),
            false,
            0,
        )];
        let g = grid(one, true);
        assert!(g.charts.is_empty());
        assert_eq!(g.rows[0].cells[0][0].flag, "H");
        let two = vec![
            obs_point(
                tr(),
                &obs(6.8, "2026-10-01T09:00:00+09:00"),
                "A".into(),
                false,
                0,
            ),
            obs_point(
                tr(),
                &obs(5.9, "2026-11-01T09:00:00+09:00"),
                "B".into(),
                false,
                1,
            ),
        ];
        let g = grid(two, true);
        assert_eq!(g.columns, vec!["2026-11-01", "2026-10-01"], "newest first");
        assert_eq!(g.rows[0].codes[0].system, "JLAC10");
        assert_eq!(
            g.rows[0].cells[0][0].source, "B",
            "mixed sources are named per cell"
        );
        let c = &g.charts[0];
        assert!(c.band.is_some());
        for p in &c.series[0].points {
            let x: f64 = p.x.parse().unwrap();
            let y: f64 = p.y.parse().unwrap();
            assert!((0.0..=CHART_W).contains(&x) && (0.0..=CHART_H).contains(&y));
        }
    }

    #[test]
    fn code_systems_have_short_names() {
        assert_eq!(
            system_label("http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"),
            "ICD-10"
        );
        assert_eq!(
            system_label("http://medis.or.jp/CodeSystem/master-disease-keyNumber"),
            "MEDIS"
        );
        assert_eq!(system_label(YJ), "YJ");
        assert_eq!(drug_code_system("1124017F1024"), Some(YJ));
        assert_eq!(drug_code_system("103835401"), Some(HOT9));
        assert_eq!(drug_code_system("12ab"), None);
    }

    #[test]
    fn notes_and_dispenses_validate() {
        let note = json!({
            "resourceType": "DocumentReference", "status": "current",
            "type": {"coding": [{"system": LOINC, "code": "34746-8", "display": "Nurse Note"}], "text": "看護記録"},
            "subject": {"reference": "Patient/p1"}, "date": clinical::instant(0), "description": "訪問",
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": "5pys5paH", "title": "訪問", "creation": fhir_datetime(0)}}]
        });
        renkei_fhir::resource::prepare(&note).unwrap();
        let binary = json!({"resourceType": "Binary", "contentType": "application/pdf",
            "securityContext": {"reference": "Patient/p1"}, "data": "JVBERi0="});
        renkei_fhir::resource::prepare(&binary).unwrap();
        let dispense = json!({
            "resourceType": "MedicationDispense", "meta": {"profile": [DISPENSE_PROFILE]}, "status": "completed",
            "medicationCodeableConcept": {"text": "アムロジピン錠5mg", "coding": [{"system": YJ, "code": "2171022F1020", "display": "アムロジピン錠5mg"}]},
            "subject": {"reference": "Patient/p1"}, "quantity": {"value": 28.0, "unit": "錠"},
            "daysSupply": {"value": 28.0, "unit": "日", "system": UCUM, "code": "d"},
            "whenHandedOver": fhir_datetime(0), "dosageInstruction": [{"text": "1日1回朝食後"}], "note": [{"text": "残薬なし"}]
        });
        let p = renkei_fhir::resource::prepare(&dispense).unwrap();
        assert_eq!(p.category, InfoCategory::Medication);
    }
}
