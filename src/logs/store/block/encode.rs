//! Packing a block: each column on its own, integers as varints (timestamps as differences
//! to the previous row), repeated strings through a per-block dictionary, and the block's
//! per-minute counts by status class.

use foldhash::{HashMap, HashMapExt};

use super::{class, Row, DAY_US};

/// A block ready to store: its summary and its packed columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub rows: usize,
    pub min_ts: i64,
    pub max_ts: i64,
    /// The distinct statuses, ascending, with how many requests have each.
    pub statuses: Vec<(i64, i64)>,
    /// Requests per minute of the day and status class.
    pub hist: Vec<u8>,
    pub ts: Vec<u8>,
    pub status: Vec<u8>,
    pub method: Vec<u8>,
    pub path: Vec<u8>,
    /// Latency, size, client ip, protocol, user agent: what only a shown row needs.
    pub rest: Vec<u8>,
}

/// Packs `rows`, which must be newest first and all within one UTC day.
pub fn encode(rows: &[Row<'_>]) -> Encoded {
    debug_assert!(rows.windows(2).all(|w| w[0].ts_us >= w[1].ts_us));
    let n = rows.len();
    let mut ts = Vec::with_capacity(n * 3 + 8);
    let mut prev = None;
    for r in rows {
        match prev {
            None => put_i(&mut ts, r.ts_us),
            Some(p) => put_u(&mut ts, (p - r.ts_us) as u64),
        }
        prev = Some(r.ts_us);
    }
    let mut status = Vec::with_capacity(n * 2);
    let mut statuses: Vec<(i64, i64)> = Vec::new();
    // Rows are newest first, so each minute's rows are consecutive: (minute, class) counts
    // are written as each minute ends.
    let mut hist = Vec::with_capacity(64);
    let mut cells = 0u64;
    let mut minute = None;
    let mut counts = [0u64; 6];
    let mut flush = |hist: &mut Vec<u8>, m: u64, counts: &mut [u64; 6]| {
        for (c, k) in counts.iter_mut().enumerate() {
            if *k > 0 {
                put_u(hist, m);
                hist.push(c as u8);
                put_u(hist, *k);
                cells += 1;
                *k = 0;
            }
        }
    };
    for r in rows {
        put_i(&mut status, r.status);
        match statuses.binary_search_by_key(&r.status, |s| s.0) {
            Ok(i) => statuses[i].1 += 1,
            Err(i) => statuses.insert(i, (r.status, 1)),
        }
        let m = (r.ts_us.rem_euclid(DAY_US) / 60_000_000) as u64;
        if minute.is_some_and(|p| p != m) {
            flush(&mut hist, minute.unwrap_or(m), &mut counts);
        }
        minute = Some(m);
        counts[usize::from(class(r.status))] += 1;
    }
    if let Some(m) = minute {
        flush(&mut hist, m, &mut counts);
    }
    let mut hist_bytes = Vec::with_capacity(hist.len() + 2);
    put_u(&mut hist_bytes, cells);
    hist_bytes.extend_from_slice(&hist);
    let mut path = Vec::with_capacity(rows.iter().map(|r| r.path.len() + 1).sum());
    for r in rows {
        put_str(&mut path, r.path);
    }
    let mut rest = Vec::with_capacity(n * 8);
    for r in rows {
        put_i(&mut rest, r.latency_us);
    }
    for r in rows {
        put_i(&mut rest, r.size);
    }
    put_dict(&mut rest, rows.iter().map(|r| r.ip));
    put_dict(&mut rest, rows.iter().map(|r| r.protocol));
    put_dict(&mut rest, rows.iter().map(|r| r.user_agent));
    let mut method = Vec::with_capacity(n + 16);
    put_dict(&mut method, rows.iter().map(|r| r.method));
    Encoded {
        rows: n,
        min_ts: rows.last().map_or(0, |r| r.ts_us),
        max_ts: rows.first().map_or(0, |r| r.ts_us),
        statuses,
        hist: hist_bytes,
        ts,
        status,
        method,
        path,
        rest,
    }
}

fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_dict<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = &'a str>) {
    // Most columns hold a few distinct values (methods, protocols, user agents): a look
    // through them costs less than hashing each value; many (addresses) go to a map.
    const FEW: usize = 16;
    let mut index: Option<HashMap<&str, u32>> = None;
    let mut order: Vec<&str> = Vec::new();
    let codes: Vec<u32> = values
        .map(|v| {
            if let Some(index) = &mut index {
                return *index.entry(v).or_insert_with(|| {
                    order.push(v);
                    (order.len() - 1) as u32
                });
            }
            if let Some(i) = order.iter().position(|o| *o == v) {
                return i as u32;
            }
            order.push(v);
            if order.len() > FEW {
                let mut map = HashMap::with_capacity(64);
                map.extend(order.iter().enumerate().map(|(i, o)| (*o, i as u32)));
                index = Some(map);
            }
            (order.len() - 1) as u32
        })
        .collect();
    put_u(out, order.len() as u64);
    for v in &order {
        put_str(out, v);
    }
    for c in codes {
        put_u(out, u64::from(c));
    }
}
