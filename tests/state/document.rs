use serde_json::{json, Value};

use super::{document, vhosts};
use crate::support::{expect_error, served, CaddyProcess, TestApp, Upstream};

#[tokio::test]
async fn export_wipe_import_serves_the_same_sites() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let (a, b) = (
        Upstream::start("site-a").await,
        Upstream::start("site-b").await,
    );
    app.create_vhost(json!({"domain": "a.example.com", "upstream": a.hostport()}))
        .await;
    let b_config = format!("header X-Hub yes\nreverse_proxy {}", b.hostport());
    app.create_vhost(json!({"domain": "b.example.com", "config": b_config}))
        .await;
    app.create_vhost(
        json!({"domain": "off.example.com", "upstream": a.hostport(), "enabled": false}),
    )
    .await;

    let exported: Value = app.get("/api/export").await.json().await.unwrap();
    assert_eq!(exported["apiVersion"], "proxyhub/v1");
    assert_eq!(exported["kind"], "State");
    let first = &exported["vhosts"][0];
    assert_eq!(first["domain"], "a.example.com");
    assert!(
        first.get("id").is_none() && first.get("createdAt").is_none(),
        "{first}"
    );
    assert_eq!(exported["vhosts"][1]["config"], b_config.as_str());
    assert!(exported["vhosts"][1]["upstream"].is_null());
    let yaml = app.get("/api/export?format=yaml").await;
    assert_eq!(yaml.headers()["content-type"], "application/yaml");
    let yaml = yaml.text().await.unwrap();
    assert!(yaml.contains("apiVersion: proxyhub/v1"), "{yaml}");

    // Wipe the store (an import with prune and no vhosts), then import the YAML back.
    let empty = json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": []});
    let r = app.post("/api/import?prune=true", empty).await;
    assert_eq!(r.status(), 200);
    assert!(vhosts(&app).await.is_empty());
    let (code, text) = served(&app, "a.example.com", "/", |_, t| {
        !t.contains("host=a.example.com")
    })
    .await;
    assert!(
        !text.contains("host=a.example.com"),
        "still served: {code} {text}"
    );

    // YAML sent as curl sends a file by default (no YAML type): read as YAML all the same.
    let r = app
        .client
        .post(app.url("/api/import"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(yaml)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["summary"],
        json!({"create": 3, "update": 0, "delete": 0, "unchanged": 0}),
        "{body}"
    );
    let import_id = body["importId"].as_str().unwrap().to_string();
    let again: Value = app.get("/api/export").await.json().await.unwrap();
    assert_eq!(again, exported, "the same state, field for field");
    let (code, text) = served(&app, "a.example.com", "/", |c, _| c == 200).await;
    assert!(code == 200 && text.starts_with("site-a "), "{code} {text}");
    let (code, text) = served(&app, "b.example.com", "/", |c, _| c == 200).await;
    assert!(code == 200 && text.starts_with("site-b "), "{code} {text}");
    let log: Value = app
        .get("/api/changelog?limit=3")
        .await
        .json()
        .await
        .unwrap();
    for e in log.as_array().unwrap() {
        assert_eq!(e["importId"], import_id.as_str(), "{e}");
        assert_eq!(e["action"], "create");
    }

    // The same document again: nothing to do, nothing logged.
    let r = app.post("/api/import", again.clone()).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["summary"]["unchanged"], 3, "{body}");
    let log_after: Value = app
        .get("/api/changelog?limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log_after, log);
}

