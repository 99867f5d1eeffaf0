use super::{error_paths, valid, PATIENT_REF};
use crate::resource::{prepare, Issue, Severity};
use renkei_domain::patient::InfoCategory;
use serde_json::{json, Value};

fn errors(v: &Value) -> Vec<Issue> {
    match prepare(v) {
        Ok(_) => Vec::new(),
        Err(issues) => issues
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .collect(),
    }
}

fn assert_valid(v: &Value) {
    if let Err(issues) = prepare(v) {
        panic!("{v}\nshould be valid: {issues:#?}");
    }
}

fn assert_error(v: &Value, path: &str, code: &str) {
    let errs = errors(v);
    assert!(
        errs.iter().any(|i| i.expression == path && i.code == code),
        "expected {code} at {path} for {v}; got {errs:#?}"
    );
    for i in &errs {
        assert!(!i.ja.is_empty() && !i.en.is_empty());
    }
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[test]
fn minimal_resources_of_every_type_are_valid() {
    for t in crate::resource::types() {
        assert_valid(&valid(t.name));
    }
}

#[test]
fn every_required_element_of_every_type() {
    // (type, JSON property removed, expression of the expected `required` error)
    let cases = [
        ("Encounter", "status", "Encounter.status"),
        ("Encounter", "class", "Encounter.class"),
        ("Encounter", "subject", "Encounter.subject"),
        ("Condition", "subject", "Condition.subject"),
        (
            "AllergyIntolerance",
            "patient",
            "AllergyIntolerance.patient",
        ),
        ("MedicationRequest", "status", "MedicationRequest.status"),
        ("MedicationRequest", "intent", "MedicationRequest.intent"),
        (
            "MedicationRequest",
            "medicationCodeableConcept",
            "MedicationRequest.medication[x]",
        ),
        ("MedicationRequest", "subject", "MedicationRequest.subject"),
        ("MedicationDispense", "status", "MedicationDispense.status"),
        (
            "MedicationDispense",
            "medicationCodeableConcept",
            "MedicationDispense.medication[x]",
        ),
        (
            "MedicationDispense",
            "subject",
            "MedicationDispense.subject",
        ),
        (
            "MedicationAdministration",
            "status",
            "MedicationAdministration.status",
        ),
        (
            "MedicationAdministration",
            "medicationCodeableConcept",
            "MedicationAdministration.medication[x]",
        ),
        (
            "MedicationAdministration",
            "subject",
            "MedicationAdministration.subject",
        ),
        (
            "MedicationAdministration",
            "effectiveDateTime",
            "MedicationAdministration.effective[x]",
        ),
        ("Observation", "status", "Observation.status"),
        ("Observation", "code", "Observation.code"),
        ("Observation", "subject", "Observation.subject"),
        ("DiagnosticReport", "status", "DiagnosticReport.status"),
        ("DiagnosticReport", "code", "DiagnosticReport.code"),
        ("DiagnosticReport", "subject", "DiagnosticReport.subject"),
        ("Procedure", "status", "Procedure.status"),
        ("Procedure", "subject", "Procedure.subject"),
        ("ImagingStudy", "status", "ImagingStudy.status"),
        ("ImagingStudy", "subject", "ImagingStudy.subject"),
        ("DocumentReference", "status", "DocumentReference.status"),
        ("DocumentReference", "content", "DocumentReference.content"),
        ("DocumentReference", "subject", "DocumentReference.subject"),
        ("Binary", "contentType", "Binary.contentType"),
        ("CarePlan", "status", "CarePlan.status"),
        ("CarePlan", "intent", "CarePlan.intent"),
        ("CarePlan", "subject", "CarePlan.subject"),
        ("Goal", "lifecycleStatus", "Goal.lifecycleStatus"),
        ("Goal", "description", "Goal.description"),
        ("Goal", "subject", "Goal.subject"),
        ("Consent", "status", "Consent.status"),
        ("Consent", "scope", "Consent.scope"),
        ("Consent", "category", "Consent.category"),
        ("RelatedPerson", "patient", "RelatedPerson.patient"),
        ("Provenance", "target", "Provenance.target"),
        ("Provenance", "recorded", "Provenance.recorded"),
        ("Provenance", "agent", "Provenance.agent"),
        ("AuditEvent", "type", "AuditEvent.type"),
        ("AuditEvent", "recorded", "AuditEvent.recorded"),
        ("AuditEvent", "agent", "AuditEvent.agent"),
        ("AuditEvent", "source", "AuditEvent.source"),
        ("Communication", "status", "Communication.status"),
    ];
    for (ty, key, path) in cases {
        let v = valid(ty);
        assert_valid(&v);
        let broken = without(v, key);
        assert_error(&broken, path, "required");
        // Exactly one error for the one missing element.
        assert_eq!(
            errors(&broken).len(),
            1,
            "{ty} without {key}: {:#?}",
            errors(&broken)
        );
    }
}

#[test]
fn nested_required_elements() {
    let doc = with(
        valid("DocumentReference"),
        "content",
        json!([{"format": {"code": "urn:ihe:iti:xds:2017:mimeTypeSufficient"}}]),
    );
    assert_error(&doc, "DocumentReference.content[0].attachment", "required");

    let prov = with(
        valid("Provenance"),
        "agent",
        json!([{"role": [{"text": "作成者"}]}]),
    );
    assert_error(&prov, "Provenance.agent[0].who", "required");

    let audit = with(valid("AuditEvent"), "agent", json!([{"name": "山田"}]));
    assert_error(&audit, "AuditEvent.agent[0].requestor", "required");
    let audit = with(valid("AuditEvent"), "source", json!({"site": "苫小牧"}));
    assert_error(&audit, "AuditEvent.source.observer", "required");

    let study = with(
        valid("ImagingStudy"),
        "series",
        json!([{"number": 1, "instance": [{"uid": "1.2.3.4.1"}]}]),
    );
    assert_error(&study, "ImagingStudy.series[0].uid", "required");
    assert_error(&study, "ImagingStudy.series[0].modality", "required");
    assert_error(
        &study,
        "ImagingStudy.series[0].instance[0].sopClass",
        "required",
    );
    let study = with(
        valid("ImagingStudy"),
        "series",
        json!([{"uid": "1.2.392.200036.9116.2.5.1.48.1221", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}}]),
    );
    assert_valid(&study);

    let allergy = with(
        valid("AllergyIntolerance"),
        "reaction",
        json!([{"severity": "severe"}]),
    );
    assert_error(
        &allergy,
        "AllergyIntolerance.reaction[0].manifestation",
        "required",
    );

    let annotation = with(
        valid("Observation"),
        "note",
        json!([{"time": "2024-05-01"}]),
    );
    assert_error(&annotation, "Observation.note[0].text", "required");

    let ext = with(valid("Patient"), "extension", json!([{"valueString": "x"}]));
    assert_error(&ext, "Patient.extension[0].url", "required");

    let narrative = with(valid("Patient"), "text", json!({"status": "generated"}));
    assert_error(&narrative, "Patient.text.div", "required");
}

