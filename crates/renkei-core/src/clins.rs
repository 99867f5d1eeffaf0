//! The 診療情報提供書 (referral letter) as the FHIR document of the 電子カルテ情報共有サービス:
//! a Bundle following JP-CLINS `JP_Bundle_eReferral` / `JP_Composition_eReferral`
//! (JP-CLINS implementation guide, profiles under `http://jpfhir.jp/fhir/clins/`; the older
//! stand-alone eReferral guide published them under `http://jpfhir.jp/fhir/eReferral/`).
//!
//! The Composition carries the letter's sections with the CLINS section codes: 紹介先情報
//! (910) and 紹介元情報 (920) at the top with the Organizations and the writing
//! Practitioner, the structured section (300) holding 紹介目的 (950), 傷病名・主訴 (340),
//! 既往歴 (370), 臨床経過 (330), 検査結果 (620), 投薬指示 (430) and アレルギー・不耐性反応 (510),
//! and 備考・連絡情報 (220) at the top again. Each of Renkei's referral form fields has its
//! CLINS section ([`FIELD_SECTIONS`]); the text the physician wrote is the section's
//! narrative, and the patient's stored Conditions, AllergyIntolerances, active
//! MedicationRequests and laboratory Observations (those the caller may see) are the
//! section entries. Every reference in the document resolves inside the Bundle; references
//! of the included clinical resources to resources that are not in it become absolute URLs of
//! this server's FHIR API.
//!
//! No I/O: the web layer gathers the facts (through the access decision) and audits the read.

use crate::documents::{self as docs, escape_xhtml};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `Bundle.meta.profile` (the guide asks for the profile with its major version).
pub const BUNDLE_PROFILE: &str =
    "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eReferral|1";
/// `Composition.meta.profile`.
pub const COMPOSITION_PROFILE: &str =
    "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Composition_eReferral|1";
/// CLINS document section codes (`Composition.section.code`).
pub const SECTION_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/CodeSystem/document-section";
/// 文書区分コード (`Composition.type`): 57133-1 診療情報提供書.
pub const DOC_TYPE_SYSTEM: &str = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes";
/// 文書サブ区分コード (`Composition.category`).
pub const DOC_SUBTYPE_SYSTEM: &str = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-subtypecodes";
/// `Bundle.identifier.system` of CLINS: value `医療機関コード^西暦^文書番号`.
pub const BUNDLE_IDENTIFIER_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/bundle-identifier";
/// `Bundle.identifier.system` when the writing facility has no 医療機関コード (JP Core's
/// document instance identifier; such a letter cannot be sent to CLINS anyway).
pub const DOCUMENT_INSTANCE_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/documentInstance-identifier";
/// `Composition.identifier.system`.
pub const RESOURCE_INSTANCE_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier";
/// JP Core 医療機関コード (10 digits) of an Organization.
pub const INSTITUTION_NUMBER_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
/// `Composition.extension:version`.
pub const VERSION_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/composition-clinicaldocument-versionNumber";
/// Renkei's facility ids on Organizations (as transfer requests name them).
pub const FACILITY_SYSTEM: &str = "https://renkei.example.jp/facility";
/// Renkei's user ids on Practitioners.
pub const USER_SYSTEM: &str = "https://renkei.example.jp/user";

const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
const JP_ORGANIZATION: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization";
const JP_PRACTITIONER: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Practitioner";
const NAME_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
/// `Composition.event.code.text` fixed by the profile.
const EVENT_TEXT: &str = "診療情報提供書発行";
/// Entries per clinical section at most (newest first); a letter is not the whole record.
pub const MAX_ENTRIES_PER_SECTION: usize = 50;

/// One CLINS section: code, title, code display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub code: &'static str,
    pub title: &'static str,
    pub display: &'static str,
}

const fn s(code: &'static str, title: &'static str, display: &'static str) -> Section {
    Section {
        code,
        title,
        display,
    }
}

pub const REFERRAL_TO: Section = s("910", "紹介先情報", "紹介先情報セクション");
pub const REFERRAL_FROM: Section = s("920", "紹介元情報", "紹介元情報セクション");
pub const STRUCTURED: Section = s("300", "構造情報", "構造情報セクション");
pub const PURPOSE: Section = s("950", "紹介目的", "紹介目的セクション");
pub const PROBLEM: Section = s("340", "傷病名・主訴", "傷病名・主訴セクション");
pub const PAST_ILLNESS: Section = s("370", "既往歴", "既往歴セクション");
pub const CLINICAL_COURSE: Section = s("330", "臨床経過", "臨床経過セクション");
pub const STUDY: Section = s("620", "検査結果", "検査結果セクション");
pub const MEDICATION: Section = s("430", "投薬指示", "投薬指示セクション");
pub const ALLERGY: Section = s(
    "510",
    "アレルギー・不耐性反応",
    "アレルギー・不耐性反応セクション",
);
pub const REMARKS: Section = s("220", "備考・連絡情報", "備考・連絡情報セクション");

