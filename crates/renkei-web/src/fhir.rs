//! The standard patient-identity interfaces over FHIR R4 (JSON only): IHE PDQm
//! (`Patient` search, ITI-78; `Patient/$match`, ITI-119), IHE PIXm (`Patient/$ihe-pix`,
//! ITI-83), `Patient` read and `Consent` read, shaped after JP Core (JP_Patient,
//! JP_Consent). See docs/fhir.md.
//!
//! Every read of patient data passes the same decision point as the pages
//! (`renkei_core::access`): a resource is assembled only from the registrations the viewer
//! may see, a refusal answers exactly like an unknown resource (404), and searches are
//! audited as one record naming every person returned. Authentication is the signed-in
//! session for now; errors are OperationOutcomes in Japanese and English.

use crate::error::AppError;
use crate::pages::patients::require_access;
use crate::session::Viewer;
use crate::SharedState;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use renkei_core::access::evaluate;
use renkei_core::patients::{self as core_patients, MatchQuery};
use renkei_domain::audit::Outcome;
use renkei_domain::now_millis;
use renkei_domain::patient::{ConsentScope, InfoCategory, Sex};
use renkei_domain::text::search_fold;
use renkei_storage::{Consent, Facility, FacilityQuery, PatientRecord, StoreError};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
pub const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
pub const JP_CONSENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Consent";
pub const NAME_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
pub const MATCH_GRADE: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";
/// Renkei's own code system for the categories a consent may exclude.
pub const INFO_CATEGORY_SYSTEM: &str = "urn:renkei:fhir:CodeSystem:info-category";
/// Renkei facility IDs as printed in the directory (`F00042`).
pub const FACILITY_CODE_SYSTEM: &str = "urn:renkei:facility-code";
/// Consent details JP Core has no element for (form, signer, proxy, family, place).
pub const CONSENT_DETAILS: &str = "urn:renkei:fhir:StructureDefinition:consent-details";

const DEFAULT_COUNT: usize = 20;
const MAX_COUNT: usize = 100;
/// How many team patients a search looks through (one representative record each).
const SEARCH_SCAN: i64 = 5000;
/// How many registrations `$match` scores.
const MATCH_CANDIDATES: i64 = 500;

// --- responses and errors ----------------------------------------------------------------

fn fhir(status: StatusCode, body: Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    res
}

/// An error answered as an OperationOutcome.
#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    /// `OperationOutcome.issue.code` (http://hl7.org/fhir/issue-type).
    pub code: &'static str,
    pub ja: String,
    pub en: String,
}

pub type FhirResult<T> = Result<T, FhirError>;

impl FhirError {
    pub fn new(status: StatusCode, code: &'static str, ja: &str, en: &str) -> FhirError {
        FhirError {
            status,
            code,
            ja: ja.into(),
            en: en.into(),
        }
    }
    fn invalid(ja: impl Into<String>, en: impl Into<String>) -> FhirError {
        FhirError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            ja: ja.into(),
            en: en.into(),
        }
    }
    fn not_found() -> FhirError {
        FhirError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "該当するリソースがないか、閲覧が許可されていません。",
            "No such resource, or you may not see it.",
        )
    }
}

pub fn operation_outcome(code: &str, severity: &str, ja: &str, en: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": severity,
            "code": code,
            "diagnostics": format!("{ja} / {en}"),
        }]
    })
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let severity = if self.status.is_server_error() {
            "fatal"
        } else {
            "error"
        };
        fhir(
            self.status,
            operation_outcome(self.code, severity, &self.ja, &self.en),
        )
    }
}

impl From<AppError> for FhirError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound | AppError::Store(StoreError::NotFound(_)) => FhirError::not_found(),
            AppError::Forbidden | AppError::Csrf => FhirError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "この操作を行う権限がありません。",
                "You are not allowed to do this.",
            ),
            AppError::SignInRequired { .. } => FhirError::new(
                StatusCode::UNAUTHORIZED,
                "login",
                "サインインが必要です。",
                "Sign-in required.",
            ),
            AppError::BadRequest(m) => FhirError::invalid(m.clone(), m),
            AppError::Store(e) => {
                tracing::error!(error = %e, "storage error (fhir)");
                FhirError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "処理を完了できませんでした。",
                    "The request could not be completed.",
                )
            }
            AppError::Internal(e) | AppError::NoDocumentFont(e) => {
                tracing::error!(error = %e, "internal error (fhir)");
                FhirError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "処理を完了できませんでした。",
                    "The request could not be completed.",
                )
            }
        }
    }
}

impl From<StoreError> for FhirError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<renkei_core::ServiceError> for FhirError {
    fn from(e: renkei_core::ServiceError) -> Self {
        AppError::from(e).into()
    }
}

/// The signed-in viewer, or a 401 OperationOutcome.
pub struct FhirViewer(pub Viewer);

impl FromRequestParts<SharedState> for FhirViewer {
    type Rejection = FhirError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        Ok(FhirViewer(Viewer::from_request_parts(parts, state).await?))
    }
}

/// The FHIR base as clients see it, for `fullUrl` and links.
fn base_url(state: &SharedState) -> String {
    format!("{}/fhir", state.config.public_url.trim_end_matches('/'))
}

// --- CapabilityStatement ------------------------------------------------------------------

fn search_param(name: &str, definition: &str, kind: &str, doc: &str) -> Value {
    json!({ "name": name, "definition": definition, "type": kind, "documentation": doc })
}

