//! ADT: visits and admissions (Encounter), demographics extras (ADT-00 body
//! measurements and AL1 allergies) and allergies (ADT-61 IAM).

use renkei_hl7::message::{Repetition, Segment};
use serde_json::{json, Map, Value};

use crate::codes::system;
use crate::cx::{comp, concept, first, put, some, val, Cx};
use crate::results::{observation, ObsSpec};
use crate::{time, MapError};

/// PV1-3 / PV1-6 (PL) as text: ward, room, bed.
fn location_text(rep: Repetition<'_>, inpatient: bool) -> Option<String> {
    let ward = val(rep.component(1));
    let room = val(rep.component(2));
    let bed = val(rep.component(3));
    let parts: Vec<String> = if inpatient {
        [("病棟", ward), ("病室", room), ("病床", bed)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(label, v)| format!("{label} {v}"))
            .collect()
    } else {
        [ward, room, bed]
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect()
    };
    (!parts.is_empty()).then(|| {
        if inpatient {
            parts.join(" / ")
        } else {
            format!("外来 {}", parts.join(" "))
        }
    })
}

/// ADT-12 (visit), ADT-21/22 (admission planned/done), ADT-42 (transfer),
/// ADT-51/52 (discharge planned/done) → one Encounter.
///
/// The id is keyed on the visit number (PV1-19) when there is one, else on
/// the class and the day of admission (PV1-44; PV2-8 for a planned admission;
/// for an outpatient visit the event time and the department too), so the
/// admission, transfers and discharge of one stay update the same Encounter.
pub(crate) fn encounter(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let msg = cx.msg;
    let pv1 = msg
        .segment("PV1")
        .ok_or_else(|| MapError::missing(None, "PV1", "the patient visit segment"))?;
    let trigger = msg.header().trigger_event.trim().to_ascii_uppercase();
    let dt = cx.data_type.clone();
    let expected: &[&str] = match dt.as_str() {
        "ADT-12" => &["A04", "A11"],
        "ADT-21" => &["A14", "A27"],
        "ADT-22" => &["A01", "A11"],
        "ADT-42" => &["A02", "A12"],
        "ADT-51" => &["A16", "A25"],
        _ => &["A03", "A13"],
    };
    if !expected.contains(&trigger.as_str()) {
        cx.warn(format!(
            "MSH-9: trigger event '{trigger}' is unusual for {dt}, mapped as {dt}"
        ));
    }
    let cancelled = matches!(trigger.as_str(), "A11" | "A27");
    let discharge_cancelled = trigger == "A13";
    let status = if cancelled {
        "cancelled"
    } else {
        match dt.as_str() {
            "ADT-12" => "arrived",
            "ADT-21" => "planned",
            "ADT-52" if !discharge_cancelled => "finished",
            _ => "in-progress",
        }
    };
    let inpatient = dt != "ADT-12";
    let (class_code, class_display) = if inpatient {
        ("IMP", "inpatient encounter")
    } else if first(&pv1, 2).eq_ignore_ascii_case("E") {
        ("EMER", "emergency")
    } else {
        ("AMB", "ambulatory")
    };

    let evn = msg.segment("EVN");
    let pv2 = msg.segment("PV2");
    let admit = cx.ts(&pv1, 44)?;
    let discharge = cx.ts(&pv1, 45)?;
    let occurred = match &evn {
        Some(e) => cx.ts(e, 6)?,
        None => None,
    };
    let recorded = match &evn {
        Some(e) => cx.ts(e, 2)?,
        None => None,
    };
    let (expected_admit, expected_discharge) = match &pv2 {
        Some(p) => (cx.ts(p, 8)?, cx.ts(p, 9)?),
        None => (None, None),
    };
    let sent = time::parse(&first(&msg.msh(), 7)).ok();

    let start = match dt.as_str() {
        "ADT-21" => expected_admit.clone().or_else(|| admit.clone()),
        "ADT-12" => admit
            .clone()
            .or_else(|| occurred.clone())
            .or_else(|| recorded.clone()),
        _ => admit.clone(),
    };
    let end = match dt.as_str() {
        "ADT-52" if !discharge_cancelled => discharge.clone(),
        "ADT-21" => expected_discharge.clone(),
        _ => None,
    };

    let visit = comp(&pv1, 19, 1);
    let department = comp(&pv1, 10, 1);
    let key: Vec<String> = if !visit.is_empty() {
        vec!["visit".into(), visit.clone()]
    } else if let Some(s) = &start {
        let mut k = vec!["start".into(), class_code.to_string(), s.date_key()];
        if !inpatient {
            k.push(department.clone());
        }
        k
    } else {
        let date = discharge
            .clone()
            .or_else(|| occurred.clone())
            .or_else(|| recorded.clone())
            .or(sent)
            .map(|t| t.date_key())
            .unwrap_or_default();
        cx.warn(format!(
            "PV1-19 (visit number) and PV1-44 (admission date) are empty: this {dt} cannot be \
             linked to its admission; its Encounter is keyed on the event date {date}"
        ));
        vec!["unlinked".into(), dt.clone(), date]
    };
    let key_refs: Vec<&str> = key.iter().map(String::as_str).collect();
    let id = cx.id("Encounter", &key_refs);

    let mut e = Map::new();
    e.insert("resourceType".into(), json!("Encounter"));
    e.insert("id".into(), json!(id));
    e.insert("meta".into(), cx.meta("JP_Encounter"));
    if !visit.is_empty() {
        e.insert(
            "identifier".into(),
            json!([cx.identifier("visit-number", &visit)]),
        );
    }
    e.insert("status".into(), json!(status));
    e.insert(
        "class".into(),
        json!({ "system": system::ACT_CODE, "code": class_code, "display": class_display }),
    );
    if !department.is_empty() {
        e.insert(
            "serviceType".into(),
            concept(system::DEPARTMENT, &department, ""),
        );
    }
    e.insert("subject".into(), cx.subject());

    let mut participants = Vec::new();
    for (n, code, display) in [(7, "ATND", "attender"), (17, "ADM", "admitter")] {
        for rep in pv1.field(n).repetitions() {
            if let Some(p) = cx.person(rep) {
                participants.push(json!({
                    "type": [concept(system::PARTICIPATION, code, display)],
                    "individual": p,
                }));
            }
        }
    }
    put(&mut e, "participant", Some(Value::Array(participants)));

    let mut period = Map::new();
    put(
        &mut period,
        "start",
        start.as_ref().map(|t| json!(t.to_fhir_date_time())),
    );
    put(
        &mut period,
        "end",
        end.as_ref().map(|t| json!(t.to_fhir_date_time())),
    );
    put(&mut e, "period", Some(Value::Object(period)));

    if dt == "ADT-52" && !discharge_cancelled {
        let disposition = first(&pv1, 36);
        if !disposition.is_empty() {
            e.insert(
                "hospitalization".into(),
                json!({ "dischargeDisposition": concept(
                    "http://terminology.hl7.org/CodeSystem/v2-0112", &disposition, "") }),
            );
        }
    }

    let mut locations = Vec::new();
    if let Some(place) = location_text(pv1.field(3).repetition(1), inpatient) {
        let loc_status = match dt.as_str() {
            "ADT-21" => "planned",
            "ADT-52" if !discharge_cancelled => "completed",
            _ => "active",
        };
        let mut l = Map::new();
        l.insert("location".into(), json!({ "display": place }));
        l.insert("status".into(), json!(loc_status));
        let mut p = Map::new();
        match dt.as_str() {
            "ADT-42" => put(
                &mut p,
                "start",
                occurred.as_ref().map(|t| json!(t.to_fhir_date_time())),
            ),
            "ADT-22" => put(
                &mut p,
                "start",
                admit.as_ref().map(|t| json!(t.to_fhir_date_time())),
            ),
            "ADT-52" if !discharge_cancelled => put(
                &mut p,
                "end",
                discharge.as_ref().map(|t| json!(t.to_fhir_date_time())),
            ),
            _ => {}
        }
        put(&mut l, "period", Some(Value::Object(p)));
        locations.push(Value::Object(l));
    }
    if dt == "ADT-42" {
        if let Some(place) = location_text(pv1.field(6).repetition(1), true) {
            let mut l = Map::new();
            l.insert("location".into(), json!({ "display": place }));
            l.insert("status".into(), json!("completed"));
            if let Some(t) = &occurred {
                l.insert("period".into(), json!({ "end": t.to_fhir_date_time() }));
            }
            locations.push(Value::Object(l));
        }
    }
    put(&mut e, "location", Some(Value::Array(locations)));
    cx.resources.push(Value::Object(e));
    Ok(())
}

