//! The structured fields of a vhost, as a client sends them and as they are checked: each
//! refusal names its field. What passes is the stored form (`proxy::site`), which both
//! proxies' templates render without further escaping, so every rule here is an allowlist
//! of characters and shapes.

use std::{collections::BTreeSet, net::IpAddr};

use serde::Deserialize;
use utoipa::ToSchema;

use super::validate;
use crate::proxy::{
    no_control_characters,
    site::{Access, Credential, Features, HeaderOps, Headers, HealthCheck, Redirect},
};

/// A refusal: the field (`aliases[1]`, `access.allow[0]`) and why.
pub type Refusal = (String, String);

fn refuse<T>(field: impl Into<String>, why: impl Into<String>) -> Result<T, Refusal> {
    Err((field.into(), why.into()))
}

/// `access` as a client sends it: passwords in clear (hashed here, never stored or shown as
/// sent); a user given without one keeps the password it has.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessInput {
    #[serde(default)]
    pub basic_auth: Vec<UserInput>,
    /// Client addresses or networks (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`) let through.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Client addresses or networks refused (deny wins over allow).
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Letters, digits, `.`, `_`, `-`; at most 64.
    pub username: String,
    /// Required for a new user; left out, the user keeps its password.
    #[serde(default)]
    pub password: Option<String>,
}

/// bcrypt's cost: both proxies check a password per request (Caddy caches the result).
const BCRYPT_COST: u32 = 10;
/// Passwords one change may set.
const MAX_PASSWORDS: usize = 20;

pub const MAX_ALIASES: usize = 50;
pub const MAX_UPSTREAMS: usize = 32;
const MAX_LIST: usize = 256;
const MAX_HEADERS: usize = 50;

/// Checks the aliases: host names, lowercased, none twice, none the domain itself.
pub fn aliases(domain: &str, raw: &[String]) -> Result<Vec<String>, Refusal> {
    if raw.len() > MAX_ALIASES {
        return refuse("aliases", format!("at most {MAX_ALIASES} aliases"));
    }
    let mut seen = BTreeSet::from([domain.to_string()]);
    let mut out = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let a = validate::domain(a).map_err(|m| (format!("aliases[{i}]"), m))?;
        if !seen.insert(a.clone()) {
            return refuse(
                format!("aliases[{i}]"),
                format!("{a} is listed twice (or is the domain)"),
            );
        }
        out.push(a);
    }
    Ok(out)
}

/// Checks a redirect: an absolute http(s) URL of plain URL characters, one of the four codes.
pub fn redirect(r: &Redirect) -> Result<Redirect, Refusal> {
    if ![301, 302, 307, 308].contains(&r.code) {
        return refuse("redirect.code", "must be 301, 302, 307 or 308");
    }
    let t = r.target.trim();
    no_control_characters("redirect.target", t, false)
        .map_err(|m| ("redirect.target".into(), m))?;
    // RFC 3986's characters, less what a config reads as a quote, an escape, a variable or a
    // placeholder (`"'\\$` and braces), and `;`/`#` nothing needs here.
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/?[]@!&()*+,=%".contains(c);
    let parsed = url::Url::parse(t).ok();
    let ok_scheme = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if t.len() > 2000 || !t.chars().all(allowed) || !ok_scheme || !t.contains("://") {
        return refuse(
            "redirect.target",
            "must be an absolute http:// or https:// URL of plain URL characters (no spaces, quotes, backslashes, $, braces, ; or #)",
        );
    }
    Ok(Redirect {
        target: t.to_string(),
        ..r.clone()
    })
}

