//! Who is looking at a page, as `authorize` found them, with what the page needs to show
//! (the CSRF token its forms carry, the organization's name).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use flotilla::api::admin::session_cookie::{self, SESSION_COOKIE};
use flotilla::app::App;
use flotilla::domain::identity::principal::Principal;
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::error::ApiError;

/// A signed-in visitor of a page.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// The session's CSRF token: every form carries it as `csrf_token`.
    pub csrf: String,
    /// The path the page was asked at (the navigation marks it).
    pub path: String,
}

impl Viewer {
    pub fn name(&self) -> &str {
        self.principal
            .user
            .as_ref()
            .map(|u| u.name.as_str())
            .unwrap_or("admin")
    }

    /// Whether the viewer holds the permission anywhere (a global role or some team's).
    pub fn can(&self, permission: Permission) -> bool {
        self.principal.roles.can_somewhere(permission)
    }

    /// Whether the viewer holds the permission over deployment-wide resources.
    pub fn can_globally(&self, permission: Permission) -> bool {
        self.principal.can(permission, Scope::Global)
    }
}

impl FromRequestParts<App> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized)?;
        let csrf = session_cookie::read(&parts.headers, SESSION_COOKIE)
            .map(|token| session_cookie::csrf_token(&token))
            .unwrap_or_default();
        Ok(Viewer {
            principal,
            csrf,
            path: parts.uri.path().to_string(),
        })
    }
}
