//! Every page checked with axe-core in the real Chromium: in the light and the dark scheme, at
//! desktop and at phone width, with its badges, tables, forms and dialogs on screen.

use std::{io::Write as _, time::Duration};

use fantoccini::key::Key;
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

/// What has the keyboard focus: its text (or id), the vhost row it is in, whether it is in an
/// open dialog, and whether the focus is drawn (an outline).
async fn focused(b: &Browser) -> Value {
    b.client
        .execute(
            "const e = document.activeElement;
             const style = getComputedStyle(e);
             return {
               text: (e.textContent || '').trim() || e.id,
               id: e.id,
               row: e.closest('tr')?.dataset.domain ?? null,
               inDialog: !!e.closest('dialog[open]'),
               drawn: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
               left: e.getBoundingClientRect().left,
             };",
            vec![],
        )
        .await
        .unwrap()
}

/// Presses Tab until `want` holds for the focused element (at most 12 times); every element
/// the focus passes shows it.
async fn tab_to(b: &Browser, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..12 {
        b.press(&[Key::Tab]).await;
        let now = focused(b).await;
        assert_eq!(now["drawn"], true, "the focus is not drawn on {now}");
        if want(&now) {
            return now;
        }
    }
    panic!("Tab never reached it; the focus is on {}", focused(b).await);
}

#[tokio::test]
async fn the_vhosts_page_works_from_the_keyboard() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    for domain in ["a.example.com", "b.example.com"] {
        app.create_vhost(json!({"domain": domain, "config": "respond \"ok\" 200"}))
            .await;
    }
    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.wait_text("#vhosts-table tbody", "b.example.com").await;

    // The first Tab shows the skip link; it leads past the navigation to the page's own controls.
    b.press(&[Key::Tab]).await;
    let skip = focused(&b).await;
    assert_eq!(skip["text"], "Skip to content", "{skip}");
    assert!(skip["left"].as_f64().unwrap() >= 0.0, "shown: {skip}");
    b.press(&[Key::Enter]).await;
    let first = tab_to(&b, |_| true).await;
    assert_eq!(first["id"], "new-vhost", "{first}");

    // Space switches a vhost off; the focus stays on its switch.
    let is_toggle =
        |f: &Value| f["row"] == "a.example.com" && f["text"] == "● Enabled a.example.com";
    tab_to(&b, is_toggle).await;
    b.press(&[Key::Space]).await;
    b.wait_text("tr[data-domain='a.example.com'] button.toggle", "Disabled")
        .await;
    let after = focused(&b).await;
    assert_eq!(
        (after["row"].as_str(), after["text"].as_str()),
        (Some("a.example.com"), Some("○ Disabled a.example.com"))
    );

    // The editor opens on Enter with the focus in it, and gives the focus back on Cancel.
    tab_to(&b, |f| f["text"] == "Edit").await;
    b.press(&[Key::Enter]).await;
    assert_eq!(focused(&b).await["id"], "vh-domain");
    tab_to(&b, |f| f["id"] == "vhost-cancel").await;
    b.press(&[Key::Enter]).await;
    let back = focused(&b).await;
    assert_eq!(
        (back["row"].as_str(), back["text"].as_str()),
        (Some("a.example.com"), Some("Edit"))
    );

    // The confirmation dialog takes the focus; Escape closes it and gives the focus back.
    tab_to(&b, |f| f["text"] == "Delete").await;
    b.press(&[Key::Enter]).await;
    assert_eq!(focused(&b).await["inDialog"], true);
    b.press(&[Key::Escape]).await;
    let back = focused(&b).await;
    assert_eq!(
        (back["row"].as_str(), back["text"].as_str()),
        (Some("a.example.com"), Some("Delete"))
    );
    // Confirmed, the row goes and the focus moves to the row now in its place.
    b.press(&[Key::Enter]).await;
    assert_eq!(focused(&b).await["id"], "confirm-yes");
    b.press(&[Key::Enter]).await;
    // (The proxy applies the deletion first: up to 15 s on a busy machine.)
    let mut now = focused(&b).await;
    for _ in 0..150 {
        if now["row"] == "b.example.com" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = focused(&b).await;
    }
    assert_eq!(
        (now["row"].as_str(), now["text"].as_str()),
        (Some("b.example.com"), Some("Delete"))
    );
    b.close().await;
}
