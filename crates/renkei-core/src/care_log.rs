//! Home vital signs and care records (在宅ケア記録): what nurses and care workers record at a
//! visit beyond the vital signs — food and fluid intake, excretion, sleep, BPSD notes — and
//! the patient-specific limits that alert the care team when a recorded value lies outside.
//!
//! Everything is FHIR: care items are `Observation`s (LOINC where a code exists, otherwise
//! the Renkei care-record code system, documented in docs/fhir.md); the limits are one
//! active `Goal` per patient with category `vital-limits`, one `target` per measure with a
//! `detailRange` — a goal the whole team keeps, and a clear standard place for ranges.
//! No I/O here: the web layer stores through `clinical`.

use renkei_domain::Millis;
use renkei_storage::notifications::{kind, Notification};
use serde_json::{json, Value};

use crate::notify::TeamDirectory;

/// The code system of care items without a LOINC code, and of the limits Goal category.
pub const CARE_RECORD_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/care-record";
/// `Goal.category` code of a patient's alert limits.
pub const LIMITS_CATEGORY: &str = "vital-limits";
const LOINC: &str = "http://loinc.org";

/// One numeric care item a visit records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CareItem {
    /// Form field name.
    pub field: &'static str,
    pub system: &'static str,
    pub code: &'static str,
    pub label_ja: &'static str,
    pub label_en: &'static str,
    pub unit: &'static str,
    pub ucum: &'static str,
    /// Possible values (outside: a typing error).
    pub min: f64,
    pub max: f64,
}

/// The numeric care items, in form order.
pub const CARE_ITEMS: [CareItem; 6] = [
    CareItem {
        field: "meal_staple",
        system: CARE_RECORD_SYSTEM,
        code: "meal-staple",
        label_ja: "主食摂取量",
        label_en: "Staple food eaten",
        unit: "%",
        ucum: "%",
        min: 0.0,
        max: 100.0,
    },
    CareItem {
        field: "meal_side",
        system: CARE_RECORD_SYSTEM,
        code: "meal-side",
        label_ja: "副食摂取量",
        label_en: "Side dishes eaten",
        unit: "%",
        ucum: "%",
        min: 0.0,
        max: 100.0,
    },
    CareItem {
        field: "fluid",
        system: LOINC,
        code: "9108-2",
        label_ja: "水分摂取量（1日）",
        label_en: "Fluid intake (24 h)",
        unit: "mL",
        ucum: "mL",
        min: 0.0,
        max: 6000.0,
    },
    CareItem {
        field: "urination",
        system: CARE_RECORD_SYSTEM,
        code: "urination-count",
        label_ja: "排尿回数（1日）",
        label_en: "Urinations (24 h)",
        unit: "回",
        ucum: "/d",
        min: 0.0,
        max: 40.0,
    },
    CareItem {
        field: "bowel",
        system: CARE_RECORD_SYSTEM,
        code: "bowel-count",
        label_ja: "排便回数（1日）",
        label_en: "Bowel movements (24 h)",
        unit: "回",
        ucum: "/d",
        min: 0.0,
        max: 20.0,
    },
    CareItem {
        field: "sleep",
        system: CARE_RECORD_SYSTEM,
        code: "sleep-hours",
        label_ja: "睡眠時間",
        label_en: "Sleep",
        unit: "時間",
        ucum: "h",
        min: 0.0,
        max: 24.0,
    },
];

/// The code of the free-text observation of behaviour and condition (BPSD, 様子).
pub const BPSD_CODE: &str = "bpsd-note";
/// Longest BPSD note.
pub const MAX_NOTE_CHARS: usize = 1000;

/// The care item of a coding, if it is one.
pub fn care_item_of(system: &str, code: &str) -> Option<&'static CareItem> {
    CARE_ITEMS
        .iter()
        .find(|i| i.system == system && i.code == code)
}

