//! Patients as facilities know them, consent to share, care teams and the one access
//! decision that every read of patient data passes (REQUIREMENTS §2.2).

use crate::{FacilityType, Lang, Millis, Profession};
use serde::{Deserialize, Serialize};

/// JP Core: a facility's local patient ID system is this OID prefix + the 10-digit
/// medical institution code.
pub const JP_LOCAL_ID_OID_PREFIX: &str = "urn:oid:1.2.392.100495.20.3.51.1";

pub fn jp_local_id_system(institution_code: &str) -> String {
    format!("{JP_LOCAL_ID_OID_PREFIX}{institution_code}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    Other,
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Male, Sex::Female, Sex::Other, Sex::Unknown];
    /// FHIR administrative-gender code.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
    pub fn from_code(code: &str) -> Option<Sex> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Sex::Male, Lang::Ja) => "男性",
            (Sex::Female, Lang::Ja) => "女性",
            (Sex::Other, Lang::Ja) => "その他",
            (Sex::Unknown, Lang::Ja) => "不明",
            (Sex::Male, Lang::En) => "Male",
            (Sex::Female, Lang::En) => "Female",
            (Sex::Other, Lang::En) => "Other",
            (Sex::Unknown, Lang::En) => "Unknown",
        }
    }
}

/// 要介護度 under the long-term care insurance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CareLevel {
    None,
    Applying,
    NotEligible,
    Support1,
    Support2,
    Care1,
    Care2,
    Care3,
    Care4,
    Care5,
}

impl CareLevel {
    pub const ALL: [CareLevel; 10] = [
        CareLevel::None,
        CareLevel::Applying,
        CareLevel::NotEligible,
        CareLevel::Support1,
        CareLevel::Support2,
        CareLevel::Care1,
        CareLevel::Care2,
        CareLevel::Care3,
        CareLevel::Care4,
        CareLevel::Care5,
    ];
    pub fn code(self) -> &'static str {
        match self {
            CareLevel::None => "none",
            CareLevel::Applying => "applying",
            CareLevel::NotEligible => "not_eligible",
            CareLevel::Support1 => "support1",
            CareLevel::Support2 => "support2",
            CareLevel::Care1 => "care1",
            CareLevel::Care2 => "care2",
            CareLevel::Care3 => "care3",
            CareLevel::Care4 => "care4",
            CareLevel::Care5 => "care5",
        }
    }
    pub fn from_code(code: &str) -> Option<CareLevel> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (CareLevel::None, Lang::Ja) => "未申請",
            (CareLevel::Applying, Lang::Ja) => "申請中",
            (CareLevel::NotEligible, Lang::Ja) => "非該当",
            (CareLevel::Support1, Lang::Ja) => "要支援1",
            (CareLevel::Support2, Lang::Ja) => "要支援2",
            (CareLevel::Care1, Lang::Ja) => "要介護1",
            (CareLevel::Care2, Lang::Ja) => "要介護2",
            (CareLevel::Care3, Lang::Ja) => "要介護3",
            (CareLevel::Care4, Lang::Ja) => "要介護4",
            (CareLevel::Care5, Lang::Ja) => "要介護5",
            (CareLevel::None, Lang::En) => "Not applied",
            (CareLevel::Applying, Lang::En) => "Applying",
            (CareLevel::NotEligible, Lang::En) => "Not eligible",
            (CareLevel::Support1, Lang::En) => "Support level 1",
            (CareLevel::Support2, Lang::En) => "Support level 2",
            (CareLevel::Care1, Lang::En) => "Care level 1",
            (CareLevel::Care2, Lang::En) => "Care level 2",
            (CareLevel::Care3, Lang::En) => "Care level 3",
            (CareLevel::Care4, Lang::En) => "Care level 4",
            (CareLevel::Care5, Lang::En) => "Care level 5",
        }
    }
}

/// Kinds of patient information. Consent may exclude the sensitive ones from sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InfoCategory {
    /// Name, birth date, contacts, care level: needed to know who the patient is.
    Demographics,
    /// Diagnoses, procedures, encounters.
    Medical,
    Medication,
    Laboratory,
    Imaging,
    Documents,
    /// Care records, daily life, BPSD.
    Care,
    /// Allergies, ACP/DNAR, key contacts: the emergency summary.
    Emergency,
    Psychiatric,
    InfectiousDisease,
    Genetic,
    Reproductive,
}

