//! `GET /api/logs`: filters, paging, totals, errors, sign-in.

use serde_json::Value;

use crate::{
    lines::{append, caddy_line, expect_total, logs, now, Api},
    support::{expect_error, Options, TestApp},
};

/// 600 requests, one per second, ending a minute ago: request `i` goes to host `i % 3`,
/// is a POST when `i % 10 == 0`, and answers 500 when `i % 7 == 0`.
fn traffic(end: f64) -> Vec<String> {
    (0..600)
        .map(|i| {
            let host = ["a.example.com", "b.example.com", "c.example.com"][i % 3];
            let method = if i % 10 == 0 { "POST" } else { "GET" };
            let status = if i % 7 == 0 { 500 } else { 200 };
            caddy_line(i, host, method, status, end - (600 - i) as f64)
        })
        .collect()
}

fn paths(body: &Value) -> Vec<&str> {
    body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect()
}

fn iso(epoch: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos((epoch * 1e9) as i128).unwrap();
    proxyhub::timestamps::iso(t)
}

#[tokio::test]
async fn filters_and_pages_answer_what_was_asked() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let end = (now() - 60.0).floor();
    append(&app.access_log, &traffic(end));
    expect_total(&api, 600).await;

    let first = logs(&api, "").await;
    assert_eq!(
        (first["page"].as_i64(), first["pageSize"].as_i64()),
        (Some(1), Some(50))
    );
    assert_eq!(
        (first["total"].as_i64(), first["totalExact"].as_bool()),
        (Some(600), Some(true))
    );
    let newest = &first["logs"][0];
    assert_eq!(newest["path"], "/req/599", "newest first");
    assert_eq!(newest["timestamp"], iso(end - 1.0));
    assert_eq!(newest["domain"], "c.example.com");
    assert_eq!(newest["method"], "GET");
    assert_eq!(newest["status"], 200);
    assert_eq!(newest["latency"], "12.3ms");
    assert_eq!(
        newest["ip"], "203.0.113.99",
        "the client ip, not the remote one"
    );
    let ts = newest["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == 24,
        "ISO-8601 UTC with milliseconds: {ts}"
    );

    let second = logs(&api, "page=2").await;
    assert_eq!(
        paths(&second)[0],
        "/req/549",
        "page 2 starts where page 1 ended"
    );

    let b = logs(&api, "domain=B.example.com&limit=500").await;
    assert_eq!(b["total"], 200);
    assert!(b["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["domain"] == "b.example.com"));

    let errors = logs(&api, "status=500&domain=a.example.com").await;
    let want = (0..600).filter(|i| i % 7 == 0 && i % 3 == 0).count();
    assert_eq!(errors["total"], want);
    assert_eq!(paths(&errors)[0], "/req/588");

    let posts = logs(&api, "method=post&limit=5").await;
    assert_eq!(posts["total"], 60);
    assert_eq!(
        paths(&posts),
        ["/req/590", "/req/580", "/req/570", "/req/560", "/req/550"]
    );

    let q = logs(&api, "q=%2FREQ%2F12").await;
    let want: Vec<String> = (0..600)
        .rev()
        .map(|i| format!("/req/{i}"))
        .filter(|p| p.contains("/req/12"))
        .collect();
    assert_eq!(paths(&q), want, "q is a case-insensitive path substring");
    assert_eq!(
        logs(&api, "q=%25").await["total"],
        0,
        "% is taken literally"
    );

    let window = format!("from={}&to={}", iso(end - 100.0), iso(end - 91.0));
    let w = logs(&api, &window).await;
    assert_eq!(
        paths(&w),
        (500..510)
            .rev()
            .map(|i| format!("/req/{i}"))
            .collect::<Vec<_>>()
    );

    let combined = logs(
        &api,
        &format!("{window}&domain=a.example.com&method=GET&status=200"),
    )
    .await;
    assert_eq!(paths(&combined), ["/req/507", "/req/501"]);
    assert_eq!(logs(&api, "domain=nowhere.example.com").await["total"], 0);
}

#[tokio::test]
async fn bad_parameters_are_400s_and_strangers_401s() {
    let app = TestApp::spawn_without_proxy().await;
    let stranger = app
        .new_client()
        .get(app.url("/api/logs"))
        .send()
        .await
        .unwrap();
    expect_error(stranger, 401, "UNAUTHORIZED").await;
    let stranger = app
        .new_client()
        .get(app.url("/api/logs/status"))
        .send()
        .await
        .unwrap();
    expect_error(stranger, 401, "UNAUTHORIZED").await;
    app.sign_up_admin().await;
    for bad in [
        "page=0",
        "page=-1",
        "page=two",
        "status=abc",
        "status=1000",
        "limit=10000",
        "limit=0",
        "from=yesterday",
        "to=2025-13-01T00:00:00Z",
        "from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z",
        "method=G3T",
        "page=201",
        "page=21&limit=500",
        "status=200&status=404",
        "status=%E2%82%AC",
        "status=%C3%A9x",
        "status=x%E2%82%AC",
        "status=%E2%82%ACxx",
    ] {
        let r = app.get(&format!("/api/logs?{bad}")).await;
        let body = expect_error(r, 400, "BAD_REQUEST").await;
        println!("{bad}: {}", body["message"]);
    }
    let ok = app.get("/api/logs?page=200&limit=50&domain=&status=").await;
    assert_eq!(ok.status(), 200, "empty values mean no filter");
}

#[tokio::test]
async fn totals_past_the_window_are_lower_bounds_and_say_so() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let base = (now() - 7200.0).floor();
    let lines: Vec<String> = (0..10_050)
        .map(|i| {
            caddy_line(
                i,
                if i < 10_020 {
                    "big.example.com"
                } else {
                    "small.example.com"
                },
                "GET",
                match i {
                    0..12 => 503,
                    12..20 => 502,
                    _ => 200,
                },
                base + i as f64 / 10.0,
            )
        })
        .collect();
    append(&app.access_log, &lines);
    expect_total(&api, 10_050).await;
    let all = logs(&api, "").await;
    assert_eq!(
        (all["total"].as_i64(), all["totalExact"].as_bool()),
        (Some(10_050), Some(true))
    );
    let big = logs(&api, "domain=big.example.com").await;
    assert_eq!(
        (big["total"].as_i64(), big["totalExact"].as_bool()),
        (Some(10_000), Some(false))
    );
    let small = logs(&api, "domain=small.example.com").await;
    assert_eq!(
        (small["total"].as_i64(), small["totalExact"].as_bool()),
        (Some(30), Some(true))
    );
    // The oldest requests failed: a status class finds them past the 10,000 newest, exactly.
    let errors = logs(&api, "status=5xx&limit=500").await;
    assert_eq!(
        (errors["total"].as_i64(), errors["totalExact"].as_bool()),
        (Some(20), Some(true))
    );
    let want: Vec<String> = (0..20).rev().map(|i| format!("/req/{i}")).collect();
    assert_eq!(paths(&errors), want);
    assert_eq!(errors["logs"][0]["status"], 502);
    let ok = logs(&api, "status=2xx").await;
    assert_eq!(
        (ok["total"].as_i64(), ok["totalExact"].as_bool()),
        (Some(10_000), Some(false))
    );
    assert_eq!(logs(&api, "status=4xx").await["total"], 0);
    assert!(
        errors["searchedSince"].is_null(),
        "{}",
        errors["searchedSince"]
    );
    // method and q search the 10,000 newest of the range, and say since when.
    let gets = logs(&api, "method=GET&q=/req/1").await;
    assert_eq!(gets["totalExact"], false);
    assert_eq!(
        gets["searchedSince"],
        iso(base + 5.0),
        "the 10,000th newest, /req/50"
    );
    assert_eq!(
        gets["total"],
        (50..10_050)
            .filter(|i| format!("/req/{i}").contains("/req/1"))
            .count()
    );
    let recent = logs(&api, &format!("method=GET&from={}", iso(base + 100.0))).await;
    assert_eq!(
        (recent["total"].as_i64(), recent["totalExact"].as_bool()),
        (Some(9_050), Some(true))
    );
    assert!(
        recent["searchedSince"].is_null(),
        "the whole range was searched"
    );
    let deepest = logs(&api, "domain=big.example.com&page=20&limit=500").await;
    assert_eq!(
        deepest["logs"][499]["path"], "/req/20",
        "the 10,000th newest"
    );
}

