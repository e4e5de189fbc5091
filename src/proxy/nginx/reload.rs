//! Knowing when `nginx -s reload` has taken effect. The signal only asks: nginx's master
//! reads the files later, starts new workers, and lets the old ones accept connections for
//! another ~100 ms. A master that cannot load the files (a port taken by another process)
//! keeps the old workers and only says so in its error log. So proxyhub watches the
//! master's children in `/proc`: the reload is done when new workers run and no old worker
//! still accepts connections (gone, or titled "... is shutting down").

use std::{collections::HashSet, fs, path::Path, time::Duration};

use super::conf::{tokenize, Tok};

/// Where nginx writes its master's pid when the main config does not say (Debian's build).
const DEFAULT_PID_FILE: &str = "/run/nginx.pid";

/// The master's pid, from the pid file the main config names at its top level; `None`
/// when it cannot be known (then proxyhub does not wait).
pub fn master_pid(main_conf: &Path) -> Option<u32> {
    let text = fs::read_to_string(main_conf).ok()?;
    let pid_file = pid_file(&text)?;
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// The top-level `pid` directive's path, or the default when there is none.
fn pid_file(main_conf: &str) -> Option<String> {
    let tokens = tokenize(main_conf).ok()?;
    let mut depth = 0usize;
    let mut words: Vec<&str> = Vec::new();
    for t in &tokens {
        match &t.tok {
            Tok::Word { text, .. } => words.push(text),
            Tok::End => {
                if depth == 0 && words.len() == 2 && words[0] == "pid" {
                    return Some(words[1].to_string()).filter(|p| p.starts_with('/'));
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
    Some(DEFAULT_PID_FILE.to_string())
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
/// accepts connections. `Err` when that did not happen within `timeout`.
pub async fn wait_for_new_workers(
    master: u32,
    before: HashSet<u32>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = tokio::task::spawn_blocking(move || accepting_workers(master))
            .await
            .unwrap_or_default();
        if !now.is_empty() && now.is_disjoint(&before) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "nginx was told to reload but still runs its previous configuration after {} s; its error log says why",
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
    fn this_process_is_its_parents_child() {
        let me = std::process::id();
        let parent_pid = parent(me).unwrap();
        assert!(accepting_workers(parent_pid).contains(&me));
    }
}
