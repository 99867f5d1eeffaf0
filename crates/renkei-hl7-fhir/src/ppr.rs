//! PPR-01 (PPR^ZD1): every diagnosis of the patient → one Condition per PRB.

use renkei_hl7::message::Segment;
use serde_json::{json, Map, Value};

use crate::codes::{self, system};
use crate::cx::{comp, concept, first, put, val, Cx};
use crate::MapError;

/// MEDIS modifier exchange code of "の疑い" (suspected).
const SUSPECTED_MODIFIER: &str = "8002";

/// PRB-13 values read as "suspected".
fn suspected_status(code: &str) -> bool {
    matches!(
        code.trim().to_ascii_uppercase().as_str(),
        "S" | "P" | "SUSPECTED" | "PROVISIONAL" | "UNCONFIRMED" | "疑い"
    )
}

pub(crate) fn map(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let msg = cx.msg;
    // Each PRB with the ZPR that follows it.
    let mut problems: Vec<(Segment<'_>, Option<Segment<'_>>)> = Vec::new();
    for seg in msg.segments() {
        match seg.id() {
            "PRB" => problems.push((seg, None)),
            "ZPR" => {
                if let Some((_, zpr @ None)) = problems.last_mut() {
                    *zpr = Some(seg);
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        cx.warn("no PRB segment: nothing to map");
    }
    // ORC-12 (the doctor who registered the diagnoses) applies to all of them.
    let recorder = msg
        .segment("ORC")
        .and_then(|orc| cx.person(orc.field(12).repetition(1)));
    for (prb, zpr) in problems {
        condition(cx, &prb, zpr.as_ref(), recorder.clone())?;
    }
    Ok(())
}

fn condition(
    cx: &mut Cx<'_>,
    prb: &Segment<'_>,
    zpr: Option<&Segment<'_>>,
    recorder: Option<Value>,
) -> Result<(), MapError> {
    let problem = prb.field(3).repetition(1);
    let code = val(problem.component(1));
    let name = val(problem.component(2));
    let problem_system = val(problem.component(3));
    if code.is_empty() && name.is_empty() {
        cx.warn_at(prb, 3, "no diagnosis code or name, diagnosis skipped");
        return Ok(());
    }
    let instance = comp(prb, 4, 1);
    let id = if instance.is_empty() {
        let key = if code.is_empty() { &name } else { &code };
        cx.id(
            "Condition",
            &["PPR-01", "problem", key, &first(prb, 7), &first(prb, 16)],
        )
    } else {
        cx.id("Condition", &["PPR-01", "instance", &instance])
    };

    // Code: MEDIS management number (PRB-3), exchange code (ZPR-5), ICD-10 (PRB-10).
    let mut codings = Vec::new();
    if !code.is_empty() {
        codings.push(cx.coding(&code, &name, &problem_system));
    }
    let mut modifier_ext = Vec::new();
    let mut modifier_suspected = false;
    if let Some(z) = zpr {
        let ex = z.field(5).repetition(1);
        let ex_code = val(ex.component(1));
        if !ex_code.is_empty() && !codings.iter().any(|c| c["code"] == json!(ex_code)) {
            codings.push(json!({
                "system": system::MEDIS_DISEASE_EXCODE,
                "code": ex_code,
                "display": val(ex.component(2)),
            }));
        }
        // Prefix modifiers ZPR-1 (management no.) / ZPR-4 (exchange code),
        // postfix ZPR-3 / ZPR-6.
        for (key_field, ex_field, ext) in [
            (1, 4, "JP_Condition_DiseasePrefixModifier"),
            (3, 6, "JP_Condition_DiseasePostfixModifier"),
        ] {
            let mut mod_codings = Vec::new();
            let mut mod_text = Vec::new();
            for (n, sys) in [
                (key_field, system::MEDIS_MODIFIER),
                (ex_field, system::MEDIS_MODIFIER_EXCODE),
            ] {
                for rep in z.field(n).repetitions() {
                    let c = val(rep.component(1));
                    let d = val(rep.component(2));
                    if d.contains("疑い") || (n == ex_field && c == SUSPECTED_MODIFIER) {
                        modifier_suspected = true;
                    }
                    if !d.is_empty() && !mod_text.contains(&d) {
                        mod_text.push(d.clone());
                    }
                    if !c.is_empty() {
                        let mut coding = Map::new();
                        coding.insert("system".into(), json!(sys));
                        coding.insert("code".into(), json!(c));
                        put(&mut coding, "display", Some(json!(d)));
                        mod_codings.push(Value::Object(coding));
                    }
                }
            }
            if !mod_codings.is_empty() || !mod_text.is_empty() {
                let mut cc = Map::new();
                put(&mut cc, "coding", Some(Value::Array(mod_codings)));
                put(&mut cc, "text", Some(json!(mod_text.join(""))));
                modifier_ext.push(json!({
                    "url": format!("{}{}", codes::JP_CORE_EXTENSION, ext),
                    "valueCodeableConcept": Value::Object(cc),
                }));
            }
        }
    }
    let icd = prb.field(10).repetition(1);
    let icd_code = val(icd.component(1));
    let icd_system = val(icd.component(3));
    if !icd_code.is_empty() {
        let sys = if icd_system.is_empty() {
            "I10".to_string()
        } else {
            icd_system
        };
        codings.push(cx.coding(&icd_code, &val(icd.component(2)), &sys));
    }
    let mut code_cc = Map::new();
    put(&mut code_cc, "extension", Some(Value::Array(modifier_ext)));
    put(&mut code_cc, "coding", Some(Value::Array(codings)));
    put(&mut code_cc, "text", Some(json!(name)));

    // Verification: PRB-1 DE → entered in error; suspected → provisional.
    let action = comp(prb, 1, 1).to_ascii_uppercase();
    let confirmation = comp(prb, 13, 1);
    let suspected = suspected_status(&confirmation) || modifier_suspected || name.ends_with("疑い");
    let deleted = action == "DE";
    let verification = if deleted {
        "entered-in-error"
    } else if suspected {
        "provisional"
    } else {
        "confirmed"
    };

    // Clinical status from the outcome (PRB-14, HL7 table 0241) and whether the
    // problem has ended (PRB-9).
    let outcome = prb.field(14).repetition(1);
    let outcome_code = val(outcome.component(1)).to_ascii_uppercase();
    let outcome_table = val(outcome.component(3)).to_ascii_uppercase();
    let ended = cx.ts(prb, 9)?;
    let table_0241 = outcome_table.is_empty() || outcome_table == "HL70241";
    let clinical = match (table_0241.then_some(outcome_code.as_str()), ended.is_some()) {
        (Some("F"), _) => "resolved",
        (Some("R"), _) => "remission",
        (Some("S" | "D"), _) => "inactive",
        (_, true) => "inactive",
        _ => "active",
    };

    let mut c = Map::new();
    c.insert("resourceType".into(), json!("Condition"));
    c.insert("id".into(), json!(id));
    let mut meta = cx.meta("JP_Condition");
    if let Some(security) = security(&comp(prb, 25, 1)) {
        meta["security"] = json!([security]);
    }
    c.insert("meta".into(), meta);
    if !val(outcome.component(1)).is_empty() && table_0241 {
        c.insert(
            "extension".into(),
            json!([{
                "url": format!("{}JP_Condition_DiseaseOutcome", codes::JP_CORE_EXTENSION),
                "valueCodeableConcept": concept(system::DISEASE_OUTCOME, &outcome_code, &val(outcome.component(2))),
            }]),
        );
    }
    if !instance.is_empty() {
        c.insert(
            "identifier".into(),
            json!([cx.identifier("problem-instance-id", &instance)]),
        );
    }
    if !deleted {
        c.insert(
            "clinicalStatus".into(),
            concept(system::CONDITION_CLINICAL, clinical, ""),
        );
    }
    c.insert(
        "verificationStatus".into(),
        concept(system::CONDITION_VERIFICATION, verification, ""),
    );
    c.insert(
        "category".into(),
        json!([concept(
            system::CONDITION_CATEGORY,
            "encounter-diagnosis",
            "Encounter Diagnosis"
        )]),
    );
    c.insert("code".into(), Value::Object(code_cc));
    c.insert("subject".into(), cx.subject());
    put(&mut c, "onsetDateTime", cx.date_time(prb, 16)?);
    if clinical != "active" {
        put(
            &mut c,
            "abatementDateTime",
            ended.map(|t| json!(t.to_fhir_date_time())),
        );
    }
    let recorded = match cx.ts(prb, 7)? {
        Some(t) => Some(t),
        None => cx.ts(prb, 2)?,
    };
    put(
        &mut c,
        "recordedDate",
        recorded.map(|t| json!(t.to_fhir_date_time())),
    );
    put(&mut c, "recorder", recorder);
    cx.resources.push(Value::Object(c));
    Ok(())
}

/// PRB-25 (HL7 table 0177) → `meta.security`.
fn security(code: &str) -> Option<Value> {
    let (system, code, display) = match code.trim().to_ascii_uppercase().as_str() {
        "V" => (system::CONFIDENTIALITY, "V", "very restricted"),
        "R" => (system::CONFIDENTIALITY, "R", "restricted"),
        "U" => (system::CONFIDENTIALITY, "N", "normal"),
        "PSY" => (
            system::ACT_CODE,
            "PSY",
            "psychiatry disorder information sensitivity",
        ),
        "HIV" | "AID" => (system::ACT_CODE, "HIV", "HIV/AIDS information sensitivity"),
        "ETH" => (
            system::ACT_CODE,
            "ETH",
            "substance abuse information sensitivity",
        ),
        _ => return None,
    };
    Some(json!({ "system": system, "code": code, "display": display }))
}
