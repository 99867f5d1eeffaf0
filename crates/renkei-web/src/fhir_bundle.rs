//! `POST /fhir` transaction and batch Bundles.
//!
//! A transaction resolves `urn:uuid:` full URLs to server ids first, rewrites every
//! reference to them, validates and authorizes every entry, and stores all writes (plus
//! their Provenance and one audit record) in one storage transaction: any failing entry
//! fails the whole Bundle and nothing is stored. A batch runs each entry as its own
//! single-entry transaction and reports each outcome.

use crate::fhir::FhirError;
use crate::fhir_rest::{
    authorize_row, base_url, check_may_change, check_no_urn_references, commit, existing_match,
    generic_type, invalid, json_response, new_id, not_found, parse_pairs, run_search,
    search_bundle, valid_id, Actor, WriteFailure,
};
use crate::SharedState;
use axum::http::StatusCode;
use axum::response::Response;
use renkei_core::clinical::{self, WriteIntent};
use renkei_domain::now_millis;
use renkei_fhir::resource::{Issue, Severity};
use renkei_storage::fhir::{FhirRow, FhirWrite, FhirWriteKind};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Largest number of entries accepted in one Bundle.
pub const MAX_ENTRIES: usize = 1000;

#[derive(Debug, Clone)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

struct Entry {
    index: usize,
    method: Method,
    /// `Type`, `Type/id` or `Type?query`, relative to the base.
    url: String,
    full_url: Option<String>,
    resource: Option<Value>,
    if_none_exist: Option<String>,
    if_match: Option<i64>,
}

fn entry_error(index: usize, ja: &str, en: &str) -> WriteFailure {
    WriteFailure::Issues(
        StatusCode::BAD_REQUEST,
        vec![Issue {
            severity: Severity::Error,
            code: "invalid",
            expression: format!("Bundle.entry[{index}]"),
            ja: format!("entry[{index}]: {ja}"),
            en: format!("entry[{index}]: {en}"),
        }],
    )
}

/// Prefixes every issue of a failure with the entry it belongs to.
fn at_entry(index: usize, failure: WriteFailure) -> WriteFailure {
    match failure {
        WriteFailure::Issues(status, issues) => WriteFailure::Issues(
            status,
            issues
                .into_iter()
                .map(|mut i| {
                    i.expression = if i.expression.is_empty() {
                        format!("Bundle.entry[{index}].resource")
                    } else {
                        format!("Bundle.entry[{index}].resource.{}", i.expression)
                    };
                    i.ja = format!("entry[{index}]: {}", i.ja);
                    i.en = format!("entry[{index}]: {}", i.en);
                    i
                })
                .collect(),
        ),
        WriteFailure::Fhir(mut e) => {
            e.ja = format!("entry[{index}]: {}", e.ja);
            e.en = format!("entry[{index}]: {}", e.en);
            WriteFailure::Fhir(e)
        }
    }
}

fn parse_entries(bundle: &Value) -> Result<Vec<Entry>, WriteFailure> {
    let entries = match bundle.get("entry") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(entry_error(
                0,
                "entry は配列です。",
                "entry must be an array.",
            ));
        }
    };
    if entries.len() > MAX_ENTRIES {
        return Err(WriteFailure::Fhir(FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            &format!("1 つの Bundle のエントリは {MAX_ENTRIES} 件までです。"),
            &format!("A Bundle may hold at most {MAX_ENTRIES} entries."),
        )));
    }
    let mut out = Vec::new();
    for (index, e) in entries.iter().enumerate() {
        let request = e
            .get("request")
            .ok_or_else(|| entry_error(index, "request がありません。", "request is missing."))?;
        let method = match request.get("method").and_then(Value::as_str) {
            Some("GET") => Method::Get,
            Some("POST") => Method::Post,
            Some("PUT") => Method::Put,
            Some("DELETE") => Method::Delete,
            other => {
                return Err(entry_error(
                    index,
                    &format!(
                        "request.method {other:?} には対応していません（GET/POST/PUT/DELETE）。"
                    ),
                    &format!("request.method {other:?} is not supported (GET/POST/PUT/DELETE)."),
                ))
            }
        };
        let url = request
            .get("url")
            .and_then(Value::as_str)
            .map(|u| u.trim_start_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                entry_error(
                    index,
                    "request.url がありません。",
                    "request.url is missing.",
                )
            })?;
        let if_match = match request.get("ifMatch").and_then(Value::as_str) {
            Some(s) => Some(
                s.trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<i64>()
                    .map_err(|_| {
                        entry_error(
                            index,
                            "ifMatch は W/\"版番号\" です。",
                            "ifMatch must be W/\"<versionId>\".",
                        )
                    })?,
            ),
            None => None,
        };
        let resource = e.get("resource").cloned();
        if matches!(method, Method::Post | Method::Put) && resource.is_none() {
            return Err(entry_error(
                index,
                "resource がありません。",
                "resource is missing.",
            ));
        }
        out.push(Entry {
            index,
            method,
            url,
            full_url: e.get("fullUrl").and_then(Value::as_str).map(str::to_string),
            resource,
            if_none_exist: request
                .get("ifNoneExist")
                .and_then(Value::as_str)
                .map(str::to_string),
            if_match,
        });
    }
    Ok(out)
}

