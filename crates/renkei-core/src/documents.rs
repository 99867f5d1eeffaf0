//! Documents between facilities in their Japanese forms: 入院時情報提供書 (care manager →
//! hospital), 退院・退所情報記録書 (hospital ↔ care manager), 診療情報提供書 (referral letter)
//! and 訪問看護報告書. Each kind is a list of fields; a document is a FHIR `Composition`
//! (one section per field, the value in an extension and as narrative), `preliminary`
//! while a draft and `final` once sent. The due date of the 入院時情報提供書 follows the
//! care-insurance 入院時情報連携加算: provided within three days of admission.
//!
//! No I/O: the web layer stores what [`composition`] builds through `clinical`'s write path
//! and delivers it with `Store::documents`.

use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

/// Code system of the document kinds (`Composition.type`).
pub const KIND_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/document-kind";
/// Code system of the fields (`Composition.section.code`).
pub const FIELD_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/document-field";
/// Extension holding a section's value as typed (the narrative is generated from it).
pub const VALUE_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/document-field-value";
/// Longest value of one field.
pub const MAX_FIELD_CHARS: usize = 4000;
/// Days after admission within which the 入院時情報提供書 is due.
pub const ADMISSION_INFO_DAYS: i64 = 3;

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A date (YYYY-MM-DD).
    Date,
    /// One line.
    Line,
    /// Several lines.
    Text,
}

/// One field of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub key: &'static str,
    pub ja: &'static str,
    pub en: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

const fn f(
    key: &'static str,
    ja: &'static str,
    en: &'static str,
    kind: FieldKind,
    required: bool,
) -> Field {
    Field {
        key,
        ja,
        en,
        kind,
        required,
    }
}

/// One kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub code: &'static str,
    pub ja: &'static str,
    pub en: &'static str,
    /// LOINC document type where one fits (the referral letter).
    pub loinc: Option<(&'static str, &'static str)>,
    pub fields: &'static [Field],
}

use FieldKind::{Date, Line, Text};

pub const ADMISSION_INFO: &str = "admission-info";
pub const DISCHARGE_INFO: &str = "discharge-info";
pub const REFERRAL: &str = "referral";
pub const HOME_NURSING_REPORT: &str = "home-nursing-report";

