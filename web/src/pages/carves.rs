//! File carves: the carves of the viewer's teams' hosts (as `GET /api/v1/fleet/carves` lists
//! them, through `domain::carve_access`) with their progress, and one carve's details and
//! download (the API's download route, which takes the session cookie for a GET).

use axum::extract::{Query, State};
use flotilla::api::admin::Id;
use flotilla::app::App;
use flotilla::domain::carve_access;
use flotilla::domain::carves::Carve;
use flotilla::error::ApiResult;
use maud::{html, Markup};
use serde::Deserialize;

use crate::context::Viewer;
use crate::layout;

#[derive(Deserialize, Default)]
pub struct Listed {
    #[serde(default)]
    expired: Option<String>,
}

fn received(carve: &Carve) -> u64 {
    (carve.max_block + 1).max(0) as u64
}

/// The carve's state in words (never by colour alone).
fn status(carve: &Carve, now: i64) -> (&'static str, &'static str) {
    if carve.expired(now) {
        ("Expired", "status-offline")
    } else if carve.completed_at.is_some() {
        ("Complete", "status-online")
    } else if carve.error.is_some() {
        ("Error", "status-error")
    } else if carve.received_all() {
        ("Assembling", "")
    } else {
        ("Receiving blocks", "")
    }
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    } else if bytes >= 1000 {
        format!("{:.1} kB", bytes as f64 / 1000.0)
    } else {
        format!("{bytes} B")
    }
}

fn progress(carve: &Carve) -> Markup {
    let got = received(carve);
    html! {
        progress value=(got) max=(carve.block_count.max(1)) aria-label=(format!("Carve {} blocks received", carve.id)) {}
        " " (got) " of " (carve.block_count) " blocks"
    }
}

pub async fn list(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Listed>,
) -> ApiResult<Markup> {
    let include_expired = q.expired.as_deref() == Some("1");
    let carves = carve_access::visible(&app, &viewer.principal, include_expired).await?;
    let now = app.clock.now();
    let unix = app.clock.unix();
    Ok(layout::page(
        &viewer,
        "Carves",
        html! {
            h1 { "File carves" }
            p class="muted" {
                "Files osquery collected from hosts (carve queries or the carve() function)."
                " "
                @if include_expired {
                    a href="/carves" { "Hide expired carves" }
                } @else {
                    a href="/carves?expired=1" { "Show expired carves too" }
                }
            }
            @if carves.is_empty() {
                p { "No carves yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Carve" }
                                th scope="col" { "Host" }
                                th scope="col" { "Request" }
                                th scope="col" { "Size" }
                                th scope="col" { "Progress" }
                                th scope="col" { "Status" }
                                th scope="col" { "Started" }
                            }
                        }
                        tbody {
                            @for carve in carves.iter().rev() {
                                @let (text, class) = status(carve, unix);
                                tr {
                                    td { a href=(format!("/carves/{}", carve.id)) { (carve.name) } }
                                    td { "Host " (carve.host_id) }
                                    td class="mono" { (carve.request_id) }
                                    td { (size_text(carve.carve_size)) }
                                    td { (progress(carve)) }
                                    td {
                                        span class=(class) { (text) }
                                        @if let Some(error) = &carve.error {
                                            br; span class="hint" { (error) }
                                        }
                                    }
                                    td { (layout::when(now, Some(carve.created_at))) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub async fn show(State(app): State<App>, viewer: Viewer, Id(id): Id) -> ApiResult<Markup> {
    let carve = carve_access::find(&app, &viewer.principal, id).await?;
    let now = app.clock.now();
    let unix = app.clock.unix();
    let (text, class) = status(&carve, unix);
    let downloadable = carve_access::require_downloadable(&carve, unix).is_ok();
    Ok(layout::page(
        &viewer,
        &format!("Carve {}", carve.id),
        html! {
            p { a href="/carves" { "All carves" } }
            h1 { "Carve " (carve.name) }
            dl class="facts" {
                dt { "Status" } dd { span class=(class) { (text) } }
                dt { "Host" } dd { "Host " (carve.host_id) }
                dt { "Request" } dd class="mono" { (carve.request_id) }
                dt { "osquery's carve id" } dd class="mono" { (carve.carve_id) }
                @if let Some(campaign) = carve.campaign_id {
                    dt { "Live query" } dd { (campaign) }
                }
                dt { "Size" } dd { (size_text(carve.carve_size)) " (" (carve.carve_size) " bytes)" }
                dt { "Blocks" } dd { (progress(&carve)) " of " (size_text(carve.block_size)) " each" }
                dt { "Started" } dd { (layout::when(now, Some(carve.created_at))) }
                dt { "Completed" } dd { (layout::when(now, carve.completed_at)) }
                dt { "Expires" } dd {
                    @match chrono::DateTime::from_timestamp(carve.expires_at, 0) {
                        Some(at) if !carve.expired(unix) => (layout::until(now, at)),
                        at => (layout::when(now, at)),
                    }
                }
                @if let Some(error) = &carve.error {
                    dt { "Last error" } dd { (error) }
                }
            }
            @if downloadable {
                p {
                    a class="button primary" href=(format!("/api/v1/fleet/carves/{}/download", carve.id)) download=(carve_access::file_name(&carve)) {
                        "Download " (carve_access::file_name(&carve))
                    }
                }
                p class="hint" { "A tar archive (zstd-compressed if osquery ran with --carver_compression)." }
            } @else if carve.expired(unix) {
                p class="muted" { "Its data has expired and was deleted." }
            } @else {
                p class="muted" { "It can be downloaded once every block has arrived and the file is assembled." }
            }
        },
    ))
}
