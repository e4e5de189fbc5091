//! The nginx backend against a real nginx: vhosts served through their whole life,
//! rejected configs, injection attempts, the JSON access log, drift repair.

#[path = "../support/mod.rs"]
mod support;

mod access_log;
mod drift;
mod injection;
mod listen;
mod rejection;
mod vhosts;

use std::time::Duration;

use support::TestApp;

/// Asks nginx for `host` until the answer satisfies `want` or 5 s pass, and returns the
/// last answer: nginx applies a reload moments after it is signalled, not before.
pub async fn served(
    app: &TestApp,
    host: &str,
    path: &str,
    want: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = app.through_proxy(host, path).await;
        if want(got.0, &got.1) || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
