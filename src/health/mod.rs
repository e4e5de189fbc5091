//! proxyhub's own view of upstream health: a worker (`probe.rs`) sends each upstream of every
//! enabled vhost with a health check a `GET` of its path every interval, and [`Health`] keeps
//! the outcome per vhost and upstream, in memory, for `GET /api/vhosts/{id}/health`.
//!
//! `recentFailures` counts consecutive failures: any healthy probe sets it back to 0.

pub mod probe;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use crate::proxy::site::HealthCheck;

/// Which upstream of which vhost.
pub type Key = (i64, String);

/// What is probed, and how: a change of any of it starts the upstream's record afresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub vhost: i64,
    /// The vhost's domain, sent as the probe's `Host`.
    pub domain: String,
    pub upstream: String,
    pub check: HealthCheck,
}

impl Target {
    pub fn key(&self) -> Key {
        (self.vhost, self.upstream.clone())
    }
}

/// What the probes found of one upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamHealth {
    /// Whether the last probe got the expected status; none before the first probe.
    pub healthy: Option<bool>,
    /// When the last probe ended (RFC 3339, UTC).
    pub last_check: Option<String>,
    /// How long the last probe's answer took; none when it got no answer.
    pub latency_ms: Option<u64>,
    /// Failed probes since the last healthy one.
    pub recent_failures: u32,
    /// The status the last probe got; none when it got no answer.
    pub last_status: Option<u16>,
    /// Why the last probe failed; none after a healthy one.
    pub last_error: Option<String>,
}

/// One probe's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

struct Entry {
    target: Target,
    /// The probe loop allowed to write here (a replaced loop's late result is dropped).
    run: u64,
    health: UpstreamHealth,
}

/// The upstreams' health, shared by the probe worker and the HTTP layer. Its lock is held
/// only to copy or write one record, never across a probe.
#[derive(Default)]
pub struct Health {
    entries: Mutex<HashMap<Key, Entry>>,
    runs: AtomicU64,
    /// Moves after every change of an upstream's verdict (healthy or not, or not known):
    /// vhost lists, which show the verdicts, are remembered under it.
    verdicts: AtomicU64,
}

impl Health {
    /// What is known of `upstream` of `vhost`: none when it is not probed.
    pub fn of(&self, vhost: i64, upstream: &str) -> Option<UpstreamHealth> {
        let entries = self.entries.lock().expect("health");
        entries
            .get(&(vhost, upstream.to_string()))
            .map(|e| e.health.clone())
    }

    /// Readies the record of a probe loop starting for `target`, and returns the loop's
    /// run: the record is kept when the target is the same as before, started afresh when not.
    pub fn start(&self, target: &Target) -> u64 {
        let run = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
        let mut entries = self.entries.lock().expect("health");
        let entry = entries.entry(target.key()).or_insert_with(|| Entry {
            target: target.clone(),
            run,
            health: UpstreamHealth::default(),
        });
        if entry.target != *target {
            entry.target = target.clone();
            entry.health = UpstreamHealth::default();
        }
        entry.run = run;
        self.verdicts.fetch_add(1, Ordering::Release);
        run
    }

    /// Moves whenever an upstream's verdict may have changed (after the change is visible).
    pub fn generation(&self) -> u64 {
        self.verdicts.load(Ordering::Acquire)
    }

    /// Records a probe of `key` by the loop `run` (nothing if another loop replaced it, or
    /// the upstream is no longer probed).
    pub fn record(&self, key: &Key, run: u64, outcome: Outcome, at: String) {
        let mut entries = self.entries.lock().expect("health");
        let Some(entry) = entries.get_mut(key).filter(|e| e.run == run) else {
            return;
        };
        let h = &mut entry.health;
        let healthy = outcome.error.is_none();
        if h.healthy != Some(healthy) {
            self.verdicts.fetch_add(1, Ordering::Release);
        }
        h.healthy = Some(healthy);
        h.last_check = Some(at);
        h.latency_ms = outcome.latency_ms;
        h.last_status = outcome.status;
        h.last_error = outcome.error;
        h.recent_failures = if healthy {
            0
        } else {
            h.recent_failures.saturating_add(1)
        };
    }

