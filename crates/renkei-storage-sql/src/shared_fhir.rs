// The FHIR resource store, shared by both backends. Included after `shared.rs` into
// `sqlite.rs` and `postgres.rs`; see there for the contract. Besides what `shared.rs`
// needs, each backend defines `SQL_STRPOS` (the name of its substring-position function)
// and `FHIR_INDEX_HINTS` (whether searches name the index each table is read by).
//
// Layout (migrations `0004_fhir.sql`): `fhir_resources` holds the current version of each
// resource, `fhir_versions` every version, and six `fhir_idx_*` tables the search index
// of the current versions, replaced on every write.
//
// Searches start from the most selective criterion ("driver": a token code of the patients
// the search names — token rows carry their resource's patient —, else a reference, then a
// token code, …) as a DISTINCT id subquery joined to `fhir_resources` (CROSS JOIN, so SQLite
// keeps that order; PostgreSQL plans freely) and test every other criterion as a
// correlated EXISTS against the per-resource index `(resource_type, id, param)`.

use renkei_fhir::{Comparator, Criterion, IndexEntry, IndexValue, SearchQuery, StringMode, ValueMatch};
use renkei_storage::fhir::{FhirPage, FhirRow, FhirScope, FhirWrite, FhirWriteKind, HistoryQuery};
use std::collections::{HashMap, HashSet};

/// Columns of a current or historic row (`r`) with the person of its registration (`pr`).
const FHIR_COLUMNS: &str = "r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.patient_record_id, \
     pr.person_id, r.source_facility_id, r.category, r.content, r.method";

/// Index text is cut to this many characters (values and query terms alike), so that an
/// index row always fits a PostgreSQL B-tree entry (at most ~2,700 bytes).
const FHIR_TEXT_MAX: usize = 512;
/// Token systems and codes are cut shorter: both sit in one index entry.
const FHIR_TOKEN_MAX: usize = 200;
/// Rows per multi-row INSERT (at most 15 columns: well inside both backends' bind limits).
const FHIR_INSERT_CHUNK: usize = 200;
/// Above every character: `prefix || FHIR_PREFIX_END` bounds all text starting with `prefix`.
const FHIR_PREFIX_END: char = '\u{10FFFF}';

fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The index tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FhirIdx {
    Token,
    String,
    Date,
    Reference,
    Number,
    Uri,
}

impl FhirIdx {
    const ALL: [FhirIdx; 6] = [
        FhirIdx::Token,
        FhirIdx::String,
        FhirIdx::Date,
        FhirIdx::Reference,
        FhirIdx::Number,
        FhirIdx::Uri,
    ];

    fn table(self) -> &'static str {
        match self {
            FhirIdx::Token => "fhir_idx_token",
            FhirIdx::String => "fhir_idx_string",
            FhirIdx::Date => "fhir_idx_date",
            FhirIdx::Reference => "fhir_idx_reference",
            FhirIdx::Number => "fhir_idx_number",
            FhirIdx::Uri => "fhir_idx_uri",
        }
    }

    /// `fhir_resources r` read by its primary key.
    fn resources_by_id() -> &'static str {
        if FHIR_INDEX_HINTS {
            "fhir_resources r INDEXED BY sqlite_autoindex_fhir_resources_1"
        } else {
            "fhir_resources r"
        }
    }

    /// The table (as `alias`) for a correlated probe by `(resource_type, id, param)`.
    fn probe(self, alias: &str) -> String {
        if FHIR_INDEX_HINTS {
            format!("{0} {alias} INDEXED BY {0}_resource", self.table())
        } else {
            format!("{} {alias}", self.table())
        }
    }

    /// The table for a search by value: its primary key (SQLite names it
    /// `sqlite_autoindex_<table>_1`), or for dates compared by their end only, the index
    /// on `high`.
    fn search(self, alias: &str, values: &[&ValueMatch]) -> String {
        if !FHIR_INDEX_HINTS {
            return format!("{} {alias}", self.table());
        }
        let by_high = self == FhirIdx::Date
            && values.iter().all(|v| {
                matches!(
                    v,
                    ValueMatch::Date { comparator: Comparator::Gt | Comparator::Ge | Comparator::Eb, .. }
                )
            });
        if by_high {
            format!("fhir_idx_date {alias} INDEXED BY fhir_idx_date_high")
        } else {
            format!("{0} {alias} INDEXED BY sqlite_autoindex_{0}_1", self.table())
        }
    }

    fn of_match(v: &ValueMatch) -> FhirIdx {
        match v {
            ValueMatch::Token { .. } => FhirIdx::Token,
            ValueMatch::String { .. } => FhirIdx::String,
            ValueMatch::Date { .. } => FhirIdx::Date,
            ValueMatch::Reference(_) => FhirIdx::Reference,
            ValueMatch::Number { .. } => FhirIdx::Number,
            ValueMatch::Uri(_) => FhirIdx::Uri,
        }
    }
}

fn fhir_row_from(row: &<Db as sqlx::Database>::Row) -> Result<FhirRow, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading FHIR row", e);
    Ok(FhirRow {
        resource_type: row.try_get("resource_type").map_err(g)?,
        id: row.try_get("id").map_err(g)?,
        version_id: row.try_get("version_id").map_err(g)?,
        last_updated: row.try_get("last_updated").map_err(g)?,
        deleted: row.try_get("deleted").map_err(g)?,
        patient_record_id: row.try_get("patient_record_id").map_err(g)?,
        person_id: row.try_get("person_id").map_err(g)?,
        source_facility_id: row.try_get("source_facility_id").map_err(g)?,
        category: row.try_get("category").map_err(g)?,
        content: row.try_get("content").map_err(g)?,
        method: row.try_get("method").map_err(g)?,
    })
}

/// Maps a failed write of `Type/id` to the store's errors.
fn fhir_write_error(e: sqlx::Error, key: &str, record: Option<&str>) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(format!("{key} exists"));
        }
        if db.is_foreign_key_violation() {
            return StoreError::InvalidState(format!(
                "{key}: patient record {} does not exist",
                record.unwrap_or("?")
            ));
        }
    }
    backend_error(&format!("writing {key}"), e)
}

