//! nginx, driven through its conf dir: proxyhub writes one file per enabled vhost and one
//! with its log format, has nginx test the whole configuration (`nginx -t`), and reloads it
//! (`nginx -s reload`); when either fails, the previous files are put back.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use minijinja::Environment;
use tokio::process::Command;

pub mod conf;
mod features;
mod files;
mod reload;
mod render;
mod snippet;

use super::{Proxy, ProxyError, Site};
use crate::config::{Config, TlsMode};
use files::Previous;
use render::{access_log_path, Files, RenderSettings};

/// How long one `nginx -t` or `nginx -s reload` may take (10,000 servers test in ~1 s).
const NGINX_TIMEOUT: Duration = Duration::from_secs(120);

/// How long nginx may take to run new workers after `-s reload`.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// The nginx backend.
pub struct Nginx {
    settings: RenderSettings,
    conf_dir: PathBuf,
    main_conf: PathBuf,
    bin: PathBuf,
    env: Arc<Environment<'static>>,
}

impl Nginx {
    pub fn new(config: &Config) -> Result<Self, String> {
        // Servers listen on IPv6 too when the host has it (nginx would refuse `[::]` where
        // it has not).
        let ipv6 = std::net::TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).is_ok();
        let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let settings = RenderSettings {
            listen: render::listen(
                config.nginx_listen.as_deref(),
                config.http_port.unwrap_or(80),
                ipv6,
            )?,
            resolver: render::resolver(config.nginx_resolver.as_deref(), &resolv_conf)?,
            access_log: config.access_log_absolute(),
            conf_dir: absolute(&config.nginx_conf_dir),
        };
        access_log_path(&settings.access_log)?;
        access_log_path(&settings.conf_dir)
            .map_err(|e| e.replace("the access log path", "PROXYHUB_NGINX_CONF_DIR"))?;
        if config.tls != TlsMode::Off {
            tracing::warn!(
                "PROXYHUB_TLS is not off: proxyhub renders plain-HTTP servers for nginx; TLS is the operator's to set up in front of nginx or in its main config"
            );
        }
        Ok(Self {
            settings,
            conf_dir: absolute(&config.nginx_conf_dir),
            main_conf: absolute(&config.nginx_conf),
            bin: config.nginx_bin.clone(),
            env: Arc::new(render::templates()),
        })
    }

    /// Renders `sites` off the async threads (10,000 sites are a big render).
    async fn render(&self, sites: &[Site]) -> Result<Files, ProxyError> {
        let (env, settings, sites) = (self.env.clone(), self.settings.clone(), sites.to_vec());
        tokio::task::spawn_blocking(move || render::render(&env, &settings, &sites))
            .await
            .map_err(|e| ProxyError::Invalid(format!("rendering nginx's files: {e}")))?
            .map_err(ProxyError::Invalid)
    }

    /// Writes `files`, tests and reloads; on any failure puts the previous files back.
    async fn install(&self, files: Files) -> Result<(), ProxyError> {
        let dir = self.conf_dir.clone();
        let previous = blocking(move || files::replace(&dir, &files))
            .await
            .map_err(|e| self.disk_error(e))?;
        let outcome = match self.run(["-t", "-q"]).await {
            Ok(warnings) => {
                if !warnings.is_empty() {
                    tracing::warn!(%warnings, "nginx -t passed with warnings");
                }
                self.reload().await
            }
            Err(e) => Err(Failed {
                error: e,
                signalled: false,
            }),
        };
        let Err(failed) = outcome else {
            return Ok(());
        };
        tracing::warn!(error = %failed.error, "nginx did not take the new files; restoring the previous ones");
        self.restore(previous).await;
        if failed.signalled {
            // A master merely slower than the wait would load the new files later: have it
            // load the restored ones instead.
            let _ = self.run(["-s", "reload"]).await;
        }
        Err(failed.error)
    }

    /// `nginx -s reload`, then waits until nginx serves the new files (when its master
    /// and workers can be seen in `/proc`; otherwise it trusts the signal).
    async fn reload(&self) -> Result<(), Failed> {
        let conf = self.main_conf.clone();
        let (watched, log) = blocking(move || {
            let watched = reload::master_pid(&conf)
                .map(|m| (m, reload::accepting_workers(m)))
                .filter(|(_, workers)| !workers.is_empty());
            Ok((watched, reload::LogMark::take(reload::error_logs(&conf))))
        })
        .await
        .unwrap_or_else(|_| (None, reload::LogMark::take(Vec::new())));
        self.run(["-s", "reload"]).await.map_err(|error| Failed {
            error,
            signalled: false,
        })?;
        match watched {
            Some((master, before)) => {
                reload::wait_for_new_workers(master, before, &log, RELOAD_TIMEOUT)
                    .await
                    .map_err(|e| Failed {
                        error: ProxyError::Rejected(e),
                        signalled: true,
                    })
            }
            None => Ok(()),
        }
    }

    async fn restore(&self, previous: Previous) {
        if let Err(e) = blocking(move || previous.restore()).await {
            tracing::error!(error = %e, dir = %self.conf_dir.display(), "could not restore nginx's previous files");
        }
    }

    /// Runs `nginx <args> -c <main conf>` (an argv, no shell). `Ok` carries what nginx
    /// printed; a failure is `Rejected` with nginx's own words, or `Unreachable` when
    /// nginx could not be run at all.
    async fn run<const N: usize>(&self, args: [&str; N]) -> Result<String, ProxyError> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("-c")
            .arg(&self.main_conf)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let shown = format!(
            "{} {} -c {}",
            self.bin.display(),
            args.join(" "),
            self.main_conf.display()
        );
        let out = match tokio::time::timeout(NGINX_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(ProxyError::Unreachable(format!(
                    "cannot run `{shown}`: {e}"
                )))
            }
            Err(_) => {
                return Err(ProxyError::Unreachable(format!(
                    "`{shown}` did not finish within {} s",
                    NGINX_TIMEOUT.as_secs()
                )))
            }
        };
        let text = [out.stderr, out.stdout]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if out.status.success() {
            Ok(text)
        } else if args.first() == Some(&"-s") {
            // The files passed `nginx -t`; failing to signal means nginx is not running.
            Err(ProxyError::Unreachable(or_status(text, &out.status)))
        } else {
            Err(ProxyError::Rejected(or_status(text, &out.status)))
        }
    }

    fn disk_error(&self, e: std::io::Error) -> ProxyError {
        ProxyError::Unreachable(format!(
            "cannot write nginx's files in {}: {e}",
            self.conf_dir.display()
        ))
    }
}

