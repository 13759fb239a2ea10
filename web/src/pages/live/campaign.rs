//! A campaign's page: its SQL, who ran it and when, its state, the per-host counts and a
//! window of result rows (live through a `data-refresh` fragment while it runs, or by
//! reloading), its errors tab, stop and export. A campaign the viewer may not see is a 404,
//! the same as a missing one.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::campaign_access;
use flotilla::domain::campaigns::{self, CampaignStatus, CampaignSummary};
use flotilla::domain::identity::roles::Permission;
use flotilla::domain::identity::{audit, users};
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::window::{self, Position};
use super::{export, sql_block, status_text, targets_text};
use crate::context::Viewer;
use crate::layout;
use crate::pages::see_other;

/// Errors one page of the errors tab shows.
const ERRORS_PER_PAGE: usize = 100;

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "stopped" => Some("The live query is stopped: hosts are no longer asked. Answers already on their way are still recorded."),
        "export" => Some("The export is being written: its download link appears below when it is ready."),
        _ => None,
    }
}

fn position(params: Result<Query<Position>, QueryRejection>) -> ApiResult<Position> {
    params
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Who ran it, in words.
async fn runner_text(app: &App, created_by: Option<u64>) -> ApiResult<String> {
    let Some(id) = created_by else {
        return Ok("the break-glass token".into());
    };
    Ok(match users::get(app.state(), id).await? {
        Some((user, _)) if !user.name.is_empty() => format!("{} ({})", user.name, user.email),
        Some((user, _)) => user.email,
        None => format!("a deleted user ({id})"),
    })
}

fn counts(summary: &CampaignSummary) -> Markup {
    let c = &summary.counts;
    let cards = [
        ("Targeted", summary.targeted),
        ("Asked", c.asked),
        ("Answered", c.answered),
        ("Errors", c.errors),
        ("Asked, no answer yet", c.pending()),
        ("Not seen since it began", summary.not_seen()),
        ("Rows", c.rows),
    ];
    html! {
        ul class="cards counts" aria-label="Hosts by status" {
            @for (label, n) in cards {
                li { span class="count" { (n) } " " (label) }
            }
        }
    }
}

/// The live region's content (counts, results window, exports) and whether nothing in it
/// changes any more.
async fn progress(
    app: &App,
    viewer: &Viewer,
    summary: &CampaignSummary,
    at: &Position,
) -> ApiResult<(Markup, bool)> {
    let id = summary.campaign.id;
    let visible = viewer.principal.teams_with(Permission::ReadCampaigns);
    let (rows, next) = window::render(app, id, at, &visible).await?;
    let exports = export::current(app, id, &visible).await?;
    let running = summary.status == CampaignStatus::Running;
    let done = !running && !export::busy(&exports);
    let markup = html! {
        (status_line(app, summary))
        (counts(summary))
        h2 id="results" { "Results" }
        @if !at.at_start() {
            p { a href=(format!("/live/{id}#results")) { "First rows" } }
        }
        (rows)
        nav class="pager" aria-label="Result rows" {
            @if let Some(next) = &next {
                a href=(format!("/live/{id}?{}#results", next.query())) { "Next rows" }
            }
        }
        h2 id="export" { "Export" }
        (export::states(id, &exports))
    };
    Ok((markup, done))
}

/// The campaign's state in words, and since when if it was stopped.
fn status_line(app: &App, summary: &CampaignSummary) -> Markup {
    let (status, class) = status_text(summary.status);
    html! {
        p role="status" {
            "Status: " span class=(class) { (status) }
            @if let Some(at) = summary.campaign.stopped_at {
                " " (layout::when(app.clock.now(), Some(at)))
            }
            @if summary.status == CampaignStatus::Running {
                " — results appear here as hosts answer."
            }
        }
    }
}

/// The tabs of a campaign's page.
fn tabs(id: u64, errors: u64, on_errors: bool) -> Markup {
    let results = format!("/live/{id}");
    let errors_href = format!("/live/{id}/errors");
    html! {
        nav class="tabs" aria-label="Campaign" {
            @if on_errors {
                a href=(results) { "Results" }
                a href=(errors_href) aria-current="page" { "Errors (" (errors) ")" }
            } @else {
                a href=(results) aria-current="page" { "Results" }
                a href=(errors_href) { "Errors (" (errors) ")" }
            }
        }
    }
}

/// The facts above both tabs.
async fn facts(app: &App, summary: &CampaignSummary) -> ApiResult<Markup> {
    let campaign = &summary.campaign;
    let now = app.clock.now();
    let names = users::team_names(app.state()).await?;
    Ok(html! {
        dl class="facts" {
            dt { "SQL" } dd { (sql_block(&campaign.query)) }
            dt { "Run by" } dd { (runner_text(app, campaign.created_by).await?) }
            dt { "Started" } dd { (layout::when(now, Some(campaign.created_at))) }
            dt { "Targets" } dd { (targets_text(campaign, &names)) }
        }
    })
}

async fn load(app: &App, viewer: &Viewer, id: u64) -> ApiResult<CampaignSummary> {
    let campaign = campaign_access::visible(app, &viewer.principal, id).await?;
    campaigns::summary(app, campaign).await
}

/// `GET /live/{id}`.
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    params: Result<Query<Position>, QueryRejection>,
) -> ApiResult<Markup> {
    let at = position(params)?;
    let summary = load(&app, &viewer, id).await?;
    let (content, done) = progress(&app, &viewer, &summary, &at).await?;
    let facts = facts(&app, &summary).await?;
    let stoppable = summary.status == CampaignStatus::Running
        && campaign_access::may_stop(&viewer.principal, &summary.campaign);
    let refresh = format!("/live/{id}/progress?{}", at.query());
    Ok(layout::page(
        &viewer,
        &format!("Live query {id}"),
        html! {
            p { a href="/live" { "Live query" } }
            h1 { "Live query " (id) }
            (layout::notice(notice_text(at.notice.as_deref())))
            (facts)
            @if stoppable {
                form method="post" action=(format!("/live/{id}/stop")) {
                    (layout::csrf_field(&viewer))
                    button type="submit" class="danger" data-confirm="Stop this live query? Hosts will no longer be asked." { "Stop" }
                }
            }
            (tabs(id, summary.counts.errors, false))
            @if !done {
                p class="hint" { "This page follows the answers as they arrive (without JavaScript, reload it)." }
            }
            div id="live-progress" data-refresh=(refresh) data-every="2000" data-done[done] aria-live="polite" {
                (content)
            }
            (export::form(&viewer, id))
        },
    ))
}

