//! Vhost rows.

use serde::Serialize;
use sqlx::{any::AnyRow, AnyConnection, Row};

use crate::{
    apply::{BoxFuture, DesiredState},
    proxy::{site, Features, Site},
};

/// A virtual host as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vhost {
    pub id: i64,
    pub domain: String,
    pub config: Option<String>,
    pub enabled: bool,
    /// The first of `upstreams` (the single upstream of most vhosts).
    pub upstream: Option<String>,
    #[serde(flatten)]
    pub features: Features,
    pub created_at: String,
    pub updated_at: String,
    /// Moves with every write; answers carry it as their `ETag`.
    #[serde(skip)]
    pub version: i64,
}

impl Vhost {
    /// The entity tag of this version: `"<version>"`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    pub fn site(&self) -> Site {
        Site {
            domain: self.domain.clone(),
            config: self.config.clone(),
            upstream: self.upstream.clone(),
            features: self.features.clone(),
        }
    }

    /// Every host name the vhost answers.
    pub fn names(&self) -> Vec<String> {
        self.features.names(&self.domain)
    }
}

const COLUMNS: &str =
    "id, domain, config, enabled, upstream, options, created_at, updated_at, version";

/// The stored features; the upstream list always holds the single upstream too.
fn features(upstream: &Option<String>, options: Option<String>) -> Result<Features, sqlx::Error> {
    let mut f = site::from_stored(options.as_deref()).map_err(|e| sqlx::Error::Decode(e.into()))?;
    if f.upstreams.is_empty() {
        f.upstreams = upstream.iter().cloned().collect();
    }
    Ok(f)
}

/// The features as the `options` column keeps them: none for a plain vhost.
fn options(f: &Features) -> Option<String> {
    let mut f = f.clone();
    if f.upstreams.len() <= 1 {
        f.upstreams.clear();
    }
    site::stored_json(&f)
}

fn from_row(r: &AnyRow) -> Result<Vhost, sqlx::Error> {
    let upstream: Option<String> = r.try_get("upstream")?;
    Ok(Vhost {
        id: r.try_get("id")?,
        domain: r.try_get("domain")?,
        config: r.try_get("config")?,
        enabled: crate::db::flag(r, "enabled")?,
        features: features(&upstream, r.try_get("options")?)?,
        upstream,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        version: r.try_get("version")?,
    })
}

/// What a vhost list is sorted by (an allowlist: never a client's text in SQL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Domain,
    CreatedAt,
    UpdatedAt,
}

impl SortBy {
    pub fn parse(s: &str) -> Option<SortBy> {
        match s {
            "domain" => Some(SortBy::Domain),
            "createdAt" => Some(SortBy::CreatedAt),
            "updatedAt" => Some(SortBy::UpdatedAt),
            _ => None,
        }
    }
    fn column(self) -> &'static str {
        match self {
            SortBy::Domain => "domain",
            SortBy::CreatedAt => "created_at",
            SortBy::UpdatedAt => "updated_at",
        }
    }
}

/// Which vhosts to list, in which order, which page.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Part of the domain, an alias or the upstream, any case.
    pub search: Option<String>,
    pub enabled: Option<bool>,
    pub sort: SortBy,
    pub descending: bool,
    pub page: crate::db::Page,
}

/// The vhosts a selection keeps, one page of them, and how many it keeps in all.
pub async fn select(
    conn: &mut AnyConnection,
    sel: &Selection,
) -> Result<(Vec<Vhost>, i64), sqlx::Error> {
    let mut filter = crate::db::Where::default();
    if let Some(s) = &sel.search {
        let p = filter.text(crate::db::like_pattern(s));
        filter.push(format!(
            "(domain LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(upstream, '')) LIKE {p} ESCAPE '\\' \
             OR id IN (SELECT vhost_id FROM vhost_names WHERE name LIKE {p} ESCAPE '\\'))"
        ));
    }
    if let Some(e) = sel.enabled {
        let p = filter.int(i64::from(e));
        filter.push(format!("enabled = {p}"));
    }
    let total: i64 = filter
        .bind_scalar(&format!("SELECT COUNT(*) FROM vhosts{}", filter.sql()))
        .fetch_one(&mut *conn)
        .await?;
    let order = if sel.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM vhosts{} ORDER BY {} {order}, domain {order}, id {}",
        filter.sql(),
        sel.sort.column(),
        sel.page.sql()
    );
    let rows = filter.bind(&sql).fetch_all(conn).await?;
    let list = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((list, total))
}

/// The sites the proxy should serve: every enabled vhost, by domain (only the columns a
/// site is made of: this runs twice per push, over every vhost).
pub async fn enabled_sites(conn: &mut AnyConnection) -> Result<Vec<Site>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT domain, config, upstream, options FROM vhosts WHERE enabled = 1 ORDER BY domain",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let upstream: Option<String> = r.try_get("upstream")?;
            Ok(Site {
                domain: r.try_get("domain")?,
                config: r.try_get("config")?,
                features: features(&upstream, r.try_get("options")?)?,
                upstream,
            })
        })
        .collect()
}

