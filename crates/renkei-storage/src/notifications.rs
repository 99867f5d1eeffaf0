//! Notifications: a user's in-app inbox (mentions, replies, urgent posts, break-glass
//! notices, team invitations, on-call group invitations and shifts…) and whether the user wants an e-mail about new ones.
//!
//! Kept apart from [`crate::Store`] like the Tele-ICU part; a store hands it out with
//! [`crate::Store::notifications`]. A notification is created in the same transaction as
//! what causes it ([`NotificationStore::fhir_write_notifying`] for timeline posts), so a
//! post is never stored without its notifications and no notification points at a post
//! that did not commit. A notification names the person it concerns and a link; it carries
//! no text of the post. Marking read is bookkeeping of the user's own inbox and carries no
//! audit record; changing the e-mail preference does.

use async_trait::async_trait;
use renkei_domain::audit::AuditEntry;
use renkei_domain::Millis;
use serde::{Deserialize, Serialize};

use crate::fhir::{FhirRow, FhirWrite};
use crate::StoreResult;

/// What a notification is about (`Notification::kind`).
pub mod kind {
    /// The user (or their facility) was named with `@` in a timeline post.
    pub const MENTION: &str = "mention";
    /// Someone replied to the user's timeline post.
    pub const REPLY: &str = "reply";
    /// An urgent post on the timeline of a patient of the user's care team.
    pub const URGENT: &str = "urgent";
    /// Someone opened a patient of the user's care team with break-glass access.
    pub const BREAK_GLASS: &str = "break_glass";
    /// The user's facility was invited to a patient's care team.
    pub const TEAM_INVITATION: &str = "team_invitation";
    /// A home visit recorded a value outside the patient's alert limits.
    pub const VITAL_LIMIT: &str = "vital_limit";
    /// An emergency transfer to the user's hospital, or a step of one the user requested.
    pub const TRANSFER: &str = "transfer";
    /// The user's facility was invited into a home-care on-call group (its administrators).
    pub const COVER_INVITATION: &str = "cover_invitation";
    /// Another member put the user's facility on the rota of an on-call group (its staff).
    pub const COVER_SHIFT: &str = "cover_shift";
    /// A facility left an on-call group or was removed from it (the administrators of the
    /// other members, and of the removed facility).
    pub const COVER_MEMBER_LEFT: &str = "cover_member_left";
    /// Every kind, in the order the inbox explains them.
    pub const ALL: [&str; 10] = [
        MENTION,
        REPLY,
        URGENT,
        VITAL_LIMIT,
        TRANSFER,
        BREAK_GLASS,
        TEAM_INVITATION,
        COVER_INVITATION,
        COVER_SHIFT,
        COVER_MEMBER_LEFT,
    ];
}

/// One entry of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    /// The recipient.
    pub user_id: String,
    /// One of [`kind`].
    pub kind: String,
    /// The person (patient index) it concerns, if any.
    pub person_id: Option<String>,
    /// Who caused it.
    pub actor_user_id: Option<String>,
    pub actor_facility_id: Option<String>,
    /// What caused it (the timeline post's Communication id…).
    pub source_id: Option<String>,
    /// Where it leads: a path on this site (`/patients/{id}/timeline#post-…`).
    pub link: String,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

/// Which of a user's notifications to mark read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSelector {
    /// Every unread one.
    All,
    /// These notifications (by id).
    Ids(Vec<String>),
    /// Those caused by these sources (the posts a timeline view showed).
    Sources(Vec<String>),
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// [`crate::Store::fhir_write`] and the notifications the writes cause, in one
    /// transaction: all or nothing.
    async fn fhir_write_notifying(
        &self,
        writes: Vec<FhirWrite>,
        audit: Vec<AuditEntry>,
        notifications: Vec<Notification>,
    ) -> StoreResult<Vec<FhirRow>>;
    /// Stores notifications on their own (for causes that are not FHIR writes).
    async fn add_notifications(&self, notifications: Vec<Notification>) -> StoreResult<()>;
    /// A user's notifications, newest first.
    async fn notifications_of(
        &self,
        user_id: &str,
        unread_only: bool,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Notification>>;
    /// One notification of `user_id` (another user's is `None`).
    async fn notification(&self, user_id: &str, id: &str) -> StoreResult<Option<Notification>>;
    /// Unread notifications per user (of `user_ids`); users without any are left out.
    async fn unread_notification_counts(
        &self,
        user_ids: &[String],
    ) -> StoreResult<Vec<(String, i64)>>;
    /// Marks notifications of `user_id` read (others' are never touched); returns how many
    /// changed. A notification already read keeps its first read time.
    async fn mark_notifications_read(
        &self,
        user_id: &str,
        which: ReadSelector,
        at: Millis,
    ) -> StoreResult<u64>;
    /// Whether the user wants an e-mail (a link only) about new notifications.
    async fn notification_email(&self, user_id: &str) -> StoreResult<bool>;
    async fn set_notification_email(
        &self,
        user_id: &str,
        enabled: bool,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Of `user_ids`, those who want e-mail.
    async fn notification_email_users(&self, user_ids: &[String]) -> StoreResult<Vec<String>>;
}
