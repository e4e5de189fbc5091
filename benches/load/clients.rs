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
    pub errors: Vec<String>,
}

impl Seen {
    fn record(&mut self, what: &'static str, took: Duration, outcome: Result<(), String>) {
        self.times.entry(what).or_default().push(took);
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
            seen.record(name, t.elapsed(), outcome);
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
                seen.lock().await.record(name, t.elapsed(), outcome);
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
                seen.lock()
                    .await
                    .record("PUT /api/vhosts/:id", t.elapsed(), outcome);
                n += 1;
                tokio::time::sleep(change_every.saturating_sub(t.elapsed())).await;
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
