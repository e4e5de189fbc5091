//! Static assets, embedded at compile time.

use axum::{
    extract::Path,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use crate::http::{error::ApiError, AppState};

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../assets/app.css"),
    ),
    (
        "js/common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/common.js"),
    ),
    (
        "js/auth.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/auth.js"),
    ),
    (
        "js/vhosts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/vhosts.js"),
    ),
    (
        "js/vhost-fields.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/vhost-fields.js"),
    ),
    (
        "js/vhost-form.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/vhost-form.js"),
    ),
    (
        "js/logs.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/logs.js"),
    ),
    (
        "js/traffic.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/traffic.js"),
    ),
    (
        "js/changelog.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/changelog.js"),
    ),
    (
        "js/users.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/users.js"),
    ),
    (
        "js/tokens.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/tokens.js"),
    ),
    (
        "js/webhooks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/webhooks.js"),
    ),
    (
        "js/account.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/js/account.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../../assets/favicon.svg"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{*path}", get(asset))
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such asset").into_response(),
    }
}
