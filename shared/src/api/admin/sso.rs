//! Single sign-on: its settings (admins), and the flow: `POST /api/v1/fleet/sso` starts a
//! sign-in (Fleet's shape: `{relay_url}` -> `{url}`), the provider sends the browser back to
//! `GET /api/v1/fleet/sso/callback`, which sets the session cookie and redirects.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::refuse_foreign_origin;
use super::session_cookie::{self, SSO_STATE_COOKIE};
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::api::public_url::PublicUrl;
use crate::app::App;
use crate::domain::identity::audit::{self, actor_of, ActedBy};
use crate::domain::identity::oidc::PENDING_LOGIN_TTL_SECS;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::sso::{self, SignedIn};
use crate::domain::identity::sso_settings::{self, SsoSettingsPatch};
use crate::error::{ApiError, ApiResult};

pub const CALLBACK_PATH: &str = "/api/v1/fleet/sso/callback";

pub async fn get_settings(State(app): State<App>, _: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "sso_settings": sso_settings::load(app.state()).await?,
        "client_secret_configured": app.settings.identity.sso_client_secret.is_some(),
    })))
}

/// Saving settings that enable SSO first reaches the provider (`sso_settings::save`).
pub async fn patch_settings(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let patch: SsoSettingsPatch = parse(body)?;
    let settings = sso_settings::save(&app, &ActedBy::new(&principal, &ip), patch).await?;
    Ok(Json(json!({ "sso_settings": settings })))
}

/// What the sign-in page needs: whether SSO is on and the provider's name.
pub async fn public_settings(State(app): State<App>) -> ApiResult<Json<Value>> {
    let settings = sso_settings::load(app.state()).await?;
    Ok(Json(json!({
        "settings": {
            "idp_name": settings.idp_name,
            "sso_enabled": settings.enable_sso,
            "sso_required": settings.sso_required,
        }
    })))
}

#[derive(Deserialize, Default)]
struct Initiate {
    #[serde(default)]
    relay_url: Option<String>,
}

pub async fn initiate(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(base): PublicUrl,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    refuse_foreign_origin(&headers, &base)?;
    let request: Initiate = if body.is_null() {
        Initiate::default()
    } else {
        parse(body)?
    };
    let callback = format!("{base}{CALLBACK_PATH}");
    let (url, state) = sso::begin(&app, &callback, request.relay_url.as_deref(), &ip).await?;
    let mut response = Json(json!({ "url": url })).into_response();
    // Lax, not Strict: the provider's redirect back is a cross-site navigation.
    if let Some(cookie) = session_cookie::set_lax(SSO_STATE_COOKIE, &state, PENDING_LOGIN_TTL_SECS)
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    /// The provider's refusal (the user cancelled, or is not assigned to the app).
    #[serde(default)]
    error: Option<String>,
}

pub async fn callback(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(callback) = query.map_err(|_| ApiError::bad_request("invalid callback"))?;
    if let Some(error) = callback.error {
        let error: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        return Err(ApiError::Forbidden(format!(
            "the identity provider refused the sign-in: {error}"
        )));
    }
    let browser_state = session_cookie::read(&headers, SSO_STATE_COOKIE);
    let signed_in: SignedIn = sso::finish(
        &app,
        &callback.state,
        browser_state.as_deref(),
        &callback.code,
    )
    .await?;
    if signed_in.provisioned {
        audit::record(
            &app,
            actor_of(&signed_in.user),
            "user_added_by_sso",
            json!({"user_id": signed_in.user.id, "user_email": signed_in.user.email, "global_role": signed_in.user.global_role}),
            &ip,
        )
        .await?;
    }
    audit::record(
        &app,
        actor_of(&signed_in.user),
        "user_logged_in",
        sso::login_details(&signed_in),
        &ip,
    )
    .await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&signed_in.relay) {
        headers.insert(header::LOCATION, location);
    }
    let lifetime = app.settings.identity.sessions.lifetime_secs;
    session_cookie::attach_session(headers, &signed_in.session.token, lifetime);
    if let Some(cookie) = session_cookie::clear(SSO_STATE_COOKIE) {
        headers.append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
