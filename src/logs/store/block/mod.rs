//! How requests are stored: in blocks of up to [`BLOCK_ROWS`] requests of one domain within
//! one UTC day, newest first, each column packed on its own (integers as varints, repeated
//! strings through a per-block dictionary). One SQLite row per block instead of one row and
//! four index entries per request is what lets ingest run at several hundred thousand lines
//! a second on one core; queries find blocks by domain, status and time and decode only the
//! columns they need (see `query.rs`).

use foldhash::{HashMap, HashMapExt};

/// Requests per block at most: bounds what a query decodes to show one row.
pub const BLOCK_ROWS: usize = 1024;
/// A stored block with fewer requests than this takes in the next batch's requests of its
/// domain and day (rewritten as one), so a quiet proxy's many small batches do not leave a
/// block per request.
pub const SMALL: usize = 128;
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

/// A block's bytes that do not decode: the store was damaged or written by something else.
#[derive(Debug, thiserror::Error)]
#[error("a stored access-log block is damaged ({0})")]
pub struct Corrupt(pub &'static str);

impl From<Corrupt> for sqlx::Error {
    fn from(e: Corrupt) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

/// The timestamps of a block's `n` rows, newest first.
pub fn decode_ts(data: &[u8], n: usize) -> Result<Vec<i64>, Corrupt> {
    IntCursor::timestamps(data, n).all()
}

/// A column of `n` integers (statuses).
pub fn decode_ints(data: &[u8], n: usize) -> Result<Vec<i64>, Corrupt> {
    IntCursor::ints(data, n).all()
}

/// An integer column of a block (timestamps or statuses), decoded as far as it is read: a
/// query opening a block often needs its first rows only.
#[derive(Default)]
pub struct IntCursor<D> {
    data: D,
    rows: usize,
    /// Timestamps are stored as the first value then differences to the previous (older) row.
    deltas: bool,
    /// Byte offset of the first row not decoded yet.
    at: usize,
    values: Vec<i64>,
}

impl<D: AsRef<[u8]>> IntCursor<D> {
    /// A timestamp column of `rows` rows.
    pub fn timestamps(data: D, rows: usize) -> Self {
        Self::new(data, rows, true)
    }

    /// A column of `rows` plain integers.
    pub fn ints(data: D, rows: usize) -> Self {
        Self::new(data, rows, false)
    }

    fn new(data: D, rows: usize, deltas: bool) -> Self {
        IntCursor {
            data,
            rows,
            deltas,
            at: 0,
            values: Vec::new(),
        }
    }

    /// Row `i`'s value (0 is the newest), decoding the rows up to it.
    pub fn get(&mut self, i: usize) -> Result<i64, Corrupt> {
        if let Some(&v) = self.values.get(i) {
            return Ok(v);
        }
        if i >= self.rows {
            return Err(Corrupt("row out of range"));
        }
        let data = self.data.as_ref();
        let mut r = Reader(&data[self.at..]);
        // Each value takes a byte at least: a damaged row count cannot make this allocate more.
        self.values
            .reserve((i + 1 - self.values.len()).min(r.0.len()));
        while self.values.len() <= i {
            let v = match (self.deltas, self.values.last()) {
                (true, Some(&newer)) => newer.wrapping_sub(r.u()? as i64),
                _ => r.i()?,
            };
            self.values.push(v);
            self.at = data.len() - r.0.len();
        }
        Ok(self.values[i])
    }

    /// Every row's value.
    pub fn all(mut self) -> Result<Vec<i64>, Corrupt> {
        if self.rows > 0 {
            self.get(self.rows - 1)?;
        }
        Ok(self.values)
    }
}

/// The distinct statuses of a status column of `n` rows, ascending.
pub fn decode_statuses(data: &[u8], n: usize) -> Result<Vec<i64>, Corrupt> {
    Ok(distinct(decode_ints(data, n)?))
}

fn distinct(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// A dictionary column: the distinct values and each row's index into them.
pub fn decode_dict(data: &[u8], n: usize) -> Result<(Vec<&str>, Vec<u32>), Corrupt> {
    let mut r = Reader(data);
    r.dict(n)
}

/// The path column.
pub fn decode_paths(data: &[u8], n: usize) -> Result<Vec<&str>, Corrupt> {
    let mut r = Reader(data);
    (0..n).map(|_| r.str()).collect()
}

/// A block's path column, decoded row by row as far as it is read.
pub struct PathCursor {
    data: Vec<u8>,
    rows: usize,
    /// Byte offset of row `row`'s path.
    at: usize,
    row: usize,
}

impl PathCursor {
    pub fn new(data: Vec<u8>, rows: usize) -> Self {
        PathCursor {
            data,
            rows,
            at: 0,
            row: 0,
        }
    }

    /// The path of row `i`; rows are read in order (`i` never goes back).
    pub fn get(&mut self, i: usize) -> Result<&str, Corrupt> {
        if i < self.row || i >= self.rows {
            return Err(Corrupt("path row out of order"));
        }
        let mut r = Reader(&self.data[self.at..]);
        while self.row < i {
            r.str()?;
            self.row += 1;
        }
        self.at = self.data.len() - r.0.len();
        let mut peek = Reader(&self.data[self.at..]);
        peek.str()
    }
}

/// What only a shown row needs, for each of a block's `n` rows.
pub struct Rest<'a> {
    pub latency_us: Vec<i64>,
    pub size: Vec<i64>,
    ips: (Vec<&'a str>, Vec<u32>),
    protocols: (Vec<&'a str>, Vec<u32>),
    user_agents: (Vec<&'a str>, Vec<u32>),
}

impl<'a> Rest<'a> {
    pub fn decode(data: &'a [u8], n: usize) -> Result<Self, Corrupt> {
        let mut r = Reader(data);
        let latency_us = (0..n).map(|_| r.i()).collect::<Result<_, _>>()?;
        let size = (0..n).map(|_| r.i()).collect::<Result<_, _>>()?;
        Ok(Rest {
            latency_us,
            size,
            ips: r.dict(n)?,
            protocols: r.dict(n)?,
            user_agents: r.dict(n)?,
        })
    }
    pub fn ip(&self, i: usize) -> &'a str {
        self.ips.0[self.ips.1[i] as usize]
    }
    pub fn protocol(&self, i: usize) -> &'a str {
        self.protocols.0[self.protocols.1[i] as usize]
    }
    pub fn user_agent(&self, i: usize) -> &'a str {
        self.user_agents.0[self.user_agents.1[i] as usize]
    }
}

/// Every row of a block, for rewriting it.
pub struct Decoded<'a> {
    ts: Vec<i64>,
    status: Vec<i64>,
    method: (Vec<&'a str>, Vec<u32>),
    path: Vec<&'a str>,
    rest: Rest<'a>,
}

/// The stored columns of one block, borrowed.
pub struct Columns<'a> {
    pub rows: usize,
    pub ts: &'a [u8],
    pub status: &'a [u8],
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub rest: &'a [u8],
}

impl<'a> Decoded<'a> {
    pub fn decode(c: &Columns<'a>) -> Result<Self, Corrupt> {
        Ok(Decoded {
            ts: decode_ts(c.ts, c.rows)?,
            status: decode_ints(c.status, c.rows)?,
            method: decode_dict(c.method, c.rows)?,
            path: decode_paths(c.path, c.rows)?,
            rest: Rest::decode(c.rest, c.rows)?,
        })
    }
    /// The distinct statuses, ascending.
    pub fn statuses(&self) -> Vec<i64> {
        distinct(self.status.clone())
    }
    pub fn rows(&self) -> impl Iterator<Item = Row<'a>> + '_ {
        (0..self.ts.len()).filter_map(|i| self.row(i))
    }
    /// Row `i` (0 is the newest).
    pub fn row(&self, i: usize) -> Option<Row<'a>> {
        (i < self.ts.len()).then(|| Row {
            ts_us: self.ts[i],
            method: self.method.0[self.method.1[i] as usize],
            path: self.path[i],
            status: self.status[i],
            latency_us: self.rest.latency_us[i],
            ip: self.rest.ip(i),
            size: self.rest.size[i],
            protocol: self.rest.protocol(i),
            user_agent: self.rest.user_agent(i),
        })
    }
}

