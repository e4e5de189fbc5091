//! Certificate statuses as the API shows them: `GET /api/certificates` (everyone signed in,
//! tokens with `read:vhosts`); each vhost answer's `certificate` is `vhost_answer.rs`'s.

use axum::{extract::State, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ErrorBody, Result},
    guard::CurrentUser,
    AppState,
};
use crate::{accounts::tokens::Scope, certs::CertStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .route_layer(axum::middleware::from_fn(super::guard::scoped(
            Scope::ReadVhosts,
            Scope::WriteVhosts,
        )))
}

/// One name's certificate status.
#[derive(Serialize, ToSchema)]
pub struct Certificate {
    /// The vhost's domain.
    name: String,
    #[serde(flatten)]
    status: CertStatus,
}

/// List the certificate statuses
///
/// What the proxy served for each enabled vhost's domain at the last check (hourly, and
/// soon after each change), by name. Empty with TLS off or with nginx.
#[utoipa::path(get, path = "/api/certificates", tag = "vhosts", operation_id = "listCertificates",
    responses(
        (status = 200, description = "The statuses, by name", body = [Certificate]),
        (status = 403, description = "A token without `read:vhosts`", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Json<Vec<Certificate>>> {
    me.need(Scope::ReadVhosts)?;
    Ok(Json(
        state
            .certificates
            .all()
            .into_iter()
            .map(|(name, status)| Certificate { name, status })
            .collect(),
    ))
}
