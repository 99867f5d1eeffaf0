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
const LOCK_COVER_GROUP: &str = "SELECT id FROM cover_groups WHERE id = $1 FOR UPDATE";
/// A board topic's archive state, locked until the transaction ends (threads and replies
/// against archiving).
const LOCK_BOARD_TOPIC: &str = "SELECT archived_at FROM board_topics WHERE id = $1 FOR UPDATE";
/// Position of a substring (0 when absent), for `:contains` searches.
const SQL_STRPOS: &str = "strpos";
/// PostgreSQL plans FHIR searches from its statistics: no index hints.
const FHIR_INDEX_HINTS: bool = false;

pub struct PostgresStore {
    pool: Pool<Postgres>,
    url: String,
    write_jobs: tokio::sync::mpsc::Sender<WriteJob>,
    /// Fed by this node's LISTEN connection, so events from every node arrive here.
    events: tokio::sync::broadcast::Sender<renkei_storage::Event>,
}

/// The one NOTIFY channel every node listens on.
const EVENT_CHANNEL: &str = "renkei_events";

async fn begin_on(pool: &Pool<Db>) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin()
        .await
        .map_err(|e| backend_error("starting write transaction", e))
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        // Prepared statements get PostgreSQL's default plan caching (generic plans after
        // five runs). Custom plans (`?options=-c plan_cache_mode=force_custom_plan` in the
        // URL) make patient-driven searches and timeline pages faster but reads by id three
        // times slower (bench/README.md), so they are left to the deployment.
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
        let write_jobs = spawn_group_writer(pool.clone());
        let events = tokio::sync::broadcast::channel(EVENT_BUFFER).0;
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
            .await
            .map_err(|e| backend_error("opening the LISTEN connection", e))?;
        listener
            .listen(EVENT_CHANNEL)
            .await
            .map_err(|e| backend_error("listening for events", e))?;
        spawn_event_listener(listener, events.clone());
        Ok(PostgresStore {
            pool,
            url: url.to_string(),
            write_jobs,
            events,
        })
    }

    /// The URL this store connected with (tests start a second node on it).
    pub fn connect_url(&self) -> &str {
        &self.url
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

    async fn send_event(&self, topic: &str, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENT_CHANNEL)
            .bind(format!("{topic}\n{payload}"))
            .execute(&self.pool)
            .await
            .map_err(|e| backend_error("publishing an event", e))?;
        Ok(())
    }
}

/// Events travel between nodes as `topic` + newline + payload.
fn decode_event(text: &str) -> Option<renkei_storage::Event> {
    let (topic, payload) = text.split_once('\n')?;
    Some(renkei_storage::Event {
        topic: topic.to_string(),
        payload: payload.to_string(),
    })
}

/// Relays NOTIFYs to this node's subscribers. `PgListener::recv` reconnects by itself
/// after a lost connection (events sent meanwhile are missed — receivers re-read the
/// database, so only latency is lost); a failed reconnect is retried with a pause.
fn spawn_event_listener(
    mut listener: sqlx::postgres::PgListener,
    events: tokio::sync::broadcast::Sender<renkei_storage::Event>,
) {
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    if let Some(event) = decode_event(notification.payload()) {
                        let _ = events.send(event);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event listener lost PostgreSQL; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
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
