//! A page of requests: the window of requests looked at, those matching, the total as far
//! as the window reaches, and the full rows of the page.

use foldhash::HashMap;

use super::{merge::Merged, Filter, Hit, WINDOW};
use crate::{
    db::{self, Db, Tx},
    logs::store::{
        block::{self, Decoded},
        domains, nodes,
        table::{self, StoredBlock},
    },
};

/// One request as the API shows it, before formatting.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub ts_us: i64,
    pub domain: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub latency_us: i64,
    pub ip: String,
    pub size: i64,
    pub protocol: String,
    pub user_agent: String,
    /// The node that shipped it; `None` for proxyhub's own access log.
    pub node: Option<String>,
}

/// A page of requests and the total as far as the window reaches.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Request>,
    /// Matching requests (within the window when `exact` is false, a lower bound).
    pub total: i64,
    pub exact: bool,
    /// When `method`/`q` were applied to the window and the range holds more: the time of the
    /// oldest request looked at (requests before it were not searched).
    pub searched_since: Option<i64>,
}

/// The requests `offset..offset + limit` of those matching `f`, newest first. `stored` is
/// the store's row count, the total when there is no filter.
pub async fn page(
    db: &Db,
    f: &Filter,
    limit: i64,
    offset: i64,
    stored: i64,
) -> Result<Page, sqlx::Error> {
    let mut tx = db::begin_read(db).await?;
    let mut scan = Merged::new(&mut tx, f).await?;
    let (mut seen, mut matched) = (0i64, 0i64);
    let mut hits = Vec::new();
    let mut oldest_seen = None;
    while seen < WINDOW && matched < offset + limit {
        let Some((hit, is_match)) = scan.next(&mut tx).await? else {
            break;
        };
        seen += 1;
        oldest_seen = Some(hit.ts_us);
        if is_match {
            if matched >= offset {
                hits.push(hit);
            }
            matched += 1;
        }
    }
    let rows = fetch(&mut tx, &hits).await?;
    if f.is_empty() {
        // The total is the store's counter.
        return Ok(Page {
            rows,
            total: stored,
            exact: true,
            searched_since: None,
        });
    }
    let residual = f.method.is_some() || f.q.is_some();
    let all = if residual {
        // What matches is known only by looking: count within the window.
        while seen < WINDOW {
            let Some((hit, is_match)) = scan.next(&mut tx).await? else {
                return Ok(Page {
                    rows,
                    total: matched,
                    exact: true,
                    searched_since: None,
                });
            };
            seen += 1;
            oldest_seen = Some(hit.ts_us);
            matched += i64::from(is_match);
        }
        // The window is full: is there more to the range?
        scan.next(&mut tx).await?.is_none()
    } else if seen < WINDOW {
        let (rest, counted_all) = scan.count_rest(&mut tx, WINDOW - seen).await?;
        matched += rest;
        counted_all
    } else {
        scan.next(&mut tx).await?.is_none()
    };
    // From the window on, the total is a lower bound: "10,000 or more".
    Ok(Page {
        rows,
        total: matched.min(WINDOW),
        // With method/q, all of a range of exactly WINDOW requests was searched.
        exact: all && (matched < WINDOW || residual),
        searched_since: oldest_seen.filter(|_| residual && !all),
    })
}

/// The full requests behind `hits`, in the same order.
async fn fetch(tx: &mut Tx, hits: &[Hit]) -> Result<Vec<Request>, sqlx::Error> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<i64> = hits.iter().map(|h| h.block).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut domain_ids: Vec<i64> = hits.iter().map(|h| h.domain_id).collect();
    domain_ids.sort_unstable();
    domain_ids.dedup();
    let stored = table::blocks_by_id(tx, StoredBlock::COLUMNS, &ids)
        .await?
        .iter()
        .map(StoredBlock::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let names = domains::names(tx, &domain_ids).await?;
    let mut node_ids: Vec<i64> = hits.iter().filter_map(|h| h.node_id).collect();
    node_ids.sort_unstable();
    node_ids.dedup();
    let node_names = match node_ids.is_empty() {
        true => HashMap::default(),
        false => nodes::names(tx, &node_ids).await?,
    };
    let by_id: HashMap<i64, &StoredBlock> = stored.iter().map(|b| (b.id, b)).collect();
    // A block that shows many rows is decoded once; one that shows a few, row by row.
    let mut shown: HashMap<i64, usize> = HashMap::default();
    for h in hits {
        *shown.entry(h.block).or_default() += 1;
    }
    let mut whole = HashMap::default();
    for (id, b) in &by_id {
        if shown.get(id).is_some_and(|&k| k >= 8) {
            whole.insert(*id, Decoded::decode(&b.columns())?);
        }
    }
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let Some(b) = by_id.get(&h.block) else {
            continue;
        };
        let r = match whole.get(&h.block) {
            Some(d) => d
                .row(h.pos as usize)
                .ok_or(block::Corrupt("row out of range"))?,
            None => block::row_at(&b.columns(), h.pos as usize)?,
        };
        out.push(Request {
            ts_us: r.ts_us,
            domain: names.get(&h.domain_id).cloned().unwrap_or_default(),
            method: r.method.to_string(),
            path: r.path.to_string(),
            status: r.status,
            latency_us: r.latency_us,
            ip: r.ip.to_string(),
            size: r.size,
            protocol: r.protocol.to_string(),
            user_agent: r.user_agent.to_string(),
            node: h.node_id.and_then(|n| node_names.get(&n).cloned()),
        });
    }
    Ok(out)
}
