//! The API's rate limits, as clients see them: requests a minute per API token, per session,
//! and per client address for anonymous calls; reads and writes counted apart. Every answer
//! says where its caller stands (`X-RateLimit-Limit`, `-Remaining`, `-Reset`: the Unix time
//! the window ends); over the limit the answer is a 429 with `Retry-After`.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue},
    response::Response,
};

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
        }
    }

    /// Counts a request (a `write` or a read) and says where its caller stands.
    pub fn hit(&self, caller: Caller, write: bool) -> Quota {
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
        let q: Vec<u32> = (0..3).map(|_| l.hit(me(), false).remaining).collect();
        assert_eq!(q, [2, 1, 0]);
        let over = l.hit(me(), false);
        assert!(!over.allowed);
        assert!((1..=60).contains(&over.retry_after()));
        assert!(l.hit(me(), true).allowed, "writes are counted apart");
        assert!(!l.hit(me(), true).allowed);
        assert!(
            l.hit(Caller::Token("t".into()), false).allowed,
            "other callers are not limited"
        );
    }
}
