//! Pruning the oldest rows: older than the retention period, or beyond the row budget.
//! Small batches, each its own short transaction, so readers and the tailer never wait long.

use std::{collections::BTreeMap, time::Duration};

use tokio::sync::watch;

use sqlx::{any::AnyRow, Row as _};

use super::{
    block::{self, Decoded},
    domains,
    table::{self, StoredBlock},
};
use crate::{
    db::{self, Db, Tx},
    logs::traffic::rollup::{self, Size},
};

/// Blocks deleted per transaction (up to ~20,000 requests).
const BATCH: i64 = 20;
/// A pause between batches that lets other writers in.
const BREATHE: Duration = Duration::from_millis(5);

/// What to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: u32,
    pub max_rows: u64,
    /// How often to prune.
    pub every: Duration,
}

/// Prunes every `keep.every` until `stop` changes.
pub async fn run(db: Db, keep: Retention, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    while !*stop.borrow() {
        let now_us = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
        tokio::select! {
            r = prune(&db, keep, now_us) => match r {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "pruned old access-log rows"),
                Err(e) => tracing::warn!(error = %e, "could not prune access-log rows"),
            },
            _ = stop.changed() => return Ok(()),
        }
        tokio::select! {
            _ = tokio::time::sleep(keep.every) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
    Ok(())
}

/// Deletes what `keep` no longer allows, oldest first; returns how many rows went. Age is
/// applied to whole blocks (a block goes when its newest request is older than the period:
/// requests outlive it by less than a day); the row budget is kept exactly, the oldest
/// block that straddles it being rewritten with its newest requests.
pub async fn prune(db: &Db, keep: Retention, now_us: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now_us - i64::from(keep.days) * 86_400 * 1_000_000;
    let keep_secs = i64::from(keep.days) * 86_400;
    rollup::prune(&mut *db.acquire().await?, now_us / 1_000_000, keep_secs).await?;
    let mut deleted = 0;
    loop {
        let mut tx = db::begin_write(db).await?;
        let old = sqlx::query(
            "SELECT id, min_ts, max_ts, n, status_data FROM access_log_blocks WHERE max_ts < $1 \
             ORDER BY max_ts, id LIMIT $2",
        )
        .bind(cutoff)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut n = Some(0);
        for b in &old {
            n = match drop_block(&mut tx, b).await? {
                Some(k) => n.map(|n| n + k),
                None => None,
            };
        }
        let Some(n) = n else {
            // A block was rewritten meanwhile (a merge, on PostgreSQL): read again.
            tx.rollback().await?;
            tokio::time::sleep(BREATHE).await;
            continue;
        };
        forget(&mut tx, n).await?;
        tx.commit().await?;
        super::changed();
        deleted += n;
        if (old.len() as i64) < BATCH {
            break;
        }
        tokio::time::sleep(BREATHE).await;
    }
    let budget = keep.max_rows.min(i64::MAX as u64) as i64;
    loop {
        let mut tx = db::begin_write(db).await?;
        let rows: i64 = sqlx::query("SELECT row_count FROM access_log_stats WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let excess = rows - budget;
        if excess <= 0 {
            break;
        }
        let sql = format!(
            "SELECT domain_id, node_id, day, hist, {} FROM access_log_blocks ORDER BY max_ts, id LIMIT 1",
            StoredBlock::COLUMNS
        );
        let Some(oldest) = sqlx::query(&sql).fetch_optional(&mut *tx).await? else {
            break;
        };
        let b = StoredBlock::from_row(&oldest)?;
        let (domain_id, day): (i64, i64) = (oldest.try_get("domain_id")?, oldest.try_get("day")?);
        let n = if b.rows as i64 <= excess {
            let hist = block::decode_hist(&oldest.try_get::<Vec<u8>, _>("hist")?, day)?;
            unroll(&mut tx, domain_id, now_us, hist.into_iter()).await?;
            drop_block(&mut tx, &oldest).await?
        } else {
            // Keep the block's newest requests (they come first).
            let decoded = Decoded::decode(&b.columns())?;
            let keep = b.rows - excess as usize;
            let gone = decoded
                .rows()
                .skip(keep)
                .map(|r| (r.ts_us.div_euclid(1_000_000), block::class(r.status), 1));
            unroll(&mut tx, domain_id, now_us, gone).await?;
            let kept: Vec<_> = decoded.rows().take(keep).collect();
            let key = (b.id, b.min_ts, b.max_ts);
            match table::delete_block(&mut tx, key, &decoded.statuses()).await? {
                true => {
                    let e = block::encode(&kept);
                    let key = table::BlockKey {
                        domain_id,
                        node: oldest.try_get("node_id")?,
                        day,
                    };
                    table::insert_block_indexed(&mut tx, key, &e).await?;
                    Some(excess as u64)
                }
                false => None,
            }
        };
        let Some(n) = n else {
            // The block was rewritten meanwhile (a merge, on PostgreSQL): read again.
            tx.rollback().await?;
            tokio::time::sleep(BREATHE).await;
            continue;
        };
        forget(&mut tx, n).await?;
        tx.commit().await?;
        super::changed();
        deleted += n;
        tokio::time::sleep(BREATHE).await;
    }
    Ok(deleted)
}

/// Deletes the block of a row holding its `id`, `min_ts`, `max_ts`, `n` and `status_data`;
/// returns its size, or `None` when another transaction removed it since it was read.
async fn drop_block(tx: &mut Tx, b: &AnyRow) -> Result<Option<u64>, sqlx::Error> {
    let n = b.try_get::<i64, _>("n")?;
    let statuses = block::decode_statuses(&b.try_get::<Vec<u8>, _>("status_data")?, n as usize)?;
    let key = (b.try_get("id")?, b.try_get("min_ts")?, b.try_get("max_ts")?);
    Ok(table::delete_block(tx, key, &statuses)
        .await?
        .then_some(n as u64))
}

/// Takes requests pruned for the row budget off the rollups, so the traffic chart counts
/// what is stored. `gone`: `(epoch second, class, requests)`. Minutes the minute rollups do
/// not hold (the pruned are mostly days old) are left alone: a day's block would otherwise
/// cost thousands of statements for rows that do not exist.
async fn unroll(
    tx: &mut Tx,
    domain_id: i64,
    now_us: i64,
    gone: impl Iterator<Item = (i64, u8, u64)>,
) -> Result<(), sqlx::Error> {
    let now = now_us.div_euclid(1_000_000);
    let mut hours: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut minutes: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (t, class, n) in gone {
        *hours
            .entry((t - t.rem_euclid(3600), i64::from(class)))
            .or_default() += n as i64;
        let minute = t - t.rem_euclid(60);
        if rollup::minute_kept(minute, now) {
            *minutes.entry((minute, i64::from(class))).or_default() += n as i64;
        }
    }
    let names = domains::names(tx, &[domain_id]).await?;
    let Some(domain) = names.get(&domain_id) else {
        return Ok(());
    };
    for (size, counts) in [(Size::Hour, hours), (Size::Minute, minutes)] {
        let counts = counts
            .into_iter()
            .map(|((h, c), n)| (h, domain.as_str(), c, n));
        rollup::subtract(tx, size, counts).await?;
    }
    Ok(())
}

async fn forget(tx: &mut Tx, n: u64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE access_log_stats SET row_count = row_count - $1 WHERE id = 1")
        .bind(n as i64)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
