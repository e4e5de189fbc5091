//! Webhooks against a real Caddy and a real receiver: every committed change delivered once
//! signed and in order, none for a change the proxy refused, retries through a receiver
//! answering 500 and one taken down, a test ping, the deliveries list, the addresses refused,
//! and delivery after proxyhub is killed with SIGKILL between a change and its delivery.

use serde_json::{json, Value};

use crate::{
    receiver::Receiver,
    support::{expect_error, server::Server, CaddyProcess, Options, TestApp},
};

const SECRET: &str = "a-receivers-secret-0123456789";

async fn add(app: &TestApp, url: &str, events: Value) -> Value {
    let r = app
        .post(
            "/api/webhooks",
            json!({"url": url, "events": events, "secret": SECRET}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let hook: Value = r.json().await.unwrap();
    assert_eq!(hook["secret"], SECRET, "the secret is shown once, here");
    hook
}

#[tokio::test]
async fn changes_reach_the_receiver_signed_in_order_once_each_through_failures() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let mut rx = Receiver::start(SECRET).await;
    let hook = add(
        &app,
        &rx.url(),
        json!(["vhost.created", "vhost.updated", "vhost.deleted"]),
    )
    .await;
    let id = hook["id"].as_str().unwrap().to_string();
    let listed: Value = app.get("/api/webhooks").await.json().await.unwrap();
    assert_eq!(listed[0]["url"], rx.url());
    assert!(listed[0].get("secret").is_none(), "never listed: {listed}");

    // Create, update, delete: three events, in order, signed, with the vhost and the diff.
    let v = app
        .create_vhost(json!({"domain": "a.example.com", "upstream": "127.0.0.1:9001"}))
        .await;
    let vid = v["id"].as_i64().unwrap();
    let r = app
        .put(
            &format!("/api/vhosts/{vid}"),
            json!({"upstream": "127.0.0.1:9002"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // A toggle is not an event this webhook takes.
    assert_eq!(
        app.patch(&format!("/api/vhosts/{vid}/toggle"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.delete(&format!("/api/vhosts/{vid}")).await.status(),
        200
    );
    let got = rx.wait_taken(3, 20).await;
    let events: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(events, ["vhost.created", "vhost.updated", "vhost.deleted"]);
    assert!(
        got.iter().all(|g| g.verified),
        "every signature checks out: {got:#?}"
    );
    let created = &got[0].body;
    assert_eq!(created["event"], "vhost.created");
    assert!(created["id"].as_str().unwrap().starts_with("evt_"));
    assert!(created["timestamp"].is_string());
    assert_eq!(created["data"]["domain"], "a.example.com");
    assert_eq!(created["data"]["id"], vid);
    assert_eq!(
        got[1].body["data"]["diff"]["new"]["upstream"],
        "127.0.0.1:9002"
    );
    assert_eq!(
        got[1].body["data"]["diff"]["old"]["upstream"],
        "127.0.0.1:9001"
    );
    let mut ids: Vec<&str> = got.iter().map(|g| g.delivery.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "a delivery id per event");

    // A change the proxy refuses is rolled back: no event.
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "typo.example.com", "config": "reverse_prox 127.0.0.1:1"}),
        )
        .await;
    expect_error(r, 502, "PROXY_REJECTED").await;

    // The receiver fails for a while: the same delivery again, until it takes it.
    rx.answer(500);
    app.create_vhost(json!({"domain": "b.example.com", "upstream": "127.0.0.1:9001"}))
        .await;
    let failed = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        rx.got.lock().unwrap().iter().any(|g| g.answered == 500)
    })
    .await;
    assert!(failed, "the receiver answered 500 once");
    rx.answer(200);
    let got = rx.wait_taken(4, 20).await;
    assert_eq!(
        got[3].body["data"]["domain"], "b.example.com",
        "not the refused one"
    );
    let all = rx.got.lock().unwrap().clone();
    let tries: Vec<_> = all
        .iter()
        .filter(|g| g.delivery == got[3].delivery)
        .collect();
    assert!(tries.len() >= 2 && tries[0].answered == 500, "{tries:#?}");
    let deliveries: Value = app
        .get(&format!("/api/webhooks/{id}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    let newest = &deliveries[0];
    assert_eq!(newest["statusCode"], 200, "{deliveries}");
    assert!(newest["attempt"].as_i64().unwrap() >= 2, "{deliveries}");
    assert!(deliveries
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["statusCode"] == 500 && d["error"].as_str().unwrap().contains("500")));

    // The deliveries are counted for Prometheus, by outcome.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let count = |outcome: &str| -> f64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "proxyhub_webhook_deliveries_total{{outcome=\"{outcome}\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        count("delivered") >= 4.0 && count("failed") >= 1.0,
        "{metrics}"
    );

    // The receiver is down: the changes wait, and arrive in order once it is back.
    rx.down().await;
    for d in ["c.example.com", "d.example.com"] {
        app.create_vhost(json!({"domain": d, "upstream": "127.0.0.1:9001"}))
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    rx.up().await;
    let got = rx.wait_taken(6, 30).await;
    let last: Vec<&Value> = got[4..].iter().map(|g| &g.body["data"]["domain"]).collect();
    assert_eq!(last, ["c.example.com", "d.example.com"]);
    assert!(got.iter().all(|g| g.verified));

    // A test ping, answered at once.
    let r = app
        .post(&format!("/api/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let tested: Value = r.json().await.unwrap();
    assert_eq!(tested["delivered"], true, "{tested}");
    assert_eq!(tested["statusCode"], 200);
    let got = rx.wait_taken(7, 5).await;
    assert_eq!(got[6].event, "ping");
    assert!(got[6].verified);

    // Deleted: nothing more.
    assert_eq!(
        app.delete(&format!("/api/webhooks/{id}")).await.status(),
        200
    );
    app.create_vhost(json!({"domain": "e.example.com", "upstream": "127.0.0.1:9001"}))
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(rx.taken().len(), 7);
    let r = app.get(&format!("/api/webhooks/{id}/deliveries")).await;
    expect_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn accounts_tokens_and_the_proxy_are_events_too() {
    let mut caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let rx = Receiver::start(SECRET).await;
    add(&app, &rx.url(), json!(["*"])).await;
    let eve_client = app.client_with_role("eve@example.com", "viewer").await;
    let r = eve_client
        .post(app.url("/api/tokens"))
        .header("origin", &app.base)
        .json(&json!({"name": "eve's", "scopes": ["read:vhosts"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let users: Value = app.get("/api/users").await.json().await.unwrap();
    let eve = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "eve@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client
        .patch(app.url(&format!("/api/users/{eve}")))
        .json(&json!({"role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            "/api/tokens",
            json!({"name": "ci", "scopes": ["read:vhosts"]}),
        )
        .await;
    let token: Value = r.json().await.unwrap();
    let tid = token["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/tokens/{tid}")).await.status(),
        200
    );
    assert_eq!(app.delete(&format!("/api/users/{eve}")).await.status(), 200);
    // The proxy goes away.
    caddy.kill().await;
    let got = rx.wait_taken(8, 30).await;
    let events: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "user.created",
            "token.created",
            "user.updated",
            "token.created",
            "token.revoked",
            "token.revoked",
            "user.deleted",
            "proxy.unreachable"
        ]
    );
    assert_eq!(got[2].body["data"]["diff"]["new"]["role"], "editor");
    assert_eq!(got[2].body["data"]["diff"]["old"]["role"], "viewer");
    assert_eq!(
        got[5].body["data"]["name"], "eve's",
        "her token goes with her account"
    );
    assert!(
        got[1].body["data"].get("token").is_none(),
        "no secret in events"
    );
    assert!(got[0].body["data"].get("passwordHash").is_none());
}

#[tokio::test]
async fn private_addresses_are_refused_when_saved_and_when_sent() {
    let app = TestApp::spawn_without_proxy_with(Options {
        webhook_allow_private: false,
        ..Options::default()
    })
    .await;
    app.sign_up_admin().await;
    let rx = Receiver::start(SECRET).await;
    for (url, why) in [
        (rx.url(), "127.0.0.1"),
        (format!("http://localhost:{}/hook", rx.port), "loopback"),
        ("http://[::1]/hook".to_string(), "::1"),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            "169.254.169.254",
        ),
        ("http://10.0.0.8/hook".to_string(), "10.0.0.8"),
        ("http://[::ffff:127.0.0.1]/".to_string(), "127.0.0.1"),
        ("ftp://example.com/hook".to_string(), "http"),
        (
            "https://user:secret@hooks.example.com/x".to_string(),
            "no user or password",
        ),
        ("not a url".to_string(), "URL"),
    ] {
        let r = app
            .post("/api/webhooks", json!({"url": url, "events": ["*"]}))
            .await;
        let body = expect_error(r, 400, "BAD_REQUEST").await;
        assert!(
            body["message"].as_str().unwrap().contains(why),
            "{url}: {body}"
        );
    }
    for body in [
        json!({"url": "https://hooks.example.com/x", "events": ["vhost.exploded"]}),
        json!({"url": "https://hooks.example.com/x", "events": []}),
        json!({"url": "https://hooks.example.com/x", "events": ["*"], "secret": "short"}),
    ] {
        let r = app.post("/api/webhooks", body.clone()).await;
        expect_error(r, 400, "BAD_REQUEST").await;
    }
    // Saved by other means (or a name that resolved elsewhere when saved): the address is
    // checked again when sending, and nothing reaches the receiver.
    let db = app.db().await;
    sqlx::query(
        "INSERT INTO webhooks (id, url, events, secret, created_at, delivered_through, attempts, retry_at) \
         VALUES ('sneaky', $1, '[\"*\"]', $2, '2026-01-01T00:00:00Z', 0, 0, 0)",
    )
    .bind(rx.url())
    .bind(SECRET)
    .execute(&db)
    .await
    .unwrap();
    let _ = app.client_with_role("eve@example.com", "viewer").await;
    let refused = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        let d: Value = app
            .get("/api/webhooks/sneaky/deliveries")
            .await
            .json()
            .await
            .unwrap();
        d.as_array().is_some_and(|a| {
            a.iter()
                .any(|d| d["error"].as_str().is_some_and(|e| e.contains("refused")))
        })
    })
    .await;
    assert!(refused, "the send was refused and said so");
    assert!(
        rx.got.lock().unwrap().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn a_change_committed_before_sigkill_is_delivered_after_the_restart() {
    let caddy = CaddyProcess::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut rx = Receiver::start(SECRET).await;
    // The receiver is down when the change is made: it cannot have been delivered yet.
    rx.down().await;
    let mut server = Server::start_with(
        dir.path(),
        caddy.admin_url(),
        &[
            ("PROXYHUB_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("PROXYHUB_TLS", "off"),
            ("PROXYHUB_HTTP_PORT", &caddy.http_port.to_string()),
        ],
    )
    .await;
    let post = |path: &str, body: Value| {
        server
            .client
            .post(format!("{}{path}", server.base))
            .header("origin", &server.base)
            .json(&body)
            .send()
    };
    let r = post(
        "/api/webhooks",
        json!({"url": rx.url(), "events": ["vhost.created"], "secret": SECRET}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let r = post(
        "/api/vhosts",
        json!({"domain": "kept.example.com", "upstream": "127.0.0.1:9001"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    server.kill();
    rx.up().await;
    server.boot().await;
    let got = rx.wait_taken(1, 30).await;
    assert_eq!(got[0].event, "vhost.created");
    assert_eq!(got[0].body["data"]["domain"], "kept.example.com");
    assert!(got[0].verified);
}