#[tokio::test]
async fn a_dry_run_plans_and_changes_nothing_and_prune_deletes() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("plan").await;
    let hp = up.hostport();
    app.create_vhost(json!({"domain": "keep.test", "upstream": hp}))
        .await;
    app.create_vhost(json!({"domain": "change.test", "upstream": hp}))
        .await;
    app.create_vhost(json!({"domain": "extra.test", "upstream": hp}))
        .await;
    let before = app.stored().await;

    let doc = document(&[
        ("keep.test", &hp, true),
        ("change.test", &hp, false),
        ("new.test", &hp, true),
    ]);
    for prune in [false, true] {
        let r = app
            .post(
                &format!("/api/import?dryRun=true&prune={prune}"),
                doc.clone(),
            )
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["dryRun"], true);
        assert!(body["importId"].is_null());
        let plan: Vec<(String, String)> = body["plan"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["domain"].as_str().unwrap().into(),
                    s["action"].as_str().unwrap().into(),
                )
            })
            .collect();
        let mut want = vec![
            ("change.test".to_string(), "update".to_string()),
            ("keep.test".into(), "unchanged".into()),
            ("new.test".into(), "create".into()),
        ];
        if prune {
            want.insert(1, ("extra.test".into(), "delete".into()));
        }
        assert_eq!(plan, want);
        let update = body["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == "update")
            .unwrap();
        assert_eq!(
            update["diff"],
            json!({"old": {"enabled": true}, "new": {"enabled": false}})
        );
        app.assert_unchanged(&before).await;
    }

    // For real, with prune: extra.test goes, in one push.
    let r = app.post("/api/import?prune=true", doc).await;
    assert_eq!(r.status(), 200);
    let now = vhosts(&app).await;
    assert_eq!(
        now,
        [
            ("change.test".to_string(), hp.clone(), false),
            ("keep.test".into(), hp.clone(), true),
            ("new.test".into(), hp.clone(), true),
        ]
    );
    let (code, text) = served(&app, "extra.test", "/", |_, t| {
        !t.contains("host=extra.test")
    })
    .await;
    assert!(
        !text.contains("host=extra.test"),
        "still served: {code} {text}"
    );
    let (code, _) = served(&app, "new.test", "/", |c, _| c == 200).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn one_bad_vhost_changes_nothing_and_is_named() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("bad").await;
    let hp = up.hostport();
    app.create_vhost(json!({"domain": "stays.test", "upstream": hp}))
        .await;
    let before = app.stored().await;

    // Caddy refuses one site: a 502 naming it, with Caddy's words; nothing changes.
    let mut doc = document(&[
        ("fine.test", &hp, true),
        ("stays.test", "127.0.0.1:1", true),
    ]);
    doc["vhosts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"domain": "refused.test", "config": "no_such_directive on"}));
    let r = app.post("/api/import?prune=true", doc).await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    assert!(
        body["message"].as_str().unwrap().contains("refused.test"),
        "{body}"
    );
    assert_eq!(body["vhosts"][0]["domain"], "refused.test");
    assert!(
        body["proxyMessage"]
            .as_str()
            .unwrap()
            .contains("no_such_directive"),
        "{body}"
    );
    app.assert_unchanged(&before).await;
    let (code, text) = served(&app, "stays.test", "/", |c, _| c == 200).await;
    assert!(code == 200 && text.starts_with("bad "), "{code} {text}");
    let (code, text) = served(&app, "fine.test", "/", |_, t| !t.contains("host=fine.test")).await;
    assert!(
        !text.contains("host=fine.test"),
        "still served: {code} {text}"
    );

    // Documents that are not valid: 400 naming the path of the bad field.
    for (doc, path) in [
        (
            json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": [{"domain": "x.test", "upstream": hp}, {"domain": "y.test", "upstream": "not an upstream"}]}),
            "vhosts[1].upstream",
        ),
        (
            json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": [{"domain": "bad domain!", "upstream": hp}]}),
            "vhosts[0].domain",
        ),
        (
            json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": [{"domain": "z.test"}]}),
            "vhosts[0]",
        ),
        (
            json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": [{"domain": "z.test", "upstream": hp, "enabled": "yes"}]}),
            "vhosts[0].enabled",
        ),
        (
            json!({"apiVersion": "proxyhub/v2", "kind": "State", "vhosts": []}),
            "apiVersion",
        ),
        (
            json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": [{"domain": "q.test", "upstream": hp, "config": "import /etc/passwd"}]}),
            "vhosts[0].config",
        ),
    ] {
        let r = app.post("/api/import", doc.clone()).await;
        let body = expect_error(r, 400, "BAD_REQUEST").await;
        assert_eq!(body["path"], path, "{doc}: {body}");
        assert!(
            body["message"].as_str().unwrap().starts_with(path),
            "{body}"
        );
    }
    let r = app
        .client
        .post(app.url("/api/import"))
        .header("Content-Type", "application/yaml")
        .body("vhosts: [unclosed")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    app.assert_unchanged(&before).await;

    // Only admins: an editor's import is refused.
    let editor = app.client_with_role("ed@example.com", "editor").await;
    let r = editor.get(app.url("/api/export")).send().await.unwrap();
    expect_error(r, 403, "FORBIDDEN").await;
}

