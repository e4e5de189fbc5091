//! The shipper's side: a [`Sink`] that posts chunks to the hub as batches of at most
//! `lines` lines, and asks the hub (never itself) where each file stands. While the hub is
//! unreachable, answers 5xx or 429, the same batch is sent again after a wait that doubles
//! up to [`MAX_WAIT`]: a line is never dropped, and the hub's position makes a repeat a no-op.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::Value;

use super::{Batch, Follow, Following, Position, Receipt};
use crate::logs::{
    ingest::{
        batch::IngestError,
        sink::{Chunk, Sink, Stored},
    },
    store::files::Source,
};

/// The longest wait between two tries.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
const FIRST_WAIT: Duration = Duration::from_millis(250);

/// The hub, as a node's shipper sees it.
pub struct Hub {
    base: String,
    token: String,
    node: String,
    http: reqwest::Client,
    /// Lines per batch at most.
    lines: usize,
    /// Raw bytes per batch at most.
    bytes: usize,
    /// Refusals in a row (4xx other than a position mismatch): the next try waits.
    refusals: u32,
}

impl Hub {
    /// `node`: a valid node name; `lines` and `bytes`: the batch bounds.
    pub fn new(url: &str, token: &str, node: &str, lines: usize, bytes: usize) -> Self {
        Self {
            base: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            node: node.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            lines: lines.clamp(1, super::MAX_LINES),
            bytes: bytes.clamp(4096, super::MAX_BATCH_BYTES),
            refusals: 0,
        }
    }

    /// Sends what `request` builds until the hub answers something other than 5xx or 429;
    /// a refusal (other 4xx) is an error, except 409, which the caller reads.
    async fn call(
        &mut self,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, IngestError> {
        if self.refusals > 0 {
            tokio::time::sleep(wait(self.refusals)).await;
        }
        let mut tries = 0;
        loop {
            let sent = request(&self.http).bearer_auth(&self.token).send().await;
            let pause = match sent {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::CONFLICT => {
                    if tries > 0 {
                        tracing::info!(hub = %self.base, "the hub answers again");
                    }
                    self.refusals = 0;
                    return Ok(r);
                }
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                        .map_or(wait(tries + 1), Duration::from_secs);
                    tracing::warn!(hub = %self.base, "the hub limits this token's requests; waiting {after:?}");
                    after.min(Duration::from_secs(120))
                }
                Ok(r) if r.status().is_server_error() => {
                    tracing::warn!(hub = %self.base, status = %r.status(), "the hub failed; sending again");
                    wait(tries + 1)
                }
                Ok(r) => {
                    self.refusals += 1;
                    return Err(refusal(r).await);
                }
                Err(e) => {
                    tracing::warn!(hub = %self.base, error = %e, "cannot reach the hub; sending again");
                    wait(tries + 1)
                }
            };
            tries += 1;
            tokio::time::sleep(pause).await;
        }
    }

    /// Posts one batch; `Some(position)` when the hub stands elsewhere (it had the batch, or
    /// the batch does not start at its position).
    async fn post(&mut self, batch: &Batch) -> Result<Option<u64>, IngestError> {
        let url = format!("{}/api/logs/ship", self.base);
        let r = self.call(|http| http.post(&url).json(batch)).await?;
        if r.status() == StatusCode::CONFLICT {
            let body: Value = r.json().await.map_err(hub_error)?;
            return match body["position"].as_u64() {
                Some(at) => Ok(Some(at)),
                None => Err(IngestError::Hub(format!("409 without a position: {body}"))),
            };
        }
        let receipt: Receipt = r.json().await.map_err(hub_error)?;
        Ok((receipt.position != batch.to).then_some(receipt.position))
    }

    /// Asks the hub once, waiting for it as long as it takes: refuses a token that cannot
    /// ship (with the hub's words) before anything is read.
    pub async fn check(&mut self, path: &str) -> Result<(), IngestError> {
        self.follow(path).await.map(|_| ())
    }
}

fn wait(tries: u32) -> Duration {
    FIRST_WAIT.saturating_mul(1 << tries.min(10)).min(MAX_WAIT)
}

fn hub_error(e: reqwest::Error) -> IngestError {
    IngestError::Hub(format!("an answer that is not the hub's: {e}"))
}

/// The hub's refusal in its words: `403 MISSING_SCOPE: this token lacks the write:logs scope`.
async fn refusal(r: reqwest::Response) -> IngestError {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    IngestError::Hub(format!(
        "{} {}: {}",
        status.as_u16(),
        body["error"].as_str().unwrap_or("?"),
        body["message"].as_str().unwrap_or("no message")
    ))
}

#[async_trait]
impl Sink for Hub {
    async fn position(&mut self, fingerprint: &str) -> Result<u64, IngestError> {
        let url = format!("{}/api/logs/ship/position", self.base);
        let q = [
            ("node", self.node.clone()),
            ("fingerprint", fingerprint.into()),
        ];
        let r = self.call(|http| http.get(&url).query(&q)).await?;
        let p: Position = r.json().await.map_err(hub_error)?;
        Ok(p.position)
    }

    async fn follow(&mut self, path: &str) -> Result<i64, IngestError> {
        let url = format!("{}/api/logs/ship/follow", self.base);
        let body = Follow {
            node: self.node.clone(),
            path: path.into(),
        };
        let r = self.call(|http| http.post(&url).json(&body)).await?;
        let f: Following = r.json().await.map_err(hub_error)?;
        Ok(f.since)
    }

    async fn store(&mut self, source: &Source, chunk: Chunk<'_>) -> Result<Stored, IngestError> {
        let mut batch = Batch {
            node: self.node.clone(),
            fingerprint: source.fingerprint.clone(),
            path: source.path.clone(),
            from: chunk.from,
            to: chunk.to,
            skipped: chunk.skipped,
            lines: Vec::new(),
        };
        // The lines start after what is left of an over-long line.
        let mut end = chunk.to - chunk.lines.len() as u64;
        for line in chunk.each_line() {
            if batch.lines.len() == self.lines {
                batch.to = end;
                if let Some(at) = self.post(&batch).await? {
                    return Ok(Stored::Moved(at));
                }
                batch.from = end;
                batch.skipped = 0;
                batch.lines.clear();
            }
            batch.lines.push(String::from_utf8_lossy(line).into_owned());
            end += line.len() as u64 + 1;
        }
        batch.to = chunk.to;
        match self.post(&batch).await? {
            Some(at) => Ok(Stored::Moved(at)),
            // The hub parses; what it stored is in its answers, not needed here.
            None => Ok(Stored::Yes {
                rows: 0,
                skipped: 0,
            }),
        }
    }

    fn chunk_size(&self) -> usize {
        self.bytes
    }
}