/// `GET /live/{id}/progress`: the live region alone (one root element, `data-done` once
/// nothing in it changes).
pub async fn fragment(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    params: Result<Query<Position>, QueryRejection>,
) -> ApiResult<Markup> {
    let at = position(params)?;
    let summary = load(&app, &viewer, id).await?;
    let (content, done) = progress(&app, &viewer, &summary, &at).await?;
    Ok(html! {
        div data-done[done] { (content) }
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorsAt {
    #[serde(default)]
    after: Option<String>,
}

/// `GET /live/{id}/errors?after=`: the hosts whose answer was a failure, a page at a time.
pub async fn errors(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    params: Result<Query<ErrorsAt>, QueryRejection>,
) -> ApiResult<Markup> {
    let Query(at) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let after = at.after.as_deref().filter(|a| !a.is_empty());
    let summary = load(&app, &viewer, id).await?;
    let visible = viewer.principal.teams_with(Permission::ReadCampaigns);
    let page = campaigns::errors_page(&app, id, after, ERRORS_PER_PAGE, &visible).await?;
    let facts = facts(&app, &summary).await?;
    let now = app.clock.now();
    Ok(layout::page(
        &viewer,
        &format!("Live query {id}: errors"),
        html! {
            p { a href="/live" { "Live query" } }
            h1 { "Live query " (id) ": errors" }
            (facts)
            (tabs(id, summary.counts.errors, true))
            (status_line(&app, &summary))
            @if page.errors.is_empty() {
                p class="muted" {
                    @if after.is_some() { "No more errors." } @else { "No host has answered with an error." }
                }
            } @else {
                div class="table-wrap" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Host" }
                                th scope="col" { "Error" }
                                th scope="col" { "Received" }
                            }
                        }
                        tbody {
                            @for error in &page.errors {
                                tr {
                                    th scope="row" { (error.hostname) }
                                    td { code class="sql" { (error.error) } }
                                    td { (layout::when(now, Some(error.received_at))) }
                                }
                            }
                        }
                    }
                }
            }
            nav class="pager" aria-label="Errors" {
                @if after.is_some() {
                    a href=(format!("/live/{id}/errors")) { "First errors" }
                }
                @if let Some(next) = &page.next_cursor {
                    a href=(format!("/live/{id}/errors?after={next}")) { "Next errors" }
                }
            }
        },
    ))
}

/// `POST /live/{id}/stop`: as the API's stop (its creator, or who may run any SQL on every
/// team it touches).
pub async fn stop(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    let principal = &viewer.principal;
    let campaign = campaign_access::visible(&app, principal, id).await?;
    campaign_access::require_can_stop(principal, &campaign)?;
    let stopped = campaigns::stop(&app, id).await?;
    audit::record(
        &app,
        principal.actor(),
        "stopped_live_query",
        json!({"campaign_id": id, "query_sql": stopped.query}),
        &ip,
    )
    .await?;
    Ok(see_other(&format!("/live/{id}?notice=stopped")))
}
