//! What proxyhub checks of a Caddy snippet before Caddy sees it. Two kinds of checks:
//! - what would make Caddy touch the host *while adapting* (before any check of its output
//!   can run): `import` reads files, `{$VAR}` reads the environment, and the `client_auth`
//!   file options of `tls` read certificates. These are refused on the raw text, by rules
//!   wider than Caddy's lexer (a word is any run between characters Caddy could split on), so
//!   they hold whatever the lexer does.
//! - early, clear errors with a line number, read with Caddy's own lexer rules: a `}` that
//!   closes the site block, a block left open, a quote left open, a last line that runs on
//!   into the block's closing brace.
//!
//! Neither decides what a site may do: that is judged on Caddy's adaptation (`adapted/`).

use super::{lexer, settings::mentions_port};
use crate::proxy::line_at;

/// Words that make Caddy read the host while it adapts a Caddyfile (found by reading
/// Caddy's Caddyfile parsers, 2.6.2 and 2.11, for file reads).
const READ_WHILE_ADAPTING: &[&str] = &[
    "import",
    "client_auth",
    "trusted_ca_cert_file",
    "trusted_leaf_cert_file",
];

/// Checks a snippet; `heredocs` says whether the running Caddy reads heredocs (2.7+).
pub fn check(src: &str, admin_ports: &[u16], heredocs: bool) -> Result<(), String> {
    if src.contains("{$") {
        return Err(format!(
            "line {}: snippets may not use {{$VAR}} placeholders (they read the host's environment)",
            line_at(src, src.find("{$").unwrap_or(0))
        ));
    }
    let refuse = |word: &str, line: usize| {
        Err(format!(
            "line {line}: snippets may not use {word:?} (it makes Caddy read the host's files)"
        ))
    };
    for word in READ_WHILE_ADAPTING {
        if let Some(at) = find_word(src, word) {
            return refuse(word, line_at(src, at));
        }
    }
    // And as Caddy's lexer splits words, with heredocs and without: a heredoc's closing
    // marker ends a word where no separator stands (`EOFimport`).
    for heredocs in [false, true] {
        for t in lexer::tokenize(src, heredocs).unwrap_or_default() {
            if READ_WHILE_ADAPTING.contains(&t.text.as_str()) {
                return refuse(&t.text, t.line);
            }
        }
    }
    // The snippet as it stands in its site block, to see where the block ends.
    let in_block = format!("{src}\n}}");
    let lexed =
        lexer::lex(&in_block, heredocs).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    if let Some(line) = lexed.unterminated_quote {
        return Err(format!("line {line}: a quote is never closed"));
    }
    let last_line = src.lines().count().max(1);
    let mut depth: i64 = 0;
    let (body, closing) = lexed.tokens.split_at(lexed.tokens.len().saturating_sub(1));
    if closing
        .first()
        .is_none_or(|t| t.text != "}" || t.line <= last_line)
    {
        return Err(format!(
            "line {last_line}: the last line runs on past the end of the snippet (a trailing backslash or heredoc)"
        ));
    }
    for t in body {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "line {}: '}}' closes the site block; a snippet must stay inside it",
                        t.line
                    ));
                }
            }
            word => {
                if admin_ports.iter().any(|&p| mentions_port(word, p)) {
                    return Err(format!(
                        "line {}: snippets may not reach Caddy's admin API",
                        t.line
                    ));
                }
            }
        }
    }
    if depth > 0 {
        return Err(format!(
            "unbalanced braces: {depth} block(s) left open at the end of the snippet"
        ));
    }
    Ok(())
}

