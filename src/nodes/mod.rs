//! A fleet of Caddy nodes: the ones every change is loaded onto, all or nothing. Adding a
//! node, taking one offline, bringing one back and removing one are changes like a vhost's:
//! they go through the applier, so a node added or brought back runs the store's config
//! before it counts (or the change fails, naming it). `status` reads each node live.

pub mod store;

use std::{net::IpAddr, sync::Arc, time::Duration};

use serde::Serialize;

use store::NewNode;
pub use store::Node;

use crate::{
    apply::{Applier, ChangeError},
    config::Config,
    db::Db,
    proxy::{caddy, ProxyError},
};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A field breaks a rule: `field` names it.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no node has id {0}")]
    NotFound(i64),
    #[error("{0}")]
    Conflict(String),
    /// This proxyhub manages nginx, which has no nodes.
    #[error("nodes are Caddy nodes, and this proxyhub manages {0}")]
    NotCaddy(&'static str),
    #[error(transparent)]
    Proxy(ProxyError),
    #[error("the store failed: {0}")]
    Store(String),
}

impl From<sqlx::Error> for NodeError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "nodes: the store failed");
        NodeError::Store(e.to_string())
    }
}

impl From<ChangeError<NodeError>> for NodeError {
    fn from(e: ChangeError<NodeError>) -> Self {
        match e {
            ChangeError::Refused(e) => e,
            ChangeError::Proxy(e) => NodeError::Proxy(e),
            ChangeError::Store(m) => NodeError::Store(m),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> NodeError {
    NodeError::Invalid {
        field,
        message: message.into(),
    }
}

/// What an admin sends to add a node.
pub struct Proposed {
    pub name: String,
    pub admin_url: String,
    pub admin_listen: Option<String>,
    pub bind: Option<String>,
    pub access_log: Option<String>,
}

/// Checks a proposed node's fields; returns the row to insert.
fn checked(p: Proposed) -> Result<NewNode, NodeError> {
    let name_ok = (1..=63).contains(&p.name.len())
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && p.name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !name_ok {
        return Err(invalid(
            "name",
            "name must be 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit",
        ));
    }
    let url = p.admin_url.trim_end_matches('/').to_string();
    caddy::admin_listen(&url).map_err(|_| {
        invalid(
            "adminUrl",
            format!(
                "adminUrl must look like http://host:port, got {:?}",
                p.admin_url
            ),
        )
    })?;
    let admin_listen = p
        .admin_listen
        .map(|l| caddy::checked_listen(&l).map_err(|m| invalid("adminListen", m)))
        .transpose()?;
    let bind = p
        .bind
        .map(|b| {
            b.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| invalid("bind", format!("bind must be an IP address, got {b:?}")))
        })
        .transpose()?;
    let access_log = p
        .access_log
        .map(|path| {
            let ok = path.starts_with('/')
                && path.len() <= 4096
                && !path.chars().any(|c| c.is_control())
                && !path.split('/').any(|part| part == "..");
            if ok {
                Ok(path)
            } else {
                Err(invalid(
                    "accessLog",
                    "accessLog must be an absolute path without control characters or '..'",
                ))
            }
        })
        .transpose()?;
    Ok(NewNode {
        name: p.name,
        admin_url: url,
        admin_listen,
        bind,
        access_log,
        seeded: false,
    })
}

fn caddy_only(applier: &Applier) -> Result<(), NodeError> {
    match applier.proxy().kind() {
        "caddy" => Ok(()),
        other => Err(NodeError::NotCaddy(other)),
    }
}

/// Refuses a node whose admin port a served vhost reaches (its upstream or its snippet names
/// the port): the vhost would be refused from then on, and stop being served.
async fn admin_port_free(
    applier: &Applier,
    admin_url: &str,
    admin_listen: Option<&str>,
) -> Result<(), NodeError> {
    let ports: Vec<u16> = [
        caddy::admin_listen(admin_url).ok(),
        admin_listen.map(str::to_string),
    ]
    .into_iter()
    .flatten()
    .filter_map(|l| caddy::port_of(&l))
    .collect();
    for site in applier.committed_sites().await? {
        let words = site.upstreams().into_iter().chain(site.config.clone());
        for word in words {
            if let Some(p) = ports.iter().find(|&&p| caddy::mentions_port(&word, p)) {
                return Err(NodeError::Conflict(format!(
                    "the vhost {} reaches port {p}, which would be this node's admin API: \
                     give the node another admin port, or change the vhost first",
                    site.domain
                )));
            }
        }
    }
    Ok(())
}

/// Adds a node: its admin API must answer as Caddy's, and it must take the store's config.
pub async fn create(applier: &Arc<Applier>, p: Proposed) -> Result<Node, NodeError> {
    caddy_only(applier)?;
    let new = Arc::new(checked(p)?);
    admin_port_free(applier, &new.admin_url, new.admin_listen.as_deref()).await?;
    caddy::node_etag(&new.admin_url, None).await.map_err(|e| {
        invalid(
            "adminUrl",
            format!(
                "{} does not answer as a Caddy admin API: {e}",
                new.admin_url
            ),
        )
    })?;
    let node = applier
        .change(move |tx| {
            let new = new.clone();
            Box::pin(async move {
                store::insert(tx, &new).await.map_err(|e| {
                    if crate::db::is_unique_violation(&e) {
                        NodeError::Conflict(format!(
                            "a node is already named {:?} or reached at {}",
                            new.name, new.admin_url
                        ))
                    } else {
                        e.into()
                    }
                })
            })
        })
        .await?;
    tracing::info!(node = %node.name, url = %node.admin_url, "node added");
    Ok(node)
}

/// Takes a node offline (skipped by changes) or brings it back (loaded with the store's
/// config before it counts again).
pub async fn set_state(
    applier: &Arc<Applier>,
    db: &Db,
    id: i64,
    state: &str,
) -> Result<Node, NodeError> {
    caddy_only(applier)?;
    if !matches!(state, "active" | "offline") {
        return Err(invalid("state", "state must be active or offline"));
    }
    if state == "active" {
        let node = store::by_id(&mut *db.acquire().await?, id).await?;
        if let Some(n) = node {
            admin_port_free(applier, &n.admin_url, Some(&n.admin_listen)).await?;
        }
    }
    let state = state.to_string();
    let node = applier
        .change(move |tx| {
            let state = state.clone();
            Box::pin(async move {
                let node = store::by_id(tx, id).await?.ok_or(NodeError::NotFound(id))?;
                if node.state == state {
                    return Ok(node);
                }
                if state == "offline" {
                    last_active(tx, id).await?;
                }
                store::set_state(tx, id, &state).await?;
                store::by_id(tx, id).await?.ok_or(NodeError::NotFound(id))
            })
        })
        .await?;
    tracing::info!(node = %node.name, state = %node.state, "node state set");
    Ok(node)
}

/// Removes a node; what it runs is left as it is.
pub async fn remove(applier: &Arc<Applier>, id: i64) -> Result<Node, NodeError> {
    caddy_only(applier)?;
    let node = applier
        .change(move |tx| {
            Box::pin(async move {
                let node = store::by_id(tx, id).await?.ok_or(NodeError::NotFound(id))?;
                if node.state == "active" {
                    last_active(tx, id).await?;
                }
                store::delete(tx, id).await?;
                Ok(node)
            })
        })
        .await?;
    tracing::info!(node = %node.name, "node removed");
    Ok(node)
}

/// Refuses leaving the fleet with no active node: changes would then be stored with
/// nothing serving them.
async fn last_active(tx: &mut crate::db::Tx, id: i64) -> Result<(), NodeError> {
    if store::active_besides(tx, id).await? == 0 {
        return Err(NodeError::Conflict(
            "this is the last active node: add or bring back another first".into(),
        ));
    }
    Ok(())
}

/// A node as it is now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(flatten)]
    pub node: Node,
    /// Whether its admin API answered just now.
    pub reachable: bool,
    /// Whether it runs what proxyhub last loaded onto it (its ETag is the one that followed
    /// that load); `false` when unreachable.
    pub in_sync: bool,
    /// The ETag of what it runs now (absent when unreachable).
    pub running_etag: Option<String>,
    /// Why it did not answer.
    pub error: Option<String>,
}

/// Every node, read live (in parallel, a few seconds at most each).
pub async fn status(db: &Db) -> Result<Vec<NodeStatus>, NodeError> {
    let nodes = store::all(db).await?;
    let probes = futures_util::future::join_all(nodes.iter().map(|n| async {
        // Loaded since the last drift check: its ETag is not read yet, its marker tells.
        let marker = n.etag.is_none().then_some(n.marker.as_deref()).flatten();
        let probe = caddy::node_etag(&n.admin_url, marker);
        match tokio::time::timeout(Duration::from_secs(5), probe).await {
            Ok(r) => r,
            Err(_) => Err(ProxyError::Unreachable("no answer within 5 s".into())),
        }
    }))
    .await;
    Ok(nodes
        .into_iter()
        .zip(probes)
        .map(|(mut node, probe)| {
            let (reachable, running_etag, found, error) = match probe {
                Ok((etag, found)) => (true, Some(etag), found, None),
                Err(e) => (false, None, false, Some(e.to_string())),
            };
            if node.etag.is_none() && node.marker.is_some() && found {
                node.etag = running_etag.clone();
            }
            NodeStatus {
                in_sync: node.config_hash.is_some()
                    && running_etag.is_some()
                    && running_etag == node.etag,
                node,
                reachable,
                running_etag,
                error,
            }
        })
        .collect())
}

/// At start-up, with Caddy: the nodes PROXYHUB_CADDY_ADMIN names. While every node is one
/// it seeded (nobody has managed nodes through the API), the seeded nodes follow it; once
/// nodes are managed through the API, it is only read when the store has no node at all.
pub async fn seed(db: &Db, config: &Config) -> anyhow::Result<()> {
    let wanted = caddy::seed_nodes(config).map_err(anyhow::Error::msg)?;
    let nodes = store::all(db).await?;
    let same = nodes.len() == wanted.len()
        && nodes.iter().zip(&wanted).all(|(n, w)| {
            n.seeded && n.admin_url == w.admin_url && n.admin_listen == w.admin_listen
        });
    if same {
        return Ok(());
    }
    if nodes.iter().any(|n| !n.seeded) {
        tracing::warn!(
            "PROXYHUB_CADDY_ADMIN is not what the store's nodes are: nodes are managed through \
             /api/nodes, and it is ignored"
        );
        return Ok(());
    }
    let mut tx = crate::db::begin_write(db).await?;
    sqlx::query("DELETE FROM nodes WHERE seeded = 1")
        .execute(&mut *tx)
        .await?;
    for w in wanted {
        store::insert(
            &mut tx,
            &NewNode {
                name: w.name,
                admin_listen: Some(w.admin_listen),
                admin_url: w.admin_url,
                bind: None,
                access_log: None,
                seeded: true,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
