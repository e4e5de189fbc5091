//! The proxy down: changes are refused with a clean 502 and leave nothing behind, everything
//! that does not need the proxy keeps working, and once the proxy is back it serves the store.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{
    backend::{Backend, Kind},
    eventually, expect_error,
};

for_each_proxy!(with_the_proxy_down_writes_fail_cleanly_and_it_serves_the_store_when_back);

async fn with_the_proxy_down_writes_fail_cleanly_and_it_serves_the_store_when_back(kind: Kind) {
    let mut proxy = Backend::start(kind).await;
    proxy
        .app
        .create_vhost(json!({"domain": "before.example.com", "config": proxy.respond("before")}))
        .await;
    proxy.kill().await;
    // nginx's files can be read with nginx down; Caddy's config is gone with Caddy.
    let before_files = proxy.nginx().map(|n| n.files());
    let app = &proxy.app;
    let before_log: Value = app.get("/api/changelog").await.json().await.unwrap();

    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "during.example.com", "config": proxy.respond("during")}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_UNREACHABLE").await;
    assert!(
        body["message"].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
    assert!(
        body["proxyMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(nginx) = proxy.nginx() {
        assert_eq!(Some(nginx.files()), before_files, "nothing new left behind");
    }
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(
        list.len(),
        1,
        "nothing stored while {kind} is down: {list:?}"
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

    // Back (Caddy with an empty config, which proxyhub's drift check fills), it serves what
    // the store holds, and takes changes again.
    proxy.boot().await;
    let back = eventually(Duration::from_secs(15), || async {
        proxy.through_proxy("before.example.com", "/").await == (200, "before".to_string())
    })
    .await;
    assert!(
        back,
        "{kind} back does not serve the store: {:?}",
        proxy.through_proxy("before.example.com", "/").await
    );
    proxy
        .app
        .create_vhost(json!({"domain": "after.example.com", "config": proxy.respond("after")}))
        .await;
    assert_eq!(
        proxy
            .served("after.example.com", "/", |s, _| s == 200)
            .await,
        (200, "after".to_string())
    );
    proxy.assert_unserved("during.example.com").await;
}
