//! The dashboard, driven in a real headless Chromium against proxyhub and a real Caddy.

#[path = "../support/mod.rs"]
mod support;

mod accessibility;
mod keyboard;
mod vhost_form;

use std::{io::Write as _, path::PathBuf};

use fantoccini::Locator;
use serde_json::{json, Value};
use support::{browser::Browser, CaddyProcess, TestApp, Upstream};

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/screenshots")
        .join(name)
}

/// A request sent as raw bytes, so the path reaches the proxy (and its log) unencoded.
async fn raw_get(port: u16, host: &str, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

async fn sign_in(b: &Browser, app: &TestApp, email: &str, password: &str) {
    b.goto(&app.url("/sign-in")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#sign-in-form button[type=submit]").await;
    b.wait_path("/vhosts").await;
}

#[tokio::test]
async fn first_run_then_a_vhost_from_creation_to_deletion() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    let up = Upstream::start("web-upstream").await;
    let b = Browser::start().await;

    // First run: / leads to the admin account form.
    b.goto(&app.url("/")).await;
    b.wait_path("/setup").await;
    b.fill("#name", "Ada Admin").await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#password", "correct horse").await;
    b.click("#setup-form button[type=submit]").await;
    b.wait_path("/vhosts").await;
    b.wait_text("header .me", "Ada Admin").await;

    // Create a vhost in the form and see Caddy serve it.
    b.click("#new-vhost").await;
    b.fill("#vh-domain", "shop.example.com").await;
    b.fill("#vh-upstreams", &up.hostport()).await;
    b.click("#vhost-save").await;
    b.wait_text("#vhosts-table tbody", "shop.example.com").await;
    let (status, body) = app.through_proxy("shop.example.com", "/cart").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "web-upstream /cart host=shop.example.com")
    );

    // A snippet Caddy rejects: its message is shown beside the editor, and the text stays.
    b.click("#new-vhost").await;
    b.fill("#vh-domain", "typo.example.com").await;
    b.click("#vh-sec-advanced summary").await;
    b.fill("#vh-config", "reverse_prox 127.0.0.1:1").await;
    b.click("#vhost-save").await;
    let shown = b.wait_text("#vhost-error", "unrecognized directive").await;
    assert!(shown.contains("reverse_prox"), "{shown}");
    let kept = b
        .find("#vh-config")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        kept, "reverse_prox 127.0.0.1:1",
        "what was typed is not lost"
    );
    assert_eq!(
        b.find("#vh-domain")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("typo.example.com")
    );
    b.click("#vhost-cancel").await;

    // Edit: a new upstream, recorded as a diff in the changelog.
    let other = Upstream::start("v2").await;
    b.click("tr[data-domain='shop.example.com'] button.secondary")
        .await;
    b.fill("#vh-upstreams", &other.hostport()).await;
    b.click("#vhost-save").await;
    b.wait_text("#vhosts-table tbody", &other.hostport()).await;
    assert!(app
        .through_proxy("shop.example.com", "/")
        .await
        .1
        .starts_with("v2"));
    b.screenshot(&screenshot_path("vhosts.png")).await;
    // Phone width: everything still reachable, the table scrolls inside its own box.
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto(&app.url("/vhosts")).await;
    b.wait_text("#vhosts-table tbody", "shop.example.com").await;
    let page_width: Value = b
        .client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        page_width.as_i64().unwrap() <= 390,
        "the page itself does not scroll sideways: {page_width}"
    );
    b.screenshot(&screenshot_path("vhosts-phone.png")).await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // Toggle in one click.
    b.click("tr[data-domain='shop.example.com'] button.toggle")
        .await;
    b.wait_text(
        "tr[data-domain='shop.example.com'] button.toggle",
        "Disabled",
    )
    .await;
    assert!(!app
        .through_proxy("shop.example.com", "/")
        .await
        .1
        .starts_with("v2"));
    b.click("tr[data-domain='shop.example.com'] button.toggle")
        .await;
    b.wait_text(
        "tr[data-domain='shop.example.com'] button.toggle",
        "Enabled",
    )
    .await;

    // The changelog shows who changed what, with old vs new.
    b.goto(&app.url("/changelog?domain=shop.example.com")).await;
    let entry = b.wait_text("#changelog li.action-update", "upstream").await;
    assert!(
        entry.contains(&up.hostport()) && entry.contains(&other.hostport()),
        "{entry}"
    );
    assert!(entry.contains("Ada Admin"), "{entry}");
    let marked = b
        .find("#changelog li.action-update mark")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(marked, "upstream", "the changed field is highlighted");

    // A long history pages back: 120 more entries, 100 a page.
    let db = app.db().await;
    for i in 0..120 {
        sqlx::query(
            "INSERT INTO changelog (user_id, user_name, action, domain, diff, created_at) \
             VALUES (NULL, 'Old Operator', 'create', $1, NULL, '2025-01-15T10:00:00.000Z')",
        )
        .bind(format!("old-{i:03}.example.com"))
        .execute(&db)
        .await
        .unwrap();
    }
    db.close().await;
    b.goto(&app.url("/changelog")).await;
    b.wait_text("#changelog li:nth-child(100)", "old-020.example.com")
        .await;
    assert!(
        b.find("#older").await.is_displayed().await.unwrap(),
        "a full page offers older changes"
    );
    b.click("#older").await;
    b.wait_text("#changelog li:last-child", "shop.example.com")
        .await;
    let older = b.find("#older").await;
    assert!(
        !older.is_displayed().await.unwrap(),
        "no button once the oldest entry is shown"
    );

    // Delete behind a confirmation.
    b.goto(&app.url("/vhosts")).await;
    b.click("tr[data-domain='shop.example.com'] button.danger")
        .await;
    b.wait_text("#confirm-domain", "shop.example.com").await;
    b.click("#confirm-yes").await;
    b.wait_text("#vhosts-empty", "No vhosts").await;
    assert!(!app
        .through_proxy("shop.example.com", "/")
        .await
        .1
        .starts_with("v2"));

    // Sign out from the page.
    b.click("#sign-out").await;
    b.wait_path("/sign-in").await;
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_everything_and_can_change_nothing() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    app.create_vhost(
        json!({"domain": "ro.example.com", "config": "respond \"<img src=x id=xss>\" 200"}),
    )
    .await;
    let b = Browser::start().await;

    // The admin creates a viewer account on the users page.
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.goto(&app.url("/users")).await;
    b.fill("#u-name", "Vera Viewer").await;
    b.fill("#u-email", "vera@example.com").await;
    b.fill("#u-password", "viewer password").await;
    b.click("#user-form button[type=submit]").await;
    b.wait_text("#users-table", "vera@example.com").await;

    // Deleting an account asks first; Cancel keeps it.
    b.fill("#u-name", "Tom Temp").await;
    b.fill("#u-email", "tom@example.com").await;
    b.fill("#u-password", "temporary password").await;
    b.click("#user-form button[type=submit]").await;
    b.wait_text("#users-table", "tom@example.com").await;
    let delete_tom = "tr[data-email='tom@example.com'] button.danger";
    b.click(delete_tom).await;
    b.wait_text("#confirm-email", "tom@example.com").await;
    b.click("#confirm-delete-user button[value=cancel]").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let users: Value = app.get("/api/users").await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 3, "Cancel deletes nothing");
    b.click(delete_tom).await;
    b.click("#confirm-user-yes").await;
    let mut gone = false;
    for _ in 0..150 {
        let table = b.find("#users-table").await.text().await.unwrap();
        if !table.contains("tom@example.com") {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the account is deleted once confirmed");
    let users: Value = app.get("/api/users").await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    b.click("#sign-out").await;
    b.wait_path("/sign-in").await;

    sign_in(&b, &app, "vera@example.com", "viewer password").await;
    b.wait_text("#vhosts-table tbody", "ro.example.com").await;
    assert!(
        b.client.find(Locator::Css("#new-vhost")).await.is_err(),
        "no create button for viewers"
    );
    let toggle = b
        .find("tr[data-domain='ro.example.com'] button.toggle")
        .await;
    assert!(
        !toggle.is_enabled().await.unwrap(),
        "the toggle is disabled for viewers"
    );
    assert!(b
        .client
        .find(Locator::Css(
            "tr[data-domain='ro.example.com'] button.danger"
        ))
        .await
        .is_err());
    assert!(
        b.client.find(Locator::Css("#xss")).await.is_err(),
        "user text is never parsed as HTML"
    );

    // And the API refuses anyway, with the viewer's own session from the page.
    let refused: Value = b
        .client
        .execute_async(
            "const done = arguments[0]; fetch('/api/vhosts', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({domain: 'x.example.com', config: 'respond ok'})}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused, json!(403));
    b.goto(&app.url("/users")).await;
    b.wait_text("main h1", "Not allowed").await;
    b.close().await;
}

#[tokio::test]
async fn an_expired_session_goes_to_sign_in_and_back_where_the_user_was() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let b = Browser::start().await;
    b.goto(&app.url("/changelog?domain=a.example.com")).await;
    b.wait_path("/sign-in?next=/changelog%3Fdomain%3Da.example.com")
        .await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#password", "correct horse").await;
    b.click("#sign-in-form button[type=submit]").await;
    b.wait_path("/changelog?domain=a.example.com").await;
    assert_eq!(
        b.find("#c-domain")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("a.example.com")
    );
    b.close().await;
}

#[tokio::test]
async fn pages_forbid_inline_scripts_and_label_every_control() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    for page in [
        "/vhosts",
        "/logs",
        "/traffic",
        "/changelog",
        "/users",
        "/tokens",
        "/account",
        "/sign-in",
    ] {
        let r = app.get(page).await;
        let csp = r
            .headers()
            .get("content-security-policy")
            .expect("CSP header")
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{page}: {csp}"
        );
        let html = r.text().await.unwrap();
        assert_eq!(html.matches("<h1").count(), 1, "{page} has one h1");
        assert!(
            !html.contains(" onclick=") && !html.contains(" onload="),
            "{page} has an inline handler"
        );
        for script in html.split("<script").skip(1) {
            assert!(
                script.trim_start().starts_with("src="),
                "{page} has an inline script"
            );
        }
        for input in html
            .split("<input")
            .skip(1)
            .chain(html.split("<select").skip(1))
            .chain(html.split("<textarea").skip(1))
        {
            let id = input
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("{page}: a control without id"));
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{page}: #{id} has no <label>"
            );
        }
    }
}

