//! Tele-ICU services: who may watch which beds (and what of them), monitor ingest with
//! group commit, alert rules with de-duplication and hysteresis, the data-gap sweep and
//! retention.
//!
//! **Access.** ICU data is the treating hospital's own record, shared with the support
//! centre it contracts (a commissioned party under Japan's APPI, not a third party), so
//! the rule is about the unit, not a regional-network consent: a person acting for the
//! unit's facility or for its support centre may watch it, with a view by profession
//! (clerks: temperature, urine, GCS; nurses: vitals, nursing items; physicians:
//! everything). Every view writes an audit record naming what was shown.
//!
//! **Ingest.** Connections hand parsed messages to one writer task per node, which stores
//! whatever is queued in one transaction and answers each message only after the commit —
//! the same group commit as the audit trail, so 500 beds cost a few commits a second, not
//! 500. A message is attached to the bed's open stay only when its patient identifiers
//! (if any) agree with the admitted patient; otherwise it is quarantined whole.

use crate::{ServiceError, ServiceResult};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::Requester;
use renkei_domain::{ids, Millis, Profession};
use renkei_storage::icu::*;
use renkei_storage::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The event topic announcing stays whose values, alerts or admission changed.
pub const EVENT_TOPIC: &str = "icu";

// --- access ---------------------------------------------------------------------------

/// What a profession sees of a bed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IcuRole {
    Clerk,
    Nurse,
    Physician,
}

impl IcuRole {
    pub fn of(profession: Profession) -> Option<IcuRole> {
        match profession {
            Profession::Physician => Some(IcuRole::Physician),
            Profession::Nurse | Profession::PublicHealthNurse => Some(IcuRole::Nurse),
            Profession::Clerk => Some(IcuRole::Clerk),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            IcuRole::Clerk => "clerk",
            IcuRole::Nurse => "nurse",
            IcuRole::Physician => "physician",
        }
    }

    /// Whether an item is part of this role's view (REQUIREMENTS §3: clerks watch
    /// temperature, urine and GCS; nurses the bedside picture; doctors everything).
    pub fn sees_item(self, item: &str) -> bool {
        match self {
            IcuRole::Physician => true,
            IcuRole::Nurse => !LAB_ONLY.contains(&item),
            IcuRole::Clerk => CLERK_ITEMS.contains(&item),
        }
    }

    /// Whether an alert addressed to `audience` (comma list) is for this role.
    pub fn hears(self, audience: &str) -> bool {
        self == IcuRole::Physician || audience.split(',').any(|a| a.trim() == self.code())
    }
}

const CLERK_ITEMS: &[&str] = &["temp", "temp_rectal", "urine", "gcs"];
const LAB_ONLY: &[&str] = &[
    "pao2",
    "paco2",
    "ph",
    "creatinine",
    "hct",
    "wbc",
    "plt",
    "bilirubin",
    "bun",
    "urea",
];

/// The pure rule: a unit is watched by its own facility and by its support centre.
pub fn may_watch(facility_id: &str, unit: &IcuUnit) -> bool {
    unit.facility_id == facility_id || unit.centre_facility_id == facility_id
}

/// A granted view: the role and the units the requester may watch.
#[derive(Debug, Clone)]
pub struct IcuView {
    pub role: IcuRole,
    pub facility_id: String,
    pub units: Vec<IcuUnit>,
}

impl IcuView {
    pub fn unit(&self, unit_id: &str) -> Option<&IcuUnit> {
        self.units.iter().find(|u| u.id == unit_id)
    }

    /// Whether this view's holder works at the support centre of the unit.
    pub fn is_centre_for(&self, unit: &IcuUnit) -> bool {
        unit.centre_facility_id == self.facility_id
    }
}

/// Who is asking, for the audit record.
#[derive(Debug, Clone, Default)]
pub struct IcuOrigin {
    pub login_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

fn audit_for(
    requester: &Requester,
    origin: &IcuOrigin,
    action: &str,
    outcome: Outcome,
) -> AuditEntry {
    AuditEntry::new(action, outcome)
        .actor(
            Some(&requester.user_id),
            Some(&origin.login_id),
            requester.facility_id.as_deref(),
        )
        .from_client(origin.ip.clone(), origin.user_agent.clone())
}

/// The units `requester` may watch and in which role; None when the requester has no
/// Tele-ICU role (or no unit). Pure lookup: the caller audits what it then shows.
pub async fn view_for(store: &dyn Store, requester: &Requester) -> ServiceResult<Option<IcuView>> {
    let (Some(role), Some(facility_id)) = (
        IcuRole::of(requester.profession),
        requester.facility_id.as_deref(),
    ) else {
        return Ok(None);
    };
    let units: Vec<IcuUnit> = store
        .icu()
        .icu_units()
        .await?
        .into_iter()
        .filter(|u| u.active && may_watch(facility_id, u))
        .collect();
    if units.is_empty() {
        return Ok(None);
    }
    Ok(Some(IcuView {
        role,
        facility_id: facility_id.to_string(),
        units,
    }))
}

/// Audits a census view: which stays (patients) were on the screen.
pub async fn audit_census(
    store: &dyn Store,
    requester: &Requester,
    origin: &IcuOrigin,
    view: &IcuView,
    stays: &[&IcuStay],
) -> ServiceResult<()> {
    let entry = audit_for(requester, origin, "icu.census.view", Outcome::Success).detail(
        serde_json::json!({
            "role": view.role.code(),
            "stays": stays.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            "persons": stays.iter().map(|s| s.person_id.as_str()).collect::<Vec<_>>(),
        }),
    );
    store.append_audit(entry).await?;
    Ok(())
}

/// A stay the requester may open, with its bed and unit; audited as a read of the patient
/// (refusals too). None when it does not exist or is outside the requester's units —
/// indistinguishable, as everywhere.
pub async fn open_stay(
    store: &dyn Store,
    requester: &Requester,
    origin: &IcuOrigin,
    view: &IcuView,
    stay_id: &str,
    what: &str,
) -> ServiceResult<Option<(IcuStay, IcuBed, IcuUnit)>> {
    let found = match store.icu().icu_stay(stay_id).await? {
        Some(stay) => {
            let bed = store
                .icu()
                .icu_beds()
                .await?
                .into_iter()
                .find(|b| b.id == stay.bed_id);
            bed.and_then(|b| view.unit(&b.unit_id).cloned().map(|u| (stay, b, u)))
        }
        None => None,
    };
    let outcome = if found.is_some() {
        Outcome::Success
    } else {
        Outcome::Denied
    };
    let mut entry = audit_for(requester, origin, what, outcome)
        .target("icu_stay", stay_id)
        .detail(serde_json::json!({ "role": view.role.code() }));
    if let Some((stay, _, _)) = &found {
        entry.patient_id = Some(stay.person_id.clone());
    }
    store.append_audit(entry).await?;
    Ok(found)
}

// --- bed assignment by ADT -----------------------------------------------------------------

/// What an ADT message asks of the ICU beds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedAction {
    /// A01: the patient is in this bed.
    Admit,
    /// A02: the patient moved from the prior bed to this one (either may be outside the
    /// ICU).
    Transfer,
    /// A03: the patient left.
    Discharge,
    /// A11: the admission was entered in error.
    CancelAdmit,
    /// A08, A13: nothing for the bed board.
    Other,
}

/// One ADT event, resolved to the sending facility and the patient's registration.
#[derive(Debug, Clone)]
pub struct BedEventInput {
    pub facility_id: String,
    pub action: BedAction,
    /// PV1-3 bed, as the monitor key of a configured bed.
    pub bed_key: Option<String>,
    /// PV1-6 prior bed (A02).
    pub prior_bed_key: Option<String>,
    pub record_id: String,
    pub person_id: String,
    /// PID-3 of the message (the facility's patient ID).
    pub local_id: String,
    /// EVN-6 / EVN-2 / MSH-7.
    pub at: Millis,
    /// `ADT^A01 <control id>`, kept in the stay's details and the audit record.
    pub source: String,
    /// Account the change is recorded under (`mllp:<facility>`).
    pub actor: String,
}

/// What an ADT event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BedEventOutcome {
    /// A stay was opened (stay id).
    Admitted(String),
    /// The patient was already in that bed: nothing changed (a resent A01).
    AlreadyAdmitted,
    Discharged,
    /// Moved between two ICU beds (new stay id).
    Moved(String),
    /// Nothing to do, with why (shown as an ACK warning).
    Ignored(String),
}

/// Why an ADT event is refused (AE): never attach a patient to a bed held by another.
#[derive(Debug)]
pub enum BedEventRefusal {
    UnknownBed(String),
    Occupied {
        bed: String,
        local_id: String,
    },
    /// The patient already lies in this bed (label).
    InAnotherBed(String),
    Store(StoreError),
}

