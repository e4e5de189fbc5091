//! Reading a log from a position to its end: complete lines are parsed and committed in
//! batches with the position that covers them; an unfinished last line is left for later.

use std::io::{self, Read};

use super::{
    addresses::Addresses,
    counts::Counting,
    sink::{Chunk, Sink, Stored},
};
use crate::logs::store::{domains::Domains, files::Source};

/// Bytes read per batch at most (about 70,000 Caddy lines); one transaction each. Big
/// batches write each hot index page once for many rows.
pub const CHUNK: usize = 32 << 20;
/// How much of a file's start names it (its first line, or this many bytes of a longer one).
const HEAD: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("reading the log: {0}")]
    Io(#[from] io::Error),
    #[error("storing log rows: {0}")]
    Db(#[from] sqlx::Error),
    /// The hub `proxyhub logs ship` sends to refused a batch (it retries what may pass).
    #[error("the hub: {0}")]
    Hub(String),
}

/// Counts of one [`ingest`] call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The source's position now (bytes of complete lines consumed).
    pub position: u64,
    pub rows: u64,
    pub skipped: u64,
}

/// How an [`ingest`] call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The reader is exhausted; only an unfinished last line (if any) is left.
    End(Progress),
    /// The stored position moved under us (another reader took these lines): resume there.
    Moved(Progress, u64),
}

/// The name of a file's content: a hash of its first line, or `None` until that line is
/// complete. It survives renames, copies and compression, and changes when a file is
/// truncated and written anew.
pub fn fingerprint(head: &[u8]) -> Option<String> {
    let end = match head.iter().take(HEAD).position(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if head.len() >= HEAD => HEAD,
        None => return None,
    };
    Some(crate::digest::sha256_hex(&head[..end]))
}

/// Reads the first bytes of `reader` (enough for [`fingerprint`]).
pub fn read_head(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD);
    reader.by_ref().take(HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// What [`ingest`] reports to, and asks of, its caller.
pub trait Watch: Send {
    /// A batch was committed.
    fn committed(&mut self, _progress: &Progress) {}
    /// Whether the file still holds the same content (asked after each read, before storing
    /// what was read: a file truncated meanwhile must not be stored under its old name).
    fn unchanged(&mut self) -> bool {
        true
    }
}

/// What the batches of one reader share: the domains already stored, how client addresses
/// are stored, and where the counts go (nowhere for `proxyhub logs import`).
#[derive(Default)]
pub struct Intake {
    pub domains: Domains,
    pub addresses: Addresses,
    pub counting: Option<Counting>,
}

impl Intake {
    pub fn new(addresses: Addresses, counting: Option<Counting>) -> Self {
        Self {
            domains: Domains::default(),
            addresses,
            counting,
        }
    }
}

/// Nothing to report, nothing that can change.
pub struct Quiet;
impl Watch for Quiet {}

/// Reads `reader`, which stands at byte `start` of `source`, to its end, and hands its
/// complete lines to `sink` a chunk at a time.
pub async fn ingest(
    sink: &mut dyn Sink,
    source: &Source,
    reader: &mut (dyn Read + Send),
    start: u64,
    watch: &mut dyn Watch,
) -> Result<Outcome, IngestError> {
    let size = sink.chunk_size();
    let mut progress = Progress {
        position: start,
        ..Progress::default()
    };
    let mut buf = Spare::take();
    // Inside an over-long line (longer than a chunk): already counted, dropped to its end.
    let mut discarding = false;
    loop {
        let filled = fill(reader, &mut buf, size)?;
        if !watch.unchanged() {
            return Ok(Outcome::End(progress));
        }
        let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else {
            if buf.len() < size {
                return Ok(Outcome::End(progress));
            }
            let skipped = u64::from(!discarding);
            discarding = true;
            let chunk = Chunk {
                from: progress.position,
                to: progress.position + buf.len() as u64,
                lines: &[],
                skipped,
            };
            if let Some(at) = save(sink, source, &mut progress, chunk).await? {
                return Ok(Outcome::Moved(progress, at));
            }
            buf.clear();
            continue;
        };
        let mut lines = &buf[..=last_nl];
        if std::mem::take(&mut discarding) {
            let end = lines.iter().position(|&b| b == b'\n').unwrap_or(last_nl);
            lines = &lines[end + 1..];
        }
        let chunk = Chunk {
            from: progress.position,
            to: progress.position + (last_nl + 1) as u64,
            lines,
            skipped: 0,
        };
        if let Some(at) = save(sink, source, &mut progress, chunk).await? {
            return Ok(Outcome::Moved(progress, at));
        }
        watch.committed(&progress);
        buf.drain(..=last_nl);
        if !filled && !buf.contains(&b'\n') {
            return Ok(Outcome::End(progress));
        }
    }
}

/// Stores a chunk; `Some(position)` when the position had moved elsewhere.
async fn save(
    sink: &mut dyn Sink,
    source: &Source,
    progress: &mut Progress,
    chunk: Chunk<'_>,
) -> Result<Option<u64>, IngestError> {
    match sink.store(source, chunk).await? {
        Stored::Moved(at) => Ok(Some(at)),
        Stored::Yes { rows, skipped } => {
            progress.position = chunk.to;
            progress.rows += rows;
            progress.skipped += skipped;
            Ok(None)
        }
    }
}

thread_local! {
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The buffer chunks are read into, kept on its thread for the next call while that call
/// filled at least half of it. A live tail reads ~17 MB every 0.7 s at 50,000 lines/s:
/// growing a new buffer each time, copied as it doubled, was a tenth of the tailing's CPU. A
/// quiet log's small reads let it go.
struct Spare {
    buf: Vec<u8>,
    most: usize,
}

impl Spare {
    fn take() -> Spare {
        Spare {
            buf: SPARE.take(),
            most: 0,
        }
    }
}

impl std::ops::Deref for Spare {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl std::ops::DerefMut for Spare {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        // What it held at most, seen before each change.
        self.most = self.most.max(self.buf.len());
        &mut self.buf
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        let most = self.most.max(self.buf.len());
        let mut buf = std::mem::take(&mut self.buf);
        if buf.capacity() <= 2 * most {
            buf.clear();
            SPARE.set(buf);
        }
    }
}

/// Reads until `buf` holds `size` bytes or the reader is exhausted; whether it is full.
fn fill(reader: &mut (dyn Read + Send), buf: &mut Vec<u8>, size: usize) -> io::Result<bool> {
    while buf.len() < size {
        let had = buf.len();
        let n = (&mut *reader).take((size - had) as u64).read_to_end(buf)?;
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_is_kept_while_reads_fill_it_and_let_go_after_a_small_one() {
        let spare = || SPARE.with(|s| s.replace(Vec::new())).capacity();
        let mut big = Spare::take();
        big.extend_from_slice(&[b'x'; 1 << 20]);
        big.clear();
        drop(big);
        let kept = spare();
        assert!(kept >= 1 << 20, "a full read's buffer is kept: {kept}");
        // Put back, then a small read takes it and lets it go.
        SPARE.set(Vec::with_capacity(kept));
        let mut small = Spare::take();
        assert!(small.capacity() >= 1 << 20, "the next read reuses it");
        small.extend_from_slice(b"one line\n");
        drop(small);
        assert_eq!(spare(), 0, "a quiet log's small read lets it go");
    }
}
