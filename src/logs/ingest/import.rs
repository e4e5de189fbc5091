//! `proxyhub logs import FILE...`: existing logs (plain or gzipped) into the store, through
//! the same parser and batches as the tailer. A file is named by its first line, so
//! importing it again, or its rotated copy, stores nothing twice.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    time::Instant,
};

use indicatif::{ProgressBar, ProgressStyle};

use super::{
    addresses::Addresses,
    batch::{ingest, IngestError, Intake, Outcome, Progress, Watch},
    sink::{Local, Sink},
    source,
};
use crate::db::Db;

/// What an import did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    pub rows: u64,
    pub skipped: u64,
    /// Bytes that were stored before (an earlier import, or the tailer).
    pub already: u64,
    pub seconds: f64,
}

impl Report {
    pub fn lines_per_second(&self) -> f64 {
        (self.rows + self.skipped) as f64 / self.seconds.max(1e-9)
    }
}

/// Imports `files` in order, storing client addresses as `addresses` says; `progress` shows
/// a bar per file (only drawn on a terminal).
pub async fn import(
    db: &Db,
    files: &[PathBuf],
    addresses: Addresses,
    progress: bool,
) -> Result<Report, IngestError> {
    let started = Instant::now();
    let mut total = Report::default();
    let mut sink = Local::new(db.clone(), Intake::new(addresses, None));
    for path in files {
        let r = import_one(&mut sink, path, progress && std::io::stderr().is_terminal()).await?;
        if progress {
            println!(
                "{}: {} rows stored, {} lines skipped{}",
                path.display(),
                r.rows,
                r.skipped,
                if r.already > 0 {
                    format!(", {} bytes were already stored", r.already)
                } else {
                    String::new()
                }
            );
        }
        total.rows += r.rows;
        total.skipped += r.skipped;
        total.already += r.already;
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

async fn import_one(sink: &mut dyn Sink, path: &Path, bar: bool) -> Result<Report, IngestError> {
    let mut report = Report::default();
    let Some(first) = source::open(path)? else {
        return Ok(report); // no complete line: nothing to store
    };
    let size = first.size;
    let mut start = sink.position(&first.source.fingerprint).await?;
    report.already = start;
    let bar = if bar {
        let b = ProgressBar::new(if first.gzipped { 0 } else { size });
        b.set_style(
            ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("a valid template"),
        );
        b.set_message(path.display().to_string());
        b
    } else {
        ProgressBar::hidden()
    };
    let mut opened = Some(first);
    loop {
        let mut file = match opened.take() {
            Some(f) => f,
            None => source::open(path)?.expect("it had a first line"),
        };
        file.skip_to(start)?;
        bar.set_position(start);
        let outcome = ingest(
            sink,
            &file.source,
            &mut file.reader,
            start,
            &mut Bar(bar.clone()),
        )
        .await?;
        let (Outcome::End(p) | Outcome::Moved(p, _)) = outcome;
        report.rows += p.rows;
        report.skipped += p.skipped;
        match outcome {
            Outcome::End(_) => break,
            Outcome::Moved(_, at) => start = at,
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

struct Bar(ProgressBar);

impl Watch for Bar {
    fn committed(&mut self, p: &Progress) {
        self.0.set_position(p.position);
    }
}
