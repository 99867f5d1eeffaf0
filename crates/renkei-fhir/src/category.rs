//! The information category of a resource, for the access decision: the type's default,
//! overridden by what the content says (security labels, ICD-10 chapters, categories).

use crate::resource::type_info;
use renkei_domain::patient::InfoCategory;
use serde_json::Value;

/// HL7 v3 ActCode, where the sensitivity labels (PSY, HIV, …) live.
pub const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// ICD-10 as JP Core names it (MHLW 2013 edition) and the international URI.
pub const ICD10_SYSTEMS: &[&str] = &[
    "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full",
    "http://hl7.org/fhir/sid/icd-10",
];
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const V2_DIAGNOSTIC_SERVICE: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
const LOINC: &str = "http://loinc.org";
/// FHIR R4 Consent.scope codes; `adr` is an advance directive (ACP/DNAR).
pub const CONSENT_SCOPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/consentscope";

/// The sensitive category a v3-ActCode security label stands for.
fn security_category(code: &str) -> Option<InfoCategory> {
    match code {
        "PSY" | "PSYTHPN" | "ETH" => Some(InfoCategory::Psychiatric),
        "HIV" | "STD" => Some(InfoCategory::InfectiousDisease),
        "GDIS" => Some(InfoCategory::Genetic),
        "SDV" | "SEX" => Some(InfoCategory::Reproductive),
        _ => None,
    }
}

/// The sensitive category an ICD-10 code falls in (chapter F, A–B, O). Dementia (F00–F03)
/// is the exception in chapter F: home care, nursing and care management work from it
/// every day, so it is shared as ordinary medical information, not hidden with psychiatric
/// illness (a consent can still exclude a record through its security label).
fn icd10_category(code: &str) -> Option<InfoCategory> {
    let code = code.trim().to_ascii_uppercase();
    if ["F00", "F01", "F02", "F03"]
        .iter()
        .any(|d| code.starts_with(d))
    {
        return None;
    }
    match code.chars().next()? {
        'F' => Some(InfoCategory::Psychiatric),
        'A' | 'B' => Some(InfoCategory::InfectiousDisease),
        'O' => Some(InfoCategory::Reproductive),
        _ => None,
    }
}

/// Rank for choosing between several sensitive categories found (the order of
/// `InfoCategory::EXCLUDABLE`).
fn rank(c: InfoCategory) -> usize {
    InfoCategory::EXCLUDABLE
        .iter()
        .position(|x| *x == c)
        .unwrap_or(usize::MAX)
}

fn codings(concept: Option<&Value>) -> impl Iterator<Item = &Value> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn concepts(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

fn has_coding(v: Option<&Value>, system: &str, code: &str) -> bool {
    concepts(v).into_iter().any(|c| {
        codings(Some(c)).any(|cd| {
            cd.get("system").and_then(Value::as_str) == Some(system)
                && cd.get("code").and_then(Value::as_str) == Some(code)
        })
    })
}

/// The category of a (structurally valid) resource.
pub(crate) fn of(resource: &Value) -> InfoCategory {
    let ty = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let default = type_info(ty)
        .map(|t| t.default_category)
        .unwrap_or(InfoCategory::Medical);

    // 1. Security labels (meta.security, v3-ActCode).
    let labelled = resource
        .pointer("/meta/security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("system").and_then(Value::as_str) == Some(ACT_CODE_SYSTEM))
        .filter_map(|c| c.get("code").and_then(Value::as_str))
        .filter_map(security_category)
        .min_by_key(|c| rank(*c));
    if let Some(c) = labelled {
        return c;
    }

    // 2. ICD-10 chapters of a diagnosis or an observation (its code or coded value).
    if ty == "Condition" || ty == "Observation" {
        let mut sources = vec![resource.get("code")];
        if ty == "Observation" {
            sources.push(resource.get("valueCodeableConcept"));
        }
        let by_code = sources
            .into_iter()
            .flat_map(codings)
            .filter(|c| {
                c.get("system")
                    .and_then(Value::as_str)
                    .is_some_and(|s| ICD10_SYSTEMS.contains(&s))
            })
            .filter_map(|c| c.get("code").and_then(Value::as_str))
            .filter_map(icd10_category)
            .min_by_key(|c| rank(*c));
        if let Some(c) = by_code {
            return c;
        }
    }

    // 3. Categories of the resource.
    match ty {
        "Observation" => {
            let cat = resource.get("category");
            // Vital signs and care records (intake, excretion, sleep, behaviour) are care.
            if has_coding(cat, OBSERVATION_CATEGORY, "vital-signs")
                || has_coding(cat, OBSERVATION_CATEGORY, "survey")
            {
                return InfoCategory::Care;
            }
            if has_coding(cat, OBSERVATION_CATEGORY, "imaging") {
                return InfoCategory::Imaging;
            }
        }
        // ACP/DNAR wishes are what an emergency team must see first: they travel with the
        // allergies (and so under break-glass), not with the sharing consent.
        "Consent" if has_coding(resource.get("scope"), CONSENT_SCOPE_SYSTEM, "adr") => {
            return InfoCategory::Emergency;
        }
        "DiagnosticReport" => {
            let cat = resource.get("category");
            if has_coding(cat, V2_DIAGNOSTIC_SERVICE, "RAD") || has_coding(cat, LOINC, "LP29684-5")
            {
                return InfoCategory::Imaging;
            }
        }
        _ => {}
    }
    default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dementia_is_not_hidden_with_psychiatric_illness() {
        assert_eq!(icd10_category("F03"), None);
        assert_eq!(icd10_category("f00.1"), None);
        assert_eq!(icd10_category("F01.9"), None);
        assert_eq!(icd10_category("F329"), Some(InfoCategory::Psychiatric));
        assert_eq!(icd10_category("F05"), Some(InfoCategory::Psychiatric));
        assert_eq!(icd10_category("F20"), Some(InfoCategory::Psychiatric));
        assert_eq!(icd10_category("B20"), Some(InfoCategory::InfectiousDisease));
        assert_eq!(icd10_category("I10"), None);
    }

    #[test]
    fn advance_directives_travel_with_emergency_information() {
        let adr = serde_json::json!({
            "resourceType": "Consent",
            "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "adr"}]},
        });
        assert_eq!(of(&adr), InfoCategory::Emergency);
        let privacy = serde_json::json!({
            "resourceType": "Consent",
            "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        });
        assert_eq!(of(&privacy), InfoCategory::Demographics);
    }
}
