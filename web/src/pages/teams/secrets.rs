//! Enroll secrets, a team's (on the team's page) or the global ones (hosts in no team, on
//! `/teams/global`): listed for those who may read them, one generated or deleted at a time
//! (the domain's `PATCH /api/v1/fleet/teams/{id}/secrets` and `POST
//! /api/v1/fleet/spec/enroll_secret`).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::credentials::sha256_hex;
use flotilla::domain::enroll_secrets::EnrollSecret;
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::team_admin;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::team::{self, Problems};
use super::Shown;
use crate::context::Viewer;
use crate::forms::{form_problem, PageForm};
use crate::layout;
use crate::pages::see_other;

pub(super) fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "secret-added" => Some("A new enroll secret is added."),
        "secret-deleted" => {
            Some("The enroll secret is deleted: hosts can no longer enroll with it.")
        }
        _ => None,
    }
}

/// The secrets table with its forms; `base` is the page the forms post under.
pub(super) fn section(
    viewer: &Viewer,
    now: DateTime<Utc>,
    base: &str,
    secrets: &[EnrollSecret],
    can_write: bool,
    error: Option<&str>,
) -> Markup {
    html! {
        h2 id="secrets" { "Enroll secrets" }
        p class="hint" { "A host enrolls with one of these (fleetd's --enroll-secret, osquery's enroll secret file); the secret decides its team." }
        (layout::form_error(error))
        @if secrets.is_empty() {
            p class="muted" { "No enroll secrets: no host can enroll here." }
        } @else {
            div class="table-wrap" {
                table {
                    thead {
                        tr {
                            th scope="col" { "Secret" }
                            th scope="col" { "Created" }
                            @if can_write { th scope="col" { "Actions" } }
                        }
                    }
                    tbody {
                        @for secret in secrets {
                            tr {
                                td { code class="secret" { (secret.secret) } }
                                td { (layout::when(now, Some(secret.created_at))) }
                                @if can_write {
                                    td {
                                        form method="post" action=(format!("{base}/secrets/delete")) class="inline" {
                                            (layout::csrf_field(viewer))
                                            input type="hidden" name="secret_hash" value=(sha256_hex(&secret.secret));
                                            button type="submit" class="danger"
                                                data-confirm="Delete this enroll secret? Hosts can no longer enroll with it; hosts already enrolled stay." {
                                                "Delete secret created " (secret.created_at.format("%Y-%m-%d %H:%M"))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can_write {
            form method="post" action=(format!("{base}/secrets")) {
                (layout::csrf_field(viewer))
                button type="submit" { "Add a generated secret" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Doomed {
    secret_hash: String,
}

/// Re-renders the page a secret form came from with the domain's refusal, or passes it on.
async fn refused(
    app: &App,
    viewer: &Viewer,
    team: Option<u64>,
    err: ApiError,
) -> ApiResult<Response> {
    if !form_problem(&err) {
        return Err(err);
    }
    let message = err.to_string();
    let page = match team {
        Some(id) => {
            let problems = Problems {
                secrets: Some(&message),
                ..Problems::default()
            };
            team::render(app, viewer, id, None, problems, None).await?
        }
        None => render_global(app, viewer, None, Some(&message)).await?,
    };
    Ok((err.status(), page).into_response())
}

fn page_of(team: Option<u64>) -> String {
    team.map_or_else(|| "/teams/global".to_string(), |id| format!("/teams/{id}"))
}

async fn add(app: &App, viewer: &Viewer, team: Option<u64>, ip: &str) -> ApiResult<Response> {
    match team_admin::add_secret(app, &viewer.principal, team, ip).await {
        Ok(_) => Ok(see_other(&format!(
            "{}?notice=secret-added#secrets",
            page_of(team)
        ))),
        Err(err) => refused(app, viewer, team, err).await,
    }
}

async fn remove(
    app: &App,
    viewer: &Viewer,
    team: Option<u64>,
    hash: &str,
    ip: &str,
) -> ApiResult<Response> {
    match team_admin::remove_secret(app, &viewer.principal, team, hash, ip).await {
        Ok(_) => Ok(see_other(&format!(
            "{}?notice=secret-deleted#secrets",
            page_of(team)
        ))),
        Err(err) => refused(app, viewer, team, err).await,
    }
}

pub async fn add_to_team(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    add(&app, &viewer, Some(id), &ip).await
}

pub async fn delete_from_team(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<Doomed>,
) -> ApiResult<Response> {
    remove(&app, &viewer, Some(id), &form.secret_hash, &ip).await
}

pub async fn add_global(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
) -> ApiResult<Response> {
    add(&app, &viewer, None, &ip).await
}

pub async fn delete_global(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<Doomed>,
) -> ApiResult<Response> {
    remove(&app, &viewer, None, &form.secret_hash, &ip).await
}

async fn render_global(
    app: &App,
    viewer: &Viewer,
    notice: Option<&str>,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let secrets = flotilla::domain::enroll_secrets::readable(app, &viewer.principal, None).await?;
    let can_write = viewer
        .principal
        .can(Permission::WriteEnrollSecrets, Scope::Global);
    Ok(layout::page(
        viewer,
        "Global enroll secrets",
        html! {
            p { a href="/teams" { "Teams" } }
            h1 { "Global enroll secrets" }
            (layout::notice(notice))
            p { "Hosts that enroll with one of these secrets belong to no team and get the " a href="/settings/agent-options" { "global agent options" } "." }
            (section(viewer, app.clock.now(), "/teams/global", &secrets, can_write, error))
        },
    ))
}

pub async fn global(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let notice = q.notice.as_deref().and_then(notice_text);
    render_global(&app, &viewer, notice, None).await
}
