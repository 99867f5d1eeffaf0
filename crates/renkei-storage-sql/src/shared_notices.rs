// Notices with read state and the discussion board (migration `0011_notices.sql`), shared by
// both backends like the rest.

use renkei_storage::notices::{
    BoardPost, BoardPostVersion, BoardThread, BoardThreadSummary, BoardTopic, BoardTopicSummary, Notice,
    NoticeAudience, NoticeEdit, NoticeQuery, NoticeRead, NoticeReach, NoticeStore, NoticeView,
};

const NOTICE_COLUMNS: &str = "n.id, n.scope, n.facility_id, n.author_user_id, n.author_facility_id, n.title, n.body, \
     n.importance, n.published_at, n.expires_at, n.created_at, n.edited_at, n.withdrawn_at, n.withdrawn_by";
const TOPIC_COLUMNS: &str =
    "tp.id, tp.title, tp.description, tp.sort_order, tp.created_by, tp.created_at, tp.edited_at, tp.archived_at, tp.archived_by";
const THREAD_COLUMNS: &str =
    "t.id, t.topic_id, t.title, t.author_user_id, t.author_facility_id, t.created_at, t.last_activity_at";
const POST_COLUMNS: &str = "p.id, p.thread_id, p.opening, p.author_user_id, p.author_facility_id, p.body, p.created_at, \
     p.edited_at, p.withdrawn_at, p.hidden_at, p.hidden_by, p.hidden_reason";
/// The opening post of thread `t` is shown.
const OPENING_SHOWN: &str = "o.withdrawn_at IS NULL AND o.hidden_at IS NULL";

fn notice_from(r: &<Db as sqlx::Database>::Row) -> Result<Notice, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading notice", e);
    Ok(Notice {
        id: r.try_get("id").map_err(g)?,
        scope: r.try_get("scope").map_err(g)?,
        facility_id: r.try_get("facility_id").map_err(g)?,
        author_user_id: r.try_get("author_user_id").map_err(g)?,
        author_facility_id: r.try_get("author_facility_id").map_err(g)?,
        title: r.try_get("title").map_err(g)?,
        body: r.try_get("body").map_err(g)?,
        importance: r.try_get("importance").map_err(g)?,
        published_at: r.try_get("published_at").map_err(g)?,
        expires_at: r.try_get("expires_at").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        edited_at: r.try_get("edited_at").map_err(g)?,
        withdrawn_at: r.try_get("withdrawn_at").map_err(g)?,
        withdrawn_by: r.try_get("withdrawn_by").map_err(g)?,
    })
}

fn topic_from(r: &<Db as sqlx::Database>::Row) -> Result<BoardTopic, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading board topic", e);
    Ok(BoardTopic {
        id: r.try_get("id").map_err(g)?,
        title: r.try_get("title").map_err(g)?,
        description: r.try_get("description").map_err(g)?,
        sort_order: r.try_get("sort_order").map_err(g)?,
        created_by: r.try_get("created_by").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        edited_at: r.try_get("edited_at").map_err(g)?,
        archived_at: r.try_get("archived_at").map_err(g)?,
        archived_by: r.try_get("archived_by").map_err(g)?,
    })
}

/// Refuses a new thread or reply in an archived topic; the topic row stays locked
/// (PostgreSQL) until the transaction ends, so archiving waits for it or it sees the archive.
async fn check_topic_open(conn: &mut Conn, topic_id: &str) -> Result<(), StoreError> {
    let row = sqlx::query(LOCK_BOARD_TOPIC)
        .bind(topic_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading board topic"))?
        .ok_or_else(|| StoreError::NotFound(format!("board topic {topic_id}")))?;
    let archived: Option<i64> = row.try_get("archived_at").map_err(err("reading board topic"))?;
    match archived {
        Some(_) => Err(StoreError::InvalidState("the topic is archived".into())),
        None => Ok(()),
    }
}

fn thread_from(r: &<Db as sqlx::Database>::Row) -> Result<BoardThread, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading board thread", e);
    Ok(BoardThread {
        id: r.try_get("id").map_err(g)?,
        topic_id: r.try_get("topic_id").map_err(g)?,
        title: r.try_get("title").map_err(g)?,
        author_user_id: r.try_get("author_user_id").map_err(g)?,
        author_facility_id: r.try_get("author_facility_id").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        last_activity_at: r.try_get("last_activity_at").map_err(g)?,
    })
}

