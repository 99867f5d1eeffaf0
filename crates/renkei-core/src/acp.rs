//! Advance care planning (ACP, 人生会議) and DNAR wishes, kept as FHIR R4 `Consent` resources
//! with scope `adr` (advance directive) in the clinical store, so they pass the same write
//! path (validation, contribution rule, Provenance, audit) and the same access decision as
//! every other clinical record. They are emergency information (`renkei_fhir` puts them in
//! `InfoCategory::Emergency`), so break-glass shows them to an ambulance crew.
//!
//! A record is never edited: each discussion or review creates a new `Consent`, and the
//! newest one is the patient's current wishes; the older ones are the history. The MHLW
//! guideline (人生の最終段階における医療・ケアの決定プロセスに関するガイドライン) asks for the
//! wishes to be revisited as the patient's condition changes, so every record carries a
//! next-review date and the recording facility is reminded when it comes due.

use chrono::NaiveDate;
use renkei_domain::Lang;
use serde_json::{json, Value};

/// FHIR R4 Consent.scope.
pub const CONSENT_SCOPE_SYSTEM: &str = renkei_fhir::category::CONSENT_SCOPE_SYSTEM;
pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
/// LOINC 42348-3 "Advance directives".
pub const ADVANCE_DIRECTIVES: &str = "42348-3";
/// The policy the discussion follows: the MHLW guideline on decisions at the end of life.
pub const MHLW_GUIDELINE: &str = "https://www.mhlw.go.jp/stf/houdou/0000197665.html";
/// Renkei's extensions (documented in docs/fhir.md).
pub const EXT_BASE: &str = "https://renkei.example.jp/fhir/StructureDefinition/";
pub const EXT_NEXT_REVIEW: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/acp-next-review";
pub const EXT_WISHES: &str = "https://renkei.example.jp/fhir/StructureDefinition/acp-wishes";
pub const EXT_PLACE: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/acp-preferred-place";
pub const EXT_SURROGATE: &str = "https://renkei.example.jp/fhir/StructureDefinition/acp-surrogate";
pub const EXT_PARTICIPANTS: &str =
    "https://renkei.example.jp/fhir/StructureDefinition/acp-participants";
pub const EXT_STATED_BY: &str = "https://renkei.example.jp/fhir/StructureDefinition/acp-stated-by";
/// The code system of the preferred place of care at the end of life.
pub const PLACE_SYSTEM: &str = "https://renkei.example.jp/fhir/CodeSystem/acp-place";

/// A life-sustaining treatment the patient may accept or decline (SNOMED CT procedures, the
/// set used by IHE PCC and national ACP guides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervention {
    pub key: &'static str,
    pub snomed: &'static str,
    pub display: &'static str,
    pub ja: &'static str,
    pub en: &'static str,
}

impl Intervention {
    pub fn label(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => self.ja,
            Lang::En => self.en,
        }
    }
}

pub const CPR: &str = "cpr";

pub const INTERVENTIONS: [Intervention; 6] = [
    Intervention {
        key: CPR,
        snomed: "89666000",
        display: "Cardiopulmonary resuscitation",
        ja: "心肺蘇生（CPR）",
        en: "Cardiopulmonary resuscitation (CPR)",
    },
    Intervention {
        key: "ventilation",
        snomed: "40617009",
        display: "Artificial ventilation",
        ja: "気管挿管・人工呼吸器",
        en: "Intubation and mechanical ventilation",
    },
    Intervention {
        key: "icu",
        snomed: "305351004",
        display: "Admission to intensive care unit",
        ja: "集中治療室（ICU）での治療",
        en: "Intensive care (ICU)",
    },
    Intervention {
        key: "hospital",
        snomed: "32485007",
        display: "Hospital admission",
        ja: "救急搬送・入院",
        en: "Transfer to hospital and admission",
    },
    Intervention {
        key: "tube_feeding",
        snomed: "61420007",
        display: "Tube feeding of patient",
        ja: "経管栄養（胃ろう等）",
        en: "Tube feeding (incl. gastrostomy)",
    },
    Intervention {
        key: "dialysis",
        snomed: "265764009",
        display: "Renal dialysis",
        ja: "人工透析",
        en: "Dialysis",
    },
];

