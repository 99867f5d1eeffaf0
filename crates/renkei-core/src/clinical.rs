//! Clinical data (the FHIR resource store) through the access decision point.
//!
//! Reads: [`person_access`] asks the one rule (`renkei_domain::patient::decide`) which
//! categories of a person's shared data the requester may see, and [`scope_of`] turns
//! those answers into a [`FhirScope`] that storage applies as a filter — so pages, totals,
//! includes and `$everything` never hold a row the rule would refuse.
//!
//! Writes: [`prepare_write`] validates a resource with `renkei-fhir`, resolves the patient it
//! is about to a registration in the patient index, checks that the writing facility cares
//! for the patient, and stamps `meta`; [`provenance`] builds the Provenance every write
//! carries. The same path serves people (FHIR API, forms), the SS-MIX2 collector and HL7
//! feeds.

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::{
    decide, AccessContext, BreakGlassGrant, InfoCategory, Requester, TeamStatus,
};
use renkei_domain::Millis;
use renkei_fhir::resource::Issue;
use renkei_storage::fhir::{FhirRow, FhirScope, FhirWrite, FhirWriteKind, PersonGrant};
use renkei_storage::{AccessFacts, Store, StoreError};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What a requester may see of one person's clinical data.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonAccess {
    /// The surviving person.
    pub person_id: String,
    /// Categories of other facilities' data the rule permits (team + consent, or
    /// break-glass).
    pub shared: Vec<InfoCategory>,
    /// The requester's facility registered the person itself.
    pub own_registration: bool,
}

impl PersonAccess {
    /// Sees anything at all (own data or shared).
    pub fn any(&self) -> bool {
        self.own_registration || !self.shared.is_empty()
    }
}

/// The categories `requester` may see of `person_id`'s data written by other facilities.
/// None when the person does not exist.
pub async fn person_access(
    store: &dyn Store,
    requester: &Requester,
    person_id: &str,
    now: Millis,
) -> Result<Option<PersonAccess>, StoreError> {
    let facts = store
        .access_facts(
            person_id,
            requester.facility_id.as_deref(),
            &requester.user_id,
            now,
        )
        .await?;
    let Some(survivor) = facts.person_id.clone() else {
        return Ok(None);
    };
    Ok(Some(PersonAccess {
        person_id: survivor,
        shared: shared_categories(&facts, requester, now),
        own_registration: facts.own_registration,
    }))
}

/// The categories the rule permits for data another facility wrote.
pub fn shared_categories(
    facts: &AccessFacts,
    requester: &Requester,
    now: Millis,
) -> Vec<InfoCategory> {
    let break_glass = facts
        .break_glass_expires_at
        .map(|expires_at| BreakGlassGrant { expires_at });
    let ctx = AccessContext {
        requester,
        team_status: facts.team_status,
        // Never the requester's own facility: own rows are let through by the scope.
        source_facility_id: None,
        consent: facts.consent.as_ref(),
        break_glass: break_glass.as_ref(),
        cover: facts.cover.as_ref(),
        now,
    };
    InfoCategory::ALL
        .into_iter()
        .filter(|c| decide(&ctx, *c).is_permit())
        .collect()
}

/// The storage filter for a requester over these persons: rows the requester's facility
/// wrote about them, rows of permitted categories, and (if `non_patient`) rows about no
/// patient. `own_facility` rows are limited to the listed persons by the caller's query
/// (a patient criterion) or, for unscoped searches, by listing every person.
pub fn scope_of(requester: &Requester, accesses: &[PersonAccess], non_patient: bool) -> FhirScope {
    let mut groups: BTreeMap<Vec<&'static str>, Vec<String>> = BTreeMap::new();
    for a in accesses {
        if a.shared.is_empty() {
            continue;
        }
        let key: Vec<&'static str> = a.shared.iter().map(|c| c.code()).collect();
        groups.entry(key).or_default().push(a.person_id.clone());
    }
    FhirScope::Restricted {
        own_facility: requester.facility_id.clone(),
        grants: groups
            .into_iter()
            .map(|(categories, person_ids)| PersonGrant {
                person_ids,
                categories: categories.into_iter().map(str::to_string).collect(),
            })
            .collect(),
        non_patient,
    }
}

