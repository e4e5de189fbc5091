//! What a client sends to create or change a vhost: the seed's fields and the structured
//! ones (aliases, redirect, upstreams, load balancing, health check, access, headers, TLS).

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::{
    proxy::site::{Headers, HealthCheck, LoadBalancing, Redirect, Tls},
    vhosts::{features::AccessInput, Changes},
};

/// Tells an absent field (`None`) from `null` (`Some(None)`).
fn set<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Fields a client may set. `config` and `upstream` tell "absent" from `null` (clear it).
/// Creating needs `domain` and a `config` snippet or an `upstream` (or both); updating
/// changes only the fields given. An empty `config` or `upstream` is none.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = VhostInput)]
pub struct VhostInput {
    /// A host name (`app.example.com`, `*.example.com`), at most 253 characters.
    #[schema(
        max_length = 253,
        pattern = "^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
        example = "app.example.com"
    )]
    domain: Option<String>,
    /// Proxy configuration placed inside the site (Caddyfile directives, or nginx
    /// directives for nginx), at most 64 KiB; `null` clears it.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    config: Option<Option<String>>,
    /// Where requests go (`127.0.0.1:3000`, `http://backend:8080`); `null` clears it.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(example = "127.0.0.1:3000")]
    upstream: Option<Option<String>>,
    /// Whether the proxy serves it (default true).
    enabled: Option<bool>,
    /// Extra host names served the same way (each unique across every vhost).
    aliases: Option<Vec<String>>,
    /// Answer every request with this redirect (no upstream, no config); `null` clears it.
    #[serde(default, deserialize_with = "set")]
    redirect: Option<Option<Redirect>>,
    /// Every upstream, in order (`upstream` is the first); `[]` clears them.
    upstreams: Option<Vec<String>>,
    /// `round_robin` (default), `least_conn`, `ip_hash` or `first`; `null` clears it.
    #[serde(default, deserialize_with = "set")]
    load_balancing: Option<Option<LoadBalancing>>,
    /// Probe each upstream; `null` clears it.
    #[serde(default, deserialize_with = "set")]
    health_check: Option<Option<HealthCheck>>,
    /// Basic-auth users and client address lists; `null` clears it.
    #[serde(default, deserialize_with = "set")]
    access: Option<Option<AccessInput>>,
    /// Request and response headers set or removed; `null` clears them.
    #[serde(default, deserialize_with = "set")]
    headers: Option<Option<Headers>>,
    /// Caddy: redirect to HTTPS, send HSTS; `null` clears it.
    #[serde(default, deserialize_with = "set")]
    tls: Option<Option<Tls>>,
}

/// What creating a vhost takes: [`VhostInput`] with `domain` required (this type only
/// describes it in the API document; the handler reads a `VhostInput`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewVhost {
    /// A host name (`app.example.com`, `*.example.com`), at most 253 characters.
    #[schema(
        max_length = 253,
        pattern = "^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
        example = "app.example.com"
    )]
    domain: String,
    /// Proxy configuration placed inside the site; give it or `upstream` (or both).
    config: Option<String>,
    /// Where requests go (`127.0.0.1:3000`, `http://backend:8080`).
    #[schema(example = "127.0.0.1:3000")]
    upstream: Option<String>,
    /// Whether the proxy serves it (default true).
    enabled: Option<bool>,
    aliases: Option<Vec<String>>,
    redirect: Option<Redirect>,
    upstreams: Option<Vec<String>>,
    load_balancing: Option<LoadBalancing>,
    health_check: Option<HealthCheck>,
    access: Option<AccessInput>,
    headers: Option<Headers>,
    tls: Option<Tls>,
}

impl From<VhostInput> for Changes {
    fn from(i: VhostInput) -> Self {
        Changes {
            domain: i.domain,
            config: i.config,
            upstream: i.upstream,
            enabled: i.enabled,
            aliases: i.aliases,
            redirect: i.redirect,
            upstreams: i.upstreams,
            load_balancing: i.load_balancing,
            health_check: i.health_check,
            access: i.access,
            headers: i.headers,
            tls: i.tls,
        }
    }
}
