//! SQLite and PostgreSQL implementations of [`renkei_storage::Store`].
//!
//! Both backends share their query code (`shared.rs`, included into each backend module
//! with that backend's `Db` type) and differ only where the databases do: connection
//! set-up, how a write transaction starts, row locking and migrations.

use renkei_storage::{Store, StoreError};
use std::sync::Arc;

pub mod postgres;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Opens the database a URL names (`sqlite://path`, `sqlite::memory:` is refused because
/// each pooled connection would get its own empty database; `postgres://…`) and brings its
/// schema up to date.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        ))
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.contains(":memory:") {
            return Err(StoreError::Backend(
                "in-memory SQLite is not supported: give a file path".into(),
            ));
        }
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path), max_connections).await?,
        ))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database URL (expected sqlite://PATH or postgres://…): {url}"
        )))
    }
}

pub(crate) fn backend_error(context: &str, err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(format!("{context}: {}", db.message()));
        }
    }
    StoreError::Backend(format!("{context}: {err}"))
}

/// Creates a new, empty database on a PostgreSQL server and returns its URL. Used by tests
/// and benchmarks that want an isolated database per run.
pub async fn create_postgres_database(server_url: &str, name: &str) -> Result<String, StoreError> {
    use sqlx::Connection;
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Backend(format!(
            "unsafe database name {name:?}"
        )));
    }
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .map_err(|e| backend_error("connecting to PostgreSQL", e))?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(|e| backend_error("creating database", e))?;
    let base = server_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(server_url);
    Ok(format!("{base}/{name}"))
}
