//! The one path by which the store and the proxy change together. A change's writes are
//! committed only if the proxy accepted the configuration they lead to; changes that arrive
//! while the proxy is busy are coalesced: written together (each in a savepoint), pushed once,
//! committed together (`batch.rs`). If the proxy refuses a coalesced push, its changes are
//! applied in halves down to the one it refuses, so each answer says what the proxy thought of
//! that change. What the proxy last said is kept for `/api/status` (`status.rs`). Replicas on
//! one PostgreSQL take turns (`cluster::Serializer`): a batch is tried, pushed and committed
//! within one replica's turn, from what is committed when the turn begins.

mod batch;
mod status;

use std::{future::Future, pin::Pin, sync::Arc};

use sqlx::AnyConnection;
use tokio::sync::{oneshot, Mutex};

use crate::{
    cluster::{Serializer, Turn},
    db::{Db, Tx},
    metrics::Metrics,
    proxy::{NodeReport, NodeSpec, Proxy, ProxyError, Site},
};
pub use status::ProxyStatus;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the proxy should serve, as the store holds it (the vhosts, for proxyhub): read by
/// the applier inside its transactions.
pub trait DesiredState: Send + Sync + 'static {
    /// The sites the proxy should serve.
    fn sites<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<Site>, sqlx::Error>>;
    /// A number every change to what [`Self::sites`] reads moves, whoever writes.
    fn generation<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<i64, sqlx::Error>>;
    /// The active nodes the proxy runs on (a fleet of Caddy nodes), with what was last
    /// loaded onto each.
    fn nodes<'c>(
        &'c self,
        _conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<NodeSpec>, sqlx::Error>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Keeps what a push or drift check did to the nodes.
    fn record_nodes<'c>(
        &'c self,
        _conn: &'c mut AnyConnection,
        _reports: Vec<NodeReport>,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// A change's writes: run in the change's transaction, perhaps more than once (a trial, the
/// commit, and again alone when a coalesced push fails). An `Err` refuses the change.
pub trait Writes<T, E>: for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send {}
impl<T, E, F> Writes<T, E> for F where
    F: for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send
{
}

/// Why a change was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    /// Its own writes refused it.
    #[error("{0}")]
    Refused(E),
    /// The proxy did not take the configuration.
    #[error(transparent)]
    Proxy(ProxyError),
    /// The store failed (logged in full where it happened).
    #[error("the store failed: {0}")]
    Store(String),
}

/// Why drift could not be checked or repaired.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// How a job ended, for the applier (the job's own value or refusal waits in its slot).
#[derive(Clone, Debug)]
enum Outcome {
    Refused,
    Proxy(ProxyError),
    Store(String),
}

/// A job's writes with their result moved into the job's slot.
type Run = Box<dyn for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<(), ()>> + Send>;

/// A change waiting for the proxy.
struct Job {
    run: Run,
    done: oneshot::Sender<Result<(), Outcome>>,
}

pub struct Applier {
    db: Db,
    proxy: Arc<dyn Proxy>,
    desired: Arc<dyn DesiredState>,
    /// Held while the store and the proxy are brought together (changes, drift repair).
    lock: Mutex<()>,
    /// The same turn across replicas (taken after `lock`).
    serializer: Serializer,
    /// Changes waiting, and whether a worker is taking them.
    queue: std::sync::Mutex<(Vec<Job>, bool)>,
    status: std::sync::Mutex<ProxyStatus>,
    metrics: Arc<Metrics>,
    /// The proxy's events, stored one after the other in the order they happened.
    noted: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<status::Noted>>,
    /// Notified after each push the proxy took (the certificate checks follow pushes).
    pushed: Arc<tokio::sync::Notify>,
}

impl Applier {
    pub fn new(
        db: Db,
        proxy: Arc<dyn Proxy>,
        desired: Arc<dyn DesiredState>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let status = ProxyStatus {
            proxy: proxy.kind(),
            ..Default::default()
        };
        Self {
            serializer: Serializer::new(&db),
            db,
            proxy,
            desired,
            lock: Mutex::new(()),
            queue: std::sync::Mutex::new((Vec::new(), false)),
            status: std::sync::Mutex::new(status),
            metrics,
            noted: std::sync::OnceLock::new(),
            pushed: Arc::default(),
        }
    }

    /// Notified (one permit kept) whenever the proxy took a pushed configuration.
    pub fn pushed(&self) -> Arc<tokio::sync::Notify> {
        self.pushed.clone()
    }

    pub fn proxy(&self) -> &dyn Proxy {
        &*self.proxy
    }

    /// The sites the proxy should serve, as committed now.
    pub async fn committed_sites(&self) -> Result<Vec<Site>, sqlx::Error> {
        self.desired.sites(&mut *self.db.acquire().await?).await
    }

    /// Has the proxy check a site before a change is queued ([`Proxy::prepare`]); a site
    /// the proxy refuses, or a proxy that does not answer, counts as an apply failure
    /// (proxyhub's own refusals, `Invalid`, are the client's mistakes, not the proxy's).
    pub async fn prepare(&self, site: &Site) -> Result<(), ProxyError> {
        let prepared = self.proxy.prepare(site).await;
        if let Err(e @ (ProxyError::Rejected(_) | ProxyError::Unreachable(_))) = &prepared {
            self.metrics.apply_failure(status::reason(e));
        }
        prepared
    }