/// Where each field of Renkei's referral form goes. Every field has a CLINS section, so the
/// document needs no Renkei-local section (`既往歴・家族歴` goes whole to 既往歴).
pub static FIELD_SECTIONS: &[(&str, Section)] = &[
    ("purpose", PURPOSE),
    ("diagnosis", PROBLEM),
    ("history", PAST_ILLNESS),
    ("course", CLINICAL_COURSE),
    ("medication", MEDICATION),
    ("allergies", ALLERGY),
    ("remarks", REMARKS),
];

/// A facility as an Organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFacts {
    /// Renkei's facility id.
    pub id: String,
    pub name: String,
    /// 医療機関コード (10 digits) where the facility has one.
    pub institution_number: Option<String>,
    pub postal_code: String,
    pub address: String,
    pub tel: String,
}

/// The writing physician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorFacts {
    pub user_id: String,
    pub name: String,
    pub kana: String,
}

/// The patient as the caller may see them (None: demographics not shared with the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientFacts {
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    /// FHIR `gender` code.
    pub gender: &'static str,
    /// The facility's patient ID (医療機関の患者番号) and its system.
    pub id_system: String,
    pub local_id: String,
    pub postal_code: String,
    pub address: String,
    pub phones: Vec<String>,
}

/// A stored resource to include (read within the caller's scope).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub resource_type: String,
    pub id: String,
    pub content: Value,
}

/// Everything the document is made of.
#[derive(Debug, Clone)]
pub struct ReferralFacts<'a> {
    /// The stored Composition of the letter (Renkei's form).
    pub composition: &'a Value,
    pub composition_id: &'a str,
    pub version_id: i64,
    /// The Composition's last update and the time of this export (FHIR instants).
    pub last_updated: String,
    pub now: String,
    /// The person (patient index) and the persons merged into it: `Patient/<id>` of any of
    /// them is the patient.
    pub person_ids: Vec<String>,
    pub patient: Option<PatientFacts>,
    pub from: OrgFacts,
    pub author: AuthorFacts,
    /// The facilities it is addressed to (none while a draft).
    pub to: Vec<OrgFacts>,
    /// The encounter the letter is written in, if one is recorded.
    pub encounter: Option<Stored>,
    /// Conditions, AllergyIntolerances, MedicationRequests and Observations of the patient.
    pub clinical: Vec<Stored>,
    /// This server's FHIR base (`https://…/fhir`), for references that leave the document.
    pub fhir_base: &'a str,
}

fn uuid_url() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// A stable `urn:uuid:` for a stored resource: an id that is a UUID (the pages' ids) is
/// used as it is, Renkei's 32-hex ids are read as one, other ids (chosen by API clients)
/// get a fresh one.
fn stored_url(id: &str) -> String {
    if let Ok(u) = uuid::Uuid::try_parse(id) {
        if id.len() == 36 {
            return format!("urn:uuid:{u}");
        }
    }
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let id = id.to_ascii_lowercase();
        format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        )
    } else {
        uuid_url()
    }
}

/// The Japan date (`YYYY-MM-DD`) of a FHIR dateTime; a date alone as it is.
fn jst_date(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(9))
            .date_naive()
            .to_string(),
        Err(_) => s.get(..10).unwrap_or(s).to_string(),
    }
}

fn id_of(url: &str) -> &str {
    url.trim_start_matches("urn:uuid:")
}

fn div(inner: &str) -> String {
    format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{inner}</div>")
}

fn text_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The words of a CodeableConcept: its text, else the first display, else the first code.
fn concept_text(concept: Option<&Value>) -> String {
    let Some(c) = concept else {
        return String::new();
    };
    if let Some(t) = text_at(c, "/text") {
        return t.to_string();
    }
    let codings = c["coding"].as_array().cloned().unwrap_or_default();
    codings
        .iter()
        .find_map(|cd| text_at(cd, "/display"))
        .or_else(|| codings.iter().find_map(|cd| text_at(cd, "/code")))
        .unwrap_or("")
        .to_string()
}

