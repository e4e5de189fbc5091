use reqwest::Method;
use serde_json::json;

use super::{make_token, with_token};
use crate::support::{expect_error, Options, TestApp};

fn header(r: &reqwest::Response, name: &str) -> u64 {
    r.headers()[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_headers_count_down_and_the_limit_answers_429() {
    let app = TestApp::spawn_without_proxy_with(Options {
        api_rate_limit: (5, 3),
        ..Options::default()
    })
    .await;
    app.sign_up_admin().await;
    let (secret, _) = make_token(&app, &app.client, "ci", &["read:vhosts", "write:vhosts"]).await;

    // A token's reads: 5, counting down, with the end of the window as a Unix time.
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = with_token(&app, &secret, Method::GET, "/api/vhosts", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-limit"), 5);
        let reset = header(&r, "x-ratelimit-reset");
        // Within a minute of when the window opened, somewhere between `now` and this answer.
        let answered = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        assert!(
            (now..=answered + 61).contains(&reset),
            "{reset} vs {now}..{answered}"
        );
        remaining.push(header(&r, "x-ratelimit-remaining"));
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let r = with_token(&app, &secret, Method::GET, "/api/vhosts", None).await;
    let retry: u64 = header(&r, "retry-after");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header(&r, "x-ratelimit-remaining"), 0);
    expect_error(r, 429, "TOO_MANY_REQUESTS").await;

    // Writes are counted apart (3), and the session is another caller than the token.
    let r = with_token(&app, &secret, Method::POST, "/api/vhosts", Some(json!({}))).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "x-ratelimit-limit"), 3);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 2);
    let r = app.get("/api/vhosts").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 4);

    // Anonymous calls count per address, and carry the headers too.
    let anon = reqwest::Client::new();
    for left in (0..5).rev() {
        let r = anon.get(app.url("/api/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-remaining"), left);
    }
    let r = anon.get(app.url("/api/health")).send().await.unwrap();
    expect_error(r, 429, "TOO_MANY_REQUESTS").await;
}

#[tokio::test]
async fn sign_in_keeps_its_own_stricter_limit() {
    let app = TestApp::spawn_without_proxy_with(Options {
        auth_rate_limit: 2,
        ..Options::default()
    })
    .await;
    app.sign_up_admin().await;
    let anon = reqwest::Client::new();
    let attempt = || {
        anon.post(app.url("/api/auth/sign-in/email"))
            .json(&json!({"email": "ada@example.com", "password": "wrong password"}))
            .send()
    };
    // sign_up_admin took one of the two attempts of this address.
    let r = attempt().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "x-ratelimit-limit"), 2);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 0);
    let r = attempt().await.unwrap();
    assert!(header(&r, "retry-after") >= 1);
    expect_error(r, 429, "TOO_MANY_REQUESTS").await;
}
