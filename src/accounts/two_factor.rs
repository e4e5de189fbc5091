//! Two-factor sign-in with an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s), as
//! Better Auth's twoFactor plugin does it: set up with the password (a secret and 10 backup
//! codes), turned on by the first valid code, asked for at sign-in through a short-lived
//! pending challenge. A code is accepted once (its time step must be newer than the last one
//! accepted); backup codes are stored hashed and each works once; a challenge allows 5
//! attempts and lives 10 minutes.

use rand::{rngs::OsRng, Rng, RngCore};
use sqlx::Row;
use totp_rs::{Algorithm, Secret, TOTP};

use super::{AuthCache, Evict, User};
use crate::{
    db::Db,
    digest::{hex, sha256_hex},
};

/// How long a sign-in waits for its second factor.
pub const CHALLENGE_SECS: i64 = 600;
/// Codes tried per challenge before it is spent.
pub const CHALLENGE_ATTEMPTS: i64 = 5;
const ISSUER: &str = "proxyhub";

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("TOTP is already enabled")]
    AlreadyEnabled,
    #[error("TOTP not enabled")]
    NotEnabled,
    #[error("{0}")]
    Totp(String),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// What setting up gives the account: the authenticator's URI and the backup codes, shown once.
pub struct Setup {
    pub totp_uri: String,
    pub backup_codes: Vec<String>,
}

