//! The one error type of the HTTP layer, and the one place where domain errors become
//! status codes: 4xx answers explain themselves; 5xx are logged in full and answered with a
//! generic message.

use axum::{
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

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

/// An error answered as [`ErrorBody`]: `{"error": CODE, "message": TEXT}`, plus fields some
/// errors add (`proxyMessage` for 502s, `required` for a missing scope, the current vhost for
/// a 412).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// What few errors add, boxed: errors travel in `Result`s and stay small.
    more: Option<Box<More>>,
}

/// The body fields and headers some errors add.
#[derive(Debug, Clone, Default)]
struct More {
    proxy_message: Option<String>,
    required: Option<&'static str>,
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            more: None,
        }
    }
    /// Adds a field to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.more().extra.insert(key.to_string(), value.into());
        self
    }
    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Default::default)
    }
    /// Adds a header to the answer.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.more().headers.push((name, value));
        self
    }
    fn requiring(mut self, scope: Scope) -> Self {
        self.more().required = Some(scope.as_str());
        self
    }
    pub fn missing_scope(scope: Scope) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPE",
            format!("this token lacks the {} scope", scope.as_str()),
        )
        .requiring(scope)
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
        .with_header(HeaderName::from_static("x-retry-after"), retry_after.into())
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
        err.more().proxy_message = proxy_message;
        err
    }
}

impl From<VhostError> for ApiError {
    fn from(e: VhostError) -> Self {
        match e {
            VhostError::Invalid(m) => Self::bad_request(m),
            VhostError::Field(ref field, _) | VhostError::Named(ref field, _) => {
                let field = field.clone();
                Self::bad_request(e.to_string()).with("field", field)
            }
            VhostError::NotFound(_) => Self::not_found(e.to_string()),
            VhostError::DomainTaken(_)
            | VhostError::NameTaken(..)
            | VhostError::ChangedMeanwhile(_)
            | VhostError::CannotRevert(_) => Self::conflict(e.to_string()),
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
                        err.more().extra.insert(k.clone(), v.clone());
                    }
                }
                err.more().extra.insert("current".into(), current);
                err
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
            AccountError::InvalidName
            | AccountError::InvalidImage
            | AccountError::InvalidRole(_) => "BAD_REQUEST",
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
            TokenError::BeyondRole { .. } | TokenError::BeyondToken => {
                Self::forbidden(e.to_string())
            }
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

/// The body of every error answer: a stable code to branch on and a sentence for people.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, in capitals: `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`,
    /// `NOT_FOUND`, `CONFLICT`, `TOO_MANY_REQUESTS`, `MISSING_SCOPE`, `INVALID_TOKEN`,
    /// `PRECONDITION_FAILED`, `PROXY_REJECTED`, `PROXY_UNREACHABLE`,
    /// `INTERNAL`, or a more precise one where a route says so.
    #[schema(pattern = "^[A-Z][A-Z_]*$", example = "NOT_FOUND")]
    pub error: &'static str,
    /// The same code, where Better Auth's clients read it.
    #[schema(pattern = "^[A-Z][A-Z_]*$", example = "NOT_FOUND")]
    pub code: &'static str,
    /// Why, in words; for 5xx a generic sentence (the cause is in the server's log).
    #[schema(example = "no vhost with id 7")]
    pub message: String,
    /// With 502: what the proxy itself said.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub proxy_message: Option<String>,
    /// With 403 `MISSING_SCOPE`: the scope the API token lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "write:vhosts")]
    pub required: Option<&'static str>,
    /// With 412 `PRECONDITION_FAILED`: the vhost as it is now, its fields here and under
    /// `current`.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let more = self.more.map(|m| *m).unwrap_or_default();
        let body = ErrorBody {
            error: self.code,
            code: self.code,
            message: self.message,
            proxy_message: more.proxy_message,
            required: more.required,
            extra: more.extra,
        };
        let mut resp = (self.status, Json(body)).into_response();
        for (name, value) in more.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}
