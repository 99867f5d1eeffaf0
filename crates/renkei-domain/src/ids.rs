//! Identifiers and secret tokens.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random 128-bit identifier as 32 lowercase hex characters. Not guessable, so an ID in
/// a URL reveals nothing about how many records exist.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A 256-bit secret token (session cookie, setup link, CSRF token), URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored only as their SHA-256, so a database dump does not hand out sessions.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The human-facing facility ID issued at approval, e.g. `F00042`.
pub fn facility_code(number: i64) -> String {
    format!("F{number:05}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        assert_eq!(super::new_id().len(), 32);
        assert_ne!(super::new_token(), super::new_token());
        assert_eq!(super::facility_code(42), "F00042");
        assert_eq!(super::token_hash("a").len(), 64);
    }
}
