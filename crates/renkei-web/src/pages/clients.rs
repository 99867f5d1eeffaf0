//! A facility administrator's OAuth2 clients: the systems (EHR, pharmacy system, …) that
//! reach the FHIR API for the facility with the client-credentials grant (see `oauth`).
//!
//! The secret is shown once, on the page that answers the creation, and stored only as
//! SHA-256; revoking a client ends its tokens at once.

use super::{jst, jst_opt, render, Chrome};
use crate::error::{AppError, AppResult};
use crate::oauth::{parse_scopes, Scope};
use crate::session::Viewer;
use crate::SharedState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::text::{self, FieldError};
use renkei_domain::{ids, now_millis};
use renkei_storage::{ApiClient, StoreError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Longest accepted free-text scope list.
pub const MAX_SCOPE_TEXT: usize = 1000;
/// Most scopes one client may hold after merging.
const MAX_SCOPES: usize = 50;
/// Longest client name.
pub const MAX_NAME: usize = 100;

/// Resource types offered together on the form, by group code (label `clients.group_<code>`).
pub(crate) const GROUPS: &[(&str, &[&str])] = &[
    ("patient", &["Patient", "RelatedPerson", "Consent"]),
    ("lab", &["Observation", "DiagnosticReport", "ImagingStudy"]),
    ("conditions", &["Condition", "AllergyIntolerance"]),
    (
        "medications",
        &[
            "MedicationRequest",
            "MedicationDispense",
            "MedicationAdministration",
        ],
    ),
    ("encounters", &["Encounter", "Procedure"]),
    (
        "documents",
        &[
            "DocumentReference",
            "Binary",
            "CarePlan",
            "Goal",
            "Communication",
            "Composition",
        ],
    ),
    (
        "directory",
        &[
            "Organization",
            "Practitioner",
            "PractitionerRole",
            "Provenance",
        ],
    ),
];

/// What a checkbox grants: `read` is search and read, `write` everything (`cruds`).
fn ops_of(level: &str) -> Option<&'static str> {
    match level {
        "read" => Some("rs"),
        "write" => Some("cruds"),
        _ => None,
    }
}

/// The scopes behind a checkbox value (`all.read`, `lab.write`, …); None if unknown.
fn grant_scopes(code: &str) -> Option<Vec<Scope>> {
    let (group, level) = code.split_once('.')?;
    let ops = ops_of(level)?;
    let types: &[&str] = if group == "all" {
        &["*"]
    } else {
        GROUPS.iter().find(|(g, _)| *g == group)?.1
    };
    Some(
        types
            .iter()
            .map(|t| Scope {
                resource_type: t.to_string(),
                ops: ops.to_string(),
            })
            .collect(),
    )
}

/// One space-separated list, one scope per resource type (`*` first), letters in SMART's
/// c-r-u-d-s order, types already covered by `system/*` dropped.
fn normalize(scopes: &[Scope]) -> String {
    let mut by_type: BTreeMap<&str, String> = BTreeMap::new();
    for s in scopes {
        by_type
            .entry(s.resource_type.as_str())
            .or_default()
            .push_str(&s.ops);
    }
    let ordered = |ops: &str| -> String { "cruds".chars().filter(|c| ops.contains(*c)).collect() };
    let star = by_type.get("*").map(|o| ordered(o)).unwrap_or_default();
    // BTreeMap order puts `*` before letters.
    by_type
        .iter()
        .map(|(t, ops)| (*t, ordered(ops)))
        .filter(|(t, ops)| *t == "*" || !ops.chars().all(|c| star.contains(c)))
        .map(|(t, ops)| format!("system/{t}.{ops}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scope list a new client is stored with (`normalize`d), or the `clients.*` message
/// key of why it cannot be issued: no scope at all, or more than [`MAX_SCOPES`].
pub fn scopes_to_store(scopes: &[Scope]) -> Result<String, &'static str> {
    let normalized = normalize(scopes);
    if scopes.is_empty() {
        Err("clients.no_scopes")
    } else if normalized.split(' ').count() > MAX_SCOPES {
        Err("clients.too_many_scopes")
    } else {
        Ok(normalized)
    }
}

/// A new client of `facility_id` and its secret. The secret is to be shown once; only its
/// SHA-256 is stored. Used by the page and by `renkei admin create-api-client`.
pub fn new_client(
    facility_id: &str,
    name: String,
    scopes: String,
    created_by: &str,
) -> (ApiClient, String) {
    let secret = ids::new_token();
    let client = ApiClient {
        id: new_client_id(),
        facility_id: facility_id.to_string(),
        name,
        secret_hash: ids::token_hash(&secret),
        scopes,
        created_by: created_by.to_string(),
        created_at: now_millis(),
        revoked_at: None,
    };
    (client, secret)
}

/// The audit record of a client's creation: `entry` (who, from where, any detail of its
/// own) with the client's id, facility, name and scopes added.
pub fn creation_audit(entry: AuditEntry, client: &ApiClient) -> AuditEntry {
    let mut detail: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&entry.detail).unwrap_or_default();
    for (k, v) in [
        ("client_id", &client.id),
        ("facility_id", &client.facility_id),
        ("name", &client.name),
        ("scopes", &client.scopes),
    ] {
        detail.insert(k.into(), serde_json::Value::String(v.clone()));
    }
    entry
        .target("api_client", &client.id)
        .detail(serde_json::Value::Object(detail))
}

pub struct ClientRow {
    pub client: ApiClient,
    pub created: String,
    pub revoked: String,
}

pub struct GroupChoice {
    pub code: &'static str,
    pub label_key: String,
    pub types: String,
    pub read: bool,
    pub write: bool,
}

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    c: Chrome,
    facility_name: String,
    rows: Vec<ClientRow>,
    groups: Vec<GroupChoice>,
    all_read: bool,
    all_write: bool,
    name: String,
    scopes: String,
    token_url: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "client_issued.html")]
