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

/// The oldest blocks that ended before a time, along the `(max_ts, min_ts, id)` index.
const AGED: &str = "SELECT id, min_ts, max_ts, n, status_data FROM access_log_blocks \
    WHERE max_ts < $1 ORDER BY max_ts, min_ts, id LIMIT $2";
/// The oldest blocks, along the same index.
const OLDEST: &str = "SELECT id, min_ts, max_ts, n, status_data, domain_id, day, hist \
    FROM access_log_blocks ORDER BY max_ts, min_ts, id LIMIT $1";

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
        let old = sqlx::query(AGED)
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
        super::changed(super::By::Background);
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
        let Some(n) = over_budget(&mut tx, excess as u64, now_us).await? else {
            // A block was rewritten meanwhile (a merge, on PostgreSQL): read again.
            tx.rollback().await?;
            tokio::time::sleep(BREATHE).await;
            continue;
        };
        forget(&mut tx, n).await?;
        tx.commit().await?;
        super::changed(super::By::Background);
        deleted += n;
        tokio::time::sleep(BREATHE).await;
    }
    Ok(deleted)
}

/// Takes up to `excess` of the oldest requests off the store in one transaction: whole
/// blocks (up to [`BATCH`]), then the newest requests of the block that straddles the budget
/// are kept in a block written again. Returns how many went, or `None` when a block was
/// changed by another transaction since it was read. The blocks are read along the
/// `(max_ts, min_ts, id)` index, oldest first: a store far over its budget (a busy proxy)
/// costs an index step per block, not a scan of the table.
async fn over_budget(tx: &mut Tx, excess: u64, now_us: i64) -> Result<Option<u64>, sqlx::Error> {
    let oldest = sqlx::query(OLDEST).bind(BATCH).fetch_all(&mut **tx).await?;
    let mut gone = 0;
    for b in &oldest {
        let (domain_id, day): (i64, i64) = (b.try_get("domain_id")?, b.try_get("day")?);
        let n = b.try_get::<i64, _>("n")? as u64;
        if gone + n <= excess {
            let hist = block::decode_hist(&b.try_get::<Vec<u8>, _>("hist")?, day)?;
            unroll(tx, domain_id, now_us, hist.into_iter()).await?;
            let Some(n) = drop_block(tx, b).await? else {
                return Ok(None);
            };
            gone += n;
        } else {
            if !keep_newest(tx, b.try_get("id")?, (excess - gone) as usize, now_us).await? {
                return Ok(None);
            }
            gone = excess;
        }
        if gone == excess {
            break;
        }
    }
    Ok(Some(gone))
}

/// Writes block `id` again without its `shed` oldest requests (its last ones); false when
/// another transaction removed it since it was read.
async fn keep_newest(tx: &mut Tx, id: i64, shed: usize, now_us: i64) -> Result<bool, sqlx::Error> {
    let columns = format!("domain_id, node_id, day, {}", StoredBlock::COLUMNS);
    let Some(row) = table::blocks_by_id(tx, &columns, &[id]).await?.pop() else {
        return Ok(false);
    };
    let b = StoredBlock::from_row(&row)?;
    let domain_id: i64 = row.try_get("domain_id")?;
    let decoded = Decoded::decode(&b.columns())?;
    let keep = b.rows - shed;
    let gone = decoded
        .rows()
        .skip(keep)
        .map(|r| (r.ts_us.div_euclid(1_000_000), block::class(r.status), 1));
    unroll(tx, domain_id, now_us, gone).await?;
    let kept: Vec<_> = decoded.rows().take(keep).collect();
    if !table::delete_block(tx, (b.id, b.min_ts, b.max_ts), &decoded.statuses()).await? {
        return Ok(false);
    }
    let e = block::encode(&kept);
    let key = table::BlockKey {
        domain_id,
        node: row.try_get("node_id")?,
        day: row.try_get("day")?,
    };
    table::insert_block_indexed(tx, key, &e).await?;
    Ok(true)
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::logs::ingest::{addresses::Addresses, import};

    /// A store far over its budget, in many small blocks (a busy proxy's live tail), is
    /// brought back to it exactly, in transactions of many blocks, keeping the newest.
    #[tokio::test]
    async fn a_store_far_over_budget_keeps_its_newest_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let start = now - 600;
        let log = dir.path().join("access.log");
        let mut f = std::fs::File::create(&log).unwrap();
        for i in 0..600 {
            let host = format!("d{}.example.com", i / 6);
            writeln!(f, r#"{{"level":"info","ts":{}.5,"logger":"http.log.access","msg":"handled request","request":{{"remote_ip":"203.0.113.9","proto":"HTTP/1.1","method":"GET","host":"{host}","uri":"/{i}","headers":{{}}}},"duration":0.001,"size":5,"status":200}}"#, start + i).unwrap();
        }
        drop(f);
        import::import(&db, &[log], Addresses::default(), false)
            .await
            .unwrap();
        let keep = Retention {
            days: 30,
            max_rows: 100,
            every: Duration::from_secs(10),
        };
        assert_eq!(prune(&db, keep, now * 1_000_000).await.unwrap(), 500);
        let (stored, blocks, oldest): (i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(SUM(n) AS BIGINT), COUNT(*), MIN(min_ts) FROM access_log_blocks",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(
            (stored, blocks),
            (100, 17),
            "100 rows: 16 blocks and a part"
        );
        assert_eq!(
            oldest,
            (start + 500) * 1_000_000 + 500_000,
            "the newest kept"
        );
        let counted: i64 = sqlx::query_scalar("SELECT row_count FROM access_log_stats")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(counted, 100);
    }

    /// Pruning reads the oldest blocks along an index on SQLite: a scan would read every
    /// block of a store of millions on every step.
    #[tokio::test]
    async fn the_oldest_blocks_are_read_along_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        for (sql, params) in [(AGED, 2), (OLDEST, 1)] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(&explain);
            for _ in 0..params {
                q = q.bind(0_i64);
            }
            let rows = q.fetch_all(&db).await.unwrap();
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap())
                .collect();
            assert!(
                plan.iter()
                    .all(|d| d.contains("USING INDEX access_log_blocks_max_ts")),
                "{sql}: {plan:?}"
            );
        }
    }
}
