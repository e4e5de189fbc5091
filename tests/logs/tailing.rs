//! Following the access log as Caddy and logrotate treat it.

use std::time::Duration;

use crate::{
    lines::{append, append_raw, caddy_line, expect_requests, expect_total, logs, numbered, Api},
    support::TestApp,
};

#[tokio::test]
async fn partial_and_garbage_lines_are_held_or_counted_never_fatal() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let log = &app.access_log;
    append(log, &numbered(0, 40));
    append_raw(log, b"this is not json\n");
    append_raw(
        log,
        br#"{"level":"info","ts":1700000000.1,"logger":"tls","msg":"certificate obtained"}"#,
    );
    append_raw(log, b"\n[1,2,3]\n");
    let half = caddy_line(40, "a.example.com", "GET", 200, crate::lines::now());
    let (first, second) = half.split_at(half.len() / 2);
    append_raw(log, first.as_bytes());
    expect_total(&api, 40).await;
    assert_eq!(
        logs(&api, "limit=1").await["skipped"],
        3,
        "three lines were not requests"
    );

    append_raw(log, format!("{second}\n").as_bytes());
    expect_total(&api, 41).await;
    append(log, &numbered(41, 60));
    expect_total(&api, 60).await;
    expect_requests(&api, 0..60).await;
    assert_eq!(
        logs(&api, "limit=1").await["skipped"],
        3,
        "the split line was not skipped"
    );

    let status: serde_json::Value = app.get("/api/logs/status").await.json().await.unwrap();
    assert_eq!(
        (status["rows"].as_i64(), status["skipped"].as_i64()),
        (Some(60), Some(3))
    );
    let file = &status["files"][0];
    assert_eq!(file["path"], log.display().to_string());
    assert_eq!(file["lines"], 63);
    assert_eq!(
        file["position"],
        std::fs::metadata(log).unwrap().len(),
        "all of it read"
    );
    assert_eq!(status["ingest"]["state"], "live", "{status}");
    assert_eq!(status["ingest"]["lagBytes"], 0, "nothing waits");
    assert!(status["ingest"]["lastStoredAt"].is_string(), "{status}");
}

#[tokio::test]
async fn caddy_rotation_by_rename_finishes_the_old_file_then_follows_the_new_one() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let log = app.access_log.clone();
    append(&log, &numbered(0, 50));
    expect_total(&api, 50).await;
    // Lines written just before the rename may not have been read yet.
    append(&log, &numbered(50, 70));
    let rotated = log.with_file_name("access-2025-01-15T10-30-00.000.log");
    std::fs::rename(&log, &rotated).unwrap();
    append(&log, &numbered(70, 100));
    expect_total(&api, 100).await;
    expect_requests(&api, 0..100).await;

    std::fs::rename(
        &log,
        log.with_file_name("access-2025-01-15T11-00-00.000.log"),
    )
    .unwrap();
    append(&log, &numbered(100, 110));
    expect_total(&api, 110).await;
    expect_requests(&api, 0..110).await;
}

#[tokio::test]
async fn copytruncate_starts_again_from_the_top_and_keeps_what_the_copy_holds() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let log = app.access_log.clone();
    append(&log, &numbered(0, 30));
    expect_total(&api, 30).await;

    let truncate = |copy: &str| {
        std::fs::copy(&log, log.with_file_name(copy)).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
    };
    truncate("access.log.1");
    append(&log, &numbered(30, 35));
    expect_total(&api, 35).await;

    // Written and truncated away before proxyhub read them: the copy still has them.
    append(&log, &numbered(35, 45));
    truncate("access.log.2");
    append(&log, &numbered(45, 50));
    expect_total(&api, 50).await;

    // Truncated and written past the old size between two looks.
    truncate("access.log.3");
    append(&log, &numbered(50, 100));
    expect_total(&api, 100).await;
    expect_requests(&api, 0..100).await;
}

#[tokio::test]
async fn a_deleted_log_is_finished_and_its_successor_read_from_the_start() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let log = app.access_log.clone();
    append(&log, &numbered(0, 10));
    expect_total(&api, 10).await;
    std::fs::remove_file(&log).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    append(&log, &numbered(10, 25));
    expect_total(&api, 25).await;
    expect_requests(&api, 0..25).await;
}
