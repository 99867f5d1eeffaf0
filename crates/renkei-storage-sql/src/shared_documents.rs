// Deliveries of documents between facilities (migration `0012_document_deliveries.sql`),
// shared by both backends like the rest. Deliveries are inserted by `f_write` in the
// transaction of the write that makes their document final.

use renkei_storage::documents::{DocumentDelivery, DocumentStore};

const DELIVERY_COLUMNS: &str =
    "id, document_id, person_id, from_facility_id, from_user_id, to_facility_id, sent_at, received_at, received_by";

fn delivery_from(r: &<Db as sqlx::Database>::Row) -> Result<DocumentDelivery, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading document delivery", e);
    Ok(DocumentDelivery {
        id: r.try_get("id").map_err(g)?,
        document_id: r.try_get("document_id").map_err(g)?,
        person_id: r.try_get("person_id").map_err(g)?,
        from_facility_id: r.try_get("from_facility_id").map_err(g)?,
        from_user_id: r.try_get("from_user_id").map_err(g)?,
        to_facility_id: r.try_get("to_facility_id").map_err(g)?,
        sent_at: r.try_get("sent_at").map_err(g)?,
        received_at: r.try_get("received_at").map_err(g)?,
        received_by: r.try_get("received_by").map_err(g)?,
    })
}

async fn insert_deliveries(conn: &mut Conn, deliveries: &[DocumentDelivery]) -> Result<(), StoreError> {
    // 9 binds a row; a document goes to a care team, far fewer than 200 facilities.
    for chunk in deliveries.chunks(200) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO document_deliveries ({DELIVERY_COLUMNS}) "));
        qb.push_values(chunk, |mut b, d| {
            b.push_bind(d.id.clone())
                .push_bind(d.document_id.clone())
                .push_bind(d.person_id.clone())
                .push_bind(d.from_facility_id.clone())
                .push_bind(d.from_user_id.clone())
                .push_bind(d.to_facility_id.clone())
                .push_bind(d.sent_at)
                .push_bind(d.received_at)
                .push_bind(d.received_by.clone());
        });
        qb.build().execute(&mut *conn).await.map_err(err("storing document deliveries"))?;
    }
    Ok(())
}

#[async_trait]
impl DocumentStore for SqlStore {
    async fn fhir_write_sending(
        &self,
        writes: Vec<renkei_storage::fhir::FhirWrite>,
        audit: Vec<AuditEntry>,
        deliveries: Vec<DocumentDelivery>,
    ) -> StoreResult<Vec<renkei_storage::fhir::FhirRow>> {
        self.f_write(writes, audit, Vec::new(), deliveries, None).await.map(|(rows, _)| rows)
    }

    async fn deliveries_of(&self, document_ids: &[String]) -> StoreResult<Vec<DocumentDelivery>> {
        let mut out = Vec::new();
        for chunk in document_ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {DELIVERY_COLUMNS} FROM document_deliveries WHERE document_id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.clone());
            }
            qb.push(") ORDER BY sent_at, id");
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading document deliveries"))?;
            for r in &rows {
                out.push(delivery_from(r)?);
            }
        }
        out.sort_by(|a, b| a.sent_at.cmp(&b.sent_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn deliveries_to(
        &self,
        facility_id: &str,
        pending_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<DocumentDelivery>> {
        let pending = if pending_only { " AND received_at IS NULL" } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM document_deliveries WHERE to_facility_id = $1{pending} \
             ORDER BY sent_at DESC, id DESC LIMIT $2"
        ))
        .bind(facility_id)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading document inbox"))?;
        rows.iter().map(delivery_from).collect()
    }

    async fn delivery(&self, id: &str) -> StoreResult<Option<DocumentDelivery>> {
        let row = sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM document_deliveries WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading document delivery"))?;
        row.as_ref().map(delivery_from).transpose()
    }

    async fn confirm_receipt(
        &self,
        delivery_id: &str,
        facility_id: &str,
        user_id: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE document_deliveries SET received_at = $1, received_by = $2 \
             WHERE id = $3 AND to_facility_id = $4 AND received_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .bind(delivery_id)
        .bind(facility_id)
        .execute(&mut *tx)
        .await
        .map_err(err("confirming receipt"))?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        append_audits_in(&mut tx, vec![audit], at).await?;
        tx.commit().await.map_err(err("committing receipt"))?;
        Ok(true)
    }
}
