//! Reading an nginx snippet the way nginx's own tokenizer (`ngx_conf_read_token`) does, a
//! little stricter where nginx's reading is surprising, so that what proxyhub checks is
//! what nginx will run. The rules applied to the tokens are in `snippet.rs`.

/// One token of a snippet.
#[derive(Debug, PartialEq, Eq)]
pub enum Tok {
    /// A word, unescaped as nginx does (`\"`, `\'`, `\\`, `\t`, `\r`, `\n`).
    Word { text: String, quoted: bool },
    /// `;`: ends a directive.
    End,
    /// `{`: the directive before it opens a block.
    Open,
    /// `}`: closes the innermost block.
    Close,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

/// Splits a snippet into tokens. Whitespace separates words; `;`, `{` and `}` stand alone;
/// `#` at the start of a word comments out the rest of the line; `"..."` and `'...'` quote
/// a whole word; `\` escapes the next character. Refused, although nginx would read them:
/// quotes and `}` inside an unquoted word, and a quoted word followed by anything but a
/// separator.
pub fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        let start = line;
        let push = |out: &mut Vec<Token>, tok| out.push(Token { tok, line: start });
        match c {
            '\n' => line += 1,
            ' ' | '\t' | '\r' => {}
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            ';' => push(&mut out, Tok::End),
            '{' => push(&mut out, Tok::Open),
            '}' => push(&mut out, Tok::Close),
            '"' | '\'' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("line {start}: unterminated quote")),
                        Some('\\') => {
                            let next = chars.next().unwrap_or('\\');
                            line += usize::from(next == '\n');
                            unescape(&mut text, next);
                        }
                        Some(ch) if ch == c => break,
                        Some(ch) => {
                            line += usize::from(ch == '\n');
                            text.push(ch);
                        }
                    }
                }
                if chars
                    .peek()
                    .is_some_and(|&n| !matches!(n, ' ' | '\t' | '\r' | '\n' | ';' | '{' | ')'))
                {
                    return Err(format!(
                        "line {line}: a quoted word must be followed by a space, ';' or '{{'"
                    ));
                }
                push(&mut out, Tok::Word { text, quoted: true });
            }
            first => {
                let mut text = String::new();
                let mut ch = first;
                loop {
                    match ch {
                        '\\' => {
                            let next = chars.next().unwrap_or('\\');
                            line += usize::from(next == '\n');
                            unescape(&mut text, next);
                        }
                        '"' | '\'' => {
                            return Err(format!(
                                "line {line}: a quote inside a word is ambiguous; quote the whole word"
                            ))
                        }
                        '}' => {
                            return Err(format!(
                                "line {line}: '}}' inside a word is ambiguous; end the directive with ';' first"
                            ))
                        }
                        ch => text.push(ch),
                    }
                    match chars.next_if(|&n| !matches!(n, ' ' | '\t' | '\r' | '\n' | ';' | '{')) {
                        Some(n) => ch = n,
                        None => break,
                    }
                }
                push(
                    &mut out,
                    Tok::Word {
                        text,
                        quoted: false,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// Appends what `\<next>` means to nginx.
fn unescape(text: &mut String, next: char) {
    match next {
        '"' | '\'' | '\\' => text.push(next),
        't' => text.push('\t'),
        'r' => text.push('\r'),
        'n' => text.push('\n'),
        other => {
            text.push('\\');
            text.push(other);
        }
    }
}

/// One directive: its words, whether it opens a block, and its line.
#[derive(Debug)]
pub struct Directive<'a> {
    pub words: Vec<&'a str>,
    pub opens_block: bool,
    pub line: usize,
}

/// Groups tokens into directives and calls `check` on each, refusing a `}` that closes a
/// block the snippet did not open and blocks left open.
pub fn walk<'a>(
    tokens: &'a [Token],
    mut check: impl FnMut(&Directive<'a>) -> Result<(), String>,
) -> Result<(), String> {
    let mut words: Vec<&str> = Vec::new();
    let mut first_line = 0;
    let mut blocks: Vec<&str> = Vec::new();
    for t in tokens {
        match &t.tok {
            Tok::Word { text, .. } => {
                if words.is_empty() {
                    first_line = t.line;
                }
                words.push(text);
            }
            Tok::End | Tok::Open => {
                let opens_block = t.tok == Tok::Open;
                if words.is_empty() {
                    let c = if opens_block { '{' } else { ';' };
                    return Err(format!("line {}: unexpected '{c}'", t.line));
                }
                let d = Directive {
                    words: std::mem::take(&mut words),
                    opens_block,
                    line: first_line,
                };
                check(&d)?;
                if opens_block {
                    blocks.push(d.words[0]);
                }
            }
            Tok::Close => {
                if !words.is_empty() {
                    return Err(format!(
                        "line {}: '}}' after a directive that was not ended with ';'",
                        t.line
                    ));
                }
                if blocks.pop().is_none() {
                    return Err(format!(
                        "line {}: '}}' closes a block the snippet did not open",
                        t.line
                    ));
                }
            }
        }
    }
    if !words.is_empty() {
        return Err(format!(
            "line {first_line}: the last directive is not ended with ';'"
        ));
    }
    if !blocks.is_empty() {
        return Err(format!(
            "unbalanced braces: {} block(s) left open",
            blocks.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Vec<String> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .map(|t| match t.tok {
                Tok::Word { text, .. } => text,
                Tok::End => ";".into(),
                Tok::Open => "{".into(),
                Tok::Close => "}".into(),
            })
            .collect()
    }

    #[test]
    fn words_split_as_nginx_splits_them() {
        assert_eq!(
            words("location ~ \\.php$ {\n\treturn 200 \"a } b;\";# c }\n}"),
            ["location", "~", "\\.php$", "{", "return", "200", "a } b;", ";", "}"]
        );
        assert_eq!(words("a#b 'x\\'y';"), ["a#b", "x'y", ";"]);
        assert_eq!(
            words("if ($a = \"b\") {"),
            ["if", "($a", "=", "b", ")", "{"]
        );
        assert_eq!(words("inc\\lude x\\;y;"), ["inc\\lude", "x\\;y", ";"]);
    }

    #[test]
    fn lines_are_counted_through_quotes_and_comments() {
        let t = tokenize("# one\n\"two\nthree\"\nfour;").unwrap();
        assert_eq!(t[0].line, 2);
        assert_eq!(t[1].line, 4);
    }

    #[test]
    fn ambiguous_words_are_refused() {
        for (src, why) in [
            ("return 200 \"open", "unterminated"),
            ("return 200 it's;", "quote inside"),
            ("return 200 a};", "inside a word"),
            ("return \"a\"b;", "followed by"),
        ] {
            let e = tokenize(src).unwrap_err();
            assert!(e.contains(why), "{src}: {e}");
        }
    }

    #[test]
    fn blocks_must_balance() {
        let ok = |s: &str| walk(&tokenize(s).unwrap(), |_| Ok(()));
        assert!(ok("location / { return 200; }").is_ok());
        assert!(ok("return 200;\n}\nserver {")
            .unwrap_err()
            .contains("did not open"));
        assert!(ok("location / {").unwrap_err().contains("left open"));
        assert!(ok("return 200").unwrap_err().contains("not ended"));
        assert!(ok("return 200 }").unwrap_err().contains("not ended"));
        assert!(ok("; return 200;").unwrap_err().contains("unexpected"));
    }
}
