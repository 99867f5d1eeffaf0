//! The audit trail: an append-only, hash-chained log of who did what, when, from where and
//! with what outcome. Each record's hash covers its content and the previous record's
//! hash, so altering, deleting, inserting or reordering any record breaks the chain from
//! that point on; the stored chain head catches a truncated tail.

use crate::Millis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// What happened, before it has a place in the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Dotted action name, e.g. `auth.login`, `facility.approve`, `patient.read`.
    pub action: String,
    pub outcome: String,
    pub actor_user_id: Option<String>,
    /// The login ID as typed, kept even when no such user exists (failed logins).
    pub actor_login: Option<String>,
    pub actor_facility_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// The patient whose data was touched, for patient-data access records.
    pub patient_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Extra facts as a JSON object, stored as the exact text that was hashed.
    pub detail: String,
}

impl AuditEntry {
    pub fn new(action: &str, outcome: Outcome) -> Self {
        AuditEntry {
            action: action.to_string(),
            outcome: outcome.code().to_string(),
            detail: "{}".to_string(),
            ..Default::default()
        }
    }

    pub fn actor(
        mut self,
        user_id: Option<&str>,
        login: Option<&str>,
        facility_id: Option<&str>,
    ) -> Self {
        self.actor_user_id = user_id.map(str::to_string);
        self.actor_login = login.map(str::to_string);
        self.actor_facility_id = facility_id.map(str::to_string);
        self
    }

    pub fn target(mut self, kind: &str, id: &str) -> Self {
        self.target_type = Some(kind.to_string());
        self.target_id = Some(id.to_string());
        self
    }

    pub fn from_client(mut self, ip: Option<String>, user_agent: Option<String>) -> Self {
        self.ip = ip;
        // User agents are attacker-controlled; keep them bounded.
        self.user_agent = user_agent.map(|ua| ua.chars().take(256).collect());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail.to_string();
        self
    }
}

/// A record as stored in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Millis,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of a record: SHA-256 over the previous hash and a canonical JSON array of every
/// field in a fixed order.
pub fn chain_hash(seq: i64, at: Millis, entry: &AuditEntry, prev_hash: &str) -> String {
    let canonical = serde_json::json!([
        seq,
        at,
        entry.action,
        entry.outcome,
        entry.actor_user_id,
        entry.actor_login,
        entry.actor_facility_id,
        entry.target_type,
        entry.target_id,
        entry.patient_id,
        entry.ip,
        entry.user_agent,
        entry.detail,
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Seals an entry into the chain after `prev` (None for the first record).
pub fn seal(entry: AuditEntry, at: Millis, prev: Option<(i64, &str)>) -> AuditRecord {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_string()),
        None => (1, GENESIS_HASH.to_string()),
    };
    let hash = chain_hash(seq, at, &entry, &prev_hash);
    AuditRecord {
        seq,
        at,
        entry,
        prev_hash,
        hash,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The record's content no longer matches its hash.
    Altered { seq: i64 },
    /// The record does not point at its predecessor's hash (a record was inserted,
    /// replaced or reordered just before it).
    Broken { seq: i64 },
    /// Sequence numbers jump: records were deleted.
    Missing { expected_seq: i64, found_seq: i64 },
    /// The chain ends before the recorded head: records were deleted from the end.
    Truncated { head_seq: i64, last_seq: i64 },
    /// The recorded head hash does not match the last record.
    HeadMismatch { head_seq: i64 },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Altered { seq } => write!(f, "record {seq} was altered (its hash does not match its content)"),
            ChainProblem::Broken { seq } => write!(f, "record {seq} does not follow its predecessor (a record was inserted, replaced or reordered)"),
            ChainProblem::Missing { expected_seq, found_seq } => write!(f, "records {expected_seq}..{} are missing (deleted)", found_seq - 1),
            ChainProblem::Truncated { head_seq, last_seq } => write!(f, "the chain ends at record {last_seq} but the head says {head_seq} (records deleted from the end)"),
            ChainProblem::HeadMismatch { head_seq } => write!(f, "the chain head (record {head_seq}) does not match the stored records"),
        }
    }
}

