//! Composing the application: state, routes and middleware, the listener, background tasks.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{middleware::from_fn_with_state, routing::get, Json, Router};
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::watch};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::{
    apply::Applier,
    auth::{self, guard, ratelimit::RateLimiter, store::SqlSessionStore},
    changelog,
    config::{Config, ProxyKind},
    db::{self, Db},
    error::ApiError,
    logs,
    proxy::{caddy::Caddy, nginx::Nginx, Proxy},
    reconcile, status, users, vhosts, web,
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub applier: Arc<Applier>,
    pub auth_limiter: Arc<RateLimiter>,
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
        .merge(users::api::router())
        .merge(status::router())
        .merge(logs::router())
        .route_layer(from_fn_with_state(state.clone(), guard::require_user));
    Router::new()
        .route("/api/health", get(health))
        .merge(auth::router())
        .merge(signed_in)
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), guard::check_origin))
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(sessions)
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
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

/// The proxy backend the configuration names.
pub fn proxy_for(config: &Config) -> anyhow::Result<Arc<dyn Proxy>> {
    match config.proxy {
        ProxyKind::Caddy => Ok(Arc::new(Caddy::new(config).map_err(anyhow::Error::msg)?)),
        ProxyKind::Nginx => Ok(Arc::new(Nginx::new(config).map_err(anyhow::Error::msg)?)),
    }
}

/// A bound, ready-to-run proxyhub.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the store, runs migrations, and binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config.database_url).await?;
        let proxy = proxy_for(&config)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let state = AppState {
            applier: Arc::new(Applier::new(db.clone(), proxy)),
            auth_limiter: Arc::new(RateLimiter::new(
                config.auth_rate_limit,
                Duration::from_secs(10),
            )),
            config: Arc::new(config),
            db,
        };
        Ok(Self { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops the background tasks and drains requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(reconcile::run(self.state.clone(), stop_rx.clone())),
            tokio::spawn(expire_sessions(self.state.db.clone(), stop_rx.clone())),
            tokio::spawn(logs::tailer::run(
                self.state.db.clone(),
                self.state.config.access_log_absolute(),
                stop_rx.clone(),
            )),
            tokio::spawn(logs::retention::run(
                self.state.db.clone(),
                logs::retention::Retention {
                    days: self.state.config.log_retention_days,
                    max_rows: self.state.config.log_max_rows,
                },
                stop_rx.clone(),
            )),
        ];
        tracing::info!(addr = %self.listener.local_addr()?, proxy = self.state.applier.proxy().kind(), "proxyhub listening");
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

/// Removes expired sessions every hour.
async fn expire_sessions(db: Db, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = SqlSessionStore::delete_expired(&db).await {
            tracing::warn!(error = %e, "could not remove expired sessions");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}
