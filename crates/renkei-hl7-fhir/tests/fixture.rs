//! Every file of the NHO SS-MIX2 sample tree (shared/fixtures/ssmix2-nho-sample),
//! walked and decoded with renkei-hl7, mapped to FHIR. Expected values were
//! read from the files (decoded with iconv's ISO-2022-JP).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use renkei_hl7::ssmix2::{self, Ssmix2Error};
use renkei_hl7::Message;
use renkei_hl7_fhir::{
    demographics, ids, infer_data_type, map_message, MapContext, MapError, Mapped,
    SUPPORTED_DATA_TYPES,
};
use serde_json::Value;

fn storage_root() -> PathBuf {
    if let Ok(p) = std::env::var("RENKEI_SSMIX2_SAMPLE") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/ssmix2-nho-sample/storage");
    assert!(
        root.is_dir(),
        "SS-MIX2 sample not found at {} (set RENKEI_SSMIX2_SAMPLE)",
        root.display()
    );
    root
}

struct File {
    key: String,
    data_type: String,
    message: Message,
}

/// Every readable file (the one broken file is checked and left out).
fn files() -> Vec<File> {
    let mut out = Vec::new();
    let mut unreadable = 0;
    for entry in ssmix2::walk(storage_root()) {
        let entry = entry.expect("walk");
        let name = entry.name.expect("SS-MIX2 file name");
        match ssmix2::read_file(&entry.path) {
            Ok(doc) => out.push(File {
                key: name.to_string(),
                data_type: name.data_type.clone(),
                message: doc.message,
            }),
            Err(Ssmix2Error::Parse { .. }) => unreadable += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        unreadable, 1,
        "the 2-byte file in ADT-31 is the only broken one"
    );
    out
}

fn ctx(source: &str) -> MapContext<'_> {
    MapContext {
        patient_reference: "Patient/person-1",
        facility_id: "1311234567",
        source,
    }
}

fn map_file(f: &File) -> Result<Mapped, MapError> {
    map_message(&f.message, Some(&f.data_type), &ctx(&f.key))
}

fn find<'a>(files: &'a [File], data_type: &str) -> &'a File {
    files
        .iter()
        .find(|f| f.data_type == data_type && f.key.starts_with("9999013_"))
        .unwrap_or_else(|| panic!("no {data_type} file"))
}

fn by_type<'a>(m: &'a Mapped, t: &str) -> Vec<&'a Value> {
    m.resources
        .iter()
        .filter(|r| r["resourceType"] == t)
        .collect()
}

/// The coding of a CodeableConcept with the given system.
fn coding<'a>(cc: &'a Value, system: &str) -> &'a Value {
    cc["coding"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["system"] == system))
        .unwrap_or_else(|| panic!("no {system} coding in {cc}"))
}

/// Checks every resource for the invariants all mappings share.
fn check_common(file: &str, m: &Mapped) {
    let mut seen = BTreeSet::new();
    for r in &m.resources {
        let t = r["resourceType"].as_str().unwrap();
        let id = r["id"].as_str().unwrap();
        assert!(ids::is_valid_id(id), "{file}: bad id {id}");
        assert!(seen.insert((t, id)), "{file}: duplicate {t}/{id}");
        let subject = if t == "AllergyIntolerance" {
            &r["patient"]
        } else {
            &r["subject"]
        };
        assert_eq!(subject["reference"], "Patient/person-1", "{file}: {t}");
        let profile = r["meta"]["profile"][0].as_str().unwrap();
        assert!(
            profile.starts_with("http://jpfhir.jp/fhir/core/StructureDefinition/JP_"),
            "{file}: {profile}"
        );
        assert_eq!(r["meta"]["tag"][0]["code"], file);
        assert_eq!(r["meta"]["tag"][0]["system"], "urn:renkei:hl7-source");
        assert_eq!(r["meta"]["source"], file);
    }
    // Every literal reference points at a resource of the same batch.
    for r in &m.resources {
        for reference in r["result"].as_array().into_iter().flatten() {
            let target = reference["reference"].as_str().unwrap();
            let (t, id) = target.split_once('/').unwrap();
            assert!(seen.contains(&(t, id)), "{file}: dangling {target}");
        }
    }
}

