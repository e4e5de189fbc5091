//! The request store: requests kept as blocks in the database, written a batch at a time
//! together with the read position that covers them, and pruned by age and row budget.
//!
//! - `block/`: the block format: how a block's requests are packed and unpacked.
//! - `write.rs`: committing a batch (its rows and the file's new position, all or nothing);
//!   rows stored as blocks, small batches merged into small blocks.
//! - `files.rs`: what the store knows of each log file and how far it has been read.
//! - `nodes.rs`: the nodes that ship their logs here, and how far each of their files has
//!   been stored.
//! - `table.rs`: the block tables: blocks read by id, stored and removed with their status
//!   postings.
//! - `domains.rs`: domain names stored once, referred to by id.
//! - `counters.rs`: rows stored, lines skipped, the longest time a block spans.
//! - `retention.rs`: the background task pruning the oldest requests.
//!
//! [`generation`] moves with every commit that adds or removes requests in this process:
//! answers computed from the store are given again while it stays (`http/shared.rs`).

pub mod block;
pub mod counters;
pub mod domains;
pub mod files;
pub mod nodes;
pub mod retention;
pub mod table;
pub mod write;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// When the store changed last and the time before (ms since [`EPOCH`]; 0: never).
static LAST_CHANGE: AtomicU64 = AtomicU64::new(0);
static CHANGE_BEFORE: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn ms_now() -> u64 {
    // 1 at the first call: 0 stays "never".
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Whether the store is being written without a pause: its last two changes both happened
/// within `window` (a live tail commits a batch every half second or so; one import, or one
/// shipped batch, is not busy).
pub fn busy(window: Duration) -> bool {
    let before = CHANGE_BEFORE.load(Ordering::Acquire);
    before != 0 && ms_now().saturating_sub(before) < window.as_millis() as u64
}

/// A number that changes whenever this process commits requests to, or prunes them from, a
/// store.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Says the store changed (after a commit).
fn changed() {
    let before = LAST_CHANGE.swap(ms_now(), Ordering::AcqRel);
    CHANGE_BEFORE.store(before, Ordering::Release);
    GENERATION.fetch_add(1, Ordering::AcqRel);
}
