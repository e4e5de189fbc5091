//! The one error type of the HTTP layer, and the one place where domain errors become
//! status codes: 4xx answers explain themselves; 5xx are logged in full and answered with a
//! generic message.

use axum::{
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{Map, Value};

use crate::{
    accounts::{
        tokens::{Scope, TokenError},
        AccountError,
    },
    changelog::InvalidFilter,
    logs::{query::filter::InvalidQuery, traffic::InvalidPeriod},
    proxy::ProxyError,
    vhosts::VhostError,
};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// An error answered as `{"error": CODE, "message": TEXT}`, plus fields some errors add
/// (`proxyMessage` for 502s, `required` for a missing scope, the current vhost for a 412).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }
    /// Adds a field to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
    /// Adds a header to the answer.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
    pub fn missing_scope(scope: Scope) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPE",
            format!("this token lacks the {} scope", scope.as_str()),
        )
        .with("required", scope.as_str())
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
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            format!("too many requests; try again in {retry_after} s"),
        )
        .with_header(header::RETRY_AFTER, retry_after.into())
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
        let err = Self::new(StatusCode::BAD_GATEWAY, code, e.to_string());
        match proxy_message {
            Some(m) => err.with("proxyMessage", m),
            None => err,
        }
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
            VhostError::Stale(ref current) => {
                let mut err = Self::new(
                    StatusCode::PRECONDITION_FAILED,
                    "PRECONDITION_FAILED",
                    e.to_string(),
                );
                if let Ok(etag) = HeaderValue::from_str(&current.etag()) {
                    err = err.with_header(header::ETAG, etag);
                }
                let current = serde_json::to_value(current).unwrap_or_default();
                if let Value::Object(fields) = &current {
                    for (k, v) in fields {
                        err.extra.insert(k.clone(), v.clone());
                    }
                }
                err.with("current", current)
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

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid(m) => Self::bad_request(m),
            TokenError::BeyondRole { .. } => Self::forbidden(e.to_string()),
            TokenError::NotFound(_) => Self::not_found(e.to_string()),
            TokenError::Store(e) => e.into(),
        }
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        body.insert("error".into(), self.code.into());
        body.insert("message".into(), self.message.into());
        let mut resp = (self.status, Json(Value::Object(body))).into_response();
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}
