//! The fleet benchmark: `cargo bench --bench fleet`. proxyhub (the release binary, as its
//! own process, on SQLite) manages a fleet of 5 real Caddy nodes, each serving the sites on
//! its own loopback address (127.0.0.1 to .5), built through the nodes API; it fills them
//! with BENCH_FLEET_SITES vhosts (default 2,000, created 100 at a time), then measures one
//! change (`PUT` of one vhost's upstream) with 1 node active (the other 4 offline) and with
//! all 5: proxyhub loads a change onto every active node at once, so 5 nodes should cost
//! about one load-time, not five. Caddy's own JSON `/load` of the same config on a sixth,
//! clean Caddy is the reference load-time. It runs on every Caddy it finds: Debian's (`caddy`
//! on the PATH) and the current release that `scripts/test` installs
//! (tests/.tools/caddy-current); BENCH_CADDY names one instead. Under `cargo test` it runs a
//! small version of itself as a smoke test, which checks that every node serves the fleet's
//! sites and that the fleet is in sync (never timings).

#[path = "../support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use reqwest::Client;
use serde_json::{json, Value};
use support::{
    create, for_reference, free_port, load_times, median, pushes, running_config, s, signed_in,
    start_caddy, start_proxyhub, Proc,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The fleet's size.
const NODES: usize = 5;

fn main() {
    support::each_caddy(|full, label, bin| async move { run(full, &label, &bin).await });
}

/// The loopback address node `i` serves the sites on.
fn ip(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

async fn run(full: bool, label: &str, caddy_bin: &Path) {
    let sites = if full {
        std::env::var("BENCH_FLEET_SITES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000)
    } else {
        30
    };
    let burst = 100;
    let rounds = if full { 9 } else { 2 };
    let version = support::caddy_version(caddy_bin);
    let dir = support::bench_dir("bench-fleet", full);
    println!("\n# Fleet benchmark: {label}, {version}, {NODES} nodes, {sites} vhosts");

    let http = free_port();
    let admins: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    let mut logs = Vec::new();
    for (i, &admin) in admins.iter().enumerate() {
        let node_dir = dir.join(format!("edge-{}", i + 1));
        nodes.push(start_caddy(caddy_bin, &node_dir, admin).await);
        logs.push(node_dir.join("caddy.log"));
    }
    let ref_admin = free_port();
    let _reference = start_caddy(caddy_bin, &dir.join("reference"), ref_admin).await;
    let (mut proxyhub, base) = start_proxyhub(&dir, admins[0], http, &dir.join("access.log")).await;
    let client = signed_in(&base, true).await;
    let ids = build_fleet(&client, &base, &admins).await;

    let t = Instant::now();
    let mut vhosts = Vec::new();
    for chunk in (0..sites).collect::<Vec<_>>().chunks(burst) {
        vhosts.extend(create(&client, &base, chunk, "f").await);
    }
    println!(
        "fill: {sites} vhosts on {NODES} nodes, created {burst} at a time, in {} ({} pushes)",
        s(t.elapsed()),
        pushes(&client, &base).await
    );
    // One more, whose upstream answers: every node must serve it.
    let up = upstream().await;
    let served = "served.fleet.example.com";
    let r = client
        .post(format!("{base}/api/vhosts"))
        .json(&json!({"domain": served, "upstream": format!("127.0.0.1:{up}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
    for i in 0..NODES {
        assert_eq!(
            through(i, http, served).await,
            "up",
            "edge-{} serves {served}",
            i + 1
        );
    }

    // One change with 1 node active, then with all of them.
    let id = vhosts[vhosts.len() / 2];
    let mut turn = 0;
    for &node in &ids[1..] {
        set_state(&client, &base, node, "offline").await;
    }
    let fleet = Measured {
        nodes: &nodes,
        logs: &logs,
        proxyhub: &proxyhub,
    };
    let one = changes(&client, &base, id, &mut turn, rounds, &fleet, 1).await;
    for &node in &ids[1..] {
        set_state(&client, &base, node, "active").await;
    }
    let all = changes(&client, &base, id, &mut turn, rounds, &fleet, NODES).await;
    let status = cluster_status(&client, &base).await;
    assert_eq!(status["inSync"], true, "{status}");
    let listed = status["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), NODES, "{status}");
    for n in listed {
        assert_eq!(n["state"], "active", "{n}");
        assert_eq!(n["reachable"], true, "{n}");
        assert_eq!(n["inSync"], true, "{n}");
    }
    for i in 0..NODES {
        assert_eq!(
            through(i, http, served).await,
            "up",
            "edge-{} serves {served} after the changes",
            i + 1
        );
    }

    // The reference: Caddy's own JSON /load of the configs the first node ran, on a clean
    // Caddy.
    let mut configs = Vec::new();
    for _ in 0..2 {
        change(&client, &base, id, &mut turn).await;
        configs.push(for_reference(&running_config(admins[0]).await, ref_admin));
    }
    let reference = median(load_times(ref_admin, &configs, rounds).await);

    println!("| one change at {sites} vhosts (median of {rounds}) | wall time | each node's load (from its log) | loads in progress at once | CPU per change: Caddy nodes / proxyhub |");
    println!("|---|---|---|---|---|");
    for (what, m) in [
        ("1 node active (4 offline)", &one),
        (&*format!("all {NODES} nodes active"), &all),
    ] {
        println!(
            "| {what} | {} | {} | {} | {:.3} s / {:.3} s |",
            s(m.wall),
            m.loads.as_ref().map_or("?".into(), |l| if m.active > 1 {
                format!(
                    "{}, begun within {:.1} ms of each other",
                    s(l.each),
                    l.spread.as_secs_f64() * 1e3
                )
            } else {
                s(l.each)
            }),
            m.loads
                .as_ref()
                .map_or("?".into(), |l| format!("{:.1}", l.at_once)),
            m.caddy_cpu,
            m.proxyhub_cpu
        );
    }
    println!(
        "| ratio {NODES} nodes / 1 node (target ≈ 1, far below {NODES}) | **{:.2}×** | | | |",
        all.wall.as_secs_f64() / one.wall.as_secs_f64()
    );
    println!(
        "| Caddy's own JSON `/load` of that config on one clean Caddy (reference load-time) | {} | | | |",
        s(reference)
    );
    println!(
        "({} CPU cores here, shared by the {NODES} nodes: in a real fleet each node loads on its own machine)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = proxyhub.0.kill();
    support::clean_up(&dir);
}

/// The fleet of [`NODES`] through the API, each node serving on its own address; returns the
/// node ids, in the order of `admins`. proxyhub starts with the first node seeded from
/// PROXYHUB_CADDY_ADMIN, listening on every address: while there is no vhost yet (no node
/// listens), the others are added, the seeded one removed and added back with its address.
async fn build_fleet(client: &Client, base: &str, admins: &[u16]) -> Vec<i64> {
    let seeded = support::get_json(client, &format!("{base}/api/nodes")).await;
    assert_eq!(seeded.as_array().map(Vec::len), Some(1), "{seeded}");
    let mut ids = vec![0; admins.len()];
    for (i, &admin) in admins.iter().enumerate().skip(1) {
        ids[i] = add_node(client, base, i, admin).await;
    }
    let r = client
        .delete(format!("{base}/api/nodes/{}", seeded[0]["id"]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    ids[0] = add_node(client, base, 0, admins[0]).await;
    ids
}

async fn add_node(client: &Client, base: &str, i: usize, admin: u16) -> i64 {
    let r = client
        .post(format!("{base}/api/nodes"))
        .json(&json!({
            "name": format!("edge-{}", i + 1),
            "adminUrl": format!("http://127.0.0.1:{admin}"),
            "bind": ip(i),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn set_state(client: &Client, base: &str, node: i64, state: &str) {
    let r = client
        .patch(format!("{base}/api/nodes/{node}"))
        .json(&json!({ "state": state }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{state}: {:?}", r.text().await);
}

async fn cluster_status(client: &Client, base: &str) -> Value {
    support::get_json(client, &format!("{base}/api/cluster/status")).await
}

/// One change: vhost `id`'s upstream, another each `turn`.
async fn change(client: &Client, base: &str, id: i64, turn: &mut usize) -> Duration {
    let upstream = format!("127.0.0.1:{}", 20000 + *turn % 2);
    *turn += 1;
    let t = Instant::now();
    let r = client
        .put(format!("{base}/api/vhosts/{id}"))
        .json(&json!({ "upstream": upstream }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    t.elapsed()
}

/// The fleet's processes, measured during changes.
struct Measured<'a> {
    nodes: &'a [Proc],
    /// Each node's Caddy log, in the order of `nodes`.
    logs: &'a [PathBuf],
    proxyhub: &'a Proc,
}

/// What one phase of changes measured.
struct Phase {
    /// How many nodes were active (the first ones).
    active: usize,
    /// The median time of one change, as the API client sees it.
    wall: Duration,
    /// The nodes' loads, from their logs (`None` when the logs do not show one load per
    /// change on every active node).
    loads: Option<Loads>,
    /// CPU the Caddy nodes and proxyhub spent per change, in seconds.
    caddy_cpu: f64,
    proxyhub_cpu: f64,
}

/// The loads of the active nodes, one per node and change.
struct Loads {
    /// The median time from a node's receipt of the config to its autosave (the config run).
    each: Duration,
    /// The median time between the first and the last node's receipt of one change.
    spread: Duration,
    /// How many loads were in progress at once, on average over each change's span: the
    /// active nodes' count when they all load at once, 1 when one after another.
    at_once: f64,
}

/// `rounds` changes after one unmeasured one, with the first `active` nodes active.
async fn changes(
    client: &Client,
    base: &str,
    id: i64,
    turn: &mut usize,
    rounds: usize,
    fleet: &Measured<'_>,
    active: usize,
) -> Phase {
    change(client, base, id, turn).await;
    let caddy_cpu = || fleet.nodes.iter().map(|n| cpu(n.0.id())).sum::<f64>();
    let (caddy0, ours0) = (caddy_cpu(), cpu(fleet.proxyhub.0.id()));
    let from = unix_now();
    let mut times = Vec::new();
    for _ in 0..rounds {
        times.push(change(client, base, id, turn).await);
    }
    let to = unix_now();
    let per = |a: f64, b: f64| (b - a) / rounds as f64;
    let (caddy_cpu, proxyhub_cpu) = (
        per(caddy0, caddy_cpu()),
        per(ours0, cpu(fleet.proxyhub.0.id())),
    );
    let logged: Vec<Vec<(f64, f64)>> = fleet.logs[..active]
        .iter()
        .map(|l| loads_logged(l, from, to))
        .collect();
    Phase {
        active,
        wall: median(times),
        loads: overlap(&logged, rounds),
        caddy_cpu,
        proxyhub_cpu,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A node's loads between `from` and `to` (Unix seconds), from its log: when it received each
/// `POST /config/`, and when it autosaved that config (which it does once it runs it).
fn loads_logged(log: &Path, from: f64, to: f64) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = Vec::new();
    let mut received = None;
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(ts) = entry["ts"].as_f64().filter(|ts| (from..=to).contains(ts)) else {
            continue;
        };
        if entry["msg"] == "received request"
            && entry["method"] == "POST"
            && entry["uri"] == "/config/"
        {
            received = Some(ts);
        } else if entry["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("autosaved config"))
        {
            if let Some(start) = received.take() {
                out.push((start, ts));
            }
        }
    }
    out
}

/// How the nodes' loads of each change overlapped; `None` unless every node logged one load
/// per change.
fn overlap(logged: &[Vec<(f64, f64)>], rounds: usize) -> Option<Loads> {
    if logged.is_empty() || logged.iter().any(|l| l.len() != rounds) {
        return None;
    }
    let secs = Duration::from_secs_f64;
    let (mut each, mut spread, mut at_once) = (Vec::new(), Vec::new(), 0.0);
    for k in 0..rounds {
        let change: Vec<(f64, f64)> = logged.iter().map(|l| l[k]).collect();
        let first = change.iter().map(|l| l.0).fold(f64::INFINITY, f64::min);
        let last = change.iter().map(|l| l.0).fold(f64::NEG_INFINITY, f64::max);
        let end = change.iter().map(|l| l.1).fold(f64::NEG_INFINITY, f64::max);
        let busy: f64 = change.iter().map(|(a, b)| b - a).sum();
        each.extend(change.iter().map(|(a, b)| secs(b - a)));
        spread.push(secs(last - first));
        at_once += busy / (end - first).max(1e-6) / rounds as f64;
    }
    Some(Loads {
        each: median(each),
        spread: median(spread),
        at_once,
    })
}

/// The CPU time a process has spent (user and system, all its threads), in seconds, from
/// /proc (in clock ticks of 1/100 s).
fn cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // After the command: state is field 3, utime field 14 and stime field 15.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// What node `i` answers for `host` on the sites' port: the body, or an empty string.
async fn through(i: usize, http: u16, host: &str) -> String {
    let r = Client::new()
        .get(format!("http://{}:{http}/", ip(i)))
        .header("host", host)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    match r {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// An upstream on a free loopback port that answers every request with `up`.
async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request).await;
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nup",
                    )
                    .await;
            });
        }
    });
    port
}