#[test]
fn required_bindings_and_codes() {
    let status_types = [
        ("Observation", "status", "final"),
        ("Encounter", "status", "in-progress"),
        ("MedicationRequest", "status", "on-hold"),
        ("MedicationRequest", "intent", "original-order"),
        ("MedicationDispense", "status", "declined"),
        ("MedicationAdministration", "status", "not-done"),
        ("DiagnosticReport", "status", "appended"),
        ("Procedure", "status", "preparation"),
        ("ImagingStudy", "status", "available"),
        ("DocumentReference", "status", "superseded"),
        ("CarePlan", "status", "revoked"),
        ("CarePlan", "intent", "option"),
        ("Goal", "lifecycleStatus", "accepted"),
        ("Consent", "status", "inactive"),
        ("Communication", "status", "in-progress"),
    ];
    for (ty, key, good) in status_types {
        assert_valid(&with(valid(ty), key, json!(good)));
        let bad = with(valid(ty), key, json!("bogus"));
        assert_error(&bad, &format!("{ty}.{key}"), "code-invalid");
        let wrong_shape = with(valid(ty), key, json!(1));
        assert_error(&wrong_shape, &format!("{ty}.{key}"), "structure");
    }
    assert_valid(&with(valid("Patient"), "gender", json!("female")));
    assert_error(
        &with(valid("Patient"), "gender", json!("woman")),
        "Patient.gender",
        "code-invalid",
    );
    assert_error(
        &with(valid("RelatedPerson"), "gender", json!("M")),
        "RelatedPerson.gender",
        "code-invalid",
    );
    assert_error(
        &with(valid("AllergyIntolerance"), "criticality", json!("very")),
        "AllergyIntolerance.criticality",
        "code-invalid",
    );
    assert_valid(&with(
        valid("AllergyIntolerance"),
        "category",
        json!(["medication", "food"]),
    ));
    assert_error(
        &with(valid("AllergyIntolerance"), "category", json!(["drug"])),
        "AllergyIntolerance.category[0]",
        "code-invalid",
    );
    assert_error(
        &with(valid("DocumentReference"), "docStatus", json!("draft")),
        "DocumentReference.docStatus",
        "code-invalid",
    );
    assert_error(
        &with(valid("AuditEvent"), "action", json!("X")),
        "AuditEvent.action",
        "code-invalid",
    );
    // Encounter.class is a Coding, not a string.
    assert_error(
        &with(valid("Encounter"), "class", json!("AMB")),
        "Encounter.class",
        "structure",
    );
    // Condition clinical / verification status (CodeableConcept, required binding).
    let cond = |clinical: &str| {
        with(
            valid("Condition"),
            "clinicalStatus",
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}]}),
        )
    };
    assert_valid(&cond("remission"));
    assert_error(&cond("cured"), "Condition.clinicalStatus", "code-invalid");
    assert_error(
        &with(
            valid("Condition"),
            "clinicalStatus",
            json!({"text": "active"}),
        ),
        "Condition.clinicalStatus",
        "code-invalid",
    );
    assert_error(
        &with(
            valid("AllergyIntolerance"),
            "clinicalStatus",
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "remission"}]}),
        ),
        "AllergyIntolerance.clinicalStatus",
        "code-invalid",
    );
    // A code with stray whitespace is not a code.
    assert_error(
        &with(valid("Observation"), "status", json!(" final")),
        "Observation.status",
        "value",
    );
}

