//! `/api/users`: account management, for admins only.

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ErrorBody, Result},
    extract::{AppJson, PathText},
    guard::CurrentUser,
    openapi::Success,
    AppState,
};
use crate::accounts::{
    self, check_email, check_name, password, AccountChange, AccountError, Created, NewUser, Role,
    User,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
}

/// An account an admin creates.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, example = "Grace Hopper")]
    name: String,
    #[schema(max_length = 254, example = "grace@example.com")]
    email: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(value_type = Role)]
    role: String,
}

/// What an admin may change of an account; fields left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AccountChange)]
struct AccountChangeInput {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    /// A disabled account cannot sign in; disabling it ends its sessions.
    disabled: Option<bool>,
}

/// List the accounts
#[utoipa::path(get, path = "/api/users", tag = "users", operation_id = "listUsers",
    responses(
        (status = 200, description = "Every account", body = [User]),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Vec<User>>> {
    me.require(Role::Admin)?;
    Ok(Json(accounts::all(&state.db).await?))
}

/// Create an account
#[utoipa::path(post, path = "/api/users", tag = "users", operation_id = "createUser",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "A field is invalid (`INVALID_EMAIL`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG`, `BAD_REQUEST`), or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
    ))]
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

/// Change an account
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", operation_id = "updateUser",
    params(("id" = String, Path, description = "The account's id")),
    request_body = AccountChangeInput,
    responses(
        (status = 200, description = "Changed", body = User),
        (status = 400, description = "A field is invalid, or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
        (status = 404, description = "No account with this id", body = ErrorBody),
        (status = 409, description = "It is the last active admin", body = ErrorBody),
    ))]
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

/// Delete an account
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", operation_id = "deleteUser",
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "Deleted, with its sessions", body = Success),
        (status = 400, description = "The id is not text", body = ErrorBody),
        (status = 403, description = "Needs the admin role", body = ErrorBody),
        (status = 404, description = "No account with this id", body = ErrorBody),
        (status = 409, description = "It is the last active admin", body = ErrorBody),
    ))]
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
