//! proxyhub as its own process (the real binary), to be killed with SIGKILL and restarted.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::Client;
use serde_json::json;

use super::{database_url, free_port};

pub struct Server {
    pub log: PathBuf,
    database_url: String,
    port: u16,
    caddy_admin: String,
    env: Vec<(String, String)>,
    pub base: String,
    /// Signed in as the admin.
    pub client: Client,
    child: Option<Child>,
}

impl Server {
    /// Starts `proxyhub serve` on a database and access log in `dir`, with no proxy answering,
    /// and signs up an admin.
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(dir, format!("http://127.0.0.1:{}", free_port()), &[]).await
    }

    /// Starts `proxyhub serve` against the Caddy admin API `caddy_admin`, with more
    /// `PROXYHUB_*` settings, and signs up an admin.
    pub async fn start_with(dir: &Path, caddy_admin: String, env: &[(&str, &str)]) -> Self {
        let s = Self::replica(dir, database_url(dir).await, caddy_admin, env).await;
        let r = s
            .client
            .post(format!("{}/api/auth/sign-up/email", s.base))
            .json(&json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        s
    }

    /// Starts `proxyhub serve` on the store `database_url` (another proxyhub may serve it
    /// too), with its access log in `dir`; signs nobody up.
    pub async fn replica(
        dir: &Path,
        database_url: String,
        caddy_admin: String,
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let mut s = Self {
            log: dir.join("access.log"),
            database_url,
            port,
            caddy_admin,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            base: format!("http://127.0.0.1:{port}"),
            client: Client::builder().cookie_store(true).build().unwrap(),
            child: None,
        };
        s.boot().await;
        s
    }

    /// Starts the process and waits until it answers.
    pub async fn boot(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_proxyhub"))
            .arg("serve")
            .env("PROXYHUB_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("PROXYHUB_DATABASE_URL", &self.database_url)
            .env("PROXYHUB_ACCESS_LOG", &self.log)
            .env("PROXYHUB_CADDY_ADMIN", &self.caddy_admin)
            .env("PROXYHUB_AUTH_RATE_LIMIT", "1000")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("proxyhub starts");
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(r) = self
                .client
                .get(format!("{}/api/health", self.base))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("proxyhub did not come up");
    }

    /// SIGKILL: no shutdown, no flush, whatever it was doing.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
