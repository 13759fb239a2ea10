//! Teams: the list and creating one (`mod.rs`), a team's page with rename and delete
//! (`team.rs`), enroll secrets of a team or global (`secrets.rs`).

pub mod secrets;
pub mod team;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::identity::roles::Permission;
use flotilla::domain::team_admin;
use flotilla::error::ApiResult;
use maud::{html, Markup};
use serde::Deserialize;

use super::see_other;
use crate::context::Viewer;
use crate::forms::{form_problem, PageForm};
use crate::layout;

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

/// The teams page's notices (a link cannot make the page say anything else).
fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "deleted" => Some("The team is deleted. Its hosts are now in no team."),
        _ => None,
    }
}

async fn render(
    app: &App,
    viewer: &Viewer,
    notice: Option<&str>,
    error: Option<&str>,
    name: &str,
) -> ApiResult<Markup> {
    let now = app.clock.now();
    let teams = team_admin::visible(app, &viewer.principal).await?;
    Ok(layout::page(
        viewer,
        "Teams",
        html! {
            h1 { "Teams" }
            (layout::notice(notice))
            @if viewer.can_globally(Permission::ReadEnrollSecrets) || viewer.can(Permission::ReadConfig) {
                ul class="plain row" {
                    @if viewer.can_globally(Permission::ReadEnrollSecrets) {
                        li { a href="/teams/global" { "Enroll secrets for hosts in no team" } }
                    }
                    li { a href="/settings/agent-options" { "Global agent options" } }
                }
            }
            @if teams.is_empty() {
                p class="muted" { "No teams yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        caption class="muted" { (teams.len()) " teams" }
                        thead {
                            tr {
                                th scope="col" { "Name" }
                                th scope="col" { "Agent options" }
                                th scope="col" { "Created" }
                            }
                        }
                        tbody {
                            @for team in &teams {
                                tr {
                                    td { a href=(format!("/teams/{}", team.id)) { (team.name) } }
                                    td {
                                        @if team.agent_options.is_some() { "Its own" } @else { "The global ones" }
                                    }
                                    td { (layout::when(now, Some(team.created_at))) }
                                }
                            }
                        }
                    }
                }
            }
            @if viewer.can_globally(Permission::ManageTeams) {
                h2 id="create" { "Create a team" }
                (layout::form_error(error))
                form method="post" action="/teams" class="stack" {
                    (layout::csrf_field(viewer))
                    label for="team-name" { "Name" }
                    input id="team-name" name="name" type="text" required maxlength="255" value=(name);
                    p class="hint" { "The team starts with one generated enroll secret and the global agent options." }
                    button type="submit" class="primary" { "Create team" }
                }
            }
        },
    ))
}

pub async fn list(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    render(&app, &viewer, notice_text(q.notice.as_deref()), None, "").await
}

#[derive(Deserialize)]
pub struct NewTeam {
    name: String,
}

pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<NewTeam>,
) -> ApiResult<Response> {
    match team_admin::create(&app, &viewer.principal, &form.name, &ip).await {
        Ok(team) => Ok(see_other(&format!("/teams/{}?notice=created", team.id))),
        Err(err) if form_problem(&err) => {
            let page = render(&app, &viewer, None, Some(&err.to_string()), &form.name).await?;
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}
