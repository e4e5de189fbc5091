//! Writing access-log lines the way Caddy does: one JSON object per line, appended.

use std::{io::Write, path::Path, time::Duration};

use serde_json::Value;

use reqwest::Client;

use crate::support::{eventually, TestApp};

/// A signed-in client of a proxyhub, in this process or not.
pub struct Api<'a> {
    pub client: &'a Client,
    pub base: &'a str,
}

/// The API of a proxyhub running as its own process.
pub fn api(server: &crate::support::server::Server) -> Api<'_> {
    Api {
        client: &server.client,
        base: &server.base,
    }
}

impl<'a> Api<'a> {
    pub fn of(app: &'a TestApp) -> Self {
        Self {
            client: &app.client,
            base: &app.base,
        }
    }
}

/// A Caddy 2.6 access-log line for request number `i` (its path is `/req/<i>`).
pub fn caddy_line(i: usize, host: &str, method: &str, status: u16, ts: f64) -> String {
    format!(
        r#"{{"level":"info","ts":{ts:.6},"logger":"http.log.access.proxyhub","msg":"handled request","request":{{"remote_ip":"10.0.0.{ip}","remote_port":"5{port:04}","client_ip":"203.0.113.{ip}","proto":"HTTP/1.1","method":"{method}","host":"{host}","uri":"/req/{i}","headers":{{"User-Agent":["test-agent/1.0"],"Accept":["*/*"]}}}},"user_id":"","duration":0.0123,"size":42,"status":{status},"resp_headers":{{"Content-Type":["text/plain"]}}}}"#,
        ip = i % 250,
        port = i % 10_000,
    )
}

/// Lines `from..to`, all for `a.example.com`, GET 200, a millisecond apart, recent.
pub fn numbered(from: usize, to: usize) -> Vec<String> {
    let base = now() - 3600.0;
    (from..to)
        .map(|i| caddy_line(i, "a.example.com", "GET", 200, base + i as f64 / 1000.0))
        .collect()
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Appends raw bytes (creating the file, as Caddy does after a rotation).
pub fn append_raw(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Appends whole lines, one write each.
pub fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        f.write_all(format!("{l}\n").as_bytes()).unwrap();
    }
}

/// `GET /api/logs?<query>`, expecting 200.
pub async fn logs(app: &Api<'_>, query: &str) -> Value {
    let r = app
        .client
        .get(format!("{}/api/logs?{query}", app.base))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// Waits until the store holds exactly `n` requests (and stays there a moment: no late duplicates).
/// Ingest runs at a lower priority than requests: on a machine busy with other tests it may
/// take a while, so the wait is long (it ends as soon as the count is reached).
pub async fn expect_total(app: &Api<'_>, n: i64) {
    let reached = eventually(Duration::from_secs(60), || async {
        logs(app, "limit=1").await["total"] == n
    })
    .await;
    let last = logs(app, "limit=1").await;
    assert!(
        reached,
        "expected {n} stored requests, have {}",
        last["total"]
    );
    // Rows that should not exist cannot be waited for: give a late duplicate a moment (more
    // than a tailer tick) to show up.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        logs(app, "limit=1").await["total"],
        n,
        "more rows arrived later"
    );
}

/// Every stored path, newest first, across all pages.
pub async fn all_paths(app: &Api<'_>) -> Vec<String> {
    let mut paths = Vec::new();
    for page in 1.. {
        let body = logs(app, &format!("limit=500&page={page}")).await;
        let rows = body["logs"].as_array().unwrap();
        if rows.is_empty() {
            break;
        }
        paths.extend(rows.iter().map(|r| r["path"].as_str().unwrap().to_string()));
    }
    paths
}

/// Asserts the store holds `/req/<i>` for exactly the `expected` numbers, each once.
pub async fn expect_requests(app: &Api<'_>, expected: impl IntoIterator<Item = usize>) {
    let mut got = all_paths(app).await;
    got.sort();
    let mut want: Vec<String> = expected.into_iter().map(|i| format!("/req/{i}")).collect();
    want.sort();
    let dupes = got.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(dupes, 0, "some requests were stored twice");
    let missing: Vec<_> = want
        .iter()
        .filter(|w| got.binary_search(w).is_err())
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing {missing:?} (and maybe more)");
    assert_eq!(got.len(), want.len());
}
