//! The background workers (drift repair, log tailing, retention, session expiry, certificate
//! checks, upstream probes), started and watched in one place. A worker is an `async fn` that
//! runs until told to stop and returns a `Result`. When it returns early, with an error or
//! without, or panics, the cause is logged, it starts again after a backoff (1 s, doubling to a
//! minute; back to 1 s once it has run a minute), and its state shows in `GET /api/status`.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::{sync::watch, task::JoinHandle};

use crate::timestamps;

pub mod background;

pub type WorkerFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A worker's state, as `/api/status` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    pub name: &'static str,
    /// `running`, `restarting` (waiting out its backoff) or `stopped` (at shutdown).
    pub state: &'static str,
    /// Restarts since start-up.
    pub restarts: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// The workers' registry and supervisor.
pub struct Workers {
    status: Mutex<Vec<WorkerStatus>>,
    first_backoff: Duration,
}

impl Default for Workers {
    fn default() -> Self {
        Self::with_backoff(Duration::from_secs(1))
    }
}

impl Workers {
    /// A supervisor whose first backoff is `first` (doubling to 60 times that).
    pub fn with_backoff(first: Duration) -> Self {
        Self {
            status: Mutex::new(Vec::new()),
            first_backoff: first,
        }
    }

    pub fn status(&self) -> Vec<WorkerStatus> {
        self.status.lock().expect("workers").clone()
    }

    fn set(&self, name: &str, change: impl FnOnce(&mut WorkerStatus)) {
        let mut all = self.status.lock().expect("workers");
        if let Some(w) = all.iter_mut().find(|w| w.name == name) {
            change(w);
        }
    }

    /// Runs `make(stop)` as the worker `name` until `stop` turns true, starting it again
    /// whenever it ends before that.
    pub fn spawn(
        self: &Arc<Self>,
        name: &'static str,
        stop: watch::Receiver<bool>,
        make: impl Fn(watch::Receiver<bool>) -> WorkerFuture + Send + 'static,
    ) -> JoinHandle<()> {
        self.start(name, stop, Where::Runtime, make)
    }

    /// As [`spawn`](Self::spawn), the work running on the [background] thread, at a lower
    /// priority than requests (it is supervised from the runtime as any worker).
    pub fn spawn_background(
        self: &Arc<Self>,
        name: &'static str,
        stop: watch::Receiver<bool>,
        make: impl Fn(watch::Receiver<bool>) -> WorkerFuture + Send + 'static,
    ) -> JoinHandle<()> {
        self.start(name, stop, Where::Background, make)
    }

    fn start(
        self: &Arc<Self>,
        name: &'static str,
        stop: watch::Receiver<bool>,
        place: Where,
        make: impl Fn(watch::Receiver<bool>) -> WorkerFuture + Send + 'static,
    ) -> JoinHandle<()> {
        self.status.lock().expect("workers").push(WorkerStatus {
            name,
            state: "running",
            restarts: 0,
            last_error: None,
            last_error_at: None,
        });
        let this = self.clone();
        tokio::spawn(async move { this.supervise(name, stop, place, make).await })
    }

    async fn supervise(
        &self,
        name: &'static str,
        mut stop: watch::Receiver<bool>,
        place: Where,
        make: impl Fn(watch::Receiver<bool>) -> WorkerFuture,
    ) {
        let mut backoff = self.first_backoff;
        loop {
            self.set(name, |w| w.state = "running");
            let started = Instant::now();
            let ended = match place {
                Where::Runtime => tokio::spawn(make(stop.clone())).await,
                Where::Background => background::spawn(make(stop.clone())).await,
            };
            if *stop.borrow() {
                self.set(name, |w| w.state = "stopped");
                return;
            }
            let cause = match ended {
                Ok(Ok(())) => "it returned before it was told to stop".to_string(),
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) if e.is_panic() => format!("it panicked: {}", panic_message(e.into_panic())),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > self.first_backoff * 60 {
                backoff = self.first_backoff;
            }
            tracing::error!(worker = name, cause = %cause, retry_in = ?backoff, "a background worker stopped; starting it again");
            self.set(name, |w| {
                w.state = "restarting";
                w.restarts += 1;
                w.last_error = Some(cause);
                w.last_error_at = Some(timestamps::now());
            });
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => {
                    self.set(name, |w| w.state = "stopped");
                    return;
                }
            }
            backoff = (backoff * 2).min(self.first_backoff * 60);
        }
    }
}

/// Where a worker's future runs.
#[derive(Clone, Copy)]
enum Where {
    Runtime,
    Background,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Waits until `stop` turns true (or its sender is gone).
    async fn stopped(stop: &mut watch::Receiver<bool>) {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_worker_that_fails_or_panics_is_restarted_and_says_why() {
        let workers = Arc::new(Workers::with_backoff(Duration::from_millis(10)));
        let (stop_tx, stop) = watch::channel(false);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let handle = workers.spawn("flaky", stop, move |mut stop| {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match run {
                    0 => anyhow::bail!("the disk is gone"),
                    1 => panic!("index out of bounds"),
                    _ => {
                        stopped(&mut stop).await;
                        Ok(())
                    }
                }
            })
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while runs.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s = &workers.status()[0];
        assert_eq!((s.name, s.state, s.restarts), ("flaky", "running", 2));
        assert!(
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("panicked: index out of bounds")),
            "{s:?}"
        );
        stop_tx.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(workers.status()[0].state, "stopped");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