impl std::fmt::Display for BedEventRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BedEventRefusal::UnknownBed(b) => {
                write!(f, "bed {b:?} is not a configured ICU bed of this sender")
            }
            BedEventRefusal::Occupied { bed, local_id } => write!(
                f,
                "bed {bed:?} holds another patient ({local_id}); discharge them first (A03)"
            ),
            BedEventRefusal::InAnotherBed(bed) => write!(
                f,
                "the patient already lies in bed {bed:?}; send A02 to move them, or A03 first"
            ),
            BedEventRefusal::Store(e) => write!(f, "not stored: {e}"),
        }
    }
}

impl From<StoreError> for BedEventRefusal {
    fn from(e: StoreError) -> Self {
        BedEventRefusal::Store(e)
    }
}

/// Applies an ADT event to the ICU stays: A01 opens a stay (refused when another patient
/// holds the bed), A03 and A11 close the patient's stay, A02 closes the stay in the prior
/// bed and opens one in the new bed. Each change is audited and announced on
/// [`CONFIG_TOPIC`] so every node's ingest sees the bed's new patient at once.
pub async fn apply_bed_event(
    store: &dyn Store,
    input: &BedEventInput,
) -> Result<BedEventOutcome, BedEventRefusal> {
    let icu = store.icu();
    let beds = icu.icu_beds().await?;
    let find_bed = |key: &Option<String>| {
        key.as_ref().and_then(|k| {
            beds.iter()
                .find(|b| b.active && b.facility_id == input.facility_id && &b.monitor_key == k)
        })
    };
    let open = icu.icu_open_stays().await?;
    let stay_in = |bed: &IcuBed| open.iter().find(|s| s.bed_id == bed.id);
    let audit = |action: &str, stay: &str| {
        let mut entry = AuditEntry::new(action, Outcome::Success)
            .actor(
                Some(&input.actor),
                Some(&input.actor),
                Some(&input.facility_id),
            )
            .target("icu_stay", stay)
            .detail(serde_json::json!({ "source": input.source }));
        entry.patient_id = Some(input.person_id.clone());
        entry
    };
    let outcome = match input.action {
        BedAction::Other => {
            return Ok(BedEventOutcome::Ignored(
                "no change to the bed board for this event".into(),
            ))
        }
        BedAction::Admit => {
            let Some(bed) = find_bed(&input.bed_key) else {
                return Err(BedEventRefusal::UnknownBed(
                    input.bed_key.clone().unwrap_or_default(),
                ));
            };
            if let Some(stay) = stay_in(bed) {
                if stay.local_id == input.local_id {
                    return Ok(BedEventOutcome::AlreadyAdmitted);
                }
                return Err(BedEventRefusal::Occupied {
                    bed: bed.label.clone(),
                    local_id: stay.local_id.clone(),
                });
            }
            // One patient, one bed: an A01 for a patient lying elsewhere is a missed A02.
            if let Some(elsewhere) = open
                .iter()
                .find(|s| s.facility_id == input.facility_id && s.local_id == input.local_id)
            {
                let label = beds
                    .iter()
                    .find(|b| b.id == elsewhere.bed_id)
                    .map(|b| b.label.clone())
                    .unwrap_or_default();
                return Err(BedEventRefusal::InAnotherBed(label));
            }
            let id = admit_by_adt(store, input, bed, &audit).await?;
            BedEventOutcome::Admitted(id)
        }
        BedAction::Discharge | BedAction::CancelAdmit => {
            let mine = open
                .iter()
                .find(|s| s.facility_id == input.facility_id && s.local_id == input.local_id);
            let Some(stay) = mine else {
                return Ok(BedEventOutcome::Ignored(format!(
                    "patient {} has no open ICU stay",
                    input.local_id
                )));
            };
            let summary = if input.action == BedAction::CancelAdmit {
                format!("入室取消（{}）", input.source)
            } else {
                format!("退室（{}）", input.source)
            };
            icu.icu_discharge(
                &stay.id,
                input.at,
                &input.actor,
                &summary,
                audit("icu.discharge", &stay.id),
            )
            .await?;
            BedEventOutcome::Discharged
        }
        BedAction::Transfer => {
            let new_bed = find_bed(&input.bed_key);
            if let Some(bed) = new_bed {
                if let Some(stay) = stay_in(bed) {
                    if stay.local_id == input.local_id {
                        return Ok(BedEventOutcome::AlreadyAdmitted);
                    }
                    return Err(BedEventRefusal::Occupied {
                        bed: bed.label.clone(),
                        local_id: stay.local_id.clone(),
                    });
                }
            }
            if let Some(stay) = open
                .iter()
                .find(|s| s.facility_id == input.facility_id && s.local_id == input.local_id)
            {
                icu.icu_discharge(
                    &stay.id,
                    input.at,
                    &input.actor,
                    &format!("転棟（{}）", input.source),
                    audit("icu.discharge", &stay.id),
                )
                .await?;
            }
            match new_bed {
                Some(bed) => BedEventOutcome::Moved(admit_by_adt(store, input, bed, &audit).await?),
                None => BedEventOutcome::Discharged,
            }
        }
    };
    store.publish_event(CONFIG_TOPIC, &input.source).await?;
    Ok(outcome)
}

async fn admit_by_adt(
    store: &dyn Store,
    input: &BedEventInput,
    bed: &IcuBed,
    audit: &impl Fn(&str, &str) -> AuditEntry,
) -> Result<String, StoreError> {
    let stay = IcuStay {
        id: ids::new_id(),
        bed_id: bed.id.clone(),
        facility_id: input.facility_id.clone(),
        person_id: input.person_id.clone(),
        record_id: input.record_id.clone(),
        local_id: input.local_id.clone(),
        admitted_at: input.at,
        admitted_by: input.actor.clone(),
        details: serde_json::json!({ "source": input.source }).to_string(),
        is_test: false,
        discharged_at: None,
        discharged_by: None,
        discharge_summary: None,
    };
    let id = stay.id.clone();
    store.icu().icu_admit(stay, audit("icu.admit", &id)).await?;
    Ok(id)
}

// --- code tables ---------------------------------------------------------------------------

/// The code-mapping rows stored from the setup page, as a CSV table for
/// `renkei_icu::CodeMap::with_csv` (they extend and override the built-in and file tables).
pub async fn stored_code_table(store: &dyn Store) -> ServiceResult<String> {
    let mut table = String::new();
    for r in store.icu().icu_code_maps().await? {
        table.push_str(&format!(
            "{},{},{},{},{},{}\n",
            r.source, r.code, r.item, r.unit, r.factor, r.offset
        ));
    }
    Ok(table)
}

// --- observations written as FHIR -------------------------------------------------------------

/// The site catalogue and the built-in code table, parsed once.
fn fhir_tables() -> &'static (renkei_icu::Catalogue, renkei_icu::CodeMap) {
    static TABLES: std::sync::OnceLock<(renkei_icu::Catalogue, renkei_icu::CodeMap)> =
        std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        (
            renkei_icu::Catalogue::site().clone(),
            renkei_icu::CodeMap::defaults(),
        )
    })
}

/// The code-table source of a FHIR coding system.
fn source_of_system(system: &str) -> Option<renkei_icu::SourceKind> {
    match system {
        "http://loinc.org" => Some(renkei_icu::SourceKind::Other("LN".into())),
        "urn:iso:std:iso:11073:10101" => Some(renkei_icu::SourceKind::Mdc),
        _ => None,
    }
}

/// Values of one FHIR Observation (its own value and its components) as (item, value in
/// the item's canonical unit); codes the table does not know, units that do not convert and
/// impossible values are left out.
pub fn icu_values_of_observation(resource: &serde_json::Value) -> Vec<(String, f64)> {
    let (catalogue, codes) = fhir_tables();
    let mut out = Vec::new();
    let mut take = |code: &serde_json::Value, quantity: Option<&serde_json::Value>| {
        let Some(q) = quantity else { return };
        let Some(value) = q.get("value").and_then(|v| v.as_f64()) else {
            return;
        };
        let unit = q
            .get("code")
            .or_else(|| q.get("unit"))
            .and_then(|u| u.as_str())
            .unwrap_or("");
        let codings = code.get("coding").and_then(|c| c.as_array());
        for coding in codings.into_iter().flatten() {
            let (Some(system), Some(c)) = (
                coding.get("system").and_then(|s| s.as_str()),
                coding.get("code").and_then(|s| s.as_str()),
            ) else {
                continue;
            };
            let Some(source) = source_of_system(system) else {
                continue;
            };
            let Some(entry) = codes.lookup(&source, c) else {
                continue;
            };
            let Some(item) = catalogue.get(&entry.item) else {
                continue;
            };
            if let Some(conversion) = codes.conversion(entry, item, unit) {
                let v = conversion.apply(value);
                if item.is_plausible(v) {
                    out.push((entry.item.clone(), v));
                }
            }
            return;
        }
    };
    if let Some(code) = resource.get("code") {
        take(code, resource.get("valueQuantity"));
    }
    for component in resource
        .get("component")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(code) = component.get("code") {
            take(code, component.get("valueQuantity"));
        }
    }
    out
}

