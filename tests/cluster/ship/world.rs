//! What the shipping tests run: real Caddy nodes each logging to its own file, real
//! `proxyhub logs ship` processes, a hub (a real proxyhub process), and the hub's answers.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::Client;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::support::{caddy::caddy_bin, eventually, free_port, server::Server};

/// A real Caddy answering `ok` on its own port, logging every request in its own file.
pub(super) struct Node {
    pub(super) name: &'static str,
    dir: tempfile::TempDir,
    port: u16,
    _caddy: Child,
}

impl Node {
    pub(super) async fn start(name: &'static str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("access.log");
        let config = json!({
            "admin": {"listen": format!("127.0.0.1:{}", free_port())},
            "logging": {"logs": {
                "default": {"exclude": ["http.log.access.node"]},
                "access": {
                    "writer": {"output": "file", "filename": log.display().to_string()},
                    "encoder": {"format": "json"},
                    "include": ["http.log.access.node"],
                },
            }},
            "apps": {"http": {"servers": {"srv0": {
                "listen": [format!("127.0.0.1:{port}")],
                "logs": {"default_logger_name": "node"},
                "automatic_https": {"disable": true},
                "routes": [{"handle": [{"handler": "static_response", "body": "ok"}]}],
            }}}},
        });
        let file = dir.path().join("caddy.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let caddy = Command::new(caddy_bin())
            .args(["run", "--config"])
            .arg(&file)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("caddy.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("caddy starts");
        let node = Self {
            name,
            dir,
            port,
            _caddy: caddy,
        };
        let up = eventually(Duration::from_secs(10), || async {
            Client::new().get(node.url("/up")).send().await.is_ok()
        })
        .await;
        assert!(up, "caddy did not come up: {}", node.caddy_log());
        node
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(super) fn log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    pub(super) fn caddy_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }

    /// `proxyhub logs ship` for this node's log, the token in the environment.
    pub(super) fn ship(&self, hub: &str, token: &str) -> Child {
        shipper(hub, token, self.name, &self.log(), self.dir.path())
    }
}

pub(super) fn shipper(hub: &str, token: &str, node: &str, file: &Path, dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_proxyhub"))
        .args([
            "logs",
            "ship",
            "--hub",
            hub,
            "--node",
            node,
            "--batch-lines",
            "40",
        ])
        .arg(file)
        .env("PROXYHUB_TOKEN", token)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("ship-{node}.log"))).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("the shipper starts")
}

/// A hub: proxyhub as its own process, with no proxy of its own answering, and limits high
/// enough for a test's pace.
pub(super) async fn hub(dir: &Path) -> Server {
    Server::start_with(
        dir,
        format!("http://127.0.0.1:{}", free_port()),
        &[
            ("PROXYHUB_API_RATE_LIMIT_WRITES", "100000"),
            ("PROXYHUB_API_RATE_LIMIT_READS", "100000"),
        ],
    )
    .await
}

/// A new API token of the hub's admin with `scopes`.
pub(super) async fn token(hub: &Server, scopes: &[&str]) -> String {
    let r = hub
        .client
        .post(format!("{}/api/tokens", hub.base))
        .json(&json!({"name": format!("ship {}", scopes.join(" ")), "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `GET /api/logs?<query>` on the hub, as its admin.
pub(super) async fn logs(hub: &Server, query: &str) -> Value {
    let r = hub
        .client
        .get(format!("{}/api/logs?{query}", hub.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.unwrap()
}

/// How many times each path was stored for `node`, with every entry showing `node`.
pub(super) async fn paths_of(hub: &Server, node: &str) -> BTreeMap<String, usize> {
    let body = logs(hub, &format!("node={node}&limit=500")).await;
    assert_eq!(
        body["total"],
        body["logs"].as_array().unwrap().len(),
        "one page"
    );
    let mut seen = BTreeMap::new();
    for e in body["logs"].as_array().unwrap() {
        assert_eq!(e["node"], node, "{e}");
        *seen
            .entry(e["path"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    seen
}

/// A Caddy 2.6 access-log line of a request for `host` and `path`, logged now.
pub(super) fn line(host: &str, path: &str) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!(
        r#"{{"level":"info","ts":{ts:.6},"logger":"http.log.access.node","msg":"handled request","request":{{"remote_ip":"10.0.0.1","remote_port":"5000","proto":"HTTP/1.1","method":"GET","host":"{host}","uri":"{path}","headers":{{}}}},"user_id":"","duration":0.001,"size":2,"status":200,"resp_headers":{{}}}}"#
    )
}

pub(super) fn append(file: &Path, paths: impl Iterator<Item = String>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for p in paths {
        f.write_all(format!("{}\n", line("rot.example.com", &p)).as_bytes())
            .unwrap();
    }
}

/// The hub's answer to a `POST /api/logs/ship` announcing a `length`-byte body and sending
/// only a little more than 8 MiB of it.
pub(super) async fn past_the_limit(base: &str, token: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/logs/ship HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut body = vec![b' '; (8 << 20) + 4096];
    body[0] = b'[';
    s.write_all(&body).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
        match read.expect("the hub answers before the body") {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")?
                    .parse::<usize>()
                    .ok()
            });
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
