//! An nginx config on disk gathered into one text for the importer: `include` lines
//! replaced by the files they name.

/// The text of an nginx config on disk, with its `include` lines replaced by the files they
/// name (a `*` in the last part of the path matches as nginx's glob does; relative paths
/// from the including file's directory). A directory is all its `*.conf` files, by name.
pub fn gather(path: &std::path::Path) -> Result<String, String> {
    if path.is_dir() {
        // A whole config directory (its nginx.conf), or a directory of site files
        // (`sites-enabled/`: every file, by name).
        let main = path.join("nginx.conf");
        if main.is_file() {
            return gather_file(&main, path, 0);
        }
        let mut text = String::new();
        for file in matching(path, "*")? {
            text.push_str(&gather_file(&file, path, 0)?);
            text.push('\n');
        }
        return Ok(text);
    }
    let root = path.parent().unwrap_or(std::path::Path::new("."));
    gather_file(path, root, 0)
}

/// `root`: where relative include paths start (nginx's prefix: the main config's directory).
fn gather_file(
    path: &std::path::Path,
    root: &std::path::Path,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err(format!(
            "{}: includes nested more than 10 deep",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let included = line
            .trim()
            .strip_prefix("include")
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .and_then(|rest| rest.trim().strip_suffix(';'))
            .map(|t| t.trim().trim_matches(|c| c == '"' || c == '\''));
        match included {
            Some(target) if !target.contains(char::is_whitespace) => {
                let target = root.join(target);
                let (parent, pattern) = (
                    target.parent().unwrap_or(root).to_path_buf(),
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
                    out.push_str(&gather_file(&f, root, depth + 1)?);
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
