//! Desired state as code: the document `GET /api/export` writes and `POST /api/import`
//! reads (`{apiVersion: "proxyhub/v1", kind: "State", vhosts: [...]}`, as JSON or YAML), and
//! the plan that turns the store into what a document says: per domain, create, update
//! (with the fields that change), delete (only when pruning) or unchanged. The plan is
//! computed here; `vhosts::bulk` checks and applies it, and the command line prints it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const API_VERSION: &str = "proxyhub/v1";
pub const KIND: &str = "State";

/// The structured fields a document may hold beside `domain`, `config`, `upstream` and
/// `enabled`, as the API shows them (basic-auth users by name; a `password` given for one
/// sets it).
pub const FEATURES: &[&str] = &[
    "aliases",
    "redirect",
    "upstreams",
    "loadBalancing",
    "healthCheck",
    "access",
    "headers",
    "tls",
];

/// A vhost as the document holds it: every field, no id, no timestamps. The structured
/// fields that are set are under their names; one left out is none (the document is the
/// desired state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VhostSpec {
    pub domain: String,
    pub config: Option<String>,
    pub upstream: Option<String>,
    pub enabled: bool,
    /// `aliases`, `redirect`, `upstreams`, `loadBalancing`, `healthCheck`, `access`,
    /// `headers`, `tls`: those set.
    #[serde(flatten, default)]
    #[schema(value_type = Object)]
    pub features: Map<String, Value>,
}

impl VhostSpec {
    /// The fields as JSON, the way diffs show them.
    pub fn fields(&self) -> Value {
        serde_json::to_value(self).expect("plain fields")
    }
}

/// The whole document.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// Always `proxyhub/v1`.
    pub api_version: String,
    /// Always `State`.
    pub kind: String,
    /// Sorted by domain.
    pub vhosts: Vec<VhostSpec>,
}

impl Document {
    pub fn new(mut vhosts: Vec<VhostSpec>) -> Self {
        vhosts.sort_by(|a, b| a.domain.cmp(&b.domain));
        Self {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            vhosts,
        }
    }
}

/// A document that cannot be imported: where (`vhosts[3].upstream`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// Reads a document (already parsed from JSON or YAML) field by field, so that what is
/// wrong is named by its path. Domains are lowercased; each may appear once.
pub fn read(doc: &Value) -> Result<Vec<VhostSpec>, Invalid> {
    let top = doc
        .as_object()
        .ok_or_else(|| invalid("$", "expected a document {apiVersion, kind, vhosts}"))?;
    for key in top.keys() {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "vhosts") {
            return Err(invalid(
                key.as_str(),
                "unknown field (expected apiVersion, kind, vhosts)",
            ));
        }
    }
    match top.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        _ => return Err(invalid("apiVersion", format!("must be {API_VERSION:?}"))),
    }
    match top.get("kind") {
        Some(Value::String(k)) if k == KIND => {}
        _ => return Err(invalid("kind", format!("must be {KIND:?}"))),
    }
    let list = match top.get("vhosts") {
        Some(Value::Array(list)) => list.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(invalid("vhosts", "must be a list")),
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut specs = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let at = |field: &str| format!("vhosts[{i}].{field}");
        let obj = item
            .as_object()
            .ok_or_else(|| invalid(format!("vhosts[{i}]"), "must be a vhost {domain, ...}"))?;
        for key in obj.keys() {
            if !matches!(key.as_str(), "domain" | "config" | "upstream" | "enabled")
                && !FEATURES.contains(&key.as_str())
            {
                return Err(invalid(
                    at(key),
                    format!(
                        "unknown field (expected domain, config, upstream, enabled, {})",
                        FEATURES.join(", ")
                    ),
                ));
            }
        }
        let text = |field: &str| -> Result<Option<String>, Invalid> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(at(field), "must be text or null")),
            }
        };
        let domain = text("domain")?
            .ok_or_else(|| invalid(at("domain"), "is required"))?
            .to_ascii_lowercase();
        if let Some(first) = seen.insert(domain.clone(), i) {
            return Err(invalid(
                at("domain"),
                format!("{domain} is already vhosts[{first}]"),
            ));
        }
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid(at("enabled"), "must be true or false")),
        };
        specs.push(VhostSpec {
            domain,
            config: text("config")?.filter(|c| !c.trim().is_empty()),
            upstream: text("upstream")?.filter(|u| !u.trim().is_empty()),
            enabled,
            features: obj
                .iter()
                .filter(|(k, v)| FEATURES.contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
    }
    Ok(specs)
}

/// What an import does to one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One line of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Step {
    pub domain: String,
    pub action: Action,
    /// For updates: `{old: {...}, new: {...}}` of the fields that change.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub diff: Option<Value>,
}