/// `GET /fhir/metadata`: what this server implements, and nothing more. Public.
pub async fn metadata(State(state): State<SharedState>) -> Response {
    let base = base_url(&state);
    let mut capability = json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-22",
            "publisher": state.config.network_name,
            "kind": "instance",
            "software": { "name": "Renkei", "version": env!("CARGO_PKG_VERSION") },
            "implementation": {
                "description": format!("{}: patient identity (PDQm, PIXm, $match), consent and the clinical record (JP Core)", state.config.network_name),
                "url": base,
            },
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "rest": [{
                "mode": "server",
                "security": {
                    "description": "Signed-in Renkei session (password and second factor), or an OAuth2 bearer token from client credentials issued to a facility (SMART Backend Services scopes such as system/Observation.rs). サインイン済みのセッション、または施設に発行されたクライアントのアクセストークンが必要です。"
                },
                "resource": [
                    {
                        "type": "Patient",
                        "profile": JP_PATIENT,
                        "interaction": [
                            { "code": "read" },
                            { "code": "search-type" },
                            { "code": "update", "documentation": "Conditional update only: PUT Patient?identifier=<the facility's own patient-ID system>|<value> is the IHE PIXm Patient Identity Feed (ITI-104), registering the patient through the patient index or changing the facility's registration (201 created, 200 updated). PUT Patient/{id} is not supported." },
                        ],
                        "updateCreate": false,
                        "conditionalUpdate": true,
                        "conditionalDelete": "not-supported",
                        "searchParam": [
                            search_param("family", "http://hl7.org/fhir/SearchParameter/individual-family", "string", "Kanji or kana, kana- and width-insensitive contains; :exact = exact kanji or kana"),
                            search_param("given", "http://hl7.org/fhir/SearchParameter/individual-given", "string", "Kanji or kana, kana- and width-insensitive contains; :exact = exact kanji or kana"),
                            search_param("birthdate", "http://hl7.org/fhir/SearchParameter/individual-birthdate", "date", "YYYY-MM-DD, equality only (eq prefix allowed)"),
                            search_param("gender", "http://hl7.org/fhir/SearchParameter/individual-gender", "token", "male | female | other | unknown"),
                            search_param("identifier", "http://hl7.org/fhir/SearchParameter/Patient-identifier", "token", "system|value or value"),
                            search_param("telecom", "http://hl7.org/fhir/SearchParameter/individual-telecom", "token", "Phone number; digits compared"),
                            search_param("address", "http://hl7.org/fhir/SearchParameter/individual-address", "string", "Address text or postal code, width-insensitive contains; :exact = exact text or postal code"),
                        ],
                        "operation": [
                            { "name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix" },
                            { "name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match" },
                            { "name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything" },
                        ],
                    },
                    {
                        "type": "Consent",
                        "profile": JP_CONSENT,
                        "interaction": [{ "code": "read" }],
                    }
                ],
                "interaction": [
                    { "code": "transaction" },
                    { "code": "batch" },
                    { "code": "history-system" },
                ],
            }],
    });
    if let Some(resources) = capability["rest"][0]["resource"].as_array_mut() {
        resources.extend(store_resources());
        resources.push(json!({
            "type": "AuditEvent",
            "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
            "documentation": "Read-only: the hash-chained audit trail. The secretariat reads every record; a facility administrator or a facility's system (scope AuditEvent.rs) the records of that facility's actors.",
            "interaction": [{ "code": "read" }, { "code": "search-type" }],
            "searchParam": [
                {"name": "date", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-date", "type": "date"},
                {"name": "patient", "definition": "http://hl7.org/fhir/SearchParameter/clinical-patient", "type": "reference"},
                {"name": "subtype", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-subtype", "type": "token", "documentation": "Renkei action name (urn:renkei:audit-action), e.g. patient.read; a value ending in '.' matches a prefix"},
                {"name": "outcome", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-outcome", "type": "token"},
                {"name": "agent-name", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-agent-name", "type": "string", "documentation": "the actor's login ID, exact"},
            ],
        }));
    }
    fhir(StatusCode::OK, capability)
}

/// The resource-store types (`fhir_rest.rs`) as CapabilityStatement entries.
fn store_resources() -> Vec<Value> {
    renkei_fhir::resource::types()
        .iter()
        .filter(|t| !matches!(t.name, "Patient" | "Consent" | "AuditEvent"))
        .map(|t| {
            let params = renkei_fhir::resource::search_params(t.name);
            let mut interactions = vec!["read", "vread", "search-type", "history-instance", "history-type"];
            if !t.read_only {
                interactions.extend(["create", "update", "delete"]);
            }
            let includes: Vec<String> = params
                .iter()
                .filter(|p| p.kind == renkei_fhir::ParamKind::Reference)
                .map(|p| format!("{}:{}", t.name, p.code))
                .collect();
            let mut entry = json!({
                "type": t.name,
                "profile": t.profile,
                "interaction": interactions.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": !t.read_only,
                "conditionalCreate": !t.read_only,
                "conditionalUpdate": !t.read_only,
                "conditionalDelete": "not-supported",
                "searchRevInclude": ["Provenance:target"],
                "searchParam": params.iter().map(|p| json!({
                    "name": p.code,
                    "type": match p.kind {
                        renkei_fhir::ParamKind::Token => "token",
                        renkei_fhir::ParamKind::String => "string",
                        renkei_fhir::ParamKind::Date => "date",
                        renkei_fhir::ParamKind::Reference => "reference",
                        renkei_fhir::ParamKind::Number => "number",
                        renkei_fhir::ParamKind::Quantity => "quantity",
                        renkei_fhir::ParamKind::Uri => "uri",
                    },
                    "documentation": p.expression,
                })).chain([
                    json!({"name": "_id", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id", "type": "token"}),
                    json!({"name": "_lastUpdated", "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "type": "date"}),
                ]).collect::<Vec<_>>(),
            });
            // R4 forbids empty arrays: types without reference parameters list none.
            if !includes.is_empty() {
                entry["searchInclude"] = json!(includes);
            }
            entry
        })
        .collect()
}

// --- Patient assembly ---------------------------------------------------------------------

/// The registrations of a person the viewer may see (as `pages::patients` shows them).
async fn visible_records(
    state: &SharedState,
    viewer: &Viewer,
    person_id: &str,
) -> FhirResult<Vec<PatientRecord>> {
    let mut out = renkei_core::access::visible_records(
        state.store.as_ref(),
        &viewer.requester(),
        person_id,
        InfoCategory::Demographics,
        now_millis(),
    )
    .await?;
    // The viewer's own registration first: it gives gender and birth date.
    if let Some(mine) = viewer.facility().map(|f| f.id.clone()) {
        out.sort_by_key(|r| r.facility_id != mine);
    }
    Ok(out)
}

async fn facility_names(
    state: &SharedState,
    records: &[PatientRecord],
) -> FhirResult<HashMap<String, String>> {
    let mut names = HashMap::new();
    for r in records {
        if !names.contains_key(&r.facility_id) {
            let name = state
                .store
                .get_facility(&r.facility_id)
                .await?
                .map(|f| f.name)
                .unwrap_or_else(|| r.facility_id.clone());
            names.insert(r.facility_id.clone(), name);
        }
    }
    Ok(names)
}

fn human_name(use_: &str, representation: &str, family: &str, given: &str) -> Value {
    let mut name = json!({
        "extension": [{ "url": NAME_REPRESENTATION, "valueCode": representation }],
        "use": use_,
        "text": format!("{family} {given}").trim().to_string(),
        "family": family,
    });
    if !given.is_empty() {
        name["given"] = json!([given]);
    }
    name
}

/// A JP_Patient assembled from the given (visible) registrations.
pub fn patient_resource(
    person_id: &str,
    records: &[PatientRecord],
    facility_names: &HashMap<String, String>,
    replaced_by: Option<&str>,
) -> Value {
    let mut identifiers = Vec::new();
    let mut names = Vec::new();
    let mut seen_names = HashSet::new();
    let mut telecom = Vec::new();
    let mut seen_phones = HashSet::new();
    let mut addresses = Vec::new();
    let mut seen_addresses = HashSet::new();
    for r in records {
        identifiers.push(json!({
            "use": "usual",
            "system": r.id_system,
            "value": r.local_id,
            "assigner": { "display": facility_names.get(&r.facility_id).cloned().unwrap_or_default() },
        }));
        let key = (
            r.family_kanji.clone(),
            r.given_kanji.clone(),
            r.family_kana.clone(),
            r.given_kana.clone(),
        );
        if seen_names.insert(key) {
            names.push(human_name(
                "official",
                "IDE",
                &r.family_kanji,
                &r.given_kanji,
            ));
            names.push(human_name("official", "SYL", &r.family_kana, &r.given_kana));
        }
        for p in &r.previous_names {
            let key = (
                p.family_kanji.clone(),
                String::new(),
                p.family_kana.clone(),
                "old".to_string(),
            );
            if seen_names.insert(key) {
                if !p.family_kanji.is_empty() {
                    names.push(human_name("old", "IDE", &p.family_kanji, ""));
                }
                if !p.family_kana.is_empty() {
                    names.push(human_name("old", "SYL", &p.family_kana, ""));
                }
            }
        }
        for phone in &r.phones {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if seen_phones.insert(digits) {
                telecom.push(json!({ "system": "phone", "value": phone, "use": "home" }));
            }
        }
        if (!r.address.is_empty() || !r.postal_code.is_empty())
            && seen_addresses.insert((r.postal_code.clone(), r.address.clone()))
        {
            let mut a = Map::new();
            a.insert("use".into(), json!("home"));
            if !r.address.is_empty() {
                a.insert("text".into(), json!(r.address));
            }
            if !r.postal_code.is_empty() {
                a.insert("postalCode".into(), json!(r.postal_code));
            }
            a.insert("country".into(), json!("JP"));
            addresses.push(Value::Object(a));
        }
    }
    let mut p = Map::new();
    p.insert("resourceType".into(), json!("Patient"));
    p.insert("id".into(), json!(person_id));
    p.insert("meta".into(), json!({ "profile": [JP_PATIENT] }));
    p.insert("identifier".into(), json!(identifiers));
    p.insert("active".into(), json!(replaced_by.is_none()));
    p.insert("name".into(), json!(names));
    if !telecom.is_empty() {
        p.insert("telecom".into(), json!(telecom));
    }
    if let Some(first) = records.first() {
        p.insert("gender".into(), json!(first.sex.code()));
        if !first.birth_date.is_empty() {
            p.insert("birthDate".into(), json!(first.birth_date));
        }
    }
    if !addresses.is_empty() {
        p.insert("address".into(), json!(addresses));
    }
    if let Some(survivor) = replaced_by {
        p.insert(
            "link".into(),
            json!([{ "other": { "reference": format!("Patient/{survivor}") }, "type": "replaced-by" }]),
        );
    }
    Value::Object(p)
}

/// `GET /fhir/Patient/{id}`.
pub async fn patient_read(
    State(state): State<SharedState>,
    FhirViewer(viewer): FhirViewer,
    Path(id): Path<String>,
) -> FhirResult<Response> {
    let resource = format!("fhir:Patient/{id}");
    let Some(survivor) = state.store.resolve_person(&id).await? else {
        // Audit the attempt all the same, then answer as for any refusal.
        require_access(&state, &viewer, &id, InfoCategory::Demographics, &resource).await?;
        return Err(FhirError::not_found());
    };
    require_access(
        &state,
        &viewer,
        &survivor,
        InfoCategory::Demographics,
        &resource,
    )
    .await?;
    let records = visible_records(&state, &viewer, &survivor).await?;
    if records.is_empty() {
        return Err(FhirError::not_found());
    }
    let names = facility_names(&state, &records).await?;
    let replaced_by = (survivor != id).then_some(survivor.as_str());
    Ok(fhir(
        StatusCode::OK,
        patient_resource(&id, &records, &names, replaced_by),
    ))
}

// --- PDQm search --------------------------------------------------------------------------

fn parse_query(raw: Option<&str>) -> FhirResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| {
        FhirError::invalid(
            "クエリ文字列を解釈できません。",
            "The query string cannot be parsed.",
        )
    })
}

fn lenient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"))
}

#[derive(Debug, Default)]
struct Criteria {
    /// (value, exact)
    family: Vec<(String, bool)>,
    given: Vec<(String, bool)>,
    birthdate: Vec<String>,
    gender: Vec<Sex>,
    /// (system, value); system None matches any.
    identifier: Vec<(Option<String>, String)>,
    telecom: Vec<String>,
    address: Vec<(String, bool)>,
    count: usize,
}

fn digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            c.to_digit(10)
                .and_then(|d| char::from_digit(d, 10))
                .or_else(|| {
                    // Full-width digits.
                    ('０'..='９')
                        .contains(&c)
                        .then(|| char::from_digit(c as u32 - '０' as u32, 10))
                        .flatten()
                })
        })
        .collect()
}

fn parse_criteria(params: &[(String, String)], strict: bool) -> FhirResult<(Criteria, String)> {
    let mut c = Criteria {
        count: DEFAULT_COUNT,
        ..Default::default()
    };
    let mut used = Vec::new();
    for (key, value) in params {
        let value = value.trim().to_string();
        let bad = |en: &str| {
            FhirError::invalid(
                format!("検索パラメータ {key} の値が正しくありません。"),
                format!("Search parameter {key}: {en}"),
            )
        };
        let mut keep = true;
        match key.as_str() {
            "family" | "family:exact" | "given" | "given:exact" | "address" | "address:exact" => {
                if value.is_empty() {
                    return Err(bad("empty value"));
                }
                let exact = key.ends_with(":exact");
                let v = (value.clone(), exact);
                match key.split(':').next().unwrap_or("") {
                    "family" => c.family.push(v),
                    "given" => c.given.push(v),
                    _ => c.address.push(v),
                }
            }
            "birthdate" => {
                let date = value.strip_prefix("eq").unwrap_or(&value);
                if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() || date.len() != 10
                {
                    return Err(FhirError::new(
                        StatusCode::BAD_REQUEST,
                        "not-supported",
                        "birthdate は YYYY-MM-DD の完全一致のみ対応しています。",
                        "birthdate supports equality on a full YYYY-MM-DD date only.",
                    ));
                }
                c.birthdate.push(date.to_string());
            }
            "gender" => match Sex::from_code(&value) {
                Some(s) => c.gender.push(s),
                None => return Err(bad("expected male, female, other or unknown")),
            },
            "identifier" => {
                let (system, v) = match value.split_once('|') {
                    Some(("", v)) => (None, v.to_string()),
                    Some((s, v)) => (Some(s.to_string()), v.to_string()),
                    None => (None, value.clone()),
                };
                if v.is_empty() {
                    return Err(bad("expected system|value"));
                }
                c.identifier.push((system, v));
            }
            "telecom" => {
                let v = value.rsplit('|').next().unwrap_or("");
                let d = digits(v);
                if d.is_empty() {
                    return Err(bad("expected a phone number"));
                }
                c.telecom.push(d);
            }
            "_count" => match value.parse::<usize>() {
                Ok(n) => c.count = n.min(MAX_COUNT),
                Err(_) => return Err(bad("expected a non-negative integer")),
            },
            "_format"
                if ["json", "application/fhir+json", "application/json"]
                    .contains(&value.as_str()) => {}
            _ => {
                if strict {
                    return Err(FhirError::new(
                        StatusCode::BAD_REQUEST,
                        "not-supported",
                        &format!("検索パラメータ {key} には対応していません。"),
                        &format!("Unknown or unsupported search parameter: {key}"),
                    ));
                }
                keep = false;
            }
        }
        if keep {
            used.push((key.clone(), value));
        }
    }
    let query = serde_urlencoded::to_string(&used).unwrap_or_default();
    Ok((c, query))
}

fn name_matches(wanted: &(String, bool), kanji: &str, kana: &str) -> bool {
    let (value, exact) = wanted;
    if *exact {
        return value == kanji || value == kana;
    }
    let w = search_fold(value);
    search_fold(kanji).contains(&w) || search_fold(kana).contains(&w)
}

fn criteria_match(c: &Criteria, records: &[PatientRecord]) -> bool {
    let family = c.family.iter().all(|f| {
        records.iter().any(|r| {
            name_matches(f, &r.family_kanji, &r.family_kana)
                || r.previous_names
                    .iter()
                    .any(|p| name_matches(f, &p.family_kanji, &p.family_kana))
        })
    });
    let given = c.given.iter().all(|g| {
        records
            .iter()
            .any(|r| name_matches(g, &r.given_kanji, &r.given_kana))
    });
    let birth = c
        .birthdate
        .iter()
        .all(|b| records.iter().any(|r| &r.birth_date == b));
    let gender = c.gender.iter().all(|g| records.iter().any(|r| r.sex == *g));
    let identifier = c.identifier.iter().all(|(system, value)| {
        records
            .iter()
            .any(|r| &r.local_id == value && system.as_ref().is_none_or(|s| s == &r.id_system))
    });
    let telecom = c.telecom.iter().all(|t| {
        records
            .iter()
            .any(|r| r.phones.iter().any(|p| &digits(p) == t))
    });
    let address = c.address.iter().all(|(value, exact)| {
        records.iter().any(|r| {
            if *exact {
                value == &r.address || value == &r.postal_code
            } else {
                let w = search_fold(value);
                search_fold(&r.address).contains(&w)
                    || (!digits(value).is_empty() && digits(&r.postal_code) == digits(value))
            }
        })
    });
    family && given && birth && gender && identifier && telecom && address
}

/// One criterion the store can apply to a registration's search text (names, kana,
/// birth date, local ID) to narrow the scan. A single term only: a person matches when each
/// criterion is met by one of the visible registrations, not necessarily the same one, so
/// this keeps a superset of the matches.
fn prefilter(c: &Criteria) -> Option<&str> {
    c.birthdate
        .first()
        .map(String::as_str)
        .or_else(|| c.identifier.first().map(|(_, v)| v.as_str()))
        .or_else(|| c.family.first().map(|(v, _)| v.as_str()))
        .or_else(|| c.given.first().map(|(v, _)| v.as_str()))
        .filter(|t| !t.trim().is_empty())
}

fn searchset(self_url: String, total: usize, entries: Vec<Value>) -> Value {
    let mut bundle = json!({
        "resourceType": "Bundle",
        "meta": { "lastUpdated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) },
        "type": "searchset",
        "total": total,
        "link": [{ "relation": "self", "url": self_url }],
    });
    if !entries.is_empty() {
        bundle["entry"] = json!(entries);
    }
    bundle
}

fn acting_facility(viewer: &Viewer) -> FhirResult<Facility> {
    viewer.facility().cloned().ok_or_else(|| {
        FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "施設を選んでから検索してください。",
            "Act for a facility to search patients.",
        )
    })
}

/// `GET /fhir/Patient?…` (PDQm ITI-78): patients of the viewer's facility's care teams.
pub async fn patient_search(
    State(state): State<SharedState>,
    FhirViewer(viewer): FhirViewer,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> FhirResult<Response> {
    let params = parse_query(raw.as_deref())?;
    let (criteria, used) = parse_criteria(&params, !lenient(&headers))?;
    let facility = acting_facility(&viewer)?;
    let base = base_url(&state);
    let mut matched: Vec<(String, Vec<PatientRecord>)> = Vec::new();
    let mut seen = HashSet::new();
    for r in state
        .store
        .team_patients(&facility.id, prefilter(&criteria), SEARCH_SCAN)
        .await?
    {
        let person = state
            .store
            .resolve_person(&r.person_id)
            .await?
            .unwrap_or(r.person_id);
        if !seen.insert(person.clone()) {
            continue;
        }
        let records = visible_records(&state, &viewer, &person).await?;
        if !records.is_empty() && criteria_match(&criteria, &records) {
            matched.push((person, records));
        }
    }
    let total = matched.len();
    let mut entries = Vec::new();
    let mut shown = Vec::new();
    for (person, records) in matched.into_iter().take(criteria.count) {
        let names = facility_names(&state, &records).await?;
        entries.push(json!({
            "fullUrl": format!("{base}/Patient/{person}"),
            "resource": patient_resource(&person, &records, &names, None),
            "search": { "mode": "match" },
        }));
        shown.push(person);
    }
    state
        .store
        .append_audit(
            viewer
                .audit("patient.search", Outcome::Success)
                .detail(json!({ "resource": "fhir:Patient", "query": used, "persons": shown })),
        )
        .await?;
    let self_url = if used.is_empty() {
        format!("{base}/Patient")
    } else {
        format!("{base}/Patient?{used}")
    };
    Ok(fhir(StatusCode::OK, searchset(self_url, total, entries)))
}

// --- PIXm ---------------------------------------------------------------------------------

/// Every facility of the network, any status (identifier domains outlive memberships).
async fn all_facilities(state: &SharedState) -> FhirResult<Vec<Facility>> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = state
            .store
            .search_facilities(&FacilityQuery {
                status: None,
                limit: 500,
                offset,
                ..Default::default()
            })
            .await?;
        let n = page.items.len() as i64;
        out.extend(page.items);
        if n < 500 {
            break;
        }
        offset += n;
    }
    Ok(out)
}

