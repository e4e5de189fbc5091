//! The `nodes` rows.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Db, Tx},
    proxy::caddy,
    proxy::{NodeReport, NodeSpec},
    timestamps,
};

/// A Caddy node, as an admin sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: i64,
    /// Its name, unique: how errors and the status name it.
    #[schema(example = "edge-1")]
    pub name: String,
    /// Its admin API, as proxyhub reaches it.
    #[schema(example = "http://10.0.0.11:2019")]
    pub admin_url: String,
    /// The admin address written into its config (the host:port of `adminUrl` unless set).
    pub admin_listen: String,
    /// The IP address its sites listen on; every address of its machine when absent.
    pub bind: Option<String>,
    /// Where it writes its access log; proxyhub's `PROXYHUB_ACCESS_LOG` when absent.
    pub access_log: Option<String>,
    /// `active` (every change is loaded onto it) or `offline` (skipped).
    #[schema(example = "active")]
    pub state: String,
    /// Made from PROXYHUB_CADDY_ADMIN at start-up.
    pub seeded: bool,
    /// The ETag of the config proxyhub's last load onto it made (read by the first drift
    /// check after the load; absent until then).
    pub etag: Option<String>,
    /// The hash of the sites last loaded onto it, and that load's marker.
    #[serde(skip)]
    pub config_hash: Option<String>,
    #[serde(skip)]
    pub marker: Option<String>,
    /// When a change was last loaded onto it and kept.
    pub last_apply_at: Option<String>,
    /// When the reconciler last found it running something else (restarted, edited by
    /// hand) and loaded the store's config onto it.
    pub last_repair_at: Option<String>,
    /// What went wrong with it last, until it is over.
    pub last_error: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, name, admin_url, admin_listen, bind, access_log, state, seeded, \
                       config_hash, marker, etag, last_apply_at, last_repair_at, last_error, \
                       created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Node, sqlx::Error> {
    let url: String = r.try_get("admin_url")?;
    let listen: Option<String> = r.try_get("admin_listen")?;
    Ok(Node {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        // A stored URL was checked when added: it has a host:port.
        admin_listen: listen
            .or_else(|| caddy::admin_listen(&url).ok())
            .unwrap_or_default(),
        admin_url: url,
        bind: r.try_get("bind")?,
        access_log: r.try_get("access_log")?,
        state: r.try_get("state")?,
        seeded: r.try_get::<i64, _>("seeded")? != 0,
        etag: r.try_get("etag")?,
        config_hash: r.try_get("config_hash")?,
        marker: r.try_get("marker")?,
        last_apply_at: r.try_get("last_apply_at")?,
        last_repair_at: r.try_get("last_repair_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn all(db: &Db) -> Result<Vec<Node>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM nodes ORDER BY id");
    sqlx::query(&sql)
        .fetch_all(db)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Node>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM nodes WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The active nodes, as the proxy is told of them.
pub async fn active_specs(conn: &mut AnyConnection) -> Result<Vec<NodeSpec>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM nodes WHERE state = 'active' ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let n = from_row(r)?;
            Ok(NodeSpec {
                id: n.id,
                name: n.name,
                admin_url: n.admin_url,
                admin_listen: n.admin_listen,
                bind: n.bind,
                access_log: n.access_log,
                config_hash: n.config_hash,
                marker: n.marker,
                etag: n.etag,
                error: n.last_error,
            })
        })
        .collect()
}

/// Keeps what a push or drift check did to the nodes (by name: a node a change added has
/// its id only once committed).
pub async fn record(conn: &mut AnyConnection, reports: &[NodeReport]) -> Result<(), sqlx::Error> {
    let now = timestamps::now();
    for r in reports {
        let q = if r.repaired {
            sqlx::query(
                "UPDATE nodes SET config_hash = $1, marker = $2, etag = $3, last_error = $4, \
                 last_apply_at = $5, last_repair_at = $5 WHERE name = $6",
            )
        } else if r.applied {
            sqlx::query(
                "UPDATE nodes SET config_hash = $1, marker = $2, etag = $3, last_error = $4, \
                 last_apply_at = $5 WHERE name = $6",
            )
        } else {
            sqlx::query(
                "UPDATE nodes SET config_hash = $1, marker = $2, etag = $3, last_error = $4 \
                 WHERE name = $5",
            )
        };
        let q = q
            .bind(&r.config_hash)
            .bind(&r.marker)
            .bind(&r.etag)
            .bind(&r.error);
        let q = if r.applied { q.bind(&now) } else { q };
        q.bind(&r.name).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A node to add.
pub struct NewNode {
    pub name: String,
    pub admin_url: String,
    pub admin_listen: Option<String>,
    pub bind: Option<String>,
    pub access_log: Option<String>,
    pub seeded: bool,
}

pub async fn insert(tx: &mut Tx, n: &NewNode) -> Result<Node, sqlx::Error> {
    sqlx::query(
        "INSERT INTO nodes (name, admin_url, admin_listen, bind, access_log, state, seeded, \
         created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)",
    )
    .bind(&n.name)
    .bind(&n.admin_url)
    .bind(&n.admin_listen)
    .bind(&n.bind)
    .bind(&n.access_log)
    .bind(i64::from(n.seeded))
    .bind(timestamps::now())
    .execute(&mut **tx)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM nodes WHERE name = $1");
    from_row(&sqlx::query(&sql).bind(&n.name).fetch_one(&mut **tx).await?)
}

/// Sets a node's state. A node made active again is loaded whatever it runs: what it ran
/// while offline is not known.
pub async fn set_state(tx: &mut Tx, id: i64, state: &str) -> Result<(), sqlx::Error> {
    let sql = if state == "active" {
        "UPDATE nodes SET state = $1, config_hash = NULL, marker = NULL, etag = NULL WHERE id = $2"
    } else {
        "UPDATE nodes SET state = $1 WHERE id = $2"
    };
    sqlx::query(sql)
        .bind(state)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM nodes WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How many nodes are active, `except` one.
pub async fn active_besides(tx: &mut Tx, except: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE state = 'active' AND id <> $1")
        .bind(except)
        .fetch_one(&mut **tx)
        .await
}
