// Tele-ICU storage (migration `0009_icu.sql`), shared by both backends like the rest.
// Monitor values arrive in batches (the ingest writer groups the messages of every
// connection), so inserts are multi-row statements in one transaction per batch.

use renkei_storage::icu::*;

const ICU_UNIT_COLUMNS: &str =
    "id, facility_id, centre_facility_id, code, name, kind, colour, sampling_seconds, active, updated_at";
const ICU_BED_COLUMNS: &str = "id, unit_id, facility_id, label, monitor_key, position, active, updated_at";
const ICU_STAY_COLUMNS: &str = "id, bed_id, facility_id, person_id, record_id, local_id, admitted_at, \
     admitted_by, details, is_test, discharged_at, discharged_by, discharge_summary";
const ICU_QUARANTINE_COLUMNS: &str = "id, received_at, facility_id, centre_facility_id, control_id, bed_key, \
     patient_key, reason, message, resolved_at, resolved_by, resolution";
const ICU_ALERT_COLUMNS: &str = "id, stay_id, facility_id, rule, severity, audience, text, value, raised_at, \
     acked_at, acked_by, ack_reason, snoozed_until, cleared_at";
/// Rows per multi-row INSERT (5–7 binds each; both backends allow far more binds).
const ICU_CHUNK: usize = 1000;
const HOUR_MILLIS: i64 = 3_600_000;

fn icu_unit_from(r: &<Db as sqlx::Database>::Row) -> Result<IcuUnit, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading ICU unit", e);
    Ok(IcuUnit {
        id: r.try_get("id").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        centre_facility_id: r.try_get("centre_facility_id").map_err(g)?,
        code: r.try_get("code").map_err(g)?,
        name: r.try_get("name").map_err(g)?,
        kind: r.try_get("kind").map_err(g)?,
        colour: r.try_get("colour").map_err(g)?,
        sampling_seconds: r.try_get("sampling_seconds").map_err(g)?,
        active: r.try_get("active").map_err(g)?,
        updated_at: r.try_get("updated_at").map_err(g)?,
    })
}

fn icu_bed_from(r: &<Db as sqlx::Database>::Row) -> Result<IcuBed, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading ICU bed", e);
    Ok(IcuBed {
        id: r.try_get("id").map_err(g)?,
        unit_id: r.try_get("unit_id").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        label: r.try_get("label").map_err(g)?,
        monitor_key: r.try_get("monitor_key").map_err(g)?,
        position: r.try_get("position").map_err(g)?,
        active: r.try_get("active").map_err(g)?,
        updated_at: r.try_get("updated_at").map_err(g)?,
    })
}

fn icu_stay_from(r: &<Db as sqlx::Database>::Row) -> Result<IcuStay, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading ICU stay", e);
    Ok(IcuStay {
        id: r.try_get("id").map_err(g)?,
        bed_id: r.try_get("bed_id").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        person_id: r.try_get("person_id").map_err(g)?,
        record_id: r.try_get("record_id").map_err(g)?,
        local_id: r.try_get("local_id").map_err(g)?,
        admitted_at: r.try_get("admitted_at").map_err(g)?,
        admitted_by: r.try_get("admitted_by").map_err(g)?,
        details: r.try_get("details").map_err(g)?,
        is_test: r.try_get("is_test").map_err(g)?,
        discharged_at: r.try_get("discharged_at").map_err(g)?,
        discharged_by: r.try_get("discharged_by").map_err(g)?,
        discharge_summary: r.try_get("discharge_summary").map_err(g)?,
    })
}

fn icu_value_from(r: &<Db as sqlx::Database>::Row, with_source: bool) -> Result<IcuValue, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading ICU value", e);
    Ok(IcuValue {
        stay_id: r.try_get("stay_id").map_err(g)?,
        item: r.try_get("item").map_err(g)?,
        at: r.try_get("at").map_err(g)?,
        value: r.try_get("value").map_err(g)?,
        source: if with_source { r.try_get("source").map_err(g)? } else { String::new() },
    })
}

