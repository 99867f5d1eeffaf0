//! HL7 v2 messages (SS-MIX2 files, MLLP pushes) into the clinical store.
//!
//! For each message the [`Ingestor`] finds the patient by the facility's local ID (PID-3)
//! or registers them through the patient index, maps the message to JP Core resources
//! (`renkei-hl7-fhir`, deterministic ids), validates every resource, and compares it with
//! what is stored: unchanged resources are not written again, so re-reading a storage
//! tree changes nothing. Writes accumulate in a batch that [`Ingestor::flush`] stores in
//! one transaction with a Provenance per patient and one audit record — a message is
//! stored whole or not at all, and a caller acknowledges only after `flush` returns.

use crate::clinical::{self, Author, WriteIntent};
use crate::patients::{self, RegistrationInput};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::Millis;
use renkei_fhir::resource::Issue;
use renkei_hl7::Message;
use renkei_hl7_fhir::{demographics, map_message, MapContext, MapError};
use renkei_storage::fhir::{FhirRow, FhirWrite, FhirWriteKind};
use renkei_storage::{Facility, Store, StoreError};
use serde_json::Value;
use std::collections::HashMap;

/// Why a message was not taken.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// PID unusable for the patient index (no ID, names, birth date…).
    #[error("patient identification: {0}")]
    Patient(String),
    /// A message type (SS-MIX2 data type) with no FHIR mapping; refused before anything
    /// else happens, so it never registers a patient either.
    #[error("{0}: not mapped to FHIR")]
    Unsupported(String),
    /// The message could not be mapped.
    #[error("{0}")]
    Map(String),
    /// A mapped resource failed validation (a mapping defect or impossible content).
    #[error("invalid resource {resource}: {issues}")]
    Invalid { resource: String, issues: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// Whether retrying the same message later could succeed (storage trouble), as
    /// opposed to content that will always be refused (HL7 AR vs AE).
    pub fn is_transient(&self) -> bool {
        matches!(self, IngestError::Store(StoreError::Backend(_)))
    }
}

fn issues_text(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("{} ({})", i.en, i.expression))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What one message did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageOutcome {
    pub person_id: String,
    /// Resources created or changed (pending until flushed).
    pub written: usize,
    /// Resources identical to what is stored.
    pub unchanged: usize,
    pub deleted: usize,
    /// The patient was registered by this message.
    pub registered: bool,
    pub warnings: Vec<String>,
}

/// Batches messages of one facility into the store.
pub struct Ingestor<'a> {
    store: &'a dyn Store,
    facility: Facility,
    author: Author,
    id_system: String,
    /// local ID → (registration, person)
    patients: HashMap<String, (String, String)>,
    /// (type, id) → position in `pending` and `bases`
    pending_index: HashMap<(String, String), usize>,
    /// None: nothing left to store for the resource (created and deleted in the batch).
    pending: Vec<Option<FhirWrite>>,
    /// What was stored before the batch, for each pending resource.
    bases: Vec<Base>,
    action: &'static str,
}

/// The stored state a batch's writes to one resource start from.
struct Base {
    /// The version stored before the batch; None when there is none.
    version: Option<i64>,
    /// No live resource before the batch: none at all, or a deleted one.
    absent: bool,
    /// The live stored content, compared without meta.
    content: Option<Value>,
}

/// Content without the server-stamped meta, for "did anything change?".
fn comparable(content: &str) -> Option<Value> {
    let mut v: Value = serde_json::from_str(content).ok()?;
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        meta.remove("source");
        meta.remove("tag");
    }
    Some(v)
}

impl<'a> Ingestor<'a> {
    /// `action` names the audit record of each batch (`ingest.ssmix2`, `ingest.mllp`).
    pub fn new(
        store: &'a dyn Store,
        facility: Facility,
        author: Author,
        action: &'static str,
    ) -> Self {
        let id_system = patients::local_id_system(&facility);
        Ingestor {
            store,
            facility,
            author,
            id_system,
            patients: HashMap::new(),
            pending_index: HashMap::new(),
            pending: Vec::new(),
            bases: Vec::new(),
            action,
        }
    }

    pub fn facility(&self) -> &Facility {
        &self.facility
    }

    /// Writes waiting for [`flush`](Self::flush).
    pub fn pending(&self) -> usize {
        self.pending.iter().flatten().count()
    }

    /// The registration, person and local patient ID of the message's patient (PID),
    /// registering them through the patient index first if the facility has not yet.
    pub async fn resolve_patient(
        &mut self,
        msg: &Message,
        now: Millis,
    ) -> Result<(String, String, String, Vec<String>), IngestError> {
        let local_id = demographics(msg)
            .map_err(|e| IngestError::Patient(e.to_string()))?
            .local_id;
        let (record, person, _, warnings) = self.patient(msg, now).await?;
        Ok((record, person, local_id, warnings))
    }

