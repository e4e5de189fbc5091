//! `/api/webhooks`: where events are sent, for admins (or a token with the `admin` scope).

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, PathText},
    guard::CurrentUser,
    openapi::Success,
    AppState,
};
use crate::{
    accounts::tokens::Scope,
    events::webhooks::{self, Delivery, SsrfPolicy, Webhook, WebhookError},
    timestamps,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
        .routes(routes!(test))
        .routes(routes!(deliveries))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::Admin,
            Scope::Admin,
        )))
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid(m) => ApiError::bad_request(m),
            WebhookError::NotFound(_) => ApiError::not_found(e.to_string()),
            WebhookError::Store(e) => e.into(),
        }
    }
}

pub(super) fn policy(state: &AppState) -> SsrfPolicy {
    SsrfPolicy {
        allow_private: state.config.webhook_allow_private,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// Where events are POSTed: an http(s) URL of a public address (loopback, private and
    /// link-local addresses only with `PROXYHUB_WEBHOOK_ALLOW_PRIVATE=true`).
    #[schema(example = "https://hooks.example.com/proxyhub")]
    url: String,
    /// Events to send (`vhost.created`, `proxy.apply_failed` ...), or `["*"]` for all.
    #[schema(example = json!(["vhost.created", "vhost.deleted", "proxy.apply_failed"]))]
    events: Vec<String>,
    /// The signing secret, 16 to 256 printable characters; made for you when left out.
    secret: Option<String>,
}

/// A webhook just created: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// Signs every delivery (`X-Proxyhub-Signature`); shown this once.
    secret: String,
}

/// Add a webhook
///
/// Events from now on are POSTed to the URL, signed with the secret, at least once and in
/// order, retried with backoff for up to 24 hours.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", operation_id = "createWebhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created: `secret` is shown this once", body = CreatedWebhook),
        (status = 400, description = "Not an http(s) URL, an address that is refused (loopback, private, link-local), an unknown event, or a bad secret", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    AppJson(body): AppJson<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>)> {
    let (webhook, secret) = webhooks::create(
        &state.db,
        &body.url,
        &body.events,
        body.secret,
        &me.user.id,
        policy(&state),
    )
    .await?;
    state.feed.poke();
    tracing::info!(url = %webhook.url, by = %me.user.email, "webhook added");
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook, secret }),
    ))
}

/// List webhooks
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    responses((status = 200, description = "The webhooks (never their secrets)", body = [Webhook])))]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<Webhook>>> {
    Ok(Json(webhooks::all(&state.db).await?))
}

/// Delete a webhook
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Deleted: nothing more is sent to it", body = Success),
        (status = 400, description = "The id is not one (control characters)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
async fn remove(State(state): State<AppState>, PathText(id): PathText) -> Result<Json<Success>> {
    let hook = webhooks::remove(&state.db, &id).await?;
    tracing::info!(url = %hook.url, "webhook deleted");
    Ok(Json(Success::default()))
}

/// What a test delivery came to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Tested {
    /// Whether the receiver answered 2xx.
    delivered: bool,
    status_code: Option<u16>,
    duration_ms: i64,
    error: Option<String>,
}

/// Send a test event
///
/// POSTs a `ping` event to the webhook now, signed like every delivery, and answers what the
/// receiver said. The attempt shows in the deliveries too.
#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "webhooks", operation_id = "testWebhook",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Sent (whether or not the receiver took it: see `delivered`)", body = Tested),
        (status = 400, description = "The id is not one (control characters)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
async fn test(State(state): State<AppState>, PathText(id): PathText) -> Result<Json<Tested>> {
    let hook = webhooks::by_id(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook with id {id}")))?;
    let delivery_id = format!("{}-ping-{}", hook.id, uuid::Uuid::new_v4().simple());
    let body = json!({
        "id": format!("evt_ping_{}", uuid::Uuid::new_v4().simple()),
        "event": "ping",
        "timestamp": timestamps::now(),
        "data": { "webhookId": hook.id, "url": hook.url },
    })
    .to_string();
    let sent = webhooks::send(
        &hook.url,
        &hook.secret,
        "ping",
        &delivery_id,
        &body,
        policy(&state),
    )
    .await;
    webhooks::record(
        &state.db,
        &hook.id,
        &Delivery {
            delivery_id,
            event: "ping".into(),
            attempt: 1,
            status_code: sent.status.map(i64::from),
            duration_ms: sent.duration_ms,
            error: sent.error.clone(),
            created_at: timestamps::now(),
        },
    )
    .await?;
    Ok(Json(Tested {
        delivered: sent.ok(),
        status_code: sent.status,
        duration_ms: sent.duration_ms,
        error: sent.error,
    }))
}

/// A webhook's recent deliveries
///
/// The newest 100 attempts first: event, status code, duration, attempt number, error.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The attempts, newest first", body = [Delivery]),
        (status = 400, description = "The id is not one (control characters)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
async fn deliveries(
    State(state): State<AppState>,
    PathText(id): PathText,
) -> Result<Json<Vec<Delivery>>> {
    if webhooks::by_id(&state.db, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("no webhook with id {id}")));
    }
    Ok(Json(webhooks::deliveries(&state.db, &id, 100).await?))
}
