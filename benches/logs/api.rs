//! `GET /api/logs` latency over HTTP, the same query mix on every store.

use std::time::{Duration, Instant};

use rand::{rngs::StdRng, Rng, SeedableRng};
use reqwest::Client;

use crate::gen::{host, HOSTS};

/// The kinds of query measured: filters alone and combined, first and deep pages.
pub const KINDS: [&str; 11] = [
    "newest page",
    "domain",
    "domain + status",
    "status=500",
    "status=5xx",
    "method=DELETE",
    "1-hour from/to",
    "q=/login",
    "domain + method + q",
    "page 100",
    "domain, page 20 × 500",
];

fn query(kind: usize, r: &mut StdRng, end: f64, span: f64) -> String {
    let d = host(r.gen_range(0..HOSTS));
    match kind {
        0 => String::new(),
        1 => format!("domain={d}"),
        2 => format!("domain={d}&status=404"),
        3 => "status=500".into(),
        4 => "status=5xx".into(),
        5 => "method=DELETE".into(),
        6 => {
            let from = end - r.gen::<f64>() * (span - 3600.0) - 3600.0;
            format!("from={}&to={}", iso(from), iso(from + 3600.0))
        }
        7 => "q=/login".into(),
        8 => format!("domain={d}&method=POST&q=orders"),
        9 => "page=100".into(),
        _ => format!("domain={d}&page=20&limit=500"),
    }
}

fn iso(epoch: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos((epoch * 1e9) as i128).unwrap();
    proxyhub::timestamps::iso(t)
}

/// Latencies per kind: one warm-up pass, then `rounds` passes over every kind, a second
/// apart.
pub async fn measure(
    client: &Client,
    base: &str,
    rounds: usize,
    end: f64,
    span: f64,
) -> Vec<Vec<Duration>> {
    let mut r = StdRng::seed_from_u64(11);
    let mut per_kind = vec![Vec::new(); KINDS.len()];
    for round in 0..=rounds {
        // proxyhub gives an answer again for a second to whoever asks the same question while
        // the store is unchanged: each round waits that out, so every request is computed.
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(1050)).await;
        }
        for (kind, times) in per_kind.iter_mut().enumerate() {
            let url = format!("{base}/api/logs?{}", query(kind, &mut r, end, span));
            let t = Instant::now();
            let resp = client.get(&url).send().await.expect("the API answers");
            assert_eq!(resp.status(), 200, "{url}");
            resp.bytes().await.expect("a body");
            if round > 0 {
                times.push(t.elapsed());
            }
        }
    }
    per_kind
}

pub fn percentile(times: &[Duration], p: f64) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The latencies of one store, per kind.
pub fn print_store(rows: u64, times: &[Vec<Duration>]) {
    let all: Vec<_> = times.iter().flatten().copied().collect();
    println!(
        "GET /api/logs on {rows} rows, {} requests: p50 {}, p99 {}",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99))
    );
}

/// p50 / p99 of every kind on every store, and each big store's p99 against the first's.
pub fn print_table(stores: &[(u64, Vec<Vec<Duration>>)]) {
    let sizes: Vec<String> = stores
        .iter()
        .map(|(r, _)| format!("{r} rows p50 / p99"))
        .collect();
    let ratios: Vec<String> = stores[1..]
        .iter()
        .map(|(r, _)| format!("p99 {r} / {}", stores[0].0))
        .collect();
    println!(
        "\n| query | {} | {} |",
        sizes.join(" | "),
        ratios.join(" | ")
    );
    println!("|---|{}", "---|".repeat(sizes.len() + ratios.len()));
    let all = |t: &Vec<Vec<Duration>>| t.iter().flatten().copied().collect::<Vec<_>>();
    let rows = KINDS
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            (
                kind.to_string(),
                stores.iter().map(|(_, t)| t[k].clone()).collect::<Vec<_>>(),
            )
        })
        .chain(std::iter::once((
            "all requests".to_string(),
            stores.iter().map(|(_, t)| all(t)).collect(),
        )));
    for (kind, per_store) in rows {
        let cells: Vec<String> = per_store
            .iter()
            .map(|t| format!("{} / {}", ms(percentile(t, 0.5)), ms(percentile(t, 0.99))))
            .collect();
        let p99 = |t: &[Duration]| percentile(t, 0.99).as_secs_f64();
        let ratios: Vec<String> = per_store[1..]
            .iter()
            .map(|t| format!("{:.2}×", p99(t) / p99(&per_store[0])))
            .collect();
        println!(
            "| {kind} | {} | {} |",
            cells.join(" | "),
            ratios.join(" | ")
        );
    }
}
