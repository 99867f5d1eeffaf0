use super::valid;
use crate::search::{extract, fold, IndexEntry, IndexValue};
use serde_json::json;

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn values(entries: &[IndexEntry], param: &str) -> Vec<IndexValue> {
    entries
        .iter()
        .filter(|e| e.param == param)
        .map(|e| e.value.clone())
        .collect()
}

fn token(system: &str, code: &str) -> IndexValue {
    IndexValue::Token {
        system: system.into(),
        code: code.into(),
    }
}

#[test]
fn jp_core_lab_observation() {
    let obs = json!({
        "resourceType": "Observation",
        "id": "lab1",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"]},
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11234567890", "value": "L-2024-0001"}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {
            "coding": [
                {"system": "http://medis.or.jp/CodeSystem/master-JLAC10-17digits", "code": "3D046000001920402", "display": "HbA1c"},
                {"system": "http://loinc.org", "code": "4548-4"}
            ],
            "text": "ヘモグロビンA1c"
        },
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": "2024-05-01T09:30:00+09:00",
        "performer": [{"reference": "Organization/o1"}, {"reference": "https://other.example.jp/fhir/Practitioner/x"}],
        "valueQuantity": {"value": 6.2, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
        "referenceRange": [{"low": {"value": 4.6, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}]
    });
    crate::resource::prepare(&obs).unwrap();
    let idx = extract(&obs);
    assert_eq!(
        values(&idx, "code"),
        vec![
            token(
                "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",
                "3D046000001920402"
            ),
            token("http://loinc.org", "4548-4"),
        ]
    );
    assert_eq!(
        values(&idx, "category"),
        vec![token(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "laboratory"
        )]
    );
    assert_eq!(values(&idx, "status"), vec![token("", "final")]);
    assert_eq!(
        values(&idx, "identifier"),
        vec![token(
            "urn:oid:1.2.392.100495.20.3.51.11234567890",
            "L-2024-0001"
        )]
    );
    assert_eq!(
        values(&idx, "value-quantity"),
        vec![IndexValue::Number {
            value: 6.2,
            system: "http://unitsofmeasure.org".into(),
            code: "%".into()
        }]
    );
    assert_eq!(
        values(&idx, "date"),
        vec![IndexValue::Date {
            low: ms("2024-05-01T00:30:00Z"),
            high: ms("2024-05-01T00:30:01Z")
        }]
    );
    assert_eq!(
        values(&idx, "patient"),
        vec![IndexValue::Reference("Patient/p1".into())]
    );
    assert_eq!(
        values(&idx, "subject"),
        vec![IndexValue::Reference("Patient/p1".into())]
    );
    assert_eq!(
        values(&idx, "encounter"),
        vec![IndexValue::Reference("Encounter/e1".into())]
    );
    // Only relative references are indexed.
    assert_eq!(
        values(&idx, "performer"),
        vec![IndexValue::Reference("Organization/o1".into())]
    );
    // The text of a CodeableConcept is not indexed; nothing for absent elements.
    assert!(!idx
        .iter()
        .any(|e| matches!(&e.value, IndexValue::String(_))));
    assert!(values(&idx, "value-concept").is_empty());
}

#[test]
fn patient_names_with_kana_and_contacts() {
    let p = json!({
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11234567890", "value": "00012345"}],
        "name": [
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}],
             "use": "official", "text": "山田 太郎", "family": "山田", "given": ["太郎"]},
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}],
             "use": "official", "text": "ヤマダ タロウ", "family": "ヤマダ", "given": ["タロウ"]}
        ],
        "telecom": [{"system": "phone", "value": "0144-00-0000"}, {"system": "email", "value": "taro@example.jp"}],
        "gender": "male",
        "birthDate": "1950-04",
        "active": true,
        "address": [{"text": "北海道苫小牧市旭町4丁目5番6号", "postalCode": "053-8722", "state": "北海道", "city": "苫小牧市", "line": ["旭町4丁目5番6号"]}]
    });
    crate::resource::prepare(&p).unwrap();
    let idx = extract(&p);
    let names: Vec<IndexValue> = values(&idx, "name");
    for s in [
        "山田",
        "太郎",
        "山田太郎",
        "ヤマダ",
        "タロウ",
        "ヤマダタロウ",
    ] {
        assert!(
            names.contains(&IndexValue::String(fold(s))),
            "{s} in {names:?}"
        );
    }
    // Deduplicated: the text equals the whole.
    assert_eq!(names.len(), 6);
    // Hiragana and half-width searches meet the folded katakana.
    assert_eq!(fold("やまだ"), fold("ﾔﾏﾀﾞ"));
    assert!(names.contains(&IndexValue::String(fold("やまだたろう"))));
    assert_eq!(
        values(&idx, "family"),
        vec![
            IndexValue::String("山田".into()),
            IndexValue::String("ヤマダ".into())
        ]
    );
    assert_eq!(
        values(&idx, "given"),
        vec![
            IndexValue::String("太郎".into()),
            IndexValue::String("タロウ".into())
        ]
    );
    assert_eq!(values(&idx, "phone"), vec![token("", "0144-00-0000")]);
    assert_eq!(
        values(&idx, "telecom"),
        vec![token("", "0144-00-0000"), token("", "taro@example.jp")]
    );
    assert_eq!(values(&idx, "gender"), vec![token("", "male")]);
    assert_eq!(values(&idx, "active"), vec![token("", "true")]);
    assert_eq!(
        values(&idx, "birthdate"),
        vec![IndexValue::Date {
            low: ms("1950-04-01T00:00:00+09:00"),
            high: ms("1950-05-01T00:00:00+09:00")
        }]
    );
    assert_eq!(
        values(&idx, "address-postalcode"),
        vec![IndexValue::String("053-8722".into())]
    );
    assert!(values(&idx, "address")
        .contains(&IndexValue::String(fold("北海道苫小牧市旭町4丁目5番6号"))));
    assert!(values(&idx, "address").contains(&IndexValue::String(fold("苫小牧市"))));
    assert_eq!(
        values(&idx, "identifier"),
        vec![token(
            "urn:oid:1.2.392.100495.20.3.51.11234567890",
            "00012345"
        )]
    );
}

