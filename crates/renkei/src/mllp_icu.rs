//! Monitor messages on the MLLP listener: ORU^R01 in the IHE PCD-01 form or the Nihon
//! Kohden gateway form, for a bed of a configured Tele-ICU unit, go to the ICU ingest
//! (`renkei_core::icu`) instead of the clinical record.
//!
//! ACK semantics (docs/icu-connection.md): AA once the values are committed, with an ERR
//! warning (severity W) per observation left out (unknown code, impossible value, invalid
//! status); AE when the message cannot be attached to a patient (no patient in the bed, a
//! patient ID that disagrees, unknown bed) — it is quarantined and an alert raised; AE for
//! a message that is not a usable ORU; AR when storage is unavailable (the sender retries).
//! A resent message (same MSH-10) is answered AA and stored once.

use anyhow::Context;
use renkei_core::clinical::Author;
use renkei_core::icu::{
    BedAction, BedEventInput, BedEventOutcome, BedEventRefusal, IcuIngestor, MonitorInput,
    MonitorOutcome,
};
use renkei_core::ingest::{IngestError, Ingestor};
use renkei_hl7::ack::{AckError, Acknowledgment, ErrorCode, ErrorLocation};
use renkei_hl7::Message;
use renkei_icu::BedEventKind;
use renkei_icu::{Catalogue, CodeMap, MessageForm, ProblemKind};
use renkei_storage::{Facility, Store};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long the list of monitored beds is trusted before it is read again.
const BEDS_TTL: Duration = Duration::from_secs(5);

/// (facility id, monitor key) of every configured bed.
type MonitoredBeds = Arc<HashSet<(String, String)>>;

pub struct IcuRouter {
    store: Arc<dyn Store>,
    ingestor: IcuIngestor,
    catalogue: Catalogue,
    /// Built-in table with the `icu_code_map_file` rows.
    file_codes: CodeMap,
    /// `file_codes` with the rows stored from the setup page, and when they were read.
    codes: RwLock<(Option<Instant>, Arc<CodeMap>)>,
    /// (facility id, monitor key) of every configured bed, and when it was read.
    beds: RwLock<(Option<Instant>, MonitoredBeds)>,
}

