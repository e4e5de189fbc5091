//! Traffic counts for the dashboard's chart, served by `GET /api/logs/stats`: per hour from
//! rollups by domain and status class written in the same transaction as the requests they
//! count; per minute from the per-minute counts every stored block carries; top paths from
//! the newest requests of the period.

use foldhash::{HashMap, HashMapExt};

use axum::{extract::State, routing::get, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::{
    app::AppState,
    db::{self, Db},
    error::{ApiError, AppQuery, Result},
    logs::{
        query::{self, Filter, Flow},
        store::{block, counters, domains},
    },
    timestamps,
};

const PATH_MAX: usize = 256;
const CLASSES: [(i64, &str); 5] = [(2, "2xx"), (3, "3xx"), (4, "4xx"), (5, "5xx"), (0, "other")];

fn path_of(uri: &str) -> &str {
    let p = uri.split(['?', '#']).next().unwrap_or(uri);
    match p.char_indices().nth(PATH_MAX) {
        Some((i, _)) => &p[..i],
        None => p,
    }
}

/// Adds `(hour, domain, class, requests)` counts (hour in epoch seconds, each key once) to
/// the hour rollups; call it in the transaction that stores the requests.
pub async fn record<'a>(
    conn: &mut AnyConnection,
    hours: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
    upsert(conn, "traffic_hours", "hour, domain, class", hours).await
}

/// Takes `(hour, domain, class, requests)` counts (each key once) off the hour rollups: the
/// requests were pruned. A rollup that reaches zero goes.
pub async fn subtract<'a>(
    conn: &mut AnyConnection,
    hours: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
    for (hour, domain, class, n) in hours {
        sqlx::query(
            "UPDATE traffic_hours SET requests = requests - $1 \
             WHERE hour = $2 AND domain = $3 AND class = $4",
        )
        .bind(n)
        .bind(hour)
        .bind(domain)
        .bind(class)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "DELETE FROM traffic_hours \
             WHERE hour = $1 AND domain = $2 AND class = $3 AND requests <= 0",
        )
        .bind(hour)
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
/// value, quadratic in the rows. `table` and `key` are fixed names from this file, never input.
async fn upsert<'a>(
    conn: &mut AnyConnection,
    table: &str,
    key: &str,
    rows: impl Iterator<Item = (i64, &'a str, i64, i64)>,
) -> Result<(), sqlx::Error> {
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

/// Drops hour rollups older than `keep_secs`.
pub async fn prune(conn: &mut AnyConnection, now: i64, keep_secs: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM traffic_hours WHERE hour < $1")
        .bind(now - keep_secs)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How many of the period's newest requests the top paths are counted over.
pub const PATH_SAMPLE: i64 = 20_000;

/// The ten most requested paths (query strings dropped) among the newest [`PATH_SAMPLE`]
/// requests of the period: bounded work at any store size, with no per-path rollup that
/// would grow with every distinct URL. Returns them and how many requests were looked at.
async fn top_paths(
    db: &Db,
    from: OffsetDateTime,
    to: OffsetDateTime,
    domain: Option<&str>,
) -> Result<(Vec<Top>, i64), sqlx::Error> {
    let us = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1000) as i64;
    let f = Filter {
        domain: domain.map(str::to_string),
        from_us: Some(us(from)),
        to_us: Some(us(to)),
        ..Filter::default()
    };
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut sampled = 0;
    let mut tx = db::begin_read(db).await?;
    query::scan(&mut tx, &f, true, |hit, _| {
        if let Some(p) = &hit.path {
            *counts.entry(path_of(p).to_string()).or_default() += 1;
        }
        sampled += 1;
        if sampled >= PATH_SAMPLE {
            Flow::Stop
        } else {
            Flow::More
        }
    })
    .await?;
    let mut top: Vec<(String, i64)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = top
        .into_iter()
        .take(10)
        .map(|(p, n)| Top {
            domain: None,
            path: Some(p),
            count: n,
        })
        .collect();
    Ok((top, sampled))
}

/// Requests per (minute, class) and per domain id from the blocks of `start..=end` (epoch
/// seconds): each block carries its per-minute counts, so no request is decoded.
async fn minute_counts(
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
async fn hour_counts(
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

pub fn router() -> Router<AppState> {
    Router::new().route("/api/logs/stats", get(stats))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    domain: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct Top {
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    count: i64,
}

fn parse_time(name: &str, v: Option<&str>, default: OffsetDateTime) -> Result<OffsetDateTime> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => timestamps::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be an ISO-8601 timestamp, got {s:?}"))
        }),
    }
}

async fn stats(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<StatsQuery>,
) -> Result<Json<Value>> {
    let to = parse_time("to", q.to.as_deref(), OffsetDateTime::now_utc())?;
    let from = parse_time("from", q.from.as_deref(), to - time::Duration::hours(1))?;
    let span = (to - from).whole_seconds();
    if span <= 0 {
        return Err(ApiError::bad_request("from must be before to"));
    }
    if span > 31 * 86400 {
        return Err(ApiError::bad_request("the period may be at most 31 days"));
    }
    let domain = q
        .domain
        .map(|d| d.trim().to_lowercase())
        .filter(|d| !d.is_empty());
    // Per minute up to two hours, per hour beyond.
    let minutely = span <= 2 * 3600;
    let step = if minutely { 60 } else { 3600 };
    let start = from.unix_timestamp() - from.unix_timestamp().rem_euclid(step);
    let end = to.unix_timestamp();

    let (counts, top_domains) = if minutely {
        let (counts, by_domain) = minute_counts(&state.db, start, end, domain.as_deref()).await?;
        let ids: Vec<i64> = by_domain.keys().copied().collect();
        let names = domains::names(&mut *state.db.acquire().await?, &ids).await?;
        let mut top: Vec<Top> = by_domain
            .into_iter()
            .map(|(id, n)| Top {
                domain: Some(names.get(&id).cloned().unwrap_or_default()),
                path: None,
                count: n,
            })
            .collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then(a.domain.cmp(&b.domain)));
        top.truncate(10);
        (counts, top)
    } else {
        hour_counts(&state.db, start, end, domain.as_deref()).await?
    };
    let mut total = 0;
    let mut buckets = Vec::new();
    let mut t = start;
    while t <= end {
        let mut b = Map::new();
        b.insert(
            "t".into(),
            timestamps::iso(OffsetDateTime::from_unix_timestamp(t).map_err(ApiError::internal)?)
                .into(),
        );
        for (c, name) in CLASSES {
            let n = counts.get(&(t, c)).copied().unwrap_or(0);
            total += n;
            b.insert(name.into(), n.into());
        }
        buckets.push(Value::Object(b));
        t += step;
    }

    let (top_paths, sampled) = top_paths(&state.db, from, to, domain.as_deref()).await?;

    Ok(Json(json!({
        "bucket": if minutely { "minute" } else { "hour" },
        "from": timestamps::iso(from),
        "to": timestamps::iso(to),
        "total": total,
        "buckets": buckets,
        "topDomains": top_domains,
        "topPaths": top_paths,
        "topPathsSample": sampled,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_query_and_length() {
        assert_eq!(path_of("/a/b?x=1#f"), "/a/b");
        assert_eq!(path_of(&"é".repeat(300)).chars().count(), PATH_MAX);
    }

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
