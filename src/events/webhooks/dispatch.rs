//! The delivery worker. Each webhook walks the outbox on its own, one event at a time and in
//! order: an event is done when the receiver answers 2xx (or, after 24 hours of trying, given
//! up on), and until then it is retried with exponential backoff (1 s, doubling to an hour).
//! Where a webhook stands is stored after each event, so a restart, or `kill -9`, resumes
//! there: an event may be sent twice (at least once), never skipped. A slow or dead receiver
//! holds up its own webhook only. With replicas on one PostgreSQL, one of them sends: the one
//! holding the webhooks' lease (`cluster::Lease`); the others wait to take it over, so two
//! replicas never send the same event each.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

use super::{advance, all, record, send, Delivery, SsrfPolicy, Step, Webhook};
use crate::{
    cluster::Lease,
    db::Db,
    events::{after, Feed},
    metrics::Metrics,
    timestamps,
};

/// How long an event is retried (from its first failed attempt) before it is given up on.
const GIVE_UP_AFTER_SECS: i64 = 24 * 3600;

/// Seconds to wait before attempt `n + 1`, after `n` failed ones: 1, 2, 4, ... an hour.
fn retry_delay(n: i64) -> i64 {
    (1i64 << (n - 1).clamp(0, 12)).min(3600)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The walkers running, aborted whenever the worker ends (an error included): a restarted
/// worker never finds a walker of its predecessor still sending.
#[derive(Default)]
struct Walkers(HashMap<String, JoinHandle<()>>);

impl Drop for Walkers {
    fn drop(&mut self) {
        for h in self.0.values() {
            h.abort();
        }
    }
}

/// The worker: until `stop`, keeps every webhook walking the outbox.
pub async fn run(
    db: Db,
    feed: Arc<Feed>,
    metrics: Arc<Metrics>,
    policy: SsrfPolicy,
    lease: Arc<Lease>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut news = feed.subscribe();
    let mut walking = Walkers::default();
    loop {
        if lease.hold().await {
            deliver(
                &db,
                &mut news,
                &mut walking,
                &metrics,
                policy,
                &lease,
                &mut stop,
            )
            .await?;
            if *stop.borrow() {
                return Ok(());
            }
            tracing::warn!("the webhooks' lease is lost: another replica sends them now");
        }
        // Not (or no longer) the sender: nothing of ours is sending.
        walking.0.values().for_each(JoinHandle::abort);
        walking.0.clear();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Keeps every webhook walking the outbox while this replica holds `lease`; returns when it
/// loses it or is told to stop.
async fn deliver(
    db: &Db,
    news: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Event>>,
    walking: &mut Walkers,
    metrics: &Arc<Metrics>,
    policy: SsrfPolicy,
    lease: &Lease,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Events a week old that every webhook is past are forgotten, at start and hourly.
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        if !lease.hold().await {
            return Ok(());
        }
        if pruned.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            pruned = Some(std::time::Instant::now());
            match crate::events::prune(db, 7).await {
                Ok(n) if n > 0 => tracing::info!(events = n, "old events forgotten"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "old events could not be forgotten"),
            }
        }
        walking.0.retain(|_, h| !h.is_finished());
        let mut next_retry = i64::MAX;
        for hook in all(db).await? {
            if walking.0.contains_key(&hook.id) {
                continue;
            }
            if hook.retry_at > now() {
                next_retry = next_retry.min(hook.retry_at);
                continue;
            }
            let (db, id, metrics) = (db.clone(), hook.id.clone(), metrics.clone());
            walking.0.insert(
                id,
                tokio::spawn(async move {
                    if let Err(e) = walk(&db, hook, &metrics, policy).await {
                        tracing::warn!(error = %e, "webhook delivery: the store failed; trying again soon");
                    }
                }),
            );
        }
        let wait = Duration::from_secs(next_retry.saturating_sub(now()).clamp(1, 5) as u64);
        tokio::select! {
            _ = news.recv() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Delivers a webhook's events in order until it is up to date or an event fails. Where it
/// stands moves only from where this walker found it: if anything else moved it (another
/// proxyhub on the same PostgreSQL), or the webhook was deleted, this walker stops.
async fn walk(
    db: &Db,
    mut hook: Webhook,
    metrics: &Metrics,
    policy: SsrfPolicy,
) -> Result<(), sqlx::Error> {
    loop {
        let batch = after(db, hook.delivered_through, 100).await?;
        if batch.is_empty() {
            return Ok(());
        }
        // Done through here: delivered, given up on, or not an event this webhook takes.
        let mut through = hook.delivered_through;
        for event in batch {
            if !hook.takes(&event.event) {
                through = event.seq;
                continue;
            }
            // Still ours to send (not deleted, not moved by another walker)?
            match super::by_id(db, &hook.id).await? {
                Some(now) if now.delivered_through == hook.delivered_through => {}
                _ => return Ok(()),
            }
            let attempt = hook.failing_attempts + 1;
            let delivery_id = format!("{}-{}", hook.id, event.seq);
            let body = event.body().to_string();
            let sent = send(
                &hook.url,
                &hook.secret,
                &event.event,
                &delivery_id,
                &body,
                policy,
            )
            .await;
            // Retried for a day from its first failed attempt, then given up.
            let failing_since = if hook.failing_attempts == 0 {
                now()
            } else {
                hook.failing_since
            };
            let give_up = !sent.ok() && now() - failing_since > GIVE_UP_AFTER_SECS;
            metrics.webhook_delivery(match (sent.ok(), give_up) {
                (true, _) => "delivered",
                (false, true) => "gave_up",
                (false, false) => "failed",
            });
            let error = match (&sent.error, give_up) {
                (Some(e), true) => Some(format!("{e}; given up: retried for 24 hours")),
                (e, _) => e.clone(),
            };
            record(
                db,
                &hook.id,
                &Delivery {
                    delivery_id,
                    event: event.event.clone(),
                    attempt,
                    status_code: sent.status.map(i64::from),
                    duration_ms: sent.duration_ms,
                    error,
                    created_at: timestamps::now(),
                },
            )
            .await?;
            let step = if sent.ok() || give_up {
                Step {
                    through: event.seq,
                    attempts: 0,
                    retry_at: 0,
                    failing_since: 0,
                }
            } else {
                // This event again after the backoff, nothing after it before.
                Step {
                    through,
                    attempts: attempt,
                    retry_at: now() + retry_delay(attempt),
                    failing_since,
                }
            };
            if !advance(db, &hook.id, hook.delivered_through, &step).await? {
                return Ok(());
            }
            hook.delivered_through = step.through;
            hook.failing_attempts = step.attempts;
            hook.failing_since = step.failing_since;
            if step.attempts > 0 {
                return Ok(());
            }
            through = step.through;
        }
        if through > hook.delivered_through {
            let step = Step {
                through,
                attempts: 0,
                retry_at: 0,
                failing_since: 0,
            };
            if !advance(db, &hook.id, hook.delivered_through, &step).await? {
                return Ok(());
            }
            hook.delivered_through = through;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;

    #[test]
    fn retries_back_off_exponentially_to_an_hour() {
        let waits: Vec<i64> = (1..=14).map(retry_delay).collect();
        assert_eq!(&waits[..6], &[1, 2, 4, 8, 16, 32]);
        assert_eq!(waits[12], 3600);
        assert_eq!(waits[13], 3600);
    }
}