fn first_code<'a>(concept: &'a Value, pointer: &str) -> Option<&'a str> {
    concept
        .pointer(pointer)?
        .get("coding")?
        .as_array()?
        .iter()
        .find_map(|c| c["code"].as_str())
}

/// The date a resource is about, for ordering (ISO strings order as times).
fn when(v: &Value) -> String {
    [
        "/effectiveDateTime",
        "/effectivePeriod/start",
        "/issued",
        "/authoredOn",
        "/recordedDate",
        "/onsetDateTime",
        "/meta/lastUpdated",
    ]
    .iter()
    .find_map(|p| text_at(v, p))
    .unwrap_or("")
    .to_string()
}

/// One line of a section's narrative about an entry.
fn describe(r: &Stored) -> String {
    let v = &r.content;
    match r.resource_type.as_str() {
        "Condition" => {
            let mut t = concept_text(v.get("code"));
            if let Some(onset) = text_at(v, "/onsetDateTime") {
                t.push_str(&format!("（発症 {}）", onset.get(..10).unwrap_or(onset)));
            }
            t
        }
        "AllergyIntolerance" => {
            let mut t = concept_text(v.get("code"));
            let reactions: Vec<String> = v["reaction"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["manifestation"].as_array().cloned().unwrap_or_default())
                .map(|m| concept_text(Some(&m)))
                .filter(|m| !m.is_empty())
                .collect();
            if !reactions.is_empty() {
                t.push_str(&format!("（{}）", reactions.join("、")));
            }
            t
        }
        "MedicationRequest" => {
            let mut t = concept_text(v.get("medicationCodeableConcept"));
            if let Some(d) = text_at(v, "/dosageInstruction/0/text") {
                t.push_str(&format!(" {d}"));
            }
            t
        }
        "Observation" => {
            let name = concept_text(v.get("code"));
            let value = if let Some(q) = v.get("valueQuantity") {
                let n = q["value"]
                    .as_f64()
                    .map(|n| {
                        if n.fract() == 0.0 {
                            format!("{}", n as i64)
                        } else {
                            format!("{n}")
                        }
                    })
                    .unwrap_or_default();
                format!("{n} {}", q["unit"].as_str().unwrap_or(""))
                    .trim()
                    .to_string()
            } else if let Some(s) = text_at(v, "/valueString") {
                s.to_string()
            } else {
                concept_text(v.get("valueCodeableConcept"))
            };
            let at = when(v);
            format!("{name} {value}（{}）", at.get(..10).unwrap_or(&at))
        }
        _ => String::new(),
    }
}

/// Where a stored clinical resource belongs, if anywhere.
fn section_of(r: &Stored) -> Option<Section> {
    let v = &r.content;
    let verification = first_code(v, "/verificationStatus");
    if matches!(verification, Some("entered-in-error" | "refuted")) {
        return None;
    }
    match r.resource_type.as_str() {
        "Condition" => match first_code(v, "/clinicalStatus") {
            Some("resolved" | "inactive" | "remission") => Some(PAST_ILLNESS),
            _ => Some(PROBLEM),
        },
        "AllergyIntolerance" => match first_code(v, "/clinicalStatus") {
            Some("resolved" | "inactive") => None,
            _ => Some(ALLERGY),
        },
        "MedicationRequest" => {
            matches!(v["status"].as_str(), Some("active" | "on-hold")).then_some(MEDICATION)
        }
        "Observation" => {
            let lab = v["category"].as_array().into_iter().flatten().any(|c| {
                c["coding"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|cd| cd["code"].as_str() == Some("laboratory"))
            });
            let usable = matches!(
                v["status"].as_str(),
                Some("final" | "amended" | "corrected" | "preliminary")
            );
            (lab && usable).then_some(STUDY)
        }
        _ => None,
    }
}

/// Points every reference of `v` that names a resource of the document at its `fullUrl`;
/// other relative references become absolute URLs of `fhir_base`.
fn resolve_references(v: &mut Value, urls: &HashMap<String, String>, fhir_base: &str) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("reference") {
                let plain = reference
                    .split("/_history/")
                    .next()
                    .unwrap_or(reference)
                    .to_string();
                let relative = plain
                    .strip_prefix(fhir_base)
                    .map(|s| s.trim_start_matches('/').to_string())
                    .unwrap_or(plain);
                if let Some(url) = urls.get(&relative) {
                    *reference = url.clone();
                } else if !relative.starts_with('#')
                    && !relative.contains(':')
                    && relative.split('/').count() == 2
                {
                    *reference = format!("{}/{relative}", fhir_base.trim_end_matches('/'));
                }
            }
            for (_, child) in map.iter_mut() {
                resolve_references(child, urls, fhir_base);
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_references(item, urls, fhir_base);
            }
        }
        _ => {}
    }
}

