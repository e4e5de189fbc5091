//! Answers shared by callers asking the same question at once. A busy dashboard is many
//! people (or many auto-refreshing tabs) asking for the same page of logs or the same traffic
//! chart; each of those reads hundreds of blocks. The first caller computes the answer, the
//! callers arriving meanwhile wait for it, and it is given again until the access-log store
//! changes (`logs::store::generation`, moved by every commit that adds or removes requests) or
//! [`MAX_AGE`] passes, whichever comes first: an answer is never older than the store it
//! read by more than a second (the time another process, or another replica, may take to be
//! noticed). At most [`HEAVY`] answers are computed at once: the rest wait their turn instead
//! of each holding hundreds of blocks in memory and sharing the CPU thinner.
//!
//! A live tail commits every 0.7 s, and retention in bursts: were every such commit to make
//! the next callers wait for a new answer, the slowest requests of a busy proxy would be those
//! waits. So when the store moved only by the tail or by retention (`logs::store::asked` did
//! not move: no batch was shipped here since), the answer at hand is given while it is younger
//! than [`MAX_AGE`], and a new one is computed in the background at once. Two promises hold:
//! - a caller (a session, or a token) never gets an answer older than one it already had, of
//!   any question, or than the store it saw in `GET /api/logs/status`: a count it saw on one
//!   page is never contradicted by an older list on the next;
//! - a batch shipped to this hub (`POST /api/logs/ship`) is in every answer asked after it
//!   was stored.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use tokio::sync::{OnceCell, Semaphore};

use super::{error::ApiError, guard::CurrentUser};
use crate::logs::store::{asked, generation};

/// How long an answer is given again at most.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// Answers computed at once at most.
const HEAVY: usize = 2;
/// Questions remembered at most (beyond, the oldest are forgotten).
const KEPT: usize = 64;
/// Callers whose last answer is remembered at most (beyond, all are forgotten, and every
/// caller is taken to have seen the store as it was then).
const CALLERS: usize = 10_000;

struct Answer {
    /// The store's generations when the computation began, and when that was.
    generation: u64,
    asked: u64,
    at: Instant,
    cell: Arc<OnceCell<Bytes>>,
    /// A newer answer is being computed in the background.
    refreshing: bool,
}

impl Answer {
    fn new(generation: u64, asked: u64) -> Self {
        Self {
            generation,
            asked,
            at: Instant::now(),
            cell: Arc::new(OnceCell::new()),
            refreshing: false,
        }
    }
}

/// Who asks: the session, or the token, a caller's promise is kept for.
pub fn caller(me: &CurrentUser, session: &tower_sessions::Session) -> String {
    match (&me.token, session.id()) {
        (Some(grant), _) => format!("token {}", grant.id),
        (None, Some(id)) => format!("session {id}"),
        (None, None) => format!("user {}", me.user.id),
    }
}

/// The access-log store's generations: every change's, and the changes clients asked for.
type Source = fn() -> (u64, u64);

fn store_generations() -> (u64, u64) {
    (generation(), asked())
}

/// The answers of the access-log reads, by question.
pub struct SharedReads {
    source: Source,
    answers: Mutex<HashMap<String, Answer>>,
    /// The generation of the newest answer (or status) each caller was given.
    seen: Mutex<Seen>,
    turns: Semaphore,
}

#[derive(Default)]
struct Seen {
    by_caller: HashMap<String, u64>,
    /// What a caller not in `by_caller` is taken to have seen.
    floor: u64,
}

impl Default for SharedReads {
    fn default() -> Self {
        Self {
            source: store_generations,
            answers: Mutex::default(),
            seen: Mutex::default(),
            turns: Semaphore::new(HEAVY),
        }
    }
}

/// What a caller is given for its question.
enum Take {
    /// Wait for this cell (given at once when it holds the answer), of this generation.
    Cell(Arc<OnceCell<Bytes>>, u64),
    /// This answer, of this generation.
    Ready(Bytes, u64),
}

impl SharedReads {
    /// The store's generation now (to be given to [`saw`](Self::saw) once what was read
    /// from the store from now on is shown).
    pub fn generation(&self) -> u64 {
        (self.source)().0
    }

    /// Notes that `caller` saw the store at `generation` (an answer, or the log status).
    pub fn saw(&self, caller: &str, generation: u64) {
        let mut seen = self.seen.lock().expect("not poisoned");
        if seen.by_caller.len() >= CALLERS && !seen.by_caller.contains_key(caller) {
            seen.floor = seen
                .by_caller
                .values()
                .copied()
                .max()
                .unwrap_or(0)
                .max(seen.floor);
            seen.by_caller.clear();
        }
        let floor = seen.floor;
        let g = seen.by_caller.entry(caller.to_string()).or_insert(floor);
        *g = (*g).max(generation);
    }

    fn seen_by(&self, caller: &str) -> u64 {
        let seen = self.seen.lock().expect("not poisoned");
        seen.by_caller.get(caller).copied().unwrap_or(seen.floor)
    }

