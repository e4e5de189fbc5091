//! The load benchmark's measures of memory and CPU: a sampler of proxyhub's resident memory,
//! the CPU time of a child process, and proxyhub idle on a store of many requests.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use crate::{clients, gen, support};

/// The most resident memory seen, in MiB.
#[derive(Clone, Copy, Default)]
pub struct Peak {
    pub total: f64,
    pub anonymous: f64,
    pub without_db: f64,
}

/// Samples a process's resident memory every 250 ms until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<Peak>>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32, db: PathBuf) -> Self {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let thread = {
            let (stop, peak): (_, Arc<Mutex<Peak>>) = (stop.clone(), Arc::clone(&peak));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (total, anonymous, _) = support::rss(pid);
                    let without_db = rss_without(pid, &db);
                    let mut p = peak.lock().unwrap();
                    p.total = p.total.max(total);
                    p.anonymous = p.anonymous.max(anonymous);
                    p.without_db = p.without_db.max(without_db);
                    drop(p);
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Self { stop, peak, thread }
    }

    pub fn stop(self) -> Peak {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        *self.peak.lock().unwrap()
    }
}

/// The CPU time (user and system, seconds) of the children `run` starts and waits for.
pub fn child_cpu(run: impl FnOnce()) -> f64 {
    let used = || {
        let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        #[allow(unsafe_code)]
        // SAFETY: getrusage fills the struct it is given.
        let u = unsafe {
            libc::getrusage(libc::RUSAGE_CHILDREN, u.as_mut_ptr());
            u.assume_init()
        };
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        s(u.ru_utime) + s(u.ru_stime)
    };
    let before = used();
    run();
    used() - before
}

/// Builds a store of `rows` requests of the last two days with `proxyhub logs import`, serves
/// it with no proxy answering, and prints proxyhub's resident memory idle: after start, and
/// after a round of reads.
pub async fn idle_at_rows(rows: u64, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("history.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    std::io::copy(
        &mut gen::Lines::new(rows, support::now(), 2.0 * 86_400.0),
        &mut out,
    )
    .unwrap();
    drop(out);
    let db = dir.join("proxyhub.db");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_proxyhub"))
        .args(["logs", "import", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(&file).unwrap();
    let size: u64 = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let log = dir.join("access.log");
    std::fs::write(&log, "").unwrap();
    // No Caddy answers on this port: a state proxyhub supports.
    let (proxyhub, base) =
        support::start_proxyhub(dir, support::free_port(), support::free_port(), &log).await;
    let pid = proxyhub.0.id();
    let client = support::signed_in(&base, true).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let started = (support::rss(pid), rss_without(pid, &db));
    let seen = clients::one_by_one(&client, &base, 3).await;
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let read = (support::rss(pid), rss_without(pid, &db));
    println!(
        "idle at {rows} rows ({:.0} MiB on disk): resident memory (total / anonymous / without the database file's mapped pages, MiB) {:.0} / {:.0} / {:.0} after start, {:.0} / {:.0} / {:.0} 10 s after a round of reads (target ≤ 60 without the mapped pages)",
        size as f64 / (1 << 20) as f64,
        started.0 .0,
        started.0 .1,
        started.1,
        read.0 .0,
        read.0 .1,
        read.1
    );
}

/// Resident memory of a process without the pages of the files whose path starts with
/// `prefix` (a database file the OS maps, and may drop, and its `-shm`), in MiB.
pub fn rss_without(pid: u32, prefix: &Path) -> f64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let prefix = prefix.to_string_lossy();
    let (mut total, mut mapped, mut theirs) = (0.0, false, false);
    for l in smaps.lines() {
        let mut words = l.split_whitespace();
        match words.next() {
            Some("Rss:") => {
                let kib: f64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                if mapped && !theirs {
                    total += kib;
                }
            }
            Some(first)
                if first.contains('-')
                    && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') =>
            {
                mapped = true;
                theirs = l
                    .split_whitespace()
                    .nth(5)
                    .is_some_and(|p| p.starts_with(&*prefix));
            }
            _ => {}
        }
    }
    total / 1024.0
}

/// CPU time a process has used (user and system), in seconds, from /proc.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis, from the state: utime and stime are
    // the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0.0))
        .collect();
    #[allow(unsafe_code)]
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / ticks
}
