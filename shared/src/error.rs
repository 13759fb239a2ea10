//! The one place where failures become HTTP answers.
//!
//! Every error body carries `error` (osquery treats any body with an `error` key as a
//! failure and keeps its data to resend) and Fleet's `message`/`errors` shape for admin clients.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ports::{BlobError, LogSinkError, QueueError, SecretError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A missing, unknown or revoked osquery node key, or a failed osquery enroll:
    /// osquery drops its key and enrolls again.
    #[error("{0}")]
    NodeInvalid(&'static str),
    /// Admin authentication failed.
    #[error("Authentication required")]
    Unauthorized,
    /// A wrong email or password (Fleet's message), whichever it was.
    #[error("Authentication failed")]
    AuthenticationFailed,
    /// Authenticated, but the role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// It existed but has expired (an old carve).
    #[error("{0}")]
    Gone(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("too many requests, retry in {retry_after} s")]
    TooManyRequests { retry_after: i64 },
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// A dependency (store, sink, queue) failed: the agent should retry later.
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    pub fn forbidden() -> Self {
        ApiError::Forbidden("forbidden: your role does not allow this".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NodeInvalid(_) | ApiError::Unauthorized | ApiError::AuthenticationFailed => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Internal details go to the log, not to the client.
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_string()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                "service temporarily unavailable, retry later".to_string()
            }
            other => other.to_string(),
        };
        let mut body = json!({
            "error": message,
            "message": message,
            "errors": [{"name": "base", "reason": message}],
        });
        if matches!(self, ApiError::NodeInvalid(_)) {
            body["node_invalid"] = json!(true);
        }
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match self {
            ApiError::Unavailable(_) => Some(5),
            ApiError::TooManyRequests { retry_after } => Some(retry_after),
            _ => None,
        };
        if let Some(seconds) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            // A lost race the handler did not resolve: the agent retries.
            StoreError::ConditionFailed => ApiError::Unavailable("concurrent update".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(err: BlobError) -> Self {
        match err {
            BlobError::NotFound => ApiError::not_found("object not found"),
            BlobError::Unavailable(detail) => ApiError::Unavailable(detail),
            // Includes a lost multipart upload: a bug or a lifecycle rule, not the agent's fault.
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl From<SecretError> for ApiError {
    fn from(err: SecretError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl From<LogSinkError> for ApiError {
    fn from(err: LogSinkError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