/// Replaces every `reference` found in `ids` (`urn:uuid:…` → `Type/id`).
fn rewrite_references(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "reference" {
                    if let Value::String(s) = v {
                        if let Some(new) = ids.get(s.as_str()) {
                            *s = new.clone();
                        }
                    }
                } else {
                    rewrite_references(v, ids);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite_references(v, ids);
            }
        }
        _ => {}
    }
}

/// What one entry will answer.
enum Planned {
    /// Index into the writes.
    Write(usize, StatusCode),
    /// A conditional create that found its match.
    Existing(Box<FhirRow>),
    /// A delete of nothing.
    NoContent,
    Get,
}

fn type_of(url: &str) -> &str {
    url.split(['/', '?']).next().unwrap_or_default()
}

/// Plans and stores the write entries of `entries` atomically; returns the responses.
async fn run(
    state: &SharedState,
    actor: &Actor,
    entries: Vec<Entry>,
) -> Result<Vec<Value>, WriteFailure> {
    let author = actor.author()?;
    let now = now_millis();
    // 1. Server ids for creates, and the urn:uuid map.
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut assigned: Vec<Option<String>> = Vec::new();
    let mut existing: Vec<Option<FhirRow>> = Vec::new();
    for e in &entries {
        let rtype = type_of(&e.url).to_string();
        let mut id = None;
        let mut found = None;
        match e.method {
            Method::Post => {
                generic_type(&rtype).map_err(|err| at_entry(e.index, err.into()))?;
                if let Some(cond) = &e.if_none_exist {
                    found = existing_match(state, actor, &rtype, cond)
                        .await
                        .map_err(|f| at_entry(e.index, f))?;
                }
                let reference = match &found {
                    Some(row) => format!("{}/{}", row.resource_type, row.id),
                    None => {
                        let new = new_id();
                        id = Some(new.clone());
                        format!("{rtype}/{new}")
                    }
                };
                if let Some(full) = &e.full_url {
                    ids.insert(full.clone(), reference);
                }
            }
            Method::Put => {
                if let Some(full) = e.full_url.as_ref().filter(|f| f.starts_with("urn:uuid:")) {
                    if !e.url.contains('?') {
                        ids.insert(full.clone(), e.url.clone());
                    }
                }
            }
            _ => {}
        }
        assigned.push(id);
        existing.push(found);
    }
    let known: Vec<String> = ids.values().cloned().collect();
    // 2. Prepare every write.
    let mut writes: Vec<FhirWrite> = Vec::new();
    let mut planned = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let fail = |f: WriteFailure| at_entry(e.index, f);
        let rtype = type_of(&e.url).to_string();
        let op = match e.method {
            Method::Get if e.url.contains('?') => 's',
            Method::Get => 'r',
            Method::Post => 'c',
            Method::Put => 'u',
            Method::Delete => 'd',
        };
        actor.require(&rtype, op).map_err(|err| fail(err.into()))?;
        match e.method {
            Method::Get => planned.push(Planned::Get),
            Method::Post => {
                if let Some(row) = existing[i].clone() {
                    planned.push(Planned::Existing(Box::new(row)));
                    continue;
                }
                let mut resource = e.resource.clone().unwrap_or_default();
                check_type(&resource, &rtype).map_err(fail)?;
                rewrite_references(&mut resource, &ids);
                check_no_urn_references(&resource).map_err(fail)?;
                let w = clinical::prepare_write(
                    state.store.as_ref(),
                    &author,
                    resource,
                    WriteIntent {
                        kind: FhirWriteKind::Create,
                        id: assigned[i].clone().unwrap_or_else(new_id),
                        version_id: 1,
                    },
                    now,
                    &known,
                )
                .await
                .map_err(|err| fail(err.into()))?;
                writes.push(w);
                planned.push(Planned::Write(writes.len() - 1, StatusCode::CREATED));
            }
            Method::Put => {
                let mut resource = e.resource.clone().unwrap_or_default();
                check_type(&resource, &rtype).map_err(fail)?;
                generic_type(&rtype).map_err(|err| fail(err.into()))?;
                let id = if let Some((_, q)) = e.url.split_once('?') {
                    match existing_match(state, actor, &rtype, q)
                        .await
                        .map_err(fail)?
                    {
                        Some(row) => row.id,
                        None => resource
                            .get("id")
                            .and_then(Value::as_str)
                            .filter(|i| valid_id(i))
                            .map(str::to_string)
                            .unwrap_or_else(new_id),
                    }
                } else {
                    let id = e
                        .url
                        .split_once('/')
                        .map(|(_, i)| i.to_string())
                        .unwrap_or_default();
                    if !valid_id(&id) {
                        return Err(fail(
                            invalid(
                                "URL の id が正しくありません。",
                                "The id in the URL is malformed.",
                            )
                            .into(),
                        ));
                    }
                    if resource.get("id").and_then(Value::as_str) != Some(id.as_str()) {
                        return Err(fail(
                            invalid(
                                "本文の id が URL の id と一致しません。",
                                "The id in the body does not match the id in the URL.",
                            )
                            .into(),
                        ));
                    }
                    id
                };
                rewrite_references(&mut resource, &ids);
                check_no_urn_references(&resource).map_err(fail)?;
                let current = state
                    .store
                    .fhir_read(&rtype, &id)
                    .await
                    .map_err(|err| fail(err.into()))?;
                let (kind, version, status) = match &current {
                    Some(row) => {
                        check_may_change(state, actor, row).await.map_err(fail)?;
                        if e.if_match.is_some_and(|v| v != row.version_id) {
                            return Err(fail(WriteFailure::Fhir(FhirError::new(
                                StatusCode::PRECONDITION_FAILED,
                                "conflict",
                                "ifMatch の版が最新ではありません。",
                                "The ifMatch version is not current.",
                            ))));
                        }
                        (
                            FhirWriteKind::Update {
                                expected_version: Some(row.version_id),
                            },
                            row.version_id + 1,
                            StatusCode::OK,
                        )
                    }
                    None => {
                        if e.if_match.is_some() {
                            return Err(fail(not_found().into()));
                        }
                        (
                            FhirWriteKind::Update {
                                expected_version: None,
                            },
                            1,
                            StatusCode::CREATED,
                        )
                    }
                };
                let w = clinical::prepare_write(
                    state.store.as_ref(),
                    &author,
                    resource,
                    WriteIntent {
                        kind,
                        id,
                        version_id: version,
                    },
                    now,
                    &known,
                )
                .await
                .map_err(|err| fail(err.into()))?;
                writes.push(w);
                planned.push(Planned::Write(writes.len() - 1, status));
            }
            Method::Delete => {
                generic_type(&rtype).map_err(|err| fail(err.into()))?;
                let Some((_, id)) = e.url.split_once('/') else {
                    return Err(fail(invalid(
                        "削除は Type/id で指定してください（条件付き削除には対応していません）。",
                        "Delete needs Type/id (conditional delete is not supported).",
                    )
                    .into()));
                };
                match state
                    .store
                    .fhir_read(&rtype, id)
                    .await
                    .map_err(|err| fail(err.into()))?
                {
                    Some(row) if !row.deleted => {
                        check_may_change(state, actor, &row).await.map_err(fail)?;
                        writes.push(FhirWrite {
                            kind: FhirWriteKind::Delete {
                                expected_version: row.version_id,
                            },
                            resource_type: row.resource_type.clone(),
                            id: row.id.clone(),
                            version_id: row.version_id + 1,
                            last_updated: now,
                            patient_record_id: row.patient_record_id.clone(),
                            source_facility_id: Some(author.facility_id.clone()),
                            category: row.category.clone(),
                            content: row.content.clone(),
                            index: Vec::new(),
                        });
                        planned.push(Planned::Write(writes.len() - 1, StatusCode::NO_CONTENT));
                    }
                    Some(row) => {
                        check_may_change(state, actor, &row).await.map_err(fail)?;
                        planned.push(Planned::NoContent);
                    }
                    None => planned.push(Planned::NoContent),
                }
            }
        }
    }
    // 3. Store everything at once.
    let rows = if writes.is_empty() {
        Vec::new()
    } else {
        commit(state, &author, writes, "fhir.transaction").await?
    };
    // 4. Answer, running reads after the writes.
    let base = base_url(state);
    let mut out = Vec::new();
    for (e, plan) in entries.iter().zip(planned) {
        out.push(match plan {
            Planned::Write(i, status) => {
                let row = &rows[i];
                let mut v = json!({
                    "fullUrl": format!("{base}/{}/{}", row.resource_type, row.id),
                    "response": {
                        "status": status_text(status),
                        "location": format!("{}/{}/_history/{}", row.resource_type, row.id, row.version_id),
                        "etag": format!("W/\"{}\"", row.version_id),
                        "lastModified": clinical::instant(row.last_updated),
                    }
                });
                if !row.deleted {
                    v["resource"] = serde_json::from_str(&row.content).unwrap_or(Value::Null);
                }
                v
            }
            Planned::Existing(row) => json!({
                "fullUrl": format!("{base}/{}/{}", row.resource_type, row.id),
                "resource": serde_json::from_str::<Value>(&row.content).unwrap_or(Value::Null),
                "response": {
                    "status": "200 OK",
                    "location": format!("{}/{}/_history/{}", row.resource_type, row.id, row.version_id),
                    "etag": format!("W/\"{}\"", row.version_id),
                }
            }),
            Planned::NoContent => json!({ "response": { "status": "204 No Content" } }),
            Planned::Get => get_entry(state, actor, &e.url).await?,
        });
    }
    Ok(out)
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

