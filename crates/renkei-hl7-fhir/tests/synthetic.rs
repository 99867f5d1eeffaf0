//! Message types and cases the NHO sample lacks: outpatient visits, a whole
//! stay (planned → admitted → transferred → discharge planned → discharged),
//! cancellations, generic ORU^R01 results with every value type, suspected
//! and deleted diagnoses, deleted allergies — and the errors.

use renkei_hl7::Message;
use renkei_hl7_fhir::{demographics, map_message, MapContext, MapError, Mapped};
use serde_json::Value;

const MSH: &str = "MSH|^~\\&|HIS|HOSP|GW|RENKEI|20240401093000||";

/// A segment with the given fields set (1-based), the rest empty.
fn seg(id: &str, fields: &[(usize, &str)]) -> String {
    let n = fields.iter().map(|(i, _)| *i).max().unwrap_or(0);
    let mut v = vec![String::new(); n + 1];
    v[0] = id.to_string();
    for (i, f) in fields {
        v[*i] = f.to_string();
    }
    v.join("|")
}

fn message(msh9: &str, segments: &[String]) -> Message {
    let mut text = format!("{MSH}{msh9}|CTRL1|P|2.5||||||~ISO IR87");
    for s in segments {
        text.push('\r');
        text.push_str(s);
    }
    Message::parse(text).unwrap()
}

fn pid() -> String {
    "PID|1||P001^^^^PI||山田^花子^^^^^L^I~ﾔﾏﾀﾞ^ﾊﾅｺ^^^^^L^P||19800101|F|||^^^^053-0022^JPN^H^北海道苫小牧市表町１－１||^PRN^PH^^^^^^^^^0144-00-0000".into()
}

const CTX: MapContext<'static> = MapContext {
    patient_reference: "Patient/person-1",
    facility_id: "F1",
    source: "mllp:CTRL1",
};

fn map(msg: &Message, data_type: Option<&str>) -> Mapped {
    map_message(msg, data_type, &CTX).unwrap_or_else(|e| panic!("{e}"))
}

fn encounter(trigger: &str, pv1: &[(usize, &str)], extra: &[String]) -> Value {
    let mut segs = vec![
        seg("EVN", &[(2, "202404121500"), (6, "202404121500")]),
        pid(),
    ];
    segs.push(seg("PV1", pv1));
    segs.extend_from_slice(extra);
    let msg = message(&format!("ADT^{trigger}^ADT_A01"), &segs);
    let m = map(&msg, None);
    assert_eq!(m.resources.len(), 1, "{trigger}: {:?}", m.warnings);
    m.resources[0].clone()
}

#[test]
fn demographics_with_halfwidth_kana() {
    let msg = message("ADT^A08^ADT_A01", &[pid()]);
    let d = demographics(&msg).unwrap();
    assert_eq!(d.family_kana, "ヤマダ");
    assert_eq!(d.given_kana, "ハナコ");
    assert_eq!(d.sex.as_deref(), Some("female"));
    assert_eq!(d.birth_date.as_deref(), Some("1980-01-01"));
    assert_eq!(d.postal_code, "053-0022");
    assert_eq!(d.phones, ["0144-00-0000"]);
    // ADT-00 without OBX/AL1: nothing clinical.
    assert!(map(&msg, Some("ADT-00")).resources.is_empty());
}

