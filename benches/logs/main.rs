//! The access-log benchmark: `cargo bench --bench logs`. Under `cargo test` it runs a tiny
//! version of itself as a smoke test. Sizes: BENCH_LINES (default 1,000,000) lines for the
//! ingest comparison, BENCH_ROWS (default 10,000,000) rows for the big store.

mod api;
mod gen;
mod store;

use std::{path::Path, process::Command, time::Instant};

use proxyhub::logs::ingest::import;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let cpu = pin_to_one_cpu();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(full, cpu));
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(full: bool, cpu: Option<usize>) {
    let (lines, big, rounds) = if full {
        (
            env_or("BENCH_LINES", 1_000_000),
            env_or("BENCH_ROWS", 10_000_000),
            100,
        )
    } else {
        (3_000, 30_000, 2)
    };
    // The smoke run has its own directory: it never removes a kept benchmark's stores.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(match full {
        true => "bench-logs",
        false => "bench-logs-smoke",
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "# access-log benchmark ({})",
        match cpu {
            Some(c) => format!("pinned to CPU {c}"),
            None => "not pinned".into(),
        }
    );

    let file = dir.join("access.log");
    let end = now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    std::io::copy(&mut gen::Lines::new(lines, end, 86_400.0), &mut out).unwrap();
    drop(out);
    let bytes = std::fs::metadata(&file).unwrap().len();
    println!(
        "\n{lines} Caddy lines, {} bytes each on average, {} hosts",
        bytes / lines,
        gen::HOSTS
    );

    let db = store::fresh(&dir.join("ingest.db")).await;
    // Imported as proxyhub's log writers write: through their own pool.
    let writer =
        proxyhub::db::connect_writer(&format!("sqlite://{}", dir.join("ingest.db").display()))
            .await
            .unwrap();
    let t = Instant::now();
    let report = import::import(
        &writer,
        std::slice::from_ref(&file),
        Default::default(),
        false,
    )
    .await
    .unwrap();
    let ours = lines as f64 / t.elapsed().as_secs_f64();
    assert_eq!(report.rows, lines, "every line stored");
    assert_eq!(store::queryable(&db).await, lines as i64);
    println!("proxyhub ingest into SQLite (parsed, committed, queryable): {ours:.0} lines/s");
    match goaccess(&file, &dir) {
        Some(theirs) => println!(
            "GoAccess on the same file: {theirs:.0} lines/s; proxyhub is {:.1}× GoAccess",
            ours / theirs
        ),
        None => println!("GoAccess is not installed: no comparison"),
    }
    db.close().await;
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_file(&file);
    }
    if big == 0 {
        return;
    }

    let small = 10_000.min(big / 3);
    let mut p99s = Vec::new();
    for rows in [small, big] {
        let (client, base, span, _app) = store::serve(&dir, rows, end).await;
        let times = api::measure(&client, &base, rounds, end, span).await;
        let all: Vec<_> = times.iter().flatten().copied().collect();
        println!(
            "\nGET /api/logs on {rows} rows, {} requests: p50 {}, p99 {}",
            all.len(),
            api::ms(api::percentile(&all, 0.5)),
            api::ms(api::percentile(&all, 0.99))
        );
        println!("| query | p50 | p99 |\n|---|---|---|");
        for (kind, t) in api::KINDS.iter().zip(&times) {
            println!(
                "| {kind} | {} | {} |",
                api::ms(api::percentile(t, 0.5)),
                api::ms(api::percentile(t, 0.99))
            );
        }
        p99s.push(api::percentile(&all, 0.99));
    }
    println!(
        "\np99 at {big} rows is {:.2}× p99 at {small} rows",
        p99s[1].as_secs_f64() / p99s[0].as_secs_f64()
    );
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// GoAccess's lines/s on `file` (`goaccess FILE --log-format=CADDY -o report.json`), if installed.
fn goaccess(file: &Path, dir: &Path) -> Option<f64> {
    let lines = std::fs::read(file)
        .ok()?
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let t = Instant::now();
    let out = Command::new("goaccess")
        .arg(file)
        .arg("--log-format=CADDY")
        .arg("-o")
        .arg(dir.join("report.json"))
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        println!("GoAccess failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(lines as f64 / secs)
}

/// Runs this process (and what it starts: SQLite's worker, GoAccess) on one CPU.
#[allow(unsafe_code)]
fn pin_to_one_cpu() -> Option<usize> {
    // SAFETY: plain libc calls on a zeroed, correctly sized cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return None;
        }
        let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set))?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        (libc::sched_setaffinity(0, size, &one) == 0).then_some(cpu)
    }
}