/// Every kind, in the order the pages offer them.
pub static KINDS: &[Kind] = &[
    Kind {
        code: ADMISSION_INFO,
        ja: "入院時情報提供書",
        en: "Admission information (care manager → hospital)",
        loinc: None,
        fields: &[
            f("admission_date", "入院日", "Admission date", Date, true),
            f(
                "care_level",
                "要介護度・認定有効期間",
                "Care level and certification period",
                Line,
                false,
            ),
            f("living", "住環境・家族構成", "Home and family", Text, false),
            f(
                "key_person",
                "主たる介護者・キーパーソン",
                "Main carer / key person",
                Line,
                false,
            ),
            f(
                "adl",
                "ADL（移動・食事・排泄・入浴）",
                "ADL (mobility, eating, toileting, bathing)",
                Text,
                false,
            ),
            f(
                "cognition",
                "認知機能・精神状態",
                "Cognition and mental state",
                Text,
                false,
            ),
            f(
                "services",
                "利用中の介護サービス",
                "Care services in use",
                Text,
                false,
            ),
            f("medication", "服薬状況", "Medication", Text, false),
            f(
                "wishes",
                "本人・家族の意向",
                "Wishes of the person and family",
                Text,
                false,
            ),
            f(
                "discharge_requests",
                "退院に向けての要望",
                "Requests for discharge",
                Text,
                false,
            ),
        ],
    },
    Kind {
        code: DISCHARGE_INFO,
        ja: "退院・退所情報記録書",
        en: "Discharge information record",
        loinc: None,
        fields: &[
            f(
                "admission_date",
                "入院（入所）日",
                "Admission date",
                Date,
                false,
            ),
            f(
                "discharge_date",
                "退院（退所）予定日",
                "(Planned) discharge date",
                Date,
                true,
            ),
            f("diagnosis", "傷病名", "Diagnoses", Text, false),
            f("course", "入院中の経過", "Course in hospital", Text, false),
            f("adl", "退院時のADL", "ADL at discharge", Text, false),
            f(
                "medical_care",
                "医療処置（吸引・インスリン等）",
                "Medical procedures (suction, insulin…)",
                Text,
                false,
            ),
            f(
                "medication",
                "退院時の服薬",
                "Medication at discharge",
                Text,
                false,
            ),
            f(
                "care_points",
                "在宅生活での留意点",
                "Points for life at home",
                Text,
                false,
            ),
            f(
                "services_needed",
                "必要と考えられるサービス",
                "Services considered necessary",
                Text,
                false,
            ),
            f(
                "conference",
                "退院前カンファレンス",
                "Pre-discharge conference",
                Line,
                false,
            ),
        ],
    },
    Kind {
        code: REFERRAL,
        ja: "診療情報提供書",
        en: "Referral letter",
        loinc: Some(("57133-1", "Referral note")),
        fields: &[
            f("purpose", "紹介目的", "Purpose of referral", Text, true),
            f("diagnosis", "傷病名", "Diagnoses", Text, true),
            f(
                "history",
                "既往歴・家族歴",
                "Past and family history",
                Text,
                false,
            ),
            f(
                "course",
                "症状経過・検査結果・治療経過",
                "Course, results and treatment",
                Text,
                false,
            ),
            f(
                "medication",
                "現在の処方",
                "Current prescriptions",
                Text,
                false,
            ),
            f(
                "allergies",
                "アレルギー・副作用歴",
                "Allergies and adverse reactions",
                Line,
                false,
            ),
            f("remarks", "備考", "Remarks", Text, false),
        ],
    },
    Kind {
        code: HOME_NURSING_REPORT,
        ja: "訪問看護報告書",
        en: "Home-visit nursing report",
        loinc: None,
        fields: &[
            f("period", "報告期間", "Reporting period", Line, true),
            f("visit_dates", "訪問日", "Visit dates", Line, false),
            f(
                "condition",
                "病状の経過",
                "Course of the condition",
                Text,
                true,
            ),
            f(
                "nursing",
                "看護・リハビリテーションの内容",
                "Nursing and rehabilitation given",
                Text,
                false,
            ),
            f(
                "family_care",
                "家庭での介護の状況",
                "Care at home",
                Text,
                false,
            ),
            f(
                "problems",
                "衛生材料・問題点と対応",
                "Supplies, problems and responses",
                Text,
                false,
            ),
            f("remarks", "特記すべき事項", "Remarks", Text, false),
        ],
    },
];

pub fn kind(code: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.code == code)
}

/// A field value that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static Field,
    pub problem: FieldProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    Required,
    TooLong,
    NotADate,
    ControlCharacter,
}

impl FieldProblem {
    pub fn ja(self) -> &'static str {
        match self {
            FieldProblem::Required => "入力してください",
            FieldProblem::TooLong => "長すぎます（4000文字まで）",
            FieldProblem::NotADate => "日付（年-月-日）で入力してください",
            FieldProblem::ControlCharacter => "使えない文字が含まれています",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            FieldProblem::Required => "is required",
            FieldProblem::TooLong => "is too long (4000 characters at most)",
            FieldProblem::NotADate => "must be a date (YYYY-MM-DD)",
            FieldProblem::ControlCharacter => "contains characters that are not allowed",
        }
    }
}

/// Cleans the submitted values of a kind's fields: NFKC-free trimming of each line,
/// CRLF folded, control characters and over-long values refused, dates checked. With
/// `final_check` required fields must be filled (a draft may be incomplete).
pub fn clean_values(
    kind: &'static Kind,
    submitted: &[(String, String)],
    final_check: bool,
) -> Result<Vec<(&'static str, String)>, Vec<FieldError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for field in kind.fields {
        let raw = submitted
            .iter()
            .find(|(k, _)| k == field.key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let mut value = raw
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .trim()
            .to_string();
        if field.kind != Text {
            value = value.replace('\n', " ");
        }
        let problem = if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            Some(FieldProblem::ControlCharacter)
        } else if value.chars().count() > MAX_FIELD_CHARS {
            Some(FieldProblem::TooLong)
        } else if field.kind == Date && !value.is_empty() && parse_date(&value).is_none() {
            Some(FieldProblem::NotADate)
        } else if final_check && field.required && value.is_empty() {
            Some(FieldProblem::Required)
        } else {
            None
        };
        match problem {
            Some(problem) => errors.push(FieldError { field, problem }),
            None => out.push((field.key, value)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

pub(crate) fn escape_xhtml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("<br/>"),
            c => out.push(c),
        }
    }
    out
}

