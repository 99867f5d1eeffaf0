//! Tele-ICU storage: units and beds (configuration), stays (admission to discharge),
//! monitor and manual values, quarantined messages, alerts, rounds and calls.
//!
//! Kept apart from [`crate::Store`] because it is its own bounded context; a store hands it
//! out with [`crate::Store::icu`]. As everywhere, every mutation takes its audit record —
//! the ingest of monitor values takes one per committed batch, naming the messages.

use async_trait::async_trait;
use renkei_domain::audit::AuditEntry;
use renkei_domain::Millis;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// A monitored unit (ICU, HCU, GICU, GHCU…) of a partner facility, watched by a support
/// centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuUnit {
    pub id: String,
    pub facility_id: String,
    pub centre_facility_id: String,
    /// Short code, unique in the facility (`ICU`, `HCU2`).
    pub code: String,
    pub name: String,
    /// icu, hcu, gicu, ghcu, picu, nicu, scu, other.
    pub kind: String,
    /// The facility's colour on identification banners (`#1f77b4`).
    pub colour: String,
    /// How often monitors report; data older than two intervals is stale.
    pub sampling_seconds: i64,
    pub active: bool,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuBed {
    pub id: String,
    pub unit_id: String,
    pub facility_id: String,
    /// What people call the bed (`ICU-3`).
    pub label: String,
    /// What the monitors send for it (PV1-3 bed component), unique in the facility.
    pub monitor_key: String,
    pub position: i64,
    pub active: bool,
    pub updated_at: Millis,
}

/// One patient in one bed, from admission to discharge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuStay {
    pub id: String,
    pub bed_id: String,
    pub facility_id: String,
    /// The person of the patient index (merges followed when read).
    pub person_id: String,
    /// The facility's registration of the patient.
    pub record_id: String,
    /// The facility's patient ID: what monitors and ADT send in PID-3.
    pub local_id: String,
    pub admitted_at: Millis,
    pub admitted_by: String,
    /// Admission details as JSON (admission type, diagnosis and group, attending doctor,
    /// chronic diseases, allergies…), shaped by the service.
    pub details: String,
    /// Test data entered before go-live; erased by the reset.
    pub is_test: bool,
    pub discharged_at: Option<Millis>,
    pub discharged_by: Option<String>,
    pub discharge_summary: Option<String>,
}

/// One value of one item, in the item's canonical unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuValue {
    pub stay_id: String,
    pub item: String,
    pub at: Millis,
    pub value: f64,
    /// monitor, manual, lab or fhir.
    pub source: String,
}

/// An hourly summary of one item (what is kept after raw values pass their retention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuHourly {
    pub stay_id: String,
    pub item: String,
    pub hour: Millis,
    pub n: i64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// A message that could not be attached to a patient, kept whole for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuQuarantined {
    pub id: String,
    pub received_at: Millis,
    pub facility_id: String,
    pub centre_facility_id: Option<String>,
    pub control_id: String,
    /// The bed the message named (PV1-3) and the patient ID it carried.
    pub bed_key: String,
    pub patient_key: String,
    pub reason: String,
    pub message: String,
    pub resolved_at: Option<Millis>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

/// One monitor message for the ingest batch: its values go to a stay, or the whole
/// message to quarantine.
#[derive(Debug, Clone)]
pub struct IcuIncoming {
    pub facility_id: String,
    pub control_id: String,
    pub received_at: Millis,
    pub disposition: IcuDisposition,
}

#[derive(Debug, Clone)]
pub enum IcuDisposition {
    Store {
        stay_id: String,
        values: Vec<IcuValue>,
    },
    Quarantine(Box<IcuQuarantined>),
}

/// What became of one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcuIngested {
    /// Values stored (a value already stored for the same stay, item and time is kept once).
    Stored,
    Quarantined,
    /// The sender's MSH-10 was stored before: nothing written again.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuAlert {
    pub id: String,
    /// None for alerts about no stay (a quarantined message).
    pub stay_id: Option<String>,
    pub facility_id: String,
    /// The rule that raised it (`spo2.low`, `gap`, `news2.high`, `quarantine`); at most one
    /// open alert per stay and rule.
    pub rule: String,
    /// info, warning, critical.
    pub severity: String,
    /// Comma list of who sees it: clerk, nurse, physician.
    pub audience: String,
    pub text: String,
    pub value: Option<f64>,
    pub raised_at: Millis,
    pub acked_at: Option<Millis>,
    pub acked_by: Option<String>,
    pub ack_reason: Option<String>,
    pub snoozed_until: Option<Millis>,
    pub cleared_at: Option<Millis>,
}

/// Alert changes decided by the rules for one batch, applied in the batch's transaction.
#[derive(Debug, Clone, Default)]
pub struct IcuAlertChanges {
    /// Raised unless an alert of the same stay and rule is open already.
    pub raise: Vec<IcuAlert>,
    /// (stay, rule) pairs whose open alert clears, at the given time.
    pub clear: Vec<(String, String, Millis)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuRound {
    pub id: String,
    pub stay_id: String,
    /// The ICU day (JST date) the round belongs to.
    pub day: String,
    /// intensivist or nurse.
    pub role: String,
    pub by_user: String,
    pub at: Millis,
    /// JSON object: checklist item → done (VAP bundle and the rest).
    pub checklist: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuCall {
    pub id: String,
    pub stay_id: String,
    /// `call` (centre → bedside) or `consult` (bedside → centre).
    pub direction: String,
    pub reason: String,
    pub advice: String,
    pub outcome: String,
    pub opened_by: String,
    pub opened_at: Millis,
    pub closed_by: Option<String>,
    pub closed_at: Option<Millis>,
}

/// A row of a site's code-mapping table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcuCodeMapRow {
    pub source: String,
    pub code: String,
    pub item: String,
    pub unit: String,
    pub factor: f64,
    pub offset: f64,
}

/// What the retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcuCompaction {
    pub hours_summarised: u64,
    pub values_deleted: u64,
    pub messages_forgotten: u64,
}

