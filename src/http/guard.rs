//! Request guards: who is signed in, what they may do, and where a request comes from.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, Method},
    middleware::Next,
    response::Response,
};
use time::OffsetDateTime;
use tower_sessions::Session;

use super::{error::ApiError, AppState};
use crate::accounts::{self, sessions::USER_KEY, Role, User};

const REFRESHED_KEY: &str = "refreshed_at";
/// Like Better Auth's `updateAge`: a session used a day after its last refresh gets 7 more days.
const REFRESH_AFTER_SECS: i64 = 24 * 3600;

/// The signed-in account of the session, if any; refreshes the session's expiry when due.
pub async fn session_user(state: &AppState, session: &Session) -> Result<Option<User>, ApiError> {
    let Some(user_id) = session
        .get::<String>(USER_KEY)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let Some(user) = accounts::by_id(&state.db, &user_id).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let refreshed: i64 = session
        .get(REFRESHED_KEY)
        .await
        .map_err(ApiError::internal)?
        .unwrap_or(0);
    if now - refreshed >= REFRESH_AFTER_SECS {
        session
            .insert(REFRESHED_KEY, now)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(Some(user))
}

/// Marks a fresh session as refreshed now.
pub async fn mark_refreshed(session: &Session) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    session
        .insert(REFRESHED_KEY, now)
        .await
        .map_err(ApiError::internal)
}

/// Middleware for every route behind sign-in: 401 without a valid session.
pub async fn require_user(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let user = session_user(&state, &session)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    req.extensions_mut().insert(CurrentUser(user));
    Ok(next.run(req).await)
}

/// The account making the request (present on every route behind [`require_user`]).
#[derive(Clone)]
pub struct CurrentUser(pub User);

impl CurrentUser {
    /// 403 unless the account has at least `role`.
    pub fn require(&self, role: Role) -> Result<&User, ApiError> {
        if self.0.role >= role {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; your account is {}",
                role.as_str(),
                self.0.role.as_str()
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Refuses state-changing requests whose `Origin` is neither this server nor the public URL.
pub async fn check_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin
                .to_str()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_ascii_lowercase();
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            let own = [format!("http://{host}"), format!("https://{host}")];
            let public = state.config.public_url.as_deref().map(origin_of);
            let trusted = own.contains(&origin) || public.as_deref() == Some(origin.as_str());
            if !trusted {
                return Err(ApiError::forbidden(format!(
                    "requests from origin {origin} are not allowed"
                )));
            }
        }
    }
    Ok(next.run(req).await)
}

/// Whether the first account may be created through this `Host`. A DNS-rebinding page
/// (evil.example resolving to 127.0.0.1) would otherwise pass the Origin check and claim a
/// fresh instance's admin account: only addresses, `localhost` and the public URL's host
/// qualify, none of which a rebinding attacker controls.
pub fn setup_host_trusted(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h),
    };
    let public_host = state
        .config
        .public_url
        .as_deref()
        .map(origin_of)
        .and_then(|o| {
            o.split_once("://")
                .map(|(_, rest)| rest.rsplit_once(':').map_or(rest, |(h, _)| h).to_string())
        });
    name == "localhost"
        || name.parse::<std::net::Ipv4Addr>().is_ok()
        || public_host.as_deref() == Some(name)
}

/// `https://Example.com:8443/path` → `https://example.com:8443`.
fn origin_of(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once("://") {
        Some((scheme, rest)) => {
            format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
        }
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_drops_path_and_case() {
        assert_eq!(
            super::origin_of("https://Hub.Example.com:8443/x/"),
            "https://hub.example.com:8443"
        );
    }
}
