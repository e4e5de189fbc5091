//! The label sets of the series, each value from a bounded set.

use prometheus_client::encoding::EncodeLabelSet;

/// The `vhost` label of requests to a host no vhost of the store has.
pub const OTHER_VHOST: &str = "other";

/// Why a push was not taken: the `reason` of `proxyhub_apply_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// The proxy refused the configuration.
    Rejected,
    /// The proxy could not be reached.
    Unreachable,
    /// Anything else (proxyhub refused to send it, the store failed).
    Other,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Unreachable => "unreachable",
            Self::Other => "other",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Reason {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct State {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Outcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Vhost {
    pub vhost: String,
    pub class: &'static str,
}

/// The `class` label: index `c` is `c`xx, index 0 a status outside 100–599.
pub(super) const CLASSES: [&str; 6] = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Api {
    pub route: String,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ApiRoute {
    pub route: String,
    pub method: &'static str,
}

/// The `method` label: the methods the API knows, any other as `other` (a client may send
/// any word as a method).
pub(super) fn method(m: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN.into_iter().find(|k| *k == m).unwrap_or("other")
}
