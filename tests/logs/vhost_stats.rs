//! `GET /api/vhosts/{id}/stats`: a vhost's requests per UTC day and status class, counted from
//! lines the tailer stored.

use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{
    lines::{append, caddy_line, expect_total, Api},
    support::{expect_error, CaddyProcess, TestApp},
};

/// The start of today (UTC), in epoch seconds, at least five minutes from either end of the
/// day: the lines' days and the server's "today" must not part at midnight.
async fn today_away_from_midnight() -> i64 {
    loop {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let into_day = now.rem_euclid(86_400);
        if (300..86_100).contains(&into_day) {
            return now - into_day;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

fn date(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .unwrap()
        .date()
        .to_string()
}

async fn stats(client: &reqwest::Client, app: &TestApp, id: i64, query: &str) -> Value {
    let r = client
        .get(app.url(&format!("/api/vhosts/{id}/stats{query}")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// `(day, hits)` of every day with requests, and how many days the answer has.
fn busy_days(body: &Value) -> (Vec<(String, i64)>, usize) {
    let daily = body["daily"].as_array().unwrap();
    let busy = daily
        .iter()
        .filter(|d| d["hits"] != 0)
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_string(),
                d["hits"].as_i64().unwrap(),
            )
        })
        .collect();
    (busy, daily.len())
}

#[tokio::test]
async fn a_vhosts_stats_count_its_requests_per_day_and_status_class() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let shop = app
        .create_vhost(json!({"domain": "shop.example.com", "config": "respond \"ok\""}))
        .await;
    let id = shop["id"].as_i64().unwrap();
    // A redirect host: its hits count under its domain, its alias and the www. it serves.
    let go = app
        .create_vhost(
            json!({"domain": "go.example.com", "aliases": ["go.example.net"],
            "redirect": {"target": "https://shop.example.com/", "code": 301, "includeWww": true}}),
        )
        .await;

    let today = today_away_from_midnight().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // `days_ago` days before today, a few seconds into the day, or just now for today.
    let at = |days_ago: i64, i: usize| match days_ago {
        0 => (now - 60 - i as i64) as f64,
        d => (today - d * 86_400 + 3600 + i as i64) as f64,
    };
    let mut lines = Vec::new();
    let mut line = |days_ago: i64, host: &str, status: u16| {
        let i = lines.len();
        lines.push(caddy_line(i, host, "GET", status, at(days_ago, i)));
    };
    // Today: three 200s (one with the host as a browser may send it), a 301, a 404, a 503,
    // a 101; and another vhost's requests, which do not count.
    line(0, "shop.example.com", 200);
    line(0, "shop.example.com", 200);
    line(0, "Shop.Example.com:443", 200);
    line(0, "shop.example.com", 301);
    line(0, "shop.example.com", 404);
    line(0, "shop.example.com", 503);
    line(0, "shop.example.com", 101);
    line(0, "blog.example.com", 200);
    line(1, "blog.example.com", 500);
    line(1, "shop.example.com", 200);
    line(1, "shop.example.com", 200);
    line(6, "shop.example.com", 500);
    for _ in 0..4 {
        line(10, "shop.example.com", 302);
    }
    for host in ["go.example.com", "www.go.example.com", "GO.example.net"] {
        line(2, host, 301);
    }
    let stored = lines.len() as i64;
    append(&app.access_log, &lines);
    expect_total(&Api::of(&app), stored).await;

    let month = stats(&app.client, &app, id, "").await;
    assert_eq!(month["domain"], "shop.example.com");
    assert_eq!(month["days"], 30, "30 days unless asked");
    let (busy, len) = busy_days(&month);
    assert_eq!(len, 30, "one entry a day, zeros included: {month}");
    assert_eq!(
        month["daily"][0]["day"],
        date(today - 29 * 86_400),
        "oldest first"
    );
    assert_eq!(month["daily"][29]["day"], date(today));
    assert_eq!(
        busy,
        [
            (date(today - 10 * 86_400), 4),
            (date(today - 6 * 86_400), 1),
            (date(today - 86_400), 2),
            (date(today), 7),
        ]
    );
    assert_eq!(month["total"], 14);
    assert_eq!(
        month["byStatus"],
        json!({"2xx": 5, "3xx": 5, "4xx": 1, "5xx": 2, "other": 1,
            "101": 1, "200": 5, "301": 1, "302": 4, "404": 1, "500": 1, "503": 1})
    );

    let week = stats(&app.client, &app, id, "?days=7").await;
    let (busy, len) = busy_days(&week);
    assert_eq!((week["days"].as_i64(), len), (Some(7), 7));
    assert_eq!(week["daily"][0]["day"], date(today - 6 * 86_400));
    assert_eq!(busy.len(), 3, "ten days ago is out of the week: {week}");
    assert_eq!(week["total"], 10);
    assert_eq!(
        week["byStatus"],
        json!({"2xx": 5, "3xx": 1, "4xx": 1, "5xx": 2, "other": 1,
            "101": 1, "200": 5, "301": 1, "404": 1, "500": 1, "503": 1})
    );
    let day = stats(&app.client, &app, id, "?days=1").await;
    assert_eq!(day["daily"], json!([{"day": date(today), "hits": 7}]));

    let go = stats(&app.client, &app, go["id"].as_i64().unwrap(), "?days=7").await;
    assert_eq!(go["total"], 3, "{go}");
    assert_eq!(
        (
            go["byStatus"]["3xx"].as_i64(),
            go["byStatus"]["301"].as_i64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(busy_days(&go).0, [(date(today - 2 * 86_400), 3)]);

    // Viewers read it as they read the vhost.
    let viewer = app.client_with_role("vi@example.com", "viewer").await;
    assert_eq!(stats(&viewer, &app, id, "?days=366").await["total"], 14);

    for bad in ["days=0", "days=abc", "days=367", "days=-1", "days=2.5"] {
        let r = app.get(&format!("/api/vhosts/{id}/stats?{bad}")).await;
        let body = expect_error(r, 400, "BAD_REQUEST").await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("days"), "{bad}: {message}");
    }
    let r = app.get(&format!("/api/vhosts/{id}/stats?day=3")).await;
    expect_error(r, 400, "BAD_REQUEST").await;
    let r = app.get("/api/vhosts/999999/stats").await;
    expect_error(r, 404, "NOT_FOUND").await;
    let r = app.get("/api/vhosts/shop/stats").await;
    expect_error(r, 400, "BAD_REQUEST").await;
}
