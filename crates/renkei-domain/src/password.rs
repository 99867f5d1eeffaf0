//! Password hashing with Argon2id and the network's password policy.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

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

fn hasher() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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

/// Hashes a password into a PHC string. CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// Verifies a password against a stored PHC string. A malformed stored hash never verifies.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
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
