//! `/api/nodes` and `/api/cluster/status`: the fleet of Caddy nodes every change is loaded
//! onto, for admins (or a token with the `admin` scope).

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, PathId},
    openapi::Success,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    nodes::{self, Node, NodeError, NodeStatus, Proposed},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(set_state, remove))
        .routes(routes!(cluster_status))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::Admin,
            Scope::Admin,
        )))
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Invalid { field, .. } => {
                ApiError::bad_request(e.to_string()).with("field", field)
            }
            NodeError::NotFound(_) => ApiError::not_found(e.to_string()),
            NodeError::Conflict(_) | NodeError::NotCaddy(_) => ApiError::conflict(e.to_string()),
            NodeError::Proxy(p) => p.into(),
            NodeError::Store(m) => ApiError::internal(m),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewNode {
    /// 1 to 63 letters, digits, `-`, `_` or `.`; unique.
    #[schema(example = "edge-2")]
    name: String,
    /// Its admin API, `http://host:port`; it must answer as Caddy's (2.6 or later) before
    /// the node is saved.
    #[schema(example = "http://10.0.0.12:2019")]
    admin_url: String,
    /// The admin address written into its config (default: the host:port of `adminUrl`),
    /// e.g. `:2019` when Caddy must listen on every address of its machine.
    admin_listen: Option<String>,
    /// The IP address its sites listen on (default: every address of its machine).
    bind: Option<String>,
    /// Where it writes its access log, an absolute path on its machine (default:
    /// proxyhub's `PROXYHUB_ACCESS_LOG`).
    access_log: Option<String>,
}

/// Add a node
///
/// The node's admin API is checked, then the node is loaded with the store's configuration
/// as a change: if it does not take it, nothing is saved and the answer is 502 naming it.
#[utoipa::path(post, path = "/api/nodes", tag = "nodes", operation_id = "createNode",
    request_body = NewNode,
    responses(
        (status = 201, description = "Added, and running the store's configuration", body = Node),
        (status = 400, description = "A field breaks a rule (`field` names it), or `adminUrl` does not answer as a Caddy admin API", body = ErrorBody),
        (status = 409, description = "The name or admin URL is another node's, or this proxyhub manages nginx", body = ErrorBody),
        (status = 502, description = "The node (or another) did not take the configuration: its message", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    AppJson(body): AppJson<NewNode>,
) -> Result<(StatusCode, Json<Node>)> {
    let node = nodes::create(
        &state.applier,
        Proposed {
            name: body.name,
            admin_url: body.admin_url,
            admin_listen: body.admin_listen,
            bind: body.bind,
            access_log: body.access_log,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(node)))
}

/// List nodes
#[utoipa::path(get, path = "/api/nodes", tag = "nodes", operation_id = "listNodes",
    responses((status = 200, description = "Every node, active or offline (none with nginx)", body = [Node])))]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<Node>>> {
    Ok(Json(nodes::store::all(&state.db).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NodeState {
    /// `active` (every change is loaded onto it; brought up to date first) or `offline`
    /// (skipped).
    #[schema(example = "offline")]
    state: String,
}

/// Take a node offline, or bring it back
///
/// A node brought back is loaded with the store's configuration before it counts again; if
/// it does not take it, it stays offline and the answer is 502.
#[utoipa::path(patch, path = "/api/nodes/{id}", tag = "nodes", operation_id = "setNodeState",
    params(("id" = i64, Path, description = "The node's id")),
    request_body = NodeState,
    responses(
        (status = 200, description = "The node, in its new state", body = Node),
        (status = 400, description = "Not a state, or not an id", body = ErrorBody),
        (status = 404, description = "No such node", body = ErrorBody),
        (status = 409, description = "It is the last active node, or this proxyhub manages nginx", body = ErrorBody),
        (status = 502, description = "The node did not take the configuration: its message", body = ErrorBody),
    ))]
async fn set_state(
    State(state): State<AppState>,
    PathId(id): PathId,
    AppJson(body): AppJson<NodeState>,
) -> Result<Json<Node>> {
    Ok(Json(
        nodes::set_state(&state.applier, &state.db, id, &body.state).await?,
    ))
}

/// Remove a node
///
/// Changes are no longer loaded onto it; what it runs is left as it is.
#[utoipa::path(delete, path = "/api/nodes/{id}", tag = "nodes", operation_id = "deleteNode",
    params(("id" = i64, Path, description = "The node's id")),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such node", body = ErrorBody),
        (status = 409, description = "It is the last active node, or this proxyhub manages nginx", body = ErrorBody),
        (status = 502, description = "The proxy did not answer", body = ErrorBody),
    ))]
async fn remove(State(state): State<AppState>, PathId(id): PathId) -> Result<Json<Success>> {
    nodes::remove(&state.applier, id).await?;
    Ok(Json(Success::default()))
}

/// The fleet, read live.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ClusterStatus {
    /// `caddy` or `nginx`.
    proxy: &'static str,
    /// Whether every active node answered and runs what proxyhub last loaded onto it.
    in_sync: bool,
    nodes: Vec<NodeStatus>,
}

/// Cluster status
///
/// Each node's state, whether it answers now, whether it runs what proxyhub last loaded onto
/// it (its config's ETag), its last apply and its last error. Nodes are asked in parallel.
#[utoipa::path(get, path = "/api/cluster/status", tag = "nodes", operation_id = "clusterStatus",
    responses((status = 200, description = "The nodes as they are now", body = ClusterStatus)))]
async fn cluster_status(State(state): State<AppState>) -> Result<Json<ClusterStatus>> {
    let nodes = nodes::status(&state.db).await?;
    Ok(Json(ClusterStatus {
        proxy: state.applier.proxy().kind(),
        in_sync: nodes
            .iter()
            .filter(|n| n.node.state == "active")
            .all(|n| n.in_sync),
        nodes,
    }))
}