#[test]
fn a_whole_stay_updates_one_encounter() {
    let ward = "4E^410^2";
    let planned = encounter(
        "A14",
        &[(2, "I"), (3, ward)],
        &[seg("PV2", &[(8, "20240410"), (9, "20240420")])],
    );
    let admitted = encounter(
        "A01",
        &[
            (2, "I"),
            (3, ward),
            (7, "D1^医師^一郎"),
            (10, "01"),
            (44, "202404101000"),
        ],
        &[],
    );
    let transferred = encounter(
        "A02",
        &[(2, "I"), (3, "5W^501^1"), (6, ward), (44, "202404101000")],
        &[],
    );
    let discharge_planned = encounter("A16", &[(2, "I"), (3, "5W^501^1"), (44, "20240410")], &[]);
    let discharged = encounter(
        "A03",
        &[
            (2, "I"),
            (3, "5W^501^1"),
            (36, "01"),
            (44, "20240410"),
            (45, "202404201100"),
        ],
        &[],
    );
    let id = &planned["id"];
    for e in [&admitted, &transferred, &discharge_planned, &discharged] {
        assert_eq!(&e["id"], id);
    }
    assert_eq!(planned["status"], "planned");
    assert_eq!(planned["period"]["start"], "2024-04-10");
    assert_eq!(planned["location"][0]["status"], "planned");
    assert_eq!(admitted["status"], "in-progress");
    assert_eq!(admitted["class"]["code"], "IMP");
    assert_eq!(admitted["period"]["start"], "2024-04-10T10:00:00+09:00");
    assert_eq!(
        admitted["participant"][0]["individual"]["display"],
        "医師 一郎"
    );
    assert_eq!(
        admitted["location"][0]["location"]["display"],
        "病棟 4E / 病室 410 / 病床 2"
    );
    assert_eq!(transferred["status"], "in-progress");
    assert_eq!(
        transferred["location"][0]["period"]["start"],
        "2024-04-12T15:00:00+09:00"
    );
    assert_eq!(transferred["location"][1]["status"], "completed");
    assert_eq!(discharge_planned["status"], "in-progress");
    assert_eq!(discharged["status"], "finished");
    assert_eq!(discharged["period"]["end"], "2024-04-20T11:00:00+09:00");
    assert_eq!(
        discharged["hospitalization"]["dischargeDisposition"]["coding"][0]["code"],
        "01"
    );

    // Cancelled admission: same Encounter, cancelled.
    let cancelled = encounter("A11", &[(2, "I"), (44, "202404101000")], &[]);
    assert_eq!(cancelled["id"], *id);
    assert_eq!(cancelled["status"], "cancelled");
    // Cancelled discharge: back in progress, no end.
    let undone = encounter(
        "A13",
        &[(2, "I"), (44, "20240410"), (45, "202404201100")],
        &[],
    );
    assert_eq!(undone["id"], *id);
    assert_eq!(undone["status"], "in-progress");
    assert!(undone["period"].get("end").is_none());
}

#[test]
fn visit_number_links_admission_and_discharge() {
    let admitted = encounter("A01", &[(2, "I"), (19, "V123"), (44, "202404101000")], &[]);
    let discharged = encounter("A03", &[(2, "I"), (19, "V123"), (45, "202404201100")], &[]);
    assert_eq!(admitted["id"], discharged["id"]);
    assert_eq!(admitted["identifier"][0]["value"], "V123");
    assert_eq!(
        admitted["identifier"][0]["system"],
        "urn:renkei:facility:F1:visit-number"
    );
}

#[test]
fn outpatient_visits() {
    let internal = encounter(
        "A04",
        &[(2, "O"), (3, "01"), (10, "01"), (44, "202404010925")],
        &[],
    );
    assert_eq!(internal["class"]["code"], "AMB");
    assert_eq!(internal["status"], "arrived");
    assert_eq!(internal["period"]["start"], "2024-04-01T09:25:00+09:00");
    assert_eq!(internal["serviceType"]["coding"][0]["code"], "01");
    let again = encounter("A04", &[(2, "O"), (10, "01"), (44, "202404011400")], &[]);
    assert_eq!(again["id"], internal["id"], "same day, same department");
    let surgery = encounter("A04", &[(2, "O"), (10, "09"), (44, "202404011100")], &[]);
    assert_ne!(
        surgery["id"], internal["id"],
        "same day, another department"
    );
    // No PV1-44: the event time (EVN-6).
    let no_date = encounter("A04", &[(2, "E"), (10, "01")], &[]);
    assert_eq!(no_date["class"]["code"], "EMER");
    assert_eq!(no_date["period"]["start"], "2024-04-12T15:00:00+09:00");
}

