//! Results: OML-11 (OUL^R22), ORU^R01 (OMG-13 and generic) → Observation per
//! OBX and one DiagnosticReport per order (OBR); also the OBX → Observation
//! mapping ADT-00 uses for body measurements.

use renkei_hl7::message::Segment;
use serde_json::{json, Map, Value};

use crate::codes::{self, system};
use crate::cx::{comp, first, is_number, number, put, text, unit_of, val, Cx};
use crate::time::Timestamp;
use crate::MapError;

/// How to build Observations for one group of OBX.
pub(crate) struct ObsSpec {
    pub profile: &'static str,
    /// observation-category code and display.
    pub category: (&'static str, &'static str),
    /// Key parts identifying the group (e.g. `["result", order no., OBR-4]`).
    pub key: Vec<String>,
    pub identifiers: Vec<Value>,
    /// Effective time when OBX-14 is empty.
    pub fallback_effective: Option<Timestamp>,
}

/// One OBX (with its NTE notes) → Observation; `None` (with a warning) when
/// the OBX has no code.
pub(crate) fn observation(
    cx: &mut Cx<'_>,
    obx: &Segment<'_>,
    notes: &[Segment<'_>],
    spec: &ObsSpec,
) -> Result<Option<Value>, MapError> {
    let code_rep = obx.field(3).repetition(1);
    let Some(code) = cx.codeable(code_rep) else {
        cx.warn_at(obx, 3, "no observation code, result skipped");
        return Ok(None);
    };
    let mut code_key = val(code_rep.component(1));
    if code_key.is_empty() {
        code_key = val(code_rep.component(2));
    }
    let sub_id = first(obx, 4);
    let mut key: Vec<&str> = spec.key.iter().map(String::as_str).collect();
    key.push(&code_key);
    key.push(&sub_id);
    let id = cx.id("Observation", &key);

    let raw_status = first(obx, 11);
    let status = match codes::observation_status(&raw_status) {
        Some(s) => s,
        None => {
            if !raw_status.is_empty() {
                cx.warn_at(
                    obx,
                    11,
                    &format!("unknown result status '{raw_status}', taken as final"),
                );
            }
            "final"
        }
    };

    let mut o = Map::new();
    o.insert("resourceType".into(), json!("Observation"));
    o.insert("id".into(), json!(id));
    o.insert("meta".into(), cx.meta(spec.profile));
    put(
        &mut o,
        "identifier",
        Some(Value::Array(spec.identifiers.clone())),
    );
    o.insert("status".into(), json!(status));
    o.insert(
        "category".into(),
        json!([{ "coding": [{
            "system": system::OBSERVATION_CATEGORY,
            "code": spec.category.0,
            "display": spec.category.1,
        }] }]),
    );
    o.insert("code".into(), code);
    o.insert("subject".into(), cx.subject());
    let effective = match cx.ts(obx, 14)? {
        Some(t) => Some(t),
        None => spec.fallback_effective.clone(),
    };
    put(
        &mut o,
        "effectiveDateTime",
        effective.map(|t| json!(t.to_fhir_date_time())),
    );
    value(cx, obx, &mut o)?;

    let mut interpretations = Vec::new();
    for rep in obx.field(8).repetitions() {
        let flag = val(rep.component(1));
        if flag.is_empty() {
            continue;
        }
        match codes::interpretation(&flag.to_ascii_uppercase()) {
            Some((c, d)) => interpretations.push(json!({
                "coding": [{ "system": system::INTERPRETATION, "code": c, "display": d }],
                "text": flag,
            })),
            None => {
                cx.warn_at(
                    obx,
                    8,
                    &format!("unknown abnormal flag '{flag}', kept as text"),
                );
                interpretations.push(json!({ "text": flag }));
            }
        }
    }
    put(
        &mut o,
        "interpretation",
        Some(Value::Array(interpretations)),
    );
    put(&mut o, "referenceRange", reference_range(cx, obx));
    let note_texts: Vec<Value> = notes
        .iter()
        .map(|n| text(n, 3))
        .filter(|t| !t.is_empty())
        .map(|t| json!({ "text": t }))
        .collect();
    put(&mut o, "note", Some(Value::Array(note_texts)));
    Ok(Some(Value::Object(o)))
}

const COMPARATORS: [&str; 4] = ["<=", ">=", "<", ">"];

fn split_comparator(s: &str) -> (Option<&'static str>, &str) {
    for c in COMPARATORS {
        if let Some(rest) = s.strip_prefix(c) {
            return (Some(c), rest.trim());
        }
    }
    (None, s)
}

/// OBX-5 by OBX-2 into `value[x]` (or `dataAbsentReason`).
fn value(cx: &mut Cx<'_>, obx: &Segment<'_>, o: &mut Map<String, Value>) -> Result<(), MapError> {
    let field = obx.field(5);
    if field.is_empty() || field.repetitions().all(|r| r.value().trim().is_empty()) {
        o.insert(
            "dataAbsentReason".into(),
            json!({ "coding": [{ "system": system::DATA_ABSENT, "code": "unknown", "display": "Unknown" }] }),
        );
        return Ok(());
    }
    let value_type = first(obx, 2).to_ascii_uppercase();
    let rep = field.repetition(1);
    let unit = unit_of(obx.field(6).repetition(1));
    let several = field.repetition_count() > 1;
    match value_type.as_str() {
        "NM" => {
            let raw = val(rep.component(1));
            let (comparator, digits) = split_comparator(&raw);
            if is_number(digits) {
                let mut q = Map::new();
                put(&mut q, "value", number(digits));
                put(&mut q, "comparator", comparator.map(|c| json!(c)));
                cx.unit_into(&mut q, unit);
                o.insert("valueQuantity".into(), Value::Object(q));
            } else {
                cx.warn_at(obx, 5, &format!("'{raw}' is not a number, kept as text"));
                o.insert("valueString".into(), json!(raw));
            }
            if several {
                cx.warn_at(
                    obx,
                    5,
                    "several values for a numeric result, the first kept",
                );
            }
        }
        "SN" => {
            let cmp = val(rep.component(1));
            let n1 = val(rep.component(2));
            let sep = val(rep.component(3));
            let n2 = val(rep.component(4));
            let shown = format!("{cmp}{n1}{sep}{n2}");
            let fhir_cmp = COMPARATORS.iter().find(|c| **c == cmp).copied();
            let ok_cmp = cmp.is_empty() || cmp == "=" || fhir_cmp.is_some();
            if sep.is_empty() && n2.is_empty() && is_number(&n1) && ok_cmp {
                let mut q = Map::new();
                put(&mut q, "value", number(&n1));
                put(&mut q, "comparator", fhir_cmp.map(|c| json!(c)));
                cx.unit_into(&mut q, unit);
                o.insert("valueQuantity".into(), Value::Object(q));
            } else if (sep == ":" || sep == "/")
                && is_number(&n1)
                && is_number(&n2)
                && cmp.is_empty()
            {
                o.insert(
                    "valueRatio".into(),
                    json!({ "numerator": { "value": number(&n1) }, "denominator": { "value": number(&n2) } }),
                );
            } else if sep == "-" && is_number(&n1) && is_number(&n2) && cmp.is_empty() {
                let mut low = Map::new();
                put(&mut low, "value", number(&n1));
                cx.unit_into(&mut low, unit.clone());
                let mut high = Map::new();
                put(&mut high, "value", number(&n2));
                cx.unit_into(&mut high, unit);
                o.insert("valueRange".into(), json!({ "low": low, "high": high }));
            } else {
                o.insert("valueString".into(), json!(shown));
            }
        }
        "ST" | "TX" | "FT" => {
            o.insert("valueString".into(), json!(text(obx, 5)));
        }
        "CWE" | "CE" | "CNE" | "CF" => match cx.codeable(rep) {
            Some(cc) => {
                o.insert("valueCodeableConcept".into(), cc);
            }
            None => {
                o.insert("valueString".into(), json!(rep.value().trim()));
            }
        },
        "TS" | "DT" | "DTM" => {
            if let Some(t) = cx.ts_value(obx, 5, &val(rep.component(1)))? {
                o.insert("valueDateTime".into(), json!(t.to_fhir_date_time()));
            }
        }
        "XCN" | "XPN" => {
            let person = if value_type == "XCN" {
                [val(rep.component(2)), val(rep.component(3))]
            } else {
                [val(rep.component(1)), val(rep.component(2))]
            };
            let name = person
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            o.insert("valueString".into(), json!(name));
        }
        other => {
            if other != "TM" {
                let shown = if other.is_empty() { "(none)" } else { other };
                cx.warn_at(obx, 2, &format!("value type '{shown}' kept as text"));
            }
            let joined: Vec<String> = field
                .repetitions()
                .map(|r| r.value().trim().to_string())
                .collect();
            o.insert("valueString".into(), json!(joined.join("\n")));
        }
    }
    Ok(())
}

/// OBX-7: the text, plus low/high when it reads `a-b` (or `a~b`, `a～b`).
fn reference_range(cx: &Cx<'_>, obx: &Segment<'_>) -> Option<Value> {
    let raw = text(obx, 7);
    if raw.is_empty() {
        return None;
    }
    let mut range = Map::new();
    range.insert("text".into(), json!(raw));
    let bounds = ['~', '～', '-']
        .iter()
        .find_map(|sep| raw.split_once(*sep))
        .map(|(a, b)| (a.trim(), b.trim()));
    if let Some((low, high)) = bounds {
        if is_number(low) && is_number(high) {
            let unit = unit_of(obx.field(6).repetition(1));
            for (name, v) in [("low", low), ("high", high)] {
                let mut q = Map::new();
                put(&mut q, "value", number(v));
                cx.unit_into(&mut q, unit.clone());
                range.insert(name.into(), Value::Object(q));
            }
        }
    }
    Some(json!([Value::Object(range)]))
}

struct Order<'m> {
    orc: Option<Segment<'m>>,
    obr: Segment<'m>,
    spm: Option<Segment<'m>>,
    items: Vec<(Segment<'m>, Vec<Segment<'m>>)>,
}

