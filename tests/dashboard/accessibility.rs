//! Every page checked with axe-core in the real Chromium: in the light and the dark scheme, at
//! desktop and at phone width, with its badges, tables, forms and dialogs on screen. (The
//! keyboard is tried in `keyboard.rs`.)

use std::{io::Write as _, time::Duration};

use serde_json::{json, Value};

use super::sign_in;
use crate::support::{self, axe, browser::Browser, CaddyProcess, TestApp, Upstream};

/// (name, dark scheme, width, height)
const VIEWS: [(&str, bool, u32, u32); 4] = [
    ("light, desktop", false, 1280, 900),
    ("dark, desktop", true, 1280, 900),
    ("light, phone", false, 390, 844),
    ("dark, phone", true, 390, 844),
];

/// Runs axe on the page as it stands in every view and keeps what it finds.
struct Audit<'a> {
    browser: &'a Browser,
    axe: String,
    found: Vec<String>,
    checked: usize,
}

impl Audit<'_> {
    async fn check(&mut self, what: &str) {
        let b = self.browser;
        for (view, dark, width, height) in VIEWS {
            b.prefer_dark(dark).await;
            b.client.set_window_size(width, height).await.unwrap();
            let loaded = b
                .client
                .execute("return typeof window.axe", vec![])
                .await
                .unwrap();
            if loaded != "object" {
                axe::inject(b, &self.axe).await;
            }
            for v in axe::blocking_violations(b).await {
                self.found.push(format!("{what} [{view}] {v}"));
            }
            // Reflow (WCAG 1.4.10), which axe leaves to people: at phone width only a table
            // scrolls sideways, inside its own box, never the page.
            let page_width = b
                .client
                .execute("return document.documentElement.scrollWidth", vec![])
                .await
                .unwrap();
            if page_width.as_u64().unwrap() > u64::from(width) {
                self.found
                    .push(format!("{what} [{view}] the page is {page_width}px wide"));
            }
            self.checked += 1;
        }
        b.prefer_dark(false).await;
        b.client.set_window_size(1280, 900).await.unwrap();
    }
}

