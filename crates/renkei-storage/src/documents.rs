//! Documents between facilities (入院時情報提供書, 診療情報提供書…): who sent which document to
//! which facility, and the receiving facility's confirmation of receipt (受領確認).
//!
//! The documents themselves are FHIR `Composition` resources in the clinical store; only
//! their delivery is kept here, because a receipt is written by the *receiving* facility
//! about a resource another facility owns, and the inbox is a question by recipient across
//! patients. Deliveries are inserted in the same transaction as the write that makes the
//! document final ([`DocumentStore::fhir_write_sending`]), so a document is never marked
//! sent without its deliveries, nor delivered without being final. Confirming receipt
//! carries its own audit record.

use async_trait::async_trait;
use renkei_domain::audit::AuditEntry;
use renkei_domain::Millis;
use serde::{Deserialize, Serialize};

use crate::fhir::{FhirRow, FhirWrite};
use crate::StoreResult;

/// One document sent to one facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentDelivery {
    pub id: String,
    /// The `Composition` id.
    pub document_id: String,
    /// The person (patient index) the document is about.
    pub person_id: String,
    pub from_facility_id: String,
    pub from_user_id: String,
    pub to_facility_id: String,
    pub sent_at: Millis,
    /// When, and by whom of the receiving facility, receipt was confirmed.
    pub received_at: Option<Millis>,
    pub received_by: Option<String>,
}

#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// [`crate::Store::fhir_write`] and the deliveries the writes send, in one
    /// transaction: all or nothing.
    async fn fhir_write_sending(
        &self,
        writes: Vec<FhirWrite>,
        audit: Vec<AuditEntry>,
        deliveries: Vec<DocumentDelivery>,
    ) -> StoreResult<Vec<FhirRow>>;
    /// The deliveries of these documents, earliest first.
    async fn deliveries_of(&self, document_ids: &[String]) -> StoreResult<Vec<DocumentDelivery>>;
    /// Deliveries to a facility, newest first (only unconfirmed ones if `pending_only`).
    async fn deliveries_to(
        &self,
        facility_id: &str,
        pending_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<DocumentDelivery>>;
    /// One delivery by id.
    async fn delivery(&self, id: &str) -> StoreResult<Option<DocumentDelivery>>;
    /// The receiving facility confirms receipt, with its audit record, in one transaction.
    /// False (and nothing written) when the delivery does not exist, is addressed to
    /// another facility or was confirmed already.
    async fn confirm_receipt(
        &self,
        delivery_id: &str,
        facility_id: &str,
        user_id: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
}