/// OML-11 / OMG-13 / ORU-R01.
pub(crate) fn map(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let procedure = cx.data_type == "OMG-13";
    let (category, obs_profile, report_profile, section) = if procedure {
        (
            ("procedure", "Procedure"),
            "JP_Observation_Common",
            "JP_DiagnosticReport_Common",
            ("OTH", "Other"),
        )
    } else {
        (
            ("laboratory", "Laboratory"),
            "JP_Observation_LabResult",
            "JP_DiagnosticReport_LabResult",
            ("LAB", "Laboratory"),
        )
    };

    let msg = cx.msg;
    let mut orders: Vec<Order<'_>> = Vec::new();
    let mut pending_orc = None;
    let mut spm = None;
    for seg in msg.segments() {
        match seg.id() {
            "SPM" => spm = Some(seg),
            "ORC" => match orders.last_mut() {
                Some(last) if last.orc.is_none() && last.items.is_empty() => last.orc = Some(seg),
                _ => pending_orc = Some(seg),
            },
            "OBR" => orders.push(Order {
                orc: pending_orc.take(),
                obr: seg,
                spm,
                items: Vec::new(),
            }),
            "OBX" => match orders.last_mut() {
                Some(last) => last.items.push((seg, Vec::new())),
                None => cx.warn_at(&seg, 3, "result outside an OBR group, skipped"),
            },
            "NTE" => {
                if let Some((_, notes)) = orders.last_mut().and_then(|o| o.items.last_mut()) {
                    notes.push(seg);
                }
            }
            _ => {}
        }
    }
    if orders.is_empty() {
        cx.warn("no OBR segment: nothing to map");
    }

    for order in orders {
        let obr = order.obr;
        let orc = order.orc;
        let placer = orc
            .as_ref()
            .map(|s| comp(s, 2, 1))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| comp(&obr, 2, 1));
        let filler = Some(comp(&obr, 3, 1))
            .filter(|s| !s.is_empty())
            .or_else(|| orc.as_ref().map(|s| comp(s, 3, 1)))
            .unwrap_or_default();
        let order_key = if !placer.is_empty() {
            placer.clone()
        } else if !filler.is_empty() {
            format!("filler:{filler}")
        } else {
            cx.warn_at(
                &obr,
                2,
                "no order number, ids derived from the segment position",
            );
            format!("segment:{}", obr.index())
        };
        let mut identifiers = Vec::new();
        if !placer.is_empty() {
            identifiers.push(cx.identifier("order-number", &placer));
        }
        if !filler.is_empty() {
            identifiers.push(cx.identifier("filler-order-number", &filler));
        }
        let obr_code = {
            let c = comp(&obr, 4, 1);
            if c.is_empty() {
                comp(&obr, 4, 2)
            } else {
                c
            }
        };
        let collected = match &order.spm {
            Some(s) => cx.ts_value(s, 17, &comp(s, 17, 1))?,
            None => None,
        };
        let observed = cx.ts(&obr, 7)?;
        let spec = ObsSpec {
            profile: obs_profile,
            category,
            key: vec!["result".into(), order_key.clone(), obr_code.clone()],
            identifiers: identifiers.clone(),
            fallback_effective: collected.clone().or_else(|| observed.clone()),
        };
        let mut results = Vec::new();
        let mut statuses = Vec::new();
        let mut first_effective = None;
        for (obx, notes) in &order.items {
            if let Some(o) = observation(cx, obx, notes, &spec)? {
                let id = o["id"].as_str().unwrap_or_default().to_string();
                results.push(json!({ "reference": format!("Observation/{id}") }));
                statuses.push(o["status"].as_str().unwrap_or_default().to_string());
                if first_effective.is_none() {
                    first_effective = o.get("effectiveDateTime").cloned();
                }
                cx.resources.push(o);
            }
        }

        let report_id = cx.id("DiagnosticReport", &["result", &order_key, &obr_code]);
        let raw_status = first(&obr, 25);
        let status = match codes::report_status(&raw_status) {
            Some(s) => s,
            None => {
                if !raw_status.is_empty() {
                    cx.warn_at(&obr, 25, &format!("unknown result status '{raw_status}'"));
                }
                if statuses.is_empty() {
                    "registered"
                } else if statuses
                    .iter()
                    .all(|s| s == "final" || s == "corrected" || s == "amended")
                {
                    "final"
                } else {
                    "preliminary"
                }
            }
        };
        let mut r = Map::new();
        r.insert("resourceType".into(), json!("DiagnosticReport"));
        r.insert("id".into(), json!(report_id));
        r.insert("meta".into(), cx.meta(report_profile));
        put(&mut r, "identifier", Some(Value::Array(identifiers)));
        r.insert("status".into(), json!(status));
        r.insert(
            "category".into(),
            json!([{ "coding": [{ "system": system::DIAGNOSTIC_SECTION, "code": section.0, "display": section.1 }] }]),
        );
        let code = cx
            .codeable(obr.field(4).repetition(1))
            .unwrap_or_else(|| json!({ "text": if procedure { "検査" } else { "検体検査" } }));
        r.insert("code".into(), code);
        r.insert("subject".into(), cx.subject());
        let effective = collected
            .or(observed)
            .map(|t| json!(t.to_fhir_date_time()))
            .or(first_effective);
        put(&mut r, "effectiveDateTime", effective);
        put(
            &mut r,
            "issued",
            cx.ts(&obr, 22)?
                .and_then(|t| t.to_fhir_instant())
                .map(Value::String),
        );
        put(&mut r, "result", Some(Value::Array(results)));
        cx.resources.push(Value::Object(r));
    }
    Ok(())
}
