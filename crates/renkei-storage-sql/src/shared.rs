// Query code shared by both backends. This file is `include!`d into `sqlite.rs` and
// `postgres.rs`, each of which defines `Db`, `SqlStore`, `BACKEND_NAME`, `LOCK_AUDIT_HEAD`,
// `LOCK_FACILITY`, `SQL_STRPOS`, `begin_write()` and `read_pool()`. Placeholders are `$n`, which both
// SQLite and PostgreSQL accept.

use async_trait::async_trait;
use renkei_domain::audit::{seal, AuditEntry, AuditRecord, GENESIS_HASH};
use renkei_domain::text::search_fold;
use renkei_domain::{FacilityStatus, FacilityType, Lang, MemberRole, Millis, Profession};
use renkei_storage::*;
use sqlx::{Pool, QueryBuilder, Row};

type Conn = <Db as sqlx::Database>::Connection;

const FACILITY_COLUMNS: &str = "id, code, facility_type, status, status_reason, legal_entity, name, name_kana, \
     official_id, postal_code, address, area, tel, fax, email, applicant_name, applicant_email, \
     admin_name, admin_login_id, admin_email, professions, applied_at, decided_at, updated_at";

const USER_COLUMNS: &str = "id, login_id, display_name, display_name_kana, email, profession, is_secretariat, \
     active, password_hash, totp_secret, totp_last_step, failed_logins, locked_until, \
     setup_token_hash, setup_expires_at, lang, created_at, updated_at, last_login_at";

const AUDIT_COLUMNS: &str = "seq, at, action, outcome, actor_user_id, actor_login, actor_facility_id, \
     target_type, target_id, patient_id, ip, user_agent, detail, prev_hash, hash";

fn err(context: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| backend_error(context, e)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} has an unknown value {value:?}"))
}

fn facility_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Facility, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading facility row", e);
    let type_code: String = row.try_get("facility_type").map_err(g)?;
    let status_code: String = row.try_get("status").map_err(g)?;
    let professions: String = row.try_get("professions").map_err(g)?;
    let professions: Vec<String> = serde_json::from_str(&professions)
        .map_err(|e| StoreError::Backend(format!("stored professions are not JSON: {e}")))?;
    Ok(Facility {
        id: row.try_get("id").map_err(g)?,
        code: row.try_get("code").map_err(g)?,
        facility_type: FacilityType::from_code(&type_code)
            .ok_or_else(|| corrupt("facility type", &type_code))?,
        status: FacilityStatus::from_code(&status_code)
            .ok_or_else(|| corrupt("facility status", &status_code))?,
        status_reason: row.try_get("status_reason").map_err(g)?,
        legal_entity: row.try_get("legal_entity").map_err(g)?,
        name: row.try_get("name").map_err(g)?,
        name_kana: row.try_get("name_kana").map_err(g)?,
        official_id: row.try_get("official_id").map_err(g)?,
        postal_code: row.try_get("postal_code").map_err(g)?,
        address: row.try_get("address").map_err(g)?,
        area: row.try_get("area").map_err(g)?,
        tel: row.try_get("tel").map_err(g)?,
        fax: row.try_get("fax").map_err(g)?,
        email: row.try_get("email").map_err(g)?,
        applicant_name: row.try_get("applicant_name").map_err(g)?,
        applicant_email: row.try_get("applicant_email").map_err(g)?,
        admin_name: row.try_get("admin_name").map_err(g)?,
        admin_login_id: row.try_get("admin_login_id").map_err(g)?,
        admin_email: row.try_get("admin_email").map_err(g)?,
        professions: professions
            .iter()
            .map(|p| Profession::from_code(p).ok_or_else(|| corrupt("profession", p)))
            .collect::<Result<_, _>>()?,
        applied_at: row.try_get("applied_at").map_err(g)?,
        decided_at: row.try_get("decided_at").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
    })
}

fn user_from_row(row: &<Db as sqlx::Database>::Row) -> Result<User, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading user row", e);
    let profession: String = row.try_get("profession").map_err(g)?;
    let lang: Option<String> = row.try_get("lang").map_err(g)?;
    Ok(User {
        id: row.try_get("id").map_err(g)?,
        login_id: row.try_get("login_id").map_err(g)?,
        display_name: row.try_get("display_name").map_err(g)?,
        display_name_kana: row.try_get("display_name_kana").map_err(g)?,
        email: row.try_get("email").map_err(g)?,
        profession: Profession::from_code(&profession)
            .ok_or_else(|| corrupt("profession", &profession))?,
        is_secretariat: row.try_get("is_secretariat").map_err(g)?,
        active: row.try_get("active").map_err(g)?,
        password_hash: row.try_get("password_hash").map_err(g)?,
        totp_secret: row.try_get("totp_secret").map_err(g)?,
        totp_last_step: row.try_get("totp_last_step").map_err(g)?,
        failed_logins: row.try_get("failed_logins").map_err(g)?,
        locked_until: row.try_get("locked_until").map_err(g)?,
        setup_token_hash: row.try_get("setup_token_hash").map_err(g)?,
        setup_expires_at: row.try_get("setup_expires_at").map_err(g)?,
        lang: lang.as_deref().and_then(Lang::from_code),
        created_at: row.try_get("created_at").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
        last_login_at: row.try_get("last_login_at").map_err(g)?,
    })
}

fn audit_from_row(row: &<Db as sqlx::Database>::Row) -> Result<AuditRecord, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading audit row", e);
    Ok(AuditRecord {
        seq: row.try_get("seq").map_err(g)?,
        at: row.try_get("at").map_err(g)?,
        entry: AuditEntry {
            action: row.try_get("action").map_err(g)?,
            outcome: row.try_get("outcome").map_err(g)?,
            actor_user_id: row.try_get("actor_user_id").map_err(g)?,
            actor_login: row.try_get("actor_login").map_err(g)?,
            actor_facility_id: row.try_get("actor_facility_id").map_err(g)?,
            target_type: row.try_get("target_type").map_err(g)?,
            target_id: row.try_get("target_id").map_err(g)?,
            patient_id: row.try_get("patient_id").map_err(g)?,
            ip: row.try_get("ip").map_err(g)?,
            user_agent: row.try_get("user_agent").map_err(g)?,
            detail: row.try_get("detail").map_err(g)?,
        },
        prev_hash: row.try_get("prev_hash").map_err(g)?,
        hash: row.try_get("hash").map_err(g)?,
    })
}

fn session_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Session, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading session row", e);
    Ok(Session {
        id_hash: row.try_get("id_hash").map_err(g)?,
        user_id: row.try_get("user_id").map_err(g)?,
        second_factor_done: row.try_get("second_factor_done").map_err(g)?,
        csrf_token: row.try_get("csrf_token").map_err(g)?,
        facility_id: row.try_get("facility_id").map_err(g)?,
        created_at: row.try_get("created_at").map_err(g)?,
        last_seen_at: row.try_get("last_seen_at").map_err(g)?,
        expires_at: row.try_get("expires_at").map_err(g)?,
        ip: row.try_get("ip").map_err(g)?,
        user_agent: row.try_get("user_agent").map_err(g)?,
    })
}

