//! A real PostgreSQL for the integration tests, when `PROXYHUB_TEST_BACKEND=postgres`: one
//! server per test process (initdb'd into a directory of the temp dir on first use, listening
//! on a free loopback port only, shut down when the test process exits; the next run removes
//! directories no live run holds the lock of), and a database of its own for each test
//! directory. [`database_url`] starts the server whatever the backend: tests that need
//! PostgreSQL itself (replicas) call it directly; a missing PostgreSQL fails them loudly.

use std::{
    hash::{Hash, Hasher},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{mpsc, OnceLock},
    time::Duration,
};

use sqlx::{Connection, PgConnection};

use super::free_port;

/// Which store the integration tests run proxyhub on: SQLite unless
/// `PROXYHUB_TEST_BACKEND=postgres`. Anything else is a mistake, not a silent default.
pub fn enabled() -> bool {
    match std::env::var("PROXYHUB_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("PROXYHUB_TEST_BACKEND must be sqlite or postgres, not {other:?}"),
    }
}

struct Server {
    port: u16,
    /// Held (locked) for the life of the process: the directory is in use.
    _lock: std::fs::File,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The highest installed PostgreSQL's `bin` directory (Debian: /usr/lib/postgresql/N/bin).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|v| v.1).unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed; these tests need the real one: \
             apt-get install -y postgresql"
        )
    })
}

/// PostgreSQL refuses to run as root: as root, run it as the `postgres` account.
#[allow(unsafe_code)]
fn run_as() -> Option<(libc::uid_t, libc::gid_t)> {
    // SAFETY: plain libc calls; the passwd entry is read before any other call can reuse it.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"postgres".as_ptr());
        assert!(
            !pw.is_null(),
            "running as root, the tests need the `postgres` account (apt-get install -y postgresql)"
        );
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

/// A command run as [`run_as`]; `die_with_parent`: killed when the thread that spawned it ends.
#[allow(unsafe_code)]
fn command(bin: &Path, user: Option<(libc::uid_t, libc::gid_t)>, die_with_parent: bool) -> Command {
    let mut c = Command::new(bin);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if let Some((uid, gid)) = user {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After the identity change, which would clear it. SIGQUIT: PostgreSQL's
            // immediate shutdown, which still removes its shared memory.
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

fn start() -> Server {
    let bin = bin_dir();
    let user = run_as();
    let base = std::env::temp_dir().join("proxyhub-test-postgres");
    std::fs::create_dir_all(&base).unwrap();
    for e in std::fs::read_dir(&base).unwrap().flatten() {
        // A directory whose lock nobody holds is left from a run that is over.
        let (path, lock_path) = match e.path().extension().is_some_and(|x| x == "lock") {
            true => (e.path().with_extension(""), e.path()),
            false => (e.path(), e.path().with_extension("lock")),
        };
        if let Some(_lock) = try_lock(&lock_path) {
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&lock_path);
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&base)
        .unwrap()
        .keep();
    let lock = try_lock(&dir.with_extension("lock")).expect("a new directory's lock is free");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    }
    let data = dir.join("data");
    let out = command(&bin.join("initdb"), user, false)
        .args([
            "-A",
            "trust",
            "-U",
            "proxyhub",
            "--no-sync",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data)
        .output()
        .expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let log = std::fs::File::create(dir.join("postgres.log")).unwrap();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid)).unwrap();
    }
    let mut postgres = command(&bin.join("postgres"), user, true);
    postgres
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string()])
        // TCP on loopback only: no Unix socket (its path could exceed the limit in a deep
        // temp dir). A test server: durability is not what is tested.
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
        ])
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=1000"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // The server dies with the thread that started it: one that lives as long as the process.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let child = postgres.spawn();
        let failed = child.is_err();
        tx.send(child.map(|_| ())).unwrap();
        if !failed {
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv().unwrap().expect("postgres starts");
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server { port, _lock: lock };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    panic!("PostgreSQL did not come up on port {port}:\n{log}");
}

/// `path` opened and locked (`flock`, exclusive), or `None` when another process holds it.
fn try_lock(path: &Path) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock on a file descriptor we own.
    #[allow(unsafe_code)]
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    locked.then_some(file)
}

/// The URL of the database for `dir` (one per test directory), created on first use.
pub async fn database_url(dir: &Path) -> String {
    let port = SERVER.get_or_init(start).port;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    let name = format!("t{:016x}", h.finish());
    let admin = format!("postgres://proxyhub@127.0.0.1:{port}/postgres");
    let mut conn = None;
    for _ in 0..100 {
        // Right after start-up the server may still refuse ("starting up").
        match PgConnection::connect(&admin).await {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut conn = conn.expect("PostgreSQL accepts connections");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    if exists.is_none() {
        // `name` is made of hex digits here, never input.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    format!("postgres://proxyhub@127.0.0.1:{port}/{name}")
}