/// Whether a stored row falls within `scope` (for rows fetched by reference, e.g. includes).
pub fn row_in_scope(scope: &FhirScope, row: &FhirRow) -> bool {
    match scope {
        FhirScope::All => true,
        FhirScope::Restricted {
            own_facility,
            grants,
            non_patient,
        } => {
            if row.patient_record_id.is_none() {
                return *non_patient;
            }
            if own_facility.is_some() && row.source_facility_id == *own_facility {
                return true;
            }
            let Some(person) = row.person_id.as_deref() else {
                return false;
            };
            grants.iter().any(|g| {
                g.person_ids.iter().any(|p| p == person)
                    && g.categories.iter().any(|c| c == &row.category)
            })
        }
    }
}

/// Who is writing, for the rows, the Provenance and the audit record.
#[derive(Debug, Clone)]
pub struct Author {
    pub requester: Requester,
    pub login_id: String,
    pub facility_id: String,
    /// `web`, `fhir`, `ssmix2:<root>`, `mllp:<peer>`, `client:<id>`…
    pub source_system: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("invalid resource ({} issues)", .0.len())]
    Invalid(Vec<Issue>),
    /// The resource is about a patient the author may not write for (or who does not exist
    /// — the two are not told apart).
    #[error("patient out of reach: {0}")]
    PatientOutOfReach(String),
    #[error("referenced resource not found: {0}")]
    UnknownReference(String),
    /// A message (Communication) may be changed only by the person who sent it.
    #[error("only the sender may change {0}")]
    NotAuthor(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a write needs from the caller besides the resource.
#[derive(Debug, Clone)]
pub struct WriteIntent {
    pub kind: FhirWriteKind,
    pub id: String,
    pub version_id: i64,
}

/// The instant format of `meta.lastUpdated`.
pub fn instant(millis: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Whether the author's facility may add data about the person: its own registration, an
/// active care-team membership under a consent that is in force, or a group-cover shift
/// under way whose consent test passes (`cover_permits_contribution`: what the covering
/// facility writes during its shift is attributed to it, like any member's contribution).
pub fn may_contribute(facts: &AccessFacts, facility_id: &str, now: Millis) -> bool {
    if facts.own_registration {
        return true;
    }
    let withdrawn = facts
        .consent
        .as_ref()
        .is_some_and(|c| c.withdrawn_at.is_some_and(|t| t <= now));
    (facts.team_status == Some(TeamStatus::Active) && facts.consent.is_some() && !withdrawn)
        || renkei_domain::patient::cover_permits_contribution(
            facts.consent.as_ref(),
            facts.cover.as_ref(),
            facility_id,
            now,
        )
}

/// Validates `resource`, resolves its patient, stamps `id` and `meta`, and returns the
/// storage write. `known` lists references that will exist when the batch commits (other
/// entries of the same transaction); every other literal reference must exist already.
pub async fn prepare_write(
    store: &dyn Store,
    author: &Author,
    mut resource: Value,
    intent: WriteIntent,
    now: Millis,
    known: &[String],
) -> Result<FhirWrite, WriteError> {
    if let Some(obj) = resource.as_object_mut() {
        obj.insert("id".into(), Value::String(intent.id.clone()));
    }
    if resource["resourceType"] == "Communication" {
        if !matches!(intent.kind, FhirWriteKind::Create) {
            if let Some(row) = store.fhir_read("Communication", &intent.id).await? {
                if !may_change_message(&row, &author.requester.user_id) {
                    return Err(WriteError::NotAuthor(format!(
                        "Communication/{}",
                        intent.id
                    )));
                }
            }
        }
        stamp_sender(&mut resource, &author.requester.user_id);
    }
    let prepared = renkei_fhir::resource::prepare(&resource).map_err(WriteError::Invalid)?;
    let patient_record_id = match &prepared.patient_reference {
        Some(reference) => Some(resolve_patient(store, author, reference, now).await?),
        None => None,
    };
    check_references(store, &prepared.references, known).await?;
    Ok(stamp(
        author,
        resource,
        intent,
        now,
        patient_record_id,
        prepared,
    ))
}

/// The identifier system naming a Renkei user (its internal id) as the sender of a message.
pub const USER_ID_SYSTEM: &str = "urn:renkei:user-id";

/// The user who sent a stored message (`Communication.sender.identifier` of
/// [`USER_ID_SYSTEM`], which the write path stamps on every Communication).
pub fn message_sender(content: &Value) -> Option<&str> {
    let id = content.pointer("/sender/identifier")?;
    (id.get("system")?.as_str()? == USER_ID_SYSTEM)
        .then(|| id.get("value")?.as_str())
        .flatten()
}

/// Whether `user_id` may change (update or delete) a stored Communication: only its sender.
/// Every Communication stored through this module names its sender; one that does not (none
/// should exist) can be changed by nobody.
pub fn may_change_message(row: &FhirRow, user_id: &str) -> bool {
    if row.resource_type != "Communication" {
        return true;
    }
    let Ok(content) = serde_json::from_str::<Value>(&row.content) else {
        return false;
    };
    message_sender(&content) == Some(user_id)
}

/// Names the writing user as the Communication's sender: `sender.identifier` is set to the
/// user (whatever the client sent there); a `display` the client gave is kept, and a
/// literal `reference` too.
fn stamp_sender(resource: &mut Value, user_id: &str) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let sender = obj.entry("sender").or_insert_with(|| json!({}));
    if !sender.is_object() {
        *sender = json!({});
    }
    sender["identifier"] = json!({ "system": USER_ID_SYSTEM, "value": user_id });
}

/// Sets `meta.versionId`, `meta.lastUpdated` and `meta.source` and builds the storage write
/// for a resource `prepare` accepted, attached to `patient_record_id`.
pub fn stamp(
    author: &Author,
    mut resource: Value,
    intent: WriteIntent,
    now: Millis,
    patient_record_id: Option<String>,
    prepared: renkei_fhir::resource::Prepared,
) -> FhirWrite {
    let resource_type = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let meta = resource
        .as_object_mut()
        .expect("prepare accepted an object")
        .entry("meta")
        .or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("versionId".into(), json!(intent.version_id.to_string()));
        meta.insert("lastUpdated".into(), json!(instant(now)));
        meta.insert("source".into(), json!(author.source_system));
    }
    FhirWrite {
        kind: intent.kind,
        resource_type,
        id: intent.id,
        version_id: intent.version_id,
        last_updated: now,
        patient_record_id,
        source_facility_id: Some(author.facility_id.clone()),
        category: prepared.category.code().to_string(),
        content: resource.to_string(),
        index: prepared.index,
    }
}

