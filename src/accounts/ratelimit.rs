//! A sliding-window limit on attempts per client address (sign-in, sign-up): in memory on
//! SQLite, in the store on PostgreSQL so that replicas count together (`cluster::limits`).

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{cluster::limits, db::Db};

pub struct RateLimiter {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    /// The store the replicas count in, on PostgreSQL.
    shared: Option<Db>,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts in `db` when replicas may share it (PostgreSQL).
    pub fn shared(mut self, db: &Db) -> Self {
        self.shared = (!crate::db::is_sqlite(db)).then(|| db.clone());
        self
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// Records an attempt, if allowed, and says how many are left and how long until the
    /// oldest counted one no longer counts. A store that fails to count leaves it to this
    /// process.
    pub async fn attempt(&self, ip: IpAddr) -> Attempt {
        if let Some(db) = &self.shared {
            let key = format!("sign-in:{ip}");
            match limits::sliding_window(db, &key, self.max, self.window).await {
                Ok(c) => {
                    return Attempt {
                        allowed: c.allowed,
                        remaining: self.max.saturating_sub(c.hits),
                        wait: c.reset_after,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the store could not count a sign-in attempt; counting it here")
                }
            }
        }
        self.attempt_here(ip)
    }

    /// Records an attempt in this process's windows.
    fn attempt_here(&self, ip: IpAddr) -> Attempt {
        let now = Instant::now();
        let mut hits = self.hits.lock().expect("rate limiter poisoned");
        if hits.len() > 10_000 {
            // Bound memory under a flood of addresses: forget idle ones.
            hits.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let q = hits.entry(ip).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        let allowed = (q.len() as u32) < self.max;
        if allowed {
            q.push_back(now);
        }
        let oldest = q.front().copied().unwrap_or(now);
        Attempt {
            allowed,
            remaining: self.max.saturating_sub(q.len() as u32),
            wait: self.window.saturating_sub(now.duration_since(oldest)),
        }
    }
}

/// What [`RateLimiter::attempt`] found.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub allowed: bool,
    pub remaining: u32,
    pub wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_says_how_long_to_wait() {
        let l = RateLimiter::new(3, Duration::from_secs(10));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.attempt_here(ip).allowed);
        }
        let refused = l.attempt_here(ip);
        assert!(!refused.allowed);
        let wait = refused.wait.as_secs_f64().ceil() as u64;
        assert!((1..=10).contains(&wait), "{wait}");
        assert!(
            l.attempt_here("10.0.0.1".parse().unwrap()).allowed,
            "other clients are not limited"
        );
    }
}
