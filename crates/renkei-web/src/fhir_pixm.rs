//! IHE PIXm Patient Identity Feed FHIR (ITI-104): a facility's system, or a person acting
//! for the facility, registers a patient or changes the demographics of the facility's own
//! registration with a conditional update, `PUT /fhir/Patient?identifier=<system>|<value>`.
//! See docs/fhir.md ("PIXm feed").
//!
//! The identifier must be in the caller's own facility's patient-ID domain
//! (`renkei_core::patients::local_id_system`): a facility feeds only its own registrations,
//! and cross-references between facilities are made by the patient index, never asserted
//! by a feed. The JP_Patient body is mapped to the registration form's input and validated
//! exactly as the form is (`patients::validate`); a new registration goes through the patient
//! index (`patients::register`: auto-link, review or new person), an existing one gets its
//! demographics replaced (`patients::update`, match keys rebuilt, the link kept). Each feed
//! leaves one audit record, `patient.register` or `patient.update`, naming the person.
//!
//! Registrations are never deleted, so the Remove Patient option (conditional DELETE) is not
//! supported.

use crate::fhir::FhirError;
use crate::fhir_rest::{base_url, json_response, parse_pairs, Actor, WriteFailure};
use crate::SharedState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use renkei_core::patients::{self as core_patients, LinkOutcome, RegistrationInput};
use renkei_core::ServiceError;
use renkei_domain::audit::Outcome;
use renkei_domain::now_millis;
use renkei_domain::patient::InfoCategory;
use renkei_domain::text::{FieldError, Problem};
use renkei_domain::Lang;
use renkei_fhir::resource::{Issue, Severity};
use renkei_storage::{Facility, StoreError};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

const NAME_REPRESENTATION: &str = crate::fhir::NAME_REPRESENTATION;

/// `PUT /fhir/Patient?identifier=system|value`: the PIXm feed (ITI-104).
pub async fn feed(
    State(state): State<SharedState>,
    actor: Actor,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, WriteFailure> {
    feed_inner(&state, &actor, &headers, raw.as_deref(), &body).await
}

/// `DELETE /fhir/Patient?…`: registrations are never deleted (the Remove Patient option of
/// ITI-104 is not supported).
pub async fn remove() -> Response {
    FhirError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "患者の登録は削除できません（連携ネットワークの患者登録は削除せずに残します。誤登録の統合・分離は事務局が患者インデックスで行います）。",
        "Patient registrations cannot be deleted (Renkei never removes a registration; wrong links and duplicates are resolved by the secretariat in the patient index).",
    )
    .into_response()
}

