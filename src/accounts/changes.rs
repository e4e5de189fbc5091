//! What changes an account after it is made (an admin's change, its deletion), and the
//! account events that say so, written in the change's transaction.

use super::{
    by_id_in, check_name, delete, other_active_admins, sessions::SqlSessionStore, update,
    AccountError, AuthCache, Evict, Role, User,
};
use crate::{db::Db, events, timestamps};

/// An account as its events carry it: as the API shows it, with the diff of an update.
pub(super) fn user_data(user: &User, diff: Option<serde_json::Value>) -> serde_json::Value {
    let mut data = serde_json::to_value(user).unwrap_or_default();
    if let (Some(d), serde_json::Value::Object(map)) = (diff, &mut data) {
        map.insert("diff".into(), d);
    }
    data
}

/// The `user.updated` event of a change from `before` to `after`, if anything an admin sees
/// changed (inside the change's transaction).
pub(crate) async fn updated(
    conn: &mut sqlx::AnyConnection,
    before: &User,
    after: &User,
) -> Result<(), sqlx::Error> {
    let view = |u: &User| serde_json::json!({"name": u.name, "role": u.role, "disabled": u.disabled, "image": u.image});
    let Some(diff) = crate::fields::diff(&view(before), &view(after)) else {
        return Ok(());
    };
    let diff = serde_json::from_str(&diff).unwrap_or_default();
    events::emit(
        conn,
        events::Kind::UserUpdated,
        user_data(after, Some(diff)),
    )
    .await
}

/// What an admin may change of an account.
pub struct AccountChange {
    pub name: Option<String>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

/// Changes an account; disabling it ends its sessions at once. Refused when no active admin
/// would be left.
pub async fn change(
    db: &Db,
    cache: &AuthCache,
    id: &str,
    change: AccountChange,
) -> Result<User, AccountError> {
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache.changing(&mut tx, Evict::User(id.to_string())).await?;
    let mut user = by_id_in(&mut tx, id)
        .await?
        .ok_or_else(|| AccountError::NotFound(id.to_string()))?;
    let before = user.clone();
    if let Some(name) = change.name {
        user.name = check_name(&name)?.to_string();
    }
    if let Some(r) = change.role {
        user.role = Role::named(&r)?;
    }
    if let Some(d) = change.disabled {
        user.disabled = d;
    }
    let stays_admin = user.role == Role::Admin && !user.disabled;
    if !stays_admin && other_active_admins(&mut tx, &user.id).await? == 0 {
        return Err(AccountError::LastAdmin);
    }
    user.updated_at = timestamps::now();
    update(&mut tx, &user, &changing).await?;
    if user.disabled {
        SqlSessionStore::delete_for_user(&mut tx, &user.id, &changing).await?;
    }
    updated(&mut tx, &before, &user).await?;
    tx.commit().await?;
    changing.done().await;
    Ok(user)
}

/// Deletes an account and its sessions, unless it is the last active admin.
pub async fn remove(db: &Db, cache: &AuthCache, id: &str) -> Result<User, AccountError> {
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache.changing(&mut tx, Evict::User(id.to_string())).await?;
    let user = by_id_in(&mut tx, id)
        .await?
        .ok_or_else(|| AccountError::NotFound(id.to_string()))?;
    if other_active_admins(&mut tx, &user.id).await? == 0 {
        return Err(AccountError::LastAdmin);
    }
    delete(&mut tx, &user.id, &changing).await?;
    events::emit(&mut tx, events::Kind::UserDeleted, user_data(&user, None)).await?;
    tx.commit().await?;
    changing.done().await;
    Ok(user)
}
