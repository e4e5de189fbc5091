//! Rendering nginx's files from the store: a pure function from settings and sites to
//! file names and contents, tested with golden files in `tests/golden/nginx/`.

use std::{collections::BTreeMap, path::PathBuf};

use minijinja::{context, Environment};

use super::features;
use crate::proxy::Site;

/// Every file proxyhub owns in the conf dir is named `proxyhub-*.conf`.
pub const PREFIX: &str = "proxyhub-";
pub const SUFFIX: &str = ".conf";
/// Basic-auth files: written 0640, never included as config.
pub const HTPASSWD: &str = ".htpasswd";
/// Sorts before every site file, so the format exists when the servers name it.
pub const LOG_FORMAT_FILE: &str = "proxyhub-00-log-format.conf";

/// What the rendered files depend on besides the sites.
#[derive(Clone, Debug)]
pub struct RenderSettings {
    /// What each server listens on (`8081`, `[::]:8081`, `127.0.0.1:80`).
    pub listen: Vec<String>,
    /// DNS servers for host-name upstreams (`resolver`), looked up per request.
    pub resolver: Vec<String>,
    /// Absolute, and checked by [`access_log_path`] to be safe inside double quotes.
    pub access_log: PathBuf,
    /// The conf dir, absolute: where basic-auth files are written and read from.
    pub conf_dir: PathBuf,
}

/// File name → content.
pub type Files = BTreeMap<String, String>;

/// The template environment, with the templates compiled into the binary.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    for (name, src) in [
        (
            "nginx/log_format.conf.j2",
            include_str!("../../../templates/nginx/log_format.conf.j2"),
        ),
        (
            "nginx/server.conf.j2",
            include_str!("../../../templates/nginx/server.conf.j2"),
        ),
        (
            "nginx/proxy_location.j2",
            include_str!("../../../templates/nginx/proxy_location.j2"),
        ),
    ] {
        env.add_template(name, src)
            .unwrap_or_else(|e| panic!("{name} parses: {e}"));
    }
    env
}

/// Renders proxyhub's log-format file and one server file per site.
pub fn render(
    env: &Environment,
    settings: &RenderSettings,
    sites: &[Site],
) -> Result<Files, String> {
    let access_log = access_log_path(&settings.access_log)?;
    let mut files = Files::new();
    let format = env
        .get_template("nginx/log_format.conf.j2")
        .and_then(|t| t.render(context! {}))
        .map_err(|e| format!("rendering the log format: {e:#}"))?;
    files.insert(LOG_FORMAT_FILE.to_string(), format);
    let server = env
        .get_template("nginx/server.conf.j2")
        .map_err(|e| e.to_string())?;
    let conf_dir = access_log_path(&settings.conf_dir)?;
    for site in sites {
        let f = &site.features;
        let pool = features::pool(site);
        let by_name = pool.is_none() && site.upstream.as_deref().is_some_and(resolved_per_request);
        let proxy_url = match &pool {
            Some(p) => Some(format!("{}://{}", p.scheme, p.name)),
            None => site.upstream.as_deref().map(proxy_url),
        };
        let file = site_file_name(&site.domain);
        let htpasswd = features::htpasswd(f.access.as_ref());
        let htpasswd_file = htpasswd.as_ref().map(|_| htpasswd_file_name(&file));
        let headers = f.headers.clone().unwrap_or_default();
        let text = server
            .render(context! {
                site => site,
                names => site.names(),
                pool => pool,
                proxy_url => proxy_url,
                listen => settings.listen,
                resolver => by_name.then(|| settings.resolver.join(" ")),
                access_log => access_log,
                access => f.access,
                htpasswd => htpasswd_file.as_ref().map(|n| format!("{conf_dir}/{n}")),
                redirect_to => features::redirect_to(f.redirect.as_ref()),
                response_headers => (!headers.response.is_empty()).then_some(&headers.response),
                request_headers => &headers.request,
                // The usual proxy headers a vhost sets or removes itself (never twice).
                overridden => headers
                    .request
                    .set
                    .keys()
                    .chain(headers.request.remove.iter())
                    .map(|n| n.to_ascii_lowercase())
                    .collect::<Vec<_>>(),
                has_request_headers => !headers.request.is_empty(),
            })
            .map_err(|e| format!("rendering the server for {}: {e:#}", site.domain))?;
        if let (Some(name), Some(text)) = (htpasswd_file, htpasswd) {
            files.insert(name, text);
        }
        if files.insert(file, text).is_some() {
            return Err(format!("two sites render to the file of {}", site.domain));
        }
    }
    Ok(files)
}

