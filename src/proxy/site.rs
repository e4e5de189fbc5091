//! What a proxy serves for one vhost: its names, and either a redirect, upstreams or a
//! snippet, with the structured features (access, headers, TLS) both proxies render. The
//! types here are the stored form too (the vhost's `options` column), already validated
//! (`vhosts::features`): the templates paste nothing that was not checked there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a proxy needs to know of one enabled vhost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub domain: String,
    pub config: Option<String>,
    /// The first upstream (the single one of most sites); `features.upstreams` has them all.
    pub upstream: Option<String>,
    #[serde(default, flatten)]
    pub features: Features,
}

impl Site {
    /// Every host name the site answers: its domain, its aliases, and `www.<domain>` for a
    /// redirect that includes it.
    pub fn names(&self) -> Vec<String> {
        self.features.names(&self.domain)
    }

    /// Where requests go: every upstream, in order.
    pub fn upstreams(&self) -> Vec<String> {
        if self.features.upstreams.is_empty() {
            self.upstream.iter().cloned().collect()
        } else {
            self.features.upstreams.clone()
        }
    }
}

/// Whether an upstream is reached over TLS (`https://`).
pub fn is_https(upstream: &str) -> bool {
    upstream.to_ascii_lowercase().starts_with("https://")
}

/// Where an upstream is dialled, `host:port`: without a scheme it is that already; with one,
/// the scheme's port is added when it names none (`https://example.com` dials
/// `example.com:443`), as both proxies do.
pub fn dial_address(upstream: &str) -> String {
    let rest = upstream.split_once("://").map_or(upstream, |(_, r)| r);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let has_port = match rest.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => rest.contains(':'),
    };
    if has_port {
        rest.to_string()
    } else {
        format!("{rest}:{}", if is_https(upstream) { 443 } else { 80 })
    }
}

/// The structured fields of a vhost (all optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Features {
    /// Extra host names served the same way.
    pub aliases: Vec<String>,
    /// Answer every request with a redirect (no upstream).
    pub redirect: Option<Redirect>,
    /// Every upstream (`host:port` or an http(s) URL), in order; `upstream` is the first.
    pub upstreams: Vec<String>,
    /// How requests are spread over several upstreams.
    pub load_balancing: Option<LoadBalancing>,
    pub health_check: Option<HealthCheck>,
    pub access: Option<Access>,
    pub headers: Option<Headers>,
    pub tls: Option<Tls>,
}

impl Features {
    pub fn names(&self, domain: &str) -> Vec<String> {
        let mut out = vec![domain.to_string()];
        out.extend(self.aliases.iter().cloned());
        let www = format!("www.{domain}");
        if self.redirect.as_ref().is_some_and(|r| r.include_www)
            && !domain.starts_with("*.")
            && !out.contains(&www)
        {
            out.push(www);
        }
        out
    }

    /// The names besides the domain (aliases, `www.`), each reserved for this vhost alone.
    pub fn extra_names(&self, domain: &str) -> Vec<String> {
        self.names(domain).into_iter().skip(1).collect()
    }

    pub fn is_empty(&self) -> bool {
        *self == Features::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redirect {
    /// An absolute http(s) URL.
    pub target: String,
    /// 301, 302, 307 or 308.
    pub code: u16,
    /// Append the request's path and query to the target.
    #[serde(default)]
    pub preserve_path: bool,
    /// Also serve `www.<domain>`.
    #[serde(default)]
    pub include_www: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancing {
    RoundRobin,
    LeastConn,
    IpHash,
    /// The first healthy upstream, in order (the others are fallbacks).
    First,
}

impl LoadBalancing {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancing::RoundRobin => "round_robin",
            LoadBalancing::LeastConn => "least_conn",
            LoadBalancing::IpHash => "ip_hash",
            LoadBalancing::First => "first",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthCheck {
    /// The path probed on each upstream (`/healthz`).
    pub path: String,
    /// Seconds between probes (1 to 3600).
    pub interval_seconds: u32,
    /// The status a healthy upstream answers (200 unless said).
    pub expect_status: u16,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/".into(),
            interval_seconds: 10,
            expect_status: 200,
        }
    }
}

/// Who may reach the site. Deny wins over allow; with an allow list, everyone else is
/// refused (403). Basic auth applies to those let through.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Access {
    pub basic_auth: Vec<Credential>,
    /// Client addresses or networks (CIDR) let through.
    pub allow: Vec<String>,
    /// Client addresses or networks (CIDR) refused.
    pub deny: Vec<String>,
}

/// A basic-auth user. Answers show the username only: the bcrypt hash is never serialized
/// (`stored_json` writes it, the templates get it through `credentials`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    pub username: String,
    #[serde(default, skip_serializing, rename = "passwordHash")]
    #[schema(ignore)]
    pub hash: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Headers {
    pub request: HeaderOps,
    pub response: HeaderOps,
}

impl Headers {
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct HeaderOps {
    /// Header name → value.
    pub set: BTreeMap<String, String>,
    /// Header names.
    pub remove: Vec<String>,
}

impl HeaderOps {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Tls {
    /// Redirect plain HTTP to HTTPS.
    pub force_https: bool,
    /// Send `Strict-Transport-Security` (one year).
    pub hsts: bool,
}

/// The features as stored: the answer's JSON with each user's hash put back.
pub fn stored_json(f: &Features) -> Option<String> {
    if f.is_empty() {
        return None;
    }
    let mut v = serde_json::to_value(f).expect("plain fields");
    if let Some(access) = &f.access {
        for (i, c) in access.basic_auth.iter().enumerate() {
            v["access"]["basicAuth"][i]["passwordHash"] = c.hash.clone().into();
        }
    }
    Some(v.to_string())
}

/// The features from the stored JSON (none for an old row).
pub fn from_stored(text: Option<&str>) -> Result<Features, String> {
    match text {
        None => Ok(Features::default()),
        Some(t) => serde_json::from_str(t).map_err(|e| format!("stored vhost options: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stored_but_never_serialized() {
        let f = Features {
            access: Some(Access {
                basic_auth: vec![Credential {
                    username: "alice".into(),
                    hash: "$2b$10$abc".into(),
                }],
                ..Access::default()
            }),
            ..Features::default()
        };
        let answer = serde_json::to_string(&f).unwrap();
        assert!(!answer.contains("$2b$"), "{answer}");
        let stored = stored_json(&f).unwrap();
        assert!(stored.contains("$2b$10$abc"));
        assert_eq!(from_stored(Some(&stored)).unwrap(), f);
        assert_eq!(stored_json(&Features::default()), None);
    }

    #[test]
    fn dial_addresses_carry_the_scheme_s_port() {
        assert_eq!(dial_address("127.0.0.1:9001"), "127.0.0.1:9001");
        assert_eq!(dial_address("http://app.internal"), "app.internal:80");
        assert_eq!(dial_address("https://app.internal/"), "app.internal:443");
        assert_eq!(dial_address("https://[::1]:8443"), "[::1]:8443");
        assert_eq!(dial_address("https://[::1]"), "[::1]:443");
    }

    #[test]
    fn names_include_aliases_and_www_of_redirects() {
        let mut f = Features {
            aliases: vec!["b.example.com".into()],
            ..Features::default()
        };
        assert_eq!(f.names("a.example.com"), ["a.example.com", "b.example.com"]);
        f.redirect = Some(Redirect {
            target: "https://x.example/".into(),
            code: 301,
            preserve_path: false,
            include_www: true,
        });
        assert_eq!(
            f.extra_names("a.example.com"),
            ["b.example.com", "www.a.example.com"]
        );
    }
}