pub fn intervention(key: &str) -> Option<&'static Intervention> {
    INTERVENTIONS.iter().find(|i| i.key == key)
}

/// What the patient wants for one intervention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Wanted,
    Declined,
    Undecided,
}

impl Choice {
    pub fn code(self) -> &'static str {
        match self {
            Choice::Wanted => "wanted",
            Choice::Declined => "declined",
            Choice::Undecided => "undecided",
        }
    }

    pub fn from_code(code: &str) -> Option<Choice> {
        [Choice::Wanted, Choice::Declined, Choice::Undecided]
            .into_iter()
            .find(|c| c.code() == code)
    }

    pub fn label(self, lang: Lang, key: &str) -> &'static str {
        match (self, lang, key == CPR) {
            (Choice::Declined, Lang::Ja, true) => "希望しない（DNAR）",
            (Choice::Declined, Lang::En, true) => "Declined (DNAR)",
            (Choice::Wanted, Lang::Ja, _) => "希望する",
            (Choice::Wanted, Lang::En, _) => "Wanted",
            (Choice::Declined, Lang::Ja, false) => "希望しない",
            (Choice::Declined, Lang::En, false) => "Declined",
            (Choice::Undecided, Lang::Ja, _) => "未定・話し合い中",
            (Choice::Undecided, Lang::En, _) => "Undecided",
        }
    }
}

/// Preferred place of care at the end of life.
pub const PLACES: [(&str, &str, &str); 5] = [
    ("home", "自宅", "Home"),
    ("care-facility", "介護施設", "Care facility"),
    ("hospital", "病院", "Hospital"),
    (
        "palliative-care-unit",
        "緩和ケア病棟",
        "Palliative care unit",
    ),
    ("undecided", "未定", "Undecided"),
];

pub fn place_label(code: &str, lang: Lang) -> &'static str {
    PLACES
        .iter()
        .find(|p| p.0 == code)
        .map(|p| match lang {
            Lang::Ja => p.1,
            Lang::En => p.2,
        })
        .unwrap_or("")
}

/// Who expressed the wishes.
pub const STATED_BY: [(&str, &str, &str); 2] = [
    ("patient", "本人", "The patient"),
    (
        "surrogate",
        "代理意思決定者（本人の推定意思）",
        "The surrogate (the patient's presumed wishes)",
    ),
];

pub fn stated_by_label(code: &str, lang: Lang) -> &'static str {
    STATED_BY
        .iter()
        .find(|p| p.0 == code)
        .map(|p| match lang {
            Lang::Ja => p.1,
            Lang::En => p.2,
        })
        .unwrap_or("")
}

/// The longest free text kept (wishes and values).
pub const MAX_WISHES_CHARS: usize = 2000;
/// Reviews are due at most this far ahead (the guideline asks for repeated discussion).
pub const MAX_REVIEW_DAYS: i64 = 366;
/// The default interval to the next review.
pub const DEFAULT_REVIEW_DAYS: i64 = 180;
/// A review is flagged as due this many days ahead.
pub const REVIEW_NOTICE_DAYS: i64 = 30;

/// The form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AcpForm {
    #[serde(default)]
    pub cpr: String,
    #[serde(default)]
    pub ventilation: String,
    #[serde(default)]
    pub icu: String,
    #[serde(default)]
    pub hospital: String,
    #[serde(default)]
    pub tube_feeding: String,
    #[serde(default)]
    pub dialysis: String,
    #[serde(default)]
    pub wishes: String,
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub stated_by: String,
    #[serde(default)]
    pub surrogate_name: String,
    #[serde(default)]
    pub surrogate_relationship: String,
    #[serde(default)]
    pub participants: String,
    #[serde(default)]
    pub discussed_on: String,
    #[serde(default)]
    pub next_review: String,
}

