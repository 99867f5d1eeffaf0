//! Registering a patient: validate what the facility typed, compute match keys once, find
//! candidates through stored blocking keys, score them, and link, queue for review or
//! create a new person — all stored in one transaction with its audit record.

use crate::{ServiceError, ServiceResult};
use renkei_domain::audit::AuditEntry;
use renkei_domain::patient::{jp_local_id_system, CareLevel, InfoCategory, Sex};
use renkei_domain::text::{self, FieldError, Problem};
use renkei_domain::{ids, Lang};
use renkei_mpi::blocking::{blocking_keys, BlockingRule};
use renkei_mpi::score::{Decision as MatchDecision, ScoreConfig, Scorer};
use renkei_mpi::MatchKeys;
use renkei_storage::{
    Facility, NewMatchReview, NewPatientRecord, PatientRecord, PatientUpdate, PersonLink,
    PreviousName, Store, StoreError, StoreResult,
};
use std::collections::HashMap;
use std::sync::OnceLock;

/// What a facility types when it registers a patient.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RegistrationInput {
    #[serde(default)]
    pub local_id: String,
    /// Empty: the JP Core system of the facility's institution code (or a Renkei system
    /// for facilities without one).
    #[serde(default)]
    pub id_system: String,
    #[serde(default)]
    pub family_kanji: String,
    #[serde(default)]
    pub given_kanji: String,
    #[serde(default)]
    pub family_kana: String,
    #[serde(default)]
    pub given_kana: String,
    #[serde(default)]
    pub previous_family_kanji: String,
    #[serde(default)]
    pub previous_family_kana: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub insurance_number: String,
    #[serde(default)]
    pub care_level: String,
}

/// How the registration entered the patient index.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkOutcome {
    NewPerson,
    AutoLinked {
        weight: f64,
    },
    /// A new person for now; `candidates` pairs wait for the secretariat.
    PendingReview {
        candidates: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Registered {
    pub record: PatientRecord,
    pub outcome: LinkOutcome,
}

fn scorer() -> &'static Scorer {
    static SCORER: OnceLock<Scorer> = OnceLock::new();
    SCORER.get_or_init(|| Scorer::new(ScoreConfig::default()))
}

/// The identifier system a facility's local patient IDs live in.
pub fn local_id_system(facility: &Facility) -> String {
    if facility.official_id.len() == 10 {
        jp_local_id_system(&facility.official_id)
    } else {
        format!(
            "urn:renkei:facility:{}:patient-id",
            facility.code.as_deref().unwrap_or(&facility.id)
        )
    }
}

/// Parses and checks a birth date: a real calendar date, not in the future, not before 1880.
pub fn parse_birth_date(
    raw: &str,
    today: chrono::NaiveDate,
) -> Result<chrono::NaiveDate, FieldError> {
    let cleaned = text::clean("birth_date", raw, 10, true)?;
    let date = chrono::NaiveDate::parse_from_str(&cleaned, "%Y-%m-%d")
        .map_err(|_| FieldError::new("birth_date", Problem::NotDate))?;
    if date > today || date < chrono::NaiveDate::from_ymd_opt(1880, 1, 1).expect("valid") {
        return Err(FieldError::new("birth_date", Problem::ImpossibleDate));
    }
    Ok(date)
}

/// Match keys of a registration, new or stored (the two record types share these fields).
macro_rules! match_keys {
    ($r:expr) => {{
        let r = $r;
        MatchKeys::from(&renkei_mpi::PersonRecord {
            record_id: r.id.clone(),
            facility_id: r.facility_id.clone(),
            family_kanji: r.family_kanji.clone(),
            given_kanji: r.given_kanji.clone(),
            family_kana: r.family_kana.clone(),
            given_kana: r.given_kana.clone(),
            previous_family_names: r
                .previous_names
                .iter()
                .map(|p| renkei_mpi::PreviousName {
                    kanji: p.family_kanji.clone(),
                    kana: p.family_kana.clone(),
                })
                .collect(),
            birth_date: renkei_mpi::BirthDate::parse(&r.birth_date),
            sex: match r.sex {
                Sex::Male => renkei_mpi::Sex::Male,
                Sex::Female => renkei_mpi::Sex::Female,
                Sex::Other => renkei_mpi::Sex::Other,
                Sex::Unknown => renkei_mpi::Sex::Unknown,
            },
            phone: r.phones.first().cloned().unwrap_or_default(),
            postal_code: r.postal_code.clone(),
            address: r.address.clone(),
            insurance_number: r.insurance_numbers.first().cloned().unwrap_or_default(),
        })
    }};
}

