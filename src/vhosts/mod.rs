//! Virtual hosts: what the proxy serves. A change is validated, checked and readied by the
//! proxy before it is queued (so nothing the proxy would refuse is ever stored, even
//! disabled), then applied through the applier together with its changelog entry.

pub mod bulk;
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
pub use revert::{revert, Reverted};
pub use store::{Selection, Sites, SortBy, Vhost};

/// Why a vhost change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum VhostError {
    #[error("{0}")]
    Invalid(String),
    #[error("no vhost with id {0}")]
    NotFound(i64),
    #[error("a vhost for {0} already exists")]
    DomainTaken(String),
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

/// What a change sets: `None` leaves a field as it is; for `config` and `upstream`,
/// `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub domain: Option<String>,
    pub config: Option<Option<String>>,
    pub upstream: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// Validates a vhost's fields as a whole, then has the proxy check (and ready) its site.
async fn check(applier: &Applier, v: &mut Vhost) -> Result<(), VhostError> {
    normalize(v).map_err(|(_, m)| VhostError::Invalid(m))?;
    prepare(applier, v).await
}

/// Checks a vhost's fields and puts them in their stored form (lowercased domain, empty
/// texts as none, the upstream's canonical spelling); a refusal names the field (`vhost`
/// for one about the whole).
pub fn normalize(v: &mut Vhost) -> Result<(), (&'static str, String)> {
    v.domain = validate::domain(&v.domain).map_err(|m| ("domain", m))?;
    // An empty string means "none", as a cleared form field would send it.
    v.config = v.config.take().filter(|c| !c.trim().is_empty());
    v.upstream = v.upstream.take().filter(|u| !u.trim().is_empty());
    if v.config.is_none() && v.upstream.is_none() {
        return Err((
            "vhost",
            "give a config snippet or an upstream (or both)".into(),
        ));
    }
    if let Some(c) = &v.config {
        validate::snippet(c).map_err(|m| ("config", m))?;
    }
    if let Some(u) = &v.upstream {
        v.upstream = Some(validate::upstream(u).map_err(|m| ("upstream", m))?);
    }
    Ok(())
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
    let mut v = Vhost {
        id: 0,
        domain: new
            .domain
            .ok_or_else(|| VhostError::Invalid("domain is required".into()))?,
        config: new.config.flatten(),
        enabled: new.enabled.unwrap_or(true),
        upstream: new.upstream.flatten(),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    check(applier, &mut v).await?;
    let by = by.clone();
    let v = applier
        .change(move |tx| {
            let (mut v, by) = (v.clone(), by.clone());
            Box::pin(async move {
                if store::domain_taken(tx, &v.domain, 0).await? {
                    return Err(VhostError::DomainTaken(v.domain));
                }
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
    if let Some(d) = changes.domain {
        v.domain = d;
    }
    if let Some(c) = changes.config {
        v.config = c;
    }
    if let Some(u) = changes.upstream {
        v.upstream = u;
    }
    if let Some(e) = changes.enabled {
        v.enabled = e;
    }
    check(applier, &mut v).await?;
    let diff = changelog::diff(&fields(&old), &fields(&v));
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

/// The fields an update's diff compares, and a changelog entry keeps.
pub fn fields(v: &Vhost) -> Value {
    json!({ "domain": v.domain, "config": v.config, "upstream": v.upstream, "enabled": v.enabled })
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
