//! Devices an account trusts (Better Auth's `trustDevice`): a sign-in finished with a second
//! factor and `trustDevice: true` leaves a cookie that spares that browser the code for 30
//! days. Only the secret's SHA-256 is stored; each use replaces the secret (a copied cookie
//! works once), and turning two-factor off forgets every device.

use rand::{rngs::OsRng, RngCore};

use crate::{
    db::Db,
    digest::{hex, sha256_hex},
};

/// How long a device stays trusted after its last sign-in.
pub const TRUST_SECS: i64 = 30 * 86_400;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Trusts the browser for `user_id`; returns the cookie's value.
pub async fn trust(db: &Db, user_id: &str) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = hex(&bytes);
    sqlx::query("DELETE FROM trusted_devices WHERE expires_at < $1")
        .bind(now())
        .execute(db)
        .await?;
    sqlx::query("INSERT INTO trusted_devices (id, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(sha256_hex(secret.as_bytes()))
        .bind(user_id)
        .bind(now() + TRUST_SECS)
        .execute(db)
        .await?;
    Ok(secret)
}

/// Whether `secret` is a device `user_id` trusts; a trusted one is used up (the caller
/// trusts the browser again with a new secret).
pub async fn redeem(db: &Db, user_id: &str, secret: &str) -> Result<bool, sqlx::Error> {
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    let gone = sqlx::query(
        "DELETE FROM trusted_devices WHERE id = $1 AND user_id = $2 AND expires_at >= $3",
    )
    .bind(sha256_hex(secret.as_bytes()))
    .bind(user_id)
    .bind(now())
    .execute(db)
    .await?;
    Ok(gone.rows_affected() == 1)
}

/// Forgets every device `user_id` trusted.
pub async fn forget(db: &Db, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}
