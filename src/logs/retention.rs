//! Pruning the oldest rows: older than the retention period, or beyond the row budget.
//! Small batches, each its own short transaction, so readers and the tailer never wait long.

use std::time::Duration;

use tokio::sync::watch;

use crate::db::{self, Db};

const BATCH: i64 = 2_000;
const EVERY: Duration = Duration::from_secs(10);
/// A pause between batches that lets other writers in.
const BREATHE: Duration = Duration::from_millis(5);

/// What to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: u32,
    pub max_rows: u64,
}

/// Prunes every few seconds until `stop` changes.
pub async fn run(db: Db, keep: Retention, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let now_us = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
        tokio::select! {
            r = prune(&db, keep, now_us) => match r {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "pruned old access-log rows"),
                Err(e) => tracing::warn!(error = %e, "could not prune access-log rows"),
            },
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Deletes what `keep` no longer allows, oldest first; returns how many rows went.
pub async fn prune(db: &Db, keep: Retention, now_us: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now_us - i64::from(keep.days) * 86_400 * 1_000_000;
    let keep_secs = i64::from(keep.days) * 86_400;
    crate::traffic::prune(&mut *db.acquire().await?, now_us / 1_000_000, keep_secs).await?;
    let mut deleted = 0;
    loop {
        let n = delete_batch(
            db,
            "DELETE FROM access_logs WHERE id IN \
             (SELECT id FROM access_logs WHERE ts < $1 ORDER BY ts LIMIT $2)",
            cutoff,
            BATCH,
        )
        .await?;
        deleted += n;
        if n < BATCH as u64 {
            break;
        }
        tokio::time::sleep(BREATHE).await;
    }
    loop {
        let (rows, _) = super::store::counts(db).await?;
        let excess = rows - keep.max_rows.min(i64::MAX as u64) as i64;
        if excess <= 0 {
            break;
        }
        let n = delete_batch(
            db,
            "DELETE FROM access_logs WHERE id IN \
             (SELECT id FROM access_logs WHERE ts > $1 ORDER BY ts, id LIMIT $2)",
            i64::MIN,
            excess.min(BATCH),
        )
        .await?;
        deleted += n;
        if n == 0 {
            break;
        }
        tokio::time::sleep(BREATHE).await;
    }
    Ok(deleted)
}

async fn delete_batch(db: &Db, sql: &str, bound: i64, limit: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db::begin_write(db).await?;
    let n = sqlx::query(sql)
        .bind(bound)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("UPDATE access_log_stats SET row_count = row_count - $1 WHERE id = 1")
        .bind(n as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n)
}
