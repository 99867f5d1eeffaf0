//! Prescriptions and injections: OMP-01/02 (RDE^O11) → MedicationRequest per
//! RXE; OMP-11/12 (RAS^O17) → MedicationAdministration per RXA.

use std::collections::BTreeMap;

use renkei_hl7::message::Segment;
use renkei_hl7::Message;
use serde_json::{json, Map, Value};

use crate::codes::{self, system};
use crate::cx::{comp, concept, first, number, put, some, text, unit_of, unit_sub, val, Cx};
use crate::MapError;

/// Routes (HL7 table 0162) that mean an injection.
const PARENTERAL_ROUTES: &[&str] = &[
    "IV", "IM", "SC", "ID", "IA", "IT", "IO", "EP", "IC", "IS", "IVP",
];

/// True when an RDE/RAS message is about injections: it has RXC segments, an
/// RXE-6 dosage form `INJ`, or a parenteral route in RXR-1.
pub(crate) fn is_injection(msg: &Message) -> bool {
    msg.segments().any(|s| match s.id() {
        "RXC" => true,
        "RXE" => comp(&s, 6, 1).eq_ignore_ascii_case("INJ"),
        "RXR" => PARENTERAL_ROUTES.contains(&comp(&s, 1, 1).to_ascii_uppercase().as_str()),
        _ => false,
    })
}

struct Request<'m> {
    orc: Option<Segment<'m>>,
    rxe: Segment<'m>,
    tq1: Option<Segment<'m>>,
    own_tq1: bool,
    rxr: Option<Segment<'m>>,
    rxc: Vec<Segment<'m>>,
    notes: Vec<Segment<'m>>,
}

