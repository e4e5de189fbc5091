//! Caddy, driven through its admin API and judged on what Caddy itself parsed.
//!
//! A site is rendered on its own (`render`), checked before Caddy reads it for what would
//! make Caddy touch the host while adapting (`snippet`), adapted by Caddy (`/adapt`), and
//! its adaptation checked against an allowlist (`adapted`). The adapted routes are cached
//! by a hash of the site; a push assembles the whole JSON config from the cache
//! (`assemble`) and loads it (`/load`), so one change costs one small `/adapt` and one
//! `/load`. Drift is told from hashes of what was loaded and what Caddy runs (`drift`).

mod access;
mod adapted;
mod assemble;
mod client;
mod drift;
pub mod lexer;
mod render;
mod settings;
mod snippet;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use minijinja::Environment;
use sha2::{Digest, Sha256};

use super::{no_control_characters, Proxy, ProxyError, Site, UpstreamCounts};
use crate::config::Config;
pub use adapted::SiteRoutes;
pub use settings::{mentions_port, CaddySettings};

/// A hash of everything a site's rendered block is made of (the settings are fixed for the
/// life of the process).
type SiteKey = [u8; 32];

/// How long an adapted site nobody pushes stays cached (a prepared change on its way).
const KEEP_UNUSED: Duration = Duration::from_secs(600);
/// Sites adapted at once when many are missing (a cold start).
const ADAPT_CONCURRENCY: usize = 8;

struct Cached {
    routes: Arc<SiteRoutes>,
    used: Instant,
}

/// The Caddy backend's state.
struct Backend {
    admin: Arc<client::Admin>,
    settings: CaddySettings,
    env: Environment<'static>,
    cache: Mutex<HashMap<SiteKey, Cached>>,
    drift: drift::Drift,
    /// Whether the running Caddy reads heredocs (2.7+), learned on first contact.
    heredocs: OnceLock<bool>,
}

impl Backend {
    fn new(config: &Config) -> Result<Self, String> {
        Ok(Self {
            admin: Arc::new(client::Admin::new(&config.caddy_admin)?),
            settings: CaddySettings::from_config(config)?,
            env: render::templates(),
            cache: Mutex::new(HashMap::new()),
            drift: drift::Drift::default(),
            heredocs: OnceLock::new(),
        })
    }

    fn key(site: &Site) -> SiteKey {
        let features = crate::proxy::site::stored_json(&site.features);
        digest([
            Some(site.domain.as_str()),
            site.config.as_deref(),
            site.upstream.as_deref(),
            features.as_deref(),
        ])
    }

    fn cached(&self, key: &SiteKey) -> Option<Arc<SiteRoutes>> {
        let mut cache = self.cache.lock().expect("site cache");
        cache.get_mut(key).map(|c| {
            c.used = Instant::now();
            c.routes.clone()
        })
    }

    /// Whether Caddy reads heredocs: a heredoc only Caddy 2.7+ can adapt.
    async fn heredocs(&self) -> Result<bool, ProxyError> {
        if let Some(h) = self.heredocs.get() {
            return Ok(*h);
        }
        let probe = "http://heredoc.invalid {\n\trespond <<X\n\tok\n\tX 200\n}\n";
        let h = match self.admin.adapt(probe).await {
            Ok(_) => true,
            Err(ProxyError::Rejected(_)) => false,
            Err(e) => return Err(e),
        };
        Ok(*self.heredocs.get_or_init(|| h))
    }

    /// The checks that need no Caddy: what would make Caddy read the host while adapting,
    /// and early errors with line numbers.
    async fn check_before_adapting(&self, site: &Site) -> Result<(), ProxyError> {
        let invalid = ProxyError::Invalid;
        no_control_characters("domain", &site.domain, false).map_err(invalid)?;
        if let Some(u) = &site.upstream {
            no_control_characters("upstream", u, false).map_err(invalid)?;
        }
        if let Some(c) = &site.config {
            no_control_characters("config", c, true).map_err(invalid)?;
        }
        let port = self.settings.admin_port();
        for upstream in site.upstreams() {
            if port.is_some_and(|p| mentions_port(&upstream, p)) {
                return Err(ProxyError::Invalid(
                    "the upstream may not be Caddy's admin API".into(),
                ));
            }
        }
        if let Some(t) = site.features.tls {
            if !self.settings.tls && (t.force_https || t.hsts) {
                return Err(ProxyError::Invalid(
                    "tls: forceHttps and hsts need HTTPS, and PROXYHUB_TLS is off".into(),
                ));
            }
        }
        if let Some(snippet) = &site.config {
            let heredocs = self.heredocs().await?;
            snippet::check(snippet, port, heredocs).map_err(ProxyError::Invalid)?;
        }
        Ok(())
    }

