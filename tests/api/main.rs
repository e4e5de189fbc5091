//! The API as scripts and CI use it, against a real Caddy: API tokens and their scopes, rate
//! limits clients can see, lists, ETag / If-Match and Idempotency-Key; and its OpenAPI
//! document: valid (a real validator says so), covering every route, readable as a page, and
//! telling the truth (schemathesis, run against a live proxyhub on a real Caddy, finds no
//! server error and no answer the document does not allow).

#[path = "../support/mod.rs"]
mod support;

mod auth_cache;
mod concurrency;
mod lists;
mod openapi;
mod ratelimit;
mod tokens;

use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use support::TestApp;

/// A client with no cookie jar: what a CI script with a token is.
fn script() -> Client {
    Client::builder().build().unwrap()
}

/// Sends `method path` with `Authorization: Bearer token` (and a JSON body if given).
async fn with_token(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut r = script().request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// Creates a token with `client` (signed in) and returns its secret and id.
async fn make_token(
    app: &TestApp,
    client: &Client,
    name: &str,
    scopes: &[&str],
) -> (String, String) {
    let r = client
        .post(app.url("/api/tokens"))
        .json(&json!({ "name": name, "scopes": scopes }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().unwrap().to_string(),
        body["id"].as_str().unwrap().to_string(),
    )
}
