//! The command line's side of desired state as code: `proxyhub export`, `diff` and `apply`
//! talk to a running proxyhub (`PROXYHUB_URL`) with an API token (`PROXYHUB_TOKEN`), and
//! print plans for people.

use std::{fmt::Write as _, path::Path, time::Duration};

use serde_json::Value;

/// A running proxyhub and the token to use it with.
pub struct Remote {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// What the server said when it refused.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct Refused {
    pub status: u16,
    pub message: String,
    pub body: Value,
}

impl Remote {
    pub fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        if token.trim().is_empty() {
            anyhow::bail!(
                "set PROXYHUB_TOKEN to an API token with the admin scope (dashboard: Tokens)"
            );
        }
        Ok(Self {
            base: url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()?,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let r = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach proxyhub at {}: {e}", self.base))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let mut message = body["message"].as_str().unwrap_or("no message").to_string();
        if let Some(p) = body["proxyMessage"].as_str() {
            let _ = write!(message, "\nthe proxy said:\n{p}");
        }
        Err(Refused {
            status,
            message,
            body,
        }
        .into())
    }

    /// The desired state, as YAML or JSON.
    pub async fn export(&self, format: &str) -> anyhow::Result<String> {
        let r = self
            .send(
                self.http
                    .get(format!("{}/api/export", self.base))
                    .query(&[("format", format)]),
            )
            .await?;
        Ok(r.text().await?)
    }

    /// Sends a document file to `/api/import`; `dry` only plans.
    pub async fn import(&self, file: &Path, prune: bool, dry: bool) -> anyhow::Result<Value> {
        let text = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let json = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let kind = if json {
            "application/json"
        } else {
            "application/yaml"
        };
        let r = self
            .send(
                self.http
                    .post(format!("{}/api/import", self.base))
                    .query(&[("dryRun", dry), ("prune", prune)])
                    .header(reqwest::header::CONTENT_TYPE, kind)
                    .body(text),
            )
            .await?;
        Ok(r.json().await?)
    }
}

impl Remote {
    /// Sends an existing Caddyfile or nginx config (`kind`) to be read into vhosts; `apply`
    /// applies the plan.
    pub async fn adopt(&self, kind: &str, text: String, apply: bool) -> anyhow::Result<Value> {
        let r = self
            .send(
                self.http
                    .post(format!("{}/api/import/{kind}", self.base))
                    .query(&[("apply", apply)])
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(text),
            )
            .await?;
        Ok(r.json().await?)
    }
}

/// What an import of an existing config left out, a line each.
pub fn describe_skipped(answer: &Value) -> String {
    let mut out = String::new();
    for s in answer["skipped"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "! not imported: {} (line {}): {}",
            s["what"].as_str().unwrap_or("?"),
            s["line"],
            s["reason"].as_str().unwrap_or("")
        );
    }
    out
}

/// A plan as people read it: one line per domain that changes (`+` create, `~` update with
/// its fields, `-` delete), then the counts.
pub fn describe(answer: &Value) -> String {
    let mut out = String::new();
    for step in answer["plan"].as_array().into_iter().flatten() {
        let domain = step["domain"].as_str().unwrap_or("?");
        match step["action"].as_str() {
            Some("create") => {
                let _ = writeln!(out, "+ {domain}");
            }
            Some("delete") => {
                let _ = writeln!(out, "- {domain}");
            }
            Some("update") => {
                let _ = writeln!(out, "~ {domain}");
                let diff = &step["diff"];
                for (field, new) in diff["new"].as_object().into_iter().flatten() {
                    let old = &diff["old"][field];
                    let _ = writeln!(out, "    {field}: {old} -> {new}");
                }
            }
            _ => {}
        }
    }
    let s = &answer["summary"];
    let _ = writeln!(
        out,
        "{} to create, {} to update, {} to delete, {} unchanged",
        s["create"], s["update"], s["delete"], s["unchanged"]
    );
    out
}

/// Whether a plan changes anything.
pub fn changes_anything(answer: &Value) -> bool {
    let s = &answer["summary"];
    ["create", "update", "delete"]
        .iter()
        .any(|k| s[k].as_u64().unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_plan_reads_line_by_line() {
        let answer = json!({
            "summary": {"create": 1, "update": 1, "delete": 1, "unchanged": 2},
            "plan": [
                {"domain": "a.com", "action": "create"},
                {"domain": "b.com", "action": "update", "diff": {"old": {"upstream": "h:1"}, "new": {"upstream": "h:2"}}},
                {"domain": "c.com", "action": "delete"},
                {"domain": "d.com", "action": "unchanged"},
            ]
        });
        assert_eq!(
            super::describe(&answer),
            "+ a.com\n~ b.com\n    upstream: \"h:1\" -> \"h:2\"\n- c.com\n\
             1 to create, 1 to update, 1 to delete, 2 unchanged\n"
        );
        assert!(super::changes_anything(&answer));
    }
}
