use std::path::PathBuf;

use crate::support::{Options, TestApp};

/// Better Auth's own client (npm `better-auth` 1.7, which `scripts/test` installs) run under
/// node against proxyhub: sign-up with an image, sign-in with `callbackURL` and
/// `rememberMe: false`, the error codes of a wrong password, a malformed email, a duplicate
/// email, a closed sign-up and a rate limit, get-session's fields, list and revoke sessions,
/// change-password and update-user, each checked against what a Better Auth 1.7 server
/// answers (`better_auth_client.mjs`).
#[tokio::test]
async fn better_auths_own_client_works_unchanged() {
    let modules =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.tools/better-auth/node_modules");
    assert!(
        modules.join("better-auth/package.json").is_file(),
        "Better Auth's client is not installed: run scripts/test, or \
         npm install --prefix tests/.tools/better-auth better-auth@1.7"
    );
    crate::support::require_binary("node", "apt-get install nodejs");
    let open = TestApp::spawn_without_proxy_with(Options {
        allow_signup: true,
        ..Options::default()
    })
    .await;
    let closed = TestApp::spawn_without_proxy().await;
    let limited = TestApp::spawn_without_proxy_with(Options {
        allow_signup: true,
        auth_rate_limit: 2,
        ..Options::default()
    })
    .await;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/core/better_auth_client.mjs");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(&script)
            .args([&open.base, &closed.base, &limited.base])
            .env("NODE_PATH", &modules)
            .env("BA_KEEP_GOING", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client finishes")
    .expect("node runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "Better Auth's client disagrees:\n{said}"
    );
    assert!(said.contains("ok "), "{said}");
    eprintln!("{said}");
}
