//! `/api/tokens`: API tokens for scripts and CI. Everyone signed in manages their own; admins
//! (or tokens with the `admin` scope) see and revoke everyone's. A token's secret is in the
//! creation's answer only.

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, PathText},
    guard::CurrentUser,
    openapi::Success,
    AppState,
};
use crate::accounts::tokens::{self, CreatedToken, Scope, Token};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// A token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewToken {
    /// What uses it: 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^\\s*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "deploy from CI"
    )]
    name: String,
    /// At least one; none beyond your role (or, with a token, beyond that token's scopes).
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    scopes: Vec<String>,
    /// Days until it stops working, 1 to 3650; absent or `null`: never.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "whole_number")]
    expires_in_days: Option<i64>,
}

/// A whole number, written `30` or `30.0` (JSON does not tell them apart).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if n.fract() != 0.0 || !(-9.0e15..=9.0e15).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "expected a whole number, got {n}"
        )));
    }
    Ok(Some(n as i64))
}

/// Create an API token
///
/// The answer is the only time the secret is shown; proxyhub keeps only a hash of it.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", operation_id = "createToken",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created: `token` is the secret, shown this once", body = CreatedToken),
        (status = 400, description = "No scope, an unknown scope, a bad name or expiry, or the body is not JSON", body = ErrorBody),
        (status = 403, description = "A scope beyond your role (`FORBIDDEN`), or beyond the token this request was made with (`MISSING_SCOPE`)", body = ErrorBody),
    ))]
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
    // ... and expire no later than it.
    let not_after = me.token.as_ref().and_then(|g| g.expires_at);
    let created = tokens::create(
        &state.db,
        &me.user,
        &body.name,
        scopes,
        body.expires_in_days,
        not_after,
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

/// List API tokens
///
/// Your own tokens, newest first; an admin's (or a token with the `admin` scope) lists
/// everyone's. Never their secrets.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens", operation_id = "listTokens",
    responses((status = 200, description = "The tokens", body = [Token])))]
async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Vec<Token>>> {
    Ok(Json(tokens::list(&state.db, owner(&me)).await?))
}

/// Revoke an API token
///
/// Refused from this moment on.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens", operation_id = "revokeToken",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked", body = Success),
        (status = 404, description = "No such token of yours (admins: no such token)", body = ErrorBody),
    ))]
async fn revoke(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
) -> Result<Json<Success>> {
    // A token revokes itself, or tokens that can do no more than it.
    let within = |t: &Token| match &me.token {
        None => true,
        Some(g) => t.id == g.id || t.scopes.iter().all(|s| g.scopes.contains(s)),
    };
    let t = tokens::revoke(&state.db, &state.auth, &id, owner(&me), within).await?;
    tracing::info!(token = %t.name, owner = %t.user_id, by = %me.user.email, "API token revoked");
    Ok(Json(Success::default()))
}
