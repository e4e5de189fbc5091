use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{eventually, free_port, CaddyProcess, Options, TestApp};

#[tokio::test]
async fn proxyhub_starts_even_when_caddy_is_not_there_yet() {
    let caddy = CaddyProcess::start().await;
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let app = TestApp::spawn_with(
        &caddy,
        Options {
            caddy_admin: Some(nowhere),
            ..Default::default()
        },
    )
    .await;
    app.sign_up_admin().await;
    assert_eq!(app.get("/api/vhosts").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn caddy_writes_one_shared_json_access_log() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "a.example.com", "config": "respond \"a\" 200"}))
        .await;
    app.create_vhost(json!({"domain": "b.example.com", "config": "respond \"b\" 404"}))
        .await;
    app.through_proxy("a.example.com", "/one").await;
    app.through_proxy("b.example.com", "/two").await;
    let written = eventually(Duration::from_secs(5), || async {
        std::fs::read_to_string(&app.access_log)
            .map(|s| s.lines().count() >= 2)
            .unwrap_or(false)
    })
    .await;
    assert!(written, "no access log at {}", app.access_log.display());
    let lines: Vec<Value> = std::fs::read_to_string(&app.access_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["request"]["host"].as_str().unwrap().to_string(),
                l["request"]["uri"].as_str().unwrap().to_string(),
                l["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("a.example.com".into(), "/one".into(), 200)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("b.example.com".into(), "/two".into(), 404)),
        "{seen:?}"
    );
}
