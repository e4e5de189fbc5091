//! The Caddy scale benchmark: `cargo bench --bench caddy`. proxyhub (the release binary, as
//! its own process) drives a real Caddy to BENCH_SITES vhosts (default 10,000) while an
//! access log grows, then measures one change against Caddy's own JSON `/load` of the same
//! config on a second, clean Caddy, 1,000 concurrent creates, and proxyhub's memory. It runs
//! on every Caddy it finds: Debian's (`caddy` on the PATH) and the current release that
//! `scripts/test` installs (tests/.tools/caddy-current); BENCH_CADDY names one instead.
//! BENCH_LINES_PER_S (default 20,000) sets how fast the access log grows during the fill.
//! Under `cargo test` it runs a small version of itself as a smoke test.

#[path = "../logs/gen.rs"]
mod gen;
#[path = "../support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::Row;
use support::{
    create, for_reference, free_port, load_times, median, pushes, running_config, s, signed_in,
    start_caddy, start_proxyhub,
};

fn main() {
    support::each_caddy(|full, label, bin| async move { run(full, &label, &bin).await });
}

async fn run(full: bool, label: &str, caddy_bin: &Path) {
    let sites = if full {
        std::env::var("BENCH_SITES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    } else {
        60
    };
    let burst = if full { 1_000 } else { 20 };
    let rounds = if full { 7 } else { 2 };
    let offered_lines_per_s: u64 = match std::env::var("BENCH_LINES_PER_S") {
        Ok(v) => v.parse().expect("BENCH_LINES_PER_S is a number"),
        Err(_) if full => 20_000,
        Err(_) => 1_000,
    };
    let version = support::caddy_version(caddy_bin);
    let dir = support::bench_dir("bench-caddy", full);
    println!("\n# Caddy scale benchmark: {label}, {version}, {sites} vhosts");

    let (admin, http) = (free_port(), free_port());
    let _caddy = start_caddy(caddy_bin, &dir.join("caddy"), admin).await;
    let ref_admin = free_port();
    let _reference = start_caddy(caddy_bin, &dir.join("reference"), ref_admin).await;
    let log = dir.join("access.log");
    std::fs::write(&log, "").unwrap();
    let (mut proxyhub, base) = start_proxyhub(&dir, admin, http, &log).await;
    let pid = proxyhub.0.id();
    let client = signed_in(&base, true).await;

    // The access log grows while the vhosts are created.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written, log) = (stop.clone(), written.clone(), log.clone());
        // Timestamps of now: the store keeps them (retention prunes old requests).
        let mut lines = gen::Lines::live();
        std::thread::spawn(move || {
            support::append_lines(&log, offered_lines_per_s, &stop, &written, |buf| {
                lines.line(buf)
            })
        })
    };
    let db = proxyhub::db::connect(&format!("sqlite://{}", dir.join("proxyhub.db").display()))
        .await
        .unwrap();
    let stored = |db: proxyhub::db::Db| async move {
        sqlx::query("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM access_log_blocks")
            .fetch_one(&db)
            .await
            .unwrap()
            .get::<i64, _>(0)
    };

    let t = Instant::now();
    let (w0, s0) = (written.load(Ordering::Relaxed), stored(db.clone()).await);
    let mut ids = Vec::new();
    // The fill's thousand clients come and go with it, as a burst of API clients would.
    let crowd = signed_in(&base, false).await;
    for chunk in (0..sites).collect::<Vec<_>>().chunks(burst) {
        ids.extend(create(&crowd, &base, chunk, "s").await);
    }
    drop(crowd);
    let fill = t.elapsed();
    let (w1, s1) = (written.load(Ordering::Relaxed), stored(db.clone()).await);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = written.load(Ordering::Relaxed) as i64;
    let caught_up = Instant::now();
    while stored(db.clone()).await < total && caught_up.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "fill: {sites} vhosts created {burst} at a time in {} ({} pushes)",
        s(fill),
        pushes(&client, &base).await
    );
    println!(
        "access-log ingest during the fill: {:.0} lines/s offered, {:.0} stored/s; all {total} stored {} after the fill",
        (w1 - w0) as f64 / fill.as_secs_f64(),
        (s1 - s0) as f64 / fill.as_secs_f64(),
        s(caught_up.elapsed())
    );

    tokio::time::sleep(Duration::from_secs(if full { 8 } else { 2 })).await;
    let idle = support::rss(pid);

    // One change, against Caddy's own JSON /load of the same configs on a clean Caddy.
    let id = ids[ids.len() / 2];
    let mut ours = Vec::new();
    let mut configs = Vec::new();
    let mut after_change = (0.0, 0.0, 0.0);
    for i in 0..rounds * 2 {
        let t = Instant::now();
        let r = client
            .put(format!("{base}/api/vhosts/{id}"))
            .json(&json!({"upstream": format!("127.0.0.1:{}", 20000 + i % 2)}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
        ours.push(t.elapsed());
        let m = support::rss(pid);
        if m.0 > after_change.0 {
            after_change = m;
        }
        if i < 2 {
            configs.push(for_reference(&running_config(admin).await, ref_admin));
        }
    }
    let theirs = load_times(ref_admin, &configs, rounds * 2).await;
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "one change at {sites} vhosts: {} (median of {}); Caddy's own JSON /load of the same configs on a clean Caddy: {}; ratio {:.2}×",
        s(ours),
        rounds * 2,
        s(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );

    let t = Instant::now();
    create(
        &client,
        &base,
        &(sites..sites + burst).collect::<Vec<_>>(),
        "b",
    )
    .await;
    let burst_time = t.elapsed();
    println!(
        "{burst} concurrent creates on {sites} vhosts: {} = {:.1} JSON load-times",
        s(burst_time),
        burst_time.as_secs_f64() / theirs.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(if full { 8 } else { 2 })).await;
    let after_burst = support::rss(pid);
    println!(
        "proxyhub's resident memory (total / anonymous / file-backed MiB): idle {:.0} / {:.0} / {:.0}; right after a change {:.0} / {:.0} / {:.0}; idle after the burst {:.0} / {:.0} / {:.0}",
        idle.0, idle.1, idle.2, after_change.0, after_change.1, after_change.2, after_burst.0, after_burst.1, after_burst.2
    );
    // Desired state as code at this scale: export, wipe, import in one push.
    let t = Instant::now();
    let exported = support::get_json(&client, &format!("{base}/api/export")).await;
    let export_time = t.elapsed();
    let n = exported["vhosts"].as_array().map_or(0, Vec::len);
    let import = |doc: Value, query: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let t = Instant::now();
            let r = client
                .post(format!("{base}/api/import?{query}"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{:?}", r.text().await);
            let answer: Value = r.json().await.unwrap();
            (t.elapsed(), answer)
        }
    };
    let empty = json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": []});
    let (wipe, answer) = import(empty, "prune=true").await;
    assert_eq!(answer["summary"]["delete"], n);
    let before = pushes(&client, &base).await;
    let (dry, answer) = import(exported.clone(), "dryRun=true").await;
    assert_eq!(answer["summary"]["create"], n);
    let (full_import, answer) = import(exported, "").await;
    assert_eq!(answer["summary"]["create"], n);
    let pushed = pushes(&client, &base).await - before;
    println!(
        "state as code at {n} vhosts: export {}; wipe (prune) {}; import dry run {}; import {} in {pushed} push(es)",
        s(export_time),
        s(wipe),
        s(dry),
        s(full_import)
    );
    let _ = proxyhub.0.kill();
    db.close().await;
    support::clean_up(&dir);
}
