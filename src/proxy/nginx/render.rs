//! Rendering nginx's files from the store: a pure function from settings and sites to
//! file names and contents, tested with golden files in `tests/golden/nginx/`.

use std::{collections::BTreeMap, path::PathBuf};

use minijinja::{context, Environment};

use crate::proxy::Site;

/// Every file proxyhub owns in the conf dir is named `proxyhub-*.conf`.
pub const PREFIX: &str = "proxyhub-";
pub const SUFFIX: &str = ".conf";
/// Sorts before every site file, so the format exists when the servers name it.
pub const LOG_FORMAT_FILE: &str = "proxyhub-00-log-format.conf";

/// What the rendered files depend on besides the sites.
#[derive(Clone, Debug)]
pub struct RenderSettings {
    pub http_port: u16,
    /// Also listen on IPv6 (`[::]:port`): the host has IPv6.
    pub ipv6: bool,
    /// Absolute, and checked by [`access_log_path`] to be safe inside double quotes.
    pub access_log: PathBuf,
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
    for site in sites {
        let text = server
            .render(context! {
                site => site,
                proxy_url => site.upstream.as_deref().map(proxy_url),
                http_port => settings.http_port,
                ipv6 => settings.ipv6,
                access_log => access_log,
            })
            .map_err(|e| format!("rendering the server for {}: {e:#}", site.domain))?;
        if files.insert(site_file_name(&site.domain), text).is_some() {
            return Err(format!("two sites render to the file of {}", site.domain));
        }
    }
    Ok(files)
}

/// `127.0.0.1:9000` → `http://127.0.0.1:9000`; a given scheme is kept (lowercased).
pub fn proxy_url(upstream: &str) -> String {
    match upstream.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => format!("http://{upstream}"),
    }
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
    name.starts_with(PREFIX) && name.ends_with(SUFFIX)
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
                http_port: s["http_port"].as_u64().unwrap() as u16,
                ipv6: s["ipv6"].as_bool().unwrap_or(false),
                access_log: s["access_log"].as_str().unwrap().into(),
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