/// The structured fields travel in the document: exported as the API shows them (basic-auth
/// users by name), imported back unchanged; a field the document leaves out is none, and a
/// password it gives is set only when it is not the one stored.
#[tokio::test]
async fn structured_fields_round_trip_and_passwords_change_only_when_new() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    app.create_vhost(
        json!({"domain": "lb.example.com", "upstreams": [a.hostport(), b.hostport()],
        "loadBalancing": "first", "aliases": ["lb.example.net"],
        "access": {"basicAuth": [{"username": "alice", "password": "pw-1"}]}}),
    )
    .await;
    app.create_vhost(json!({"domain": "go.example.com",
        "redirect": {"target": "https://lb.example.com/", "code": 301, "preservePath": true}}))
        .await;
    let exported: Value = app.get("/api/export").await.json().await.unwrap();
    let text = exported.to_string();
    assert!(!text.contains("$2") && !text.contains("pw-1"), "{text}");
    let lb = &exported["vhosts"][1];
    assert_eq!(lb["domain"], "lb.example.com");
    assert_eq!(lb["upstreams"], json!([a.hostport(), b.hostport()]));
    assert_eq!(lb["aliases"], json!(["lb.example.net"]));
    assert_eq!(lb["access"]["basicAuth"], json!([{"username": "alice"}]));
    assert_eq!(exported["vhosts"][0]["redirect"]["code"], 301);
    assert!(
        exported["vhosts"][0].get("headers").is_none(),
        "{}",
        exported["vhosts"][0]
    );

    let plan = |doc: Value| {
        let app = &app;
        async move {
            let r = app.post("/api/import?dryRun=true", doc).await;
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            body["plan"].as_array().unwrap().clone()
        }
    };
    let steps = plan(exported.clone()).await;
    assert!(
        steps.iter().all(|s| s["action"] == "unchanged"),
        "{steps:?}"
    );
    // The same password again changes nothing; another one is an update saying only that.
    let mut doc = exported.clone();
    doc["vhosts"][1]["access"]["basicAuth"][0]["password"] = "pw-1".into();
    assert!(plan(doc.clone())
        .await
        .iter()
        .all(|s| s["action"] == "unchanged"));
    doc["vhosts"][1]["access"]["basicAuth"][0]["password"] = "pw-2".into();
    let steps = plan(doc.clone()).await;
    assert_eq!(steps[1]["action"], "update");
    assert_eq!(
        steps[1]["diff"]["new"],
        json!({"passwords": {"alice": "changed"}})
    );
    // Left out, a field is none.
    let mut bare = exported.clone();
    bare["vhosts"][1].as_object_mut().unwrap().remove("aliases");
    let steps = plan(bare.clone()).await;
    assert_eq!(
        steps[1]["diff"]["old"]["aliases"],
        json!(["lb.example.net"])
    );
    let r = app.post("/api/import", bare).await;
    assert_eq!(r.status(), 200);
    let (_, text) = served(&app, "lb.example.net", "/", |_, t| {
        !t.contains("host=lb.example.net")
    })
    .await;
    assert!(!text.contains("host=lb.example.net"), "{text}");
    // A new user without a password is named by its path.
    let mut bad = exported.clone();
    bad["vhosts"][1]["access"]["basicAuth"][0]["username"] = "bob".into();
    let r = app.post("/api/import", bad).await;
    let err = expect_error(r, 400, "BAD_REQUEST").await;
    assert_eq!(
        err["path"], "vhosts[1].access.basicAuth[0].password",
        "{err}"
    );
}
