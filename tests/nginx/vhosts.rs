use std::net::SocketAddr;

use axum::{extract::Request, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    served,
    support::{expect_error, NginxProcess, TestApp, Upstream},
};

const FILE: &str = "proxyhub-site-app.example.com.conf";

/// The API answers once nginx serves the change: no waiting or retrying here.
#[tokio::test]
async fn a_vhost_is_served_by_nginx_through_its_whole_life() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let blue = Upstream::start("blue").await;
    let green = Upstream::start("green").await;

    let v = app
        .create_vhost(json!({"domain": "App.Example.com", "upstream": blue.hostport()}))
        .await;
    let id = v["id"].as_i64().unwrap();
    assert!(
        nginx.files().contains_key(FILE),
        "{:?}",
        nginx.files().keys()
    );
    assert_eq!(
        app.through_proxy("app.example.com", "/hello?x=1").await,
        (200, "blue /hello?x=1 host=app.example.com".to_string())
    );
    // IPv6 clients too (this machine has IPv6; proxyhub renders `listen [::]` when it does).
    assert!(
        std::net::TcpListener::bind("[::1]:0").is_ok(),
        "these tests need IPv6 on loopback"
    );
    let over_ipv6 = reqwest::Client::new()
        .get(format!("http://[::1]:{}/v6", nginx.http_port))
        .header("Host", "app.example.com")
        .send()
        .await
        .expect("nginx answers on [::1]");
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
        app.through_proxy("app.example.com", "/").await,
        (200, "green / host=app.example.com".to_string())
    );

    let r = app.patch(&format!("/api/vhosts/{id}/toggle")).await;
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], false);
    assert!(
        !nginx.files().contains_key(FILE),
        "a disabled vhost has no file"
    );
    let (status, body) = app.through_proxy("app.example.com", "/").await;
    assert_eq!(status, 404, "a disabled vhost is not served: {body}");

    app.patch(&format!("/api/vhosts/{id}/toggle")).await;
    assert!(app
        .through_proxy("app.example.com", "/")
        .await
        .1
        .starts_with("green"));

    let r = app.delete(&format!("/api/vhosts/{id}")).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    assert!(!nginx.files().contains_key(FILE));
    assert_eq!(app.through_proxy("app.example.com", "/").await.0, 404);
    expect_error(
        app.delete(&format!("/api/vhosts/{id}")).await,
        404,
        "NOT_FOUND",
    )
    .await;

    let log: Vec<Value> = app.get("/api/changelog").await.json().await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "toggle", "toggle", "update", "create"]);
}

#[tokio::test]
async fn an_upstream_gets_the_usual_proxy_headers() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let echo = header_echo().await;
    app.create_vhost(
        json!({"domain": "headers.example.com", "upstream": format!("http://{echo}")}),
    )
    .await;
    let (status, body) = served(&app, "headers.example.com", "/", |s, _| s == 200).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        seen,
        json!({
            "host": "headers.example.com",
            "x-real-ip": "127.0.0.1",
            "x-forwarded-for": "127.0.0.1",
            "x-forwarded-proto": "http",
        })
    );
}

#[tokio::test]
async fn snippets_are_placed_inside_the_server_block() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let api = Upstream::start("api").await;
    let snippet = format!(
        "location /api/ {{\n    proxy_pass http://{};\n    proxy_set_header Host $host;\n}}\nlocation / {{\n    return 200 \"static\";\n}}",
        api.hostport()
    );
    app.create_vhost(json!({"domain": "alpha.example.com", "config": snippet}))
        .await;
    app.create_vhost(
        json!({"domain": "*.wild.example.com", "config": "return 200 \"wild $host\";"}),
    )
    .await;

    assert_eq!(
        served(&app, "alpha.example.com", "/api/x", |_, b| b
            .starts_with("api"))
        .await
        .1,
        "api /api/x host=alpha.example.com"
    );
    assert_eq!(
        served(&app, "alpha.example.com", "/other", |s, _| s == 200).await,
        (200, "static".to_string())
    );
    assert_eq!(
        served(&app, "a.wild.example.com", "/", |s, _| s == 200).await,
        (200, "wild a.wild.example.com".to_string())
    );
    assert!(nginx
        .files()
        .contains_key("proxyhub-site-_.wild.example.com.conf"));
}

/// An upstream that answers with the headers a proxy is expected to set, as JSON.
async fn header_echo() -> SocketAddr {
    let app = Router::new().fallback(|req: Request| async move {
        let h = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        json!({
            "host": h("host"),
            "x-real-ip": h("x-real-ip"),
            "x-forwarded-for": h("x-forwarded-for"),
            "x-forwarded-proto": h("x-forwarded-proto"),
        })
        .to_string()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