/// Why nginx did not take new files, and whether it was already told to reload them.
struct Failed {
    error: ProxyError,
    signalled: bool,
}

fn or_status(text: String, status: &std::process::ExitStatus) -> String {
    if text.is_empty() {
        format!("nginx exited with {status} and printed nothing")
    } else {
        text
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

impl Nginx {
    /// Checks a vhost's snippet and upstream against nginx's rules.
    fn check_site(&self, site: &Site) -> Result<(), String> {
        if let Some(snippet) = &site.config {
            snippet::check_snippet(snippet)?;
            if site.features.access.is_some() {
                snippet::check_with_access(snippet)?;
            }
        }
        for upstream in site.upstreams() {
            snippet::proxy_target(&render::proxy_url(&upstream)).map_err(|_| {
                format!("the upstream {upstream:?} would be read by nginx as a unix socket")
            })?;
        }
        features::check_pool(site)?;
        if site.features.tls.is_some_and(|t| t.force_https || t.hsts) {
            return Err(
                "tls: proxyhub renders plain-HTTP servers for nginx; HTTPS (certificates, redirects to it, HSTS) stays the operator's to set up in nginx's main config or in front of it"
                    .into(),
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Proxy for Nginx {
    fn kind(&self) -> &'static str {
        "nginx"
    }

    async fn prepare(&self, site: &Site) -> Result<(), ProxyError> {
        self.check_site(site).map_err(ProxyError::Invalid)
    }

    async fn apply(&self, sites: &[Site]) -> Result<bool, ProxyError> {
        let files = self.render(sites).await?;
        self.install(files).await.map(|()| true)
    }

    async fn repair_drift(&self, sites: &[Site]) -> Result<Option<String>, ProxyError> {
        let files = self.render(sites).await?;
        let dir = self.conf_dir.clone();
        let on_disk = blocking(move || files::read_ours(&dir))
            .await
            .map_err(|e| self.disk_error(e))?;
        let changes = files::drift(&on_disk, &files);
        if changes.is_empty() {
            return Ok(None);
        }
        for change in &changes {
            tracing::warn!(dir = %self.conf_dir.display(), "nginx drift: {change}");
        }
        self.install(files).await?;
        tracing::info!(
            changes = changes.len(),
            "nginx runs the store's files again"
        );
        Ok(Some(format!(
            "{} of proxyhub's files in {} were changed",
            changes.len(),
            self.conf_dir.display()
        )))
    }
}