fn post_from(r: &<Db as sqlx::Database>::Row) -> Result<BoardPost, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading board post", e);
    Ok(BoardPost {
        id: r.try_get("id").map_err(g)?,
        thread_id: r.try_get("thread_id").map_err(g)?,
        opening: r.try_get("opening").map_err(g)?,
        author_user_id: r.try_get("author_user_id").map_err(g)?,
        author_facility_id: r.try_get("author_facility_id").map_err(g)?,
        body: r.try_get("body").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        edited_at: r.try_get("edited_at").map_err(g)?,
        withdrawn_at: r.try_get("withdrawn_at").map_err(g)?,
        hidden_at: r.try_get("hidden_at").map_err(g)?,
        hidden_by: r.try_get("hidden_by").map_err(g)?,
        hidden_reason: r.try_get("hidden_reason").map_err(g)?,
    })
}

/// `(n.scope = 'network' OR n.facility_id IN (…))` for the audience's facilities.
fn push_notice_audience(qb: &mut QueryBuilder<'_, Db>, audience: &NoticeAudience) {
    qb.push("(n.scope = 'network'");
    if !audience.facility_ids.is_empty() {
        qb.push(" OR (n.scope = 'facility' AND n.facility_id IN (");
        let mut sep = qb.separated(", ");
        for f in &audience.facility_ids {
            sep.push_bind(f.clone());
        }
        qb.push("))");
    }
    qb.push(")");
}

async fn notice_in(conn: &mut Conn, id: &str) -> Result<Option<Notice>, StoreError> {
    let row = sqlx::query(&format!("SELECT {NOTICE_COLUMNS} FROM notices n WHERE n.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading notice"))?;
    row.as_ref().map(notice_from).transpose()
}

async fn post_in(conn: &mut Conn, id: &str) -> Result<Option<BoardPost>, StoreError> {
    let row = sqlx::query(&format!("SELECT {POST_COLUMNS} FROM board_posts p WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading board post"))?;
    row.as_ref().map(post_from).transpose()
}

async fn insert_post(conn: &mut Conn, p: &BoardPost) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO board_posts (id, thread_id, opening, author_user_id, author_facility_id, body, created_at, \
         edited_at, withdrawn_at, hidden_at, hidden_by, hidden_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, NULL, NULL)",
    )
    .bind(&p.id)
    .bind(&p.thread_id)
    .bind(p.opening)
    .bind(&p.author_user_id)
    .bind(&p.author_facility_id)
    .bind(&p.body)
    .bind(p.created_at)
    .execute(&mut *conn)
    .await
    .map_err(err("storing board post"))?;
    Ok(())
}

/// The author's own post, still shown; the reason otherwise.
async fn own_shown_post(conn: &mut Conn, post_id: &str, author: &str) -> Result<BoardPost, StoreError> {
    let post = post_in(conn, post_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("board post {post_id}")))?;
    if post.author_user_id != author {
        return Err(StoreError::InvalidState("only the author may change a post".into()));
    }
    if !post.is_shown() {
        return Err(StoreError::InvalidState("the post was withdrawn or hidden".into()));
    }
    Ok(post)
}

#[async_trait]
impl NoticeStore for SqlStore {
    async fn publish_notice(&self, n: Notice, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO notices (id, scope, facility_id, author_user_id, author_facility_id, title, body, importance, \
             published_at, expires_at, created_at, edited_at, withdrawn_at, withdrawn_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL)",
        )
        .bind(&n.id)
        .bind(&n.scope)
        .bind(&n.facility_id)
        .bind(&n.author_user_id)
        .bind(&n.author_facility_id)
        .bind(&n.title)
        .bind(&n.body)
        .bind(&n.importance)
        .bind(n.published_at)
        .bind(n.expires_at)
        .bind(n.created_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing notice"))?;
        append_audit_in(&mut tx, audit, n.created_at).await?;
        tx.commit().await.map_err(err("committing notice"))?;
        Ok(())
    }

