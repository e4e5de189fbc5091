//! The parser's fast path: one pass over a line that fills the same [`Line`] serde_json
//! would, stepping over (and checking) what proxyhub does not store. It accepts only what
//! serde_json accepts, with the same values; on anything else (a field of another type, an
//! escaped key, a field given twice, deep nesting, a number it cannot convert exactly as
//! serde_json does) it answers `None` and serde_json decides.

use std::borrow::Cow;

use super::{
    fields::{First, Num},
    Headers, Line, Request,
};

/// Deeper than this, serde_json decides (its own limit is 128).
const DEPTH: u32 = 32;

/// The fields of `text`, a JSON object, or `None`: not sure, ask serde_json.
pub(super) fn line(text: &str) -> Option<Line<'_>> {
    let mut s = Scan {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let mut line = Line::default();
    let mut seen = 0u32;
    s.object(|s, key| {
        let bit = match key {
            b"logger" => set(&mut line.logger, s.string_or_null()?, 0),
            b"ts" => set(&mut line.ts, s.num_or_null()?, 1),
            b"request" => set(&mut line.request, s.request()?, 2),
            b"duration" => set(&mut line.duration, s.num_or_null()?, 3),
            b"size" => set(&mut line.size, s.num_or_null()?, 4),
            b"status" => set(&mut line.status, s.num_or_null()?, 5),
            b"proxy" => set(&mut line.proxy, s.string_or_null()?, 6),
            b"msec" => set(&mut line.msec, s.num_or_null()?, 7),
            b"host" => set(&mut line.host, s.string_or_null()?, 8),
            b"method" => set(&mut line.method, s.string_or_null()?, 9),
            b"uri" => set(&mut line.uri, s.string_or_null()?, 10),
            b"request_time" => set(&mut line.request_time, s.num_or_null()?, 11),
            b"remote_addr" => set(&mut line.remote_addr, s.string_or_null()?, 12),
            b"bytes_sent" => set(&mut line.bytes_sent, s.num_or_null()?, 13),
            b"protocol" => set(&mut line.protocol, s.string_or_null()?, 14),
            b"user_agent" => set(&mut line.user_agent, s.string_or_null()?, 15),
            _ => return s.skip(1),
        };
        once(&mut seen, bit)
    })?;
    s.ws();
    (s.i == s.b.len()).then_some(line)
}

/// Stores `value`; the field's bit, to check that no field comes twice (serde_json refuses
/// that).
fn set<T>(field: &mut Option<T>, value: Option<T>, bit: u32) -> u32 {
    *field = value;
    1 << bit
}

