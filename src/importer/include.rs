//! An nginx config on disk gathered into one text for the importer: `include` lines
//! replaced by the files they name.

/// The text of an nginx config on disk, with its `include` lines replaced by the files they
/// name (a `*` in the last part of the path matches as nginx's glob does; relative paths
/// from the including file's directory). A directory is all its `*.conf` files, by name.
pub fn gather(path: &std::path::Path) -> Result<String, String> {
    if path.is_dir() {
        let mut text = String::new();
        for file in matching(path, "*.conf")? {
            text.push_str(&gather_file(&file, 0)?);
            text.push('\n');
        }
        return Ok(text);
    }
    gather_file(path, 0)
}

fn gather_file(path: &std::path::Path, depth: usize) -> Result<String, String> {
    if depth > 10 {
        return Err(format!(
            "{}: includes nested more than 10 deep",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let included = line
            .trim()
            .strip_prefix("include")
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .and_then(|rest| rest.trim().strip_suffix(';'))
            .map(str::trim);
        match included {
            Some(target) if !target.contains(char::is_whitespace) => {
                let target = dir.join(target);
                let (parent, pattern) = (
                    target.parent().unwrap_or(dir).to_path_buf(),
                    target
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
                let files = matching(&parent, &pattern).unwrap_or_default();
                if files.is_empty() {
                    out.push_str(line);
                    out.push('\n');
                }
                for f in files {
                    out.push_str(&gather_file(&f, depth + 1)?);
                    out.push('\n');
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The files of `dir` whose names match `pattern` (`*` for any run of characters), by name.
fn matching(dir: &std::path::Path, pattern: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
    let exact = !pattern.contains('*');
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if exact {
                name == pattern
            } else {
                name.len() >= prefix.len() + suffix.len()
                    && name.starts_with(prefix)
                    && name.ends_with(suffix)
            }
        })
        .collect();
    files.sort();
    Ok(files)
}
