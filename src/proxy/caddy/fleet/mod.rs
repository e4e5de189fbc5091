//! The Caddy nodes proxyhub changes together, all or nothing.
//!
//! A change is adapted and checked once; the whole config is then assembled for each active
//! node (its admin address, listener and log file are its own) and loaded onto every node at
//! once, each with `If-Match` on the ETag proxyhub last read of it. A node whose ETag moved
//! was changed behind proxyhub's back: that is logged, and the load goes over it (the store
//! is what it should run). If a node refuses or cannot be reached, the nodes that took the
//! change are put back to the config every node ran before, and the change fails naming the
//! node. What each node runs (the hash of its sites and the load's marker, then the ETag the
//! first drift check reads with that marker in it) is reported to the store, which every
//! replica reads before its next push: nothing about a node is trusted from one replica's
//! memory alone. The ETag is not read before a change is answered: at 10,000 sites Caddy
//! takes a tenth of a second or more to serialize its config.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

mod drift;

use super::{adapted::SiteRoutes, assemble, client::Admin, CaddySettings};
use crate::proxy::{NodeReport, NodeSpec, ProxyError};

/// A node and its admin client.
pub struct Node {
    pub spec: NodeSpec,
    pub admin: Arc<Admin>,
}

/// A config as its sites: each domain with its checked routes, and their hash (hex).
#[derive(Clone)]
pub struct Parts {
    pub hash: String,
    pub sites: Vec<(String, Arc<SiteRoutes>)>,
}

impl Parts {
    fn as_refs(&self) -> Vec<(&str, &SiteRoutes)> {
        self.sites.iter().map(|(d, r)| (d.as_str(), &**r)).collect()
    }
}

#[derive(Default)]
pub struct Fleet {
    nodes: Mutex<Vec<Arc<Node>>>,
    /// One client per admin URL, kept while the node is known.
    clients: Mutex<HashMap<String, Arc<Admin>>>,
    /// The config every active node ran after the last push all of them took: what a node
    /// that took a failed change is put back to.
    last: Mutex<Option<Parts>>,
    reports: Mutex<Vec<NodeReport>>,
}

/// What loading onto one node did.
type Loaded = Result<(), ProxyError>;

impl Fleet {
    /// Replaces the active nodes (the store's, read before each push and drift check).
    pub fn set(&self, specs: Vec<NodeSpec>) -> Result<(), String> {
        let mut clients = self.clients.lock().expect("fleet clients");
        let mut nodes = Vec::with_capacity(specs.len());
        let mut kept = HashMap::new();
        for spec in specs {
            let admin = match clients.get(&spec.admin_url) {
                Some(a) => a.clone(),
                None => Arc::new(Admin::new(&spec.admin_url)?),
            };
            kept.insert(spec.admin_url.clone(), admin.clone());
            nodes.push(Arc::new(Node { spec, admin }));
        }
        *clients = kept;
        // A node the store says runs another config than this replica's last push (another
        // replica pushed since): what every node ran before is not known here, and a node
        // that takes a failed change is left for the drift check rather than put back.
        let mut last = self.last.lock().expect("fleet last");
        if let Some(l) = last.as_ref() {
            if nodes
                .iter()
                .any(|n| n.spec.config_hash.as_ref().is_some_and(|h| *h != l.hash))
            {
                *last = None;
            }
        }
        drop(last);
        *self.nodes.lock().expect("fleet nodes") = nodes;
        Ok(())
    }