impl AcpForm {
    fn choice_text(&self, key: &str) -> &str {
        match key {
            "cpr" => &self.cpr,
            "ventilation" => &self.ventilation,
            "icu" => &self.icu,
            "hospital" => &self.hospital,
            "tube_feeding" => &self.tube_feeding,
            "dialysis" => &self.dialysis,
            _ => "",
        }
    }

    /// A new form for `today`, or a review of `current` (its choices carried over).
    pub fn prefilled(current: Option<&AcpRecord>, today: NaiveDate) -> AcpForm {
        let mut form = AcpForm {
            discussed_on: today.format("%Y-%m-%d").to_string(),
            next_review: (today + chrono::Duration::days(DEFAULT_REVIEW_DAYS))
                .format("%Y-%m-%d")
                .to_string(),
            stated_by: "patient".into(),
            ..AcpForm::default()
        };
        let Some(c) = current else { return form };
        for (i, choice) in &c.choices {
            let code = choice.code().to_string();
            match i.key {
                "cpr" => form.cpr = code,
                "ventilation" => form.ventilation = code,
                "icu" => form.icu = code,
                "hospital" => form.hospital = code,
                "tube_feeding" => form.tube_feeding = code,
                "dialysis" => form.dialysis = code,
                _ => {}
            }
        }
        form.wishes = c.wishes.clone();
        form.place = c.place.clone();
        form.stated_by = c.stated_by.clone();
        form.surrogate_name = c.surrogate_name.clone();
        form.surrogate_relationship = c.surrogate_relationship.clone();
        form
    }
}

/// A refusal of one field, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpError {
    pub field: &'static str,
    pub ja: String,
    pub en: String,
}

impl AcpError {
    fn new(field: &'static str, ja: impl Into<String>, en: impl Into<String>) -> Self {
        AcpError {
            field,
            ja: ja.into(),
            en: en.into(),
        }
    }

    pub fn message(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ja => &self.ja,
            Lang::En => &self.en,
        }
    }
}

/// Checked input.
#[derive(Debug, Clone, PartialEq)]
pub struct AcpInput {
    pub choices: Vec<(&'static Intervention, Choice)>,
    pub wishes: String,
    pub place: String,
    pub stated_by: String,
    pub surrogate_name: String,
    pub surrogate_relationship: String,
    pub participants: String,
    pub discussed_on: NaiveDate,
    pub next_review: NaiveDate,
}

fn text(
    errors: &mut Vec<AcpError>,
    field: &'static str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> String {
    let value = if multiline {
        raw.replace("\r\n", "\n").trim().to_string()
    } else {
        match renkei_domain::text::clean(field, raw, max, false) {
            Ok(v) => v,
            Err(e) => {
                errors.push(AcpError::new(
                    field,
                    e.message(Lang::Ja),
                    e.message(Lang::En),
                ));
                return String::new();
            }
        }
    };
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(AcpError::new(
            field,
            "使用できない制御文字が含まれています",
            "Contains control characters",
        ));
        return String::new();
    }
    if value.chars().count() > max {
        errors.push(AcpError::new(
            field,
            format!("{max}文字以内で入力してください"),
            format!("At most {max} characters"),
        ));
        return String::new();
    }
    value
}

fn date(errors: &mut Vec<AcpError>, field: &'static str, raw: &str) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(AcpError::new(
                field,
                "日付は 2026-04-01 の形式で入力してください",
                "Enter a date as 2026-04-01",
            ));
            None
        }
    }
}