#[test]
fn json_shapes() {
    let obs = valid("Observation");
    assert_error(
        &with(obs.clone(), "code", json!([obs["code"].clone()])),
        "Observation.code",
        "structure",
    );
    assert_error(
        &with(obs.clone(), "category", json!({"text": "検体検査"})),
        "Observation.category",
        "structure",
    );
    assert_error(
        &with(obs.clone(), "category", json!([])),
        "Observation.category",
        "structure",
    );
    assert_error(
        &with(obs.clone(), "identifier", json!([null])),
        "Observation.identifier[0]",
        "structure",
    );
    assert_error(
        &with(obs.clone(), "issued", json!("")),
        "Observation.issued",
        "value",
    );
    assert_error(
        &with(
            obs.clone(),
            "valueQuantity",
            json!({"value": "5.4", "unit": "%"}),
        ),
        "Observation.valueQuantity.value",
        "structure",
    );
    assert_error(
        &with(
            obs.clone(),
            "valueQuantity",
            json!({"value": 5.4, "code": "%"}),
        ),
        "Observation.valueQuantity",
        "invariant",
    );
    assert_error(
        &with(obs.clone(), "foo", json!(1)),
        "Observation.foo",
        "structure",
    );
    assert_error(
        &with(obs.clone(), "valueFoo", json!(1)),
        "Observation.valueFoo",
        "structure",
    );
    assert_error(
        &with(
            obs.clone(),
            "code",
            json!({"coding": [{"display": "HbA1c"}]}),
        ),
        "Observation.code.coding[0]",
        "invariant",
    );
    assert_error(
        &with(
            obs.clone(),
            "code",
            json!({"coding": [{"code": "x", "system": "s", "foo": 1}]}),
        ),
        "Observation.code.coding[0].foo",
        "structure",
    );
    assert_error(
        &with(obs.clone(), "code", json!({})),
        "Observation.code",
        "invariant",
    );
    // Two types of one choice.
    let two = with(
        with(obs.clone(), "valueString", json!("陰性")),
        "valueBoolean",
        json!(false),
    );
    assert!(errors(&two).iter().any(|i| i.code == "structure"));
    // Primitive extensions: allowed for primitives only.
    let p = with(
        valid("Patient"),
        "_birthDate",
        json!({"extension": [{"url": "http://example.jp/x", "valueString": "推定"}]}),
    );
    assert_valid(&with(p, "birthDate", json!("1950")));
    assert_error(
        &with(valid("Patient"), "_name", json!({})),
        "Patient._name",
        "structure",
    );
    assert_error(
        &with(valid("Patient"), "_birthDate", json!("x")),
        "Patient._birthDate",
        "structure",
    );
    let given = json!([{"family": "山田", "given": [null], "_given": [{"extension": [{"url": "http://example.jp/x", "valueString": "y"}]}]}]);
    assert_valid(&with(valid("Patient"), "name", given));
    assert_error(
        &with(valid("Patient"), "active", json!("true")),
        "Patient.active",
        "structure",
    );
    assert_error(
        &with(valid("Patient"), "multipleBirthInteger", json!(1.5)),
        "Patient.multipleBirthInteger",
        "structure",
    );
    assert_error(
        &with(valid("ImagingStudy"), "numberOfSeries", json!(-1)),
        "ImagingStudy.numberOfSeries",
        "value",
    );
    assert_error(
        &with(valid("Binary"), "data", json!("not base64!")),
        "Binary.data",
        "value",
    );
    assert_error(
        &with(
            valid("Patient"),
            "text",
            json!({"status": "generated", "div": "hello"}),
        ),
        "Patient.text.div",
        "value",
    );
    // Extension with both value and nested extensions.
    assert_error(
        &with(
            valid("Patient"),
            "extension",
            json!([{"url": "http://example.jp/x", "valueString": "a", "extension": [{"url": "y", "valueString": "b"}]}]),
        ),
        "Patient.extension[0]",
        "invariant",
    );
}

