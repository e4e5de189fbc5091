use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::support::{expect_error, Options, TestApp};

/// A client of its own signed in as `email`, with this user agent.
async fn signed_in(app: &TestApp, email: &str, password: &str, agent: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(agent)
        .build()
        .unwrap();
    let r = c
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c
}

async fn session_of(app: &TestApp, c: &reqwest::Client) -> Value {
    c.get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn answers_and_sessions_look_like_better_auths() {
    let app = TestApp::spawn_without_proxy_with(Options {
        allow_signup: true,
        ..Options::default()
    })
    .await;
    // Sign-up keeps the picture; a duplicate email has Better Auth 1.7's code, in `code` too.
    let r = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse", "image": "https://example.com/ada.png"}),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["image"], "https://example.com/ada.png");
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL").await;
    assert_eq!(body["code"], "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 401, "INVALID_EMAIL_OR_PASSWORD").await;
    assert_eq!(body["code"], "INVALID_EMAIL_OR_PASSWORD");

    // get-session: Better Auth's session fields, never cached.
    let r = app.get("/api/auth/get-session").await;
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let s: Value = r.json().await.unwrap();
    for key in [
        "id",
        "token",
        "userId",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "ipAddress",
    ] {
        assert!(s["session"][key].is_string(), "{key}: {s}");
    }
    assert_eq!(s["session"]["ipAddress"], "127.0.0.1");

    // callbackURL: a path of this server is a redirect; another site is refused.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = c
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse", "callbackURL": "/vhosts"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["redirect"].clone(), body["url"].clone()),
        (json!(true), json!("/vhosts"))
    );
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "javascript:alert(1)",
    ] {
        let r = c
            .post(app.url("/api/auth/sign-in/email"))
            .json(&json!({"email": "ada@example.com", "password": "correct horse", "callbackURL": evil}))
            .send()
            .await
            .unwrap();
        expect_error(r, 403, "INVALID_CALLBACK_URL").await;
    }

    // rememberMe: false: a cookie that ends with the browser session.
    let r = reqwest::Client::new()
        .post(app.url("/api/auth/sign-in/email"))
        .json(
            &json!({"email": "ada@example.com", "password": "correct horse", "rememberMe": false}),
        )
        .send()
        .await
        .unwrap();
    let cookie = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Expires"),
        "{cookie}"
    );
    let r = app.get("/api/auth/get-session").await;
    assert!(r.status().is_success());
    let remembered = app
        .post(
            "/api/auth/sign-in/email",
            json!({"email": "ada@example.com", "password": "correct horse"}),
        )
        .await;
    let cookie = remembered.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("Max-Age") || cookie.contains("Expires"),
        "{cookie}"
    );

    // update-user: name and picture; nothing to update, or the email, is a 400.
    for (body, code) in [
        (json!({}), "BAD_REQUEST"),
        (
            json!({"email": "new@example.com"}),
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
    ] {
        let r = app.post("/api/auth/update-user", body).await;
        expect_error(r, 400, code).await;
    }
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "not-an-email", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "INVALID_EMAIL").await;
    let r = app
        .post(
            "/api/auth/update-user",
            json!({"name": "Ada L.", "image": null}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": true}));
    let s = session_of(&app, &app.client).await;
    assert_eq!(s["user"]["name"], "Ada L.");
    assert!(s["user"]["image"].is_null());
}

#[tokio::test]
async fn sessions_are_listed_revoked_and_ended_by_a_password_change() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let laptop = signed_in(&app, "ada@example.com", "correct horse", "laptop-browser").await;
    let phone = signed_in(&app, "ada@example.com", "correct horse", "phone-browser").await;

    let list: Value = laptop
        .get(app.url("/api/auth/list-sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    let agents: Vec<&str> = list
        .iter()
        .filter_map(|s| s["userAgent"].as_str())
        .collect();
    assert!(
        agents.contains(&"laptop-browser") && agents.contains(&"phone-browser"),
        "{agents:?}"
    );
    for s in list {
        assert!(
            s["createdAt"].is_string() && s["expiresAt"].is_string() && s["ipAddress"].is_string(),
            "{s}"
        );
    }

    // Revoke the phone's session from the laptop.
    let phone_token = session_of(&app, &phone).await["session"]["token"].clone();
    let r = laptop
        .post(app.url("/api/auth/revoke-session"))
        .json(&json!({ "token": phone_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": true}));
    assert!(
        session_of(&app, &phone).await.is_null(),
        "the phone is signed out"
    );
    assert!(!session_of(&app, &laptop).await.is_null());

    // Change the password: the wrong current one is refused; the right one with
    // revokeOtherSessions signs out every other session.
    let r = laptop
        .post(app.url("/api/auth/change-password"))
        .json(&json!({"currentPassword": "nope nope", "newPassword": "a new password"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "INVALID_PASSWORD").await;
    let r = laptop
        .post(app.url("/api/auth/change-password"))
        .json(&json!({"currentPassword": "correct horse", "newPassword": "a new password", "revokeOtherSessions": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["token"].is_string(), "{body}");
    assert!(
        session_of(&app, &app.client).await.is_null(),
        "the first session ended"
    );
    assert!(
        !session_of(&app, &laptop).await.is_null(),
        "this one goes on"
    );
    let again = signed_in(&app, "ada@example.com", "a new password", "again").await;

    // revoke-other-sessions, then revoke-sessions (this one too).
    let r = again
        .post(app.url("/api/auth/revoke-other-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(session_of(&app, &laptop).await.is_null());
    let r = again
        .post(app.url("/api/auth/revoke-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(session_of(&app, &again).await.is_null());
    let r = again
        .get(app.url("/api/auth/list-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_it_is_used() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    assert!(!session_of(&app, &app.client).await.is_null());
    // Its lifetime runs out (the store is moved instead of the clock).
    let db = app.db().await;
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, data FROM sessions")
        .fetch_all(&db)
        .await
        .unwrap();
    for (id, data) in rows {
        let mut data: Value = serde_json::from_str(&data).unwrap();
        data["until"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 1);
        sqlx::query("UPDATE sessions SET data = $2 WHERE id = $1")
            .bind(id)
            .bind(data.to_string())
            .execute(&db)
            .await
            .unwrap();
    }
    // The auth cache hears of writes made through proxyhub only: told of these, it reads
    // the sessions' new lifetime (as it would with the clock moved instead).
    app.state.auth.evict(&proxyhub::accounts::Evict::All);
    assert!(session_of(&app, &app.client).await.is_null());
    let r = app.get("/api/vhosts").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_rate_limited_attempt_says_when_to_retry_as_better_auth_clients_read_it() {
    let app = TestApp::spawn_without_proxy_with(Options {
        auth_rate_limit: 1,
        ..Options::default()
    })
    .await;
    app.sign_up_admin().await;
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-retry-after").is_some());
    assert!(r.headers().get("retry-after").is_some());
    let body = expect_error(r, 429, "TOO_MANY_REQUESTS").await;
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
}
