//! Opening a log file for reading, plain or gzipped, and naming it.

use std::{
    fs::File,
    io::{self, BufReader, Read, Seek, SeekFrom},
    os::unix::fs::MetadataExt,
    path::Path,
};

use flate2::read::MultiGzDecoder;

use super::batch;
use crate::logs::store::files::Source;

/// A file opened for reading from its start, with its name in the store.
pub struct Opened {
    pub source: Source,
    pub reader: Box<dyn Read + Send>,
    pub gzipped: bool,
    /// The file's size on disk (compressed size for gzip).
    pub size: u64,
}

/// Opens `path` (gzip is recognised by its magic bytes) and reads its first line to name it;
/// `Ok(None)` while the file has no complete first line.
pub fn open(path: &Path) -> io::Result<Option<Opened>> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut magic = [0u8; 2];
    let gzipped = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0))?;
    let mut reader: Box<dyn Read + Send> = if gzipped {
        Box::new(BufReader::new(MultiGzDecoder::new(BufReader::new(file))))
    } else {
        Box::new(file)
    };
    let head = batch::read_head(&mut reader)?;
    let Some(fingerprint) = batch::fingerprint(&head) else {
        return Ok(None);
    };
    let reader = Box::new(io::Cursor::new(head).chain(reader));
    Ok(Some(Opened {
        source: Source {
            fingerprint,
            path: absolute(path),
            dev: meta.dev(),
            ino: meta.ino(),
        },
        reader,
        gzipped,
        size: meta.len(),
    }))
}

impl Opened {
    /// Skips to byte `position` of the content (decompressing what lies before it).
    pub fn skip_to(&mut self, position: u64) -> io::Result<()> {
        let skipped = io::copy(&mut (&mut self.reader).take(position), &mut io::sink())?;
        if skipped < position {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than its stored position",
            ));
        }
        Ok(())
    }
}

/// The size of a gzip file's content as its trailer records it (modulo 4 GiB).
pub fn gzip_content_size(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::End(-4))?;
    let mut isize = [0u8; 4];
    file.read_exact(&mut isize)?;
    Ok(u64::from(u32::from_le_bytes(isize)))
}

pub fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
