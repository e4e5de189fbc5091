//! Virtual hosts: what the proxy serves. A change is validated, checked and readied by the
//! proxy before it is queued (so nothing the proxy would refuse is ever stored, even
//! disabled), then applied through the applier together with its changelog entry.

pub mod bulk;
mod changes;
pub mod features;
mod revert;
pub mod store;
pub mod validate;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::{
    accounts::Actor,
    apply::{Applier, ChangeError},
    changelog::{self, Action},
    db::Db,
    events,
    proxy::ProxyError,
    timestamps,
};
pub use changes::{normalize, Changes};
pub use revert::{revert, Reverted};
pub use store::{Selection, Sites, SortBy, Vhost};

/// Why a vhost change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum VhostError {
    #[error("{0}")]
    Invalid(String),
    /// A structured field refused: its path (`redirect.code`, `aliases[1]`) and why.
    #[error("{0}: {1}")]
    Field(String, String),
    /// One of the seed's fields refused (`domain`, `config`, `upstream`): the message names
    /// it already.
    #[error("{1}")]
    Named(String, String),
    #[error("no vhost with id {0}")]
    NotFound(i64),
    #[error("a vhost for {0} already exists")]
    DomainTaken(String),
    /// A name (the domain or an alias) another vhost answers: the name, and that vhost.
    #[error("{0} is already served by the vhost {1}")]
    NameTaken(String, String),
    #[error("vhost {0} was changed by another request while this change was checked; try again")]
    ChangedMeanwhile(i64),
    /// `If-Match` named another version than the vhost's: here it is as it is now.
    #[error("vhost {} has changed since the version you named (If-Match); it is now at {}", .0.id, .0.etag())]
    Stale(Box<Vhost>),
    /// A changelog entry that cannot be reverted now (the message says why).
    #[error("{0}")]
    CannotRevert(String),
    #[error(transparent)]
    Proxy(ProxyError),
    #[error("{0}")]
    Store(String),
}

impl From<sqlx::Error> for VhostError {
    fn from(e: sqlx::Error) -> Self {
        VhostError::Store(format!("database: {e}"))
    }
}

impl From<ChangeError<VhostError>> for VhostError {
    fn from(e: ChangeError<VhostError>) -> Self {
        match e {
            ChangeError::Refused(e) => e,
            ChangeError::Proxy(e) => VhostError::Proxy(e),
            ChangeError::Store(e) => VhostError::Store(e),
        }
    }
}

/// Validates a vhost's fields as a whole, then has the proxy check (and ready) its site.
async fn check(applier: &Applier, v: &mut Vhost) -> Result<(), VhostError> {
    normalize(v).map_err(refused)?;
    prepare(applier, v).await
}

/// A field's refusal: the seed's fields keep their messages, which name them.
fn refused((field, message): (String, String)) -> VhostError {
    match field.as_str() {
        "vhost" => VhostError::Invalid(message),
        "domain" | "config" | "upstream" => VhostError::Named(field, message),
        _ => VhostError::Field(field, message),
    }
}

/// Has the proxy check (and ready) a vhost's site.
async fn prepare(applier: &Applier, v: &Vhost) -> Result<(), VhostError> {
    applier.prepare(&v.site()).await.map_err(|e| match e {
        ProxyError::Invalid(m) => VhostError::Invalid(m),
        e => VhostError::Proxy(e),
    })
}

/// The vhosts a selection keeps (one page) and how many it keeps in all.
pub async fn list(db: &Db, sel: &Selection) -> Result<(Vec<Vhost>, i64), sqlx::Error> {
    store::select(&mut *db.acquire().await?, sel).await
}

/// The versions a change may apply to (`If-Match`); `None` applies to any.
pub type Expected = Option<Vec<i64>>;

/// `Err(Stale)` unless `v` is at a version the client named.
fn expect(v: &Vhost, expected: &Expected) -> Result<(), VhostError> {
    match expected {
        Some(versions) if !versions.contains(&v.version) => {
            Err(VhostError::Stale(Box::new(v.clone())))
        }
        _ => Ok(()),
    }
}

/// One vhost.
pub async fn get(db: &Db, id: i64) -> Result<Vhost, VhostError> {
    existing(db, id).await
}

async fn existing(db: &Db, id: i64) -> Result<Vhost, VhostError> {
    store::by_id(&mut *db.acquire().await?, id)
        .await?
        .ok_or(VhostError::NotFound(id))
}

