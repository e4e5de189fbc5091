//! Database connection: SQLite (default, embedded) or PostgreSQL, chosen by the URL's scheme;
//! migrations (a SQLite store is copied aside before they change it: `backup.rs`); list
//! queries built from bound conditions (`query.rs`).

pub mod backup;
mod query;

pub use query::{like_pattern, Page, Where};

use std::str::FromStr;

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, Executor,
};

/// The pool every part of proxyhub shares.
pub type Db = AnyPool;
/// A transaction on [`Db`].
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnknownScheme(String),
    #[error("cannot create the database directory {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Backup(String),
}

/// Connects (creating a SQLite file if missing, in WAL mode) and runs the embedded migrations.
pub async fn connect(url: &str) -> Result<Db, DbError> {
    let (pool, migrator) = open(url, Use::Shared).await?;
    if let Some(file) = sqlite_file(url) {
        backup::before_migrations(&pool, migrator, std::path::Path::new(file)).await?;
    }
    migrator.run(&pool).await?;
    Ok(pool)
}

/// The file of a `sqlite://` URL (none for PostgreSQL or an in-memory store).
pub fn sqlite_file(url: &str) -> Option<&str> {
    let file = url.strip_prefix("sqlite://")?.split('?').next()?;
    (!file.is_empty() && file != ":memory:").then_some(file)
}

/// A pool of its own for the access-log writers (the tailer and retention), on a store
/// [`connect`] has migrated. On SQLite it is one connection that does not map the file:
/// writing a batch touches pages all over the store, and mapped they would stay resident in
/// proxyhub (measured at 10,000 vhosts while 20,000 lines/s came in: ~50 MiB of mapped pages),
/// where queries, which do gain from the map, read few. Open it on the background thread
/// (`workers::background::spawn`): its SQLite connection's thread then runs at the
/// background's priority too.
pub async fn connect_writer(url: &str) -> Result<Db, DbError> {
    open(url, Use::LogWriter).await.map(|(pool, _)| pool)
}

/// A pool of its own for interactive reads (the API's `GET`s, and signing requests in when
/// the auth cache does not know the caller), on a store [`connect`] has migrated: no
/// background worker, change or log writer holds its connections, so a read waits only for
/// other reads. Its connections cannot write (SQLite: `PRAGMA query_only`; PostgreSQL:
/// read-only transactions). A read after a write of the same request sees it: the write
/// committed first (WAL's readers see every commit before their read began).
pub async fn connect_reader(url: &str) -> Result<Db, DbError> {
    open(url, Use::Reads).await.map(|(pool, _)| pool)
}

#[derive(Clone, Copy, PartialEq)]
enum Use {
    Shared,
    LogWriter,
    Reads,
}

async fn open(url: &str, role: Use) -> Result<(Db, &'static Migrator), DbError> {
    sqlx::any::install_default_drivers();
    let (url, migrator, sqlite) = if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(file).parent() {
            if !dir.as_os_str().is_empty() && file != ":memory:" {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::Directory(dir.display().to_string(), e))?;
            }
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        (format!("sqlite://{path}{sep}mode=rwc"), &SQLITE, true)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (url.to_string(), &POSTGRES, false)
    } else {
        return Err(DbError::UnknownScheme(url.to_string()));
    };
    let options = AnyConnectOptions::from_str(&url)?;
    let max = match (sqlite, role) {
        (true, Use::Shared) => 4,
        (false, Use::Shared) => 10,
        (true, Use::LogWriter) => 1,
        (false, Use::LogWriter) => 2,
        (_, Use::Reads) => 4,
    };
    let mut pool = AnyPoolOptions::new().max_connections(max);
    if role == Use::LogWriter {
        // Its connections stay: a SQLite connection's thread keeps the priority of the thread
        // that opened it, and the log writer is opened on the background thread
        // (`workers::background`), not by whichever request would open it again later.
        pool = pool.idle_timeout(None).max_lifetime(None);
    }
    let pool = pool
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // WAL lets readers go on while one writer commits; a busy writer waits (longer than
                    // the slowest proxy reload a change may hold the write lock for).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    // The page cache is per connection. The log writer's batches touch
                    // ~1,500 index pages at once; with SQLite's default 2 MiB cache they are
                    // spilled and rewritten several times, and 16 MiB ingests as fast as 64
                    // did (measured). The other connections read through the map (below) and
                    // write little: SQLite's default 2 MiB each (16 MiB each cost up to 128 MiB
                    // of resident memory over 8 connections under load, for no speed measured).
                    let cache = if role == Use::LogWriter {
                        -16384
                    } else {
                        -2000
                    };
                    conn.execute(format!("PRAGMA cache_size = {cache}").as_str())
                        .await?;
                    // Checkpoints (each with an fsync) every 40 MiB of WAL, not every 4 MiB.
                    conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                    if role == Use::Reads {
                        conn.execute("PRAGMA query_only = ON").await?;
                    }
                    if role != Use::LogWriter {
                        // Reads map the file instead of copying each page into a cache of
                        // their own: a query over a big access log reads hundreds of pages it
                        // never read before (measured: the one-hour log query at 10M requests
                        // took ~half its time in pread, page copies and growing the cache).
                        conn.execute("PRAGMA mmap_size = 1073741824").await?;
                    }
                } else if role == Use::Reads {
                    conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok((pool, migrator))
}

/// Whether an error is a unique-constraint violation (a duplicate key).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a read early in the transaction cannot make the later write fail
/// with a stale snapshot while another connection commits.
pub async fn begin_write(db: &Db) -> Result<Tx, sqlx::Error> {
    if is_sqlite(db) {
        db.begin_with("BEGIN IMMEDIATE").await
    } else {
        db.begin().await
    }
}

/// Begins a transaction that only reads, on one snapshot of the store for all its statements
/// (SQLite's WAL snapshot; PostgreSQL's REPEATABLE READ).
pub async fn begin_read(db: &Db) -> Result<Tx, sqlx::Error> {
    if is_sqlite(db) {
        db.begin().await
    } else {
        db.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }
}

/// `$1, $2, …, $n`: the placeholders of an `IN (…)` list of `n` bound values.
pub fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the pool is SQLite (some statements differ from PostgreSQL's).
pub fn is_sqlite(db: &Db) -> bool {
    db.connect_options().database_url.scheme() == "sqlite"
}

/// Whether a connection (a transaction's, say) is SQLite's.
pub fn is_sqlite_conn(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("sqlite")
}

/// Reads a flag column: flags are stored as integers 0/1, which SQLite and PostgreSQL
/// both carry through sqlx's `Any` driver.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}