fn match_keys_of(r: &NewPatientRecord) -> MatchKeys {
    match_keys!(r)
}

fn match_keys_of_stored(r: &PatientRecord) -> MatchKeys {
    match_keys!(r)
}

/// Blocking keys as stored (i64 columns hold the u64 hash bit-for-bit).
pub fn block_keys_of(r: &NewPatientRecord) -> Vec<i64> {
    blocking_keys(&match_keys_of(r), &BlockingRule::ALL)
        .into_iter()
        .map(|k| k as i64)
        .collect()
}

/// The setting that names the version of the stored blocking keys.
pub const BLOCK_KEYS_SETTING: &str = "mpi_block_keys_version";

/// Recomputes the blocking keys of every registration when they were stored by another
/// version of the rules (`renkei_mpi::blocking::BLOCKING_VERSION`), so that records
/// registered before an upgrade meet new ones under the new rules. Returns how many records
/// were refreshed (0 when the stored keys are current). Safe to run on several nodes at once:
/// each page's keys are replaced in one transaction and the result is the same.
pub async fn refresh_block_keys(store: &dyn Store) -> ServiceResult<usize> {
    let version = renkei_mpi::blocking::BLOCKING_VERSION.to_string();
    if store.get_setting(BLOCK_KEYS_SETTING).await?.as_deref() == Some(version.as_str()) {
        return Ok(0);
    }
    let mut after = String::new();
    let mut refreshed = 0;
    loop {
        let page = store.patient_records_after(&after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        let keys: Vec<(String, Vec<i64>)> = page
            .iter()
            .map(|r| {
                let hashes = blocking_keys(&match_keys_of_stored(r), &BlockingRule::ALL)
                    .into_iter()
                    .map(|k| k as i64)
                    .collect();
                (r.id.clone(), hashes)
            })
            .collect();
        store.replace_block_keys(&keys).await?;
        refreshed += keys.len();
    }
    store.set_setting(BLOCK_KEYS_SETTING, &version).await?;
    Ok(refreshed)
}

/// Records that the stored keys follow the current rules (a database seeded by this version).
pub async fn mark_block_keys_current(store: &dyn Store) -> ServiceResult<()> {
    let version = renkei_mpi::blocking::BLOCKING_VERSION.to_string();
    Ok(store.set_setting(BLOCK_KEYS_SETTING, &version).await?)
}

/// Validates input into a record ready to store; every problem is reported at once.
pub fn validate(
    facility: &Facility,
    input: &RegistrationInput,
    created_by: &str,
    is_test: bool,
    now: renkei_domain::Millis,
) -> Result<NewPatientRecord, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut take = |r: Result<String, FieldError>| {
        r.unwrap_or_else(|e| {
            errors.push(e);
            String::new()
        })
    };
    let local_id = take(text::clean("local_id", &input.local_id, 64, true));
    let id_system = take(text::clean("id_system", &input.id_system, 200, false));
    let family_kanji = take(text::clean("family_kanji", &input.family_kanji, 40, true));
    let given_kanji = take(text::clean("given_kanji", &input.given_kanji, 40, true));
    let family_kana = take(text::kana("family_kana", &input.family_kana, 80, true));
    let given_kana = take(text::kana("given_kana", &input.given_kana, 80, true));
    let previous_kanji = take(text::clean(
        "previous_family_kanji",
        &input.previous_family_kanji,
        40,
        false,
    ));
    let previous_kana = take(text::kana(
        "previous_family_kana",
        &input.previous_family_kana,
        80,
        false,
    ));
    let postal_code = take(text::postal_code("postal_code", &input.postal_code, false));
    let address = take(text::clean("address", &input.address, 200, false));
    let phone = take(text::phone("phone", &input.phone, false));
    let insurance = take(text::clean(
        "insurance_number",
        &input.insurance_number,
        40,
        false,
    ));
    let today = chrono::DateTime::from_timestamp_millis(now)
        .map(|t| (t + chrono::Duration::hours(9)).date_naive())
        .unwrap_or_default();
    let birth_date = match parse_birth_date(&input.birth_date, today) {
        Ok(d) => d.format("%Y-%m-%d").to_string(),
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    if !local_id.is_empty() && !local_id.chars().all(|c| c.is_ascii_graphic()) {
        errors.push(FieldError::new("local_id", Problem::NotIdentifier));
    }
    let sex = Sex::from_code(&input.sex);
    if sex.is_none() {
        errors.push(FieldError::new("sex", Problem::UnknownChoice));
    }
    let care_level = if input.care_level.is_empty() {
        Some(CareLevel::None)
    } else {
        CareLevel::from_code(&input.care_level)
    };
    if care_level.is_none() {
        errors.push(FieldError::new("care_level", Problem::UnknownChoice));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut record = NewPatientRecord {
        id: ids::new_id(),
        facility_id: facility.id.clone(),
        id_system: if id_system.is_empty() {
            local_id_system(facility)
        } else {
            id_system
        },
        local_id,
        family_kanji,
        given_kanji,
        family_kana,
        given_kana,
        previous_names: if previous_kanji.is_empty() && previous_kana.is_empty() {
            vec![]
        } else {
            vec![PreviousName {
                family_kanji: previous_kanji,
                family_kana: previous_kana,
            }]
        },
        birth_date,
        sex: sex.unwrap_or(Sex::Unknown),
        postal_code,
        address,
        phones: if phone.is_empty() {
            vec![]
        } else {
            vec![phone]
        },
        insurance_numbers: if insurance.is_empty() {
            vec![]
        } else {
            vec![insurance]
        },
        care_level: care_level.unwrap_or(CareLevel::None),
        block_keys: vec![],
        is_test,
        created_by: created_by.to_string(),
        created_at: now,
    };
    record.block_keys = block_keys_of(&record);
    Ok(record)
}

/// Human-readable validation errors.
pub fn messages(errors: &[FieldError], lang: Lang, label: impl Fn(&str) -> String) -> Vec<String> {
    errors
        .iter()
        .map(|e| format!("{}: {}", label(e.field), e.message(lang)))
        .collect()
}

/// The best-scoring registration of one candidate person.
struct Best {
    weight: f64,
    probability: f64,
    decision: MatchDecision,
    record_id: String,
    detail: String,
}

/// Stores a validated registration and places it in the patient index.
pub async fn register(
    store: &dyn Store,
    record: NewPatientRecord,
    audit: AuditEntry,
) -> ServiceResult<Registered> {
    if store
        .find_patient_record(&record.facility_id, &record.id_system, &record.local_id)
        .await?
        .is_some()
    {
        return Err(ServiceError::Invalid {
            field: "local_id",
            message: "this patient ID is already registered at this facility".into(),
        });
    }
    let keys = match_keys_of(&record);
    let candidates = store.patient_candidates(&record.block_keys, 500).await?;
    // The best-scoring registration of each candidate person.
    let mut best: HashMap<String, Best> = HashMap::new();
    for candidate in candidates.iter().filter(|c| c.is_test == record.is_test) {
        let result = scorer().score(&keys, &match_keys_of_stored(candidate));
        let detail = serde_json::json!(result
            .fields
            .iter()
            .map(|f| serde_json::json!({ "field": f.field.as_str(), "level": f.level.as_str(), "weight": (f.weight * 100.0).round() / 100.0 }))
            .collect::<Vec<_>>())
        .to_string();
        let entry = Best {
            weight: result.weight,
            probability: result.probability,
            decision: result.decision,
            record_id: candidate.id.clone(),
            detail,
        };
        match best.get(&candidate.person_id) {
            Some(existing) if existing.weight >= entry.weight => {}
            _ => {
                best.insert(candidate.person_id.clone(), entry);
            }
        }
    }
    let auto: Vec<(&String, &Best)> = best
        .iter()
        .filter(|(_, b)| b.decision == MatchDecision::AutoLink)
        .collect();
    let (link, outcome, reviews) = if auto.len() == 1 {
        let (person, b) = auto[0];
        (
            PersonLink::Existing(person.clone()),
            LinkOutcome::AutoLinked { weight: b.weight },
            vec![],
        )
    } else {
        // Two or more persons match strongly (a duplicate already in the index), or only
        // weakly: a person decides.
        let reviews: Vec<NewMatchReview> = best
            .values()
            .filter(|b| b.decision != MatchDecision::NoLink)
            .map(|b| NewMatchReview {
                id: ids::new_id(),
                candidate_record_id: b.record_id.clone(),
                weight: b.weight,
                probability: b.probability,
                detail: b.detail.clone(),
            })
            .collect();
        let outcome = if reviews.is_empty() {
            LinkOutcome::NewPerson
        } else {
            LinkOutcome::PendingReview {
                candidates: reviews.len(),
            }
        };
        (PersonLink::NewPerson(ids::new_id()), outcome, reviews)
    };
    // The caller's detail (e.g. where the registration came from) is kept.
    let mut detail = match serde_json::from_str::<serde_json::Value>(&audit.detail) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    detail.insert("local_id".into(), record.local_id.clone().into());
    detail.insert("facility_id".into(), record.facility_id.clone().into());
    detail.insert(
        "link".into(),
        match &outcome {
            LinkOutcome::NewPerson => "new_person".to_string(),
            LinkOutcome::AutoLinked { weight } => format!("auto_link ({weight:.1})"),
            LinkOutcome::PendingReview { candidates } => format!("review ({candidates})"),
        }
        .into(),
    );
    let audit = audit.detail(serde_json::Value::Object(detail));
    let stored = store
        .register_patient(record, link, reviews, audit)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ServiceError::Invalid {
                field: "local_id",
                message: m,
            },
            other => other.into(),
        })?;
    Ok(Registered {
        record: stored,
        outcome,
    })
}

