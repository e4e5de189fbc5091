//! `/api/changelog`: who changed which vhost, newest first, a page at a time.

use axum::{extract::State, routing::get, Json, Router};
use serde::Deserialize;

use super::{error::Result, extract::AppQuery, guard::CurrentUser, AppState};
use crate::{
    accounts::tokens::Scope,
    changelog::{self, Entry, Filter},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/changelog", get(list))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadChangelog,
            Scope::ReadChangelog,
        )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    domain: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<Query>,
) -> Result<Json<Vec<Entry>>> {
    me.need(Scope::ReadChangelog)?;
    let filter = Filter {
        domain: q.domain,
        before: q.before,
        limit: q.limit,
    };
    let entries = changelog::list(&state.db, filter).await??;
    Ok(Json(entries))
}
