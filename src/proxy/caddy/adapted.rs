//! Judging one site on what Caddy itself parsed: the JSON that `/adapt` made of the site's
//! Caddyfile block must be exactly a site (routes under a host matcher for its own domain,
//! on the one listener sites share) built only from the handlers, matchers and fields
//! listed here. What is not listed is refused, so a module or field nobody thought of
//! never reaches Caddy. Every key and string at any depth is checked for placeholders that
//! read the host (`{env.*}`, `{system.*}`, `{file.*}`, `{$VAR}`).

use serde_json::{Map, Value};

use super::settings::{mentions_port, CaddySettings};

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

/// Checks Caddy's adaptation (the `result` of `/adapt`) of the site for `domain` and
/// returns its routes, or says why it is refused.
pub fn check_site(
    result: &Value,
    settings: &CaddySettings,
    domain: &str,
) -> Result<SiteRoutes, String> {
    no_host_placeholders(result)?;
    let top = object(result, "the adapted configuration")?;
    only(top, &["apps"], |k| {
        format!("the snippet would set Caddy's global {k:?} configuration")
    })?;
    let apps = object(field(top, "apps")?, "apps")?;
    only(apps, &["http"], |k| {
        format!("the snippet would start Caddy's {k:?} app")
    })?;
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
    let listener = settings.site_listener();
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
        admin_port: settings.admin_port(),
    };
    let routes = site_routes(field(server, "routes")?, domain, &cx)?;
    let errors = match server.get("errors") {
        None => None,
        Some(e) => {
            let e = object(e, "errors")?;
            only(e, &["routes"], |k| {
                format!("the snippet would set the server's errors.{k}")
            })?;
            Some(site_routes(field(e, "routes")?, domain, &cx)?)
        }
    };
    Ok(SiteRoutes { routes, errors })
}

/// The top-level routes of a site: each matches exactly its own host, and what it runs
/// passes the allowlist. Returned as JSON text.
fn site_routes(v: &Value, domain: &str, cx: &Cx) -> Result<String, String> {
    let own = serde_json::json!([{ "host": [domain] }]);
    let mut out = Vec::new();
    for r in array(v, "routes")? {
        let route = object(r, "a route")?;
        if route.get("match") != Some(&own) {
            return Err(format!(
                "the snippet would serve another site than {domain} (matching {})",
                route.get("match").unwrap_or(&Value::Null)
            ));
        }
        check_route(r, cx)?;
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

/// What checks need besides the value.
struct Cx {
    /// Caddy's admin port: no upstream or health check may reach it.
    admin_port: Option<u16>,
}

type Check = fn(&Value, &Cx) -> Result<(), String>;

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not an object in Caddy's adaptation"))
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not a list in Caddy's adaptation"))
}

fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    m.get(key)
        .ok_or_else(|| format!("Caddy's adaptation has no {key:?}"))
}

fn only(
    m: &Map<String, Value>,
    keys: &[&str],
    refuse: impl Fn(&str) -> String,
) -> Result<(), String> {
    match m.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(refuse(k)),
        None => Ok(()),
    }
}

/// Checks each listed field of an object with its check; any other field is refused.
fn fields(v: &Value, cx: &Cx, what: &str, allowed: &[(&str, Check)]) -> Result<(), String> {
    for (k, val) in object(v, what)? {
        match allowed.iter().find(|(name, _)| name == k) {
            Some((_, check)) => check(val, cx).map_err(|e| format!("{what}: {e}"))?,
            None => return Err(format!("{what}: the field {k:?} is not allowed")),
        }
    }
    Ok(())
}

fn each(v: &Value, cx: &Cx, check: Check) -> Result<(), String> {
    array(v, "a field")?
        .iter()
        .try_for_each(|item| check(item, cx))
}

fn string(v: &Value, _: &Cx) -> Result<(), String> {
    v.is_string()
        .then_some(())
        .ok_or_else(|| format!("{v} is not a string"))
}

fn integer(v: &Value, _: &Cx) -> Result<(), String> {
    (v.is_i64() || v.is_u64())
        .then_some(())
        .ok_or_else(|| format!("{v} is not an integer"))
}

fn boolean(v: &Value, _: &Cx) -> Result<(), String> {
    v.is_boolean()
        .then_some(())
        .ok_or_else(|| format!("{v} is not true or false"))
}

/// A status code, a duration, a size: a number, or a string (a placeholder or `5s`).
fn int_or_string(v: &Value, cx: &Cx) -> Result<(), String> {
    integer(v, cx).or_else(|_| string(v, cx))
}