/// Incremental verifier so that millions of records can be checked in pages.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last: Option<(i64, String)>,
    checked: u64,
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Feeds the next record in sequence order; returns the first problem found.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), ChainProblem> {
        let (expected_seq, expected_prev) = match &self.last {
            Some((seq, hash)) => (seq + 1, hash.as_str()),
            None => (1, GENESIS_HASH),
        };
        if record.seq != expected_seq {
            return Err(if record.seq > expected_seq {
                ChainProblem::Missing {
                    expected_seq,
                    found_seq: record.seq,
                }
            } else {
                ChainProblem::Broken { seq: record.seq }
            });
        }
        if chain_hash(record.seq, record.at, &record.entry, &record.prev_hash) != record.hash {
            return Err(ChainProblem::Altered { seq: record.seq });
        }
        if record.prev_hash != expected_prev {
            return Err(ChainProblem::Broken { seq: record.seq });
        }
        self.last = Some((record.seq, record.hash.clone()));
        self.checked += 1;
        Ok(())
    }

    /// Compares the end of the chain with the separately stored head.
    pub fn finish(&self, head: Option<(i64, &str)>) -> Result<(), ChainProblem> {
        match (head, &self.last) {
            (None, None) => Ok(()),
            (None, Some(_)) => Ok(()),
            (Some((head_seq, _)), None) => Err(ChainProblem::Truncated {
                head_seq,
                last_seq: 0,
            }),
            (Some((head_seq, head_hash)), Some((last_seq, last_hash))) => {
                if head_seq > *last_seq {
                    Err(ChainProblem::Truncated {
                        head_seq,
                        last_seq: *last_seq,
                    })
                } else if head_seq < *last_seq || head_hash != last_hash {
                    Err(ChainProblem::HeadMismatch { head_seq })
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let entry = AuditEntry::new("auth.login", Outcome::Success)
                .actor(Some("u1"), Some("yamada"), Some("f1"))
                .detail(serde_json::json!({ "i": i }));
            let prev = out.last().map(|r| (r.seq, r.hash.as_str()));
            let rec = seal(entry, 1_700_000_000_000 + i as i64, prev);
            out.push(rec);
        }
        out
    }

    fn verify(records: &[AuditRecord], head: Option<(i64, &str)>) -> Result<(), ChainProblem> {
        let mut v = ChainVerifier::new();
        for r in records {
            v.push(r)?;
        }
        v.finish(head)
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let last = c.last().unwrap();
        assert_eq!(verify(&c, Some((last.seq, &last.hash))), Ok(()));
    }

    #[test]
    fn detects_alteration_deletion_insertion_and_truncation() {
        let c = chain(5);
        let head = (c[4].seq, c[4].hash.clone());
        let head = Some((head.0, head.1.as_str()));

        let mut altered = c.clone();
        altered[2].entry.outcome = "failure".into();
        assert_eq!(
            verify(&altered, head),
            Err(ChainProblem::Altered { seq: 3 })
        );

        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&deleted, head),
            Err(ChainProblem::Missing {
                expected_seq: 2,
                found_seq: 3
            })
        );

        // An inserted record that renumbers and re-hashes itself still cannot point at the
        // right predecessor without rewriting everything after it.
        let mut inserted = c.clone();
        let forged = seal(
            AuditEntry::new("forged", Outcome::Success),
            1,
            Some((c[1].seq, &c[1].hash)),
        );
        inserted[2] = forged;
        assert_eq!(
            verify(&inserted, head),
            Err(ChainProblem::Broken { seq: 4 })
        );

        let truncated = &c[..3];
        assert_eq!(
            verify(truncated, head),
            Err(ChainProblem::Truncated {
                head_seq: 5,
                last_seq: 3
            })
        );
    }
}
