//! Deterministic logical ids.
//!
//! The JAMI SS-MIX2→FHIR guide asks for ids that can be traced back to the
//! storage item and match `[A-Za-z0-9\-\.]{1,64}`; its examples concatenate the
//! patient ID, date, data type and order number. Renkei hashes the same
//! ingredients instead, so ids that appear in URLs and logs carry no patient
//! ID, and are always 32 lowercase hex digits (SHA-256, first 128 bits).
//!
//! What goes into the hash is chosen by each mapping: the facility, the
//! patient's local ID, the resource type, and a business key that survives an
//! SS-MIX2 update (an order number and position, a visit number, an admission
//! date…) — never the file's send timestamp or condition flag. Re-importing a
//! file, or the file that supersedes it, therefore yields the same ids and
//! the store updates instead of duplicating.

use sha2::{Digest, Sha256};

/// The id for a list of key parts. Each part is length-prefixed before
/// hashing, so `["ab", "c"]` and `["a", "bc"]` differ.
///
/// ```
/// let id = renkei_hl7_fhir::ids::resource_id(&["F1", "9999013", "Observation", "x"]);
/// assert_eq!(id.len(), 32);
/// assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
/// assert_eq!(id, renkei_hl7_fhir::ids::resource_id(&["F1", "9999013", "Observation", "x"]));
/// ```
pub fn resource_id<S: AsRef<str>>(parts: &[S]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        let part = part.as_ref().as_bytes();
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `id` is a valid FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`).
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited() {
        assert_ne!(resource_id(&["ab", "c"]), resource_id(&["a", "bc"]));
        assert_ne!(resource_id(&["a", ""]), resource_id(&["a"]));
        assert!(is_valid_id(&resource_id::<&str>(&[])));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id(&"a".repeat(65)));
    }
}
