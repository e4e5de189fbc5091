//! How far the store stands behind the log proxyhub follows: what `GET /api/logs/status` and
//! the dashboard say when the machine is too busy for ingest to keep up. Ingest then falls
//! behind and catches up later (every line is stored once, whenever); sign-in, changes and
//! reads are not slowed to keep it up.

use std::path::Path;

use super::batch::{fingerprint, read_head};
use sqlx::{AnyConnection, Row as _};

use crate::logs::store::counters::COUNTS;

/// Bytes not stored yet beyond which ingest is behind, however recently it stored: more than
/// a few seconds of a busy proxy's log (the tailer stores what gathered every 0.7 s).
pub const BEHIND_BYTES: u64 = 64 << 20;
/// Seconds without storing, with lines waiting, after which ingest is behind.
pub const STALLED_SECS: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum StandingError {
    #[error("reading the log: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

/// Where ingest stands on the followed log, and what the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Requests stored.
    pub rows: i64,
    /// Lines skipped over all files (proxyhub's own and the nodes').
    pub skipped: i64,
    /// Bytes of complete lines in the log that are not stored yet (a line being written is
    /// not waiting yet).
    pub lag_bytes: u64,
    /// When the log (at its path) last had lines stored, epoch seconds.
    pub last_stored_at: Option<i64>,
    /// Whether ingest has fallen behind (see [`BEHIND_BYTES`], [`STALLED_SECS`]).
    pub behind: bool,
}

/// The length of `file` up to the end of its last complete line: a line being written is not
/// waiting yet. Reads back from the end a page at first (a few lines), more only when a line
/// is longer.
fn complete_lines(file: &std::fs::File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let size = file.metadata()?.len();
    let mut tail = vec![0; 4 << 10];
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(tail.len() as u64);
        let buf = &mut tail[..(end - start) as usize];
        file.read_exact_at(buf, start)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
        if tail.len() < 64 << 10 {
            tail.resize(64 << 10, 0);
        }
    }
    Ok(0)
}

/// Where ingest stands on `log` (absolute) at `now` (epoch seconds). The file is looked at
/// first; the store is asked in one statement (a request under load waits for each).
pub async fn standing(
    conn: &mut AnyConnection,
    log: &Path,
    now: i64,
) -> Result<Standing, StandingError> {
    let (size, fingerprint) = match std::fs::File::open(log) {
        Ok(mut file) => (
            complete_lines(&file)?,
            read_head(&mut file).ok().as_deref().and_then(fingerprint),
        ),
        Err(_) => (0, None),
    };
    let row = sqlx::query(&format!(
        "SELECT {COUNTS}, (SELECT MAX(updated_at) FROM access_log_files WHERE path = $1), \
         (SELECT position FROM access_log_files WHERE fingerprint = $2)"
    ))
    .bind(log.display().to_string())
    .bind(fingerprint)
    .fetch_one(conn)
    .await?;
    let last_stored_at: Option<i64> = row.try_get(2)?;
    let stored = row.try_get::<Option<i64>, _>(3)?.unwrap_or(0).max(0) as u64;
    let lag_bytes = size.saturating_sub(stored);
    let stalled = last_stored_at.is_none_or(|t| now - t > STALLED_SECS);
    Ok(Standing {
        rows: row.try_get(0)?,
        skipped: row.try_get(1)?,
        lag_bytes,
        last_stored_at,
        behind: lag_bytes > BEHIND_BYTES || (lag_bytes > 0 && stalled),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::ingest::{addresses::Addresses, import};

    const LINE: &str = r#"{"level":"info","ts":1736935200.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.9","proto":"HTTP/1.1","method":"GET","host":"a.example.com","uri":"/x","headers":{}},"duration":0.001,"size":5,"status":200}"#;

    #[tokio::test]
    async fn lines_waiting_with_nothing_stored_for_a_while_are_behind_and_stored_ones_are_live() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let log = dir.path().join("access.log");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let s = standing(&mut db.acquire().await.unwrap(), &log, now)
            .await
            .unwrap();
        assert_eq!((s.lag_bytes, s.behind), (0, false), "no log yet");
        // Two complete lines and one being written.
        std::fs::write(&log, format!("{LINE}\n{LINE}\n{{\"level\"")).unwrap();
        let s = standing(&mut db.acquire().await.unwrap(), &log, now)
            .await
            .unwrap();
        assert_eq!(s.lag_bytes, 2 * (LINE.len() as u64 + 1));
        assert!(s.behind, "lines waiting and never stored: {s:?}");
        import::import(&db, std::slice::from_ref(&log), Addresses::default(), false)
            .await
            .unwrap();
        let s = standing(&mut db.acquire().await.unwrap(), &log, now)
            .await
            .unwrap();
        assert_eq!(s.lag_bytes, 0, "the unfinished line is not waiting");
        assert!(!s.behind);
        assert!(s.last_stored_at.is_some());
        // Lines waiting while the last store was long ago: behind.
        std::fs::write(&log, format!("{LINE}\n{LINE}\n{LINE}\n")).unwrap();
        let later = now + STALLED_SECS + 60;
        let s = standing(&mut db.acquire().await.unwrap(), &log, later)
            .await
            .unwrap();
        assert_eq!(s.lag_bytes, LINE.len() as u64 + 1);
        assert!(s.behind, "{s:?}");
        let s = standing(&mut db.acquire().await.unwrap(), &log, now)
            .await
            .unwrap();
        assert!(!s.behind, "stored a moment ago: live");
    }
}
