//! What people actually proxy, set up through the API without a snippet and checked with
//! requests through the real proxy: redirects, aliases, basic auth, allow/deny by client
//! address, headers set and removed.

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{
    backend::{Backend, Kind},
    expect_error, Upstream,
};

for_each_proxy!(
    redirects_answer_with_their_code_path_and_www,
    aliases_are_served_and_reserved,
    basic_auth_and_client_addresses_guard_a_site,
    headers_are_set_and_removed,
);

/// A request to the proxy for `host` from `from` (a loopback address), redirects not
/// followed: the status, the headers and the body.
async fn request(
    proxy: &Backend,
    from: &str,
    host: &str,
    path: &str,
    user: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<IpAddr>().unwrap())
        .no_proxy()
        .build()
        .unwrap();
    let mut r = client
        .get(format!("http://127.0.0.1:{}{path}", proxy.http_port()))
        .header("Host", host);
    if let Some((u, p)) = user {
        r = r.basic_auth(u, Some(p));
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let (status, h) = (r.status().as_u16(), r.headers().clone());
    (status, h, r.text().await.unwrap())
}

async fn redirects_answer_with_their_code_path_and_www(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    for (code, keep, www) in [
        (301, true, false),
        (302, false, false),
        (307, true, true),
        (308, false, true),
    ] {
        let domain = format!("r{code}.example.com");
        let v = app
            .create_vhost(json!({"domain": domain, "redirect": {
                "target": "https://new.example.com/base/", "code": code,
                "preservePath": keep, "includeWww": www}}))
            .await;
        assert_eq!(v["redirect"]["code"], code);
        assert_eq!(v["upstream"], Value::Null);
        let (status, h, _) = request(&proxy, "127.0.0.1", &domain, "/a/b?q=1", None, &[]).await;
        assert_eq!(status, code, "{kind} {domain}");
        let want = if keep {
            "https://new.example.com/base/a/b?q=1"
        } else {
            "https://new.example.com/base/"
        };
        assert_eq!(h["location"], want, "{kind} {domain}");
        let (status, h, _) = request(
            &proxy,
            "127.0.0.1",
            &format!("www.{domain}"),
            "/x",
            None,
            &[],
        )
        .await;
        if www {
            assert_eq!(status, code, "www.{domain} is served");
            assert!(h["location"]
                .to_str()
                .unwrap()
                .starts_with("https://new.example.com/"));
        } else {
            assert_ne!(status, code, "www.{domain} is not served");
        }
    }
    // A redirect has no upstream, and its target is checked.
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "bad.example.com", "redirect": {"target": "https://x.example/{env.HOME}", "code": 301}}),
        )
        .await;
    let body = expect_error(r, 400, "BAD_REQUEST").await;
    assert_eq!(body["field"], "redirect.target", "{body}");
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "bad.example.com", "upstream": "127.0.0.1:9", "redirect": {"target": "https://x.example/", "code": 301}}),
        )
        .await;
    let body = expect_error(r, 400, "BAD_REQUEST").await;
    assert_eq!(body["field"], "redirect", "{body}");
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "bad.example.com", "redirect": {"target": "https://x.example/", "code": 303}}),
        )
        .await;
    assert_eq!(
        expect_error(r, 400, "BAD_REQUEST").await["field"],
        "redirect.code"
    );
}

async fn aliases_are_served_and_reserved(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let blue = Upstream::start("blue").await;
    let v = app
        .create_vhost(
            json!({"domain": "app.example.com", "upstream": blue.hostport(),
            "aliases": ["App.Example.NET", "app2.example.com"]}),
        )
        .await;
    assert_eq!(v["aliases"], json!(["app.example.net", "app2.example.com"]));
    assert_eq!(v["upstreams"], json!([blue.hostport()]));
    for host in ["app.example.com", "app.example.net", "app2.example.com"] {
        assert_eq!(
            proxy.through_proxy(host, "/").await,
            (200, format!("blue / host={host}")),
            "{kind} serves {host}"
        );
    }
    // A name is one vhost's: as another's domain or alias, it is a 409 naming its vhost.
    for body in [
        json!({"domain": "app.example.net", "upstream": blue.hostport()}),
        json!({"domain": "other.example.com", "upstream": blue.hostport(), "aliases": ["app2.example.com"]}),
        json!({"domain": "other.example.com", "upstream": blue.hostport(), "aliases": ["app.example.com"]}),
    ] {
        let r = app.post("/api/vhosts", body).await;
        let err = expect_error(r, 409, "CONFLICT").await;
        assert!(
            err["message"].as_str().unwrap().contains("app.example.com"),
            "{err}"
        );
    }
    // Listed by alias, and freed when the alias goes.
    let found: Vec<Value> = app
        .get("/api/vhosts?search=example.net")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let id = v["id"].as_i64().unwrap();
    let r = app
        .put(&format!("/api/vhosts/{id}"), json!({"aliases": []}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.create_vhost(json!({"domain": "app2.example.com", "upstream": blue.hostport()}))
        .await;
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "x.example.com", "upstream": blue.hostport(), "aliases": ["not a name"]}),
        )
        .await;
    assert_eq!(
        expect_error(r, 400, "BAD_REQUEST").await["field"],
        "aliases[0]"
    );
}

