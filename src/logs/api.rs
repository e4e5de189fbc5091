//! `GET /api/logs`: stored requests, newest first, filtered and paged.

use axum::{
    extract::{FromRequestParts, State},
    http::request::Parts,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    parse::fields::human_latency,
    query::{self, Filter, Request, WINDOW},
    store::counters,
};
use crate::{
    app::AppState,
    error::{ApiError, AppQuery, Result},
    timestamps,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/logs", get(list))
        .route("/api/logs/status", get(super::status::status))
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    pub logs: Vec<LogEntry>,
    /// Matching requests; a lower bound when `total_exact` is false.
    pub total: i64,
    pub total_exact: bool,
    /// With `method`/`q` on a range of more than [`WINDOW`] requests: the time of the oldest
    /// request searched (ISO-8601); `null` when the whole range was searched.
    pub searched_since: Option<String>,
    pub page: i64,
    pub page_size: i64,
    /// Lines of the access log that were not requests (not JSON, other loggers).
    pub skipped: i64,
}

async fn list(
    State(state): State<AppState>,
    LogsQuery(f, page, limit): LogsQuery,
) -> Result<Json<LogPage>> {
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
        validate(raw)
    }
}

fn validate(raw: RawQuery) -> Result<LogsQuery> {
    let present = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let int = |name: &str, v: Option<String>, min: i64, max: i64| -> Result<Option<i64>> {
        let Some(v) = present(v) else { return Ok(None) };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be an integer from {min} to {max}, got {v:?}"
            ))),
        }
    };
    let time = |name: &str, v: Option<String>| -> Result<Option<i64>> {
        let Some(v) = present(v) else { return Ok(None) };
        let t = timestamps::parse(&v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be an ISO-8601 timestamp like 2025-01-15T10:30:00.000Z, got {v:?}"
            ))
        })?;
        Ok(Some((t.unix_timestamp_nanos() / 1000) as i64))
    };
    // `status` is a code (404) or a class (4xx).
    let class = raw
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| s.len() == 3 && s.as_bytes()[1..].eq_ignore_ascii_case(b"xx"))
        .map(|s| match s.as_bytes()[0] {
            c @ b'1'..=b'5' => Ok(i64::from(c - b'0')),
            _ => Err(ApiError::bad_request(format!(
                "status class must be 1xx to 5xx, got {s:?}"
            ))),
        })
        .transpose()?;
    let status = if class.is_some() { None } else { raw.status };
    let page = int("page", raw.page, 1, 1_000_000)?.unwrap_or(1);
    let limit = int("limit", raw.limit, 1, 500)?.unwrap_or(50);
    let filter = Filter {
        domain: present(raw.domain).map(|d| d.to_ascii_lowercase()),
        status: int("status", status, 0, 999)?,
        status_class: class,
        from_us: time("from", raw.from)?,
        to_us: time("to", raw.to)?,
        method: present(raw.method).map(|m| m.to_ascii_uppercase()),
        q: present(raw.q),
    };
    if let (Some(from), Some(to)) = (filter.from_us, filter.to_us) {
        if from > to {
            return Err(ApiError::bad_request("from must not be after to"));
        }
    }
    if filter
        .method
        .as_ref()
        .is_some_and(|m| m.len() > 16 || !m.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(ApiError::bad_request(
            "method must be letters only, like GET",
        ));
    }
    if filter.q.as_ref().is_some_and(|q| q.len() > 512)
        || filter.domain.as_ref().is_some_and(|d| d.len() > 255)
    {
        return Err(ApiError::bad_request(
            "q and domain are limited to 512 and 255 characters",
        ));
    }
    if page * limit > WINDOW {
        return Err(ApiError::bad_request(format!(
            "pages reach back {WINDOW} requests (page × limit ≤ {WINDOW}); narrow the search with from/to or other filters"
        )));
    }
    Ok(LogsQuery(filter, page, limit))
}
