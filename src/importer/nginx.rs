//! An nginx config read with proxyhub's nginx tokenizer into a tree of directives: `server`
//! blocks (at the top, or inside `http`) become vhosts, `upstream` blocks of one server
//! resolve a `proxy_pass` to them; `listen`, `server_name` and the `ssl_*` certificate
//! directives are proxyhub's to render and are dropped. `include` lines are listed (the
//! command line inlines the files they name before sending the text).

use std::collections::BTreeMap;

use super::Read;
use crate::proxy::nginx::conf::{self, Tok};

pub use super::include::gather;

/// A directive and, for a block, what it holds.
#[derive(Debug)]
struct Node {
    words: Vec<String>,
    line: usize,
    block: Option<Vec<Node>>,
}

/// A block being read: its directives so far, and its own words and line (none at the top).
type Open = (Vec<Node>, Option<(Vec<String>, usize)>);

fn tree(tokens: &[conf::Token]) -> Result<Vec<Node>, String> {
    let mut stack: Vec<Open> = vec![(Vec::new(), None)];
    let mut words: Vec<String> = Vec::new();
    let mut line = 0;
    for t in tokens {
        match &t.tok {
            Tok::Word { text, .. } => {
                if words.is_empty() {
                    line = t.line;
                }
                words.push(text.clone());
            }
            Tok::End => {
                if words.is_empty() {
                    return Err(format!("line {}: unexpected ';'", t.line));
                }
                let node = Node {
                    words: std::mem::take(&mut words),
                    line,
                    block: None,
                };
                stack.last_mut().expect("the top level").0.push(node);
            }
            Tok::Open => {
                if words.is_empty() {
                    return Err(format!("line {}: unexpected '{{'", t.line));
                }
                stack.push((Vec::new(), Some((std::mem::take(&mut words), line))));
            }
            Tok::Close => {
                let (children, head) = stack.pop().expect("the top level");
                let Some((head, at)) = head else {
                    return Err(format!("line {}: unexpected '}}'", t.line));
                };
                let node = Node {
                    words: head,
                    line: at,
                    block: Some(children),
                };
                stack.last_mut().ok_or("unbalanced braces")?.0.push(node);
            }
        }
    }
    if stack.len() != 1 || !words.is_empty() {
        return Err("the config ends inside a block or a directive".into());
    }
    Ok(stack.pop().map(|(n, _)| n).unwrap_or_default())
}

/// Reads an nginx config (a whole `nginx.conf`, or files of `server` blocks).
pub fn read(src: &str) -> Result<Read, String> {
    let nodes = tree(&conf::tokenize(src)?)?;
    let mut out = Read::default();
    let mut upstreams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    collect_upstreams(&nodes, &mut upstreams);
    walk(&nodes, &upstreams, &mut out);
    Ok(out)
}

fn collect_upstreams(nodes: &[Node], into: &mut BTreeMap<String, Vec<String>>) {
    for n in nodes {
        match (n.words.first().map(String::as_str), &n.block) {
            (Some("upstream"), Some(children)) if n.words.len() == 2 => {
                let servers = children
                    .iter()
                    .filter(|c| c.words.first().map(String::as_str) == Some("server"))
                    .filter_map(|c| c.words.get(1).cloned())
                    .collect();
                into.insert(n.words[1].clone(), servers);
            }
            (Some("http"), Some(children)) => collect_upstreams(children, into),
            _ => {}
        }
    }
}

fn walk(nodes: &[Node], upstreams: &BTreeMap<String, Vec<String>>, out: &mut Read) {
    for n in nodes {
        match (n.words.first().map(String::as_str), &n.block) {
            (Some("http"), Some(children)) => walk(children, upstreams, out),
            (Some("server"), Some(children)) => server(children, n.line, upstreams, out),
            (Some("include"), None) => out.skip(
                n.words.join(" "),
                n.line,
                "include lines are not read here: `proxyhub import nginx` inlines the files they name",
            ),
            (Some("upstream"), Some(_)) => {}
            (
                Some(
                    "events" | "user" | "worker_processes" | "pid" | "error_log" | "access_log"
                    | "log_format" | "sendfile" | "keepalive_timeout" | "types" | "default_type",
                ),
                _,
            ) => {}
            (Some(other), _) => out.skip(other, n.line, "only server blocks are imported"),
            (None, _) => {}
        }
    }
}

/// Directives proxyhub renders itself (listeners, names, certificates): dropped.
fn rendered_by_proxyhub(name: &str) -> bool {
    matches!(name, "listen" | "server_name") || name.starts_with("ssl_")
}

