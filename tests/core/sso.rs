//! Single sign-on against a real OpenID provider (npm `oidc-provider` under node): Better
//! Auth's `sign-in/social` and `callback/:id`, accounts created and linked by verified email,
//! roles and domains from the policy, and what must be refused: a forged or misaddressed ID
//! token, a replayed or foreign `state`, an unverified email, another site's callback URL.

use std::sync::Arc;

use reqwest::{cookie::Jar, header, redirect::Policy, Client, StatusCode};
use serde_json::{json, Value};

use crate::support::{
    expect_error, free_port,
    oidc::{config_for_port, sign_in_at_provider, Mode, OidcProvider},
    Options, TestApp,
};

/// proxyhub with single sign-on, and the provider it trusts.
async fn with_provider(mode: Mode, tune: impl FnOnce(&mut Options)) -> (TestApp, OidcProvider) {
    let port = free_port();
    let mut opts = Options {
        oidc: config_for_port(port),
        ..Options::default()
    };
    tune(&mut opts);
    let app = TestApp::spawn_without_proxy_with(opts).await;
    app.sign_up_admin().await;
    let provider = OidcProvider::start(port, &app.base, mode).await;
    (app, provider)
}

/// A browser: a cookie jar, and redirects left for the test to look at.
fn browser() -> (Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

/// Begins a sign-in in `browser`, checks proxyhub's answer, and returns the authorization URL.
async fn begin(app: &TestApp, provider: &OidcProvider, browser: &Client, body: Value) -> String {
    let r = browser
        .post(app.url("/api/auth/sign-in/social"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("proxyhub.oauth_state=")
            && cookie.contains("Path=/api/auth/callback")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let location = r
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    let answer: Value = r.json().await.unwrap();
    let url = answer["url"].as_str().unwrap().to_string();
    assert_eq!(answer["redirect"], json!(location.is_some()));
    if let Some(l) = location {
        assert_eq!(l, url);
    }
    assert!(
        url.starts_with(&format!("{}/auth?", provider.issuer)),
        "{url}"
    );
    for part in [
        "response_type=code",
        "client_id=proxyhub",
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    url
}

/// Signs in as `login` at the provider and comes back: where proxyhub then sends the browser.
async fn sign_in_as(
    app: &TestApp,
    provider: &OidcProvider,
    browser: &Client,
    login: &str,
) -> String {
    let url = begin(
        app,
        provider,
        browser,
        json!({"provider": "oidc", "callbackURL": "/vhosts"}),
    )
    .await;
    let back = sign_in_at_provider(&url, login).await;
    come_back(browser, &back).await
}

async fn come_back(browser: &Client, callback: &str) -> String {
    let r = browser.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{callback}");
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

async fn session_of(app: &TestApp, browser: &Client) -> Value {
    browser
        .get(app.url("/api/auth/get-session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn user_count(app: &TestApp) -> usize {
    let users: Value = app.get("/api/users").await.json().await.unwrap();
    users.as_array().unwrap().len()
}

#[tokio::test]
async fn a_team_signs_in_through_its_provider_and_accounts_link_by_verified_email() {
    let (app, provider) = with_provider(Mode::Honest, |_| {}).await;

    // A new account, created at its first sign-in: a viewer, its email verified, no password.
    let (carol, _) = browser();
    assert_eq!(
        sign_in_as(&app, &provider, &carol, "carol").await,
        "/vhosts"
    );
    let s = session_of(&app, &carol).await;
    assert_eq!(s["user"]["email"], "carol@example.test", "{s}");
    assert_eq!(s["user"]["name"], "Test carol");
    assert_eq!(s["user"]["role"], "viewer");
    assert_eq!(s["user"]["emailVerified"], true);
    let carol_id = s["user"]["id"].clone();
    let r = carol.get(app.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a viewer reads");
    let r = carol
        .post(app.url("/api/vhosts"))
        .json(&json!({"domain": "x.example.com", "upstream": "127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "and only reads");
    assert_eq!(user_count(&app).await, 2);

    // Signing in again is the same account.
    let (again, _) = browser();
    assert_eq!(
        sign_in_as(&app, &provider, &again, "carol").await,
        "/vhosts"
    );
    assert_eq!(session_of(&app, &again).await["user"]["id"], carol_id);
    assert_eq!(user_count(&app).await, 2);

    // An account without a password cannot sign in with one, nor change it.
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "carol@example.test", "password": ""}))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "INVALID_EMAIL_OR_PASSWORD").await;
    let r = carol
        .post(app.url("/api/auth/change-password"))
        .header(header::ORIGIN, &app.base)
        .json(&json!({"currentPassword": "", "newPassword": "a new password"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "CREDENTIAL_ACCOUNT_NOT_FOUND").await;

    // The admin's password account is linked by its (verified) email: the same account.
    let (ada, _) = browser();
    assert_eq!(
        sign_in_as(&app, &provider, &ada, "ada@example.com").await,
        "/vhosts"
    );
    let s = session_of(&app, &ada).await;
    assert_eq!(s["user"]["email"], "ada@example.com");
    assert_eq!(
        s["user"]["role"], "admin",
        "the linked account keeps its role"
    );
    assert_eq!(user_count(&app).await, 2);

    // An email the provider has not verified links nothing and creates nothing.
    let _ = app
        .client_with_role("unverified-eve@example.test", "editor")
        .await;
    for login in ["unverified-eve@example.test", "unverified-frank"] {
        let (b, _) = browser();
        assert_eq!(
            sign_in_as(&app, &provider, &b, login).await,
            "/sign-in?error=email_not_verified",
            "{login}"
        );
        assert_eq!(session_of(&app, &b).await, Value::Null, "{login}");
    }
    assert_eq!(user_count(&app).await, 3);
}

#[tokio::test]
async fn a_replayed_or_foreign_state_is_refused() {
    let (app, provider) = with_provider(Mode::Honest, |_| {}).await;
    let (b, jar) = browser();
    let url = begin(
        &app,
        &provider,
        &b,
        json!({"provider": "oidc", "disableRedirect": true}),
    )
    .await;
    let state = url
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let back = sign_in_at_provider(&url, "grace").await;

    // Login CSRF: the callback in a browser that did not begin this sign-in.
    let (other, _) = browser();
    assert_eq!(
        come_back(&other, &back).await,
        "/sign-in?error=state_mismatch"
    );
    assert_eq!(session_of(&app, &other).await, Value::Null);

    // The browser that began it is signed in (to `/`, no callbackURL was given).
    assert_eq!(come_back(&b, &back).await, "/");
    assert_eq!(
        session_of(&app, &b).await["user"]["email"],
        "grace@example.test"
    );

    // The same answer again, even with the state cookie put back: used once.
    let (replay, replay_jar) = browser();
    let base: reqwest::Url = app.base.parse().unwrap();
    replay_jar.add_cookie_str(
        &format!("proxyhub.oauth_state={state}; Path=/api/auth/callback"),
        &base,
    );
    assert_eq!(
        come_back(&replay, &back).await,
        "/sign-in?error=state_not_found"
    );
    assert_eq!(session_of(&app, &replay).await, Value::Null);
    drop(jar);

    // The provider's refusal is passed on to the error URL the client named.
    let url = begin(
        &app,
        &provider,
        &b,
        json!({"provider": "oidc", "errorCallbackURL": "/sign-in?from=sso"}),
    )
    .await;
    let state = url
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let denied = app.url(&format!(
        "/api/auth/callback/oidc?error=access_denied&error_description=no&state={state}"
    ));
    assert_eq!(
        come_back(&b, &denied).await,
        "/sign-in?from=sso&error=access_denied"
    );

    // Without PROXYHUB_PUBLIC_URL, a host name in `Host` is the client's word: refused.
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/social"))
        .header(header::HOST, "proxyhub.evil.example")
        .json(&json!({"provider": "oidc"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 400, "BAD_REQUEST").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("PROXYHUB_PUBLIC_URL"),
        "{body}"
    );

    // What a client may ask for, and what it may not.
    for (body, status, code) in [
        (json!({"provider": "github"}), 404, "PROVIDER_NOT_FOUND"),
        (
            json!({"provider": "oidc", "callbackURL": "https://evil.example/"}),
            403,
            "INVALID_CALLBACK_URL",
        ),
        (
            json!({"provider": "oidc", "errorCallbackURL": "//evil.example/"}),
            403,
            "INVALID_CALLBACK_URL",
        ),
    ] {
        let r = app
            .new_client()
            .post(app.url("/api/auth/sign-in/social"))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(r, status, code).await;
    }
}

#[tokio::test]
async fn an_account_with_two_factor_still_gives_its_code() {
    let (app, provider) = with_provider(Mode::Honest, |_| {}).await;
    let uri = crate::two_factor::turn_on(&app).await;

    let (b, _) = browser();
    let url = begin(
        &app,
        &provider,
        &b,
        json!({"provider": "oidc", "callbackURL": "/logs"}),
    )
    .await;
    let back = sign_in_at_provider(&url, "ada@example.com").await;
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()[header::LOCATION],
        "/sign-in?twoFactor=1&next=/logs"
    );
    let cookies: Vec<_> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("proxyhub.two_factor=")),
        "{cookies:?}"
    );
    assert!(
        !cookies
            .iter()
            .any(|c| c.starts_with("proxyhub.session_token=")),
        "{cookies:?}"
    );
    assert_eq!(
        session_of(&app, &b).await,
        Value::Null,
        "no session before the code"
    );
    let r = b.get(app.url("/api/vhosts")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = b
        .post(app.url("/api/auth/two-factor/verify-totp"))
        .json(&json!({"code": crate::two_factor::code(&uri, 1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        session_of(&app, &b).await["user"]["email"],
        "ada@example.com"
    );
}

#[tokio::test]
async fn a_forged_or_misaddressed_id_token_is_refused() {
    for mode in [Mode::WrongAudience, Mode::BadSignature] {
        let (app, provider) = with_provider(mode, |_| {}).await;
        let (b, _) = browser();
        assert_eq!(
            sign_in_as(&app, &provider, &b, "mallory").await,
            "/sign-in?error=invalid_id_token"
        );
        assert_eq!(session_of(&app, &b).await, Value::Null);
        assert_eq!(user_count(&app).await, 1, "no account was made");
    }
}

#[tokio::test]
async fn roles_come_from_the_claim_and_only_allowed_domains_sign_in() {
    let (app, provider) = with_provider(Mode::Honest, |o| {
        o.oidc.allowed_domains = vec!["example.test".into()];
        o.oidc.role_claim = Some("groups".into());
    })
    .await;
    for (login, role) in [
        ("boss-heidi", "admin"),
        ("ed-ivan", "editor"),
        ("judy", "viewer"),
    ] {
        let (b, _) = browser();
        assert_eq!(sign_in_as(&app, &provider, &b, login).await, "/vhosts");
        let s = session_of(&app, &b).await;
        assert_eq!(s["user"]["role"], role, "{login}: {s}");
    }
    // Outside the allowed domains, even an existing account is not signed in.
    let (ada, _) = browser();
    assert_eq!(
        sign_in_as(&app, &provider, &ada, "ada@example.com").await,
        "/sign-in?error=email_domain_not_allowed"
    );
    let (b, _) = browser();
    assert_eq!(
        sign_in_as(&app, &provider, &b, "kim@elsewhere.test").await,
        "/sign-in?error=email_domain_not_allowed"
    );
    assert_eq!(session_of(&app, &b).await, Value::Null);
    assert_eq!(user_count(&app).await, 4);
}

#[tokio::test]
async fn without_a_provider_there_is_no_sso() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/social"))
        .json(&json!({"provider": "oidc"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "PROVIDER_NOT_FOUND").await;
    let (b, _) = browser();
    assert_eq!(
        come_back(&b, &app.url("/api/auth/callback/oidc?code=x&state=y")).await,
        "/sign-in?error=oauth_provider_not_found"
    );
    let page = app
        .new_client()
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Sign in with SSO"), "{page}");

    let (with_sso, _provider) = with_provider(Mode::Honest, |_| {}).await;
    let page = with_sso
        .new_client()
        .get(with_sso.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with SSO"), "{page}");
}
