use std::net::SocketAddr;

use axum::{extract::Request, Router};
use serde_json::{json, Value};

use crate::support::{served, NginxProcess, TestApp, Upstream};

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

/// TLS stays the operator's with nginx: `tls` is refused in words, and nothing is written.
#[tokio::test]
async fn tls_fields_are_refused_with_nginx() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let before = app.stored().await;
    for tls in [json!({"hsts": true}), json!({"forceHttps": true})] {
        let r = app
            .post(
                "/api/vhosts",
                json!({"domain": "tls.example.com", "upstream": "127.0.0.1:9", "tls": tls}),
            )
            .await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("tls") && message.contains("operator"),
            "{message}"
        );
    }
    app.assert_unchanged(&before).await;
    assert!(
        nginx.files().is_empty() || !nginx.files().keys().any(|f| f.contains("tls.example.com"))
    );
}
