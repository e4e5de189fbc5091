//! The live stream: `GET /api/events` as Server-Sent Events while changes and traffic
//! happen, resumed with `Last-Event-ID` with no gap, a live tail of the access log through a
//! real Caddy, and who may see what.

use std::time::Duration;

use reqwest::{header, Client};
use serde_json::{json, Value};

use crate::support::{expect_error, CaddyProcess, TestApp, Upstream};

/// An SSE client: reads `event`/`id`/`data` messages off a response, as a browser does.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug, Clone)]
struct Message {
    event: String,
    id: Option<String>,
    data: Value,
}

impl Stream {
    async fn open(client: &Client, url: &str, last_id: Option<&str>) -> Stream {
        let mut req = client.get(url).header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments skipped), within `secs`.
    async fn next(&mut self, secs: u64) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                return Some(Message {
                    event,
                    id,
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                });
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Whether the server ends the stream within `secs` (messages before the end are read
    /// and dropped).
    async fn ended(&mut self, secs: u64) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Messages until one of `event` arrives (within `secs`), that one last.
    async fn until(&mut self, event: &str, secs: u64) -> Vec<Message> {
        let mut seen = Vec::new();
        while let Some(m) = self.next(secs).await {
            let done = m.event == event;
            seen.push(m);
            if done {
                return seen;
            }
        }
        panic!("no {event} within {secs} s; got {seen:#?}");
    }
}

#[tokio::test]
async fn changes_stream_live_and_a_reconnect_misses_nothing() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let mut s = Stream::open(&app.client, &app.url("/api/events"), None).await;
    let v = app
        .create_vhost(json!({"domain": "live.example.com", "upstream": "127.0.0.1:9001"}))
        .await;
    let got = s.until("vhost.created", 10).await;
    let created = got.last().unwrap();
    assert_eq!(created.data["data"]["domain"], "live.example.com");
    assert_eq!(created.data["event"], "vhost.created");
    let last_id = created.id.clone().expect("an id to resume from");
    drop(s);

    // Disconnected: two changes happen. Reconnecting from the last id gets both, in order.
    let id = v["id"].as_i64().unwrap();
    assert_eq!(
        app.patch(&format!("/api/vhosts/{id}/toggle"))
            .await
            .status(),
        200
    );
    assert_eq!(app.delete(&format!("/api/vhosts/{id}")).await.status(), 200);
    let mut s = Stream::open(&app.client, &app.url("/api/events"), Some(&last_id)).await;
    let a = s.next(10).await.expect("the first missed event");
    let b = s.next(10).await.expect("the second missed event");
    assert_eq!(
        (a.event.as_str(), b.event.as_str()),
        ("vhost.toggled", "vhost.deleted")
    );
    assert!(a.id.unwrap().parse::<i64>().unwrap() < b.id.clone().unwrap().parse::<i64>().unwrap());
    // ... and then live ones, without repeating.
    app.create_vhost(json!({"domain": "next.example.com", "upstream": "127.0.0.1:9001"}))
        .await;
    let c = s.next(10).await.expect("a live event after the replay");
    assert_eq!(c.event, "vhost.created");
    assert_eq!(c.data["data"]["domain"], "next.example.com");

    // A viewer sees vhost events but not account events; a token needs a read scope.
    let viewer = app.client_with_role("vera@example.com", "viewer").await;
    let mut vs = Stream::open(&viewer, &app.url("/api/events"), Some("0")).await;
    let seen = vs.until("vhost.created", 10).await;
    assert!(
        seen.iter().all(|m| !m.event.starts_with("user.")),
        "{seen:#?}"
    );
    let r = app
        .new_client()
        .get(app.url("/api/events"))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;
    // A token revoked while its stream is open: the stream ends (within 15 s).
    let t: Value = app
        .post(
            "/api/tokens",
            json!({"name": "watcher", "scopes": ["read:vhosts"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let watcher = Client::builder()
        .default_headers(
            [(
                header::AUTHORIZATION,
                format!("Bearer {}", t["token"].as_str().unwrap())
                    .parse()
                    .unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let mut ws = Stream::open(&watcher, &app.url("/api/events"), None).await;
    let tid = t["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/tokens/{tid}")).await.status(),
        200
    );
    assert!(ws.ended(25).await, "a revoked token's stream is closed");

    let r = app
        .client
        .get(app.url("/api/events"))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
}

#[tokio::test]
async fn the_log_tail_shows_requests_through_caddy_as_they_happen() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let up = Upstream::start("tail-upstream").await;
    app.create_vhost(
        json!({"domain": "tail.example.com", "config": "respond /fine 200\nrespond 404"}),
    )
    .await;
    app.create_vhost(json!({"domain": "other.example.com", "upstream": up.hostport()}))
        .await;
    let mut s = Stream::open(
        &app.client,
        &app.url("/api/events?logs=1&domain=tail.example.com&status=4xx"),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    for (host, path) in [
        ("other.example.com", "/missing-elsewhere"),
        ("tail.example.com", "/fine"),
        ("tail.example.com", "/live-tail-404"),
    ] {
        let _ = app.through_proxy(host, path).await;
    }
    let got = s.until("log", 15).await;
    let log = got.last().unwrap();
    assert_eq!(log.data["domain"], "tail.example.com", "{log:?}");
    assert_eq!(log.data["path"], "/live-tail-404");
    assert_eq!(log.data["status"], 404);
    assert!(
        log.id.is_none(),
        "log lines resume from now, they carry no id"
    );
    // Only what matches: nothing else arrives.
    let more = s.next(2).await;
    assert!(more.as_ref().is_none_or(|m| m.event != "log"), "{more:?}");
    let r = app
        .client
        .get(app.url("/api/events?logs=1&status=6xx"))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
}
