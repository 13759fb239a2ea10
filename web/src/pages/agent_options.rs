//! The agent options editor, for a team (`/teams/{id}/agent-options`) or the global options
//! (`/settings/agent-options`): JSON in a text area, checked on the server (a problem names
//! its line and key), then a review of the line changes against the stored options, then a
//! save that carries the fingerprint of what was reviewed (409 if they changed meanwhile).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::agent_options::{self, fingerprint, to_text};
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::{app_config, team_admin};
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::see_other;
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;

/// The longest a review's diff may take; past it, changes are shown coarser.
const DIFF_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Whose options: a team's, or the global ones.
struct Target {
    team: Option<u64>,
    title: String,
    /// Where the editor lives (and posts).
    path: String,
    /// The stored options (None: a team that uses the global ones).
    current: Option<Value>,
}

async fn target(app: &App, viewer: &Viewer, team: Option<u64>) -> ApiResult<Target> {
    Ok(match team {
        Some(id) => {
            let team = team_admin::read(app, &viewer.principal, id).await?;
            Target {
                team: Some(id),
                title: format!("Agent options: {}", team.name),
                path: format!("/teams/{id}/agent-options"),
                current: team.agent_options,
            }
        }
        None => Target {
            team: None,
            title: "Global agent options".into(),
            path: "/settings/agent-options".into(),
            current: team_admin::agent_options(app, &viewer.principal, None).await?,
        },
    })
}

fn can_write(viewer: &Viewer, target: &Target) -> bool {
    viewer
        .principal
        .can(Permission::WriteAgentOptions, Scope::of(target.team))
}

fn intro(target: &Target) -> Markup {
    html! {
        @match target.team {
            Some(id) => p { a href=(format!("/teams/{id}")) { "Back to the team" } },
            None => p { a href="/teams" { "Teams" } },
        }
        h1 { (target.title) }
    }
}

fn help() -> Markup {
    html! {
        p id="options-help" class="hint" {
            "JSON with the keys " code { "config" } " (osquery's config: options, decorators, schedule...), "
            code { "overrides" } " (" code { "{\"platforms\": {\"darwin\": {...}, \"windows\": {...}, \"linux\": {...}}}" }
            ": a platform's config replaces " code { "config" } " for its hosts), "
            code { "command_line_flags" } ", " code { "extensions" } ", " code { "update_channels" } " and "
            code { "script_execution_timeout" } "."
        }
    }
}