/// The result of feeding an existing registration again.
#[derive(Debug, Clone)]
pub struct Updated {
    pub record: PatientRecord,
    /// The demographic fields that changed (`family_kanji`, `phones`, …); empty when the
    /// input equals what is stored, and then nothing was written.
    pub changed: Vec<&'static str>,
}

/// Replaces the demographics of `existing` with a validated `record` of the same facility
/// and identifier (as [`validate`] makes it). The registration keeps its person: the patient
/// index linked it when it was registered, and later links are the secretariat's (review
/// queue, merge, unlink). Match keys are rebuilt from the new values at write time.
///
/// `keep_unsent` keeps the fields the source does not carry (insurance numbers, care level)
/// as stored instead of clearing them. Every call leaves one audit record (`audit`, naming
/// the person, with the changed fields in its detail) — also when nothing changed, in which
/// case nothing else is written.
pub async fn update(
    store: &dyn Store,
    existing: &PatientRecord,
    mut record: NewPatientRecord,
    keep_unsent: bool,
    audit: AuditEntry,
    now: renkei_domain::Millis,
) -> ServiceResult<Updated> {
    if record.facility_id != existing.facility_id
        || record.id_system != existing.id_system
        || record.local_id != existing.local_id
    {
        return Err(ServiceError::Invalid {
            field: "local_id",
            message: "the update names another registration".into(),
        });
    }
    if keep_unsent {
        record.insurance_numbers = existing.insurance_numbers.clone();
        record.care_level = existing.care_level;
    }
    let mut changed = Vec::new();
    {
        let mut check = |field: &'static str, same: bool| {
            if !same {
                changed.push(field);
            }
        };
        check("family_kanji", record.family_kanji == existing.family_kanji);
        check("given_kanji", record.given_kanji == existing.given_kanji);
        check("family_kana", record.family_kana == existing.family_kana);
        check("given_kana", record.given_kana == existing.given_kana);
        check(
            "previous_names",
            record.previous_names == existing.previous_names,
        );
        check("birth_date", record.birth_date == existing.birth_date);
        check("sex", record.sex == existing.sex);
        check("postal_code", record.postal_code == existing.postal_code);
        check("address", record.address == existing.address);
        check("phones", record.phones == existing.phones);
        check(
            "insurance_numbers",
            record.insurance_numbers == existing.insurance_numbers,
        );
        check("care_level", record.care_level == existing.care_level);
    }
    let mut detail = match serde_json::from_str::<serde_json::Value>(&audit.detail) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    detail.insert("local_id".into(), existing.local_id.clone().into());
    detail.insert("facility_id".into(), existing.facility_id.clone().into());
    detail.insert("changed".into(), serde_json::json!(changed));
    let audit = audit.detail(serde_json::Value::Object(detail));
    if changed.is_empty() {
        let mut audit = audit;
        audit.patient_id = Some(existing.person_id.clone());
        store.append_audit(audit).await?;
        return Ok(Updated {
            record: existing.clone(),
            changed,
        });
    }
    let stored = store
        .update_patient_record(
            PatientUpdate {
                record_id: existing.id.clone(),
                expected_updated_at: existing.updated_at,
                block_keys: block_keys_of(&record),
                family_kanji: record.family_kanji,
                given_kanji: record.given_kanji,
                family_kana: record.family_kana,
                given_kana: record.given_kana,
                previous_names: record.previous_names,
                birth_date: record.birth_date,
                sex: record.sex,
                postal_code: record.postal_code,
                address: record.address,
                phones: record.phones,
                insurance_numbers: record.insurance_numbers,
                care_level: record.care_level,
                // Versions move forward even within one millisecond.
                updated_at: now.max(existing.updated_at + 1),
            },
            audit,
        )
        .await?;
    Ok(Updated {
        record: stored,
        changed,
    })
}