/// ORC-1 order control / ORC-5 order status → MedicationRequest status.
fn request_status(orc: Option<&Segment<'_>>) -> &'static str {
    let Some(orc) = orc else { return "active" };
    match first(orc, 1).to_ascii_uppercase().as_str() {
        "CA" | "OC" | "CR" => return "cancelled",
        "DC" | "OD" | "DR" => return "stopped",
        "HD" | "OH" => return "on-hold",
        _ => {}
    }
    match first(orc, 5).to_ascii_uppercase().as_str() {
        "CM" => "completed",
        "CA" => "cancelled",
        "DC" => "stopped",
        "HD" => "on-hold",
        _ => "active",
    }
}

/// The order number of an ORC (ORC-2, else ORC-3), or a positional stand-in
/// with a warning.
fn order_number(cx: &mut Cx<'_>, orc: Option<&Segment<'_>>, item: &Segment<'_>) -> String {
    let placer = orc.map(|o| comp(o, 2, 1)).unwrap_or_default();
    if !placer.is_empty() {
        return placer;
    }
    let filler = orc.map(|o| comp(o, 3, 1)).unwrap_or_default();
    if !filler.is_empty() {
        return format!("filler:{filler}");
    }
    cx.warn_at(
        item,
        1,
        "no order number (ORC-2), id derived from the segment position",
    );
    format!("segment:{}", item.index())
}

/// TQ1-6 (CQ) → a Duration, e.g. `5^d` → 5 日.
fn duration(tq1: &Segment<'_>) -> Result<Option<Value>, MapError> {
    let amount = comp(tq1, 6, 1);
    if amount.is_empty() {
        return Ok(None);
    }
    let Some(value) = number(&amount) else {
        return Err(MapError::invalid(
            tq1,
            6,
            format!("'{amount}' is not a number"),
        ));
    };
    let unit = tq1
        .field(6)
        .component(2)
        .subcomponent(1)
        .value()
        .trim()
        .to_string();
    let mut d = Map::new();
    d.insert("value".into(), value);
    let known = match unit.as_str() {
        "d" | "D" | "日" => Some(("d", "日")),
        "wk" | "W" | "週" => Some(("wk", "週")),
        "mo" | "月" => Some(("mo", "月")),
        "h" | "H" | "時間" => Some(("h", "時間")),
        "min" | "分" => Some(("min", "分")),
        _ => None,
    };
    match known {
        Some((code, display)) => {
            d.insert("unit".into(), json!(display));
            d.insert("system".into(), json!(system::UCUM));
            d.insert("code".into(), json!(code));
        }
        None => put(&mut d, "unit", some(unit)),
    }
    Ok(Some(Value::Object(d)))
}

/// OMP-01 / OMP-02: one MedicationRequest per RXE.
pub(crate) fn requests(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let msg = cx.msg;
    let mut items: Vec<Request<'_>> = Vec::new();
    let mut orc = None;
    let mut order_tq1 = None;
    let mut in_item = false;
    for seg in msg.segments() {
        match seg.id() {
            "ORC" => {
                orc = Some(seg);
                order_tq1 = None;
                in_item = false;
            }
            "RXE" => {
                items.push(Request {
                    orc,
                    rxe: seg,
                    tq1: order_tq1,
                    own_tq1: false,
                    rxr: None,
                    rxc: Vec::new(),
                    notes: Vec::new(),
                });
                in_item = true;
            }
            id => {
                let Some(item) = items.last_mut().filter(|_| in_item) else {
                    if id == "TQ1" && orc.is_some() {
                        order_tq1 = Some(seg);
                    }
                    continue;
                };
                match id {
                    "TQ1" if !item.own_tq1 => {
                        item.tq1 = Some(seg);
                        item.own_tq1 = true;
                    }
                    "RXR" if item.rxr.is_none() => item.rxr = Some(seg),
                    "RXC" => item.rxc.push(seg),
                    "NTE" => item.notes.push(seg),
                    _ => {}
                }
            }
        }
    }
    if items.is_empty() {
        cx.warn("no RXE segment: nothing to map");
    }
    let injection = cx.data_type == "OMP-02";
    let mut positions: BTreeMap<(String, String), u32> = BTreeMap::new();
    for item in items {
        request(cx, &item, injection, &mut positions)?;
    }
    Ok(())
}

fn request(
    cx: &mut Cx<'_>,
    item: &Request<'_>,
    injection: bool,
    positions: &mut BTreeMap<(String, String), u32>,
) -> Result<(), MapError> {
    let rxe = &item.rxe;
    let orc = item.orc.as_ref();
    let drug = rxe.field(2).repetition(1);
    let drug_cc = cx.codeable(drug);
    if drug_cc.is_none() && item.rxc.is_empty() {
        cx.warn_at(rxe, 2, "no drug code or name, prescription skipped");
        return Ok(());
    }
    let order_no = order_number(cx, orc, rxe);
    let rp = orc.map(|o| comp(o, 4, 1)).unwrap_or_default();
    let position = positions.entry((order_no.clone(), rp.clone())).or_insert(0);
    *position += 1;
    let position = position.to_string();
    let dt = cx.data_type.clone();
    let id = cx.id("MedicationRequest", &[&dt, &order_no, &rp, &position]);

    let mut r = Map::new();
    r.insert("resourceType".into(), json!("MedicationRequest"));
    r.insert("id".into(), json!(id));
    r.insert(
        "meta".into(),
        cx.meta(if injection {
            "JP_MedicationRequest_Injection"
        } else {
            "JP_MedicationRequest"
        }),
    );

    let mut identifiers = Vec::new();
    if !order_no.starts_with("segment:") && !order_no.starts_with("filler:") {
        identifiers.push(cx.identifier("order-number", &order_no));
    }
    if let Some(filler) = orc.map(|o| comp(o, 3, 1)).filter(|f| !f.is_empty()) {
        identifiers.push(cx.identifier("filler-order-number", &filler));
    }
    if !rp.is_empty() {
        identifiers.push(json!({ "system": system::RP_NUMBER, "value": rp }));
        identifiers.push(json!({ "system": system::ORDER_IN_RP, "value": position }));
    }
    let prescription = first(rxe, 15);
    if !prescription.is_empty() {
        identifiers.push(cx.identifier("prescription-number", &prescription));
    }
    put(&mut r, "identifier", Some(Value::Array(identifiers)));
    r.insert("status".into(), json!(request_status(orc)));
    r.insert("intent".into(), json!("order"));

    let mut categories = Vec::new();
    if let Some(o) = orc {
        match first(o, 29).to_ascii_uppercase().as_str() {
            "I" => categories.push(concept(
                system::MEDICATION_REQUEST_CATEGORY,
                "inpatient",
                "Inpatient",
            )),
            "O" => categories.push(concept(
                system::MEDICATION_REQUEST_CATEGORY,
                "outpatient",
                "Outpatient",
            )),
            _ => {}
        }
    }
    for rep in rxe.field(21).repetitions() {
        let code = val(rep.component(1));
        if code.is_empty() {
            continue;
        }
        if val(rep.component(3)).eq_ignore_ascii_case("MR9P") {
            categories.push(concept(
                system::MERIT9_CATEGORY,
                &code,
                &val(rep.component(2)),
            ));
        } else if let Some(cc) = cx.codeable(rep) {
            categories.push(cc);
        }
    }
    put(&mut r, "category", Some(Value::Array(categories)));

    if item.rxc.is_empty() {
        if let Some(cc) = drug_cc {
            r.insert("medicationCodeableConcept".into(), cc);
        }
    } else {
        r.insert("contained".into(), json!([medication(cx, item)?]));
        r.insert(
            "medicationReference".into(),
            json!({ "reference": "#medication" }),
        );
    }
    r.insert("subject".into(), cx.subject());
    let authored = match orc {
        Some(o) => cx.date_time(o, 9)?,
        None => None,
    };
    let authored = match authored {
        Some(a) => Some(a),
        None => cx.date_time(rxe, 32)?,
    };
    put(&mut r, "authoredOn", authored);
    if let Some(o) = orc {
        put(&mut r, "requester", cx.person(o.field(12).repetition(1)));
        put(&mut r, "recorder", cx.person(o.field(10).repetition(1)));
    }

    // Dosage.
    let mut dosage = Map::new();
    let mut extensions = Vec::new();
    let mut supply = None;
    if let Some(tq1) = &item.tq1 {
        let mut period = Map::new();
        put(&mut period, "start", cx.date_time(tq1, 7)?);
        put(&mut period, "end", cx.date_time(tq1, 8)?);
        if !period.is_empty() {
            extensions.push(json!({
                "url": format!("{}JP_MedicationDosage_PeriodOfUse", codes::JP_CORE_EXTENSION),
                "valuePeriod": Value::Object(period),
            }));
        }
        if let Some(d) = duration(tq1)? {
            if d["code"] == json!("d") {
                supply = Some(d.clone());
            }
            extensions.push(json!({
                "url": format!("{}JP_MedicationDosage_UsageDuration", codes::JP_CORE_EXTENSION),
                "valueDuration": d,
            }));
        }
    }
    put(&mut dosage, "extension", Some(Value::Array(extensions)));
    if let Some(tq1) = &item.tq1 {
        let usage = tq1.field(3).component(1);
        put(
            &mut dosage,
            "text",
            some(usage.subcomponent(2).value().trim().to_string()),
        );
        if let Some(cc) = cx.codeable_sub(usage) {
            dosage.insert("timing".into(), json!({ "code": cc }));
        }
    }
    let instructions: Vec<Value> = rxe
        .field(7)
        .repetitions()
        .filter_map(|rep| cx.codeable(rep))
        .collect();
    put(
        &mut dosage,
        "additionalInstruction",
        Some(Value::Array(instructions)),
    );
    if let Some(rxr) = &item.rxr {
        put(&mut dosage, "site", cx.codeable(rxr.field(2).repetition(1)));
        put(
            &mut dosage,
            "route",
            cx.codeable(rxr.field(1).repetition(1)),
        );
        put(
            &mut dosage,
            "method",
            cx.codeable(rxr.field(4).repetition(1)),
        );
    }
    let mut dose_rate = Map::new();
    let unit = unit_of(rxe.field(5).repetition(1));
    let min = first(rxe, 3);
    let max = first(rxe, 4);
    if !max.is_empty() && max != min {
        let mut range = Map::new();
        put(&mut range, "low", cx.quantity(rxe, 3, &min, unit.clone())?);
        put(&mut range, "high", cx.quantity(rxe, 4, &max, unit)?);
        put(&mut dose_rate, "doseRange", Some(Value::Object(range)));
    } else {
        put(
            &mut dose_rate,
            "doseQuantity",
            cx.quantity(rxe, 3, &min, unit)?,
        );
    }
    let rate = first(rxe, 23);
    let daily = rxe.field(19).component(1).value().trim().to_string();
    if !rate.is_empty() {
        let rate_unit = unit_of(rxe.field(24).repetition(1));
        put(
            &mut dose_rate,
            "rateQuantity",
            cx.quantity(rxe, 23, &rate, rate_unit)?,
        );
    } else if !daily.is_empty() {
        let numerator = cx.quantity(rxe, 19, &daily, unit_sub(rxe.field(19).component(2)))?;
        dose_rate.insert(
            "rateRatio".into(),
            json!({
                "numerator": numerator,
                "denominator": { "value": 1, "unit": "日", "system": system::UCUM, "code": "d" },
            }),
        );
    }
    if !dose_rate.is_empty() {
        dosage.insert("doseAndRate".into(), json!([Value::Object(dose_rate)]));
    }
    put(
        &mut r,
        "dosageInstruction",
        Some(json!([Value::Object(dosage)])),
    );

    let mut dispense = Map::new();
    let amount = first(rxe, 10);
    put(
        &mut dispense,
        "quantity",
        cx.quantity(rxe, 10, &amount, unit_of(rxe.field(11).repetition(1)))?,
    );
    put(&mut dispense, "expectedSupplyDuration", supply);
    let repeats = first(rxe, 12);
    if !repeats.is_empty() {
        match repeats.parse::<u32>() {
            Ok(n) => {
                dispense.insert("numberOfRepeatsAllowed".into(), json!(n));
            }
            Err(_) => {
                return Err(MapError::invalid(
                    rxe,
                    12,
                    format!("'{repeats}' is not a whole number"),
                ))
            }
        }
    }
    put(&mut r, "dispenseRequest", Some(Value::Object(dispense)));
    let notes: Vec<Value> = item
        .notes
        .iter()
        .map(|n| text(n, 3))
        .filter(|t| !t.is_empty())
        .map(|t| json!({ "text": t }))
        .collect();
    put(&mut r, "note", Some(Value::Array(notes)));
    cx.resources.push(Value::Object(r));
    Ok(())
}

/// The contained Medication of an injection: RXE-2 (often a placeholder such
/// as `00^一般`), RXE-6 form, one ingredient per RXC.
fn medication(cx: &Cx<'_>, item: &Request<'_>) -> Result<Value, MapError> {
    let rxe = &item.rxe;
    let mut m = Map::new();
    m.insert("resourceType".into(), json!("Medication"));
    m.insert("id".into(), json!("medication"));
    put(&mut m, "code", cx.codeable(rxe.field(2).repetition(1)));
    let form = rxe.field(6).repetition(1);
    if val(form.component(3)).eq_ignore_ascii_case("MR9P") && !val(form.component(1)).is_empty() {
        m.insert(
            "form".into(),
            concept(
                system::MERIT9_FORM,
                &val(form.component(1)),
                &val(form.component(2)),
            ),
        );
    } else {
        put(&mut m, "form", cx.codeable(form));
    }
    let mut ingredients = Vec::new();
    for rxc in &item.rxc {
        let Some(item_cc) = cx.codeable(rxc.field(2).repetition(1)) else {
            continue;
        };
        let mut ing = Map::new();
        ing.insert("itemCodeableConcept".into(), item_cc);
        ing.insert("isActive".into(), json!(true));
        if let Some(amount) =
            cx.quantity(rxc, 3, &first(rxc, 3), unit_of(rxc.field(4).repetition(1)))?
        {
            ing.insert(
                "strength".into(),
                json!({
                    "numerator": amount,
                    "denominator": { "value": 1, "unit": "回", "system": system::MERIT9_UNIT, "code": "KAI" },
                }),
            );
        }
        ingredients.push(Value::Object(ing));
    }
    put(&mut m, "ingredient", Some(Value::Array(ingredients)));
    Ok(Value::Object(m))
}

struct Given<'m> {
    orc: Option<Segment<'m>>,
    rxas: Vec<Segment<'m>>,
    rxr: Option<Segment<'m>>,
}

