//! Requests per (minute, class) from the per-minute counts every stored block carries, and
//! per (hour, class) from the hour rollups.

use foldhash::{HashMap, HashMapExt};
use sqlx::Row;

use super::top::Top;
use crate::{
    db::Db,
    logs::store::{block, counters},
};

/// Requests per (minute, class) and per domain id from the blocks of `start..=end` (epoch
/// seconds): each block carries its per-minute counts, so no request is decoded.
pub(super) async fn minute_counts(
    db: &Db,
    start: i64,
    end: i64,
    domain: Option<&str>,
) -> Result<(HashMap<(i64, i64), i64>, HashMap<i64, i64>), sqlx::Error> {
    let from_us = start * 1_000_000;
    let to_us = end * 1_000_000 + 999_999;
    let mut sql = String::from(
        "SELECT domain_id, day, hist FROM access_log_blocks WHERE max_ts >= $1 AND max_ts <= $2 AND min_ts <= $3",
    );
    if domain.is_some() {
        sql += " AND domain_id = (SELECT id FROM access_log_domains WHERE name = $4)";
    }
    let mut conn = db.acquire().await?;
    let span = counters::max_span(&mut conn).await?;
    let mut q = sqlx::query(&sql)
        .bind(from_us)
        .bind(to_us + span)
        .bind(to_us);
    if let Some(d) = domain {
        q = q.bind(d);
    }
    let mut counts: HashMap<(i64, i64), i64> = HashMap::new();
    let mut by_domain: HashMap<i64, i64> = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        let hist: Vec<u8> = r.try_get("hist")?;
        for (minute, c, n) in block::decode_hist(&hist, r.try_get("day")?)? {
            if (start..=end).contains(&minute) {
                *counts.entry((minute, i64::from(c))).or_default() += n as i64;
                *by_domain.entry(r.try_get("domain_id")?).or_default() += n as i64;
            }
        }
    }
    Ok((counts, by_domain))
}

/// Requests per (hour, class) and the ten busiest domains of `start..=end` from the hour rollups.
pub(super) async fn hour_counts(
    db: &Db,
    start: i64,
    end: i64,
    domain: Option<&str>,
) -> Result<(HashMap<(i64, i64), i64>, Vec<Top>), sqlx::Error> {
    let filter = if domain.is_some() {
        " AND domain = $3"
    } else {
        ""
    };
    let sql = format!("SELECT hour AS t, class, CAST(SUM(requests) AS BIGINT) AS n FROM traffic_hours WHERE hour >= $1 AND hour <= $2{filter} GROUP BY hour, class");
    let mut q1 = sqlx::query(&sql).bind(start).bind(end);
    if let Some(d) = domain {
        q1 = q1.bind(d);
    }
    let mut counts: HashMap<(i64, i64), i64> = HashMap::new();
    for r in q1.fetch_all(db).await? {
        counts.insert(
            (r.try_get::<i64, _>("t")?, r.try_get::<i64, _>("class")?),
            r.try_get::<i64, _>("n")?,
        );
    }
    let sql = format!("SELECT domain, CAST(SUM(requests) AS BIGINT) AS n FROM traffic_hours WHERE hour >= $1 AND hour <= $2{filter} GROUP BY domain ORDER BY n DESC, domain LIMIT 10");
    let mut q2 = sqlx::query(&sql).bind(start).bind(end);
    if let Some(d) = domain {
        q2 = q2.bind(d);
    }
    let top = q2
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(Top {
                domain: Some(r.try_get("domain")?),
                path: None,
                count: r.try_get("n")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((counts, top))
}