fn pix_error_unknown_domain(which: &str) -> FhirError {
    FhirError::new(
        StatusCode::BAD_REQUEST,
        "code-invalid",
        &format!("{which} の識別子体系（ドメイン）はこのネットワークにありません。"),
        &format!("{which}: unknown identifier domain (system)."),
    )
}

/// `GET /fhir/Patient/$ihe-pix?sourceIdentifier=system|value{&targetSystem=uri}` (ITI-83).
pub async fn pix(
    State(state): State<SharedState>,
    FhirViewer(viewer): FhirViewer,
    RawQuery(raw): RawQuery,
) -> FhirResult<Response> {
    let params = parse_query(raw.as_deref())?;
    let mut source = None;
    let mut targets: Vec<String> = Vec::new();
    for (k, v) in &params {
        match k.as_str() {
            "sourceIdentifier" if source.is_none() => source = Some(v.trim().to_string()),
            "targetSystem" => targets.extend(
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            ),
            "_format" => {}
            _ => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    &format!("パラメータ {k} には対応していません（または重複しています）。"),
                    &format!("Unknown or repeated parameter: {k}"),
                ))
            }
        }
    }
    let Some((system, value)) = source
        .as_deref()
        .and_then(|s| s.split_once('|'))
        .filter(|(s, v)| !s.is_empty() && !v.is_empty())
    else {
        return Err(FhirError::invalid(
            "sourceIdentifier=system|value を指定してください。",
            "sourceIdentifier=system|value is required.",
        ));
    };
    // The identifier domains of the network: each facility's local patient-ID system.
    let facilities = all_facilities(&state).await?;
    let domains: Vec<(&Facility, String)> = facilities
        .iter()
        .map(|f| (f, core_patients::local_id_system(f)))
        .collect();
    let owners: Vec<&Facility> = domains
        .iter()
        .filter(|(_, s)| s == system)
        .map(|(f, _)| *f)
        .collect();
    if owners.is_empty() {
        return Err(pix_error_unknown_domain("sourceIdentifier"));
    }
    if let Some(t) = targets
        .iter()
        .find(|t| !domains.iter().any(|(_, s)| s == *t))
    {
        // ITI-83: a targetSystem the manager does not know is refused with 403.
        return Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "code-invalid",
            &format!("targetSystem {t} はこのネットワークの識別子体系ではありません。"),
            &format!("targetSystem {t} is not an identifier domain of this network."),
        ));
    }
    let mut found = None;
    for f in owners {
        if let Some(r) = state
            .store
            .find_patient_record(&f.id, system, value)
            .await?
        {
            found = Some(r);
            break;
        }
    }
    let resource = "fhir:Patient/$ihe-pix";
    let Some(record) = found else {
        return Err(FhirError::not_found());
    };
    let person = state
        .store
        .resolve_person(&record.person_id)
        .await?
        .unwrap_or(record.person_id.clone());
    require_access(
        &state,
        &viewer,
        &person,
        InfoCategory::Demographics,
        resource,
    )
    .await?;
    let mut parameter = Vec::new();
    for r in visible_records(&state, &viewer, &person).await? {
        if r.id == record.id {
            continue;
        }
        if !targets.is_empty() && !targets.contains(&r.id_system) {
            continue;
        }
        parameter.push(json!({
            "name": "targetIdentifier",
            "valueIdentifier": { "use": "usual", "system": r.id_system, "value": r.local_id },
        }));
    }
    parameter.push(json!({
        "name": "targetId",
        "valueReference": { "reference": format!("Patient/{person}") },
    }));
    Ok(fhir(
        StatusCode::OK,
        json!({ "resourceType": "Parameters", "parameter": parameter }),
    ))
}