/// The Observations of one visit's care items: one per numeric item, and the note.
pub fn care_resources(
    person: &str,
    effective: &str,
    values: &[(&str, f64)],
    note: Option<&str>,
) -> Vec<Value> {
    let base = |system: &str, code: &str, text: &str| {
        json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey", "display": "Survey" }] }],
            "code": { "coding": [{ "system": system, "code": code, "display": text }], "text": text },
            "subject": { "reference": format!("Patient/{person}") },
            "effectiveDateTime": effective,
        })
    };
    let mut out = Vec::new();
    for item in &CARE_ITEMS {
        let Some(&(_, v)) = values.iter().find(|(f, _)| *f == item.field) else {
            continue;
        };
        let mut o = base(item.system, item.code, item.label_ja);
        o["valueQuantity"] = json!({
            "value": v, "unit": item.unit,
            "system": "http://unitsofmeasure.org", "code": item.ucum,
        });
        out.push(o);
    }
    if let Some(text) = note.filter(|t| !t.trim().is_empty()) {
        let mut o = base(CARE_RECORD_SYSTEM, BPSD_CODE, "BPSD・様子");
        o["valueString"] = json!(text);
        out.push(o);
    }
    out
}

/// A measure the limits can watch: the form field, its LOINC code, label and unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitMeasure {
    pub field: &'static str,
    pub loinc: &'static str,
    pub label_ja: &'static str,
    pub label_en: &'static str,
    pub unit: &'static str,
    pub ucum: &'static str,
    /// Possible values: a limit outside makes no sense.
    pub min: f64,
    pub max: f64,
}

/// The vital signs a patient's limits can watch, in form order.
pub const LIMIT_MEASURES: [LimitMeasure; 7] = [
    LimitMeasure {
        field: "systolic",
        loinc: "8480-6",
        label_ja: "収縮期血圧",
        label_en: "Systolic BP",
        unit: "mmHg",
        ucum: "mm[Hg]",
        min: 40.0,
        max: 300.0,
    },
    LimitMeasure {
        field: "diastolic",
        loinc: "8462-4",
        label_ja: "拡張期血圧",
        label_en: "Diastolic BP",
        unit: "mmHg",
        ucum: "mm[Hg]",
        min: 20.0,
        max: 200.0,
    },
    LimitMeasure {
        field: "pulse",
        loinc: "8867-4",
        label_ja: "脈拍",
        label_en: "Pulse",
        unit: "/min",
        ucum: "/min",
        min: 20.0,
        max: 300.0,
    },
    LimitMeasure {
        field: "spo2",
        loinc: "59408-5",
        label_ja: "SpO2",
        label_en: "SpO2",
        unit: "%",
        ucum: "%",
        min: 50.0,
        max: 100.0,
    },
    LimitMeasure {
        field: "temperature",
        loinc: "8310-5",
        label_ja: "体温",
        label_en: "Temperature",
        unit: "°C",
        ucum: "Cel",
        min: 30.0,
        max: 45.0,
    },
    LimitMeasure {
        field: "weight",
        loinc: "29463-7",
        label_ja: "体重",
        label_en: "Weight",
        unit: "kg",
        ucum: "kg",
        min: 0.3,
        max: 350.0,
    },
    LimitMeasure {
        field: "respiratory_rate",
        loinc: "9279-1",
        label_ja: "呼吸数",
        label_en: "Respiratory rate",
        unit: "/min",
        ucum: "/min",
        min: 3.0,
        max: 80.0,
    },
];

/// A patient's alert range for one measure; either bound may be open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub field: &'static str,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// A patient's limits and why they were set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub limits: Vec<Limit>,
    /// The reason given (e.g. 心不全: 体重増加に注意).
    pub note: String,
}

/// A value outside a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub field: &'static str,
    pub value: f64,
    /// `low` or `high`.
    pub side: &'static str,
    pub bound: f64,
}

