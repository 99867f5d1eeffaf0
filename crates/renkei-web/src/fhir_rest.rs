//! The FHIR R4 REST API over the clinical resource store: read, vread, create, update
//! (ETag / If-Match), conditional create and update, delete, history, search with
//! includes and paging, transaction and batch Bundles, and `Patient/$everything`.
//! See docs/fhir.md.
//!
//! Every read passes the access decision point: a read by id asks
//! `renkei_core::access::authorize` for the row's person and category; searches, history
//! and `$everything` hand storage a scope built from the same rule
//! (`renkei_core::clinical`), and each person whose data is returned gets an audit record.
//! Every write is validated by `renkei-fhir`, attached to a registration of the patient
//! index, and stored with a Provenance and an audit record in one transaction.

use crate::fhir::{FhirError, FhirResult, FHIR_JSON};
use crate::session::Viewer;
use crate::SharedState;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use renkei_core::clinical::{self, Author, PersonAccess, WriteError, WriteIntent};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::now_millis;
use renkei_domain::patient::{InfoCategory, Requester};
use renkei_fhir::outcome::operation_outcome;
use renkei_fhir::resource::{Issue, Severity};
use renkei_fhir::search::{Criterion, ValueMatch};
use renkei_fhir::{ParsedSearch, SearchQuery};
use renkei_storage::fhir::{FhirRow, FhirScope, FhirWrite, FhirWriteKind, HistoryQuery};
use renkei_storage::{Facility, StoreError};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Types served by the generic handlers. Patient and Consent come from the patient index
/// (`fhir.rs`); AuditEvent is read-only and not kept in the resource store.
pub(crate) fn generic_type(name: &str) -> FhirResult<&'static renkei_fhir::resource::TypeInfo> {
    match renkei_fhir::resource::type_info(name) {
        Some(t) if !matches!(t.name, "Patient" | "Consent" | "AuditEvent") => Ok(t),
        Some(_) => Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            "このリソース種別ではこの操作はできません（患者は患者インデックス、同意は同意画面で管理します）。",
            "This interaction is not supported for this resource type (patients live in the patient index, consents in the consent pages).",
        )),
        None => Err(FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            &format!("リソース種別 {name} には対応していません。"),
            &format!("Resource type {name} is not supported."),
        )),
    }
}

// --- who is asking ------------------------------------------------------------------------

/// The person (signed-in session) or system (OAuth2 client) behind a FHIR request.
pub struct Actor {
    pub requester: Requester,
    pub login_id: String,
    pub facility: Option<Facility>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `fhir` for people, `client:<id>` for systems.
    pub source_system: String,
    /// A system's granted SMART scopes; None for a person (whose role rules apply).
    pub scopes: Option<Vec<crate::oauth::Scope>>,
    /// The facility whose audit trail a person administers (facility administrators).
    pub admin_facility_id: Option<String>,
}

impl Actor {
    fn from_viewer(viewer: &Viewer) -> Actor {
        Actor {
            requester: viewer.requester(),
            login_id: viewer.user.login_id.clone(),
            facility: viewer.facility().cloned(),
            ip: viewer.client.ip_string(),
            user_agent: viewer.client.user_agent.clone(),
            source_system: "fhir".into(),
            scopes: None,
            admin_facility_id: viewer.admin_facility().map(|f| f.id.clone()),
        }
    }

    /// Refuses a system whose scopes do not include `op` (`c`,`r`,`u`,`d`,`s`) on `rtype`.
    pub(crate) fn require(&self, rtype: &str, op: char) -> FhirResult<()> {
        match &self.scopes {
            Some(scopes) if !crate::oauth::scopes_allow(scopes, rtype, op) => Err(FhirError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("アクセストークンのスコープに {rtype} の操作（{op}）が含まれていません。"),
                &format!("The token's scopes do not allow '{op}' on {rtype}."),
            )),
            _ => Ok(()),
        }
    }

    fn origin(&self, resource: &str) -> renkei_core::access::Origin {
        renkei_core::access::Origin {
            login_id: self.login_id.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            resource: resource.to_string(),
        }
    }

    pub(crate) fn author(&self) -> FhirResult<Author> {
        let facility = self.facility.as_ref().ok_or_else(|| {
            FhirError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "施設として操作していないため書き込めません。",
                "You are not acting for a facility, so you cannot write.",
            )
        })?;
        Ok(Author {
            requester: self.requester.clone(),
            login_id: self.login_id.clone(),
            facility_id: facility.id.clone(),
            source_system: self.source_system.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        })
    }

    pub(crate) fn audit(&self, action: &str, outcome: Outcome) -> AuditEntry {
        AuditEntry::new(action, outcome)
            .actor(
                Some(&self.requester.user_id),
                Some(&self.login_id),
                self.requester.facility_id.as_deref(),
            )
            .from_client(self.ip.clone(), self.user_agent.clone())
    }
}

impl FromRequestParts<SharedState> for Actor {
    type Rejection = FhirError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(actor) = crate::oauth::actor_from_bearer(parts, state).await? {
            return Ok(actor);
        }
        let viewer = Viewer::from_request_parts(parts, state)
            .await
            .map_err(FhirError::from)?;
        Ok(Actor::from_viewer(&viewer))
    }
}

// --- responses ----------------------------------------------------------------------------

pub(crate) fn base_url(state: &SharedState) -> String {
    format!("{}/fhir", state.config.public_url.trim_end_matches('/'))
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\"")).expect("ascii")
}

