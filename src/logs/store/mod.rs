//! The request store: requests kept as blocks in the database, written a batch at a time
//! together with the read position that covers them, and pruned by age and row budget.
//!
//! - `block/`: the block format: how a block's requests are packed and unpacked.
//! - `write.rs`: committing a batch (its rows and the file's new position, all or nothing);
//!   rows stored as blocks, small batches merged into small blocks.
//! - `files.rs`: what the store knows of each log file and how far it has been read.
//! - `follows.rs`: which logs are followed, and since when (what a rotated file the store
//!   holds nothing of is judged by).
//! - `nodes.rs`: the nodes that ship their logs here, and how far each of their files has
//!   been stored.
//! - `table.rs`: the block tables: blocks read by id, stored and removed with their status
//!   postings.
//! - `domains.rs`: domain names stored once, referred to by id.
//! - `counters.rs`: rows stored, lines skipped, the longest time a block spans.
//! - `retention.rs`: the background task pruning the oldest requests.
//!
//! [`generation`] moves with every commit that adds or removes requests in this process:
//! answers computed from the store are given again while it stays (`http/shared.rs`);
//! [`asked`] with the commits of batches clients ship.

pub mod block;
pub mod counters;
pub mod domains;
pub mod files;
pub mod follows;
pub mod nodes;
pub mod retention;
pub mod table;
pub mod write;

use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);
static ASKED: AtomicU64 = AtomicU64::new(0);

/// A number that changes whenever this process commits requests to, or prunes them from, a
/// store.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// A number that changes whenever this process commits requests a client may read back at
/// once: a batch shipped to it. The live tail's commits and retention's do not move it (no one
/// waits on them: they are seen when they are seen); see `http/shared.rs`.
pub fn asked() -> u64 {
    ASKED.load(Ordering::Acquire)
}

/// Who changed the store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    /// The live tail (or an import), or retention.
    Background,
    /// A batch a client sent (`POST /api/logs/ship`).
    Client,
}

/// Says the store changed (after a commit).
fn changed(by: By) {
    if by == By::Client {
        ASKED.fetch_add(1, Ordering::AcqRel);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}