impl InfoCategory {
    pub const ALL: [InfoCategory; 12] = [
        InfoCategory::Demographics,
        InfoCategory::Medical,
        InfoCategory::Medication,
        InfoCategory::Laboratory,
        InfoCategory::Imaging,
        InfoCategory::Documents,
        InfoCategory::Care,
        InfoCategory::Emergency,
        InfoCategory::Psychiatric,
        InfoCategory::InfectiousDisease,
        InfoCategory::Genetic,
        InfoCategory::Reproductive,
    ];
    /// Categories the network may offer for exclusion: every category except
    /// demographics (who the patient is) and the emergency summary, which must stay
    /// shareable. The secretariat chooses the offered list among these.
    pub const CONFIGURABLE_EXCLUSIONS: [InfoCategory; 10] = [
        InfoCategory::Medical,
        InfoCategory::Medication,
        InfoCategory::Laboratory,
        InfoCategory::Imaging,
        InfoCategory::Documents,
        InfoCategory::Care,
        InfoCategory::Psychiatric,
        InfoCategory::InfectiousDisease,
        InfoCategory::Genetic,
        InfoCategory::Reproductive,
    ];
    /// Default list of categories a consent may exclude (the sensitive ones), used
    /// until the secretariat configures the list.
    pub const EXCLUDABLE: [InfoCategory; 4] = [
        InfoCategory::Psychiatric,
        InfoCategory::InfectiousDisease,
        InfoCategory::Genetic,
        InfoCategory::Reproductive,
    ];
    pub fn code(self) -> &'static str {
        match self {
            InfoCategory::Demographics => "demographics",
            InfoCategory::Medical => "medical",
            InfoCategory::Medication => "medication",
            InfoCategory::Laboratory => "laboratory",
            InfoCategory::Imaging => "imaging",
            InfoCategory::Documents => "documents",
            InfoCategory::Care => "care",
            InfoCategory::Emergency => "emergency",
            InfoCategory::Psychiatric => "psychiatric",
            InfoCategory::InfectiousDisease => "infectious_disease",
            InfoCategory::Genetic => "genetic",
            InfoCategory::Reproductive => "reproductive",
        }
    }
    pub fn from_code(code: &str) -> Option<InfoCategory> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (InfoCategory::Demographics, Lang::Ja) => "基本情報",
            (InfoCategory::Medical, Lang::Ja) => "診療情報（病名・処置・受診）",
            (InfoCategory::Medication, Lang::Ja) => "処方・調剤",
            (InfoCategory::Laboratory, Lang::Ja) => "検査結果",
            (InfoCategory::Imaging, Lang::Ja) => "画像",
            (InfoCategory::Documents, Lang::Ja) => "文書",
            (InfoCategory::Care, Lang::Ja) => "介護・生活の記録",
            (InfoCategory::Emergency, Lang::Ja) => "救急時サマリー",
            (InfoCategory::Psychiatric, Lang::Ja) => "精神科に関する情報",
            (InfoCategory::InfectiousDisease, Lang::Ja) => "感染症に関する情報",
            (InfoCategory::Genetic, Lang::Ja) => "遺伝に関する情報",
            (InfoCategory::Reproductive, Lang::Ja) => "生殖・妊娠に関する情報",
            (InfoCategory::Demographics, Lang::En) => "Demographics",
            (InfoCategory::Medical, Lang::En) => "Clinical (diagnoses, procedures, visits)",
            (InfoCategory::Medication, Lang::En) => "Prescriptions and dispensing",
            (InfoCategory::Laboratory, Lang::En) => "Laboratory results",
            (InfoCategory::Imaging, Lang::En) => "Imaging",
            (InfoCategory::Documents, Lang::En) => "Documents",
            (InfoCategory::Care, Lang::En) => "Care and daily-life records",
            (InfoCategory::Emergency, Lang::En) => "Emergency summary",
            (InfoCategory::Psychiatric, Lang::En) => "Psychiatric information",
            (InfoCategory::InfectiousDisease, Lang::En) => "Infectious disease information",
            (InfoCategory::Genetic, Lang::En) => "Genetic information",
            (InfoCategory::Reproductive, Lang::En) => "Reproductive health information",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// 包括同意: every facility actually caring for the patient (the active care team).
    Comprehensive,
    /// 個別同意: only the named facilities.
    Individual,
}