/// Where `word` stands alone: not inside a longer run of characters that no Caddy version
/// splits a word at (letters, digits and `_-./:@%+=,~`). Everything else, quotes, braces,
/// backslashes, any Unicode character, counts as a possible boundary.
fn find_word(src: &str, word: &str) -> Option<usize> {
    let inner =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,~".contains(c));
    src.match_indices(word).map(|(i, _)| i).find(|&i| {
        !inner(src[..i].chars().next_back()) && !inner(src[i + word.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> String {
        let a = check(s, &[2019], false).expect_err(s);
        let b = check(s, &[2019], true).expect_err(s);
        assert_eq!(a.split(':').next(), b.split(':').next(), "{s}");
        a
    }

    #[test]
    fn ordinary_snippets_pass() {
        for s in [
            "reverse_proxy 127.0.0.1:9000",
            "encode gzip\nreverse_proxy /api/* 127.0.0.1:9000 {\n\theader_up X-Real-IP {remote_host}\n}\nrespond \"hello {host}\" 200",
            "@api path /api/*\nhandle @api {\n\trespond `{\"ok\": true}` 200\n}\n# a comment with } in it\nredir https://example.com{uri}",
            "handle /api/import/* {\n\trespond \"X-Important\" 200\n}",
            "respond \"a\\\\\" 200",
        ] {
            check(s, &[2019], false).unwrap_or_else(|e| panic!("{s}: {e}"));
            check(s, &[2019], true).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn what_reads_the_host_while_adapting_is_refused_whatever_the_quoting() {
        for s in [
            "import /etc/passwd",
            "\"import\" /etc/passwd",
            "`import` /etc/passwd",
            "respond ok\n\u{a0}import /etc/passwd",
            "handle {\n\timport /etc/passwd\n}",
            "respond \"\\\\\" 200\nimport /etc/passwd\n#\"",
            "respond <<EOF\nimport\nEOF",
            "respond <<EOF\nx\nEOFimport /etc/passwd",
            "tls {\n\tclient_auth {\n\t\ttrusted_ca_cert_file /etc/shadow\n\t}\n}",
        ] {
            assert!(refused(s).contains("read the host"), "{s}");
        }
        assert!(refused("respond {$HOME}").contains("environment"));
        assert!(refused("respond \"{$HOME:x}\"").contains("environment"));
    }

    #[test]
    fn snippets_that_leave_their_block_are_refused_early() {
        assert!(
            refused("respond ok\n}\nevil.example.com {\n\trespond pwned")
                .contains("closes the site block")
        );
        assert!(
            refused("respond \"x\" \\#\"\n}\nevil.example.com {\n\trespond pwned")
                .contains("closes the site block")
        );
        assert!(refused("handle {\n\trespond ok").contains("left open"));
        assert!(refused("respond \"unterminated").contains("never closed"));
        assert!(refused("respond \"}\"\n}\nevil.example.com {").contains("closes the site block"));
        assert!(refused("respond ok \\").contains("runs on"));
        assert!(refused("reverse_proxy localhost:02019").contains("admin API"));
    }

    #[test]
    fn a_heredoc_is_read_as_the_running_caddy_reads_it() {
        let s = "respond <<EOF\n\t}\n\tevil {\n\tEOF 200";
        assert!(check(s, &[], true).is_ok());
        assert!(check(s, &[], false)
            .unwrap_err()
            .contains("closes the site block"));
        assert!(check("respond <<EOF\nno end", &[], true)
            .unwrap_err()
            .contains("heredoc"));
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Text made of what escapes are made of, and anything else.
    fn snippets() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("import".to_string()),
            Just("\\#".to_string()),
            Just("<<EOF\n".to_string()),
            Just("EOF".to_string()),
            Just("{$X}".to_string()),
            Just("client_auth".to_string()),
            "[ \t\n\"`#\\\\{}<a-z\u{a0}\u{2003}é]{1,6}",
            any::<String>(),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The reader never panics, and whatever it lets through holds no token that makes
        /// Caddy read the host while adapting, however Caddy's lexer (2.6 or 2.7+) splits it.
        #[test]
        fn what_passes_reads_nothing_while_adapting(src in snippets(), heredocs: bool) {
            if check(&src, &[2019], heredocs).is_ok() {
                prop_assert!(!src.contains("{$"), "{:?}", src);
                for h in [false, true] {
                    if let Ok(tokens) = lexer::tokenize(&src, h) {
                        for t in tokens {
                            prop_assert!(!READ_WHILE_ADAPTING.contains(&t.text.as_str()), "{src:?}");
                        }
                    }
                }
            }
        }

        #[test]
        fn the_lexer_never_panics(src in any::<String>(), heredocs: bool) {
            let _ = lexer::tokenize(&src, heredocs);
        }
    }
}
