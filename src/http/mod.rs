//! The HTTP layer: the state handlers reach, the router with its middleware, the one error
//! type, the extractors, and one file of handlers per resource, each with its `router()`.
//! Handlers parse and authorize, call the domain (`vhosts`, `accounts`, `changelog`, `logs`,
//! `apply`), and turn its errors into answers in `error.rs`. Nothing outside this folder
//! (and `app.rs`, which composes everything) imports it.

pub mod auth;
mod changelog;
pub mod client;
pub mod error;
pub mod extract;
pub mod guard;
mod lists;
mod logs;
pub mod ratelimit;
mod status;
mod tokens;
mod users;
mod vhosts;
mod web;

use std::sync::Arc;

use axum::{middleware::from_fn_with_state, Router};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::{
    accounts::{ratelimit::RateLimiter, sessions::SqlSessionStore},
    apply::Applier,
    config::Config,
    db::Db,
    workers::Workers,
};
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub applier: Arc<Applier>,
    pub auth_limiter: Arc<RateLimiter>,
    pub api_limiter: Arc<ratelimit::ApiLimiter>,
    pub workers: Arc<Workers>,
}

pub const SESSION_COOKIE: &str = "proxyhub.session_token";

/// All routes with their middleware; kept apart from serving so tests can drive it.
pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(SqlSessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.public_url_is_https())
        .with_expiry(Expiry::OnInactivity(time::Duration::days(7)));
    let signed_in = Router::new()
        .merge(vhosts::router())
        .merge(changelog::router())
        .merge(users::router())
        .merge(status::router())
        .merge(logs::router())
        .merge(tokens::router())
        .route_layer(axum::middleware::from_fn(guard::require_user));
    let api = Router::new()
        .merge(status::public_router())
        .merge(auth::router())
        .merge(signed_in)
        .layer(from_fn_with_state(state.clone(), guard::authenticate));
    Router::new()
        .merge(api)
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), guard::check_origin))
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(sessions)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "method not allowed on this route",
    )
}
