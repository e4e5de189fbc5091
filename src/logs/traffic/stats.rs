//! The counts of a period for `GET /api/logs/stats`: per minute up to two hours, per hour
//! beyond, with the busiest domains and the most requested paths.

use axum::{extract::State, routing::get, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{
    counts::{hour_counts, minute_counts},
    top::{top_paths, Top},
};
use crate::{
    app::AppState,
    error::{ApiError, AppQuery, Result},
    logs::store::domains,
    timestamps,
};

const CLASSES: [(i64, &str); 5] = [(2, "2xx"), (3, "3xx"), (4, "4xx"), (5, "5xx"), (0, "other")];

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