/// Splits `Type/id` references by type (deduplicated, order kept).
fn group_references(references: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut seen = HashSet::new();
    for reference in references {
        let Some((resource_type, id)) = reference.split_once('/') else { continue };
        if resource_type.is_empty() || id.is_empty() || !seen.insert(reference.as_str()) {
            continue;
        }
        match groups.iter_mut().find(|(t, _)| *t == resource_type) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => groups.push((resource_type.to_string(), vec![id.to_string()])),
        }
    }
    groups
}

/// Seals and appends several audit records in the caller's transaction: the head is
/// locked once, the records go in with multi-row INSERTs and the head moves once.
async fn append_audits_in(conn: &mut Conn, entries: Vec<AuditEntry>, at: Millis) -> Result<Vec<AuditRecord>, StoreError> {
    if entries.len() <= 1 {
        let mut records = Vec::with_capacity(1);
        for entry in entries {
            records.push(append_audit_in(conn, entry, at).await?);
        }
        return Ok(records);
    }
    let head = sqlx::query(LOCK_AUDIT_HEAD)
        .fetch_one(&mut *conn)
        .await
        .map_err(err("locking audit head"))?;
    let mut seq: i64 = head.try_get("seq").map_err(err("reading audit head"))?;
    let mut hash: String = head.try_get("hash").map_err(err("reading audit head"))?;
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let record = seal(entry, at, (seq > 0).then_some((seq, hash.as_str())));
        seq = record.seq;
        hash = record.hash.clone();
        records.push(record);
    }
    for chunk in records.chunks(FHIR_INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO audit_log (seq, at, action, outcome, actor_user_id, actor_login, actor_facility_id, \
             target_type, target_id, patient_id, ip, user_agent, detail, prev_hash, hash) ",
        );
        qb.push_values(chunk, |mut b, r| {
            let e = &r.entry;
            b.push_bind(r.seq)
                .push_bind(r.at)
                .push_bind(e.action.as_str())
                .push_bind(e.outcome.as_str())
                .push_bind(e.actor_user_id.as_deref())
                .push_bind(e.actor_login.as_deref())
                .push_bind(e.actor_facility_id.as_deref())
                .push_bind(e.target_type.as_deref())
                .push_bind(e.target_id.as_deref())
                .push_bind(e.patient_id.as_deref())
                .push_bind(e.ip.as_deref())
                .push_bind(e.user_agent.as_deref())
                .push_bind(e.detail.as_str())
                .push_bind(r.prev_hash.as_str())
                .push_bind(r.hash.as_str());
        });
        qb.build().execute(&mut *conn).await.map_err(err("appending audit records"))?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *conn)
        .await
        .map_err(err("moving audit head"))?;
    Ok(records)
}

/// Inserts versions with multi-row INSERTs.
/// Inserts the new resources `stored[i]` for `i` in `pending` (then empties it), in
/// multi-row statements. A conflict names the resource when a chunk holds one, else the
/// first few of the chunk.
async fn insert_created(conn: &mut Conn, stored: &[FhirRow], pending: &mut Vec<usize>) -> Result<(), StoreError> {
    for chunk in pending.chunks(FHIR_INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO fhir_resources (resource_type, id, version_id, last_updated, deleted, patient_record_id, \
             source_facility_id, category, content, method) ",
        );
        qb.push_values(chunk, |mut b, &i| {
            let r = &stored[i];
            b.push_bind(r.resource_type.as_str())
                .push_bind(r.id.as_str())
                .push_bind(r.version_id)
                .push_bind(r.last_updated)
                .push_bind(r.deleted)
                .push_bind(r.patient_record_id.as_deref())
                .push_bind(r.source_facility_id.as_deref())
                .push_bind(r.category.as_str())
                .push_bind(r.content.as_str())
                .push_bind(r.method.as_str());
        });
        if let Err(e) = qb.build().execute(&mut *conn).await {
            let keys: Vec<String> = chunk
                .iter()
                .take(5)
                .map(|&i| format!("{}/{}", stored[i].resource_type, stored[i].id))
                .collect();
            let key = match chunk.len() {
                1 => keys[0].clone(),
                n => format!("one of {}{} ({n} resources)", keys.join(", "), if n > 5 { ", …" } else { "" }),
            };
            let record = if chunk.len() == 1 { stored[chunk[0]].patient_record_id.as_deref() } else { None };
            return Err(fhir_write_error(e, &key, record));
        }
    }
    pending.clear();
    Ok(())
}

async fn insert_fhir_versions(conn: &mut Conn, rows: &[FhirRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(FHIR_INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO fhir_versions (resource_type, id, version_id, last_updated, deleted, patient_record_id, \
             source_facility_id, category, content, method) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.resource_type.as_str())
                .push_bind(r.id.as_str())
                .push_bind(r.version_id)
                .push_bind(r.last_updated)
                .push_bind(r.deleted)
                .push_bind(r.patient_record_id.as_deref())
                .push_bind(r.source_facility_id.as_deref())
                .push_bind(r.category.as_str())
                .push_bind(r.content.as_str())
                .push_bind(r.method.as_str());
        });
        qb.build().execute(&mut *conn).await.map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("a version of this resource with that versionId exists".into())
            }
            e => backend_error("storing FHIR versions", e),
        })?;
    }
    Ok(())
}

