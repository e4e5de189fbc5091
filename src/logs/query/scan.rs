//! One scan: the requests passing a filter's domain, status and time filters, newest first,
//! merged from the blocks it opens as it goes.

use std::collections::BinaryHeap;

use sqlx::Row as _;

use super::{
    keyset::Blocks,
    open::{open_block, Key, Open},
    Filter,
};
use crate::{
    db::Tx,
    logs::store::{block::DAY_US, counters, nodes, table},
};

/// One request the scan met: where it is stored, and what the scan decoded of it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub block: i64,
    pub pos: u32,
    pub ts_us: i64,
    pub domain_id: i64,
    /// The node that shipped it; `None`: proxyhub's own tailer stored it.
    pub node_id: Option<i64>,
    pub status: i64,
    /// Filled when the scan was asked for paths.
    pub path: Option<String>,
}

/// What the visitor of [`scan`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    More,
    Stop,
}

/// The requests passing a filter's domain, status and time filters, newest first (ties:
/// newer block, then order in the block), each with whether `method`, `q` and the status
/// class match too. Run it in a [`db::begin_read`](crate::db::begin_read) transaction: one
/// snapshot throughout.
pub struct Scan {
    f: Filter,
    q: Option<String>,
    paths: bool,
    /// The filter's domain is not stored: nothing matches.
    none: bool,
    blocks: Blocks,
    /// Open blocks by slot; the heap holds each one's next key and slot (small entries:
    /// a block's data never moves while the heap reorders).
    opens: Vec<Open>,
    heap: BinaryHeap<(Key, usize)>,
}

impl Scan {
    /// `paths`: fill [`Hit::path`].
    pub async fn new(tx: &mut Tx, f: &Filter, paths: bool) -> Result<Scan, sqlx::Error> {
        let mut domain_id = None;
        let mut none = false;
        if let Some(d) = &f.domain {
            let id = sqlx::query("SELECT id FROM access_log_domains WHERE name = $1")
                .bind(d)
                .fetch_optional(&mut **tx)
                .await?;
            match id {
                Some(r) => domain_id = Some(r.try_get::<i64, _>(0)?),
                None => none = true,
            }
        }
        let mut node_id = None;
        if let Some(n) = &f.node {
            match nodes::find(&mut **tx, n).await? {
                Some(id) => node_id = Some(id),
                None => none = true,
            }
        }
        let q = f.q.as_ref().map(|q| q.to_ascii_lowercase());
        // How long after `to` a block holding a request of the range may end.
        let span = match f.to_us {
            Some(_) => counters::max_span(tx).await?,
            None => DAY_US,
        };
        Ok(Scan {
            blocks: Blocks::new(f, (domain_id, node_id), paths || q.is_some(), span),
            f: f.clone(),
            q,
            paths,
            none,
            opens: Vec::new(),
            heap: BinaryHeap::new(),
        })
    }

    /// The next request, and whether it matches the residual filters too.
    pub async fn next(&mut self, tx: &mut Tx) -> Result<Option<(Hit, bool)>, sqlx::Error> {
        if self.none {
            return Ok(None);
        }
        // A stored block may hold a request that comes before the newest open row: open it
        // first. Blocks come by `(max_ts, min_ts, id)`, so one ending at the same time may
        // have a higher id (first on equal times) behind one with a lower id: open all of
        // those too.
        while let Some(max_ts) = self.blocks.peek(tx).await? {
            if self.heap.peek().is_some_and(|((ts, _, _), _)| *ts > max_ts) {
                break;
            }
            let row = self.blocks.take().expect("peeked");
            let mut open = open_block(row, &self.f, self.paths || self.q.is_some())?;
            if !open.done() {
                self.heap.push((open.key()?, self.opens.len()));
                self.opens.push(open);
            }
        }
        let Some((_, slot)) = self.heap.pop() else {
            return Ok(None);
        };
        let top = &mut self.opens[slot];
        let i = top.next;
        let status = top.status.get(i)?;
        let before_q = self.f.status_class.is_none_or(|c| status / 100 == c)
            && top
                .methods
                .as_ref()
                .is_none_or(|(ok, codes)| ok[codes[i] as usize]);
        // A path is decoded when shown, or searched in a request the other filters kept.
        let path = match &mut top.paths {
            Some(p) if self.paths || before_q => Some(p.get(i)?),
            _ => None,
        };
        let matched = before_q
            && match (&self.q, path) {
                (Some(q), Some(p)) => contains_ignore_ascii_case(p, q),
                _ => true,
            };
        let hit = Hit {
            block: top.id,
            pos: i as u32,
            ts_us: top.ts.get(i)?,
            domain_id: top.domain_id,
            node_id: top.node_id,
            status,
            path: match self.paths {
                true => path.map(str::to_string),
                false => None,
            },
        };
        top.visited += 1;
        top.seek(&self.f, i + 1)?;
        if top.done() {
            // Its data is not needed any more.
            *top = Open::default();
        } else {
            self.heap.push((top.key()?, slot));
        }
        Ok(Some((hit, matched)))
    }