impl ConsentScope {
    pub fn code(self) -> &'static str {
        match self {
            ConsentScope::Comprehensive => "comprehensive",
            ConsentScope::Individual => "individual",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "comprehensive" => Some(ConsentScope::Comprehensive),
            "individual" => Some(ConsentScope::Individual),
            _ => None,
        }
    }
}

/// What the decision needs to know about the patient's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentView {
    pub scope: ConsentScope,
    /// Facilities named in an individual consent.
    pub facilities: Vec<String>,
    pub excluded: Vec<InfoCategory>,
    /// Set once the consent is withdrawn; sharing stops from this instant.
    pub withdrawn_at: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamStatus {
    Invited,
    Active,
    Declined,
    Left,
}

impl TeamStatus {
    pub fn code(self) -> &'static str {
        match self {
            TeamStatus::Invited => "invited",
            TeamStatus::Active => "active",
            TeamStatus::Declined => "declined",
            TeamStatus::Left => "left",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "invited" => Some(TeamStatus::Invited),
            "active" => Some(TeamStatus::Active),
            "declined" => Some(TeamStatus::Declined),
            "left" => Some(TeamStatus::Left),
            _ => None,
        }
    }
}

/// The person asking, as far as access is concerned.
#[derive(Debug, Clone)]
pub struct Requester {
    pub user_id: String,
    pub facility_id: Option<String>,
    pub facility_type: Option<FacilityType>,
    pub profession: Profession,
    pub is_secretariat: bool,
}

/// Why a person may open an emergency summary outside the team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassGrant {
    pub expires_at: Millis,
}

/// A home-care cover shift (在宅医療の当番) under way: the requester's facility covers the
/// patients an on-call group's members put under the group's cover, from the shift's start
/// to `ends_at`. Storage only reports a grant when the shift is current, the requester's
/// facility is an active member of the group, and the patient is covered by a member
/// facility that is itself an active care-team member of the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverGrant {
    pub shift_id: String,
    pub group_id: String,
    pub ends_at: Millis,
}

/// Everything the decision reads, gathered by the caller from storage.
#[derive(Debug, Clone)]
pub struct AccessContext<'a> {
    pub requester: &'a Requester,
    /// The requester's facility's place in this patient's care team, if any.
    pub team_status: Option<TeamStatus>,
    /// The facility that registered the item being read (own data is never "shared").
    pub source_facility_id: Option<&'a str>,
    pub consent: Option<&'a ConsentView>,
    pub break_glass: Option<&'a BreakGlassGrant>,
    /// A current cover shift of the requester's facility covering the patient.
    pub cover: Option<&'a CoverGrant>,
    pub now: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The requester's own facility recorded it.
    OwnFacility,
    CareTeamConsent,
    BreakGlass,
    /// The requester's facility is on call for an on-call group covering the patient
    /// (在宅医療の当番), during the shift, as far as the consent allows.
    GroupCover,
    /// Identity management by the secretariat (demographics only).
    IdentityManagement,
}

