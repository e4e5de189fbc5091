//! `/api/vhosts`: virtual hosts, each applied to the proxy before it is stored.

pub mod store;
pub mod validate;

use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, patch, put},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    app::AppState,
    auth::guard::CurrentUser,
    changelog::{self, Action},
    error::{ApiError, AppJson, PathId, Result},
    timestamps,
    users::Role,
};
use store::Vhost;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/vhosts", get(list).post(create))
        .route("/api/vhosts/{id}", put(update).delete(remove))
        .route("/api/vhosts/{id}/toggle", patch(toggle))
}

/// Fields a client may set. `config` and `upstream` distinguish "absent" from `null`
/// (clear it) on update.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VhostInput {
    domain: Option<String>,
    #[serde(default, deserialize_with = "present")]
    config: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    upstream: Option<Option<String>>,
    enabled: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Validates a vhost's fields as a whole, then has the proxy check (and ready) its site:
/// all before the change is queued, so nothing the proxy would refuse is ever stored, even
/// disabled.
async fn check(state: &AppState, v: &mut Vhost) -> Result<()> {
    v.domain = validate::domain(&v.domain).map_err(ApiError::bad_request)?;
    // An empty string means "none", as a cleared form field would send it.
    v.config = v.config.take().filter(|c| !c.trim().is_empty());
    v.upstream = v.upstream.take().filter(|u| !u.trim().is_empty());
    if v.config.is_none() && v.upstream.is_none() {
        return Err(ApiError::bad_request(
            "give a config snippet or an upstream (or both)",
        ));
    }
    if let Some(c) = &v.config {
        validate::snippet(c).map_err(ApiError::bad_request)?;
    }
    if let Some(u) = &v.upstream {
        v.upstream = Some(validate::upstream(u).map_err(ApiError::bad_request)?);
    }
    state.applier.proxy().prepare(&v.site()).await?;
    Ok(())
}

/// Answers a change whose vhost was changed by another request after it was checked.
fn changed_meanwhile(id: i64) -> ApiError {
    ApiError::conflict(format!(
        "vhost {id} was changed by another request while this change was checked; try again"
    ))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<Vhost>>> {
    Ok(Json(store::all(&mut *state.db.acquire().await?).await?))
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(input): AppJson<VhostInput>,
) -> Result<(StatusCode, Json<Vhost>)> {
    let who = user.require(Role::Editor)?;
    let now = timestamps::now();
    let mut v = Vhost {
        id: 0,
        domain: input
            .domain
            .ok_or_else(|| ApiError::bad_request("domain is required"))?,
        config: input.config.flatten(),
        enabled: input.enabled.unwrap_or(true),
        upstream: input.upstream.flatten(),
        created_at: now.clone(),
        updated_at: now,
    };
    check(&state, &mut v).await?;
    let by = who.clone();
    let v = state
        .applier
        .change(move |tx| {
            let (mut v, by) = (v.clone(), by.clone());
            Box::pin(async move {
                if store::domain_taken(tx, &v.domain, 0).await? {
                    return Err(domain_conflict(&v.domain));
                }
                v.id = store::insert(tx, &v)
                    .await
                    .map_err(|e| unique_to_conflict(e, &v.domain))?;
                changelog::record(tx, &by, Action::Create, &v.domain, None).await?;
                Ok(v)
            })
        })
        .await?;
    tracing::info!(domain = %v.domain, user = %who.email, "vhost created");
    Ok((StatusCode::CREATED, Json(v)))
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(input): AppJson<VhostInput>,
) -> Result<Json<Vhost>> {
    let who = user.require(Role::Editor)?;
    let old = store::by_id(&mut *state.db.acquire().await?, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut v = old.clone();
    if let Some(d) = input.domain {
        v.domain = d;
    }
    if let Some(c) = input.config {
        v.config = c;
    }
    if let Some(u) = input.upstream {
        v.upstream = u;
    }
    if let Some(e) = input.enabled {
        v.enabled = e;
    }
    check(&state, &mut v).await?;
    let diff = changelog::diff(&fields(&old), &fields(&v));
    if diff.is_none() {
        return Ok(Json(old));
    }
    let by = who.clone();
    let v = state
        .applier
        .change(move |tx| {
            let (old, mut v, by, diff) = (old.clone(), v.clone(), by.clone(), diff.clone());
            Box::pin(async move {
                let now = store::by_id(tx, id).await?.ok_or_else(|| not_found(id))?;
                if now != old {
                    return Err(changed_meanwhile(id));
                }
                if store::domain_taken(tx, &v.domain, id).await? {
                    return Err(domain_conflict(&v.domain));
                }
                v.updated_at = timestamps::now();
                store::update(tx, &v)
                    .await
                    .map_err(|e| unique_to_conflict(e, &v.domain))?;
                changelog::record(tx, &by, Action::Update, &v.domain, diff).await?;
                Ok(v)
            })
        })
        .await?;
    tracing::info!(domain = %v.domain, user = %who.email, "vhost updated");
    Ok(Json(v))
}

/// The fields an update's diff compares.
fn fields(v: &Vhost) -> Value {
    json!({ "domain": v.domain, "config": v.config, "upstream": v.upstream, "enabled": v.enabled })
}

async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<Value>> {
    let who = user.require(Role::Editor)?;
    let by = who.clone();
    let v = state
        .applier
        .change(move |tx| {
            let by = by.clone();
            Box::pin(async move {
                let v = store::by_id(tx, id).await?.ok_or_else(|| not_found(id))?;
                store::delete(tx, id).await?;
                changelog::record(tx, &by, Action::Delete, &v.domain, None).await?;
                Ok(v)
            })
        })
        .await?;
    tracing::info!(domain = %v.domain, user = %who.email, "vhost deleted");
    Ok(Json(json!({ "success": true })))
}

async fn toggle(
    State(state): State<AppState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<Vhost>> {
    let who = user.require(Role::Editor)?;
    let old = store::by_id(&mut *state.db.acquire().await?, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !old.enabled {
        // Turned on, it is checked as it is now: a stored vhost may predate a rule.
        check(&state, &mut old.clone()).await?;
    }
    let by = who.clone();
    let v = state
        .applier
        .change(move |tx| {
            let (old, by) = (old.clone(), by.clone());
            Box::pin(async move {
                let mut v = store::by_id(tx, id).await?.ok_or_else(|| not_found(id))?;
                if v != old {
                    return Err(changed_meanwhile(id));
                }
                v.enabled = !v.enabled;
                v.updated_at = timestamps::now();
                store::update(tx, &v).await?;
                changelog::record(tx, &by, Action::Toggle, &v.domain, None).await?;
                Ok(v)
            })
        })
        .await?;
    tracing::info!(domain = %v.domain, enabled = v.enabled, user = %who.email, "vhost toggled");
    Ok(Json(v))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no vhost with id {id}"))
}

fn domain_conflict(domain: &str) -> ApiError {
    ApiError::conflict(format!("a vhost for {domain} already exists"))
}

fn unique_to_conflict(e: sqlx::Error, domain: &str) -> ApiError {
    if crate::db::is_unique_violation(&e) {
        domain_conflict(domain)
    } else {
        e.into()
    }
}
