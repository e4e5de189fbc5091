use std::path::PathBuf;

use clap::{Parser, Subcommand};
use proxyhub::{
    app::Application,
    config::Config,
    remote::{self, Remote},
};
use tracing_subscriber::EnvFilter;

/// proxyhub: manage Caddy or nginx virtual hosts through a REST API, with sign-in and an audit trail.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up
enum Command {
    /// Run the API server (and the reconciler that keeps the proxy in sync).
    Serve(Config),
    /// Access logs kept by proxyhub.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Print the API's OpenAPI 3.1 document (what `GET /api/openapi.json` serves).
    Openapi,
    /// Print the desired state of a running proxyhub (YAML unless `--format json`).
    Export {
        #[command(flatten)]
        remote: RemoteArgs,
        #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
        format: String,
    },
    /// Show what applying a state file would change; exit 0 if nothing, 2 if something.
    Diff {
        #[command(flatten)]
        remote: RemoteArgs,
        /// The state file (YAML, or JSON if it ends in .json).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Count the vhosts the file lacks as to be deleted.
        #[arg(long)]
        prune: bool,
    },
    /// Apply a state file all or nothing: prints the plan, asks on a terminal unless --yes.
    Apply {
        #[command(flatten)]
        remote: RemoteArgs,
        /// The state file (YAML, or JSON if it ends in .json).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Delete the vhosts the file lacks.
        #[arg(long)]
        prune: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Read an existing proxy config into vhosts: shows the plan (and what is left out, and
    /// why); `--apply` applies it all or nothing.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a consistent copy of a SQLite store to FILE while proxyhub runs (PostgreSQL:
    /// use pg_dump).
    Backup {
        #[command(flatten)]
        store: StoreArgs,
        file: PathBuf,
    },
    /// Replace a SQLite store with a backup; refused while a proxyhub serves the store.
    Restore {
        #[command(flatten)]
        store: StoreArgs,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A Caddyfile.
    Caddyfile {
        #[command(flatten)]
        remote: RemoteArgs,
        file: PathBuf,
        #[arg(long)]
        apply: bool,
    },
    /// An nginx config: a file (its `include`s are read too) or a directory of `*.conf`.
    Nginx {
        #[command(flatten)]
        remote: RemoteArgs,
        path: PathBuf,
        #[arg(long)]
        apply: bool,
    },
}

/// Where the running proxyhub is, and the API token to use (with the admin scope).
#[derive(clap::Args)]
struct RemoteArgs {
    #[arg(long, env = "PROXYHUB_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(
        long,
        env = "PROXYHUB_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    token: String,
}

#[derive(clap::Args)]
struct StoreArgs {
    /// Database URL: sqlite://path.
    #[arg(
        long,
        env = "PROXYHUB_DATABASE_URL",
        default_value = "sqlite://data/proxyhub.db"
    )]
    database_url: String,
}

#[derive(Subcommand)]
enum LogsCommand {
    /// Store existing access-log files (plain or .gz); what is already stored is not stored twice.
    Import {
        /// Database URL: sqlite://path or postgres://...
        #[arg(
            long,
            env = "PROXYHUB_DATABASE_URL",
            default_value = "sqlite://data/proxyhub.db"
        )]
        database_url: String,
        /// How client addresses are stored: full, hashed (with a secret of the day, kept in
        /// memory only) or none.
        #[arg(
            long,
            env = "PROXYHUB_LOG_CLIENT_IP",
            value_enum,
            default_value = "full"
        )]
        client_ip: proxyhub::config::ClientIp,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Follow this node's access log (as proxyhub follows its own: rotation, copytruncate)
    /// and send its lines to a hub (a proxyhub), where each request is stored once with the
    /// node's name. Where each file stands is the hub's word: nothing is kept here, and a
    /// restart resumes where the hub stands. While the hub is down it waits and sends again.
    Ship {
        /// The hub's URL, like https://hub.example.com.
        #[arg(long, env = "PROXYHUB_HUB")]
        hub: String,
        /// An API token with the `write:logs` scope. Prefer the PROXYHUB_TOKEN environment
        /// variable: a flag shows in `ps`.
        #[arg(long, env = "PROXYHUB_TOKEN", hide_env_values = true)]
        token: String,
        /// This node's name, shown with each of its requests: letters, digits, '.', '-',
        /// '_' (default: the machine's host name).
        #[arg(long)]
        node: Option<String>,
        /// Lines per batch at most (1 to 10000).
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_lines: u32,
        /// Bytes of log per batch at most (4096 to 1048576); a longer line is skipped.
        #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(4096..=1_048_576))]
        batch_bytes: u32,
        /// The access log to follow (Caddy's JSON log, or proxyhub's nginx format).
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    proxyhub::memory::limit_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(config) => {
            tracing::info!(?config, "starting");
            let app = Application::build(config).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Export { remote, format } => {
            let r = Remote::new(&remote.url, &remote.token)?;
            print!("{}", r.export(&format).await?);
            Ok(())
        }
        Command::Diff {
            remote,
            file,
            prune,
        } => {
            let r = Remote::new(&remote.url, &remote.token)?;
            let plan = r.import(&file, prune, true).await?;
            print!("{}", remote::describe(&plan));
            if remote::changes_anything(&plan) {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Apply {
            remote,
            file,
            prune,
            yes,
        } => apply(remote, file, prune, yes).await,
        Command::Import(what) => {
            let (remote, kind, text, apply) = match what {
                ImportCommand::Caddyfile {
                    remote,
                    file,
                    apply,
                } => {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
                    (remote, "caddyfile", text, apply)
                }
                ImportCommand::Nginx {
                    remote,
                    path,
                    apply,
                } => {
                    let text =
                        proxyhub::importer::nginx::gather(&path).map_err(anyhow::Error::msg)?;
                    (remote, "nginx", text, apply)
                }
            };
            let r = Remote::new(&remote.url, &remote.token)?;
            let answer = r.adopt(kind, text, apply).await?;
            print!("{}", remote::describe(&answer));
            print!("{}", remote::describe_skipped(&answer));
            if apply {
                println!(
                    "applied (import {})",
                    answer["importId"].as_str().unwrap_or("-")
                );
            } else {
                println!("not applied: run again with --apply");
            }
            Ok(())
        }
        Command::Backup { store, file } => {
            let path = sqlite_store(&store.database_url)?;
            if !std::path::Path::new(path).is_file() {
                anyhow::bail!("no store at {path}: set PROXYHUB_DATABASE_URL to the store to copy");
            }
            let db = proxyhub::db::connect(&store.database_url).await?;
            proxyhub::db::backup::copy(&db, &file).await?;
            println!("{} copied to {}", path, file.display());
            Ok(())
        }
        Command::Restore { store, file } => {
            let path = sqlite_store(&store.database_url)?;
            proxyhub::db::backup::restore(std::path::Path::new(path), &file).await?;
            println!("{path} restored from {}", file.display());
            Ok(())
        }
        Command::Openapi => {
            let doc = proxyhub::http::openapi();
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Logs(LogsCommand::Ship {
            hub,
            token,
            node,
            batch_lines,
            batch_bytes,
            file,
        }) => {
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = stop_tx.send(true);
            });
            let options = proxyhub::logs::ship::shipper::Options {
                hub,
                token,
                node,
                file,
                batch_lines: batch_lines as usize,
                batch_bytes: batch_bytes as usize,
            };
            proxyhub::logs::ship::shipper::run(options, stop).await
        }
        Command::Logs(LogsCommand::Import {
            database_url,
            client_ip,
            files,
        }) => {
            let db = proxyhub::db::connect(&database_url).await?;
            // Written as the log writers write: through their own pool.
            drop(db);
            let writer = proxyhub::db::connect_writer(&database_url).await?;
            let addresses = proxyhub::logs::ingest::addresses::Addresses::new(client_ip);
            let r =
                proxyhub::logs::ingest::import::import(&writer, &files, addresses, true).await?;
            println!(
                "{} lines ({} rows, {} skipped) in {:.2} s: {:.0} lines/s",
                r.rows + r.skipped,
                r.rows,
                r.skipped,
                r.seconds,
                r.lines_per_second()
            );
            Ok(())
        }
    }
}

/// The file of a SQLite store URL; PostgreSQL has its own tools.
fn sqlite_store(url: &str) -> anyhow::Result<&str> {
    proxyhub::db::sqlite_file(url).ok_or_else(|| {
        anyhow::anyhow!(
            "backup and restore are for SQLite stores; for PostgreSQL use pg_dump and pg_restore"
        )
    })
}

/// `proxyhub apply`: plan, show, confirm, apply; a refusal exits non-zero with the proxy's
/// words.
async fn apply(remote: RemoteArgs, file: PathBuf, prune: bool, yes: bool) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let r = Remote::new(&remote.url, &remote.token)?;
    let plan = r.import(&file, prune, true).await?;
    print!("{}", remote::describe(&plan));
    if !remote::changes_anything(&plan) {
        println!("nothing to do");
        return Ok(());
    }
    if !yes {
        // Asked on a terminal; off one, a `y` piped in confirms, and nothing is a refusal.
        let terminal = std::io::stdin().is_terminal();
        if terminal {
            print!("apply these changes? [y/N] ");
            std::io::stdout().flush()?;
        }
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            if terminal {
                anyhow::bail!("not applied");
            }
            anyhow::bail!(
                "not applied: confirm with --yes (or a `y` on stdin) when not on a terminal"
            );
        }
    }
    let done = r.import(&file, prune, false).await?;
    println!(
        "applied (import {}): {}",
        done["importId"].as_str().unwrap_or("?"),
        remote::describe(&done).lines().last().unwrap_or_default()
    );
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
