//! Setup, login, logout, me and change password, in Fleet's shapes.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{bearer, refuse_foreign_origin};
use super::session_cookie::{self, SESSION_COOKIE};
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::api::public_url::PublicUrl;
use crate::app::App;
use crate::domain::identity::account::{self, FirstAdmin};
use crate::domain::identity::principal::{Credential, Principal};
use crate::domain::identity::roles::{Permission, Role};
use crate::domain::identity::sessions::NewCredential;
use crate::domain::identity::users::{self, User};
use crate::domain::teams;
use crate::error::{ApiError, ApiResult};

pub async fn user_json(app: &App, user: &User) -> ApiResult<Value> {
    Ok(user.to_json(&users::team_names(app.state()).await?))
}

/// The user object (None: the break-glass token) and Fleet's `available_teams` (the teams
/// the principal has a role on, all of them for a global role), from one listing of teams.
async fn user_and_teams(app: &App, principal: &Principal) -> ApiResult<(Value, Value)> {
    let teams = teams::list(app.state()).await?;
    let names = teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let user = match &principal.user {
        Some(user) => user.to_json(&names),
        None => json!({
            "id": 0,
            "name": "break-glass admin token",
            "email": "",
            "global_role": Role::Admin,
            "teams": [],
            "api_only": true,
            "sso_enabled": false,
        }),
    };
    let filter = principal.teams_with(Permission::ReadTeams);
    let available: Vec<Value> = teams
        .into_iter()
        .filter(|t| filter.includes(Some(t.id)))
        .map(|t| json!({"id": t.id, "name": t.name, "description": ""}))
        .collect();
    Ok((user, Value::Array(available)))
}

/// An answer that also sets the browser's session cookie.
fn with_session_cookie(app: &App, body: Value, session: &NewCredential) -> Response {
    let mut response = Json(body).into_response();
    let lifetime = app.settings.identity.sessions.lifetime_secs;
    session_cookie::attach_session(response.headers_mut(), &session.token, lifetime);
    response
}

#[derive(Deserialize)]
struct SetupAdmin {
    email: String,
    name: String,
    password: String,
    password_confirmation: String,
}

#[derive(Deserialize)]
struct SetupOrg {
    #[serde(default)]
    org_name: Option<String>,
}

#[derive(Deserialize)]
struct SetupRequest {
    admin: SetupAdmin,
    #[serde(default)]
    org_info: Option<SetupOrg>,
    /// Fleet sends it; the deployment's URL is configured, not taken from a request.
    #[serde(default, rename = "server_url")]
    _server_url: Option<String>,
    /// The one-time setup token, when not sent as `Authorization: Bearer`.
    #[serde(default)]
    setup_token: Option<String>,
}

pub async fn set_up(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(origin): PublicUrl,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    refuse_foreign_origin(&headers, &origin)?;
    let request: SetupRequest = parse(body)?;
    if request.admin.password != request.admin.password_confirmation {
        return Err(ApiError::bad_request(
            "password and password_confirmation do not match",
        ));
    }
    let presented = request
        .setup_token
        .as_deref()
        .or(bearer(&headers))
        .unwrap_or_default();
    let admin = FirstAdmin {
        name: request.admin.name,
        email: request.admin.email,
        password: request.admin.password,
        org_name: request.org_info.and_then(|o| o.org_name),
    };
    let (user, session) = account::set_up(&app, presented, admin, &ip).await?;
    let body = json!({
        "admin": user_json(&app, &user).await?,
        "token": session.token,
    });
    Ok(with_session_cookie(&app, body, &session))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

pub async fn login(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(origin): PublicUrl,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    refuse_foreign_origin(&headers, &origin)?;
    let request: LoginRequest = parse(body)?;
    let (user, session) = account::sign_in(&app, &request.email, &request.password, &ip).await?;
    let principal = Principal {
        roles: user.roles(),
        user: Some(user),
        credential: Credential::Session {
            hash: session.hash.clone(),
        },
    };
    let (user, available_teams) = user_and_teams(&app, &principal).await?;
    let body = json!({
        "user": user,
        "available_teams": available_teams,
        "token": session.token,
    });
    Ok(with_session_cookie(&app, body, &session))
}

/// Ends this session and clears the cookie.
pub async fn logout(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
) -> ApiResult<Response> {
    account::sign_out(&app, &principal, &ip).await?;
    let mut response = Json(json!({})).into_response();
    if let Some(cookie) = session_cookie::clear(SESSION_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn me(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let (user, available_teams) = user_and_teams(&app, &principal).await?;
    let mut body = json!({
        "user": user,
        "available_teams": available_teams,
    });
    // The browser's pages need it for the state-changing requests they send with the cookie.
    if let Some(token) = session_cookie::read(&headers, SESSION_COOKIE) {
        body["csrf_token"] = json!(session_cookie::csrf_token(&token));
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
struct ChangePassword {
    old_password: String,
    new_password: String,
}

/// Ends the user's other sessions; this one goes on.
pub async fn change_password(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: ChangePassword = parse(body)?;
    account::change_password(
        &app,
        &principal,
        request.old_password,
        request.new_password,
        &ip,
    )
    .await?;
    Ok(Json(json!({})))
}