/// A patient as someone looking for them describes it (FHIR `Patient/$match`). Empty
/// strings mean "not given".
#[derive(Debug, Clone, Default)]
pub struct MatchQuery {
    pub family_kanji: String,
    pub given_kanji: String,
    pub family_kana: String,
    pub given_kana: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Option<Sex>,
    pub phone: String,
    pub postal_code: String,
    pub address: String,
    pub insurance_number: String,
}

impl MatchQuery {
    fn as_record(&self) -> NewPatientRecord {
        NewPatientRecord {
            id: "match-query".into(),
            facility_id: String::new(),
            id_system: String::new(),
            local_id: String::new(),
            family_kanji: self.family_kanji.clone(),
            given_kanji: self.given_kanji.clone(),
            family_kana: self.family_kana.clone(),
            given_kana: self.given_kana.clone(),
            previous_names: vec![],
            birth_date: self.birth_date.clone(),
            sex: self.sex.unwrap_or(Sex::Unknown),
            postal_code: self.postal_code.clone(),
            address: self.address.clone(),
            phones: [self.phone.clone()]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect(),
            insurance_numbers: [self.insurance_number.clone()]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect(),
            care_level: CareLevel::None,
            block_keys: vec![],
            is_test: false,
            created_by: String::new(),
            created_at: 0,
        }
    }

