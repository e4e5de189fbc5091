//! Rate-limit counts every replica shares, in the store (PostgreSQL), on the store's clock:
//! the API's fixed windows (`rate_windows`) and the sliding window of sign-in attempts
//! (`rate_attempts`). Keys are hashed: a session's id never reaches the table.

use std::time::Duration;

use crate::{db::Db, digest::sha256_hex};

/// The store's clock in milliseconds, as SQL.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Where a caller stands in a window after a request was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// Counted so far in the window, this request included when it was allowed.
    pub hits: u32,
    pub allowed: bool,
    /// Until the window ends (fixed) or the oldest counted attempt no longer counts
    /// (sliding).
    pub reset_after: Duration,
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

/// Counts a request against `key` in a fixed window of `window` (one statement).
pub async fn fixed_window(
    db: &Db,
    key: &str,
    limit: u32,
    window: Duration,
) -> Result<Count, sqlx::Error> {
    let window_ms = window.as_millis() as i64;
    let (hits, left_ms): (i64, i64) = sqlx::query_as(&format!(
        "INSERT INTO rate_windows AS w (key, started_ms, hits) VALUES ($1, {NOW_MS}, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           started_ms = CASE WHEN w.started_ms <= EXCLUDED.started_ms - $2 \
                        THEN EXCLUDED.started_ms ELSE w.started_ms END, \
           hits = CASE WHEN w.started_ms <= EXCLUDED.started_ms - $2 THEN 1 ELSE w.hits + 1 END \
         RETURNING hits, started_ms + $2 - {NOW_MS}"
    ))
    .bind(sha256_hex(key.as_bytes()))
    .bind(window_ms)
    .fetch_one(db)
    .await?;
    Ok(Count {
        hits: hits.min(i64::from(limit)) as u32,
        allowed: hits <= i64::from(limit),
        reset_after: ms(left_ms),
    })
}

/// Counts an attempt against `key` if fewer than `max` were counted in the last `window`.
/// Attempts of one key take turns (a transaction-level advisory lock on the key).
pub async fn sliding_window(
    db: &Db,
    key: &str,
    max: u32,
    window: Duration,
) -> Result<Count, sqlx::Error> {
    let key = sha256_hex(key.as_bytes());
    let window_ms = window.as_millis() as i64;
    let mut tx = db.begin().await?;
    // The lock first, then the clock (a target list is computed in order).
    let (_, now): (String, i64) = sqlx::query_as(&format!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text, {NOW_MS}"
    ))
    .bind(&key)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM rate_attempts WHERE key = $1 AND at_ms <= $2")
        .bind(&key)
        .bind(now - window_ms)
        .execute(&mut *tx)
        .await?;
    let (count, oldest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MIN(at_ms) FROM rate_attempts WHERE key = $1")
            .bind(&key)
            .fetch_one(&mut *tx)
            .await?;
    let allowed = count < i64::from(max);
    if allowed {
        sqlx::query("INSERT INTO rate_attempts (key, at_ms) VALUES ($1, $2)")
            .bind(&key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let hits = count + i64::from(allowed);
    Ok(Count {
        hits: hits as u32,
        allowed,
        reset_after: ms(oldest.unwrap_or(now) + window_ms - now),
    })
}

/// Forgets windows and attempts over for an hour; run now and then.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for sql in [
        "DELETE FROM rate_windows WHERE started_ms < $1",
        "DELETE FROM rate_attempts WHERE at_ms < $1",
    ] {
        let before: i64 = sqlx::query_scalar(&format!("SELECT {NOW_MS} - 3600000"))
            .fetch_one(db)
            .await?;
        n += sqlx::query(sql)
            .bind(before)
            .execute(db)
            .await?
            .rows_affected();
    }
    Ok(n)
}
