//! The load benchmark: `cargo bench --bench load`. proxyhub (the release binary, as its own
//! process, on SQLite) manages a real Caddy with BENCH_LOAD_SITES vhosts (200) while the
//! access log it follows grows by BENCH_LOAD_LINES_PER_S lines a second (50,000). It prints:
//! - the tailing cost: lines stored per CPU-second of proxyhub while it follows the log,
//!   against `proxyhub logs import` of as many lines, and how far behind the log it stayed;
//! - reads under load: each read endpoint's p50 at idle, then its p99 while BENCH_LOAD_CLIENTS
//!   signed-in clients (200) read the endpoints in turn, pausing 200 ms after each answer, a
//!   vhost changes every 2 s and the log grows; errors, and the rate served;
//! - memory: proxyhub's resident memory during that run, and idle on a store of
//!   BENCH_LOAD_ROWS requests (10,000,000), without the database file's mapped pages.
//!
//! It runs on the current Caddy release that `scripts/test` installs (else `caddy` on the
//! PATH; BENCH_CADDY names one). Under `cargo test` it runs a small version of itself as a
//! smoke test, which checks that it works and asserts no timing.

mod clients;
#[path = "../logs/gen.rs"]
mod gen;
mod memory;
#[path = "../support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clients::{ms, quantile, READS};
use reqwest::Client;
use serde_json::{json, Value};
use support::{free_port, signed_in, start_caddy, start_proxyhub_with};

/// The benchmark's sizes: the full run's, or the smoke run's.
struct Sizes {
    sites: usize,
    lines_per_s: u64,
    clients: usize,
    tail: Duration,
    load: Duration,
    idle_rounds: usize,
    rows: u64,
    /// The store's row budget: retention prunes while the log grows.
    budget: u64,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes {
            sites: env_or("BENCH_LOAD_SITES", 200) as usize,
            lines_per_s: env_or("BENCH_LOAD_LINES_PER_S", 50_000),
            clients: env_or("BENCH_LOAD_CLIENTS", 200) as usize,
            tail: Duration::from_secs(env_or("BENCH_LOAD_TAIL_SECONDS", 30)),
            load: Duration::from_secs(env_or("BENCH_LOAD_SECONDS", 60)),
            idle_rounds: 50,
            rows: env_or("BENCH_LOAD_ROWS", 10_000_000),
            budget: env_or("BENCH_LOAD_BUDGET", 2_000_000),
        }
    } else {
        Sizes {
            sites: 5,
            lines_per_s: 2_000,
            clients: 4,
            tail: Duration::from_secs(2),
            load: Duration::from_secs(3),
            idle_rounds: 2,
            rows: 5_000,
            budget: 5_000,
        }
    };
    let (label, bin) = support::caddies().pop().expect("a Caddy");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(full, &sizes, &label, &bin));
}