fn check_type(resource: &Value, rtype: &str) -> Result<(), WriteFailure> {
    let found = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if found == rtype {
        Ok(())
    } else {
        Err(invalid(
            &format!("resourceType {found} が request.url の {rtype} と一致しません。"),
            &format!("resourceType {found} does not match {rtype} in request.url."),
        )
        .into())
    }
}

/// A GET entry: a read (`Type/id`) or a search (`Type?…`).
async fn get_entry(state: &SharedState, actor: &Actor, url: &str) -> Result<Value, WriteFailure> {
    let rtype = type_of(url).to_string();
    generic_type(&rtype)?;
    if let Some((_, query)) = url.split_once('?') {
        let pairs = parse_pairs(query)?;
        let out = match run_search(state, actor, &rtype, &pairs, false).await {
            Ok(o) => o,
            Err(_) => {
                return Err(
                    invalid("検索条件を解釈できません。", "The search cannot be parsed.").into(),
                )
            }
        };
        let shown: Vec<&FhirRow> = out.rows.iter().chain(out.included.iter()).collect();
        crate::fhir_rest::audit_persons(state, actor, &shown, &format!("fhir:{rtype}?search"))
            .await?;
        let bundle: Value = serde_json::from_str(&search_bundle(state, &rtype, &pairs, &out))
            .unwrap_or(Value::Null);
        return Ok(json!({ "resource": bundle, "response": { "status": "200 OK" } }));
    }
    let id = url.split_once('/').map(|(_, i)| i).unwrap_or_default();
    let row = state.store.fhir_read(&rtype, id).await?;
    match row {
        Some(row) if authorize_row(state, actor, &row).await? && !row.deleted => Ok(json!({
            "resource": serde_json::from_str::<Value>(&row.content).unwrap_or(Value::Null),
            "response": { "status": "200 OK", "etag": format!("W/\"{}\"", row.version_id) }
        })),
        _ => Ok(json!({
            "response": {
                "status": "404 Not Found",
                "outcome": crate::fhir::operation_outcome("not-found", "error", "該当するリソースがないか、閲覧が許可されていません。", "No such resource, or you may not see it."),
            }
        })),
    }
}

