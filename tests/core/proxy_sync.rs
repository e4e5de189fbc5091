use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{
    eventually, expect_error, free_port, CaddyProcess, Options, TestApp, Upstream,
};

#[tokio::test]
async fn a_restarted_caddy_serves_every_enabled_vhost_again_on_its_own() {
    let mut caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("back").await;
    app.create_vhost(json!({"domain": "one.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "two.example.com", "config": "respond \"two\" 200"}))
        .await;
    let off = app
        .create_vhost(json!({"domain": "off.example.com", "config": "respond \"off\" 200"}))
        .await;
    app.patch(&format!("/api/vhosts/{}/toggle", off["id"]))
        .await;

    caddy.restart().await;
    let restored = eventually(Duration::from_secs(15), || async {
        app.through_proxy("two.example.com", "/").await.1 == "two"
    })
    .await;
    assert!(restored, "Caddy was not given its config back within 15 s");
    assert!(app
        .through_proxy("one.example.com", "/")
        .await
        .1
        .starts_with("back"));
    assert_ne!(
        app.through_proxy("off.example.com", "/").await.1,
        "off",
        "disabled vhosts stay off"
    );
    let admin = caddy.running_config().await["admin"]["listen"].clone();
    assert_eq!(
        admin,
        json!(format!("127.0.0.1:{}", caddy.admin_port)),
        "the admin endpoint stays where it was"
    );
}

#[tokio::test]
async fn a_hand_edit_of_caddy_is_reverted() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "kept.example.com", "config": "respond \"kept\" 200"}))
        .await;
    let r = reqwest::Client::new()
        .post(format!("{}/load", caddy.admin_url()))
        .header("content-type", "text/caddyfile")
        .body(format!("{{\n\tadmin 127.0.0.1:{}\n\tauto_https off\n}}\nhttp://kept.example.com:{} {{\n\trespond \"edited\" 200\n}}\n", caddy.admin_port, caddy.http_port))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    assert_eq!(app.through_proxy("kept.example.com", "/").await.1, "edited");
    let reverted = eventually(Duration::from_secs(15), || async {
        app.through_proxy("kept.example.com", "/").await.1 == "kept"
    })
    .await;
    assert!(reverted, "the hand edit was not reverted");
}

#[tokio::test]
async fn with_caddy_down_writes_fail_cleanly_and_reads_keep_working() {
    let mut caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "before.example.com", "config": "respond ok"}))
        .await;
    caddy.kill().await;

    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "during.example.com", "config": "respond ok"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_UNREACHABLE").await;
    assert!(
        body["message"].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(list.len(), 1, "nothing stored while Caddy is down");
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
    let signin = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        signin.status(),
        StatusCode::OK,
        "sign-in does not need the proxy"
    );
}

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