// --- $match -------------------------------------------------------------------------------

fn bad_body(ja: &str, en: &str) -> FhirError {
    FhirError::new(StatusCode::BAD_REQUEST, "structure", ja, en)
}

pub(crate) fn is_kana(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー' | '・' | ' ' | '\u{3000}' | '\u{FF66}'..='\u{FF9F}')
        })
}

fn str_field<'a>(v: &'a Value, field: &str, path: &str) -> FhirResult<Option<&'a str>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad_body(
            &format!("{path}.{field} は文字列でなければなりません。"),
            &format!("{path}.{field} must be a string."),
        )),
    }
}

fn array_field<'a>(v: &'a Value, field: &str, path: &str) -> FhirResult<&'a [Value]> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a.as_slice()),
        Some(_) => Err(bad_body(
            &format!("{path}.{field} は配列でなければなりません。"),
            &format!("{path}.{field} must be an array."),
        )),
    }
}

/// The family and given parts of one HumanName.
pub(crate) fn name_parts(name: &Value) -> FhirResult<(String, String)> {
    let family = str_field(name, "family", "Patient.name")?.unwrap_or("");
    let mut given = Vec::new();
    for g in array_field(name, "given", "Patient.name")? {
        match g.as_str() {
            Some(s) => given.push(s.to_string()),
            None => {
                return Err(bad_body(
                    "Patient.name.given は文字列の配列でなければなりません。",
                    "Patient.name.given must be an array of strings.",
                ))
            }
        }
    }
    let given = given.join("");
    if !family.is_empty() || !given.is_empty() {
        return Ok((family.trim().to_string(), given.trim().to_string()));
    }
    let text = str_field(name, "text", "Patient.name")?
        .unwrap_or("")
        .trim();
    let mut parts = text.splitn(2, [' ', '\u{3000}']);
    Ok((
        parts.next().unwrap_or("").trim().to_string(),
        parts.next().unwrap_or("").trim().to_string(),
    ))
}

