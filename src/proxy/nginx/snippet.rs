//! What an nginx snippet may do inside its own `server { }` block. Directives are allowed
//! by name, so anything not listed (`include`, `listen`, `server_name`, `root`, `alias`,
//! `access_log`, `ssl_certificate`, `auth_basic_user_file`, `load_module`, `perl`, `js_*`,
//! `lua`, `fastcgi_pass`, `try_files`, ...) is refused, however nginx would read it. Every
//! rendered server also sets a `root` that cannot exist, so a URI that a snippet rewrites
//! to `/../../etc/passwd` finds nothing on the disk.

use super::conf::{tokenize, walk, Directive};

/// Directives that open a block.
const BLOCKS: &[&str] = &["location", "if", "limit_except"];

/// Directives that end with `;`. None reads or writes a file, opens a listener, runs code,
/// or names the server.
const ALLOWED: &[&str] = &[
    "absolute_redirect",
    "add_header",
    "add_trailer",
    "allow",
    "auth_request",
    "auth_request_set",
    "break",
    "charset",
    "chunked_transfer_encoding",
    "client_body_buffer_size",
    "client_body_timeout",
    "client_max_body_size",
    "default_type",
    "deny",
    "error_page",
    "etag",
    "expires",
    "gzip",
    "gzip_buffers",
    "gzip_comp_level",
    "gzip_disable",
    "gzip_http_version",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_types",
    "gzip_vary",
    "if_modified_since",
    "ignore_invalid_headers",
    "internal",
    "keepalive_requests",
    "keepalive_timeout",
    "limit_rate",
    "limit_rate_after",
    "merge_slashes",
    "mirror",
    "mirror_request_body",
    "port_in_redirect",
    "proxy_buffer_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_busy_buffers_size",
    "proxy_connect_timeout",
    "proxy_cookie_domain",
    "proxy_cookie_flags",
    "proxy_cookie_path",
    "proxy_hide_header",
    "proxy_http_version",
    "proxy_ignore_headers",
    "proxy_intercept_errors",
    "proxy_max_temp_file_size",
    "proxy_method",
    "proxy_next_upstream",
    "proxy_next_upstream_timeout",
    "proxy_next_upstream_tries",
    "proxy_pass",
    "proxy_pass_header",
    "proxy_pass_request_body",
    "proxy_pass_request_headers",
    "proxy_read_timeout",
    "proxy_redirect",
    "proxy_request_buffering",
    "proxy_send_timeout",
    "proxy_set_body",
    "proxy_set_header",
    "proxy_socket_keepalive",
    "proxy_ssl_name",
    "proxy_ssl_server_name",
    "real_ip_header",
    "real_ip_recursive",
    "recursive_error_pages",
    "return",
    "rewrite",
    "satisfy",
    "send_timeout",
    "server_name_in_redirect",
    "server_tokens",
    "set",
    "set_real_ip_from",
    "sub_filter",
    "sub_filter_last_modified",
    "sub_filter_once",
    "sub_filter_types",
];

/// Checks that a snippet stays inside its server block and uses only allowed directives.
pub fn check_snippet(src: &str) -> Result<(), String> {
    if src.contains("${") {
        return Err(
            "snippet may not use ${...} (write $name; templating tools would fill it from the environment)"
                .into(),
        );
    }
    let tokens = tokenize(src)?;
    walk(&tokens, check_directive)
}

/// With access rules, refuses what would get around them: what nginx runs before its access
/// checks (`return`, `rewrite`: the rewrite phase comes before `allow`/`deny` and
/// `auth_basic`), and access directives of the snippet's own (in a location they replace the
/// server's: `allow all;` would undo the deny list).
pub fn check_with_access(src: &str) -> Result<(), String> {
    let tokens = tokenize(src)?;
    walk(&tokens, |d| {
        match d.words[0] {
        "return" | "rewrite" => Err(format!(
            "line {}: with access rules, a snippet may not use `{}`: nginx runs it before the access checks, so it would answer clients they refuse",
            d.line, d.words[0]
        )),
        "allow" | "deny" | "satisfy" | "auth_basic" | "auth_request" => Err(format!(
            "line {}: with access rules, a snippet may not use `{}`: the vhost's access rules are the ones that hold (set them in access)",
            d.line, d.words[0]
        )),
        _ => Ok(()),
    }
    })
}

