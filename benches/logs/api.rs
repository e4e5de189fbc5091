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

/// Latencies per kind: one warm-up pass, then `rounds` passes over every kind.
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