/// Reads a Patient given to `$match` into a query for the patient index.
pub fn match_query(patient: &Value) -> FhirResult<MatchQuery> {
    if !patient.is_object() || patient["resourceType"] != "Patient" {
        return Err(bad_body(
            "resource は Patient リソースでなければなりません。",
            "The resource parameter must be a Patient.",
        ));
    }
    let mut q = MatchQuery::default();
    for name in array_field(patient, "name", "Patient")? {
        if !name.is_object() {
            return Err(bad_body(
                "Patient.name の要素が正しくありません。",
                "Patient.name entries must be objects.",
            ));
        }
        if str_field(name, "use", "Patient.name")? == Some("old") {
            continue;
        }
        let representation = array_field(name, "extension", "Patient.name")?
            .iter()
            .find(|e| e["url"] == NAME_REPRESENTATION)
            .and_then(|e| e["valueCode"].as_str());
        let (family, given) = name_parts(name)?;
        let kana = match representation {
            Some("SYL") => true,
            Some("IDE") => false,
            _ => is_kana(&format!("{family}{given}")),
        };
        let (f, g) = if kana {
            (&mut q.family_kana, &mut q.given_kana)
        } else {
            (&mut q.family_kanji, &mut q.given_kanji)
        };
        if f.is_empty() && g.is_empty() {
            *f = if kana {
                renkei_domain::text::to_katakana(&family)
            } else {
                family
            };
            *g = if kana {
                renkei_domain::text::to_katakana(&given)
            } else {
                given
            };
        }
    }
    let has_identifier = !array_field(patient, "identifier", "Patient")?.is_empty();
    let has_name = [
        &q.family_kanji,
        &q.given_kanji,
        &q.family_kana,
        &q.given_kana,
    ]
    .iter()
    .any(|s| !s.is_empty());
    match str_field(patient, "birthDate", "Patient")? {
        Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => {
            q.birth_date = d.to_string()
        }
        Some(_) => {
            return Err(bad_body(
                "Patient.birthDate は YYYY-MM-DD で指定してください。",
                "Patient.birthDate must be a full YYYY-MM-DD date.",
            ))
        }
        None => {}
    }
    if (!has_name && !has_identifier) || q.birth_date.is_empty() {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "required",
            "氏名または識別子、および生年月日が必要です。",
            "A name or an identifier, and birthDate, are required.",
        ));
    }
    if let Some(g) = str_field(patient, "gender", "Patient")? {
        q.sex = Some(Sex::from_code(g).ok_or_else(|| {
            bad_body(
                "Patient.gender は male/female/other/unknown のいずれかです。",
                "Patient.gender must be male, female, other or unknown.",
            )
        })?);
    }
    for t in array_field(patient, "telecom", "Patient")? {
        let system = str_field(t, "system", "Patient.telecom")?;
        let value = str_field(t, "value", "Patient.telecom")?.unwrap_or("");
        if q.phone.is_empty() && matches!(system, None | Some("phone")) && !value.is_empty() {
            q.phone = value.to_string();
        }
    }
    if let Some(a) = array_field(patient, "address", "Patient")?.first() {
        let text = str_field(a, "text", "Patient.address")?.unwrap_or("");
        q.address = if text.is_empty() {
            let mut parts: Vec<String> = Vec::new();
            for key in ["state", "city", "district"] {
                parts.extend(str_field(a, key, "Patient.address")?.map(str::to_string));
            }
            for l in array_field(a, "line", "Patient.address")? {
                parts.extend(l.as_str().map(str::to_string));
            }
            parts.concat()
        } else {
            text.to_string()
        };
        q.postal_code = str_field(a, "postalCode", "Patient.address")?
            .unwrap_or("")
            .to_string();
    }
    Ok(q)
}

