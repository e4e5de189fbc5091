//! Knowing when `nginx -s reload` has taken effect. The signal only asks: nginx's master
//! reads the files later, starts new workers, and lets the old ones accept connections for
//! another ~100 ms. A master that cannot load the files (a port taken by another process)
//! keeps the old workers and only says so in its error log. So proxyhub watches the
//! master's children in `/proc`: the reload is done when new workers run and no old worker
//! still accepts connections (gone, or titled "... is shutting down"). What the master says
//! in its error log meanwhile is read too: an `[emerg]` there (a port it cannot bind) ends
//! the wait at once, and the answer quotes it.

use std::{
    collections::HashSet,
    fs,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::Duration,
};

use super::conf::{tokenize, Tok};

/// Where nginx writes its master's pid when the main config does not say (Debian's build).
const DEFAULT_PID_FILE: &str = "/run/nginx.pid";
/// Where nginx logs errors when the main config does not say (Debian's build).
const DEFAULT_ERROR_LOG: &str = "/var/log/nginx/error.log";
/// The most of an error log read after one reload.
const MAX_LOG_READ: u64 = 64 * 1024;

/// The master's pid, from the pid file the main config names at its top level; `None`
/// when it cannot be known (then proxyhub does not wait).
pub fn master_pid(main_conf: &Path) -> Option<u32> {
    let text = fs::read_to_string(main_conf).ok()?;
    let pid_file = pid_file(&text)?;
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// The top-level `pid` directive's path, or the default when there is none.
fn pid_file(main_conf: &str) -> Option<String> {
    let found = top_level(main_conf, "pid")?;
    match found.first() {
        Some(args) => args.first().cloned().filter(|p| p.starts_with('/')),
        None => Some(DEFAULT_PID_FILE.to_string()),
    }
}

/// The files the main config's top-level `error_log` directives write to, or the default
/// when there is none (`stderr`, `syslog:` and relative paths are not read).
pub fn error_logs(main_conf: &Path) -> Vec<PathBuf> {
    let Some(found) = fs::read_to_string(main_conf)
        .ok()
        .and_then(|t| top_level(&t, "error_log"))
    else {
        return Vec::new();
    };
    if found.is_empty() {
        return vec![DEFAULT_ERROR_LOG.into()];
    }
    found
        .iter()
        .filter_map(|args| args.first())
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// The arguments of each top-level `name` directive; `None` when the file does not parse.
fn top_level(main_conf: &str, name: &str) -> Option<Vec<Vec<String>>> {
    let tokens = tokenize(main_conf).ok()?;
    let mut depth = 0usize;
    let mut words: Vec<&str> = Vec::new();
    let mut found = Vec::new();
    for t in &tokens {
        match &t.tok {
            Tok::Word { text, .. } => words.push(text),
            Tok::End => {
                if depth == 0 && words.first() == Some(&name) {
                    found.push(words[1..].iter().map(|w| w.to_string()).collect());
                }
                words.clear();
            }
            Tok::Open => {
                depth += 1;
                words.clear();
            }
            Tok::Close => depth = depth.saturating_sub(1),
        }
    }
    Some(found)
}

/// Where nginx's error logs ended before a reload, to read what it says about it.
pub struct LogMark(Vec<(PathBuf, u64)>);

impl LogMark {
    pub fn take(logs: Vec<PathBuf>) -> Self {
        Self(
            logs.into_iter()
                .map(|p| {
                    let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    (p, len)
                })
                .collect(),
        )
    }

    /// The lines written since the mark (at most the last 64 KiB of each log).
    pub fn new_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (path, from) in &self.0 {
            let Ok(mut f) = fs::File::open(path) else {
                continue;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            // A log rotated since the mark starts again from its beginning.
            let start = if len < *from {
                0
            } else {
                (*from).max(len.saturating_sub(MAX_LOG_READ))
            };
            let mut text = String::new();
            if f.seek(SeekFrom::Start(start)).is_ok()
                && f.take(MAX_LOG_READ).read_to_string(&mut text).is_ok()
            {
                out.extend(text.lines().map(str::to_string));
            }
        }
        out
    }
}

/// The lines that say the master could not load the configuration, each message once
/// (nginx repeats a failed bind several times).
fn fatal(lines: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    lines
        .iter()
        .filter(|l| l.contains("[emerg]") || l.contains("[alert]") || l.contains("[crit]"))
        .map(String::as_str)
        .filter(|l| {
            // `2026/01/01 10:00:00 [emerg] 7#7: <message>`: the message without time and pid.
            let message = l
                .split_once("]")
                .and_then(|(_, r)| r.split_once(": "))
                .map_or(*l, |(_, m)| m);
            seen.insert(message.to_string())
        })
        .collect()
}

/// The master's children that still accept connections.
pub fn accepting_workers(master: u32) -> HashSet<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent(*pid) == Some(master))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| !String::from_utf8_lossy(&c).contains("shutting down"))
        })
        .collect()
}