fn icu_quarantined_from(r: &<Db as sqlx::Database>::Row) -> Result<IcuQuarantined, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading quarantined message", e);
    Ok(IcuQuarantined {
        id: r.try_get("id").map_err(g)?,
        received_at: r.try_get("received_at").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        centre_facility_id: r.try_get("centre_facility_id").map_err(g)?,
        control_id: r.try_get("control_id").map_err(g)?,
        bed_key: r.try_get("bed_key").map_err(g)?,
        patient_key: r.try_get("patient_key").map_err(g)?,
        reason: r.try_get("reason").map_err(g)?,
        message: r.try_get("message").map_err(g)?,
        resolved_at: r.try_get("resolved_at").map_err(g)?,
        resolved_by: r.try_get("resolved_by").map_err(g)?,
        resolution: r.try_get("resolution").map_err(g)?,
    })
}

fn icu_alert_from(r: &<Db as sqlx::Database>::Row) -> Result<IcuAlert, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading ICU alert", e);
    Ok(IcuAlert {
        id: r.try_get("id").map_err(g)?,
        stay_id: r.try_get("stay_id").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        rule: r.try_get("rule").map_err(g)?,
        severity: r.try_get("severity").map_err(g)?,
        audience: r.try_get("audience").map_err(g)?,
        text: r.try_get("text").map_err(g)?,
        value: r.try_get("value").map_err(g)?,
        raised_at: r.try_get("raised_at").map_err(g)?,
        acked_at: r.try_get("acked_at").map_err(g)?,
        acked_by: r.try_get("acked_by").map_err(g)?,
        ack_reason: r.try_get("ack_reason").map_err(g)?,
        snoozed_until: r.try_get("snoozed_until").map_err(g)?,
        cleared_at: r.try_get("cleared_at").map_err(g)?,
    })
}

/// Inserts values (a value already stored for the same stay, item and time stays as it
/// was) and moves each item's newest value forward.
async fn icu_insert_values(conn: &mut Conn, values: &[&IcuValue]) -> Result<(), StoreError> {
    for chunk in values.chunks(ICU_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO icu_observations (stay_id, item, at, value, source) ");
        qb.push_values(chunk, |mut b, v| {
            b.push_bind(v.stay_id.as_str())
                .push_bind(v.item.as_str())
                .push_bind(v.at)
                .push_bind(v.value)
                .push_bind(v.source.as_str());
        });
        qb.push(" ON CONFLICT (stay_id, item, at) DO NOTHING");
        qb.build().execute(&mut *conn).await.map_err(err("storing ICU values"))?;
    }
    // PostgreSQL refuses an upsert that touches one row twice: newest value per key only.
    let mut newest: std::collections::HashMap<(&str, &str), &IcuValue> = std::collections::HashMap::new();
    for v in values {
        let key = (v.stay_id.as_str(), v.item.as_str());
        match newest.get(&key) {
            Some(seen) if seen.at >= v.at => {}
            _ => {
                newest.insert(key, v);
            }
        }
    }
    let mut newest: Vec<&IcuValue> = newest.into_values().collect();
    newest.sort_by(|a, b| (a.stay_id.as_str(), a.item.as_str()).cmp(&(b.stay_id.as_str(), b.item.as_str())));
    for chunk in newest.chunks(ICU_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO icu_latest (stay_id, item, at, value) ");
        qb.push_values(chunk, |mut b, v| {
            b.push_bind(v.stay_id.as_str())
                .push_bind(v.item.as_str())
                .push_bind(v.at)
                .push_bind(v.value);
        });
        // Out-of-order arrivals never move the newest value back.
        qb.push(
            " ON CONFLICT (stay_id, item) DO UPDATE SET at = excluded.at, value = excluded.value \
             WHERE excluded.at >= icu_latest.at",
        );
        qb.build().execute(&mut *conn).await.map_err(err("updating newest ICU values"))?;
    }
    Ok(())
}

