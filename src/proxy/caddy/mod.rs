//! Caddy, driven through its admin API and judged on what Caddy itself parsed.
//!
//! A site is rendered on its own (`render`), checked before Caddy reads it for what would
//! make Caddy touch the host while adapting (`snippet`), adapted by Caddy (`/adapt`), and
//! its adaptation checked against an allowlist (`adapted`). The adapted routes are cached
//! by a hash of the site (`sites`); a push assembles each node's JSON config from the cache
//! (`assemble`) and loads it onto every active node at once, all or nothing (`fleet`), so one
//! change costs one small `/adapt` and one load per node, in parallel. Drift is told from the
//! ETag each node gives its config against the one that followed proxyhub's last load.

mod access;
mod adapted;
mod assemble;
mod client;
mod fleet;
pub mod lexer;
mod render;
mod settings;
mod sites;
mod snippet;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, OnceLock},
};

use async_trait::async_trait;
use minijinja::Environment;

use super::{NodeReport, NodeSpec, Proxy, ProxyError, Site, UpstreamCounts};
use crate::config::Config;
pub use adapted::SiteRoutes;
pub use settings::{
    admin_listen, checked_listen, mentions_port, port_of, seed_nodes, CaddySettings,
};
use sites::{digest, Cached};

/// A hash of everything a site's rendered block is made of (the settings are fixed for the
/// life of the process).
type SiteKey = [u8; 32];

/// The Caddy backend's state.
struct Backend {
    fleet: fleet::Fleet,
    settings: CaddySettings,
    env: Environment<'static>,
    cache: Mutex<HashMap<SiteKey, Cached>>,
    /// The admin ports of the nodes (and of PROXYHUB_CADDY_ADMIN): nothing a site does may
    /// reach one. A cached site was checked against these.
    admin_ports: Mutex<Vec<u16>>,
    /// Whether the running Caddy reads heredocs (2.7+), learned on first contact.
    heredocs: OnceLock<bool>,
}

impl Backend {
    fn new(config: &Config) -> Result<Self, String> {
        let settings = CaddySettings::from_config(config)?;
        let fleet = fleet::Fleet::default();
        fleet.set(settings::seed_nodes(config)?)?;
        let this = Self {
            fleet,
            admin_ports: Mutex::new(Vec::new()),
            settings,
            env: render::templates(),
            cache: Mutex::new(HashMap::new()),
            heredocs: OnceLock::new(),
        };
        this.note_admin_ports();
        Ok(this)
    }

    /// Learns the nodes' admin ports; when they change, every cached site is checked again.
    fn note_admin_ports(&self) {
        let mut ports: Vec<u16> = self
            .fleet
            .nodes()
            .iter()
            .flat_map(|n| {
                // The port it listens on, and the one proxyhub dials (a port mapping may
                // tell them apart).
                let dialed = admin_listen(&n.spec.admin_url).ok();
                [
                    settings::port_of(&n.spec.admin_listen),
                    dialed.as_deref().and_then(settings::port_of),
                ]
            })
            .flatten()
            .chain(self.settings.admin_port())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        let mut known = self.admin_ports.lock().expect("admin ports");
        if *known != ports {
            *known = ports;
            self.cache.lock().expect("site cache").clear();
        }
    }

    fn admin_ports(&self) -> Vec<u16> {
        self.admin_ports.lock().expect("admin ports").clone()
    }

    /// What the config for `sites` is made of: each site's checked routes, and their hash
    /// (without the load's marker and the nodes' own settings). Also the sites' cache keys,
    /// for [`Self::evict`] once they are loaded.
    async fn parts(
        self: &Arc<Self>,
        sites: &[Site],
    ) -> Result<(fleet::Parts, Vec<SiteKey>), ProxyError> {
        let keys: Vec<SiteKey> = sites.iter().map(Self::key).collect();
        let routes = self.routes_of(sites, &keys).await?;
        let parts: Vec<(String, Arc<SiteRoutes>)> = sites
            .iter()
            .zip(routes)
            .filter_map(|(s, r)| r.map(|r| (s.domain.clone(), r)))
            .collect();
        let hash = digest(parts.iter().flat_map(|(d, r)| {
            [
                Some(d.as_str()),
                Some(r.routes.as_str()),
                r.errors.as_deref(),
            ]
        }));
        let parts = fleet::Parts {
            hash: crate::digest::hex(&hash),
            sites: parts,
        };
        Ok((parts, keys))
    }

