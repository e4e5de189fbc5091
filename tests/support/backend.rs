//! One real proxy, Caddy or nginx, with proxyhub driving it: what the shared proxy suite
//! (`tests/proxies/`) runs each of its tests against, and the few things that differ between
//! the two proxies (how a snippet answers, what each refuses and says, what a host nobody
//! serves looks like, how an operator edits or restarts it, what its running configuration is).

use std::{collections::BTreeMap, fmt};

use serde_json::Value;

use super::{CaddyProcess, NginxProcess, TestApp};

/// Which proxy a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Caddy,
    Nginx,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Caddy => "Caddy",
            Kind::Nginx => "nginx",
        })
    }
}

/// The real proxy itself.
pub enum Proxy {
    Caddy(CaddyProcess),
    Nginx(NginxProcess),
}

/// What the proxy runs, read from the proxy: Caddy's running JSON config (from its admin API),
/// or nginx's conf dir (file name → bytes). Two snapshots are equal only when the proxy runs
/// the same configuration, byte for byte for nginx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Running {
    Caddy(Value),
    Nginx(BTreeMap<String, Vec<u8>>),
}

impl Running {
    /// Whether `text` (a domain, say) appears anywhere in the configuration.
    pub fn mentions(&self, text: &str) -> bool {
        match self {
            Running::Caddy(config) => config.to_string().contains(text),
            Running::Nginx(files) => files.iter().any(|(name, bytes)| {
                name.contains(text) || String::from_utf8_lossy(bytes).contains(text)
            }),
        }
    }
}

/// A started real proxy and proxyhub (with its admin signed up) driving it.
pub struct Backend {
    pub kind: Kind,
    pub app: TestApp,
    proxy: Proxy,
}

impl Backend {
    /// Starts the proxy of `kind` on free ports, proxyhub against it, and signs up the admin
    /// (Ada Admin, ada@example.com, "correct horse") with `app`'s client.
    pub async fn start(kind: Kind) -> Self {
        let (proxy, app) = match kind {
            Kind::Caddy => {
                let caddy = CaddyProcess::start().await;
                let app = TestApp::spawn(&caddy).await;
                (Proxy::Caddy(caddy), app)
            }
            Kind::Nginx => {
                let nginx = NginxProcess::start().await;
                let app = TestApp::spawn_nginx(&nginx).await;
                (Proxy::Nginx(nginx), app)
            }
        };
        app.sign_up_admin().await;
        Self { kind, app, proxy }
    }

    pub fn caddy(&self) -> Option<&CaddyProcess> {
        match &self.proxy {
            Proxy::Caddy(c) => Some(c),
            Proxy::Nginx(_) => None,
        }
    }

    pub fn nginx(&self) -> Option<&NginxProcess> {
        match &self.proxy {
            Proxy::Nginx(n) => Some(n),
            Proxy::Caddy(_) => None,
        }
    }

    /// The port the proxy serves sites on.
    pub fn http_port(&self) -> u16 {
        match &self.proxy {
            Proxy::Caddy(c) => c.http_port,
            Proxy::Nginx(n) => n.http_port,
        }
    }

    /// A snippet that answers every request with `body` and a 200.
    pub fn respond(&self, body: &str) -> String {
        match self.kind {
            Kind::Caddy => format!("respond \"{body}\" 200"),
            Kind::Nginx => format!("location / {{\n    return 200 \"{body}\";\n}}"),
        }
    }

    /// A snippet that passes proxyhub's own checks but that the proxy refuses, and words of
    /// the proxy's message about it.
    pub fn refused_snippet(&self) -> (&'static str, &'static str) {
        match self.kind {
            Kind::Caddy => (
                "reverse_prox 127.0.0.1:1",
                "unrecognized directive: reverse_prox",
            ),
            Kind::Nginx => ("proxy_buffering maybe;", "invalid value \"maybe\""),
        }
    }

    /// Another snippet the proxy refuses, for another reason, and words of its message.
    pub fn refused_edit(&self) -> (&'static str, &'static str) {
        match self.kind {
            Kind::Caddy => ("respond 200 200 200 200", "Caddyfile"),
            Kind::Nginx => (
                "location / {\n    return 200;\n}\nlocation / {\n    return 201;\n}",
                "duplicate location",
            ),
        }
    }