/// Checks the upstreams: each like `upstream`, none twice, all of one scheme.
pub fn upstreams(raw: &[String]) -> Result<Vec<String>, Refusal> {
    if raw.len() > MAX_UPSTREAMS {
        return refuse("upstreams", format!("at most {MAX_UPSTREAMS} upstreams"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, u) in raw.iter().enumerate() {
        let u = validate::upstream(u).map_err(|m| (format!("upstreams[{i}]"), m))?;
        if out.iter().any(|o| o.eq_ignore_ascii_case(&u)) {
            return refuse(format!("upstreams[{i}]"), format!("{u} is listed twice"));
        }
        out.push(u);
    }
    let https = |u: &String| u.to_ascii_lowercase().starts_with("https://");
    if out.iter().any(https) && !out.iter().all(https) {
        return refuse(
            "upstreams",
            "upstreams must all use the same scheme (all https://, or all http)",
        );
    }
    Ok(out)
}

pub fn health_check(h: &HealthCheck) -> Result<HealthCheck, Refusal> {
    let path_ok = h.path.starts_with('/')
        && h.path.len() <= 200
        && h.path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/?=&%".contains(c));
    if !path_ok {
        return refuse(
            "healthCheck.path",
            "must start with / and hold only letters, digits and -._~/?=&% (at most 200)",
        );
    }
    if !(1..=3600).contains(&h.interval_seconds) {
        return refuse("healthCheck.intervalSeconds", "must be 1 to 3600");
    }
    if !(100..=599).contains(&h.expect_status) {
        return refuse(
            "healthCheck.expectStatus",
            "must be an HTTP status (100 to 599)",
        );
    }
    Ok(h.clone())
}

/// Checks `access` and hashes new passwords; `old` gives the hashes of users sent without a
/// password. `None` when nothing is restricted.
pub fn access(input: &AccessInput, old: Option<&Access>) -> Result<Option<Access>, Refusal> {
    if input.basic_auth.len() > 100 {
        return refuse("access.basicAuth", "at most 100 users");
    }
    // Each password costs a bcrypt hash (tens of milliseconds of CPU).
    if input
        .basic_auth
        .iter()
        .filter(|u| u.password.is_some())
        .count()
        > MAX_PASSWORDS
    {
        return refuse(
            "access.basicAuth",
            format!("at most {MAX_PASSWORDS} passwords in one change (users sent without one keep theirs)"),
        );
    }
    let mut users = Vec::with_capacity(input.basic_auth.len());
    let mut seen = BTreeSet::new();
    for (i, u) in input.basic_auth.iter().enumerate() {
        let at = |f: &str| format!("access.basicAuth[{i}].{f}");
        let name_ok = !u.username.is_empty()
            && u.username.len() <= 64
            && u.username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok {
            return refuse(at("username"), "letters, digits, '.', '_' and '-', 1 to 64");
        }
        if !seen.insert(u.username.clone()) {
            return refuse(at("username"), format!("{} is listed twice", u.username));
        }
        let stored = old
            .and_then(|a| a.basic_auth.iter().find(|c| c.username == u.username))
            .map(|c| c.hash.clone());
        let hash = match (&u.password, stored) {
            (Some(p), _) if p.is_empty() || p.len() > 72 => {
                return refuse(at("password"), "must be 1 to 72 bytes (bcrypt's limit)")
            }
            // The password it has: nothing changes.
            (Some(p), Some(h)) if bcrypt::verify(p, &h).unwrap_or(false) => h,
            (Some(p), _) => {
                bcrypt::hash(p, BCRYPT_COST).map_err(|e| (at("password"), e.to_string()))?
            }
            (None, Some(h)) => h,
            (None, None) => return refuse(at("password"), "is required for a new user"),
        };
        users.push(Credential {
            username: u.username.clone(),
            hash,
        });
    }
    let a = Access {
        basic_auth: users,
        allow: networks("access.allow", &input.allow)?,
        deny: networks("access.deny", &input.deny)?,
    };
    Ok((a != Access::default()).then_some(a))
}

/// Addresses and CIDR networks, in their canonical spelling (`10.1.2.3/8` → `10.0.0.0/8`).
fn networks(field: &str, raw: &[String]) -> Result<Vec<String>, Refusal> {
    if raw.len() > MAX_LIST {
        return refuse(field, format!("at most {MAX_LIST} entries"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, n) in raw.iter().enumerate() {
        let n = n.trim();
        let net = if let Ok(ip) = n.parse::<IpAddr>() {
            ipnet::IpNet::from(ip)
        } else {
            n.parse::<ipnet::IpNet>()
                .map_err(|_| {
                    (
                        format!("{field}[{i}]"),
                        format!("{n:?} is not an IP address or CIDR network"),
                    )
                })?
                .trunc()
        };
        let text = net.to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

/// Checks header names (letters, digits, `-`) and values (printable ASCII without quotes,
/// backslashes, `$` or braces: nothing a proxy would read as a variable or placeholder).
pub fn headers(h: &Headers) -> Result<Option<Headers>, Refusal> {
    let side = |ops: &HeaderOps, which: &str| -> Result<HeaderOps, Refusal> {
        if ops.set.len() + ops.remove.len() > MAX_HEADERS {
            return refuse(
                format!("headers.{which}"),
                format!("at most {MAX_HEADERS} headers"),
            );
        }
        let mut names = BTreeSet::new();
        let mut out = HeaderOps::default();
        for (name, value) in &ops.set {
            let at = format!("headers.{which}.set.{name}");
            header_name(name).map_err(|m| (at.clone(), m))?;
            if !names.insert(name.to_ascii_lowercase()) {
                return refuse(at, "is named twice");
            }
            header_value(value).map_err(|m| (at, m))?;
            out.set.insert(name.clone(), value.clone());
        }
        for (i, name) in ops.remove.iter().enumerate() {
            let at = format!("headers.{which}.remove[{i}]");
            header_name(name).map_err(|m| (at.clone(), m))?;
            if !names.insert(name.to_ascii_lowercase()) {
                return refuse(at, "is set or removed twice");
            }
            out.remove.push(name.clone());
        }
        Ok(out)
    };
    let out = Headers {
        request: side(&h.request, "request")?,
        response: side(&h.response, "response")?,
    };
    Ok((!out.is_empty()).then_some(out))
}

fn header_name(n: &str) -> Result<(), String> {
    // Words Caddy's `header` block reads as its own keywords.
    if ["defer", "match"].contains(&n.to_ascii_lowercase().as_str()) {
        return Err(format!("{n:?} is not a header name proxyhub can set"));
    }
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !n.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{n:?} is not a header name (letters, digits and -, at most 64)"
        ))
    }
}

fn header_value(v: &str) -> Result<(), String> {
    no_control_characters("the header value", v, false)?;
    let ok = v.len() <= 1024
        && v.chars()
            .all(|c| (' '..='~').contains(&c) && !"\"\\$`{}".contains(c));
    if ok {
        Ok(())
    } else {
        Err("a header value is printable ASCII without quotes, backslashes, $, backticks or braces (at most 1024)".into())
    }
}

/// The rules that hold between fields.
pub fn whole(f: &Features, config: Option<&str>) -> Result<(), Refusal> {
    if f.redirect.is_some() {
        if !f.upstreams.is_empty() {
            return refuse(
                "redirect",
                "a redirect host has no upstream: leave upstream(s) out",
            );
        }
        if config.is_some() {
            return refuse(
                "redirect",
                "a redirect host answers every request with the redirect: leave config out",
            );
        }
    }
    if f.upstreams.is_empty() {
        if f.load_balancing.is_some() {
            return refuse("loadBalancing", "needs upstreams");
        }
        if f.health_check.is_some() {
            return refuse("healthCheck", "needs upstreams");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