    /// The registration and person for the message's patient, registering them if the
    /// facility has not yet.
    async fn patient(
        &mut self,
        msg: &Message,
        now: Millis,
    ) -> Result<(String, String, bool, Vec<String>), IngestError> {
        let who = demographics(msg).map_err(|e| IngestError::Patient(e.to_string()))?;
        if let Some((record, person)) = self.patients.get(&who.local_id) {
            return Ok((record.clone(), person.clone(), false, who.warnings));
        }
        if let Some(record) = self
            .store
            .find_patient_record(&self.facility.id, &self.id_system, &who.local_id)
            .await?
        {
            let person = self
                .store
                .resolve_person(&record.person_id)
                .await?
                .unwrap_or(record.person_id.clone());
            self.patients
                .insert(who.local_id.clone(), (record.id.clone(), person.clone()));
            return Ok((record.id, person, false, who.warnings));
        }
        let input = RegistrationInput {
            local_id: who.local_id.clone(),
            id_system: String::new(),
            family_kanji: who.family_kanji.clone(),
            given_kanji: who.given_kanji.clone(),
            family_kana: who.family_kana.clone(),
            given_kana: who.given_kana.clone(),
            birth_date: who.birth_date.clone().unwrap_or_default(),
            sex: who.sex.clone().unwrap_or_else(|| "unknown".into()),
            postal_code: who.postal_code.clone(),
            address: who.address.clone(),
            phone: who.phones.first().cloned().unwrap_or_default(),
            insurance_number: who.insurance_numbers.first().cloned().unwrap_or_default(),
            ..Default::default()
        };
        let record = patients::validate(
            &self.facility,
            &input,
            &self.author.requester.user_id,
            false,
            now,
        )
        .map_err(|errors| {
            IngestError::Patient(
                patients::messages(&errors, renkei_domain::Lang::En, |f| format!("PID ({f})"))
                    .join("; "),
            )
        })?;
        let mut audit = AuditEntry::new("patient.register", Outcome::Success)
            .actor(
                Some(&self.author.requester.user_id),
                Some(&self.author.login_id),
                Some(&self.facility.id),
            )
            .detail(serde_json::json!({ "source": self.author.source_system, "local_id": who.local_id }));
        audit.patient_id = None;
        let registered = patients::register(self.store, record, audit)
            .await
            .map_err(|e| match e {
                crate::ServiceError::Store(s) => IngestError::Store(s),
                other => IngestError::Patient(other.to_string()),
            })?;
        let person = registered.record.person_id.clone();
        self.patients
            .insert(who.local_id, (registered.record.id.clone(), person.clone()));
        Ok((registered.record.id, person, true, who.warnings))
    }

    /// The stored rows (deleted ones included) of the resources among `keys` that have no
    /// live pending write, in one query.
    async fn stored_states(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), (i64, bool, String)>, StoreError> {
        let wanted: Vec<String> = keys
            .iter()
            .filter(|k| {
                self.pending_index
                    .get(*k)
                    .is_none_or(|&i| self.pending[i].is_none())
            })
            .map(|(t, id)| format!("{t}/{id}"))
            .collect();
        Ok(self
            .store
            .fhir_read_current(&wanted)
            .await?
            .into_iter()
            .map(|row: FhirRow| {
                (
                    (row.resource_type, row.id),
                    (row.version_id, row.deleted, row.content),
                )
            })
            .collect())
    }

    /// The state a new write starts from: the pending write, else the stored row (also
    /// when the batch's writes cancelled out).
    fn current(
        &self,
        stored: &HashMap<(String, String), (i64, bool, String)>,
        key: &(String, String),
    ) -> Option<(i64, bool, String)> {
        if let Some(&i) = self.pending_index.get(key) {
            if let Some(w) = &self.pending[i] {
                let deleted = matches!(w.kind, FhirWriteKind::Delete { .. });
                return Some((w.version_id, deleted, w.content.clone()));
            }
        }
        stored.get(key).cloned()
    }