fn check_directive(d: &Directive) -> Result<(), String> {
    let (line, name) = (d.line, d.words[0]);
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!("line {line}: {name:?} is not a directive name"));
    }
    if d.opens_block {
        if !BLOCKS.contains(&name) {
            return Err(format!(
                "line {line}: a snippet cannot open a `{name}` block (only location, if and limit_except)"
            ));
        }
    } else if !ALLOWED.contains(&name) {
        return Err(format!(
            "line {line}: the `{name}` directive is not allowed in a snippet"
        ));
    }
    match name {
        "proxy_pass" => match d.words[1..] {
            [target] => proxy_target(target).map_err(|e| format!("line {line}: {e}")),
            _ => Err(format!("line {line}: proxy_pass takes one URL")),
        },
        "if" => match d.words[1..].iter().find(|w| is_file_test(w)) {
            Some(w) => Err(format!(
                "line {line}: `if` may not test the host's files ({w})"
            )),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `-f`, `!-e`, `(-d` ...: `if` conditions that probe the file system.
fn is_file_test(word: &str) -> bool {
    let w = word.trim_start_matches('(').trim_start_matches('!');
    matches!(w, "-f" | "-d" | "-e" | "-x")
}

/// A `proxy_pass` target: an http(s) URL whose host is fixed (no variables, which could
/// name a unix socket at request time) and is not a unix socket.
pub fn proxy_target(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or_else(|| format!("proxy_pass must name an http:// or https:// URL, got {url:?}"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.contains('$') {
        return Err(format!(
            "proxy_pass may not choose its host from a variable ({url:?})"
        ));
    }
    if host.is_empty() || host.starts_with("unix:") || host == "unix" {
        return Err(format!(
            "proxy_pass may not reach a unix socket or an empty host ({url:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> String {
        check_snippet(s).expect_err(s)
    }

    #[test]
    fn ordinary_snippets_pass() {
        for s in [
            "location / {\n    proxy_pass http://127.0.0.1:9000;\n    proxy_set_header Host $host;\n}",
            "location /api/ {\n\tproxy_pass http://10.0.0.5:8080/v1$request_uri;\n}\nlocation = / {\n\treturn 200 \"hello { world }\";\n}",
            "# a comment with } and include /etc/passwd in it\nlocation ~ \\.(png|jpg)$ {\n\texpires 7d;\n\tadd_header X-A \"b;c\" always;\n}",
            "if ($http_user_agent ~ bot) {\n\treturn 403;\n}\nrewrite ^/old/(.*)$ /new/$1 permanent;",
            "gzip on;\ngzip_types text/css application/json;\nclient_max_body_size 10m;",
        ] {
            check_snippet(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn snippets_that_leave_their_server_block_are_refused() {
        assert!(refused("return 200;\n}\nserver {\n\tlisten 2020;").contains("did not open"));
        assert!(refused("}\nserver { listen 9999; }\nserver {").contains("did not open"));
        assert!(refused("server {\n\tlisten 2020;\n}").contains("`server` block"));
        assert!(refused("location / {\n\thttp {\n\t}\n}").contains("`http` block"));
        assert!(refused("location / {\n\treturn 200;").contains("left open"));
        assert!(refused("return 200 \"}\n").contains("unterminated"));
        assert!(refused("return 200 ok\\").contains("not ended"));
        assert!(refused("upstream x {\n\tserver 127.0.0.1:1;\n}").contains("`upstream` block"));
    }

    #[test]
    fn snippets_that_reach_the_host_are_refused() {
        for (s, why) in [
            ("include /etc/passwd;", "`include`"),
            ("\"include\" /etc/passwd;", "`include`"),
            ("inc\\lude /etc/passwd;", "not a directive name"),
            ("listen 2020;", "`listen`"),
            ("server_name other.example.com;", "`server_name`"),
            ("root /;", "`root`"),
            ("location /x {\n\talias /etc/;\n}", "`alias`"),
            ("load_module /tmp/evil.so;", "`load_module`"),
            ("location / {\n\tperl Evil::handler;\n}", "`perl`"),
            ("js_content evil.main;", "`js_content`"),
            ("content_by_lua_block {", "block"),
            ("access_log /etc/cron.d/x;", "`access_log`"),
            ("error_log /tmp/x debug;", "`error_log`"),
            ("ssl_certificate /etc/shadow;", "`ssl_certificate`"),
            (
                "auth_basic_user_file /etc/shadow;",
                "`auth_basic_user_file`",
            ),
            ("try_files $uri /index.html;", "`try_files`"),
            (
                "proxy_pass http://unix:/var/run/docker.sock:/;",
                "unix socket",
            ),
            ("proxy_pass http://$arg_to;", "variable"),
            (
                "set $t unix:/run/x.sock:;\nproxy_pass http://$t;",
                "variable",
            ),
            ("proxy_pass unix:/run/x.sock;", "http://"),
            ("fastcgi_pass 127.0.0.1:9000;", "`fastcgi_pass`"),
            ("if (-f /etc/passwd) {\n\treturn 200;\n}", "files"),
            ("if (!-e /root/x) {\n\treturn 200;\n}", "files"),
            ("return 200 ${HOME};", "${"),
        ] {
            let e = refused(s);
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
