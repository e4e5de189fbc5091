//! Single sign-on, in Better Auth's shape for OAuth providers (the genericOAuth plugin
//! registers a provider as a social one): `POST /api/auth/sign-in/social {provider: "oidc"}`
//! answers the provider's authorization URL, and the provider sends the browser back to
//! `GET /api/auth/callback/oidc`, which starts the session and redirects to the
//! `callbackURL`, or to the `errorCallbackURL` (default `/sign-in`) with `?error=<code>`.
//!
//! The sign-in's `state` is bound to the browser that began it (a cookie only the callback
//! reads) and to the server (stored, used once); the provider work is `crate::sso`'s, the
//! account linking `accounts::linked`'s.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    super::{
        error::{ApiError, ErrorBody, Result},
        extract::{cookie, AppJson},
        AppState,
    },
    same_site_url, start_session, two_factor, Meta,
};
use crate::{
    accounts::{self, linked, Role},
    sso::{self, PROVIDER_ID},
};

/// The cookie that ties a sign-in's `state` to the browser that began it.
const STATE_COOKIE: &str = "proxyhub.oauth_state";
const CALLBACK_PATH: &str = "/api/auth/callback";
/// Where a failed sign-in lands unless the client named an `errorCallbackURL`.
const DEFAULT_ERROR_URL: &str = "/sign-in";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_social))
        .routes(routes!(callback))
}

#[derive(Deserialize, ToSchema)]
pub struct SocialSignIn {
    /// The provider: `oidc`, when single sign-on is configured.
    #[schema(example = "oidc")]
    pub provider: String,
    /// Where the browser goes once signed in: a path or a URL of this server (default `/`).
    #[serde(rename = "callbackURL")]
    pub callback_url: Option<String>,
    /// Where the browser goes when the sign-in fails, with `?error=<code>` (default `/sign-in`).
    #[serde(rename = "errorCallbackURL")]
    pub error_callback_url: Option<String>,
    /// Where a newly created account goes instead of `callbackURL`.
    #[serde(rename = "newUserCallbackURL")]
    pub new_user_callback_url: Option<String>,
    /// `true`: answer the URL without a `Location` header (the client navigates itself).
    #[serde(rename = "disableRedirect")]
    pub disable_redirect: Option<bool>,
}

/// Better Auth's answer: where to send the browser.
#[derive(Serialize, ToSchema)]
pub struct SocialRedirect {
    /// The provider's authorization URL (with `state`, `nonce` and the PKCE challenge).
    pub url: String,
    pub redirect: bool,
}

/// Sign in through the identity provider (OpenID Connect)
///
/// Begins a single sign-on: answers the provider's authorization URL (also as `Location`
/// unless `disableRedirect`) and sets a short-lived cookie that ties the sign-in to this
/// browser. The provider sends the browser back to `/api/auth/callback/oidc`.
#[utoipa::path(post, path = "/api/auth/sign-in/social", tag = "auth", operation_id = "socialSignIn",
    request_body = SocialSignIn,
    responses(
        (status = 200, description = "Where to send the browser", body = SocialRedirect,
            headers(("Location" = String, description = "The same URL, unless `disableRedirect`"),
                    ("Set-Cookie" = String, description = "`proxyhub.oauth_state`, for the callback only, 10 minutes"))),
        (status = 400, description = "The body is not JSON or lacks `provider`, or proxyhub has no `PROXYHUB_PUBLIC_URL` and is reached by a host name", body = ErrorBody),
        (status = 403, description = "`INVALID_CALLBACK_URL`: a callback URL is another site's", body = ErrorBody),
        (status = 404, description = "`PROVIDER_NOT_FOUND`: no such provider, or single sign-on is not configured", body = ErrorBody),
        (status = 502, description = "`PROVIDER_UNREACHABLE`: the provider's discovery document could not be read", body = ErrorBody),
    ))]