fn http_date(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A resource response with ETag, Last-Modified and (for writes) Location.
fn row_response(
    state: &SharedState,
    status: StatusCode,
    row: &FhirRow,
    location: bool,
) -> Response {
    let mut res = (status, row.content.clone()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    h.insert(header::ETAG, etag(row.version_id));
    if let Ok(v) = HeaderValue::from_str(&http_date(row.last_updated)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if location {
        let url = format!(
            "{}/{}/{}/_history/{}",
            base_url(state),
            row.resource_type,
            row.id,
            row.version_id
        );
        if let Ok(v) = HeaderValue::from_str(&url) {
            h.insert(header::LOCATION, v);
        }
    }
    res
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    res
}

pub(crate) fn issues_error(status: StatusCode, issues: &[Issue]) -> Response {
    json_response(status, operation_outcome(issues).to_string())
}

fn gone() -> FhirError {
    FhirError::new(
        StatusCode::GONE,
        "deleted",
        "このリソースは削除されています。",
        "This resource has been deleted.",
    )
}

pub(crate) fn invalid(ja: &str, en: &str) -> FhirError {
    FhirError::new(StatusCode::BAD_REQUEST, "invalid", ja, en)
}

/// Errors of the write path, in the protocol's form.
pub enum WriteFailure {
    Fhir(FhirError),
    Issues(StatusCode, Vec<Issue>),
}

impl From<FhirError> for WriteFailure {
    fn from(e: FhirError) -> Self {
        WriteFailure::Fhir(e)
    }
}

impl From<StoreError> for WriteFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => WriteFailure::Fhir(FhirError::new(
                StatusCode::CONFLICT,
                "conflict",
                &format!("同時に更新されました（{m}）。再読み込みしてから更新してください。"),
                &format!("Conflicting change ({m}); read the resource again and retry."),
            )),
            StoreError::NotFound(m) => WriteFailure::Fhir(FhirError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                &format!("対象がありません（{m}）。"),
                &format!("Not found ({m})."),
            )),
            other => WriteFailure::Fhir(other.into()),
        }
    }
}

impl From<WriteError> for WriteFailure {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Invalid(issues) => WriteFailure::Issues(StatusCode::UNPROCESSABLE_ENTITY, issues),
            WriteError::PatientOutOfReach(r) => WriteFailure::Fhir(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "processing",
                &format!("{r} は存在しないか、この施設が書き込める患者ではありません（ケアチームの参加と同意が必要です）。"),
                &format!("{r} does not exist or is not a patient your facility may write for (care-team membership and consent are required)."),
            )),
            WriteError::UnknownReference(r) => WriteFailure::Fhir(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "processing",
                &format!("参照先 {r} がありません。"),
                &format!("The referenced resource {r} does not exist."),
            )),
            WriteError::NotAuthor(r) => WriteFailure::Fhir(FhirError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{r} は送信者本人だけが変更できます。"),
                &format!("Only the sender may change {r}."),
            )),
            WriteError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for WriteFailure {
    fn into_response(self) -> Response {
        match self {
            WriteFailure::Fhir(e) => e.into_response(),
            WriteFailure::Issues(status, issues) => issues_error(status, &issues),
        }
    }
}

// --- access -------------------------------------------------------------------------------

fn category_of(row: &FhirRow) -> InfoCategory {
    InfoCategory::from_code(&row.category).unwrap_or(InfoCategory::Medical)
}

/// Whether the actor may see this row; audits the decision when the row is about a person.
pub(crate) async fn authorize_row(
    state: &SharedState,
    actor: &Actor,
    row: &FhirRow,
) -> FhirResult<bool> {
    let Some(person) = row.person_id.as_deref() else {
        return Ok(row.patient_record_id.is_none());
    };
    let decision = renkei_core::access::authorize(
        state.store.as_ref(),
        &actor.requester,
        &actor.origin(&format!("fhir:{}/{}", row.resource_type, row.id)),
        person,
        category_of(row),
        row.source_facility_id.as_deref(),
    )
    .await?;
    Ok(decision.is_permit())
}

/// The persons a search covers: the patient criteria's persons, or every person the actor's
/// facility registered or cares for.
async fn persons_in_reach(state: &SharedState, actor: &Actor) -> FhirResult<Vec<String>> {
    let Some(facility) = actor.requester.facility_id.as_deref() else {
        return Ok(Vec::new());
    };
    let mut persons = BTreeSet::new();
    for r in state.store.team_patients(facility, None, 100_000).await? {
        persons.insert(r.person_id);
    }
    Ok(persons.into_iter().collect())
}

