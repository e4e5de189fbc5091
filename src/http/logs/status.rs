//! `GET /api/logs/status`: what the log pipeline has read and whether storing keeps up with
//! the followed log, for people wondering where a line went.

use axum::{extract::State, Json};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    accounts::tokens::Scope,
    http::{
        error::{ApiError, Result},
        guard::CurrentUser,
        AppState,
    },
    logs::{ingest::standing, store::files},
    timestamps,
};

/// The answer of `GET /api/logs/status`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LogsStatus)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The access log being followed.
    pub access_log: String,
    /// How client addresses of new requests are stored (`PROXYHUB_LOG_CLIENT_IP`): `full`,
    /// `hashed` (a hash with a secret of the UTC day: one client's requests of a day share
    /// it) or `none` (empty).
    #[schema(value_type = String, pattern = "^(full|hashed|none)$")]
    pub client_ip: &'static str,
    pub rows: i64,
    pub skipped: i64,
    /// Where storing the followed log stands.
    pub ingest: IngestStatus,
    /// Files read so far, most recently read first (at most 50).
    pub files: Vec<FileStatus>,
}

/// Where storing the followed log stands. When the machine is too busy, ingest falls behind
/// and catches up later (no line is lost); sign-in, changes and reads are not slowed for it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestStatus {
    /// `live`: requests are stored within a second or so of being logged; `behind`: more
    /// than 64 MiB of the log waits, or lines have waited over 5 s.
    #[schema(pattern = "^(live|behind)$")]
    pub state: &'static str,
    /// Bytes of the followed log not stored yet.
    pub lag_bytes: u64,
    /// When lines of the followed log were last stored (ISO-8601), if ever.
    pub last_stored_at: Option<String>,
}

/// A file read so far, as `GET /api/logs/status` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    pub path: String,
    /// Bytes of complete lines stored.
    pub position: i64,
    pub lines: i64,
    pub skipped: i64,
    pub updated_at: String,
}

/// What the log pipeline has read
#[utoipa::path(get, path = "/api/logs/status", tag = "logs", operation_id = "logsStatus",
    responses((status = 200, description = "The access log followed and the files read", body = Status)))]
pub(super) async fn status(
    State(state): State<AppState>,
    me: CurrentUser,
    session: tower_sessions::Session,
) -> Result<Json<Status>> {
    me.need(Scope::ReadLogs)?;
    // What the caller sees here, no log answer given to it later predates.
    let generation = state.shared_reads.generation();
    let status = ingest_status(&state).await?;
    state
        .shared_reads
        .saw(&super::shared::caller(&me, &session), generation);
    Ok(Json(status))
}

/// What `GET /api/logs/status` answers.
async fn ingest_status(state: &AppState) -> Result<Status> {
    // One connection for all of it: a busy pool is waited for once.
    let mut conn = state.reads.acquire().await?;
    let now = OffsetDateTime::now_utc();
    let log = state.config.access_log_absolute();
    let standing = standing::standing(&mut conn, &log, now.unix_timestamp())
        .await
        .map_err(ApiError::internal)?;
    let ingest = IngestStatus {
        state: if standing.behind { "behind" } else { "live" },
        lag_bytes: standing.lag_bytes,
        last_stored_at: standing
            .last_stored_at
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .map(timestamps::iso),
    };
    let files = files::recent(&mut *conn)
        .await?
        .into_iter()
        .map(|f| FileStatus {
            path: f.path,
            position: f.position,
            lines: f.lines,
            skipped: f.skipped,
            updated_at: timestamps::iso(f.updated_at),
        })
        .collect();
    Ok(Status {
        access_log: log.display().to_string(),
        client_ip: state.config.log_client_ip.as_str(),
        rows: standing.rows,
        skipped: standing.skipped,
        ingest,
        files,
    })
}
