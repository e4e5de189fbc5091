//! Who a request is, remembered: sessions by id, accounts by id and API tokens by the hash of
//! their secret, so a request from a known caller touches no database connection.
//!
//! Every write that ends or changes access goes through [`AuthCache::changing`]: in the
//! write's transaction it notifies the other replicas (PostgreSQL, `listen.rs`), and after
//! the commit the [`Changing`] it returns evicts here (`done`, or when dropped). A fill carries the
//! [`Ticket`] taken before its read and is refused if anything was evicted since, so a read
//! that raced a write never stores what the write replaced. Entries live [`TTL`] at most, a
//! bound should an eviction ever be missed. On PostgreSQL the cache is off until this
//! replica listens, and emptied and off again whenever listening stops; a write is answered
//! once every listening replica acknowledged its eviction ([`Changing::done`]).

pub mod listen;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use time::OffsetDateTime;
use tokio::sync::oneshot;
use tower_sessions::session::Record;

use super::{sessions::USER_KEY, User};

/// How long an entry is trusted without an eviction.
pub const TTL: Duration = Duration::from_secs(15);
/// The most entries of each kind kept (sessions, accounts, tokens).
const CAPACITY: usize = 10_000;
/// The longest a write waits for the listening replicas to acknowledge it.
const ECHO_WAIT: Duration = Duration::from_secs(2);

/// What a write ended or changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evict {
    /// One session (signed out, saved again).
    Session(String),
    /// An account, with its sessions and tokens (disabled, deleted, its role, password or
    /// two-factor changed, all its sessions ended).
    User(String),
    /// One API token, by id (revoked).
    Token(String),
    /// Everything (a replica stopped hearing the others).
    All,
}

/// A stored API token as authentication needs it (never its secret).
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A write of this process's, waiting for `left` more replicas to acknowledge it.
struct Waiting {
    left: i64,
    tx: oneshot::Sender<()>,
}

/// The evictions seen when a read began; a fill with an older one is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64);

#[derive(Default)]
struct Entries {
    generation: u64,
    sessions: HashMap<String, (Instant, Record)>,
    users: HashMap<String, (Instant, User)>,
    tokens: HashMap<String, (Instant, TokenRow)>,
}

pub struct AuthCache {
    entries: Mutex<Entries>,
    /// Off while evictions from other replicas could be missed.
    enabled: AtomicBool,
    /// This process among the replicas, in its notifications.
    origin: String,
    /// The last of this process's notifications, numbered.
    sent: AtomicU64,
    /// The writes waiting for every listening replica to acknowledge them, by number.
    echoes: Mutex<HashMap<u64, Waiting>>,
}

impl Default for AuthCache {
    /// A cache for one process alone on its store (SQLite): on from the start.
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            enabled: AtomicBool::new(true),
            origin: uuid::Uuid::new_v4().simple().to_string(),
            sent: AtomicU64::new(0),
            echoes: Mutex::default(),
        }
    }
}

impl AuthCache {
    /// A cache for a store replicas may share: off until [`listen::run`] listens.
    pub fn shared(db: &crate::db::Db) -> Self {
        let cache = Self::default();
        if !crate::db::is_sqlite(db) {
            cache.enabled.store(false, Ordering::Release);
        }
        cache
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether entries are served (on PostgreSQL: while this replica listens).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns the cache on (listening again) or off (emptied: evictions may be missed).
    pub fn set_enabled(&self, on: bool) {
        let mut e = self.lock();
        evict(&mut e, &Evict::All);
        self.enabled.store(on, Ordering::Release);
        drop(e);
        // Nothing is acknowledged while not listening: no write waits for it.
        self.echoes().clear();
    }

    fn echoes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiting>> {
        self.echoes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for `replicas` acknowledgements of this process's write numbered `seq`.
    fn wait_for(&self, seq: u64, replicas: i64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.echoes().insert(seq, Waiting { left: replicas, tx });
        rx
    }

    /// A replica acknowledged this process's write numbered `seq`.
    fn acknowledged(&self, seq: u64) {
        let mut echoes = self.echoes();
        let Some(w) = echoes.get_mut(&seq) else {
            return;
        };
        w.left -= 1;
        if w.left <= 0 {
            if let Some(w) = echoes.remove(&seq) {
                let _ = w.tx.send(());
            }
        }
    }

    /// Taken before a read whose result may be kept; `None` while the cache is off.
    pub fn ticket(&self) -> Option<Ticket> {
        self.enabled().then(|| Ticket(self.lock().generation))
    }

    /// A live session's record, unless it expired.
    pub fn session(&self, id: &str) -> Option<Record> {
        let now = OffsetDateTime::now_utc();
        fresh(self, |e| &mut e.sessions, id).filter(|r| r.expiry_date > now)
    }

    pub fn user(&self, id: &str) -> Option<User> {
        fresh(self, |e| &mut e.users, id)
    }

    /// A token by the hash of its secret.
    pub fn token(&self, hash: &str) -> Option<TokenRow> {
        fresh(self, |e| &mut e.tokens, hash)
    }

    pub fn put_session(&self, ticket: Ticket, record: &Record) {
        self.put(
            ticket,
            |e| &mut e.sessions,
            record.id.to_string(),
            record.clone(),
        );
    }

    pub fn put_user(&self, ticket: Ticket, user: &User) {
        self.put(ticket, |e| &mut e.users, user.id.clone(), user.clone());
    }

    pub fn put_token(&self, ticket: Ticket, hash: &str, row: &TokenRow) {
        self.put(ticket, |e| &mut e.tokens, hash.to_string(), row.clone());
    }

    /// Records a token's use in its entry (its `last_used_at` was written).
    pub fn token_used(&self, hash: &str, at: i64) {
        if let Some((_, row)) = self.lock().tokens.get_mut(hash) {
            row.last_used_at = Some(at);
        }
    }

    fn put<T>(
        &self,
        ticket: Ticket,
        map: impl FnOnce(&mut Entries) -> &mut HashMap<String, (Instant, T)>,
        key: String,
        value: T,
    ) {
        let mut e = self.lock();
        if !self.enabled() || e.generation != ticket.0 {
            return;
        }
        let map = map(&mut e);
        if map.len() >= CAPACITY {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), value));
    }

