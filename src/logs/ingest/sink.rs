//! Where the lines a reader finds go: proxyhub's own store ([`Local`]), or a hub that
//! proxyhub logs ship sends them to (`logs/ship/`). Either way a chunk of complete lines is
//! stored together with the position that covers it, or not at all, and a position that
//! moved elsewhere is said, never overwritten.

use async_trait::async_trait;

use super::batch::{IngestError, Intake};
use crate::{
    db::Db,
    logs::{
        parse::{parse_line, Entry},
        store::{
            files::{self, Source},
            write::{self, Batch, Committed, Origin},
        },
    },
};

/// Bytes `from..to` of a source: `lines`, complete lines each ending in `\n` (what comes
/// before them in the range is the end of an over-long line, already counted), and
/// `skipped` lines known unreadable already (an over-long line).
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub from: u64,
    pub to: u64,
    pub lines: &'a [u8],
    pub skipped: u64,
}

impl<'a> Chunk<'a> {
    /// Each line, without its `\n`. (Found with `memchr`: a byte-at-a-time split took an
    /// eighth of an import's time.)
    pub fn each_line(&self) -> impl Iterator<Item = &'a [u8]> {
        let mut rest: &'a [u8] = self.lines;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            Some(line)
        })
    }
}

/// What [`Sink::store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored: the position is the chunk's end; `rows` requests, `skipped` lines.
    Yes { rows: u64, skipped: u64 },
    /// The position was not the chunk's start (another reader, or an earlier try, moved
    /// it): nothing was stored; go on from this position.
    Moved(u64),
}

/// Where the lines of a followed file go.
#[async_trait]
pub trait Sink: Send {
    /// How far the file named `fingerprint` has been stored (0 for a file never seen).
    async fn position(&mut self, fingerprint: &str) -> Result<u64, IngestError>;
    /// Notes that the log at `path` is followed; returns since when (epoch seconds): a
    /// rotated file the store holds nothing of is finished when written after it.
    async fn follow(&mut self, path: &str) -> Result<i64, IngestError>;
    /// Stores `chunk` of `source` with the position that covers it, all or nothing.
    async fn store(&mut self, source: &Source, chunk: Chunk<'_>) -> Result<Stored, IngestError>;
    /// Bytes read per chunk at most; a longer line is skipped (and counted).
    fn chunk_size(&self) -> usize {
        super::batch::CHUNK
    }
    /// Bytes of the followed files not stored yet (after each look at them).
    fn lag(&self, _bytes: u64) {}
    /// Before each look at the files.
    fn tick(&mut self) {}
}

/// proxyhub's own store: the lines parsed here and committed with the file's position.
pub struct Local {
    pub db: Db,
    pub intake: Intake,
}

impl Local {
    pub fn new(db: Db, intake: Intake) -> Self {
        Self { db, intake }
    }
}

#[async_trait]
impl Sink for Local {
    async fn position(&mut self, fingerprint: &str) -> Result<u64, IngestError> {
        Ok(files::position(&self.db, fingerprint).await?)
    }

    async fn follow(&mut self, path: &str) -> Result<i64, IngestError> {
        Ok(files::follow(&self.db, path).await?)
    }

    async fn store(&mut self, source: &Source, chunk: Chunk<'_>) -> Result<Stored, IngestError> {
        Ok(commit(&self.db, &mut self.intake, Origin::Local, source, chunk).await?)
    }

    fn lag(&self, bytes: u64) {
        if let Some(counting) = &self.intake.counting {
            counting.lag(bytes);
        }
    }

    fn tick(&mut self) {
        // A day's secret for hashed addresses goes with its day, requests or not.
        self.intake.addresses.forget_past_days();
    }
}

/// Parses `chunk`, stores its requests' client addresses as `intake` says, and commits them
/// with `origin`'s position of `source`; counts what was committed.
pub async fn commit(
    db: &Db,
    intake: &mut Intake,
    origin: Origin,
    source: &Source,
    chunk: Chunk<'_>,
) -> Result<Stored, sqlx::Error> {
    let mut entries: Vec<Entry> = Vec::with_capacity(chunk.lines.len() / 256 + 1);
    let mut skipped = chunk.skipped;
    for (i, line) in chunk.each_line().enumerate() {
        // A batch is up to ~70,000 lines (a tenth of a second or more of CPU): the requests
        // waiting on this thread of the runtime get their turn every few thousand.
        if i % 4096 == 4095 {
            tokio::task::yield_now().await;
        }
        match parse_line(line) {
            // A NUL (`\u0000` in the JSON) cannot be in PostgreSQL's text: such a host would
            // stop the batch, and every batch after it, forever.
            Ok(e) if e.domain.contains('\0') => skipped += 1,
            Ok(e) => entries.push(e),
            Err(_) => skipped += 1,
        }
    }
    intake.addresses.apply(&mut entries);
    let batch = Batch {
        from: chunk.from,
        to: chunk.to,
        entries: &entries,
        skipped,
    };
    match write::commit(db, &mut intake.domains, origin, source, &batch).await? {
        Committed::Moved(at) => Ok(Stored::Moved(at)),
        Committed::Yes(tallies) => {
            let rows = entries.len() as u64;
            if let Some(counting) = &mut intake.counting {
                counting.committed(db, &tallies, rows, skipped).await;
            }
            Ok(Stored::Yes { rows, skipped })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Chunk;

    fn lines(text: &[u8]) -> Vec<&[u8]> {
        let chunk = Chunk {
            from: 0,
            to: text.len() as u64,
            lines: text,
            skipped: 0,
        };
        chunk.each_line().collect()
    }

    #[test]
    fn each_line_is_given_without_its_newline_and_empty_lines_are_kept() {
        assert!(lines(b"").is_empty());
        assert_eq!(lines(b"a\n"), [&b"a"[..]]);
        assert_eq!(lines(b"a\n\nbc\n"), [&b"a"[..], b"", b"bc"]);
        assert_eq!(lines(b"a\nbc"), [&b"a"[..], b"bc"]);
        assert_eq!(lines(b"\n"), [&b""[..]]);
    }
}
