//! Composing the application: the store, the proxy backend, the applier, the HTTP layer's
//! state and router, the listener, and the background workers.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};

use crate::{
    accounts::{ratelimit::RateLimiter, sessions, AuthCache},
    apply::Applier,
    certs, cluster,
    config::{Config, ProxyKind},
    db,
    health::{self, Health},
    http::{self, AppState},
    logs::{
        self,
        ingest::{addresses::Addresses, batch::Intake, counts::Counting},
    },
    metrics::Metrics,
    proxy::{caddy::Caddy, nginx::Nginx, Proxy},
    reconcile, vhosts,
    workers::Workers,
};

/// The proxy backend the configuration names.
pub fn proxy_for(config: &Config) -> anyhow::Result<Arc<dyn Proxy>> {
    match config.proxy {
        ProxyKind::Caddy => Ok(Arc::new(Caddy::new(config).map_err(anyhow::Error::msg)?)),
        ProxyKind::Nginx => Ok(Arc::new(Nginx::new(config).map_err(anyhow::Error::msg)?)),
    }
}

/// A bound, ready-to-run proxyhub.
pub struct Application {
    listener: TcpListener,
    /// `PROXYHUB_METRICS_LISTEN`'s: `/metrics` alone.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The access-log writers' own pool (see `db::connect_writer`).
    log_writer: db::Db,
    /// How client addresses are stored, with the day's secret.
    addresses: Addresses,
    /// A SQLite store is served by one proxyhub at a time (and not restored under it).
    _lock: Option<db::backup::ServeLock>,
}

