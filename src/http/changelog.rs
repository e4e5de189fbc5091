//! `/api/changelog`: who changed which vhost, newest first, a page at a time.

use axum::{extract::State, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ErrorBody, Result},
    extract::AppQuery,
    guard::CurrentUser,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    changelog::{self, Entry, Filter},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadChangelog,
            Scope::ReadChangelog,
        )))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Query {
    /// Only this domain's changes (case-insensitive).
    domain: Option<String>,
    /// The id of the last entry of the previous page: entries older than it.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Entries per page (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// List recorded changes
///
/// Newest first; page back with `before`.
#[utoipa::path(get, path = "/api/changelog", tag = "changelog", operation_id = "listChanges",
    params(Query),
    responses(
        (status = 200, description = "A page of changes, newest first", body = [Entry]),
        (status = 400, description = "A parameter is unknown, malformed or out of range", body = ErrorBody),
    ))]
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
