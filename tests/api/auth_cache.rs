//! Who calls is remembered (sessions, accounts, tokens) so that a known caller costs no
//! database connection, and forgotten at once by whatever ends or changes their access.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use super::{script, with_token};
use crate::support::{expect_error, postgres, TestApp};

/// Signs `email` in with a client that keeps no cookies; the session's `Cookie` header.
async fn cookie_of(app: &TestApp, email: &str, password: &str) -> String {
    let r = script()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{email} signs in");
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// `method path` with the session `cookie`.
async fn as_session(
    app: &TestApp,
    cookie: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = script()
        .request(method, app.url(path))
        .header(header::COOKIE, cookie);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn status_of(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    as_session(app, cookie, Method::GET, path, None)
        .await
        .status()
}

const PASSWORD: &str = "eve's password";

/// An account the admin (the app's client) creates; its id.
async fn account(app: &TestApp, email: &str, role: &str) -> String {
    let r = app
        .post(
            "/api/users",
            json!({"name": "Eve", "email": email, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    user["id"].as_str().unwrap().to_string()
}

/// A token the session `cookie` creates with `scopes`: its secret and id.
async fn token_of(app: &TestApp, cookie: &str, scopes: &[&str]) -> (String, String) {
    let r = as_session(
        app,
        cookie,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "eve's script", "scopes": scopes})),
    )
    .await;
    let body: Value = r.json().await.unwrap();
    let secret = body["token"].as_str().expect("a token").to_string();
    (secret, body["id"].as_str().unwrap().to_string())
}

async fn token_status(app: &TestApp, secret: &str, path: &str) -> StatusCode {
    with_token(app, secret, Method::GET, path, None)
        .await
        .status()
}

async fn patch_user(app: &TestApp, id: &str, body: Value) {
    let r = app
        .client
        .patch(app.url(&format!("/api/users/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{body}");
}

#[tokio::test]
async fn a_signed_out_or_revoked_session_is_refused_on_its_next_request() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let (first, second) = (
        cookie_of(&app, "ada@example.com", "correct horse").await,
        cookie_of(&app, "ada@example.com", "correct horse").await,
    );
    for cookie in [&first, &second] {
        for _ in 0..2 {
            assert_eq!(status_of(&app, cookie, "/api/vhosts").await, 200);
        }
    }
    let r = as_session(
        &app,
        &first,
        Method::POST,
        "/api/auth/revoke-other-sessions",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&app, &second, "/api/vhosts").await, 401);
    assert_eq!(status_of(&app, &first, "/api/vhosts").await, 200);

    let r = as_session(
        &app,
        &first,
        Method::POST,
        "/api/auth/sign-out",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&app, &first, "/api/vhosts").await, 401);
    let session: Value = as_session(&app, &first, Method::GET, "/api/auth/get-session", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session, Value::Null);
}

#[tokio::test]
async fn a_password_change_ending_the_other_sessions_ends_them_at_once() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    account(&app, "eve@example.com", "viewer").await;
    let (here, elsewhere) = (
        cookie_of(&app, "eve@example.com", PASSWORD).await,
        cookie_of(&app, "eve@example.com", PASSWORD).await,
    );
    assert_eq!(status_of(&app, &elsewhere, "/api/vhosts").await, 200);
    let r = as_session(
        &app,
        &here,
        Method::POST,
        "/api/auth/change-password",
        Some(json!({"currentPassword": PASSWORD, "newPassword": "a new password", "revokeOtherSessions": true})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&app, &elsewhere, "/api/vhosts").await, 401);
}