struct IssuedPage {
    c: Chrome,
    name: String,
    client_id: String,
    secret: String,
    scopes: String,
    token_url: String,
}

/// The form as submitted, for showing it again with its errors.
#[derive(Default)]
struct ClientForm {
    name: String,
    scopes: String,
    grants: Vec<String>,
}

fn token_url(state: &SharedState) -> String {
    format!(
        "{}/oauth/token",
        state.config.public_url.trim_end_matches('/')
    )
}

async fn clients_page(
    state: &SharedState,
    viewer: &Viewer,
    form: ClientForm,
    errors: Vec<String>,
    notice: Option<&str>,
) -> AppResult<ClientsPage> {
    let facility = viewer.require_facility_admin()?;
    let clients = state.store.api_clients_of(&facility.id).await?;
    let checked = |code: String| form.grants.contains(&code);
    Ok(ClientsPage {
        c: Chrome::for_viewer(state, viewer, "clients.title").with_notice(notice),
        facility_name: facility.name.clone(),
        rows: clients
            .into_iter()
            .map(|client| ClientRow {
                created: jst(client.created_at),
                revoked: jst_opt(&client.revoked_at),
                client,
            })
            .collect(),
        groups: GROUPS
            .iter()
            .map(|(code, types)| GroupChoice {
                code,
                label_key: format!("clients.group_{code}"),
                types: types.join(", "),
                read: checked(format!("{code}.read")),
                write: checked(format!("{code}.write")),
            })
            .collect(),
        all_read: checked("all.read".into()),
        all_write: checked("all.write".into()),
        token_url: token_url(state),
        name: form.name,
        scopes: form.scopes,
        errors,
    })
}

#[derive(Deserialize)]
pub struct MsgQuery {
    msg: Option<String>,
}

/// `GET /facility/clients`.
pub async fn list(
    State(state): State<SharedState>,
    viewer: Viewer,
    Query(q): Query<MsgQuery>,
) -> AppResult<Html<String>> {
    render(
        &clients_page(
            &state,
            &viewer,
            ClientForm::default(),
            vec![],
            q.msg.as_deref(),
        )
        .await?,
    )
}

/// A new client id: `c-` and 16 random lowercase hex digits (64 bits).
fn new_client_id() -> String {
    format!("c-{}", &ids::new_id()[..16])
}

