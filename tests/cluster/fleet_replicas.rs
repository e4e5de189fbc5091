//! Two proxyhub replicas on one PostgreSQL managing a fleet of three Caddy nodes: changes
//! through both land on every node, and a replica killed in the middle of changes leaves every
//! node serving what the store holds.

use std::time::Duration;

use reqwest::header;
use serde_json::{json, Value};

use crate::{
    replicas::pair::{domains, get_json, post, Pair},
    support::{eventually, server::Server, CaddyProcess},
};

fn ip(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

/// The pair's Caddy and two more, each serving on its own loopback address, made the fleet
/// through replica `a` (the seeded node listens on every address, so it is replaced by one
/// with an address of its own while there is no vhost yet).
async fn fleet(pair: &Pair) -> Vec<CaddyProcess> {
    let more = vec![CaddyProcess::start().await, CaddyProcess::start().await];
    let seeded = get_json(&pair.a, "/api/nodes").await;
    for (i, node) in more.iter().enumerate() {
        add(
            &pair.a,
            &format!("edge-{}", i + 2),
            &node.admin_url(),
            i + 1,
        )
        .await;
    }
    let r = pair
        .a
        .client
        .delete(format!("{}/api/nodes/{}", pair.a.base, seeded[0]["id"]))
        .header(header::ORIGIN, &pair.a.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    add(&pair.a, "edge-1", &pair.caddy.admin_url(), 0).await;
    more
}

async fn add(s: &Server, name: &str, url: &str, i: usize) {
    let r = post(
        s,
        "/api/nodes",
        json!({"name": name, "adminUrl": url, "bind": ip(i)}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// Whether node `i` sends `host` to the pair's upstream.
async fn serves(pair: &Pair, i: usize, host: &str) -> bool {
    let sent = reqwest::Client::new()
        .get(format!("http://{}:{}/", ip(i), pair.caddy.http_port))
        .header(header::HOST, host)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    match sent {
        Ok(r) => r.status() == 200 && r.text().await.unwrap_or_default().starts_with("app "),
        Err(_) => false,
    }
}

fn burst(s: &Server, pair: &Pair, prefix: &str, n: usize) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..n)
        .map(|i| {
            let (client, base) = (s.client.clone(), s.base.clone());
            let body = pair.vhost(&format!("{prefix}{i}.example.com"));
            tokio::spawn(async move {
                match client
                    .post(format!("{base}/api/vhosts"))
                    .header(header::ORIGIN, &base)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                }
            })
        })
        .collect()
}

#[tokio::test]
async fn concurrent_creates_through_two_replicas_land_on_every_node() {
    let pair = Pair::start(&[]).await;
    let _more = fleet(&pair).await;
    let tasks: Vec<_> = burst(&pair.a, &pair, "a", 8)
        .into_iter()
        .chain(burst(&pair.b, &pair, "b", 8))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let stored = domains(&pair.a).await;
    assert_eq!(stored.len(), 16);
    assert_eq!(domains(&pair.b).await, stored);
    for i in 0..3 {
        for d in &stored {
            assert!(serves(&pair, i, d).await, "node {i} serves {d}");
        }
    }
    for s in [&pair.a, &pair.b] {
        let status: Value = get_json(s, "/api/cluster/status").await;
        assert_eq!(status["inSync"], true, "{status}");
        assert_eq!(status["nodes"].as_array().unwrap().len(), 3);
    }
}

#[tokio::test]
async fn a_replica_killed_during_changes_leaves_every_node_serving_the_store() {
    let mut pair = Pair::start(&[]).await;
    let _more = fleet(&pair).await;
    let on_a = burst(&pair.a, &pair, "a", 12);
    let on_b = burst(&pair.b, &pair, "b", 6);
    tokio::time::sleep(Duration::from_millis(150)).await;
    pair.a.kill();
    for t in on_b {
        assert_eq!(t.await.unwrap(), 201, "replica b answers every change");
    }
    for t in on_a {
        let _ = t.await;
    }
    let r = post(&pair.b, "/api/vhosts", pair.vhost("after.example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let stored = domains(&pair.b).await;
    let consistent = eventually(Duration::from_secs(20), || async {
        for i in 0..3 {
            for n in 0..12 {
                let d = format!("a{n}.example.com");
                if serves(&pair, i, &d).await != stored.contains(&d) {
                    return false;
                }
            }
            for d in &stored {
                if !serves(&pair, i, d).await {
                    return false;
                }
            }
        }
        true
    })
    .await;
    assert!(
        consistent,
        "every node serves exactly the stored vhosts: {stored:?}"
    );
    let status: Value = get_json(&pair.b, "/api/cluster/status").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            get_json(&pair.b, "/api/cluster/status").await["inSync"] == true
        })
        .await,
        "{status}"
    );
}