impl Basis {
    pub fn code(self) -> &'static str {
        match self {
            Basis::OwnFacility => "own_facility",
            Basis::CareTeamConsent => "care_team_consent",
            Basis::BreakGlass => "break_glass",
            Basis::GroupCover => "group_cover",
            Basis::IdentityManagement => "identity_management",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    NotInCareTeam,
    NoConsent,
    ConsentWithdrawn,
    FacilityNotInConsent,
    CategoryExcluded,
    NoFacility,
    BreakGlassOutOfScope,
}

impl DenyReason {
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::NotInCareTeam => "not_in_care_team",
            DenyReason::NoConsent => "no_consent",
            DenyReason::ConsentWithdrawn => "consent_withdrawn",
            DenyReason::FacilityNotInConsent => "facility_not_in_consent",
            DenyReason::CategoryExcluded => "category_excluded",
            DenyReason::NoFacility => "no_facility",
            DenyReason::BreakGlassOutOfScope => "break_glass_out_of_scope",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Permit { basis: Basis },
    Deny { reason: DenyReason },
}

impl Decision {
    pub fn is_permit(self) -> bool {
        matches!(self, Decision::Permit { .. })
    }
}

/// Who may ask for break-glass access: emergency physicians and nurses at hospitals, and
/// ambulance crews (003 ch.4(1) 4.).
pub fn may_break_glass(requester: &Requester) -> bool {
    match requester.facility_type {
        Some(FacilityType::EmergencyService) => {
            matches!(
                requester.profession,
                Profession::Paramedic | Profession::Physician | Profession::Nurse
            )
        }
        Some(FacilityType::Hospital) => matches!(
            requester.profession,
            Profession::Physician | Profession::Nurse
        ),
        _ => false,
    }
}

/// The categories break-glass opens: what an emergency team needs, nothing more.
pub const BREAK_GLASS_CATEGORIES: [InfoCategory; 4] = [
    InfoCategory::Demographics,
    InfoCategory::Emergency,
    InfoCategory::Medication,
    InfoCategory::Medical,
];

/// The one access decision. Every read of patient data calls this for the category it is
/// about to show; the caller audits every permit with the patient named.
///
/// Order matters: a withdrawn consent stops all sharing (including break-glass); own data
/// is the facility's own record and not sharing; then care-team membership and consent
/// scope; then category exclusions; then a current group-cover shift (the same consent test
/// for the covering facility: comprehensive or naming it, exclusions standing); break-glass
/// whenever those paths do not permit.
pub fn decide(ctx: &AccessContext<'_>, category: InfoCategory) -> Decision {
    let r = ctx.requester;
    let Some(facility_id) = r.facility_id.as_deref() else {
        if r.is_secretariat && category == InfoCategory::Demographics {
            return Decision::Permit {
                basis: Basis::IdentityManagement,
            };
        }
        return Decision::Deny {
            reason: DenyReason::NoFacility,
        };
    };
    if ctx.source_facility_id == Some(facility_id) {
        return Decision::Permit {
            basis: Basis::OwnFacility,
        };
    }
    if r.is_secretariat && category == InfoCategory::Demographics {
        return Decision::Permit {
            basis: Basis::IdentityManagement,
        };
    }
    let withdrawn = ctx
        .consent
        .is_some_and(|c| c.withdrawn_at.is_some_and(|t| t <= ctx.now));
    if withdrawn {
        return Decision::Deny {
            reason: DenyReason::ConsentWithdrawn,
        };
    }
    let in_team = ctx.team_status == Some(TeamStatus::Active);
    let team_decision = if in_team {
        team_consent_decision(ctx.consent, facility_id, category)
    } else {
        Decision::Deny {
            reason: DenyReason::NotInCareTeam,
        }
    };
    if team_decision.is_permit() {
        return team_decision;
    }
    // Group cover: a scheduled stand-in for the care team, never wider than what the
    // consent gives the team itself — the consent must name the covering facility unless it
    // is comprehensive, and its exclusions stand.
    let covering = ctx.cover.is_some_and(|grant| grant.ends_at > ctx.now);
    let mut fallback = team_decision;
    if covering {
        let cover_decision = cover_consent_decision(ctx.consent, facility_id, category);
        if cover_decision.is_permit() {
            return cover_decision;
        }
        // Outside the team, the cover path's reason is the one that explains a refusal.
        if !in_team {
            fallback = cover_decision;
        }
    }
    break_glass_or(ctx, category, in_team || covering, fallback)
}

/// Break-glass whenever the other paths do not permit; `fallback` otherwise.
fn break_glass_or(
    ctx: &AccessContext<'_>,
    category: InfoCategory,
    has_other_path: bool,
    fallback: Decision,
) -> Decision {
    let r = ctx.requester;
    // Break-glass: time-limited, emergency categories only. It applies whenever the
    // care-team path does not permit — outside the team, but also for a member facility
    // the consent does not cover (or before any consent is recorded): an ER whose hospital
    // once registered the patient must not be worse off than any other ER.
    if let Some(grant) = ctx.break_glass {
        if grant.expires_at > ctx.now && may_break_glass(r) {
            if !BREAK_GLASS_CATEGORIES.contains(&category) {
                return if has_other_path {
                    fallback
                } else {
                    Decision::Deny {
                        reason: DenyReason::BreakGlassOutOfScope,
                    }
                };
            }
            if ctx.consent.is_some_and(|c| c.excluded.contains(&category)) {
                return Decision::Deny {
                    reason: DenyReason::CategoryExcluded,
                };
            }
            return Decision::Permit {
                basis: Basis::BreakGlass,
            };
        }
    }
    fallback
}

/// The cover path: a consent in force that is comprehensive or names the covering facility,
/// and the category not excluded. Same test as the care-team path, kept apart so the basis
/// says which path opened the record.
fn cover_consent_decision(
    consent: Option<&ConsentView>,
    facility_id: &str,
    category: InfoCategory,
) -> Decision {
    match team_consent_decision(consent, facility_id, category) {
        Decision::Permit { .. } => Decision::Permit {
            basis: Basis::GroupCover,
        },
        deny => deny,
    }
}

/// Whether a covering facility may add data (a timeline post, a visit record…) about the
/// patient during a cover shift: the same consent test as reading, category aside. What it
/// writes is attributed to the covering facility.
pub fn cover_permits_contribution(
    consent: Option<&ConsentView>,
    cover: Option<&CoverGrant>,
    facility_id: &str,
    now: Millis,
) -> bool {
    let Some(consent) = consent else {
        return false;
    };
    cover.is_some_and(|g| g.ends_at > now)
        && consent.withdrawn_at.is_none_or(|t| t > now)
        && (consent.scope == ConsentScope::Comprehensive
            || consent.facilities.iter().any(|f| f == facility_id))
}

/// The care-team path for an active member: consent in place, covering the facility, and
/// the category not excluded.
fn team_consent_decision(
    consent: Option<&ConsentView>,
    facility_id: &str,
    category: InfoCategory,
) -> Decision {
    let Some(consent) = consent else {
        return Decision::Deny {
            reason: DenyReason::NoConsent,
        };
    };
    if consent.scope == ConsentScope::Individual
        && !consent.facilities.iter().any(|f| f == facility_id)
    {
        return Decision::Deny {
            reason: DenyReason::FacilityNotInConsent,
        };
    }
    if consent.excluded.contains(&category) {
        return Decision::Deny {
            reason: DenyReason::CategoryExcluded,
        };
    }
    Decision::Permit {
        basis: Basis::CareTeamConsent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurable_exclusions_keep_identity_and_emergency_shareable() {
        let c = InfoCategory::CONFIGURABLE_EXCLUSIONS;
        assert!(!c.contains(&InfoCategory::Demographics));
        assert!(!c.contains(&InfoCategory::Emergency));
        assert_eq!(c.len(), InfoCategory::ALL.len() - 2);
        for x in InfoCategory::EXCLUDABLE {
            assert!(c.contains(&x), "{x:?}");
        }
        // Canonical order is the order of ALL.
        let order: Vec<_> = InfoCategory::ALL
            .into_iter()
            .filter(|x| c.contains(x))
            .collect();
        assert_eq!(order, c.to_vec());
    }

    fn requester(profession: Profession, facility_type: FacilityType) -> Requester {
        Requester {
            user_id: "u".into(),
            facility_id: Some("f-me".into()),
            facility_type: Some(facility_type),
            profession,
            is_secretariat: false,
        }
    }

    fn consent(scope: ConsentScope) -> ConsentView {
        ConsentView {
            scope,
            facilities: vec!["f-me".into()],
            excluded: vec![InfoCategory::Psychiatric],
            withdrawn_at: None,
        }
    }

    fn ctx<'a>(
        r: &'a Requester,
        team: Option<TeamStatus>,
        c: Option<&'a ConsentView>,
        bg: Option<&'a BreakGlassGrant>,
    ) -> AccessContext<'a> {
        AccessContext {
            requester: r,
            team_status: team,
            source_facility_id: Some("f-other"),
            consent: c,
            break_glass: bg,
            cover: None,
            now: 1_000,
        }
    }