fn server(
    children: &[Node],
    line: usize,
    upstreams: &BTreeMap<String, Vec<String>>,
    out: &mut Read,
) {
    let names: Vec<String> = children
        .iter()
        .filter(|c| c.words.first().map(String::as_str) == Some("server_name"))
        .flat_map(|c| c.words[1..].iter().cloned())
        .collect();
    let mut usable = Vec::new();
    for name in &names {
        if name == "_" || name.is_empty() {
            continue;
        }
        if name.starts_with('~') || name.starts_with('.') || name.contains('$') {
            out.skip(
                name.clone(),
                line,
                "regular-expression, leading-dot and variable server names are not imported",
            );
            continue;
        }
        usable.push(name.to_ascii_lowercase());
    }
    if usable.is_empty() {
        out.skip(
            format!("server at line {line}"),
            line,
            "a server without a server name is not imported",
        );
        return;
    }
    let body: Vec<&Node> = children
        .iter()
        .filter(|c| !c.words.first().is_some_and(|w| rendered_by_proxyhub(w)))
        .collect();
    if let [only] = body.as_slice() {
        let redirect = only.block.is_none()
            && only.words.len() == 3
            && only.words[0] == "return"
            && matches!(only.words[1].as_str(), "301" | "302" | "307" | "308")
            && only.words[2].starts_with("https://");
        if redirect {
            out.skip(
                usable.join(" "),
                line,
                "a redirect to HTTPS: proxyhub's TLS setting (PROXYHUB_TLS) does that; the HTTPS server is imported",
            );
            return;
        }
        if let Some(up) = lone_proxy_pass(only, upstreams) {
            out.add(&usable, None, Some(up), line);
            return;
        }
    }
    if body.is_empty() {
        out.skip(
            usable.join(" "),
            line,
            "the server block has nothing but listeners and names",
        );
        return;
    }
    let mut text = String::new();
    for n in &body {
        write(n, 0, &mut text);
    }
    out.add(&usable, Some(text.trim_end().to_string()), None, line);
}

/// `location / { proxy_pass http://x; }` and nothing else: the upstream (an `upstream` block
/// of one server stands for that server).
fn lone_proxy_pass(n: &Node, upstreams: &BTreeMap<String, Vec<String>>) -> Option<String> {
    if n.words != ["location", "/"] {
        return None;
    }
    let [pass] = n.block.as_deref()? else {
        return None;
    };
    if pass.block.is_some() || pass.words.len() != 2 || pass.words[0] != "proxy_pass" {
        return None;
    }
    let target = pass.words[1].trim_end_matches('/');
    let (scheme, host) = target.split_once("://")?;
    if host.contains('/') || host.contains('$') {
        return None;
    }
    match upstreams.get(host) {
        Some(servers) if servers.len() == 1 => Some(format!("{scheme}://{}", servers[0])),
        Some(_) => None,
        None => Some(format!("{scheme}://{host}")),
    }
}

/// A directive written back as nginx text, quoting words that need it.
fn write(n: &Node, depth: usize, out: &mut String) {
    out.push_str(&"    ".repeat(depth));
    let words: Vec<String> = n.words.iter().map(|w| quote(w)).collect();
    out.push_str(&words.join(" "));
    match &n.block {
        None => out.push_str(";\n"),
        Some(children) => {
            out.push_str(" {\n");
            for c in children {
                write(c, depth + 1, out);
            }
            out.push_str(&"    ".repeat(depth));
            out.push_str("}\n");
        }
    }
}

fn quote(w: &str) -> String {
    let plain = !w.is_empty()
        && !w
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '{' | '}' | '\\' | '#'));
    if plain {
        w.to_string()
    } else {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn servers_become_vhosts_upstreams_resolve_and_the_rest_is_listed() {
        let src = r#"
user www-data;
events { worker_connections 768; }
http {
    include /etc/nginx/mime.types;
    upstream app_backend { server 10.0.0.5:8080; }
    upstream pool { server 10.0.0.7:80; server 10.0.0.8:80; }
    server {
        listen 80;
        server_name shop.example.com www.shop.example.com;
        return 301 https://$host$request_uri;
    }
    server {
        listen 443 ssl;
        server_name shop.example.com www.shop.example.com;
        location / { proxy_pass http://app_backend; }
    }
    server {
        listen 443 ssl;
        server_name api.example.com;
        ssl_certificate /etc/ssl/api.pem;
        location /v1/ { proxy_pass http://10.0.0.6:9000; }
        add_header X-Served "by nginx";
    }
    server { listen 80 default_server; server_name _; return 444; }
}
"#;
        let read = super::read(src).unwrap();
        let got: Vec<(&str, Option<&str>, Option<&str>)> = read
            .found
            .iter()
            .map(|f| {
                (
                    f.spec.domain.as_str(),
                    f.spec.upstream.as_deref(),
                    f.spec.config.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("shop.example.com", Some("http://10.0.0.5:8080"), None),
                ("www.shop.example.com", Some("http://10.0.0.5:8080"), None),
                (
                    "api.example.com",
                    None,
                    Some("location /v1/ {\n    proxy_pass http://10.0.0.6:9000;\n}\nadd_header X-Served \"by nginx\";")
                ),
            ]
        );
        let skipped: Vec<&str> = read.skipped.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "include /etc/nginx/mime.types",
                "shop.example.com www.shop.example.com",
                "server at line 25"
            ]
        );
    }
}
