//! A sliding-window limit on attempts per client address (sign-in, sign-up).

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct RateLimiter {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// Records an attempt; `Err(seconds)` says how long until the next one is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let a = self.attempt(ip);
        if a.allowed {
            Ok(())
        } else {
            Err(a.wait.as_secs_f64().ceil().max(1.0) as u64)
        }
    }

    /// Records an attempt, if allowed, and says how many are left and how long until the
    /// oldest counted one no longer counts.
    pub fn attempt(&self, ip: IpAddr) -> Attempt {
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
            assert!(l.check(ip).is_ok());
        }
        let wait = l.check(ip).unwrap_err();
        assert!((1..=10).contains(&wait), "{wait}");
        assert!(
            l.check("10.0.0.1".parse().unwrap()).is_ok(),
            "other clients are not limited"
        );
    }
}
