//! A batch of changes: tried, pushed, committed; when the proxy refuses it, bisected.

use super::{Applier, Job, Outcome, Run};
use crate::{
    db::{self, Tx},
    proxy::{Proxy, ProxyError, Site},
};

/// Runs a job's writes in a savepoint: kept when they succeed, undone when they fail (the
/// inner result is the job's; the outer one the database's).
async fn in_savepoint(tx: &mut Tx, run: &mut Run) -> Result<Result<(), ()>, sqlx::Error> {
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

/// A store failure, logged in full; the changes it stopped are told it happened.
pub(super) fn store_failed(what: &str, e: &dyn std::fmt::Display) -> Outcome {
    tracing::error!(error = %e, "{what}");
    Outcome::Store(format!("{what}: {e}"))
}

/// Armed between a successful push and the commit: if the commit does not happen, the proxy
/// may run a config the store never got; dropping the armed guard makes the next drift check
/// push the store's.
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
    /// Writes, pushes and commits `jobs` together; when the proxy refuses them together,
    /// each half apart, down to the change it refuses.
    pub(super) async fn apply_batch(&self, jobs: Vec<Job>) {
        let (written, result) = self.attempt(jobs).await;
        match result {
            Err(Outcome::Proxy(ProxyError::Rejected(_))) if written.len() > 1 => {
                // Which change the proxy refuses is known only by trying them apart: in
                // halves, so one bad change among many costs a few pushes, not one each.
                let mut first = written;
                let second = first.split_off(first.len() / 2);
                Box::pin(self.apply_batch(first)).await;
                Box::pin(self.apply_batch(second)).await;
            }
            result => {
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
    /// 3. the writes again, committed only if nothing else changed the desired state
    ///    meanwhile (its generation tells), so they give the sites the proxy took.
    ///
    /// Returns the jobs still to answer, with the outcome for them.
    async fn attempt(&self, jobs: Vec<Job>) -> (Vec<Job>, Result<(), Outcome>) {
        let (mut written, sites, generation) = match self.trial(jobs).await {
            Ok(t) => t,
            Err((jobs, e)) => return (jobs, Err(e)),
        };
        if written.is_empty() {
            return (written, Ok(()));
        }
        let mut guard = Uncommitted {
            proxy: &*self.proxy,
            armed: false,
        };
        let started = std::time::Instant::now();
        let pushed = self.proxy.apply(&sites).await;
        match &pushed {
            Ok(true) => self.metrics.push(started.elapsed(), true),
            Ok(false) => {}
            Err(e) => {
                self.metrics.push(started.elapsed(), false);
                self.metrics.apply_failure(super::status::reason(e));
            }
        }
        self.record(&pushed.as_ref().copied(), false);
        if let Err(e) = pushed {
            self.keep_node_reports().await;
            return (written, Err(Outcome::Proxy(e)));
        }
        guard.armed = true;
        let committed = self.commit(&mut written, generation).await;
        guard.armed = false;
        // After the commit: a node the change adds is in the store only now.
        self.keep_node_reports().await;
        if let Err(e) = committed {
            self.metrics
                .apply_failure(crate::metrics::FailureReason::Other);
            // The proxy runs a config the store does not hold: put the stored one back.
            self.proxy.forget_applied();
            if let Err(restore) = self.restore().await {
                tracing::error!(error = %restore, "could not restore the proxy after a failed commit");
            }
            return (written, Err(e));
        }
        (written, Ok(()))
    }

    /// Runs the jobs' writes and reads the resulting sites, then rolls back. Returns the
    /// desired state's generation before the writes too.
    #[allow(clippy::type_complexity)]
    async fn trial(
        &self,
        jobs: Vec<Job>,
    ) -> Result<(Vec<Job>, Vec<Site>, i64), (Vec<Job>, Outcome)> {
        let failed = |e: sqlx::Error| store_failed("a change's trial failed", &e);
        let mut tx = match db::begin_write(&self.db).await {
            Ok(tx) => tx,
            Err(e) => return Err((jobs, failed(e))),
        };
        let generation = match self.desired.generation(&mut tx).await {
            Ok(g) => g,
            Err(e) => return Err((jobs, failed(e))),
        };
        let mut written = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        while let Some(mut job) = jobs.next() {
            match in_savepoint(&mut tx, &mut job.run).await {
                Ok(Ok(())) => written.push(job),
                Ok(Err(())) => {
                    let _ = job.done.send(Err(Outcome::Refused));
                }
                Err(e) => {
                    written.push(job);
                    written.extend(jobs);
                    return Err((written, failed(e)));
                }
            }
        }
        let sites = if written.is_empty() {
            Vec::new()
        } else {
            match self.desired.sites(&mut tx).await {
                Ok(s) => s,
                Err(e) => return Err((written, failed(e))),
            }
        };
        if !written.is_empty() {
            // A change may add, remove or bring back a node: the push goes to the nodes it
            // leads to.
            match self.desired.nodes(&mut tx).await {
                Ok(nodes) => self.proxy.set_nodes(nodes),
                Err(e) => return Err((written, failed(e))),
            }
        }
        if let Err(e) = tx.rollback().await {
            return Err((written, failed(e)));
        }
        Ok((written, sites, generation))
    }

    /// Runs the jobs' writes again and commits them, if the desired state is still at
    /// `generation` (then the same writes give the same sites).
    async fn commit(&self, jobs: &mut [Job], generation: i64) -> Result<(), Outcome> {
        let failed =
            |e: &dyn std::fmt::Display| store_failed("a pushed change could not be committed", e);
        let mut tx = db::begin_write(&self.db).await.map_err(|e| failed(&e))?;
        let now = self
            .desired
            .generation(&mut tx)
            .await
            .map_err(|e| failed(&e))?;
        if now != generation {
            return Err(failed(
                &"the vhosts changed outside proxyhub while the proxy took a change",
            ));
        }
        for job in jobs.iter_mut() {
            let written = in_savepoint(&mut tx, &mut job.run)
                .await
                .map_err(|e| failed(&e))?;
            if written.is_err() {
                return Err(failed(
                    &"a change that was pushed was refused when written again",
                ));
            }
        }
        tx.commit().await.map_err(|e| failed(&e))
    }

    /// Pushes what the store holds.
    async fn restore(&self) -> Result<(), String> {
        let mut conn = self.db.acquire().await.map_err(|e| e.to_string())?;
        let committed = self
            .desired
            .sites(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let nodes = self
            .desired
            .nodes(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        drop(conn);
        self.proxy.set_nodes(nodes);
        let restored = self.proxy.apply(&committed).await;
        self.keep_node_reports().await;
        restored.map(drop).map_err(|e| e.to_string())
    }
}
