//! A webhook receiver, as a team would write one: it checks the signature and refuses stale
//! timestamps (replays), keeps what it got, and can be told to fail (500) or be taken down
//! and brought back on the same port.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One delivery as the receiver took it.
#[derive(Clone, Debug)]
pub struct Got {
    pub event: String,
    pub delivery: String,
    pub body: Value,
    /// The signature matched and the timestamp was fresh.
    pub verified: bool,
    /// What the receiver answered.
    pub answered: u16,
}

pub struct Receiver {
    pub port: u16,
    secret: String,
    pub got: Arc<Mutex<Vec<Got>>>,
    answer: Arc<AtomicU16>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The check a receiver makes: HMAC-SHA256 of `"<timestamp>.<body>"` with the secret, and a
/// timestamp within five minutes.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (
        headers
            .get("x-proxyhub-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-proxyhub-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Ok(sent) = ts.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - sent).abs() > 300 {
        return false;
    }
    let Some(hex) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let Ok(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

impl Receiver {
    pub async fn start(secret: &str) -> Self {
        let mut r = Self {
            port: crate::support::free_port(),
            secret: secret.to_string(),
            got: Arc::default(),
            answer: Arc::new(AtomicU16::new(200)),
            server: None,
        };
        r.up().await;
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Answer `status` from now on.
    pub fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// Brings the receiver (back) up on its port.
    pub async fn up(&mut self) {
        let (got, answer, secret) = (self.got.clone(), self.answer.clone(), self.secret.clone());
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (got, answer, secret) = (got.clone(), answer.clone(), secret.clone());
                async move {
                    let status = answer.load(Ordering::SeqCst);
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    got.lock().unwrap().push(Got {
                        event: header("x-proxyhub-event"),
                        delivery: header("x-proxyhub-delivery"),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        verified: verify(&secret, &headers, &body),
                        answered: status,
                    });
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let listener = listener.expect("the receiver binds its port");
        self.server = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    /// Takes the receiver down: connections are refused until [`up`](Self::up).
    pub async fn down(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
            let _ = s.await;
        }
    }

    /// What was taken (answered 2xx), in order.
    pub fn taken(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| (200..300).contains(&g.answered))
            .cloned()
            .collect()
    }

    /// Waits up to `secs` for `n` deliveries taken.
    pub async fn wait_taken(&self, n: usize, secs: u64) -> Vec<Got> {
        for _ in 0..secs * 10 {
            let t = self.taken();
            if t.len() >= n {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let all = self.got.lock().unwrap().clone();
        panic!("{n} deliveries were not taken within {secs} s; got: {all:#?}");
    }
}