async fn accesses(
    state: &SharedState,
    actor: &Actor,
    persons: &[String],
) -> FhirResult<Vec<PersonAccess>> {
    let now = now_millis();
    let mut out = Vec::new();
    for p in persons {
        if let Some(a) =
            clinical::person_access(state.store.as_ref(), &actor.requester, p, now).await?
        {
            if a.any() {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// One audit record per person whose data a search, history or `$everything` returned.
pub(crate) async fn audit_persons(
    state: &SharedState,
    actor: &Actor,
    rows: &[&FhirRow],
    resource: &str,
) -> FhirResult<()> {
    let persons: BTreeSet<&str> = rows.iter().filter_map(|r| r.person_id.as_deref()).collect();
    let mut waits = Vec::new();
    for person in persons {
        let categories: BTreeSet<&str> = rows
            .iter()
            .filter(|r| r.person_id.as_deref() == Some(person))
            .map(|r| r.category.as_str())
            .collect();
        let mut entry = actor
            .audit("patient.read", Outcome::Success)
            .detail(json!({ "resource": resource, "categories": categories, "basis": "scope" }));
        entry.patient_id = Some(person.to_string());
        waits.push(state.store.append_audit(entry));
    }
    for w in futures_join(waits).await {
        w?;
    }
    Ok(())
}

async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    // The audit writer group-commits whatever is queued, so issuing them together and
    // awaiting in order costs one commit, not one per person.
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    for h in handles {
        out.push(h.await);
    }
    out
}

// --- read ---------------------------------------------------------------------------------

/// `GET /fhir/{type}/{id}`.
pub async fn read(
    State(state): State<SharedState>,
    actor: Actor,
    Path((rtype, id)): Path<(String, String)>,
) -> FhirResult<Response> {
    if rtype == "AuditEvent" {
        return crate::fhir_audit::read(&state, &actor, &id).await;
    }
    generic_type(&rtype)?;
    actor.require(&rtype, 'r')?;
    let row = state
        .store
        .fhir_read(&rtype, &id)
        .await?
        .ok_or_else(not_found)?;
    if !authorize_row(&state, &actor, &row).await? {
        return Err(not_found());
    }
    if row.deleted {
        return Err(gone());
    }
    Ok(row_response(&state, StatusCode::OK, &row, false))
}

pub(crate) fn not_found() -> FhirError {
    FhirError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "該当するリソースがないか、閲覧が許可されていません。",
        "No such resource, or you may not see it.",
    )
}

/// `GET /fhir/{type}/{id}/_history/{vid}`.
pub async fn vread(
    State(state): State<SharedState>,
    actor: Actor,
    Path((rtype, id, vid)): Path<(String, String, String)>,
) -> FhirResult<Response> {
    generic_type(&rtype)?;
    actor.require(&rtype, 'r')?;
    let version: i64 = vid.parse().map_err(|_| not_found())?;
    let row = state
        .store
        .fhir_vread(&rtype, &id, version)
        .await?
        .ok_or_else(not_found)?;
    if !authorize_row(&state, &actor, &row).await? {
        return Err(not_found());
    }
    if row.deleted {
        return Err(gone());
    }
    Ok(row_response(&state, StatusCode::OK, &row, false))
}

// --- search -------------------------------------------------------------------------------

pub(crate) fn parse_pairs(raw: &str) -> FhirResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw).map_err(|_| {
        invalid(
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

/// Persons named by `patient`/`subject` criteria, with merges followed. None: the search is
/// not limited to named patients.
/// The survivor of each `Patient/` id named in a search, looked up once per request
/// (the criteria and the merge expansion both need it).
#[derive(Default)]
struct Survivors(std::collections::HashMap<String, Option<String>>);

impl Survivors {
    async fn of(&mut self, state: &SharedState, id: &str) -> FhirResult<Option<String>> {
        if let Some(found) = self.0.get(id) {
            return Ok(found.clone());
        }
        let found = state.store.resolve_person(id).await?;
        self.0.insert(id.to_string(), found.clone());
        Ok(found)
    }
}

async fn criterion_persons(
    state: &SharedState,
    query: &SearchQuery,
    survivors: &mut Survivors,
) -> FhirResult<Option<Vec<String>>> {
    let mut named: Option<BTreeSet<String>> = None;
    for c in &query.criteria {
        if c.negate || c.missing.is_some() {
            continue;
        }
        let mut these = BTreeSet::new();
        let mut all_patients = true;
        for v in &c.any_of {
            match v {
                ValueMatch::Reference(r) if r.starts_with("Patient/") => {
                    let id = &r["Patient/".len()..];
                    if let Some(p) = survivors.of(state, id).await? {
                        these.insert(p);
                    }
                }
                _ => all_patients = false,
            }
        }
        if all_patients && !c.any_of.is_empty() {
            named = Some(match named {
                None => these,
                Some(prev) => prev.intersection(&these).cloned().collect(),
            });
        }
    }
    Ok(named.map(|s| s.into_iter().collect()))
}

/// Adds the person IDs merged into each named person to patient criteria, so data written
/// before a merge is found under the survivor.
async fn expand_patient_references(
    state: &SharedState,
    query: &mut SearchQuery,
    survivors: &mut Survivors,
) -> FhirResult<()> {
    for c in &mut query.criteria {
        let mut extra = Vec::new();
        for v in &c.any_of {
            if let ValueMatch::Reference(r) = v {
                if let Some(id) = r.strip_prefix("Patient/") {
                    if let Some(survivor) = survivors.of(state, id).await? {
                        let mut ids = BTreeSet::from([survivor.clone()]);
                        for e in state.store.link_history(&survivor).await? {
                            if e.action == "merge" {
                                if let Some(from) = e.from_person {
                                    ids.insert(from);
                                }
                            }
                        }
                        for id in ids {
                            let reference = format!("Patient/{id}");
                            if !c.any_of.contains(&ValueMatch::Reference(reference.clone())) {
                                extra.push(ValueMatch::Reference(reference));
                            }
                        }
                    }
                }
            }
        }
        for e in extra {
            if !c.any_of.contains(&e) {
                c.any_of.push(e);
            }
        }
    }
    Ok(())
}

/// Turns chained parameters into reference criteria. Only `Patient` targets with
/// `identifier` are supported (the patient index answers them).
async fn resolve_chains(
    state: &SharedState,
    actor: &Actor,
    parsed: &mut ParsedSearch,
) -> FhirResult<()> {
    for chain in std::mem::take(&mut parsed.chains) {
        if chain.target_type != "Patient" || chain.target_param != "identifier" {
            return Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "not-supported",
                &format!(
                    "連鎖検索 {}.{} には対応していません（patient.identifier のみ）。",
                    chain.param, chain.target_param
                ),
                &format!(
                    "Chained search {}.{} is not supported (only patient.identifier).",
                    chain.param, chain.target_param
                ),
            ));
        }
        let (system, value) = match chain.value.split_once('|') {
            Some((s, v)) => (Some(s.to_string()), v.to_string()),
            None => (None, chain.value.clone()),
        };
        let mut refs = Vec::new();
        for f in crate::fhir::facilities_for_system(state, system.as_deref()).await? {
            if let Some(record) = state.store.find_patient_record(&f.0, &f.1, &value).await? {
                // Only persons the actor may know of: otherwise the chain finds nothing.
                let access = clinical::person_access(
                    state.store.as_ref(),
                    &actor.requester,
                    &record.person_id,
                    now_millis(),
                )
                .await?;
                if access.is_some_and(|a| a.any()) {
                    refs.push(ValueMatch::Reference(format!(
                        "Patient/{}",
                        record.person_id
                    )));
                }
            }
        }
        if refs.is_empty() {
            // A reference nobody holds: the search returns nothing.
            refs.push(ValueMatch::Reference("Patient/-".into()));
        }
        parsed.query.criteria.push(Criterion {
            param: chain.param,
            negate: false,
            missing: None,
            any_of: refs,
        });
    }
    Ok(())
}

/// The scope for a search: named persons, or everyone in the actor's reach.
async fn search_scope(
    state: &SharedState,
    actor: &Actor,
    named: Option<Vec<String>>,
) -> FhirResult<FhirScope> {
    let persons = match named {
        Some(p) => p,
        None => persons_in_reach(state, actor).await?,
    };
    let accesses = accesses(state, actor, &persons).await?;
    let mut scope = clinical::scope_of(&actor.requester, &accesses, true);
    // Own rows only about persons in reach (a withdrawn person's own data stays own).
    if let FhirScope::Restricted { own_facility, .. } = &mut scope {
        if actor.requester.facility_id.is_none() {
            *own_facility = None;
        }
    }
    Ok(scope)
}

pub(crate) struct SearchOutcome {
    pub(crate) rows: Vec<FhirRow>,
    pub(crate) included: Vec<FhirRow>,
    total: Option<i64>,
    query: SearchQuery,
    warnings: Vec<Issue>,
}

pub(crate) async fn run_search(
    state: &SharedState,
    actor: &Actor,
    rtype: &str,
    pairs: &[(String, String)],
    lenient: bool,
) -> Result<SearchOutcome, Response> {
    let (mut parsed, warnings) = renkei_fhir::search::parse_search(rtype, pairs, lenient)
        .map_err(|issues| issues_error(StatusCode::BAD_REQUEST, &issues))?;
    resolve_chains(state, actor, &mut parsed)
        .await
        .map_err(IntoResponse::into_response)?;
    let mut survivors = Survivors::default();
    let named = criterion_persons(state, &parsed.query, &mut survivors)
        .await
        .map_err(IntoResponse::into_response)?;
    expand_patient_references(state, &mut parsed.query, &mut survivors)
        .await
        .map_err(IntoResponse::into_response)?;
    let scope = search_scope(state, actor, named)
        .await
        .map_err(IntoResponse::into_response)?;
    if parsed.summary_count {
        parsed.query.count = 0;
        parsed.query.want_total = true;
    }
    let page = state
        .store
        .fhir_search(&parsed.query, &scope)
        .await
        .map_err(|e| FhirError::from(e).into_response())?;
    let mut included = Vec::new();
    if !page.rows.is_empty() {
        included = includes(state, &parsed, &page.rows, &scope)
            .await
            .map_err(IntoResponse::into_response)?;
        // A system sees included resources only of the types its token may read.
        included.retain(|row| actor.require(&row.resource_type, 'r').is_ok());
    }
    Ok(SearchOutcome {
        rows: page.rows,
        included,
        total: page.total,
        query: parsed.query,
        warnings,
    })
}

/// `_include` (targets of the matches' references) and `_revinclude` (resources
/// referring to the matches), within the same scope.
async fn includes(
    state: &SharedState,
    parsed: &ParsedSearch,
    rows: &[FhirRow],
    scope: &FhirScope,
) -> FhirResult<Vec<FhirRow>> {
    let mut out: Vec<FhirRow> = Vec::new();
    let mut seen: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.resource_type.clone(), r.id.clone()))
        .collect();
    if !parsed.includes.is_empty() {
        let mut wanted = BTreeSet::new();
        for row in rows {
            let Ok(resource) = serde_json::from_str::<Value>(&row.content) else {
                continue;
            };
            for entry in renkei_fhir::search::extract(&resource) {
                for inc in &parsed.includes {
                    if inc.source_type == row.resource_type && inc.param == entry.param {
                        if let renkei_fhir::IndexValue::Reference(target) = &entry.value {
                            let target_type = target.split('/').next().unwrap_or_default();
                            if inc.target_type.as_deref().is_none_or(|t| t == target_type) {
                                wanted.insert(target.clone());
                            }
                        }
                    }
                }
            }
        }
        let wanted: Vec<String> = wanted
            .into_iter()
            .filter(|r| !r.starts_with("Patient/"))
            .collect();
        for row in state.store.fhir_read_many(&wanted).await? {
            if clinical::row_in_scope(scope, &row)
                && seen.insert((row.resource_type.clone(), row.id.clone()))
            {
                out.push(row);
            }
        }
    }
    for rev in &parsed.revincludes {
        let targets: Vec<ValueMatch> = rows
            .iter()
            .filter(|r| {
                rev.target_type
                    .as_deref()
                    .is_none_or(|t| t == r.resource_type)
            })
            .map(|r| ValueMatch::Reference(format!("{}/{}", r.resource_type, r.id)))
            .collect();
        if targets.is_empty() {
            continue;
        }
        let query = SearchQuery {
            resource_type: rev.source_type.clone(),
            ids: Vec::new(),
            criteria: vec![Criterion {
                param: rev.param.clone(),
                negate: false,
                missing: None,
                any_of: targets,
            }],
            last_updated: Vec::new(),
            sort: Vec::new(),
            count: renkei_fhir::search::MAX_COUNT,
            offset: 0,
            want_total: false,
        };
        for row in state.store.fhir_search(&query, scope).await?.rows {
            if seen.insert((row.resource_type.clone(), row.id.clone())) {
                out.push(row);
            }
        }
    }
    Ok(out)
}

