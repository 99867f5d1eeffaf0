//! Facility types (the full participant list of the target city, REQUIREMENTS §1/§2.1) and
//! the facility life cycle.

use crate::Lang;
use serde::{Deserialize, Serialize};

/// Broad groups used for the directory filter and for the home page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FacilityCategory {
    Medical,
    Dental,
    Pharmacy,
    Care,
    OutsideInsurance,
    Public,
    Secretariat,
}

impl FacilityCategory {
    pub const ALL: [FacilityCategory; 7] = [
        FacilityCategory::Medical,
        FacilityCategory::Dental,
        FacilityCategory::Pharmacy,
        FacilityCategory::Care,
        FacilityCategory::OutsideInsurance,
        FacilityCategory::Public,
        FacilityCategory::Secretariat,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FacilityCategory::Medical => "medical",
            FacilityCategory::Dental => "dental",
            FacilityCategory::Pharmacy => "pharmacy",
            FacilityCategory::Care => "care",
            FacilityCategory::OutsideInsurance => "outside_insurance",
            FacilityCategory::Public => "public",
            FacilityCategory::Secretariat => "secretariat",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => match self {
                FacilityCategory::Medical => "医療機関",
                FacilityCategory::Dental => "歯科",
                FacilityCategory::Pharmacy => "薬局",
                FacilityCategory::Care => "介護サービス・高齢者向け住まい",
                FacilityCategory::OutsideInsurance => "保険外サービス",
                FacilityCategory::Public => "行政・救急",
                FacilityCategory::Secretariat => "事務局",
            },
            Lang::En => match self {
                FacilityCategory::Medical => "Medical institutions",
                FacilityCategory::Dental => "Dental",
                FacilityCategory::Pharmacy => "Pharmacies",
                FacilityCategory::Care => "Care services and housing",
                FacilityCategory::OutsideInsurance => "Services outside insurance",
                FacilityCategory::Public => "Municipality and emergency",
                FacilityCategory::Secretariat => "Secretariat",
            },
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

macro_rules! facility_types {
    ($( $variant:ident => ($code:literal, $cat:ident, $ja:literal, $en:literal, $id_kind:ident) ),* $(,)?) => {
        /// Every kind of facility that can join the network.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum FacilityType { $( $variant ),* }

        impl FacilityType {
            pub const ALL: &'static [FacilityType] = &[ $( FacilityType::$variant ),* ];

            /// Stable code used in storage, URLs and APIs.
            pub fn code(self) -> &'static str {
                match self { $( FacilityType::$variant => $code ),* }
            }

            pub fn category(self) -> FacilityCategory {
                match self { $( FacilityType::$variant => FacilityCategory::$cat ),* }
            }

            pub fn label(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $( (FacilityType::$variant, Lang::Ja) => $ja,
                       (FacilityType::$variant, Lang::En) => $en, )*
                }
            }

            /// Which official number identifies a facility of this type.
            pub fn official_id_kind(self) -> OfficialIdKind {
                match self { $( FacilityType::$variant => OfficialIdKind::$id_kind ),* }
            }
        }
    };
}