    /// Assembles and loads the config for `sites` onto the active nodes that do not run it,
    /// all or nothing. Returns whether it loaded.
    async fn push(self: &Arc<Self>, sites: &[Site]) -> Result<bool, ProxyError> {
        let (parts, keys) = self.parts(sites).await?;
        let loaded = self.fleet.load(&self.settings, parts, None).await;
        self.evict(keys);
        loaded
    }

    /// Loads the config for `sites` onto the `drifted` nodes whatever they run, then onto
    /// any other node that runs an older config than the store's (a change put back after
    /// another node refused it, a commit that failed after its push): the config is made
    /// once for both.
    async fn repair(
        self: &Arc<Self>,
        sites: &[Site],
        drifted: &HashSet<i64>,
        all_answered: bool,
    ) -> Result<(), ProxyError> {
        let (parts, keys) = self.parts(sites).await?;
        let mut loaded = Ok(false);
        if !drifted.is_empty() {
            loaded = self
                .fleet
                .load(&self.settings, parts.clone(), Some(drifted))
                .await;
        }
        if loaded.is_ok() && all_answered {
            loaded = self.fleet.load(&self.settings, parts, None).await;
        }
        self.evict(keys);
        loaded.map(drop)
    }
}

/// The Caddy backend (its state behind an `Arc`, so a cold start can adapt sites in tasks
/// of their own).
pub struct Caddy(Arc<Backend>);

impl Caddy {
    pub fn new(config: &Config) -> Result<Self, String> {
        Backend::new(config).map(|c| Self(Arc::new(c)))
    }
}

#[async_trait]
impl Proxy for Caddy {
    fn kind(&self) -> &'static str {
        "caddy"
    }

    async fn prepare(&self, site: &Site) -> Result<(), ProxyError> {
        self.0.adapt(site).await.map(drop)
    }

    async fn apply(&self, sites: &[Site]) -> Result<bool, ProxyError> {
        self.0.push(sites).await
    }

    fn forget_applied(&self) {
        self.0.fleet.forget();
    }

    fn set_nodes(&self, nodes: Vec<NodeSpec>) {
        if let Err(e) = self.0.fleet.set(nodes) {
            tracing::error!(error = %e, "a node's admin URL could not be used");
        }
        self.0.note_admin_ports();
    }

    fn node_reports(&self) -> Vec<NodeReport> {
        self.0.fleet.take_reports()
    }

    async fn repair_drift(&self, sites: &[Site]) -> Result<Option<String>, ProxyError> {
        let (drifted, down) = self.0.fleet.drifted().await;
        let names = |ids: &HashSet<i64>| {
            self.0
                .fleet
                .nodes()
                .iter()
                .filter(|n| ids.contains(&n.spec.id))
                .map(|n| n.spec.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.0.repair(sites, &drifted, down.is_empty()).await?;
        let repaired = (!drifted.is_empty()).then(|| {
            format!(
                "ran another configuration than proxyhub's last load, now re-applied: {}",
                names(&drifted)
            )
        });
        if let Some((_, e)) = down.into_iter().next() {
            return Err(e);
        }
        Ok(repaired)
    }

    async fn upstream_counts(&self) -> Result<Vec<UpstreamCounts>, ProxyError> {
        // Summed over the nodes: each proxies its own share of the traffic.
        let nodes = self.0.fleet.nodes();
        let each = futures_util::future::join_all(nodes.iter().map(|n| n.admin.upstreams())).await;
        let mut sum: Vec<UpstreamCounts> = Vec::new();
        for counts in each.into_iter().flatten().flatten() {
            match sum.iter_mut().find(|c| c.address == counts.address) {
                Some(c) => {
                    c.num_requests += counts.num_requests;
                    c.fails += counts.fails;
                }
                None => sum.push(counts),
            }
        }
        Ok(sum)
    }
}

/// The ETag of the config a Caddy admin API runs (whether `admin_url` answers as one), and
/// with `marker` whether that config holds it.
pub async fn node_etag(
    admin_url: &str,
    marker: Option<&str>,
) -> Result<(String, bool), ProxyError> {
    let admin = client::Admin::new(admin_url).map_err(ProxyError::Invalid)?;
    admin.config_etag(marker).await
}
