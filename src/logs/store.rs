//! Writing requests: a batch of rows and the read position that covers them, in one transaction.

use std::sync::OnceLock;

use sqlx::Row;

use super::{domains::Domains, parse::Entry};
use crate::db::{self, Db, Tx};

/// A log file as the store knows it: the hash of its first line, and where it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub fingerprint: String,
    pub path: String,
    pub dev: u64,
    pub ino: u64,
}

/// What one batch covers: the bytes `from..to` of the source, holding `lines` complete
/// lines of which `entries` were stored and the rest skipped.
pub struct Batch<'a, 'b> {
    pub from: u64,
    pub to: u64,
    pub entries: &'b [Entry<'a>],
    pub skipped: u64,
}

/// The outcome of [`commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    Yes,
    /// Someone else (another import, another proxyhub) had moved the source's position:
    /// nothing was written; go on from this position.
    Moved(u64),
}

/// How far `fingerprint` has been read (0 for a file never seen).
pub async fn position(db: &Db, fingerprint: &str) -> Result<u64, sqlx::Error> {
    let row = sqlx::query("SELECT position FROM access_log_files WHERE fingerprint = $1")
        .bind(fingerprint)
        .fetch_optional(db)
        .await?;
    Ok(row.map_or(0, |r| r.get::<i64, _>(0) as u64))
}

/// Stores a batch's rows and moves the source's position to `batch.to`, all or nothing.
pub async fn commit(
    db: &Db,
    domains: &mut Domains,
    source: &Source,
    batch: &Batch<'_, '_>,
) -> Result<Committed, sqlx::Error> {
    let mut tx = db::begin_write(db).await?;
    if let Some(at) = advance(&mut tx, source, batch).await? {
        tx.rollback().await?;
        return Ok(Committed::Moved(at));
    }
    let sqlite = db::is_sqlite(db);
    let resolved = domains.resolve(&mut tx, batch.entries).await?;
    let mut rest: Vec<_> = batch.entries.iter().zip(&resolved.ids).collect();
    while !rest.is_empty() {
        let n = *CHUNKS.iter().find(|&&c| c <= rest.len()).unwrap_or(&1);
        let later = rest.split_off(n);
        insert(&mut tx, &rest, sqlite).await?;
        rest = later;
    }
    let hits = batch.entries.iter().map(|e| crate::traffic::Hit {
        ts: e.ts_us.div_euclid(1_000_000),
        domain: &e.domain,
        status: e.status,
    });
    crate::traffic::record(&mut tx, hits).await?;
    if !batch.entries.is_empty() {
        sqlx::query("UPDATE access_log_stats SET row_count = row_count + $1 WHERE id = 1")
            .bind(batch.entries.len() as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    domains.remember(resolved);
    Ok(Committed::Yes)
}

/// Moves the position from `batch.from` to `batch.to`; `Some(actual)` when it was not at `from`.
async fn advance(tx: &mut Tx, s: &Source, b: &Batch<'_, '_>) -> Result<Option<u64>, sqlx::Error> {
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

/// Rows per INSERT statement: a few fixed sizes, so each is prepared once per connection.
const CHUNKS: [usize; 4] = [512, 64, 8, 1];
const COLUMNS: usize = 10;

/// `INSERT ... VALUES (...), (...)` for `n` rows. SQLite gets anonymous `?` placeholders:
/// binding numbered ones costs a scan of all parameter names per value, quadratic in the rows.
fn insert_sql(n: usize, sqlite: bool) -> &'static str {
    static SQL: OnceLock<[Vec<String>; 2]> = OnceLock::new();
    let all = SQL.get_or_init(|| [false, true].map(|anonymous| {
        CHUNKS
            .iter()
            .map(|&rows| {
                let values: Vec<String> = (0..rows)
                    .map(|r| {
                        let p: Vec<String> = (1..=COLUMNS)
                            .map(|c| if anonymous { "?".into() } else { format!("${}", r * COLUMNS + c) })
                            .collect();
                        format!("({})", p.join(","))
                    })
                    .collect();
                // OR FAIL (SQLite): a failing row fails the statement without undoing the rows
                // before it, so SQLite keeps no statement journal (a copy of every page each
                // multi-row statement touches); the whole transaction is rolled back anyway.
                format!(
                    "INSERT {}INTO access_logs (ts, domain_id, method, path, status, latency_us, ip, size, protocol, user_agent) VALUES {}",
                    if anonymous { "OR FAIL " } else { "" },
                    values.join(",")
                )
            })
            .collect()
    }));
    &all[usize::from(sqlite)][CHUNKS.iter().position(|&c| c == n).expect("a chunk size")]
}

async fn insert(tx: &mut Tx, rows: &[(&Entry<'_>, &i64)], sqlite: bool) -> Result<(), sqlx::Error> {
    let mut q = sqlx::query(insert_sql(rows.len(), sqlite));
    for &(e, &domain_id) in rows {
        q = q
            .bind(e.ts_us)
            .bind(domain_id)
            .bind(e.method.as_ref())
            .bind(e.path.as_ref())
            .bind(e.status)
            .bind(e.latency_us)
            .bind(e.ip.as_ref())
            .bind(e.size)
            .bind(e.protocol.as_ref())
            .bind(e.user_agent.as_ref());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Rows stored, and lines skipped over all files.
pub async fn counts(db: &Db) -> Result<(i64, i64), sqlx::Error> {
    let rows: i64 = sqlx::query("SELECT row_count FROM access_log_stats WHERE id = 1")
        .fetch_one(db)
        .await?
        .get(0);
    let skipped: i64 =
        sqlx::query("SELECT CAST(COALESCE(SUM(skipped), 0) AS BIGINT) FROM access_log_files")
            .fetch_one(db)
            .await?
            .get(0);
    Ok((rows, skipped))
}
