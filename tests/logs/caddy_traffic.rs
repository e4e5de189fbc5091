//! Real requests through a real Caddy end up in `GET /api/logs`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    lines::{logs, Api},
    support::{eventually, CaddyProcess, TestApp, Upstream},
};

#[tokio::test]
async fn requests_through_caddy_appear_with_domain_status_method_path_and_client_ip() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("backend").await;
    app.create_vhost(json!({"domain": "a.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "b.example.com", "config": "respond \"gone\" 404"}))
        .await;
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, host: &'static str, path: &'static str| {
        client
            .request(method, format!("http://127.0.0.1:{}{path}", app.http_port))
            .header("Host", host)
            .header("User-Agent", "proxyhub-test/1")
            .send()
    };
    let r = send(reqwest::Method::GET, "a.example.com", "/one?x=1")
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        "backend /one?x=1 host=a.example.com"
    );
    assert_eq!(
        send(reqwest::Method::POST, "b.example.com", "/two")
            .await
            .unwrap()
            .status(),
        404
    );
    send(reqwest::Method::DELETE, "A.Example.com", "/three")
        .await
        .unwrap();

    let api = Api::of(&app);
    let all_there = eventually(Duration::from_secs(15), || async {
        logs(&api, "").await["total"] == 3
    })
    .await;
    assert!(all_there, "stored: {}", logs(&api, "").await);
    let body = logs(&api, "").await;
    let seen: Vec<(String, String, String, i64, String)> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r: &Value| {
            (
                r["domain"].as_str().unwrap().to_string(),
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_i64().unwrap(),
                r["ip"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let row = |d: &str, m: &str, p: &str, s: i64| {
        (d.into(), m.into(), p.into(), s, "127.0.0.1".to_string())
    };
    assert_eq!(
        seen,
        [
            row("a.example.com", "DELETE", "/three", 200),
            row("b.example.com", "POST", "/two", 404),
            row("a.example.com", "GET", "/one?x=1", 200),
        ],
        "newest first"
    );
    let newest = &body["logs"][0];
    assert_eq!(newest["userAgent"], "proxyhub-test/1");
    assert!(
        newest["latency"].as_str().unwrap().ends_with('s'),
        "{newest}"
    );
    assert_eq!(
        logs(&api, "domain=b.example.com&status=404").await["total"],
        1
    );
}