fn scalar(v: &Value, _: &Cx) -> Result<(), String> {
    (v.is_string() || v.is_number() || v.is_boolean() || v.is_null())
        .then_some(())
        .ok_or_else(|| format!("{v} is not a plain value"))
}

fn strings(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, string)
}

fn scalars(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, scalar)
}

fn integers(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, integer)
}

/// An object whose keys are the user's (header names, variables), each value checked.
fn map_of(v: &Value, cx: &Cx, check: Check) -> Result<(), String> {
    object(v, "a map")?
        .values()
        .try_for_each(|val| check(val, cx))
}

fn strings_or_null(v: &Value, cx: &Cx) -> Result<(), String> {
    if v.is_null() {
        Ok(())
    } else {
        strings(v, cx)
    }
}

fn header_values(v: &Value, cx: &Cx) -> Result<(), String> {
    map_of(v, cx, strings_or_null)
}

fn regexp(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(v, cx, "a regexp", &[("name", string), ("pattern", string)])
}

// ---- routes and matchers ----

fn check_route(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "a route",
        &[
            ("match", matcher_sets),
            ("handle", handlers),
            ("terminal", boolean),
            ("group", string),
        ],
    )
}

fn routes(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, check_route)
}

fn handlers(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, handler)
}

fn matcher_sets(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, matcher_set)
}

/// Request matchers. Inside a site every request already has the site's host, so a
/// `host` matcher here can only narrow it. `file` (tells whether host files exist) and
/// `expression` (CEL, which can reach any placeholder by name) are not listed.
fn matcher_set(v: &Value, cx: &Cx) -> Result<(), String> {
    for (name, val) in object(v, "a matcher set")? {
        let check: Check = match name.as_str() {
            "host" | "path" | "method" => strings,
            "protocol" => string,
            "header" | "vars" => header_values,
            "query" => |v, cx| map_of(v, cx, strings),
            "header_regexp" | "vars_regexp" => |v, cx| map_of(v, cx, regexp),
            "path_regexp" => regexp,
            "remote_ip" | "client_ip" => |v, cx| {
                fields(
                    v,
                    cx,
                    "an IP matcher",
                    &[("ranges", strings), ("forwarded", boolean)],
                )
            },
            "not" => matcher_sets,
            other => return Err(format!("the {other} matcher is not allowed")),
        };
        check(val, cx).map_err(|e| format!("the {name} matcher: {e}"))?;
    }
    Ok(())
}

/// Matchers on a response (`handle_response`, `encode`, `header` with `defer`).
fn response_matcher(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "a response matcher",
        &[("status_code", integers), ("headers", header_values)],
    )
}

// ---- handlers ----

/// The handlers a site may use, each with its fields. Not listed, so refused: file_server,
/// templates, fastcgi transports, acme_server, metrics, pki, tracing, invoke (named
/// routes), log handlers, and any handler a plugin adds.
fn handler(v: &Value, cx: &Cx) -> Result<(), String> {
    let name = v
        .get("handler")
        .and_then(Value::as_str)
        .ok_or("a handler without a name")?;
    let allowed: &[(&str, Check)] = match name {
        "subroute" => &[("handler", string), ("routes", routes), ("errors", errors)],
        "reverse_proxy" => REVERSE_PROXY,
        "headers" => &[
            ("handler", string),
            ("request", request_headers),
            ("response", response_headers),
        ],
        "static_response" => &[
            ("handler", string),
            ("status_code", int_or_string),
            ("body", string),
            ("headers", header_values),
            ("close", boolean),
            ("abort", boolean),
        ],
        "rewrite" => REWRITE,
        "encode" => &[
            ("handler", string),
            ("encodings", encodings),
            ("prefer", strings),
            ("minimum_length", integer),
            ("match", response_matcher),
        ],
        "vars" => return map_of(v, cx, scalar),
        "map" => &[
            ("handler", string),
            ("source", string),
            ("destinations", strings),
            ("mappings", |v, cx| each(v, cx, mapping)),
            ("defaults", scalars),
        ],
        "request_body" => &[
            ("handler", string),
            ("max_size", integer),
            ("read_timeout", int_or_string),
            ("write_timeout", int_or_string),
        ],
        "error" => &[
            ("handler", string),
            ("error", string),
            ("status_code", int_or_string),
        ],
        "authentication" => &[("handler", string), ("providers", auth_providers)],
        "copy_response" => &[("handler", string), ("status_code", int_or_string)],
        "copy_response_headers" => &[
            ("handler", string),
            ("include", strings),
            ("exclude", strings),
        ],
        other => return Err(format!("the {other} handler is not allowed in a snippet")),
    };
    fields(v, cx, name, allowed)
}