/// JLAC10 analyte (first five characters) of body measurements → LOINC.
fn body_measurement(jlac10: &str) -> Option<(&'static str, &'static str)> {
    match jlac10.get(..5)? {
        "9N001" => Some(("8302-2", "Body height")),
        "9N006" => Some(("29463-7", "Body weight")),
        "9N011" => Some(("39156-5", "Body mass index (BMI) [Ratio]")),
        _ => None,
    }
}

/// ADT-00: the demographics themselves go through [`crate::demographics`];
/// OBX (height, weight, blood type…) become Observations and AL1 allergies.
pub(crate) fn adt00(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let msg = cx.msg;
    if msg
        .header()
        .trigger_event
        .trim()
        .eq_ignore_ascii_case("A23")
    {
        cx.warn("ADT^A23 deletes the patient record: no clinical resources");
        return Ok(());
    }
    let fallback = cx.recorded_fallback();
    for obx in msg.segments_by_id("OBX") {
        let body = body_measurement(&comp(&obx, 3, 1));
        let spec = ObsSpec {
            profile: if body.is_some() {
                "JP_Observation_BodyMeasurement"
            } else {
                "JP_Observation_Common"
            },
            category: if body.is_some() {
                ("exam", "Exam")
            } else {
                ("laboratory", "Laboratory")
            },
            key: vec!["ADT-00".into()],
            identifiers: Vec::new(),
            fallback_effective: fallback.clone(),
        };
        if let Some(mut o) = observation(cx, &obx, &[], &spec)? {
            if let (Some((loinc, display)), Some(codings)) =
                (body, o["code"]["coding"].as_array_mut())
            {
                codings.push(json!({ "system": system::LOINC, "code": loinc, "display": display }));
            }
            cx.resources.push(o);
        }
    }
    for al1 in msg.segments_by_id("AL1") {
        allergy(cx, &al1, false)?;
    }
    Ok(())
}