/// The parent pid, from `/proc/<pid>/stat` (after the command name, which may hold spaces).
fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `master` runs workers that are not in `before` and none of `before` still
/// accepts connections. `Err`, quoting nginx's error log, when the master logs a fatal error
/// first (answered once the log has been quiet for a moment: nginx retries a bind for about
/// two seconds, and the next change must not read those lines as its own), or when that did
/// not happen within `timeout`.
pub async fn wait_for_new_workers(
    master: u32,
    before: HashSet<u32>,
    log: &LogMark,
    timeout: Duration,
) -> Result<(), String> {
    const QUIET: Duration = Duration::from_millis(1000);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = 0;
    let mut changed = tokio::time::Instant::now();
    loop {
        let now = tokio::task::spawn_blocking(move || accepting_workers(master))
            .await
            .unwrap_or_default();
        if !now.is_empty() && now.is_disjoint(&before) {
            return Ok(());
        }
        let lines = log.new_lines();
        if lines.len() != seen {
            seen = lines.len();
            changed = tokio::time::Instant::now();
        }
        let fatal = fatal(&lines);
        let timed_out = tokio::time::Instant::now() > deadline;
        if !fatal.is_empty() && (changed.elapsed() >= QUIET || timed_out) {
            return Err(format!(
                "nginx could not load the new configuration: {}",
                fatal.join("\n")
            ));
        }
        if timed_out {
            let said = match lines.len() {
                0 => "its error log says nothing new".to_string(),
                n => format!(
                    "its error log says: {}",
                    lines[n.saturating_sub(20)..].join("\n")
                ),
            };
            return Err(format!(
                "nginx was told to reload but still runs its previous configuration after {} s; {said}",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_file_is_the_top_level_one() {
        assert_eq!(
            pid_file("worker_processes 1;\npid /tmp/x/nginx.pid;\nevents {}\n").as_deref(),
            Some("/tmp/x/nginx.pid")
        );
        assert_eq!(
            pid_file("http {\n    server { pid /nope; }\n}\n").as_deref(),
            Some(DEFAULT_PID_FILE)
        );
        assert_eq!(
            pid_file("pid logs/nginx.pid;"),
            None,
            "relative to a prefix we do not know"
        );
    }

    #[test]
    fn error_logs_are_the_top_level_files() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("nginx.conf");
        fs::write(
            &conf,
            "error_log /tmp/a.log notice;\nerror_log stderr;\nhttp {\n error_log /tmp/b.log;\n}\n",
        )
        .unwrap();
        assert_eq!(error_logs(&conf), [PathBuf::from("/tmp/a.log")]);
        fs::write(&conf, "events {}\n").unwrap();
        assert_eq!(error_logs(&conf), [PathBuf::from(DEFAULT_ERROR_LOG)]);
    }

    #[test]
    fn what_nginx_logs_after_the_mark_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("error.log");
        fs::write(&log, "old [emerg] line\n").unwrap();
        let mark = LogMark::take(vec![log.clone()]);
        assert!(mark.new_lines().is_empty());
        let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, b"2026/01/01 [notice] 1#1: signal process started\n2026/01/01 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)\n").unwrap();
        let lines = mark.new_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(fatal(&lines).len(), 1);
        assert!(fatal(&lines)[0].contains("bind()"));
    }

    #[test]
    fn this_process_is_its_parents_child() {
        let me = std::process::id();
        let parent_pid = parent(me).unwrap();
        assert!(accepting_workers(parent_pid).contains(&me));
    }
}
