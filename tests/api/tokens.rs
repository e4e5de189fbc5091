use reqwest::Method;
use serde_json::{json, Value};

use super::{make_token, script, with_token};
use crate::support::{expect_error, CaddyProcess, TestApp, Upstream};

#[tokio::test]
async fn a_token_is_shown_once_and_works_in_place_of_a_session_within_its_scopes() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("token-upstream").await;

    let r = app
        .post(
            "/api/tokens",
            json!({"name": "ci deploy", "scopes": ["write:vhosts", "read:vhosts"], "expiresInDays": 30}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("phk_") && secret.len() == 68, "{secret}");
    assert!(secret[4..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(created["name"], "ci deploy");
    assert_eq!(
        created["scopes"],
        json!(["write:vhosts", "read:vhosts"]),
        "as asked"
    );
    assert!(created["createdAt"].is_string() && created["expiresAt"].is_string());

    // The secret is never shown again, nor stored.
    let listed: Value = app.get("/api/tokens").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret[4..]), "{listed}");
    assert!(listed[0]["lastUsedAt"].is_null());
    let db = app.db().await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(!stored[0].contains(&secret[4..]));

    // A CI script: create, update, toggle, delete, with no cookie and from a foreign Origin
    // (a bearer request carries no ambient credential the Origin check protects).
    let r = script()
        .post(app.url("/api/vhosts"))
        .bearer_auth(&secret)
        .header("Origin", "https://ci.example.net")
        .json(&json!({"domain": "ci.test", "upstream": up.hostport()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "a bearer request gets no cookie"
    );
    let v: Value = r.json().await.unwrap();
    let (code, body) = crate::support::served(&app, "ci.test", "/", |c, _| c == 200).await;
    assert!(
        code == 200 && body.starts_with("token-upstream "),
        "{code} {body}"
    );
    let id = v["id"].as_i64().unwrap();
    let r = with_token(
        &app,
        &secret,
        Method::GET,
        &format!("/api/vhosts/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none());

    // get-session answers for the token's account.
    let r = with_token(&app, &secret, Method::GET, "/api/auth/get-session", None).await;
    let session: Value = r.json().await.unwrap();
    assert_eq!(session["user"]["email"], "ada@example.com", "{session}");
    // An unknown API path is a 404 in the error shape, with the rate-limit headers.
    let r = with_token(&app, &secret, Method::GET, "/api/no-such-thing", None).await;
    assert!(r.headers().get("x-ratelimit-remaining").is_some());
    expect_error(r, 404, "NOT_FOUND").await;

    // Outside its scopes: 403 naming the scope it lacks.
    for path in ["/api/logs", "/api/logs/stats", "/api/logs/status"] {
        let r = with_token(&app, &secret, Method::GET, path, None).await;
        let body = expect_error(r, 403, "MISSING_SCOPE").await;
        assert_eq!(body["required"], "read:logs", "{path}");
    }
    let body = expect_error(
        with_token(&app, &secret, Method::GET, "/api/changelog", None).await,
        403,
        "MISSING_SCOPE",
    )
    .await;
    assert_eq!(body["required"], "read:changelog");
    let body = expect_error(
        with_token(&app, &secret, Method::GET, "/api/users", None).await,
        403,
        "MISSING_SCOPE",
    )
    .await;
    assert_eq!(body["required"], "admin");

    // The change is the creator's, with the token's name beside it.
    let log: Value = app.get("/api/changelog").await.json().await.unwrap();
    assert_eq!(log[0]["userName"], "Ada Admin");
    assert_eq!(log[0]["tokenName"], "ci deploy");
    assert_eq!(log[0]["domain"], "ci.test");

    let listed: Value = app.get("/api/tokens").await.json().await.unwrap();
    assert!(listed[0]["lastUsedAt"].is_string(), "{listed}");

    // Revoked: refused at once.
    let r = app
        .delete(&format!("/api/tokens/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 200);
    expect_error(
        with_token(&app, &secret, Method::GET, "/api/vhosts", None).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    // A wrong or malformed token: 401 too.
    let wrong = format!("phk_{}", "0".repeat(64));
    for t in [wrong.as_str(), "phk_short", "not-a-token"] {
        let r = with_token(&app, t, Method::GET, "/api/vhosts", None).await;
        expect_error(r, 401, "INVALID_TOKEN").await;
    }
}

#[tokio::test]
async fn each_scope_opens_its_routes_and_no_other() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let routes: [(&str, Method, &str); 6] = [
        ("read:vhosts", Method::GET, "/api/vhosts"),
        ("write:vhosts", Method::POST, "/api/vhosts"),
        ("read:logs", Method::GET, "/api/logs"),
        ("read:changelog", Method::GET, "/api/changelog"),
        ("admin", Method::GET, "/api/users"),
        ("admin", Method::POST, "/api/users"),
    ];
    for scope in [
        "read:vhosts",
        "write:vhosts",
        "read:logs",
        "read:changelog",
        "admin",
    ] {
        let (secret, _) = make_token(&app, &app.client, scope, &[scope]).await;
        for (needs, method, path) in &routes {
            // Bodies that are invalid, so a permitted request is a 400, never a change.
            let body = (*method == Method::POST).then(|| json!({}));
            let r = with_token(&app, &secret, method.clone(), path, body).await;
            let status = r.status().as_u16();
            if needs == &scope {
                assert!(
                    status == 200 || status == 400,
                    "{scope} opens {method} {path}: {status}"
                );
            } else {
                let body = expect_error(r, 403, "MISSING_SCOPE").await;
                assert_eq!(body["required"], *needs, "{scope} on {method} {path}");
            }
        }
        // Every token reads the status and its own tokens.
        let r = with_token(&app, &secret, Method::GET, "/api/status", None).await;
        assert_eq!(r.status(), 200, "{scope}");
        let r = with_token(&app, &secret, Method::GET, "/api/tokens", None).await;
        assert_eq!(r.status(), 200, "{scope}");
    }
    // A token's tokens expire no later than it; it revokes only tokens that can do no more.
    let r = app
        .post(
            "/api/tokens",
            json!({"name": "short", "scopes": ["read:vhosts", "read:logs"], "expiresInDays": 1}),
        )
        .await;
    let short: Value = r.json().await.unwrap();
    let short_secret = short["token"].as_str().unwrap();
    let r = with_token(
        &app,
        short_secret,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "child", "scopes": ["read:vhosts"]})),
    )
    .await;
    let child: Value = r.json().await.unwrap();
    assert_eq!(child["expiresAt"], short["expiresAt"], "{child}");
    let (_, admin_token_id) = make_token(&app, &app.client, "wide", &["admin"]).await;
    let r = with_token(
        &app,
        short_secret,
        Method::DELETE,
        &format!("/api/tokens/{admin_token_id}"),
        None,
    )
    .await;
    expect_error(r, 403, "FORBIDDEN").await;
    let r = with_token(
        &app,
        short_secret,
        Method::DELETE,
        &format!("/api/tokens/{}", child["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);

    // A token cannot mint a token with more than it holds.
    let (reader, _) = make_token(&app, &app.client, "reader", &["read:vhosts"]).await;
    let r = with_token(
        &app,
        &reader,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "escalate", "scopes": ["read:vhosts", "write:vhosts"]})),
    )
    .await;
    let body = expect_error(r, 403, "MISSING_SCOPE").await;
    assert_eq!(body["required"], "write:vhosts");
    // Bad token requests.
    for bad in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["read:everything"]}),
        json!({"name": "", "scopes": ["read:vhosts"]}),
        json!({"name": "x", "scopes": ["read:vhosts"], "expiresInDays": 0}),
        json!({"name": "x", "scopes": ["read:vhosts"], "expiresInDays": 100000}),
        json!({"name": "x", "scopes": ["read:vhosts"], "extra": 1}),
    ] {
        let r = app.post("/api/tokens", bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn a_token_never_grants_more_than_its_creator_may_now() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let editor = app.client_with_role("ed@example.com", "editor").await;
    let viewer = app.client_with_role("vi@example.com", "viewer").await;

    // Beyond the role: refused at creation.
    let r = editor
        .post(app.url("/api/tokens"))
        .json(&json!({"name": "too much", "scopes": ["admin"]}))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "FORBIDDEN").await;
    let r = viewer
        .post(app.url("/api/tokens"))
        .json(&json!({"name": "too much", "scopes": ["write:vhosts"]}))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "FORBIDDEN").await;

    let (ed_token, ed_token_id) =
        make_token(&app, &editor, "editor ci", &["read:vhosts", "write:vhosts"]).await;
    let (vi_token, _) = make_token(&app, &viewer, "viewer ci", &["read:vhosts"]).await;

    // Each sees only their own tokens; the admin sees everyone's.
    let mine: Value = editor
        .get(app.url("/api/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let all: Value = app.get("/api/tokens").await.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    // Nobody else revokes it (it is not found for them); an admin may.
    let r = viewer
        .delete(app.url(&format!("/api/tokens/{ed_token_id}")))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "NOT_FOUND").await;

    // The editor is made a viewer: the token loses write:vhosts at once.
    let users: Value = app.get("/api/users").await.json().await.unwrap();
    let id_of = |email: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ed_id, vi_id) = (id_of("ed@example.com"), id_of("vi@example.com"));
    let post = || {
        with_token(
            &app,
            &ed_token,
            Method::POST,
            "/api/vhosts",
            Some(json!({"domain": "", "upstream": "127.0.0.1:1"})),
        )
    };
    assert_eq!(
        post().await.status(),
        400,
        "allowed (a 400 for the empty domain)"
    );
    let r = app
        .client
        .patch(app.url(&format!("/api/users/{ed_id}")))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = expect_error(post().await, 403, "MISSING_SCOPE").await;
    assert_eq!(body["required"], "write:vhosts");
    let listed: Value = app.get("/api/tokens").await.json().await.unwrap();
    let listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == ed_token_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        listed["scopes"],
        json!(["read:vhosts"]),
        "the list shows what works now"
    );
    let r = with_token(&app, &ed_token, Method::GET, "/api/vhosts", None).await;
    assert_eq!(r.status(), 200, "what the role still allows keeps working");

    // Disabled: the token stops working; enabled again, it works again.
    let set_disabled = |id: String, d: bool| {
        app.client
            .patch(app.url(&format!("/api/users/{id}")))
            .json(&json!({ "disabled": d }))
            .send()
    };
    assert_eq!(
        set_disabled(ed_id.clone(), true).await.unwrap().status(),
        200
    );
    let r = with_token(&app, &ed_token, Method::GET, "/api/vhosts", None).await;
    expect_error(r, 401, "INVALID_TOKEN").await;
    assert_eq!(set_disabled(ed_id, false).await.unwrap().status(), 200);
    let r = with_token(&app, &ed_token, Method::GET, "/api/vhosts", None).await;
    assert_eq!(r.status(), 200);

    // Deleted: its tokens go with it.
    assert_eq!(
        app.delete(&format!("/api/users/{vi_id}")).await.status(),
        200
    );
    let r = with_token(&app, &vi_token, Method::GET, "/api/vhosts", None).await;
    expect_error(r, 401, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let (secret, id) = make_token(&app, &app.client, "short", &["read:vhosts"]).await;
    let r = with_token(&app, &secret, Method::GET, "/api/vhosts", None).await;
    assert_eq!(r.status(), 200);
    // A day passes (the store is moved instead of the clock).
    let db = app.db().await;
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind(time::OffsetDateTime::now_utc().unix_timestamp() - 1)
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    // The auth cache hears of writes made through proxyhub only: told of this one, it reads
    // the token's new expiry (as it would with the clock moved instead).
    app.state
        .auth
        .evict(&proxyhub::accounts::Evict::Token(id.clone()));
    let r = with_token(&app, &secret, Method::GET, "/api/vhosts", None).await;
    expect_error(r, 401, "INVALID_TOKEN").await;
    let listed: Value = app.get("/api/tokens").await.json().await.unwrap();
    assert!(listed[0]["expiresAt"].is_string());
}
