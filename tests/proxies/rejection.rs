//! A snippet that passes proxyhub's checks but that the proxy refuses: a 502 quoting the
//! proxy, with nothing stored, nothing logged and the proxy still running what it ran.

use serde_json::json;

use crate::support::{
    backend::{site_file, Backend, Kind},
    expect_error, Upstream,
};

for_each_proxy!(a_config_the_proxy_rejects_is_a_502_and_changes_nothing);

async fn a_config_the_proxy_rejects_is_a_502_and_changes_nothing(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let up = Upstream::start("live").await;
    let v = app
        .create_vhost(json!({"domain": "live.example.com", "upstream": up.hostport()}))
        .await;
    let live = proxy
        .served("live.example.com", "/", |_, b| b.starts_with("live"))
        .await;
    assert!(live.1.starts_with("live"), "{live:?}");
    let before_running = proxy.running().await;
    let stored = app.stored().await;

    // A new site the proxy refuses (for nginx, a new file that must not be left behind).
    let (snippet, words) = proxy.refused_snippet();
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "typo.example.com", "config": snippet}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    let said = body["proxyMessage"].as_str().unwrap();
    assert!(said.contains(words), "{kind}'s own words: {body}");
    if kind == Kind::Nginx {
        // `nginx -t` names the file it refused.
        assert!(said.contains(&site_file("typo.example.com")), "{body}");
    }

    // A changed site the proxy refuses (for nginx, the old file must come back).
    let (snippet, words) = proxy.refused_edit();
    let r = app
        .put(
            &format!("/api/vhosts/{}", v["id"]),
            json!({"config": snippet}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    assert!(
        body["proxyMessage"].as_str().unwrap().contains(words),
        "{kind}'s own words: {body}"
    );

    // Caddy's running JSON config is the same; nginx's files are back byte for byte.
    assert_eq!(
        proxy.running().await,
        before_running,
        "{kind} still runs the old config"
    );
    app.assert_unchanged(&stored).await;
    assert!(
        proxy
            .through_proxy("live.example.com", "/")
            .await
            .1
            .starts_with("live"),
        "{kind} still serves the old config"
    );
    let (status, body) = proxy.through_proxy("typo.example.com", "/").await;
    assert!(
        proxy.is_unserved(status, &body),
        "the refused site is not served: {status} {body}"
    );
}
