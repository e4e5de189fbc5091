use serde_json::{json, Value};

use crate::support::{expect_error, NginxProcess, TestApp};

/// `nginx -t` does not bind ports; a reload that nginx's master cannot carry out (the port
/// is held by another process) leaves nginx on its old config, and proxyhub notices from
/// nginx's error log.
#[tokio::test]
async fn a_reload_nginx_cannot_carry_out_is_a_502_and_changes_nothing() {
    let mut nginx = NginxProcess::start().await;
    let squatter = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    nginx.http_port = squatter.local_addr().unwrap().port();
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let settled = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        nginx.files().len() == 1
    })
    .await;
    assert!(settled, "the log-format file is written at start-up");
    let before = nginx.files();

    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "port.example.com", "config": "return 200;"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    // The answer quotes nginx's own error log, at once rather than after a timeout.
    assert!(
        body["proxyMessage"]
            .as_str()
            .unwrap()
            .contains("Address already in use"),
        "{body}"
    );
    assert_eq!(nginx.files(), before, "the files are back");
    let list: Vec<Value> = app.get("/api/vhosts").await.json().await.unwrap();
    assert!(list.is_empty(), "nothing stored: {list:?}");
}
