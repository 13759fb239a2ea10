//! Answers for requests no route takes: JSON errors like every other failure.

use crate::error::ApiError;

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