#[test]
fn not_an_object_or_unknown_type() {
    assert_error(&json!([1]), "", "structure");
    assert_error(&json!({"id": "x"}), "resourceType", "required");
    assert_error(&json!({"resourceType": 3}), "resourceType", "structure");
    assert_error(
        &json!({"resourceType": "Medication"}),
        "resourceType",
        "not-supported",
    );
    assert_error(
        &json!({"resourceType": "Bundle", "type": "collection"}),
        "resourceType",
        "not-supported",
    );
}

#[test]
fn ids() {
    for good in ["a", "A-1.b", &"x".repeat(64)] {
        assert_valid(&with(valid("Patient"), "id", json!(good)));
    }
    for bad in ["", "a_b", "a b", "日本", &"x".repeat(65)] {
        let errs = error_paths(&with(valid("Patient"), "id", json!(bad)));
        assert_eq!(errs, vec!["Patient.id".to_string()], "{bad:?}");
    }
}

#[test]
fn dates_and_calendar() {
    let obs = valid("Observation");
    for good in [
        "2024",
        "2024-02",
        "2024-02-29",
        "2024-05-01T09:30:00+09:00",
        "2024-05-01T00:30:00Z",
        "2024-05-01T00:30:00.123Z",
    ] {
        assert_valid(&with(obs.clone(), "effectiveDateTime", json!(good)));
    }
    assert_error(
        &with(obs.clone(), "effectiveDateTime", json!("2023-02-30")),
        "Observation.effectiveDateTime",
        "value",
    );
    assert_error(
        &with(obs.clone(), "effectiveDateTime", json!("2023-02-29")),
        "Observation.effectiveDateTime",
        "value",
    );
    assert_error(
        &with(
            obs.clone(),
            "effectiveDateTime",
            json!("2024-05-01T09:30:00"),
        ),
        "Observation.effectiveDateTime",
        "value",
    );
    assert_error(
        &with(obs.clone(), "effectiveDateTime", json!("2024/05/01")),
        "Observation.effectiveDateTime",
        "value",
    );
    assert_error(
        &with(obs.clone(), "issued", json!("2024-05-01")),
        "Observation.issued",
        "value",
    );
    assert_error(
        &with(valid("Patient"), "birthDate", json!("1950-04-31")),
        "Patient.birthDate",
        "value",
    );
    assert_error(
        &with(valid("Patient"), "birthDate", json!("1950-04-01T00:00:00Z")),
        "Patient.birthDate",
        "value",
    );
    // A real calendar error message says so, in both languages.
    let errs = errors(&with(valid("Patient"), "birthDate", json!("2023-02-30")));
    assert!(errs[0].ja.contains("暦に存在しない"));
    assert!(errs[0].en.contains("calendar"));
    // per-1
    assert_error(
        &with(
            valid("CarePlan"),
            "period",
            json!({"start": "2024-05-02", "end": "2024-05-01"}),
        ),
        "CarePlan.period",
        "invariant",
    );
    assert_valid(&with(
        valid("CarePlan"),
        "period",
        json!({"start": "2024-05-01", "end": "2024-05-01"}),
    ));
    assert_valid(&with(
        valid("PractitionerRole"),
        "availableTime",
        json!([{"daysOfWeek": ["mon", "tue"], "availableStartTime": "09:00:00"}]),
    ));
    assert_error(
        &with(
            valid("PractitionerRole"),
            "availableTime",
            json!([{"availableStartTime": "9:00"}]),
        ),
        "PractitionerRole.availableTime[0].availableStartTime",
        "value",
    );
}

