//! Caddy, driven through its admin API: the Caddyfile rendered from the store is adapted to
//! JSON (`/adapt`), checked, given the shared access logger, and loaded (`/load`).

use std::{collections::HashSet, path::PathBuf, time::Duration};

use async_trait::async_trait;
use minijinja::{context, Environment};
use serde_json::{json, Value};

use super::{caddyfile, Proxy, ProxyError, Site};
use crate::config::{Config, TlsMode};

/// What the rendered config depends on besides the sites.
#[derive(Clone, Debug)]
pub struct CaddySettings {
    /// `host:port` of the admin endpoint, as written into every pushed config.
    pub admin_listen: String,
    pub tls: bool,
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    pub access_log: PathBuf,
}

impl CaddySettings {
    pub fn from_config(c: &Config) -> Result<Self, String> {
        Ok(Self {
            admin_listen: match &c.caddy_admin_listen {
                Some(l) => checked_listen(l)?,
                None => admin_listen(&c.caddy_admin)?,
            },
            tls: c.tls == TlsMode::Auto,
            http_port: c.http_port,
            https_port: c.https_port,
            access_log: c.access_log_absolute(),
        })
    }

    fn admin_port(&self) -> Option<u16> {
        self.admin_listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
    }

    /// The addresses sites may listen on.
    fn listeners(&self) -> HashSet<String> {
        let http = self.http_port.unwrap_or(80);
        let https = self.https_port.unwrap_or(443);
        [format!(":{http}"), format!(":{https}")].into()
    }
}

/// `http://localhost:2019/` → `localhost:2019`.
fn admin_listen(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("PROXYHUB_CADDY_ADMIN must be an http:// URL, got {url:?}"))?;
    checked_listen(rest.trim_end_matches('/'))
        .map_err(|_| format!("PROXYHUB_CADDY_ADMIN must look like http://host:port, got {url:?}"))
}

/// A `host:port` (or `:port`) that is safe to write into a Caddyfile.
fn checked_listen(hostport: &str) -> Result<String, String> {
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

/// The template environment, with the templates compiled into the binary.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template(
        "caddy/Caddyfile.j2",
        include_str!("../../templates/caddy/Caddyfile.j2"),
    )
    .expect("caddy/Caddyfile.j2 parses");
    env.add_template(
        "caddy/reverse_proxy.j2",
        include_str!("../../templates/caddy/reverse_proxy.j2"),
    )
    .expect("caddy/reverse_proxy.j2 parses");
    env
}

/// Renders the Caddyfile for `sites`: a pure function of its inputs.
pub fn render(
    env: &Environment,
    settings: &CaddySettings,
    sites: &[Site],
) -> Result<String, String> {
    let tmpl = env
        .get_template("caddy/Caddyfile.j2")
        .map_err(|e| e.to_string())?;
    tmpl.render(context! {
        admin => settings.admin_listen,
        tls => settings.tls,
        http_port => settings.http_port,
        https_port => settings.https_port,
        sites => sites,
    })
    .map_err(|e| format!("rendering the Caddyfile: {e:#}"))
}

/// Checks the adapted JSON against what proxyhub asked for, whatever the snippets managed
/// to smuggle past the Caddyfile checks: only our admin address, only our listeners, only
/// our domains, no file or environment access.
pub fn check_adapted(cfg: &Value, settings: &CaddySettings, sites: &[Site]) -> Result<(), String> {
    let obj = cfg.as_object().ok_or("adapted config is not an object")?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "admin" | "apps") {
            return Err(format!(
                "the configuration would set the global {key:?} section"
            ));
        }
    }
    if cfg.pointer("/admin/listen").and_then(Value::as_str) != Some(settings.admin_listen.as_str())
    {
        return Err("the configuration would move Caddy's admin endpoint".into());
    }
    if let Some(apps) = cfg.get("apps").and_then(Value::as_object) {
        if let Some(app) = apps.keys().find(|k| !matches!(k.as_str(), "http" | "tls")) {
            return Err(format!("the configuration would start the {app:?} app"));
        }
    }
    let domains: HashSet<&str> = sites.iter().map(|s| s.domain.as_str()).collect();
    let listeners = settings.listeners();
    let servers = cfg.pointer("/apps/http/servers").and_then(Value::as_object);
    for server in servers.into_iter().flat_map(|s| s.values()) {
        for addr in server
            .get("listen")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let addr = addr.as_str().unwrap_or_default();
            if !listeners.contains(addr) {
                return Err(format!("the configuration would open a listener on {addr}"));
            }
        }
        for route in server
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let hosts: Vec<&str> = route
                .pointer("/match/0/host")
                .and_then(Value::as_array)
                .map(|h| h.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let matchers = route
                .get("match")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if hosts.is_empty() || matchers != 1 || hosts.iter().any(|h| !domains.contains(h)) {
                return Err(format!(
                    "the configuration would serve a site that is not a vhost (hosts {hosts:?})"
                ));
            }
        }
    }
    walk(cfg, settings.admin_port())
}

