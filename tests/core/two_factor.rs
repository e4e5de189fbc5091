use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use totp_rs::TOTP;

use crate::support::{expect_error, Options, TestApp};

/// The code an authenticator app shows for `uri`, `ahead` time steps from now.
fn code(uri: &str, ahead: u64) -> String {
    let totp = TOTP::from_url_unchecked(uri).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    totp.generate(now + ahead * 30)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn sign_in(app: &TestApp, c: &reqwest::Client, password: &str) -> Value {
    let r = c
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn post(app: &TestApp, c: &reqwest::Client, path: &str, body: Value) -> reqwest::Response {
    c.post(app.url(path)).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn two_factor_is_set_up_asked_at_sign_in_and_cannot_be_bypassed() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let me = &app.client;

    // Set up: the password first; then the URI and ten backup codes.
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/enable",
        json!({"password": "wrong one!"}),
    )
    .await;
    expect_error(r, 400, "INVALID_PASSWORD").await;
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/enable",
        json!({"password": "correct horse"}),
    )
    .await;
    let setup: Value = r.json().await.unwrap();
    let uri = setup["totpURI"].as_str().unwrap().to_string();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(
        setup["totpQR"]
            .as_str()
            .is_some_and(|q| q.starts_with("data:image/svg+xml;base64,")),
        "a QR code proxyhub drew"
    );
    let backups: Vec<String> = setup["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(backups.len(), 10);
    // Not on until a code is verified.
    let s: Value = me
        .get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["user"]["twoFactorEnabled"], false);
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/verify-totp",
        json!({"code": "000000"}),
    )
    .await;
    expect_error(r, 401, "INVALID_CODE").await;
    let first = code(&uri, 0);
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/verify-totp",
        json!({"code": first}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let s: Value = me
        .get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["user"]["twoFactorEnabled"], true);

    // Sign-in now waits for the second factor: no session, only a pending cookie.
    let b = client();
    let answer = sign_in(&app, &b, "correct horse").await;
    assert_eq!(answer["twoFactorRedirect"], true, "{answer}");
    assert!(answer.get("token").is_none(), "{answer}");
    let s: Value = b
        .get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(s.is_null(), "no session before the code");
    let r = b.get(app.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the pending cookie opens nothing"
    );
    // The code already used is not accepted again; the next one is.
    let r = post(
        &app,
        &b,
        "/api/auth/two-factor/verify-totp",
        json!({"code": first}),
    )
    .await;
    expect_error(r, 401, "INVALID_CODE").await;
    let r = post(
        &app,
        &b,
        "/api/auth/two-factor/verify-totp",
        json!({"code": code(&uri, 1)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("proxyhub.session_token=")));
    let r = b.get(app.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(r.status(), 200, "signed in with both factors");

    // A backup code works once.
    let c = client();
    sign_in(&app, &c, "correct horse").await;
    let r = post(
        &app,
        &c,
        "/api/auth/two-factor/verify-backup-code",
        json!({"code": backups[0]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let d = client();
    sign_in(&app, &d, "correct horse").await;
    let r = post(
        &app,
        &d,
        "/api/auth/two-factor/verify-backup-code",
        json!({"code": backups[0]}),
    )
    .await;
    expect_error(r, 401, "INVALID_BACKUP_CODE").await;

    // Guessing: five wrong codes spend the challenge; then even a right one is refused.
    let e = client();
    sign_in(&app, &e, "correct horse").await;
    for _ in 0..4 {
        let r = post(
            &app,
            &e,
            "/api/auth/two-factor/verify-totp",
            json!({"code": "123456"}),
        )
        .await;
        expect_error(r, 401, "INVALID_CODE").await;
    }
    let r = post(
        &app,
        &e,
        "/api/auth/two-factor/verify-backup-code",
        json!({"code": "nope-nope1"}),
    )
    .await;
    expect_error(r, 401, "INVALID_BACKUP_CODE").await;
    let r = post(
        &app,
        &e,
        "/api/auth/two-factor/verify-backup-code",
        json!({"code": backups[1]}),
    )
    .await;
    expect_error(r, 401, "INVALID_TWO_FACTOR_COOKIE").await;
    // No pending cookie at all.
    let r = post(
        &app,
        &client(),
        "/api/auth/two-factor/verify-totp",
        json!({"code": "123456"}),
    )
    .await;
    expect_error(r, 401, "INVALID_TWO_FACTOR_COOKIE").await;

    // Off again (with the password): sign-in is one step.
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/disable",
        json!({"password": "correct horse"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer = sign_in(&app, &client(), "correct horse").await;
    assert!(answer["token"].is_string(), "{answer}");
}

#[tokio::test]
async fn required_two_factor_is_set_up_before_anything_else() {
    let app = TestApp::spawn_without_proxy_with(Options {
        require_2fa: true,
        ..Options::default()
    })
    .await;
    app.sign_up_admin().await;
    let me = &app.client;
    let r = me.get(app.url("/api/vhosts")).send().await.unwrap();
    expect_error(r, 403, "TWO_FACTOR_REQUIRED").await;
    let s: Value = me
        .get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        s["user"]["email"], "ada@example.com",
        "the auth routes still answer"
    );
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/enable",
        json!({"password": "correct horse"}),
    )
    .await;
    let uri = r.json::<Value>().await.unwrap()["totpURI"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/verify-totp",
        json!({"code": code(&uri, 0)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = me.get(app.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
