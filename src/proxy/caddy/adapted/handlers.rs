//! Routes, request and response matchers, and the handlers a site may use, each with its
//! fields.

use serde_json::Value;

use super::{
    reverse_proxy::REVERSE_PROXY,
    schema::{
        boolean, each, fields, header_values, int_or_string, integer, integers, map_of, object,
        regexp, scalar, scalars, string, strings, Check, Cx,
    },
};

pub fn check_route(v: &Value, cx: &Cx) -> Result<(), String> {
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

pub fn routes(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, check_route)
}

fn handlers(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, handler)
}

pub fn matcher_sets(v: &Value, cx: &Cx) -> Result<(), String> {
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
pub fn response_matcher(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(
        v,
        cx,
        "a response matcher",
        &[("status_code", integers), ("headers", header_values)],
    )
}

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

pub const REWRITE: &[(&str, Check)] = &[
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

pub fn request_headers(v: &Value, cx: &Cx) -> Result<(), String> {
    header_ops(v, cx, false)
}

pub fn response_headers(v: &Value, cx: &Cx) -> Result<(), String> {
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
