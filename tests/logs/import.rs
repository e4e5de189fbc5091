//! `proxyhub logs import`: plain and gzipped files, twice, without duplicates.

use std::{io::Write, process::Command};

use crate::{
    lines::{append, expect_requests, expect_total, numbered},
    support::database_url,
    support::server::Server,
};

fn import(db: &str, files: &[&std::path::Path]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_proxyhub"))
        .args(["logs", "import"])
        .args(files)
        .env("PROXYHUB_DATABASE_URL", db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn importing_the_same_files_twice_stores_each_request_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = &database_url(dir.path()).await;
    let plain = dir.path().join("old-1.log");
    let gz = dir.path().join("old-2.log.gz");
    append(&plain, &numbered(0, 300));
    std::fs::write(dir.path().join("garbage.log"), "not a log\n").unwrap();
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    for l in numbered(300, 500) {
        writeln!(enc, "{l}").unwrap();
    }
    enc.finish().unwrap();

    let first = import(db, &[&plain, &gz, &dir.path().join("garbage.log")]);
    assert!(first.contains("501 lines (500 rows, 1 skipped)"), "{first}");
    assert!(first.contains("lines/s"), "{first}");
    let again = import(db, &[&plain, &gz]);
    assert!(again.contains("0 lines (0 rows, 0 skipped)"), "{again}");

    // The tailer sees the same store: a live log whose start was imported is not read again.
    let log = dir.path().join("access.log");
    append(&log, &numbered(500, 520));
    import(db, &[&log]);
    let server = Server::start(dir.path()).await;
    append(&log, &numbered(520, 530));
    let api = crate::lines::api(&server);
    expect_total(&api, 530).await;
    expect_requests(&api, 0..530).await;
}
