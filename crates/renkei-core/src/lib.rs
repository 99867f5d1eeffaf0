//! Application services that sit between the web layer and storage: they hold the rules
//! that need several storage calls (matching a new registration against the patient index)
//! and the single access decision point through which every read of patient data passes.

pub mod access;
pub mod acp;
pub mod care_log;
pub mod clinical;
pub mod clins;
pub mod documents;
pub mod facilities;
pub mod icu;
pub mod ingest;
pub mod notify;
pub mod patients;
pub mod team_goals;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that breaks a rule; the message names the field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] renkei_storage::StoreError),
}

pub type ServiceResult<T> = Result<T, ServiceError>;
