//! The one path by which the store and the proxy change together: one change at a time,
//! written in a transaction that commits only if the proxy accepted the result.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Mutex, MutexGuard};

use crate::{
    db::{self, Db, Tx},
    error::ApiError,
    proxy::{Proxy, ProxyError},
    timestamps,
    vhosts::store,
};

pub struct Applier {
    db: Db,
    proxy: Arc<dyn Proxy>,
    lock: Mutex<()>,
    status: std::sync::Mutex<ProxyStatus>,
}

/// What proxyhub last learned about the proxy, for the dashboard's status indicator.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatus {
    pub proxy: &'static str,
    /// Whether the proxy answered at the last contact (`None` before the first).
    pub reachable: Option<bool>,
    /// Whether the proxy runs what the store holds, as of `checkedAt`.
    pub in_sync: Option<bool>,
    pub checked_at: Option<String>,
    pub last_apply_at: Option<String>,
    pub last_error: Option<String>,
}

/// A change in progress: holds the apply lock and an open write transaction. Dropping it
/// without [`Change::push_and_commit`] rolls everything back.
pub struct Change<'a> {
    pub tx: Tx,
    applier: &'a Applier,
    _turn: MutexGuard<'a, ()>,
}

/// Armed between a successful push and the commit. If the request is cancelled there (the
/// client went away), the proxy may run a config the store never got: dropping the armed
/// guard makes the next drift check re-apply the store's.
struct Uncommitted<'a> {
    proxy: &'a dyn Proxy,
    armed: bool,
}

impl Drop for Uncommitted<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.proxy.forget_applied();
        }
    }
}

impl Applier {
    pub fn new(db: Db, proxy: Arc<dyn Proxy>) -> Self {
        let status = ProxyStatus {
            proxy: proxy.kind(),
            ..Default::default()
        };
        Self {
            db,
            proxy,
            lock: Mutex::new(()),
            status: std::sync::Mutex::new(status),
        }
    }

    pub fn proxy(&self) -> &dyn Proxy {
        &*self.proxy
    }

    /// Waits for its turn, then opens the transaction a change is written in.
    pub async fn begin(&self) -> Result<Change<'_>, ApiError> {
        let turn = self.lock.lock().await;
        let tx = db::begin_write(&self.db).await?;
        Ok(Change {
            tx,
            applier: self,
            _turn: turn,
        })
    }

    /// Makes the proxy run what the store holds when it runs something else; returns whether
    /// it had to.
    pub async fn repair_drift(&self) -> Result<bool, ApiError> {
        let _turn = self.lock.lock().await;
        let sites = store::enabled_sites(&mut *self.db.acquire().await?).await?;
        let result = self.proxy.repair_drift(&sites).await;
        self.record(&result.as_ref().map(|repaired| *repaired), true);
        Ok(result?)
    }

    /// The proxy's last known state.
    pub fn status(&self) -> ProxyStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Notes the outcome of a contact with the proxy. `Ok(true)` means a config was applied.
    fn record(&self, outcome: &Result<bool, &ProxyError>, is_check: bool) {
        let now = timestamps::now();
        let mut s = self.status.lock().expect("status lock");
        match outcome {
            Ok(applied) => {
                s.reachable = Some(true);
                s.in_sync = Some(true);
                s.last_error = None;
                if *applied {
                    s.last_apply_at = Some(now.clone());
                }
            }
            Err(e) => {
                s.reachable = Some(!matches!(e, ProxyError::Unreachable(_)));
                if is_check {
                    s.in_sync = Some(false);
                }
                s.last_error = Some(e.to_string());
            }
        }
        if is_check {
            s.checked_at = Some(now);
        }
    }
}

impl Change<'_> {
    /// Renders the proxy config from the state inside the transaction, pushes it, and
    /// commits only if the proxy took it.
    pub async fn push_and_commit(mut self) -> Result<(), ApiError> {
        let sites = store::enabled_sites(&mut self.tx).await?;
        let mut guard = Uncommitted {
            proxy: &*self.applier.proxy,
            armed: false,
        };
        let applied = self.applier.proxy.apply(&sites).await;
        self.applier.record(&applied.as_ref().map(|_| true), false);
        applied?;
        guard.armed = true;
        let committed = self.tx.commit().await;
        guard.armed = false;
        if let Err(e) = committed {
            // The proxy runs a config the store does not hold: put the committed one back.
            let mut conn = self.applier.db.acquire().await?;
            let committed = store::enabled_sites(&mut conn).await?;
            if let Err(push) = self.applier.proxy.apply(&committed).await {
                tracing::error!(error = %push, "could not restore the proxy after a failed commit");
            }
            return Err(ApiError::internal(format!("commit after apply: {e}")));
        }
        Ok(())
    }
}