/// The basic-auth file beside a site's file (`proxyhub-site-a.com.conf` →
/// `proxyhub-site-a.com.htpasswd`): not `*.conf`, so nginx never reads it as config.
pub fn htpasswd_file_name(site_file: &str) -> String {
    format!("{}{HTPASSWD}", site_file.trim_end_matches(SUFFIX))
}

/// `127.0.0.1:9000` → `http://127.0.0.1:9000`; a given scheme is kept (lowercased).
pub fn proxy_url(upstream: &str) -> String {
    match upstream.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => format!("http://{upstream}"),
    }
}

/// Whether nginx should look an upstream's host up per request instead of at start-up: a
/// host name does (so one that does not resolve fails its own site, not nginx's start or
/// reload); an IP address and `localhost` (from /etc/hosts, which nginx's resolver does
/// not read) do not.
pub fn resolved_per_request(upstream: &str) -> bool {
    let rest = upstream.split_once("://").map_or(upstream, |(_, r)| r);
    if rest.starts_with('[') {
        return false;
    }
    let host = rest.split([':', '/']).next().unwrap_or_default();
    let host = host.to_ascii_lowercase();
    !(host.parse::<std::net::Ipv4Addr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost"))
}

/// The listen addresses: `PROXYHUB_NGINX_LISTEN` checked (`port`, `IPv4:port`,
/// `[IPv6]:port`, `*:port`), else the port, and `[::]:port` when the host has IPv6.
pub fn listen(configured: Option<&str>, port: u16, ipv6: bool) -> Result<Vec<String>, String> {
    let Some(l) = configured.map(str::trim).filter(|l| !l.is_empty()) else {
        let mut out = vec![port.to_string()];
        if ipv6 {
            out.push(format!("[::]:{port}"));
        }
        return Ok(out);
    };
    let ok = l.parse::<u16>().is_ok()
        || l.parse::<std::net::SocketAddr>().is_ok()
        || l.strip_prefix("*:")
            .is_some_and(|p| p.parse::<u16>().is_ok());
    if ok {
        Ok(vec![l.to_string()])
    } else {
        Err(format!(
            "PROXYHUB_NGINX_LISTEN must be a port or address:port (127.0.0.1:80, [::1]:80, *:80), got {l:?}"
        ))
    }
}

/// The resolver addresses: `PROXYHUB_NGINX_RESOLVER` checked, else the nameservers of
/// `resolv_conf` (IPv6 ones in brackets, as nginx wants them; scoped ones left out).
pub fn resolver(configured: Option<&str>, resolv_conf: &str) -> Result<Vec<String>, String> {
    let from_config = configured.is_some();
    let candidates: Vec<&str> = match configured {
        Some(c) => c.split([' ', ',']).filter(|s| !s.is_empty()).collect(),
        None => resolv_conf
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(str::trim)
            .collect(),
    };
    let mut out = Vec::new();
    for c in candidates {
        let addr = if let Ok(ip) = c.parse::<std::net::IpAddr>() {
            match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            }
        } else if c.parse::<std::net::SocketAddr>().is_ok() {
            c.to_string()
        } else if from_config {
            return Err(format!(
                "PROXYHUB_NGINX_RESOLVER must list IP addresses (with an optional :port), got {c:?}"
            ));
        } else {
            continue;
        };
        out.push(addr);
    }
    if out.is_empty() {
        out.push("127.0.0.1".into());
    }
    Ok(out)
}

/// The file a domain's server lives in. Domains are lowercase host names, so the name is
/// safe; `*` (a wildcard) becomes `_`, which no host name contains, and names too long for
/// the file system are cut and made unique with a hash after `~`, which none contains either.
pub fn site_file_name(domain: &str) -> String {
    let safe = domain.replace('*', "_");
    if safe.len() <= 200 {
        format!("{PREFIX}site-{safe}{SUFFIX}")
    } else {
        format!(
            "{PREFIX}site-{}~{:016x}{SUFFIX}",
            &safe[..200],
            fnv1a(domain)
        )
    }
}

