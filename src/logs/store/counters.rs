//! The store's counters (`access_log_stats`): rows stored, lines skipped, the longest time a
//! block spans, and since when the minute rollups hold every request.

use sqlx::{AnyConnection, Row as _};

use super::block;
use crate::db::Db;

/// The longest time a stored block spans (at most a day): blocks holding requests up to `t`
/// end no later than `t` plus this.
pub async fn max_span(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    let span: i64 = sqlx::query("SELECT max_span FROM access_log_stats WHERE id = 1")
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(span.clamp(0, block::DAY_US))
}

/// The time (epoch microseconds) up to which requests may have been stored before the minute
/// rollups existed: minutes after it are all in `traffic_minutes`.
pub async fn minutes_since(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT minutes_since FROM access_log_stats WHERE id = 1")
        .fetch_one(db)
        .await?
        .try_get(0)
}

/// Rows stored, and lines skipped over all files (proxyhub's own and the nodes'), as two
/// columns of a `SELECT` (a statement that asks more, like `logs::ingest::standing`'s, asks
/// these in the same statement).
pub const COUNTS: &str = "(SELECT row_count FROM access_log_stats WHERE id = 1), \
     CAST((SELECT COALESCE(SUM(skipped), 0) FROM access_log_files) \
     + (SELECT COALESCE(SUM(skipped), 0) FROM access_log_node_files) AS BIGINT)";

/// Rows stored, and lines skipped over all files (proxyhub's own and the nodes').
pub async fn counts(conn: &mut AnyConnection) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COUNTS}"))
        .fetch_one(conn)
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