/// The registration a write about `Patient/<person>` attaches to: the author facility's
/// own registration of the person, else (team member) the person's earliest registration.
pub async fn resolve_patient(
    store: &dyn Store,
    author: &Author,
    reference: &str,
    now: Millis,
) -> Result<String, WriteError> {
    resolve_registration(store, author, reference, now)
        .await
        .map(|(record, _)| record)
}

/// [`resolve_patient`], also naming the (surviving) person.
async fn resolve_registration(
    store: &dyn Store,
    author: &Author,
    reference: &str,
    now: Millis,
) -> Result<(String, String), WriteError> {
    let out_of_reach = || WriteError::PatientOutOfReach(reference.to_string());
    let person = reference
        .strip_prefix("Patient/")
        .ok_or_else(out_of_reach)?;
    let facts = store
        .access_facts(
            person,
            Some(&author.facility_id),
            &author.requester.user_id,
            now,
        )
        .await?;
    let Some(survivor) = facts.person_id.clone() else {
        return Err(out_of_reach());
    };
    if !may_contribute(&facts, &author.facility_id, now) {
        return Err(out_of_reach());
    }
    let records = store.person_records(&survivor).await?;
    let record = records
        .iter()
        .find(|r| r.facility_id == author.facility_id)
        .or_else(|| records.first())
        .map(|r| r.id.clone())
        .ok_or_else(out_of_reach)?;
    Ok((record, survivor))
}

