//! Answers shared by callers asking the same question at once. A busy dashboard is many
//! people (or many auto-refreshing tabs) asking for the same page of logs or the same traffic
//! chart; each of those reads hundreds of blocks. The first caller computes the answer, the
//! callers arriving meanwhile wait for it, and it is given again until the access-log store
//! changes (`logs::store::generation`, moved by every commit that adds or removes requests) or
//! [`MAX_AGE`] passes, whichever comes first: an answer is never older than the store it
//! read by more than a second (the time another process, or another replica, may take to be
//! noticed). At most [`HEAVY`] answers are computed at once: the rest wait their turn instead
//! of each holding hundreds of blocks in memory and sharing the CPU thinner.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use tokio::sync::{OnceCell, Semaphore};

use super::error::ApiError;
use crate::logs::store::generation;

/// How long an answer is given again at most.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// Answers computed at once at most.
const HEAVY: usize = 2;
/// Questions remembered at most (beyond, the oldest are forgotten).
const KEPT: usize = 64;

struct Answer {
    generation: u64,
    at: Instant,
    cell: Arc<OnceCell<Bytes>>,
}

/// The answers of the access-log reads, by question.
pub struct SharedReads {
    answers: Mutex<HashMap<String, Answer>>,
    turns: Semaphore,
}

impl Default for SharedReads {
    fn default() -> Self {
        Self {
            answers: Mutex::default(),
            turns: Semaphore::new(HEAVY),
        }
    }
}

impl SharedReads {
    /// The answer to `question` (a route and its query string), computed by `compute` as
    /// JSON unless a fresh one is at hand or being computed.
    pub async fn answer<F, Fut>(&self, question: String, compute: F) -> Result<Bytes, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, ApiError>>,
    {
        let now = generation();
        let cell = {
            let mut answers = self.answers.lock().expect("not poisoned");
            let fresh = answers
                .get(&question)
                .filter(|a| a.generation == now && a.at.elapsed() < MAX_AGE)
                .map(|a| a.cell.clone());
            match fresh {
                Some(cell) => cell,
                None => {
                    // Answers of an older store are never given again: forget them now.
                    answers.retain(|_, a| a.generation == now && a.at.elapsed() < MAX_AGE);
                    if answers.len() >= KEPT {
                        answers.clear();
                    }
                    let cell = Arc::new(OnceCell::new());
                    answers.insert(
                        question,
                        Answer {
                            generation: now,
                            at: Instant::now(),
                            cell: cell.clone(),
                        },
                    );
                    cell
                }
            }
        };
        let answer = cell
            .get_or_try_init(|| async {
                let _turn = self.turns.acquire().await.map_err(ApiError::internal)?;
                compute().await
            })
            .await?;
        Ok(answer.clone())
    }
}

/// A JSON answer from its bytes.
pub fn json(bytes: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// `value` as JSON bytes.
pub fn to_json(value: &impl serde::Serialize) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}
