//! `GET /api/logs` over blocks: requests newest first under filters, with bounded work.
//!
//! `domain`, `status` (a code), `from` and `to` pick blocks through their indexes, newest
//! block first; the blocks' rows are merged newest first (blocks of different domains overlap
//! in time). A status class is the codes of that class the store holds, one scan each, merged.
//! `method` and `q` are applied to the [`WINDOW`] newest requests that pass the other filters;
//! totals are counted within the same window (exact below it); pages reach back [`WINDOW`]
//! requests. Every filter value is bound or compared in Rust, never pasted into SQL.

use std::collections::BinaryHeap;

use foldhash::HashMap;
use sqlx::{any::AnyRow, Row as _};

use super::store::{
    block::{self, Decoded, DAY_US},
    counters, domains,
    table::{self, StoredBlock},
};
use crate::db::{self, Db, Tx};

/// How many requests one answer looks at, at most.
pub const WINDOW: i64 = 10_000;

/// Validated filters.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filter {
    pub domain: Option<String>,
    pub status: Option<i64>,
    /// A status class: 5 for 5xx.
    pub status_class: Option<i64>,
    /// Epoch microseconds, inclusive.
    pub from_us: Option<i64>,
    /// Epoch microseconds, inclusive.
    pub to_us: Option<i64>,
    pub method: Option<String>,
    /// Case-insensitive (ASCII) substring of the path.
    pub q: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// One request the scan met: where it is stored, and what the scan decoded of it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub block: i64,
    pub pos: u32,
    pub ts_us: i64,
    pub domain_id: i64,
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

/// The merge order of a row: newest first, then the newer block, then first in its block.
type Key = (i64, i64, std::cmp::Reverse<usize>);

/// A block being merged. Timestamps, statuses and paths are decoded only as far as rows are
/// visited (most opened blocks contribute a few rows to a page).
#[derive(Default)]
struct Open {
    id: i64,
    domain_id: i64,
    rows: usize,
    ts: block::IntCursor<Vec<u8>>,
    status: block::IntCursor<Vec<u8>>,
    /// Whether each method of the block's dictionary is the one asked for, and each row's.
    methods: Option<(Vec<bool>, Vec<u32>)>,
    paths: Option<block::PathCursor>,
    /// The block's requests passing the status filter, when all of them are inside the time
    /// range: what is left to visit is this minus what was visited.
    inside: Option<i64>,
    /// Candidates visited.
    visited: i64,
    /// Whether the block's oldest request is inside `from`.
    from_inside: bool,
    /// The next candidate row (passing the status and time filters); `rows` when done.
    next: usize,
}

impl Open {
    /// Valid while not [`done`](Self::done): `seek` decoded the timestamp of `next`.
    fn key(&mut self) -> Result<Key, block::Corrupt> {
        Ok((
            self.ts.get(self.next)?,
            self.id,
            std::cmp::Reverse(self.next),
        ))
    }

    fn done(&self) -> bool {
        self.next >= self.rows
    }

