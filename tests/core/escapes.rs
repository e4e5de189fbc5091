//! What an editor might try through a snippet, an upstream or a domain to read the host or
//! take over another site, on a real Caddy: each is answered 400 before Caddy reads it, with
//! nothing stored and nothing served, and no answer ever quotes a host file, Caddy's
//! environment or its working directory.

use rand::{rngs::StdRng, Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{caddy::SECRET, expect_error, CaddyProcess, TestApp, Upstream};

/// What a leak would look like: the first line of /etc/passwd, Caddy's secret environment
/// variable, Caddy's working directory (the tests' own).
fn assert_no_leak(what: &str, text: &str) {
    for leak in ["root:x:0:0", SECRET, env!("CARGO_MANIFEST_DIR")] {
        assert!(!text.contains(leak), "{what} leaks {leak:?}: {text}");
    }
}

/// A proxyhub with one vhost another editor might want to take over.
async fn with_victim(caddy: &CaddyProcess) -> (TestApp, Upstream, Value) {
    let app = TestApp::spawn(caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("victim").await;
    let v = app
        .create_vhost(json!({"domain": "victim.example.com", "upstream": up.hostport()}))
        .await;
    (app, up, v)
}

async fn victim_served(app: &TestApp) {
    let (status, body) = app.through_proxy("victim.example.com", "/x").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("victim /x"),
        "the victim's traffic went elsewhere: {body}"
    );
}

/// Caddy answers a host no route matches with an empty 200.
async fn assert_not_served(app: &TestApp, domain: &str) {
    let (status, body) = app.through_proxy(domain, "/").await;
    assert_eq!((status, body.as_str()), (200, ""), "{domain} is served");
}

/// Snippets that escape, read the host or reach what a site may not, in the forms the
/// outside tests found and variants of each.
fn escaping_snippets(admin_port: u16) -> Vec<String> {
    let mut s: Vec<String> = [
        // Carriage returns: dropped inside a word by Caddy's lexer.
        "im\rport /etc/passwd",
        "respond ok\nim\rport /etc/passwd",
        "respond \"{env\r.PROXYHUB_TEST_SECRET}\"",
        "respond {system\r.wd}",
        "respond ok\r\n}\r\nvictim.example.com {\r\n\trespond pwned",
        // import however it is written.
        "import /etc/passwd",
        "\"import\" /etc/passwd",
        "`import` /etc/passwd",
        "respond ok\n\u{a0}import /etc/passwd",
        "respond ok\n\u{2003}import\u{2003}/etc/passwd",
        "handle {\n\timport /etc/shadow\n}",
        "respond \"\\\\\" 200\nimport /etc/passwd\n#\"",
        "respond <<EOF\n\tx\n\tEOF\nimport /proc/self/environ",
        "respond <<EOF\n\tx\n\tEOFimport /etc/passwd",
        "respond \"x\"import /etc/passwd",
        "tls {\n\tclient_auth {\n\t\ttrusted_ca_cert_file /etc/passwd\n\t}\n}",
        "tls {\n\tclient_auth {\n\t\ttrusted_leaf_cert_file /etc/passwd\n\t}\n}",
        // Placeholders that read the host, in values and in keys.
        "respond {env.PROXYHUB_TEST_SECRET}",
        "respond \"{env.PROXYHUB_TEST_SECRET}\"",
        "header X-Leak-{env.PROXYHUB_TEST_SECRET} v\nrespond ok",
        "header X-Leak \"{env.PROXYHUB_TEST_SECRET}\"\nrespond ok",
        "respond {$PROXYHUB_TEST_SECRET}",
        "respond \"{$PROXYHUB_TEST_SECRET:x}\"",
        "respond {system.wd}",
        "respond {system.hostname}",
        "respond {file./etc/passwd}",
        "vars {env.PROXYHUB_TEST_SECRET} x\nrespond ok",
        "map {host} {v} {\n\tdefault {env.PROXYHUB_TEST_SECRET}\n}\nrespond {v}",
        "rewrite * /{system.wd}\nrespond {uri}",
        // Telling whether host files exist, serving them, running them.
        "@f file /etc/passwd\nrespond @f \"yes\"",
        "try_files {path} /index.html\nrespond ok",
        "root * /\nfile_server",
        "file_server browse",
        "templates\nrespond \"{{include \\\"/etc/passwd\\\"}}\"",
        "php_fastcgi 127.0.0.1:9000",
        "@e expression {path} == \"/x\"\nrespond @e ok",
        // Writing host files, opening listeners, moving the admin API.
        "log {\n\toutput file /tmp/proxyhub-escape.log\n}\nrespond ok",
        "bind 0.0.0.0\nrespond ok",
        // Leaving the site block, however the closing brace is hidden.
        "respond ok\n}\nvictim.example.com {\n\trespond pwned",
        "respond ok \\# {\n}\nhttp://victim.example.com {\n\trespond pwned",
        "respond \"x\" \\#\"\n}\nvictim.example.com {\n\trespond pwned",
        "respond \"}\"\n}\nvictim.example.com {",
        "respond `}`\n}\nvictim.example.com {",
        "respond ok \\\n}\nvictim.example.com {\n\trespond pwned\n}\nhttp://a.example.com {",
        "handle {\n\trespond ok",
        "respond \"unterminated",
        // Upstreams the request chooses, or the admin API.
        "reverse_proxy {http.request.header.X-Up}",
        "reverse_proxy unix//run/caddy.sock",
        "reverse_proxy {\n\tdynamic a localhost 80\n}",
        "reverse_proxy {\n\tdynamic srv _http._tcp.example.com\n}",
    ]
    .map(String::from)
    .to_vec();
    s.push(format!("reverse_proxy localhost:{admin_port}"));
    s.push(format!("reverse_proxy localhost:0{admin_port}"));
    s.push(format!(
        "reverse_proxy 127.0.0.1:1 {{\n\thealth_port {admin_port}\n\thealth_uri /config/\n}}"
    ));
    s.push(format!(
        "respond ok\n}}\n:2020 {{\n\treverse_proxy 127.0.0.1:{admin_port}\n}}\nhttp://b.example.com {{"
    ));
    s
}

#[tokio::test]
async fn every_escape_is_refused_before_anything_is_stored_or_served() {
    let caddy = CaddyProcess::start().await;
    let (app, _up, victim) = with_victim(&caddy).await;
    let before = caddy.running_config().await;
    let stored = app.stored().await;
    let id = &victim["id"];
    let mut bodies = Vec::new();
    for snippet in escaping_snippets(caddy.admin_port) {
        for enabled in [true, false] {
            bodies.push(
                json!({"domain": "attacker.example.com", "config": snippet, "enabled": enabled}),
            );
        }
    }
    for upstream in [
        "127.0.0.1:1\r",
        "http://[::1]\nimport /etc/passwd",
        "127.0.0.1:1\n}\n:2020 {\n\treverse_proxy 127.0.0.1:1",
        "{env.PROXYHUB_TEST_SECRET}:80",
        &format!("localhost:00{}", caddy.admin_port),
    ] {
        bodies.push(json!({"domain": "attacker.example.com", "upstream": upstream}));
    }
    for domain in [
        "attacker.example.com\r",
        "attacker.example.com\nvictim.example.com {",
        "a\u{85}.example.com",
    ] {
        bodies.push(json!({"domain": domain, "config": "respond ok"}));
    }
    for body in &bodies {
        let r = app.post("/api/vhosts", body.clone()).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {text}");
        assert_no_leak(&body.to_string(), &text);
        let update = json!({"config": body["config"], "upstream": body["upstream"], "domain": body["domain"]});
        let r = app.put(&format!("/api/vhosts/{id}"), update.clone()).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "update {update} → {text}");
        assert_no_leak(&update.to_string(), &text);
    }
    app.assert_unchanged(&stored).await;
    assert_eq!(
        caddy.running_config().await,
        before,
        "Caddy runs what it ran"
    );
    victim_served(&app).await;
    assert_not_served(&app, "attacker.example.com").await;
    let status = app.get("/api/status").await.text().await.unwrap();
    assert_no_leak("/api/status", &status);
    assert!(!std::path::Path::new("/tmp/proxyhub-escape.log").exists());
}

