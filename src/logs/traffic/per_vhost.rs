//! A vhost's requests per UTC day and status class over its last days, for
//! `GET /api/vhosts/{id}/stats`: summed over the vhost's host names from the hour rollups,
//! one index lookup per hour and name, never a scan of the requests.

use foldhash::{HashSet, HashSetExt};
use sqlx::Row;
use time::{Date, OffsetDateTime};

use super::{InvalidPeriod, CLASSES};
use crate::{db::Db, logs::parse::fields};

/// The days counted unless asked otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// The most days one answer counts.
pub const MAX_DAYS: u32 = 366;

/// Reads `days` from a query string: a whole number 1 to [`MAX_DAYS`], by default
/// [`DEFAULT_DAYS`]; an empty value is no value.
pub fn parse_days(raw: Option<&str>) -> Result<u32, InvalidPeriod> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_DAYS);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
        _ => Err(InvalidPeriod(format!(
            "days must be a whole number from 1 to {MAX_DAYS}, got {raw:?}"
        ))),
    }
}

/// Requests of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub day: Date,
    pub hits: i64,
}

/// What [`daily`] counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daily {
    /// Every day of the range, oldest first, zeros included.
    pub days: Vec<Day>,
    /// Requests per status class, in [`CLASSES`] order.
    pub by_class: [i64; 5],
    /// Requests of all days.
    pub total: i64,
    /// Requests per status code (`301` → n), from the status counts each stored block keeps.
    pub by_code: Vec<(i64, i64)>,
}

