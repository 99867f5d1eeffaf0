//! Renkei's domain model: who takes part in a regional network (facilities, professions,
//! roles), how people prove who they are (passwords, TOTP, recovery codes), and the
//! tamper-evident audit chain.
//!
//! This crate knows nothing of HTTP or SQL. Everything here is plain data and pure
//! functions, so the web layer, the storage backends and the CLI share one set of rules.

pub mod audit;
pub mod facility;
pub mod files;
pub mod ids;
pub mod password;
pub mod patient;
pub mod profession;
pub mod text;
pub mod totp;

pub use facility::{FacilityCategory, FacilityStatus, FacilityType};
pub use profession::Profession;

/// A user's role within one facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Manages the facility's own staff, survey and clients.
    FacilityAdmin,
    /// An ordinary member of staff.
    Member,
}

impl MemberRole {
    pub const ALL: [MemberRole; 2] = [MemberRole::FacilityAdmin, MemberRole::Member];

    pub fn code(self) -> &'static str {
        match self {
            MemberRole::FacilityAdmin => "facility_admin",
            MemberRole::Member => "member",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (MemberRole::FacilityAdmin, Lang::Ja) => "施設管理者",
            (MemberRole::FacilityAdmin, Lang::En) => "Facility administrator",
            (MemberRole::Member, Lang::Ja) => "利用者",
            (MemberRole::Member, Lang::En) => "Member",
        }
    }
}

/// The two UI languages. Japanese is primary.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// Milliseconds since the Unix epoch (UTC). Stored as a plain integer in every backend so
/// ordering and arithmetic are identical in SQLite and PostgreSQL.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}
