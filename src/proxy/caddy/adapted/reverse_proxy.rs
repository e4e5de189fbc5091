//! `reverse_proxy`: upstreams a fixed `host:port` that is not the admin API, load balancing,
//! health checks, the plain HTTP transport without files, header changes, `handle_response`.

use serde_json::Value;

use super::{
    handlers::{
        matcher_sets, request_headers, response_headers, response_matcher, routes, REWRITE,
    },
    schema::{
        boolean, each, fields, header_values, int_or_string, integer, integers, string, strings,
        Check, Cx,
    },
};
use crate::proxy::caddy::settings::{checked_listen, mentions_port};

pub const REVERSE_PROXY: &[(&str, Check)] = &[
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
    if cx.admin_ports.iter().any(|&p| mentions_port(d, p)) {
        return Err("the snippet would proxy to Caddy's admin API".into());
    }
    let has_host = d.rsplit_once(':').is_some_and(|(host, _)| !host.is_empty());
    if has_host && checked_listen(d).is_ok() {
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
                            match v.as_u64() {
                                Some(p) if cx.admin_ports.iter().any(|&a| p == u64::from(a)) => {
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