async fn sign_in_social(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<SocialSignIn>,
) -> Result<Response> {
    let sso = match &state.sso {
        Some(sso) if body.provider == PROVIDER_ID => sso.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "PROVIDER_NOT_FOUND",
                "Provider not found",
            ))
        }
    };
    let own = |u: &Option<String>| {
        u.as_deref()
            .map(|u| same_site_url(&state, &headers, u))
            .transpose()
    };
    let callback = own(&body.callback_url)?.unwrap_or_else(|| "/".into());
    let error = own(&body.error_callback_url)?.unwrap_or_else(|| DEFAULT_ERROR_URL.into());
    let new_user = own(&body.new_user_callback_url)?;
    let begun = sso
        .begin(&redirect_uri(&state, &headers)?)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "single sign-on: the provider cannot be reached");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "PROVIDER_UNREACHABLE",
                format!("the identity provider cannot be reached: {}", e.detail),
            )
        })?;
    sso::save(&state.db, &begun, &callback, &error, new_user.as_deref()).await?;
    let redirect = !body.disable_redirect.unwrap_or(false);
    let mut resp = Json(SocialRedirect {
        url: begun.url.clone(),
        redirect,
    })
    .into_response();
    let h = resp.headers_mut();
    if let Some(v) = state_cookie(&state, &begun.state, sso::LIFETIME_SECS) {
        h.insert(header::SET_COOKIE, v);
    }
    if redirect {
        if let Ok(v) = HeaderValue::from_str(&begun.url) {
            h.insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

/// Where the provider sends the browser back: this server's public URL when set. Without
/// one, the address the request came to, but only when it is localhost or an IP address: a
/// host name from the `Host` header is the client's word, and could send the provider's code
/// elsewhere (set `PROXYHUB_PUBLIC_URL`).
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> Result<String> {
    let base =
        match state.config.public_url.as_deref() {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if super::super::guard::setup_host_trusted(state, headers) => format!(
                "http://{}",
                headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost")
            ),
            None => return Err(ApiError::bad_request(
                "single sign-on needs PROXYHUB_PUBLIC_URL (the address users reach proxyhub at) \
                 unless proxyhub is reached at localhost or an IP address",
            )),
        };
    Ok(format!("{base}{CALLBACK_PATH}/{PROVIDER_ID}"))
}

fn state_cookie(state: &AppState, value: &str, max_age: i64) -> Option<HeaderValue> {
    super::cookie(state, STATE_COOKIE, value, CALLBACK_PATH, max_age)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The sign-in's `state`, as sent to the provider.
    state: Option<String>,
    /// The provider's error (e.g. `access_denied`), passed on to the error URL.
    error: Option<String>,
    error_description: Option<String>,
    /// The issuer, when the provider says it (RFC 9207).
    iss: Option<String>,
}

/// The provider sends the browser back here
///
/// Checks the `state` (this browser's, unused, not expired), trades the code for tokens,
/// verifies the ID token, finds or links the account by the provider's subject or its verified
/// email, starts the session, and redirects to the `callbackURL`. Any failure redirects to the
/// error URL with `?error=<code>` and starts no session. An account with two-factor goes to
/// `/sign-in?twoFactor=1` for its code first.
#[utoipa::path(get, path = "/api/auth/callback/{id}", tag = "auth", operation_id = "oauthCallback",
    params(("id" = String, Path, description = "The provider: `oidc`"), CallbackQuery),
    responses(
        (status = 302, description = "Signed in (session cookie set) and sent to the callback URL, or sent to the error URL with `?error=<code>`",
            headers(("Location" = String, description = "Where the browser goes next"))),
        (status = 400, description = "A query parameter is malformed", body = ErrorBody),
    ))]