/// Observations written through the FHIR API about a patient who lies in an ICU bed of the
/// writing facility also become that bed's data (source `fhir`), so a vendor that sends FHIR
/// instead of HL7 v2 reaches the census. The FHIR resource is the durable record (it is
/// committed first); this copy follows it. Returns how many values were copied.
pub async fn copy_fhir_observations(
    store: &dyn Store,
    rows: &[renkei_storage::fhir::FhirRow],
) -> ServiceResult<usize> {
    let candidates: Vec<&renkei_storage::fhir::FhirRow> = rows
        .iter()
        .filter(|r| r.resource_type == "Observation" && !r.deleted && r.patient_record_id.is_some())
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let stays = store.icu().icu_open_stays().await?;
    let mut values = Vec::new();
    let mut touched: Vec<&IcuStay> = Vec::new();
    for row in candidates {
        let Some(stay) = stays.iter().find(|s| {
            Some(&s.record_id) == row.patient_record_id.as_ref()
                && Some(&s.facility_id) == row.source_facility_id.as_ref()
        }) else {
            continue;
        };
        let Ok(resource) = serde_json::from_str::<serde_json::Value>(&row.content) else {
            continue;
        };
        let status = resource
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        if matches!(status, "entered-in-error" | "cancelled" | "registered") {
            continue;
        }
        let effective = resource
            .get("effectiveDateTime")
            .or_else(|| resource.get("effectiveInstant"))
            .or_else(|| resource.pointer("/effectivePeriod/start"))
            .and_then(|t| t.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis());
        let Some(at) = effective else {
            continue;
        };
        let found = icu_values_of_observation(&resource);
        if found.is_empty() {
            continue;
        }
        touched.push(stay);
        values.extend(found.into_iter().map(|(item, value)| IcuValue {
            stay_id: stay.id.clone(),
            item,
            at,
            value,
            source: "fhir".into(),
        }));
    }
    if values.is_empty() {
        return Ok(0);
    }
    let n = values.len();
    let audit = AuditEntry::new("icu.values.fhir", Outcome::Success).detail(serde_json::json!({
        "values": n,
        "stays": touched.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
    }));
    store
        .icu()
        .icu_record_values(values, IcuAlertChanges::default(), audit)
        .await?;
    announce(store, dedup_stays(&touched).iter().map(|s| s.id.as_str())).await;
    Ok(n)
}

// --- alert rules ----------------------------------------------------------------------------

/// An alert rule with hysteresis: raised when the measure is beyond `raise_at` in two
/// consecutive values (a single artefact — a loose probe — does not page anyone), cleared
/// only once it is back beyond `clear_at`, so a value flapping around the threshold
/// raises one alert, not one a minute.
///
/// The measure is the value itself (`kind = "level"`) or, for `kind = "trend"`, how far
/// it moved within the last `window_minutes`: for `below` the drop from the window's
/// highest minute average, for `above` the rise from its lowest. `item` is a catalogue
/// item or a derived score ([`DERIVED_ITEMS`]: `news2`, recomputed as values arrive), so
/// score escalation is a rule like any other.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdRule {
    /// Rule id, unique: `spo2.low`.
    pub id: String,
    pub item: String,
    /// `level` or `trend`.
    #[serde(default = "level_kind")]
    pub kind: String,
    /// `below` or `above`.
    pub direction: String,
    pub raise_at: f64,
    pub clear_at: f64,
    /// Trend rules: how far back the change is measured.
    #[serde(default)]
    pub window_minutes: u32,
    /// info, warning or critical.
    pub severity: String,
    /// Comma list of roles that see it.
    pub audience: String,
    /// Japanese text of the alert, `{v}` replaced by the value, `{d}` by the change
    /// (trend rules).
    pub text: String,
}

fn level_kind() -> String {
    "level".into()
}

/// Items computed from other items, usable in alert rules.
pub const DERIVED_ITEMS: &[&str] = &["news2"];

impl ThresholdRule {
    fn is_trend(&self) -> bool {
        self.kind == "trend"
    }

    /// The measure the thresholds apply to: the value, or for a trend rule its change
    /// (always ≥ 0 in the rule's direction); `None` without history to compare with.
    fn measure(&self, value: f64, history: Option<&ItemHistory>, now: Millis) -> Option<f64> {
        if !self.is_trend() {
            return Some(value);
        }
        let since = now - i64::from(self.window_minutes) * 60_000;
        let (low, high) = history?.range_since(since)?;
        Some(if self.direction == "below" {
            (high - value).max(0.0)
        } else {
            (value - low).max(0.0)
        })
    }

    fn breached(&self, measure: f64) -> bool {
        match (self.is_trend(), self.direction.as_str()) {
            (true, _) => measure >= self.raise_at,
            (false, "below") => measure < self.raise_at,
            (false, _) => measure > self.raise_at,
        }
    }

    fn recovered(&self, measure: f64) -> bool {
        match (self.is_trend(), self.direction.as_str()) {
            (true, _) => measure <= self.clear_at,
            (false, "below") => measure >= self.clear_at,
            (false, _) => measure <= self.clear_at,
        }
    }
}

/// Minute averages of one item over the recent past, for trend rules. Averaging a minute
/// keeps a single artefact from posing as a trend.
#[derive(Debug, Clone, Default)]
pub struct ItemHistory {
    /// (minute start, sum, count), oldest first.
    minutes: std::collections::VecDeque<(Millis, f64, u32)>,
}

impl ItemHistory {
    fn add(&mut self, at: Millis, value: f64) {
        let minute = at - at.rem_euclid(60_000);
        match self.minutes.iter_mut().rev().find(|(m, _, _)| *m == minute) {
            Some(slot) => {
                slot.1 += value;
                slot.2 += 1;
            }
            None => {
                // Out-of-order values are rare (a resent backlog); keep the order.
                let position = self.minutes.partition_point(|(m, _, _)| *m < minute);
                self.minutes.insert(position, (minute, value, 1));
            }
        }
    }

    fn prune(&mut self, before: Millis) {
        while self.minutes.front().is_some_and(|(m, _, _)| *m < before) {
            self.minutes.pop_front();
        }
    }

    /// Lowest and highest minute average since `since`; `None` when there is none.
    fn range_since(&self, since: Millis) -> Option<(f64, f64)> {
        let start = since - since.rem_euclid(60_000);
        self.minutes
            .iter()
            .filter(|(m, _, _)| *m >= start)
            .map(|(_, sum, n)| sum / f64::from(*n))
            .fold(None, |acc: Option<(f64, f64)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }
}

/// The recent values of one stay's trend items, by item.
#[derive(Debug, Clone, Default)]
pub struct StayHistory {
    items: HashMap<String, ItemHistory>,
    /// When a value was last added (for forgetting stays no longer sending).
    last_at: Millis,
}

impl StayHistory {
    /// History built from stored values (oldest first or in any order).
    pub fn from_values(values: &[IcuValue]) -> StayHistory {
        let mut history = StayHistory::default();
        for v in values {
            history.add(&v.item, v.at, v.value);
        }
        history
    }

    pub fn add(&mut self, item: &str, at: Millis, value: f64) {
        self.items
            .entry(item.to_string())
            .or_default()
            .add(at, value);
        self.last_at = self.last_at.max(at);
    }

    /// Forgets minutes before `before`.
    pub fn prune(&mut self, before: Millis) {
        for history in self.items.values_mut() {
            history.prune(before);
        }
        self.items.retain(|_, h| !h.minutes.is_empty());
    }
}

/// The longest trend window of `rules`, in milliseconds (0: no trend rules).
pub fn longest_trend_window(rules: &[ThresholdRule]) -> Millis {
    rules
        .iter()
        .filter(|r| r.is_trend())
        .map(|r| i64::from(r.window_minutes) * 60_000)
        .max()
        .unwrap_or(0)
}

/// The items trend rules look at (stored ones; derived ones are recomputed).
pub fn trend_items(rules: &[ThresholdRule]) -> Vec<String> {
    let mut items: Vec<String> = rules
        .iter()
        .filter(|r| r.is_trend() && !DERIVED_ITEMS.contains(&r.item.as_str()))
        .map(|r| r.item.clone())
        .collect();
    items.sort();
    items.dedup();
    items
}

/// The default rule set (a site changes it with the setting `icu_alert_rules_file`: see
/// [`merge_rules`]).
/// Deliberately more sensitive than bedside alarms, as a dedicated team watches.
/// A site's change to the rule set: a rule whose `id` is a default one replaces the fields
/// it gives (or, with `enabled = false`, removes the rule); a new `id` adds a rule and must
/// give every field.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    pub id: String,
    pub item: Option<String>,
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub raise_at: Option<f64>,
    pub clear_at: Option<f64>,
    pub window_minutes: Option<u32>,
    pub severity: Option<String>,
    pub audience: Option<String>,
    pub text: Option<String>,
    pub enabled: Option<bool>,
}

