//! Account lists: searched, filtered, sorted by an allowlisted field, a page at a time.

use super::{from_row, Role, User, COLUMNS};
use crate::db::Db;

/// What an account list is sorted by (an allowlist: never a client's text in SQL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
    Email,
}

impl SortBy {
    pub fn parse(s: &str) -> Option<SortBy> {
        match s {
            "createdAt" => Some(SortBy::CreatedAt),
            "updatedAt" => Some(SortBy::UpdatedAt),
            "name" => Some(SortBy::Name),
            "email" => Some(SortBy::Email),
            _ => None,
        }
    }
    fn column(self) -> &'static str {
        match self {
            SortBy::CreatedAt => "created_at",
            SortBy::UpdatedAt => "updated_at",
            SortBy::Name => "name",
            SortBy::Email => "email",
        }
    }
}

/// Which accounts to list, in which order, which page.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Part of the name or email, any case.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub sort: SortBy,
    pub descending: bool,
    pub page: crate::db::Page,
}

/// The accounts a selection keeps (one page) and how many it keeps in all.
pub async fn select(db: &Db, sel: &Selection) -> Result<(Vec<User>, i64), sqlx::Error> {
    let mut filter = crate::db::Where::default();
    if let Some(s) = &sel.search {
        let p = filter.text(crate::db::like_pattern(s));
        filter.push(format!(
            "(LOWER(name) LIKE {p} ESCAPE '\\' OR email LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(r) = sel.role {
        let p = filter.text(r.as_str().to_string());
        filter.push(format!("role = {p}"));
    }
    if let Some(d) = sel.disabled {
        let p = filter.int(i64::from(d));
        filter.push(format!("disabled = {p}"));
    }
    let total: i64 = filter
        .bind_scalar(&format!("SELECT COUNT(*) FROM users{}", filter.sql()))
        .fetch_one(db)
        .await?;
    let order = if sel.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM users{} ORDER BY {} {order}, email {order} {}",
        filter.sql(),
        sel.sort.column(),
        sel.page.sql()
    );
    let rows = filter.bind(&sql).fetch_all(db).await?;
    let users = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((users, total))
}
