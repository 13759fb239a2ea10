//! Password hashes (argon2id) and the password rule.
//!
//! The cost is set so one hash takes 50-100 ms on the admin Lambda (512 MB, about 0.29 of a
//! vCPU): `cargo bench -p flotilla --bench api` prints the time here and the Lambda estimate.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// 19 MiB, 2 passes, 1 lane: OWASP's argon2id baseline (m=19 MiB, t=2, p=1).
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

pub const MIN_LEN: usize = 12;
/// Long enough for any passphrase; bounds the work an unauthenticated login can ask for.
pub const MAX_LEN: usize = 128;

/// Base words of the passwords most often seen in breaches, compared after digits and symbols
/// are stripped, so that "Password123!" and "Welcome2024#" are refused too.
const COMMON: &str = include_str!("common_passwords.txt");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("Password must be at least {MIN_LEN} characters long")]
    TooShort,
    #[error("Password must be at most {MAX_LEN} characters long")]
    TooLong,
    #[error("Password must contain at least 1 number (e.g. 0 - 9)")]
    NoDigit,
    #[error("Password must contain at least 1 symbol (e.g. &*#)")]
    NoSymbol,
    #[error("Password is too common: choose one that is not built on a common password")]
    TooCommon,
}

/// Fleet's rule (12 characters, a digit and a symbol) plus the common-password check.
pub fn check_rule(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(PasswordError::NoDigit);
    }
    if !password.chars().any(|c| !c.is_alphanumeric()) {
        return Err(PasswordError::NoSymbol);
    }
    if is_common(password) {
        return Err(PasswordError::TooCommon);
    }
    Ok(())
}

/// Undoes the usual substitutions (p@ssw0rd) in lower case; other characters go.
fn unleet(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '0' => Some('o'),
            '1' | '!' => Some('i'),
            '3' => Some('e'),
            '4' | '@' => Some('a'),
            '5' | '$' => Some('s'),
            '7' => Some('t'),
            c if c.is_alphabetic() => c.to_lowercase().next(),
            _ => None,
        })
        .collect()
}

/// Built on a common word: the word itself once digits and symbols are gone or undone, or a
/// common word of 6 letters or more followed by at most 4 more ("Welcome2024#xx").
fn is_common(password: &str) -> bool {
    let letters: String = password
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    // The usual shape is a word, then digits and symbols: undo substitutions in the word only.
    let core = password.trim_end_matches(|c: char| !c.is_alphabetic() && c != '@' && c != '$');
    let candidates = [letters.clone(), unleet(core), unleet(password)];
    let built_on = |candidate: &str, word: &str| {
        candidate == word
            || (word.len() >= 6 && candidate.starts_with(word) && candidate.len() - word.len() <= 4)
    };
    letters.len() < 4
        || COMMON
            .lines()
            .map(str::trim)
            .filter(|word| !word.is_empty() && !word.starts_with('#'))
            .any(|word| candidates.iter().any(|c| built_on(c, word)))
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants that Params::new accepts; the fallback is never taken.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=...`), with its own random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing a password failed: {e}"))
}

/// Whether `password` matches the stored hash (parameters are read from the hash, so older
/// hashes keep verifying after the cost changes).
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real check, for logins of unknown or password-less accounts,
/// so the answer's timing does not tell which emails have accounts.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("flotilla dummy password 0!").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleets_rule_and_common_passwords() {
        assert_eq!(check_rule("short1!"), Err(PasswordError::TooShort));
        assert_eq!(check_rule("no digits here!"), Err(PasswordError::NoDigit));
        assert_eq!(check_rule("nosymbols12345"), Err(PasswordError::NoSymbol));
        assert_eq!(check_rule("Password12345!"), Err(PasswordError::TooCommon));
        assert_eq!(check_rule("P@ssw0rd2024!!"), Err(PasswordError::TooCommon));
        assert_eq!(check_rule("Welcome2024#xx"), Err(PasswordError::TooCommon));
        assert_eq!(check_rule("123456789012!"), Err(PasswordError::TooCommon));
        assert_eq!(check_rule(&"a1!".repeat(50)), Err(PasswordError::TooLong));
        assert_eq!(check_rule("correct horse 7 battery"), Ok(()));
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse 7 battery").expect("hash");
        let b = hash("correct horse 7 battery").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse 7 battery", &a));
        assert!(!verify("correct horse 7 batterY", &a));
        assert!(!verify("anything", "not a hash"));
    }
}
