//! Records for the FHIR resource store (clinical data).
//!
//! The store keeps JSON text it does not interpret: the caller (renkei-web, the SS-MIX2
//! collector, the MLLP listener) validates the resource with `renkei-fhir`, extracts its
//! index values, sets `meta.versionId`/`meta.lastUpdated` in the text and says which
//! version it expects to replace. Storage checks that expectation atomically, keeps every
//! version, and replaces the search index of the current version — all in one
//! transaction with the audit records, so a batch lands whole or not at all.
//!
//! `Patient` is not stored here: patients are registrations in the patient index
//! (`patient_records`), and clinical rows name the registration they are about
//! (`patient_record_id`). Searches reach a person's data from every facility through
//! `patient_records.person_id`.

use renkei_domain::Millis;
use renkei_fhir::IndexEntry;
use serde::{Deserialize, Serialize};

/// One version of one resource as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FhirRow {
    pub resource_type: String,
    pub id: String,
    pub version_id: i64,
    pub last_updated: Millis,
    /// A delete is stored as a version with `deleted = true` and the previous content.
    pub deleted: bool,
    /// The registration (`patient_records.id`) the resource is about; None for
    /// Organization, Practitioner and other non-patient resources.
    pub patient_record_id: Option<String>,
    /// The person the registration belongs to now (resolved when read).
    pub person_id: Option<String>,
    /// The facility whose system or user wrote this version.
    pub source_facility_id: Option<String>,
    /// `renkei_domain::patient::InfoCategory::code()` of the resource.
    pub category: String,
    /// The resource JSON text, `meta.versionId` and `meta.lastUpdated` included.
    pub content: String,
    /// `create`, `update` or `delete` (the FHIR history `request.method`: POST/PUT/DELETE).
    pub method: String,
}

/// What one write does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FhirWriteKind {
    /// The id must not exist yet (not even deleted).
    Create,
    /// Replaces the current version, which must be `expected_version` (None: the resource
    /// must not exist — update-as-create — so the caller's read is still true).
    Update { expected_version: Option<i64> },
    /// Marks the resource deleted; `expected_version` as for Update.
    Delete { expected_version: i64 },
}

/// One write in a batch. `version_id` is the version this write creates (the caller put it
/// into `content` already).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FhirWrite {
    pub kind: FhirWriteKind,
    pub resource_type: String,
    pub id: String,
    pub version_id: i64,
    pub last_updated: Millis,
    pub patient_record_id: Option<String>,
    pub source_facility_id: Option<String>,
    pub category: String,
    pub content: String,
    /// Index values of this version (ignored for deletes: a deleted resource has none).
    pub index: Vec<IndexEntry>,
}

/// Which rows a search or read may return: the access decision, prepared by the caller
/// per person, executed by storage as a filter so pages and totals never count rows the
/// requester may not see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FhirScope {
    /// Everything (internal use: the collector, tests). Never for a person's request.
    All,
    Restricted {
        /// Rows written by this facility are its own data.
        own_facility: Option<String>,
        /// Rows about these persons in these categories.
        grants: Vec<PersonGrant>,
        /// Rows about no patient (Organization, Practitioner…).
        non_patient: bool,
    },
}

/// Persons sharing the same permitted categories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonGrant {
    pub person_ids: Vec<String>,
    pub categories: Vec<String>,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FhirPage {
    pub rows: Vec<FhirRow>,
    /// Total matches (when `SearchQuery::want_total`).
    pub total: Option<i64>,
}

/// A history request (`_history` at instance, type or system level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub resource_type: Option<String>,
    pub id: Option<String>,
    /// `_since`: versions with last_updated >= since.
    pub since: Option<Millis>,
    pub count: usize,
    pub offset: usize,
}
