use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use totp_rs::TOTP;

use crate::support::{expect_error, Options, TestApp};

/// The code an authenticator app shows for `uri`, `ahead` time steps from now.
pub fn code(uri: &str, ahead: u64) -> String {
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

/// Turns two-factor on for the admin (the app's client, password `correct horse`); returns
/// the authenticator's URI.
pub async fn turn_on(app: &TestApp) -> String {
    let setup: Value = post(
        app,
        &app.client,
        "/api/auth/two-factor/enable",
        json!({"password": "correct horse"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let uri = setup["totpURI"].as_str().unwrap().to_string();
    let r = post(
        app,
        &app.client,
        "/api/auth/two-factor/verify-totp",
        json!({"code": code(&uri, 0)}),
    )
    .await;
    assert_eq!(r.status(), 200, "two-factor turns on");
    uri
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

/// Better Auth's `trustDevice`: a browser that finished a code with it is not asked again (for
/// 30 days, renewed at each sign-in); its cookie works once if copied; turning two-factor off
/// forgets every trusted browser.
#[tokio::test]
async fn a_trusted_browser_skips_the_code_and_its_cookie_works_once() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let me = &app.client;
    let uri = turn_on(&app).await;

    let trust_of = |r: &reqwest::Response| {
        r.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().to_string())
            .find(|c| c.starts_with("proxyhub.trust_device="))
    };
    let value = |cookie: &str| cookie.split(';').next().unwrap().to_string();

    // Without trustDevice: asked again next time.
    let plain = client();
    assert_eq!(
        sign_in(&app, &plain, "correct horse").await["twoFactorRedirect"],
        true
    );
    let r = post(
        &app,
        &plain,
        "/api/auth/two-factor/verify-totp",
        json!({"code": code(&uri, 1)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(trust_of(&r).is_none(), "trusted only when asked");

    // With it: a cookie for 30 days, and the next sign-in has no code to give.
    let laptop = client();
    assert_eq!(
        sign_in(&app, &laptop, "correct horse").await["twoFactorRedirect"],
        true
    );
    let r = post(
        &app,
        &laptop,
        "/api/auth/two-factor/verify-totp",
        json!({"code": code(&uri, 2), "trustDevice": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let first = trust_of(&r).expect("a trust cookie");
    assert!(
        first.contains("Max-Age=2592000") && first.contains("HttpOnly"),
        "{first}"
    );
    let r = laptop
        .post(app.url("/api/auth/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = laptop
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let renewed = trust_of(&r).expect("the trust is renewed");
    assert_ne!(value(&renewed), value(&first), "under a new secret");
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["token"].is_string(),
        "signed in without a code: {answer}"
    );
    let r = laptop.get(app.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The first cookie, copied elsewhere, is spent; and the password is still needed.
    for (cookie, password) in [
        (value(&first), "correct horse"),
        (value(&renewed), "wrong horse"),
    ] {
        let r = reqwest::Client::new()
            .post(app.url("/api/auth/sign-in/email"))
            .header(header::COOKIE, cookie)
            .json(&json!({"email": "ada@example.com", "password": password}))
            .send()
            .await
            .unwrap();
        if password == "wrong horse" {
            expect_error(r, 401, "INVALID_EMAIL_OR_PASSWORD").await;
        } else {
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["twoFactorRedirect"], true, "{answer}");
        }
    }

    // Two-factor off forgets the browser: on again, the code is asked even there.
    let r = post(
        &app,
        me,
        "/api/auth/two-factor/disable",
        json!({"password": "correct horse"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    turn_on(&app).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/auth/sign-in/email"))
        .header(header::COOKIE, value(&renewed))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["twoFactorRedirect"], true, "{answer}");
}
