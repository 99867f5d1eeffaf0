//! Plain records that cross the storage boundary.

use renkei_domain::{FacilityStatus, FacilityType, Lang, MemberRole, Millis, Profession};
use serde::{Deserialize, Serialize};

/// One page of results plus the total that matched.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFacility {
    pub id: String,
    pub facility_type: FacilityType,
    pub legal_entity: String,
    pub name: String,
    pub name_kana: String,
    /// 医療機関コード or 介護保険事業所番号, empty where the type has none.
    pub official_id: String,
    pub postal_code: String,
    pub address: String,
    /// The town (町名) part of the address, used by the directory's area filter.
    pub area: String,
    pub tel: String,
    pub fax: String,
    pub email: String,
    pub applicant_name: String,
    pub applicant_email: String,
    pub admin_name: String,
    pub admin_login_id: String,
    pub admin_email: String,
    pub professions: Vec<Profession>,
    pub applied_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facility {
    pub id: String,
    /// Issued at approval (`F00042`).
    pub code: Option<String>,
    pub facility_type: FacilityType,
    pub status: FacilityStatus,
    pub status_reason: Option<String>,
    pub legal_entity: String,
    pub name: String,
    pub name_kana: String,
    pub official_id: String,
    pub postal_code: String,
    pub address: String,
    pub area: String,
    pub tel: String,
    pub fax: String,
    pub email: String,
    pub applicant_name: String,
    pub applicant_email: String,
    pub admin_name: String,
    pub admin_login_id: String,
    pub admin_email: String,
    pub professions: Vec<Profession>,
    pub applied_at: Millis,
    pub decided_at: Option<Millis>,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct FacilityQuery {
    /// Matched against name, kana, address and facility code, kana- and width-insensitive.
    pub text: Option<String>,
    pub facility_type: Option<FacilityType>,
    pub category: Option<renkei_domain::FacilityCategory>,
    pub area: Option<String>,
    /// None means every status.
    pub status: Option<FacilityStatus>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub id: String,
    pub login_id: String,
    pub display_name: String,
    pub display_name_kana: String,
    pub email: String,
    pub profession: Profession,
    pub is_secretariat: bool,
    /// Argon2id PHC string; None until the user completes setup.
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub recovery_code_hashes: Vec<String>,
    pub setup_token_hash: Option<String>,
    pub setup_expires_at: Option<Millis>,
    pub memberships: Vec<(String, MemberRole)>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub login_id: String,
    pub display_name: String,
    pub display_name_kana: String,
    pub email: String,
    pub profession: Profession,
    pub is_secretariat: bool,
    pub active: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[serde(skip)]
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until: Option<Millis>,
    #[serde(skip)]
    pub setup_token_hash: Option<String>,
    pub setup_expires_at: Option<Millis>,
    pub lang: Option<Lang>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_login_at: Option<Millis>,
}

impl User {
    pub fn is_locked(&self, now: Millis) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
    /// Setup finished: a password and a second factor exist.
    pub fn is_enrolled(&self) -> bool {
        self.password_hash.is_some() && self.totp_secret.is_some()
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub text: Option<String>,
    pub facility_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub display_name: String,
    pub display_name_kana: String,
    pub email: String,
    pub profession: Profession,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub user_id: String,
    pub facility_id: String,
    pub role: MemberRole,
    pub active: bool,
}

/// A membership together with the facility it is in.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipView {
    pub membership: Membership,
    pub facility: Facility,
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub password_hash: String,
    pub totp_secret: String,
    pub recovery_code_hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie value; the cookie itself is never stored.
    pub id_hash: String,
    pub user_id: String,
    /// False between password and second factor.
    pub second_factor_done: bool,
    pub csrf_token: String,
    /// The facility the user is acting for (several memberships are possible).
    pub facility_id: Option<String>,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    /// Absolute lifetime end regardless of activity.
    pub expires_at: Millis,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The readiness survey of a facility's systems (000 §4(1)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReadinessSurvey {
    pub facility_id: String,
    /// EHR, receipt computer or care software in use.
    pub system_kind: String,
    pub vendor: String,
    pub product: String,
    /// "yes", "no", "unknown".
    pub ssmix2_export: String,
    /// "yes", "no", "unknown": can it send HL7 v2 or FHIR?
    pub hl7_fhir_capable: String,
    /// e.g. 光回線, IP-VPN, モバイル回線, なし.
    pub network_line: String,
    /// e.g. PCs, tablets, smartphones and how many.
    pub devices: String,
    /// "in_house", "vendor", "none".
    pub it_staff: String,
    pub notes: String,
    pub updated_at: Millis,
    pub updated_by: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Prefix of the action name, e.g. `auth.`.
    pub action_prefix: Option<String>,
    pub actor_login: Option<String>,
    pub facility_id: Option<String>,
    pub patient_id: Option<String>,
    pub outcome: Option<String>,
    /// Only records with seq below this (paging newest first).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// A whole synthetic network, loaded at once.
#[derive(Debug, Clone, Default)]
pub struct NetworkImport {
    /// Facilities with their status and code already decided.
    pub facilities: Vec<(NewFacility, FacilityStatus, Option<String>)>,
    pub users: Vec<NewUser>,
    pub readiness: Vec<ReadinessSurvey>,
    pub patients: PatientImport,
}

/// Patients of a synthetic network with their index links already decided.
#[derive(Debug, Clone, Default)]
pub struct PatientImport {
    /// Person IDs with their creation time.
    pub persons: Vec<(String, Millis)>,
    /// Registrations and the person each belongs to.
    pub records: Vec<(NewPatientRecord, String)>,
    pub team: Vec<TeamMember>,
    /// Consents, with the withdrawal time of those withdrawn.
    pub consents: Vec<(NewConsent, Option<Millis>)>,
    /// Open review pairs: (record ID, review).
    pub reviews: Vec<(String, NewMatchReview)>,
}

// --- patients -------------------------------------------------------------------------

use renkei_domain::patient::{CareLevel, ConsentScope, InfoCategory, Sex, TeamStatus};

/// A previous name (e.g. before marriage), kept for matching and display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PreviousName {
    pub family_kanji: String,
    pub family_kana: String,
}

/// A patient as one facility registered them, under its own local ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPatientRecord {
    pub id: String,
    pub facility_id: String,
    /// Identifier system: JP Core `urn:oid:1.2.392.100495.20.3.51.1<institution code>` or
    /// the facility's own URI.
    pub id_system: String,
    pub local_id: String,
    pub family_kanji: String,
    pub given_kanji: String,
    pub family_kana: String,
    pub given_kana: String,
    pub previous_names: Vec<PreviousName>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Sex,
    pub postal_code: String,
    pub address: String,
    pub phones: Vec<String>,
    pub insurance_numbers: Vec<String>,
    pub care_level: CareLevel,
    /// Blocking keys of the match keys, computed once at write time.
    pub block_keys: Vec<i64>,
    pub is_test: bool,
    pub created_by: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub id: String,
    pub person_id: String,
    pub facility_id: String,
    pub id_system: String,
    pub local_id: String,
    pub family_kanji: String,
    pub given_kanji: String,
    pub family_kana: String,
    pub given_kana: String,
    pub previous_names: Vec<PreviousName>,
    pub birth_date: String,
    pub sex: Sex,
    pub postal_code: String,
    pub address: String,
    pub phones: Vec<String>,
    pub insurance_numbers: Vec<String>,
    pub care_level: CareLevel,
    pub is_test: bool,
    pub created_by: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl PatientRecord {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.family_kanji, self.given_kanji)
    }
    pub fn full_kana(&self) -> String {
        format!("{} {}", self.family_kana, self.given_kana)
    }
}

