//! `GET /metrics`: the Prometheus series (`metrics/`), and the middleware counting API
//! requests by route template. On the main listener `/metrics` is open only while
//! proxyhub listens on a loopback address and no `PROXYHUB_METRICS_TOKEN` is set; with a
//! token it asks for `Authorization: Bearer <token>`; on a public address without one it is
//! off (404, saying how to turn it on). `PROXYHUB_METRICS_LISTEN` serves it, open, on an
//! address of its own ([`own_router`]).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use sha2::Digest as _;

use super::{error::ApiError, guard, AppState};
use crate::{digest, metrics, vhosts};

/// `/metrics` on the main listener, behind its access rule.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(guarded))
}

/// `/metrics` alone, open: what `PROXYHUB_METRICS_LISTEN` serves.
pub fn own_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::not_found("this address serves GET /metrics only") })
        .with_state(state)
}

async fn guarded(State(state): State<AppState>, req: Request) -> Response {
    match state.config.metrics_token() {
        Some(token) => {
            let given = guard::bearer(req.headers()).unwrap_or_default();
            // Hashed first: the comparison then takes as long whatever the token's length.
            let same = digest::same(
                &sha2::Sha256::digest(given.as_bytes()),
                &sha2::Sha256::digest(token.as_bytes()),
            );
            if !same {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "GET /metrics needs Authorization: Bearer <the PROXYHUB_METRICS_TOKEN>",
                )
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                .into_response();
            }
        }
        // Open on loopback, but not for a request a proxy forwarded (proxyhub published
        // through the Caddy it manages, say): that one came from anywhere.
        None if state.config.listen.ip().is_loopback() && !forwarded(req.headers()) => {}
        None => {
            return ApiError::not_found(
                "metrics are off on a non-loopback address without a token: set \
                 PROXYHUB_METRICS_TOKEN (and send it as a bearer token) or \
                 PROXYHUB_METRICS_LISTEN (an address of their own)",
            )
            .into_response()
        }
    }
    scrape(State(state)).await
}

/// Whether a request came through a proxy (it says whom it forwarded for).
fn forwarded(headers: &axum::http::HeaderMap) -> bool {
    ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h))
}

async fn scrape(State(state): State<AppState>) -> Response {
    // The gauges read from the store are read now, for this scrape; a store that does not
    // answer within 2 s leaves them as they were (the scrape itself must not time out: the
    // series matter most while something is wrong).
    let counted = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let mut conn = state.db.acquire().await?;
        vhosts::store::count_by_state(&mut conn).await
    })
    .await;
    match counted {
        Ok(Ok((enabled, disabled))) => state.metrics.vhosts(enabled, disabled),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot count the vhosts"),
        Err(_) => tracing::warn!("metrics: the store did not answer within 2 s"),
    }
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

/// Middleware of the API's routes: counts each answer under its route's template (never
/// the path asked for), method and status, and how long it took.
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    state.metrics.api_request(
        &route,
        method.as_str(),
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}
