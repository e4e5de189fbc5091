//! The block tables: blocks read by id, stored and removed together with their status
//! postings (`access_log_block_statuses`, the index by status).

use std::sync::OnceLock;

use sqlx::{any::AnyRow, Row as _};

use super::block::{Columns, Encoded};
use crate::db::{self, Tx};

/// A stored block's columns, owned.
pub struct StoredBlock {
    pub id: i64,
    pub min_ts: i64,
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
        "id, min_ts, max_ts, n, ts_data, status_data, method_data, path_data, rest_data";

    pub fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(StoredBlock {
            id: r.try_get("id")?,
            min_ts: r.try_get("min_ts")?,
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

/// `columns` of the blocks `ids`, a query per 256 ids (in no particular order).
pub async fn blocks_by_id(
    tx: &mut Tx,
    columns: &str,
    ids: &[i64],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(256) {
        let sql = format!(
            "SELECT {columns} FROM access_log_blocks WHERE id IN ({})",
            db::placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        rows.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(rows)
}

/// Where a block's requests belong: their domain, the node that shipped them (`None`: the
/// local tailer's) and their UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockKey {
    pub domain_id: i64,
    pub node: Option<i64>,
    pub day: i64,
}

/// Stores one encoded block (its status postings are the caller's); returns its id.
pub async fn insert_block(tx: &mut Tx, key: BlockKey, e: &Encoded) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query(
        "INSERT INTO access_log_blocks (domain_id, day, min_ts, max_ts, n, hist, ts_data, \
         status_data, method_data, path_data, rest_data, node_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(key.domain_id)
    .bind(key.day)
    .bind(e.min_ts)
    .bind(e.max_ts)
    .bind(e.rows as i64)
    .bind(&e.hist[..])
    .bind(&e.ts[..])
    .bind(&e.status[..])
    .bind(&e.method[..])
    .bind(&e.path[..])
    .bind(&e.rest[..])
    .bind(key.node)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    Ok(id)
}

/// Stores a block with its status postings; returns its id.
pub async fn insert_block_indexed(
    tx: &mut Tx,
    key: BlockKey,
    e: &Encoded,
) -> Result<i64, sqlx::Error> {
    let id = insert_block(tx, key, e).await?;
    let postings: Vec<[i64; 6]> = postings_of(e, key.domain_id, id).collect();
    insert_postings(tx, &postings).await?;
    Ok(id)
}

/// A stored block's status postings: `(status, domain_id, max_ts, min_ts, block_id, n)`.
pub(super) fn postings_of(
    e: &Encoded,
    domain_id: i64,
    id: i64,
) -> impl Iterator<Item = [i64; 6]> + '_ {
    e.statuses
        .iter()
        .map(move |&(s, n)| [s, domain_id, e.max_ts, e.min_ts, id, n])
}

/// Stores `(status, domain_id, max_ts, min_ts, block_id, n)` postings.
pub(super) async fn insert_postings(tx: &mut Tx, postings: &[[i64; 6]]) -> Result<(), sqlx::Error> {
    let sqlite = db::is_sqlite_conn(tx);
    for chunk in postings.chunks(STATUS_ROWS) {
        let mut q = sqlx::query(postings_sql(chunk.len(), sqlite));
        for p in chunk {
            for &v in p {
                q = q.bind(v);
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes a block and its status postings (`statuses`: its distinct statuses). Returns
/// false when the block was not there any more: on PostgreSQL another transaction (retention,
/// or a merge of small blocks) may have removed it since it was read.
pub async fn delete_block(
    tx: &mut Tx,
    (id, min_ts, max_ts): (i64, i64, i64),
    statuses: &[i64],
) -> Result<bool, sqlx::Error> {
    for &s in statuses {
        sqlx::query(
            "DELETE FROM access_log_block_statuses \
             WHERE status = $1 AND max_ts = $2 AND min_ts = $3 AND block_id = $4",
        )
        .bind(s)
        .bind(max_ts)
        .bind(min_ts)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    let deleted = sqlx::query("DELETE FROM access_log_blocks WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

const STATUS_ROWS: usize = 64;

/// `INSERT` of `n` status postings (fixed texts, so each is prepared once per connection).
/// SQLite's are numbered by position (`?`): sqlx looks each `$N` up by name, a walk through
/// all the statement's names, which made binding 384 values a sixth of the log writer's time.
fn postings_sql(n: usize, sqlite: bool) -> &'static str {
    static SQL: [OnceLock<Vec<String>>; 2] = [OnceLock::new(), OnceLock::new()];
    &SQL[usize::from(sqlite)].get_or_init(|| {
        (0..=STATUS_ROWS)
            .map(|n| {
                let values: Vec<String> = (0..n)
                    .map(|i| match sqlite {
                        true => "(?, ?, ?, ?, ?, ?)".to_string(),
                        false => {
                            let p: Vec<String> =
                                (1..=6).map(|c| format!("${}", 6 * i + c)).collect();
                            format!("({})", p.join(", "))
                        }
                    })
                    .collect();
                format!(
                    "INSERT INTO access_log_block_statuses (status, domain_id, max_ts, min_ts, block_id, n) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    })[n]
}
