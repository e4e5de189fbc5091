use reqwest::Method;
use serde_json::{json, Value};

use super::{make_token, script, with_token};
use crate::support::{expect_error, served, CaddyProcess, TestApp, Upstream};

#[tokio::test]
async fn a_stale_if_match_changes_nothing_and_shows_the_current_vhost() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let (a, b) = (
        Upstream::start("etag-a").await,
        Upstream::start("etag-b").await,
    );
    let (secret, _) = make_token(&app, &app.client, "ci", &["read:vhosts", "write:vhosts"]).await;

    let r = with_token(
        &app,
        &secret,
        Method::POST,
        "/api/vhosts",
        Some(json!({"domain": "etag.test", "upstream": a.hostport()})),
    )
    .await;
    assert_eq!(r.status(), 201);
    let first_tag = r.headers()["etag"].to_str().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    let path = format!("/api/vhosts/{}", v["id"]);
    let r = with_token(&app, &secret, Method::GET, &path, None).await;
    assert_eq!(r.headers()["etag"].to_str().unwrap(), first_tag);

    // Someone else changes it (a session, no If-Match: the last write wins).
    let r = app.put(&path, json!({"upstream": b.hostport()})).await;
    assert_eq!(r.status(), 200);
    let second_tag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(second_tag, first_tag, "every write moves the ETag");
    let before = app.stored().await;

    // The script still holds the first version: its update, toggle and delete are all 412,
    // with the vhost as it is now, and nothing is applied.
    let stale = |method: Method, p: String, body: Option<Value>| {
        let mut r = script()
            .request(method, app.url(&p))
            .bearer_auth(&secret)
            .header("If-Match", &first_tag);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    for (method, p, body) in [
        (
            Method::PUT,
            path.clone(),
            Some(json!({"upstream": a.hostport()})),
        ),
        (Method::PATCH, format!("{path}/toggle"), None),
        (Method::DELETE, path.clone(), None),
    ] {
        let r = stale(method.clone(), p, body).await.unwrap();
        assert_eq!(
            r.headers()["etag"].to_str().unwrap(),
            second_tag,
            "{method}"
        );
        let body = expect_error(r, 412, "PRECONDITION_FAILED").await;
        assert_eq!(
            body["upstream"],
            b.hostport(),
            "{method}: the current vhost: {body}"
        );
        assert_eq!(body["current"]["upstream"], b.hostport());
    }
    app.assert_unchanged(&before).await;
    let (code, text) = served(&app, "etag.test", "/", |c, _| c == 200).await;
    assert!(code == 200 && text.starts_with("etag-b "), "{code} {text}");

    // With the current ETag it goes through (a list of tags, one of them current, too).
    let r = script()
        .put(app.url(&path))
        .bearer_auth(&secret)
        .header("If-Match", format!("\"999\", {second_tag}"))
        .json(&json!({"upstream": a.hostport()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let third_tag = r.headers()["etag"].to_str().unwrap().to_string();
    let (code, text) = served(&app, "etag.test", "/", |_, t| t.starts_with("etag-a ")).await;
    assert!(code == 200 && text.starts_with("etag-a "), "{code} {text}");
    let r = script()
        .delete(app.url(&path))
        .bearer_auth(&secret)
        .header("If-Match", &third_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = with_token(&app, &secret, Method::GET, &path, None).await;
    expect_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn an_idempotent_retry_gets_the_first_answer() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("idem").await;
    let body = json!({"domain": "retry.test", "upstream": up.hostport()});
    let post = |key: &str, body: Value| {
        app.client
            .post(app.url("/api/vhosts"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("create-retry-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let tag = first.headers()["etag"].clone();
    let first: Value = first.json().await.unwrap();

    // The retry (the same body, spelt differently) gets the same 201, not a 409.
    let spelt = json!({"upstream": up.hostport(), "domain": "retry.test"});
    let again = post("create-retry-1", spelt).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["etag"], tag);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let vhosts: Value = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(vhosts.as_array().unwrap().len(), 1);
    let log: Value = app.get("/api/changelog").await.json().await.unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1, "created once: {log}");

    // The same key with another body: 422, nothing done.
    let r = post(
        "create-retry-1",
        json!({"domain": "other.test", "upstream": up.hostport()}),
    )
    .await
    .unwrap();
    expect_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    // Without a key, the same body is a conflict, as before.
    let r = app.post("/api/vhosts", body.clone()).await;
    expect_error(r, 409, "CONFLICT").await;
    // A failed first attempt is not remembered: the retry is answered afresh.
    let r = post(
        "create-retry-2",
        json!({"domain": "bad domain", "upstream": up.hostport()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        "create-retry-2",
        json!({"domain": "bad domain", "upstream": up.hostport()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // A malformed key: 400.
    let r = post("has space", body).await.unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
}