fn walk(v: &Value, admin_port: Option<u16>) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            if let Some(h) = map.get("handler").and_then(Value::as_str) {
                if matches!(h, "file_server" | "templates" | "acme_server" | "metrics") {
                    return Err(format!("the configuration would use the {h} handler"));
                }
            }
            if map.get("protocol").and_then(Value::as_str) == Some("fastcgi") {
                return Err("the configuration would use a fastcgi transport".into());
            }
            if map.contains_key("dynamic_upstreams") || map.contains_key("lookup_srv") {
                return Err("the configuration would use dynamic upstreams".into());
            }
            if let Some(dial) = map.get("dial").and_then(Value::as_str) {
                if dial.contains('{') || dial.starts_with("unix") {
                    return Err(format!(
                        "upstream address {dial:?} is not a fixed host:port"
                    ));
                }
                if admin_port.is_some_and(|p| caddyfile::mentions_port(dial, p)) {
                    return Err("the configuration would proxy to Caddy's admin API".into());
                }
            }
            map.values().try_for_each(|v| walk(v, admin_port))
        }
        Value::Array(items) => items.iter().try_for_each(|v| walk(v, admin_port)),
        Value::String(s) if s.contains("{env.") || s.contains("{file.") => {
            Err("the configuration would read the host's environment or files".into())
        }
        _ => Ok(()),
    }
}

/// Adds the one access logger all sites share (server-level `logs`, JSON lines to `path`).
pub fn add_access_log(cfg: &mut Value, path: &std::path::Path) {
    if let Some(servers) = cfg
        .pointer_mut("/apps/http/servers")
        .and_then(Value::as_object_mut)
    {
        for server in servers.values_mut() {
            server["logs"] = json!({ "default_logger_name": "proxyhub" });
        }
    }
    cfg["logging"] = json!({
        "logs": {
            "default": { "exclude": ["http.log.access.proxyhub"] },
            "proxyhub_access": {
                "writer": { "output": "file", "filename": path.display().to_string() },
                "encoder": { "format": "json" },
                "include": ["http.log.access.proxyhub"],
            },
        },
    });
}

/// The Caddy backend.
pub struct Caddy {
    base: String,
    settings: CaddySettings,
    env: Environment<'static>,
    client: reqwest::Client,
    /// The JSON config proxyhub last loaded, to tell when Caddy runs something else.
    last_loaded: std::sync::Mutex<Option<Value>>,
}

impl Caddy {
    pub fn new(config: &Config) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base: config.caddy_admin.trim_end_matches('/').to_string(),
            settings: CaddySettings::from_config(config)?,
            env: templates(),
            client,
            last_loaded: std::sync::Mutex::new(None),
        })
    }

    async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> Result<Value, ProxyError> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| unreachable(&self.base, e))?;
        if status.is_success() {
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        } else {
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            Err(ProxyError::Rejected(msg))
        }
    }

    /// The JSON config that `sites` become, checked and ready to load.
    async fn build(&self, sites: &[Site]) -> Result<Value, ProxyError> {
        let caddyfile = render(&self.env, &self.settings, sites).map_err(ProxyError::Invalid)?;
        let adapted = self.post("/adapt", "text/caddyfile", caddyfile).await?;
        let mut cfg = adapted.get("result").cloned().unwrap_or(Value::Null);
        check_adapted(&cfg, &self.settings, sites).map_err(ProxyError::Invalid)?;
        add_access_log(&mut cfg, &self.settings.access_log);
        Ok(cfg)
    }

    /// Loads `cfg`; callers are serialized by the apply lock.
    async fn load(&self, cfg: Value) -> Result<(), ProxyError> {
        self.post("/load", "application/json", cfg.to_string())
            .await?;
        *self.last_loaded.lock().expect("last_loaded lock") = Some(cfg);
        Ok(())
    }

    async fn running(&self) -> Result<Value, ProxyError> {
        let resp = self
            .client
            .get(format!("{}/config/", self.base))
            .send()
            .await
            .map_err(|e| unreachable(&self.base, e))?;
        resp.json().await.map_err(|e| unreachable(&self.base, e))
    }
}

fn unreachable(base: &str, e: reqwest::Error) -> ProxyError {
    ProxyError::Unreachable(format!("Caddy's admin API at {base} did not answer: {e}"))
}

