//! `GET /api/logs/status`: what the pipeline has read, for people wondering where a line went.

use axum::{extract::State, Json};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use super::store::counters;
use crate::{app::AppState, error::Result, timestamps};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The access log being followed.
    pub access_log: String,
    pub rows: i64,
    pub skipped: i64,
    /// Files read so far, most recently read first (at most 50).
    pub files: Vec<FileStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    pub path: String,
    /// Bytes of complete lines stored.
    pub position: i64,
    pub lines: i64,
    pub skipped: i64,
    pub updated_at: String,
}

pub async fn status(State(state): State<AppState>) -> Result<Json<Status>> {
    let (rows, skipped) = counters::counts(&state.db).await?;
    let files = sqlx::query(
        "SELECT path, position, lines, skipped, updated_at FROM access_log_files \
         ORDER BY updated_at DESC LIMIT 50",
    )
    .fetch_all(&state.db)
    .await?
    .iter()
    .map(|r| {
        let at = OffsetDateTime::from_unix_timestamp(r.try_get("updated_at")?)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(FileStatus {
            path: r.try_get("path")?,
            position: r.try_get("position")?,
            lines: r.try_get("lines")?,
            skipped: r.try_get("skipped")?,
            updated_at: timestamps::iso(at),
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(Json(Status {
        access_log: state.config.access_log_absolute().display().to_string(),
        rows,
        skipped,
        files,
    }))
}
