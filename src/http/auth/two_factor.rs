//! Better Auth's twoFactor routes (`/api/auth/two-factor/*`), for authenticator apps: set up
//! with the password, turned on by a first valid code, turned off with the password. At
//! sign-in, an account with two-factor gets `{twoFactorRedirect: true}` and only a pending
//! cookie (`proxyhub.two_factor`, 10 minutes, 5 attempts) until `verify-totp` or
//! `verify-backup-code` starts its session. Code attempts share sign-in's stricter limit.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    super::{
        error::{ApiError, ErrorBody, Result},
        extract::AppJson,
        guard::CurrentUser,
        AppState,
    },
    check_password, start_session, Meta,
};
use crate::accounts::{
    self, trusted_devices,
    two_factor::{self, TwoFactorError, CHALLENGE_SECS},
    User,
};

pub const PENDING_COOKIE: &str = "proxyhub.two_factor";
/// A browser trusted after a second factor (`trustDevice`), spared the code for 30 days.
pub const TRUST_COOKIE: &str = "proxyhub.trust_device";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enable))
        .routes(routes!(get_totp_uri))
        .routes(routes!(verify_totp))
        .routes(routes!(verify_backup_code))
        .routes(routes!(generate_backup_codes))
        .routes(routes!(disable))
}

impl From<TwoFactorError> for ApiError {
    fn from(e: TwoFactorError) -> Self {
        match e {
            TwoFactorError::AlreadyEnabled => ApiError::new(
                StatusCode::BAD_REQUEST,
                "TOTP_ALREADY_ENABLED",
                "TOTP is already enabled",
            ),
            TwoFactorError::NotEnabled => ApiError::new(
                StatusCode::BAD_REQUEST,
                "TOTP_NOT_ENABLED",
                "TOTP not enabled",
            ),
            TwoFactorError::Totp(m) => ApiError::internal(m),
            TwoFactorError::Store(e) => e.into(),
        }
    }
}

/// The answer to a sign-in that waits for its second factor, with the pending cookie.
pub(super) fn pending(state: &AppState, value: &str) -> Response {
    let mut resp =
        Json(json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp"] })).into_response();
    if let Some(v) = pending_cookie_header(state, value) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The `Set-Cookie` of a sign-in waiting for its second factor.
pub(super) fn pending_cookie_header(state: &AppState, value: &str) -> Option<HeaderValue> {
    super::cookie(state, PENDING_COOKIE, value, "/", CHALLENGE_SECS)
}

/// The `Set-Cookie` of a trusted browser (`max_age` 0: forgotten).
fn trust_cookie(state: &AppState, value: &str, max_age: i64) -> Option<HeaderValue> {
    super::cookie(state, TRUST_COOKIE, value, "/", max_age)
}

/// For a sign-in to an account with two-factor: whether this browser is one the account
/// trusts. If so, the trust is renewed under a new secret, whose cookie is returned.
pub(super) async fn trusted_device(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
) -> Result<Option<HeaderValue>> {
    let Some(secret) = super::super::extract::cookie(headers, TRUST_COOKIE) else {
        return Ok(None);
    };
    if !trusted_devices::redeem(&state.db, &user.id, &secret).await? {
        return Ok(None);
    }
    let renewed = trusted_devices::trust(&state.db, &user.id).await?;
    Ok(trust_cookie(state, &renewed, trusted_devices::TRUST_SECS))
}

fn expire_pending(state: &AppState, resp: &mut Response) {
    if let Some(v) = super::cookie(state, PENDING_COOKIE, "", "/", 0) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize, ToSchema)]
struct WithPassword {
    password: String,
    /// The name the authenticator app shows (default `proxyhub`).
    #[allow(dead_code)]
    issuer: Option<String>,
}

/// The start of a set-up.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Enabled {
    /// Always `totp`.
    method: &'static str,
    /// `otpauth://totp/...`: for the authenticator app (as a QR code, or typed in).
    #[serde(rename = "totpURI")]
    totp_uri: String,
    /// Ten one-time codes for when the app is lost, shown once.
    backup_codes: Vec<String>,
    /// The URI as a QR code for the app to scan (an SVG `data:` URL, made by proxyhub).
    #[serde(rename = "totpQR")]
    totp_qr: String,
}