facility_types! {
    Hospital => ("hospital", Medical, "病院", "Hospital", MedicalInstitutionCode),
    Clinic => ("clinic", Medical, "診療所・クリニック", "Clinic", MedicalInstitutionCode),
    HomeVisitClinic => ("home_visit_clinic", Medical, "在宅療養支援診療所（訪問診療・往診）", "Home-visit medical institution", MedicalInstitutionCode),
    DentalClinic => ("dental_clinic", Dental, "歯科診療所", "Dental clinic", MedicalInstitutionCode),
    Pharmacy => ("pharmacy", Pharmacy, "保険薬局（調剤薬局）", "Dispensing pharmacy", MedicalInstitutionCode),
    CommunityCareCenter => ("community_care_center", Care, "地域包括支援センター", "Community comprehensive support centre", CareProviderNumber),
    CareManagementOffice => ("care_management", Care, "居宅介護支援事業所", "Care management office", CareProviderNumber),
    HomeHelpService => ("home_help", Care, "訪問介護事業所", "Home-help service", CareProviderNumber),
    HomeBathingService => ("home_bathing", Care, "訪問入浴介護事業所", "Home bathing service", CareProviderNumber),
    HomeNursingStation => ("home_nursing", Care, "訪問看護ステーション", "Home-visit nursing station", CareProviderNumber),
    HomeRehabilitation => ("home_rehab", Care, "訪問リハビリテーション事業所", "Home-visit rehabilitation", CareProviderNumber),
    RegularVisitService => ("regular_visit", Care, "定期巡回・随時対応型訪問介護看護事業所", "24-hour regular and on-call home care", CareProviderNumber),
    DayService => ("day_service", Care, "通所介護事業所（デイサービス）", "Day service", CareProviderNumber),
    DementiaDayService => ("dementia_day_service", Care, "認知症対応型通所介護事業所", "Day service for dementia", CareProviderNumber),
    DayRehabilitation => ("day_rehab", Care, "通所リハビリテーション事業所（デイケア）", "Day rehabilitation", CareProviderNumber),
    DementiaDayCare => ("dementia_day_care", Care, "認知症デイケア", "Dementia day care", CareProviderNumber),
    SmallMultifunctional => ("small_multifunctional", Care, "小規模多機能型居宅介護事業所", "Small-scale multifunctional home care", CareProviderNumber),
    ShortStayLiving => ("short_stay_living", Care, "短期入所生活介護事業所", "Short-stay (daily-life care)", CareProviderNumber),
    ShortStayMedical => ("short_stay_medical", Care, "短期入所療養介護事業所", "Short-stay (medical care)", CareProviderNumber),
    WelfareEquipment => ("welfare_equipment", Care, "福祉用具貸与事業所", "Welfare equipment rental", CareProviderNumber),
    SpecialNursingHome => ("special_nursing_home", Care, "介護老人福祉施設（特別養護老人ホーム）", "Special nursing home", CareProviderNumber),
    GeriatricHealthFacility => ("geriatric_health_facility", Care, "介護老人保健施設", "Long-term care health facility", CareProviderNumber),
    CareMedicalClinic => ("care_medical_clinic", Care, "介護医療院", "Integrated facility for medical and long-term care", CareProviderNumber),
    DementiaGroupHome => ("dementia_group_home", Care, "認知症対応型共同生活介護（グループホーム）", "Dementia group home", CareProviderNumber),
    NursingHomeForElderly => ("yogo_home", Care, "養護老人ホーム", "Nursing home for the elderly (yōgo)", CareProviderNumber),
    LowCostHome => ("low_cost_home", Care, "軽費老人ホーム", "Low-cost home for the elderly", CareProviderNumber),
    CareHouse => ("care_house", Care, "ケアハウス", "Care house", CareProviderNumber),
    ServicedHousing => ("serviced_housing", Care, "サービス付き高齢者向け住宅", "Serviced housing for the elderly", CareProviderNumber),
    PrivateCareHome => ("private_care_home", Care, "有料老人ホーム", "Private residential home", CareProviderNumber),
    VolunteerNursing => ("volunteer_nursing", OutsideInsurance, "有償ボランティア（看護）", "Paid volunteer nursing", None),
    VolunteerCare => ("volunteer_care", OutsideInsurance, "有償ボランティア（介護）", "Paid volunteer care", None),
    MobilitySupport => ("mobility_support", OutsideInsurance, "移動支援", "Mobility support", None),
    WelfareTaxi => ("welfare_taxi", OutsideInsurance, "福祉ハイヤー・福祉タクシー", "Welfare taxi", None),
    Municipality => ("municipality", Public, "市町村（行政）", "Municipality", None),
    EmergencyService => ("emergency_service", Public, "消防・救急隊", "Fire and ambulance service", None),
    Secretariat => ("secretariat", Secretariat, "ネットワーク事務局", "Network secretariat", None),
}

impl FacilityType {
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.code() == code)
    }

    /// Types a facility may apply as. The secretariat exists once and is created at setup.
    pub fn applicable() -> impl Iterator<Item = FacilityType> {
        Self::ALL
            .iter()
            .copied()
            .filter(|t| *t != FacilityType::Secretariat)
    }
}

