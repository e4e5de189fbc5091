//! `GET /api/vhosts/{id}/health`: each upstream of a vhost as proxyhub's own probes found it
//! (`health/`), and as the proxy counts it (Caddy's admin API; nginx tells nothing). Read
//! with the same rights as the vhost itself.

use std::time::Duration;

use axum::{extract::State, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ErrorBody, Result},
    extract::PathId,
    guard::CurrentUser,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    health::UpstreamHealth,
    proxy::{
        site::{dial_address, HealthCheck},
        UpstreamCounts,
    },
    vhosts,
};

/// How long the proxy's counts are waited for: without them the answer still has the probes'.
const COUNTS_WAIT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// A vhost's upstreams and their health.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VhostHealth {
    id: i64,
    domain: String,
    /// The vhost's health check; none: its upstreams are not probed.
    health_check: Option<HealthCheck>,
    /// Every upstream, in order.
    upstreams: Vec<UpstreamState>,
}

/// One upstream's health.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UpstreamState {
    upstream: String,
    /// Whether proxyhub's last probe got the expected status; `null` before the first probe,
    /// and when the vhost has no health check or is disabled.
    healthy: Option<bool>,
    /// When the last probe ended (RFC 3339, UTC).
    last_check: Option<String>,
    /// How long the last probe's answer took, in milliseconds; `null` when it got none.
    latency_ms: Option<u64>,
    /// Consecutive failed probes: 0 once a probe succeeds.
    recent_failures: u32,
    /// The status the last probe got; `null` when it got no answer.
    last_status: Option<u16>,
    /// Why the last probe failed; `null` when it succeeded.
    last_error: Option<String>,
    /// What the proxy counts of this upstream (Caddy); `null` with nginx, or when the proxy
    /// did not answer or does not run it.
    proxy: Option<ProxyCounts>,
}

/// Caddy's counts of an upstream, shared by every vhost that dials the same address.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProxyCounts {
    /// Requests to it in flight right now.
    num_requests: u64,
    /// Its failed requests within the last `fail_duration` (10 s, set for vhosts with several
    /// upstreams; with one, none are counted).
    fails: u64,
}

/// Read a vhost's upstream health
///
/// proxyhub probes each upstream of an enabled vhost with a `healthCheck` every
/// `intervalSeconds`; with Caddy, its own counts of each upstream come along.
#[utoipa::path(get, path = "/api/vhosts/{id}/health", tag = "vhosts", operation_id = "getVhostHealth",
    params(("id" = i64, Path, description = "The vhost's id")),
    responses(
        (status = 200, description = "The vhost's upstreams and their health", body = VhostHealth),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "A token without `read:vhosts`", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
    ))]
async fn health(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<VhostHealth>> {
    me.need(Scope::ReadVhosts)?;
    let v = vhosts::get(&state.db, id).await?;
    let counts = counts(&state).await;
    let probed = v.enabled && v.features.health_check.is_some();
    let upstreams = v
        .site()
        .upstreams()
        .into_iter()
        .map(|upstream| {
            let h = probed
                .then(|| state.health.of(id, &upstream))
                .flatten()
                .unwrap_or_default();
            let dial = dial_address(&upstream);
            let proxy = counts
                .iter()
                .find(|c| c.address.eq_ignore_ascii_case(&dial))
                .map(|c| ProxyCounts {
                    num_requests: c.num_requests,
                    fails: c.fails,
                });
            answer(upstream, h, proxy)
        })
        .collect();
    Ok(Json(VhostHealth {
        id: v.id,
        domain: v.domain,
        health_check: v.features.health_check,
        upstreams,
    }))
}

/// The proxy's counts; none when it does not answer in time (said in the log).
async fn counts(state: &AppState) -> Vec<UpstreamCounts> {
    match tokio::time::timeout(COUNTS_WAIT, state.applier.proxy().upstream_counts()).await {
        Ok(Ok(counts)) => counts,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read the proxy's upstream counts");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("the proxy's upstream counts did not come within 2 s");
            Vec::new()
        }
    }
}

fn answer(upstream: String, h: UpstreamHealth, proxy: Option<ProxyCounts>) -> UpstreamState {
    UpstreamState {
        upstream,
        healthy: h.healthy,
        last_check: h.last_check,
        latency_ms: h.latency_ms,
        recent_failures: h.recent_failures,
        last_status: h.last_status,
        last_error: h.last_error,
        proxy,
    }
}