#[test]
fn periods_choices_and_other_types() {
    let enc = json!({
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-05-01T10:00:00+09:00"}
    });
    let idx = extract(&enc);
    assert_eq!(
        values(&idx, "date"),
        vec![IndexValue::Date {
            low: ms("2024-05-01T01:00:00Z"),
            high: i64::MAX
        }]
    );
    assert_eq!(
        values(&idx, "class"),
        vec![token(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "IMP"
        )]
    );

    let ended = json!({"resourceType": "CarePlan", "period": {"end": "2024-05"}});
    assert_eq!(
        values(&extract(&ended), "date"),
        vec![IndexValue::Date {
            low: i64::MIN,
            high: ms("2024-06-01T00:00:00+09:00")
        }]
    );

    let cond = json!({
        "resourceType": "Condition",
        "subject": {"reference": "Group/g1"},
        "onsetPeriod": {"start": "2020", "end": "2021"},
        "recordedDate": "2024-05-01"
    });
    let idx = extract(&cond);
    assert_eq!(
        values(&idx, "onset-date"),
        vec![IndexValue::Date {
            low: ms("2020-01-01T00:00:00+09:00"),
            high: ms("2022-01-01T00:00:00+09:00")
        }]
    );
    // `patient` only for a Patient subject; `subject` for any.
    assert!(values(&idx, "patient").is_empty());
    assert_eq!(
        values(&idx, "subject"),
        vec![IndexValue::Reference("Group/g1".into())]
    );
    let age = json!({"resourceType": "Condition", "onsetAge": {"value": 40}});
    assert!(values(&extract(&age), "onset-date").is_empty());

    let mr = json!({
        "resourceType": "MedicationRequest",
        "medicationReference": {"reference": "Medication/m1"},
        "authoredOn": "2024-05-01T09:00:00Z",
        "subject": {"reference": "Patient/p1/_history/4"}
    });
    let idx = extract(&mr);
    assert!(values(&idx, "code").is_empty());
    assert_eq!(
        values(&idx, "medication"),
        vec![IndexValue::Reference("Medication/m1".into())]
    );
    assert_eq!(
        values(&idx, "patient"),
        vec![IndexValue::Reference("Patient/p1".into())]
    );

    let ai = valid("AllergyIntolerance");
    let idx = extract(&ai);
    assert_eq!(
        values(&idx, "clinical-status"),
        vec![token(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "active"
        )]
    );
    assert_eq!(
        values(&idx, "patient"),
        vec![IndexValue::Reference("Patient/p1".into())]
    );

    let goal = json!({"resourceType": "Goal", "target": [{"dueDate": "2024-12-31"}, {"dueDuration": {"value": 3}}]});
    assert_eq!(values(&extract(&goal), "target-date").len(), 1);

    let study = json!({"resourceType": "ImagingStudy", "series": [
        {"uid": "1.2.3", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}},
        {"uid": "1.2.4", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}}
    ]});
    assert_eq!(
        values(&extract(&study), "modality"),
        vec![token("http://dicom.nema.org/resources/ontology/DCM", "CT")]
    );

    let prov = json!({"resourceType": "Provenance", "target": [{"reference": "Observation/o1"}, {"reference": "Patient/p1"}]});
    let idx = extract(&prov);
    assert_eq!(values(&idx, "target").len(), 2);
    assert_eq!(
        values(&idx, "patient"),
        vec![IndexValue::Reference("Patient/p1".into())]
    );

    let org =
        json!({"resourceType": "Organization", "name": "苫小牧市立病院", "alias": ["市立病院"]});
    assert_eq!(
        values(&extract(&org), "name"),
        vec![
            IndexValue::String("苫小牧市立病院".into()),
            IndexValue::String("市立病院".into())
        ]
    );

    assert!(extract(&json!({"resourceType": "Binary", "contentType": "text/plain"})).is_empty());
    assert!(extract(&json!({"no": "type"})).is_empty());
}
