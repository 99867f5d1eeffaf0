//! Crate tests: validation of every type, categories, extraction and search parsing.

mod extraction;
mod search;
mod types;
mod validation;

use serde_json::{json, Value};

pub(crate) const PATIENT_REF: &str = "Patient/p1";

/// A minimal valid resource of each supported type.
pub(crate) fn valid(ty: &str) -> Value {
    let subject = json!({"reference": PATIENT_REF});
    let cc = |system: &str, code: &str| json!({"coding": [{"system": system, "code": code}]});
    let mut v = match ty {
        "Patient" => json!({"id": "p1"}),
        "Organization" => json!({"name": "苫小牧市立病院"}),
        "Practitioner" | "PractitionerRole" => json!({}),
        "Encounter" => json!({
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": subject,
        }),
        "Condition" => json!({"subject": subject}),
        "AllergyIntolerance" => json!({
            "patient": subject,
            "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"),
        }),
        "MedicationRequest" => json!({
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": cc("http://medis.or.jp/CodeSystem/master-HOT9", "103835401"),
            "subject": subject,
        }),
        "MedicationDispense" => json!({
            "status": "completed",
            "medicationCodeableConcept": cc("http://medis.or.jp/CodeSystem/master-HOT9", "103835401"),
            "subject": subject,
        }),
        "MedicationAdministration" => json!({
            "status": "completed",
            "medicationCodeableConcept": cc("http://medis.or.jp/CodeSystem/master-HOT9", "103835401"),
            "subject": subject,
            "effectiveDateTime": "2024-05-01T09:00:00+09:00",
        }),
        "Observation" => json!({
            "status": "final",
            "code": cc("http://medis.or.jp/CodeSystem/master-JLAC10-17digits", "3D010000001926101"),
            "subject": subject,
        }),
        "DiagnosticReport" => json!({
            "status": "final",
            "code": cc("http://loinc.org", "11502-2"),
            "subject": subject,
        }),
        "Procedure" => json!({"status": "completed", "subject": subject}),
        "ImagingStudy" => json!({"status": "available", "subject": subject}),
        "DocumentReference" => json!({
            "status": "current",
            "subject": subject,
            "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/b1"}}],
        }),
        "Binary" => json!({
            "contentType": "application/pdf",
            "securityContext": subject,
            "data": "JVBERi0xLjQK",
        }),
        "CarePlan" => json!({"status": "active", "intent": "plan", "subject": subject}),
        "Goal" => json!({
            "lifecycleStatus": "active",
            "description": {"text": "自宅で入浴できる"},
            "subject": subject,
        }),
        "Consent" => json!({
            "status": "active",
            "scope": cc("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
            "category": [cc("http://loinc.org", "59284-0")],
            "patient": subject,
        }),
        "RelatedPerson" => json!({"patient": subject}),
        "Provenance" => json!({
            "target": [{"reference": "Observation/o1"}],
            "recorded": "2024-05-01T09:00:00+09:00",
            "agent": [{"who": {"reference": "Practitioner/dr1"}}],
        }),
        "AuditEvent" => json!({
            "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
            "recorded": "2024-05-01T09:00:00.123+09:00",
            "agent": [{"requestor": true, "who": {"reference": "Practitioner/dr1"}}],
            "source": {"observer": {"reference": "Organization/o1"}},
        }),
        "Communication" => json!({"status": "completed"}),
        "Composition" => json!({
            "status": "final",
            "type": cc("http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes", "57133-1"),
            "subject": subject,
            "date": "2024-05-01T09:00:00+09:00",
            "author": [{"display": "苫小牧市立病院"}],
            "title": "診療情報提供書",
        }),
        other => panic!("no fixture for {other}"),
    };
    v["resourceType"] = json!(ty);
    v
}

/// The error expressions of a resource that fails validation.
pub(crate) fn error_paths(v: &Value) -> Vec<String> {
    match crate::resource::prepare(v) {
        Ok(_) => Vec::new(),
        Err(issues) => issues
            .into_iter()
            .filter(|i| i.severity == crate::resource::Severity::Error)
            .map(|i| i.expression)
            .collect(),
    }
}
