//! The one place admin requests are authenticated and authorized. Every route declares its
//! `Access` in `api/routes.rs`; `authorize` runs before the handler: it finds the credential
//! (bearer token, else the session cookie), checks CSRF for cookie requests that change state,
//! and checks the route's permission. Handlers then take the `Principal` and check the team
//! of what they touch (`Principal::require`) or filter to the principal's teams.

use axum::body::{Body, Bytes};
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

const PASSWORD_RESET_REQUIRED: &str = "password reset required";

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
    /// A page of the admin UI needing the permission globally: as `Global`, but the credential
    /// is the session cookie only, a visitor without one is sent to sign in, and a form post
    /// carries the CSRF token as its `csrf_token` field.
    PageGlobal(Permission),
    /// A page of the admin UI needing the permission on some team (as `Team`, for browsers).
    PageTeam(Permission),
}

impl Access {
    /// The permission the route needs, whether globally, and whether it is a page.
    fn need(self) -> Option<(Permission, bool, bool)> {
        match self {
            Access::Open => None,
            Access::Global(p) => Some((p, true, false)),
            Access::Team(p) => Some((p, false, false)),
            Access::PageGlobal(p) => Some((p, true, true)),
            Access::PageTeam(p) => Some((p, false, true)),
        }
    }
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

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie request that changes state must come from our own origin and carry the session's
/// CSRF token: `X-CSRF-Token` from scripts, the `csrf_token` field from a page's form
/// (`form_token`); a bearer request cannot be forged by another site.
async fn check_csrf(
    parts: &mut Parts,
    app: &App,
    token: &str,
    form_token: Option<&str>,
) -> Result<(), ApiError> {
    if !changes_state(&parts.method) {
        return Ok(());
    }
    let PublicUrl(origin) = match PublicUrl::from_request_parts(parts, app).await {
        Ok(url) => url,
        Err(never) => match never {},
    };
    let origin_ok = same_origin(&parts.headers, &origin) == Some(true);
    let expected = session_cookie::csrf_token(token);
    let token_ok = parts
        .headers
        .get(session_cookie::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(form_token)
        .is_some_and(|presented| constant_time_eq(presented, &expected));
    if origin_ok && token_ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden("CSRF check failed".into()))
    }
}

/// The largest form a page posts (agent options and SQL included); a bigger one is refused
/// before it is read.
pub const FORM_LIMIT: usize = 256 * 1024;

/// The `csrf_token` field of a urlencoded form body.
fn form_csrf_token(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(name, _)| name == "csrf_token")
        .map(|(_, value)| value.into_owned())
}

/// The principal, if it may use a route that needs `permission` (globally when `global`).
/// A page is a browser's: the cookie is its only credential.
async fn principal_for(
    parts: &mut Parts,
    app: &App,
    permission: Permission,
    global: bool,
    page_form: Option<&[u8]>,
) -> Result<Principal, ApiError> {
    let presented = match page_form {
        Some(_) => session_cookie::read(&parts.headers, SESSION_COOKIE).map(|token| Presented {
            token,
            via_cookie: true,
        }),
        None => presented(parts),
    }
    .ok_or(ApiError::Unauthorized)?;
    let principal = principal::authenticate(app, &presented.token, app.clock.unix())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if presented.via_cookie {
        let form_token = page_form.and_then(form_csrf_token);
        check_csrf(parts, app, &presented.token, form_token.as_deref()).await?;
    }
    if permission != Permission::OwnAccount
        && principal
            .user
            .as_ref()
            .is_some_and(|u| u.force_password_reset)
    {
        return Err(ApiError::Forbidden(format!(
            "{PASSWORD_RESET_REQUIRED}: change your password first"
        )));
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
    let Some((permission, global, page)) = access.need() else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    // A page's form is read here (bounded) for its CSRF field, then handed on unchanged.
    let (body, form) = if page && changes_state(&parts.method) {
        match axum::body::to_bytes(body, FORM_LIMIT).await {
            Ok(bytes) => (Body::from(bytes.clone()), Some(bytes)),
            Err(_) => return ApiError::PayloadTooLarge { limit: FORM_LIMIT }.into_response(),
        }
    } else {
        (body, page.then(Bytes::new))
    };
    match principal_for(&mut parts, &app, permission, global, form.as_deref()).await {
        Ok(principal) => {
            if matches!(principal.credential, Credential::BreakGlass) {
                tracing::info!("request with the break-glass admin token");
            }
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(err) if page => page_refusal(&parts, err),
        Err(err) => err.into_response(),
    }
}

/// A page's visitor without a session goes to sign in and comes back; one who must reset
/// a password goes to the account page. Other refusals stay errors (the UI renders them).
fn page_refusal(parts: &Parts, err: ApiError) -> Response {
    let to = match &err {
        ApiError::Unauthorized => {
            let here = parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let next = if changes_state(&parts.method) {
                "/"
            } else {
                here
            };
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            format!("/login?next={next}")
        }
        ApiError::Forbidden(message) if message.starts_with(PASSWORD_RESET_REQUIRED) => {
            "/account".to_string()
        }
        _ => return err.into_response(),
    };
    (axum::http::StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
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
