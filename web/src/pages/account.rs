//! My account: who I am, my roles, changing my password, and a token for my scripts.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::identity::account;
use flotilla::domain::identity::users;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::see_other;
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

async fn render(
    app: &App,
    viewer: &Viewer,
    notice: Option<&str>,
    error: Option<&str>,
) -> ApiResult<Markup> {
    render_with_token(app, viewer, notice, error, None).await
}

async fn render_with_token(
    app: &App,
    viewer: &Viewer,
    notice: Option<&str>,
    error: Option<&str>,
    token: Option<(&str, i64)>,
) -> ApiResult<Markup> {
    let now = app.clock.now();
    let team_names = users::team_names(app.state()).await?;
    let user = viewer.principal.user.as_ref();
    let must_reset = user.is_some_and(|u| u.force_password_reset);
    Ok(layout::page(
        viewer,
        "My account",
        html! {
            h1 { "My account" }
            (layout::notice(notice))
            @if must_reset {
                p class="error" role="alert" { "An admin asked you to choose a new password before you go on." }
            }
            @match user {
                Some(user) => {
                    dl class="facts" {
                        dt { "Name" } dd { (user.name) }
                        dt { "Email" } dd { (user.email) }
                        dt { "Role" }
                        dd {
                            @if let Some(role) = user.global_role {
                                (role.as_str()) " (all teams)"
                            } @else if user.teams.is_empty() {
                                "none"
                            } @else {
                                ul class="plain" {
                                    @for team in &user.teams {
                                        li { (team_names.get(&team.id).map(String::as_str).unwrap_or("a deleted team")) ": " (team.role.as_str()) }
                                    }
                                }
                            }
                        }
                    }
                    @if user.password_hash.is_some() {
                        h2 { "Change password" }
                        (layout::form_error(error))
                        form method="post" action="/account/password" class="stack" {
                            (layout::csrf_field(viewer))
                            label for="old_password" { "Current password" }
                            input id="old_password" name="old_password" type="password" required autocomplete="current-password";
                            label for="new_password" { "New password" }
                            input id="new_password" name="new_password" type="password" required minlength="12" autocomplete="new-password" aria-describedby="password-rule";
                            p id="password-rule" class="hint" { "At least 12 characters, with a number and a symbol; not a common password. Your other sessions end." }
                            label for="new_password_confirmation" { "New password again" }
                            input id="new_password_confirmation" name="new_password_confirmation" type="password" required autocomplete="new-password";
                            button type="submit" class="primary" { "Change password" }
                        }
                    } @else {
                        p { "You sign in with single sign-on: your password is your identity provider's." }
                    }
                    h2 { "API token" }
                    @if let Some((token, expires_at)) = token {
                        p class="notice" role="status" { "Your new API token. Copy it now: it is not shown again." }
                        label for="api-token" { "Token" }
                        input id="api-token" type="text" readonly class="mono token" value=(token) autocomplete="off" spellcheck="false";
                        p class="hint" {
                            "Send it as " code { "Authorization: Bearer <token>" } " (fleetctl: " code { "fleetctl config set --token" } "). It ends "
                            @if let Some(at) = chrono::DateTime::from_timestamp(expires_at, 0) { (layout::until(now, at)) }
                            ", or when you sign out everywhere or change your password."
                        }
                    } @else {
                        p { "A token for your own scripts and fleetctl, with your roles. It lasts as long as a sign-in does; for automation that must not lapse, an admin creates an API-only user on the Users page." }
                    }
                    form method="post" action="/account/token" {
                        (layout::csrf_field(viewer))
                        button type="submit" { "Create an API token" }
                    }
                },
                None => p { "You are using the break-glass admin token." },
            }
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let notice = match q.notice.as_deref() {
        Some("password-changed") => {
            Some("Your password is changed; your other sessions have ended.")
        }
        _ => None,
    };
    render(&app, &viewer, notice, None).await
}

#[derive(Deserialize)]
pub struct ChangePassword {
    old_password: String,
    new_password: String,
    new_password_confirmation: String,
}

pub async fn change_password(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<ChangePassword>,
) -> ApiResult<Response> {
    if form.new_password != form.new_password_confirmation {
        let page = render(&app, &viewer, None, Some("The two new passwords differ.")).await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
    }
    match account::change_password(
        &app,
        &viewer.principal,
        form.old_password,
        form.new_password,
        &ip,
    )
    .await
    {
        Ok(()) => Ok(see_other("/account?notice=password-changed")),
        Err(err @ (ApiError::BadRequest(_) | ApiError::Forbidden(_))) => {
            let message = match &err {
                ApiError::Forbidden(_) => "The current password is not right.".to_string(),
                other => other.to_string(),
            };
            let page = render(&app, &viewer, None, Some(&message)).await?;
            Ok((err.status(), page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `POST /account/token`: a new token, shown on the answer itself (never in an address, and
/// pages are `no-store`).
pub async fn new_token(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
) -> ApiResult<Markup> {
    let credential = account::new_api_token(&app, &viewer.principal, &ip).await?;
    let expires_at = credential.record.expires_at.unwrap_or_default();
    render_with_token(
        &app,
        &viewer,
        None,
        None,
        Some((&credential.token, expires_at)),
    )
    .await
}
