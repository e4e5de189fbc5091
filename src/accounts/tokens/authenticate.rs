//! An API token presented with a request: the account and grant it stands for, from the
//! auth cache when it knows the token.

use sqlx::Row;

use super::{hash, Grant, Scope, PREFIX};
use crate::{
    accounts::{AuthCache, TokenRow, User},
    db::Db,
};

/// How long a token's `lastUsedAt` may lag: recording every use would be a write per request.
const LAST_USED_GRANULARITY: i64 = 60;

/// The account and grant of a presented secret; `None` if it is unknown, revoked, expired,
/// or its creator is disabled. A token the cache knows costs no database connection (its
/// `lastUsedAt`, due once a minute, is written in the background); one it does not is read
/// through `reads`.
pub async fn authenticate(
    db: &Db,
    reads: &Db,
    cache: &AuthCache,
    secret: &str,
) -> Result<Option<(User, Grant)>, sqlx::Error> {
    if !secret.starts_with(PREFIX) || secret.len() != PREFIX.len() + 64 {
        return Ok(None);
    }
    let hashed = hash(secret);
    let (row, cached) = match cache.token(&hashed) {
        Some(row) => (row, true),
        None => {
            let ticket = cache.ticket();
            let Some(row) = stored(reads, &hashed).await? else {
                return Ok(None);
            };
            if let Some(t) = ticket {
                cache.put_token(t, &hashed, &row);
            }
            (row, false)
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if row.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let Some(user) = cache.account(reads, &row.user_id).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    if row
        .last_used_at
        .is_none_or(|t| now - t >= LAST_USED_GRANULARITY)
    {
        cache.token_used(&hashed, now);
        if cached {
            let (db, id) = (db.clone(), row.id.clone());
            tokio::spawn(async move {
                if let Err(e) = record_use(&db, &id, now).await {
                    tracing::warn!(error = %e, "could not record an API token's use");
                }
            });
        } else {
            record_use(db, &row.id, now).await?;
        }
    }
    let grant = Grant {
        expires_at: row.expires_at,
        scopes: row
            .scopes
            .split_whitespace()
            .filter_map(Scope::parse)
            .filter(|s| s.role() <= user.role)
            .collect(),
        id: row.id,
        name: row.name,
    };
    Ok(Some((user, grant)))
}

/// The stored token of a secret's hash.
async fn stored(reads: &Db, hashed: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, user_id, name, scopes, expires_at, last_used_at FROM api_tokens WHERE secret_hash = $1",
    )
    .bind(hashed)
    .fetch_optional(reads)
    .await?;
    row.map(|r| {
        Ok(TokenRow {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            name: r.try_get("name")?,
            scopes: r.try_get("scopes")?,
            expires_at: r.try_get("expires_at")?,
            last_used_at: r.try_get("last_used_at")?,
        })
    })
    .transpose()
}

/// Writes when a token was last used (not a change of access: nothing is evicted).
async fn record_use(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}
