//! Answers for requests no route takes: JSON errors like every other failure.

use axum::response::IntoResponse;
use axum::Extension;

use crate::error::ApiError;

/// Marks the answer to a request no route takes, so that an outer layer (the admin UI's)
/// can answer a browser's page request with a page instead.
#[derive(Clone, Copy, Debug)]
pub struct NoRoute;

pub async fn not_found() -> impl IntoResponse {
    (Extension(NoRoute), ApiError::not_found("no such endpoint"))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