/// Creates a vhost.
pub async fn create(applier: &Arc<Applier>, by: &Actor, new: Changes) -> Result<Vhost, VhostError> {
    let now = timestamps::now();
    if new.domain.is_none() {
        return Err(VhostError::Invalid("domain is required".into()));
    }
    let mut v = Vhost {
        id: 0,
        domain: String::new(),
        config: None,
        enabled: true,
        upstream: None,
        features: Default::default(),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    new.apply_to(&mut v).await.map_err(refused)?;
    check(applier, &mut v).await?;
    let by = by.clone();
    let v = applier
        .change(move |tx| {
            let (mut v, by) = (v.clone(), by.clone());
            Box::pin(async move {
                if store::domain_taken(tx, &v.domain, 0).await? {
                    return Err(VhostError::DomainTaken(v.domain));
                }
                names_free(tx, &v).await?;
                v.id = store::insert(tx, &v)
                    .await
                    .map_err(|e| unique_to_taken(e, &v.domain))?;
                logged(tx, &by, Action::Create, &v, None).await?;
                Ok(v)
            })
        })
        .await?;
    Ok(v)
}

/// Changes a vhost's fields; a change that changes nothing is answered with the vhost as it is.
pub async fn update(
    applier: &Arc<Applier>,
    db: &Db,
    by: &Actor,
    id: i64,
    changes: Changes,
    expected: Expected,
) -> Result<Vhost, VhostError> {
    let old = existing(db, id).await?;
    expect(&old, &expected)?;
    let mut v = old.clone();
    changes.apply_to(&mut v).await.map_err(refused)?;
    check(applier, &mut v).await?;
    let diff = diff(&old, &v);
    if diff.is_none() {
        return Ok(old);
    }
    let by = by.clone();
    let v = applier
        .change(move |tx| {
            let (old, mut v, by, diff) = (old.clone(), v.clone(), by.clone(), diff.clone());
            let expected = expected.clone();
            Box::pin(async move {
                let now = store::by_id(tx, id)
                    .await?
                    .ok_or(VhostError::NotFound(id))?;
                if now != old {
                    expect(&now, &expected)?;
                    return Err(VhostError::ChangedMeanwhile(id));
                }
                if store::domain_taken(tx, &v.domain, id).await? {
                    return Err(VhostError::DomainTaken(v.domain));
                }
                names_free(tx, &v).await?;
                v.updated_at = timestamps::now();
                v.version = now.version + 1;
                store::update(tx, &v)
                    .await
                    .map_err(|e| unique_to_taken(e, &v.domain))?;
                logged(tx, &by, Action::Update, &v, diff).await?;
                Ok(v)
            })
        })
        .await?;
    Ok(v)
}

/// Records a change of `v` where it is made (its transaction): its changelog entry, and its
/// event (`vhost.created` ...: the vhost as the API shows it, with the diff of an update).
pub(crate) async fn logged(
    tx: &mut sqlx::AnyConnection,
    by: &Actor,
    action: Action,
    v: &Vhost,
    diff: Option<String>,
) -> Result<(), sqlx::Error> {
    let kind = match action {
        Action::Create => events::Kind::VhostCreated,
        Action::Update => events::Kind::VhostUpdated,
        Action::Delete => events::Kind::VhostDeleted,
        Action::Toggle => events::Kind::VhostToggled,
    };
    let mut data = serde_json::to_value(v).unwrap_or_default();
    if let (Some(d), Value::Object(map)) = (&diff, &mut data) {
        map.insert(
            "diff".into(),
            serde_json::from_str(d).unwrap_or(Value::Null),
        );
    }
    if let Value::Object(map) = &mut data {
        map.insert(
            "changedBy".into(),
            json!({"id": by.user.id, "name": by.user.name, "tokenName": by.token}),
        );
    }
    changelog::record(tx, by, action, &v.domain, diff, &fields(v)).await?;
    events::emit(tx, kind, data).await
}

/// The fields an update's diff compares, and a changelog entry keeps: every field as the
/// API shows it (basic-auth users by name only).
pub fn fields(v: &Vhost) -> Value {
    let mut out = json!({ "domain": v.domain, "config": v.config, "upstream": v.upstream, "enabled": v.enabled });
    if let (Value::Object(map), Ok(Value::Object(f))) =
        (&mut out, serde_json::to_value(&v.features))
    {
        map.extend(f);
        // One upstream is `upstream`'s alone: diffs stay as they were for plain vhosts.
        if v.features.upstreams.len() <= 1 {
            map.remove("upstreams");
        }
    }
    out
}

/// An update's diff: the fields that differ, and `passwords` naming each basic-auth user
/// whose password changed (`changed`), never the password or its hash.
pub fn diff(old: &Vhost, new: &Vhost) -> Option<String> {
    let changed = changed_passwords(old, new);
    let mut o = fields(old);
    let mut n = fields(new);
    // Upstream lists of one are `upstream`'s alone; a list going to or from several is shown
    // whole on both sides (`[a, b]` → `[a]` changes no `upstream`).
    let (before, after) = (&old.features.upstreams, &new.features.upstreams);
    if before != after && (before.len() > 1 || after.len() > 1) {
        o["upstreams"] = serde_json::json!(before);
        n["upstreams"] = serde_json::json!(after);
    }
    if !changed.is_empty() {
        let unchanged: serde_json::Map<String, Value> = changed
            .keys()
            .map(|u| (u.clone(), "previous".into()))
            .collect();
        o["passwords"] = Value::Object(unchanged);
        n["passwords"] = Value::Object(changed);
    }
    changelog::diff(&o, &n)
}

/// The basic-auth users of both `old` and `new` whose password changed: `{name: "changed"}`.
pub(crate) fn changed_passwords(old: &Vhost, new: &Vhost) -> serde_json::Map<String, Value> {
    let users = |v: &Vhost| {
        v.features
            .access
            .iter()
            .flat_map(|a| a.basic_auth.iter())
            .map(|c| (c.username.clone(), c.hash.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (before, after) = (users(old), users(new));
    after
        .iter()
        .filter(|(u, h)| before.get(*u).is_some_and(|b| b != *h))
        .map(|(u, _)| (u.clone(), "changed".into()))
        .collect()
}

/// `Err(NameTaken)` when another vhost answers the domain or one of the names of `v`.
async fn names_free(tx: &mut sqlx::AnyConnection, v: &Vhost) -> Result<(), VhostError> {
    for name in v.names() {
        if let Some(holder) = store::name_holder(tx, &name, v.id).await? {
            return Err(VhostError::NameTaken(name, holder));
        }
    }
    Ok(())
}

/// Deletes a vhost; returns it as it was.
pub async fn remove(
    applier: &Arc<Applier>,
    by: &Actor,
    id: i64,
    expected: Expected,
) -> Result<Vhost, VhostError> {
    let by = by.clone();
    let v = applier
        .change(move |tx| {
            let (by, expected) = (by.clone(), expected.clone());
            Box::pin(async move {
                let v = store::by_id(tx, id)
                    .await?
                    .ok_or(VhostError::NotFound(id))?;
                expect(&v, &expected)?;
                store::delete(tx, id).await?;
                logged(tx, &by, Action::Delete, &v, None).await?;
                Ok(v)
            })
        })
        .await?;
    Ok(v)
}

/// Turns a vhost on or off. Turned on, it is checked as it is now: a stored vhost may
/// predate a rule.
pub async fn toggle(
    applier: &Arc<Applier>,
    db: &Db,
    by: &Actor,
    id: i64,
    expected: Expected,
) -> Result<Vhost, VhostError> {
    let old = existing(db, id).await?;
    expect(&old, &expected)?;
    if !old.enabled {
        check(applier, &mut old.clone()).await?;
    }
    let by = by.clone();
    let v = applier
        .change(move |tx| {
            let (old, by, expected) = (old.clone(), by.clone(), expected.clone());
            Box::pin(async move {
                let mut v = store::by_id(tx, id)
                    .await?
                    .ok_or(VhostError::NotFound(id))?;
                if v != old {
                    expect(&v, &expected)?;
                    return Err(VhostError::ChangedMeanwhile(id));
                }
                v.enabled = !v.enabled;
                v.updated_at = timestamps::now();
                v.version += 1;
                store::update(tx, &v).await?;
                logged(tx, &by, Action::Toggle, &v, None).await?;
                Ok(v)
            })
        })
        .await?;
    Ok(v)
}

fn unique_to_taken(e: sqlx::Error, domain: &str) -> VhostError {
    if crate::db::is_unique_violation(&e) {
        VhostError::DomainTaken(domain.to_string())
    } else {
        e.into()
    }
}