/// Row `i` of a block, decoding only what leads to it (a page shows a row or two of most of
/// the blocks it draws from).
pub fn row_at<'a>(c: &Columns<'a>, i: usize) -> Result<Row<'a>, Corrupt> {
    if i >= c.rows {
        return Err(Corrupt("row out of range"));
    }
    let n = c.rows;
    let ts = IntCursor::timestamps(c.ts, c.rows).get(i)?;
    let mut r = Reader(c.status);
    let status = r.nth_int(i)?;
    let method = Reader(c.method).dict_at(n, i)?;
    let mut r = Reader(c.path);
    for _ in 0..i {
        r.skip_str()?;
    }
    let path = r.str()?;
    let mut r = Reader(c.rest);
    let latency_us = r.nth_int(i)?;
    r.skip_ints(n - i - 1)?;
    let size = r.nth_int(i)?;
    r.skip_ints(n - i - 1)?;
    let ip = r.dict_at(n, i)?;
    let protocol = r.dict_at(n, i)?;
    let user_agent = r.dict_at(n, i)?;
    Ok(Row {
        ts_us: ts,
        method,
        path,
        status,
        latency_us,
        ip,
        size,
        protocol,
        user_agent,
    })
}

/// Requests per (epoch second of the minute, class) counted in a block's `hist`; `day_us`
/// is the block's day.
pub fn decode_hist(hist: &[u8], day_us: i64) -> Result<Vec<(i64, u8, u64)>, Corrupt> {
    let mut r = Reader(hist);
    let n = r.u()? as usize;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let minute = r.u()?;
        let class = r.byte()?;
        let count = r.u()?;
        if minute >= 1440 {
            return Err(Corrupt("minute out of the day"));
        }
        out.push((day_us / 1_000_000 + minute as i64 * 60, class, count));
    }
    Ok(out)
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
    let mut index: HashMap<&str, u32> = HashMap::with_capacity(64);
    let mut order: Vec<&str> = Vec::new();
    let codes: Vec<u32> = values
        .map(|v| {
            *index.entry(v).or_insert_with(|| {
                order.push(v);
                (order.len() - 1) as u32
            })
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

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&b, rest) = self.0.split_first().ok_or(Corrupt("truncated"))?;
        self.0 = rest;
        Ok(b)
    }
    fn u(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Corrupt("varint too long"))
    }
    fn i(&mut self) -> Result<i64, Corrupt> {
        let u = self.u()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    fn str(&mut self) -> Result<&'a str, Corrupt> {
        let len = self.u()? as usize;
        if len > self.0.len() {
            return Err(Corrupt("truncated string"));
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(s).map_err(|_| Corrupt("invalid UTF-8"))
    }
    fn skip_str(&mut self) -> Result<(), Corrupt> {
        let len = self.u()? as usize;
        if len > self.0.len() {
            return Err(Corrupt("truncated string"));
        }
        self.0 = &self.0[len..];
        Ok(())
    }
    fn skip_ints(&mut self, k: usize) -> Result<(), Corrupt> {
        for _ in 0..k {
            self.u()?;
        }
        Ok(())
    }
    /// Skips `i` integers and reads the next.
    fn nth_int(&mut self, i: usize) -> Result<i64, Corrupt> {
        self.skip_ints(i)?;
        self.i()
    }
    /// Row `i`'s value of a dictionary column of `n` rows; leaves the reader after it.
    fn dict_at(&mut self, n: usize, i: usize) -> Result<&'a str, Corrupt> {
        let len = self.u()? as usize;
        if len > n.max(1) {
            return Err(Corrupt("dictionary larger than its rows"));
        }
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            let k = self.u()? as usize;
            if k > self.0.len() {
                return Err(Corrupt("truncated string"));
            }
            let (v, rest) = self.0.split_at(k);
            values.push(v);
            self.0 = rest;
        }
        self.skip_ints(i)?;
        let code = self.u()? as usize;
        self.skip_ints(n - i - 1)?;
        let v = values
            .get(code)
            .ok_or(Corrupt("dictionary code out of range"))?;
        std::str::from_utf8(v).map_err(|_| Corrupt("invalid UTF-8"))
    }
    fn dict(&mut self, n: usize) -> Result<(Vec<&'a str>, Vec<u32>), Corrupt> {
        let len = self.u()? as usize;
        if len > n.max(1) {
            return Err(Corrupt("dictionary larger than its rows"));
        }
        let values = (0..len)
            .map(|_| self.str())
            .collect::<Result<Vec<_>, _>>()?;
        let codes = (0..n)
            .map(|_| {
                let c = self.u()?;
                if c as usize >= values.len() {
                    return Err(Corrupt("dictionary code out of range"));
                }
                Ok(c as u32)
            })
            .collect::<Result<_, _>>()?;
        Ok((values, codes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts_us: i64, path: &'static str, status: i64, ua: &'static str) -> Row<'static> {
        Row {
            ts_us,
            method: if status >= 500 { "POST" } else { "GET" },
            path,
            status,
            latency_us: ts_us % 7919,
            ip: "2001:db8::1",
            size: -1 + status,
            protocol: "HTTP/2.0",
            user_agent: ua,
        }
    }

    #[test]
    fn a_block_decodes_to_the_rows_it_was_made_of() {
        let base = 1_736_935_200_000_000; // 2025-01-15T10:00:00Z
        let rows = vec![
            row(base + 3_599_999_999, "/ünïcode?q=1", 503, "curl/8"),
            row(base + 61_000_000, "", 200, "Mozilla/5.0 \"quoted\""),
            row(base + 61_000_000, "/same-time", 200, "curl/8"),
            row(base, "/first", 404, ""),
        ];
        let e = encode(&rows);
        assert_eq!(
            (e.rows, e.min_ts, e.max_ts),
            (4, base, base + 3_599_999_999)
        );
        assert_eq!(e.statuses, [(200, 2), (404, 1), (503, 1)]);
        let c = Columns {
            rows: e.rows,
            ts: &e.ts,
            status: &e.status,
            method: &e.method,
            path: &e.path,
            rest: &e.rest,
        };
        let d = Decoded::decode(&c).unwrap();
        assert_eq!(d.rows().collect::<Vec<_>>(), rows);
        let one_by_one: Vec<_> = (0..4).map(|i| row_at(&c, i).unwrap()).collect();
        assert_eq!(one_by_one, rows, "a row alone decodes the same");
        assert!(row_at(&c, 4).is_err());
        let mut hist = decode_hist(&e.hist, day_of(base)).unwrap();
        hist.sort_unstable();
        let s = base / 1_000_000;
        assert_eq!(
            hist,
            [(s, 4, 1), (s + 60, 2, 2), (s + 59 * 60, 5, 1)],
            "per minute of the day and class"
        );
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let e = encode(&[row(5, "/a", 200, "x"), row(1, "/b", 200, "y")]);
        assert!(decode_paths(&e.path[..3], 2).is_err());
        assert!(
            decode_dict(&[1, 1, b'a', 7], 1).is_err(),
            "code out of range"
        );
        assert!(decode_ts(&[0xff; 11], 1).is_err());
        assert!(
            decode_ints(&e.status, 1 << 42).is_err(),
            "a damaged row count is an error, not a huge allocation"
        );
        assert!(decode_statuses(&e.status, (-5i64) as usize).is_err());
        assert!(decode_paths(&[2, 0xff, 0xfe], 1).is_err(), "not UTF-8");
        assert_eq!(
            decode_ts(&e.ts, 2).unwrap(),
            [5, 1],
            "the intact column still decodes"
        );
    }

    #[test]
    fn days_and_classes() {
        assert_eq!(day_of(DAY_US + 5), DAY_US);
        assert_eq!(day_of(-1), -DAY_US);
        assert_eq!(
            [200, 304, 404, 503, 0, 101, 99].map(class),
            [2, 3, 4, 5, 0, 0, 0]
        );
    }
}