#[test]
fn generic_oru_results() {
    let msg = message(
        "ORU^R01^ORU_R01",
        &[
            pid(),
            seg(
                "OBR",
                &[
                    (1, "1"),
                    (2, "ORD1"),
                    (3, "FIL1"),
                    (4, "LAB1^生化学^99LAB"),
                    (7, "202404011000"),
                    (25, "P"),
                ],
            ),
            seg(
                "OBX",
                &[
                    (1, "1"),
                    (2, "NM"),
                    (3, "3D010000001926101^グルコース^JC10"),
                    (5, "<5"),
                    (6, "mg/dL^mg/dL^ISO+"),
                    (7, "70-109"),
                    (8, "L"),
                    (11, "F"),
                    (14, "202404011005"),
                ],
            ),
            seg("NTE", &[(1, "1"), (3, "再検査済")]),
            seg(
                "OBX",
                &[
                    (1, "2"),
                    (2, "SN"),
                    (3, "3B035000002327201^AST^JC10"),
                    (5, ">^1000"),
                    (6, "U/L"),
                    (8, "HH"),
                    (11, "P"),
                ],
            ),
            seg(
                "OBX",
                &[
                    (1, "3"),
                    (2, "SN"),
                    (3, "5F100^抗体価^99X"),
                    (5, "^1^:^128"),
                    (11, "F"),
                ],
            ),
            seg(
                "OBX",
                &[
                    (1, "4"),
                    (2, "CWE"),
                    (3, "5F200^HBs抗原^99X"),
                    (5, "POS^陽性^99X"),
                    (8, "POS"),
                    (11, "C"),
                ],
            ),
            seg(
                "OBX",
                &[
                    (1, "5"),
                    (2, "ST"),
                    (3, "5F300^コメント^99X"),
                    (5, "溶血あり"),
                    (11, "F"),
                ],
            ),
            seg(
                "OBX",
                &[
                    (1, "6"),
                    (2, "NM"),
                    (3, "5F400^定性^99X"),
                    (5, "ﾃｽﾄ"),
                    (8, "ZZ"),
                    (11, "F"),
                ],
            ),
            seg("OBX", &[(1, "7"), (2, "NM"), (5, "1")]),
            seg(
                "OBX",
                &[(1, "8"), (2, "NM"), (3, "5F500^未実施^99X"), (11, "X")],
            ),
            seg(
                "OBX",
                &[
                    (1, "9"),
                    (2, "NM"),
                    (3, "3D010000001926101^グルコース^JC10"),
                    (4, "2"),
                    (5, "90"),
                    (6, "mg/dL"),
                ],
            ),
        ],
    );
    let m = map(&msg, None);
    let obs: Vec<&Value> = m
        .resources
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
        .collect();
    assert_eq!(obs.len(), 8);
    let glucose = obs[0];
    assert_eq!(glucose["valueQuantity"]["comparator"], "<");
    assert_eq!(glucose["valueQuantity"]["value"], 5);
    assert_eq!(glucose["valueQuantity"]["code"], "mg/dL");
    assert_eq!(glucose["interpretation"][0]["coding"][0]["code"], "L");
    assert_eq!(
        glucose["interpretation"][0]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    );
    assert_eq!(glucose["effectiveDateTime"], "2024-04-01T10:05:00+09:00");
    assert_eq!(glucose["note"][0]["text"], "再検査済");
    assert_eq!(obs[1]["valueQuantity"]["comparator"], ">");
    assert_eq!(obs[1]["status"], "preliminary");
    assert_eq!(
        obs[1]["effectiveDateTime"], "2024-04-01T10:00:00+09:00",
        "OBR-7"
    );
    assert_eq!(obs[2]["valueRatio"]["denominator"]["value"], 128);
    assert_eq!(obs[3]["valueCodeableConcept"]["text"], "陽性");
    assert_eq!(obs[3]["status"], "corrected");
    assert_eq!(obs[4]["valueString"], "溶血あり");
    assert_eq!(obs[5]["valueString"], "ﾃｽﾄ");
    assert_eq!(obs[5]["interpretation"][0]["text"], "ZZ");
    assert_eq!(obs[6]["status"], "cancelled");
    assert_eq!(obs[6]["dataAbsentReason"]["coding"][0]["code"], "unknown");
    assert_ne!(obs[7]["id"], obs[0]["id"], "same code, other sub-ID");
    let w = m.warnings.join("\n");
    assert!(
        w.contains("OBX-5: 'ﾃｽﾄ' is not a number, kept as text (segment 10)"),
        "{w}"
    );
    assert!(w.contains("OBX-8: unknown abnormal flag 'ZZ'"), "{w}");
    assert!(
        w.contains("OBX-3: no observation code, result skipped (segment 11)"),
        "{w}"
    );
    let dr = m.resources.last().unwrap();
    assert_eq!(dr["resourceType"], "DiagnosticReport");
    assert_eq!(dr["status"], "preliminary");
    assert_eq!(dr["result"].as_array().unwrap().len(), 8);
    assert_eq!(dr["identifier"][1]["value"], "FIL1");
}