impl Application {
    /// Connects the store, runs migrations, and binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let lock = db::sqlite_file(&config.database_url)
            .map(|file| db::backup::lock(std::path::Path::new(file)))
            .transpose()?;
        let db = db::connect(&config.database_url).await?;
        if config.proxy == ProxyKind::Caddy {
            crate::nodes::seed(&db, &config).await?;
        }
        let log_writer = {
            let url = config.database_url.clone();
            crate::workers::background::spawn(async move { db::connect_writer(&url).await })
                .await??
        };
        let reads = db::connect_reader(&config.database_url).await?;
        let proxy = proxy_for(&config)?;
        let sso = crate::sso::Sso::from_config(&config.oidc)?.map(Arc::new);
        if sso.is_some()
            && config.oidc.allowed_domains.is_empty()
            && config.oidc.role_claim.is_none()
        {
            tracing::warn!("single sign-on is on for any account the provider has: set PROXYHUB_OIDC_ALLOWED_DOMAINS to keep it to your own");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on {addr} (PROXYHUB_METRICS_LISTEN): {e}")
            })?),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        // One day's secret for the tailer and the shipped batches: a client's hash is the
        // same whichever node logged it.
        let addresses = Addresses::new(config.log_client_ip);
        let shipped = logs::ship::receive::Receiver::new(
            log_writer.clone(),
            Intake::new(addresses.clone(), Some(Counting::new(metrics.clone()))),
        );
        let state = AppState {
            certificates: Arc::default(),
            applier: Arc::new(Applier::new(
                db.clone(),
                proxy,
                Arc::new(vhosts::Sites),
                metrics.clone(),
            )),
            auth_limiter: Arc::new(
                RateLimiter::new(config.auth_rate_limit, Duration::from_secs(10)).shared(&db),
            ),
            api_limiter: Arc::new(
                http::ratelimit::ApiLimiter::new(
                    config.api_rate_limit_reads,
                    config.api_rate_limit_writes,
                )
                .shared(&db),
            ),
            config: Arc::new(config),
            workers: Arc::new(Workers::default()),
            sso,
            feed: Arc::new(crate::events::Feed::default()),
            metrics,
            health: Arc::new(Health::default()),
            leases: Arc::new(cluster::Leases::new(&db)),
            auth: Arc::new(AuthCache::shared(&db)),
            reads,
            db,
            shipped: Arc::new(shipped),
            shared_reads: Arc::default(),
            config_reads: Arc::default(),
        };
        Ok(Self {
            listener,
            metrics_listener,
            state,
            log_writer,
            addresses,
            _lock: lock,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The port of `PROXYHUB_METRICS_LISTEN`, when set.
    pub fn metrics_port(&self) -> Option<u16> {
        let l = self.metrics_listener.as_ref()?;
        l.local_addr().ok().map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops the workers and drains requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop) = watch::channel(false);
        let s = &self.state;
        let workers = &s.workers;
        let (applier, lease, every) = (
            s.applier.clone(),
            s.leases.reconciler.clone(),
            Duration::from_secs(s.config.reconcile_interval.max(1)),
        );
        let (db, log) = (self.log_writer.clone(), s.config.access_log_absolute());
        // Before the first answer: a process killed before its tail's first batch has still
        // begun following the log, and a file rotated away meanwhile is finished at the next
        // start (`logs/ingest/rotated.rs`). The tail says so again if this fails.
        if let Err(e) = logs::store::files::follow(&db, &logs::ingest::source::absolute(&log)).await
        {
            tracing::warn!(error = %e, file = %log.display(), "cannot note the access log as followed");
        }
        // One day's secret for every start of the tailer.
        let addresses = self.addresses.clone();
        let retention = logs::store::retention::Retention {
            days: s.config.log_retention_days,
            max_rows: s.config.log_max_rows,
            every: Duration::from_secs(s.config.log_retention_interval.max(1)),
        };
        let handles = vec![
            workers.spawn("reconcile", stop.clone(), move |stop| {
                Box::pin(reconcile::run(applier.clone(), lease.clone(), every, stop))
            }),
            workers.spawn("sessions", stop.clone(), {
                let (db, auth) = (s.db.clone(), s.auth.clone());
                move |stop| Box::pin(sessions::expire(db.clone(), auth.clone(), stop))
            }),
            workers.spawn("event feed", stop.clone(), {
                let (feed, db) = (s.feed.clone(), s.db.clone());
                move |stop| Box::pin(feed.clone().run(db.clone(), stop))
            }),
            workers.spawn("webhooks", stop.clone(), {
                let (feed, db, metrics) = (s.feed.clone(), s.db.clone(), s.metrics.clone());
                let lease = s.leases.webhooks.clone();
                let policy = crate::events::webhooks::SsrfPolicy {
                    allow_private: s.config.webhook_allow_private,
                };
                move |stop| {
                    Box::pin(crate::events::webhooks::run(
                        db.clone(),
                        feed.clone(),
                        metrics.clone(),
                        policy,
                        lease.clone(),
                        stop,
                    ))
                }
            }),
            workers.spawn_background("log tailer", stop.clone(), {
                let (db, metrics) = (db.clone(), s.metrics.clone());
                move |stop| {
                    let (db, log, addresses) = (db.clone(), log.clone(), addresses.clone());
                    Box::pin(logs::ingest::tailer::run(
                        db,
                        log,
                        addresses,
                        metrics.clone(),
                        stop,
                    ))
                }
            }),
            workers.spawn_background("log retention", stop.clone(), move |stop| {
                Box::pin(logs::store::retention::run(db.clone(), retention, stop))
            }),
            workers.spawn("certificates", stop.clone(), {
                let checker = Arc::new(certs::Checker {
                    certificates: s.certificates.clone(),
                    target: certs::Target::from_config(&s.config),
                    db: s.db.clone(),
                    desired: Arc::new(vhosts::Sites),
                    pushed: s.applier.pushed(),
                });
                move |stop| Box::pin(certs::run(checker.clone(), stop))
            }),
            workers.spawn("health", stop.clone(), {
                let (db, health) = (s.db.clone(), s.health.clone());
                move |stop| Box::pin(health::probe::run(db.clone(), health.clone(), stop))
            }),
        ];
        let metrics_server = self.metrics_listener.map(|listener| {
            let mut stop = stop.clone();
            let app = http::metrics::own_router(self.state.clone());
            tracing::info!(addr = ?listener.local_addr().ok(), "serving /metrics");
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            })
        });
        tracing::info!(addr = %self.listener.local_addr()?, proxy = self.state.applier.proxy().kind(), "proxyhub listening");
        let app = http::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        let _ = stop_tx.send(true);
        for h in handles.into_iter().chain(metrics_server) {
            let _ = h.await;
        }
        Ok(())
    }
}
