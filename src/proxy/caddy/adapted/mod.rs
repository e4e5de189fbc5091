//! Judging one site on what Caddy itself parsed: the JSON that `/adapt` made of the site's
//! Caddyfile block must be exactly a site (routes under a host matcher for its own domain,
//! on the one listener sites share) built only from the handlers, matchers and fields
//! listed here. What is not listed is refused, so a module or field nobody thought of
//! never reaches Caddy. Every key and string at any depth is checked for placeholders that
//! read the host (`{env.*}`, `{system.*}`, `{file.*}`, `{$VAR}`).

use serde_json::Value;

mod handlers;
mod reverse_proxy;
mod schema;

use super::settings::CaddySettings;
use schema::{array, field, object, only, Cx};

/// The parts of an adapted site that go into the assembled config, as JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteRoutes {
    /// The site's routes (comma-separated JSON objects).
    pub routes: String,
    /// Its `handle_errors` routes, if any.
    pub errors: Option<String>,
}

/// Placeholders that make Caddy read the host: its environment, files, working directory
/// and other facts about the machine. Compared without regard to case.
const HOST_PLACEHOLDERS: &[&str] = &["{env.", "{system.", "{file.", "{$"];

/// Checks Caddy's adaptation (the `result` of `/adapt`) of the site for `names` (its domain
/// first) and returns its routes, or says why it is refused.
pub fn check_site(
    result: &Value,
    settings: &CaddySettings,
    admin_ports: &[u16],
    names: &[String],
) -> Result<SiteRoutes, String> {
    no_host_placeholders(result)?;
    let top = object(result, "the adapted configuration")?;
    only(top, &["apps"], |k| {
        format!("the snippet would set Caddy's global {k:?} configuration")
    })?;
    let apps = object(field(top, "apps")?, "apps")?;
    // The apps proxyhub's own global options make (certificates from the local CA), exactly
    // as proxyhub pushes them: a site may not change them, and they are never copied.
    let globals = settings.global_apps();
    for (k, v) in apps.iter().filter(|(k, _)| *k != "http") {
        if !globals.iter().any(|(app, want)| app == k && want == v) {
            return Err(format!("the snippet would start Caddy's {k:?} app"));
        }
    }
    let http = object(field(apps, "http")?, "the http app")?;
    only(http, &["http_port", "https_port", "servers"], |k| {
        format!("the snippet would set the http app's {k:?}")
    })?;
    for (key, want) in [
        ("http_port", settings.http_port),
        ("https_port", settings.https_port),
    ] {
        if let Some(v) = http.get(key) {
            if v.as_u64() != want.map(u64::from) {
                return Err(format!("the snippet would change the {key}"));
            }
        }
    }
    let servers = object(field(http, "servers")?, "servers")?;
    let mut servers = servers.values();
    let (Some(server), None) = (servers.next(), servers.next()) else {
        return Err("the snippet would add a server (another site or listener)".into());
    };
    let server = object(server, "the server")?;
    only(
        server,
        &["listen", "routes", "errors", "automatic_https"],
        |k| format!("the snippet would set the server's {k:?}"),
    )?;
    let listener = settings.site_listener(None);
    if server.get("listen") != Some(&Value::from(vec![listener.clone()])) {
        return Err(format!(
            "the snippet would listen elsewhere than {listener} ({})",
            server.get("listen").unwrap_or(&Value::Null)
        ));
    }
    let automatic = server.get("automatic_https");
    let expected = (!settings.tls).then(|| serde_json::json!({"disable": true}));
    if automatic != expected.as_ref() {
        return Err("the snippet would change automatic HTTPS".into());
    }
    let cx = Cx {
        admin_ports: admin_ports.to_vec(),
    };
    let routes = site_routes(field(server, "routes")?, names, &cx)?;
    let errors = match server.get("errors") {
        None => None,
        Some(e) => {
            let e = object(e, "errors")?;
            only(e, &["routes"], |k| {
                format!("the snippet would set the server's errors.{k}")
            })?;
            Some(site_routes(field(e, "routes")?, names, &cx)?)
        }
    };
    Ok(SiteRoutes { routes, errors })
}

/// The top-level routes of a site: each matches exactly its own hosts, and what it runs
/// passes the allowlist. Returned as JSON text.
fn site_routes(v: &Value, names: &[String], cx: &Cx) -> Result<String, String> {
    let own = serde_json::json!([{ "host": names }]);
    let domain = names.first().map(String::as_str).unwrap_or_default();
    let mut out = Vec::new();
    for r in array(v, "routes")? {
        let route = object(r, "a route")?;
        if route.get("match") != Some(&own) {
            return Err(format!(
                "the snippet would serve another site than {domain} (matching {})",
                route.get("match").unwrap_or(&Value::Null)
            ));
        }
        handlers::check_route(r, cx)?;
        out.push(r.to_string());
    }
    Ok(out.join(","))
}

fn no_host_placeholders(v: &Value) -> Result<(), String> {
    let check = |s: &str| {
        let lower = s.to_ascii_lowercase();
        match HOST_PLACEHOLDERS.iter().find(|p| lower.contains(*p)) {
            Some(p) => Err(format!(
                "the snippet may not use {p}...}} placeholders: they read the host (in {s:?})"
            )),
            None => Ok(()),
        }
    };
    match v {
        Value::String(s) => check(s),
        Value::Array(items) => items.iter().try_for_each(no_host_placeholders),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check(k)?;
            no_host_placeholders(v)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
