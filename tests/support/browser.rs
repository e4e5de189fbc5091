//! A real headless Chromium, driven through chromedriver (Debian's `chromium` and
//! `chromium-driver` packages).

use std::{process::Stdio, time::Duration};

use fantoccini::{
    actions::{InputSource, KeyAction, KeyActions},
    elements::Element,
    key::Key,
    Client, ClientBuilder, Locator,
};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::{free_port, require_binary};

pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        require_binary("chromium", "apt-get install -y chromium chromium-driver");
        require_binary("chromedriver", "apt-get install -y chromium-driver");
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let mut last_err = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: driver,
                        _profile: profile,
                    }
                }
                Err(e) => last_err = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a Chromium session through chromedriver: {last_err}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits (up to 15 s) for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Waits (up to 15 s) until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..150 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if last.contains(needle) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css:?} never contained {needle:?}; last text: {last:?}");
    }

    /// Waits (up to 15 s) for the page's path and query to be `want`.
    pub async fn wait_path(&self, want: &str) {
        let mut last = String::new();
        for _ in 0..150 {
            let url = self.client.current_url().await.unwrap();
            last = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the browser is at {last:?}, not {want:?}");
    }

    /// Saves a PNG of the current page.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Presses a chord on the keyboard, on whatever has the focus, as a person would: the keys
    /// go down in order and up in reverse (`[Key::Shift, Key::Tab]` is Shift+Tab).
    pub async fn press(&self, chord: &[Key]) {
        let mut keys = KeyActions::new("keyboard".to_string());
        for &k in chord {
            keys = keys.then(KeyAction::Down { value: k.into() });
        }
        for &k in chord.iter().rev() {
            keys = keys.then(KeyAction::Up { value: k.into() });
        }
        self.client.perform_actions(keys).await.unwrap();
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver (its
    /// `goog/cdp/execute` endpoint) and returns the command's result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let sent = CdpCommand {
            cmd: cmd.to_string(),
            params,
        };
        self.client
            .issue_cmd(sent)
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Makes the page match `prefers-color-scheme: dark` (or light), as a system in that
    /// scheme would; it holds across navigations until changed.
    pub async fn prefer_dark(&self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `url::ParseError`, named through reqwest, which re-exports `url::Url` but not its error.
type UrlParseError = <reqwest::Url as std::str::FromStr>::Err;

/// A DevTools command for chromedriver's `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct CdpCommand {
    cmd: String,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for CdpCommand {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, UrlParseError> {
        let session = session_id.expect("a CDP command needs a session");
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}
