//! Caddy's Caddyfile lexer, followed rule for rule (Caddy's `caddyconfig/caddyfile/lexer.go`,
//! v2.6.2, and with `heredocs` the v2.7+ additions as of v2.11): words split at Unicode
//! spaces, `\r` dropped outside quotes, `"..."` and `` `...` `` only at the start of a word,
//! `\` escaping only `"` inside double quotes, `#` at the start of a word (also after a `\`)
//! commenting out the rest of the line, a `\` before a newline joining lines, and heredocs
//! (`<<MARKER`). proxyhub reads snippets with it only to explain a refusal early and with a
//! line number; what is safe is decided on Caddy's own adaptation (see `adapted/`).

/// One token as Caddy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// The line the token starts on (1-based).
    pub line: usize,
    /// The enclosing quote: `"`, `` ` ``, or `<` for a heredoc.
    pub quote: Option<char>,
}

/// A lexing error Caddy would report too (only heredocs have them).
#[derive(Debug, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

/// Tokenizes `src` as Caddy does; `heredocs` selects Caddy 2.7+ behaviour.
pub fn tokenize(src: &str, heredocs: bool) -> Result<Vec<Token>, LexError> {
    lex(src, heredocs).map(|l| l.tokens)
}

/// The tokens, and where a quote left open at the end began (Caddy ends such a token
/// silently at the end of its input).
pub struct Lexed {
    pub tokens: Vec<Token>,
    pub unterminated_quote: Option<usize>,
}

/// Like [`tokenize`], also telling about a quote left open.
pub fn lex(src: &str, heredocs: bool) -> Result<Lexed, LexError> {
    let mut lx = Lexer {
        chars: src.strip_prefix('\u{feff}').unwrap_or(src).chars(),
        line: 1,
        skipped: 0,
        heredocs,
        unterminated: None,
    };
    let mut tokens = Vec::new();
    while let Some(t) = lx.next()? {
        tokens.push(t);
    }
    Ok(Lexed {
        tokens,
        unterminated_quote: lx.unterminated,
    })
}

struct Lexer<'a> {
    chars: std::str::Chars<'a>,
    line: usize,
    skipped: usize,
    heredocs: bool,
    unterminated: Option<usize>,
}

impl Lexer<'_> {
    fn next(&mut self) -> Result<Option<Token>, LexError> {
        let mut val: Vec<char> = Vec::new();
        let (mut comment, mut quoted, mut bt_quoted, mut escaped) = (false, false, false, false);
        let (mut in_heredoc, mut heredoc_escaped) = (false, false);
        let mut marker = String::new();
        let mut start = self.line;
        let token = |val: &[char], line: usize, quote: Option<char>| {
            Ok(Some(Token {
                text: val.iter().collect(),
                line,
                quote,
            }))
        };
        loop {
            let Some(ch) = self.chars.next() else {
                if quoted || bt_quoted {
                    self.unterminated = Some(start);
                }
                if val.is_empty() {
                    return Ok(None);
                }
                if in_heredoc {
                    return Err(self.error(format!(
                        "incomplete heredoc <<{marker}, expected ending marker {marker}"
                    )));
                }
                return token(&val, start, None);
            };
            if self.heredocs
                && !quoted
                && !bt_quoted
                && !in_heredoc
                && !heredoc_escaped
                && val.len() > 1
                && val[0] == '<'
                && val[1] == '<'
            {
                match ch {
                    ' ' => return token(&val, start, None),
                    '\r' => continue,
                    '\n' => {
                        if val.len() == 2 {
                            return Err(self.error("missing opening heredoc marker".into()));
                        }
                        if val[2] == '<' {
                            return Err(self.error("too many '<' for heredoc".into()));
                        }
                        marker = val[2..].iter().collect();
                        if !marker
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        {
                            return Err(self.error(format!(
                                "heredoc marker must contain only alphanumeric characters, dashes and underscores; got {marker:?}"
                            )));
                        }
                        in_heredoc = true;
                        self.skipped += 1;
                        val.clear();
                        continue;
                    }
                    _ => {
                        val.push(ch);
                        continue;
                    }
                }
            }
            if in_heredoc {
                val.push(ch);
                if ch == '\n' {
                    self.skipped += 1;
                }
                let m: Vec<char> = marker.chars().collect();
                if val.ends_with(&m) {
                    let text = finalize_heredoc(&val, &marker).map_err(|m| self.error(m))?;
                    self.line += self.skipped;
                    self.skipped = 0;
                    return Ok(Some(Token {
                        text,
                        line: start,
                        quote: Some('<'),
                    }));
                }
                continue;
            }
            if !escaped && !bt_quoted && ch == '\\' {
                escaped = true;
                continue;
            }
            if quoted || bt_quoted {
                if quoted && escaped {
                    // Inside double quotes only a quote can be escaped.
                    if ch != '"' {
                        val.push('\\');
                    }
                    escaped = false;
                } else if (quoted && ch == '"') || (bt_quoted && ch == '`') {
                    return token(&val, start, Some(ch));
                }
                if ch == '\n' {
                    self.line += 1 + self.skipped;
                    self.skipped = 0;
                }
                val.push(ch);
                continue;
            }
            if ch.is_whitespace() {
                if ch == '\r' {
                    continue;
                }
                if ch == '\n' {
                    if escaped {
                        self.skipped += 1;
                        escaped = false;
                    } else {
                        self.line += 1 + self.skipped;
                        self.skipped = 0;
                    }
                    comment = false;
                }
                if !val.is_empty() {
                    return token(&val, start, None);
                }
                continue;
            }
            if ch == '#' && val.is_empty() {
                comment = true;
            }
            if comment {
                continue;
            }
            if val.is_empty() {
                start = self.line;
                if ch == '"' {
                    quoted = true;
                    continue;
                }
                if ch == '`' {
                    bt_quoted = true;
                    continue;
                }
            }
            if escaped {
                if self.heredocs && ch == '<' {
                    heredoc_escaped = true;
                } else {
                    val.push('\\');
                }
                escaped = false;
            }
            val.push(ch);
        }
    }

    fn error(&self, message: String) -> LexError {
        LexError {
            line: self.line + self.skipped,
            message,
        }
    }
}

