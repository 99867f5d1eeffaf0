// Home-care group cover (migration `0014_cover_groups.sql`), shared by both backends like the
// rest. The access side is in `p_access_facts` (`COVERING_SHIFT`).

use renkei_storage::cover::{member_status, CoverGroup, CoverMember, CoverShift, CoverStore, CoveredChoice};
// `Notification` and `insert_notifications` come from `shared_notifications.rs`, included
// into the same module.

const COVER_GROUP_COLUMNS: &str = "g.id, g.name, g.description, g.owner_facility_id, g.created_by, g.created_at";
const COVER_MEMBER_COLUMNS: &str = "m.group_id, m.facility_id, m.status, m.covers_all, m.invited_by_user, m.updated_at";
const COVER_SHIFT_COLUMNS: &str = "s.id, s.group_id, s.facility_id, s.on_call, s.starts_at, s.ends_at, s.created_by, s.created_at";

fn cover_group_from(r: &<Db as sqlx::Database>::Row) -> Result<CoverGroup, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading cover group", e);
    Ok(CoverGroup {
        id: r.try_get("id").map_err(g)?,
        name: r.try_get("name").map_err(g)?,
        description: r.try_get("description").map_err(g)?,
        owner_facility_id: r.try_get("owner_facility_id").map_err(g)?,
        created_by: r.try_get("created_by").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
    })
}

fn cover_member_from(r: &<Db as sqlx::Database>::Row) -> Result<CoverMember, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading cover group member", e);
    Ok(CoverMember {
        group_id: r.try_get("group_id").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        status: r.try_get("status").map_err(g)?,
        covers_all: r.try_get("covers_all").map_err(g)?,
        invited_by_user: r.try_get("invited_by_user").map_err(g)?,
        updated_at: r.try_get("updated_at").map_err(g)?,
    })
}

fn cover_shift_from(r: &<Db as sqlx::Database>::Row) -> Result<CoverShift, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading cover shift", e);
    Ok(CoverShift {
        id: r.try_get("id").map_err(g)?,
        group_id: r.try_get("group_id").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        on_call: r.try_get("on_call").map_err(g)?,
        starts_at: r.try_get("starts_at").map_err(g)?,
        ends_at: r.try_get("ends_at").map_err(g)?,
        created_by: r.try_get("created_by").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
    })
}

/// Locks the group (PostgreSQL) so rota and membership changes of one group are serial; the
/// group must exist.
async fn lock_cover_group(conn: &mut Conn, group_id: &str) -> Result<(), StoreError> {
    let found: Option<String> = sqlx::query_scalar(LOCK_COVER_GROUP)
        .bind(group_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("locking cover group"))?;
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("cover group {group_id}")))
}

async fn cover_member_status(conn: &mut Conn, group_id: &str, facility_id: &str) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT status FROM cover_group_members WHERE group_id = $1 AND facility_id = $2")
        .bind(group_id)
        .bind(facility_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading cover group member"))
}

