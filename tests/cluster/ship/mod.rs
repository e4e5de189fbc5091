//! Access logs from every node, stored exactly once: two real Caddy nodes, each writing its
//! own access log, each followed by a real `proxyhub logs ship` process sending to a hub (a
//! real proxyhub process) that is killed with SIGKILL and booted again while traffic goes on.

mod world;

use std::{collections::BTreeMap, io::Write as _, time::Duration};

use reqwest::Client;
use serde_json::{json, Value};

use crate::support::{eventually, expect_error, rotation::rotate};
use world::{append, hub, line, logs, past_the_limit, paths_of, shipper, token, Node};

/// Requests each node serves over the test (and `/up`, asked once at start).
const PER_NODE: usize = 360;
const LOGGED: usize = PER_NODE + 1;

/// Sends `PER_NODE` requests to each node, a few milliseconds apart.
async fn traffic(nodes: [(&'static str, String); 2]) {
    let client = Client::new();
    for i in 0..PER_NODE {
        for (name, base) in &nodes {
            let r = client
                .get(format!("{base}/{name}/{i}"))
                .header("Host", "shop.example.com")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
}

#[tokio::test]
async fn every_request_of_every_node_is_stored_once_with_its_node_through_a_hub_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = hub(dir.path()).await;
    let ship_token = token(&hub, &["write:logs"]).await;
    let (a, b) = (Node::start("edge-a").await, Node::start("edge-b").await);
    let _ship_a = a.ship(&hub.base, &ship_token);
    let _ship_b = b.ship(&hub.base, &ship_token);

    let sending = tokio::spawn(traffic([(a.name, a.url("")), (b.name, b.url(""))]));
    // Some requests stored, then the hub dies under the traffic and comes back.
    let some = eventually(Duration::from_secs(20), || async {
        logs(&hub, "").await["total"].as_i64().unwrap() >= 100
    })
    .await;
    assert!(some, "nothing shipped: {}", logs(&hub, "").await);
    hub.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hub.boot().await;
    sending.await.unwrap();

    let all = eventually(Duration::from_secs(30), || async {
        logs(&hub, "").await["total"].as_i64().unwrap() >= 2 * LOGGED as i64
    })
    .await;
    assert!(all, "stored: {}", logs(&hub, "").await["total"]);
    // Late repeats would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(logs(&hub, "").await["total"], 2 * LOGGED);
    for node in [&a, &b] {
        let seen = paths_of(&hub, node.name).await;
        let want: BTreeMap<String, usize> = (0..PER_NODE)
            .map(|i| format!("/{}/{i}", node.name))
            .chain(["/up".to_string()])
            .map(|p| (p, 1))
            .collect();
        assert_eq!(seen, want, "each of {}'s requests once", node.name);
    }
    let both = logs(&hub, "domain=shop.example.com&node=EDGE-A&status=200").await;
    assert_eq!(both["total"], PER_NODE, "node with the other filters");
    assert_eq!(logs(&hub, "node=edge-c").await["total"], 0);
    let bad = hub
        .client
        .get(format!("{}/api/logs?node=edge%20a", hub.base))
        .send()
        .await
        .unwrap();
    expect_error(bad, 400, "BAD_REQUEST").await;

    // A line of the hub's own log has no node, and no node filter finds it.
    let own = line("hub.example.com", "/local");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&hub.log)
        .unwrap()
        .write_all(format!("{own}\n").as_bytes())
        .unwrap();
    let local = eventually(Duration::from_secs(10), || async {
        logs(&hub, "domain=hub.example.com").await["total"] == 1
    })
    .await;
    assert!(local, "the hub's own line");
    let body = logs(&hub, "domain=hub.example.com").await;
    assert_eq!(body["logs"][0]["node"], Value::Null);
    assert_eq!(logs(&hub, "node=edge-a").await["total"], LOGGED);

    // A batch replayed by hand is a no-op; one that starts elsewhere says where the hub is.
    let text = std::fs::read(a.log()).unwrap();
    let fingerprint = proxyhub::logs::ingest::batch::fingerprint(&text).unwrap();
    let first: Vec<&str> = std::str::from_utf8(&text)
        .unwrap()
        .lines()
        .take(3)
        .collect();
    let to: usize = first.iter().map(|l| l.len() + 1).sum();
    let replay = |from: usize| {
        hub.client
            .post(format!("{}/api/logs/ship", hub.base))
            .bearer_auth(&ship_token)
            .json(&json!({
                "node": "edge-a", "fingerprint": fingerprint,
                "path": a.log().display().to_string(),
                "from": from, "to": to + from, "lines": first,
            }))
            .send()
    };
    let r = replay(0).await.unwrap();
    assert_eq!(r.status(), 200);
    let said: Value = r.json().await.unwrap();
    assert_eq!(said["result"], "duplicate", "{said}");
    assert_eq!(said["position"], text.len(), "{said}");
    let ahead = replay(text.len() + 100).await.unwrap();
    let said = expect_error(ahead, 409, "POSITION_MISMATCH").await;
    assert_eq!(said["position"], text.len(), "{said}");
    assert_eq!(
        logs(&hub, "").await["total"],
        2 * LOGGED + 1,
        "nothing stored twice"
    );

    // A token without the scope: refused by the route and by the shipper, which says why.
    let reader = token(&hub, &["read:logs"]).await;
    let r = hub
        .client
        .get(format!("{}/api/logs/ship/position", hub.base))
        .query(&[("node", "edge-a"), ("fingerprint", fingerprint.as_str())])
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    let said = expect_error(r, 403, "MISSING_SCOPE").await;
    assert_eq!(said["required"], "write:logs");
    let out = shipper(&hub.base, &reader, "edge-x", &a.log(), dir.path())
        .wait_with_output()
        .await
        .unwrap();
    assert!(!out.status.success(), "a refused shipper stops");
    let said = std::fs::read_to_string(dir.path().join("ship-edge-x.log")).unwrap();
    assert!(said.contains("MISSING_SCOPE"), "{said}");
}

#[tokio::test]
async fn a_rotated_log_is_shipped_to_its_end_and_a_restarted_shipper_resumes_at_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let ship_token = token(&hub, &["write:logs"]).await;
    let node_dir = tempfile::tempdir().unwrap();
    let log = node_dir.path().join("access.log");
    append(&log, (0..100).map(|i| format!("/r/{i}")));
    let mut ship = shipper(&hub.base, &ship_token, "edge-r", &log, node_dir.path());
    let count = || async { logs(&hub, "node=edge-r").await["total"].as_i64().unwrap() };
    assert!(eventually(Duration::from_secs(15), || async { count().await == 100 }).await);

    // Rotated as Caddy does: renamed, a last write to the old file, then a new file.
    let rotated = node_dir.path().join("access-2026-12-07T11-00-00.000.log");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, (100..150).map(|i| format!("/r/{i}")));
    append(&log, (150..220).map(|i| format!("/r/{i}")));
    assert!(
        eventually(Duration::from_secs(15), || async { count().await == 220 }).await,
        "stored: {}",
        count().await
    );

    // The shipper keeps nothing: started again, it asks the hub and sends only what is new.
    ship.kill().await.unwrap();
    append(&log, (220..260).map(|i| format!("/r/{i}")));
    let _ship = shipper(&hub.base, &ship_token, "edge-r", &log, node_dir.path());
    assert!(eventually(Duration::from_secs(15), || async { count().await == 260 }).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = paths_of(&hub, "edge-r").await;
    let want: BTreeMap<String, usize> = (0..260).map(|i| (format!("/r/{i}"), 1)).collect();
    assert_eq!(seen, want);
}

/// A shipper killed before its first batch, while the log was rotated, gzipped and begun
/// anew: started again, it finishes the rotated file, because it told the hub it follows the
/// path before reading a line.
#[tokio::test]
async fn a_log_rotated_before_the_first_batch_is_shipped_whole() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let ship_token = token(&hub, &["write:logs"]).await;
    let node_dir = tempfile::tempdir().unwrap();
    let log = node_dir.path().join("access.log");
    let path = log.display().to_string();
    let progress = || async {
        let r = hub
            .client
            .get(format!("{}/api/logs/ship/progress", hub.base))
            .query(&[("node", "edge-f"), ("path", path.as_str())])
            .bearer_auth(&ship_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let mut ship = shipper(&hub.base, &ship_token, "edge-f", &log, node_dir.path());
    assert!(
        eventually(Duration::from_secs(15), || async {
            progress().await["followedSince"].is_i64()
        })
        .await,
        "the shipper says it follows the log"
    );
    ship.kill().await.unwrap();
    let said = progress().await;
    assert_eq!(said["lastStoredAt"], Value::Null, "nothing shipped: {said}");
    let since = said["followedSince"].clone();

    append(&log, (0..120).map(|i| format!("/f/{i}")));
    rotate(&log, "2026-12-08T10-00-00.000", true);
    append(&log, (120..150).map(|i| format!("/f/{i}")));

    let _ship = shipper(&hub.base, &ship_token, "edge-f", &log, node_dir.path());
    let count = || async { logs(&hub, "node=edge-f").await["total"].as_i64().unwrap() };
    assert!(
        eventually(Duration::from_secs(15), || async { count().await == 150 }).await,
        "stored: {}",
        count().await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let want: BTreeMap<String, usize> = (0..150).map(|i| (format!("/f/{i}"), 1)).collect();
    assert_eq!(paths_of(&hub, "edge-f").await, want);
    assert_eq!(
        progress().await["followedSince"],
        since,
        "said again, unchanged"
    );

    // The route checks what it is told.
    let follow = |body: Value| {
        hub.client
            .post(format!("{}/api/logs/ship/follow", hub.base))
            .bearer_auth(&ship_token)
            .json(&body)
            .send()
    };
    let r = follow(json!({"node": "edge-f", "path": ""})).await.unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    let r = follow(json!({"node": "-bad", "path": "/a.log"}))
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    let r = follow(json!({"node": "edge-f", "path": path, "extra": 1}))
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    let r = follow(json!({"node": "edge-f", "path": path}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let said: Value = r.json().await.unwrap();
    assert_eq!(said["since"], since, "{said}");
}

#[tokio::test]
async fn a_batch_over_the_bounds_is_refused_whole_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path()).await;
    let ship_token = token(&hub, &["write:logs"]).await;
    let post = |body: Value| {
        hub.client
            .post(format!("{}/api/logs/ship", hub.base))
            .bearer_auth(&ship_token)
            .json(&body)
            .send()
    };
    let lines = vec![line("big.example.com", "/x"); 10_001];
    let to: usize = lines.iter().map(|l| l.len() + 1).sum();
    let batch = |lines: Vec<String>, to: usize| {
        json!({"node": "edge-big", "fingerprint": "ab".repeat(32), "path": "/var/log/a.log",
               "from": 0, "to": to, "lines": lines})
    };
    let r = post(batch(lines, to)).await.unwrap();
    expect_error(r, 413, "PAYLOAD_TOO_LARGE").await;
    // Over 8 MiB: refused once the 8 MiB are passed, before the rest is sent (a client
    // sending it all may see the connection closed under it).
    let said = past_the_limit(&hub.base, &ship_token, 9 << 20).await;
    assert!(said.starts_with("HTTP/1.1 413"), "{said}");
    assert!(said.contains(r#""error":"PAYLOAD_TOO_LARGE""#), "{said}");
    let r = post(batch(vec![line("big.example.com", "/x")], 0))
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    assert_eq!(logs(&hub, "").await["total"], 0, "nothing half-stored");
    // Not JSON, and a host PostgreSQL's text cannot hold: both counted, neither stored.
    let nul = line("a\\u0000b.example.com", "/nul");
    let r = post(batch(
        vec![line("big.example.com", "/x"), "not json".into(), nul],
        2048,
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let said: Value = r.json().await.unwrap();
    assert_eq!(
        (
            said["result"].as_str(),
            said["stored"].as_i64(),
            said["skipped"].as_i64()
        ),
        (Some("stored"), Some(1), Some(2)),
        "{said}"
    );
    let status: Value = hub
        .client
        .get(format!("{}/api/logs", hub.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["skipped"], 2,
        "unreadable lines are counted as the tailer counts them"
    );
}
