//! The one place admin requests are authenticated and authorized. Every route declares its
//! `Access` in `api/routes.rs`; `authorize` runs before the handler: it finds the credential
//! (bearer token, else the session cookie), checks CSRF for cookie requests that change state,
//! and checks the route's permission. Handlers then take the `Principal` and check the team
//! of what they touch (`Principal::require`) or filter to the principal's teams.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::session_cookie::{self, SESSION_COOKIE};
use crate::api::public_url::PublicUrl;
use crate::app::App;
use crate::domain::credentials::constant_time_eq;
use crate::domain::identity::principal::{self, Credential, Principal};
use crate::domain::identity::roles::{Permission, Scope};
use crate::error::ApiError;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// No admin credential: agent routes (node keys, checked by their handlers), health, login,
    /// setup and the single sign-on flow.
    Open,
    /// The permission on deployment-wide resources (a global role).
    Global(Permission),
    /// The permission on at least one team or globally; the handler checks or filters the
    /// teams of what it touches.
    Team(Permission),
}

/// The credential a request presents, and how.
pub struct Presented {
    pub token: String,
    pub via_cookie: bool,
}

/// The `Authorization: Bearer` token, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

pub fn presented(parts: &Parts) -> Option<Presented> {
    if let Some(token) = bearer(&parts.headers) {
        return Some(Presented {
            token: token.to_string(),
            via_cookie: false,
        });
    }
    session_cookie::read(&parts.headers, SESSION_COOKIE).map(|token| Presented {
        token,
        via_cookie: true,
    })
}

/// Browsers name the page a request comes from; API clients send no `Origin`. Forms that
/// sign in (password, setup, SSO) refuse another site's, so no site can sign a visitor into
/// an account of its choosing (login CSRF).
pub fn refuse_foreign_origin(headers: &HeaderMap, own_origin: &str) -> Result<(), ApiError> {
    match same_origin(headers, own_origin) {
        Some(false) => Err(ApiError::Forbidden("cross-site request refused".into())),
        _ => Ok(()),
    }
}

/// Whether the request's `Origin` is ours; None when it names none.
fn same_origin(headers: &HeaderMap, own_origin: &str) -> Option<bool> {
    headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("").trim_end_matches('/') == own_origin)
}

/// A cookie request that changes state must come from our own origin and carry the session's
/// CSRF token (`X-CSRF-Token`); a bearer request cannot be forged by another site.
async fn check_csrf(parts: &mut Parts, app: &App, token: &str) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let PublicUrl(origin) = match PublicUrl::from_request_parts(parts, app).await {
        Ok(url) => url,
        Err(never) => match never {},
    };
    let origin_ok = same_origin(&parts.headers, &origin) == Some(true);
    let token_ok = parts
        .headers
        .get(session_cookie::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|presented| constant_time_eq(presented, &session_cookie::csrf_token(token)));
    if origin_ok && token_ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden("CSRF check failed".into()))
    }
}

/// The principal, if it may use a route that needs `permission` (globally when `global`).
async fn principal_for(
    parts: &mut Parts,
    app: &App,
    permission: Permission,
    global: bool,
) -> Result<Principal, ApiError> {
    let presented = presented(parts).ok_or(ApiError::Unauthorized)?;
    let principal = principal::authenticate(app, &presented.token, app.clock.unix())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if presented.via_cookie {
        check_csrf(parts, app, &presented.token).await?;
    }
    if permission != Permission::OwnAccount
        && principal
            .user
            .as_ref()
            .is_some_and(|u| u.force_password_reset)
    {
        return Err(ApiError::Forbidden(
            "password reset required: change your password first".into(),
        ));
    }
    let allowed = if global {
        principal.can(permission, Scope::Global)
    } else {
        principal.roles.can_somewhere(permission)
    };
    if !allowed {
        return Err(ApiError::forbidden());
    }
    Ok(principal)
}

/// The middleware on every route (see `routes::router`).
pub async fn authorize(
    State((app, access)): State<(App, Access)>,
    request: Request,
    next: Next,
) -> Response {
    let (permission, global) = match access {
        Access::Open => return next.run(request).await,
        Access::Global(permission) => (permission, true),
        Access::Team(permission) => (permission, false),
    };
    let (mut parts, body) = request.into_parts();
    match principal_for(&mut parts, &app, permission, global).await {
        Ok(principal) => {
            if matches!(principal.credential, Credential::BreakGlass) {
                tracing::info!("request with the break-glass admin token");
            }
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(err) => err.into_response(),
    }
}

/// The authenticated principal, as `authorize` found it.
impl FromRequestParts<App> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