/// ADT-61 (ADT^A60): one AllergyIntolerance per IAM.
pub(crate) fn adt61(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let msg = cx.msg;
    let mut any = false;
    for iam in msg.segments_by_id("IAM") {
        any = true;
        allergy(cx, &iam, true)?;
    }
    if !any {
        cx.warn("no IAM segment: nothing to map");
    }
    Ok(())
}

/// IAM (ADT-61) or AL1 (ADT-00) → AllergyIntolerance. The two segments share
/// fields 2–5 (type, allergen, severity, reactions).
fn allergy(cx: &mut Cx<'_>, seg: &Segment<'_>, iam: bool) -> Result<(), MapError> {
    let allergen = seg.field(3).repetition(1);
    let Some(code) = cx.codeable(allergen) else {
        cx.warn_at(seg, 3, "no allergen, allergy skipped");
        return Ok(());
    };
    let allergen_key = {
        let c = val(allergen.component(1));
        if c.is_empty() {
            val(allergen.component(2))
        } else {
            c
        }
    };
    let type_code = comp(seg, 2, 1).to_ascii_uppercase();
    let action = if iam {
        comp(seg, 6, 1).to_ascii_uppercase()
    } else {
        String::new()
    };
    let unique = if iam { comp(seg, 7, 1) } else { String::new() };
    let dt = cx.data_type.clone();
    let id = if unique.is_empty() {
        cx.id("AllergyIntolerance", &[&dt, &type_code, &allergen_key])
    } else {
        cx.id("AllergyIntolerance", &[&dt, "id", &unique])
    };

    let category = match type_code.as_str() {
        "DA" => Some("medication"),
        "FA" => Some("food"),
        "EA" | "PA" | "LA" => Some("environment"),
        "AA" => Some("biologic"),
        "MA" | "MC" | "" => None,
        other => {
            cx.warn_at(
                seg,
                2,
                &format!("unknown allergen type '{other}', no category"),
            );
            None
        }
    };
    let severity_code = comp(seg, 4, 1).to_ascii_uppercase();
    let (severity, criticality) = match severity_code.as_str() {
        "SV" => (Some("severe"), Some("high")),
        "MO" => (Some("moderate"), Some("low")),
        "MI" => (Some("mild"), Some("low")),
        "U" => (None, Some("unable-to-assess")),
        "" => (None, None),
        other => {
            cx.warn_at(seg, 4, &format!("unknown severity '{other}'"));
            (None, None)
        }
    };
    let reactions: Vec<String> = seg
        .field(5)
        .repetitions()
        .map(|r| r.value().trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();

    let mut a = Map::new();
    a.insert("resourceType".into(), json!("AllergyIntolerance"));
    a.insert("id".into(), json!(id));
    a.insert("meta".into(), cx.meta("JP_AllergyIntolerance"));
    if !unique.is_empty() {
        a.insert(
            "identifier".into(),
            json!([cx.identifier("allergy-id", &unique)]),
        );
    }

    // Status: IAM-6 D (delete) → entered in error; IAM-17 (table 0438) when given.
    let verification_code = if iam {
        comp(seg, 17, 1).to_ascii_uppercase()
    } else {
        String::new()
    };
    let (clinical, verification) = if action == "D" || verification_code == "E" {
        (None, Some("entered-in-error"))
    } else {
        let verification = match verification_code.as_str() {
            "C" => Some("confirmed"),
            "U" | "P" | "S" => Some("unconfirmed"),
            "I" => Some("confirmed"),
            "" => None,
            other => {
                cx.warn_at(
                    seg,
                    17,
                    &format!("unknown allergy clinical status '{other}'"),
                );
                None
            }
        };
        let clinical = if verification_code == "I" {
            "inactive"
        } else {
            "active"
        };
        (Some(clinical), verification)
    };
    if let Some(c) = clinical {
        a.insert(
            "clinicalStatus".into(),
            concept(system::ALLERGY_CLINICAL, c, ""),
        );
    }
    if let Some(v) = verification {
        a.insert(
            "verificationStatus".into(),
            concept(system::ALLERGY_VERIFICATION, v, ""),
        );
    }
    if iam {
        match comp(seg, 9, 1).to_ascii_uppercase().as_str() {
            "AL" => {
                a.insert("type".into(), json!("allergy"));
            }
            "IN" => {
                a.insert("type".into(), json!("intolerance"));
            }
            _ => {}
        }
    }
    if let Some(c) = category {
        a.insert("category".into(), json!([c]));
    }
    if let Some(c) = criticality {
        a.insert("criticality".into(), json!(c));
    }
    a.insert("code".into(), code);
    a.insert("patient".into(), cx.subject());
    if iam {
        match cx.ts(seg, 11)? {
            Some(t) => {
                a.insert("onsetDateTime".into(), json!(t.to_fhir_date_time()));
            }
            None => put(&mut a, "onsetString", some(first(seg, 12))),
        }
    }
    let recorded = if iam { cx.ts(seg, 13)? } else { cx.ts(seg, 6)? };
    let recorded = recorded.or_else(|| cx.recorded_fallback());
    put(
        &mut a,
        "recordedDate",
        recorded.map(|t| json!(t.to_fhir_date_time())),
    );
    if severity.is_some() || !reactions.is_empty() {
        let manifestation: Vec<Value> = if reactions.is_empty() {
            vec![json!({ "text": "アレルギー反応情報なし" })]
        } else {
            reactions.iter().map(|r| json!({ "text": r })).collect()
        };
        let mut r = Map::new();
        r.insert("manifestation".into(), Value::Array(manifestation));
        put(&mut r, "description", some(reactions.join("、")));
        put(&mut r, "severity", severity.map(|s| json!(s)));
        a.insert("reaction".into(), json!([Value::Object(r)]));
    }
    cx.resources.push(Value::Object(a));
    Ok(())
}