#[test]
fn references() {
    let obs = valid("Observation");
    for good in [
        "Patient/p1",
        "Patient/p1/_history/2",
        "https://renkei.example.jp/fhir/Patient/p1",
    ] {
        assert_valid(&with(obs.clone(), "subject", json!({"reference": good})));
    }
    for bad in [
        "Patient",
        "Patient/",
        "patient/p1",
        "Patient/p 1",
        "urn:uuid:xyz",
        "p1",
    ] {
        assert_error(
            &with(obs.clone(), "subject", json!({"reference": bad})),
            "Observation.subject.reference",
            "value",
        );
    }
    // Transactions resolve urn:uuid references before validation; one left unresolved
    // would bind the record to no patient.
    assert_error(
        &with(
            obs.clone(),
            "subject",
            json!({"reference": "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301"}),
        ),
        "Observation.subject",
        "invariant",
    );
    // Target types.
    assert_error(
        &with(
            obs.clone(),
            "encounter",
            json!({"reference": "Condition/c1"}),
        ),
        "Observation.encounter.reference",
        "value",
    );
    assert_error(
        &with(
            valid("DiagnosticReport"),
            "result",
            json!([{"reference": "Condition/c1"}]),
        ),
        "DiagnosticReport.result[0].reference",
        "value",
    );
    // JP Core: the subject of a patient-bound resource is a Patient.
    assert_error(
        &with(obs.clone(), "subject", json!({"reference": "Group/g1"})),
        "Observation.subject",
        "invariant",
    );
    assert_error(
        &with(
            obs.clone(),
            "subject",
            json!({"identifier": {"system": "urn:oid:1.2.392.100495.20.3.51.11234567890", "value": "123"}}),
        ),
        "Observation.subject",
        "invariant",
    );
    assert_error(
        &with(
            valid("Condition"),
            "subject",
            json!({"reference": "Group/g1"}),
        ),
        "Condition.subject",
        "invariant",
    );
    // Communication and Consent may be without a patient.
    assert_valid(&without(valid("Consent"), "patient"));
    assert_valid(&valid("Communication"));
    // Contained references.
    let with_contained = with(
        with(
            valid("MedicationRequest"),
            "contained",
            json!([{"resourceType": "Medication", "id": "med1", "code": {"text": "ロキソプロフェン錠60mg"}}]),
        ),
        "medicationReference",
        json!({"reference": "#med1"}),
    );
    let with_contained = without(with_contained, "medicationCodeableConcept");
    assert_valid(&with_contained);
    let dangling = with(
        with_contained.clone(),
        "medicationReference",
        json!({"reference": "#med2"}),
    );
    assert_error(
        &dangling,
        "MedicationRequest.medicationReference.reference",
        "invariant",
    );
    let no_id = with(
        with_contained.clone(),
        "contained",
        json!([{"resourceType": "Medication"}]),
    );
    assert!(error_paths(&no_id).contains(&"MedicationRequest.contained[0].id".to_string()));
    // A contained resource of a known type is validated structurally.
    let bad_contained = with(
        valid("DiagnosticReport"),
        "contained",
        json!([{"resourceType": "Observation", "id": "o1", "status": "done", "code": {"text": "x"}}]),
    );
    assert_error(
        &bad_contained,
        "DiagnosticReport.contained[0].status",
        "code-invalid",
    );
}

