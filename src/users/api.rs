//! `/api/users`: account management, for admins only.

use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Created, NewUser, Role, User};
use crate::{
    app::AppState,
    auth::{check_email, check_name, guard::CurrentUser, password, store::SqlSessionStore},
    db,
    error::{ApiError, AppJson, PathText, Result},
    timestamps,
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
struct AccountChange {
    name: Option<String>,
    role: Option<String>,
    disabled: Option<bool>,
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!("role must be admin, editor or viewer, got {s:?}"))
    })
}

async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Vec<User>>> {
    me.require(Role::Admin)?;
    Ok(Json(super::all(&state.db).await?))
}

async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<NewAccount>,
) -> Result<(StatusCode, Json<User>)> {
    me.require(Role::Admin)?;
    let role = role(&body.role)?;
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
    match super::create(&state.db, new, role, true).await? {
        Created::Yes(user) => {
            tracing::info!(user = %user.email, role = user.role.as_str(), by = %me.0.email, "account created by an admin");
            Ok((StatusCode::CREATED, Json(user)))
        }
        Created::EmailTaken | Created::SignupClosed => Err(ApiError::conflict(format!(
            "an account with email {email} already exists"
        ))),
    }
}

async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
    AppJson(body): AppJson<AccountChange>,
) -> Result<Json<User>> {
    me.require(Role::Admin)?;
    let mut tx = db::begin_write(&state.db).await?;
    let mut user = super::by_id(&state.db, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if let Some(name) = body.name {
        user.name = check_name(&name)?.to_string();
    }
    if let Some(r) = body.role {
        user.role = role(&r)?;
    }
    if let Some(d) = body.disabled {
        user.disabled = d;
    }
    let stays_admin = user.role == Role::Admin && !user.disabled;
    if !stays_admin && super::other_active_admins(&mut tx, &user.id).await? == 0 {
        return Err(last_admin());
    }
    user.updated_at = timestamps::now();
    super::update(&mut tx, &user).await?;
    if user.disabled {
        // A disabled account's sessions end now, not when they expire.
        SqlSessionStore::delete_for_user(&mut tx, &user.id).await?;
    }
    tx.commit().await?;
    tracing::info!(user = %user.email, role = user.role.as_str(), disabled = user.disabled, by = %me.0.email, "account changed");
    Ok(Json(user))
}

async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
) -> Result<Json<Value>> {
    me.require(Role::Admin)?;
    let mut tx = db::begin_write(&state.db).await?;
    let user = super::by_id(&state.db, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if super::other_active_admins(&mut tx, &user.id).await? == 0 {
        return Err(last_admin());
    }
    super::delete(&mut tx, &user.id).await?;
    tx.commit().await?;
    tracing::info!(user = %user.email, by = %me.0.email, "account deleted");
    Ok(Json(json!({ "success": true })))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no account with id {id}"))
}

fn last_admin() -> ApiError {
    ApiError::conflict("this is the last active admin: make another admin first")
}
