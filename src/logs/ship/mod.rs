//! Access logs from every node, stored once: `proxyhub logs ship` follows a node's log with
//! the tailer of `ingest/` and posts its lines to the hub, which stores a batch only if it
//! starts where the hub's position of that node and file stands.
//!
//! - `mod.rs`: what travels (a [`Batch`] and the hub's answers) and the bounds on it.
//! - `receive.rs`: the hub's side: a batch checked, parsed and committed with the node's
//!   position in one transaction.
//! - `hub.rs`: the shipper's side: the [`Sink`](super::ingest::sink::Sink) that posts to
//!   the hub, waiting (capped backoff) while the hub is down.
//! - `shipper.rs`: `proxyhub logs ship` itself: the token checked, the file followed.

pub mod hub;
pub mod receive;
pub mod shipper;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most lines a batch may hold.
pub const MAX_LINES: usize = 10_000;
/// The largest batch body the hub reads (a shipper's batch of
/// [`MAX_BATCH_BYTES`] raw bytes fits, however many escapes JSON needs).
pub const MAX_BODY: usize = 8 << 20;
/// The most raw log bytes a shipper puts in one batch.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Lines of a node's log file: the bytes `from..to` of the file named `fingerprint`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Batch {
    /// The node's name (`--node`): letters, digits, `.`, `-`, `_`; case-insensitive.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", example = "edge-1")]
    pub node: String,
    /// The SHA-256 (hex) of the file's first line: a file's name across renames.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub fingerprint: String,
    /// Where the node reads the file (shown in the hub's status, used to resume after a
    /// rotation).
    #[schema(min_length = 1, max_length = 4096)]
    pub path: String,
    /// The byte where the batch starts: the hub's position of this node and file.
    #[schema(minimum = 0)]
    pub from: u64,
    /// The byte after the batch's last line.
    #[schema(minimum = 1)]
    pub to: u64,
    /// Lines the node already knows it cannot send (longer than a batch).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub skipped: u64,
    /// The lines, without their line ends.
    pub lines: Vec<String>,
}

/// What the hub did with a batch it could take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Received {
    /// Stored now.
    Stored,
    /// The hub had it already (a retried or repeated batch): nothing was stored.
    Duplicate,
}

/// The hub's answer to a batch it took.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub result: Received,
    /// The hub's position of this node and file now: send from here.
    pub position: u64,
    /// Requests stored from this batch.
    pub stored: u64,
    /// Lines of this batch that were not requests (counted, not stored).
    pub skipped: u64,
}

/// The hub's position of a node's file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub node: String,
    pub fingerprint: String,
    /// Bytes of the file stored (0: nothing yet).
    pub position: u64,
}

/// When a node last stored progress on a file read at a path.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub node: String,
    pub path: String,
    /// Epoch seconds of the last batch stored from a file read at `path`; `null`: never.
    pub last_stored_at: Option<i64>,
    /// Epoch seconds since the node follows `path` (`POST /api/logs/ship/follow`); `null`:
    /// it never said so.
    pub followed_since: Option<i64>,
}

/// A node's word that it follows the log at a path, before it reads a line of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Follow {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", example = "edge-1")]
    pub node: String,
    /// Where the node reads the file.
    #[schema(min_length = 1, max_length = 4096)]
    pub path: String,
}

/// Since when a node follows a log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Following {
    pub node: String,
    pub path: String,
    /// Epoch seconds: the first time the node said so (or its first batch from that path,
    /// for a node that shipped before follows were recorded). A rotated file the hub holds
    /// nothing of is the node's to finish when it was written after this.
    pub since: i64,
}
