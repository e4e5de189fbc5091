//! A proxyhub killed with SIGKILL at any moment, and restarted, stores every request once.

use std::{io::Write, time::Duration};

use crate::{
    lines::{append, expect_requests, expect_total, numbered},
    support::server::Server,
};

/// What Caddy does at `roll_size`: rename with a timestamp, then gzip the renamed file.
fn rotate(log: &std::path::Path, stamp: &str, gzip: bool) {
    let rotated = log.with_file_name(format!("access-{stamp}.log"));
    std::fs::rename(log, &rotated).unwrap();
    if gzip {
        let data = std::fs::read(&rotated).unwrap();
        let out = std::fs::File::create(rotated.with_extension("log.gz")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        gz.finish().unwrap();
        std::fs::remove_file(&rotated).unwrap();
    }
}

#[tokio::test]
async fn sigkill_at_any_moment_neither_loses_nor_duplicates_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let log = server.log.clone();
    let mut written = 0;
    for round in 0..10 {
        // Bursts of 400 lines, written while proxyhub is busy storing the previous ones.
        for _ in 0..4 {
            append(&log, &numbered(written, written + 100));
            written += 100;
        }
        tokio::time::sleep(Duration::from_millis((round * 37 % 60) as u64)).await;
        server.kill();
        match round {
            // Rotated while proxyhub was down, half read: finished from the gzipped file.
            3 => rotate(&log, "2025-01-15T10-00-00.000", true),
            // Rotated twice while down: the second file was never seen.
            6 => {
                rotate(&log, "2025-01-15T11-00-00.000", false);
                append(&log, &numbered(written, written + 150));
                written += 150;
                rotate(&log, "2025-01-15T12-00-00.000", true);
            }
            // A broken gzip among the rotated files is passed over, not fatal.
            8 => std::fs::write(
                log.with_file_name("access-broken.log.gz"),
                b"\x1f\x8bnot gzip",
            )
            .unwrap(),
            _ => {}
        }
        server.boot().await;
    }
    expect_total(&crate::lines::api(&server), written as i64).await;
    expect_requests(&crate::lines::api(&server), 0..written).await;

    server.kill();
    server.boot().await;
    append(&log, &numbered(written, written + 10));
    expect_total(&crate::lines::api(&server), written as i64 + 10).await;
}
