//! The drift check of a fleet: which active nodes run something else than proxyhub's last
//! load onto them, told from the ETag of their config (learned, after a load, by the first
//! check that finds the load's marker in it).

use std::{collections::HashSet, sync::Arc};

use super::{named, Fleet, Node};
use crate::proxy::{NodeReport, ProxyError};

impl Fleet {
    /// The active nodes that do not run what proxyhub last loaded onto them (restarted,
    /// edited by hand, or never loaded), and those that did not answer, with why. A node
    /// loaded since the last check is read with that load's marker: found, its ETag is taken
    /// as the load's.
    pub async fn drifted(&self) -> (HashSet<i64>, Vec<(Arc<Node>, ProxyError)>) {
        let nodes = self.nodes();
        let reads = futures_util::future::join_all(nodes.iter().map(|n| {
            let marker = n
                .spec
                .etag
                .is_none()
                .then_some(n.spec.marker.as_deref())
                .flatten();
            n.admin.config_etag(marker)
        }))
        .await;
        let mut drifted = HashSet::new();
        let mut down = Vec::new();
        let mut learned = Vec::new();
        for (n, read) in nodes.iter().zip(reads) {
            let (running, found) = match read {
                Ok(r) => r,
                Err(e) => {
                    down.push((n.clone(), named(n, e)));
                    continue;
                }
            };
            let spec = &n.spec;
            let first_read = spec.etag.is_none() && spec.marker.is_some() && found;
            let in_sync = spec.config_hash.is_some()
                && (first_read || spec.etag.as_deref() == Some(running.as_str()));
            if !in_sync {
                drifted.insert(spec.id);
            } else if first_read || spec.error.is_some() {
                // Its ETag learned, or its error over (back, and running what it should).
                learned.push(NodeReport {
                    id: spec.id,
                    name: spec.name.clone(),
                    config_hash: spec.config_hash.clone(),
                    marker: spec.marker.clone(),
                    etag: Some(running),
                    applied: false,
                    repaired: false,
                    error: None,
                });
            }
        }
        learned.extend(
            down.iter()
                .filter(|(n, e)| n.spec.error.as_deref() != Some(e.to_string().as_str()))
                .map(|(n, e)| NodeReport {
                    id: n.spec.id,
                    name: n.spec.name.clone(),
                    config_hash: n.spec.config_hash.clone(),
                    marker: n.spec.marker.clone(),
                    etag: n.spec.etag.clone(),
                    applied: false,
                    repaired: false,
                    error: Some(e.to_string()),
                }),
        );
        if !learned.is_empty() {
            self.note(&learned);
        }
        (drifted, down)
    }
}
