//! Request guards: who is calling (session or API token), how much they may call, what they
//! may do, and where a request comes from.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{header, request::Parts, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use time::OffsetDateTime;
use tower_sessions::Session;

use super::{
    client,
    error::ApiError,
    ratelimit::{Caller, Quota},
    AppState,
};
use crate::accounts::{
    sessions::USER_KEY,
    tokens::{self, Grant, Scope},
    Actor, Role, User,
};

/// Session keys: when it was last refreshed, started, and the moment it ends however often
/// it is used (Unix times).
pub const REFRESHED_KEY: &str = "refreshed_at";
pub const STARTED_KEY: &str = "started_at";
pub const UNTIL_KEY: &str = "until";
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
    let Some(user) = state.auth.account(&state.reads, &user_id).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let until: Option<i64> = session.get(UNTIL_KEY).await.map_err(ApiError::internal)?;
    if until.is_some_and(|u| now >= u) {
        // Past its absolute lifetime: gone, however recently used.
        session.flush().await.map_err(ApiError::internal)?;
        return Ok(None);
    }
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

/// Who is calling, for every `/api` route: an API token (`Authorization: Bearer phk_…`,
/// which then stands alone: the session cookie is not read, so no cookie is set), else the
/// session. Then the rate limit of that caller (anonymous callers by address; sign-in and
/// sign-up by their own stricter limit), whose standing every answer carries.
pub async fn authenticate(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let address = client::limit_key(client::client_ip(
        &state.config.trusted_proxies,
        peer,
        req.headers(),
    ));
    let who = match identify(&state, &session, req.headers()).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let quota = if write && AUTH_ATTEMPTS.contains(&path) {
        let a = state.auth_limiter.attempt(address).await;
        Quota {
            limit: state.auth_limiter.max(),
            remaining: a.remaining,
            reset_after: a.wait,
            allowed: a.allowed,
        }
    } else {
        let caller = match &who {
            Identified::Token(c) => {
                Caller::Token(c.token.as_ref().map(|g| g.id.clone()).unwrap_or_default())
            }
            Identified::Session(_, id) => Caller::Session(id.clone()),
            Identified::Nobody | Identified::BadToken => Caller::Address(address),
        };
        state.api_limiter.hit(caller, write).await
    };
    let mut resp = if !quota.allowed {
        ApiError::rate_limited(quota.retry_after()).into_response()
    } else {
        match who {
            Identified::BadToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_TOKEN",
                "this API token is not valid: unknown, revoked or expired, or its account is disabled",
            )
            .into_response(),
            Identified::Session(c, _)
                if state.config.require_2fa
                    && !c.user.two_factor_enabled
                    && c.user.has_password()
                    && !req.uri().path().starts_with("/api/auth/") =>
            {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TWO_FACTOR_REQUIRED",
                    "set up two-factor first (Your account, or POST /api/auth/two-factor/enable)",
                )
                .into_response()
            }
            Identified::Token(c) | Identified::Session(c, _) => {
                req.extensions_mut().insert(c);
                next.run(req).await
            }
            Identified::Nobody => next.run(req).await,
        }
    };
    quota.stamp(&mut resp);
    resp
}

/// The routes whose attempts count against the sign-in limit instead of the API's.
const AUTH_ATTEMPTS: [&str; 4] = [
    "/api/auth/sign-in/email",
    "/api/auth/sign-up/email",
    "/api/auth/two-factor/verify-totp",
    "/api/auth/two-factor/verify-backup-code",
];

enum Identified {
    Token(CurrentUser),
    Session(CurrentUser, String),
    BadToken,
    Nobody,
}

async fn identify(
    state: &AppState,
    session: &Session,
    headers: &axum::http::HeaderMap,
) -> Result<Identified, ApiError> {
    if let Some(secret) = bearer(headers) {
        return Ok(
            match tokens::authenticate(&state.db, &state.reads, &state.auth, secret).await? {
                Some((user, grant)) => Identified::Token(CurrentUser {
                    user,
                    token: Some(grant),
                }),
                None => Identified::BadToken,
            },
        );
    }
    Ok(match session_user(state, session).await? {
        Some(user) => {
            let id = session.id().map(|i| i.to_string()).unwrap_or_default();
            Identified::Session(CurrentUser { user, token: None }, id)
        }
        None => Identified::Nobody,
    })
}

/// The secret of an `Authorization: Bearer …` header, if there is one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
}

/// Middleware for every route behind sign-in: 401 without a valid session or token.
pub async fn require_user(req: Request, next: Next) -> Result<Response, ApiError> {
    if req.extensions().get::<CurrentUser>().is_none() {
        return Err(ApiError::unauthorized());
    }
    Ok(next.run(req).await)
}

/// A route layer: the scope reads (`GET`, `HEAD`) need, and the one changes need. Checked
/// before the request's body is read, so a caller without the scope learns only that.
pub fn scoped(
    read: Scope,
    write: Scope,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>
       + Clone
       + Send
       + Sync
       + 'static {
    move |req: Request, next: Next| {
        Box::pin(async move {
            let scope = if matches!(*req.method(), Method::GET | Method::HEAD) {
                read
            } else {
                write
            };
            let allowed = match req.extensions().get::<CurrentUser>() {
                Some(me) => me.need(scope).map(|_| ()),
                None => Err(ApiError::unauthorized()),
            };
            match allowed {
                Ok(()) => next.run(req).await,
                Err(e) => e.into_response(),
            }
        })
    }
}

/// The account making the request (present on every route behind [`require_user`]), and
/// the token it came with, if any.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: User,
    pub token: Option<Grant>,
}

impl CurrentUser {
    /// 403 unless the account has at least `role`.
    pub fn require(&self, role: Role) -> Result<&User, ApiError> {
        if self.user.role >= role {
            Ok(&self.user)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; your account is {}",
                role.as_str(),
                self.user.role.as_str()
            )))
        }
    }

    /// 403 unless the request may act in `scope`: a token must hold it (and its account's
    /// role still allow it); a session's account must have the role it needs.
    pub fn need(&self, scope: Scope) -> Result<&User, ApiError> {
        if let Some(grant) = &self.token {
            if !grant.scopes.contains(&scope) {
                return Err(ApiError::missing_scope(scope));
            }
        }
        self.require(scope.role())
    }

    /// Whether the request may act in `scope` (as [`need`](Self::need), without the error).
    pub fn may(&self, scope: Scope) -> bool {
        self.need(scope).is_ok()
    }

    /// Who a change is recorded as: the account, and the token's name if one was used.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.user.clone(),
            token: self.token.as_ref().map(|g| g.name.clone()),
            import: None,
            revert_of: None,
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
/// Requests with a bearer token are let through: they carry no cookie a foreign page could
/// ride on, and a page cannot send that header across origins without a CORS preflight,
/// which proxyhub never grants.
pub async fn check_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && bearer(req.headers()).is_none() {
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
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "INVALID_ORIGIN",
                    format!("Invalid origin: requests from {origin} are not allowed"),
                ));
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
