//! `/api/health` (no sign-in), and `/api/status`: is the proxy reachable, does it run what
//! the store holds, when was the last successful apply, how the background workers are. The
//! proxy's last error is shown to editors and admins only: it quotes the proxy, and viewers
//! only read.

use axum::{extract::State, routing::get, Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::{guard::CurrentUser, AppState};
use crate::{accounts::Role, apply::ProxyStatus, workers::WorkerStatus};

pub fn public_router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/status", get(status))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[derive(Serialize)]
struct Status {
    #[serde(flatten)]
    proxy: ProxyStatus,
    workers: Vec<WorkerStatus>,
}

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