fn section_json(section: Section, inner_html: &str, entries: Vec<Value>) -> Value {
    let mut out = json!({
        "title": section.title,
        "code": { "coding": [{ "system": SECTION_SYSTEM, "code": section.code, "display": section.display }] },
        "text": { "status": "additional", "div": div(inner_html) },
    });
    if !entries.is_empty() {
        out["entry"] = Value::Array(entries);
    }
    out
}

fn reference(url: &str, type_: &str, display: &str) -> Value {
    let mut r = json!({ "reference": url, "type": type_ });
    if !display.trim().is_empty() {
        r["display"] = json!(display);
    }
    r
}

fn organization(o: &OrgFacts, id: &str) -> Value {
    let mut identifiers = Vec::new();
    if let Some(no) = &o.institution_number {
        identifiers.push(json!({ "system": INSTITUTION_NUMBER_SYSTEM, "value": no }));
    }
    identifiers.push(json!({ "system": FACILITY_SYSTEM, "value": o.id }));
    let mut org = json!({
        "resourceType": "Organization",
        "id": id,
        "meta": { "profile": [JP_ORGANIZATION] },
        "identifier": identifiers,
        "type": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov" }] }],
        "name": o.name,
    });
    if !o.tel.trim().is_empty() {
        org["telecom"] = json!([{ "system": "phone", "value": o.tel }]);
    }
    let mut address = serde_json::Map::new();
    if !o.address.trim().is_empty() {
        address.insert("text".into(), json!(o.address));
    }
    if !o.postal_code.trim().is_empty() {
        address.insert("postalCode".into(), json!(o.postal_code));
    }
    if !address.is_empty() {
        address.insert("country".into(), json!("JP"));
        org["address"] = json!([address]);
    }
    org
}

fn human_names(name: &str, kana: &str) -> Vec<Value> {
    let mut names = Vec::new();
    if !name.trim().is_empty() {
        names.push(json!({
            "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }],
            "use": "official",
            "text": name,
        }));
    }
    if !kana.trim().is_empty() {
        names.push(json!({
            "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "SYL" }],
            "use": "official",
            "text": kana,
        }));
    }
    names
}

fn patient(p: Option<&PatientFacts>, id: &str) -> Value {
    let mut out = json!({
        "resourceType": "Patient",
        "id": id,
        "meta": { "profile": [JP_PATIENT] },
    });
    let Some(p) = p else {
        return out;
    };
    if !p.local_id.is_empty() && !p.id_system.is_empty() {
        out["identifier"] = json!([{ "system": p.id_system, "value": p.local_id }]);
    }
    let names = human_names(&p.name, &p.kana);
    if !names.is_empty() {
        out["name"] = Value::Array(names);
    }
    out["gender"] = json!(p.gender);
    if docs::parse_date(&p.birth_date).is_some() {
        out["birthDate"] = json!(p.birth_date);
    }
    let phones: Vec<Value> = p
        .phones
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| json!({ "system": "phone", "value": t }))
        .collect();
    if !phones.is_empty() {
        out["telecom"] = Value::Array(phones);
    }
    if !p.address.trim().is_empty() {
        let mut a = json!({ "text": p.address, "country": "JP" });
        if !p.postal_code.trim().is_empty() {
            a["postalCode"] = json!(p.postal_code);
        }
        out["address"] = json!([a]);
    }
    out
}

/// 入院中文書 while an inpatient stay is open, 退院時文書 once it ended, else 外来文書.
fn category(encounter: Option<&Stored>) -> (&'static str, &'static str) {
    let Some(e) = encounter else {
        return ("OUTPATIENT", "外来文書");
    };
    let inpatient = matches!(
        e.content.pointer("/class/code").and_then(Value::as_str),
        Some("IMP" | "ACUTE" | "NONAC")
    );
    match (inpatient, e.content["status"].as_str()) {
        (true, Some("finished")) => ("DISCHARGE", "退院時文書"),
        (true, _) => ("INPATIENT", "入院中文書"),
        _ => ("OUTPATIENT", "外来文書"),
    }
}