/// The defaults with the site's changes applied; every problem is reported, naming the rule.
/// `known_item` says whether an item code exists (the catalogue lives in `renkei-icu`).
pub fn merge_rules(
    changes: &[RuleChange],
    known_item: impl Fn(&str) -> bool,
) -> Result<Vec<ThresholdRule>, Vec<String>> {
    let mut rules = default_rules();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for change in changes {
        let id = change.id.trim();
        if id.is_empty() || id.len() > 40 {
            problems.push("a rule needs an id of 1–40 characters".to_string());
            continue;
        }
        if !seen.insert(id.to_string()) {
            problems.push(format!("rule {id}: appears twice"));
            continue;
        }
        let position = rules.iter().position(|r| r.id == id);
        if change.enabled == Some(false) {
            match position {
                Some(i) => {
                    rules.remove(i);
                }
                None => problems.push(format!("rule {id}: disabled but there is no such rule")),
            }
            continue;
        }
        let base = match position {
            Some(i) => rules[i].clone(),
            None => {
                let missing: Vec<&str> = [
                    ("item", change.item.is_none()),
                    ("direction", change.direction.is_none()),
                    ("raise_at", change.raise_at.is_none()),
                    ("clear_at", change.clear_at.is_none()),
                    ("severity", change.severity.is_none()),
                    ("text", change.text.is_none()),
                ]
                .into_iter()
                .filter(|(_, m)| *m)
                .map(|(f, _)| f)
                .collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "rule {id}: a new rule needs {}",
                        missing.join(", ")
                    ));
                    continue;
                }
                ThresholdRule {
                    id: id.to_string(),
                    item: String::new(),
                    kind: level_kind(),
                    direction: String::new(),
                    raise_at: 0.0,
                    clear_at: 0.0,
                    window_minutes: 0,
                    severity: String::new(),
                    audience: "nurse,physician".into(),
                    text: String::new(),
                }
            }
        };
        let rule = ThresholdRule {
            id: id.to_string(),
            item: change.item.clone().unwrap_or(base.item),
            kind: change.kind.clone().unwrap_or(base.kind),
            direction: change.direction.clone().unwrap_or(base.direction),
            raise_at: change.raise_at.unwrap_or(base.raise_at),
            clear_at: change.clear_at.unwrap_or(base.clear_at),
            window_minutes: change.window_minutes.unwrap_or(base.window_minutes),
            severity: change.severity.clone().unwrap_or(base.severity),
            audience: change.audience.clone().unwrap_or(base.audience),
            text: change.text.clone().unwrap_or(base.text),
        };
        let mut wrong = check_rule(&rule);
        if !known_item(&rule.item) && !DERIVED_ITEMS.contains(&rule.item.as_str()) {
            wrong.push(format!("unknown item {:?}", rule.item));
        }
        if wrong.is_empty() {
            match position {
                Some(i) => rules[i] = rule,
                None => rules.push(rule),
            }
        } else {
            problems.extend(wrong.into_iter().map(|w| format!("rule {id}: {w}")));
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

/// What is wrong with a rule (empty: nothing).
pub fn check_rule(rule: &ThresholdRule) -> Vec<String> {
    let mut wrong = Vec::new();
    if !rule.raise_at.is_finite() || !rule.clear_at.is_finite() {
        wrong.push("raise_at and clear_at must be numbers".into());
    }
    match rule.kind.as_str() {
        "level" => match rule.direction.as_str() {
            "below" if rule.clear_at < rule.raise_at => {
                wrong.push("a `below` rule clears at or above where it is raised".into())
            }
            "above" if rule.clear_at > rule.raise_at => {
                wrong.push("an `above` rule clears at or below where it is raised".into())
            }
            _ => {}
        },
        "trend" => {
            if !(rule.raise_at > 0.0 && rule.clear_at >= 0.0 && rule.clear_at < rule.raise_at) {
                wrong.push(
                    "a trend rule is raised at a change above 0 and clears at a smaller one".into(),
                );
            }
            if !(5..=1440).contains(&rule.window_minutes) {
                wrong.push("a trend rule needs window_minutes between 5 and 1440".into());
            }
        }
        other => wrong.push(format!("kind must be level or trend, not {other:?}")),
    }
    if !["below", "above"].contains(&rule.direction.as_str()) {
        wrong.push(format!(
            "direction must be below or above, not {:?}",
            rule.direction
        ));
    }
    if !["info", "warning", "critical"].contains(&rule.severity.as_str()) {
        wrong.push("severity must be info, warning or critical".into());
    }
    let roles: Vec<&str> = rule.audience.split(',').map(str::trim).collect();
    if roles.is_empty()
        || roles
            .iter()
            .any(|r| !["clerk", "nurse", "physician"].contains(r))
    {
        wrong.push("audience is a comma list of clerk, nurse, physician".into());
    }
    if rule.text.trim().is_empty() || rule.text.chars().count() > 100 {
        wrong.push("text must be 1–100 characters".into());
    }
    wrong
}

pub fn default_rules() -> Vec<ThresholdRule> {
    let r = |id: &str,
             item: &str,
             dir: &str,
             raise: f64,
             clear: f64,
             sev: &str,
             aud: &str,
             text: &str| ThresholdRule {
        id: id.into(),
        item: item.into(),
        kind: level_kind(),
        direction: dir.into(),
        raise_at: raise,
        clear_at: clear,
        window_minutes: 0,
        severity: sev.into(),
        audience: aud.into(),
        text: text.into(),
    };
    let trend =
        |id: &str, item: &str, dir: &str, window: u32, raise: f64, clear: f64, text: &str| {
            ThresholdRule {
                kind: "trend".into(),
                window_minutes: window,
                ..r(
                    id,
                    item,
                    dir,
                    raise,
                    clear,
                    "warning",
                    "nurse,physician",
                    text,
                )
            }
        };
    vec![
        r(
            "spo2.low",
            "spo2",
            "below",
            90.0,
            92.0,
            "critical",
            "nurse,physician",
            "SpO2 低下 {v}%",
        ),
        r(
            "hr.high",
            "hr",
            "above",
            130.0,
            120.0,
            "warning",
            "nurse,physician",
            "頻脈 {v}/分",
        ),
        r(
            "hr.low",
            "hr",
            "below",
            40.0,
            45.0,
            "critical",
            "nurse,physician",
            "徐脈 {v}/分",
        ),
        r(
            "sbp.low",
            "sbp",
            "below",
            90.0,
            95.0,
            "critical",
            "nurse,physician",
            "収縮期血圧低下 {v} mmHg",
        ),
        r(
            "map.low",
            "map",
            "below",
            65.0,
            70.0,
            "critical",
            "nurse,physician",
            "平均血圧低下 {v} mmHg",
        ),
        r(
            "rr.high",
            "rr",
            "above",
            30.0,
            25.0,
            "warning",
            "nurse,physician",
            "頻呼吸 {v}/分",
        ),
        r(
            "rr.low",
            "rr",
            "below",
            8.0,
            10.0,
            "critical",
            "nurse,physician",
            "呼吸数低下 {v}/分",
        ),
        r(
            "temp.high",
            "temp",
            "above",
            38.5,
            38.0,
            "warning",
            "clerk,nurse,physician",
            "発熱 {v}℃",
        ),
        r(
            "gcs.low",
            "gcs",
            "below",
            9.0,
            10.0,
            "critical",
            "clerk,nurse,physician",
            "意識レベル低下 GCS {v}",
        ),
        r(
            "urine.low",
            "urine",
            "below",
            500.0,
            600.0,
            "warning",
            "clerk,nurse,physician",
            "尿量低下 {v} mL/日",
        ),
        // Score escalation: NEWS2 ≥ 7 is the high-risk band (urgent assessment).
        r(
            NEWS2_RULE,
            "news2",
            "above",
            6.0,
            4.0,
            "critical",
            "nurse,physician",
            "NEWS2 高リスク {v}点",
        ),
        trend(
            "news2.rise",
            "news2",
            "above",
            180,
            3.0,
            1.0,
            "NEWS2 上昇 3時間で +{d}点（現在 {v}点）",
        ),
        trend(
            "sbp.drop",
            "sbp",
            "below",
            60,
            30.0,
            15.0,
            "収縮期血圧 1時間で {d} mmHg 低下（現在 {v} mmHg）",
        ),
        trend(
            "hr.rise",
            "hr",
            "above",
            60,
            30.0,
            15.0,
            "心拍数 1時間で {d}/分 上昇（現在 {v}/分）",
        ),
    ]
}

/// A data-gap rule for a stay whose newest value is older than two sampling intervals.
pub const GAP_RULE: &str = "data.gap";
/// NEWS2 escalation: raised at ≥ 7 (high risk), cleared at ≤ 4.
pub const NEWS2_RULE: &str = "news2.high";

/// Whether the stay's NEWS2 uses SpO2 scale 2 (hypercapnic respiratory failure), as
/// recorded at admission or on the bed page.
pub fn uses_spo2_scale2(stay: &IcuStay) -> bool {
    serde_json::from_str::<serde_json::Value>(&stay.details)
        .ok()
        .and_then(|d| d.get("news2_scale2").and_then(|v| v.as_bool()))
        .unwrap_or(false)
}

/// Adds the derived items ([`DERIVED_ITEMS`]) to the previous and newest values of a stay:
/// NEWS2 from all the newest values (missing components count 0, so the score is a lower
/// bound: a high one is real), when any value changed.
fn derive_items(
    stay: &IcuStay,
    previous: &mut HashMap<String, f64>,
    newest: &mut HashMap<String, (Millis, f64)>,
) {
    let Some(at) = newest.values().map(|&(at, _)| at).max() else {
        return;
    };
    let scale2 = uses_spo2_scale2(stay);
    let mut before: HashMap<String, (Millis, f64)> = previous
        .iter()
        .map(|(k, &v)| (k.clone(), (at, v)))
        .collect();
    before.remove("news2");
    if before.keys().any(|k| k != "news2") {
        previous.insert(
            "news2".into(),
            f64::from(news2_of(&before, scale2).sheet.total),
        );
    }
    let mut now = before;
    now.extend(newest.iter().map(|(k, &v)| (k.clone(), v)));
    newest.insert(
        "news2".into(),
        (at, f64::from(news2_of(&now, scale2).sheet.total)),
    );
}

/// Decides alert changes for one stay from the previous and new newest values, then adds
/// the new values to the stay's `history` (for trend rules). `previous` is the newest
/// value of every item before this batch (for the two-in-a-row rule and derived scores);
/// `open` the rules with an open alert on the stay.
pub fn evaluate_thresholds(
    rules: &[ThresholdRule],
    stay: &IcuStay,
    previous: &HashMap<String, f64>,
    newest: &HashMap<String, (Millis, f64)>,
    history: &mut StayHistory,
    open: &HashSet<String>,
    changes: &mut IcuAlertChanges,
) {
    let mut previous = previous.clone();
    let mut newest = newest.clone();
    if rules
        .iter()
        .any(|r| DERIVED_ITEMS.contains(&r.item.as_str()))
    {
        derive_items(stay, &mut previous, &mut newest);
    }
    for rule in rules {
        let Some(&(at, v)) = newest.get(&rule.item) else {
            continue;
        };
        let item_history = history.items.get(&rule.item);
        let Some(measure) = rule.measure(v, item_history, at) else {
            continue;
        };
        let previous_measure = previous
            .get(&rule.item)
            .and_then(|&p| rule.measure(p, item_history, at));
        let is_open = open.contains(&rule.id);
        if is_open && rule.recovered(measure) {
            changes.clear.push((stay.id.clone(), rule.id.clone(), at));
        } else if !is_open
            && rule.breached(measure)
            && previous_measure.is_some_and(|p| rule.breached(p))
        {
            changes.raise.push(IcuAlert {
                id: ids::new_id(),
                stay_id: Some(stay.id.clone()),
                facility_id: stay.facility_id.clone(),
                rule: rule.id.clone(),
                severity: rule.severity.clone(),
                audience: rule.audience.clone(),
                text: rule
                    .text
                    .replace("{v}", &format_value(v))
                    .replace("{d}", &format_value(measure)),
                value: Some(v),
                raised_at: at,
                acked_at: None,
                acked_by: None,
                ack_reason: None,
                snoozed_until: None,
                cleared_at: None,
            });
        }
    }
    let window = longest_trend_window(rules);
    if window > 0 {
        let mut items: Vec<&str> = rules
            .iter()
            .filter(|r| r.is_trend())
            .map(|r| r.item.as_str())
            .collect();
        items.sort_unstable();
        items.dedup();
        for item in items {
            if let Some(&(at, v)) = newest.get(item) {
                history.add(item, at, v);
            }
        }
        history.prune(history.last_at - window);
    }
}

fn format_value(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// NEWS2 from the newest values of a stay (monitor values plus manual entries).
pub fn news2_of(
    values: &HashMap<String, (Millis, f64)>,
    scale2: bool,
) -> renkei_icu_scores::news2::News2Result {
    use renkei_icu_scores::news2::{Acvpu, News2Input, SpO2Scale};
    use renkei_icu_scores::Measured;
    let m = |item: &str| {
        values.get(item).map(|&(at, value)| Measured {
            value,
            at: Some(at),
            basis: None,
        })
    };
    let acvpu = values.get("acvpu").map(|&(_, v)| match v.round() as i64 {
        0 => Acvpu::Alert,
        1 => Acvpu::NewConfusion,
        2 => Acvpu::Voice,
        3 => Acvpu::Pain,
        _ => Acvpu::Unresponsive,
    });
    // Without a recorded oxygen therapy, FiO2 above room air means oxygen.
    let on_oxygen = values
        .get("o2_therapy")
        .map(|&(_, v)| v >= 0.5)
        .or_else(|| values.get("fio2").map(|&(_, f)| f > 0.215));
    renkei_icu_scores::news2::score(&News2Input {
        respiratory_rate: m("rr"),
        spo2_pct: m("spo2"),
        spo2_scale: if scale2 {
            SpO2Scale::Scale2
        } else {
            SpO2Scale::Scale1
        },
        on_oxygen,
        systolic_bp: m("sbp"),
        pulse: m("hr").or_else(|| m("pr")),
        consciousness: acvpu,
        temperature_c: m("temp").or_else(|| m("temp_rectal")),
    })
}

// --- ingest ------------------------------------------------------------------------------

/// One parsed monitor message, ready to store.
#[derive(Debug, Clone)]
pub struct MonitorInput {
    /// The sending facility (from MSH-4, bound to the sender's address by the listener).
    pub facility_id: String,
    /// MSH-10.
    pub control_id: String,
    pub received_at: Millis,
    /// The bed the message names (PV1-3 bed component).
    pub bed_key: String,
    /// PID-3 identifiers; empty when the message carries none.
    pub patient_ids: Vec<String>,
    /// (item, time, value in the canonical unit).
    pub readings: Vec<(String, Millis, f64)>,
    /// The message text, kept when quarantined.
    pub raw: String,
}

/// What became of a monitor message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorOutcome {
    Stored,
    Duplicate,
    /// Kept for review, with the reason (for the AE's ERR segment).
    Quarantined(String),
}

type Job = (
    MonitorInput,
    tokio::sync::oneshot::Sender<Result<MonitorOutcome, String>>,
);

/// Handle to this node's ingest writer.
#[derive(Clone)]
pub struct IcuIngestor {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

/// Most messages stored in one transaction.
const MAX_BATCH: usize = 4096;

impl IcuIngestor {
    /// Starts the writer task.
    pub fn start(store: Arc<dyn Store>) -> IcuIngestor {
        IcuIngestor::start_with_rules(store, default_rules())
    }

    /// Starts the writer task with a site's alert rules (see [`merge_rules`]).
    pub fn start_with_rules(store: Arc<dyn Store>, rules: Vec<ThresholdRule>) -> IcuIngestor {
        let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(16_384);
        tokio::spawn(writer(store, queue, Arc::new(rules)));
        IcuIngestor { jobs }
    }

    /// Stores one message; returns after its transaction committed.
    pub async fn submit(&self, input: MonitorInput) -> ServiceResult<MonitorOutcome> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send((input, reply))
            .await
            .map_err(|_| StoreError::Backend("the ICU ingest writer has stopped".into()))?;
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(ServiceError::Store(StoreError::Backend(e))),
            Err(_) => Err(ServiceError::Store(StoreError::Backend(
                "the ICU ingest writer has stopped".into(),
            ))),
        }
    }
}