#[test]
fn invariants() {
    assert_error(
        &json!({"resourceType": "Organization", "active": true}),
        "Organization",
        "invariant",
    );
    assert_valid(
        &json!({"resourceType": "Organization", "identifier": [{"system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no", "value": "0112345678"}]}),
    );
    // ait-1 / ait-2
    let ai = valid("AllergyIntolerance");
    assert_error(
        &without(ai.clone(), "clinicalStatus"),
        "AllergyIntolerance.clinicalStatus",
        "invariant",
    );
    let eie = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "entered-in-error"}]});
    assert_valid(&with(
        without(ai.clone(), "clinicalStatus"),
        "verificationStatus",
        eie.clone(),
    ));
    assert_error(
        &with(ai.clone(), "verificationStatus", eie),
        "AllergyIntolerance.clinicalStatus",
        "invariant",
    );
    // con-4
    let cond = with(
        with(
            valid("Condition"),
            "clinicalStatus",
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}),
        ),
        "abatementDateTime",
        json!("2024-05-01"),
    );
    assert_error(&cond, "Condition.clinicalStatus", "invariant");
    // obs-6 / obs-3
    let obs = with(
        with(valid("Observation"), "valueString", json!("陰性")),
        "dataAbsentReason",
        json!({"text": "未実施"}),
    );
    assert_error(&obs, "Observation.dataAbsentReason", "invariant");
    let obs = with(
        valid("Observation"),
        "referenceRange",
        json!([{"type": {"text": "正常"}}]),
    );
    assert_error(&obs, "Observation.referenceRange[0]", "invariant");
    // gol-1
    let goal = with(valid("Goal"), "target", json!([{"detailString": "歩行"}]));
    assert_error(&goal, "Goal.target[0]", "invariant");
    // att-1, cpt-2
    assert_error(
        &with(
            valid("DocumentReference"),
            "content",
            json!([{"attachment": {"data": "AAAA"}}]),
        ),
        "DocumentReference.content[0].attachment",
        "invariant",
    );
    assert_error(
        &with(
            valid("Patient"),
            "telecom",
            json!([{"value": "0144-00-0000"}]),
        ),
        "Patient.telecom[0]",
        "invariant",
    );
}

