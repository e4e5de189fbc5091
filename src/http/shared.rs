//! Answers shared by callers asking the same question at once. A busy dashboard is many
//! people (or many auto-refreshing tabs) asking for the same page of logs or the same traffic
//! chart; each of those reads hundreds of blocks. The first caller computes the answer, the
//! callers arriving meanwhile wait for it, and it is given again until the access-log store
//! changes (`logs::store::generation`, moved by every commit that adds or removes requests) or
//! [`MAX_AGE`] passes, whichever comes first: an answer is never older than the store it
//! read by more than a second (the time another process, or another replica, may take to be
//! noticed).
//!
//! While the store is written without a pause (a live tail commits every half second), its
//! generation moves faster than answers can be computed under load: then the answer at hand
//! is given while it is younger than [`MAX_AGE`], and a fresh one is computed in the background
//! once it is older than [`REFRESH`], so no caller waits for it. A store that changed once
//! (an import, a shipped batch) is read again at once.
//!
//! At most [`HEAVY`] answers are computed at once: the rest wait their turn instead of each
//! holding hundreds of blocks in memory and sharing the CPU thinner.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use tokio::sync::{OnceCell, Semaphore};

use super::error::ApiError;
use crate::logs::store::{busy, generation};

/// How long an answer is given again at most.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// While the store is busy, how old the answer at hand gets before a fresh one is computed.
pub const REFRESH: Duration = Duration::from_millis(400);
/// Answers computed at once at most.
const HEAVY: usize = 2;
/// Questions remembered at most (beyond, the oldest are forgotten).
const KEPT: usize = 64;

struct Answer {
    /// The store's generation when the computation began, and when that was.
    generation: u64,
    at: Instant,
    cell: Arc<OnceCell<Bytes>>,
    /// A fresher answer is being computed in the background.
    refreshing: bool,
}

impl Answer {
    fn new(generation: u64) -> Self {
        Self {
            generation,
            at: Instant::now(),
            cell: Arc::new(OnceCell::new()),
            refreshing: false,
        }
    }
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

/// What a caller does with the answer remembered for its question.
enum Take {
    /// Wait for this cell (given at once when it holds the answer).
    Cell(Arc<OnceCell<Bytes>>),
    /// Give this answer, and compute a fresh one in the background.
    Refresh(Bytes),
}

impl SharedReads {
    /// The answer to `question` (a route and its query string), computed by `compute` as
    /// JSON unless a fresh one is at hand or being computed.
    pub async fn answer<F, Fut>(
        self: &Arc<Self>,
        question: String,
        compute: F,
    ) -> Result<Bytes, ApiError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Bytes, ApiError>> + Send + 'static,
    {
        let now = generation();
        let take = {
            let mut answers = self.answers.lock().expect("not poisoned");
            let busy = busy(MAX_AGE * 2);
            match answers.get_mut(&question) {
                Some(a) if a.at.elapsed() < MAX_AGE && a.generation == now => {
                    Take::Cell(a.cell.clone())
                }
                Some(a) if a.at.elapsed() < MAX_AGE && busy && a.cell.initialized() => {
                    match a.cell.get() {
                        Some(bytes) if !a.refreshing && a.at.elapsed() >= REFRESH => {
                            a.refreshing = true;
                            Take::Refresh(bytes.clone())
                        }
                        _ => Take::Cell(a.cell.clone()),
                    }
                }
                _ => {
                    // Answers too old to be given again are forgotten now.
                    answers.retain(|_, a| a.at.elapsed() < MAX_AGE);
                    if answers.len() >= KEPT {
                        answers.clear();
                    }
                    let a = Answer::new(now);
                    let cell = a.cell.clone();
                    answers.insert(question.clone(), a);
                    Take::Cell(cell)
                }
            }
        };
        match take {
            Take::Cell(cell) => Ok(cell
                .get_or_try_init(|| async {
                    let _turn = self.turns.acquire().await.map_err(ApiError::internal)?;
                    compute().await
                })
                .await?
                .clone()),
            Take::Refresh(bytes) => {
                let shared = self.clone();
                tokio::spawn(async move { shared.refresh(question, now, compute).await });
                Ok(bytes)
            }
        }
    }

    /// Computes the answer to `question` of the store at `generation` and keeps it in place of
    /// the one given meanwhile.
    async fn refresh<F, Fut>(&self, question: String, generation: u64, compute: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, ApiError>>,
    {
        let at = Instant::now();
        let fresh = match self.turns.acquire().await {
            Ok(_turn) => compute().await,
            Err(e) => Err(ApiError::internal(e)),
        };
        let mut answers = self.answers.lock().expect("not poisoned");
        match fresh {
            // Unless a fresher answer took its place meanwhile.
            Ok(bytes) if answers.get(&question).is_none_or(|a| a.at <= at) => {
                let _ = answers.insert(
                    question,
                    Answer {
                        generation,
                        at,
                        cell: Arc::new(OnceCell::new_with(Some(bytes))),
                        refreshing: false,
                    },
                );
            }
            // The answer at hand stays until it is too old; a later caller tries again.
            _ => {
                if let Some(a) = answers.get_mut(&question) {
                    a.refreshing = false;
                }
            }
        }
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