/// Removes the index rows of these resources from every index table.
async fn delete_fhir_index(conn: &mut Conn, keys: &[(String, String)]) -> Result<(), StoreError> {
    let mut by_type: Vec<(&str, Vec<&str>)> = Vec::new();
    for (t, id) in keys {
        match by_type.iter_mut().find(|(bt, _)| *bt == t.as_str()) {
            Some((_, ids)) => ids.push(id.as_str()),
            None => by_type.push((t.as_str(), vec![id.as_str()])),
        }
    }
    for (resource_type, ids) in &by_type {
        for chunk in ids.chunks(500) {
            for idx in FhirIdx::ALL {
                let mut qb = QueryBuilder::<Db>::new(format!("DELETE FROM {} WHERE resource_type = ", idx.table()));
                qb.push_bind(*resource_type).push(" AND id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut *conn).await.map_err(err("replacing FHIR index"))?;
            }
        }
    }
    Ok(())
}

/// One index row, split by table.
#[derive(Default)]
struct FhirIndexRows<'a> {
    /// (type, id, param, system, code, patient): `patient` is the resource's `patient`
    /// reference (`Patient/<id>`, "" for none), so a patient's codes are found directly.
    token: Vec<(&'a str, &'a str, &'a str, &'a str, &'a str, &'a str)>,
    string: Vec<(&'a str, &'a str, &'a str, &'a str)>,
    date: Vec<(&'a str, &'a str, &'a str, i64, i64)>,
    reference: Vec<(&'a str, &'a str, &'a str, &'a str)>,
    number: Vec<(&'a str, &'a str, &'a str, f64, &'a str, &'a str)>,
    uri: Vec<(&'a str, &'a str, &'a str, &'a str)>,
}

impl<'a> FhirIndexRows<'a> {
    fn add(&mut self, resource_type: &'a str, id: &'a str, patient: &'a str, entry: &'a IndexEntry) {
        let p = entry.param.as_str();
        match &entry.value {
            IndexValue::Token { system, code } => self.token.push((
                resource_type,
                id,
                p,
                cut(system, FHIR_TOKEN_MAX),
                cut(code, FHIR_TOKEN_MAX),
                patient,
            )),
            IndexValue::String(v) => self.string.push((resource_type, id, p, cut(v, FHIR_TEXT_MAX))),
            IndexValue::Date { low, high } => self.date.push((resource_type, id, p, *low, *high)),
            IndexValue::Reference(t) => self.reference.push((resource_type, id, p, cut(t, FHIR_TEXT_MAX))),
            IndexValue::Number { value, system, code } => {
                // NaN and infinities cannot be compared (SQLite stores NaN as NULL); -0 is 0.
                if value.is_finite() {
                    self.number.push((
                        resource_type,
                        id,
                        p,
                        *value + 0.0,
                        cut(system, FHIR_TOKEN_MAX),
                        cut(code, FHIR_TOKEN_MAX),
                    ));
                }
            }
            IndexValue::Uri(u) => self.uri.push((resource_type, id, p, cut(u, FHIR_TEXT_MAX))),
        }
    }
}

macro_rules! insert_index_rows {
    ($conn:expr, $rows:expr, $sql:expr, |$b:ident, $r:ident| $push:block) => {
        for chunk in $rows.chunks(FHIR_INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new($sql);
            qb.push_values(chunk, |mut $b, $r| $push);
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *$conn).await.map_err(err("storing FHIR index"))?;
        }
    };
}

async fn insert_fhir_index(conn: &mut Conn, rows: &FhirIndexRows<'_>) -> Result<(), StoreError> {
    insert_index_rows!(conn, rows.token, "INSERT INTO fhir_idx_token (resource_type, id, param, system, code, patient) ", |b, r| {
        b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3).push_bind(r.4).push_bind(r.5);
    });
    insert_index_rows!(conn, rows.string, "INSERT INTO fhir_idx_string (resource_type, id, param, value) ", |b, r| {
        b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3);
    });
    insert_index_rows!(conn, rows.date, "INSERT INTO fhir_idx_date (resource_type, id, param, low, high) ", |b, r| {
        b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3).push_bind(r.4);
    });
    insert_index_rows!(conn, rows.reference, "INSERT INTO fhir_idx_reference (resource_type, id, param, target) ", |b, r| {
        b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3);
    });
    insert_index_rows!(conn, rows.number, "INSERT INTO fhir_idx_number (resource_type, id, param, value, system, code) ", |b, r| {
        b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3).push_bind(r.4).push_bind(r.5);
    });
    insert_index_rows!(conn, rows.uri, "INSERT INTO fhir_idx_uri (resource_type, id, param, value) ", |b, r| {
        b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3);
    });
    Ok(())
}

/// FHIR R4 date comparison of the stored range `[low, high)` (SQL expressions) with the
/// searched range `[sl, sh)`. `ge`/`le` also take ranges overlapping the searched one's
/// start/end; `ap` is approximated by overlap.
fn push_date_condition(qb: &mut QueryBuilder<'_, Db>, low: &str, high: &str, cmp: Comparator, sl: i64, sh: i64) {
    match cmp {
        Comparator::Eq | Comparator::Ne => {
            qb.push(if cmp == Comparator::Ne { "NOT (" } else { "(" });
            qb.push(format!("{low} >= ")).push_bind(sl);
            qb.push(format!(" AND {high} <= ")).push_bind(sh).push(")");
        }
        Comparator::Gt => {
            qb.push(format!("{high} > ")).push_bind(sh);
        }
        Comparator::Lt => {
            qb.push(format!("{low} < ")).push_bind(sl);
        }
        Comparator::Ge => {
            qb.push(format!("{high} > ")).push_bind(sl);
        }
        Comparator::Le => {
            qb.push(format!("{low} < ")).push_bind(sh);
        }
        Comparator::Sa => {
            qb.push(format!("{low} >= ")).push_bind(sh);
        }
        Comparator::Eb => {
            qb.push(format!("{high} <= ")).push_bind(sl);
        }
        Comparator::Ap => {
            qb.push(format!("({low} < ")).push_bind(sh);
            qb.push(format!(" AND {high} > ")).push_bind(sl).push(")");
        }
    }
}

