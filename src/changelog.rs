//! The audit trail: who changed which vhost, when, and how.

use serde::Serialize;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::{accounts::Actor, db::Db, timestamps};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Toggle,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        [
            Action::Create,
            Action::Update,
            Action::Delete,
            Action::Toggle,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Toggle => "toggle",
        }
    }
}

/// A recorded change; `diff` is JSON text, `{"old": {...}, "new": {...}}` with the fields
/// that changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ChangelogEntry)]
pub struct Entry {
    pub id: i64,
    pub user_id: Option<String>,
    pub user_name: String,
    /// The API token the change was made with, if any.
    pub token_name: Option<String>,
    pub action: String,
    pub domain: String,
    pub diff: Option<String>,
    pub created_at: String,
    /// The import this change was part of.
    pub import_id: Option<String>,
    /// The entry this change reverted.
    pub revert_of: Option<i64>,
    /// The vhost's fields after the change (before it, for a delete): what a revert needs.
    #[serde(skip)]
    pub state: Option<String>,
}

/// Records a change; call it inside the transaction that makes the change. `state` is the
/// vhost's fields after the change (before it, for a delete).
pub async fn record(
    conn: &mut AnyConnection,
    who: &Actor,
    action: Action,
    domain: &str,
    diff: Option<String>,
    state: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO changelog (user_id, user_name, token_name, action, domain, diff, created_at, \
         state, import_id, revert_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&who.user.id)
    .bind(&who.user.name)
    .bind(&who.token)
    .bind(action.as_str())
    .bind(domain)
    .bind(diff)
    .bind(timestamps::now())
    .bind(state.to_string())
    .bind(&who.import)
    .bind(who.revert_of)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE config_version SET n = n + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// The configuration's version: moved by every change [`record`]ed (in its transaction).
/// Read in the transaction that reads what it versions, it says which version that is.
pub async fn version(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT n FROM config_version WHERE id = 1")
        .fetch_one(conn)
        .await
}

pub use crate::fields::diff;

/// Which entries to list: newest first, `limit` (1–500, default 100) at a time; `before`
/// (the last id of the previous page) pages back; `domain` keeps one domain's.
#[derive(Debug, Default)]
pub struct Filter {
    pub domain: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// A filter a client asked for that cannot be answered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFilter(String);

/// A page of entries, read on `conn` (in the transaction that read [`version`], for a page
/// remembered by it).
pub async fn list(
    conn: &mut AnyConnection,
    filter: Filter,
) -> Result<Result<Vec<Entry>, InvalidFilter>, sqlx::Error> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Ok(Err(InvalidFilter(format!(
            "limit must be 1 to 500, got {limit}"
        ))));
    }
    if filter.before.is_some_and(|b| b < 1) {
        return Ok(Err(InvalidFilter(
            "before must be an entry id (1 or more)".into(),
        )));
    }
    let domain = filter
        .domain
        .map(|d| d.trim().to_lowercase())
        .filter(|d| !d.is_empty());
    if domain
        .as_deref()
        .is_some_and(|d| d.chars().any(char::is_control))
    {
        return Ok(Err(InvalidFilter("domain has control characters".into())));
    }
    let mut sql = format!("SELECT {COLUMNS} FROM changelog WHERE id < $1");
    if domain.is_some() {
        sql += " AND domain = $3";
    }
    sql += " ORDER BY id DESC LIMIT $2";
    let mut q = sqlx::query(&sql)
        .bind(filter.before.unwrap_or(i64::MAX))
        .bind(limit);
    if let Some(d) = domain {
        q = q.bind(d);
    }
    let rows = q.fetch_all(conn).await?;
    let entries = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Ok(entries))
}

const COLUMNS: &str =
    "id, user_id, user_name, token_name, action, domain, diff, created_at, state, import_id, revert_of";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        token_name: r.try_get("token_name")?,
        action: r.try_get("action")?,
        domain: r.try_get("domain")?,
        diff: r.try_get("diff")?,
        created_at: r.try_get("created_at")?,
        import_id: r.try_get("import_id")?,
        revert_of: r.try_get("revert_of")?,
        state: r.try_get("state")?,
    })
}

/// One entry.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<Entry>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM changelog WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn diff_keeps_only_changed_fields() {
        let d = super::diff(
            &json!({"domain": "a.com", "upstream": "h:1", "enabled": true}),
            &json!({"domain": "a.com", "upstream": "h:2", "enabled": true}),
        )
        .unwrap();
        assert_eq!(d, r#"{"new":{"upstream":"h:2"},"old":{"upstream":"h:1"}}"#);
        assert!(super::diff(&json!({"a": 1}), &json!({"a": 1})).is_none());
    }
}
