//! A vhost as the API answers it: its fields, and what proxyhub last found of it: the
//! certificate served for its domain and, with a health check, each upstream's state.

use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::{certs::CertStatus, vhosts::Vhost};

/// A vhost with the status of the certificate served for its domain and its upstreams'
/// health at a glance.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VhostAnswer {
    #[serde(flatten)]
    vhost: Vhost,
    /// What the proxy serves for the domain, as last checked; `null` with TLS off, with
    /// nginx, for a disabled vhost, or before the first check.
    certificate: Option<CertStatus>,
    /// With a health check on an enabled vhost: each upstream, healthy or not (`null` before
    /// its first probe); `GET /api/vhosts/{id}/health` has the details.
    upstream_health: Option<Vec<UpstreamState>>,
}

/// One upstream's state at a glance.
#[derive(Serialize, ToSchema)]
pub struct UpstreamState {
    upstream: String,
    healthy: Option<bool>,
}

impl VhostAnswer {
    pub fn new(state: &AppState, vhost: Vhost) -> Self {
        let certificate = vhost
            .enabled
            .then(|| state.certificates.get(&vhost.domain))
            .flatten();
        let upstream_health = (vhost.enabled && vhost.features.health_check.is_some()).then(|| {
            vhost
                .features
                .upstreams
                .iter()
                .map(|u| UpstreamState {
                    upstream: u.clone(),
                    healthy: state.health.of(vhost.id, u).and_then(|h| h.healthy),
                })
                .collect()
        });
        Self {
            vhost,
            certificate,
            upstream_health,
        }
    }

    pub fn etag(&self) -> String {
        self.vhost.etag()
    }
}