/// The official number that identifies a facility nationally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficialIdKind {
    /// 医療機関コード: 10 digits (prefecture 2 + point-table 1 + institution 7).
    MedicalInstitutionCode,
    /// 介護保険事業所番号: 10 digits.
    CareProviderNumber,
    None,
}

impl OfficialIdKind {
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (OfficialIdKind::MedicalInstitutionCode, Lang::Ja) => "医療機関コード（10桁）",
            (OfficialIdKind::MedicalInstitutionCode, Lang::En) => {
                "Medical institution code (10 digits)"
            }
            (OfficialIdKind::CareProviderNumber, Lang::Ja) => "介護保険事業所番号（10桁）",
            (OfficialIdKind::CareProviderNumber, Lang::En) => "Care provider number (10 digits)",
            (OfficialIdKind::None, Lang::Ja) => "なし",
            (OfficialIdKind::None, Lang::En) => "None",
        }
    }
}

/// Where a facility is in its life with the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FacilityStatus {
    /// Applied (入会申請), waiting for the secretariat.
    Pending,
    /// Approved and taking part.
    Active,
    /// Application refused; the reason is kept.
    Rejected,
    /// Temporarily barred from signing in; records kept.
    Suspended,
    /// Left the network; records kept, no sign-in.
    Withdrawn,
}

impl FacilityStatus {
    pub const ALL: [FacilityStatus; 5] = [
        FacilityStatus::Pending,
        FacilityStatus::Active,
        FacilityStatus::Rejected,
        FacilityStatus::Suspended,
        FacilityStatus::Withdrawn,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FacilityStatus::Pending => "pending",
            FacilityStatus::Active => "active",
            FacilityStatus::Rejected => "rejected",
            FacilityStatus::Suspended => "suspended",
            FacilityStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (FacilityStatus::Pending, Lang::Ja) => "審査中",
            (FacilityStatus::Active, Lang::Ja) => "参加中",
            (FacilityStatus::Rejected, Lang::Ja) => "却下",
            (FacilityStatus::Suspended, Lang::Ja) => "利用停止",
            (FacilityStatus::Withdrawn, Lang::Ja) => "退会",
            (FacilityStatus::Pending, Lang::En) => "Under review",
            (FacilityStatus::Active, Lang::En) => "Active",
            (FacilityStatus::Rejected, Lang::En) => "Rejected",
            (FacilityStatus::Suspended, Lang::En) => "Suspended",
            (FacilityStatus::Withdrawn, Lang::En) => "Withdrawn",
        }
    }

    /// Whether members of a facility in this state may sign in and act for it.
    pub fn allows_sign_in(self) -> bool {
        self == FacilityStatus::Active
    }

    /// The transitions the secretariat may make. Anything else is refused.
    pub fn can_transition_to(self, next: FacilityStatus) -> bool {
        use FacilityStatus::*;
        matches!(
            (self, next),
            (Pending, Active)
                | (Pending, Rejected)
                | (Active, Suspended)
                | (Active, Withdrawn)
                | (Suspended, Active)
                | (Suspended, Withdrawn)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for t in FacilityType::ALL {
            assert!(seen.insert(t.code()), "duplicate code {}", t.code());
            assert_eq!(FacilityType::from_code(t.code()), Some(*t));
        }
        assert_eq!(FacilityType::from_code("spaceship"), None);
    }

    #[test]
    fn every_care_kind_of_the_city_list_is_present() {
        // 000 参考: 24 care and housing kinds.
        let care = FacilityType::ALL
            .iter()
            .filter(|t| t.category() == FacilityCategory::Care)
            .count();
        assert_eq!(care, 24);
        let outside = FacilityType::ALL
            .iter()
            .filter(|t| t.category() == FacilityCategory::OutsideInsurance)
            .count();
        assert_eq!(outside, 4);
    }

    #[test]
    fn life_cycle_refuses_shortcuts() {
        use FacilityStatus::*;
        assert!(Pending.can_transition_to(Active));
        assert!(!Rejected.can_transition_to(Active));
        assert!(!Withdrawn.can_transition_to(Active));
        assert!(!Pending.can_transition_to(Suspended));
        assert!(Suspended.can_transition_to(Active));
    }
}