    /// Blocking keys of the described patient, as stored for registrations.
    pub fn block_keys(&self) -> Vec<i64> {
        block_keys_of(&self.as_record())
    }
}

/// One registration scored against a [`MatchQuery`] with the registration scorer.
#[derive(Debug, Clone)]
pub struct ScoredRecord {
    pub record: PatientRecord,
    /// Sum of field weights (log2 m/u).
    pub weight: f64,
    /// Posterior probability of a match, 0–1.
    pub probability: f64,
    /// FHIR match-grade code: `certain`, `probable`, `possible` or `certainly-not`.
    pub grade: &'static str,
}

/// Scores candidate registrations against a query, best first. Pure: the caller fetched
/// the candidates (and decides which of them the requester may see).
pub fn score_records(query: &MatchQuery, candidates: Vec<PatientRecord>) -> Vec<ScoredRecord> {
    let keys = match_keys_of(&query.as_record());
    let mut out: Vec<ScoredRecord> = candidates
        .into_iter()
        .map(|record| {
            let result = scorer().score(&keys, &match_keys_of_stored(&record));
            ScoredRecord {
                weight: result.weight,
                probability: result.probability,
                grade: result.match_grade().code(),
                record,
            }
        })
        .collect();
    out.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    out
}

/// Finds registrations that may be the described patient: candidates through the stored
/// blocking keys (test registrations left out), scored with the registration scorer, best
/// first. Every registration is returned; the caller filters by what the requester may see
/// and keeps the best visible registration per person.
pub async fn find_matches(
    store: &dyn Store,
    query: &MatchQuery,
    limit: i64,
) -> ServiceResult<Vec<ScoredRecord>> {
    let candidates = store
        .patient_candidates(&query.block_keys(), limit)
        .await?
        .into_iter()
        .filter(|c| !c.is_test)
        .collect();
    Ok(score_records(query, candidates))
}