fn errors(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(v, cx, "errors", &[("routes", routes)])
}

const REWRITE: &[(&str, Check)] = &[
    ("handler", string),
    ("method", string),
    ("uri", string),
    ("strip_path_prefix", string),
    ("strip_path_suffix", string),
    ("uri_substring", |v, cx| each(v, cx, substring)),
    ("path_regexp", |v, cx| each(v, cx, substring)),
    ("query", query_ops),
];

fn substring(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "a replacement",
        &[("find", string), ("replace", string), ("limit", integer)],
    )
}

fn query_ops(v: &Value, cx: &Cx) -> Result<(), String> {
    let pairs: Check = |v, cx| {
        each(v, cx, |v, cx| {
            fields(
                v,
                cx,
                "a query operation",
                &[
                    ("key", string),
                    ("val", string),
                    ("search_regexp", string),
                    ("replace", string),
                ],
            )
        })
    };
    fields(
        v,
        cx,
        "query",
        &[
            ("rename", pairs),
            ("set", pairs),
            ("add", pairs),
            ("replace", pairs),
            ("delete", strings),
        ],
    )
}

fn header_ops(v: &Value, cx: &Cx, response: bool) -> Result<(), String> {
    let replacements: Check = |v, cx| {
        map_of(v, cx, |v, cx| {
            each(v, cx, |v, cx| {
                fields(
                    v,
                    cx,
                    "a header replacement",
                    &[
                        ("search", string),
                        ("search_regexp", string),
                        ("replace", string),
                    ],
                )
            })
        })
    };
    let common: [(&str, Check); 4] = [
        ("set", header_values),
        ("add", header_values),
        ("delete", strings),
        ("replace", replacements),
    ];
    if response {
        let mut all = common.to_vec();
        all.push(("deferred", boolean));
        all.push(("require", response_matcher));
        fields(v, cx, "response headers", &all)
    } else {
        fields(v, cx, "request headers", &common)
    }
}

fn request_headers(v: &Value, cx: &Cx) -> Result<(), String> {
    header_ops(v, cx, false)
}

fn response_headers(v: &Value, cx: &Cx) -> Result<(), String> {
    header_ops(v, cx, true)
}

fn encodings(v: &Value, cx: &Cx) -> Result<(), String> {
    for (name, val) in object(v, "encodings")? {
        if !matches!(name.as_str(), "gzip" | "zstd" | "br") {
            return Err(format!("the {name} encoding is not allowed"));
        }
        fields(val, cx, name, &[("level", int_or_string)])?;
    }
    Ok(())
}

fn mapping(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "a mapping",
        &[
            ("input", string),
            ("input_regexp", string),
            ("outputs", scalars),
        ],
    )
}

fn auth_providers(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(v, cx, "providers", &[("http_basic", http_basic)])
}

fn http_basic(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "basic auth",
        &[
            ("accounts", |v, cx| {
                each(v, cx, |v, cx| {
                    fields(
                        v,
                        cx,
                        "an account",
                        &[("username", string), ("password", string), ("salt", string)],
                    )
                })
            }),
            ("hash", |v, cx| map_of(v, cx, scalar)),
            ("hash_cache", |v, cx| map_of(v, cx, scalar)),
            ("realm", string),
        ],
    )
}

// ---- reverse_proxy ----

const REVERSE_PROXY: &[(&str, Check)] = &[
    ("handler", string),
    ("upstreams", |v, cx| each(v, cx, upstream)),
    ("load_balancing", load_balancing),
    ("health_checks", health_checks),
    ("transport", transport),
    ("headers", |v, cx| {
        fields(
            v,
            cx,
            "headers",
            &[("request", request_headers), ("response", response_headers)],
        )
    }),
    ("rewrite", |v, cx| fields(v, cx, "rewrite", REWRITE)),
    ("handle_response", |v, cx| each(v, cx, handle_response)),
    ("flush_interval", int_or_string),
    ("request_buffers", integer),
    ("response_buffers", integer),
    ("buffer_requests", boolean),
    ("buffer_responses", boolean),
    ("max_buffer_size", integer),
    ("stream_timeout", int_or_string),
    ("stream_close_delay", int_or_string),
    ("trusted_proxies", strings),
];

