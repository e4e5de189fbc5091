//! Keeps the proxy running what the store holds: at start-up and every few seconds it
//! compares, and re-applies after a proxy restart or a hand edit. A worker (see `workers.rs`).
//! With replicas on one PostgreSQL, one of them does it: the one holding the reconciler's
//! lease; the others try to take it every second, so one takes over within seconds of the
//! holder's death.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{
    apply::{Applier, DriftError},
    cluster::Lease,
    proxy::ProxyError,
};

/// How often a replica that does not hold the lease tries to take it.
const TAKE_OVER_EVERY: Duration = Duration::from_secs(1);

pub async fn run(
    applier: Arc<Applier>,
    lease: Arc<Lease>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut was_unreachable = false;
    loop {
        if !lease.hold().await {
            tokio::select! {
                _ = tokio::time::sleep(TAKE_OVER_EVERY.min(every)) => continue,
                _ = stop.changed() => return Ok(()),
            }
        }
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