/// What the writer knows of beds and stays; reloaded when a lookup misses, when an
/// admission or discharge is announced, and at least every few seconds.
struct Topology {
    units: HashMap<String, IcuUnit>,
    beds: HashMap<(String, String), IcuBed>,
    open_by_bed: HashMap<String, IcuStay>,
    loaded_at: std::time::Instant,
}

impl Topology {
    async fn load(store: &dyn Store) -> Result<Topology, StoreError> {
        let icu = store.icu();
        let units = icu
            .icu_units()
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let beds = icu
            .icu_beds()
            .await?
            .into_iter()
            .map(|b| ((b.facility_id.clone(), b.monitor_key.clone()), b))
            .collect();
        let open_by_bed = icu
            .icu_open_stays()
            .await?
            .into_iter()
            .map(|s| (s.bed_id.clone(), s))
            .collect();
        Ok(Topology {
            units,
            beds,
            open_by_bed,
            loaded_at: std::time::Instant::now(),
        })
    }

    fn resolve(&self, m: &MonitorInput) -> Result<(&IcuStay, &IcuUnit), String> {
        let Some(bed) = self.beds.get(&(m.facility_id.clone(), m.bed_key.clone())) else {
            return Err(format!("unknown bed {:?} for this sender", m.bed_key));
        };
        let Some(unit) = self.units.get(&bed.unit_id) else {
            return Err(format!("bed {:?} belongs to no configured unit", m.bed_key));
        };
        if !bed.active || !unit.active {
            return Err(format!("bed {:?} is not in service", m.bed_key));
        }
        let Some(stay) = self.open_by_bed.get(&bed.id) else {
            return Err(format!("no patient is admitted to bed {:?}", m.bed_key));
        };
        if !m.patient_ids.is_empty() && !m.patient_ids.iter().any(|p| p == &stay.local_id) {
            return Err(format!(
                "patient ID {} disagrees with the patient admitted to bed {:?}",
                m.patient_ids.join("/"),
                m.bed_key
            ));
        }
        Ok((stay, unit))
    }
}

