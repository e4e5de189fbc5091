//! `/api/logs`: stored requests, newest first, filtered and paged; `/api/logs/status`: what
//! the pipeline has read, for people wondering where a line went; `/api/logs/stats`: traffic
//! counts for the dashboard's chart. The query-string extractors, the handlers and the
//! answers' JSON shapes; the domain's errors as [`ApiError`]s.

use axum::{
    extract::{FromRequestParts, State},
    http::request::Parts,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{
    error::{ApiError, Result},
    extract::AppQuery,
    guard::CurrentUser,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    logs::{
        parse::fields::human_latency,
        query::{
            self,
            filter::{self, RawFilter},
            Filter, Request,
        },
        store::{counters, files},
        traffic::{self, Period, CLASSES},
    },
    timestamps,
};

/// The routes of the access logs and their statistics.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/logs", get(list))
        .route("/api/logs/status", get(status))
        .route("/api/logs/stats", get(stats))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadLogs,
            Scope::ReadLogs,
        )))
}

/// One request as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub timestamp: String,
    pub domain: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub latency: String,
    pub ip: String,
    pub size: i64,
    pub protocol: String,
    pub user_agent: String,
}

/// The answer of `GET /api/logs`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    pub logs: Vec<LogEntry>,
    /// Matching requests; a lower bound when `total_exact` is false.
    pub total: i64,
    pub total_exact: bool,
    /// With `method`/`q` on a range of more than [`WINDOW`](query::WINDOW) requests: the time
    /// of the oldest request searched (ISO-8601); `null` when the whole range was searched.
    pub searched_since: Option<String>,
    pub page: i64,
    pub page_size: i64,
    /// Lines of the access log that were not requests (not JSON, other loggers).
    pub skipped: i64,
}

async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    LogsQuery(f, page, limit): LogsQuery,
) -> Result<Json<LogPage>> {
    me.need(Scope::ReadLogs)?;
    let (stored, skipped) = counters::counts(&state.db).await?;
    let found = query::page(&state.db, &f, limit, (page - 1) * limit, stored).await?;
    Ok(Json(LogPage {
        logs: found.rows.into_iter().map(entry).collect(),
        total: found.total,
        total_exact: found.exact,
        searched_since: found.searched_since.map(iso),
        page,
        page_size: limit,
        skipped,
    }))
}

fn iso(ts_us: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    timestamps::iso(t)
}

fn entry(r: Request) -> LogEntry {
    LogEntry {
        timestamp: iso(r.ts_us),
        domain: r.domain,
        method: r.method,
        path: r.path,
        status: r.status,
        latency: human_latency(r.latency_us),
        ip: r.ip,
        size: r.size,
        protocol: r.protocol,
        user_agent: r.user_agent,
    }
}

#[derive(Deserialize)]
struct RawQuery {
    domain: Option<String>,
    status: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    from: Option<String>,
    to: Option<String>,
    method: Option<String>,
    q: Option<String>,
}

/// The validated query string: filters, page (from 1) and page size.
pub struct LogsQuery(pub Filter, pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for LogsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AppQuery(raw) = AppQuery::<RawQuery>::from_request_parts(parts, state).await?;
        let (f, page, limit) = filter::validate(RawFilter {
            domain: raw.domain,
            status: raw.status,
            page: raw.page,
            limit: raw.limit,
            from: raw.from,
            to: raw.to,
            method: raw.method,
            q: raw.q,
        })?;
        Ok(LogsQuery(f, page, limit))
    }
}

/// The answer of `GET /api/logs/status`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The access log being followed.
    pub access_log: String,
    pub rows: i64,
    pub skipped: i64,
    /// Files read so far, most recently read first (at most 50).
    pub files: Vec<FileStatus>,
}

/// A file read so far, as `GET /api/logs/status` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    pub path: String,
    /// Bytes of complete lines stored.
    pub position: i64,
    pub lines: i64,
    pub skipped: i64,
    pub updated_at: String,
}

async fn status(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Status>> {
    me.need(Scope::ReadLogs)?;
    let (rows, skipped) = counters::counts(&state.db).await?;
    let files = files::recent(&state.db)
        .await?
        .into_iter()
        .map(|f| FileStatus {
            path: f.path,
            position: f.position,
            lines: f.lines,
            skipped: f.skipped,
            updated_at: timestamps::iso(f.updated_at),
        })
        .collect();
    Ok(Json(Status {
        access_log: state.config.access_log_absolute().display().to_string(),
        rows,
        skipped,
        files,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    domain: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn stats(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<StatsQuery>,
) -> Result<Json<Value>> {
    me.need(Scope::ReadLogs)?;
    let period = Period::parse(q.domain, q.from.as_deref(), q.to.as_deref())?;
    let found = traffic::stats(&state.db, &period).await?;
    let mut buckets = Vec::new();
    for bucket in found.buckets {
        let mut b = Map::new();
        b.insert(
            "t".into(),
            timestamps::iso(
                OffsetDateTime::from_unix_timestamp(bucket.t).map_err(ApiError::internal)?,
            )
            .into(),
        );
        for ((_, name), n) in CLASSES.into_iter().zip(bucket.requests) {
            b.insert(name.into(), n.into());
        }
        buckets.push(Value::Object(b));
    }
    Ok(Json(json!({
        "bucket": if found.minutely { "minute" } else { "hour" },
        "from": timestamps::iso(period.from),
        "to": timestamps::iso(period.to),
        "total": found.total,
        "buckets": buckets,
        "topDomains": found.top_domains,
        "topPaths": found.top_paths,
        "topPathsSample": found.top_paths_sample,
    })))
}
