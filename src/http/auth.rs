//! `/api/auth/*`: sign-up, sign-in, sign-out and the session, with Better Auth's routes and
//! answers; sign-in attempts limited per client address.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, State},
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

fn limit(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<()> {
    let client = client_ip(&state.config.trusted_proxies, peer.ip(), headers);
    state
        .auth_limiter
        .check(limit_key(client))
        .map_err(ApiError::rate_limited)
}

/// What attempts are counted by: the address, or for IPv6 its /64 (one host usually holds a
/// whole /64 and could otherwise take a new address for every attempt).
fn limit_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The client's address: the connection's, unless it comes from a trusted reverse proxy;
/// then the nearest address in `X-Forwarded-For` (read from the right, each proxy appending
/// the address it was reached from) that is not a trusted proxy itself. Addresses left of
/// it are the client's own say and are never believed.
pub fn client_ip(trusted: &[ipnet::IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    // A listener on [::] sees IPv4 clients as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Every hop, left to right, over all header lines; one that is not text cannot be read
    // (`None`).
    let hops: Vec<Option<&str>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|hop| std::str::from_utf8(hop).ok())
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = hop.and_then(hop_address) else {
            // Not an address: nothing further left can be attributed.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// A hop of `X-Forwarded-For`: an address, or one with a port as some load balancers write
/// (`203.0.113.5:4711`, `[2001:db8::1]:4711`); IPv4-mapped IPv6 as IPv4.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<SignUp>,
) -> Result<Json<SignedUp>> {
    limit(&state, peer, &headers)?;
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    AppJson(body): AppJson<SignIn>,
) -> Result<Json<SignedIn>> {
    limit(&state, peer, &headers)?;
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
    session: Session,
) -> Result<Json<Option<SessionInfo>>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_address_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> =
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = forwarded(&["198.51.100.7, 203.0.113.5"]);
        assert_eq!(
            client_ip(&trusted, ip("192.0.2.1"), &h),
            ip("192.0.2.1"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client_ip(&trusted, ip("10.1.2.3"), &h), ip("203.0.113.5"));
        assert_eq!(
            client_ip(
                &trusted,
                ip("10.1.2.3"),
                &forwarded(&["198.51.100.7", "203.0.113.5, 10.9.9.9"])
            ),
            ip("203.0.113.5"),
            "trusted hops (a chain of proxies, several headers) are skipped; what the client \
             claimed to the left is not believed"
        );
        assert_eq!(
            client_ip(&trusted, ip("::1"), &forwarded(&["2001:db8::1"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(
                &trusted,
                ip("10.0.0.2"),
                &forwarded(&["203.0.113.5, ::ffff:10.9.9.9"])
            ),
            ip("203.0.113.5"),
            "a trusted hop written IPv4-mapped is still trusted"
        );
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.2"), &forwarded(&["203.0.113.5:4711"])),
            ip("203.0.113.5"),
            "a hop with a port"
        );
        let mut odd = forwarded(&["203.0.113.5"]);
        odd.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xe9x, 198.51.100.9").unwrap(),
        );
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.2"), &odd),
            ip("198.51.100.9"),
            "hops that are not text do not hide the readable ones right of them"
        );
        let mut odd = forwarded(&["203.0.113.5"]);
        odd.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xe9x, 10.9.9.9").unwrap(),
        );
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.2"), &odd),
            ip("10.9.9.9"),
            "a hop that is not text ends the walk: what is left of it is not believed"
        );
        assert_eq!(
            client_ip(&trusted, ip("::ffff:10.1.2.3"), &h),
            ip("203.0.113.5"),
            "an IPv4 proxy seen by an IPv6 listener is still trusted"
        );
        assert_eq!(
            client_ip(&trusted, ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3"),
            "no header: the proxy itself"
        );
        assert_eq!(
            client_ip(
                &trusted,
                ip("10.1.2.3"),
                &forwarded(&["203.0.113.5, garbage"])
            ),
            ip("10.1.2.3"),
            "an unreadable hop ends the walk"
        );
        assert_eq!(
            client_ip(&[], ip("10.1.2.3"), &h),
            ip("10.1.2.3"),
            "no trusted proxies: the connection's address"
        );
    }

    #[test]
    fn attempts_count_per_ipv4_address_and_per_ipv6_64() {
        let key = |s: &str| limit_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("203.0.113.5"), "203.0.113.5");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            config: crate::config::Config,
        }
        let c = Cli::try_parse_from(["proxyhub", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"])
            .unwrap();
        let nets: Vec<String> = c
            .config
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
        let err = Cli::try_parse_from(["proxyhub", "--trusted-proxies", "10.0.0.0/33"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not an IP address or a CIDR range"), "{err}");
    }
}
