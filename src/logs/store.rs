//! Writing requests: a batch of rows and the read position that covers them, in one transaction.

use std::sync::OnceLock;

use foldhash::{HashMap, HashMapExt};
use sqlx::{any::AnyRow, Row as _};

use super::{
    block::{self, Columns, Decoded, Encoded, Row, BLOCK_ROWS},
    domains::Domains,
    parse::Entry,
};
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
    let resolved = domains.resolve(&mut tx, batch.entries).await?;
    let rows: Vec<Row> = batch.entries.iter().map(Entry::row).collect();
    let counts = write_rows(&mut tx, &rows, &resolved.ids).await?;
    let hours = counts.iter().flat_map(|g| {
        let domain: &str = &batch.entries[g.first].domain;
        let hour = g.hour_us / 1_000_000;
        (0..6i64)
            .filter(move |&c| g.classes[c as usize] > 0)
            .map(move |c| (hour, domain, c, g.classes[c as usize]))
    });
    crate::traffic::record(&mut tx, hours).await?;
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

/// Requests of one domain and clock hour in a batch, by status class (index 0..=5): what
/// the hour rollups add. `first` is the index of one of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    pub domain_id: i64,
    pub hour_us: i64,
    pub first: usize,
    pub classes: [i64; 6],
}

/// Stores requests as blocks: grouped by domain and clock hour, newest first, at most
/// [`BLOCK_ROWS`] a block. A small group (fewer than [`block::SMALL`] requests: a quiet
/// proxy's batch) is merged into a small block of its domain and hour when there is one
/// (the block is rewritten), so a quiet proxy does not leave a block per request.
pub async fn write_rows(
    tx: &mut Tx,
    rows: &[Row<'_>],
    domain_ids: &[i64],
) -> Result<Vec<GroupCount>, sqlx::Error> {
    let mut groups: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
    for (i, (r, &d)) in rows.iter().zip(domain_ids).enumerate() {
        groups
            .entry((d, block::hour_of(r.ts_us)))
            .or_default()
            .push(i as u32);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_unstable_by_key(|g| g.0);
    let small_hours = groups
        .iter()
        .filter(|g| g.1.len() < block::SMALL)
        .map(|g| g.0 .1);
    let mut small = match (small_hours.clone().min(), small_hours.max()) {
        (Some(first), Some(last)) => small_blocks(tx, first, last).await?,
        _ => HashMap::new(),
    };
    let mut counts = Vec::with_capacity(groups.len());
    let mut postings = Vec::new();
    for ((domain_id, hour), mut idx) in groups {
        // Newest first; of two requests logged at the same microsecond, the later line first.
        idx.sort_unstable_by(|&a, &b| {
            rows[b as usize]
                .ts_us
                .cmp(&rows[a as usize].ts_us)
                .then(b.cmp(&a))
        });
        let mut classes = [0i64; 6];
        for &i in &idx {
            classes[usize::from(block::class(rows[i as usize].status))] += 1;
        }
        counts.push(GroupCount {
            domain_id,
            hour_us: hour,
            first: idx[0] as usize,
            classes,
        });
        let fresh: Vec<Row> = idx.iter().map(|&i| rows[i as usize]).collect();
        let old = match fresh.len() < block::SMALL {
            true => small.remove(&(domain_id, hour)),
            false => None,
        };
        match old {
            None => {
                // Oldest chunk first: the newest requests get the highest block id, which
                // orders requests of the same microsecond across chunks.
                for chunk in fresh.chunks(BLOCK_ROWS).rev() {
                    let e = block::encode(chunk);
                    let id = insert_block(tx, domain_id, hour, &e).await?;
                    postings.extend(e.statuses.iter().map(|&s| (s, e.max_ts, id)));
                }
            }
            Some(old) => {
                let decoded = Decoded::decode(&old.columns())?;
                let merged = merge_newest_first(&fresh, decoded.rows());
                delete_block(tx, old.id, old.max_ts, &decoded.statuses()).await?;
                let e = block::encode(&merged);
                let id = insert_block(tx, domain_id, hour, &e).await?;
                postings.extend(e.statuses.iter().map(|&s| (s, e.max_ts, id)));
            }
        }
    }
    for chunk in postings.chunks(STATUS_ROWS) {
        let mut q = sqlx::query(postings_sql(chunk.len()));
        for &(s, max_ts, id) in chunk {
            q = q.bind(s).bind(max_ts).bind(id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(counts)
}

/// Two newest-first lists as one; on equal timestamps `fresh` (logged later) comes first.
fn merge_newest_first<'a>(fresh: &[Row<'a>], old: impl Iterator<Item = Row<'a>>) -> Vec<Row<'a>> {
    let mut out = Vec::with_capacity(fresh.len() + block::SMALL);
    let mut fresh = fresh.iter().copied().peekable();
    for o in old {
        while let Some(f) = fresh.next_if(|f| f.ts_us >= o.ts_us) {
            out.push(f);
        }
        out.push(o);
    }
    out.extend(fresh);
    out
}

/// A stored block's columns, owned.
pub struct StoredBlock {
    pub id: i64,
    pub max_ts: i64,
    pub rows: usize,
    pub ts: Vec<u8>,
    pub status: Vec<u8>,
    pub method: Vec<u8>,
    pub path: Vec<u8>,
    pub rest: Vec<u8>,
}

impl StoredBlock {
    pub const COLUMNS: &'static str =
        "id, max_ts, n, ts_data, status_data, method_data, path_data, rest_data";

    pub fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(StoredBlock {
            id: r.try_get("id")?,
            max_ts: r.try_get("max_ts")?,
            rows: r.try_get::<i64, _>("n")? as usize,
            ts: r.try_get("ts_data")?,
            status: r.try_get("status_data")?,
            method: r.try_get("method_data")?,
            path: r.try_get("path_data")?,
            rest: r.try_get("rest_data")?,
        })
    }

    pub fn columns(&self) -> Columns<'_> {
        Columns {
            rows: self.rows,
            ts: &self.ts,
            status: &self.status,
            method: &self.method,
            path: &self.path,
            rest: &self.rest,
        }
    }
}

/// The small blocks (fewer than [`block::SMALL`] requests) of the hours `first..=last`
/// (epoch microseconds), one per domain and hour: one query for a whole batch.
async fn small_blocks(
    tx: &mut Tx,
    first: i64,
    last: i64,
) -> Result<HashMap<(i64, i64), StoredBlock>, sqlx::Error> {
    let sql = format!(
        "SELECT domain_id, hour, {} FROM access_log_blocks WHERE max_ts >= $1 AND max_ts < $2 \
         AND n < $3 ORDER BY max_ts, id",
        StoredBlock::COLUMNS
    );
    let rows = sqlx::query(&sql)
        .bind(first)
        .bind(last.saturating_add(block::HOUR_US))
        .bind(block::SMALL as i64)
        .fetch_all(&mut **tx)
        .await?;
    let mut small = HashMap::with_capacity(rows.len());
    for r in &rows {
        // Ascending: the newest small block of a domain and hour wins.
        small.insert(
            (r.try_get("domain_id")?, r.try_get("hour")?),
            StoredBlock::from_row(r)?,
        );
    }
    Ok(small)
}

/// Stores one encoded block (its status postings are the caller's); returns its id.
pub async fn insert_block(
    tx: &mut Tx,
    domain_id: i64,
    hour: i64,
    e: &Encoded,
) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query(
        "INSERT INTO access_log_blocks (domain_id, hour, min_ts, max_ts, n, hist, ts_data, \
         status_data, method_data, path_data, rest_data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(domain_id)
    .bind(hour)
    .bind(e.min_ts)
    .bind(e.max_ts)
    .bind(e.rows as i64)
    .bind(&e.hist[..])
    .bind(&e.ts[..])
    .bind(&e.status[..])
    .bind(&e.method[..])
    .bind(&e.path[..])
    .bind(&e.rest[..])
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    Ok(id)
}

/// Stores a block with its status postings; returns its id.
pub async fn insert_block_indexed(
    tx: &mut Tx,
    domain_id: i64,
    hour: i64,
    e: &Encoded,
) -> Result<i64, sqlx::Error> {
    let id = insert_block(tx, domain_id, hour, e).await?;
    for chunk in e.statuses.chunks(STATUS_ROWS) {
        let mut q = sqlx::query(postings_sql(chunk.len()));
        for &s in chunk {
            q = q.bind(s).bind(e.max_ts).bind(id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(id)
}

/// Removes a block and what finds it by status (`statuses`: its distinct statuses).
pub async fn delete_block(
    tx: &mut Tx,
    id: i64,
    max_ts: i64,
    statuses: &[i64],
) -> Result<(), sqlx::Error> {
    for &s in statuses {
        sqlx::query("DELETE FROM access_log_block_statuses WHERE status = $1 AND max_ts = $2 AND block_id = $3")
            .bind(s)
            .bind(max_ts)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM access_log_blocks WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const STATUS_ROWS: usize = 64;

/// `INSERT` of `n` status postings (fixed texts, so each is prepared once per connection).
fn postings_sql(n: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    &SQL.get_or_init(|| {
        (0..=STATUS_ROWS)
            .map(|n| {
                let values: Vec<String> = (0..n)
                    .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                    .collect();
                format!(
                    "INSERT INTO access_log_block_statuses (status, max_ts, block_id) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    })[n]
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
