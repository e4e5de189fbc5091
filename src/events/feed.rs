//! The outbox, followed: one task in the process reads new events as they commit (every
//! 200 ms, or at once when poked) and hands them to whoever listens in process: live streams,
//! the webhook dispatcher. Reading the store (not the code that wrote the event) means events
//! written by another proxyhub on the same PostgreSQL reach this one's listeners too: there,
//! the transaction that writes an event notifies [`CHANNEL`], which wakes every replica's feed
//! at once (LISTEN/NOTIFY); the poll stays, every second, for a listener that lost its
//! connection.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{broadcast, watch, Notify};

use sqlx::postgres::PgListener;

use super::{after, newest, Event};
use crate::db::Db;

/// How many events a listener may fall behind before it is told it lagged.
const BACKLOG: usize = 1024;
const EVERY: Duration = Duration::from_millis(200);
/// The poll's period while PostgreSQL notifies new events.
const EVERY_LISTENING: Duration = Duration::from_secs(1);
/// The PostgreSQL notification channel of new events.
pub const CHANNEL: &str = "proxyhub_events";
/// How often listening is tried again after it failed.
const RETRY_LISTEN: Duration = Duration::from_secs(5);

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
        let mut listener = crate::cluster::shared_url(&db).map(Listener::new);
        loop {
            if let Some(l) = &mut listener {
                l.connect().await;
            }
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
            let every = match &listener {
                Some(l) if l.listening() => EVERY_LISTENING,
                _ => EVERY,
            };
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.poke.notified() => {}
                _ = Listener::notified(&mut listener) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
    }
}

/// PostgreSQL's notifications of new events, on a connection of its own.
struct Listener {
    url: String,
    conn: Option<PgListener>,
    /// The last try to listen: one every few seconds while the store is away.
    tried: Option<std::time::Instant>,
}

impl Listener {
    fn new(url: String) -> Self {
        Self {
            url,
            conn: None,
            tried: None,
        }
    }

    fn listening(&self) -> bool {
        self.conn.is_some()
    }

    /// Listens, if it does not yet (a failure leaves the poll to it until the next try).
    async fn connect(&mut self) {
        if self.conn.is_some() || self.tried.is_some_and(|t| t.elapsed() < RETRY_LISTEN) {
            return;
        }
        self.tried = Some(std::time::Instant::now());
        let listened = async {
            let mut l = PgListener::connect(&self.url).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match tokio::time::timeout(Duration::from_secs(5), listened).await {
            Ok(Ok(l)) => self.conn = Some(l),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot listen for new events; polling"),
            Err(_) => tracing::warn!("listening for new events timed out; polling"),
        }
    }

    /// A notification (or a lost connection, then dropped); never, with none.
    async fn notified(listener: &mut Option<Self>) {
        let Some(conn) = listener.as_mut().and_then(|l| l.conn.as_mut()) else {
            return std::future::pending().await;
        };
        if let Err(e) = conn.try_recv().await.and_then(|n| {
            n.map(drop)
                .ok_or_else(|| sqlx::Error::Protocol("the connection was lost".into()))
        }) {
            tracing::warn!(error = %e, "listening for new events failed; polling");
            if let Some(l) = listener.as_mut() {
                l.conn = None;
            }
        }
    }
}
