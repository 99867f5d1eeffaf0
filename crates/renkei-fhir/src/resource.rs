//! Supported resource types, their JP Core profiles, validation and categories.

use crate::search::{IndexEntry, ParamKind};
use renkei_domain::patient::InfoCategory;
use serde_json::Value;

/// A resource type Renkei serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    pub name: &'static str,
    /// The profile declared in the CapabilityStatement and honoured by [`prepare`]
    /// (JP Core where one exists, else the base definition).
    pub profile: &'static str,
    /// Only the server writes it (AuditEvent).
    pub read_only: bool,
    /// The category a resource of this type falls in unless its content says otherwise
    /// (see [`prepare`]).
    pub default_category: InfoCategory,
}

/// A search parameter of a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchParamDef {
    pub code: &'static str,
    pub kind: ParamKind,
    /// The element path(s) it indexes, as FHIRPath, for the CapabilityStatement.
    pub expression: &'static str,
    /// Target types of a reference parameter.
    pub targets: &'static [&'static str],
}

/// Severity of an OperationOutcome issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One problem found in a resource or request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR issue-type code: `structure`, `required`, `value`, `invariant`, `not-supported`,
    /// `code-invalid`, `processing`…
    pub code: &'static str,
    /// FHIRPath of the offending element, e.g. `Observation.code.coding[0].system`.
    pub expression: String,
    pub ja: String,
    pub en: String,
}

/// What storage and the access decision need to know about a valid resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `Patient/<id>` the resource is about (its patient compartment), if any.
    pub patient_reference: Option<String>,
    pub category: InfoCategory,
    pub index: Vec<IndexEntry>,
    /// Every relative literal reference (`Type/id`) in the resource, for the caller to
    /// check that each target exists and is within the writer's reach. `urn:uuid:`
    /// references are not listed (they are resolved in transactions first).
    pub references: Vec<String>,
    /// Warnings that did not stop the write (reported in the response OperationOutcome).
    pub warnings: Vec<Issue>,
}

macro_rules! jp {
    ($name:literal) => {
        concat!("http://jpfhir.jp/fhir/core/StructureDefinition/", $name)
    };
}
macro_rules! base {
    ($name:literal) => {
        concat!("http://hl7.org/fhir/StructureDefinition/", $name)
    };
}

const fn t(name: &'static str, profile: &'static str, default_category: InfoCategory) -> TypeInfo {
    TypeInfo {
        name,
        profile,
        read_only: false,
        default_category,
    }
}

static TYPES: &[TypeInfo] = {
    use InfoCategory::*;
    &[
        t("Patient", jp!("JP_Patient"), Demographics),
        t("Organization", jp!("JP_Organization"), Demographics),
        t("Practitioner", jp!("JP_Practitioner"), Demographics),
        t("PractitionerRole", jp!("JP_PractitionerRole"), Demographics),
        t("Encounter", jp!("JP_Encounter"), Medical),
        t("Condition", jp!("JP_Condition"), Medical),
        t(
            "AllergyIntolerance",
            jp!("JP_AllergyIntolerance"),
            Emergency,
        ),
        t("MedicationRequest", jp!("JP_MedicationRequest"), Medication),
        t(
            "MedicationDispense",
            jp!("JP_MedicationDispense"),
            Medication,
        ),
        t(
            "MedicationAdministration",
            jp!("JP_MedicationAdministration"),
            Medication,
        ),
        t("Observation", jp!("JP_Observation_Common"), Laboratory),
        t(
            "DiagnosticReport",
            jp!("JP_DiagnosticReport_Common"),
            Laboratory,
        ),
        t("Procedure", jp!("JP_Procedure"), Medical),
        t("ImagingStudy", jp!("JP_ImagingStudy_Radiology"), Imaging),
        t("DocumentReference", jp!("JP_DocumentReference"), Documents),
        t("Binary", base!("Binary"), Documents),
        t("CarePlan", jp!("JP_CarePlan"), Care),
        t("Goal", base!("Goal"), Care),
        t("Consent", jp!("JP_Consent"), Demographics),
        t("RelatedPerson", base!("RelatedPerson"), Emergency),
        t("Provenance", base!("Provenance"), Medical),
        TypeInfo {
            name: "AuditEvent",
            profile: base!("AuditEvent"),
            read_only: true,
            default_category: Demographics,
        },
        t("Communication", base!("Communication"), Care),
        t("Composition", base!("Composition"), Documents),
    ]
};

/// Every type the server supports (Patient included: it is served from the patient index).
pub fn types() -> &'static [TypeInfo] {
    TYPES
}

pub fn type_info(name: &str) -> Option<&'static TypeInfo> {
    types().iter().find(|t| t.name == name)
}

/// The search parameters of `resource_type` (without the common `_id`, `_lastUpdated`).
/// Every type with `Resource.identifier` has `identifier`; Binary has none; unknown types
/// have none.
pub fn search_params(resource_type: &str) -> &'static [SearchParamDef] {
    crate::params::of(resource_type)
}

/// Every relative literal reference in `v` (recursively, contained resources included),
/// as `Type/id` without `_history`, in order of appearance, without duplicates.
fn literal_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o
                .get("reference")
                .and_then(Value::as_str)
                .and_then(crate::extract::relative_reference)
            {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
            for child in o.values() {
                literal_references(child, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                literal_references(child, out);
            }
        }
        _ => {}
    }
}

/// Validates `resource` (structure, required elements, value formats, the JP Core
/// profile's constraints) and extracts what storage needs. Errors list every problem.
///
/// * Structure: a JSON object whose `resourceType` is supported; every element known to R4
///   for the type (unknown ones are errors) with the right JSON shape (array or single,
///   string/number/boolean/object), primitive extensions (`_birthDate`) only for primitive
///   elements; `id` matching `[A-Za-z0-9\-\.]{1,64}`.
/// * R4: cardinalities, required bindings (status, intent, gender… and the clinical /
///   verification status codings of Condition and AllergyIntolerance), date/dateTime/instant
///   forms and real calendar dates, references (`Type/id`, absolute URL, `urn:uuid:`,
///   `#contained` that exists) and their allowed target types, Coding with system or code,
///   Quantity value numeric and `code` only with `system`, and the invariants ele-1, per-1,
///   att-1, cpt-2, ext-1, dom-2/4, org-1, con-4/5, ait-1/2, obs-3/6, gol-1.
/// * JP Core / Renkei: the compartment element (`subject`, or `patient` for
///   AllergyIntolerance, RelatedPerson, Consent) of a patient-bound type must be a literal
///   reference to a Patient (`Patient/id`, a URL ending so, or a `urn:uuid:` resolved by a
///   transaction), and is required for every patient-bound type except Communication and
///   Consent even where R4 leaves it optional. A `meta.profile` other than the type's
///   profile, its JP Core siblings (`JP_<Type>_…`) or the base definition is a warning.
pub fn prepare(resource: &Value) -> Result<Prepared, Vec<Issue>> {
    let warnings = crate::validate::validate(resource)?;
    let ty = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let patient_reference = if ty == "Patient" {
        resource
            .get("id")
            .and_then(Value::as_str)
            .map(|id| format!("Patient/{id}"))
    } else {
        crate::validate::compartment_element(ty)
            .and_then(|(el, _)| resource.get(el))
            .and_then(|r| r.get("reference"))
            .and_then(Value::as_str)
            .and_then(crate::validate::patient_of)
    };
    let mut references = Vec::new();
    literal_references(resource, &mut references);
    Ok(Prepared {
        patient_reference,
        category: crate::category::of(resource),
        index: crate::search::extract(resource),
        references,
        warnings,
    })
}
