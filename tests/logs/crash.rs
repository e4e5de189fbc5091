//! A proxyhub killed with SIGKILL at any moment, and restarted, stores every request once.

use std::time::Duration;

use crate::{
    lines::{append, expect_requests, expect_total, numbered},
    support::{rotation::rotate, server::Server},
};

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

/// Killed before its tail stored a line, while the log was rotated: the rotated file is
/// still finished at the next start, because following began when the process did. An
/// older rotated file, there before proxyhub was first started, is left to `logs import`.
#[tokio::test]
async fn a_log_rotated_before_the_first_batch_is_finished_and_older_files_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let older = dir.path().join("access-2025-01-14T00-00-00.000.log");
    append(&older, &numbered(1000, 1010));
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&older)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let mut server = Server::start(dir.path()).await;
    server.kill();
    // While it is down: lines written, the file rotated and gzipped, a new one begun.
    append(&log, &numbered(0, 300));
    rotate(&log, "2025-01-15T10-00-00.000", true);
    append(&log, &numbered(300, 400));
    server.boot().await;
    expect_total(&crate::lines::api(&server), 400).await;
    expect_requests(&crate::lines::api(&server), 0..400).await;
}