fn hash(code: &str) -> String {
    sha256_hex(code.trim().as_bytes())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn totp(secret_b32: &str, email: &str) -> Result<TOTP, TwoFactorError> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| TwoFactorError::Totp(format!("{e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some(ISSUER.to_string()),
        email.replace(':', "_"),
    )
    .map_err(|e| TwoFactorError::Totp(e.to_string()))
}

/// Ten codes like `a8Fk2-Qz9Lm`.
fn backup_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..10)
        .map(|_| {
            let s: String = (0..10)
                .map(|_| ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

fn joined_hashes(codes: &[String]) -> String {
    codes.iter().map(|c| hash(c)).collect::<Vec<_>>().join(" ")
}

/// Starts (or restarts, until it is verified) an account's two-factor set-up.
pub async fn enable(db: &Db, user: &User) -> Result<Setup, TwoFactorError> {
    let verified: Option<i64> =
        sqlx::query_scalar("SELECT verified FROM two_factor WHERE user_id = $1")
            .bind(&user.id)
            .fetch_optional(db)
            .await?;
    if verified == Some(1) {
        return Err(TwoFactorError::AlreadyEnabled);
    }
    let mut secret = [0u8; 20];
    OsRng.fill_bytes(&mut secret);
    let secret = Secret::Raw(secret.to_vec()).to_encoded().to_string();
    let codes = backup_codes();
    sqlx::query("DELETE FROM two_factor WHERE user_id = $1")
        .bind(&user.id)
        .execute(db)
        .await?;
    sqlx::query(
        "INSERT INTO two_factor (user_id, secret, backup_codes, verified, last_step) VALUES ($1, $2, $3, 0, 0)",
    )
    .bind(&user.id)
    .bind(&secret)
    .bind(joined_hashes(&codes))
    .execute(db)
    .await?;
    Ok(Setup {
        totp_uri: totp(&secret, &user.email)?.get_url(),
        backup_codes: codes,
    })
}

/// The authenticator URI of an account's set-up.
pub async fn uri(db: &Db, user: &User) -> Result<String, TwoFactorError> {
    let secret: Option<String> =
        sqlx::query_scalar("SELECT secret FROM two_factor WHERE user_id = $1")
            .bind(&user.id)
            .fetch_optional(db)
            .await?;
    let secret = secret.ok_or(TwoFactorError::NotEnabled)?;
    Ok(totp(&secret, &user.email)?.get_url())
}

/// Checks a code from the authenticator; the first valid one turns two-factor on.
pub async fn verify_code(
    db: &Db,
    cache: &AuthCache,
    user: &User,
    code: &str,
) -> Result<bool, TwoFactorError> {
    let row = sqlx::query("SELECT secret, verified, last_step FROM two_factor WHERE user_id = $1")
        .bind(&user.id)
        .fetch_optional(db)
        .await?
        .ok_or(TwoFactorError::NotEnabled)?;
    let secret: String = row.try_get("secret")?;
    let last_step: i64 = row.try_get("last_step")?;
    let totp = totp(&secret, &user.email)?;
    let code = code.trim();
    let t = now();
    let step = [t - 30, t, t + 30]
        .into_iter()
        .filter(|at| *at >= 0)
        .find(|at| totp.check(code, *at as u64))
        .map(|at| at / 30);
    let Some(step) = step.filter(|s| *s > last_step) else {
        return Ok(false);
    };
    // Accepted once: only if no other request took this step meanwhile.
    let taken = sqlx::query(
        "UPDATE two_factor SET last_step = $2, verified = 1 WHERE user_id = $1 AND last_step < $2",
    )
    .bind(&user.id)
    .bind(step)
    .execute(db)
    .await?;
    if taken.rows_affected() == 0 {
        return Ok(false);
    }
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache
        .changing(&mut tx, Evict::User(user.id.clone()))
        .await?;
    sqlx::query("UPDATE users SET two_factor_enabled = 1 WHERE id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    changing.done().await;
    Ok(true)
}

/// Uses up a backup code; whether it was one.
pub async fn use_backup_code(db: &Db, user: &User, code: &str) -> Result<bool, TwoFactorError> {
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT backup_codes FROM two_factor WHERE user_id = $1 AND verified = 1",
    )
    .bind(&user.id)
    .fetch_optional(db)
    .await?;
    let stored = stored.ok_or(TwoFactorError::NotEnabled)?;
    let wanted = hash(code);
    if !stored.split_whitespace().any(|h| h == wanted) {
        return Ok(false);
    }
    let left: Vec<&str> = stored.split_whitespace().filter(|h| *h != wanted).collect();
    let taken = sqlx::query(
        "UPDATE two_factor SET backup_codes = $2 WHERE user_id = $1 AND backup_codes = $3",
    )
    .bind(&user.id)
    .bind(left.join(" "))
    .bind(&stored)
    .execute(db)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// New backup codes in place of the old ones.
pub async fn new_backup_codes(db: &Db, user: &User) -> Result<Vec<String>, TwoFactorError> {
    let codes = backup_codes();
    let r = sqlx::query("UPDATE two_factor SET backup_codes = $2 WHERE user_id = $1")
        .bind(&user.id)
        .bind(joined_hashes(&codes))
        .execute(db)
        .await?;
    if r.rows_affected() == 0 {
        return Err(TwoFactorError::NotEnabled);
    }
    Ok(codes)
}

/// Turns two-factor off and forgets the secret.
pub async fn disable(db: &Db, cache: &AuthCache, user: &User) -> Result<(), TwoFactorError> {
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache
        .changing(&mut tx, Evict::User(user.id.clone()))
        .await?;
    sqlx::query("DELETE FROM two_factor WHERE user_id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE users SET two_factor_enabled = 0 WHERE id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    changing.done().await;
    Ok(())
}

/// Opens a sign-in challenge; returns the pending cookie's value.
pub async fn challenge(db: &Db, user: &User, remember: bool) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let value = hex(&bytes);
    sqlx::query("DELETE FROM two_factor_challenges WHERE expires_at < $1")
        .bind(now())
        .execute(db)
        .await?;
    sqlx::query(
        "INSERT INTO two_factor_challenges (id, user_id, expires_at, attempts, remember) VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(hash(&value))
    .bind(&user.id)
    .bind(now() + CHALLENGE_SECS)
    .bind(i64::from(remember))
    .execute(db)
    .await?;
    Ok(value)
}

/// A live challenge: whose, and whether its sign-in asked to be remembered.
pub struct Challenge {
    pub user_id: String,
    pub remember: bool,
}

/// Counts an attempt on a challenge; `None` if it is unknown, expired or spent.
pub async fn attempt(db: &Db, value: &str) -> Result<Option<Challenge>, sqlx::Error> {
    let id = hash(value);
    let r = sqlx::query(
        "UPDATE two_factor_challenges SET attempts = attempts + 1 \
         WHERE id = $1 AND expires_at > $2 AND attempts < $3",
    )
    .bind(&id)
    .bind(now())
    .bind(CHALLENGE_ATTEMPTS)
    .execute(db)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT user_id, remember FROM two_factor_challenges WHERE id = $1")
        .bind(&id)
        .fetch_optional(db)
        .await?;
    row.map(|r| -> Result<Challenge, sqlx::Error> {
        Ok(Challenge {
            user_id: r.try_get("user_id")?,
            remember: r.try_get::<i64, _>("remember")? != 0,
        })
    })
    .transpose()
}

/// Ends a challenge (its second factor was given).
pub async fn close(db: &Db, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM two_factor_challenges WHERE id = $1")
        .bind(hash(value))
        .execute(db)
        .await?;
    Ok(())
}
