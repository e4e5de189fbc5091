//! `proxyhub logs ship --hub URL FILE`: follows a node's access log with the tailer of
//! `ingest/` (rotation, copytruncate, files known by their first line) and ships its lines to
//! the hub. It keeps no state of its own: where each file stands is the hub's word, asked at
//! start and after every rotation.

use std::path::PathBuf;

use tokio::sync::watch;

use super::hub::Hub;
use crate::logs::{ingest::tailer, store::nodes};

/// What `proxyhub logs ship` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The hub's base URL.
    pub hub: String,
    /// An API token with the `write:logs` scope.
    pub token: String,
    /// The node's name; `None`: the machine's host name.
    pub node: Option<String>,
    pub file: PathBuf,
    /// Lines per batch at most.
    pub batch_lines: usize,
    /// Raw bytes per batch at most.
    pub batch_bytes: usize,
}

/// Ships `options.file` until `stop` changes. Fails at once on a bad node name or a token
/// the hub refuses; waits for a hub that does not answer.
pub async fn run(options: Options, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let given = match &options.node {
        Some(n) => n.clone(),
        None => host_name().ok_or_else(|| {
            anyhow::anyhow!("cannot read this machine's host name: name the node with --node")
        })?,
    };
    let node = nodes::node_name(&given).map_err(|e| anyhow::anyhow!("--node: {e}"))?;
    if options.token.trim().is_empty() {
        anyhow::bail!(
            "give an API token with the write:logs scope: --token, or PROXYHUB_TOKEN (kept out of `ps`)"
        );
    }
    let mut hub = Hub::new(
        &options.hub,
        options.token.trim(),
        &node,
        options.batch_lines,
        options.batch_bytes,
    );
    let path = crate::logs::ingest::source::absolute(&options.file);
    tokio::select! {
        r = hub.check(&path) => {
            r.map_err(|e| anyhow::anyhow!("the hub at {} refused: {e}", options.hub))?
        }
        _ = stop.changed() => return Ok(()),
    }
    tracing::info!(node = %node, file = %path, hub = %options.hub, "shipping");
    tailer::follow(hub, options.file, stop).await
}

/// The machine's host name, lower-cased (Linux).
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
}
