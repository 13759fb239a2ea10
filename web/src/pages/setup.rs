//! First-run setup: the first admin account, with the one-time link `flotilla-local` prints
//! (or the break-glass token on a deployment).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::auth::refuse_foreign_origin;
use flotilla::api::admin::session_cookie;
use flotilla::api::client_ip::ClientIp;
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::domain::identity::account::{self, FirstAdmin};
use flotilla::domain::identity::setup;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::see_other;
use crate::forms::PageForm;
use crate::layout;

#[derive(Deserialize, Default)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
    #[serde(default)]
    org_name: String,
}

fn render(form: &SetupForm, error: Option<&str>) -> Markup {
    layout::bare(
        "Set up Flotilla",
        html! {
            h1 { "Set up Flotilla" }
            p { "Create the first admin account. The setup link works once." }
            (layout::form_error(error))
            form method="post" action="/setup" class="stack" {
                @if form.token.is_empty() {
                    label for="token" { "Setup token" }
                    input id="token" name="token" type="password" autocomplete="off" required;
                    p class="hint" { "flotilla-local prints a one-time setup link when it starts; on AWS, use the break-glass admin token." }
                } @else {
                    input type="hidden" name="token" value=(form.token);
                }
                label for="org_name" { "Organization name" }
                input id="org_name" name="org_name" type="text" value=(form.org_name) autocomplete="organization";
                label for="name" { "Your name" }
                input id="name" name="name" type="text" required value=(form.name) autocomplete="name";
                label for="email" { "Email" }
                input id="email" name="email" type="email" required value=(form.email) autocomplete="username";
                label for="password" { "Password" }
                input id="password" name="password" type="password" required minlength="12" autocomplete="new-password" aria-describedby="password-rule";
                p id="password-rule" class="hint" { "At least 12 characters, with a number and a symbol; not a common password." }
                label for="password_confirmation" { "Password again" }
                input id="password_confirmation" name="password_confirmation" type="password" required autocomplete="new-password";
                button type="submit" class="primary" { "Create the admin account" }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct Token {
    #[serde(default)]
    token: String,
}

pub async fn form(State(app): State<App>, Query(q): Query<Token>) -> ApiResult<Response> {
    if setup::is_done(app.state()).await? {
        return Ok(see_other("/login"));
    }
    let form = SetupForm {
        token: q.token,
        ..SetupForm::default()
    };
    Ok(render(&form, None).into_response())
}

pub async fn submit(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(origin): PublicUrl,
    headers: HeaderMap,
    PageForm(form): PageForm<SetupForm>,
) -> ApiResult<Response> {
    refuse_foreign_origin(&headers, &origin)?;
    if form.password != form.password_confirmation {
        let page = render(&form, Some("The two passwords differ."));
        return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
    }
    let admin = FirstAdmin {
        name: form.name.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        org_name: Some(form.org_name.clone()),
    };
    match account::set_up(&app, &form.token, admin, &ip).await {
        Ok((_, session)) => {
            let mut response = see_other("/");
            let lifetime = app.settings.identity.sessions.lifetime_secs;
            session_cookie::attach_session(response.headers_mut(), &session.token, lifetime);
            Ok(response)
        }
        Err(ApiError::Conflict(_)) => Ok(see_other("/login")),
        Err(err @ (ApiError::BadRequest(_) | ApiError::Unauthorized)) => {
            let message = match &err {
                ApiError::Unauthorized => {
                    "That setup link or token is not valid (it works once).".to_string()
                }
                other => other.to_string(),
            };
            let cleared = SetupForm {
                password: String::new(),
                password_confirmation: String::new(),
                ..form
            };
            Ok((err.status(), render(&cleared, Some(&message))).into_response())
        }
        Err(other) => Err(other),
    }
}