/// The text of a heredoc: the indentation of its closing marker is taken off every line.
fn finalize_heredoc(val: &[char], marker: &str) -> Result<String, String> {
    let s: String = val.iter().collect();
    let body_end = s.rfind('\n').map_or(0, |i| i + 1);
    let padding = &s[body_end..s.len() - marker.len()];
    let body = &s[..body_end];
    let mut out = String::new();
    let lines: Vec<&str> = body.split('\n').collect();
    for line in &lines[..lines.len() - 1] {
        if line.is_empty() || *line == "\r" {
            out.push('\n');
            continue;
        }
        if !line.starts_with(padding) {
            return Err(format!(
                "mismatched leading whitespace in heredoc <<{marker}: expected {padding:?} to match the closing marker"
            ));
        }
        out.push_str(&line[padding.len()..].replace('\r', ""));
        out.push('\n');
    }
    if out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, heredocs: bool) -> Vec<String> {
        tokenize(src, heredocs)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn words_quotes_and_comments_split_as_in_caddy() {
        assert_eq!(
            texts("respond \"a b\" 200 # c\nheader `x\"y` z", false),
            ["respond", "a b", "200", "header", "x\"y", "z"]
        );
        // A quote only opens at the start of a word; `#` only comments there.
        assert_eq!(texts("a\"b c#d", false), ["a\"b", "c#d"]);
        // Inside double quotes only \" is an escape; \\ stays two backslashes.
        assert_eq!(
            texts(r#""a\"b" "c\\" "d\e""#, false),
            [r#"a"b"#, r"c\\", r"d\e"]
        );
    }

    #[test]
    fn carriage_returns_are_dropped_not_separators() {
        assert_eq!(
            texts("im\rport /etc/passwd", false),
            ["import", "/etc/passwd"]
        );
        assert_eq!(texts("{env\r.HOME}", true), ["{env.HOME}"]);
    }

    #[test]
    fn an_escaped_hash_starts_a_comment() {
        assert_eq!(texts("respond ok \\# }\nx", false), ["respond", "ok", "x"]);
        assert_eq!(texts("a\\#b", false), ["a\\#b"]);
    }

    #[test]
    fn an_escaped_newline_joins_lines() {
        // Caddy counts a joined line as the line it continues.
        let t = tokenize("respond a \\\n b\nc", false).unwrap();
        assert_eq!(
            t.iter()
                .map(|t| (t.text.as_str(), t.line))
                .collect::<Vec<_>>(),
            [("respond", 1), ("a", 1), ("b", 1), ("c", 3)]
        );
    }

    #[test]
    fn heredocs_only_from_caddy_2_7() {
        let src = "respond <<EOF\n    }\n    evil {\n    EOF 200\nx";
        assert_eq!(texts(src, true), ["respond", "}\nevil {", "200", "x"]);
        assert_eq!(
            texts(src, false),
            ["respond", "<<EOF", "}", "evil", "{", "EOF", "200", "x"]
        );
        assert!(tokenize("respond <<EOF\nno end", true).is_err());
        assert!(tokenize("respond <<E!\nx\nE!", true).is_err());
        // `\<<` is not a heredoc, and the backslash goes.
        assert_eq!(texts("respond \\<<EOF\nx", true), ["respond", "<<EOF", "x"]);
    }

    #[test]
    fn lines_are_counted_across_quotes() {
        let t = tokenize("a \"b\nc\"\nd", false).unwrap();
        assert_eq!(t[2].line, 3);
        assert_eq!(t[1].quote, Some('"'));
    }
}
