use serde_json::{json, Value};

use crate::support::{expect_error, TestApp};

fn domains(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["domain"].as_str().unwrap().to_string())
        .collect()
}

/// Vhosts stored directly (no proxy needed to list them).
async fn seed(app: &TestApp, names: &[(&str, bool)]) {
    let db = app.db().await;
    for (i, (d, enabled)) in names.iter().enumerate() {
        let t = format!("2026-01-01T00:00:{i:02}.000Z");
        sqlx::query(
            "INSERT INTO vhosts (domain, upstream, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(*d)
        .bind("127.0.0.1:9")
        .bind(i64::from(*enabled))
        .bind(t)
        .execute(&db)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn vhosts_are_searched_filtered_sorted_and_paged() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    seed(
        &app,
        &[
            ("shop.example.com", true),
            ("api.example.com", true),
            ("blog.example.org", false),
            ("shop-staging.example.com", false),
            ("docs.example.net", true),
        ],
    )
    .await;
    let get = |q: &str| {
        let path = format!("/api/vhosts{q}");
        let app = &app;
        async move { app.get(&path).await }
    };

    // No parameters: the seed's shape, everything sorted by domain.
    let r = get("").await;
    assert_eq!(r.headers()["x-total-count"], "5");
    assert!(r.headers().get("link").is_none());
    let all: Value = r.json().await.unwrap();
    assert_eq!(
        domains(&all),
        [
            "api.example.com",
            "blog.example.org",
            "docs.example.net",
            "shop-staging.example.com",
            "shop.example.com"
        ]
    );

    let v: Value = get("?search=SHOP").await.json().await.unwrap();
    assert_eq!(
        domains(&v),
        ["shop-staging.example.com", "shop.example.com"]
    );
    let v: Value = get("?search=shop&enabled=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(domains(&v), ["shop-staging.example.com"]);
    let v: Value = get("?search=%25").await.json().await.unwrap();
    assert!(domains(&v).is_empty(), "% is taken literally");
    let v: Value = get("?sort=createdAt&order=desc")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(domains(&v)[0], "docs.example.net");

    // Pages: X-Total-Count and Link both ways.
    let r = get("?limit=2&page=2").await;
    assert_eq!(r.headers()["x-total-count"], "5");
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=3>; rel=\"next\""), "{link}");
    assert!(link.contains("page=1>; rel=\"prev\""), "{link}");
    assert_eq!(
        domains(&r.json().await.unwrap()),
        ["docs.example.net", "shop-staging.example.com"]
    );
    let r = get("?limit=2&page=3").await;
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(!link.contains("next") && link.contains("prev"), "{link}");
    assert_eq!(domains(&r.json().await.unwrap()), ["shop.example.com"]);

    for bad in [
        "?sort=id",
        "?sort=domain;DROP TABLE vhosts",
        "?order=sideways",
        "?limit=501",
        "?limit=0",
        "?page=0",
        "?enabled=maybe",
        "?colour=blue",
    ] {
        expect_error(get(bad).await, 400, "BAD_REQUEST").await;
    }
    let v: Value = get("").await.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5, "still all there");
    expect_error(app.get("/api/vhosts/999").await, 404, "NOT_FOUND").await;
    expect_error(app.get("/api/vhosts/abc").await, 400, "BAD_REQUEST").await;
}

#[tokio::test]
async fn users_are_listed_the_same_way() {
    let app = TestApp::spawn_without_proxy().await;
    app.sign_up_admin().await;
    for (name, email, role) in [
        ("Bea", "bea@example.com", "editor"),
        ("Cem", "cem@example.com", "viewer"),
        ("Dora", "dora@example.org", "viewer"),
    ] {
        let r = app
            .post(
                "/api/users",
                json!({"name": name, "email": email, "password": "long enough", "role": role}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let emails = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/users?sort=email&order=desc&limit=2").await;
    assert_eq!(r.headers()["x-total-count"], "4");
    assert!(r.headers()["link"]
        .to_str()
        .unwrap()
        .contains("rel=\"next\""));
    assert_eq!(
        emails(&r.json().await.unwrap()),
        ["dora@example.org", "cem@example.com"]
    );
    let v: Value = app
        .get("/api/users?role=viewer&sort=name")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&v), ["cem@example.com", "dora@example.org"]);
    let v: Value = app
        .get("/api/users?search=example.org")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&v), ["dora@example.org"]);
    for bad in [
        "?sort=password_hash",
        "?role=root",
        "?limit=1000",
        "?order=up",
    ] {
        expect_error(
            app.get(&format!("/api/users{bad}")).await,
            400,
            "BAD_REQUEST",
        )
        .await;
    }
}