    /// Adapts one site and checks what Caddy made of it; cached when it passes.
    async fn adapt(&self, site: &Site) -> Result<Arc<SiteRoutes>, ProxyError> {
        let key = Self::key(site);
        if let Some(r) = self.cached(&key) {
            return Ok(r);
        }
        self.check_before_adapting(site).await?;
        let caddyfile =
            render::site(&self.env, &self.settings, site).map_err(ProxyError::Invalid)?;
        let result = self.admin.adapt(&caddyfile).await?;
        let mut routes = adapted::check_site(&result, &self.settings, &site.names())
            .map_err(ProxyError::Invalid)?;
        if let Some(a) = &site.features.access {
            // The error routes too: a request that fails basic auth runs them, and they must
            // not serve what the auth refused.
            routes.routes = access::guard(&routes.routes, a).map_err(ProxyError::Invalid)?;
            if let Some(e) = &routes.errors {
                routes.errors = Some(access::guard(e, a).map_err(ProxyError::Invalid)?);
            }
        }
        let routes = Arc::new(routes);
        self.cache.lock().expect("site cache").insert(
            key,
            Cached {
                routes: routes.clone(),
                used: Instant::now(),
            },
        );
        Ok(routes)
    }

    /// Each site's routes; a site Caddy or the checks refuse now (stored before a rule
    /// existed, or adapted differently by a newer Caddy) is left out and logged, so one bad
    /// site never takes the others down.
    async fn routes_of(
        self: &Arc<Self>,
        sites: &[Site],
        keys: &[SiteKey],
    ) -> Result<Vec<Option<Arc<SiteRoutes>>>, ProxyError> {
        let mut out: Vec<Option<Arc<SiteRoutes>>> = keys.iter().map(|k| self.cached(k)).collect();
        let missing: Vec<usize> = (0..sites.len()).filter(|&i| out[i].is_none()).collect();
        for chunk in missing.chunks(ADAPT_CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for &i in chunk {
                let (this, site) = (self.clone(), sites[i].clone());
                set.spawn(async move { (i, this.adapt(&site).await) });
            }
            while let Some(joined) = set.join_next().await {
                let (i, result) = joined.map_err(|e| ProxyError::Invalid(e.to_string()))?;
                match result {
                    Ok(r) => out[i] = Some(r),
                    Err(ProxyError::Unreachable(m)) => return Err(ProxyError::Unreachable(m)),
                    Err(e) => tracing::error!(
                        domain = %sites[i].domain,
                        error = %e,
                        "this vhost is not served: Caddy's adaptation of it is refused"
                    ),
                }
            }
        }
        Ok(out)
    }

    /// Assembles and loads the config for `sites` unless Caddy already runs it (`force`:
    /// load even when it is what was last pushed). Returns whether it loaded.
    async fn push(self: &Arc<Self>, sites: &[Site], force: bool) -> Result<bool, ProxyError> {
        let keys: Vec<SiteKey> = sites.iter().map(Self::key).collect();
        let routes = self.routes_of(sites, &keys).await?;
        let parts: Vec<(&str, &SiteRoutes)> = sites
            .iter()
            .zip(&routes)
            .filter_map(|(s, r)| r.as_deref().map(|r| (s.domain.as_str(), r)))
            .collect();
        // What the config is made of, without the load's marker.
        let hash = digest(
            parts
                .iter()
                .flat_map(|(d, r)| [Some(*d), Some(r.routes.as_str()), r.errors.as_deref()]),
        );
        if !force && self.drift.loaded_already(&hash) {
            return Ok(false);
        }
        let marker = format!("proxyhub-{}", uuid::Uuid::new_v4().simple());
        let body = assemble::config(&self.settings, &parts, &marker);
        self.drift.loading().await;
        match self.admin.load(body).await {
            Ok(()) => self.drift.loaded(hash, marker, &self.admin),
            // Caddy kept what it ran.
            Err(e @ ProxyError::Rejected(_)) => return Err(e),
            // Whether it loaded is not known: the next drift check finds out.
            Err(e) => {
                self.drift.forget();
                return Err(e);
            }
        }
        self.evict(keys);
        Ok(true)
    }

    /// Drops cached sites that are not served and were not prepared lately.
    fn evict(&self, keys: Vec<SiteKey>) {
        let live: std::collections::HashSet<SiteKey> = keys.into_iter().collect();
        self.cache
            .lock()
            .expect("site cache")
            .retain(|k, c| live.contains(k) || c.used.elapsed() < KEEP_UNUSED);
    }
}

/// A SHA-256 of `parts`, each told apart from the next (and an absent one from an empty one).
fn digest<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        match part {
            Some(s) => {
                h.update((s.len() as u64 + 1).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => h.update(0u64.to_le_bytes()),
        }
    }
    h.finalize().into()
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
        self.0.push(sites, false).await
    }

    fn forget_applied(&self) {
        self.0.drift.forget();
    }

    async fn repair_drift(&self, sites: &[Site]) -> Result<bool, ProxyError> {
        if self.0.drift.in_sync(&self.0.admin).await? {
            return Ok(false);
        }
        self.0.push(sites, true).await
    }

    async fn upstream_counts(&self) -> Result<Vec<UpstreamCounts>, ProxyError> {
        self.0.admin.upstreams().await
    }
}