/// Whether a file in the conf dir is proxyhub's to manage.
pub fn is_ours(name: &str) -> bool {
    name.starts_with(PREFIX) && (name.ends_with(SUFFIX) || name.ends_with(HTPASSWD))
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The access log as it is written between double quotes: absolute, and without anything
/// nginx would read as a quote, an escape or a variable.
pub fn access_log_path(path: &std::path::Path) -> Result<String, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("the access log path {path:?} is not UTF-8"))?;
    if !path.is_absolute() || s.chars().any(|c| c.is_control() || "\"'\\$;{}".contains(c)) {
        return Err(format!(
            "the access log path {s:?} must be absolute and free of quotes, backslashes, $, ;, braces and control characters"
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_get_a_scheme() {
        assert_eq!(proxy_url("127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(proxy_url("[::1]:80"), "http://[::1]:80");
        assert_eq!(
            proxy_url("HTTPS://api.example.com"),
            "https://api.example.com"
        );
    }

    #[test]
    fn host_names_are_looked_up_per_request_addresses_are_not() {
        for (u, per_request) in [
            ("app.internal:8080", true),
            ("https://api.example.com", true),
            ("http://App.Example.com:80/", true),
            ("10.0.0.5:8080", false),
            ("http://127.0.0.1:9000", false),
            ("[::1]:8080", false),
            ("localhost:3000", false),
            ("http://web.localhost:80", false),
        ] {
            assert_eq!(resolved_per_request(u), per_request, "{u}");
        }
    }

    #[test]
    fn listen_addresses_and_resolvers_are_checked() {
        assert_eq!(listen(None, 8081, true).unwrap(), ["8081", "[::]:8081"]);
        assert_eq!(
            listen(Some("127.0.0.1:80"), 8081, true).unwrap(),
            ["127.0.0.1:80"]
        );
        assert_eq!(listen(Some("[::1]:80"), 1, false).unwrap(), ["[::1]:80"]);
        assert_eq!(listen(Some("*:80"), 1, false).unwrap(), ["*:80"]);
        for bad in [
            "80; include /etc/passwd",
            "host:80",
            "127.0.0.1",
            "1.2.3.4:99999",
        ] {
            assert!(listen(Some(bad), 1, false).is_err(), "{bad}");
        }
        let conf = "# x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\noptions ndots:1\n";
        assert_eq!(
            resolver(None, conf).unwrap(),
            ["10.0.0.2", "[2001:db8::53]"]
        );
        assert_eq!(resolver(None, "").unwrap(), ["127.0.0.1"]);
        assert_eq!(
            resolver(Some("1.1.1.1, 9.9.9.9:53"), "").unwrap(),
            ["1.1.1.1", "9.9.9.9:53"]
        );
        assert!(resolver(Some("1.1.1.1; include x"), "").is_err());
    }

    #[test]
    fn file_names_are_unique_and_fit_the_file_system() {
        assert_eq!(
            site_file_name("a.example.com"),
            "proxyhub-site-a.example.com.conf"
        );
        assert_eq!(
            site_file_name("*.example.com"),
            "proxyhub-site-_.example.com.conf"
        );
        let long_a = format!("{}.a.com", "x.".repeat(120));
        let long_b = format!("{}.b.com", "x.".repeat(120));
        let (a, b) = (site_file_name(&long_a), site_file_name(&long_b));
        assert_ne!(a, b);
        assert!(a.len() <= 255 && is_ours(&a), "{a}");
        assert!(LOG_FORMAT_FILE < site_file_name("0.example.com").as_str());
        assert!(!is_ours(".proxyhub-site-a.conf.tmp") && !is_ours("default.conf"));
    }

    #[test]
    fn access_log_paths_cannot_break_out_of_their_quotes() {
        assert!(access_log_path("/var/log/proxyhub access.log".as_ref()).is_ok());
        for bad in [
            "relative.log",
            "/x\".log",
            "/x$host.log",
            "/x\n.log",
            "/x;.log",
        ] {
            assert!(access_log_path(bad.as_ref()).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod golden_tests {
    use super::*;

    #[test]
    fn rendered_files_match_the_golden_files() {
        let env = templates();
        let failures = crate::proxy::golden::check_all("nginx", |input| {
            let s = &input["settings"];
            let settings = RenderSettings {
                listen: listen(
                    s["listen"].as_str(),
                    s["http_port"].as_u64().unwrap() as u16,
                    s["ipv6"].as_bool().unwrap_or(false),
                )
                .unwrap(),
                resolver: vec!["10.0.0.2".into(), "[2001:db8::53]".into()],
                access_log: s["access_log"].as_str().unwrap().into(),
                conf_dir: "/etc/nginx/conf.d".into(),
            };
            let sites: Vec<Site> = serde_json::from_value(input["sites"].clone()).unwrap();
            render(&env, &settings, &sites)
                .unwrap()
                .iter()
                .map(|(name, text)| format!("==> {name} <==\n{text}"))
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
