//! `AuditEvent` (read-only): the hash-chained audit trail as FHIR R4 AuditEvents.
//!
//! Who may read: the secretariat every record; a facility administrator (signed in for that
//! facility) and a facility's systems (token scope `AuditEvent.r`/`.s`) the records whose
//! actor acted for that facility. Nobody else — the trail names patients and users. Reading
//! the trail is itself audited (`audit.search`, as on the secretariat's audit page).

use crate::fhir::FhirError;
use crate::fhir_rest::{base_url, json_response, Actor};
use crate::SharedState;
use axum::http::StatusCode;
use axum::response::Response;
use renkei_core::clinical::instant;
use renkei_domain::audit::{AuditRecord, Outcome};
use renkei_storage::AuditQuery;
use serde_json::{json, Value};

type FhirResult<T> = Result<T, FhirError>;

/// Renkei's action names (`patient.read`, `fhir.create`, …) as AuditEvent subtypes.
pub const ACTION_SYSTEM: &str = "urn:renkei:audit-action";
const DEFAULT_COUNT: i64 = 50;
const MAX_COUNT: i64 = 1000;

/// Which records the actor may read: None = every record (secretariat), Some(facility).
fn reach(actor: &Actor, op: char) -> FhirResult<Option<String>> {
    actor.require("AuditEvent", op)?;
    if actor.requester.is_secretariat {
        return Ok(None);
    }
    let facility = if actor.scopes.is_some() {
        actor.requester.facility_id.clone()
    } else {
        actor.admin_facility_id.clone()
    };
    facility.map(Some).ok_or_else(|| {
        FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "監査記録を閲覧できるのはネットワーク事務局と施設管理者だけです。",
            "Only the network secretariat and facility administrators may read the audit trail.",
        )
    })
}

/// The FHIR outcome code for Renkei's outcome: 0 success, 4 minor failure (a refusal),
/// 8 serious failure.
fn outcome_code(outcome: &str) -> &'static str {
    match outcome {
        "success" => "0",
        "denied" => "4",
        _ => "8",
    }
}

fn outcome_from_code(code: &str) -> FhirResult<&'static str> {
    match code {
        "0" => Ok("success"),
        "4" => Ok("denied"),
        "8" => Ok("failure"),
        _ => Err(invalid(
            "outcome は 0（成功）、4（拒否）、8（失敗）のいずれかです。",
            "outcome is 0 (success), 4 (refused) or 8 (failure).",
        )),
    }
}

/// The FHIR action code (C, R, U, D, E) a Renkei action name stands for.
fn action_code(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or_default();
    match verb {
        "read" | "search" | "view" | "download" | "export" | "everything" => "R",
        "create" | "register" | "upload" => "C",
        "update" | "approve" | "accept" | "record" | "link" | "merge" => "U",
        "delete" | "revoke" | "withdraw" | "unlink" => "D",
        _ => "E",
    }
}

