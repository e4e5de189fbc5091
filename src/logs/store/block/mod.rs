//! How requests are stored: in blocks of up to [`BLOCK_ROWS`] requests of one domain within
//! one UTC day, newest first, each column packed on its own (integers as varints, repeated
//! strings through a per-block dictionary). One SQLite row per block instead of one row and
//! four index entries per request is what lets ingest run at several hundred thousand lines
//! a second on one core; queries find blocks by domain, status and time and decode only the
//! columns they need (see `logs/query/`).
//!
//! This file: the block's limits, a request ([`Row`]), and the error of bytes that do not
//! decode. `encode.rs` packs rows into a block; `decode.rs` unpacks whole columns, whole
//! blocks or one row; `cursor.rs` reads a column only as far as it is needed; `reader.rs`
//! reads the varints, strings and dictionaries the columns are made of.

mod cursor;
mod decode;
mod encode;
mod reader;
#[cfg(test)]
mod tests;

pub use cursor::{IntCursor, PathCursor};
pub use decode::{
    decode_dict, decode_hist, decode_ints, decode_paths, decode_statuses, decode_ts, row_at,
    Columns, Decoded, Rest,
};
pub use encode::{encode, Encoded};

/// Requests per block at most: bounds what a query decodes to show one row.
pub const BLOCK_ROWS: usize = 1024;
/// A stored block with fewer requests than this takes in the next batch's requests of its
/// domain and day (rewritten as one), so a quiet proxy's many small batches do not leave a
/// block per request. A live tail at 50,000 lines a second over 200 hosts brings ~125 per host
/// and batch: with 128 here, every other batch rewrote a block per host (a tenth of the
/// tailing's CPU).
pub const SMALL: usize = 64;
/// Small blocks are merged only while they span less than this.
pub const MERGE_SPAN_US: i64 = 3_600_000_000;
/// Every request of a block lies within one UTC day: `max_ts - min_ts < DAY_US`. (Blocks
/// of a sparse domain hold a day, not an hour, of its requests: fewer blocks to read.)
pub const DAY_US: i64 = 86_400_000_000;

/// One request, borrowed from a parsed line or a decoded block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    /// Epoch microseconds.
    pub ts_us: i64,
    pub method: &'a str,
    pub path: &'a str,
    pub status: i64,
    pub latency_us: i64,
    pub ip: &'a str,
    pub size: i64,
    pub protocol: &'a str,
    pub user_agent: &'a str,
}

/// The UTC day (epoch microseconds of its start) a timestamp falls in.
pub fn day_of(ts_us: i64) -> i64 {
    ts_us - ts_us.rem_euclid(DAY_US)
}

/// A GET of `path` answered 200, for tests to vary.
#[cfg(test)]
pub fn test_row(ts_us: i64, path: &str) -> Row<'_> {
    Row {
        ts_us,
        method: "GET",
        path,
        status: 200,
        latency_us: 1,
        ip: "192.0.2.1",
        size: 2,
        protocol: "HTTP/1.1",
        user_agent: "t",
    }
}

/// A status's class for the traffic counts: 2..5 for 2xx..5xx, 0 for anything else.
pub fn class(status: i64) -> u8 {
    match status / 100 {
        c @ 2..=5 => c as u8,
        _ => 0,
    }
}

/// A block's bytes that do not decode: the store was damaged or written by something else.
#[derive(Debug, thiserror::Error)]
#[error("a stored access-log block is damaged ({0})")]
pub struct Corrupt(pub &'static str);

impl From<Corrupt> for sqlx::Error {
    fn from(e: Corrupt) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}
