//! The production and scale backend: PostgreSQL, shared by any number of stateless
//! `renkei` nodes. Row locks (`FOR UPDATE`) serialise what must be serial across nodes,
//! such as extending the audit chain.

use crate::backend_error;
use renkei_storage::StoreError;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Postgres, Transaction};
use std::time::Duration;

type Db = Postgres;
type SqlStore = PostgresStore;

const BACKEND_NAME: &str = "postgres";
const LOCK_AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
const LOCK_FACILITY: &str = "SELECT status FROM facilities WHERE id = $1 FOR UPDATE";
/// Position of a substring (0 when absent), for `:contains` searches.
const SQL_STRPOS: &str = "strpos";
/// PostgreSQL plans FHIR searches from its statistics: no index hints.
const FHIR_INDEX_HINTS: bool = false;

pub struct PostgresStore {
    pool: Pool<Postgres>,
    audit_jobs: tokio::sync::mpsc::Sender<AuditJob>,
}

async fn begin_on(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin()
        .await
        .map_err(|e| backend_error("starting write transaction", e))
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| backend_error("connecting to PostgreSQL", e))?;
        // Several nodes may start at once; sqlx takes an advisory lock while migrating.
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating PostgreSQL: {e}")))?;
        // The chain head row must exist so that FOR UPDATE has something to lock.
        let audit_jobs = spawn_audit_writer(pool.clone());
        Ok(PostgresStore { pool, audit_jobs })
    }

    /// Direct access for tests that play the attacker (tampering with the audit log).
    pub fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>, StoreError> {
        begin_on(&self.pool).await
    }

    fn read_pool(&self) -> &Pool<Db> {
        &self.pool
    }
}

include!("shared.rs");
include!("shared_patients.rs");
include!("shared_fhir.rs");
include!("shared_clients.rs");
include!("shared_timeline.rs");
