//! `/api/changelog`: who changed which vhost, newest first, a page at a time.

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{AppQuery, PathId},
    guard::CurrentUser,
    shared, AppState,
};
use crate::{
    accounts::tokens::Scope,
    changelog::{self, Entry, Filter},
    vhosts::{self, Vhost},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(revert))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadChangelog,
            Scope::WriteVhosts,
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
) -> Result<axum::response::Response> {
    me.need(Scope::ReadChangelog)?;
    // A page is read once per version of the configuration (see `remembered`).
    let question = format!("{:?} {:?} {:?}", q.domain, q.before, q.limit);
    let filter = Filter {
        domain: q.domain,
        before: q.before,
        limit: q.limit,
    };
    let page = state
        .config_reads
        .changelog
        .answer(&state.reads, question, |conn| {
            Box::pin(async move {
                let entries = changelog::list(conn, filter).await??;
                shared::to_json(&entries)
            })
        })
        .await?;
    Ok(shared::json((*page).clone()))
}

/// What a revert did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Reverted {
    /// The vhost as it is now; for a reverted creation, as it was when deleted.
    vhost: Vhost,
    /// Whether the revert deleted the vhost (the entry was its creation).
    deleted: bool,
    /// The entry reverted (the new entry carries it as `revertOf`).
    revert_of: i64,
}

/// Revert a change
///
/// Applies the inverse of a changelog entry as a new change, recorded with `revertOf`: a
/// delete brings the vhost back with every field, an update restores the old values of the
/// fields it changed, a create deletes the vhost, a toggle toggles it back.
#[utoipa::path(post, path = "/api/changelog/{id}/revert", tag = "changelog", operation_id = "revertChange",
    params(("id" = i64, Path, description = "The changelog entry's id")),
    responses(
        (status = 200, description = "Reverted and applied", body = Reverted),
        (status = 400, description = "The id is not an integer, or the restored vhost is no longer valid", body = ErrorBody),
        (status = 403, description = "Needs the editor role (a token: `write:vhosts`)", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody),
        (status = 409, description = "The vhost has changed since in the fields concerned, no longer exists, or its domain is taken: the message says which", body = ErrorBody),
        (status = 412, description = "The vhost changed while the revert was applied", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn revert(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<Reverted>> {
    me.need(Scope::WriteVhosts)?;
    let entry = changelog::by_id(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no changelog entry with id {id}")))?;
    let done = vhosts::revert(&state.applier, &state.db, &me.actor(), &entry).await?;
    tracing::info!(entry = id, domain = %done.vhost.domain, user = %me.user.email, "change reverted");
    Ok(Json(Reverted {
        vhost: done.vhost,
        deleted: done.deleted,
        revert_of: id,
    }))
}
