//! Sign in (password, or single sign-on when configured) and sign out.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::auth::refuse_foreign_origin;
use flotilla::api::admin::session_cookie::{self, SESSION_COOKIE, SSO_STATE_COOKIE};
use flotilla::api::client_ip::ClientIp;
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::domain::identity::oidc::PENDING_LOGIN_TTL_SECS;
use flotilla::domain::identity::{account, setup, sso, sso_settings};
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::{local_path, see_other};
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

fn setup_hint() -> Markup {
    html! {
        p class="hint" {
            "No admin yet? Open the one-time setup link flotilla-local printed when it started, or "
            a href="/setup" { "set up with the break-glass token" } "."
        }
    }
}

fn render(next: &str, email: &str, error: Option<&str>, sso_name: Option<&str>) -> Markup {
    layout::bare("Sign in", sign_in_form(next, email, error, sso_name))
}

fn sign_in_form(next: &str, email: &str, error: Option<&str>, sso_name: Option<&str>) -> Markup {
    {
        html! {
            h1 { "Sign in" }
            (layout::form_error(error))
            form method="post" action="/login" class="stack" {
                input type="hidden" name="next" value=(next);
                label for="email" { "Email" }
                input id="email" name="email" type="email" autocomplete="username" required value=(email) autofocus;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" class="primary" { "Sign in" }
            }
            @if let Some(name) = sso_name {
                p { a class="button" href={ "/login/sso?next=" (url_encode(next)) } { "Sign in with " (name) } }
            }
        }
    }
}

fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The identity provider's name when single sign-on is on.
async fn sso_name(app: &App) -> ApiResult<Option<String>> {
    let settings = sso_settings::load(app.state()).await?;
    Ok(settings.enable_sso.then(|| {
        if settings.idp_name.trim().is_empty() {
            "SSO".to_string()
        } else {
            settings.idp_name
        }
    }))
}

pub async fn form(State(app): State<App>, Query(q): Query<Next>) -> ApiResult<Response> {
    let next = local_path(q.next.as_deref());
    let sso = sso_name(&app).await?;
    let mut page = render(&next, "", None, sso.as_deref());
    if !setup::is_done(app.state()).await? {
        page = layout::bare(
            "Sign in",
            html! { (sign_in_form(&next, "", None, sso.as_deref())) (setup_hint()) },
        );
    }
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct SignIn {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(origin): PublicUrl,
    headers: HeaderMap,
    PageForm(form): PageForm<SignIn>,
) -> ApiResult<Response> {
    refuse_foreign_origin(&headers, &origin)?;
    let next = local_path(form.next.as_deref());
    match account::sign_in(&app, &form.email, &form.password, &ip).await {
        Ok((_, session)) => {
            let mut response = see_other(&next);
            let lifetime = app.settings.identity.sessions.lifetime_secs;
            session_cookie::attach_session(response.headers_mut(), &session.token, lifetime);
            Ok(response)
        }
        Err(
            err @ (ApiError::AuthenticationFailed
            | ApiError::Forbidden(_)
            | ApiError::TooManyRequests { .. }),
        ) => {
            let message = match &err {
                ApiError::AuthenticationFailed => {
                    "That email and password do not match an account.".to_string()
                }
                ApiError::TooManyRequests { .. } => {
                    "Too many failed attempts: wait a few minutes and try again.".to_string()
                }
                other => other.to_string(),
            };
            let page = render(
                &next,
                &form.email,
                Some(&message),
                sso_name(&app).await?.as_deref(),
            );
            Ok((err.status(), page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// Starts single sign-on from a link (a form could not follow the redirect to the provider
/// under `form-action 'self'`); the provider sends the browser back to the API's callback.
pub async fn sso(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(base): PublicUrl,
    Query(q): Query<Next>,
) -> ApiResult<Response> {
    let next = local_path(q.next.as_deref());
    let callback = format!("{base}{}", flotilla::api::admin::sso::CALLBACK_PATH);
    let (url, state) = sso::begin(&app, &callback, Some(&next), &ip).await?;
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response();
    if let Some(cookie) = session_cookie::set_lax(SSO_STATE_COOKIE, &state, PENDING_LOGIN_TTL_SECS)
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn sign_out(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
) -> ApiResult<Response> {
    account::sign_out(&app, &viewer.principal, &ip).await?;
    let mut response = see_other("/login");
    if let Some(cookie) = session_cookie::clear(SESSION_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
