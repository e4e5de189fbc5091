//! `/api/auth/*`: sign-up, sign-in, sign-out and the session, with Better Auth's routes and
//! answers. (Sign-in and sign-up attempts are limited per client address in `guard.rs`.)

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_sessions::Session;

use super::{
    error::{ApiError, Result},
    extract::AppJson,
    guard, AppState,
};
use crate::{
    accounts::{self, check_email, check_name, password, sessions::USER_KEY, NewUser, Role, User},
    timestamps,
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

async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<SignUp>,
) -> Result<Json<Value>> {
    if !accounts::any_exist(&state.db).await? && !guard::setup_host_trusted(&state, &headers) {
        return Err(ApiError::forbidden(
            "create the first account through http://localhost:PORT, the server's IP address, or PROXYHUB_PUBLIC_URL",
        ));
    }
    let name = check_name(&body.name)?;
    let email = body.email.trim().to_lowercase();
    check_email(&email)?;
    password::check_length(&body.password)?;
    if accounts::any_exist(&state.db).await? && !state.config.allow_signup {
        return Err(signup_closed());
    }
    let hash = password::hash(body.password).await?;
    let new = NewUser {
        name,
        email: &email,
        password_hash: hash,
    };
    let user =
        match accounts::create(&state.db, new, Role::Viewer, state.config.allow_signup).await? {
            accounts::Created::Yes(user) => user,
            accounts::Created::EmailTaken => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "USER_ALREADY_EXISTS",
                    "an account with this email already exists",
                ))
            }
            accounts::Created::SignupClosed => return Err(signup_closed()),
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
    session: Session,
    AppJson(body): AppJson<SignIn>,
) -> Result<Json<Value>> {
    let user = accounts::by_email(&state.db, body.email.trim()).await?;
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
        .insert(USER_KEY, &user.id)
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
