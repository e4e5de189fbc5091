//! axe-core (npm, installed into `tests/.tools/axe` by `scripts/test`) run inside a page of
//! the real Chromium, for the accessibility checks.

use std::path::PathBuf;

use serde_json::Value;

use super::browser::Browser;

/// What axe needs to find for a page to fail: the violations a person is blocked or badly
/// hindered by.
const BLOCKING: [&str; 2] = ["serious", "critical"];

/// The source of axe.min.js; a missing file fails the test, never skips it.
pub fn source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.tools/axe/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not installed ({}: {e}); scripts/test installs it, or: \
             npm install --prefix tests/.tools/axe axe-core@4",
            path.display()
        )
    })
}

/// Loads axe into the current page. WebDriver's scripts are not bound by the page's CSP.
pub async fn inject(b: &Browser, source: &str) {
    b.client.execute(source, vec![]).await.unwrap();
    let loaded = b
        .client
        .execute("return typeof window.axe?.run", vec![])
        .await
        .unwrap();
    assert_eq!(loaded, "function", "axe did not load into the page");
}

/// Runs axe on the whole page as it is now and returns one line per serious or critical
/// violation: rule, impact, the elements (CSS selectors) and what is wrong with them.
pub async fn blocking_violations(b: &Browser) -> Vec<String> {
    let found = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then((r) => done(r.violations))
               .catch((e) => done({ error: String(e) }));",
            vec![],
        )
        .await
        .unwrap();
    if let Some(e) = found.get("error") {
        panic!("axe failed in the page: {e}");
    }
    let mut lines = Vec::new();
    for v in found.as_array().expect("axe returns a list of violations") {
        let impact = v["impact"].as_str().unwrap_or("");
        if !BLOCKING.contains(&impact) {
            continue;
        }
        for node in v["nodes"].as_array().into_iter().flatten() {
            let target = match &node["target"] {
                Value::Array(parts) => parts
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" >> "),
                other => other.to_string(),
            };
            let summary = node["failureSummary"]
                .as_str()
                .unwrap_or("")
                .replace('\n', " ");
            lines.push(format!(
                "{} ({impact}) {target}: {summary}",
                v["id"].as_str().unwrap_or("?")
            ));
        }
    }
    lines
}