/// The editor, with `text` in it and `error` above it.
async fn editor(
    app: &App,
    viewer: &Viewer,
    target: &Target,
    text: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let writable = can_write(viewer, target);
    let uses_global = target.team.is_some() && target.current.is_none();
    let global_text = if uses_global {
        Some(to_text(&app_config::load(app.state()).await?.agent_options))
    } else {
        None
    };
    Ok(layout::page(
        viewer,
        &target.title,
        html! {
            (intro(target))
            (layout::notice(notice))
            @if uses_global {
                p { "This team has no agent options of its own: its hosts get the global ones"
                    @if writable { ", shown below as a starting point. Saving gives the team its own." } @else { "." } }
            }
            @if writable {
                (layout::form_error(error))
                form method="post" action=(target.path) class="stack wide" {
                    (layout::csrf_field(viewer))
                    label for="options" { "Agent options (JSON)" }
                    textarea id="options" name="options" class="mono code" rows="28" spellcheck="false"
                        aria-describedby="options-help" {
                        @if text.is_empty() { (global_text.as_deref().unwrap_or("")) } @else { (text) }
                    }
                    (help())
                    input type="hidden" name="action" value="review";
                    button type="submit" class="primary" { "Review changes" }
                }
            } @else {
                pre tabindex="0" { code { (target.current.as_ref().map(to_text).or(global_text).unwrap_or_default()) } }
            }
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "saved" => Some("The agent options are saved. Hosts get them at their next config check."),
        _ => None,
    }
}

async fn show(app: &App, viewer: &Viewer, team: Option<u64>, q: Shown) -> ApiResult<Markup> {
    let target = target(app, viewer, team).await?;
    let text = target.current.as_ref().map(to_text).unwrap_or_default();
    editor(
        app,
        viewer,
        &target,
        &text,
        notice_text(q.notice.as_deref()),
        None,
    )
    .await
}

pub async fn show_team(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    show(&app, &viewer, Some(id), q).await
}

pub async fn show_global(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    show(&app, &viewer, None, q).await
}

#[derive(Deserialize)]
pub struct Submitted {
    options: String,
    /// `review` (the editor's button) or `save` (the review's).
    #[serde(default)]
    action: String,
    /// On save: the fingerprint of the options the review was made against.
    #[serde(default)]
    reviewed: Option<String>,
}

/// One line of a diff: its mark and its class.
fn diff_lines(old: &str, new: &str) -> (Vec<(ChangeTag, String)>, usize, usize) {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let mut lines = Vec::new();
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
        lines.push((
            change.tag(),
            change.value().trim_end_matches('\n').to_string(),
        ));
    }
    (lines, added, removed)
}

/// The review: the changes against the stored options, and the save button.
fn review(
    viewer: &Viewer,
    target: &Target,
    proposed: &Value,
    text: &str,
    error: Option<&str>,
) -> Markup {
    let old = target.current.as_ref().map(to_text).unwrap_or_default();
    let new = to_text(proposed);
    let (lines, added, removed) = diff_lines(&old, &new);
    let reviewed = fingerprint(target.current.as_ref());
    layout::page(
        viewer,
        &format!("Review: {}", target.title),
        html! {
            (intro(target))
            (layout::form_error(error))
            h2 { "Review changes" }
            @if added == 0 && removed == 0 {
                p role="status" { "No changes: the options are already these." }
            } @else {
                p role="status" { (added) " lines added (+), " (removed) " lines removed (-), against the stored options" @if target.current.is_none() { " (the team has none of its own yet)" } "." }
                pre class="diff" aria-label="Changes, line by line" {
                    code {
                        @for (tag, line) in &lines {
                            @match tag {
                                ChangeTag::Insert => span class="diff-add" { "+ " (line) "\n" },
                                ChangeTag::Delete => span class="diff-del" { "- " (line) "\n" },
                                ChangeTag::Equal => span class="diff-same" { "  " (line) "\n" },
                            }
                        }
                    }
                }
                form method="post" action=(target.path) {
                    (layout::csrf_field(viewer))
                    input type="hidden" name="options" value=(text);
                    input type="hidden" name="reviewed" value=(reviewed);
                    input type="hidden" name="action" value="save";
                    button type="submit" class="primary" { "Save" }
                }
            }
            h2 { "Edit again" }
            form method="post" action=(target.path) class="stack wide" {
                (layout::csrf_field(viewer))
                label for="options" { "Agent options (JSON)" }
                textarea id="options" name="options" class="mono code" rows="28" spellcheck="false" aria-describedby="options-help" { (text) }
                (help())
                input type="hidden" name="action" value="review";
                button type="submit" { "Review changes" }
            }
        },
    )
}

async fn submit(
    app: &App,
    viewer: &Viewer,
    team: Option<u64>,
    ip: &str,
    form: Submitted,
) -> ApiResult<Response> {
    let target = target(app, viewer, team).await?;
    // Reviewing is the first step of a change: only for those who may make it.
    viewer
        .principal
        .require(Permission::WriteAgentOptions, Scope::of(team))?;
    let proposed = match agent_options::parse_text(&form.options) {
        Ok(value) => value,
        Err(problem) => {
            let message = problem.to_string();
            let page = editor(app, viewer, &target, &form.options, None, Some(&message)).await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    if form.action != "save" {
        return Ok(review(viewer, &target, &proposed, &form.options, None).into_response());
    }
    let Some(reviewed) = form.reviewed.as_deref() else {
        return Err(ApiError::bad_request(
            "a save needs the review it was made from",
        ));
    };
    match team_admin::set_agent_options(
        app,
        &viewer.principal,
        team,
        proposed.clone(),
        Some(reviewed),
        ip,
    )
    .await
    {
        Ok(()) => Ok(see_other(&format!("{}?notice=saved", target.path))),
        Err(ApiError::Conflict(_)) => {
            // Review again, against what is stored now.
            let target = self::target(app, viewer, team).await?;
            let page = review(
                viewer,
                &target,
                &proposed,
                &form.options,
                Some("Someone changed these agent options since your review: nothing was saved. The changes below are against the options as they are now; review them and save again."),
            );
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(err) => Err(err),
    }
}

pub async fn submit_team(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<Submitted>,
) -> ApiResult<Response> {
    submit(&app, &viewer, Some(id), &ip, form).await
}

pub async fn submit_global(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<Submitted>,
) -> ApiResult<Response> {
    submit(&app, &viewer, None, &ip, form).await
}
