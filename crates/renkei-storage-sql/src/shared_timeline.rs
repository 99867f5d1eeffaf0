// Read receipts of the care-team timeline (migration `0007_timeline_reads.sql`). The posts
// themselves are FHIR Communications in the resource store; unread counts join the two and
// apply the same scope filter as searches.
impl SqlStore {
    async fn t_mark_read(&self, user_id: &str, post_ids: &[String], at: Millis) -> StoreResult<()> {
        if post_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in post_ids.chunks(300) {
            let mut qb = QueryBuilder::<Db>::new("INSERT INTO timeline_reads (post_id, user_id, read_at) ");
            qb.push_values(chunk, |mut b, post| {
                b.push_bind(post.clone()).push_bind(user_id.to_string()).push_bind(at);
            });
            qb.push(" ON CONFLICT (post_id, user_id) DO NOTHING");
            qb.build().execute(&mut *tx).await.map_err(err("recording timeline reads"))?;
        }
        tx.commit().await.map_err(err("committing timeline reads"))?;
        Ok(())
    }

    async fn t_readers(&self, post_ids: &[String]) -> StoreResult<Vec<TimelineRead>> {
        let mut out = Vec::new();
        for chunk in post_ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT post_id, user_id, read_at FROM timeline_reads WHERE post_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.clone());
            }
            qb.push(")");
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading timeline reads"))?;
            let g = |e: sqlx::Error| backend_error("reading timeline read row", e);
            for r in rows {
                out.push(TimelineRead {
                    post_id: r.try_get("post_id").map_err(g)?,
                    user_id: r.try_get("user_id").map_err(g)?,
                    read_at: r.try_get("read_at").map_err(g)?,
                });
            }
        }
        out.sort_by(|a, b| a.read_at.cmp(&b.read_at).then_with(|| a.user_id.cmp(&b.user_id)));
        Ok(out)
    }

    async fn t_unread(
        &self,
        user_id: &str,
        person_ids: &[String],
        scope: &renkei_storage::fhir::FhirScope,
    ) -> StoreResult<Vec<(String, i64)>> {
        if person_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT COALESCE(p.merged_into, p.id) AS person, COUNT(*) AS n \
             FROM fhir_resources r \
             JOIN patient_records pr ON pr.id = r.patient_record_id \
             JOIN persons p ON p.id = pr.person_id \
             WHERE r.resource_type = 'Communication' AND r.deleted = FALSE AND r.patient_record_id IN (",
        );
        push_records_of_persons(&mut qb, person_ids);
        qb.push(") AND NOT EXISTS (SELECT 1 FROM timeline_reads t WHERE t.post_id = r.id AND t.user_id = ")
            .push_bind(user_id.to_string())
            .push(")");
        push_scope(&mut qb, "r", scope);
        qb.push(" GROUP BY COALESCE(p.merged_into, p.id)");
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("counting unread timeline posts"))?;
        let g = |e: sqlx::Error| backend_error("reading unread count", e);
        let mut out = Vec::new();
        for r in rows {
            out.push((r.try_get("person").map_err(g)?, r.try_get::<i64, _>("n").map_err(g)?));
        }
        out.sort();
        Ok(out)
    }
}