async fn icu_apply_alerts_in(conn: &mut Conn, alerts: &IcuAlertChanges) -> Result<usize, StoreError> {
    let mut changed = 0usize;
    for (stay_id, rule, at) in &alerts.clear {
        let done = sqlx::query(
            "UPDATE icu_alerts SET cleared_at = $1 WHERE stay_id = $2 AND rule = $3 AND cleared_at IS NULL",
        )
        .bind(*at)
        .bind(stay_id)
        .bind(rule)
        .execute(&mut *conn)
        .await
        .map_err(err("clearing ICU alert"))?;
        changed += done.rows_affected() as usize;
    }
    for a in &alerts.raise {
        let sql = format!(
            "INSERT INTO icu_alerts ({ICU_ALERT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL, NULL, NULL) ON CONFLICT DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(&a.id)
            .bind(&a.stay_id)
            .bind(&a.facility_id)
            .bind(&a.rule)
            .bind(&a.severity)
            .bind(&a.audience)
            .bind(&a.text)
            .bind(a.value)
            .bind(a.raised_at)
            .execute(&mut *conn)
            .await
            .map_err(err("raising ICU alert"))?;
        changed += done.rows_affected() as usize;
    }
    Ok(changed)
}

async fn icu_insert_quarantine(conn: &mut Conn, q: &IcuQuarantined) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO icu_quarantine ({ICU_QUARANTINE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL)"
    );
    sqlx::query(&sql)
        .bind(&q.id)
        .bind(q.received_at)
        .bind(&q.facility_id)
        .bind(&q.centre_facility_id)
        .bind(&q.control_id)
        .bind(&q.bed_key)
        .bind(&q.patient_key)
        .bind(&q.reason)
        .bind(&q.message)
        .execute(&mut *conn)
        .await
        .map_err(err("quarantining ICU message"))?;
    Ok(())
}

fn push_in_list<'a>(qb: &mut QueryBuilder<'a, Db>, ids: &'a [String]) {
    qb.push("(");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id.as_str());
    }
    qb.push(")");
}