/// The condition one value puts on an index row `x` of its table.
fn push_value_condition(qb: &mut QueryBuilder<'_, Db>, v: &ValueMatch) {
    match v {
        ValueMatch::Token { system, code } => match (system, code.is_empty()) {
            (None, true) => {
                qb.push("1 = 1");
            }
            (None, false) => {
                qb.push("x.code = ").push_bind(cut(code, FHIR_TOKEN_MAX).to_string());
            }
            (Some(s), true) => {
                qb.push("x.system = ").push_bind(cut(s, FHIR_TOKEN_MAX).to_string());
            }
            (Some(s), false) => {
                qb.push("x.code = ").push_bind(cut(code, FHIR_TOKEN_MAX).to_string());
                qb.push(" AND x.system = ").push_bind(cut(s, FHIR_TOKEN_MAX).to_string());
            }
        },
        ValueMatch::String { value, mode } => {
            let value = cut(value, FHIR_TEXT_MAX).to_string();
            match mode {
                StringMode::Exact => {
                    qb.push("x.value = ").push_bind(value);
                }
                StringMode::Prefix => {
                    // A byte-wise range instead of LIKE: index-friendly on both backends and
                    // no wildcards to escape.
                    let end = format!("{value}{FHIR_PREFIX_END}");
                    qb.push("x.value >= ").push_bind(value);
                    qb.push(" AND x.value < ").push_bind(end);
                }
                StringMode::Contains => {
                    qb.push(format!("{SQL_STRPOS}(x.value, ")).push_bind(value).push(") > 0");
                }
            }
        }
        ValueMatch::Date { comparator, low, high } => push_date_condition(qb, "x.low", "x.high", *comparator, *low, *high),
        ValueMatch::Reference(target) => {
            qb.push("x.target = ").push_bind(cut(target, FHIR_TEXT_MAX).to_string());
        }
        ValueMatch::Number { comparator, value, system, code } => {
            let v = *value;
            match comparator {
                Comparator::Eq => {
                    qb.push("x.value = ").push_bind(v);
                }
                Comparator::Ne => {
                    qb.push("x.value <> ").push_bind(v);
                }
                Comparator::Gt | Comparator::Sa => {
                    qb.push("x.value > ").push_bind(v);
                }
                Comparator::Lt | Comparator::Eb => {
                    qb.push("x.value < ").push_bind(v);
                }
                Comparator::Ge => {
                    qb.push("x.value >= ").push_bind(v);
                }
                Comparator::Le => {
                    qb.push("x.value <= ").push_bind(v);
                }
                Comparator::Ap => {
                    let margin = v.abs() * 0.1;
                    qb.push("x.value >= ").push_bind(v - margin);
                    qb.push(" AND x.value <= ").push_bind(v + margin);
                }
            }
            if let Some(s) = system {
                qb.push(" AND x.system = ").push_bind(cut(s, FHIR_TOKEN_MAX).to_string());
            }
            if let Some(c) = code {
                qb.push(" AND x.code = ").push_bind(cut(c, FHIR_TOKEN_MAX).to_string());
            }
        }
        ValueMatch::Uri(u) => {
            qb.push("x.value = ").push_bind(cut(u, FHIR_TEXT_MAX).to_string());
        }
    }
}

/// ` AND ((v1) OR (v2) …)` over the values (nothing when there are none).
fn push_any_of(qb: &mut QueryBuilder<'_, Db>, values: &[&ValueMatch]) {
    if values.is_empty() {
        return;
    }
    qb.push(" AND (");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(");
        push_value_condition(qb, v);
        qb.push(")");
    }
    qb.push(")");
}

/// `EXISTS` an index row of `r` for `param` in `idx` matching any of `values`.
fn push_exists(qb: &mut QueryBuilder<'_, Db>, idx: FhirIdx, param: &str, values: &[&ValueMatch]) {
    qb.push(format!(
        "EXISTS (SELECT 1 FROM {} WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = ",
        idx.probe("x")
    ));
    qb.push_bind(param.to_string());
    push_any_of(qb, values);
    qb.push(")");
}

/// The values of a criterion grouped by index table.
fn values_by_table(c: &Criterion) -> Vec<(FhirIdx, Vec<&ValueMatch>)> {
    let mut groups: Vec<(FhirIdx, Vec<&ValueMatch>)> = Vec::new();
    for v in &c.any_of {
        let idx = FhirIdx::of_match(v);
        match groups.iter_mut().find(|(i, _)| *i == idx) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((idx, vec![v])),
        }
    }
    groups
}

/// The index tables that can hold values of `param` of `resource_type`: a reference
/// parameter's values live only in the reference table; for any other (or an unknown)
/// parameter every table is probed.
fn tables_of(resource_type: &str, param: &str) -> Vec<FhirIdx> {
    let reference = renkei_fhir::resource::search_params(resource_type)
        .iter()
        .any(|p| p.code == param && p.kind == renkei_fhir::search::ParamKind::Reference);
    if reference {
        vec![FhirIdx::Reference]
    } else {
        FhirIdx::ALL.to_vec()
    }
}

/// ` AND <criterion>` on `r`.
fn push_criterion(qb: &mut QueryBuilder<'_, Db>, resource_type: &str, c: &Criterion) {
    if let Some(missing) = c.missing {
        qb.push(if missing { " AND NOT (" } else { " AND (" });
        for (i, idx) in tables_of(resource_type, &c.param).into_iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            push_exists(qb, idx, &c.param, &[]);
        }
        qb.push(")");
    }
    let groups = values_by_table(c);
    if groups.is_empty() {
        return;
    }
    qb.push(if c.negate { " AND NOT (" } else { " AND (" });
    for (i, (idx, values)) in groups.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        push_exists(qb, *idx, &c.param, values);
    }
    qb.push(")");
}

/// The `patient` reference of a resource's index entries (`Patient/<id>`), "" for none.
fn patient_of(entries: &[IndexEntry]) -> &str {
    entries
        .iter()
        .find_map(|e| match &e.value {
            IndexValue::Reference(t) if e.param == "patient" && t.starts_with("Patient/") => {
                Some(cut(t, FHIR_TEXT_MAX))
            }
            _ => None,
        })
        .unwrap_or("")
}

/// The patients a search is limited to: the targets of a plain `patient` or `subject`
/// criterion naming only patients (the same strings `patient_of` stores).
fn patient_targets(q: &SearchQuery) -> Option<Vec<String>> {
    q.criteria.iter().find_map(|c| {
        if c.negate || c.missing.is_some() || c.any_of.is_empty() || !(c.param == "patient" || c.param == "subject") {
            return None;
        }
        c.any_of
            .iter()
            .map(|v| match v {
                ValueMatch::Reference(t) if t.starts_with("Patient/") => Some(cut(t, FHIR_TEXT_MAX).to_string()),
                _ => None,
            })
            .collect()
    })
}

/// The criterion a search starts from, and for a token criterion of a search limited to
/// some patients, those patients: the token index is then read by (patient, code), a
/// handful of rows, instead of every resource of the patient or of the code.
#[derive(Clone, Copy)]
struct Driver<'q> {
    criterion: usize,
    patients: Option<&'q [String]>,
}