    /// Forgets every upstream `keep` does not keep (vhosts deleted, disabled, or without a
    /// health check any more).
    pub fn retain(&self, keep: impl Fn(&Key) -> bool) {
        let mut entries = self.entries.lock().expect("health");
        let before = entries.len();
        entries.retain(|k, _| keep(k));
        if entries.len() != before {
            self.verdicts.fetch_add(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        Target {
            vhost: 1,
            domain: "app.example.com".into(),
            upstream: "127.0.0.1:9001".into(),
            check: HealthCheck {
                path: path.into(),
                ..HealthCheck::default()
            },
        }
    }

    fn failed() -> Outcome {
        Outcome {
            status: Some(503),
            latency_ms: Some(3),
            error: Some("answered 503, expected 200".into()),
        }
    }

    #[test]
    fn failures_count_until_a_healthy_probe() {
        let health = Health::default();
        let t = target("/healthz");
        let run = health.start(&t);
        assert_eq!(health.of(1, &t.upstream), Some(UpstreamHealth::default()));
        health.record(&t.key(), run, failed(), "t1".into());
        health.record(&t.key(), run, failed(), "t2".into());
        let h = health.of(1, &t.upstream).unwrap();
        assert_eq!((h.healthy, h.recent_failures), (Some(false), 2));
        assert_eq!(h.last_status, Some(503));
        let ok = Outcome {
            status: Some(200),
            latency_ms: Some(1),
            error: None,
        };
        health.record(&t.key(), run, ok, "t3".into());
        let h = health.of(1, &t.upstream).unwrap();
        assert_eq!((h.healthy, h.recent_failures), (Some(true), 0));
        assert_eq!((h.last_error, h.last_check.as_deref()), (None, Some("t3")));
    }

    /// Vhost lists show each upstream's verdict and are remembered by the generation: it
    /// moves when a verdict changes (or an upstream starts or stops being probed), not with
    /// every probe.
    #[test]
    fn the_generation_moves_when_a_verdict_changes_only() {
        let health = Health::default();
        let t = target("/healthz");
        let g0 = health.generation();
        let run = health.start(&t);
        let g1 = health.generation();
        assert!(g1 > g0, "a new upstream, not known yet");
        health.record(&t.key(), run, failed(), "t1".into());
        let g2 = health.generation();
        assert!(g2 > g1, "unhealthy");
        health.record(&t.key(), run, failed(), "t2".into());
        assert_eq!(health.generation(), g2, "still unhealthy");
        let ok = Outcome {
            status: Some(200),
            latency_ms: Some(1),
            error: None,
        };
        health.record(&t.key(), run, ok, "t3".into());
        let g3 = health.generation();
        assert!(g3 > g2, "healthy again");
        health.retain(|_| true);
        assert_eq!(health.generation(), g3, "nothing forgotten");
        health.retain(|_| false);
        assert!(health.generation() > g3, "no longer probed");
    }

    #[test]
    fn a_replaced_or_removed_loop_writes_nothing() {
        let health = Health::default();
        let t = target("/healthz");
        let old = health.start(&t);
        health.record(&t.key(), old, failed(), "t1".into());
        // The same target again keeps the record; another path starts it afresh.
        let same = health.start(&t);
        assert_eq!(health.of(1, &t.upstream).unwrap().recent_failures, 1);
        health.record(&t.key(), old, failed(), "t2".into());
        assert_eq!(health.of(1, &t.upstream).unwrap().recent_failures, 1);
        health.start(&target("/ready"));
        assert_eq!(health.of(1, &t.upstream).unwrap().healthy, None);
        health.record(&t.key(), same, failed(), "t3".into());
        assert_eq!(health.of(1, &t.upstream).unwrap().healthy, None);
        health.retain(|_| false);
        assert_eq!(health.of(1, &t.upstream), None);
    }
}
