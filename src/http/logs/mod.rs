//! `/api/logs`: stored requests, newest first, filtered and paged; `/api/logs/status`: what
//! the pipeline has read, for people wondering where a line went; `/api/logs/stats`: traffic
//! counts for the dashboard's chart. The query-string extractors, the handlers and the
//! answers' JSON shapes; the domain's errors as [`ApiError`]s. `status.rs`: the pipeline's
//! status.

mod status;

use axum::{
    extract::{FromRequestParts, State},
    http::request::Parts,
    response::Response,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::AppQuery,
    guard::CurrentUser,
    shared, AppState,
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
        store::counters,
        traffic::{self, Period, Top},
    },
    timestamps,
};

/// The routes of the access logs and their statistics.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(status::status))
        .routes(routes!(stats))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadLogs,
            Scope::ReadLogs,
        )))
}

/// One request as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// When the proxy received it (ISO-8601, UTC, milliseconds).
    pub timestamp: String,
    pub domain: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    /// Human-readable, like `1.52ms`.
    pub latency: String,
    /// The client's address as stored: the address, a hash of it (16 hex digits) or empty,
    /// as `PROXYHUB_LOG_CLIENT_IP` was when the request was stored.
    pub ip: String,
    pub size: i64,
    pub protocol: String,
    pub user_agent: String,
    /// The node whose log it came from (`proxyhub logs ship --node`); `null` for the access
    /// log proxyhub follows itself.
    pub node: Option<String>,
}

/// The answer of `GET /api/logs`.
#[derive(Debug, Serialize, ToSchema)]
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

/// Search the access log
///
/// Stored requests, newest first. `method` and `q` search the newest 10,000 requests that
/// pass the other filters; pages reach back 10,000 requests (`page` × `limit` ≤ 10,000).
#[utoipa::path(get, path = "/api/logs", tag = "logs", operation_id = "listLogs",
    params(RawQuery),
    responses(
        (status = 200, description = "A page of requests", body = LogPage),
        (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    session: tower_sessions::Session,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    LogsQuery(f, page, limit): LogsQuery,
) -> Result<Response> {
    me.need(Scope::ReadLogs)?;
    let question = format!("/api/logs?{}", raw.unwrap_or_default());
    let (reads, caller) = (state.reads.clone(), shared::caller(&me, &session));
    let answer = state
        .shared_reads
        .answer(&caller, question, move || async move {
            let (stored, skipped) = counters::counts(&mut *reads.acquire().await?).await?;
            let found = query::page(&reads, &f, limit, (page - 1) * limit, stored).await?;
            shared::to_json(&LogPage {
                logs: found.rows.into_iter().map(entry).collect(),
                total: found.total,
                total_exact: found.exact,
                searched_since: found.searched_since.map(iso),
                page,
                page_size: limit,
                skipped,
            })
        });
    Ok(shared::json(answer.await?))
}

fn iso(ts_us: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    timestamps::iso(t)
}

pub(super) fn entry(r: Request) -> LogEntry {
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
        node: r.node,
    }
}

/// The query string of `GET /api/logs`, as given (checked by [`filter::validate`]; an empty
/// value is no value).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RawQuery {
    /// Only this domain's requests (case-insensitive).
    #[param(max_length = 255)]
    domain: Option<String>,
    /// A status code (`404`) or a class (`4xx`).
    #[param(pattern = r"^([0-9]{1,3}|[1-5][xX][xX])$", example = "5xx")]
    status: Option<String>,
    /// The page, from 1 (default 1).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    page: Option<String>,
    /// Requests per page (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// Requests at or after this time (RFC 3339).
    #[param(format = DateTime, example = "2025-01-15T10:30:00.000Z")]
    from: Option<String>,
    /// Requests at or before this time (RFC 3339); not before `from`.
    #[param(format = DateTime)]
    to: Option<String>,
    /// Only this HTTP method (letters only, case-insensitive).
    #[param(pattern = "^[A-Za-z]{1,16}$", example = "GET")]
    method: Option<String>,
    /// Paths containing this text (case-insensitive).
    #[param(max_length = 512)]
    q: Option<String>,
    /// Only the requests shipped by this node (case-insensitive; `proxyhub logs ship --node`).
    #[param(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", example = "edge-1")]
    node: Option<String>,
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
            node: raw.node,
        })?;
        Ok(LogsQuery(f, page, limit))
    }
}

