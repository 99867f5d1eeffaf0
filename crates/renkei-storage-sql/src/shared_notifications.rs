// The in-app inbox (migration `0010_notifications.sql`), shared by both backends like the
// rest. Notifications caused by FHIR writes (timeline posts) are inserted by `f_write` in
// the writes' transaction.

use renkei_storage::notifications::{Notification, NotificationStore, ReadSelector};

const NOTIFICATION_COLUMNS: &str =
    "id, user_id, kind, person_id, actor_user_id, actor_facility_id, source_id, link, created_at, read_at";

fn notification_from(r: &<Db as sqlx::Database>::Row) -> Result<Notification, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading notification", e);
    Ok(Notification {
        id: r.try_get("id").map_err(g)?,
        user_id: r.try_get("user_id").map_err(g)?,
        kind: r.try_get("kind").map_err(g)?,
        person_id: r.try_get("person_id").map_err(g)?,
        actor_user_id: r.try_get("actor_user_id").map_err(g)?,
        actor_facility_id: r.try_get("actor_facility_id").map_err(g)?,
        source_id: r.try_get("source_id").map_err(g)?,
        link: r.try_get("link").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        read_at: r.try_get("read_at").map_err(g)?,
    })
}

async fn insert_notifications(conn: &mut Conn, notifications: &[Notification]) -> Result<(), StoreError> {
    // 10 binds a row; both backends allow far more than 200 × 10.
    for chunk in notifications.chunks(200) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO notifications ({NOTIFICATION_COLUMNS}) "));
        qb.push_values(chunk, |mut b, n| {
            b.push_bind(n.id.clone())
                .push_bind(n.user_id.clone())
                .push_bind(n.kind.clone())
                .push_bind(n.person_id.clone())
                .push_bind(n.actor_user_id.clone())
                .push_bind(n.actor_facility_id.clone())
                .push_bind(n.source_id.clone())
                .push_bind(n.link.clone())
                .push_bind(n.created_at)
                .push_bind(n.read_at);
        });
        qb.build().execute(&mut *conn).await.map_err(err("storing notifications"))?;
    }
    Ok(())
}

fn push_notify_list(qb: &mut QueryBuilder<'_, Db>, values: &[String]) {
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn fhir_write_notifying(
        &self,
        writes: Vec<renkei_storage::fhir::FhirWrite>,
        audit: Vec<AuditEntry>,
        notifications: Vec<Notification>,
    ) -> StoreResult<Vec<renkei_storage::fhir::FhirRow>> {
        self.f_write(writes, audit, notifications, Vec::new(), None).await.map(|(rows, _)| rows)
    }

    async fn add_notifications(&self, notifications: Vec<Notification>) -> StoreResult<()> {
        if notifications.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        insert_notifications(&mut tx, &notifications).await?;
        tx.commit().await.map_err(err("committing notifications"))?;
        Ok(())
    }

    async fn notifications_of(
        &self,
        user_id: &str,
        unread_only: bool,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Notification>> {
        let unread = if unread_only { " AND read_at IS NULL" } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1{unread} \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading notifications"))?;
        rows.iter().map(notification_from).collect()
    }

    async fn notification(&self, user_id: &str, id: &str) -> StoreResult<Option<Notification>> {
        let row = sqlx::query(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading notification"))?;
        row.as_ref().map(notification_from).transpose()
    }

    async fn unread_notification_counts(&self, user_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT user_id, COUNT(*) AS n FROM notifications WHERE read_at IS NULL AND user_id IN (",
            );
            push_notify_list(&mut qb, chunk);
            qb.push(") GROUP BY user_id");
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("counting notifications"))?;
            let g = |e: sqlx::Error| backend_error("reading notification count", e);
            for r in rows {
                out.push((r.try_get("user_id").map_err(g)?, r.try_get::<i64, _>("n").map_err(g)?));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn mark_notifications_read(&self, user_id: &str, which: ReadSelector, at: Millis) -> StoreResult<u64> {
        let (column, values) = match &which {
            ReadSelector::All => (None, &[][..]),
            ReadSelector::Ids(ids) => (Some("id"), ids.as_slice()),
            ReadSelector::Sources(ids) => (Some("source_id"), ids.as_slice()),
        };
        if column.is_some() && values.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        let chunks: Vec<&[String]> = if column.is_some() { values.chunks(500).collect() } else { vec![values] };
        for chunk in chunks {
            let mut qb = QueryBuilder::<Db>::new("UPDATE notifications SET read_at = ");
            qb.push_bind(at)
                .push(" WHERE user_id = ")
                .push_bind(user_id.to_string())
                .push(" AND read_at IS NULL");
            if let Some(column) = column {
                qb.push(format!(" AND {column} IN ("));
                push_notify_list(&mut qb, chunk);
                qb.push(")");
            }
            changed += qb.build().execute(&mut *tx).await.map_err(err("marking notifications read"))?.rows_affected();
        }
        tx.commit().await.map_err(err("committing notification reads"))?;
        Ok(changed)
    }

    async fn notification_email(&self, user_id: &str) -> StoreResult<bool> {
        let on: Option<bool> = sqlx::query_scalar("SELECT email FROM notification_prefs WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading notification preference"))?;
        Ok(on.unwrap_or(false))
    }

    async fn set_notification_email(&self, user_id: &str, enabled: bool, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO notification_prefs (user_id, email, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(enabled)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing notification preference"))?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing notification preference"))?;
        Ok(())
    }

    async fn notification_email_users(&self, user_ids: &[String]) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new("SELECT user_id FROM notification_prefs WHERE email = TRUE AND user_id IN (");
            push_notify_list(&mut qb, chunk);
            qb.push(")");
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading notification preferences"))?;
            for r in rows {
                out.push(r.try_get("user_id").map_err(|e| backend_error("reading notification preference", e))?);
            }
        }
        out.sort();
        Ok(out)
    }
}
