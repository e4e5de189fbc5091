//! Accounts: who may sign in and what each may do. Their rows, the rules for their fields,
//! password hashing, the sessions store and the sign-in attempt limits.

pub mod cache;
mod changes;
pub mod linked;
mod list;
pub mod password;
mod profile;
pub mod ratelimit;
pub mod sessions;
pub mod tokens;
pub mod trusted_devices;
pub mod two_factor;

use serde::Serialize;
use sqlx::{any::AnyRow, Row};

use crate::{db::Db, events, timestamps};
pub use cache::{AuthCache, Changing, Evict, TokenRow};
pub(crate) use changes::updated;
use changes::user_data;
pub use changes::{change, remove, AccountChange};
pub use list::{select, Selection, SortBy};
pub use profile::{check_image, set_password, set_profile};
use sessions::SqlSessionStore;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid email address")]
    InvalidEmail,
    #[error("password must be at least {} characters", password::MIN_LEN)]
    PasswordTooShort,
    #[error("password must be at most {} characters", password::MAX_LEN)]
    PasswordTooLong,
    #[error("name must be 1 to 100 characters, without control characters")]
    InvalidName,
    #[error("image must be at most 2048 characters, without control characters")]
    InvalidImage,
    #[error("role must be admin, editor or viewer, got {0:?}")]
    InvalidRole(String),
    #[error("no account with id {0}")]
    NotFound(String),
    #[error("an account with email {0} already exists")]
    EmailTaken(String),
    #[error("this is the last active admin: make another admin first")]
    LastAdmin,
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// What an account may do: admins everything, editors change vhosts, viewers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// A role a client names, or why it is refused.
    pub fn named(s: &str) -> Result<Role, AccountError> {
        Role::parse(s).ok_or_else(|| AccountError::InvalidRole(s.to_string()))
    }
}

/// An account's display name, trimmed: 1 to 100 characters.
pub fn check_name(name: &str) -> Result<&str, AccountError> {
    if name.chars().count() > 100 {
        return Err(AccountError::InvalidName);
    }
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(AccountError::InvalidName);
    }
    Ok(name)
}

/// An email address as accounts are known by: one `@`, a dotted domain, no spaces.
pub fn check_email(email: &str) -> Result<(), AccountError> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(AccountError::InvalidEmail)
    }
}

/// Who makes a change and how: an account, the name of the API token it was made with, the
/// import it is part of, the changelog entry it reverts.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: User,
    pub token: Option<String>,
    pub import: Option<String>,
    pub revert_of: Option<i64>,
}

/// An account as the API shows it (Better Auth's user shape plus `role`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub role: Role,
    pub created_at: String,
    pub updated_at: String,
    pub disabled: bool,
    /// Whether signing in asks for a code from an authenticator app too.
    pub two_factor_enabled: bool,
    #[serde(skip)]
    pub password_hash: String,
}

impl User {
    /// Whether the account can sign in with a password (one created by single sign-on cannot).
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }
}

const COLUMNS: &str =
    "id, name, email, email_verified, image, role, disabled, two_factor_enabled, password_hash, \
     created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        email_verified: crate::db::flag(r, "email_verified")?,
        image: r.try_get("image")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        disabled: crate::db::flag(r, "disabled")?,
        two_factor_enabled: crate::db::flag(r, "two_factor_enabled")?,
        password_hash: r.try_get("password_hash")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// [`by_id`] inside a transaction.
pub async fn by_id_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<User>, sqlx::Error> {
    by_id_in(&mut *db.acquire().await?, id).await
}

/// Looks an account up by email, case-insensitively (emails are stored lowercased).
pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    if email.chars().any(char::is_control) {
        // No account has one (and PostgreSQL refuses a NUL in text).
        return Ok(None);
    }
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    sqlx::query(&sql)
        .bind(email.to_lowercase())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password_hash: String,
    pub image: Option<String>,
    /// Whether someone vouched for the email (an identity provider).
    pub email_verified: bool,
}

/// What [`create`] did.
pub enum Created {
    Yes(User),
    EmailTaken,
    SignupClosed,
}

/// Creates an account. The first account ever created is an admin; later ones get
/// `later_role`, and only when `open` (self sign-up allowed, or an admin creating it).
pub async fn create(
    db: &Db,
    new: NewUser<'_>,
    later_role: Role,
    open: bool,
) -> Result<Created, sqlx::Error> {
    // Two first sign-ups at once must not both become admin: take the write lock first
    // (SQLite), or lock the table (PostgreSQL).
    let mut tx = crate::db::begin_write(db).await?;
    if !crate::db::is_sqlite(db) {
        sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    if count > 0 && !open {
        return Ok(Created::SignupClosed);
    }
    let role = if count == 0 { Role::Admin } else { later_role };
    let now = timestamps::now();
    let user = User {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: new.name.to_string(),
        email: new.email.to_lowercase(),
        email_verified: new.email_verified,
        two_factor_enabled: false,
        image: new.image,
        role,
        disabled: false,
        password_hash: new.password_hash,
        created_at: now.clone(),
        updated_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO users (id, name, email, email_verified, image, role, disabled, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $9, $8, $4, 0, $5, $6, $7)",
    )
    .bind(&user.id)
    .bind(&user.name)
    .bind(&user.email)
    .bind(role.as_str())
    .bind(&user.password_hash)
    .bind(&user.created_at)
    .bind(&user.updated_at)
    .bind(&user.image)
    .bind(i64::from(user.email_verified))
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(Created::EmailTaken),
        Err(e) => return Err(e),
    }
    events::emit(&mut tx, events::Kind::UserCreated, user_data(&user, None)).await?;
    tx.commit().await?;
    Ok(Created::Yes(user))
}

/// Whether any account exists yet (the first one becomes admin).
pub async fn any_exist(db: &Db) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}

pub async fn all(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    Ok(select(db, &Selection::default()).await?.0)
}

/// Counts active admins other than `except`.
pub async fn other_active_admins(
    conn: &mut sqlx::AnyConnection,
    except: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
    )
    .bind(except)
    .fetch_one(conn)
    .await
}

/// Saves role, name and the disabled flag (in a transaction marked as changing the account).
pub async fn update(
    conn: &mut sqlx::AnyConnection,
    u: &User,
    _: &Changing<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET name = $2, role = $3, disabled = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(&u.id)
    .bind(&u.name)
    .bind(u.role.as_str())
    .bind(i64::from(u.disabled))
    .bind(&u.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    changing: &Changing<'_>,
) -> Result<(), sqlx::Error> {
    SqlSessionStore::delete_for_user(&mut *conn, id, changing).await?;
    tokens::delete_for_user(&mut *conn, id, changing).await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