#[test]
fn every_problem_is_reported() {
    let v = json!({
        "resourceType": "Observation",
        "id": "bad id",
        "status": "done",
        "effectiveDateTime": "2023-02-30",
        "subject": {"reference": "Group/g"},
        "unknown": 1,
    });
    let paths = error_paths(&v);
    for p in [
        "Observation.id",
        "Observation.status",
        "Observation.effectiveDateTime",
        "Observation.code",
        "Observation.subject",
        "Observation.unknown",
    ] {
        assert!(paths.contains(&p.to_string()), "{p} in {paths:?}");
    }
}

#[test]
fn profiles_outside_the_supported_set_warn() {
    let with_profile = |p: &str| with(valid("Observation"), "meta", json!({"profile": [p]}));
    for ok in [
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_Common",
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult|1.1.2",
        "http://hl7.org/fhir/StructureDefinition/Observation",
    ] {
        assert!(
            prepare(&with_profile(ok)).unwrap().warnings.is_empty(),
            "{ok}"
        );
    }
    let prepared = prepare(&with_profile(
        "http://example.org/StructureDefinition/Other",
    ))
    .unwrap();
    assert_eq!(prepared.warnings.len(), 1);
    assert_eq!(prepared.warnings[0].severity, Severity::Warning);
    assert_eq!(
        prepared.warnings[0].expression,
        "Observation.meta.profile[0]"
    );
}

