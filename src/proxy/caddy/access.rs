//! A site's access rules, put in front of its adapted routes (and its error routes, which a
//! failed basic auth runs) as JSON: refused addresses get
//! 403, then basic auth, before anything the site's directives or snippet do (Caddy orders a
//! Caddyfile's directives itself, and `redir` or `handle` would come before `basic_auth`).
//! Built from checked fields only (networks in canonical form, bcrypt hashes, plain user
//! names), through `serde_json`, never pasted into text.

use serde_json::{json, Value};

use crate::proxy::site::Access;

/// The handlers that run first on every request to the site.
pub fn handlers(access: &Access) -> Vec<Value> {
    let mut refuse = Vec::new();
    let forbidden =
        || json!([{"handler": "static_response", "status_code": 403, "body": "Forbidden"}]);
    if !access.deny.is_empty() {
        refuse.push(
            json!({"match": [{"remote_ip": {"ranges": access.deny}}], "handle": forbidden()}),
        );
    }
    if !access.allow.is_empty() {
        refuse.push(json!({"match": [{"not": [{"remote_ip": {"ranges": access.allow}}]}], "handle": forbidden()}));
    }
    let mut out = Vec::new();
    if !refuse.is_empty() {
        out.push(json!({"handler": "subroute", "routes": refuse}));
    }
    if !access.basic_auth.is_empty() {
        let accounts: Vec<Value> = access
            .basic_auth
            .iter()
            .map(|c| json!({"username": c.username, "password": c.hash}))
            .collect();
        out.push(json!({
            "handler": "authentication",
            "providers": {"http_basic": {"accounts": accounts, "hash": {"algorithm": "bcrypt"}, "realm": "restricted"}},
        }));
    }
    out
}

/// `routes` (the site's adapted top-level routes, comma-separated JSON objects) with the
/// access handlers first in each.
pub fn guard(routes: &str, access: &Access) -> Result<String, String> {
    let first = handlers(access);
    if first.is_empty() {
        return Ok(routes.to_string());
    }
    let list: Vec<Value> = serde_json::from_str(&format!("[{routes}]"))
        .map_err(|e| format!("the adapted routes do not parse: {e}"))?;
    let guarded: Vec<String> = list
        .into_iter()
        .map(|mut r| {
            let handle = r["handle"].as_array().cloned().unwrap_or_default();
            r["handle"] = Value::Array(first.iter().cloned().chain(handle).collect());
            r.to_string()
        })
        .collect();
    Ok(guarded.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::site::Credential;

    #[test]
    fn access_comes_before_the_site() {
        let access = Access {
            basic_auth: vec![Credential {
                username: "alice".into(),
                hash: "$2b$10$x".into(),
            }],
            allow: vec!["127.0.0.1/32".into()],
            deny: vec!["10.0.0.0/8".into()],
        };
        let routes = r#"{"match":[{"host":["a.com"]}],"handle":[{"handler":"subroute","routes":[]}],"terminal":true}"#;
        let out: Value = serde_json::from_str(&guard(routes, &access).unwrap()).unwrap();
        let handle = out["handle"].as_array().unwrap();
        assert_eq!(handle.len(), 3);
        assert_eq!(
            handle[0]["routes"][0]["match"][0]["remote_ip"]["ranges"][0],
            "10.0.0.0/8"
        );
        assert_eq!(
            handle[0]["routes"][1]["match"][0]["not"][0]["remote_ip"]["ranges"][0],
            "127.0.0.1/32"
        );
        assert_eq!(handle[1]["handler"], "authentication");
        assert_eq!(handle[2]["handler"], "subroute");
        assert_eq!(guard(routes, &Access::default()).unwrap(), routes);
    }
}