    /// Moves `next` to the first candidate at or after `from`: a row passing the status and
    /// time filters.
    fn seek(&mut self, f: &Filter, from: usize) -> Result<(), block::Corrupt> {
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
    fn remaining(&mut self, f: &Filter) -> Result<i64, block::Corrupt> {
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

/// The requests passing a filter's domain, status and time filters, newest first (ties:
/// newer block, then order in the block), each with whether `method`, `q` and the status
/// class match too. Run it in a [`db::begin_read`] transaction: one snapshot throughout.
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
        let q = f.q.as_ref().map(|q| q.to_ascii_lowercase());
        // How long after `to` a block holding a request of the range may end.
        let span = match f.to_us {
            Some(_) => counters::max_span(tx).await?,
            None => DAY_US,
        };
        Ok(Scan {
            blocks: Blocks::new(f, domain_id, paths || q.is_some(), span),
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
        let path = match &mut top.paths {
            Some(p) => Some(p.get(i)?),
            None => None,
        };
        let matched = self.f.status_class.is_none_or(|c| status / 100 == c)
            && top
                .methods
                .as_ref()
                .is_none_or(|(ok, codes)| ok[codes[i] as usize])
            && match (&self.q, path) {
                (Some(q), Some(p)) => contains_ignore_ascii_case(p, q),
                _ => true,
            };
        let hit = Hit {
            block: top.id,
            pos: i as u32,
            ts_us: top.ts.get(i)?,
            domain_id: top.domain_id,
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
        loop {
            if n >= cap {
                return Ok((n, false));
            }
            let mut q = sqlx::query(&self.blocks.count_sql);
            for &b in &self.blocks.binds {
                q = q.bind(b);
            }
            let rows = q
                .bind(after.0)
                .bind(after.1)
                .bind(after.2)
                .bind(256i64)
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
            match rows.last() {
                Some(last) if rows.len() == 256 => {
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
        let columns = "id, domain_id, min_ts, max_ts, n, n AS hits, ts_data, status_data";
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

/// Opens a block: keeps its timestamps and statuses (and paths when asked) for decoding as
/// far as rows are visited, decodes its method codes when asked, and finds its first
/// candidate row.
fn open_block(r: AnyRow, f: &Filter, paths: bool) -> Result<Open, sqlx::Error> {
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

/// `hay` contains `needle_lower` (ASCII lower case), ignoring ASCII case like SQL's LIKE.
fn contains_ignore_ascii_case(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The blocks a filter may find rows in, newest first, fetched a few at a time (keyset
/// pagination on `(max_ts, min_ts, id)`, the order of the block and status indexes).
struct Blocks {
    /// Fetches blocks with what opening them needs.
    sql: String,
    /// Fetches only what counting them needs (`id, min_ts, max_ts, n`), from the index.
    count_sql: String,
    binds: Vec<i64>,
    after: (i64, i64, i64),
    /// Fetched blocks not opened yet, with their `max_ts`.
    fetched: std::collections::VecDeque<(i64, AnyRow)>,
    page: i64,
    done: bool,
}

impl Blocks {
    /// `span`: the longest time a stored block spans.
    fn new(f: &Filter, domain_id: Option<i64>, paths: bool, span: i64) -> Self {
        let mut binds = Vec::new();
        let mut cond = Vec::new();
        let bind = |binds: &mut Vec<i64>, v: i64| {
            binds.push(v);
            format!("${}", binds.len())
        };
        // A status narrows best through its postings, which also count the block's requests
        // of that status; otherwise the block index (by domain or overall).
        let (t, id) = match f.status {
            Some(s) => {
                cond.push(format!("s.status = {}", bind(&mut binds, s)));
                ("s", "s.block_id")
            }
            None => ("b", "b.id"),
        };
        // `hits`: the block's requests passing the status filter.
        let mut cols = format!(
            "b.id, b.domain_id, b.min_ts, b.max_ts, b.n, {t}.n AS hits, b.ts_data, b.status_data"
        );
        if f.method.is_some() {
            cols += ", b.method_data";
        }
        if paths {
            cols += ", b.path_data";
        }
        if let Some(d) = domain_id {
            cond.push(format!("{t}.domain_id = {}", bind(&mut binds, d)));
        }
        if let Some(v) = f.from_us {
            cond.push(format!("{t}.max_ts >= {}", bind(&mut binds, v)));
        }
        if let Some(v) = f.to_us {
            // Blocks ending later than `to` plus the longest span cannot hold any.
            cond.push(format!(
                "{t}.max_ts <= {}",
                bind(&mut binds, v.saturating_add(span))
            ));
            cond.push(format!("{t}.min_ts <= {}", bind(&mut binds, v)));
        }
        let k = binds.len();
        cond.push(format!(
            "({t}.max_ts, {t}.min_ts, {id}) < (${}, ${}, ${})",
            k + 1,
            k + 2,
            k + 3
        ));
        let order = format!(
            "WHERE {} ORDER BY {t}.max_ts DESC, {t}.min_ts DESC, {id} DESC LIMIT ${}",
            cond.join(" AND "),
            k + 4
        );
        let (sql, count_sql) = if t == "s" {
            (
                format!("SELECT {cols} FROM access_log_block_statuses s JOIN access_log_blocks b ON b.id = s.block_id {order}"),
                format!("SELECT s.block_id AS id, s.min_ts, s.max_ts, s.n FROM access_log_block_statuses s {order}"),
            )
        } else {
            (
                format!("SELECT {cols} FROM access_log_blocks b {order}"),
                format!("SELECT b.id, b.min_ts, b.max_ts, b.n FROM access_log_blocks b {order}"),
            )
        };
        Blocks {
            sql,
            count_sql,
            binds,
            after: (i64::MAX, i64::MAX, i64::MAX),
            fetched: Default::default(),
            page: 4,
            done: false,
        }
    }

    /// The next block's `max_ts`, fetching more when needed.
    async fn peek(&mut self, tx: &mut Tx) -> Result<Option<i64>, sqlx::Error> {
        if self.fetched.is_empty() && !self.done {
            let mut q = sqlx::query(&self.sql);
            for &b in &self.binds {
                q = q.bind(b);
            }
            let rows = q
                .bind(self.after.0)
                .bind(self.after.1)
                .bind(self.after.2)
                .bind(self.page)
                .fetch_all(&mut **tx)
                .await?;
            self.done = (rows.len() as i64) < self.page;
            self.page = (self.page * 2).min(32);
            if let Some(last) = rows.last() {
                self.after = (
                    last.try_get("max_ts")?,
                    last.try_get("min_ts")?,
                    last.try_get("id")?,
                );
            }
            for r in rows {
                self.fetched.push_back((r.try_get("max_ts")?, r));
            }
        }
        Ok(self.fetched.front().map(|f| f.0))
    }

    fn take(&mut self) -> Option<AnyRow> {
        self.fetched.pop_front().map(|f| f.1)
    }
}

/// One request as the API shows it, before formatting.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub ts_us: i64,
    pub domain: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub latency_us: i64,
    pub ip: String,
    pub size: i64,
    pub protocol: String,
    pub user_agent: String,
}

/// A page of requests and the total as far as the window reaches.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Request>,
    /// Matching requests (within the window when `exact` is false, a lower bound).
    pub total: i64,
    pub exact: bool,
    /// When `method`/`q` were applied to the window and the range holds more: the time of the
    /// oldest request looked at (requests before it were not searched).
    pub searched_since: Option<i64>,
}

/// The requests `offset..offset + limit` of those matching `f`, newest first. `stored` is
/// the store's row count, the total when there is no filter.
pub async fn page(
    db: &Db,
    f: &Filter,
    limit: i64,
    offset: i64,
    stored: i64,
) -> Result<Page, sqlx::Error> {
    let mut tx = db::begin_read(db).await?;
    let mut scan = Merged::new(&mut tx, f).await?;
    let (mut seen, mut matched) = (0i64, 0i64);
    let mut hits = Vec::new();
    let mut oldest_seen = None;
    while seen < WINDOW && matched < offset + limit {
        let Some((hit, is_match)) = scan.next(&mut tx).await? else {
            break;
        };
        seen += 1;
        oldest_seen = Some(hit.ts_us);
        if is_match {
            if matched >= offset {
                hits.push(hit);
            }
            matched += 1;
        }
    }
    let rows = fetch(&mut tx, &hits).await?;
    if f.is_empty() {
        // The total is the store's counter.
        return Ok(Page {
            rows,
            total: stored,
            exact: true,
            searched_since: None,
        });
    }
    let residual = f.method.is_some() || f.q.is_some();
    let all = if residual {
        // What matches is known only by looking: count within the window.
        while seen < WINDOW {
            let Some((hit, is_match)) = scan.next(&mut tx).await? else {
                return Ok(Page {
                    rows,
                    total: matched,
                    exact: true,
                    searched_since: None,
                });
            };
            seen += 1;
            oldest_seen = Some(hit.ts_us);
            matched += i64::from(is_match);
        }
        // The window is full: is there more to the range?
        scan.next(&mut tx).await?.is_none()
    } else if seen < WINDOW {
        let (rest, counted_all) = scan.count_rest(&mut tx, WINDOW - seen).await?;
        matched += rest;
        counted_all
    } else {
        scan.next(&mut tx).await?.is_none()
    };
    // From the window on, the total is a lower bound: "10,000 or more".
    Ok(Page {
        rows,
        total: matched.min(WINDOW),
        // With method/q, all of a range of exactly WINDOW requests was searched.
        exact: all && (matched < WINDOW || residual),
        searched_since: oldest_seen.filter(|_| residual && !all),
    })
}

/// What [`page`] reads: one [`Scan`], or for a status class one per code of the class the
/// store holds, merged newest first (a request has one code: none is met twice).
struct Merged {
    scans: Vec<Scan>,
    /// Each scan's next request, read ahead; `None` once it has no more.
    heads: Vec<Option<(Hit, bool)>>,
}

impl Merged {
    async fn new(tx: &mut Tx, f: &Filter) -> Result<Merged, sqlx::Error> {
        let mut scans = Vec::new();
        match (f.status, f.status_class) {
            (None, Some(class)) => {
                for code in codes_of_class(tx, class).await? {
                    let one = Filter {
                        status: Some(code),
                        status_class: None,
                        ..f.clone()
                    };
                    scans.push(Scan::new(tx, &one, false).await?);
                }
            }
            // A code and a class: the code, if it is of the class; else nothing.
            (Some(code), Some(class)) => {
                if code / 100 == class {
                    let one = Filter {
                        status_class: None,
                        ..f.clone()
                    };
                    scans.push(Scan::new(tx, &one, false).await?);
                }
            }
            _ => scans.push(Scan::new(tx, f, false).await?),
        }
        let mut heads = Vec::with_capacity(scans.len());
        if scans.len() > 1 {
            for s in &mut scans {
                heads.push(s.next(tx).await?);
            }
        }
        Ok(Merged { scans, heads })
    }

    async fn next(&mut self, tx: &mut Tx) -> Result<Option<(Hit, bool)>, sqlx::Error> {
        if let [one] = &mut self.scans[..] {
            return one.next(tx).await;
        }
        let newest = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(h, _)| (key_of(h), i)))
            .max();
        let Some((_, i)) = newest else {
            return Ok(None);
        };
        let next = self.scans[i].next(tx).await?;
        Ok(std::mem::replace(&mut self.heads[i], next))
    }

    /// [`Scan::count_rest`] over all scans.
    async fn count_rest(&mut self, tx: &mut Tx, cap: i64) -> Result<(i64, bool), sqlx::Error> {
        let mut n = self.heads.iter().flatten().count() as i64;
        for s in &mut self.scans {
            if n >= cap {
                return Ok((n, false));
            }
            let (k, all) = s.count_rest(tx, cap - n).await?;
            n += k;
            if !all {
                return Ok((n, false));
            }
        }
        Ok((n, true))
    }
}

/// A hit's place in the merge order (the order of [`Key`]).
fn key_of(h: &Hit) -> Key {
    (h.ts_us, h.block, std::cmp::Reverse(h.pos as usize))
}

/// The status codes of class `class` (5 for 500–599) found in the store, ascending: one index
/// seek each.
async fn codes_of_class(tx: &mut Tx, class: i64) -> Result<Vec<i64>, sqlx::Error> {
    let (mut after, end) = (class * 100 - 1, class * 100 + 100);
    let mut codes = Vec::new();
    loop {
        let code: Option<i64> = sqlx::query(
            "SELECT MIN(status) FROM access_log_block_statuses WHERE status > $1 AND status < $2",
        )
        .bind(after)
        .bind(end)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
        match code {
            Some(c) => {
                codes.push(c);
                after = c;
            }
            None => return Ok(codes),
        }
    }
}

/// The full requests behind `hits`, in the same order.
async fn fetch(tx: &mut Tx, hits: &[Hit]) -> Result<Vec<Request>, sqlx::Error> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<i64> = hits.iter().map(|h| h.block).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut domain_ids: Vec<i64> = hits.iter().map(|h| h.domain_id).collect();
    domain_ids.sort_unstable();
    domain_ids.dedup();
    let stored = table::blocks_by_id(tx, StoredBlock::COLUMNS, &ids)
        .await?
        .iter()
        .map(StoredBlock::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let names = domains::names(tx, &domain_ids).await?;
    let by_id: HashMap<i64, &StoredBlock> = stored.iter().map(|b| (b.id, b)).collect();
    // A block that shows many rows is decoded once; one that shows a few, row by row.
    let mut shown: HashMap<i64, usize> = HashMap::default();
    for h in hits {
        *shown.entry(h.block).or_default() += 1;
    }
    let mut whole = HashMap::default();
    for (id, b) in &by_id {
        if shown.get(id).is_some_and(|&k| k >= 8) {
            whole.insert(*id, Decoded::decode(&b.columns())?);
        }
    }
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let Some(b) = by_id.get(&h.block) else {
            continue;
        };
        let r = match whole.get(&h.block) {
            Some(d) => d
                .row(h.pos as usize)
                .ok_or(block::Corrupt("row out of range"))?,
            None => block::row_at(&b.columns(), h.pos as usize)?,
        };
        out.push(Request {
            ts_us: r.ts_us,
            domain: names.get(&h.domain_id).cloned().unwrap_or_default(),
            method: r.method.to_string(),
            path: r.path.to_string(),
            status: r.status,
            latency_us: r.latency_us,
            ip: r.ip.to_string(),
            size: r.size,
            protocol: r.protocol.to_string(),
            user_agent: r.user_agent.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::store::{block::Row, write};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// A fresh store knowing domains 1, 2 and 3: a, b and c.example.com.
    async fn store_of_three_domains() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        for (id, name) in [
            (1, "a.example.com"),
            (2, "b.example.com"),
            (3, "c.example.com"),
        ] {
            sqlx::query("INSERT INTO access_log_domains (id, name) VALUES ($1, $2)")
                .bind(id)
                .bind(name)
                .execute(&db)
                .await
                .unwrap();
        }
        (dir, db)
    }

    /// Pages and totals from blocks equal a brute-force filter of every request, for random
    /// filters over blocks of every kind: several domains and days, full, chunked and merged
    /// small blocks, ranges inside, straddling and between blocks.
    #[tokio::test]
    async fn pages_and_totals_equal_filtering_every_request() {
        let (_dir, db) = store_of_three_domains().await;
        let mut r = StdRng::seed_from_u64(3);
        // Two days and a bit from 2025-01-15T00:00:00Z; distinct microseconds (no ties: their
        // order is another test's); more requests than the window.
        let start = 1_736_899_200_000_000i64;
        let methods = ["GET", "POST", "DELETE"];
        // Classes of one code (4xx), of several (3xx, 5xx), and none (1xx).
        let statuses = [200, 200, 200, 301, 304, 404, 500, 502, 503];
        let n = 14_000;
        let mut ts: Vec<i64> = (0..n)
            .map(|_| start + r.gen_range(0..2 * DAY_US + 7_200_000_000))
            .collect();
        ts.sort_unstable();
        ts.dedup();
        let paths: Vec<String> = (0..ts.len()).map(|i| format!("/p/{i}")).collect();
        let all: Vec<(Row, i64)> = ts
            .iter()
            .zip(&paths)
            .map(|(&t, p)| {
                let row = Row {
                    method: methods[r.gen_range(0..3)],
                    status: statuses[r.gen_range(0..statuses.len())],
                    ..block::test_row(t, p)
                };
                (row, r.gen_range(1..=3))
            })
            .collect();
        // Batches in time order of every size: single requests (merged into small blocks),
        // hundreds, and groups bigger than a block (stored in chunks).
        let mut at = 0;
        while at < all.len() {
            let size = match r.gen_range(0..4) {
                0 => r.gen_range(1..4),
                1 => r.gen_range(4..100),
                2 => r.gen_range(100..600),
                _ => r.gen_range(600..5_000),
            };
            let batch = &all[at..(at + size).min(all.len())];
            let rows: Vec<Row> = batch.iter().map(|b| b.0).collect();
            let ids: Vec<i64> = batch.iter().map(|b| b.1).collect();
            let mut tx = db::begin_write(&db).await.unwrap();
            write::write_rows(&mut tx, &rows, &ids).await.unwrap();
            tx.commit().await.unwrap();
            at += size;
        }
        let stored = all.len() as i64;
        // What the rounds covered: past the window, classes of several codes, an empty
        // class, deep pages.
        let (mut over, mut several, mut empty, mut deep, mut limited) = (0, 0, 0, 0, 0);
        for round in 0..200 {
            let from = start + r.gen_range(0..2 * DAY_US);
            let mut f = Filter {
                domain: r
                    .gen_bool(0.25)
                    .then(|| ["a", "b", "c", "d"][r.gen_range(0..4)].to_string() + ".example.com"),
                status: None,
                status_class: None,
                from_us: r.gen_bool(0.4).then_some(from),
                to_us: r.gen_bool(0.4).then(|| from + r.gen_range(0..DAY_US / 2)),
                method: r
                    .gen_bool(0.2)
                    .then(|| methods[r.gen_range(0..3)].to_string()),
                q: r.gen_bool(0.1)
                    .then(|| format!("/p/{}", r.gen_range(0..20))),
            };
            match r.gen_range(0..6) {
                0 | 1 => f.status = Some(statuses[r.gen_range(0..statuses.len())]),
                2 | 3 => f.status_class = Some(r.gen_range(1..=5)),
                4 => {
                    f.status = Some(statuses[r.gen_range(0..statuses.len())]);
                    f.status_class = Some(r.gen_range(2..=5));
                }
                _ => {}
            }
            let limit = r.gen_range(1..60);
            let offset = match r.gen_bool(0.3) {
                true => r.gen_range(0..WINDOW),
                false => r.gen_range(0..200),
            };
            let domain_id = f.domain.as_deref().map(|d| match d {
                "a.example.com" => 1,
                "b.example.com" => 2,
                "c.example.com" => 3,
                _ => 0,
            });
            // The newest WINDOW requests passing domain/status/time, then the residual filters.
            let candidates: Vec<&(Row, i64)> = all
                .iter()
                .rev()
                .filter(|(row, d)| {
                    domain_id.is_none_or(|x| x == *d)
                        && f.status.is_none_or(|s| s == row.status)
                        && f.status_class.is_none_or(|c| c == row.status / 100)
                        && f.from_us.is_none_or(|t| row.ts_us >= t)
                        && f.to_us.is_none_or(|t| row.ts_us <= t)
                })
                .collect();
            let matching: Vec<&str> = candidates
                .iter()
                .take(WINDOW as usize)
                .filter(|(row, _)| {
                    f.method.as_deref().is_none_or(|m| m == row.method)
                        && f.q.as_deref().is_none_or(|q| row.path.contains(q))
                })
                .map(|(row, _)| row.path)
                .collect();
            let residual = f.method.is_some() || f.q.is_some();
            let total = match residual {
                true => matching.len(),
                false => candidates.len(),
            };
            let got = page(&db, &f, limit, offset, stored).await.unwrap();
            let want: Vec<&str> = matching
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .copied()
                .collect();
            let paths: Vec<&str> = got.rows.iter().map(|x| x.path.as_str()).collect();
            assert_eq!(
                paths, want,
                "round {round}: {f:?} limit {limit} offset {offset}"
            );
            // Without filters the total is the store's counter; method/q search the window
            // and say how far back.
            let w = WINDOW as usize;
            let want_total = match (f.is_empty(), residual) {
                (true, _) => (stored, true),
                (false, true) => (total.min(w) as i64, candidates.len() <= w),
                (false, false) => (total.min(w) as i64, candidates.len() < w),
            };
            assert_eq!((got.total, got.exact), want_total, "round {round}: {f:?}");
            let since = match residual && candidates.len() > w {
                true => Some(candidates[w - 1].0.ts_us),
                false => None,
            };
            assert_eq!(got.searched_since, since, "round {round}: {f:?}");
            over += usize::from(candidates.len() > WINDOW as usize);
            limited += usize::from(since.is_some());
            let class = f.status_class.filter(|_| f.status.is_none());
            several += usize::from(matches!(class, Some(3 | 5)));
            empty += usize::from(class == Some(1));
            deep += usize::from(offset > 5_000 && !want.is_empty());
        }
        assert!(
            over >= 10 && several >= 10 && empty >= 3 && deep >= 3 && limited >= 3,
            "{over} {several} {empty} {deep} {limited}"
        );
    }

    /// Requests logged at the same microsecond come newest block first, then in block order,
    /// even when a newer block ends at the same time but starts earlier than an older one.
    #[tokio::test]
    async fn equal_times_come_newer_block_first() {
        let (_dir, db) = store_of_three_domains().await;
        let t = 1_736_935_200_000_000i64;
        let row = block::test_row;
        // Blocks 1 (domain b), 2 (domain a), 3 (domain c), in this order.
        for (domain, rows) in [
            (2, [row(t, "/f0"), row(t - 1, "/f1")]),
            (1, [row(t, "/x0"), row(t - 1, "/x1")]),
            (3, [row(t, "/g0"), row(t - 5, "/g1")]),
        ] {
            let mut tx = db::begin_write(&db).await.unwrap();
            write::write_rows(&mut tx, &rows, &[domain; 2])
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        for f in [
            Filter::default(),
            Filter {
                status_class: Some(2),
                ..Filter::default()
            },
        ] {
            let p = page(&db, &f, 10, 0, 6).await.unwrap();
            let paths: Vec<&str> = p.rows.iter().map(|r| r.path.as_str()).collect();
            assert_eq!(paths, ["/g0", "/x0", "/f0", "/x1", "/f1", "/g1"], "{f:?}");
        }
    }

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

    #[test]
    fn block_queries_bind_every_value_and_use_the_index_for_the_filter() {
        let f = Filter {
            status: Some(500),
            from_us: Some(10),
            to_us: Some(20),
            method: Some("GET' OR 1=1".into()),
            ..Filter::default()
        };
        let b = Blocks::new(&f, None, false, DAY_US);
        assert_eq!(
            b.sql,
            "SELECT b.id, b.domain_id, b.min_ts, b.max_ts, b.n, s.n AS hits, b.ts_data, b.status_data, \
             b.method_data FROM access_log_block_statuses s JOIN access_log_blocks b ON b.id = \
             s.block_id WHERE s.status = $1 AND s.max_ts >= $2 AND s.max_ts <= $3 AND s.min_ts \
             <= $4 AND (s.max_ts, s.min_ts, s.block_id) < ($5, $6, $7) ORDER BY s.max_ts DESC, \
             s.min_ts DESC, s.block_id DESC LIMIT $8"
        );
        assert_eq!(b.binds, [500, 10, 20 + DAY_US, 20]);
        let ds = Blocks::new(&f, Some(7), false, DAY_US);
        assert!(
            ds.sql
                .contains("WHERE s.status = $1 AND s.domain_id = $2 AND"),
            "{}",
            ds.sql
        );
        let unfiltered_status = Filter {
            status: None,
            ..f.clone()
        };
        let d = Blocks::new(&unfiltered_status, Some(7), true, DAY_US);
        assert!(
            d.sql
                .contains("FROM access_log_blocks b WHERE b.domain_id = $1 AND b.max_ts >= $2"),
            "{}",
            d.sql
        );
        assert!(
            d.count_sql
                .starts_with("SELECT b.id, b.min_ts, b.max_ts, b.n FROM access_log_blocks b WHERE"),
            "counting reads the index only: {}",
            d.count_sql
        );
    }
}
