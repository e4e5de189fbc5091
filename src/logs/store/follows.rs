//! Which access logs are followed, and since when: the moment a rotated file's lines became
//! proxyhub's to store. A file rotated away that the store holds nothing of is finished when
//! it was written after that moment (proxyhub was down, or killed before its first batch),
//! and left to `proxyhub logs import` when older.

use sqlx::Row as _;

use crate::db::Db;

/// Whose tail: this proxyhub's own, or a shipping node's (its id in `access_log_nodes`).
#[derive(Debug, Clone, Copy)]
pub enum Follower {
    Local,
    Node(i64),
}

impl Follower {
    fn id(self) -> i64 {
        match self {
            Follower::Local => 0,
            Follower::Node(id) => id,
        }
    }
}

/// Notes that `who` follows the log at `path`, and returns since when (epoch seconds): now
/// the first time, or `earlier` when progress was stored before follows were recorded.
pub async fn follow(
    db: &Db,
    who: Follower,
    path: &str,
    earlier: impl AsyncFnOnce() -> Result<Option<i64>, sqlx::Error>,
) -> Result<i64, sqlx::Error> {
    if let Some(at) = since(db, who, path).await? {
        return Ok(at);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let first = earlier().await?.unwrap_or(now);
    sqlx::query(
        "INSERT INTO access_log_follows (node_id, path, since) VALUES ($1, $2, $3) \
         ON CONFLICT (node_id, path) DO NOTHING",
    )
    .bind(who.id())
    .bind(path)
    .bind(first)
    .execute(db)
    .await?;
    // Another process may have been first.
    since(db, who, path).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Since when `who` follows the log at `path`, if it said so.
pub async fn since(db: &Db, who: Follower, path: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT since FROM access_log_follows WHERE node_id = $1 AND path = $2")
        .bind(who.id())
        .bind(path)
        .fetch_optional(db)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_log_is_followed_from_its_first_mention_or_from_progress_stored_before() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let none = async || Ok(None);
        let before = time::OffsetDateTime::now_utc().unix_timestamp();
        let first = follow(&db, Follower::Local, "/l/access.log", none)
            .await
            .unwrap();
        assert!(first >= before && first <= before + 5, "now: {first}");
        // Said again later, with other progress offered: the first moment stays.
        let again = follow(&db, Follower::Local, "/l/access.log", async || Ok(Some(1)))
            .await
            .unwrap();
        assert_eq!(again, first);
        // A store that followed the log before follows were recorded: from its progress.
        let upgraded = follow(&db, Follower::Local, "/old/access.log", async || {
            Ok(Some(1_700_000_000))
        })
        .await
        .unwrap();
        assert_eq!(upgraded, 1_700_000_000);
        // Nodes and this proxyhub are told apart.
        assert_eq!(
            since(&db, Follower::Node(7), "/l/access.log")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            since(&db, Follower::Local, "/l/access.log").await.unwrap(),
            Some(first)
        );
    }
}
