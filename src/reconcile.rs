//! Keeps the proxy running what the store holds: at start-up and every few seconds it
//! compares, and re-applies after a proxy restart or a hand edit.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::AppState;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.reconcile_interval.max(1));
    let mut was_unreachable = false;
    loop {
        let unreachable = match state.applier.repair_drift().await {
            Ok(true) => {
                tracing::info!("the proxy ran another configuration; re-applied the store's");
                false
            }
            Ok(false) => false,
            Err(e) if e.code == "PROXY_UNREACHABLE" => {
                // Said once per outage, not every few seconds.
                if !was_unreachable {
                    tracing::warn!(error = %e.message, "the proxy is unreachable; will retry");
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e.message, "could not re-apply the configuration");
                false
            }
        };
        was_unreachable = unreachable;
        // Off the request path: memory that bursts of requests and pushes freed goes back.
        crate::memory::trim();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