/// One audit record as an R4 AuditEvent.
pub fn audit_event(state: &SharedState, r: &AuditRecord) -> Value {
    let e = &r.entry;
    let mut agent = json!({
        "type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
            "code": "humanuser",
            "display": "human user"
        }]},
        "requestor": true,
    });
    let system_actor = e.actor_user_id.as_deref().is_some_and(|u| {
        ["client:", "collector:", "mllp:"]
            .iter()
            .any(|p| u.starts_with(p))
    });
    if system_actor {
        agent["type"] = json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
            "code": "dataprocessor",
            "display": "data processor"
        }]});
    }
    let login = e.actor_login.clone().or_else(|| e.actor_user_id.clone());
    if let Some(login) = login.filter(|l| !l.is_empty()) {
        agent["who"] = json!({"identifier": {"system": "urn:renkei:login-id", "value": login}});
    }
    if let Some(user) = e.actor_user_id.as_deref().filter(|u| !u.is_empty()) {
        agent["altId"] = json!(user);
    }
    if let Some(f) = e.actor_facility_id.as_deref().filter(|f| !f.is_empty()) {
        agent["location"] = json!({"identifier": {"system": "urn:renkei:facility-id", "value": f}});
    }
    if let Some(ip) = e.ip.as_deref().filter(|i| !i.is_empty()) {
        // Type 2: an IP address.
        agent["network"] = json!({"address": ip, "type": "2"});
    }
    let mut entities = Vec::new();
    if let Some(p) = e.patient_id.as_deref().filter(|p| !p.is_empty()) {
        entities.push(json!({
            "what": {"reference": format!("Patient/{p}")},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        }));
    }
    if let (Some(t), Some(id)) = (e.target_type.as_deref(), e.target_id.as_deref()) {
        if !t.is_empty() && !id.is_empty() {
            entities.push(json!({
                "what": {"identifier": {"system": format!("urn:renkei:{t}"), "value": id}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            }));
        }
    }
    let mut detail = vec![json!({"type": "hash", "valueString": r.hash})];
    if e.detail != "{}" && !e.detail.is_empty() {
        detail.push(json!({"type": "detail", "valueString": e.detail}));
    }
    // The chain's hash and the stored detail travel with the entity the record is about,
    // or with an entity for the record itself when it names nothing.
    if entities.is_empty() {
        entities.push(json!({
            "what": {"identifier": {"system": "urn:renkei:audit-seq", "value": r.seq.to_string()}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
        }));
    }
    entities[0]["detail"] = json!(detail);
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": r.seq.to_string(),
        "meta": {"versionId": "1", "lastUpdated": instant(r.at)},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": ACTION_SYSTEM, "code": e.action}],
        "action": action_code(&e.action),
        "recorded": instant(r.at),
        "outcome": outcome_code(&e.outcome),
        "agent": [agent],
        "source": {
            "site": state.config.public_url,
            "observer": {"display": "Renkei"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    });
    if e.outcome != "success" {
        event["outcomeDesc"] = json!(format!("{} ({})", e.action, e.outcome));
    }
    event
}

fn invalid(ja: &str, en: &str) -> FhirError {
    FhirError::new(StatusCode::BAD_REQUEST, "invalid", ja, en)
}

fn not_found() -> FhirError {
    FhirError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "該当する監査記録がないか、閲覧が許可されていません。",
        "No such audit record, or you may not see it.",
    )
}

/// `GET /fhir/AuditEvent/{id}`: the record with that sequence number.
pub async fn read(state: &SharedState, actor: &Actor, id: &str) -> FhirResult<Response> {
    let facility = reach(actor, 'r')?;
    let seq: i64 = id.parse().map_err(|_| not_found())?;
    let record = state
        .store
        .audit_after(seq - 1, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(not_found)?;
    if facility
        .as_ref()
        .is_some_and(|f| record.entry.actor_facility_id.as_ref() != Some(f))
    {
        return Err(not_found());
    }
    state
        .store
        .append_audit(
            actor
                .audit("audit.search", Outcome::Success)
                .target("audit", id)
                .detail(json!({"via": "fhir"})),
        )
        .await?;
    Ok(json_response(
        StatusCode::OK,
        audit_event(state, &record).to_string(),
    ))
}

/// A date search value as a bound: `ge`/`gt`/`le`/`lt`/`eq` with a day (Japan time) or an
/// instant. Returns (from, to) in milliseconds, `to` exclusive.
fn date_bound(value: &str) -> FhirResult<(Option<i64>, Option<i64>)> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let bad = || {
        invalid(
            "date は 2026-05-01 か 2026-05-01T09:00:00+09:00 の形で、ge/gt/le/lt を前に付けられます。",
            "date is 2026-05-01 or 2026-05-01T09:00:00+09:00, optionally prefixed ge/gt/le/lt.",
        )
    };
    let (low, high) = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(rest) {
        let ms = t.timestamp_millis();
        (ms, ms + 1000)
    } else {
        let day = chrono::NaiveDate::parse_from_str(rest, "%Y-%m-%d").map_err(|_| bad())?;
        let jst = chrono::FixedOffset::east_opt(9 * 3600).expect("valid offset");
        let start = day
            .and_hms_opt(0, 0, 0)
            .and_then(|d| d.and_local_timezone(jst).single())
            .ok_or_else(bad)?
            .timestamp_millis();
        (start, start + 24 * 3600 * 1000)
    };
    Ok(match prefix {
        "ge" => (Some(low), None),
        "gt" => (Some(high), None),
        "le" => (None, Some(high)),
        "lt" => (None, Some(low)),
        _ => (Some(low), Some(high)),
    })
}