struct MatchRequest {
    patient: Value,
    only_certain: bool,
    count: usize,
}

fn parse_match_body(body: &[u8]) -> FhirResult<MatchRequest> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        bad_body(
            "本文が JSON として正しくありません。",
            "The body is not valid JSON.",
        )
    })?;
    if v["resourceType"] != "Parameters" {
        return Err(bad_body(
            "本文は Parameters リソースでなければなりません。",
            "The body must be a Parameters resource.",
        ));
    }
    let mut req = MatchRequest {
        patient: Value::Null,
        only_certain: false,
        count: DEFAULT_COUNT,
    };
    for p in array_field(&v, "parameter", "Parameters")? {
        match p["name"].as_str() {
            Some("resource") => req.patient = p["resource"].clone(),
            Some("onlyCertainMatches") => {
                req.only_certain = p["valueBoolean"].as_bool().ok_or_else(|| {
                    bad_body(
                        "onlyCertainMatches は valueBoolean で指定してください。",
                        "onlyCertainMatches must be a valueBoolean.",
                    )
                })?
            }
            Some("count") => {
                let n = p["valueInteger"]
                    .as_u64()
                    .or_else(|| p["valuePositiveInt"].as_u64())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        bad_body(
                            "count は正の valueInteger で指定してください。",
                            "count must be a positive valueInteger.",
                        )
                    })?;
                req.count = (n as usize).min(MAX_COUNT);
            }
            _ => {
                return Err(bad_body(
                    "不明なパラメータがあります（resource, onlyCertainMatches, count のみ）。",
                    "Unknown parameter (only resource, onlyCertainMatches, count).",
                ))
            }
        }
    }
    if req.patient.is_null() {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "required",
            "resource パラメータ（Patient）が必要です。",
            "The resource parameter (a Patient) is required.",
        ));
    }
    Ok(req)
}

