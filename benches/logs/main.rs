//! The access-log benchmark: `cargo bench --bench logs`. Under `cargo test` it runs a tiny
//! version of itself as a smoke test. Sizes: BENCH_LINES (default 1,000,000) lines of each
//! workload (a fifth as many long lines) for the ingest comparison; BENCH_ROWS (default 10,000,000; a comma-separated
//! list for several, like `10000000,100000000`) rows for the big stores, each measured
//! against a store of 10,000 rows. BENCH_KEEP=1 keeps the stores, and a later run with it
//! set serves the stores it finds instead of building them again.

mod api;
mod gen;
mod ingest;
mod store;

use std::path::Path;

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

/// Store sizes: a comma-separated list (`0` or nothing: no stores).
fn sizes(name: &str, default: u64) -> Vec<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect(),
        Err(_) => vec![default],
    }
}

async fn run(full: bool, cpu: Option<usize>) {
    let (lines, big, rounds) = if full {
        (
            env_or("BENCH_LINES", 1_000_000),
            sizes("BENCH_ROWS", 10_000_000),
            100,
        )
    } else {
        (3_000, vec![30_000], 2)
    };
    let keep = full && std::env::var_os("BENCH_KEEP").is_some();
    // The smoke run has its own directory: it never removes a kept benchmark's stores.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(match full {
        true => "bench-logs",
        false => "bench-logs-smoke",
    });
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "# access-log benchmark ({})",
        match cpu {
            Some(c) => format!("pinned to CPU {c}"),
            None => "not pinned".into(),
        }
    );

    let end = now();
    let mut compared = Vec::new();
    for workload in gen::Workload::ALL {
        if lines == 0 {
            break;
        }
        // GoAccess reads long lines slowly: a fifth as many of them take as long.
        let n = match workload {
            gen::Workload::Long => (lines / 5).max(1),
            _ => lines,
        };
        let c = ingest::compare(&dir, workload, n, end).await;
        println!(
            "{}: {} bytes/line, proxyhub {:.0} lines/s, GoAccess {}",
            workload.name(),
            c.bytes_per_line,
            c.ours,
            c.goaccess
                .map_or("not installed".into(), |g| format!("{g:.0} lines/s"))
        );
        compared.push(c);
    }
    ingest::print(&compared);
    if big.is_empty() {
        return;
    }

    let small = 10_000.min(big[0] / 3);
    let mut measured = Vec::new();
    for rows in std::iter::once(small).chain(big.iter().copied()) {
        let s = store::serve(&dir, rows, end, keep).await;
        let times = api::measure(&s.client, &s.base, rounds, s.end, s.span).await;
        api::print_store(rows, &times);
        measured.push((rows, times));
    }
    api::print_table(&measured);
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
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
