//! Writing requests: a batch of rows and the read position that covers them, in one
//! transaction; the rows as blocks, small batches merged into small blocks.

use foldhash::{HashMap, HashMapExt};
use sqlx::Row as _;

use super::{
    block::{self, Decoded, Row, BLOCK_ROWS},
    domains::Domains,
    files::{self, Source},
    nodes,
    table::{self, BlockKey, StoredBlock},
};
use crate::{
    db::{self, Db, Tx},
    logs::{parse::Entry, traffic::rollup},
};

/// What one batch covers: the bytes `from..to` of the source, holding `lines` complete
/// lines of which `entries` were stored and the rest skipped.
pub struct Batch<'a, 'b> {
    pub from: u64,
    pub to: u64,
    pub entries: &'b [Entry<'a>],
    pub skipped: u64,
}

/// The outcome of [`commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed<'b> {
    /// Stored; the batch's requests per domain and status class.
    Yes(Vec<Tally<'b>>),
    /// Someone else (another import, another proxyhub) had moved the source's position:
    /// nothing was written; go on from this position.
    Moved(u64),
}

/// Requests of one domain in a batch by status class: `by_class[c]` with status `c`xx (1 to
/// 5), `by_class[0]` with a status outside 100–599. A domain may have several (one a day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally<'b> {
    pub domain: &'b str,
    pub by_class: [u64; 6],
}

/// Where a batch's position is kept: proxyhub's own files (`access_log_files`), or a node's
/// (`access_log_node_files`, for `proxyhub logs ship`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Local,
    /// A node's id (see [`nodes`](super::nodes)).
    Node(i64),
}

/// Stores a batch's rows and moves the source's position to `batch.to`, all or nothing.
pub async fn commit<'b>(
    db: &Db,
    domains: &mut Domains,
    origin: Origin,
    source: &Source,
    batch: &Batch<'_, 'b>,
) -> Result<Committed<'b>, sqlx::Error> {
    let mut tx = db::begin_write(db).await?;
    let (moved, node) = match origin {
        Origin::Local => (files::advance(&mut tx, source, batch).await?, None),
        Origin::Node(id) => (nodes::advance(&mut tx, id, source, batch).await?, Some(id)),
    };
    if let Some(at) = moved {
        tx.rollback().await?;
        return Ok(Committed::Moved(at));
    }
    let resolved = domains.resolve(&mut tx, batch.entries).await?;
    let rows: Vec<Row> = batch.entries.iter().map(Entry::row).collect();
    let counts = write_rows(&mut tx, &rows, &resolved.ids, node).await?;
    let mut hours = Vec::new();
    let entries: &'b [Entry] = batch.entries;
    let tallies = counts
        .iter()
        .map(|g| Tally {
            domain: &entries[g.first].domain,
            by_class: g.by_class,
        })
        .collect();
    let mut minutes = Vec::new();
    for g in &counts {
        let domain: &str = &batch.entries[g.first].domain;
        for (spans, into) in [(&g.hours, &mut hours), (&g.minutes, &mut minutes)] {
            for (start_us, classes) in spans {
                for (c, &n) in classes.iter().enumerate().filter(|c| *c.1 > 0) {
                    into.push((start_us / 1_000_000, domain, c as i64, n));
                }
            }
        }
    }
    rollup::record(&mut tx, hours.into_iter()).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    rollup::record_minutes(&mut tx, now, minutes.into_iter()).await?;
    if !batch.entries.is_empty() {
        sqlx::query("UPDATE access_log_stats SET row_count = row_count + $1 WHERE id = 1")
            .bind(batch.entries.len() as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    super::changed(match origin {
        Origin::Local => super::By::Background,
        Origin::Node(_) => super::By::Client,
    });
    domains.remember(resolved);
    Ok(Committed::Yes(tallies))
}

/// Requests of one domain in a batch per clock hour (epoch microseconds) and status class
/// (index 0..=5): what the hour rollups add. `first` is the index of one of its rows.
/// `by_class`: all its requests by status class, as [`Tally`] counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    pub domain_id: i64,
    pub first: usize,
    pub hours: Vec<(i64, [i64; 6])>,
    /// As `hours`, per clock minute.
    pub minutes: Vec<(i64, [i64; 6])>,
    pub by_class: [u64; 6],
}