/// A `transaction`: all entries or none.
pub async fn transaction(
    state: &SharedState,
    actor: &Actor,
    bundle: Value,
) -> Result<Response, WriteFailure> {
    let entries = parse_entries(&bundle)?;
    let responses = run(state, actor, entries).await?;
    let body = json!({
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": responses,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// A `batch`: each entry on its own; failures are reported in place.
pub async fn batch(
    state: &SharedState,
    actor: &Actor,
    bundle: Value,
) -> Result<Response, WriteFailure> {
    let entries = parse_entries(&bundle)?;
    let mut responses = Vec::new();
    for e in entries {
        let index = e.index;
        match run(state, actor, vec![e]).await {
            Ok(mut r) => responses.push(r.pop().unwrap_or(Value::Null)),
            Err(failure) => {
                let (status, outcome) = match failure {
                    WriteFailure::Issues(status, issues) => {
                        (status, renkei_fhir::outcome::operation_outcome(&issues))
                    }
                    WriteFailure::Fhir(err) => (
                        err.status,
                        crate::fhir::operation_outcome(err.code, "error", &err.ja, &err.en),
                    ),
                };
                let _ = index;
                responses.push(json!({
                    "response": { "status": status_text(status), "outcome": outcome }
                }));
            }
        }
    }
    let body = json!({
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": responses,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}
