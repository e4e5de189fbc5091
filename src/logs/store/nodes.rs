//! Nodes: the machines whose access logs `proxyhub logs ship` sends here. A node's name is
//! stored once and its blocks refer to it by id; how far each of its files has been stored
//! is kept per node and file (the hash of the file's first line), committed with the rows.

use foldhash::HashMap;
use sqlx::Row as _;

use super::{
    files::Source,
    follows::{self, Follower},
    write::Batch,
};
use crate::db::{Db, Tx};

/// The longest node name.
pub const NAME_MAX: usize = 253;

/// A node name that cannot be one; the message says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidNode(pub String);

/// A node name as stored: 1 to [`NAME_MAX`] ASCII letters, digits, `.`, `-` and `_`,
/// starting with a letter or digit, case-insensitive (kept in lower case), like a host name.
pub fn node_name(name: &str) -> Result<String, InvalidNode> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !ok {
        return Err(InvalidNode(format!(
            "a node name is 1 to {NAME_MAX} letters, digits, '.', '-' and '_', starting with a \
             letter or digit (a host name), got {name:?}"
        )));
    }
    Ok(name.to_ascii_lowercase())
}

/// The id of node `name` (a valid [`node_name`]), stored now if it was not.
pub async fn id(db: &Db, name: &str) -> Result<i64, sqlx::Error> {
    if let Some(id) = find(db, name).await? {
        return Ok(id);
    }
    sqlx::query("INSERT INTO access_log_nodes (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(db)
        .await?;
    find(db, name)
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound)
}

/// The id of node `name`, if it ever shipped anything.
pub async fn find(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT id FROM access_log_nodes WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// The names of node ids (unknown ids are left out).
pub async fn names(
    conn: &mut sqlx::AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, String>, sqlx::Error> {
    super::domains::names_in(conn, "access_log_nodes", ids).await
}

/// How far `node` has stored the file `fingerprint` (0 for a file or node never seen).
pub async fn position(db: &Db, node: &str, fingerprint: &str) -> Result<u64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT f.position FROM access_log_node_files f JOIN access_log_nodes n \
         ON n.id = f.node_id WHERE n.name = $1 AND f.fingerprint = $2",
    )
    .bind(node)
    .bind(fingerprint)
    .fetch_optional(db)
    .await?;
    Ok(row.map_or(0, |r| r.get::<i64, _>(0) as u64))
}

/// Notes that `node` follows the log at `path`; returns since when (epoch seconds, see
/// [`follows`]).
pub async fn follow(db: &Db, node: &str, path: &str) -> Result<i64, sqlx::Error> {
    let who = Follower::Node(id(db, node).await?);
    follows::follow(db, who, path, async || last_progress(db, node, path).await).await
}

/// Since when `node` follows the log at `path` (epoch seconds), if it said so.
pub async fn followed_since(db: &Db, node: &str, path: &str) -> Result<Option<i64>, sqlx::Error> {
    match find(db, node).await? {
        Some(id) => follows::since(db, Follower::Node(id), path).await,
        None => Ok(None),
    }
}

/// When `node` last stored progress on a file it read at `path` (epoch seconds), if ever.
pub async fn last_progress(db: &Db, node: &str, path: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT MAX(f.updated_at) FROM access_log_node_files f JOIN access_log_nodes n \
         ON n.id = f.node_id WHERE n.name = $1 AND f.path = $2",
    )
    .bind(node)
    .bind(path)
    .fetch_one(db)
    .await?;
    row.try_get::<Option<i64>, _>(0)
}

/// Moves `node`'s position in the file from `batch.from` to `batch.to`; `Some(actual)` when
/// it was not at `from` (nothing is written then).
pub(super) async fn advance(
    tx: &mut Tx,
    node: i64,
    s: &Source,
    b: &Batch<'_, '_>,
) -> Result<Option<u64>, sqlx::Error> {
    let lines = (b.entries.len() as u64 + b.skipped) as i64;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let moved = sqlx::query(
        "UPDATE access_log_node_files SET position = $1, lines = lines + $2, \
         skipped = skipped + $3, path = $4, updated_at = $5 \
         WHERE node_id = $6 AND fingerprint = $7 AND position = $8",
    )
    .bind(b.to as i64)
    .bind(lines)
    .bind(b.skipped as i64)
    .bind(&s.path)
    .bind(now)
    .bind(node)
    .bind(&s.fingerprint)
    .bind(b.from as i64)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 1 {
        return Ok(None);
    }
    let actual = sqlx::query(
        "SELECT position FROM access_log_node_files WHERE node_id = $1 AND fingerprint = $2",
    )
    .bind(node)
    .bind(&s.fingerprint)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(r) = actual {
        return Ok(Some(r.get::<i64, _>(0) as u64));
    }
    if b.from != 0 {
        return Ok(Some(0));
    }
    // Two first batches of one file at once: the second one's insert fails on the key, its
    // transaction (rows included) is not committed, and it is told the file has moved on: the
    // shipper asks the hub where it stands and goes on from there.
    let inserted = sqlx::query(
        "INSERT INTO access_log_node_files (node_id, fingerprint, path, position, lines, \
         skipped, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(node)
    .bind(&s.fingerprint)
    .bind(&s.path)
    .bind(b.to as i64)
    .bind(lines)
    .bind(b.skipped as i64)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(None),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_host_names_kept_in_lower_case() {
        assert_eq!(
            node_name("Edge-1.example.com").unwrap(),
            "edge-1.example.com"
        );
        assert_eq!(node_name("node_2").unwrap(), "node_2");
        for bad in [
            "",
            "-edge",
            ".x",
            "edge 1",
            "edge\n1",
            "edge/1",
            "é",
            &"a".repeat(254),
        ] {
            assert!(node_name(bad).is_err(), "{bad:?}");
        }
    }
}