fn readiness_from_row(row: &<Db as sqlx::Database>::Row) -> Result<ReadinessSurvey, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading readiness row", e);
    Ok(ReadinessSurvey {
        facility_id: row.try_get("facility_id").map_err(g)?,
        system_kind: row.try_get("system_kind").map_err(g)?,
        vendor: row.try_get("vendor").map_err(g)?,
        product: row.try_get("product").map_err(g)?,
        ssmix2_export: row.try_get("ssmix2_export").map_err(g)?,
        hl7_fhir_capable: row.try_get("hl7_fhir_capable").map_err(g)?,
        network_line: row.try_get("network_line").map_err(g)?,
        devices: row.try_get("devices").map_err(g)?,
        it_staff: row.try_get("it_staff").map_err(g)?,
        notes: row.try_get("notes").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
        updated_by: row.try_get("updated_by").map_err(g)?,
    })
}

/// How many events a slow subscriber may fall behind before it gets `Lagged`.
const EVENT_BUFFER: usize = 4096;

/// A write handed to the group committer (`spawn_group_writer`).
enum WriteJob {
    /// A stand-alone audit record (every read of patient data writes one).
    Audit {
        entry: AuditEntry,
        reply: tokio::sync::oneshot::Sender<Result<AuditRecord, StoreError>>,
    },
    /// A clinical write: resources, their audit records, and what goes with them.
    Fhir {
        writes: Vec<renkei_storage::fhir::FhirWrite>,
        audit: Vec<AuditEntry>,
        notifications: Vec<renkei_storage::notifications::Notification>,
        deliveries: Vec<renkei_storage::documents::DocumentDelivery>,
        /// A care-team invitation made with the write (an emergency transfer's receiver).
        invitation: Option<Box<TeamInvitation>>,
        reply: tokio::sync::oneshot::Sender<Result<(Vec<renkei_storage::fhir::FhirRow>, bool), StoreError>>,
    },
}

/// Jobs per shared transaction. Large enough that 32 concurrent clients share one commit;
/// small enough that one transaction stays short.
const GROUP_COMMIT_MAX: usize = 64;

/// Group commit. Every durable commit costs an fsync (SQLite `synchronous=FULL`) and takes
/// the audit-chain head lock, so writes that arrive while a commit is in flight are done
/// together in the next transaction: stand-alone audit records sealed in one multi-row
/// insert, and each clinical write inside its own savepoint, so one write that fails
/// (a version conflict, a constraint) is rolled back alone and the others still commit.
/// Every caller gets its answer only after the shared commit; if the commit fails, every
/// job in it fails.
fn spawn_group_writer(pool: Pool<Db>) -> tokio::sync::mpsc::Sender<WriteJob> {
    let (jobs, mut queue) = tokio::sync::mpsc::channel::<WriteJob>(4096);
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < GROUP_COMMIT_MAX {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            write_group(&pool, batch).await;
        }
    });
    jobs
}

/// One clinical write's answer, held until the shared commit.
type FhirAnswer = (
    tokio::sync::oneshot::Sender<Result<(Vec<renkei_storage::fhir::FhirRow>, bool), StoreError>>,
    Result<(Vec<renkei_storage::fhir::FhirRow>, bool), StoreError>,
);

async fn write_group(pool: &Pool<Db>, batch: Vec<WriteJob>) {
    let mut audits = Vec::new();
    let mut fhir = Vec::new();
    for job in batch {
        match job {
            WriteJob::Audit { entry, reply } => audits.push((entry, reply)),
            WriteJob::Fhir { writes, audit, notifications, deliveries, invitation, reply } => {
                fhir.push((writes, audit, notifications, deliveries, invitation, reply))
            }
        }
    }
    let mut audit_replies = Vec::with_capacity(audits.len());
    let mut fhir_answers: Vec<FhirAnswer> = Vec::with_capacity(fhir.len());
    let outcome: Result<Vec<AuditRecord>, StoreError> = async {
        let mut tx = begin_on(pool).await?;
        let single = fhir.len() == 1 && audits.is_empty();
        for (writes, audit, notifications, deliveries, invitation, reply) in fhir {
            if single {
                // Alone in the transaction: its failure is the transaction's.
                let result = fhir_write_in(&mut tx, writes, audit, &notifications, &deliveries, invitation).await;
                let failed = result.is_err();
                fhir_answers.push((reply, result));
                if failed {
                    return Ok(Vec::new());
                }
                continue;
            }
            let mut savepoint = sqlx::Acquire::begin(&mut *tx).await.map_err(err("opening a savepoint"))?;
            let result = fhir_write_in(&mut savepoint, writes, audit, &notifications, &deliveries, invitation).await;
            match &result {
                Ok(_) => savepoint.commit().await.map_err(err("releasing a savepoint"))?,
                Err(_) => savepoint.rollback().await.map_err(err("rolling back a savepoint"))?,
            }
            fhir_answers.push((reply, result));
        }
        let entries: Vec<AuditEntry> = audits
            .into_iter()
            .map(|(entry, reply)| {
                audit_replies.push(reply);
                entry
            })
            .collect();
        let records = append_audits_in(&mut tx, entries, renkei_domain::now_millis()).await?;
        tx.commit().await.map_err(err("committing a group of writes"))?;
        Ok(records)
    }
    .await;
    match outcome {
        Ok(records) => {
            for (reply, record) in audit_replies.into_iter().zip(records) {
                let _ = reply.send(Ok(record));
            }
            for (reply, result) in fhir_answers {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            // Nothing of the group is stored: every job fails, including writes that had
            // succeeded inside their savepoints.
            let message = e.to_string();
            for reply in audit_replies {
                let _ = reply.send(Err(StoreError::Backend(message.clone())));
            }
            for (reply, result) in fhir_answers {
                let _ = reply.send(match result {
                    Err(own) => Err(own),
                    Ok(_) => Err(StoreError::Backend(message.clone())),
                });
            }
        }
    }
}

/// Appends to the audit chain inside the caller's transaction.
async fn append_audit_in(conn: &mut Conn, entry: AuditEntry, at: Millis) -> Result<AuditRecord, StoreError> {
    let head = sqlx::query(LOCK_AUDIT_HEAD)
        .fetch_one(&mut *conn)
        .await
        .map_err(err("locking audit head"))?;
    let head_seq: i64 = head.try_get("seq").map_err(err("reading audit head"))?;
    let head_hash: String = head.try_get("hash").map_err(err("reading audit head"))?;
    let prev = (head_seq > 0).then_some((head_seq, head_hash.as_str()));
    let record = seal(entry, at, prev);
    let e = &record.entry;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, action, outcome, actor_user_id, actor_login, actor_facility_id, \
         target_type, target_id, patient_id, ip, user_agent, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(record.seq)
    .bind(record.at)
    .bind(&e.action)
    .bind(&e.outcome)
    .bind(&e.actor_user_id)
    .bind(&e.actor_login)
    .bind(&e.actor_facility_id)
    .bind(&e.target_type)
    .bind(&e.target_id)
    .bind(&e.patient_id)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.detail)
    .bind(&record.prev_hash)
    .bind(&record.hash)
    .execute(&mut *conn)
    .await
    .map_err(err("appending audit record"))?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(record.seq)
        .bind(&record.hash)
        .execute(&mut *conn)
        .await
        .map_err(err("moving audit head"))?;
    Ok(record)
}