/// Checks the form. `today` is the Japanese calendar date: a discussion cannot be in the
/// future, and the next review must come after it, within a year.
pub fn check(form: &AcpForm, today: NaiveDate) -> Result<AcpInput, Vec<AcpError>> {
    let mut errors = Vec::new();
    let mut choices = Vec::new();
    for i in &INTERVENTIONS {
        let raw = form.choice_text(i.key).trim();
        let choice = if raw.is_empty() {
            Some(Choice::Undecided)
        } else {
            Choice::from_code(raw)
        };
        match choice {
            Some(c) => choices.push((i, c)),
            None => errors.push(AcpError::new(
                i.key,
                format!("{}：選択肢から選んでください", i.ja),
                format!("{}: choose one of the options", i.en),
            )),
        }
    }
    let wishes = text(&mut errors, "wishes", &form.wishes, MAX_WISHES_CHARS, true);
    let place = form.place.trim().to_string();
    if !place.is_empty() && !PLACES.iter().any(|p| p.0 == place) {
        errors.push(AcpError::new(
            "place",
            "希望する療養場所：選択肢から選んでください",
            "Preferred place: choose one of the options",
        ));
    }
    let stated_by = form.stated_by.trim().to_string();
    if !STATED_BY.iter().any(|p| p.0 == stated_by) {
        errors.push(AcpError::new(
            "stated_by",
            "意思の表明者：選択肢から選んでください",
            "Stated by: choose one of the options",
        ));
    }
    let surrogate_name = text(
        &mut errors,
        "surrogate_name",
        &form.surrogate_name,
        100,
        false,
    );
    let surrogate_relationship = text(
        &mut errors,
        "surrogate_relationship",
        &form.surrogate_relationship,
        50,
        false,
    );
    if stated_by == "surrogate" && surrogate_name.is_empty() {
        errors.push(AcpError::new(
            "surrogate_name",
            "代理意思決定者が表明した場合は、その氏名を入力してください",
            "Name the surrogate who stated the wishes",
        ));
    }
    let participants = text(&mut errors, "participants", &form.participants, 500, false);
    if participants.is_empty() {
        errors.push(AcpError::new(
            "participants",
            "話し合いの参加者を入力してください（本人・家族・職種など）",
            "Name who took part in the discussion (patient, family, professions)",
        ));
    }
    let discussed_on = date(&mut errors, "discussed_on", &form.discussed_on);
    let next_review = date(&mut errors, "next_review", &form.next_review);
    if let Some(d) = discussed_on {
        if d > today {
            errors.push(AcpError::new(
                "discussed_on",
                "話し合いの日は今日以前の日付にしてください",
                "The discussion cannot be in the future",
            ));
        } else if (today - d).num_days() > MAX_REVIEW_DAYS {
            errors.push(AcpError::new(
                "discussed_on",
                "1年以上前の話し合いは、改めて確認してから記録してください",
                "A discussion more than a year ago must be confirmed again before recording",
            ));
        }
        if let Some(r) = next_review {
            if r <= d || r <= today {
                errors.push(AcpError::new(
                    "next_review",
                    "次回見直し日は話し合いの日と今日より後にしてください",
                    "The next review must come after the discussion and after today",
                ));
            } else if (r - d).num_days() > MAX_REVIEW_DAYS {
                errors.push(AcpError::new(
                    "next_review",
                    "次回見直し日は話し合いから1年以内にしてください",
                    "The next review must be within a year of the discussion",
                ));
            }
        }
    }
    match (errors.is_empty(), discussed_on, next_review) {
        (true, Some(discussed_on), Some(next_review)) => Ok(AcpInput {
            choices,
            wishes,
            place,
            stated_by,
            surrogate_name,
            surrogate_relationship,
            participants,
            discussed_on,
            next_review,
        }),
        _ => Err(errors),
    }
}

/// Who recorded it, as shown to every reader.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub name: String,
    pub profession: String,
    pub facility: String,
}

fn ext_string(url: &str, value: &str) -> Option<Value> {
    (!value.is_empty()).then(|| json!({ "url": url, "valueString": value }))
}

