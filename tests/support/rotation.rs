//! Rotating an access log the way Caddy does at `roll_size`.

use std::{io::Write, path::Path};

/// Renames `log` to `access-<stamp>.log` next to it, then (with `gzip`) compresses the
/// renamed file to `access-<stamp>.log.gz` and removes it.
pub fn rotate(log: &Path, stamp: &str, gzip: bool) {
    let rotated = log.with_file_name(format!("access-{stamp}.log"));
    std::fs::rename(log, &rotated).unwrap();
    if gzip {
        let data = std::fs::read(&rotated).unwrap();
        let out = std::fs::File::create(rotated.with_extension("log.gz")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        gz.finish().unwrap();
        std::fs::remove_file(&rotated).unwrap();
    }
}