fn choose_driver<'q>(q: &SearchQuery, patients: Option<&'q [String]>) -> Option<Driver<'q>> {
    if !q.ids.is_empty() {
        return None;
    }
    if let Some(patients) = patients {
        // Any token criterion is correct; a resource's own code narrows best, `_tag` and
        // the like least.
        let token = q
            .criteria
            .iter()
            .enumerate()
            .filter(|(_, c)| driver_rank(c) == Some(1) && c.any_of.iter().all(|v| matches!(v, ValueMatch::Token { .. })))
            .min_by_key(|(_, c)| c.param.starts_with('_'))
            .map(|(i, _)| i);
        if let Some(criterion) = token {
            return Some(Driver { criterion, patients: Some(patients) });
        }
    }
    q.criteria
        .iter()
        .enumerate()
        .filter_map(|(i, c)| driver_rank(c).map(|rank| (rank, i)))
        .min()
        .map(|(_, criterion)| Driver { criterion, patients: None })
}

/// How well a criterion narrows a search when it drives it (lower is better); None when
/// it cannot drive (negated, `:missing`, several tables, `ne`, `:contains`).
fn driver_rank(c: &Criterion) -> Option<u8> {
    if c.negate || c.missing.is_some() || c.any_of.is_empty() {
        return None;
    }
    let idx = FhirIdx::of_match(&c.any_of[0]);
    let mut rank = 0;
    for v in &c.any_of {
        if FhirIdx::of_match(v) != idx {
            return None;
        }
        let r = match v {
            ValueMatch::Reference(_) => 0,
            ValueMatch::Token { code, .. } if !code.is_empty() => 1,
            ValueMatch::Uri(_) => 2,
            ValueMatch::String { mode: StringMode::Exact, .. } => 3,
            ValueMatch::String { mode: StringMode::Prefix, .. } => 4,
            ValueMatch::Date { comparator, .. } if *comparator != Comparator::Ne => 5,
            ValueMatch::Number { comparator, .. } if *comparator != Comparator::Ne => 6,
            ValueMatch::Token { .. } => 7,
            _ => return None,
        };
        rank = rank.max(r);
    }
    Some(rank)
}

/// ` AND (<who may see it>)` on the rows of `alias`.
fn push_scope(qb: &mut QueryBuilder<'_, Db>, alias: &str, scope: &FhirScope) {
    let FhirScope::Restricted { own_facility, grants, non_patient } = scope else { return };
    qb.push(" AND (1 = 0");
    if let Some(facility) = own_facility {
        qb.push(format!(" OR {alias}.source_facility_id = ")).push_bind(facility.clone());
    }
    for grant in grants {
        if grant.person_ids.is_empty() || grant.categories.is_empty() {
            continue;
        }
        qb.push(format!(" OR ({alias}.category IN ("));
        let mut sep = qb.separated(", ");
        for category in &grant.categories {
            sep.push_bind(category.clone());
        }
        qb.push(format!(") AND {alias}.patient_record_id IN ("));
        push_records_of_persons(qb, &grant.person_ids);
        qb.push("))");
    }
    if *non_patient {
        qb.push(format!(" OR {alias}.patient_record_id IS NULL"));
    }
    qb.push(")");
}

/// A subquery of the registrations of these persons (merged persons followed).
fn push_records_of_persons(qb: &mut QueryBuilder<'_, Db>, person_ids: &[String]) {
    qb.push(
        "SELECT g.id FROM patient_records g WHERE g.person_id IN \
         (SELECT COALESCE(p.merged_into, p.id) FROM persons p WHERE p.id IN (",
    );
    let mut sep = qb.separated(", ");
    for person in person_ids {
        sep.push_bind(person.clone());
    }
    qb.push("))");
}

/// FROM and WHERE of a type-level search on `r` (with `pr` when `with_person`).
fn push_search_body(
    qb: &mut QueryBuilder<'_, Db>,
    q: &SearchQuery,
    scope: &FhirScope,
    driver: Option<Driver<'_>>,
    with_person: bool,
) {
    match driver {
        Some(Driver { criterion, patients: Some(patients) }) => {
            let c = &q.criteria[criterion];
            let values: Vec<&ValueMatch> = c.any_of.iter().collect();
            let table = if FHIR_INDEX_HINTS { "fhir_idx_token x INDEXED BY fhir_idx_token_patient" } else { "fhir_idx_token x" };
            qb.push(format!("FROM (SELECT DISTINCT x.id FROM {table} WHERE x.resource_type = "));
            qb.push_bind(q.resource_type.clone());
            qb.push(" AND x.param = ").push_bind(c.param.clone());
            qb.push(" AND x.patient IN (");
            let mut sep = qb.separated(", ");
            for p in patients {
                sep.push_bind(p.clone());
            }
            qb.push(")");
            push_any_of(qb, &values);
            qb.push(format!(") d CROSS JOIN {}", FhirIdx::resources_by_id()));
        }
        Some(Driver { criterion, patients: None }) => {
            let c = &q.criteria[criterion];
            let idx = FhirIdx::of_match(&c.any_of[0]);
            let values: Vec<&ValueMatch> = c.any_of.iter().collect();
            qb.push(format!("FROM (SELECT DISTINCT x.id FROM {} WHERE x.resource_type = ", idx.search("x", &values)));
            qb.push_bind(q.resource_type.clone());
            qb.push(" AND x.param = ").push_bind(c.param.clone());
            push_any_of(qb, &values);
            qb.push(format!(") d CROSS JOIN {}", FhirIdx::resources_by_id()));
        }
        None if !q.ids.is_empty() => {
            qb.push(format!("FROM {}", FhirIdx::resources_by_id()));
        }
        None => {
            qb.push("FROM fhir_resources r");
        }
    }
    if with_person {
        qb.push(" LEFT JOIN patient_records pr ON pr.id = r.patient_record_id");
    }
    qb.push(" WHERE r.resource_type = ").push_bind(q.resource_type.clone());
    if driver.is_some() {
        qb.push(" AND r.id = d.id");
    }
    qb.push(" AND r.deleted = FALSE");
    if !q.ids.is_empty() {
        qb.push(" AND r.id IN (");
        let mut sep = qb.separated(", ");
        for id in &q.ids {
            sep.push_bind(id.clone());
        }
        qb.push(")");
    }
    for (i, c) in q.criteria.iter().enumerate() {
        if Some(i) != driver.map(|d| d.criterion) {
            push_criterion(qb, &q.resource_type, c);
        }
    }
    for (cmp, low, high) in &q.last_updated {
        qb.push(" AND ");
        push_date_condition(qb, "r.last_updated", "(r.last_updated + 1)", *cmp, *low, *high);
    }
    push_scope(qb, "r", scope);
}

