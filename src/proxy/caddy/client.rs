//! Caddy's admin API, as proxyhub uses it: `/adapt` (one site's Caddyfile to JSON),
//! `POST /config/` (the whole JSON config, with `If-Match` on the ETag proxyhub last saw:
//! `/load` ignores `If-Match`), `GET /config/` (its ETag, a header since Caddy 2.7 and a
//! trailer in 2.6; the body is searched for a load's marker as it streams in, never parsed)
//! and `GET /reverse_proxy/upstreams` (the proxies' counts of each upstream).
//!
//! Caddy 2.11 replaces its admin server on every `/load`, so a connection kept alive across
//! one can die under the next request, and for a moment nothing accepts. No admin connection
//! is kept alive (every request has its own), at most a few requests are in flight at once
//! (a thousand changes at a time must not open a thousand connections to the admin API), and
//! what is safe to repeat (`/adapt`, `GET /config/`) is tried again when its connection
//! fails or breaks: a Caddy that is down is told apart by still failing after the retries.

use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::Value;

use crate::proxy::{ProxyError, UpstreamCounts};

/// A client of one Caddy's admin API.
pub struct Admin {
    base: String,
    http: reqwest::Client,
    in_flight: tokio::sync::Semaphore,
}

/// Attempts of a request that is safe to repeat.
const ATTEMPTS: u32 = 4;
/// Requests to the admin API at once.
const IN_FLIGHT: usize = 8;

impl Admin {
    pub fn new(base: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
        })
    }

    /// Adapts a Caddyfile; returns the adapted config (`result`).
    pub async fn adapt(&self, caddyfile: &str) -> Result<Value, ProxyError> {
        let text = self
            .retried(
                || {
                    self.http
                        .post(format!("{}/adapt", self.base))
                        .header(reqwest::header::CONTENT_TYPE, "text/caddyfile")
                        .body(caddyfile.to_string())
                },
                answer,
            )
            .await?;
        let mut v: Value = serde_json::from_str(&text)
            .map_err(|e| self.unreachable(format!("/adapt answered no JSON: {e}")))?;
        Ok(v.get_mut("result").map(Value::take).unwrap_or(Value::Null))
    }

    /// Replaces the whole config (once: a load is not repeated behind the caller's back),
    /// if it is still the one whose ETag is `if_match`. `Ok(false)`: it is not (412), and
    /// nothing was loaded.
    pub async fn load(
        &self,
        body: bytes::Bytes,
        if_match: Option<&str>,
    ) -> Result<bool, ProxyError> {
        let _turn = self.turn().await;
        let mut req = self
            .http
            .post(format!("{}/config/", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(etag) = if_match {
            req = req.header(reqwest::header::IF_MATCH, etag);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        if resp.status() == reqwest::StatusCode::PRECONDITION_FAILED {
            return Ok(false);
        }
        answer(resp).await.map(|_| true).map_err(|e| match e {
            Failure::Refused(msg) => ProxyError::Rejected(msg),
            Failure::Broken(e) => self.unreachable(e),
            Failure::Fatal(e) => e,
        })
    }

    /// The running config's ETag (`GET /config/`), and with `marker` whether the config holds
    /// that text; the body is read in chunks, never held whole, and not read at all when the
    /// ETag is a header and no marker is looked for.
    pub async fn config_etag(&self, marker: Option<&str>) -> Result<(String, bool), ProxyError> {
        let marker = marker.unwrap_or_default().as_bytes();
        self.retried(
            || self.http.get(format!("{}/config/", self.base)),
            |resp| async move {
                if !resp.status().is_success() {
                    let status = resp.status();
                    return Err(Failure::Fatal(
                        self.unreachable(format!("GET /config/ answered {status}")),
                    ));
                }
                let (etag, found) = read_config(resp, marker).await.map_err(Failure::Broken)?;
                let etag = etag.ok_or_else(|| {
                    Failure::Fatal(ProxyError::Unreachable(format!(
                        "{} answered GET /config/ without an ETag: not a Caddy admin API \
                         (Caddy 2.6 or later)",
                        self.base
                    )))
                })?;
                Ok((etag, found))
            },
        )
        .await
    }

    /// The upstreams Caddy's proxies dial, with its counts of them
    /// (`GET /reverse_proxy/upstreams`).
    pub async fn upstreams(&self) -> Result<Vec<UpstreamCounts>, ProxyError> {
        let text = self
            .retried(
                || {
                    self.http
                        .get(format!("{}/reverse_proxy/upstreams", self.base))
                },
                answer,
            )
            .await?;
        let list: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
            self.unreachable(format!(
                "/reverse_proxy/upstreams answered no JSON list: {e}"
            ))
        })?;
        let count = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
        Ok(list
            .iter()
            .filter_map(|u| {
                Some(UpstreamCounts {
                    address: u.get("address")?.as_str()?.to_string(),
                    num_requests: count(u, "num_requests"),
                    fails: count(u, "fails"),
                })
            })
            .collect())
    }

    /// Sends a request that is safe to repeat, and reads its answer with `read`; both again
    /// when the connection fails or the answer breaks off.
    async fn retried<T, Fut>(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        read: impl Fn(reqwest::Response) -> Fut,
    ) -> Result<T, ProxyError>
    where
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let _turn = self.turn().await;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let resp = match request().send().await {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match read(resp).await {
                Ok(v) => return Ok(v),
                Err(Failure::Refused(msg)) => return Err(ProxyError::Rejected(msg)),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Broken(e)) => last = e,
            }
        }
        Err(self.unreachable(last))
    }

    async fn turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.in_flight.acquire().await.expect("never closed")
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ProxyError {
        ProxyError::Unreachable(format!(
            "Caddy's admin API at {} did not answer: {e}",
            self.base
        ))
    }
}

enum Failure {
    /// Caddy answered with an error: its own message.
    Refused(String),
    /// The answer broke off (worth trying again).
    Broken(String),
    /// An answer not worth trying again for.
    Fatal(ProxyError),
}

async fn answer(resp: reqwest::Response) -> Result<String, Failure> {
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| Failure::Broken(e.to_string()))?;
    if status.is_success() {
        return Ok(text);
    }
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text);
    Err(Failure::Refused(msg))
}

/// The ETag of a `GET /config/` answer (its header, or else its trailer), and whether
/// `marker` (if not empty) occurs in the body, read as it streams in.
async fn read_config(
    resp: reqwest::Response,
    marker: &[u8],
) -> Result<(Option<String>, bool), String> {
    let etag_of = |h: &reqwest::header::HeaderMap| {
        h.get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut etag = etag_of(resp.headers());
    if etag.is_some() && marker.is_empty() {
        return Ok((etag, true));
    }
    let mut found = marker.is_empty();
    // The end of the previous chunk, for a marker split between two chunks.
    let mut tail: Vec<u8> = Vec::new();
    let mut body = http::Response::from(resp).into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        match frame.into_data() {
            Ok(chunk) => {
                if !found {
                    tail.extend_from_slice(&chunk);
                    found = tail.windows(marker.len()).any(|w| w == marker);
                    let keep = marker.len().saturating_sub(1).min(tail.len());
                    tail.drain(..tail.len() - keep);
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    etag = etag.or_else(|| etag_of(&trailers));
                }
            }
        }
    }
    Ok((etag, found))
}

/// 100, 200, 400 ms: a Caddy replacing its admin server is back within them.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50 << attempt)
}