#[async_trait]
impl Proxy for Caddy {
    fn kind(&self) -> &'static str {
        "caddy"
    }

    fn check_site(&self, site: &Site) -> Result<(), String> {
        let port = self.settings.admin_port();
        if let Some(snippet) = &site.config {
            caddyfile::check_snippet(snippet, port)?;
        }
        if let Some(upstream) = &site.upstream {
            if port.is_some_and(|p| caddyfile::mentions_port(upstream, p)) {
                return Err("the upstream may not be Caddy's admin API".into());
            }
            // The upstream ends up in the site block too: hold it to the snippet rules.
            caddyfile::check_snippet(&format!("reverse_proxy {upstream}"), port)?;
        }
        Ok(())
    }

    async fn apply(&self, sites: &[Site]) -> Result<(), ProxyError> {
        let cfg = self.build(sites).await?;
        self.load(cfg).await
    }

    fn forget_applied(&self) {
        *self.last_loaded.lock().expect("last_loaded lock") = None;
    }

    async fn repair_drift(&self, sites: &[Site]) -> Result<bool, ProxyError> {
        let running = self.running().await?;
        if self.last_loaded.lock().expect("last_loaded lock").as_ref() == Some(&running) {
            return Ok(false);
        }
        self.apply(sites).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CaddySettings {
        CaddySettings {
            admin_listen: "localhost:2019".into(),
            tls: false,
            http_port: Some(8081),
            https_port: None,
            access_log: "/var/log/access.log".into(),
        }
    }

    fn site(domain: &str) -> Site {
        Site {
            domain: domain.into(),
            config: None,
            upstream: Some("127.0.0.1:9000".into()),
        }
    }

    fn adapted(extra_server: Value) -> Value {
        json!({
            "admin": {"listen": "localhost:2019"},
            "apps": {"http": {"servers": {"srv0": {
                "listen": [":8081"],
                "routes": [{"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "subroute", "routes": [
                    {"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9000"}]}]}
                ]}], "terminal": true}]
            }, "srv1": extra_server}}}
        })
    }

    #[test]
    fn adapted_config_of_our_sites_passes() {
        let cfg = adapted(json!({"listen": [":8081"], "routes": []}));
        check_adapted(&cfg, &settings(), &[site("a.example.com")]).unwrap();
    }

    #[test]
    fn smuggled_listeners_sites_and_admin_proxies_are_caught() {
        let s = settings();
        let sites = [site("a.example.com")];
        let listener = adapted(json!({"listen": [":2020"], "routes": []}));
        assert!(check_adapted(&listener, &s, &sites)
            .unwrap_err()
            .contains("listener on :2020"));
        let other = adapted(
            json!({"listen": [":8081"], "routes": [{"match": [{"host": ["evil.example.com"]}]}]}),
        );
        assert!(check_adapted(&other, &s, &sites)
            .unwrap_err()
            .contains("not a vhost"));
        let hostless = adapted(json!({"listen": [":8081"], "routes": [{"handle": []}]}));
        assert!(check_adapted(&hostless, &s, &sites)
            .unwrap_err()
            .contains("not a vhost"));
        let admin = adapted(
            json!({"listen": [":8081"], "routes": [{"match": [{"host": ["a.example.com"]}],
            "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:2019"}]}]}]}),
        );
        assert!(check_adapted(&admin, &s, &sites)
            .unwrap_err()
            .contains("admin API"));
        for handler in [
            json!({"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:02019"}]}),
            json!({"handler": "reverse_proxy", "dynamic_upstreams": {"source": "a", "name": "localhost", "port": "2019"}}),
            json!({"handler": "reverse_proxy", "upstreams": [{"dial": "{http.request.header.X-Up}"}]}),
            json!({"handler": "reverse_proxy", "upstreams": [{"dial": "unix//run/caddy-admin.sock"}]}),
        ] {
            let cfg = adapted(
                json!({"listen": [":8081"], "routes": [{"match": [{"host": ["a.example.com"]}], "handle": [handler]}]}),
            );
            assert!(check_adapted(&cfg, &s, &sites).is_err(), "{handler}");
        }
        let files = adapted(
            json!({"listen": [":8081"], "routes": [{"match": [{"host": ["a.example.com"]}],
            "handle": [{"handler": "file_server", "root": "/"}]}]}),
        );
        assert!(check_adapted(&files, &s, &sites)
            .unwrap_err()
            .contains("file_server"));
        let mut moved = adapted(json!({"listen": [":8081"], "routes": []}));
        moved["admin"]["listen"] = "0.0.0.0:2019".into();
        assert!(check_adapted(&moved, &s, &sites)
            .unwrap_err()
            .contains("admin endpoint"));
    }

    #[test]
    fn every_server_logs_to_the_shared_access_logger() {
        let mut cfg = adapted(json!({"listen": [":8081"], "routes": []}));
        add_access_log(&mut cfg, std::path::Path::new("/data/access.log"));
        for server in cfg["apps"]["http"]["servers"].as_object().unwrap().values() {
            assert_eq!(server["logs"]["default_logger_name"], "proxyhub");
        }
        assert_eq!(
            cfg["logging"]["logs"]["proxyhub_access"]["writer"]["filename"],
            "/data/access.log"
        );
    }

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
}

#[cfg(test)]
mod golden_tests {
    use super::*;

    #[test]
    fn rendered_caddyfiles_match_the_golden_files() {
        let env = templates();
        let failures = crate::proxy::golden::check_all("caddy", |input| {
            let s = &input["settings"];
            let settings = CaddySettings {
                admin_listen: s["admin"].as_str().unwrap().into(),
                tls: s["tls"].as_bool().unwrap(),
                http_port: s["http_port"].as_u64().map(|p| p as u16),
                https_port: s["https_port"].as_u64().map(|p| p as u16),
                access_log: "/unused".into(),
            };
            let sites: Vec<Site> = serde_json::from_value(input["sites"].clone()).unwrap();
            render(&env, &settings, &sites).unwrap()
        });
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
