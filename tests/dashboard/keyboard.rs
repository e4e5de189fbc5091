//! The vhosts page from the keyboard alone: the skip link, the switches, the editor and the
//! confirmation dialog, with the focus drawn and given back where it was.

use std::time::Duration;

use fantoccini::key::Key;
use serde_json::{json, Value};

use super::sign_in;
use crate::support::{browser::Browser, CaddyProcess, TestApp};

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

/// Presses Tab until `want` holds for the focused element (at most 20 times: the editor has
/// a dozen stops with its sections folded); every element the focus passes shows it.
async fn tab_to(b: &Browser, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..20 {
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
    // (The proxy applies the deletion first: up to 30 s on a busy machine.)
    let mut now = focused(&b).await;
    for _ in 0..300 {
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
