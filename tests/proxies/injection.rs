//! The injection cases other proxy managers got wrong, in the fields every proxy renders: a
//! domain or an upstream carrying newlines, braces, semicolons, spaces, shell syntax or control
//! characters is refused (400) before the proxy is touched, with nothing stored, nothing
//! logged, and the proxy's config and traffic as they were. Attacks through a snippet are each
//! proxy's own: `tests/core/escapes.rs` and `vhosts.rs` for Caddy, `tests/nginx/injection.rs`.

use serde_json::json;

use crate::support::{
    backend::{Backend, Kind},
    expect_error, Upstream,
};

for_each_proxy!(injection_attempts_are_refused_and_leave_the_proxy_alone);

/// Domains that would close a site block and open another (in Caddy's or nginx's syntax),
/// run a shell, or carry a control character.
const DOMAINS: &[&str] = &[
    "a.example.com\nevil.example.com {",
    "a.example.com\nserver { listen 2020; }",
    "a.example.com { respond pwned }",
    "a.example.com; include /etc/passwd",
    "a.example.com{",
    "a.example.com}",
    "a example.com",
    "a.example.com\r",
    "a.example.com\r\nevil.example.com",
    "a.example.com\tevil.example.com",
    "a.example.com\u{0}",
    "a.example.com\u{1b}[2J",
    "a.example.com\u{85}evil.example.com",
    "a.example.com\u{2028}evil.example.com",
    "$(touch /tmp/pwned).example.com",
    "$(touch /tmp/pwned-nginx).example.com",
    "`touch /tmp/pwned-nginx`.example.com",
];

/// Upstreams that would end the proxy directive and add others (in Caddy's or nginx's
/// syntax), run a shell, or carry a control character.
const UPSTREAMS: &[&str] = &[
    "http://[::1]\nrespond \"home={$HOME}\" 200",
    "http://[::1]\nimport /etc/passwd",
    "127.0.0.1:1\n}\n:2020 {\n\treverse_proxy 127.0.0.1:1",
    "127.0.0.1:1 {",
    "127.0.0.1:1}",
    "127.0.0.1:1;\n}\nserver {\n\tlisten 2020;",
    "http://[::1];\n}\n}\nserver {\nlisten 28090;\nroot /;\nautoindex on;\nlocation /x {\nproxy_pass http://[::1]",
    "127.0.0.1:1;",
    "127.0.0.1:1 # x",
    "127.0.0.1:1\r\nHost: evil.example.com",
    "127.0.0.1:1\t",
    "127.0.0.1:1\u{0}",
    "127.0.0.1:80\u{85}",
    "127.0.0.1:$(touch /tmp/pwned)",
    "`touch /tmp/pwned`:80",
];

async fn injection_attempts_are_refused_and_leave_the_proxy_alone(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let up = Upstream::start("victim").await;
    let v = app
        .create_vhost(json!({"domain": "victim.example.com", "upstream": up.hostport()}))
        .await;
    let victim = proxy
        .served("victim.example.com", "/x", |s, _| s == 200)
        .await;
    assert_eq!(victim, (200, "victim /x host=victim.example.com".into()));
    let before_running = proxy.running().await;
    let stored = app.stored().await;

    let mut attempts = Vec::new();
    for domain in DOMAINS {
        attempts.push(json!({"domain": domain, "upstream": up.hostport()}));
        attempts.push(json!({"domain": domain, "config": proxy.respond("ok")}));
    }
    for upstream in UPSTREAMS {
        attempts.push(json!({"domain": "a.example.com", "upstream": upstream}));
    }
    for attempt in &attempts {
        let r = app.post("/api/vhosts", attempt.clone()).await;
        let body = expect_error(r, 400, "BAD_REQUEST").await;
        assert!(
            body.get("proxyMessage").is_none(),
            "refused before {kind} is asked: {attempt} → {body}"
        );
    }
    // The same, as edits of the vhost that exists.
    let edits = DOMAINS
        .iter()
        .map(|d| json!({"domain": d}))
        .chain(UPSTREAMS.iter().map(|u| json!({"upstream": u})));
    for edit in edits {
        let r = app.put(&format!("/api/vhosts/{}", v["id"]), edit).await;
        expect_error(r, 400, "BAD_REQUEST").await;
    }

    assert_eq!(
        proxy.running().await,
        before_running,
        "{kind}'s config is untouched"
    );
    app.assert_unchanged(&stored).await;
    assert_eq!(
        proxy.through_proxy("victim.example.com", "/x").await,
        victim,
        "the victim keeps its traffic"
    );
    for host in ["evil.example.com", "a.example.com"] {
        let (status, body) = proxy.through_proxy(host, "/").await;
        assert!(
            proxy.is_unserved(status, &body),
            "{host} is served: {status} {body}"
        );
    }
    for file in ["/tmp/pwned", "/tmp/pwned-nginx"] {
        assert!(!std::path::Path::new(file).exists(), "{file} was created");
    }
}