/// New demographics for an existing registration (a PIXm feed of a patient the facility
/// registered before). The registration's ID, facility, identifier (`id_system`,
/// `local_id`), person, test flag and creation stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientUpdate {
    pub record_id: String,
    /// The `updated_at` the caller read; a registration changed since is not overwritten.
    pub expected_updated_at: Millis,
    pub family_kanji: String,
    pub given_kanji: String,
    pub family_kana: String,
    pub given_kana: String,
    pub previous_names: Vec<PreviousName>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Sex,
    pub postal_code: String,
    pub address: String,
    pub phones: Vec<String>,
    pub insurance_numbers: Vec<String>,
    pub care_level: CareLevel,
    /// Blocking keys of the new match keys, computed at write time; they replace the old.
    pub block_keys: Vec<i64>,
    /// Must be later than `expected_updated_at`.
    pub updated_at: Millis,
}

/// Where a new registration goes in the master patient index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonLink {
    /// A new person with this ID.
    NewPerson(String),
    /// Linked automatically to an existing person.
    Existing(String),
}

/// A pair the matcher could not decide, for the secretariat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMatchReview {
    pub id: String,
    pub candidate_record_id: String,
    pub weight: f64,
    pub probability: f64,
    /// Per-field explanation as JSON.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchReview {
    pub id: String,
    pub record_id: String,
    pub candidate_record_id: String,
    pub weight: f64,
    pub probability: f64,
    pub detail: String,
    pub status: String,
    pub created_at: Millis,
    pub decided_by: Option<String>,
    pub decided_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkEvent {
    pub id: String,
    pub action: String,
    pub record_id: Option<String>,
    pub from_person: Option<String>,
    pub to_person: Option<String>,
    pub by_user: String,
    pub at: Millis,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConsent {
    pub id: String,
    pub person_id: String,
    pub scope: ConsentScope,
    pub facilities: Vec<String>,
    pub excluded: Vec<InfoCategory>,
    /// "written" or "verbal".
    pub form: String,
    /// "patient" or "proxy".
    pub signer: String,
    pub proxy_name: String,
    pub proxy_relationship: String,
    pub family_participation: bool,
    pub family_note: String,
    pub obtained_by: String,
    pub obtained_facility_id: String,
    pub obtained_at: Millis,
    pub place: String,
    pub card_number: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub id: String,
    pub person_id: String,
    /// "active" or "withdrawn".
    pub status: String,
    pub scope: ConsentScope,
    pub facilities: Vec<String>,
    pub excluded: Vec<InfoCategory>,
    pub form: String,
    pub signer: String,
    pub proxy_name: String,
    pub proxy_relationship: String,
    pub family_participation: bool,
    pub family_note: String,
    pub obtained_by: String,
    pub obtained_facility_id: String,
    pub obtained_at: Millis,
    pub place: String,
    pub card_number: String,
    pub withdrawn_at: Option<Millis>,
    pub withdrawn_by: Option<String>,
    pub withdrawal_reason: Option<String>,
    pub created_at: Millis,
}

impl Consent {
    pub fn view(&self) -> renkei_domain::patient::ConsentView {
        renkei_domain::patient::ConsentView {
            scope: self.scope,
            facilities: self.facilities.clone(),
            excluded: self.excluded.clone(),
            withdrawn_at: self.withdrawn_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamMember {
    pub person_id: String,
    pub facility_id: String,
    pub status: TeamStatus,
    pub invited_by_facility: Option<String>,
    pub invited_by_user: Option<String>,
    pub note: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A signed consent form kept with its consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentAttachment {
    pub consent_id: String,
    pub filename: String,
    /// Detected from the content, never taken from the upload's own claim.
    pub content_type: String,
    pub sha256: String,
    pub data: Vec<u8>,
    pub uploaded_by: String,
    pub uploaded_at: Millis,
}

/// Everything the access decision needs about one person, gathered in one round trip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessFacts {
    /// The surviving person after merges; None when no such person exists.
    pub person_id: Option<String>,
    /// The asking facility's place in the care team.
    pub team_status: Option<TeamStatus>,
    /// The asking facility has its own registration of the person.
    pub own_registration: bool,
    /// The current (latest, not superseded) consent.
    pub consent: Option<renkei_domain::patient::ConsentView>,
    /// Expiry of the asking user's active break-glass grant.
    pub break_glass_expires_at: Option<Millis>,
    /// A cover shift under way in which the asking facility covers the person
    /// (`crate::cover`): the person is covered by an active member of the shift's group that
    /// is an active care-team member of the person.
    pub cover: Option<renkei_domain::patient::CoverGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakGlassEvent {
    pub id: String,
    pub person_id: String,
    pub user_id: String,
    pub facility_id: String,
    pub reason: String,
    pub started_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamNotice {
    pub id: String,
    pub facility_id: String,
    pub person_id: String,
    pub kind: String,
    pub body: String,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

/// A system (EHR, pharmacy system, monitor gateway…) a facility administrator allowed to
/// call the FHIR API with OAuth2 client credentials, acting for that facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiClient {
    /// The OAuth2 `client_id`.
    pub id: String,
    pub facility_id: String,
    pub name: String,
    /// SHA-256 (hex) of the secret, which is shown once and never stored.
    pub secret_hash: String,
    /// The SMART scopes it may ask for, space-separated (`system/Observation.rs …`).
    pub scopes: String,
    pub created_by: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// An access token issued to a client (stored as a hash; short-lived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub token_hash: String,
    pub client_id: String,
    pub facility_id: String,
    /// Granted scopes, space-separated.
    pub scopes: String,
    pub issued_at: Millis,
    pub expires_at: Millis,
}

/// One user's first view of one timeline post (a FHIR `Communication`, by id): a read
/// receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineRead {
    pub post_id: String,
    pub user_id: String,
    pub read_at: Millis,
}

/// A file a collector has processed (`renkei collect ssmix2`), so a rerun skips it while it
/// is unchanged and a killed run resumes where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestFile {
    /// The collection (`ssmix2:<facility>:<root>`).
    pub source: String,
    /// Path relative to the root.
    pub path: String,
    /// Size and modification time (`<bytes>:<mtime ns>`).
    pub fingerprint: String,
    /// `stored`, `unchanged` or `error`.
    pub status: String,
    /// The error, or a summary of what was stored.
    pub detail: String,
    pub processed_at: Millis,
}

/// An invitation of a facility to a person's care team, written together with other writes
/// ([`crate::Store::fhir_write_inviting`]).
#[derive(Debug, Clone)]
pub struct TeamInvitation {
    pub person_id: String,
    pub facility_id: String,
    pub by_facility: String,
    pub by_user: String,
    /// Shown to the invited facility (at most a few hundred characters).
    pub note: String,
    pub at: Millis,
    /// The invitation's own audit record (`team.invite`); the person is filled in.
    pub audit: renkei_domain::audit::AuditEntry,
}
