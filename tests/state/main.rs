//! Desired state as code, against a real Caddy: export and import (dry runs, all or nothing,
//! pruning), the command line's `export`, `diff` and `apply`, reverting changelog entries,
//! and backups of a SQLite store.

#[path = "../support/mod.rs"]
mod support;

mod adopt;
mod backup;
mod cli;
mod document;
mod revert;

use serde_json::{json, Value};
use support::TestApp;

/// A document of these vhosts: (domain, upstream, enabled).
fn document(vhosts: &[(&str, &str, bool)]) -> Value {
    json!({
        "apiVersion": "proxyhub/v1",
        "kind": "State",
        "vhosts": vhosts
            .iter()
            .map(|(d, u, e)| json!({"domain": d, "upstream": u, "enabled": e}))
            .collect::<Vec<_>>(),
    })
}

/// An API token of the admin's with every scope.
async fn admin_token(app: &TestApp) -> String {
    let r = app
        .post(
            "/api/tokens",
            json!({"name": "gitops", "scopes": ["read:vhosts", "write:vhosts", "read:logs", "read:changelog", "admin"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The vhosts as (domain, upstream, enabled), by domain.
async fn vhosts(app: &TestApp) -> Vec<(String, String, bool)> {
    let all: Value = app.get("/api/vhosts").await.json().await.unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["domain"].as_str().unwrap().to_string(),
                v["upstream"].as_str().unwrap_or_default().to_string(),
                v["enabled"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Runs `proxyhub <args>` against `app` with `token`, as a CI job would (no terminal on stdin).
async fn proxyhub(app: &TestApp, token: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_proxyhub"))
        .args(args)
        .env("PROXYHUB_URL", &app.base)
        .env("PROXYHUB_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the proxyhub binary runs")
}

/// What a command printed, both streams.
fn said(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
