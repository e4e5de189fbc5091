//! What an account changes of itself: its picture, name and password.

use super::{AccountError, AuthCache, Evict};
use crate::{db::Db, timestamps};

/// A profile picture's address as an account gives it: at most 2,048 characters, no control
/// characters; empty is none.
pub fn check_image(image: Option<String>) -> Result<Option<String>, AccountError> {
    let Some(image) = image
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
    else {
        return Ok(None);
    };
    if image.chars().count() > 2048 || image.chars().any(char::is_control) {
        return Err(AccountError::InvalidImage);
    }
    Ok(Some(image))
}

/// Sets an account's name and picture (`None`: left as they are; `Some(None)` clears the
/// picture).
pub async fn set_profile(
    db: &Db,
    cache: &AuthCache,
    id: &str,
    name: Option<&str>,
    image: Option<Option<String>>,
) -> Result<(), sqlx::Error> {
    let now = timestamps::now();
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache.changing(&mut tx, Evict::User(id.to_string())).await?;
    let Some(before) = super::by_id_in(&mut tx, id).await? else {
        return Ok(());
    };
    if let Some(name) = name {
        sqlx::query("UPDATE users SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(image) = image {
        sqlx::query("UPDATE users SET image = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(image)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(after) = super::by_id_in(&mut tx, id).await? {
        super::updated(&mut tx, &before, &after).await?;
    }
    tx.commit().await?;
    changing.done().await;
    Ok(())
}

/// Replaces an account's password hash.
pub async fn set_password(
    db: &Db,
    cache: &AuthCache,
    id: &str,
    hash: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin_write(db).await?;
    let changing = cache.changing(&mut tx, Evict::User(id.to_string())).await?;
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(timestamps::now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    changing.done().await;
    Ok(())
}