/// Vhosts enabled and disabled, a changelog entry of each action, requests of every status
/// class through the real Caddy, a viewer and a disabled account, and a token.
async fn seed(app: &TestApp, up: &Upstream) {
    app.create_vhost(json!({"domain": "shop.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "api.example.com", "config":
        "redir /old /new 301\nrespond /missing \"no\" 404\nrespond /boom \"down\" 503\nrespond \"ok\" 200"}))
        .await;
    app.create_vhost(json!({"domain": "moved.example.com", "aliases": ["moved.example.net"],
        "redirect": {"target": "https://shop.example.com/", "code": 301, "preservePath": true, "includeWww": false},
        "access": {"basicAuth": [{"username": "alice", "password": "open sesame"}], "allow": ["10.0.0.0/8"], "deny": []},
        "headers": {"response": {"set": {"X-Frame-Options": "DENY"}, "remove": ["Server"]}}}))
        .await;
    app.create_vhost(json!({"domain": "pool.example.com", "upstreams": [up.hostport(), "127.0.0.1:9"],
        "loadBalancing": "first", "healthCheck": {"path": "/", "intervalSeconds": 30, "expectStatus": 200}}))
        .await;
    let old = app
        .create_vhost(json!({"domain": "old.example.com", "upstream": up.hostport()}))
        .await;
    let gone = app
        .create_vhost(json!({"domain": "gone.example.com", "upstream": up.hostport()}))
        .await;
    let shop: Value = app.get("/api/vhosts").await.json().await.unwrap();
    let shop = shop
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["domain"] == "shop.example.com")
        .unwrap()
        .clone();
    let r = app
        .put(
            &format!("/api/vhosts/{}", id(&shop)),
            json!({"domain": "shop.example.com", "upstream": "127.0.0.1:9", "enabled": true}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.patch(&format!("/api/vhosts/{}/toggle", id(&old))).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.delete(&format!("/api/vhosts/{}", id(&gone))).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    for path in ["/old", "/missing", "/boom", "/health"] {
        app.through_proxy("api.example.com", path).await;
    }
    app.through_proxy("shop.example.com", "/cart").await;
    // A status outside 2xx-5xx (a protocol switch), which no route here answers.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let line = format!(
        r#"{{"level":"info","ts":{now}.000,"logger":"http.log.access","msg":"handled request","request":{{"remote_ip":"10.0.0.1","client_ip":"10.0.0.1","proto":"HTTP/1.1","method":"GET","host":"api.example.com","uri":"/socket","headers":{{}}}},"duration":0.001,"size":0,"status":101}}"#
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&app.access_log)
        .unwrap()
        .write_all(format!("{line}\n").as_bytes())
        .unwrap();
    let stored = support::eventually(Duration::from_secs(15), || async {
        let r: Value = app.get("/api/logs").await.json().await.unwrap();
        // /old is followed to /new; the upstream of shop.example.com is gone (502).
        r["total"].as_i64() == Some(7)
    })
    .await;
    let logs: Value = app.get("/api/logs").await.json().await.unwrap();
    assert!(stored, "the tailer did not store the 7 requests: {logs}");
    // And one shipped from another node (`proxyhub logs ship`), shown with its node's name.
    let shipped = line.replace("/socket", "/shipped").replace("101", "200");
    let r = app
        .post(
            "/api/logs/ship",
            json!({"node": "edge-1", "fingerprint": "ab".repeat(32), "path": "/var/log/caddy/access.log",
                   "from": 0, "to": shipped.len() + 1, "lines": [shipped]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    for (name, email, role) in [
        ("Vera Viewer", "vera@example.com", "viewer"),
        ("Ed Editor", "ed@example.com", "editor"),
    ] {
        let r = app
            .post(
                "/api/users",
                json!({"name": name, "email": email, "password": "viewer password", "role": role}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        if role == "editor" {
            let user: Value = r.json().await.unwrap();
            let r = app
                .client
                .patch(app.url(&format!("/api/users/{}", id(&user))))
                .json(&json!({"disabled": true}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    }
    let r = app
        .post(
            "/api/tokens",
            json!({"name": "deploy bot", "scopes": ["read:vhosts", "read:logs"]}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// A record's id as it goes in a path (a number or a string).
fn id(record: &Value) -> String {
    match &record["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Opens a confirmation dialog with `open`, checks the page with it, and cancels it.
async fn check_dialog(audit: &mut Audit<'_>, what: &str, open: &str, dialog: &str) {
    let b = audit.browser;
    b.click(open).await;
    b.find(&format!("{dialog}[open]")).await;
    audit.check(what).await;
    b.click(&format!("{dialog} button[value=cancel]")).await;
}

#[tokio::test]
async fn every_page_passes_axe_in_both_schemes_at_both_widths() {
    let source = axe::source();
    let caddy = CaddyProcess::start().await;
    // Single sign-on configured, for its button on the sign-in page (no provider needs to
    // answer for the page to be drawn).
    let app = TestApp::spawn_with(
        &caddy,
        support::Options {
            oidc: support::oidc::config_for_port(support::free_port()),
            ..support::Options::default()
        },
    )
    .await;
    let up = Upstream::start("a11y").await;
    let b = Browser::start().await;
    let mut audit = Audit {
        browser: &b,
        axe: source,
        found: Vec::new(),
        checked: 0,
    };

    b.goto(&app.url("/setup")).await;
    b.find("#setup-form").await;
    audit.check("/setup").await;

    app.sign_up_admin().await;
    seed(&app, &up).await;
    b.goto(&app.url("/sign-in")).await;
    b.find("#sign-in-form").await;
    b.find("#sso-button").await;
    audit.check("/sign-in").await;
    b.goto(&app.url("/sign-in?error=email_not_verified")).await;
    b.wait_text("#form-error", "has not verified").await;
    audit.check("/sign-in, single sign-on refused").await;

    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.wait_text("#vhosts-table tbody", "old.example.com").await;
    b.wait_text("#proxy-status", "reachable").await;
    audit.check("/vhosts").await;
    b.click("#new-vhost").await;
    audit.check("/vhosts with the editor open").await;
    // Every part of the editor on screen: the sections unfolded, a health check, a user row,
    // a refusal beside its field; then the redirect fields.
    for section in ["access", "headers", "tls", "advanced"] {
        b.click(&format!("#vh-sec-{section} summary")).await;
    }
    b.click("#vh-hc-enabled").await;
    b.click("#vh-add-user").await;
    b.fill("#vh-req-set", "no colon here").await;
    b.click("#vhost-save").await;
    b.wait_text("#vh-req-set-error", "Line 1").await;
    audit
        .check("/vhosts with every section of the editor open")
        .await;
    b.click("#vh-kind-redirect").await;
    audit.check("/vhosts with the editor on a redirect").await;
    b.click("#vhost-cancel").await;
    b.click("tr[data-domain='moved.example.com'] button.secondary")
        .await;
    b.wait_text("#editor-title", "moved.example.com").await;
    audit
        .check("/vhosts editing a vhost with every field")
        .await;
    b.click("#vhost-cancel").await;
    let delete = "tr[data-domain='shop.example.com'] button.danger";
    check_dialog(
        &mut audit,
        "/vhosts asking to delete",
        delete,
        "#confirm-delete",
    )
    .await;

    b.goto(&app.url("/logs")).await;
    b.wait_text("#logs-table tbody", "/socket").await;
    b.wait_text("#logs-table tbody", "edge-1").await;
    audit.check("/logs").await;

    b.goto(&app.url("/traffic")).await;
    b.wait_text("#legend", "other: 1").await;
    audit.check("/traffic").await;

    b.goto(&app.url("/changelog")).await;
    b.wait_text("#changelog", "gone.example.com").await;
    audit.check("/changelog").await;

    b.goto(&app.url("/users")).await;
    b.wait_text("#users-table tbody", "ed@example.com").await;
    audit.check("/users").await;
    let delete = "tr[data-email='vera@example.com'] button.danger";
    check_dialog(
        &mut audit,
        "/users asking to delete",
        delete,
        "#confirm-delete-user",
    )
    .await;

    b.goto(&app.url("/tokens")).await;
    b.wait_text("#tokens-table tbody", "deploy bot").await;
    b.fill("#t-name", "ci job").await;
    b.click("input[value='read:changelog']").await;
    b.click("#token-form button[type=submit]").await;
    b.wait_text("#tokens-table tbody", "ci job").await;
    audit.check("/tokens with a new secret shown").await;
    let revoke = "tr[data-name='deploy bot'] button.danger";
    check_dialog(
        &mut audit,
        "/tokens asking to revoke",
        revoke,
        "#confirm-revoke",
    )
    .await;

    b.goto(&app.url("/webhooks")).await;
    b.find("#hook-form").await;
    b.fill("#h-url", &format!("http://{}/hook", up.hostport()))
        .await;
    b.click("#hook-form button[type=submit]").await;
    b.wait_text("#hooks-table tbody", "/hook").await;
    audit.check("/webhooks with a new secret shown").await;
    b.click("#hooks-table tbody button.secondary").await;
    b.wait_text("#hook-status", "Ping delivered").await;
    check_dialog(
        &mut audit,
        "/webhooks showing deliveries",
        "#hooks-table tbody button.secondary:nth-of-type(2)",
        "#deliveries",
    )
    .await;
    check_dialog(
        &mut audit,
        "/webhooks asking to delete",
        "#hooks-table tbody button.danger",
        "#confirm-delete",
    )
    .await;

    b.goto(&app.url("/logs")).await;
    b.wait_text("#logs-table tbody", "/socket").await;
    b.click("#live").await;
    b.wait_text("#live-state", "following").await;
    audit.check("/logs, live").await;
    b.click("#live").await;

    b.goto(&app.url("/account")).await;
    b.find("#sessions-table tbody tr").await;
    audit.check("/account").await;
    b.fill("#tfa-password", "correct horse").await;
    b.click("#tfa-enable-form button[type=submit]").await;
    b.wait_text("#tfa-backup", "-").await;
    audit.check("/account setting up two-factor").await;

    b.goto(&app.url("/api/docs")).await;
    b.find("#schemas").await;
    audit.check("/api/docs").await;

    b.goto(&app.url("/vhosts")).await;
    b.click("#sign-out").await;
    b.wait_path("/sign-in").await;
    sign_in(&b, &app, "vera@example.com", "viewer password").await;
    b.wait_text("#vhosts-table tbody", "old.example.com").await;
    audit.check("/vhosts as a viewer").await;
    b.goto(&app.url("/users")).await;
    b.wait_text("main h1", "Not allowed").await;
    audit.check("/users as a viewer (Not allowed)").await;

    let (checked, found) = (audit.checked, audit.found);
    b.close().await;
    assert!(checked >= 60, "only {checked} page views were checked");
    assert!(
        found.is_empty(),
        "axe found {} serious or critical violations:\n{}",
        found.len(),
        found.join("\n")
    );
}
