//! `/api/export` and `/api/import`: the desired state as a document (JSON or YAML), and a
//! document applied all or nothing, or only planned (`dryRun`). Admins only (a token: the
//! `admin` scope): a document holds every vhost.

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::AppQuery,
    guard::CurrentUser,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    importer::{self, Skipped},
    state::{self, Document, Step, Summary},
    vhosts::bulk::{self, ImportError},
};

/// The largest document `POST /api/import` reads (10,000 vhosts with snippets fit).
const MAX_DOCUMENT: usize = 64 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(import))
        .routes(routes!(import_caddyfile))
        .routes(routes!(import_nginx))
        .layer(DefaultBodyLimit::max(MAX_DOCUMENT))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::Admin,
            Scope::Admin,
        )))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `json` (default) or `yaml`.
    #[param(pattern = "^(json|yaml)$")]
    format: Option<String>,
    /// Include secrets (none exist yet: the document is the same either way).
    secrets: Option<bool>,
}

/// Export the desired state
///
/// Every vhost with every field, by domain; no ids, no timestamps. What `POST /api/import`
/// and `proxyhub apply` read.
#[utoipa::path(get, path = "/api/export", tag = "state", operation_id = "exportState",
    params(ExportQuery),
    responses(
        (status = 200, description = "The document (YAML with `format=yaml`)",
            content((Document = "application/json"), (Document = "application/yaml"))),
        (status = 400, description = "An unknown parameter or format", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
    ))]
async fn export(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<ExportQuery>,
) -> Result<Response> {
    me.need(Scope::Admin)?;
    let _ = q.secrets;
    let doc = Document::new(bulk::current(&state.db).await?);
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(doc).into_response()),
        Some("yaml") => {
            let text = serde_saphyr::to_string(&doc).map_err(ApiError::internal)?;
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/yaml"),
                )],
                text,
            )
                .into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "format must be json or yaml, got {other:?}"
        ))),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// Only plan: check everything, change nothing.
    dry_run: Option<bool>,
    /// Delete the vhosts the document does not list.
    prune: Option<bool>,
}

/// What an import did, or would do.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ImportAnswer {
    /// The import's id, in the changelog entries it made; `null` for a dry run.
    import_id: Option<String>,
    dry_run: bool,
    summary: Summary,
    /// Per domain, by domain.
    plan: Vec<Step>,
}

/// Import a desired state
///
/// Takes what `GET /api/export` gives, as JSON or YAML (by `Content-Type`). Every vhost is
/// checked as a single change would be; the whole plan is then applied in one transaction
/// and one push: all or nothing.
#[utoipa::path(post, path = "/api/import", tag = "state", operation_id = "importState",
    params(ImportQuery),
    request_body(content((Document = "application/json"), (Document = "application/yaml"))),
    responses(
        (status = 200, description = "Applied (or, with `dryRun`, planned)", body = ImportAnswer),
        (status = 400, description = "Not a valid document: `path` names the bad field (`vhosts[3].upstream`)", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
        (status = 409, description = "The vhosts changed while the import was checked", body = ErrorBody),
        (status = 502, description = "The proxy refused: `vhosts` lists each refused vhost with the proxy's words; nothing changed", body = ErrorBody),
    ))]
