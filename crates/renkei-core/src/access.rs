//! The access decision point. Every read of patient data — pages, APIs, searches, exports —
//! calls [`authorize`] for the category it is about to show. It gathers the facts
//! (care-team status, consent, break-glass, a current group-cover shift), asks the pure rule in
//! `renkei_domain::patient::decide`, and writes an audit record naming the patient for every
//! decision, permit or deny.

use crate::ServiceResult;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::{
    decide, AccessContext, Basis, BreakGlassGrant, Decision, InfoCategory, Requester,
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
/// `source_facility_id` (None: the person as a whole — the requester's own facility's data
/// when it has registered the person), and audits it.
pub async fn authorize(
    store: &dyn Store,
    requester: &Requester,
    origin: &Origin,
    person_id: &str,
    category: InfoCategory,
    source_facility_id: Option<&str>,
) -> ServiceResult<Decision> {
    authorize_timed(
        store,
        requester,
        origin,
        person_id,
        category,
        source_facility_id,
    )
    .await
    .map(|(decision, _)| decision)
}

/// How long the two halves of a decision took, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Gathering the facts and applying the rule.
    pub decide: std::time::Duration,
    /// Appending the audit record (durable before it returns).
    pub audit: std::time::Duration,
}

/// [`authorize`], also reporting where the time went.
pub async fn authorize_timed(
    store: &dyn Store,
    requester: &Requester,
    origin: &Origin,
    person_id: &str,
    category: InfoCategory,
    source_facility_id: Option<&str>,
) -> ServiceResult<(Decision, Timings)> {
    let started = std::time::Instant::now();
    let now = renkei_domain::now_millis();
    let facts = store
        .access_facts(
            person_id,
            requester.facility_id.as_deref(),
            &requester.user_id,
            now,
        )
        .await?;
    let decision = decide_with(&facts, requester, category, source_facility_id, now);
    let (outcome, detail) = match decision {
        // A cover permit names the shift that opened the record, so the audit trail shows
        // which rota entry stood behind each read.
        Decision::Permit {
            basis: Basis::GroupCover,
        } => (
            Outcome::Success,
            serde_json::json!({
                "category": category.code(),
                "basis": Basis::GroupCover.code(),
                "resource": origin.resource,
                "cover_shift": facts.cover.as_ref().map(|c| c.shift_id.as_str()),
                "cover_group": facts.cover.as_ref().map(|c| c.group_id.as_str()),
            }),
        ),
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
    let decided = started.elapsed();
    store.append_audit(entry).await?;
    Ok((
        decision,
        Timings {
            decide: decided,
            audit: started.elapsed() - decided,
        },
    ))
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
    let facts = store
        .access_facts(
            person_id,
            requester.facility_id.as_deref(),
            &requester.user_id,
            now,
        )
        .await?;
    Ok(decide_with(
        &facts,
        requester,
        category,
        source_facility_id,
        now,
    ))
}

/// The registrations of a person that `requester` may see for `category` (their own
/// facility's, and others' when shared), with the facts read once for all of them.
/// Unaudited: the caller audits the read it makes of them.
pub async fn visible_records(
    store: &dyn Store,
    requester: &Requester,
    person_id: &str,
    category: InfoCategory,
    now: renkei_domain::Millis,
) -> ServiceResult<Vec<renkei_storage::PatientRecord>> {
    let facts = store
        .access_facts(
            person_id,
            requester.facility_id.as_deref(),
            &requester.user_id,
            now,
        )
        .await?;
    Ok(store
        .person_records(person_id)
        .await?
        .into_iter()
        .filter(|r| decide_with(&facts, requester, category, Some(&r.facility_id), now).is_permit())
        .collect())
}

/// The decision on facts already read (for a page that needs the facts for more than one
/// decision). Unaudited: the caller audits the read.
pub fn evaluate_facts(
    facts: &renkei_storage::AccessFacts,
    requester: &Requester,
    category: InfoCategory,
    source_facility_id: Option<&str>,
    now: renkei_domain::Millis,
) -> Decision {
    decide_with(facts, requester, category, source_facility_id, now)
}

fn decide_with(
    facts: &renkei_storage::AccessFacts,
    requester: &Requester,
    category: InfoCategory,
    source_facility_id: Option<&str>,
    now: renkei_domain::Millis,
) -> Decision {
    // Data about the whole person (no single source): the facility's own registration makes
    // it the facility's own data.
    let source = match source_facility_id {
        Some(f) => Some(f),
        None if facts.own_registration => requester.facility_id.as_deref(),
        None => None,
    };
    let break_glass = facts
        .break_glass_expires_at
        .map(|expires_at| BreakGlassGrant { expires_at });
    let ctx = AccessContext {
        requester,
        team_status: facts.team_status,
        source_facility_id: source,
        consent: facts.consent.as_ref(),
        break_glass: break_glass.as_ref(),
        cover: facts.cover.as_ref(),
        now,
    };
    decide(&ctx, category)
}
