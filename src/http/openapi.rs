//! The OpenAPI 3.1 document of the JSON API. It is generated from the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` types they name, gathered by the same
//! `OpenApiRouter`s that route the requests (see `api()` in `mod.rs`): a route cannot be
//! served without being described. What the middleware adds to every route it wraps (the
//! sign-in check's 401 and security schemes, the Origin check's 403) is noted here, where
//! the middleware is known. Served at `/api/openapi.json`; `/api/docs` renders it
//! (`web/reference.rs`).

use std::sync::Arc;

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Extension,
};
use serde::Serialize;
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        path::{Operation, PathItem},
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
        ContentBuilder, OpenApi, Ref, RefOr, Response as ApiResponse, ResponseBuilder,
    },
    Modify, OpenApi as _, ToSchema,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{error::ErrorBody, web::reference, AppState, SESSION_COOKIE};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "proxyhub",
        description = "The JSON API of proxyhub, a management plane for reverse proxies: \
            vhosts, accounts, the audit trail, access logs and traffic counts. Errors answer \
            `{\"error\": CODE, \"message\": TEXT}` (see the `Error` schema)."
    ),
    components(schemas(ErrorBody, Success)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-up, sign-in, sign-out and the session"),
        (name = "vhosts", description = "Virtual hosts: read by everyone signed in, changed by editors and admins"),
        (name = "users", description = "Accounts, for admins"),
        (name = "state", description = "The desired state as a document: export, import (all or nothing), dry runs"),
        (name = "tokens", description = "API tokens for scripts and CI, each with scopes"),
        (name = "changelog", description = "Who changed which vhost"),
        (name = "logs", description = "The proxy's access log and traffic counts"),
        (name = "status", description = "Health, and the proxy's and workers' state"),
        (name = "nodes", description = "The fleet of Caddy nodes every change is loaded onto, all or nothing, for admins"),
        (name = "reference", description = "This document and its rendering"),
    )
)]
struct ApiDoc;

/// The document's start: its description, tags, security schemes and shared schemas.
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// `{"success": true}`, the answer of deletions and of sign-out.
#[derive(Serialize, ToSchema)]
pub struct Success {
    /// Always true.
    success: bool,
}

impl Default for Success {
    fn default() -> Self {
        Self { success: true }
    }
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by sign-in or sign-up (HttpOnly, SameSite=Lax)",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("phk_…")
                    .description(Some(
                        "An API token: `Authorization: Bearer phk_…`, for scripts and CI",
                    ))
                    .build(),
            ),
        );
    }
}

/// The `X-RateLimit-*` headers every API answer carries (and `Retry-After` on a 429).
fn rate_limit_headers(r: &mut ApiResponse) {
    let int = || {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(0))
            .build()
    };
    for (name, description) in [
        (
            "X-RateLimit-Limit",
            "Requests of this kind (reads or writes) allowed a minute",
        ),
        (
            "X-RateLimit-Remaining",
            "How many of them are left in this window",
        ),
        (
            "X-RateLimit-Reset",
            "The Unix time (seconds) this window ends",
        ),
    ] {
        r.headers.entry(name.into()).or_insert_with(|| {
            HeaderBuilder::new()
                .schema(int())
                .description(Some(description))
                .build()
        });
    }
}

fn error_response(description: &str) -> RefOr<ApiResponse> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
        .into()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("head", &mut item.head),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// Notes on every operation of `doc` what the sign-in check adds: a session or an API token
/// is needed, and without one the answer is a 401.
pub fn behind_sign_in(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            op.security = Some(vec![
                SecurityRequirement::new("session", Vec::<String>::new()),
                SecurityRequirement::new("bearer", Vec::<String>::new()),
            ]);
            op.responses
                .responses
                .entry("401".into())
                .or_insert_with(|| {
                    error_response(
                        "Not signed in: no valid session or API token (`UNAUTHORIZED`), or a \
                         wrong, revoked or expired token, or one whose account is disabled \
                         (`INVALID_TOKEN`)",
                    )
                });
            op.responses
                .responses
                .entry("403".into())
                .or_insert_with(|| {
                    error_response(
                        "`MISSING_SCOPE`: the API token lacks the scope this needs (`required`)",
                    )
                });
        }
    }
}

/// The finished document: what the rate limit (around every API route) adds to every
/// answer, its headers, and the 429; and what the Origin check adds to the operations that
/// change state: a request from another site's page is refused with a 403.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    const FOREIGN: &str = "The request's `Origin` is another site";
    for item in doc.paths.paths.values_mut() {
        for (method, op) in operations(item) {
            // Any route: a bearer token that is not valid is refused before anything else.
            op.responses
                .responses
                .entry("401".into())
                .or_insert_with(|| {
                    error_response(
                    "`INVALID_TOKEN`: the request's bearer token is wrong, revoked or expired, \
                     or its account is disabled",
                )
                });
            op.responses
                .responses
                .entry("429".into())
                .or_insert_with(|| {
                    error_response("`TOO_MANY_REQUESTS`: over the rate limit; `Retry-After` says for how many seconds")
                });
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(r) = response {
                    rate_limit_headers(r);
                }
            }
            if matches!(method, "get" | "head" | "options") {
                continue;
            }
            match op.responses.responses.get_mut("403") {
                Some(RefOr::T(r)) => r.description = format!("{}; or: {FOREIGN}", r.description),
                Some(RefOr::Ref(_)) => {}
                None => {
                    op.responses
                        .responses
                        .insert("403".into(), error_response(FOREIGN));
                }
            }
        }
    }
    doc
}

/// The document as served, made once when the router is built.
pub struct Document {
    pub json: String,
    pub tree: serde_json::Value,
}

impl Document {
    pub fn new(doc: &OpenApi) -> Arc<Self> {
        let tree = serde_json::to_value(doc).expect("the OpenAPI document is JSON");
        Arc::new(Self {
            json: tree.to_string(),
            tree,
        })
    }
}

/// `/api/openapi.json` and `/api/docs`; both read the [`Document`] from an extension the
/// router adds once it is built.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(reference::page))
}

/// This document
///
/// The OpenAPI 3.1 description of every route of this API, generated from the code that
/// serves them.
#[utoipa::path(get, path = "/api/openapi.json", tag = "reference", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json(Extension(doc): Extension<Arc<Document>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.json.clone(),
    )
        .into_response()
}
