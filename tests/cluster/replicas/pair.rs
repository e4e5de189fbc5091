//! Two proxyhub replicas (the real binary, each its own process) on one real PostgreSQL
//! database, driving one real Caddy, with an upstream behind it.

use std::time::Duration;

use reqwest::{header, Client, Response};
use serde_json::{json, Value};

use crate::support::{postgres, server::Server, CaddyProcess, Upstream};

pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "correct horse";

pub struct Pair {
    pub caddy: CaddyProcess,
    pub upstream: Upstream,
    pub a: Server,
    pub b: Server,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// Replica `a` starts first and signs the admin up; `b` signs in. `env`: settings of both.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = postgres::database_url(&dir.path().join("store")).await;
        let caddy = CaddyProcess::start().await;
        let http_port = caddy.http_port.to_string();
        let mut all = vec![
            ("PROXYHUB_TLS", "off"),
            ("PROXYHUB_HTTP_PORT", http_port.as_str()),
            ("PROXYHUB_RECONCILE_INTERVAL", "1"),
        ];
        all.extend_from_slice(env);
        let (da, db) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&da, &db] {
            std::fs::create_dir_all(d).unwrap();
        }
        let replica = |d| Server::replica(d, url.clone(), caddy.admin_url(), &all);
        let a = replica(&da).await;
        let r = a
            .client
            .post(format!("{}/api/auth/sign-up/email", a.base))
            .json(&json!({"name": "Ada", "email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the admin signs up on replica a");
        let b = replica(&db).await;
        let r = sign_in(&b.client, &b.base).await;
        assert_eq!(r.status(), 200, "the admin signs in on replica b");
        Self {
            caddy,
            upstream: Upstream::start("app").await,
            a,
            b,
            _dir: dir,
        }
    }

    pub fn vhost(&self, domain: &str) -> Value {
        json!({"domain": domain, "upstream": self.upstream.hostport()})
    }

    /// What Caddy answers for `host`: `(status, body)`, `(0, error)` when nothing listens.
    pub async fn through_caddy(&self, host: &str) -> (u16, String) {
        let sent = Client::new()
            .get(format!("http://127.0.0.1:{}/", self.caddy.http_port))
            .header(header::HOST, host)
            .send()
            .await;
        match sent {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    /// Whether Caddy sends `host` to the upstream.
    pub async fn serves(&self, host: &str) -> bool {
        let (status, body) = self.through_caddy(host).await;
        status == 200 && body.starts_with("app ")
    }
}

pub async fn sign_in(client: &Client, base: &str) -> Response {
    client
        .post(format!("{base}/api/auth/sign-in/email"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// `POST` with the replica's own Origin (state-changing requests need it).
pub async fn post(s: &Server, path: &str, body: Value) -> Result<Response, reqwest::Error> {
    s.client
        .post(format!("{}{path}", s.base))
        .header(header::ORIGIN, &s.base)
        .json(&body)
        .send()
        .await
}

pub async fn get_json(s: &Server, path: &str) -> Value {
    let r = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// The stored vhosts' domains as a replica lists them, sorted.
pub async fn domains(s: &Server) -> Vec<String> {
    let list = get_json(s, "/api/vhosts").await;
    let mut d: Vec<String> = list
        .as_array()
        .expect("a list of vhosts")
        .iter()
        .map(|v| v["domain"].as_str().unwrap().to_string())
        .collect();
    d.sort();
    d
}

/// Whether a replica holds the lease of `work` (`reconciler`, `webhooks`), per `/api/status`.
pub async fn leads(s: &Server, work: &str) -> Option<bool> {
    let r = s
        .client
        .get(format!("{}/api/status", s.base))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    v[work]["leader"].as_bool()
}

/// Waits until exactly one replica leads `work`; `true` when it is `a`.
pub async fn leader_is_a(pair: &Pair, work: &str) -> bool {
    for _ in 0..150 {
        match (leads(&pair.a, work).await, leads(&pair.b, work).await) {
            (Some(true), Some(false)) => return true,
            (Some(false), Some(true)) => return false,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("no single replica leads the {work} within 15 s");
}
