//! `PROXYHUB_LOG_CLIENT_IP`: with `hashed`, a request's stored client address is a hash that
//! one client keeps all day and that shows nothing of the address; with `none`, nothing is
//! stored; the API and the Logs page say which mode is in force. Tailed from a real Caddy,
//! and imported with `proxyhub logs import`.

use std::{process::Command, time::Duration};

use serde_json::{json, Value};

use crate::{
    lines::{append, logs, numbered, Api},
    support::{database_url, eventually, CaddyProcess, Options, TestApp, Upstream},
};
use proxyhub::config::ClientIp;

/// proxyhub on a real Caddy with `mode`, after `n` requests from 127.0.0.1 went through it;
/// returns the app and `GET /api/logs` once all are stored.
async fn requests_through_caddy(
    caddy: &CaddyProcess,
    mode: ClientIp,
    n: usize,
) -> (TestApp, Value) {
    let app = TestApp::spawn_with(
        caddy,
        Options {
            log_client_ip: mode,
            ..Options::default()
        },
    )
    .await;
    app.sign_up_admin().await;
    let up = Upstream::start("backend").await;
    app.create_vhost(json!({"domain": "a.example.com", "upstream": up.hostport()}))
        .await;
    for i in 0..n {
        let (status, _) = app.through_proxy("a.example.com", &format!("/r/{i}")).await;
        assert_eq!(status, 200);
    }
    let stored = eventually(Duration::from_secs(15), || async {
        logs(&Api::of(&app), "").await["total"] == n as i64
    })
    .await;
    let body = logs(&Api::of(&app), "").await;
    assert!(stored, "{body}");
    (app, body)
}

fn ips(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ip"].as_str().unwrap().to_string())
        .collect()
}

async fn said_mode(app: &TestApp) -> (Value, String) {
    let status: Value = app.get("/api/logs/status").await.json().await.unwrap();
    let page = app.get("/logs").await.text().await.unwrap();
    (status["clientIp"].clone(), page)
}

fn utc_day() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400)
}

#[tokio::test]
async fn hashed_addresses_tell_one_client_apart_within_the_day_and_hide_the_address() {
    let caddy = CaddyProcess::start().await;
    let day = utc_day();
    let (app, body) = requests_through_caddy(&caddy, ClientIp::Hashed, 3).await;
    let ips = ips(&body);
    assert!(
        ips.iter()
            .all(|ip| ip.len() == 16 && ip.bytes().all(|b| b.is_ascii_hexdigit())),
        "{ips:?}"
    );
    // The secret changes with the UTC day: requests on both sides of midnight differ.
    if utc_day() == day {
        assert!(
            ips.iter().all(|ip| *ip == ips[0]),
            "one client, one hash: {ips:?}"
        );
    }
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "the address appears nowhere: {body}"
    );
    let (mode, page) = said_mode(&app).await;
    assert_eq!(mode, "hashed");
    assert!(page.contains("hashed"), "the Logs page says so");
}

#[tokio::test]
async fn with_none_no_client_address_is_stored() {
    let caddy = CaddyProcess::start().await;
    let (app, body) = requests_through_caddy(&caddy, ClientIp::None, 2).await;
    assert_eq!(ips(&body), ["", ""]);
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    let (mode, page) = said_mode(&app).await;
    assert_eq!(mode, "none");
    assert!(page.contains("not stored"), "the Logs page says so");
}

#[tokio::test]
async fn by_default_the_full_address_is_stored_and_said_so() {
    let caddy = CaddyProcess::start().await;
    let (app, body) = requests_through_caddy(&caddy, ClientIp::Full, 1).await;
    assert_eq!(ips(&body), ["127.0.0.1"]);
    let (mode, _) = said_mode(&app).await;
    assert_eq!(mode, "full");
}

#[tokio::test]
async fn an_import_stores_addresses_as_the_mode_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_url(dir.path()).await;
    let file = dir.path().join("old.log");
    // Requests 0 and 250 come from one client (203.0.113.0), the others from others.
    append(&file, &numbered(0, 251));
    let out = Command::new(env!("CARGO_BIN_EXE_proxyhub"))
        .args(["logs", "import", "--client-ip", "hashed"])
        .arg(&file)
        .env("PROXYHUB_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = TestApp::spawn_without_proxy_on(dir, db).await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let body = logs(&api, "limit=500").await;
    assert_eq!(body["total"], 251);
    assert!(!body.to_string().contains("203.0.113."), "{body}");
    let by_path = |p: &str| {
        body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == p)
            .map(|r| r["ip"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(
        by_path("/req/0"),
        by_path("/req/250"),
        "one client, one hash"
    );
    assert_ne!(by_path("/req/0"), by_path("/req/1"));
}