    /// Maps one message into the pending batch. `delete` (SS-MIX2 flag 0) removes what the
    /// message had created. Nothing of a failing message is kept.
    pub async fn add(
        &mut self,
        msg: &Message,
        data_type: Option<&str>,
        source: &str,
        delete: bool,
        now: Millis,
    ) -> Result<MessageOutcome, IngestError> {
        let data_type = match renkei_hl7_fhir::resolve_data_type(msg, data_type) {
            Ok(d) => d,
            Err(MapError::Unsupported(t)) => return Err(IngestError::Unsupported(t)),
            Err(e) => return Err(IngestError::Map(e.to_string())),
        };
        let data_type = Some(data_type.as_str());
        let (record_id, person_id, registered, mut warnings) = self.patient(msg, now).await?;
        let patient_reference = format!("Patient/{person_id}");
        let mapped = map_message(
            msg,
            data_type,
            &MapContext {
                patient_reference: &patient_reference,
                facility_id: &self.facility.id,
                source,
            },
        )
        .map_err(|e: MapError| IngestError::Map(e.to_string()))?;
        warnings.extend(mapped.warnings);
        let mut outcome = MessageOutcome {
            person_id: person_id.clone(),
            registered,
            ..Default::default()
        };
        let keys: Vec<(String, String)> = mapped
            .resources
            .iter()
            .map(|r| {
                (
                    r["resourceType"].as_str().unwrap_or_default().to_string(),
                    r["id"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let stored = self.stored_states(&keys).await?;
        let mut writes: Vec<(FhirWrite, Base)> = Vec::new();
        for resource in mapped.resources {
            let rtype = resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let id = resource["id"].as_str().unwrap_or_default().to_string();
            let current = self.current(&stored, &(rtype.clone(), id.clone()));
            let base = Base {
                version: current.as_ref().map(|c| c.0),
                absent: matches!(current, None | Some((_, true, _))),
                content: match &current {
                    Some((_, false, content)) => comparable(content),
                    _ => None,
                },
            };
            if delete {
                if let Some((version, false, content)) = current {
                    let prepared = renkei_fhir::resource::prepare(&resource).ok();
                    writes.push((
                        FhirWrite {
                            kind: FhirWriteKind::Delete {
                                expected_version: version,
                            },
                            resource_type: rtype,
                            id,
                            version_id: version + 1,
                            last_updated: now,
                            patient_record_id: Some(record_id.clone()),
                            source_facility_id: Some(self.facility.id.clone()),
                            category: prepared
                                .map(|p| p.category.code().to_string())
                                .unwrap_or_else(|| "medical".into()),
                            content,
                            index: Vec::new(),
                        },
                        base,
                    ));
                    outcome.deleted += 1;
                }
                continue;
            }
            let prepared = renkei_fhir::resource::prepare(&resource).map_err(|issues| {
                IngestError::Invalid {
                    resource: format!("{rtype}/{id}"),
                    issues: issues_text(&issues),
                }
            })?;
            warnings.extend(prepared.warnings.iter().map(|w| w.en.clone()));
            let (kind, version) = match &current {
                Some((v, deleted, content)) => {
                    if !deleted && comparable(content) == comparable(&resource.to_string()) {
                        outcome.unchanged += 1;
                        continue;
                    }
                    (
                        FhirWriteKind::Update {
                            expected_version: Some(*v),
                        },
                        v + 1,
                    )
                }
                None => (
                    FhirWriteKind::Update {
                        expected_version: None,
                    },
                    1,
                ),
            };
            writes.push((
                clinical::stamp(
                    &self.author,
                    resource,
                    WriteIntent {
                        kind,
                        id,
                        version_id: version,
                    },
                    now,
                    Some(record_id.clone()),
                    prepared,
                ),
                base,
            ));
            outcome.written += 1;
        }
        for (w, base) in writes {
            self.push(w, base);
        }
        outcome.warnings = warnings;
        Ok(outcome)
    }

    /// Adds a write, folding it into an earlier pending write of the same resource (a
    /// superseding file in the same batch) so the batch holds at most one write per
    /// resource, expressed against what was stored before the batch. `base` is that stored
    /// state as seen when the write was made (used only for the first write of a resource).
    fn push(&mut self, w: FhirWrite, base: Base) {
        let key = (w.resource_type.clone(), w.id.clone());
        let i = match self.pending_index.get(&key) {
            Some(&i) => i,
            None => {
                self.pending_index.insert(key, self.pending.len());
                self.pending.push(Some(w));
                self.bases.push(base);
                return;
            }
        };
        let base = &self.bases[i];
        let next_version = base.version.unwrap_or(0) + 1;
        self.pending[i] = match w.kind {
            // Back to what was stored (changed, then changed back within the batch).
            FhirWriteKind::Update { .. }
                if base.content.is_some() && base.content == comparable(&w.content) =>
            {
                None
            }
            // Deleting what was absent before the batch (created or revived, then deleted
            // again — a re-read of an order and its cancellation): nothing to store.
            FhirWriteKind::Delete { .. } if base.absent => None,
            FhirWriteKind::Delete { .. } => Some(FhirWrite {
                kind: FhirWriteKind::Delete {
                    expected_version: base.version.unwrap_or_default(),
                },
                version_id: next_version,
                ..w
            }),
            _ => Some(FhirWrite {
                kind: FhirWriteKind::Update {
                    expected_version: base.version,
                },
                version_id: next_version,
                ..w
            }),
        };
    }

    /// Stores the pending writes in one transaction. Returns how many were stored.
    pub async fn flush(&mut self, now: Millis) -> Result<usize, StoreError> {
        let writes: Vec<FhirWrite> = std::mem::take(&mut self.pending)
            .into_iter()
            .flatten()
            .collect();
        self.pending_index.clear();
        self.bases.clear();
        if writes.is_empty() {
            return Ok(0);
        }
        let n = writes.len();
        clinical::commit(self.store, &self.author, writes, self.action, now).await?;
        Ok(n)
    }

    /// Drops the pending writes (after a failed flush, before retrying message by message).
    pub fn discard(&mut self) {
        self.pending.clear();
        self.pending_index.clear();
        self.bases.clear();
    }
}
