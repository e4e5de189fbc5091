use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::support::{CaddyProcess, TestApp};

/// A Python tool `scripts/test` installs into `tests/.tools/<dir>`.
fn tool(dir: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.tools")
        .join(dir);
    assert!(
        path.is_dir(),
        "{} is missing: scripts/test installs it (python3 -m pip install --target)",
        path.display()
    );
    path
}

async fn document(app: &TestApp) -> Value {
    let r = app
        .new_client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the document needs no sign-in");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn_without_proxy().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = tokio::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .env("PYTHONPATH", tool("openapi"))
        .output()
        .await
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openapi-spec-validator: {said}");
    assert!(said.contains("OK"), "{said}");
}

#[tokio::test]
async fn the_document_describes_every_route_its_errors_and_how_to_sign_in() {
    let app = TestApp::spawn_without_proxy().await;
    let doc = document(&app).await;
    let mut routes: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "DELETE /api/nodes/{id}",
            "DELETE /api/tokens/{id}",
            "DELETE /api/users/{id}",
            "DELETE /api/vhosts/{id}",
            "DELETE /api/webhooks/{id}",
            "GET /api/auth/callback/{id}",
            "GET /api/auth/get-session",
            "GET /api/auth/list-sessions",
            "GET /api/certificates",
            "GET /api/changelog",
            "GET /api/cluster/status",
            "GET /api/docs",
            "GET /api/events",
            "GET /api/export",
            "GET /api/health",
            "GET /api/logs",
            "GET /api/logs/ship/position",
            "GET /api/logs/ship/progress",
            "GET /api/logs/stats",
            "GET /api/logs/status",
            "GET /api/nodes",
            "GET /api/openapi.json",
            "GET /api/ready",
            "GET /api/status",
            "GET /api/tokens",
            "GET /api/users",
            "GET /api/vhosts",
            "GET /api/vhosts/{id}",
            "GET /api/vhosts/{id}/health",
            "GET /api/vhosts/{id}/stats",
            "GET /api/webhooks",
            "GET /api/webhooks/{id}/deliveries",
            "PATCH /api/nodes/{id}",
            "PATCH /api/users/{id}",
            "PATCH /api/vhosts/{id}/toggle",
            "POST /api/auth/change-password",
            "POST /api/auth/revoke-other-sessions",
            "POST /api/auth/revoke-session",
            "POST /api/auth/revoke-sessions",
            "POST /api/auth/sign-in/email",
            "POST /api/auth/sign-in/social",
            "POST /api/auth/sign-out",
            "POST /api/auth/sign-up/email",
            "POST /api/auth/two-factor/disable",
            "POST /api/auth/two-factor/enable",
            "POST /api/auth/two-factor/generate-backup-codes",
            "POST /api/auth/two-factor/get-totp-uri",
            "POST /api/auth/two-factor/verify-backup-code",
            "POST /api/auth/two-factor/verify-totp",
            "POST /api/auth/update-user",
            "POST /api/changelog/{id}/revert",
            "POST /api/import",
            "POST /api/import/caddyfile",
            "POST /api/import/nginx",
            "POST /api/logs/ship",
            "POST /api/logs/ship/follow",
            "POST /api/nodes",
            "POST /api/tokens",
            "POST /api/users",
            "POST /api/vhosts",
            "POST /api/webhooks",
            "POST /api/webhooks/{id}/test",
            "PUT /api/vhosts/{id}",
        ]
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "proxyhub.session_token");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(
        error["required"],
        serde_json::json!(["error", "code", "message"])
    );
    assert!(error["properties"]["proxyMessage"].is_object());

    let vhosts = &doc["paths"]["/api/vhosts"]["post"];
    assert!(
        vhosts["security"].is_array(),
        "changing vhosts needs sign-in"
    );
    for status in ["201", "400", "401", "403", "409", "502"] {
        assert!(
            vhosts["responses"][status].is_object(),
            "POST /api/vhosts answers {status}"
        );
    }
    let sign_in = &doc["paths"]["/api/auth/sign-in/email"]["post"];
    assert!(sign_in["security"].is_null(), "signing in needs no session");
    assert!(sign_in["responses"]["429"]["headers"]["Retry-After"].is_object());
    // Every answer says where the caller stands with the rate limit.
    for status in ["200", "429"] {
        let headers = &sign_in["responses"][status]["headers"];
        for h in [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ] {
            assert!(headers[h].is_object(), "{status} {h}: {headers}");
        }
    }
    let put = &doc["paths"]["/api/vhosts/{id}"]["put"];
    assert!(put["responses"]["412"].is_object());
    assert!(put["responses"]["200"]["headers"]["ETag"].is_object());
    let params: Vec<&str> = put["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"If-Match"), "{params:?}");
    let list = &doc["paths"]["/api/vhosts"]["get"];
    let limit = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("limit is documented");
    assert_eq!(limit["schema"]["maximum"], 500);
    assert!(list["responses"]["200"]["headers"]["X-Total-Count"].is_object());
    let post = &doc["paths"]["/api/vhosts"]["post"];
    assert!(
        post["responses"]["422"].is_object(),
        "a reused Idempotency-Key"
    );
    let limit = doc["paths"]["/api/logs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["maximum"], 500, "{limit}");
}

#[tokio::test]
async fn the_reference_page_lists_every_operation_and_schema() {
    let app = TestApp::spawn_without_proxy().await;
    let doc = document(&app).await;
    let r = app
        .new_client()
        .get(app.url("/api/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the page needs no sign-in");
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline code"
    );
    assert!(page.contains("<h1>") && page.contains("<caption>"));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(page.contains(&format!("id=\"op-{id}\"")), "{method} {path}");
            // minijinja escapes `/` in text.
            let shown = path.replace('/', "&#x2f;");
            assert!(page.contains(&format!("<code class=\"path\">{shown}</code>")));
        }
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(page.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
}

/// Schemathesis sends requests generated from the document, with an API token of the admin's
/// holding every scope, and checks every answer against it. It finds token ids in
/// `GET /api/tokens` and would revoke its own token half-way, so revoking is left out (the
/// `tokens` tests cover it); everything else is exercised.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_allow() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let r = app
        .post(
            "/api/tokens",
            serde_json::json!({"name": "schemathesis", "scopes": ["read:vhosts", "write:vhosts", "read:logs", "write:logs", "read:changelog", "admin"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // A fixed seed keeps CI's run the same; PROXYHUB_TEST_SCHEMATHESIS=EXAMPLES[:SEED] digs
    // deeper by hand (a seed of `random` for a new one each run).
    let knobs = std::env::var("PROXYHUB_TEST_SCHEMATHESIS").unwrap_or_default();
    let (examples, seed) = knobs.split_once(':').unwrap_or((knobs.as_str(), "1"));
    let examples = if examples.is_empty() { "8" } else { examples };
    // A vhost whose snippet the proxy refuses is a 502 that carries the proxy's words, as
    // documented: it is the proxy's verdict, not a fault of proxyhub's.
    let config = app.dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.not_a_server_error]\nexpected-statuses = [\"2xx\", \"3xx\", \"4xx\", \"502\"]\n",
    )
    .unwrap();
    let mut run = tokio::process::Command::new("python3");
    run.args([
        "-c",
        "from schemathesis.cli import schemathesis; schemathesis()",
    ])
    .arg("--config-file")
    .arg(&config)
    .arg("run")
    .arg(app.url("/api/openapi.json"))
    .args(["--url", &app.base])
    .args([
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
        "--max-examples",
        examples,
        "--exclude-operation-id",
        "revokeToken",
        // An event stream never ends: it is read by tests/events, not fuzzed.
        "--exclude-operation-id",
        "streamEvents",
        "--request-timeout",
        "10",
        "--phases",
        "examples,coverage,fuzzing",
        "--generation-with-security-parameters",
        "false",
        "--generation-database",
        "none",
        "--no-color",
    ]);
    if seed != "random" {
        run.args(["--seed", seed]);
    }
    run.arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .env("PYTHONPATH", tool("schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(app.dir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(110), run.output())
        .await
        .expect("schemathesis finishes within its time")
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found problems:\n{said}");
    // What it exercised, for whoever reads the test's output.
    eprintln!("{said}");
    // The run may have made other admins and demoted the token's owner (the API allows it):
    // what must hold is that proxyhub still serves.
    let r = reqwest::Client::new()
        .get(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "proxyhub still answers after the run");
}
