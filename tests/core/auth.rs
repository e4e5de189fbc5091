use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::support::{expect_error, CaddyProcess, Options, TestApp};

#[tokio::test]
async fn the_first_account_is_an_admin_with_a_better_auth_session() {
    let app = TestApp::spawn_without_proxy().await;

    let r = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "Ada", "email": "Ada@Example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("proxyhub.session_token="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http deployments get a usable cookie: {cookie}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));
    let user = &body["user"];
    for key in [
        "id",
        "name",
        "email",
        "emailVerified",
        "image",
        "createdAt",
        "updatedAt",
    ] {
        assert!(user.get(key).is_some(), "user lacks {key}: {user}");
    }
    assert_eq!(
        user["email"], "ada@example.com",
        "emails are stored lowercased"
    );
    assert_eq!(user["role"], "admin");

    let s: Value = app.get("/api/auth/get-session").await.json().await.unwrap();
    assert_eq!(s["user"]["id"], user["id"]);
    assert_eq!(s["session"]["userId"], user["id"]);
    assert!(s["session"]["expiresAt"].as_str().unwrap().ends_with('Z'));

    let anonymous: Value = app
        .new_client()
        .get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous, Value::Null);
}

#[tokio::test]
async fn later_sign_ups_are_refused_unless_opened_and_then_get_viewers() {
    let caddy = CaddyProcess::start().await;
    let closed = TestApp::spawn(&caddy).await;
    closed.sign_up_admin().await;
    let other = closed.new_client();
    let r = other
        .post(closed.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Eve", "email": "eve@example.com", "password": "password123"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "EMAIL_PASSWORD_SIGN_UP_DISABLED").await;

    let open = TestApp::spawn_with(
        &caddy,
        Options {
            allow_signup: true,
            ..Default::default()
        },
    )
    .await;
    open.sign_up_admin().await;
    let viewer = open.new_client();
    let r = viewer
        .post(open.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Vic", "email": "vic@example.com", "password": "password123"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["role"], "viewer");
    let r = viewer
        .post(open.url("/api/vhosts"))
        .json(&json!({"domain": "v.example.com", "upstream": "127.0.0.1:1"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "FORBIDDEN").await;
    let r = viewer.get(open.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "viewers can read");
    let dup = open
        .new_client()
        .post(open.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Vic", "email": "VIC@example.com", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        dup.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "emails are unique case-insensitively"
    );
}

#[tokio::test]
async fn sign_in_hides_which_half_was_wrong_and_rotates_the_session() {
    let app = TestApp::spawn_without_proxy().await;
    let first = app.sign_up_admin().await;

    let wrong_password = app
        .post(
            "/api/auth/sign-in/email",
            json!({"email": "ada@example.com", "password": "wrong password"}),
        )
        .await;
    let a = expect_error(wrong_password, 401, "INVALID_EMAIL_OR_PASSWORD").await;
    let unknown = app
        .post(
            "/api/auth/sign-in/email",
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    let b = expect_error(unknown, 401, "INVALID_EMAIL_OR_PASSWORD").await;
    assert_eq!(
        a, b,
        "a wrong email and a wrong password get the same answer"
    );

    let r = app
        .post(
            "/api/auth/sign-in/email",
            json!({"email": "ADA@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["redirect"], false);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_ne!(
        body["token"], first["token"],
        "every sign-in gets a new session id"
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn_without_proxy().await;
    let token = app.sign_up_admin().await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let stolen_cookie = format!("proxyhub.session_token={token}");
    let replay = || {
        app.new_client()
            .get(app.url("/api/vhosts"))
            .header(header::COOKIE, stolen_cookie.clone())
            .send()
    };
    assert_eq!(
        replay().await.unwrap().status(),
        StatusCode::OK,
        "the token is the session cookie"
    );

    let r = app.post("/api/auth/sign-out", json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    expect_error(replay().await.unwrap(), 401, "UNAUTHORIZED").await;
    expect_error(app.get("/api/vhosts").await, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn bad_credentials_and_bodies_are_clear_400s() {
    let app = TestApp::spawn_without_proxy().await;
    let short = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "A", "email": "a@example.com", "password": "1234567"}),
        )
        .await;
    expect_error(short, 400, "PASSWORD_TOO_SHORT").await;
    let long = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "A", "email": "a@example.com", "password": "x".repeat(129)}),
        )
        .await;
    expect_error(long, 400, "PASSWORD_TOO_LONG").await;
    let email = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "A", "email": "not-an-email", "password": "password123"}),
        )
        .await;
    expect_error(email, 400, "INVALID_EMAIL").await;
    let malformed = app
        .client
        .post(app.url("/api/auth/sign-in/email"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    expect_error(malformed, 400, "BAD_REQUEST").await;
    let missing = app
        .post("/api/auth/sign-in/email", json!({"email": "a@example.com"}))
        .await;
    expect_error(missing, 400, "BAD_REQUEST").await;
    assert!(!app.get("/api/vhosts").await.status().is_success());
}

#[tokio::test]
async fn routes_behind_sign_in_answer_401_in_the_error_shape() {
    let app = TestApp::spawn_without_proxy().await;
    expect_error(app.get("/api/vhosts").await, 401, "UNAUTHORIZED").await;
    expect_error(app.get("/api/changelog").await, 401, "UNAUTHORIZED").await;
    expect_error(
        app.post(
            "/api/vhosts",
            json!({"domain": "a.example.com", "upstream": "127.0.0.1:1"}),
        )
        .await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let forged = app
        .new_client()
        .get(app.url("/api/vhosts"))
        .header(header::COOKIE, "proxyhub.session_token=forged")
        .send()
        .await
        .unwrap();
    expect_error(forged, 401, "UNAUTHORIZED").await;
    let health: Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok"}));
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client() {
    let app = TestApp::spawn_without_proxy_with(Options {
        auth_rate_limit: 3,
        ..Default::default()
    })
    .await;
    // X-Forwarded-For from a client that is not a trusted proxy is not believed.
    for i in 0..3 {
        let r = app
            .client
            .post(app.url("/api/auth/sign-in/email"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .json(&json!({"email": "x@example.com", "password": "password123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .post(
            "/api/auth/sign-in/email",
            json!({"email": "x@example.com", "password": "password123"}),
        )
        .await;
    let retry: u64 = r
        .headers()
        .get(header::RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    expect_error(r, 429, "TOO_MANY_REQUESTS").await;
    let signup = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "A", "email": "a@example.com", "password": "password123"}),
        )
        .await;
    expect_error(signup, 429, "TOO_MANY_REQUESTS").await;
}

#[tokio::test]
async fn foreign_origins_cannot_change_anything() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn_with(
        &caddy,
        Options {
            public_url: Some("https://hub.example.com".into()),
            ..Default::default()
        },
    )
    .await;
    let r = app
        .post(
            "/api/auth/sign-up/email",
            json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}),
        )
        .await;
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("Secure"),
        "an https public URL makes the cookie Secure: {cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let post_from = |origin: &'static str| {
        app.new_client()
            .post(app.url("/api/vhosts"))
            .header(header::COOKIE, session.clone())
            .header(header::ORIGIN, origin)
            .json(&json!({"domain": "a.example.com", "config": "respond ok"}))
            .send()
    };
    expect_error(
        post_from("https://evil.example.net").await.unwrap(),
        403,
        "INVALID_ORIGIN",
    )
    .await;
    let own = post_from("https://hub.example.com").await.unwrap();
    assert_eq!(own.status(), StatusCode::CREATED, "{:?}", own.text().await);
    let list = app
        .new_client()
        .get(app.url("/api/vhosts"))
        .header(header::COOKIE, session.clone())
        .header(header::ORIGIN, "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.status(),
        StatusCode::OK,
        "reads are not state-changing"
    );
    let listed: Vec<Value> = list.json().await.unwrap();
    assert_eq!(listed.len(), 1, "the refused request stored nothing");
}

#[tokio::test]
async fn a_session_used_after_a_day_is_extended_for_seven_more_days() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let db = app.db().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Age the session: refreshed two days ago, expiring in an hour.
    let (id, data): (String, String) = sqlx::query_as("SELECT id, data FROM sessions")
        .fetch_one(&db)
        .await
        .unwrap();
    let mut data: Value = serde_json::from_str(&data).unwrap();
    data["refreshed_at"] = json!(now - 2 * 86400);
    sqlx::query("UPDATE sessions SET data = $1, expires_at = $2 WHERE id = $3")
        .bind(data.to_string())
        .bind(now + 3600)
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();

    let r = app.get("/api/vhosts").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .expect("the cookie is renewed")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("Max-Age="), "{cookie}");
    let expires: i64 = sqlx::query_scalar("SELECT expires_at FROM sessions WHERE id = $1")
        .bind(&id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(
        expires > now + 6 * 86400,
        "the session now lasts 7 more days ({} s)",
        expires - now
    );
}

#[tokio::test]
async fn a_rebound_domain_cannot_claim_a_fresh_instance() {
    let app = TestApp::spawn_without_proxy().await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let body = json!({"name": "Mallory", "email": "m@example.com", "password": "password123"});
    let rebound = app
        .new_client()
        .post(app.url("/api/auth/sign-up/email"))
        .header(header::HOST, format!("evil.example:{port}"))
        .header(header::ORIGIN, format!("http://evil.example:{port}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(rebound, 403, "FORBIDDEN").await;
    let r = app.post("/api/auth/sign-up/email", body).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "through an address, first-run setup works"
    );
}

#[tokio::test]
async fn malformed_paths_and_unknown_assets_answer_in_the_error_shape() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let r = app
        .client
        .patch(app.url("/api/users/%FF"))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    expect_error(app.get("/assets/nope.js").await, 404, "NOT_FOUND").await;
    expect_error(app.delete("/api/vhosts/%C0").await, 400, "BAD_REQUEST").await;
}

/// A sign-in through the proxy (Caddy, listening on `port`) for `hub.example.com`, from a
/// client bound to `local` (any 127.x.y.z is a loopback address of its own).
async fn sign_in_through_proxy(port: u16, local: &str, forwarded: &str) -> reqwest::Response {
    let ip: std::net::IpAddr = local.parse().unwrap();
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{port}/api/auth/sign-in/email"))
        .header("Host", "hub.example.com")
        .header("X-Forwarded-For", forwarded)
        .json(&json!({"email": "x@example.com", "password": "password123"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_sign_in_is_limited_per_client_not_per_proxy() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn_with(
        &caddy,
        Options {
            auth_rate_limit: 3,
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..Default::default()
        },
    )
    .await;
    app.sign_up_admin().await;
    // proxyhub served through the Caddy it manages, as a team would put it on a domain.
    let hub = app.base.trim_start_matches("http://").to_string();
    app.create_vhost(json!({"domain": "hub.example.com", "upstream": hub}))
        .await;
    // Caddy replaces what the client claims with the address it was reached from.
    for i in 0..3 {
        let r =
            sign_in_through_proxy(caddy.http_port, "127.0.0.2", &format!("203.0.113.{i}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = sign_in_through_proxy(caddy.http_port, "127.0.0.2", "203.0.113.9").await;
    expect_error(r, 429, "TOO_MANY_REQUESTS").await;
    let other = sign_in_through_proxy(caddy.http_port, "127.0.0.3", "127.0.0.2").await;
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has its own limit"
    );
}
