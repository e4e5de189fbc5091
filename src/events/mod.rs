//! Events: what changed (a vhost, an account, a token) or happened (the proxy refused a
//! config, went away, came back). A change's event is written to the outbox in the change's
//! own transaction, so there is an event for every change that committed and none for one
//! that rolled back, through restarts and `kill -9`. Webhooks (`webhooks.rs`) and live
//! streams (`http/events.rs`) read the outbox from there; [`Feed`] tells them, in process,
//! when there is something new.

pub mod feed;
pub mod webhooks;

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use crate::{db::Db, timestamps};
pub use feed::Feed;

/// The kinds of event, as webhooks subscribe to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    VhostCreated,
    VhostUpdated,
    VhostDeleted,
    VhostToggled,
    ProxyApplyFailed,
    ProxyDriftRepaired,
    ProxyUnreachable,
    ProxyRecovered,
    UserCreated,
    UserUpdated,
    UserDeleted,
    TokenCreated,
    TokenRevoked,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::VhostCreated,
        Kind::VhostUpdated,
        Kind::VhostDeleted,
        Kind::VhostToggled,
        Kind::ProxyApplyFailed,
        Kind::ProxyDriftRepaired,
        Kind::ProxyUnreachable,
        Kind::ProxyRecovered,
        Kind::UserCreated,
        Kind::UserUpdated,
        Kind::UserDeleted,
        Kind::TokenCreated,
        Kind::TokenRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VhostCreated => "vhost.created",
            Kind::VhostUpdated => "vhost.updated",
            Kind::VhostDeleted => "vhost.deleted",
            Kind::VhostToggled => "vhost.toggled",
            Kind::ProxyApplyFailed => "proxy.apply_failed",
            Kind::ProxyDriftRepaired => "proxy.drift_repaired",
            Kind::ProxyUnreachable => "proxy.unreachable",
            Kind::ProxyRecovered => "proxy.recovered",
            Kind::UserCreated => "user.created",
            Kind::UserUpdated => "user.updated",
            Kind::UserDeleted => "user.deleted",
            Kind::TokenCreated => "token.created",
            Kind::TokenRevoked => "token.revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether an event named `event` is one a subscriber to `patterns` takes (`*` takes all).
pub fn matches(patterns: &[String], event: &str) -> bool {
    patterns.iter().any(|p| p == "*" || p == event)
}

/// Writes an event to the outbox; call it inside the transaction of the change it describes.
pub async fn emit(conn: &mut AnyConnection, kind: Kind, data: Value) -> Result<(), sqlx::Error> {
    if !crate::db::is_sqlite_conn(conn) {
        // Events must become visible in id order: a reader that has seen id N must never see
        // N-1 appear later. SQLite has one writer at a time; PostgreSQL takes ids from a
        // sequence as transactions start, so writers of events take turns until they commit.
        sqlx::query("LOCK TABLE outbox IN EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await?;
    }
    let now = time::OffsetDateTime::now_utc();
    sqlx::query("INSERT INTO outbox (event, data, created_at, created_us) VALUES ($1, $2, $3, $4)")
        .bind(kind.as_str())
        .bind(data.to_string())
        .bind(timestamps::iso(now))
        .bind((now.unix_timestamp_nanos() / 1000) as i64)
        .execute(&mut *conn)
        .await?;
    if !crate::db::is_sqlite_conn(conn) {
        // Every replica's feed wakes when the transaction commits (PostgreSQL delivers a
        // notification then, once per transaction however many events it wrote).
        sqlx::query("SELECT pg_notify($1, '')::text")
            .bind(feed::CHANNEL)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Writes an event of its own (something that happened, not a change), in a transaction of
/// its own.
pub async fn emit_now(db: &Db, kind: Kind, data: Value) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin_write(db).await?;
    emit(&mut tx, kind, data).await?;
    tx.commit().await
}

/// An event as stored, and as webhooks and streams send it.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// The outbox id: increasing, the stream's `id:` and what `Last-Event-ID` resumes from.
    #[serde(skip)]
    pub seq: i64,
    /// `evt_<seq>`.
    pub id: String,
    pub event: String,
    pub timestamp: String,
    pub data: Value,
    #[serde(skip)]
    pub created_us: i64,
}

impl Event {
    /// The body a webhook receives: `{id, event, timestamp, data}`.
    pub fn body(&self) -> Value {
        json!({ "id": self.id, "event": self.event, "timestamp": self.timestamp, "data": self.data })
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Event, sqlx::Error> {
    let seq: i64 = r.try_get("id")?;
    let data: String = r.try_get("data")?;
    Ok(Event {
        seq,
        id: format!("evt_{seq}"),
        event: r.try_get("event")?,
        timestamp: r.try_get("created_at")?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        created_us: r.try_get("created_us")?,
    })
}

/// Up to `limit` events after `seq`, oldest first.
pub async fn after(db: &Db, seq: i64, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query(
        "SELECT id, event, data, created_at, created_us FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The newest event's `seq` (0 when there is none).
pub async fn newest(db: &Db) -> Result<i64, sqlx::Error> {
    let n: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM outbox")
        .fetch_one(db)
        .await?;
    Ok(n.unwrap_or(0))
}

/// Forgets events older than `days` that every webhook is done with.
pub async fn prune(db: &Db, days: i64) -> Result<u64, sqlx::Error> {
    let before = (time::OffsetDateTime::now_utc().unix_timestamp() - days * 86_400) * 1_000_000;
    let done = sqlx::query(
        "DELETE FROM outbox WHERE created_us < $1 \
         AND id <= COALESCE((SELECT MIN(delivered_through) FROM webhooks), id)",
    )
    .bind(before)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
