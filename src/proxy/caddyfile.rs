//! Reading a Caddyfile snippet the way Caddy's lexer does, to refuse snippets that would
//! reach outside their own site block or read the host (see DESIGN.md's injection cases).

/// One token of a snippet.
#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub line: usize,
    pub quoted: bool,
}

/// Directives a snippet may not use anywhere: they read or write the host's files, open
/// listeners, run code, or change what is managed globally.
const DENIED: &[&str] = &[
    "import",
    "root",
    "file_server",
    "fs",
    "bind",
    "tls",
    "log",
    "storage",
    "templates",
    "php_fastcgi",
    "fastcgi",
    "acme_server",
    "pki",
    "invoke",
    "metrics",
    "admin",
    "dynamic",
];

/// Placeholders that would leak the host's environment or files into responses.
const DENIED_PLACEHOLDERS: &[&str] = &["{$", "{env.", "{file.", "{system."];

/// Splits a snippet into tokens: whitespace separates, `"..."` and `` `...` `` quote (only at
/// the start of a token, as in Caddy), `\"` escapes inside double quotes, `#` at the start of
/// a token comments out the rest of the line.
pub fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = src.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        if c == '\n' {
            line += 1;
            chars.next();
            continue;
        }
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            while chars.peek().is_some_and(|&c| c != '\n') {
                chars.next();
            }
            continue;
        }
        let start = line;
        let mut text = String::new();
        if c == '"' || c == '`' {
            chars.next();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                if ch == '\n' {
                    line += 1;
                }
                // As in Caddy: a backslash inside double quotes takes the next character
                // with it, whatever it is (`\"` is a quote, `\\` two backslashes).
                if c == '"' && ch == '\\' {
                    match chars.next() {
                        Some('"') => text.push('"'),
                        Some(next) => {
                            if next == '\n' {
                                line += 1;
                            }
                            text.push('\\');
                            text.push(next);
                        }
                        None => break,
                    }
                    continue;
                }
                if ch == c {
                    closed = true;
                    break;
                }
                text.push(ch);
            }
            if !closed {
                return Err(format!("line {start}: unterminated quote"));
            }
            tokens.push(Token {
                text,
                line: start,
                quoted: true,
            });
            continue;
        }
        while let Some(&ch) = chars.peek() {
            if ch.is_whitespace() {
                break;
            }
            text.push(ch);
            chars.next();
        }
        tokens.push(Token {
            text,
            line: start,
            quoted: false,
        });
    }
    Ok(tokens)
}

/// Checks that a snippet stays inside its site block and uses nothing on the deny lists.
/// `admin_port` is Caddy's admin port: a snippet may not proxy to it.
pub fn check_snippet(src: &str, admin_port: Option<u16>) -> Result<(), String> {
    for p in DENIED_PLACEHOLDERS {
        if src.contains(p) {
            return Err(format!(
                "snippet may not use {p}...}} placeholders (they expose the host)"
            ));
        }
    }
    // `import` reads files while Caddy adapts, and its errors echo them: refuse the word
    // anywhere, whatever quoting or comments around it.
    let words = src.split(|c: char| c.is_whitespace() || matches!(c, '"' | '`' | '#' | '{' | '}'));
    if words.into_iter().any(|w| w.eq_ignore_ascii_case("import")) {
        return Err("snippets may not import files".into());
    }
    if src.contains("<<") {
        return Err("snippet may not use heredocs (<<)".into());
    }
    let mut depth: i64 = 0;
    for t in tokenize(src)? {
        let line = t.line;
        if t.quoted && (t.text.contains('{') || t.text.contains('}')) && t.text.trim().len() <= 1 {
            return Err(format!("line {line}: a quoted brace is not allowed"));
        }
        if !t.quoted && t.text.ends_with('\\') {
            return Err(format!("line {line}: line continuations are not allowed"));
        }
        if !t.quoted && t.text.contains(['"', '`']) {
            return Err(format!(
                "line {line}: a quote inside a word is ambiguous; quote the whole word"
            ));
        }
        match t.text.as_str() {
            "{" if !t.quoted => depth += 1,
            "}" if !t.quoted => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "line {line}: '}}' closes a block the snippet did not open"
                    ));
                }
            }
            word => {
                let lower = word.to_ascii_lowercase();
                if DENIED.contains(&lower.as_str()) {
                    return Err(format!(
                        "line {line}: the {lower} directive is not allowed in a snippet"
                    ));
                }
                if let Some(port) = admin_port {
                    if mentions_port(&lower, port) {
                        return Err(format!(
                            "line {line}: snippets may not reach the proxy's admin API"
                        ));
                    }
                }
            }
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced braces: {depth} block(s) left open"));
    }
    Ok(())
}