/// The record as a FHIR R4 `Consent` (scope `adr`) about `Patient/<person>`.
pub fn to_fhir(input: &AcpInput, person: &str, recorder: &Recorder) -> Value {
    let provisions: Vec<Value> = input
        .choices
        .iter()
        .filter(|(_, c)| *c != Choice::Undecided)
        .map(|(i, c)| {
            json!({
                "type": if *c == Choice::Wanted { "permit" } else { "deny" },
                "code": [{
                    "coding": [{ "system": SNOMED, "code": i.snomed, "display": i.display }],
                    "text": i.ja,
                }],
            })
        })
        .collect();
    let mut extensions: Vec<Value> = vec![json!({
        "url": EXT_NEXT_REVIEW,
        "valueDate": input.next_review.format("%Y-%m-%d").to_string(),
    })];
    extensions.extend(ext_string(EXT_WISHES, &input.wishes));
    if !input.place.is_empty() {
        extensions.push(json!({
            "url": EXT_PLACE,
            "valueCodeableConcept": {
                "coding": [{ "system": PLACE_SYSTEM, "code": input.place, "display": place_label(&input.place, Lang::En) }],
                "text": place_label(&input.place, Lang::Ja),
            },
        }));
    }
    let surrogate = match (
        input.surrogate_name.as_str(),
        input.surrogate_relationship.as_str(),
    ) {
        ("", _) => String::new(),
        (name, "") => name.to_string(),
        (name, rel) => format!("{name}（{rel}）"),
    };
    extensions.extend(ext_string(EXT_SURROGATE, &surrogate));
    extensions.extend(ext_string(EXT_PARTICIPANTS, &input.participants));
    extensions.push(json!({ "url": EXT_STATED_BY, "valueCode": input.stated_by }));
    let mut consent = json!({
        "resourceType": "Consent",
        "extension": extensions,
        "status": "active",
        "scope": { "coding": [{ "system": CONSENT_SCOPE_SYSTEM, "code": "adr", "display": "Advance Directive" }] },
        "category": [{ "coding": [{ "system": LOINC, "code": ADVANCE_DIRECTIVES, "display": "Advance directives" }], "text": "人生会議（ACP）" }],
        "patient": { "reference": format!("Patient/{person}") },
        "dateTime": input.discussed_on.format("%Y-%m-%d").to_string(),
        "performer": [{ "display": format!("{}（{}）", recorder.name, recorder.profession) }],
        "organization": [{ "display": recorder.facility }],
        "policy": [{ "uri": MHLW_GUIDELINE }],
    });
    if !provisions.is_empty() {
        consent["provision"] = json!({ "provision": provisions });
    }
    consent
}

/// Whether a stored resource is an ACP record.
pub fn is_acp(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Consent")
        && resource
            .pointer("/scope/coding")
            .and_then(Value::as_array)
            .is_some_and(|codings| {
                codings.iter().any(|c| {
                    c.get("system").and_then(Value::as_str) == Some(CONSENT_SCOPE_SYSTEM)
                        && c.get("code").and_then(Value::as_str) == Some("adr")
                })
            })
}

/// A stored ACP record, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AcpRecord {
    pub id: String,
    pub active: bool,
    pub choices: Vec<(&'static Intervention, Choice)>,
    pub wishes: String,
    pub place: String,
    pub stated_by: String,
    pub surrogate: String,
    pub surrogate_name: String,
    pub surrogate_relationship: String,
    pub participants: String,
    /// `Consent.dateTime` as stored (a date or a date-time).
    pub discussed_on: String,
    pub next_review: Option<NaiveDate>,
    pub recorded_by: String,
    pub organization: String,
}

impl AcpRecord {
    pub fn choice(&self, key: &str) -> Choice {
        self.choices
            .iter()
            .find(|(i, _)| i.key == key)
            .map(|(_, c)| *c)
            .unwrap_or(Choice::Undecided)
    }

    /// Resuscitation declined.
    pub fn dnar(&self) -> bool {
        self.choice(CPR) == Choice::Declined
    }
}

fn ext<'a>(resource: &'a Value, url: &str) -> Option<&'a Value> {
    resource
        .get("extension")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(url))
}