    #[test]
    fn team_member_with_consent_reads_but_not_excluded_categories() {
        let r = requester(Profession::Nurse, FacilityType::HomeNursingStation);
        let c = consent(ConsentScope::Comprehensive);
        assert!(decide(
            &ctx(&r, Some(TeamStatus::Active), Some(&c), None),
            InfoCategory::Medication
        )
        .is_permit());
        assert_eq!(
            decide(
                &ctx(&r, Some(TeamStatus::Active), Some(&c), None),
                InfoCategory::Psychiatric
            ),
            Decision::Deny {
                reason: DenyReason::CategoryExcluded
            }
        );
    }

    #[test]
    fn invitations_and_former_members_do_not_read() {
        let r = requester(Profession::Nurse, FacilityType::HomeNursingStation);
        let c = consent(ConsentScope::Comprehensive);
        for status in [
            None,
            Some(TeamStatus::Invited),
            Some(TeamStatus::Declined),
            Some(TeamStatus::Left),
        ] {
            assert_eq!(
                decide(&ctx(&r, status, Some(&c), None), InfoCategory::Demographics),
                Decision::Deny {
                    reason: DenyReason::NotInCareTeam
                }
            );
        }
    }

    #[test]
    fn individual_consent_names_facilities() {
        let r = requester(Profession::Pharmacist, FacilityType::Pharmacy);
        let mut c = consent(ConsentScope::Individual);
        assert!(decide(
            &ctx(&r, Some(TeamStatus::Active), Some(&c), None),
            InfoCategory::Medication
        )
        .is_permit());
        c.facilities = vec!["f-someone-else".into()];
        assert_eq!(
            decide(
                &ctx(&r, Some(TeamStatus::Active), Some(&c), None),
                InfoCategory::Medication
            ),
            Decision::Deny {
                reason: DenyReason::FacilityNotInConsent
            }
        );
    }

