//! Building an installer from the page: the form's POST creates the package through the same
//! domain function as the packager's `POST /create` (with the chosen team's secret), then the
//! build's page follows its stages (live through a `data-refresh` fragment, or by reloading)
//! to the download link.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla::api::client_ip::ClientIp;
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::domain::packages::create;
use flotilla::domain::packages::status::{effective, Effective};
use flotilla::domain::packages::{self, Package, Stage};
use flotilla::error::{ApiError, ApiResult};
use flotilla::Settings;
use maud::{html, Markup};
use serde_json::{json, Map, Value};

use super::{parse_team, platform, render, BuildForm};
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;
use crate::pages::see_other;

pub async fn submit(
    State(app): State<App>,
    PublicUrl(base): PublicUrl,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<BuildForm>,
) -> ApiResult<Response> {
    let kind = platform(Some(&form.platform))?;
    if kind == "osquery" {
        return Err(ApiError::bad_request(
            "plain osquery has no installer to build",
        ));
    }
    let team = parse_team(&form.team)?;
    let mut fields = Map::new();
    fields.insert("type".into(), json!(kind));
    fields.insert("fleet_desktop".into(), json!(form.fleet_desktop.is_some()));
    // A failed build of the same arguments is built again; a good one is reused.
    fields.insert("retry".into(), json!(true));
    for (name, value) in [
        ("orbit_channel", &form.orbit_channel),
        ("osqueryd_channel", &form.osqueryd_channel),
        ("desktop_channel", &form.desktop_channel),
    ] {
        if !value.trim().is_empty() {
            fields.insert(name.into(), Value::String(value.clone()));
        }
    }
    match create::for_team(&app, &viewer.principal, team, fields, &base, &ip).await {
        Ok(id) => Ok(see_other(&format!("/add-hosts/builds/{id}"))),
        Err(err @ ApiError::BadRequest(_)) => {
            let message = err.to_string();
            let page = render(
                &app,
                &viewer,
                &base,
                kind,
                Some(&form.team),
                &form,
                Some(&message),
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// The stages a build of this kind goes through here, in order.
fn stages(kind: &str, settings: &Settings) -> Vec<Stage> {
    let pkg = kind == "pkg";
    let mut stages = vec![Stage::Queued, Stage::FetchingTargets, Stage::Building];
    if pkg && settings.packager.signing_secret.is_some() {
        stages.push(Stage::Signing);
    }
    stages.push(Stage::Uploading);
    if pkg && settings.packager.notary_secret.is_some() {
        stages.push(Stage::Notarizing);
    }
    stages
}

fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Queued => "Queued",
        Stage::FetchingTargets => "Fetching agent binaries from the update repository",
        Stage::Building => "Building the installer",
        Stage::Signing => "Signing",
        Stage::Notarizing => "Notarizing with Apple",
        Stage::Uploading => "Storing the installer",
    }
}

fn kind_label(kind: &str) -> &str {
    super::PLATFORMS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(kind, |(_, label)| *label)
}

fn size_text(bytes: u64) -> String {
    let mb = bytes as f64 / 1_000_000.0;
    if mb >= 1.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{:.0} kB", (bytes as f64 / 1000.0).ceil())
    }
}

async fn load(app: &App, raw: &str) -> ApiResult<Package> {
    packages::find(app.state(), &packages::parse_id(raw)?).await
}

/// The progress region's content, and whether the build is over.
fn progress(app: &App, package: &Package) -> (Markup, bool) {
    let now = app.clock.unix();
    let state = effective(package, now);
    let done = !matches!(state, Effective::InProgress(_));
    let stages = stages(&package.kind, &app.settings);
    let current = match &state {
        Effective::InProgress(stage) => stages.iter().position(|s| s == stage),
        _ => None,
    };
    let all_done = matches!(state, Effective::Success { .. });
    let markup = html! {
        @if !matches!(state, Effective::Expired) {
            ol class="stages" {
                @for (n, stage) in stages.iter().enumerate() {
                    @let finished = all_done || current.is_some_and(|c| n < c);
                    @if current == Some(n) {
                        li aria-current="step" class="stage-current" { (stage_label(*stage)) " — in progress" }
                    } @else if finished {
                        li class="stage-done" { (stage_label(*stage)) " — done" }
                    } @else {
                        li class="muted" { (stage_label(*stage)) " — waiting" }
                    }
                }
            }
        }
        @match &state {
            Effective::InProgress(_) => {
                p role="status" { "Building… this page follows along." }
                p { a href=(format!("/add-hosts/builds/{}", package.id)) { "Refresh" } }
            },
            Effective::Success { file_name, size } => {
                p class="notice" role="status" { "Your installer is ready." }
                p {
                    a class="button primary" href=(format!("/download/{}", package.id)) download=(file_name) {
                        "Download " (file_name)
                    }
                    " " span class="muted" { "(" (size_text(*size)) ")" }
                }
                p class="hint" {
                    "It holds the team's enroll secret, and is deleted "
                    @if let Some(at) = chrono::DateTime::from_timestamp(package.expires_at, 0) {
                        (layout::until(app.clock.now(), at))
                    }
                    "."
                }
            },
            Effective::Failed(logs) => {
                p class="error" role="alert" { "The build failed." }
                pre tabindex="0" { code { (logs) } }
                p { a href="/add-hosts" { "Back to Add hosts" } " to build it again." }
            },
            Effective::Expired => {
                p class="error" role="alert" { "This installer has expired and was deleted." }
                p { a href="/add-hosts" { "Back to Add hosts" } " to build it again." }
            },
        }
    };
    (markup, done)
}

/// `GET /add-hosts/builds/{id}`: the build's stages, live.
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> ApiResult<Markup> {
    let package = load(&app, &raw).await?;
    let (content, done) = progress(&app, &package);
    let refresh = format!("/add-hosts/builds/{}/progress", package.id);
    let now = app.clock.now();
    Ok(layout::page(
        &viewer,
        "Installer build",
        html! {
            h1 { (kind_label(&package.kind)) " installer" }
            p class="muted" {
                "Asked for " (layout::when(now, chrono::DateTime::from_timestamp(package.created_at, 0)))
            }
            div id="build-progress" data-refresh=(refresh) data-done[done] aria-live="polite" {
                (content)
            }
        },
    ))
}

/// `GET /add-hosts/builds/{id}/progress`: the progress region alone (one root element,
/// `data-done` once the build is over).
pub async fn fragment(
    State(app): State<App>,
    _viewer: Viewer,
    Path(raw): Path<String>,
) -> ApiResult<Markup> {
    let package = load(&app, &raw).await?;
    let (content, done) = progress(&app, &package);
    Ok(html! {
        div data-done[done] { (content) }
    })
}
