use std::path::PathBuf;

use clap::{Parser, Subcommand};
use proxyhub::{app::Application, config::Config};
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
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        Command::Openapi => {
            let doc = proxyhub::http::openapi();
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Logs(LogsCommand::Import {
            database_url,
            files,
        }) => {
            let db = proxyhub::db::connect(&database_url).await?;
            // Written as the log writers write: through their own pool.
            drop(db);
            let writer = proxyhub::db::connect_writer(&database_url).await?;
            let r = proxyhub::logs::ingest::import::import(&writer, &files, true).await?;
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
