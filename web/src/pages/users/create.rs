//! Creating a user: a password, single sign-on only, or API-only (whose token is shown once,
//! in the answer to the form: never stored in clear, never in a URL).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::identity::audit::ActedBy;
use flotilla::domain::identity::user_admin::{self, CreateUser, IssuedToken};
use flotilla::domain::identity::users::User;
use flotilla::domain::teams;
use flotilla::error::ApiResult;
use maud::{html, Markup};

use super::roles_form::{self, Fields, RolesInput};
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;
use crate::pages::see_other;

/// What the form holds (shown again when it is refused; never the password).
#[derive(Default)]
struct Input {
    name: String,
    email: String,
    sso_only: bool,
    api_only: bool,
    roles: RolesInput,
}

async fn render(
    app: &App,
    viewer: &Viewer,
    input: &Input,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let all_teams = teams::list(app.state()).await?;
    Ok(layout::page(
        viewer,
        "Create a user",
        html! {
            p { a href="/users" { "All users" } }
            h1 { "Create a user" }
            (layout::form_error(error))
            form method="post" action="/users/new" class="stack" {
                (layout::csrf_field(viewer))
                label for="name" { "Name" }
                input id="name" name="name" type="text" required maxlength="255" value=(input.name) autocomplete="off";
                label for="email" { "Email" }
                input id="email" name="email" type="email" required maxlength="254" value=(input.email) autocomplete="off";
                label for="password" { "Password" }
                input id="password" name="password" type="password" minlength="12" autocomplete="new-password" aria-describedby="password-hint";
                p id="password-hint" class="hint" { "At least 12 characters, with a number and a symbol. Leave it empty for single sign-on or API-only users. Tell the user yourself; ask them to change it from My account." }
                div class="check" {
                    input id="sso_only" name="sso_only" type="checkbox" value="true" checked[input.sso_only];
                    label for="sso_only" { "Single sign-on only (no password)" }
                }
                div class="check" {
                    input id="api_only" name="api_only" type="checkbox" value="true" checked[input.api_only] aria-describedby="api-hint";
                    label for="api_only" { "API-only user (for scripts and fleetctl)" }
                }
                p id="api-hint" class="hint" { "An API-only user cannot sign in to this site; its token is shown once after you create it." }
                (roles_form::fields(&input.roles, &all_teams))
                button type="submit" class="primary" { "Create user" }
            }
        },
    ))
}

/// `GET /users/new`
pub async fn form(State(app): State<App>, viewer: Viewer) -> ApiResult<Markup> {
    let input = Input {
        roles: RolesInput {
            global_role: Some(flotilla::domain::identity::roles::Role::Observer),
            teams: Vec::new(),
        },
        ..Input::default()
    };
    render(&app, &viewer, &input, None).await
}

/// `POST /users/new`
pub async fn submit(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let fields = Fields(form);
    let input = Input {
        name: fields.text("name"),
        email: fields.text("email"),
        sso_only: fields.checked("sso_only"),
        api_only: fields.checked("api_only"),
        roles: fields.roles().unwrap_or_default(),
    };
    let password = Some(fields.text("password")).filter(|p| !p.is_empty());
    let result = match fields.roles() {
        Ok(roles) => {
            let request = CreateUser {
                name: input.name.clone(),
                email: input.email.clone(),
                password,
                global_role: roles.global_role,
                teams: roles.teams,
                api_only: input.api_only,
                sso_enabled: input.sso_only,
                api_token_expiration: None,
            };
            user_admin::create(&app, &ActedBy::new(&viewer.principal, &ip), request).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok((user, Some(issued))) => Ok(token_page(&viewer, &user, &issued, true).into_response()),
        Ok((_, None)) => Ok(see_other("/users?notice=created")),
        Err(err) if roles_form::is_form_error(&err) => {
            let page = render(&app, &viewer, &input, Some(&err.to_string())).await?;
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}

/// The page that shows an API token, once.
pub fn token_page(viewer: &Viewer, user: &User, issued: &IssuedToken, created: bool) -> Markup {
    let expires = issued
        .expires_at
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    html! {
        (layout::page(
            viewer,
            "API token",
            html! {
                h1 { "API token for " (user.name) }
                @if created {
                    p class="notice" role="status" { "The API-only user " (user.email) " is created." }
                }
                p { strong { "Copy this token now: it is not shown again." } " Send it as " code { "Authorization: Bearer <token>" } "." }
                label for="api-token" { "Token" }
                input id="api-token" type="text" readonly class="mono token" value=(issued.token) autocomplete="off" spellcheck="false";
                p class="hint" {
                    @match expires {
                        Some(at) => { "It expires on " time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) } "." },
                        None => "It does not expire.",
                    }
                }
                p { a href={ "/users/" (user.id) } { "Back to " (user.name) } " · " a href="/users" { "All users" } }
            },
        ))
    }
}