/// The query string of a page: the request's parameters with `_offset` replaced.
fn page_url(base: &str, rtype: &str, pairs: &[(String, String)], offset: usize) -> String {
    let mut kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "_offset")
        .cloned()
        .collect();
    if offset > 0 {
        kept.push(("_offset".into(), offset.to_string()));
    }
    let qs = serde_urlencoded::to_string(&kept).unwrap_or_default();
    if qs.is_empty() {
        format!("{base}/{rtype}")
    } else {
        format!("{base}/{rtype}?{qs}")
    }
}

/// A Bundle as text: stored resources are spliced in without being parsed again.
pub(crate) fn bundle_text(
    kind: &str,
    total: Option<i64>,
    links: &[(&str, String)],
    entries: &[(String, &str, Option<&str>)],
) -> String {
    let mut s = String::with_capacity(256 + entries.iter().map(|e| e.0.len() + 128).sum::<usize>());
    s.push_str("{\"resourceType\":\"Bundle\",\"type\":");
    s.push_str(&json!(kind).to_string());
    s.push_str(",\"timestamp\":");
    s.push_str(&json!(clinical::instant(now_millis())).to_string());
    if let Some(t) = total {
        s.push_str(&format!(",\"total\":{t}"));
    }
    s.push_str(",\"link\":");
    s.push_str(
        &Value::Array(
            links
                .iter()
                .map(|(rel, url)| json!({"relation": rel, "url": url}))
                .collect(),
        )
        .to_string(),
    );
    s.push_str(",\"entry\":[");
    for (i, (content, full_url, mode)) in entries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"fullUrl\":");
        s.push_str(&json!(full_url).to_string());
        s.push_str(",\"resource\":");
        s.push_str(content);
        if let Some(mode) = mode {
            s.push_str(&format!(",\"search\":{{\"mode\":\"{mode}\"}}"));
        }
        s.push('}');
    }
    s.push_str("]}");
    s
}

