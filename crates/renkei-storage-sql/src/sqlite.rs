//! The embedded default: one SQLite file in WAL mode. Writes go through a single writer
//! connection with `BEGIN IMMEDIATE`, so concurrent requests queue instead of failing with
//! SQLITE_BUSY; reads use a separate pool and never block on the writer.

use crate::backend_error;
use renkei_storage::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use std::path::Path;
use std::time::Duration;

type Db = Sqlite;
type SqlStore = SqliteStore;

const BACKEND_NAME: &str = "sqlite";
/// SQLite serialises writers already; a plain read of the head inside `BEGIN IMMEDIATE`
/// is enough.
const LOCK_AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
const LOCK_FACILITY: &str = "SELECT status FROM facilities WHERE id = $1";
const LOCK_COVER_GROUP: &str = "SELECT id FROM cover_groups WHERE id = $1";
/// A board topic's archive state, locked until the transaction ends (threads and replies
/// against archiving).
const LOCK_BOARD_TOPIC: &str = "SELECT archived_at FROM board_topics WHERE id = $1";
/// Position of a substring (0 when absent), for `:contains` searches.
const SQL_STRPOS: &str = "instr";
/// SQLite has no table statistics (nothing runs ANALYZE), and without them its planner
/// may answer a FHIR search from the wrong index (scanning a whole index table for one
/// patient's rows): FHIR searches name their indexes (`INDEXED BY`).
const FHIR_INDEX_HINTS: bool = true;

pub struct SqliteStore {
    writer: Pool<Sqlite>,
    reader: Pool<Sqlite>,
    write_jobs: tokio::sync::mpsc::Sender<WriteJob>,
    /// One node owns an SQLite file: live events stay in this process.
    events: tokio::sync::broadcast::Sender<renkei_storage::Event>,
}

async fn begin_on(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| backend_error("starting write transaction", e))
}

impl SqliteStore {
    pub async fn open(path: &Path, max_readers: u32) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Backend(format!(
                        "creating data directory {}: {e}",
                        parent.display()
                    ))
                })?;
            }
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode is durable against process crashes; FULL adds an fsync
            // per commit so an acknowledged write also survives power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // A large write (the demo's clinical data, an SS-MIX2 batch) spills SQLite's default
        // 8 MiB page cache to the file mid-transaction; the one writer gets 32 MiB. Each
        // multi-row statement inside a transaction keeps a statement journal (to undo
        // just that statement): in memory rather than in a temporary file.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-32768")
                    .pragma("temp_store", "MEMORY"),
            )
            .await
            .map_err(|e| backend_error(&format!("opening {}", path.display()), e))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating {}: {e}", path.display())))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_readers.max(1))
            .connect_with(options.read_only(true))
            .await
            .map_err(|e| backend_error("opening read pool", e))?;
        let write_jobs = spawn_group_writer(writer.clone());
        Ok(SqliteStore {
            writer,
            reader,
            write_jobs,
            events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
        })
    }

    /// Direct access for tests that play the attacker (tampering with the audit log).
    pub fn writer_pool(&self) -> &Pool<Sqlite> {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>, StoreError> {
        begin_on(&self.writer).await
    }

    fn read_pool(&self) -> &Pool<Db> {
        &self.reader
    }

    async fn send_event(&self, topic: &str, payload: &str) -> Result<(), StoreError> {
        // No subscriber is not an error: nobody is watching.
        let _ = self.events.send(renkei_storage::Event {
            topic: topic.to_string(),
            payload: payload.to_string(),
        });
        Ok(())
    }
}

include!("shared.rs");
include!("shared_patients.rs");
include!("shared_fhir.rs");
include!("shared_clients.rs");
include!("shared_timeline.rs");
include!("shared_icu.rs");
include!("shared_notifications.rs");
include!("shared_notices.rs");
include!("shared_cover.rs");
include!("shared_documents.rs");
