//! A team's page: its name (rename), its enroll secrets, its agent options, deleting it.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::enroll_secrets::EnrollSecret;
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::team_admin;
use flotilla::domain::teams::Team;
use flotilla::error::ApiResult;
use maud::{html, Markup};
use serde::Deserialize;

use super::secrets;
use super::Shown;
use crate::context::Viewer;
use crate::forms::{form_problem, PageForm};
use crate::layout;
use crate::pages::see_other;

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "created" => Some("The team is created, with one enroll secret."),
        "renamed" => Some("The team is renamed."),
        other => secrets::notice_text(other),
    }
}

/// What went wrong in one of the page's forms, shown by that form.
#[derive(Default)]
pub(super) struct Problems<'a> {
    pub rename: Option<&'a str>,
    pub secrets: Option<&'a str>,
}

pub(super) async fn render(
    app: &App,
    viewer: &Viewer,
    id: u64,
    notice: Option<&str>,
    problems: Problems<'_>,
    typed_name: Option<&str>,
) -> ApiResult<Markup> {
    let team = team_admin::read(app, &viewer.principal, id).await?;
    let principal = &viewer.principal;
    let scope = Scope::Team(id);
    let secrets: Option<Vec<EnrollSecret>> = if principal.can(Permission::ReadEnrollSecrets, scope)
    {
        Some(flotilla::domain::enroll_secrets::readable(app, principal, Some(id)).await?)
    } else {
        None
    };
    Ok(page(
        app, viewer, &team, secrets, notice, problems, typed_name,
    ))
}

fn page(
    app: &App,
    viewer: &Viewer,
    team: &Team,
    secrets: Option<Vec<EnrollSecret>>,
    notice: Option<&str>,
    problems: Problems<'_>,
    typed_name: Option<&str>,
) -> Markup {
    let now = app.clock.now();
    let principal = &viewer.principal;
    let scope = Scope::Team(team.id);
    let base = format!("/teams/{}", team.id);
    let confirm = format!(
        "Delete the team \u{201c}{}\u{201d}? Its enroll secrets and saved queries are deleted \
         and its users lose their role on it; its hosts stay, moved to no team.",
        team.name
    );
    layout::page(
        viewer,
        &team.name,
        html! {
            p { a href="/teams" { "Teams" } }
            h1 { (team.name) }
            (layout::notice(notice))
            dl class="facts" {
                dt { "Created" } dd { (layout::when(now, Some(team.created_at))) }
                dt { "Agent options" }
                dd {
                    @if team.agent_options.is_some() { "Its own" } @else { "The global ones" }
                    " · "
                    a href=(format!("{base}/agent-options")) {
                        @if principal.can(Permission::WriteAgentOptions, scope) { "Edit agent options" } @else { "View agent options" }
                    }
                }
            }
            @if principal.can(Permission::ManageTeams, scope) {
                h2 { "Rename" }
                (layout::form_error(problems.rename))
                form method="post" action=(format!("{base}/rename")) class="stack" {
                    (layout::csrf_field(viewer))
                    label for="team-name" { "Name" }
                    input id="team-name" name="name" type="text" required maxlength="255" value=(typed_name.unwrap_or(&team.name));
                    button type="submit" class="primary" { "Rename team" }
                }
            }
            @if let Some(secrets) = &secrets {
                (secrets::section(viewer, now, &base, secrets, principal.can(Permission::WriteEnrollSecrets, scope), problems.secrets))
            }
            @if principal.can(Permission::ManageTeams, Scope::Global) {
                h2 { "Delete" }
                p { "Deleting the team deletes its enroll secrets and saved queries and removes its users' roles on it. Its hosts stay, in no team." }
                (layout::delete_form(viewer, &format!("{base}/delete"), &confirm, &format!("Delete team {}", team.name)))
            }
        },
    )
}

pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    render(
        &app,
        &viewer,
        id,
        notice_text(q.notice.as_deref()),
        Problems::default(),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct Rename {
    name: String,
}

pub async fn rename(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<Rename>,
) -> ApiResult<Response> {
    match team_admin::rename(&app, &viewer.principal, id, &form.name, &ip).await {
        Ok(_) => Ok(see_other(&format!("/teams/{id}?notice=renamed"))),
        Err(err) if form_problem(&err) => {
            let message = err.to_string();
            let problems = Problems {
                rename: Some(&message),
                ..Problems::default()
            };
            let page = render(&app, &viewer, id, None, problems, Some(&form.name)).await?;
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}

pub async fn delete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    team_admin::delete(&app, &viewer.principal, id, &ip).await?;
    Ok(see_other("/teams?notice=deleted"))
}
