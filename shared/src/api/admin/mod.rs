//! The admin API (Fleet's REST shapes). Who may call what: `auth.rs` and the route table.

pub mod account;
pub mod activities;
pub mod app_config;
pub mod auth;
pub mod campaigns;
pub mod carves;
pub mod enroll_secrets;
pub mod host_live;
pub mod hosts;
pub mod queries;
pub mod session_cookie;
pub mod sso;
pub mod teams;
pub mod users;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::app::App;
use crate::domain::hosts::{self as host_records, HostState};
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::Permission;
use crate::error::{ApiError, ApiResult};

/// 404 for a host that does not exist; 403 for one outside the principal's teams.
pub(crate) async fn require_host_access(
    app: &App,
    principal: &Principal,
    permission: Permission,
    host_id: u64,
) -> ApiResult<HostState> {
    host_records::require_access(app.state(), principal, permission, host_id).await
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