fn facility_search_text(f: &NewFacility, code: Option<&str>) -> String {
    search_fold(&format!(
        "{} {} {} {} {} {}",
        f.name,
        f.name_kana,
        f.legal_entity,
        f.address,
        f.official_id,
        code.unwrap_or("")
    ))
}

async fn insert_facility(
    conn: &mut Conn,
    f: &NewFacility,
    status: FacilityStatus,
    code: Option<&str>,
    code_no: Option<i64>,
    decided_at: Option<Millis>,
) -> Result<(), StoreError> {
    let professions: Vec<&str> = f.professions.iter().map(|p| p.code()).collect();
    sqlx::query(
        "INSERT INTO facilities (id, code, code_no, facility_type, category, status, status_reason, \
         legal_entity, name, name_kana, official_id, postal_code, address, area, tel, fax, email, \
         applicant_name, applicant_email, admin_name, admin_login_id, admin_email, professions, \
         search_text, applied_at, decided_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $23, $24, $25, $26)",
    )
    .bind(&f.id)
    .bind(code)
    .bind(code_no)
    .bind(f.facility_type.code())
    .bind(f.facility_type.category().code())
    .bind(status.code())
    .bind(&f.legal_entity)
    .bind(&f.name)
    .bind(&f.name_kana)
    .bind(&f.official_id)
    .bind(&f.postal_code)
    .bind(&f.address)
    .bind(&f.area)
    .bind(&f.tel)
    .bind(&f.fax)
    .bind(&f.email)
    .bind(&f.applicant_name)
    .bind(&f.applicant_email)
    .bind(&f.admin_name)
    .bind(&f.admin_login_id)
    .bind(&f.admin_email)
    .bind(serde_json::to_string(&professions).expect("string list serialises"))
    .bind(facility_search_text(f, code))
    .bind(f.applied_at)
    .bind(decided_at)
    .bind(decided_at.unwrap_or(f.applied_at))
    .execute(&mut *conn)
    .await
    .map_err(|e| match backend_error("recording facility", e) {
        StoreError::Conflict(_) => StoreError::Conflict(
            "a facility with this official number is already registered or under review".into(),
        ),
        other => other,
    })?;
    Ok(())
}

async fn insert_user(conn: &mut Conn, u: &NewUser) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, login_id, display_name, display_name_kana, email, profession, \
         is_secretariat, active, password_hash, totp_secret, totp_last_step, failed_logins, \
         locked_until, setup_token_hash, setup_expires_at, lang, search_text, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 0, NULL, $11, $12, NULL, $13, $14, $14)",
    )
    .bind(&u.id)
    .bind(&u.login_id)
    .bind(&u.display_name)
    .bind(&u.display_name_kana)
    .bind(&u.email)
    .bind(u.profession.code())
    .bind(u.is_secretariat)
    .bind(true)
    .bind(&u.password_hash)
    .bind(&u.totp_secret)
    .bind(&u.setup_token_hash)
    .bind(u.setup_expires_at)
    .bind(search_fold(&format!("{} {} {} {}", u.login_id, u.display_name, u.display_name_kana, u.email)))
    .bind(u.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| match backend_error("creating user", e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("login ID {} is already taken", u.login_id)),
        other => other,
    })?;
    for code_hash in &u.recovery_code_hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
            .bind(&u.id)
            .bind(code_hash)
            .execute(&mut *conn)
            .await
            .map_err(err("storing recovery codes"))?;
    }
    for (facility_id, role) in &u.memberships {
        sqlx::query("INSERT INTO memberships (user_id, facility_id, role, active) VALUES ($1, $2, $3, $4)")
            .bind(&u.id)
            .bind(facility_id)
            .bind(role.code())
            .bind(true)
            .execute(&mut *conn)
            .await
            .map_err(err("adding membership"))?;
    }
    Ok(())
}

async fn fetch_facility(conn: &mut Conn, id: &str) -> Result<Facility, StoreError> {
    let row = sqlx::query(&format!("SELECT {FACILITY_COLUMNS} FROM facilities WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading facility"))?
        .ok_or_else(|| StoreError::NotFound(format!("facility {id}")))?;
    facility_from_row(&row)
}

async fn fetch_user(conn: &mut Conn, id: &str) -> Result<User, StoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading user"))?
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
    user_from_row(&row)
}

