use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{expect_error, CaddyProcess, TestApp, Upstream};

#[tokio::test]
async fn snippets_are_served_and_vhosts_listed_by_domain() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let api = Upstream::start("api").await;
    app.create_vhost(json!({"domain": "zeta.example.com", "config": "respond \"zeta here\" 200"}))
        .await;
    let snippet = format!(
        "handle /api/* {{\n\treverse_proxy {}\n}}\nhandle {{\n\trespond \"static\" 200\n}}",
        api.hostport()
    );
    app.create_vhost(json!({"domain": "alpha.example.com", "config": snippet}))
        .await;

    assert_eq!(
        app.through_proxy("zeta.example.com", "/").await,
        (200, "zeta here".to_string())
    );
    assert_eq!(
        app.through_proxy("alpha.example.com", "/api/x").await.1,
        "api /api/x host=alpha.example.com"
    );
    assert_eq!(
        app.through_proxy("alpha.example.com", "/other").await.1,
        "static"
    );

    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    let domains: Vec<&str> = list.iter().map(|v| v["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["alpha.example.com", "zeta.example.com"]);
}

#[tokio::test]
async fn invalid_requests_get_clear_client_errors() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let v = app
        .create_vhost(json!({"domain": "taken.example.com", "config": "respond ok"}))
        .await;
    let other = app
        .create_vhost(json!({"domain": "other.example.com", "config": "respond ok"}))
        .await;

    let refused_creations = [
        (
            json!({"domain": "TAKEN.example.com", "config": "respond ok"}),
            409,
            "CONFLICT",
        ),
        (json!({"config": "respond ok"}), 400, "BAD_REQUEST"),
        (
            json!({"domain": "no-target.example.com"}),
            400,
            "BAD_REQUEST",
        ),
        (
            json!({"domain": "x.example.com", "upstream": "", "config": "  "}),
            400,
            "BAD_REQUEST",
        ),
        (
            json!({"domain": "bad domain.com", "config": "respond ok"}),
            400,
            "BAD_REQUEST",
        ),
        (
            json!({"domain": "x.example.com", "upstream": "127.0.0.1"}),
            400,
            "BAD_REQUEST",
        ),
        (
            json!({"domain": 42, "config": "respond ok"}),
            400,
            "BAD_REQUEST",
        ),
        (
            json!({"domain": "x.example.com", "config": "respond ok", "owner": "me"}),
            400,
            "BAD_REQUEST",
        ),
    ];
    for (body, status, code) in refused_creations {
        expect_error(app.post("/api/vhosts", body).await, status, code).await;
    }
    let taken = json!({"domain": "taken.example.com"});
    expect_error(
        app.put(&format!("/api/vhosts/{}", other["id"]), taken)
            .await,
        409,
        "CONFLICT",
    )
    .await;
    let nothing_left = json!({"config": null, "upstream": null});
    expect_error(
        app.put(&format!("/api/vhosts/{}", v["id"]), nothing_left)
            .await,
        400,
        "BAD_REQUEST",
    )
    .await;
    expect_error(
        app.put("/api/vhosts/999", json!({"upstream": "127.0.0.1:1"}))
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    expect_error(app.patch("/api/vhosts/999/toggle").await, 404, "NOT_FOUND").await;
    expect_error(app.delete("/api/vhosts/abc").await, 400, "BAD_REQUEST").await;
    expect_error(app.get("/api/nope").await, 404, "NOT_FOUND").await;
    let form = app
        .client
        .post(app.url("/api/vhosts"))
        .header("content-type", "text/plain")
        .body("domain=x");
    expect_error(form.send().await.unwrap(), 400, "BAD_REQUEST").await;

    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(list.len(), 2, "nothing was half-applied: {list:?}");
}

/// The injection cases other proxy managers got wrong, through Caddy's own snippet syntax and
/// its admin port: each is refused before Caddy is touched, and Caddy's config stays exactly as
/// it was. Domains and upstreams carrying newlines, braces or shell syntax are refused for
/// every proxy: `tests/proxies/injection.rs`.
#[tokio::test]
async fn snippet_and_admin_port_injection_attempts_are_refused_and_leave_caddy_alone() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let v = app
        .create_vhost(json!({"domain": "victim.example.com", "config": "respond ok"}))
        .await;
    let before = caddy.running_config().await;
    let admin = format!("127.0.0.1:{}", caddy.admin_port);
    let admin_port = caddy.admin_port;
    let attempts = [
        json!({"domain": "a.example.com", "config": format!("reverse_proxy {{\n\tdynamic a localhost {admin_port}\n\theader_up Host {{http.request.header.X-H}}\n}}")}),
        json!({"domain": "a.example.com", "config": format!("reverse_proxy localhost:0{admin_port}")}),
        json!({"domain": "a.example.com", "upstream": format!("localhost:00{admin_port}")}),
        json!({"domain": "a.example.com", "config": "respond \"\\\\\" 200\nimport /etc/passwd\n#\""}),
        json!({"domain": "a.example.com", "config": "respond ok\n}\nevil.example.com {\n\trespond pwned"}),
        json!({"domain": "a.example.com", "config": format!("respond ok\n}}\n:2020 {{\n\treverse_proxy {admin}\n}}\nb.example.com {{")}),
        json!({"domain": "a.example.com", "config": format!("reverse_proxy {admin} {{\n\theader_up Host localhost\n}}")}),
        json!({"domain": "a.example.com", "upstream": admin}),
        json!({"domain": "a.example.com", "config": "import /etc/passwd"}),
        json!({"domain": "a.example.com", "config": "root * /\nfile_server"}),
        json!({"domain": "a.example.com", "config": "respond {$HOME}"}),
        json!({"domain": "a.example.com", "config": "respond {env.HOME}"}),
        json!({"domain": "a.example.com", "config": "respond \"}\"\n}\nevil.example.com {"}),
        json!({"domain": "a.example.com", "config": "handle {\n\trespond ok"}),
    ];
    for attempt in attempts {
        let r = app.post("/api/vhosts", attempt.clone()).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{attempt} → {body}");
        assert_eq!(body["error"], "BAD_REQUEST");
    }
    let r = app
        .put(
            &format!("/api/vhosts/{}", v["id"]),
            json!({"config": "respond ok\n}\nevil.example.com {\n\trespond pwned"}),
        )
        .await;
    expect_error(r, 400, "BAD_REQUEST").await;

    assert_eq!(
        caddy.running_config().await,
        before,
        "Caddy's config is untouched"
    );
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["config"], "respond ok");
    let log: Vec<Value> = app.get("/api/changelog").await.json().await.unwrap();
    assert_eq!(
        log.len(),
        1,
        "only the victim's creation is logged: {log:?}"
    );
}