fn once(seen: &mut u32, bit: u32) -> Option<()> {
    (*seen & bit == 0).then(|| *seen |= bit)
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// A bit at each of 8 bytes that is `"`, `\\` or a control character (SWAR); the lowest set
/// bit is exact, higher ones may be false.
fn special(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

/// Exact powers of ten: `m as f64` times or divided by one of them is what serde_json computes.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// An object's members (the scan stands at its `{`): `member` reads each value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let (end, escaped) = self.string_end()?;
            if escaped {
                return None;
            }
            let key = &self.b[self.i + 1..end];
            self.i = end + 1;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array's items (the scan stands at its `[`).
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Steps over any value, checking it as serde_json would.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.i = self.string_end()?.0 + 1;
                Some(())
            }
            b'{' if depth < DEPTH => self.object(|s, _| s.skip(depth + 1)),
            b'[' if depth < DEPTH => self.array(|s| s.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// The index of the closing quote of the string starting here, and whether it holds
    /// escapes.
    fn string_end(&self) -> Option<(usize, bool)> {
        let b = self.b;
        let mut i = self.i + 1;
        let mut escaped = false;
        loop {
            match b.get(i..i + 8) {
                Some(w) => match special(u64::from_le_bytes(w.try_into().ok()?)) {
                    0 => {
                        i += 8;
                        continue;
                    }
                    m => i += (m.trailing_zeros() / 8) as usize,
                },
                None => {
                    while b
                        .get(i)
                        .is_some_and(|&c| c >= 0x20 && c != b'"' && c != b'\\')
                    {
                        i += 1;
                    }
                }
            }
            match *b.get(i)? {
                b'"' => return Some((i, escaped)),
                b'\\' => {
                    escaped = true;
                    i += match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
    }

    /// A string's value (borrowed unless it holds escapes), `Some(None)` for null.
    fn string_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.literal(b"null").map(|_| None),
            _ => None,
        }
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let (end, escaped) = self.string_end()?;
        self.i = end + 1;
        match escaped {
            false => Some(Cow::Borrowed(self.text.get(start + 1..end)?)),
            true => serde_json::from_str(self.text.get(start..=end)?)
                .ok()
                .map(Cow::Owned),
        }
    }

    /// A number, or a string that should hold one.
    fn num_or_null(&mut self) -> Option<Option<Num<'a>>> {
        match self.peek()? {
            b'"' => self.string().map(|s| Some(Num::Str(s))),
            b'n' => self.literal(b"null").map(|_| None),
            b'-' | b'0'..=b'9' => self.number().map(Some),
            _ => None,
        }
    }

    /// A JSON number, as serde_json makes it: an integer that fits an `i64`, else an
    /// `f64` computed as serde_json does (only where that is exact, else `None`).
    fn number(&mut self) -> Option<Num<'a>> {
        let b = self.b;
        let mut i = self.i;
        let negative = b[i] == b'-';
        i += usize::from(negative);
        let mut m: u64 = 0;
        let digits = |i: &mut usize, m: &mut u64| -> Option<usize> {
            let from = *i;
            while let Some(&c @ b'0'..=b'9') = b.get(*i) {
                *m = m.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                *i += 1;
            }
            Some(*i - from)
        };
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => drop(digits(&mut i, &mut m)?),
            _ => return None,
        }
        let mut exp: i64 = 0;
        let mut int = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let n = digits(&mut i, &mut m)?;
            if n == 0 {
                return None;
            }
            exp -= n as i64;
            int = false;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            let sign = match b.get(i) {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            i += usize::from(sign != 0);
            let mut e = 0;
            if digits(&mut i, &mut e)? == 0 || e > 400 {
                return None;
            }
            exp += if sign < 0 { -(e as i64) } else { e as i64 };
            int = false;
        }
        self.i = i;
        if int {
            // serde_json makes `-0` a float, and integers past i64 floats too.
            let v = i64::try_from(m).ok()?;
            return (!negative || v != 0).then_some(Num::Int(if negative { -v } else { v }));
        }
        let pow = *POW10.get(exp.unsigned_abs() as usize)?;
        let f = if exp >= 0 {
            m as f64 * pow
        } else {
            m as f64 / pow
        };
        Some(Num::Float(if negative { -f } else { f }))
    }

    /// `request`: an object of Caddy's request fields, or null.
    fn request(&mut self) -> Option<Option<Request<'a>>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| None);
        }
        if self.peek()? != b'{' {
            return None;
        }
        let mut r = Request::default();
        let mut seen = 0u32;
        self.object(|s, key| {
            let bit = match key {
                b"client_ip" => set(&mut r.client_ip, s.string_or_null()?, 0),
                b"remote_ip" => set(&mut r.remote_ip, s.string_or_null()?, 1),
                b"remote_addr" => set(&mut r.remote_addr, s.string_or_null()?, 2),
                b"proto" => set(&mut r.proto, s.string_or_null()?, 3),
                b"method" => set(&mut r.method, s.string_or_null()?, 4),
                b"host" => set(&mut r.host, s.string_or_null()?, 5),
                b"uri" => set(&mut r.uri, s.string_or_null()?, 6),
                b"headers" => set(&mut r.headers, s.headers()?, 7),
                _ => return s.skip(2),
            };
            once(&mut seen, bit)
        })?;
        Some(Some(r))
    }

    /// `headers`: an object whose `User-Agent` is a list of strings (its first kept), or null.
    fn headers(&mut self) -> Option<Option<Headers<'a>>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| None);
        }
        if self.peek()? != b'{' {
            return None;
        }
        let mut h = Headers::default();
        let mut seen = 0u32;
        self.object(|s, key| {
            if key != b"User-Agent" {
                return s.skip(3);
            }
            let first = match s.peek()? {
                b'n' => s.literal(b"null").map(|_| None)?,
                b'[' => {
                    let mut first = None;
                    s.array(|s| {
                        let v = match s.peek()? {
                            b'"' => s.string()?,
                            _ => return None,
                        };
                        first.get_or_insert(v);
                        Some(())
                    })?;
                    Some(First(first))
                }
                _ => return None,
            };
            once(&mut seen, set(&mut h.user_agent, first, 0))
        })?;
        Some(Some(h))
    }
}
