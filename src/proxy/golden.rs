//! Golden-file tests for rendering: each file under `tests/golden/<proxy>/` holds an input
//! (settings and sites as JSON), a line `----`, and the expected output. Run with
//! `UPDATE_GOLDEN=1` to rewrite the expected parts after a deliberate template change.

use std::path::PathBuf;

/// Runs `render` on every golden file of `proxy` and compares; returns the failures.
pub fn check_all(proxy: &str, render: impl Fn(&serde_json::Value) -> String) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(proxy);
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("golden file");
        let (input, expected) = text.split_once("\n----\n").unwrap_or((&text, ""));
        let input_json: serde_json::Value = serde_json::from_str(input)
            .unwrap_or_else(|e| panic!("{}: input is not JSON: {e}", path.display()));
        let actual = render(&input_json);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, format!("{input}\n----\n{actual}")).expect("writing golden file");
        } else if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                path.display()
            ));
        }
    }
    failures
}