/// Escapes LIKE wildcards in user input (the pattern uses `\` as the escape character).
fn like_contains(term: &str) -> String {
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn push_text_terms(qb: &mut QueryBuilder<'_, Db>, column: &str, text: &str) {
    for term in text.split_whitespace().map(search_fold).filter(|t| !t.is_empty()) {
        qb.push(format!(" AND {column} LIKE "));
        qb.push_bind(like_contains(&term));
        qb.push(" ESCAPE '\\'");
    }
}

fn push_facility_filters(qb: &mut QueryBuilder<'_, Db>, q: &FacilityQuery) {
    qb.push(" WHERE 1 = 1");
    if let Some(text) = &q.text {
        push_text_terms(qb, "search_text", text);
    }
    if let Some(t) = q.facility_type {
        qb.push(" AND facility_type = ").push_bind(t.code());
    }
    if let Some(c) = q.category {
        qb.push(" AND category = ").push_bind(c.code());
    }
    if let Some(area) = &q.area {
        qb.push(" AND area = ").push_bind(area.clone());
    }
    if let Some(s) = q.status {
        qb.push(" AND status = ").push_bind(s.code());
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend_name(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.read_pool())
            .await
            .map_err(err("pinging database"))?;
        Ok(())
    }

    async fn publish_event(&self, topic: &str, payload: &str) -> StoreResult<()> {
        if topic.is_empty() || topic.contains('\n') {
            return Err(StoreError::Backend(format!("event topic {topic:?} is not a plain word")));
        }
        if topic.len() + 1 + payload.len() > renkei_storage::MAX_EVENT_PAYLOAD {
            return Err(StoreError::Backend(format!(
                "event payload of {} bytes exceeds {}",
                payload.len(),
                renkei_storage::MAX_EVENT_PAYLOAD
            )));
        }
        self.send_event(topic, payload).await
    }

    fn icu(&self) -> &dyn renkei_storage::icu::IcuStore {
        self
    }

    fn notifications(&self) -> &dyn renkei_storage::notifications::NotificationStore {
        self
    }

    fn notices(&self) -> &dyn renkei_storage::notices::NoticeStore {
        self
    }

    fn cover(&self) -> &dyn renkei_storage::cover::CoverStore {
        self
    }

    fn documents(&self) -> &dyn renkei_storage::documents::DocumentStore {
        self
    }

    fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<renkei_storage::Event> {
        self.events.subscribe()
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading setting"))
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(err("writing setting"))?;
        tx.commit().await.map_err(err("committing setting"))
    }

    async fn create_facility(&self, facility: NewFacility, audit: AuditEntry) -> StoreResult<Facility> {
        let mut tx = self.begin_write().await?;
        insert_facility(&mut tx, &facility, FacilityStatus::Pending, None, None, None).await?;
        append_audit_in(&mut tx, audit, facility.applied_at).await?;
        let stored = fetch_facility(&mut tx, &facility.id).await?;
        tx.commit().await.map_err(err("committing application"))?;
        Ok(stored)
    }

    async fn get_facility(&self, id: &str) -> StoreResult<Option<Facility>> {
        let row = sqlx::query(&format!("SELECT {FACILITY_COLUMNS} FROM facilities WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading facility"))?;
        row.as_ref().map(facility_from_row).transpose()
    }

    async fn search_facilities(&self, query: &FacilityQuery) -> StoreResult<Page<Facility>> {
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM facilities");
        push_facility_filters(&mut count, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting facilities"))?;
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {FACILITY_COLUMNS} FROM facilities"));
        push_facility_filters(&mut qb, query);
        qb.push(" ORDER BY name_kana, id LIMIT ")
            .push_bind(query.limit.clamp(1, 1000))
            .push(" OFFSET ")
            .push_bind(query.offset.max(0));
        let rows = qb
            .build()
            .fetch_all(self.read_pool())
            .await
            .map_err(err("searching facilities"))?;
        let items = rows.iter().map(facility_from_row).collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    async fn facility_areas(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT area, COUNT(*) AS n FROM facilities WHERE status = 'active' AND area <> '' \
             GROUP BY area ORDER BY area",
        )
        .fetch_all(self.read_pool())
        .await
        .map_err(err("listing areas"))?;
        rows.iter()
            .map(|r| Ok((r.try_get("area").map_err(err("area"))?, r.try_get("n").map_err(err("area"))?)))
            .collect()
    }

    async fn count_facilities_by_status(&self) -> StoreResult<Vec<(FacilityStatus, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM facilities GROUP BY status")
            .fetch_all(self.read_pool())
            .await
            .map_err(err("counting facilities"))?;
        let mut out = Vec::new();
        for r in rows {
            let code: String = r.try_get("status").map_err(err("status"))?;
            let n: i64 = r.try_get("n").map_err(err("status"))?;
            out.push((FacilityStatus::from_code(&code).ok_or_else(|| corrupt("status", &code))?, n));
        }
        Ok(out)
    }

    async fn approve_facility(&self, facility_id: &str, admin: NewUser, at: Millis, audit: AuditEntry) -> StoreResult<(Facility, User)> {
        let mut tx = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar(LOCK_FACILITY)
            .bind(facility_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("locking facility"))?;
        match status.as_deref() {
            None => return Err(StoreError::NotFound(format!("facility {facility_id}"))),
            Some("pending") => {}
            Some(other) => {
                return Err(StoreError::InvalidState(format!(
                    "facility {facility_id} is {other}, not pending"
                )))
            }
        }
        // Facility codes are sequential for people to read out on the phone. The unique
        // index on code_no turns a race between two PostgreSQL nodes into a conflict.
        let code_no: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(code_no), 0) + 1 FROM facilities")
            .fetch_one(&mut *tx)
            .await
            .map_err(err("allocating facility code"))?;
        let code = renkei_domain::ids::facility_code(code_no);
        let mut updated = fetch_facility(&mut tx, facility_id).await?;
        let search = search_fold(&format!(
            "{} {} {} {} {} {}",
            updated.name, updated.name_kana, updated.legal_entity, updated.address, updated.official_id, code
        ));
        sqlx::query(
            "UPDATE facilities SET status = 'active', code = $1, code_no = $2, decided_at = $3, \
             updated_at = $3, search_text = $4 WHERE id = $5",
        )
        .bind(&code)
        .bind(code_no)
        .bind(at)
        .bind(search)
        .bind(facility_id)
        .execute(&mut *tx)
        .await
        .map_err(err("approving facility"))?;
        insert_user(&mut tx, &admin).await?;
        append_audit_in(&mut tx, audit, at).await?;
        updated = fetch_facility(&mut tx, facility_id).await?;
        let user = fetch_user(&mut tx, &admin.id).await?;
        tx.commit().await.map_err(err("committing approval"))?;
        Ok((updated, user))
    }

    async fn set_facility_status(&self, facility_id: &str, from: FacilityStatus, to: FacilityStatus, reason: Option<&str>, at: Millis, audit: AuditEntry) -> StoreResult<Facility> {
        if !from.can_transition_to(to) || to == FacilityStatus::Active && from == FacilityStatus::Pending {
            // Approval goes through approve_facility, which also creates the administrator.
            return Err(StoreError::InvalidState(format!("{} → {} is not allowed here", from.code(), to.code())));
        }
        let mut tx = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar(LOCK_FACILITY)
            .bind(facility_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("locking facility"))?;
        match status.as_deref() {
            None => return Err(StoreError::NotFound(format!("facility {facility_id}"))),
            Some(s) if s == from.code() => {}
            Some(other) => {
                return Err(StoreError::InvalidState(format!(
                    "facility {facility_id} is {other}, not {}",
                    from.code()
                )))
            }
        }
        sqlx::query(
            "UPDATE facilities SET status = $1, status_reason = $2, updated_at = $3, \
             decided_at = COALESCE(decided_at, $3) WHERE id = $4",
        )
        .bind(to.code())
        .bind(reason)
        .bind(at)
        .bind(facility_id)
        .execute(&mut *tx)
        .await
        .map_err(err("changing facility status"))?;
        if !to.allows_sign_in() {
            // Members of a suspended or withdrawn facility lose their sessions at once.
            sqlx::query(
                "DELETE FROM sessions WHERE facility_id = $1",
            )
            .bind(facility_id)
            .execute(&mut *tx)
            .await
            .map_err(err("ending sessions"))?;
        }
        append_audit_in(&mut tx, audit, at).await?;
        let updated = fetch_facility(&mut tx, facility_id).await?;
        tx.commit().await.map_err(err("committing status change"))?;
        Ok(updated)
    }

    async fn create_user(&self, user: NewUser, audit: AuditEntry) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, &user).await?;
        append_audit_in(&mut tx, audit, user.created_at).await?;
        let stored = fetch_user(&mut tx, &user.id).await?;
        tx.commit().await.map_err(err("committing user"))?;
        Ok(stored)
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user_by_login(&self, login_id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE login_id = $1"))
            .bind(login_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user_by_setup_token(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE setup_token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn count_users(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting users"))
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        fn filters(qb: &mut QueryBuilder<'_, Db>, q: &UserQuery) {
            qb.push(" WHERE 1 = 1");
            if let Some(text) = &q.text {
                push_text_terms(qb, "search_text", text);
            }
            if let Some(f) = &q.facility_id {
                qb.push(" AND id IN (SELECT user_id FROM memberships WHERE facility_id = ")
                    .push_bind(f.clone())
                    .push(")");
            }
        }
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM users");
        filters(&mut count, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting users"))?;
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {USER_COLUMNS} FROM users"));
        filters(&mut qb, query);
        qb.push(" ORDER BY display_name_kana, login_id LIMIT ")
            .push_bind(query.limit.clamp(1, 1000))
            .push(" OFFSET ")
            .push_bind(query.offset.max(0));
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("listing users"))?;
        Ok(Page {
            items: rows.iter().map(user_from_row).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<MembershipView>> {
        let cols: String = FACILITY_COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(&format!(
            "SELECT m.role AS m_role, m.active AS m_active, {cols} FROM memberships m \
             JOIN facilities f ON f.id = m.facility_id WHERE m.user_id = $1 ORDER BY f.name_kana"
        ))
        .bind(user_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading memberships"))?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("m_role").map_err(err("membership"))?;
                let facility = facility_from_row(r)?;
                Ok(MembershipView {
                    membership: Membership {
                        user_id: user_id.to_string(),
                        facility_id: facility.id.clone(),
                        role: MemberRole::from_code(&role).ok_or_else(|| corrupt("role", &role))?,
                        active: r.try_get("m_active").map_err(err("membership"))?,
                    },
                    facility,
                })
            })
            .collect()
    }

    async fn facility_members(&self, facility_id: &str) -> StoreResult<Vec<(User, Membership)>> {
        let cols: String = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(&format!(
            "SELECT m.role AS m_role, m.active AS m_active, {cols} FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.facility_id = $1 \
             ORDER BY u.display_name_kana, u.login_id"
        ))
        .bind(facility_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading members"))?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("m_role").map_err(err("membership"))?;
                let user = user_from_row(r)?;
                let membership = Membership {
                    user_id: user.id.clone(),
                    facility_id: facility_id.to_string(),
                    role: MemberRole::from_code(&role).ok_or_else(|| corrupt("role", &role))?,
                    active: r.try_get("m_active").map_err(err("membership"))?,
                };
                Ok((user, membership))
            })
            .collect()
    }

    async fn update_user_profile(&self, user_id: &str, p: UserProfile, audit: AuditEntry) -> StoreResult<User> {
        let now = renkei_domain::now_millis();
        let mut tx = self.begin_write().await?;
        let login: Option<String> = sqlx::query_scalar("SELECT login_id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading user"))?;
        let login = login.ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))?;
        sqlx::query(
            "UPDATE users SET display_name = $1, display_name_kana = $2, email = $3, profession = $4, \
             search_text = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&p.display_name)
        .bind(&p.display_name_kana)
        .bind(&p.email)
        .bind(p.profession.code())
        .bind(search_fold(&format!("{login} {} {} {}", p.display_name, p.display_name_kana, p.email)))
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(err("updating user"))?;
        append_audit_in(&mut tx, audit, now).await?;
        let user = fetch_user(&mut tx, user_id).await?;
        tx.commit().await.map_err(err("committing user update"))?;
        Ok(user)
    }

    async fn set_user_active(&self, user_id: &str, active: bool, audit: AuditEntry) -> StoreResult<User> {
        let now = renkei_domain::now_millis();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
            .bind(active)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err("changing user state"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        }
        if !active {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(err("ending sessions"))?;
        }
        append_audit_in(&mut tx, audit, now).await?;
        let user = fetch_user(&mut tx, user_id).await?;
        tx.commit().await.map_err(err("committing user state"))?;
        Ok(user)
    }

    async fn set_membership(&self, m: Membership, audit: AuditEntry) -> StoreResult<()> {
        let now = renkei_domain::now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO memberships (user_id, facility_id, role, active) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, facility_id) DO UPDATE SET role = excluded.role, active = excluded.active",
        )
        .bind(&m.user_id)
        .bind(&m.facility_id)
        .bind(m.role.code())
        .bind(m.active)
        .execute(&mut *tx)
        .await
        .map_err(err("writing membership"))?;
        if !m.active {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND facility_id = $2")
                .bind(&m.user_id)
                .bind(&m.facility_id)
                .execute(&mut *tx)
                .await
                .map_err(err("ending sessions"))?;
        }
        append_audit_in(&mut tx, audit, now).await?;
        tx.commit().await.map_err(err("committing membership"))
    }

    async fn record_login_failure(&self, user_id: &str, max_failures: i64, lock_millis: i64, at: Millis, audit: AuditEntry) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        // One statement, so concurrent failures on several nodes all count.
        sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END \
             WHERE id = $3",
        )
        .bind(max_failures)
        .bind(at + lock_millis)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(err("counting login failure"))?;
        append_audit_in(&mut tx, audit, at).await?;
        let user = fetch_user(&mut tx, user_id).await?;
        tx.commit().await.map_err(err("committing login failure"))?;
        Ok(user)
    }

    async fn record_login_success(&self, user_id: &str, at: Millis) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err("recording login"))?;
        tx.commit().await.map_err(err("committing login"))
    }

    async fn claim_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(err("claiming TOTP step"))?;
        tx.commit().await.map_err(err("committing TOTP step"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user_id: &str, code_hash: &str, at: Millis) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .bind(code_hash)
        .execute(&mut *tx)
        .await
        .map_err(err("using recovery code"))?;
        tx.commit().await.map_err(err("committing recovery code"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, user_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting recovery codes"))
    }

    async fn set_credentials(&self, user_id: &str, c: Credentials, at: Millis, audit: AuditEntry) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, totp_secret = $2, totp_last_step = NULL, \
             setup_token_hash = NULL, setup_expires_at = NULL, failed_logins = 0, locked_until = NULL, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(&c.password_hash)
        .bind(&c.totp_secret)
        .bind(at)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(err("storing credentials"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err("replacing recovery codes"))?;
        for h in &c.recovery_code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
                .bind(user_id)
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(err("storing recovery codes"))?;
        }
        append_audit_in(&mut tx, audit, at).await?;
        let user = fetch_user(&mut tx, user_id).await?;
        tx.commit().await.map_err(err("committing credentials"))?;
        Ok(user)
    }

    async fn set_password(&self, user_id: &str, password_hash: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(at)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err("changing password"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing password"))
    }

    async fn reset_credentials(&self, user_id: &str, setup_token_hash: &str, expires_at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let now = renkei_domain::now_millis();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = NULL, totp_secret = NULL, totp_last_step = NULL, \
             setup_token_hash = $1, setup_expires_at = $2, failed_logins = 0, locked_until = NULL, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(setup_token_hash)
        .bind(expires_at)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(err("resetting credentials"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        }
        for stmt in ["DELETE FROM recovery_codes WHERE user_id = $1", "DELETE FROM sessions WHERE user_id = $1"] {
            sqlx::query(stmt)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(err("resetting credentials"))?;
        }
        append_audit_in(&mut tx, audit, now).await?;
        tx.commit().await.map_err(err("committing reset"))
    }

    async fn set_user_lang(&self, user_id: &str, lang: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET lang = $1 WHERE id = $2")
            .bind(lang)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err("saving language"))?;
        tx.commit().await.map_err(err("committing language"))
    }

    async fn create_session(&self, s: Session) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, second_factor_done, csrf_token, facility_id, \
             created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&s.id_hash)
        .bind(&s.user_id)
        .bind(s.second_factor_done)
        .bind(&s.csrf_token)
        .bind(&s.facility_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .execute(&mut *tx)
        .await
        .map_err(err("creating session"))?;
        tx.commit().await.map_err(err("committing session"))
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(
            "SELECT id_hash, user_id, second_factor_done, csrf_token, facility_id, created_at, \
             last_seen_at, expires_at, ip, user_agent FROM sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading session"))?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, id_hash: &str, last_seen_at: Millis) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(last_seen_at)
            .bind(id_hash)
            .execute(&mut *tx)
            .await
            .map_err(err("touching session"))?;
        tx.commit().await.map_err(err("committing session"))
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await
            .map_err(err("ending session"))?;
        tx.commit().await.map_err(err("committing session end"))
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err("ending sessions"))?;
        tx.commit().await.map_err(err("committing session end"))?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(&self, idle_before: Millis, now: Millis) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR expires_at < $2")
            .bind(idle_before)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err("purging sessions"))?;
        tx.commit().await.map_err(err("committing purge"))?;
        Ok(done.rows_affected())
    }

    async fn get_readiness(&self, facility_id: &str) -> StoreResult<Option<ReadinessSurvey>> {
        let row = sqlx::query("SELECT * FROM readiness_surveys WHERE facility_id = $1")
            .bind(facility_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading survey"))?;
        row.as_ref().map(readiness_from_row).transpose()
    }

    async fn put_readiness(&self, s: ReadinessSurvey, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        upsert_readiness(&mut tx, &s).await?;
        append_audit_in(&mut tx, audit, s.updated_at).await?;
        tx.commit().await.map_err(err("committing survey"))
    }

    async fn list_readiness(&self) -> StoreResult<Vec<(Facility, Option<ReadinessSurvey>)>> {
        let cols: String = FACILITY_COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {cols}, r.facility_id AS r_facility_id, r.system_kind, r.vendor, r.product, \
             r.ssmix2_export, r.hl7_fhir_capable, r.network_line, r.devices, r.it_staff, r.notes, \
             r.updated_at AS r_updated_at, r.updated_by \
             FROM facilities f LEFT JOIN readiness_surveys r ON r.facility_id = f.id \
             WHERE f.status IN ('active', 'suspended') ORDER BY f.category, f.facility_type, f.name_kana"
        ))
        .fetch_all(self.read_pool())
        .await
        .map_err(err("listing surveys"))?;
        rows.iter()
            .map(|r| {
                let facility = facility_from_row(r)?;
                let answered: Option<String> = r.try_get("r_facility_id").map_err(err("survey"))?;
                let survey = match answered {
                    None => None,
                    Some(facility_id) => {
                        let g = |e| backend_error("reading survey", e);
                        Some(ReadinessSurvey {
                            facility_id,
                            system_kind: r.try_get("system_kind").map_err(g)?,
                            vendor: r.try_get("vendor").map_err(g)?,
                            product: r.try_get("product").map_err(g)?,
                            ssmix2_export: r.try_get("ssmix2_export").map_err(g)?,
                            hl7_fhir_capable: r.try_get("hl7_fhir_capable").map_err(g)?,
                            network_line: r.try_get("network_line").map_err(g)?,
                            devices: r.try_get("devices").map_err(g)?,
                            it_staff: r.try_get("it_staff").map_err(g)?,
                            notes: r.try_get("notes").map_err(g)?,
                            updated_at: r.try_get("r_updated_at").map_err(g)?,
                            updated_by: r.try_get("updated_by").map_err(g)?,
                        })
                    }
                };
                Ok((facility, survey))
            })
            .collect()
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<AuditRecord> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.write_jobs
            .send(WriteJob::Audit { entry, reply })
            .await
            .map_err(|_| StoreError::Backend("the audit writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the audit writer dropped a record".into()))?
    }

    async fn search_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"));
        if let Some(from) = q.from {
            qb.push(" AND at >= ").push_bind(from);
        }
        if let Some(to) = q.to {
            qb.push(" AND at < ").push_bind(to);
        }
        if let Some(prefix) = &q.action_prefix {
            qb.push(" AND action LIKE ").push_bind(format!(
                "{}%",
                prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
            ));
            qb.push(" ESCAPE '\\'");
        }
        if let Some(login) = &q.actor_login {
            qb.push(" AND actor_login = ").push_bind(login.clone());
        }
        if let Some(f) = &q.facility_id {
            qb.push(" AND actor_facility_id = ").push_bind(f.clone());
        }
        if let Some(p) = &q.patient_id {
            qb.push(" AND patient_id = ").push_bind(p.clone());
        }
        if let Some(o) = &q.outcome {
            qb.push(" AND outcome = ").push_bind(o.clone());
        }
        if let Some(before) = q.before_seq {
            qb.push(" AND seq < ").push_bind(before);
        }
        qb.push(" ORDER BY seq DESC LIMIT ").push_bind(q.limit.clamp(1, 10_000));
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("searching audit"))?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_after(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading audit log"))?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading audit head"))?;
        let Some(row) = row else {
            return Err(StoreError::Backend("the audit head row is missing".into()));
        };
        let seq: i64 = row.try_get("seq").map_err(err("audit head"))?;
        let hash: String = row.try_get("hash").map_err(err("audit head"))?;
        Ok((seq > 0 || hash != GENESIS_HASH).then_some((seq, hash)))
    }

    async fn register_patient(&self, record: NewPatientRecord, link: PersonLink, reviews: Vec<NewMatchReview>, audit: AuditEntry) -> StoreResult<PatientRecord> {
        self.p_register(record, link, reviews, audit).await
    }
    async fn update_patient_record(&self, update: PatientUpdate, audit: AuditEntry) -> StoreResult<PatientRecord> {
        self.p_update_patient(update, audit).await
    }
    async fn patient_candidates(&self, block_keys: &[i64], limit: i64) -> StoreResult<Vec<PatientRecord>> {
        self.p_candidates(block_keys, limit).await
    }
    async fn get_patient_record(&self, id: &str) -> StoreResult<Option<PatientRecord>> {
        let row = sqlx::query(&format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading patient"))?;
        row.as_ref().map(patient_from_row).transpose()
    }
    async fn get_patient_records(&self, ids: &[String]) -> StoreResult<Vec<PatientRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new(format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE id IN ("));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_str());
            }
            qb.push(")");
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading patients"))?;
            for row in &rows {
                out.push(patient_from_row(row)?);
            }
        }
        Ok(out)
    }
    async fn patient_records_after(&self, after_id: &str, limit: i64) -> StoreResult<Vec<PatientRecord>> {
        let rows = sqlx::query(&format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE id > $1 ORDER BY id LIMIT $2"))
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("reading patients"))?;
        rows.iter().map(patient_from_row).collect()
    }
    async fn replace_block_keys(&self, keys: &[(String, Vec<i64>)]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for chunk in keys.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new("DELETE FROM patient_block_keys WHERE record_id IN (");
            let mut sep = qb.separated(", ");
            for (record, _) in chunk {
                sep.push_bind(record.as_str());
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await.map_err(err("replacing match keys"))?;
            for (record, block_keys) in chunk {
                insert_block_keys(&mut tx, record, block_keys).await?;
            }
        }
        tx.commit().await.map_err(err("committing match keys"))
    }
    async fn find_patient_record(&self, facility_id: &str, id_system: &str, local_id: &str) -> StoreResult<Option<PatientRecord>> {
        let row = sqlx::query(&format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE facility_id = $1 AND id_system = $2 AND local_id = $3"))
            .bind(facility_id)
            .bind(id_system)
            .bind(local_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading patient"))?;
        row.as_ref().map(patient_from_row).transpose()
    }
    async fn person_records(&self, person_id: &str) -> StoreResult<Vec<PatientRecord>> {
        self.p_person_records(person_id).await
    }
    async fn resolve_person(&self, person_id: &str) -> StoreResult<Option<String>> {
        self.p_resolve_person(person_id).await
    }
    async fn team_patients(&self, facility_id: &str, text: Option<&str>, limit: i64) -> StoreResult<Vec<PatientRecord>> {
        self.p_team_patients(facility_id, text, limit).await
    }
    async fn find_persons_exact(&self, kana_folded: &str, birth_date: &str, limit: i64) -> StoreResult<Vec<PatientRecord>> {
        self.p_find_exact(kana_folded, birth_date, limit).await
    }
    async fn open_match_reviews(&self, limit: i64) -> StoreResult<Vec<MatchReview>> {
        self.p_open_reviews(limit).await
    }
    async fn decide_match_review(&self, review_id: &str, confirm: bool, by_user: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        self.p_decide_review(review_id, confirm, by_user, at, audit).await
    }
    async fn unlink_record(&self, record_id: &str, new_person_id: &str, by_user: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        self.p_unlink(record_id, new_person_id, by_user, at, audit).await
    }
    async fn link_history(&self, person_id: &str) -> StoreResult<Vec<LinkEvent>> {
        self.p_link_history(person_id).await
    }
    async fn record_consent(&self, consent: NewConsent, audit: AuditEntry) -> StoreResult<Consent> {
        self.p_record_consent(consent, audit).await
    }
    async fn withdraw_consent(&self, consent_id: &str, effective_at: Millis, by_user: &str, reason: &str, audit: AuditEntry) -> StoreResult<Consent> {
        self.p_withdraw_consent(consent_id, effective_at, by_user, reason, audit).await
    }
    async fn current_consent(&self, person_id: &str) -> StoreResult<Option<Consent>> {
        Ok(self.p_consents(person_id).await?.into_iter().find(|c| c.status != "superseded"))
    }
    async fn consent_history(&self, person_id: &str) -> StoreResult<Vec<Consent>> {
        self.p_consents(person_id).await
    }
    async fn get_consent(&self, id: &str) -> StoreResult<Option<Consent>> {
        self.p_get_consent(id).await
    }
    async fn team_members(&self, person_id: &str) -> StoreResult<Vec<TeamMember>> {
        self.p_team(person_id).await
    }
    async fn team_status(&self, person_id: &str, facility_id: &str) -> StoreResult<Option<renkei_domain::patient::TeamStatus>> {
        self.p_team_status(person_id, facility_id).await
    }
    async fn invite_to_team(&self, person_id: &str, facility_id: &str, by_facility: &str, by_user: &str, note: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        self.p_invite(person_id, facility_id, by_facility, by_user, note, at, audit).await
    }
    async fn fhir_write_inviting(
        &self,
        writes: Vec<renkei_storage::fhir::FhirWrite>,
        audit: Vec<AuditEntry>,
        notifications: Vec<renkei_storage::notifications::Notification>,
        invitation: TeamInvitation,
    ) -> StoreResult<(Vec<renkei_storage::fhir::FhirRow>, bool)> {
        self.f_write(writes, audit, notifications, Vec::new(), Some(invitation)).await
    }
    async fn respond_to_invitation(&self, person_id: &str, facility_id: &str, accept: bool, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        self.p_respond(person_id, facility_id, accept, at, audit).await
    }
    async fn leave_team(&self, person_id: &str, facility_id: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        self.p_leave(person_id, facility_id, at, audit).await
    }
    async fn invitations_for(&self, facility_id: &str) -> StoreResult<Vec<(TeamMember, PatientRecord)>> {
        self.p_invitations(facility_id).await
    }
    async fn put_consent_attachment(&self, a: ConsentAttachment, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let person: Option<String> = sqlx::query_scalar("SELECT person_id FROM consents WHERE id = $1")
            .bind(&a.consent_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading consent"))?;
        let person = person.ok_or_else(|| StoreError::NotFound(format!("consent {}", a.consent_id)))?;
        sqlx::query(
            "INSERT INTO consent_attachments (consent_id, filename, content_type, size, sha256, data, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (consent_id) DO UPDATE SET filename = excluded.filename, \
             content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256, data = excluded.data, \
             uploaded_by = excluded.uploaded_by, uploaded_at = excluded.uploaded_at",
        )
        .bind(&a.consent_id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.data.len() as i64)
        .bind(&a.sha256)
        .bind(&a.data)
        .bind(&a.uploaded_by)
        .bind(a.uploaded_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing consent form"))?;
        let mut audit = audit;
        audit.patient_id = Some(person);
        append_audit_in(&mut tx, audit, a.uploaded_at).await?;
        tx.commit().await.map_err(err("committing consent form"))
    }
    async fn get_consent_attachment(&self, consent_id: &str) -> StoreResult<Option<ConsentAttachment>> {
        let row = sqlx::query("SELECT consent_id, filename, content_type, sha256, data, uploaded_by, uploaded_at FROM consent_attachments WHERE consent_id = $1")
            .bind(consent_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading consent form"))?;
        let Some(r) = row else { return Ok(None) };
        let g = |e| backend_error("reading consent form", e);
        Ok(Some(ConsentAttachment {
            consent_id: r.try_get("consent_id").map_err(g)?,
            filename: r.try_get("filename").map_err(g)?,
            content_type: r.try_get("content_type").map_err(g)?,
            sha256: r.try_get("sha256").map_err(g)?,
            data: r.try_get("data").map_err(g)?,
            uploaded_by: r.try_get("uploaded_by").map_err(g)?,
            uploaded_at: r.try_get("uploaded_at").map_err(g)?,
        }))
    }
    async fn access_facts(&self, person_id: &str, facility_id: Option<&str>, user_id: &str, now: Millis) -> StoreResult<AccessFacts> {
        self.p_access_facts(person_id, facility_id, user_id, now).await
    }
    async fn start_break_glass(&self, event: BreakGlassEvent, audit: AuditEntry) -> StoreResult<()> {
        self.p_start_break_glass(event, audit).await
    }
    async fn active_break_glass(&self, user_id: &str, person_id: &str, now: Millis) -> StoreResult<Option<BreakGlassEvent>> {
        self.p_active_break_glass(user_id, person_id, now).await
    }
    async fn list_break_glass(&self, limit: i64) -> StoreResult<Vec<BreakGlassEvent>> {
        self.p_list_break_glass(limit).await
    }
    async fn team_notices(&self, facility_id: &str, limit: i64) -> StoreResult<Vec<TeamNotice>> {
        self.p_team_notices(facility_id, limit).await
    }

    async fn import_network(&self, data: NetworkImport, audit: AuditEntry) -> StoreResult<()> {
        let now = renkei_domain::now_millis();
        let mut tx = self.begin_write().await?;
        for (i, (facility, status, code)) in data.facilities.iter().enumerate() {
            let code_no = code.as_ref().map(|_| i as i64 + 1);
            let decided = (*status != FacilityStatus::Pending).then_some(facility.applied_at);
            insert_facility(&mut tx, facility, *status, code.as_deref(), code_no, decided).await?;
        }
        for user in &data.users {
            insert_user(&mut tx, user).await?;
        }
        for survey in &data.readiness {
            upsert_readiness(&mut tx, survey).await?;
        }
        import_patients(&mut tx, &data.patients).await?;
        append_audit_in(&mut tx, audit, now).await?;
        tx.commit().await.map_err(err("committing import"))
    }

    async fn ingest_progress(&self, source: &str) -> StoreResult<Vec<IngestFile>> {
        self.i_progress(source).await
    }
    async fn record_ingest_files(&self, files: Vec<IngestFile>) -> StoreResult<()> {
        self.i_record(files).await
    }
    async fn create_api_client(&self, client: ApiClient, audit: AuditEntry) -> StoreResult<()> {
        self.c_create_client(client, audit).await
    }
    async fn get_api_client(&self, id: &str) -> StoreResult<Option<ApiClient>> {
        self.c_get_client(id).await
    }
    async fn api_clients_of(&self, facility_id: &str) -> StoreResult<Vec<ApiClient>> {
        self.c_clients_of(facility_id).await
    }
    async fn revoke_api_client(&self, id: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        self.c_revoke_client(id, at, audit).await
    }
    async fn create_api_token(&self, token: ApiToken) -> StoreResult<()> {
        self.c_create_token(token).await
    }
    async fn api_token(&self, token_hash: &str, now: Millis) -> StoreResult<Option<(ApiToken, Facility)>> {
        self.c_token(token_hash, now).await
    }
    async fn mark_timeline_read(&self, user_id: &str, post_ids: &[String], at: Millis) -> StoreResult<()> {
        self.t_mark_read(user_id, post_ids, at).await
    }
    async fn timeline_readers(&self, post_ids: &[String]) -> StoreResult<Vec<TimelineRead>> {
        self.t_readers(post_ids).await
    }
    async fn timeline_unread(
        &self,
        user_id: &str,
        person_ids: &[String],
        scope: &renkei_storage::fhir::FhirScope,
    ) -> StoreResult<Vec<(String, i64)>> {
        self.t_unread(user_id, person_ids, scope).await
    }
    async fn fhir_write(&self, writes: Vec<renkei_storage::fhir::FhirWrite>, audit: Vec<AuditEntry>) -> StoreResult<Vec<renkei_storage::fhir::FhirRow>> {
        self.f_write(writes, audit, Vec::new(), Vec::new(), None).await.map(|(rows, _)| rows)
    }
    async fn fhir_read(&self, resource_type: &str, id: &str) -> StoreResult<Option<renkei_storage::fhir::FhirRow>> {
        self.f_read(resource_type, id).await
    }
    async fn fhir_read_many(&self, references: &[String]) -> StoreResult<Vec<renkei_storage::fhir::FhirRow>> {
        self.f_read_many(references, false).await
    }

    async fn fhir_read_current(&self, references: &[String]) -> StoreResult<Vec<renkei_storage::fhir::FhirRow>> {
        self.f_read_many(references, true).await
    }
    async fn fhir_vread(&self, resource_type: &str, id: &str, version_id: i64) -> StoreResult<Option<renkei_storage::fhir::FhirRow>> {
        self.f_vread(resource_type, id, version_id).await
    }
    async fn fhir_history(&self, query: &renkei_storage::fhir::HistoryQuery, scope: &renkei_storage::fhir::FhirScope) -> StoreResult<Vec<renkei_storage::fhir::FhirRow>> {
        self.f_history(query, scope).await
    }
    async fn fhir_search(&self, query: &renkei_fhir::SearchQuery, scope: &renkei_storage::fhir::FhirScope) -> StoreResult<renkei_storage::fhir::FhirPage> {
        self.f_search(query, scope).await
    }
    async fn fhir_everything(&self, person_ids: &[String], scope: &renkei_storage::fhir::FhirScope, count: usize, offset: usize) -> StoreResult<renkei_storage::fhir::FhirPage> {
        self.f_everything(person_ids, scope, count, offset).await
    }
}

async fn upsert_readiness(conn: &mut Conn, s: &ReadinessSurvey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO readiness_surveys (facility_id, system_kind, vendor, product, ssmix2_export, \
         hl7_fhir_capable, network_line, devices, it_staff, notes, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (facility_id) DO UPDATE SET system_kind = excluded.system_kind, \
         vendor = excluded.vendor, product = excluded.product, ssmix2_export = excluded.ssmix2_export, \
         hl7_fhir_capable = excluded.hl7_fhir_capable, network_line = excluded.network_line, \
         devices = excluded.devices, it_staff = excluded.it_staff, notes = excluded.notes, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(&s.facility_id)
    .bind(&s.system_kind)
    .bind(&s.vendor)
    .bind(&s.product)
    .bind(&s.ssmix2_export)
    .bind(&s.hl7_fhir_capable)
    .bind(&s.network_line)
    .bind(&s.devices)
    .bind(&s.it_staff)
    .bind(&s.notes)
    .bind(s.updated_at)
    .bind(&s.updated_by)
    .execute(&mut *conn)
    .await
    .map_err(err("saving survey"))?;
    Ok(())
}
