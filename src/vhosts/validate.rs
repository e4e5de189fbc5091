//! Syntax rules for vhost fields, the same for every proxy: anything that reaches a config
//! file passes through here first.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::proxy::no_control_characters;

/// Lowercases a domain and checks it is a host name: labels of letters, digits and hyphens
/// (not at either end), at most 63 characters each, at most 253 in all, with an optional
/// leading `*.` wildcard.
pub fn domain(raw: &str) -> Result<String, String> {
    no_control_characters("domain", raw, false)?;
    let d = raw.to_ascii_lowercase();
    if d.is_empty() {
        return Err("domain is required".into());
    }
    if d.len() > 253 {
        return Err("domain is longer than 253 characters".into());
    }
    let rest = d.strip_prefix("*.").unwrap_or(&d);
    if rest.is_empty() || !rest.split('.').all(is_label) {
        return Err(format!(
            "{raw:?} is not a valid host name (letters, digits, hyphens and dots, optionally starting with *.)"
        ));
    }
    Ok(d)
}

fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// An upstream: `host:port`, or `http://` / `https://` followed by `host[:port]`, where host is
/// a host name, an IPv4 address or a bracketed IPv6 address. No paths, no spaces, nothing else.
pub fn upstream(raw: &str) -> Result<String, String> {
    no_control_characters("upstream", raw, false)?;
    let bad = || {
        format!("{raw:?} is not a valid upstream (expected host:port, http://host:port or https://host[:port])")
    };
    // Whatever the parse below concludes, nothing outside this set can reach a config file.
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'[' | b']' | b'/');
    if raw.is_empty() || raw.len() > 300 || !raw.bytes().all(allowed) {
        return Err(bad());
    }
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            (Some(s), r)
        }
        Some(_) => return Err(bad()),
        None => (None, raw),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        addr.parse::<Ipv6Addr>().map_err(|_| bad())?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (&rest[..addr.len() + 2], port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let host_ok = host.starts_with('[')
        || host.parse::<Ipv4Addr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.to_ascii_lowercase().split('.').all(is_label));
    if !host_ok {
        return Err(bad());
    }
    match port {
        Some(p)
            if p.parse::<u16>().is_ok_and(|n| n > 0) && p.bytes().all(|b| b.is_ascii_digit()) => {}
        None if scheme.is_some() => {}
        _ => return Err(bad()),
    }
    Ok(raw.strip_suffix('/').unwrap_or(raw).to_string())
}

/// Limits on a snippet's size that hold for every proxy.
pub fn snippet(raw: &str) -> Result<(), String> {
    if raw.trim().is_empty() {
        return Err("config is empty; leave it out to use the upstream".into());
    }
    if raw.len() > 64 * 1024 {
        return Err("config is larger than 64 KiB".into());
    }
    no_control_characters("config", raw, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_pass_lowercased() {
        assert_eq!(domain("App.Example.COM").unwrap(), "app.example.com");
        assert_eq!(domain("*.example.com").unwrap(), "*.example.com");
        assert_eq!(domain("localhost").unwrap(), "localhost");
        assert!(domain(&format!("{}.com", "a".repeat(63))).is_ok());
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "",
            "a b.com",
            "a.com\nevil.com {",
            "a.com{",
            "a.com}",
            "-a.com",
            "a-.com",
            "a..com",
            "a.com.",
            "*.",
            "*",
            "a.*.com",
            "a_b.com",
            "a.com:80",
            "http://a.com",
            "a;rm -rf.com",
            "$(id).com",
            "é.com",
            &format!("{}.com", "a".repeat(64)),
            &"a.".repeat(127),
        ] {
            assert!(domain(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn snippets_may_not_carry_control_characters() {
        assert!(snippet("return 200 \"\u{0}\";")
            .unwrap_err()
            .contains("control"));
        assert!(snippet("respond \"\u{1b}[2J\"")
            .unwrap_err()
            .contains("control"));
        assert!(snippet("respond ok\n\theader X y").is_ok());
        let cr = snippet("respond ok\nim\rport /etc/passwd").unwrap_err();
        assert!(
            cr.contains("line 2") && cr.contains("U+000D") && cr.contains("carriage return"),
            "{cr}"
        );
        assert!(domain("a.example.com\r").unwrap_err().contains("U+000D"));
        assert!(upstream("127.0.0.1:80\u{85}")
            .unwrap_err()
            .contains("U+0085"));
        assert!(snippet("respond \u{2028}ok")
            .unwrap_err()
            .contains("U+2028"));
    }

    #[test]
    fn upstreams() {
        for ok in [
            "127.0.0.1:9000",
            "localhost:3000",
            "http://app:80",
            "https://api.example.com",
            "[::1]:8080",
            "http://[::1]:8080/",
        ] {
            assert!(upstream(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "a b:80",
            "h:80\n}",
            "h:80 {",
            "ftp://h:21",
            "http://h:80/path",
            "h:80;",
            "h:8o",
            "[::1",
            "http://",
            "unix//run/x.sock",
            "h:80 # x",
        ] {
            assert!(upstream(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Whatever a client sends, a domain that passes is lower-case letters, digits, dots,
        /// hyphens and a leading `*.`: nothing that could reach outside its place.
        #[test]
        fn an_accepted_domain_is_a_plain_host_name(raw in "[ -~\t\r\n\u{85}\u{a0}é]{0,40}|\\PC{0,40}") {
            if let Ok(d) = domain(&raw) {
                prop_assert!(d.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b)), "{d:?}");
            }
        }

        #[test]
        fn an_accepted_upstream_has_no_character_a_config_could_split_on(raw in "[ -~\t\r\n\u{85}]{0,40}|\\PC{0,40}") {
            if let Ok(u) = upstream(&raw) {
                prop_assert!(u.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-[]/".contains(&b)), "{u:?}");
            }
        }

        #[test]
        fn snippets_never_panic_the_validator(raw in any::<String>()) {
            let _ = snippet(&raw);
        }
    }
}
