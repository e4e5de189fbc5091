//! `/api/auth/*`: sign-up, sign-in, sign-out and the session, with Better Auth's routes and
//! answers. (Sign-in and sign-up attempts are limited per client address in `guard.rs`.)

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use tower_sessions::Session;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::AppJson,
    guard,
    openapi::Success,
    AppState,
};
use crate::{
    accounts::{self, check_email, check_name, password, sessions::USER_KEY, NewUser, Role, User},
    timestamps,
};

mod bodies;

use bodies::{SessionDetails, SessionInfo, SignIn, SignUp, SignedIn, SignedUp};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(get_session))
}

/// Create an account
///
/// Signs the new account in (sets the session cookie). Attempts are limited per client
/// address, together with sign-ins.
#[utoipa::path(post, path = "/api/auth/sign-up/email", tag = "auth", operation_id = "signUp",
    request_body = SignUp,
    responses(
        (status = 200, description = "Created and signed in; the session cookie is set", body = SignedUp,
            headers(("Set-Cookie" = String, description = "The session cookie, `proxyhub.session_token`"))),
        (status = 400, description = "A field is invalid (`INVALID_EMAIL`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG`, `BAD_REQUEST`), or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Sign-up is closed, or the first account is being created through a host name other than localhost, an IP address or the public URL", body = ErrorBody),
        (status = 422, description = "`USER_ALREADY_EXISTS`: an account with this email exists", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<SignUp>,
) -> Result<Json<SignedUp>> {
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
    Ok(Json(SignedUp { token, user }))
}

fn signup_closed() -> ApiError {
    ApiError::forbidden(
        "sign-up is closed: ask an admin for an account (or set PROXYHUB_ALLOW_SIGNUP=true)",
    )
}

/// Sign in with email and password
///
/// Starts a session (sets the session cookie). Attempts are limited per client address.
#[utoipa::path(post, path = "/api/auth/sign-in/email", tag = "auth", operation_id = "signIn",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SignedIn,
            headers(("Set-Cookie" = String, description = "The session cookie, `proxyhub.session_token`"))),
        (status = 400, description = "The body is not JSON or lacks a field", body = ErrorBody),
        (status = 401, description = "`INVALID_EMAIL_OR_PASSWORD`, or the account is disabled", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    AppJson(body): AppJson<SignIn>,
) -> Result<Json<SignedIn>> {
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
    Ok(Json(SignedIn {
        redirect: false,
        token,
        user,
    }))
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

/// Sign out
///
/// Ends the session, if any.
#[utoipa::path(post, path = "/api/auth/sign-out", tag = "auth", operation_id = "signOut",
    responses((status = 200, description = "Signed out (also when no one was signed in)", body = Success)))]
async fn sign_out(session: Session) -> Result<Json<Success>> {
    session.flush().await.map_err(ApiError::internal)?;
    Ok(Json(Success::default()))
}

/// The current session
///
/// The session and its account, or `null` when no one is signed in (no 401).
#[utoipa::path(get, path = "/api/auth/get-session", tag = "auth", operation_id = "getSession",
    responses((status = 200, description = "The session, or `null` when not signed in", body = Option<SessionInfo>)))]
async fn get_session(
    State(state): State<AppState>,
    caller: Option<axum::Extension<guard::CurrentUser>>,
    session: Session,
) -> Result<Json<Option<SessionInfo>>> {
    // With an API token: the token stands for the session.
    if let Some(axum::Extension(me)) = caller {
        if let Some(grant) = &me.token {
            let expires = grant
                .expires_at
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
            return Ok(Json(Some(SessionInfo {
                session: SessionDetails {
                    id: Some(grant.id.clone()),
                    user_id: me.user.id.clone(),
                    expires_at: expires.map(timestamps::iso).unwrap_or_default(),
                },
                user: me.user.clone(),
            })));
        }
    }
    let Some(user) = guard::session_user(&state, &session).await? else {
        return Ok(Json(None));
    };
    let sid: Option<String> = session.get("sid").await.map_err(ApiError::internal)?;
    Ok(Json(Some(SessionInfo {
        session: SessionDetails {
            id: sid,
            user_id: user.id.clone(),
            expires_at: timestamps::iso(session.expiry_date()),
        },
        user,
    })))
}
