//! The probe worker: reads the vhosts with a health check from the store (again whenever
//! their generation moved, looked at every few seconds), keeps one probe loop per upstream
//! running, and stops the loops of upstreams no longer probed. Each loop sends `GET
//! <upstream><path>` with the vhost's `Host` every interval. Probes go straight to the
//! upstream (no environment proxy), follow no redirect, check the certificate of an
//! `https://` upstream, and give up after the interval or 5 s, whichever is shorter.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::watch, sync::Semaphore, task::AbortHandle};

use super::{Health, Key, Outcome, Target};
use crate::{
    db::Db,
    proxy::site::{self, Site},
    timestamps, vhosts,
};

/// How often the store is asked whether the vhosts changed.
const RELOAD: Duration = Duration::from_secs(5);
/// The longest a probe waits for its answer.
const MAX_TIMEOUT: Duration = Duration::from_secs(5);
/// Probes in flight at once, whatever the number of upstreams.
const IN_FLIGHT: usize = 64;

pub async fn run(
    db: Db,
    health: Arc<Health>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut loops = Loops {
        client: client()?,
        limit: Arc::new(Semaphore::new(IN_FLIGHT)),
        health,
        running: HashMap::new(),
    };
    let mut seen = None;
    loop {
        let generation = vhosts::store::generation(&mut *db.acquire().await?).await?;
        if seen != Some(generation) {
            let sites = vhosts::store::health_checked(&mut *db.acquire().await?).await?;
            loops.sync(targets(&sites));
            seen = Some(generation);
        }
        tokio::select! {
            _ = tokio::time::sleep(RELOAD) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Every upstream of every site, with what probing it takes.
pub fn targets(sites: &[(i64, Site)]) -> Vec<Target> {
    let mut out = Vec::new();
    for (id, s) in sites {
        let Some(check) = &s.features.health_check else {
            continue;
        };
        out.extend(s.upstreams().into_iter().map(|upstream| Target {
            vhost: *id,
            domain: s.domain.clone(),
            upstream,
            check: check.clone(),
        }));
    }
    out
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        // A fresh connection per probe: an upstream that stopped listening is seen at once.
        .pool_max_idle_per_host(0)
        .connect_timeout(MAX_TIMEOUT)
        .user_agent(concat!("proxyhub-health/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The probe loops running, by upstream. Dropping it stops them all (a worker that ends
/// or restarts leaves none behind).
struct Loops {
    client: reqwest::Client,
    limit: Arc<Semaphore>,
    health: Arc<Health>,
    running: HashMap<Key, (Target, AbortHandle)>,
}

impl Loops {
    /// Keeps exactly one loop per target: new ones started, changed ones restarted, gone
    /// ones stopped and their records dropped.
    fn sync(&mut self, targets: Vec<Target>) {
        let wanted: HashSet<Key> = targets.iter().map(Target::key).collect();
        self.running.retain(|key, (_, handle)| {
            let keep = wanted.contains(key);
            if !keep {
                handle.abort();
            }
            keep
        });
        self.health.retain(|key| wanted.contains(key));
        for t in targets {
            if let Some((old, handle)) = self.running.get(&t.key()) {
                if *old == t {
                    continue;
                }
                handle.abort();
            }
            let run = self.health.start(&t);
            let task = tokio::spawn(probe_loop(
                t.clone(),
                run,
                self.health.clone(),
                self.client.clone(),
                self.limit.clone(),
            ));
            self.running.insert(t.key(), (t, task.abort_handle()));
        }
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        for (_, handle) in self.running.values() {
            handle.abort();
        }
    }
}

async fn probe_loop(
    target: Target,
    run: u64,
    health: Arc<Health>,
    client: reqwest::Client,
    limit: Arc<Semaphore>,
) {
    let every = Duration::from_secs(u64::from(target.check.interval_seconds.max(1)));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let key = target.key();
    loop {
        ticks.tick().await;
        let outcome = {
            let _turn = limit.acquire().await.expect("never closed");
            probe(&client, &target, every.min(MAX_TIMEOUT)).await
        };
        health.record(&key, run, outcome, timestamps::now());
    }
}

/// The URL a probe of `target` asks for.
pub fn url(target: &Target) -> String {
    let base = target.upstream.trim_end_matches('/');
    if base.contains("://") {
        format!("{base}{}", target.check.path)
    } else {
        format!("http://{base}{}", target.check.path)
    }
}

/// One probe: healthy when the upstream answers the expected status within `timeout`.
pub async fn probe(client: &reqwest::Client, target: &Target, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let sent = client
        .get(url(target))
        .header(reqwest::header::HOST, &target.domain)
        .timeout(timeout)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let expected = target.check.expect_status;
            Outcome {
                status: Some(status),
                latency_ms: Some(started.elapsed().as_millis() as u64),
                error: (status != expected)
                    .then(|| format!("answered {status}, expected {expected}")),
            }
        }
        Err(e) => Outcome {
            status: None,
            latency_ms: None,
            error: Some(why(&e, &target.upstream, timeout)),
        },
    }
}

/// A failed request in words: the timeout, or the chain of causes (reqwest's own text only
/// says that sending failed).
fn why(e: &reqwest::Error, upstream: &str, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    let dial = site::dial_address(upstream);
    format!("{dial}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::site::HealthCheck;

    fn target(upstream: &str) -> Target {
        Target {
            vhost: 7,
            domain: "app.example.com".into(),
            upstream: upstream.into(),
            check: HealthCheck {
                path: "/healthz".into(),
                ..HealthCheck::default()
            },
        }
    }

    #[test]
    fn probes_speak_http_unless_the_upstream_says_https() {
        assert_eq!(
            url(&target("127.0.0.1:9001")),
            "http://127.0.0.1:9001/healthz"
        );
        assert_eq!(
            url(&target("https://api.internal")),
            "https://api.internal/healthz"
        );
        assert_eq!(url(&target("[::1]:8080")), "http://[::1]:8080/healthz");
    }

    #[tokio::test]
    async fn nothing_listening_is_unhealthy_with_the_reason() {
        // A port just bound and released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = target(&format!("127.0.0.1:{port}"));
        let out = probe(&client().unwrap(), &t, Duration::from_secs(2)).await;
        assert_eq!((out.status, out.latency_ms), (None, None));
        let error = out.error.unwrap();
        assert!(error.starts_with(&format!("127.0.0.1:{port}: ")), "{error}");
    }
}
