//! The signed-in API clients of the load benchmark: each reads the dashboard's endpoints in
//! turn, pausing between requests as a person or a script would; a changer edits a vhost every
//! few seconds. Latencies are kept per endpoint.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::Client;
use serde_json::json;
use tokio::sync::Mutex;

/// The read endpoints measured: a name and the path (with its query).
pub const READS: [(&str, &str); 9] = [
    ("GET /api/logs", "/api/logs"),
    (
        "GET /api/logs?domain",
        "/api/logs?domain=shop-001.example.com",
    ),
    ("GET /api/logs?status=5xx", "/api/logs?status=5xx"),
    ("GET /api/logs/stats", "/api/logs/stats"),
    ("GET /api/logs/status", "/api/logs/status"),
    ("GET /api/vhosts", "/api/vhosts"),
    ("GET /api/changelog", "/api/changelog"),
    ("GET /api/status", "/api/status"),
    ("GET /api/auth/get-session", "/api/auth/get-session"),
];

/// What the clients saw: latencies per endpoint (or `PUT /api/vhosts/:id`), and failures.
#[derive(Default)]
pub struct Seen {
    pub times: BTreeMap<&'static str, Vec<Duration>>,
    /// When each request began, with how long it took and what it was.
    pub log: Vec<(Instant, Duration, &'static str)>,
    pub errors: Vec<String>,
}

impl Seen {
    fn record(
        &mut self,
        what: &'static str,
        began: Instant,
        took: Duration,
        outcome: Result<(), String>,
    ) {
        self.times.entry(what).or_default().push(took);
        self.log.push((began, took, what));
        if let Err(e) = outcome {
            if self.errors.len() < 20 {
                self.errors.push(format!("{what}: {e}"));
            } else {
                self.errors.push(String::new());
            }
        }
    }

    pub fn requests(&self) -> usize {
        self.times.values().map(Vec::len).sum()
    }
}

async fn get(client: &Client, url: &str) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.map(|_| ()).map_err(|e| e.to_string()),
        Ok(r) => Err(format!(
            "{} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Each endpoint `n` times in turn by one client, one request at a time.
pub async fn one_by_one(client: &Client, base: &str, n: usize) -> Seen {
    let mut seen = Seen::default();
    for _ in 0..n {
        for (name, path) in READS {
            let t = Instant::now();
            let outcome = get(client, &format!("{base}{path}")).await;
            seen.record(name, t, t.elapsed(), outcome);
        }
    }
    seen
}

/// `clients` read the endpoints in turn until `until`, each pausing `pause` after every
/// answer; a changer puts a new upstream on vhost `vhost` every `change_every`.
pub async fn crowd(
    clients: Vec<Client>,
    admin: Client,
    base: &str,
    vhost: i64,
    pause: Duration,
    change_every: Duration,
    until: Instant,
) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for (k, client) in clients.into_iter().enumerate() {
        let (seen, base) = (seen.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            // Spread the clients over the first pause, as people arrive.
            tokio::time::sleep(pause.mul_f64(k as f64 / 200.0 % 1.0)).await;
            let mut i = k;
            while Instant::now() < until {
                let (name, path) = READS[i % READS.len()];
                let t = Instant::now();
                let outcome = get(&client, &format!("{base}{path}")).await;
                let took = t.elapsed();
                seen.lock().await.record(name, t, took, outcome);
                i += 1;
                tokio::time::sleep(pause).await;
            }
        }));
    }
    let changer = {
        let (seen, base) = (seen.clone(), base.to_string());
        tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                let t = Instant::now();
                let r = admin
                    .put(format!("{base}/api/vhosts/{vhost}"))
                    .json(&json!({"upstream": format!("127.0.0.1:{}", 20000 + n % 2)}))
                    .send()
                    .await;
                let outcome = match r {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Err(e.to_string()),
                };
                let took = t.elapsed();
                seen.lock()
                    .await
                    .record("PUT /api/vhosts/:id", t, took, outcome);
                n += 1;
                tokio::time::sleep_until((t + change_every).min(until).into()).await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    changer.await.unwrap();
    Arc::try_unwrap(seen).ok().unwrap().into_inner()
}

/// The `p` quantile (0–1) of `times`.
pub fn quantile(times: &[Duration], p: f64) -> Duration {
    let mut v = times.to_vec();
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Where the slowest 1% of reads fall: how many began within `window` after a change began,
/// and the share of the run those windows cover.
pub fn slow_near_changes(seen: &Seen, window: Duration) -> String {
    let changes: Vec<Instant> = seen
        .log
        .iter()
        .filter(|(_, _, w)| *w == "PUT /api/vhosts/:id")
        .map(|(t, _, _)| *t)
        .collect();
    let mut reads: Vec<_> = seen
        .log
        .iter()
        .filter(|(_, _, w)| *w != "PUT /api/vhosts/:id")
        .collect();
    reads.sort_by_key(|(_, d, _)| std::cmp::Reverse(*d));
    let slow = &reads[..reads.len().div_ceil(100)];
    let near = |t: Instant| changes.iter().any(|c| t + window >= *c && t <= *c + window);
    let close = slow.iter().filter(|(t, _, _)| near(*t)).count();
    let all = reads.iter().filter(|(t, _, _)| near(*t)).count();
    format!(
        "{close} of the {} slowest reads overlap a change's first {} (as do {:.0}% of all reads)",
        slow.len(),
        ms(window),
        100.0 * all as f64 / reads.len().max(1) as f64
    )
}
