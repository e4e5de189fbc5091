//! `/api/health` (no sign-in: is proxyhub up), `/api/ready` (no sign-in: can it do its
//! work: the store answers, the proxy runs the store's config, the workers run), and
//! `/api/status`: is the proxy reachable, does it run what
//! the store holds, when was the last successful apply, how the background workers are. The
//! proxy's last error is shown to editors and admins only: it quotes the proxy, and viewers
//! only read.

use std::{collections::BTreeMap, time::Duration};

use axum::{extract::State, http::StatusCode, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{guard::CurrentUser, AppState};
use crate::{accounts::Role, apply::ProxyStatus, workers::WorkerStatus};

pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// The answer of `GET /api/health`.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// Is proxyhub up
///
/// Answers as soon as proxyhub serves requests, whatever the proxy's state.
#[utoipa::path(get, path = "/api/health", tag = "status", operation_id = "health",
    security(()),
    responses((status = 200, description = "proxyhub is up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The answer of `GET /api/ready`.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ready`, or `unready` when a check fails.
    #[schema(value_type = String, pattern = "^(ready|unready)$")]
    status: &'static str,
    /// Each check (`database`, `proxy`, and each background worker by name): `ok`, or what
    /// is wrong.
    checks: BTreeMap<String, String>,
}

/// Can proxyhub do its work
///
/// Ready when the store answers, the proxy answered at the last check and runs the store's
/// configuration, and every background worker runs. A readiness probe; `/api/health` is the
/// liveness one. Details of a failure are in `/api/status` (signed in). A replica that does
/// not lead the reconciler judges the proxy by its own last push only.
#[utoipa::path(get, path = "/api/ready", tag = "status", operation_id = "ready",
    security(()),
    responses(
        (status = 200, description = "Every check passed", body = Readiness),
        (status = 503, description = "A check failed; its value says what is wrong", body = Readiness),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut checks = BTreeMap::new();
    let database = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    let database = match database {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store failed");
            "failing: the store did not answer the check".into()
        }
        Err(_) => "failing: the store did not answer within 2 s".into(),
    };
    checks.insert("database".to_string(), database);
    let p = state.applier.status();
    let at = p.checked_at.as_deref().unwrap_or("the last check");
    let leader = state.leases.reconciler.held();
    let proxy = match (p.reachable, p.in_sync) {
        // Another replica checks the proxy: this one knows only its own pushes.
        (None | Some(true), _) if !leader => "ok".into(),
        (None, _) => format!("unknown: the {} was not checked yet", p.proxy),
        (Some(false), _) => format!("unreachable: the {} did not answer at {at}", p.proxy),
        (Some(true), Some(true)) => "ok".into(),
        (Some(true), _) => format!(
            "out of sync: the {} did not run the store's configuration at {at}",
            p.proxy
        ),
    };
    checks.insert("proxy".to_string(), proxy);
    for w in state.workers.status() {
        let check = match w.state {
            "running" => "ok".to_string(),
            other => format!("{other}: restarted {} times", w.restarts),
        };
        checks.insert(check_name(w.name).to_string(), check);
    }
    let ready = checks.values().all(|c| c == "ok");
    let (code, status) = match ready {
        true => (StatusCode::OK, "ready"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "unready"),
    };
    (code, Json(Readiness { status, checks }))
}

/// A worker's check in `/api/ready`: one word (`tailer` for the log tailer, ...).
fn check_name(worker: &str) -> &str {
    match worker {
        "log tailer" => "tailer",
        "log retention" => "retention",
        "event feed" => "events",
        other => other,
    }
}

/// The answer of `GET /api/status`: the proxy's state and the background workers'.
#[derive(Serialize, ToSchema)]
#[schema(as = Status)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(flatten)]
    proxy: ProxyStatus,
    workers: Vec<WorkerStatus>,
    reconciler: Lead,
    webhooks: Lead,
    auth_cache: AuthCacheState,
}

/// This proxyhub's memory of who calls (sessions, accounts, API tokens).
#[derive(Serialize, ToSchema)]
struct AuthCacheState {
    /// Known callers are answered without the store: always on SQLite; on PostgreSQL while
    /// this replica listens for the other replicas' evictions (else it asks the store).
    enabled: bool,
}

/// Whether this proxyhub does a piece of work for all the replicas sharing its store (always
/// true on SQLite, which one proxyhub serves).
#[derive(Serialize, ToSchema)]
struct Lead {
    /// This replica holds the work's lease: it repairs drift (`reconciler`) or sends the
    /// webhooks' deliveries (`webhooks`).
    leader: bool,
}

/// The proxy's and the workers' state
///
/// `lastError` (of the proxy and of each worker) is `null` for viewers. With replicas on one
/// PostgreSQL, `reconciler.leader` and `webhooks.leader` say whether this one repairs drift
/// and sends webhooks; `inSync` is known only where `reconciler.leader` is true.
#[utoipa::path(get, path = "/api/status", tag = "status", operation_id = "status",
    responses((status = 200, description = "The proxy's last known state and the workers'", body = Status)))]
async fn status(State(state): State<AppState>, user: CurrentUser) -> Json<Status> {
    let mut proxy = state.applier.status();
    let mut workers = state.workers.status();
    if user.require(Role::Editor).is_err() {
        proxy.last_error = None;
        for w in &mut workers {
            w.last_error = None;
        }
    }
    Json(Status {
        proxy,
        workers,
        reconciler: Lead {
            leader: state.leases.reconciler.held(),
        },
        webhooks: Lead {
            leader: state.leases.webhooks.held(),
        },
        auth_cache: AuthCacheState {
            enabled: state.auth.enabled(),
        },
    })
}
