//! Password hashing with Argon2id and the network's password policy.

use argon2::password_hash::{self, rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Mutex, OnceLock};
use subtle::ConstantTimeEq;

/// Argon2id cost. 19 MiB, 2 passes, 1 lane: the OWASP minimum for Argon2id, chosen so that
/// a 2-core node still answers tens of logins per second (see bench/ for the figure).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 1;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordPolicyError {
    #[error("password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("password must not contain the login ID")]
    ContainsLoginId,
    #[error("password must mix at least two of: letters, digits, symbols")]
    TooSimple,
}

/// Checks the network password policy. Long passphrases are encouraged, so length matters
/// more than character classes.
pub fn check_policy(password: &str, login_id: &str) -> Result<(), PasswordPolicyError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooLong);
    }
    if !login_id.is_empty() && password.to_lowercase().contains(&login_id.to_lowercase()) {
        return Err(PasswordPolicyError::ContainsLoginId);
    }
    let letters = password.chars().any(|c| c.is_alphabetic());
    let digits = password.chars().any(|c| c.is_ascii_digit());
    let symbols = password.chars().any(|c| !c.is_alphanumeric());
    if [letters, digits, symbols].iter().filter(|b| **b).count() < 2 {
        return Err(PasswordPolicyError::TooSimple);
    }
    Ok(())
}

fn params() -> Params {
    Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        Some(HASH_LEN),
    )
    .expect("static Argon2 parameters are valid")
}

const HASH_LEN: usize = 32;

/// Argon2 working memory (19 MiB per hash) is reused from this pool instead of being
/// allocated per call: freshly allocated blocks of that size stay with the C allocator
/// after a login burst (hundreds of MB of resident memory); pooled ones are bounded by the
/// number of hashes running at once, which the web layer limits to the CPU count.
static MEMORY_POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn with_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let pooled = {
        let mut pool = MEMORY_POOL.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter()
            .position(|b| b.len() == blocks)
            .map(|i| pool.swap_remove(i))
    };
    let mut memory = pooled.unwrap_or_else(|| vec![Block::default(); blocks]);
    let result = f(&mut memory);
    if blocks == params().block_count() {
        MEMORY_POOL
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
    }
    result
}

fn argon2_raw(password: &[u8], salt: &[u8], params: Params, out: &mut [u8]) -> bool {
    let blocks = params.block_count();
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    with_memory(blocks, |memory| {
        hasher
            .hash_password_into_with_memory(password, salt, out, memory)
            .is_ok()
    })
}

/// Hashes a password into a PHC string. CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .expect("generated salts decode");
    let mut out = [0u8; HASH_LEN];
    assert!(
        argon2_raw(password.as_bytes(), salt_raw, params(), &mut out),
        "Argon2 with valid parameters cannot fail"
    );
    let hash = password_hash::Output::new(&out).expect("32-byte output is valid");
    format!(
        "$argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_ITERATIONS},p={ARGON2_PARALLELISM}${}${}",
        salt.as_str(),
        hash
    )
}

/// Verifies a password against a stored PHC string (any Argon2id cost, so hashes made at
/// an older cost keep working). A malformed stored hash never verifies.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(stored_params) = Params::try_from(&parsed) else {
        return false;
    };
    // Refuse absurd costs from a tampered row rather than allocating gigabytes.
    if stored_params.m_cost() > 1024 * 1024 || expected.len() > 64 {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let Ok(params) = Params::new(
        stored_params.m_cost(),
        stored_params.t_cost(),
        stored_params.p_cost(),
        Some(expected.len()),
    ) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2_raw(password.as_bytes(), salt_raw, params, &mut out)
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Spends the same time as a real verification, for unknown login IDs, so response time
/// does not reveal which login IDs exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_password("renkei-dummy-password-for-timing"));
    let _ = verify_password(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse 42");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse 42", &h));
        assert!(!verify_password("correct horse 43", &h));
        assert!(!verify_password("anything", "not-a-phc-string"));
        // Hashes made by the reference implementation (and at other costs) verify.
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"legacy pass 1", &salt)
        .unwrap()
        .to_string();
        assert!(verify_password("legacy pass 1", &other));
        assert!(!verify_password("legacy pass 2", &other));
        // And ours verify with the reference implementation.
        use argon2::password_hash::PasswordVerifier;
        assert!(Argon2::default()
            .verify_password(b"correct horse 42", &PasswordHash::new(&h).unwrap())
            .is_ok());
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short1", "u"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(
            check_policy("yamada-taro-2024", "yamada-taro"),
            Err(PasswordPolicyError::ContainsLoginId)
        );
        assert_eq!(
            check_policy("abcdefghijkl", "u1"),
            Err(PasswordPolicyError::TooSimple)
        );
        assert!(check_policy("つくしの丘 2024", "u1").is_ok());
        assert_eq!(
            check_policy(&"a1".repeat(65), "u1"),
            Err(PasswordPolicyError::TooLong)
        );
    }
}
