//! The outbox, followed: one task in the process reads new events as they commit (every
//! 200 ms, or at once when poked) and hands them to whoever listens in process: live streams,
//! the webhook dispatcher. Reading the store (not the code that wrote the event) means events
//! written by another proxyhub on the same PostgreSQL reach this one's listeners too.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{broadcast, watch, Notify};

use super::{after, newest, Event};
use crate::db::Db;

/// How many events a listener may fall behind before it is told it lagged.
const BACKLOG: usize = 1024;
const EVERY: Duration = Duration::from_millis(200);

pub struct Feed {
    sender: broadcast::Sender<Arc<Event>>,
    /// The newest event handed out (`seq`).
    seen: AtomicI64,
    poke: Notify,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
            seen: AtomicI64::new(-1),
            poke: Notify::new(),
        }
    }
}

impl Feed {
    /// New events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// The newest event handed out so far (-1 before the feed has read the store).
    pub fn seen(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }

    /// Look at the outbox now (a change just committed an event).
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// The worker: follows the outbox from its newest event until `stop`.
    pub async fn run(
        self: Arc<Self>,
        db: Db,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut cursor = match self.seen() {
            -1 => newest(&db).await?,
            n => n,
        };
        self.seen.store(cursor, Ordering::Release);
        loop {
            loop {
                let batch = after(&db, cursor, 500).await?;
                let Some(last) = batch.last() else { break };
                cursor = last.seq;
                let full = batch.len() == 500;
                for e in batch {
                    // No listener is not an error.
                    let _ = self.sender.send(Arc::new(e));
                }
                self.seen.store(cursor, Ordering::Release);
                if !full {
                    break;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = self.poke.notified() => {}
                _ = stop.changed() => return Ok(()),
            }
        }
    }
}