/// `Bundle.identifier`: CLINS's `医療機関コード^西暦^文書番号` when the writing facility has a
/// 医療機関コード, else the document instance identifier. Stable for one document, so a
/// receiver recognises a resent letter.
fn bundle_identifier(f: &ReferralFacts<'_>) -> Value {
    let date = jst_date(
        f.composition
            .get("date")
            .and_then(Value::as_str)
            .unwrap_or(&f.last_updated),
    );
    let year = date.get(..4).unwrap_or("");
    let doc_no: String = f
        .composition_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(36)
        .collect();
    match &f.from.institution_number {
        Some(no) => {
            json!({ "system": BUNDLE_IDENTIFIER_SYSTEM, "value": format!("{no}^{year}^{doc_no}") })
        }
        None => {
            json!({ "system": DOCUMENT_INSTANCE_SYSTEM, "value": format!("{doc_no}-{}", f.version_id) })
        }
    }
}

/// The letter as a JP-CLINS eReferral document Bundle. The profiles are claimed only for a
/// sent (final) letter; a draft has the same layout, status `preliminary`.
pub fn referral_bundle(f: &ReferralFacts<'_>) -> Value {
    let final_ = f.composition["status"].as_str() == Some("final");
    let values = docs::values_of(f.composition);
    let value_of = |key: &str| {
        values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };

    // fullUrls, and the references that name them.
    let composition_url = stored_url(f.composition_id);
    let patient_url = uuid_url();
    let author_url = uuid_url();
    let from_url = uuid_url();
    let to_urls: Vec<String> = f.to.iter().map(|_| uuid_url()).collect();
    let mut urls: HashMap<String, String> = HashMap::new();
    for p in &f.person_ids {
        urls.insert(format!("Patient/{p}"), patient_url.clone());
    }
    let encounter_url = f.encounter.as_ref().map(|e| {
        let url = stored_url(&e.id);
        urls.insert(format!("Encounter/{}", e.id), url.clone());
        url
    });
    // The clinical entries by section, newest first, each list capped.
    let mut by_section: Vec<(Section, Vec<&Stored>)> = Vec::new();
    for r in &f.clinical {
        let Some(section) = section_of(r) else {
            continue;
        };
        match by_section.iter_mut().find(|(s, _)| *s == section) {
            Some((_, list)) => list.push(r),
            None => by_section.push((section, vec![r])),
        }
    }
    for (_, list) in &mut by_section {
        list.sort_by_key(|r| std::cmp::Reverse(when(&r.content)));
        list.truncate(MAX_ENTRIES_PER_SECTION);
    }
    let mut included: Vec<(String, &Stored)> = Vec::new();
    for (_, list) in &by_section {
        for r in list {
            let url = stored_url(&r.id);
            urls.insert(format!("{}/{}", r.resource_type, r.id), url.clone());
            included.push((url, r));
        }
    }
    let entries_of = |section: Section| -> (Vec<Value>, Vec<String>) {
        let Some((_, list)) = by_section.iter().find(|(s, _)| *s == section) else {
            return (Vec::new(), Vec::new());
        };
        let refs = list
            .iter()
            .map(|r| {
                reference(
                    &urls[&format!("{}/{}", r.resource_type, r.id)],
                    &r.resource_type,
                    "",
                )
            })
            .collect();
        let lines = list.iter().map(|r| describe(r)).collect();
        (refs, lines)
    };
    // A section's narrative: what the physician wrote, then its entries listed.
    let narrative = |written: &str, lines: &[String]| -> String {
        let mut html = String::new();
        if !written.is_empty() {
            html.push_str(&format!("<p>{}</p>", escape_xhtml(written)));
        }
        let items: Vec<String> = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("<li>{}</li>", escape_xhtml(l)))
            .collect();
        if !items.is_empty() {
            html.push_str(&format!("<ul>{}</ul>", items.concat()));
        }
        html
    };

    // 紹介先 and 紹介元.
    let to_text = if f.to.is_empty() {
        "（未送付）".to_string()
    } else {
        f.to.iter()
            .map(|o| format!("<p>{}</p>", escape_xhtml(&o.name)))
            .collect::<String>()
    };
    let to_entries: Vec<Value> =
        f.to.iter()
            .zip(&to_urls)
            .map(|(o, url)| reference(url, "Organization", &o.name))
            .collect();
    let from_text: String = [
        f.from.name.clone(),
        format!("{} {}", f.from.postal_code, f.from.address)
            .trim()
            .to_string(),
        if f.from.tel.trim().is_empty() {
            String::new()
        } else {
            format!("電話 {}", f.from.tel)
        },
        f.author.name.clone(),
    ]
    .iter()
    .filter(|line| !line.is_empty())
    .map(|line| format!("<p>{}</p>", escape_xhtml(line)))
    .collect();
    let mut sections = vec![
        section_json(REFERRAL_TO, &to_text, to_entries),
        section_json(
            REFERRAL_FROM,
            &from_text,
            vec![
                reference(&from_url, "Organization", &f.from.name),
                reference(&author_url, "Practitioner", &f.author.name),
            ],
        ),
    ];
    // The structured section: the fields in the order of the form, each with its entries;
    // 検査結果 (no field of its own) after 臨床経過. Optional sections without words or
    // entries are left out; 紹介目的 and 傷病名・主訴 are always there.
    let mut structured = Vec::new();
    for (key, section) in FIELD_SECTIONS {
        if *section == REMARKS {
            continue;
        }
        let (entries, lines) = entries_of(*section);
        let written = value_of(key);
        let html = narrative(written, &lines);
        if html.is_empty() {
            if *section == PURPOSE || *section == PROBLEM {
                structured.push(section_json(*section, "記載なし", Vec::new()));
            }
        } else {
            structured.push(section_json(*section, &html, entries));
        }
        if *section == CLINICAL_COURSE {
            let (entries, lines) = entries_of(STUDY);
            if !entries.is_empty() {
                structured.push(section_json(STUDY, &narrative("", &lines), entries));
            }
        }
    }
    sections.push(json!({
        "title": STRUCTURED.title,
        "code": { "coding": [{ "system": SECTION_SYSTEM, "code": STRUCTURED.code, "display": STRUCTURED.display }] },
        "section": structured,
    }));
    let remarks = value_of("remarks");
    if !remarks.is_empty() {
        sections.push(section_json(REMARKS, &narrative(remarks, &[]), Vec::new()));
    }

    let date = f.composition["date"]
        .as_str()
        .unwrap_or(&f.last_updated)
        .to_string();
    let (category_code, category_display) = category(f.encounter.as_ref());
    let patient_name = f
        .patient
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let summary = format!(
        "<p>診療情報提供書</p><p>患者: {}</p><p>紹介元: {}（{}）</p><p>紹介先: {}</p>",
        escape_xhtml(&patient_name),
        escape_xhtml(&f.from.name),
        escape_xhtml(&f.author.name),
        escape_xhtml(
            &f.to
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join("、")
        ),
    );
    let mut meta = json!({ "lastUpdated": f.last_updated });
    if final_ {
        meta["profile"] = json!([COMPOSITION_PROFILE]);
    }
    let day = jst_date(&date);
    let identifier_value = match &f.from.institution_number {
        Some(no) => format!("{no}-{}-{}", day.get(..4).unwrap_or(""), f.composition_id),
        None => f.composition_id.to_string(),
    };
    let mut composition = json!({
        "resourceType": "Composition",
        "id": f.composition_id,
        "meta": meta,
        "language": "ja",
        "text": { "status": "generated", "div": div(&summary) },
        "extension": [{ "url": VERSION_EXTENSION, "valueString": f.version_id.to_string() }],
        "identifier": { "system": RESOURCE_INSTANCE_SYSTEM, "value": identifier_value },
        "status": if final_ { "final" } else { "preliminary" },
        "type": { "coding": [{ "system": DOC_TYPE_SYSTEM, "code": "57133-1", "display": "診療情報提供書" }] },
        "category": [{ "coding": [{ "system": DOC_SUBTYPE_SYSTEM, "code": category_code, "display": category_display }] }],
        "subject": reference(&patient_url, "Patient", &patient_name),
        "date": date,
        "author": [
            reference(&author_url, "Practitioner", &f.author.name),
            reference(&from_url, "Organization", &f.from.name),
        ],
        "title": "診療情報提供書",
        "custodian": reference(&from_url, "Organization", &f.from.name),
        "event": [{
            "code": [{ "text": EVENT_TEXT }],
            "period": { "start": day },
        }],
        "section": sections,
    });
    if let (Some(url), Some(_)) = (&encounter_url, &f.encounter) {
        composition["encounter"] = reference(url, "Encounter", "");
    }

    let mut entries = vec![
        json!({ "fullUrl": composition_url, "resource": composition }),
        json!({ "fullUrl": patient_url, "resource": patient(f.patient.as_ref(), id_of(&patient_url)) }),
    ];
    if let (Some(url), Some(e)) = (&encounter_url, &f.encounter) {
        let mut content = e.content.clone();
        resolve_references(&mut content, &urls, f.fhir_base);
        entries.push(json!({ "fullUrl": url, "resource": content }));
    }
    let mut practitioner = json!({
        "resourceType": "Practitioner",
        "id": id_of(&author_url),
        "meta": { "profile": [JP_PRACTITIONER] },
    });
    // A letter stored through the FHIR API may not name its Renkei user.
    if !f.author.user_id.is_empty() {
        practitioner["identifier"] = json!([{ "system": USER_SYSTEM, "value": f.author.user_id }]);
    }
    let names = human_names(&f.author.name, &f.author.kana);
    if !names.is_empty() {
        practitioner["name"] = Value::Array(names);
    }
    entries.push(json!({ "fullUrl": author_url, "resource": practitioner }));
    entries
        .push(json!({ "fullUrl": from_url, "resource": organization(&f.from, id_of(&from_url)) }));
    for (o, url) in f.to.iter().zip(&to_urls) {
        entries.push(json!({ "fullUrl": url, "resource": organization(o, id_of(url)) }));
    }
    for (url, r) in included {
        let mut content = r.content.clone();
        resolve_references(&mut content, &urls, f.fhir_base);
        entries.push(json!({ "fullUrl": url, "resource": content }));
    }

    let mut bundle_meta = json!({ "lastUpdated": f.now });
    if final_ {
        bundle_meta["profile"] = json!([BUNDLE_PROFILE]);
    }
    json!({
        "resourceType": "Bundle",
        "meta": bundle_meta,
        "language": "ja",
        "identifier": bundle_identifier(f),
        "type": "document",
        "timestamp": f.now,
        "entry": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str, name: &str, no: Option<&str>) -> OrgFacts {
        OrgFacts {
            id: id.into(),
            name: name.into(),
            institution_number: no.map(str::to_string),
            postal_code: "053-0022".into(),
            address: "北海道苫小牧市表町1丁目".into(),
            tel: "0144-00-0000".into(),
        }
    }

    fn stored(t: &str, id: &str, v: Value) -> Stored {
        let mut content = v;
        content["resourceType"] = json!(t);
        content["id"] = json!(id);
        Stored {
            resource_type: t.into(),
            id: id.into(),
            content,
        }
    }

    #[test]
    fn fields_become_clins_sections_and_references_resolve() {
        let kind = docs::kind(docs::REFERRAL).unwrap();
        let values = docs::clean_values(
            kind,
            &[
                ("purpose".into(), "精査加療のお願い".into()),
                ("diagnosis".into(), "心不全".into()),
                ("remarks".into(), "よろしく <お願いします>".into()),
            ],
            true,
        )
        .unwrap();
        let facts = docs::DocumentFacts {
            kind,
            person_id: "p1",
            title: kind.ja.into(),
            final_: true,
            date: "2026-12-01T10:00:00+09:00".into(),
            author_display: "医師 太郎（医師）".into(),
            author_user_id: "u1",
            facility_display: "テスト病院".into(),
        };
        let c = docs::composition(&facts, &values);
        let condition = stored(
            "Condition",
            "0123456789abcdef0123456789abcdef",
            json!({
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                "code": { "text": "慢性心不全" },
                "subject": { "reference": "Patient/old" },
                "encounter": { "reference": "Encounter/e-not-included" },
            }),
        );
        let lab = stored(
            "Observation",
            "lab-1",
            json!({
                "status": "final",
                "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }],
                "code": { "text": "BNP" },
                "subject": { "reference": "Patient/p1" },
                "effectiveDateTime": "2026-11-30",
                "valueQuantity": { "value": 420.0, "unit": "pg/mL" },
            }),
        );
        let vital = stored(
            "Observation",
            "v-1",
            json!({ "status": "final", "category": [{ "coding": [{ "code": "vital-signs" }] }], "code": { "text": "体温" }, "subject": { "reference": "Patient/p1" } }),
        );
        let f = ReferralFacts {
            composition: &c,
            composition_id: "d0c",
            version_id: 3,
            last_updated: "2026-12-01T01:00:00Z".into(),
            now: "2026-12-02T01:00:00Z".into(),
            person_ids: vec!["p1".into(), "old".into()],
            patient: None,
            from: org("f1", "テスト病院", Some("0112345678")),
            author: AuthorFacts {
                user_id: "u1".into(),
                name: "医師 太郎".into(),
                kana: "いし たろう".into(),
            },
            to: vec![org("f2", "紹介先クリニック", None)],
            encounter: None,
            clinical: vec![condition, lab, vital],
            fhir_base: "https://renkei.example.jp/fhir",
        };
        let b = referral_bundle(&f);
        assert_eq!(b["meta"]["profile"][0], BUNDLE_PROFILE);
        assert_eq!(b["identifier"]["system"], BUNDLE_IDENTIFIER_SYSTEM);
        assert_eq!(b["identifier"]["value"], "0112345678^2026^d0c");
        let comp = &b["entry"][0]["resource"];
        assert_eq!(comp["meta"]["profile"][0], COMPOSITION_PROFILE);
        let top: Vec<&str> = comp["section"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(top, vec!["910", "920", "300", "220"]);
        let inner: Vec<&str> = comp["section"][2]["section"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(inner, vec!["950", "340", "620"], "vital signs left out");
        let remarks = comp["section"][3]["text"]["div"].as_str().unwrap();
        assert!(remarks.contains("&lt;お願いします&gt;"), "{remarks}");
        // Every reference of the document names an entry, except those that leave it.
        let full: Vec<&str> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["fullUrl"].as_str().unwrap())
            .collect();
        let text = b.to_string();
        let condition_entry = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"]["resourceType"] == "Condition")
            .unwrap();
        assert_eq!(
            condition_entry["fullUrl"],
            "urn:uuid:01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(
            condition_entry["resource"]["subject"]["reference"], b["entry"][1]["fullUrl"],
            "a merged person's reference is the patient"
        );
        assert_eq!(
            condition_entry["resource"]["encounter"]["reference"],
            "https://renkei.example.jp/fhir/Encounter/e-not-included"
        );
        for r in text.split("\"reference\":\"").skip(1) {
            let r = r.split('"').next().unwrap();
            assert!(
                full.contains(&r) || r.starts_with("https://renkei.example.jp/fhir/"),
                "{r}"
            );
        }
    }

    #[test]
    fn a_draft_claims_no_profile_and_a_facility_without_code_gets_the_instance_identifier() {
        let kind = docs::kind(docs::REFERRAL).unwrap();
        let facts = docs::DocumentFacts {
            kind,
            person_id: "p1",
            title: kind.ja.into(),
            final_: false,
            date: "2026-12-31T16:00:00Z".into(),
            author_display: "".into(),
            author_user_id: "",
            facility_display: "".into(),
        };
        let c = docs::composition(&facts, &[]);
        let f = ReferralFacts {
            composition: &c,
            composition_id: "3f2c6a52-6a8e-4a57-9d64-1c2b3a4d5e6f",
            version_id: 1,
            last_updated: "2026-12-31T16:00:00Z".into(),
            now: "2026-12-31T16:05:00Z".into(),
            person_ids: vec!["p1".into()],
            patient: None,
            from: OrgFacts {
                tel: String::new(),
                ..org("f1", "訪問看護ステーション", None)
            },
            author: AuthorFacts {
                user_id: String::new(),
                name: String::new(),
                kana: String::new(),
            },
            to: Vec::new(),
            encounter: None,
            clinical: Vec::new(),
            fhir_base: "https://renkei.example.jp/fhir",
        };
        let b = referral_bundle(&f);
        assert!(b["meta"].get("profile").is_none());
        assert_eq!(
            b["identifier"],
            json!({ "system": DOCUMENT_INSTANCE_SYSTEM, "value": "3f2c6a52-6a8e-4a57-9d64-1c2b3a4d5e6f-1" })
        );
        let comp = &b["entry"][0]["resource"];
        assert_eq!(
            b["entry"][0]["fullUrl"],
            "urn:uuid:3f2c6a52-6a8e-4a57-9d64-1c2b3a4d5e6f"
        );
        assert!(comp["meta"].get("profile").is_none());
        assert_eq!(comp["status"], "preliminary");
        // 2026-12-31T16:00Z is New Year's Day in Japan.
        assert_eq!(comp["event"][0]["period"]["start"], "2027-01-01");
        assert!(comp["section"][0].get("entry").is_none(), "not sent yet");
        assert!(comp["section"][0]["text"]["div"]
            .as_str()
            .unwrap()
            .contains("未送付"));
        // The required sections are there even when empty; nothing else is.
        let inner: Vec<&str> = comp["section"][2]["section"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(inner, vec!["950", "340"]);
        assert_eq!(comp["section"].as_array().unwrap().len(), 3, "no 備考");
        // No empty strings anywhere (FHIR forbids them).
        assert!(!b.to_string().contains("\"\""), "{b}");
        let practitioner = &b["entry"][2]["resource"];
        assert_eq!(practitioner["resourceType"], "Practitioner");
        assert!(practitioner.get("identifier").is_none());
    }
}
