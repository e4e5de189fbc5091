//! The one path by which the store and the proxy change together: one change at a time,
//! written in a transaction that commits only if the proxy accepted the result.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use crate::{
    db::{self, Db, Tx},
    error::ApiError,
    proxy::Proxy,
    vhosts::store,
};

pub struct Applier {
    db: Db,
    proxy: Arc<dyn Proxy>,
    lock: Mutex<()>,
}

/// A change in progress: holds the apply lock and an open write transaction. Dropping it
/// without [`Change::push_and_commit`] rolls everything back.
pub struct Change<'a> {
    pub tx: Tx,
    applier: &'a Applier,
    _turn: MutexGuard<'a, ()>,
}

impl Applier {
    pub fn new(db: Db, proxy: Arc<dyn Proxy>) -> Self {
        Self {
            db,
            proxy,
            lock: Mutex::new(()),
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
        Ok(self.proxy.repair_drift(&sites).await?)
    }
}

impl Change<'_> {
    /// Renders the proxy config from the state inside the transaction, pushes it, and
    /// commits only if the proxy took it.
    pub async fn push_and_commit(mut self) -> Result<(), ApiError> {
        let sites = store::enabled_sites(&mut self.tx).await?;
        self.applier.proxy.apply(&sites).await?;
        if let Err(e) = self.tx.commit().await {
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