/// The enabled vhosts with a health check, by id: what proxyhub's own probe watches (a
/// plain vhost has no options, so only the few with some are read whole).
pub async fn health_checked(conn: &mut AnyConnection) -> Result<Vec<(i64, Site)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, domain, config, upstream, options FROM vhosts \
         WHERE enabled = 1 AND options IS NOT NULL ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let upstream: Option<String> = r.try_get("upstream")?;
        let features = features(&upstream, r.try_get("options")?)?;
        if features.health_check.is_some() {
            let site = Site {
                domain: r.try_get("domain")?,
                config: r.try_get("config")?,
                upstream,
                features,
            };
            out.push((r.try_get("id")?, site));
        }
    }
    Ok(out)
}

/// The enabled vhosts as the proxy's desired state.
pub struct Sites;

impl DesiredState for Sites {
    fn sites<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<Site>, sqlx::Error>> {
        Box::pin(enabled_sites(conn))
    }

    fn generation<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<i64, sqlx::Error>> {
        Box::pin(generation(conn))
    }

    fn nodes<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<crate::proxy::NodeSpec>, sqlx::Error>> {
        Box::pin(crate::nodes::store::active_specs(conn))
    }

    fn record_nodes<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        reports: Vec<crate::proxy::NodeReport>,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move { crate::nodes::store::record(conn, &reports).await })
    }
}

/// A number every change to the vhosts moves (a trigger's, whoever writes).
pub async fn generation(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT n FROM vhosts_generation WHERE id = 1")
        .fetch_one(conn)
        .await
}

/// Every vhost's domain, enabled or not.
pub async fn domains(conn: &mut AnyConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT domain FROM vhosts")
        .fetch_all(conn)
        .await
}

/// How many vhosts are enabled, and how many disabled.
pub async fn count_by_state(conn: &mut AnyConnection) -> Result<(u64, u64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN enabled = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS on_, \
         CAST(COUNT(*) AS BIGINT) AS all_ FROM vhosts",
    )
    .fetch_one(conn)
    .await?;
    let (on, all): (i64, i64) = (row.try_get("on_")?, row.try_get("all_")?);
    Ok((on as u64, (all - on) as u64))
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Vhost>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM vhosts WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn by_domain(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Option<Vhost>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM vhosts WHERE domain = $1");
    sqlx::query(&sql)
        .bind(domain)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Whether another vhost has this (lowercased) domain.
pub async fn domain_taken(
    conn: &mut AnyConnection,
    domain: &str,
    except: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vhosts WHERE domain = $1 AND id <> $2")
        .bind(domain)
        .bind(except)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

pub async fn insert(conn: &mut AnyConnection, v: &Vhost) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO vhosts (domain, config, enabled, upstream, options, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&v.domain)
    .bind(&v.config)
    .bind(i64::from(v.enabled))
    .bind(&v.upstream)
    .bind(options(&v.features))
    .bind(&v.created_at)
    .bind(&v.updated_at)
    .fetch_one(&mut *conn)
    .await?;
    set_names(conn, id, &v.features.extra_names(&v.domain)).await?;
    Ok(id)
}

pub async fn update(conn: &mut AnyConnection, v: &Vhost) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE vhosts SET domain = $2, config = $3, enabled = $4, upstream = $5, options = $6, \
         updated_at = $7, version = $8 WHERE id = $1",
    )
    .bind(v.id)
    .bind(&v.domain)
    .bind(&v.config)
    .bind(i64::from(v.enabled))
    .bind(&v.upstream)
    .bind(options(&v.features))
    .bind(&v.updated_at)
    .bind(v.version)
    .execute(&mut *conn)
    .await?;
    set_names(conn, v.id, &v.features.extra_names(&v.domain)).await
}

/// Makes `names` the extra host names of vhost `id`.
async fn set_names(conn: &mut AnyConnection, id: i64, names: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM vhost_names WHERE vhost_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for n in names {
        sqlx::query("INSERT INTO vhost_names (name, vhost_id) VALUES ($1, $2)")
            .bind(n)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The domain of another vhost than `except` that answers `name` (as its domain or one of
/// its names).
pub async fn name_holder(
    conn: &mut AnyConnection,
    name: &str,
    except: i64,
) -> Result<Option<String>, sqlx::Error> {
    let direct: Option<String> =
        sqlx::query_scalar("SELECT domain FROM vhosts WHERE domain = $1 AND id <> $2")
            .bind(name)
            .bind(except)
            .fetch_optional(&mut *conn)
            .await?;
    if direct.is_some() {
        return Ok(direct);
    }
    sqlx::query_scalar(
        "SELECT v.domain FROM vhost_names n JOIN vhosts v ON v.id = n.vhost_id \
         WHERE n.name = $1 AND n.vhost_id <> $2",
    )
    .bind(name)
    .bind(except)
    .fetch_optional(conn)
    .await
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM vhost_names WHERE vhost_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM vhosts WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