impl IcuRouter {
    /// `site_table`: a CSV code table that extends and overrides the built-in one
    /// (configuration `icu_code_map_file`).
    pub fn new(
        store: Arc<dyn Store>,
        site_table: Option<&str>,
        rules: Vec<renkei_core::icu::ThresholdRule>,
    ) -> anyhow::Result<IcuRouter> {
        let catalogue = Catalogue::site().clone();
        let codes = match site_table {
            None => CodeMap::defaults(),
            Some(text) => CodeMap::defaults()
                .with_csv(text, &catalogue)
                .map_err(|problems| {
                    anyhow::anyhow!(
                        "the ICU code table has errors: {}",
                        problems
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                })?,
        };
        Ok(IcuRouter {
            ingestor: IcuIngestor::start_with_rules(store.clone(), rules),
            store,
            catalogue,
            codes: RwLock::new((None, Arc::new(codes.clone()))),
            file_codes: codes,
            beds: RwLock::new((None, Arc::new(HashSet::new()))),
        })
    }

    /// The code table in force: built-in, then the configuration file, then the tables
    /// uploaded on the setup page (re-read every few seconds, so an upload needs no restart).
    async fn code_map(&self) -> Arc<CodeMap> {
        {
            let cached = self.codes.read().expect("code map lock");
            if cached.0.is_some_and(|t| t.elapsed() < BEDS_TTL) {
                return cached.1.clone();
            }
        }
        let merged = match renkei_core::icu::stored_code_table(self.store.as_ref()).await {
            Ok(table) if table.is_empty() => self.file_codes.clone(),
            Ok(table) => match self.file_codes.clone().with_csv(&table, &self.catalogue) {
                Ok(map) => map,
                Err(problems) => {
                    tracing::warn!(problems = problems.len(), "stored ICU code table ignored");
                    self.file_codes.clone()
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "stored ICU code table not read");
                return self.codes.read().expect("code map lock").1.clone();
            }
        };
        let merged = Arc::new(merged);
        *self.codes.write().expect("code map lock") = (Some(Instant::now()), merged.clone());
        merged
    }

    async fn monitored_beds(
        &self,
    ) -> Result<Arc<HashSet<(String, String)>>, renkei_storage::StoreError> {
        {
            let cached = self.beds.read().expect("bed cache lock");
            if cached.0.is_some_and(|t| t.elapsed() < BEDS_TTL) {
                return Ok(cached.1.clone());
            }
        }
        let beds: HashSet<(String, String)> = self
            .store
            .icu()
            .icu_beds()
            .await?
            .into_iter()
            .map(|b| (b.facility_id, b.monitor_key))
            .collect();
        let beds = Arc::new(beds);
        *self.beds.write().expect("bed cache lock") = (Some(Instant::now()), beds.clone());
        Ok(beds)
    }

    /// Whether this ORU belongs to the Tele-ICU: the PCD-01 form, or a bed (PV1-3) that is
    /// a configured monitor key of the sending facility.
    pub async fn claims(&self, message: &Message, facility: &Facility) -> bool {
        let header = message.header();
        if header.message_type.eq_ignore_ascii_case("ADT") {
            // Bed assignment: the current (PV1-3) or prior (PV1-6) bed is a monitored bed.
            let pv1 = message.segment("PV1");
            let keys: Vec<String> = [3, 6]
                .into_iter()
                .filter_map(|n| renkei_icu::BedLocation::from_field(pv1, n))
                .map(|l| l.bed)
                .filter(|b| !b.is_empty())
                .collect();
            if keys.is_empty() {
                return false;
            }
            return match self.monitored_beds().await {
                Ok(beds) => keys
                    .into_iter()
                    .any(|k| beds.contains(&(facility.id.clone(), k))),
                Err(_) => false,
            };
        }
        if !header.message_type.eq_ignore_ascii_case("ORU") {
            return false;
        }
        if renkei_icu::oru::detect_form(message) == MessageForm::Pcd01 {
            return true;
        }
        let Some(location) = renkei_icu::BedLocation::from_field(message.segment("PV1"), 3) else {
            return false;
        };
        match self.monitored_beds().await {
            Ok(beds) => beds.contains(&(facility.id.clone(), location.bed.clone())),
            // Storage trouble: the ICU path answers AR for it, so the sender retries.
            Err(_) => true,
        }
    }

    /// Stores the message and returns the warnings for an AA, or the negative ACK.
    pub async fn handle(
        &self,
        message: &Message,
        facility: &Facility,
        author: &Author,
    ) -> Result<Vec<AckError>, Acknowledgment> {
        if message.header().message_type.eq_ignore_ascii_case("ADT") {
            return self.handle_adt(message, facility, author).await;
        }
        let codes = self.code_map().await;
        let parsed = renkei_icu::parse_oru(message, &self.catalogue, &codes).map_err(|e| {
            Acknowledgment::Error(AckError::new(
                ErrorCode::RequiredFieldMissing,
                e.to_string(),
            ))
        })?;
        let warnings: Vec<AckError> = parsed
            .problems
            .iter()
            .map(|p| {
                let code = match p.kind {
                    ProblemKind::UnknownCode | ProblemKind::UnknownUnit => {
                        ErrorCode::TableValueNotFound
                    }
                    _ => ErrorCode::DataTypeError,
                };
                AckError {
                    code,
                    text: p.text.clone(),
                    location: Some(ErrorLocation {
                        segment: "OBX".into(),
                        sequence: p.obx_index,
                        field: Some(match p.kind {
                            ProblemKind::UnknownCode => 3,
                            ProblemKind::UnknownUnit => 6,
                            ProblemKind::Invalid => 11,
                            ProblemKind::NoTime => 14,
                            _ => 5,
                        }),
                        repetition: None,
                        component: None,
                        subcomponent: None,
                    }),
                }
            })
            .collect();
        let input = MonitorInput {
            facility_id: facility.id.clone(),
            control_id: parsed.control_id.clone(),
            received_at: renkei_domain::now_millis(),
            bed_key: parsed
                .location
                .as_ref()
                .map(|l| l.bed.clone())
                .unwrap_or_default(),
            patient_ids: parsed
                .patient_ids
                .iter()
                .map(|p| p.id.clone())
                .filter(|p| !p.is_empty())
                .collect(),
            readings: parsed
                .readings
                .iter()
                .map(|r| (r.item.clone(), r.at, r.value))
                .collect(),
            raw: message.text().to_string(),
        };
        match self.ingestor.submit(input).await {
            Ok(MonitorOutcome::Stored) | Ok(MonitorOutcome::Duplicate) => Ok(warnings),
            Ok(MonitorOutcome::Quarantined(reason)) => Err(Acknowledgment::Error(AckError::new(
                ErrorCode::UnknownKeyIdentifier,
                format!("quarantined for review, not attached to any patient: {reason}"),
            ))),
            Err(e) => Err(Acknowledgment::Reject(AckError::new(
                ErrorCode::ApplicationInternalError,
                format!("not stored: {e}"),
            ))),
        }
    }
}

impl IcuRouter {
    /// ADT for a monitored bed: the patient is found (or registered) through the patient
    /// index, then the bed's stay is opened, moved or closed.
    async fn handle_adt(
        &self,
        message: &Message,
        facility: &Facility,
        author: &Author,
    ) -> Result<Vec<AckError>, Acknowledgment> {
        let event = renkei_icu::parse_adt(message).map_err(|e| {
            Acknowledgment::Error(AckError::new(
                ErrorCode::RequiredFieldMissing,
                e.to_string(),
            ))
        })?;
        let action = match event.kind {
            BedEventKind::Admit => BedAction::Admit,
            BedEventKind::Transfer => BedAction::Transfer,
            BedEventKind::Discharge => BedAction::Discharge,
            BedEventKind::CancelAdmit => BedAction::CancelAdmit,
            BedEventKind::Update | BedEventKind::CancelDischarge => BedAction::Other,
        };
        let now = renkei_domain::now_millis();
        let mut ingestor = Ingestor::new(
            self.store.as_ref(),
            facility.clone(),
            author.clone(),
            "ingest.mllp",
        );
        let (record_id, person_id, local_id, notes) = ingestor
            .resolve_patient(message, now)
            .await
            .map_err(|e| match e {
                IngestError::Store(e) => Acknowledgment::Reject(AckError::new(
                    ErrorCode::ApplicationInternalError,
                    format!("storage unavailable: {e}"),
                )),
                other => Acknowledgment::Error(AckError::new(
                    ErrorCode::RequiredFieldMissing,
                    other.to_string(),
                )),
            })?;
        let input = BedEventInput {
            facility_id: facility.id.clone(),
            action,
            bed_key: event.location.as_ref().map(|l| l.bed.clone()),
            prior_bed_key: event.prior_location.as_ref().map(|l| l.bed.clone()),
            record_id,
            person_id,
            local_id,
            at: event.at.unwrap_or(now),
            source: format!("{} {}", message.header().message_type, event.control_id),
            actor: author.requester.user_id.clone(),
        };
        let mut warnings: Vec<AckError> = notes
            .into_iter()
            .map(|n| AckError::new(ErrorCode::DataTypeError, n))
            .collect();
        match renkei_core::icu::apply_bed_event(self.store.as_ref(), &input).await {
            Ok(BedEventOutcome::Ignored(why)) => {
                warnings.push(AckError::new(ErrorCode::MessageAccepted, why));
                Ok(warnings)
            }
            Ok(_) => {
                // The ingest's bed cache must see the new patient before the first ORU.
                *self.beds.write().expect("bed cache lock") = (None, Arc::new(HashSet::new()));
                Ok(warnings)
            }
            Err(BedEventRefusal::Store(e)) => Err(Acknowledgment::Reject(AckError::new(
                ErrorCode::ApplicationInternalError,
                format!("not stored: {e}"),
            ))),
            Err(refusal) => Err(Acknowledgment::Error(AckError::new(
                ErrorCode::UnknownKeyIdentifier,
                refusal.to_string(),
            ))),
        }
    }
}

/// Reads the setting `icu_alert_rules_file`: `[[rule]]` tables changing the default rules.
pub fn load_alert_rules(
    path: &std::path::Path,
) -> anyhow::Result<Vec<renkei_core::icu::ThresholdRule>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RulesFile {
        #[serde(default)]
        rule: Vec<renkei_core::icu::RuleChange>,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading icu_alert_rules_file {}", path.display()))?;
    let file: RulesFile = toml::from_str(&text)
        .with_context(|| format!("icu_alert_rules_file {}", path.display()))?;
    let catalogue = Catalogue::site();
    renkei_core::icu::merge_rules(&file.rule, |item| catalogue.get(item).is_some()).map_err(
        |problems| {
            anyhow::anyhow!(
                "icu_alert_rules_file {}:\n{}",
                path.display(),
                problems.join("\n")
            )
        },
    )
}

/// Reads the setting `icu_items_file`: `[[item]]` tables of data items beyond the
/// built-in ones (code, labels, unit, kind, sampling, decimals, possible range).
pub fn load_items(path: &std::path::Path) -> anyhow::Result<Catalogue> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ItemsFile {
        #[serde(default)]
        item: Vec<renkei_icu::ItemDef>,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading icu_items_file {}", path.display()))?;
    let file: ItemsFile =
        toml::from_str(&text).with_context(|| format!("icu_items_file {}", path.display()))?;
    Catalogue::with_extra(file.item).with_context(|| format!("icu_items_file {}", path.display()))
}
