//! Remembered answers for `Idempotency-Key`: a client that retries a create (a timeout, a
//! lost connection) with the same key and body gets the first answer again instead of a
//! second creation or a conflict. Keys are per account and kept 24 hours.

use sqlx::Row;

use crate::db::Db;

/// How long a key is remembered.
pub const KEEP_SECS: i64 = 24 * 3600;
/// A first request that has not been answered this long is taken as lost (crash, kill).
const ABANDONED_SECS: i64 = 120;

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq)]
pub enum Begin {
    /// First time: answer it, then [`finish`] (or [`abandon`] if it failed).
    New,
    /// Seen and answered: answer this again.
    Replay(Remembered),
    /// The same key came with another body.
    OtherBody,
    /// The first request with this key is still being answered.
    InProgress,
}

/// A remembered answer.
#[derive(Debug, PartialEq)]
pub struct Remembered {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

/// A fingerprint of a request body (JSON compared by value, not by spelling). Basic-auth
/// passwords are left out: a fast hash of one would undo bcrypt's slowness for whoever reads
/// the store (a retry that changes only a password gets the first answer).
pub fn fingerprint(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|mut v| {
            if let Some(users) = v
                .pointer_mut("/access/basicAuth")
                .and_then(|u| u.as_array_mut())
            {
                for u in users.iter_mut().filter_map(|u| u.as_object_mut()) {
                    u.remove("password");
                }
            }
            v.to_string().into_bytes()
        })
        .unwrap_or_else(|_| body.to_vec());
    crate::digest::sha256_hex(&canonical)
}

/// A key as clients may send it: 1 to 255 visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims a key for a request, or says how it was answered before.
pub async fn begin(db: &Db, user: &str, key: &str, hash: &str) -> Result<Begin, sqlx::Error> {
    let now = now();
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now - KEEP_SECS)
        .execute(db)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user)
    .bind(key)
    .bind(hash)
    .bind(now)
    .execute(db)
    .await;
    match inserted {
        Ok(_) => return Ok(Begin::New),
        Err(e) if crate::db::is_unique_violation(&e) => {}
        Err(e) => return Err(e),
    }
    let Some(row) = sqlx::query(
        "SELECT request_hash, status, etag, body, created_at FROM idempotency_keys \
         WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(db)
    .await?
    else {
        // Expired and removed between the two statements: claim it afresh.
        return Box::pin(begin(db, user, key, hash)).await;
    };
    let stored: String = row.try_get("request_hash")?;
    if stored != hash {
        return Ok(Begin::OtherBody);
    }
    let status: Option<i64> = row.try_get("status")?;
    match status {
        Some(status) => Ok(Begin::Replay(Remembered {
            status: u16::try_from(status).unwrap_or(200),
            etag: row.try_get("etag")?,
            body: row
                .try_get::<Option<String>, _>("body")?
                .unwrap_or_default(),
        })),
        None => {
            let started: i64 = row.try_get("created_at")?;
            if now - started < ABANDONED_SECS {
                return Ok(Begin::InProgress);
            }
            // Take the lost claim over (one request wins it).
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET created_at = $3 \
                 WHERE user_id = $1 AND idem_key = $2 AND status IS NULL AND created_at = $4",
            )
            .bind(user)
            .bind(key)
            .bind(now)
            .bind(started)
            .execute(db)
            .await?;
            Ok(if taken.rows_affected() == 1 {
                Begin::New
            } else {
                Begin::InProgress
            })
        }
    }
}

/// Remembers the answer to a claimed key.
pub async fn finish(
    db: &Db,
    user: &str,
    key: &str,
    answer: &Remembered,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, etag = $4, body = $5 WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user)
    .bind(key)
    .bind(i64::from(answer.status))
    .bind(&answer.etag)
    .bind(&answer.body)
    .execute(db)
    .await?;
    Ok(())
}

/// Releases a claimed key whose request failed: a retry is answered afresh.
pub async fn abandon(db: &Db, user: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND status IS NULL",
    )
    .bind(user)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bodies_are_compared_as_json_values() {
        use super::fingerprint;
        assert_eq!(
            fingerprint(br#"{"domain":"a.com","upstream":"h:1"}"#),
            fingerprint(b"{ \"upstream\": \"h:1\",\n \"domain\": \"a.com\" }")
        );
        assert_ne!(
            fingerprint(br#"{"domain":"a.com"}"#),
            fingerprint(br#"{"domain":"b.com"}"#)
        );
        assert_eq!(
            fingerprint(br#"{"access":{"basicAuth":[{"username":"a","password":"x"}]}}"#),
            fingerprint(br#"{"access":{"basicAuth":[{"username":"a","password":"y"}]}}"#)
        );
        assert!(super::valid_key("retry-7f3a"));
        assert!(!super::valid_key("with space"));
        assert!(!super::valid_key(""));
    }
}
