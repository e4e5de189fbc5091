//! `PROXYHUB_TLS=internal`: Caddy serves each vhost over HTTPS with a certificate from its
//! local CA (kept in the test Caddy's own data folder, never in the host's trust store), and
//! proxyhub's own check of what is served shows on the vhost. Caddy only: proxyhub checks no
//! certificates with nginx.

use std::{net::SocketAddr, time::Duration};

use proxyhub::config::TlsMode;
use serde_json::{json, Value};

use crate::support::{caddy::CaddyProcess, free_port, Options, TestApp, Upstream};

#[tokio::test]
async fn caddy_serves_local_ca_certificates_and_proxyhub_checks_them() {
    let caddy = CaddyProcess::start().await;
    let https_port = free_port();
    let app = TestApp::spawn_with(
        &caddy,
        Options {
            tls: TlsMode::Internal,
            https_port: Some(https_port),
            ..Default::default()
        },
    )
    .await;
    app.sign_up_admin().await;
    let upstream = Upstream::start("blue").await;
    let v = app
        .create_vhost(json!({"domain": "secure.example.com", "upstream": upstream.hostport()}))
        .await;
    let id = v["id"].as_i64().unwrap();

    // Caddy obtains the certificate in the background; proxyhub checks soon after the push.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let vhost = loop {
        let v: Value = app
            .get(&format!("/api/vhosts/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if !v["certificate"].is_null() || tokio::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !vhost["certificate"].is_null(),
        "no certificate status in 20 s: {vhost}\n{}",
        caddy.log()
    );
    let cert = &vhost["certificate"];
    assert!(
        cert["issuer"]
            .as_str()
            .is_some_and(|i| i.contains("Caddy Local Authority")),
        "{cert}"
    );
    let not_after = proxyhub::timestamps::parse(cert["notAfter"].as_str().unwrap()).unwrap();
    assert!(not_after > time::OffsetDateTime::now_utc(), "{cert}");
    assert_eq!(cert["matches"], true, "{cert}");
    assert_eq!(cert["expiringSoon"], false, "{cert}");
    assert_eq!(cert["problem"], Value::Null, "{cert}");
    assert_eq!(cert["names"], json!(["secure.example.com"]), "{cert}");

    assert!(
        caddy
            .log()
            .contains("root certificate trust store installation disabled"),
        "Caddy was told not to touch the host's trust store:\n{}",
        caddy.log()
    );

    let listed: Value = app.get("/api/certificates").await.json().await.unwrap();
    assert_eq!(listed[0]["name"], "secure.example.com", "{listed}");
    assert_eq!(listed[0]["matches"], true, "{listed}");

    // A client that trusts only Caddy's local CA reaches the vhost over HTTPS.
    let ca: Value = reqwest::get(format!("{}/pki/ca/local", caddy.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root = reqwest::Certificate::from_pem(ca["root_certificate"].as_str().unwrap().as_bytes())
        .unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .resolve(
            "secure.example.com",
            SocketAddr::from(([127, 0, 0, 1], https_port)),
        )
        .no_proxy()
        .build()
        .unwrap();
    let r = client
        .get(format!("https://secure.example.com:{https_port}/hello"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("HTTPS through Caddy: {e:?}\n{}", caddy.log()));
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("blue /hello host=secure.example.com"),
        "{body}"
    );

    // A vhost with HSTS and an alias: both names get a certificate and the header over
    // HTTPS, and plain HTTP is sent to HTTPS.
    app.create_vhost(
        json!({"domain": "hsts.example.com", "upstream": upstream.hostport(),
        "aliases": ["alias.example.com"], "tls": {"forceHttps": true, "hsts": true}}),
    )
    .await;
    let to = SocketAddr::from(([127, 0, 0, 1], https_port));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(ca["root_certificate"].as_str().unwrap().as_bytes())
                .unwrap(),
        )
        .resolve("hsts.example.com", to)
        .resolve("alias.example.com", to)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    for name in ["hsts.example.com", "alias.example.com"] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let r = loop {
            match client
                .get(format!("https://{name}:{https_port}/"))
                .send()
                .await
            {
                Ok(r) => break r,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("HTTPS for {name}: {e:?}\n{}", caddy.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(
            r.headers()["strict-transport-security"],
            "max-age=31536000",
            "{name}"
        );
    }
    let r = client
        .get(format!("http://127.0.0.1:{}/x?y=1", caddy.http_port))
        .header("Host", "hsts.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://hsts.example.com") && location.ends_with("/x?y=1"),
        "{location}"
    );
}
