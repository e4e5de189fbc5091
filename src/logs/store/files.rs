//! What the store knows of each log file: its name (the hash of its first line), where it
//! was last seen, and how far it has been read.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{
    follows::{self, Follower},
    write::Batch,
};
use crate::db::{Db, Tx};

/// A log file as the store knows it: the hash of its first line, and where it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub fingerprint: String,
    pub path: String,
    pub dev: u64,
    pub ino: u64,
}

/// How far `fingerprint` has been read (0 for a file never seen).
pub async fn position(db: &Db, fingerprint: &str) -> Result<u64, sqlx::Error> {
    let row = sqlx::query("SELECT position FROM access_log_files WHERE fingerprint = $1")
        .bind(fingerprint)
        .fetch_optional(db)
        .await?;
    Ok(row.map_or(0, |r| r.get::<i64, _>(0) as u64))
}

/// Notes that this proxyhub follows the log at `path`; returns since when (epoch seconds,
/// see [`follows`]).
pub async fn follow(db: &Db, path: &str) -> Result<i64, sqlx::Error> {
    follows::follow(db, Follower::Local, path, async || {
        last_progress(db, path).await
    })
    .await
}

/// When proxyhub last stored progress on a file it read at `path` (epoch seconds), if ever.
async fn last_progress(db: &Db, path: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT MAX(updated_at) FROM access_log_files WHERE path = $1")
        .bind(path)
        .fetch_one(db)
        .await?;
    row.try_get::<Option<i64>, _>(0)
}

/// Moves the position from `batch.from` to `batch.to`; `Some(actual)` when it was not at `from`.
pub(super) async fn advance(
    tx: &mut Tx,
    s: &Source,
    b: &Batch<'_, '_>,
) -> Result<Option<u64>, sqlx::Error> {
    let lines = (b.entries.len() as u64 + b.skipped) as i64;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let moved = sqlx::query(
        "UPDATE access_log_files SET position = $1, lines = lines + $2, skipped = skipped + $3, \
         path = $4, dev = $5, ino = $6, updated_at = $7 WHERE fingerprint = $8 AND position = $9",
    )
    .bind(b.to as i64)
    .bind(lines)
    .bind(b.skipped as i64)
    .bind(&s.path)
    .bind(s.dev as i64)
    .bind(s.ino as i64)
    .bind(now)
    .bind(&s.fingerprint)
    .bind(b.from as i64)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 1 {
        return Ok(None);
    }
    let actual = sqlx::query("SELECT position FROM access_log_files WHERE fingerprint = $1")
        .bind(&s.fingerprint)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(r) = actual {
        return Ok(Some(r.get::<i64, _>(0) as u64));
    }
    if b.from != 0 {
        return Ok(Some(0));
    }
    sqlx::query(
        "INSERT INTO access_log_files (fingerprint, path, dev, ino, position, lines, skipped, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.fingerprint)
    .bind(&s.path)
    .bind(s.dev as i64)
    .bind(s.ino as i64)
    .bind(b.to as i64)
    .bind(lines)
    .bind(b.skipped as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(None)
}

/// A log file read so far, and what was read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub path: String,
    /// Bytes of complete lines stored.
    pub position: i64,
    pub lines: i64,
    pub skipped: i64,
    pub updated_at: OffsetDateTime,
}

/// The files read so far, most recently read first (at most 50).
pub async fn recent<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<Vec<KnownFile>, sqlx::Error> {
    sqlx::query(
        "SELECT path, position, lines, skipped, updated_at FROM access_log_files \
         ORDER BY updated_at DESC LIMIT 50",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        let at = OffsetDateTime::from_unix_timestamp(r.try_get("updated_at")?)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(KnownFile {
            path: r.try_get("path")?,
            position: r.try_get("position")?,
            lines: r.try_get("lines")?,
            skipped: r.try_get("skipped")?,
            updated_at: at,
        })
    })
    .collect()
}
