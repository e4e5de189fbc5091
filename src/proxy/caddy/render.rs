//! Rendering one site's Caddyfile: a pure function of the settings and the site, tested with
//! golden files (`tests/golden/caddy/`). Each site is rendered and adapted on its own, with
//! the global options its address needs, so Caddy's adaptation shows what that site, and
//! only it, would do.

use minijinja::{context, Environment};

use super::settings::CaddySettings;
use crate::proxy::Site;

/// The template environment, with the templates compiled into the binary.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    for (name, src) in [
        (
            "caddy/site.j2",
            include_str!("../../../templates/caddy/site.j2"),
        ),
        (
            "caddy/reverse_proxy.j2",
            include_str!("../../../templates/caddy/reverse_proxy.j2"),
        ),
    ] {
        env.add_template(name, src).expect("Caddy templates parse");
    }
    env
}

/// `Strict-Transport-Security` as `tls.hsts` sends it: a year.
pub const HSTS: &str = "max-age=31536000";

/// The Caddyfile of one site. Access rules are not in it: they are put in front of the
/// adapted routes (`access`), so they hold whatever order Caddy gives the directives.
pub fn site(env: &Environment, settings: &CaddySettings, site: &Site) -> Result<String, String> {
    let f = &site.features;
    let headers = f.headers.clone().unwrap_or_default();
    let mut response = headers.response;
    if f.tls.is_some_and(|t| t.hsts) {
        response
            .set
            .insert("Strict-Transport-Security".into(), HSTS.into());
    }
    let redirect_to = f.redirect.as_ref().map(|r| {
        if r.preserve_path {
            format!("{}{{uri}}", r.target.trim_end_matches('/'))
        } else {
            r.target.clone()
        }
    });
    env.get_template("caddy/site.j2")
        .and_then(|t| {
            t.render(context! {
                tls => settings.tls,
                local_certs => settings.local_certs,
                http_port => settings.http_port,
                https_port => settings.https_port,
                site => site,
                names => site.names(),
                upstreams => site.upstreams(),
                redirect => f.redirect,
                redirect_to => redirect_to,
                response_headers => (!response.is_empty()).then_some(response),
                request_headers => headers.request,
            })
        })
        .map_err(|e| format!("rendering the site's Caddyfile: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_sites_match_the_golden_files() {
        let env = templates();
        let failures = crate::proxy::golden::check_all("caddy", |input| {
            let s = &input["settings"];
            let settings = CaddySettings {
                admin_listen: "localhost:2019".into(),
                tls: s["tls"].as_bool().unwrap(),
                local_certs: s["local_certs"].as_bool().unwrap_or(false),
                http_port: s["http_port"].as_u64().map(|p| p as u16),
                https_port: s["https_port"].as_u64().map(|p| p as u16),
                access_log: "/unused".into(),
            };
            let sites: Vec<Site> = serde_json::from_value(input["sites"].clone()).unwrap();
            sites
                .iter()
                .map(|s| {
                    let mut out = site(&env, &settings, s).unwrap();
                    // Access rules are JSON put in front of the adapted routes.
                    if let Some(a) = &s.features.access {
                        let first = super::super::access::handlers(a);
                        out.push_str("# access, before the site's adapted routes:\n");
                        out.push_str(&serde_json::to_string_pretty(&first).unwrap());
                        out.push('\n');
                    }
                    out
                })
                .collect::<Vec<_>>()
                .join("----- next site -----\n")
        });
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