/// `POST /fhir/Patient/$match` (ITI-119): candidates from the patient index the viewer may
/// see, best first, with score and match grade.
pub async fn patient_match(
    State(state): State<SharedState>,
    FhirViewer(viewer): FhirViewer,
    body: axum::body::Bytes,
) -> FhirResult<Response> {
    let req = parse_match_body(&body)?;
    let query = match_query(&req.patient)?;
    let base = base_url(&state);
    let scored =
        core_patients::find_matches(state.store.as_ref(), &query, MATCH_CANDIDATES).await?;
    let requester = viewer.requester();
    let now = now_millis();
    let mut decided: HashSet<String> = HashSet::new();
    let mut best = Vec::new();
    for s in scored {
        if s.grade == "certainly-not" {
            continue;
        }
        let person = state
            .store
            .resolve_person(&s.record.person_id)
            .await?
            .unwrap_or(s.record.person_id.clone());
        if decided.contains(&person) {
            continue;
        }
        // Only a registration the viewer may see counts as evidence.
        let visible = evaluate(
            state.store.as_ref(),
            &requester,
            &person,
            InfoCategory::Demographics,
            Some(&s.record.facility_id),
            now,
        )
        .await?
        .is_permit();
        if !visible {
            continue;
        }
        decided.insert(person.clone());
        if req.only_certain && s.grade != "certain" {
            continue;
        }
        best.push((person, s));
    }
    let total = best.len();
    let mut entries = Vec::new();
    let mut shown = Vec::new();
    for (person, s) in best.into_iter().take(req.count) {
        let records = visible_records(&state, &viewer, &person).await?;
        let names = facility_names(&state, &records).await?;
        entries.push(json!({
            "fullUrl": format!("{base}/Patient/{person}"),
            "resource": patient_resource(&person, &records, &names, None),
            "search": {
                "extension": [{ "url": MATCH_GRADE, "valueCode": s.grade }],
                "mode": "match",
                "score": (s.probability * 10_000.0).round() / 10_000.0,
            },
        }));
        shown.push(json!({ "person": person, "grade": s.grade }));
    }
    state
        .store
        .append_audit(
            viewer
                .audit("patient.match", Outcome::Success)
                .detail(json!({ "resource": "fhir:Patient/$match", "persons": shown })),
        )
        .await?;
    Ok(fhir(
        StatusCode::OK,
        searchset(format!("{base}/Patient/$match"), total, entries),
    ))
}

// --- Consent ------------------------------------------------------------------------------

fn instant(millis: i64) -> String {
    use chrono::{FixedOffset, TimeZone};
    FixedOffset::east_opt(9 * 3600)
        .and_then(|tz| tz.timestamp_millis_opt(millis).single())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_default()
}

fn facility_ref(f: Option<&Facility>, id: &str) -> Value {
    match f {
        Some(f) => json!({
            "identifier": { "system": FACILITY_CODE_SYSTEM, "value": f.code.clone().unwrap_or_else(|| f.id.clone()) },
            "display": f.name,
        }),
        None => json!({ "display": id }),
    }
}

