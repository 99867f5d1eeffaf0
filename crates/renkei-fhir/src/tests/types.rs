use crate::fhirpath;
use crate::resource::{search_params, type_info, types};
use crate::search::ParamKind;
use renkei_domain::patient::InfoCategory;

const ALL: [&str; 24] = [
    "Patient",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Observation",
    "DiagnosticReport",
    "Procedure",
    "ImagingStudy",
    "DocumentReference",
    "Binary",
    "CarePlan",
    "Goal",
    "Consent",
    "RelatedPerson",
    "Provenance",
    "AuditEvent",
    "Communication",
    "Composition",
];

#[test]
fn every_type_is_listed_once_with_profile_and_category() {
    assert_eq!(types().len(), ALL.len());
    for name in ALL {
        assert_eq!(
            types().iter().filter(|t| t.name == name).count(),
            1,
            "{name}"
        );
    }
    let jp = |n: &str| format!("http://jpfhir.jp/fhir/core/StructureDefinition/{n}");
    let base = |n: &str| format!("http://hl7.org/fhir/StructureDefinition/{n}");
    assert_eq!(type_info("Patient").unwrap().profile, jp("JP_Patient"));
    assert_eq!(
        type_info("Observation").unwrap().profile,
        jp("JP_Observation_Common")
    );
    assert_eq!(
        type_info("DiagnosticReport").unwrap().profile,
        jp("JP_DiagnosticReport_Common")
    );
    assert_eq!(
        type_info("ImagingStudy").unwrap().profile,
        jp("JP_ImagingStudy_Radiology")
    );
    assert_eq!(
        type_info("MedicationRequest").unwrap().profile,
        jp("JP_MedicationRequest")
    );
    assert_eq!(type_info("Binary").unwrap().profile, base("Binary"));
    assert_eq!(type_info("Goal").unwrap().profile, base("Goal"));
    assert_eq!(type_info("Provenance").unwrap().profile, base("Provenance"));
    assert!(type_info("AuditEvent").unwrap().read_only);
    assert_eq!(types().iter().filter(|t| t.read_only).count(), 1);
    assert!(type_info("Medication").is_none());

    let cat = |n: &str| type_info(n).unwrap().default_category;
    assert_eq!(cat("Patient"), InfoCategory::Demographics);
    assert_eq!(cat("Organization"), InfoCategory::Demographics);
    assert_eq!(cat("RelatedPerson"), InfoCategory::Emergency);
    assert_eq!(cat("Consent"), InfoCategory::Demographics);
    assert_eq!(cat("Encounter"), InfoCategory::Medical);
    assert_eq!(cat("Provenance"), InfoCategory::Medical);
    assert_eq!(cat("AllergyIntolerance"), InfoCategory::Emergency);
    assert_eq!(cat("MedicationDispense"), InfoCategory::Medication);
    assert_eq!(cat("Observation"), InfoCategory::Laboratory);
    assert_eq!(cat("DiagnosticReport"), InfoCategory::Laboratory);
    assert_eq!(cat("ImagingStudy"), InfoCategory::Imaging);
    assert_eq!(cat("Binary"), InfoCategory::Documents);
    assert_eq!(cat("DocumentReference"), InfoCategory::Documents);
    assert_eq!(cat("Goal"), InfoCategory::Care);
    assert_eq!(cat("Communication"), InfoCategory::Care);
    assert_eq!(cat("AuditEvent"), InfoCategory::Demographics);
}

#[test]
fn search_params_are_well_formed() {
    for name in ALL {
        let params = search_params(name);
        let has_identifier = params.iter().any(|p| p.code == "identifier");
        let expect_identifier = !matches!(name, "Binary" | "Provenance" | "AuditEvent");
        assert_eq!(has_identifier, expect_identifier, "{name}.identifier");
        for p in params {
            assert_eq!(
                params.iter().filter(|q| q.code == p.code).count(),
                1,
                "{name}.{} twice",
                p.code
            );
            for path in p.expression.split('|') {
                assert!(
                    path.trim().starts_with(&format!("{name}.")),
                    "{name}.{}: {}",
                    p.code,
                    p.expression
                );
            }
            if p.kind != ParamKind::Reference {
                assert!(p.targets.is_empty(), "{name}.{}", p.code);
            }
            if p.code == "patient" {
                assert_eq!(p.targets, &["Patient"], "{name}.patient");
            }
        }
    }
    assert!(search_params("Binary").is_empty());
    assert!(search_params("Nope").is_empty());
    // Required by the brief, spot-checked.
    let has = |t: &str, c: &str, k: ParamKind| {
        search_params(t).iter().any(|p| p.code == c && p.kind == k)
    };
    assert!(has("Observation", "value-quantity", ParamKind::Quantity));
    assert!(has("Observation", "date", ParamKind::Date));
    assert!(has("Condition", "onset-date", ParamKind::Date));
    assert!(has("MedicationRequest", "authoredon", ParamKind::Date));
    assert!(has("MedicationDispense", "whenhandedover", ParamKind::Date));
    assert!(has(
        "MedicationAdministration",
        "effective-time",
        ParamKind::Date
    ));
    assert!(has("DiagnosticReport", "result", ParamKind::Reference));
    assert!(has("ImagingStudy", "modality", ParamKind::Token));
    assert!(has("Goal", "target-date", ParamKind::Date));
    assert!(has("Provenance", "target", ParamKind::Reference));
    assert!(has("PractitionerRole", "role", ParamKind::Token));
    assert!(has("Patient", "address-postalcode", ParamKind::String));
    assert!(has("Patient", "phone", ParamKind::Token));
    assert!(has("RelatedPerson", "relationship", ParamKind::Token));
    assert!(has("Communication", "recipient", ParamKind::Reference));
}

#[test]
fn every_expression_selects_something_somewhere() {
    // Each parameter's expression evaluates without panicking on a valid fixture, and the
    // common reference ones find the subject.
    for name in ALL {
        let v = super::valid(name);
        for p in search_params(name) {
            let _ = fhirpath::eval(&v, p.expression);
        }
        if let Some(p) = search_params(name).iter().find(|p| p.code == "patient") {
            if name != "AuditEvent" && name != "Provenance" && name != "Communication" {
                assert_eq!(fhirpath::eval(&v, p.expression).len(), 1, "{name}.patient");
            }
        }
    }
}