async fn check_references(
    store: &dyn Store,
    references: &[String],
    known: &[String],
) -> Result<(), WriteError> {
    let wanted: Vec<String> = references
        .iter()
        .filter(|r| !r.starts_with("Patient/") && !known.contains(r))
        .cloned()
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let found = store.fhir_read_many(&wanted).await?;
    for r in &wanted {
        let (t, id) = r.split_once('/').unwrap_or((r, ""));
        if !found
            .iter()
            .any(|row| row.resource_type == t && row.id == id)
        {
            return Err(WriteError::UnknownReference(r.clone()));
        }
    }
    Ok(())
}

/// The Provenance recording who wrote `targets` (`Type/id/_history/v`), from which facility
/// and system. It is stored with the first target's patient and category.
pub fn provenance(author: &Author, targets: &[String], now: Millis) -> Value {
    json!({
        "resourceType": "Provenance",
        "target": targets.iter().map(|t| json!({"reference": t})).collect::<Vec<_>>(),
        "recorded": instant(now),
        "agent": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                "code": "author"
            }]},
            "who": {"identifier": {"system": "urn:renkei:user", "value": author.login_id},
                    "display": author.login_id},
            "onBehalfOf": {"identifier": {"system": "urn:renkei:facility-code",
                                          "value": author.facility_id}}
        }],
        "entity": [{
            "role": "source",
            "what": {"display": author.source_system}
        }]
    })
}

/// The audit record of a batch of writes (one per batch, naming the persons touched).
pub fn write_audit(
    author: &Author,
    action: &str,
    writes: &[FhirWrite],
    persons: &[String],
) -> AuditEntry {
    let mut entry = AuditEntry::new(action, Outcome::Success)
        .actor(
            Some(&author.requester.user_id),
            Some(&author.login_id),
            Some(&author.facility_id),
        )
        .from_client(author.ip.clone(), author.user_agent.clone())
        .detail(json!({
            "source": author.source_system,
            "resources": writes.iter().map(|w| format!("{}/{}/_history/{}", w.resource_type, w.id, w.version_id)).collect::<Vec<_>>(),
            "persons": persons,
        }));
    entry.patient_id = persons.first().cloned();
    entry
}

/// Stores `writes` with one Provenance per patient touched (naming the author, facility
/// and source system) and one audit record, in one transaction. Returns the rows of
/// `writes` (not the Provenances).
pub async fn commit(
    store: &dyn Store,
    author: &Author,
    writes: Vec<FhirWrite>,
    action: &str,
    now: Millis,
) -> Result<Vec<FhirRow>, StoreError> {
    commit_notifying(store, author, writes, action, now, Vec::new()).await
}

/// [`commit`] with the notifications the writes cause (a timeline post's mentions, reply
/// and urgency — see [`crate::notify`]), stored in the same transaction.
pub async fn commit_notifying(
    store: &dyn Store,
    author: &Author,
    writes: Vec<FhirWrite>,
    action: &str,
    now: Millis,
    notifications: Vec<renkei_storage::notifications::Notification>,
) -> Result<Vec<FhirRow>, StoreError> {
    commit_with(
        store,
        author,
        writes,
        action,
        now,
        Extra::Notifications(notifications),
    )
    .await
    .map(|(rows, _)| rows)
}

