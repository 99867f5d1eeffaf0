//! Notices (周知事項: from the secretariat to the whole network, or from a facility
//! administrator to the facility's staff) with per-user read state, and the discussion
//! board (掲示板): topics, threads, posts with edit history and moderation.
//!
//! Kept apart from [`crate::Store`] like the inbox; a store hands it out with
//! [`crate::Store::notices`]. Neither holds patient data: they are the network's own
//! business. Every change (publishing, editing, withdrawing, posting, hiding) carries its
//! audit record in the same transaction; a user's marking of a notice read is bookkeeping,
//! like `notifications.read_at`, and carries none.

use async_trait::async_trait;
use renkei_domain::audit::AuditEntry;
use renkei_domain::Millis;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// Who a notice is for (`Notice::scope`).
pub mod scope {
    /// Every member of the network; published by the secretariat.
    pub const NETWORK: &str = "network";
    /// The staff of one facility; published by its administrator.
    pub const FACILITY: &str = "facility";
}

/// How prominently a notice is shown (`Notice::importance`).
pub mod importance {
    pub const NORMAL: &str = "normal";
    /// Shown on the home page until read.
    pub const IMPORTANT: &str = "important";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    /// One of [`scope`].
    pub scope: String,
    /// The audience facility of a facility notice; `None` for a network notice.
    pub facility_id: Option<String>,
    pub author_user_id: String,
    /// The facility the author acted for.
    pub author_facility_id: Option<String>,
    pub title: String,
    /// Plain text; line breaks are kept.
    pub body: String,
    /// One of [`importance`].
    pub importance: String,
    /// Shown from this time on (a future time schedules it).
    pub published_at: Millis,
    /// No longer counted as unread nor listed by default after this time.
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
    /// The last edit, if any.
    pub edited_at: Option<Millis>,
    pub withdrawn_at: Option<Millis>,
    pub withdrawn_by: Option<String>,
}

impl Notice {
    pub fn is_important(&self) -> bool {
        self.importance == importance::IMPORTANT
    }

    /// Published, not withdrawn and not expired at `now`.
    pub fn is_current(&self, now: Millis) -> bool {
        self.withdrawn_at.is_none()
            && self.published_at <= now
            && self.expires_at.is_none_or(|e| e > now)
    }
}

/// What an edit may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeEdit {
    pub title: String,
    pub body: String,
    pub importance: String,
    pub expires_at: Option<Millis>,
}

/// The person asking for notices: their network-wide notices plus those of the facilities
/// they are an active member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeAudience {
    pub user_id: String,
    pub facility_ids: Vec<String>,
    pub now: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoticeQuery {
    pub unread_only: bool,
    pub important_only: bool,
    /// Expired notices too (never withdrawn or scheduled ones).
    pub include_expired: bool,
    pub limit: i64,
    pub offset: i64,
}

/// A notice as one reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeView {
    pub notice: Notice,
    /// When this reader first opened it.
    pub read_at: Option<Millis>,
}

