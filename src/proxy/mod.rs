//! The seam between proxyhub and the proxy it manages. Everything above this module talks
//! to a [`Proxy`]; only the implementations know whether it is Caddy or nginx.

pub mod caddy;
#[cfg(test)]
mod golden;
pub mod nginx;
pub mod node;
pub mod site;

use async_trait::async_trait;

pub use node::{NodeReport, NodeSpec};
pub use site::{Features, Site};

#[derive(Clone, Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy refused the configuration; the text is the proxy's own.
    #[error("the proxy rejected the configuration: {0}")]
    Rejected(String),
    /// The proxy could not be reached or answered nonsense.
    #[error("the proxy is unreachable: {0}")]
    Unreachable(String),
    /// proxyhub refused to send the configuration (it breaks a rule); a client error.
    #[error("{0}")]
    Invalid(String),
}

/// A reverse proxy that proxyhub configures.
#[async_trait]
pub trait Proxy: Send + Sync + 'static {
    /// `caddy` or `nginx`.
    fn kind(&self) -> &'static str;

    /// Checks a vhost (its snippet and upstream, already syntactically valid) against this
    /// proxy's rules before anything is stored, and readies what pushing it needs (Caddy
    /// adapts it now, so a push only assembles). `Invalid` explains a refusal; `Rejected`
    /// carries the proxy's own words.
    async fn prepare(&self, site: &Site) -> Result<(), ProxyError>;

    /// Makes the proxy run exactly `sites` (all enabled vhosts), or changes nothing and errs.
    /// Returns whether a configuration was pushed (one the proxy already runs is not).
    async fn apply(&self, sites: &[Site]) -> Result<bool, ProxyError>;

    /// Re-applies `sites` when the proxy's running configuration is not the one proxyhub
    /// last applied (a restart, a hand edit). Returns what it repaired (`None`: nothing had
    /// to be).
    async fn repair_drift(&self, sites: &[Site]) -> Result<Option<String>, ProxyError>;

    /// The active nodes of a fleet, read from the store before each push and drift check
    /// (Caddy; other proxies have no nodes and ignore it).
    fn set_nodes(&self, _nodes: Vec<NodeSpec>) {}

    /// What the pushes and drift checks since the last call did to each node, to be stored.
    fn node_reports(&self) -> Vec<NodeReport> {
        Vec::new()
    }

    /// Forgets what was last applied, so the next drift check compares with the store
    /// again: called when an applied change was not committed after all.
    fn forget_applied(&self) {}

    /// What the proxy counts of each upstream it runs, by dial address (`host:port`).
    /// Empty where the proxy tells nothing (nginx's open-source edition).
    async fn upstream_counts(&self) -> Result<Vec<UpstreamCounts>, ProxyError> {
        Ok(Vec::new())
    }
}

/// One upstream as the proxy counts it (Caddy's `GET /reverse_proxy/upstreams`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamCounts {
    /// The dial address, `host:port` ([`site::dial_address`]).
    pub address: String,
    /// Requests to it in flight right now.
    pub num_requests: u64,
    /// Its failures within the passive check's window (`fail_duration`).
    pub fails: u64,
}

/// Refuses control characters (Unicode's `Cc`, and the line and paragraph separators
/// U+2028/U+2029), but newlines and tabs in snippets. A carriage return is refused too:
/// proxies drop or split on it in ways that differ, so a word could read one way here and
/// another way there. The error names the character and its line.
pub fn no_control_characters(field: &str, raw: &str, snippet: bool) -> Result<(), String> {
    let bad = |c: char| {
        (c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
            && !(snippet && matches!(c, '\n' | '\t'))
    };
    match raw.char_indices().find(|&(_, c)| bad(c)) {
        None => Ok(()),
        Some((at, c)) => {
            let line = line_at(raw, at);
            let name = match c {
                '\r' => " (carriage return)",
                '\n' => " (newline)",
                '\t' => " (tab)",
                '\0' => " (NUL)",
                '\u{1b}' => " (escape)",
                _ => "",
            };
            Err(format!(
                "{field} contains a control character on line {line}: U+{:04X}{name}",
                c as u32
            ))
        }
    }
}

/// The line (from 1) of byte `at` in `text`.
pub fn line_at(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}
