use serde_json::{json, Value};

use crate::{
    served,
    support::{expect_error, NginxProcess, TestApp, Upstream},
};

#[tokio::test]
async fn a_config_nginx_rejects_is_a_502_and_changes_nothing() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let up = Upstream::start("live").await;
    let v = app
        .create_vhost(json!({"domain": "live.example.com", "upstream": up.hostport()}))
        .await;
    assert!(
        served(&app, "live.example.com", "/", |_, b| b.starts_with("live"))
            .await
            .1
            .starts_with("live")
    );
    let before_files = nginx.files();
    let before_list: Value = app.get("/api/vhosts").await.json().await.unwrap();
    let before_log: Value = app.get("/api/changelog").await.json().await.unwrap();

    // A new file nginx refuses: it must not be left behind.
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "typo.example.com", "config": "proxy_buffering maybe;"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    let said = body["proxyMessage"].as_str().unwrap();
    assert!(
        said.contains("invalid value \"maybe\"")
            && said.contains("proxyhub-site-typo.example.com.conf"),
        "nginx's own words: {body}"
    );

    // A changed file nginx refuses: the old one must come back.
    let r = app
        .put(
            &format!("/api/vhosts/{}", v["id"]),
            json!({"config": "location / {\n    return 200;\n}\nlocation / {\n    return 201;\n}"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    assert!(
        body["proxyMessage"]
            .as_str()
            .unwrap()
            .contains("duplicate location"),
        "{body}"
    );

    assert_eq!(
        nginx.files(),
        before_files,
        "the files are back byte for byte"
    );
    assert_eq!(
        app.get("/api/vhosts").await.json::<Value>().await.unwrap(),
        before_list,
        "nothing stored"
    );
    assert_eq!(
        app.get("/api/changelog")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        before_log,
        "nothing logged"
    );
    assert!(
        app.through_proxy("live.example.com", "/")
            .await
            .1
            .starts_with("live"),
        "nginx still serves the old config"
    );
    assert_ne!(app.through_proxy("typo.example.com", "/").await.0, 200);
}

#[tokio::test]
async fn with_nginx_down_writes_fail_cleanly_and_it_serves_the_store_when_back() {
    let mut nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "before.example.com", "config": "return 200 \"before\";"}))
        .await;
    nginx.stop().await;
    let before_files = nginx.files();

    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "during.example.com", "config": "return 200 \"during\";"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_UNREACHABLE").await;
    assert!(
        body["proxyMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(nginx.files(), before_files, "nothing new left behind");
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(list.len(), 1, "nothing stored while nginx is down");

    nginx.boot().await;
    assert_eq!(
        served(&app, "before.example.com", "/", |s, _| s == 200).await,
        (200, "before".to_string())
    );
}

/// `nginx -t` does not bind ports; a reload that nginx's master cannot carry out (the port
/// is held by another process) leaves nginx on its old config, and proxyhub notices from
/// nginx's error log.
#[tokio::test]
async fn a_reload_nginx_cannot_carry_out_is_a_502_and_changes_nothing() {
    let mut nginx = NginxProcess::start().await;
    let squatter = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    nginx.http_port = squatter.local_addr().unwrap().port();
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let settled = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        nginx.files().len() == 1
    })
    .await;
    assert!(settled, "the log-format file is written at start-up");
    let before = nginx.files();

    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "port.example.com", "config": "return 200;"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    // The answer quotes nginx's own error log, at once rather than after a timeout.
    assert!(
        body["proxyMessage"]
            .as_str()
            .unwrap()
            .contains("Address already in use"),
        "{body}"
    );
    assert_eq!(nginx.files(), before, "the files are back");
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert!(list.is_empty(), "nothing stored: {list:?}");
}
