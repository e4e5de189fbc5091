//! The injection cases other proxy managers got wrong, through nginx's own snippet syntax: each
//! is refused before nginx is touched. Domains and upstreams carrying newlines, braces,
//! semicolons or shell syntax are refused for every proxy: `tests/proxies/injection.rs`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{expect_error, served, NginxProcess, TestApp};

#[tokio::test]
async fn snippet_injection_attempts_are_refused_and_leave_nginx_alone() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let v = app
        .create_vhost(json!({"domain": "victim.example.com", "config": "return 200 \"ok\";"}))
        .await;
    let before = nginx.files();
    let attempts = [
        json!({"domain": "a.example.com", "upstream": "unix:80"}),
        json!({"domain": "a.example.com", "config": "return 200;\n}\nserver {\n\tlisten 2020;\n\tserver_name evil.example.com;"}),
        json!({"domain": "a.example.com", "config": "return 200 \"}\";\n}\nserver {"}),
        json!({"domain": "a.example.com", "config": "server {\n\tlisten 2020;\n}"}),
        json!({"domain": "a.example.com", "config": "include /etc/passwd;"}),
        json!({"domain": "a.example.com", "config": "listen 2020;"}),
        json!({"domain": "a.example.com", "config": "server_name victim.example.com;"}),
        json!({"domain": "a.example.com", "config": "root /;\nautoindex on;"}),
        json!({"domain": "a.example.com", "config": "location /x/ {\n\talias /etc/;\n}"}),
        json!({"domain": "a.example.com", "config": "access_log /etc/cron.d/pwned;"}),
        json!({"domain": "a.example.com", "config": "ssl_certificate_key /etc/shadow;"}),
        json!({"domain": "a.example.com", "config": "location / {\n\tproxy_pass http://unix:/run/docker.sock:/;\n}"}),
        json!({"domain": "a.example.com", "config": "location / {\n\tproxy_pass http://$arg_to;\n}"}),
        json!({"domain": "a.example.com", "config": "return 200 ${HOME};"}),
        json!({"domain": "a.example.com", "config": "location / {\n\treturn 200;"}),
    ];
    for attempt in attempts {
        let r = app.post("/api/vhosts", attempt.clone()).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{attempt} → {body}");
        assert_eq!(body["error"], "BAD_REQUEST");
    }
    let r = app
        .put(
            &format!("/api/vhosts/{}", v["id"]),
            json!({"config": "return 200;\n}\nserver {\n\tlisten 2020;"}),
        )
        .await;
    expect_error(r, 400, "BAD_REQUEST").await;

    assert_eq!(nginx.files(), before, "nginx's files are untouched");
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["config"], "return 200 \"ok\";");
    let log: Vec<Value> = app.get("/api/changelog").await.json().await.unwrap();
    assert_eq!(
        log.len(),
        1,
        "only the victim's creation is logged: {log:?}"
    );
}

/// `root` and `alias` are refused, but a rewrite or an error page can still send a request
/// to `/../../etc/passwd`; the root every server gets cannot exist, so nothing is read.
#[tokio::test]
async fn a_snippet_cannot_make_nginx_serve_the_hosts_files() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let snippet = "location /a {\n    rewrite ^ /../../../../etc/passwd break;\n}\n\
                   location /b {\n    rewrite ^ /$arg_p break;\n}\n\
                   location /c {\n    error_page 404 /$arg_p;\n    return 404;\n}\n\
                   location = /probe {\n    return 200 \"up\";\n}";
    app.create_vhost(json!({"domain": "files.example.com", "config": snippet}))
        .await;
    assert_eq!(
        served(&app, "files.example.com", "/probe", |s, _| s == 200)
            .await
            .1,
        "up"
    );
    for path in [
        "/a",
        "/b?p=../../../../etc/passwd",
        "/c?p=../../../../etc/passwd",
        "/b?p=etc/passwd",
    ] {
        let (status, body) = app.through_proxy("files.example.com", path).await;
        assert!(!body.contains("root:"), "{path} served /etc/passwd");
        assert_eq!(status, 404, "{path}: {body}");
    }
}
