//! `GET /api/vhosts/{id}/stats`: a vhost's requests per UTC day and status class over its
//! last days, from the hour rollups. Served under the vhosts' router, so read like a vhost.

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ErrorBody, Result},
    extract::{AppQuery, PathId},
    guard::CurrentUser,
    AppState,
};
use crate::{accounts::tokens::Scope, logs::traffic::per_vhost, vhosts};

/// The route; `vhosts::router()` merges it under its scope check.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

/// The query string of `GET /api/vhosts/{id}/stats`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// The days to count, today (UTC) included: 1 to 366 (default 30).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 366)]
    days: Option<String>,
}

/// A vhost's requests over its last days.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VhostStats {
    #[schema(example = "app.example.com")]
    domain: String,
    /// The days counted, today (UTC) included.
    days: u32,
    /// Requests of all days.
    total: i64,
    /// One entry per UTC day of the range, oldest first, days without requests included.
    daily: Vec<DayHits>,
    /// Requests per status class (`2xx` ... `other`) and per status code (`301`).
    by_status: StatusCounts,
}

/// Requests of one UTC day.
#[derive(Serialize, ToSchema)]
struct DayHits {
    #[schema(format = Date, example = "2025-01-15")]
    day: String,
    hits: i64,
}

/// Requests per status class.
#[derive(Serialize, ToSchema)]
struct StatusCounts {
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
    /// And each status code seen (`"301": 12`).
    #[serde(flatten)]
    #[schema(additional_properties)]
    codes: std::collections::BTreeMap<String, i64>,
}

/// A vhost's traffic per day
///
/// Requests per UTC day and status class over the last `days` days, counted at ingest.
#[utoipa::path(get, path = "/api/vhosts/{id}/stats", tag = "vhosts", operation_id = "getVhostStats",
    params(("id" = i64, Path, description = "The vhost's id"), StatsQuery),
    responses(
        (status = 200, description = "Requests per day and status class", body = VhostStats),
        (status = 400, description = "The id is not an integer, `days` is not 1 to 366, or an unknown parameter", body = ErrorBody),
        (status = 403, description = "A token without `read:vhosts` or `read:logs`", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
    ))]
async fn stats(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    AppQuery(q): AppQuery<StatsQuery>,
) -> Result<Json<VhostStats>> {
    me.need(Scope::ReadVhosts)?;
    // Traffic counts are the access log's: a token needs `read:logs` for them too.
    me.need(Scope::ReadLogs)?;
    let days = per_vhost::parse_days(q.days.as_deref())?;
    let vhost = vhosts::get(&state.reads, id).await?;
    let names = vhost.names();
    let found = per_vhost::daily(&state.reads, &names, days, OffsetDateTime::now_utc()).await?;
    // In `CLASSES` order (a test below holds them together).
    let [c2xx, c3xx, c4xx, c5xx, other] = found.by_class;
    Ok(Json(VhostStats {
        domain: vhost.domain,
        days,
        total: found.total,
        daily: found
            .days
            .into_iter()
            .map(|d| DayHits {
                day: d.day.to_string(),
                hits: d.hits,
            })
            .collect(),
        by_status: StatusCounts {
            c2xx,
            c3xx,
            c4xx,
            c5xx,
            other,
            codes: found
                .by_code
                .iter()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
        },
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_fields_follow_the_status_classes() {
        let names: Vec<&str> = crate::logs::traffic::CLASSES.iter().map(|c| c.1).collect();
        assert_eq!(names, ["2xx", "3xx", "4xx", "5xx", "other"]);
    }
}