/// A QR code of `text`, as an SVG `data:` URL an `<img>` shows.
fn qr(text: &str) -> Result<String> {
    use base64::Engine as _;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// Set up two-factor
///
/// Starts the set-up: the authenticator URI and backup codes. Two-factor is on once a first
/// code is verified (`verify-totp`).
#[utoipa::path(post, path = "/api/auth/two-factor/enable", tag = "auth", operation_id = "enableTwoFactor",
    request_body = WithPassword,
    responses(
        (status = 200, description = "Set up; verify a code to turn it on", body = Enabled),
        (status = 400, description = "`INVALID_PASSWORD`, or `TOTP_ALREADY_ENABLED`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn enable(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<WithPassword>,
) -> Result<Json<Enabled>> {
    check_password(&me.user, body.password).await?;
    let setup = two_factor::enable(&state.db, &me.user).await?;
    Ok(Json(Enabled {
        method: "totp",
        totp_qr: qr(&setup.totp_uri)?,
        totp_uri: setup.totp_uri,
        backup_codes: setup.backup_codes,
    }))
}

/// The authenticator URI again
#[utoipa::path(post, path = "/api/auth/two-factor/get-totp-uri", tag = "auth", operation_id = "getTotpUri",
    request_body = WithPassword,
    responses(
        (status = 200, description = "`{totpURI}`", body = Object),
        (status = 400, description = "`INVALID_PASSWORD`, or `TOTP_NOT_ENABLED`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn get_totp_uri(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<WithPassword>,
) -> Result<Json<serde_json::Value>> {
    check_password(&me.user, body.password).await?;
    Ok(Json(
        json!({ "totpURI": two_factor::uri(&state.db, &me.user).await? }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Code {
    code: String,
    /// At sign-in: trust this browser for 30 days (no code asked of it meanwhile; each
    /// sign-in renews it).
    trust_device: Option<bool>,
}

/// The account a code is for: the signed-in one (finishing a set-up), or the one whose
/// sign-in waits (its pending cookie; an attempt is counted).
enum Who {
    Signed(CurrentUser),
    Pending(User, bool, String),
}

async fn who(state: &AppState, caller: Option<CurrentUser>, headers: &HeaderMap) -> Result<Who> {
    if let Some(me) = caller {
        return Ok(Who::Signed(me));
    }
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_TWO_FACTOR_COOKIE",
            "Invalid two factor cookie",
        )
    };
    let value = super::super::extract::cookie(headers, PENDING_COOKIE).ok_or_else(invalid)?;
    let challenge = two_factor::attempt(&state.db, &value)
        .await?
        .ok_or_else(invalid)?;
    let user = accounts::by_id(&state.db, &challenge.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid)?;
    Ok(Who::Pending(user, challenge.remember, value))
}

impl Who {
    fn user(&self) -> &User {
        match self {
            Who::Signed(me) => &me.user,
            Who::Pending(user, ..) => user,
        }
    }
}

/// Signed in with the second factor: the session starts, the pending cookie goes.
async fn finish(
    state: &AppState,
    session: &Session,
    peer: SocketAddr,
    headers: &HeaderMap,
    who: Who,
    trust: bool,
) -> Result<Response> {
    match who {
        Who::Signed(me) => {
            let token = session.id().map(|i| i.to_string());
            let user = accounts::by_id(&state.db, &me.user.id)
                .await?
                .unwrap_or(me.user);
            Ok(Json(json!({ "token": token, "user": user })).into_response())
        }
        Who::Pending(user, remember, value) => {
            two_factor::close(&state.db, &value).await?;
            let meta = Meta::of(state, peer, headers, Some(remember));
            let token = start_session(state, session, &user, meta).await?;
            let mut resp = Json(json!({ "token": token, "user": user })).into_response();
            expire_pending(state, &mut resp);
            if trust {
                let secret = trusted_devices::trust(&state.db, &user.id).await?;
                if let Some(v) = trust_cookie(state, &secret, trusted_devices::TRUST_SECS) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            Ok(resp)
        }
    }
}

/// Verify a code from the authenticator
///
/// Signed in: finishes the set-up (two-factor is on from now). At sign-in (the pending
/// cookie): starts the session.
#[utoipa::path(post, path = "/api/auth/two-factor/verify-totp", tag = "auth", operation_id = "verifyTotp",
    request_body = Code,
    responses(
        (status = 200, description = "`{token, user}`; at sign-in the session cookie is set", body = Object),
        (status = 400, description = "`TOTP_NOT_ENABLED`", body = ErrorBody),
        (status = 401, description = "`INVALID_CODE`, or `INVALID_TWO_FACTOR_COOKIE` (no sign-in waiting, expired, or 5 attempts spent)", body = ErrorBody),
    ))]
async fn verify_totp(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Option<axum::Extension<CurrentUser>>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<Code>,
) -> Result<Response> {
    let who = who(&state, caller.map(|c| c.0), &headers).await?;
    let user = who.user();
    if !two_factor::verify_code(&state.db, &state.auth, user, &body.code).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CODE",
            "Invalid code",
        ));
    }
    finish(
        &state,
        &session,
        peer,
        &headers,
        who,
        body.trust_device == Some(true),
    )
    .await
}

/// Sign in with a backup code
#[utoipa::path(post, path = "/api/auth/two-factor/verify-backup-code", tag = "auth", operation_id = "verifyBackupCode",
    request_body = Code,
    responses(
        (status = 200, description = "`{token, user}`; the code is used up", body = Object),
        (status = 400, description = "`TOTP_NOT_ENABLED`", body = ErrorBody),
        (status = 401, description = "`INVALID_BACKUP_CODE`, or `INVALID_TWO_FACTOR_COOKIE`", body = ErrorBody),
    ))]