const TOPOLOGY_TTL: std::time::Duration = std::time::Duration::from_secs(5);

async fn writer(
    store: Arc<dyn Store>,
    mut queue: tokio::sync::mpsc::Receiver<Job>,
    rules: Arc<Vec<ThresholdRule>>,
) {
    let mut events = store.subscribe_events();
    let mut topology: Option<Topology> = None;
    let mut memory = RuleMemory::default();
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Admissions and discharges announced since the last batch make the topology stale.
        let mut stale = false;
        loop {
            match events.try_recv() {
                Ok(e) if e.topic == CONFIG_TOPIC => stale = true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => stale = true,
                Err(_) => break,
            }
        }
        let result = store_batch(
            store.as_ref(),
            &mut topology,
            stale,
            &mut memory,
            &rules,
            &batch,
        )
        .await;
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, messages = batch.len(), "ICU batch not stored");
                topology = None;
                let text = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(text.clone()));
                }
            }
        }
    }
}

/// What the writer remembers between batches for the alert rules.
#[derive(Default)]
struct RuleMemory {
    /// Newest value per stay and item (two-in-a-row rule, derived scores). Read again
    /// from storage now and then, so values entered on the bed page (oxygen therapy,
    /// ACVPU) count too.
    previous: HashMap<String, HashMap<String, f64>>,
    previous_read_at: Option<std::time::Instant>,
    /// Recent minute averages per stay, for trend rules; seeded from storage the first
    /// time a stay is seen, so a restart does not blind them.
    histories: HashMap<String, StayHistory>,
}

/// How long remembered newest values are trusted before storage is asked again.
const PREVIOUS_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl RuleMemory {
    /// Makes sure `previous` and `histories` know these stays.
    async fn load(
        &mut self,
        store: &dyn Store,
        rules: &[ThresholdRule],
        stays: &[&str],
        now: Millis,
    ) -> Result<(), StoreError> {
        if self
            .previous_read_at
            .is_none_or(|t| t.elapsed() > PREVIOUS_TTL)
        {
            self.previous.clear();
            self.previous_read_at = Some(std::time::Instant::now());
        }
        let missing: Vec<String> = stays
            .iter()
            .filter(|s| !self.previous.contains_key(**s))
            .map(|s| s.to_string())
            .collect();
        if !missing.is_empty() {
            for v in store.icu().icu_latest(&missing).await? {
                self.previous
                    .entry(v.stay_id.clone())
                    .or_default()
                    .insert(v.item.clone(), v.value);
            }
            for s in missing {
                self.previous.entry(s).or_default();
            }
        }
        let window = longest_trend_window(rules);
        if window == 0 {
            return Ok(());
        }
        let items = trend_items(rules);
        for stay in stays {
            if self.histories.contains_key(*stay) {
                continue;
            }
            let values = if items.is_empty() {
                Vec::new()
            } else {
                store
                    .icu()
                    .icu_values(stay, &items, now - window, now)
                    .await?
            };
            self.histories
                .insert(stay.to_string(), StayHistory::from_values(&values));
        }
        // Stays that stopped sending (discharged) are forgotten after a window.
        if self.histories.len() > stays.len() {
            self.histories
                .retain(|_, h| h.last_at == 0 || h.last_at > now - 2 * window);
        }
        Ok(())
    }
}

/// Topic announcing admissions, discharges and configuration changes (ingest writers
/// reload what they know of beds).
pub const CONFIG_TOPIC: &str = "icu-config";

async fn store_batch(
    store: &dyn Store,
    topology: &mut Option<Topology>,
    stale: bool,
    memory: &mut RuleMemory,
    rules: &[ThresholdRule],
    batch: &[Job],
) -> Result<Vec<MonitorOutcome>, StoreError> {
    if stale
        || topology
            .as_ref()
            .is_none_or(|t| t.loaded_at.elapsed() > TOPOLOGY_TTL)
    {
        *topology = Some(Topology::load(store).await?);
    }
    // A miss may be an admission made on another node a moment ago: look again once.
    if batch
        .iter()
        .any(|(m, _)| topology.as_ref().is_some_and(|t| t.resolve(m).is_err()))
        && topology
            .as_ref()
            .is_some_and(|t| t.loaded_at.elapsed() > std::time::Duration::from_millis(200))
    {
        *topology = Some(Topology::load(store).await?);
    }
    let topo = topology.as_ref().expect("loaded above");
    let mut incoming = Vec::with_capacity(batch.len());
    let mut reasons: Vec<Option<String>> = Vec::with_capacity(batch.len());
    let mut touched: Vec<&IcuStay> = Vec::new();
    let mut quarantined_units: Vec<(String, String)> = Vec::new();
    for (m, _) in batch {
        match topo.resolve(m) {
            Ok((stay, _unit)) => {
                touched.push(stay);
                incoming.push(IcuIncoming {
                    facility_id: m.facility_id.clone(),
                    control_id: m.control_id.clone(),
                    received_at: m.received_at,
                    disposition: IcuDisposition::Store {
                        stay_id: stay.id.clone(),
                        values: m
                            .readings
                            .iter()
                            .map(|(item, at, value)| IcuValue {
                                stay_id: stay.id.clone(),
                                item: item.clone(),
                                at: *at,
                                value: *value,
                                source: "monitor".into(),
                            })
                            .collect(),
                    },
                });
                reasons.push(None);
            }
            Err(reason) => {
                let centre = topo
                    .beds
                    .get(&(m.facility_id.clone(), m.bed_key.clone()))
                    .and_then(|b| topo.units.get(&b.unit_id))
                    .map(|u| u.centre_facility_id.clone());
                quarantined_units.push((m.facility_id.clone(), m.control_id.clone()));
                incoming.push(IcuIncoming {
                    facility_id: m.facility_id.clone(),
                    control_id: m.control_id.clone(),
                    received_at: m.received_at,
                    disposition: IcuDisposition::Quarantine(Box::new(IcuQuarantined {
                        id: ids::new_id(),
                        received_at: m.received_at,
                        facility_id: m.facility_id.clone(),
                        centre_facility_id: centre,
                        control_id: m.control_id.clone(),
                        bed_key: m.bed_key.clone(),
                        patient_key: m.patient_ids.join("/"),
                        reason: reason.clone(),
                        message: m.raw.clone(),
                        resolved_at: None,
                        resolved_by: None,
                        resolution: None,
                    })),
                });
                reasons.push(Some(reason));
            }
        }
    }

    // Alerts: the newest value per stay and item in this batch against the rules.
    let mut newest: HashMap<&str, HashMap<String, (Millis, f64)>> = HashMap::new();
    for (m, _) in batch {
        if let Ok((stay, _)) = topo.resolve(m) {
            let per = newest.entry(stay.id.as_str()).or_default();
            for (item, at, v) in &m.readings {
                match per.get(item) {
                    Some(&(seen, _)) if seen > *at => {}
                    _ => {
                        per.insert(item.clone(), (*at, *v));
                    }
                }
            }
        }
    }
    let mut changes = IcuAlertChanges::default();
    if !newest.is_empty() {
        let stays: Vec<&str> = newest.keys().copied().collect();
        memory
            .load(store, rules, &stays, renkei_domain::now_millis())
            .await?;
        let mut open: HashMap<String, HashSet<String>> = HashMap::new();
        for a in store.icu().icu_open_alerts().await? {
            if let Some(s) = a.stay_id {
                open.entry(s).or_default().insert(a.rule);
            }
        }
        let empty = HashSet::new();
        for stay in dedup_stays(&touched) {
            let Some(values) = newest.get(stay.id.as_str()) else {
                continue;
            };
            let prev = memory.previous.get(&stay.id).cloned().unwrap_or_default();
            let stay_open = open.get(&stay.id).unwrap_or(&empty);
            let history = memory.histories.entry(stay.id.clone()).or_default();
            evaluate_thresholds(rules, stay, &prev, values, history, stay_open, &mut changes);
        }
    }
    for (facility_id, control_id) in &quarantined_units {
        changes.raise.push(IcuAlert {
            id: ids::new_id(),
            stay_id: None,
            facility_id: facility_id.clone(),
            rule: format!("quarantine:{control_id}"),
            severity: "warning".into(),
            audience: "clerk,nurse,physician".into(),
            text: "モニタメッセージを隔離しました（患者に紐付けていません）".into(),
            value: None,
            raised_at: renkei_domain::now_millis(),
            acked_at: None,
            acked_by: None,
            ack_reason: None,
            snoozed_until: None,
            cleared_at: None,
        });
    }

    let stored = incoming
        .iter()
        .filter(|i| matches!(i.disposition, IcuDisposition::Store { .. }))
        .count();
    let audit = AuditEntry::new("icu.ingest", Outcome::Success).detail(serde_json::json!({
        "messages": batch.len(),
        "stored": stored,
        "quarantined": batch.len() - stored,
        "first": batch.first().map(|(m, _)| m.control_id.clone()),
        "last": batch.last().map(|(m, _)| m.control_id.clone()),
    }));
    let results = store.icu().icu_ingest(incoming, changes, audit).await?;
    // Remember the new newest values for the next batch's two-in-a-row check.
    for (stay_id, values) in &newest {
        let prev = memory.previous.entry(stay_id.to_string()).or_default();
        for (item, (_, v)) in values {
            prev.insert(item.clone(), *v);
        }
    }
    announce(store, dedup_stays(&touched).iter().map(|s| s.id.as_str())).await;
    Ok(results
        .into_iter()
        .zip(reasons)
        .map(|(r, reason)| match (r, reason) {
            (IcuIngested::Duplicate, _) => MonitorOutcome::Duplicate,
            (_, Some(reason)) => MonitorOutcome::Quarantined(reason),
            _ => MonitorOutcome::Stored,
        })
        .collect())
}