/// `POST /facility/clients` (`csrf`, `name`, `grant` repeated, `scopes`).
pub async fn create(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    viewer.check_csrf(get("csrf"))?;
    let facility = viewer.require_facility_admin()?.clone();
    let tr = viewer.tr();
    let lang = viewer.lang();
    let form = ClientForm {
        name: get("name").to_string(),
        scopes: get("scopes").to_string(),
        grants: pairs
            .iter()
            .filter(|(k, _)| k == "grant")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let mut messages = Vec::new();
    let mut field_error = |e: FieldError| {
        messages.push(format!("{}: {}", tr.field(e.field), e.message(lang)));
    };
    let name = text::clean("client_name", &form.name, MAX_NAME, true).unwrap_or_else(|e| {
        field_error(e);
        String::new()
    });
    let mut scopes = Vec::new();
    let mut unknown_grant = false;
    for code in &form.grants {
        match grant_scopes(code) {
            Some(s) => scopes.extend(s),
            None => unknown_grant = true,
        }
    }
    if unknown_grant {
        // Once, however many forged checkboxes were sent.
        field_error(FieldError::new("grant", text::Problem::UnknownChoice));
    }
    let typed = text::clean("scopes", &form.scopes, MAX_SCOPE_TEXT, false).unwrap_or_else(|e| {
        field_error(e);
        String::new()
    });
    let mut scope_problem = None;
    match parse_scopes(&typed) {
        Some(s) => scopes.extend(s),
        None => scope_problem = Some("clients.bad_scopes"),
    }
    let mut normalized = String::new();
    if scope_problem.is_none() && messages.is_empty() {
        match scopes_to_store(&scopes) {
            Ok(n) => normalized = n,
            Err(key) => scope_problem = Some(key),
        }
    }
    if let Some(key) = scope_problem {
        messages.push(format!("{}: {}", tr.field("scopes"), tr.t(key)));
    }
    if !messages.is_empty() {
        let page = clients_page(&state, &viewer, form, messages, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let (client, secret) = new_client(&facility.id, name, normalized, &viewer.user.login_id);
    let audit = creation_audit(viewer.audit("api_client.create", Outcome::Success), &client);
    state.store.create_api_client(client.clone(), audit).await?;
    let page = IssuedPage {
        c: Chrome::for_viewer(&state, &viewer, "clients.issued_title"),
        name: client.name,
        client_id: client.id,
        secret,
        scopes: client.scopes,
        token_url: token_url(&state),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /facility/clients/{id}/revoke`: only a client of the administrator's facility.
pub async fn revoke(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    viewer.check_csrf(&form.csrf)?;
    let facility = viewer.require_facility_admin()?;
    let client = state
        .store
        .get_api_client(&id)
        .await?
        .filter(|c| c.facility_id == facility.id)
        .ok_or(AppError::NotFound)?;
    if client.revoked_at.is_some() {
        return Ok(
            Redirect::to("/facility/clients?msg=notice.client_already_revoked").into_response(),
        );
    }
    let audit = viewer
        .audit("api_client.revoke", Outcome::Success)
        .target("api_client", &client.id)
        .detail(serde_json::json!({
            "client_id": client.id,
            "facility_id": client.facility_id,
        }));
    match state
        .store
        .revoke_api_client(&client.id, now_millis(), audit)
        .await
    {
        Ok(()) => {
            state.tokens.clear();
            Ok(Redirect::to("/facility/clients?msg=notice.client_revoked").into_response())
        }
        // Another administrator revoked it a moment ago.
        Err(StoreError::InvalidState(_)) => {
            Ok(Redirect::to("/facility/clients?msg=notice.client_already_revoked").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(codes: &[&str], typed: &str) -> String {
        let mut all: Vec<Scope> = codes
            .iter()
            .flat_map(|c| grant_scopes(c).unwrap())
            .collect();
        all.extend(parse_scopes(typed).unwrap());
        normalize(&all)
    }

    #[test]
    fn grants_merge_into_one_scope_per_type() {
        assert_eq!(scopes(&["all.read"], ""), "system/*.rs");
        assert_eq!(scopes(&["all.write", "lab.read"], ""), "system/*.cruds");
        assert_eq!(
            scopes(
                &["conditions.read"],
                "system/Condition.c system/Observation.read"
            ),
            "system/AllergyIntolerance.rs system/Condition.crs system/Observation.rs"
        );
        assert_eq!(
            scopes(&["all.read"], "system/Observation.cud system/Patient.s"),
            "system/*.rs system/Observation.cud"
        );
        assert!(grant_scopes("lab.admin").is_none());
        assert!(grant_scopes("nothing.read").is_none());
        // Whatever is stored parses back.
        let s = scopes(&["documents.write", "patient.read"], "system/*.*");
        assert_eq!(s, "system/*.cruds");
        assert!(parse_scopes(&scopes(&["documents.write", "patient.read"], "")).is_some());
    }

    #[test]
    fn client_ids_look_alike() {
        let id = new_client_id();
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("c-"));
        assert!(id[2..]
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    }
}
