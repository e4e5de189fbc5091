//! The worker checking every enabled vhost's certificate: hourly, and after each push a few
//! times at growing delays, since Caddy obtains certificates in the background (its local CA
//! within a second or two, ACME within minutes). A worker (see `workers.rs`).

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{watch, Notify},
    time::Instant,
};
use tokio_rustls::rustls::{
    pki_types::{pem::PemObject, CertificateDer},
    RootCertStore,
};

use super::{judge, probe, CertStatus, Certificates, Expected, Target};
use crate::{apply::DesiredState, db::Db};

/// A full check this often.
const EVERY: Duration = Duration::from_secs(3600);
/// The first check after start-up.
const AT_START: Duration = Duration::from_secs(5);
/// Checks after a push, each this long after the one before: of the names with no matching
/// certificate yet (a new vhost's), then of those still not matching.
const AFTER_PUSH: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
];
/// Handshakes at once.
const CONCURRENCY: usize = 8;
/// The label sent for a wildcard vhost (`*.example.com` is checked as
/// `proxyhub-check.example.com`).
const WILDCARD_LABEL: &str = "proxyhub-check";

/// What the worker needs.
pub struct Checker {
    pub certificates: Arc<Certificates>,
    /// `None`: nothing to check (TLS off, or nginx).
    pub target: Option<Target>,
    pub db: Db,
    /// The sites served (their domains are the names checked).
    pub desired: Arc<dyn DesiredState>,
    /// Notified by the applier after each successful push.
    pub pushed: Arc<Notify>,
}

/// Checks until `stop` turns true.
pub async fn run(checker: Arc<Checker>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let Some(target) = checker.target.clone() else {
        let _ = stop.wait_for(|s| *s).await;
        return Ok(());
    };
    let admin = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()?;
    let mut system_roots = None;
    // After a push: which of its checks is next, and the names to check then.
    let (mut after_push, mut which) = (None::<usize>, Which::All);
    let mut next = Instant::now() + AT_START;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = checker.pushed.notified() => {
                (after_push, which) = (Some(0), Which::Unsettled);
                next = Instant::now() + AFTER_PUSH[0];
                continue;
            }
            _ = stop.changed() => return Ok(()),
        }
        let roots = match target.expected {
            Expected::LocalCa => local_ca(&admin, &target.admin).await,
            Expected::SystemRoots => system_roots.get_or_insert_with(system).clone(),
        };
        let last = after_push.is_none_or(|i| i + 1 == AFTER_PUSH.len());
        let this = std::mem::replace(&mut which, Which::All);
        let failing = checker.round(&target, &roots, this, !last).await?;
        match after_push {
            Some(i) if !last && !failing.is_empty() => {
                (after_push, which) = (Some(i + 1), Which::These(failing.into_iter().collect()));
                next = Instant::now() + AFTER_PUSH[i + 1];
            }
            _ => {
                after_push = None;
                next = Instant::now() + EVERY;
            }
        }
    }
}

/// Which of the served names a check looks at.
enum Which {
    All,
    /// Those with no matching certificate: after a push, a new vhost's (a push changes no
    /// other name's certificate; the hourly check sees renewals).
    Unsettled,
    These(std::collections::HashSet<String>),
}

impl Checker {
    /// Checks the served names `which` says; returns those whose certificate does not match.
    /// A `provisional` check (right after a push) does not show a failure for a name never
    /// checked before: its certificate may still be on its way.
    async fn round(
        &self,
        target: &Target,
        roots: &Result<Arc<RootCertStore>, String>,
        which: Which,
        provisional: bool,
    ) -> anyhow::Result<Vec<String>> {
        let sites = {
            let mut conn = self.db.acquire().await?;
            self.desired.sites(&mut conn).await?
        };
        let mut names: Vec<String> = sites.into_iter().map(|s| s.domain).collect();
        match which {
            Which::All => self.certificates.keep_only(&names),
            Which::Unsettled => {
                self.certificates.keep_only(&names);
                names.retain(|n| !self.certificates.get(n).is_some_and(|s| s.matches));
            }
            Which::These(these) => names.retain(|n| these.contains(n)),
        }
        let ca = match target.expected {
            Expected::LocalCa => "Caddy's local CA",
            Expected::SystemRoots => "a CA the system trusts",
        };
        let mut failing = Vec::new();
        for chunk in names.chunks(CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for name in chunk {
                let (name, target, roots) = (name.clone(), target.clone(), roots.clone());
                set.spawn(async move {
                    let status = check(&target, &name, &roots, ca).await;
                    (name, status)
                });
            }
            while let Some(done) = set.join_next().await {
                let (name, status) = done?;
                if !status.matches {
                    failing.push(name.clone());
                    if provisional && !self.certificates.has(&name) {
                        continue;
                    }
                }
                self.certificates.set(&name, status);
            }
        }
        Ok(failing)
    }
}

/// One name's status: its handshake, then the served chain judged.
async fn check(
    target: &Target,
    name: &str,
    roots: &Result<Arc<RootCertStore>, String>,
    ca: &str,
) -> CertStatus {
    let host = match name.strip_prefix("*.") {
        Some(parent) => format!("{WILDCARD_LABEL}.{parent}"),
        None => name.to_string(),
    };
    let now = time::OffsetDateTime::now_utc();
    match probe::chain(&target.host, target.port, &host).await {
        Ok(chain) => judge::status(&chain, &host, roots, ca, now),
        Err(e) => judge::failed(format!("handshake failed: {e}"), now),
    }
}

/// Caddy's local CA root, from its admin API (`GET /pki/ca/local`).
async fn local_ca(http: &reqwest::Client, admin: &str) -> Result<Arc<RootCertStore>, String> {
    let why = |e: &dyn std::fmt::Display| format!("Caddy's local CA root could not be read: {e}");
    let resp = http
        .get(format!("{admin}/pki/ca/local"))
        .send()
        .await
        .map_err(|e| why(&e))?;
    if !resp.status().is_success() {
        return Err(why(&format!(
            "GET /pki/ca/local answered {}",
            resp.status()
        )));
    }
    let body: serde_json::Value = resp.json().await.map_err(|e| why(&e))?;
    let pem = body["root_certificate"]
        .as_str()
        .ok_or_else(|| why(&"no root_certificate in the answer"))?;
    let root = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| why(&e))?;
    let mut store = RootCertStore::empty();
    store.add(root).map_err(|e| why(&e))?;
    Ok(Arc::new(store))
}

/// The system's trusted roots.
fn system() -> Result<Arc<RootCertStore>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        return Err(format!(
            "no system root certificates found ({} errors)",
            found.errors.len()
        ));
    }
    Ok(Arc::new(store))
}
