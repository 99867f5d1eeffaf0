// OAuth2 clients and tokens. Included into sqlite.rs and postgres.rs (see shared.rs).

const API_CLIENT_COLUMNS: &str =
    "id, facility_id, name, secret_hash, scopes, created_by, created_at, revoked_at";

fn api_client_from_row(row: &<Db as sqlx::Database>::Row) -> Result<ApiClient, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading api client row", e);
    Ok(ApiClient {
        id: row.try_get("id").map_err(g)?,
        facility_id: row.try_get("facility_id").map_err(g)?,
        name: row.try_get("name").map_err(g)?,
        secret_hash: row.try_get("secret_hash").map_err(g)?,
        scopes: row.try_get("scopes").map_err(g)?,
        created_by: row.try_get("created_by").map_err(g)?,
        created_at: row.try_get("created_at").map_err(g)?,
        revoked_at: row.try_get("revoked_at").map_err(g)?,
    })
}

impl SqlStore {
    async fn c_create_client(&self, c: ApiClient, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_clients (id, facility_id, name, secret_hash, scopes, created_by, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&c.id)
        .bind(&c.facility_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(&c.scopes)
        .bind(&c.created_by)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(err("creating api client"))?;
        append_audit_in(&mut tx, audit, c.created_at).await?;
        tx.commit().await.map_err(err("committing api client"))?;
        Ok(())
    }

    async fn c_get_client(&self, id: &str) -> StoreResult<Option<ApiClient>> {
        let row = sqlx::query(&format!("SELECT {API_CLIENT_COLUMNS} FROM api_clients WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading api client"))?;
        row.as_ref().map(api_client_from_row).transpose()
    }

    async fn c_clients_of(&self, facility_id: &str) -> StoreResult<Vec<ApiClient>> {
        let rows = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients WHERE facility_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(facility_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("listing api clients"))?;
        rows.iter().map(api_client_from_row).collect()
    }

    async fn c_revoke_client(&self, id: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE api_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err("revoking api client"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState(format!("api client {id} is unknown or already revoked")));
        }
        sqlx::query("DELETE FROM api_tokens WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err("deleting api tokens"))?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing api client revocation"))?;
        Ok(())
    }

    async fn c_create_token(&self, t: ApiToken) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Expired tokens are dead weight; clear them while we hold the writer.
        sqlx::query("DELETE FROM api_tokens WHERE expires_at < $1")
            .bind(t.issued_at)
            .execute(&mut *tx)
            .await
            .map_err(err("purging api tokens"))?;
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, client_id, facility_id, scopes, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.token_hash)
        .bind(&t.client_id)
        .bind(&t.facility_id)
        .bind(&t.scopes)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(err("creating api token"))?;
        tx.commit().await.map_err(err("committing api token"))?;
        Ok(())
    }

    async fn c_token(&self, token_hash: &str, now: Millis) -> StoreResult<Option<(ApiToken, Facility)>> {
        // One round trip: every request of a system starts here.
        let facility_columns: Vec<String> = FACILITY_COLUMNS.split(',').map(|c| format!("f.{}", c.trim())).collect();
        let row = sqlx::query(&format!(
            "SELECT t.token_hash, t.client_id, t.facility_id, t.scopes, t.issued_at, t.expires_at, {} \
             FROM api_tokens t JOIN api_clients c ON c.id = t.client_id JOIN facilities f ON f.id = t.facility_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND c.revoked_at IS NULL",
            facility_columns.join(", ")
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading api token"))?;
        let Some(row) = row else { return Ok(None) };
        let g = |e: sqlx::Error| backend_error("reading api token row", e);
        let token = ApiToken {
            token_hash: row.try_get("token_hash").map_err(g)?,
            client_id: row.try_get("client_id").map_err(g)?,
            facility_id: row.try_get("facility_id").map_err(g)?,
            scopes: row.try_get("scopes").map_err(g)?,
            issued_at: row.try_get("issued_at").map_err(g)?,
            expires_at: row.try_get("expires_at").map_err(g)?,
        };
        Ok(Some((token, facility_from_row(&row)?)))
    }
}

// Collector progress.
impl SqlStore {
    async fn i_progress(&self, source: &str) -> StoreResult<Vec<IngestFile>> {
        let rows = sqlx::query(
            "SELECT source, path, fingerprint, status, detail, processed_at FROM ingest_files WHERE source = $1",
        )
        .bind(source)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading collector progress"))?;
        let g = |e: sqlx::Error| backend_error("reading collector progress row", e);
        rows.iter()
            .map(|r| {
                Ok(IngestFile {
                    source: r.try_get("source").map_err(g)?,
                    path: r.try_get("path").map_err(g)?,
                    fingerprint: r.try_get("fingerprint").map_err(g)?,
                    status: r.try_get("status").map_err(g)?,
                    detail: r.try_get("detail").map_err(g)?,
                    processed_at: r.try_get("processed_at").map_err(g)?,
                })
            })
            .collect()
    }

    async fn i_record(&self, files: Vec<IngestFile>) -> StoreResult<()> {
        if files.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for f in &files {
            sqlx::query(
                "INSERT INTO ingest_files (source, path, fingerprint, status, detail, processed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (source, path) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 status = excluded.status, detail = excluded.detail, processed_at = excluded.processed_at",
            )
            .bind(&f.source)
            .bind(&f.path)
            .bind(&f.fingerprint)
            .bind(&f.status)
            .bind(&f.detail)
            .bind(f.processed_at)
            .execute(&mut *tx)
            .await
            .map_err(err("recording collector progress"))?;
        }
        tx.commit().await.map_err(err("committing collector progress"))?;
        Ok(())
    }
}
