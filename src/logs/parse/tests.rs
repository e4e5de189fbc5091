use super::*;

const CADDY_26: &str = r#"{"level":"info","ts":1795334946.42,"logger":"http.log.access.proxyhub","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"46126","proto":"HTTP/1.1","method":"GET","host":"App.Example.com:8081","uri":"/api/data?x=1","headers":{"Accept":["*/*"],"User-Agent":["curl/8.5.0"]}},"user_id":"","duration":0.012345,"size":2,"status":200,"resp_headers":{"Content-Type":["text/plain"]}}"#;

#[test]
fn reads_a_caddy_2_6_line() {
    let e = parse_line(CADDY_26.as_bytes()).unwrap();
    assert_eq!(
        e,
        Entry {
            ts_us: 1_795_334_946_420_000,
            domain: "app.example.com".into(),
            method: "GET".into(),
            path: "/api/data?x=1".into(),
            status: 200,
            latency_us: 12_345,
            ip: "127.0.0.1".into(),
            size: 2,
            protocol: "HTTP/1.1".into(),
            user_agent: "curl/8.5.0".into(),
        }
    );
}

#[test]
fn prefers_client_ip_and_reads_formatted_timestamps() {
    let line = r#"{"level":"info","ts":"2024-01-15T10:30:00.123Z","logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.0.0.1","client_ip":"203.0.113.9","proto":"HTTP/2.0","method":"POST","host":"shop.example.com","uri":"/cart"},"duration":"1.5ms","size":10,"status":502}"#;
    let e = parse_line(line.as_bytes()).unwrap();
    assert_eq!(e.ip, "203.0.113.9");
    assert_eq!(e.ts_us, 1_705_314_600_123_000);
    assert_eq!(e.latency_us, 1500);
    assert_eq!(e.status, 502);
    assert_eq!(e.user_agent, "");
}

#[test]
fn reads_proxyhubs_nginx_format() {
    let line = r#"{"proxy":"nginx","msec":1700000000.123,"host":"app.example.com","method":"GET","uri":"/x?y=1","status":200,"request_time":0.012,"remote_addr":"127.0.0.1","bytes_sent":123,"protocol":"HTTP/1.1","user_agent":"curl/8"}"#;
    let e = parse_line(line.as_bytes()).unwrap();
    assert_eq!(e.ts_us, 1_700_000_000_123_000);
    assert_eq!(
        (e.domain.as_ref(), e.method.as_ref(), e.path.as_ref()),
        ("app.example.com", "GET", "/x?y=1")
    );
    assert_eq!((e.status, e.latency_us, e.size), (200, 12_000, 123));
    assert_eq!(
        (e.ip.as_ref(), e.protocol.as_ref()),
        ("127.0.0.1", "HTTP/1.1")
    );
    assert_eq!(e.user_agent, "curl/8");
}

#[test]
fn unescapes_strings_and_keeps_status_zero() {
    let line = r#"{"ts":1700000000,"logger":"http.log.access","request":{"remote_ip":"::1","method":"GET","host":"a.example.com","uri":"/say?q=\"hi\"\u00e9","headers":{"User-Agent":["x\ty"]}},"status":0}"#;
    let e = parse_line(line.as_bytes()).unwrap();
    assert_eq!(e.path, "/say?q=\"hi\"é");
    assert_eq!(e.user_agent, "x\ty");
    assert_eq!(e.status, 0);
}

