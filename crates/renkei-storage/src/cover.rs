//! Home-care group cover (在宅医療の当番・連携グループ): clinics and home-visit nursing
//! stations form an on-call group, keep a rota of shifts naming the covering member, and
//! each member chooses which of its care-team patients the group covers.
//!
//! Kept apart from [`crate::Store`] like the notices; a store hands it out with
//! [`crate::Store::cover`]. Every change carries its audit record, written in the same
//! transaction, together with the inbox notifications it causes (an invitation, a shift put
//! on another facility's rota, a member leaving or removed): the caller names the
//! recipients, the store writes them or nothing. What a shift opens is not decided here: [`crate::Store::access_facts`] reports
//! a current shift covering the patient (one round trip) and the rule
//! (`renkei_domain::patient::decide`) applies the consent to it.

use async_trait::async_trait;
use renkei_domain::audit::AuditEntry;
use renkei_domain::Millis;
use serde::Serialize;

use crate::notifications::Notification;
use crate::StoreResult;

/// A member's place in a group (`CoverMember::status`).
pub mod member_status {
    pub const INVITED: &str = "invited";
    pub const ACTIVE: &str = "active";
    pub const DECLINED: &str = "declined";
    pub const LEFT: &str = "left";
    pub const REMOVED: &str = "removed";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The facility that created the group; it may remove members.
    pub owner_facility_id: String,
    pub created_by: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverMember {
    pub group_id: String,
    pub facility_id: String,
    /// One of [`member_status`].
    pub status: String,
    /// Every active care-team patient of the facility is covered (new ones included).
    pub covers_all: bool,
    pub invited_by_user: Option<String>,
    pub updated_at: Millis,
}

/// One shift of the rota: `facility_id` covers the group from `starts_at` (inclusive) to
/// `ends_at` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverShift {
    pub id: String,
    pub group_id: String,
    pub facility_id: String,
    /// The named on-call person of the covering facility, if any (free text: a name and a
    /// number to call, not an account).
    pub on_call: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub created_by: String,
    pub created_at: Millis,
}

/// What a member puts under the group's cover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoveredChoice {
    pub covers_all: bool,
    /// Persons chosen one by one (kept while `covers_all`, so unticking "all" restores them).
    pub person_ids: Vec<String>,
}

#[async_trait]
pub trait CoverStore: Send + Sync {
    /// Creates a group with its creating facility as the first active member.
    async fn create_cover_group(&self, group: CoverGroup, audit: AuditEntry) -> StoreResult<()>;
    async fn cover_group(&self, id: &str) -> StoreResult<Option<CoverGroup>>;
    /// The groups a facility is (or was invited to be) a member of, with its membership,
    /// by name.
    async fn cover_groups_of(
        &self,
        facility_id: &str,
    ) -> StoreResult<Vec<(CoverGroup, CoverMember)>>;
    /// The members of a group, every status, in the order they joined.
    async fn cover_members(&self, group_id: &str) -> StoreResult<Vec<CoverMember>>;
    /// Invites a facility, notifying `notifications` (the invited facility's administrators)
    /// in the same transaction. `Conflict` if it is already invited or active; nothing is
    /// stored then.
    async fn invite_to_cover_group(
        &self,
        group_id: &str,
        facility_id: &str,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
        notifications: Vec<Notification>,
    ) -> StoreResult<()>;
    /// Accepts or declines an open invitation (`InvalidState` if there is none).
    async fn answer_cover_invitation(
        &self,
        group_id: &str,
        facility_id: &str,
        accept: bool,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Ends an active membership or an open invitation (`status`: left or removed). The
    /// facility's future shifts are deleted with it, and a shift under way ends at `at`, so
    /// the access it gave stops at once. `InvalidState` if there is nothing to end (and
    /// nobody is notified).
    async fn end_cover_membership(
        &self,
        group_id: &str,
        facility_id: &str,
        status: &str,
        at: Millis,
        audit: AuditEntry,
        notifications: Vec<Notification>,
    ) -> StoreResult<()>;
    /// Adds a shift with the notifications it causes. `InvalidState` if the covering
    /// facility is not an active member; `Conflict` if it overlaps another shift of the
    /// group; nothing stored or notified then.
    async fn add_cover_shift(
        &self,
        shift: CoverShift,
        audit: AuditEntry,
        notifications: Vec<Notification>,
    ) -> StoreResult<()>;
    /// Deletes a shift that has not started yet (`InvalidState` once it has started).
    async fn delete_cover_shift(
        &self,
        group_id: &str,
        shift_id: &str,
        now: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// The group's shifts overlapping `[from, to)`, by start.
    async fn cover_shifts(
        &self,
        group_id: &str,
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<CoverShift>>;
    /// Shifts under way at `now` in which `facility_id` covers an active group, with the
    /// group.
    async fn current_cover_shifts(
        &self,
        facility_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<(CoverGroup, CoverShift)>>;
    /// What a member put under the group's cover.
    async fn covered_choice(&self, group_id: &str, facility_id: &str)
        -> StoreResult<CoveredChoice>;
    /// Replaces what a member puts under the group's cover. `InvalidState` unless the
    /// facility is an active member; persons it is not an active care-team member of are
    /// refused (`InvalidState`), nothing stored.
    async fn set_covered_choice(
        &self,
        group_id: &str,
        facility_id: &str,
        choice: CoveredChoice,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// The persons the group covers now: chosen (or all, for `covers_all`) by an active
    /// member that is an active care-team member of them. Surviving person ids, sorted.
    async fn covered_persons(&self, group_id: &str) -> StoreResult<Vec<String>>;
}