/// The body of a clinical write, inside the caller's transaction: versions, search index,
/// audit records, notifications and document deliveries.
async fn fhir_write_in(
    tx: &mut Conn,
    writes: Vec<FhirWrite>,
    audit: Vec<AuditEntry>,
    notifications: &[renkei_storage::notifications::Notification],
    deliveries: &[renkei_storage::documents::DocumentDelivery],
    invitation: Option<Box<TeamInvitation>>,
) -> Result<(Vec<FhirRow>, bool), StoreError> {
    let at = writes.iter().map(|w| w.last_updated).max().unwrap_or_else(renkei_domain::now_millis);
    let mut stored: Vec<FhirRow> = Vec::with_capacity(writes.len());
    // Resources that existed before this write: their old index rows go.
    let mut replaced: Vec<(String, String)> = Vec::new();
    // The index of each resource's last version in this batch.
    let mut index: HashMap<(String, String), Vec<IndexEntry>> = HashMap::new();
    // Positions in `stored` of creates not yet inserted.
    let mut created: Vec<usize> = Vec::new();
    for w in writes {
        let key = format!("{}/{}", w.resource_type, w.id);
        let (method, deleted) = match w.kind {
            FhirWriteKind::Create => ("create", false),
            FhirWriteKind::Update { .. } => ("update", false),
            FhirWriteKind::Delete { .. } => ("delete", true),
        };
        let expected = match w.kind {
            FhirWriteKind::Create | FhirWriteKind::Update { expected_version: None } => None,
            FhirWriteKind::Update { expected_version: Some(v) } | FhirWriteKind::Delete { expected_version: v } => Some(v),
        };
        let content = match expected {
            // Creates are stored together (`insert_created`), before the next update
            // and at the end: one statement per chunk instead of one per resource.
            None => w.content,
            Some(expected) => {
                insert_created(&mut *tx, &stored, &mut created).await?;
                // A delete without content keeps the previous content.
                let new_content = (!(deleted && w.content.is_empty())).then_some(w.content.as_str());
                let updated: Option<String> = sqlx::query_scalar(
                    "UPDATE fhir_resources SET version_id = $1, last_updated = $2, deleted = $3, \
                     patient_record_id = $4, source_facility_id = $5, category = $6, \
                     content = COALESCE($7, content), method = $8 \
                     WHERE resource_type = $9 AND id = $10 AND version_id = $11 RETURNING content",
                )
                .bind(w.version_id)
                .bind(w.last_updated)
                .bind(deleted)
                .bind(&w.patient_record_id)
                .bind(&w.source_facility_id)
                .bind(&w.category)
                .bind(new_content)
                .bind(method)
                .bind(&w.resource_type)
                .bind(&w.id)
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| fhir_write_error(e, &key, w.patient_record_id.as_deref()))?;
                match updated {
                    Some(content) => content,
                    None => {
                        let current: Option<i64> =
                            sqlx::query_scalar("SELECT version_id FROM fhir_resources WHERE resource_type = $1 AND id = $2")
                                .bind(&w.resource_type)
                                .bind(&w.id)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(err("reading FHIR resource"))?;
                        return Err(match current {
                            None => StoreError::NotFound(key),
                            Some(current) => StoreError::Conflict(format!(
                                "{key}: version {current} is current, not {expected}"
                            )),
                        });
                    }
                }
            }
        };
        let k = (w.resource_type.clone(), w.id.clone());
        if expected.is_some() && !replaced.contains(&k) {
            replaced.push(k.clone());
        }
        index.insert(k, if deleted { Vec::new() } else { w.index });
        if expected.is_none() {
            created.push(stored.len());
        }
        stored.push(FhirRow {
            resource_type: w.resource_type,
            id: w.id,
            version_id: w.version_id,
            last_updated: w.last_updated,
            deleted,
            patient_record_id: w.patient_record_id,
            person_id: None,
            source_facility_id: w.source_facility_id,
            category: w.category,
            content,
            method: method.to_string(),
        });
    }
    insert_created(&mut *tx, &stored, &mut created).await?;
    insert_fhir_versions(&mut *tx, &stored).await?;
    delete_fhir_index(&mut *tx, &replaced).await?;
    let mut rows = FhirIndexRows::default();
    for ((resource_type, id), entries) in &index {
        let patient = patient_of(entries);
        for entry in entries {
            rows.add(resource_type, id, patient, entry);
        }
    }
    insert_fhir_index(&mut *tx, &rows).await?;
    append_audits_in(&mut *tx, audit, at).await?;
    insert_notifications(&mut *tx, notifications).await?;
    insert_deliveries(&mut *tx, deliveries).await?;
    let invited = match invitation {
        Some(i) => matches!(invite_in(&mut *tx, *i).await?, InviteOutcome::Invited),
        None => false,
    };
    let persons = persons_of_records(&mut *tx, stored.iter().filter_map(|r| r.patient_record_id.as_deref())).await?;
    for row in &mut stored {
        row.person_id = row.patient_record_id.as_ref().and_then(|r| persons.get(r).cloned());
    }
    Ok((stored, invited))
}