    /// How many requests are left (domain, status and time filters only), counted up to
    /// `cap`, mostly from stored counts: a block wholly inside the time range is not read.
    /// Returns the count and whether it is all of them.
    pub async fn count_rest(&mut self, tx: &mut Tx, cap: i64) -> Result<(i64, bool), sqlx::Error> {
        if self.none {
            return Ok((0, true));
        }
        let mut n = 0;
        for (_, slot) in &self.heap {
            n += self.opens[*slot].remaining(&self.f)?;
        }
        // Blocks fetched for opening but not opened yet.
        for (_, r) in std::mem::take(&mut self.blocks.fetched) {
            if n >= cap {
                return Ok((n, false));
            }
            n += open_block(r, &self.f, false)?.remaining(&self.f)?;
        }
        if self.blocks.done {
            return Ok((n, true));
        }
        let mut after = self.blocks.after;
        // Most often no block straddles `from` within reach of the cap: the database sums
        // the stored counts. 10,000 requests of a domain take ~30 entries, one statement;
        // 10,000 of a status posted ~3 a block take ~3,300, in two or three (not a row each).
        let mut stride = Stride::default();
        loop {
            if n >= cap {
                return Ok((n, false));
            }
            let limit = stride.next(cap - n, 4096);
            let mut q = sqlx::query(&self.blocks.sum_sql);
            for &b in &self.blocks.binds {
                q = q.bind(b);
            }
            let Some(r) = q
                .bind(after.0)
                .bind(after.1)
                .bind(after.2)
                .bind(limit)
                .bind(self.f.from_us.unwrap_or(i64::MIN))
                .bind(self.f.to_us.unwrap_or(i64::MAX))
                .fetch_optional(&mut **tx)
                .await?
            else {
                return Ok((n, true));
            };
            if r.try_get::<i64, _>("partial")? > 0 {
                return self.count_entries(tx, n, cap, after).await;
            }
            let (entries, inside): (i64, i64) = (r.try_get("entries")?, r.try_get("inside")?);
            n += inside;
            stride.counted(entries, inside);
            if entries < limit {
                return Ok((n, true));
            }
            after = (r.try_get("max_ts")?, r.try_get("min_ts")?, r.try_get("id")?);
        }
    }

