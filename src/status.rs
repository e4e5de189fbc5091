//! `/api/status`: is the proxy reachable, does it run what the store holds, when was the
//! last successful apply. The proxy's last error is shown to editors and admins only: it
//! quotes the proxy, and viewers only read.

use axum::{extract::State, routing::get, Json, Router};

use crate::{app::AppState, apply::ProxyStatus, auth::guard::CurrentUser, users::Role};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/status", get(status))
}

async fn status(State(state): State<AppState>, user: CurrentUser) -> Json<ProxyStatus> {
    let mut s = state.applier.status();
    if user.require(Role::Editor).is_err() {
        s.last_error = None;
    }
    Json(s)
}