    /// Applies a change: `writes` runs in a write transaction (with other changes waiting at
    /// the same time), the proxy gets the config it leads to, and it is committed only if the
    /// proxy took it. Returns what `writes` returned. The work goes on in a task of its own: a
    /// client that goes away does not cut a change (or others) in half.
    pub async fn change<T, E>(
        self: &Arc<Self>,
        mut writes: impl Writes<T, E> + 'static,
    ) -> Result<T, ChangeError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let slot = Arc::new(std::sync::Mutex::new(None::<Result<T, E>>));
        let out = slot.clone();
        let run: Run = Box::new(move |tx| {
            let slot = slot.clone();
            let written = writes(tx);
            Box::pin(async move {
                let result = written.await;
                let ok = result.is_ok();
                *slot.lock().expect("result slot") = Some(result);
                if ok {
                    Ok(())
                } else {
                    Err(())
                }
            })
        });
        let (done, result) = oneshot::channel();
        let start_worker = {
            let mut q = self.queue.lock().expect("change queue");
            q.0.push(Job { run, done });
            !std::mem::replace(&mut q.1, true)
        };
        if start_worker {
            let this = self.clone();
            tokio::spawn(async move { this.work().await });
        }
        let outcome = result
            .await
            .unwrap_or_else(|_| Err(Outcome::Store("the change was dropped".into())));
        let written = out.lock().expect("result slot").take();
        match (outcome, written) {
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(Outcome::Refused), Some(Err(e))) => Err(ChangeError::Refused(e)),
            (Err(Outcome::Proxy(e)), _) => Err(ChangeError::Proxy(e)),
            (Err(Outcome::Store(e)), _) => Err(ChangeError::Store(e)),
            _ => Err(ChangeError::Store("the change left no result".into())),
        }
    }

    /// Takes waiting changes, all of them at a time, until none are left.
    async fn work(self: Arc<Self>) {
        loop {
            // The turn first: what arrives while drift repair or another replica holds it
            // joins this batch.
            let _turn = self.lock.lock().await;
            {
                let mut q = self.queue.lock().expect("change queue");
                if q.0.is_empty() {
                    q.1 = false;
                    return;
                }
            }
            // Only this worker takes jobs: they are still there, with what came meanwhile.
            let shared = self.shared_turn().await;
            let jobs = std::mem::take(&mut self.queue.lock().expect("change queue").0);
            match shared {
                Ok(turn) => {
                    self.apply_batch(jobs).await;
                    turn.release().await;
                }
                Err(e) => {
                    let outcome =
                        batch::store_failed("could not take the turn to change the proxy", &e);
                    for job in jobs {
                        let _ = job.done.send(Err(outcome.clone()));
                    }
                }
            }
        }
    }

    /// This replica's turn among the replicas sharing the store. What each node runs is
    /// read from the store (`DesiredState::nodes`) within the turn, so another replica's
    /// push is never taken for drift, nor missed.
    async fn shared_turn(&self) -> Result<Turn<'_>, sqlx::Error> {
        self.serializer.turn().await
    }

    /// Makes the proxy run what the store holds when it runs something else; returns what
    /// it repaired, if it had to.
    pub async fn repair_drift(&self) -> Result<Option<String>, DriftError> {
        let _turn = self.lock.lock().await;
        let shared = self.shared_turn().await?;
        let read = async {
            let mut conn = self.db.acquire().await?;
            let sites = self.desired.sites(&mut conn).await?;
            let nodes = self.desired.nodes(&mut conn).await?;
            Ok::<_, sqlx::Error>((sites, nodes))
        };
        let sites = match read.await {
            Ok((sites, nodes)) => {
                self.proxy.set_nodes(nodes);
                sites
            }
            Err(e) => {
                shared.release().await;
                return Err(e.into());
            }
        };
        let started = std::time::Instant::now();
        let result = self.proxy.repair_drift(&sites).await;
        self.keep_node_reports().await;
        shared.release().await;
        match &result {
            Ok(Some(_)) => {
                self.metrics.push(started.elapsed(), true);
                self.metrics.drift_repaired();
            }
            // A refused re-apply was a push; an unreachable proxy shows in `proxy_up`.
            Err(e @ (ProxyError::Rejected(_) | ProxyError::Invalid(_))) => {
                self.metrics.push(started.elapsed(), false);
                self.metrics.apply_failure(status::reason(e));
            }
            _ => {}
        }
        let note = result.as_ref().ok().cloned().flatten();
        self.record_noting(&result.as_ref().map(Option::is_some), true, note);
        Ok(result?)
    }

    /// Stores what the proxy's last pushes and checks did to its nodes (logged when the
    /// store fails: the next drift check finds the truth again).
    async fn keep_node_reports(&self) {
        let reports = self.proxy.node_reports();
        if reports.is_empty() {
            return;
        }
        let kept = async {
            let mut conn = self.db.acquire().await?;
            self.desired.record_nodes(&mut conn, reports).await
        };
        if let Err(e) = kept.await {
            tracing::error!(error = %e, "what the push did to the nodes could not be stored");
        }
    }
}
