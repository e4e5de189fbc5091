//! Requests per (minute, class) from the minute rollups, or from the per-minute counts every
//! stored block carries (minutes older than the rollups); per (hour, class) from the hour
//! rollups.

use foldhash::{HashMap, HashMapExt};
use sqlx::Row;

use super::{
    rollup::{self, Size},
    top::Top,
};
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

/// Whether the minute rollups hold every request of the minutes from `start` (epoch
/// seconds) on: they hold the last [`rollup::MINUTES_KEPT_SECS`], and requests stored before they existed are not in
/// them.
pub(super) async fn minutes_cover(db: &Db, start: i64, now: i64) -> Result<bool, sqlx::Error> {
    Ok(start > now - rollup::MINUTES_KEPT_SECS + 60
        && start * 1_000_000 > counters::minutes_since(db).await?)
}

/// Requests per (start, class) and the ten busiest domains of `start..=end` from the rollups
/// of `size`.
pub(super) async fn rollup_counts(
    db: &Db,
    size: Size,
    start: i64,
    end: i64,
    domain: Option<&str>,
) -> Result<(HashMap<(i64, i64), i64>, Vec<Top>), sqlx::Error> {
    let filter = if domain.is_some() {
        " AND domain = $3"
    } else {
        ""
    };
    let (table, t) = size.table();
    let sql = format!("SELECT {t} AS t, class, CAST(SUM(requests) AS BIGINT) AS n FROM {table} WHERE {t} >= $1 AND {t} <= $2{filter} GROUP BY {t}, class");
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
    let sql = format!("SELECT domain, CAST(SUM(requests) AS BIGINT) AS n FROM {table} WHERE {t} >= $1 AND {t} <= $2{filter} GROUP BY domain ORDER BY n DESC, domain LIMIT 10");
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::logs::{
        ingest::{addresses::Addresses, import},
        store::retention::{prune, Retention},
    };

    /// The minute rollups count what the blocks hold, after ingest and after pruning for the
    /// row budget (which rewrites the block straddling it).
    #[tokio::test]
    async fn minute_rollups_count_what_the_blocks_hold() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let start = now - now.rem_euclid(60) - 1800;
        let log = dir.path().join("access.log");
        let mut f = std::fs::File::create(&log).unwrap();
        for i in 0..3000 {
            let (host, status) = (
                ["a.example.com", "b.example.com", "c.example.com"][i % 3],
                [200, 301, 404, 503, 200][i % 5],
            );
            writeln!(f, r#"{{"level":"info","ts":{}.25,"logger":"http.log.access","msg":"handled request","request":{{"remote_ip":"203.0.113.9","proto":"HTTP/1.1","method":"GET","host":"{host}","uri":"/{i}","headers":{{}}}},"duration":0.001,"size":5,"status":{status}}}"#, start + (i as i64 * 7) % 1800).unwrap();
        }
        drop(f);
        import::import(&db, &[log], Addresses::default(), false)
            .await
            .unwrap();
        assert!(minutes_cover(&db, start, now).await.unwrap());
        let same = |db: Db| async move {
            let (blocks, by_id) = minute_counts(&db, start, now, None).await.unwrap();
            let (rolled, top) = rollup_counts(&db, Size::Minute, start, now, None)
                .await
                .unwrap();
            let blocks: std::collections::BTreeMap<_, _> = blocks.into_iter().collect();
            let rolled: std::collections::BTreeMap<_, _> = rolled.into_iter().collect();
            assert_eq!(rolled, blocks);
            let mut by_domain: Vec<i64> = by_id.into_values().collect();
            by_domain.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(top.iter().map(|t| t.count).collect::<Vec<_>>(), by_domain);
            blocks.values().sum::<i64>()
        };
        assert_eq!(same(db.clone()).await, 3000);
        let keep = Retention {
            days: 30,
            max_rows: 1234,
            every: std::time::Duration::from_secs(10),
        };
        prune(&db, keep, now * 1_000_000).await.unwrap();
        assert_eq!(same(db.clone()).await, 1234);
    }
}