#[test]
fn every_file_maps_or_is_reported_unsupported() {
    let files = files();
    assert_eq!(files.len(), 21);
    let mut mapped_files = 0;
    let mut unsupported = BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let supported = SUPPORTED_DATA_TYPES.contains(&f.data_type.as_str());
        match map_file(f) {
            Ok(m) => {
                assert!(supported, "{}: mapped an unsupported type", f.key);
                check_common(&f.key, &m);
                for r in &m.resources {
                    *counts
                        .entry(r["resourceType"].as_str().unwrap().to_string())
                        .or_default() += 1;
                }
                mapped_files += 1;
            }
            Err(MapError::Unsupported(t)) => {
                assert!(!supported, "{}: {t}", f.key);
                unsupported.insert(t);
            }
            Err(e) => panic!("{}: {e}", f.key),
        }
        // Demographics read from every file.
        let d = demographics(&f.message).unwrap_or_else(|e| panic!("{}: {e}", f.key));
        assert!(!d.local_id.is_empty());
        assert!(
            !d.family_kanji.is_empty() && !d.family_kana.is_empty(),
            "{}",
            f.key
        );
    }
    assert_eq!(mapped_files, 14);
    assert_eq!(
        unsupported.into_iter().collect::<Vec<_>>(),
        ["OMD", "OMG-01", "OMG-02", "OMG-03", "OMG-11", "OMG-12", "OML-01"]
    );
    let expected: BTreeMap<String, usize> = [
        ("AllergyIntolerance", 5),
        ("Condition", 1),
        ("DiagnosticReport", 2),
        ("Encounter", 3),
        ("MedicationAdministration", 8),
        ("MedicationRequest", 6),
        ("Observation", 18),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expected);
}