async fn commit_with(
    store: &dyn Store,
    author: &Author,
    mut writes: Vec<FhirWrite>,
    action: &str,
    now: Millis,
    extra: Extra,
) -> Result<(Vec<FhirRow>, bool), StoreError> {
    // R4's Provenance has no `patient` element: the patient is the row's patient record.
    let mut by_patient: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for w in &writes {
        let target = format!("{}/{}/_history/{}", w.resource_type, w.id, w.version_id);
        by_patient
            .entry(w.patient_record_id.clone())
            .or_default()
            .push(target);
    }
    let provenances: Vec<FhirWrite> = by_patient
        .into_iter()
        .map(|(record, targets)| provenance_write(author, &targets, record, now))
        .collect();
    let mut persons = std::collections::BTreeSet::new();
    let records: std::collections::BTreeSet<&String> = writes
        .iter()
        .filter_map(|w| w.patient_record_id.as_ref())
        .collect();
    for r in records {
        if let Some(rec) = store.get_patient_record(r).await? {
            persons.insert(rec.person_id);
        }
    }
    let persons: Vec<String> = persons.into_iter().collect();
    let audit = write_audit(author, action, &writes, &persons);
    let count = writes.len();
    writes.extend(provenances);
    let (mut rows, invited) = match extra {
        Extra::Notifications(n) if n.is_empty() => {
            (store.fhir_write(writes, vec![audit]).await?, false)
        }
        Extra::Notifications(n) => (
            store
                .notifications()
                .fhir_write_notifying(writes, vec![audit], n)
                .await?,
            false,
        ),
        Extra::Deliveries(d) => (
            store
                .documents()
                .fhir_write_sending(writes, vec![audit], d)
                .await?,
            false,
        ),
        Extra::Invitation(n, invitation) => {
            store
                .fhir_write_inviting(writes, vec![audit], n, *invitation)
                .await?
        }
    };
    rows.truncate(count);
    Ok((rows, invited))
}

/// [`commit`] of the write that makes a document final, with the deliveries that send it
/// (see `renkei_storage::documents`), in the same transaction; audited as `document.send`.
pub async fn commit_sending(
    store: &dyn Store,
    author: &Author,
    writes: Vec<FhirWrite>,
    now: Millis,
    deliveries: Vec<renkei_storage::documents::DocumentDelivery>,
) -> Result<Vec<FhirRow>, StoreError> {
    commit_with(
        store,
        author,
        writes,
        "document.send",
        now,
        Extra::Deliveries(deliveries),
    )
    .await
    .map(|(rows, _)| rows)
}

/// [`commit_notifying`] together with an invitation of a facility to the person's care
/// team (`Store::fhir_write_inviting`), in one transaction: a transfer request is never
/// stored without the receiving hospital's invitation, nor the invitation without it. The
/// flag says whether the facility was invited (it is not when already a member or invited).
pub async fn commit_inviting(
    store: &dyn Store,
    author: &Author,
    writes: Vec<FhirWrite>,
    action: &str,
    now: Millis,
    notifications: Vec<renkei_storage::notifications::Notification>,
    invitation: renkei_storage::TeamInvitation,
) -> Result<(Vec<FhirRow>, bool), StoreError> {
    commit_with(
        store,
        author,
        writes,
        action,
        now,
        Extra::Invitation(notifications, Box::new(invitation)),
    )
    .await
}

enum Extra {
    Notifications(Vec<renkei_storage::notifications::Notification>),
    Deliveries(Vec<renkei_storage::documents::DocumentDelivery>),
    Invitation(
        Vec<renkei_storage::notifications::Notification>,
        Box<renkei_storage::TeamInvitation>,
    ),
}

/// The stored Provenance of `targets`, attached to the patient record they are about.
fn provenance_write(
    author: &Author,
    targets: &[String],
    record: Option<String>,
    now: Millis,
) -> FhirWrite {
    let id = uuid::Uuid::new_v4().to_string();
    let mut prov = provenance(author, targets, now);
    prov["id"] = json!(id);
    prov["meta"] = json!({
        "versionId": "1",
        "lastUpdated": instant(now),
        "source": author.source_system,
    });
    let index = renkei_fhir::search::extract(&prov);
    FhirWrite {
        kind: FhirWriteKind::Create,
        resource_type: "Provenance".into(),
        id,
        version_id: 1,
        last_updated: now,
        patient_record_id: record,
        source_facility_id: Some(author.facility_id.clone()),
        category: InfoCategory::Medical.code().into(),
        content: prov.to_string(),
        index,
    }
}

/// One author's new resources about one patient, for [`import`].
#[derive(Debug, Clone)]
pub struct ImportBatch {
    pub author: Author,
    /// `Patient/<person>`: every resource of the batch must be about this patient.
    pub patient: String,
    /// (id, resource) to create; `id` is set into the resource here.
    pub resources: Vec<(String, Value)>,
}