/// Counts of a plan's steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
}

/// The steps from `current` to `desired`, by domain; with `prune`, what the document lacks
/// is deleted, else left alone (and not listed).
pub fn plan(current: &[VhostSpec], desired: &[VhostSpec], prune: bool) -> Vec<Step> {
    let now: BTreeMap<&str, &VhostSpec> = current.iter().map(|v| (v.domain.as_str(), v)).collect();
    let want: BTreeMap<&str, &VhostSpec> = desired.iter().map(|v| (v.domain.as_str(), v)).collect();
    let mut steps = Vec::new();
    for (domain, new) in &want {
        let step = match now.get(domain) {
            None => Step {
                domain: domain.to_string(),
                action: Action::Create,
                diff: None,
            },
            Some(old) if old == new => Step {
                domain: domain.to_string(),
                action: Action::Unchanged,
                diff: None,
            },
            Some(old) => Step {
                domain: domain.to_string(),
                action: Action::Update,
                diff: Some(diff(&old.fields(), &new.fields())),
            },
        };
        steps.push(step);
    }
    if prune {
        for domain in now.keys().filter(|d| !want.contains_key(*d)) {
            steps.push(Step {
                domain: domain.to_string(),
                action: Action::Delete,
                diff: None,
            });
        }
    }
    steps.sort_by(|a, b| a.domain.cmp(&b.domain));
    steps
}

fn diff(old: &Value, new: &Value) -> Value {
    let (mut o, mut n) = (Map::new(), Map::new());
    if let (Value::Object(old), Value::Object(new)) = (old, new) {
        let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for k in keys {
            let (before, after) = (
                old.get(k).unwrap_or(&Value::Null),
                new.get(k).unwrap_or(&Value::Null),
            );
            if before != after {
                o.insert(k.clone(), before.clone());
                n.insert(k.clone(), after.clone());
            }
        }
    }
    serde_json::json!({ "old": o, "new": n })
}

/// How many steps of each kind.
pub fn summary(steps: &[Step]) -> Summary {
    let mut s = Summary::default();
    for step in steps {
        match step.action {
            Action::Create => s.create += 1,
            Action::Update => s.update += 1,
            Action::Delete => s.delete += 1,
            Action::Unchanged => s.unchanged += 1,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(d: &str, up: &str, enabled: bool) -> VhostSpec {
        VhostSpec {
            domain: d.into(),
            config: None,
            upstream: Some(up.into()),
            enabled,
            features: Map::new(),
        }
    }

    #[test]
    fn bad_fields_are_named_by_their_path() {
        let doc =
            |vhosts: Value| json!({"apiVersion": "proxyhub/v1", "kind": "State", "vhosts": vhosts});
        let err = read(&doc(
            json!([{"domain": "a.com"}, {"domain": "b.com", "upstream": 7}]),
        ))
        .unwrap_err();
        assert_eq!(err.path, "vhosts[1].upstream");
        let err = read(&doc(json!([{"domain": "a.com"}, {"domain": "A.com"}]))).unwrap_err();
        assert_eq!(err.path, "vhosts[1].domain");
        let err = read(&doc(json!([{"domian": "a.com"}]))).unwrap_err();
        assert_eq!(err.path, "vhosts[0].domian");
        let err = read(&json!({"apiVersion": "v2", "kind": "State"})).unwrap_err();
        assert_eq!(err.path, "apiVersion");
        let ok = read(&doc(json!([{"domain": "A.com", "upstream": "h:1"}]))).unwrap();
        assert_eq!(ok, [spec("a.com", "h:1", true)]);
    }

    #[test]
    fn a_plan_creates_updates_and_deletes_only_when_pruning() {
        let now = [
            spec("a.com", "h:1", true),
            spec("b.com", "h:1", true),
            spec("c.com", "h:1", true),
        ];
        let want = [
            spec("a.com", "h:1", true),
            spec("b.com", "h:2", true),
            spec("d.com", "h:1", false),
        ];
        let steps = plan(&now, &want, false);
        let actions: Vec<(&str, Action)> = steps
            .iter()
            .map(|s| (s.domain.as_str(), s.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("a.com", Action::Unchanged),
                ("b.com", Action::Update),
                ("d.com", Action::Create)
            ]
        );
        assert_eq!(
            steps[1].diff,
            Some(json!({"old": {"upstream": "h:1"}, "new": {"upstream": "h:2"}}))
        );
        let pruned = plan(&now, &want, true);
        assert!(pruned
            .iter()
            .any(|s| s.domain == "c.com" && s.action == Action::Delete));
        assert_eq!(
            summary(&pruned),
            Summary {
                create: 1,
                update: 1,
                delete: 1,
                unchanged: 1
            }
        );
    }
}
