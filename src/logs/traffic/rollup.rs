//! The rollups: requests per hour (`traffic_hours`, kept as long as the logs) and per minute
//! (`traffic_minutes`, kept [`MINUTES_KEPT_SECS`]), domain and status class, added in the
//! transaction that stores the requests and taken off when requests are pruned.

use sqlx::AnyConnection;

/// The rollups of one size: hours or minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Hour,
    Minute,
}

impl Size {
    /// The table and its time column (fixed names, never input).
    pub(super) fn table(self) -> (&'static str, &'static str) {
        match self {
            Size::Hour => ("traffic_hours", "hour"),
            Size::Minute => ("traffic_minutes", "minute"),
        }
    }
}

/// Adds `(hour, domain, class, requests)` counts (hour in epoch seconds, each key once) to
/// the hour rollups; call it in the transaction that stores the requests.
pub async fn record<'a>(
    conn: &mut AnyConnection,
    hours: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
    upsert(conn, Size::Hour, hours).await
}

/// How long the minute rollups are kept: the traffic chart counts minutes of periods up to two
/// hours, and what it is asked for is the last hour or two. Older minutes are counted from the
/// blocks. Kept longer, they cost imports of past days dearly: a day of 200 quiet hosts is
/// ~290,000 minute rows for a million requests, which took a quarter of the import's time.
pub const MINUTES_KEPT_SECS: i64 = 3 * 3600;

/// Whether the minute rollups hold the minute starting at `minute` (epoch seconds) at `now`:
/// minutes older than [`MINUTES_KEPT_SECS`] are neither written nor taken off (they would be
/// pruned, and [`super::counts`] counts them from the blocks).
pub fn minute_kept(minute: i64, now: i64) -> bool {
    minute >= now - MINUTES_KEPT_SECS
}

/// Adds `(minute, domain, class, requests)` counts (minute in epoch seconds, each key once)
/// to the minute rollups, those [`minute_kept`] at `now`; call it in the transaction that
/// stores the requests.
pub async fn record_minutes<'a>(
    conn: &mut AnyConnection,
    now: i64,
    minutes: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
    let kept = minutes.filter(|m| minute_kept(m.0, now));
    upsert(conn, Size::Minute, kept).await
}

/// Takes `(start, domain, class, requests)` counts (each key once) off the rollups of `size`:
/// the requests were pruned. A rollup that reaches zero goes.
pub async fn subtract<'a>(
    conn: &mut AnyConnection,
    size: Size,
    counts: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
    let (table, t) = size.table();
    let update = format!(
        "UPDATE {table} SET requests = requests - $1 WHERE {t} = $2 AND domain = $3 AND class = $4"
    );
    let delete = format!(
        "DELETE FROM {table} WHERE {t} = $1 AND domain = $2 AND class = $3 AND requests <= 0"
    );
    for (start, domain, class, n) in counts {
        sqlx::query(&update)
            .bind(n)
            .bind(start)
            .bind(domain)
            .bind(class)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&delete)
            .bind(start)
            .bind(domain)
            .bind(class)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Rows per upsert statement: a few fixed sizes, so each is prepared once per connection.
const CHUNKS: [usize; 4] = [256, 32, 4, 1];

/// Multi-row `INSERT .. ON CONFLICT DO UPDATE` (SQLite ≥ 3.24 and PostgreSQL). SQLite gets
/// anonymous `?` placeholders: binding numbered ones costs a scan of all parameter names per
/// value, quadratic in the rows.
async fn upsert<'a>(
    conn: &mut AnyConnection,
    size: Size,
    rows: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
    let (table, t) = size.table();
    let key = format!("{t}, domain, class");
    let sqlite = conn.backend_name().eq_ignore_ascii_case("sqlite");
    let mut rows: &[_] = &rows.collect::<Vec<_>>();
    while !rows.is_empty() {
        let n = *CHUNKS.iter().find(|&&c| c <= rows.len()).unwrap_or(&1);
        let (chunk, rest) = rows.split_at(n);
        rows = rest;
        let values: Vec<String> = (0..n)
            .map(|i| match sqlite {
                true => "(?, ?, ?, ?)".to_string(),
                false => format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                ),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({key}, requests) VALUES {} ON CONFLICT ({key}) DO UPDATE SET requests = {table}.requests + excluded.requests",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (t, domain, class, n) in chunk {
            q = q.bind(*t).bind(*domain).bind(*class).bind(*n);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Drops hour rollups older than `keep_secs`, and minute rollups older than
/// [`MINUTES_KEPT_SECS`].
pub async fn prune(conn: &mut AnyConnection, now: i64, keep_secs: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM traffic_hours WHERE hour < $1")
        .bind(now - keep_secs)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM traffic_minutes WHERE minute < $1")
        .bind(now - MINUTES_KEPT_SECS.min(keep_secs))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn record_adds_up_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let mut conn = db.acquire().await.unwrap();
        for _ in 0..2 {
            let hours = [
                (0, "a.com", 2, 2),
                (3600, "b.com", 5, 1),
                (3600, "a.com", 5, 3),
            ];
            record(&mut conn, hours.into_iter()).await.unwrap();
        }
        let h: i64 = sqlx::query_scalar(
            "SELECT CAST(SUM(requests) AS BIGINT) FROM traffic_hours WHERE hour = 3600 AND class = 5",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(h, 8, "both domains, both batches");
    }
}
