//! What the integration tests run against: a real Caddy or nginx, real upstreams, and proxyhub
//! itself, each on free loopback ports.
#![allow(dead_code)]

pub mod axe;
pub mod backend;
pub mod browser;
pub mod caddy;
pub mod nginx;
pub mod oidc;
pub mod postgres;
pub mod rotation;
pub mod server;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use proxyhub::{
    app::Application,
    config::{ClientIp, Config, ProxyKind, TlsMode},
};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub use caddy::CaddyProcess;
pub use nginx::NginxProcess;

/// A port nobody listens on right now, for a server a test starts. It is taken below the
/// ephemeral range (where the OS picks the local ports of outgoing connections, which the
/// tests open by the thousand: one could take a port between here and the server's bind),
/// spread by process so test binaries running at once do not walk the same ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768)
        .clamp(12000, 65000);
    let span = low - 10000;
    let start = std::process::id().wrapping_mul(7919) % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (10000 + (start + n * 13) % span) as u16;
        let free = |host: &str| std::net::TcpListener::bind((host, port)).is_ok();
        if free("0.0.0.0") && free("127.0.0.1") {
            return port;
        }
    }
}

/// Fails loudly when a binary the tests need is not installed (nginx lives in /usr/sbin,
/// which a non-root PATH may lack).
pub fn require_binary(name: &str, install_hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed; these tests need the real one: {install_hint}")
        })
}

/// The store for a test whose files live in `dir`: `dir/proxyhub.db` (SQLite), or with
/// `PROXYHUB_TEST_BACKEND=postgres` a database of its own on a real PostgreSQL.
pub async fn database_url(dir: &Path) -> String {
    if postgres::enabled() {
        postgres::database_url(dir).await
    } else {
        format!("sqlite://{}", dir.join("proxyhub.db").display())
    }
}

/// A real HTTP upstream that answers every request with `name path host=...` (and the
/// `X-Env` and `X-Secret` request headers when sent), with an `X-Upstream: name` header.
pub struct Upstream {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Self {
        use axum::{extract::Request, Router};
        let app = Router::new().fallback(move |req: Request| async move {
            let host = req
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let mut body = format!("{name} {} host={host}", req.uri());
            for h in ["x-env", "x-secret"] {
                if let Some(v) = req.headers().get(h).and_then(|v| v.to_str().ok()) {
                    body.push_str(&format!(" {h}={v}"));
                }
            }
            ([("x-upstream", name)], body)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            stop: Some(tx),
        }
    }

    pub fn hostport(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Settings a test may change before proxyhub starts.
pub struct Options {
    pub allow_signup: bool,
    pub auth_rate_limit: u32,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub public_url: Option<String>,
    pub caddy_admin: Option<String>,
    pub log_retention_days: u32,
    pub log_max_rows: u64,
    /// API requests a minute per caller (reads, writes); tests that are not about the limit
    /// make many requests quickly, so the defaults here are high.
    pub api_rate_limit: (u32, u32),
    pub require_2fa: bool,
    /// Single sign-on (off by default).
    pub oidc: proxyhub::config::OidcConfig,
    /// Webhooks may reach loopback receivers (the tests' own).
    pub webhook_allow_private: bool,
    /// `PROXYHUB_LISTEN` (a free loopback port by default).
    pub listen: SocketAddr,
    /// `PROXYHUB_LOG_CLIENT_IP` (`full` by default).
    pub log_client_ip: ClientIp,
    /// `PROXYHUB_METRICS_TOKEN` (none by default).
    pub metrics_token: Option<String>,
    /// `PROXYHUB_METRICS_LISTEN` (none by default).
    pub metrics_listen: Option<SocketAddr>,
    /// `PROXYHUB_TLS` (`off` by default) and `PROXYHUB_HTTPS_PORT`.
    pub tls: TlsMode,
    pub https_port: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_signup: false,
            auth_rate_limit: 1000,
            trusted_proxies: Vec::new(),
            public_url: None,
            caddy_admin: None,
            log_retention_days: 30,
            log_max_rows: 10_000_000,
            api_rate_limit: (100_000, 100_000),
            require_2fa: false,
            oidc: Default::default(),
            webhook_allow_private: true,
            listen: "127.0.0.1:0".parse().unwrap(),
            log_client_ip: ClientIp::Full,
            metrics_token: None,
            metrics_listen: None,
            tls: TlsMode::Off,
            https_port: None,
        }
    }
}

/// proxyhub running in this process against `caddy`, with a cookie-keeping client.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub http_port: u16,
    pub dir: tempfile::TempDir,
    pub access_log: PathBuf,
    pub database_url: String,
    /// `http://127.0.0.1:<port>` of `PROXYHUB_METRICS_LISTEN`, when set.
    pub metrics_base: Option<String>,
    /// What the app's handlers reach (its pools among them).
    pub state: proxyhub::http::AppState,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(caddy: &CaddyProcess) -> Self {
        Self::spawn_with(caddy, Options::default()).await
    }

