//! Certificate status: what the proxy really serves for each enabled vhost's name, checked by
//! a TLS handshake of proxyhub's own (`probe.rs`), judged against the CA the certificates
//! should come from (`judge.rs`: Caddy's local CA with `PROXYHUB_TLS=internal`, the system's
//! roots with `auto`), hourly and soon after each push (`worker.rs`). The statuses are kept
//! in memory ([`Certificates`]); nothing is checked with TLS off or with nginx, whose TLS is
//! the operator's.

mod judge;
mod probe;
mod worker;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        RwLock,
    },
};

use serde::Serialize;

use crate::config::{Config, ProxyKind, TlsMode};
pub use worker::{run, Checker};

/// Certificates expiring within this many days are flagged (or within a quarter of their
/// lifetime, for short-lived ones: Caddy's local CA issues 12-hour certificates).
pub const EXPIRING_DAYS: i64 = 14;

/// What proxyhub found the proxy serving for one name.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertStatus {
    /// The issuer's common name (or its whole name); `null` when no certificate was served.
    pub issuer: Option<String>,
    /// The end of the certificate's validity (RFC 3339, UTC).
    pub not_after: Option<String>,
    /// Whole days left until `notAfter` (negative once expired).
    pub days_left: Option<i64>,
    /// The DNS names the certificate is for.
    pub names: Vec<String>,
    /// The certificate covers the name, is within its validity, and its chain leads to the
    /// expected CA.
    pub matches: bool,
    /// Fewer than 14 days left (or, for a short-lived certificate, less than a quarter of
    /// its lifetime).
    pub expiring_soon: bool,
    /// What is wrong, in words; `null` when nothing is.
    pub problem: Option<String>,
    /// When it was checked.
    pub checked_at: String,
}

/// Which CA a served certificate should come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Caddy's local CA (its root read from the admin API).
    LocalCa,
    /// A CA the system trusts.
    SystemRoots,
}

/// Where and what to check, from the configuration; `None` when nothing is checked.
#[derive(Clone, Debug)]
pub struct Target {
    pub expected: Expected,
    /// The proxy's host (of `PROXYHUB_CADDY_ADMIN`) and HTTPS port.
    pub host: String,
    pub port: u16,
    /// Caddy's admin API, for the local CA's root.
    pub admin: String,
}

impl Target {
    pub fn from_config(c: &Config) -> Option<Self> {
        let expected = match (c.proxy, c.tls) {
            (ProxyKind::Nginx, _) | (_, TlsMode::Off) => return None,
            (ProxyKind::Caddy, TlsMode::Internal) => Expected::LocalCa,
            (ProxyKind::Caddy, TlsMode::Auto) => Expected::SystemRoots,
        };
        let host = reqwest::Url::parse(&c.caddy_admin)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "127.0.0.1".into());
        Some(Self {
            expected,
            host,
            port: c.https_port.unwrap_or(443),
            admin: c.caddy_admin.trim_end_matches('/').to_string(),
        })
    }
}

/// The latest status of each name checked, in memory.
#[derive(Default)]
pub struct Certificates {
    statuses: RwLock<HashMap<String, CertStatus>>,
    /// Moves after every status that changed: answers built from the statuses are
    /// remembered under it (see `http::remembered`).
    changes: AtomicU64,
}

impl Certificates {
    /// The status of `name`, if it was checked.
    pub fn get(&self, name: &str) -> Option<CertStatus> {
        self.statuses
            .read()
            .expect("certificates")
            .get(name)
            .cloned()
    }

    /// Every status, by name.
    pub fn all(&self) -> Vec<(String, CertStatus)> {
        let mut all: Vec<_> = self
            .statuses
            .read()
            .expect("certificates")
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn has(&self, name: &str) -> bool {
        self.statuses
            .read()
            .expect("certificates")
            .contains_key(name)
    }

    /// Moves whenever a status changes (after the change is visible).
    pub fn generation(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn set(&self, name: &str, status: CertStatus) {
        let mut statuses = self.statuses.write().expect("certificates");
        if statuses.get(name) != Some(&status) {
            statuses.insert(name.to_string(), status);
            self.changes.fetch_add(1, Ordering::Release);
        }
    }

    /// Forgets the names no longer served.
    fn keep_only(&self, names: &[String]) {
        let live: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut statuses = self.statuses.write().expect("certificates");
        let before = statuses.len();
        statuses.retain(|n, _| live.contains(n.as_str()));
        if statuses.len() != before {
            self.changes.fetch_add(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(matches: bool, at: &str) -> CertStatus {
        CertStatus {
            issuer: Some("Caddy Local Authority".into()),
            not_after: None,
            days_left: Some(1),
            names: vec!["app.example.com".into()],
            matches,
            expiring_soon: false,
            problem: None,
            checked_at: at.into(),
        }
    }

    /// Vhost lists are remembered by the generation: it moves with every status that
    /// changed, and only then.
    #[test]
    fn the_generation_moves_when_a_status_changes_only() {
        let certs = Certificates::default();
        let g0 = certs.generation();
        certs.set("app.example.com", status(true, "t1"));
        let g1 = certs.generation();
        assert!(g1 > g0, "a first status");
        certs.set("app.example.com", status(true, "t1"));
        assert_eq!(certs.generation(), g1, "the same status again");
        certs.set("app.example.com", status(false, "t2"));
        let g2 = certs.generation();
        assert!(g2 > g1, "a changed status");
        assert!(!certs.get("app.example.com").unwrap().matches);
        certs.keep_only(&["app.example.com".into()]);
        assert_eq!(certs.generation(), g2, "nothing forgotten");
        certs.keep_only(&[]);
        assert!(certs.generation() > g2, "a status forgotten");
        assert_eq!(certs.get("app.example.com"), None);
    }
}
