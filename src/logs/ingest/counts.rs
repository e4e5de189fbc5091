//! What the ingest tells the metrics, once per committed batch (never per line: the ingest
//! runs at hundreds of thousands of lines a second): lines stored and skipped, and requests
//! per vhost and status class. A request counts under its vhost of the store (a wildcard
//! vhost's for its subdomains), any other host under `other`, so the series are as many as
//! the vhosts. The vhosts' names are read again only when their generation moved.

use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet};

use crate::{
    db::Db,
    logs::store::write::Tally,
    metrics::{Metrics, OTHER_VHOST},
    vhosts,
};

pub struct Counting {
    metrics: Arc<Metrics>,
    /// The vhosts' generation and their domains, as last read.
    vhosts: Option<(i64, HashSet<String>)>,
}

impl Counting {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            vhosts: None,
        }
    }

    /// Bytes of the followed log not read yet.
    pub fn lag(&self, bytes: u64) {
        self.metrics.ingest_lag(bytes);
    }

    /// A batch was committed: `stored` requests (tallied in `tallies`), `skipped` lines.
    pub async fn committed(&mut self, db: &Db, tallies: &[Tally<'_>], stored: u64, skipped: u64) {
        self.metrics.lines(stored, skipped);
        if tallies.is_empty() {
            return;
        }
        if let Err(e) = self.refresh(db).await {
            // Counted with the names known before; read again at the next batch.
            tracing::warn!(error = %e, "metrics: cannot read the vhosts' names");
        }
        let mut by_vhost: HashMap<&str, [u64; 6]> = HashMap::new();
        for t in tallies {
            let sum = by_vhost.entry(self.vhost_of(t.domain)).or_default();
            for (s, n) in sum.iter_mut().zip(t.by_class) {
                *s += n;
            }
        }
        for (vhost, by_class) in by_vhost {
            self.metrics.requests(vhost, &by_class);
        }
    }

    async fn refresh(&mut self, db: &Db) -> Result<(), sqlx::Error> {
        let mut conn = db.acquire().await?;
        // The generation first: names read after it are at least that new.
        let generation = vhosts::store::generation(&mut conn).await?;
        if self.vhosts.as_ref().is_some_and(|v| v.0 == generation) {
            return Ok(());
        }
        let names = vhosts::store::domains(&mut conn).await?;
        self.vhosts = Some((generation, names.into_iter().collect()));
        Ok(())
    }

    /// The `vhost` label of a request's host.
    fn vhost_of<'s>(&'s self, host: &'s str) -> &'s str {
        let Some((_, names)) = &self.vhosts else {
            return OTHER_VHOST;
        };
        if let Some(name) = names.get(host) {
            return name;
        }
        host.split_once('.')
            .and_then(|(_, parent)| names.get(format!("*.{parent}").as_str()))
            .map_or(OTHER_VHOST, String::as_str)
    }
}
