//! Add hosts: per platform, a fleetd installer built here (with the chosen team's enroll
//! secret) or the command lines that build one, and for plain osquery the flag file, secret
//! file and server certificate to download.

pub mod build;
pub mod commands;
pub mod osquery;

use axum::extract::{Query, State};
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::domain::enroll_secrets::{self, EnrollSecret};
use flotilla::domain::identity::principal::Principal;
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::teams;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use crate::context::Viewer;
use crate::layout;

/// The tabs, in order: (query value, label).
pub(crate) const PLATFORMS: [(&str, &str); 5] = [
    ("pkg", "macOS (.pkg)"),
    ("msi", "Windows (.msi)"),
    ("deb", "Linux (.deb)"),
    ("rpm", "Linux (.rpm)"),
    ("osquery", "Plain osquery"),
];

/// The query value of "No team" (the global enroll secrets).
pub(crate) const GLOBAL: &str = "global";

pub(crate) fn platform(raw: Option<&str>) -> ApiResult<&'static str> {
    match raw {
        None | Some("") => Ok(PLATFORMS[0].0),
        Some(value) => PLATFORMS
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(name, _)| *name)
            .ok_or_else(|| ApiError::bad_request(format!("no such platform: {value:?}"))),
    }
}

/// The team a page or form names (`global`: no team).
pub(crate) fn parse_team(raw: &str) -> ApiResult<Option<u64>> {
    if raw == GLOBAL {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("no such team: {raw:?}")))
}

pub(crate) fn team_value(team: Option<u64>) -> String {
    team.map_or_else(|| GLOBAL.to_string(), |id| id.to_string())
}

/// The scopes whose secrets the viewer may read: (team, its name), "No team" first.
pub(crate) async fn readable_scopes(
    app: &App,
    principal: &Principal,
) -> ApiResult<Vec<(Option<u64>, String)>> {
    let mut scopes = Vec::new();
    if principal.can(Permission::ReadEnrollSecrets, Scope::Global) {
        scopes.push((None, "No team (global secrets)".to_string()));
    }
    let filter = principal.teams_with(Permission::ReadEnrollSecrets);
    for team in teams::list(app.state()).await? {
        if filter.includes(Some(team.id)) {
            scopes.push((Some(team.id), team.name));
        }
    }
    Ok(scopes)
}

/// The scope a request names, else the viewer's first readable one; with its secrets
/// (403 for a scope the viewer may not read).
pub(crate) async fn chosen_scope(
    app: &App,
    principal: &Principal,
    team: Option<&str>,
) -> ApiResult<(Option<u64>, Vec<EnrollSecret>)> {
    let team = match team.filter(|t| !t.is_empty()) {
        Some(raw) => parse_team(raw)?,
        None => match readable_scopes(app, principal).await?.first() {
            Some((team, _)) => *team,
            None => return Err(ApiError::forbidden()),
        },
    };
    let secrets = enroll_secrets::readable(app, principal, team).await?;
    Ok((team, secrets))
}

#[derive(Deserialize, Default)]
pub struct Shown {
    platform: Option<String>,
    team: Option<String>,
}

/// What the build form was sent with (kept when it comes back with an error).
#[derive(Deserialize, Default, Clone)]
pub struct BuildForm {
    #[serde(default)]
    pub(crate) platform: String,
    #[serde(default)]
    pub(crate) team: String,
    #[serde(default)]
    pub(crate) fleet_desktop: Option<String>,
    #[serde(default)]
    pub(crate) orbit_channel: String,
    #[serde(default)]
    pub(crate) osqueryd_channel: String,
    #[serde(default)]
    pub(crate) desktop_channel: String,
}

pub async fn show(
    State(app): State<App>,
    PublicUrl(base): PublicUrl,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let platform = platform(q.platform.as_deref())?;
    render(
        &app,
        &viewer,
        &base,
        platform,
        q.team.as_deref(),
        &BuildForm::default(),
        None,
    )
    .await
}

