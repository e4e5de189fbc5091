//! Unpacking a block: whole columns, every row of a block (to rewrite it), one row alone
//! (to show it), and the per-minute counts.

use super::{reader::Reader, Corrupt, IntCursor, Row};

/// The timestamps of a block's `n` rows, newest first.
pub fn decode_ts(data: &[u8], n: usize) -> Result<Vec<i64>, Corrupt> {
    IntCursor::timestamps(data, n).all()
}

/// A column of `n` integers (statuses).
pub fn decode_ints(data: &[u8], n: usize) -> Result<Vec<i64>, Corrupt> {
    IntCursor::ints(data, n).all()
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
