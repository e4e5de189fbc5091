//! A Caddyfile read with proxyhub's port of Caddy's lexer: the global options block, named
//! snippets and `import` lines are left out (with the reason); each site block's addresses
//! give the names, its body the snippet (written back from the tokens, a directive per line)
//! or, for a lone `reverse_proxy <one upstream>`, the upstream.

use super::Read;
use crate::proxy::caddy::lexer::{self, Token};

/// Reads a Caddyfile (heredocs as Caddy 2.7+ reads them).
pub fn read(src: &str) -> Result<Read, String> {
    let tokens =
        lexer::tokenize(src, true).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let mut out = Read::default();
    let mut i = 0;
    let open = |t: &Token| t.quote.is_none() && t.text == "{";
    let close = |t: &Token| t.quote.is_none() && t.text == "}";
    while i < tokens.len() {
        let t = &tokens[i];
        if i == 0 && open(t) {
            let end = block_end(&tokens, i)?;
            out.skip(
                "global options",
                t.line,
                "global options are proxyhub's to set (PROXYHUB_* settings)",
            );
            i = end + 1;
            continue;
        }
        if t.quote.is_none() && t.text == "import" {
            let line = t.line;
            let words: Vec<&str> = tokens[i..]
                .iter()
                .take_while(|x| x.line == line)
                .map(|x| x.text.as_str())
                .collect();
            out.skip(
                words.join(" "),
                line,
                "import lines are not imported: put what they include in the file",
            );
            i += words.len();
            continue;
        }
        if t.quote.is_none() && t.text.starts_with('(') && t.text.ends_with(')') {
            let line = t.line;
            if tokens.get(i + 1).is_some_and(open) {
                let end = block_end(&tokens, i + 1)?;
                out.skip(
                    t.text.clone(),
                    line,
                    "named snippets are not imported (nor the imports that use them)",
                );
                i = end + 1;
            } else {
                i += 1;
            }
            continue;
        }
        // A site: its addresses up to `{` on the same line (or, without braces, the rest of
        // the file is its body).
        let line = t.line;
        let mut addresses = Vec::new();
        // Addresses run to the end of the line, or on to the next after a trailing comma.
        let mut until = line;
        while i < tokens.len() && tokens[i].line <= until && !open(&tokens[i]) {
            if tokens[i].text.ends_with(',') {
                until = tokens[i].line + 1;
            }
            addresses.extend(
                tokens[i]
                    .text
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string),
            );
            i += 1;
        }
        let body = if i < tokens.len() && open(&tokens[i]) {
            let end = block_end(&tokens, i)?;
            let body = &tokens[i + 1..end];
            i = end + 1;
            body
        } else {
            let body = &tokens[i..];
            i = tokens.len();
            body
        };
        if body.iter().any(close) && !body.iter().any(open) {
            return Err(format!(
                "line {line}: a '}}' closes a block that was not opened"
            ));
        }
        site(&mut out, &addresses, body, line);
    }
    Ok(out)
}

/// The index of the `}` closing the `{` at `at`.
fn block_end(tokens: &[Token], at: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(at) {
        if t.quote.is_some() {
            continue;
        }
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
    }
    Err(format!("line {}: a '{{' is never closed", tokens[at].line))
}

fn site(out: &mut Read, addresses: &[String], body: &[Token], line: usize) {
    let mut names = Vec::new();
    for a in addresses {
        match host(a) {
            Ok(h) => names.push(h),
            Err(why) => out.skip(a.clone(), line, why),
        }
    }
    if names.is_empty() {
        return;
    }
    if body.iter().any(|t| t.quote == Some('<')) {
        for n in &names {
            out.skip(
                n.clone(),
                line,
                "heredocs are not imported: write the text inline",
            );
        }
        return;
    }
    let lone_proxy = body.len() == 2
        && body[0].quote.is_none()
        && body[0].text == "reverse_proxy"
        && body[0].line == body[1].line
        && body[1].quote.is_none()
        && !body[1].text.starts_with('@')
        && body[1].text != "{";
    if lone_proxy {
        out.add(&names, None, Some(body[1].text.clone()), line);
    } else if body.is_empty() {
        for n in &names {
            out.skip(n.clone(), line, "the site block is empty");
        }
    } else {
        out.add(&names, Some(write(body)), None, line);
    }
}

/// The host name of a site address (`https://a.example.com:443`, `*.example.com`); refused:
/// addresses without one, with a path, or with a placeholder.
fn host(address: &str) -> Result<String, String> {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address);
    if rest.contains('/') {
        return Err(
            "addresses with a path are not imported: match the path inside the site".into(),
        );
    }
    if rest.contains('{') {
        return Err("addresses with placeholders are not imported".into());
    }
    let name = match rest.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => rest,
    };
    if name.is_empty() || name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() {
        return Err("the address has no host name (a port or an IP address alone)".into());
    }
    Ok(name.to_ascii_lowercase())
}

/// Tokens written back as Caddyfile text: a line per source line, indented by block depth,
/// quoted words quoted again.
fn write(body: &[Token]) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut line = 0;
    for t in body {
        let closing = t.quote.is_none() && t.text == "}";
        if t.line != line || closing && !out.ends_with('\n') && !out.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            if closing {
                depth = depth.saturating_sub(1);
            }
            out.push_str(&"\t".repeat(depth));
            line = t.line;
        } else {
            if closing {
                depth = depth.saturating_sub(1);
            }
            out.push(' ');
        }
        match t.quote {
            Some('`') => {
                out.push('`');
                out.push_str(&t.text);
                out.push('`');
            }
            Some(_) => {
                out.push('"');
                out.push_str(&t.text.replace('\\', "\\\\").replace('"', "\\\""));
                out.push('"');
            }
            None => out.push_str(&t.text),
        }
        if t.quote.is_none() && t.text == "{" {
            depth += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_become_vhosts_and_the_rest_is_listed() {
        let src = r#"{
	email admin@example.com
}
(common) {
	encode gzip
}
import common

app.example.com, www.app.example.com {
	reverse_proxy 10.0.0.5:8080
}

# An API with matchers
api.example.com:443 {
	@v1 path /v1/*
	handle @v1 {
		reverse_proxy 10.0.0.6:9000
	}
	header X-Served "by caddy"
}
*.example.org {
	respond "wildcard" 200
}
:8080 {
	respond "port only"
}
"#;
        let read = read(src).unwrap();
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
                ("app.example.com", Some("10.0.0.5:8080"), None),
                ("www.app.example.com", Some("10.0.0.5:8080"), None),
                (
                    "api.example.com",
                    None,
                    Some("@v1 path /v1/*\nhandle @v1 {\n\treverse_proxy 10.0.0.6:9000\n}\nheader X-Served \"by caddy\"")
                ),
                ("*.example.org", None, Some("respond \"wildcard\" 200")),
            ]
        );
        let skipped: Vec<&str> = read.skipped.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(
            skipped,
            ["global options", "(common)", "import common", ":8080"]
        );
    }
}