    /// The answer to `question` (a route and its query string) for `caller`, computed by
    /// `compute` as JSON unless a fresh one is at hand or being computed.
    pub async fn answer<F, Fut>(
        self: &Arc<Self>,
        caller: &str,
        question: String,
        compute: F,
    ) -> Result<Bytes, ApiError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Bytes, ApiError>> + Send + 'static,
    {
        let (now, asked_now) = (self.source)();
        let seen = self.seen_by(caller);
        let mut refresh = None;
        let take = {
            let mut answers = self.answers.lock().expect("not poisoned");
            match answers.get_mut(&question) {
                Some(a) if a.at.elapsed() < MAX_AGE && a.generation == now => {
                    Take::Cell(a.cell.clone(), a.generation)
                }
                Some(a)
                    if a.at.elapsed() < MAX_AGE
                        && a.asked == asked_now
                        && a.generation >= seen
                        && a.cell.initialized() =>
                {
                    if !a.refreshing {
                        a.refreshing = true;
                        refresh = Some(Answer::new(now, asked_now));
                    }
                    let bytes = a.cell.get().cloned().unwrap_or_default();
                    Take::Ready(bytes, a.generation)
                }
                _ => {
                    // Answers too old to be given again are forgotten now.
                    answers.retain(|_, a| a.at.elapsed() < MAX_AGE);
                    if answers.len() >= KEPT {
                        answers.clear();
                    }
                    let a = Answer::new(now, asked_now);
                    let cell = a.cell.clone();
                    answers.insert(question.clone(), a);
                    Take::Cell(cell, now)
                }
            }
        };
        let (bytes, generation) = match (take, refresh) {
            (Take::Ready(bytes, g), Some(fresh)) => {
                // The answer at hand now; the new one computed in the background, and kept
                // for the next callers when it is ready.
                let this = self.clone();
                tokio::spawn(async move {
                    let turn = this.turns.acquire().await;
                    let computed = compute().await;
                    drop(turn);
                    let mut answers = this.answers.lock().expect("not poisoned");
                    match computed {
                        Ok(bytes) => {
                            let _ = fresh.cell.set(bytes);
                            let newer = answers
                                .get(&question)
                                .is_some_and(|a| a.generation > fresh.generation);
                            if !newer {
                                answers.insert(question, fresh);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = ?e, "could not compute a shared answer again");
                            if let Some(a) = answers.get_mut(&question) {
                                a.refreshing = false;
                            }
                        }
                    }
                });
                (bytes, g)
            }
            (Take::Ready(bytes, g), None) => (bytes, g),
            (Take::Cell(cell, g), _) => {
                let bytes = cell
                    .get_or_try_init(|| async {
                        let _turn = self.turns.acquire().await.map_err(ApiError::internal)?;
                        compute().await
                    })
                    .await?
                    .clone();
                (bytes, g)
            }
        };
        self.saw(caller, generation);
        Ok(bytes)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    static ALL: AtomicU64 = AtomicU64::new(0);
    static ASKED: AtomicU64 = AtomicU64::new(0);

    /// Asks `question` as `caller`; a computed answer is the number of computations so far.
    async fn ask(reads: &Arc<SharedReads>, caller: &str, question: &str) -> String {
        static COMPUTED: AtomicU64 = AtomicU64::new(0);
        let bytes = reads
            .answer(caller, question.into(), || async {
                let n = COMPUTED.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Bytes::from(n.to_string()))
            })
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// While only the tail writes, the answer at hand is given and the next computed in the
    /// background; a caller that saw a newer store never gets an older answer; after a
    /// client's batch, nothing at hand is given.
    #[tokio::test]
    async fn answers_at_hand_never_go_back_for_a_caller_nor_hide_a_shipped_batch() {
        let reads = Arc::new(SharedReads {
            source: || (ALL.load(Ordering::SeqCst), ASKED.load(Ordering::SeqCst)),
            ..SharedReads::default()
        });
        assert_eq!(ask(&reads, "a", "q1").await, "1");
        assert_eq!(ask(&reads, "a", "q2").await, "2");
        assert_eq!(ask(&reads, "b", "q1").await, "1", "shared");
        ALL.fetch_add(1, Ordering::SeqCst); // the tail committed
        assert_eq!(ask(&reads, "a", "q1").await, "1", "the answer at hand");
        // The next one, computed in the background, is given once ready.
        let mut fresh = String::new();
        for _ in 0..200 {
            fresh = ask(&reads, "b", "q1").await;
            if fresh != "1" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(fresh, "3");
        // b saw the newer store: q2's older answer is not for b (it is computed), but a, who
        // saw nothing newer, could still have been given it.
        assert_eq!(ask(&reads, "b", "q2").await, "4");
        // What the log status showed counts as seen.
        ALL.fetch_add(1, Ordering::SeqCst);
        reads.saw("c", ALL.load(Ordering::SeqCst));
        assert_eq!(ask(&reads, "c", "q2").await, "5");
        // A shipped batch: nothing at hand is given to anyone.
        ALL.fetch_add(1, Ordering::SeqCst);
        ASKED.fetch_add(1, Ordering::SeqCst);
        assert_eq!(ask(&reads, "a", "q1").await, "6");
    }
}
