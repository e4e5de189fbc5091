//! Importing a desired state: every vhost of the document checked as a single change would
//! be (its fields, then the proxy's own check of its site), then the whole plan written in
//! one transaction and pushed once: all or nothing. Each changed vhost gets its changelog
//! entry, tagged with the import's id.

use std::{collections::BTreeMap, sync::Arc};

use tokio::{sync::Semaphore, task::JoinSet};

use serde_json::{Map, Value};

use super::{normalize, prepare, store, Changes, Selection, Vhost, VhostError};
use crate::{
    accounts::Actor,
    apply::{Applier, ChangeError},
    changelog::Action as Logged,
    db::Db,
    proxy::ProxyError,
    state::{self, Action, Invalid, Step, VhostSpec},
    timestamps,
};

/// Why an import was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The document is wrong at a path.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The proxy refused these vhosts' sites (domain, its words).
    #[error("the proxy refused {}", .0.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(", "))]
    Refused(Vec<(String, String)>),
    /// The vhosts changed while the import was checked.
    #[error("the vhosts were changed by another request while the import was checked; try again")]
    ChangedMeanwhile,
    #[error(transparent)]
    Proxy(ProxyError),
    #[error("{0}")]
    Store(String),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Store(format!("database: {e}"))
    }
}

/// What an import did (or, dry, would do).
#[derive(Debug)]
pub struct Imported {
    pub id: Option<String>,
    pub steps: Vec<Step>,
}

/// The store's vhosts as a document holds them.
pub async fn current(db: &Db) -> Result<Vec<VhostSpec>, sqlx::Error> {
    let (all, _) = store::select(&mut *db.acquire().await?, &Selection::default()).await?;
    Ok(all.iter().map(spec).collect())
}

fn spec(v: &Vhost) -> VhostSpec {
    let mut features = match serde_json::to_value(&v.features) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    features.retain(|k, value| match value {
        Value::Null => false,
        Value::Array(a) => !(a.is_empty() || (k == "upstreams" && a.len() == 1)),
        _ => true,
    });
    VhostSpec {
        domain: v.domain.clone(),
        config: v.config.clone(),
        upstream: v.upstream.clone(),
        enabled: v.enabled,
        features,
    }
}

/// `v` as the plan compares it: its spec, with `passwords` naming the basic-auth users
/// whose password the document changes (a password that is the one stored changes nothing).
fn spec_with(v: &Vhost, passwords: &BTreeMap<String, Map<String, Value>>) -> VhostSpec {
    let mut s = spec(v);
    if let Some(p) = passwords.get(&v.domain) {
        s.features
            .insert("passwords".into(), Value::Object(p.clone()));
    }
    s
}

/// A document's structured fields as a change: what it leaves out is none.
fn declared(i: usize, d: &VhostSpec) -> Result<Changes, Invalid> {
    fn get<T: serde::de::DeserializeOwned>(
        i: usize,
        m: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<T>, Invalid> {
        m.get(key)
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|e| Invalid {
                path: format!("vhosts[{i}].{key}"),
                message: e.to_string(),
            })
    }
    let m = &d.features;
    Ok(Changes {
        upstream: Some(d.upstream.clone()),
        upstreams: get(i, m, "upstreams")?,
        aliases: Some(get(i, m, "aliases")?.unwrap_or_default()),
        redirect: Some(get(i, m, "redirect")?),
        load_balancing: Some(get(i, m, "loadBalancing")?),
        health_check: Some(get(i, m, "healthCheck")?),
        access: Some(get(i, m, "access")?),
        headers: Some(get(i, m, "headers")?),
        tls: Some(get(i, m, "tls")?),
        ..Changes::default()
    })
}