async fn run(full: bool, sizes: &Sizes, label: &str, caddy_bin: &Path) {
    let dir = support::bench_dir("bench-load", full);
    println!(
        "\n# Load benchmark: {label}, {}, {} vhosts, {} lines/s, {} clients",
        support::caddy_version(caddy_bin),
        sizes.sites,
        sizes.lines_per_s,
        sizes.clients
    );
    let (admin, http) = (free_port(), free_port());
    let _caddy = start_caddy(caddy_bin, &dir.join("caddy"), admin).await;
    let log = dir.join("access.log");
    std::fs::write(&log, "").unwrap();
    let budget = sizes.budget.to_string();
    let (proxyhub, base) = start_proxyhub_with(
        &dir,
        admin,
        http,
        &log,
        &[("PROXYHUB_LOG_MAX_ROWS", &budget)],
    )
    .await;
    let pid = proxyhub.0.id();
    let client = signed_in(&base, true).await;
    let mut ids = Vec::new();
    for k in 0..sizes.sites {
        let r = client
            .post(format!("{base}/api/vhosts"))
            .json(&json!({"domain": gen::host(k), "upstream": format!("127.0.0.1:{}", 10000 + k)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }

    let log_lines = Appender::new(&log);
    tail_cost(sizes, &dir, &client, &base, pid, &log_lines).await;
    let idle = clients::one_by_one(&client, &base, sizes.idle_rounds).await;
    assert!(idle.errors.is_empty(), "{:?}", idle.errors);
    under_load(sizes, &client, &base, pid, &dir, &log_lines, ids[0], &idle).await;
    drop(proxyhub);
    if sizes.rows > 0 {
        memory::idle_at_rows(sizes.rows, &dir.join("big")).await;
    }
    support::clean_up(&dir);
}

/// Writes lines of now to the followed log, at a rate, from a thread of its own.
struct Appender {
    log: std::path::PathBuf,
    written: Arc<AtomicU64>,
}

impl Appender {
    fn new(log: &Path) -> Self {
        Self {
            log: log.to_path_buf(),
            written: Arc::default(),
        }
    }

    /// Appends `per_s` lines a second until the returned flag is set (then join the thread).
    fn start(&self, per_s: u64) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, written, log) = (stop.clone(), self.written.clone(), self.log.clone());
        let handle = std::thread::spawn(move || {
            let mut lines = gen::Lines::live();
            let counted = AtomicU64::new(0);
            support::append_lines(&log, per_s, &s, &counted, |buf| lines.line(buf));
            written.fetch_add(counted.load(Ordering::Relaxed), Ordering::Relaxed);
        });
        (stop, handle)
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// Lines of the followed log stored (or skipped), from `GET /api/logs/status`: retention
/// may have pruned some since.
async fn stored(client: &Client, base: &str) -> u64 {
    let s = support::get_json(client, &format!("{base}/api/logs/status")).await;
    s["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["lines"].as_u64().unwrap_or(0))
        .sum()
}

/// Waits until every written line is stored; how long that took.
async fn caught_up(client: &Client, base: &str, written: u64) -> Duration {
    let t = Instant::now();
    while stored(client, base).await < written {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "ingest never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.elapsed()
}

/// Lines stored per CPU-second of proxyhub while it follows the log, against
/// `proxyhub logs import` of as many lines into a store of its own.
async fn tail_cost(
    sizes: &Sizes,
    dir: &Path,
    client: &Client,
    base: &str,
    pid: u32,
    appender: &Appender,
) {
    // What proxyhub spends doing nothing, taken off the tailing's CPU time.
    let (c0, t0) = (memory::cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rate = (memory::cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();

    let (before, cpu0, t) = (appender.written(), memory::cpu_seconds(pid), Instant::now());
    let (stop, writer) = appender.start(sizes.lines_per_s);
    let mut behind = Vec::new();
    while t.elapsed() < sizes.tail {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (due, have) = (
            (t.elapsed().as_secs_f64() * sizes.lines_per_s as f64) as u64,
            stored(client, base).await - before,
        );
        behind.push(Duration::from_secs_f64(
            due.saturating_sub(have) as f64 / sizes.lines_per_s as f64,
        ));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let last = caught_up(client, base, appender.written()).await;
    let lines = appender.written() - before;
    let cpu = memory::cpu_seconds(pid) - cpu0 - idle_rate * t.elapsed().as_secs_f64();
    let tailing = lines as f64 / cpu;

    let file = dir.join("import.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    std::io::copy(
        &mut gen::Lines::new(lines, support::now(), sizes.tail.as_secs_f64()),
        &mut out,
    )
    .unwrap();
    drop(out);
    let import_cpu = memory::child_cpu(|| {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_proxyhub"))
            .args(["logs", "import", "--database-url"])
            .arg(format!("sqlite://{}", dir.join("import.db").display()))
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
    let bulk = lines as f64 / import_cpu;
    println!(
        "tailing cost: {lines} lines at {} lines/s stored at {tailing:.0} lines per CPU-second ({cpu:.2} s of CPU, idle {:.1}% taken off); `logs import` of as many: {bulk:.0} lines per CPU-second; ratio {:.2}× (target ≤ 1.5×)",
        sizes.lines_per_s,
        idle_rate * 100.0,
        bulk / tailing
    );
    println!(
        "freshness while tailing: behind the log by p50 {} / max {} (sampled every 250 ms); the last line stored {} after the writer stopped",
        ms(quantile(&behind, 0.5)),
        ms(quantile(&behind, 1.0)),
        ms(last)
    );
}

/// Each read endpoint's p99 under load against its idle p50; errors, rate, memory.
#[allow(clippy::too_many_arguments)]
async fn under_load(
    sizes: &Sizes,
    admin: &Client,
    base: &str,
    pid: u32,
    dir: &Path,
    appender: &Appender,
    vhost: i64,
    idle: &clients::Seen,
) {
    let mut crowd = Vec::new();
    for _ in 0..sizes.clients {
        crowd.push(signed_in(base, false).await);
    }
    let pause = Duration::from_millis(200);
    let before = appender.written();
    let (stop, writer) = appender.start(sizes.lines_per_s);
    let until = Instant::now() + sizes.load;
    let sampler = memory::Sampler::start(pid, dir.join("proxyhub.db"));
    let t = Instant::now();
    let seen = clients::crowd(
        crowd,
        admin.clone(),
        base,
        vhost,
        pause,
        Duration::from_millis(env_or("BENCH_LOAD_CHANGE_MS", 2000)),
        until,
    )
    .await;
    let took = t.elapsed();
    let peak = sampler.stop();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let lines = appender.written() - before;
    let behind = caught_up(admin, base, appender.written()).await;

    println!(
        "reads under load: {} clients pausing {} after each answer, {} lines/s, a change every 2 s, {} s",
        sizes.clients,
        ms(pause),
        sizes.lines_per_s,
        sizes.load.as_secs()
    );
    println!("| endpoint | idle p50 | load p50 | load p99 | p99 / idle p50 (≥ 1 ms) |");
    println!("|---|---|---|---|---|");
    let mut worst: f64 = 0.0;
    for (name, _) in READS {
        let (i, l) = (&idle.times[name], &seen.times[name]);
        let base_ms = quantile(i, 0.5).max(Duration::from_millis(1));
        let ratio = quantile(l, 0.99).as_secs_f64() / base_ms.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "| {name} | {} | {} | {} | {ratio:.1}× |",
            ms(quantile(i, 0.5)),
            ms(quantile(l, 0.5)),
            ms(quantile(l, 0.99))
        );
    }
    let changes = &seen.times["PUT /api/vhosts/:id"];
    println!(
        "worst read p99 / idle p50: {worst:.1}× (target ≤ 10×); changes: {} answered, p50 {} / p99 {}",
        changes.len(),
        ms(quantile(changes, 0.5)),
        ms(quantile(changes, 0.99))
    );
    println!(
        "{}",
        clients::slow_near_changes(&seen, Duration::from_millis(300))
    );
    let served = seen.requests() as f64 / took.as_secs_f64();
    let mean_idle = idle
        .times
        .values()
        .flatten()
        .sum::<Duration>()
        .as_secs_f64()
        / idle.requests() as f64;
    let offered = sizes.clients as f64 / (pause.as_secs_f64() + mean_idle);
    println!(
        "requests: {} in {:.1} s, {} errors{}; served {served:.0}/s of {offered:.0}/s offered (clients at idle speed) = {:.0}%",
        seen.requests(),
        took.as_secs_f64(),
        seen.errors.len(),
        match seen.errors.first() {
            Some(e) => format!(" (first: {e})"),
            None => String::new(),
        },
        100.0 * served / offered
    );
    let rows = support::get_json(admin, &format!("{base}/api/logs/status")).await["rows"].clone();
    println!(
        "ingest under load: {lines} lines written at {} lines/s, all stored {} after the load ended; the store holds {rows} requests (budget {})",
        sizes.lines_per_s,
        ms(behind),
        sizes.budget
    );
    println!(
        "proxyhub's resident memory under load (peak, MiB): {:.0} total, {:.0} anonymous, {:.0} without the database file's mapped pages (target ≤ 150)",
        peak.total, peak.anonymous, peak.without_db
    );
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
}
