//! nginx's own drift: a stray file of proxyhub's name removed, deleted files (the sites' and
//! the log format's) put back, the operator's own files left alone, and proxyhub's files in
//! place at start-up. A hand edit of a site's file is reverted for every proxy:
//! `tests/proxies/drift.rs`.

use std::time::Duration;

use serde_json::json;

use crate::support::{eventually, served, NginxProcess, TestApp, Upstream};

const LOG_FORMAT: &str = "proxyhub-00-log-format.conf";
const KEPT: &str = "proxyhub-site-kept.example.com.conf";
const STRAY: &str = "proxyhub-site-stray.example.com.conf";

fn server(port: u16, domain: &str, says: &str) -> String {
    format!("server {{\n    listen {port};\n    server_name {domain};\n    return 200 \"{says}\";\n}}\n")
}

#[tokio::test]
async fn deleted_and_stray_files_are_repaired_within_seconds() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let up = Upstream::start("kept").await;
    app.create_vhost(json!({"domain": "kept.example.com", "upstream": up.hostport()}))
        .await;
    let dir = nginx.conf_dir();
    let good = std::fs::read(dir.join(KEPT)).unwrap();
    let good_format = std::fs::read(dir.join(LOG_FORMAT)).unwrap();
    std::fs::write(dir.join("operator.conf"), "# the operator's own file\n").unwrap();

    std::fs::write(
        dir.join(STRAY),
        server(nginx.http_port, "stray.example.com", "stray"),
    )
    .unwrap();
    nginx.reload();
    let repaired = eventually(Duration::from_secs(10), || async {
        !dir.join(STRAY).exists()
    })
    .await;
    assert!(
        repaired,
        "the stray file was not removed: {:?}",
        nginx.files().keys()
    );
    assert!(
        served(&app, "kept.example.com", "/", |_, b| b.starts_with("kept"))
            .await
            .1
            .starts_with("kept"),
        "nginx still serves the store's sites"
    );
    assert_eq!(
        served(&app, "stray.example.com", "/", |s, _| s == 404)
            .await
            .0,
        404
    );

    std::fs::remove_file(dir.join(KEPT)).unwrap();
    std::fs::remove_file(dir.join(LOG_FORMAT)).unwrap();
    let restored = eventually(Duration::from_secs(10), || async {
        std::fs::read(dir.join(KEPT)).ok().as_ref() == Some(&good)
            && std::fs::read(dir.join(LOG_FORMAT)).ok().as_ref() == Some(&good_format)
    })
    .await;
    assert!(
        restored,
        "deleted files were not put back: {:?}",
        nginx.files().keys()
    );
    assert!(
        dir.join("operator.conf").exists(),
        "files that are not proxyhub's are left alone"
    );
}

#[tokio::test]
async fn at_start_up_proxyhub_puts_its_files_in_place() {
    let nginx = NginxProcess::start().await;
    let dir = nginx.conf_dir();
    std::fs::write(
        dir.join(STRAY),
        server(nginx.http_port, "stray.example.com", "stray"),
    )
    .unwrap();
    nginx.reload();
    let app = TestApp::spawn_nginx(&nginx).await;
    let settled = eventually(Duration::from_secs(10), || async {
        nginx.files().keys().collect::<Vec<_>>() == [LOG_FORMAT]
    })
    .await;
    assert!(settled, "{:?}", nginx.files().keys());
    assert_eq!(
        served(&app, "stray.example.com", "/", |s, _| s == 404)
            .await
            .0,
        404
    );
}
