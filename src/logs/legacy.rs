//! Stores made before blocks existed kept one row per request in `access_logs` (renamed
//! `access_logs_legacy` by migration 0004). At start-up those rows are rewritten as blocks,
//! a batch per transaction, then the old table is dropped. Counts and rollups already
//! include them, so only the rows move.

use sqlx::Row as _;

use super::{block::Row, store};
use crate::db::{self, Db};

const BATCH: i64 = 50_000;

/// Moves every legacy row into blocks; returns how many moved.
pub async fn convert(db: &Db) -> Result<u64, sqlx::Error> {
    let exists = if db::is_sqlite(db) {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'access_logs_legacy'"
    } else {
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = 'access_logs_legacy'"
    };
    let n: i64 = sqlx::query(exists).fetch_one(db).await?.try_get(0)?;
    if n == 0 {
        return Ok(0);
    }
    let mut moved = 0;
    loop {
        let mut tx = db::begin_write(db).await?;
        let rows = sqlx::query(
            "SELECT id, ts, domain_id, method, path, status, latency_us, ip, size, protocol, \
             user_agent FROM access_logs_legacy ORDER BY id LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            sqlx::query("DROP TABLE access_logs_legacy")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(moved);
        };
        let last: i64 = last.try_get("id")?;
        let owned = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("domain_id")?,
                    r.try_get::<i64, _>("ts")?,
                    r.try_get::<String, _>("method")?,
                    r.try_get::<String, _>("path")?,
                    r.try_get::<i64, _>("status")?,
                    r.try_get::<i64, _>("latency_us")?,
                    r.try_get::<String, _>("ip")?,
                    r.try_get::<i64, _>("size")?,
                    r.try_get::<String, _>("protocol")?,
                    r.try_get::<String, _>("user_agent")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let domain_ids: Vec<i64> = owned.iter().map(|o| o.0).collect();
        let requests: Vec<Row> = owned
            .iter()
            .map(|o| Row {
                ts_us: o.1,
                method: &o.2,
                path: &o.3,
                status: o.4,
                latency_us: o.5,
                ip: &o.6,
                size: o.7,
                protocol: &o.8,
                user_agent: &o.9,
            })
            .collect();
        store::write_rows(&mut tx, &requests, &domain_ids).await?;
        sqlx::query("DELETE FROM access_logs_legacy WHERE id <= $1")
            .bind(last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        moved += owned.len() as u64;
        tracing::info!(rows = moved, "moved stored access-log rows into blocks");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sqlx::{migrate::Migrator, sqlite::SqlitePoolOptions, Row as _};

    use crate::logs::{
        block,
        query::{self, Filter, Request},
        store,
    };

    /// 2025-01-15T10:00:00Z, the start of a clock hour.
    const HOUR_US: i64 = 3_600_000_000;
    const BASE: i64 = 1_736_935_200_000_000;
    const ROWS: i64 = 2_500;
    const DOMAINS: [(i64, &str); 3] = [
        (1, "a.example.com"),
        (2, "b.example.com"),
        (3, "quiet.example.com"),
    ];

    /// A legacy row: its id and the request as the API shows it.
    fn legacy_row(id: i64) -> (i64, i64, Request) {
        // Ids are not in time order (rows of several files were read in turns), and every
        // two rows share a timestamp and a domain: the later line (higher id) shows first.
        let k = (id * 7919) % ROWS;
        let pair = k / 2;
        // 1,600 rows in the first hour (so one domain's hour takes more than one block),
        // the rest over the next two hours.
        let ts_us = if k < 1_600 {
            BASE + pair * (HOUR_US / 800) + 17
        } else {
            BASE + HOUR_US + (pair - 800) * (2 * HOUR_US / 450) + 3
        };
        let domain_id = if pair % 4 == 0 { 2 } else { 1 };
        let status = [200, 200, 201, 304, 404, 500, 503, 200, 301][(id % 9) as usize];
        let method = ["GET", "GET", "POST", "HEAD", "DELETE"][(id % 5) as usize];
        let path = match id % 6 {
            0 => format!("/items/{id}?page={}", id % 13),
            1 => "/".to_string(),
            2 => format!("/ünïcode/{}", id % 7),
            3 => String::new(),
            4 => "/api/login".to_string(),
            _ => format!("/static/app.{}.js", id % 3),
        };
        let ip = if id % 4 == 0 {
            format!("2001:db8::{:x}", id % 50)
        } else {
            format!("10.0.{}.{}", id % 3, id % 200)
        };
        let user_agent = match id % 4 {
            0 => "curl/8.5.0",
            1 => "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"",
            2 => "",
            _ => "Go-http-client/2.0",
        };
        let request = Request {
            ts_us,
            domain: DOMAINS[(domain_id - 1) as usize].1.to_string(),
            method: method.to_string(),
            path,
            status,
            latency_us: (id * 37) % 250_000,
            ip,
            size: if id % 10 == 0 { 0 } else { id * 11 },
            protocol: if id % 3 == 0 { "HTTP/2.0" } else { "HTTP/1.1" }.to_string(),
            user_agent: user_agent.to_string(),
        };
        (id, domain_id, request)
    }

    /// A store as proxyhub left it before migration 0004: migrations 0001..0003 applied and
    /// `ROWS` requests stored one row each.
    async fn legacy_store(dir: &std::path::Path) -> Vec<(i64, i64, Request)> {
        let migrations = dir.join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for name in ["0001_core.sql", "0002_access_logs.sql", "0003_traffic.sql"] {
            std::fs::copy(source.join(name), migrations.join(name)).unwrap();
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}/t.db?mode=rwc", dir.display()))
            .await
            .unwrap();
        Migrator::new(migrations.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let rows: Vec<_> = (1..=ROWS).map(legacy_row).collect();
        let mut tx = pool.begin().await.unwrap();
        for (id, name) in DOMAINS {
            sqlx::query("INSERT INTO access_log_domains (id, name) VALUES (?, ?)")
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for (id, domain_id, r) in &rows {
            sqlx::query(
                "INSERT INTO access_logs (id, ts, domain_id, method, path, status, latency_us, \
                 ip, size, protocol, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(r.ts_us)
            .bind(domain_id)
            .bind(&r.method)
            .bind(&r.path)
            .bind(r.status)
            .bind(r.latency_us)
            .bind(&r.ip)
            .bind(r.size)
            .bind(&r.protocol)
            .bind(&r.user_agent)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE access_log_stats SET row_count = ? WHERE id = 1")
            .bind(ROWS)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        pool.close().await;
        rows
    }

    /// The requests matching `keep`, as the old store listed them: newest first, and of two
    /// at the same microsecond the later line (higher id) first.
    fn expected(rows: &[(i64, i64, Request)], keep: impl Fn(&Request) -> bool) -> Vec<Request> {
        let mut out: Vec<_> = rows.iter().filter(|(_, _, r)| keep(r)).collect();
        out.sort_by_key(|r| std::cmp::Reverse((r.2.ts_us, r.0)));
        out.into_iter().map(|(_, _, r)| r.clone()).collect()
    }

    async fn list(db: &crate::db::Db, f: Filter) -> (Vec<Request>, i64, bool) {
        let (stored, _) = store::counts(db).await.unwrap();
        let p = query::page(db, &f, ROWS + 10, 0, stored).await.unwrap();
        (p.rows, p.total, p.exact)
    }

    /// Requests per (epoch second of the minute, class), as the traffic chart counts them
    /// from the blocks.
    async fn minutes(db: &crate::db::Db) -> BTreeMap<(i64, u8), u64> {
        let mut out = BTreeMap::new();
        for r in sqlx::query("SELECT day, hist FROM access_log_blocks")
            .fetch_all(db)
            .await
            .unwrap()
        {
            let hist: Vec<u8> = r.try_get("hist").unwrap();
            for (m, c, n) in block::decode_hist(&hist, r.try_get("day").unwrap()).unwrap() {
                *out.entry((m, c)).or_default() += n;
            }
        }
        out
    }

    async fn tables(db: &crate::db::Db) -> Vec<String> {
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>(0).unwrap())
            .collect()
    }

    async fn blocks(db: &crate::db::Db) -> (i64, i64) {
        let r = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM access_log_blocks",
        )
        .fetch_one(db)
        .await
        .unwrap();
        (r.try_get(0).unwrap(), r.try_get(1).unwrap())
    }

    #[tokio::test]
    async fn stored_requests_survive_the_upgrade_to_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let rows = legacy_store(dir.path()).await;
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let db = crate::db::connect(&url).await.unwrap();

        // Every request, newest first, every field intact.
        let all = expected(&rows, |_| true);
        assert_eq!(all.len() as i64, ROWS);
        assert!(all[0].ts_us - all[ROWS as usize - 1].ts_us > 2 * HOUR_US);
        let (listed, total, exact) = list(&db, Filter::default()).await;
        assert_eq!((total, exact), (ROWS, true));
        assert_eq!(listed.len(), all.len());
        for (i, (got, want)) in listed.iter().zip(&all).enumerate() {
            assert_eq!(got, want, "request {i} of the newest-first list");
        }
        let (stored, _) = store::counts(&db).await.unwrap();
        let p = query::page(&db, &Filter::default(), 50, 1_010, stored)
            .await
            .unwrap();
        assert_eq!(p.rows, all[1_010..1_060], "a page deep in the list");

        // Filters find what they found before.
        type Keep = Box<dyn Fn(&Request) -> bool>;
        let cases: Vec<(Filter, Keep)> = vec![
            (
                Filter {
                    domain: Some("b.example.com".into()),
                    ..Filter::default()
                },
                Box::new(|r: &Request| r.domain == "b.example.com"),
            ),
            (
                Filter {
                    domain: Some("a.example.com".into()),
                    ..Filter::default()
                },
                Box::new(|r: &Request| r.domain == "a.example.com"),
            ),
            (
                Filter {
                    status: Some(500),
                    ..Filter::default()
                },
                Box::new(|r: &Request| r.status == 500),
            ),
            (
                Filter {
                    status_class: Some(2),
                    ..Filter::default()
                },
                Box::new(|r: &Request| r.status / 100 == 2),
            ),
            (
                Filter {
                    domain: Some("b.example.com".into()),
                    status: Some(404),
                    ..Filter::default()
                },
                Box::new(|r: &Request| r.domain == "b.example.com" && r.status == 404),
            ),
            (
                Filter {
                    method: Some("POST".into()),
                    q: Some("/ÜNÏCODE".to_lowercase()),
                    ..Filter::default()
                },
                Box::new(|r: &Request| r.method == "POST" && r.path.contains("/ünïcode")),
            ),
            (
                Filter {
                    from_us: Some(BASE + HOUR_US),
                    to_us: Some(BASE + 2 * HOUR_US - 1),
                    ..Filter::default()
                },
                Box::new(|r: &Request| (BASE + HOUR_US..BASE + 2 * HOUR_US).contains(&r.ts_us)),
            ),
            (
                Filter {
                    domain: Some("quiet.example.com".into()),
                    ..Filter::default()
                },
                Box::new(|_: &Request| false),
            ),
        ];
        for (f, keep) in &cases {
            let want = expected(&rows, keep);
            let (got, total, exact) = list(&db, f.clone()).await;
            assert_eq!((total, exact), (want.len() as i64, true), "{f:?}");
            assert_eq!(got, want, "{f:?}");
        }
        let b = expected(&rows, |r| r.domain == "b.example.com").len();
        assert!((400..800).contains(&b), "both domains have many rows: {b}");
        let e500 = expected(&rows, |r| r.status == 500).len();
        assert!(e500 > 200, "{e500}");

        // The traffic chart's minute counts now come from the blocks: the old rows count.
        let mut want_minutes = BTreeMap::new();
        for (_, _, r) in &rows {
            let minute = r.ts_us.div_euclid(60_000_000) * 60;
            *want_minutes
                .entry((minute, block::class(r.status)))
                .or_default() += 1u64;
        }
        assert_eq!(minutes(&db).await, want_minutes);

        // The old table is gone; nothing is left to convert.
        let t = tables(&db).await;
        assert!(!t.iter().any(|n| n.starts_with("access_logs")), "{t:?}");
        assert!(t.iter().any(|n| n == "access_log_blocks"), "{t:?}");
        let before = blocks(&db).await;
        assert_eq!(before.1, ROWS, "every request stored once");
        // Two domains within one day; the busy one has more requests than a block holds.
        assert!(before.0 >= 3, "more blocks than domain-days: {before:?}");
        assert_eq!(super::convert(&db).await.unwrap(), 0);
        db.close().await;

        // Starting again changes nothing.
        let db = crate::db::connect(&url).await.unwrap();
        assert_eq!(blocks(&db).await, before);
        let (again, total, _) = list(&db, Filter::default()).await;
        assert_eq!(total, ROWS);
        assert_eq!(again, all, "the same requests, none twice");
        assert_eq!(store::counts(&db).await.unwrap().0, ROWS);
        db.close().await;
    }
}