    pub async fn spawn_with(caddy: &CaddyProcess, opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let admin = opts
            .caddy_admin
            .clone()
            .unwrap_or_else(|| caddy.admin_url());
        let db = database_url(dir.path()).await;
        let config = Self::config(&dir, db, admin, caddy.http_port, opts);
        Self::start(dir, config).await
    }

    /// proxyhub with no proxy answering (a state it supports: reads work, changes are 502s),
    /// for tests that never touch the proxy.
    pub async fn spawn_without_proxy() -> Self {
        Self::spawn_without_proxy_with(Options::default()).await
    }

    /// proxyhub with no proxy answering, on a store of the test's choosing (in `dir`).
    pub async fn spawn_without_proxy_on(dir: tempfile::TempDir, database_url: String) -> Self {
        let nobody = format!("http://127.0.0.1:{}", free_port());
        let config = Self::config(&dir, database_url, nobody, free_port(), Options::default());
        Self::start(dir, config).await
    }

    pub async fn spawn_without_proxy_with(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nobody = format!("http://127.0.0.1:{}", free_port());
        let db = database_url(dir.path()).await;
        let config = Self::config(&dir, db, nobody, free_port(), opts);
        Self::start(dir, config).await
    }

    /// proxyhub driving `nginx` instead of Caddy.
    pub async fn spawn_nginx(nginx: &NginxProcess) -> Self {
        Self::spawn_nginx_with(nginx, None, None).await
    }

    /// proxyhub driving `nginx`, with `PROXYHUB_NGINX_LISTEN` and `PROXYHUB_NGINX_RESOLVER`.
    pub async fn spawn_nginx_with(
        nginx: &NginxProcess,
        listen: Option<String>,
        resolver: Option<String>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let unused = "http://127.0.0.1:1".to_string();
        let db = database_url(dir.path()).await;
        let mut config = Self::config(&dir, db, unused, nginx.http_port, Options::default());
        config.proxy = ProxyKind::Nginx;
        config.nginx_conf_dir = nginx.conf_dir();
        config.nginx_conf = nginx.main_conf();
        config.nginx_bin = nginx.bin.clone();
        config.nginx_listen = listen;
        config.nginx_resolver = resolver;
        Self::start(dir, config).await
    }

    fn config(
        dir: &tempfile::TempDir,
        database_url: String,
        caddy_admin: String,
        http_port: u16,
        opts: Options,
    ) -> Config {
        Config {
            listen: opts.listen,
            database_url,
            proxy: ProxyKind::Caddy,
            caddy_admin,
            caddy_admin_listen: None,
            nginx_conf_dir: dir.path().join("nginx"),
            nginx_conf: "/etc/nginx/nginx.conf".into(),
            nginx_listen: None,
            nginx_resolver: None,
            nginx_bin: "nginx".into(),
            access_log: dir.path().join("access.log"),
            tls: opts.tls,
            http_port: Some(http_port),
            https_port: opts.https_port,
            public_url: opts.public_url,
            allow_signup: opts.allow_signup,
            auth_rate_limit: opts.auth_rate_limit,
            api_rate_limit_reads: opts.api_rate_limit.0,
            api_rate_limit_writes: opts.api_rate_limit.1,
            trusted_proxies: opts.trusted_proxies,
            session_max_days: 30,
            require_2fa: opts.require_2fa,
            reconcile_interval: 1,
            log_retention_days: opts.log_retention_days,
            log_max_rows: opts.log_max_rows,
            log_retention_interval: 1,
            log_client_ip: opts.log_client_ip,
            metrics_token: opts.metrics_token,
            metrics_listen: opts.metrics_listen,
            oidc: opts.oidc,
            webhook_allow_private: opts.webhook_allow_private,
        }
    }

