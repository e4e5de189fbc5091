use serde_json::Value;

use super::{admin_token, proxyhub, said, vhosts};
use crate::support::{served, CaddyProcess, NginxProcess, TestApp, Upstream};

#[tokio::test]
async fn an_existing_caddyfile_is_adopted_in_one_command() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let token = admin_token(&app).await;
    let (shop, api) = (Upstream::start("shop").await, Upstream::start("api").await);
    let caddyfile = format!(
        r#"# What an existing Caddy ran.
{{
	email ops@example.com
	admin localhost:2019
}}

(logging) {{
	log
}}

import logging

shop.example.com, www.shop.example.com {{
	reverse_proxy {shop}
}}

api.example.com {{
	@v1 path /v1/*
	handle @v1 {{
		header X-Api v1
		reverse_proxy {api}
	}}
	handle {{
		respond "no such API" 404
	}}
}}

*.apps.example.com {{
	tls internal
	reverse_proxy {shop}
}}

secrets.example.com {{
	import /etc/caddy/extra.caddy
}}

:9999 {{
	respond "no host"
}}
"#,
        shop = shop.hostport(),
        api = api.hostport()
    );
    let file = app.dir.path().join("Caddyfile");
    std::fs::write(&file, &caddyfile).unwrap();
    let file = file.to_str().unwrap();

    // The plan first: nothing changes.
    let out = proxyhub(&app, &token, &["import", "caddyfile", file]).await;
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    for line in [
        "+ shop.example.com",
        "+ www.shop.example.com",
        "+ api.example.com",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    for skipped in [
        "global options",
        "(logging)",
        "import logging",
        ":9999",
        "secrets.example.com",
    ] {
        assert!(
            text.contains(&format!("not imported: {skipped}")),
            "{skipped}: {text}"
        );
    }
    assert!(vhosts(&app).await.is_empty(), "a plan changes nothing");

    let out = proxyhub(&app, &token, &["import", "caddyfile", file, "--apply"]).await;
    assert!(out.status.success(), "{}", said(&out));
    let (code, body) = served(&app, "www.shop.example.com", "/", |c, _| c == 200).await;
    assert!(code == 200 && body.starts_with("shop "), "{code} {body}");
    let (code, body) = served(&app, "api.example.com", "/v1/users", |c, _| c == 200).await;
    assert!(
        code == 200 && body.starts_with("api /v1/users"),
        "{code} {body}"
    );
    let (code, body) = served(&app, "api.example.com", "/other", |c, _| c == 404).await;
    assert_eq!((code, body.as_str()), (404, "no such API"));
    let stored: Value = app
        .get("/api/vhosts?search=shop.example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored[0]["upstream"],
        shop.hostport(),
        "a lone reverse_proxy is the upstream"
    );
    assert!(stored[0]["config"].is_null());
}

#[tokio::test]
async fn an_existing_nginx_config_with_includes_and_upstreams_is_adopted() {
    let nginx = NginxProcess::start().await;
    let app = TestApp::spawn_nginx(&nginx).await;
    app.sign_up_admin().await;
    let token = admin_token(&app).await;
    let (shop, api) = (Upstream::start("shop").await, Upstream::start("api").await);
    let dir = app.dir.path().join("old-nginx");
    std::fs::create_dir_all(dir.join("sites-enabled")).unwrap();
    std::fs::write(
        dir.join("nginx.conf"),
        "user www-data;\nevents { worker_connections 768; }\nhttp {\n    include mime.types;\n    include sites-enabled/*;\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sites-enabled/shop"),
        format!(
            "upstream shop_backend {{\n    server {};\n}}\nserver {{\n    listen 80;\n    server_name shop.example.com www.shop.example.com;\n    location / {{\n        proxy_pass http://shop_backend;\n    }}\n}}\n",
            shop.hostport()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("sites-enabled/api"),
        format!(
            "server {{\n    listen 443 ssl;\n    server_name api.example.com;\n    ssl_certificate /etc/ssl/api.pem;\n    ssl_certificate_key /etc/ssl/api.key;\n    # the API, under /v1/\n    location /v1/ {{\n        proxy_pass http://{};\n    }}\n    location / {{\n        return 404 \"no such API\";\n    }}\n}}\nserver {{\n    listen 80 default_server;\n    server_name _;\n    return 444;\n}}\n",
            api.hostport()
        ),
    )
    .unwrap();
    let main = dir.join("nginx.conf");
    let out = proxyhub(
        &app,
        &token,
        &["import", "nginx", main.to_str().unwrap(), "--apply"],
    )
    .await;
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(
        text.contains("+ api.example.com") && text.contains("+ shop.example.com"),
        "{text}"
    );
    assert!(text.contains("not imported: include mime.types"), "{text}");
    assert!(text.contains("not imported: server at line"), "{text}");
    let (code, body) = served(&app, "www.shop.example.com", "/", |c, _| c == 200).await;
    assert!(code == 200 && body.starts_with("shop "), "{code} {body}");
    let (code, body) = served(&app, "api.example.com", "/v1/x", |c, _| c == 200).await;
    assert!(
        code == 200 && body.starts_with("api /v1/x"),
        "{code} {body}"
    );
    let (code, body) = served(&app, "api.example.com", "/", |c, _| c == 404).await;
    assert_eq!((code, body.as_str()), (404, "no such API"));
    let stored: Value = app
        .get("/api/vhosts?search=shop.example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored[0]["upstream"],
        format!("http://{}", shop.hostport()),
        "an upstream block of one server is the upstream"
    );
}