#[tokio::test]
async fn retention_prunes_old_rows_and_keeps_the_row_budget() {
    let opts = Options {
        log_retention_days: 30,
        log_max_rows: 100,
        ..Default::default()
    };
    let app = TestApp::spawn_without_proxy_with(opts).await;
    app.sign_up_admin().await;
    let api = Api::of(&app);
    let old = now() - 40.0 * 86_400.0;
    let recent = now() - 60.0;
    let mut lines: Vec<String> = (0..20)
        .map(|i| caddy_line(i, "old.example.com", "GET", 200, old + i as f64))
        .collect();
    lines.extend(
        (20..170).map(|i| caddy_line(i, "new.example.com", "GET", 200, recent + i as f64 / 100.0)),
    );
    append(&app.access_log, &lines);
    expect_total(&api, 100).await;
    assert_eq!(
        logs(&api, "domain=old.example.com").await["total"],
        0,
        "older than 30 days"
    );
    let kept = logs(&api, "limit=100").await;
    assert_eq!(
        kept["logs"][99]["path"], "/req/70",
        "the newest 100 are kept"
    );
    // The traffic chart counts what is stored: hour buckets (a period over two hours) and
    // minute buckets alike.
    for from in [now() - 3.0 * 3600.0, now() - 1800.0] {
        let r = app
            .client
            .get(format!("{}/api/logs/stats?from={}", app.base, iso(from)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let stats: Value = r.json().await.unwrap();
        assert_eq!(stats["total"], 100, "{stats}");
        assert_eq!(stats["topDomains"][0]["count"], 100, "{stats}");
    }
}

/// A bounded fuzz run of every query-string parser of the log and changelog routes: random
/// parameters (known and not), values of random bytes, extreme numbers and timestamps. Each
/// answer is a 200 or a 400 in the error shape, and the server keeps answering.
#[tokio::test]
async fn random_query_strings_get_200_or_400() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    let routes = ["/api/logs", "/api/logs/stats", "/api/changelog"];
    let names = [
        "domain", "status", "page", "limit", "from", "to", "method", "q", "before", "x", "",
    ];
    let values = [
        "",
        "0",
        "-1",
        "1",
        "500",
        "501",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999",
        "5xx",
        "0xx",
        "€",
        "éx",
        "2xx%00",
        "1e3",
        " 7 ",
        "GET",
        "2025-01-15T10:30:00.000Z",
        "-9999-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z",
        "+999999-01-01T00:00:00Z",
        "2025-01-15T10:30:00+99:00",
        "1970-01-01T00:00:00Z",
        "%",
        "%FF%FE",
        "%C0%80",
        "a%0Ab",
        "%F0%9F%92%A9",
    ];
    let mut rng = StdRng::seed_from_u64(0xf022);
    for i in 0..600 {
        let route = routes[i % routes.len()];
        let n = rng.gen_range(0..5);
        let query: Vec<String> = (0..n)
            .map(|_| {
                let name = names[rng.gen_range(0..names.len())];
                let value = if rng.gen_bool(0.3) {
                    (0..rng.gen_range(0..12))
                        .map(|_| format!("%{:02X}", rng.gen::<u8>()))
                        .collect()
                } else {
                    values[rng.gen_range(0..values.len())].to_string()
                };
                format!("{name}={value}")
            })
            .collect();
        let url = format!("{route}?{}", query.join("&"));
        let r = app.get(&url).await;
        let status = r.status().as_u16();
        let body: serde_json::Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{url}: not JSON: {e}"));
        match status {
            200 => {}
            400 => assert_eq!(body["error"], "BAD_REQUEST", "{url}: {body}"),
            other => panic!("{url} → {other} {body}"),
        }
    }
}