/// The query string of `GET /api/logs/stats`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// Only this domain's requests (case-insensitive).
    domain: Option<String>,
    /// The period's start (RFC 3339; default an hour before `to`).
    #[param(format = DateTime)]
    from: Option<String>,
    /// The period's end (RFC 3339; default now); at most 31 days after `from`.
    #[param(format = DateTime)]
    to: Option<String>,
}

/// The answer of `GET /api/logs/stats`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TrafficStats {
    /// Per minute for periods up to two hours, per hour beyond.
    bucket: BucketSize,
    from: String,
    to: String,
    /// Requests in all buckets.
    total: i64,
    /// From the bucket holding `from` to the one holding `to`, oldest first.
    buckets: Vec<BucketCounts>,
    /// The ten busiest domains (`domain` and `count`).
    top_domains: Vec<Top>,
    /// The ten most requested paths (`path` and `count`) among the newest requests.
    top_paths: Vec<Top>,
    /// How many requests the top paths were counted over.
    top_paths_sample: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum BucketSize {
    Minute,
    Hour,
}

/// A bucket's start and its requests per status class.
#[derive(Serialize, ToSchema)]
struct BucketCounts {
    t: String,
    #[serde(rename = "2xx")]
    c2xx: i64,
    #[serde(rename = "3xx")]
    c3xx: i64,
    #[serde(rename = "4xx")]
    c4xx: i64,
    #[serde(rename = "5xx")]
    c5xx: i64,
    /// Statuses outside 2xx to 5xx.
    other: i64,
}

/// Traffic counts for a period
#[utoipa::path(get, path = "/api/logs/stats", tag = "logs", operation_id = "trafficStats",
    params(StatsQuery),
    responses(
        (status = 200, description = "Requests per bucket and status class, and the top domains and paths", body = TrafficStats),
        (status = 400, description = "A parameter is unknown or malformed, or the period is empty or longer than 31 days", body = ErrorBody),
    ))]
async fn stats(
    State(state): State<AppState>,
    me: CurrentUser,
    session: tower_sessions::Session,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    AppQuery(q): AppQuery<StatsQuery>,
) -> Result<Response> {
    me.need(Scope::ReadLogs)?;
    let period = Period::parse(q.domain, q.from.as_deref(), q.to.as_deref())?;
    let question = format!("/api/logs/stats?{}", raw.unwrap_or_default());
    let (reads, caller) = (state.reads.clone(), shared::caller(&me, &session));
    let answer = state
        .shared_reads
        .answer(&caller, question, move || async move {
            traffic_stats(&reads, period).await
        });
    Ok(shared::json(answer.await?))
}

/// The traffic of `period`, as JSON.
async fn traffic_stats(reads: &crate::db::Db, period: Period) -> Result<axum::body::Bytes> {
    let found = traffic::stats(reads, &period).await?;
    let mut buckets = Vec::new();
    for bucket in found.buckets {
        let t = OffsetDateTime::from_unix_timestamp(bucket.t).map_err(ApiError::internal)?;
        // In `traffic::CLASSES` order (a test below holds them together).
        let [c2xx, c3xx, c4xx, c5xx, other] = bucket.requests;
        buckets.push(BucketCounts {
            t: timestamps::iso(t),
            c2xx,
            c3xx,
            c4xx,
            c5xx,
            other,
        });
    }
    shared::to_json(&TrafficStats {
        bucket: if found.minutely {
            BucketSize::Minute
        } else {
            BucketSize::Hour
        },
        from: timestamps::iso(period.from),
        to: timestamps::iso(period.to),
        total: found.total,
        buckets,
        top_domains: found.top_domains,
        top_paths: found.top_paths,
        top_paths_sample: found.top_paths_sample,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_fields_follow_the_status_classes() {
        let names: Vec<&str> = crate::logs::traffic::CLASSES.iter().map(|c| c.1).collect();
        assert_eq!(names, ["2xx", "3xx", "4xx", "5xx", "other"]);
    }
}