/// How far a notice has reached its audience: active users who may see it, and how many of
/// them opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeReach {
    pub audience: i64,
    pub read: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRead {
    pub user_id: String,
    pub read_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardTopic {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Topics are listed by this, then title.
    pub sort_order: i64,
    pub created_by: String,
    pub created_at: Millis,
    /// When the secretariat last changed the title or description.
    pub edited_at: Option<Millis>,
    /// Archived (closed) topics are read-only: no new threads or replies until reopened.
    pub archived_at: Option<Millis>,
    pub archived_by: Option<String>,
}

impl BoardTopic {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardTopicSummary {
    pub topic: BoardTopic,
    /// Threads whose opening post is shown.
    pub threads: i64,
    pub last_activity_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardThread {
    pub id: String,
    pub topic_id: String,
    pub title: String,
    pub author_user_id: String,
    pub author_facility_id: Option<String>,
    pub created_at: Millis,
    /// The newest post's time (opening or reply).
    pub last_activity_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardThreadSummary {
    pub thread: BoardThread,
    /// Replies that are shown (neither withdrawn nor hidden).
    pub replies: i64,
    /// The opening post was withdrawn or hidden (listed only to moderators).
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardPost {
    pub id: String,
    pub thread_id: String,
    /// The thread's first post.
    pub opening: bool,
    pub author_user_id: String,
    pub author_facility_id: Option<String>,
    pub body: String,
    pub created_at: Millis,
    pub edited_at: Option<Millis>,
    pub withdrawn_at: Option<Millis>,
    pub hidden_at: Option<Millis>,
    pub hidden_by: Option<String>,
    pub hidden_reason: Option<String>,
}

impl BoardPost {
    pub fn is_shown(&self) -> bool {
        self.withdrawn_at.is_none() && self.hidden_at.is_none()
    }
}

/// A post's text before one of its edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardPostVersion {
    pub post_id: String,
    /// 1 for the original text, counting up.
    pub version: i64,
    pub body: String,
    /// When this text was written (the post's creation or an earlier edit).
    pub written_at: Millis,
}

#[async_trait]
pub trait NoticeStore: Send + Sync {
    // --- notices ------------------------------------------------------------------------
    async fn publish_notice(&self, notice: Notice, audit: AuditEntry) -> StoreResult<()>;
    /// `NotFound` for an unknown notice, `InvalidState` for a withdrawn one.
    async fn edit_notice(
        &self,
        id: &str,
        edit: NoticeEdit,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<Notice>;
    /// `InvalidState` when already withdrawn.
    async fn withdraw_notice(
        &self,
        id: &str,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<Notice>;
    async fn notice(&self, id: &str) -> StoreResult<Option<Notice>>;
    /// The notices the audience may see now (published, not withdrawn; expired ones only
    /// when asked): unread first, then newest first.
    async fn notices_for(
        &self,
        audience: &NoticeAudience,
        query: &NoticeQuery,
    ) -> StoreResult<Vec<NoticeView>>;
    /// Unread current notices of the audience: (all, important ones).
    async fn unread_notice_counts(&self, audience: &NoticeAudience) -> StoreResult<(i64, i64)>;
    /// Every notice of a scope (a facility's, or the network's when `facility_id` is
    /// `None`), scheduled and withdrawn ones included, newest first: the publisher's list.
    async fn notices_published(
        &self,
        facility_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Notice>>;
    /// Records that the user opened the notice; a notice already read keeps its first read
    /// time. Returns whether this was the first time.
    async fn mark_notice_read(
        &self,
        notice_id: &str,
        user_id: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    /// Who opened the notice, earliest first.
    async fn notice_readers(&self, notice_id: &str) -> StoreResult<Vec<NoticeRead>>;
    /// The notice's audience now (active users of its scope) and how many of them read it.
    async fn notice_reach(&self, notice_id: &str) -> StoreResult<NoticeReach>;

    // --- discussion board ---------------------------------------------------------------
    async fn create_board_topic(&self, topic: BoardTopic, audit: AuditEntry) -> StoreResult<()>;
    async fn board_topic(&self, id: &str) -> StoreResult<Option<BoardTopic>>;
    /// Every topic, archived ones included (the page lists them apart).
    async fn board_topics(&self) -> StoreResult<Vec<BoardTopicSummary>>;
    /// Replaces a topic's title and description. `NotFound` for an unknown topic.
    async fn edit_board_topic(
        &self,
        id: &str,
        title: &str,
        description: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardTopic>;
    /// Archives (`archived`) or reopens a topic. `NotFound` for an unknown topic,
    /// `InvalidState` when it is already archived (or already open).
    async fn set_board_topic_archived(
        &self,
        id: &str,
        archived: bool,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardTopic>;
    /// A thread and its opening post, at once. `NotFound` for an unknown topic,
    /// `InvalidState` for an archived one (checked under a lock of the topic, so an archive
    /// and a new thread never interleave).
    async fn open_board_thread(
        &self,
        thread: BoardThread,
        opening: BoardPost,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn board_thread(&self, id: &str) -> StoreResult<Option<BoardThread>>;
    /// A topic's threads by last activity, newest first; closed threads (opening post
    /// withdrawn or hidden) only when `include_closed`.
    async fn board_threads(
        &self,
        topic_id: &str,
        include_closed: bool,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<BoardThreadSummary>>;
    /// Threads of a topic counted like [`NoticeStore::board_threads`] lists them.
    async fn count_board_threads(&self, topic_id: &str, include_closed: bool) -> StoreResult<i64>;
    /// A thread's posts in order (withdrawn and hidden ones included: the page decides
    /// what to show of them).
    async fn board_posts(
        &self,
        thread_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<BoardPost>>;
    async fn count_board_posts(&self, thread_id: &str) -> StoreResult<i64>;
    async fn board_post(&self, id: &str) -> StoreResult<Option<BoardPost>>;
    /// Adds a reply and moves the thread's last activity. `NotFound` for an unknown thread,
    /// `InvalidState` when its opening post is withdrawn or hidden or its topic archived.
    async fn add_board_reply(&self, post: BoardPost, audit: AuditEntry) -> StoreResult<()>;
    /// Replaces the text of the author's own post, keeping the previous text as a version.
    /// `NotFound` for an unknown post, `InvalidState` when `author_user_id` is not its
    /// author or it is withdrawn or hidden.
    async fn edit_board_post(
        &self,
        post_id: &str,
        author_user_id: &str,
        body: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardPost>;
    /// The author takes their own post back (same refusals as an edit).
    async fn withdraw_board_post(
        &self,
        post_id: &str,
        author_user_id: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardPost>;
    /// A moderator hides a post; `InvalidState` when already hidden.
    async fn hide_board_post(
        &self,
        post_id: &str,
        by_user: &str,
        reason: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<BoardPost>;
    /// Earlier texts of these posts, by post then version.
    async fn board_post_versions(&self, post_ids: &[String]) -> StoreResult<Vec<BoardPostVersion>>;
}