fn channel_value(value: &str) -> &str {
    if value.is_empty() {
        "stable"
    } else {
        value
    }
}

pub(crate) async fn render(
    app: &App,
    viewer: &Viewer,
    base: &str,
    platform: &str,
    team: Option<&str>,
    form: &BuildForm,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let scopes = readable_scopes(app, &viewer.principal).await?;
    let (team, secrets) = chosen_scope(app, &viewer.principal, team).await?;
    let team_param = team_value(team);
    let secret = secrets.first().map(|s| s.secret.as_str());
    let label = PLATFORMS
        .iter()
        .find(|(name, _)| *name == platform)
        .map_or(platform, |(_, label)| *label);
    let settings = &app.settings;
    let can_build = viewer
        .principal
        .can(Permission::BuildInstallers, Scope::of(team));
    let has_root = settings.packager.update_root.is_some();
    let https = base.starts_with("https://");
    Ok(layout::page(
        viewer,
        "Add hosts",
        html! {
            h1 { "Add hosts" }
            form method="get" action="/add-hosts" class="row" {
                input type="hidden" name="platform" value=(platform);
                label for="team" {
                    "Enroll into"
                    select id="team" name="team" {
                        @for (id, name) in &scopes {
                            option value=(team_value(*id)) selected[*id == team] { (name) }
                        }
                    }
                }
                button type="submit" { "Show for this team" }
            }
            nav class="tabs" aria-label="Platform" {
                @for (name, tab_label) in PLATFORMS {
                    @let href = format!("/add-hosts?platform={name}&team={team_param}");
                    @if name == platform {
                        a href=(href) aria-current="page" { (tab_label) }
                    } @else {
                        a href=(href) { (tab_label) }
                    }
                }
            }
            h2 { (label) }
            @match secret {
                None => p class="error" role="alert" {
                    "There is no enroll secret for this team yet: add one on the team's page first."
                },
                Some(secret) => {
                    @if platform == "osquery" {
                        (osquery::section(base, &team_param, settings.server_certificate.is_some(), https))
                    } @else {
                        (layout::form_error(error))
                        @if !can_build {
                            p class="muted" { "Building installers here needs the maintainer or admin role on this team; the commands below build one on your own machine." }
                        } @else if !has_root {
                            p class="muted" {
                                "This deployment has no trusted root metadata for its update repository ("
                                code { (settings.packager.update_url) }
                                "), so it cannot build installers here: start flotilla-local with --packager-update-root, or use a command below."
                            }
                        } @else {
                            form method="post" action="/add-hosts/build" class="stack" {
                                (layout::csrf_field(viewer))
                                input type="hidden" name="platform" value=(platform);
                                input type="hidden" name="team" value=(team_param);
                                label for="fleet_desktop" {
                                    input id="fleet_desktop" name="fleet_desktop" type="checkbox" value="on" checked[form.fleet_desktop.is_some()];
                                    " Include Fleet Desktop"
                                }
                                label for="orbit_channel" { "Orbit channel" }
                                input id="orbit_channel" name="orbit_channel" value=(channel_value(&form.orbit_channel)) aria-describedby="channel-hint";
                                label for="osqueryd_channel" { "osqueryd channel" }
                                input id="osqueryd_channel" name="osqueryd_channel" value=(channel_value(&form.osqueryd_channel)) aria-describedby="channel-hint";
                                label for="desktop_channel" { "Fleet Desktop channel" }
                                input id="desktop_channel" name="desktop_channel" value=(channel_value(&form.desktop_channel)) aria-describedby="channel-hint";
                                p id="channel-hint" class="hint" { "stable, edge, or a version such as 5.12." }
                                button type="submit" class="primary" { "Build " (label) " installer" }
                            }
                        }
                        h3 { "Or build it yourself" }
                        (commands::section(platform, base, secret, settings))
                    }
                }
            }
        },
    ))
}