#[async_trait]
pub trait IcuStore: Send + Sync {
    // --- configuration ----------------------------------------------------------------
    /// Creates or replaces a unit (by id). `Conflict` when the code is taken in the facility.
    async fn icu_put_unit(&self, unit: IcuUnit, audit: AuditEntry) -> StoreResult<()>;
    /// Creates or replaces a bed (by id). `Conflict` when label or monitor key is taken.
    async fn icu_put_bed(&self, bed: IcuBed, audit: AuditEntry) -> StoreResult<()>;
    async fn icu_units(&self) -> StoreResult<Vec<IcuUnit>>;
    /// Every bed, in unit then position order.
    async fn icu_beds(&self) -> StoreResult<Vec<IcuBed>>;
    async fn icu_replace_code_map(
        &self,
        source: &str,
        rows: Vec<IcuCodeMapRow>,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn icu_code_maps(&self) -> StoreResult<Vec<IcuCodeMapRow>>;

    // --- stays ------------------------------------------------------------------------
    /// Admits a patient to a bed. `Conflict` when the bed has an open stay.
    async fn icu_admit(&self, stay: IcuStay, audit: AuditEntry) -> StoreResult<()>;
    /// `InvalidState` when the stay is discharged already.
    async fn icu_discharge(
        &self,
        stay_id: &str,
        at: Millis,
        by_user: &str,
        summary: &str,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn icu_stay(&self, stay_id: &str) -> StoreResult<Option<IcuStay>>;
    /// Every open stay.
    async fn icu_open_stays(&self) -> StoreResult<Vec<IcuStay>>;
    /// Stays of a bed or of a person (merges not followed), newest first.
    async fn icu_stays_of_bed(&self, bed_id: &str, limit: i64) -> StoreResult<Vec<IcuStay>>;

    // --- values -----------------------------------------------------------------------
    /// Stores a batch of monitor messages in one transaction with its audit record and the
    /// alert changes: all or nothing. Returns one result per message, in order.
    async fn icu_ingest(
        &self,
        batch: Vec<IcuIncoming>,
        alerts: IcuAlertChanges,
        audit: AuditEntry,
    ) -> StoreResult<Vec<IcuIngested>>;
    /// Stores manual or lab values of one stay (with their audit record).
    async fn icu_record_values(
        &self,
        values: Vec<IcuValue>,
        alerts: IcuAlertChanges,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// The newest value of each item of these stays.
    async fn icu_latest(&self, stay_ids: &[String]) -> StoreResult<Vec<IcuValue>>;
    /// Values of one stay between `from` and `to` (inclusive), oldest first; items empty =
    /// every item.
    async fn icu_values(
        &self,
        stay_id: &str,
        items: &[String],
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<IcuValue>>;
    async fn icu_hourly(
        &self,
        stay_id: &str,
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<IcuHourly>>;
    /// Summarises complete hours before `raw_before` into `icu_hourly`, deletes the raw values
    /// before it, and forgets message ids older than `messages_before`. Idempotent.
    async fn icu_compact(
        &self,
        raw_before: Millis,
        messages_before: Millis,
    ) -> StoreResult<IcuCompaction>;

    // --- quarantine ---------------------------------------------------------------------
    async fn icu_quarantine(&self, open_only: bool, limit: i64)
        -> StoreResult<Vec<IcuQuarantined>>;
    /// `InvalidState` when resolved already.
    async fn icu_resolve_quarantine(
        &self,
        id: &str,
        by_user: &str,
        resolution: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;

    // --- alerts -------------------------------------------------------------------------
    /// Open alerts (not cleared), newest first.
    async fn icu_open_alerts(&self) -> StoreResult<Vec<IcuAlert>>;
    /// The alert log: every alert raised since `since`, newest first.
    async fn icu_alert_log(&self, since: Millis, limit: i64) -> StoreResult<Vec<IcuAlert>>;
    async fn icu_get_alert(&self, id: &str) -> StoreResult<Option<IcuAlert>>;
    /// Acknowledges (and optionally snoozes) an open alert.
    async fn icu_ack_alert(
        &self,
        id: &str,
        by_user: &str,
        reason: &str,
        snoozed_until: Option<Millis>,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Applies alert changes outside an ingest (the data-gap sweep).
    async fn icu_apply_alerts(
        &self,
        alerts: IcuAlertChanges,
        audit: AuditEntry,
    ) -> StoreResult<usize>;

    // --- rounds and calls ---------------------------------------------------------------
    async fn icu_add_round(&self, round: IcuRound, audit: AuditEntry) -> StoreResult<()>;
    async fn icu_rounds(&self, stay_id: &str) -> StoreResult<Vec<IcuRound>>;
    async fn icu_open_call(&self, call: IcuCall, audit: AuditEntry) -> StoreResult<()>;
    /// Records advice and outcome and closes the call; `InvalidState` if closed already.
    #[allow(clippy::too_many_arguments)]
    async fn icu_close_call(
        &self,
        call_id: &str,
        advice: &str,
        outcome: &str,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Calls of these stays, newest first.
    async fn icu_calls(&self, stay_ids: &[String], limit: i64) -> StoreResult<Vec<IcuCall>>;

    // --- test data ------------------------------------------------------------------------
    /// Erases every stay marked as test data with its values, alerts, rounds and calls.
    /// Returns how many stays went.
    async fn icu_erase_test_stays(&self, audit: AuditEntry) -> StoreResult<u64>;
}