#[tokio::test]
async fn a_disabled_account_is_refused_at_once_by_session_and_by_token() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let eve = account(&app, "eve@example.com", "editor").await;
    let cookie = cookie_of(&app, "eve@example.com", PASSWORD).await;
    let (secret, _) = token_of(&app, &cookie, &["read:vhosts"]).await;
    for _ in 0..2 {
        assert_eq!(status_of(&app, &cookie, "/api/vhosts").await, 200);
        assert_eq!(token_status(&app, &secret, "/api/vhosts").await, 200);
    }

    patch_user(&app, &eve, json!({"disabled": true})).await;
    assert_eq!(status_of(&app, &cookie, "/api/vhosts").await, 401);
    expect_error(
        with_token(&app, &secret, Method::GET, "/api/vhosts", None).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    // Enabled again: the token works at once; the session ended with the disabling.
    patch_user(&app, &eve, json!({"disabled": false})).await;
    assert_eq!(token_status(&app, &secret, "/api/vhosts").await, 200);
    assert_eq!(status_of(&app, &cookie, "/api/vhosts").await, 401);
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let eve = account(&app, "eve@example.com", "admin").await;
    let cookie = cookie_of(&app, "eve@example.com", PASSWORD).await;
    let (secret, _) = token_of(&app, &cookie, &["admin"]).await;
    for _ in 0..2 {
        assert_eq!(status_of(&app, &cookie, "/api/users").await, 200);
        assert_eq!(token_status(&app, &secret, "/api/users").await, 200);
    }

    patch_user(&app, &eve, json!({"role": "viewer"})).await;
    assert_eq!(status_of(&app, &cookie, "/api/users").await, 403);
    assert_eq!(token_status(&app, &secret, "/api/users").await, 403);
    let me: Value = as_session(&app, &cookie, Method::GET, "/api/auth/get-session", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["role"], "viewer", "{me}");

    patch_user(&app, &eve, json!({"role": "admin"})).await;
    assert_eq!(status_of(&app, &cookie, "/api/users").await, 200);
    assert_eq!(token_status(&app, &secret, "/api/users").await, 200);
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_its_next_request() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    account(&app, "eve@example.com", "editor").await;
    let cookie = cookie_of(&app, "eve@example.com", PASSWORD).await;
    let (secret, id) = token_of(&app, &cookie, &["read:vhosts"]).await;
    let (kept, _) = token_of(&app, &cookie, &["read:vhosts"]).await;
    for _ in 0..2 {
        assert_eq!(token_status(&app, &secret, "/api/vhosts").await, 200);
        assert_eq!(token_status(&app, &kept, "/api/vhosts").await, 200);
    }
    // Revoked by an admin, not by its owner.
    let r = app.delete(&format!("/api/tokens/{id}")).await;
    assert_eq!(r.status(), 200);
    expect_error(
        with_token(&app, &secret, Method::GET, "/api/vhosts", None).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    assert_eq!(token_status(&app, &kept, "/api/vhosts").await, 200);
}

#[tokio::test]
async fn a_known_caller_is_answered_while_every_database_connection_is_taken() {
    if postgres::enabled() {
        // On PostgreSQL the rate limits' counts are in the store: every request writes one.
        eprintln!("skipped: the API's rate limits are counted in PostgreSQL");
        return;
    }
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let cookie = cookie_of(&app, "ada@example.com", "correct horse").await;
    let (secret, _) = token_of(&app, &cookie, &["read:vhosts"]).await;
    assert_eq!(status_of(&app, &cookie, "/api/status").await, 200);
    assert_eq!(token_status(&app, &secret, "/api/status").await, 200);

    // Every connection of the shared pool and of the read pool, taken and held.
    let mut held = Vec::new();
    for pool in [&app.state.db, &app.state.reads] {
        for _ in 0..pool.options().get_max_connections() {
            held.push(pool.acquire().await.unwrap());
        }
        assert!(pool.try_acquire().is_none(), "the pool has nothing left");
    }
    // A caller the cache does not know waits for the store.
    let unknown = format!("phk_{}", "0".repeat(64));
    let stranger = tokio::spawn(
        script()
            .get(app.url("/api/status"))
            .bearer_auth(&unknown)
            .send(),
    );
    let r = as_session(&app, &cookie, Method::GET, "/api/status", None).await;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["authCache"]["enabled"], true, "{status}");
    assert_eq!(token_status(&app, &secret, "/api/status").await, 200);
    assert!(
        !stranger.is_finished(),
        "the unknown token waits for a connection"
    );
    drop(held);
    expect_error(stranger.await.unwrap().unwrap(), 401, "INVALID_TOKEN").await;
}