    /// Whether an answer `through_proxy` got is that of a host the proxy does not serve:
    /// Caddy answers a host no route matches with an empty 200, and nothing listens when no
    /// site is enabled at all; the tests' nginx main config has a `default_server` answering
    /// 404.
    pub fn is_unserved(&self, status: u16, body: &str) -> bool {
        match self.kind {
            Kind::Caddy => status == 0 || (status == 200 && body.is_empty()),
            Kind::Nginx => status == 404,
        }
    }

    /// Asks the proxy for `host` until the answer satisfies `want` or 5 s pass, and returns
    /// the last answer (nginx applies a reload moments after it is signalled).
    pub async fn served(
        &self,
        host: &str,
        path: &str,
        want: impl Fn(u16, &str) -> bool,
    ) -> (u16, String) {
        super::served(&self.app, host, path, want).await
    }

    /// Waits (5 s at most) until the proxy does not serve `host`, and asserts it.
    pub async fn assert_unserved(&self, host: &str) {
        let (status, body) = self.served(host, "/", |s, b| self.is_unserved(s, b)).await;
        assert!(
            self.is_unserved(status, &body),
            "{} serves {host}: {status} {body:?}",
            self.kind
        );
    }

    /// The configuration the proxy runs now.
    pub async fn running(&self) -> Running {
        match &self.proxy {
            Proxy::Caddy(c) => Running::Caddy(c.running_config().await),
            Proxy::Nginx(n) => Running::Nginx(n.files()),
        }
    }

    /// What an operator might do by hand: makes the proxy serve `says` (a 200) for `host`
    /// instead of what proxyhub configured. Caddy is sent a whole new config through its admin
    /// API (`POST /load`); nginx gets proxyhub's file for `host` overwritten and
    /// `nginx -s reload`.
    pub async fn hand_edit(&self, host: &str, says: &str) {
        match &self.proxy {
            Proxy::Caddy(caddy) => {
                let r = reqwest::Client::new()
                    .post(format!("{}/load", caddy.admin_url()))
                    .header("content-type", "text/caddyfile")
                    .body(format!(
                        "{{\n\tadmin 127.0.0.1:{}\n\tauto_https off\n}}\nhttp://{host}:{} {{\n\trespond \"{says}\" 200\n}}\n",
                        caddy.admin_port, caddy.http_port
                    ))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{:?}", r.text().await);
            }
            Proxy::Nginx(nginx) => {
                let file = nginx.conf_dir().join(site_file(host));
                assert!(file.exists(), "proxyhub wrote no {}", file.display());
                std::fs::write(
                    file,
                    format!(
                        "server {{\n    listen {};\n    server_name {host};\n    return 200 \"{says}\";\n}}\n",
                        nginx.http_port
                    ),
                )
                .unwrap();
                nginx.reload();
            }
        }
    }

    /// Stops the proxy: Caddy is killed, nginx (master and workers) stopped.
    pub async fn kill(&mut self) {
        match &mut self.proxy {
            Proxy::Caddy(c) => c.kill().await,
            Proxy::Nginx(n) => n.stop().await,
        }
    }

    /// Starts the proxy again after [`Self::kill`]: Caddy from its bootstrap config (nothing
    /// but its admin endpoint), nginx from its main config (and the files in its conf dir).
    pub async fn boot(&mut self) {
        match &mut self.proxy {
            Proxy::Caddy(c) => c.boot().await,
            Proxy::Nginx(n) => n.boot().await,
        }
    }

    /// A full restart: Caddy comes back without the config it ran; nginx is stopped and
    /// started again.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.boot().await;
    }

    /// A request to the proxy for `host`, as [`TestApp::through_proxy`].
    pub async fn through_proxy(&self, host: &str, path: &str) -> (u16, String) {
        self.app.through_proxy(host, path).await
    }

    /// proxyhub's `/api/status`: `pushes` (configurations pushed, repairs included),
    /// `inSync`, `reachable`.
    pub async fn status(&self) -> Value {
        self.app.get("/api/status").await.json().await.unwrap()
    }

    /// What the proxy logged, for failure messages.
    pub fn log(&self) -> String {
        match &self.proxy {
            Proxy::Caddy(c) => c.log(),
            Proxy::Nginx(n) => n.log(),
        }
    }
}

/// The name of proxyhub's nginx file for the site `domain` (a wildcard's `*` is written `_`).
pub fn site_file(domain: &str) -> String {
    format!("proxyhub-site-{}.conf", domain.replace('*', "_"))
}