#[cfg(test)]
mod match_tests {
    use super::*;

    fn stored(id: &str, person: &str, family_kana: &str, birth: &str) -> PatientRecord {
        PatientRecord {
            id: id.into(),
            person_id: person.into(),
            facility_id: "f".into(),
            id_system: "urn:test".into(),
            local_id: id.into(),
            family_kanji: "苫小牧".into(),
            given_kanji: "花子".into(),
            family_kana: family_kana.into(),
            given_kana: "ハナコ".into(),
            previous_names: vec![],
            birth_date: birth.into(),
            sex: Sex::Female,
            postal_code: "0530022".into(),
            address: "北海道苫小牧市表町1丁目2-3".into(),
            phones: vec!["0144321111".into()],
            insurance_numbers: vec![],
            care_level: CareLevel::None,
            is_test: false,
            created_by: "u".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn query() -> MatchQuery {
        MatchQuery {
            family_kanji: "苫小牧".into(),
            given_kanji: "花子".into(),
            family_kana: "トマコマイ".into(),
            given_kana: "ハナコ".into(),
            birth_date: "1938-04-12".into(),
            sex: Some(Sex::Female),
            phone: "0144-32-1111".into(),
            postal_code: "053-0022".into(),
            address: "北海道苫小牧市表町1丁目2-3".into(),
            insurance_number: String::new(),
        }
    }

    #[test]
    fn query_keys_equal_registration_keys() {
        let q = query();
        let registered = stored("r", "p", "トマコマイ", "1938-04-12");
        let mut a = q.block_keys();
        let mut b: Vec<i64> = blocking_keys(&match_keys_of_stored(&registered), &BlockingRule::ALL)
            .into_iter()
            .map(|k| k as i64)
            .collect();
        a.sort();
        b.sort();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }

    #[test]
    fn exact_copy_ranks_first_and_is_certain() {
        let scored = score_records(
            &query(),
            vec![
                stored("other", "p2", "トマコマイ", "1951-09-30"),
                stored("same", "p1", "トマコマイ", "1938-04-12"),
            ],
        );
        assert_eq!(scored[0].record.id, "same");
        assert_eq!(scored[0].grade, "certain");
        assert!(scored[0].probability > 0.99 && scored[0].probability <= 1.0);
        assert!(scored[1].weight < scored[0].weight);
        assert_ne!(scored[1].grade, "certain");
    }
}

// --- consent exclusion categories ------------------------------------------------------

/// Setting holding the categories a consent may exclude: comma-separated category codes.
pub const EXCLUDABLE_CATEGORIES_SETTING: &str = "consent_excludable_categories";

/// Parses the stored setting: known codes of `InfoCategory::CONFIGURABLE_EXCLUSIONS` in
/// their canonical order; `InfoCategory::EXCLUDABLE` when unset or nothing usable is left.
pub fn parse_excludable_categories(value: Option<&str>) -> Vec<InfoCategory> {
    let codes: Vec<&str> = value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let chosen: Vec<InfoCategory> = InfoCategory::CONFIGURABLE_EXCLUSIONS
        .into_iter()
        .filter(|c| codes.contains(&c.code()))
        .collect();
    if chosen.is_empty() {
        InfoCategory::EXCLUDABLE.to_vec()
    } else {
        chosen
    }
}

/// The categories a consent may currently exclude, as configured by the secretariat.
pub async fn excludable_categories(store: &dyn Store) -> StoreResult<Vec<InfoCategory>> {
    let value = store.get_setting(EXCLUDABLE_CATEGORIES_SETTING).await?;
    Ok(parse_excludable_categories(value.as_deref()))
}

/// Replaces the configured list and appends `audit` (action `settings.consent_categories`
/// is expected) with the list before and after. At least one category is required and
/// every one must be in `InfoCategory::CONFIGURABLE_EXCLUSIONS`. Stored consents are not
/// touched: a consent excluding a category later removed from the list keeps excluding it.
pub async fn set_excludable_categories(
    store: &dyn Store,
    categories: &[InfoCategory],
    audit: AuditEntry,
) -> ServiceResult<Vec<InfoCategory>> {
    if let Some(c) = categories
        .iter()
        .find(|c| !InfoCategory::CONFIGURABLE_EXCLUSIONS.contains(c))
    {
        return Err(ServiceError::Invalid {
            field: "excluded",
            message: format!("{} cannot be excluded from sharing", c.code()),
        });
    }
    let after: Vec<InfoCategory> = InfoCategory::CONFIGURABLE_EXCLUSIONS
        .into_iter()
        .filter(|c| categories.contains(c))
        .collect();
    if after.is_empty() {
        return Err(ServiceError::Invalid {
            field: "excluded",
            message: "choose at least one category".into(),
        });
    }
    let before = excludable_categories(store).await?;
    let codes = |v: &[InfoCategory]| v.iter().map(|c| c.code()).collect::<Vec<_>>();
    let value = codes(&after).join(",");
    // The store has no transactional setting+audit write: append the audit right after.
    store
        .set_setting(EXCLUDABLE_CATEGORIES_SETTING, &value)
        .await?;
    store
        .append_audit(
            audit
                .target("setting", EXCLUDABLE_CATEGORIES_SETTING)
                .detail(serde_json::json!({ "before": codes(&before), "after": codes(&after) })),
        )
        .await?;
    Ok(after)
}

#[cfg(test)]
mod excludable_tests {
    use super::*;
    use renkei_domain::audit::Outcome;

    #[test]
    fn parsing_keeps_configurable_codes_in_canonical_order() {
        assert_eq!(
            parse_excludable_categories(Some("reproductive, imaging,demographics,emergency,x")),
            vec![InfoCategory::Imaging, InfoCategory::Reproductive]
        );
        assert_eq!(
            parse_excludable_categories(None),
            InfoCategory::EXCLUDABLE.to_vec()
        );
        assert_eq!(
            parse_excludable_categories(Some(" , ")),
            InfoCategory::EXCLUDABLE.to_vec()
        );
        assert_eq!(
            parse_excludable_categories(Some("emergency")),
            InfoCategory::EXCLUDABLE.to_vec()
        );
    }

    #[tokio::test]
    async fn setting_round_trips_and_is_audited() {
        let dir = std::env::temp_dir().join(format!("renkei-core-excl-{}", ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = renkei_storage_sql::SqliteStore::open(&dir.join("renkei.db"), 2)
            .await
            .unwrap();
        assert_eq!(
            excludable_categories(&store).await.unwrap(),
            InfoCategory::EXCLUDABLE.to_vec()
        );
        let audit = || AuditEntry::new("settings.consent_categories", Outcome::Success);
        assert!(matches!(
            set_excludable_categories(&store, &[], audit()).await,
            Err(ServiceError::Invalid { .. })
        ));
        assert!(matches!(
            set_excludable_categories(&store, &[InfoCategory::Emergency], audit()).await,
            Err(ServiceError::Invalid { .. })
        ));
        let after = set_excludable_categories(
            &store,
            &[InfoCategory::Psychiatric, InfoCategory::Imaging],
            audit(),
        )
        .await
        .unwrap();
        assert_eq!(
            after,
            vec![InfoCategory::Imaging, InfoCategory::Psychiatric]
        );
        assert_eq!(excludable_categories(&store).await.unwrap(), after);
        let records = store
            .search_audit(&renkei_storage::AuditQuery {
                action_prefix: Some("settings.consent_categories".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