/// A refusal explains itself: what was refused and, for a control character, which one on
/// which line.
#[tokio::test]
async fn refusals_name_the_character_the_line_or_the_rule() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let cases = [
        ("respond ok\nim\rport /etc/passwd", "line 2"),
        ("respond ok\nim\rport /etc/passwd", "U+000D"),
        ("respond ok\n\n\timport /etc/passwd", "line 3"),
        ("header X-Leak-{env.HOME} v", "{env."),
        ("@f file /etc/passwd\nrespond @f yes", "file matcher"),
        ("root * /\nfile_server", "file_server"),
        ("respond ok\n}\nvictim.example.com {", "line 2"),
    ];
    for (snippet, says) in cases {
        let r = app
            .post(
                "/api/vhosts",
                json!({"domain": "x.example.com", "config": snippet}),
            )
            .await;
        let body = expect_error(r, 400, "BAD_REQUEST").await;
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{snippet:?}: {body}"
        );
    }
}

/// A vhost stored before a rule existed (here written straight into the store) is checked
/// again when it is turned on, and never served while it breaks a rule; the others are.
#[tokio::test]
async fn a_stored_vhost_that_breaks_a_rule_is_neither_turned_on_nor_served() {
    let caddy = CaddyProcess::start().await;
    let (app, _up, _) = with_victim(&caddy).await;
    let db = app.db().await;
    let now = "2025-01-01T00:00:00.000Z";
    for (domain, config, enabled) in [
        ("off.example.com", "im\rport /etc/passwd", 0),
        ("on.example.com", "respond {env.PROXYHUB_TEST_SECRET}", 1),
    ] {
        sqlx::query("INSERT INTO vhosts (domain, config, enabled, upstream, created_at, updated_at) VALUES ($1, $2, $3, NULL, $4, $4)")
            .bind(domain)
            .bind(config)
            .bind(enabled)
            .bind(now)
            .execute(&db)
            .await
            .unwrap();
    }
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    let off = list
        .iter()
        .find(|v| v["domain"] == "off.example.com")
        .unwrap();
    let r = app
        .patch(&format!("/api/vhosts/{}/toggle", off["id"]))
        .await;
    let text = r.text().await.unwrap();
    assert_no_leak("toggle", &text);
    assert!(text.contains("BAD_REQUEST"), "{text}");
    // A change pushes the store's sites: the bad enabled one is left out, the rest served.
    app.create_vhost(json!({"domain": "new.example.com", "config": "respond \"new\" 200"}))
        .await;
    assert_eq!(
        app.through_proxy("new.example.com", "/").await,
        (200, "new".into())
    );
    victim_served(&app).await;
    for domain in ["on.example.com", "off.example.com"] {
        assert_not_served(&app, domain).await;
    }
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert_eq!(
        list.iter()
            .find(|v| v["domain"] == "off.example.com")
            .unwrap()["enabled"],
        false
    );
}

