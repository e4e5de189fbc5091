use std::{io::Write, time::Duration};

use serde_json::{json, Value};

use crate::support::{eventually, expect_error, TestApp};

/// One access-log line as Caddy 2.6 writes it.
fn caddy_line(ts: f64, host: &str, uri: &str, status: u16) -> String {
    json!({
        "level": "info", "ts": ts, "logger": "http.log.access.proxyhub", "msg": "handled request",
        "request": {"remote_ip": "127.0.0.1", "remote_port": "5000", "proto": "HTTP/1.1",
                    "method": "GET", "host": host, "uri": uri, "headers": {}},
        "user_id": "", "duration": 0.001, "size": 2, "status": status, "resp_headers": {}
    })
    .to_string()
}

#[tokio::test]
async fn stats_split_requests_by_time_bucket_and_status_class() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let minute = now - now.rem_euclid(60) - 600; // ten minutes ago
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&app.access_log)
        .unwrap();
    for i in 0..30 {
        writeln!(
            log,
            "{}",
            caddy_line(
                minute as f64 + 5.0,
                "a.example.com",
                &format!("/home?x={i}"),
                200
            )
        )
        .unwrap();
        if i % 3 == 0 {
            writeln!(
                log,
                "{}",
                caddy_line(minute as f64 + 70.0, "b.example.com", "/api", 503)
            )
            .unwrap();
        }
    }
    drop(log);
    let stored = eventually(Duration::from_secs(15), || async {
        let r: Value = app.get("/api/logs").await.json().await.unwrap();
        r["total"] == 40
    })
    .await;
    assert!(stored, "the tailer stored the 40 lines");

    let s: Value = app.get("/api/logs/stats").await.json().await.unwrap();
    assert_eq!(s["bucket"], "minute");
    assert_eq!(s["total"], 40);
    let buckets = s["buckets"].as_array().unwrap();
    assert!(
        (60..=62).contains(&buckets.len()),
        "one bucket a minute for the last hour: {}",
        buckets.len()
    );
    let at = |t: i64| {
        let iso = proxyhub::timestamps::iso(time::OffsetDateTime::from_unix_timestamp(t).unwrap());
        buckets
            .iter()
            .find(|b| b["t"] == iso.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no bucket {iso}"))
    };
    assert_eq!(
        (at(minute)["2xx"].as_i64(), at(minute)["5xx"].as_i64()),
        (Some(30), Some(0))
    );
    assert_eq!(at(minute + 60)["5xx"], 10);
    assert_eq!(s["topDomains"][0]["domain"], "a.example.com");
    assert_eq!(s["topDomains"][0]["count"], 30);
    assert_eq!(
        s["topPaths"][0],
        json!({"path": "/home", "count": 30}),
        "query strings are not part of a path"
    );
    assert_eq!(s["topPathsSample"], 40);

    let one: Value = app
        .get("/api/logs/stats?domain=B.example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["total"], 10);
    assert_eq!(one["topPaths"], json!([{"path": "/api", "count": 10}]));
    let week_from =
        proxyhub::timestamps::iso(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let week: Value = app
        .get(&format!("/api/logs/stats?from={week_from}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(week["bucket"], "hour");
    assert_eq!(week["total"], 40);

    expect_error(
        app.get("/api/logs/stats?from=yesterday").await,
        400,
        "BAD_REQUEST",
    )
    .await;
    let backwards = format!(
        "/api/logs/stats?from={}&to={week_from}",
        proxyhub::timestamps::now()
    );
    expect_error(app.get(&backwards).await, 400, "BAD_REQUEST").await;
    expect_error(
        app.new_client()
            .get(app.url("/api/logs/stats"))
            .send()
            .await
            .unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;
}
