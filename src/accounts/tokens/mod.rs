//! API tokens: long-lived secrets for scripts and CI, each with scopes, used as
//! `Authorization: Bearer phk_…`. Only a SHA-256 of the secret is stored (a token is 256
//! random bits: a slow hash would add nothing but cost per request). A token never grants
//! more than its creator's role allows, now: its scopes are narrowed to the role on every use,
//! and it stops working with a disabled or deleted creator.

mod authenticate;
mod scope;

use rand::RngCore;
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

use super::{AuthCache, Changing, Evict, Role, User};
use crate::{
    db::Db,
    digest::{hex, sha256_hex},
    events, timestamps,
};
pub use authenticate::authenticate;
pub use scope::{parse_scopes, Scope};

/// Why a token could not be created or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("your account is {role} and cannot grant the {scope} scope")]
    BeyondRole { role: &'static str, scope: Scope },
    #[error("no token with id {0}")]
    NotFound(String),
    #[error("a token can revoke itself, or tokens that can do no more than it")]
    BeyondToken,
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    #[schema(example = "4f1c2a9e0b7d4e2f8a6c3b5d7e9f1a2b")]
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub user_id: String,
    pub user_name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: Token,
    /// The secret, `phk_` and 64 hex digits.
    #[schema(pattern = "^phk_[0-9a-f]{64}$")]
    pub token: String,
}

/// What a valid token presented with a request grants.
#[derive(Clone, Debug)]
pub struct Grant {
    pub id: String,
    pub name: String,
    /// When the token stops working (Unix time), if ever.
    pub expires_at: Option<i64>,
    /// The token's scopes that its creator's role still allows.
    pub scopes: Vec<Scope>,
}

pub const PREFIX: &str = "phk_";
pub const MAX_DAYS: i64 = 3650;

fn hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

fn iso(epoch: Option<i64>) -> Option<String> {
    timestamps::iso_epoch(epoch)
}

/// A listed token, its scopes as they work now: narrowed to its creator's current role.
fn from_row(r: &AnyRow) -> Result<Token, sqlx::Error> {
    let scopes: String = r.try_get("scopes")?;
    let role = Role::parse(&r.try_get::<String, _>("user_role")?).unwrap_or(Role::Viewer);
    Ok(Token {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: scopes
            .split_whitespace()
            .filter_map(Scope::parse)
            .filter(|s| s.role() <= role)
            .collect(),
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        created_at: r.try_get("created_at")?,
        expires_at: iso(r.try_get("expires_at")?),
        last_used_at: iso(r.try_get("last_used_at")?),
    })
}

const SELECT: &str = "SELECT t.id, t.name, t.scopes, t.user_id, u.name AS user_name, \
     u.role AS user_role, t.created_at, t.expires_at, t.last_used_at \
     FROM api_tokens t JOIN users u ON u.id = t.user_id";

/// Creates a token for `owner` with `scopes`, all within the owner's role.
/// `not_after`: the latest expiry allowed (a token minted with a token expires no later
/// than it).
pub async fn create(
    db: &Db,
    owner: &User,
    name: &str,
    scopes: Vec<Scope>,
    expires_in_days: Option<i64>,
    not_after: Option<i64>,
) -> Result<CreatedToken, TokenError> {
    if name.chars().count() > 100 {
        return Err(TokenError::Invalid(
            "name must be at most 100 characters".into(),
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(TokenError::Invalid(
            "name must be 1 to 100 characters, without control characters".into(),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| s.role() > owner.role) {
        return Err(TokenError::BeyondRole {
            role: owner.role.as_str(),
            scope: *s,
        });
    }
    if let Some(d) = expires_in_days {
        if !(1..=MAX_DAYS).contains(&d) {
            return Err(TokenError::Invalid(format!(
                "expiresInDays must be 1 to {MAX_DAYS}, got {d}"
            )));
        }
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", hex(&bytes));
    let now = time::OffsetDateTime::now_utc();
    let asked = expires_in_days.map(|d| now.unix_timestamp() + d * 86_400);
    let expires = match (asked, not_after) {
        (Some(a), Some(n)) => Some(a.min(n)),
        (a, n) => a.or(n),
    };
    let token = Token {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: name.to_string(),
        scopes,
        user_id: owner.id.clone(),
        user_name: owner.name.clone(),
        created_at: timestamps::iso(now),
        expires_at: iso(expires),
        last_used_at: None,
    };
    let scope_text: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
    let mut tx = crate::db::begin_write(db).await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, secret_hash, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&token.id)
    .bind(&token.user_id)
    .bind(&token.name)
    .bind(hash(&secret))
    .bind(scope_text.join(" "))
    .bind(&token.created_at)
    .bind(expires)
    .execute(&mut *tx)
    .await?;
    events::emit(
        &mut tx,
        events::Kind::TokenCreated,
        serde_json::to_value(&token).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedToken {
        info: token,
        token: secret,
    })
}

/// Tokens, newest first: one account's, or everyone's (`None`).
pub async fn list(db: &Db, owner: Option<&str>) -> Result<Vec<Token>, sqlx::Error> {
    let rows = match owner {
        Some(id) => {
            sqlx::query(&format!(
                "{SELECT} WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id"
            ))
            .bind(id)
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query(&format!("{SELECT} ORDER BY t.created_at DESC, t.id"))
                .fetch_all(db)
                .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Revokes a token at once. `owner`: only if it is that account's (else it is not found);
/// `may`: whether the caller may revoke this one.
pub async fn revoke(
    db: &Db,
    cache: &AuthCache,
    id: &str,
    owner: Option<&str>,
    may: impl Fn(&Token) -> bool,
) -> Result<Token, TokenError> {
    let row = sqlx::query(&format!("{SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    let token = match row.as_ref().map(from_row).transpose()? {
        Some(t) if owner.is_none_or(|o| o == t.user_id) => t,
        _ => return Err(TokenError::NotFound(id.to_string())),
    };
    if !may(&token) {
        return Err(TokenError::BeyondToken);
    }
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache
        .changing(&mut tx, Evict::Token(id.to_string()))
        .await?;
    sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    events::emit(
        &mut tx,
        events::Kind::TokenRevoked,
        serde_json::to_value(&token).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    changing.done().await;
    Ok(token)
}

/// Whether the token `id` still exists and has not expired.
pub async fn still_valid(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT expires_at FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(row.is_some_and(|(expires,)| expires.is_none_or(|t| t > now)))
}

/// Removes every token of an account (inside the caller's transaction, marked as changing
/// that account).
pub async fn delete_for_user(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    _: &Changing<'_>,
) -> Result<(), sqlx::Error> {
    let gone: Vec<Token> = sqlx::query(&format!("{SELECT} WHERE t.user_id = $1"))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()?;
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    // Each goes with its account, and says so.
    for token in gone {
        events::emit(
            conn,
            events::Kind::TokenRevoked,
            serde_json::to_value(&token).unwrap_or_default(),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_known_deduplicated_and_ordered() {
        let s = |v: &[&str]| parse_scopes(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["write:vhosts", "read:vhosts", "write:vhosts"]).unwrap(),
            [Scope::WriteVhosts, Scope::ReadVhosts]
        );
        assert!(s(&[]).is_err());
        assert!(s(&["read:everything"]).is_err());
        assert_eq!(Scope::WriteVhosts.role(), Role::Editor);
    }
}
