//! A real OpenID provider (npm `oidc-provider`, which `scripts/test` installs) on a loopback
//! port, run under node by `oidc_provider.mjs`, and a browser-less walk through its sign-in
//! page.

use std::{path::PathBuf, process::Stdio, time::Duration};

use proxyhub::config::OidcConfig;
use reqwest::{header, redirect::Policy, Client, StatusCode};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const CLIENT_ID: &str = "proxyhub";
pub const CLIENT_SECRET: &str = "a-client-secret-of-some-length";

/// What the provider's token endpoint answers (see `oidc_provider.mjs`).
#[derive(Clone, Copy)]
pub enum Mode {
    Honest,
    WrongAudience,
    BadSignature,
}

pub struct OidcProvider {
    pub issuer: String,
    _child: tokio::process::Child,
}

fn modules() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.tools/oidc-provider/node_modules");
    assert!(
        dir.join("oidc-provider/package.json").is_file(),
        "the OpenID provider is not installed: run scripts/test, or \
         npm install --prefix tests/.tools/oidc-provider oidc-provider@9"
    );
    dir
}

impl OidcProvider {
    /// Starts a provider on `port` that accepts proxyhub at `base` as its client.
    pub async fn start(port: u16, base: &str, mode: Mode) -> Self {
        super::require_binary("node", "apt-get install nodejs");
        let mode = match mode {
            Mode::Honest => "honest",
            Mode::WrongAudience => "wrong_audience",
            Mode::BadSignature => "bad_signature",
        };
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/oidc_provider.mjs");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .arg(format!("{base}/api/auth/callback/oidc"))
            .args([CLIENT_ID, CLIENT_SECRET, mode])
            .env("OIDC_MODULES", modules())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        // Its start-up warnings (development adapter and pages, node version) are expected;
        // anything else it says is shown with the test's output.
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                if !line.starts_with("oidc-provider WARNING") {
                    eprintln!("oidc-provider: {line}");
                }
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    return issuer.to_string();
                }
            }
            panic!("the OpenID provider stopped before it listened");
        })
        .await
        .expect("the OpenID provider starts within 30 s");
        // Keep reading what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            issuer,
            _child: child,
        }
    }
}

/// An issuer URL for a provider that will listen on `port`, for proxyhub's settings before
/// the provider starts (the provider needs proxyhub's address, proxyhub the provider's).
pub fn config_for_port(port: u16) -> OidcConfig {
    OidcConfig {
        issuer: Some(format!("http://127.0.0.1:{port}")),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(CLIENT_SECRET.into()),
        ..OidcConfig::default()
    }
}

/// Signs in at the provider as `login` (its development page takes any password), starting
/// from the authorization URL proxyhub gave, and returns where the provider sends the browser
/// back (proxyhub's callback, with `code` and `state`), without following it.
pub async fn sign_in_at_provider(authorize_url: &str, login: &str) -> String {
    let client = Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let origin = {
        let u = reqwest::Url::parse(authorize_url).unwrap();
        format!("{}://{}", u.scheme(), u.authority())
    };
    let absolute = |l: &str| {
        if l.starts_with("http") {
            l.to_string()
        } else {
            format!("{origin}{l}")
        }
    };
    let mut url = authorize_url.to_string();
    let mut signed_in = false;
    for _ in 0..10 {
        let r = client.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            let to = r.headers()[header::LOCATION].to_str().unwrap().to_string();
            if to.contains("/api/auth/callback/") {
                return to;
            }
            url = absolute(&to);
            continue;
        }
        assert_eq!(r.status(), StatusCode::OK, "the provider at {url}");
        let page = r.text().await.unwrap();
        assert!(
            !signed_in,
            "the provider asks again after the sign-in: {page}"
        );
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no form on the provider's page: {page}"))
            .replace("&amp;", "&");
        let r = client
            .post(absolute(&action))
            .form(&[("prompt", "login"), ("login", login), ("password", "any")])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{}", r.text().await.unwrap());
        url = absolute(r.headers()[header::LOCATION].to_str().unwrap());
        signed_in = true;
    }
    panic!("the provider never sent the browser back to proxyhub");
}
