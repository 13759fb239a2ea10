//! Users (global admins): the list, one user's page (name, email and roles; a password reset;
//! a new API token; deletion), and creating one (`create.rs`). The rules are the domain's
//! (`user_admin`): the last global admin can be neither deleted nor demoted.

pub mod create;
pub mod roles_form;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::identity::audit::ActedBy;
use flotilla::domain::identity::user_admin::{self, UserPatch};
use flotilla::domain::identity::users::{self, User};
use flotilla::domain::teams;
use flotilla::error::ApiResult;
use maud::{html, Markup};
use serde::Deserialize;

use self::roles_form::{Fields, RolesInput};
use super::see_other;
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "The user is created.",
        "saved" => "The user is saved.",
        "reset-required" => {
            "The user must choose a new password at their next sign-in; their sessions have ended."
        }
        "reset-cleared" => "The user no longer needs to choose a new password.",
        "deleted" => "The user is deleted; their sessions and tokens have ended.",
        _ => return None,
    })
}

/// How a user signs in, in words.
fn sign_in_text(user: &User) -> &'static str {
    if user.api_only {
        "API token only"
    } else if user.sso_enabled {
        "Single sign-on"
    } else {
        "Password"
    }
}

/// `GET /users`
pub async fn list(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let names = users::team_names(app.state()).await?;
    let everyone = users::list(app.state()).await?;
    Ok(layout::page(
        &viewer,
        "Users",
        html! {
            h1 { "Users" }
            (layout::notice(notice_text(q.notice.as_deref())))
            p { a class="button primary" href="/users/new" { "Create a user" } " " a href="/settings/sso" { "Single sign-on settings" } }
            div class="table-wrap" {
                table {
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Email" }
                            th scope="col" { "Role" }
                            th scope="col" { "Signs in with" }
                            th scope="col" { "Status" }
                        }
                    }
                    tbody {
                        @for user in &everyone {
                            tr {
                                td { a href={ "/users/" (user.id) } { (user.name) } }
                                td { (user.email) }
                                td { (roles_form::describe(user.global_role, &user.teams, &names)) }
                                td { (sign_in_text(user)) }
                                td {
                                    @if user.force_password_reset {
                                        "Must choose a new password"
                                    } @else {
                                        span class="muted" { "Active" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// What one user's page shows around its form.
struct UserPage<'a> {
    user: &'a User,
    input: RolesInput,
    name: String,
    email: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn render(app: &App, viewer: &Viewer, page: UserPage<'_>) -> ApiResult<Markup> {
    let all_teams = teams::list(app.state()).await?;
    let everyone = users::list(app.state()).await?;
    let user = page.user;
    let last_admin = user_admin::is_last_admin(user, &everyone);
    let now = app.clock.now();
    Ok(layout::page(
        viewer,
        &user.name,
        html! {
            p { a href="/users" { "All users" } }
            h1 { (user.name) }
            (layout::notice(page.notice))
            dl class="facts" {
                dt { "Email" } dd { (user.email) }
                dt { "Signs in with" } dd { (sign_in_text(user)) }
                dt { "Created" } dd { (layout::when(now, Some(user.created_at))) }
                @if user.force_password_reset {
                    dt { "Status" } dd { "Must choose a new password at the next sign-in" }
                }
            }
            h2 { "Name, email and role" }
            (layout::form_error(page.error.as_deref()))
            form method="post" action={ "/users/" (user.id) } class="stack" {
                (layout::csrf_field(viewer))
                label for="name" { "Name" }
                input id="name" name="name" type="text" required maxlength="255" value=(page.name) autocomplete="off";
                label for="email" { "Email" }
                input id="email" name="email" type="email" required maxlength="254" value=(page.email) autocomplete="off";
                (roles_form::fields(&page.input, &all_teams))
                @if last_admin {
                    p class="hint" { "This is the last global admin: make another user admin before changing this role." }
                }
                button type="submit" class="primary" { "Save user" }
            }
            @if user.api_only {
                h2 { "API token" }
                p { "A new token replaces the current one at once; it is shown once, on the next page." }
                form method="post" action={ "/users/" (user.id) "/token" } {
                    (layout::csrf_field(viewer))
                    button type="submit" data-confirm="The current token stops working at once. Issue a new one?" { "Issue a new API token" }
                }
            } @else if !user.sso_enabled {
                h2 { "Password" }
                form method="post" action={ "/users/" (user.id) "/password-reset" } {
                    (layout::csrf_field(viewer))
                    @if user.force_password_reset {
                        input type="hidden" name="require" value="false";
                        button type="submit" { "Cancel the password reset" }
                    } @else {
                        input type="hidden" name="require" value="true";
                        p class="hint" { "The user's sessions end; at their next sign-in they must choose a new password." }
                        button type="submit" data-confirm="Sign this user out and make them choose a new password?" { "Require a password reset" }
                    }
                }
            }
            h2 { "Delete" }
            @if last_admin {
                p { "This is the last global admin: it cannot be deleted." }
            } @else {
                form method="post" action={ "/users/" (user.id) "/delete" } {
                    (layout::csrf_field(viewer))
                    p class="hint" { "Their sessions and API token end at once. Their past actions stay in the activity log." }
                    button type="submit" class="danger" data-confirm={ "Delete " (user.name) " (" (user.email) ")?" } { "Delete this user" }
                }
            }
        },
    ))
}

fn page_of<'a>(user: &'a User, notice: Option<&'static str>) -> UserPage<'a> {
    UserPage {
        user,
        input: RolesInput {
            global_role: user.global_role,
            teams: user.teams.clone(),
        },
        name: user.name.clone(),
        email: user.email.clone(),
        notice,
        error: None,
    }
}

/// `GET /users/{id}`
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let (user, _) = users::require(app.state(), id).await?;
    render(
        &app,
        &viewer,
        page_of(&user, notice_text(q.notice.as_deref())),
    )
    .await
}

/// `POST /users/{id}`: name, email and roles.
pub async fn save(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let (user, _) = users::require(app.state(), id).await?;
    let fields = Fields(form);
    let result = match fields.roles() {
        Ok(roles) => {
            let patch = UserPatch {
                name: Some(fields.text("name")),
                email: Some(fields.text("email")),
                global_role: Some(roles.global_role),
                teams: Some(roles.teams),
                sso_enabled: None,
            };
            user_admin::patch(&app, &ActedBy::new(&viewer.principal, &ip), id, patch).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/users/{id}?notice=saved"))),
        Err(err) if roles_form::is_form_error(&err) => {
            let page = UserPage {
                input: fields.roles().unwrap_or_default(),
                name: fields.text("name"),
                email: fields.text("email"),
                error: Some(err.to_string()),
                ..page_of(&user, None)
            };
            let status = err.status();
            Ok((status, render(&app, &viewer, page).await?).into_response())
        }
        Err(err) => Err(err),
    }
}

#[derive(Deserialize)]
pub struct RequireReset {
    require: String,
}

/// `POST /users/{id}/password-reset`
pub async fn require_reset(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<RequireReset>,
) -> ApiResult<Response> {
    let require = form.require == "true";
    user_admin::require_password_reset(&app, &ActedBy::new(&viewer.principal, &ip), id, require)
        .await?;
    let notice = if require {
        "reset-required"
    } else {
        "reset-cleared"
    };
    Ok(see_other(&format!("/users/{id}?notice={notice}")))
}

/// `POST /users/{id}/delete`: refused (409) for the last global admin.
pub async fn delete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    user_admin::delete(&app, &ActedBy::new(&viewer.principal, &ip), id).await?;
    Ok(see_other("/users?notice=deleted"))
}

/// `POST /users/{id}/token`: the new token, shown once in this answer.
pub async fn new_token(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    let issued =
        user_admin::rotate_api_token(&app, &ActedBy::new(&viewer.principal, &ip), id, None).await?;
    let (user, _) = users::require(app.state(), id).await?;
    Ok((
        StatusCode::OK,
        create::token_page(&viewer, &user, &issued, false),
    )
        .into_response())
}