/// What a stored document says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentFacts<'a> {
    pub kind: &'static Kind,
    pub person_id: &'a str,
    pub title: String,
    /// `preliminary` (draft) or `final` (sent).
    pub final_: bool,
    /// RFC 3339.
    pub date: String,
    pub author_display: String,
    pub author_user_id: &'a str,
    pub facility_display: String,
}

/// Extension naming the Renkei user who wrote the document (the author reference carries a
/// display only, like a timeline post's sender).
pub const AUTHOR_USER_EXTENSION: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/document-author-user";

/// The `Composition` of a document.
pub fn composition(facts: &DocumentFacts<'_>, values: &[(&str, String)]) -> Value {
    let mut kind_codings = vec![json!({
        "system": KIND_SYSTEM, "code": facts.kind.code, "display": facts.kind.ja,
    })];
    if let Some((code, display)) = facts.kind.loinc {
        kind_codings
            .push(json!({ "system": "http://loinc.org", "code": code, "display": display }));
    }
    let sections: Vec<Value> = facts
        .kind
        .fields
        .iter()
        .map(|field| {
            let value = values
                .iter()
                .find(|(k, _)| *k == field.key)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            let mut s = json!({
                "title": field.ja,
                "code": { "coding": [{ "system": FIELD_SYSTEM, "code": field.key }] },
                "text": {
                    "status": "generated",
                    "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", escape_xhtml(value)),
                },
            });
            if !value.is_empty() {
                s["extension"] = json!([{ "url": VALUE_EXTENSION, "valueString": value }]);
            } else {
                s["emptyReason"] = json!({ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                    "code": "unavailable",
                }] });
            }
            s
        })
        .collect();
    json!({
        "resourceType": "Composition",
        "status": if facts.final_ { "final" } else { "preliminary" },
        "type": { "coding": kind_codings, "text": facts.kind.ja },
        "subject": { "reference": format!("Patient/{}", facts.person_id) },
        "date": facts.date,
        "author": [{
            "display": facts.author_display,
            "extension": [{ "url": AUTHOR_USER_EXTENSION, "valueString": facts.author_user_id }],
        }],
        "title": facts.title,
        "custodian": { "display": facts.facility_display },
        "section": sections,
    })
}

/// The kind of a stored Composition.
pub fn kind_of(composition: &Value) -> Option<&'static Kind> {
    composition
        .pointer("/type/coding")
        .and_then(Value::as_array)?
        .iter()
        .filter(|c| c["system"].as_str() == Some(KIND_SYSTEM))
        .find_map(|c| c["code"].as_str().and_then(kind))
}

