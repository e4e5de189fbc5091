//! A tower-sessions store in proxyhub's own database, so sessions survive restarts and an
//! account's sessions can be ended at once (the `user_id` column is kept beside the data).

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, Error},
    SessionStore,
};

use super::cache::{AuthCache, Changing, Evict};
use crate::db::Db;

/// The key under which the signed-in account's id is kept in a session.
pub const USER_KEY: &str = "user_id";

/// Sessions are written through `db` and read, when the cache does not know them, through
/// `reads` (a pool no background writer holds).
#[derive(Clone)]
pub struct SqlSessionStore {
    db: Db,
    reads: Db,
    cache: Arc<AuthCache>,
}

impl std::fmt::Debug for SqlSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqlSessionStore")
    }
}

impl SqlSessionStore {
    pub fn new(db: Db, reads: Db, cache: Arc<AuthCache>) -> Self {
        Self { db, reads, cache }
    }

    /// Ends every session of an account (inside the caller's transaction, marked as
    /// changing that account).
    pub async fn delete_for_user(
        conn: &mut sqlx::AnyConnection,
        user_id: &str,
        _: &Changing<'_>,
    ) -> Result<u64, sqlx::Error> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected())
    }

    /// An account's live sessions: id (the cookie's token), data, expiry (Unix time).
    pub async fn for_user(
        db: &Db,
        user_id: &str,
    ) -> Result<Vec<(String, serde_json::Value, i64)>, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, data, expires_at FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, data, exp)| (id, serde_json::from_str(&data).unwrap_or_default(), exp))
            .collect())
    }

    /// Ends one of an account's sessions; whether there was one.
    pub async fn delete_one(&self, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = crate::db::begin_write(&self.db).await?;
        let changing = self
            .cache
            .changing(&mut tx, Evict::Session(id.to_string()))
            .await?;
        let r = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        changing.done().await;
        Ok(r.rows_affected() > 0)
    }

    /// Ends every session of an account but `keep`.
    pub async fn delete_others(&self, user_id: &str, keep: &str) -> Result<u64, sqlx::Error> {
        let mut tx = crate::db::begin_write(&self.db).await?;
        let changing = self
            .cache
            .changing(&mut tx, Evict::User(user_id.to_string()))
            .await?;
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        changing.done().await;
        Ok(r.rows_affected())
    }

    /// Removes expired sessions; run now and then. The cache needs no word of it: it never
    /// serves a session past its expiry.
    pub async fn delete_expired(db: &Db) -> Result<u64, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(db)
            .await?;
        Ok(r.rows_affected())
    }
}

fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

fn user_of(record: &Record) -> Option<String> {
    record
        .data
        .get(USER_KEY)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data =
                serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
            let inserted = sqlx::query(
                "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(record.id.to_string())
            .bind(user_of(record))
            .bind(data)
            .bind(record.expiry_date.unix_timestamp())
            .execute(&self.db)
            .await;
            match inserted {
                Ok(_) => return Ok(()),
                // An id collision: draw another one, as tower-sessions expects of `create`.
                Err(e) if crate::db::is_unique_violation(&e) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        let mut tx = crate::db::begin_write(&self.db).await.map_err(backend)?;
        let changing = self
            .cache
            .changing(&mut tx, Evict::Session(record.id.to_string()))
            .await
            .map_err(backend)?;
        let updated = sqlx::query(
            "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4 WHERE id = $1",
        )
        .bind(record.id.to_string())
        .bind(user_of(record))
        .bind(&data)
        .bind(record.expiry_date.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        changing.done().await;
        if updated.rows_affected() == 0 {
            // A session deleted meanwhile (sign-out elsewhere) is not brought back to life
            // unless it carries no account.
            if user_of(record).is_none() {
                let mut r = record.clone();
                return self.create(&mut r).await;
            }
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let key = id.to_string();
        if let Some(record) = self.cache.session(&key) {
            return Ok(Some(record));
        }
        let ticket = self.cache.ticket();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(&key)
        .bind(now)
        .fetch_optional(&self.reads)
        .await
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data = serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(expires_at)
            .map_err(|e| Error::Decode(e.to_string()))?;
        let record = Record {
            id: *id,
            data,
            expiry_date,
        };
        if let Some(ticket) = ticket {
            self.cache.put_session(ticket, &record);
        }
        Ok(Some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut tx = crate::db::begin_write(&self.db).await.map_err(backend)?;
        let changing = self
            .cache
            .changing(&mut tx, Evict::Session(id.to_string()))
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        changing.done().await;
        Ok(())
    }
}

/// Removes expired sessions (and, on PostgreSQL, the rate limits' spent counts) every hour,
/// and, on PostgreSQL, follows the other replicas' auth evictions (`cache/listen.rs`), until
/// `stop`. A worker (see `workers.rs`).
pub async fn expire(
    db: Db,
    cache: Arc<AuthCache>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listening = super::cache::listen::run(crate::cluster::shared_url(&db), cache, stop.clone());
    let mut stop = stop;
    let expiring = async move {
        loop {
            if let Err(e) = SqlSessionStore::delete_expired(&db).await {
                tracing::warn!(error = %e, "could not remove expired sessions");
            }
            if !crate::db::is_sqlite(&db) {
                if let Err(e) = crate::cluster::limits::prune(&db).await {
                    tracing::warn!(error = %e, "could not remove spent rate-limit counts");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
    };
    tokio::try_join!(listening, expiring).map(drop)
}