    async fn start(dir: tempfile::TempDir, config: Config) -> Self {
        let access_log = config.access_log.clone();
        let database_url = config.database_url.clone();
        let http_port = config.http_port.unwrap_or(80);
        let app = Application::build(config).await.expect("proxyhub starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics_base = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = rx.await;
            })
            .await
            .expect("proxyhub runs");
        });
        Self {
            base,
            client: new_client(),
            http_port,
            dir,
            access_log,
            database_url,
            metrics_base,
            state,
            stop: Some(tx),
            done: Some(done),
        }
    }

    /// A second connection pool on this app's own database, for tests that set up or inspect
    /// state the API does not expose.
    pub async fn db(&self) -> proxyhub::db::Db {
        proxyhub::db::connect(&self.database_url)
            .await
            .expect("the app's database opens")
    }

    /// A second client with its own (empty) cookie jar.
    pub fn new_client(&self) -> Client {
        new_client()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.client
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str) -> Response {
        self.client.patch(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// Signs up the first account (the admin) with this app's client.
    pub async fn sign_up_admin(&self) -> Value {
        let r = self
            .post("/api/auth/sign-up/email", json!({"name": "Ada Admin", "email": "ada@example.com", "password": "correct horse"}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// A client of its own, signed in to an account the admin (this app's client) creates.
    pub async fn client_with_role(&self, email: &str, role: &str) -> Client {
        let password = "role password";
        let r = self
            .post(
                "/api/users",
                json!({"name": role, "email": email, "password": password, "role": role}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "creating the {role}");
        let client = new_client();
        let r = client
            .post(self.url("/api/auth/sign-in/email"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the {role} signs in");
        client
    }

    /// Creates a vhost and expects it to be accepted.
    pub async fn create_vhost(&self, body: Value) -> Value {
        let r = self.post("/api/vhosts", body.clone()).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "creating {body}: {v}");
        v
    }

    /// What the API shows of the store (the vhosts and the changelog), to tell after a refused
    /// change that nothing was stored or logged.
    pub async fn stored(&self) -> Stored {
        Stored {
            vhosts: self.get("/api/vhosts").await.json().await.unwrap(),
            changelog: self.get("/api/changelog").await.json().await.unwrap(),
        }
    }

    /// Asserts the store is as `before`: nothing stored, nothing logged.
    pub async fn assert_unchanged(&self, before: &Stored) {
        let now = self.stored().await;
        assert_eq!(now.vhosts, before.vhosts, "nothing stored");
        assert_eq!(now.changelog, before.changelog, "nothing logged");
    }

    /// A request through the proxy for `host`: `(status, body)`, or `(0, error)` when
    /// nothing listens (a proxy with no enabled site has no listener).
    pub async fn through_proxy(&self, host: &str, path: &str) -> (u16, String) {
        let sent = new_client()
            .get(format!("http://127.0.0.1:{}{path}", self.http_port))
            .header("Host", host)
            .send()
            .await;
        match sent {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The vhosts and the changelog as the API shows them.
pub struct Stored {
    pub vhosts: Value,
    pub changelog: Value,
}

/// Asserts the JSON error shape and returns the body.
pub async fn expect_error(r: Response, status: u16, code: &str) -> Value {
    let got = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Asks the proxy for `host` until the answer satisfies `want` or 5 s pass, and returns the
/// last answer: nginx applies a reload moments after it is signalled, not before.
pub async fn served(
    app: &TestApp,
    host: &str,
    path: &str,
    want: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = app.through_proxy(host, path).await;
        if want(got.0, &got.1) || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Retries `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
