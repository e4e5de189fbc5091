//! Where nginx listens and what it must resolve: a reload nginx cannot bind is answered at
//! once with nginx's own error-log line, `PROXYHUB_NGINX_LISTEN` fixes it, and an upstream
//! whose name does not resolve fails its own site only, across a full restart of nginx.

use serde_json::json;

use crate::support::{expect_error, free_port, served, NginxProcess, TestApp, Upstream};

#[tokio::test]
async fn a_reload_nginx_cannot_bind_is_a_502_quoting_its_error_log() {
    // The main config's default server holds 127.0.0.1:<port>; proxyhub's servers on every
    // address of that port cannot be bound by a reload.
    let nginx = NginxProcess::start_listening_on(Some("127.0.0.1")).await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let before = nginx.files();
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "app.example.com", "config": "return 200 ok;"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    let said = body["proxyMessage"].as_str().unwrap();
    assert!(
        said.contains("[emerg]")
            && said.contains("bind()")
            && said.contains("Address already in use"),
        "nginx's own error-log line: {body}"
    );
    assert_eq!(nginx.files(), before, "the previous files are back");
    assert!(app
        .get("/api/vhosts")
        .await
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .is_empty());
    app.stop().await;

    // Listening where the main config does, it works.
    let listen = format!("127.0.0.1:{}", nginx.http_port);
    let app = TestApp::spawn_nginx_with(&nginx, Some(listen.clone()), None).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "app.example.com", "config": "return 200 ok;"}))
        .await;
    assert_eq!(
        served(&app, "app.example.com", "/", |s, _| s == 200).await,
        (200, "ok".to_string())
    );
    let file = &nginx.files()["proxyhub-site-app.example.com.conf"];
    assert!(String::from_utf8_lossy(file).contains(&format!("listen {listen};")));
}

#[tokio::test]
async fn an_upstream_that_does_not_resolve_fails_its_own_site_only() {
    let mut nginx = NginxProcess::start().await;
    // A resolver nobody answers on: names are refused at once, whatever this machine's DNS.
    let resolver = format!("127.0.0.1:{}", free_port());
    let app = TestApp::spawn_nginx_with(&nginx, None, Some(resolver)).await;
    app.sign_up_admin().await;
    let up = Upstream::start("live").await;
    app.create_vhost(json!({"domain": "live.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "dead.example.com", "upstream": "nowhere.invalid:8080"}))
        .await;
    app.create_vhost(
        json!({"domain": "https.example.com", "upstream": "https://also-nowhere.invalid"}),
    )
    .await;
    for round in ["after the reload", "after a full restart of nginx"] {
        let live = served(&app, "live.example.com", "/x", |_, b| b.starts_with("live")).await;
        assert!(live.1.starts_with("live /x"), "{round}: {live:?}");
        for dead in ["dead.example.com", "https.example.com"] {
            let (status, _) = served(&app, dead, "/", |s, _| s >= 500).await;
            assert!(
                matches!(status, 502 | 504),
                "{round}: {dead} answers {status}"
            );
        }
        nginx.stop().await;
        nginx.boot().await;
    }
}