/// Requests to any of `names` on the last `days` UTC days (1 to [`MAX_DAYS`]), today (the
/// day of `now`) included. Names are matched as the ingest stores hosts: lower case, without
/// port or trailing dot; a name given twice counts once. A wildcard name (`*.example.com`)
/// is matched literally, so it finds nothing.
pub async fn daily(
    db: &Db,
    names: &[String],
    days: u32,
    now: OffsetDateTime,
) -> Result<Daily, sqlx::Error> {
    let days = days.clamp(1, MAX_DAYS);
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let first = today - time::Duration::days(i64::from(days) - 1);
    let start = first.midnight().assume_utc().unix_timestamp();
    let end = start + i64::from(days) * 86_400;

    let mut hosts: Vec<String> = Vec::with_capacity(names.len());
    let mut seen = HashSet::with_capacity(names.len());
    for n in names {
        let h = fields::domain(n.trim()).into_owned();
        if !h.is_empty() && seen.insert(h.clone()) {
            hosts.push(h);
        }
    }

    let mut daily = Daily {
        days: (0..days)
            .map(|i| Day {
                day: first + time::Duration::days(i64::from(i)),
                hits: 0,
            })
            .collect(),
        by_class: [0; CLASSES.len()],
        total: 0,
        by_code: Vec::new(),
    };
    if hosts.is_empty() {
        return Ok(daily);
    }
    // The rollups' key starts with the hour: walking the range's hours makes each
    // (hour, name) an index lookup, where `hour BETWEEN` would read every domain's rows.
    let placeholders: Vec<String> = (0..hosts.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "WITH RECURSIVE hours(hour) AS ( \
             SELECT CAST($1 AS BIGINT) \
             UNION ALL SELECT hour + 3600 FROM hours WHERE hour + 3600 < $2 \
         ) \
         SELECT CAST(t.hour - t.hour % 86400 AS BIGINT) AS day, t.class AS class, \
                CAST(SUM(t.requests) AS BIGINT) AS n \
         FROM hours JOIN traffic_hours t ON t.hour = hours.hour \
         WHERE t.domain IN ({}) \
         GROUP BY t.hour - t.hour % 86400, t.class",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(start).bind(end);
    for h in &hosts {
        q = q.bind(h.as_str());
    }
    for r in q.fetch_all(db).await? {
        let (day, class, n): (i64, i64, i64) =
            (r.try_get("day")?, r.try_get("class")?, r.try_get("n")?);
        let Some(d) = daily.days.get_mut(((day - start) / 86_400) as usize) else {
            continue;
        };
        d.hits += n;
        // Class 0 and anything unexpected are `other`, the last of CLASSES.
        let i = CLASSES
            .iter()
            .position(|(c, _)| *c == class)
            .unwrap_or(CLASSES.len() - 1);
        daily.by_class[i] += n;
        daily.total += n;
    }
    daily.by_code = by_code(db, &hosts, start * 1_000_000, end * 1_000_000).await?;
    Ok(daily)
}

/// Requests per status code of `hosts` in `[from_us, to_us)` (whole UTC days), from the
/// blocks' status counts: a block holds one day of one domain, so its `max_ts` places it.
/// The statuses present are walked one index seek at a time (a skip scan), and each is read
/// by domain and time through the same index: never the requests themselves.
async fn by_code(
    db: &Db,
    hosts: &[String],
    from_us: i64,
    to_us: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let placeholders: Vec<String> = (0..hosts.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "WITH RECURSIVE codes(status) AS ( \
             SELECT MIN(status) FROM access_log_block_statuses \
             UNION ALL SELECT (SELECT MIN(s.status) FROM access_log_block_statuses s \
                               WHERE s.status > codes.status) \
             FROM codes WHERE codes.status IS NOT NULL \
         ) \
         SELECT CAST(b.status AS BIGINT) AS status, CAST(SUM(b.n) AS BIGINT) AS n \
         FROM codes JOIN access_log_block_statuses b ON b.status = codes.status \
         WHERE b.domain_id IN (SELECT id FROM access_log_domains WHERE name IN ({})) \
           AND b.max_ts >= $1 AND b.max_ts < $2 \
         GROUP BY b.status ORDER BY b.status",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(from_us).bind(to_us);
    for h in hosts {
        q = q.bind(h.as_str());
    }
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::traffic::rollup;

    #[test]
    fn days_are_1_to_366_and_30_by_default() {
        assert_eq!(parse_days(None).unwrap(), 30);
        assert_eq!(parse_days(Some("")).unwrap(), 30);
        assert_eq!(parse_days(Some("7")).unwrap(), 7);
        assert_eq!(parse_days(Some("366")).unwrap(), 366);
        for bad in ["0", "367", "-1", "abc", "1.5", "99999999999"] {
            let e = parse_days(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("days"), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn counts_each_day_of_the_range_over_all_names() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let now = time::macros::datetime!(2025-03-10 15:20 UTC);
        let day = |d: i64, h: i64| {
            now.date().midnight().assume_utc().unix_timestamp() + d * 86_400 + h * 3600
        };
        let rows = [
            (day(0, 15), "a.example.com", 2, 5),
            (day(0, 0), "a.example.com", 5, 1),
            (day(-1, 23), "www.a.example.com", 3, 2),
            (day(-6, 12), "a.example.com", 0, 4),
            (day(-7, 23), "a.example.com", 2, 100),
            (day(0, 15), "b.example.com", 2, 100),
        ];
        let mut conn = db.acquire().await.unwrap();
        rollup::record(&mut conn, rows.into_iter()).await.unwrap();
        drop(conn);

        let names = [
            "A.Example.com:443".to_string(),
            "www.a.example.com.".into(),
            "a.example.com".into(),
        ];
        let week = daily(&db, &names, 7, now).await.unwrap();
        let hits: Vec<(String, i64)> = week
            .days
            .iter()
            .map(|d| (d.day.to_string(), d.hits))
            .collect();
        assert_eq!(
            hits,
            [
                ("2025-03-04".into(), 4),
                ("2025-03-05".into(), 0),
                ("2025-03-06".into(), 0),
                ("2025-03-07".into(), 0),
                ("2025-03-08".into(), 0),
                ("2025-03-09".into(), 2),
                ("2025-03-10".into(), 6),
            ]
        );
        assert_eq!(week.by_class, [5, 2, 0, 1, 4]);
        assert_eq!(week.total, 12);
        assert_eq!(daily(&db, &names, 8, now).await.unwrap().total, 112);
        assert_eq!(daily(&db, &[], 8, now).await.unwrap().total, 0);
        assert!(week.by_code.is_empty(), "no blocks were stored");
    }
}