/// Heredocs and escaped comments read differently by Caddy 2.6 and 2.7+: whatever the
/// running Caddy makes of them, no other vhost's traffic moves.
#[tokio::test]
async fn takeover_attempts_never_move_another_vhosts_traffic() {
    let caddy = CaddyProcess::start().await;
    let (app, _up, _) = with_victim(&caddy).await;
    let attempts = [
        "respond <<EOF\n}\nvictim.example.com {\n\trespond pwned\nEOF 200",
        "respond <<EOF\n\t}\n\thttp://victim.example.com {\n\t\trespond pwned\n\tEOF 200",
        "respond \\<<EOF\n}\nvictim.example.com {\n\trespond pwned\n}\nhttp://a.example.com {\nEOF",
        "respond ok \\#\n}\nvictim.example.com {\n\trespond pwned\n}\nhttp://a.example.com {",
        "respond `\\`}\n}\nvictim.example.com {\n\trespond pwned",
    ];
    for (i, snippet) in attempts.iter().enumerate() {
        let domain = format!("t{i}.example.com");
        let r = app
            .post("/api/vhosts", json!({"domain": domain, "config": snippet}))
            .await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(matches!(status, 201 | 400), "{snippet:?} → {status} {text}");
        assert_no_leak(snippet, &text);
        victim_served(&app).await;
    }
    let running = caddy.running_config().await;
    let victim_routes = running["apps"]["http"]["servers"]["srv0"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.to_string().contains("\"host\":[\"victim.example.com\"]"))
        .count();
    assert_eq!(victim_routes, 1, "{running}");
}

