//! `/api/tokens`: API tokens for scripts and CI. Everyone signed in manages their own; admins
//! (or tokens with the `admin` scope) see and revoke everyone's. A token's secret is in the
//! creation's answer only.

use axum::{
    extract::State,
    http::StatusCode,
    routing::{delete, get},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    error::{ApiError, Result},
    extract::{AppJson, PathText},
    guard::CurrentUser,
    AppState,
};
use crate::accounts::tokens::{self, CreatedToken, Scope, Token};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tokens", get(list).post(create))
        .route("/api/tokens/{id}", delete(revoke))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewToken {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<i64>,
}

async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>)> {
    let scopes = tokens::parse_scopes(&body.scopes)?;
    // A token may only make tokens that can do no more than itself.
    if let Some(grant) = &me.token {
        if let Some(s) = scopes.iter().find(|s| !grant.scopes.contains(s)) {
            return Err(ApiError::missing_scope(*s));
        }
    }
    let created = tokens::create(
        &state.db,
        &me.user,
        &body.name,
        scopes,
        body.expires_in_days,
    )
    .await?;
    tracing::info!(token = %created.info.name, user = %me.user.email, "API token created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Whose tokens the caller manages: everyone's for admins, else their own.
fn owner(me: &CurrentUser) -> Option<&str> {
    if me.may(Scope::Admin) {
        None
    } else {
        Some(&me.user.id)
    }
}

async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Vec<Token>>> {
    Ok(Json(tokens::list(&state.db, owner(&me)).await?))
}

async fn revoke(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
) -> Result<Json<Value>> {
    let t = tokens::revoke(&state.db, &id, owner(&me)).await?;
    tracing::info!(token = %t.name, owner = %t.user_id, by = %me.user.email, "API token revoked");
    Ok(Json(json!({ "success": true })))
}