#[async_trait]
impl IcuStore for SqlStore {
    async fn icu_put_unit(&self, unit: IcuUnit, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO icu_units ({ICU_UNIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET centre_facility_id = excluded.centre_facility_id, code = excluded.code, \
             name = excluded.name, kind = excluded.kind, colour = excluded.colour, \
             sampling_seconds = excluded.sampling_seconds, active = excluded.active, updated_at = excluded.updated_at"
        );
        sqlx::query(&sql)
            .bind(&unit.id)
            .bind(&unit.facility_id)
            .bind(&unit.centre_facility_id)
            .bind(&unit.code)
            .bind(&unit.name)
            .bind(&unit.kind)
            .bind(&unit.colour)
            .bind(unit.sampling_seconds)
            .bind(unit.active)
            .bind(unit.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match backend_error("storing ICU unit", e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("unit code {} is already used in this facility", unit.code))
                }
                other => other,
            })?;
        append_audit_in(&mut tx, audit, unit.updated_at).await?;
        tx.commit().await.map_err(err("committing ICU unit"))?;
        Ok(())
    }

    async fn icu_put_bed(&self, bed: IcuBed, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO icu_beds ({ICU_BED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET label = excluded.label, monitor_key = excluded.monitor_key, \
             position = excluded.position, active = excluded.active, updated_at = excluded.updated_at"
        );
        sqlx::query(&sql)
            .bind(&bed.id)
            .bind(&bed.unit_id)
            .bind(&bed.facility_id)
            .bind(&bed.label)
            .bind(&bed.monitor_key)
            .bind(bed.position)
            .bind(bed.active)
            .bind(bed.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match backend_error("storing ICU bed", e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "bed label {} or monitor key {} is already used",
                    bed.label, bed.monitor_key
                )),
                other => other,
            })?;
        append_audit_in(&mut tx, audit, bed.updated_at).await?;
        tx.commit().await.map_err(err("committing ICU bed"))?;
        Ok(())
    }

    async fn icu_units(&self) -> StoreResult<Vec<IcuUnit>> {
        let sql = format!("SELECT {ICU_UNIT_COLUMNS} FROM icu_units ORDER BY facility_id, code");
        let rows = sqlx::query(&sql).fetch_all(self.read_pool()).await.map_err(err("listing ICU units"))?;
        rows.iter().map(icu_unit_from).collect()
    }

    async fn icu_beds(&self) -> StoreResult<Vec<IcuBed>> {
        let sql = format!("SELECT {ICU_BED_COLUMNS} FROM icu_beds ORDER BY unit_id, position, label");
        let rows = sqlx::query(&sql).fetch_all(self.read_pool()).await.map_err(err("listing ICU beds"))?;
        rows.iter().map(icu_bed_from).collect()
    }

    async fn icu_replace_code_map(
        &self,
        source: &str,
        rows: Vec<IcuCodeMapRow>,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM icu_code_maps WHERE source = $1")
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(err("replacing code map"))?;
        for chunk in rows.chunks(ICU_CHUNK) {
            let mut qb =
                QueryBuilder::<Db>::new("INSERT INTO icu_code_maps (source, code, item, unit, factor, offset_value) ");
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(source)
                    .push_bind(r.code.as_str())
                    .push_bind(r.item.as_str())
                    .push_bind(r.unit.as_str())
                    .push_bind(r.factor)
                    .push_bind(r.offset);
            });
            qb.build().execute(&mut *tx).await.map_err(|e| match backend_error("storing code map", e) {
                StoreError::Conflict(_) => StoreError::Conflict("the table maps one code and unit twice".into()),
                other => other,
            })?;
        }
        append_audit_in(&mut tx, audit, renkei_domain::now_millis()).await?;
        tx.commit().await.map_err(err("committing code map"))?;
        Ok(())
    }

    async fn icu_code_maps(&self) -> StoreResult<Vec<IcuCodeMapRow>> {
        let rows = sqlx::query(
            "SELECT source, code, item, unit, factor, offset_value FROM icu_code_maps ORDER BY source, code, unit",
        )
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading code maps"))?;
        let g = |e: sqlx::Error| backend_error("reading code map row", e);
        rows.iter()
            .map(|r| {
                Ok(IcuCodeMapRow {
                    source: r.try_get("source").map_err(g)?,
                    code: r.try_get("code").map_err(g)?,
                    item: r.try_get("item").map_err(g)?,
                    unit: r.try_get("unit").map_err(g)?,
                    factor: r.try_get("factor").map_err(g)?,
                    offset: r.try_get("offset_value").map_err(g)?,
                })
            })
            .collect()
    }

    async fn icu_admit(&self, stay: IcuStay, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO icu_stays ({ICU_STAY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL)"
        );
        sqlx::query(&sql)
            .bind(&stay.id)
            .bind(&stay.bed_id)
            .bind(&stay.facility_id)
            .bind(&stay.person_id)
            .bind(&stay.record_id)
            .bind(&stay.local_id)
            .bind(stay.admitted_at)
            .bind(&stay.admitted_by)
            .bind(&stay.details)
            .bind(stay.is_test)
            .execute(&mut *tx)
            .await
            .map_err(|e| match backend_error("admitting ICU patient", e) {
                StoreError::Conflict(_) => StoreError::Conflict("the bed already has an admitted patient".into()),
                other => other,
            })?;
        append_audit_in(&mut tx, audit, stay.admitted_at).await?;
        tx.commit().await.map_err(err("committing ICU admission"))?;
        Ok(())
    }

    async fn icu_discharge(
        &self,
        stay_id: &str,
        at: Millis,
        by_user: &str,
        summary: &str,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE icu_stays SET discharged_at = $1, discharged_by = $2, discharge_summary = $3 \
             WHERE id = $4 AND discharged_at IS NULL",
        )
        .bind(at)
        .bind(by_user)
        .bind(summary)
        .bind(stay_id)
        .execute(&mut *tx)
        .await
        .map_err(err("discharging ICU patient"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState("the stay is not open".into()));
        }
        // Open alerts of a discharged stay have nobody left to act on them.
        sqlx::query("UPDATE icu_alerts SET cleared_at = $1 WHERE stay_id = $2 AND cleared_at IS NULL")
            .bind(at)
            .bind(stay_id)
            .execute(&mut *tx)
            .await
            .map_err(err("clearing alerts of a discharged stay"))?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing ICU discharge"))?;
        Ok(())
    }

    async fn icu_stay(&self, stay_id: &str) -> StoreResult<Option<IcuStay>> {
        let sql = format!("SELECT {ICU_STAY_COLUMNS} FROM icu_stays WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(stay_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading ICU stay"))?;
        row.as_ref().map(icu_stay_from).transpose()
    }

    async fn icu_open_stays(&self) -> StoreResult<Vec<IcuStay>> {
        let sql = format!("SELECT {ICU_STAY_COLUMNS} FROM icu_stays WHERE discharged_at IS NULL");
        let rows = sqlx::query(&sql).fetch_all(self.read_pool()).await.map_err(err("listing open ICU stays"))?;
        rows.iter().map(icu_stay_from).collect()
    }

    async fn icu_stays_of_bed(&self, bed_id: &str, limit: i64) -> StoreResult<Vec<IcuStay>> {
        let sql = format!(
            "SELECT {ICU_STAY_COLUMNS} FROM icu_stays WHERE bed_id = $1 ORDER BY admitted_at DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(bed_id)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("listing ICU stays of a bed"))?;
        rows.iter().map(icu_stay_from).collect()
    }

    async fn icu_ingest(
        &self,
        batch: Vec<IcuIncoming>,
        alerts: IcuAlertChanges,
        audit: AuditEntry,
    ) -> StoreResult<Vec<IcuIngested>> {
        let mut tx = self.begin_write().await?;
        // Which messages are new: the message table's key decides, also between nodes.
        let mut fresh: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
        for chunk in batch.chunks(ICU_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("INSERT INTO icu_messages (facility_id, control_id, received_at) ");
            qb.push_values(chunk, |mut b, m| {
                b.push_bind(m.facility_id.as_str())
                    .push_bind(m.control_id.as_str())
                    .push_bind(m.received_at);
            });
            qb.push(" ON CONFLICT (facility_id, control_id) DO NOTHING RETURNING facility_id, control_id");
            let rows = qb.build().fetch_all(&mut *tx).await.map_err(err("recording ICU messages"))?;
            for r in rows {
                let f: String = r.try_get("facility_id").map_err(err("reading message key"))?;
                let c: String = r.try_get("control_id").map_err(err("reading message key"))?;
                fresh.insert((f, c));
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut values: Vec<&IcuValue> = Vec::new();
        for m in &batch {
            // The first occurrence in the batch takes the key; a repeat is a duplicate.
            if !fresh.remove(&(m.facility_id.clone(), m.control_id.clone())) {
                results.push(IcuIngested::Duplicate);
                continue;
            }
            match &m.disposition {
                IcuDisposition::Store { values: v, .. } => {
                    values.extend(v.iter());
                    results.push(IcuIngested::Stored);
                }
                IcuDisposition::Quarantine(q) => {
                    icu_insert_quarantine(&mut tx, q).await?;
                    results.push(IcuIngested::Quarantined);
                }
            }
        }
        icu_insert_values(&mut tx, &values).await?;
        icu_apply_alerts_in(&mut tx, &alerts).await?;
        append_audit_in(&mut tx, audit, renkei_domain::now_millis()).await?;
        tx.commit().await.map_err(err("committing ICU batch"))?;
        Ok(results)
    }

    async fn icu_record_values(
        &self,
        values: Vec<IcuValue>,
        alerts: IcuAlertChanges,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // A manual entry corrects: the value given for a time replaces what was stored.
        for v in &values {
            sqlx::query("DELETE FROM icu_observations WHERE stay_id = $1 AND item = $2 AND at = $3")
                .bind(&v.stay_id)
                .bind(&v.item)
                .bind(v.at)
                .execute(&mut *tx)
                .await
                .map_err(err("replacing ICU value"))?;
        }
        let refs: Vec<&IcuValue> = values.iter().collect();
        icu_insert_values(&mut tx, &refs).await?;
        icu_apply_alerts_in(&mut tx, &alerts).await?;
        append_audit_in(&mut tx, audit, renkei_domain::now_millis()).await?;
        tx.commit().await.map_err(err("committing ICU values"))?;
        Ok(())
    }

    async fn icu_latest(&self, stay_ids: &[String]) -> StoreResult<Vec<IcuValue>> {
        let mut out = Vec::new();
        for chunk in stay_ids.chunks(ICU_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("SELECT stay_id, item, at, value FROM icu_latest WHERE stay_id IN ");
            push_in_list(&mut qb, chunk);
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading newest ICU values"))?;
            for r in &rows {
                out.push(icu_value_from(r, false)?);
            }
        }
        Ok(out)
    }

    async fn icu_values(
        &self,
        stay_id: &str,
        items: &[String],
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<IcuValue>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT stay_id, item, at, value, source FROM icu_observations WHERE stay_id = ");
        qb.push_bind(stay_id);
        if !items.is_empty() {
            qb.push(" AND item IN ");
            push_in_list(&mut qb, items);
        }
        qb.push(" AND at >= ").push_bind(from).push(" AND at <= ").push_bind(to);
        qb.push(" ORDER BY at, item");
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading ICU values"))?;
        rows.iter().map(|r| icu_value_from(r, true)).collect()
    }

    async fn icu_hourly(&self, stay_id: &str, from: Millis, to: Millis) -> StoreResult<Vec<IcuHourly>> {
        let rows = sqlx::query(
            "SELECT stay_id, item, hour, n, min_value, max_value, sum_value FROM icu_hourly \
             WHERE stay_id = $1 AND hour >= $2 AND hour <= $3 ORDER BY hour, item",
        )
        .bind(stay_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading hourly ICU values"))?;
        let g = |e: sqlx::Error| backend_error("reading hourly ICU row", e);
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n").map_err(g)?;
                let sum: f64 = r.try_get("sum_value").map_err(g)?;
                Ok(IcuHourly {
                    stay_id: r.try_get("stay_id").map_err(g)?,
                    item: r.try_get("item").map_err(g)?,
                    hour: r.try_get("hour").map_err(g)?,
                    n,
                    min: r.try_get("min_value").map_err(g)?,
                    max: r.try_get("max_value").map_err(g)?,
                    mean: if n > 0 { sum / n as f64 } else { 0.0 },
                })
            })
            .collect()
    }

    async fn icu_compact(&self, raw_before: Millis, messages_before: Millis) -> StoreResult<IcuCompaction> {
        // Only complete hours are summarised, so a summary never misses later values.
        let cut = raw_before.div_euclid(HOUR_MILLIS) * HOUR_MILLIS;
        let mut tx = self.begin_write().await?;
        let summarised = sqlx::query(
            "INSERT INTO icu_hourly (stay_id, item, hour, n, min_value, max_value, sum_value) \
             SELECT stay_id, item, (at / 3600000) * 3600000, COUNT(*), MIN(value), MAX(value), SUM(value) \
             FROM icu_observations WHERE at < $1 GROUP BY stay_id, item, (at / 3600000) * 3600000 \
             ON CONFLICT (stay_id, item, hour) DO UPDATE SET n = icu_hourly.n + excluded.n, \
             min_value = CASE WHEN excluded.min_value < icu_hourly.min_value THEN excluded.min_value ELSE icu_hourly.min_value END, \
             max_value = CASE WHEN excluded.max_value > icu_hourly.max_value THEN excluded.max_value ELSE icu_hourly.max_value END, \
             sum_value = icu_hourly.sum_value + excluded.sum_value",
        )
        .bind(cut)
        .execute(&mut *tx)
        .await
        .map_err(err("summarising ICU hours"))?
        .rows_affected();
        let deleted = sqlx::query("DELETE FROM icu_observations WHERE at < $1")
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(err("deleting summarised ICU values"))?
            .rows_affected();
        let forgotten = sqlx::query("DELETE FROM icu_messages WHERE received_at < $1")
            .bind(messages_before)
            .execute(&mut *tx)
            .await
            .map_err(err("forgetting old ICU message ids"))?
            .rows_affected();
        tx.commit().await.map_err(err("committing ICU compaction"))?;
        Ok(IcuCompaction {
            hours_summarised: summarised,
            values_deleted: deleted,
            messages_forgotten: forgotten,
        })
    }

    async fn icu_quarantine(&self, open_only: bool, limit: i64) -> StoreResult<Vec<IcuQuarantined>> {
        let sql = format!(
            "SELECT {ICU_QUARANTINE_COLUMNS} FROM icu_quarantine {} ORDER BY received_at DESC LIMIT $1",
            if open_only { "WHERE resolved_at IS NULL" } else { "" }
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("listing quarantined messages"))?;
        rows.iter().map(icu_quarantined_from).collect()
    }

    async fn icu_resolve_quarantine(
        &self,
        id: &str,
        by_user: &str,
        resolution: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE icu_quarantine SET resolved_at = $1, resolved_by = $2, resolution = $3 \
             WHERE id = $4 AND resolved_at IS NULL",
        )
        .bind(at)
        .bind(by_user)
        .bind(resolution)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err("resolving quarantined message"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState("the message is not waiting for review".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing quarantine review"))?;
        Ok(())
    }

    async fn icu_open_alerts(&self) -> StoreResult<Vec<IcuAlert>> {
        let sql = format!(
            "SELECT {ICU_ALERT_COLUMNS} FROM icu_alerts WHERE cleared_at IS NULL ORDER BY raised_at DESC"
        );
        let rows = sqlx::query(&sql).fetch_all(self.read_pool()).await.map_err(err("listing ICU alerts"))?;
        rows.iter().map(icu_alert_from).collect()
    }

    async fn icu_alert_log(&self, since: Millis, limit: i64) -> StoreResult<Vec<IcuAlert>> {
        let sql = format!(
            "SELECT {ICU_ALERT_COLUMNS} FROM icu_alerts WHERE raised_at >= $1 ORDER BY raised_at DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(since)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("reading the ICU alert log"))?;
        rows.iter().map(icu_alert_from).collect()
    }

    async fn icu_get_alert(&self, id: &str) -> StoreResult<Option<IcuAlert>> {
        let sql = format!("SELECT {ICU_ALERT_COLUMNS} FROM icu_alerts WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading ICU alert"))?;
        row.as_ref().map(icu_alert_from).transpose()
    }

    async fn icu_ack_alert(
        &self,
        id: &str,
        by_user: &str,
        reason: &str,
        snoozed_until: Option<Millis>,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE icu_alerts SET acked_at = $1, acked_by = $2, ack_reason = $3, snoozed_until = $4 \
             WHERE id = $5 AND cleared_at IS NULL",
        )
        .bind(at)
        .bind(by_user)
        .bind(reason)
        .bind(snoozed_until)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err("acknowledging ICU alert"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState("the alert is no longer open".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing alert acknowledgement"))?;
        Ok(())
    }

    async fn icu_apply_alerts(&self, alerts: IcuAlertChanges, audit: AuditEntry) -> StoreResult<usize> {
        let mut tx = self.begin_write().await?;
        let changed = icu_apply_alerts_in(&mut tx, &alerts).await?;
        if changed > 0 {
            append_audit_in(&mut tx, audit, renkei_domain::now_millis()).await?;
        }
        tx.commit().await.map_err(err("committing ICU alerts"))?;
        Ok(changed)
    }

    async fn icu_add_round(&self, round: IcuRound, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO icu_rounds (id, stay_id, day, role, by_user, at, checklist, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&round.id)
        .bind(&round.stay_id)
        .bind(&round.day)
        .bind(&round.role)
        .bind(&round.by_user)
        .bind(round.at)
        .bind(&round.checklist)
        .bind(&round.note)
        .execute(&mut *tx)
        .await
        .map_err(err("recording ICU round"))?;
        append_audit_in(&mut tx, audit, round.at).await?;
        tx.commit().await.map_err(err("committing ICU round"))?;
        Ok(())
    }

    async fn icu_rounds(&self, stay_id: &str) -> StoreResult<Vec<IcuRound>> {
        let rows = sqlx::query(
            "SELECT id, stay_id, day, role, by_user, at, checklist, note FROM icu_rounds \
             WHERE stay_id = $1 ORDER BY at DESC",
        )
        .bind(stay_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("listing ICU rounds"))?;
        let g = |e: sqlx::Error| backend_error("reading ICU round", e);
        rows.iter()
            .map(|r| {
                Ok(IcuRound {
                    id: r.try_get("id").map_err(g)?,
                    stay_id: r.try_get("stay_id").map_err(g)?,
                    day: r.try_get("day").map_err(g)?,
                    role: r.try_get("role").map_err(g)?,
                    by_user: r.try_get("by_user").map_err(g)?,
                    at: r.try_get("at").map_err(g)?,
                    checklist: r.try_get("checklist").map_err(g)?,
                    note: r.try_get("note").map_err(g)?,
                })
            })
            .collect()
    }

    async fn icu_open_call(&self, call: IcuCall, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO icu_calls (id, stay_id, direction, reason, advice, outcome, opened_by, opened_at, \
             closed_by, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
        )
        .bind(&call.id)
        .bind(&call.stay_id)
        .bind(&call.direction)
        .bind(&call.reason)
        .bind(&call.advice)
        .bind(&call.outcome)
        .bind(&call.opened_by)
        .bind(call.opened_at)
        .execute(&mut *tx)
        .await
        .map_err(err("recording ICU call"))?;
        append_audit_in(&mut tx, audit, call.opened_at).await?;
        tx.commit().await.map_err(err("committing ICU call"))?;
        Ok(())
    }

    async fn icu_close_call(
        &self,
        call_id: &str,
        advice: &str,
        outcome: &str,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE icu_calls SET advice = $1, outcome = $2, closed_by = $3, closed_at = $4 \
             WHERE id = $5 AND closed_at IS NULL",
        )
        .bind(advice)
        .bind(outcome)
        .bind(by_user)
        .bind(at)
        .bind(call_id)
        .execute(&mut *tx)
        .await
        .map_err(err("closing ICU call"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState("the call is closed already".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing ICU call"))?;
        Ok(())
    }

    async fn icu_calls(&self, stay_ids: &[String], limit: i64) -> StoreResult<Vec<IcuCall>> {
        if stay_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT id, stay_id, direction, reason, advice, outcome, opened_by, opened_at, closed_by, closed_at \
             FROM icu_calls WHERE stay_id IN ",
        );
        push_in_list(&mut qb, stay_ids);
        qb.push(" ORDER BY opened_at DESC LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("listing ICU calls"))?;
        let g = |e: sqlx::Error| backend_error("reading ICU call", e);
        rows.iter()
            .map(|r| {
                Ok(IcuCall {
                    id: r.try_get("id").map_err(g)?,
                    stay_id: r.try_get("stay_id").map_err(g)?,
                    direction: r.try_get("direction").map_err(g)?,
                    reason: r.try_get("reason").map_err(g)?,
                    advice: r.try_get("advice").map_err(g)?,
                    outcome: r.try_get("outcome").map_err(g)?,
                    opened_by: r.try_get("opened_by").map_err(g)?,
                    opened_at: r.try_get("opened_at").map_err(g)?,
                    closed_by: r.try_get("closed_by").map_err(g)?,
                    closed_at: r.try_get("closed_at").map_err(g)?,
                })
            })
            .collect()
    }

    async fn icu_erase_test_stays(&self, audit: AuditEntry) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        for table in ["icu_observations", "icu_latest", "icu_hourly", "icu_alerts", "icu_rounds", "icu_calls"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE stay_id IN (SELECT id FROM icu_stays WHERE is_test)"
            ))
            .execute(&mut *tx)
            .await
            .map_err(err("erasing ICU test data"))?;
        }
        let erased = sqlx::query("DELETE FROM icu_stays WHERE is_test")
            .execute(&mut *tx)
            .await
            .map_err(err("erasing ICU test stays"))?
            .rows_affected();
        append_audit_in(&mut tx, audit, renkei_domain::now_millis()).await?;
        tx.commit().await.map_err(err("committing ICU test-data erasure"))?;
        Ok(erased)
    }
}