/// The values of a stored Composition, by field key.
pub fn values_of(composition: &Value) -> Vec<(String, String)> {
    composition["section"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let key = s
                .pointer("/code/coding")?
                .as_array()?
                .iter()
                .find(|c| c["system"].as_str() == Some(FIELD_SYSTEM))?["code"]
                .as_str()?;
            let value = s["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["url"].as_str() == Some(VALUE_EXTENSION))
                .and_then(|e| e["valueString"].as_str())
                .unwrap_or("");
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// The Renkei user who wrote a stored Composition.
pub fn author_user(composition: &Value) -> Option<&str> {
    composition
        .pointer("/author/0/extension")?
        .as_array()?
        .iter()
        .find(|e| e["url"].as_str() == Some(AUTHOR_USER_EXTENSION))?["valueString"]
        .as_str()
}

/// Where a 入院時情報提供書 stands against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueStatus {
    /// Sent on or before the due date.
    ProvidedInTime,
    /// Sent after the due date.
    ProvidedLate,
    /// Not sent; due today or within the days left (0 = due today).
    Due { days_left: i64 },
    /// Not sent and past the due date by this many days.
    Overdue { days_late: i64 },
}

/// The last day the 入院時情報提供書 may be provided for an admission on `admitted`.
pub fn admission_info_due(admitted: NaiveDate) -> NaiveDate {
    admitted + Duration::days(ADMISSION_INFO_DAYS)
}

/// The status of the 入院時情報提供書 for an admission on `admitted`, sent on `sent` (if
/// it was), seen on `today` (all Japan dates).
pub fn due_status(admitted: NaiveDate, sent: Option<NaiveDate>, today: NaiveDate) -> DueStatus {
    let due = admission_info_due(admitted);
    match sent {
        Some(s) if s <= due => DueStatus::ProvidedInTime,
        Some(_) => DueStatus::ProvidedLate,
        None if today <= due => DueStatus::Due {
            days_left: (due - today).num_days(),
        },
        None => DueStatus::Overdue {
            days_late: (today - due).num_days(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn admission_info_is_due_three_days_after_admission() {
        let admitted = d("2026-12-01");
        assert_eq!(admission_info_due(admitted), d("2026-12-04"));
        assert_eq!(
            due_status(admitted, None, d("2026-12-01")),
            DueStatus::Due { days_left: 3 }
        );
        assert_eq!(
            due_status(admitted, None, d("2026-12-04")),
            DueStatus::Due { days_left: 0 }
        );
        assert_eq!(
            due_status(admitted, None, d("2026-12-05")),
            DueStatus::Overdue { days_late: 1 }
        );
        assert_eq!(
            due_status(admitted, Some(d("2026-12-04")), d("2026-12-09")),
            DueStatus::ProvidedInTime
        );
        assert_eq!(
            due_status(admitted, Some(d("2026-12-05")), d("2026-12-09")),
            DueStatus::ProvidedLate
        );
        // Across a month end.
        assert_eq!(admission_info_due(d("2026-12-30")), d("2027-01-02"));
    }

    #[test]
    fn values_round_trip_through_the_composition() {
        let kind = kind(ADMISSION_INFO).unwrap();
        let submitted = vec![
            ("admission_date".to_string(), "2026-12-01".to_string()),
            (
                "adl".to_string(),
                "杖歩行\r\n食事は自立 <見守り>".to_string(),
            ),
        ];
        let values = clean_values(kind, &submitted, true).unwrap();
        let facts = DocumentFacts {
            kind,
            person_id: "p1",
            title: kind.ja.into(),
            final_: false,
            date: "2026-12-01T10:00:00+09:00".into(),
            author_display: "佐藤 花子（介護支援専門員）".into(),
            author_user_id: "u1",
            facility_display: "居宅介護支援事業所".into(),
        };
        let c = composition(&facts, &values);
        assert_eq!(kind_of(&c).unwrap().code, ADMISSION_INFO);
        assert_eq!(author_user(&c), Some("u1"));
        let back = values_of(&c);
        assert!(back.contains(&("adl".into(), "杖歩行\n食事は自立 <見守り>".into())));
        let div = c.pointer("/section/4/text/div").unwrap().as_str().unwrap();
        assert!(
            div.contains("&lt;見守り&gt;") && div.contains("<br/>"),
            "{div}"
        );
        renkei_fhir::resource::prepare(&c).expect("a valid Composition");
    }

    #[test]
    fn bad_values_are_refused_by_field() {
        let kind = kind(ADMISSION_INFO).unwrap();
        let errors = clean_values(
            kind,
            &[
                ("admission_date".into(), "12/1".into()),
                ("adl".into(), "x\u{0007}".into()),
                ("wishes".into(), "あ".repeat(MAX_FIELD_CHARS + 1)),
            ],
            true,
        )
        .unwrap_err();
        let problems: Vec<_> = errors.iter().map(|e| (e.field.key, e.problem)).collect();
        assert_eq!(
            problems,
            vec![
                ("admission_date", FieldProblem::NotADate),
                ("adl", FieldProblem::ControlCharacter),
                ("wishes", FieldProblem::TooLong),
            ]
        );
        // A draft may leave required fields empty; sending may not.
        assert!(clean_values(kind, &[], false).is_ok());
        let missing = clean_values(kind, &[], true).unwrap_err();
        assert_eq!(missing[0].problem, FieldProblem::Required);
    }
}