impl SqlStore {
    /// A clinical write, through the group committer: it shares its commit with whatever
    /// else is being written at the moment, and returns after that commit.
    async fn f_write(
        &self,
        writes: Vec<FhirWrite>,
        audit: Vec<AuditEntry>,
        notifications: Vec<renkei_storage::notifications::Notification>,
        deliveries: Vec<renkei_storage::documents::DocumentDelivery>,
        invitation: Option<TeamInvitation>,
    ) -> StoreResult<(Vec<FhirRow>, bool)> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.write_jobs
            .send(WriteJob::Fhir { writes, audit, notifications, deliveries, invitation: invitation.map(Box::new), reply })
            .await
            .map_err(|_| StoreError::Backend("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the writer dropped a write".into()))?
    }

    async fn f_read(&self, resource_type: &str, id: &str) -> StoreResult<Option<FhirRow>> {
        let row = sqlx::query(&format!(
            "SELECT {FHIR_COLUMNS} FROM fhir_resources r LEFT JOIN patient_records pr ON pr.id = r.patient_record_id \
             WHERE r.resource_type = $1 AND r.id = $2"
        ))
        .bind(resource_type)
        .bind(id)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading FHIR resource"))?;
        row.as_ref().map(fhir_row_from).transpose()
    }

    async fn f_read_many(&self, references: &[String], include_deleted: bool) -> StoreResult<Vec<FhirRow>> {
        let groups = group_references(references);
        if groups.is_empty() {
            return Ok(vec![]);
        }
        let mut found: HashMap<(String, String), FhirRow> = HashMap::new();
        for (resource_type, ids) in &groups {
            for chunk in ids.chunks(500) {
                let live = if include_deleted { "" } else { "r.deleted = FALSE AND " };
                let mut qb = QueryBuilder::<Db>::new(format!(
                    "SELECT {FHIR_COLUMNS} FROM fhir_resources r LEFT JOIN patient_records pr ON pr.id = r.patient_record_id \
                     WHERE {live}r.resource_type = "
                ));
                qb.push_bind(resource_type.as_str()).push(" AND r.id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(id.as_str());
                }
                qb.push(")");
                let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading FHIR resources"))?;
                for row in &rows {
                    let r = fhir_row_from(row)?;
                    found.insert((r.resource_type.clone(), r.id.clone()), r);
                }
            }
        }
        // In the order asked for.
        let mut out = Vec::with_capacity(found.len());
        for (resource_type, ids) in groups {
            for id in ids {
                if let Some(r) = found.remove(&(resource_type.clone(), id)) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    async fn f_vread(&self, resource_type: &str, id: &str, version_id: i64) -> StoreResult<Option<FhirRow>> {
        let row = sqlx::query(&format!(
            "SELECT {FHIR_COLUMNS} FROM fhir_versions r LEFT JOIN patient_records pr ON pr.id = r.patient_record_id \
             WHERE r.resource_type = $1 AND r.id = $2 AND r.version_id = $3"
        ))
        .bind(resource_type)
        .bind(id)
        .bind(version_id)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading FHIR version"))?;
        row.as_ref().map(fhir_row_from).transpose()
    }

    async fn f_history(&self, q: &HistoryQuery, scope: &FhirScope) -> StoreResult<Vec<FhirRow>> {
        if q.count == 0 {
            return Ok(vec![]);
        }
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {FHIR_COLUMNS} FROM fhir_versions r LEFT JOIN patient_records pr ON pr.id = r.patient_record_id WHERE 1 = 1"
        ));
        if let Some(t) = &q.resource_type {
            qb.push(" AND r.resource_type = ").push_bind(t.clone());
        }
        if let Some(id) = &q.id {
            qb.push(" AND r.id = ").push_bind(id.clone());
        }
        if let Some(since) = q.since {
            qb.push(" AND r.last_updated >= ").push_bind(since);
        }
        push_scope(&mut qb, "r", scope);
        qb.push(" ORDER BY r.last_updated DESC, r.version_id DESC, r.resource_type, r.id LIMIT ")
            .push_bind(q.count.min(100_000) as i64)
            .push(" OFFSET ")
            .push_bind(q.offset as i64);
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading FHIR history"))?;
        rows.iter().map(fhir_row_from).collect()
    }

    async fn f_count(&self, q: &SearchQuery, scope: &FhirScope, driver: Option<Driver<'_>>) -> StoreResult<i64> {
        let mut qb = QueryBuilder::<Db>::new("SELECT COUNT(*) ");
        push_search_body(&mut qb, q, scope, driver, false);
        qb.build_query_scalar()
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting FHIR resources"))
    }

    async fn f_search(&self, q: &SearchQuery, scope: &FhirScope) -> StoreResult<FhirPage> {
        let patients = patient_targets(q);
        let driver = choose_driver(q, patients.as_deref());
        if q.count == 0 {
            let total = if q.want_total { Some(self.f_count(q, scope, driver).await?) } else { None };
            return Ok(FhirPage { rows: vec![], total });
        }
        // Which index table each sorting parameter lives in.
        let mut sort_tables: Vec<Option<FhirIdx>> = Vec::with_capacity(q.sort.len());
        for key in &q.sort {
            sort_tables.push(match key.param.as_str() {
                "_lastUpdated" | "_id" => None,
                param => self.sort_table(&q.resource_type, param).await?,
            });
        }
        // The page's ids first: sorting and skipping carry only the id, not the stored
        // JSON of every matching row (a patient's 10,000 timeline posts sorted by `sent`
        // would otherwise spill the sort to disk on PostgreSQL); then the rows themselves.
        let mut qb = QueryBuilder::<Db>::new("SELECT r.id ");
        push_search_body(&mut qb, q, scope, driver, false);
        qb.push(" ORDER BY ");
        let mut any_key = false;
        for (key, table) in q.sort.iter().zip(&sort_tables) {
            let dir = if key.descending { "DESC" } else { "ASC" };
            match (key.param.as_str(), table) {
                ("_lastUpdated", _) => {
                    qb.push(format!("r.last_updated {dir}, "));
                }
                ("_id", _) => {
                    qb.push(format!("r.id {dir}, "));
                }
                (_, None) => continue,
                (param, Some(FhirIdx::Date)) => {
                    // One probe per row: a missing date sorts as the far end of the range,
                    // so it comes last either way (as below).
                    let (agg, column, missing) = if key.descending {
                        ("MAX", "high", i64::MIN)
                    } else {
                        ("MIN", "low", i64::MAX)
                    };
                    qb.push(format!(
                        "COALESCE((SELECT {agg}(s.{column}) FROM {} WHERE s.resource_type = r.resource_type AND s.id = r.id AND s.param = ",
                        FhirIdx::Date.probe("s")
                    ));
                    qb.push_bind(param.to_string())
                        .push(format!("), {missing}) {dir}, "));
                }
                (param, Some(idx)) => {
                    // Ascending by a resource's lowest value, descending by its highest;
                    // resources without a value last either way.
                    let (agg, column) = match idx {
                        FhirIdx::Date => (if key.descending { "MAX" } else { "MIN" }, if key.descending { "high" } else { "low" }),
                        FhirIdx::Token => (if key.descending { "MAX" } else { "MIN" }, "code"),
                        _ => (if key.descending { "MAX" } else { "MIN" }, "value"),
                    };
                    for suffix in [" IS NULL, ".to_string(), format!(" {dir}, ")] {
                        qb.push(format!(
                            "(SELECT {agg}(s.{column}) FROM {} WHERE s.resource_type = r.resource_type AND s.id = r.id AND s.param = ",
                            idx.probe("s")
                        ));
                        qb.push_bind(param.to_string()).push(")").push(suffix);
                    }
                }
            }
            any_key = true;
        }
        qb.push(if any_key { "r.id" } else { "r.last_updated DESC, r.id DESC" });
        qb.push(" LIMIT ")
            .push_bind(q.count.min(100_000) as i64)
            .push(" OFFSET ")
            .push_bind(q.offset as i64);
        let ids: Vec<String> = qb
            .build_query_scalar()
            .fetch_all(self.read_pool())
            .await
            .map_err(err("searching FHIR resources"))?;
        // A page that is not full is the last one: the total is known without counting
        // (unless the offset ran past the end, when the page says nothing).
        let total = match q.want_total {
            false => None,
            true if ids.len() < q.count && (q.offset == 0 || !ids.is_empty()) => Some((q.offset + ids.len()) as i64),
            true => Some(self.f_count(q, scope, driver).await?),
        };
        if ids.is_empty() {
            return Ok(FhirPage { rows: vec![], total });
        }
        // Read again with the same conditions: a row changed in between is returned as it
        // is now if it still matches, and left out if it no longer does.
        let mut found: HashMap<String, FhirRow> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {FHIR_COLUMNS} FROM {} LEFT JOIN patient_records pr ON pr.id = r.patient_record_id \
                 WHERE r.resource_type = ",
                FhirIdx::resources_by_id()
            ));
            qb.push_bind(q.resource_type.clone()).push(" AND r.deleted = FALSE AND r.id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.clone());
            }
            qb.push(")");
            for c in &q.criteria {
                push_criterion(&mut qb, &q.resource_type, c);
            }
            push_scope(&mut qb, "r", scope);
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading FHIR resources"))?;
            for row in &rows {
                let row = fhir_row_from(row)?;
                found.insert(row.id.clone(), row);
            }
        }
        Ok(FhirPage {
            rows: ids.iter().filter_map(|id| found.remove(id)).collect(),
            total,
        })
    }

    /// The index table holding values of `param` for `resource_type` (None when no
    /// resource has one).
    async fn sort_table(&self, resource_type: &str, param: &str) -> StoreResult<Option<FhirIdx>> {
        // (Not references: their table has no (type, param) index to probe, and FHIR does
        // not sort by them.)
        let candidates = [FhirIdx::Date, FhirIdx::String, FhirIdx::Number, FhirIdx::Token, FhirIdx::Uri];
        let mut qb = QueryBuilder::<Db>::new("SELECT CASE");
        for idx in candidates {
            qb.push(format!(" WHEN EXISTS (SELECT 1 FROM {} WHERE resource_type = ", idx.table()))
                .push_bind(resource_type.to_string())
                .push(" AND param = ")
                .push_bind(param.to_string())
                .push(format!(") THEN '{}'", idx.table()));
        }
        qb.push(" ELSE NULL END AS t");
        let table: Option<String> = qb
            .build_query_scalar()
            .fetch_one(self.read_pool())
            .await
            .map_err(err("finding sort parameter"))?;
        Ok(table.and_then(|t| candidates.into_iter().find(|idx| idx.table() == t)))
    }

    async fn f_everything(&self, person_ids: &[String], scope: &FhirScope, count: usize, offset: usize) -> StoreResult<FhirPage> {
        if person_ids.is_empty() {
            return Ok(FhirPage { rows: vec![], total: Some(0) });
        }
        fn body(qb: &mut QueryBuilder<'_, Db>, person_ids: &[String], scope: &FhirScope) {
            qb.push(" WHERE r.deleted = FALSE AND r.patient_record_id IN (");
            push_records_of_persons(qb, person_ids);
            qb.push(")");
            push_scope(qb, "r", scope);
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM fhir_resources r");
        body(&mut qb, person_ids, scope);
        let total: i64 = qb
            .build_query_scalar()
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting patient resources"))?;
        if count == 0 {
            return Ok(FhirPage { rows: vec![], total: Some(total) });
        }
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {FHIR_COLUMNS} FROM fhir_resources r LEFT JOIN patient_records pr ON pr.id = r.patient_record_id"
        ));
        body(&mut qb, person_ids, scope);
        qb.push(" ORDER BY r.resource_type, r.id LIMIT ")
            .push_bind(count.min(100_000) as i64)
            .push(" OFFSET ")
            .push_bind(offset as i64);
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading patient resources"))?;
        Ok(FhirPage {
            rows: rows.iter().map(fhir_row_from).collect::<Result<_, _>>()?,
            total: Some(total),
        })
    }
}

/// `patient_records.id → person_id` for these registrations.
async fn persons_of_records<'a>(
    conn: &mut Conn,
    record_ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, String>, StoreError> {
    let ids: Vec<&str> = record_ids.collect::<HashSet<_>>().into_iter().collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut qb = QueryBuilder::<Db>::new("SELECT id, person_id FROM patient_records WHERE id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(")");
        let rows = qb.build().fetch_all(&mut *conn).await.map_err(err("reading registrations"))?;
        for row in rows {
            out.insert(
                row.try_get("id").map_err(err("registration"))?,
                row.try_get("person_id").map_err(err("registration"))?,
            );
        }
    }
    Ok(out)
}
