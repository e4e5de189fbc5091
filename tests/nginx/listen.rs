//! Where nginx listens and what it must resolve: a reload nginx cannot bind is answered at
//! once with nginx's own error-log line, `PROXYHUB_NGINX_LISTEN` fixes it, and an upstream
//! whose name does not resolve fails its own site only, across a full restart of nginx.

use serde_json::json;

use crate::support::{eventually, expect_error, served, NginxProcess, TestApp, Upstream};

#[tokio::test]
async fn a_reload_nginx_cannot_bind_is_a_502_quoting_its_error_log() {
    // The main config's default server holds 127.0.0.1:<port>; proxyhub's servers on every
    // address of that port cannot be bound by a reload.
    let nginx = NginxProcess::start_listening_on(Some("127.0.0.1")).await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let before = nginx.files();
    let r = app
        .post(
            "/api/vhosts",
            json!({"domain": "app.example.com", "config": "return 200 ok;"}),
        )
        .await;
    let body = expect_error(r, 502, "PROXY_REJECTED").await;
    let said = body["proxyMessage"].as_str().unwrap();
    assert!(
        said.contains("[emerg]")
            && said.contains("bind()")
            && said.contains("Address already in use"),
        "nginx's own error-log line: {body}"
    );
    assert_eq!(nginx.files(), before, "the previous files are back");
    assert!(app
        .get("/api/vhosts")
        .await
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .is_empty());
    app.stop().await;

    // Listening where the main config does, it works.
    let listen = format!("127.0.0.1:{}", nginx.http_port);
    let app = TestApp::spawn_nginx_with(&nginx, Some(listen.clone()), None).await;
    app.sign_up_admin().await;
    app.create_vhost(json!({"domain": "app.example.com", "config": "return 200 ok;"}))
        .await;
    assert_eq!(
        served(&app, "app.example.com", "/", |s, _| s == 200).await,
        (200, "ok".to_string())
    );
    let file = &nginx.files()["proxyhub-site-app.example.com.conf"];
    assert!(String::from_utf8_lossy(file).contains(&format!("listen {listen};")));
}

#[tokio::test]
async fn an_upstream_that_does_not_resolve_fails_its_own_site_only() {
    let mut nginx = NginxProcess::start().await;
    // A DNS server that knows no name: lookups fail at once, whatever this machine's DNS.
    let resolver = knows_no_name().await;
    let app = TestApp::spawn_nginx_with(&nginx, None, Some(resolver.to_string())).await;
    app.sign_up_admin().await;
    let up = Upstream::start("live").await;
    app.create_vhost(json!({"domain": "live.example.com", "upstream": up.hostport()}))
        .await;
    app.create_vhost(json!({"domain": "dead.example.com", "upstream": "nowhere.invalid:8080"}))
        .await;
    app.create_vhost(
        json!({"domain": "https.example.com", "upstream": "https://also-nowhere.invalid"}),
    )
    .await;
    for round in ["after the reload", "after a full restart of nginx"] {
        let live = served(&app, "live.example.com", "/x", |_, b| b.starts_with("live")).await;
        assert!(live.1.starts_with("live /x"), "{round}: {live:?}");
        for dead in ["dead.example.com", "https.example.com"] {
            let (status, _) = served(&app, dead, "/", |s, _| s >= 500).await;
            assert_eq!(status, 502, "{round}: {dead}");
        }
        nginx.stop().await;
        nginx.boot().await;
    }
}

/// A DNS server on loopback that answers every query "no such name" (NXDOMAIN).
async fn knows_no_name() -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if n < 12 {
                continue;
            }
            // The question ends after its name's labels (a zero byte ends them) and 4 bytes.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += 1 + usize::from(buf[end]);
            }
            let end = (end + 5).min(n);
            // The query's id and question, with the flags of an answer: QR, RD and RA set,
            // RCODE 3; one question, no records.
            let mut answer = buf[..end].to_vec();
            answer[2] = 0x80 | (buf[2] & 0x01);
            answer[3] = 0x83;
            answer[6..12].fill(0);
            let _ = socket.send_to(&answer, from).await;
        }
    });
    addr
}

/// No database transaction is open while the proxy takes a push: while nginx is busy failing
/// a reload (and proxyhub waits for it), an account signs in and the access log is ingested.
#[tokio::test]
async fn sign_ins_and_log_ingest_go_on_while_a_push_waits_for_the_proxy() {
    let nginx = NginxProcess::start_listening_on(Some("127.0.0.1")).await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let viewer = app
        .post(
            "/api/users",
            json!({"name": "Vi", "email": "vi@example.com", "password": "viewer pass", "role": "viewer"}),
        )
        .await;
    assert_eq!(viewer.status(), 201);
    let push = {
        let (client, url) = (app.client.clone(), app.url("/api/vhosts"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"domain": "app.example.com", "config": "return 200 ok;"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // nginx has tried the reload (and will say so for a while): the push is under way.
    let trying = eventually(std::time::Duration::from_secs(10), || async {
        nginx.log().contains("bind()")
    })
    .await;
    assert!(trying, "nginx tried the reload: {}", nginx.log());
    let signed_in = app
        .new_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "vi@example.com", "password": "viewer pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let line = format!(
        r#"{{"level":"info","ts":{},"logger":"http.log.access.proxyhub","msg":"handled request","request":{{"remote_ip":"127.0.0.1","remote_port":"5","proto":"HTTP/1.1","method":"GET","host":"a.example.com","uri":"/during","headers":{{}}}},"duration":0.001,"size":2,"status":200}}"#,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    );
    std::fs::write(&app.access_log, format!("{line}\n")).unwrap();
    let stored = eventually(std::time::Duration::from_secs(5), || async {
        let r: serde_json::Value = app.get("/api/logs").await.json().await.unwrap();
        r["total"] == 1
    })
    .await;
    assert!(stored, "the request was stored");
    assert!(
        !push.is_finished(),
        "the sign-in and the ingest did not wait for the push to end"
    );
    assert_eq!(push.await.unwrap(), 502);
}