async fn basic_auth_and_client_addresses_guard_a_site(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let blue = Upstream::start("blue").await;
    let v = app
        .create_vhost(
            json!({"domain": "private.example.com", "upstream": blue.hostport(),
            "access": {"basicAuth": [{"username": "alice", "password": "s3cret pass"}]}}),
        )
        .await;
    let text = v.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("$2"),
        "answers show no password or hash: {text}"
    );
    assert_eq!(v["access"]["basicAuth"], json!([{"username": "alice"}]));
    let host = "private.example.com";
    let get = |user| request(&proxy, "127.0.0.1", host, "/in", user, &[]);
    assert_eq!(get(None).await.0, 401, "{kind}: no credentials");
    assert_eq!(
        get(Some(("alice", "wrong"))).await.0,
        401,
        "{kind}: wrong password"
    );
    let (status, _, body) = get(Some(("alice", "s3cret pass"))).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "blue /in host=private.example.com")
    );

    // Another user added, alice kept without sending her password again.
    let id = v["id"].as_i64().unwrap();
    let r = app
        .put(
            &format!("/api/vhosts/{id}"),
            json!({"access": {"basicAuth": [{"username": "alice"}, {"username": "bob", "password": "b0b"}],
                "allow": ["127.0.0.1"], "deny": ["127.0.0.2/32"]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["access"]["allow"], json!(["127.0.0.1/32"]));
    assert_eq!(get(Some(("alice", "s3cret pass"))).await.0, 200);
    assert_eq!(get(Some(("bob", "b0b"))).await.0, 200);
    // The address the proxy sees decides: 127.0.0.2 is denied, 127.0.0.3 not allowed.
    for from in ["127.0.0.2", "127.0.0.3"] {
        let (status, _, _) = request(
            &proxy,
            from,
            host,
            "/in",
            Some(("alice", "s3cret pass")),
            &[],
        )
        .await;
        assert_eq!(status, 403, "{kind}: {from} is refused");
    }
    // The changelog says the access changed, and never shows a password or its hash.
    let log: Value = app
        .get("/api/changelog?domain=private.example.com")
        .await
        .json()
        .await
        .unwrap();
    // The diffs only: ids are random hex, which may hold "b0b".
    let log: String = log
        .as_array()
        .or_else(|| log["entries"].as_array())
        .expect("changelog entries")
        .iter()
        .filter_map(|e| e["diff"].as_str())
        .collect();
    assert!(
        log.contains("bob") && !log.contains("b0b") && !log.contains("$2"),
        "{log}"
    );
    // A password change is recorded as changed, and only as that.
    let r = app
        .put(
            &format!("/api/vhosts/{id}"),
            json!({"access": {"basicAuth": [{"username": "alice", "password": "new one"}, {"username": "bob"}]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(get(Some(("alice", "new one"))).await.0, 200);
    assert_eq!(get(Some(("alice", "s3cret pass"))).await.0, 401);
    let log: Value = app
        .get("/api/changelog?domain=private.example.com")
        .await
        .json()
        .await
        .unwrap();
    let newest = log
        .as_array()
        .and_then(|l| l.first())
        .or_else(|| log["entries"].as_array().and_then(|l| l.first()))
        .cloned()
        .unwrap_or(log.clone());
    assert!(
        newest.to_string().contains(r#"\"alice\":\"changed\""#),
        "{newest}"
    );
    // A new user needs a password.
    let r = app
        .put(
            &format!("/api/vhosts/{id}"),
            json!({"access": {"basicAuth": [{"username": "carol"}]}}),
        )
        .await;
    assert_eq!(
        expect_error(r, 400, "BAD_REQUEST").await["field"],
        "access.basicAuth[0].password"
    );
}

async fn headers_are_set_and_removed(kind: Kind) {
    let proxy = Backend::start(kind).await;
    let app = &proxy.app;
    let blue = Upstream::start("blue").await;
    app.create_vhost(
        json!({"domain": "h.example.com", "upstream": blue.hostport(),
        "headers": {"request": {"set": {"X-Env": "prod; zone=a"}, "remove": ["X-Secret"]},
                    "response": {"set": {"X-Frame-Options": "DENY"}, "remove": ["X-Upstream"]}}}),
    )
    .await;
    let (status, h, body) = request(
        &proxy,
        "127.0.0.1",
        "h.example.com",
        "/",
        None,
        &[("X-Secret", "hunter2"), ("X-Env", "from-client")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body, "blue / host=h.example.com x-env=prod; zone=a",
        "{kind}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.get("x-upstream").is_none(), "{kind}: {h:?}");
    // Values that would reach the host are refused, naming the header.
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "bad.example.com", "upstream": blue.hostport(),
                "headers": {"response": {"set": {"X-Home": "{env.HOME}"}}}}),
        )
        .await;
    let err = expect_error(r, 400, "BAD_REQUEST").await;
    assert_eq!(err["field"], "headers.response.set.X-Home");
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "bad.example.com", "upstream": blue.hostport(),
                "headers": {"request": {"set": {"X-Host": "$hostname"}}}}),
        )
        .await;
    expect_error(r, 400, "BAD_REQUEST").await;
}

/// A snippet's error handling never serves what the access rules refuse: a request without
/// credentials fails basic auth, and the site's `handle_errors` (Caddy) or `error_page`
/// (nginx) routes are guarded the same way.
#[tokio::test]
async fn access_holds_in_the_snippets_error_routes_on_caddy() {
    let proxy = Backend::start(Kind::Caddy).await;
    let app = &proxy.app;
    let v = app
        .create_vhost(json!({"domain": "err.example.com",
            "config": "handle_errors {\n\trespond \"from the error route\" 200\n}\nrespond \"inside\" 200",
            "access": {"basicAuth": [{"username": "alice", "password": "pw"}], "deny": ["127.0.0.2"]}}))
        .await;
    assert_eq!(v["access"]["basicAuth"][0]["username"], "alice");
    let (status, _, body) = request(&proxy, "127.0.0.1", "err.example.com", "/", None, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("from the error route"), "{body}");
    let (status, _, body) = request(
        &proxy,
        "127.0.0.2",
        "err.example.com",
        "/",
        Some(("alice", "pw")),
        &[],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = request(
        &proxy,
        "127.0.0.1",
        "err.example.com",
        "/",
        Some(("alice", "pw")),
        &[],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "inside"));
}

/// nginx: a snippet's `error_page` sending the 401 elsewhere does not get around basic auth.
#[tokio::test]
async fn access_holds_in_the_snippets_error_pages_on_nginx() {
    let proxy = Backend::start(Kind::Nginx).await;
    let app = &proxy.app;
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "err.example.com",
            "config": "location / {\n    return 200 \"inside\";\n}",
            "access": {"basicAuth": [{"username": "alice", "password": "pw"}]}}),
        )
        .await;
    // nginx answers `return` before its access checks: with access rules, it is refused;
    // and so is an access directive of the snippet's own, which would replace the rules.
    let err = expect_error(r, 400, "BAD_REQUEST").await;
    assert!(err["message"].as_str().unwrap().contains("return"), "{err}");
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "err.example.com",
            "config": "location / {\n    allow all;\n    proxy_pass http://127.0.0.1:9;\n}",
            "access": {"deny": ["127.0.0.2"]}}),
        )
        .await;
    let err = expect_error(r, 400, "BAD_REQUEST").await;
    assert!(err["message"].as_str().unwrap().contains("allow"), "{err}");
    let blue = Upstream::start("blue").await;
    let snippet = format!(
        "error_page 401 403 = @in;\nlocation @in {{\n    proxy_pass http://{};\n}}\nlocation / {{\n    proxy_pass http://{};\n}}",
        blue.hostport(),
        blue.hostport()
    );
    let r = app
        .post("/api/vhosts", json!({"domain": "err.example.com", "config": snippet,
            "access": {"basicAuth": [{"username": "alice", "password": "pw"}], "deny": ["127.0.0.2"]}}))
        .await;
    let status = r.status();
    let text = r.text().await.unwrap();
    if status == StatusCode::BAD_REQUEST {
        // The snippet rules refuse error_page: nothing to get around.
        return;
    }
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let (status, _, body) = request(&proxy, "127.0.0.1", "err.example.com", "/", None, &[]).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = request(
        &proxy,
        "127.0.0.2",
        "err.example.com",
        "/",
        Some(("alice", "pw")),
        &[],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = request(
        &proxy,
        "127.0.0.1",
        "err.example.com",
        "/",
        Some(("alice", "pw")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("blue / "), "{body}");
}
