//! `/api/vhosts`: list, create, update, delete and toggle virtual hosts (editors and admins
//! change them; everyone signed in reads them).

use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, patch, put},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    error::Result,
    extract::{AppJson, PathId},
    guard::CurrentUser,
    AppState,
};
use crate::{
    accounts::Role,
    vhosts::{self, Changes, Vhost},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/vhosts", get(list).post(create))
        .route("/api/vhosts/{id}", put(update).delete(remove))
        .route("/api/vhosts/{id}/toggle", patch(toggle))
}

/// Fields a client may set. `config` and `upstream` tell "absent" from `null` (clear it).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VhostInput {
    domain: Option<String>,
    #[serde(default, deserialize_with = "present")]
    config: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    upstream: Option<Option<String>>,
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

async fn list(State(state): State<AppState>) -> Result<Json<Vec<Vhost>>> {
    Ok(Json(vhosts::list(&state.db).await?))
}

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
