use serde_json::{json, Value};

use crate::support::{expect_error, served, CaddyProcess, TestApp, Upstream};

/// The newest changelog entry's id.
async fn last_entry(app: &TestApp) -> (i64, Value) {
    let log: Value = app
        .get("/api/changelog?limit=1")
        .await
        .json()
        .await
        .unwrap();
    (log[0]["id"].as_i64().unwrap(), log[0].clone())
}

async fn revert(app: &TestApp, id: i64) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/changelog/{id}/revert")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_kind_of_change_is_reverted_and_conflicts_are_explained() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let (a, b) = (
        Upstream::start("rev-a").await,
        Upstream::start("rev-b").await,
    );
    let v = app
        .create_vhost(json!({"domain": "rev.test", "upstream": a.hostport()}))
        .await;
    let path = format!("/api/vhosts/{}", v["id"]);

    // An update: the old values come back.
    assert_eq!(
        app.put(&path, json!({"upstream": b.hostport()}))
            .await
            .status(),
        200
    );
    let (update, _) = last_entry(&app).await;
    let r = revert(&app, update).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["vhost"]["upstream"], a.hostport());
    assert_eq!(body["deleted"], false);
    let (_, entry) = last_entry(&app).await;
    assert_eq!(entry["revertOf"], update);
    assert_eq!(entry["action"], "update");
    let (code, text) = served(&app, "rev.test", "/", |_, t| t.starts_with("rev-a ")).await;
    assert!(code == 200 && text.starts_with("rev-a "), "{code} {text}");
    // Reverting it twice: the vhost no longer has the new values.
    let body = expect_error(revert(&app, update).await, 409, "CONFLICT").await;
    assert!(
        body["message"].as_str().unwrap().contains("upstream"),
        "{body}"
    );

    // A toggle: toggled back.
    assert_eq!(app.patch(&format!("{path}/toggle")).await.status(), 200);
    let (toggle, _) = last_entry(&app).await;
    let r = revert(&app, toggle).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["vhost"]["enabled"], true);
    expect_error(revert(&app, toggle).await, 409, "CONFLICT").await;

    // A delete: back with every field.
    assert_eq!(app.delete(&path).await.status(), 200);
    let (delete, _) = last_entry(&app).await;
    let (code, text) = served(&app, "rev.test", "/", |_, t| !t.contains("host=rev.test")).await;
    assert!(
        !text.contains("host=rev.test"),
        "still served: {code} {text}"
    );
    let r = revert(&app, delete).await;
    assert_eq!(r.status(), 200);
    let back: Value = r.json::<Value>().await.unwrap()["vhost"].clone();
    assert_eq!(back["domain"], "rev.test");
    assert_eq!(back["upstream"], a.hostport());
    assert!(back["config"].is_null());
    assert_eq!(back["enabled"], true);
    let (code, _) = served(&app, "rev.test", "/", |c, _| c == 200).await;
    assert_eq!(code, 200);
    // Its domain is taken now (it is back): 409.
    let body = expect_error(revert(&app, delete).await, 409, "CONFLICT").await;
    assert!(
        body["message"].as_str().unwrap().contains("rev.test"),
        "{body}"
    );

    // A create: deleted; but not once it has changed since.
    let other = app
        .create_vhost(json!({"domain": "made.test", "upstream": a.hostport()}))
        .await;
    let (create, _) = last_entry(&app).await;
    assert_eq!(
        app.put(
            &format!("/api/vhosts/{}", other["id"]),
            json!({"upstream": b.hostport()})
        )
        .await
        .status(),
        200
    );
    let body = expect_error(revert(&app, create).await, 409, "CONFLICT").await;
    assert!(
        body["message"].as_str().unwrap().contains("changed"),
        "{body}"
    );
    let (later, _) = last_entry(&app).await;
    assert_eq!(
        revert(&app, later).await.status(),
        200,
        "the later update first"
    );
    let r = revert(&app, create).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], true);
    let list: Value = app
        .get("/api/vhosts?search=made")
        .await
        .json()
        .await
        .unwrap();
    assert!(list.as_array().unwrap().is_empty());

    expect_error(revert(&app, 99_999).await, 404, "NOT_FOUND").await;
    // Viewers cannot revert.
    let viewer = app.client_with_role("vi@example.com", "viewer").await;
    let r = viewer
        .post(app.url(&format!("/api/changelog/{create}/revert")))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "FORBIDDEN").await;
}
