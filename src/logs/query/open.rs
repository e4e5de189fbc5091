//! A block opened by a scan: its timestamps, statuses and paths decoded only as far as
//! rows are visited, its method codes when a method is asked for.

use sqlx::{any::AnyRow, Row as _};

use super::Filter;
use crate::logs::store::block;

/// The merge order of a row: newest first, then the newer block, then first in its block.
pub(super) type Key = (i64, i64, std::cmp::Reverse<usize>);

/// A block being merged. Timestamps, statuses and paths are decoded only as far as rows are
/// visited (most opened blocks contribute a few rows to a page).
#[derive(Default)]
pub(super) struct Open {
    pub(super) id: i64,
    pub(super) domain_id: i64,
    pub(super) node_id: Option<i64>,
    rows: usize,
    pub(super) ts: block::IntCursor<Vec<u8>>,
    pub(super) status: block::IntCursor<Vec<u8>>,
    /// Whether each method of the block's dictionary is the one asked for, and each row's.
    pub(super) methods: Option<(Vec<bool>, Vec<u32>)>,
    pub(super) paths: Option<block::PathCursor>,
    /// The block's requests passing the status filter, when all of them are inside the time
    /// range: what is left to visit is this minus what was visited.
    inside: Option<i64>,
    /// Candidates visited.
    pub(super) visited: i64,
    /// Whether the block's oldest request is inside `from`.
    from_inside: bool,
    /// The next candidate row (passing the status and time filters); `rows` when done.
    pub(super) next: usize,
}

impl Open {
    /// Valid while not [`done`](Self::done): `seek` decoded the timestamp of `next`.
    pub(super) fn key(&mut self) -> Result<Key, block::Corrupt> {
        Ok((
            self.ts.get(self.next)?,
            self.id,
            std::cmp::Reverse(self.next),
        ))
    }

    pub(super) fn done(&self) -> bool {
        self.next >= self.rows
    }

    /// Moves `next` to the first candidate at or after `from`: a row passing the status and
    /// time filters.
    pub(super) fn seek(&mut self, f: &Filter, from: usize) -> Result<(), block::Corrupt> {
        let mut i = from;
        while i < self.rows {
            let ts = self.ts.get(i)?;
            // Newest first: past `from`, nothing further can pass.
            if f.from_us.is_some_and(|x| ts < x) {
                i = self.rows;
                break;
            }
            if f.to_us.is_none_or(|x| ts <= x)
                && match f.status {
                    Some(s) => self.status.get(i)? == s,
                    None => true,
                }
            {
                break;
            }
            i += 1;
        }
        self.next = i;
        Ok(())
    }

    /// Candidates from `next` on; decodes only a block that straddles the time range with a
    /// status filter, or straddles `from`.
    pub(super) fn remaining(&mut self, f: &Filter) -> Result<i64, block::Corrupt> {
        if self.done() {
            return Ok(0);
        }
        if let Some(n) = self.inside {
            return Ok(n - self.visited);
        }
        // Rows from `next` on are no newer than `next`, a candidate, so inside `to`.
        if f.status.is_none() && self.from_inside {
            return Ok((self.rows - self.next) as i64);
        }
        let (at, mut n) = (self.next, 0);
        while !self.done() {
            n += 1;
            self.seek(f, self.next + 1)?;
        }
        self.next = at;
        Ok(n)
    }
}

/// Opens a block: keeps its timestamps and statuses (and paths when asked) for decoding as
/// far as rows are visited, decodes its method codes when asked, and finds its first
/// candidate row.
pub(super) fn open_block(r: AnyRow, f: &Filter, paths: bool) -> Result<Open, sqlx::Error> {
    let n: i64 = r.try_get("n")?;
    if !(1..=block::BLOCK_ROWS as i64).contains(&n) {
        return Err(block::Corrupt("row count out of range").into());
    }
    let rows = n as usize;
    let (min_ts, max_ts): (i64, i64) = (r.try_get("min_ts")?, r.try_get("max_ts")?);
    let methods = match &f.method {
        None => None,
        Some(m) => {
            let data: Vec<u8> = r.try_get("method_data")?;
            let (dict, codes) = block::decode_dict(&data, rows)?;
            Some((dict.iter().map(|d| d == m).collect(), codes))
        }
    };
    let from_inside = f.from_us.is_none_or(|t| min_ts >= t);
    let inside = match from_inside && f.to_us.is_none_or(|t| max_ts <= t) {
        true => match r.try_get("hits")? {
            hits @ 0..=BLOCK_ROWS_I64 if hits <= n => Some(hits),
            _ => return Err(block::Corrupt("status count out of range").into()),
        },
        false => None,
    };
    let mut open = Open {
        id: r.try_get("id")?,
        domain_id: r.try_get("domain_id")?,
        node_id: r.try_get("node_id")?,
        rows,
        ts: block::IntCursor::timestamps(r.try_get("ts_data")?, rows),
        status: block::IntCursor::ints(r.try_get("status_data")?, rows),
        methods,
        paths: match paths {
            true => Some(block::PathCursor::new(r.try_get("path_data")?, rows)),
            false => None,
        },
        inside,
        visited: 0,
        from_inside,
        next: 0,
    };
    open.seek(f, 0)?;
    Ok(open)
}

const BLOCK_ROWS_I64: i64 = block::BLOCK_ROWS as i64;
