//! The one path by which the store and the proxy change together. Changes are written in a
//! transaction that commits only if the proxy accepted the result; changes that arrive while
//! the proxy is busy with one are coalesced: written together (each in a savepoint), pushed
//! once, committed together. If the proxy refuses a coalesced push, its changes are applied
//! in halves down to the one it refuses, so each answer says what the proxy thought of that
//! change.

use std::{future::Future, pin::Pin, sync::Arc};

use serde::Serialize;
use tokio::sync::{oneshot, Mutex};

use crate::{
    db::{self, Db, Tx},
    error::ApiError,
    proxy::{Proxy, ProxyError, Site},
    timestamps,
    vhosts::store,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A change's writes: run in the change's transaction (perhaps more than once, when a
/// coalesced push fails and the change is applied alone).
pub trait Writes<T>:
    for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<T, ApiError>> + Send
{
}
impl<T, F> Writes<T> for F where
    F: for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<T, ApiError>> + Send
{
}

type Run = Box<dyn for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<(), ApiError>> + Send>;

/// A change waiting for the proxy.
struct Job {
    run: Run,
    done: oneshot::Sender<Result<(), ApiError>>,
}

pub struct Applier {
    db: Db,
    proxy: Arc<dyn Proxy>,
    /// Held while the store and the proxy are brought together (changes, drift repair).
    lock: Mutex<()>,
    /// Changes waiting, and whether a worker is taking them.
    queue: std::sync::Mutex<(Vec<Job>, bool)>,
    status: std::sync::Mutex<ProxyStatus>,
}

/// What proxyhub last learned about the proxy, for the dashboard's status indicator.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatus {
    pub proxy: &'static str,
    /// Whether the proxy answered at the last contact (`None` before the first).
    pub reachable: Option<bool>,
    /// Whether the proxy runs what the store holds, as of `checkedAt`.
    pub in_sync: Option<bool>,
    pub checked_at: Option<String>,
    pub last_apply_at: Option<String>,
    pub last_error: Option<String>,
    /// Configurations pushed since start-up (coalesced changes count once).
    pub pushes: u64,
}

/// Why a batch of changes was not applied.
enum Failure {
    /// The proxy did not take the configuration.
    Proxy(ProxyError),
    /// The store failed.
    Store(ApiError),
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Proxy(e) => e.into(),
            Failure::Store(e) => e,
        }
    }
}

/// Runs a job's writes in a savepoint: kept when they succeed, undone when they fail (the
/// job's error is the inner result; the outer one is the database's).
async fn in_savepoint(tx: &mut Tx, run: &mut Run) -> Result<Result<(), ApiError>, sqlx::Error> {
    sqlx::query("SAVEPOINT change").execute(&mut **tx).await?;
    let outcome = run(tx).await;
    if outcome.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT change")
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT change")
        .execute(&mut **tx)
        .await?;
    Ok(outcome)
}

/// Armed between a successful push and the commit: if the commit does not happen, the proxy
/// may run a config the store never got; dropping the armed guard makes the next drift check
/// re-apply the store's.
struct Uncommitted<'a> {
    proxy: &'a dyn Proxy,
    armed: bool,
}

impl Drop for Uncommitted<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.proxy.forget_applied();
        }
    }
}

impl Applier {
    pub fn new(db: Db, proxy: Arc<dyn Proxy>) -> Self {
        let status = ProxyStatus {
            proxy: proxy.kind(),
            ..Default::default()
        };
        Self {
            db,
            proxy,
            lock: Mutex::new(()),
            queue: std::sync::Mutex::new((Vec::new(), false)),
            status: std::sync::Mutex::new(status),
        }
    }

    pub fn proxy(&self) -> &dyn Proxy {
        &*self.proxy
    }