    /// An account as authentication needs it: remembered, else read through `reads` (and
    /// remembered).
    pub async fn account(
        &self,
        reads: &crate::db::Db,
        id: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        if let Some(user) = self.user(id) {
            return Ok(Some(user));
        }
        let ticket = self.ticket();
        let user = super::by_id(reads, id).await?;
        if let (Some(t), Some(u)) = (ticket, &user) {
            self.put_user(t, u);
        }
        Ok(user)
    }

    /// Forgets what `what` names, now.
    pub fn evict(&self, what: &Evict) {
        evict(&mut self.lock(), what);
    }

    /// Marks a write that ends or changes access, inside its transaction `conn`: other
    /// replicas are told when it commits (PostgreSQL), and this one forgets when the guard
    /// drops. Keep the guard until the transaction has committed.
    pub async fn changing(
        &self,
        conn: &mut sqlx::AnyConnection,
        what: Evict,
    ) -> Result<Changing<'_>, sqlx::Error> {
        let mut echo = None;
        if !crate::db::is_sqlite_conn(conn) {
            let seq = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
            if self.enabled() {
                let replicas = listen::listeners(conn).await?;
                if replicas > 0 {
                    echo = Some((seq, self.wait_for(seq, replicas)));
                }
            }
            listen::notify(conn, &format!("{}.{seq}", self.origin), &what).await?;
        }
        self.evict(&what);
        Ok(Changing {
            cache: self,
            what,
            echo,
        })
    }
}

/// Proof that a write of the auth tables is marked (see [`AuthCache::changing`]). Call
/// [`done`](Self::done) once the transaction committed; dropped instead (the write failed),
/// it evicts all the same.
pub struct Changing<'a> {
    cache: &'a AuthCache,
    what: Evict,
    echo: Option<(u64, oneshot::Receiver<()>)>,
}

impl Changing<'_> {
    /// After the commit: evicts, and on PostgreSQL waits (2 s at most) until every
    /// listening replica acknowledged that it evicted too.
    pub async fn done(mut self) {
        self.cache.evict(&self.what);
        if let Some((_, heard)) = self.echo.take() {
            let _ = tokio::time::timeout(ECHO_WAIT, heard).await;
        }
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.cache.evict(&self.what);
        if let Some((seq, _)) = self.echo.take() {
            self.cache.echoes().remove(&seq);
        }
    }
}

fn fresh<T: Clone>(
    cache: &AuthCache,
    map: impl FnOnce(&mut Entries) -> &mut HashMap<String, (Instant, T)>,
    key: &str,
) -> Option<T> {
    if !cache.enabled() {
        return None;
    }
    let mut e = cache.lock();
    let map = map(&mut e);
    match map.get(key) {
        Some((at, v)) if at.elapsed() < TTL => Some(v.clone()),
        Some(_) => {
            map.remove(key);
            None
        }
        None => None,
    }
}

fn evict(e: &mut Entries, what: &Evict) {
    e.generation += 1;
    match what {
        Evict::Session(id) => {
            e.sessions.remove(id);
        }
        Evict::User(id) => {
            e.users.remove(id);
            e.sessions
                .retain(|_, (_, r)| r.data.get(USER_KEY).and_then(|v| v.as_str()) != Some(id));
            e.tokens.retain(|_, (_, t)| &t.user_id != id);
        }
        Evict::Token(id) => e.tokens.retain(|_, (_, t)| &t.id != id),
        Evict::All => {
            e.sessions.clear();
            e.users.clear();
            e.tokens.clear();
        }
    }
}

#[cfg(test)]
mod tests;
