use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::support::{expect_error, CaddyProcess, TestApp};

/// Signs `email` in with a fresh client and returns its session cookie.
async fn session_of(app: &TestApp, email: &str, password: &str) -> String {
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{email} signs in");
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    cookie.split(';').next().unwrap().to_string()
}

async fn get_as(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    app.new_client()
        .get(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admins_manage_accounts_and_changes_take_effect_at_once() {
    let app = TestApp::spawn_without_proxy().await;
    let admin = app.sign_up_admin().await;

    let r = app.post("/api/users", json!({"name": "Ed", "email": "Ed@Example.com", "password": "editor pass", "role": "editor"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ed: Value = r.json().await.unwrap();
    assert_eq!(
        (ed["email"].as_str(), ed["role"].as_str()),
        (Some("ed@example.com"), Some("editor"))
    );
    expect_error(app.post("/api/users", json!({"name": "Ed", "email": "ed@example.com", "password": "editor pass", "role": "editor"})).await, 409, "CONFLICT").await;
    expect_error(
        app.post(
            "/api/users",
            json!({"name": "X", "email": "x@example.com", "password": "password1", "role": "root"}),
        )
        .await,
        400,
        "BAD_REQUEST",
    )
    .await;

    let ed_session = session_of(&app, "ed@example.com", "editor pass").await;
    let create = |cookie: String| {
        app.new_client()
            .post(app.url("/api/vhosts"))
            .header(header::COOKIE, cookie)
            .json(&json!({"domain": "ed.example.com", "config": "respond ok"}))
            .send()
    };
    expect_error(
        get_as(&app, &ed_session, "/api/users").await,
        403,
        "FORBIDDEN",
    )
    .await;

    // Demoted to viewer: the same session can no longer write.
    let id = ed["id"].as_str().unwrap();
    let r = app
        .client
        .patch(app.url(&format!("/api/users/{id}")))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "viewer");
    expect_error(create(ed_session.clone()).await.unwrap(), 403, "FORBIDDEN").await;

    // Disabled: the session ends at once, and signing in again fails.
    app.client
        .patch(app.url(&format!("/api/users/{id}")))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    expect_error(
        get_as(&app, &ed_session, "/api/vhosts").await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let again = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ed@example.com", "password": "editor pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);

    // Deleted: gone from the list.
    app.client
        .patch(app.url(&format!("/api/users/{id}")))
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    let ed_session = session_of(&app, "ed@example.com", "editor pass").await;
    let r = app.delete(&format!("/api/users/{id}")).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    expect_error(
        get_as(&app, &ed_session, "/api/vhosts").await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let list: Vec<Value> = app.get("/api/users").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], admin["user"]["id"]);
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed_demoted_or_disabled() {
    let app = TestApp::spawn_without_proxy().await;
    let admin = app.sign_up_admin().await;
    let id = admin["user"]["id"].as_str().unwrap();
    for change in [json!({"role": "editor"}), json!({"disabled": true})] {
        let r = app
            .client
            .patch(app.url(&format!("/api/users/{id}")))
            .json(&change)
            .send()
            .await
            .unwrap();
        expect_error(r, 409, "CONFLICT").await;
    }
    expect_error(
        app.delete(&format!("/api/users/{id}")).await,
        409,
        "CONFLICT",
    )
    .await;
    expect_error(app.delete("/api/users/nobody").await, 404, "NOT_FOUND").await;
    assert_eq!(
        app.get("/api/users").await.status(),
        StatusCode::OK,
        "still an admin"
    );
}

#[tokio::test]
async fn the_status_endpoint_tells_whether_the_proxy_runs_the_store() {
    let mut caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "s.example.com", "config": "respond ok"}))
        .await;
    let s: Value = app.get("/api/status").await.json().await.unwrap();
    assert_eq!(s["proxy"], "caddy");
    assert_eq!(s["reachable"], true);
    let workers: Vec<(&str, &str)> = s["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        workers,
        [
            ("reconcile", "running"),
            ("sessions", "running"),
            ("event feed", "running"),
            ("webhooks", "running"),
            ("log tailer", "running"),
            ("log retention", "running"),
            ("certificates", "running"),
            ("health", "running")
        ],
        "{s}"
    );
    assert!(
        s["lastApplyAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{s}"
    );
    caddy.kill().await;
    let down = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        let s: Value = app.get("/api/status").await.json().await.unwrap();
        s["reachable"] == false
    })
    .await;
    assert!(down, "a stopped proxy shows as unreachable");
}

/// The proxy's last error quotes the proxy: editors and admins see it, viewers do not.
#[tokio::test]
async fn the_proxys_last_error_is_shown_to_editors_and_admins_only() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let viewer = app.client_with_role("v@example.com", "viewer").await;
    let editor = app.client_with_role("e@example.com", "editor").await;
    // Adapts fine; Caddy refuses it when it loads it.
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "r.example.com", "config": "@r path_regexp \"[\"\nrespond @r 200"}),
        )
        .await;
    expect_error(r, 502, "PROXY_REJECTED").await;
    let status_of = |client: reqwest::Client| {
        let url = app.url("/api/status");
        async move {
            let s: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            s
        }
    };
    for (who, client) in [("admin", app.client.clone()), ("editor", editor)] {
        let s = status_of(client).await;
        assert!(
            s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("regexp")),
            "{who}: {s}"
        );
    }
    let s = status_of(viewer).await;
    assert_eq!(s["lastError"], Value::Null, "viewer: {s}");
    assert_eq!(s["reachable"], true, "viewer: {s}");
}