impl Limits {
    /// Checks typed bounds: each inside the measure's possible range, low below high, and
    /// at least one bound in all. Errors are (field, problem) for the form.
    pub fn check(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        for l in &self.limits {
            let Some(m) = measure(l.field) else {
                continue;
            };
            let outside = |v: f64| !(m.min..=m.max).contains(&v) || !v.is_finite();
            if l.low.is_some_and(outside) || l.high.is_some_and(outside) {
                problems.push((l.field, "out_of_range"));
            } else if let (Some(lo), Some(hi)) = (l.low, l.high) {
                if lo >= hi {
                    problems.push((l.field, "low_not_below_high"));
                }
            }
        }
        if self
            .limits
            .iter()
            .all(|l| l.low.is_none() && l.high.is_none())
        {
            problems.push(("", "none"));
        }
        problems
    }

    /// The values (form field, value) outside these limits.
    pub fn breaches(&self, values: &[(&str, f64)]) -> Vec<Breach> {
        let mut out = Vec::new();
        for l in &self.limits {
            let Some(&(_, v)) = values.iter().find(|(f, _)| *f == l.field) else {
                continue;
            };
            if let Some(lo) = l.low.filter(|lo| v < *lo) {
                out.push(Breach {
                    field: l.field,
                    value: v,
                    side: "low",
                    bound: lo,
                });
            } else if let Some(hi) = l.high.filter(|hi| v > *hi) {
                out.push(Breach {
                    field: l.field,
                    value: v,
                    side: "high",
                    bound: hi,
                });
            }
        }
        out
    }

    /// The limits as an active FHIR `Goal` about the person.
    pub fn to_goal(&self, person: &str, start_date: &str) -> Value {
        let targets: Vec<Value> = self
            .limits
            .iter()
            .filter(|l| l.low.is_some() || l.high.is_some())
            .filter_map(|l| {
                let m = measure(l.field)?;
                let q = |v: f64| {
                    json!({ "value": v, "unit": m.unit,
                            "system": "http://unitsofmeasure.org", "code": m.ucum })
                };
                let mut range = serde_json::Map::new();
                if let Some(lo) = l.low {
                    range.insert("low".into(), q(lo));
                }
                if let Some(hi) = l.high {
                    range.insert("high".into(), q(hi));
                }
                Some(json!({
                    "measure": { "coding": [{ "system": LOINC, "code": m.loinc, "display": m.label_en }],
                                 "text": m.label_ja },
                    "detailRange": Value::Object(range),
                }))
            })
            .collect();
        let mut goal = json!({
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "category": [{ "coding": [{ "system": CARE_RECORD_SYSTEM, "code": LIMITS_CATEGORY,
                                        "display": "個別アラート範囲" }] }],
            "description": { "text": "在宅バイタルサインの個別アラート範囲" },
            "subject": { "reference": format!("Patient/{person}") },
            "startDate": start_date,
            "target": targets,
        });
        if !self.note.trim().is_empty() {
            goal["note"] = json!([{ "text": self.note }]);
        }
        goal
    }

    /// The limits of a limits `Goal` (unknown measures are skipped).
    pub fn from_goal(goal: &Value) -> Limits {
        let mut limits = Vec::new();
        for t in goal["target"].as_array().into_iter().flatten() {
            let code = t["measure"]["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["system"] == LOINC)
                .and_then(|c| c["code"].as_str());
            let Some(m) = code.and_then(|c| LIMIT_MEASURES.iter().find(|m| m.loinc == c)) else {
                continue;
            };
            limits.push(Limit {
                field: m.field,
                low: t["detailRange"]["low"]["value"].as_f64(),
                high: t["detailRange"]["high"]["value"].as_f64(),
            });
        }
        let note = goal["note"]
            .as_array()
            .and_then(|n| n.first())
            .and_then(|n| n["text"].as_str())
            .unwrap_or_default()
            .to_string();
        Limits { limits, note }
    }
}

/// Whether a `Goal` is a patient's limits.
pub fn is_limits_goal(goal: &Value) -> bool {
    goal["category"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["coding"].as_array().into_iter().flatten())
        .any(|c| c["system"] == CARE_RECORD_SYSTEM && c["code"] == LIMITS_CATEGORY)
}

/// The measure of a form field.
pub fn measure(field: &str) -> Option<&'static LimitMeasure> {
    LIMIT_MEASURES.iter().find(|m| m.field == field)
}