/// Whether a word names `port` after a colon (`localhost:2019`, `http://[::1]:2019/x`).
/// Ports are compared as numbers, so `:02019` is `:2019`.
pub fn mentions_port(word: &str, port: u16) -> bool {
    word.match_indices(':').any(|(i, _)| {
        let digits: String = word[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let digits = digits.trim_start_matches('0');
        !digits.is_empty() && digits.len() <= 5 && digits.parse::<u32>() == Ok(u32::from(port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> String {
        check_snippet(s, Some(2019)).expect_err(s)
    }

    #[test]
    fn ordinary_snippets_pass() {
        for s in [
            "reverse_proxy 127.0.0.1:9000",
            "encode gzip\nreverse_proxy /api/* 127.0.0.1:9000 {\n\theader_up X-Real-IP {remote_host}\n}\nrespond \"hello {host}\" 200",
            "@api path /api/*\nhandle @api {\n\trespond `{\"ok\": true}` 200\n}\n# a comment with } in it\nredir https://example.com{uri}",
        ] {
            check_snippet(s, Some(2019)).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn snippets_that_leave_their_block_are_refused() {
        assert!(
            refused("respond ok\n}\nevil.example.com {\n\trespond pwned")
                .contains("closes a block")
        );
        assert!(
            refused("}\n:2020 {\n\treverse_proxy localhost:2019\n}\nx {")
                .contains("closes a block")
        );
        assert!(refused("handle {\n\trespond ok").contains("unbalanced"));
        assert!(refused("respond \"unterminated").contains("unterminated"));
        assert!(refused("respond \"}\"\n}").contains("quoted brace"));
        assert!(refused("respond ok \\\n}").contains("continuation"));
        assert!(refused("respond \\\"}\n}").contains("ambiguous"));
    }

    #[test]
    fn snippets_that_read_the_host_are_refused() {
        assert!(refused("import /etc/passwd").contains("import"));
        assert!(refused("root * /\nfile_server").contains("root"));
        assert!(refused("handle {\n\tfile_server browse\n}").contains("file_server"));
        assert!(refused("respond {$SECRET}").contains("{$"));
        assert!(refused("respond {env.SECRET}").contains("{env."));
        assert!(refused("\"import\" /etc/passwd").contains("import"));
        assert!(refused("respond \"\\\\\" 200\nimport /etc/passwd\n#\"").contains("import"));
        assert!(
            refused("respond \"\\\\\" 200\n}\nevil.example.com {\n#\"").contains("closes a block")
        );
        assert!(refused("log {\n\toutput file /etc/cron.d/x\n}").contains("log"));
    }

    #[test]
    fn snippets_may_not_proxy_to_the_admin_api() {
        assert!(refused("reverse_proxy localhost:2019").contains("admin"));
        assert!(refused("reverse_proxy http://127.0.0.1:2019/config/").contains("admin"));
        assert!(check_snippet("reverse_proxy localhost:20190", Some(2019)).is_ok());
        assert!(refused("reverse_proxy localhost:02019").contains("admin"));
        assert!(refused("reverse_proxy {\n\tdynamic a localhost 2019\n}").contains("dynamic"));
    }
}
