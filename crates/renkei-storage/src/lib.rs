//! The storage boundary. Services and handlers are written against [`Store`]; the SQLite
//! and PostgreSQL implementations live in `renkei-storage-sql`.
//!
//! Every mutating method takes the [`AuditEntry`] that describes it and writes it in the
//! same transaction, so an action is never stored without its audit record and an audit
//! record never describes an action that did not happen.

pub mod cover;
pub mod documents;
pub mod fhir;
pub mod icu;
pub mod notices;
pub mod notifications;
pub mod records;
pub mod testsuite;

use async_trait::async_trait;
use renkei_domain::audit::{AuditEntry, AuditRecord};
use renkei_domain::{FacilityStatus, Millis};

pub use records::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was hit (login ID taken, second application, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The record changed state since the caller read it.
    #[error("invalid state: {0}")]
    InvalidState(String),
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A live event (a vital sign stored, a notification created…) for whoever on any node is
/// watching. Events are hints to refresh, never the data itself: they carry ids, and a
/// receiver that missed one (a lagging subscriber, a reconnecting listener) loses nothing
/// but latency, because what it shows is read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What the event is about (`icu`, `notification`…); receivers filter on it.
    pub topic: String,
    /// Small text, at most [`MAX_EVENT_PAYLOAD`] bytes (PostgreSQL's NOTIFY limit).
    pub payload: String,
}

