//! Pages and totals against a brute-force filter of every request, and the order of
//! requests logged at the same time.

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;
use crate::{
    db::{self, Db},
    logs::store::{
        block::{self, Row, DAY_US},
        write,
    },
};

/// A fresh store knowing domains 1, 2 and 3: a, b and c.example.com, and nodes 1 and 2:
/// edge-1 and edge-2.
async fn store_of_three_domains() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    for (id, name) in [
        (1, "a.example.com"),
        (2, "b.example.com"),
        (3, "c.example.com"),
    ] {
        sqlx::query("INSERT INTO access_log_domains (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&db)
            .await
            .unwrap();
    }
    for (id, name) in [(1, "edge-1"), (2, "edge-2")] {
        sqlx::query("INSERT INTO access_log_nodes (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&db)
            .await
            .unwrap();
    }
    (dir, db)
}

/// Pages and totals from blocks equal a brute-force filter of every request, for random
/// filters over blocks of every kind: several domains, nodes and days, full, chunked and
/// merged small blocks, ranges inside, straddling and between blocks.
#[tokio::test]
async fn pages_and_totals_equal_filtering_every_request() {
    let (_dir, db) = store_of_three_domains().await;
    let mut r = StdRng::seed_from_u64(3);
    // Nodes are drawn apart: the other draws stay as they were before there were nodes.
    let mut rn = StdRng::seed_from_u64(5);
    // Two days and a bit from 2025-01-15T00:00:00Z; distinct microseconds (no ties: their
    // order is another test's); more requests than the window.
    let start = 1_736_899_200_000_000i64;
    let methods = ["GET", "POST", "DELETE"];
    // Classes of one code (4xx), of several (3xx, 5xx), and none (1xx).
    let statuses = [200, 200, 200, 301, 304, 404, 500, 502, 503];
    let n = 14_000;
    let mut ts: Vec<i64> = (0..n)
        .map(|_| start + r.gen_range(0..2 * DAY_US + 7_200_000_000))
        .collect();
    ts.sort_unstable();
    ts.dedup();
    let paths: Vec<String> = (0..ts.len()).map(|i| format!("/p/{i}")).collect();
    let all: Vec<(Row, i64)> = ts
        .iter()
        .zip(&paths)
        .map(|(&t, p)| {
            let row = Row {
                method: methods[r.gen_range(0..3)],
                status: statuses[r.gen_range(0..statuses.len())],
                ..block::test_row(t, p)
            };
            (row, r.gen_range(1..=3))
        })
        .collect();
    // Batches in time order of every size: single requests (merged into small blocks),
    // hundreds, and groups bigger than a block (stored in chunks); each the local tailer's
    // or a node's.
    let mut node_of: Vec<Option<i64>> = Vec::with_capacity(all.len());
    let mut at = 0;
    while at < all.len() {
        let size = match r.gen_range(0..4) {
            0 => r.gen_range(1..4),
            1 => r.gen_range(4..100),
            2 => r.gen_range(100..600),
            _ => r.gen_range(600..5_000),
        };
        let batch = &all[at..(at + size).min(all.len())];
        let rows: Vec<Row> = batch.iter().map(|b| b.0).collect();
        let ids: Vec<i64> = batch.iter().map(|b| b.1).collect();
        let node = [None, Some(1), Some(2)][rn.gen_range(0..3)];
        node_of.extend(std::iter::repeat_n(node, rows.len()));
        let mut tx = db::begin_write(&db).await.unwrap();
        write::write_rows(&mut tx, &rows, &ids, node).await.unwrap();
        tx.commit().await.unwrap();
        at += size;
    }
    let stored = all.len() as i64;
    // What the rounds covered: past the window, classes of several codes, an empty
    // class, deep pages.
    let (mut over, mut several, mut empty, mut deep, mut limited) = (0, 0, 0, 0, 0);
    let mut by_node = 0;
    for round in 0..400 {
        let from = start + r.gen_range(0..2 * DAY_US);
        let mut f = Filter {
            domain: r
                .gen_bool(0.25)
                .then(|| ["a", "b", "c", "d"][r.gen_range(0..4)].to_string() + ".example.com"),
            status: None,
            status_class: None,
            from_us: r.gen_bool(0.4).then_some(from),
            to_us: r.gen_bool(0.4).then(|| from + r.gen_range(0..DAY_US / 2)),
            method: r
                .gen_bool(0.2)
                .then(|| methods[r.gen_range(0..3)].to_string()),
            q: r.gen_bool(0.1)
                .then(|| format!("/p/{}", r.gen_range(0..20))),
            node: rn
                .gen_bool(0.25)
                .then(|| ["edge-1", "edge-2", "edge-9"][rn.gen_range(0..3)].to_string()),
        };
        match r.gen_range(0..6) {
            0 | 1 => f.status = Some(statuses[r.gen_range(0..statuses.len())]),
            2 | 3 => f.status_class = Some(r.gen_range(1..=5)),
            4 => {
                f.status = Some(statuses[r.gen_range(0..statuses.len())]);
                f.status_class = Some(r.gen_range(2..=5));
            }
            _ => {}
        }
        let limit = r.gen_range(1..60);
        let offset = match r.gen_bool(0.3) {
            true => r.gen_range(0..WINDOW),
            false => r.gen_range(0..200),
        };
        let domain_id = f.domain.as_deref().map(|d| match d {
            "a.example.com" => 1,
            "b.example.com" => 2,
            "c.example.com" => 3,
            _ => 0,
        });
        let node_id = f.node.as_deref().map(|n| match n {
            "edge-1" => Some(1),
            "edge-2" => Some(2),
            _ => Some(0),
        });
        // The newest WINDOW requests passing domain/node/status/time, then the residual
        // filters.
        let candidates: Vec<&(Row, i64)> = all
            .iter()
            .zip(&node_of)
            .rev()
            .filter(|(_, n)| node_id.is_none_or(|x| x == **n))
            .map(|(row, _)| row)
            .filter(|(row, d)| {
                domain_id.is_none_or(|x| x == *d)
                    && f.status.is_none_or(|s| s == row.status)
                    && f.status_class.is_none_or(|c| c == row.status / 100)
                    && f.from_us.is_none_or(|t| row.ts_us >= t)
                    && f.to_us.is_none_or(|t| row.ts_us <= t)
            })
            .collect();
        let matching: Vec<&str> = candidates
            .iter()
            .take(WINDOW as usize)
            .filter(|(row, _)| {
                f.method.as_deref().is_none_or(|m| m == row.method)
                    && f.q.as_deref().is_none_or(|q| row.path.contains(q))
            })
            .map(|(row, _)| row.path)
            .collect();
        let residual = f.method.is_some() || f.q.is_some();
        let total = match residual {
            true => matching.len(),
            false => candidates.len(),
        };
        let got = page(&db, &f, limit, offset, stored).await.unwrap();
        let want: Vec<&str> = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .copied()
            .collect();
        let paths: Vec<&str> = got.rows.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths, want,
            "round {round}: {f:?} limit {limit} offset {offset}"
        );
        // Each request shows the node that shipped it (none: the local tailer's).
        for x in &got.rows {
            let i: usize = x.path["/p/".len()..].parse().unwrap();
            let node = node_of[i].map(|n| format!("edge-{n}"));
            assert_eq!(x.node, node, "round {round}: {}", x.path);
        }
        // Without filters the total is the store's counter; method/q search the window
        // and say how far back.
        let w = WINDOW as usize;
        let want_total = match (f.is_empty(), residual) {
            (true, _) => (stored, true),
            (false, true) => (total.min(w) as i64, candidates.len() <= w),
            (false, false) => (total.min(w) as i64, candidates.len() < w),
        };
        assert_eq!((got.total, got.exact), want_total, "round {round}: {f:?}");
        let since = match residual && candidates.len() > w {
            true => Some(candidates[w - 1].0.ts_us),
            false => None,
        };
        assert_eq!(got.searched_since, since, "round {round}: {f:?}");
        over += usize::from(candidates.len() > WINDOW as usize);
        limited += usize::from(since.is_some());
        let class = f.status_class.filter(|_| f.status.is_none());
        several += usize::from(matches!(class, Some(3 | 5)));
        empty += usize::from(class == Some(1));
        deep += usize::from(offset > 5_000 && !want.is_empty());
        by_node += usize::from(node_id.is_some_and(|n| n != Some(0)) && !want.is_empty());
    }
    assert!(
        over >= 10 && several >= 10 && empty >= 3 && deep >= 3 && limited >= 3 && by_node >= 10,
        "{over} {several} {empty} {deep} {limited} {by_node}"
    );
}

/// Requests logged at the same microsecond come newest block first, then in block order,
/// even when a newer block ends at the same time but starts earlier than an older one.
#[tokio::test]
async fn equal_times_come_newer_block_first() {
    let (_dir, db) = store_of_three_domains().await;
    let t = 1_736_935_200_000_000i64;
    let row = block::test_row;
    // Blocks 1 (domain b), 2 (domain a), 3 (domain c), in this order.
    for (domain, rows) in [
        (2, [row(t, "/f0"), row(t - 1, "/f1")]),
        (1, [row(t, "/x0"), row(t - 1, "/x1")]),
        (3, [row(t, "/g0"), row(t - 5, "/g1")]),
    ] {
        let mut tx = db::begin_write(&db).await.unwrap();
        write::write_rows(&mut tx, &rows, &[domain; 2], None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    for f in [
        Filter::default(),
        Filter {
            status_class: Some(2),
            ..Filter::default()
        },
    ] {
        let p = page(&db, &f, 10, 0, 6).await.unwrap();
        let paths: Vec<&str> = p.rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/g0", "/x0", "/f0", "/x1", "/f1", "/g1"], "{f:?}");
    }
}
