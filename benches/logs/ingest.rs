//! proxyhub's import against GoAccess, one workload at a time, on the same file.

use std::{path::Path, process::Command, time::Instant};

use proxyhub::logs::ingest::import;

use crate::{gen, store};

/// What one workload measured.
pub struct Compared {
    pub workload: gen::Workload,
    pub lines: u64,
    pub bytes_per_line: u64,
    pub ours: f64,
    pub goaccess: Option<f64>,
}

/// Writes `lines` lines of `workload` to a file in `dir`, imports them into a fresh SQLite
/// store (parsed, committed, then counted with SQL), and runs GoAccess on the same file.
pub async fn compare(dir: &Path, workload: gen::Workload, lines: u64, end: f64) -> Compared {
    let file = dir.join("access.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    std::io::copy(
        &mut gen::Lines::of(workload, lines, end, 86_400.0),
        &mut out,
    )
    .unwrap();
    drop(out);
    let bytes_per_line = std::fs::metadata(&file).unwrap().len() / lines.max(1);
    let path = dir.join("ingest.db");
    let db = store::fresh(&path).await;
    // Imported as proxyhub's log writers write: through their own pool.
    let writer = proxyhub::db::connect_writer(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let t = Instant::now();
    let report = import::import(
        &writer,
        std::slice::from_ref(&file),
        Default::default(),
        false,
    )
    .await
    .unwrap();
    let ours = lines as f64 / t.elapsed().as_secs_f64();
    assert_eq!(report.rows, lines, "every line stored");
    assert_eq!(store::queryable(&db).await, lines as i64);
    writer.close().await;
    db.close().await;
    let goaccess = goaccess(&file, dir, lines);
    let _ = std::fs::remove_file(&file);
    Compared {
        workload,
        lines,
        bytes_per_line,
        ours,
        goaccess,
    }
}

/// GoAccess's lines/s on `file` (`goaccess FILE --log-format=CADDY -o report.json`), if installed.
fn goaccess(file: &Path, dir: &Path, lines: u64) -> Option<f64> {
    let t = Instant::now();
    let out = Command::new("goaccess")
        .arg(file)
        .arg("--log-format=CADDY")
        .arg("-o")
        .arg(dir.join("report.json"))
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        println!("GoAccess failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(lines as f64 / secs)
}

/// The table of every workload.
pub fn print(all: &[Compared]) {
    println!("\n| ingest | lines | bytes/line | proxyhub lines/s | GoAccess lines/s | ratio |");
    println!("|---|---|---|---|---|---|");
    for c in all {
        let (theirs, ratio) = match c.goaccess {
            Some(g) => (format!("{g:.0}"), format!("{:.1}×", c.ours / g)),
            None => ("not installed".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {:.0} | {theirs} | {ratio} |",
            c.workload.name(),
            c.lines,
            c.bytes_per_line,
            c.ours
        );
    }
}
