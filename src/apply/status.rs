//! What proxyhub last learned about the proxy, for `/api/status` and the dashboard's status
//! indicator.

use serde::Serialize;

use super::Applier;
use crate::{metrics::FailureReason, proxy::ProxyError, timestamps};

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
        let now = timestamps::now();
        let mut s = self.status.lock().expect("status lock");
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
