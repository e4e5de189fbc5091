//! What proxyhub last learned about the proxy, for `/api/status` and the dashboard's status
//! indicator.

use serde::Serialize;

use super::Applier;
use serde_json::json;

use crate::{
    events::{self, Kind},
    metrics::FailureReason,
    proxy::ProxyError,
    timestamps,
};

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
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
    /// Configurations pushed since start-up (coalesced changes count once).
    pub pushes: u64,
}

impl Applier {
    /// The proxy's last known state.
    pub fn status(&self) -> ProxyStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Notes the outcome of a contact with the proxy. `Ok(true)` means a config was pushed.
    pub(super) fn record(&self, outcome: &Result<bool, &ProxyError>, is_check: bool) {
        self.record_noting(outcome, is_check, None)
    }

    /// [`Self::record`], with what a drift repair repaired.
    pub(super) fn record_noting(
        &self,
        outcome: &Result<bool, &ProxyError>,
        is_check: bool,
        repaired: Option<String>,
    ) {
        let now = timestamps::now();
        let mut s = self.status.lock().expect("status lock");
        let was_reachable = s.reachable;
        match outcome {
            Ok(applied) => {
                // A refusal stays the last error until a push succeeds; a drift check that
                // finds the proxy in sync clears only an unreachable proxy's error.
                if *applied || !is_check || s.reachable == Some(false) {
                    s.last_error = None;
                }
                s.reachable = Some(true);
                s.in_sync = Some(true);
                if *applied {
                    s.last_apply_at = Some(now.clone());
                    s.pushes += 1;
                    self.pushed.notify_one();
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
        if let Some(up) = s.reachable {
            self.metrics.proxy_up(up);
        }
        let happened = happened(outcome, is_check, was_reachable, s.reachable, repaired);
        drop(s);
        if happened.is_empty() {
            return;
        }
        // Stored by one task, in order, off the caller's path.
        let queue = self.noted.get_or_init(|| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Noted>();
            let db = self.db.clone();
            tokio::spawn(async move {
                while let Some((kind, data)) = rx.recv().await {
                    if let Err(e) = events::emit_now(&db, kind, data).await {
                        tracing::warn!(error = %e, event = kind.as_str(), "the event could not be stored");
                    }
                }
            });
            tx
        });
        for (kind, message) in happened {
            let data = json!({ "proxy": self.proxy.kind(), "message": message });
            let _ = queue.send((kind, data));
        }
    }
}

/// The `reason` a push that was not taken counts under.
pub(super) fn reason(e: &ProxyError) -> FailureReason {
    match e {
        ProxyError::Rejected(_) => FailureReason::Rejected,
        ProxyError::Unreachable(_) => FailureReason::Unreachable,
        ProxyError::Invalid(_) => FailureReason::Other,
    }
}

/// A proxy event waiting to be stored.
pub(super) type Noted = (Kind, serde_json::Value);

/// The events a contact with the proxy makes: a refused push, the proxy gone or back, a
/// repaired drift.
fn happened(
    outcome: &Result<bool, &ProxyError>,
    is_check: bool,
    was: Option<bool>,
    now: Option<bool>,
    repaired: Option<String>,
) -> Vec<(Kind, Option<String>)> {
    let mut out = Vec::new();
    match outcome {
        Err(e) if now == Some(false) => {
            if was != Some(false) {
                out.push((Kind::ProxyUnreachable, Some(e.to_string())));
            }
        }
        Err(e) if !is_check => out.push((Kind::ProxyApplyFailed, Some(e.to_string()))),
        Err(_) => {}
        Ok(applied) => {
            if was == Some(false) {
                out.push((Kind::ProxyRecovered, None));
            }
            if *applied && is_check {
                out.push((Kind::ProxyDriftRepaired, repaired));
            }
        }
    }
    out
}
