//! Reverting a changelog entry: its inverse applied as a new change (recorded with
//! `revertOf`), through the same operations as any change. A delete comes back with every
//! field; an update's changed fields get their old values; a create is deleted; a toggle is
//! toggled back. Refused (409) when the vhost has since changed in the fields concerned, or
//! its domain has been taken.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{create, fields, remove, store, toggle, update, Changes, Vhost, VhostError};
use crate::{
    accounts::Actor,
    apply::Applier,
    changelog::{Action, Entry},
    db::Db,
};

/// What a revert did: the vhost as it is now, or as it was when the revert deleted it.
pub struct Reverted {
    pub vhost: Vhost,
    pub deleted: bool,
}

fn cannot(why: String) -> VhostError {
    VhostError::CannotRevert(why)
}

/// Applies the inverse of `entry` as a change by `by`.
pub async fn revert(
    applier: &Arc<Applier>,
    db: &Db,
    by: &Actor,
    entry: &Entry,
) -> Result<Reverted, VhostError> {
    let mut by = by.clone();
    by.revert_of = Some(entry.id);
    let action = Action::parse(&entry.action)
        .ok_or_else(|| cannot(format!("unknown action {:?}", entry.action)))?;
    let state: Option<Map<String, Value>> = entry
        .state
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.as_object().cloned());
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    match action {
        Action::Delete => {
            let s = state.ok_or_else(|| predates(entry))?;
            let changes = Changes {
                domain: text(&s, "domain"),
                config: Some(text(&s, "config")),
                upstream: Some(text(&s, "upstream")),
                enabled: s.get("enabled").and_then(Value::as_bool),
                ..features_of(&s)?
            };
            let v = create(applier, &by, changes).await?;
            Ok(Reverted {
                vhost: v,
                deleted: false,
            })
        }
        Action::Create => {
            let s = state.ok_or_else(|| predates(entry))?;
            let now = current(db, &entry.domain).await?;
            let changed = differing(&now, &s);
            if !changed.is_empty() {
                return Err(cannot(format!(
                    "{} has changed since it was created ({}): change it back or delete it",
                    entry.domain,
                    changed.join(", ")
                )));
            }
            let v = remove(applier, &by, now.id, Some(vec![now.version])).await?;
            Ok(Reverted {
                vhost: v,
                deleted: true,
            })
        }
        Action::Update => {
            let diff: Value = entry
                .diff
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .ok_or_else(|| cannot(format!("entry {} has no diff to revert", entry.id)))?;
            let (Some(old), Some(new)) = (diff["old"].as_object(), diff["new"].as_object()) else {
                return Err(cannot(format!("entry {} has no diff to revert", entry.id)));
            };
            let domain = new
                .get("domain")
                .and_then(Value::as_str)
                .unwrap_or(&entry.domain)
                .to_string();
            let now = current(db, &domain).await?;
            let changed = differing(&now, new);
            if !changed.is_empty() {
                return Err(cannot(format!(
                    "{domain} has changed since in {}: revert the later changes first",
                    changed.join(", ")
                )));
            }
            let changes = Changes {
                domain: old
                    .get("domain")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                config: old.contains_key("config").then(|| text(old, "config")),
                upstream: old.contains_key("upstream").then(|| text(old, "upstream")),
                enabled: old.get("enabled").and_then(Value::as_bool),
                ..features_of(old)?
            };
            let v = update(applier, db, &by, now.id, changes, Some(vec![now.version])).await?;
            Ok(Reverted {
                vhost: v,
                deleted: false,
            })
        }
        Action::Toggle => {
            let s = state.ok_or_else(|| predates(entry))?;
            let now = current(db, &entry.domain).await?;
            let changed = differing(&now, &only(&s, "enabled"));
            if !changed.is_empty() {
                return Err(cannot(format!(
                    "{} has been turned {} since: nothing to revert",
                    entry.domain,
                    if now.enabled { "on" } else { "off" }
                )));
            }
            let v = toggle(applier, db, &by, now.id, Some(vec![now.version])).await?;
            Ok(Reverted {
                vhost: v,
                deleted: false,
            })
        }
    }
}

fn predates(entry: &Entry) -> VhostError {
    cannot(format!(
        "entry {} was recorded before proxyhub kept what reverting it needs",
        entry.id
    ))
}

async fn current(db: &Db, domain: &str) -> Result<Vhost, VhostError> {
    store::by_domain(&mut *db.acquire().await?, domain)
        .await?
        .ok_or_else(|| cannot(format!("{domain} no longer exists")))
}

fn only(m: &Map<String, Value>, key: &str) -> Map<String, Value> {
    m.get(key)
        .map(|v| Map::from_iter([(key.to_string(), v.clone())]))
        .unwrap_or_default()
}

/// The structured fields a changelog entry holds, as a change that sets them back. A
/// basic-auth user comes back with the password it has now: one since removed cannot.
fn features_of(m: &Map<String, Value>) -> Result<Changes, VhostError> {
    fn get<T: serde::de::DeserializeOwned>(
        m: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<T>, VhostError> {
        m.get(key)
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|e| cannot(format!("the entry's {key} cannot be read back: {e}")))
    }
    Ok(Changes {
        aliases: get(m, "aliases")?,
        redirect: get(m, "redirect")?,
        upstreams: get(m, "upstreams")?,
        load_balancing: get(m, "loadBalancing")?,
        health_check: get(m, "healthCheck")?,
        access: get(m, "access")?,
        headers: get(m, "headers")?,
        tls: get(m, "tls")?,
        ..Changes::default()
    })
}

/// The fields of `want` the vhost no longer has (a password change is not told apart).
fn differing(v: &Vhost, want: &Map<String, Value>) -> Vec<String> {
    let have = fields(v);
    want.iter()
        .filter(|(k, _)| k.as_str() != "passwords")
        .filter(|(k, w)| have.get(k.as_str()).unwrap_or(&Value::Null) != *w)
        .map(|(k, _)| k.clone())
        .collect()
}