    /// Applies a change: `writes` runs in a write transaction (with other changes waiting at
    /// the same time), the proxy gets the config rendered from it, and it is committed only
    /// if the proxy took it. Returns what `writes` returned. The work goes on in a task of its
    /// own: a client that goes away does not cut a change (or others) in half.
    pub async fn change<T: Send + 'static>(
        self: &Arc<Self>,
        mut writes: impl Writes<T> + 'static,
    ) -> Result<T, ApiError> {
        let slot = Arc::new(std::sync::Mutex::new(None));
        let out = slot.clone();
        let run: Run = Box::new(move |tx| {
            let slot = slot.clone();
            let written = writes(tx);
            Box::pin(async move {
                let v = written.await?;
                *slot.lock().expect("result slot") = Some(v);
                Ok(())
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
        result
            .await
            .map_err(|_| ApiError::internal("the change was dropped"))??;
        let v = out.lock().expect("result slot").take();
        v.ok_or_else(|| ApiError::internal("the change left no result"))
    }

    /// Takes waiting changes, all of them at a time, until none are left.
    async fn work(self: Arc<Self>) {
        loop {
            // The turn first: what arrives while drift repair holds it joins this batch.
            let _turn = self.lock.lock().await;
            let jobs = {
                let mut q = self.queue.lock().expect("change queue");
                if q.0.is_empty() {
                    q.1 = false;
                    return;
                }
                std::mem::take(&mut q.0)
            };
            self.apply_batch(jobs).await;
        }
    }

    /// Writes, pushes and commits `jobs` together; when the proxy refuses them together,
    /// each half apart, down to the change it refuses.
    async fn apply_batch(&self, jobs: Vec<Job>) {
        let (written, result) = self.attempt(jobs).await;
        match result {
            Err(Failure::Proxy(ProxyError::Rejected(_))) if written.len() > 1 => {
                // Which change the proxy refuses is known only by trying them apart: in
                // halves, so one bad change among many costs a few pushes, not one each.
                let mut first = written;
                let second = first.split_off(first.len() / 2);
                Box::pin(self.apply_batch(first)).await;
                Box::pin(self.apply_batch(second)).await;
            }
            result => {
                let result = result.map_err(ApiError::from);
                for job in written {
                    let _ = job.done.send(result.clone());
                }
            }
        }
    }

    /// Applies `jobs` together, without holding the database while the proxy works:
    /// 1. a trial: their writes run in a transaction (each in a savepoint; a job whose
    ///    writes fail is answered at once and left out), the sites the proxy should then
    ///    serve are read, and the transaction is rolled back;
    /// 2. the push of those sites, with no transaction open, so access-log ingest and
    ///    session writes never wait for the proxy;
    /// 3. the writes again, committed only if nothing else changed the vhosts meanwhile (a
    ///    trigger-kept generation tells), so they give the sites the proxy took.
    ///
    /// Returns the jobs still to answer, with the outcome for them.
    async fn attempt(&self, jobs: Vec<Job>) -> (Vec<Job>, Result<(), Failure>) {
        let (mut written, sites, generation) = match self.trial(jobs).await {
            Ok(t) => t,
            Err((jobs, e)) => return (jobs, Err(Failure::Store(e))),
        };
        if written.is_empty() {
            return (written, Ok(()));
        }
        let mut guard = Uncommitted {
            proxy: &*self.proxy,
            armed: false,
        };
        let pushed = self.proxy.apply(&sites).await;
        self.record(&pushed.as_ref().copied(), false);
        if let Err(e) = pushed {
            return (written, Err(Failure::Proxy(e)));
        }
        guard.armed = true;
        let committed = self.commit(&mut written, generation).await;
        guard.armed = false;
        if let Err(e) = committed {
            // The proxy runs a config the store does not hold: put the stored one back.
            self.proxy.forget_applied();
            if let Err(restore) = self.restore().await {
                tracing::error!(error = %restore.message, "could not restore the proxy after a failed commit");
            }
            return (written, Err(Failure::Store(e)));
        }
        (written, Ok(()))
    }

    /// Runs the jobs' writes and reads the resulting sites, then rolls back. Returns the
    /// vhosts' generation before the writes too.
    async fn trial(
        &self,
        jobs: Vec<Job>,
    ) -> Result<(Vec<Job>, Vec<Site>, i64), (Vec<Job>, ApiError)> {
        let mut tx = match db::begin_write(&self.db).await {
            Ok(tx) => tx,
            Err(e) => return Err((jobs, e.into())),
        };
        let generation = match store::generation(&mut tx).await {
            Ok(g) => g,
            Err(e) => return Err((jobs, e.into())),
        };
        let mut written = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        while let Some(mut job) = jobs.next() {
            match in_savepoint(&mut tx, &mut job.run).await {
                Ok(Ok(())) => written.push(job),
                Ok(Err(e)) => {
                    let _ = job.done.send(Err(e));
                }
                Err(e) => {
                    written.push(job);
                    written.extend(jobs);
                    return Err((written, e.into()));
                }
            }
        }
        let sites = if written.is_empty() {
            Vec::new()
        } else {
            match store::enabled_sites(&mut tx).await {
                Ok(s) => s,
                Err(e) => return Err((written, e.into())),
            }
        };
        if let Err(e) = tx.rollback().await {
            return Err((written, e.into()));
        }
        Ok((written, sites, generation))
    }

    /// Runs the jobs' writes again and commits them, if the vhosts are still at `generation`
    /// (then the same writes give the same sites).
    async fn commit(&self, jobs: &mut [Job], generation: i64) -> Result<(), ApiError> {
        let mut tx = db::begin_write(&self.db).await?;
        if store::generation(&mut tx).await? != generation {
            return Err(ApiError::internal(
                "the vhosts changed outside proxyhub while the proxy took a change",
            ));
        }
        for job in jobs.iter_mut() {
            if let Err(e) = in_savepoint(&mut tx, &mut job.run).await? {
                return Err(ApiError::internal(format!(
                    "a change that was pushed failed when written again: {}",
                    e.message
                )));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Pushes what the store holds.
    async fn restore(&self) -> Result<(), ApiError> {
        let mut conn = self.db.acquire().await?;
        let committed = store::enabled_sites(&mut conn).await?;
        drop(conn);
        self.proxy.apply(&committed).await?;
        Ok(())
    }

    /// Makes the proxy run what the store holds when it runs something else; returns whether
    /// it had to.
    pub async fn repair_drift(&self) -> Result<bool, ApiError> {
        let _turn = self.lock.lock().await;
        let sites = store::enabled_sites(&mut *self.db.acquire().await?).await?;
        let result = self.proxy.repair_drift(&sites).await;
        self.record(&result.as_ref().map(|repaired| *repaired), true);
        Ok(result?)
    }

    /// The proxy's last known state.
    pub fn status(&self) -> ProxyStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Notes the outcome of a contact with the proxy. `Ok(true)` means a config was pushed.
    fn record(&self, outcome: &Result<bool, &ProxyError>, is_check: bool) {
        let now = timestamps::now();
        let mut s = self.status.lock().expect("status lock");
        match outcome {
            Ok(applied) => {
                s.reachable = Some(true);
                s.in_sync = Some(true);
                s.last_error = None;
                if *applied {
                    s.last_apply_at = Some(now.clone());
                    s.pushes += 1;
                }
            }
            Err(e) => {
                s.reachable = Some(!matches!(e, ProxyError::Unreachable(_)));
                if is_check {
                    s.in_sync = Some(false);
                }
                s.last_error = Some(e.to_string());
            }
        }
        if is_check {
            s.checked_at = Some(now);
        }
    }
}
