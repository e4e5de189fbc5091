//! Several proxyhub replicas on one PostgreSQL, behind any load balancer: they serve the same
//! API, take turns at changing the proxy, share sessions and rate limits, hand over the
//! reconciler when its holder dies, stream every replica's events and send each webhook
//! delivery once. Two real proxyhub processes, one real Caddy, one real PostgreSQL.

mod auth;
pub mod pair;
#[allow(dead_code)]
#[path = "../events/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{header, Client};
use serde_json::{json, Value};

use crate::support::eventually;
use pair::{domains, get_json, leader_is_a, leads, post, sign_in, Pair};

#[tokio::test]
async fn concurrent_creates_through_both_replicas_are_all_served_and_listed_alike() {
    let pair = Pair::start(&[]).await;
    let creates = (0..24).map(|i| {
        let replica = if i % 2 == 0 { &pair.a } else { &pair.b };
        let body = pair.vhost(&format!("site{i}.example.com"));
        async move {
            let r = post(replica, "/api/vhosts", body).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    for (status, body) in join_all(creates).await {
        assert_eq!(status, 201, "{body}");
    }
    let mut want: Vec<String> = (0..24).map(|i| format!("site{i}.example.com")).collect();
    want.sort();
    assert_eq!(domains(&pair.a).await, want, "replica a lists every vhost");
    assert_eq!(domains(&pair.b).await, want, "replica b lists every vhost");
    // Every answer came after Caddy ran what was committed: nothing to wait for.
    for d in &want {
        assert!(pair.serves(d).await, "Caddy serves {d}");
    }
    let pushes = |s: Value| s["pushes"].as_u64().unwrap();
    let total = pushes(get_json(&pair.a, "/api/status").await)
        + pushes(get_json(&pair.b, "/api/status").await);
    eprintln!("24 creates through two replicas: {total} pushes");
}

#[tokio::test]
async fn a_replica_killed_in_a_burst_leaves_the_other_going_and_caddy_serving_the_store() {
    let mut pair = Pair::start(&[]).await;
    let burst = |on: &pair::Pair, side: &str| {
        let replica = if side == "a" { &on.a } else { &on.b };
        let (client, base) = (replica.client.clone(), replica.base.clone());
        (0..20)
            .map(|i| {
                let (client, base) = (client.clone(), base.clone());
                let body = on.vhost(&format!("{side}{i}.example.com"));
                tokio::spawn(async move {
                    let r = client
                        .post(format!("{base}/api/vhosts"))
                        .header(header::ORIGIN, &base)
                        .json(&body)
                        .send()
                        .await;
                    match r {
                        Ok(r) => Some((r.status().as_u16(), r.text().await.unwrap_or_default())),
                        Err(_) => None,
                    }
                })
            })
            .collect::<Vec<_>>()
    };
    let on_a = burst(&pair, "a");
    let on_b = burst(&pair, "b");
    // In the middle of the burst: some of a's changes are answered, some are not.
    tokio::time::sleep(Duration::from_millis(150)).await;
    pair.a.kill();
    for t in on_b {
        let (status, body) = t.await.unwrap().expect("replica b answers every change");
        assert_eq!(status, 201, "{body}");
    }
    for t in on_a {
        let _ = t.await;
    }
    // b goes on.
    let r = post(&pair.b, "/api/vhosts", pair.vhost("after.example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let stored = domains(&pair.b).await;
    for i in 0..20 {
        assert!(stored.contains(&format!("b{i}.example.com")), "{stored:?}");
    }
    // What Caddy serves is what the store holds (once b's reconciler repaired what a may
    // have pushed and never committed).
    let consistent = eventually(Duration::from_secs(20), || async {
        for i in 0..20 {
            let d = format!("a{i}.example.com");
            if pair.serves(&d).await != stored.contains(&d) {
                return false;
            }
        }
        for d in &stored {
            if !pair.serves(d).await {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        consistent,
        "Caddy serves exactly the stored vhosts: {stored:?}"
    );
    let kept = stored.iter().filter(|d| d.starts_with('a')).count();
    eprintln!("a was killed with {kept} of its 20 creates committed");
}

#[tokio::test]
async fn the_reconciler_is_taken_over_within_seconds_when_its_leader_is_killed() {
    let mut pair = Pair::start(&[]).await;
    let r = post(&pair.a, "/api/vhosts", pair.vhost("kept.example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(pair.serves("kept.example.com").await);
    let a_leads = leader_is_a(&pair, "reconciler").await;
    let killed_at = Instant::now();
    if a_leads {
        pair.a.kill();
    } else {
        pair.b.kill();
    }
    // Caddy restarts with nothing: only a reconciler brings the vhost back.
    pair.caddy.restart().await;
    let repaired = eventually(Duration::from_secs(20), || pair.serves("kept.example.com")).await;
    assert!(repaired, "the surviving replica repaired Caddy");
    eprintln!(
        "the reconciler's lease taken over and Caddy repaired {:.1} s after the leader's SIGKILL",
        killed_at.elapsed().as_secs_f64()
    );
    let survivor = if a_leads { &pair.b } else { &pair.a };
    assert_eq!(leads(survivor, "reconciler").await, Some(true));
}

/// The session cookie a sign-in on `base` sets, as a `Cookie` header.
async fn session_cookie(base: &str) -> String {
    let r = sign_in(&Client::new(), base).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn a_session_from_one_replica_works_on_the_other_and_its_sign_out_holds_on_both() {
    let pair = Pair::start(&[]).await;
    let cookie = session_cookie(&pair.a.base).await;
    let client = Client::new();
    let session = |base: &str| {
        client
            .get(format!("{base}/api/auth/get-session"))
            .header(header::COOKIE, &cookie)
            .send()
    };
    let on_b: Value = session(&pair.b.base).await.unwrap().json().await.unwrap();
    assert_eq!(on_b["user"]["email"], pair::EMAIL, "{on_b}");
    let r = client
        .post(format!("{}/api/auth/sign-out", pair.b.base))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &pair.b.base)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let on_a: Value = session(&pair.a.base).await.unwrap().json().await.unwrap();
    assert_eq!(on_a, Value::Null, "signed out on a too");
    let r = client
        .get(format!("{}/api/vhosts", pair.a.base))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn rate_limits_are_counted_across_replicas() {
    let pair = Pair::start(&[
        ("PROXYHUB_API_RATE_LIMIT_READS", "6"),
        ("PROXYHUB_AUTH_RATE_LIMIT", "3"),
        ("PROXYHUB_TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    // API reads: six a minute for one session, wherever they land.
    let cookie = session_cookie(&pair.a.base).await;
    let client = Client::new();
    let mut remaining = Vec::new();
    for i in 0..7 {
        let base = if i % 2 == 0 {
            &pair.a.base
        } else {
            &pair.b.base
        };
        let r = client
            .get(format!("{base}/api/vhosts"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        if i < 6 {
            assert_eq!(r.status(), 200, "read {i}");
            remaining.push(
                r.headers()["x-ratelimit-remaining"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
        } else {
            assert_eq!(r.status(), 429, "the seventh read, on replica a");
            assert!(r.headers().contains_key(header::RETRY_AFTER));
        }
    }
    assert_eq!(remaining, ["5", "4", "3", "2", "1", "0"]);
    // Sign-in attempts: three per 10 s from one client address, wherever they land.
    let attempt = |base: String| {
        Client::new()
            .post(format!("{base}/api/auth/sign-in/email"))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"email": pair::EMAIL, "password": "wrong password"}))
            .send()
    };
    let mut statuses = Vec::new();
    for base in [&pair.a.base, &pair.b.base, &pair.a.base, &pair.b.base] {
        statuses.push(attempt(base.clone()).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test]
async fn the_event_stream_of_one_replica_shows_a_change_made_on_the_other() {
    let pair = Pair::start(&[]).await;
    let mut stream = pair
        .b
        .client
        .get(format!("{}/api/events", pair.b.base))
        .header(header::ACCEPT, "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let r = post(&pair.a, "/api/vhosts", pair.vhost("streamed.example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen.contains("event: vhost.created") && seen.contains("streamed.example.com")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("replica b streamed no vhost.created in 10 s: {seen}"));
        seen.push_str(&String::from_utf8_lossy(
            &chunk.unwrap().expect("the stream stays open"),
        ));
    }
}

#[tokio::test]
async fn each_webhook_delivery_is_sent_once_with_two_replicas_running() {
    let pair = Pair::start(&[("PROXYHUB_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let rx = receiver::Receiver::start("a-cluster-receivers-secret").await;
    let r = post(
        &pair.a,
        "/api/webhooks",
        json!({
            "url": rx.url(),
            // No drift here: a push by the replica that does not lead the reconciler is not
            // one for the leader.
            "events": ["vhost.created", "proxy.drift_repaired"],
            "secret": "a-cluster-receivers-secret",
        }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    for i in 0..6 {
        let replica = if i % 2 == 0 { &pair.a } else { &pair.b };
        let r = post(
            replica,
            "/api/vhosts",
            pair.vhost(&format!("hook{i}.example.com")),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
    }
    rx.wait_taken(6, 30).await;
    // Time for a second sender, were there one, to send again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = rx.taken();
    let events: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(events, ["vhost.created"; 6], "{got:#?}");
    let mut domains: Vec<&str> = got
        .iter()
        .map(|g| g.body["data"]["domain"].as_str().unwrap())
        .collect();
    domains.sort();
    let want: Vec<String> = (0..6).map(|i| format!("hook{i}.example.com")).collect();
    assert_eq!(domains, want, "each event delivered once: {got:#?}");
    assert!(got.iter().all(|g| g.verified));
    let mut ids: Vec<&str> = got.iter().map(|g| g.delivery.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "six deliveries, each with its own id");
    let a = leads(&pair.a, "webhooks").await.unwrap();
    let b = leads(&pair.b, "webhooks").await.unwrap();
    assert!(a != b, "one replica sends the webhooks (a: {a}, b: {b})");
}

#[tokio::test]
async fn a_change_on_one_replica_undoing_the_others_is_pushed_at_once() {
    let pair = Pair::start(&[]).await;
    let r = post(&pair.a, "/api/vhosts", pair.vhost("first.example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = post(&pair.b, "/api/vhosts", pair.vhost("second.example.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    assert!(pair.serves("second.example.com").await);
    // Replica a last pushed {first}: the store is back to that after this delete, yet Caddy
    // runs b's push, which a must not take for its own.
    let r = pair
        .a
        .client
        .delete(format!("{}/api/vhosts/{}", pair.a.base, second["id"]))
        .header(header::ORIGIN, &pair.a.base)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(
        !pair.serves("second.example.com").await,
        "the deleted vhost is not served once the delete is answered"
    );
    assert!(pair.serves("first.example.com").await);
}
