//! Professions of network users (REQUIREMENTS §2.1).

use crate::Lang;
use serde::{Deserialize, Serialize};

macro_rules! professions {
    ($( $variant:ident => ($code:literal, $ja:literal, $en:literal) ),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Profession { $( $variant ),* }

        impl Profession {
            pub const ALL: &'static [Profession] = &[ $( Profession::$variant ),* ];

            pub fn code(self) -> &'static str {
                match self { $( Profession::$variant => $code ),* }
            }

            pub fn label(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $( (Profession::$variant, Lang::Ja) => $ja,
                       (Profession::$variant, Lang::En) => $en, )*
                }
            }
        }
    };
}

professions! {
    Physician => ("physician", "医師", "Physician"),
    Dentist => ("dentist", "歯科医師", "Dentist"),
    Pharmacist => ("pharmacist", "薬剤師", "Pharmacist"),
    Nurse => ("nurse", "看護師", "Nurse"),
    HomeVisitNurse => ("home_visit_nurse", "訪問看護師", "Home-visit nurse"),
    PublicHealthNurse => ("public_health_nurse", "保健師", "Public health nurse"),
    Dietitian => ("dietitian", "管理栄養士", "Registered dietitian"),
    PhysicalTherapist => ("physical_therapist", "理学療法士（PT）", "Physical therapist"),
    OccupationalTherapist => ("occupational_therapist", "作業療法士（OT）", "Occupational therapist"),
    SpeechTherapist => ("speech_therapist", "言語聴覚士（ST）", "Speech-language therapist"),
    CareManager => ("care_manager", "介護支援専門員（ケアマネジャー）", "Care manager"),
    MedicalSocialWorker => ("msw", "医療ソーシャルワーカー（MSW）", "Medical social worker"),
    CareWorker => ("care_worker", "介護福祉士・介護士", "Care worker"),
    HomeHelper => ("home_helper", "訪問介護員（ヘルパー）", "Home helper"),
    Counsellor => ("counsellor", "生活相談員", "Counsellor"),
    Clerk => ("clerk", "事務員", "Clerk"),
    Paramedic => ("paramedic", "救急隊員", "Ambulance crew"),
    MunicipalOfficer => ("municipal_officer", "行政職員", "Municipal officer"),
    Other => ("other", "その他", "Other"),
}

impl Profession {
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown() {
        for p in Profession::ALL {
            assert_eq!(Profession::from_code(p.code()), Some(*p));
        }
        assert_eq!(Profession::from_code("wizard"), None);
        assert_eq!(Profession::ALL.len(), 19);
    }
}
