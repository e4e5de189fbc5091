//! A fleet of real Caddy nodes changed all or nothing: every change lands on every active node
//! or on none; a node that refuses or dies fails the change naming it, and the others keep
//! the previous config; offline nodes are skipped and brought up to date when back; a node
//! restarted empty or edited by hand is repaired by the reconciler.

use std::{collections::HashSet, time::Duration};

use serde_json::{json, Value};

use crate::support::{caddy::CaddyProcess, eventually, expect_error, TestApp, Upstream};

/// Three Caddy nodes, each serving the fleet's sites on its own loopback address
/// (127.0.0.1, .2, .3) and the same port, and proxyhub managing them.
struct Fleet {
    app: TestApp,
    nodes: Vec<CaddyProcess>,
    /// The node ids, in the order of `nodes`.
    ids: Vec<i64>,
}

const NAMES: [&str; 3] = ["edge-a", "edge-b", "edge-c"];

fn ip(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

impl Fleet {
    async fn start() -> Self {
        let nodes = vec![
            CaddyProcess::start().await,
            CaddyProcess::start().await,
            CaddyProcess::start().await,
        ];
        // proxyhub starts with the first node seeded from PROXYHUB_CADDY_ADMIN (listening on
        // every address); with no vhost yet no node listens, so the fleet is made of nodes
        // with addresses of their own, and the seeded one is removed.
        let app = TestApp::spawn(&nodes[0]).await;
        app.sign_up_admin().await;
        let seeded: Value = app.get("/api/nodes").await.json().await.unwrap();
        assert_eq!(seeded.as_array().unwrap().len(), 1, "{seeded}");
        assert_eq!(seeded[0]["seeded"], true);
        let mut ids = Vec::new();
        for (i, n) in nodes.iter().enumerate().skip(1) {
            ids.push(add(&app, NAMES[i], n, i).await);
        }
        let r = app.delete(&format!("/api/nodes/{}", seeded[0]["id"])).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        ids.insert(0, add(&app, NAMES[0], &nodes[0], 0).await);
        Self { app, nodes, ids }
    }

    /// What node `i` answers for `host`.
    async fn through(&self, i: usize, host: &str) -> (u16, String) {
        let url = format!("http://{}:{}/", ip(i), self.app.http_port);
        match reqwest::Client::new()
            .get(url)
            .header("host", host)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    /// Whether node `i` serves `host` from the fleet's upstream.
    async fn serves(&self, i: usize, host: &str) -> bool {
        self.through(i, host).await.1.starts_with("up ")
    }

    async fn status(&self) -> Value {
        let r = self.app.get("/api/cluster/status").await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

async fn add(app: &TestApp, name: &str, node: &CaddyProcess, i: usize) -> i64 {
    let r = app
        .post(
            "/api/nodes",
            json!({"name": name, "adminUrl": node.admin_url(), "bind": ip(i)}),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "active");
    body["id"].as_i64().unwrap()
}

async fn create(app: &TestApp, domain: &str, upstream: &Upstream) -> reqwest::Response {
    app.post(
        "/api/vhosts",
        json!({"domain": domain, "upstream": upstream.hostport()}),
    )
    .await
}

#[tokio::test]
async fn concurrent_changes_land_on_every_node_and_the_status_says_so() {
    let up = Upstream::start("up").await;
    let fleet = Fleet::start().await;
    let domains: Vec<String> = (0..6).map(|i| format!("site{i}.example.com")).collect();
    let answers =
        futures_util::future::join_all(domains.iter().map(|d| create(&fleet.app, d, &up))).await;
    for r in answers {
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    for (i, name) in NAMES.iter().enumerate() {
        for d in &domains {
            assert!(fleet.serves(i, d).await, "node {name} serves {d}");
        }
    }
    let status = fleet.status().await;
    assert_eq!(status["proxy"], "caddy");
    assert_eq!(status["inSync"], true, "{status}");
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for n in nodes {
        assert_eq!(n["reachable"], true, "{n}");
        assert_eq!(n["inSync"], true, "{n}");
        assert_eq!(n["state"], "active");
        assert!(
            n["etag"]
                .as_str()
                .is_some_and(|e| e.starts_with("\"/config/ ")),
            "{n}"
        );
        assert_eq!(n["etag"], n["runningEtag"], "{n}");
        assert!(n["lastApplyAt"].is_string(), "{n}");
        assert!(n["lastError"].is_null(), "{n}");
        // Nothing was taken for drift: no node was loaded twice.
        assert!(n["lastRepairAt"].is_null(), "{n}");
    }
}

#[tokio::test]
async fn coalesced_changes_are_bisected_over_the_fleet_down_to_the_one_caddy_refuses() {
    let up = Upstream::start("up").await;
    let fleet = Fleet::start().await;
    let good: Vec<String> = (0..6).map(|i| format!("ok{i}.example.com")).collect();
    let bad = fleet.app.post(
        "/api/vhosts",
        // Adapts fine; Caddy refuses it only when it loads (the regexp does not compile).
        json!({"domain": "regexp.example.com", "config": "@r path_regexp \"[\"\nrespond @r 200"}),
    );
    let (answers, bad) = tokio::join!(
        futures_util::future::join_all(good.iter().map(|d| create(&fleet.app, d, &up))),
        bad
    );
    for r in answers {
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let body = expect_error(bad, 502, "PROXY_REJECTED").await;
    assert!(
        body["message"].as_str().unwrap().contains("regexp"),
        "{body}"
    );
    for (i, name) in NAMES.iter().enumerate() {
        for d in &good {
            assert!(fleet.serves(i, d).await, "{name} serves {d}");
        }
    }
    assert_eq!(fleet.status().await["inSync"], true);
}

#[tokio::test]
async fn a_node_that_cannot_bind_fails_the_change_and_every_node_keeps_the_previous_config() {
    let up = Upstream::start("up").await;
    let mut fleet = Fleet::start().await;
    assert_eq!(
        create(&fleet.app, "before.example.com", &up).await.status(),
        201
    );
    // Node C comes back from a restart with its HTTP address taken by another program: it
    // refuses every config that serves sites.
    fleet.nodes[2].kill().await;
    let squatter = std::net::TcpListener::bind((ip(2).as_str(), fleet.app.http_port)).unwrap();
    fleet.nodes[2].boot().await;
    let r = create(&fleet.app, "after.example.com", &up).await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("edge-c"),
        "the answer names the node: {body}"
    );
    for (i, name) in NAMES.iter().enumerate().take(2) {
        assert!(
            !fleet.serves(i, "after.example.com").await,
            "{name} was put back"
        );
        assert!(
            fleet.serves(i, "before.example.com").await,
            "{name} keeps the previous"
        );
    }
    let stored: Value = fleet.app.get("/api/vhosts").await.json().await.unwrap();
    let domains: Vec<&str> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["before.example.com"]);
    let status = fleet.status().await;
    let c = node(&status, "edge-c");
    assert_eq!(c["state"], "active");
    assert!(c["lastError"].as_str().is_some(), "{c}");
    // Its address freed, the reconciler brings it up to date.
    drop(squatter);
    assert!(
        eventually(Duration::from_secs(10), || fleet
            .serves(2, "before.example.com"))
        .await,
        "edge-c repaired once it can bind"
    );
}

#[tokio::test]
async fn a_node_killed_during_changes_leaves_every_change_on_all_nodes_or_on_none() {
    let up = Upstream::start("up").await;
    let mut fleet = Fleet::start().await;
    let domains: Vec<String> = (0..8).map(|i| format!("burst{i}.example.com")).collect();
    let burst = futures_util::future::join_all(domains.iter().map(|d| {
        let app = &fleet.app;
        let up = &up;
        async move {
            let r = create(app, d, up).await;
            (d.clone(), r.status().as_u16())
        }
    }));
    let (answers, ()) = tokio::join!(burst, async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        fleet.nodes[1].kill().await;
    });
    let created: HashSet<&String> = answers
        .iter()
        .filter(|(_, s)| *s == 201)
        .map(|(d, _)| d)
        .collect();
    for (d, s) in &answers {
        assert!(*s == 201 || *s == 502, "{d}: {s}");
    }
    // Node B stays down: take it offline, and the fleet goes on without it.
    let r = fleet
        .app
        .client
        .patch(fleet.app.url(&format!("/api/nodes/{}", fleet.ids[1])))
        .header("origin", &fleet.app.base)
        .json(&json!({"state": "offline"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for i in [0, 2] {
        assert!(
            eventually(Duration::from_secs(10), || async {
                let mut all = true;
                for d in &domains {
                    all &= fleet.serves(i, d).await == created.contains(d);
                }
                all
            })
            .await,
            "{} serves exactly the created vhosts ({created:?})",
            NAMES[i]
        );
    }
    assert_eq!(
        create(&fleet.app, "while-b-offline.example.com", &up)
            .await
            .status(),
        201
    );
    assert!(fleet.serves(0, "while-b-offline.example.com").await);
    // Back, empty: brought up to date when made active again, before the answer.
    fleet.nodes[1].boot().await;
    let r = fleet
        .app
        .client
        .patch(fleet.app.url(&format!("/api/nodes/{}", fleet.ids[1])))
        .header("origin", &fleet.app.base)
        .json(&json!({"state": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(fleet.serves(1, "while-b-offline.example.com").await);
    for d in &created {
        assert!(fleet.serves(1, d).await, "edge-b serves {d}");
    }
    let status = fleet.status().await;
    assert_eq!(status["inSync"], true, "{status}");
}

#[tokio::test]
async fn a_node_restarted_empty_or_edited_by_hand_is_repaired_within_seconds() {
    let up = Upstream::start("up").await;
    let mut fleet = Fleet::start().await;
    assert_eq!(
        create(&fleet.app, "kept.example.com", &up).await.status(),
        201
    );
    // Restarted from its bootstrap config: nothing served until the reconciler loads it.
    fleet.nodes[0].restart().await;
    assert!(
        eventually(Duration::from_secs(10), || fleet
            .serves(0, "kept.example.com"))
        .await,
        "edge-a repaired"
    );
    // Reported in the status, and in sync again.
    assert!(
        eventually(Duration::from_secs(10), || async {
            let status = fleet.status().await;
            node(&status, "edge-a")["lastRepairAt"].is_string()
                && node(&status, "edge-a")["inSync"] == true
        })
        .await,
        "{}",
        fleet.status().await
    );
    assert!(node(&fleet.status().await, "edge-c")["lastRepairAt"].is_null());
    // A hand edit through node B's admin API (a route put first): noticed (its ETag moved)
    // and undone.
    let admin = fleet.nodes[1].admin_url();
    let r = reqwest::Client::new()
        .put(format!("{admin}/config/apps/http/servers/srv0/routes/0"))
        .json(&json!({"match": [{"host": ["kept.example.com"]}],
                      "handle": [{"handler": "static_response", "body": "hand-edited"}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert!(
        eventually(Duration::from_secs(10), || fleet
            .serves(1, "kept.example.com"))
        .await,
        "edge-b repaired: {:?}",
        fleet.through(1, "kept.example.com").await
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            fleet.status().await["inSync"] == true
        })
        .await,
        "{}",
        fleet.status().await
    );
}

fn node<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

#[tokio::test]
async fn the_nodes_api_refuses_what_it_cannot_take_in_words() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let seeded: Value = app.get("/api/nodes").await.json().await.unwrap();
    let seeded_id = seeded[0]["id"].as_i64().unwrap();
    assert_eq!(seeded[0]["name"], "caddy-1");
    assert_eq!(seeded[0]["adminUrl"], caddy.admin_url());
    for (body, field) in [
        (json!({"name": "", "adminUrl": caddy.admin_url()}), "name"),
        (
            json!({"name": "a b", "adminUrl": caddy.admin_url()}),
            "name",
        ),
        (
            json!({"name": "x", "adminUrl": "https://10.0.0.1:2019"}),
            "adminUrl",
        ),
        (
            json!({"name": "x", "adminUrl": "http://10.0.0.1:2019/\n}"}),
            "adminUrl",
        ),
        (
            json!({"name": "x", "adminUrl": caddy.admin_url(), "bind": "eth0"}),
            "bind",
        ),
        (
            json!({"name": "x", "adminUrl": caddy.admin_url(), "accessLog": "rel/log"}),
            "accessLog",
        ),
        (
            json!({"name": "x", "adminUrl": caddy.admin_url(), "adminListen": "0.0.0.0:2019 {"}),
            "adminListen",
        ),
        // Something that is not a Caddy admin API: proxyhub itself.
        (
            json!({"name": "x", "adminUrl": app.base.clone()}),
            "adminUrl",
        ),
    ] {
        let r = app.post("/api/nodes", body.clone()).await;
        let err = expect_error(r, 400, "BAD_REQUEST").await;
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    // The same admin URL twice.
    let r = app
        .post(
            "/api/nodes",
            json!({"name": "again", "adminUrl": caddy.admin_url()}),
        )
        .await;
    expect_error(r, 409, "CONFLICT").await;
    // The last active node is neither taken offline nor removed.
    let r = app
        .client
        .patch(app.url(&format!("/api/nodes/{seeded_id}")))
        .header("origin", &app.base)
        .json(&json!({"state": "offline"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 409, "CONFLICT").await;
    expect_error(
        app.delete(&format!("/api/nodes/{seeded_id}")).await,
        409,
        "CONFLICT",
    )
    .await;
    let r = app
        .client
        .patch(app.url(&format!("/api/nodes/{seeded_id}")))
        .header("origin", &app.base)
        .json(&json!({"state": "sleeping"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    expect_error(app.delete("/api/nodes/999").await, 404, "NOT_FOUND").await;
    // Nodes are an admin's.
    let editor = app.client_with_role("ed@example.com", "editor").await;
    let r = editor.get(app.url("/api/nodes")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = editor
        .get(app.url("/api/cluster/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A node whose admin port a vhost proxies to: the vhost would stop being served.
    let other = CaddyProcess::start().await;
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "port.example.com", "upstream": format!("127.0.0.1:{}", other.admin_port)}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app
        .post(
            "/api/nodes",
            json!({"name": "other", "adminUrl": other.admin_url()}),
        )
        .await;
    let err = expect_error(r, 409, "CONFLICT").await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("port.example.com"),
        "{err}"
    );
    // Nothing was added.
    let nodes: Value = app.get("/api/nodes").await.json().await.unwrap();
    assert_eq!(nodes.as_array().unwrap().len(), 1, "{nodes}");
}