#[test]
fn lab_results_oml11() {
    let files = files();
    let m = map_file(find(&files, "OML-11")).unwrap();
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    let obs = by_type(&m, "Observation");
    assert_eq!(obs.len(), 3);
    // OBX|2|NM|3A010000002327101^総蛋白^JC10||7.2|g/dl^g/dl^99XYZ|6.70-8.3||||F|||201112191500
    let tp = obs[1];
    assert_eq!(
        tp["meta"]["profile"][0],
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"
    );
    let jlac = coding(
        &tp["code"],
        "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",
    );
    assert_eq!(jlac["code"], "3A010000002327101");
    assert_eq!(jlac["display"], "総蛋白");
    assert_eq!(tp["valueQuantity"]["value"], 7.2);
    assert_eq!(tp["valueQuantity"]["unit"], "g/dl");
    assert_eq!(tp["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(tp["referenceRange"][0]["text"], "6.70-8.3");
    assert_eq!(tp["referenceRange"][0]["low"]["value"], 6.7);
    assert_eq!(tp["referenceRange"][0]["high"]["value"], 8.3);
    assert_eq!(tp["effectiveDateTime"], "2011-12-19T15:00:00+09:00");
    assert_eq!(tp["status"], "final");
    assert_eq!(tp["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(tp["identifier"][0]["value"], "000000011000354");
    assert_eq!(
        tp["identifier"][0]["system"],
        "urn:renkei:facility:1311234567:order-number"
    );
    // A/G ratio has no unit: no UCUM system.
    assert_eq!(obs[0]["valueQuantity"]["value"], 1.7);
    assert!(obs[0]["valueQuantity"].get("system").is_none());

    let reports = by_type(&m, "DiagnosticReport");
    assert_eq!(reports.len(), 1);
    let dr = reports[0];
    assert_eq!(dr["status"], "final");
    assert_eq!(dr["code"]["text"], "血液学的検査");
    assert_eq!(dr["issued"], "2011-12-20T10:30:59+09:00");
    let refs: Vec<String> = obs
        .iter()
        .map(|o| format!("Observation/{}", o["id"].as_str().unwrap()))
        .collect();
    let result: Vec<&str> = dr["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    assert_eq!(result, refs);
}

#[test]
fn physiology_results_omg13() {
    let files = files();
    let m = map_file(find(&files, "OMG-13")).unwrap();
    let obs = by_type(&m, "Observation");
    assert_eq!(obs.len(), 12);
    // OBX|2|TX|9A100&IMP^心電図所見^JC10|1|心筋虚血疑い
    assert_eq!(obs[0]["valueString"], "心筋虚血疑い");
    assert_eq!(obs[0]["category"][0]["coding"][0]["code"], "procedure");
    // OBX|3|NM|32769^心拍数^99MFR|2|67|bpm: bpm is not UCUM.
    assert_eq!(obs[1]["code"]["text"], "心拍数");
    assert_eq!(obs[1]["valueQuantity"]["value"], 67);
    assert_eq!(obs[1]["valueQuantity"]["unit"], "bpm");
    assert!(obs[1]["valueQuantity"].get("system").is_none());
    assert_eq!(
        obs[1]["code"]["coding"][0]["system"],
        "urn:renkei:facility:1311234567:hl7-table:99MFR"
    );
    // OBX|11|NM|32776^T 波軸^99MFR|2|-14|degree
    assert_eq!(obs[9]["valueQuantity"]["value"], -14);
    // mV is UCUM.
    assert_eq!(obs[10]["valueQuantity"]["code"], "mV");
    assert_eq!(obs[10]["effectiveDateTime"], "2011-12-20");
    let dr = by_type(&m, "DiagnosticReport")[0];
    assert_eq!(dr["result"].as_array().unwrap().len(), 12);
    assert_eq!(dr["issued"], "2011-12-20T15:20:00+09:00");
}

#[test]
fn diagnoses_ppr01() {
    let files = files();
    let m = map_file(find(&files, "PPR-01")).unwrap();
    let c = by_type(&m, "Condition");
    assert_eq!(c.len(), 1);
    let c = c[0];
    assert_eq!(c["code"]["text"], "胃炎");
    let medis = coding(
        &c["code"],
        "http://medis.or.jp/CodeSystem/master-disease-keyNumber",
    );
    assert_eq!(medis["code"], "20054174");
    let icd = coding(
        &c["code"],
        "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full",
    );
    assert_eq!(icd["code"], "K297");
    let ex = coding(
        &c["code"],
        "http://medis.or.jp/CodeSystem/master-disease-exCode",
    );
    assert_eq!(ex["code"], "TSQF");
    assert_eq!(c["verificationStatus"]["coding"][0]["code"], "confirmed");
    // Outcome N (not recovered) with an end date (PRB-9): no longer active.
    assert_eq!(c["clinicalStatus"]["coding"][0]["code"], "inactive");
    assert_eq!(c["abatementDateTime"], "2011-09-15");
    assert_eq!(c["onsetDateTime"], "2011-08-31");
    assert_eq!(c["recordedDate"], "2011-08-31");
    assert_eq!(c["recorder"]["display"], "医師 一郎");
    assert_eq!(c["identifier"][0]["value"], "123456789012345");
    // PRB-25 V (very restricted) → meta.security.
    assert_eq!(c["meta"]["security"][0]["code"], "V");
    assert_eq!(
        c["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "N"
    );
}

#[test]
fn prescriptions_omp01() {
    let files = files();
    let m = map_file(find(&files, "OMP-01")).unwrap();
    let rx = by_type(&m, "MedicationRequest");
    assert_eq!(rx.len(), 3);
    let first = rx[0];
    let hot = coding(
        &first["medicationCodeableConcept"],
        "http://medis.or.jp/CodeSystem/master-HOT9",
    );
    assert_eq!(hot["code"], "108665201");
    assert_eq!(hot["display"], "ダーゼン錠（５mg)");
    assert_eq!(first["status"], "active");
    assert_eq!(first["intent"], "order");
    assert_eq!(first["authoredOn"], "2011-07-01T10:30:45+09:00");
    let dosage = &first["dosageInstruction"][0];
    assert_eq!(dosage["doseAndRate"][0]["doseQuantity"]["value"], 1);
    assert_eq!(dosage["doseAndRate"][0]["doseQuantity"]["code"], "TAB");
    assert_eq!(
        dosage["doseAndRate"][0]["rateRatio"]["numerator"]["value"],
        3
    );
    let usage = coding(
        &dosage["timing"]["code"],
        "http://jami.jp/CodeSystem/MedicationUsage",
    );
    assert_eq!(usage["code"], "1013044400000000");
    assert_eq!(dosage["text"], "内服・経口・１日３回朝昼夕食後");
    assert_eq!(dosage["route"]["coding"][0]["code"], "PO");
    let ext = dosage["extension"].as_array().unwrap();
    assert_eq!(ext[0]["valuePeriod"]["start"], "2011-07-01T00:00:00+09:00");
    assert_eq!(ext[1]["valueDuration"]["value"], 5);
    assert_eq!(ext[1]["valueDuration"]["code"], "d");
    assert_eq!(first["dispenseRequest"]["quantity"]["value"], 15);
    assert_eq!(
        first["dispenseRequest"]["expectedSupplyDuration"]["value"],
        5
    );
    assert_eq!(first["identifier"][0]["value"], "000000011000185");
    assert_eq!(first["requester"]["display"], "医師 一郎");
    // The third drug: powder, 50 MG a time, 14 days.
    assert_eq!(
        rx[2]["medicationCodeableConcept"]["coding"][0]["code"],
        "100607002"
    );
    assert_eq!(
        rx[2]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"],
        "MG"
    );
    // Rp 1 holds two drugs: positions 1 and 2.
    let index = |r: &Value| {
        r["identifier"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["system"]
                    == "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex"
            })
            .map(|i| i["value"].as_str().unwrap().to_string())
    };
    assert_eq!(
        rx.iter().map(|r| index(r).unwrap()).collect::<Vec<_>>(),
        ["1", "2", "1"]
    );
}

#[test]
fn injections_omp02_and_administration_omp12() {
    let files = files();
    let m = map_file(find(&files, "OMP-02")).unwrap();
    let rx = by_type(&m, "MedicationRequest");
    assert_eq!(rx.len(), 3);
    assert_eq!(
        rx[0]["meta"]["profile"][0],
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationRequest_Injection"
    );
    assert_eq!(rx[0]["medicationReference"]["reference"], "#medication");
    let ingredients = rx[0]["contained"][0]["ingredient"].as_array().unwrap();
    assert_eq!(ingredients.len(), 2);
    assert_eq!(
        ingredients[0]["itemCodeableConcept"]["coding"][0]["code"],
        "620007329"
    );
    let ext = &rx[0]["dosageInstruction"][0]["extension"][0]["valuePeriod"];
    assert_eq!(ext["start"], "2011-07-01T08:00:00+09:00");
    assert_eq!(ext["end"], "2011-07-01T13:00:00+09:00");
    assert_eq!(
        rx[0]["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]["value"],
        102
    );

    let m = map_file(find(&files, "OMP-12")).unwrap();
    let given = by_type(&m, "MedicationAdministration");
    assert_eq!(given.len(), 2);
    assert_eq!(given[0]["status"], "completed");
    assert_eq!(
        given[0]["effectivePeriod"]["start"],
        "2011-07-01T08:05:21+09:00"
    );
    assert_eq!(
        given[0]["effectivePeriod"]["end"],
        "2011-07-01T13:05:43+09:00"
    );
    assert_eq!(
        given[1]["medicationCodeableConcept"]["coding"][0]["code"],
        "620002559"
    );
    assert_eq!(given[1]["dosage"]["route"]["coding"][0]["code"], "IV");
    assert_eq!(given[1]["note"][0]["text"], "左手に実施");
    assert_eq!(
        given[1]["request"]["identifier"]["value"],
        "123456789012345"
    );

    let m = map_file(find(&files, "OMP-11")).unwrap();
    let given = by_type(&m, "MedicationAdministration");
    assert_eq!(given[0]["effectiveDateTime"], "2011-07-01T08:30:00+09:00");
    assert_eq!(given[1]["dosage"]["dose"]["value"], 2);
}

#[test]
fn allergies_adt61_and_adt00() {
    let files = files();
    let m = map_file(find(&files, "ADT-61")).unwrap();
    let a = by_type(&m, "AllergyIntolerance");
    assert_eq!(a.len(), 4);
    let cats: Vec<&str> = a
        .iter()
        .map(|x| x["category"][0].as_str().unwrap())
        .collect();
    assert_eq!(cats, ["environment", "food", "environment", "medication"]);
    assert_eq!(a[0]["code"]["text"], "スギ");
    assert_eq!(a[0]["reaction"][0]["severity"], "mild");
    assert_eq!(a[0]["criticality"], "low");
    assert_eq!(a[0]["onsetDateTime"], "1996-01");
    assert_eq!(a[1]["onsetString"], "小学校低学年の頃");
    assert_eq!(a[1]["reaction"][0]["manifestation"][0]["text"], "湿疹");
    assert_eq!(
        a[3]["code"]["coding"][0]["system"],
        "http://medis.or.jp/CodeSystem/master-HOT9"
    );
    assert_eq!(a[3]["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(a[3]["recordedDate"], "2011-10-13T23:22:13+09:00");

    let m = map_file(find(&files, "ADT-00")).unwrap();
    let obs = by_type(&m, "Observation");
    assert_eq!(obs.len(), 3);
    assert_eq!(
        obs[0]["meta"]["profile"][0],
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_BodyMeasurement"
    );
    assert_eq!(
        coding(&obs[0]["code"], "http://loinc.org")["code"],
        "8302-2"
    );
    assert_eq!(obs[0]["valueQuantity"]["value"], 167.8);
    assert_eq!(obs[0]["valueQuantity"]["code"], "cm");
    assert_eq!(
        coding(&obs[1]["code"], "http://loinc.org")["code"],
        "29463-7"
    );
    assert_eq!(obs[2]["valueCodeableConcept"]["coding"][0]["code"], "A");
    let al1 = by_type(&m, "AllergyIntolerance");
    assert_eq!(al1.len(), 1);
    assert_eq!(al1[0]["category"][0], "medication");
    assert_eq!(al1[0]["code"]["text"], "ペニシリン");
}

#[test]
fn demographics_adt00() {
    let files = files();
    let d = demographics(&find(&files, "ADT-00").message).unwrap();
    assert_eq!(d.local_id, "9999013");
    assert_eq!(
        (d.family_kanji.as_str(), d.given_kanji.as_str()),
        ("患者", "太郎")
    );
    assert_eq!(
        (d.family_kana.as_str(), d.given_kana.as_str()),
        ("カンジャ", "タロウ")
    );
    assert_eq!(d.birth_date.as_deref(), Some("1948-04-05"));
    assert_eq!(d.sex.as_deref(), Some("male"));
    assert_eq!(d.postal_code, "422-8033");
    assert!(d.address.starts_with("静岡県静岡市登呂"), "{}", d.address);
    assert_eq!(d.phones, ["054-000-0000", "03-5999-9999", "03-3599-9993"]);
    assert_eq!(d.insurance_numbers, ["67999991"]);
    assert!(d.warnings.is_empty());
}

#[test]
fn encounters_adt22_42_52() {
    let files = files();
    let m = map_file(find(&files, "ADT-22")).unwrap();
    let e = &m.resources[0];
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["class"]["code"], "IMP");
    assert_eq!(e["period"]["start"], "2011-11-20T16:00:00+09:00");
    assert_eq!(
        e["location"][0]["location"]["display"],
        "病棟 32 / 病室 302 / 病床 1"
    );
    assert!(m.warnings.is_empty());

    // The sample's transfer and discharge carry neither PV1-19 nor PV1-44:
    // mapped, with a warning that they cannot be linked to the admission.
    let m = map_file(find(&files, "ADT-52")).unwrap();
    let e = &m.resources[0];
    assert_eq!(e["status"], "finished");
    assert_eq!(e["period"]["end"], "2011-12-20T12:00:00+09:00");
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert!(m.warnings[0].contains("cannot be linked"));
    let m = map_file(find(&files, "ADT-42")).unwrap();
    assert_eq!(m.resources[0]["location"][1]["status"], "completed");
}

#[test]
fn mapping_is_deterministic_and_survives_superseding_files() {
    for f in files() {
        let Ok(a) = map_file(&f) else { continue };
        let b = map_file(&f).unwrap();
        assert_eq!(a, b, "{}", f.key);

        // The superseding file: new send time and control ID, new file key.
        let text = f.message.to_string();
        let fields: Vec<&str> = text.splitn(11, '|').collect();
        let mut changed: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        changed[6] = "20300101000000".into();
        changed[9] = "NEWCONTROLID".into();
        let newer = Message::parse(changed.join("|")).unwrap();
        let newer_key = f.key.replace("_1", "_9");
        let c = map_message(&newer, Some(&f.data_type), &ctx(&newer_key)).unwrap();
        let ids = |m: &Mapped| {
            m.resources
                .iter()
                .map(|r| format!("{}/{}", r["resourceType"], r["id"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&c), "{}", f.key);

        // Another facility or patient never collides.
        let other = MapContext {
            facility_id: "other",
            ..ctx(&f.key)
        };
        let d = map_message(&f.message, Some(&f.data_type), &other).unwrap();
        for (x, y) in ids(&a).iter().zip(ids(&d).iter()) {
            assert_ne!(x, y, "{}", f.key);
        }
    }
}

#[test]
fn inferred_data_types() {
    let files = files();
    let inferred: BTreeMap<&str, Option<&str>> = files
        .iter()
        .map(|f| (f.data_type.as_str(), infer_data_type(&f.message)))
        .collect();
    for (name, expected) in [
        ("ADT-00", Some("ADT-00")),
        ("ADT-22", Some("ADT-22")),
        ("ADT-42", Some("ADT-42")),
        ("ADT-52", Some("ADT-52")),
        ("ADT-61", Some("ADT-61")),
        ("PPR-01", Some("PPR-01")),
        ("OMP-01", Some("OMP-01")),
        ("OMP-02", Some("OMP-02")),
        ("OMP-11", Some("OMP-11")),
        ("OMP-12", Some("OMP-12")),
        ("OML-01", Some("OML-01")),
        ("OML-11", Some("OML-11")),
        ("OMG-13", Some("ORU-R01")),
        ("OMG-01", None),
        ("OMG-11", None),
        ("OMD", Some("OMD")),
    ] {
        assert_eq!(inferred[name], expected, "{name}");
    }
    // Over MLLP (no file name) a lab result maps to the same ids.
    let f = find(&files, "OML-11");
    let by_file = map_file(f).unwrap();
    let by_msh = map_message(&f.message, None, &ctx(&f.key)).unwrap();
    assert_eq!(by_file, by_msh);
}