pub(crate) fn search_bundle(
    state: &SharedState,
    rtype: &str,
    pairs: &[(String, String)],
    out: &SearchOutcome,
) -> String {
    let base = base_url(state);
    let mut links = vec![("self", page_url(&base, rtype, pairs, out.query.offset))];
    let next_offset = out.query.offset + out.query.count;
    let more = match out.total {
        Some(t) => (next_offset as i64) < t,
        None => out.rows.len() == out.query.count && out.query.count > 0,
    };
    if more && out.query.count > 0 {
        links.push(("next", page_url(&base, rtype, pairs, next_offset)));
    }
    if out.query.offset > 0 {
        links.push((
            "previous",
            page_url(
                &base,
                rtype,
                pairs,
                out.query.offset.saturating_sub(out.query.count),
            ),
        ));
    }
    let full_urls: Vec<String> = out
        .rows
        .iter()
        .chain(out.included.iter())
        .map(|r| format!("{base}/{}/{}", r.resource_type, r.id))
        .collect();
    let mut entries: Vec<(String, &str, Option<&str>)> = Vec::new();
    for (row, url) in out.rows.iter().zip(full_urls.iter()) {
        entries.push((row.content.clone(), url.as_str(), Some("match")));
    }
    for (row, url) in out.included.iter().zip(full_urls[out.rows.len()..].iter()) {
        entries.push((row.content.clone(), url.as_str(), Some("include")));
    }
    if !out.warnings.is_empty() {
        entries.push((
            operation_outcome(&out.warnings).to_string(),
            "urn:renkei:warnings",
            Some("outcome"),
        ));
    }
    bundle_text("searchset", out.total, &links, &entries)
}

async fn search_response(
    state: &SharedState,
    actor: &Actor,
    rtype: &str,
    pairs: Vec<(String, String)>,
    lenient: bool,
) -> Response {
    if let Err(e) = generic_type(rtype).and_then(|_| actor.require(rtype, 's')) {
        return e.into_response();
    }
    let out = match run_search(state, actor, rtype, &pairs, lenient).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let shown: Vec<&FhirRow> = out.rows.iter().chain(out.included.iter()).collect();
    if let Err(e) = audit_persons(state, actor, &shown, &format!("fhir:{rtype}?search")).await {
        return e.into_response();
    }
    json_response(StatusCode::OK, search_bundle(state, rtype, &pairs, &out))
}

/// `GET /fhir/{type}?…`.
pub async fn search(
    State(state): State<SharedState>,
    actor: Actor,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = match parse_pairs(raw.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if rtype == "AuditEvent" {
        return crate::fhir_audit::search(&state, &actor, &pairs)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    search_response(&state, &actor, &rtype, pairs, lenient(&headers)).await
}

/// `POST /fhir/{type}/_search` (form-encoded parameters, also accepted in the URL).
pub async fn search_post(
    State(state): State<SharedState>,
    actor: Actor,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let mut pairs = match parse_pairs(raw.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match std::str::from_utf8(&body)
        .map_err(|_| ())
        .and_then(|b| parse_pairs(b).map_err(|_| ()))
    {
        Ok(more) => pairs.extend(more),
        Err(()) => {
            return invalid(
                "本文を application/x-www-form-urlencoded として解釈できません。",
                "The body is not application/x-www-form-urlencoded.",
            )
            .into_response()
        }
    }
    search_response(&state, &actor, &rtype, pairs, lenient(&headers)).await
}

// --- writes -------------------------------------------------------------------------------

pub(crate) fn parse_resource(body: &[u8], rtype: &str) -> Result<Value, WriteFailure> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        WriteFailure::Issues(
            StatusCode::BAD_REQUEST,
            vec![Issue {
                severity: Severity::Error,
                code: "structure",
                expression: String::new(),
                ja: format!("JSON として解釈できません（{e}）。"),
                en: format!("The body is not valid JSON ({e})."),
            }],
        )
    })?;
    let found = value
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if found != rtype {
        return Err(WriteFailure::Issues(
            StatusCode::BAD_REQUEST,
            vec![Issue {
                severity: Severity::Error,
                code: "invalid",
                expression: "resourceType".into(),
                ja: format!("resourceType が {rtype} ではありません（{found}）。"),
                en: format!("resourceType is not {rtype} (got {found:?})."),
            }],
        ));
    }
    Ok(value)
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, WriteFailure> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or_default().trim();
    let inner = s.trim_start_matches("W/").trim_matches('"');
    inner.parse::<i64>().map(Some).map_err(|_| {
        WriteFailure::Fhir(invalid(
            "If-Match は W/\"版番号\" の形式で指定してください。",
            "If-Match must look like W/\"<versionId>\".",
        ))
    })
}

