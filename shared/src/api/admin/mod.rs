//! The admin API (Fleet's REST shapes), behind `Authorization: Bearer <admin token>`.

pub mod app_config;
pub mod campaigns;
pub mod carves;
pub mod enroll_secrets;
pub mod hosts;
pub mod queries;
pub mod teams;

use axum::extract::{FromRequestParts, Path};
use axum::http::{header, request::Parts};

use crate::app::App;
use crate::domain::credentials::constant_time_eq;
use crate::error::ApiError;

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let expected = app
            .ports
            .secrets
            .get(&app.settings.admin_token_secret)
            .await?;
        if expected.is_empty() || !constant_time_eq(presented, &expected) {
            return Err(ApiError::Unauthorized);
        }
        Ok(Admin)
    }
}

/// A numeric `{id}` path segment.
pub struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid path parameter"))?;
        raw.parse()
            .map(Id)
            .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a valid id")))
    }
}
