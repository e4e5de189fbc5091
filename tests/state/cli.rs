use serde_json::json;

use super::{admin_token, document, proxyhub, said, vhosts};
use crate::support::{served, CaddyProcess, TestApp, Upstream};

#[tokio::test]
async fn ci_keeps_state_in_a_file_diff_says_if_there_is_work_and_apply_does_it() {
    let caddy = CaddyProcess::start().await;
    let app = TestApp::spawn(&caddy).await;
    app.sign_up_admin().await;
    let token = admin_token(&app).await;
    let up = Upstream::start("gitops").await;
    let hp = up.hostport();
    app.create_vhost(json!({"domain": "old.test", "upstream": hp}))
        .await;

    // export > state.yaml
    let out = proxyhub(&app, &token, &["export"]).await;
    assert!(out.status.success(), "{}", said(&out));
    let exported = String::from_utf8(out.stdout).unwrap();
    assert!(exported.contains("domain: old.test"), "{exported}");
    let file = app.dir.path().join("state.yaml");
    std::fs::write(&file, &exported).unwrap();
    let file = file.to_str().unwrap();

    // Nothing to do: exit 0.
    let out = proxyhub(&app, &token, &["diff", "-f", file]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));

    // The file changes (as a commit would change it): exit 2 and the plan.
    let json_file = app.dir.path().join("state.json");
    std::fs::write(
        &json_file,
        document(&[("new.test", &hp, true), ("old.test", &hp, false)]).to_string(),
    )
    .unwrap();
    let json_file = json_file.to_str().unwrap();
    let out = proxyhub(&app, &token, &["diff", "-f", json_file]).await;
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let plan = said(&out);
    assert!(plan.contains("+ new.test"), "{plan}");
    assert!(
        plan.contains("~ old.test") && plan.contains("enabled: true -> false"),
        "{plan}"
    );
    assert!(vhosts(&app).await.len() == 1, "diff changes nothing");

    // apply without --yes and without a terminal: refused, nothing changed.
    let out = proxyhub(&app, &token, &["apply", "-f", json_file]).await;
    assert!(!out.status.success());
    assert!(said(&out).contains("--yes"), "{}", said(&out));
    assert_eq!(vhosts(&app).await.len(), 1);

    let out = proxyhub(&app, &token, &["apply", "-f", json_file, "--yes"]).await;
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        vhosts(&app).await,
        [
            ("new.test".to_string(), hp.clone(), true),
            ("old.test".into(), hp.clone(), false)
        ]
    );
    let (code, _) = served(&app, "new.test", "/", |c, _| c == 200).await;
    assert_eq!(code, 200);
    let out = proxyhub(&app, &token, &["diff", "-f", json_file]).await;
    assert_eq!(out.status.code(), Some(0), "in sync now: {}", said(&out));

    // --prune deletes what the file lacks.
    std::fs::write(
        app.dir.path().join("only.json"),
        document(&[("new.test", &hp, true)]).to_string(),
    )
    .unwrap();
    let only = app.dir.path().join("only.json");
    let out = proxyhub(
        &app,
        &token,
        &["apply", "-f", only.to_str().unwrap(), "--prune", "--yes"],
    )
    .await;
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        vhosts(&app).await,
        [("new.test".to_string(), hp.clone(), true)]
    );

    // A refusal exits non-zero with the proxy's words.
    let bad = app.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: proxyhub/v1\nkind: State\nvhosts:\n  - domain: nope.test\n    config: no_such_directive on\n",
    )
    .unwrap();
    let out = proxyhub(
        &app,
        &token,
        &["apply", "-f", bad.to_str().unwrap(), "--yes"],
    )
    .await;
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("nope.test") && text.contains("no_such_directive"),
        "{text}"
    );

    // A wrong token: refused, clearly.
    let out = proxyhub(&app, "phk_wrong", &["export"]).await;
    assert!(!out.status.success());
    assert!(said(&out).contains("401"), "{}", said(&out));
}
