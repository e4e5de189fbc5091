//! The API's rate limits, as clients see them: requests a minute per API token, per session,
//! and per client address for anonymous calls; reads and writes counted apart. Every answer
//! says where its caller stands (`X-RateLimit-Limit`, `-Remaining`, `-Reset`: the Unix time
//! the window ends); over the limit the answer is a 429 with `Retry-After`. On PostgreSQL the
//! windows are counted in the store, so replicas share them (`cluster::limits`); on SQLite,
//! in memory.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue},
    response::Response,
};

use crate::{cluster::limits, db::Db};

/// Whom a request is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    Token(String),
    Session(String),
    Address(std::net::IpAddr),
}

/// Where a caller stands after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Until the window ends (or, for sign-in, until an attempt is allowed again).
    pub reset_after: Duration,
    /// Whether this request is within the limit.
    pub allowed: bool,
}

impl Quota {
    /// Whole seconds to wait before trying again (at least 1).
    pub fn retry_after(&self) -> u64 {
        self.reset_after.as_secs_f64().ceil().max(1.0) as u64
    }

    /// Sets the `X-RateLimit-*` headers of an answer.
    pub fn stamp(&self, resp: &mut Response) {
        set_headers(resp.headers_mut(), self);
    }
}

fn set_headers(h: &mut HeaderMap, q: &Quota) {
    let reset = SystemTime::now()
        .checked_add(q.reset_after)
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64().ceil() as u64)
        .unwrap_or_default();
    for (name, value) in [
        ("x-ratelimit-limit", u64::from(q.limit)),
        ("x-ratelimit-remaining", u64::from(q.remaining)),
        ("x-ratelimit-reset", reset),
    ] {
        h.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// Fixed one-minute windows per caller, reads and writes apart.
pub struct ApiLimiter {
    reads: u32,
    writes: u32,
    window: Duration,
    windows: Mutex<HashMap<(Caller, bool), (Instant, u32)>>,
    /// The store the replicas count in, on PostgreSQL.
    shared: Option<Db>,
}

impl Caller {
    /// The caller's key in the shared windows (hashed there).
    fn key(&self, write: bool) -> String {
        let kind = if write { "write" } else { "read" };
        match self {
            Caller::Token(id) => format!("api:{kind}:token:{id}"),
            Caller::Session(id) => format!("api:{kind}:session:{id}"),
            Caller::Address(ip) => format!("api:{kind}:address:{ip}"),
        }
    }
}

/// Windows kept before the idle ones are dropped (memory stays bounded under a flood of
/// addresses: three integers and a key each).
const MAX_CALLERS: usize = 100_000;

impl ApiLimiter {
    pub fn new(reads: u32, writes: u32) -> Self {
        Self {
            reads,
            writes,
            window: Duration::from_secs(60),
            windows: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts in `db` when replicas may share it (PostgreSQL).
    pub fn shared(mut self, db: &Db) -> Self {
        self.shared = (!crate::db::is_sqlite(db)).then(|| db.clone());
        self
    }

    /// Counts a request (a `write` or a read) and says where its caller stands. A store
    /// that fails to count leaves it to this process's own windows.
    pub async fn hit(&self, caller: Caller, write: bool) -> Quota {
        let limit = if write { self.writes } else { self.reads };
        if let Some(db) = &self.shared {
            match limits::fixed_window(db, &caller.key(write), limit, self.window).await {
                Ok(c) => {
                    return Quota {
                        limit,
                        remaining: limit - c.hits,
                        reset_after: c.reset_after,
                        allowed: c.allowed,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the store could not count a request; counting it here")
                }
            }
        }
        self.hit_here(caller, write)
    }

    /// Counts a request in this process's windows.
    fn hit_here(&self, caller: Caller, write: bool) -> Quota {
        let limit = if write { self.writes } else { self.reads };
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limiter poisoned");
        if windows.len() >= MAX_CALLERS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let (start, count) = windows.entry((caller, write)).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        let allowed = *count < limit;
        if allowed {
            *count += 1;
        }
        Quota {
            limit,
            remaining: limit - *count,
            reset_after: self.window.saturating_sub(now.duration_since(*start)),
            allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_per_caller_and_kind_then_refuses() {
        let l = ApiLimiter::new(3, 1);
        let me = || Caller::Session("s1".into());
        let q: Vec<u32> = (0..3).map(|_| l.hit_here(me(), false).remaining).collect();
        assert_eq!(q, [2, 1, 0]);
        let over = l.hit_here(me(), false);
        assert!(!over.allowed);
        assert!((1..=60).contains(&over.retry_after()));
        assert!(l.hit_here(me(), true).allowed, "writes are counted apart");
        assert!(!l.hit_here(me(), true).allowed);
        assert!(
            l.hit_here(Caller::Token("t".into()), false).allowed,
            "other callers are not limited"
        );
    }
}
