//! Stores for the benchmark: a fresh SQLite file, filled through the real ingest path, and
//! proxyhub serving it.

use std::path::Path;

use proxyhub::{
    app::Application,
    config::{Config, ProxyKind, TlsMode},
    db::{self, Db},
    logs::{
        ingest::{
            batch::{ingest, Quiet},
            sink::Local,
        },
        store::files::Source,
    },
};
use reqwest::Client;
use serde_json::json;
use sqlx::Row;

use crate::gen;

pub async fn fresh(path: &Path) -> Db {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// Requests stored, summed over the blocks queries read (not the running counter).
pub async fn queryable(db: &Db) -> i64 {
    sqlx::query("SELECT CAST(SUM(n) AS BIGINT) FROM access_log_blocks")
        .fetch_one(db)
        .await
        .unwrap()
        .get(0)
}

/// A store of `rows` requests served by proxyhub.
pub struct Served {
    pub client: Client,
    pub base: String,
    /// The time the requests span, up to `end`.
    pub span: f64,
    pub end: f64,
    pub _app: tokio::task::JoinHandle<()>,
}

/// A store of `rows` requests of the project's lines, spread over a week (or a day when
/// small) up to `end`, built through the ingest path (or, when `reuse`, the one an earlier
/// run left complete), and served by proxyhub with a signed-in client.
pub async fn serve(dir: &Path, rows: u64, end: f64, reuse: bool) -> Served {
    let file = dir.join(format!("store-{rows}.db"));
    let done = dir.join(format!("store-{rows}.end"));
    let span = if rows >= 1_000_000 {
        7.0 * 86_400.0
    } else {
        86_400.0
    };
    let kept = std::fs::read_to_string(&done)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|_| reuse);
    let end = match kept {
        Some(end) => {
            println!("\nserving the store of {rows} rows an earlier run built");
            end
        }
        None => {
            let _ = std::fs::remove_file(&done);
            build(&file, rows, end, span).await
        }
    };
    std::fs::write(&done, end.to_string()).unwrap();
    // Queries are measured on a store the OS has in its page cache, as a store in use is: a
    // kept store may have been partly dropped from it since it was built (then the kinds
    // that open the most blocks read the disk, and measure it). What is read is its size.
    let mut on_disk = 0;
    for ext in ["", "-wal"] {
        if let Ok(mut f) = std::fs::File::open(format!("{}{ext}", file.display())) {
            on_disk += std::io::copy(&mut f, &mut std::io::sink()).unwrap();
        }
    }
    println!(
        "{rows} rows take {:.1} MB on disk ({:.1} bytes a row)",
        on_disk as f64 / 1e6,
        on_disk as f64 / rows as f64
    );
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", file.display()),
        proxy: ProxyKind::Caddy,
        caddy_admin: "http://127.0.0.1:9".into(),
        caddy_admin_listen: None,
        nginx_conf_dir: dir.join("nginx"),
        nginx_conf: dir.join("nginx.conf"),
        nginx_listen: None,
        nginx_resolver: None,
        nginx_bin: "nginx".into(),
        access_log: dir.join("none.log"),
        tls: TlsMode::Off,
        http_port: None,
        https_port: None,
        public_url: None,
        allow_signup: false,
        auth_rate_limit: 1000,
        api_rate_limit_reads: u32::MAX,
        api_rate_limit_writes: u32::MAX,
        trusted_proxies: Vec::new(),
        session_max_days: 30,
        require_2fa: false,
        reconcile_interval: 3600,
        log_retention_days: 3650,
        log_max_rows: u64::MAX,
        log_retention_interval: 10,
        log_client_ip: Default::default(),
        metrics_token: None,
        metrics_listen: None,
        oidc: Default::default(),
        webhook_allow_private: false,
    };
    let app = Application::build(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = tokio::spawn(async move {
        app.run_until_stopped(std::future::pending()).await.unwrap();
    });
    let client = Client::builder().cookie_store(true).build().unwrap();
    let account =
        json!({"name": "Bench", "email": "bench@example.com", "password": "correct horse"});
    let how = if kept.is_some() { "sign-in" } else { "sign-up" };
    let r = client
        .post(format!("{base}/api/auth/{how}/email"))
        .json(&account)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    Served {
        client,
        base,
        span,
        end,
        _app: handle,
    }
}

async fn build(file: &Path, rows: u64, end: f64, span: f64) -> f64 {
    let db = fresh(file).await;
    let source = Source {
        fingerprint: format!("bench-{rows}"),
        path: "generated".into(),
        dev: 0,
        ino: 0,
    };
    let t = std::time::Instant::now();
    ingest(
        &mut Local::new(db.clone(), Default::default()),
        &source,
        &mut gen::Lines::new(rows, end, span),
        0,
        &mut Quiet,
    )
    .await
    .unwrap();
    println!(
        "\nbuilt a store of {rows} rows through the ingest path at {:.0} lines/s",
        rows as f64 / t.elapsed().as_secs_f64()
    );
    db.close().await;
    end
}