    async fn edit_notice(&self, id: &str, edit: NoticeEdit, at: Millis, audit: AuditEntry) -> StoreResult<Notice> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE notices SET title = $1, body = $2, importance = $3, expires_at = $4, edited_at = $5 \
             WHERE id = $6 AND withdrawn_at IS NULL",
        )
        .bind(&edit.title)
        .bind(&edit.body)
        .bind(&edit.importance)
        .bind(edit.expires_at)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err("editing notice"))?
        .rows_affected();
        let Some(notice) = notice_in(&mut tx, id).await? else {
            return Err(StoreError::NotFound(format!("notice {id}")));
        };
        if changed == 0 {
            return Err(StoreError::InvalidState("the notice was withdrawn".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing notice edit"))?;
        Ok(notice)
    }

    async fn withdraw_notice(&self, id: &str, by_user: &str, at: Millis, audit: AuditEntry) -> StoreResult<Notice> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE notices SET withdrawn_at = $1, withdrawn_by = $2 WHERE id = $3 AND withdrawn_at IS NULL")
            .bind(at)
            .bind(by_user)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err("withdrawing notice"))?
            .rows_affected();
        let Some(notice) = notice_in(&mut tx, id).await? else {
            return Err(StoreError::NotFound(format!("notice {id}")));
        };
        if changed == 0 {
            return Err(StoreError::InvalidState("the notice was withdrawn already".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing notice withdrawal"))?;
        Ok(notice)
    }

    async fn notice(&self, id: &str) -> StoreResult<Option<Notice>> {
        let row = sqlx::query(&format!("SELECT {NOTICE_COLUMNS} FROM notices n WHERE n.id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading notice"))?;
        row.as_ref().map(notice_from).transpose()
    }

    async fn notices_for(&self, audience: &NoticeAudience, query: &NoticeQuery) -> StoreResult<Vec<NoticeView>> {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {NOTICE_COLUMNS}, r.read_at AS reader_read_at FROM notices n \
             LEFT JOIN notice_reads r ON r.notice_id = n.id AND r.user_id = "
        ));
        qb.push_bind(audience.user_id.clone())
            .push(" WHERE n.withdrawn_at IS NULL AND n.published_at <= ")
            .push_bind(audience.now)
            .push(" AND ");
        push_notice_audience(&mut qb, audience);
        if !query.include_expired {
            qb.push(" AND (n.expires_at IS NULL OR n.expires_at > ").push_bind(audience.now).push(")");
        }
        if query.unread_only {
            qb.push(" AND r.read_at IS NULL");
        }
        if query.important_only {
            qb.push(" AND n.importance = 'important'");
        }
        qb.push(" ORDER BY CASE WHEN r.read_at IS NULL THEN 0 ELSE 1 END, n.published_at DESC, n.id DESC LIMIT ")
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset);
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading notices"))?;
        rows.iter()
            .map(|r| {
                Ok(NoticeView {
                    notice: notice_from(r)?,
                    read_at: r.try_get("reader_read_at").map_err(|e| backend_error("reading notice", e))?,
                })
            })
            .collect()
    }

    async fn unread_notice_counts(&self, audience: &NoticeAudience) -> StoreResult<(i64, i64)> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT COUNT(*) AS unread, COALESCE(SUM(CASE WHEN n.importance = 'important' THEN 1 ELSE 0 END), 0) AS important \
             FROM notices n WHERE n.withdrawn_at IS NULL AND n.published_at <= ",
        );
        qb.push_bind(audience.now)
            .push(" AND (n.expires_at IS NULL OR n.expires_at > ")
            .push_bind(audience.now)
            .push(") AND ");
        push_notice_audience(&mut qb, audience);
        qb.push(" AND NOT EXISTS (SELECT 1 FROM notice_reads r WHERE r.notice_id = n.id AND r.user_id = ")
            .push_bind(audience.user_id.clone())
            .push(")");
        let row = qb.build().fetch_one(self.read_pool()).await.map_err(err("counting unread notices"))?;
        let g = |e: sqlx::Error| backend_error("reading unread notice count", e);
        Ok((row.try_get("unread").map_err(g)?, row.try_get("important").map_err(g)?))
    }

    async fn notices_published(&self, facility_id: Option<&str>, limit: i64, offset: i64) -> StoreResult<Vec<Notice>> {
        let filter = if facility_id.is_some() {
            "n.scope = 'facility' AND n.facility_id = $1"
        } else {
            "n.scope = 'network' AND $1 = ''"
        };
        let rows = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices n WHERE {filter} ORDER BY n.published_at DESC, n.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(facility_id.unwrap_or(""))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading published notices"))?;
        rows.iter().map(notice_from).collect()
    }

    async fn mark_notice_read(&self, notice_id: &str, user_id: &str, at: Millis) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "INSERT INTO notice_reads (notice_id, user_id, read_at) VALUES ($1, $2, $3) \
             ON CONFLICT (notice_id, user_id) DO NOTHING",
        )
        .bind(notice_id)
        .bind(user_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(err("marking notice read"))?
        .rows_affected();
        tx.commit().await.map_err(err("committing notice read"))?;
        Ok(changed > 0)
    }

    async fn notice_readers(&self, notice_id: &str) -> StoreResult<Vec<NoticeRead>> {
        let rows = sqlx::query("SELECT user_id, read_at FROM notice_reads WHERE notice_id = $1 ORDER BY read_at, user_id")
            .bind(notice_id)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("reading notice readers"))?;
        let g = |e: sqlx::Error| backend_error("reading notice reader", e);
        rows.iter()
            .map(|r| {
                Ok(NoticeRead {
                    user_id: r.try_get("user_id").map_err(g)?,
                    read_at: r.try_get("read_at").map_err(g)?,
                })
            })
            .collect()
    }

    async fn notice_reach(&self, notice_id: &str) -> StoreResult<NoticeReach> {
        let notice = self
            .notice(notice_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("notice {notice_id}")))?;
        // The audience is counted as it is now: active users of an active facility of the
        // scope (and, for a network notice, the secretariat).
        let (secretariat, facility) = match &notice.facility_id {
            Some(_) => ("", "AND m.facility_id = $2"),
            None => ("u.is_secretariat = TRUE OR ", "AND $2 = ''"),
        };
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS audience, COUNT(r.user_id) AS readers FROM users u \
             LEFT JOIN notice_reads r ON r.notice_id = $1 AND r.user_id = u.id \
             WHERE u.active = TRUE AND ({secretariat}EXISTS (SELECT 1 FROM memberships m \
             JOIN facilities f ON f.id = m.facility_id \
             WHERE m.user_id = u.id AND m.active = TRUE AND f.status = 'active' {facility}))"
        ))
        .bind(notice_id)
        .bind(notice.facility_id.as_deref().unwrap_or(""))
        .fetch_one(self.read_pool())
        .await
        .map_err(err("counting notice audience"))?;
        let g = |e: sqlx::Error| backend_error("reading notice audience", e);
        Ok(NoticeReach {
            audience: row.try_get("audience").map_err(g)?,
            read: row.try_get("readers").map_err(g)?,
        })
    }

    async fn create_board_topic(&self, t: BoardTopic, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO board_topics (id, title, description, sort_order, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.id)
        .bind(&t.title)
        .bind(&t.description)
        .bind(t.sort_order)
        .bind(&t.created_by)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing board topic"))?;
        append_audit_in(&mut tx, audit, t.created_at).await?;
        tx.commit().await.map_err(err("committing board topic"))?;
        Ok(())
    }

    async fn board_topic(&self, id: &str) -> StoreResult<Option<BoardTopic>> {
        let row = sqlx::query(&format!("SELECT {TOPIC_COLUMNS} FROM board_topics tp WHERE tp.id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading board topic"))?;
        row.as_ref().map(topic_from).transpose()
    }

    async fn board_topics(&self) -> StoreResult<Vec<BoardTopicSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOPIC_COLUMNS}, \
             (SELECT COUNT(*) FROM board_threads t JOIN board_posts o ON o.thread_id = t.id AND o.opening = TRUE \
              WHERE t.topic_id = tp.id AND {OPENING_SHOWN}) AS threads, \
             (SELECT MAX(t.last_activity_at) FROM board_threads t JOIN board_posts o ON o.thread_id = t.id AND o.opening = TRUE \
              WHERE t.topic_id = tp.id AND {OPENING_SHOWN}) AS last_activity \
             FROM board_topics tp ORDER BY tp.sort_order, tp.title, tp.id"
        ))
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading board topics"))?;
        let g = |e: sqlx::Error| backend_error("reading board topic", e);
        rows.iter()
            .map(|r| {
                Ok(BoardTopicSummary {
                    topic: topic_from(r)?,
                    threads: r.try_get("threads").map_err(g)?,
                    last_activity_at: r.try_get("last_activity").map_err(g)?,
                })
            })
            .collect()
    }

    async fn edit_board_topic(
        &self,
        id: &str,
        title: &str,
        description: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardTopic> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE board_topics SET title = $2, description = $3, edited_at = $4 WHERE id = $1")
            .bind(id)
            .bind(title)
            .bind(description)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(err("editing board topic"))?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!("board topic {id}")));
        }
        let row = sqlx::query(&format!("SELECT {TOPIC_COLUMNS} FROM board_topics tp WHERE tp.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading board topic"))?;
        let topic = topic_from(&row)?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing board topic edit"))?;
        Ok(topic)
    }

    async fn set_board_topic_archived(
        &self,
        id: &str,
        archived: bool,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardTopic> {
        let mut tx = self.begin_write().await?;
        let current = sqlx::query(LOCK_BOARD_TOPIC)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading board topic"))?
            .ok_or_else(|| StoreError::NotFound(format!("board topic {id}")))?;
        let was: Option<i64> = current.try_get("archived_at").map_err(err("reading board topic"))?;
        if was.is_some() == archived {
            return Err(StoreError::InvalidState(
                if archived { "the topic is already archived" } else { "the topic is not archived" }.into(),
            ));
        }
        sqlx::query("UPDATE board_topics SET archived_at = $2, archived_by = $3 WHERE id = $1")
            .bind(id)
            .bind(archived.then_some(at))
            .bind(archived.then_some(by_user))
            .execute(&mut *tx)
            .await
            .map_err(err("archiving board topic"))?;
        let row = sqlx::query(&format!("SELECT {TOPIC_COLUMNS} FROM board_topics tp WHERE tp.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading board topic"))?;
        let topic = topic_from(&row)?;
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing board topic archive"))?;
        Ok(topic)
    }

    async fn open_board_thread(&self, t: BoardThread, opening: BoardPost, audit: AuditEntry) -> StoreResult<()> {
        if !opening.opening || opening.thread_id != t.id {
            return Err(StoreError::InvalidState("the opening post must belong to the thread".into()));
        }
        let mut tx = self.begin_write().await?;
        check_topic_open(&mut tx, &t.topic_id).await?;
        sqlx::query(
            "INSERT INTO board_threads (id, topic_id, title, author_user_id, author_facility_id, created_at, last_activity_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.topic_id)
        .bind(&t.title)
        .bind(&t.author_user_id)
        .bind(&t.author_facility_id)
        .bind(t.created_at)
        .bind(t.last_activity_at)
        .execute(&mut *tx)
        .await
        .map_err(err("storing board thread"))?;
        insert_post(&mut tx, &opening).await?;
        append_audit_in(&mut tx, audit, t.created_at).await?;
        tx.commit().await.map_err(err("committing board thread"))?;
        Ok(())
    }

    async fn board_thread(&self, id: &str) -> StoreResult<Option<BoardThread>> {
        let row = sqlx::query(&format!("SELECT {THREAD_COLUMNS} FROM board_threads t WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading board thread"))?;
        row.as_ref().map(thread_from).transpose()
    }

    async fn board_threads(
        &self,
        topic_id: &str,
        include_closed: bool,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<BoardThreadSummary>> {
        let shown = if include_closed { String::new() } else { format!(" AND {OPENING_SHOWN}") };
        let rows = sqlx::query(&format!(
            "SELECT {THREAD_COLUMNS}, \
             (SELECT COUNT(*) FROM board_posts p WHERE p.thread_id = t.id AND p.opening = FALSE \
              AND p.withdrawn_at IS NULL AND p.hidden_at IS NULL) AS replies, \
             CASE WHEN {OPENING_SHOWN} THEN 0 ELSE 1 END AS closed \
             FROM board_threads t JOIN board_posts o ON o.thread_id = t.id AND o.opening = TRUE \
             WHERE t.topic_id = $1{shown} ORDER BY t.last_activity_at DESC, t.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(topic_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading board threads"))?;
        let g = |e: sqlx::Error| backend_error("reading board thread", e);
        rows.iter()
            .map(|r| {
                Ok(BoardThreadSummary {
                    thread: thread_from(r)?,
                    replies: r.try_get("replies").map_err(g)?,
                    closed: r.try_get::<i32, _>("closed").map_err(g)? != 0,
                })
            })
            .collect()
    }

    async fn count_board_threads(&self, topic_id: &str, include_closed: bool) -> StoreResult<i64> {
        let shown = if include_closed { String::new() } else { format!(" AND {OPENING_SHOWN}") };
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM board_threads t JOIN board_posts o ON o.thread_id = t.id AND o.opening = TRUE \
             WHERE t.topic_id = $1{shown}"
        ))
        .bind(topic_id)
        .fetch_one(self.read_pool())
        .await
        .map_err(err("counting board threads"))
    }

    async fn board_posts(&self, thread_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<BoardPost>> {
        let rows = sqlx::query(&format!(
            "SELECT {POST_COLUMNS} FROM board_posts p WHERE p.thread_id = $1 \
             ORDER BY CASE WHEN p.opening THEN 0 ELSE 1 END, p.created_at, p.id LIMIT $2 OFFSET $3"
        ))
        .bind(thread_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading board posts"))?;
        rows.iter().map(post_from).collect()
    }

    async fn count_board_posts(&self, thread_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM board_posts WHERE thread_id = $1")
            .bind(thread_id)
            .fetch_one(self.read_pool())
            .await
            .map_err(err("counting board posts"))
    }

    async fn board_post(&self, id: &str) -> StoreResult<Option<BoardPost>> {
        let row = sqlx::query(&format!("SELECT {POST_COLUMNS} FROM board_posts p WHERE p.id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading board post"))?;
        row.as_ref().map(post_from).transpose()
    }

    async fn add_board_reply(&self, post: BoardPost, audit: AuditEntry) -> StoreResult<()> {
        if post.opening {
            return Err(StoreError::InvalidState("a reply is not an opening post".into()));
        }
        let mut tx = self.begin_write().await?;
        let opening = sqlx::query("SELECT withdrawn_at, hidden_at FROM board_posts WHERE thread_id = $1 AND opening = TRUE")
            .bind(&post.thread_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading board thread"))?
            .ok_or_else(|| StoreError::NotFound(format!("board thread {}", post.thread_id)))?;
        let g = |e: sqlx::Error| backend_error("reading board thread", e);
        let withdrawn: Option<i64> = opening.try_get("withdrawn_at").map_err(g)?;
        let hidden: Option<i64> = opening.try_get("hidden_at").map_err(g)?;
        if withdrawn.is_some() || hidden.is_some() {
            return Err(StoreError::InvalidState("the thread is closed".into()));
        }
        let topic_id: String = sqlx::query_scalar("SELECT topic_id FROM board_threads WHERE id = $1")
            .bind(&post.thread_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading board thread"))?;
        check_topic_open(&mut tx, &topic_id).await?;
        insert_post(&mut tx, &post).await?;
        sqlx::query(
            "UPDATE board_threads SET last_activity_at = CASE WHEN last_activity_at < $1 THEN $1 ELSE last_activity_at END \
             WHERE id = $2",
        )
        .bind(post.created_at)
        .bind(&post.thread_id)
        .execute(&mut *tx)
        .await
        .map_err(err("updating board thread"))?;
        append_audit_in(&mut tx, audit, post.created_at).await?;
        tx.commit().await.map_err(err("committing board reply"))?;
        Ok(())
    }

    async fn edit_board_post(
        &self,
        post_id: &str,
        author_user_id: &str,
        body: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardPost> {
        let mut tx = self.begin_write().await?;
        let before = own_shown_post(&mut tx, post_id, author_user_id).await?;
        // Two concurrent edits compute the same version number: the second fails on the
        // primary key instead of losing a text.
        let version: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM board_post_versions WHERE post_id = $1")
            .bind(post_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading board post versions"))?;
        sqlx::query("INSERT INTO board_post_versions (post_id, version, body, written_at) VALUES ($1, $2, $3, $4)")
            .bind(post_id)
            .bind(version)
            .bind(&before.body)
            .bind(before.edited_at.unwrap_or(before.created_at))
            .execute(&mut *tx)
            .await
            .map_err(err("keeping board post version"))?;
        let changed = sqlx::query(
            "UPDATE board_posts SET body = $1, edited_at = $2 \
             WHERE id = $3 AND author_user_id = $4 AND body = $5 AND withdrawn_at IS NULL AND hidden_at IS NULL",
        )
        .bind(body)
        .bind(at)
        .bind(post_id)
        .bind(author_user_id)
        .bind(&before.body)
        .execute(&mut *tx)
        .await
        .map_err(err("editing board post"))?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::InvalidState("the post changed meanwhile".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        let after = post_in(&mut tx, post_id).await?.ok_or_else(|| StoreError::NotFound(format!("board post {post_id}")))?;
        tx.commit().await.map_err(err("committing board post edit"))?;
        Ok(after)
    }

    async fn withdraw_board_post(&self, post_id: &str, author_user_id: &str, at: Millis, audit: AuditEntry) -> StoreResult<BoardPost> {
        let mut tx = self.begin_write().await?;
        own_shown_post(&mut tx, post_id, author_user_id).await?;
        let changed = sqlx::query(
            "UPDATE board_posts SET withdrawn_at = $1 WHERE id = $2 AND author_user_id = $3 \
             AND withdrawn_at IS NULL AND hidden_at IS NULL",
        )
        .bind(at)
        .bind(post_id)
        .bind(author_user_id)
        .execute(&mut *tx)
        .await
        .map_err(err("withdrawing board post"))?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::InvalidState("the post changed meanwhile".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        let after = post_in(&mut tx, post_id).await?.ok_or_else(|| StoreError::NotFound(format!("board post {post_id}")))?;
        tx.commit().await.map_err(err("committing board post withdrawal"))?;
        Ok(after)
    }

    async fn hide_board_post(&self, post_id: &str, by_user: &str, reason: &str, at: Millis, audit: AuditEntry) -> StoreResult<BoardPost> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE board_posts SET hidden_at = $1, hidden_by = $2, hidden_reason = $3 WHERE id = $4 AND hidden_at IS NULL",
        )
        .bind(at)
        .bind(by_user)
        .bind(reason)
        .bind(post_id)
        .execute(&mut *tx)
        .await
        .map_err(err("hiding board post"))?
        .rows_affected();
        let Some(after) = post_in(&mut tx, post_id).await? else {
            return Err(StoreError::NotFound(format!("board post {post_id}")));
        };
        if changed == 0 {
            return Err(StoreError::InvalidState("the post is hidden already".into()));
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing board post moderation"))?;
        Ok(after)
    }

    async fn board_post_versions(&self, post_ids: &[String]) -> StoreResult<Vec<BoardPostVersion>> {
        let mut out = Vec::new();
        for chunk in post_ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new("SELECT post_id, version, body, written_at FROM board_post_versions WHERE post_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.clone());
            }
            qb.push(") ORDER BY post_id, version");
            let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("reading board post versions"))?;
            let g = |e: sqlx::Error| backend_error("reading board post version", e);
            for r in rows {
                out.push(BoardPostVersion {
                    post_id: r.try_get("post_id").map_err(g)?,
                    version: r.try_get("version").map_err(g)?,
                    body: r.try_get("body").map_err(g)?,
                    written_at: r.try_get("written_at").map_err(g)?,
                });
            }
        }
        Ok(out)
    }
}