/// `GET /fhir/AuditEvent?…`: newest first. Parameters: `date` (repeatable), `patient`,
/// `subtype` (an action name or prefix ending in `.`), `outcome`, `agent-name` (login ID),
/// `_count`; paging by the `next` link (`_before`).
pub async fn search(
    state: &SharedState,
    actor: &Actor,
    pairs: &[(String, String)],
) -> FhirResult<Response> {
    let facility = reach(actor, 's')?;
    let mut q = AuditQuery {
        facility_id: facility,
        limit: DEFAULT_COUNT,
        ..Default::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "date" => {
                let (from, to) = date_bound(v)?;
                if let Some(f) = from {
                    q.from = Some(q.from.map_or(f, |x: i64| x.max(f)));
                }
                if let Some(t) = to {
                    q.to = Some(q.to.map_or(t, |x: i64| x.min(t)));
                }
            }
            "patient" | "entity" => {
                let id = v.strip_prefix("Patient/").unwrap_or(v);
                q.patient_id = Some(id.to_string());
            }
            "subtype" => {
                let code = v.rsplit('|').next().unwrap_or(v);
                q.action_prefix = Some(code.to_string());
            }
            "outcome" => q.outcome = Some(outcome_from_code(v)?.to_string()),
            "agent-name" | "agent" => q.actor_login = Some(v.to_lowercase()),
            "_count" => {
                q.limit = v
                    .parse::<i64>()
                    .map_err(|_| invalid("_count は整数です。", "_count must be an integer."))?
                    .clamp(1, MAX_COUNT)
            }
            "_before" => {
                q.before_seq =
                    Some(v.parse().map_err(|_| {
                        invalid("_before は整数です。", "_before must be an integer.")
                    })?)
            }
            "_format" | "_pretty" | "_sort" => {}
            other => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    &format!("AuditEvent の検索パラメータ {other} には対応していません。"),
                    &format!("AuditEvent search parameter {other} is not supported."),
                ))
            }
        }
    }
    let records = state.store.search_audit(&q).await?;
    state
        .store
        .append_audit(actor.audit("audit.search", Outcome::Success).detail(json!({
            "via": "fhir",
            "query": pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"),
        })))
        .await?;
    let base = base_url(state);
    let query = |extra: Option<i64>| {
        let mut parts: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k != "_before")
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        if let Some(b) = extra {
            parts.push(format!("_before={b}"));
        }
        format!("{base}/AuditEvent?{}", parts.join("&"))
    };
    let mut links = vec![json!({"relation": "self", "url": query(q.before_seq)})];
    if records.len() as i64 == q.limit {
        if let Some(last) = records.last() {
            links.push(json!({"relation": "next", "url": query(Some(last.seq))}));
        }
    }
    let entries: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("{base}/AuditEvent/{}", r.seq),
                "resource": audit_event(state, r),
                "search": {"mode": "match"},
            })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = json!(entries);
    }
    Ok(json_response(StatusCode::OK, bundle.to_string()))
}

fn urlencode(s: &str) -> String {
    crate::error::urlencode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_outcomes_map_to_r4_codes() {
        assert_eq!(action_code("patient.read"), "R");
        assert_eq!(action_code("fhir.create"), "C");
        assert_eq!(action_code("fhir.update"), "U");
        assert_eq!(action_code("fhir.delete"), "D");
        assert_eq!(action_code("auth.login"), "E");
        assert_eq!(outcome_code("denied"), "4");
        assert_eq!(outcome_from_code("8").unwrap(), "failure");
        assert!(outcome_from_code("2").is_err());
    }

    #[test]
    fn date_bounds_are_japanese_days_or_instants() {
        let day = chrono::DateTime::parse_from_rfc3339("2026-05-01T00:00:00+09:00")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            date_bound("2026-05-01").unwrap(),
            (Some(day), Some(day + 86_400_000))
        );
        assert_eq!(date_bound("ge2026-05-01").unwrap(), (Some(day), None));
        assert_eq!(date_bound("lt2026-05-01").unwrap(), (None, Some(day)));
        assert_eq!(
            date_bound("le2026-05-01").unwrap(),
            (None, Some(day + 86_400_000))
        );
        assert!(date_bound("2026-13-01").is_err());
        assert!(date_bound("yesterday").is_err());
    }
}