#[test]
fn suspected_deleted_and_resolved_diagnoses() {
    let msg = message(
        "PPR^ZD1^PPR_ZD1",
        &[
            pid(),
            seg(
                "PRB",
                &[
                    (1, "AD"),
                    (2, "20240401"),
                    (3, "20054174^胃炎の疑い^MDCDX2"),
                    (4, "P1"),
                    (7, "20240401"),
                    (16, "20240330"),
                ],
            ),
            seg(
                "ZPR",
                &[
                    (2, "20054174^胃炎^MDCDX2"),
                    (3, "ZZZ8002^の疑い^MDCDX2"),
                    (6, "8002^の疑い^MDCDX2"),
                ],
            ),
            seg(
                "PRB",
                &[
                    (1, "DE"),
                    (2, "20240401"),
                    (3, "12345678^糖尿病^MDCDX2"),
                    (4, "P2"),
                ],
            ),
            seg(
                "PRB",
                &[
                    (1, "AD"),
                    (2, "20240401"),
                    (3, "87654321^高血圧症^MDCDX2"),
                    (4, "P3"),
                    (7, "20240101"),
                    (9, "20240301"),
                    (14, "F^治癒^HL70241"),
                ],
            ),
            seg("PRB", &[(1, "AD"), (3, "^病名だけ")]),
            seg("PRB", &[(1, "AD"), (3, "")]),
        ],
    );
    let m = map(&msg, None);
    assert_eq!(m.resources.len(), 4);
    let suspected = &m.resources[0];
    assert_eq!(
        suspected["verificationStatus"]["coding"][0]["code"],
        "provisional"
    );
    assert_eq!(suspected["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(
        suspected["code"]["extension"][0]["url"],
        "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Condition_DiseasePostfixModifier"
    );
    assert_eq!(suspected["onsetDateTime"], "2024-03-30");
    let deleted = &m.resources[1];
    assert_eq!(
        deleted["verificationStatus"]["coding"][0]["code"],
        "entered-in-error"
    );
    assert!(deleted.get("clinicalStatus").is_none());
    let resolved = &m.resources[2];
    assert_eq!(resolved["clinicalStatus"]["coding"][0]["code"], "resolved");
    assert_eq!(resolved["abatementDateTime"], "2024-03-01");
    assert_eq!(m.resources[3]["code"]["text"], "病名だけ");
    assert!(m.warnings[0].starts_with("PRB-3: no diagnosis code or name"));
}

#[test]
fn deleted_and_typed_allergies() {
    let msg = message(
        "ADT^A60^ADT_A60",
        &[
            seg("EVN", &[(2, "20240401")]),
            pid(),
            seg(
                "IAM",
                &[
                    (1, "1"),
                    (2, "DA^薬剤アレルギー^HL70127"),
                    (3, "1234567^ペニシリン^HOT7"),
                    (4, "SV^重度^HL70128"),
                    (5, "呼吸困難~蕁麻疹"),
                    (6, "A"),
                    (7, "AL01"),
                    (9, "AL"),
                    (13, "20240315103000"),
                ],
            ),
            seg(
                "IAM",
                &[
                    (1, "2"),
                    (2, "FA^食物アレルギー^HL70127"),
                    (3, "^卵"),
                    (6, "D"),
                ],
            ),
            seg("IAM", &[(1, "3"), (2, "XX"), (3, "^猫"), (4, "U")]),
        ],
    );
    let m = map(&msg, None);
    assert_eq!(m.resources.len(), 3);
    let a = &m.resources[0];
    assert_eq!(a["criticality"], "high");
    assert_eq!(a["type"], "allergy");
    assert_eq!(a["reaction"][0]["severity"], "severe");
    assert_eq!(a["reaction"][0]["manifestation"][1]["text"], "蕁麻疹");
    assert_eq!(a["reaction"][0]["description"], "呼吸困難、蕁麻疹");
    assert_eq!(a["recordedDate"], "2024-03-15T10:30:00+09:00");
    assert_eq!(a["identifier"][0]["value"], "AL01");
    assert_eq!(
        a["code"]["coding"][0]["system"],
        "http://medis.or.jp/CodeSystem/master-HOT7"
    );
    let deleted = &m.resources[1];
    assert_eq!(
        deleted["verificationStatus"]["coding"][0]["code"],
        "entered-in-error"
    );
    assert!(deleted.get("clinicalStatus").is_none());
    assert_eq!(deleted["recordedDate"], "2024-04-01", "EVN-2 fallback");
    assert_eq!(m.resources[2]["criticality"], "unable-to-assess");
    assert!(m.resources[2].get("category").is_none());
    assert!(m.warnings[0].starts_with("IAM-2: unknown allergen type 'XX'"));
}

#[test]
fn prescription_without_rp_and_with_a_dose_range() {
    let msg = message(
        "RDE^O11^RDE_O11",
        &[
            pid(),
            seg("ORC", &[(1, "DC"), (2, "ORD9"), (9, "20240401120000")]),
            seg("TQ1", &[(7, "20240401")]),
            seg(
                "RXE",
                &[
                    (2, "622222201^カロナール錠200^HOT9"),
                    (3, "1"),
                    (4, "2"),
                    (5, "TAB^錠^MR9P"),
                    (10, "10"),
                    (11, "TAB^錠^MR9P"),
                    (12, "2"),
                ],
            ),
            seg("NTE", &[(3, "疼痛時")]),
        ],
    );
    let m = map(&msg, None);
    let r = &m.resources[0];
    assert_eq!(r["status"], "stopped");
    let dose = &r["dosageInstruction"][0]["doseAndRate"][0]["doseRange"];
    assert_eq!(dose["low"]["value"], 1);
    assert_eq!(dose["high"]["value"], 2);
    assert_eq!(
        r["dosageInstruction"][0]["extension"][0]["valuePeriod"]["start"], "2024-04-01",
        "order-level TQ1"
    );
    assert_eq!(r["dispenseRequest"]["numberOfRepeatsAllowed"], 2);
    assert_eq!(r["note"][0]["text"], "疼痛時");
    assert_eq!(r["identifier"][0]["value"], "ORD9");
}

#[test]
fn errors_name_the_field() {
    let bad_time = message(
        "OUL^R22^OUL_R22",
        &[
            pid(),
            seg("OBR", &[(2, "ORD1"), (4, "X^検査")]),
            seg("OBX", &[(2, "NM"), (3, "A^a"), (5, "1"), (14, "2023133")]),
        ],
    );
    let e = map_message(&bad_time, Some("OML-11"), &CTX).unwrap_err();
    assert!(matches!(&e, MapError::Invalid { field, segment: Some(4), .. } if field == "OBX-14"));
    assert!(
        e.to_string().starts_with("OBX-14: '2023133' is not a date"),
        "{e}"
    );

    let bad_dose = message(
        "RDE^O11^RDE_O11",
        &[
            pid(),
            seg("ORC", &[(2, "O1")]),
            seg("RXE", &[(2, "1^薬^HOT9"), (3, "abc")]),
        ],
    );
    let e = map_message(&bad_dose, None, &CTX).unwrap_err();
    assert_eq!(e.to_string(), "RXE-3: 'abc' is not a number (segment 4)");

    let no_id = message("ADT^A60^ADT_A60", &["PID|1||^^^^PI".into()]);
    let e = map_message(&no_id, None, &CTX).unwrap_err();
    assert_eq!(
        e.to_string(),
        "PID-3: the patient ID is missing (segment 2)"
    );
    assert!(demographics(&no_id).is_err());

    let no_pid = message("ADT^A60^ADT_A60", &[]);
    assert!(matches!(
        map_message(&no_pid, None, &CTX),
        Err(MapError::Missing { .. })
    ));

    let lab = message("OUL^R22^OUL_R22", &[pid()]);
    assert_eq!(
        map_message(&lab, Some("OMP-01"), &CTX).unwrap_err(),
        MapError::Inconsistent {
            data_type: "OMP-01".into(),
            message_type: "OUL^R22".into()
        }
    );
    assert_eq!(
        map_message(&lab, Some("OMG-01"), &CTX).unwrap_err(),
        MapError::Unsupported("OMG-01".into())
    );
    let odd = message("ADT^A99^ADT_A01", &[pid()]);
    assert_eq!(
        map_message(&odd, None, &CTX).unwrap_err(),
        MapError::Unsupported("ADT^A99".into())
    );
    let no_pv1 = message("ADT^A01^ADT_A01", &[pid()]);
    assert_eq!(
        map_message(&no_pv1, None, &CTX).unwrap_err().to_string(),
        "PV1: the patient visit segment is missing"
    );
    let bad_ctx = MapContext {
        patient_reference: "person-1",
        ..CTX
    };
    assert!(matches!(
        map_message(&lab, None, &bad_ctx),
        Err(MapError::Context(_))
    ));

    let bad_birth = message(
        "ADT^A08^ADT_A01",
        &["PID|1||P1||山田^花子||19481305|F".into()],
    );
    assert_eq!(
        demographics(&bad_birth).unwrap_err().to_string(),
        "PID-7: '19481305' is not a date (expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) (segment 2)"
    );
    let partial_birth = message("ADT^A08^ADT_A01", &["PID|1||P1||山田^花子||1948|X".into()]);
    let d = demographics(&partial_birth).unwrap();
    assert_eq!(d.birth_date, None);
    assert_eq!(d.sex.as_deref(), Some("unknown"));
    assert_eq!(d.warnings.len(), 2);
}
