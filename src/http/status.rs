//! `/api/health` (no sign-in), and `/api/status`: is the proxy reachable, does it run what
//! the store holds, when was the last successful apply, how the background workers are. The
//! proxy's last error is shown to editors and admins only: it quotes the proxy, and viewers
//! only read.

use axum::{extract::State, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{guard::CurrentUser, AppState};
use crate::{accounts::Role, apply::ProxyStatus, workers::WorkerStatus};

pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// The answer of `GET /api/health`.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// Is proxyhub up
///
/// Answers as soon as proxyhub serves requests, whatever the proxy's state.
#[utoipa::path(get, path = "/api/health", tag = "status", operation_id = "health",
    security(()),
    responses((status = 200, description = "proxyhub is up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The answer of `GET /api/status`: the proxy's state and the background workers'.
#[derive(Serialize, ToSchema)]
#[schema(as = Status)]
struct Status {
    #[serde(flatten)]
    proxy: ProxyStatus,
    workers: Vec<WorkerStatus>,
}

/// The proxy's and the workers' state
///
/// `lastError` (of the proxy and of each worker) is `null` for viewers.
#[utoipa::path(get, path = "/api/status", tag = "status", operation_id = "status",
    responses((status = 200, description = "The proxy's last known state and the workers'", body = Status)))]
async fn status(State(state): State<AppState>, user: CurrentUser) -> Json<Status> {
    let mut proxy = state.applier.status();
    let mut workers = state.workers.status();
    if user.require(Role::Editor).is_err() {
        proxy.last_error = None;
        for w in &mut workers {
            w.last_error = None;
        }
    }
    Json(Status { proxy, workers })
}