    pub fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.lock().expect("fleet nodes").clone()
    }

    /// An admin API to adapt with: the first active node's.
    pub fn admin(&self) -> Result<Arc<Admin>, ProxyError> {
        self.nodes()
            .first()
            .map(|n| n.admin.clone())
            .ok_or_else(|| ProxyError::Unreachable("no Caddy node is active".into()))
    }

    pub fn take_reports(&self) -> Vec<NodeReport> {
        std::mem::take(&mut *self.reports.lock().expect("fleet reports"))
    }

    /// Forgets what every node runs: the next drift check loads the store's config onto
    /// each (a pushed change was not committed after all).
    pub fn forget(&self) {
        *self.last.lock().expect("fleet last") = None;
        let nodes = self.nodes();
        let mut reports = self.reports.lock().expect("fleet reports");
        for n in &nodes {
            reports.push(NodeReport {
                id: n.spec.id,
                name: n.spec.name.clone(),
                config_hash: None,
                marker: None,
                etag: None,
                applied: false,
                repaired: false,
                error: None,
            });
        }
        drop(reports);
        let forgotten = nodes
            .iter()
            .map(|n| {
                let mut spec = n.spec.clone();
                spec.config_hash = None;
                spec.marker = None;
                spec.etag = None;
                spec
            })
            .collect();
        let _ = self.set(forgotten);
    }

    /// Loads `parts` onto the active nodes that do not run it (`only`: onto these nodes,
    /// whatever they run), all at once; all or nothing. Returns whether anything was loaded.
    pub async fn load(
        &self,
        settings: &CaddySettings,
        parts: Parts,
        only: Option<&HashSet<i64>>,
    ) -> Result<bool, ProxyError> {
        let nodes = self.nodes();
        let targets: Vec<Arc<Node>> = nodes
            .iter()
            .filter(|n| match only {
                Some(ids) => ids.contains(&n.spec.id),
                None => n.spec.config_hash.as_deref() != Some(parts.hash.as_str()),
            })
            .cloned()
            .collect();
        if targets.is_empty() {
            if only.is_none() {
                *self.last.lock().expect("fleet last") = Some(parts);
            }
            return Ok(false);
        }
        let marker = format!("proxyhub-{}", uuid::Uuid::new_v4().simple());
        let results: Vec<Loaded> = futures_util::future::join_all(
            targets
                .iter()
                .map(|n| load_one(settings, n, &parts, &marker)),
        )
        .await;
        let failed = results.iter().any(Result::is_err);
        let mut reports = Vec::new();
        let mut first_error: Option<ProxyError> = None;
        let mut to_put_back = Vec::new();
        for (node, result) in targets.iter().zip(results) {
            match result {
                Ok(()) if !failed => reports.push(NodeReport {
                    id: node.spec.id,
                    name: node.spec.name.clone(),
                    config_hash: Some(parts.hash.clone()),
                    marker: Some(marker.clone()),
                    etag: None,
                    applied: true,
                    repaired: only.is_some(),
                    error: None,
                }),
                Ok(_) => to_put_back.push(node.clone()),
                Err(e) => {
                    let kept = matches!(e, ProxyError::Rejected(_));
                    reports.push(NodeReport {
                        id: node.spec.id,
                        name: node.spec.name.clone(),
                        // Caddy keeps what it ran when it refuses a config; whether an
                        // unreachable node loaded it is not known.
                        config_hash: kept.then(|| node.spec.config_hash.clone()).flatten(),
                        marker: kept.then(|| node.spec.marker.clone()).flatten(),
                        etag: kept.then(|| node.spec.etag.clone()).flatten(),
                        applied: false,
                        repaired: false,
                        error: Some(e.to_string()),
                    });
                    let better = match (&first_error, &e) {
                        (None, _) => true,
                        (Some(ProxyError::Rejected(_)), _) => false,
                        (Some(_), ProxyError::Rejected(_)) => true,
                        _ => false,
                    };
                    if better {
                        first_error = Some(e);
                    }
                }
            }
        }
        if !to_put_back.is_empty() {
            reports.extend(self.put_back(settings, &to_put_back).await);
        }
        let all_run_it = !failed
            && nodes.iter().all(|n| {
                reports
                    .iter()
                    .find(|r| r.id == n.spec.id)
                    .map_or(n.spec.config_hash.as_deref(), |r| r.config_hash.as_deref())
                    == Some(parts.hash.as_str())
            });
        self.note(&reports);
        match first_error {
            Some(e) => Err(e),
            None => {
                if all_run_it {
                    *self.last.lock().expect("fleet last") = Some(parts);
                }
                Ok(true)
            }
        }
    }

    /// Puts nodes that took a change that failed elsewhere back to the config every node
    /// ran before; where that config is not known, or the node does not take it back, it is
    /// reported as not known, and the next drift check loads the store's.
    async fn put_back(&self, settings: &CaddySettings, nodes: &[Arc<Node>]) -> Vec<NodeReport> {
        let last = self.last.lock().expect("fleet last").clone();
        let Some(last) = last else {
            return nodes
                .iter()
                .map(|n| {
                    unknown(
                        n,
                        "took a change another node refused; left for the drift check",
                    )
                })
                .collect();
        };
        let marker = format!("proxyhub-{}", uuid::Uuid::new_v4().simple());
        let results = futures_util::future::join_all(nodes.iter().map(|n| {
            let body = assemble::config(settings, &n.spec, &last.as_refs(), &marker);
            async move { n.admin.load(body.into(), None).await }
        }))
        .await;
        nodes
            .iter()
            .zip(results)
            .map(|(n, r)| match r {
                Ok(_) => NodeReport {
                    id: n.spec.id,
                    name: n.spec.name.clone(),
                    config_hash: Some(last.hash.clone()),
                    marker: Some(marker.clone()),
                    etag: None,
                    applied: false,
                    repaired: false,
                    error: None,
                },
                Err(e) => unknown(n, &format!("could not be put back: {e}")),
            })
            .collect()
    }

    /// Keeps what was learned of the nodes: for the store, and for the next push.
    fn note(&self, reports: &[NodeReport]) {
        let updated: Vec<NodeSpec> = self
            .nodes()
            .iter()
            .map(|n| {
                let mut spec = n.spec.clone();
                if let Some(r) = reports.iter().find(|r| r.id == spec.id) {
                    spec.config_hash = r.config_hash.clone();
                    spec.marker = r.marker.clone();
                    spec.etag = r.etag.clone();
                    spec.error = r.error.clone();
                }
                spec
            })
            .collect();
        let _ = self.set(updated);
        self.reports
            .lock()
            .expect("fleet reports")
            .extend_from_slice(reports);
    }
}