/// OMP-11 / OMP-12: one MedicationAdministration per RXA. An RXR after a run of
/// RXA applies to all of them (RAS^O17 administration group).
pub(crate) fn administrations(cx: &mut Cx<'_>) -> Result<(), MapError> {
    let msg = cx.msg;
    let mut groups: Vec<Given<'_>> = Vec::new();
    for seg in msg.segments() {
        match seg.id() {
            "ORC" => groups.push(Given {
                orc: Some(seg),
                rxas: Vec::new(),
                rxr: None,
            }),
            "RXA" => match groups.last_mut() {
                Some(g) => g.rxas.push(seg),
                None => groups.push(Given {
                    orc: None,
                    rxas: vec![seg],
                    rxr: None,
                }),
            },
            "RXR" => {
                if let Some(g) = groups
                    .last_mut()
                    .filter(|g| g.rxr.is_none() && !g.rxas.is_empty())
                {
                    g.rxr = Some(seg);
                }
            }
            _ => {}
        }
    }
    if groups.iter().all(|g| g.rxas.is_empty()) {
        cx.warn("no RXA segment: nothing to map");
    }
    let injection = cx.data_type == "OMP-12";
    for g in &groups {
        for rxa in &g.rxas {
            administration(cx, g, rxa, injection)?;
        }
    }
    Ok(())
}

