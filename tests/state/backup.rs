use std::process::Output;

use serde_json::json;

use super::said;
use crate::support::TestApp;

async fn proxyhub(database_url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_proxyhub"))
        .args(args)
        .env("PROXYHUB_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the proxyhub binary runs")
}

/// A SQLite store in a directory of its own (these are SQLite's tools, whatever the suite's
/// backend).
fn sqlite_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proxyhub.db").display());
    (dir, url)
}

#[tokio::test]
async fn a_backup_taken_during_writes_is_a_consistent_store_and_restore_waits_for_the_server() {
    let (store, url) = sqlite_store();
    let app = TestApp::spawn_without_proxy_on(tempfile::tempdir().unwrap(), url.clone()).await;
    app.sign_up_admin().await;
    // Writes go on while the backup is taken.
    let writer = {
        let (client, base) = (app.client.clone(), app.base.clone());
        tokio::spawn(async move {
            for i in 0..200 {
                let r = client
                    .post(format!("{base}/api/tokens"))
                    .json(&json!({"name": format!("t{i}"), "scopes": ["read:vhosts"]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let copy = store.path().join("copy.db");
    let out = proxyhub(&url, &["backup", copy.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", said(&out));
    writer.await.unwrap();

    let copied = proxyhub::db::connect(&format!("sqlite://{}", copy.display()))
        .await
        .expect("the backup opens as a store");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&copied)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&copied)
        .await
        .unwrap();
    assert_eq!(users, 1);
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(&copied)
        .await
        .unwrap();
    assert!((0..=200).contains(&tokens), "{tokens}");
    copied.close().await;

    // A second backup to the same file replaces it with a whole copy; a restore while
    // proxyhub serves is refused.
    let out = proxyhub(&url, &["backup", copy.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", said(&out));
    let again = proxyhub::db::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(&again)
        .await
        .unwrap();
    assert_eq!(tokens, 200, "the second copy has every write");
    again.close().await;
    let out = proxyhub(&url, &["restore", copy.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(
        said(&out).contains("another proxyhub serves"),
        "{}",
        said(&out)
    );

    // Stopped, the store can be restored; the restored store is the backup's.
    app.stop().await;
    let out = proxyhub(&url, &["restore", copy.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", said(&out));
    let restored = proxyhub::db::connect(&url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(&restored)
        .await
        .unwrap();
    assert_eq!(n, tokens);
    // Something that is not a proxyhub store is refused.
    restored.close().await;
    let junk = store.path().join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let out = proxyhub(&url, &["restore", junk.to_str().unwrap()]).await;
    assert!(!out.status.success(), "{}", said(&out));
}

#[tokio::test]
async fn an_upgrade_copies_the_store_aside_before_migrating_it() {
    let (store, url) = sqlite_store();
    // A store of the previous schema: everything but the newest migration.
    {
        let db = proxyhub::db::connect(&url).await.unwrap();
        let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(newest, 13);
        for stmt in [
            "DELETE FROM _sqlx_migrations WHERE version = 13",
            "DROP TABLE access_log_follows",
        ] {
            sqlx::query(stmt).execute(&db).await.unwrap();
        }
        db.close().await;
    }
    let backups = store.path().join("backups");
    let app = TestApp::spawn_without_proxy_on(tempfile::tempdir().unwrap(), url.clone()).await;
    app.sign_up_admin().await;
    let made: Vec<_> = std::fs::read_dir(&backups)
        .expect("a backups directory beside the store")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        made[0].starts_with("proxyhub-v0012-") && made[0].ends_with(".db"),
        "{made:?}"
    );
    // The copy is the store as it was: the old schema, which an older proxyhub opens.
    let old = sqlx::AnyPool::connect(&format!("sqlite://{}", backups.join(&made[0]).display()))
        .await
        .unwrap();
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&old)
        .await
        .unwrap();
    assert_eq!(version, 12);
    // Started again with nothing to migrate: no new copy.
    app.stop().await;
    let again = TestApp::spawn_without_proxy_on(tempfile::tempdir().unwrap(), url).await;
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);
    again.stop().await;
}