    #[test]
    fn withdrawal_stops_everything_but_own_data() {
        let r = requester(Profession::Physician, FacilityType::Hospital);
        let mut c = consent(ConsentScope::Comprehensive);
        c.withdrawn_at = Some(1_000);
        let grant = BreakGlassGrant { expires_at: 5_000 };
        assert_eq!(
            decide(
                &ctx(&r, Some(TeamStatus::Active), Some(&c), None),
                InfoCategory::Demographics
            ),
            Decision::Deny {
                reason: DenyReason::ConsentWithdrawn
            }
        );
        assert_eq!(
            decide(
                &ctx(&r, None, Some(&c), Some(&grant)),
                InfoCategory::Emergency
            ),
            Decision::Deny {
                reason: DenyReason::ConsentWithdrawn
            }
        );
        let own = AccessContext {
            source_facility_id: Some("f-me"),
            ..ctx(&r, Some(TeamStatus::Active), Some(&c), None)
        };
        assert_eq!(
            decide(&own, InfoCategory::Medical),
            Decision::Permit {
                basis: Basis::OwnFacility
            }
        );
        // A withdrawal that takes effect later does not stop sharing yet.
        c.withdrawn_at = Some(2_000);
        assert!(decide(
            &ctx(&r, Some(TeamStatus::Active), Some(&c), None),
            InfoCategory::Demographics
        )
        .is_permit());
    }

    #[test]
    fn no_consent_no_sharing() {
        let r = requester(Profession::Physician, FacilityType::Clinic);
        assert_eq!(
            decide(
                &ctx(&r, Some(TeamStatus::Active), None, None),
                InfoCategory::Medical
            ),
            Decision::Deny {
                reason: DenyReason::NoConsent
            }
        );
    }

