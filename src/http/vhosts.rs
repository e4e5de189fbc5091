//! `/api/vhosts`: list (filtered, sorted, paged), read, create, update, delete and toggle
//! virtual hosts. Editors and admins (or tokens with `write:vhosts`) change them; everyone
//! signed in (or tokens with `read:vhosts`) reads them. Each vhost answer carries its
//! version as `ETag`; changes honour `If-Match`, creations `Idempotency-Key`.

use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::vhost_answer::VhostAnswer;
use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{json_body, AppJson, AppQuery, PathId},
    guard::CurrentUser,
    idempotent, lists,
    openapi::Success,
    remembered::Listed,
    shared,
    vhost_input::{NewVhost, VhostInput},
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    vhosts::{self, Expected, Selection, SortBy, Vhost},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(toggle))
        .merge(super::vhost_stats::router())
        .merge(super::vhost_health::router())
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadVhosts,
            Scope::WriteVhosts,
        )))
}

/// Which vhosts to list, in which order, which page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Part of the domain, an alias or the upstream, any case.
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    search: Option<String>,
    /// Only enabled (`true`) or disabled (`false`) vhosts.
    #[param(value_type = Option<bool>)]
    enabled: Option<String>,
    /// What to sort by (default `domain`).
    #[param(pattern = "^(domain|createdAt|updatedAt)?$")]
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(pattern = "^(asc|desc)?$")]
    order: Option<String>,
    /// The page, from 1 (pages of `limit`).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    page: Option<String>,
    /// Vhosts a page, 1 to 500 (default 100 once `page` is given; else all).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// List the vhosts