fn upstream(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "an upstream",
        &[("dial", dial), ("max_requests", integer)],
    )
}

/// An upstream address Caddy dials: a fixed `host:port`, no placeholder (the address would
/// come from the request), no unix socket or other network, not the admin API.
fn dial(v: &Value, cx: &Cx) -> Result<(), String> {
    let d = v.as_str().ok_or("an upstream address is not a string")?;
    if cx.admin_port.is_some_and(|p| mentions_port(d, p)) {
        return Err("the snippet would proxy to Caddy's admin API".into());
    }
    let fixed = d.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && port.parse::<u16>().is_ok()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    });
    if fixed {
        Ok(())
    } else {
        Err(format!("upstream address {d:?} is not a fixed host:port"))
    }
}

fn load_balancing(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "load_balancing",
        &[
            ("selection_policy", selection_policy),
            ("retries", integer),
            ("try_duration", int_or_string),
            ("try_interval", int_or_string),
            ("retry_match", matcher_sets),
        ],
    )
}

fn selection_policy(v: &Value, cx: &Cx) -> Result<(), String> {
    let policy = v.get("policy").and_then(Value::as_str).unwrap_or_default();
    if !matches!(
        policy,
        "random"
            | "random_choose"
            | "least_conn"
            | "round_robin"
            | "weighted_round_robin"
            | "first"
            | "ip_hash"
            | "client_ip_hash"
            | "uri_hash"
            | "query"
            | "header"
            | "cookie"
    ) {
        return Err(format!(
            "the load-balancing policy {policy:?} is not allowed"
        ));
    }
    fields(
        v,
        cx,
        "selection_policy",
        &[
            ("policy", string),
            ("choose", integer),
            ("key", string),
            ("field", string),
            ("name", string),
            ("secret", string),
            ("max_age", int_or_string),
            ("weights", integers),
            ("fallback", selection_policy),
        ],
    )
}

fn health_checks(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "health_checks",
        &[
            ("active", |v, cx| {
                fields(
                    v,
                    cx,
                    "active health checks",
                    &[
                        ("path", string),
                        ("uri", string),
                        ("port", |v, cx| {
                            integer(v, cx)?;
                            match (v.as_u64(), cx.admin_port) {
                                (Some(p), Some(admin)) if p == u64::from(admin) => {
                                    Err("health checks may not reach Caddy's admin API".into())
                                }
                                _ => Ok(()),
                            }
                        }),
                        ("upstream", dial),
                        ("headers", header_values),
                        ("method", string),
                        ("body", string),
                        ("follow_redirects", boolean),
                        ("interval", int_or_string),
                        ("timeout", int_or_string),
                        ("passes", integer),
                        ("fails", integer),
                        ("max_size", integer),
                        ("expect_status", integer),
                        ("expect_body", string),
                    ],
                )
            }),
            ("passive", |v, cx| {
                fields(
                    v,
                    cx,
                    "passive health checks",
                    &[
                        ("fail_duration", int_or_string),
                        ("max_fails", integer),
                        ("unhealthy_request_count", integer),
                        ("unhealthy_status", integers),
                        ("unhealthy_latency", int_or_string),
                    ],
                )
            }),
        ],
    )
}

/// Only the plain HTTP transport, without anything that names a file (CA pools, client
/// certificates) or changes how names resolve.
fn transport(v: &Value, cx: &Cx) -> Result<(), String> {
    if v.get("protocol").and_then(Value::as_str) != Some("http") {
        return Err(format!(
            "the {} transport is not allowed",
            v.get("protocol").unwrap_or(&Value::Null)
        ));
    }
    fields(
        v,
        cx,
        "transport",
        &[
            ("protocol", string),
            ("tls", |v, cx| {
                fields(
                    v,
                    cx,
                    "transport tls",
                    &[
                        ("insecure_skip_verify", boolean),
                        ("server_name", string),
                        ("renegotiation", string),
                        ("handshake_timeout", int_or_string),
                        ("except_ports", strings),
                    ],
                )
            }),
            ("keep_alive", |v, cx| {
                fields(
                    v,
                    cx,
                    "keep_alive",
                    &[
                        ("enabled", boolean),
                        ("probe_interval", int_or_string),
                        ("max_idle_conns", integer),
                        ("max_idle_conns_per_host", integer),
                        ("idle_timeout", int_or_string),
                    ],
                )
            }),
            ("dial_timeout", int_or_string),
            ("dial_fallback_delay", int_or_string),
            ("response_header_timeout", int_or_string),
            ("expect_continue_timeout", int_or_string),
            ("max_response_header_size", integer),
            ("write_buffer_size", integer),
            ("read_buffer_size", integer),
            ("read_timeout", int_or_string),
            ("write_timeout", int_or_string),
            ("max_conns_per_host", integer),
            ("versions", strings),
            ("compression", boolean),
        ],
    )
}