fn prefer_minimal(headers: &HeaderMap) -> Option<&'static str> {
    let prefer = headers.get("prefer")?.to_str().ok()?;
    if prefer.contains("return=minimal") {
        Some("minimal")
    } else if prefer.contains("return=OperationOutcome") {
        Some("outcome")
    } else {
        None
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Stores the writes of one interaction with their Provenance and an audit record, in one
/// transaction (`renkei_core::clinical::commit`).
pub(crate) async fn commit(
    state: &SharedState,
    author: &Author,
    writes: Vec<FhirWrite>,
    action: &str,
) -> Result<Vec<FhirRow>, WriteFailure> {
    let rows = clinical::commit(state.store.as_ref(), author, writes, action, now_millis()).await?;
    // Vital signs about a patient in one of the writer's ICU beds reach the census too.
    if let Err(e) = renkei_core::icu::copy_fhir_observations(state.store.as_ref(), &rows).await {
        tracing::warn!(error = %e, "FHIR observations committed but not copied to the ICU bed");
    }
    Ok(rows)
}

fn write_response(
    state: &SharedState,
    status: StatusCode,
    row: &FhirRow,
    headers: &HeaderMap,
) -> Response {
    let mut res = row_response(state, status, row, true);
    match prefer_minimal(headers) {
        Some("minimal") => {
            *res.body_mut() = axum::body::Body::empty();
        }
        Some(_) => {
            let outcome = json!({"resourceType": "OperationOutcome", "issue": [{
                "severity": "information", "code": "informational",
                "diagnostics": format!("{}/{} version {} stored", row.resource_type, row.id, row.version_id)
            }]});
            *res.body_mut() = axum::body::Body::from(outcome.to_string());
        }
        None => {}
    }
    res
}

/// Refuses a resource that still holds a `urn:uuid:` reference: outside a transaction, or
/// once a transaction has resolved its full URLs, it names nothing that exists (and a
/// subject left so would store the resource without its patient).
pub(crate) fn check_no_urn_references(value: &Value) -> Result<(), WriteFailure> {
    fn find(v: &Value) -> Option<&str> {
        match v {
            Value::Object(map) => map.iter().find_map(|(k, v)| match v {
                Value::String(s) if k == "reference" && s.starts_with("urn:uuid:") => {
                    Some(s.as_str())
                }
                other => find(other),
            }),
            Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    match find(value) {
        Some(r) => Err(WriteError::UnknownReference(r.to_string()).into()),
        None => Ok(()),
    }
}

/// `If-None-Exist`: the existing match, None when there is none; 412 when several match.
pub(crate) async fn existing_match(
    state: &SharedState,
    actor: &Actor,
    rtype: &str,
    criteria: &str,
) -> Result<Option<FhirRow>, WriteFailure> {
    let mut pairs = parse_pairs(criteria.trim_start_matches('?'))?;
    pairs.retain(|(k, _)| k != "_count");
    pairs.push(("_count".into(), "2".into()));
    let out = run_search(state, actor, rtype, &pairs, false)
        .await
        .map_err(|_| {
            WriteFailure::Fhir(invalid(
                "条件（If-None-Exist など）を解釈できません。",
                "The condition (If-None-Exist or search URL) cannot be parsed.",
            ))
        })?;
    match out.rows.len() {
        0 => Ok(None),
        1 => Ok(out.rows.into_iter().next()),
        _ => Err(WriteFailure::Fhir(FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            "multiple-matches",
            "条件に一致するリソースが複数あります。",
            "More than one resource matches the condition.",
        ))),
    }
}

/// `POST /fhir/{type}`: create (conditional with `If-None-Exist`).
pub async fn create(
    State(state): State<SharedState>,
    actor: Actor,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WriteFailure> {
    let info = generic_type(&rtype)?;
    if info.read_only {
        return Err(generic_type("AuditEvent").unwrap_err().into());
    }
    actor.require(&rtype, 'c')?;
    let author = actor.author()?;
    let resource = parse_resource(&body, &rtype)?;
    check_no_urn_references(&resource)?;
    if let Some(cond) = headers.get("if-none-exist").and_then(|v| v.to_str().ok()) {
        if let Some(existing) = existing_match(&state, &actor, &rtype, cond).await? {
            return Ok(row_response(&state, StatusCode::OK, &existing, true));
        }
    }
    let write = clinical::prepare_write(
        state.store.as_ref(),
        &author,
        resource,
        WriteIntent {
            kind: FhirWriteKind::Create,
            id: new_id(),
            version_id: 1,
        },
        now_millis(),
        &[],
    )
    .await?;
    let rows = commit(&state, &author, vec![write], "fhir.create").await?;
    Ok(write_response(
        &state,
        StatusCode::CREATED,
        &rows[0],
        &headers,
    ))
}

/// Checks that the actor may change a stored resource: it can see it (else 404) and its
/// facility wrote it (else 403).
pub(crate) async fn check_may_change(
    state: &SharedState,
    actor: &Actor,
    row: &FhirRow,
) -> Result<(), WriteFailure> {
    if !authorize_row(state, actor, row).await? {
        return Err(not_found().into());
    }
    if row.source_facility_id != actor.requester.facility_id {
        return Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "他の施設が記録したリソースは変更できません。",
            "A resource recorded by another facility cannot be changed.",
        )
        .into());
    }
    if !clinical::may_change_message(row, &actor.requester.user_id) {
        return Err(WriteError::NotAuthor(format!("{}/{}", row.resource_type, row.id)).into());
    }
    Ok(())
}

async fn update_inner(
    state: &SharedState,
    actor: &Actor,
    rtype: &str,
    id: &str,
    resource: Value,
    expected: Option<i64>,
    headers: &HeaderMap,
) -> Result<Response, WriteFailure> {
    actor.require(rtype, 'u')?;
    let author = actor.author()?;
    check_no_urn_references(&resource)?;
    let current = state.store.fhir_read(rtype, id).await?;
    let (kind, version, status) = match &current {
        Some(row) => {
            check_may_change(state, actor, row).await?;
            if let Some(e) = expected {
                if e != row.version_id {
                    return Err(FhirError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "conflict",
                        &format!("版 {e} は最新ではありません（最新は {}）。", row.version_id),
                        &format!(
                            "Version {e} is not current (current is {}).",
                            row.version_id
                        ),
                    )
                    .into());
                }
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
            if expected.is_some() {
                return Err(not_found().into());
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
    let write = clinical::prepare_write(
        state.store.as_ref(),
        &author,
        resource,
        WriteIntent {
            kind,
            id: id.to_string(),
            version_id: version,
        },
        now_millis(),
        &[],
    )
    .await?;
    let rows = commit(state, &author, vec![write], "fhir.update").await?;
    Ok(write_response(state, status, &rows[0], headers))
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `PUT /fhir/{type}/{id}`: update (or create with a client id), honouring `If-Match`.
pub async fn update(
    State(state): State<SharedState>,
    actor: Actor,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WriteFailure> {
    let info = generic_type(&rtype)?;
    if info.read_only {
        return Err(generic_type("AuditEvent").unwrap_err().into());
    }
    if !valid_id(&id) {
        return Err(invalid("id の形式が正しくありません。", "The id is malformed.").into());
    }
    let resource = parse_resource(&body, &rtype)?;
    match resource.get("id").and_then(Value::as_str) {
        Some(body_id) if body_id == id => {}
        _ => {
            return Err(WriteFailure::Issues(
                StatusCode::BAD_REQUEST,
                vec![Issue {
                    severity: Severity::Error,
                    code: "invalid",
                    expression: format!("{rtype}.id"),
                    ja: "本文の id が URL の id と一致しません。".into(),
                    en: "The id in the body does not match the id in the URL.".into(),
                }],
            ))
        }
    }
    let expected = if_match(&headers)?;
    update_inner(&state, &actor, &rtype, &id, resource, expected, &headers).await
}

/// `PUT /fhir/{type}?criteria`: conditional update.
pub async fn conditional_update(
    State(state): State<SharedState>,
    actor: Actor,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, WriteFailure> {
    if rtype == "Patient" {
        // The PIXm feed (ITI-104) registers through the patient index, not the store.
        return crate::fhir_pixm::feed(State(state), actor, headers, RawQuery(raw), body).await;
    }
    generic_type(&rtype)?;
    let criteria = raw.unwrap_or_default();
    if criteria.is_empty() {
        return Err(invalid(
            "条件付き更新には検索条件が必要です。",
            "A conditional update needs search criteria.",
        )
        .into());
    }
    let mut resource = parse_resource(&body, &rtype)?;
    let existing = existing_match(&state, &actor, &rtype, &criteria).await?;
    let id = match (&existing, resource.get("id").and_then(Value::as_str)) {
        (Some(row), Some(body_id)) if body_id != row.id => {
            return Err(invalid(
                "本文の id が条件に一致したリソースと異なります。",
                "The id in the body differs from the resource matching the criteria.",
            )
            .into())
        }
        (Some(row), _) => row.id.clone(),
        (None, Some(body_id)) if valid_id(body_id) => body_id.to_string(),
        (None, _) => new_id(),
    };
    resource["id"] = json!(id);
    let expected = if_match(&headers)?;
    update_inner(&state, &actor, &rtype, &id, resource, expected, &headers).await
}

/// `DELETE /fhir/{type}/{id}`.
pub async fn delete(
    State(state): State<SharedState>,
    actor: Actor,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, WriteFailure> {
    generic_type(&rtype)?;
    actor.require(&rtype, 'd')?;
    let author = actor.author()?;
    let Some(row) = state.store.fhir_read(&rtype, &id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    check_may_change(&state, &actor, &row).await?;
    if row.deleted {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if let Some(e) = if_match(&headers)? {
        if e != row.version_id {
            return Err(FhirError::new(
                StatusCode::PRECONDITION_FAILED,
                "conflict",
                &format!("版 {e} は最新ではありません。"),
                &format!("Version {e} is not current."),
            )
            .into());
        }
    }
    let now = now_millis();
    let write = FhirWrite {
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
    };
    commit(&state, &author, vec![write], "fhir.delete").await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::ETAG, etag(row.version_id + 1));
    Ok(res)
}

// --- history and $everything --------------------------------------------------------------

fn history_bundle(
    state: &SharedState,
    rows: &[FhirRow],
    self_url: String,
    next: Option<String>,
) -> String {
    let base = base_url(state);
    let mut s = String::from("{\"resourceType\":\"Bundle\",\"type\":\"history\",");
    // No total: counting every version on each page would cost a second query, and a
    // page count is not the total (R4 makes it optional for history).
    s.push_str("\"link\":");
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(n) = next {
        links.push(json!({"relation": "next", "url": n}));
    }
    s.push_str(&Value::Array(links).to_string());
    s.push_str(",\"entry\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let full = format!("{base}/{}/{}", r.resource_type, r.id);
        let (method, url) = match r.method.as_str() {
            "create" => ("POST", r.resource_type.clone()),
            "delete" => ("DELETE", format!("{}/{}", r.resource_type, r.id)),
            _ => ("PUT", format!("{}/{}", r.resource_type, r.id)),
        };
        s.push_str(&format!("{{\"fullUrl\":{},", json!(full)));
        if !r.deleted {
            s.push_str("\"resource\":");
            s.push_str(&r.content);
            s.push(',');
        }
        s.push_str(&format!(
            "\"request\":{{\"method\":\"{method}\",\"url\":{}}},\"response\":{{\"status\":\"{}\",\"etag\":\"W/\\\"{}\\\"\",\"lastModified\":{}}}}}",
            json!(url),
            if r.deleted { "204" } else if r.version_id == 1 { "201" } else { "200" },
            r.version_id,
            json!(clinical::instant(r.last_updated)),
        ));
    }
    s.push_str("]}");
    s
}

/// `_since`, `_count`, `_offset` and every pair as given (for paging links).
type HistoryParams = (Option<i64>, usize, usize, Vec<(String, String)>);

fn history_params(raw: Option<&str>) -> FhirResult<HistoryParams> {
    let pairs = parse_pairs(raw.unwrap_or(""))?;
    let (since, count, offset) = paging(
        &pairs,
        renkei_fhir::search::DEFAULT_COUNT,
        true,
        ("履歴", "History"),
    )?;
    Ok((since, count, offset, pairs))
}

/// The paging parameters of a history or `$everything` request: `_count` (capped),
/// `_offset` and, where `allow_since`, `_since`; `_format`/`_pretty` are ignored and any
/// other parameter is refused, naming the interaction (`what`, Japanese and English).
fn paging(
    pairs: &[(String, String)],
    default_count: usize,
    allow_since: bool,
    what: (&str, &str),
) -> FhirResult<(Option<i64>, usize, usize)> {
    let mut since = None;
    let mut count = default_count;
    let mut offset = 0;
    for (k, v) in pairs {
        match k.as_str() {
            "_since" if allow_since => {
                let t = chrono::DateTime::parse_from_rfc3339(v).map_err(|_| {
                    invalid(
                        "_since は時刻（例 2024-04-01T00:00:00+09:00）で指定してください。",
                        "_since must be an instant such as 2024-04-01T00:00:00+09:00.",
                    )
                })?;
                since = Some(t.timestamp_millis());
            }
            "_count" => {
                count = v
                    .parse::<usize>()
                    .map_err(|_| invalid("_count は整数です。", "_count must be an integer."))?
                    .min(renkei_fhir::search::MAX_COUNT)
            }
            "_offset" => {
                offset = v
                    .parse()
                    .map_err(|_| invalid("_offset は整数です。", "_offset must be an integer."))?
            }
            "_format" | "_pretty" => {}
            other => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    &format!("{}のパラメータ {other} には対応していません。", what.0),
                    &format!("{} parameter {other} is not supported.", what.1),
                ))
            }
        }
    }
    Ok((since, count, offset))
}

async fn history_response(
    state: &SharedState,
    actor: &Actor,
    rtype: Option<&str>,
    id: Option<&str>,
    raw: Option<&str>,
) -> FhirResult<Response> {
    let (since, count, offset, pairs) = history_params(raw)?;
    if actor.scopes.is_some() {
        actor.require(rtype.unwrap_or("*"), 'r')?;
    }
    let scope = match (rtype, id) {
        (Some(t), Some(i)) => {
            let row = state.store.fhir_read(t, i).await?.ok_or_else(not_found)?;
            if !authorize_row(state, actor, &row).await? {
                return Err(not_found());
            }
            FhirScope::All
        }
        _ => search_scope(state, actor, None).await?,
    };
    let rows = state
        .store
        .fhir_history(
            &HistoryQuery {
                resource_type: rtype.map(str::to_string),
                id: id.map(str::to_string),
                since,
                count,
                offset,
            },
            &scope,
        )
        .await?;
    let shown: Vec<&FhirRow> = rows.iter().collect();
    audit_persons(state, actor, &shown, "fhir:_history").await?;
    let base = base_url(state);
    let path = match (rtype, id) {
        (Some(t), Some(i)) => format!("{base}/{t}/{i}/_history"),
        (Some(t), None) => format!("{base}/{t}/_history"),
        _ => format!("{base}/_history"),
    };
    let with = |offset: usize| {
        let mut kept: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "_offset")
            .cloned()
            .collect();
        if offset > 0 {
            kept.push(("_offset".into(), offset.to_string()));
        }
        let qs = serde_urlencoded::to_string(&kept).unwrap_or_default();
        if qs.is_empty() {
            path.clone()
        } else {
            format!("{path}?{qs}")
        }
    };
    let next = (rows.len() == count && count > 0).then(|| with(offset + count));
    Ok(json_response(
        StatusCode::OK,
        history_bundle(state, &rows, with(offset), next),
    ))
}

/// `GET /fhir/_history`.
pub async fn system_history(
    State(state): State<SharedState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> FhirResult<Response> {
    history_response(&state, &actor, None, None, raw.as_deref()).await
}

/// `GET /fhir/{type}/_history`.
pub async fn type_history(
    State(state): State<SharedState>,
    actor: Actor,
    Path(rtype): Path<String>,
    RawQuery(raw): RawQuery,
) -> FhirResult<Response> {
    generic_type(&rtype)?;
    history_response(&state, &actor, Some(&rtype), None, raw.as_deref()).await
}

/// `GET /fhir/{type}/{id}/_history` and `GET /fhir/Patient/{id}/$everything`.
pub async fn instance_operation(
    State(state): State<SharedState>,
    actor: Actor,
    Path((rtype, id, op)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> FhirResult<Response> {
    match op.as_str() {
        "_history" => {
            generic_type(&rtype)?;
            history_response(&state, &actor, Some(&rtype), Some(&id), raw.as_deref()).await
        }
        "$everything" if rtype == "Patient" => {
            actor.require("*", 'r')?;
            everything(&state, &actor, &id, raw.as_deref()).await
        }
        _ => Err(FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            &format!("操作 {op} には対応していません。"),
            &format!("Operation {op} is not supported."),
        )),
    }
}

/// `Patient/$everything`: the patient (as the patient index shows it to the actor) and
/// every resource about the person the actor may see, from every facility.
async fn everything(
    state: &SharedState,
    actor: &Actor,
    id: &str,
    raw: Option<&str>,
) -> FhirResult<Response> {
    let pairs = parse_pairs(raw.unwrap_or(""))?;
    let (_, count, offset) = paging(
        &pairs,
        renkei_fhir::search::MAX_COUNT,
        false,
        ("$everything ", "$everything"),
    )?;
    let Some(person) = state.store.resolve_person(id).await? else {
        return Err(not_found());
    };
    let decision = renkei_core::access::authorize(
        state.store.as_ref(),
        &actor.requester,
        &actor.origin(&format!("fhir:Patient/{id}/$everything")),
        &person,
        InfoCategory::Demographics,
        None,
    )
    .await?;
    if !decision.is_permit() {
        return Err(not_found());
    }
    let access = accesses(state, actor, std::slice::from_ref(&person)).await?;
    let scope = clinical::scope_of(&actor.requester, &access, false);
    let page = state
        .store
        .fhir_everything(std::slice::from_ref(&person), &scope, count, offset)
        .await?;
    let shown: Vec<&FhirRow> = page.rows.iter().collect();
    audit_persons(state, actor, &shown, "fhir:Patient/$everything").await?;
    let base = base_url(state);
    let patient = crate::fhir::patient_for(state, &actor.requester, &person).await?;
    let mut entries: Vec<(String, String, Option<&str>)> = Vec::new();
    if offset == 0 {
        if let Some(p) = patient {
            entries.push((p.to_string(), format!("{base}/Patient/{person}"), None));
        }
    }
    for r in &page.rows {
        entries.push((
            r.content.clone(),
            format!("{base}/{}/{}", r.resource_type, r.id),
            None,
        ));
    }
    let refs: Vec<(String, &str, Option<&str>)> = entries
        .iter()
        .map(|(c, u, m)| (c.clone(), u.as_str(), *m))
        .collect();
    let self_url = format!("{base}/Patient/{id}/$everything");
    let mut links = vec![(
        "self",
        if offset > 0 {
            format!("{self_url}?_offset={offset}&_count={count}")
        } else {
            self_url.clone()
        },
    )];
    if page.total.is_some_and(|t| ((offset + count) as i64) < t) {
        links.push((
            "next",
            format!("{self_url}?_offset={}&_count={count}", offset + count),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        bundle_text("searchset", page.total.map(|t| t + 1), &links, &refs),
    ))
}

// --- transaction and batch ----------------------------------------------------------------

/// `POST /fhir` with a `transaction` (all or nothing) or `batch` (each entry on its own)
/// Bundle.
pub async fn bundle(
    State(state): State<SharedState>,
    actor: Actor,
    body: Bytes,
) -> Result<Response, WriteFailure> {
    let bundle = parse_resource(&body, "Bundle")?;
    match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") => crate::fhir_bundle::transaction(&state, &actor, bundle).await,
        Some("batch") => crate::fhir_bundle::batch(&state, &actor, bundle).await,
        _ => Err(WriteFailure::Issues(
            StatusCode::BAD_REQUEST,
            vec![Issue {
                severity: Severity::Error,
                code: "invalid",
                expression: "Bundle.type".into(),
                ja: "Bundle.type は transaction か batch にしてください。".into(),
                en: "Bundle.type must be transaction or batch.".into(),
            }],
        )),
    }
}