/// Stores requests as blocks: grouped by domain and UTC day, newest first, at most
/// [`BLOCK_ROWS`] a block, in blocks of `node` (the node that shipped them; `None`: the local
/// tailer's). A small group (fewer than [`block::SMALL`] requests: a quiet proxy's batch)
/// is merged into a small block of its domain, node and day when there is one (the block is
/// rewritten), so a quiet proxy does not leave a block per request.
pub async fn write_rows(
    tx: &mut Tx,
    rows: &[Row<'_>],
    domain_ids: &[i64],
    node: Option<i64>,
) -> Result<Vec<GroupCount>, sqlx::Error> {
    let mut groups: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
    for (i, (r, &d)) in rows.iter().zip(domain_ids).enumerate() {
        groups
            .entry((d, block::day_of(r.ts_us)))
            .or_default()
            .push(i as u32);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_unstable_by_key(|g| g.0);
    let wanted: Vec<(i64, i64)> = groups
        .iter()
        .filter(|g| g.1.len() < block::SMALL)
        .map(|g| g.0)
        .collect();
    let mut small = small_blocks(tx, &wanted, node).await?;
    let mut counts = Vec::with_capacity(groups.len());
    let mut postings = Vec::new();
    for ((domain_id, day), mut idx) in groups {
        let key = BlockKey {
            domain_id,
            node,
            day,
        };
        // Newest first; of two requests logged at the same microsecond, the later line first.
        idx.sort_unstable_by(|&a, &b| {
            rows[b as usize]
                .ts_us
                .cmp(&rows[a as usize].ts_us)
                .then(b.cmp(&a))
        });
        let mut hours: Vec<(i64, [i64; 6])> = Vec::new();
        let mut minutes: Vec<(i64, [i64; 6])> = Vec::new();
        let mut by_class = [0u64; 6];
        for &i in &idx {
            let r = &rows[i as usize];
            by_class[match r.status {
                100..=599 => (r.status / 100) as usize,
                _ => 0,
            }] += 1;
            let class = usize::from(block::class(r.status));
            for (spans, size) in [(&mut hours, 3_600_000_000), (&mut minutes, 60_000_000)] {
                let start = r.ts_us - r.ts_us.rem_euclid(size);
                if spans.last().is_none_or(|h| h.0 != start) {
                    spans.push((start, [0; 6]));
                }
                if let Some(h) = spans.last_mut() {
                    h.1[class] += 1;
                }
            }
        }
        counts.push(GroupCount {
            domain_id,
            first: idx[0] as usize,
            hours,
            minutes,
            by_class,
        });
        let fresh: Vec<Row> = idx.iter().map(|&i| rows[i as usize]).collect();
        // Merged blocks stay within an hour: a time range's index range reaches as far past
        // its end as the longest block spans.
        let (newest, oldest) = (fresh[0].ts_us, fresh[fresh.len() - 1].ts_us);
        let old = match fresh.len() < block::SMALL {
            true => small
                .remove(&(domain_id, day))
                .filter(|b| newest.max(b.max_ts) - oldest.min(b.min_ts) < block::MERGE_SPAN_US),
            false => None,
        };
        match old {
            None => {
                // Oldest chunk first: the newest requests get the highest block id, which
                // orders requests of the same microsecond across chunks.
                for chunk in fresh.chunks(BLOCK_ROWS).rev() {
                    let e = block::encode(chunk);
                    let id = table::insert_block(tx, key, &e).await?;
                    postings.extend(table::postings_of(&e, domain_id, id));
                }
            }
            Some(old) => {
                let decoded = Decoded::decode(&old.columns())?;
                let old_key = (old.id, old.min_ts, old.max_ts);
                // Pruned meanwhile: its requests must not come back.
                let merged = match table::delete_block(tx, old_key, &decoded.statuses()).await? {
                    true => merge_newest_first(&fresh, decoded.rows()),
                    false => fresh,
                };
                let e = block::encode(&merged);
                let id = table::insert_block(tx, key, &e).await?;
                postings.extend(table::postings_of(&e, domain_id, id));
            }
        }
    }
    table::insert_postings(tx, &postings).await?;
    if let Some(span) = postings.iter().map(|p| p[2] - p[3]).max() {
        sqlx::query("UPDATE access_log_stats SET max_span = $1 WHERE id = 1 AND max_span < $1")
            .bind(span)
            .execute(&mut **tx)
            .await?;
    }
    Ok(counts)
}

/// Two newest-first lists as one; on equal timestamps `fresh` (logged later) comes first.
fn merge_newest_first<'a>(fresh: &[Row<'a>], old: impl Iterator<Item = Row<'a>>) -> Vec<Row<'a>> {
    let mut out = Vec::with_capacity(fresh.len() + block::SMALL);
    let mut fresh = fresh.iter().copied().peekable();
    for o in old {
        while let Some(f) = fresh.next_if(|f| f.ts_us >= o.ts_us) {
            out.push(f);
        }
        out.push(o);
    }
    out.extend(fresh);
    out
}

/// The newest block of `node` for each wanted domain and day, when it is small (fewer than
/// [`block::SMALL`] requests). One index lookup per group: the newest block alone is looked
/// at, so the work does not grow with the blocks a day already holds (a scan of the day's
/// small blocks did, at every batch).
async fn small_blocks(
    tx: &mut Tx,
    wanted: &[(i64, i64)],
    node: Option<i64>,
) -> Result<HashMap<(i64, i64), StoredBlock>, sqlx::Error> {
    let mut small = HashMap::with_capacity(wanted.len());
    // Written out for each: `node_id = NULL` is never true.
    let of_node = match node {
        None => "node_id IS NULL",
        Some(_) => "node_id = $4",
    };
    let sql = format!(
        "SELECT id, n FROM access_log_blocks WHERE domain_id = $1 AND max_ts >= $2 \
         AND max_ts < $3 AND {of_node} ORDER BY max_ts DESC, min_ts DESC, id DESC LIMIT 1"
    );
    let mut ids = Vec::new();
    for &(domain_id, day) in wanted {
        let mut q = sqlx::query(&sql)
            .bind(domain_id)
            .bind(day)
            .bind(day + block::DAY_US);
        if let Some(n) = node {
            q = q.bind(n);
        }
        if let Some(r) = q.fetch_optional(&mut **tx).await? {
            if r.try_get::<i64, _>("n")? < block::SMALL as i64 {
                ids.push(r.try_get::<i64, _>("id")?);
            }
        }
    }
    let columns = format!("domain_id, day, {}", StoredBlock::COLUMNS);
    for r in table::blocks_by_id(tx, &columns, &ids).await? {
        small.insert(
            (r.try_get("domain_id")?, r.try_get("day")?),
            StoredBlock::from_row(&r)?,
        );
    }
    Ok(small)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::query::{self, Filter};

    use crate::logs::store::block::test_row as request;

    #[tokio::test]
    async fn a_quiet_proxys_small_batches_fill_blocks_and_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        // 2025-01-15T10:00:00Z; 300 batches of one or two requests each, some logged out of
        // order (a slow request is written after quicker later ones).
        let hour = 1_736_935_200_000_000;
        let paths: Vec<String> = (0..500).map(|i| format!("/r/{i}")).collect();
        let ts = |i: usize| {
            hour + (i as i64) * 1_000_000 - if i.is_multiple_of(7) { 1_500_000 } else { 0 }
        };
        let mut i = 0;
        while i < 500 {
            let n = if i % 3 == 0 { 2 } else { 1 };
            let rows: Vec<Row> = (i..(i + n).min(500))
                .map(|k| request(ts(k), &paths[k]))
                .collect();
            let mut tx = db::begin_write(&db).await.unwrap();
            write_rows(&mut tx, &rows, &vec![1; rows.len()], None)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            i += n;
        }
        let (blocks, rows): (i64, i64) = {
            let r = sqlx::query(
                "SELECT COUNT(*) AS b, CAST(SUM(n) AS BIGINT) AS r FROM access_log_blocks",
            )
            .fetch_one(&db)
            .await
            .unwrap();
            (r.get("b"), r.get("r"))
        };
        assert_eq!(rows, 500);
        // Each block takes in batches until it holds SMALL requests.
        let most = (500 / block::SMALL + 1) as i64;
        assert!(blocks <= most, "500 requests in {blocks} blocks");
        sqlx::query("INSERT INTO access_log_domains (id, name) VALUES (1, 'a.example.com')")
            .execute(&db)
            .await
            .unwrap();
        let page = query::page(&db, &Filter::default(), 500, 0, 500)
            .await
            .unwrap();
        let mut expected: Vec<usize> = (0..500).collect();
        expected.sort_by_key(|&k| std::cmp::Reverse((ts(k), k)));
        let got: Vec<&str> = page.rows.iter().map(|r| r.path.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|&k| paths[k].as_str()).collect();
        assert_eq!(
            got, want,
            "newest first; the later line first on equal times"
        );
    }
}
