//! Each replica remembers who calls (its auth cache); what ends or changes access on one
//! replica holds on the other from its next request, however well the other knew the caller.

use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};

use super::{
    pair::{post, Pair},
    session_cookie,
};
use crate::support::{eventually, server::Server};

const EVE: &str = "eve@example.com";
const PASSWORD: &str = "eve's password";

/// `method path` on `replica` with the session `cookie` (and the replica's Origin).
async fn as_session(replica: &Server, cookie: &str, method: Method, path: &str) -> StatusCode {
    Client::new()
        .request(method, format!("{}{path}", replica.base))
        .header(header::COOKIE, cookie)
        .header(header::ORIGIN, &replica.base)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn with_token(replica: &Server, secret: &str, path: &str) -> StatusCode {
    Client::new()
        .get(format!("{}{path}", replica.base))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .status()
}

/// What the admin (the replica's own client) asks of the account `id`.
async fn admin_changes(replica: &Server, method: Method, path: &str, body: Value) {
    let r = replica
        .client
        .request(method, format!("{}{path}", replica.base))
        .header(header::ORIGIN, &replica.base)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path} {body}");
}

/// Eve's session cookie, signed in on `replica`.
async fn eve_signs_in(replica: &Server) -> String {
    let r = Client::new()
        .post(format!("{}/api/auth/sign-in/email", replica.base))
        .json(&json!({"email": EVE, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// A token of the session `cookie` with `scopes`: its secret and id.
async fn token(replica: &Server, cookie: &str, scopes: &[&str]) -> (String, String) {
    let r = Client::new()
        .post(format!("{}/api/tokens", replica.base))
        .header(header::COOKIE, cookie)
        .header(header::ORIGIN, &replica.base)
        .json(&json!({"name": "eve's script", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let secret = body["token"].as_str().expect("a token").to_string();
    (secret, body["id"].as_str().unwrap().to_string())
}

/// Waits until both replicas answer known callers from their caches (each listens for the
/// other's evictions).
async fn caches_on(pair: &Pair) {
    for replica in [&pair.a, &pair.b] {
        let on = eventually(std::time::Duration::from_secs(10), || async {
            let status = replica
                .client
                .get(format!("{}/api/status", replica.base))
                .send()
                .await;
            match status {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|s| s["authCache"]["enabled"] == true),
                Err(_) => false,
            }
        })
        .await;
        assert!(on, "the auth cache of {} is on", replica.base);
    }
}

#[tokio::test]
async fn a_session_signed_out_on_one_replica_is_refused_at_once_by_both() {
    let pair = Pair::start(&[]).await;
    caches_on(&pair).await;
    let cookie = session_cookie(&pair.a.base).await;
    for replica in [&pair.a, &pair.b, &pair.a, &pair.b] {
        assert_eq!(
            as_session(replica, &cookie, Method::GET, "/api/vhosts").await,
            200
        );
    }
    assert_eq!(
        as_session(&pair.a, &cookie, Method::POST, "/api/auth/sign-out").await,
        200
    );
    assert_eq!(
        as_session(&pair.b, &cookie, Method::GET, "/api/vhosts").await,
        401
    );
    assert_eq!(
        as_session(&pair.a, &cookie, Method::GET, "/api/vhosts").await,
        401
    );
}

#[tokio::test]
async fn a_demotion_a_revocation_and_a_disabling_on_one_replica_hold_on_the_other_at_once() {
    let pair = Pair::start(&[]).await;
    caches_on(&pair).await;
    let r = post(
        &pair.a,
        "/api/users",
        json!({"name": "Eve", "email": EVE, "password": PASSWORD, "role": "admin"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let eve: Value = r.json().await.unwrap();
    let eve = eve["id"].as_str().unwrap().to_string();
    let cookie = eve_signs_in(&pair.b).await;
    let (admin_token, _) = token(&pair.b, &cookie, &["admin"]).await;
    let (read_token, read_id) = token(&pair.a, &cookie, &["read:vhosts"]).await;
    for replica in [&pair.a, &pair.b, &pair.a, &pair.b] {
        assert_eq!(
            as_session(replica, &cookie, Method::GET, "/api/users").await,
            200
        );
        assert_eq!(with_token(replica, &admin_token, "/api/users").await, 200);
        assert_eq!(with_token(replica, &read_token, "/api/vhosts").await, 200);
    }

    // Demoted on a: b refuses what a viewer may not do.
    let account = format!("/api/users/{eve}");
    admin_changes(&pair.a, Method::PATCH, &account, json!({"role": "viewer"})).await;
    assert_eq!(
        as_session(&pair.b, &cookie, Method::GET, "/api/users").await,
        403
    );
    assert_eq!(with_token(&pair.b, &admin_token, "/api/users").await, 403);
    assert_eq!(
        as_session(&pair.b, &cookie, Method::GET, "/api/vhosts").await,
        200
    );

    // A token revoked on b: a refuses it.
    let revoked = format!("/api/tokens/{read_id}");
    admin_changes(&pair.b, Method::DELETE, &revoked, json!({})).await;
    assert_eq!(with_token(&pair.a, &read_token, "/api/vhosts").await, 401);

    // Disabled on b: a refuses the session and the token.
    admin_changes(&pair.b, Method::PATCH, &account, json!({"disabled": true})).await;
    assert_eq!(
        as_session(&pair.a, &cookie, Method::GET, "/api/vhosts").await,
        401
    );
    assert_eq!(with_token(&pair.a, &admin_token, "/api/vhosts").await, 401);
    assert_eq!(
        as_session(&pair.b, &cookie, Method::GET, "/api/vhosts").await,
        401
    );
    assert_eq!(with_token(&pair.b, &admin_token, "/api/vhosts").await, 401);
}
