//! Time-based one-time passwords (RFC 6238) for the second factor, with replay protection,
//! and single-use recovery codes.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps accepted either side of now, for clock drift between phone and server.
pub const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODE_COUNT: usize = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TotpError {
    #[error("the stored TOTP secret is not valid base32")]
    BadSecret,
    #[error("the code must be {DIGITS} digits")]
    Malformed,
    #[error("the code does not match")]
    Mismatch,
    #[error("this code was already used; wait for the next one")]
    Replayed,
}

/// A fresh 160-bit secret, base32 encoded as authenticator apps expect.
pub fn generate_secret() -> String {
    let bytes: [u8; 20] = rand::thread_rng().gen();
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn totp_for(secret_b32: &str, issuer: &str, account: &str) -> Result<TOTP, TotpError> {
    let raw = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|_| TotpError::BadSecret)?;
    // SHA1/6 digits/30 s: the only combination every authenticator app supports.
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECONDS,
        raw,
        Some(issuer.to_string()),
        account.replace(':', "_"),
    )
    .map_err(|_| TotpError::BadSecret)
}

/// The `otpauth://` URI that enrolment shows as a QR code.
pub fn provisioning_uri(
    secret_b32: &str,
    issuer: &str,
    account: &str,
) -> Result<String, TotpError> {
    Ok(totp_for(secret_b32, issuer, account)?.get_url())
}

/// The code for a given Unix time. Used by tests, the demo helper and the CLI.
pub fn code_at(secret_b32: &str, unix_seconds: u64) -> Result<String, TotpError> {
    Ok(totp_for(secret_b32, "renkei", "user")?.generate(unix_seconds))
}

/// Checks a code at `unix_seconds`. `last_used_step` is the step of the last accepted code;
/// a code from that step or earlier is refused so an observed code cannot be replayed.
/// Returns the step to store as the new `last_used_step`.
pub fn verify(
    secret_b32: &str,
    code: &str,
    unix_seconds: u64,
    last_used_step: Option<i64>,
) -> Result<i64, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let totp = totp_for(secret_b32, "renkei", "user")?;
    let now_step = (unix_seconds / STEP_SECONDS) as i64;
    let mut replayed = false;
    for step in (now_step - SKEW_STEPS)..=(now_step + SKEW_STEPS) {
        if step < 0 {
            continue;
        }
        let expected = totp.generate(step as u64 * STEP_SECONDS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
                continue;
            }
            return Ok(step);
        }
    }
    Err(if replayed {
        TotpError::Replayed
    } else {
        TotpError::Mismatch
    })
}

/// Recovery codes as shown once to the user (`xxxxx-xxxxx`, unambiguous alphabet).
pub fn generate_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let s: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

/// Recovery codes carry ~50 bits of entropy each, so a fast hash is enough to store them.
pub fn hash_recovery_code(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    #[test]
    fn accepts_current_code_once() {
        let t = 1_700_000_000;
        let code = code_at(SECRET, t).unwrap();
        let step = verify(SECRET, &code, t, None).unwrap();
        assert_eq!(step, (t / 30) as i64);
        assert_eq!(
            verify(SECRET, &code, t, Some(step)),
            Err(TotpError::Replayed)
        );
    }

    #[test]
    fn tolerates_one_step_of_drift_but_not_two() {
        let t = 1_700_000_000;
        let previous = code_at(SECRET, t - 30).unwrap();
        assert!(verify(SECRET, &previous, t, None).is_ok());
        let stale = code_at(SECRET, t - 90).unwrap();
        assert_eq!(verify(SECRET, &stale, t, None), Err(TotpError::Mismatch));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(verify(SECRET, "12345", 0, None), Err(TotpError::Malformed));
        assert_eq!(verify(SECRET, "abcdef", 0, None), Err(TotpError::Malformed));
        assert_eq!(
            verify("not base32!", "123456", 0, None),
            Err(TotpError::BadSecret)
        );
    }

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 appendix B, SHA1, T=59 → 94287082 (8 digits); the last 6 digits.
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(code_at(&secret, 59).unwrap(), "287082");
    }

    #[test]
    fn recovery_codes_are_unique_and_hash_normalised() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), codes.len());
        assert_eq!(
            hash_recovery_code("ABCDE-fghjk"),
            hash_recovery_code("abcde fghjk")
        );
    }

    #[test]
    fn provisioning_uri_names_issuer() {
        let uri = provisioning_uri(SECRET, "Renkei", "yamada").unwrap();
        assert!(uri.starts_with("otpauth://totp/Renkei:yamada?"), "{uri}");
    }
}
