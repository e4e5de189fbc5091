//! What nginx's templates need of a site's structured fields: the upstream pool, the
//! basic-auth file, the redirect's target. Built from checked fields only.

use serde::Serialize;

use crate::proxy::site::{self, Access, LoadBalancing, Redirect, Site};

/// An `upstream` block: when a site has several upstreams, or load balancing or a health
/// check (whose passive half is `max_fails`/`fail_timeout`).
#[derive(Debug, Serialize)]
pub struct Pool {
    pub name: String,
    /// `http` or `https`: the one scheme every upstream shares.
    pub scheme: &'static str,
    /// `least_conn`, `ip_hash`, or none (round robin).
    pub method: Option<&'static str>,
    /// `first`: every server after the first is a `backup`.
    pub backup: bool,
    pub servers: Vec<String>,
    pub fail_timeout: u32,
    /// With https: the name sent to the upstreams (SNI), their one host.
    pub ssl_name: Option<String>,
}

/// The host of `host:port` (`[::1]:80` → `[::1]`).
fn host_of(server: &str) -> &str {
    match server.rfind(']') {
        Some(end) => &server[..=end],
        None => server.rsplit_once(':').map_or(server, |(h, _)| h),
    }
}

/// nginx sends one server name to an https pool: its upstreams must share their host name
/// (addresses need none).
pub fn check_pool(site: &Site) -> Result<(), String> {
    let Some(p) = pool(site) else { return Ok(()) };
    if p.scheme != "https" {
        return Ok(());
    }
    let hosts: std::collections::BTreeSet<&str> = p.servers.iter().map(|s| host_of(s)).collect();
    let named = hosts
        .iter()
        .any(|h| !h.starts_with('[') && h.parse::<std::net::Ipv4Addr>().is_err());
    if hosts.len() > 1 && named {
        return Err(
            "upstreams: nginx sends one server name (SNI) to https upstreams it balances, so they must share a host name (or be IP addresses)"
                .into(),
        );
    }
    Ok(())
}

pub fn pool(site: &Site) -> Option<Pool> {
    let f = &site.features;
    let upstreams = site.upstreams();
    if upstreams.len() < 2 && f.load_balancing.is_none() && f.health_check.is_none() {
        return None;
    }
    let https = site::is_https(upstreams.first()?);
    let servers: Vec<String> = upstreams.iter().map(|u| site::dial_address(u)).collect();
    let lb = f.load_balancing.unwrap_or(LoadBalancing::RoundRobin);
    let ssl_name = https.then(|| host_of(&servers[0]).to_string());
    Some(Pool {
        name: format!("proxyhub_{}", site.domain.replace(['.', '*'], "_")),
        scheme: if https { "https" } else { "http" },
        method: match lb {
            LoadBalancing::LeastConn => Some("least_conn"),
            LoadBalancing::IpHash => Some("ip_hash"),
            LoadBalancing::RoundRobin | LoadBalancing::First => None,
        },
        backup: lb == LoadBalancing::First,
        servers,
        fail_timeout: f
            .health_check
            .as_ref()
            .map_or(10, |h| h.interval_seconds.max(1)),
        ssl_name,
    })
}

/// The htpasswd file's text: `user:bcrypt-hash` lines.
pub fn htpasswd(access: Option<&Access>) -> Option<String> {
    let users = &access?.basic_auth;
    (!users.is_empty()).then(|| {
        users
            .iter()
            .map(|c| format!("{}:{}\n", c.username, c.hash))
            .collect()
    })
}

/// Where a redirect sends a request: the target, then the request's path and query when
/// they are kept.
pub fn redirect_to(r: Option<&Redirect>) -> Option<String> {
    r.map(|r| {
        if r.preserve_path {
            format!("{}$request_uri", r.target.trim_end_matches('/'))
        } else {
            r.target.clone()
        }
    })
}