/// Loads `parts` onto one node; returns the ETag Caddy then gives its config (`None` when
/// the config read right after is not this load's).
async fn load_one(settings: &CaddySettings, node: &Node, parts: &Parts, marker: &str) -> Loaded {
    // Shared, not copied, by a second attempt: at 10,000 sites a config is megabytes.
    let body = bytes::Bytes::from(assemble::config(
        settings,
        &node.spec,
        &parts.as_refs(),
        marker,
    ));
    let mut if_match = node.spec.etag.clone();
    let mut loaded = false;
    for _ in 0..2 {
        loaded = node
            .admin
            .load(body.clone(), if_match.as_deref())
            .await
            .map_err(|e| named(node, e))?;
        if loaded {
            break;
        }
        // Its ETag moved since proxyhub's last load: changed behind proxyhub's back (or by a
        // replica whose record of it was lost). The store is what it should run.
        tracing::warn!(
            node = %node.spec.name,
            "the node's config was changed outside proxyhub since its last load; loading over it"
        );
        if_match = Some(
            node.admin
                .config_etag(None)
                .await
                .map_err(|e| named(node, e))?
                .0,
        );
    }
    if !loaded {
        return Err(named(
            node,
            ProxyError::Unreachable("its config kept changing while proxyhub loaded it".into()),
        ));
    }
    Ok(())
}

/// An error that says which node it is about.
pub fn named(node: &Node, e: ProxyError) -> ProxyError {
    let who = format!("node {} ({})", node.spec.name, node.spec.admin_url);
    match e {
        ProxyError::Rejected(m) => ProxyError::Rejected(format!("{who}: {m}")),
        ProxyError::Unreachable(m) => ProxyError::Unreachable(format!("{who}: {m}")),
        ProxyError::Invalid(m) => ProxyError::Invalid(m),
    }
}

fn unknown(node: &Node, why: &str) -> NodeReport {
    tracing::warn!(node = %node.spec.name, "{why}");
    NodeReport {
        id: node.spec.id,
        name: node.spec.name.clone(),
        config_hash: None,
        marker: None,
        etag: None,
        applied: false,
        repaired: false,
        error: Some(format!("node {}: {why}", node.spec.name)),
    }
}