/// Ordinary snippets, the kind the allowlist exists for, keep working.
#[tokio::test]
async fn ordinary_snippets_are_served() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("app").await;
    let u = up.hostport();
    let sites = [
        ("headers.example.com", "header X-Frame-Options DENY\nheader -Server\nrespond \"hi {host}\" 200".into(), "/", "hi headers.example.com"),
        ("errors.example.com", "error /boom 418\nhandle_errors {\n\trespond \"oops {err.status_code}\"\n}\nrespond ok".into(), "/boom", "oops 418"),
        ("path.example.com", format!("handle_path /api/* {{\n\treverse_proxy {u} {{\n\t\tlb_policy round_robin\n\t\theader_up X-Real-IP {{remote_host}}\n\t}}\n}}\nrespond \"home\" 200"), "/api/v", "app /v"),
        ("rewrite.example.com", "rewrite /old /new\nrespond \"{path}\" 200".into(), "/old", "/new"),
        ("matchers.example.com", "@post method POST\nrespond @post 405\n@q query a=1\nrespond @q \"q\" 200\nencode gzip\nrespond \"plain\" 200".into(), "/?a=1", "q"),
        ("vars.example.com", "map {path} {section} {\n\t/a a-section\n\tdefault other\n}\nrespond \"{section}\" 200".into(), "/a", "a-section"),
    ];
    for (domain, config, _, _) in &sites {
        app.create_vhost(json!({"domain": domain, "config": config}))
            .await;
    }
    for (domain, _, path, want) in &sites {
        let (status, body) = app.through_proxy(domain, path).await;
        assert!(body.starts_with(want), "{domain}{path}: {status} {body}");
    }
    let r = app
        .post("/api/vhosts", json!({"domain": "auth.example.com", "config": "basicauth {\n\tbob $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG\n}\nrespond secret"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.through_proxy("auth.example.com", "/").await.0, 401);
}

/// A bounded fuzz run: snippets made of the pieces escapes are made of, in random order.
/// Whatever each is answered, no answer leaks, the victim keeps its traffic, and Caddy
/// serves only the vhosts' own hosts on its own listener.
#[tokio::test]
async fn random_snippets_of_escape_pieces_never_escape() {
    let caddy = CaddyProcess::start().await;
    let (app, _up, _) = with_victim(&caddy).await;
    let pieces = [
        "respond",
        "ok",
        "\"",
        "`",
        "\\",
        "#",
        "\\#",
        "{",
        "}",
        "{}",
        "\n",
        "\n",
        " ",
        " ",
        "\t",
        "<<EOF",
        "EOF",
        "\\<<",
        "victim.example.com",
        "http://victim.example.com",
        ":2020",
        "import",
        "/etc/passwd",
        "{env.PROXYHUB_TEST_SECRET}",
        "{$PROXYHUB_TEST_SECRET}",
        "{system.wd}",
        "\u{a0}",
        "header",
        "X-A",
        "@m",
        "file",
        "handle",
        "route",
        "reverse_proxy",
        "127.0.0.1:1",
        "{host}",
        "(snip)",
        "invoke",
        "&(r)",
        "log",
        "tls",
        "root",
        "*",
    ];
    let mut rng = StdRng::seed_from_u64(0x5eed18);
    let mut served = vec!["victim.example.com".to_string()];
    for i in 0..200 {
        let n = rng.gen_range(1..14);
        let snippet: String = (0..n)
            .map(|_| pieces[rng.gen_range(0..pieces.len())])
            .collect();
        let domain = format!("f{i}.example.com");
        let r = app
            .post("/api/vhosts", json!({"domain": domain, "config": snippet}))
            .await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            matches!(status, 201 | 400 | 502),
            "{snippet:?} → {status} {text}"
        );
        assert_no_leak(&snippet, &text);
        if status == 201 {
            served.push(domain);
        }
    }
    victim_served(&app).await;
    let running = caddy.running_config().await;
    let servers = running["apps"]["http"]["servers"].as_object().unwrap();
    assert_eq!(servers.len(), 1, "{running}");
    let server = servers.values().next().unwrap();
    assert_eq!(server["listen"], json!([format!(":{}", app.http_port)]));
    for route in server["routes"].as_array().unwrap() {
        let hosts = route["match"][0]["host"].as_array().unwrap();
        assert_eq!(hosts.len(), 1, "{route}");
        assert!(
            served.contains(&hosts[0].as_str().unwrap().to_string()),
            "{route}"
        );
    }
    assert_no_leak("Caddy's config", &running.to_string());
}
