//! `/api/users`: account management, for admins only.

use axum::{
    extract::{OriginalUri, State},
    http::{HeaderMap, StatusCode},
    routing::get,
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    error::Result,
    extract::{AppJson, AppQuery, PathText},
    guard::CurrentUser,
    lists, AppState,
};
use crate::accounts::{
    self, check_email, check_name, password, tokens::Scope, AccountChange, AccountError, Created,
    NewUser, Role, Selection, SortBy, User,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list).post(create))
        .route(
            "/api/users/{id}",
            axum::routing::patch(update).delete(remove),
        )
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::Admin,
            Scope::Admin,
        )))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    search: Option<String>,
    role: Option<String>,
    disabled: Option<bool>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<i64>,
    limit: Option<i64>,
}

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
        role: q.role.as_deref().map(Role::named).transpose()?,
        disabled: q.disabled,
        sort: lists::sort(
            q.sort.as_deref(),
            SortBy::parse,
            "createdAt, updatedAt, name, email",
        )?,
        descending: lists::descending(q.order.as_deref())?,
        page: lists::rows(paged),
    };
    let (users, total) = accounts::select(&state.db, &sel).await?;
    Ok((lists::headers(total, paged, &uri), Json(users)))
}

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
    };
    match accounts::create(&state.db, new, role, true).await? {
        Created::Yes(user) => {
            tracing::info!(user = %user.email, role = user.role.as_str(), by = %me.user.email, "account created by an admin");
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
    me.need(Scope::Admin)?;
    let change = AccountChange {
        name: body.name,
        role: body.role,
        disabled: body.disabled,
    };
    let user = accounts::change(&state.db, &id, change).await?;
    tracing::info!(user = %user.email, role = user.role.as_str(), disabled = user.disabled, by = %me.user.email, "account changed");
    Ok(Json(user))
}

async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    PathText(id): PathText,
) -> Result<Json<Value>> {
    me.need(Scope::Admin)?;
    let user = accounts::remove(&state.db, &id).await?;
    tracing::info!(user = %user.email, by = %me.user.email, "account deleted");
    Ok(Json(json!({ "success": true })))
}