#[test]
fn skips_what_is_not_an_access_entry() {
    let skipped = |l: &str| parse_line(l.as_bytes()).unwrap_err();
    assert_eq!(skipped("GET / HTTP/1.1 200"), Skip::NotJson);
    assert_eq!(skipped(""), Skip::NotJson);
    assert_eq!(skipped(r#"{"ts":1,"request":{"#), Skip::NotJson);
    assert_eq!(
        skipped(
            r#"{"level":"info","ts":1700000000.5,"logger":"tls","msg":"cleaning storage unit"}"#
        ),
        Skip::NotAccess
    );
    assert_eq!(
        skipped(
            r#"{"level":"error","ts":1700000000.5,"logger":"http.log.error","msg":"x","request":{"method":"GET","host":"a"},"status":0}"#
        ),
        Skip::NotAccess
    );
    assert_eq!(
        skipped(r#"{"ts":1700000000.5,"msg":"no request"}"#),
        Skip::NotAccess
    );
    assert_eq!(
        skipped(r#"{"ts":1700000000.5,"request":"GET /","status":200}"#),
        Skip::NotAccess
    );
    assert_eq!(
        skipped(r#"{"ts":1700000000.5,"request":{"method":"GET"},"status":"ok"}"#),
        Skip::NotAccess
    );
}

#[test]
fn tolerates_a_carriage_return_and_quoted_numbers() {
    let line = "{\"proxy\":\"nginx\",\"msec\":\"1700000000.5\",\"host\":\"a.example.com:8080\",\"method\":\"HEAD\",\"uri\":\"/\",\"status\":\"404\",\"request_time\":\"0.000\",\"remote_addr\":\"10.1.1.1\",\"bytes_sent\":\"0\",\"protocol\":\"HTTP/1.0\",\"user_agent\":\"\"}\r\n";
    let e = parse_line(line.as_bytes()).unwrap();
    assert_eq!((e.status, e.ts_us), (404, 1_700_000_000_500_000));
    assert_eq!(e.domain, "a.example.com");
}

const CADDY_211_LONG: &str = r#"{"level":"info","ts":1765000000.123456,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"198.51.100.7","remote_port":"51234","client_ip":"198.51.100.7","proto":"HTTP/2.0","method":"GET","host":"shop.example.com","uri":"/p/1?utm_source=x&ref=https%3A%2F%2Fa.example%2F","headers":{"Accept":["text/html"],"Sec-Ch-Ua":["\"Chromium\";v=\"131\""],"Cookie":["REDACTED"],"User-Agent":["Mozilla/5.0 (X11) Chrome/131.0","second"],"X-Forwarded-For":["198.51.100.7, 10.0.0.1"]},"tls":{"resumed":false,"version":772,"cipher_suite":4865,"proto":"h2","server_name":"shop.example.com"}},"bytes_read":0,"user_id":"","duration":0.000047561,"size":5123,"status":304,"resp_headers":{"Server":["Caddy"],"Alt-Svc":["h3=\":443\"; ma=2592000"]}}"#;

/// The fast path answers exactly what serde_json alone answers.
fn agrees(line: &str) {
    let alone = by_serde(line.as_bytes().trim_ascii_end()).and_then(entry);
    let want = match line.trim_ascii_end().starts_with('{') {
        true => alone,
        false => Err(Skip::NotJson),
    };
    assert_eq!(parse_line(line.as_bytes()), want, "{line}");
}

#[test]
fn the_fast_path_reads_every_line_as_serde_json_does() {
    for line in [
        CADDY_26,
        CADDY_211_LONG,
        r#"{"ts":1700000000,"logger":"http.log.access","request":{"remote_ip":"::1","method":"GET","host":"a.example.com","uri":"/say?q=\"hi\"\u00e9","headers":{"User-Agent":["x\ty"]}},"status":0}"#,
        r#"{"proxy":"nginx","msec":1700000000.123,"host":"App.example.com:80","method":"GET","uri":"/","status":"200","request_time":0.012,"remote_addr":"[::1]:5","bytes_sent":1,"protocol":"HTTP/1.1","user_agent":null}"#,
        r#" {"ts":1.7e9,"request":{"method":"GET","host":"a"},"status":200}"#,
        r#"{ "ts" : 17E8 , "request" : { "method" : "GET" , "headers" : null } , "status" : 200 } "#,
        r#"{"ts":-0,"request":{"method":"GET"},"status":200}"#,
        r#"{"ts":-0.0,"request":{"method":"GET"},"status":-5}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":18446744073709551616}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":9223372036854775808}"#,
        r#"{"ts":1700000000.12345678901234567890,"request":{"method":"GET"},"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"status":404}"#,
        r#"{"ts":1700000000,"request":{"method":"GET","method":"PUT"},"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET","headers":{"User-Agent":[]}},"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET","headers":{"User-Agent":"x"}},"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET","headers":{"User-Agent":[1]}},"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET","headers":{"User-Agent":["a"],"User-Agent":["b"]}},"status":200}"#,
        r#"{"ts":1700000000,"request":["::1","1","::1","HTTP/1.1","GET"],"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":"a\qb"}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":"\u12"}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":"\ud800"}"#,
        r#"{"ts":1700000000,"request":{"method":"G\ud800"},"status":200}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":01}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":1.}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,"x":tru}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200} x"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"status":200,}"#,
        r#"{"ts":1700000000,"request":{"method":"GET"},"st\u0061tus":200}"#,
        r#"{"ts":true,"request":{"method":"GET"},"status":200}"#,
        r#"{"logger":5,"ts":1,"request":{"#,
        "{\"ts\":1700000000,\"request\":{\"method\":\"GET\"},\"status\":200,\"x\":\"a\u{1}b\"}",
        "{\"ts\":1700000000,\"request\":{\"method\":\"GET\",\"uri\":\"/é/ü\"},\"status\":200}",
    ] {
        agrees(line);
    }
    // Caddy's own lines take the fast path.
    assert!(scan::line(CADDY_26).is_some() && scan::line(CADDY_211_LONG).is_some());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
    /// Lines damaged anywhere (a byte replaced, dropped or added) are still read alike.
    #[test]
    fn damaged_lines_are_read_as_serde_json_reads_them(
        which in 0usize..3,
        at in 0usize..2000,
        how in 0u8..3,
        with in proptest::sample::select(b"\"\\{}[],:0-.eEnu \t\x01x9".to_vec()),
    ) {
        let line = [CADDY_26, CADDY_211_LONG, r#"{"proxy":"nginx","msec":"1700000000.5","host":"a.example.com","method":"HEAD","uri":"/","status":404,"request_time":0.000,"remote_addr":"10.1.1.1","bytes_sent":0,"protocol":"HTTP/1.0","user_agent":""}"#][which];
        let mut bytes = line.as_bytes().to_vec();
        let at = at % bytes.len();
        match how {
            0 => bytes[at] = with,
            1 => drop(bytes.remove(at)),
            _ => bytes.insert(at, with),
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            agrees(text);
        }
    }
}
