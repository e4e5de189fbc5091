//! The background task that follows the proxy's access log: woken by file-system events
//! (`notify`) and by a timer in case events are missed or unavailable.

use std::{
    fs::File,
    io::{self, Seek, SeekFrom},
    os::unix::fs::{FileExt, MetadataExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{watch, Notify};

use super::{
    addresses::Addresses,
    batch::{self, ingest, IngestError, Intake, Outcome, Watch},
    counts::Counting,
    rotated,
    sink::{Local, Sink},
};
use crate::{db::Db, logs::store::files::Source, metrics::Metrics};

/// How often the file is checked when no event arrives.
const POLL: Duration = Duration::from_millis(500);
/// The least time between two looks at the file. A busy proxy writes its log many times a
/// second and each write is an event; lines are stored by the time they have waited, not per
/// event: at 50,000 lines a second a look every 10 ms stored batches of ~500 lines (two or
/// three per host), each a transaction that rewrote a small block per host, and cost a core
/// where batches of half a second cost a fifth of it (the load benchmark), and batches of
/// 0.7 s brought the cost per line within 1.5× of a bulk import's while the store stays under
/// 0.8 s behind the log. A quiet log's line is still stored at once: the first event after a
/// pause is looked at without waiting.
const GATHER: Duration = Duration::from_millis(700);
/// How long a rotated or deleted file is still read after its last growth (a proxy that
/// reopens its log on a signal writes to the old file until it does).
const GRACE: Duration = Duration::from_secs(5);

/// Follows `path` until `stop` changes, storing client addresses as `addresses` says and
/// counting into `metrics`. A worker (see `workers.rs`): errors reading or storing are
/// logged and tried again on the next tick.
pub async fn run(
    db: Db,
    path: PathBuf,
    addresses: Addresses,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let intake = Intake::new(addresses, Some(Counting::new(metrics)));
    follow(Local::new(db, intake), path, stop).await
}

/// Follows `path` until `stop` changes, handing its lines to `sink`: proxyhub's own store,
/// or a hub (`proxyhub logs ship`). Errors reading or storing are logged and tried again on
/// the next tick.
pub async fn follow<S: Sink>(
    sink: S,
    path: PathBuf,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let wake = Arc::new(Notify::new());
    let mut watcher = None;
    let mut tailer = Tailer {
        sink,
        path,
        current: None,
        draining: Vec::new(),
        recovered: false,
    };
    while !*stop.borrow() {
        if watcher.is_none() {
            watcher = watch_dir(&tailer.path, wake.clone());
        }
        let looked = tokio::time::Instant::now();
        tailer.sink.tick();
        tokio::select! {
            r = tailer.tick() => if let Err(e) = r {
                tracing::warn!(error = %e, file = %tailer.path.display(), "access log: will retry");
            },
            _ = stop.changed() => return Ok(()),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return Ok(()),
        }
        tokio::select! {
            _ = tokio::time::sleep_until(looked + GATHER) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
    Ok(())
}

/// Watches the log's directory (the file itself comes and goes); `None` if it cannot yet.
fn watch_dir(path: &Path, wake: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    // Only the log and its siblings matter (the database may live in the same directory).
    let name = path.file_name()?.to_string_lossy();
    let stem = name.split('.').next().unwrap_or_default().to_string();
    let ours = move |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
    };
    let mut w = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if e.map_or(true, |e| e.paths.is_empty() || e.paths.iter().any(&ours)) {
            wake.notify_one()
        }
    })
    .ok()?;
    w.watch(dir, RecursiveMode::NonRecursive).ok()?;
    Some(w)
}

struct Tailer<S> {
    sink: S,
    path: PathBuf,
    current: Option<Followed>,
    /// Files renamed or deleted under us, read until they have been quiet for [`GRACE`].
    draining: Vec<Followed>,
    recovered: bool,
}

impl<S: Sink> Tailer<S> {
    async fn tick(&mut self) -> Result<(), IngestError> {
        let read = self.read().await;
        let lag = self
            .current
            .iter()
            .chain(&self.draining)
            .map(Followed::lag)
            .sum();
        self.sink.lag(lag);
        read
    }

    async fn read(&mut self) -> Result<(), IngestError> {
        if !self.recovered {
            rotated::recover(&mut self.sink, &self.path).await?;
            self.recovered = true;
        }
        let on_disk = match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.dev(), m.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(cur) = self.current.take_if(|c| Some((c.dev, c.ino)) != on_disk) {
            self.draining.push(cur);
        }
        for f in &mut self.draining {
            match f.read(&mut self.sink).await {
                Ok(_) => {}
                Err(IngestError::Io(e)) => {
                    tracing::warn!(error = %e, "cannot read a rotated access log; leaving it");
                    f.unreadable = true;
                }
                Err(e) => return Err(e),
            }
        }
        self.draining
            .retain(|f| !f.unreadable && f.last_growth.elapsed() < GRACE);
        if on_disk.is_none() {
            return Ok(());
        }
        if self.current.is_none() {
            match File::open(&self.path) {
                Ok(file) => self.current = Some(Followed::new(file, &self.path)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        let cur = self.current.as_mut().expect("opened above");
        if cur.read(&mut self.sink).await? {
            // Replaced in place (copytruncate): a copy may hold what we had not read yet.
            rotated::recover(&mut self.sink, &self.path).await?;
        }
        Ok(())
    }
}

/// An open log file and how far it has been stored.
struct Followed {
    file: File,
    path: String,
    dev: u64,
    ino: u64,
    source: Option<Source>,
    position: u64,
    size: u64,
    last_growth: Instant,
    unreadable: bool,
}

impl Followed {
    fn new(file: File, path: &Path) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            file,
            path: super::source::absolute(path),
            dev: meta.dev(),
            ino: meta.ino(),
            source: None,
            position: 0,
            size: 0,
            last_growth: Instant::now(),
            unreadable: false,
        })
    }

    /// Stores the complete lines added since the last call. Returns whether the content was
    /// replaced (the file was truncated and written anew) since then.
    async fn read(&mut self, sink: &mut dyn Sink) -> Result<bool, IngestError> {
        let size = self.file.metadata()?.len();
        let mut replaced = false;
        // The first line is looked at every time: a truncated file can regrow to the very
        // size it had between two looks.
        let fingerprint = fingerprint_of(&self.file)?;
        if fingerprint.as_ref() != self.source.as_ref().map(|s| &s.fingerprint) {
            replaced = self.source.is_some();
            self.position = 0;
            self.source = fingerprint.map(|fingerprint| Source {
                fingerprint,
                path: self.path.clone(),
                dev: self.dev,
                ino: self.ino,
            });
            if let Some(s) = &self.source {
                self.position = sink.position(&s.fingerprint).await?;
            }
        }
        if size != self.size {
            self.size = size;
            self.last_growth = Instant::now();
        }
        let Some(source) = &self.source else {
            return Ok(replaced);
        };
        while size > self.position {
            let mut reader = &self.file;
            reader.seek(SeekFrom::Start(self.position))?;
            let mut same = SameContent(&self.file, &source.fingerprint);
            match ingest(sink, source, &mut reader, self.position, &mut same).await? {
                Outcome::End(p) if p.position == self.position => break,
                Outcome::End(p) => self.position = p.position,
                Outcome::Moved(_, at) => self.position = at,
            }
        }
        Ok(replaced)
    }
}

impl Followed {
    /// Bytes written and not stored yet.
    fn lag(&self) -> u64 {
        let size = self.file.metadata().map_or(self.size, |m| m.len());
        size.saturating_sub(self.position)
    }
}

fn fingerprint_of(file: &File) -> io::Result<Option<String>> {
    let mut head = vec![0; 4096];
    let n = file.read_at(&mut head, 0)?;
    head.truncate(n);
    Ok(batch::fingerprint(&head))
}

/// Tells [`ingest`] when the file no longer starts with the line it was named after.
struct SameContent<'a>(&'a File, &'a str);

impl Watch for SameContent<'_> {
    fn unchanged(&mut self) -> bool {
        fingerprint_of(self.0).is_ok_and(|f| f.as_deref() == Some(self.1))
    }
}
