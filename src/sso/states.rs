//! Sign-ins sent to the provider and not back yet. Each is stored under the SHA-256 of its
//! `state` (the value itself travels only in the browser's cookie and the provider's
//! redirect), lives ten minutes, and is taken once: a replayed callback finds nothing.

use super::Begun;
use crate::{db::Db, digest::sha256_hex};

/// How long the provider may take to send the browser back.
pub const LIFETIME_SECS: i64 = 600;

/// What a sign-in keeps until the provider sends the browser back.
#[derive(Clone, Debug)]
pub struct Pending {
    pub code_verifier: String,
    pub nonce: String,
    /// Where the browser goes when signed in; `new_user_url` instead for a new account.
    pub callback_url: String,
    pub error_url: String,
    pub new_user_url: Option<String>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Keeps a sign-in that has just begun (and forgets the expired ones).
pub async fn save(
    db: &Db,
    begun: &Begun,
    callback_url: &str,
    error_url: &str,
    new_user_url: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sso_states WHERE expires_at < $1")
        .bind(now())
        .execute(db)
        .await?;
    sqlx::query(
        "INSERT INTO sso_states (id, code_verifier, nonce, callback_url, error_url, new_user_url, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(sha256_hex(begun.state.as_bytes()))
    .bind(&begun.code_verifier)
    .bind(&begun.nonce)
    .bind(callback_url)
    .bind(error_url)
    .bind(new_user_url)
    .bind(now() + LIFETIME_SECS)
    .execute(db)
    .await?;
    Ok(())
}

/// The sign-in `state` names, removed as it is read: `None` when unknown, already used or
/// expired.
pub async fn take(db: &Db, state: &str) -> Result<Option<Pending>, sqlx::Error> {
    if state.is_empty() || state.len() > 512 || state.chars().any(char::is_control) {
        return Ok(None);
    }
    let id = sha256_hex(state.as_bytes());
    let row: Option<(String, String, String, String, Option<String>, i64)> = sqlx::query_as(
        "DELETE FROM sso_states WHERE id = $1 \
         RETURNING code_verifier, nonce, callback_url, error_url, new_user_url, expires_at",
    )
    .bind(&id)
    .fetch_optional(db)
    .await?;
    Ok(row.filter(|r| r.5 >= now()).map(
        |(code_verifier, nonce, callback_url, error_url, new_user_url, _)| Pending {
            code_verifier,
            nonce,
            callback_url,
            error_url,
            new_user_url,
        },
    ))
}