/// A JP_Consent-shaped Consent.
pub fn consent_resource(
    c: &Consent,
    person_id: &str,
    facilities: &HashMap<String, Facility>,
    now: i64,
) -> Value {
    let active = c.withdrawn_at.is_none_or(|t| t > now);
    let mut details = vec![
        json!({ "url": "form", "valueCode": c.form }),
        json!({ "url": "signer", "valueCode": c.signer }),
        json!({ "url": "familyParticipation", "valueBoolean": c.family_participation }),
    ];
    if !c.proxy_name.is_empty() {
        details.push(json!({ "url": "proxyName", "valueString": c.proxy_name }));
    }
    if !c.proxy_relationship.is_empty() {
        details.push(json!({ "url": "proxyRelationship", "valueString": c.proxy_relationship }));
    }
    if !c.family_note.is_empty() {
        details.push(json!({ "url": "familyNote", "valueString": c.family_note }));
    }
    if !c.place.is_empty() {
        details.push(json!({ "url": "place", "valueString": c.place }));
    }
    let performer = if c.signer == "proxy" {
        json!({
            "type": "RelatedPerson",
            "display": format!("{}（{}）", c.proxy_name, c.proxy_relationship),
        })
    } else {
        json!({ "reference": format!("Patient/{person_id}") })
    };
    let mut period = json!({ "start": instant(c.obtained_at) });
    if let Some(end) = c.withdrawn_at {
        period["end"] = json!(instant(end));
    }
    let mut provision = json!({ "type": "permit", "period": period });
    if c.scope == ConsentScope::Individual {
        provision["actor"] = json!(c
            .facilities
            .iter()
            .map(|f| json!({
                "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient" }] },
                "reference": facility_ref(facilities.get(f), f),
            }))
            .collect::<Vec<_>>());
    }
    if !c.excluded.is_empty() {
        provision["provision"] = json!(c
            .excluded
            .iter()
            .map(|cat| json!({
                "type": "deny",
                "code": [{ "coding": [{ "system": INFO_CATEGORY_SYSTEM, "code": cat.code(), "display": cat.label(renkei_domain::Lang::Ja) }] }],
            }))
            .collect::<Vec<_>>());
    }
    let mut r = json!({
        "resourceType": "Consent",
        "id": c.id,
        "meta": { "profile": [JP_CONSENT] },
        "extension": [{ "url": CONSENT_DETAILS, "extension": details }],
        "status": if active { "active" } else { "inactive" },
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy", "display": "Privacy Consent" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] }],
        "patient": { "reference": format!("Patient/{person_id}") },
        "dateTime": instant(c.obtained_at),
        "performer": [performer],
        "organization": [facility_ref(facilities.get(&c.obtained_facility_id), &c.obtained_facility_id)],
        "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
        "provision": provision,
    });
    if !c.card_number.is_empty() {
        r["identifier"] = json!([{ "value": c.card_number }]);
    }
    r
}

/// `GET /fhir/Consent/{id}`: readable by whoever may see the person's demographics.
pub async fn consent_read(
    State(state): State<SharedState>,
    FhirViewer(viewer): FhirViewer,
    Path(id): Path<String>,
) -> FhirResult<Response> {
    let Some(consent) = state.store.get_consent(&id).await? else {
        return Err(FhirError::not_found());
    };
    let person = state
        .store
        .resolve_person(&consent.person_id)
        .await?
        .unwrap_or(consent.person_id.clone());
    require_access(
        &state,
        &viewer,
        &person,
        InfoCategory::Demographics,
        &format!("fhir:Consent/{id}"),
    )
    .await?;
    let mut facilities = HashMap::new();
    for f in consent
        .facilities
        .iter()
        .chain(std::iter::once(&consent.obtained_facility_id))
    {
        if let Some(found) = state.store.get_facility(f).await? {
            facilities.insert(f.clone(), found);
        }
    }
    Ok(fhir(
        StatusCode::OK,
        consent_resource(&consent, &person, &facilities, now_millis()),
    ))
}

// --- helpers for the resource API (fhir_rest.rs) ------------------------------------------

/// `(facility id, id system)` of the facilities whose patient-ID system is `system` (every
/// facility when None).
pub async fn facilities_for_system(
    state: &SharedState,
    system: Option<&str>,
) -> FhirResult<Vec<(String, String)>> {
    Ok(all_facilities(state)
        .await?
        .iter()
        .map(|f| (f.id.clone(), core_patients::local_id_system(f)))
        .filter(|(_, s)| system.is_none_or(|want| want == s))
        .collect())
}

/// The person as a JP_Patient assembled from the registrations `requester` may see, for
/// `$everything` (the caller has authorized and audited the read). None if none is visible.
pub async fn patient_for(
    state: &SharedState,
    requester: &renkei_domain::patient::Requester,
    person_id: &str,
) -> FhirResult<Option<Value>> {
    let mut records = renkei_core::access::visible_records(
        state.store.as_ref(),
        requester,
        person_id,
        InfoCategory::Demographics,
        now_millis(),
    )
    .await?;
    if records.is_empty() {
        return Ok(None);
    }
    if let Some(mine) = requester.facility_id.as_deref() {
        records.sort_by_key(|r| r.facility_id != mine);
    }
    let names = facility_names(state, &records).await?;
    Ok(Some(patient_resource(person_id, &records, &names, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_parsing_is_strict_unless_lenient() {
        let p = |s: &str| parse_query(Some(s)).unwrap();
        assert!(parse_criteria(&p("family=a&foo=b"), true).is_err());
        let (c, used) = parse_criteria(&p("family=a&foo=b"), false).unwrap();
        assert_eq!(c.family, vec![("a".to_string(), false)]);
        assert_eq!(used, "family=a");
        assert!(parse_criteria(&p("birthdate=ge1950-01-01"), true).is_err());
        let (c, _) = parse_criteria(&p("identifier=urn:x|42&_count=500"), true).unwrap();
        assert_eq!(c.identifier, vec![(Some("urn:x".into()), "42".into())]);
        assert_eq!(c.count, MAX_COUNT);
        let (c, _) = parse_criteria(&p("identifier=%7C42"), true).unwrap();
        assert_eq!(c.identifier, vec![(None, "42".into())]);
        assert_eq!(digits("０１４４-32"), "014432");
    }

    #[test]
    fn match_query_reads_jp_core_names() {
        let q = match_query(&json!({
            "resourceType": "Patient",
            "name": [
                { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }], "family": "苫小牧", "given": ["花子"] },
                { "text": "とまこまい はなこ" },
            ],
            "birthDate": "1938-04-12",
            "gender": "female",
            "telecom": [{ "system": "phone", "value": "0144-32-1111" }],
        }))
        .unwrap();
        assert_eq!(q.family_kanji, "苫小牧");
        assert_eq!(q.family_kana, "トマコマイ");
        assert_eq!(q.given_kana, "ハナコ");
        assert_eq!(q.sex, Some(Sex::Female));
        assert!(
            match_query(&json!({ "resourceType": "Patient", "birthDate": "1938-04-12" })).is_err()
        );
        assert!(match_query(
            &json!({ "resourceType": "Patient", "name": "x", "birthDate": "1938-04-12" })
        )
        .is_err());
    }
}
