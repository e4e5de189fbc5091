//! PostgreSQL advisory locks held at the session level, each on a connection of its own (not
//! the pool's: a pooled connection goes back to the pool, the lock with it). When a replica
//! dies, even by SIGKILL, its connections close and PostgreSQL releases what they held.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use sqlx::{postgres::PgConnection, Connection};
use tokio::sync::{Mutex, MutexGuard};

use super::{shared_url, APPLY_KEY};
use crate::db::Db;

/// How long connecting to the store may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// How long a replica waits for its turn before the changes waiting are told the store
/// failed (a push takes seconds at most, even at 10,000 sites).
const TURN_WITHIN: &str = "60s";

async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    let mut conn = tokio::time::timeout(CONNECT_WITHIN, PgConnection::connect(url))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    sqlx::query(&format!("SET lock_timeout = '{TURN_WITHIN}'"))
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// The turn to bring the store and the proxy together: one replica at a time.
pub struct Serializer {
    shared: Option<Shared>,
}

struct Shared {
    url: String,
    conn: Mutex<Option<PgConnection>>,
}

impl Serializer {
    /// In process on SQLite; across replicas on PostgreSQL.
    pub fn new(db: &Db) -> Self {
        Self {
            shared: shared_url(db).map(|url| Shared {
                url,
                conn: Mutex::new(None),
            }),
        }
    }

    /// Waits for the turn (callers in one process take turns among themselves first).
    pub async fn turn(&self) -> Result<Turn<'_>, sqlx::Error> {
        let Some(shared) = &self.shared else {
            return Ok(Turn { conn: None });
        };
        let mut conn = shared.conn.lock().await;
        let taken = async {
            if conn.is_none() {
                *conn = Some(connect(&shared.url).await?);
            }
            let c = conn.as_mut().expect("connected");
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(APPLY_KEY)
                .execute(&mut *c)
                .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match taken {
            Ok(()) => Ok(Turn { conn: Some(conn) }),
            Err(e) => {
                // Closed: whatever it held is released.
                *conn = None;
                Err(e)
            }
        }
    }
}

/// A replica's turn, until [`Turn::release`] (or dropped: then its connection is closed,
/// which releases the lock too).
pub struct Turn<'a> {
    conn: Option<MutexGuard<'a, Option<PgConnection>>>,
}

impl Turn<'_> {
    pub async fn release(mut self) {
        let Some(mut guard) = self.conn.take() else {
            return;
        };
        let Some(c) = guard.as_mut() else { return };
        let unlocked: Result<bool, _> = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
            .bind(APPLY_KEY)
            .fetch_one(&mut *c)
            .await;
        match unlocked {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!("the turn to change the proxy was lost while it was taken");
            }
            Err(e) => {
                tracing::warn!(error = %e, "the turn to change the proxy could not be released; closing its connection");
                *guard = None;
            }
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(mut guard) = self.conn.take() {
            *guard = None;
        }
    }
}

/// Work one replica does for all (the reconciler, webhook deliveries): held by whichever
/// replica took it first, until it dies or loses its connection. Always held on SQLite.
pub struct Lease {
    key: i64,
    url: Option<String>,
    conn: Mutex<Option<PgConnection>>,
    held: AtomicBool,
}

impl Lease {
    pub fn new(db: &Db, key: i64) -> Self {
        let url = shared_url(db);
        Self {
            key,
            held: AtomicBool::new(url.is_none()),
            url,
            conn: Mutex::new(None),
        }
    }

    /// Whether this replica held the lease at the last [`Self::hold`].
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Keeps the lease (its connection still answers) or takes it if it is free; whether
    /// this replica holds it now.
    pub async fn hold(&self) -> bool {
        let Some(url) = &self.url else { return true };
        let mut conn = self.conn.lock().await;
        let held = match self.try_hold(&mut conn, url).await {
            Ok(held) => held,
            Err(e) => {
                if self.held() {
                    tracing::warn!(error = %e, "a lease's connection failed; the lease is lost");
                }
                *conn = None;
                false
            }
        };
        self.held.store(held, Ordering::Release);
        held
    }

    async fn try_hold(
        &self,
        conn: &mut Option<PgConnection>,
        url: &str,
    ) -> Result<bool, sqlx::Error> {
        if conn.is_none() {
            *conn = Some(connect(url).await?);
        }
        let c = conn.as_mut().expect("connected");
        if self.held() {
            sqlx::query("SELECT 1").execute(&mut *c).await?;
            return Ok(true);
        }
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut *c)
            .await
    }
}