/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more; topic and payload share it.
pub const MAX_EVENT_PAYLOAD: usize = 7_000;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// "sqlite" or "postgres", for health output and metrics.
    fn backend_name(&self) -> &'static str;

    /// A cheap round trip proving the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The Tele-ICU part of the store.
    fn icu(&self) -> &dyn icu::IcuStore;

    /// The in-app inbox and e-mail preferences.
    fn notifications(&self) -> &dyn notifications::NotificationStore;

    /// Notices with read state, and the discussion board.
    fn notices(&self) -> &dyn notices::NoticeStore;
    /// Deliveries of documents between facilities and their receipts.
    fn documents(&self) -> &dyn documents::DocumentStore;

    /// Home-care on-call groups, their rota and covered patients.
    fn cover(&self) -> &dyn cover::CoverStore;

    // --- live events ------------------------------------------------------------------
    /// Sends an event to every subscriber on every node: PostgreSQL `NOTIFY` (so nodes
    /// behind a load balancer all hear it), an in-process broadcast on SQLite (one node).
    /// Call it after the commit of what it announces.
    async fn publish_event(&self, topic: &str, payload: &str) -> StoreResult<()>;
    /// Events published from now on, on any node. A receiver that falls more than a few
    /// thousand events behind gets `Lagged` and should re-read what it shows.
    fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<Event>;

    // --- settings -------------------------------------------------------------------
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    // --- facilities -----------------------------------------------------------------
    /// Records an application (入会申請) with status `pending`.
    async fn create_facility(
        &self,
        facility: NewFacility,
        audit: AuditEntry,
    ) -> StoreResult<Facility>;
    async fn get_facility(&self, id: &str) -> StoreResult<Option<Facility>>;
    async fn search_facilities(&self, query: &FacilityQuery) -> StoreResult<Page<Facility>>;
    /// Distinct areas (町名) with counts of active facilities, for the directory filter.
    async fn facility_areas(&self) -> StoreResult<Vec<(String, i64)>>;
    async fn count_facilities_by_status(&self) -> StoreResult<Vec<(FacilityStatus, i64)>>;
    /// Approves a pending application: issues the facility code and creates the facility
    /// administrator with a one-time setup link, all at once.
    async fn approve_facility(
        &self,
        facility_id: &str,
        admin: NewUser,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<(Facility, User)>;
    /// Moves a facility from `from` to `to` (reject, suspend, withdraw, reinstate).
    /// Fails with `InvalidState` when the facility is no longer in `from`.
    async fn set_facility_status(
        &self,
        facility_id: &str,
        from: FacilityStatus,
        to: FacilityStatus,
        reason: Option<&str>,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<Facility>;

    // --- users and memberships ------------------------------------------------------
    async fn create_user(&self, user: NewUser, audit: AuditEntry) -> StoreResult<User>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn get_user_by_login(&self, login_id: &str) -> StoreResult<Option<User>>;
    async fn get_user_by_setup_token(&self, token_hash: &str) -> StoreResult<Option<User>>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>>;
    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<MembershipView>>;
    async fn facility_members(&self, facility_id: &str) -> StoreResult<Vec<(User, Membership)>>;
    async fn update_user_profile(
        &self,
        user_id: &str,
        profile: UserProfile,
        audit: AuditEntry,
    ) -> StoreResult<User>;
    async fn set_user_active(
        &self,
        user_id: &str,
        active: bool,
        audit: AuditEntry,
    ) -> StoreResult<User>;
    async fn set_membership(&self, membership: Membership, audit: AuditEntry) -> StoreResult<()>;
    /// Counts a failed login; locks the account for `lock_millis` once `max_failures` is
    /// reached. Returns the user as updated.
    async fn record_login_failure(
        &self,
        user_id: &str,
        max_failures: i64,
        lock_millis: i64,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<User>;
    async fn record_login_success(&self, user_id: &str, at: Millis) -> StoreResult<()>;
    /// Accepts a TOTP step only if it is newer than the last accepted one — checked and
    /// stored in one statement so two nodes cannot both accept the same code.
    async fn claim_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Marks a recovery code used; false if it does not exist or was used already.
    async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn unused_recovery_codes(&self, user_id: &str) -> StoreResult<i64>;
    /// Sets password and second factor together (first setup or re-enrolment) and
    /// clears the setup token.
    async fn set_credentials(
        &self,
        user_id: &str,
        credentials: Credentials,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<User>;
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Wipes password and second factor and issues a new one-time setup link; ends every
    /// session of the user.
    async fn reset_credentials(
        &self,
        user_id: &str,
        setup_token_hash: &str,
        expires_at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn set_user_lang(&self, user_id: &str, lang: &str) -> StoreResult<()>;

    // --- sessions -------------------------------------------------------------------
    async fn create_session(&self, session: Session) -> StoreResult<()>;
    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, id_hash: &str, last_seen_at: Millis) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64>;
    async fn purge_sessions(&self, idle_before: Millis, now: Millis) -> StoreResult<u64>;

    // --- readiness survey -----------------------------------------------------------
    async fn get_readiness(&self, facility_id: &str) -> StoreResult<Option<ReadinessSurvey>>;
    async fn put_readiness(&self, survey: ReadinessSurvey, audit: AuditEntry) -> StoreResult<()>;
    async fn list_readiness(&self) -> StoreResult<Vec<(Facility, Option<ReadinessSurvey>)>>;

    // --- audit ----------------------------------------------------------------------
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<AuditRecord>;
    /// Newest first, for the secretariat's search screen.
    async fn search_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Records with `seq > after_seq` in chain order, for verification and export.
    async fn audit_after(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>>;

    // --- patients -------------------------------------------------------------------
    /// Stores a registration, its match keys, its place in the patient index and any pairs
    /// left for review; the registering facility joins the person's care team.
    async fn register_patient(
        &self,
        record: NewPatientRecord,
        link: PersonLink,
        reviews: Vec<NewMatchReview>,
        audit: AuditEntry,
    ) -> StoreResult<PatientRecord>;
    /// Replaces a registration's demographics and its blocking keys, with the audit record
    /// (which is made to name the registration's person) in the same transaction. The
    /// registration stays linked to its person. `NotFound` for an unknown registration;
    /// `InvalidState` when it changed since the caller read it (`updated_at` is no longer
    /// `expected_updated_at`), and then nothing is written.
    async fn update_patient_record(
        &self,
        update: PatientUpdate,
        audit: AuditEntry,
    ) -> StoreResult<PatientRecord>;
    /// Records sharing at least one blocking key, for the matcher.
    async fn patient_candidates(
        &self,
        block_keys: &[i64],
        limit: i64,
    ) -> StoreResult<Vec<PatientRecord>>;
    async fn get_patient_record(&self, id: &str) -> StoreResult<Option<PatientRecord>>;
    /// Several registrations at once (missing ids are left out), for lists such as the
    /// ICU census.
    async fn get_patient_records(&self, ids: &[String]) -> StoreResult<Vec<PatientRecord>>;
    /// Registrations in id order after `after_id` (exclusive; "" for the first page), for
    /// maintenance that walks every record (recomputing match keys).
    async fn patient_records_after(
        &self,
        after_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<PatientRecord>>;
    /// Replaces the blocking keys of these registrations, in one transaction.
    async fn replace_block_keys(&self, keys: &[(String, Vec<i64>)]) -> StoreResult<()>;
    async fn find_patient_record(
        &self,
        facility_id: &str,
        id_system: &str,
        local_id: &str,
    ) -> StoreResult<Option<PatientRecord>>;
    /// Every registration of a person (following merges), oldest first.
    async fn person_records(&self, person_id: &str) -> StoreResult<Vec<PatientRecord>>;
    /// The surviving person ID after merges; None when no such person exists.
    async fn resolve_person(&self, person_id: &str) -> StoreResult<Option<String>>;
    /// Persons whose care team has `facility_id` as an active member, matching `text`
    /// (names, kana, birth date, local IDs); one representative record each.
    async fn team_patients(
        &self,
        facility_id: &str,
        text: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<PatientRecord>>;
    /// Exact identity search for break-glass: kana name (folded) and birth date.
    async fn find_persons_exact(
        &self,
        kana_folded: &str,
        birth_date: &str,
        limit: i64,
    ) -> StoreResult<Vec<PatientRecord>>;

    async fn open_match_reviews(&self, limit: i64) -> StoreResult<Vec<MatchReview>>;
    /// Confirm: the candidate's person is merged into the record's person. Reject: the pair
    /// is marked distinct. Fails with `InvalidState` if already decided.
    async fn decide_match_review(
        &self,
        review_id: &str,
        confirm: bool,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Moves one registration out to a new person (undoing a wrong link or merge).
    async fn unlink_record(
        &self,
        record_id: &str,
        new_person_id: &str,
        by_user: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn link_history(&self, person_id: &str) -> StoreResult<Vec<LinkEvent>>;

    /// Records a consent; `Conflict` while another consent of the person is active.
    async fn record_consent(&self, consent: NewConsent, audit: AuditEntry) -> StoreResult<Consent>;
    async fn withdraw_consent(
        &self,
        consent_id: &str,
        effective_at: Millis,
        by_user: &str,
        reason: &str,
        audit: AuditEntry,
    ) -> StoreResult<Consent>;
    /// The most recent consent of the person (active or withdrawn).
    async fn current_consent(&self, person_id: &str) -> StoreResult<Option<Consent>>;
    async fn consent_history(&self, person_id: &str) -> StoreResult<Vec<Consent>>;
    async fn get_consent(&self, id: &str) -> StoreResult<Option<Consent>>;
    /// Stores (or replaces) the signed form of a consent.
    async fn put_consent_attachment(
        &self,
        attachment: ConsentAttachment,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn get_consent_attachment(
        &self,
        consent_id: &str,
    ) -> StoreResult<Option<ConsentAttachment>>;

    async fn team_members(&self, person_id: &str) -> StoreResult<Vec<TeamMember>>;
    async fn team_status(
        &self,
        person_id: &str,
        facility_id: &str,
    ) -> StoreResult<Option<renkei_domain::patient::TeamStatus>>;
    /// Invites a facility (fails with `InvalidState` if it is already an active member).
    #[allow(clippy::too_many_arguments)]
    async fn invite_to_team(
        &self,
        person_id: &str,
        facility_id: &str,
        by_facility: &str,
        by_user: &str,
        note: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// [`notifications::NotificationStore::fhir_write_notifying`] and an invitation of a
    /// facility to the person's care team (as [`Store::invite_to_team`]: member row, the
    /// invited facility's notifications, the invitation's audit record), in one transaction:
    /// all or nothing. A facility that is already an active member or invited is left as it
    /// is (no invitation, no audit record for it); the flag says whether it was invited.
    async fn fhir_write_inviting(
        &self,
        writes: Vec<fhir::FhirWrite>,
        audit: Vec<AuditEntry>,
        notifications: Vec<notifications::Notification>,
        invitation: TeamInvitation,
    ) -> StoreResult<(Vec<fhir::FhirRow>, bool)>;
    /// Accept or decline; `InvalidState` unless an invitation is open.
    async fn respond_to_invitation(
        &self,
        person_id: &str,
        facility_id: &str,
        accept: bool,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn leave_team(
        &self,
        person_id: &str,
        facility_id: &str,
        at: Millis,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Open invitations addressed to a facility with a representative record of the person.
    async fn invitations_for(
        &self,
        facility_id: &str,
    ) -> StoreResult<Vec<(TeamMember, PatientRecord)>>;

    /// The facts of the access decision for `person_id`, asked by `user_id` acting for
    /// `facility_id`, at `now` — in as few queries as the backend allows.
    async fn access_facts(
        &self,
        person_id: &str,
        facility_id: Option<&str>,
        user_id: &str,
        now: Millis,
    ) -> StoreResult<AccessFacts>;

    /// Opens break-glass access and leaves a notice for every active team facility.
    async fn start_break_glass(&self, event: BreakGlassEvent, audit: AuditEntry)
        -> StoreResult<()>;
    async fn active_break_glass(
        &self,
        user_id: &str,
        person_id: &str,
        now: Millis,
    ) -> StoreResult<Option<BreakGlassEvent>>;
    async fn list_break_glass(&self, limit: i64) -> StoreResult<Vec<BreakGlassEvent>>;
    async fn team_notices(&self, facility_id: &str, limit: i64) -> StoreResult<Vec<TeamNotice>>;

    // --- bulk -----------------------------------------------------------------------
    /// Loads a whole synthetic network in one transaction (demo mode).
    async fn import_network(&self, data: NetworkImport, audit: AuditEntry) -> StoreResult<()>;

    // --- OAuth2 clients (system access) -------------------------------------------------
    async fn create_api_client(&self, client: ApiClient, audit: AuditEntry) -> StoreResult<()>;
    async fn get_api_client(&self, id: &str) -> StoreResult<Option<ApiClient>>;
    /// A facility's clients, newest first, revoked ones included.
    async fn api_clients_of(&self, facility_id: &str) -> StoreResult<Vec<ApiClient>>;
    /// Revokes the client and deletes its tokens at once (`InvalidState` if already revoked).
    async fn revoke_api_client(&self, id: &str, at: Millis, audit: AuditEntry) -> StoreResult<()>;
    async fn create_api_token(&self, token: ApiToken) -> StoreResult<()>;
    /// The token if it exists, has not expired at `now` and its client is not revoked, with
    /// the facility it is bound to (whatever its status: the caller decides).
    async fn api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<(ApiToken, Facility)>>;

    // --- collector progress ---------------------------------------------------------------
    /// Every processed file of a collection.
    async fn ingest_progress(&self, source: &str) -> StoreResult<Vec<IngestFile>>;
    /// Records (replaces) the state of processed files.
    async fn record_ingest_files(&self, files: Vec<IngestFile>) -> StoreResult<()>;

    // --- timeline read receipts ----------------------------------------------------------
    /// Marks timeline posts (Communication ids) read by a user. Idempotent: a post already
    /// read keeps its first read time. Bookkeeping of an audited page view, so it carries no
    /// audit record of its own.
    async fn mark_timeline_read(
        &self,
        user_id: &str,
        post_ids: &[String],
        at: Millis,
    ) -> StoreResult<()>;
    /// Who has read these posts, earliest read first.
    async fn timeline_readers(&self, post_ids: &[String]) -> StoreResult<Vec<TimelineRead>>;
    /// Per person (of `person_ids`, merged persons followed): how many current
    /// Communications about the person within `scope` the user has not read. Persons
    /// without unread posts are left out.
    async fn timeline_unread(
        &self,
        user_id: &str,
        person_ids: &[String],
        scope: &fhir::FhirScope,
    ) -> StoreResult<Vec<(String, i64)>>;

    // --- FHIR resource store (see `fhir` module docs) ----------------------------------
    /// Applies the writes in one transaction with the audit entries: all or nothing.
    /// A write whose expectation fails (`Create` of an existing id, `Update`/`Delete` of a
    /// version that is no longer current) fails the batch with `StoreError::Conflict`
    /// naming `Type/id`; a Delete/Update of a missing id with an expected version fails
    /// with `NotFound`.
    async fn fhir_write(
        &self,
        writes: Vec<fhir::FhirWrite>,
        audit: Vec<AuditEntry>,
    ) -> StoreResult<Vec<fhir::FhirRow>>;
    /// The current version (deleted ones included, with `deleted = true`).
    async fn fhir_read(&self, resource_type: &str, id: &str) -> StoreResult<Option<fhir::FhirRow>>;
    /// Several current versions by `Type/id` (for `_include`), deleted ones left out.
    async fn fhir_read_many(&self, references: &[String]) -> StoreResult<Vec<fhir::FhirRow>>;
    /// Several current versions by `Type/id`, deleted ones included (`deleted = true`): what
    /// a bulk writer needs to know before writing (one query instead of one per resource).
    async fn fhir_read_current(&self, references: &[String]) -> StoreResult<Vec<fhir::FhirRow>>;
    async fn fhir_vread(
        &self,
        resource_type: &str,
        id: &str,
        version_id: i64,
    ) -> StoreResult<Option<fhir::FhirRow>>;
    /// Versions newest first.
    async fn fhir_history(
        &self,
        query: &fhir::HistoryQuery,
        scope: &fhir::FhirScope,
    ) -> StoreResult<Vec<fhir::FhirRow>>;
    async fn fhir_search(
        &self,
        query: &renkei_fhir::SearchQuery,
        scope: &fhir::FhirScope,
    ) -> StoreResult<fhir::FhirPage>;
    /// Every current, undeleted resource about any of these persons (`Patient/$everything`),
    /// ordered by type then id.
    async fn fhir_everything(
        &self,
        person_ids: &[String],
        scope: &fhir::FhirScope,
        count: usize,
        offset: usize,
    ) -> StoreResult<fhir::FhirPage>;
}
