//! Several proxyhub replicas on one PostgreSQL store. What one process kept to itself, the
//! replicas share through the store: the turn to change the proxy (`Serializer`, a
//! session-level advisory lock on a connection of its own), the leases of the work one replica
//! does for all (`Lease`: the reconciler, the webhook deliveries) and the rate limits'
//! counts (`limits.rs`). On SQLite (one proxyhub per store, `db::backup`'s lock) all of this
//! is in process: a turn is free, every lease is held, counts stay in memory.

pub mod limits;
mod lock;

pub use lock::{Lease, Serializer, Turn};

use std::sync::Arc;

use crate::db::{self, Db};

/// The leases a replica may hold, as `/api/status` shows them.
pub struct Leases {
    /// Drift repair (`reconcile.rs`).
    pub reconciler: Arc<Lease>,
    /// Webhook deliveries (`events/webhooks/dispatch.rs`).
    pub webhooks: Arc<Lease>,
}

impl Leases {
    pub fn new(db: &Db) -> Self {
        Self {
            reconciler: Arc::new(Lease::new(db, RECONCILER_KEY)),
            webhooks: Arc::new(Lease::new(db, WEBHOOKS_KEY)),
        }
    }
}

/// The advisory lock keys (`pg_advisory_lock(bigint)`), one per thing replicas take turns at:
/// "proxyhub" in ASCII, then a number.
const KEY_BASE: i64 = 0x7072_6f78_7968_7500;
pub const APPLY_KEY: i64 = KEY_BASE + 1;
pub const RECONCILER_KEY: i64 = KEY_BASE + 2;
pub const WEBHOOKS_KEY: i64 = KEY_BASE + 3;

/// The store's URL when replicas may share it (PostgreSQL), `None` on SQLite.
pub fn shared_url(db: &Db) -> Option<String> {
    (!db::is_sqlite(db)).then(|| db.connect_options().database_url.to_string())
}
