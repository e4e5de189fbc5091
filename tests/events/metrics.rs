//! `GET /metrics`: the series move with real traffic through a real Caddy and with vhost
//! changes, the exposition passes Prometheus's own `promtool`, and only those allowed read it.

use std::{collections::BTreeMap, io::Write, process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    expect_error, free_port, require_binary, CaddyProcess, Options, TestApp, Upstream,
};

/// One sample: its name, labels and value.
type Sample = (String, BTreeMap<String, String>, f64);

/// The exposition's samples (a small reader of the text format: names, labels, values).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels end with }");
                    let labels = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            (name, labels, value.parse().expect("a number"))
        })
        .collect()
}

/// The value of the series `name` with (at least) these labels; `None` when there is none.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

async fn scrape(app: &TestApp) -> String {
    let r = app
        .new_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

/// Scrapes until `check` holds on the exposition, or fails with the last one.
async fn until(app: &TestApp, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let last = scrape(app).await;
        if check(&last) {
            return last;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}; the last scrape:\n{last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `promtool check metrics`: Prometheus's own parser and linter.
fn promtool_accepts(text: &str) {
    let promtool = require_binary(
        "promtool",
        "apt-get install prometheus (Debian's package ships /usr/bin/promtool)",
    );
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn traffic_through_caddy_and_vhost_changes_move_the_series() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("backend").await;
    app.create_vhost(json!({"domain": "a.example.com", "upstream": up.hostport()}))
        .await;
    let b = app
        .create_vhost(json!({"domain": "b.example.com", "config": "respond \"gone\" 404"}))
        .await;
    for path in ["/1", "/2", "/3"] {
        assert_eq!(app.through_proxy("a.example.com", path).await.0, 200);
    }
    assert_eq!(app.through_proxy("b.example.com", "/x").await.0, 404);
    for host in ["unknown-1.example.net", "unknown-2.example.net"] {
        app.through_proxy(host, "/").await;
    }

    let a_2xx = [("vhost", "a.example.com"), ("class", "2xx")];
    let b_4xx = [("vhost", "b.example.com"), ("class", "4xx")];
    let text = until(&app, "the six requests counted", |t| {
        value(t, "proxyhub_proxy_requests_total", &a_2xx) == Some(3.0)
            && value(t, "proxyhub_proxy_requests_total", &b_4xx) == Some(1.0)
            && samples(t)
                .iter()
                .filter(|s| s.0 == "proxyhub_proxy_requests_total" && s.1["vhost"] == "other")
                .map(|s| s.2)
                .sum::<f64>()
                == 2.0
    })
    .await;
    assert!(
        !text.contains("unknown-1.example.net"),
        "a host no vhost has gets no series of its own"
    );
    assert!(
        value(&text, "proxyhub_access_log_lines_ingested_total", &[]) >= Some(6.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "proxyhub_access_log_lines_skipped_total", &[]),
        Some(0.0)
    );
    assert_eq!(value(&text, "proxyhub_proxy_up", &[]), Some(1.0));
    assert!(value(&text, "proxyhub_proxy_pushes_total", &[]) >= Some(2.0));
    assert!(value(&text, "proxyhub_proxy_push_duration_seconds_count", &[]) >= Some(2.0));
    assert_eq!(
        value(&text, "proxyhub_vhosts", &[("state", "enabled")]),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "proxyhub_vhosts", &[("state", "disabled")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            "proxyhub_http_requests_total",
            &[
                ("route", "/api/vhosts"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(2.0)
    );
    until(&app, "the whole log read", |t| {
        value(t, "proxyhub_access_log_lag_bytes", &[]) == Some(0.0)
    })
    .await;
    assert!(text.contains("# TYPE proxyhub_webhook_deliveries_total counter"));
    promtool_accepts(&text);

    // A vhost turned off: the gauges and the pushes move; the API counts the route's
    // template, never the path asked for.
    let pushes = value(&text, "proxyhub_proxy_pushes_total", &[]).unwrap();
    let toggled = app.patch(&format!("/api/vhosts/{}/toggle", b["id"])).await;
    assert_eq!(toggled.status(), StatusCode::OK);
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "proxyhub_vhosts", &[("state", "enabled")]),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "proxyhub_vhosts", &[("state", "disabled")]),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "proxyhub_proxy_pushes_total", &[]),
        Some(pushes + 1.0)
    );
    let route = [
        ("route", "/api/vhosts/{id}/toggle"),
        ("method", "PATCH"),
        ("status", "200"),
    ];
    assert_eq!(
        value(&text, "proxyhub_http_requests_total", &route),
        Some(1.0)
    );
    assert!(
        value(
            &text,
            "proxyhub_http_request_duration_seconds_count",
            &route[..2]
        ) >= Some(1.0)
    );
    let raw = format!("/api/vhosts/{}/toggle", b["id"]);
    assert!(!text.contains(&raw), "no raw path as a label:\n{text}");
    promtool_accepts(&text);
}

#[tokio::test]
async fn proxy_up_drops_to_zero_and_failed_pushes_count_when_the_proxy_is_down() {
    let mut caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    until(&app, "the proxy up", |t| {
        value(t, "proxyhub_proxy_up", &[]) == Some(1.0)
    })
    .await;
    caddy.kill().await;
    until(&app, "the proxy down", |t| {
        value(t, "proxyhub_proxy_up", &[]) == Some(0.0)
    })
    .await;
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "c.example.com", "config": "respond \"hi\""}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let text = scrape(&app).await;
    assert!(
        value(
            &text,
            "proxyhub_apply_failures_total",
            &[("reason", "unreachable")]
        ) >= Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "proxyhub_http_requests_total",
            &[
                ("route", "/api/vhosts"),
                ("method", "POST"),
                ("status", "502")
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn with_a_token_metrics_need_it_as_a_bearer_token() {
    let app = TestApp::spawn_without_proxy_with(Options {
        metrics_token: Some("s3cret-metrics-token".into()),
        ..Options::default()
    })
    .await;
    let get = |auth: Option<&'static str>| {
        let mut r = app.new_client().get(app.url("/metrics"));
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    let body = expect_error(get(None).await.unwrap(), 401, "UNAUTHORIZED").await;
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    expect_error(
        get(Some("Bearer s3cret-metrics-tokeX")).await.unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;
    expect_error(
        get(Some("Basic s3cret-metrics-token")).await.unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;
    let r = get(Some("Bearer s3cret-metrics-token")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("# TYPE proxyhub_proxy_up gauge"));
}

#[tokio::test]
async fn on_a_public_address_without_a_token_metrics_are_off_and_say_how_to_turn_them_on() {
    let app = TestApp::spawn_without_proxy_with(Options {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Options::default()
    })
    .await;
    let r = app
        .new_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 404, "NOT_FOUND").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("PROXYHUB_METRICS_TOKEN") && message.contains("PROXYHUB_METRICS_LISTEN"),
        "{body}"
    );
}

/// On loopback, but reached through a proxy (proxyhub published through the Caddy it
/// manages): the request came from anywhere, so metrics stay off without a token.
#[tokio::test]
async fn a_request_forwarded_by_a_proxy_is_not_a_local_one() {
    let app = TestApp::spawn_without_proxy().await;
    let r = app
        .new_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "open on loopback");
    for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
        let r = app
            .new_client()
            .get(app.url("/metrics"))
            .header(header, "for=203.0.113.9")
            .send()
            .await
            .unwrap();
        expect_error(r, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn a_metrics_address_of_its_own_serves_them_open_and_nothing_else() {
    let port = free_port();
    let app = TestApp::spawn_without_proxy_with(Options {
        listen: "0.0.0.0:0".parse().unwrap(),
        metrics_listen: Some(format!("127.0.0.1:{port}").parse().unwrap()),
        ..Options::default()
    })
    .await;
    let base = app.metrics_base.clone().expect("a metrics address");
    let client = app.new_client();
    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE proxyhub_vhosts gauge"), "{text}");
    promtool_accepts(&text);
    let r = client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    let r = client.get(app.url("/metrics")).send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
}