async fn verify_backup_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Option<axum::Extension<CurrentUser>>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<Code>,
) -> Result<Response> {
    let who = who(&state, caller.map(|c| c.0), &headers).await?;
    let user = who.user();
    if !two_factor::use_backup_code(&state.db, user, &body.code).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_BACKUP_CODE",
            "Invalid backup code",
        ));
    }
    finish(
        &state,
        &session,
        peer,
        &headers,
        who,
        body.trust_device == Some(true),
    )
    .await
}

/// New backup codes
#[utoipa::path(post, path = "/api/auth/two-factor/generate-backup-codes", tag = "auth", operation_id = "generateBackupCodes",
    request_body = WithPassword,
    responses(
        (status = 200, description = "`{status: true, backupCodes}`; the old codes stop working", body = Object),
        (status = 400, description = "`INVALID_PASSWORD`, or `TOTP_NOT_ENABLED`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn generate_backup_codes(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<WithPassword>,
) -> Result<Json<serde_json::Value>> {
    check_password(&me.user, body.password).await?;
    let codes = two_factor::new_backup_codes(&state.db, &me.user).await?;
    Ok(Json(json!({ "status": true, "backupCodes": codes })))
}

/// Turn two-factor off
#[utoipa::path(post, path = "/api/auth/two-factor/disable", tag = "auth", operation_id = "disableTwoFactor",
    request_body = WithPassword,
    responses(
        (status = 200, description = "`{status: true}`", body = Object),
        (status = 400, description = "`INVALID_PASSWORD`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn disable(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<WithPassword>,
) -> Result<Response> {
    check_password(&me.user, body.password).await?;
    two_factor::disable(&state.db, &state.auth, &me.user).await?;
    trusted_devices::forget(&state.db, &me.user.id).await?;
    tracing::info!(user = %me.user.email, "two-factor turned off");
    let mut resp = Json(json!({ "status": true })).into_response();
    if let Some(v) = trust_cookie(&state, "", 0) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}