async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let mut resp = match finish(&state, peer, &id, q, &headers, &session).await {
        Ok(to) => to,
        Err((url, code)) => {
            tracing::warn!(error = code, "single sign-on refused");
            found(&with_error(&url, code))
        }
    };
    // The state cookie has done its work, whatever the outcome.
    if let Some(v) = state_cookie(&state, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

type Refusal = (String, &'static str);

async fn finish(
    state: &AppState,
    peer: SocketAddr,
    id: &str,
    q: CallbackQuery,
    headers: &HeaderMap,
    session: &Session,
) -> std::result::Result<Response, Refusal> {
    let default = |code| (DEFAULT_ERROR_URL.to_string(), code);
    let sso = match &state.sso {
        Some(sso) if id == PROVIDER_ID => sso.clone(),
        _ => return Err(default("oauth_provider_not_found")),
    };
    let given = q.state.as_deref().ok_or(default("state_not_found"))?;
    // The browser that began this sign-in has its state in a cookie; a link from elsewhere
    // (login CSRF) does not.
    let ours = cookie(headers, STATE_COOKIE).unwrap_or_default();
    if ours.is_empty() || !crate::digest::same(ours.as_bytes(), given.as_bytes()) {
        return Err(default("state_mismatch"));
    }
    let pending = sso::take(&state.db, given)
        .await
        .map_err(|_| default("internal_error"))?
        .ok_or(default("state_not_found"))?;
    let refuse = |code| (pending.error_url.clone(), code);
    if let Some(e) = q.error.as_deref() {
        tracing::info!(
            error = e,
            description = q.error_description.as_deref().unwrap_or(""),
            "the identity provider refused the sign-in"
        );
        return Err(refuse(provider_error(e)));
    }
    let code = q.code.as_deref().ok_or(refuse("no_code"))?;
    if q.iss.as_deref().is_some_and(|iss| !sso.issued_by(iss)) {
        return Err(refuse("issuer_mismatch"));
    }
    let back = redirect_uri(state, headers).map_err(|_| refuse("invalid_redirect_uri"))?;
    let who = sso.finish(&back, code, &pending).await.map_err(|e| {
        tracing::warn!(error = %e, "single sign-on: the provider's answer is refused");
        refuse(e.code)
    })?;
    let oidc = &state.config.oidc;
    let policy = linked::Policy {
        allowed_domains: &oidc.allowed_domains,
        default_role: Role::parse(&oidc.default_role).unwrap_or(Role::Viewer),
        role_claim: oidc.role_claim.is_some(),
        admin_value: &oidc.admin_value,
        editor_value: &oidc.editor_value,
    };
    let linked = linked::sign_in(&state.db, &state.auth, PROVIDER_ID, &who, &policy)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "single sign-on: no account for this identity");
            refuse(e.code())
        })?;
    let next = match (&pending.new_user_url, linked.created) {
        (Some(url), true) => url.clone(),
        _ => pending.callback_url.clone(),
    };
    let trusted = if linked.user.two_factor_enabled {
        two_factor::trusted_device(state, headers, &linked.user)
            .await
            .map_err(|_| refuse("internal_error"))?
    } else {
        None
    };
    if linked.user.two_factor_enabled && trusted.is_none() {
        // The account asked for a second factor: the provider's word is the first.
        let challenge = accounts::two_factor::challenge(&state.db, &linked.user, true)
            .await
            .map_err(|_| refuse("internal_error"))?;
        let mut resp = found(&format!(
            "/sign-in?twoFactor=1&next={}",
            super::super::web::urlencode(&next)
        ));
        if let Some(v) = two_factor::pending_cookie_header(state, &challenge) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        return Ok(resp);
    }
    let meta = Meta::of(state, peer, headers, Some(true));
    start_session(state, session, &linked.user, meta)
        .await
        .map_err(|_| refuse("internal_error"))?;
    tracing::info!(user = %linked.user.email, created = linked.created, "signed in through the identity provider");
    let mut resp = found(&next);
    if let Some(c) = trusted {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// The provider's own error code, passed on when it is one of OAuth's (anything else is
/// named generically: it ends up in a URL and on a page).
fn provider_error(e: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "access_denied",
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "login_required",
    ];
    KNOWN
        .iter()
        .find(|k| **k == e)
        .copied()
        .unwrap_or("provider_error")
}

fn found(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                HeaderValue::from_static(DEFAULT_ERROR_URL),
            )],
        )
            .into_response(),
    }
}

fn with_error(url: &str, code: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}error={code}")
}
