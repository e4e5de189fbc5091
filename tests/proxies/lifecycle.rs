//! A vhost created, edited, turned off and on, and deleted: after each change the proxy
//! sends its traffic where the vhost says, and the changelog records it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{
    backend::{site_file, Backend, Kind},
    expect_error, Upstream,
};

for_each_proxy!(a_vhost_is_served_through_its_whole_life);

/// The API answers once the proxy serves the change: no waiting or retrying here, for
/// either proxy.
async fn a_vhost_is_served_through_its_whole_life(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let blue = Upstream::start("blue").await;
    let green = Upstream::start("green").await;
    // Only nginx has a file per site to look at.
    let has_file = || {
        proxy
            .nginx()
            .map(|n| n.files().contains_key(&site_file("app.example.com")))
    };

    let v = app
        .create_vhost(json!({"domain": "App.Example.com", "upstream": blue.hostport()}))
        .await;
    assert_eq!(v["domain"], "app.example.com");
    assert_eq!(v["enabled"], true);
    assert_eq!(v["config"], Value::Null);
    let created = v["createdAt"].as_str().unwrap();
    assert_eq!(created.len(), "2025-01-15T10:30:00.000Z".len(), "{created}");
    assert!(created.ends_with('Z'));
    let id = v["id"].as_i64().unwrap();
    assert!(
        proxy.running().await.mentions("app.example.com"),
        "the vhost is in {kind}'s config"
    );
    if kind == Kind::Nginx {
        assert_eq!(has_file(), Some(true), "{:?}", proxy.running().await);
    }
    assert_eq!(
        proxy.through_proxy("app.example.com", "/hello?x=1").await,
        (200, "blue /hello?x=1 host=app.example.com".to_string())
    );
    // IPv6 clients too: both proxies listen on every address of their port (nginx because
    // proxyhub renders `listen [::]` on a machine with IPv6).
    assert!(
        std::net::TcpListener::bind("[::1]:0").is_ok(),
        "these tests need IPv6 on loopback"
    );
    let over_ipv6 = reqwest::Client::new()
        .get(format!("http://[::1]:{}/v6", proxy.http_port()))
        .header("Host", "app.example.com")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{kind} answers on [::1]: {e}"));
    assert_eq!(over_ipv6.status(), StatusCode::OK);
    assert_eq!(
        over_ipv6.text().await.unwrap(),
        "blue /v6 host=app.example.com"
    );

    let r = app
        .put(
            &format!("/api/vhosts/{id}"),
            json!({"upstream": green.hostport()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        proxy.through_proxy("app.example.com", "/").await,
        (200, "green / host=app.example.com".to_string())
    );

    let r = app.patch(&format!("/api/vhosts/{id}/toggle")).await;
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], false);
    let (status, body) = proxy.through_proxy("app.example.com", "/").await;
    assert!(
        proxy.is_unserved(status, &body),
        "a disabled vhost is not served: {status} {body}"
    );
    assert!(
        !proxy.running().await.mentions("app.example.com"),
        "and is not in {kind}'s config"
    );
    if kind == Kind::Nginx {
        assert_eq!(has_file(), Some(false), "a disabled vhost has no file");
    }

    let r = app.patch(&format!("/api/vhosts/{id}/toggle")).await;
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], true);
    assert_eq!(
        proxy.through_proxy("app.example.com", "/").await,
        (200, "green / host=app.example.com".to_string())
    );

    let r = app.delete(&format!("/api/vhosts/{id}")).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    let (status, body) = proxy.through_proxy("app.example.com", "/").await;
    assert!(
        proxy.is_unserved(status, &body),
        "a deleted vhost is not served: {status} {body}"
    );
    assert!(!proxy.running().await.mentions("app.example.com"));
    if kind == Kind::Nginx {
        assert_eq!(has_file(), Some(false), "a deleted vhost has no file");
    }
    expect_error(
        app.delete(&format!("/api/vhosts/{id}")).await,
        404,
        "NOT_FOUND",
    )
    .await;

    let log: Vec<Value> = app.get("/api/changelog").await.json().await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["delete", "toggle", "toggle", "update", "create"],
        "newest first"
    );
    assert!(log
        .iter()
        .all(|e| e["domain"] == "app.example.com" && e["userName"] == "Ada Admin"));
    let diff: Value = serde_json::from_str(
        log[3]["diff"]
            .as_str()
            .expect("update diffs are JSON strings"),
    )
    .unwrap();
    assert_eq!(
        diff,
        json!({"old": {"upstream": blue.hostport()}, "new": {"upstream": green.hostport()}})
    );
    assert!(log
        .iter()
        .filter(|e| e["action"] != "update")
        .all(|e| e["diff"].is_null()));

    // Paging back by id, with a domain filter or not.
    let mut paged = Vec::new();
    let mut before = String::new();
    loop {
        let page: Vec<Value> = app
            .get(&format!(
                "/api/changelog?limit=2&domain=App.example.com{before}"
            ))
            .await
            .json()
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        before = format!("&before={}", last["id"]);
        paged.extend(
            page.iter()
                .map(|e| e["action"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(paged, actions);
    let older: Vec<Value> = app
        .get(&format!("/api/changelog?before={}", log[1]["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        older.len(),
        3,
        "the three entries older than the second newest"
    );
    for bad in [
        "limit=0",
        "limit=501",
        "before=0",
        "before=abc",
        "limit=x",
        "page=2",
    ] {
        expect_error(
            app.get(&format!("/api/changelog?{bad}")).await,
            400,
            "BAD_REQUEST",
        )
        .await;
    }
}
