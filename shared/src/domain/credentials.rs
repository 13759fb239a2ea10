//! Random credentials and their stored form. Node keys and tokens are kept only as SHA-256
//! hashes, so a dump of the table yields nothing an attacker can present.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 24 random bytes, base64: the shape of Fleet's node keys and generated enroll secrets.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// 32 random bytes, base64url: session and API tokens, setup tokens. URL-safe, so a token can
/// stand in a link's query string as it is.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_are_24_bytes_base64_and_differ() {
        let a = random_secret();
        let b = random_secret();
        assert_ne!(a, b);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .expect("valid base64");
        assert_eq!(decoded.len(), 24);
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("x", "x"));
        assert!(!constant_time_eq("x", "y"));
    }
}
