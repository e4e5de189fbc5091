//! `GET /api/logs` over blocks: requests newest first under filters, with bounded work.
//!
//! `domain`, `status` (a code), `from` and `to` pick blocks through their indexes, newest
//! block first; the blocks' rows are merged newest first (blocks of different domains overlap
//! in time). `method`, `q` and a status class are applied to the [`WINDOW`] newest requests
//! that pass the other filters; totals are counted within the same window (exact below it);
//! pages reach back [`WINDOW`] requests. Every filter value is bound or compared in Rust,
//! never pasted into SQL.

use std::{cmp::Ordering, collections::BinaryHeap};

use foldhash::{HashMap, HashMapExt};
use sqlx::{any::AnyRow, Row as _};

use super::{
    block::{self, Decoded, HOUR_US},
    domains,
    store::StoredBlock,
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

/// A block being merged: its candidate rows (those passing domain, status and time), newest
/// first, each with whether it also passes `method`, `q` and the status class.
struct Open {
    id: i64,
    domain_id: i64,
    rows: Vec<(i64, u32, i64, bool)>,
    paths: Vec<String>,
    next: usize,
}

impl Open {
    fn key(&self) -> (i64, i64, std::cmp::Reverse<u32>) {
        let (ts, pos, ..) = self.rows[self.next];
        (ts, self.id, std::cmp::Reverse(pos))
    }
}

impl PartialEq for Open {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Open {}
impl PartialOrd for Open {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Open {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Visits the requests passing `f`'s domain, status and time filters, newest first (ties:
/// newer block, then order in the block), telling for each whether `method`, `q` and the
/// status class match too, until `visit` stops or none are left. Returns whether all were
/// visited. Run it in a [`db::begin_read`] transaction: one snapshot throughout.
pub async fn scan(
    tx: &mut Tx,
    f: &Filter,
    paths: bool,
    mut visit: impl FnMut(&Hit, bool) -> Flow,
) -> Result<bool, sqlx::Error> {
    let domain_id = match &f.domain {
        None => None,
        Some(d) => {
            let id = sqlx::query("SELECT id FROM access_log_domains WHERE name = $1")
                .bind(d)
                .fetch_optional(&mut **tx)
                .await?;
            match id {
                Some(r) => Some(r.try_get::<i64, _>(0)?),
                None => return Ok(true),
            }
        }
    };
    let q = f.q.as_ref().map(|q| q.to_ascii_lowercase());
    let mut blocks = Blocks::new(f, domain_id, paths || q.is_some());
    let mut heap: BinaryHeap<Open> = BinaryHeap::new();
    loop {
        // A stored block may hold a newer request than the newest open row: open it first.
        while let Some((max_ts, id)) = blocks.peek(tx).await? {
            if heap.peek().is_some_and(|o| {
                let (ts, bid, _) = o.key();
                (ts, bid) > (max_ts, id)
            }) {
                break;
            }
            let row = blocks.take().expect("peeked");
            let open = open_block(&row, f, q.as_deref(), paths)?;
            if !open.rows.is_empty() {
                heap.push(open);
            }
        }
        let Some(mut top) = heap.pop() else {
            return Ok(true);
        };
        let (ts_us, pos, status, matched) = top.rows[top.next];
        let hit = Hit {
            block: top.id,
            pos,
            ts_us,
            domain_id: top.domain_id,
            status,
            path: top.paths.get(top.next).cloned(),
        };
        if visit(&hit, matched) == Flow::Stop {
            return Ok(false);
        }
        top.next += 1;
        if top.next < top.rows.len() {
            heap.push(top);
        }
    }
}

/// Decodes what the filters need of one block and keeps its candidate rows.
fn open_block(r: &AnyRow, f: &Filter, q: Option<&str>, paths: bool) -> Result<Open, sqlx::Error> {
    let n = r.try_get::<i64, _>("n")? as usize;
    let ts = block::decode_ts(&r.try_get::<Vec<u8>, _>("ts_data")?, n)?;
    let status = block::decode_ints(&r.try_get::<Vec<u8>, _>("status_data")?, n)?;
    let method_data: Option<Vec<u8>> = match f.method {
        Some(_) => Some(r.try_get("method_data")?),
        None => None,
    };
    let methods = method_data
        .as_deref()
        .map(|m| block::decode_dict(m, n))
        .transpose()?;
    let path_data: Option<Vec<u8>> = match q.is_some() || paths {
        true => Some(r.try_get("path_data")?),
        false => None,
    };
    let path_list = path_data
        .as_deref()
        .map(|p| block::decode_paths(p, n))
        .transpose()?;
    let mut rows = Vec::new();
    let mut kept_paths = Vec::new();
    for i in 0..n {
        let (t, s) = (ts[i], status[i]);
        if f.status.is_some_and(|x| x != s)
            || f.from_us.is_some_and(|x| t < x)
            || f.to_us.is_some_and(|x| t > x)
        {
            continue;
        }
        let matched = f.status_class.is_none_or(|c| s / 100 == c)
            && match (&f.method, &methods) {
                (Some(m), Some((dict, codes))) => dict[codes[i] as usize] == m,
                _ => true,
            }
            && match (q, &path_list) {
                (Some(q), Some(p)) => contains_ignore_ascii_case(p[i], q),
                _ => true,
            };
        rows.push((t, i as u32, s, matched));
        if paths {
            kept_paths.push(path_list.as_ref().map_or("", |p| p[i]).to_string());
        }
    }
    Ok(Open {
        id: r.try_get("id")?,
        domain_id: r.try_get("domain_id")?,
        rows,
        paths: kept_paths,
        next: 0,
    })
}

/// `hay` contains `needle_lower` (ASCII lower case), ignoring ASCII case like SQL's LIKE.
fn contains_ignore_ascii_case(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The blocks a filter may find rows in, newest first, fetched a few at a time (keyset
/// pagination on `(max_ts, id)`, through the block or status index).
struct Blocks {
    sql: String,
    binds: Vec<i64>,
    after: (i64, i64),
    fetched: std::collections::VecDeque<AnyRow>,
    page: i64,
    done: bool,
}

impl Blocks {
    fn new(f: &Filter, domain_id: Option<i64>, paths: bool) -> Self {
        let mut cols = String::from("b.id, b.domain_id, b.max_ts, b.n, b.ts_data, b.status_data");
        if f.method.is_some() {
            cols += ", b.method_data";
        }
        if paths {
            cols += ", b.path_data";
        }
        let mut binds = Vec::new();
        let mut cond = Vec::new();
        let bind = |binds: &mut Vec<i64>, v: i64| {
            binds.push(v);
            format!("${}", binds.len())
        };
        // Through the status index when a status (and no domain) narrows it best.
        let (from, key) = match (domain_id, f.status) {
            (Some(d), _) => {
                cond.push(format!("b.domain_id = {}", bind(&mut binds, d)));
                ("access_log_blocks b", "b.max_ts")
            }
            (None, Some(s)) => {
                cond.push(format!("s.status = {}", bind(&mut binds, s)));
                (
                    "access_log_block_statuses s JOIN access_log_blocks b ON b.id = s.block_id",
                    "s.max_ts",
                )
            }
            (None, None) => ("access_log_blocks b", "b.max_ts"),
        };
        let id = if key == "s.max_ts" {
            "s.block_id"
        } else {
            "b.id"
        };
        if let Some(t) = f.from_us {
            cond.push(format!("{key} >= {}", bind(&mut binds, t)));
        }
        if let Some(t) = f.to_us {
            // A block's rows span less than an hour: blocks ending later cannot hold any.
            cond.push(format!(
                "{key} < {}",
                bind(&mut binds, t.saturating_add(HOUR_US))
            ));
            cond.push(format!("b.min_ts <= {}", bind(&mut binds, t)));
        }
        let k = binds.len();
        cond.push(format!(
            "{key} <= ${} AND ({key} < ${} OR {id} < ${})",
            k + 1,
            k + 1,
            k + 2
        ));
        let sql = format!(
            "SELECT {cols} FROM {from} WHERE {} ORDER BY {key} DESC, {id} DESC LIMIT ${}",
            cond.join(" AND "),
            k + 3
        );
        Blocks {
            sql,
            binds,
            after: (i64::MAX, i64::MAX),
            fetched: Default::default(),
            page: 4,
            done: false,
        }
    }

    /// The next block's `(max_ts, id)`, fetching more when needed.
    async fn peek(&mut self, tx: &mut Tx) -> Result<Option<(i64, i64)>, sqlx::Error> {
        if self.fetched.is_empty() && !self.done {
            let mut q = sqlx::query(&self.sql);
            for &b in &self.binds {
                q = q.bind(b);
            }
            let rows = q
                .bind(self.after.0)
                .bind(self.after.1)
                .bind(self.page)
                .fetch_all(&mut **tx)
                .await?;
            self.done = (rows.len() as i64) < self.page;
            self.page = (self.page * 2).min(128);
            if let Some(last) = rows.last() {
                self.after = (last.try_get("max_ts")?, last.try_get("id")?);
            }
            self.fetched.extend(rows);
        }
        match self.fetched.front() {
            None => Ok(None),
            Some(r) => Ok(Some((r.try_get("max_ts")?, r.try_get("id")?))),
        }
    }

    fn take(&mut self) -> Option<AnyRow> {
        self.fetched.pop_front()
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
    let count = !f.is_empty();
    let (mut seen, mut matched) = (0i64, 0i64);
    let mut hits = Vec::new();
    let mut tx = db::begin_read(db).await?;
    let all = scan(&mut tx, f, false, |hit, is_match| {
        seen += 1;
        if is_match {
            if (offset..offset + limit).contains(&matched) {
                hits.push(hit.clone());
            }
            matched += 1;
        }
        // Without filters the total is known: stop at the page. With them, count the window.
        if (!count && matched >= offset + limit) || seen >= WINDOW {
            Flow::Stop
        } else {
            Flow::More
        }
    })
    .await?;
    let rows = fetch(&mut tx, &hits).await?;
    let (total, exact) = if count {
        (matched, all)
    } else {
        (stored, true)
    };
    Ok(Page { rows, total, exact })
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
    let list = |n: usize| {
        (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "SELECT {} FROM access_log_blocks WHERE id IN ({})",
        StoredBlock::COLUMNS,
        list(ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(*id);
    }
    let stored = q
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(StoredBlock::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let names = domains::names(tx, &domain_ids).await?;
    let mut decoded = HashMap::with_capacity(stored.len());
    for b in &stored {
        decoded.insert(b.id, Decoded::decode(&b.columns())?);
    }
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let Some(r) = decoded.get(&h.block).and_then(|d| d.row(h.pos as usize)) else {
            continue;
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
        let b = Blocks::new(&f, None, false);
        assert_eq!(
            b.sql,
            "SELECT b.id, b.domain_id, b.max_ts, b.n, b.ts_data, b.status_data, b.method_data \
             FROM access_log_block_statuses s JOIN access_log_blocks b ON b.id = s.block_id \
             WHERE s.status = $1 AND s.max_ts >= $2 AND s.max_ts < $3 AND b.min_ts <= $4 AND \
             s.max_ts <= $5 AND (s.max_ts < $5 OR s.block_id < $6) ORDER BY s.max_ts DESC, \
             s.block_id DESC LIMIT $7"
        );
        assert_eq!(b.binds, [500, 10, 20 + HOUR_US, 20]);
        let d = Blocks::new(&f, Some(7), true);
        assert!(
            d.sql
                .contains("FROM access_log_blocks b WHERE b.domain_id = $1 AND b.max_ts >= $2"),
            "{}",
            d.sql
        );
    }
}