fn handle_response(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "handle_response",
        &[
            ("match", response_matcher),
            ("status_code", int_or_string),
            ("routes", routes),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> CaddySettings {
        CaddySettings {
            admin_listen: "localhost:2019".into(),
            tls: false,
            http_port: Some(8081),
            https_port: None,
            access_log: "/unused".into(),
        }
    }

    /// Caddy's adaptation of `http://a.example.com { ... }` whose route runs `handle`.
    fn adapted(handle: Value) -> Value {
        json!({"apps": {"http": {"http_port": 8081, "servers": {"srv0": {
            "listen": [":8081"],
            "routes": [{"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "subroute", "routes": [{"handle": handle}]}], "terminal": true}],
            "automatic_https": {"disable": true}
        }}}}})
    }

    fn check(v: &Value) -> Result<SiteRoutes, String> {
        check_site(v, &settings(), "a.example.com")
    }

    #[test]
    fn what_ordinary_snippets_adapt_to_passes() {
        for handle in [
            json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9000"}]}]),
            json!([{"handler": "headers", "response": {"add": {"X-Extra": ["v"]}, "deferred": true, "delete": ["Server"]}},
                   {"encodings": {"gzip": {}, "zstd": {}}, "handler": "encode", "prefer": ["zstd", "gzip"]},
                   {"body": "hello {http.request.host}", "handler": "static_response", "status_code": 200}]),
            json!([{"handler": "authentication", "providers": {"http_basic": {"accounts": [{"password": "$2a$14$x", "username": "bob"}], "hash": {"algorithm": "bcrypt"}, "hash_cache": {}}}}]),
            json!([{"handler": "subroute", "routes": [{"handle": [{"handler": "rewrite", "strip_path_prefix": "/api"}]},
                   {"handle": [{"handler": "reverse_proxy", "health_checks": {"active": {"interval": 10000000000u64, "uri": "/health"}, "passive": {"fail_duration": 30000000000u64}},
                     "load_balancing": {"selection_policy": {"policy": "round_robin"}}, "transport": {"dial_timeout": 5000000000u64, "protocol": "http", "tls": {"insecure_skip_verify": true}},
                     "upstreams": [{"dial": "127.0.0.1:9000"}]}], "match": [{"path": ["/api/*"], "not": [{"remote_ip": {"ranges": ["10.0.0.0/8"]}}]}]}]}]),
            json!([{"defaults": ["no"], "destinations": ["{my_var}"], "handler": "map", "mappings": [{"input": "a.example.com", "outputs": ["yes"]}], "source": "{http.request.host}"},
                   {"foo": "bar", "handler": "vars"}]),
            json!([{"handle_response": [{"match": {"status_code": [5]}, "routes": [{"handle": [{"body": "bad", "handler": "static_response", "status_code": 502}]}]}],
                    "handler": "reverse_proxy", "rewrite": {"method": "GET", "uri": "/verify"}, "upstreams": [{"dial": "127.0.0.1:9100"}]}]),
        ] {
            check(&adapted(handle.clone())).unwrap_or_else(|e| panic!("{handle}: {e}"));
        }
        let with_errors = {
            let mut v = adapted(json!([{"handler": "static_response"}]));
            v["apps"]["http"]["servers"]["srv0"]["errors"] = json!({"routes": [
                {"match": [{"host": ["a.example.com"]}], "handle": [{"handler": "static_response", "body": "{http.error.status_code}"}], "terminal": true}
            ]});
            v
        };
        assert!(check(&with_errors).unwrap().errors.is_some());
    }

    #[test]
    fn placeholders_that_read_the_host_are_refused_in_keys_and_values() {
        for handle in [
            json!([{"handler": "static_response", "body": "{env.HOME}"}]),
            json!([{"handler": "static_response", "body": "{ENV.HOME}"}]),
            json!([{"handler": "static_response", "body": "{system.wd}"}]),
            json!([{"handler": "static_response", "body": "{file./etc/passwd}"}]),
            json!([{"handler": "headers", "response": {"set": {"X-Leak-{env.SECRET}": ["v"]}}}]),
            json!([{"handler": "vars", "{env.X}": "y"}]),
        ] {
            let e = check(&adapted(handle.clone())).expect_err(&handle.to_string());
            assert!(e.contains("read the host"), "{handle}: {e}");
        }
    }

    #[test]
    fn handlers_matchers_and_fields_not_listed_are_refused() {
        for (handle, why) in [
            (
                json!([{"handler": "file_server", "root": "/"}]),
                "file_server",
            ),
            (json!([{"handler": "templates"}]), "templates"),
            (
                json!([{"handler": "reverse_proxy", "transport": {"protocol": "fastcgi"}, "upstreams": [{"dial": "127.0.0.1:9000"}]}]),
                "fastcgi",
            ),
            (
                json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:2019"}]}]),
                "admin API",
            ),
            (
                json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "[::1]:02019"}]}]),
                "admin API",
            ),
            (
                json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "{http.request.header.X-Up}"}]}]),
                "fixed host:port",
            ),
            (
                json!([{"handler": "reverse_proxy", "upstreams": [{"dial": "unix//run/caddy.sock"}]}]),
                "fixed host:port",
            ),
            (
                json!([{"handler": "reverse_proxy", "dynamic_upstreams": {"source": "a"}}]),
                "dynamic_upstreams",
            ),
            (
                json!([{"handler": "reverse_proxy", "transport": {"protocol": "http", "tls": {"root_ca_pem_files": ["/etc/shadow"]}}, "upstreams": [{"dial": "a:443"}]}]),
                "root_ca_pem_files",
            ),
            (
                json!([{"handler": "reverse_proxy", "health_checks": {"active": {"port": 2019}}, "upstreams": [{"dial": "a:80"}]}]),
                "admin API",
            ),
            (
                json!([{"handler": "subroute", "routes": [{"match": [{"file": {"try_files": ["/etc/passwd"]}}], "handle": []}]}]),
                "file matcher",
            ),
            (
                json!([{"handler": "subroute", "routes": [{"match": [{"expression": "true"}], "handle": []}]}]),
                "expression matcher",
            ),
            (json!([{"handler": "some_plugin"}]), "some_plugin"),
            (
                json!([{"handler": "static_response", "surprise": 1}]),
                "surprise",
            ),
        ] {
            let e = check(&adapted(handle.clone())).expect_err(&handle.to_string());
            assert!(e.contains(why), "{handle}: {e}");
        }
    }

    #[test]
    fn anything_beyond_the_sites_own_routes_is_refused() {
        let ok = adapted(json!([]));
        let mut other_host = ok.clone();
        other_host["apps"]["http"]["servers"]["srv0"]["routes"][0]["match"] =
            json!([{"host": ["victim.example.com"]}]);
        let mut two_hosts = ok.clone();
        two_hosts["apps"]["http"]["servers"]["srv0"]["routes"][0]["match"] =
            json!([{"host": ["a.example.com", "victim.example.com"]}]);
        let mut hostless = ok.clone();
        hostless["apps"]["http"]["servers"]["srv0"]["routes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"handle": []}));
        let mut listener = ok.clone();
        listener["apps"]["http"]["servers"]["srv0"]["listen"] = json!([":2020"]);
        let mut server = ok.clone();
        server["apps"]["http"]["servers"]["srv1"] = json!({"listen": [":8081"], "routes": []});
        let mut logs = ok.clone();
        logs["apps"]["http"]["servers"]["srv0"]["logs"] = json!({});
        let mut global = ok.clone();
        global["admin"] = json!({"listen": "0.0.0.0:2019"});
        let mut storage = ok.clone();
        storage["storage"] = json!({"module": "file_system", "root": "/etc"});
        let mut tls_app = ok.clone();
        tls_app["apps"]["tls"] = json!({});
        let mut port = ok.clone();
        port["apps"]["http"]["http_port"] = json!(80);
        for (v, why) in [
            (other_host, "another site"),
            (two_hosts, "another site"),
            (hostless, "another site"),
            (listener, "listen elsewhere"),
            (server, "add a server"),
            (logs, "\"logs\""),
            (global, "\"admin\""),
            (storage, "\"storage\""),
            (tls_app, "\"tls\" app"),
            (port, "http_port"),
        ] {
            let e = check(&v).expect_err(why);
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
