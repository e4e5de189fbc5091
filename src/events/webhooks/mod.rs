//! Webhooks: where events are sent, signed, at least once and in order, retried with
//! backoff for a day. The rows and their rules are here; `deliver.rs` sends one event (the
//! signature, the address check against server-side request forgery), `dispatch.rs` is the
//! worker that walks each webhook through the outbox.

mod deliver;
mod dispatch;

use rand::{rngs::OsRng, RngCore};
use serde::Serialize;
use sqlx::Row;

pub use deliver::{check_url, send, Sent, SsrfPolicy};
pub use dispatch::run;

use super::{matches, Kind};
use crate::{db::Db, digest::hex, timestamps};

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Invalid(String),
    #[error("no webhook with id {0}")]
    NotFound(String),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// A webhook as the API shows it (never its secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The events it takes; `*` for all.
    pub events: Vec<String>,
    pub created_at: String,
    /// Attempts at the event it is on (0 when it is up to date).
    pub failing_attempts: i64,
    #[serde(skip)]
    pub secret: String,
    #[serde(skip)]
    pub delivered_through: i64,
    #[serde(skip)]
    pub retry_at: i64,
    /// When the event it is on first failed (Unix seconds; 0 when up to date).
    #[serde(skip)]
    pub failing_since: i64,
}

impl Webhook {
    pub fn takes(&self, event: &str) -> bool {
        matches(&self.events, event)
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Webhook, sqlx::Error> {
    let events: String = r.try_get("events")?;
    Ok(Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        failing_attempts: r.try_get("attempts")?,
        secret: r.try_get("secret")?,
        delivered_through: r.try_get("delivered_through")?,
        retry_at: r.try_get("retry_at")?,
        failing_since: r.try_get("failing_since")?,
    })
}

const COLUMNS: &str =
    "id, url, events, secret, created_at, delivered_through, attempts, retry_at, failing_since";

/// The events a webhook may ask for: known kinds, or `*`; at least one.
pub fn check_events(events: &[String]) -> Result<Vec<String>, WebhookError> {
    if events.is_empty() {
        return Err(WebhookError::Invalid(
            "events: name at least one event, or \"*\" for all".into(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if e != "*" && Kind::parse(e).is_none() {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(WebhookError::Invalid(format!(
                "events: {e:?} is not an event; known: *, {}",
                known.join(", ")
            )));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// A secret: given (16 to 256 printable characters), or 32 random bytes as hex.
fn check_secret(secret: Option<String>) -> Result<String, WebhookError> {
    match secret {
        Some(s) if (16..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(s)
        }
        Some(_) => Err(WebhookError::Invalid(
            "secret: 16 to 256 printable characters without spaces (or leave it out and one is made)"
                .into(),
        )),
        None => {
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            Ok(format!("whsec_{}", hex(&bytes)))
        }
    }
}

/// Saves a webhook that starts with the next event; returns it and its secret.
pub async fn create(
    db: &Db,
    url: &str,
    events: &[String],
    secret: Option<String>,
    by: &str,
    policy: SsrfPolicy,
) -> Result<(Webhook, String), WebhookError> {
    let url = check_url(url, policy)
        .await
        .map_err(|e| WebhookError::Invalid(format!("url: {e}")))?;
    let events = check_events(events)?;
    let secret = check_secret(secret)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = timestamps::now();
    let mut tx = crate::db::begin_write(db).await?;
    let through: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM outbox")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO webhooks (id, url, events, secret, created_by, created_at, delivered_through, attempts, retry_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0)",
    )
    .bind(&id)
    .bind(&url)
    .bind(serde_json::to_string(&events).unwrap_or_default())
    .bind(&secret)
    .bind(by)
    .bind(&now)
    .bind(through.unwrap_or(0))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let hook = by_id(db, &id)
        .await?
        .ok_or_else(|| WebhookError::NotFound(id.clone()))?;
    Ok((hook, secret))
}

pub async fn all(db: &Db) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id"
    ))
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Webhook>, sqlx::Error> {
    if id.chars().any(char::is_control) {
        return Ok(None);
    }
    sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn remove(db: &Db, id: &str) -> Result<Webhook, WebhookError> {
    let hook = by_id(db, id)
        .await?
        .ok_or_else(|| WebhookError::NotFound(id.to_string()))?;
    let mut tx = crate::db::begin_write(db).await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(hook)
}

/// One attempt at delivering an event, as the deliveries list shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The `X-Proxyhub-Delivery` header: the same for every attempt at one event.
    pub delivery_id: String,
    pub event: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// The receiver's status code; none when it could not be reached.
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub created_at: String,
}

/// Keeps an attempt (and only the newest 200 of a webhook).
pub async fn record(db: &Db, hook: &str, d: &Delivery) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, delivery_id, event, attempt, status_code, duration_ms, error, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(hook)
    .bind(&d.delivery_id)
    .bind(&d.event)
    .bind(d.attempt)
    .bind(d.status_code)
    .bind(d.duration_ms)
    .bind(&d.error)
    .bind(&d.created_at)
    .execute(db)
    .await?;
    sqlx::query(
        "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id <= \
         (SELECT id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT 1 OFFSET 200)",
    )
    .bind(hook)
    .execute(db)
    .await?;
    Ok(())
}

/// A webhook's recent attempts, newest first.
pub async fn deliveries(db: &Db, hook: &str, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT delivery_id, event, attempt, status_code, duration_ms, error, created_at \
         FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(hook)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Delivery {
                delivery_id: r.try_get("delivery_id")?,
                event: r.try_get("event")?,
                attempt: r.try_get("attempt")?,
                status_code: r.try_get("status_code")?,
                duration_ms: r.try_get("duration_ms")?,
                error: r.try_get("error")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Where a webhook moves to: done through `through`, and the retry of the next event.
pub struct Step {
    pub through: i64,
    pub attempts: i64,
    pub retry_at: i64,
    pub failing_since: i64,
}

/// Moves a webhook on, from where it stood (`from`); false if it no longer stands there
/// (moved by another walker, or deleted).
pub async fn advance(db: &Db, hook: &str, from: i64, step: &Step) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhooks SET delivered_through = $3, attempts = $4, retry_at = $5, failing_since = $6          WHERE id = $1 AND delivered_through = $2",
    )
    .bind(hook)
    .bind(from)
    .bind(step.through)
    .bind(step.attempts)
    .bind(step.retry_at)
    .bind(step.failing_since)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