fn ext_str<'a>(resource: &'a Value, url: &str, key: &str) -> &'a str {
    ext(resource, url)
        .and_then(|e| e.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Reads an ACP `Consent` (from this system or another that follows docs/fhir.md).
pub fn from_fhir(id: &str, resource: &Value) -> Option<AcpRecord> {
    if !is_acp(resource) {
        return None;
    }
    let mut choices: Vec<(&'static Intervention, Choice)> = Vec::new();
    let nested = resource
        .pointer("/provision/provision")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for i in &INTERVENTIONS {
        let found = nested.iter().find(|p| {
            p.get("code")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|c| {
                    c.get("coding")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .any(|c| {
                    c.get("system").and_then(Value::as_str) == Some(SNOMED)
                        && c.get("code").and_then(Value::as_str) == Some(i.snomed)
                })
        });
        let choice = match found.and_then(|p| p.get("type")).and_then(Value::as_str) {
            Some("permit") => Choice::Wanted,
            Some("deny") => Choice::Declined,
            _ => Choice::Undecided,
        };
        choices.push((i, choice));
    }
    let place = ext(resource, EXT_PLACE)
        .and_then(|e| e.pointer("/valueCodeableConcept/coding/0/code"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let surrogate = ext_str(resource, EXT_SURROGATE, "valueString").to_string();
    // Split "name（relationship）" back for the review form.
    let (surrogate_name, surrogate_relationship) = match surrogate
        .strip_suffix('）')
        .and_then(|s| s.split_once('（'))
    {
        Some((n, r)) => (n.to_string(), r.to_string()),
        None => (surrogate.clone(), String::new()),
    };
    let display = |pointer: &str| {
        resource
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Some(AcpRecord {
        id: id.to_string(),
        active: resource.get("status").and_then(Value::as_str) == Some("active"),
        choices,
        wishes: ext_str(resource, EXT_WISHES, "valueString").to_string(),
        place,
        stated_by: ext_str(resource, EXT_STATED_BY, "valueCode").to_string(),
        surrogate,
        surrogate_name,
        surrogate_relationship,
        participants: ext_str(resource, EXT_PARTICIPANTS, "valueString").to_string(),
        discussed_on: display("/dateTime"),
        next_review: NaiveDate::parse_from_str(
            ext_str(resource, EXT_NEXT_REVIEW, "valueDate"),
            "%Y-%m-%d",
        )
        .ok(),
        recorded_by: display("/performer/0/display"),
        organization: display("/organization/0/display"),
    })
}

/// Where a record stands against its review date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    /// Not due within `REVIEW_NOTICE_DAYS`.
    Current,
    /// Due within `REVIEW_NOTICE_DAYS` (days left).
    DueSoon(i64),
    /// Past its review date (days overdue); also a record without one.
    Overdue(i64),
}

pub fn review_state(record: &AcpRecord, today: NaiveDate) -> ReviewState {
    match record.next_review {
        None => ReviewState::Overdue(0),
        Some(d) if d < today => ReviewState::Overdue((today - d).num_days()),
        Some(d) if (d - today).num_days() <= REVIEW_NOTICE_DAYS => {
            ReviewState::DueSoon((d - today).num_days())
        }
        Some(_) => ReviewState::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn form() -> AcpForm {
        AcpForm {
            cpr: "declined".into(),
            ventilation: "declined".into(),
            icu: "undecided".into(),
            hospital: "wanted".into(),
            tube_feeding: "declined".into(),
            dialysis: String::new(),
            wishes: "最期まで自宅で過ごしたい。\r\n痛みは取ってほしい。".into(),
            place: "home".into(),
            stated_by: "patient".into(),
            surrogate_name: "山田 花子".into(),
            surrogate_relationship: "長女".into(),
            participants: "本人、長女、訪問診療医、訪問看護師、ケアマネジャー".into(),
            discussed_on: "2026-11-20".into(),
            next_review: "2027-05-20".into(),
        }
    }

    fn recorder() -> Recorder {
        Recorder {
            name: "佐藤 一郎".into(),
            profession: "介護支援専門員".into(),
            facility: "苫小牧居宅介護支援事業所".into(),
        }
    }

    #[test]
    fn a_record_survives_the_round_trip_through_fhir() {
        let input = check(&form(), day("2026-12-02")).unwrap();
        let resource = to_fhir(&input, "p1", &recorder());
        let prepared = renkei_fhir::resource::prepare(&resource);
        let prepared = match prepared {
            Ok(p) => p,
            Err(issues) => panic!("{issues:?}"),
        };
        assert_eq!(
            prepared.category,
            renkei_domain::patient::InfoCategory::Emergency
        );
        assert_eq!(prepared.patient_reference.as_deref(), Some("Patient/p1"));
        let back = from_fhir("c1", &resource).unwrap();
        assert!(back.dnar());
        assert_eq!(back.choice("hospital"), Choice::Wanted);
        assert_eq!(back.choice("icu"), Choice::Undecided);
        assert_eq!(back.choice("dialysis"), Choice::Undecided);
        assert_eq!(
            back.wishes,
            "最期まで自宅で過ごしたい。\n痛みは取ってほしい。"
        );
        assert_eq!(back.place, "home");
        assert_eq!(back.surrogate, "山田 花子（長女）");
        assert_eq!(back.surrogate_name, "山田 花子");
        assert_eq!(back.surrogate_relationship, "長女");
        assert_eq!(back.next_review, Some(day("2027-05-20")));
        assert_eq!(back.discussed_on, "2026-11-20");
        assert_eq!(back.recorded_by, "佐藤 一郎（介護支援専門員）");
        assert_eq!(back.organization, "苫小牧居宅介護支援事業所");
        let again = AcpForm::prefilled(Some(&back), day("2026-12-02"));
        assert_eq!(again.cpr, "declined");
        assert_eq!(again.surrogate_relationship, "長女");
    }

    #[test]
    fn bad_input_is_refused_field_by_field() {
        let today = day("2026-12-02");
        let mut f = form();
        f.cpr = "maybe".into();
        f.discussed_on = "2026-12-03".into();
        f.place = "moon".into();
        f.participants = " ".into();
        let errors = check(&f, today).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert!(fields.contains(&"cpr"));
        assert!(fields.contains(&"discussed_on"));
        assert!(fields.contains(&"place"));
        assert!(fields.contains(&"participants"));

        let mut f = form();
        f.next_review = "2026-11-30".into();
        assert_eq!(check(&f, today).unwrap_err()[0].field, "next_review");
        f.next_review = "2028-01-01".into();
        assert_eq!(check(&f, today).unwrap_err()[0].field, "next_review");
        f.next_review = "2027/01/01".into();
        assert_eq!(check(&f, today).unwrap_err()[0].field, "next_review");

        let mut f = form();
        f.stated_by = "surrogate".into();
        f.surrogate_name = String::new();
        assert_eq!(check(&f, today).unwrap_err()[0].field, "surrogate_name");

        let mut f = form();
        f.wishes = "あ".repeat(MAX_WISHES_CHARS + 1);
        assert_eq!(check(&f, today).unwrap_err()[0].field, "wishes");
        f.wishes = "ok\u{0007}".into();
        assert_eq!(check(&f, today).unwrap_err()[0].field, "wishes");
    }

    #[test]
    fn review_dates_turn_into_reminders() {
        let input = check(&form(), day("2026-12-02")).unwrap();
        let record = from_fhir("c1", &to_fhir(&input, "p1", &recorder())).unwrap();
        assert_eq!(
            review_state(&record, day("2027-01-01")),
            ReviewState::Current
        );
        assert_eq!(
            review_state(&record, day("2027-05-10")),
            ReviewState::DueSoon(10)
        );
        assert_eq!(
            review_state(&record, day("2027-05-20")),
            ReviewState::DueSoon(0)
        );
        assert_eq!(
            review_state(&record, day("2027-05-23")),
            ReviewState::Overdue(3)
        );
    }

    #[test]
    fn a_privacy_consent_is_not_an_acp_record() {
        let privacy = json!({
            "resourceType": "Consent",
            "scope": { "coding": [{ "system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy" }] },
        });
        assert!(from_fhir("x", &privacy).is_none());
    }
}
