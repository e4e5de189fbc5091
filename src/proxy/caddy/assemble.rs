//! The whole JSON config of one node, assembled from each site's adapted routes: the node's
//! admin endpoint, the one access logger all sites share (in the node's log file), one server
//! on the sites' listener (on the node's address), and the apps proxyhub's global options make
//! (`tls`, `pki`). Built as text from the cached routes, never as a parsed tree.

use std::fmt::Write;

use serde_json::json;

use super::{adapted::SiteRoutes, settings::CaddySettings};
use crate::proxy::NodeSpec;

/// The logger name Caddy's server logs under (`http.log.access.<name>`).
const LOGGER: &str = "proxyhub";

/// The config that serves `sites` (domain and routes) on `node`, as JSON text. `marker` is
/// the admin object's `@id`, which tells this load's config from any other.
pub fn config(
    settings: &CaddySettings,
    node: &NodeSpec,
    sites: &[(&str, &SiteRoutes)],
    marker: &str,
) -> String {
    let access_log = node
        .access_log
        .clone()
        .unwrap_or_else(|| settings.access_log.display().to_string());
    let logging = json!({
        "logs": {
            "default": { "exclude": [format!("http.log.access.{LOGGER}")] },
            "proxyhub_access": {
                "writer": { "output": "file", "filename": access_log },
                "encoder": { "format": "json" },
                "include": [format!("http.log.access.{LOGGER}")],
            },
        },
    });
    let mut out = format!(
        r#"{{"admin":{},"logging":{logging}"#,
        json!({ "@id": marker, "listen": node.admin_listen })
    );
    if sites.is_empty() {
        out.push('}');
        return out;
    }
    // As Caddy orders site blocks: a wildcard host after every exact one, so `*.example.com`
    // never shadows `app.example.com`; the more specific (longer) first.
    let mut order: Vec<&(&str, &SiteRoutes)> = sites.iter().collect();
    order.sort_by_key(|(domain, _)| (domain.contains('*'), std::cmp::Reverse(domain.len())));
    out.push_str(r#","apps":{"http":{"#);
    if let Some(p) = settings.http_port {
        let _ = write!(out, r#""http_port":{p},"#);
    }
    if let Some(p) = settings.https_port {
        let _ = write!(out, r#""https_port":{p},"#);
    }
    let _ = write!(
        out,
        r#""servers":{{"srv0":{{"listen":{},"logs":{},"#,
        json!([settings.site_listener(node.bind.as_deref())]),
        json!({ "default_logger_name": LOGGER })
    );
    if !settings.tls {
        out.push_str(r#""automatic_https":{"disable":true},"#);
    }
    out.push_str(r#""routes":["#);
    join(&mut out, order.iter().map(|(_, r)| r.routes.as_str()));
    out.push(']');
    if order.iter().any(|(_, r)| r.errors.is_some()) {
        out.push_str(r#","errors":{"routes":["#);
        join(
            &mut out,
            order.iter().filter_map(|(_, r)| r.errors.as_deref()),
        );
        out.push_str("]}");
    }
    out.push_str("}}}");
    for (app, value) in settings.global_apps() {
        let _ = write!(out, r#","{app}":{value}"#);
    }
    out.push_str("}}");
    out
}

fn join<'a>(out: &mut String, parts: impl Iterator<Item = &'a str>) {
    let mut first = true;
    for p in parts.filter(|p| !p.is_empty()) {
        if !first {
            out.push(',');
        }
        out.push_str(p);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn settings(tls: bool) -> CaddySettings {
        CaddySettings {
            admin_listen: "127.0.0.1:2999".into(),
            tls,
            local_certs: false,
            http_port: Some(8081),
            https_port: None,
            access_log: "/data/access.log".into(),
        }
    }

    fn node() -> NodeSpec {
        NodeSpec {
            id: 1,
            name: "a".into(),
            admin_url: "http://127.0.0.1:2999".into(),
            admin_listen: "127.0.0.1:2999".into(),
            bind: None,
            access_log: None,
            config_hash: None,
            marker: None,
            etag: None,
            error: None,
        }
    }

    fn routes(domain: &str, errors: bool) -> SiteRoutes {
        let route = |body: &str| {
            json!({"match": [{"host": [domain]}], "handle": [{"handler": "static_response", "body": body}], "terminal": true}).to_string()
        };
        SiteRoutes {
            routes: route("ok"),
            errors: errors.then(|| route("error")),
        }
    }

    #[test]
    fn sites_share_one_server_and_one_access_logger() {
        let (a, w, b) = (
            routes("a.example.com", false),
            routes("*.example.com", true),
            routes("bb.example.com", false),
        );
        let text = config(
            &settings(false),
            &node(),
            &[
                ("*.example.com", &w),
                ("a.example.com", &a),
                ("bb.example.com", &b),
            ],
            "proxyhub-1",
        );
        let cfg: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(cfg["admin"]["listen"], "127.0.0.1:2999");
        assert_eq!(cfg["admin"]["@id"], "proxyhub-1");
        let srv = &cfg["apps"]["http"]["servers"]["srv0"];
        assert_eq!(srv["listen"], json!([":8081"]));
        assert_eq!(srv["logs"]["default_logger_name"], "proxyhub");
        assert_eq!(srv["automatic_https"]["disable"], true);
        let hosts: Vec<&Value> = srv["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["match"][0]["host"][0])
            .collect();
        assert_eq!(hosts, ["bb.example.com", "a.example.com", "*.example.com"]);
        assert_eq!(srv["errors"]["routes"].as_array().unwrap().len(), 1);
        assert_eq!(
            cfg["logging"]["logs"]["proxyhub_access"]["writer"]["filename"],
            "/data/access.log"
        );
        assert_eq!(cfg["apps"]["http"]["http_port"], 8081);
    }

    #[test]
    fn internal_certificates_come_from_the_local_ca_kept_out_of_the_trust_store() {
        let a = routes("a.example.com", false);
        let internal = CaddySettings {
            local_certs: true,
            ..settings(true)
        };
        let cfg: Value =
            serde_json::from_str(&config(&internal, &node(), &[("a.example.com", &a)], "m"))
                .unwrap();
        let apps = &cfg["apps"];
        assert_eq!(
            apps["tls"]["automation"]["policies"],
            json!([{"issuers": [{"module": "internal"}]}])
        );
        assert_eq!(
            apps["pki"]["certificate_authorities"]["local"]["install_trust"],
            false
        );
        assert!(apps["http"]["servers"]["srv0"]
            .get("automatic_https")
            .is_none());
        let acme: Value = serde_json::from_str(&config(
            &settings(true),
            &node(),
            &[("a.example.com", &a)],
            "m",
        ))
        .unwrap();
        assert_eq!(acme["apps"].as_object().unwrap().len(), 1, "{acme}");
    }

    #[test]
    fn a_node_has_its_own_admin_address_listener_and_log() {
        let a = routes("a.example.com", false);
        let b = NodeSpec {
            admin_listen: "10.0.0.2:2019".into(),
            bind: Some("10.0.0.2".into()),
            access_log: Some("/var/log/caddy/b.log".into()),
            ..node()
        };
        let cfg: Value =
            serde_json::from_str(&config(&settings(false), &b, &[("a.example.com", &a)], "m"))
                .unwrap();
        assert_eq!(cfg["admin"]["listen"], "10.0.0.2:2019");
        assert_eq!(
            cfg["apps"]["http"]["servers"]["srv0"]["listen"],
            json!(["10.0.0.2:8081"])
        );
        assert_eq!(
            cfg["logging"]["logs"]["proxyhub_access"]["writer"]["filename"],
            "/var/log/caddy/b.log"
        );
        let v6 = NodeSpec {
            bind: Some("::1".into()),
            ..node()
        };
        let cfg: Value = serde_json::from_str(&config(
            &settings(false),
            &v6,
            &[("a.example.com", &a)],
            "m",
        ))
        .unwrap();
        assert_eq!(
            cfg["apps"]["http"]["servers"]["srv0"]["listen"],
            json!(["[::1]:8081"])
        );
    }

    #[test]
    fn no_sites_no_server() {
        let cfg: Value = serde_json::from_str(&config(&settings(true), &node(), &[], "m")).unwrap();
        assert!(cfg.get("apps").is_none());
        assert_eq!(cfg["admin"]["listen"], "127.0.0.1:2999");
    }
}
