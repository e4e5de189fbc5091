//! The module graph, checked: no import cycle between top-level modules, and the HTTP layer
//! imported only by the composition root (`app`). Read from the sources, so a change that
//! breaks either fails the suite.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Top-level module → the top-level modules it names through `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let tops: BTreeSet<String> = files.iter().filter_map(|f| top_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(top) = top_of(&src, f) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        let deps = graph.entry(top.clone()).or_default();
        for used in crate_paths(&text) {
            if used != top && tops.contains(&used) {
                deps.insert(used);
            }
        }
    }
    graph
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/logs/query/page.rs` → `logs`; `lib.rs` and `main.rs` are no module.
fn top_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "architecture")).then(|| name.to_string())
}

/// The first segment of every path a file names after `crate::`, braces included
/// (`use crate::{a::b, c};` names `a` and `c`). Comments are left out.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's first level: after `{` or a `,` at depth 0.
            let (mut depth, mut start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(word(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(word(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(word(rest));
        }
    }
    out.remove("");
    out
}

fn word(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph();
    // Depth-first search for a back edge, reporting the cycle it closes.
    fn visit<'a>(
        g: &'a BTreeMap<String, BTreeSet<String>>,
        node: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in g.keys() {
        if let Some(cycle) = visit(&g, node, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}\n{g:#?}", cycle.join(" -> "));
        }
    }
}

#[test]
fn only_the_composition_root_imports_the_http_layer() {
    let g = graph();
    let importers: Vec<&String> = g
        .iter()
        .filter(|(m, deps)| deps.contains("http") && m.as_str() != "app")
        .map(|(m, _)| m)
        .collect();
    assert!(
        importers.is_empty(),
        "domain modules import the HTTP layer: {importers:?}"
    );
}

#[test]
fn the_graph_reader_reads_nested_groups() {
    let names = crate_paths(
        "use crate::{\n    a::{b, c::D},\n    e, // crate::zz\n    f::g,\n};\nlet x = crate::h::i();",
    );
    assert_eq!(names, ["a", "e", "f", "h"].map(String::from).into());
}