/// The notifications a visit with values outside the limits causes: every member of the
/// care team but the author, linking to the care log entry.
pub fn notifications_for_breach(
    dir: &TeamDirectory,
    person_id: &str,
    author_user_id: &str,
    author_facility_id: &str,
    source_id: &str,
    at: Millis,
) -> Vec<Notification> {
    dir.users
        .iter()
        .filter(|u| u.user_id != author_user_id)
        .map(|u| Notification {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: u.user_id.clone(),
            kind: kind::VITAL_LIMIT.to_string(),
            person_id: Some(person_id.to_string()),
            actor_user_id: Some(author_user_id.to_string()),
            actor_facility_id: Some(author_facility_id.to_string()),
            source_id: Some(source_id.to_string()),
            link: format!("/patients/{person_id}/care-log#obs-{source_id}"),
            created_at: at,
            read_at: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            limits: vec![
                Limit {
                    field: "systolic",
                    low: Some(90.0),
                    high: Some(160.0),
                },
                Limit {
                    field: "weight",
                    low: None,
                    high: Some(52.0),
                },
                Limit {
                    field: "spo2",
                    low: Some(93.0),
                    high: None,
                },
            ],
            note: "心不全：体重 52 kg を超えたら連絡".into(),
        }
    }

    #[test]
    fn values_outside_the_patients_limits_are_breaches_and_bounds_are_inclusive() {
        let l = limits();
        let found = l.breaches(&[
            ("systolic", 172.0),
            ("weight", 52.0),
            ("spo2", 91.0),
            ("pulse", 140.0),
        ]);
        assert_eq!(
            found,
            vec![
                Breach {
                    field: "systolic",
                    value: 172.0,
                    side: "high",
                    bound: 160.0
                },
                Breach {
                    field: "spo2",
                    value: 91.0,
                    side: "low",
                    bound: 93.0
                },
            ],
            "52 kg is on the bound (not outside); pulse has no limit"
        );
    }

    #[test]
    fn limits_round_trip_through_a_goal_and_bad_bounds_are_named() {
        let l = limits();
        let goal = l.to_goal("p1", "2026-12-03");
        assert!(is_limits_goal(&goal));
        assert_eq!(goal["target"].as_array().unwrap().len(), 3);
        assert_eq!(Limits::from_goal(&goal), l);
        let bad = Limits {
            limits: vec![
                Limit {
                    field: "systolic",
                    low: Some(160.0),
                    high: Some(90.0),
                },
                Limit {
                    field: "spo2",
                    low: Some(120.0),
                    high: None,
                },
            ],
            note: String::new(),
        };
        assert_eq!(
            bad.check(),
            vec![("systolic", "low_not_below_high"), ("spo2", "out_of_range")]
        );
        assert_eq!(Limits::default().check(), vec![("", "none")]);
    }

    #[test]
    fn care_items_become_observations_with_their_codes() {
        let obs = care_resources(
            "p1",
            "2026-12-03T10:00:00+09:00",
            &[("fluid", 800.0), ("meal_staple", 50.0)],
            Some("夕方に落ち着かず、帰宅願望あり"),
        );
        assert_eq!(obs.len(), 3);
        assert_eq!(obs[0]["code"]["coding"][0]["code"], "meal-staple");
        assert_eq!(obs[1]["code"]["coding"][0]["code"], "9108-2");
        assert_eq!(obs[1]["valueQuantity"]["value"], 800.0);
        assert_eq!(obs[2]["valueString"], "夕方に落ち着かず、帰宅願望あり");
        assert_eq!(
            care_item_of(CARE_RECORD_SYSTEM, "sleep-hours")
                .unwrap()
                .field,
            "sleep"
        );
    }
}