#[async_trait]
impl CoverStore for SqlStore {
    async fn create_cover_group(&self, group: CoverGroup, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO cover_groups (id, name, description, owner_facility_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&group.id)
        .bind(&group.name)
        .bind(&group.description)
        .bind(&group.owner_facility_id)
        .bind(&group.created_by)
        .bind(group.created_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing cover group"))?;
        sqlx::query(
            "INSERT INTO cover_group_members (group_id, facility_id, status, covers_all, invited_by_user, created_at, updated_at) \
             VALUES ($1, $2, 'active', FALSE, NULL, $3, $3)",
        )
        .bind(&group.id)
        .bind(&group.owner_facility_id)
        .bind(group.created_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing cover group member"))?;
        append_audit_in(&mut tx, audit, group.created_at).await?;
        tx.commit().await.map_err(err("committing cover group"))?;
        Ok(())
    }

    async fn cover_group(&self, id: &str) -> StoreResult<Option<CoverGroup>> {
        let row = sqlx::query(&format!("SELECT {COVER_GROUP_COLUMNS} FROM cover_groups g WHERE g.id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading cover group"))?;
        row.as_ref().map(cover_group_from).transpose()
    }

    async fn cover_groups_of(&self, facility_id: &str) -> StoreResult<Vec<(CoverGroup, CoverMember)>> {
        let rows = sqlx::query(&format!(
            "SELECT {COVER_GROUP_COLUMNS}, {COVER_MEMBER_COLUMNS} FROM cover_group_members m \
             JOIN cover_groups g ON g.id = m.group_id WHERE m.facility_id = $1 ORDER BY g.name, g.id"
        ))
        .bind(facility_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading cover groups"))?;
        rows.iter().map(|r| Ok((cover_group_from(r)?, cover_member_from(r)?))).collect()
    }

    async fn cover_members(&self, group_id: &str) -> StoreResult<Vec<CoverMember>> {
        let rows = sqlx::query(&format!(
            "SELECT {COVER_MEMBER_COLUMNS} FROM cover_group_members m WHERE m.group_id = $1 \
             ORDER BY m.created_at, m.facility_id"
        ))
        .bind(group_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading cover group members"))?;
        rows.iter().map(cover_member_from).collect()
    }

    async fn invite_to_cover_group(
        &self,
        group_id: &str,
        facility_id: &str,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
        notifications: Vec<Notification>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_cover_group(&mut tx, group_id).await?;
        match cover_member_status(&mut tx, group_id, facility_id).await?.as_deref() {
            Some(member_status::ACTIVE) | Some(member_status::INVITED) => {
                return Err(StoreError::Conflict("the facility is already invited or a member".into()));
            }
            Some(_) => {
                // Declined, left or removed earlier: a new invitation.
                sqlx::query(
                    "UPDATE cover_group_members SET status = 'invited', invited_by_user = $3, updated_at = $4 \
                     WHERE group_id = $1 AND facility_id = $2",
                )
                .bind(group_id)
                .bind(facility_id)
                .bind(by_user)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(err("inviting to cover group"))?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO cover_group_members (group_id, facility_id, status, covers_all, invited_by_user, created_at, updated_at) \
                     VALUES ($1, $2, 'invited', FALSE, $3, $4, $4)",
                )
                .bind(group_id)
                .bind(facility_id)
                .bind(by_user)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(err("inviting to cover group"))?;
            }
        }
        insert_notifications(&mut tx, &notifications).await?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing cover invitation"))?;
        Ok(())
    }

    async fn answer_cover_invitation(
        &self,
        group_id: &str,
        facility_id: &str,
        accept: bool,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_cover_group(&mut tx, group_id).await?;
        let changed = sqlx::query(
            "UPDATE cover_group_members SET status = $3, updated_at = $4 \
             WHERE group_id = $1 AND facility_id = $2 AND status = 'invited'",
        )
        .bind(group_id)
        .bind(facility_id)
        .bind(if accept { member_status::ACTIVE } else { member_status::DECLINED })
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(err("answering cover invitation"))?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::InvalidState("no open invitation".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing cover answer"))?;
        Ok(())
    }

    async fn end_cover_membership(
        &self,
        group_id: &str,
        facility_id: &str,
        status: &str,
        at: Millis,
        audit: AuditEntry,
        notifications: Vec<Notification>,
    ) -> StoreResult<()> {
        if status != member_status::LEFT && status != member_status::REMOVED {
            return Err(StoreError::InvalidState(format!("cannot end a membership as {status}")));
        }
        let mut tx = self.begin_write().await?;
        lock_cover_group(&mut tx, group_id).await?;
        let changed = sqlx::query(
            "UPDATE cover_group_members SET status = $3, updated_at = $4 \
             WHERE group_id = $1 AND facility_id = $2 AND status IN ('active', 'invited')",
        )
        .bind(group_id)
        .bind(facility_id)
        .bind(status)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(err("ending cover membership"))?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::InvalidState("not a member".into()));
        }
        // Its rota ends with it: future shifts go, a shift under way stops now.
        sqlx::query("DELETE FROM cover_shifts WHERE group_id = $1 AND facility_id = $2 AND starts_at > $3")
            .bind(group_id)
            .bind(facility_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(err("ending cover shifts"))?;
        sqlx::query("UPDATE cover_shifts SET ends_at = $3 WHERE group_id = $1 AND facility_id = $2 AND ends_at > $3")
            .bind(group_id)
            .bind(facility_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(err("ending cover shifts"))?;
        insert_notifications(&mut tx, &notifications).await?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing cover membership end"))?;
        Ok(())
    }

    async fn add_cover_shift(
        &self,
        shift: CoverShift,
        audit: AuditEntry,
        notifications: Vec<Notification>,
    ) -> StoreResult<()> {
        if shift.ends_at <= shift.starts_at {
            return Err(StoreError::InvalidState("a shift must end after it starts".into()));
        }
        let mut tx = self.begin_write().await?;
        lock_cover_group(&mut tx, &shift.group_id).await?;
        if cover_member_status(&mut tx, &shift.group_id, &shift.facility_id).await?.as_deref() != Some(member_status::ACTIVE) {
            return Err(StoreError::InvalidState("the covering facility is not a member".into()));
        }
        let overlapping: Option<String> = sqlx::query_scalar(
            "SELECT id FROM cover_shifts WHERE group_id = $1 AND starts_at < $3 AND ends_at > $2 LIMIT 1",
        )
        .bind(&shift.group_id)
        .bind(shift.starts_at)
        .bind(shift.ends_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err("checking cover shifts"))?;
        if let Some(other) = overlapping {
            return Err(StoreError::Conflict(format!("overlaps shift {other}")));
        }
        sqlx::query(
            "INSERT INTO cover_shifts (id, group_id, facility_id, on_call, starts_at, ends_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&shift.id)
        .bind(&shift.group_id)
        .bind(&shift.facility_id)
        .bind(&shift.on_call)
        .bind(shift.starts_at)
        .bind(shift.ends_at)
        .bind(&shift.created_by)
        .bind(shift.created_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing cover shift"))?;
        insert_notifications(&mut tx, &notifications).await?;
        append_audit_in(&mut tx, audit, shift.created_at).await?;
        tx.commit().await.map_err(err("committing cover shift"))?;
        Ok(())
    }

    async fn delete_cover_shift(&self, group_id: &str, shift_id: &str, now: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_cover_group(&mut tx, group_id).await?;
        let starts_at: Option<i64> = sqlx::query_scalar("SELECT starts_at FROM cover_shifts WHERE id = $1 AND group_id = $2")
            .bind(shift_id)
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading cover shift"))?;
        match starts_at {
            None => return Err(StoreError::NotFound(format!("cover shift {shift_id}"))),
            Some(t) if t <= now => return Err(StoreError::InvalidState("the shift has started".into())),
            Some(_) => {}
        }
        sqlx::query("DELETE FROM cover_shifts WHERE id = $1")
            .bind(shift_id)
            .execute(&mut *tx)
            .await
            .map_err(err("deleting cover shift"))?;
        append_audit_in(&mut tx, audit, now).await?;
        tx.commit().await.map_err(err("committing cover shift deletion"))?;
        Ok(())
    }

    async fn cover_shifts(&self, group_id: &str, from: Millis, to: Millis) -> StoreResult<Vec<CoverShift>> {
        let rows = sqlx::query(&format!(
            "SELECT {COVER_SHIFT_COLUMNS} FROM cover_shifts s WHERE s.group_id = $1 AND s.starts_at < $3 AND s.ends_at > $2 \
             ORDER BY s.starts_at, s.id"
        ))
        .bind(group_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading cover shifts"))?;
        rows.iter().map(cover_shift_from).collect()
    }

    async fn current_cover_shifts(&self, facility_id: &str, now: Millis) -> StoreResult<Vec<(CoverGroup, CoverShift)>> {
        let rows = sqlx::query(&format!(
            "SELECT {COVER_SHIFT_COLUMNS} FROM cover_shifts s \
             JOIN cover_group_members m ON m.group_id = s.group_id AND m.facility_id = s.facility_id AND m.status = 'active' \
             WHERE s.facility_id = $1 AND s.starts_at <= $2 AND s.ends_at > $2 ORDER BY s.ends_at, s.id"
        ))
        .bind(facility_id)
        .bind(now)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading current cover shifts"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let shift = cover_shift_from(r)?;
            let group = self
                .cover_group(&shift.group_id)
                .await?
                .ok_or_else(|| corrupt("cover shift group", &shift.group_id))?;
            out.push((group, shift));
        }
        Ok(out)
    }

    async fn covered_choice(&self, group_id: &str, facility_id: &str) -> StoreResult<CoveredChoice> {
        let covers_all: Option<bool> =
            sqlx::query_scalar("SELECT covers_all FROM cover_group_members WHERE group_id = $1 AND facility_id = $2")
                .bind(group_id)
                .bind(facility_id)
                .fetch_optional(self.read_pool())
                .await
                .map_err(err("reading covered patients"))?;
        let person_ids: Vec<String> = sqlx::query_scalar(
            "SELECT person_id FROM cover_patients WHERE group_id = $1 AND facility_id = $2 ORDER BY person_id",
        )
        .bind(group_id)
        .bind(facility_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading covered patients"))?;
        Ok(CoveredChoice {
            covers_all: covers_all.unwrap_or(false),
            person_ids,
        })
    }

    async fn set_covered_choice(
        &self,
        group_id: &str,
        facility_id: &str,
        choice: CoveredChoice,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_cover_group(&mut tx, group_id).await?;
        if cover_member_status(&mut tx, group_id, facility_id).await?.as_deref() != Some(member_status::ACTIVE) {
            return Err(StoreError::InvalidState("not a member of the group".into()));
        }
        let mut persons = choice.person_ids.clone();
        persons.sort();
        persons.dedup();
        for person in &persons {
            let active: Option<String> = sqlx::query_scalar(
                "SELECT t.person_id FROM care_team_members t JOIN persons p ON p.id = t.person_id AND p.merged_into IS NULL \
                 WHERE t.person_id = $1 AND t.facility_id = $2 AND t.status = 'active'",
            )
            .bind(person)
            .bind(facility_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("checking care team"))?;
            if active.is_none() {
                return Err(StoreError::InvalidState(format!("not a care-team patient of the facility: {person}")));
            }
        }
        sqlx::query("UPDATE cover_group_members SET covers_all = $3, updated_at = $4 WHERE group_id = $1 AND facility_id = $2")
            .bind(group_id)
            .bind(facility_id)
            .bind(choice.covers_all)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(err("storing covered patients"))?;
        sqlx::query("DELETE FROM cover_patients WHERE group_id = $1 AND facility_id = $2")
            .bind(group_id)
            .bind(facility_id)
            .execute(&mut *tx)
            .await
            .map_err(err("storing covered patients"))?;
        for person in &persons {
            sqlx::query("INSERT INTO cover_patients (group_id, facility_id, person_id, added_at) VALUES ($1, $2, $3, $4)")
                .bind(group_id)
                .bind(facility_id)
                .bind(person)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(err("storing covered patients"))?;
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing covered patients"))?;
        Ok(())
    }

    async fn covered_persons(&self, group_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT t.person_id FROM cover_group_members m \
             JOIN care_team_members t ON t.facility_id = m.facility_id AND t.status = 'active' \
             JOIN persons p ON p.id = t.person_id AND p.merged_into IS NULL \
             WHERE m.group_id = $1 AND m.status = 'active' AND (m.covers_all = TRUE OR EXISTS (SELECT 1 FROM cover_patients cp \
              WHERE cp.group_id = m.group_id AND cp.facility_id = m.facility_id AND cp.person_id = t.person_id)) \
             ORDER BY t.person_id",
        )
        .bind(group_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading covered persons"))
    }
}
