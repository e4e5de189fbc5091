//! Backups of a SQLite store: an online, consistent copy (`VACUUM INTO`) on demand
//! (`proxyhub backup`), and automatically before migrations change a store, into
//! `<data dir>/backups/` (the last 5 kept), so an upgrade can always be undone. A restore
//! (`proxyhub restore`) refuses to run while a proxyhub serves the store: a serving proxyhub
//! holds a lock on `<store>.lock`. PostgreSQL stores are backed up with `pg_dump`.
//! Deliberately no backup or restore over HTTP.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use sqlx::{migrate::Migrator, Row};

use super::{Db, DbError};

/// How many automatic backups are kept.
pub const KEEP: usize = 5;

/// The lock a serving proxyhub holds on its SQLite store, for as long as it lives.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the store's lock; refused if another process holds it.
pub fn lock(store: &Path) -> Result<ServeLock, DbError> {
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Directory(dir.display().to_string(), e))?;
    }
    let path = lock_path(store);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DbError::Backup(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(DbError::Backup(format!(
            "another proxyhub serves {} (it holds {})",
            store.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(DbError::Backup(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// Writes a consistent copy of the store to `to` while it is in use (written beside it
/// first, then put in place: an existing file is replaced only by a whole copy).
pub async fn copy(db: &Db, to: &Path) -> Result<(), DbError> {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let target = partial
        .to_str()
        .ok_or_else(|| DbError::Backup(format!("{} is not UTF-8", to.display())))?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(db)
        .await?;
    std::fs::rename(&partial, to)
        .map_err(|e| DbError::Backup(format!("cannot write {}: {e}", to.display())))?;
    Ok(())
}

/// Copies a store aside before migrations change it: when it already holds a schema and some
/// embedded migration is not applied yet. The copy is
/// `<dir>/backups/proxyhub-v<schema version>-<UTC time>.db`; the last [`KEEP`] are kept.
pub async fn before_migrations(
    db: &Db,
    migrator: &Migrator,
    store: &Path,
) -> Result<Option<PathBuf>, DbError> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(db)
    .await?;
    if has_table == 0 {
        return Ok(None);
    }
    let applied: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = 1")
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("version"))
        .collect::<Result<_, _>>()?;
    let Some(current) = applied.iter().max().copied() else {
        return Ok(None);
    };
    if migrator.iter().all(|m| applied.contains(&m.version)) {
        return Ok(None);
    }
    let dir = store
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("backups");
    std::fs::create_dir_all(&dir)
        .map_err(|e| DbError::Backup(format!("cannot create {}: {e}", dir.display())))?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| DbError::Backup(e.to_string()))?;
    let to = dir.join(format!("proxyhub-v{current:04}-{stamp}.db"));
    copy(db, &to).await?;
    tracing::info!(backup = %to.display(), schema = current, "the store was copied before its migrations");
    prune(&dir)?;
    Ok(Some(to))
}

/// Keeps the newest [`KEEP`] automatic backups (their names sort by time within a version;
/// the file times order them across versions).
fn prune(dir: &Path) -> Result<(), DbError> {
    let mut backups: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| DbError::Backup(e.to_string()))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("proxyhub-") && name.ends_with(".db")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(KEEP);
    for (_, path) in backups.into_iter().take(excess) {
        std::fs::remove_file(&path)
            .map_err(|e| DbError::Backup(format!("cannot remove {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Puts `from` (a backup) in place of the store, unless a proxyhub serves it. `from` must be
/// a proxyhub store. The store's WAL files go: they belong to the store being replaced.
pub async fn restore(store: &Path, from: &Path) -> Result<(), DbError> {
    let _held = lock(store)?;
    let url = format!(
        "sqlite://{}?mode=ro",
        from.to_str()
            .ok_or_else(|| DbError::Backup(format!("{} is not UTF-8", from.display())))?
    );
    sqlx::any::install_default_drivers();
    let backup = sqlx::AnyPool::connect(&url)
        .await
        .map_err(|e| DbError::Backup(format!("cannot open {}: {e}", from.display())))?;
    let ours: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'vhosts', 'users')",
    )
    .fetch_one(&backup)
    .await
    .map_err(|e| DbError::Backup(format!("{} is not a SQLite store: {e}", from.display())))?;
    backup.close().await;
    if ours != 3 {
        return Err(DbError::Backup(format!(
            "{} is not a proxyhub store",
            from.display()
        )));
    }
    let mut staged = store.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    std::fs::copy(from, &staged)
        .map_err(|e| DbError::Backup(format!("cannot copy {}: {e}", from.display())))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = store.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    std::fs::rename(&staged, store)
        .map_err(|e| DbError::Backup(format!("cannot replace {}: {e}", store.display())))?;
    Ok(())
}
