//! The vhost form's structured fields, driven in the real Chromium against a real Caddy:
//! a redirect host, a load-balanced vhost with a health check and a basic-auth user, an edit
//! that keeps the user's password, and a refusal shown beside its field.

use fantoccini::Locator;
use serde_json::{json, Value};

use super::{screenshot_path, sign_in};
use crate::support::{browser::Browser, CaddyProcess, TestApp, Upstream};

/// The vhost of `domain` as the API shows it.
async fn vhost(app: &TestApp, domain: &str) -> Value {
    let all: Value = app.get("/api/vhosts").await.json().await.unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|v| v["domain"] == domain)
        .unwrap_or_else(|| panic!("no vhost {domain} in {all}"))
        .clone()
}

/// A request through Caddy, with no redirect followed, as `user` if given.
async fn through_caddy(
    app: &TestApp,
    host: &str,
    path: &str,
    user: Option<(&str, &str)>,
) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client
        .get(format!("http://127.0.0.1:{}{path}", app.http_port))
        .header("Host", host);
    if let Some((name, password)) = user {
        req = req.basic_auth(name, Some(password));
    }
    req.send().await.unwrap()
}

async fn select(b: &Browser, css: &str, value: &str) {
    b.find(css).await.select_by_value(value).await.unwrap();
}

async fn value_of(b: &Browser, css: &str) -> String {
    b.find(css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_form_makes_redirects_and_load_balanced_vhosts_with_basic_auth() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let (one, two) = (Upstream::start("one").await, Upstream::start("two").await);
    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;

    // A redirect host: target, code, path kept, www. served too, and an alias.
    b.click("#new-vhost").await;
    b.fill("#vh-domain", "old.example.com").await;
    b.fill("#vh-aliases", "old.example.net").await;
    b.click("#vh-kind-redirect").await;
    assert!(
        !b.find("#vh-upstreams").await.is_displayed().await.unwrap(),
        "a redirect host has no upstreams to fill"
    );
    b.fill("#vh-redirect-target", "https://new.example.com/")
        .await;
    select(&b, "#vh-redirect-code", "308").await;
    b.click("#vh-redirect-path").await;
    b.click("#vh-redirect-www").await;
    b.click("#vhost-save").await;
    let row = b
        .wait_text("tr[data-domain='old.example.com']", "Redirect 308")
        .await;
    assert!(
        row.contains("→ https://new.example.com/") && row.contains("old.example.net"),
        "the list shows the target and the alias: {row}"
    );
    let v = vhost(&app, "old.example.com").await;
    assert_eq!(
        v["redirect"],
        json!({"target": "https://new.example.com/", "code": 308, "preservePath": true, "includeWww": true})
    );
    assert_eq!(v["aliases"], json!(["old.example.net"]));
    assert_eq!(v["upstreams"], json!([]));
    let r = through_caddy(&app, "www.old.example.com", "/a?b=1", None).await;
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "https://new.example.com/a?b=1"
    );

    // A load-balanced vhost: two upstreams, least connections, a health check, a user.
    b.click("#new-vhost").await;
    b.fill("#vh-domain", "lb.example.com").await;
    b.fill(
        "#vh-upstreams",
        &format!("{}\n{}", one.hostport(), two.hostport()),
    )
    .await;
    select(&b, "#vh-lb", "least_conn").await;
    b.click("#vh-hc-enabled").await;
    b.fill("#vh-hc-path", "/healthz").await;
    b.fill("#vh-hc-interval", "5").await;
    b.click("#vh-sec-access summary").await;
    b.click("#vh-add-user").await;
    b.fill("#vh-user-rows .user-name", "alice").await;
    b.fill("#vh-user-rows .user-password", "open sesame").await;
    b.click("#vhost-save").await;
    let row = b
        .wait_text("tr[data-domain='lb.example.com']", "least connections")
        .await;
    assert!(
        row.contains(&one.hostport()) && row.contains(&two.hostport()),
        "{row}"
    );
    // Each upstream's health is said beside it, in words.
    assert!(
        row.matches("not checked yet").count() + row.matches(" up").count() >= 2,
        "{row}"
    );
    let v = vhost(&app, "lb.example.com").await;
    assert_eq!(v["upstreams"], json!([one.hostport(), two.hostport()]));
    assert_eq!(v["loadBalancing"], "least_conn");
    assert_eq!(
        v["healthCheck"],
        json!({"path": "/healthz", "intervalSeconds": 5, "expectStatus": 200})
    );
    assert_eq!(v["access"]["basicAuth"], json!([{"username": "alice"}]));
    let r = through_caddy(&app, "lb.example.com", "/", None).await;
    assert_eq!(r.status(), 401, "no password, no entry");
    let r = through_caddy(&app, "lb.example.com", "/", Some(("alice", "open sesame"))).await;
    assert_eq!(r.status(), 200);

    // Edit: the user is listed with an empty password, which keeps it.
    b.click("tr[data-domain='lb.example.com'] button.secondary")
        .await;
    assert_eq!(value_of(&b, "#vh-user-rows .user-name").await, "alice");
    assert_eq!(value_of(&b, "#vh-user-rows .user-password").await, "");
    b.wait_text("#vh-user-rows", "Empty keeps the current password")
        .await;
    b.fill("#vh-aliases", "lb.example.net").await;
    b.click("#vhost-save").await;
    b.wait_text("tr[data-domain='lb.example.com']", "lb.example.net")
        .await;
    let v = vhost(&app, "lb.example.com").await;
    assert_eq!(v["access"]["basicAuth"], json!([{"username": "alice"}]));
    assert_eq!(v["aliases"], json!(["lb.example.net"]));
    let r = through_caddy(&app, "lb.example.net", "/", Some(("alice", "open sesame"))).await;
    assert_eq!(r.status(), 200, "the password is the one set first");

    // A refusal naming a field is shown beside it, and the field is marked invalid.
    b.click("tr[data-domain='lb.example.com'] button.secondary")
        .await;
    b.fill("#vh-hc-interval", "0").await;
    b.click("#vhost-save").await;
    b.wait_text("#vh-hc-interval-error", "1 to 3600").await;
    let invalid = b
        .find("#vh-hc-interval")
        .await
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    assert!(
        !b.find("#vhost-error").await.is_displayed().await.unwrap(),
        "nothing is shown above the form"
    );
    // Every section open, for the picture of the form (a window tall enough for all of it).
    b.click("#vhost-cancel").await;
    b.click("tr[data-domain='lb.example.com'] button.secondary")
        .await;
    for section in ["access", "headers", "tls", "advanced"] {
        b.client
            .execute(
                "document.getElementById(arguments[0]).open = true",
                vec![json!(format!("vh-sec-{section}"))],
            )
            .await
            .unwrap();
    }
    b.fill("#vh-resp-set", "X-Frame-Options: DENY").await;
    b.client.set_window_size(1100, 2300).await.unwrap();
    b.client
        .execute(
            "window.scrollTo(0, 0); document.activeElement.blur()",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot(&screenshot_path("vhost-form.png")).await;
    b.client.set_window_size(1280, 900).await.unwrap();
    b.click("#vhost-save").await;
    let mut closed = false;
    for _ in 0..150 {
        closed = b
            .client
            .find(Locator::Css("#vhost-editor[hidden]"))
            .await
            .is_ok();
        if closed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(closed, "the editor closes once saved");
    let v = vhost(&app, "lb.example.com").await;
    assert_eq!(
        v["headers"]["response"]["set"],
        json!({"X-Frame-Options": "DENY"})
    );
    assert_eq!(v["access"]["basicAuth"], json!([{"username": "alice"}]));
    b.close().await;
}
