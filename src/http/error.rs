//! The one error type of the HTTP layer, and the one place where domain errors become
//! status codes: 4xx answers explain themselves; 5xx are logged in full and answered with a
//! generic message.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    accounts::AccountError,
    changelog::InvalidFilter,
    logs::{query::filter::InvalidQuery, traffic::InvalidPeriod},
    proxy::ProxyError,
    vhosts::VhostError,
};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// An error answered as [`ErrorBody`]: `{"error": CODE, "message": TEXT}` (plus
/// `proxyMessage` for 502s).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    proxy_message: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            proxy_message: None,
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "sign in first")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            format!("too many attempts; try again in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }
    /// A 500: the cause is logged, the client gets a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal server error",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(format!("database: {e}"))
    }
}

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        let (code, proxy_message) = match &e {
            ProxyError::Rejected(m) => ("PROXY_REJECTED", Some(m.clone())),
            ProxyError::Unreachable(m) => ("PROXY_UNREACHABLE", Some(m.clone())),
            ProxyError::Invalid(m) => return Self::bad_request(m.clone()),
        };
        tracing::warn!(error = %e, "proxy did not take the configuration");
        let mut err = Self::new(StatusCode::BAD_GATEWAY, code, e.to_string());
        err.proxy_message = proxy_message;
        err
    }
}

impl From<VhostError> for ApiError {
    fn from(e: VhostError) -> Self {
        match e {
            VhostError::Invalid(m) => Self::bad_request(m),
            VhostError::NotFound(_) => Self::not_found(e.to_string()),
            VhostError::DomainTaken(_) | VhostError::ChangedMeanwhile(_) => {
                Self::conflict(e.to_string())
            }
            VhostError::Proxy(p) => p.into(),
            VhostError::Store(m) => Self::internal(m),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let code = match e {
            AccountError::InvalidEmail => "INVALID_EMAIL",
            AccountError::PasswordTooShort => "PASSWORD_TOO_SHORT",
            AccountError::PasswordTooLong => "PASSWORD_TOO_LONG",
            AccountError::InvalidName | AccountError::InvalidRole(_) => "BAD_REQUEST",
            AccountError::NotFound(_) => return Self::not_found(e.to_string()),
            AccountError::EmailTaken(_) | AccountError::LastAdmin => {
                return Self::conflict(e.to_string())
            }
            AccountError::Hashing(_) | AccountError::Store(_) => return Self::internal(e),
        };
        Self::new(StatusCode::BAD_REQUEST, code, e.to_string())
    }
}

/// A query string that cannot be answered (the message says why).
macro_rules! bad_query {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                Self::bad_request(e.to_string())
            }
        }
    )*};
}
bad_query!(InvalidFilter, InvalidQuery, InvalidPeriod);

/// The body of every error answer: a stable code to branch on and a sentence for people.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, in capitals: `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`,
    /// `NOT_FOUND`, `CONFLICT`, `TOO_MANY_REQUESTS`, `PROXY_REJECTED`, `PROXY_UNREACHABLE`,
    /// `INTERNAL`, or a more precise one where a route says so.
    #[schema(pattern = "^[A-Z][A-Z_]*$", example = "NOT_FOUND")]
    pub error: &'static str,
    /// Why, in words; for 5xx a generic sentence (the cause is in the server's log).
    #[schema(example = "no vhost with id 7")]
    pub message: String,
    /// With 502: what the proxy itself said.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub proxy_message: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: self.message,
            proxy_message: self.proxy_message,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        resp
    }
}