    #[test]
    fn break_glass_is_narrow_and_time_limited() {
        let er = requester(Profession::Physician, FacilityType::Hospital);
        let c = consent(ConsentScope::Individual);
        let grant = BreakGlassGrant { expires_at: 2_000 };
        assert_eq!(
            decide(
                &ctx(&er, None, Some(&c), Some(&grant)),
                InfoCategory::Emergency
            ),
            Decision::Permit {
                basis: Basis::BreakGlass
            }
        );
        assert_eq!(
            decide(
                &ctx(&er, None, Some(&c), Some(&grant)),
                InfoCategory::Laboratory
            ),
            Decision::Deny {
                reason: DenyReason::BreakGlassOutOfScope
            }
        );
        assert_eq!(
            decide(
                &ctx(&er, None, Some(&c), Some(&grant)),
                InfoCategory::Psychiatric
            ),
            Decision::Deny {
                reason: DenyReason::BreakGlassOutOfScope
            }
        );
        let expired = BreakGlassGrant { expires_at: 1_000 };
        assert_eq!(
            decide(
                &ctx(&er, None, Some(&c), Some(&expired)),
                InfoCategory::Emergency
            ),
            Decision::Deny {
                reason: DenyReason::NotInCareTeam
            }
        );
        // Without any consent on file an emergency may still open the summary.
        assert!(decide(&ctx(&er, None, None, Some(&grant)), InfoCategory::Emergency).is_permit());
        // A care manager cannot break the glass.
        let cm = requester(Profession::CareManager, FacilityType::CareManagementOffice);
        assert!(!decide(
            &ctx(&cm, None, Some(&c), Some(&grant)),
            InfoCategory::Emergency
        )
        .is_permit());
        let crew = requester(Profession::Paramedic, FacilityType::EmergencyService);
        assert!(decide(
            &ctx(&crew, None, None, Some(&grant)),
            InfoCategory::Emergency
        )
        .is_permit());
    }

    #[test]
    fn break_glass_also_serves_a_member_facility_the_consent_does_not_cover() {
        let er = requester(Profession::Physician, FacilityType::Hospital);
        let grant = BreakGlassGrant { expires_at: 2_000 };
        let mut c = consent(ConsentScope::Individual);
        c.facilities = vec!["f-someone-else".into()];
        for consent in [None, Some(&c)] {
            assert_eq!(
                decide(
                    &ctx(&er, Some(TeamStatus::Active), consent, Some(&grant)),
                    InfoCategory::Emergency
                ),
                Decision::Permit {
                    basis: Basis::BreakGlass
                }
            );
            // Outside the emergency categories the team path's reason stands.
            assert!(!decide(
                &ctx(&er, Some(TeamStatus::Active), consent, Some(&grant)),
                InfoCategory::Laboratory
            )
            .is_permit());
        }
        // Without break-glass the member is still refused.
        assert_eq!(
            decide(
                &ctx(&er, Some(TeamStatus::Active), Some(&c), None),
                InfoCategory::Emergency
            ),
            Decision::Deny {
                reason: DenyReason::FacilityNotInConsent
            }
        );
    }

    fn cover_grant(ends_at: Millis) -> CoverGrant {
        CoverGrant {
            shift_id: "shift-1".into(),
            group_id: "group-1".into(),
            ends_at,
        }
    }

