//! Sign-up, sign-in and sessions, with Better Auth's routes and answers.

pub mod guard;
pub mod password;
pub mod ratelimit;
pub mod store;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_sessions::Session;

use crate::{
    app::AppState,
    error::{ApiError, AppJson, Result},
    timestamps,
    users::{self, NewUser, Role, User},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/sign-up/email", post(sign_up))
        .route("/api/auth/sign-in/email", post(sign_in))
        .route("/api/auth/sign-out", post(sign_out))
        .route("/api/auth/get-session", get(get_session))
}

#[derive(Deserialize)]
struct SignUp {
    name: String,
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
}

fn limit(state: &AppState, peer: SocketAddr) -> Result<()> {
    state
        .auth_limiter
        .check(peer.ip())
        .map_err(ApiError::rate_limited)
}

/// An account's display name, trimmed: 1 to 100 characters.
pub fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    Ok(name)
}

pub fn check_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_EMAIL",
            "invalid email address",
        ))
    }
}

async fn sign_up(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<SignUp>,
) -> Result<Json<Value>> {
    limit(&state, peer)?;
    if !users::any_exist(&state.db).await? && !guard::setup_host_trusted(&state, &headers) {
        return Err(ApiError::forbidden(
            "create the first account through http://localhost:PORT, the server's IP address, or PROXYHUB_PUBLIC_URL",
        ));
    }
    let name = check_name(&body.name)?;
    let email = body.email.trim().to_lowercase();
    check_email(&email)?;
    password::check_length(&body.password)?;
    if users::any_exist(&state.db).await? && !state.config.allow_signup {
        return Err(signup_closed());
    }
    let hash = password::hash(body.password).await?;
    let new = NewUser {
        name,
        email: &email,
        password_hash: hash,
    };
    let user = match users::create(&state.db, new, Role::Viewer, state.config.allow_signup).await? {
        users::Created::Yes(user) => user,
        users::Created::EmailTaken => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "USER_ALREADY_EXISTS",
                "an account with this email already exists",
            ))
        }
        users::Created::SignupClosed => return Err(signup_closed()),
    };
    tracing::info!(user = %user.email, role = user.role.as_str(), "account created");
    let token = start_session(&session, &user).await?;
    Ok(Json(json!({ "token": token, "user": user })))
}

fn signup_closed() -> ApiError {
    ApiError::forbidden(
        "sign-up is closed: ask an admin for an account (or set PROXYHUB_ALLOW_SIGNUP=true)",
    )
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    AppJson(body): AppJson<SignIn>,
) -> Result<Json<Value>> {
    limit(&state, peer)?;
    let user = users::by_email(&state.db, body.email.trim()).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let valid = password::verify(body.password, hash).await?;
    let user = match user {
        Some(u) if valid && !u.disabled => u,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_EMAIL_OR_PASSWORD",
                "invalid email or password",
            ))
        }
    };
    let token = start_session(&session, &user).await?;
    Ok(Json(
        json!({ "redirect": false, "token": token, "user": user }),
    ))
}

/// Binds the session to the account under a new id (no session fixation) and returns its token.
async fn start_session(session: &Session, user: &User) -> Result<String> {
    session.cycle_id().await.map_err(ApiError::internal)?;
    session.clear().await;
    session
        .insert(store::USER_KEY, &user.id)
        .await
        .map_err(ApiError::internal)?;
    session
        .insert("sid", uuid::Uuid::new_v4().simple().to_string())
        .await
        .map_err(ApiError::internal)?;
    guard::mark_refreshed(session).await?;
    session.save().await.map_err(ApiError::internal)?;
    let id = session
        .id()
        .ok_or_else(|| ApiError::internal("session has no id after save"))?;
    Ok(id.to_string())
}

async fn sign_out(session: Session) -> Result<Json<Value>> {
    session.flush().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "success": true })))
}

async fn get_session(State(state): State<AppState>, session: Session) -> Result<Json<Value>> {
    let Some(user) = guard::session_user(&state, &session).await? else {
        return Ok(Json(Value::Null));
    };
    let sid: Option<String> = session.get("sid").await.map_err(ApiError::internal)?;
    Ok(Json(json!({
        "session": {
            "id": sid,
            "userId": user.id,
            "expiresAt": timestamps::iso(session.expiry_date()),
        },
        "user": user,
    })))
}
