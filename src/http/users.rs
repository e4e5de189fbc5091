//! `/api/users`: account management, for admins only.

use axum::{
    extract::{OriginalUri, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, AppQuery, PathText},
    guard::CurrentUser,
    lists,
    openapi::Success,
    AppState,
};
use crate::accounts::{
    self, check_email, check_name, password, tokens::Scope, AccountChange, AccountError, Created,
    NewUser, Role, Selection, SortBy, User,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::Admin,
            Scope::Admin,
        )))
}

/// An account an admin creates.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    /// 1 to 100 characters once trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^\\s*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "Grace Hopper"
    )]
    name: String,
    #[schema(
        max_length = 254,
        pattern = "^[^\\s@\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s.\\u0000-\\u001f\\u007f-\\u009f][^\\s\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s\\u0000-\\u001f\\u007f-\\u009f]*[^\\s.\\u0000-\\u001f\\u007f-\\u009f]$",
        example = "grace@example.com"
    )]
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
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^\\s*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: Option<String>,
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    /// A disabled account cannot sign in; disabling it ends its sessions.
    disabled: Option<bool>,
}

/// Which accounts to list, in which order, which page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Part of the name or email, any case.
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    search: Option<String>,
    /// Only accounts with this role.
    #[param(value_type = Option<Role>)]
    role: Option<String>,
    /// Only disabled (`true`) or active (`false`) accounts.
    #[param(value_type = Option<bool>)]
    disabled: Option<String>,
    /// Only active (`true`) or disabled (`false`) accounts (the inverse of `disabled`).
    #[param(value_type = Option<bool>)]
    enabled: Option<String>,
    /// What to sort by (default `createdAt`).
    #[param(pattern = "^(createdAt|updatedAt|name|email)?$")]
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(pattern = "^(asc|desc)?$")]
    order: Option<String>,
    /// The page, from 1 (pages of `limit`).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    page: Option<String>,
    /// Accounts a page, 1 to 500 (default 100 once `page` is given; else all).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// List the accounts
///
/// Oldest first unless sorted otherwise; filtered, searched and paged on request.
#[utoipa::path(get, path = "/api/users", tag = "users", operation_id = "listUsers",
    params(ListQuery),
    responses(
        (status = 200, description = "The accounts", body = [User], headers(
            ("X-Total-Count" = i64, description = "How many accounts the filters keep, in all"),
            ("Link" = String, description = "With `page` or `limit`: the next and previous pages (`rel=\"next\"`, `rel=\"prev\"`)"),
        )),
        (status = 400, description = "An unknown parameter, sort field or a bad value", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    OriginalUri(uri): OriginalUri,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<User>>)> {
    me.need(Scope::Admin)?;
    let paged = lists::page(q.page, q.limit)?;
    let sel = Selection {
        search: lists::search(q.search)?,
        role: q
            .role
            .filter(|r| !r.trim().is_empty())
            .map(|r| Role::named(&r.to_ascii_lowercase()))
            .transpose()?,
        disabled: match (
            lists::flag("disabled", q.disabled)?,
            lists::flag("enabled", q.enabled)?,
        ) {
            (Some(d), Some(e)) if d == e => {
                return Err(ApiError::bad_request(
                    "enabled and disabled contradict each other",
                ))
            }
            (d, e) => d.or(e.map(|e| !e)),
        },
        sort: lists::sort(q.sort, SortBy::parse, "createdAt, updatedAt, name, email")?,
        descending: lists::descending(q.order)?,
        page: lists::rows(paged),
    };
    let (users, total) = accounts::select(&state.db, &sel).await?;
    Ok((lists::headers(total, paged, &uri), Json(users)))
}

/// Create an account
#[utoipa::path(post, path = "/api/users", tag = "users", operation_id = "createUser",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "A field is invalid (`INVALID_EMAIL`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG`, `BAD_REQUEST`), or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<NewAccount>,
) -> Result<(StatusCode, Json<User>)> {
    me.need(Scope::Admin)?;
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
        image: None,
        email_verified: false,
    };
    match accounts::create(&state.db, new, role, true).await? {
        Created::Yes(user) => {
            tracing::info!(user = %user.email, role = user.role.as_str(), by = %me.user.email, "account created by an admin");
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
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
        (status = 404, description = "No account with this id", body = ErrorBody),
        (status = 409, description = "It is the last active admin", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
    AppJson(body): AppJson<AccountChangeInput>,
) -> Result<Json<User>> {
    me.need(Scope::Admin)?;
    let change = AccountChange {
        name: body.name,
        role: body.role,
        disabled: body.disabled,
    };
    let user = accounts::change(&state.db, &state.auth, &id, change).await?;
    tracing::info!(user = %user.email, role = user.role.as_str(), disabled = user.disabled, by = %me.user.email, "account changed");
    Ok(Json(user))
}

/// Delete an account
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", operation_id = "deleteUser",
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "Deleted, with its sessions", body = Success),
        (status = 400, description = "The id is not text", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
        (status = 404, description = "No account with this id", body = ErrorBody),
        (status = 409, description = "It is the last active admin", body = ErrorBody),
    ))]
async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
) -> Result<Json<Value>> {
    me.need(Scope::Admin)?;
    let user = accounts::remove(&state.db, &state.auth, &id).await?;
    tracing::info!(user = %user.email, by = %me.user.email, "account deleted");
    Ok(Json(json!({ "success": true })))
}
