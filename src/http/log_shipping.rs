//! `/api/logs/ship`: where `proxyhub logs ship` sends a node's access-log lines, and asks
//! where each of its files stands. Needs the `write:logs` scope (GETs included: a shipper's
//! token has no other). A batch is stored only if it starts at the hub's position of its
//! node and file, so a repeat is answered `duplicate` and stores nothing.

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{json_body, AppJson, AppQuery},
    guard::CurrentUser,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    logs::{
        ship::{self, receive::ShipError, Batch, Follow, Following, Position, Progress, Receipt},
        store::nodes,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ship_batch))
        .routes(routes!(position))
        .routes(routes!(progress))
        .routes(routes!(follow))
        .layer(DefaultBodyLimit::max(ship::MAX_BODY))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::WriteLogs,
            Scope::WriteLogs,
        )))
}

impl From<ShipError> for ApiError {
    fn from(e: ShipError) -> Self {
        match e {
            ShipError::Invalid(m) => Self::bad_request(m),
            ShipError::TooManyLines(_) => too_large(e.to_string()),
            ShipError::Mismatch { position, .. } => {
                Self::new(StatusCode::CONFLICT, "POSITION_MISMATCH", e.to_string())
                    .with("position", position)
            }
            ShipError::Store(e) => e.into(),
        }
    }
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
}

/// Store a batch of a node's access log
///
/// The lines of bytes `from..to` of the node's file named `fingerprint`. Stored (with the
/// node's name) only if `from` is the hub's position of that node and file; the position
/// moves to `to` in the same transaction. A batch the hub has already (its position is at or
/// past `to`) is answered `duplicate` and stores nothing; one that starts elsewhere is a
/// `409 POSITION_MISMATCH` with the hub's `position`, where the node resumes. Lines that are
/// not requests are counted as skipped.
#[utoipa::path(post, path = "/api/logs/ship", tag = "logs", operation_id = "shipLogs",
    request_body = Batch,
    responses(
        (status = 200, description = "`stored`, or `duplicate` (the hub had it)", body = Receipt),
        (status = 400, description = "A malformed batch: node name, fingerprint, path, lines or byte range", body = ErrorBody),
        (status = 403, description = "`MISSING_SCOPE`: the token lacks `write:logs` (or the account is a viewer)", body = ErrorBody),
        (status = 409, description = "`POSITION_MISMATCH`: the batch does not start at the hub's `position` (a field of the body), where the node resumes", body = ErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: over 8 MiB or 10,000 lines", body = ErrorBody),
    ))]
async fn ship_batch(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Receipt>> {
    me.need(Scope::WriteLogs)?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(format!(
            "a batch body is at most {} MiB",
            ship::MAX_BODY >> 20
        )),
        _ => ApiError::bad_request(e.body_text()),
    })?;
    let batch: Batch = json_body(&headers, &body)?;
    Ok(Json(state.shipped.receive(batch).await?))
}

/// The query string of `GET /api/logs/ship/position`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PositionQuery {
    #[param(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", example = "edge-1")]
    node: String,
    /// The SHA-256 (hex) of the file's first line.
    #[param(pattern = "^[0-9a-f]{64}$")]
    fingerprint: String,
}

/// Where a node's file stands
///
/// How far the hub has stored the node's file named `fingerprint`: the byte the node's next
/// batch of it starts at (0 for a file never seen).
#[utoipa::path(get, path = "/api/logs/ship/position", tag = "logs", operation_id = "shipPosition",
    params(PositionQuery),
    responses(
        (status = 200, description = "The hub's position", body = Position),
        (status = 400, description = "A malformed node name or fingerprint", body = ErrorBody),
        (status = 403, description = "`MISSING_SCOPE`: the token lacks `write:logs`", body = ErrorBody),
    ))]
async fn position(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<PositionQuery>,
) -> Result<Json<Position>> {
    me.need(Scope::WriteLogs)?;
    let node = node_name(&q.node)?;
    if q.fingerprint.len() != 64 || !q.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "fingerprint must be 64 hex digits (the SHA-256 of the file's first line)",
        ));
    }
    let fingerprint = q.fingerprint.to_ascii_lowercase();
    let position = nodes::position(&state.db, &node, &fingerprint).await?;
    Ok(Json(Position {
        node,
        fingerprint,
        position,
    }))
}

/// The query string of `GET /api/logs/ship/progress`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ProgressQuery {
    #[param(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", example = "edge-1")]
    node: String,
    /// Where the node reads the file.
    #[param(min_length = 1, max_length = 4096)]
    path: String,
}

/// When a node last stored a file read at a path
///
/// And since when the node follows that path (what its shipper said at its start).
#[utoipa::path(get, path = "/api/logs/ship/progress", tag = "logs", operation_id = "shipProgress",
    params(ProgressQuery),
    responses(
        (status = 200, description = "The time of the node's last batch from that path, and since when it follows it (each null if never)", body = Progress),
        (status = 400, description = "A malformed node name or path", body = ErrorBody),
        (status = 403, description = "`MISSING_SCOPE`: the token lacks `write:logs`", body = ErrorBody),
    ))]
async fn progress(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<ProgressQuery>,
) -> Result<Json<Progress>> {
    me.need(Scope::WriteLogs)?;
    let node = node_name(&q.node)?;
    check_path(&q.path)?;
    let last_stored_at = nodes::last_progress(&state.db, &node, &q.path).await?;
    let followed_since = nodes::followed_since(&state.db, &node, &q.path).await?;
    Ok(Json(Progress {
        node,
        path: q.path,
        last_stored_at,
        followed_since,
    }))
}

/// Say a node follows a log
///
/// What the shipper says at its start, before it reads a line: from then on, a file rotated
/// away at that path that the hub holds nothing of is one the node finishes (it may have been
/// killed before its first batch), while older files are left alone. Answers since when the
/// node follows the path; saying it again changes nothing.
#[utoipa::path(post, path = "/api/logs/ship/follow", tag = "logs", operation_id = "shipFollow",
    request_body = Follow,
    responses(
        (status = 200, description = "Since when the node follows the path", body = Following),
        (status = 400, description = "A malformed node name or path", body = ErrorBody),
        (status = 403, description = "`MISSING_SCOPE`: the token lacks `write:logs` (or the account is a viewer)", body = ErrorBody),
    ))]
async fn follow(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(f): AppJson<Follow>,
) -> Result<Json<Following>> {
    me.need(Scope::WriteLogs)?;
    let node = node_name(&f.node)?;
    check_path(&f.path)?;
    let since = nodes::follow(&state.db, &node, &f.path).await?;
    Ok(Json(Following {
        node,
        path: f.path,
        since,
    }))
}

fn check_path(path: &str) -> Result<()> {
    if path.is_empty() || path.len() > 4096 || path.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "path must be 1 to 4096 characters without control characters",
        ));
    }
    Ok(())
}

fn node_name(given: &str) -> Result<String> {
    nodes::node_name(given).map_err(|e| ApiError::bad_request(format!("node: {e}")))
}
