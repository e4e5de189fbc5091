//! The pure parser: one line of a JSON access log (Caddy 2.6+, or proxyhub's nginx format)
//! into one [`Entry`], or the reason it is skipped. The decoders of single fields (numbers,
//! timestamps, durations, hosts) are in `fields.rs`; the parser's tests in `tests.rs`.

pub mod fields;
mod scan;

use std::borrow::Cow;

use serde::Deserialize;

use crate::logs::store::block::Row;
use fields::{First, Num};

/// One request as proxyhub stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// Epoch microseconds.
    pub ts_us: i64,
    pub domain: Cow<'a, str>,
    pub method: Cow<'a, str>,
    pub path: Cow<'a, str>,
    pub status: i64,
    pub latency_us: i64,
    pub ip: Cow<'a, str>,
    pub size: i64,
    pub protocol: Cow<'a, str>,
    pub user_agent: Cow<'a, str>,
}

impl Entry<'_> {
    /// The request as stored (its domain is stored with the block).
    pub fn row(&self) -> Row<'_> {
        Row {
            ts_us: self.ts_us,
            method: &self.method,
            path: &self.path,
            status: self.status,
            latency_us: self.latency_us,
            ip: &self.ip,
            size: self.size,
            protocol: &self.protocol,
            user_agent: &self.user_agent,
        }
    }
}

/// Why a line was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not a JSON object.
    NotJson,
    /// JSON, but not a request (another logger, no `request`, a missing field).
    NotAccess,
}

#[derive(Deserialize, Default)]
struct Line<'a> {
    #[serde(borrow)]
    logger: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<Num<'a>>,
    #[serde(borrow)]
    request: Option<Request<'a>>,
    #[serde(borrow)]
    duration: Option<Num<'a>>,
    #[serde(borrow)]
    size: Option<Num<'a>>,
    #[serde(borrow)]
    status: Option<Num<'a>>,
    // proxyhub's nginx format
    #[serde(borrow)]
    proxy: Option<Cow<'a, str>>,
    #[serde(borrow)]
    msec: Option<Num<'a>>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_time: Option<Num<'a>>,
    #[serde(borrow)]
    remote_addr: Option<Cow<'a, str>>,
    #[serde(borrow)]
    bytes_sent: Option<Num<'a>>,
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Request<'a> {
    #[serde(borrow)]
    client_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    remote_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    remote_addr: Option<Cow<'a, str>>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    headers: Option<Headers<'a>>,
}

#[derive(Deserialize, Default)]
struct Headers<'a> {
    #[serde(rename = "User-Agent", borrow)]
    user_agent: Option<First<'a>>,
}

/// Parses one line (without or with its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<Entry<'_>, Skip> {
    let line = line.trim_ascii_end();
    if line.first() != Some(&b'{') {
        return Err(Skip::NotJson);
    }
    // One UTF-8 check of the whole line is cheaper than one per string value. The fast
    // path reads most lines; serde_json reads the rest, and decides what is skipped and why.
    let raw = match std::str::from_utf8(line) {
        Ok(text) => match scan::line(text) {
            Some(raw) => raw,
            None => by_serde(line)?,
        },
        Err(_) => by_serde(line)?,
    };
    entry(raw)
}

/// The fields of a line as serde_json reads them.
fn by_serde(line: &[u8]) -> Result<Line<'_>, Skip> {
    let skip = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Data => Skip::NotAccess,
        _ => Skip::NotJson,
    };
    match std::str::from_utf8(line) {
        Ok(text) => serde_json::from_str(text).map_err(skip),
        Err(_) => serde_json::from_slice(line).map_err(skip),
    }
}

fn entry(raw: Line) -> Result<Entry, Skip> {
    if raw.proxy.as_deref() == Some("nginx") {
        nginx(raw)
    } else {
        caddy(raw)
    }
    .ok_or(Skip::NotAccess)
}

fn caddy(raw: Line) -> Option<Entry> {
    if raw
        .logger
        .as_deref()
        .is_some_and(|l| !l.starts_with("http.log.access"))
    {
        return None;
    }
    let req = raw.request?;
    let ip = [req.client_ip, req.remote_ip]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .or_else(|| req.remote_addr.map(strip_port));
    Some(Entry {
        ts_us: fields::timestamp_us(&raw.ts?)?,
        domain: host(req.host),
        method: req.method?,
        path: req.uri.unwrap_or_default(),
        status: raw.status?.as_i64()?,
        latency_us: raw
            .duration
            .and_then(|d| fields::duration_us(&d))
            .unwrap_or(0),
        ip: ip.unwrap_or_default(),
        size: raw.size.and_then(|s| s.as_i64()).unwrap_or(0),
        protocol: req.proto.unwrap_or_default(),
        user_agent: req
            .headers
            .and_then(|h| h.user_agent)
            .and_then(|ua| ua.0)
            .unwrap_or_default(),
    })
}

fn nginx(raw: Line) -> Option<Entry> {
    Some(Entry {
        ts_us: fields::seconds_to_us(raw.msec?.as_f64()?)?,
        domain: host(raw.host),
        method: raw.method?,
        path: raw.uri.unwrap_or_default(),
        status: raw.status?.as_i64()?,
        latency_us: raw
            .request_time
            .and_then(|t| fields::seconds_to_us(t.as_f64()?))
            .unwrap_or(0),
        ip: raw.remote_addr.map(strip_port).unwrap_or_default(),
        size: raw.bytes_sent.and_then(|s| s.as_i64()).unwrap_or(0),
        protocol: raw.protocol.unwrap_or_default(),
        user_agent: raw.user_agent.unwrap_or_default(),
    })
}

fn host(h: Option<Cow<str>>) -> Cow<str> {
    match h {
        Some(Cow::Borrowed(b)) => fields::domain(b),
        Some(Cow::Owned(o)) => Cow::Owned(fields::domain(&o).into_owned()),
        None => Cow::Borrowed(""),
    }
}

fn strip_port(a: Cow<str>) -> Cow<str> {
    match a {
        Cow::Borrowed(b) => Cow::Borrowed(fields::ip_without_port(b)),
        Cow::Owned(o) => Cow::Owned(fields::ip_without_port(&o).to_string()),
    }
}

#[cfg(test)]
mod tests;
