//! `/api/auth/*`: sign-up, sign-in, sign-out and the session, with Better Auth's routes and
//! answers. (Sign-in and sign-up attempts are limited per client address in `guard.rs`.)

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
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
    accounts::{self, check_email, check_name, password, NewUser, Role},
    timestamps,
};

mod bodies;
mod sessions;
mod social;
mod start;
mod two_factor;

use bodies::{SessionDetails, SessionInfo, SignIn, SignUp, SignedIn, SignedUp};
use start::{check_password, cookie, same_site_url, start_session, Meta};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(get_session))
        .merge(sessions::router())
        .merge(two_factor::router())
        .merge(social::router())
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
        (status = 400, description = "A field is invalid (`INVALID_EMAIL`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG`, `BAD_REQUEST`), the body is not JSON, or `EMAIL_PASSWORD_SIGN_UP_DISABLED`: sign-up is closed", body = ErrorBody),
        (status = 403, description = "The first account is being created through a host name other than localhost, an IP address or the public URL", body = ErrorBody),
        (status = 422, description = "`USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`: an account with this email exists", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
    let image = accounts::check_image(body.image)?;
    if accounts::any_exist(&state.db).await? && !state.config.allow_signup {
        return Err(signup_closed());
    }
    let hash = password::hash(body.password).await?;
    let new = NewUser {
        name,
        email: &email,
        password_hash: hash,
        image,
        email_verified: false,
    };
    let user =
        match accounts::create(&state.db, new, Role::Viewer, state.config.allow_signup).await? {
            accounts::Created::Yes(user) => user,
            accounts::Created::EmailTaken => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
                    "User already exists. Use another email.",
                ))
            }
            accounts::Created::SignupClosed => return Err(signup_closed()),
        };
    tracing::info!(user = %user.email, role = user.role.as_str(), "account created");
    let meta = Meta::of(&state, peer, &headers, body.remember_me);
    let token = start_session(&state, &session, &user, meta).await?;
    Ok(Json(SignedUp { token, user }))
}

/// Better Auth's answer when email sign-up is off.
fn signup_closed() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "EMAIL_PASSWORD_SIGN_UP_DISABLED",
        "Email and password sign up is not enabled: ask an admin for an account (or set PROXYHUB_ALLOW_SIGNUP=true)",
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
        (status = 400, description = "The body is not JSON or lacks a field, or `INVALID_EMAIL`: the email is malformed", body = ErrorBody),
        (status = 403, description = "`INVALID_CALLBACK_URL`: the `callbackURL` is another site's", body = ErrorBody),
        (status = 401, description = "`INVALID_EMAIL_OR_PASSWORD`, or the account is disabled", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<SignIn>,
) -> Result<Response> {
    let url = body
        .callback_url
        .as_deref()
        .map(|u| same_site_url(&state, &headers, u))
        .transpose()?;
    // As Better Auth: a malformed email is refused before any lookup.
    check_email(&body.email.trim().to_lowercase())?;
    let user = accounts::by_email(&state.db, body.email.trim()).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let valid = password::verify(body.password, hash).await?;
    let user = match user {
        Some(u) if valid && !u.disabled => u,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_EMAIL_OR_PASSWORD",
                "Invalid email or password",
            ))
        }
    };
    let mut trusted = None;
    if user.two_factor_enabled {
        // A browser the account trusts skips the code (and its trust is renewed).
        trusted = two_factor::trusted_device(&state, &headers, &user).await?;
        if trusted.is_none() {
            // The second factor first: no session yet, only a short-lived pending cookie.
            let pending =
                accounts::two_factor::challenge(&state.db, &user, body.remember_me.unwrap_or(true))
                    .await?;
            return Ok(two_factor::pending(&state, &pending));
        }
    }
    let meta = Meta::of(&state, peer, &headers, body.remember_me);
    let token = start_session(&state, &session, &user, meta).await?;
    // As Better Auth: the callback also as `Location` (with the 200).
    let location = url.as_deref().and_then(|u| HeaderValue::from_str(u).ok());
    let mut resp = Json(SignedIn {
        redirect: url.is_some(),
        url,
        token,
        user,
    })
    .into_response();
    if let Some(l) = location {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    if let Some(c) = trusted {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
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
) -> Result<Response> {
    let no_store = |info: Option<SessionInfo>| {
        (
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::PRAGMA, HeaderValue::from_static("no-cache")),
            ],
            Json(info),
        )
            .into_response()
    };
    // With an API token: the token stands for the session.
    if let Some(axum::Extension(me)) = caller {
        if let Some(grant) = &me.token {
            let expires = grant
                .expires_at
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
            return Ok(no_store(Some(SessionInfo {
                session: SessionDetails {
                    id: Some(grant.id.clone()),
                    user_id: me.user.id.clone(),
                    expires_at: expires.map(timestamps::iso).unwrap_or_default(),
                    ..Default::default()
                },
                user: me.user.clone(),
            })));
        }
    }
    let Some(user) = guard::session_user(&state, &session).await? else {
        return Ok(no_store(None));
    };
    let record = session.id().map(|id| id.to_string());
    let mut data = serde_json::Map::new();
    for key in [
        "sid",
        guard::STARTED_KEY,
        guard::REFRESHED_KEY,
        guard::UNTIL_KEY,
        "ip",
        "ua",
    ] {
        if let Some(v) = session
            .get::<serde_json::Value>(key)
            .await
            .map_err(ApiError::internal)?
        {
            data.insert(key.to_string(), v);
        }
    }
    let expiry = session.expiry_date().unix_timestamp();
    Ok(no_store(Some(SessionInfo {
        session: sessions::details(record, &serde_json::Value::Object(data), expiry, &user.id),
        user,
    })))
}
