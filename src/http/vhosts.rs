//! `/api/vhosts`: list (filtered, sorted, paged), read, create, update, delete and toggle
//! virtual hosts. Editors and admins (or tokens with `write:vhosts`) change them; everyone
//! signed in (or tokens with `read:vhosts`) reads them. Each vhost answer carries its
//! version as `ETag`; changes honour `If-Match`, creations `Idempotency-Key`.

use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, patch},
    Json, Router,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    error::{ApiError, Result},
    extract::{json_body, AppJson, AppQuery, PathId},
    guard::CurrentUser,
    lists, AppState,
};
use crate::{
    accounts::tokens::Scope,
    idempotency::{self, Begin, Remembered},
    vhosts::{self, Changes, Expected, Selection, SortBy, Vhost},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/vhosts", get(list).post(create))
        .route("/api/vhosts/{id}", get(read).put(update).delete(remove))
        .route("/api/vhosts/{id}/toggle", patch(toggle))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadVhosts,
            Scope::WriteVhosts,
        )))
}

/// Fields a client may set. `config` and `upstream` tell "absent" from `null` (clear it).
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

impl From<VhostInput> for Changes {
    fn from(i: VhostInput) -> Self {
        Changes {
            domain: i.domain,
            config: i.config,
            upstream: i.upstream,
            enabled: i.enabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    search: Option<String>,
    enabled: Option<bool>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    OriginalUri(uri): OriginalUri,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<Vhost>>)> {
    me.need(Scope::ReadVhosts)?;
    let paged = lists::page(q.page, q.limit)?;
    let sel = Selection {
        search: lists::search(q.search)?,
        enabled: q.enabled,
        sort: lists::sort(
            q.sort.as_deref(),
            SortBy::parse,
            "domain, createdAt, updatedAt",
        )?,
        descending: lists::descending(q.order.as_deref())?,
        page: lists::rows(paged),
    };
    let (list, total) = vhosts::list(&state.db, &sel).await?;
    Ok((lists::headers(total, paged, &uri), Json(list)))
}

/// A vhost answer: the vhost, its version as `ETag`.
fn answer(status: StatusCode, v: Vhost) -> Response {
    let etag = HeaderValue::from_str(&v.etag()).expect("digits and quotes");
    (status, [(header::ETAG, etag)], Json(v)).into_response()
}

/// The versions `If-Match` names (`None`: absent or `*`, any version). Weak tags never
/// match (a strong comparison); a tag of another form matches nothing.
fn if_match(headers: &HeaderMap) -> Result<Expected> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match must be text"))?;
    if value.trim() == "*" {
        return Ok(None);
    }
    let versions = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.starts_with("W/"))
        .filter_map(|t| {
            let t = t
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(t);
            t.parse::<i64>().ok()
        })
        .collect();
    Ok(Some(versions))
}

async fn read(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response> {
    me.need(Scope::ReadVhosts)?;
    Ok(answer(StatusCode::OK, vhosts::get(&state.db, id).await?))
}

async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let who = me.need(Scope::WriteVhosts)?;
    let Some(key) = headers.get("idempotency-key") else {
        let input: VhostInput = json_body(&headers, &body)?;
        return created(&state, &me, input).await;
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| idempotency::valid_key(k))
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?
        .to_string();
    let input: VhostInput = json_body(&headers, &body)?;
    let user = who.id.clone();
    match idempotency::begin(&state.db, &user, &key, &idempotency::fingerprint(&body)).await? {
        Begin::Replay(r) => Ok(replay(r)),
        Begin::OtherBody => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used with another request body: use a new key for a new request",
        )),
        Begin::InProgress => Err(ApiError::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_KEY_IN_USE",
            "a request with this Idempotency-Key is still being answered; retry in a moment",
        )),
        Begin::New => match created(&state, &me, input).await {
            Ok(resp) => remember(&state, &user, &key, resp).await,
            Err(e) => {
                idempotency::abandon(&state.db, &user, &key).await?;
                Err(e)
            }
        },
    }
}

async fn created(state: &AppState, me: &CurrentUser, input: VhostInput) -> Result<Response> {
    let v = vhosts::create(&state.applier, &me.actor(), input.into()).await?;
    tracing::info!(domain = %v.domain, user = %me.user.email, token = ?me.token.as_ref().map(|t| &t.name), "vhost created");
    Ok(answer(StatusCode::CREATED, v))
}

/// Stores a first answer for its key and gives it back.
async fn remember(state: &AppState, user: &str, key: &str, resp: Response) -> Result<Response> {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(ApiError::internal)?;
    let answer = Remembered {
        status: parts.status.as_u16(),
        etag: parts
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    idempotency::finish(&state.db, user, key, &answer).await?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}

fn replay(r: Remembered) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r.body,
    )
        .into_response();
    if let Some(etag) = r.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    headers: HeaderMap,
    AppJson(input): AppJson<VhostInput>,
) -> Result<Response> {
    me.need(Scope::WriteVhosts)?;
    let expected = if_match(&headers)?;
    let v = vhosts::update(
        &state.applier,
        &state.db,
        &me.actor(),
        id,
        input.into(),
        expected,
    )
    .await?;
    tracing::info!(domain = %v.domain, user = %me.user.email, "vhost updated");
    Ok(answer(StatusCode::OK, v))
}

async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>> {
    me.need(Scope::WriteVhosts)?;
    let expected = if_match(&headers)?;
    let v = vhosts::remove(&state.applier, &me.actor(), id, expected).await?;
    tracing::info!(domain = %v.domain, user = %me.user.email, "vhost deleted");
    Ok(Json(json!({ "success": true })))
}

async fn toggle(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response> {
    me.need(Scope::WriteVhosts)?;
    let expected = if_match(&headers)?;
    let v = vhosts::toggle(&state.applier, &state.db, &me.actor(), id, expected).await?;
    tracing::info!(domain = %v.domain, enabled = v.enabled, user = %me.user.email, "vhost toggled");
    Ok(answer(StatusCode::OK, v))
}
