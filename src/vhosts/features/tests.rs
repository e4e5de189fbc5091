use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn aliases_are_host_names_listed_once() {
    assert_eq!(
        aliases("a.example.com", &s(&["B.example.com", "*.c.example.com"])).unwrap(),
        ["b.example.com", "*.c.example.com"]
    );
    assert_eq!(
        aliases("a.com", &s(&["x.com", "a b"])).unwrap_err().0,
        "aliases[1]"
    );
    assert_eq!(
        aliases("a.com", &s(&["A.com"])).unwrap_err().0,
        "aliases[0]"
    );
    assert_eq!(
        aliases("a.com", &s(&["x.com", "X.com"])).unwrap_err().0,
        "aliases[1]"
    );
}

#[test]
fn redirect_targets_are_plain_absolute_urls() {
    let r = |t: &str, code| Redirect {
        target: t.into(),
        code,
        preserve_path: true,
        include_www: false,
    };
    assert!(redirect(&r("https://new.example.com/path?a=1", 301)).is_ok());
    assert!(redirect(&r("http://[::1]:8080/", 308)).is_ok());
    assert_eq!(
        redirect(&r("https://x.com", 303)).unwrap_err().0,
        "redirect.code"
    );
    for bad in [
        "/relative",
        "ftp://x.com",
        "https://x.com/{env.HOME}",
        "https://x.com/$host",
        "https://x.com/\"; include /etc/passwd",
        "https://x.com/a b",
        "https://x.com/;",
        "https://x.com/\n/a",
        "javascript:alert(1)",
        "https://",
    ] {
        assert_eq!(
            redirect(&r(bad, 301)).unwrap_err().0,
            "redirect.target",
            "{bad}"
        );
    }
}

#[test]
fn upstreams_share_a_scheme_and_are_not_repeated() {
    assert!(upstreams(&s(&["127.0.0.1:1", "http://127.0.0.1:2"])).is_ok());
    assert_eq!(
        upstreams(&s(&["127.0.0.1:1", "https://b"])).unwrap_err().0,
        "upstreams"
    );
    assert_eq!(
        upstreams(&s(&["h:1", "h:1"])).unwrap_err().0,
        "upstreams[1]"
    );
    assert_eq!(
        upstreams(&s(&["h:1", "h:1;"])).unwrap_err().0,
        "upstreams[1]"
    );
}

#[test]
fn health_checks_are_bounded() {
    let ok = HealthCheck::default();
    assert!(health_check(&ok).is_ok());
    let bad_path = HealthCheck {
        path: "/x {env.HOME}".into(),
        ..ok.clone()
    };
    assert_eq!(health_check(&bad_path).unwrap_err().0, "healthCheck.path");
    let bad_interval = HealthCheck {
        interval_seconds: 0,
        ..ok
    };
    assert_eq!(
        health_check(&bad_interval).unwrap_err().0,
        "healthCheck.intervalSeconds"
    );
}

#[test]
fn passwords_are_hashed_and_kept_when_not_sent() {
    let input = AccessInput {
        basic_auth: vec![UserInput {
            username: "alice".into(),
            password: Some("secret".into()),
        }],
        allow: s(&["127.0.0.1", "10.1.2.3/8"]),
        deny: s(&["::1"]),
    };
    let a = access(&input, None).unwrap().unwrap();
    assert!(a.basic_auth[0].hash.starts_with("$2"));
    assert!(bcrypt::verify("secret", &a.basic_auth[0].hash).unwrap());
    assert_eq!(a.allow, ["127.0.0.1/32", "10.0.0.0/8"]);
    assert_eq!(a.deny, ["::1/128"]);
    let keep = AccessInput {
        basic_auth: vec![UserInput {
            username: "alice".into(),
            password: None,
        }],
        ..AccessInput::default()
    };
    assert_eq!(
        access(&keep, Some(&a)).unwrap().unwrap().basic_auth[0].hash,
        a.basic_auth[0].hash
    );
    assert_eq!(
        access(&keep, None).unwrap_err().0,
        "access.basicAuth[0].password"
    );
    let bad = AccessInput {
        basic_auth: vec![UserInput {
            username: "al:ice".into(),
            password: Some("x".into()),
        }],
        ..AccessInput::default()
    };
    assert_eq!(
        access(&bad, None).unwrap_err().0,
        "access.basicAuth[0].username"
    );
    let net = AccessInput {
        deny: s(&["10.0.0.0/33"]),
        ..AccessInput::default()
    };
    assert_eq!(access(&net, None).unwrap_err().0, "access.deny[0]");
    assert_eq!(access(&AccessInput::default(), None).unwrap(), None);
}

#[test]
fn header_names_and_values_reach_no_variable() {
    let mut h = Headers::default();
    h.response
        .set
        .insert("X-Frame-Options".into(), "DENY".into());
    h.response.remove.push("Server".into());
    h.request.set.insert("X-Env".into(), "prod; a=1".into());
    assert_eq!(headers(&h).unwrap().unwrap(), h);
    for (name, value) in [
        ("X-A", "{env.HOME}"),
        ("X-A", "$host"),
        ("X-A", "a\"b"),
        ("X-A", "a\\b"),
        ("X-A", "a\nb"),
        ("X A", "v"),
        ("X-A;", "v"),
    ] {
        let mut bad = Headers::default();
        bad.response.set.insert(name.into(), value.into());
        assert!(headers(&bad).is_err(), "{name}: {value}");
    }
    let mut twice = Headers::default();
    twice.request.set.insert("X-A".into(), "1".into());
    twice.request.remove.push("x-a".into());
    assert_eq!(headers(&twice).unwrap_err().0, "headers.request.remove[0]");
    assert_eq!(headers(&Headers::default()).unwrap(), None);
}
