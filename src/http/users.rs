//! `/api/users`: account management, for admins only.

use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    error::Result,
    extract::{AppJson, PathText},
    guard::CurrentUser,
    AppState,
};
use crate::accounts::{
    self, check_email, check_name, password, AccountChange, AccountError, Created, NewUser, Role,
    User,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list).post(create))
        .route(
            "/api/users/{id}",
            axum::routing::patch(update).delete(remove),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    name: String,
    email: String,
    password: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountChangeInput {
    name: Option<String>,
    role: Option<String>,
    disabled: Option<bool>,
}

async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Vec<User>>> {
    me.require(Role::Admin)?;
    Ok(Json(accounts::all(&state.db).await?))
}

async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<NewAccount>,
) -> Result<(StatusCode, Json<User>)> {
    me.require(Role::Admin)?;
    let role = Role::named(&body.role)?;
    let name = check_name(&body.name)?;
    let email = body.email.trim().to_lowercase();
    check_email(&email)?;
    password::check_length(&body.password)?;
    let hash = password::hash(body.password).await?;
    let new = NewUser {
        name,
        email: &email,
        password_hash: hash,
    };
    match accounts::create(&state.db, new, role, true).await? {
        Created::Yes(user) => {
            tracing::info!(user = %user.email, role = user.role.as_str(), by = %me.0.email, "account created by an admin");
            Ok((StatusCode::CREATED, Json(user)))
        }
        Created::EmailTaken | Created::SignupClosed => Err(AccountError::EmailTaken(email).into()),
    }
}

async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
    AppJson(body): AppJson<AccountChangeInput>,
) -> Result<Json<User>> {
    me.require(Role::Admin)?;
    let change = AccountChange {
        name: body.name,
        role: body.role,
        disabled: body.disabled,
    };
    let user = accounts::change(&state.db, &id, change).await?;
    tracing::info!(user = %user.email, role = user.role.as_str(), disabled = user.disabled, by = %me.0.email, "account changed");
    Ok(Json(user))
}

async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
) -> Result<Json<Value>> {
    me.require(Role::Admin)?;
    let user = accounts::remove(&state.db, &id).await?;
    tracing::info!(user = %user.email, by = %me.0.email, "account deleted");
    Ok(Json(json!({ "success": true })))
}
