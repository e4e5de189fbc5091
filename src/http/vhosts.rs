//! `/api/vhosts`: list, create, update, delete and toggle virtual hosts (editors and admins
//! change them; everyone signed in reads them).

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ErrorBody, Result},
    extract::{AppJson, PathId},
    guard::CurrentUser,
    openapi::Success,
    AppState,
};
use crate::{
    accounts::Role,
    vhosts::{self, Changes, Vhost},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
        .routes(routes!(toggle))
}

/// Fields a client may set. `config` and `upstream` tell "absent" from `null` (clear it).
/// Creating needs `domain` and a `config` snippet or an `upstream` (or both); updating
/// changes only the fields given. An empty `config` or `upstream` is none.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VhostInput)]
struct VhostInput {
    /// A host name (`app.example.com`, `*.example.com`), at most 253 characters.
    #[schema(example = "app.example.com")]
    domain: Option<String>,
    /// Proxy configuration placed inside the site (Caddyfile directives, or nginx
    /// directives for nginx), at most 64 KiB; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    config: Option<Option<String>>,
    /// Where requests go (`127.0.0.1:3000`, `http://backend:8080`); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(example = "127.0.0.1:3000")]
    upstream: Option<Option<String>>,
    /// Whether the proxy serves it (default true).
    enabled: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl From<VhostInput> for Changes {
    fn from(i: VhostInput) -> Self {
        Changes {
            domain: i.domain,
            config: i.config,
            upstream: i.upstream,
            enabled: i.enabled,
        }
    }
}

/// List the vhosts
#[utoipa::path(get, path = "/api/vhosts", tag = "vhosts", operation_id = "listVhosts",
    responses((status = 200, description = "Every vhost, by domain", body = [Vhost])))]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<Vhost>>> {
    Ok(Json(vhosts::list(&state.db).await?))
}

/// Create a vhost
///
/// Stored and pushed to the proxy in one step: if the proxy refuses the configuration,
/// nothing is stored.
#[utoipa::path(post, path = "/api/vhosts", tag = "vhosts", operation_id = "createVhost",
    request_body = VhostInput,
    responses(
        (status = 201, description = "Created and applied", body = Vhost),
        (status = 400, description = "A field is invalid, or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Needs the editor role", body = ErrorBody),
        (status = 409, description = "A vhost for this domain exists", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(input): AppJson<VhostInput>,
) -> Result<(StatusCode, Json<Vhost>)> {
    let who = user.require(Role::Editor)?;
    let v = vhosts::create(&state.applier, who, input.into()).await?;
    tracing::info!(domain = %v.domain, user = %who.email, "vhost created");
    Ok((StatusCode::CREATED, Json(v)))
}

/// Update a vhost
#[utoipa::path(put, path = "/api/vhosts/{id}", tag = "vhosts", operation_id = "updateVhost",
    params(("id" = i64, Path, description = "The vhost's id")),
    request_body = VhostInput,
    responses(
        (status = 200, description = "Updated and applied", body = Vhost),
        (status = 400, description = "A field or the id is invalid, or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Needs the editor role", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
        (status = 409, description = "Another vhost has this domain, or the vhost changed meanwhile", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(input): AppJson<VhostInput>,
) -> Result<Json<Vhost>> {
    let who = user.require(Role::Editor)?;
    let v = vhosts::update(&state.applier, &state.db, who, id, input.into()).await?;
    tracing::info!(domain = %v.domain, user = %who.email, "vhost updated");
    Ok(Json(v))
}

/// Delete a vhost
#[utoipa::path(delete, path = "/api/vhosts/{id}", tag = "vhosts", operation_id = "deleteVhost",
    params(("id" = i64, Path, description = "The vhost's id")),
    responses(
        (status = 200, description = "Deleted, and the proxy no longer serves it", body = Success),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "Needs the editor role", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<Value>> {
    let who = user.require(Role::Editor)?;
    let v = vhosts::remove(&state.applier, who, id).await?;
    tracing::info!(domain = %v.domain, user = %who.email, "vhost deleted");
    Ok(Json(json!({ "success": true })))
}

/// Enable or disable a vhost
#[utoipa::path(patch, path = "/api/vhosts/{id}/toggle", tag = "vhosts", operation_id = "toggleVhost",
    params(("id" = i64, Path, description = "The vhost's id")),
    responses(
        (status = 200, description = "Toggled and applied", body = Vhost),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "Needs the editor role", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
        (status = 409, description = "The vhost changed meanwhile", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn toggle(
    State(state): State<AppState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<Vhost>> {
    let who = user.require(Role::Editor)?;
    let v = vhosts::toggle(&state.applier, &state.db, who, id).await?;
    tracing::info!(domain = %v.domain, enabled = v.enabled, user = %who.email, "vhost toggled");
    Ok(Json(v))
}