/// Why a vhost read from an existing config cannot be imported (its fields, or the proxy's
/// check of its site), or `None` if it can.
pub async fn verdict(applier: &Arc<Applier>, wanted: &VhostSpec) -> Option<String> {
    let now = timestamps::now();
    let mut v = Vhost {
        id: 0,
        domain: wanted.domain.clone(),
        config: wanted.config.clone(),
        enabled: wanted.enabled,
        upstream: wanted.upstream.clone(),
        features: Default::default(),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    if let Err((_, m)) = normalize(&mut v) {
        return Some(m);
    }
    match prepare(applier, &v).await {
        Ok(()) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Checks a document's vhosts and computes the plan; unless `dry`, applies it all or nothing.
pub async fn import(
    applier: &Arc<Applier>,
    db: &Db,
    by: &Actor,
    desired: Vec<VhostSpec>,
    prune: bool,
    dry: bool,
) -> Result<Imported, ImportError> {
    // Fields first, each refusal named by its path; the plan compares stored forms.
    let mut checked: BTreeMap<String, Vhost> = BTreeMap::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut normalized = Vec::with_capacity(desired.len());
    // Basic-auth users the document names without a password keep the one stored.
    let (rows, _) = store::select(&mut *db.acquire().await?, &Selection::default()).await?;
    let stored: BTreeMap<&str, &Vhost> = rows.iter().map(|v| (v.domain.as_str(), v)).collect();
    let mut passwords: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (i, d) in desired.into_iter().enumerate() {
        let now = timestamps::now();
        let old = stored.get(d.domain.to_ascii_lowercase().as_str()).copied();
        let changes = declared(i, &d)?;
        let mut v = Vhost {
            id: 0,
            domain: d.domain,
            config: d.config,
            enabled: d.enabled,
            upstream: None,
            features: crate::proxy::Features {
                access: old.and_then(|o| o.features.access.clone()),
                ..Default::default()
            },
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        };
        let at = |(field, message): (String, String)| Invalid {
            path: if field == "vhost" {
                format!("vhosts[{i}]")
            } else {
                format!("vhosts[{i}].{field}")
            },
            message,
        };
        changes.apply_to(&mut v).await.map_err(at)?;
        normalize(&mut v).map_err(at)?;
        if let Some(old) = old {
            let changed = super::changed_passwords(old, &v);
            if !changed.is_empty() {
                passwords.insert(v.domain.clone(), changed);
            }
        }
        normalized.push(spec_with(&v, &passwords));
        index.insert(v.domain.clone(), i);
        checked.insert(v.domain.clone(), v);
    }
    let steps = state::plan(&current(db).await?, &normalized, prune);
    // Then the proxy's verdict on each site that changes, a few at a time.
    let changing: Vec<(usize, Vhost)> = steps
        .iter()
        .filter(|s| matches!(s.action, Action::Create | Action::Update))
        .map(|s| (index[&s.domain], checked[&s.domain].clone()))
        .collect();
    proxy_checks(applier, changing).await?;
    if dry {
        return Ok(Imported { id: None, steps });
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut by = by.clone();
    by.import = Some(id.clone());
    let (planned, checked) = (Arc::new(steps.clone()), Arc::new(checked));
    let passwords = Arc::new(passwords);
    applier
        .change(move |tx| {
            let (planned, checked, by) = (planned.clone(), checked.clone(), by.clone());
            let passwords = passwords.clone();
            Box::pin(async move { write(tx, &planned, &checked, &passwords, &by, prune).await })
        })
        .await
        .map_err(|e| match e {
            ChangeError::Refused(e) => e,
            ChangeError::Proxy(e) => ImportError::Proxy(e),
            ChangeError::Store(e) => ImportError::Store(e),
        })?;
    Ok(Imported {
        id: Some(id),
        steps,
    })
}

/// The proxy's check of each site (with its index in the document), 8 at a time: a snippet
/// proxyhub's own rules refuse is the document's fault (the first, by index, is named by its
/// path); every site the proxy itself refuses is reported.
async fn proxy_checks(
    applier: &Arc<Applier>,
    sites: Vec<(usize, Vhost)>,
) -> Result<(), ImportError> {
    let limit = Arc::new(Semaphore::new(8));
    let mut running = JoinSet::new();
    for (i, v) in sites {
        let (applier, limit) = (applier.clone(), limit.clone());
        running.spawn(async move {
            let _slot = limit.acquire_owned().await;
            (i, v.domain.clone(), prepare(&applier, &v).await)
        });
    }
    let mut refused = Vec::new();
    let mut invalid: Option<Invalid> = None;
    let mut first = usize::MAX;
    while let Some(done) = running.join_next().await {
        let (i, domain, verdict) = done.map_err(|e| ImportError::Store(e.to_string()))?;
        match verdict {
            Ok(()) => {}
            Err(VhostError::Invalid(message)) if i < first => {
                first = i;
                invalid = Some(Invalid {
                    path: format!("vhosts[{i}].config"),
                    message,
                });
            }
            Err(VhostError::Invalid(_)) => {}
            Err(VhostError::Proxy(ProxyError::Rejected(m))) => refused.push((domain, m)),
            Err(VhostError::Proxy(e)) => return Err(ImportError::Proxy(e)),
            Err(e) => return Err(ImportError::Store(e.to_string())),
        }
    }
    if let Some(invalid) = invalid {
        return Err(invalid.into());
    }
    if refused.is_empty() {
        Ok(())
    } else {
        refused.sort();
        Err(ImportError::Refused(refused))
    }
}

/// The plan's writes, in the change's transaction; refused if the vhosts are no longer what
/// the plan was made from.
async fn write(
    tx: &mut crate::db::Tx,
    planned: &[Step],
    checked: &BTreeMap<String, Vhost>,
    passwords: &BTreeMap<String, Map<String, Value>>,
    by: &Actor,
    prune: bool,
) -> Result<(), ImportError> {
    let (rows, _) = store::select(tx, &Selection::default()).await?;
    let desired: Vec<VhostSpec> = checked.values().map(|v| spec_with(v, passwords)).collect();
    if state::plan(&rows.iter().map(spec).collect::<Vec<_>>(), &desired, prune) != planned {
        return Err(ImportError::ChangedMeanwhile);
    }
    let stored: BTreeMap<&str, &Vhost> = rows.iter().map(|v| (v.domain.as_str(), v)).collect();
    for step in planned {
        match step.action {
            Action::Unchanged => {}
            Action::Create => {
                let mut v = checked[&step.domain].clone();
                v.id = store::insert(tx, &v).await?;
                super::logged(tx, by, Logged::Create, &v, None).await?;
            }
            Action::Update => {
                let old = stored[step.domain.as_str()];
                let mut v = checked[&step.domain].clone();
                v.id = old.id;
                v.created_at = old.created_at.clone();
                v.version = old.version + 1;
                store::update(tx, &v).await?;
                let diff = super::diff(old, &v);
                super::logged(tx, by, Logged::Update, &v, diff).await?;
            }
            Action::Delete => {
                let old = stored[step.domain.as_str()];
                store::delete(tx, old.id).await?;
                super::logged(tx, by, Logged::Delete, old, None).await?;
            }
        }
    }
    Ok(())
}
