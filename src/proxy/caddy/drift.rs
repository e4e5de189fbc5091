//! Telling whether Caddy runs what proxyhub last loaded, without holding or parsing the
//! config: a SHA-256 of what proxyhub loaded (an identical config is not loaded again) and
//! of `GET /config/` as Caddy answered right after the load (anything else is drift). That
//! reading runs in a task of its own, so a change is answered without waiting for it; the next
//! drift check waits for it instead. Each load carries a marker of its own (an `@id` in the
//! admin object): a reading that does not find it read something else (Caddy restarted or was
//! edited in between), and is not taken as what proxyhub loaded.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::client::Admin;
use crate::proxy::ProxyError;

pub type Hash = [u8; 32];

#[derive(Default)]
struct State {
    /// Of the config text proxyhub loaded last.
    body: Option<Hash>,
    /// Of `GET /config/` right after that load.
    running: Option<Hash>,
    /// That reading, while it runs.
    reading: Option<JoinHandle<Result<Hash, ProxyError>>>,
}

/// What proxyhub last loaded and what Caddy then ran.
#[derive(Default)]
pub struct Drift(Mutex<State>);

impl Drift {
    /// Whether `body` is what proxyhub loaded last.
    pub fn loaded_already(&self, body: &Hash) -> bool {
        self.0.lock().expect("drift").body.as_ref() == Some(body)
    }

    /// Before a load: the reading of the previous one is finished first, so what Caddy runs
    /// stays known if Caddy refuses this load (it then keeps running it).
    pub async fn loading(&self) {
        self.settle().await;
    }

    /// After a load of `body` (its sites' hash) carrying `marker`: reads what Caddy runs
    /// now, in a task of its own.
    pub fn loaded(&self, body: Hash, marker: String, admin: &Arc<Admin>) {
        let admin = admin.clone();
        let reading = tokio::spawn(async move {
            match admin.config_hash(Some(&marker)).await? {
                (hash, true) => Ok(hash),
                (_, false) => Err(ProxyError::Unreachable(
                    "Caddy ran another configuration right after the load".into(),
                )),
            }
        });
        let mut s = self.0.lock().expect("drift");
        s.body = Some(body);
        s.running = None;
        s.reading = Some(reading);
    }

    /// Forgets everything: the next check finds drift and loads the store's config.
    pub fn forget(&self) {
        let mut s = self.0.lock().expect("drift");
        if let Some(reading) = s.reading.take() {
            reading.abort();
        }
        *s = State::default();
    }

    /// Whether Caddy runs what it ran right after proxyhub's last load. Callers are
    /// serialized with loads (the applier's lock).
    pub async fn in_sync(&self, admin: &Admin) -> Result<bool, ProxyError> {
        self.settle().await;
        let expected = self.0.lock().expect("drift").running;
        let (running, _) = admin.config_hash(None).await?;
        Ok(expected == Some(running))
    }

    /// Waits for a reading still running and keeps what it read.
    async fn settle(&self) {
        let reading = self.0.lock().expect("drift").reading.take();
        if let Some(reading) = reading {
            let read = reading.await.ok().and_then(Result::ok);
            self.0.lock().expect("drift").running = read;
        }
    }
}