fn dedup_stays<'a>(stays: &[&'a IcuStay]) -> Vec<&'a IcuStay> {
    let mut seen = HashSet::new();
    stays
        .iter()
        .copied()
        .filter(|s| seen.insert(s.id.as_str()))
        .collect()
}

/// Tells every node which stays changed (several events when the list is long). Failure
/// only delays screens: they also refresh on their own.
pub async fn announce<'a>(store: &dyn Store, stay_ids: impl Iterator<Item = &'a str>) {
    let mut payload = String::new();
    for id in stay_ids {
        if payload.len() + id.len() + 1 > 6_000 {
            if let Err(e) = store.publish_event(EVENT_TOPIC, &payload).await {
                tracing::warn!(error = %e, "ICU event not published");
            }
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(id);
    }
    if !payload.is_empty() {
        if let Err(e) = store.publish_event(EVENT_TOPIC, &payload).await {
            tracing::warn!(error = %e, "ICU event not published");
        }
    }
}

// --- maintenance ----------------------------------------------------------------------------

/// Raises a data-gap alert for every open stay whose newest value is older than two
/// sampling intervals of its unit, and clears it once data flows again. Run by every node
/// every few seconds; the alert table's uniqueness keeps nodes from doubling alerts.
pub async fn sweep_gaps(store: &dyn Store, now: Millis) -> ServiceResult<usize> {
    let icu = store.icu();
    let units: HashMap<String, IcuUnit> = icu
        .icu_units()
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let beds: HashMap<String, IcuBed> = icu
        .icu_beds()
        .await?
        .into_iter()
        .map(|b| (b.id.clone(), b))
        .collect();
    let stays = icu.icu_open_stays().await?;
    let ids: Vec<String> = stays.iter().map(|s| s.id.clone()).collect();
    let mut last: HashMap<String, Millis> = HashMap::new();
    for v in icu.icu_latest(&ids).await? {
        if v.item != "urine" && !LAB_ONLY.contains(&v.item.as_str()) {
            let e = last.entry(v.stay_id.clone()).or_insert(v.at);
            *e = (*e).max(v.at);
        }
    }
    let open: HashSet<String> = icu
        .icu_open_alerts()
        .await?
        .into_iter()
        .filter(|a| a.rule == GAP_RULE)
        .filter_map(|a| a.stay_id)
        .collect();
    let mut changes = IcuAlertChanges::default();
    for stay in &stays {
        let Some(unit) = beds.get(&stay.bed_id).and_then(|b| units.get(&b.unit_id)) else {
            continue;
        };
        let limit = 2 * unit.sampling_seconds.max(1) * 1000;
        // A stay that never sent anything is measured from its admission.
        let newest = last.get(&stay.id).copied().unwrap_or(stay.admitted_at);
        let silent = now - newest > limit;
        if silent && !open.contains(&stay.id) {
            changes.raise.push(IcuAlert {
                id: ids::new_id(),
                stay_id: Some(stay.id.clone()),
                facility_id: stay.facility_id.clone(),
                rule: GAP_RULE.into(),
                severity: "warning".into(),
                audience: "clerk,nurse,physician".into(),
                text: format!("モニタデータ途絶（{} 秒以上）", limit / 1000),
                value: None,
                raised_at: now,
                acked_at: None,
                acked_by: None,
                ack_reason: None,
                snoozed_until: None,
                cleared_at: None,
            });
        } else if !silent && open.contains(&stay.id) {
            changes.clear.push((stay.id.clone(), GAP_RULE.into(), now));
        }
    }
    if changes.raise.is_empty() && changes.clear.is_empty() {
        return Ok(0);
    }
    let touched: Vec<String> = changes
        .raise
        .iter()
        .filter_map(|a| a.stay_id.clone())
        .chain(changes.clear.iter().map(|(s, _, _)| s.clone()))
        .collect();
    let changed = icu
        .icu_apply_alerts(changes, AuditEntry::new("icu.alerts.gap", Outcome::Success))
        .await?;
    announce(store, touched.iter().map(String::as_str)).await;
    Ok(changed)
}

/// Runs the gap sweep every `every` and the retention pass hourly, until the task is
/// dropped with the runtime.
pub fn spawn_maintenance(
    store: Arc<dyn Store>,
    every: std::time::Duration,
    raw_retention: std::time::Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_compaction: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            let now = renkei_domain::now_millis();
            if let Err(e) = sweep_gaps(store.as_ref(), now).await {
                tracing::warn!(error = %e, "ICU gap sweep failed");
            }
            if last_compaction.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(3600)) {
                last_compaction = Some(std::time::Instant::now());
                let raw_before = now - raw_retention.as_millis() as i64;
                let messages_before = now - 7 * 24 * 3_600_000;
                match store.icu().icu_compact(raw_before, messages_before).await {
                    Ok(done) => tracing::info!(?done, "ICU retention pass"),
                    Err(e) => tracing::warn!(error = %e, "ICU retention pass failed"),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_rule_changes_merge_or_are_refused_with_reasons() {
        let known = |item: &str| ["spo2", "hr", "etco2"].contains(&item);
        let changes = vec![
            RuleChange {
                id: "spo2.low".into(),
                raise_at: Some(88.0),
                ..Default::default()
            },
            RuleChange {
                id: "hr.high".into(),
                enabled: Some(false),
                ..Default::default()
            },
            RuleChange {
                id: "etco2.high".into(),
                item: Some("etco2".into()),
                direction: Some("above".into()),
                raise_at: Some(50.0),
                clear_at: Some(45.0),
                severity: Some("warning".into()),
                text: Some("EtCO2 上昇 {v} mmHg".into()),
                ..Default::default()
            },
        ];
        let rules = merge_rules(&changes, known).unwrap();
        let spo2 = rules.iter().find(|r| r.id == "spo2.low").unwrap();
        assert_eq!((spo2.raise_at, spo2.clear_at), (88.0, 92.0));
        assert!(!rules.iter().any(|r| r.id == "hr.high"));
        assert!(rules.iter().any(|r| r.id == "etco2.high"));
        let bad = vec![
            RuleChange {
                id: "spo2.low".into(),
                clear_at: Some(80.0),
                ..Default::default()
            },
            RuleChange {
                id: "x.new".into(),
                item: Some("nope".into()),
                ..Default::default()
            },
            RuleChange {
                id: "y.new".into(),
                item: Some("nope".into()),
                direction: Some("sideways".into()),
                raise_at: Some(1.0),
                clear_at: Some(1.0),
                severity: Some("loud".into()),
                text: Some("t".into()),
                ..Default::default()
            },
        ];
        let problems = merge_rules(&bad, known).unwrap_err().join("\n");
        assert!(
            problems.contains("rule spo2.low: a `below` rule clears"),
            "{problems}"
        );
        assert!(
            problems.contains("rule x.new: a new rule needs direction"),
            "{problems}"
        );
        assert!(
            problems.contains("rule y.new: direction must be"),
            "{problems}"
        );
        assert!(problems.contains("severity must be"), "{problems}");
        assert!(problems.contains("unknown item \"nope\""), "{problems}");
        assert!(default_rules().iter().all(|r| check_rule(r).is_empty()));
    }

    fn stay() -> IcuStay {
        IcuStay {
            id: "s1".into(),
            bed_id: "b1".into(),
            facility_id: "f1".into(),
            person_id: "p1".into(),
            record_id: "r1".into(),
            local_id: "L1".into(),
            admitted_at: 0,
            admitted_by: "u".into(),
            details: "{}".into(),
            is_test: false,
            discharged_at: None,
            discharged_by: None,
            discharge_summary: None,
        }
    }

    fn run(prev: f64, new: f64, open: bool) -> IcuAlertChanges {
        let rules = default_rules();
        let mut changes = IcuAlertChanges::default();
        let previous = HashMap::from([("spo2".to_string(), prev)]);
        let newest = HashMap::from([("spo2".to_string(), (1000, new))]);
        let open: HashSet<String> = if open {
            HashSet::from(["spo2.low".to_string()])
        } else {
            HashSet::new()
        };
        evaluate_thresholds(
            &rules,
            &stay(),
            &previous,
            &newest,
            &mut StayHistory::default(),
            &open,
            &mut changes,
        );
        changes
    }

    #[test]
    fn a_single_artefact_raises_nothing_two_low_values_raise_once() {
        assert!(
            run(97.0, 40.0, false).raise.is_empty(),
            "one low value is an artefact"
        );
        let raised = run(88.0, 87.0, false);
        assert_eq!(raised.raise.len(), 1);
        assert_eq!(raised.raise[0].text, "SpO2 低下 87%");
        assert!(
            run(88.0, 87.0, true).raise.is_empty(),
            "already open: de-duplicated"
        );
    }

    #[test]
    fn hysteresis_keeps_a_flapping_value_from_clearing_and_re_raising() {
        // 90.5 is above the raise threshold but below the clear level: stays open.
        assert!(run(89.0, 90.5, true).clear.is_empty());
        assert_eq!(run(89.0, 92.0, true).clear.len(), 1);
    }

    #[test]
    fn roles_see_their_items_and_alerts() {
        assert!(IcuRole::Clerk.sees_item("temp") && !IcuRole::Clerk.sees_item("spo2"));
        assert!(IcuRole::Nurse.sees_item("spo2") && !IcuRole::Nurse.sees_item("creatinine"));
        assert!(IcuRole::Physician.sees_item("creatinine"));
        assert!(
            IcuRole::Clerk.hears("clerk,nurse,physician")
                && !IcuRole::Clerk.hears("nurse,physician")
        );
        assert!(IcuRole::Physician.hears("nurse"));
        assert_eq!(IcuRole::of(Profession::Pharmacist), None);
    }

    #[test]
    fn news2_from_newest_values_flags_what_is_missing() {
        let values: HashMap<String, (Millis, f64)> = [
            ("rr", 26.0),
            ("spo2", 91.0),
            ("fio2", 0.4),
            ("sbp", 95.0),
            ("hr", 125.0),
            ("temp", 39.2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), (0, v)))
        .collect();
        let result = news2_of(&values, false);
        // RR 3, SpO2 3, oxygen 2, SBP 2, pulse 2, temp 2; consciousness missing.
        assert_eq!(result.sheet.total, 14);
        assert!(!result.sheet.complete);
        assert_eq!(result.sheet.missing.len(), 1);
    }

    fn evaluate(
        previous: &[(&str, f64)],
        newest: &[(&str, f64)],
        at: Millis,
        history: &mut StayHistory,
        open: &[&str],
    ) -> IcuAlertChanges {
        let previous: HashMap<String, f64> =
            previous.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let newest: HashMap<String, (Millis, f64)> = newest
            .iter()
            .map(|(k, v)| (k.to_string(), (at, *v)))
            .collect();
        let open: HashSet<String> = open.iter().map(|s| s.to_string()).collect();
        let mut changes = IcuAlertChanges::default();
        evaluate_thresholds(
            &default_rules(),
            &stay(),
            &previous,
            &newest,
            history,
            &open,
            &mut changes,
        );
        changes
    }

    const MINUTE: Millis = 60_000;

    #[test]
    fn a_sustained_fall_within_the_window_raises_a_trend_alert_and_clears_on_recovery() {
        let stable: Vec<IcuValue> = (0..10)
            .map(|m| IcuValue {
                stay_id: "s1".into(),
                item: "sbp".into(),
                at: 100 * MINUTE + m * MINUTE,
                value: 130.0,
                source: "monitor".into(),
            })
            .collect();
        let at = 140 * MINUTE;
        let mut history = StayHistory::from_values(&stable);
        // One low value after a stable hour is not yet a trend (two in a row).
        let single = evaluate(&[("sbp", 128.0)], &[("sbp", 96.0)], at, &mut history, &[]);
        assert!(!single.raise.iter().any(|a| a.rule == "sbp.drop"));
        let mut history = StayHistory::from_values(&stable);
        let raised = evaluate(&[("sbp", 95.0)], &[("sbp", 96.0)], at, &mut history, &[]);
        let alert = raised.raise.iter().find(|a| a.rule == "sbp.drop").unwrap();
        assert_eq!(
            alert.text,
            "収縮期血圧 1時間で 34 mmHg 低下（現在 96 mmHg）"
        );
        // The hysteresis band: a drop of 20 keeps it open, 12 clears it.
        let held = evaluate(
            &[("sbp", 96.0)],
            &[("sbp", 110.0)],
            at,
            &mut history,
            &["sbp.drop"],
        );
        assert!(held.clear.is_empty());
        let cleared = evaluate(
            &[("sbp", 110.0)],
            &[("sbp", 118.0)],
            at,
            &mut history,
            &["sbp.drop"],
        );
        assert!(cleared.clear.iter().any(|(_, rule, _)| rule == "sbp.drop"));
        // The same fall spread over more than the window is no trend alert.
        let mut old = StayHistory::from_values(&stable);
        let late = evaluate(
            &[("sbp", 95.0)],
            &[("sbp", 96.0)],
            175 * MINUTE,
            &mut old,
            &[],
        );
        assert!(!late.raise.iter().any(|a| a.rule == "sbp.drop"));
    }

    #[test]
    fn minute_averages_keep_one_artefact_from_posing_as_a_trend() {
        let mut history = StayHistory::default();
        // A minute of heart rates around 80 with one artefact of 20.
        for (i, v) in [80.0, 82.0, 20.0, 81.0, 79.0, 80.0].iter().enumerate() {
            history.add("hr", 10 * MINUTE + i as Millis * 5_000, *v);
        }
        let (low, high) = history.items["hr"].range_since(0).unwrap();
        assert!((low - 70.33).abs() < 0.01 && low == high, "{low} {high}");
        let changes = evaluate(
            &[("hr", 95.0)],
            &[("hr", 96.0)],
            20 * MINUTE,
            &mut history,
            &[],
        );
        assert!(
            !changes.raise.iter().any(|a| a.rule == "hr.rise"),
            "a rise of 26 from the minute average is below the rule's 30"
        );
    }

    #[test]
    fn news2_escalation_is_a_rule_on_the_derived_score() {
        // RR 26 (3), SpO2 91 (3), HR 125 (2), SBP 95 (2), temperature 39.2 (2) = 12.
        let previous = [
            ("rr", 26.0),
            ("spo2", 91.0),
            ("hr", 125.0),
            ("sbp", 95.0),
            ("temp", 39.2),
        ];
        let changes = evaluate(
            &previous,
            &[("hr", 126.0)],
            MINUTE,
            &mut StayHistory::default(),
            &[],
        );
        let alert = changes.raise.iter().find(|a| a.rule == NEWS2_RULE).unwrap();
        assert_eq!(alert.text, "NEWS2 高リスク 12点");
        // Recovered values: the open escalation clears at 4 or less.
        let well = [
            ("rr", 16.0),
            ("spo2", 97.0),
            ("hr", 80.0),
            ("sbp", 120.0),
            ("temp", 37.0),
        ];
        let cleared = evaluate(
            &well,
            &[("hr", 82.0)],
            MINUTE,
            &mut StayHistory::default(),
            &[NEWS2_RULE],
        );
        assert!(cleared.clear.iter().any(|(_, rule, _)| rule == NEWS2_RULE));
        // A site can change the score rule like any other, but not invent a score.
        let changed = merge_rules(
            &[RuleChange {
                id: "news2.rise".into(),
                window_minutes: Some(0),
                ..Default::default()
            }],
            |_| true,
        )
        .unwrap_err();
        assert!(changed[0].contains("window_minutes"), "{changed:?}");
        let unknown = merge_rules(
            &[RuleChange {
                id: "sofa.high".into(),
                item: Some("sofa".into()),
                direction: Some("above".into()),
                raise_at: Some(10.0),
                clear_at: Some(8.0),
                severity: Some("warning".into()),
                text: Some("SOFA {v}".into()),
                ..Default::default()
            }],
            |_| false,
        )
        .unwrap_err();
        assert!(unknown[0].contains("unknown item"), "{unknown:?}");
    }
}
