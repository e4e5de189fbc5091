//! Keeps the proxy running what the store holds: at start-up and every few seconds it
//! compares, and re-applies after a proxy restart or a hand edit. A worker (see `workers.rs`).

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{
    apply::{Applier, DriftError},
    proxy::ProxyError,
};

pub async fn run(
    applier: Arc<Applier>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut was_unreachable = false;
    loop {
        let unreachable = match applier.repair_drift().await {
            Ok(Some(what)) => {
                tracing::info!(
                    "the proxy ran another configuration; re-applied the store's: {what}"
                );
                false
            }
            Ok(None) => false,
            Err(DriftError::Proxy(ProxyError::Unreachable(e))) => {
                // Said once per outage, not every few seconds.
                if !was_unreachable {
                    tracing::warn!(error = %e, "the proxy is unreachable; will retry");
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "could not re-apply the configuration");
                false
            }
        };
        was_unreachable = unreachable;
        // Off the request path: memory that bursts of requests and pushes freed goes back.
        crate::memory::trim();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}