async fn import(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportAnswer>> {
    me.need(Scope::Admin)?;
    let doc = read_document(&headers, &body)?;
    let specs = state::read(&doc).map_err(invalid)?;
    let dry = q.dry_run.unwrap_or(false);
    let done = bulk::import(
        &state.applier,
        &state.db,
        &me.actor(),
        specs,
        q.prune.unwrap_or(false),
        dry,
    )
    .await
    .map_err(import_error)?;
    if let Some(id) = &done.id {
        let s = state::summary(&done.steps);
        tracing::info!(import = %id, user = %me.user.email, create = s.create, update = s.update, delete = s.delete, "state imported");
    }
    Ok(Json(ImportAnswer {
        import_id: done.id,
        dry_run: dry,
        summary: state::summary(&done.steps),
        plan: done.steps,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AdoptQuery {
    /// Apply the plan (all or nothing); without it, only plan.
    apply: Option<bool>,
}

/// What importing an existing config did, or would do.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AdoptAnswer {
    #[serde(flatten)]
    import: ImportAnswer,
    /// What was left out, and why.
    skipped: Vec<Skipped>,
}

/// Import an existing Caddyfile
///
/// Each site block becomes a vhost per name: a lone `reverse_proxy <upstream>` the upstream,
/// anything else the block's body as the snippet (checked as any snippet). Global options,
/// named snippets, `import` lines and blocks that fail the checks are listed in `skipped`.
#[utoipa::path(post, path = "/api/import/caddyfile", tag = "state", operation_id = "importCaddyfile",
    params(AdoptQuery),
    request_body(content = String, content_type = "text/plain", description = "The Caddyfile"),
    responses(
        (status = 200, description = "Planned (or, with `apply`, applied)", body = AdoptAnswer),
        (status = 400, description = "The text cannot be read as a Caddyfile", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
        (status = 409, description = "The vhosts changed while the import was checked", body = ErrorBody),
        (status = 502, description = "The proxy refused the assembled configuration", body = ErrorBody),
    ))]
async fn import_caddyfile(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<AdoptQuery>,
    body: Bytes,
) -> Result<Json<AdoptAnswer>> {
    me.need(Scope::Admin)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the Caddyfile is not UTF-8 text"))?;
    let read = importer::caddyfile::read(text)
        .map_err(|e| ApiError::bad_request(format!("cannot read the Caddyfile: {e}")))?;
    adopt(&state, &me, read, q.apply.unwrap_or(false)).await
}

/// Import an existing nginx config
///
/// Each `server` block becomes a vhost per server name: a lone `location / { proxy_pass X; }`
/// the upstream (an `upstream` block of one server resolved), anything else the block's body
/// as the snippet; `listen`, `server_name` and `ssl_*` are proxyhub's to render and dropped.
/// `include` lines, servers without a name and blocks that fail the checks are listed in
/// `skipped` (`proxyhub import nginx` inlines included files before sending).
#[utoipa::path(post, path = "/api/import/nginx", tag = "state", operation_id = "importNginx",
    params(AdoptQuery),
    request_body(content = String, content_type = "text/plain", description = "The nginx config"),
    responses(
        (status = 200, description = "Planned (or, with `apply`, applied)", body = AdoptAnswer),
        (status = 400, description = "The text cannot be read as an nginx config", body = ErrorBody),
        (status = 403, description = "Needs the admin role (a token: the `admin` scope)", body = ErrorBody),
        (status = 409, description = "The vhosts changed while the import was checked", body = ErrorBody),
        (status = 502, description = "The proxy refused the assembled configuration", body = ErrorBody),
    ))]
async fn import_nginx(
    State(state): State<AppState>,
    me: CurrentUser,
    AppQuery(q): AppQuery<AdoptQuery>,
    body: Bytes,
) -> Result<Json<AdoptAnswer>> {
    me.need(Scope::Admin)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the config is not UTF-8 text"))?;
    let read = importer::nginx::read(text)
        .map_err(|e| ApiError::bad_request(format!("cannot read the nginx config: {e}")))?;
    adopt(&state, &me, read, q.apply.unwrap_or(false)).await
}

/// Checks each vhost read from a config on its own (what fails is skipped with the reason),
/// then plans or applies the rest as one import.
async fn adopt(
    state: &AppState,
    me: &CurrentUser,
    read: importer::Read,
    apply: bool,
) -> Result<Json<AdoptAnswer>> {
    let mut skipped = read.skipped;
    let mut specs = Vec::new();
    for found in read.found {
        match bulk::verdict(&state.applier, &found.spec).await {
            None => specs.push(found.spec),
            Some(reason) => skipped.push(Skipped {
                what: found.spec.domain.clone(),
                line: found.line,
                reason,
            }),
        }
    }
    let done = bulk::import(&state.applier, &state.db, &me.actor(), specs, false, !apply)
        .await
        .map_err(import_error)?;
    Ok(Json(AdoptAnswer {
        import: ImportAnswer {
            import_id: done.id,
            dry_run: !apply,
            summary: state::summary(&done.steps),
            plan: done.steps,
        },
        skipped,
    }))
}

/// A document: JSON when the `Content-Type` says so, else YAML (which reads JSON too).
pub fn read_document(headers: &HeaderMap, body: &[u8]) -> Result<Value> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the document is not UTF-8 text"))?;
    let json = kind == "application/json" || kind.ends_with("+json");
    if json {
        return serde_json::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")));
    }
    // YAML (of which JSON is a part), whatever else the type says: a file sent with curl's
    // default type, text/plain, or none.
    serde_saphyr::from_str::<Value>(text).map_err(|e| {
        ApiError::bad_request(if kind.contains("yaml") {
            format!("invalid YAML: {e}")
        } else {
            format!("not a JSON or YAML document: {e}")
        })
    })
}

fn invalid(e: state::Invalid) -> ApiError {
    ApiError::bad_request(e.to_string()).with("path", e.path)
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Invalid(e) => invalid(e),
        ImportError::Refused(refused) => {
            let words: Vec<String> = refused.iter().map(|(d, m)| format!("{d}: {m}")).collect();
            let list: Vec<Value> = refused
                .iter()
                .map(|(d, m)| serde_json::json!({ "domain": d, "message": m }))
                .collect();
            let message = format!(
                "the proxy refused {}; nothing was changed",
                refused
                    .iter()
                    .map(|(d, _)| d.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ApiError::new(StatusCode::BAD_GATEWAY, "PROXY_REJECTED", message)
                .with("proxyMessage", words.join("\n"))
                .with("vhosts", list)
        }
        ImportError::ChangedMeanwhile => ApiError::conflict(e.to_string()),
        ImportError::Proxy(p) => p.into(),
        ImportError::Store(m) => ApiError::internal(m),
    }
}
