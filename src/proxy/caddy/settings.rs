//! What Caddy's configuration depends on besides the sites, read once from [`Config`].

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::{
    config::{Config, TlsMode},
    proxy::NodeSpec,
};

/// Settings of the Caddy backend.
#[derive(Clone, Debug)]
pub struct CaddySettings {
    /// `host:port` of the admin endpoint, as written into every pushed config.
    pub admin_listen: String,
    pub tls: bool,
    /// Certificates from Caddy's local CA (`PROXYHUB_TLS=internal`), whose root is never
    /// installed in the host's trust store.
    pub local_certs: bool,
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    pub access_log: PathBuf,
}

impl CaddySettings {
    pub fn from_config(c: &Config) -> Result<Self, String> {
        Ok(Self {
            admin_listen: match &c.caddy_admin_listen {
                Some(l) => checked_listen(l)?,
                None => admin_listen(&admin_urls(c)?[0])?,
            },
            tls: c.tls != TlsMode::Off,
            local_certs: c.tls == TlsMode::Internal,
            http_port: c.http_port,
            https_port: c.https_port,
            access_log: c.access_log_absolute(),
        })
    }

    /// The admin endpoint's port: nothing a site does may reach it.
    pub fn admin_port(&self) -> Option<u16> {
        port_of(&self.admin_listen)
    }

    /// The apps besides `http` that proxyhub's global options make, as Caddy 2.6 to 2.11
    /// adapt `local_certs` + `skip_install_trust`: every certificate from the internal
    /// issuer, and the local CA kept out of the host's trust store. Pushed by proxyhub
    /// itself; a site's adaptation may hold exactly these and nothing else.
    pub fn global_apps(&self) -> Vec<(&'static str, Value)> {
        if !self.local_certs {
            return Vec::new();
        }
        vec![
            (
                "pki",
                json!({"certificate_authorities": {"local": {"install_trust": false}}}),
            ),
            (
                "tls",
                json!({"automation": {"policies": [{"issuers": [{"module": "internal"}]}]}}),
            ),
        ]
    }

    /// The one address sites listen on: the HTTPS port with TLS, else the HTTP port; on
    /// `bind` (an IP address) when given, else on every address of the machine.
    pub fn site_listener(&self, bind: Option<&str>) -> String {
        let port = if self.tls {
            self.https_port.unwrap_or(443)
        } else {
            self.http_port.unwrap_or(80)
        };
        match bind {
            Some(ip) if ip.contains(':') => format!("[{ip}]:{port}"),
            Some(ip) => format!("{ip}:{port}"),
            None => format!(":{port}"),
        }
    }
}

/// The port of a `host:port`.
pub fn port_of(listen: &str) -> Option<u16> {
    listen.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// The admin URLs of PROXYHUB_CADDY_ADMIN (comma-separated: a fleet's nodes at first start).
pub fn admin_urls(c: &Config) -> Result<Vec<String>, String> {
    let urls: Vec<String> = c
        .caddy_admin
        .split(',')
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        return Err("PROXYHUB_CADDY_ADMIN names no admin URL".into());
    }
    for u in &urls {
        admin_listen(u)?;
    }
    Ok(urls)
}

/// The nodes PROXYHUB_CADDY_ADMIN names (`caddy-1`, `caddy-2` ...), as they are seeded into
/// the store at first start. PROXYHUB_CADDY_ADMIN_LISTEN is the admin address written for a
/// single node.
pub fn seed_nodes(c: &Config) -> Result<Vec<NodeSpec>, String> {
    let urls = admin_urls(c)?;
    let single = urls.len() == 1;
    urls.iter()
        .enumerate()
        .map(|(i, url)| {
            let admin_listen = match (&c.caddy_admin_listen, single) {
                (Some(l), true) => checked_listen(l)?,
                _ => admin_listen(url)?,
            };
            Ok(NodeSpec {
                id: -(i as i64) - 1,
                name: format!("caddy-{}", i + 1),
                admin_url: url.clone(),
                admin_listen,
                bind: None,
                access_log: None,
                config_hash: None,
                marker: None,
                etag: None,
                error: None,
            })
        })
        .collect()
}

/// `http://localhost:2019/` → `localhost:2019`.
pub fn admin_listen(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("PROXYHUB_CADDY_ADMIN must be an http:// URL, got {url:?}"))?;
    checked_listen(rest.trim_end_matches('/'))
        .map_err(|_| format!("PROXYHUB_CADDY_ADMIN must look like http://host:port, got {url:?}"))
}

/// A `host:port` (or `:port`) that is safe to write into a config.
pub fn checked_listen(hostport: &str) -> Result<String, String> {
    let ok = hostport.rsplit_once(':').is_some_and(|(host, port)| {
        port.parse::<u16>().is_ok()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    });
    if ok {
        Ok(hostport.to_string())
    } else {
        Err(format!("{hostport:?} is not a host:port admin address"))
    }
}

/// Whether a word names `port` after a colon (`localhost:2019`, `http://[::1]:2019/x`).
/// Ports are compared as numbers, so `:02019` is `:2019`.
pub fn mentions_port(word: &str, port: u16) -> bool {
    word.match_indices(':').any(|(i, _)| {
        let digits: String = word[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let digits = digits.trim_start_matches('0');
        !digits.is_empty() && digits.len() <= 5 && digits.parse::<u32>() == Ok(u32::from(port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_url_becomes_the_listen_address() {
        assert_eq!(
            admin_listen("http://localhost:2019/").unwrap(),
            "localhost:2019"
        );
        assert!(admin_listen("https://x:1").is_err());
        assert!(admin_listen("http://x:1/\n}").is_err());
        assert_eq!(checked_listen(":2019").unwrap(), ":2019");
        assert!(checked_listen("0.0.0.0:2019 {").is_err());
    }

    #[test]
    fn ports_are_compared_as_numbers() {
        assert!(mentions_port("localhost:2019", 2019));
        assert!(mentions_port("http://[::1]:02019/config/", 2019));
        assert!(!mentions_port("localhost:20190", 2019));
        assert!(!mentions_port("localhost:201", 2019));
    }
}
