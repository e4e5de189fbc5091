//! Stores made before blocks existed kept one row per request in `access_logs` (renamed
//! `access_logs_legacy` by migration 0004). At start-up those rows are rewritten as blocks,
//! a batch per transaction, then the old table is dropped. Counts and rollups already
//! include them, so only the rows move.

use sqlx::Row as _;

use super::{block::Row, store};
use crate::db::{self, Db};

const BATCH: i64 = 50_000;

/// Moves every legacy row into blocks; returns how many moved.
pub async fn convert(db: &Db) -> Result<u64, sqlx::Error> {
    let exists = if db::is_sqlite(db) {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'access_logs_legacy'"
    } else {
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = 'access_logs_legacy'"
    };
    let n: i64 = sqlx::query(exists).fetch_one(db).await?.try_get(0)?;
    if n == 0 {
        return Ok(0);
    }
    let mut moved = 0;
    loop {
        let mut tx = db::begin_write(db).await?;
        let rows = sqlx::query(
            "SELECT id, ts, domain_id, method, path, status, latency_us, ip, size, protocol, \
             user_agent FROM access_logs_legacy ORDER BY id LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            sqlx::query("DROP TABLE access_logs_legacy")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(moved);
        };
        let last: i64 = last.try_get("id")?;
        let owned = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("domain_id")?,
                    r.try_get::<i64, _>("ts")?,
                    r.try_get::<String, _>("method")?,
                    r.try_get::<String, _>("path")?,
                    r.try_get::<i64, _>("status")?,
                    r.try_get::<i64, _>("latency_us")?,
                    r.try_get::<String, _>("ip")?,
                    r.try_get::<i64, _>("size")?,
                    r.try_get::<String, _>("protocol")?,
                    r.try_get::<String, _>("user_agent")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let domain_ids: Vec<i64> = owned.iter().map(|o| o.0).collect();
        let requests: Vec<Row> = owned
            .iter()
            .map(|o| Row {
                ts_us: o.1,
                method: &o.2,
                path: &o.3,
                status: o.4,
                latency_us: o.5,
                ip: &o.6,
                size: o.7,
                protocol: &o.8,
                user_agent: &o.9,
            })
            .collect();
        store::write_rows(&mut tx, &requests, &domain_ids).await?;
        sqlx::query("DELETE FROM access_logs_legacy WHERE id <= $1")
            .bind(last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        moved += owned.len() as u64;
        tracing::info!(rows = moved, "moved stored access-log rows into blocks");
    }
}
