//! Upstream health: a vhost with two upstreams spreads its traffic over both, proxyhub's own
//! probe reports each one (`GET /api/vhosts/{id}/health`), and when one stops, the probe says
//! so and the proxy sends everything to the other (Caddy through its active health check and
//! retries, nginx through `max_fails` and trying the next upstream).

use std::{collections::BTreeSet, time::Duration};

use serde_json::{json, Value};

use crate::support::{
    backend::{Backend, Kind},
    eventually, expect_error, Upstream,
};

for_each_proxy!(a_stopped_upstream_is_reported_and_traffic_fails_over);

const HOST: &str = "pool.example.com";

/// The names of the upstreams that answered ten requests, and whether every one was a 200.
async fn ten_requests(proxy: &Backend) -> (BTreeSet<String>, bool) {
    let mut names = BTreeSet::new();
    let mut all_ok = true;
    for _ in 0..10 {
        let (status, body) = proxy.through_proxy(HOST, "/").await;
        all_ok &= status == 200;
        names.insert(body.split(' ').next().unwrap_or_default().to_string());
    }
    (names, all_ok)
}

async fn health(proxy: &Backend, id: i64) -> Value {
    let r = proxy.app.get(&format!("/api/vhosts/{id}/health")).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The upstream `hostport` in a health answer.
fn upstream<'a>(h: &'a Value, hostport: &str) -> &'a Value {
    h["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["upstream"] == hostport)
        .unwrap_or_else(|| panic!("{hostport} is not in {h}"))
}

async fn a_stopped_upstream_is_reported_and_traffic_fails_over(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let alpha = Upstream::start("alpha").await;
    let beta = Upstream::start("beta").await;
    let (a, b) = (alpha.hostport(), beta.hostport());
    let check = json!({"path": "/healthz", "intervalSeconds": 1, "expectStatus": 200});
    let v = app
        .create_vhost(json!({
            "domain": HOST, "upstreams": [a, b], "loadBalancing": "round_robin",
            "healthCheck": check,
        }))
        .await;
    let id = v["id"].as_i64().unwrap();
    let plain = app
        .create_vhost(json!({"domain": "plain.example.com", "upstream": a}))
        .await;

    let both: BTreeSet<String> = ["alpha", "beta"].map(String::from).into();
    let spread = eventually(Duration::from_secs(10), || async {
        ten_requests(&proxy).await == (both.clone(), true)
    })
    .await;
    let last = ten_requests(&proxy).await;
    assert!(
        spread,
        "{kind} spreads requests over both upstreams: {last:?}"
    );

    let probed = eventually(Duration::from_secs(20), || async {
        let h = health(&proxy, id).await;
        [&a, &b].iter().all(|u| upstream(&h, u)["healthy"] == true)
    })
    .await;
    let h = health(&proxy, id).await;
    assert!(probed, "both upstreams are probed healthy: {h}");
    assert_eq!((h["id"].as_i64(), &h["domain"]), (Some(id), &json!(HOST)));
    assert_eq!(h["healthCheck"], check);
    let first = upstream(&h, &a);
    assert_eq!(first["lastStatus"], 200, "{h}");
    assert_eq!(first["recentFailures"], 0, "{h}");
    assert_eq!(first["lastError"], Value::Null, "{h}");
    assert!(first["latencyMs"].is_u64(), "{h}");
    assert!(
        first["lastCheck"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{h}"
    );
    match kind {
        // Caddy's counts of the upstream: its requests in flight and recent failures.
        Kind::Caddy => {
            assert!(first["proxy"]["numRequests"].is_u64(), "{h}");
            assert!(first["proxy"]["fails"].is_u64(), "{h}");
        }
        Kind::Nginx => assert_eq!(first["proxy"], Value::Null, "{h}"),
    }

    // A vhost without a health check lists its upstream, not probed.
    let p = health(&proxy, plain["id"].as_i64().unwrap()).await;
    assert_eq!(p["healthCheck"], Value::Null, "{p}");
    assert_eq!(upstream(&p, &a)["healthy"], Value::Null, "{p}");
    assert_eq!(upstream(&p, &a)["recentFailures"], 0, "{p}");

    drop(beta);
    let down = eventually(Duration::from_secs(20), || async {
        let h = health(&proxy, id).await;
        let gone = upstream(&h, &b);
        gone["healthy"] == false
            && gone["recentFailures"].as_u64() >= Some(1)
            && gone["lastError"].as_str().is_some_and(|e| !e.is_empty())
            && upstream(&h, &a)["healthy"] == true
    })
    .await;
    let h = health(&proxy, id).await;
    assert!(down, "the stopped upstream is reported unhealthy: {h}");
    assert_eq!(upstream(&h, &b)["lastStatus"], Value::Null, "{h}");
    // At a glance, in the vhost's own answer (the dashboard's list shows it).
    let v: Value = app
        .get(&format!("/api/vhosts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["upstreamHealth"],
        json!([{"upstream": a, "healthy": true}, {"upstream": b, "healthy": false}]),
        "{v}"
    );
    let p: Value = app
        .get(&format!("/api/vhosts/{}", plain["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["upstreamHealth"], Value::Null, "no health check: {p}");

    let (names, all_ok) = ten_requests(&proxy).await;
    assert!(
        all_ok,
        "every request is answered while one upstream is down"
    );
    assert_eq!(names, ["alpha".to_string()].into(), "only alpha answers");

    let r = app.get("/api/vhosts/999999/health").await;
    expect_error(r, 404, "NOT_FOUND").await;
}