    fn covering<'a>(
        r: &'a Requester,
        c: Option<&'a ConsentView>,
        grant: &'a CoverGrant,
    ) -> AccessContext<'a> {
        AccessContext {
            cover: Some(grant),
            ..ctx(r, None, c, None)
        }
    }

    #[test]
    fn cover_shift_opens_covered_patients_during_the_shift_only() {
        let r = requester(Profession::Physician, FacilityType::HomeVisitClinic);
        let c = consent(ConsentScope::Comprehensive);
        let current = cover_grant(2_000);
        assert_eq!(
            decide(&covering(&r, Some(&c), &current), InfoCategory::Medical),
            Decision::Permit {
                basis: Basis::GroupCover
            }
        );
        // The shift ended (ends_at is exclusive): nothing, as for any outsider.
        let ended = cover_grant(1_000);
        assert_eq!(
            decide(&covering(&r, Some(&c), &ended), InfoCategory::Medical),
            Decision::Deny {
                reason: DenyReason::NotInCareTeam
            }
        );
        // A care-team member keeps the team basis.
        let member = AccessContext {
            team_status: Some(TeamStatus::Active),
            ..covering(&r, Some(&c), &current)
        };
        assert_eq!(
            decide(&member, InfoCategory::Medical),
            Decision::Permit {
                basis: Basis::CareTeamConsent
            }
        );
    }

    #[test]
    fn cover_follows_the_consent() {
        let r = requester(Profession::Nurse, FacilityType::HomeNursingStation);
        let grant = cover_grant(2_000);
        // Excluded categories stay excluded.
        let c = consent(ConsentScope::Comprehensive);
        assert_eq!(
            decide(&covering(&r, Some(&c), &grant), InfoCategory::Psychiatric),
            Decision::Deny {
                reason: DenyReason::CategoryExcluded
            }
        );
        // A withdrawn consent stops cover like everything else.
        let mut withdrawn = consent(ConsentScope::Comprehensive);
        withdrawn.withdrawn_at = Some(500);
        assert_eq!(
            decide(
                &covering(&r, Some(&withdrawn), &grant),
                InfoCategory::Demographics
            ),
            Decision::Deny {
                reason: DenyReason::ConsentWithdrawn
            }
        );
        // No consent: no cover.
        assert_eq!(
            decide(&covering(&r, None, &grant), InfoCategory::Demographics),
            Decision::Deny {
                reason: DenyReason::NoConsent
            }
        );
        // An individual consent must name the covering facility.
        let mut individual = consent(ConsentScope::Individual);
        assert_eq!(
            decide(&covering(&r, Some(&individual), &grant), InfoCategory::Care),
            Decision::Permit {
                basis: Basis::GroupCover
            }
        );
        individual.facilities = vec!["f-the-team-clinic".into()];
        assert_eq!(
            decide(&covering(&r, Some(&individual), &grant), InfoCategory::Care),
            Decision::Deny {
                reason: DenyReason::FacilityNotInConsent
            }
        );
    }

    #[test]
    fn cover_contributions_follow_the_same_consent_test() {
        let c = consent(ConsentScope::Comprehensive);
        let grant = cover_grant(2_000);
        assert!(cover_permits_contribution(
            Some(&c),
            Some(&grant),
            "f-x",
            1_000
        ));
        assert!(!cover_permits_contribution(
            Some(&c),
            Some(&grant),
            "f-x",
            2_000
        ));
        assert!(!cover_permits_contribution(
            None,
            Some(&grant),
            "f-x",
            1_000
        ));
        assert!(!cover_permits_contribution(Some(&c), None, "f-x", 1_000));
        let i = consent(ConsentScope::Individual);
        assert!(cover_permits_contribution(
            Some(&i),
            Some(&grant),
            "f-me",
            1_000
        ));
        assert!(!cover_permits_contribution(
            Some(&i),
            Some(&grant),
            "f-x",
            1_000
        ));
        let mut w = consent(ConsentScope::Comprehensive);
        w.withdrawn_at = Some(900);
        assert!(!cover_permits_contribution(
            Some(&w),
            Some(&grant),
            "f-x",
            1_000
        ));
    }

    #[test]
    fn break_glass_still_serves_a_covering_facility_the_consent_does_not_name() {
        let er = requester(Profession::Physician, FacilityType::Hospital);
        let mut c = consent(ConsentScope::Individual);
        c.facilities = vec!["f-someone-else".into()];
        let cover = cover_grant(2_000);
        let bg = BreakGlassGrant { expires_at: 2_000 };
        let both = AccessContext {
            cover: Some(&cover),
            ..ctx(&er, None, Some(&c), Some(&bg))
        };
        assert_eq!(
            decide(&both, InfoCategory::Emergency),
            Decision::Permit {
                basis: Basis::BreakGlass
            }
        );
        assert_eq!(
            decide(&both, InfoCategory::Laboratory),
            Decision::Deny {
                reason: DenyReason::FacilityNotInConsent
            }
        );
    }

    #[test]
    fn secretariat_sees_identity_only() {
        let sec = Requester {
            user_id: "s".into(),
            facility_id: None,
            facility_type: None,
            profession: Profession::Clerk,
            is_secretariat: true,
        };
        let c = consent(ConsentScope::Comprehensive);
        assert_eq!(
            decide(&ctx(&sec, None, Some(&c), None), InfoCategory::Demographics),
            Decision::Permit {
                basis: Basis::IdentityManagement
            }
        );
        assert!(!decide(&ctx(&sec, None, Some(&c), None), InfoCategory::Medical).is_permit());
    }
}