/// Many changes at once: those that arrive while the proxy takes one are pushed together,
/// and a change the proxy refuses among them is answered alone, with the proxy's message,
/// while the others are served.
#[tokio::test]
async fn concurrent_changes_are_pushed_together_and_answered_each_on_its_own() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let n = 40;
    let mut calls = Vec::new();
    for i in 0..n {
        let (client, url) = (app.client.clone(), app.url("/api/vhosts"));
        let body = match i {
            // Adapts fine; Caddy refuses it only when it loads (the regexp does not compile).
            17 => {
                json!({"domain": "regexp.example.com", "config": "@r path_regexp \"[\"\nrespond @r 200"})
            }
            _ => {
                json!({"domain": format!("s{i}.example.com"), "config": format!("respond \"site {i}\" 200")})
            }
        };
        calls.push(tokio::spawn(async move {
            client.post(url).json(&body).send().await.unwrap()
        }));
    }
    let mut created = 0;
    for (i, call) in calls.into_iter().enumerate() {
        let r = call.await.unwrap();
        if i == 17 {
            let body = expect_error(r, 502, "PROXY_REJECTED").await;
            assert!(
                body["proxyMessage"]
                    .as_str()
                    .unwrap()
                    .contains("error parsing regexp"),
                "{body}"
            );
        } else {
            assert_eq!(r.status(), StatusCode::CREATED, "{i}");
            created += 1;
        }
    }
    for i in (0..n).filter(|&i| i != 17) {
        assert_eq!(
            app.through_proxy(&format!("s{i}.example.com"), "/").await,
            (200, format!("site {i}"))
        );
    }
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(list.len(), created);
    let log: Vec<Value> = app.get("/api/changelog").await.json().await.unwrap();
    assert_eq!(log.len(), created, "one entry per change that took effect");
    let status: Value = app.get("/api/status").await.json().await.unwrap();
    let pushes = status["pushes"].as_u64().unwrap();
    assert!(
        pushes * 2 < created as u64,
        "{created} changes in {pushes} pushes: changes waiting were pushed together"
    );
}

/// A change that leaves the proxy's config as it is (a disabled vhost created or edited) is
/// stored and logged without a push; the next change that matters pushes again.
#[tokio::test]
async fn a_config_the_proxy_already_runs_is_not_pushed_again() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "on.example.com", "config": "respond \"on\" 200"}))
        .await;
    async fn pushes(app: &TestApp) -> u64 {
        let s: Value = app.get("/api/status").await.json().await.unwrap();
        s["pushes"].as_u64().unwrap()
    }
    let before = pushes(&app).await;
    let off = app
        .create_vhost(
            json!({"domain": "off.example.com", "config": "respond \"off\" 200", "enabled": false}),
        )
        .await;
    let r = app
        .put(
            &format!("/api/vhosts/{}", off["id"]),
            json!({"config": "respond \"still off\" 200"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(pushes(&app).await, before, "nothing Caddy runs changed");
    let log: Vec<Value> = app.get("/api/changelog").await.json().await.unwrap();
    assert_eq!(log.len(), 3, "both changes are logged");
    app.patch(&format!("/api/vhosts/{}/toggle", off["id"]))
        .await;
    assert_eq!(pushes(&app).await, before + 1);
    assert_eq!(
        app.through_proxy("off.example.com", "/").await,
        (200, "still off".into())
    );

    // A load Caddy refuses leaves it running what it ran: no drift to repair afterwards.
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "bad.example.com", "config": "@r path_regexp \"[\"\nrespond @r 200"}),
        )
        .await;
    expect_error(r, 502, "PROXY_REJECTED").await;
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await; // three drift checks
    let status: Value = app.get("/api/status").await.json().await.unwrap();
    assert_eq!(status["pushes"], before + 1, "{status}");
    assert_eq!(status["inSync"], true, "{status}");
}