    /// [`count_rest`](Self::count_rest) from `after` entry by entry, opening the blocks that
    /// straddle a bound of the time range.
    async fn count_entries(
        &mut self,
        tx: &mut Tx,
        mut n: i64,
        cap: i64,
        mut after: (i64, i64, i64),
    ) -> Result<(i64, bool), sqlx::Error> {
        let mut stride = Stride::default();
        loop {
            if n >= cap {
                return Ok((n, false));
            }
            let limit = stride.next(cap - n, 256);
            let before = n;
            let mut q = sqlx::query(&self.blocks.count_sql);
            for &b in &self.blocks.binds {
                q = q.bind(b);
            }
            let rows = q
                .bind(after.0)
                .bind(after.1)
                .bind(after.2)
                .bind(limit)
                .fetch_all(&mut **tx)
                .await?;
            let mut partial = Vec::new();
            for r in &rows {
                let (min_ts, max_ts): (i64, i64) = (r.try_get("min_ts")?, r.try_get("max_ts")?);
                let inside = self.f.from_us.is_none_or(|t| min_ts >= t)
                    && self.f.to_us.is_none_or(|t| max_ts <= t);
                if inside {
                    n += r.try_get::<i64, _>("n")?;
                } else {
                    partial.push(r.try_get::<i64, _>("id")?);
                }
            }
            n += self.count_in_blocks(tx, &partial).await?;
            stride.counted(rows.len() as i64, n - before);
            match rows.last() {
                Some(last) if rows.len() as i64 == limit => {
                    after = (
                        last.try_get("max_ts")?,
                        last.try_get("min_ts")?,
                        last.try_get("id")?,
                    )
                }
                _ => return Ok((n, true)),
            }
        }
    }

    /// The requests of blocks partly inside the time range that pass the filters.
    async fn count_in_blocks(&self, tx: &mut Tx, ids: &[i64]) -> Result<i64, sqlx::Error> {
        let mut n = 0;
        // Not inside the range: their `hits` are never read.
        let columns = "id, domain_id, node_id, min_ts, max_ts, n, n AS hits, ts_data, status_data";
        for r in table::blocks_by_id(tx, columns, ids).await? {
            n += open_block(r, &self.f, false)?.remaining(&self.f)?;
        }
        Ok(n)
    }
}

/// Visits what a [`Scan`] finds until `visit` stops or nothing is left; whether all was visited.
pub async fn scan(
    tx: &mut Tx,
    f: &Filter,
    paths: bool,
    mut visit: impl FnMut(&Hit, bool) -> Flow,
) -> Result<bool, sqlx::Error> {
    let mut s = Scan::new(tx, f, paths).await?;
    while let Some((hit, matched)) = s.next(tx).await? {
        if visit(&hit, matched) == Flow::Stop {
            return Ok(false);
        }
    }
    Ok(true)
}

const BLOCK_ROWS: i64 = crate::logs::store::block::BLOCK_ROWS as i64;

/// How many index entries a counting step asks for: as many as full blocks would reach the
/// cap with at first, then as many as the entries counted so far say the rest takes, at
/// least twice as many as the step before.
#[derive(Default)]
struct Stride {
    limit: i64,
    entries: i64,
    counted: i64,
}

impl Stride {
    /// The next step's entries, `left` requests short of the cap, at most `max`.
    fn next(&mut self, left: i64, max: i64) -> i64 {
        let per_entry = match self.entries {
            0 => BLOCK_ROWS,
            _ => (self.counted / self.entries).max(1),
        };
        self.limit = (self.limit * 2).max(left / per_entry + 1).min(max);
        self.limit
    }

    /// A step read `entries` entries holding `requests` requests that count.
    fn counted(&mut self, entries: i64, requests: i64) {
        self.entries += entries;
        self.counted += requests;
    }
}

/// `hay` contains `needle_lower` (ASCII lower case), ignoring ASCII case like SQL's LIKE.
fn contains_ignore_ascii_case(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_matches_like_sql_like_ignoring_ascii_case_and_nothing_is_a_wildcard() {
        assert!(contains_ignore_ascii_case("/Login?next=/", "/login"));
        assert!(contains_ignore_ascii_case("/a", ""));
        assert!(!contains_ignore_ascii_case("/logi", "/login"));
        assert!(contains_ignore_ascii_case("/50%_off", "50%_"));
        assert!(
            !contains_ignore_ascii_case("/50xyoff", "50%_"),
            "% and _ are literal"
        );
        assert!(
            !contains_ignore_ascii_case("/ÉTÉ", "/été"),
            "ASCII case only, as SQLite's LIKE"
        );
    }
}
