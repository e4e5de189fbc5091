use serde_json::Value;

use crate::support::{expect_error, CaddyProcess, TestApp};
use proxyhub::traffic::{record, Hit};

#[tokio::test]
async fn stats_split_requests_by_time_bucket_and_status_class() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let db = app.db().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let minute = now - now.rem_euclid(60) - 600; // ten minutes ago
    let mut hits = Vec::new();
    for i in 0..30 {
        hits.push(Hit {
            ts: minute + 5,
            domain: "a.example.com",
            status: 200,
            uri: "/home?x=1",
        });
        if i % 3 == 0 {
            hits.push(Hit {
                ts: minute + 70,
                domain: "b.example.com",
                status: 503,
                uri: "/api",
            });
        }
    }
    record(&mut db.acquire().await.unwrap(), hits)
        .await
        .unwrap();

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
        s["topPaths"][0]["path"], "/home",
        "query strings are not part of a path"
    );

    let one: Value = app
        .get("/api/logs/stats?domain=B.example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["total"], 10);
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
