//! What the sign-in routes share: starting a session (with where it was started), checking
//! a callback URL stays on this server, asking for the password again, and proxyhub's own
//! small cookies.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use tower_sessions::{Expiry, Session};

use super::super::{
    error::{ApiError, Result},
    guard, AppState,
};
use crate::accounts::{password, sessions::USER_KEY, User};

/// A `callbackURL` that stays on this server: a path, or a URL of this server's origin (or of
/// `PROXYHUB_PUBLIC_URL`). Anything else would make sign-in an open redirect: a 400.
pub(super) fn same_site_url(state: &AppState, headers: &HeaderMap, url: &str) -> Result<String> {
    let bad = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_CALLBACK_URL",
            "callbackURL must be a path on this server or a URL of this server",
        )
    };
    let url = url.trim();
    if url.chars().any(|c| c.is_control() || c == '\\') {
        return Err(bad());
    }
    if url.starts_with('/') {
        return if url.starts_with("//") {
            Err(bad())
        } else {
            Ok(url.to_string())
        };
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let own = [format!("http://{host}"), format!("https://{host}")];
    let public = state
        .config
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_ascii_lowercase());
    let lower = url.to_ascii_lowercase();
    let ours = own.iter().chain(public.iter()).any(|origin| {
        lower == *origin
            || lower.starts_with(&format!("{origin}/"))
            || lower.starts_with(&format!("{origin}?"))
    });
    if ours && !host.is_empty() {
        Ok(url.to_string())
    } else {
        Err(bad())
    }
}

/// 400 `INVALID_PASSWORD` unless `given` is the account's password (Better Auth's answer
/// where a change asks for the password again); `CREDENTIAL_ACCOUNT_NOT_FOUND` for an account
/// that signs in only through single sign-on.
pub(super) async fn check_password(user: &User, given: String) -> Result<()> {
    if !user.has_password() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "CREDENTIAL_ACCOUNT_NOT_FOUND",
            "Credential account not found: this account signs in through single sign-on",
        ));
    }
    if password::verify(given, Some(user.password_hash.clone())).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PASSWORD",
            "Invalid password",
        ))
    }
}

/// A `Set-Cookie` of proxyhub's own small cookies (pending two-factor, trusted device, SSO
/// state): HttpOnly, SameSite=Lax, Secure when the public URL is https; `max_age` 0 forgets it.
pub(super) fn cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> Option<HeaderValue> {
    let secure = if state.config.public_url_is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// What a new session keeps about where it was started.
pub(super) struct Meta {
    ip: String,
    user_agent: Option<String>,
    remember: bool,
}

impl Meta {
    pub(super) fn of(
        state: &AppState,
        peer: SocketAddr,
        headers: &HeaderMap,
        remember: Option<bool>,
    ) -> Self {
        Meta {
            ip: super::super::client::client_ip(&state.config.trusted_proxies, peer.ip(), headers)
                .to_string(),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect()),
            remember: remember.unwrap_or(true),
        }
    }
}

/// Binds the session to the account under a new id (no session fixation) and returns its token.
pub(super) async fn start_session(
    state: &AppState,
    session: &Session,
    user: &User,
    meta: Meta,
) -> Result<String> {
    session.cycle_id().await.map_err(ApiError::internal)?;
    session.clear().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let days = if meta.remember {
        i64::from(state.config.session_max_days.max(1))
    } else {
        1
    };
    if !meta.remember {
        session.set_expiry(Some(Expiry::OnSessionEnd));
    }
    let put = |k: &'static str, v: serde_json::Value| async move {
        session.insert(k, v).await.map_err(ApiError::internal)
    };
    put(USER_KEY, user.id.clone().into()).await?;
    put("sid", uuid::Uuid::new_v4().simple().to_string().into()).await?;
    put(guard::STARTED_KEY, now.into()).await?;
    put(guard::UNTIL_KEY, (now + days * 86_400).into()).await?;
    put("ip", meta.ip.into()).await?;
    put("ua", meta.user_agent.into()).await?;
    guard::mark_refreshed(session).await?;
    session.save().await.map_err(ApiError::internal)?;
    let id = session
        .id()
        .ok_or_else(|| ApiError::internal("session has no id after save"))?;
    Ok(id.to_string())
}
