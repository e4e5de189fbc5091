//! Password hashing with argon2id, off the async runtime.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use super::AccountError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Checks Better Auth's length rule (8 to 128 characters).
pub fn check_length(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(AccountError::PasswordTooShort);
    }
    if n > MAX_LEN {
        return Err(AccountError::PasswordTooLong);
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, AccountError> {
    let hashing = |e: &dyn std::fmt::Display| AccountError::Hashing(e.to_string());
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| hashing(&e))
    })
    .await
    .map_err(|e| hashing(&e))?
}

/// Verifies a password; `hash` of `None` (no account) or empty (an account without a
/// password, made by single sign-on) still spends the same work, so either takes as long to
/// refuse as a wrong password.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, AccountError> {
    let hashing = |e: &dyn std::fmt::Display| AccountError::Hashing(e.to_string());
    tokio::task::spawn_blocking(move || {
        let (stored, real) = match hash {
            Some(h) if !h.is_empty() => (h, true),
            _ => (DUMMY_HASH.to_string(), false),
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| hashing(&e))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(real && matches)
    })
    .await
    .map_err(|e| hashing(&e))?
}

// argon2id of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Qg6vBHyLz0hF1ZbA0Pp7wUq8nZ8eYd4Hh3iS3+J3s0E";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_a_missing_account_is_refused_after_the_same_work() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
        assert!(
            !verify("anything".into(), None).await.unwrap(),
            "the dummy hash parses and never matches"
        );
        assert!(
            !verify("".into(), Some(String::new())).await.unwrap(),
            "an account without a password has none to match"
        );
    }
}