/// Creates many batches in one transaction, for bulk loads (the demo network's clinical
/// data, backfills) where a transaction per batch would be far too slow. Each batch goes
/// the way [`prepare_write`] and [`commit`] take a single author's write: every resource
/// validated by `renkei-fhir` and about the batch's patient, the patient resolved once per
/// batch under the same contribution rule ([`resolve_patient`]), references checked (within
/// the load, else in the store), `meta` stamped, one Provenance per batch naming author,
/// facility and source system, and one audit record per batch naming the person. All or
/// nothing. Returns the number of resources created (Provenances not counted).
///
/// Validation is CPU work without I/O and runs on scoped threads, one per core: the call
/// holds its executor thread for that long (well under a second per ten thousand
/// resources in a release build).
pub async fn import(
    store: &dyn Store,
    mut batches: Vec<ImportBatch>,
    action: &str,
    now: Millis,
) -> Result<usize, WriteError> {
    let mut known = std::collections::HashSet::new();
    for batch in &mut batches {
        for (id, resource) in &mut batch.resources {
            if let Some(obj) = resource.as_object_mut() {
                obj.insert("id".into(), Value::String(id.clone()));
            }
            if resource["resourceType"] == "Communication" {
                stamp_sender(resource, &batch.author.requester.user_id);
            }
            let rtype = resource["resourceType"].as_str().unwrap_or_default();
            known.insert(format!("{rtype}/{id}"));
        }
    }
    let mut prepared = prepare_all(&batches).into_iter();
    let mut outside = std::collections::BTreeSet::new();
    let mut writes = Vec::new();
    let mut audits = Vec::new();
    let mut count = 0;
    // Several batches of one author about one patient (a collector run, the demo) resolve
    // the registration once.
    let mut resolved: std::collections::HashMap<(String, String, String), (String, String)> =
        std::collections::HashMap::new();
    for batch in batches {
        let key = (
            batch.author.facility_id.clone(),
            batch.author.requester.user_id.clone(),
            batch.patient.clone(),
        );
        let (record, person) = match resolved.get(&key) {
            Some(found) => found.clone(),
            None => {
                let found = resolve_registration(store, &batch.author, &batch.patient, now).await?;
                resolved.insert(key, found.clone());
                found
            }
        };
        let mut batch_writes = Vec::with_capacity(batch.resources.len());
        for (id, resource) in batch.resources {
            let p = prepared
                .next()
                .expect("one result per resource")
                .map_err(WriteError::Invalid)?;
            if p.patient_reference.as_deref() != Some(batch.patient.as_str()) {
                return Err(WriteError::PatientOutOfReach(
                    p.patient_reference.unwrap_or_default(),
                ));
            }
            outside.extend(
                p.references
                    .iter()
                    .filter(|r| !r.starts_with("Patient/") && !known.contains(*r))
                    .cloned(),
            );
            let intent = WriteIntent {
                kind: FhirWriteKind::Create,
                id,
                version_id: 1,
            };
            batch_writes.push(stamp(
                &batch.author,
                resource,
                intent,
                now,
                Some(record.clone()),
                p,
            ));
        }
        if batch_writes.is_empty() {
            continue;
        }
        let targets: Vec<String> = batch_writes
            .iter()
            .map(|w| format!("{}/{}/_history/{}", w.resource_type, w.id, w.version_id))
            .collect();
        audits.push(write_audit(
            &batch.author,
            action,
            &batch_writes,
            std::slice::from_ref(&person),
        ));
        count += batch_writes.len();
        writes.extend(batch_writes);
        writes.push(provenance_write(&batch.author, &targets, Some(record), now));
    }
    let outside: Vec<String> = outside.into_iter().collect();
    check_references(store, &outside, &[]).await?;
    if !writes.is_empty() {
        store.fhir_write(writes, audits).await?;
    }
    Ok(count)
}

/// `renkei_fhir::resource::prepare` of every resource of the batches, in order, spread over
/// the available cores.
fn prepare_all(
    batches: &[ImportBatch],
) -> Vec<Result<renkei_fhir::resource::Prepared, Vec<Issue>>> {
    let items: Vec<&Value> = batches
        .iter()
        .flat_map(|b| b.resources.iter().map(|(_, r)| r))
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|r| renkei_fhir::resource::prepare(r))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("validation thread panicked"))
            .collect()
    })
}
