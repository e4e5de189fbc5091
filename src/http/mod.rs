//! The HTTP layer: the state handlers reach, the router with its middleware, the one error
//! type, the extractors, and one file of handlers per resource, each with its `router()`.
//! Handlers parse and authorize, call the domain (`vhosts`, `accounts`, `changelog`, `logs`,
//! `apply`), and turn its errors into answers in `error.rs`. Nothing outside this folder
//! (and `app.rs`, which composes everything) imports it. The JSON API's routes are gathered
//! with the OpenAPI document describing them (`api()`, `openapi.rs`).

pub mod auth;
mod certificates;
mod changelog;
pub mod client;
pub mod error;
mod events;
pub mod extract;
pub mod guard;
mod idempotent;
mod lists;
mod log_shipping;
mod logs;
pub mod metrics;
mod nodes;
pub mod openapi;
pub mod ratelimit;
mod remembered;
mod shared;
mod state;
mod status;
mod tokens;
mod users;
mod vhost_answer;
mod vhost_health;
mod vhost_input;
mod vhost_stats;
mod vhosts;
mod web;
mod webhooks;

use std::sync::Arc;

use axum::{middleware::from_fn_with_state, Extension, Router};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    accounts::{ratelimit::RateLimiter, sessions::SqlSessionStore, AuthCache},
    apply::Applier,
    config::Config,
    db::Db,
    metrics::Metrics,
    workers::Workers,
};
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The shared pool: changes, background workers, and whatever writes.
    pub db: Db,
    /// Interactive reads (`GET` handlers, and signing a request in when the cache does not
    /// know it): a pool nothing in the background holds (`db::connect_reader`).
    pub reads: Db,
    /// Who recent callers are (sessions, accounts, tokens), so a known one costs no
    /// connection (`accounts::cache`).
    pub auth: Arc<AuthCache>,
    pub config: Arc<Config>,
    pub applier: Arc<Applier>,
    pub auth_limiter: Arc<RateLimiter>,
    pub api_limiter: Arc<ratelimit::ApiLimiter>,
    pub workers: Arc<Workers>,
    /// The OpenID Connect provider, when single sign-on is configured.
    pub sso: Option<Arc<crate::sso::Sso>>,
    /// New events as they commit, for live streams and the webhook dispatcher.
    pub feed: Arc<crate::events::Feed>,
    /// The Prometheus series (`GET /metrics`); the webhook sender counts its deliveries
    /// with `metrics.webhook_delivery(outcome)`.
    pub metrics: Arc<Metrics>,
    /// The served certificates' statuses, as the `certificates` worker last found them.
    pub certificates: Arc<crate::certs::Certificates>,
    /// What proxyhub's own probes found of each upstream (the `health` worker writes it).
    pub health: Arc<crate::health::Health>,
    /// The work this replica may do for all replicas on one PostgreSQL (always on SQLite).
    pub leases: Arc<crate::cluster::Leases>,
    /// Where the batches of `proxyhub logs ship` are stored (`/api/logs/ship`).
    pub shipped: Arc<crate::logs::ship::receive::Receiver>,
    /// Answers of the access-log reads, shared by callers asking the same at once.
    pub shared_reads: Arc<shared::SharedReads>,
    /// Lists of vhosts and pages of the changelog, remembered by the configuration's version.
    pub config_reads: Arc<remembered::ConfigReads>,
}

pub const SESSION_COOKIE: &str = "proxyhub.session_token";

impl AppState {
    /// The sessions' store (written through the shared pool, read through the cache).
    pub fn sessions(&self) -> SqlSessionStore {
        SqlSessionStore::new(self.db.clone(), self.reads.clone(), self.auth.clone())
    }
}

/// All routes with their middleware; kept apart from serving so tests can drive it.
pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(state.sessions())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.public_url_is_https())
        .with_expiry(Expiry::OnInactivity(time::Duration::days(7)));
    let (api, doc) =
        api(|r| r.route_layer(axum::middleware::from_fn(guard::require_user))).split_for_parts();
    // Unknown API paths are answered inside the API's layers (with the rate-limit headers).
    let api = api
        .route("/api/{*rest}", axum::routing::any(not_found))
        .layer(from_fn_with_state(state.clone(), guard::authenticate))
        .layer(from_fn_with_state(state.clone(), metrics::count));
    Router::new()
        .merge(api)
        .merge(metrics::router())
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(openapi::Document::new(&openapi::finish(doc))))
        .layer(from_fn_with_state(state.clone(), guard::check_origin))
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(sessions)
        .with_state(state)
}

/// The JSON API's routes and the document describing them. `signed_in` wraps the routes
/// behind sign-in in the check (serving) or in nothing ([`openapi()`], which needs no state).
fn api(
    signed_in: impl FnOnce(OpenApiRouter<AppState>) -> OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let mut behind = OpenApiRouter::new()
        .merge(vhosts::router())
        .merge(certificates::router())
        .merge(changelog::router())
        .merge(users::router())
        .merge(status::router())
        .merge(logs::router())
        .merge(log_shipping::router())
        .merge(tokens::router())
        .merge(state::router())
        .merge(webhooks::router())
        .merge(nodes::router())
        .merge(events::router());
    openapi::behind_sign_in(behind.get_openapi_mut());
    OpenApiRouter::with_openapi(openapi::base())
        .merge(status::public_router())
        .merge(auth::router())
        .merge(openapi::router())
        .merge(signed_in(behind))
}

/// The OpenAPI document of the routes [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(api(|r| r).into_openapi())
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
