//! Finishing files that moved away while nobody was reading them: after a restart, Caddy may
//! have renamed (and gzipped) the file proxyhub was reading; after a copytruncate, the copy
//! holds the lines the truncation took away.

use std::{io, os::unix::fs::MetadataExt, path::Path};

use super::{
    batch::{ingest, IngestError, Outcome, Quiet},
    sink::Sink,
    source,
};

/// Reads, from where proxyhub stopped, every sibling of `followed` (`access-<time>.log[.gz]`,
/// `access.log.1[.gz]`, ...) that holds lines it has not stored: a known file it had not
/// finished, or a file written since `followed` has been followed (older files are for
/// `proxyhub logs import`). Returns the rows stored.
pub async fn recover(sink: &mut dyn Sink, followed: &Path) -> Result<u64, IngestError> {
    let since = sink.follow(&source::absolute(followed)).await?;
    let mut rows = 0;
    for (path, mtime) in siblings(followed)? {
        // One unreadable file (a corrupt or half-written .gz) must not stop the others.
        match finish(sink, &path, mtime >= since).await {
            Ok(n) => rows += n,
            Err(IngestError::Io(e)) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read a rotated log")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(rows)
}

/// Stores what `path` holds beyond its known position; a file never seen only if `new`.
async fn finish(sink: &mut dyn Sink, path: &Path, new: bool) -> Result<u64, IngestError> {
    let Some(mut opened) = source::open(path)? else {
        return Ok(0);
    };
    // A file is known once a batch of it was stored (its position is then past 0).
    let known = match sink.position(&opened.source.fingerprint).await? {
        0 => None,
        at => Some(at),
    };
    let start = match known {
        Some(at) if finished(&opened, path, at) => return Ok(0),
        Some(at) => at,
        None if new => 0,
        None => return Ok(0),
    };
    tracing::info!(file = %path.display(), from = start, "reading the rest of a rotated log");
    opened.skip_to(start)?;
    let (Outcome::End(p) | Outcome::Moved(p, _)) =
        ingest(sink, &opened.source, &mut opened.reader, start, &mut Quiet).await?;
    Ok(p.rows)
}

fn finished(opened: &source::Opened, path: &Path, position: u64) -> bool {
    if opened.gzipped {
        source::gzip_content_size(path).is_ok_and(|size| size == position % (1 << 32))
    } else {
        position >= opened.size
    }
}

/// Regular files next to `followed` whose name starts like its own, oldest first.
fn siblings(followed: &Path) -> io::Result<Vec<(std::path::PathBuf, i64)>> {
    let name = followed.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.split('.').next().unwrap_or_default().to_string();
    let dir = match followed.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let other = entry.file_name().to_string_lossy().to_string();
        let meta = entry.metadata()?;
        if other != name && other.starts_with(&stem) && meta.is_file() {
            found.push((entry.path(), meta.mtime()));
        }
    }
    found.sort_by_key(|(_, mtime)| *mtime);
    Ok(found)
}
