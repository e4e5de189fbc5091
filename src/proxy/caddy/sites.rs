//! The adapted sites: each site checked before Caddy reads it, adapted by Caddy and checked
//! again, then cached by a hash of what it is made of, so a push adapts only what changed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use super::{access, adapted, mentions_port, render, snippet, Backend, SiteKey, SiteRoutes};
use crate::proxy::{no_control_characters, ProxyError, Site};

/// How long an adapted site nobody pushes stays cached (a prepared change on its way).
const KEEP_UNUSED: Duration = Duration::from_secs(600);
/// Sites adapted at once when many are missing (a cold start).
const ADAPT_CONCURRENCY: usize = 8;

/// An adapted site, and when a push or a prepared change last wanted it.
pub(super) struct Cached {
    routes: Arc<SiteRoutes>,
    used: Instant,
}

impl Backend {
    pub(super) fn key(site: &Site) -> SiteKey {
        let features = crate::proxy::site::stored_json(&site.features);
        digest([
            Some(site.domain.as_str()),
            site.config.as_deref(),
            site.upstream.as_deref(),
            features.as_deref(),
        ])
    }

    pub(super) fn cached(&self, key: &SiteKey) -> Option<Arc<SiteRoutes>> {
        let mut cache = self.cache.lock().expect("site cache");
        cache.get_mut(key).map(|c| {
            c.used = Instant::now();
            c.routes.clone()
        })
    }

    /// Whether Caddy reads heredocs: a heredoc only Caddy 2.7+ can adapt.
    pub(super) async fn heredocs(&self) -> Result<bool, ProxyError> {
        if let Some(h) = self.heredocs.get() {
            return Ok(*h);
        }
        let probe = "http://heredoc.invalid {\n\trespond <<X\n\tok\n\tX 200\n}\n";
        let h = match self.fleet.admin()?.adapt(probe).await {
            Ok(_) => true,
            Err(ProxyError::Rejected(_)) => false,
            Err(e) => return Err(e),
        };
        Ok(*self.heredocs.get_or_init(|| h))
    }

    /// The checks that need no Caddy: what would make Caddy read the host while adapting,
    /// and early errors with line numbers.
    pub(super) async fn check_before_adapting(&self, site: &Site) -> Result<(), ProxyError> {
        let invalid = ProxyError::Invalid;
        no_control_characters("domain", &site.domain, false).map_err(invalid)?;
        if let Some(u) = &site.upstream {
            no_control_characters("upstream", u, false).map_err(invalid)?;
        }
        if let Some(c) = &site.config {
            no_control_characters("config", c, true).map_err(invalid)?;
        }
        let ports = self.admin_ports();
        for upstream in site.upstreams() {
            if ports.iter().any(|&p| mentions_port(&upstream, p)) {
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
            snippet::check(snippet, &ports, heredocs).map_err(ProxyError::Invalid)?;
        }
        Ok(())
    }

    /// Adapts one site and checks what Caddy made of it; cached when it passes.
    pub(super) async fn adapt(&self, site: &Site) -> Result<Arc<SiteRoutes>, ProxyError> {
        let key = Self::key(site);
        if let Some(r) = self.cached(&key) {
            return Ok(r);
        }
        self.check_before_adapting(site).await?;
        let caddyfile =
            render::site(&self.env, &self.settings, site).map_err(ProxyError::Invalid)?;
        let result = self.fleet.admin()?.adapt(&caddyfile).await?;
        let mut routes =
            adapted::check_site(&result, &self.settings, &self.admin_ports(), &site.names())
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
    pub(super) async fn routes_of(
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

    /// Drops cached sites that are not served and were not prepared lately.
    pub(super) fn evict(&self, keys: Vec<SiteKey>) {
        let live: std::collections::HashSet<SiteKey> = keys.into_iter().collect();
        self.cache
            .lock()
            .expect("site cache")
            .retain(|k, c| live.contains(k) || c.used.elapsed() < KEEP_UNUSED);
    }
}

/// A SHA-256 of `parts`, each told apart from the next (and an absent one from an empty one).
pub(super) fn digest<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> [u8; 32] {
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