#[tokio::test]
async fn sign_in_never_redirects_to_another_site() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let b = Browser::start().await;
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%0A%5Cevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example",
    ] {
        b.goto(&app.url(&format!("/sign-in?next={next}"))).await;
        b.fill("#email", "ada@example.com").await;
        b.fill("#password", "correct horse").await;
        b.click("#sign-in-form button[type=submit]").await;
        let mut url = b.client.current_url().await.unwrap();
        for _ in 0..100 {
            if url.path() != "/sign-in" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            url = b.client.current_url().await.unwrap();
        }
        assert_eq!(
            url.host_str(),
            Some("127.0.0.1"),
            "next={next} led to {url}"
        );
        assert_eq!(url.path(), "/vhosts", "next={next} led to {url}");
    }
    b.close().await;
}

#[tokio::test]
async fn requests_show_up_in_the_logs_and_traffic_pages() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("shop").await;
    app.create_vhost(json!({"domain": "shop.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "api.example.com", "config": "respond /boom \"down\" 503\nrespond \"ok\" 200"})).await;
    for i in 0..11 {
        app.through_proxy("shop.example.com", &format!("/item/{i}"))
            .await;
    }
    raw_get(
        app.http_port,
        "shop.example.com",
        "/item/<b/id=xss>boom</b>",
    )
    .await;
    app.through_proxy("api.example.com", "/boom").await;
    app.through_proxy("api.example.com", "/health").await;
    let stored = support::eventually(std::time::Duration::from_secs(15), || async {
        let r: Value = app.get("/api/logs").await.json().await.unwrap();
        r["total"].as_i64() == Some(14)
    })
    .await;
    assert!(stored, "the tailer did not store the 14 requests");
    let errors: Value = app.get("/api/logs?status=5xx").await.json().await.unwrap();
    assert_eq!(
        errors["total"], 1,
        "a status class filters by range: {errors}"
    );
    assert_eq!(errors["logs"][0]["path"], "/boom");

    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.goto(&app.url("/logs")).await;
    b.fill("#f-domain", "api.example.com").await;
    b.fill("#f-status", "5xx").await;
    b.click("#log-filters button[type=submit]").await;
    b.wait_path("/logs?domain=api.example.com&status=5xx").await;
    let table = b.wait_text("#logs-table tbody", "/boom").await;
    assert!(
        !table.contains("/health") && !table.contains("shop.example.com"),
        "{table}"
    );
    let badge = b.find("#logs-table tbody .badge").await;
    assert_eq!(badge.text().await.unwrap(), "503");
    assert_eq!(
        badge.attr("class").await.unwrap().as_deref(),
        Some("badge s5xx")
    );

    // A shared URL shows the same view; user-supplied text stays text.
    b.goto(&app.url("/logs?domain=shop.example.com")).await;
    b.wait_text("#logs-summary", "12 requests").await;
    b.wait_text("#logs-table tbody", "/item/<b/id=xss>boom</b>")
        .await;
    assert!(
        b.client.find(Locator::Css("#xss")).await.is_err(),
        "a logged path is never parsed as HTML"
    );

    // A request shipped from another node: its node in the table, and a filter for it.
    let shipped = r#"{"level":"info","ts":TS,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"10.0.0.9","proto":"HTTP/1.1","method":"GET","host":"edge.example.com","uri":"/from-edge","headers":{}},"duration":0.001,"size":1,"status":200}"#
        .replace("TS", &format!("{}.5", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()));
    let r = app
        .post(
            "/api/logs/ship",
            json!({"node": "edge-1", "fingerprint": "cd".repeat(32), "path": "/var/log/caddy/access.log",
                   "from": 0, "to": shipped.len() + 1, "lines": [shipped]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    b.goto(&app.url("/logs")).await;
    b.fill("#f-node", "edge-1").await;
    b.click("#log-filters button[type=submit]").await;
    b.wait_path("/logs?node=edge-1").await;
    b.wait_text("#logs-summary", "1 requests").await;
    let table = b.wait_text("#logs-table tbody", "/from-edge").await;
    assert!(
        table.contains("edge-1") && !table.contains("/item/0"),
        "{table}"
    );
    b.goto(&app.url("/logs?domain=shop.example.com")).await;
    let table = b.wait_text("#logs-table tbody", "/item/0").await;
    assert!(
        table.contains("this hub") && !table.contains("edge-1"),
        "local requests have no node: {table}"
    );
    assert_eq!(
        b.find("#f-domain")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("shop.example.com")
    );
    b.screenshot(&screenshot_path("logs.png")).await;

    b.goto(&app.url("/traffic")).await;
    b.wait_text("#legend", "5xx: 1").await;
    b.wait_text("#top-domains", "shop.example.com").await;
    let bars = b
        .client
        .find_all(Locator::Css("#chart svg rect"))
        .await
        .unwrap();
    assert!(!bars.is_empty(), "the chart has bars");
    b.wait_text("#top-paths", "/item/0").await;

    // On a busy log, the page says how far back a method filter searched.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7_200;
    let mut lines = String::new();
    for i in 0..10_100 {
        lines += &format!(
            r#"{{"level":"info","ts":{}.{:03},"logger":"http.log.access","msg":"handled request","request":{{"remote_ip":"10.0.0.1","client_ip":"10.0.0.1","proto":"HTTP/1.1","method":"GET","host":"busy.example.com","uri":"/b/{i}","headers":{{}}}},"duration":0.001,"size":1,"status":200}}"#,
            start + i / 10,
            (i % 10) * 100
        );
        lines.push('\n');
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&app.access_log)
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let all = support::eventually(std::time::Duration::from_secs(15), || async {
        let r: Value = app.get("/api/logs").await.json().await.unwrap();
        // And the one shipped from edge-1.
        r["total"].as_i64() == Some(10_115)
    })
    .await;
    assert!(all, "the tailer did not store the busy log");
    b.goto(&app.url("/logs?method=GET")).await;
    let summary = b.wait_text("#logs-summary", "10000+ requests").await;
    assert!(
        summary.contains("searched requests since") && summary.contains("From/To"),
        "{summary}"
    );
    b.close().await;
}

#[tokio::test]
async fn a_token_is_created_shown_once_used_and_revoked_in_the_tokens_page() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.click("nav a[href='/tokens']").await;
    b.wait_path("/tokens").await;

    b.fill("#t-name", "deploy bot").await;
    b.click("input[value='read:vhosts']").await;
    b.click("input[value='write:vhosts']").await;
    b.click("#token-form button[type=submit]").await;
    b.wait_text("#tokens-table tbody", "deploy bot").await;
    let secret = b
        .find("#secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        secret.starts_with("phk_") && secret.len() == 68,
        "{secret:?}"
    );
    let row = b.wait_text("#tokens-table tbody", "write:vhosts").await;
    assert!(
        !row.contains(&secret[4..]),
        "the list never shows the secret"
    );
    b.click("#copy-secret").await;
    // "Copied." where the clipboard may be written, else the secret is selected for Ctrl+C.
    b.wait_text("#copy-status", "C").await;
    b.screenshot(&screenshot_path("tokens.png")).await;

    // The secret works as a script would use it.
    let script = reqwest::Client::new();
    let r = script
        .get(app.url("/api/vhosts"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Revoked in the page (after confirming): refused at once.
    b.click("tr[data-name='deploy bot'] button.danger").await;
    b.click("#confirm-revoke-yes").await;
    for _ in 0..50 {
        let html = b
            .find("#tokens-table tbody")
            .await
            .html(true)
            .await
            .unwrap();
        if !html.contains("deploy bot") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = script
        .get(app.url("/api/vhosts"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    b.close().await;
}

#[tokio::test]
async fn a_mistaken_delete_is_undone_from_the_changelog_in_one_click() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("undo-upstream").await;
    let v = app
        .create_vhost(json!({"domain": "undo.example.com", "upstream": up.hostport()}))
        .await;
    assert_eq!(
        app.delete(&format!("/api/vhosts/{}", v["id"]))
            .await
            .status(),
        200
    );
    let log: Value = app
        .get("/api/changelog?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let id = log[0]["id"].as_i64().unwrap();

    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.goto(&app.url("/changelog")).await;
    b.click(&format!("li[data-id='{id}'] button.revert")).await;
    b.wait_text("#confirm-revert-what", "Bring undo.example.com back")
        .await;
    b.click("#confirm-revert-yes").await;
    b.wait_text("#changelog", &format!("reverting change {id}"))
        .await;
    let (code, text) = support::served(&app, "undo.example.com", "/", |c, _| c == 200).await;
    assert!(
        code == 200 && text.starts_with("undo-upstream "),
        "{code} {text}"
    );
    b.close().await;
}

#[tokio::test]
async fn your_account_page_signs_out_another_browser_and_changes_the_password() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.click("header a.me").await;
    b.wait_path("/account").await;
    // Two sessions: this browser and the API client's.
    let text = b.wait_text("#sessions-table tbody", "(this browser)").await;
    assert_eq!(
        b.client
            .find_all(Locator::Css("#sessions-table tbody tr"))
            .await
            .unwrap()
            .len(),
        2,
        "{text}"
    );
    b.click("#revoke-others").await;
    for _ in 0..50 {
        let rows = b
            .client
            .find_all(Locator::Css("#sessions-table tbody tr"))
            .await
            .unwrap()
            .len();
        if rows == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let s: Value = app.get("/api/auth/get-session").await.json().await.unwrap();
    assert!(s.is_null(), "the other session ended: {s}");

    b.fill("#p-current", "correct horse").await;
    b.fill("#p-new", "a brand new password").await;
    b.click("#password-form button[type=submit]").await;
    b.wait_text("#password-done", "Password changed").await;
    let r = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ada@example.com", "password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the new password signs in");
    b.close().await;
}

#[tokio::test]
async fn two_factor_is_set_up_in_the_account_page_and_asked_at_sign_in() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;
    b.goto(&app.url("/account")).await;
    b.wait_text("#tfa-state", "Two-factor is off").await;
    b.fill("#tfa-password", "correct horse").await;
    b.click("#tfa-enable-form button[type=submit]").await;
    b.wait_text("#tfa-backup", "-").await;
    let qr = b
        .find("#tfa-qr")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    let shown = b
        .client
        .execute(
            "return document.getElementById('tfa-qr').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(shown.as_u64().unwrap_or(0) > 0, "the QR code is drawn");
    let uri = b
        .find("#tfa-uri")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    let totp = totp_rs::TOTP::from_url_unchecked(&uri).expect("an otpauth URI");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    b.fill("#tfa-code", &totp.generate(now)).await;
    b.click("#tfa-verify-form button[type=submit]").await;
    b.wait_text("#tfa-state", "Two-factor is on").await;

    // Signed out and in again: the code is asked for.
    b.click("#sign-out").await;
    b.wait_path("/sign-in").await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#password", "correct horse").await;
    b.click("#sign-in-form button[type=submit]").await;
    b.find("#code-form:not([hidden])").await;
    b.fill("#code", &totp.generate(now + 30)).await;
    b.click("#code-form button[type=submit]").await;
    b.wait_path("/vhosts").await;
    b.close().await;
}

/// Signs in at the provider's own page (oidc-provider's development form: any password).
async fn at_provider(b: &Browser, login: &str) {
    b.fill("input[name=login]", login).await;
    b.fill("input[name=password]", "any password").await;
    b.click("button[type=submit]").await;
}

#[tokio::test]
async fn single_sign_on_through_the_providers_page_and_its_two_factor() {
    use support::oidc::{config_for_port, Mode, OidcProvider};
    let port = support::free_port();
    let app = TestApp::spawn_without_proxy_with(support::Options {
        oidc: config_for_port(port),
        ..support::Options::default()
    })
    .await;
    app.sign_up_admin().await;
    let _provider = OidcProvider::start(port, &app.url(""), Mode::Honest).await;

    // A new account: from the sign-in page to the provider and back where the user was going.
    let b = Browser::start().await;
    b.goto(&app.url("/logs")).await;
    b.wait_path("/sign-in?next=/logs").await;
    b.click("#sso-button").await;
    at_provider(&b, "nina").await;
    b.wait_path("/logs").await;
    b.wait_text("header .me", "Test nina").await;
    b.close().await;

    // An account with two-factor: the provider's word first, then its code.
    let enabled: Value = app
        .post(
            "/api/auth/two-factor/enable",
            json!({"password": "correct horse"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let totp = totp_rs::TOTP::from_url_unchecked(enabled["totpURI"].as_str().unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let r = app
        .post(
            "/api/auth/two-factor/verify-totp",
            json!({"code": totp.generate(now)}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b = Browser::start().await;
    b.goto(&app.url("/sign-in")).await;
    b.click("#sso-button").await;
    at_provider(&b, "ada@example.com").await;
    b.find("#code-form:not([hidden])").await;
    b.fill("#code", &totp.generate(now + 30)).await;
    b.click("#trust-device").await;
    b.click("#code-form button[type=submit]").await;
    b.wait_path("/vhosts").await;
    b.wait_text("header .me", "Ada Admin").await;

    // Trusted: signed out and in again through the provider, no code is asked.
    b.click("#sign-out").await;
    b.wait_path("/sign-in").await;
    b.click("#sso-button").await;
    b.wait_path("/vhosts").await;
    b.wait_text("header .me", "Ada Admin").await;

    // A refusal is explained on the sign-in page.
    b.goto(&app.url("/sign-in?error=email_not_verified")).await;
    b.wait_text("#form-error", "has not verified your email")
        .await;
    b.close().await;
}

#[tokio::test]
async fn requests_and_changes_show_up_live_and_webhooks_are_managed_in_their_page() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    let up = Upstream::start("live-upstream").await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "live.example.com", "upstream": up.hostport()}))
        .await;
    let b = Browser::start().await;
    sign_in(&b, &app, "ada@example.com", "correct horse").await;

    // A change made elsewhere (a script, another admin) appears without a reload.
    b.wait_text("#vhosts-table tbody", "live.example.com").await;
    app.create_vhost(json!({"domain": "elsewhere.example.com", "upstream": up.hostport()}))
        .await;
    b.wait_text("#vhosts-table tbody", "elsewhere.example.com")
        .await;

    // The logs page, live: a request through Caddy appears at the top as it happens.
    b.goto(&app.url("/logs?domain=live.example.com")).await;
    b.click("#live").await;
    b.wait_text("#live-state", "following").await;
    let (status, _) = app.through_proxy("live.example.com", "/seen-live").await;
    assert_eq!(status, 200);
    let first = b
        .wait_text("#logs-table tbody tr:first-child", "/seen-live")
        .await;
    assert!(first.contains("live.example.com"), "{first}");
    let (status, _) = app
        .through_proxy("elsewhere.example.com", "/not-this-domain")
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let table = b.find("#logs-table tbody").await.text().await.unwrap();
    assert!(
        !table.contains("/not-this-domain"),
        "the filter holds live too: {table}"
    );

    // Webhooks: add one (its secret shown once), ping it, see the delivery, delete it.
    b.goto(&app.url("/webhooks")).await;
    let url = format!("http://{}/hook", up.hostport());
    b.fill("#h-url", &url).await;
    b.click("#hook-form button[type=submit]").await;
    b.wait_text("#hooks-table tbody", &url).await;
    let secret = b
        .find("#secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    b.click("#hooks-table tbody button.secondary").await;
    b.wait_text("#hook-status", "Ping delivered").await;
    b.click("#hooks-table tbody button.secondary:nth-of-type(2)")
        .await;
    b.wait_text("#deliveries-table tbody", "ping").await;
    b.click("#deliveries button[value=cancel]").await;
    b.click("#hooks-table tbody button.danger").await;
    b.click("#confirm-delete-yes").await;
    b.wait_text("#no-hooks", "No webhooks").await;
    b.close().await;
}
