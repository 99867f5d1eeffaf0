//! The access decision point. Every read of patient data — pages, APIs, searches, exports —
//! calls [`authorize`] for the category it is about to show. It gathers the facts
//! (care-team status, consent, break-glass), asks the pure rule in
//! `renkei_domain::patient::decide`, and writes an audit record naming the patient for every
//! decision, permit or deny.

use crate::ServiceResult;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::{
    decide, AccessContext, BreakGlassGrant, Decision, InfoCategory, Requester,
};
use renkei_storage::Store;

/// Where the request came from, for the audit record.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub login_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What is being read, e.g. `page:/patients/…`, `fhir:Patient/…`.
    pub resource: String,
}

/// Decides whether `requester` may see `category` of the person's data recorded by
/// `source_facility_id` (None: data assembled from several facilities), and audits it.
pub async fn authorize(
    store: &dyn Store,
    requester: &Requester,
    origin: &Origin,
    person_id: &str,
    category: InfoCategory,
    source_facility_id: Option<&str>,
) -> ServiceResult<Decision> {
    let now = renkei_domain::now_millis();
    let decision = evaluate(
        store,
        requester,
        person_id,
        category,
        source_facility_id,
        now,
    )
    .await?;
    let (outcome, detail) = match decision {
        Decision::Permit { basis } => (
            Outcome::Success,
            serde_json::json!({ "category": category.code(), "basis": basis.code(), "resource": origin.resource }),
        ),
        Decision::Deny { reason } => (
            Outcome::Denied,
            serde_json::json!({ "category": category.code(), "reason": reason.code(), "resource": origin.resource }),
        ),
    };
    let mut entry = AuditEntry::new("patient.read", outcome)
        .actor(
            Some(&requester.user_id),
            Some(&origin.login_id),
            requester.facility_id.as_deref(),
        )
        .from_client(origin.ip.clone(), origin.user_agent.clone())
        .detail(detail);
    entry.patient_id = Some(person_id.to_string());
    store.append_audit(entry).await?;
    Ok(decision)
}

/// The decision without the audit record, for filtering search results whose rows are
/// audited as one search.
pub async fn evaluate(
    store: &dyn Store,
    requester: &Requester,
    person_id: &str,
    category: InfoCategory,
    source_facility_id: Option<&str>,
    now: renkei_domain::Millis,
) -> ServiceResult<Decision> {
    let person = store
        .resolve_person(person_id)
        .await?
        .unwrap_or_else(|| person_id.to_string());
    let team_status = match requester.facility_id.as_deref() {
        Some(f) => store.team_status(&person, f).await?,
        None => None,
    };
    let consent = store.current_consent(&person).await?.map(|c| c.view());
    let break_glass = store
        .active_break_glass(&requester.user_id, &person, now)
        .await?
        .map(|e| BreakGlassGrant {
            expires_at: e.expires_at,
        });
    let ctx = AccessContext {
        requester,
        team_status,
        source_facility_id,
        consent: consent.as_ref(),
        break_glass: break_glass.as_ref(),
        now,
    };
    Ok(decide(&ctx, category))
}
