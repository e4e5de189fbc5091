use serde_json::{json, Value};

use crate::support::{eventually, served, NginxProcess, TestApp, Upstream};

/// The fields of the JSON format proxyhub defines for nginx, which the tailer parses.
const FIELDS: [&str; 11] = [
    "proxy",
    "msec",
    "host",
    "method",
    "uri",
    "status",
    "request_time",
    "remote_addr",
    "bytes_sent",
    "protocol",
    "user_agent",
];

#[tokio::test]
async fn nginx_writes_one_shared_json_access_log() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let up = Upstream::start("a").await;
    app.create_vhost(json!({"domain": "a.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "b.example.com", "config": "return 404;"}))
        .await;
    served(&app, "a.example.com", "/one?x=1", |s, _| s == 200).await;
    served(&app, "b.example.com", "/two", |s, _| s == 404).await;
    let odd_agent = "curl \"quoted\" \\ back\tslash";
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/three", nginx.http_port))
        .header("Host", "a.example.com")
        .header("User-Agent", odd_agent)
        .send()
        .await
        .unwrap();

    let written = eventually(std::time::Duration::from_secs(5), || async {
        std::fs::read_to_string(&app.access_log)
            .map(|s| s.contains("/three"))
            .unwrap_or(false)
    })
    .await;
    assert!(
        written,
        "no access log at {}; nginx's log:\n{}",
        app.access_log.display(),
        nginx.log()
    );
    let lines: Vec<Value> = std::fs::read_to_string(&app.access_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), FIELDS.len(), "{l}");
        assert!(FIELDS.iter().all(|f| keys.contains(f)), "{l}");
        assert_eq!(l["proxy"], "nginx");
        assert_eq!(l["remote_addr"], "127.0.0.1");
        assert_eq!(l["protocol"], "HTTP/1.1");
        assert!(l["msec"].as_f64().is_some_and(|t| t > 1.6e9), "{l}");
        assert!(l["request_time"].as_f64().is_some(), "{l}");
        assert!(l["bytes_sent"].as_u64().is_some(), "{l}");
    }
    let seen: Vec<(&str, &str, &str, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["host"].as_str().unwrap(),
                l["method"].as_str().unwrap(),
                l["uri"].as_str().unwrap(),
                l["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("a.example.com", "GET", "/one?x=1", 200)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("b.example.com", "GET", "/two", 404)),
        "{seen:?}"
    );
    let three = lines.iter().find(|l| l["uri"] == "/three").unwrap();
    assert_eq!(
        three["user_agent"], odd_agent,
        "escape=json keeps every line JSON"
    );
}
