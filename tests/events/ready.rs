//! `GET /api/ready`: ready when the store answers, the proxy runs the store's config and the
//! workers run; otherwise 503 naming the check that failed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{CaddyProcess, TestApp};

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    // No sign-in: a fresh client with no cookie.
    let r = app
        .new_client()
        .get(app.url("/api/ready"))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Asks until the answer has `status` and `check` holds on its body, or fails with the last
/// answer.
async fn until(app: &TestApp, status: StatusCode, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (s, body) = ready(app).await;
        if s == status && check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {status}: {s} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn proxy_unreachable(body: &Value) -> bool {
    body["checks"]["proxy"]
        .as_str()
        .is_some_and(|p| p.starts_with("unreachable"))
}

#[tokio::test]
async fn ready_with_a_running_caddy_in_sync_and_unready_while_it_is_down() {
    let mut caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    let body = until(&app, StatusCode::OK, |_| true).await;
    assert_eq!(body["status"], "ready");
    for check in [
        "database",
        "proxy",
        "tailer",
        "reconcile",
        "retention",
        "events",
        "webhooks",
        "sessions",
        "certificates",
        "health",
    ] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }

    caddy.kill().await;
    let body = until(&app, StatusCode::SERVICE_UNAVAILABLE, proxy_unreachable).await;
    assert_eq!(body["status"], "unready");
    assert_eq!(body["checks"]["database"], "ok", "{body}");

    caddy.restart().await;
    let body = until(&app, StatusCode::OK, |_| true).await;
    assert_eq!(body["checks"]["proxy"], "ok", "{body}");
}

#[tokio::test]
async fn unready_naming_the_proxy_when_none_answers() {
    let app = TestApp::spawn_without_proxy().await;
    let last = until(&app, StatusCode::SERVICE_UNAVAILABLE, proxy_unreachable).await;
    assert_eq!(last["status"], "unready");
    assert_eq!(last["checks"]["database"], "ok", "{last}");
    assert_eq!(last["checks"]["tailer"], "ok", "{last}");
    // /api/health stays the liveness check: up, whatever the proxy.
    let r = app
        .new_client()
        .get(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
