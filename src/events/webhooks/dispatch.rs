//! The delivery worker. Each webhook walks the outbox on its own, one event at a time and in
//! order: an event is done when the receiver answers 2xx (or, after 24 hours of trying, given
//! up on), and until then it is retried with exponential backoff (1 s, doubling to an hour).
//! Where a webhook stands is stored after each event, so a restart, or `kill -9`, resumes
//! there: an event may be sent twice (at least once), never skipped. A slow or dead receiver
//! holds up its own webhook only.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

use super::{advance, all, record, send, Delivery, SsrfPolicy, Webhook};
use crate::{
    db::Db,
    events::{after, Feed},
    metrics::Metrics,
    timestamps,
};

/// How long an event is retried before it is given up on.
const GIVE_UP_AFTER_US: i64 = 24 * 3600 * 1_000_000;

/// Seconds to wait before attempt `n + 1`, after `n` failed ones: 1, 2, 4, ... an hour.
fn retry_delay(n: i64) -> i64 {
    (1i64 << (n - 1).clamp(0, 12)).min(3600)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The worker: until `stop`, keeps every webhook walking the outbox.
pub async fn run(
    db: Db,
    feed: Arc<Feed>,
    metrics: Arc<Metrics>,
    policy: SsrfPolicy,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut news = feed.subscribe();
    let mut walking: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut pruned = std::time::Instant::now();
    loop {
        // Events a week old that every webhook is past are forgotten, hourly.
        if pruned.elapsed() > Duration::from_secs(3600) {
            pruned = std::time::Instant::now();
            match crate::events::prune(&db, 7).await {
                Ok(n) if n > 0 => tracing::info!(events = n, "old events forgotten"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "old events could not be forgotten"),
            }
        }
        walking.retain(|_, h| !h.is_finished());
        let mut next_retry = i64::MAX;
        for hook in all(&db).await? {
            if walking.contains_key(&hook.id) {
                continue;
            }
            if hook.retry_at > now() {
                next_retry = next_retry.min(hook.retry_at);
                continue;
            }
            let (db, id, metrics) = (db.clone(), hook.id.clone(), metrics.clone());
            walking.insert(
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
            _ = stop.changed() => {
                for (_, h) in walking { h.abort(); }
                return Ok(());
            }
        }
    }
}

/// Delivers a webhook's events in order until it is up to date or an event fails.
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
            let give_up = !sent.ok()
                && time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000
                    - i128::from(event.created_us)
                    > i128::from(GIVE_UP_AFTER_US);
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
            if sent.ok() || give_up {
                through = event.seq;
                hook.delivered_through = through;
                hook.failing_attempts = 0;
                advance(db, &hook.id, through, 0, 0).await?;
                continue;
            }
            // Not delivered: this event again after the backoff, nothing after it before.
            advance(db, &hook.id, through, attempt, now() + retry_delay(attempt)).await?;
            return Ok(());
        }
        if through > hook.delivered_through {
            hook.delivered_through = through;
            advance(db, &hook.id, through, 0, 0).await?;
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