/// `PUT`/`DELETE /fhir/Patient/{id}`: patients are written only by the feed (by identifier),
/// so these get the generic handlers' 405 OperationOutcome.
pub async fn by_id() -> Response {
    match crate::fhir_rest::generic_type("Patient") {
        Err(e) => e.into_response(),
        Ok(_) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

fn issue(code: &'static str, expression: &str, ja: String, en: String) -> Issue {
    Issue {
        severity: Severity::Error,
        code,
        expression: expression.to_string(),
        ja,
        en,
    }
}

fn bad_query(ja: &str, en: &str) -> WriteFailure {
    FhirError::new(StatusCode::BAD_REQUEST, "invalid", ja, en).into()
}

/// The `(system, value)` the feed is about: exactly one `identifier=system|value`.
fn feed_identifier(raw: Option<&str>) -> Result<(String, String), WriteFailure> {
    let pairs = parse_pairs(raw.unwrap_or(""))?;
    let mut identifier = None;
    for (key, value) in &pairs {
        match key.as_str() {
            "identifier" if identifier.is_none() => identifier = Some(value.trim().to_string()),
            "_format"
                if ["json", "application/fhir+json", "application/json"]
                    .contains(&value.as_str()) => {}
            _ => {
                return Err(bad_query(
                    &format!("患者の登録（PIXm フィード）の条件は identifier=system|value ひとつだけです（{key} は使えません）。"),
                    &format!("A patient feed (PIXm) is conditioned on exactly one identifier=system|value ({key} is not accepted)."),
                ))
            }
        }
    }
    let Some(identifier) = identifier else {
        return Err(bad_query(
            "条件付き更新には identifier=system|value が必要です。",
            "A conditional update of Patient needs identifier=system|value.",
        ));
    };
    match identifier.split_once('|') {
        Some((system, value)) if !system.trim().is_empty() && !value.trim().is_empty() => {
            Ok((system.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(bad_query(
            "identifier は system|value の形で、識別子の体系（system）と値の両方を指定してください。",
            "identifier must name both the identifier system and the value (system|value).",
        )),
    }
}

/// Where each registration-form field came from in the Patient, for error locations.
#[derive(Default)]
struct Paths(HashMap<&'static str, String>);

impl Paths {
    fn set(&mut self, field: &'static str, path: String) {
        self.0.entry(field).or_insert(path);
    }
    fn of(&self, field: &str) -> String {
        if let Some(p) = self.0.get(field) {
            return p.clone();
        }
        match field {
            "family_kanji" | "given_kanji" | "family_kana" | "given_kana" => "Patient.name",
            "previous_family_kanji" | "previous_family_kana" => "Patient.name",
            "birth_date" => "Patient.birthDate",
            "sex" => "Patient.gender",
            "postal_code" => "Patient.address[0].postalCode",
            "address" => "Patient.address[0]",
            "phone" => "Patient.telecom",
            "local_id" => "Patient.identifier",
            _ => "Patient",
        }
        .to_string()
    }
}

/// Maps a JP_Patient (already checked against R4 by `renkei-fhir`) to what the registration
/// form would have received. `own` = the facility's ID system, `value` = the identifier of
/// the query, `network_systems` = every facility's ID system.
fn registration_input(
    patient: &Value,
    own: &str,
    value: &str,
    network_systems: &HashSet<String>,
) -> Result<(RegistrationInput, Paths), Vec<Issue>> {
    let mut input = RegistrationInput {
        id_system: own.to_string(),
        ..Default::default()
    };
    let mut paths = Paths::default();
    let mut issues = Vec::new();
    let empty = Vec::new();
    let list = |v: &'_ Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |v: &Value, key: &str| -> String {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };

    // Identifiers: the query's must be there; no other local ID of the facility, and no
    // registration of another facility (cross-references are the patient index's job).
    // Identifiers outside the network's patient-ID domains are not stored.
    let mut found = false;
    for (i, id) in list(patient, "identifier").iter().enumerate() {
        let system = text(id, "system");
        let id_value = text(id, "value");
        let path = format!("Patient.identifier[{i}]");
        if system == own {
            if id_value == value {
                found = true;
                input.local_id = id_value;
                paths.set("local_id", format!("{path}.value"));
            } else {
                issues.push(issue(
                    "business-rule",
                    &format!("{path}.value"),
                    format!("患者IDが条件の identifier（{value}）と異なります。登録ひとつにつき施設の患者IDはひとつです。"),
                    format!("This patient ID differs from the identifier of the request ({value}); a registration has one patient ID of the facility."),
                ));
            }
        } else if network_systems.contains(&system) {
            issues.push(issue(
                "business-rule",
                &format!("{path}.system"),
                "他の施設の患者IDは登録できません。施設間の名寄せは患者インデックスが行います。".into(),
                "Another facility's patient ID cannot be fed; registrations of different facilities are cross-referenced by the patient index.".into(),
            ));
        }
    }
    if !found {
        issues.push(issue(
            "required",
            "Patient.identifier",
            format!("Patient.identifier に条件と同じ識別子（{own}|{value}）が必要です。"),
            format!(
                "Patient.identifier must contain the identifier of the request ({own}|{value})."
            ),
        ));
    }
    if patient.get("active") == Some(&Value::Bool(false)) || patient.get("link").is_some() {
        issues.push(issue(
            "not-supported",
            if patient.get("link").is_some() { "Patient.link" } else { "Patient.active" },
            "統合（link）や無効化（active=false）はフィードでは受け付けません。重複の統合は事務局が患者インデックスで行います。".into(),
            "Merges (link) and deactivation (active=false) are not accepted by the feed; duplicates are merged by the secretariat in the patient index.".into(),
        ));
    }

    // Names: IDE = kanji, SYL = kana (a name without the extension is kana when it is all
    // kana); `use = old` gives the previous family name. The first of each kind counts.
    for (i, name) in list(patient, "name").iter().enumerate() {
        let path = format!("Patient.name[{i}]");
        let representation = name
            .get("extension")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .iter()
            .find(|e| e["url"] == NAME_REPRESENTATION)
            .and_then(|e| e["valueCode"].as_str());
        let Ok((family, given)) = crate::fhir::name_parts(name) else {
            continue; // shapes were checked by renkei-fhir
        };
        let kana = match representation {
            Some("SYL") => true,
            Some("IDE") => false,
            // Alphabetic (romaji) names are not stored.
            Some(_) => continue,
            None => crate::fhir::is_kana(&format!("{family}{given}")),
        };
        let family_path = if name.get("family").is_some() {
            format!("{path}.family")
        } else {
            format!("{path}.text")
        };
        let given_path = if name.get("given").is_some() {
            format!("{path}.given")
        } else {
            format!("{path}.text")
        };
        if text(name, "use") == "old" {
            let (field, slot) = if kana {
                ("previous_family_kana", &mut input.previous_family_kana)
            } else {
                ("previous_family_kanji", &mut input.previous_family_kanji)
            };
            if slot.is_empty() {
                *slot = family;
                paths.set(field, family_path);
            }
            continue;
        }
        let (family_field, given_field) = if kana {
            ("family_kana", "given_kana")
        } else {
            ("family_kanji", "given_kanji")
        };
        if paths.0.contains_key(family_field) {
            continue; // not the first name of its kind
        }
        if kana {
            input.family_kana = family;
            input.given_kana = given;
        } else {
            input.family_kanji = family;
            input.given_kanji = given;
        }
        paths.set(family_field, family_path);
        paths.set(given_field, given_path);
    }

    input.birth_date = text(patient, "birthDate");
    // Like HL7 PID-8: a patient without a stated gender is `unknown`.
    input.sex = match text(patient, "gender") {
        g if g.is_empty() => "unknown".into(),
        g => g,
    };
    for (i, t) in list(patient, "telecom").iter().enumerate() {
        let system = text(t, "system");
        let phone = text(t, "value");
        if (system.is_empty() || system == "phone") && !phone.is_empty() {
            input.phone = phone;
            paths.set("phone", format!("Patient.telecom[{i}].value"));
            break;
        }
    }
    if let Some(a) = list(patient, "address").first() {
        let address_text = text(a, "text");
        if address_text.is_empty() {
            let mut parts: Vec<String> = ["state", "city", "district"]
                .iter()
                .map(|k| text(a, k))
                .collect();
            parts.extend(
                list(a, "line")
                    .iter()
                    .filter_map(|l| l.as_str().map(|s| s.trim().to_string())),
            );
            input.address = parts.concat();
            paths.set("address", "Patient.address[0].line".into());
        } else {
            input.address = address_text;
            paths.set("address", "Patient.address[0].text".into());
        }
        input.postal_code = text(a, "postalCode");
    }
    if issues.is_empty() {
        Ok((input, paths))
    } else {
        Err(issues)
    }
}

/// The form's field errors as OperationOutcome issues at the Patient's elements.
fn field_issues(errors: &[FieldError], paths: &Paths) -> Vec<Issue> {
    errors
        .iter()
        .map(|e| {
            let path = paths.of(e.field);
            issue(
                if e.problem == Problem::Required {
                    "required"
                } else {
                    "value"
                },
                &path,
                format!("{path}: {}", e.message(Lang::Ja)),
                format!("{path}: {}", e.message(Lang::En)),
            )
        })
        .collect()
}

/// The facility the actor acts for, refusing anything that may not register patients.
fn acting_facility(actor: &Actor) -> Result<Facility, WriteFailure> {
    let scopes_allow = |op| {
        actor
            .scopes
            .as_ref()
            .is_none_or(|s| crate::oauth::scopes_allow(s, "Patient", op))
    };
    if !scopes_allow('u') && !scopes_allow('c') {
        return Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "アクセストークンのスコープに Patient の登録（c）・更新（u）が含まれていません。",
            "The token's scopes allow neither 'c' nor 'u' on Patient.",
        )
        .into());
    }
    actor.author()?;
    actor
        .facility
        .clone()
        .ok_or_else(|| FhirError::from(crate::error::AppError::Forbidden).into())
}

fn conflict(ja: &str, en: &str) -> WriteFailure {
    FhirError::new(StatusCode::CONFLICT, "conflict", ja, en).into()
}

async fn feed_inner(
    state: &SharedState,
    actor: &Actor,
    headers: &HeaderMap,
    raw: Option<&str>,
    body: &[u8],
) -> Result<Response, WriteFailure> {
    let facility = acting_facility(actor)?;
    let (system, value) = feed_identifier(raw)?;
    let own = core_patients::local_id_system(&facility);
    let network_systems: HashSet<String> = crate::fhir::facilities_for_system(state, None)
        .await?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    if system != own {
        return Err(if network_systems.contains(&system) {
            FhirError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{system} は他の施設の患者IDの体系です。登録できるのは自施設の患者（{own}）だけです。"),
                &format!("{system} is another facility's patient-ID system; a facility feeds only its own registrations ({own})."),
            )
        } else {
            FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "code-invalid",
                &format!("{system} は自施設の患者IDの体系ではありません（{own} を使ってください）。"),
                &format!("{system} is not your facility's patient-ID system (use {own})."),
            )
        }
        .into());
    }
    let resource = crate::fhir_rest::parse_resource(body, "Patient")?;
    if let Err(issues) = renkei_fhir::resource::prepare(&resource) {
        return Err(WriteFailure::Issues(
            StatusCode::UNPROCESSABLE_ENTITY,
            issues,
        ));
    }
    let (input, paths) = registration_input(&resource, &own, &value, &network_systems)
        .map_err(|issues| WriteFailure::Issues(StatusCode::UNPROCESSABLE_ENTITY, issues))?;
    let now = now_millis();
    let record = core_patients::validate(&facility, &input, &actor.requester.user_id, false, now)
        .map_err(|errors| {
        WriteFailure::Issues(
            StatusCode::UNPROCESSABLE_ENTITY,
            field_issues(&errors, &paths),
        )
    })?;
    let body_id = resource.get("id").and_then(Value::as_str);
    let existing = state
        .store
        .find_patient_record(&facility.id, &own, &value)
        .await?;
    let detail = json!({ "via": "fhir", "source": actor.source_system });
    let (status, person, ja, en) = match existing {
        Some(existing) => {
            actor.require("Patient", 'u')?;
            if body_id.is_some_and(|id| id != existing.person_id) {
                return Err(bad_query(
                    "本文の id がこの患者の ID と異なります。",
                    "The id in the body is not this patient's id.",
                ));
            }
            let audit = actor
                .audit("patient.update", Outcome::Success)
                .target("patient_record", &existing.id)
                .detail(detail);
            let done =
                core_patients::update(state.store.as_ref(), &existing, record, true, audit, now)
                    .await
                    .map_err(|e| match e {
                        ServiceError::Store(StoreError::InvalidState(_)) => conflict(
                            "この患者の登録は同時に更新されました。もう一度送ってください。",
                            "The registration changed meanwhile; send the feed again.",
                        ),
                        other => FhirError::from(other).into(),
                    })?;
            let (ja, en) = if done.changed.is_empty() {
                (
                    "登録内容に変更はありません。".to_string(),
                    "Nothing changed.".to_string(),
                )
            } else {
                (
                    format!("登録を更新しました（{}）。", done.changed.join(", ")),
                    format!("Registration updated ({}).", done.changed.join(", ")),
                )
            };
            (StatusCode::OK, done.record.person_id, ja, en)
        }
        None => {
            if body_id.is_some() {
                return Err(bad_query(
                    "新しい登録の id は Renkei が決めます（患者の ID）。本文に id を入れないでください。",
                    "The id of a new registration is assigned by Renkei (the person id); leave id out.",
                ));
            }
            let audit = actor
                .audit("patient.register", Outcome::Success)
                .target("patient_record", &record.id)
                .detail(detail);
            let done = core_patients::register(state.store.as_ref(), record, audit)
                .await
                .map_err(|e| match e {
                    // Another feed of the same identifier committed first.
                    ServiceError::Invalid { .. } => conflict(
                        "同じ患者IDが同時に登録されました。もう一度送ると更新になります。",
                        "The same patient ID was registered meanwhile; send the feed again to update it.",
                    ),
                    other => FhirError::from(other).into(),
                })?;
            let (ja, en) = match done.outcome {
                LinkOutcome::NewPerson => (
                    "新しい患者として登録しました。".to_string(),
                    "Registered as a new patient.".to_string(),
                ),
                LinkOutcome::AutoLinked { .. } => (
                    "登録し、患者インデックスが既存の患者に自動で結び付けました。".to_string(),
                    "Registered and linked automatically to an existing patient by the patient index.".to_string(),
                ),
                LinkOutcome::PendingReview { .. } => (
                    "新しい患者として登録しました。既存の患者と同一人物の可能性があり、事務局が確認します。".to_string(),
                    "Registered as a new patient; it may be an existing patient, and the secretariat will review the pair.".to_string(),
                ),
            };
            (StatusCode::CREATED, done.record.person_id, ja, en)
        }
    };
    respond(state, actor, headers, status, &person, &ja, &en).await
}

/// The answer to a feed: the Patient as `GET /fhir/Patient/{id}` gives it (the default,
/// `Prefer: return=representation`), nothing (`return=minimal`) or an informational
/// OperationOutcome saying what the patient index did (`return=OperationOutcome`).
async fn respond(
    state: &SharedState,
    actor: &Actor,
    headers: &HeaderMap,
    status: StatusCode,
    person: &str,
    ja: &str,
    en: &str,
) -> Result<Response, WriteFailure> {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut res = if prefer.contains("return=minimal") {
        status.into_response()
    } else if prefer.contains("return=OperationOutcome") {
        json_response(
            status,
            json!({
                "resourceType": "OperationOutcome",
                "issue": [{
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": format!("{ja} / {en}"),
                    "details": { "text": ja },
                }]
            })
            .to_string(),
        )
    } else {
        // Showing the Patient is a read of the person like any other: decided and audited.
        let decision = renkei_core::access::authorize(
            state.store.as_ref(),
            &actor.requester,
            &renkei_core::access::Origin {
                login_id: actor.login_id.clone(),
                ip: actor.ip.clone(),
                user_agent: actor.user_agent.clone(),
                resource: format!("fhir:Patient/{person}"),
            },
            person,
            InfoCategory::Demographics,
            None,
        )
        .await
        .map_err(FhirError::from)?;
        let patient = if decision.is_permit() {
            crate::fhir::patient_for(state, &actor.requester, person).await?
        } else {
            None
        };
        match patient {
            Some(p) => json_response(status, p.to_string()),
            None => status.into_response(),
        }
    };
    let location = format!("{}/Patient/{person}", base_url(state));
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "urn:oid:1.2.392.100495.20.3.51.10110000001";
    const OTHER: &str = "urn:oid:1.2.392.100495.20.3.51.10110000002";

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "identifier": [
                { "system": OWN, "value": "P-1" },
                { "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber", "value": "01234567" },
            ],
            "name": [
                { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }], "use": "official", "family": "苫小牧", "given": ["花子"] },
                { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "SYL" }], "use": "official", "family": "トマコマイ", "given": ["ハナコ"] },
                { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "SYL" }], "use": "old", "family": "キュウセイ" },
            ],
            "gender": "female",
            "birthDate": "1938-04-12",
            "telecom": [{ "system": "email", "value": "a@example.jp" }, { "system": "phone", "value": "0144-32-1111" }],
            "address": [{ "postalCode": "053-0022", "state": "北海道", "city": "苫小牧市", "line": ["表町1丁目2-3"] }],
        })
    }

    fn systems() -> HashSet<String> {
        [OWN.to_string(), OTHER.to_string()].into()
    }

    #[test]
    fn maps_jp_patient_to_the_registration_form() {
        let (input, paths) = registration_input(&patient(), OWN, "P-1", &systems()).unwrap();
        assert_eq!(input.local_id, "P-1");
        assert_eq!(input.id_system, OWN);
        assert_eq!(
            (input.family_kanji.as_str(), input.given_kanji.as_str()),
            ("苫小牧", "花子")
        );
        assert_eq!(
            (input.family_kana.as_str(), input.given_kana.as_str()),
            ("トマコマイ", "ハナコ")
        );
        assert_eq!(input.previous_family_kana, "キュウセイ");
        assert_eq!(input.birth_date, "1938-04-12");
        assert_eq!(input.sex, "female");
        assert_eq!(input.phone, "0144-32-1111");
        assert_eq!(input.postal_code, "053-0022");
        assert_eq!(input.address, "北海道苫小牧市表町1丁目2-3");
        assert_eq!(paths.of("family_kana"), "Patient.name[1].family");
        assert_eq!(paths.of("phone"), "Patient.telecom[1].value");
        assert_eq!(paths.of("birth_date"), "Patient.birthDate");
    }

    #[test]
    fn refuses_foreign_and_conflicting_identifiers() {
        let mut p = patient();
        p["identifier"] =
            json!([{ "system": OWN, "value": "P-2" }, { "system": OTHER, "value": "9" }]);
        let issues = registration_input(&p, OWN, "P-1", &systems())
            .err()
            .unwrap();
        let at: Vec<&str> = issues.iter().map(|i| i.expression.as_str()).collect();
        assert_eq!(
            at,
            vec![
                "Patient.identifier[0].value",
                "Patient.identifier[1].system",
                "Patient.identifier"
            ]
        );
        let mut p = patient();
        p["active"] = json!(false);
        assert!(registration_input(&p, OWN, "P-1", &systems()).is_err());
    }

    #[test]
    fn query_names_one_identifier_with_system() {
        assert_eq!(
            feed_identifier(Some("identifier=urn%3Ax%7C42")).ok(),
            Some(("urn:x".to_string(), "42".to_string()))
        );
        for bad in [
            "",
            "identifier=42",
            "identifier=%7C42",
            "identifier=urn:x%7C",
            "family=x",
            "identifier=a%7C1&identifier=a%7C2",
        ] {
            assert!(feed_identifier(Some(bad)).is_err(), "{bad}");
        }
    }
}