fn administration(
    cx: &mut Cx<'_>,
    group: &Given<'_>,
    rxa: &Segment<'_>,
    injection: bool,
) -> Result<(), MapError> {
    let orc = group.orc.as_ref();
    let drug = rxa.field(5).repetition(1);
    let Some(drug_cc) = cx.codeable(drug) else {
        cx.warn_at(rxa, 5, "no drug code or name, administration skipped");
        return Ok(());
    };
    let Some(start) = cx.ts(rxa, 3)? else {
        cx.warn_at(rxa, 3, "no administration time, administration skipped");
        return Ok(());
    };
    let end = cx.ts(rxa, 4)?;
    let order_no = order_number(cx, orc, rxa);
    let rp = orc.map(|o| comp(o, 4, 1)).unwrap_or_default();
    let dt = cx.data_type.clone();
    let id = cx.id(
        "MedicationAdministration",
        &[
            &dt,
            &order_no,
            &rp,
            &first(rxa, 2),
            &first(rxa, 3),
            &val(drug.component(1)),
        ],
    );

    let completion = first(rxa, 20).to_ascii_uppercase();
    let status = if first(rxa, 21).eq_ignore_ascii_case("D") {
        "entered-in-error"
    } else {
        match completion.as_str() {
            "" | "CP" => "completed",
            "PA" => "stopped",
            "RE" | "NA" => "not-done",
            other => {
                cx.warn_at(
                    rxa,
                    20,
                    &format!("unknown completion status '{other}', taken as completed"),
                );
                "completed"
            }
        }
    };

    let mut a = Map::new();
    a.insert("resourceType".into(), json!("MedicationAdministration"));
    a.insert("id".into(), json!(id));
    a.insert(
        "meta".into(),
        cx.meta(if injection {
            "JP_MedicationAdministration_Injection"
        } else {
            "JP_MedicationAdministration"
        }),
    );
    let mut identifiers = Vec::new();
    let real_order = !order_no.starts_with("segment:") && !order_no.starts_with("filler:");
    if real_order {
        identifiers.push(cx.identifier("order-number", &order_no));
    }
    if !rp.is_empty() {
        identifiers.push(json!({ "system": system::RP_NUMBER, "value": rp }));
    }
    put(&mut a, "identifier", Some(Value::Array(identifiers)));
    a.insert("status".into(), json!(status));
    a.insert("medicationCodeableConcept".into(), drug_cc);
    a.insert("subject".into(), cx.subject());
    match end.filter(|e| *e != start) {
        Some(e) => {
            a.insert(
                "effectivePeriod".into(),
                json!({ "start": start.to_fhir_date_time(), "end": e.to_fhir_date_time() }),
            );
        }
        None => {
            a.insert("effectiveDateTime".into(), json!(start.to_fhir_date_time()));
        }
    }
    let performers: Vec<Value> = rxa
        .field(10)
        .repetitions()
        .filter_map(|rep| cx.person(rep))
        .map(|p| json!({ "actor": p }))
        .collect();
    put(&mut a, "performer", Some(Value::Array(performers)));
    if real_order {
        a.insert(
            "request".into(),
            json!({ "identifier": cx.identifier("order-number", &order_no) }),
        );
    }
    let notes: Vec<Value> = rxa
        .field(9)
        .repetitions()
        .map(|rep| {
            let t = val(rep.component(2));
            if t.is_empty() {
                val(rep.component(1))
            } else {
                t
            }
        })
        .filter(|t| !t.is_empty())
        .map(|t| json!({ "text": t }))
        .collect();
    put(&mut a, "note", Some(Value::Array(notes)));

    let mut dosage = Map::new();
    put(&mut dosage, "text", some(first(rxa, 12)));
    if let Some(rxr) = &group.rxr {
        put(&mut dosage, "site", cx.codeable(rxr.field(2).repetition(1)));
        put(
            &mut dosage,
            "route",
            cx.codeable(rxr.field(1).repetition(1)),
        );
        put(
            &mut dosage,
            "method",
            cx.codeable(rxr.field(4).repetition(1)),
        );
    }
    put(
        &mut dosage,
        "dose",
        cx.quantity(rxa, 6, &first(rxa, 6), unit_of(rxa.field(7).repetition(1)))?,
    );
    put(&mut a, "dosage", Some(Value::Object(dosage)));
    cx.resources.push(Value::Object(a));
    Ok(())
}