///
/// By domain unless sorted otherwise; filtered, searched and paged on request.
#[utoipa::path(get, path = "/api/vhosts", tag = "vhosts", operation_id = "listVhosts",
    params(ListQuery),
    responses(
        (status = 200, description = "The vhosts", body = [VhostAnswer], headers(
            ("X-Total-Count" = i64, description = "How many vhosts the filters keep, in all"),
            ("Link" = String, description = "With `page` or `limit`: the next and previous pages (`rel=\"next\"`, `rel=\"prev\"`)"),
        )),
        (status = 400, description = "An unknown parameter, sort field or a bad value", body = ErrorBody),
        (status = 403, description = "A token without `read:vhosts`", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    OriginalUri(uri): OriginalUri,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<(HeaderMap, Response)> {
    me.need(Scope::ReadVhosts)?;
    let paged = lists::page(q.page, q.limit)?;
    let sel = Selection {
        search: lists::search(q.search)?,
        enabled: lists::flag("enabled", q.enabled)?,
        sort: lists::sort(q.sort, SortBy::parse, "domain, createdAt, updatedAt")?,
        descending: lists::descending(q.order)?,
        page: lists::rows(paged),
    };
    // The rows are read once per version of the configuration (see `remembered`); the answer
    // adds each one's certificate status, as it is now.
    let question = format!("{sel:?}");
    let found = state
        .config_reads
        .vhosts
        .answer(&state.reads, question, |conn| {
            Box::pin(async move {
                let (rows, total) = vhosts::store::select(conn, &sel).await?;
                Ok(Listed::new(rows, total))
            })
        })
        .await?;
    let added = (state.certificates.generation(), state.health.generation());
    let body = found.body(added, |rows| {
        let list: Vec<_> = rows
            .iter()
            .map(|v| VhostAnswer::new(&state, v.clone()))
            .collect();
        shared::to_json(&list)
    })?;
    Ok((lists::headers(found.total, paged, &uri), shared::json(body)))
}

/// A vhost answer: the vhost and its certificate's status, its version as `ETag`.
fn answer(state: &AppState, status: StatusCode, v: Vhost) -> Response {
    let v = VhostAnswer::new(state, v);
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

/// Read a vhost
#[utoipa::path(get, path = "/api/vhosts/{id}", tag = "vhosts", operation_id = "getVhost",
    params(("id" = i64, Path, description = "The vhost's id")),
    responses(
        (status = 200, description = "The vhost", body = VhostAnswer,
            headers(("ETag" = String, description = "Its version, for `If-Match`"))),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "A token without `read:vhosts`", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
    ))]
async fn read(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response> {
    me.need(Scope::ReadVhosts)?;
    let v = vhosts::get(&state.reads, id).await?;
    Ok(answer(&state, StatusCode::OK, v))
}

/// Create a vhost
///
/// Stored and pushed to the proxy in one step: if the proxy refuses the configuration,
/// nothing is stored. With an `Idempotency-Key`, a retry with the same key and body within
/// 24 hours gets the first answer again.
#[utoipa::path(post, path = "/api/vhosts", tag = "vhosts", operation_id = "createVhost",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1 to 255 visible ASCII characters, unique per request you mean once")),
    request_body = NewVhost,
    responses(
        (status = 201, description = "Created and applied (or, for a retried key, the first answer again, with `Idempotent-Replayed: true`)", body = VhostAnswer,
            headers(("ETag" = String, description = "Its version, for `If-Match`"))),
        (status = 400, description = "A field is invalid, the body is not JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 403, description = "Needs the editor role (a token: `write:vhosts`)", body = ErrorBody),
        (status = 409, description = "A vhost for this domain exists; or `IDEMPOTENCY_KEY_IN_USE`: the first request with this key is still being answered", body = ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: this key came with another body", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let who = me.need(Scope::WriteVhosts)?;
    let input: VhostInput = json_body(&headers, &body)?;
    let user = who.id.clone();
    idempotent::once(&state, &user, &headers, &body, created(&state, &me, input)).await
}

async fn created(state: &AppState, me: &CurrentUser, input: VhostInput) -> Result<Response> {
    let v = vhosts::create(&state.applier, &me.actor(), input.into()).await?;
    tracing::info!(domain = %v.domain, user = %me.user.email, token = ?me.token.as_ref().map(|t| &t.name), "vhost created");
    Ok(answer(state, StatusCode::CREATED, v))
}

/// Update a vhost
#[utoipa::path(put, path = "/api/vhosts/{id}", tag = "vhosts", operation_id = "updateVhost",
    params(("id" = i64, Path, description = "The vhost's id"), ("If-Match" = Option<String>, Header, description = "Apply only if the vhost is at one of these versions (its `ETag`s, or `*`)")),
    request_body = VhostInput,
    responses(
        (status = 200, description = "Updated and applied", body = VhostAnswer,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 400, description = "A field or the id is invalid, or the body is not JSON", body = ErrorBody),
        (status = 403, description = "Needs the editor role (a token: `write:vhosts`)", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
        (status = 409, description = "Another vhost has this domain, or the vhost changed meanwhile", body = ErrorBody),
        (status = 412, description = "`PRECONDITION_FAILED`: not at a version `If-Match` names; the body also carries the vhost as it is now, and `ETag` its version", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
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
    Ok(answer(&state, StatusCode::OK, v))
}

/// Delete a vhost
#[utoipa::path(delete, path = "/api/vhosts/{id}", tag = "vhosts", operation_id = "deleteVhost",
    params(("id" = i64, Path, description = "The vhost's id"), ("If-Match" = Option<String>, Header, description = "Apply only if the vhost is at one of these versions (its `ETag`s, or `*`)")),
    responses(
        (status = 200, description = "Deleted, and the proxy no longer serves it", body = Success),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "Needs the editor role (a token: `write:vhosts`)", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
        (status = 412, description = "`PRECONDITION_FAILED`: not at a version `If-Match` names; the body also carries the vhost as it is now", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Json<Success>> {
    me.need(Scope::WriteVhosts)?;
    let expected = if_match(&headers)?;
    let v = vhosts::remove(&state.applier, &me.actor(), id, expected).await?;
    tracing::info!(domain = %v.domain, user = %me.user.email, "vhost deleted");
    Ok(Json(Success::default()))
}

/// Enable or disable a vhost
#[utoipa::path(patch, path = "/api/vhosts/{id}/toggle", tag = "vhosts", operation_id = "toggleVhost",
    params(("id" = i64, Path, description = "The vhost's id"), ("If-Match" = Option<String>, Header, description = "Apply only if the vhost is at one of these versions (its `ETag`s, or `*`)")),
    responses(
        (status = 200, description = "Toggled and applied", body = VhostAnswer,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "Needs the editor role (a token: `write:vhosts`)", body = ErrorBody),
        (status = 404, description = "No vhost with this id", body = ErrorBody),
        (status = 409, description = "The vhost changed meanwhile", body = ErrorBody),
        (status = 412, description = "`PRECONDITION_FAILED`: not at a version `If-Match` names; the body also carries the vhost as it is now", body = ErrorBody),
        (status = 502, description = "The proxy refused the configuration or is unreachable", body = ErrorBody),
    ))]
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
    Ok(answer(&state, StatusCode::OK, v))
}