#[test]
fn prepared_patient_and_references() {
    let mut v = valid("Observation");
    v["subject"] = json!({"reference": "https://renkei.example.jp/fhir/Patient/p1"});
    v["performer"] = json!([
        {"reference": "Practitioner/dr1"},
        {"reference": "Practitioner/dr1/_history/3"},
        {"reference": "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
        {"reference": "Organization/o1", "display": "苫小牧市立病院"},
    ]);
    v["encounter"] = json!({"reference": "Encounter/e1"});
    v["extension"] =
        json!([{"url": "http://example.jp/ref", "valueReference": {"reference": "Device/d1"}}]);
    let p = prepare(&v).unwrap();
    assert_eq!(p.patient_reference.as_deref(), Some(PATIENT_REF));
    let mut refs = p.references.clone();
    refs.sort();
    assert_eq!(
        refs,
        vec![
            "Device/d1",
            "Encounter/e1",
            "Organization/o1",
            "Practitioner/dr1"
        ]
    );
    assert!(!p.index.is_empty());

    assert_eq!(
        prepare(&valid("AllergyIntolerance"))
            .unwrap()
            .patient_reference
            .as_deref(),
        Some(PATIENT_REF)
    );
    assert_eq!(
        prepare(&valid("Patient"))
            .unwrap()
            .patient_reference
            .as_deref(),
        Some("Patient/p1")
    );
    assert_eq!(
        prepare(&valid("Provenance")).unwrap().patient_reference,
        None
    );
    assert_eq!(
        prepare(&valid("Practitioner")).unwrap().patient_reference,
        None
    );
    let mut tx = valid("Condition");
    tx["subject"] = json!({"reference": "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301"});
    assert!(
        prepare(&tx).is_err(),
        "an unresolved patient reference binds to no one"
    );
    let mut binary = valid("Binary");
    binary.as_object_mut().unwrap().remove("securityContext");
    assert!(
        prepare(&binary).is_err(),
        "content must be bound to its patient"
    );
    assert_eq!(
        prepare(&valid("Binary"))
            .unwrap()
            .patient_reference
            .as_deref(),
        Some(PATIENT_REF)
    );
}

fn category(v: &Value) -> InfoCategory {
    prepare(v).unwrap().category
}

#[test]
fn categories_follow_content() {
    for t in crate::resource::types() {
        assert_eq!(category(&valid(t.name)), t.default_category, "{}", t.name);
    }
    let label = |ty: &str, code: &str| {
        with(
            valid(ty),
            "meta",
            json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code}]}),
        )
    };
    assert_eq!(
        category(&label("Condition", "PSY")),
        InfoCategory::Psychiatric
    );
    assert_eq!(
        category(&label("Observation", "PSYTHPN")),
        InfoCategory::Psychiatric
    );
    assert_eq!(
        category(&label("DocumentReference", "ETH")),
        InfoCategory::Psychiatric
    );
    assert_eq!(
        category(&label("Observation", "HIV")),
        InfoCategory::InfectiousDisease
    );
    assert_eq!(
        category(&label("MedicationRequest", "STD")),
        InfoCategory::InfectiousDisease
    );
    assert_eq!(
        category(&label("Observation", "GDIS")),
        InfoCategory::Genetic
    );
    assert_eq!(
        category(&label("Procedure", "SDV")),
        InfoCategory::Reproductive
    );
    assert_eq!(
        category(&label("Encounter", "SEX")),
        InfoCategory::Reproductive
    );
    assert_eq!(category(&label("Encounter", "R")), InfoCategory::Medical);
    // Other systems are not labels.
    let other = with(
        valid("Condition"),
        "meta",
        json!({"security": [{"system": "http://example.jp", "code": "PSY"}]}),
    );
    assert_eq!(category(&other), InfoCategory::Medical);

    let icd = |ty: &str, system: &str, code: &str| {
        with(
            valid(ty),
            "code",
            json!({"coding": [{"system": system, "code": code}]}),
        )
    };
    let jp_icd = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
    let who_icd = "http://hl7.org/fhir/sid/icd-10";
    assert_eq!(
        category(&icd("Condition", jp_icd, "F200")),
        InfoCategory::Psychiatric
    );
    assert_eq!(
        category(&icd("Condition", who_icd, "B20")),
        InfoCategory::InfectiousDisease
    );
    assert_eq!(
        category(&icd("Condition", jp_icd, "A150")),
        InfoCategory::InfectiousDisease
    );
    assert_eq!(
        category(&icd("Condition", jp_icd, "O800")),
        InfoCategory::Reproductive
    );
    assert_eq!(
        category(&icd("Condition", jp_icd, "E119")),
        InfoCategory::Medical
    );
    assert_eq!(
        category(&icd(
            "Condition",
            "http://medis.or.jp/CodeSystem/master-disease-keyNumber",
            "F200"
        )),
        InfoCategory::Medical
    );
    assert_eq!(
        category(&icd("Observation", jp_icd, "A09")),
        InfoCategory::InfectiousDisease
    );
    // The label beats the code.
    let both = with(
        icd("Condition", jp_icd, "A150"),
        "meta",
        json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "GDIS"}]}),
    );
    assert_eq!(category(&both), InfoCategory::Genetic);

    let obs_cat = |code: &str| {
        with(
            valid("Observation"),
            "category",
            json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code}]}]),
        )
    };
    assert_eq!(category(&obs_cat("vital-signs")), InfoCategory::Care);
    assert_eq!(category(&obs_cat("laboratory")), InfoCategory::Laboratory);
    let rad = with(
        valid("DiagnosticReport"),
        "category",
        json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}]),
    );
    assert_eq!(category(&rad), InfoCategory::Imaging);
    let rad_loinc = with(
        valid("DiagnosticReport"),
        "category",
        json!([{"coding": [{"system": "http://loinc.org", "code": "LP29684-5"}]}]),
    );
    assert_eq!(category(&rad_loinc), InfoCategory::Imaging);
    let lab = with(
        valid("DiagnosticReport"),
        "category",
        json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}]),
    );
    assert_eq!(category(&lab), InfoCategory::Laboratory);
}
