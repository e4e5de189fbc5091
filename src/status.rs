//! `/api/status`: is the proxy reachable, does it run what the store holds, when was the
//! last successful apply.

use axum::{extract::State, routing::get, Json, Router};

use crate::{app::AppState, apply::ProxyStatus};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/status", get(status))
}

async fn status(State(state): State<AppState>) -> Json<ProxyStatus> {
    Json(state.applier.status())
}
